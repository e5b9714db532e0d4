#!/usr/bin/env python3
"""End-to-end smoke test of the built binary against a running Kafka broker.

Usage: python3 .ci/smoke.py BINARY   (with BRIDGE_TEST_KAFKA_BROKERS set, as
.ci/run does). It creates topics under a fresh prefix, starts `serve`, posts
every shipped sample (bridge/testdata/samples) and every kind of bad input,
reads all topics back with kcat, and checks status codes, topics, keys,
partitions (against Java's own partitioner), headers and quarantine records
against the golden files (bridge/testdata/golden). Exits non-zero on any
mismatch and prints 'N passed, M failed'.

It leaves its topics in place for the conformance consumers
(topics/conformance), and with SMOKE_MANIFEST=FILE writes there one JSON line
per resource record it expects, computed from what it sent and the documented
rules (not read back from Kafka): topic, key, partitions, id, type, source,
subject, companyid, dataschema and the body (base64). SMOKE_PREFIX and
SMOKE_INTERNAL_PREFIX choose the resource and internal topic prefixes
(default: fresh random ones).
"""
import base64
import glob
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1]
BROKERS = os.environ["BRIDGE_TEST_KAFKA_BROKERS"]
PARTITIONS = 6
PREFIX = os.environ.get("SMOKE_PREFIX") or "smoke-%s." % secrets.token_hex(3)
# The quarantine and the company index live under their own prefix, so that
# the resource pattern ^PREFIX.* matches only resource topics.
INTERNAL_PREFIX = os.environ.get("SMOKE_INTERNAL_PREFIX") or "smoke-internal-%s." % secrets.token_hex(3)
MANIFEST = os.environ.get("SMOKE_MANIFEST")
TOKEN = secrets.token_hex(16)
CLIENT_SECRET = secrets.token_hex(16)
USER_PASSWORD = secrets.token_hex(16)
SIGNING_KEY = secrets.token_hex(32)
passed, failed = 0, 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def env(**extra):
    e = dict(os.environ)
    e.update({
        "BRIDGE_KAFKA_BROKERS": BROKERS,
        "BRIDGE_TOPIC_PREFIX": PREFIX,
        "BRIDGE_INTERNAL_TOPIC_PREFIX": INTERNAL_PREFIX,
        "BRIDGE_TOPIC_PARTITIONS": str(PARTITIONS),
        "BRIDGE_TOPIC_REPLICATION": "1",
        "BRIDGE_AUTH_MODE": "token,oauth2",
        "BRIDGE_AUTH_TOKENS": TOKEN,
        "BRIDGE_OAUTH_CLIENTS": "marketplace:" + CLIENT_SECRET,
        "BRIDGE_OAUTH_USERS": "appdirect:" + USER_PASSWORD,
        "BRIDGE_OAUTH_SIGNING_KEYS": SIGNING_KEY,
        "BRIDGE_SHUTDOWN_GRACE": "1s",
    })
    e.update(extra)
    return e


def post(url, body, headers=None, method="POST"):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=40) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def kcat_all(topic):
    out = subprocess.run(
        ["kcat", "-b", BROKERS, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-J"],
        check=True, capture_output=True, timeout=60).stdout.decode()
    recs = [json.loads(line) for line in out.splitlines() if line.strip()]
    for r in recs:
        h = r.get("headers") or []
        r["headers"] = dict(zip(h[0::2], h[1::2]))
    return recs


def java_partitions(keys):
    lib = glob.glob(os.path.expanduser("~/.cache/webhook-bridge/kafka-*/lib"))
    if not lib:
        raise SystemExit("no Kafka jars in ~/.cache/webhook-bridge (deploy/local/kafka.sh start fetches them)")
    out = subprocess.run(
        ["java", "-cp", lib[0] + "/*", os.path.join(ROOT, ".ci", "Partition.java"), str(PARTITIONS)],
        input="\n".join(keys) + "\n", check=True, capture_output=True, text=True, timeout=120).stdout
    return dict(zip(keys, (int(x) for x in out.split())))


def quarantine_topic():
    """The quarantine, under the internal prefix."""
    return INTERNAL_PREFIX + "deadletter"


# The documented rules a consumer relies on (docs/consumers.md), written
# again here from the rule, not from the bridge's code.
ACTIONS = {"ADDED": "added", "CHANGED": "changed", "REMOVED": "removed", "DELETED": "removed"}
DEFAULT_PORTS = {"http": 80, "https": 443}


def expected_source(url):
    """resource.url's lower-case scheme and host, with the port only when it
    is not the scheme's default; no userinfo, path, query or fragment.
    'appdirect' for a missing or relative URL."""
    try:
        u = urllib.parse.urlsplit(url or "")
        port = u.port
    except ValueError:
        return "appdirect"
    if not u.scheme or not u.hostname:
        return "appdirect"
    scheme, host = u.scheme.lower(), u.hostname.lower()
    if ":" in host:
        host = "[%s]" % host
    if port is None or DEFAULT_PORTS.get(scheme) == port:
        return "%s://%s" % (scheme, host)
    return "%s://%s:%d" % (scheme, host, port)


def expectation(name, body, key, companyid):
    """The manifest line of a resource record: what a consumer must read for
    body, routed to topic name `name` and keyed by `key`."""
    env = json.loads(body)
    res = env.get("resource") or {}
    return {
        "topic": PREFIX + name,
        "key": key,
        "partitions": PARTITIONS,
        "id": env["uuid"],
        "type": "com.appdirect.%s.%s" % (name, ACTIONS[env["resourceAction"]]),
        "source": expected_source(res.get("url")),
        "subject": res.get("uuid") or None,
        "companyid": companyid,
        "dataschema": "urn:webhook-bridge:schema:%s:v1" % name,
        "body": base64.b64encode(body).decode(),
    }


def source_variants():
    """Deliveries beyond the samples, for the consumers' checks of the
    documented rules: aliases, DELETED, and resource.url in every form that
    `source` normalizes. Each is (topic name, body, key, companyid)."""
    h = secrets.token_hex(4)
    order, company = "order-src-" + h, "company-src-" + h
    out = []

    def add(name, typ, action, res_uuid, url, content, key, companyid):
        res = {"type": typ, "uuid": res_uuid}
        if url is not None:
            res["url"] = url
        if content is not None:
            res["content"] = content
        body = json.dumps({"uuid": "src-%s-%d" % (h, len(out)), "timestamp": 1718035200123 + len(out),
                           "resource": res, "resourceAction": action}, ensure_ascii=False).encode() + b"\n"
        out.append((name, body, key, companyid))

    # An alias, and a host in mixed case: the host is lower-cased. The
    # content is not ASCII, for the byte-for-byte check of data.
    add("lead", "SALES_LEAD", "ADDED", "lead-" + h, "https://ACME.ByAppDirect.com/api/channel/v1/leads/lead-" + h,
        {"status": "NEW", "companyName": "Société Générale 株式会社", "note": "\u2028 \"quoted\" \\ 🚀"},
        "lead-" + h, None)
    # An alias, and a port that is not the default: kept.
    add("platform", "PLATFORMS", "CHANGED", "platform-" + h, "https://acme.byappdirect.com:8443/api/platform/v1/" + h,
        None, "platform-" + h, None)
    # The default port of https: dropped.
    add("order", "ORDER", "ADDED", order, "https://acme.byappdirect.com:443/api/billing/v1/orders/" + order,
        {"company": {"id": company}}, company, company)
    # DELETED is removed; a relative URL is no source; the index keys it.
    add("order", "ORDER", "DELETED", order, "/api/billing/v1/orders/" + order, None, company, company)
    # Scheme and host case, userinfo, the default port of http, a query and
    # a fragment: only http://host is left. The company is in the path.
    add("subscription", "SUBSCRIPTION", "CHANGED", "sub-" + h,
        "HTTP://ops@Store.ExampleCloud.IO:80/api/billing/v1/companies/company-url-%s/subscriptions/sub-%s?x=1#top" % (h, h),
        None, "company-url-" + h, "company-url-" + h)
    # No URL at all.
    add("user", "USER", "ADDED", "user-" + h, None,
        {"memberships": [{"company": {"id": "company-user-" + h}}]}, "company-user-" + h, "company-user-" + h)
    # Another port of http: kept.
    add("discount", "DISCOUNT", "ADDED", "discount-" + h, "http://acme.example:8080/api/discounts/" + h,
        None, "discount-" + h, None)
    return out


def main():
    r = subprocess.run([BIN, "topics", "create"], env=env(), capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and r.stdout.count(" created") == 17, "topics create: %s %s" % (r.stdout, r.stderr))
    r = subprocess.run([BIN, "topics", "create"], env=env(), capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and r.stdout.count(" exists") == 17, "topics create twice is idempotent: %s" % r.stdout)

    port, admin_port = free_port(), free_port()
    base = "http://127.0.0.1:%d" % port
    admin = "http://127.0.0.1:%d" % admin_port
    log = open("/tmp/webhook-bridge-smoke.log", "w")
    proc = subprocess.Popen([BIN, "serve"], env=env(BRIDGE_HTTP_ADDR="127.0.0.1:%d" % port, BRIDGE_ADMIN_ADDR="127.0.0.1:%d" % admin_port), stdout=log, stderr=log)
    os.environ["SMOKE_PID"] = str(proc.pid)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(admin + "/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise SystemExit("serve never became ready; see /tmp/webhook-bridge-smoke.log")
            time.sleep(0.1)

        auth = {"X-AppDirect-Webhook-Token": TOKEN}
        expected = {}  # topic -> list of golden records
        known = {}  # (topic, resource uuid) -> company, as the company index learns it
        indexed = []  # REMOVED samples keyed through the index
        manifest = []  # every resource record a consumer must read (SMOKE_MANIFEST)
        samples = sorted(glob.glob(os.path.join(ROOT, "bridge/testdata/samples/*.json")))
        check(len(samples) == 41, "41 samples (every resource x supported action), found %d" % len(samples))
        for path in samples:
            name = os.path.basename(path)
            body = open(path, "rb").read()
            golden = json.load(open(os.path.join(ROOT, "bridge/testdata/golden", name)))
            golden["topic"] = PREFIX + golden["topic"].split(".", 1)[1]
            golden["body"] = body
            hdrs = {h["key"]: h["value"] for h in golden["headers"]}
            entity = (golden["topic"], golden["value"].get("subject"))
            if hdrs["company-id-source"] != "none" and not name.startswith("company-"):
                known[entity] = golden["key"]
            elif hdrs["action"] == "removed" and entity in known:
                # The company index: a REMOVED event names no company, but
                # this run's earlier event of the same entity did.
                company = known.pop(entity)
                golden["key"] = company
                golden["headers"] = [h for h in golden["headers"] if h["key"] != "company-id-source"] + [
                    {"key": "company-id", "value": company},
                    {"key": "company-ids", "value": company},
                    {"key": "company-id-source", "value": "index"},
                ]
                golden["value"]["companyid"] = company
                indexed.append(name)
            status, _, resp = post(base + "/webhooks", body, auth)
            check(status == 202, "%s: status %d %s" % (name, status, resp[:200]))
            if status == 202:
                j = json.loads(resp)
                check(j.get("topic") == golden["topic"] and j.get("key") == golden["key"], "%s: 202 body %s" % (name, j))
            expected.setdefault(golden["topic"], []).append(golden)
            manifest.append(expectation(golden["topic"][len(PREFIX):], body, golden["key"], golden["value"].get("companyid")))

        bad = [
            ("wrong token", b'{"uuid":"x"}', {"X-AppDirect-Webhook-Token": "wrong"}, 401, "unauthorized", False),
            ("no token", b'{"uuid":"x"}', {}, 401, "unauthorized", False),
            ("not json", b"{not json", auth, 400, "invalid_json", True),
            ("empty body", b"", auth, 400, "invalid_json", True),
            ("array", b"[1,2]", auth, 400, "invalid_envelope", True),
            ("duplicate keys", b'{"uuid":"d1","uuid":"d2","resource":{"type":"USER"},"resourceAction":"ADDED"}', auth, 400, "invalid_json", True),
            ("timestamp as string", b'{"uuid":"ts-1","timestamp":"abc","resource":{"type":"USER"},"resourceAction":"ADDED"}', auth, 400, "invalid_envelope", True),
            ("missing type", b'{"uuid":"mt-1","resource":{},"resourceAction":"ADDED"}', auth, 400, "invalid_envelope", True),
            ("unknown type", b'{"uuid":"ut-1","resource":{"type":"SALES_OPPORTUNITY"},"resourceAction":"ADDED"}', auth, 422, "unknown_resource", True),
            ("lower-case type", b'{"uuid":"lc-1","resource":{"type":"user"},"resourceAction":"ADDED"}', auth, 422, "unknown_resource", True),
            ("unsupported action", b'{"uuid":"ua-1","resource":{"type":"RESELLER_REGISTRANT","uuid":"r"},"resourceAction":"CHANGED"}', auth, 422, "unsupported_action", True),
        ]
        quarantined = []
        for name, body, headers, want, code, q in bad:
            status, _, resp = post(base + "/webhooks", body, headers)
            try:
                j = json.loads(resp)
            except ValueError:
                j = {}
            check(status == want and j.get("error") == code, "%s: got %d %s, want %d %s" % (name, status, resp[:200], want, code))
            if q:
                quarantined.append((body, code))
        # A body over the limit is refused from its Content-Length, before it
        # is sent (the client asks with Expect: 100-continue, as curl does).
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.putrequest("POST", "/webhooks")
        conn.putheader("Content-Length", str(2 << 20))
        conn.putheader("Expect", "100-continue")
        conn.putheader("X-AppDirect-Webhook-Token", TOKEN)
        conn.endheaders()
        resp = conn.getresponse()
        j = json.loads(resp.read())
        check(resp.status == 413 and j.get("error") == "body_too_large", "too large: %d %s" % (resp.status, j))
        conn.close()
        status, _, _ = post(base + "/webhooks", None, auth, method="GET")
        check(status == 405, "GET /webhooks: %d, want 405" % status)
        status, _, _ = post(base + "/nowhere", b"{}", auth)
        check(status == 404, "POST /nowhere: %d, want 404" % status)

        check(len(indexed) >= 5, "REMOVED samples keyed by the company index: %s" % indexed)
        keys = sorted({g["key"] for gs in expected.values() for g in gs})
        parts = java_partitions(keys)
        for topic, goldens in sorted(expected.items()):
            recs = kcat_all(topic)
            check(len(recs) == len(goldens), "%s: %d records, want %d" % (topic, len(recs), len(goldens)))
            by_id = {r["headers"].get("event-id"): r for r in recs}
            for g in goldens:
                want_headers = {h["key"]: h["value"] for h in g["headers"]}
                r = by_id.get(want_headers["event-id"])
                if r is None:
                    check(False, "%s: event %s missing" % (topic, want_headers["event-id"]))
                    continue
                check(r["key"] == g["key"], "%s: key %s, want %s" % (topic, r["key"], g["key"]))
                check(r["partition"] == parts[g["key"]], "%s: key %s in partition %d, Java's partitioner says %d" % (topic, g["key"], r["partition"], parts[g["key"]]))
                check(r["headers"] == want_headers, "%s: headers %s, want %s" % (topic, r["headers"], want_headers))
                value = json.loads(r["payload"])
                check(value == g["value"], "%s: value differs from golden" % topic)
                check(json.loads(g["body"]) == value["data"], "%s: data is not the posted body" % topic)
        recs = kcat_all(quarantine_topic())
        check(len(recs) == len(quarantined), "quarantine: %d records, want %d" % (len(recs), len(quarantined)))
        got = sorted((r["payload"] or "", r["headers"].get("error")) for r in recs)
        want = sorted((b.decode(), c) for b, c in quarantined)
        check(got == want, "quarantine holds %s, want %s" % (got, want))

        # OAuth2: the marketplace fetches a token from /oauth/token, then
        # delivers with it as a Bearer token.
        oauth_events = []
        for grant in ("client_credentials", "password"):
            form = {"grant_type": grant}
            if grant == "password":
                form.update(username="appdirect", password=USER_PASSWORD)
            basic = base64.b64encode(("marketplace:" + CLIENT_SECRET).encode()).decode()
            req = urllib.request.Request(base + "/oauth/token", data=urllib.parse.urlencode(form).encode(), method="POST")
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
            req.add_header("Authorization", "Basic " + basic)
            with urllib.request.urlopen(req, timeout=30) as resp:
                tok = json.loads(resp.read())
            check(tok.get("token_type") == "Bearer" and tok.get("expires_in", 0) > 0, "%s token response %s" % (grant, tok))
            event_id = "oauth-%s-%s" % (grant, secrets.token_hex(4))
            body = json.dumps({"uuid": event_id, "timestamp": 1718035200123, "resourceAction": "ADDED",
                               "resource": {"type": "ORDER", "uuid": "order-" + grant,
                                            "content": {"company": {"id": "company-oauth"}}}}).encode()
            status, _, resp = post(base + "/webhooks", body, {"Authorization": "Bearer " + tok["access_token"]})
            check(status == 202, "%s Bearer delivery: %d %s" % (grant, status, resp[:200]))
            oauth_events.append(event_id)
            manifest.append(expectation("order", body, "company-oauth", "company-oauth"))
        req = urllib.request.Request(base + "/oauth/token", data=b"grant_type=client_credentials", method="POST")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        req.add_header("Authorization", "Basic " + base64.b64encode(b"marketplace:wrong").decode())
        try:
            urllib.request.urlopen(req, timeout=30)
            check(False, "token endpoint accepted a wrong client secret")
        except urllib.error.HTTPError as e:
            check(e.code == 401 and json.loads(e.read()).get("error") == "invalid_client", "wrong client secret: %d" % e.code)
        status, hdrs, _ = post(base + "/webhooks", b'{"uuid":"x"}', {"Authorization": "Bearer not.a.token"})
        challenge = {k.lower(): v for k, v in hdrs.items()}.get("www-authenticate", "")
        check(status == 401 and challenge.startswith("Bearer"), "forged Bearer: %d %s" % (status, hdrs))
        recs = {r["headers"].get("event-id"): r for r in kcat_all(PREFIX + "order")}
        for event_id in oauth_events:
            r = recs.get(event_id)
            check(r is not None and r["key"] == "company-oauth", "OAuth2 delivery %s in Kafka keyed by its company: %s" % (event_id, r))

        for name, body, key, companyid in source_variants():
            status, _, resp = post(base + "/webhooks", body, auth)
            check(status == 202, "%s variant: status %d %s" % (name, status, resp[:200]))
            if status == 202:
                j = json.loads(resp)
                check(j.get("topic") == PREFIX + name and j.get("key") == key, "%s variant: 202 body %s, want key %s" % (name, j, key))
            manifest.append(expectation(name, body, key, companyid))
        if MANIFEST:
            with open(MANIFEST, "w") as f:
                for line in manifest:
                    f.write(json.dumps(line, sort_keys=True) + "\n")
            print("smoke: wrote %d expected resource records to %s" % (len(manifest), MANIFEST))
        print("smoke: resource prefix %s, internal prefix %s; topics left in place" % (PREFIX, INTERNAL_PREFIX))

        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
            check(rc == 0, "serve exit code after SIGTERM: %d" % rc)
        except subprocess.TimeoutExpired:
            check(False, "serve did not exit within 30s of SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    with open("/tmp/webhook-bridge-smoke.log") as f:
        logtext = f.read()
    for secret in (TOKEN, CLIENT_SECRET, USER_PASSWORD, SIGNING_KEY):
        check(secret not in logtext, "a secret appears in the log")
    print("smoke: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
