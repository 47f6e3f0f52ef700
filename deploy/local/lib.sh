# Shared helpers for the local stack scripts (sourced, not executed).
# Everything the local stack writes lives under $RETOUR_LOCAL (default: <repo>/.local),
# so `make clean` is a single rm -rf and nothing leaks into the home directory but
# Maven's own artifact cache.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RETOUR_LOCAL="${RETOUR_LOCAL:-$REPO_ROOT/.local}"
ENV_FILE="$RETOUR_LOCAL/env"

log() { printf '[retour] %s\n' "$*" >&2; }
die() { printf '[retour] error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

# apt_install PKG...: installs Debian packages when we are root, otherwise explains what to do.
apt_install() {
  if ! is_root; then
    die "missing system packages: $*. Install them with: sudo apt-get install -y $*"
  fi
  log "installing system packages: $*"
  if [ ! -f "$RETOUR_LOCAL/.apt-updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    mkdir -p "$RETOUR_LOCAL" && touch "$RETOUR_LOCAL/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# debian_tool BIN PACKAGE [ensure|path]: the body of a script that provides one program from
# Debian's packages. `ensure` (the default) installs PACKAGE unless BIN is there already;
# `path` prints BIN.
debian_tool() {
  local bin=$1 package=$2
  case "${3:-ensure}" in
    ensure)
      [ -x "$bin" ] && return 0
      apt_install "$package"
      [ -x "$bin" ] || die "$package was installed but $bin is missing"
      ;;
    path) echo "$bin" ;;
    *) die "usage: $(basename "$0") [ensure|path]" ;;
  esac
}

# pid_running PID: whether PID is a live process. `kill -0` also succeeds on a zombie, a process
# that has died but that its parent has not reaped yet. A SIGKILLed server is one for a while:
# its parent is init, and init on some machines reaps orphans only every two seconds or so.
# Taken for alive, it would make `start` report "already running" and start nothing.
pid_running() {
  local stat state
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0  # no /proc here: kill -0 has to do
  state=${stat##*) }  # after the command name, which may hold spaces and parentheses
  [ "${state%% *}" != Z ]
}

# wait_reaped PID SECONDS: waits until PID is gone from the process table, zombie included.
# PostgreSQL refuses to start while the pid of its pid file still exists, even as a zombie.
wait_reaped() {
  local pid=$1 deadline=$((SECONDS + $2))
  while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

pid_alive() { [ -f "$1" ] && pid_running "$(cat "$1")"; }

# wait_port HOST PORT SECONDS: true once something accepts TCP connections there.
wait_port() {
  local host=$1 port=$2 deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
    sleep 0.3
  done
  return 1
}

port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# stop_pidfile FILE NAME: SIGTERM, wait for a clean shutdown, then SIGKILL as a last resort.
stop_pidfile() {
  local file=$1 name=$2 pid
  if ! pid_alive "$file"; then rm -f "$file"; return 0; fi
  pid=$(cat "$file")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$file"; return 0; }
    sleep 0.2
  done
  log "$name did not stop within 20 s, killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$file"
}

# env_get NAME: a value from the generated env file.
env_get() { sed -n "s/^$1=//p" "$ENV_FILE" 2>/dev/null | tail -n 1; }

random_secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
