#!/usr/bin/env bash
# Debian's kcat, librdkafka's command-line client: what operators point at
# .local/kafka/operator.conf with -F, and what tests/test_kafka_acls.py checks that file with.
# Idempotent: does nothing when present.   Usage: kcat.sh [ensure|path]
source "$(dirname "$0")/lib.sh"

debian_tool "${RETOUR_KCAT:-/usr/bin/kcat}" kcat "${1:-ensure}"
