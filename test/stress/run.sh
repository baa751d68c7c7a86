#!/usr/bin/env bash
# Short lost-update stress run of occ (see README.md): builds stress.c with libpq into a
# temporary directory, creates a scratch database with occ, runs
#   1. 8 clients for 10 s on 4 hot rows (occ_update, occ_update_if_match and ORM-style
#      clients; version_input 'ignore'),
#   2. 8 clients for 4 s with version_input 'next',
#   3. the negative control (-L: ORM clients without their version condition), which
#      must FAIL, proving the checker sees lost updates,
# and drops the database.  Exits 0 only if 1 and 2 passed and 3 failed.
# Uses PGHOST/PGPORT/PGUSER from the environment; the role must be able to create
# databases and the occ extension.  STRESS_CLIENTS / STRESS_SECONDS override run 1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PG_CONFIG=${PG_CONFIG:-$(command -v pg_config || echo /usr/lib/postgresql/15/bin/pg_config)}
BINDIR=$("$PG_CONFIG" --bindir)
CLIENTS=${STRESS_CLIENTS:-8}
SECONDS_RUN=${STRESS_SECONDS:-10}
DB=occ_stress_$$
TMP=$(mktemp -d)

# shellcheck disable=SC2317  # called by the trap
cleanup() {
	"$BINDIR/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

cc -O2 -Wall -o "$TMP/stress" stress.c -I"$("$PG_CONFIG" --includedir)" \
	-L"$("$PG_CONFIG" --libdir)" -lpq -pthread

"$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
"$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "CREATE EXTENSION occ"

export PGDATABASE=$DB
status=0
"$TMP/stress" -c "$CLIENTS" -t "$SECONDS_RUN" -r 4 -e || status=1
"$TMP/stress" -c 8 -t 4 -r 4 -i next || status=1

if "$TMP/stress" -c 8 -t 2 -r 4 -L >"$TMP/control.log"; then
	cat "$TMP/control.log"
	echo "stress: FAILED: the negative control (-L, blind ORM writes) found no lost update"
	status=1
else
	echo "stress: ok: the negative control (-L) failed as it must: $(grep -c VIOLATION "$TMP/control.log") violations"
fi
exit $status
