#!/usr/bin/env bash
# The server's conformance tests (all of crates/server/tests) on the PostgreSQL store: a
# throwaway cluster (scripts/lib/postgres.sh), and each test server on a fresh database of its
# own in it (SESSIONWIRE_TEST_POSTGRES, read by crates/server/tests/common).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
trap pg_cluster_stop EXIT
# fsync off: these tests check what the server stores and shows, not that the machine's disk
# keeps it through a power cut; the benchmark runs with fsync on.
pg_cluster_start off
echo "test-postgres: a throwaway cluster at $PG_URL"
SESSIONWIRE_TEST_POSTGRES="$PG_URL" cargo test -p sessionwire-server
