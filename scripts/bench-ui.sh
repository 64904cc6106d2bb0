#!/usr/bin/env bash
# bench-ui.sh is `make bench-ui`: the pharmacists' web UI measured under
# UI_USERS (50) concurrent signed-in users (docs/performance.md). On the
# local stack (scripts/stack.sh) it makes its own databases
# (medcard_ui_catalog and medcard_ui_shard1 on pg1, medcard_ui_shard2 on
# pg2; dropped and made again each run), seeds UI_PERSONS (1,000,000)
# persons, starts a gateway and runs internal/benchtools/uiload: UI_ORDERS
# (200) open orders placed for the users' pharmacy, then UI_WARMUP (5s) not
# counted and UI_DURATION (60s)
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
WARMUP="${UI_WARMUP:-5s}" # pages before the measurement, not counted (pools and caches fill)
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
bench_seed "$PG1_PORT:medcard_ui_shard1" "$PG2_PORT:medcard_ui_shard2"
bench_serve

log "$USERS users for $DURATION, pausing $THINK between pages"
bin/uiload --url "http://$HOST:$PORT" --users "$USERS" --orders "$ORDERS" --persons "$PERSONS" --seed "$SEED" \
	--warmup "$WARMUP" --duration "$DURATION" --think "$THINK" --json >"$OUT/uiload.json"
jq -r '.pages[] | [.page, .count, .errors, (.rps|floor), .p50Ms, .p95Ms, .p99Ms, .maxMs] | @tsv' "$OUT/uiload.json" |
	(echo -e "page\tcount\terrors\tper_s\tp50_ms\tp95_ms\tp99_ms\tmax_ms"; cat) | column -t | tee "$OUT/uiload.txt"
log "targets: card page p99 < 50 ms, inbox p99 < 100 ms"
