#!/usr/bin/env bash
# The occ memory check (issue 5): one backend makes MEM_CALLS occ_update calls
# across MEM_SHAPES patch shapes and MEM_TABLES tables, in MEM_BATCHES
# transactions, while tables are altered, dropped and created again; after each
# batch it samples its own memory.  Passes if memory after warm-up (the first
# 20% of the calls) grows less than 5% by the end.  See bench/README.md.
#
#   bash bench/memory.sh               # as root: a throwaway cluster, 1,000,000 calls
#   QUICK=1 bash bench/memory.sh       # 100,000 calls
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then MEM_CALLS=${MEM_CALLS:-100000}; fi
MEM_CALLS=${MEM_CALLS:-1000000}
MEM_BATCHES=${MEM_BATCHES:-50}  # transactions (and samples)
MEM_TABLES=${MEM_TABLES:-20}
MEM_SHAPES=${MEM_SHAPES:-50}
MEM_ROWS=${MEM_ROWS:-100}       # rows per table
MEM_DDL=${MEM_DDL:-1}           # 0: no ALTER / DROP / CREATE between batches
MEM_DB=${MEM_DB:-occ_bench_mem}
PRELOAD=${PRELOAD:-1}
BENCH_PORT=${BENCH_PORT:-}
for v in MEM_CALLS MEM_BATCHES MEM_TABLES MEM_SHAPES MEM_ROWS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || occ_die "$v must be a positive whole number, not '${!v}'"
done
[ "$MEM_SHAPES" -le 255 ] || occ_die "MEM_SHAPES can be at most 255 (subsets of 8 columns)"
[ "$MEM_TABLES" -le 99 ] || occ_die "MEM_TABLES can be at most 99"
[ "$MEM_BATCHES" -ge 5 ] || occ_die "MEM_BATCHES must be at least 5"
PER_BATCH=$(((MEM_CALLS + MEM_BATCHES - 1) / MEM_BATCHES))

bench_start "$MEM_DB"
export PGDATABASE=$MEM_DB
export PGOPTIONS="-c search_path=$EXT_SCHEMA"

occ_log "creating $MEM_TABLES tables of $MEM_ROWS rows"
"$PSQL" -X -q -v ON_ERROR_STOP=1 -v tables="$MEM_TABLES" -v rows="$MEM_ROWS" \
	-f "$BENCH_DIR/memory.sql" >"$LOGDIR/setup.log" 2>&1 ||
	{ tail -n 30 "$LOGDIR/setup.log"; occ_die "setup failed"; }

# The session's script: per batch, the calls and a sample inside the transaction,
# the commit, a sample after it, then the DDL of that batch (so the next batch
# meets invalidated, dropped and new tables).
script=$LOGDIR/session.sql
{
	echo '\set ON_ERROR_STOP on'
	echo 'SET client_min_messages = warning;'
	echo "SELECT 'pid', pg_backend_pid();"
	done_calls=0
	for ((b = 1; b <= MEM_BATCHES; b++)); do
		n=$((MEM_CALLS - done_calls < PER_BATCH ? MEM_CALLS - done_calls : PER_BATCH))
		echo 'BEGIN;'
		echo "SELECT bench_mem.run_batch($done_calls, $n, $MEM_TABLES, $MEM_SHAPES, $MEM_ROWS);"
		echo "SELECT 'in_tx', $b, s.* FROM bench_mem.sample() AS s;"
		echo 'COMMIT;'
		done_calls=$((done_calls + n))
		echo "SELECT 'sample', $b, $done_calls, s.* FROM bench_mem.sample() AS s;"
		[ "$MEM_DDL" = 1 ] && [ "$b" -lt "$MEM_BATCHES" ] || continue
		t=$((b % MEM_TABLES + 1))
		echo "ALTER TABLE bench_mem.$(printf 't%02d' "$t") ALTER COLUMN c1 SET DEFAULT $b;"
		echo "SELECT 'ddl', $b, 'ALTER TABLE t$(printf '%02d' "$t") SET DEFAULT';"
		if [ $((b % 5)) -eq 0 ]; then
			t=$(((b / 5) % MEM_TABLES + 1))
			echo "DROP TABLE bench_mem.$(printf 't%02d' "$t");"
			echo "SELECT bench_mem.make_table($t, $MEM_ROWS);"
			echo "SELECT 'ddl', $b, 'DROP and CREATE t$(printf '%02d' "$t")';"
		fi
		if [ "$b" -eq $((MEM_BATCHES / 2)) ]; then
			echo "ALTER TABLE bench_mem.t03 ADD COLUMN extra integer DEFAULT 0;"
			echo "SELECT 'ddl', $b, 'ALTER TABLE t03 ADD COLUMN';"
		fi
	done
} >"$script"

echo
echo "occ memory check: $MEM_CALLS occ_update calls, $MEM_SHAPES patch shapes, $MEM_TABLES tables of $MEM_ROWS rows, $MEM_BATCHES transactions of $PER_BATCH calls"
[ "$MEM_DDL" = 1 ] && echo "between transactions: ALTER TABLE … SET DEFAULT on one table each time, DROP + CREATE of one table every 5th, ADD COLUMN once halfway"
bench_machine "$MEM_DB"
occ_log "running the session (one backend)"
out=$LOGDIR/session.out
start=$SECONDS
"$PSQL" -X -q -At -F $'\t' -f "$script" >"$out" 2>&1 || { tail -n 20 "$out"; occ_die "the session failed"; }
elapsed=$((SECONDS - start))

echo
printf '%6s %9s %10s %9s %6s %6s %10s %9s %9s  %s\n' batch calls "ctx MB" contexts "occ" "occ" "in-tx MB" "RssAnon" "VmHWM" "DDL after the batch"
printf '%6s %9s %10s %9s %6s %6s %10s %9s %9s\n' "" "" "(commit)" "" tables stmts "(peak)" MB MB
awk -F'\t' '
	$1 == "in_tx"  { intx[$2] = $3 }
	$1 == "ddl"    { ddl[$2] = ddl[$2] (ddl[$2] == "" ? "" : "; ") $3 }
	$1 == "sample" { n++; b[n] = $2; calls[n] = $3; ctx[n] = $4; cnt[n] = $5; tbl[n] = $6; st[n] = $7; anon[n] = $9; hwm[n] = $10 }
	END {
		for (i = 1; i <= n; i++)
			printf "%6d %9d %10.1f %9d %6d %6d %10.1f %9.1f %9.1f  %s\n", b[i], calls[i], ctx[i] / 1048576, cnt[i],
				tbl[i], st[i], intx[b[i]] / 1048576, anon[i] / 1024, hwm[i] / 1024, ddl[b[i]]
	}' "$out"

pids=$(awk -F'\t' '$1 == "pid" { print $2 }' "$out")
echo
echo "one backend (pid $pids) made $MEM_CALLS calls in ${elapsed}s ($((MEM_CALLS / (elapsed > 0 ? elapsed : 1))) calls/s)"
# Warm-up ends at the first sample with at least 20% of the calls done.
awk -F'\t' -v total="$MEM_CALLS" -v per="$PER_BATCH" '
	$1 == "in_tx"  { intx[$2] = $3 }
	$1 == "sample" { n++; b[n] = $2; calls[n] = $3; ctx[n] = $4; anon[n] = $9
		if (!w && $3 >= 0.2 * total) w = n }
	function growth(v, m,   i) { m = v[w]; for (i = w; i <= n; i++) if (v[i] > m) m = v[i]; return m }
	END {
		ok = 1
		split("ctx anon", names, " ")
		for (k = 1; k <= 2; k++) {
			for (i = 1; i <= n; i++) v[i] = (k == 1 ? ctx[i] : anon[i] * 1024)
			peak = growth(v)
			g_end = (v[n] - v[w]) / v[w] * 100; g_peak = (peak - v[w]) / v[w] * 100
			flat = g_end < 5 && g_peak < 5
			if (!flat) ok = 0
			printf "%-32s %8.1f MB after %d calls, %8.1f MB at the end (%+.1f%%), peak %+.1f%%: %s\n",
				(k == 1 ? "memory contexts after commit:" : "anonymous resident memory:"),
				v[w] / 1048576, calls[w], v[n] / 1048576, g_end, g_peak, flat ? "flat" : "GROWS"
		}
		# What a transaction holds until its commit, per call (median over the batches after warm-up).
		m = 0
		for (i = w + 1; i <= n; i++) d[m++] = (intx[b[i]] - ctx[i - 1]) / per
		for (i = 0; i < m; i++) for (j = i + 1; j < m; j++) if (d[j] < d[i]) { t = d[i]; d[i] = d[j]; d[j] = t }
		if (m > 0) {
			med = m % 2 ? d[(m - 1) / 2] : (d[m / 2 - 1] + d[m / 2]) / 2
			printf "%-32s %8.2f KB per call until commit (%.1f MB for a transaction of %d calls)%s\n",
				"held within a transaction:", med / 1024, med * per / 1048576, per,
				(med > 1024 ? ": GROWS with the calls of a transaction" : "")
		}
		print ok ? "memory after warm-up: flat (PASS)" : "memory after warm-up: grows (MISS)"
	}' "$out"
