#!/usr/bin/env bash
# The occ throughput benchmark (issue 5): pgbench runs of six variants on a
# narrow and a 4 KB table shape, in rounds that alternate the order of the
# variants, then the median throughput of each and the ratios against the
# targets.  Builds nothing: occ must be installed.  See bench/README.md.
#
#   bash bench/run.sh                       # as root: a throwaway cluster
#   DURATION=5 ROUNDS=3 bash bench/run.sh   # a quicker, noisier run
#   PGHOST=/run/postgresql PGPORT=5432 bash bench/run.sh   # an existing cluster
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10}        # seconds per measurement
ROUNDS=${ROUNDS:-5}             # measurements per variant
WARMUP=${WARMUP:-3}             # seconds per variant before round 1 (0: none)
CLIENTS=${CLIENTS:-2}           # pgbench clients for variants 1-5
HOT_CLIENTS=${HOT_CLIENTS:-16}  # clients for variant 6 ...
HOT_ROWS=${HOT_ROWS:-10}        # ... on this many rows
NARROW_ROWS=${NARROW_ROWS:-100000}
WIDE_ROWS=${WIDE_ROWS:-20000}
WIDE_BYTES=${WIDE_BYTES:-4096}  # the incompressible text column of the wide shape
BENCH_DB=${BENCH_DB:-occ_bench}
ONLY=${ONLY:-}                  # a regex: run only the variants whose id matches
PRELOAD=${PRELOAD:-1}           # throwaway cluster: shared_preload_libraries = 'occ'
BENCH_PORT=${BENCH_PORT:-}      # throwaway cluster: this port (default: a free one)
REUSE=${REUSE:-0}               # 1: keep the tables of an earlier run in BENCH_DB
EXTRA=${EXTRA:-0}               # 1: also the diagnostic variant 4s

for v in DURATION ROUNDS WARMUP CLIENTS HOT_CLIENTS HOT_ROWS NARROW_ROWS WIDE_ROWS WIDE_BYTES; do
	[[ ${!v} =~ ^[0-9]+$ ]] || occ_die "$v must be a whole number, not '${!v}'"
done
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$CLIENTS" -ge 1 ] && [ "$HOT_CLIENTS" -ge 1 ] ||
	occ_die "DURATION, ROUNDS, CLIENTS and HOT_CLIENTS must be at least 1"
[ "$NARROW_ROWS" -ge "$CLIENTS" ] && [ "$WIDE_ROWS" -ge "$CLIENTS" ] && [ "$HOT_ROWS" -ge 1 ] ||
	occ_die "each table needs at least one row per client"

# The variants: id | label | schema (search_path) | pgbench script | table | rows | clients
JOBS=(
	"narrow_plain|1 plain UPDATE (no occ)|bench_narrow|plain_update.sql|t_plain|$NARROW_ROWS|$CLIENTS"
	"narrow_trigger|2 plain UPDATE, occ trigger|bench_narrow|trigger_update.sql|t_trigger|$NARROW_ROWS|$CLIENTS"
	"narrow_orm|3 ORM conditional UPDATE|bench_narrow|orm_update.sql|t_orm|$NARROW_ROWS|$CLIENTS"
	"narrow_ormret|3r ORM UPDATE RETURNING the row|bench_narrow|orm_returning.sql|t_orm|$NARROW_ROWS|$CLIENTS"
	"narrow_occ|4 occ_update|bench_narrow|occ_update.sql|t_occ|$NARROW_ROWS|$CLIENTS"
	"narrow_plpgsql|5 PL/pgSQL occ_update|bench_narrow|plpgsql_update.sql|t_plpgsql|$NARROW_ROWS|$CLIENTS"
	"wide_plain|1 plain UPDATE (no occ)|bench_wide|plain_update.sql|t_plain|$WIDE_ROWS|$CLIENTS"
	"wide_trigger|2 plain UPDATE, occ trigger|bench_wide|trigger_update.sql|t_trigger|$WIDE_ROWS|$CLIENTS"
	"wide_orm|3 ORM conditional UPDATE|bench_wide|orm_update.sql|t_orm|$WIDE_ROWS|$CLIENTS"
	"wide_ormret|3r ORM UPDATE RETURNING the row|bench_wide|orm_returning.sql|t_orm|$WIDE_ROWS|$CLIENTS"
	"wide_occ|4 occ_update|bench_wide|occ_update.sql|t_occ|$WIDE_ROWS|$CLIENTS"
	"wide_plpgsql|5 PL/pgSQL occ_update|bench_wide|plpgsql_update.sql|t_plpgsql|$WIDE_ROWS|$CLIENTS"
	"hot_occ|6 occ_update + retry|bench|contention_occ.sql|hot_occ|$HOT_ROWS|$HOT_CLIENTS"
	"hot_lock|6 FOR UPDATE + UPDATE|bench|contention_lock.sql|hot_lock|$HOT_ROWS|$HOT_CLIENTS"
)
if [ "$EXTRA" = 1 ]; then
	for shape in narrow wide; do
		rows=$NARROW_ROWS
		[ "$shape" = narrow ] || rows=$WIDE_ROWS
		JOBS+=("${shape}_occsql|4s occ_update's SQL, by hand|bench_$shape|diag_occ_sql.sql|t_occ|$rows|$CLIENTS")
	done
fi
if [ -n "$ONLY" ]; then
	selected=()
	for j in "${JOBS[@]}"; do [[ ${j%%|*} =~ $ONLY ]] && selected+=("$j"); done
	[ ${#selected[@]} -gt 0 ] || occ_die "ONLY='$ONLY' matches no variant"
	JOBS=("${selected[@]}")
fi

bench_start "$BENCH_DB"
export PGDATABASE=$BENCH_DB
RESULTS=$LOGDIR/results.tsv # round, id, tps, conflicts per success, server and client CPU us per transaction
: >"$RESULTS"

if [ "$REUSE" = 1 ] && [ -n "$("$PSQL" -X -At -c "SELECT 1 FROM pg_namespace WHERE nspname = 'bench_wide'")" ]; then
	occ_log "reusing the tables in database $BENCH_DB"
else
	occ_log "creating the tables ($NARROW_ROWS narrow rows, $WIDE_ROWS rows with $WIDE_BYTES bytes of text, $HOT_ROWS hot rows)"
	PGOPTIONS="-c search_path=$EXT_SCHEMA" "$PSQL" -X -q -v ON_ERROR_STOP=1 \
		-v narrow_rows="$NARROW_ROWS" -v wide_rows="$WIDE_ROWS" -v wide_bytes="$WIDE_BYTES" \
		-v hot_rows="$HOT_ROWS" -f "$BENCH_DIR/setup.sql" >"$LOGDIR/setup.log" 2>&1 ||
		{ tail -n 30 "$LOGDIR/setup.log"; occ_die "setup failed"; }
fi

# CPU time (clock ticks) the processes $@ have used so far; processes that are gone count 0.
cpu_ticks() {
	local p sum=0 t
	for p in "$@"; do
		t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || t=0
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

# Runs job $1 for $2 seconds; with round $3 > 0, appends its result to RESULTS.
# Besides pgbench's tps, measures the CPU time the server backends spend per
# transaction, from 1 s after the start to 1 s before the end (from /proc, so
# only when the cluster runs on this machine): a second view of the cost that
# other load on the machine disturbs less than throughput.
run_job() {
	local id label schema script table rows clients round=$3 log threads out tps conflicts=0 successes cps
	local pid pids t0 t1 c0 c1 p0 p1 ntx cpu=NA ccpu=NA
	IFS='|' read -r id label schema script table rows clients <<<"$1"
	log=$LOGDIR/$id.$round.log
	threads=$((clients < $(nproc) ? clients : $(nproc)))
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -c "VACUUM (ANALYZE) $schema.$table" -c "CHECKPOINT" \
		-c "SELECT setval('bench.hot_conflicts', 1, false)" >/dev/null
	rm -f "$LOGDIR"/tx.*
	PGOPTIONS="-c search_path=$schema,$EXT_SCHEMA" "$PGBENCH" -n -M prepared \
		-f "$BENCH_DIR/pgbench/$script" -D rows="$rows" -D nclients="$clients" \
		-D hot_rows="$HOT_ROWS" -c "$clients" -j "$threads" -T "$2" \
		-l --log-prefix="$LOGDIR/tx" >"$log" 2>&1 &
	pid=$!
	if [ "$2" -ge 3 ]; then
		sleep 1
		pids=$("$PSQL" -X -At -c "SELECT pid FROM pg_stat_activity
			WHERE application_name = 'pgbench' AND datname = current_database()")
		t0=$(date +%s.%N)
		# shellcheck disable=SC2086
		c0=$(cpu_ticks $pids)
		p0=$(cpu_ticks "$pid")
		sleep $(($2 - 2))
		t1=$(date +%s.%N)
		# shellcheck disable=SC2086
		c1=$(cpu_ticks $pids)
		p1=$(cpu_ticks "$pid")
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

echo
echo "occ benchmark: $ROUNDS rounds of ${DURATION}s per variant; $CLIENTS clients (variants 1-5), $HOT_CLIENTS clients on $HOT_ROWS rows (variant 6)"
bench_machine "$BENCH_DB"

n=${#JOBS[@]}
if [ "$WARMUP" -gt 0 ]; then
	occ_log "warm-up (${WARMUP}s each, not counted)"
	for job in "${JOBS[@]}"; do run_job "$job" "$WARMUP" 0; done
fi
for ((r = 1; r <= ROUNDS; r++)); do
	# Each round starts at another variant, and every other round runs backwards,
	# so that no variant always runs first, last or right after the same one.
	occ_log "round $r/$ROUNDS (load $(cut -d' ' -f1 /proc/loadavg))"
	for ((i = 0; i < n; i++)); do
		if ((r % 2)); then k=$(((i + r - 1) % n)); else k=$(((n - 1 - i + r - 1) % n)); fi
		run_job "${JOBS[$k]}" "$DURATION" "$r"
	done
done

# ---- summary ----------------------------------------------------------------

# "median min max count" of column $2 (3: tps, 4: conflicts per success, 5: CPU
# per transaction) of job $1 over the rounds; NA where there is none.
stat() {
	awk -F'\t' -v id="$1" -v col="$2" '$2 == id && $col != "NA" { v[n++] = $col }
		END {
			if (n == 0) { print "NA NA NA 0"; exit }
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			m = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
			print m, v[0], v[n - 1], n
		}' "$RESULTS"
}

median() { stat "$1" "$2" | cut -d' ' -f1; }

# "min-max" of the per-round throughput ratios of job $1 to job $2.
round_ratios() {
	awk -F'\t' -v a="$1" -v b="$2" '$2 == a { x[$1] = $3 } $2 == b { y[$1] = $3 }
		END {
			for (r in x) if ((r in y) && y[r] > 0) { q = x[r] / y[r]; if (!k++ || q < lo) lo = q; if (k == 1 || q > hi) hi = q }
			if (k) printf "%.2f-%.2f\n", lo, hi; else print "NA"
		}' "$RESULTS"
}

echo
echo "throughput over $ROUNDS rounds (transactions per second; variant 6: successful updates per second)"
echo "and CPU time per transaction (medians, microseconds): the server's backends, and pgbench"
printf '  %-7s %-32s %9s %9s %9s %6s %9s %9s\n' shape variant median min max rounds "CPU us" "pgbench"
for job in "${JOBS[@]}"; do
	IFS='|' read -r id label _ <<<"$job"
	read -r med lo hi cnt < <(stat "$id" 3)
	cpu=$(median "$id" 5)
	ccpu=$(median "$id" 6)
	shape=${id%%_*}
	[ "$shape" != wide ] || shape="4KB"
	if [ "$med" = NA ]; then
		printf '  %-7s %-32s %9s\n' "$shape" "$label" "no result"
	else
		printf '  %-7s %-32s %9.0f %9.0f %9.0f %6s %9s %9s\n' "$shape" "$label" "$med" "$lo" "$hi" "$cnt" "$cpu" "$ccpu"
	fi
done

MISSES=0
# One line of the ratio table: label, numerator id, denominator id, target ("" for none).
# The CPU column is the same ratio computed from CPU time per transaction instead
# of throughput (CPU of the denominator / CPU of the numerator).
ratio() {
	local label=$1 a=$2 b=$3 target=$4 ma mb q verdict cq
	ma=$(median "$a" 3)
	mb=$(median "$b" 3)
	if [ "$ma" = NA ] || [ "$mb" = NA ]; then
		[ -n "$ONLY" ] || printf '  %-48s %7s\n' "$label" "no data"
		return 0
	fi
	q=$(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
	cq=$(awk -v a="$(median "$a" 5)" -v b="$(median "$b" 5)" \
		'BEGIN { if (a == "NA" || b == "NA" || a <= 0) print "NA"; else printf "%.2f", b / a }')
	if [ -z "$target" ]; then
		verdict=""
	elif awk -v q="$q" -v t="$target" 'BEGIN { exit !(q >= t) }'; then
		verdict=PASS
	else
		verdict=MISS
		MISSES=$((MISSES + 1))
	fi
	printf '  %-48s %7.2f %11s %6s %8s  %s\n' "$label" "$q" "$(round_ratios "$a" "$b")" "$cq" \
		"${target:+>= $target}" "$verdict"
}

echo
echo "ratios of median throughput (per round: the range of the same ratio within each round;"
echo "CPU: the ratio of the server's CPU time per transaction, the other way round)"
printf '  %-48s %7s %11s %6s %8s  %s\n' ratio median "per round" CPU target result
ratio "trigger: 2 / 1, narrow" narrow_trigger narrow_plain 0.90
ratio "trigger: 2 / 1, 4 KB" wide_trigger wide_plain 0.85
ratio "occ_update vs ORM update: 4 / 3, narrow" narrow_occ narrow_orm 0.90
ratio "occ_update vs ORM update: 4 / 3, 4 KB" wide_occ wide_orm 0.90
ratio "occ_update vs PL/pgSQL: 4 / 5, narrow" narrow_occ narrow_plpgsql 3.00
ratio "occ_update vs PL/pgSQL: 4 / 5, 4 KB" wide_occ wide_plpgsql 3.00
for shape in narrow wide; do
	s=$shape
	[ "$shape" = narrow ] || s="4 KB"
	ratio "returning the row: 3r / 3, $s" "${shape}_ormret" "${shape}_orm" ""
	ratio "same answer: occ_update / 3r, $s" "${shape}_occ" "${shape}_ormret" ""
	ratio "same answer, by hand: 3r / 5, $s" "${shape}_ormret" "${shape}_plpgsql" ""
	if [ "$EXTRA" = 1 ]; then
		ratio "diag: 4s / 3r (trigger, jsonb_to_record), $s" "${shape}_occsql" "${shape}_ormret" ""
		ratio "diag: 4 / 4s (the C function around it), $s" "${shape}_occ" "${shape}_occsql" ""
	fi
done
ratio "contention: occ retry / FOR UPDATE, updates/s" hot_occ hot_lock ""
if [ "$(median hot_occ 4)" != NA ]; then
	printf '  %-48s %7.2f\n' "contention: conflicts per successful update" "$(median hot_occ 4)"
fi

echo
echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at the end"
echo "$MISSES target(s) missed"
