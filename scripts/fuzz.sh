#!/usr/bin/env bash
# fuzz.sh is `make fuzz`: every Go fuzz target of the SOAP edge (the
# packages in FUZZ_PACKAGES; each FuzzXxx they hold, found with
# `go test -list`) for FUZZTIME each, one after another with
# FUZZ_PARALLEL workers. It prints the executions of each target (from
# `go test -fuzz`'s last progress line) and their total, and fails if a
# target crashed, hung or broke a property (its failing input is then
# under the package's testdata/fuzz/FuzzXxx/: check it in as a regression
# test once fixed) or if the total is below FUZZ_MIN_EXECS.
#
# With --short (what `make test` runs) each target runs FUZZTIME_SHORT and
# no minimum total is asked.
#
# Environment:
#   FUZZTIME        per target (default 100s: about 10 M executions in all
#                   on this 2-core machine, docs/reliability.md)
#   FUZZTIME_SHORT  per target with --short (default 4s)
#   FUZZ_PARALLEL   workers per target (default 2)
#   FUZZ_MIN_EXECS  the total to reach (default 10000000; --short: 0)
#   FUZZ_PACKAGES   packages to fuzz (default ./soap/envelope ./soap)
set -euo pipefail

usage() {
	sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

short=0
case "${1:-}" in
-h | --help)
	usage
	exit 0
	;;
--short) short=1 ;;
"") ;;
*)
	echo "fuzz.sh: unknown argument $1 (try --help)" >&2
	exit 2
	;;
esac

cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
GO=${GO:-go}
parallel=${FUZZ_PARALLEL:-2}
packages=${FUZZ_PACKAGES:-./soap/envelope ./soap}
if [ "$short" = 1 ]; then
	fuzztime=${FUZZTIME_SHORT:-4s}
	min_execs=${FUZZ_MIN_EXECS:-0}
else
	fuzztime=${FUZZTIME:-100s}
	min_execs=${FUZZ_MIN_EXECS:-10000000}
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
total=0
failed=()
rows=()
started=$(date +%s)
for pkg in $packages; do
	# -list prints the names, then "ok <package>"; only the Fuzz ones.
	targets=$($GO test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	if [ -z "$targets" ]; then
		echo "fuzz.sh: $pkg has no fuzz target" >&2
		exit 1
	fi
	for target in $targets; do
		echo "fuzz.sh: $pkg $target for $fuzztime ($parallel workers)" >&2
		t0=$(date +%s)
		# -fuzzminimizetime 50x: each new interesting input is minimised in
		# at most 50 runs, not for the default 60 s, so the time goes into
		# fuzzing (a failing input is minimised in full all the same).
		status=0
		$GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 50x \
			-parallel "$parallel" "$pkg" >"$log" 2>&1 || status=$?
		took=$(($(date +%s) - t0))
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
		result=ok
		if [ "$status" != 0 ]; then
			result=FAILED
			failed+=("$pkg $target")
			grep -v '^fuzz: elapsed' "$log" >&2 || true
		fi
		total=$((total + execs))
		rows+=("$(printf '%-16s %-20s %12d %6ds  %s' "$pkg" "$target" "$execs" "$took" "$result")")
	done
done

echo
printf '%-16s %-20s %12s %7s  %s\n' package target executions time result
printf '%s\n' "${rows[@]}"
printf '%-37s %12d %6ds\n' total "$total" "$(($(date +%s) - started))"
if [ "${#failed[@]}" -gt 0 ]; then
	echo "fuzz.sh: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
	exit 1
fi
if [ "$total" -lt "$min_execs" ]; then
	echo "fuzz.sh: $total executions in all, fewer than $min_execs: raise FUZZTIME" >&2
	exit 1
fi
