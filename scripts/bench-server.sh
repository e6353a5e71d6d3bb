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
# change the shape. SWLOAD_STORES="sqlite postgres" measures each binary on each store (default
# sqlite): PostgreSQL is a throwaway cluster on this machine with fsync on (scripts/lib/postgres.sh),
# a fresh database per server start.
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

STORES=${SWLOAD_STORES:-sqlite}
TOKENS=$(seq -s, -f 'swload-user-%g' 0 $((CONNS - 1)))
WORK=$(mktemp -d)
SERVER_PID=
source scripts/lib/postgres.sh
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
    pg_cluster_stop
}
trap cleanup EXIT
if [[ " $STORES " == *" postgres "* ]]; then pg_cluster_start on; fi
DB_COUNT=0

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# fresh_db STORE: a new, empty database of STORE, as a --db value (DB_COUNT names it: it is
# counted by the caller, since this runs in a subshell).
fresh_db() {
    case $1 in
        sqlite) rm -f "$WORK"/db*; echo "$WORK/db" ;;
        postgres)
            psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE bench_$DB_COUNT" postgres >&2
            echo "$PG_URL/bench_$DB_COUNT" ;;
        *) echo "unknown store $1 (sqlite or postgres)" >&2; exit 1 ;;
    esac
}

# start_server BIN TOKENS STORE: starts BIN on a fresh database; sets SERVER_PID and PORT.
start_server() {
    local bin=$1 tokens=$2 db
    PORT=$(free_port)
    DB_COUNT=$((DB_COUNT + 1))
    db=$(fresh_db "$3")
    if [ -n "$tokens" ]; then export SESSIONWIRE_TOKENS=$tokens; else unset SESSIONWIRE_TOKENS; fi
    RUST_LOG=warn "$bin" --listen "127.0.0.1:$PORT" --db "$db" \
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
for store in $STORES; do
    for bin in "$@"; do
        start_server "$bin" "" "$store"
        echo "$bin store=$store one_user $("$SWLOAD" server --addr "127.0.0.1:$PORT" --conns "$CONNS" --turns "$TURNS" --pid "$SERVER_PID")"
        stop_server
        start_server "$bin" "$TOKENS" "$store"
        echo "$bin store=$store users=$CONNS $("$SWLOAD" server --addr "127.0.0.1:$PORT" --conns "$CONNS" --turns "$TURNS" --users "$CONNS" --pid "$SERVER_PID")"
        stop_server
    done
done
