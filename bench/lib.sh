# shellcheck shell=bash
# Helpers sourced by the scripts of bench/ (not run on its own).
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

# Keeps the variants of JOBS whose id matches $ONLY (a regular expression), if set.
bench_select_jobs() {
	[ -n "${ONLY:-}" ] || return 0
	local selected=() j
	for j in "${JOBS[@]}"; do [[ ${j%%|*} =~ $ONLY ]] && selected+=("$j"); done
	[ ${#selected[@]} -gt 0 ] || occ_die "ONLY='$ONLY' matches no variant"
	JOBS=("${selected[@]}")
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
		SELECT 'settings:   ' || string_agg(name || '=' || current_setting(name), ' ' ORDER BY name)
		  FROM pg_settings
		 WHERE name IN ('shared_buffers', 'fsync', 'synchronous_commit', 'full_page_writes',
		                'shared_preload_libraries', 'autovacuum')"
	if command -v git >/dev/null && [ -e "$BENCH_DIR/../.git" ]; then
		echo "occ source: commit $(git -c safe.directory='*' -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null)" \
			"($(git -c safe.directory='*' -C "$BENCH_DIR/.." status --porcelain -- src sql 2>/dev/null | wc -l) changed files in src/ sql/; the installed occ.so is what runs)"
	fi
}

# ---- measuring: used by run.sh and history.sh, which set JOBS, RESULTS, ROUNDS,
# DURATION, WARMUP and ONLY -------------------------------------------------

# CPU time (clock ticks) the processes $@ have used so far; processes that are gone count 0.
bench_cpu_ticks() {
	local p sum=0 t
	for p in "$@"; do
		t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || t=0
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

# Runs job $1 (id|label|schema|pgbench script|table|rows|clients[|more tables])
# for $2 seconds; with round $3 > 0, appends its result to RESULTS.  Before it,
# vacuums and analyzes the job's table (and the comma-separated more tables)
# and takes a checkpoint.
# Besides pgbench's tps, measures the CPU time the server backends spend per
# transaction, from 1 s after the start to 1 s before the end (from /proc, so
# only when the cluster runs on this machine): a second view of the cost that
# other load on the machine disturbs less than throughput.
bench_run_job() {
	local id label schema script table rows clients more round=$3 log threads out tps conflicts=0 successes cps
	local pid pids t0 t1 c0 c1 p0 p1 ntx cpu=NA ccpu=NA
	IFS='|' read -r id label schema script table rows clients more <<<"$1"
	log=$LOGDIR/$id.$round.log
	threads=$((clients < $(nproc) ? clients : $(nproc)))
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -c "VACUUM (ANALYZE) $schema.$table${more:+, $more}" -c "CHECKPOINT" >/dev/null
	[ "$id" != hot_occ ] || "$PSQL" -X -q -c "SELECT setval('bench.hot_conflicts', 1, false)" >/dev/null
	rm -f "$LOGDIR"/tx.*
	PGOPTIONS="-c search_path=$schema,$EXT_SCHEMA" "$PGBENCH" -n -M prepared \
		-f "$BENCH_DIR/pgbench/$script" -D rows="$rows" -D nclients="$clients" \
		-D hot_rows="${HOT_ROWS:-1}" -c "$clients" -j "$threads" -T "$2" \
		-l --log-prefix="$LOGDIR/tx" >"$log" 2>&1 &
	pid=$!
	if [ "$2" -ge 3 ]; then
		sleep 1
		pids=$("$PSQL" -X -At -c "SELECT pid FROM pg_stat_activity
			WHERE application_name = 'pgbench' AND datname = current_database()")
		t0=$(date +%s.%N)
		# shellcheck disable=SC2086
		c0=$(bench_cpu_ticks $pids)
		p0=$(bench_cpu_ticks "$pid")
		sleep $(($2 - 2))
		t1=$(date +%s.%N)
		# shellcheck disable=SC2086
		c1=$(bench_cpu_ticks $pids)
		p1=$(bench_cpu_ticks "$pid")
	fi
	if ! wait "$pid"; then
		echo "  $id: pgbench failed ($log):"
		grep -m 5 error "$log" | sed 's/^/    /'
		return 0
	fi
	if [ -n "${t0:-}" ] && [ "$c1" -gt "$c0" ]; then
		# pgbench -l: one line per transaction, its end time in fields 5 (s) and 6 (us)
		ntx=$(cat "$LOGDIR"/tx.* | awk -v a="$t0" -v b="$t1" '{ t = $5 + $6 / 1e6 } t >= a && t < b { n++ } END { print n + 0 }')
		if [ "$ntx" -gt 0 ]; then
			cpu=$(awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$ntx" \
				'BEGIN { printf "%.1f", c * 1e6 / hz / n }')
			ccpu=$(awk -v c=$((p1 - p0)) -v hz="$(getconf CLK_TCK)" -v n="$ntx" \
				'BEGIN { printf "%.1f", c * 1e6 / hz / n }')
		fi
	fi
	rm -f "$LOGDIR"/tx.*
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$log" | tail -n 1)
	successes=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$log")
	if [ "$id" = hot_occ ]; then
		conflicts=$("$PSQL" -X -At -c "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM bench.hot_conflicts")
	fi
	cps=$(awk -v c="$conflicts" -v s="${successes:-0}" 'BEGIN { printf "%.3f", (s > 0 ? c / s : 0) }')
	out=$(printf '%-15s %10.0f tps %10s us CPU/tx %8s us pgbench' "$id" "$tps" "$cpu" "$ccpu")
	[ "$id" != hot_occ ] || out+=" ($cps conflicts per success)"
	echo "  $out"
	[ "$round" -eq 0 ] || printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$id" "$tps" "$cps" "$cpu" "$ccpu" >>"$RESULTS"
}

# The measurement: a warm-up pass over JOBS (WARMUP seconds each, not counted),
# then ROUNDS rounds of DURATION seconds per job.
bench_rounds() {
	local n=${#JOBS[@]} r i k job
	if [ "$WARMUP" -gt 0 ]; then
		occ_log "warm-up (${WARMUP}s each, not counted)"
		for job in "${JOBS[@]}"; do bench_run_job "$job" "$WARMUP" 0; done
	fi
	for ((r = 1; r <= ROUNDS; r++)); do
		# Each round starts at another variant, and every other round runs backwards,
		# so that no variant always runs first, last or right after the same one.
		occ_log "round $r/$ROUNDS (load $(cut -d' ' -f1 /proc/loadavg))"
		for ((i = 0; i < n; i++)); do
			if ((r % 2)); then k=$(((i + r - 1) % n)); else k=$(((n - 1 - i + r - 1) % n)); fi
			bench_run_job "${JOBS[$k]}" "$DURATION" "$r"
		done
	done
}

# "median min max count" of column $2 (3: tps, 4: conflicts per success, 5: CPU
# per transaction) of job $1 over the rounds; NA where there is none.
bench_stat() {
	awk -F'\t' -v id="$1" -v col="$2" '$2 == id && $col != "NA" { v[n++] = $col }
		END {
			if (n == 0) { print "NA NA NA 0"; exit }
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			m = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
			print m, v[0], v[n - 1], n
		}' "$RESULTS"
}

bench_median() { bench_stat "$1" "$2" | cut -d' ' -f1; }

# "min-max" of the per-round throughput ratios of job $1 to job $2.
bench_round_ratios() {
	awk -F'\t' -v a="$1" -v b="$2" '$2 == a { x[$1] = $3 } $2 == b { y[$1] = $3 }
		END {
			for (r in x) if ((r in y) && y[r] > 0) { q = x[r] / y[r]; if (!k++ || q < lo) lo = q; if (k == 1 || q > hi) hi = q }
			if (k) printf "%.2f-%.2f\n", lo, hi; else print "NA"
		}' "$RESULTS"
}

# The table of medians per job: throughput (min, max, rounds) and CPU per transaction.
bench_summary() {
	local job id label med lo hi cnt cpu ccpu shape
	echo
	echo "throughput over $ROUNDS rounds (transactions per second; variant 6: successful updates per second)"
	echo "and CPU time per transaction (medians, microseconds): the server's backends, and pgbench"
	printf '  %-7s %-32s %9s %9s %9s %6s %9s %9s\n' shape variant median min max rounds "CPU us" "pgbench"
	for job in "${JOBS[@]}"; do
		IFS='|' read -r id label _ <<<"$job"
		read -r med lo hi cnt < <(bench_stat "$id" 3)
		cpu=$(bench_median "$id" 5)
		ccpu=$(bench_median "$id" 6)
		shape=${id%%_*}
		[ "$shape" != wide ] || shape="4KB"
		if [ "$med" = NA ]; then
			printf '  %-7s %-32s %9s\n' "$shape" "$label" "no result"
		else
			printf '  %-7s %-32s %9.0f %9.0f %9.0f %6s %9s %9s\n' "$shape" "$label" "$med" "$lo" "$hi" "$cnt" "$cpu" "$ccpu"
		fi
	done
}

# The heading of the table of ratios that bench_ratio's lines make.
bench_ratio_header() {
	echo
	echo "ratios of median throughput (per round: the range of the same ratio within each round;"
	echo "CPU: the ratio of the server's CPU time per transaction, the other way round)"
	printf '  %-48s %7s %11s %6s %8s  %s\n' ratio median "per round" CPU target result
}

MISSES=0
# One line of the ratio table: label, numerator id, denominator id, target ("" for none);
# counts the targets missed in MISSES.
# The CPU column is the same ratio computed from CPU time per transaction instead
# of throughput (CPU of the denominator / CPU of the numerator).
bench_ratio() {
	local label=$1 a=$2 b=$3 target=$4 ma mb q verdict cq
	ma=$(bench_median "$a" 3)
	mb=$(bench_median "$b" 3)
	if [ "$ma" = NA ] || [ "$mb" = NA ]; then
		[ -n "${ONLY:-}" ] || printf '  %-48s %7s\n' "$label" "no data"
		return 0
	fi
	q=$(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
	cq=$(awk -v a="$(bench_median "$a" 5)" -v b="$(bench_median "$b" 5)" \
		'BEGIN { if (a == "NA" || b == "NA" || a <= 0) print "NA"; else printf "%.2f", b / a }')
	if [ -z "$target" ]; then
		verdict=""
	elif awk -v q="$q" -v t="$target" 'BEGIN { exit !(q >= t) }'; then
		verdict=PASS
	else
		verdict=MISS
		MISSES=$((MISSES + 1))
	fi
	printf '  %-48s %7.2f %11s %6s %8s  %s\n' "$label" "$q" "$(bench_round_ratios "$a" "$b")" "$cq" \
		"${target:+>= $target}" "$verdict"
}

