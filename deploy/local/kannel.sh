#!/usr/bin/env bash
# Kannel, the SMS gateway, from Debian's packages: bearerbox, smsbox (HTTP sendsms on
# 127.0.0.1:13013) and, standing in for the mobile network, the fake SMS centre of kannel-extras.
# Usage: kannel.sh start|stop|status
# Files, logs and the store live in .local/kannel. What the "network" received is
# .local/kannel/fakesmsc.log, one "Got message" line per SMS (per part of a long one).
source "$(dirname "$0")/lib.sh"

KDIR="$RETOUR_LOCAL/kannel"
ADMIN_PORT="${RETOUR_KANNEL_ADMIN_PORT:-13000}"
BOX_PORT="${RETOUR_KANNEL_BOX_PORT:-13001}"
SENDSMS_PORT="${RETOUR_KANNEL_SENDSMS_PORT:-13013}"
SMSC_PORT="${RETOUR_KANNEL_SMSC_PORT:-10000}"
BEARERBOX=/usr/sbin/bearerbox
SMSBOX=/usr/sbin/smsbox
# The service's defaults (retour_notifications.settings); KANNEL_USERNAME/KANNEL_PASSWORD in
# the environment or in .local/env override both sides.
DEFAULT_USERNAME=retour
DEFAULT_PASSWORD=retour-local-sendsms

fakesmsc_path() { dpkg -L kannel-extras 2>/dev/null | grep '/fakesmsc$' | head -n 1; }

install() {
  if [ -x "$BEARERBOX" ] && [ -x "$SMSBOX" ] && [ -n "$(fakesmsc_path)" ]; then return 0; fi
  apt_install kannel kannel-extras
  # Debian starts a system-wide Kannel from /etc/kannel (admin port 13000); ours replaces it.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet kannel 2>/dev/null; then
    systemctl disable --now kannel >/dev/null 2>&1 || true
  fi
  if [ -x /etc/init.d/kannel ]; then /etc/init.d/kannel stop >/dev/null 2>&1 || true; fi
}

configure() {
  mkdir -p "$KDIR/store"
  local admin_file="$KDIR/admin-password" username password
  [ -f "$admin_file" ] || (umask 077; random_secret >"$admin_file")
  username="${KANNEL_USERNAME:-$(env_get KANNEL_USERNAME)}"
  password="${KANNEL_PASSWORD:-$(env_get KANNEL_PASSWORD)}"
  (
    umask 077  # the rendered file holds the passwords
    sed -e "s|@ADMIN_PORT@|$ADMIN_PORT|g" -e "s|@BOX_PORT@|$BOX_PORT|g" \
        -e "s|@SENDSMS_PORT@|$SENDSMS_PORT|g" -e "s|@SMSC_PORT@|$SMSC_PORT|g" \
        -e "s|@DIR@|$KDIR|g" -e "s|@ADMIN_PASSWORD@|$(cat "$admin_file")|g" \
        -e "s|@USERNAME@|${username:-$DEFAULT_USERNAME}|g" \
        -e "s|@PASSWORD@|${password:-$DEFAULT_PASSWORD}|g" \
        "$REPO_ROOT/deploy/local/kannel/kannel.conf.in" >"$KDIR/kannel.conf"
  )
}

# run_box NAME COMMAND...: in the background, outliving `make up`, console output to NAME.log.
# -v 2 (warnings) on every box: at info level Kannel logs each number and message text.
run_box() {
  local name=$1; shift
  setsid nohup "$@" >>"$KDIR/$name.log" 2>&1 </dev/null &
  echo $! >"$KDIR/$name.pid"
}

# online: bearerbox reports both the smsbox and the fake SMS centre connected.
online() {
  python3 - "$ADMIN_PORT" "$(cat "$KDIR/admin-password")" <<'PY' 2>/dev/null
import sys, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/status.txt?password={sys.argv[2]}"
status = urllib.request.urlopen(url, timeout=1).read().decode()
boxes, _, smscs = status.partition("SMSC connections:")
sys.exit(0 if "smsbox:" in boxes and "on-line" in boxes and "(online" in smscs else 1)
PY
}

start() {
  if pid_alive "$KDIR/bearerbox.pid"; then log "kannel already running (pid $(cat "$KDIR/bearerbox.pid"))"; return 0; fi
  local port
  for port in "$ADMIN_PORT" "$BOX_PORT" "$SENDSMS_PORT" "$SMSC_PORT"; do
    port_busy 127.0.0.1 "$port" && die "port $port is taken by another process (see RETOUR_KANNEL_*_PORT)"
  done
  install
  configure
  log "starting Kannel: sendsms on 127.0.0.1:$SENDSMS_PORT, fake SMS centre log $KDIR/fakesmsc.log"
  run_box bearerbox "$BEARERBOX" -v 2 "$KDIR/kannel.conf"
  wait_port 127.0.0.1 "$SMSC_PORT" 30 || { tail -n 20 "$KDIR/bearerbox.log" >&2; stop; die "bearerbox did not start"; }
  run_box fakesmsc "$(fakesmsc_path)" -H 127.0.0.1 -r "$SMSC_PORT" -m 0 "0 0 text unused"
  run_box smsbox "$SMSBOX" -v 2 "$KDIR/kannel.conf"
  local deadline=$((SECONDS + 30))
  until online; do
    ((SECONDS < deadline)) || { tail -n 20 "$KDIR/smsbox.log" >&2; stop; die "Kannel did not come online"; }
    sleep 0.2
  done
  wait_port 127.0.0.1 "$SENDSMS_PORT" 10 || { stop; die "smsbox did not open port $SENDSMS_PORT"; }
}

stop() {
  stop_pidfile "$KDIR/smsbox.pid" smsbox
  stop_pidfile "$KDIR/bearerbox.pid" bearerbox
  stop_pidfile "$KDIR/fakesmsc.pid" fakesmsc  # normally gone with bearerbox already
}

status() {
  if pid_alive "$KDIR/bearerbox.pid"; then
    echo "kannel: running (pid $(cat "$KDIR/bearerbox.pid")), sendsms on http://127.0.0.1:$SENDSMS_PORT/cgi-bin/sendsms"
  else
    echo "kannel: stopped"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: kannel.sh start|stop|status" ;;
esac
