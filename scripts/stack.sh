#!/usr/bin/env bash
# stack.sh manages the LOCAL demo stack for `make run`: two PostgreSQL servers
# (catalog + shard1 on pg1, shard2 on pg2) and one Redis, all on 127.0.0.1,
# with their data in the git-ignored .stack/ folder at the repo root.
#
#   stack.sh deps    install postgresql / redis-server if missing (apt)
#   stack.sh up      deps + start (initdb on first use) + create databases
#   stack.sh env     print the gateway's environment as `export` lines
#   stack.sh status  one line per server: running/stopped and port
#   stack.sh stop    stop the servers, keep the data
#   stack.sh clean   stop, then delete all data
#
# Ports: MEDCARD_PG1_PORT (55431), MEDCARD_PG2_PORT (55432),
# MEDCARD_REDIS_PORT (56379). We never use the Debian package's default
# cluster on 5432; if apt starts it, it just sits there.
#
# Standbys: each primary has a streaming standby (pg1s on port 55441,
# pg2s on 55442; MEDCARD_PG1S_PORT, MEDCARD_PG2S_PORT) that must confirm
# every commit (synchronous_standby_names = 'ANY 1 (pg1s)'), and `env`
# tells the gateway to require it (MEDCARD_SYNC_STANDBYS=1).
# MEDCARD_STACK_STANDBYS=0 runs the primaries alone: `up` then stops the
# standbys and stops waiting for them (the benchmarks do, to compare with
# their earlier figures, unless told otherwise).
#
# PostgreSQL refuses to run as root, so when this script runs as root the
# servers run as the `postgres` OS user via runuser and their data dirs are
# owned by it. That user must be able to traverse the path to the data; when
# the repo lives somewhere it cannot (e.g. under /root, mode 0700), the data
# goes to /var/tmp/medcard-stack-<uid>-<hash of repo path> and .stack is a
# symlink to it (clean removes both).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
STACK_LINK="$REPO_ROOT/.stack"

PG1_PORT="${MEDCARD_PG1_PORT:-55431}"
PG2_PORT="${MEDCARD_PG2_PORT:-55432}"
REDIS_PORT="${MEDCARD_REDIS_PORT:-56379}"
PG1S_PORT="${MEDCARD_PG1S_PORT:-55441}"
PG2S_PORT="${MEDCARD_PG2S_PORT:-55442}"
STANDBYS="${MEDCARD_STACK_STANDBYS:-1}"
HOST=127.0.0.1

# A developer's libpq settings must not redirect or break our connections.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSSLMODE PGOPTIONS PGSERVICE PGDATA

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

log() { echo "stack: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# find_pg_bindir prints the PostgreSQL server bin dir: PG_BINDIR, else the
# newest /usr/lib/postgresql/*/bin with initdb (Debian keeps it off PATH),
# else the dir of initdb on PATH. Same lookup as internal/testservers.
find_pg_bindir() {
	if [ -n "${PG_BINDIR:-}" ]; then
		[ -x "$PG_BINDIR/initdb" ] && { echo "$PG_BINDIR"; return 0; }
		return 1
	fi
	local b best=""
	for b in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
		[ -x "$b/initdb" ] && best="$b"
	done
	if [ -n "$best" ]; then
		echo "$best"
		return 0
	fi
	local p
	p="$(command -v initdb 2>/dev/null)" || return 1
	dirname "$p"
}

cmd_deps() {
	local missing=()
	find_pg_bindir >/dev/null || missing+=(postgresql)
	command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 || missing+=(redis-server)
	[ "${#missing[@]}" -eq 0 ] && return 0

	local sudo=()
	if [ "$IS_ROOT" -ne 1 ]; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			die "missing: ${missing[*]}. Install them (Debian/Ubuntu: sudo apt-get install -y postgresql redis-server; or set PG_BINDIR to a PostgreSQL bin dir) and re-run."
		fi
	fi
	command -v apt-get >/dev/null 2>&1 ||
		die "missing: ${missing[*]} and no apt-get here; install PostgreSQL server binaries (initdb, pg_ctl, psql) and redis-server, then re-run (PG_BINDIR may point at the PostgreSQL bin dir)."

	log "installing postgresql redis-server (missing: ${missing[*]})"
	"${sudo[@]}" apt-get update -qq >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >&2
	find_pg_bindir >/dev/null || die "postgresql installed but initdb still not found"
	command -v redis-server >/dev/null 2>&1 || die "redis-server installed but not on PATH"
}

# stack_dir prints the real stack dir, creating it (and the /var/tmp
# indirection, see the header) on first use.
stack_dir() {
	if [ -L "$STACK_LINK" ]; then
		local target
		target="$(readlink "$STACK_LINK")"
		mkdir -p "$target" # /var/tmp may have been cleaned since
		chmod 755 "$target"
		echo "$target"
		return
	fi
	if [ ! -d "$STACK_LINK" ]; then
		if [ "$IS_ROOT" -eq 1 ] && ! runuser -u postgres -- test -x "$REPO_ROOT" 2>/dev/null; then
			local hash target
			hash="$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)"
			target="/var/tmp/medcard-stack-$(id -u)-$hash"
			mkdir -p "$target"
			chmod 755 "$target"
			ln -sfn "$target" "$STACK_LINK"
			log "postgres user cannot traverse $REPO_ROOT; data lives in $target (.stack links to it)"
			echo "$target"
			return
		fi
		mkdir -p "$STACK_LINK"
		chmod 755 "$STACK_LINK"
	fi
	echo "$STACK_LINK"
}

# pgrun runs a PostgreSQL binary as the postgres user when we are root, from
# a cwd that user can enter.
pgrun() {
	local bin="$BINDIR/$1"
	shift
	if [ "$IS_ROOT" -eq 1 ]; then
		(cd "$STACK" && runuser -u postgres -- "$bin" "$@")
	else
		(cd "$STACK" && "$bin" "$@")
	fi
}

# own_by_pg hands a dir to the postgres user when we are root.
own_by_pg() {
	if [ "$IS_ROOT" -eq 1 ]; then
		id postgres >/dev/null 2>&1 || die "running as root needs the postgres OS user (apt-get install postgresql)"
		chown postgres: "$@"
	fi
}

psql_bin() {
	if [ -x "$BINDIR/psql" ]; then echo "$BINDIR/psql"; else command -v psql; fi
}

# psqlc runs one SQL command over TCP (trust auth as postgres).
psqlc() {
	local port="$1" sql="$2"
	PGCONNECT_TIMEOUT=10 "$(psql_bin)" -X -q -tA -v ON_ERROR_STOP=1 \
		-h "$HOST" -p "$port" -U postgres -d postgres -c "$sql"
}

pg_running() { pgrun pg_ctl status -D "$STACK/$1" >/dev/null 2>&1; }

# pg_up initdb's (first time) and starts server $1 on port $2.
pg_up() {
	local name="$1" port="$2" data="$STACK/$1"
	local sock="$STACK/sock" logf="$STACK/log/$1.log"
	mkdir -p "$sock" "$STACK/log"
	own_by_pg "$sock" "$STACK/log"

	if [ ! -f "$data/PG_VERSION" ]; then
		log "$name: initdb in $data"
		rm -rf "$data"
		mkdir -p "$data"
		chmod 700 "$data"
		own_by_pg "$data"
		local base=(-D "$data" -U postgres --auth=trust --encoding=UTF8)
		if ! pgrun initdb "${base[@]}" --locale=C.UTF-8 >"$STACK/log/$name.initdb.log" 2>&1; then
			# Systems without the C.UTF-8 locale.
			rm -rf "${data:?}"/*
			pgrun initdb "${base[@]}" --no-locale >"$STACK/log/$name.initdb.log" 2>&1 ||
				die "$name: initdb failed, see $STACK/log/$name.initdb.log"
		fi
	fi

	if pg_running "$name"; then
		local cur
		cur="$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)"
		if [ "$cur" = "$port" ] && [ "$(psqlc "$port" "show wal_level" 2>/dev/null)" = logical ]; then
			return 0
		fi
		# A stack started before shard moves came runs without
		# wal_level=logical: restart it with the options below.
		log "$name: restarting on port $port with the shard-move options (was port $cur)"
		pgrun pg_ctl stop -D "$data" -m fast -w >/dev/null
	fi

	# Unix sockets are capped at ~107 bytes; we only use TCP, so on a very
	# deep path we simply do without the socket.
	local sockopt="'$sock'"
	[ "${#sock}" -gt 90 ] && sockopt="''"
	log "$name: starting on $HOST:$port"
	if ! pgrun pg_ctl start -w -t 60 -D "$data" -l "$logf" \
		-o "-p $port -c listen_addresses=$HOST -c unix_socket_directories=$sockopt -c max_connections=200 $PG_MOVE_OPTS" >/dev/null; then
		log "$name: failed to start; last lines of $logf:"
		tail -n 20 "$logf" >&2 || true
		exit 1
	fi
}

# standby_up makes (first time: a base backup through a slot of its own)
# and starts $1, the standby of the primary on port $2, on port $3, named
# $1 for synchronous_standby_names, and waits until it streams.
standby_up() {
	local name="$1" primary_port="$2" port="$3" data="$STACK/$1"
	local logf="$STACK/log/$1.log"
	if [ ! -f "$data/PG_VERSION" ]; then
		log "$name: base backup of port $primary_port into $data"
		rm -rf "$data"
		mkdir -p "$data"
		chmod 700 "$data"
		own_by_pg "$data"
		psqlc "$primary_port" "SELECT pg_drop_replication_slot('$name') FROM pg_replication_slots WHERE slot_name = '$name'" >/dev/null
		pgrun pg_basebackup -h "$HOST" -p "$primary_port" -U postgres -D "$data" -R -X stream \
			--checkpoint=fast --create-slot --slot="$name" >"$STACK/log/$name.basebackup.log" 2>&1 ||
			die "$name: pg_basebackup failed, see $STACK/log/$name.basebackup.log"
		# The later line wins over -R's: it names the standby.
		echo "primary_conninfo = 'host=$HOST port=$primary_port user=postgres application_name=$name'" >>"$data/postgresql.auto.conf"
	fi
	if ! pg_running "$name"; then
		log "$name: starting on $HOST:$port (standby of port $primary_port)"
		pgrun pg_ctl start -w -t 60 -D "$data" -l "$logf" \
			-o "-p $port -c listen_addresses=$HOST -c unix_socket_directories='' -c max_connections=200 $PG_MOVE_OPTS" >/dev/null ||
			{ tail -n 20 "$logf" >&2; die "$name: failed to start"; }
	fi
	for _ in $(seq 1 100); do
		[ "$(psqlc "$primary_port" "SELECT state FROM pg_stat_replication WHERE application_name = '$name'")" = streaming ] && return 0
		sleep 0.2
	done
	die "$name: not streaming from port $primary_port after 20 s; see $logf"
}

# sync_standbys sets what the primary on port $1 waits for at commit
# ($2: a synchronous_standby_names value, empty for nothing).
sync_standbys() {
	local port="$1" names="$2"
	[ "$(psqlc "$port" "show synchronous_standby_names")" = "$names" ] && return 0
	log "port $port: synchronous_standby_names = '$names'"
	psqlc "$port" "ALTER SYSTEM SET synchronous_standby_names = '$names'" >/dev/null
	psqlc "$port" "SELECT pg_reload_conf()" >/dev/null
}

# Shard moves (gateway shard move/rebalance) copy and catch up with
# logical replication: wal_level=logical and room for slots and workers.
PG_MOVE_OPTS="-c wal_level=logical -c max_replication_slots=32 -c max_wal_senders=32 -c max_worker_processes=48 -c max_logical_replication_workers=40 -c max_sync_workers_per_subscription=5 -c wal_retrieve_retry_interval=200ms"

ensure_db() {
	local port="$1" db="$2" have
	have="$(psqlc "$port" "select 1 from pg_database where datname = '$db'")"
	if [ "$have" != "1" ]; then
		log "creating database $db on port $port"
		psqlc "$port" "CREATE DATABASE \"$db\"" >/dev/null
	fi
}

redis_pid() {
	local pidfile="$STACK/redis/redis.pid" pid
	[ -f "$pidfile" ] || return 1
	pid="$(cat "$pidfile")"
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	# Guard against a recycled pid.
	if [ -r "/proc/$pid/comm" ]; then
		grep -q '^redis-server' "/proc/$pid/comm" || return 1
	fi
	echo "$pid"
}

redis_port() { # port of the running redis, from its command line
	local pid="$1"
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | sed -n 's/.*:\([0-9][0-9]*\).*/\1/p'
}

redis_up() {
	local dir="$STACK/redis" pid
	mkdir -p "$dir"
	if pid="$(redis_pid)"; then
		if redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
			return 0
		fi
		log "redis: running (pid $pid) but not answering on $REDIS_PORT, restarting"
		redis_stop
	fi
	log "redis: starting on $HOST:$REDIS_PORT"
	# Cache only: no RDB/AOF persistence.
	redis-server --port "$REDIS_PORT" --bind "$HOST" --daemonize yes \
		--pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
		--save "" --appendonly no
	for _ in $(seq 1 100); do
		redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	log "redis: not answering PING; last lines of $dir/redis.log:"
	tail -n 20 "$dir/redis.log" >&2 || true
	exit 1
}

redis_stop() {
	local pid port
	pid="$(redis_pid)" || return 0
	port="$(redis_port "$pid")"
	log "redis: stopping (pid $pid)"
	redis-cli -h "$HOST" -p "${port:-$REDIS_PORT}" shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

pg_stop() {
	local name="$1"
	[ -f "$STACK/$name/PG_VERSION" ] || return 0
	if pg_running "$name"; then
		log "$name: stopping"
		pgrun pg_ctl stop -D "$STACK/$name" -m fast -w >/dev/null
	fi
}

# need_stack sets BINDIR and STACK for commands that touch servers.
need_stack() {
	BINDIR="$(find_pg_bindir)" || die "PostgreSQL server binaries not found; run: $0 deps"
	STACK="$(stack_dir)"
}

cmd_up() {
	cmd_deps
	need_stack
	pg_up pg1 "$PG1_PORT"
	pg_up pg2 "$PG2_PORT"
	if [ "$STANDBYS" = 1 ]; then
		standby_up pg1s "$PG1_PORT" "$PG1S_PORT"
		standby_up pg2s "$PG2_PORT" "$PG2S_PORT"
		sync_standbys "$PG1_PORT" "ANY 1 (pg1s)"
		sync_standbys "$PG2_PORT" "ANY 1 (pg2s)"
	else
		sync_standbys "$PG1_PORT" ""
		sync_standbys "$PG2_PORT" ""
		pg_stop pg1s
		pg_stop pg2s
	fi
	redis_up
	# The key the demo systems' secrets are sealed with in the catalog
	# (gateway --secret-key-file), made once and kept with the data.
	if [ ! -s "$STACK/secret.key" ]; then
		(umask 077 && head -c 32 /dev/urandom | base64 >"$STACK/secret.key")
		log "made the secret key $STACK/secret.key"
	fi
	ensure_db "$PG1_PORT" medcard_catalog
	ensure_db "$PG1_PORT" medcard_shard1
	ensure_db "$PG2_PORT" medcard_shard2
	local standbys="no standbys"
	[ "$STANDBYS" = 1 ] && standbys="standbys pg1s $HOST:$PG1S_PORT, pg2s $HOST:$PG2S_PORT"
	log "up: pg1 $HOST:$PG1_PORT, pg2 $HOST:$PG2_PORT, $standbys, redis $HOST:$REDIS_PORT (eval \"\$($0 env)\" for the env)"
}

cmd_env() {
	local dsn="postgres://postgres@$HOST"
	echo "export MEDCARD_CATALOG_DSN=$dsn:$PG1_PORT/medcard_catalog?sslmode=disable"
	echo "export MEDCARD_SHARD_DSNS=shard1=$dsn:$PG1_PORT/medcard_shard1?sslmode=disable,shard2=$dsn:$PG2_PORT/medcard_shard2?sslmode=disable"
	echo "export MEDCARD_REDIS_ADDR=$HOST:$REDIS_PORT"
	echo "export MEDCARD_SECRET_KEY_FILE=$STACK_LINK/secret.key"
	if [ "$STANDBYS" = 1 ]; then
		echo "export MEDCARD_SYNC_STANDBYS=1"
	else
		echo "export MEDCARD_SYNC_STANDBYS=0"
	fi
}

cmd_stop() {
	[ -e "$STACK_LINK" ] || return 0
	need_stack
	pg_stop pg1s
	pg_stop pg2s
	pg_stop pg1
	pg_stop pg2
	redis_stop
}

cmd_clean() {
	if [ ! -e "$STACK_LINK" ] && [ ! -L "$STACK_LINK" ]; then
		return 0
	fi
	if [ -e "$STACK_LINK" ] && find_pg_bindir >/dev/null; then
		cmd_stop
	fi
	if [ -L "$STACK_LINK" ]; then
		local target
		target="$(readlink "$STACK_LINK")"
		case "$target" in
		/var/tmp/medcard-stack-*) rm -rf "$target" ;;
		*) log "not deleting unexpected symlink target $target" ;;
		esac
		rm -f "$STACK_LINK"
	else
		rm -rf "$STACK_LINK"
	fi
	log "removed .stack"
}

cmd_status() {
	local state pid
	if [ -e "$STACK_LINK" ] && BINDIR="$(find_pg_bindir)"; then
		STACK="$(stack_dir)"
		local name port
		for name in pg1 pg2 pg1s pg2s; do
			case "$name" in
			pg1) port="$PG1_PORT" ;;
			pg2) port="$PG2_PORT" ;;
			pg1s) port="$PG1S_PORT" ;;
			pg2s) port="$PG2S_PORT" ;;
			esac
			state=stopped
			if [ -f "$STACK/$name/PG_VERSION" ] && pg_running "$name"; then
				state=running
				port="$(sed -n 4p "$STACK/$name/postmaster.pid")"
			fi
			echo "$name: $state (port $port)"
		done
		state=stopped
		port="$REDIS_PORT"
		if pid="$(redis_pid)"; then
			state=running
			port="$(redis_port "$pid")"
		fi
		echo "redis: $state (port ${port:-$REDIS_PORT})"
	else
		echo "pg1: stopped (port $PG1_PORT)"
		echo "pg2: stopped (port $PG2_PORT)"
		echo "pg1s: stopped (port $PG1S_PORT)"
		echo "pg2s: stopped (port $PG2S_PORT)"
		echo "redis: stopped (port $REDIS_PORT)"
	fi
}

case "${1:-}" in
deps) cmd_deps ;;
up) cmd_up ;;
env) cmd_env ;;
stop) cmd_stop ;;
clean) cmd_clean ;;
status) cmd_status ;;
*)
	echo "usage: $0 deps|up|env|status|stop|clean" >&2
	exit 2
	;;
esac
