# shellcheck shell=bash
# Builds the vendored PostgreSQL releases and Citus once per machine, into
# /var/cache/occ/<name>, keyed by the SHA-256 of their source: a build whose stamp
# matches the vendored tarball is reused, any other is rebuilt. Sourced by lib.sh;
# also runs on its own:  bash scripts/vendor.sh 17 18 citus   (as root)
#
# The tarballs live in ../shared/vendor beside the checkout (OCC_VENDOR overrides).
# A missing or corrupt tarball is an error, never a silent skip.

OCC_CACHE=${OCC_CACHE:-/var/cache/occ}
OCC_VENDOR=${OCC_VENDOR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared/vendor}
OCC_PG_RELEASES=(17.11 18.6)   # the source-built majors; 15 comes from Debian
OCC_SYSTEM_PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

# The major version (15, 17, 18) of the PostgreSQL that pg_config $1 belongs to.
occ_major_of() { "$1" --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/'; }
OCC_CITUS_RELEASE=13.2.2

# SHA-256 of vendored file $1 as listed in SHA256SUMS, after checking the file itself.
occ_vendor_sum() {
	local file=$OCC_VENDOR/$1 want
	[ -f "$file" ] || { echo "error: $file is missing (vendored source needed to build it)" >&2; return 1; }
	want=$(awk -v f="$1" '$2 == f { print $1 }' "$OCC_VENDOR/SHA256SUMS" 2>/dev/null)
	[ -n "$want" ] || { echo "error: $1 is not listed in $OCC_VENDOR/SHA256SUMS" >&2; return 1; }
	[ "$(sha256sum "$file" | cut -d' ' -f1)" = "$want" ] ||
		{ echo "error: $file does not match its checksum in SHA256SUMS" >&2; return 1; }
	echo "$want"
}

# The full release of major $1 (17 -> 17.11).
occ_pg_release() {
	local r
	for r in "${OCC_PG_RELEASES[@]}"; do [ "${r%%.*}" = "$1" ] && { echo "$r"; return 0; }; done
	echo "error: no vendored PostgreSQL $1 (have ${OCC_PG_RELEASES[*]})" >&2
	return 1
}

# Run "$@" with output to log $1; on failure show its tail.
occ_vendor_run() {
	local log=$1
	shift
	"$@" >>"$log" 2>&1 || { tail -n 40 "$log" >&2; echo "error: '$*' failed (log: $log)" >&2; return 1; }
}

# Print the pg_config of PostgreSQL major $1: Debian's for 15, else the cached
# source build, building it first when the cache is missing or stale.
occ_pg_config_for() {
	local major=$1 release sum prefix src log
	if [ "$major" = 15 ]; then echo "$OCC_SYSTEM_PG_CONFIG"; return 0; fi
	release=$(occ_pg_release "$major") || return 1
	sum=$(occ_vendor_sum "postgresql-$release.tar.bz2") || return 1
	prefix=$OCC_CACHE/pg-$release
	if [ "$(cat "$prefix/.source-sha256" 2>/dev/null)" != "$sum" ]; then
		echo "==> building PostgreSQL $release into $prefix (once per machine, 7-11 minutes)" >&2
		rm -rf "$prefix" "$OCC_CACHE/src-pg-$release"
		mkdir -p "$OCC_CACHE/src-pg-$release"
		src=$OCC_CACHE/src-pg-$release/postgresql-$release
		log=$OCC_CACHE/build-pg-$release.log
		: >"$log"
		occ_vendor_run "$log" tar -C "$OCC_CACHE/src-pg-$release" -xjf "$OCC_VENDOR/postgresql-$release.tar.bz2" &&
			occ_vendor_run "$log" env -C "$src" ./configure --prefix="$prefix" --enable-tap-tests \
				--without-icu --without-llvm --with-openssl &&
			occ_vendor_run "$log" make -C "$src" -j"$(nproc)" world-bin &&
			occ_vendor_run "$log" make -C "$src" install-world-bin || return 1
		rm -rf "$OCC_CACHE/src-pg-$release"
		echo "$sum" >"$prefix/.source-sha256"
	fi
	echo "$prefix/bin/pg_config"
}

# Print the directory holding Citus built for pg_config $1 (a DESTDIR-style tree
# whose files occ_citus_install copies into that PostgreSQL), building it if needed.
occ_citus_for() {
	local pg_config=$1 sum psum key dest src log
	sum=$(occ_vendor_sum "citus-$OCC_CITUS_RELEASE.tar.gz") || return 1
	psum=$(occ_vendor_sum "citus-$OCC_CITUS_RELEASE-pg15-have_createdb_privilege.patch") || return 1
	key="$sum $psum $("$pg_config" --version)"
	dest=$OCC_CACHE/citus-$OCC_CITUS_RELEASE-pg$(occ_major_of "$pg_config")
	if [ "$(cat "$dest/.source-sha256" 2>/dev/null)" != "$key" ]; then
		echo "==> building Citus $OCC_CITUS_RELEASE into $dest (once per machine, about 6 minutes)" >&2
		rm -rf "$dest" "$OCC_CACHE/src-citus"
		mkdir -p "$OCC_CACHE/src-citus"
		src=$OCC_CACHE/src-citus/citus-$OCC_CITUS_RELEASE
		log=$OCC_CACHE/build-citus.log
		: >"$log"
		occ_vendor_run "$log" tar -C "$OCC_CACHE/src-citus" -xzf "$OCC_VENDOR/citus-$OCC_CITUS_RELEASE.tar.gz" &&
			occ_vendor_run "$log" patch -d "$src" -p1 -i "$OCC_VENDOR/citus-$OCC_CITUS_RELEASE-pg15-have_createdb_privilege.patch" &&
			occ_vendor_run "$log" env -C "$src" ./configure --without-libcurl PG_CONFIG="$pg_config" &&
			occ_vendor_run "$log" make -C "$src" -j"$(nproc)" &&
			occ_vendor_run "$log" make -C "$src" install DESTDIR="$dest" || return 1
		rm -rf "$OCC_CACHE/src-citus"
		echo "$key" >"$dest/.source-sha256"
	fi
	echo "$dest"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	[ $# -gt 0 ] || set -- 17 18 citus
	for what in "$@"; do
		case $what in
		citus) occ_citus_for "$OCC_SYSTEM_PG_CONFIG" ;;
		*) occ_pg_config_for "$what" ;;
		esac
	done
fi
