#!/usr/bin/env bash
# Toxiproxy, the fault-injecting TCP proxy of the drills (docs/drills.md): latency, cuts and
# timeouts between a service and Kafka, Postgres or Kannel. Built once from the Go module proxy
# with the machine's Go and cached in .local/toxiproxy; the server listens on 127.0.0.1.
# Usage: toxiproxy.sh ensure|start|stop|status|path
# RETOUR_TOXIPROXY_PORT (default 8474, moved by RETOUR_PORT_OFFSET) is its API port.
source "$(dirname "$0")/lib.sh"

VERSION=v2.5.0
TDIR="$RETOUR_LOCAL/toxiproxy"
BIN="$TDIR/bin"
PORT="${RETOUR_TOXIPROXY_PORT:-$((8474 + ${RETOUR_PORT_OFFSET:-0}))}"

ensure() {
  if [ -x "$BIN/server" ] && [ -x "$BIN/cli" ] && [ "$(cat "$TDIR/version" 2>/dev/null)" = "$VERSION" ]; then
    return 0
  fi
  command -v go >/dev/null || die "Go is needed to build Toxiproxy (apt-get install golang-go, or a Go from go.dev)"
  mkdir -p "$BIN"
  log "building Toxiproxy $VERSION into $BIN (once)"
  # Its own module cache under .local, so `make clean` removes it and nothing lands in $HOME.
  GOBIN="$BIN" GOPATH="$TDIR/gopath" GOFLAGS=-modcacherw \
    go install "github.com/Shopify/toxiproxy/v2/cmd/server@$VERSION" "github.com/Shopify/toxiproxy/v2/cmd/cli@$VERSION"
  echo "$VERSION" >"$TDIR/version"
}

start() {
  ensure
  if pid_alive "$TDIR/server.pid"; then log "toxiproxy already running (pid $(cat "$TDIR/server.pid"))"; return 0; fi
  port_busy 127.0.0.1 "$PORT" && die "port $PORT is taken by another process (see RETOUR_TOXIPROXY_PORT)"
  log "starting Toxiproxy on 127.0.0.1:$PORT"
  setsid nohup "$BIN/server" -host 127.0.0.1 -port "$PORT" >>"$TDIR/server.log" 2>&1 </dev/null &
  echo $! >"$TDIR/server.pid"
  wait_port 127.0.0.1 "$PORT" 30 || { tail -n 20 "$TDIR/server.log" >&2; die "toxiproxy did not start"; }
}

stop() { stop_pidfile "$TDIR/server.pid" toxiproxy; }

status() {
  if pid_alive "$TDIR/server.pid"; then
    echo "toxiproxy: running (pid $(cat "$TDIR/server.pid")) on http://127.0.0.1:$PORT"
  else
    echo "toxiproxy: stopped"
  fi
}

case "${1:-}" in
  ensure) ensure ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  path) echo "$BIN" ;;
  *) die "usage: toxiproxy.sh ensure|start|stop|status|path" ;;
esac
