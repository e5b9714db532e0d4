#!/usr/bin/env bash
# deploy/local/outage-soak.sh - keep `webhook-bridge serve` running through a
# long Kafka outage and show that its goroutines and memory stay flat.
#
# Usage (from the repository root):
#   deploy/local/outage-soak.sh [OUTAGE_SECONDS]     # default 600 (10 minutes)
#
# It starts a broker of its own (deploy/local/kafka.sh on ports 29192-29194,
# state in a temporary folder), creates the topics, builds and starts the
# bridge, and sends webhooks at about 20 per second for the whole run. After
# 30 s of normal service it stops the broker for OUTAGE_SECONDS, then starts
# it again and runs 60 s more. Every 60 s, and at the start, middle and end of
# the outage and after recovery, it prints the bridge's goroutines, RSS and
# Go heap (from /metrics) and the answers so far by status. It stops
# everything it started. Not a CI test: it takes OUTAGE_SECONDS + about 2 min.
set -euo pipefail
cd "$(dirname "$0")/../.."
outage="${1:-600}"
work="$(mktemp -d /tmp/webhook-bridge-soak.XXXXXX)"
export KAFKA_STATE_DIR="$work/kafka" KAFKA_PORT=29192 KAFKA_CONTROLLER_PORT=29193 KAFKA_SASL_PORT=29194 KAFKA_FRESH=1
http_port=29180
admin_port=29190
bridge_pid="" sender_pid=""
cleanup() {
  [ -n "$sender_pid" ] && kill "$sender_pid" 2>/dev/null || true
  [ -n "$bridge_pid" ] && kill "$bridge_pid" 2>/dev/null && wait "$bridge_pid" 2>/dev/null || true
  deploy/local/kafka.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

deploy/local/kafka.sh start >/dev/null
unset KAFKA_FRESH # the restart after the outage keeps the data
go build -o "$work/webhook-bridge" ./cmd/webhook-bridge
token="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export BRIDGE_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" BRIDGE_TOPIC_REPLICATION=1 BRIDGE_TOPIC_PREFIX="soak." BRIDGE_INTERNAL_TOPIC_PREFIX="soak-internal." \
  BRIDGE_HTTP_ADDR="127.0.0.1:$http_port" BRIDGE_ADMIN_ADDR="127.0.0.1:$admin_port" BRIDGE_AUTH_TOKENS="$token" BRIDGE_LOG_LEVEL=warn
"$work/webhook-bridge" topics create >/dev/null
"$work/webhook-bridge" serve 2>"$work/bridge.log" &
bridge_pid=$!
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done

# About 20 webhooks a second, each a new event, each answer's status logged.
sample="$(cat bridge/testdata/samples/subscription-added.json)"
event_id="$(grep -m1 -o '"uuid": "[^"]*"' <<<"$sample" | cut -d'"' -f4)"
(
  i=0
  while :; do
    i=$((i + 1))
    body="${sample/$event_id/soak-$i-$RANDOM}" # a new event each time
    curl -s -o /dev/null -w '%{http_code}\n' -m 30 -H "X-AppDirect-Webhook-Token: $token" \
      -H 'Content-Type: application/json' --data-binary "$body" "http://127.0.0.1:$http_port/webhooks" >>"$work/status.log" &
    sleep 0.05
  done
) &
sender_pid=$!

metric() { curl -fsS "http://127.0.0.1:$admin_port/metrics" | awk -v m="$1" '$1 == m { printf "%.0f", $2 }'; }
sample_line() {
  local what="$1" g rss heap answers
  g="$(metric go_goroutines)"
  rss="$(metric process_resident_memory_bytes)"
  heap="$(metric go_memstats_heap_inuse_bytes)"
  answers="$(sort "$work/status.log" 2>/dev/null | uniq -c | awk '{printf "%s×%s ", $2, $1}')"
  awk -v w="$what" -v t="$SECONDS" -v g="$g" -v r="$rss" -v h="$heap" -v a="$answers" \
    'BEGIN { printf "%-22s t=%5ss goroutines=%-4s rss=%6.1f MiB heap=%6.1f MiB answers: %s\n", w, t, g, r / 1048576, h / 1048576, a }'
}

SECONDS=0
sleep 30
sample_line "before the outage"
deploy/local/kafka.sh stop >/dev/null
sample_line "outage start"
minutes=$(((outage + 59) / 60))
for ((m = 1; m <= minutes; m++)); do
  sleep 60
  if ((m == minutes)); then sample_line "outage end"
  elif ((m == minutes / 2)); then sample_line "outage middle"
  else sample_line "outage"; fi
done
deploy/local/kafka.sh start >/dev/null
for _ in $(seq 1 150); do
  [ "$(tail -n 5 "$work/status.log" | grep -c '^202$')" -ge 5 ] && break
  sleep 0.2
done
sample_line "broker back"
sleep 60
sample_line "60 s after recovery"
