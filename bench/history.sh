#!/usr/bin/env bash
# The row history benchmark (issue 16): pgbench throughput of a plain UPDATE on
# a table that keeps history => N (10) against the same UPDATE on a table
# without occ (and on one with occ but no history), on the narrow and the 4 KB
# shape; a stale occ_update that merges three levels deep into a jsonb document
# against a fresh occ_update; then a long update run on a few hot rows and the
# storage bound: at most N + 1 history records and N row images per row.
# Rounds alternate the order of the variants, as run.sh's do.  Builds nothing:
# occ must be installed.  See bench/README.md.
#
#   bash bench/history.sh                       # as root: a throwaway cluster
#   DURATION=5 ROUNDS=3 bash bench/history.sh   # a quicker, noisier run
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${DURATION:-10}        # seconds per measurement
ROUNDS=${ROUNDS:-5}             # measurements per variant
WARMUP=${WARMUP:-3}             # seconds per variant before round 1 (0: none)
CLIENTS=${CLIENTS:-2}           # pgbench clients
HISTORY=${HISTORY:-10}          # occ_enable(..., history => HISTORY)
NARROW_ROWS=${NARROW_ROWS:-20000}
WIDE_ROWS=${WIDE_ROWS:-5000}
WIDE_BYTES=${WIDE_BYTES:-4096}
PREFILL=${PREFILL:-$((HISTORY + 1))}  # whole-table UPDATEs of the history tables before the run
BOUND_ROWS=${BOUND_ROWS:-100}         # the long run: this many hot rows ...
BOUND_SECONDS=${BOUND_SECONDS:-30}    # ... updated for this long
BENCH_DB=${BENCH_DB:-occ_bench_hist}
ONLY=${ONLY:-}                  # a regex: run only the variants whose id matches
PRELOAD=${PRELOAD:-1}
BENCH_PORT=${BENCH_PORT:-}

for v in DURATION ROUNDS WARMUP CLIENTS HISTORY NARROW_ROWS WIDE_ROWS WIDE_BYTES PREFILL BOUND_ROWS BOUND_SECONDS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || occ_die "$v must be a whole number, not '${!v}'"
done
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$CLIENTS" -ge 1 ] ||
	occ_die "DURATION, ROUNDS and CLIENTS must be at least 1"
[ "$HISTORY" -ge 1 ] && [ "$HISTORY" -le 10000 ] || occ_die "HISTORY must be between 1 and 10000"
[ "$NARROW_ROWS" -ge "$CLIENTS" ] && [ "$WIDE_ROWS" -ge "$CLIENTS" ] && [ "$BOUND_ROWS" -ge "$CLIENTS" ] ||
	occ_die "each table needs at least one row per client"

# The variants: id | label | schema (search_path) | pgbench script | table | rows | clients | more tables to vacuum
JOBS=(
	"narrow_plain|plain UPDATE (no occ)|hist_narrow|plain_update.sql|t_plain|$NARROW_ROWS|$CLIENTS"
	"narrow_trigger|plain UPDATE, occ, no history|hist_narrow|trigger_update.sql|t_trigger|$NARROW_ROWS|$CLIENTS"
	"narrow_history|plain UPDATE, occ, history $HISTORY|hist_narrow|history_update.sql|t_history|$NARROW_ROWS|$CLIENTS|hist_narrow.t_history_occ_history"
	"narrow_fresh|occ_update, fresh version|hist_narrow|merge_fresh.sql|t_merge|$NARROW_ROWS|$CLIENTS|hist_narrow.t_merge_occ_history"
	"narrow_stale|occ_update, stale: 3-level merge|hist_narrow|merge_stale.sql|t_merge|$NARROW_ROWS|$CLIENTS|hist_narrow.t_merge_occ_history"
	"wide_plain|plain UPDATE (no occ)|hist_wide|plain_update.sql|t_plain|$WIDE_ROWS|$CLIENTS"
	"wide_trigger|plain UPDATE, occ, no history|hist_wide|trigger_update.sql|t_trigger|$WIDE_ROWS|$CLIENTS"
	"wide_history|plain UPDATE, occ, history $HISTORY|hist_wide|history_update.sql|t_history|$WIDE_ROWS|$CLIENTS|hist_wide.t_history_occ_history"
)
bench_select_jobs

bench_start "$BENCH_DB"
export PGDATABASE=$BENCH_DB
RESULTS=$LOGDIR/results.tsv # round, id, tps, conflicts per success, server and client CPU us per transaction
: >"$RESULTS"

occ_log "creating the tables ($NARROW_ROWS narrow rows, $WIDE_ROWS rows with $WIDE_BYTES bytes of text; history => $HISTORY, $PREFILL versions recorded before the run)"
PGOPTIONS="-c search_path=$EXT_SCHEMA" "$PSQL" -X -q -v ON_ERROR_STOP=1 \
	-v narrow_rows="$NARROW_ROWS" -v wide_rows="$WIDE_ROWS" -v wide_bytes="$WIDE_BYTES" \
	-v history="$HISTORY" -v prefill="$PREFILL" \
	-f "$BENCH_DIR/history.sql" >"$LOGDIR/setup.log" 2>&1 ||
	{ tail -n 30 "$LOGDIR/setup.log"; occ_die "setup failed"; }

echo
echo "occ history benchmark: $ROUNDS rounds of ${DURATION}s per variant, $CLIENTS clients, history => $HISTORY"
bench_machine "$BENCH_DB"

bench_rounds
bench_summary

bench_ratio_header
bench_ratio "history $HISTORY / plain UPDATE, narrow" narrow_history narrow_plain 0.60
bench_ratio "history $HISTORY / plain UPDATE, 4 KB" wide_history wide_plain 0.50
bench_ratio "stale 3-level merge / fresh occ_update" narrow_stale narrow_fresh 0.50
bench_ratio "history $HISTORY / occ without history, narrow" narrow_history narrow_trigger ""
bench_ratio "history $HISTORY / occ without history, 4 KB" wide_history wide_trigger ""
bench_ratio "occ without history / plain UPDATE, narrow" narrow_trigger narrow_plain ""
bench_ratio "occ without history / plain UPDATE, 4 KB" wide_trigger wide_plain ""

# ---- the storage bound -------------------------------------------------------
# A long run on BOUND_ROWS hot rows of each history table (each updated many
# more than HISTORY times), then per row: the history records and row images kept.
echo
occ_log "long run: ${BOUND_SECONDS}s of updates on $BOUND_ROWS rows of each table with history"
for job in \
	"bound_narrow|plain UPDATE, history|hist_narrow|history_update.sql|t_history|$BOUND_ROWS|$CLIENTS" \
	"bound_wide|plain UPDATE, history|hist_wide|history_update.sql|t_history|$BOUND_ROWS|$CLIENTS" \
	"bound_merge|stale occ_update, history|hist_narrow|merge_stale.sql|t_merge|$BOUND_ROWS|$CLIENTS"; do
	bench_run_job "$job" "$BOUND_SECONDS" 0
done
echo
echo "storage bound (history => $HISTORY): per row at most $((HISTORY + 1)) records and $HISTORY row images"
printf '  %-24s %8s %12s %12s %12s %12s %10s  %s\n' table rows "versions" "max records" "max images" "records" "MB" result
BOUND_MISSES=0
for t in hist_narrow.t_history hist_wide.t_history hist_narrow.t_merge; do
	line=$("$PSQL" -X -At -F ' ' -c "
		SELECT count(*), min(t.version) || '-' || max(t.version),
		       max(h.n), max(h.imgs), sum(h.n),
		       round(pg_total_relation_size('${t}_occ_history') / 1048576.0, 1),
		       bool_and(h.n <= $HISTORY + 1 AND h.imgs <= $HISTORY
		                AND h.n = least(t.version, $HISTORY + 1))
		  FROM $t AS t
		  JOIN (SELECT id, count(*) AS n, count(occ_row) AS imgs
		          FROM ${t}_occ_history GROUP BY id) AS h USING (id)
		 WHERE t.id <= $BOUND_ROWS")
	read -r nrows versions maxrec maximg records mb ok <<<"$line"
	verdict=PASS
	if [ "$ok" != t ] || [ "$nrows" -ne "$BOUND_ROWS" ]; then verdict=MISS; BOUND_MISSES=$((BOUND_MISSES + 1)); fi
	printf '  %-24s %8s %12s %12s %12s %12s %10s  %s\n' "$t" "$nrows" "$versions" "$maxrec" "$maximg" "$records" "$mb" "$verdict"
done
echo "  (versions: the lowest and highest version of the hot rows; a row keeps min(version, $((HISTORY + 1))) records)"

echo
echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at the end"
echo "$((MISSES + BOUND_MISSES)) target(s) missed"
