#!/usr/bin/env bash
# Debian's Chromium, for the dashboard tests (Playwright drives it; it never downloads a
# browser of its own, there may be no internet). Idempotent: does nothing when present.
# Usage: chromium.sh [ensure|path]   `path` prints the executable the tests launch.
source "$(dirname "$0")/lib.sh"

debian_tool "${RETOUR_CHROMIUM:-/usr/bin/chromium}" chromium "${1:-ensure}"
