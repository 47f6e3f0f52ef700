#!/usr/bin/env bash
# Keycloak, the identity provider of the local stack: the keycloak-quarkus-dist distribution
# from Maven Central (version and checksum pinned here), run with a Java 21 or newer of the
# machine, on 127.0.0.1:8180 (RETOUR_KEYCLOAK_PORT, moved by RETOUR_PORT_OFFSET), in
# development mode (its own file database under .local/keycloak).
# The realm `retour` comes from deploy/keycloak/retour-realm.json: roles, the centres claim,
# the dashboard's client and the services' accounts, demo users. It is imported at the first
# start, and again (the development database reset) whenever the file changes.
# `make up` runs it unless RETOUR_KEYCLOAK=off (then the services accept `make token`'s tokens
# only). The archive is kept in Maven's local repository, beside Kafka's jars: one download per
# machine, not per checkout.
# Usage: keycloak.sh install|start|stop|status|url|jwks-url
source "$(dirname "$0")/lib.sh"

VERSION=26.5.6
SHA256=fa3dd5df90b9ac006712c2f0991be4e8a6cb30ac538e0439ce2f45fc40f4c692
URL="https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist/$VERSION/keycloak-quarkus-dist-$VERSION.tar.gz"
KDIR="$RETOUR_LOCAL/keycloak"
HOME_DIR="$KDIR/keycloak-$VERSION"
PORT="${RETOUR_KEYCLOAK_PORT:-$((8180 + ${RETOUR_PORT_OFFSET:-0}))}"
REALM_FILE="$REPO_ROOT/deploy/keycloak/retour-realm.json"
REALM_URL="http://127.0.0.1:$PORT/realms/retour"

# A JDK of 21 or newer: Keycloak 26 runs on nothing older (the machine's default is 17).
java_home() {
  local candidate major
  for candidate in ${RETOUR_KEYCLOAK_JAVA_HOME:-} /usr/lib/jvm/*; do
    [ -x "$candidate/bin/java" ] || continue
    major=$("$candidate/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
    if [ -n "$major" ] && [ "$major" -ge 21 ]; then echo "$candidate"; return 0; fi
  done
  die "Keycloak $VERSION needs Java 21 or newer, and none is in /usr/lib/jvm (set RETOUR_KEYCLOAK_JAVA_HOME)"
}

keycloak_on() { [ "${RETOUR_KEYCLOAK:-on}" != off ]; }

install() {
  [ -x "$HOME_DIR/bin/kc.sh" ] && return 0
  mkdir -p "$KDIR"
  local repository="${RETOUR_MAVEN_REPOSITORY:-$HOME/.m2/repository}"
  local archive="$repository/org/keycloak/keycloak-quarkus-dist/$VERSION/keycloak-quarkus-dist-$VERSION.tar.gz"
  mkdir -p "$(dirname "$archive")"
  if [ ! -f "$archive" ] || ! echo "$SHA256  $archive" | sha256sum --check --status; then
    log "downloading Keycloak $VERSION from Maven Central"
    curl -fsSL --retry 3 -o "$archive.part" "$URL" || die "could not download $URL"
    echo "$SHA256  $archive.part" | sha256sum --check --status || die "Keycloak's archive does not have the pinned checksum"
    mv "$archive.part" "$archive"
  fi
  tar -xzf "$archive" -C "$KDIR"
  [ -x "$HOME_DIR/bin/kc.sh" ] || die "the Keycloak archive has no bin/kc.sh"
}

# The secrets the realm file names (${RETOUR_KEYCLOAK_...}), generated once by stack.sh.
realm_environment() {
  local name value
  for name in KC_BOOTSTRAP_ADMIN_PASSWORD RETOUR_KEYCLOAK_DEMO_PASSWORD \
    RETOUR_KEYCLOAK_NOTIFICATIONS_SECRET RETOUR_KEYCLOAK_REPORTING_SECRET \
    RETOUR_KEYCLOAK_PARTNER_SECRET; do
    value=$(env_get "$name")
    [ -n "$value" ] || die "$name is not in $ENV_FILE: start the stack with make up"
    printf '%s=%s\n' "$name" "$value"
  done
}

start() {
  if ! keycloak_on; then log "Keycloak off (RETOUR_KEYCLOAK=off): make token's tokens only"; return 0; fi
  if pid_alive "$KDIR/keycloak.pid"; then log "keycloak already running (pid $(cat "$KDIR/keycloak.pid"))"; return 0; fi
  port_busy 127.0.0.1 "$PORT" && die "port $PORT is taken by another process (see RETOUR_KEYCLOAK_PORT)"
  install
  local java digest variables
  java=$(java_home)
  variables=$(realm_environment) || exit 1
  # --import-realm skips a realm that exists: a changed realm file starts a fresh database.
  digest=$(sha256sum "$REALM_FILE" | cut -d' ' -f1)
  if [ "$(cat "$KDIR/realm.sha256" 2>/dev/null)" != "$digest" ]; then
    rm -rf "$HOME_DIR/data/h2"
    echo "$digest" >"$KDIR/realm.sha256"
  fi
  mkdir -p "$HOME_DIR/data/import"
  cp "$REALM_FILE" "$HOME_DIR/data/import/retour-realm.json"
  log "starting Keycloak $VERSION on http://127.0.0.1:$PORT (realm retour)"
  (
    set -a
    eval "$variables"
    set +a
    export JAVA_HOME="$java" KC_BOOTSTRAP_ADMIN_USERNAME=admin
    # A small heap: it shares a small machine with Kafka, PostgreSQL and the services.
    export JAVA_OPTS_KC_HEAP="-Xms64m -Xmx512m"
    exec setsid nohup "$HOME_DIR/bin/kc.sh" start-dev --http-host 127.0.0.1 --http-port "$PORT" \
      --import-realm --health-enabled=false >>"$KDIR/keycloak.log" 2>&1 </dev/null
  ) &
  echo $! >"$KDIR/keycloak.pid"
  wait_ready 240 || { tail -n 30 "$KDIR/keycloak.log" >&2; stop; die "Keycloak did not start"; }
}

# wait_ready SECONDS: true once the realm answers its OpenID configuration.
wait_ready() {
  local deadline=$((SECONDS + $1))
  while ((SECONDS < deadline)); do
    curl -fs -o /dev/null "$REALM_URL/.well-known/openid-configuration" && return 0
    pid_alive "$KDIR/keycloak.pid" || return 1
    sleep 1
  done
  return 1
}

stop() { stop_pidfile "$KDIR/keycloak.pid" "keycloak"; }

status() {
  if pid_alive "$KDIR/keycloak.pid"; then
    echo "keycloak: running (pid $(cat "$KDIR/keycloak.pid")) at $REALM_URL"
  elif keycloak_on; then
    echo "keycloak: stopped"
  else
    echo "keycloak: off (RETOUR_KEYCLOAK=off)"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  # Nothing when Keycloak is off.
  url) if keycloak_on; then echo "$REALM_URL"; fi ;;
  jwks-url) if keycloak_on; then echo "$REALM_URL/protocol/openid-connect/certs"; fi ;;
  *) die "usage: keycloak.sh install|start|stop|status|url|jwks-url" ;;
esac
