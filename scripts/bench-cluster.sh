#!/usr/bin/env bash
# Three server processes on one PostgreSQL against one process on SQLite, in one run (issue 16):
#   1. one process on SQLite: three swload instances at once, one user each (--token a/b/c);
#   2. one process on PostgreSQL, the same;
#   3. three processes on one PostgreSQL database, each swload instance on its own process and
#      its own user: every user is served where its connections are (nothing relayed);
#   4. the same three processes, the three instances one user (the no-token default): the user
#      is served by one process and the connections on the other two are relayed to it.
# Each instance runs SWLOAD_CONNS connections (default 34) of SWLOAD_TURNS echo turns (100: a
# case lasts 2-4 s; at 20 it lasted under 0.6 s and its ratio spread by half) and checks every
# seq, ack and echo. Prints each instance's line and the sum per case: events are summed over
# the instances, divided by the slowest instance's time. With BENCH_PERF_DIR set, each case is
# also recorded machine-wide by `perf record -a -g` into BENCH_PERF_DIR/NAME.data (where the
# time goes: `perf report -i … --sort comm,dso`), and PostgreSQL's statements of each case, by
# their total time (pg_stat_statements), into BENCH_PERF_DIR/NAME.statements.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${SWLOAD_CONNS:-34}
TURNS=${SWLOAD_TURNS:-100}
SWLOAD_MANIFEST=${SWLOAD_MANIFEST:-../shared/tools/swload/Cargo.toml}
SWLOAD=target/swload/release/swload
BIN=${1:-target/release/sessionwire-server}

CARGO_TARGET_DIR=target/swload cargo build --release --locked -q --manifest-path "$SWLOAD_MANIFEST"
[ $# -gt 0 ] || cargo build --release -q -p sessionwire-server

WORK=$(mktemp -d)
PIDS=()
source scripts/lib/postgres.sh
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
    pg_cluster_stop
}
trap cleanup EXIT
if [ -n "${BENCH_PERF_DIR:-}" ]; then
    PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
fi
pg_cluster_start on
psql_admin() { psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@" postgres; }
[ -z "${BENCH_PERF_DIR:-}" ] || psql_admin -c "CREATE EXTENSION pg_stat_statements"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start DB TOKENS: a server on DB; sets PORT (not run in a subshell: PIDS must keep its pid).
start() {
    local port
    port=$(free_port)
    if [ -n "$2" ]; then export SESSIONWIRE_TOKENS=$2; else unset SESSIONWIRE_TOKENS; fi
    RUST_LOG=warn "$BIN" --listen "127.0.0.1:$port" --db "$1" --www "$WORK" \
        --rate-limit 1000000 --rate-burst 1000000 >>"$WORK/server.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then PORT=$port; return 0; fi
        sleep 0.05
    done
    echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}

stop_all() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    PIDS=()
}

# run NAME PORT_A PORT_B PORT_C TOKEN_A TOKEN_B TOKEN_C: three instances at once, then the sum.
run() {
    local name=$1 i
    local ports=("$2" "$3" "$4") tokens=("$5" "$6" "$7")
    local loads=() perf=
    if [ -n "${BENCH_PERF_DIR:-}" ]; then
        perf record -q -a -g -o "$BENCH_PERF_DIR/$name.data" 2>/dev/null &
        perf=$!
        sleep 0.5
        psql_admin -c "SELECT pg_stat_statements_reset()" >/dev/null
    fi
    for i in 0 1 2; do
        local token_args=()
        [ -n "${tokens[$i]}" ] && token_args=(--token "${tokens[$i]}")
        "$SWLOAD" server --addr "127.0.0.1:${ports[$i]}" --conns "$CONNS" --turns "$TURNS" \
            "${token_args[@]}" >"$WORK/out.$i" 2>&1 &
        loads+=($!)
    done
    for pid in "${loads[@]}"; do wait "$pid"; done
    if [ -n "$perf" ]; then
        kill -INT "$perf"; wait "$perf" || true
        psql_admin -c "SELECT round(total_exec_time) AS ms, calls, round(mean_exec_time::numeric, 3) AS mean_ms, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15" >"$BENCH_PERF_DIR/$name.statements"
    fi
    local events=0 secs=0 line
    for i in 0 1 2; do
        line=$(cat "$WORK/out.$i")
        echo "$name instance=$i $line"
        events=$((events + $(sed -n 's/.* events=\([0-9]*\) .*/\1/p' <<<"$line")))
        secs=$(python3 -c "print(max($secs, $(sed -n 's/.* secs=\([0-9.]*\) .*/\1/p' <<<"$line")))")
    done
    echo "$name total events=$events secs=$secs events_per_s=$(python3 -c "print(round($events / $secs))")"
}

echo "ceiling $("$SWLOAD" ceiling --conns 100 --frames 2000)"

start "$WORK/db" "a,b,c"
run sqlite_1_process "$PORT" "$PORT" "$PORT" a b c
stop_all

# three_processes NAME SERVER_TOKENS TOKEN_A TOKEN_B TOKEN_C: three servers on a new database,
# one instance on each.
three_processes() {
    local name=$1 ports=() _
    psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE $name" postgres
    for _ in 1 2 3; do
        start "$PG_URL/$name" "$2"
        ports+=("$PORT")
    done
    run "$name" "${ports[@]}" "$3" "$4" "$5"
    stop_all
}

psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE postgres_1_process" postgres
start "$PG_URL/postgres_1_process" "a,b,c"
run postgres_1_process "$PORT" "$PORT" "$PORT" a b c
stop_all

three_processes postgres_3_processes_users_spread "a,b,c" a b c
three_processes postgres_3_processes_one_user_relayed "" "" "" ""
