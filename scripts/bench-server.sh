#!/usr/bin/env bash
# The server's load benchmark against the raw ceiling, in one run on one machine:
#   1. swload ceiling: a raw tokio-tungstenite echo pipelining event-sized frames;
#   2. swload server, one user (no tokens): 100 connections, each its own session, 20 echo turns;
#   3. swload server, 100 users (one token each), same shape.
# Each server binary given is measured in turn (e.g. the one before a change and the one after),
# so the numbers share the run's ceiling. Prints one `key=value` line per measurement.
#
#   scripts/bench-server.sh                      # the release binary of this checkout
#   scripts/bench-server.sh OLD_BIN NEW_BIN      # a before/after comparison
#
# The per-connection rate limit (default 100 frames/s, burst 200) is raised for the benchmark
# (`--rate-limit 1000000 --rate-burst 1000000`): swload sends each turn as soon as the previous
# one ended, faster than the limit allows a person. SWLOAD_CONNS, SWLOAD_TURNS and SWLOAD_FRAMES
# change the shape.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${SWLOAD_CONNS:-100}
TURNS=${SWLOAD_TURNS:-20}
FRAMES=${SWLOAD_FRAMES:-2000}
SWLOAD_MANIFEST=${SWLOAD_MANIFEST:-../shared/tools/swload/Cargo.toml}
SWLOAD=target/swload/release/swload

CARGO_TARGET_DIR=target/swload cargo build --release --locked -q --manifest-path "$SWLOAD_MANIFEST"
if [ $# -eq 0 ]; then
    cargo build --release -q -p sessionwire-server
    set -- target/release/sessionwire-server
fi

TOKENS=$(seq -s, -f 'swload-user-%g' 0 $((CONNS - 1)))
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server BIN TOKENS: starts BIN on a fresh database; sets SERVER_PID and PORT.
start_server() {
    local bin=$1 tokens=$2
    PORT=$(free_port)
    rm -f "$WORK"/db*
    if [ -n "$tokens" ]; then export SESSIONWIRE_TOKENS=$tokens; else unset SESSIONWIRE_TOKENS; fi
    RUST_LOG=warn "$bin" --listen "127.0.0.1:$PORT" --db "$WORK/db" \
        --www "$WORK" --rate-limit 1000000 --rate-burst 1000000 >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "server did not start:" >&2
    cat "$WORK/server.log" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

echo "ceiling $("$SWLOAD" ceiling --conns "$CONNS" --frames "$FRAMES")"
for bin in "$@"; do
    start_server "$bin" ""
    echo "$bin one_user $("$SWLOAD" server --addr "127.0.0.1:$PORT" --conns "$CONNS" --turns "$TURNS" --pid "$SERVER_PID")"
    stop_server
    start_server "$bin" "$TOKENS"
    echo "$bin users=$CONNS $("$SWLOAD" server --addr "127.0.0.1:$PORT" --conns "$CONNS" --turns "$TURNS" --users "$CONNS" --pid "$SERVER_PID")"
    stop_server
done
