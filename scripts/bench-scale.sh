#!/usr/bin/env bash
# bench-scale.sh is `make bench-scale`: how a request's cost grows with the
# card and with the data (docs/performance.md, "How cost grows"). On the
# local stack (scripts/stack.sh) it makes its own databases
# (medcard_bench_scale_catalog and medcard_bench_scale_shard1 on pg1,
# medcard_bench_scale_shard2 on pg2), dropped and made again for every data
# set, and dropped at the end unless BENCH_KEEP=1. Two parts:
#
#   cards    for each card size N in BENCH_SCALE_MEDICATIONS (1 5 20 50):
#            BENCH_SCALE_CARD_PERSONS (20000) persons, every card with
#            exactly N drug medications, each prescribed (`gateway seed
#            --medications N`), then BENCH_SCALE_REPEAT (3) times:
#              cached-read    wrk, GetMedicineCard with its prescriptions
#                             of one card, cache-on gateway (bench.sh's wrk
#                             scenario: always a Redis hit)
#              uncached-read  `gateway bench`, the same read of uniform
#                             persons, --cache off gateway
#              write          `gateway bench`, CreateDrugMedication on
#                             uniform persons, cache-on gateway; the written
#                             cards are then put back as seeded (and the
#                             cache-on gateway restarted on an empty cache),
#                             so every repeat writes cards of N
#   persons  for each data size P in BENCH_SCALE_PERSONS (100000 1000000
#            5000000): P persons of the usual spread of cards; seed time,
#            bytes on disk (pg_database_size of both shard databases, and
#            per card), then BENCH_SCALE_REPEAT times the uncached read of
#            uniform persons (--cache off), so at 5,000,000 the working set
#            is larger than shared_buffers (not than the OS page cache)
#
# Each scenario runs BENCH_SCALE_DURATION (15s) after BENCH_SCALE_WARMUP
# (3s), closed loop, BENCH_CONCURRENCY (32) workers or connections; the
# gateway's CPU per request comes from /proc. internal/benchtools/scalereport
# takes the median of the repeats, marks a cell noisy (*) when its repeats'
# req/s spread is above 25%, and every cell when the 1-minute load average
# was above BENCH_SCALE_NOISY_LOAD (1.5) as the bench began (each run's is
# recorded too, but is mostly the bench's own previous run), fits the CPU
# per request against N, and
# writes table.txt, results.json and scale.svg into
# bench-results/scale-<time>/, beside every run's output.
#
# Knobs (environment; an empty BENCH_SCALE_MEDICATIONS or BENCH_SCALE_PERSONS
# skips that part): BENCH_SCALE_MEDICATIONS, BENCH_SCALE_CARD_PERSONS,
# BENCH_SCALE_PERSONS, BENCH_SCALE_REPEAT, BENCH_SCALE_DURATION,
# BENCH_SCALE_WARMUP, BENCH_CONCURRENCY, BENCH_SCALE_NOISY_LOAD,
# BENCH_SCALE_SCENARIOS (the cards part's scenarios, "cached-read
# uncached-read write"),
# BENCH_HOT_PORT (18081), BENCH_COLD_PORT (18082), BENCH_PPROF=1 (a CPU
# profile of the cache-on gateway during the first cached read of the
# largest card, served at BENCH_PPROF_ADDR, 127.0.0.1:16060), BENCH_KEEP=1,
# and the stack's MEDCARD_PG1_PORT, MEDCARD_PG2_PORT, MEDCARD_REDIS_PORT.
# A data set is skipped, and said so, when the disk lacks room for it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd -P)"

if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
	exit 0
fi

MEDICATIONS="${BENCH_SCALE_MEDICATIONS-1 5 20 50}"
CARD_PERSONS="${BENCH_SCALE_CARD_PERSONS:-20000}"
DATA_PERSONS="${BENCH_SCALE_PERSONS-100000 1000000 5000000}"
REPEAT="${BENCH_SCALE_REPEAT:-3}"
DURATION="${BENCH_SCALE_DURATION:-15s}"
WARMUP="${BENCH_SCALE_WARMUP:-3s}"
CONC="${BENCH_CONCURRENCY:-32}"
NOISY_LOAD="${BENCH_SCALE_NOISY_LOAD:-1.5}"
HOT_PORT="${BENCH_HOT_PORT:-18081}"
COLD_PORT="${BENCH_COLD_PORT:-18082}"
PPROF_ADDR="${BENCH_PPROF_ADDR:-127.0.0.1:16060}"
KEEP="${BENCH_KEEP:-0}"
SCENARIOS="${BENCH_SCALE_SCENARIOS:-cached-read uncached-read write}"
want() { [[ " $SCENARIOS " == *" $1 "* ]]; } # want SCENARIO: the cards part runs it
SEED=44 # neither bench.sh's nor the demo's: the cache keys stay apart
HOST=127.0.0.1
DBS=("medcard_bench_scale_catalog" "medcard_bench_scale_shard1" "medcard_bench_scale_shard2")

BENCH_NAME=bench-scale
# shellcheck source=scripts/benchlib.sh
. scripts/benchlib.sh

started_at=$(date +%s)
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
OUT="$REPO/bench-results/scale-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT/runs"
RUNS="$OUT/runs.jsonl" SIZES="$OUT/sizes.jsonl"
: >"$RUNS"
: >"$SIZES"
log "results in ${OUT#"$REPO"/}; load average at the start: $LOAD_AT_START"

bench_stack_up
command -v jq >/dev/null || die "jq not found (apt-get install jq)"
for port in "$HOT_PORT" "$COLD_PORT"; do
	if (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then
		die "port $port is taken; set BENCH_HOT_PORT / BENCH_COLD_PORT"
	fi
done
log "building bin/gateway and bin/scalereport"
go build -o bin/gateway ./cmd/gateway
go build -o bin/scalereport ./internal/benchtools/scalereport

export MEDCARD_CATALOG_DSN="$(dsn "$PG1_PORT" "${DBS[0]}")"
export MEDCARD_SHARD_DSNS="scale1=$(dsn "$PG1_PORT" "${DBS[1]}"),scale2=$(dsn "$PG2_PORT" "${DBS[2]}")"
SHARDS=("$PG1_PORT:${DBS[1]}" "$PG2_PORT:${DBS[2]}")
REDIS_PORT="${MEDCARD_REDIS_PORT:-56379}"

# each_shard SQL: the statement on both shard databases, one output line each.
each_shard() {
	local spec
	for spec in "${SHARDS[@]}"; do psqlc "${spec%%:*}" "${spec#*:}" "$1"; done
}
sum_shards() { each_shard "$1" | awk '{s += $1} END {printf "%.0f", s}'; }

# fresh_databases drops and makes the three databases again.
fresh_databases() {
	local spec port db
	for spec in "$PG1_PORT:${DBS[0]}" "${SHARDS[@]}"; do
		port="${spec%%:*}" db="${spec#*:}"
		psqlc "$port" postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
		psqlc "$port" postgres "CREATE DATABASE $db" >/dev/null
	done
}

drop_databases() {
	local spec
	for spec in "$PG1_PORT:${DBS[0]}" "${SHARDS[@]}"; do
		psqlc "${spec%%:*}" postgres "DROP DATABASE IF EXISTS ${spec#*:} WITH (FORCE)" >/dev/null 2>&1 || true
	done
}

# The gateways' logs hold a line per request: keep their ends.
trim_logs() {
	local f
	for f in "$OUT"/gateway-*.log; do
		[ -f "$f" ] || continue
		tail -n 1000 "$f" >"$f.tail" && mv "$f.tail" "$f"
	done
}

scale_cleanup() {
	bench_cleanup
	trim_logs
	if [ "$KEEP" = 1 ]; then
		log "BENCH_KEEP=1: the databases ${DBS[*]} stay"
	else
		drop_databases
	fi
}
trap scale_cleanup EXIT

# serve NAME PORT FLAGS...: a gateway on PORT (benchlib's bench_serve, log
# in $OUT/gateway-NAME.log); its pid in GW_PID.
serve() {
	local name="$1"
	PORT="$2"
	shift 2
	bench_serve "$name" "$@"
}
stop() { # pid
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# record PART SIZE REPEAT SCENARIO LOAD1 "rps|p50|p95|p99|cpu s/1000|errors" [CARDS_WRITTEN]
record() {
	local rps p50 p95 p99 cpu errs
	IFS='|' read -r rps p50 p95 p99 cpu errs <<<"$6"
	# As JSON numbers (bc writes .27 for 0.27).
	read -r rps p50 p95 p99 cpu < <(printf '%.3f %.3f %.3f %.3f %.6f\n' "$rps" "$p50" "$p95" "$p99" "$cpu")
	jq -nc --arg part "$1" --argjson size "$2" --argjson repeat "$3" --arg scenario "$4" --argjson load1 "$5" \
		--argjson rps "$rps" --argjson p50 "$p50" --argjson p95 "$p95" --argjson p99 "$p99" --argjson cpu "$cpu" \
		--argjson errors "$errs" --argjson written "${7:-0}" \
		'{part: $part, size: $size, repeat: $repeat, scenario: $scenario, rps: $rps, p50_ms: $p50, p95_ms: $p95,
		  p99_ms: $p99, cpu_ms: $cpu, errors: $errors, load1: $load1, cards_written: $written}' >>"$RUNS"
	log "  $4 at $2, repeat $3: $(printf '%.0f req/s, p50 %.2f ms, p99 %.2f ms, CPU %.3f ms/request, %s errors (load %s)' "$rps" "$p50" "$p99" "$cpu" "$errs" "$5")"
}

# load NAME PORT PID PERSONS FLAGS...: one `gateway bench` run; prints
# "rps|p50|p95|p99|cpu s/1000|errors".
load() {
	local name="$1" port="$2" pid="$3" persons="$4" dir
	shift 4
	bin/gateway bench --quiet --url "http://$HOST:$port/medcard" --gateway-pid "$pid" \
		--persons "$persons" --seed "$SEED" --duration "$DURATION" --warmup "$WARMUP" \
		--concurrency "$CONC" --name "$name" --out "$OUT/runs" "$@" >"$OUT/$name.txt" 2>&1 || {
		cat "$OUT/$name.txt" >&2
		die "$name failed"
	}
	dir=$(ls -d "$OUT/runs/"*"-$name" | tail -1)
	jq -r '[(.total.rps|tostring), (.total.latency.p50_ms|tostring), (.total.latency.p95_ms|tostring),
		(.total.latency.p99_ms|tostring), ((.gateway_cpu.per_1000_requests // 0)|tostring), (.total.errors|tostring)] | join("|")' \
		"$dir/bench.json"
}

# data_set PART SIZE: what the seeded set is (seed time, sizes) into SIZES.
data_set() {
	local cards db_bytes table_bytes json_bytes per_card sb
	cards=$(sum_shards "SELECT count(*) FROM cards")
	db_bytes=$(sum_shards "SELECT pg_database_size(current_database())")
	table_bytes=$(sum_shards "SELECT pg_total_relation_size('cards')")
	# The average card's JSON text, over at most 20,000 cards of shard 1.
	json_bytes=$(psqlc "$PG1_PORT" "${DBS[1]}" "SELECT coalesce(avg(octet_length(card::text)), 0)::bigint FROM (SELECT card FROM cards LIMIT 20000) c")
	per_card=0
	[ "$cards" -gt 0 ] && per_card=$((table_bytes / cards))
	sb=$(psqlc "$PG1_PORT" postgres "SHOW shared_buffers")
	jq -nc --arg part "$1" --argjson size "$2" --argjson persons "$PERSONS" --argjson cards "$cards" \
		--argjson seed "$(printf %.1f "$SEED_SECONDS")" --argjson db "$db_bytes" --argjson per "$per_card" --argjson json "$json_bytes" --arg sb "$sb" \
		'{part: $part, size: $size, persons: $persons, cards: $cards, seed_seconds: $seed, db_bytes: $db,
		  bytes_per_card: $per, card_json_bytes: $json, shared_buffers: $sb}' >>"$SIZES"
	log "$1 $2: $cards cards, seeded in $(printf %.1f "$SEED_SECONDS") s, $((db_bytes / 1000000)) MB in the shard databases, $per_card bytes per card on disk, $json_bytes bytes of JSON per card"
}

pprof_args=()
[ "${BENCH_PPROF:-}" = 1 ] && pprof_args=(--pprof "$PPROF_ADDR")
LARGEST=$(printf '%s\n' $MEDICATIONS | sort -n | tail -1)

# --- cards: cost against the card's size ------------------------------------
for n in $MEDICATIONS; do
	log "card size $n: $CARD_PERSONS persons with $n drug medications each"
	fresh_databases
	PERSONS="$CARD_PERSONS" SEED_ARGS=(--medications "$n")
	bench_seed "${SHARDS[@]}"
	data_set cards "$n"
	# The seeded cards, to put the written ones back after each write run.
	each_shard "CREATE TABLE bench_scale_seeded AS SELECT person, version, card FROM cards;
		ALTER TABLE bench_scale_seeded ADD PRIMARY KEY (person)" >/dev/null
	person=$(psqlc "$PG1_PORT" "${DBS[1]}" "SELECT person FROM cards ORDER BY person LIMIT 1")
	serve "hot-$n" "$HOT_PORT" --cache on --tls-terminated-upstream "${pprof_args[@]}"
	hot=$GW_PID
	serve "cold-$n" "$COLD_PORT" --cache off
	cold=$GW_PID
	for r in $(seq 1 "$REPEAT"); do
		profiling=""
		if [ "${BENCH_PPROF:-}" = 1 ] && [ "$n" = "$LARGEST" ] && [ "$r" = 1 ]; then
			curl -fsS -o "$OUT/cpu-cached-read-$n.pprof" \
				"http://$PPROF_ADDR/debug/pprof/profile?seconds=$(($(secs "$WARMUP") + $(secs "$DURATION") - 1))" &
			profiling=$!
		fi
		if want cached-read; then
			l=$(load1)
			record cards "$n" "$r" cached-read "$l" "$(wrk_get_card "cached-read-$n-$r" "$HOT_PORT" "$hot" "$person")"
		fi
		if [ -n "$profiling" ]; then
			wait "$profiling" || log "the CPU profile failed"
			go tool pprof -top -nodecount=30 bin/gateway "$OUT/cpu-cached-read-$n.pprof" >"$OUT/cpu-cached-read-$n.top.txt" 2>/dev/null || true
		fi
		if want uncached-read; then
			l=$(load1)
			record cards "$n" "$r" uncached-read "$l" \
				"$(load "uncached-read-$n-$r" "$COLD_PORT" "$cold" "$CARD_PERSONS" --mix GetMedicineCard=1 --include-prescriptions)"
		fi
		if want write; then
			l=$(load1)
			line=$(load "write-$n-$r" "$HOT_PORT" "$hot" "$CARD_PERSONS" --mix CreateDrugMedication=1)
			written=$(sum_shards "SELECT count(*) FROM cards c JOIN bench_scale_seeded s USING (person) WHERE c.version <> s.version")
			record cards "$n" "$r" write "$l" "$line" "$written"
		fi
		# Put the written cards back as seeded; the cache-on gateway starts
		# again on an empty cache (serve drops the cached cards).
		each_shard "UPDATE cards c SET version = s.version, card = s.card FROM bench_scale_seeded s
			WHERE c.person = s.person AND c.version <> s.version" >/dev/null
		if [ "$r" -lt "$REPEAT" ]; then
			stop "$hot"
			serve "hot-$n" "$HOT_PORT" --cache on --tls-terminated-upstream "${pprof_args[@]}"
			hot=$GW_PID
		fi
	done
	stop "$hot"
	stop "$cold"
	trim_logs
done

# --- persons: the uncached read against the data set ------------------------
for p in $DATA_PERSONS; do
	# About 1.7 kB per card on disk, 70% of persons with a card, and as
	# much again of WAL and the vacuum's work while seeding.
	need=$((p * 1700 * 2 + 2000000000))
	avail=$(df --output=avail -B1 "$(readlink -f .stack)" | tail -1)
	if [ "$avail" -lt "$need" ]; then
		log "persons $p: skipped, $((avail / 1000000000)) GB free on the stack's disk, about $((need / 1000000000)) GB needed"
		continue
	fi
	log "data size $p persons ($((avail / 1000000000)) GB free)"
	fresh_databases
	PERSONS="$p" SEED_ARGS=()
	bench_seed "${SHARDS[@]}"
	data_set persons "$p"
	serve "cold-$p" "$COLD_PORT" --cache off
	cold=$GW_PID
	for r in $(seq 1 "$REPEAT"); do
		l=$(load1)
		record persons "$p" "$r" uncached-read "$l" \
			"$(load "uncached-persons-$p-$r" "$COLD_PORT" "$cold" "$p" --mix GetMedicineCard=1 --include-prescriptions)"
	done
	stop "$cold"
	trim_logs
done

bin/scalereport --runs "$RUNS" --sizes "$SIZES" --out "$OUT" --load "$LOAD_AT_START" --noisy-load "$NOISY_LOAD"
{
	echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem/ {print $2}') GB; $DURATION per run after $WARMUP warm-up, $CONC workers/connections, $REPEAT repeats"
	echo "make bench-scale took $(($(date +%s) - started_at)) s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); plot: ${OUT#"$REPO"/}/scale.svg"
} | tee -a "$OUT/table.txt"
