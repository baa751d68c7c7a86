#!/usr/bin/env bash
# Shows occ at work: builds and installs it, starts a throwaway cluster, runs
# scripts/demo.sql (two clients racing for one row) and removes the cluster again.
# Run as root: bash scripts/demo.sh
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

occ_prepare
occ_start_cluster
occ_as_pg "$PG_BIN/createdb" occ_demo
occ_log "running scripts/demo.sql"
occ_as_pg "$PG_BIN/psql" -X -q -d occ_demo -v ON_ERROR_STOP=1 <"$OCC_TREE/scripts/demo.sql" 2>&1
