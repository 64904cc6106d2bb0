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
