#!/usr/bin/env bash
# bench.sh is `make bench`: on the local stack (scripts/stack.sh) it creates
# its own three databases (medcard_bench_catalog and medcard_bench_shard1 on
# pg1, medcard_bench_shard2 on pg2; dropped and made again each run, so the
# demo data of `make run` is never touched), seeds BENCH_PERSONS persons,
# starts two gateways over them (cache on, and cache off on another port)
# and runs, one after another:
#
#   reads-hot     GetMedicineCard, Zipf persons, cache on
#   reads-nocache GetMedicineCard, Zipf persons, the --cache off gateway
#   writes        CreateDrugMedication, PauseDrugMedication and
#                 CreatePharmacyEffectuation, uniform persons
#   writes-hot    (only when named) the same writes on Zipf persons, as
#                 reads-hot: most written cards are cached
#   mixed         90% GetMedicineCard / 10% those writes, uniform persons,
#                 closed loop (the maximum rate)
#   mixed-80      the same mix, open loop at 80% of mixed's actions/s
#   wrk           the cached GetMedicineCard of reads-hot's average card and
#                 the trivial handler under wrk, a C load generator (Debian
#                 package wrk, installed when missing), so neither figure is
#                 bounded by our Go load generator's CPU
#   ceilings      pgbench read and write (scripts/bench/*.sql) on both shard
#                 databases at once, redis-benchmark GET of a card-sized
#                 value, and a trivial Go handler under `gateway bench`
#   writes-sync   (only when named, with the standbys: `make bench-standbys`)
#                 the writes twice on the same stack, first with no standby
#                 confirming commits (ANY 0), then with one (ANY 1)
#   soak          (only when named, `make soak`) the mixed mix, open loop at
#                 80% of mixed's actions/s when mixed ran first (else
#                 BENCH_SOAK_RATE actions/s) for BENCH_SOAK_DURATION (10m),
#                 sampling the gateway's RSS and Go heap every 5 s
#
# and prints one table; everything lands in bench-results/<time>/.
#
# Knobs (environment): BENCH_PERSONS (100000), BENCH_DURATION (20s),
# BENCH_WARMUP (3s), BENCH_CONCURRENCY (32), BENCH_ZIPF (1.1),
# BENCH_SCENARIOS (all: "reads-hot reads-nocache writes mixed wrk ceilings"),
# BENCH_HOT_PORT (18081), BENCH_COLD_PORT (18082), BENCH_TRIVIAL_PORT (18090),
# BENCH_GATEWAY_ARGS (extra flags for both gateways), BENCH_PPROF=1 (start
# the gateways with --pprof, the cache-on one on 127.0.0.1:16060 and the
# cache-off one on 16061, and save a CPU profile of the loaded gateway
# during every scenario, cpu-<scenario>.pprof beside its results),
# BENCH_SOAK_DURATION (10m), BENCH_SOAK_RATE (600, used when mixed did not
# run first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd -P)"

PERSONS="${BENCH_PERSONS:-100000}"
DURATION="${BENCH_DURATION:-20s}"
WARMUP="${BENCH_WARMUP:-3s}"
CONC="${BENCH_CONCURRENCY:-32}"
ZIPF="${BENCH_ZIPF:-1.1}"
SCENARIOS="${BENCH_SCENARIOS:-reads-hot reads-nocache writes mixed wrk ceilings}"
HOT_PORT="${BENCH_HOT_PORT:-18081}"
COLD_PORT="${BENCH_COLD_PORT:-18082}"
TRIVIAL_PORT="${BENCH_TRIVIAL_PORT:-18090}"
PPROF_ADDR=127.0.0.1:16060
PPROF_COLD_ADDR=127.0.0.1:16061
SEED=42 # not the demo's seed: the bench persons' cache keys stay apart from `make run`'s
WRITE_MIX="CreateDrugMedication=1,PauseDrugMedication=1,CreatePharmacyEffectuation=1"
MIXED_MIX="GetMedicineCard=90,CreateDrugMedication=4,PauseDrugMedication=3,CreatePharmacyEffectuation=3"
SOAK_DURATION="${BENCH_SOAK_DURATION:-10m}"
SOAK_RATE="${BENCH_SOAK_RATE:-600}"
HOST=127.0.0.1

BENCH_NAME=bench
# shellcheck source=scripts/benchlib.sh
. scripts/benchlib.sh

started_at=$(date +%s)
OUT="$REPO/bench-results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT/runs"
log "results in ${OUT#"$REPO"/}"

# Without standbys unless asked (MEDCARD_STACK_STANDBYS=1), as the figures
# of docs/performance.md were measured.
export MEDCARD_STACK_STANDBYS="${MEDCARD_STACK_STANDBYS:-0}"
scripts/stack.sh up
eval "$(scripts/stack.sh env)"
PG1_PORT="${MEDCARD_PG1_PORT:-55431}"
PG2_PORT="${MEDCARD_PG2_PORT:-55432}"
REDIS_PORT="${MEDCARD_REDIS_PORT:-56379}"

# The PostgreSQL client tools, found like stack.sh finds initdb.
PG_BIN="${PG_BINDIR:-}"
if [ -z "$PG_BIN" ]; then
	for b in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
		[ -x "$b/pgbench" ] && PG_BIN="$b"
	done
fi
[ -x "$PG_BIN/pgbench" ] || die "pgbench not found (it ships with postgresql; set PG_BINDIR)"
PSQL="$PG_BIN/psql"
command -v redis-benchmark >/dev/null || die "redis-benchmark not found (it ships with redis-tools)"
command -v jq >/dev/null || die "jq not found (apt-get install jq)"

unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSSLMODE PGOPTIONS PGSERVICE

for port in "$HOT_PORT" "$COLD_PORT" "$TRIVIAL_PORT"; do
	if (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then
		die "port $port is taken; set BENCH_HOT_PORT / BENCH_COLD_PORT / BENCH_TRIVIAL_PORT"
	fi
done

log "building bin/gateway and bin/bench-trivial"
go build -o bin/gateway ./cmd/gateway
go build -o bin/bench-trivial ./internal/benchtools/trivial

# --- databases and seed ---------------------------------------------------
CATALOG_DSN="$(dsn "$PG1_PORT" medcard_bench_catalog)"
SHARD_DSNS="bench1=$(dsn "$PG1_PORT" medcard_bench_shard1),bench2=$(dsn "$PG2_PORT" medcard_bench_shard2)"
for spec in "$PG1_PORT:medcard_bench_catalog" "$PG1_PORT:medcard_bench_shard1" "$PG2_PORT:medcard_bench_shard2"; do
	port="${spec%%:*}" db="${spec#*:}"
	psqlc "$port" postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
	psqlc "$port" postgres "CREATE DATABASE $db" >/dev/null
done
export MEDCARD_CATALOG_DSN="$CATALOG_DSN" MEDCARD_SHARD_DSNS="$SHARD_DSNS" MEDCARD_REDIS_ADDR
bin/gateway migrate >/dev/null
bin/gateway shard init >/dev/null
t0=$(date +%s.%N)
bin/gateway seed --demo --persons "$PERSONS" --seed "$SEED" >"$OUT/seed.log" 2>&1 || {
	cat "$OUT/seed.log" >&2
	die "seed failed"
}
seed_secs=$(echo "$(date +%s.%N) - $t0" | bc)
log "seeded $PERSONS persons in $(printf %.1f "$seed_secs") s"
for spec in "$PG1_PORT:medcard_bench_shard1" "$PG2_PORT:medcard_bench_shard2"; do
	port="${spec%%:*}" db="${spec#*:}"
	psqlc "$port" "$db" "CREATE TABLE bench_persons AS SELECT (row_number() OVER (ORDER BY person))::integer AS i, person, shard FROM cards;
		ALTER TABLE bench_persons ADD PRIMARY KEY (i)" >/dev/null
	psqlc "$port" "$db" "VACUUM ANALYZE" >/dev/null
done
# Cached cards of an earlier run (same seed, same keys, fresh databases) would
# be newer than the new databases' cards: drop every cached card. The stack's
# Redis is a cache only, so this costs `make run` nothing but a few misses.
redis-cli -h "$HOST" -p "$REDIS_PORT" --scan --pattern 'card:*' | xargs -r -n 500 redis-cli -h "$HOST" -p "$REDIS_PORT" UNLINK >/dev/null
CARD_BYTES=$(psqlc "$PG1_PORT" medcard_bench_shard1 "SELECT avg(octet_length(card::text))::integer FROM cards")

# --- gateways ---------------------------------------------------------------
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	# A line per request is tens of MB a run; keep the end of each log.
	local f
	for f in "$OUT"/gateway-*.log; do
		[ -f "$f" ] || continue
		tail -n 1000 "$f" >"$f.tail" && mv "$f.tail" "$f"
	done
	redis-cli -h "$HOST" -p "$REDIS_PORT" DEL key:__rand_int__ >/dev/null 2>&1 || true
}
trap cleanup EXIT

wait_http() { # url
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	die "nothing answers $1"
}

pprof_args=() pprof_cold_args=()
[ "${BENCH_PPROF:-}" = 1 ] && pprof_args=(--pprof "$PPROF_ADDR") pprof_cold_args=(--pprof "$PPROF_COLD_ADDR")
# shellcheck disable=SC2086 # BENCH_GATEWAY_ARGS is a list of flags
# --tls-terminated-upstream: the wrk scenarios send one fixed envelope,
# so with a PasswordText (a digest needs a fresh nonce per request), which
# the gateway takes only over TLS; the bench stands for a gateway behind a
# TLS-terminating proxy. The load generator's digests are unaffected.
bin/gateway serve --listen "$HOST:$HOT_PORT" --cache on --tls-terminated-upstream "${pprof_args[@]}" ${BENCH_GATEWAY_ARGS:-} >"$OUT/gateway-hot.log" 2>&1 &
HOT_PID=$!
PIDS+=("$HOT_PID")
# shellcheck disable=SC2086
bin/gateway serve --listen "$HOST:$COLD_PORT" --cache off "${pprof_cold_args[@]}" ${BENCH_GATEWAY_ARGS:-} >"$OUT/gateway-nocache.log" 2>&1 &
COLD_PID=$!
PIDS+=("$COLD_PID")
wait_http "http://$HOST:$HOT_PORT/readyz"
wait_http "http://$HOST:$COLD_PORT/readyz"

# A real GetMedicineCardResponse for the trivial handler to answer with: the
# card of a person whose card is of average size.
AVG_PERSON=$(psqlc "$PG1_PORT" medcard_bench_shard1 \
	"SELECT person FROM cards ORDER BY abs(octet_length(card::text) - $CARD_BYTES), person LIMIT 1")
# The gateways serve plain HTTP, where PasswordText is refused: the token
# is a PasswordDigest, Base64(SHA-1(nonce + created + secret)), with
# coreutils only (sha1sum's hex turned into bytes by printf).
NONCE="bench-capture-$(date +%s%N)"
CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
DIGEST="$(printf "$(printf '%s%s%s' "$NONCE" "$CREATED" demo-secret | sha1sum | cut -c1-40 | sed 's/../\\x&/g')" | base64)"
curl -fsS "http://$HOST:$HOT_PORT/medcard" -H 'Content-Type: text/xml; charset=utf-8' -o "$OUT/trivial-response.xml" \
	--data-binary '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:mc="http://sharedmedcard.example/2026/01/medcard" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><soap:Header><wsse:Security><wsse:UsernameToken><wsse:Username>demo-gp</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">'"$DIGEST"'</wsse:Password><wsse:Nonce>'"$(printf '%s' "$NONCE" | base64)"'</wsse:Nonce><wsu:Created>'"$CREATED"'</wsu:Created></wsse:UsernameToken></wsse:Security><mc:MessageHeader><mc:MessageID>bench-capture</mc:MessageID></mc:MessageHeader><mc:WhitelistingHeader><mc:SystemName>demo-gp</mc:SystemName><mc:OrganisationIdentifier>SOR:483711000016009</mc:OrganisationIdentifier><mc:RequestedRole>Doctor</mc:RequestedRole></mc:WhitelistingHeader></soap:Header><soap:Body><mc:GetMedicineCardRequest><mc:PersonIdentifier>'"$AVG_PERSON"'</mc:PersonIdentifier></mc:GetMedicineCardRequest></soap:Body></soap:Envelope>'
grep -q GetMedicineCardResponse "$OUT/trivial-response.xml" || die "could not capture a GetMedicineCardResponse (see $OUT/trivial-response.xml)"
bin/bench-trivial --listen "$HOST:$TRIVIAL_PORT" --body "$OUT/trivial-response.xml" >"$OUT/trivial.log" 2>&1 &
TRIVIAL_PID=$!
PIDS+=("$TRIVIAL_PID")
sleep 0.3
kill -0 "$TRIVIAL_PID" 2>/dev/null || die "the trivial handler did not start (see $OUT/trivial.log)"

# --- scenarios ----------------------------------------------------------------
# RESULTS gets one line per row: name|rps|p50|p95|p99|cpu|errors|note
RESULTS="$OUT/results.txt"
: >"$RESULTS"
field() { grep "^$1|" "$RESULTS" | cut -d'|' -f"$2" || true; } # scenario column

# run_load NAME PORT PID [bench flags...]: one `gateway bench` run; its row
# goes into RESULTS.
run_load() {
	local name="$1" port="$2" pid="$3"
	shift 3
	log "scenario $name"
	bin/gateway bench --quiet --url "http://$HOST:$port/medcard" --gateway-pid "$pid" \
		--persons "$PERSONS" --seed "$SEED" --duration "$DURATION" --warmup "$WARMUP" \
		--concurrency "$CONC" --name "$name" --out "$OUT/runs" "$@" >"$OUT/$name.txt" 2>&1 || {
		cat "$OUT/$name.txt" >&2
		die "scenario $name failed"
	}
	local dir
	dir=$(ls -d "$OUT/runs/"*"-$name" | tail -1)
	jq -r --arg n "$name" '[$n, (.total.rps|tostring), (.total.latency.p50_ms|tostring), (.total.latency.p95_ms|tostring),
		(.total.latency.p99_ms|tostring), ((.gateway_cpu.per_1000_requests // 0)|tostring), (.total.errors|tostring)] | join("|")' \
		"$dir/bench.json" >>"$RESULTS"
}

# mixed_actions_at FRACTION: that fraction of this run's mixed actions/s
# (actions_rate).
mixed_actions_at() { actions_rate "$(ls -d "$OUT/runs/"*"-mixed" | tail -1)/bench.json" "$1"; }

# rss_sampler PID FILE: the process's RSS in kB once a second, until killed.
rss_sampler() {
	while kill -0 "$1" 2>/dev/null; do
		ps -o rss= -p "$1" >>"$2" || true
		sleep 1
	done
}

# memory_sampler PID PORT FILE: every 5 s, seconds since start, the
# process's RSS in kB and the Go heap in use in bytes (from /metrics), until
# killed.
memory_sampler() {
	local start now rss heap
	start=$(date +%s)
	while kill -0 "$1" 2>/dev/null; do
		now=$(date +%s)
		rss=$(ps -o rss= -p "$1" | tr -d ' ') || true
		heap=$(curl -fsS "http://$HOST:$2/metrics" 2>/dev/null | awk '/^go_memstats_heap_inuse_bytes / {printf "%.0f", $2}') || true
		echo "$((now - start)) ${rss:-0} ${heap:-0}" >>"$3"
		sleep 5
	done
}

PROFILE_PID=""
profile() { # NAME [ADDR]: a CPU profile of the gateway at ADDR (the cache-on one) during the next scenario
	[ "${BENCH_PPROF:-}" = 1 ] || return 0
	local secs=$(($(secs "$WARMUP") + $(secs "$DURATION") - 1))
	curl -fsS -o "$OUT/cpu-$1.pprof" "http://${2:-$PPROF_ADDR}/debug/pprof/profile?seconds=$secs" &
	PROFILE_PID=$!
}
profile_wait() {
	[ -n "$PROFILE_PID" ] || return 0
	wait "$PROFILE_PID" || true
	PROFILE_PID=""
}

want() { [[ " $SCENARIOS " == *" $1 "* ]]; }

if want reads-hot; then
	profile reads-hot
	run_load reads-hot "$HOT_PORT" "$HOT_PID" --mix GetMedicineCard=1 --zipf "$ZIPF"
	profile_wait
fi
if want reads-nocache; then
	profile reads-nocache "$PPROF_COLD_ADDR"
	run_load reads-nocache "$COLD_PORT" "$COLD_PID" --mix GetMedicineCard=1 --zipf "$ZIPF"
	profile_wait
fi
if want writes; then
	profile writes
	run_load writes "$HOT_PORT" "$HOT_PID" --mix "$WRITE_MIX"
	profile_wait
fi
if want writes-hot; then
	# The same writes on Zipf persons, as reads-hot reads: most cards are
	# cached when written, so a write's base comes from the cache (one
	# database round trip) unless another write moved the card on first.
	profile writes-hot
	run_load writes-hot "$HOT_PORT" "$HOT_PID" --mix "$WRITE_MIX" --zipf "$ZIPF"
	profile_wait
fi
# sync_names PORT VALUE: what the primary on PORT waits for at commit.
sync_names() {
	psqlc "$1" postgres "ALTER SYSTEM SET synchronous_standby_names = '$2'" >/dev/null
	psqlc "$1" postgres "SELECT pg_reload_conf()" >/dev/null
	sleep 1
}
if want writes-sync; then
	[ "$MEDCARD_STACK_STANDBYS" = 1 ] ||
		die "writes-sync compares commits with and without a standby's confirmation; run it with the standbys: MEDCARD_STACK_STANDBYS=1 BENCH_SCENARIOS=writes-sync make bench"
	sync_names "$PG1_PORT" ""
	sync_names "$PG2_PORT" ""
	run_load writes-any0 "$HOT_PORT" "$HOT_PID" --mix "$WRITE_MIX"
	sync_names "$PG1_PORT" "ANY 1 (pg1s)"
	sync_names "$PG2_PORT" "ANY 1 (pg2s)"
	run_load writes-any1 "$HOT_PORT" "$HOT_PID" --mix "$WRITE_MIX"
fi
if want mixed; then
	rss_sampler "$HOT_PID" "$OUT/rss-mixed.txt" &
	RSS_PID=$!
	profile mixed
	run_load mixed "$HOT_PORT" "$HOT_PID" --mix "$MIXED_MIX"
	profile_wait
	rate=$(mixed_actions_at 0.8)
	profile mixed-80
	run_load mixed-80 "$HOT_PORT" "$HOT_PID" --mix "$MIXED_MIX" --rate "$rate" --concurrency 256
	profile_wait
	kill "$RSS_PID" 2>/dev/null || true
	wait "$RSS_PID" 2>/dev/null || true
fi
if want soak; then
	if ls -d "$OUT/runs/"*"-mixed" >/dev/null 2>&1; then
		SOAK_RATE=$(mixed_actions_at 0.8)
	fi
	memory_sampler "$HOT_PID" "$HOT_PORT" "$OUT/memory-soak.txt" &
	MEM_PID=$!
	run_load soak "$HOT_PORT" "$HOT_PID" --mix "$MIXED_MIX" --rate "$SOAK_RATE" --concurrency 256 --duration "$SOAK_DURATION"
	kill "$MEM_PID" 2>/dev/null || true
	wait "$MEM_PID" 2>/dev/null || true
fi

# --- wrk: a C load generator, so a figure is not bounded by ours -------------
# wrk_load NAME PORT PID: wrk posts the cached GetMedicineCard of the
# average-sized card (benchlib.sh's wrk_get_card) for DURATION with CONC
# connections; the loaded process's CPU per 1,000 requests from /proc.
wrk_load() {
	log "scenario $1 (wrk)"
	echo "$1|$(wrk_get_card "$1" "$2" "$3" "$AVG_PERSON")" >>"$RESULTS"
}
if want wrk; then
	profile wrk-reads-hot
	wrk_load wrk-reads-hot "$HOT_PORT" "$HOT_PID"
	profile_wait
	wrk_load wrk-trivial "$TRIVIAL_PORT" "$TRIVIAL_PID"
fi

# --- ceilings -------------------------------------------------------------------
# pgbench_pair NAME SCRIPT: pgbench on both shard databases at once, CONC/2
# clients each, for DURATION; sums the rates and takes latency percentiles
# over both per-transaction logs.
pgbench_pair() {
	local name="$1" script="$2" secs_
	secs_=$(secs "$DURATION")
	log "ceiling $name"
	local clients=$(((CONC + 1) / 2)) pids=() spec port db n
	rm -f "$OUT/pgbench-$name".*
	for spec in "$PG1_PORT:medcard_bench_shard1" "$PG2_PORT:medcard_bench_shard2"; do
		port="${spec%%:*}" db="${spec#*:}"
		n=$(psqlc "$port" "$db" "SELECT count(*) FROM bench_persons")
		(cd "$OUT" && "$PG_BIN/pgbench" -h "$HOST" -p "$port" -U postgres -n -M prepared -c "$clients" -j 1 \
			-T "$secs_" -D n="$n" -f "$REPO/scripts/bench/$script" -l --log-prefix "pgbench-$name.$db" "$db" \
			>"$OUT/pgbench-$name-$db.txt" 2>&1) &
		pids+=($!)
	done
	local p
	for p in "${pids[@]}"; do wait "$p" || die "pgbench $name failed (see $OUT/pgbench-$name-*.txt)"; done
	local tps=0 t
	for t in $(grep -h '^tps' "$OUT/pgbench-$name"-*.txt | sed 's/^tps = \([0-9.]*\).*/\1/'); do
		tps=$(echo "$tps + $t" | bc -l)
	done
	# Per-transaction log: field 3 is the latency in µs.
	cat "$OUT/pgbench-$name".medcard_bench_shard*.* | awk '{print $3}' | sort -n >"$OUT/pgbench-$name.lat"
	local count p50 p95 p99
	count=$(wc -l <"$OUT/pgbench-$name.lat")
	pct() { sed -n "$(((count * $1 + 99) / 100))p" "$OUT/pgbench-$name.lat" | awk '{printf "%.3f", $1/1000}'; }
	p50=$(pct 50) p95=$(pct 95) p99=$(pct 99)
	echo "$name|$tps|$p50|$p95|$p99|-|0" >>"$RESULTS"
	rm -f "$OUT/pgbench-$name".medcard_bench_shard*.* "$OUT/pgbench-$name.lat"
}

if want ceilings; then
	pgbench_pair pgbench-read read.sql
	pgbench_pair pgbench-write write.sql
	log "ceiling redis-get (value of $CARD_BYTES bytes)"
	redis-benchmark -h "$HOST" -p "$REDIS_PORT" -c "$CONC" -n 100000 -d "$CARD_BYTES" -t set --csv >/dev/null
	redis-benchmark -h "$HOST" -p "$REDIS_PORT" -c "$CONC" -n 400000 -d "$CARD_BYTES" -t get --csv >"$OUT/redis-get.csv"
	# "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
	tail -1 "$OUT/redis-get.csv" | tr -d '"' | awk -F, '{print "redis-get|" $2 "|" $5 "|" $6 "|" $7 "|-|0"}' >>"$RESULTS"
	run_load trivial-http "$TRIVIAL_PORT" "$TRIVIAL_PID" --mix GetMedicineCard=1 --zipf "$ZIPF"
fi

# --- the table -------------------------------------------------------------------
ratio() { # scenario ceiling-rps
	local a b
	a=$(field "$1" 2)
	b="$2"
	[ -n "$a" ] && [ -n "$b" ] && [ "$b" != 0 ] && printf '%.0f%%' "$(echo "100 * $a / $b" | bc -l)" || echo "-"
}
trivial=$(field trivial-http 2)
pgread=$(field pgbench-read 2)
pgwrite=$(field pgbench-write 2)
blend=""
if [ -n "$trivial" ] && [ -n "$pgwrite" ]; then
	# Mixed's ceiling: 90% of the time budget at the trivial rate and 10% at
	# pgbench's write rate (a harmonic blend).
	blend=$(echo "1 / (0.9 / $trivial + 0.1 / $pgwrite)" | bc -l)
fi
rss_max="-"
[ -s "$OUT/rss-mixed.txt" ] && rss_max="$(sort -n "$OUT/rss-mixed.txt" | tail -1 | awk '{printf "%.0f MB", $1/1024}')"
rss_first="$(head -1 "$OUT/rss-mixed.txt" 2>/dev/null | awk '{printf "%.0f MB", $1/1024}' || true)"
rss_last="$(tail -1 "$OUT/rss-mixed.txt" 2>/dev/null | awk '{printf "%.0f MB", $1/1024}' || true)"

{
	echo
	echo "make bench — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/^Mem/ {print $2}') GB"
	echo "Load generator, PostgreSQL (2 servers), Redis and the gateway all share this machine's $(nproc) cores."
	echo "$PERSONS persons seeded in $(printf %.1f "$seed_secs") s; average card $CARD_BYTES bytes (JSON text); $DURATION per scenario after $WARMUP warmup;"
	echo "closed loop with $CONC workers (pgbench: $(((CONC + 1) / 2)) clients on each shard database), mixed-80 open loop at 80% of mixed's actions/s."
	echo
	printf '%-15s %10s %8s %8s %8s %12s %7s  %-16s %6s\n' SCENARIO "REQ/S" "P50 ms" "P95 ms" "P99 ms" "CPU s/1000" ERRORS CEILING RATIO
	row() { # name ceiling-name ceiling-rps
		local line
		line=$(grep "^$1|" "$RESULTS") || return 0
		IFS='|' read -r n rps p50 p95 p99 cpu errs <<<"$line"
		[ "$cpu" = "-" ] || cpu=$(printf '%.3f' "$cpu")
		printf '%-15s %10.0f %8.2f %8.2f %8.2f %12s %7s  %-16s %6s\n' "$n" "$rps" "$p50" "$p95" "$p99" "$cpu" "$errs" "$2" "$(ratio "$1" "$3")"
	}
	row reads-hot trivial-http "$trivial"
	row reads-nocache pgbench-read "$pgread"
	row writes pgbench-write "$pgwrite"
	row writes-hot pgbench-write "$pgwrite"
	row wrk-reads-hot wrk-trivial "$(field wrk-trivial 2)"
	row writes-any0 "-" ""
	row writes-any1 "-" ""
	row mixed "blend 90/10" "$blend"
	row mixed-80 "-" ""
	row pgbench-read "-" ""
	row pgbench-write "-" ""
	row redis-get "-" ""
	row trivial-http "-" ""
	row wrk-trivial "-" ""
	row soak "-" ""
	echo
	[ -s "$OUT/rss-mixed.txt" ] && echo "gateway RSS during mixed and mixed-80: first $rss_first, last $rss_last, max $rss_max"
	if [ -s "$OUT/memory-soak.txt" ]; then
		# Averages over the first and the last minute of the soak, and the maxima.
		awk -v rate="$SOAK_RATE" -v dur="$SOAK_DURATION" '
			{ t[NR] = $1; rss[NR] = $2; heap[NR] = $3; if ($2 > maxr) maxr = $2; if ($3 > maxh) maxh = $3 }
			END {
				end = t[NR]
				for (i = 1; i <= NR; i++) {
					if (t[i] <= 60) { fr += rss[i]; fh += heap[i]; fn++ }
					if (t[i] >= end - 60) { lr += rss[i]; lh += heap[i]; ln++ }
				}
				printf "soak (%s at %s actions/s): gateway RSS first minute %.0f MB, last minute %.0f MB, max %.0f MB;", dur, rate, fr/fn/1024, lr/ln/1024, maxr/1024
				printf " Go heap in use first minute %.0f MB, last minute %.0f MB, max %.0f MB\n", fh/fn/1048576, lh/ln/1048576, maxh/1048576
			}' "$OUT/memory-soak.txt"
	fi
	echo "CPU s/1000 is the loaded process's (gateway, or the trivial handler) CPU seconds per 1,000 requests."
	echo "make bench took $(($(date +%s) - started_at)) s; details in ${OUT#"$REPO"/}"
} | tee "$OUT/table.txt"
