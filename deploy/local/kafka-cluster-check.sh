#!/usr/bin/env bash
# deploy/local/kafka-cluster-check.sh - exercise the cluster mode of kafka.sh:
# start a 3-node cluster, create a topic with replication factor 3, produce and
# consume, authenticate with SCRAM on every node, then crash / pause / stop one
# node at a time and check after each fault that the cluster recovers (3 brokers
# registered, every partition's ISR back to 3, records still readable).
#
# Usage (the kafka.sh environment selects ports and state; KAFKA_FRESH=1 starts over):
#   KAFKA_STATE_DIR=/tmp/kafka-cluster-check KAFKA_PORT=19092 KAFKA_CONTROLLER_PORT=19093 \
#     KAFKA_SASL_PORT=19094 KAFKA_FRESH=1 deploy/local/kafka-cluster-check.sh
# The cluster is stopped at the end unless KAFKA_CHECK_KEEP=1.
# Environment: KAFKA_CHECK_TIMEOUT  seconds to wait for each recovery (default 90)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
KAFKA="$HERE/kafka.sh"
TIMEOUT="${KAFKA_CHECK_TIMEOUT:-90}"
TOPIC="cluster-check-$(date +%s)"
PARTITIONS=3
LIB_DIR="${KAFKA_CACHE_DIR:-$HOME/.cache/webhook-bridge/kafka-${KAFKA_VERSION:-4.1.1}}/lib"
TMP="$(mktemp -d)"
SENT=0

say() { printf '== %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

cleanup() {
  local rc=$?
  if [[ "${KAFKA_CHECK_KEEP:-0}" != "1" ]]; then
    "$KAFKA" stop || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT

# The CLI tools log warnings and errors to stderr; stdout is their output.
cat >"$TMP/log4j2.properties" <<'EOF'
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF

# A Kafka CLI tool from the jars.
tool() {
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$TMP/log4j2.properties" -cp "$LIB_DIR/*" "$@"
}

# The ids of the registered (unfenced) brokers, space-separated, sorted.
brokers() {
  tool org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$BRIDGE_TEST_KAFKA_BROKERS" 2>/dev/null |
    sed -n 's/.*(id: \([0-9]*\) .*/\1/p' | sort -n | tr '\n' ' ' | sed 's/ $//'
}

# "<partition>:<isr>" per partition of the topic, e.g. "0:1,2,3 1:2,3,1 2:3,1,2".
isrs() {
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BRIDGE_TEST_KAFKA_BROKERS" --describe --topic "$TOPIC" 2>/dev/null |
    sed -n 's/.*Partition: \([0-9]*\).*Isr: \([0-9,]*\).*/\1:\2/p' | tr '\n' ' ' | sed 's/ $//'
}

full_isr() {
  local s="$1" p n=0
  for p in $s; do
    [[ "${p#*:}" =~ ^[0-9]+,[0-9]+,[0-9]+$ ]] || return 1
    n=$((n + 1))
  done
  ((n == PARTITIONS))
}

# Wait until 3 brokers are registered and every partition has 3 in-sync replicas.
wait_recovered() {
  local what="$1" t0=$SECONDS b="" i=""
  while ((SECONDS - t0 < TIMEOUT)); do
    b="$(brokers || true)"
    if [[ "$b" == "1 2 3" ]]; then
      i="$(isrs || true)"
      if full_isr "$i"; then
        say "$what: recovered after $((SECONDS - t0)) s (brokers $b; ISR $i)"
        return 0
      fi
    fi
    sleep 1
  done
  fail "$what: not recovered after $TIMEOUT s (brokers '$b'; ISR '$i')"
}

# Wait until the registered brokers are exactly $2 (e.g. "1 3" once a node is fenced).
wait_brokers() {
  local what="$1" want="$2" t0=$SECONDS b=""
  while ((SECONDS - t0 < TIMEOUT)); do
    b="$(brokers || true)"
    if [[ "$b" == "$want" ]]; then
      say "$what: brokers $b after $((SECONDS - t0)) s; ISR $(isrs || true)"
      return 0
    fi
    sleep 0.5
  done
  fail "$what: brokers '$b' after $TIMEOUT s, want '$want'"
}

produce() {
  local n="$1" i
  for ((i = 1; i <= n; i++)); do printf 'record-%d\n' "$((SENT + i))"; done >"$TMP/in"
  tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$BRIDGE_TEST_KAFKA_BROKERS" --topic "$TOPIC" \
    --producer-property acks=all --producer-property enable.idempotence=true <"$TMP/in" >/dev/null
  SENT=$((SENT + n))
}

# Consume the whole topic and check every record sent so far is there exactly once.
consume_all() {
  local what="$1" got
  tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$BRIDGE_TEST_KAFKA_BROKERS" --topic "$TOPIC" \
    --from-beginning --max-messages "$SENT" --timeout-ms 30000 >"$TMP/out" 2>/dev/null || true
  got="$(sort -u "$TMP/out" | wc -l)"
  [[ "$got" == "$SENT" && "$(wc -l <"$TMP/out")" == "$SENT" ]] || fail "$what: consumed $(wc -l <"$TMP/out") records ($got distinct), want $SENT"
  say "$what: consumed all $SENT records"
}

# SCRAM-SHA-512 login on node $1's SASL listener.
sasl_login() {
  local node="$1" addr
  addr="$(cut -d, -f"$node" <<<"$BRIDGE_TEST_KAFKA_SASL_BROKERS")"
  cat >"$TMP/sasl.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$BRIDGE_TEST_KAFKA_SASL_USER" password="$BRIDGE_TEST_KAFKA_SASL_PASSWORD";
EOF
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$addr" --command-config "$TMP/sasl.properties" --list >"$TMP/topics" 2>&1 ||
    fail "SCRAM login on node $node ($addr): $(tail -n 3 "$TMP/topics")"
  grep -qx "$TOPIC" "$TMP/topics" || fail "SCRAM login on node $node ($addr): topic list lacks $TOPIC"
  say "SCRAM-SHA-512 login on node $node ($addr) works"
}

t0=$SECONDS
"$KAFKA" start --nodes 3
say "start --nodes 3 took $((SECONDS - t0)) s"
eval "$("$KAFKA" env)"
say "BRIDGE_TEST_KAFKA_BROKERS=$BRIDGE_TEST_KAFKA_BROKERS BRIDGE_TEST_KAFKA_SASL_BROKERS=$BRIDGE_TEST_KAFKA_SASL_BROKERS"
"$KAFKA" status
for pid in $("$KAFKA" pid); do
  say "JVM pid $pid: RSS $(($(ps -o rss= -p "$pid") / 1024)) MiB"
done

tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BRIDGE_TEST_KAFKA_BROKERS" --create \
  --topic "$TOPIC" --partitions "$PARTITIONS" --replication-factor 3 >/dev/null
wait_recovered "new topic"
produce 100
consume_all "start"
for n in 1 2 3; do sasl_login "$n"; done

say "crash 2, then start 2"
"$KAFKA" crash 2
wait_brokers "crash 2" "1 3"
produce 100 # acks=all with the ISR shrinking to 2 once node 2 is fenced
t1=$SECONDS
"$KAFKA" start 2
say "start 2 took $((SECONDS - t1)) s"
wait_recovered "crash 2 + start 2"
consume_all "crash 2 + start 2"

say "pause 3 for 12 s, then resume 3"
"$KAFKA" pause 3
"$KAFKA" status >/dev/null && fail "status exits 0 with node 3 paused"
sleep 12
say "after 12 s paused: brokers $(brokers || true); ISR $(isrs || true)"
"$KAFKA" resume 3
wait_recovered "pause 3 + resume 3"
produce 100
consume_all "pause 3 + resume 3"

say "stop 1, then start 1"
t1=$SECONDS
"$KAFKA" stop 1
say "stop 1 took $((SECONDS - t1)) s"
wait_brokers "stop 1" "2 3"
produce 100
t1=$SECONDS
"$KAFKA" start 1
say "start 1 took $((SECONDS - t1)) s"
wait_recovered "stop 1 + start 1"
consume_all "stop 1 + start 1"

"$KAFKA" status
for pid in $("$KAFKA" pid); do
  say "JVM pid $pid: RSS $(($(ps -o rss= -p "$pid") / 1024)) MiB"
done
say "all checks passed"
