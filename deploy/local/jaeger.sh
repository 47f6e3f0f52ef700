#!/usr/bin/env bash
# Jaeger v2, all in one, for the local stack's traces: the services send their spans over
# OTLP/HTTP to 127.0.0.1:4318, its HTTP API answers on http://127.0.0.1:16686 (/api/traces/<id>;
# the page at / is a placeholder: the UI's files come only with Jaeger's release binaries);
# traces are kept in memory (deploy/local/jaeger.yaml), so `make down` forgets them.
# RETOUR_TRACING=off leaves it out of the stack (the services then record no spans);
# RETOUR_PORT_OFFSET moves its ports with the rest of a second checkout's stack.
# Usage: jaeger.sh start|stop|status|query-url|otlp-url
source "$(dirname "$0")/lib.sh"

JDIR="$RETOUR_LOCAL/tracing"
offset="${RETOUR_PORT_OFFSET:-0}"
export JAEGER_QUERY_HTTP_PORT="${RETOUR_JAEGER_QUERY_PORT:-$((16686 + offset))}"
export JAEGER_QUERY_GRPC_PORT="$((16685 + offset))"
export JAEGER_OTLP_HTTP_PORT="${RETOUR_JAEGER_OTLP_PORT:-$((4318 + offset))}"

tracing_on() { [ "${RETOUR_TRACING:-on}" != off ]; }

start() {
  if ! tracing_on; then log "tracing off (RETOUR_TRACING=off): no Jaeger, no spans"; return 0; fi
  if pid_alive "$JDIR/jaeger.pid"; then log "jaeger already running (pid $(cat "$JDIR/jaeger.pid"))"; return 0; fi
  bash "$REPO_ROOT/tools/tracing/install.sh"
  mkdir -p "$JDIR"
  local port
  for port in "$JAEGER_QUERY_HTTP_PORT" "$JAEGER_QUERY_GRPC_PORT" "$JAEGER_OTLP_HTTP_PORT"; do
    port_busy 127.0.0.1 "$port" && die "port $port is taken by another process (see RETOUR_JAEGER_*_PORT, RETOUR_PORT_OFFSET)"
  done
  log "starting jaeger: API http://127.0.0.1:$JAEGER_QUERY_HTTP_PORT/api, OTLP/HTTP on 127.0.0.1:$JAEGER_OTLP_HTTP_PORT"
  setsid nohup "$JDIR/bin/jaeger" --config "file:$REPO_ROOT/deploy/local/jaeger.yaml" \
    >>"$JDIR/jaeger.log" 2>&1 </dev/null &
  echo $! >"$JDIR/jaeger.pid"
  if ! { wait_port 127.0.0.1 "$JAEGER_OTLP_HTTP_PORT" 60 && wait_port 127.0.0.1 "$JAEGER_QUERY_HTTP_PORT" 30; }; then
    tail -n 20 "$JDIR/jaeger.log" >&2; stop; die "jaeger did not start"
  fi
}

stop() { stop_pidfile "$JDIR/jaeger.pid" "jaeger"; }

status() {
  if pid_alive "$JDIR/jaeger.pid"; then
    echo "jaeger: running (pid $(cat "$JDIR/jaeger.pid")), API http://127.0.0.1:$JAEGER_QUERY_HTTP_PORT/api"
  elif tracing_on; then
    echo "jaeger: stopped"
  else
    echo "jaeger: off (RETOUR_TRACING=off)"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  # Nothing when tracing is off.
  query-url) if tracing_on; then echo "http://127.0.0.1:$JAEGER_QUERY_HTTP_PORT"; fi ;;
  otlp-url) if tracing_on; then echo "http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT"; fi ;;
  *) die "usage: jaeger.sh start|stop|status|query-url|otlp-url" ;;
esac
