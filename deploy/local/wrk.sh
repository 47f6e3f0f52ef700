#!/usr/bin/env bash
# Debian's wrk, the HTTP load generator of `make bench`: written in C, so the load it offers
# costs the 2-core machine far less CPU than a Python client would take from the service.
# Idempotent: does nothing when present.   Usage: wrk.sh [ensure|path]
source "$(dirname "$0")/lib.sh"

debian_tool "${RETOUR_WRK:-/usr/bin/wrk}" wrk "${1:-ensure}"
