# benchlib.sh is what the bench scripts share (bench.sh,
# bench-rebalance.sh, bench-ui.sh, bench-scale.sh): source it after setting
# BENCH_NAME (the log prefix) and HOST. bench_stack_up brings up the local
# stack (scripts/stack.sh) and sets PG1_PORT, PG2_PORT and PSQL; psqlc runs
# one statement.

log() { echo "$BENCH_NAME: $*" >&2; }
die() {
	log "$*"
	exit 1
}

bench_stack_up() {
	# Without standbys unless asked (MEDCARD_STACK_STANDBYS=1): the figures
	# of docs/performance.md were measured so.
	export MEDCARD_STACK_STANDBYS="${MEDCARD_STACK_STANDBYS:-0}"
	scripts/stack.sh up
	eval "$(scripts/stack.sh env)"
	PG1_PORT="${MEDCARD_PG1_PORT:-55431}"
	PG2_PORT="${MEDCARD_PG2_PORT:-55432}"
	local pg_bin="${PG_BINDIR:-}" b
	if [ -z "$pg_bin" ]; then
		for b in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
			[ -x "$b/psql" ] && pg_bin="$b"
		done
	fi
	PSQL="$pg_bin/psql"
	[ -x "$PSQL" ] || die "psql not found (it ships with postgresql; set PG_BINDIR)"
	unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSSLMODE PGOPTIONS PGSERVICE
}

psqlc() { # port db sql
	PGOPTIONS='-c client_min_messages=warning' "$PSQL" -X -q -tA -v ON_ERROR_STOP=1 -h "$HOST" -p "$1" -U postgres -d "$2" -c "$3"
}

# dsn is the URL of database $2 on port $1 of HOST.
dsn() { echo "postgres://postgres@$HOST:$1/$2?sslmode=disable"; }

# secs turns a duration as the Go flags take it into whole seconds: 20s -> 20.
secs() {
	local d="$1"
	case "$d" in
	*ms) echo 1 ;;
	*m) echo $((${d%m} * 60)) ;;
	*s) echo "${d%s}" ;;
	*) echo "$d" ;;
	esac
}

# bench_seed migrates and initialises the cluster of MEDCARD_CATALOG_DSN
# and MEDCARD_SHARD_DSNS, seeds PERSONS persons with SEED and the flags in
# the array SEED_ARGS, if set (log in $OUT/seed.log), sets SEED_SECONDS to
# the seed's wall time and vacuums the shard databases given as port:db.
bench_seed() {
	bin/gateway migrate >/dev/null
	bin/gateway shard init >/dev/null
	log "seeding $PERSONS persons ${SEED_ARGS[*]:-}"
	local t0 spec
	t0=$(date +%s.%N)
	bin/gateway seed --demo --persons "$PERSONS" --seed "$SEED" "${SEED_ARGS[@]}" >"$OUT/seed.log" 2>&1 || {
		cat "$OUT/seed.log" >&2
		die "seed failed"
	}
	SEED_SECONDS=$(echo "$(date +%s.%N) - $t0" | bc)
	log "seeded in $(printf %.1f "$SEED_SECONDS") s"
	for spec in "$@"; do
		psqlc "${spec%%:*}" "${spec#*:}" "VACUUM ANALYZE" >/dev/null
	done
	# The load and the vacuum leave gigabytes of dirty pages; written back
	# during the measurement they stall reads for up to 200 ms. A database
	# in service has long written them: settle them first.
	log "checkpoint and sync after the seeding"
	for spec in "$@"; do
		psqlc "${spec%%:*}" "${spec#*:}" "CHECKPOINT" >/dev/null
	done
	sync
}

SEED_ARGS=()

# PIDS are the background processes a bench stops when it exits.
PIDS=()
bench_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap bench_cleanup EXIT

# bench_serve [NAME [FLAGS...]] drops every cached card (an earlier run's,
# same seed, would be newer than the fresh databases' cards), starts a
# gateway on HOST:PORT with the serve flags FLAGS (log in
# $OUT/gateway.log, or $OUT/gateway-NAME.log), sets GW_PID and waits until
# it is ready.
bench_serve() {
	local redis_port="${MEDCARD_REDIS_PORT:-56379}" logf="$OUT/gateway.log"
	if [ $# -gt 0 ]; then
		logf="$OUT/gateway-$1.log"
		shift
	fi
	redis-cli -h "$HOST" -p "$redis_port" --scan --pattern 'card:*' | xargs -r -n 500 redis-cli -h "$HOST" -p "$redis_port" UNLINK >/dev/null
	export MEDCARD_REDIS_ADDR
	bin/gateway serve --listen "$HOST:$PORT" "$@" >"$logf" 2>&1 &
	GW_PID=$!
	PIDS+=("$GW_PID")
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null "http://$HOST:$PORT/readyz" 2>/dev/null && break
		sleep 0.1
	done
	curl -fsS -o /dev/null "http://$HOST:$PORT/readyz" || die "the gateway does not answer (see $logf)"
}

# cpu_ticks PID: the process's CPU time so far (utime + stime), in clock ticks.
# actions_rate BENCH_JSON FRACTION: that fraction of a run's actions per
# second, for an open loop's --rate, which counts actions. Not its
# requests/s: a mix with flows makes more requests than actions (a pharmacy
# effectuation is four); until 2026-12-03 the benches took the requests/s,
# and "80%" of the mixed mix was about 89% of its actions.
actions_rate() {
	jq -r --argjson f "$2" '([.actions[]] | add) / .measured_seconds * $f | round' "$1"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# wrk_get_card NAME PORT PID PERSON: wrk (a C load generator, so the figure
# is not bounded by ours; Debian's wrk, installed when missing) posts the
# GetMedicineCard of PERSON with its prescriptions (PasswordText, as
# integrators behind TLS send it: the gateway must serve with
# --tls-terminated-upstream) to HOST:PORT for WARMUP, then for DURATION
# measured, with CONC connections (after one request alone), and prints
# "rps|p50 ms|p95 ms|p99 ms|CPU s per 1,000 requests|errors", the CPU being
# process PID's from /proc. wrk's output is in $OUT/NAME.txt.
wrk_get_card() {
	local name="$1" port="$2" pid="$3" person="$4" t0 t1 out
	if ! command -v wrk >/dev/null; then
		log "installing wrk (Debian package) for the wrk scenarios"
		local sudo=""
		[ "$(id -u)" -eq 0 ] || sudo=sudo
		$sudo apt-get update -qq && $sudo apt-get install -y -qq wrk >/dev/null || die "wrk is missing and could not be installed: apt-get install wrk"
	fi
	local envelope='<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:mc="http://sharedmedcard.example/2026/01/medcard" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><soap:Header><wsse:Security><wsse:UsernameToken><wsse:Username>demo-gp</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">demo-secret</wsse:Password></wsse:UsernameToken></wsse:Security><mc:MessageHeader><mc:MessageID>bench-wrk</mc:MessageID></mc:MessageHeader><mc:WhitelistingHeader><mc:SystemName>demo-gp</mc:SystemName><mc:OrganisationIdentifier>SOR:483711000016009</mc:OrganisationIdentifier><mc:RequestedRole>Doctor</mc:RequestedRole></mc:WhitelistingHeader></soap:Header><soap:Body><mc:GetMedicineCardRequest><mc:PersonIdentifier>PERSON</mc:PersonIdentifier><mc:IncludePrescriptions>true</mc:IncludePrescriptions></mc:GetMedicineCardRequest></soap:Body></soap:Envelope>'
	envelope="${envelope/PERSON/$person}"
	# One request first, alone: it fills the cache and the check of the
	# password, which 32 connections' first requests at once would each
	# make (argon2id, memory-hard) for seconds on a fresh gateway.
	curl -fsS -o "$OUT/wrk-$name-first.xml" "http://$HOST:$port/medcard" -H 'Content-Type: text/xml; charset=utf-8' --data-binary "$envelope" ||
		die "wrk $name: the first GetMedicineCard failed"
	grep -q GetMedicineCardResponse "$OUT/wrk-$name-first.xml" || die "wrk $name: no GetMedicineCardResponse (see $OUT/wrk-$name-first.xml)"
	cat >"$OUT/wrk-$name.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
wrk.body = [[$envelope]]
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout
  io.write(string.format("WRK|%f|%f|%f|%f|%d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, errors))
end
LUA
	wrk -t 2 -c "$CONC" -d "$WARMUP" -s "$OUT/wrk-$name.lua" "http://$HOST:$port/medcard" >/dev/null 2>&1 || true
	t0=$(cpu_ticks "$pid")
	out=$(wrk -t 2 -c "$CONC" -d "$DURATION" -s "$OUT/wrk-$name.lua" "http://$HOST:$port/medcard" 2>&1) || die "wrk $name failed: $out"
	t1=$(cpu_ticks "$pid")
	echo "$out" >"$OUT/$name.txt"
	local line rps p50 p95 p99 errs cpu
	line=$(echo "$out" | grep '^WRK|') || die "wrk $name printed no summary (see $OUT/$name.txt)"
	IFS='|' read -r _ rps p50 p95 p99 errs <<<"$line"
	cpu=$(echo "($t1 - $t0) / $(getconf CLK_TCK) / ($rps * $(secs "$DURATION")) * 1000" | bc -l)
	echo "$rps|$p50|$p95|$p99|$cpu|$errs"
}
