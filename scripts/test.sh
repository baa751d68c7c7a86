#!/usr/bin/env bash
# Runs every occ test: installs what is missing, builds and installs occ from a copy of
# the repository, starts a throwaway cluster, runs each suite below that is present and
# ends with "N passed, N failed". Exits 0 only if all passed and at least one test ran.
# Run as root: bash scripts/test.sh   (OCC_KEEP=1 keeps the work dir for inspection)
#
#   bash scripts/test.sh                  every suite on Debian's PostgreSQL 15
#   bash scripts/test.sh --all-versions   the same on 15, then the server suites on 17 and 18
#                                         (built once per machine from ../shared/vendor)
#   OCC_PG_VERSIONS="17"                  the versions to run, the first one runs every suite
#   OCC_SUITES="regress isolation"        only these suites;  OCC_REGRESS="update ddl" only
#                                         these regress files (likewise OCC_ISOLATION, OCC_TAP)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OCC_ALL_VERSIONS="15 17 18"
case ${1:-} in
--all-versions) OCC_PG_VERSIONS=$OCC_ALL_VERSIONS ;;
"") ;;
*) occ_die "unknown argument '$1' (usage: bash scripts/test.sh [--all-versions])" ;;
esac
read -r -a VERSIONS <<<"${OCC_PG_VERSIONS:-15}"

# The suites, in order: "name|path or glob that must exist in the repo|result format|
# versions": "all" runs on every version under test, "first" on the first one only (the
# suites that test clients and load rather than the server build).
# To add one: a line here and a suite_<name> function below (run it as postgres in the
# copy with occ_as_pg; PGHOST/PGPORT/PGUSER point at the throwaway cluster).
SUITES=(
	"regress|test/sql/*.sql|pg_regress|all"
	"isolation|test/specs/*.spec|pg_regress|all"
	"tap|test/t/*.pl|prove|all"
	"citus|test/t/020_citus.pl|prove|first"
	"python|clients/python|unittest|first"
	"node|clients/node|node_tap|first"
	"ruby|clients/ruby|minitest|first"
	"java|clients/java|node_tap|first"
	"go|clients/go|go_test|first"
	"stress|test/stress/run.sh|exit_status|first"
	"fuzz|test/fuzz/run.sh|exit_status|first"
	"docs|test/docs/check_links.py|exit_status|first"
	"package|debian/control.in|exit_status|first" # last: installs into the system's 15 and removes again
)

make_installcheck() { occ_as_pg env "${TAP_ENV[@]}" make -C "$OCC_TREE" -s installcheck PG_CONFIG="$PG_CONFIG" "$@"; }
TAP_ENV=() # environment for the TAP suite (OCC_UPGRADE_FROM: an older PostgreSQL with occ)

# A test without expected output gets an empty one in the copy: it fails, but
# pg_regress still runs the others instead of stopping at the missing file.
stub_missing_expected() { # $1: glob of the tests
	local t name
	for t in "$OCC_TREE"/$1; do
		name=$(basename "${t%.*}")
		[ -e "$OCC_TREE/expected/$name.out" ] || [ -e "$OCC_TREE/test/expected/$name.out" ] && continue
		echo "note: expected/$name.out is missing, so $name will fail"
		occ_as_pg mkdir -p "$OCC_TREE/expected"
		occ_as_pg touch "$OCC_TREE/expected/$name.out"
	done
}

# make installcheck with the arguments after $2, plus "$2=<value of $1>" when the
# selection variable $1 (OCC_REGRESS, OCC_ISOLATION) is set.
installcheck_only() {
	local var=$1 mk=$2
	shift 2
	if [ -n "${!var:-}" ]; then make_installcheck "$@" "$mk=${!var}"; else make_installcheck "$@"; fi
}
suite_regress() { stub_missing_expected 'test/sql/*.sql' && installcheck_only OCC_REGRESS REGRESS ISOLATION= TAP_TESTS=; }
suite_isolation() { stub_missing_expected 'test/specs/*.spec' && installcheck_only OCC_ISOLATION ISOLATION REGRESS= TAP_TESTS=; }
suite_tap() {
	# OCC_TAP names files without directory and suffix (004_dump_restore)
	local OCC_TAP_FILES=${OCC_TAP:+$(printf 'test/t/%s.pl ' $OCC_TAP)}
	installcheck_only OCC_TAP_FILES PROVE_TESTS REGRESS= ISOLATION=
}

# Citus for this PostgreSQL (built once per machine by occ_citus_for in vendor.sh,
# against the PostgreSQL the private copy came from), copied into the private copy
# for test/t/020_citus.pl. A Citus that cannot be built fails the suite.
suite_citus() {
	local origin=${OCC_PG_ORIGINS[$(occ_pg_major)]} dir
	occ_apt "${OCC_SOURCE_PACKAGES[@]}"
	dir=$(occ_citus_for "$origin") || { echo "error: no Citus for $origin (see above)"; return 1; }
	# its libraries and extension files, not its headers
	cp -a "$dir$("$origin" --pkglibdir)/." "$("$PG_CONFIG" --pkglibdir)/" &&
		cp -a "$dir$("$origin" --sharedir)/." "$("$PG_CONFIG" --sharedir)/" &&
		chown -R postgres: "$("$PG_CONFIG" --pkglibdir)" "$("$PG_CONFIG" --sharedir)" || return 1
	TAP_ENV+=("OCC_CITUS=$dir")
	make_installcheck REGRESS= ISOLATION= PROVE_TESTS=test/t/020_citus.pl
}

suite_python() {
	occ_apt python3 python3-psycopg python3-psycopg2 python3-sqlalchemy &&
		occ_as_pg env -C "$OCC_TREE/clients/python" /usr/bin/python3 -m unittest discover -v
}

suite_node() {
	local dir=$OCC_TREE/clients/node
	{ command -v node >/dev/null || occ_apt nodejs npm; } || return
	if [ -f "$dir/package.json" ]; then
		occ_as_pg env -C "$dir" npm install --no-audit --no-fund --no-update-notifier --loglevel=error || return
	fi
	occ_as_pg env -C "$dir" node --test --test-reporter=tap
}

suite_ruby() { # Debian's Rails 6.1 and ruby-pg; minitest comes with ruby
	occ_apt ruby ruby-activerecord ruby-pg &&
		occ_as_pg env -C "$OCC_TREE/clients/ruby" ruby -I lib \
			-e 'Dir.glob("test/test_*.rb").sort.each { |f| require File.expand_path(f) }'
}

suite_java() {
	occ_apt default-jdk-headless libhibernate3-java libjavassist-java libpostgresql-jdbc-java \
		libjunixsocket-java libgoogle-gson-java && occ_as_pg bash "$OCC_TREE/clients/java/test.sh"
}
suite_go() { occ_apt golang-go golang-github-jackc-pgx-v4-dev && occ_as_pg bash "$OCC_TREE/clients/go/test.sh"; }

suite_stress() { occ_as_pg env -C "$OCC_TREE/test/stress" bash run.sh; }
suite_docs() { occ_apt python3 && python3 "$OCC_TREE/test/docs/check_links.py" "$OCC_TREE"; }
suite_fuzz() { occ_apt python3 && occ_as_pg env -C "$OCC_TREE/test/fuzz" bash run.sh; }
# the one suite that changes the system's PostgreSQL 15 (installs the package, then
# removes it): one run at a time, and its servers must not hold the lock (flock -o)
suite_package() {
	flock -o /run/lock/occ-system-pg15.lock bash "$OCC_TREE/scripts/package.sh" "$OCC_TREE" "$OCC_WORK"
}

# Result counters: each prints "passed failed" for a suite's log ($1) and exit status ($2).
count_pg_regress() { # PG 15: "test name ... ok", PG 16+: "ok 1 - name", "not ok 2 - name"
	echo "$(grep -cE '^(test +| +)[^ ]+ +\.\.\. ok|^ok [0-9]+ +[-+] ' "$1")" \
		"$(grep -cE '\.\.\. (FAILED|failed)|^not ok [0-9]+ ' "$1")"
}
count_prove() { # one per file: "test/t/x.pl .. ok", failures listed in the summary report
	echo "$(grep -cE '^[^ ]+\.pl \.+ ok' "$1")" "$(grep -cE '^[^ ]+\.pl +\(Wstat: ' "$1")"
}
count_unittest() { # python -m unittest -v: "test_x (m.C.test_x) ... ok" / FAIL / ERROR
	echo "$(grep -cE ' \.\.\. ok$' "$1")" "$(grep -cE ' \.\.\. (FAIL|ERROR)$' "$1")"
}
count_node_tap() { # node --test (and clients/java) TAP summary: "# pass N", "# fail N", "# cancelled N"
	awk '/^# pass /{p=$3} /^# (fail|cancelled) /{f+=$3} END{print p+0, f+0}' "$1"
}
count_go_test() { # go test -v: "--- PASS: TestX", "--- FAIL: TestX" (subtests are indented)
	echo "$(grep -cE '^--- PASS: ' "$1")" "$(grep -cE '^--- FAIL: ' "$1")"
}
count_minitest() { # "N runs, N assertions, N failures, N errors, N skips"
	awk '/ runs, [0-9]+ assertions, /{r=$1; f=$5 + $7} END{print r - f, f + 0}' "$1"
}
count_exit_status() { if [ "$2" -eq 0 ]; then echo 1 0; else echo 0 1; fi; }

# What to show after a failing suite.
show_failure() {
	local f
	for f in "$OCC_TREE/regression.diffs" "$OCC_TREE/output_iso/regression.diffs"; do
		[ -s "$f" ] && { echo "---- $f (first 300 lines)"; head -n 300 "$f"; }
	done
	if [ "$1" = tap ] && [ -d "$OCC_TREE/tmp_check/log" ]; then
		for f in "$OCC_TREE"/tmp_check/log/*; do
			[ -f "$f" ] && { echo "---- $f (last 40 lines)"; tail -n 40 "$f"; }
		done
	fi
	case $1 in regress | isolation)
		echo "---- server log (last 20 lines)"
		tail -n 20 "$OCC_SERVER_LOG" ;;
	esac
}

passed=0 failed=0 summary=()
for version in "${VERSIONS[@]}"; do
	OCC_DIE_SUMMARY="$passed passed, $((failed + 1)) failed" # a failed build or start counts as one failure
	occ_use_pg "$version"
	occ_prepare "tree-$version"
	occ_start_cluster
	OCC_DIE_SUMMARY=""
	TAP_ENV=()
	# pg_upgrade from 15 (test/t/007) when this run installed occ into both
	if [ "$version" != 15 ] && [ -n "${OCC_PG_BINS[15]:-}" ]; then
		TAP_ENV=(OCC_UPGRADE_FROM="$(dirname "${OCC_PG_BINS[15]}")")
	fi
	for entry in "${SUITES[@]}"; do
		IFS='|' read -r name what format where <<<"$entry"
		compgen -G "$OCC_TREE/$what" >/dev/null || continue
		[ "$where" = all ] || [ "$version" = "${VERSIONS[0]}" ] || continue
		[ -z "${OCC_SUITES:-}" ] || [[ " $OCC_SUITES " == *" $name "* ]] || continue
		label=$name
		[ ${#VERSIONS[@]} -eq 1 ] || label="$name-$version"
		occ_log "suite: $name on PostgreSQL $version"
		log=$OCC_WORK/$label.log
		rc=0
		"suite_$name" 2>&1 | tee "$log" || rc=$?
		read -r p f < <("count_$format" "$log" "$rc")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi # failed without a countable result
		if [ "$f" -gt 0 ]; then show_failure "$name"; fi
		passed=$((passed + p)) failed=$((failed + f))
		summary+=("$(printf '  %-13s %d passed, %d failed' "$label" "$p" "$f")")
	done
done

echo
if [ ${#summary[@]} -eq 0 ]; then echo "no test suite found"; else printf '%s\n' "${summary[@]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
