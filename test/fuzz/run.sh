#!/usr/bin/env bash
# Fuzz test of occ's functions (see README.md): gen.py writes FUZZ_CASES cases from
# FUZZ_SEED, harness.sql runs them in a scratch database in batches of FUZZ_BATCH, and
# this script checks after every batch that the server did not crash (same
# pg_postmaster_start_time, no "terminated by signal" in the server log when it can
# read it). On a crash it re-runs the batch case by case to name the case.
# Exits 0 only if no case crashed the server or broke the harness's checks.
# Uses PGHOST/PGPORT/PGUSER from the environment (a superuser: the harness makes
# types, schemas and tables); FUZZ_SERVER_LOG names the server log if it is not
# $PGHOST/../server.log (scripts/test.sh's layout).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

SEED=${FUZZ_SEED:-20240601}
CASES=${FUZZ_CASES:-3000}
BATCH=${FUZZ_BATCH:-250}
PG_CONFIG=${PG_CONFIG:-$(command -v pg_config || echo /usr/lib/postgresql/15/bin/pg_config)}
BINDIR=$("$PG_CONFIG" --bindir)
PYTHON=${PYTHON:-$(command -v python3 || echo /usr/bin/python3)}
DB=occ_fuzz_$$
TMP=$(mktemp -d)

cleanup() {
	"$BINDIR/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

psql_db() { "$BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
start_time() { "$BINDIR/psql" -X -At -d postgres -c 'SELECT pg_postmaster_start_time()' 2>/dev/null || echo down; }
wait_up() { # after a crash the postmaster restarts the backends; wait for it
	local _
	for _ in $(seq 60); do
		"$BINDIR/pg_isready" -q -d postgres && return 0
		sleep 1
	done
	return 1
}

LOG=${FUZZ_SERVER_LOG:-}
if [ -z "$LOG" ] && [ -n "${PGHOST:-}" ] && [ -d "$PGHOST" ] && [ -r "$PGHOST/../server.log" ]; then
	LOG=$PGHOST/../server.log
fi
log_offset=0
if [ -n "$LOG" ] && [ -r "$LOG" ]; then log_offset=$(stat -c %s "$LOG"); fi

"$PYTHON" gen.py --seed "$SEED" --cases "$CASES" >"$TMP/cases.copy"
"$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
psql_db -c 'CREATE EXTENSION occ'
psql_db -f harness.sql >/dev/null
psql_db -c "\\copy fuzz_case FROM '$TMP/cases.copy'"

started=$(start_time)
problems=0
crashes=0
# Runs cases $1..$2 in one psql; prints problems; returns 1 on a crash.
run_range() {
	local out rc=0
	out=$(psql_db -c "SET statement_timeout = '10min'" -c "SET client_min_messages = warning" \
		-c "SELECT format('case %s: %s', case_id, problem) FROM fuzz_run($1, $2)" 2>&1) || rc=$?
	if [ "$(start_time)" != "$started" ] || ! "$BINDIR/pg_isready" -q -d postgres; then
		wait_up || { echo "fuzz: the server did not come back"; exit 1; }
		started=$(start_time)
		return 1
	fi
	if [ $rc -ne 0 ]; then
		echo "fuzz: cases $1..$2: the harness failed: $out"
		problems=$((problems + 1))
	elif [ -n "$out" ]; then
		echo "$out"
		problems=$((problems + $(printf '%s\n' "$out" | wc -l)))
	fi
	return 0
}

for ((lo = 1; lo <= CASES; lo += BATCH)); do
	hi=$((lo + BATCH - 1))
	if ! run_range "$lo" "$hi"; then
		echo "fuzz: the server crashed in cases $lo..$hi; looking for the case"
		for ((i = lo; i <= hi; i++)); do
			if ! run_range "$i" "$i"; then
				crashes=$((crashes + 1))
				echo "fuzz: CRASH: case $i: $(psql_db -c "SELECT stmt FROM fuzz_case WHERE id = $i" | cut -c1-2000)"
			fi
		done
	fi
done

if [ -n "$LOG" ] && [ -r "$LOG" ]; then
	if tail -c +"$((log_offset + 1))" "$LOG" | grep -E 'terminated by signal|was terminated|PANIC|TRAP:' >"$TMP/log.hits"; then
		echo "fuzz: the server log reports a crash:"
		cat "$TMP/log.hits"
		crashes=$((crashes + 1))
	fi
	log_note="server log checked"
else
	log_note="server log not readable (set FUZZ_SERVER_LOG)"
fi

echo "fuzz: outcomes (function: SQLSTATE count ...):"
psql_db -c "SELECT '  ' || fn || ': ' || string_agg(state || ' ' || n, ', ' ORDER BY n DESC, state)
              FROM (SELECT fn, state, count(*) AS n FROM fuzz_result GROUP BY fn, state) s
             GROUP BY fn ORDER BY fn"
ran=$(psql_db -c 'SELECT count(*) FROM fuzz_result')
status=ok
if [ "$problems" -ne 0 ] || [ "$crashes" -ne 0 ] || [ "$ran" -ne "$CASES" ]; then status=FAILED; fi
echo "fuzz: $status: seed=$SEED cases=$CASES ran=$ran problems=$problems crashes=$crashes ($log_note)"
[ "$status" = ok ]
