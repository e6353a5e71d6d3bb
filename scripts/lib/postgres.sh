# Sourced: a throwaway PostgreSQL cluster for tests and benchmarks (PROTOCOL.md §9.2). It lives
# in a temporary directory, listens on a free loopback port, runs as the `postgres` system user
# (PostgreSQL refuses to run as root) and is removed by pg_cluster_stop. No system service.
#
#   pg_cluster_start [fsync on|off]   sets PG_URL=postgres://postgres@127.0.0.1:PORT
#                                     (PG_EXTRA_OPTS: more server options, e.g. "-c name=value")
#   pg_cluster_stop

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$dir" ] || { echo "PostgreSQL's server binaries are missing: run scripts/setup.sh" >&2; return 1; }
  echo "$dir"
}

pg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the postgres user (or as ourselves when we are not root).
pg_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_cluster_start() {
  local fsync=${1:-on} bin
  bin=$(pg_bin) || return 1
  PG_DIR=$(mktemp -d /tmp/sessionwire-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
  pg_as "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync -E UTF8 >"$PG_DIR/initdb.log" 2>&1 ||
    { cat "$PG_DIR/initdb.log"; return 1; }
  PG_PORT=$(pg_free_port)
  pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=$fsync ${PG_EXTRA_OPTS:-}" \
    start >/dev/null || { cat "$PG_DIR/server.log"; return 1; }
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT"
  export PG_URL PG_DIR PG_PORT
}

pg_cluster_stop() {
  [ -n "${PG_DIR:-}" ] || return 0
  local bin
  bin=$(pg_bin) && pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1
  rm -rf "$PG_DIR"
  PG_DIR=""
}
