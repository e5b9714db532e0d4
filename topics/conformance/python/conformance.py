#!/usr/bin/env python3
"""A conformance consumer with confluent-kafka and the CloudEvents Python SDK.

It subscribes by the documented pattern (^<resource prefix>.*) from the
beginning, decodes every record with the SDK (cloudevents.core.bindings.kafka)
and checks it against the manifest that .ci/smoke.py wrote from what it sent:
id, type, source, subject, the companyid extension, dataschema, data byte for
byte in the raw value, the record key, and the partition (murmur2 exactly as
Kafka's Java producer computes it). Every expected record must be read
exactly once, and every record read must be an expected CloudEvent. Prints
"N checked, M failed"; exits 1 on any failure.

    conformance.py --brokers 127.0.0.1:9092 --prefix smoke-ab12cd. --manifest manifest.jsonl

CONFORMANCE_BREAK=key expects a wrong key for the first manifest record, to
show that a broken check fails the run.
"""
import argparse
import base64
import json
import os
import re
import sys
import time
import uuid
from collections import Counter

from cloudevents.core.bindings import kafka as cekafka
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

SHOW_PER_CHECK = 10
failures = Counter()


def fail(check, detail):
    failures[check] += 1
    if failures[check] <= SHOW_PER_CHECK:
        print("FAIL %s: %s" % (check, detail))
    elif failures[check] == SHOW_PER_CHECK + 1:
        print("FAIL %s: (further %s failures counted, not shown)" % (check, check))
    return False


def murmur2(data):
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a
    signed 32-bit int, with Java's int arithmetic emulated."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length & ~3
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key, partitions):
    """The Java producer's default partition of a keyed record:
    toPositive(murmur2(key)) % partitions."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


_ws = " \t\n\r"


def data_member(value):
    """The text of the top-level "data" member of a structured CloudEvent:
    everything between its colon and the ',' or '}' after it, which is the
    webhook body exactly as the bridge embedded it. None when there is none."""
    if value is None:
        return None
    s = value.decode("utf-8")
    dec = json.JSONDecoder()
    i = len(s) - len(s.lstrip(_ws))
    if s[i:i + 1] != "{":
        return None
    i += 1
    while True:
        while s[i:i + 1] in _ws and i < len(s):
            i += 1
        if s[i:i + 1] != '"':
            return None
        name, i = json.decoder.scanstring(s, i + 1)
        while s[i:i + 1] in _ws and i < len(s):
            i += 1
        if s[i:i + 1] != ":":
            return None
        start = i + 1
        while s[start:start + 1] in _ws and start < len(s):
            start += 1
        _, end = dec.raw_decode(s, start)
        while s[end:end + 1] in _ws and end < len(s):
            end += 1
        if name == "data":
            return s[i + 1:end].encode("utf-8")
        if s[end:end + 1] != ",":
            return None
        i = end + 1


def read_manifest(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            e = json.loads(line)
            e["key"] = e["key"].encode("utf-8")
            e["body"] = base64.b64decode(e["body"])
            k = (e["topic"], e["id"])
            if k in out:
                raise SystemExit("%s: event %s listed twice for %s" % (path, e["id"], e["topic"]))
            out[k] = e
    return out


def show(v):
    return "absent" if v is None else json.dumps(v if not isinstance(v, bytes) else v.decode("utf-8", "replace"))


def check(msg, expected, seen, partition_counts):
    """Checks one record; reports every failed check and returns whether all passed."""
    where = "%s/%d@%d" % (msg.topic(), msg.partition(), msg.offset())
    headers = {k: (v or b"") for k, v in (msg.headers() or [])}
    value = msg.value()
    ct = headers.get("content-type", b"").decode("utf-8", "replace")
    what = "null value (tombstone)" if value is None else "%d-byte value" % len(value)
    binary = any(k.lower().startswith("ce_") for k in headers)
    # The Kafka protocol binding: structured mode is a CloudEvents media type
    # in content-type; binary mode has ce_ headers. Anything else is not a
    # CloudEvent, whatever its value happens to parse as.
    if not binary and not ct.startswith("application/cloudevents"):
        return fail("cloudevent", "%s: not a CloudEvent (%s, %s)" % (where, what, "content-type " + ct if ct else "no content-type header"))
    try:
        if value is None:
            raise ValueError("null value")
        ce = cekafka.from_kafka_event(cekafka.KafkaMessage(headers=headers, key=msg.key(), value=value))
    except Exception as ex:  # the SDK raises several types; any is a failure here
        return fail("cloudevent", "%s: not a CloudEvent (%s, content-type %s): %r" % (where, what, ct, ex))
    want = expected.get((msg.topic(), ce.get_id()))
    if want is None:
        return fail("unexpected", "%s: event %s is not in the manifest" % (where, ce.get_id()))
    ok = True
    k = (msg.topic(), ce.get_id())
    seen[k] += 1
    if seen[k] > 1:
        ok = fail("duplicate", "%s: event %s read more than once" % (where, ce.get_id()))
    for name, got in (("type", ce.get_type()), ("source", ce.get_source()), ("subject", ce.get_subject()),
                      ("companyid", ce.get_extension("companyid")), ("dataschema", ce.get_dataschema())):
        if got != want[name]:
            ok = fail(name, "%s: %s %s, want %s" % (where, name, show(got), show(want[name])))
    try:
        data = data_member(value)
    except ValueError:
        data = None
    if data != want["body"]:
        ok = fail("data", "%s: data member is not the posted body byte for byte (%s, want %d bytes)"
                  % (where, "none" if data is None else "%d bytes" % len(data), len(want["body"])))
    if msg.key() != want["key"]:
        ok = fail("key", "%s: key %s, want %s" % (where, show(msg.key()), show(want["key"])))
    if partition_counts.get(msg.topic()) != want["partitions"]:
        ok = fail("partition", "%s: topic has %s partitions, want %d" % (where, partition_counts.get(msg.topic()), want["partitions"]))
    part = partition_for_key(want["key"], want["partitions"])
    if msg.partition() != part:
        ok = fail("partition", "%s: key %s in partition %d, Kafka's partitioner says %d" % (where, show(want["key"]), msg.partition(), part))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", default=os.environ.get("BRIDGE_TEST_KAFKA_BROKERS"))
    ap.add_argument("--prefix", required=True, help="the resource topic prefix, e.g. smoke-ab12cd.")
    ap.add_argument("--manifest", required=True, help="JSON lines written by .ci/smoke.py")
    args = ap.parse_args()
    if not args.brokers:
        ap.error("--brokers or BRIDGE_TEST_KAFKA_BROKERS is required")

    # Known values, so that a murmur2 that drifted from Java's fails here
    # rather than as a partition mismatch (Kafka's UtilsTest.testMurmur2).
    for word, want in ((b"21", -973932308), (b"foobar", -790332482), (b"a-little-bit-long-string", -985981536),
                       (b"a-little-bit-longer-string", -1486304829),
                       (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971), (b"abc", 479470107)):
        if murmur2(word) != want:
            raise SystemExit("murmur2(%r) = %d, Java's is %d" % (word, murmur2(word), want))

    expected = read_manifest(args.manifest)
    if not expected:
        fail("manifest", "%s lists no records" % args.manifest)
    if os.environ.get("CONFORMANCE_BREAK") == "key":
        first = next(iter(expected))
        expected[first]["key"] += b"-broken"
        print("CONFORMANCE_BREAK=key: expecting a wrong key for %s %s" % first)

    # The documented subscription: every resource topic, and nothing else.
    pattern = "^" + re.sub(r"([^A-Za-z0-9_-])", r"\\\1", args.prefix) + ".*"
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": "conformance-python-%s" % uuid.uuid4(),
        "client.id": "webhook-bridge-conformance-python",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    checked, failed = 0, 0
    seen = Counter()
    try:
        # Where every partition ends now: smoke.py has finished writing. One
        # batched ListOffsets (the consumer's get_watermark_offsets asks per
        # partition, about half a second each).
        admin = AdminClient({"bootstrap.servers": args.brokers})
        md = admin.list_topics(timeout=30)
        topics = sorted(t for t in md.topics if re.match(pattern, t))
        partition_counts = {t: len(md.topics[t].partitions) for t in topics}
        tps = [TopicPartition(t, p) for t in topics for p in md.topics[t].partitions]
        ends = {}
        for spec, i in ((OffsetSpec.earliest(), 0), (OffsetSpec.latest(), 1)):
            for tp, f in admin.list_offsets({tp: spec for tp in tps}, request_timeout=30).items():
                ends.setdefault((tp.topic, tp.partition), [0, 0])[i] = f.result().offset
        print("subscribed to %s: %d topics" % (pattern, len(topics)))
        consumer.subscribe([pattern])
        deadline = time.monotonic() + 90
        while True:
            msg = consumer.poll(0.5)
            if msg is not None:
                if msg.error():
                    fail("consumer", str(msg.error()))
                    failed += 1
                else:
                    checked += 1
                    if not check(msg, expected, seen, partition_counts):
                        failed += 1
            assigned = consumer.assignment()
            if assigned and set(topics) <= {tp.topic for tp in assigned}:
                done = True
                for tp in consumer.position(assigned):
                    low, high = ends.get((tp.topic, tp.partition), (0, 0))
                    if high > low and tp.offset < high:  # OFFSET_INVALID (< 0) until the first record
                        done = False
                if done:
                    break
            if time.monotonic() > deadline:
                fail("timeout", "did not reach the end of every partition within 90s (assigned %s)" % assigned)
                failed += 1
                break
    except KafkaException as ex:
        fail("consumer", str(ex))
        failed += 1
    finally:
        consumer.close()
    for (topic, event_id) in expected:
        if seen[(topic, event_id)] == 0:
            fail("missing", "%s %s: never read" % (topic, event_id))
            failed += 1
    print("read %d records; %d expected by the manifest" % (checked, len(expected)))
    if failures:
        print("failures by check: " + " ".join("%s=%d" % kv for kv in sorted(failures.items())))
    print("python conformance: %d checked, %d failed" % (checked, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
