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
	[ -x "$PGBENCH" ] || occ_die "pgbench not found in $PG_BIN (set PG_CONFIG to the pg_config of a PostgreSQL with pgbench)"
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
	# Everything in shared_buffers, no checkpoint or autovacuum in the middle of
	# a measurement (run.sh vacuums and checkpoints before each one); durability
	# is off in every throwaway cluster (every variant pays the same).
	occ_start_cluster "${BENCH_PORT:-}" "max_connections = 100
shared_buffers = ${BENCH_SHARED_BUFFERS:-1GB}
wal_level = minimal
max_wal_senders = 0
max_wal_size = 16GB
checkpoint_timeout = 1h
autovacuum = off
jit = off
max_parallel_maintenance_workers = 0
${BENCH_PRELOAD:+shared_preload_libraries = 'occ'}"
}

# What both benchmarks do before they measure: check that occ is installed,
# start the throwaway cluster (occ preloaded unless PRELOAD=0) or use the one
# PGHOST/PGPORT name, make database $1 with occ in it, and set LOGDIR: the logs
# go with the throwaway cluster's files, or else to a directory removed on exit
# together with the database if this run created it.
bench_start() {
	BENCH_START_DB=$1
	bench_require_occ
	[ "${PRELOAD:-1}" != 1 ] || BENCH_PRELOAD=1
	bench_cluster
	if [ -n "${OCC_WORK:-}" ]; then
		LOGDIR=$OCC_WORK/logs
		mkdir "$LOGDIR"
	else
		LOGDIR=$(mktemp -d /tmp/occ-bench-logs.XXXXXX)
		trap 'rm -rf "$LOGDIR"; bench_drop_database "$BENCH_START_DB"' EXIT
	fi
	bench_database "$BENCH_START_DB"
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
