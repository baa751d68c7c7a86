#!/usr/bin/env bash
# Counts the instructions one SELECT version + occ_update round costs, under
# valgrind's callgrind, in a single-user backend: repeatable for the same build,
# whatever else the machine is doing (unlike tps), so two builds compare exactly.
#   PG_CONFIG=<pg_config of a PostgreSQL with occ installed> bash bench/instructions.sh
# Runs as root (the backend runs as postgres in a /tmp dir removed on exit).
# Prints instructions per round: (run of N rounds - run of 0 rounds) / N.
set -euo pipefail
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
ROUNDS=${ROUNDS:-2000}
B=$("$PG_CONFIG" --bindir)
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 2; }
W=$(mktemp -d /tmp/occ-instructions.XXXXXX)
trap 'rm -rf "$W"' EXIT
chown postgres: "$W"
cd "$W"
runuser -u postgres -- "$B/initdb" -D "$W/d" -A trust --locale=C -E UTF8 >/dev/null
# single-user mode reads one statement per line
runuser -u postgres -- "$B/postgres" --single -D "$W/d" postgres >/dev/null 2>&1 <<'SQL'
CREATE EXTENSION occ;
CREATE TABLE t (id bigint PRIMARY KEY, qty int, title text, tags text[], doc jsonb);
SELECT occ_enable('t');
INSERT INTO t SELECT i, i, 'title ' || i, ARRAY['a','b'], jsonb_build_object('k', i) FROM generate_series(1, 1000) i;
CREATE FUNCTION work(n int) RETURNS void LANGUAGE plpgsql AS $$ DECLARE v bigint; k int; BEGIN FOR i IN 1..n LOOP k := 1 + (i % 1000); SELECT version INTO v FROM t WHERE id = k; PERFORM occ_update('t', k, v, jsonb_build_object('qty', i, 'title', 'x' || i)); END LOOP; END $$;
SQL
count() { # instructions of a backend running work($1)
	echo "SELECT work($1);" | runuser -u postgres -- valgrind --tool=callgrind \
		--callgrind-out-file="$W/cg.$1" "$B/postgres" --single -D "$W/d" postgres >/dev/null 2>"$W/vg.$1"
	awk '/^(summary|totals):/ { print $2; exit }' "$W/cg.$1"
}
base=$(count 0)
total=$(count "$ROUNDS")
echo "$("$B/postgres" --version | head -1): $(( (total - base) / ROUNDS )) instructions per SELECT version + occ_update round ($ROUNDS rounds)"
