#!/usr/bin/env bash
# bench-audit.sh is `make bench-audit`: the citizen's access log
# (GetAccessLog) on a seeded audit table (docs/performance.md, "Access
# log"). It starts a PostgreSQL server of its own (AUDIT_DATA, default
# .cache/bench-audit; port AUDIT_PORT 55499), applies the shard
# migrations, and seeds AUDIT_ROWS (100,000,000) audit rows over
# AUDIT_MONTHS (25) months for AUDIT_PERSONS (5,000,000) persons, plus one
# busy person with AUDIT_BUSY_ROWS (20,000) rows. Each month is loaded into
# a table of its own, indexed, then attached (what a bulk load does; the
# gateway's inserts go through the root). A seeded server is reused by the
# next run with the same sizes.
#
# Then it measures the store's statement (shard.readAccessLogSQL, the same
# text) with pgbench over AUDIT_SECONDS (30) per case and AUDIT_CLIENTS (4)
# clients: a random person's two-year log, first page; the busy person's
# first page; and a page of the busy person deep in its log (a cursor a
# year back); and the first case again over 10,000 persons after a warm-up,
# with their pages in memory. Latency p50/p99 come from pgbench's
# per-transaction log. It prints EXPLAIN (ANALYZE, BUFFERS) of each, which
# shows the months pruned and the index used. Results land in bench-results/audit-<time>/.
#
# The server runs with fsync off and wal_level minimal, which only speeds
# the seeding: the measurement is read-only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$(pwd -P)"

ROWS="${AUDIT_ROWS:-100000000}"
MONTHS="${AUDIT_MONTHS:-25}"
PERSONS="${AUDIT_PERSONS:-5000000}"
BUSY_ROWS="${AUDIT_BUSY_ROWS:-20000}"
SECONDS_PER_CASE="${AUDIT_SECONDS:-30}"
CLIENTS="${AUDIT_CLIENTS:-4}"
PORT="${AUDIT_PORT:-55499}"
DATA="${AUDIT_DATA:-$REPO/.cache/bench-audit}"
PAGE=50

log() { echo "bench-audit: $*" >&2; }
die() {
	log "$*"
	exit 1
}

pg_bin="${PG_BINDIR:-}"
if [ -z "$pg_bin" ]; then
	for b in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
		[ -x "$b/postgres" ] && pg_bin="$b"
	done
fi
[ -x "$pg_bin/postgres" ] || die "PostgreSQL not found (apt-get install postgresql; or set PG_BINDIR)"
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSSLMODE PGOPTIONS PGSERVICE

# The server runs as postgres when we are root (initdb refuses root).
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
	else
		"$@"
	fi
}

OUT="$REPO/bench-results/audit-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT" "$DATA"
[ "$(id -u)" -eq 0 ] && chown postgres "$DATA"
log "results in ${OUT#"$REPO"/}, server data in $DATA"

if [ ! -f "$DATA/pgdata/PG_VERSION" ]; then
	as_pg "$pg_bin/initdb" -D "$DATA/pgdata" -A trust -U postgres >/dev/null
fi
as_pg "$pg_bin/pg_ctl" -D "$DATA/pgdata" -l "$DATA/server.log" -w -o "-p $PORT -k $DATA -c listen_addresses='' \
 -c fsync=off -c wal_level=minimal -c max_wal_senders=0 -c shared_buffers=2GB -c maintenance_work_mem=1GB \
 -c max_wal_size=16GB -c checkpoint_timeout=30min -c jit=off" start >/dev/null
trap 'as_pg "$pg_bin/pg_ctl" -D "$DATA/pgdata" -m fast stop >/dev/null 2>&1 || true' EXIT

psqlq() { "$pg_bin/psql" -X -q -tA -v ON_ERROR_STOP=1 -h "$DATA" -p "$PORT" -U postgres -d audit "$@"; }

seeded="rows=$ROWS months=$MONTHS persons=$PERSONS busy=$BUSY_ROWS"
if [ "$(cat "$DATA/seeded" 2>/dev/null)" != "$seeded" ]; then
	log "seeding: $seeded"
	"$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$DATA" -p "$PORT" -U postgres -d postgres \
		-c "DROP DATABASE IF EXISTS audit" -c "CREATE DATABASE audit"
	for f in migrations/shard/*.sql; do
		psqlq -1 -f "$f" >/dev/null
	done
	t0=$(date +%s)
	# Months from MONTHS-1 months back to this one; the months the
	# migration made ahead stay empty.
	for ((i = MONTHS - 1; i >= 0; i--)); do
		ts=$(date +%s)
		psqlq -1 >/dev/null <<-SQL
			SET session_replication_role = replica; -- no fence trigger: the bench owns no shards
			SELECT set_config('bench.lo', (date_trunc('month', now() AT TIME ZONE 'UTC') - interval '$i months')::text, false);
			SELECT set_config('bench.name', audit_log_month_name(current_setting('bench.lo')::timestamp AT TIME ZONE 'UTC'), false);
			DO \$\$ BEGIN
			    IF to_regclass(current_setting('bench.name')) IS NOT NULL THEN
			        EXECUTE format('DROP TABLE %I', current_setting('bench.name'));
			    END IF;
			    EXECUTE format('CREATE TABLE %I (LIKE audit_log INCLUDING DEFAULTS)', current_setting('bench.name'));
			END \$\$;
			DO \$\$
			DECLARE
			    name text := current_setting('bench.name');
			    lo timestamp := current_setting('bench.lo')::timestamp;
			    hi timestamp := lo + interval '1 month';
			    n bigint := $ROWS / $MONTHS;
			BEGIN
			    EXECUTE format(\$q\$
			        INSERT INTO %I (id, shard, person, at, operation, system, organisation, role, authorisation_id, message_id,
			                        card_version, flow_id, consent, emergency_override, acting_user, items)
			        SELECT $i::bigint * %s + g, (p %% 1024)::integer, lpad(p::text, 10, '0'),
			               (%L::timestamp + random() * (%L::timestamp - %L::timestamp)) AT TIME ZONE 'UTC',
			               (ARRAY['GetMedicineCard','GetMedicineCard','GetMedicineCard','GetPrescription','CreateOrder','UpdateDrugMedication'])[1 + g %% 6],
			               'system' || (g %% 30), 'SOR:' || (g %% 5000), (ARRAY['Doctor','Nurse','Pharmacist'])[1 + g %% 3],
			               CASE WHEN g %% 3 = 0 THEN 'A' || (g %% 90000) ELSE '' END, 'm' || g, 1 + g %% 40, '', 'None', g %% 1000 = 0, '',
			               CASE WHEN g %% 6 >= 4 THEN ARRAY['DrugMedication:' || (g %% 50)] ELSE '{}'::text[] END
			        FROM (SELECT g, 1 + (random() * ($PERSONS - 1))::bigint AS p FROM generate_series(1, %s) g) x
			        ORDER BY 4\$q\$, name, n, lo, hi, lo, n);
			    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (shard, id, at)', name);
			    EXECUTE format('CREATE INDEX ON %I (person, at DESC, id DESC)', name);
			    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (at >= %L AND at < %L)', name, name || '_range',
			        lo AT TIME ZONE 'UTC', hi AT TIME ZONE 'UTC');
			    EXECUTE format('ALTER TABLE audit_log ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name,
			        lo AT TIME ZONE 'UTC', hi AT TIME ZONE 'UTC');
			    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', name, name || '_range');
			END \$\$;
		SQL
		log "month -$i: $((ROWS / MONTHS)) rows in $(($(date +%s) - ts)) s"
	done
	# The busy person (a care home resident, say): BUSY_ROWS rows over the
	# months, through the root like the gateway's inserts.
	psqlq >/dev/null <<-SQL
		SET session_replication_role = replica;
		INSERT INTO audit_log (shard, person, at, operation, system, organisation, role, authorisation_id, message_id, card_version)
		SELECT 1, '9999999999', now() - random() * interval '$((MONTHS - 1)) months', 'GetMedicineCard', 'homecare', 'SOR:1', 'Nurse',
		       'A' || (g % 50), 'b' || g, 1 + g / 100
		FROM generate_series(1, $BUSY_ROWS) g;
		SELECT setval(pg_get_serial_sequence('audit_log', 'id'), (SELECT max(id) FROM audit_log));
		VACUUM ANALYZE audit_log;
		CHECKPOINT;
	SQL
	echo "$seeded" >"$DATA/seeded"
	log "seeded in $(($(date +%s) - t0)) s"
fi

# The statement checks that the database owns the person's shard.
psqlq -c "INSERT INTO owned_shards (shard) SELECT s FROM generate_series(0, 1023) s ON CONFLICT DO NOTHING" >/dev/null
psqlq -c "SELECT count(*) AS partitions, pg_size_pretty(sum(pg_total_relation_size(inhrelid))) AS size,
	pg_size_pretty(sum(pg_indexes_size(inhrelid))) AS indexes FROM pg_inherits WHERE inhparent = 'audit_log'::regclass" |
	tee "$OUT/table.txt"
psqlq -c "SELECT reltuples::bigint FROM pg_class WHERE oid = 'audit_log'::regclass" >/dev/null

# The store's statement (shard.readAccessLogSQL, put together from its
# three constants in shard/accesslog.go), with the first page's cursor (the
# period's end, id 0) or a deep one.
go_const() { sed -n "/^const $1 = \`/,/\`\$/p" shard/accesslog.go | sed "1s/^const $1 = \`//; \$s/\`\$//"; }
QUERY="$(go_const readAccessLogHead)$(go_const accessLogPageSQL)$(go_const readAccessLogTail)"
case "$QUERY" in *"owned_shards"*"FROM audit_log"*"ORDER BY a.at"*) ;; *) die "readAccessLogSQL's parts not found in shard/accesslog.go" ;; esac
sql_for() { # person cursor shard: the statement with its parameters spelled out
	echo "$QUERY" | sed "s/\\\$1/$1/g; s/\\\$2/now() - interval '2 years'/g; s/\\\$3/$2/g; s/\\\$4/0/g; s/\\\$5/$PAGE/g; s/\\\$6/$3/g"
}
bench_case() { # name person-in-pgbench person-in-explain cursor shard-in-pgbench shard-in-explain [persons warm-up]
	local name=$1 f="$OUT/$1.sql" persons=${7:-$PERSONS}
	{
		echo '\set p random(1, '"$persons"')'
		sql_for "$2" "$4" "$5"
		echo ';'
	} >"$f"
	if [ -n "${8:-}" ]; then
		log "$name: warming up ${persons} persons' logs for $SECONDS_PER_CASE s"
		"$pg_bin/pgbench" -n -h "$DATA" -p "$PORT" -U postgres -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER_CASE" \
			-M prepared -f "$f" audit >/dev/null 2>&1 || die "pgbench failed"
	fi
	log "$name: $CLIENTS clients for $SECONDS_PER_CASE s"
	(cd "$OUT" && "$pg_bin/pgbench" -n -h "$DATA" -p "$PORT" -U postgres -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER_CASE" \
		-M prepared -f "$f" -l --log-prefix="$name" audit >"$name.pgbench.txt" 2>&1) || die "pgbench failed: $(cat "$OUT/$name.pgbench.txt")"
	# Column 3 of pgbench's log is each transaction's latency in µs.
	cat "$OUT/$name".[0-9]* | awk '{print $3}' | sort -n | awk -v name="$name" '
		{ v[NR] = $1 } END {
			printf "%-18s %8d queries  p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms\n", name, NR,
				v[int(NR * 0.50) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000, v[NR] / 1000
		}' | tee -a "$OUT/summary.txt"
	rm -f "$OUT/$name".[0-9]*
	psqlq -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) $(sql_for "$3" "$4" "$6")" >"$OUT/$name.explain.txt"
}
bench_case person-two-years "lpad(:p::text, 10, '0')" "'0002500000'" "now()" ":p % 1024" "2500000 % 1024"
# The same over the logs of WARM_PERSONS (10,000) persons only, after a
# warm-up: their pages in memory, what the statement costs without disk.
bench_case person-two-years-warm "lpad(:p::text, 10, '0')" "'0000002500'" "now()" ":p % 1024" "2500 % 1024" "${AUDIT_WARM_PERSONS:-10000}" warm
bench_case busy-first-page "'9999999999'" "'9999999999'" "now()" 1 1
bench_case busy-year-back "'9999999999'" "'9999999999'" "now() - interval '1 year'" 1 1
log "summary (page of $PAGE rows):"
cat "$OUT/summary.txt" >&2
log "plan of a random person's two-year log:"
cat "$OUT/person-two-years.explain.txt" >&2
