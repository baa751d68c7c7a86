#!/usr/bin/env bash
# Field granularity on large documents (issue 18, item 2): the trigger's cost
# per member of a jsonb column must stay flat as documents grow, because it
# compares the old and new document and merges the per-member records in one
# pass over each.  For each size it times UPDATEs that change every member of
# a document of that many members (each one adds a record per member), and
# UPDATEs that empty it (each one drops them).  Prints microseconds per member
# and passes if the cost per member at the largest size is within MEMBERS_SLACK
# times the cost at the smallest (a quadratic comparison grows 100x over
# 1k..100k members).
#
#   bash bench/members.sh                      # as root: a throwaway cluster
#   MEMBERS_SIZES="1000 10000 100000" MEMBERS_REPS=3 bash bench/members.sh
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MEMBERS_SIZES=${MEMBERS_SIZES:-1000 10000 100000}
MEMBERS_REPS=${MEMBERS_REPS:-3}
MEMBERS_SLACK=${MEMBERS_SLACK:-3}
MEMBERS_DB=${MEMBERS_DB:-occ_bench_members}
for n in $MEMBERS_SIZES $MEMBERS_REPS; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || occ_die "sizes and MEMBERS_REPS must be positive whole numbers, not '$n'"
done

bench_start "$MEMBERS_DB"
export PGDATABASE=$MEMBERS_DB
export PGOPTIONS="-c search_path=$EXT_SCHEMA,public"

"$PSQL" -X -q -v ON_ERROR_STOP=1 >"$LOGDIR/setup.log" 2>&1 <<'SQL' || { tail -n 30 "$LOGDIR/setup.log"; occ_die "setup failed"; }
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench_members CASCADE;
CREATE SCHEMA bench_members;
-- A document of n members whose values are i + k.
CREATE FUNCTION bench_members.doc(n int, k int) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_object_agg('member_' || i, i + k) FROM generate_series(1, n) i
$$;
-- Microseconds per member of one UPDATE of a field-granularity row whose
-- document of n members, each with a record in field_versions already, has
-- every member changed (or is emptied), median of reps.
CREATE FUNCTION bench_members.time_update(n int, reps int, emptying bool)
RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	a jsonb;
	b jsonb;
	t0 timestamptz;
	times float8[] := '{}';
BEGIN
	DROP TABLE IF EXISTS bench_members.docs;
	CREATE TABLE bench_members.docs (id int PRIMARY KEY, doc jsonb);
	PERFORM occ_enable('bench_members.docs', granularity => 'field');
	INSERT INTO bench_members.docs VALUES (1, bench_members.doc(n, 0));
	FOR r IN 1 .. reps LOOP
		a := bench_members.doc(n, 2 * r - 1);
		b := CASE WHEN emptying THEN '{}'::jsonb ELSE bench_members.doc(n, 2 * r) END;
		-- not timed: every member changes, so each has a record
		UPDATE bench_members.docs SET doc = a WHERE id = 1;
		t0 := clock_timestamp();
		UPDATE bench_members.docs SET doc = b WHERE id = 1;
		times := times || extract(epoch FROM clock_timestamp() - t0) * 1e6 / n;
	END LOOP;
	RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END $$;
SQL

echo
echo "occ field granularity, cost per member of a jsonb document: median of $MEMBERS_REPS UPDATEs per size"
bench_machine "$MEMBERS_DB"
echo
printf '%10s %22s %22s\n' members "change all (us/member)" "empty it (us/member)"
out=$LOGDIR/members.out
: >"$out"
for n in $MEMBERS_SIZES; do
	change=$("$PSQL" -X -At -v ON_ERROR_STOP=1 -c "SELECT round(bench_members.time_update($n, $MEMBERS_REPS, false)::numeric, 3)")
	empty=$("$PSQL" -X -At -v ON_ERROR_STOP=1 -c "SELECT round(bench_members.time_update($n, $MEMBERS_REPS, true)::numeric, 3)")
	printf '%10d %22s %22s\n' "$n" "$change" "$empty"
	echo "$n $change $empty" >>"$out"
done
"$PSQL" -X -q -c "DROP SCHEMA bench_members CASCADE" >/dev/null 2>&1 || true
echo
awk -v slack="$MEMBERS_SLACK" '
	NR == 1 { c0 = $2; e0 = $3; n0 = $1 }
	{ c = $2; e = $3; n = $1 }
	END {
		rc = c / c0; re = e / (e0 > 0 ? e0 : 1e-9)
		printf "cost per member at %d vs %d members: %.2fx (change all), %.2fx (empty it)\n", n, n0, rc, re
		ok = rc <= slack && re <= slack
		print ok ? "cost per member: flat (PASS)" : "cost per member: grows (MISS)"
		exit ok ? 0 : 1
	}' "$out"
