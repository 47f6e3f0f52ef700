#!/usr/bin/env bash
# Debian's Chromium, for the dashboard tests (Playwright drives it; it never downloads a
# browser of its own, there may be no internet). Idempotent: does nothing when present.
# Usage: chromium.sh [path]   `path` prints the executable the tests launch.
source "$(dirname "$0")/lib.sh"

CHROMIUM_BIN="${RETOUR_CHROMIUM:-/usr/bin/chromium}"

ensure() {
  if [ -x "$CHROMIUM_BIN" ]; then return 0; fi
  apt_install chromium
  [ -x "$CHROMIUM_BIN" ] || die "chromium was installed but $CHROMIUM_BIN is missing"
}

case "${1:-ensure}" in
  ensure) ensure ;;
  path) echo "$CHROMIUM_BIN" ;;
  *) die "usage: chromium.sh [ensure|path]" ;;
esac
