#!/usr/bin/env bash
# deploy/local/kafka.sh - run a REAL single-node Apache Kafka broker for local tests.
#
# Usage:
#   deploy/local/kafka.sh start     # start the broker (no-op if running); waits until it answers
#   deploy/local/kafka.sh stop      # SIGTERM, wait up to 30 s, then SIGKILL (exit 0 if not running)
#   deploy/local/kafka.sh restart   # stop + start, keeping the data
#   deploy/local/kafka.sh status    # exit 0 and print the pid if running, else exit 1
#   deploy/local/kafka.sh env       # print `export BRIDGE_TEST_KAFKA_*=...` lines:
#                                   #   eval "$(deploy/local/kafka.sh env)"
#
# The broker is built from the official Apache Kafka jars on Maven Central
# (org.apache.kafka:kafka_2.13 + kafka-tools + a log4j2 slf4j binding), resolved
# with the machine's `mvn` into a cache folder on the first start; later starts
# reuse that cache without touching the network. It runs in KRaft mode as a
# combined broker+controller (node.id=1) with these listeners:
#   PLAINTEXT      127.0.0.1:$KAFKA_PORT             (default 9092; inter-broker)
#   CONTROLLER     127.0.0.1:$KAFKA_CONTROLLER_PORT  (default 9093)
#   SASL_PLAINTEXT 127.0.0.1:$KAFKA_SASL_PORT        (default 9094; SCRAM-SHA-256,
#                                                     SCRAM-SHA-512 and PLAIN)
# One SASL user ($KAFKA_SASL_USER, default "bridge") whose password is generated
# at first format (unless KAFKA_SASL_PASSWORD is set) and kept only in
# $KAFKA_STATE_DIR/sasl.env (mode 600). Topics are NOT auto-created.
#
# Environment (all optional):
#   KAFKA_VERSION          Kafka version from Maven Central (default 4.1.1)
#   KAFKA_CACHE_DIR        jar cache (default $HOME/.cache/webhook-bridge/kafka-$KAFKA_VERSION)
#   KAFKA_STATE_DIR        data, server.properties, kafka.log, kafka.pid, sasl.env
#                          (default /tmp/webhook-bridge-kafka)
#   KAFKA_PORT             PLAINTEXT port (default 9092)
#   KAFKA_CONTROLLER_PORT  CONTROLLER port (default 9093)
#   KAFKA_SASL_PORT        SASL_PLAINTEXT port (default 9094)
#   KAFKA_ADVERTISED_HOST  host advertised to clients (default 127.0.0.1), e.g. for a TCP proxy
#   KAFKA_ADVERTISED_PORT       advertised PLAINTEXT port (default $KAFKA_PORT)
#   KAFKA_ADVERTISED_SASL_PORT  advertised SASL port (default $KAFKA_SASL_PORT)
#   KAFKA_SASL_USER        SASL user name (default bridge; fixed at format time)
#   KAFKA_SASL_PASSWORD    SASL password (default: random at format time; fixed at format time)
#   KAFKA_FRESH=1          `start`/`restart`: wipe the state folder (all data) first
#   KAFKA_HEAP_OPTS        JVM heap options (default "-Xms256m -Xmx512m")
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer (default 90)
#   JAVA_HOME              Java 17+ to use (default: `java` on PATH)
set -euo pipefail
umask 077

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
# The log4j2 binding and slf4j API that make the broker log through log4j2.
LOG4J_VERSION="${KAFKA_LOG4J_VERSION:-2.24.3}"
SLF4J_VERSION="${KAFKA_SLF4J_VERSION:-2.0.17}"
DEPENDENCY_PLUGIN_VERSION=3.8.1

HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE_DIR="${KAFKA_CACHE_DIR:-$HOME/.cache/webhook-bridge/kafka-$KAFKA_VERSION}"
STATE_DIR="${KAFKA_STATE_DIR:-/tmp/webhook-bridge-kafka}"
STATE_DIR="${STATE_DIR%/}"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
SASL_PORT="${KAFKA_SASL_PORT:-9094}"
ADV_HOST="${KAFKA_ADVERTISED_HOST:-127.0.0.1}"
ADV_PORT="${KAFKA_ADVERTISED_PORT:-$PORT}"
ADV_SASL_PORT="${KAFKA_ADVERTISED_SASL_PORT:-$SASL_PORT}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"

LIB_DIR="$CACHE_DIR/lib"
DATA_DIR="$STATE_DIR/data"
CONFIG_FILE="$STATE_DIR/server.properties"
LOG4J_FILE="$STATE_DIR/log4j2.properties"
LOG_FILE="$STATE_DIR/kafka.log"
PID_FILE="$STATE_DIR/kafka.pid"
SASL_ENV="$STATE_DIR/sasl.env"
LOCK_FILE="$STATE_DIR.lock"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
}

java_bin() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    printf '%s\n' "$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    command -v java
  else
    die "java not found (need Java 17+; set JAVA_HOME or put java on PATH)"
  fi
}

check_ports() {
  local p
  for p in "$PORT" "$CONTROLLER_PORT" "$SASL_PORT" "$ADV_PORT" "$ADV_SASL_PORT"; do
    [[ "$p" =~ ^[0-9]+$ ]] && ((p > 0 && p < 65536)) || die "invalid port number: '$p'"
  done
  [[ "$PORT" != "$CONTROLLER_PORT" && "$PORT" != "$SASL_PORT" && "$CONTROLLER_PORT" != "$SASL_PORT" ]] \
    || die "KAFKA_PORT, KAFKA_CONTROLLER_PORT and KAFKA_SASL_PORT must differ"
}

# Serialise start/stop of one state folder (parallel test packages may call us at once).
LOCKED=0
take_lock() {
  ((LOCKED == 0)) || return 0
  LOCKED=1
  command -v flock >/dev/null 2>&1 || return 0
  mkdir -p "$(dirname "$LOCK_FILE")"
  exec 9>"$LOCK_FILE"
  flock -w $((START_TIMEOUT + 120)) 9 || die "could not lock $LOCK_FILE (another kafka.sh is busy)"
}

# ---------------------------------------------------------------- process handling

# Is $1 a live broker process of *this* state folder?
is_our_broker() {
  local pid="$1" cmd
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *kafka.Kafka* && "$cmd" == *"$CONFIG_FILE"* ]]
}

# Print the broker's pid if running (pid file first, then a /proc scan for a broker
# started with this state folder's server.properties); return 1 if not running.
broker_pid() {
  local pid="" d
  if [[ -f "$PID_FILE" ]]; then
    pid="$(head -n1 "$PID_FILE" 2>/dev/null || true)"
    if is_our_broker "$pid"; then
      printf '%s\n' "$pid"
      return 0
    fi
  fi
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    if is_our_broker "$pid"; then
      printf '%s\n' "$pid"
      return 0
    fi
  done
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A real Kafka API call without a JVM: send ApiVersionsRequest v0 (correlation id 7)
# and check the response carries correlation id 7 and error code 0. ApiVersions is
# answered before authentication, so it also works on the SASL listener.
api_versions_ok() {
  local port="$1" reply
  reply="$(
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    # size=15 | api_key=18 | api_version=0 | correlation_id=7 | client_id="ready"(len 5)
    printf '\x00\x00\x00\x0f\x00\x12\x00\x00\x00\x00\x00\x07\x00\x05ready' >&3
    timeout 5 head -c 10 <&3 | od -An -v -tx1 | tr -d ' \n'
  )" 2>/dev/null || return 1
  # 4 bytes size, 4 bytes correlation id, 2 bytes error code
  [[ "${reply:8:12}" == "000000070000" ]]
}

# ---------------------------------------------------------------- jars

ensure_jars() {
  if [[ -f "$LIB_DIR/.complete" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found: Maven is needed once to fetch Kafka $KAFKA_VERSION into $CACHE_DIR"
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $CACHE_DIR (first run only) ..."
  mkdir -p "$CACHE_DIR"
  cat >"$CACHE_DIR/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by deploy/local/kafka.sh: the jars of a single-node Kafka $KAFKA_VERSION broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.webhook-bridge</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>org.apache.logging.log4j</groupId>
        <artifactId>log4j-bom</artifactId>
        <version>$LOG4J_VERSION</version>
        <type>pom</type>
        <scope>import</scope>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <!-- broker (kafka.Kafka) and the storage tool (kafka.tools.StorageTool) -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <!-- CLI tools (topics, console producer/consumer, broker-api-versions) -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version>
      <exclusions>
        <!-- only needed by the connect-plugin-path tool; drags in Jetty/Jersey -->
        <exclusion>
          <groupId>org.apache.kafka</groupId>
          <artifactId>connect-runtime</artifactId>
        </exclusion>
      </exclusions>
    </dependency>
    <!-- logging: slf4j 2 -> log4j2 -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-api</artifactId>
      <version>$SLF4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j2-impl</artifactId>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>$DEPENDENCY_PLUGIN_VERSION</version>
      </plugin>
    </plugins>
  </build>
</project>
EOF
  local tmp="$CACHE_DIR/lib.tmp" mvn_log="$CACHE_DIR/mvn.log"
  rm -rf "$tmp"
  if ! mvn -B -q -Dstyle.color=never -f "$CACHE_DIR/pom.xml" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"$mvn_log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$mvn_log" | tail -n 40 >&2 || true
    rm -rf "$tmp"
    die "Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime deps (full output: $mvn_log; pom: $CACHE_DIR/pom.xml)"
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" && -f "$tmp/kafka-tools-$KAFKA_VERSION.jar" ]] \
    || die "Maven finished but kafka_2.13-$KAFKA_VERSION.jar / kafka-tools-$KAFKA_VERSION.jar are missing in $tmp (see $mvn_log)"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
  date -u +%FT%TZ >"$LIB_DIR/.complete"
  log "cached $(find "$LIB_DIR" -name '*.jar' | wc -l) jars in $LIB_DIR"
}

# ---------------------------------------------------------------- config

random_password() {
  if command -v openssl >/dev/null 2>&1; then
    openssl rand -hex 16
  else
    head -c 16 /dev/urandom | od -An -v -tx1 | tr -d ' \n'
  fi
}

# A random Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 chars).
random_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" != -* ]] && break # the CLI would read a leading '-' as an option
  done
  printf '%s\n' "$id"
}

# Once the data dir is formatted, its credentials are fixed: load them from sasl.env
# into SASL_USER / SASL_PASSWORD and refuse conflicting KAFKA_SASL_* settings.
# Returns 1 if the data dir is not formatted yet.
load_existing_credentials() {
  [[ -f "$DATA_DIR/meta.properties" ]] || return 1
  [[ -f "$SASL_ENV" ]] || die "$DATA_DIR is formatted but $SASL_ENV is missing; wipe the state with KAFKA_FRESH=1"
  SASL_USER="$(sed -n 's/^KAFKA_SASL_USER=//p' "$SASL_ENV" | head -n1)"
  SASL_PASSWORD="$(sed -n 's/^KAFKA_SASL_PASSWORD=//p' "$SASL_ENV" | head -n1)"
  [[ -n "$SASL_USER" && -n "$SASL_PASSWORD" ]] || die "$SASL_ENV is incomplete; wipe the state with KAFKA_FRESH=1"
  if [[ -n "${KAFKA_SASL_USER:-}" && "$KAFKA_SASL_USER" != "$SASL_USER" ]] ||
     [[ -n "${KAFKA_SASL_PASSWORD:-}" && "$KAFKA_SASL_PASSWORD" != "$SASL_PASSWORD" ]]; then
    die "KAFKA_SASL_USER/KAFKA_SASL_PASSWORD differ from the credentials $DATA_DIR was formatted with (see $SASL_ENV); use KAFKA_FRESH=1 to start over"
  fi
  return 0
}

# Sets SASL_USER / SASL_PASSWORD: from sasl.env once the data dir was formatted,
# else from the environment (or a fresh random password) and writes sasl.env.
load_or_create_credentials() {
  local want_user="${KAFKA_SASL_USER:-bridge}"
  if load_existing_credentials; then
    return 0
  fi
  SASL_USER="$want_user"
  SASL_PASSWORD="${KAFKA_SASL_PASSWORD:-$(random_password)}"
  [[ "$SASL_USER" =~ ^[A-Za-z0-9._-]+$ ]] \
    || die "KAFKA_SASL_USER may only contain letters, digits, '.', '_' and '-'"
  [[ "$SASL_PASSWORD" =~ ^[A-Za-z0-9._~@%+:/-]+$ ]] \
    || die "KAFKA_SASL_PASSWORD may only contain letters, digits and ._~@%+:/- (it is embedded in JAAS and --add-scram syntax)"
  printf 'KAFKA_SASL_USER=%s\nKAFKA_SASL_PASSWORD=%s\n' "$SASL_USER" "$SASL_PASSWORD" >"$SASL_ENV"
  chmod 600 "$SASL_ENV"
}

write_config() {
  cat >"$CONFIG_FILE" <<EOF
# Generated by deploy/local/kafka.sh on every start - do not edit.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
controller.listener.names=CONTROLLER

listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT
advertised.listeners=PLAINTEXT://$ADV_HOST:$ADV_PORT,SASL_PLAINTEXT://$ADV_HOST:$ADV_SASL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
inter.broker.listener.name=PLAINTEXT

sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$SASL_PASSWORD";

log.dirs=$DATA_DIR
metadata.log.dir=$DATA_DIR
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=24
EOF
  chmod 600 "$CONFIG_FILE"

  cat >"$LOG4J_FILE" <<'EOF'
# Generated by deploy/local/kafka.sh: everything to stdout, which is kafka.log.
status = warn
# keep logging until the broker has shut down (log4j2 would stop at the first shutdown hook)
shutdownHook = disable
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.network.name = kafka.network.RequestChannel$
logger.network.level = WARN
EOF
}

format_storage() {
  local cluster_id out
  cluster_id="$(random_cluster_id)"
  log "formatting $DATA_DIR (cluster id $cluster_id, SCRAM-SHA-256/512 user '$SASL_USER') ..."
  if ! out="$("$JAVA" -Xmx256m -Dlog4j2.configurationFile="$LOG4J_FILE" -cp "$LIB_DIR/*" \
        kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$CONFIG_FILE" \
        --add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]" \
        --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]" 2>&1)"; then
    printf '%s\n' "$out" | tail -n 30 >&2
    die "kafka-storage format failed"
  fi
  [[ -f "$DATA_DIR/meta.properties" ]] || { printf '%s\n' "$out" >&2; die "format did not create $DATA_DIR/meta.properties"; }
}

# ---------------------------------------------------------------- commands

cmd_start() {
  local pid started t0 deadline
  take_lock
  if pid="$(broker_pid)"; then
    if [[ "${KAFKA_FRESH:-0}" != "1" ]]; then
      log "already running (pid $pid, state $STATE_DIR)"
      return 0
    fi
    log "KAFKA_FRESH=1: stopping the running broker first"
    cmd_stop
  fi
  if [[ "${KAFKA_FRESH:-0}" == "1" ]]; then
    log "KAFKA_FRESH=1: wiping $STATE_DIR"
    rm -rf "$STATE_DIR"
  fi
  check_ports
  local p
  for p in "$PORT" "$CONTROLLER_PORT" "$SASL_PORT"; do
    ! port_open "$p" || die "port 127.0.0.1:$p is already in use by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_SASL_PORT)"
  done

  JAVA="$(java_bin)"
  local jv
  jv="$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  [[ "${jv%%.*}" =~ ^[0-9]+$ ]] && ((${jv%%.*} >= 17)) || die "Kafka $KAFKA_VERSION needs Java 17+, $JAVA is '${jv:-unknown}'"

  ensure_jars

  mkdir -p "$STATE_DIR" "$DATA_DIR"
  chmod 700 "$STATE_DIR"
  load_or_create_credentials
  write_config
  if [[ ! -f "$DATA_DIR/meta.properties" ]]; then
    format_storage
  fi

  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  rm -f "$PID_FILE"
  t0=$SECONDS
  log "starting Kafka $KAFKA_VERSION (PLAINTEXT $ADV_HOST:$ADV_PORT, SASL_PLAINTEXT $ADV_HOST:$ADV_SASL_PORT, log $LOG_FILE) ..."
  # shellcheck disable=SC2086 # HEAP_OPTS is a list of JVM options
  setsid nohup "$JAVA" $HEAP_OPTS -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dkafka.logs.dir="$STATE_DIR" \
    -Dlog4j2.configurationFile="$LOG4J_FILE" \
    -cp "$LIB_DIR/*" kafka.Kafka "$CONFIG_FILE" \
    </dev/null >>"$LOG_FILE" 2>&1 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"

  deadline=$((SECONDS + START_TIMEOUT))
  started=0
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "the broker process exited during startup; last 50 lines of $LOG_FILE:"
      tail -n 50 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      die "Kafka failed to start"
    fi
    if ((started == 0)) && grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null; then
      started=1
    fi
    if ((started == 1)) && api_versions_ok "$PORT" && api_versions_ok "$SASL_PORT"; then
      log "ready after $((SECONDS - t0)) s: pid $pid, PLAINTEXT 127.0.0.1:$PORT, SASL_PLAINTEXT 127.0.0.1:$SASL_PORT (user '$SASL_USER', password in $SASL_ENV)"
      return 0
    fi
    sleep 0.5
  done
  log "timed out after ${START_TIMEOUT} s waiting for the broker to answer on 127.0.0.1:$PORT; last 50 lines of $LOG_FILE:"
  tail -n 50 "$LOG_FILE" >&2 || true
  cmd_stop
  die "Kafka did not become ready within ${START_TIMEOUT} s (the broker was stopped; full log: $LOG_FILE)"
}

cmd_stop() {
  local pid i
  take_lock
  if ! pid="$(broker_pid)"; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping pid $pid ..."
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    is_our_broker "$pid" || break
    sleep 0.5
  done
  if is_our_broker "$pid"; then
    log "still running after 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
      is_our_broker "$pid" || break
      sleep 0.25
    done
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)"; then
    printf '%s\n' "$pid"
    log "running (pid $pid, PLAINTEXT $ADV_HOST:$ADV_PORT, SASL_PLAINTEXT $ADV_HOST:$ADV_SASL_PORT, state $STATE_DIR)"
    return 0
  fi
  log "not running (state $STATE_DIR)"
  return 1
}

cmd_env() {
  [[ -r "$SASL_ENV" ]] || die "no $SASL_ENV yet: run '$0 start' first"
  local user pass
  user="$(sed -n 's/^KAFKA_SASL_USER=//p' "$SASL_ENV" | head -n1)"
  pass="$(sed -n 's/^KAFKA_SASL_PASSWORD=//p' "$SASL_ENV" | head -n1)"
  printf 'export BRIDGE_TEST_KAFKA_BROKERS=%q\n' "$ADV_HOST:$ADV_PORT"
  printf 'export BRIDGE_TEST_KAFKA_SASL_BROKERS=%q\n' "$ADV_HOST:$ADV_SASL_PORT"
  printf 'export BRIDGE_TEST_KAFKA_SASL_USER=%q\n' "$user"
  printf 'export BRIDGE_TEST_KAFKA_SASL_PASSWORD=%q\n' "$pass"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart)
    take_lock
    # fail on conflicting credentials before stopping a healthy broker
    [[ "${KAFKA_FRESH:-0}" == "1" ]] || load_existing_credentials || true
    cmd_stop
    cmd_start
    ;;
  status) cmd_status ;;
  env) cmd_env ;;
  -h | --help | help)
    usage
    ;;
  *)
    usage
    exit 2
    ;;
esac
