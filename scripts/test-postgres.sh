#!/usr/bin/env bash
# The server's conformance tests (all of crates/server/tests) on the PostgreSQL store: a
# throwaway cluster (scripts/lib/postgres.sh), and each test server on a fresh database of its
# own in it (SESSIONWIRE_TEST_POSTGRES, read by crates/server/tests/common); then all of it again
# with three processes on each database (SESSIONWIRE_TEST_PROCESSES=3), each new client on the
# next process, so most are relayed to the process serving their user. Then the crash test
# of crates/reliability on it: the real binary SIGKILLed mid-stream and restarted, every acked
# message stored once and run once; and again with three processes, one of them, at random,
# killed each round (the run prints its seed; `--seed N` replays it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh
trap pg_cluster_stop EXIT
# fsync off: these tests check what the server stores and shows, not that the machine's disk
# keeps it through a power cut; the benchmark runs with fsync on.
pg_cluster_start off
echo "test-postgres: a throwaway cluster at $PG_URL"
SESSIONWIRE_TEST_POSTGRES="$PG_URL" cargo test -p sessionwire-server
echo "test-postgres: again with three server processes on each database, clients spread over them"
SESSIONWIRE_TEST_POSTGRES="$PG_URL" SESSIONWIRE_TEST_PROCESSES=3 cargo test -p sessionwire-server --tests
cargo build -q -p sessionwire-server -p sessionwire-reliability
psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE crash" postgres
target/debug/sessionwire-crash --db "$PG_URL/crash" --iterations "${CRASH_ITERATIONS:-15}" --clients "${CRASH_CLIENTS:-4}"
psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE crash3" postgres
target/debug/sessionwire-crash --db "$PG_URL/crash3" --processes 3 --iterations "${CRASH_ITERATIONS:-15}" --clients "${CRASH_CLIENTS:-4}"
