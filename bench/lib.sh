# shellcheck shell=bash
# Helpers sourced by bench/run.sh and bench/memory.sh (not run on its own).
# They check that occ is installed (the benchmark builds nothing), run a
# throwaway cluster tuned for benchmarking as the postgres OS user, or use the
# cluster PGHOST/PGPORT point at, and print what the numbers were measured on.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$BENCH_DIR/../scripts/lib.sh" # occ_log, occ_die, occ_as_pg, occ_cleanup, occ_free_port, PG_BIN
PSQL=$PG_BIN/psql
PGBENCH=$PG_BIN/pgbench
BENCH_OWN_CLUSTER=0
BENCH_DB_CREATED=0

# Stops with a clear message unless occ's files are installed in PG_BIN's PostgreSQL.
bench_require_occ() {
	local sharedir pkglibdir
	[ -x "$PGBENCH" ] || occ_die "pgbench not found in $PG_BIN (apt-get install postgresql-15)"
	sharedir=$("$PG_CONFIG" --sharedir)
	pkglibdir=$("$PG_CONFIG" --pkglibdir)
	[ -f "$sharedir/extension/occ.control" ] && [ -f "$pkglibdir/occ.so" ] ||
		occ_die "occ is not installed ($sharedir/extension/occ.control or $pkglibdir/occ.so missing).
The benchmark builds nothing: run 'make PG_CONFIG=$PG_CONFIG install' first."
}

# Starts a throwaway cluster (as postgres, in a /tmp dir it owns, removed on exit)
# with settings for benchmarking, unless PGHOST or PGPORT names one to use.
# BENCH_PORT picks its port, BENCH_PRELOAD=1 preloads occ.  Exports PGHOST, PGPORT, PGUSER.
bench_cluster() {
	if [ -n "${PGHOST:-}" ] || [ -n "${PGPORT:-}" ]; then
		occ_log "using the running cluster at ${PGHOST:-default socket} port ${PGPORT:-5432}"
		return 0
	fi
	[ "$(id -u)" -eq 0 ] || occ_die "run as root (the throwaway cluster runs as postgres via runuser), or set PGHOST/PGPORT"
	id postgres >/dev/null 2>&1 || occ_die "no postgres OS user (apt-get install postgresql-15)"
	OCC_WORK=$(mktemp -d /tmp/occ-bench.XXXXXX)
	trap occ_cleanup EXIT
	trap 'exit 130' INT TERM
	chown postgres: "$OCC_WORK"
	BENCH_OWN_CLUSTER=1
	local port=${BENCH_PORT:-}
	[ -n "$port" ] || port=$(occ_free_port) || occ_die "no free port"
	occ_log "starting a throwaway cluster in $OCC_WORK (port $port)"
	occ_as_pg mkdir "$OCC_WORK/sock"
	occ_as_pg "$PG_BIN/initdb" -D "$OCC_WORK/data" -U postgres --auth=trust -E UTF8 --locale=C \
		>"$OCC_WORK/initdb.log" 2>&1 || { cat "$OCC_WORK/initdb.log"; occ_die "initdb failed"; }
	# Durability off (every variant pays the same), everything in shared_buffers,
	# no checkpoint or autovacuum in the middle of a measurement (run.sh
	# vacuums and checkpoints before each one).
	cat >>"$OCC_WORK/data/postgresql.conf" <<-CONF
		port = $port
		listen_addresses = ''
		unix_socket_directories = '$OCC_WORK/sock'
		max_connections = 100
		shared_buffers = ${BENCH_SHARED_BUFFERS:-1GB}
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		wal_level = minimal
		max_wal_senders = 0
		max_wal_size = 16GB
		checkpoint_timeout = 1h
		autovacuum = off
		jit = off
		max_parallel_maintenance_workers = 0
		${BENCH_PRELOAD:+shared_preload_libraries = 'occ'}
	CONF
	occ_as_pg "$PG_BIN/pg_ctl" -D "$OCC_WORK/data" -l "$OCC_WORK/server.log" -w -s start ||
		{ tail -n 30 "$OCC_WORK/server.log"; occ_die "cluster did not start"; }
	export PGHOST=$OCC_WORK/sock PGPORT=$port PGUSER=postgres
}

# Creates database $1 with occ in it if needed (on another cluster, a database
# created here is dropped again on exit) and sets EXT_SCHEMA to occ's schema.
bench_database() {
	local db=$1 exists
	exists=$("$PSQL" -X -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'") ||
		occ_die "cannot connect to the cluster"
	if [ -z "$exists" ]; then
		"$PSQL" -X -q -d postgres -c "CREATE DATABASE \"$db\"" || occ_die "cannot create database $db"
		[ "$BENCH_OWN_CLUSTER" -eq 1 ] || BENCH_DB_CREATED=1
	fi
	"$PSQL" -X -q -d "$db" -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
		-c "CREATE EXTENSION IF NOT EXISTS occ" ||
		occ_die "CREATE EXTENSION occ failed in database $db (see above)"
	EXT_SCHEMA=$("$PSQL" -X -At -d "$db" -c "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'occ'")
	[ -n "$EXT_SCHEMA" ] || occ_die "occ is not installed in database $db"
}

# Drops the database bench_database created on somebody else's cluster.
bench_drop_database() {
	if [ "$BENCH_DB_CREATED" -eq 1 ]; then
		"$PSQL" -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$1\"" || true
	fi
}

# One paragraph on what the numbers were measured on.
bench_machine() {
	local db=$1 cpu mem
	cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
	mem=$(awk '/^MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)
	echo "machine:    ${cpu:-unknown CPU}, $(nproc) CPUs, $mem RAM, $(uname -sr)"
	echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
	"$PSQL" -X -At -d "$db" -F ' ' -c "
		SELECT 'server:     ' || split_part(version(), ' on ', 1) || ', occ ' || extversion
		  FROM pg_extension WHERE extname = 'occ'" -c "
		SELECT 'settings:   ' || string_agg(name || '=' || setting || coalesce(unit, ''), ' ' ORDER BY name)
		  FROM pg_settings
		 WHERE name IN ('shared_buffers', 'fsync', 'synchronous_commit', 'full_page_writes',
		                'shared_preload_libraries', 'autovacuum')"
	if command -v git >/dev/null && [ -e "$BENCH_DIR/../.git" ]; then
		echo "occ source: commit $(git -c safe.directory='*' -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null)" \
			"($(git -c safe.directory='*' -C "$BENCH_DIR/.." status --porcelain -- src sql 2>/dev/null | wc -l) changed files in src/ sql/; the installed occ.so is what runs)"
	fi
}
