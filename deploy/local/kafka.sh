#!/usr/bin/env bash
# Real Apache Kafka (KRaft, single node) from Maven Central jars, run with the machine's Java 17.
# Usage: kafka.sh install|start|stop|status
source "$(dirname "$0")/lib.sh"

KAFKA_PORT="${RETOUR_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${RETOUR_KAFKA_CONTROLLER_PORT:-9093}"
KDIR="$RETOUR_LOCAL/kafka"
POM="$REPO_ROOT/deploy/local/kafka/pom.xml"
CLASSPATH_FILE="$KDIR/classpath.txt"
PID_FILE="$KDIR/kafka.pid"

install() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = //p')
  [ "${major%%.*}" -ge 17 ] || die "Kafka 4 needs Java 17 or newer, found $major"
  mkdir -p "$KDIR"
  # The classpath is cached next to the hash of the pom that produced it; Maven keeps the jars
  # in its own repository cache, so a second install is offline and instant.
  local pom_hash
  pom_hash=$(sha256sum "$POM" | cut -d' ' -f1)
  if [ -f "$CLASSPATH_FILE" ] && [ "$(cat "$KDIR/pom.sha256" 2>/dev/null)" = "$pom_hash" ]; then
    return 0
  fi
  log "resolving Apache Kafka jars from Maven Central"
  mvn -q -B -f "$POM" dependency:build-classpath -Dmdep.outputFile="$CLASSPATH_FILE" >"$KDIR/mvn.log" 2>&1 \
    || { cat "$KDIR/mvn.log" >&2; die "could not resolve Kafka jars with Maven (see above)"; }
  echo "$pom_hash" >"$KDIR/pom.sha256"
}

configure() {
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
      -e "s|@DATA_DIR@|$KDIR/data|g" "$REPO_ROOT/deploy/local/kafka/server.properties.in" \
      >"$KDIR/server.properties"
  if [ ! -f "$KDIR/data/meta.properties" ]; then
    local cluster_id
    cluster_id=$(java -cp "$(cat "$CLASSPATH_FILE")" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    java -cp "$(cat "$CLASSPATH_FILE")" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$KDIR/server.properties" >"$KDIR/format.log" 2>&1 \
      || { cat "$KDIR/format.log" >&2; die "formatting Kafka storage failed"; }
  fi
}

start() {
  if pid_alive "$PID_FILE"; then log "kafka already running (pid $(cat "$PID_FILE"))"; return 0; fi
  port_busy 127.0.0.1 "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process"
  install
  configure
  log "starting Apache Kafka on 127.0.0.1:$KAFKA_PORT"
  # setsid: the broker must outlive `make up` and must not receive the terminal's signals.
  KAFKA_HEAP_OPTS="" setsid nohup java -Xms256m -Xmx1g -XX:+UseG1GC \
    -Dslf4j.internal.verbosity=WARN -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$(cat "$CLASSPATH_FILE")" kafka.Kafka "$KDIR/server.properties" \
    >"$KDIR/kafka.log" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  if ! wait_port 127.0.0.1 "$KAFKA_PORT" 90; then
    tail -n 30 "$KDIR/kafka.log" >&2
    stop_pidfile "$PID_FILE" kafka
    die "Kafka did not open port $KAFKA_PORT"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_pidfile "$PID_FILE" kafka ;;
  status) pid_alive "$PID_FILE" && echo "kafka: running (pid $(cat "$PID_FILE")) on 127.0.0.1:$KAFKA_PORT" || echo "kafka: stopped" ;;
  *) die "usage: kafka.sh install|start|stop|status" ;;
esac
