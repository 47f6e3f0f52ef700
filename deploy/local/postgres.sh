#!/usr/bin/env bash
# A project-local PostgreSQL cluster from the machine's PostgreSQL (15 or newer) binaries.
# Usage: postgres.sh start|stop|status
# When RETOUR_PG_ADMIN_DSN is set, an existing server is used and nothing is started here.
source "$(dirname "$0")/lib.sh"

PG_PORT="${RETOUR_PG_PORT:-5432}"
PGDIR="$RETOUR_LOCAL/pg"
DATA="$PGDIR/data"

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    apt_install postgresql-15 >&2
    dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$dir"
}

# PostgreSQL refuses to run as root; as root we run it as the `postgres` system account
# (created by Debian's package) and give it the data folder.
run_as() {
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

init_cluster() {
  local bin=$1
  mkdir -p "$PGDIR/run"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    log "creating the PostgreSQL cluster in $DATA"
    local pwfile="$PGDIR/admin-password"
    [ -f "$pwfile" ] || { umask 077; random_secret >"$pwfile"; }
    if is_root; then
      id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/false postgres
      chown -R postgres "$PGDIR"
    fi
    run_as "$bin/initdb" -D "$DATA" -U postgres -E UTF8 --no-locale \
      --auth-local=trust --auth-host=scram-sha-256 --pwfile="$pwfile" >"$PGDIR/initdb.log" 2>&1 \
      || { cat "$PGDIR/initdb.log" >&2; die "initdb failed"; }
  fi
  is_root && chown -R postgres "$PGDIR"
  return 0
}

start() {
  local bin
  bin=$(pg_bin)
  if [ -f "$DATA/postmaster.pid" ] && run_as "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    log "postgres already running on 127.0.0.1:$PG_PORT"; return 0
  fi
  port_busy 127.0.0.1 "$PG_PORT" && die "port $PG_PORT is taken by another process (set RETOUR_PG_PORT, or RETOUR_PG_ADMIN_DSN to use that server)"
  init_cluster "$bin"
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  run_as "$bin/pg_ctl" -D "$DATA" -l "$PGDIR/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PGDIR/run -c max_connections=300" \
    start >/dev/null || { tail -n 30 "$PGDIR/postgres.log" >&2; die "PostgreSQL did not start"; }
}

stop() {
  [ -f "$DATA/postmaster.pid" ] || return 0
  log "stopping PostgreSQL"
  run_as "$(pg_bin)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
}

status() {
  if [ -f "$DATA/postmaster.pid" ] && run_as "$(pg_bin)/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    echo "postgres: running on 127.0.0.1:$PG_PORT"
  else
    echo "postgres: stopped"
  fi
}

admin_dsn() {
  echo "postgresql://postgres:$(cat "$PGDIR/admin-password")@127.0.0.1:$PG_PORT/postgres"
}

if [ -n "${RETOUR_PG_ADMIN_DSN:-}" ] && [ "${1:-}" != admin-dsn ]; then
  log "using the PostgreSQL server given by RETOUR_PG_ADMIN_DSN; nothing to $1"
  exit 0
fi
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  admin-dsn) if [ -n "${RETOUR_PG_ADMIN_DSN:-}" ]; then echo "$RETOUR_PG_ADMIN_DSN"; else admin_dsn; fi ;;
  *) die "usage: postgres.sh start|stop|status|admin-dsn" ;;
esac
