#!/usr/bin/env bash
# The occ memory check (issue 5): one backend makes MEM_CALLS occ_update calls
# across MEM_SHAPES patch shapes and MEM_TABLES tables, in MEM_BATCHES
# transactions, while tables are altered, dropped and created again; after each
# batch it samples its own memory.  Passes if memory after warm-up (the first
# 20% of the calls) grows less than 5% by the end.  See bench/README.md.
#
#
# Then the invalidation check (issue 13): MEM_INVAL_ROUNDS rounds of conflicts
# and missing rows in one backend, each followed by an ALTER TABLE, GRANT,
# ANALYZE or REVOKE of the table from a second session; passes if memory after the first
# 10% of the rounds grows less than 5% and occ's statements stay as many.
#
#   bash bench/memory.sh               # as root: a throwaway cluster, 1,000,000 calls
#   QUICK=1 bash bench/memory.sh       # 100,000 calls
#   MEM_INVAL_ONLY=1 bash bench/memory.sh   # the invalidation check alone
#   MEM_HISTORY=10 bash bench/memory.sh     # tables with history => 10, stale merges too
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
MEM_HISTORY=${MEM_HISTORY:-0}   # > 0: every table keeps history => MEM_HISTORY ...
MEM_STALE_EVERY=${MEM_STALE_EVERY:-4}  # ... and one call in 4 is a stale occ_try_update
MEM_DB=${MEM_DB:-occ_bench_mem}
PRELOAD=${PRELOAD:-1}
BENCH_PORT=${BENCH_PORT:-}
for v in MEM_CALLS MEM_BATCHES MEM_TABLES MEM_SHAPES MEM_ROWS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || occ_die "$v must be a positive whole number, not '${!v}'"
done
[[ $MEM_HISTORY =~ ^[0-9]+$ ]] && [[ $MEM_STALE_EVERY =~ ^[0-9]+$ ]] ||
	occ_die "MEM_HISTORY and MEM_STALE_EVERY must be whole numbers"
[ "$MEM_HISTORY" -gt 0 ] || MEM_STALE_EVERY=0
[ "$MEM_SHAPES" -le 255 ] || occ_die "MEM_SHAPES can be at most 255 (subsets of 8 columns)"
[ "$MEM_TABLES" -le 99 ] || occ_die "MEM_TABLES can be at most 99"
[ "$MEM_BATCHES" -ge 5 ] || occ_die "MEM_BATCHES must be at least 5"
PER_BATCH=$(((MEM_CALLS + MEM_BATCHES - 1) / MEM_BATCHES))
MEM_INVAL_ROUNDS=${MEM_INVAL_ROUNDS:-1000}   # 0: no invalidation check
MEM_INVAL_ONLY=${MEM_INVAL_ONLY:-0}
[[ $MEM_INVAL_ROUNDS =~ ^[0-9]+$ ]] || occ_die "MEM_INVAL_ROUNDS must be a whole number, not '$MEM_INVAL_ROUNDS'"
[ "$MEM_INVAL_ROUNDS" -eq 0 ] || [ "$MEM_INVAL_ROUNDS" -ge 20 ] || occ_die "MEM_INVAL_ROUNDS must be 0 or at least 20"

# Sends SQL to a psql session started by inval_check (write fd $1, read fd $2)
# and prints what it answered, up to the marker that says it is done.
inval_send() {
	local line
	printf '%s\n\\echo __occ_done__\n' "$3" >&"$1"
	while IFS= read -r line <&"$2"; do
		[ "$line" = __occ_done__ ] && return 0
		printf '%s\n' "$line"
	done
	occ_die "a session of the invalidation check ended early"
}

# The invalidation check: session A makes the conflicts, session B invalidates
# the table's description after every round (ALTER TABLE, GRANT, ANALYZE,
# REVOKE in turn); A samples its memory every 1/20 of the rounds.
inval_check() {
	local a_in a_out b_in b_out round sample out=$LOGDIR/inval.out
	[ "$MEM_INVAL_ROUNDS" -gt 0 ] || return 0
	echo
	echo "occ invalidation check: $MEM_INVAL_ROUNDS rounds of a conflict, a missing row and a failed delete in one backend, each followed by an invalidation of the table from a second session"
	mkfifo "$LOGDIR/a.in" "$LOGDIR/a.out" "$LOGDIR/b.in" "$LOGDIR/b.out"
	"$PSQL" -X -q -At -F $'\t' -v ON_ERROR_STOP=1 <"$LOGDIR/a.in" >"$LOGDIR/a.out" 2>&1 &
	exec {a_in}>"$LOGDIR/a.in" {a_out}<"$LOGDIR/a.out"
	"$PSQL" -X -q -At -v ON_ERROR_STOP=1 <"$LOGDIR/b.in" >"$LOGDIR/b.out" 2>&1 &
	exec {b_in}>"$LOGDIR/b.in" {b_out}<"$LOGDIR/b.out"
	inval_send $a_in $a_out "SET client_min_messages = warning;" >/dev/null
	sample=$((MEM_INVAL_ROUNDS / 20))
	: >"$out"
	for ((round = 1; round <= MEM_INVAL_ROUNDS; round++)); do
		inval_send $a_in $a_out "SELECT bench_mem.inval_round();" >/dev/null
		case $((round % 4)) in
		0) inval_send $b_in $b_out "ALTER TABLE bench_mem.inval ALTER COLUMN v SET DEFAULT '$round';" ;;
		1) inval_send $b_in $b_out "GRANT SELECT ON bench_mem.inval TO PUBLIC;" ;;
		2) inval_send $b_in $b_out "ANALYZE bench_mem.inval;" ;;
		3) inval_send $b_in $b_out "REVOKE SELECT ON bench_mem.inval FROM PUBLIC;" ;;
		esac >/dev/null
		[ $((round % sample)) -eq 0 ] || continue
		inval_send $a_in $a_out "SELECT 'sample', $round, s.* FROM bench_mem.sample() AS s;" >>"$out"
	done
	exec {a_in}>&- {b_in}>&-
	wait
	exec {a_out}<&- {b_out}<&-

	printf '\n%8s %10s %9s %6s %9s\n' round "ctx MB" contexts "occ" "RssAnon"
	printf '%8s %10s %9s %6s %9s\n' "" "" "" stmts MB
	awk -F'\t' '$1 == "sample" { printf "%8d %10.2f %9d %6d %9.1f\n", $2, $3 / 1048576, $4, $6, $8 / 1024 }' "$out"
	awk -F'\t' -v total="$MEM_INVAL_ROUNDS" '
		$1 == "sample" { n++; r[n] = $2; ctx[n] = $3; st[n] = $6; if (!w && $2 >= 0.1 * total) w = n }
		END {
			peak = ctx[w]; for (i = w; i <= n; i++) if (ctx[i] > peak) peak = ctx[i]
			g_end = (ctx[n] - ctx[w]) / ctx[w] * 100; g_peak = (peak - ctx[w]) / ctx[w] * 100
			flat = g_end < 5 && g_peak < 5 && st[n] == st[w]
			printf "memory contexts: %.2f MB after %d rounds, %.2f MB after %d (%+.1f%%), peak %+.1f%%; occ statements %d -> %d\n",
				ctx[w] / 1048576, r[w], ctx[n] / 1048576, r[n], g_end, g_peak, st[w], st[n]
			print flat ? "memory with invalidations: flat (PASS)" : "memory with invalidations: grows (MISS)"
		}' "$out"
}

bench_start "$MEM_DB"
export PGDATABASE=$MEM_DB
export PGOPTIONS="-c search_path=$EXT_SCHEMA"

occ_log "creating $MEM_TABLES tables of $MEM_ROWS rows"
"$PSQL" -X -q -v ON_ERROR_STOP=1 -v tables="$MEM_TABLES" -v rows="$MEM_ROWS" \
	-v history="$MEM_HISTORY" -f "$BENCH_DIR/memory.sql" >"$LOGDIR/setup.log" 2>&1 ||
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
		echo "SELECT bench_mem.run_batch($done_calls, $n, $MEM_TABLES, $MEM_SHAPES, $MEM_ROWS, $MEM_STALE_EVERY);"
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
			echo "SELECT bench_mem.make_table($t, $MEM_ROWS, $MEM_HISTORY);"
			echo "SELECT 'ddl', $b, 'DROP and CREATE t$(printf '%02d' "$t")';"
		fi
		if [ "$b" -eq $((MEM_BATCHES / 2)) ]; then
			echo "ALTER TABLE bench_mem.t03 ADD COLUMN extra integer DEFAULT 0;"
			echo "SELECT 'ddl', $b, 'ALTER TABLE t03 ADD COLUMN';"
		fi
	done
} >"$script"

if [ "$MEM_INVAL_ONLY" = 1 ]; then
	bench_machine "$MEM_DB"
	inval_check
	exit 0
fi

echo
echo "occ memory check: $MEM_CALLS occ_update calls, $MEM_SHAPES patch shapes, $MEM_TABLES tables of $MEM_ROWS rows, $MEM_BATCHES transactions of $PER_BATCH calls"
[ "$MEM_HISTORY" -gt 0 ] && echo "history: every table keeps history => $MEM_HISTORY; one call in $MEM_STALE_EVERY (pseudo-random) is an occ_try_update with the version before the row's (a merge or a conflict)"
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

if [ "$MEM_HISTORY" -gt 0 ] && [ "$PRELOAD" = 1 ]; then
	# What the stale calls did (tables dropped on the way take their counters with them).
	"$PSQL" -X -At -c "SELECT 'occ_stats of the tables at the end: ' || sum(updates) || ' updates, '
		|| sum(merges) || ' merges, ' || sum(conflicts) || ' conflicts' FROM occ_stats"
fi

inval_check
