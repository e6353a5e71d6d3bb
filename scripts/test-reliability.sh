#!/usr/bin/env bash
# Reliability against the real binary, bounded: the crash test (SIGKILL mid-stream, restart on
# the same database, reconnect, resend, audit) and a short soak of concurrent connections.
# Longer runs for docs/reliability.md: see the commands there.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build -q -p sessionwire-server -p sessionwire-reliability
target/debug/sessionwire-crash --iterations "${CRASH_ITERATIONS:-15}" --clients "${CRASH_CLIENTS:-4}"
target/debug/sessionwire-soak --connections "${SOAK_CONNECTIONS:-200}" --seconds "${SOAK_SECONDS:-10}" --pause-ms 200
