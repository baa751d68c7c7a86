#!/usr/bin/env bash
# Runs the Go (pgx v4) recipe's tests with Debian's Go packages only: GOPATH mode,
# no module download, the build cache in ./build. Reads PGHOST, PGPORT, PGUSER.
# Needs: golang-go golang-github-jackc-pgx-v4-dev
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
mkdir -p build/gopath
export GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH=$PWD/build/gopath:/usr/share/gocode \
	GOCACHE=$PWD/build/cache
exec go test -v -count=1 .
