#!/usr/bin/env bash
# Debian's wrk, the HTTP load generator of `make bench`: written in C, so the load it offers
# costs the 2-core machine far less CPU than a Python client would take from the service.
# Idempotent: does nothing when present.   Usage: wrk.sh [ensure|path]
source "$(dirname "$0")/lib.sh"

WRK_BIN="${RETOUR_WRK:-/usr/bin/wrk}"

ensure() {
  if [ -x "$WRK_BIN" ]; then return 0; fi
  apt_install wrk
  [ -x "$WRK_BIN" ] || die "wrk was installed but $WRK_BIN is missing"
}

case "${1:-ensure}" in
  ensure) ensure ;;
  path) echo "$WRK_BIN" ;;
  *) die "usage: wrk.sh [ensure|path]" ;;
esac
