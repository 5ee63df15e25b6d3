# Sourced by run-durable.sh and run-queues.sh (from the repository root): the throwaway PostgreSQL server that the
# silo they measure keeps its state in.
#   start_postgres NAME PORT
# Starts a server in a fresh /tmp/quota-NAME-XXXX on 127.0.0.1:PORT (as the postgres user when run as root) with an
# empty database "quota", and on exit stops it, stops the silo whose process id is in SILO, and removes the directory.
# Sets WORK (the directory, for logs) and PG_PORT. QUOTA_PG_BIN names other server binaries (default: the newest
# /usr/lib/postgresql/*/bin).
start_postgres() {
  local bin="${QUOTA_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"
  WORK="$(mktemp -d "/tmp/quota-$1-XXXX")"
  PG_PORT=$2
  PG_RUNAS=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$WORK"; PG_RUNAS=(runuser -u postgres --); fi
  PG_BIN_DIR="$bin"
  SILO=
  trap stop_postgres EXIT
  "${PG_RUNAS[@]}" "$bin/initdb" -D "$WORK/data" -U quota --auth=trust -E UTF8 --locale=C --no-sync >/dev/null
  "${PG_RUNAS[@]}" "$bin/pg_ctl" start -D "$WORK/data" -l "$WORK/pg.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $WORK -c max_connections=300" >/dev/null
  "${PG_RUNAS[@]}" "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U quota -d postgres -qc "CREATE DATABASE quota" >/dev/null
}

stop_postgres() {
  [ -n "$SILO" ] && kill "$SILO" 2>/dev/null || true
  "${PG_RUNAS[@]}" "$PG_BIN_DIR/pg_ctl" stop -D "$WORK/data" -m immediate -w >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
