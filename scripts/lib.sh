# shellcheck shell=bash
# Helpers sourced by scripts/test.sh and scripts/demo.sh (not run on its own).
# They install what is missing, build and install occ from a private copy of the
# repository, and run a throwaway PostgreSQL cluster as the postgres OS user:
# Debian's 15 by default, or 17/18 built once from ../shared/vendor (occ_use_pg).
# Must run as root; everything is removed again when the calling script exits.

OCC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/vendor.sh
. "$OCC_ROOT/scripts/vendor.sh"
PG_CONFIG=${PG_CONFIG:-$OCC_SYSTEM_PG_CONFIG}
PG_BIN=$(dirname "$PG_CONFIG")
OCC_PACKAGES=(postgresql-15 postgresql-server-dev-15 libipc-run-perl perl make gcc libc6-dev pgbouncer)
# what building PostgreSQL and Citus from source needs besides
OCC_SOURCE_PACKAGES=(bison flex libssl-dev zlib1g-dev libreadline-dev pkg-config liblz4-dev libzstd-dev libkrb5-dev patch bzip2)
OCC_WORK=""    # /tmp/occ.XXXXXX, owned by postgres: tree/ data/ sock/ *.log
OCC_TREE=""    # the copy of the repository, where builds and tests run
declare -A OCC_PG_BINS=()    # major -> bindir of the private copy this run uses
declare -A OCC_PG_ORIGINS=() # major -> pg_config of the PostgreSQL it was copied from

# Use PostgreSQL major $1 from now on (PG_CONFIG, PG_BIN), building it from the
# vendored source first if this machine has no build of it yet.
occ_use_pg() {
	[ "$1" = 15 ] || occ_apt "${OCC_SOURCE_PACKAGES[@]}"
	PG_CONFIG=$(occ_pg_config_for "$1") || occ_die "no PostgreSQL $1 (see above)"
	PG_BIN=$("$PG_CONFIG" --bindir)
}

# The major version of the PostgreSQL PG_CONFIG names (15, 17, 18).
occ_pg_major() { occ_major_of "$PG_CONFIG"; }

# Copy the PostgreSQL that PG_CONFIG names into $OCC_WORK/pg<major>/, keeping the
# relative layout of its directories (PostgreSQL finds its files relative to its
# binaries), and use the copy from now on: occ is installed there, so test runs
# never change the system's PostgreSQL and never disturb each other.
occ_private_pg() {
	local major root dir
	major=$(occ_pg_major)
	root=$OCC_WORK/pg$major
	[ -z "${OCC_PG_BINS[$major]:-}" ] || { PG_BIN=${OCC_PG_BINS[$major]}; PG_CONFIG=$PG_BIN/pg_config; return 0; }
	# the installation's top directories: bin's parent, share, and the headers
	for dir in "$(dirname "$PG_BIN")" "$("$PG_CONFIG" --sharedir)" "$("$PG_CONFIG" --includedir)"; do
		[ -d "$dir" ] || continue
		mkdir -p "$root$(dirname "$dir")"
		[ -e "$root$dir" ] || cp -a "$dir" "$root$dir"
	done
	OCC_PG_ORIGINS[$major]=$PG_CONFIG
	PG_BIN=$root$PG_BIN
	PG_CONFIG=$PG_BIN/pg_config
	case $("$PG_CONFIG" --sharedir) in
	"$root"/*) ;;
	*) occ_die "the copy of PostgreSQL $major in $root does not find its own files" ;;
	esac
	OCC_PG_BINS[$major]=$PG_BIN
}

occ_log() { printf '\n==> %s\n' "$*"; }

# Print an error (and OCC_DIE_SUMMARY, if the caller set one) and exit 1.
occ_die() {
	printf 'error: %s\n' "$*" >&2
	if [ -n "${OCC_DIE_SUMMARY:-}" ]; then echo "$OCC_DIE_SUMMARY"; fi
	exit 1
}

# Install the Debian packages given as arguments that are not installed yet.
occ_apt() {
	local pkg missing=()
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
	done
	if [ ${#missing[@]} -eq 0 ]; then return 0; fi
	occ_log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	local log=/tmp/occ-apt.log
	apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1 ||
		{ apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >>"$log" 2>&1 ||
		{ tail -n 30 "$log"; occ_die "could not install ${missing[*]}"; }
}

# Run a command as postgres from inside the work dir (root's cwd may be unreadable).
occ_as_pg() {
	(cd "$OCC_WORK" && runuser -u postgres -- "$@")
}

# Stop every server started under the work dir (ours and TAP tests'), remove the dir.
occ_cleanup() {
	local status=$? pidfile
	[ -n "$OCC_WORK" ] && [ -d "$OCC_WORK" ] || exit "$status"
	while IFS= read -r pidfile; do
		# each server is stopped by its own version's pg_ctl (PG_BIN may be another)
		occ_as_pg "$(occ_server_bin "$(dirname "$pidfile")")/pg_ctl" -D "$(dirname "$pidfile")" \
			-m immediate stop >/dev/null 2>&1 || true
	done < <(find "$OCC_WORK" -name postmaster.pid 2>/dev/null)
	if [ -n "${OCC_KEEP:-}" ]; then
		echo "OCC_KEEP set: leaving $OCC_WORK" >&2
	else
		rm -rf "$OCC_WORK"
	fi
	exit "$status"
}

# The bindir of the PostgreSQL that runs data directory $1 (from its PG_VERSION).
occ_server_bin() {
	local major
	major=$(cat "$1/PG_VERSION" 2>/dev/null) || major=none
	echo "${OCC_PG_BINS[$major]:-$PG_BIN}"
}

# Make the work dir and copy the repository's tracked and untracked-not-ignored files.
occ_copy_tree() {
	if [ -z "$OCC_WORK" ]; then
		OCC_WORK=$(mktemp -d /tmp/occ.XXXXXX)
		trap occ_cleanup EXIT
		trap 'exit 130' INT TERM
	fi
	OCC_TREE=$OCC_WORK/${1:-tree}
	mkdir "$OCC_TREE"
	if [ -e "$OCC_ROOT/.git" ] && command -v git >/dev/null; then
		(cd "$OCC_ROOT" &&
			git -c safe.directory="$OCC_ROOT" ls-files -z -co --exclude-standard |
			while IFS= read -r -d '' f; do
				if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
			done | tar --null -T - -cf -) | tar -C "$OCC_TREE" -xf -
	else
		cp -r "$OCC_ROOT/." "$OCC_TREE"
	fi
}

# Build with -Werror and install the extension (as root), log in build.log.
occ_build_install() {
	occ_log "building and installing occ"
	if ! { make -C "$OCC_TREE" PG_CONFIG="$PG_CONFIG" OCC_CFLAGS=-Werror &&
		make -C "$OCC_TREE" PG_CONFIG="$PG_CONFIG" install; } >"$OCC_WORK/build.log" 2>&1; then
		tail -n 60 "$OCC_WORK/build.log"
		occ_die "build failed (see above)"
	fi
	grep -F 'warning:' "$OCC_WORK/build.log" || true
}

# Everything before the cluster: packages, copies of the repository and of
# PostgreSQL, build, install into the copy, hand the dir to postgres. $1 names the
# copy of the repository (default tree/): one per PostgreSQL version.
occ_prepare() {
	[ "$(id -u)" -eq 0 ] || occ_die "run as root (clusters run as the postgres user via runuser)"
	occ_apt "${OCC_PACKAGES[@]}"
	occ_copy_tree "${1:-}"
	occ_private_pg
	occ_build_install
	chown -R postgres: "$OCC_WORK"
}

# A TCP port nobody listens on (the cluster itself only listens on its private socket).
occ_free_port() {
	local port _
	for _ in $(seq 100); do
		port=$((20000 + RANDOM % 30000))
		if ! (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# initdb and start a throwaway cluster in $OCC_WORK on port $1 (default: a free
# one), durability off, with the postgresql.conf lines $2 added; export PGHOST,
# PGPORT, PGUSER for the caller.
occ_start_cluster() {
	local port=${1:-} data=$OCC_WORK/data
	[ -n "$port" ] || port=$(occ_free_port) || occ_die "no free port"
	# a second cluster in the same work dir (another version) gets data-NN/
	OCC_SERVER_LOG=$OCC_WORK/server.log
	if [ -e "$data" ]; then
		data=$OCC_WORK/data-$(occ_pg_major) OCC_SERVER_LOG=$OCC_WORK/server-$(occ_pg_major).log
	fi
	occ_log "starting a throwaway PostgreSQL $(occ_pg_major) cluster in $data (port $port)"
	[ -d "$OCC_WORK/sock" ] || occ_as_pg mkdir "$OCC_WORK/sock"
	occ_as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C \
		>"$OCC_WORK/initdb.log" 2>&1 || { cat "$OCC_WORK/initdb.log"; occ_die "initdb failed"; }
	cat >>"$data/postgresql.conf" <<-EOF
		port = $port
		listen_addresses = ''
		unix_socket_directories = '$OCC_WORK/sock'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		${2:-}
	EOF
	occ_as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$OCC_SERVER_LOG" -w -s start ||
		{ tail -n 30 "$OCC_SERVER_LOG"; occ_die "cluster did not start"; }
	export PGHOST=$OCC_WORK/sock PGPORT=$port PGUSER=postgres
}
