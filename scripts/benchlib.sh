# benchlib.sh is what the bench scripts share (bench-rebalance.sh,
# bench-ui.sh): source it after setting BENCH_NAME (the log prefix) and
# HOST. bench_stack_up brings up the local stack (scripts/stack.sh) and
# sets PG1_PORT, PG2_PORT and PSQL; psqlc runs one statement.

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

# bench_seed migrates and initialises the cluster of MEDCARD_CATALOG_DSN
# and MEDCARD_SHARD_DSNS, seeds PERSONS persons with SEED (log in
# $OUT/seed.log) and vacuums the shard databases given as port:db.
bench_seed() {
	bin/gateway migrate >/dev/null
	bin/gateway shard init >/dev/null
	log "seeding $PERSONS persons"
	local t0 spec
	t0=$(date +%s)
	bin/gateway seed --demo --persons "$PERSONS" --seed "$SEED" >"$OUT/seed.log" 2>&1 || {
		cat "$OUT/seed.log" >&2
		die "seed failed"
	}
	log "seeded in $(($(date +%s) - t0)) s"
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

# PIDS are the background processes a bench stops when it exits.
PIDS=()
bench_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap bench_cleanup EXIT

# bench_serve drops every cached card (an earlier run's, same seed, would
# be newer than the fresh databases' cards), starts a gateway on
# HOST:PORT (log in $OUT/gateway.log), sets GW_PID and waits until it is
# ready.
bench_serve() {
	local redis_port="${MEDCARD_REDIS_PORT:-56379}"
	redis-cli -h "$HOST" -p "$redis_port" --scan --pattern 'card:*' | xargs -r -n 500 redis-cli -h "$HOST" -p "$redis_port" UNLINK >/dev/null
	export MEDCARD_REDIS_ADDR
	bin/gateway serve --listen "$HOST:$PORT" >"$OUT/gateway.log" 2>&1 &
	GW_PID=$!
	PIDS+=("$GW_PID")
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null "http://$HOST:$PORT/readyz" 2>/dev/null && break
		sleep 0.1
	done
	curl -fsS -o /dev/null "http://$HOST:$PORT/readyz" || die "the gateway does not answer (see $OUT/gateway.log)"
}
