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
# Knobs: REBAL_PERSONS (1000000), REBAL_BEFORE (20s), REBAL_LOAD (0.5),
# REBAL_PARALLEL (2 moves at once per source and per target),
# REBAL_ARGS (extra flags for `shard rebalance`), REBAL_PORT (18085).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd -P)"

PERSONS="${REBAL_PERSONS:-1000000}"
BEFORE="${REBAL_BEFORE:-20s}"
LOAD="${REBAL_LOAD:-0.5}"
PARALLEL="${REBAL_PARALLEL:-2}"
PORT="${REBAL_PORT:-18085}"
SEED=43
MIX="GetMedicineCard=90,CreateDrugMedication=4,PauseDrugMedication=3,CreatePharmacyEffectuation=3"
HOST=127.0.0.1

BENCH_NAME=movecost
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

pgcpu() { # port: CPU jiffies of that server (postmaster, its reaped children, live children)
	local dir pid total=0 p
	dir=$(psqlc "$1" postgres "SHOW data_directory")
	pid=$(head -1 "$dir/postmaster.pid")
	total=$(awk '{print $14+$15+$16+$17}' /proc/$pid/stat)
	for p in $(pgrep -P "$pid"); do
		total=$((total + $(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0)))
	done
	echo "$total"
}
bin/gateway shard add-db shard3 "$SHARD3_DSN" >/dev/null
bin/gateway shard plan --json >"$OUT/plan.json"
PLAN=$(jq -r '.id' "$OUT/plan.json")
log "plan $PLAN: $(jq -r '.moves | length' "$OUT/plan.json") moves"
for pp in "$PG1_PORT" "$PG2_PORT"; do psqlc "$pp" postgres "SELECT pg_stat_statements_reset()" >/dev/null; done
python3 /tmp/sampler.py "$OUT/sampled.txt" & SAMPLER=$!
c1a=$(pgcpu "$PG1_PORT"); c2a=$(pgcpu "$PG2_PORT"); r0=$(date +%s.%N)
/usr/bin/time -f "mover cpu %U user %S sys %e wall" bin/gateway shard rebalance "$PLAN" --parallel "$PARALLEL" ${REBAL_ARGS:-} >"$OUT/rebalance.txt" 2>"$OUT/mover-time.txt" || true
r1=$(date +%s.%N); c1b=$(pgcpu "$PG1_PORT"); c2b=$(pgcpu "$PG2_PORT")
kill $SAMPLER; wait $SAMPLER; cat "$OUT/sampled.txt"
tail -1 "$OUT/mover-time.txt"
for pp in "$PG1_PORT" "$PG2_PORT"; do echo "== server $pp"; psqlc "$pp" postgres "SELECT round(total_exec_time)::int AS ms, calls, (SELECT datname FROM pg_database d WHERE d.oid = dbid) AS db, left(regexp_replace(query, '\s+', ' ', 'g'), 110) FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 14"; done
echo "wall $(echo "$r1 - $r0" | bc) s; pg1 cpu $(( (c1b-c1a) )) jiffies, pg2 cpu $(( (c2b-c2a) )) jiffies (100/s)" | tee "$OUT/cost.txt"
