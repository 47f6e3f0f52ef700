#!/usr/bin/env bash
# A project-local PostgreSQL cluster from the machine's PostgreSQL (15 or newer) binaries.
# Usage: postgres.sh start|stop|status|clean|admin-dsn
# When RETOUR_PG_ADMIN_DSN is set, an existing server is used and nothing is started here.
source "$(dirname "$0")/lib.sh"

PG_PORT="${RETOUR_PG_PORT:-5432}"
PGDIR="$RETOUR_LOCAL/pg"  # the admin password, initdb's log, the link to an outside cluster
# The link to the cluster's folder when the `postgres` account cannot reach $PGDIR.
CLUSTER_LINK="$PGDIR/cluster"
OUTSIDE_ROOT="${RETOUR_PG_OUTSIDE_ROOT:-/var/lib/retour}"

# cluster_home: the folder of the data, the socket and the server log. It is $PGDIR, unless
# we are root and the `postgres` account PostgreSQL runs as cannot enter it (a checkout in a
# home folder of mode 700, such as /root): then a folder of its own under $OUTSIDE_ROOT,
# named by a hash of this checkout's .local path (two checkouts never share a cluster), and
# linked from $CLUSTER_LINK so that status and stop find it and one can see where it is.
cluster_home() {
  if [ -L "$CLUSTER_LINK" ]; then readlink "$CLUSTER_LINK"; return 0; fi
  if is_root && ! postgres_can_enter "$PGDIR"; then outside_home; else echo "$PGDIR"; fi
}

outside_home() {
  local checkout
  checkout=$(realpath -m "$RETOUR_LOCAL")
  echo "$OUTSIDE_ROOT/$(printf '%s' "$checkout" | sha256sum | cut -c1-16)"
}

# postgres_can_enter DIR: whether the `postgres` account can traverse every folder down to DIR.
postgres_can_enter() {
  id postgres >/dev/null 2>&1 || return 0  # created by init_cluster; checked again then
  [ -d "$1" ] || return 0
  runuser -u postgres -- test -x "$1" 2>/dev/null
}

CLUSTER_HOME=$(cluster_home)
DATA="$CLUSTER_HOME/data"

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
  # From a folder it can enter: the tools warn when the caller's own is out of its reach.
  if is_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

init_cluster() {
  local bin=$1 pwfile="$PGDIR/admin-password"
  mkdir -p "$PGDIR"
  if is_root; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/false postgres
    settle_cluster_home
  fi
  mkdir -p "$CLUSTER_HOME/run"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    log "creating the PostgreSQL cluster in $DATA"
    [ -f "$pwfile" ] || { umask 077; random_secret >"$pwfile"; }
    # initdb reads the password as `postgres`, which may not reach $PGDIR: a private copy
    # in the cluster's own folder, removed at once.
    local readable="$CLUSTER_HOME/.admin-password"
    install -m 600 "$pwfile" "$readable"
    is_root && chown -R postgres "$CLUSTER_HOME"
    run_as "$bin/initdb" -D "$DATA" -U postgres -E UTF8 --no-locale \
      --auth-local=trust --auth-host=scram-sha-256 --pwfile="$readable" >"$PGDIR/initdb.log" 2>&1 \
      || { rm -f "$readable"; cat "$PGDIR/initdb.log" >&2; die "initdb failed"; }
    rm -f "$readable"
  fi
  is_root && chown -R postgres "$CLUSTER_HOME"
  return 0
}

# settle_cluster_home (root only): re-decides where the cluster lives now that the `postgres`
# account exists, and prepares an outside folder when $PGDIR is out of its reach.
settle_cluster_home() {
  [ -L "$CLUSTER_LINK" ] && return 0
  postgres_can_enter "$PGDIR" && return 0
  CLUSTER_HOME=$(outside_home)
  DATA="$CLUSTER_HOME/data"
  # A cluster left there by a checkout whose .local was deleted (`make clean`) has a password
  # nobody knows any more: it is that checkout's, and is started afresh.
  if [ -e "$CLUSTER_HOME" ] && [ ! -f "$PGDIR/admin-password" ]; then
    log "removing the orphaned cluster $CLUSTER_HOME (its .local was deleted)"
    rm -rf "$CLUSTER_HOME"
  fi
  log "the postgres account cannot enter $PGDIR; the cluster lives in $CLUSTER_HOME" \
    "(linked from $CLUSTER_LINK; \`postgres.sh clean\` removes it)"
  { mkdir -p "$OUTSIDE_ROOT" "$CLUSTER_HOME" && chmod 755 "$OUTSIDE_ROOT" && chmod 700 "$CLUSTER_HOME"; } \
    || die "cannot make $CLUSTER_HOME for the cluster. Set RETOUR_PG_OUTSIDE_ROOT to a folder" \
      "root can write and the postgres account can enter, or set RETOUR_LOCAL to such a folder"
  ln -sfn "$CLUSTER_HOME" "$CLUSTER_LINK"
}

# postmaster_pid: the first line of PostgreSQL's pid file, empty when there is none.
postmaster_pid() { head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true; }

# postmaster_running: whether the pid file's postmaster is alive, a zombie counting as dead
# (`pg_ctl status` counts it as running).
postmaster_running() { pid_running "$(postmaster_pid)"; }

start() {
  local bin
  bin=$(pg_bin)
  if postmaster_running; then
    log "postgres already running on 127.0.0.1:$PG_PORT"; return 0
  fi
  # A postmaster killed a moment ago (the drills do it) may still be a zombie.
  wait_reaped "$(postmaster_pid)" 30 || die "the killed postmaster (pid $(postmaster_pid)) was not reaped within 30 s"
  port_busy 127.0.0.1 "$PG_PORT" && die "port $PG_PORT is taken by another process (set RETOUR_PG_PORT, or RETOUR_PG_ADMIN_DSN to use that server)"
  init_cluster "$bin"
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  run_as "$bin/pg_ctl" -D "$DATA" -l "$CLUSTER_HOME/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $CLUSTER_HOME/run -c max_connections=300" \
    start >/dev/null || { tail -n 30 "$CLUSTER_HOME/postgres.log" >&2; die "PostgreSQL did not start"; }
}

stop() {
  [ -f "$DATA/postmaster.pid" ] || return 0
  log "stopping PostgreSQL"
  run_as "$(pg_bin)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
}

status() {
  if postmaster_running; then
    echo "postgres: running on 127.0.0.1:$PG_PORT"
  else
    echo "postgres: stopped"
  fi
}

# clean: stops the cluster and deletes an outside cluster folder (the rest of $PGDIR goes
# with $RETOUR_LOCAL: rm -rf does not follow the link).
clean() {
  stop
  if [ -L "$CLUSTER_LINK" ]; then
    log "removing the cluster $CLUSTER_HOME"
    rm -rf "$CLUSTER_HOME"
    rm -f "$CLUSTER_LINK"
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
  clean) clean ;;
  admin-dsn) if [ -n "${RETOUR_PG_ADMIN_DSN:-}" ]; then echo "$RETOUR_PG_ADMIN_DSN"; else admin_dsn; fi ;;
  *) die "usage: postgres.sh start|stop|status|clean|admin-dsn" ;;
esac
