#!/usr/bin/env bash
# bench-rebalance.sh is `make bench-rebalance`: an online rebalance under
# load, measured (docs/operations.md). On the local stack (scripts/stack.sh)
# it makes its own databases (medcard_rebal_catalog, medcard_rebal_shard1
# and medcard_rebal_shard3 on pg1, medcard_rebal_shard2 on pg2; dropped and
# made again each run), seeds REBAL_PERSONS persons over two shard
# databases, starts a gateway, finds the mixed load's maximum rate (closed
# loop), then runs the mix open loop at REBAL_LOAD (half) of it:
#
#   before   REBAL_BEFORE of load alone (the clients' latency before)
#   during   `gateway shard add-db` a third database, `shard plan`,
#            `shard rebalance` to 341/341/342 shards, the load going on
#
# and reports: total time, copy MB/s, write freeze per shard (p50, p99,
# max), failed client requests, client p99 before and during, acknowledged
# writes lost (each successful write adds one to its card's version: the
# versions' sum must grow by exactly the writes acknowledged) and verify
# mismatches. Everything lands in bench-results/rebalance-<time>/, with
# moves.svg (freeze per shard, client p99 over time).
#
# Both PostgreSQL servers' CPU time during the rebalance is reported too
# (with REBAL_LOAD=0 no load runs, and it is the moves' own cost).
#
# Knobs: REBAL_PERSONS (1000000), REBAL_BEFORE (20s), REBAL_LOAD (0.5; 0: none),
# REBAL_PARALLEL (1 move at once per source and per target, as `shard rebalance`),
# REBAL_ARGS (extra flags for `shard rebalance`), REBAL_PORT (18085).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd -P)"

PERSONS="${REBAL_PERSONS:-1000000}"
BEFORE="${REBAL_BEFORE:-20s}"
LOAD="${REBAL_LOAD:-0.5}"
PARALLEL="${REBAL_PARALLEL:-1}"
PORT="${REBAL_PORT:-18085}"
SEED=43
MIX="GetMedicineCard=90,CreateDrugMedication=4,PauseDrugMedication=3,CreatePharmacyEffectuation=3"
HOST=127.0.0.1

BENCH_NAME=bench-rebalance
# shellcheck source=scripts/benchlib.sh
. scripts/benchlib.sh

OUT="$REPO/bench-results/rebalance-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT/runs"
log "results in ${OUT#"$REPO"/}"

bench_stack_up
command -v jq >/dev/null || die "jq not found (apt-get install jq)"
if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
	die "port $PORT is taken; set REBAL_PORT"
fi

log "building bin/gateway and bin/movereport"
go build -o bin/gateway ./cmd/gateway
go build -o bin/movereport ./internal/benchtools/movereport

CATALOG_DSN="$(dsn "$PG1_PORT" medcard_rebal_catalog)"
SHARD3_DSN="$(dsn "$PG1_PORT" medcard_rebal_shard3)"
for spec in "$PG1_PORT:medcard_rebal_catalog" "$PG1_PORT:medcard_rebal_shard1" "$PG2_PORT:medcard_rebal_shard2" "$PG1_PORT:medcard_rebal_shard3"; do
	port="${spec%%:*}" db="${spec#*:}"
	# A run stopped half-way leaves moves' subscriptions, and a database
	# with a subscription (or an active slot) cannot be dropped: detach and
	# drop them first (the slots go below).
	if [ "$(psqlc "$port" postgres "SELECT count(*) FROM pg_database WHERE datname = '$db'")" = 1 ]; then
		for sub in $(psqlc "$port" "$db" "SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"); do
			psqlc "$port" "$db" "ALTER SUBSCRIPTION $sub DISABLE" >/dev/null
			psqlc "$port" "$db" "ALTER SUBSCRIPTION $sub SET (slot_name = NONE)" >/dev/null
			psqlc "$port" "$db" "DROP SUBSCRIPTION $sub" >/dev/null
		done
	fi
done
sleep 1 # the walsenders of the dropped subscriptions exit
for port in "$PG1_PORT" "$PG2_PORT"; do
	psqlc "$port" postgres "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'mcmove_%' AND NOT active" >/dev/null
done
for spec in "$PG1_PORT:medcard_rebal_catalog" "$PG1_PORT:medcard_rebal_shard1" "$PG2_PORT:medcard_rebal_shard2" "$PG1_PORT:medcard_rebal_shard3"; do
	port="${spec%%:*}" db="${spec#*:}"
	psqlc "$port" postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
	psqlc "$port" postgres "CREATE DATABASE $db" >/dev/null
done
for port in "$PG1_PORT" "$PG2_PORT"; do # slots of a killed run outlive their database
	psqlc "$port" postgres "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'mcmove_%' AND NOT active" >/dev/null
done
export MEDCARD_CATALOG_DSN="$CATALOG_DSN"
export MEDCARD_SHARD_DSNS="shard1=$(dsn "$PG1_PORT" medcard_rebal_shard1),shard2=$(dsn "$PG2_PORT" medcard_rebal_shard2)"
bench_seed "$PG1_PORT:medcard_rebal_shard1" "$PG2_PORT:medcard_rebal_shard2"
bench_serve

load() { # name [flags...]
	local name="$1"
	shift
	bin/gateway bench --quiet --url "http://$HOST:$PORT/medcard" --gateway-pid "$GW_PID" --persons "$PERSONS" --seed "$SEED" \
		--mix "$MIX" --name "$name" --out "$OUT/runs" "$@" >"$OUT/$name.txt" 2>&1
}
result() { ls -d "$OUT/runs/"*"-$1" | tail -1; } # the run dir of a load

# server_cpu PORT is the CPU time, in clock ticks, the PostgreSQL server on
# PORT has used so far: its postmaster, the children it has reaped
# (walsenders, workers, closed sessions) and those alive.
server_cpu() {
	local pid total p
	pid=$(head -1 "$(psqlc "$1" postgres "SHOW data_directory")/postmaster.pid")
	total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat")
	for p in $(pgrep -P "$pid"); do
		total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$total"
}

NOLOAD=$(echo "$LOAD == 0" | bc -l)
if [ "$NOLOAD" = 1 ]; then
	MAX_RPS=0 MAX_APS=0 RATE=0
	log "no load (REBAL_LOAD=0): the moves alone"
else
	log "mixed load, closed loop, to find its maximum rate"
	load max-rate --concurrency 32 --duration 15s --warmup 3s || die "the max-rate load failed (see $OUT/max-rate.txt)"
	MAX_RPS=$(jq -r '.total.rps' "$(result max-rate)/bench.json")
	MAX_APS=$(actions_rate "$(result max-rate)/bench.json" 1)
	RATE=$(actions_rate "$(result max-rate)/bench.json" "$LOAD")
	log "maximum ${MAX_RPS%.*} requests/s, $MAX_APS actions/s; the load runs at $RATE actions/s"

	log "load alone for $BEFORE"
	load before --rate "$RATE" --duration "$BEFORE" --warmup 2s || die "the before load failed (see $OUT/before.txt)"
fi

# sum_versions: the sum of the versions of the cards each database owns.
sum_versions() {
	local total=0 spec n
	for spec in "$PG1_PORT:medcard_rebal_shard1" "$PG2_PORT:medcard_rebal_shard2" "$PG1_PORT:medcard_rebal_shard3"; do
		# shard3 has no tables until add-db migrates it.
		[ "$(psqlc "${spec%%:*}" "${spec#*:}" "SELECT to_regclass('public.cards') IS NOT NULL")" = t ] || continue
		n=$(psqlc "${spec%%:*}" "${spec#*:}" "SELECT coalesce(sum(version), 0) FROM cards WHERE shard IN (SELECT shard FROM owned_shards)")
		total=$((total + n))
	done
	echo "$total"
}
VERSIONS_BEFORE=$(sum_versions)

log "rebalance from 2 to 3 databases under the load"
# Not through load(): $! must be the load generator itself, which stops on
# SIGINT and writes its report (a function's subshell would not pass the
# signal on; bash starts background jobs with SIGINT ignored, and Go's
# signal handler takes it back).
if [ "$NOLOAD" != 1 ]; then
	bin/gateway bench --quiet --url "http://$HOST:$PORT/medcard" --gateway-pid "$GW_PID" --persons "$PERSONS" --seed "$SEED" \
		--mix "$MIX" --name during --out "$OUT/runs" --rate "$RATE" --duration 4h --warmup 0s >"$OUT/during.txt" 2>&1 &
	LOAD_PID=$!
	PIDS+=("$LOAD_PID")
	sleep 5
fi
bin/gateway shard add-db shard3 "$SHARD3_DSN" | tee "$OUT/add-db.txt"
bin/gateway shard plan --json >"$OUT/plan.json"
PLAN=$(jq -r '.id' "$OUT/plan.json")
log "plan $PLAN: $(jq -r '.moves | length' "$OUT/plan.json") moves"
r0=$(date +%s)
cpu1_0=$(server_cpu "$PG1_PORT") cpu2_0=$(server_cpu "$PG2_PORT")
# A rebalance that fails (or is interrupted) still gets its report: the
# load's figures are half of what the operator needs to judge it.
rebalance_rc=0
# shellcheck disable=SC2086 # REBAL_ARGS is a list of flags
bin/gateway shard rebalance "$PLAN" --parallel "$PARALLEL" ${REBAL_ARGS:-} 2>&1 | tee "$OUT/rebalance.txt" || rebalance_rc=$?
log "rebalance took $(($(date +%s) - r0)) s (exit status $rebalance_rc)"
SERVER_CPU="$(echo "($(server_cpu "$PG1_PORT") - $cpu1_0) / $(getconf CLK_TCK)" | bc -l | xargs printf %.1f) s on pg1 (catalog, shard1, shard3), $(echo "($(server_cpu "$PG2_PORT") - $cpu2_0) / $(getconf CLK_TCK)" | bc -l | xargs printf %.1f) s on pg2 (shard2)"
if [ "$NOLOAD" != 1 ]; then
	sleep 5
	kill -INT "$LOAD_PID"
	wait "$LOAD_PID" || true
fi
VERSIONS_AFTER=$(sum_versions)

bin/gateway shard status | tee "$OUT/status.txt"
verify_rc=0
bin/gateway shard verify >"$OUT/verify.txt" 2>&1 || verify_rc=$?
tail -3 "$OUT/verify.txt"
if [ "$NOLOAD" = 1 ]; then
	bin/movereport --plan "$PLAN" --out "$OUT" | tee "$OUT/moves.txt"
	{
		echo
		echo "rebalance without load, $PERSONS persons, 2 -> 3 shard databases"
		printf "  %-34s %s\n" "servers' CPU during the rebalance" "$SERVER_CPU"
		printf "  %-34s %s\n" "rebalance exit status" "$rebalance_rc"
		printf "  %-34s %s\n" "verify exit status" "$verify_rc"
	} | tee "$OUT/summary.txt"
	[ "$rebalance_rc" = 0 ] || die "the rebalance did not finish: see $OUT/rebalance.txt"
	exit 0
fi
bin/movereport --plan "$PLAN" --bench "$(result during)/bench.json" --out "$OUT" | tee "$OUT/moves.txt"

during="$(result during)/bench.json"
before="$(result before)/bench.json"
# Successful writes (requests less failures and expected refusals) of the
# three write operations, each one version more on its card.
ACKED=$(jq '[.ops[] | select(.op != "GetMedicineCard" and .op != "all" and .op != "GetPrescription") | .count - .errors - .expected] | add' "$during")
GROWN=$((VERSIONS_AFTER - VERSIONS_BEFORE))
{
	echo
	echo "rebalance under load, $PERSONS persons, 2 -> 3 shard databases, load at $RATE actions/s ($LOAD of $MAX_APS; ${MAX_RPS%.*} requests/s at the maximum)"
	printf "  %-34s %s\n" "client p99 before / during (ms)" "$(jq -r '.total.latency.p99_ms' "$before") / $(jq -r '.total.latency.p99_ms' "$during")"
	printf "  %-34s %s\n" "client p50 before / during (ms)" "$(jq -r '.total.latency.p50_ms' "$before") / $(jq -r '.total.latency.p50_ms' "$during")"
	printf "  %-34s %s\n" "failed client requests (during)" "$(jq -r '.total.errors' "$during") of $(jq -r '.total.count' "$during")"
	printf "  %-34s %s\n" "writes acknowledged (during)" "$ACKED"
	printf "  %-34s %s\n" "card versions grown by" "$GROWN"
	printf "  %-34s %s\n" "card versions before / after" "$VERSIONS_BEFORE / $VERSIONS_AFTER"
	printf "  %-34s %s\n" "acknowledged writes lost" "$((ACKED - GROWN < 0 ? 0 : ACKED - GROWN))"
	printf "  %-34s %s\n" "applied, answer not recorded" "$((GROWN - ACKED < 0 ? 0 : GROWN - ACKED)) (in flight when the load stopped)"
	printf "  %-34s %s\n" "servers' CPU during the rebalance" "$SERVER_CPU (the load's share included)"
	printf "  %-34s %s\n" "rebalance exit status" "$rebalance_rc"
	printf "  %-34s %s\n" "verify exit status" "$verify_rc"
} | tee "$OUT/summary.txt"
log "plot: ${OUT#"$REPO"/}/moves.svg; client latency plot: $(result during)/bench.svg"
if [ "$rebalance_rc" != 0 ]; then
	die "the rebalance did not finish: see $OUT/rebalance.txt, fix what it names and run 'bin/gateway shard rebalance $PLAN' (with this run's MEDCARD_CATALOG_DSN=$CATALOG_DSN)"
fi
