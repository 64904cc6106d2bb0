#!/usr/bin/env bash
# bench-ui.sh is `make bench-ui`: the pharmacists' web UI measured under
# UI_USERS (50) concurrent signed-in users (docs/performance.md). On the
# local stack (scripts/stack.sh) it makes its own databases
# (medcard_ui_catalog and medcard_ui_shard1 on pg1, medcard_ui_shard2 on
# pg2; dropped and made again each run), seeds UI_PERSONS (1,000,000)
# persons, starts a gateway and runs internal/benchtools/uiload: UI_ORDERS
# (200) open orders placed for the users' pharmacy, then UI_DURATION (60s)
# of card pages and, one view in ten, the pharmacy's inbox, each user
# pausing UI_THINK (0s: none) between pages. Results land in
# bench-results/ui-<time>/ (uiload.txt, uiload.json, gateway.log).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd -P)"

PERSONS="${UI_PERSONS:-1000000}"
USERS="${UI_USERS:-50}"
ORDERS="${UI_ORDERS:-200}"
DURATION="${UI_DURATION:-60s}"
THINK="${UI_THINK:-0s}" # a user's pause between pages; 0: every user at full speed
PORT="${UI_PORT:-18086}"
SEED=1
HOST=127.0.0.1

BENCH_NAME=bench-ui
# shellcheck source=scripts/benchlib.sh
. scripts/benchlib.sh

OUT="$REPO/bench-results/ui-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
log "results in ${OUT#"$REPO"/}"

bench_stack_up
command -v jq >/dev/null || die "jq not found (apt-get install jq)"
if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
	die "port $PORT is taken; set UI_PORT"
fi

log "building bin/gateway and bin/uiload"
go build -o bin/gateway ./cmd/gateway
go build -o bin/uiload ./internal/benchtools/uiload

for spec in "$PG1_PORT:medcard_ui_catalog" "$PG1_PORT:medcard_ui_shard1" "$PG2_PORT:medcard_ui_shard2"; do
	psqlc "${spec%%:*}" postgres "DROP DATABASE IF EXISTS ${spec#*:} WITH (FORCE)" >/dev/null
	psqlc "${spec%%:*}" postgres "CREATE DATABASE ${spec#*:}" >/dev/null
done
export MEDCARD_CATALOG_DSN="$(dsn "$PG1_PORT" medcard_ui_catalog)"
export MEDCARD_SHARD_DSNS="shard1=$(dsn "$PG1_PORT" medcard_ui_shard1),shard2=$(dsn "$PG2_PORT" medcard_ui_shard2)"
bin/gateway migrate >/dev/null
bin/gateway shard init >/dev/null
log "seeding $PERSONS persons"
t0=$(date +%s)
bin/gateway seed --persons "$PERSONS" --seed "$SEED" >"$OUT/seed.log" 2>&1 || {
	cat "$OUT/seed.log" >&2
	die "seed failed"
}
log "seeded in $(($(date +%s) - t0)) s"
for spec in "$PG1_PORT:medcard_ui_shard1" "$PG2_PORT:medcard_ui_shard2"; do
	psqlc "${spec%%:*}" "${spec#*:}" "VACUUM ANALYZE" >/dev/null
done

# Cached cards of an earlier run (same seed, fresh databases) would be
# newer than the new databases' cards: drop every cached card.
REDIS_PORT="${MEDCARD_REDIS_PORT:-56379}"
redis-cli -h "$HOST" -p "$REDIS_PORT" --scan --pattern 'card:*' | xargs -r -n 500 redis-cli -h "$HOST" -p "$REDIS_PORT" UNLINK >/dev/null
export MEDCARD_REDIS_ADDR
bin/gateway serve --listen "$HOST:$PORT" >"$OUT/gateway.log" 2>&1 &
GW_PID=$!
trap 'kill "$GW_PID" 2>/dev/null || true; wait "$GW_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
	curl -fsS -o /dev/null "http://$HOST:$PORT/readyz" 2>/dev/null && break
	sleep 0.1
done
curl -fsS -o /dev/null "http://$HOST:$PORT/readyz" || die "the gateway does not answer (see $OUT/gateway.log)"

log "$USERS users for $DURATION, pausing $THINK between pages"
bin/uiload --url "http://$HOST:$PORT" --users "$USERS" --orders "$ORDERS" --persons "$PERSONS" --seed "$SEED" \
	--duration "$DURATION" --think "$THINK" --json >"$OUT/uiload.json"
jq -r '.pages[] | [.page, .count, .errors, (.rps|floor), .p50Ms, .p95Ms, .p99Ms, .maxMs] | @tsv' "$OUT/uiload.json" |
	(echo -e "page\tcount\terrors\tper_s\tp50_ms\tp95_ms\tp99_ms\tmax_ms"; cat) | column -t | tee "$OUT/uiload.txt"
log "targets: card page p99 < 50 ms, inbox p99 < 100 ms"
