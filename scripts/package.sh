#!/usr/bin/env bash
# The package suite of scripts/test.sh (run as root): checks META.json and make dist,
# builds postgresql-15-occ from a clean copy of the tree under test, installs it,
# runs its autopkgtest (debian/tests) as postgres, removes it, checks that every file
# it installed is gone, installs and uninstalls make dist's zip with the PGXN client,
# and checks that the system's PostgreSQL 15 directories are as they were before.
#   bash scripts/package.sh TREE WORK   (TREE: the copy under test, WORK: a dir of
#                                        postgres's where this suite may write)
set -euo pipefail
tree=$1 work=$2
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
OCC_WORK=$work # for occ_as_pg
PG_CONFIG=$OCC_SYSTEM_PG_CONFIG # the system's, which the package is for
PKG=postgresql-15-occ
SYSTEM_DIRS=(/usr/lib/postgresql/15/lib /usr/share/postgresql/15/extension)
dir=$work/package # clean copies: src/ (built by root), tests/ (postgres's); the .deb
APT=(apt-get -y -q -o DPkg::Lock::Timeout=300)
export DEBIAN_FRONTEND=noninteractive

fail() { echo "not ok - $*"; exit 1; }
ok() { echo "ok - $*"; }

# occ.control's default_version, and as PGXN's SemVer (1.2 -> 1.2.0).
version=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$tree/occ.control")
[ -n "$version" ] || fail "no default_version in occ.control"
semver=$version
[[ $semver == *.*.* ]] || semver=$semver.0

occ_apt python3 git unzip dpkg-dev debhelper postgresql-server-dev-all pgxnclient

# A copy of the tree's sources without build or test products (what .gitignore
# leaves, as occ_copy_tree copied from the checkout).
clean_copy() { # $1: destination
	local git_dir=$dir/index.git
	[ -d "$git_dir" ] || git init -q --bare "$git_dir"
	mkdir -p "$1"
	git --git-dir="$git_dir" --work-tree="$tree" ls-files -z -o --exclude-standard |
		tar -C "$tree" --null -T - -cf - | tar -C "$1" -xf -
}

# ---- META.json (PGXN Meta Spec 1.0.0) and make dist
occ_log "package: META.json and make dist"
python3 - "$tree" "$semver" <<-'EOF' || fail "META.json (see above)"
	import json, os, sys
	tree, semver = sys.argv[1], sys.argv[2]
	meta = json.load(open(os.path.join(tree, "META.json")))  # raises on invalid JSON
	problems = [f"{k} is missing" for k in
	            ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec")
	            if not meta.get(k)]
	def want(what, got, expected):
	    if got != expected:
	        problems.append(f"{what} is {got!r}, expected {expected!r}")
	want("name", meta.get("name"), "occ")
	want("version", meta.get("version"), semver)
	want("meta-spec.version", meta.get("meta-spec", {}).get("version"), "1.0.0")
	want("license", meta.get("license"), "postgresql")
	occ = meta.get("provides", {}).get("occ", {})
	want("provides.occ.version", occ.get("version"), semver)
	for key in ("file", "docfile"):
	    if not os.path.isfile(os.path.join(tree, occ.get(key, "?"))):
	        problems.append(f"provides.occ.{key} {occ.get(key)!r} is not a file")
	want("prereqs.runtime.requires.PostgreSQL",
	     meta.get("prereqs", {}).get("runtime", {}).get("requires", {}).get("PostgreSQL"), "15.0.0")
	if not meta.get("resources") or not meta.get("tags"):
	    problems.append("resources or tags are missing")
	for p in problems:
	    print("META.json:", p)
	sys.exit(1 if problems else 0)
EOF
ok "META.json is valid and at version $semver (occ.control: $version)"
if ! grep -q 'PostgreSQL License' "$tree/LICENSE" || ! grep -q '^License: PostgreSQL' "$tree/debian/copyright"; then
	fail "LICENSE or debian/copyright does not name the PostgreSQL License"
fi

rm -rf "$dir" && mkdir -p "$dir"
clean_copy "$dir/dist"
git -C "$dir/dist" init -q && git -C "$dir/dist" add -A &&
	git -C "$dir/dist" -c user.name=occ -c user.email=occ@localhost commit -q -m dist
make -s -C "$dir/dist" dist PG_CONFIG="$PG_CONFIG" || fail "make dist"
zip=$dir/dist/occ-$semver.zip
[ -f "$zip" ] || fail "make dist did not make occ-$semver.zip"
unzip -Z1 "$zip" | grep -v "^occ-$semver/" && fail "entries outside occ-$semver/ in the zip"
unzip -p "$zip" "occ-$semver/META.json" | cmp -s - "$tree/META.json" || fail "the zip's META.json differs"
ok "make dist made occ-$semver.zip, everything under occ-$semver/"

# ---- build the .deb
occ_log "package: dpkg-buildpackage in a clean copy"
clean_copy "$dir/src"
cp -a "$dir/src" "$dir/tests"
(cd "$dir/src" && pg_buildext checkcontrol) || fail "debian/control is not what pg_buildext updatecontrol makes of debian/control.in"
# the version check of debian/rules fails when occ.control and the changelog disagree
cp -a "$dir/src" "$dir/bumped"
sed -i "s/^default_version = .*/default_version = '$version.99'/" "$dir/bumped/occ.control"
if (cd "$dir/bumped" && debian/rules clean) >"$dir/bumped.log" 2>&1; then
	fail "debian/rules built with occ.control at $version.99 and debian/changelog at $version"
fi
grep -q "default_version is '$version.99'" "$dir/bumped.log" || { cat "$dir/bumped.log"; fail "version check"; }
ok "debian/rules refuses to build when debian/changelog and occ.control disagree"
(cd "$dir/src" && dpkg-checkbuilddeps && dpkg-buildpackage -us -uc -b) >"$dir/build.log" 2>&1 ||
	{ tail -n 40 "$dir/build.log"; fail "dpkg-buildpackage"; }
debs=("$dir/${PKG}_$version"-*_amd64.deb)
if [ ! -f "${debs[0]}" ] || [ ${#debs[@]} -ne 1 ]; then ls "$dir"; fail "no ${PKG}_$version-N_amd64.deb"; fi
deb=${debs[0]}
ok "built $(basename "$deb")"

# ---- install, test, remove; the system is put back as it was whatever happens
# A listing with modes and checksums of the system's PostgreSQL 15 directories.
snapshot() {
	local d
	for d in "${SYSTEM_DIRS[@]}"; do
		(cd "$d" && find . -printf '%y %m %u:%g %p\n' | sort &&
			find . -type f -print0 | sort -z | xargs -0 -r sha256sum) | sed "s|^|$d |"
	done
}
dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -qv '^not-installed$' &&
	fail "$PKG is installed already: remove it before this suite (it would replace it)"
snapshot >"$dir/before.txt"
# occ's files already on the system (make install's) go aside until the end, so
# that the tests can only find the package's
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print substr($6, 2)}' >"$dir/files.txt"
saved=()
while read -r f; do [ ! -e "$f" ] || saved+=("$f"); done < <(cat "$dir/files.txt"
	printf '%s\n' /usr/lib/postgresql/15/lib/{occ.so,bitcode/occ,bitcode/occ.index.bc} \
		/usr/share/postgresql/15/extension/occ{.control,--*.sql})
tar -cPf "$dir/saved.tar" --files-from=/dev/null "${saved[@]}"

restore() {
	local status=$?
	if dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null | grep -qv '^not-installed$'; then
		"${APT[@]}" purge "$PKG" >>"$dir/apt.log" 2>&1 || echo "warning: could not remove $PKG"
	fi
	[ ${#saved[@]} -eq 0 ] || tar -xpPf "$dir/saved.tar"
	snapshot >"$dir/after.txt"
	if ! diff -u "$dir/before.txt" "$dir/after.txt"; then
		echo "not ok - the system's PostgreSQL 15 directories changed (diff above)"
		status=1
	fi
	exit "$status"
}
trap restore EXIT
trap 'exit 130' INT TERM
rm -rf "${saved[@]}"

occ_log "package: apt-get install ./$(basename "$deb")"
"${APT[@]}" install "$deb" >"$dir/apt.log" 2>&1 || { tail -n 20 "$dir/apt.log"; fail "apt-get install"; }
dpkg --verify "$PKG" || fail "installed files differ from the package's"
ok "installed $PKG $(dpkg-query -W -f='${Version}' "$PKG")"

occ_log "package: debian/tests/installcheck as postgres"
chown -R postgres: "$dir/tests"
occ_as_pg env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE -C "$dir/tests" debian/tests/installcheck ||
	fail "debian/tests/installcheck"
ok "the autopkgtest passed against the installed package"

occ_log "package: apt-get remove"
dpkg -L "$PKG" >"$dir/installed.txt"
"${APT[@]}" remove "$PKG" >>"$dir/apt.log" 2>&1 || { tail -n 20 "$dir/apt.log"; fail "apt-get remove"; }
status=$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = not-installed ] || fail "dpkg still has $PKG as $status"
left=()
while read -r f; do [ -d "$f" ] || [ ! -e "$f" ] || left+=("$f"); done <"$dir/installed.txt"
[ ${#left[@]} -eq 0 ] || fail "apt-get remove left ${left[*]}"
for f in /usr/lib/postgresql/15/lib/occ.so /usr/share/postgresql/15/extension/occ.control; do
	grep -qx "$f" "$dir/installed.txt" || fail "the package did not install $f"
done
ok "apt-get remove removed all $(grep -c . "$dir/installed.txt") paths the package installed"

# ---- the PGXN route: the PGXN client builds and installs the release archive
occ_log "package: pgxn install ./occ-$semver.zip"
pgxn_zip() { pgxn "$1" --yes --nosudo --pg_config "$PG_CONFIG" "$zip" >>"$dir/pgxn.log" 2>&1; }
pgxn_zip install || { tail -n 20 "$dir/pgxn.log"; fail "pgxn install"; }
for f in /usr/lib/postgresql/15/lib/occ.so /usr/share/postgresql/15/extension/occ.control; do
	[ -f "$f" ] || fail "pgxn install did not install $f"
done
cmp -s "$tree/occ.control" /usr/share/postgresql/15/extension/occ.control || fail "pgxn installed another occ.control"
pgxn_zip uninstall || { tail -n 20 "$dir/pgxn.log"; fail "pgxn uninstall"; }
[ ! -e /usr/lib/postgresql/15/lib/occ.so ] || fail "pgxn uninstall left occ.so"
ok "pgxn installed and uninstalled occ-$semver.zip"
