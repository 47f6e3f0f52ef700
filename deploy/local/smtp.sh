#!/usr/bin/env bash
# A local SMTP sink on 127.0.0.1:8025 (aiosmtpd, from the project's environment): every message
# it receives is kept as one file in the Maildir .local/smtp/maildir (new/), for people and
# tests to read. Nothing is relayed anywhere.
# Usage: smtp.sh start|stop|status
source "$(dirname "$0")/lib.sh"

SDIR="$RETOUR_LOCAL/smtp"
PORT="${RETOUR_SMTP_PORT:-8025}"
PYTHON="$REPO_ROOT/.venv/bin/python"

start() {
  if pid_alive "$SDIR/smtp.pid"; then log "smtp sink already running (pid $(cat "$SDIR/smtp.pid"))"; return 0; fi
  port_busy 127.0.0.1 "$PORT" && die "port $PORT is taken by another process (see RETOUR_SMTP_PORT)"
  [ -x "$PYTHON" ] || die "no $PYTHON: run make setup first"
  mkdir -p "$SDIR/maildir/tmp" "$SDIR/maildir/new" "$SDIR/maildir/cur"
  log "starting the SMTP sink on 127.0.0.1:$PORT, mail kept in $SDIR/maildir"
  # -n: stay the current user (aiosmtpd otherwise switches to `nobody` when root).
  setsid nohup "$PYTHON" -m aiosmtpd -n -l "127.0.0.1:$PORT" \
    -c aiosmtpd.handlers.Mailbox "$SDIR/maildir" >>"$SDIR/smtp.log" 2>&1 </dev/null &
  echo $! >"$SDIR/smtp.pid"
  wait_port 127.0.0.1 "$PORT" 30 || { tail -n 20 "$SDIR/smtp.log" >&2; stop; die "the SMTP sink did not start"; }
}

stop() { stop_pidfile "$SDIR/smtp.pid" "smtp sink"; }

status() {
  if pid_alive "$SDIR/smtp.pid"; then
    echo "smtp sink: running (pid $(cat "$SDIR/smtp.pid")) on 127.0.0.1:$PORT, mail in $SDIR/maildir"
  else
    echo "smtp sink: stopped"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: smtp.sh start|stop|status" ;;
esac
