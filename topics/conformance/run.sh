#!/usr/bin/env bash
# Builds and runs one conformance consumer over what .ci/smoke.py published
# (docs/development.md, "Conformance consumers"):
#
#   topics/conformance/run.sh java|python RESOURCE_PREFIX MANIFEST
#
# with BRIDGE_TEST_KAFKA_BROKERS set. Java builds with Maven (reusing
# ~/.m2); Python installs its clients into the venv CONFORMANCE_VENV
# (default ${TMPDIR:-/tmp}/webhook-bridge-conformance-venv). Exits non-zero
# when the consumer found any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -ne 3 ]; then
  echo "usage: $0 java|python RESOURCE_PREFIX MANIFEST" >&2
  exit 2
fi
lang="$1" prefix="$2" manifest="$3"
: "${BRIDGE_TEST_KAFKA_BROKERS:?set BRIDGE_TEST_KAFKA_BROKERS, e.g. eval \"\$(deploy/local/kafka.sh env)\"}"
case "$lang" in
java)
  # Debian's Maven 3.8 writes stray colour resets even with -B; drop them.
  mvn -q -B -f "$here/java/pom.xml" compile 2>&1 | sed 's/\x1b\[0m//g'
  exec java -cp "$here/java/target/classes:$(cat "$here/java/target/classpath.txt")" conformance.Conformance \
    --brokers "$BRIDGE_TEST_KAFKA_BROKERS" --prefix "$prefix" --manifest "$manifest"
  ;;
python)
  venv="${CONFORMANCE_VENV:-${TMPDIR:-/tmp}/webhook-bridge-conformance-venv}"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/python/requirements.txt"
  exec "$venv/bin/python" "$here/python/conformance.py" \
    --brokers "$BRIDGE_TEST_KAFKA_BROKERS" --prefix "$prefix" --manifest "$manifest"
  ;;
*)
  echo "$0: unknown consumer $lang (java or python)" >&2
  exit 2
  ;;
esac
