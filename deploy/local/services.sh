#!/usr/bin/env bash
# The four retour services as background processes on 127.0.0.1:8001-8004.
# Usage: services.sh start|stop|status
# Each runs `retour-<name> serve` from the project's virtual environment with the local
# stack's environment (.local/env); logs go to .local/services/<name>.log (JSON lines).
source "$(dirname "$0")/lib.sh"

SDIR="$RETOUR_LOCAL/services"
# RETOUR_PORT_OFFSET moves all four (a second checkout's stack beside the first one).
offset="${RETOUR_PORT_OFFSET:-0}"
declare -A PORTS=([intake]=$((8001 + offset)) [reintegration]=$((8002 + offset))
                  [notifications]=$((8003 + offset)) [reporting]=$((8004 + offset)))
ORDER=(intake reintegration notifications reporting)

start_one() {
  local svc=$1 port=${PORTS[$1]} pid_file="$SDIR/$1.pid"
  if pid_alive "$pid_file"; then log "$svc already running (pid $(cat "$pid_file"))"; return 0; fi
  port_busy 127.0.0.1 "$port" && die "port $port is taken by another process"
  local db_var="${svc^^}_DATABASE_URL" kafka_user="${svc^^}_KAFKA_SASL_USERNAME"
  local kafka_password="${svc^^}_KAFKA_SASL_PASSWORD"
  log "starting $svc on 127.0.0.1:$port"
  (
    set -a; source "$ENV_FILE"; set +a
    export DATABASE_URL="${!db_var}" HTTP_HOST=127.0.0.1 HTTP_PORT="$port"
    # Its own Kafka principal too: the ACLs let it produce and consume only its own topics.
    export KAFKA_SASL_USERNAME="${!kafka_user}" KAFKA_SASL_PASSWORD="${!kafka_password}"
    # No service holds another's credentials, nor the operator's.
    unset OPERATOR_KAFKA_SASL_PASSWORD KAFKA_BROKER_SASL_PASSWORD PARTNER_EXAMPLE_KAFKA_SASL_PASSWORD
    for other in "${ORDER[@]}"; do unset "${other^^}_KAFKA_SASL_PASSWORD"; done
    # Nor the identity provider's administrator password or its clients' secrets.
    unset KC_BOOTSTRAP_ADMIN_PASSWORD $(compgen -v RETOUR_KEYCLOAK_ || true)
    # Need-to-know among processes too: only intake holds the master keys.
    [ "$svc" = intake ] || unset MASTER_KEY PREVIOUS_MASTER_KEYS
    export INTAKE_URL="http://127.0.0.1:${PORTS[intake]}"
    # Follow-up reminders are looked for every minute in production; locally every two
    # seconds, so that a developer, the demo and the tests see them go at once.
    export FOLLOW_UP_CHECK_SECONDS="${FOLLOW_UP_CHECK_SECONDS:-2}"
    exec setsid nohup "$REPO_ROOT/.venv/bin/retour-$svc" serve >>"$SDIR/$svc.log" 2>&1 </dev/null
  ) &
  echo $! >"$pid_file"
}

wait_ready() {
  local svc=$1 port=${PORTS[$1]} deadline=$((SECONDS + 60))
  while ((SECONDS < deadline)); do
    pid_alive "$SDIR/$svc.pid" || { tail -n 20 "$SDIR/$svc.log" >&2; die "$svc exited at start"; }
    if python3 - "$port" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1)
PY
    sleep 0.3
  done
  tail -n 20 "$SDIR/$svc.log" >&2
  die "$svc did not answer /healthz on port $port"
}

# The services named on the command line, all of them by default, in start order.
chosen() {
  local svc
  (($# == 0)) && set -- "${ORDER[@]}"
  for svc in "$@"; do [ -n "${PORTS[$svc]:-}" ] || die "no service named $svc"; done
  for svc in "${ORDER[@]}"; do
    if [[ " $* " == *" $svc "* ]]; then echo "$svc"; fi
  done
}

start() {
  [ -f "$ENV_FILE" ] || die "no $ENV_FILE: start the stack first (stack.sh up)"
  mkdir -p "$SDIR"
  local services
  services=$(chosen "$@") || exit 1
  for svc in $services; do start_one "$svc"; done
  for svc in $services; do wait_ready "$svc"; done
}

stop() {
  local services
  services=$(chosen "$@") || exit 1
  for svc in $services; do stop_pidfile "$SDIR/$svc.pid" "$svc"; done
}

status() {
  for svc in "${ORDER[@]}"; do
    if pid_alive "$SDIR/$svc.pid"; then
      echo "$svc: running (pid $(cat "$SDIR/$svc.pid")) on http://127.0.0.1:${PORTS[$svc]}"
    else
      echo "$svc: stopped"
    fi
  done
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  status) status ;;
  *) die "usage: services.sh start|stop [service...] | status" ;;
esac
