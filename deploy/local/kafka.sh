#!/usr/bin/env bash
# deploy/local/kafka.sh - run a REAL Apache Kafka for local tests: a single-node
# broker (the default) or a cluster of KRaft nodes on 127.0.0.1.
#
# Usage:
#   deploy/local/kafka.sh start     # start the broker (no-op if running); waits until it answers
#   deploy/local/kafka.sh stop      # SIGTERM, wait up to 30 s, then SIGKILL (exit 0 if not running)
#   deploy/local/kafka.sh restart   # stop + start, keeping the data
#   deploy/local/kafka.sh status    # exit 0 and print the pid if running, else exit 1
#   deploy/local/kafka.sh env       # print `export BRIDGE_TEST_KAFKA_*=...` lines (cluster:
#                                   #   comma-separated lists of every node's addresses):
#                                   #   eval "$(deploy/local/kafka.sh env)"
#
# Cluster mode and node verbs (N is a node number, 1..nodes; in single mode N is 1):
#   deploy/local/kafka.sh start --nodes 3  # (or KAFKA_NODES=3) start a 3-node cluster: starts
#                                   #   the nodes that are not running and waits until every node
#                                   #   answers and sees all 3 brokers registered (unfenced)
#   deploy/local/kafka.sh start N   # start node N again, keeping its data; waits until it
#                                   #   answers and is registered (if fewer than a majority of
#                                   #   the nodes would run, it starts it, warns and returns)
#   deploy/local/kafka.sh stop [N]  # SIGTERM node N (default: every node at once), wait up to
#                                   #   30 s, then SIGKILL; a node left without a controller
#                                   #   quorum (fewer than a majority of the nodes run) cannot
#                                   #   finish its controlled shutdown and gets SIGKILL after 5 s
#   deploy/local/kafka.sh restart [N]  # stop + start node N (default: all), keeping the data
#   deploy/local/kafka.sh crash [N]    # SIGKILL node N (default: every node): no clean
#                                      #   shutdown; exit 0 if it was not running
#   deploy/local/kafka.sh pause [N]    # SIGSTOP node N (default: every node): it hangs with
#                                      #   its sockets open, like a long GC pause or a VM
#                                      #   freeze; paused over 6 s, the controller fences it
#   deploy/local/kafka.sh resume [N]   # SIGCONT node N (default: every node); pause and
#                                      #   resume exit 1 if the node has no process
#   deploy/local/kafka.sh status [N]   # cluster: one line per node on stdout,
#                                      #   "<node> <pid|-> <running|paused|stopped> <PLAINTEXT> <SASL>";
#                                      #   with N (and in single mode): the pid only.
#                                      #   Exit 0 iff every node (node N) runs and is not paused.
#   deploy/local/kafka.sh pid [N]      # the pid of node N (default: one line per node, "-" if
#                                      #   none); exit 1 if a node has no process
# crash, pause, resume, status, pid and env never wait for the lock that start, stop
# and restart hold while they work, so they act at once.
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
# Cluster mode (--nodes N or KAFKA_NODES=N with N >= 2; N=1 is the single mode):
# nodes 1..N, each a combined broker+controller with node.id=I, and all of them
# voters (static controller.quorum.voters), formatted with one shared cluster id
# and the same SCRAM user, so the SASL user works on every node. Node I listens on
#   PLAINTEXT      127.0.0.1:$KAFKA_PORT            + (I-1)*$KAFKA_NODE_PORT_STEP
#   CONTROLLER     127.0.0.1:$KAFKA_CONTROLLER_PORT + (I-1)*$KAFKA_NODE_PORT_STEP
#   SASL_PLAINTEXT 127.0.0.1:$KAFKA_SASL_PORT       + (I-1)*$KAFKA_NODE_PORT_STEP
# (step 10 by default: node 1 = 9092/9093/9094, node 2 = 9102/9103/9104,
# node 3 = 9112/9113/9114), and advertises KAFKA_ADVERTISED_PORT and
# KAFKA_ADVERTISED_SASL_PORT plus the same offset. Brokers replicate over the
# advertised PLAINTEXT address. Keep the ports below 32768 (Linux's ephemeral
# range): there, a node's outgoing connection can hold a port that the next
# node then fails to bind. Each node keeps its server.properties, data,
# kafka.log and kafka.pid in $KAFKA_STATE_DIR/nodeI; sasl.env, cluster.id and
# the node count (file `nodes`, so later commands need no --nodes) are shared in
# $KAFKA_STATE_DIR. A state folder without a `nodes` file is a single node.
# Cluster settings that differ from the single node:
#   default.replication.factor=3, offsets.topic.replication.factor=3,
#   transaction.state.log.replication.factor=3 and transaction.state.log.min.isr=2
#   (with fewer than 3 nodes: the node count, and min.isr at most that);
#   min.insync.replicas stays at Kafka's default 1, so acks=all still succeeds
#   with one in-sync replica left (set it per topic to test stricter settings).
#   broker.session.timeout.ms=6000 and broker.heartbeat.interval.ms=1000 (Kafka:
#   9000/2000): a crashed or paused node is fenced, and its partitions get new
#   leaders, 3 s sooner, which shortens fault tests; a heartbeat a second still
#   leaves room for 5 lost ones (a GC pause, a loaded machine) before a live
#   node is fenced by mistake.
#   log.cleaner.dedupe.buffer.size=16 MiB (Kafka: 128 MiB of heap per broker).
#   JVM: KAFKA_HEAP_OPTS "-Xms128m -Xmx512m" and KAFKA_JVM_PERFORMANCE_OPTS
#   "-XX:+UseSerialGC -XX:TieredStopAtLevel=1" (C1 only): three JVMs start
#   quicker and stay small on a 2-core machine.
#
# Environment (all optional):
#   KAFKA_VERSION          Kafka version from Maven Central (default 4.1.1)
#   KAFKA_CACHE_DIR        jar cache (default $HOME/.cache/webhook-bridge/kafka-$KAFKA_VERSION)
#   KAFKA_STATE_DIR        data, server.properties, kafka.log, kafka.pid, sasl.env
#                          (default /tmp/webhook-bridge-kafka; cluster: see above)
#   KAFKA_PORT             PLAINTEXT port (default 9092)
#   KAFKA_CONTROLLER_PORT  CONTROLLER port (default 9093)
#   KAFKA_SASL_PORT        SASL_PLAINTEXT port (default 9094)
#   KAFKA_ADVERTISED_HOST  host advertised to clients (default 127.0.0.1), e.g. for a TCP proxy
#   KAFKA_ADVERTISED_PORT       advertised PLAINTEXT port (default $KAFKA_PORT)
#   KAFKA_ADVERTISED_SASL_PORT  advertised SASL port (default $KAFKA_SASL_PORT)
#   KAFKA_SASL_USER        SASL user name (default bridge; fixed at format time)
#   KAFKA_SASL_PASSWORD    SASL password (default: random at format time; fixed at format time)
#   KAFKA_FRESH=1          `start`/`restart`: wipe the state folder (all data) first
#   KAFKA_NODES            number of nodes of a new state folder (default 1; --nodes wins);
#                          an existing state folder keeps its own unless KAFKA_FRESH=1
#   KAFKA_NODE_PORT_STEP   port offset between cluster nodes (default 10)
#   KAFKA_HEAP_OPTS        JVM heap options (default "-Xms256m -Xmx512m";
#                          cluster mode "-Xms128m -Xmx512m")
#   KAFKA_JVM_PERFORMANCE_OPTS  JVM GC/JIT options (default "-server -XX:+UseG1GC
#                          -XX:MaxGCPauseMillis=20"; cluster mode "-server
#                          -XX:+UseSerialGC -XX:TieredStopAtLevel=1")
#   KAFKA_START_TIMEOUT    seconds to wait for the broker(s) to answer (default 90)
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
PORT_STEP="${KAFKA_NODE_PORT_STEP:-10}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"

LIB_DIR="$CACHE_DIR/lib"
LOG4J_FILE="$STATE_DIR/log4j2.properties"
SASL_ENV="$STATE_DIR/sasl.env"
NODES_FILE="$STATE_DIR/nodes"
CLUSTER_ID_FILE="$STATE_DIR/cluster.id"
LOCK_FILE="$STATE_DIR.lock"
MAX_NODES=9

# The layout (set_layout): NODES nodes; CLUSTER=0 is the single-node layout.
NODES=1
CLUSTER=0

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

# ---------------------------------------------------------------- layout

set_layout() {
  NODES="$1"
  CLUSTER=0
  ((NODES == 1)) || CLUSTER=1
  if ((CLUSTER)); then
    HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
    JVM_OPTS="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseSerialGC -XX:TieredStopAtLevel=1}"
  else
    HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
    JVM_OPTS="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20}"
  fi
}

# select_node I: point the N_* variables at node I (1 in single mode).
select_node() {
  local off
  NODE="$1"
  off=$(((NODE - 1) * PORT_STEP))
  N_PORT=$((PORT + off))
  N_CONTROLLER_PORT=$((CONTROLLER_PORT + off))
  N_SASL_PORT=$((SASL_PORT + off))
  N_ADV_PORT=$((ADV_PORT + off))
  N_ADV_SASL_PORT=$((ADV_SASL_PORT + off))
  if ((CLUSTER)); then
    N_DIR="$STATE_DIR/node$NODE"
  else
    N_DIR="$STATE_DIR"
  fi
  N_DATA="$N_DIR/data"
  N_CONFIG="$N_DIR/server.properties"
  N_LOG="$N_DIR/kafka.log"
  N_PID="$N_DIR/kafka.pid"
}

# The node count of the state folder: its `nodes` file, 1 for a formatted
# single-node folder, nothing if it holds no formatted node yet.
state_nodes() {
  local n
  if [[ -f "$NODES_FILE" ]]; then
    n="$(head -n1 "$NODES_FILE" 2>/dev/null || true)"
    [[ "$n" =~ ^[1-9]$ ]] || die "$NODES_FILE does not hold a node count 1..$MAX_NODES; wipe the state with KAFKA_FRESH=1"
    printf '%s\n' "$n"
  elif [[ -f "$STATE_DIR/data/meta.properties" ]]; then
    printf '1\n'
  fi
}

valid_nodes() {
  if ! [[ "$1" =~ ^[1-9][0-9]*$ ]] || (($1 > MAX_NODES)); then
    die "invalid node count '$1' (1..$MAX_NODES)"
  fi
}

check_ports() {
  local p i
  for p in "$PORT" "$CONTROLLER_PORT" "$SASL_PORT" "$ADV_PORT" "$ADV_SASL_PORT" "$PORT_STEP"; do
    if ! [[ "$p" =~ ^[0-9]+$ ]] || ((p == 0 || p > 65535)); then
      die "invalid port number: '$p'"
    fi
  done
  [[ "$PORT" != "$CONTROLLER_PORT" && "$PORT" != "$SASL_PORT" && "$CONTROLLER_PORT" != "$SASL_PORT" ]] \
    || die "KAFKA_PORT, KAFKA_CONTROLLER_PORT and KAFKA_SASL_PORT must differ"
  ((CLUSTER)) || return 0
  local -A seen=()
  for ((i = 1; i <= NODES; i++)); do
    select_node "$i"
    for p in "$N_PORT" "$N_CONTROLLER_PORT" "$N_SASL_PORT" "$N_ADV_PORT" "$N_ADV_SASL_PORT"; do
      ((p < 65536)) || die "node $i would use port $p (> 65535): lower the KAFKA_*PORT settings or KAFKA_NODE_PORT_STEP"
    done
    for p in "$N_PORT" "$N_CONTROLLER_PORT" "$N_SASL_PORT"; do
      [[ -z "${seen[$p]:-}" ]] \
        || die "port $p is used by node ${seen[$p]} and node $i: choose KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_SASL_PORT and KAFKA_NODE_PORT_STEP ($PORT_STEP) so that the nodes' ports differ"
      seen[$p]="$i"
    done
  done
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

# Is $1 a live broker process started with config file $2?
is_our_broker() {
  local pid="$1" config="$2" a main=0 conf=0
  local -a args=()
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  { mapfile -d '' -t args <"/proc/$pid/cmdline"; } 2>/dev/null || return 1
  for a in "${args[@]}"; do
    [[ "$a" == kafka.Kafka ]] && main=1
    [[ "$a" == "$config" ]] && conf=1
  done
  ((main && conf))
}

# Print the pid of the selected node if its process exists (pid file first, then
# a /proc scan for a broker started with the node's server.properties); return 1
# if it has none. A paused (SIGSTOPped) node has a process.
node_pid() {
  local pid="" d
  if [[ -f "$N_PID" ]]; then
    pid="$(head -n1 "$N_PID" 2>/dev/null || true)"
    if is_our_broker "$pid" "$N_CONFIG"; then
      printf '%s\n' "$pid"
      return 0
    fi
  fi
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    if is_our_broker "$pid" "$N_CONFIG"; then
      printf '%s\n' "$pid"
      return 0
    fi
  done
  return 1
}

# Is process $1 stopped by a signal (paused)?
is_paused() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" == [Tt] ]]
}

# The selected node's state: sets NSTATE to running, paused or stopped and PID
# to its pid (or "").
node_state() {
  if PID="$(node_pid)"; then
    if is_paused "$PID"; then NSTATE=paused; else NSTATE=running; fi
  else
    PID=""
    NSTATE=stopped
  fi
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

# The node ids of the live (registered and unfenced) brokers that the broker on
# 127.0.0.1:$1 knows, space-separated, from a MetadataRequest v4 for no topics -
# the same JVM-less style as api_versions_ok.
metadata_broker_ids() {
  local port="$1" hex n i o hl rl ids=""
  hex="$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    # size=20 | api_key=3 | api_version=4 | correlation_id=8 | client_id="ready"(len 5)
    # | topics=[] (none) | allow_auto_topic_creation=false
    printf '\x00\x00\x00\x14\x00\x03\x00\x04\x00\x00\x00\x08\x00\x05ready\x00\x00\x00\x00\x00' >&3
    size="$(timeout 5 head -c 4 <&3 | od -An -v -tx1 | tr -d ' \n')"
    [[ "$size" =~ ^[0-9a-f]{8}$ ]] && ((16#$size > 0 && 16#$size < 1048576)) || exit 1
    timeout 5 head -c $((16#$size)) <&3 | od -An -v -tx1 | tr -d ' \n'
  )" 2>/dev/null || return 1
  # correlation id (4) | throttle_time_ms (4) | brokers count (4) | brokers: node_id (4),
  # host (int16 length + bytes), port (4), rack (int16 length, -1 = null, + bytes)
  [[ "${hex:0:8}" == "00000008" && ${#hex} -ge 24 ]] || return 1
  n=$((16#${hex:16:8}))
  o=24
  for ((i = 0; i < n; i++)); do
    ((${#hex} >= o + 12)) || return 1
    ids+="${ids:+ }$((16#${hex:o:8}))"
    hl=$((16#${hex:o+8:4}))
    o=$((o + 12 + 2 * hl + 8))
    ((${#hex} >= o + 4)) || return 1
    rl=$((16#${hex:o:4}))
    o=$((o + 4))
    if ((rl != 65535)); then o=$((o + 2 * rl)); fi
  done
  printf '%s\n' "$ids"
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

# The data dir of a formatted node of the layout, if any (return 1 if none).
formatted_data_dir() {
  local i
  for ((i = 1; i <= NODES; i++)); do
    select_node "$i"
    if [[ -f "$N_DATA/meta.properties" ]]; then
      printf '%s\n' "$N_DATA"
      return 0
    fi
  done
  return 1
}

# Once a data dir is formatted, its credentials are fixed: load them from sasl.env
# into SASL_USER / SASL_PASSWORD and refuse conflicting KAFKA_SASL_* settings.
# Returns 1 if no data dir is formatted yet.
load_existing_credentials() {
  local data
  data="$(formatted_data_dir)" || return 1
  [[ -f "$SASL_ENV" ]] || die "$data is formatted but $SASL_ENV is missing; wipe the state with KAFKA_FRESH=1"
  SASL_USER="$(sed -n '/^KAFKA_SASL_USER=/{s///p;q;}' "$SASL_ENV")"
  SASL_PASSWORD="$(sed -n '/^KAFKA_SASL_PASSWORD=/{s///p;q;}' "$SASL_ENV")"
  [[ -n "$SASL_USER" && -n "$SASL_PASSWORD" ]] || die "$SASL_ENV is incomplete; wipe the state with KAFKA_FRESH=1"
  if [[ -n "${KAFKA_SASL_USER:-}" && "$KAFKA_SASL_USER" != "$SASL_USER" ]] ||
     [[ -n "${KAFKA_SASL_PASSWORD:-}" && "$KAFKA_SASL_PASSWORD" != "$SASL_PASSWORD" ]]; then
    die "KAFKA_SASL_USER/KAFKA_SASL_PASSWORD differ from the credentials $data was formatted with (see $SASL_ENV); use KAFKA_FRESH=1 to start over"
  fi
  return 0
}

# Sets SASL_USER / SASL_PASSWORD: from sasl.env once a data dir was formatted,
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

# server.properties of the selected node.
write_config() {
  local voters="" i rf=1 min_isr=1
  if ((CLUSTER)); then
    for ((i = 1; i <= NODES; i++)); do
      voters+="${voters:+,}$i@127.0.0.1:$((CONTROLLER_PORT + (i - 1) * PORT_STEP))"
    done
    rf=$((NODES < 3 ? NODES : 3))
    min_isr=$((rf < 2 ? rf : 2))
  else
    voters="1@127.0.0.1:$N_CONTROLLER_PORT"
  fi
  {
    cat <<EOF2
# Generated by deploy/local/kafka.sh on every start - do not edit.
process.roles=broker,controller
node.id=$NODE
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER

listeners=PLAINTEXT://127.0.0.1:$N_PORT,CONTROLLER://127.0.0.1:$N_CONTROLLER_PORT,SASL_PLAINTEXT://127.0.0.1:$N_SASL_PORT
advertised.listeners=PLAINTEXT://$ADV_HOST:$N_ADV_PORT,SASL_PLAINTEXT://$ADV_HOST:$N_ADV_SASL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
inter.broker.listener.name=PLAINTEXT

sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$SASL_PASSWORD";

log.dirs=$N_DATA
metadata.log.dir=$N_DATA
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$rf
EOF2
    # the cluster keeps Kafka's default min.insync.replicas (1)
    ((CLUSTER)) || printf 'min.insync.replicas=1\n'
    cat <<EOF2
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=24
EOF2
    if ((CLUSTER)); then
      cat <<EOF2
# a local cluster: fence a dead node sooner, and a smaller compaction buffer per broker
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000
log.cleaner.dedupe.buffer.size=16777216
EOF2
    fi
  } >"$N_CONFIG"
  chmod 600 "$N_CONFIG"
}

write_log4j_config() {
  cat >"$LOG4J_FILE" <<'EOF2'
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
EOF2
}

# Format the selected node's data dir with cluster id $1.
format_storage() {
  local cluster_id="$1" out
  log "formatting $N_DATA (cluster id $cluster_id, SCRAM-SHA-256/512 user '$SASL_USER') ..."
  # shellcheck disable=SC2086 # FORMAT_JVM_OPTS is a list of JVM options
  if ! out="$("$JAVA" -Xmx256m $FORMAT_JVM_OPTS -Dlog4j2.configurationFile="$LOG4J_FILE" -cp "$LIB_DIR/*" \
        kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$N_CONFIG" \
        --add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]" \
        --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]" 2>&1)"; then
    printf '%s\n' "$out" | tail -n 30 >&2
    die "kafka-storage format of $N_DATA failed"
  fi
  [[ -f "$N_DATA/meta.properties" ]] || { printf '%s\n' "$out" >&2; die "format did not create $N_DATA/meta.properties"; }
}

# Format every node of the layout that is not formatted yet, in parallel, all
# with the cluster's one id (cluster.id, else a formatted node's, else new).
format_nodes() {
  local i cluster_id="" data failed=0
  local -a formats=()
  if ((CLUSTER == 0)); then
    select_node 1
    if [[ ! -f "$N_DATA/meta.properties" ]]; then
      FORMAT_JVM_OPTS=""
      format_storage "$(random_cluster_id)"
    fi
    return 0
  fi
  FORMAT_JVM_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1"
  if [[ -f "$CLUSTER_ID_FILE" ]]; then
    cluster_id="$(head -n1 "$CLUSTER_ID_FILE")"
  elif data="$(formatted_data_dir)"; then
    cluster_id="$(sed -n '/^cluster.id=/{s///p;q;}' "$data/meta.properties")"
  fi
  [[ -n "$cluster_id" ]] || cluster_id="$(random_cluster_id)"
  printf '%s\n' "$cluster_id" >"$CLUSTER_ID_FILE"
  for ((i = 1; i <= NODES; i++)); do
    select_node "$i"
    [[ -f "$N_DATA/meta.properties" ]] && continue
    format_storage "$cluster_id" &
    formats+=("$!")
  done
  for i in "${formats[@]}"; do
    wait "$i" || failed=1
  done
  ((failed == 0)) || die "formatting the nodes' storage failed"
}

# ---------------------------------------------------------------- commands

# The node numbers a verb acts on: node $1, or every node of the layout.
node_list() {
  if [[ -n "$1" ]]; then
    printf '%s\n' "$1"
  else
    seq 1 "$NODES"
  fi
}

node_name() {
  if ((CLUSTER)); then printf 'node %s' "$NODE"; else printf 'the broker'; fi
}

# Is any node of the layout a live process?
any_node_process() {
  local i
  for ((i = 1; i <= NODES; i++)); do
    select_node "$i"
    node_pid >/dev/null && return 0
  done
  return 1
}

# How many nodes of the layout run and are not paused.
running_count() {
  local i n=0
  for ((i = 1; i <= NODES; i++)); do
    select_node "$i"
    node_state
    [[ "$NSTATE" == running ]] && n=$((n + 1))
  done
  printf '%s\n' "$n"
}

# Does the broker on port $1 see every broker id in $2 (space-separated) as live?
sees_brokers() {
  local ids id
  ids=" $(metadata_broker_ids "$1") " || return 1
  for id in $2; do
    [[ "$ids" == *" $id "* ]] || return 1
  done
}

# Start a JVM for the selected node; sets PID.
launch_node() {
  [[ -f "$N_LOG" ]] && mv -f "$N_LOG" "$N_LOG.1"
  rm -f "$N_PID"
  # shellcheck disable=SC2086 # HEAP_OPTS and JVM_OPTS are lists of JVM options
  setsid nohup "$JAVA" $HEAP_OPTS $JVM_OPTS \
    -Djava.awt.headless=true -Dkafka.logs.dir="$N_DIR" \
    -Dlog4j2.configurationFile="$LOG4J_FILE" \
    -cp "$LIB_DIR/*" kafka.Kafka "$N_CONFIG" \
    </dev/null >>"$N_LOG" 2>&1 9>&- &
  PID=$!
  printf '%s\n' "$PID" >"$N_PID"
}

# stop_nodes I...: SIGTERM the nodes at once (and SIGCONT, so a paused node can
# shut down), wait up to 30 s, then SIGKILL what still runs. A broker's
# controlled shutdown needs an active controller: once fewer than a majority of
# the cluster's nodes run (e.g. the last node of a full stop, whose peers exited
# first), a node still shutting down gets SIGKILL after 5 s instead of 30 s, as
# it would otherwise wait up to Kafka's 5 minutes for a controller.
stop_nodes() {
  local i pid n=0 left lost=-1 quorum=$((NODES / 2 + 1))
  local -a pids=() configs=() # indexed by node number
  for i in "$@"; do
    select_node "$i"
    if ! pid="$(node_pid)"; then
      rm -f "$N_PID"
      if ((CLUSTER)); then log "node $i not running"; else log "not running"; fi
      continue
    fi
    if ((CLUSTER)); then log "stopping node $i (pid $pid) ..."; else log "stopping pid $pid ..."; fi
    kill -TERM "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true
    pids[i]="$pid"
    configs[i]="$N_CONFIG"
    n=$((n + 1))
  done
  ((n > 0)) || return 0
  for ((n = 0; n < 60; n++)); do
    left=0
    for i in "${!pids[@]}"; do
      is_our_broker "${pids[$i]}" "${configs[$i]}" && left=1
    done
    ((left)) || break
    if ((CLUSTER)) && (($(running_count) < quorum)); then
      ((lost >= 0)) || lost=$n
      ((n - lost < 10)) || break
    fi
    sleep 0.5
  done
  for i in "${!pids[@]}"; do
    if is_our_broker "${pids[$i]}" "${configs[$i]}"; then
      select_node "$i"
      if ((lost >= 0)); then
        log "node $i cannot finish its controlled shutdown: fewer than $quorum of $NODES nodes run, so there is no active controller; sending SIGKILL"
      else
        log "$(node_name) still running after 30 s; sending SIGKILL"
      fi
      kill -KILL "${pids[$i]}" 2>/dev/null || true
      for ((n = 0; n < 20; n++)); do
        is_our_broker "${pids[$i]}" "${configs[$i]}" || break
        sleep 0.25
      done
    fi
  done
  for i in "${!pids[@]}"; do
    select_node "$i"
    rm -f "$N_PID"
    if ((CLUSTER)); then log "node $i stopped"; else log "stopped"; fi
  done
}

# cmd_start [N]: start node N, or every node that is not running.
cmd_start() {
  local target="${1:-}" i t0 deadline all_ids="" quorum want p
  local -a todo=() pids=() ready=() # pids and ready: indexed by node number
  take_lock
  if [[ "${KAFKA_FRESH:-0}" == "1" ]]; then
    [[ -z "$target" ]] || die "KAFKA_FRESH=1 wipes the whole state folder: use it without a node number"
    set_layout "${OLD_NODES:-1}"
    if any_node_process; then
      log "KAFKA_FRESH=1: stopping the running broker first"
      # shellcheck disable=SC2046 # node numbers
      stop_nodes $(node_list "")
    fi
    log "KAFKA_FRESH=1: wiping $STATE_DIR"
    rm -rf "$STATE_DIR"
    set_layout "$NEW_NODES"
  fi
  for i in $(node_list "$target"); do
    select_node "$i"
    node_state
    case "$NSTATE" in
      running)
        if ((CLUSTER)); then log "node $i already running (pid $PID)"; else log "already running (pid $PID, state $STATE_DIR)"; fi
        ;;
      paused) die "$(node_name) is paused (pid $PID): resume it first ($0 resume $i)" ;;
      *) todo+=("$i") ;;
    esac
  done
  ((${#todo[@]} > 0)) || return 0
  check_ports
  for i in "${todo[@]}"; do
    select_node "$i"
    for p in "$N_PORT" "$N_CONTROLLER_PORT" "$N_SASL_PORT"; do
      ! port_open "$p" || die "port 127.0.0.1:$p is already in use by another process (set KAFKA_PORT / KAFKA_CONTROLLER_PORT / KAFKA_SASL_PORT)"
    done
  done

  JAVA="$(java_bin)"
  local jv
  jv="$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  if ! [[ "${jv%%.*}" =~ ^[0-9]+$ ]] || ((${jv%%.*} < 17)); then
    die "Kafka $KAFKA_VERSION needs Java 17+, $JAVA is '${jv:-unknown}'"
  fi

  ensure_jars

  mkdir -p "$STATE_DIR"
  chmod 700 "$STATE_DIR"
  ((CLUSTER == 0)) || printf '%s\n' "$NODES" >"$NODES_FILE"
  load_or_create_credentials
  write_log4j_config
  for ((i = 1; i <= NODES; i++)); do
    select_node "$i"
    mkdir -p "$N_DIR" "$N_DATA"
    chmod 700 "$N_DIR"
    write_config
  done
  format_nodes

  t0=$SECONDS
  for i in "${todo[@]}"; do
    select_node "$i"
    if ((CLUSTER)); then
      log "starting node $i of $NODES (Kafka $KAFKA_VERSION, PLAINTEXT $ADV_HOST:$N_ADV_PORT, SASL_PLAINTEXT $ADV_HOST:$N_ADV_SASL_PORT, log $N_LOG) ..."
    else
      log "starting Kafka $KAFKA_VERSION (PLAINTEXT $ADV_HOST:$ADV_PORT, SASL_PLAINTEXT $ADV_HOST:$ADV_SASL_PORT, log $N_LOG) ..."
    fi
    launch_node
    pids[i]="$PID"
  done

  if ((CLUSTER)) && [[ -n "$target" ]]; then
    quorum=$((NODES / 2 + 1))
    if (($(running_count) < quorum)); then
      log "node $target started (pid ${pids[$target]}), but fewer than $quorum of $NODES nodes run: it answers once a majority of the controllers runs (start another node); not waiting"
      return 0
    fi
  fi
  all_ids="$(node_list "" | tr '\n' ' ')"
  deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    want=0
    for i in "${todo[@]}"; do
      select_node "$i"
      if ! kill -0 "${pids[$i]}" 2>/dev/null; then
        log "$(node_name) process exited during startup; last 50 lines of $N_LOG:"
        tail -n 50 "$N_LOG" >&2 || true
        rm -f "$N_PID"
        unset "pids[$i]"
        ((${#pids[@]} == 0)) || stop_nodes "${!pids[@]}"
        die "Kafka failed to start"
      fi
      if [[ -z "${ready[$i]:-}" ]] && grep -q 'Kafka Server started' "$N_LOG" 2>/dev/null &&
         api_versions_ok "$N_PORT" && api_versions_ok "$N_SASL_PORT"; then
        ready[i]=1
        ((CLUSTER == 0)) || log "node $i answers after $((SECONDS - t0)) s"
      fi
      [[ -n "${ready[$i]:-}" ]] || want=1
    done
    if ((want == 0)); then
      if ((CLUSTER == 0)); then
        log "ready after $((SECONDS - t0)) s: pid ${pids[1]}, PLAINTEXT 127.0.0.1:$N_PORT, SASL_PLAINTEXT 127.0.0.1:$N_SASL_PORT (user '$SASL_USER', password in $SASL_ENV)"
        return 0
      fi
      if [[ -n "$target" ]]; then
        select_node "$target"
        if sees_brokers "$N_PORT" "$target"; then
          log "node $target ready after $((SECONDS - t0)) s: pid ${pids[$target]}, PLAINTEXT 127.0.0.1:$N_PORT, SASL_PLAINTEXT 127.0.0.1:$N_SASL_PORT; live brokers: $(metadata_broker_ids "$N_PORT")"
          return 0
        fi
      else
        for ((i = 1; i <= NODES; i++)); do
          select_node "$i"
          sees_brokers "$N_PORT" "$all_ids" || { want=1; break; }
        done
        if ((want == 0)); then
          log "cluster ready after $((SECONDS - t0)) s: $NODES nodes, $NODES brokers registered; PLAINTEXT $(env_list port), SASL_PLAINTEXT $(env_list sasl) (user '$SASL_USER', password in $SASL_ENV)"
          return 0
        fi
      fi
    fi
    sleep 0.5
  done
  for i in "${todo[@]}"; do
    select_node "$i"
    if ((CLUSTER)); then
      log "node $i: $([[ -n "${ready[$i]:-}" ]] && echo answers || echo "does not answer"); live brokers it sees: $(metadata_broker_ids "$N_PORT" || echo '?'); last 30 lines of $N_LOG:"
      tail -n 30 "$N_LOG" >&2 || true
    else
      log "timed out after ${START_TIMEOUT} s waiting for the broker to answer on 127.0.0.1:$N_PORT; last 50 lines of $N_LOG:"
      tail -n 50 "$N_LOG" >&2 || true
    fi
  done
  stop_nodes "${todo[@]}"
  if ((CLUSTER)); then
    die "the cluster did not become ready within ${START_TIMEOUT} s (the nodes this command started were stopped; logs: $STATE_DIR/node*/kafka.log)"
  fi
  die "Kafka did not become ready within ${START_TIMEOUT} s (the broker was stopped; full log: $N_LOG)"
}

cmd_stop() {
  take_lock
  # shellcheck disable=SC2046 # node numbers
  stop_nodes $(node_list "${1:-}")
}

cmd_restart() {
  local target="${1:-}"
  take_lock
  if [[ "${KAFKA_FRESH:-0}" == "1" ]]; then
    cmd_start "$target" # stops the running nodes and wipes the state first
    return
  fi
  # fail on conflicting credentials before stopping a healthy broker
  load_existing_credentials || true
  cmd_stop "$target"
  cmd_start "$target"
}

# crash / pause / resume [N]: signal the node(s) at once, without the lock.
cmd_signal() {
  local verb="$1" target="${2:-}" i n rc=0
  for i in $(node_list "$target"); do
    select_node "$i"
    if ! PID="$(node_pid)"; then
      rm -f "$N_PID"
      if [[ "$verb" == crash ]]; then
        log "$(node_name) not running"
      else
        log "error: $(node_name) is not running"
        rc=1
      fi
      continue
    fi
    case "$verb" in
      crash)
        kill -KILL "$PID" 2>/dev/null || true
        for ((n = 0; n < 40; n++)); do
          is_our_broker "$PID" "$N_CONFIG" || break
          sleep 0.05
        done
        rm -f "$N_PID"
        log "$(node_name) crashed (SIGKILL to pid $PID)"
        ;;
      pause)
        kill -STOP "$PID"
        for ((n = 0; n < 40; n++)); do
          is_paused "$PID" && break
          sleep 0.05
        done
        log "$(node_name) paused (SIGSTOP to pid $PID)"
        ;;
      resume)
        kill -CONT "$PID"
        for ((n = 0; n < 40; n++)); do
          is_paused "$PID" || break
          sleep 0.05
        done
        log "$(node_name) resumed (SIGCONT to pid $PID)"
        ;;
    esac
  done
  return "$rc"
}

cmd_status() {
  local target="${1:-}" i n=0
  if ((CLUSTER == 0)) || [[ -n "$target" ]]; then
    select_node "${target:-1}"
    node_state
    case "$NSTATE" in
      running)
        printf '%s\n' "$PID"
        if ((CLUSTER)); then
          log "node $NODE running (pid $PID, PLAINTEXT $ADV_HOST:$N_ADV_PORT, SASL_PLAINTEXT $ADV_HOST:$N_ADV_SASL_PORT, state $N_DIR)"
        else
          log "running (pid $PID, PLAINTEXT $ADV_HOST:$ADV_PORT, SASL_PLAINTEXT $ADV_HOST:$ADV_SASL_PORT, state $STATE_DIR)"
        fi
        return 0
        ;;
      paused)
        printf '%s\n' "$PID"
        log "$(node_name) paused (pid $PID; resume with: $0 resume $NODE)"
        return 1
        ;;
    esac
    if ((CLUSTER)); then log "node $NODE not running (state $N_DIR)"; else log "not running (state $STATE_DIR)"; fi
    return 1
  fi
  for ((i = 1; i <= NODES; i++)); do
    select_node "$i"
    node_state
    [[ "$NSTATE" == running ]] && n=$((n + 1))
    printf '%s %s %s %s:%s %s:%s\n' "$i" "${PID:--}" "$NSTATE" "$ADV_HOST" "$N_ADV_PORT" "$ADV_HOST" "$N_ADV_SASL_PORT"
  done
  log "$n of $NODES nodes running (state $STATE_DIR)"
  ((n == NODES))
}

cmd_pid() {
  local target="${1:-}" i rc=0
  if ((CLUSTER == 0)) || [[ -n "$target" ]]; then
    select_node "${target:-1}"
    node_pid || { log "$(node_name) not running"; return 1; }
    return 0
  fi
  for ((i = 1; i <= NODES; i++)); do
    select_node "$i"
    node_pid || { printf -- '-\n'; rc=1; }
  done
  return "$rc"
}

# Comma-separated advertised addresses of every node: `env_list port` (PLAINTEXT)
# or `env_list sasl`.
env_list() {
  local i out=""
  for ((i = 1; i <= NODES; i++)); do
    select_node "$i"
    if [[ "$1" == sasl ]]; then
      out+="${out:+,}$ADV_HOST:$N_ADV_SASL_PORT"
    else
      out+="${out:+,}$ADV_HOST:$N_ADV_PORT"
    fi
  done
  printf '%s\n' "$out"
}

# `export NAME=value`, shell-quoted where needed (a plain address list is left as is).
env_line() {
  if [[ "$2" =~ ^[A-Za-z0-9.:,_-]+$ ]]; then
    printf 'export %s=%s\n' "$1" "$2"
  else
    printf 'export %s=%q\n' "$1" "$2"
  fi
}

cmd_env() {
  [[ -r "$SASL_ENV" ]] || die "no $SASL_ENV yet: run '$0 start' first"
  local user pass
  user="$(sed -n '/^KAFKA_SASL_USER=/{s///p;q;}' "$SASL_ENV")"
  pass="$(sed -n '/^KAFKA_SASL_PASSWORD=/{s///p;q;}' "$SASL_ENV")"
  env_line BRIDGE_TEST_KAFKA_BROKERS "$(env_list port)"
  env_line BRIDGE_TEST_KAFKA_SASL_BROKERS "$(env_list sasl)"
  printf 'export BRIDGE_TEST_KAFKA_SASL_USER=%q\n' "$user"
  printf 'export BRIDGE_TEST_KAFKA_SASL_PASSWORD=%q\n' "$pass"
}

# ---------------------------------------------------------------- arguments

VERB="${1:-}"
[[ $# -eq 0 ]] || shift
case "$VERB" in
  -h | --help | help)
    usage
    exit 0
    ;;
  start | stop | restart | status | env | crash | pause | resume | pid) ;;
  *)
    usage
    exit 2
    ;;
esac
TARGET=""
REQ_NODES="${KAFKA_NODES:-}"
while (($#)); do
  case "$1" in
    --nodes)
      (($# >= 2)) || die "--nodes needs a number"
      REQ_NODES="$2"
      shift 2
      ;;
    --nodes=*)
      REQ_NODES="${1#--nodes=}"
      shift
      ;;
    [0-9]*)
      [[ -z "$TARGET" && "$1" =~ ^[1-9][0-9]*$ ]] || die "invalid node number '$1'"
      [[ "$VERB" != env ]] || die "env takes no node number"
      TARGET="$1"
      shift
      ;;
    *)
      usage
      exit 2
      ;;
  esac
done
[[ -z "$REQ_NODES" ]] || valid_nodes "$REQ_NODES"

# The layout: an existing state folder keeps its node count (unless KAFKA_FRESH=1
# starts over); a new one gets --nodes / KAFKA_NODES, else 1.
case "$VERB" in start | stop | restart) take_lock ;; esac
STATE_NODES="$(state_nodes)"
OLD_NODES="$STATE_NODES"
if [[ "$VERB" == start || "$VERB" == restart ]] && [[ "${KAFKA_FRESH:-0}" == "1" ]]; then
  NEW_NODES="${REQ_NODES:-${STATE_NODES:-1}}"
else
  if [[ -n "$STATE_NODES" && -n "$REQ_NODES" && "$STATE_NODES" != "$REQ_NODES" ]]; then
    if [[ "$VERB" == start || "$VERB" == restart ]]; then
      die "$STATE_DIR holds a $STATE_NODES-node Kafka, not $REQ_NODES: use KAFKA_FRESH=1 to start over with $REQ_NODES (all data is lost), or another KAFKA_STATE_DIR"
    fi
    log "note: $STATE_DIR holds $STATE_NODES node(s); ignoring the requested $REQ_NODES"
  fi
  NEW_NODES="${STATE_NODES:-${REQ_NODES:-1}}"
fi
set_layout "$NEW_NODES"
check_ports
if [[ -n "$TARGET" ]] && ((TARGET > NODES)); then
  die "no node $TARGET: $STATE_DIR has $NODES node(s)"
fi

case "$VERB" in
  start) cmd_start "$TARGET" ;;
  stop) cmd_stop "$TARGET" ;;
  restart) cmd_restart "$TARGET" ;;
  status) cmd_status "$TARGET" ;;
  env) cmd_env ;;
  crash | pause | resume) cmd_signal "$VERB" "$TARGET" ;;
  pid) cmd_pid "$TARGET" ;;
esac
