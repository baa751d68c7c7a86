#!/usr/bin/env bash
# Runs occ's pg_regress suite (test/sql) once against a throwaway cluster whose server
# runs under valgrind memcheck, then prints every valgrind error whose stack has an
# occ frame (see README.md).  Exits 1 if there is one, 2 on a setup failure; the
# regression result itself is only reported (timing under valgrind differs).
#
#   bash test/valgrind/run.sh              as root (runs the server as postgres from a
#                                          copy of the repository) or as postgres
#   VALGRIND_SUPP=/path/valgrind.supp      PostgreSQL's suppressions (src/tools/ of a
#                                          source tree of the same major version)
#   OCC_VALGRIND_PRELOAD=0                 do not put occ in shared_preload_libraries
#   OCC_VALGRIND_TESTS="update keys"       only these tests
#   OCC_VALGRIND_KEEP=1                    keep the work directory (logs)
#   OCC_VALGRIND_PORT=55491                the port (default: a free one)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BINDIR=$("$PG_CONFIG" --bindir)
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 2; }

# As root: copy the repository somewhere postgres can read, and run this as postgres.
if [ "$(id -u)" -eq 0 ]; then
	work=$(mktemp -d /tmp/occ-valgrind.XXXXXX)
	(cd "$ROOT" && { git -c safe.directory="$ROOT" ls-files -co --exclude-standard -z 2>/dev/null ||
		find . -path ./.git -prune -o -type f -print0; } | tar --null -T - -cf -) | tar -C "$work" -xf -
	chown -R postgres: "$work"
	rc=0
	(cd "$work" && runuser -u postgres -- env OCC_VALGRIND_WORK="$work" bash "$work/test/valgrind/run.sh") || rc=$?
	if [ -z "${OCC_VALGRIND_KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work"; fi
	exit $rc
fi

# The tree the tests run from (it must be writable: pg_regress writes results/ there),
# and the work directory for the cluster and the logs.
TREE=${OCC_VALGRIND_WORK:-$ROOT}
WORK=${OCC_VALGRIND_WORK:-$(mktemp -d /tmp/occ-valgrind.XXXXXX)}
DATA=$WORK/vg-data
LOGS=$WORK/vg-logs
SOCK=$WORK/vg-sock
mkdir -p "$LOGS" "$SOCK"
PORT=${OCC_VALGRIND_PORT:-$((20000 + RANDOM % 30000))}

"$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C >"$WORK/initdb.log" 2>&1 ||
	{ cat "$WORK/initdb.log"; exit 2; }
cat >>"$DATA/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$SOCK'
fsync = off
synchronous_commit = off
max_connections = 20
autovacuum = off
CONF
if [ "${OCC_VALGRIND_PRELOAD:-1}" = 1 ]; then
	echo "shared_preload_libraries = 'occ'" >>"$DATA/postgresql.conf"
fi

supp=()
if [ -n "${VALGRIND_SUPP:-}" ]; then supp=(--suppressions="$VALGRIND_SUPP"); fi
valgrind --tool=memcheck --leak-check=no --gen-suppressions=all --track-origins=yes \
	--trace-children=yes --read-var-info=yes --num-callers=40 "${supp[@]}" \
	--error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END \
	--log-file="$LOGS/%p.log" \
	"$BINDIR/postgres" -D "$DATA" >"$WORK/server.log" 2>&1 &
server=$!
stop_server() {
	if kill -0 "$server" 2>/dev/null; then
		"$BINDIR/pg_ctl" -D "$DATA" -m fast -t 600 stop >/dev/null 2>&1 || kill "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
}
trap stop_server EXIT
for _ in $(seq 300); do
	"$BINDIR/pg_isready" -q -h "$SOCK" -p "$PORT" && break
	kill -0 "$server" 2>/dev/null || { tail -n 30 "$WORK/server.log"; exit 2; }
	sleep 1
done
"$BINDIR/pg_isready" -q -h "$SOCK" -p "$PORT" || { echo "server did not start"; exit 2; }

tests=${OCC_VALGRIND_TESTS:-$(for f in "$TREE"/test/sql/*.sql; do basename "$f" .sql; done | tr '\n' ' ')}
if [ "${OCC_VALGRIND_PRELOAD:-1}" = 1 ]; then
	tests=$(echo "$tests" | tr ' ' '\n' | grep -v '^stats_nopreload$' | tr '\n' ' ')	# it needs no preload
fi
echo "valgrind: running pg_regress ($(echo "$tests" | wc -w) tests) against a server under valgrind"
regress=ok
PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres \
	make -C "$TREE" -s installcheck PG_CONFIG="$PG_CONFIG" REGRESS="$tests" ISOLATION= TAP_TESTS= \
	>"$WORK/regress.log" 2>&1 || regress=failed
grep -E '^(test |     )|tests (passed|failed)' "$WORK/regress.log" || true
stop_server
trap - EXIT

# Every error block; those with an occ frame in the error's own stack (a function
# named occ_*/Occ*, or occ.so), and those where occ shows up only in the stack that
# made the uninitialised bytes ("was created by"): PostgreSQL writes struct padding to
# WAL, and memcheck then names whatever last owned that stack or heap region.
total=$(cat "$LOGS"/*.log | grep -c 'VALGRINDERROR-BEGIN' || true)
awk -v errs="$WORK/occ-errors.txt" -v origins="$WORK/occ-origins.txt" '
	/VALGRINDERROR-BEGIN/ {blk = ""; inblk = 1; origin = 0; inerr = 0; inorig = 0}
	inblk {
		blk = blk FILENAME ": " $0 "\n"
		if ($0 ~ /was created by|Address 0x/) origin = 1
		if ($0 ~ /(: | )(occ_|Occ)[A-Za-z0-9_]* \(|occ\.so/) { if (origin) inorig = 1; else inerr = 1 }
	}
	/VALGRINDERROR-END/ {
		inblk = 0
		if (inerr) printf "%s\n", blk >> errs
		else if (inorig) printf "%s\n", blk >> origins
	}' "$LOGS"/*.log
touch "$WORK/occ-errors.txt" "$WORK/occ-origins.txt"
occ=$(grep -c 'VALGRINDERROR-BEGIN' "$WORK/occ-errors.txt" || true)
orig=$(grep -c 'VALGRINDERROR-BEGIN' "$WORK/occ-origins.txt" || true)
if [ "$orig" -gt 0 ]; then
	echo "valgrind: errors elsewhere whose uninitialised bytes were made in an occ frame (first lines; all in $WORK/occ-origins.txt):"
	grep -E 'VALGRINDERROR-BEGIN|Syscall param|Conditional jump|Use of uninit|Invalid (read|write)|was created by|(: | )(occ_|Occ)[A-Za-z0-9_]* \(' "$WORK/occ-origins.txt" |
		grep -v VALGRINDERROR-BEGIN | sed 's/^[^:]*: //' | head -n 40
fi
if [ "$occ" -gt 0 ]; then
	echo "valgrind: ERRORS WITH AN OCC FRAME IN THEIR STACK:"
	cat "$WORK/occ-errors.txt"
fi
echo "valgrind: $total errors in all, $occ with an occ frame in their stack, $orig more whose" \
	"uninitialised bytes came from an occ frame; regression suite $regress (logs: $LOGS)"
[ "$occ" -eq 0 ]
