#!/usr/bin/env bash
# Real Apache Kafka (KRaft) from Maven Central jars, run with the machine's Java 17: one node by
# default, KAFKA_BROKERS=3 for a replicated cluster (drills). Every listener needs SASL: clients
# authenticate with SCRAM-SHA-512 as one principal per service, or as the operator.
# Usage: kafka.sh install|start|stop|status|bootstrap|client-config FILE
#
# Node i (1..N) listens on RETOUR_KAFKA_PORT + 2(i-1) (clients) and
# RETOUR_KAFKA_CONTROLLER_PORT + 2(i-1) (quorum): node 1 keeps the single node's ports.
# A single node keeps its data in .local/kafka/data; an N-node cluster in
# .local/kafka/brokers-N/, since a quorum of another size is another cluster.
source "$(dirname "$0")/lib.sh"

KAFKA_PORT="${RETOUR_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${RETOUR_KAFKA_CONTROLLER_PORT:-9093}"
KDIR="$RETOUR_LOCAL/kafka"
POM="$REPO_ROOT/deploy/local/kafka/pom.xml"
CLASSPATH_FILE="$KDIR/classpath.txt"
# The size of the last cluster started: what `kafka.sh start` restarts when KAFKA_BROKERS is
# unset (the tests stop and start the broker without knowing the cluster's size).
SIZE_FILE="$KDIR/brokers"
# The principals whose SCRAM credentials are created with the cluster (retour-<name>); their
# passwords are generated once into .local/env by stack.sh (<NAME>_KAFKA_SASL_PASSWORD, the name
# upper-cased with - as _). The partners' are those of retour_contracts.catalog.PARTNERS.
PRINCIPALS=(operator intake reintegration notifications reporting partner-example)
# What a cluster whose marker file lists nothing was given: the principals before partners.
FIRST_PRINCIPALS=(operator intake reintegration notifications reporting)

password_var() { local upper=${1^^}; echo "${upper//-/_}_KAFKA_SASL_PASSWORD"; }

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

brokers() {
  local n="${KAFKA_BROKERS:-$(cat "$SIZE_FILE" 2>/dev/null || echo 1)}"
  [[ "$n" =~ ^[1-5]$ ]] || die "KAFKA_BROKERS must be between 1 and 5, got '$n'"
  echo "$n"
}

client_port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }
controller_port() { echo $((CONTROLLER_PORT + 2 * ($1 - 1))); }
# node_dir N I: where node I of an N-node cluster keeps its properties, data, pid and log.
node_dir() { if (($1 == 1)); then echo "$KDIR"; else echo "$KDIR/brokers-$1/node-$2"; fi; }
cluster_dir() { if (($1 == 1)); then echo "$KDIR"; else echo "$KDIR/brokers-$1"; fi; }

bootstrap() {
  local n i servers=()
  n=$(brokers)
  for ((i = 1; i <= n; i++)); do servers+=("127.0.0.1:$(client_port "$i")"); done
  (IFS=,; echo "${servers[*]}")
}

password_of() {
  local value
  value=$(env_get "$1")
  [ -n "$value" ] || die "$1 is missing from $ENV_FILE: start the stack with \`make up\`"
  echo "$value"
}

configure_node() {
  local n=$1 i=$2 dir voters="" j replication min_isr
  dir=$(node_dir "$n" "$i")
  for ((j = 1; j <= n; j++)); do voters+="${voters:+,}$j@127.0.0.1:$(controller_port "$j")"; done
  replication=$((n < 3 ? n : 3))
  min_isr=$((n < 3 ? 1 : 2))
  mkdir -p "$dir"
  (
    umask 077  # the file holds the brokers' own password
    sed -e "s|@NODE_ID@|$i|g" -e "s|@VOTERS@|$voters|g" \
        -e "s|@KAFKA_PORT@|$(client_port "$i")|g" -e "s|@CONTROLLER_PORT@|$(controller_port "$i")|g" \
        -e "s|@DATA_DIR@|$dir/data|g" -e "s|@REPLICATION@|$replication|g" -e "s|@MIN_ISR@|$min_isr|g" \
        -e "s|@BROKER_PASSWORD@|$(password_of KAFKA_BROKER_SASL_PASSWORD)|g" \
        "$REPO_ROOT/deploy/local/kafka/server.properties.in" >"$dir/server.properties"
  )
}

# A new cluster gets its SCRAM credentials in its first metadata (format --add-scram), with no
# broker to ask; an older cluster gets those it lacks once it runs (add_principals).
format_node() {
  local n=$1 i=$2 dir cluster_id principal
  dir=$(node_dir "$n" "$i")
  [ -f "$dir/data/meta.properties" ] && return 0
  local cid_file
  cid_file="$(cluster_dir "$n")/cluster.id"
  [ -f "$cid_file" ] || java -cp "$(cat "$CLASSPATH_FILE")" kafka.tools.StorageTool random-uuid 2>/dev/null \
    | tail -n 1 >"$cid_file"
  cluster_id=$(cat "$cid_file")
  local scram=()
  for principal in "${PRINCIPALS[@]}"; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=retour-$principal,password=$(password_of "$(password_var "$principal")")]")
  done
  java -cp "$(cat "$CLASSPATH_FILE")" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$dir/server.properties" "${scram[@]}" >"$dir/format.log" 2>&1 \
    || { cat "$dir/format.log" >&2; die "formatting Kafka storage failed"; }
  printf '%s\n' "${PRINCIPALS[@]}" >"$dir/data/.retour-sasl"
}

# The principals a running cluster lacks, created through its brokers as their own principal
# (PLAIN): all of them for a cluster whose data predates SASL (no marker file), the ones added
# since for an older cluster (its marker lists those it has; an empty one, the first five).
add_principals() {
  local n=$1 dir principal marker
  dir=$(node_dir "$n" 1)
  marker="$dir/data/.retour-sasl"
  local have=() missing=()
  if [ -f "$marker" ]; then
    mapfile -t have <"$marker"
    ((${#have[@]})) || have=("${FIRST_PRINCIPALS[@]}")
  fi
  for principal in "${PRINCIPALS[@]}"; do
    [[ " ${have[*]} " == *" $principal "* ]] || missing+=("$principal")
  done
  ((${#missing[@]})) || return 0
  log "creating the Kafka principals this cluster lacks: ${missing[*]}"
  local admin="$dir/admin.properties"
  (
    umask 077
    printf '%s\n' "security.protocol=SASL_PLAINTEXT" "sasl.mechanism=PLAIN" \
      "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"retour-broker\" password=\"$(password_of KAFKA_BROKER_SASL_PASSWORD)\";" \
      >"$admin"
  )
  for principal in "${missing[@]}"; do
    java -cp "$(cat "$CLASSPATH_FILE")" kafka.admin.ConfigCommand --bootstrap-server "$(bootstrap)" \
      --command-config "$admin" --alter --entity-type users --entity-name "retour-$principal" \
      --add-config "SCRAM-SHA-512=[password=$(password_of "$(password_var "$principal")")]" \
      >"$dir/principals.log" 2>&1 || { cat "$dir/principals.log" >&2; die "creating retour-$principal failed"; }
  done
  rm -f "$admin"
  local i
  for ((i = 1; i <= n; i++)); do printf '%s\n' "${PRINCIPALS[@]}" >"$(node_dir "$n" "$i")/data/.retour-sasl"; done
}

start_node() {
  local n=$1 i=$2 dir heap
  dir=$(node_dir "$n" "$i")
  # Three JVMs share a small machine with PostgreSQL and the services: smaller heaps each.
  if ((n == 1)); then heap="-Xms256m -Xmx1g"; else heap="-Xms128m -Xmx512m"; fi
  log "starting Apache Kafka node $i/$n on 127.0.0.1:$(client_port "$i")"
  # setsid: the broker must outlive `make up` and must not receive the terminal's signals.
  # shellcheck disable=SC2086
  KAFKA_HEAP_OPTS="" setsid nohup java $heap -XX:+UseG1GC \
    -Dslf4j.internal.verbosity=WARN -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$(cat "$CLASSPATH_FILE")" kafka.Kafka "$dir/server.properties" \
    >"$dir/kafka.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
}

# Every pid file of every cluster size, so `stop` and `status` find what any `start` started.
pid_files() {
  local file
  for file in "$KDIR/kafka.pid" "$KDIR"/brokers-*/node-*/kafka.pid; do
    [ -f "$file" ] && echo "$file"
  done
  return 0
}

# is_node_of N PIDFILE: the pid file is one of the nodes of the N-node cluster.
is_node_of() {
  local i
  for ((i = 1; i <= $1; i++)); do [ "$2" = "$(node_dir "$1" "$i")/kafka.pid" ] && return 0; done
  return 1
}

start() {
  local n i running=() file
  n=$(brokers)
  for file in $(pid_files); do pid_alive "$file" && running+=("$file"); done
  if ((${#running[@]} > 0)); then
    for file in "${running[@]}"; do
      is_node_of "$n" "$file" || die "a Kafka cluster of another size is running: make down first"
    done
    if ((${#running[@]} < n)); then
      restart_dead_nodes "$n"
    else
      log "kafka already running ($n node(s))"
    fi
    return 0
  fi
  for ((i = 1; i <= n; i++)); do
    port_busy 127.0.0.1 "$(client_port "$i")" && die "port $(client_port "$i") is taken by another process"
  done
  install
  echo "$n" >"$SIZE_FILE"
  for ((i = 1; i <= n; i++)); do configure_node "$n" "$i"; format_node "$n" "$i"; done
  # All nodes first: a node opens its client port only once a majority of the quorum is up.
  for ((i = 1; i <= n; i++)); do start_node "$n" "$i"; done
  for ((i = 1; i <= n; i++)); do
    if ! wait_port 127.0.0.1 "$(client_port "$i")" 90; then
      tail -n 30 "$(node_dir "$n" "$i")/kafka.log" >&2
      stop
      die "Kafka node $i did not open port $(client_port "$i")"
    fi
  done
  add_principals "$n"
}

# A node of a running cluster that died (a drill SIGKILLs one) starts again on its own data,
# rejoining the quorum the others keep.
restart_dead_nodes() {
  local n=$1 i
  for ((i = 1; i <= n; i++)); do
    pid_alive "$(node_dir "$n" "$i")/kafka.pid" && continue
    start_node "$n" "$i"
    wait_port 127.0.0.1 "$(client_port "$i")" 90 || {
      tail -n 30 "$(node_dir "$n" "$i")/kafka.log" >&2
      die "Kafka node $i did not open port $(client_port "$i")"
    }
  done
}

# All nodes at once: the last node of a quorum stopped one by one waits for a majority that is
# already gone, and is killed only after stop_pidfile's 20 s.
stop() {
  local file
  for file in $(pid_files); do stop_pidfile "$file" "kafka ($(basename "$(dirname "$file")"))" & done
  wait
}

status() {
  local file found=0
  for file in $(pid_files); do
    if pid_alive "$file"; then
      found=1
      echo "kafka: running (pid $(cat "$file")) on 127.0.0.1:$(sed -n 's|^listeners=CLIENT://127.0.0.1:\([0-9]*\),.*|\1|p' "$(dirname "$file")/server.properties")"
    fi
  done
  ((found)) || echo "kafka: stopped"
}

# A librdkafka client configuration for the operator (kcat -F FILE, kafka tools' equivalents).
client_config() {
  local file=$1
  mkdir -p "$(dirname "$file")"
  (
    umask 077
    cat >"$file" <<CONF
# Generated by deploy/local/kafka.sh: the operator principal of the local Kafka (librdkafka).
bootstrap.servers=$(bootstrap)
security.protocol=SASL_PLAINTEXT
sasl.mechanisms=SCRAM-SHA-512
sasl.username=retour-operator
sasl.password=$(password_of OPERATOR_KAFKA_SASL_PASSWORD)
CONF
  )
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  bootstrap) bootstrap ;;
  client-config) client_config "${2:?usage: kafka.sh client-config FILE}" ;;
  *) die "usage: kafka.sh install|start|stop|status|bootstrap|client-config FILE" ;;
esac
