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
bench_select_jobs

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

echo
echo "occ benchmark: $ROUNDS rounds of ${DURATION}s per variant; $CLIENTS clients (variants 1-5), $HOT_CLIENTS clients on $HOT_ROWS rows (variant 6)"
bench_machine "$BENCH_DB"

bench_rounds

# ---- summary ----------------------------------------------------------------

bench_summary

bench_ratio_header
bench_ratio "trigger: 2 / 1, narrow" narrow_trigger narrow_plain 0.90
bench_ratio "trigger: 2 / 1, 4 KB" wide_trigger wide_plain 0.85
bench_ratio "occ_update vs ORM update: 4 / 3, narrow" narrow_occ narrow_orm 0.90
bench_ratio "occ_update vs ORM update: 4 / 3, 4 KB" wide_occ wide_orm 0.90
bench_ratio "occ_update vs PL/pgSQL: 4 / 5, narrow" narrow_occ narrow_plpgsql 3.00
bench_ratio "occ_update vs PL/pgSQL: 4 / 5, 4 KB" wide_occ wide_plpgsql 3.00
for shape in narrow wide; do
	s=$shape
	[ "$shape" = narrow ] || s="4 KB"
	bench_ratio "returning the row: 3r / 3, $s" "${shape}_ormret" "${shape}_orm" ""
	bench_ratio "same answer: occ_update / 3r, $s" "${shape}_occ" "${shape}_ormret" ""
	bench_ratio "same answer, by hand: 3r / 5, $s" "${shape}_ormret" "${shape}_plpgsql" ""
	if [ "$EXTRA" = 1 ]; then
		bench_ratio "diag: 4s / 3r (trigger, jsonb_to_record), $s" "${shape}_occsql" "${shape}_ormret" ""
		bench_ratio "diag: 4 / 4s (the C function around it), $s" "${shape}_occ" "${shape}_occsql" ""
	fi
done
bench_ratio "contention: occ retry / FOR UPDATE, updates/s" hot_occ hot_lock ""
if [ "$(bench_median hot_occ 4)" != NA ]; then
	printf '  %-48s %7.2f\n' "contention: conflicts per successful update" "$(bench_median hot_occ 4)"
fi

echo
echo "load:       $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at the end"
echo "$MISSES target(s) missed"
