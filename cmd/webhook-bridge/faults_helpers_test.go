package main

// The fault tests' harness: a real Kafka broker per test (deploy/local/kafka.sh
// on ports of its own, never the shared test broker), the real binary run as
// a subprocess, a bounded load generator, and the end-of-test check that
// nothing acknowledged was lost.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// faultsEnv turns the fault tests on. They need Java 17+ (and Maven once, to
// fetch the Kafka jars into ~/.cache/webhook-bridge) and take minutes.
const faultsEnv = "BRIDGE_TEST_FAULTS"

const (
	faultToken = "fault-token-3e8a1c07b5d94f62a0c1"
	// faultPublishTimeout is BRIDGE_PUBLISH_TIMEOUT in every fault test.
	faultPublishTimeout = 3 * time.Second
	// hangBound is the longest any request may take: the publish timeout
	// plus a generous second. Not a performance bound: it catches hangs.
	hangBound = faultPublishTimeout + time.Second
)

// requireFaults skips the test unless BRIDGE_TEST_FAULTS=1, and fails it
// instead under CI=true, where a skipped fault suite would pass unnoticed.
func requireFaults(t *testing.T) {
	t.Helper()
	if os.Getenv(faultsEnv) == "1" {
		return
	}
	const how = "BRIDGE_TEST_FAULTS=1 go test ./cmd/webhook-bridge/ -run Fault -count=1 -v -timeout 20m " +
		"(needs Java 17+; each test starts its own Kafka with deploy/local/kafka.sh on free ports)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not 1: under CI=true the fault tests must run, not skip; run %s", faultsEnv, how)
	}
	t.Skipf("fault tests are off; run them with %s", how)
}

// faultFreePorts returns n distinct free TCP ports on 127.0.0.1.
func faultFreePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out
}

// faultWaitFor polls cond every 50 ms until it holds, failing the test after
// within. It returns how long that took.
func faultWaitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond) // polling a process we do not control
	}
	return time.Since(start)
}

// ---------------------------------------------------------------- the broker

// faultBroker is a real single-node Kafka started by deploy/local/kafka.sh
// with its own ports and state folder; stop and start keep its data.
type faultBroker struct {
	script  string
	state   string
	port    int // the PLAINTEXT port it listens on
	advPort int // the PLAINTEXT port it advertises (a proxy's, or port)
	env     []string
}

// newFaultBroker prepares (does not start) a broker advertising
// 127.0.0.1:advertisedPort, or its own port when advertisedPort is 0. The
// broker is stopped when the test ends.
func newFaultBroker(t *testing.T, advertisedPort int) *faultBroker {
	t.Helper()
	script, err := filepath.Abs("../../deploy/local/kafka.sh")
	if err != nil {
		t.Fatal(err)
	}
	ports := faultFreePorts(t, 3)
	b := &faultBroker{script: script, state: filepath.Join(t.TempDir(), "kafka"), port: ports[0], advPort: advertisedPort}
	if b.advPort == 0 {
		b.advPort = b.port
	}
	b.env = append(os.Environ(),
		"KAFKA_PORT="+strconv.Itoa(ports[0]),
		"KAFKA_CONTROLLER_PORT="+strconv.Itoa(ports[1]),
		"KAFKA_SASL_PORT="+strconv.Itoa(ports[2]),
		"KAFKA_ADVERTISED_SASL_PORT="+strconv.Itoa(ports[2]),
		"KAFKA_STATE_DIR="+b.state,
		"KAFKA_ADVERTISED_HOST=127.0.0.1",
		"KAFKA_ADVERTISED_PORT="+strconv.Itoa(b.advPort),
		"KAFKA_FRESH=0",
	)
	t.Cleanup(func() {
		if out, err := b.script1("stop"); err != nil {
			t.Errorf("stop the test broker: %v\n%s", err, out)
		}
	})
	return b
}

func (b *faultBroker) script1(cmd string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, b.script, cmd)
	c.Env = b.env
	return c.CombinedOutput()
}

// start starts the broker and returns once it answers.
func (b *faultBroker) start(t *testing.T) {
	t.Helper()
	t0 := time.Now()
	if out, err := b.script1("start"); err != nil {
		t.Fatalf("kafka.sh start: %v\n%s", err, out)
	}
	t.Logf("broker on 127.0.0.1:%d (advertised :%d) started in %s", b.port, b.advPort, time.Since(t0).Round(time.Millisecond))
}

// stop stops the broker (SIGTERM, then SIGKILL after 30 s).
func (b *faultBroker) stop(t *testing.T) {
	t.Helper()
	t0 := time.Now()
	if out, err := b.script1("stop"); err != nil {
		t.Fatalf("kafka.sh stop: %v\n%s", err, out)
	}
	t.Logf("broker stopped in %s", time.Since(t0).Round(time.Millisecond))
}

// kafka is how clients reach the broker: its advertised address.
func (b *faultBroker) kafka() kafka.Config {
	return kafka.Config{Brokers: []string{"127.0.0.1:" + strconv.Itoa(b.advPort)}, DialTimeout: 5 * time.Second}
}

// ---------------------------------------------------------------- the bridge

// faultBuild builds the binary of this package into a folder of the test,
// with the race detector when BRIDGE_TEST_FAULTS_RACE=1 (RSS is then not the
// production figure).
func faultBuild(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "webhook-bridge")
	args := []string{"build", "-o", bin}
	if os.Getenv("BRIDGE_TEST_FAULTS_RACE") == "1" {
		args = append(args, "-race")
	}
	t0 := time.Now()
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(t0).Round(time.Millisecond))
	return bin
}

// faultBridge is `webhook-bridge serve` running as a subprocess.
type faultBridge struct {
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:port, the webhook port
	admin   string // the admin port's base URL
	logPath string
	exited  chan struct{}
	waitErr error
}

// startFaultBridge runs `serve` against kc with the test defaults (publish
// timeout 3 s, grace 1 s, shutdown timeout 10 s, or grace + publish timeout
// + 3 s when that is longer, a Kafka check every 2 s) overridden by env, and
// waits until /healthz answers. It does not wait for readiness. The process
// is stopped when the test ends, and its log shown if the test failed.
func startFaultBridge(t *testing.T, bin string, kc kafka.Config, n topics.Naming, env map[string]string) *faultBridge {
	t.Helper()
	addr, adminAddr := freeAddr(t), freeAddr(t)
	vars := map[string]string{
		"BRIDGE_ADMIN_ADDR":            adminAddr,
		"BRIDGE_KAFKA_BROKERS":         strings.Join(kc.Brokers, ","),
		"BRIDGE_TOPIC_PREFIX":          n.Prefix,
		"BRIDGE_INTERNAL_TOPIC_PREFIX": n.Internal,
		"BRIDGE_TOPIC_PARTITIONS":      "3",
		"BRIDGE_TOPIC_REPLICATION":     "1",
		"BRIDGE_AUTH_TOKENS":           faultToken,
		"BRIDGE_HTTP_ADDR":             addr,
		"BRIDGE_PUBLISH_TIMEOUT":       faultPublishTimeout.String(),
		"BRIDGE_SHUTDOWN_GRACE":        "1s",
		"BRIDGE_SHUTDOWN_TIMEOUT":      "10s",
		"BRIDGE_KAFKA_HEALTH_INTERVAL": "2s",  // waitKafka's bounds assume it
		"BRIDGE_LOG_REQUESTS":          "all", // serverLatencies reads the 2xx lines too
	}
	maps.Copy(vars, env)
	if _, set := env["BRIDGE_SHUTDOWN_TIMEOUT"]; !set {
		grace, err1 := time.ParseDuration(vars["BRIDGE_SHUTDOWN_GRACE"])
		publish, err2 := time.ParseDuration(vars["BRIDGE_PUBLISH_TIMEOUT"])
		if err1 == nil && err2 == nil {
			vars["BRIDGE_SHUTDOWN_TIMEOUT"] = max(10*time.Second, grace+publish+3*time.Second).String()
		}
	}
	var environ []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix+"_") { // a developer's own BRIDGE_* must not leak in
			environ = append(environ, kv)
		}
	}
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	p := &faultBridge{base: "http://" + addr, admin: "http://" + adminAddr, logPath: filepath.Join(t.TempDir(), "bridge.log"), exited: make(chan struct{})}
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = environ, logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); logf.Close(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(30 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
		}
		if b, err := os.ReadFile(p.logPath); err == nil && bytes.Contains(b, []byte("WARNING: DATA RACE")) {
			i := bytes.Index(b, []byte("WARNING: DATA RACE"))
			t.Errorf("the bridge reported a data race:\n%s", b[i:min(len(b), i+4000)])
		}
		if t.Failed() {
			t.Logf("last lines of the bridge's log %s:\n%s", p.logPath, faultLogTail(p.logPath, 30))
		}
	})
	faultWaitFor(t, 30*time.Second, "bridge /healthz answering", func() bool {
		if p.done() {
			t.Fatalf("serve exited at start: %v\n%s", p.waitErr, faultLogTail(p.logPath, 30))
		}
		st, _ := faultGet(p.admin + "/healthz")
		return st == http.StatusOK
	})
	return p
}

func (p *faultBridge) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// rssKiB is the process's resident set size (VmRSS) in KiB.
func (p *faultBridge) rssKiB(t *testing.T) int64 {
	t.Helper()
	n, err := p.rss()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// rss reads VmRSS, in KiB, from /proc/<pid>/status.
func (p *faultBridge) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read RSS: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc/<pid>/status")
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// maxOverlap is the most outcomes keep selects that were in flight at once,
// from their send to their answer as the client measured them.
func maxOverlap(outs []faultOutcome, keep func(faultOutcome) bool) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, o := range outs {
		if keep(o) {
			edges = append(edges, edge{o.sent, 1}, edge{o.sent.Add(o.latency), -1})
		}
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // an answer before a send at the same instant
	})
	n, most := 0, 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	return most
}

// readyz returns the status and body of /readyz.
func (p *faultBridge) readyz() (int, string) { return faultGet(p.admin + "/readyz") }

// waitReadyz polls /readyz until it answers want and returns how long that
// took and the body.
func (p *faultBridge) waitReadyz(t *testing.T, want int, within time.Duration) (time.Duration, string) {
	t.Helper()
	var body string
	d := faultWaitFor(t, within, fmt.Sprintf("/readyz answering %d", want), func() bool {
		if p.done() {
			t.Fatalf("serve exited: %v", p.waitErr)
		}
		var st int
		st, body = p.readyz()
		return st == want
	})
	return d, body
}

var faultProbeClient = &http.Client{Timeout: 5 * time.Second}

// waitKafka polls /readyz until its kafka field says Kafka is up (ok) or
// down (an error), and returns how long that took and the body. /readyz
// must stay 200 meanwhile: readiness does not follow Kafka.
func (p *faultBridge) waitKafka(t *testing.T, up bool, within time.Duration) (time.Duration, string) {
	t.Helper()
	var body string
	d := faultWaitFor(t, within, fmt.Sprintf("/readyz reporting Kafka up=%v", up), func() bool {
		var st int
		st, body = p.readyz()
		var b struct{ Kafka string }
		_ = json.Unmarshal([]byte(body), &b)
		if st != http.StatusOK {
			t.Errorf("/readyz %d while waiting for Kafka up=%v, want 200: %s", st, up, body)
		}
		if up {
			return b.Kafka == "ok"
		}
		return b.Kafka != "" && b.Kafka != "ok" && !strings.Contains(b.Kafka, "not checked yet")
	})
	return d, body
}

func faultGet(url string) (int, string) {
	resp, err := faultProbeClient.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func faultLogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ---------------------------------------------------------------- the load

// faultTemplate is a sample webhook whose uuid is replaced per request.
type faultTemplate struct {
	resource   string // catalog name, e.g. "subscription"
	head, tail string // the body around the event id
}

const faultIDMark = "@@EVENT-ID@@"

// faultTemplates reads the ADDED sample of each resource from
// bridge/testdata/samples.
func faultTemplates(t *testing.T, resources ...string) []faultTemplate {
	t.Helper()
	var out []faultTemplate
	for _, r := range resources {
		raw, err := os.ReadFile(filepath.Join("..", "..", "bridge", "testdata", "samples", r+"-added.json"))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		m["uuid"] = faultIDMark
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		head, tail, ok := strings.Cut(string(b), faultIDMark)
		if !ok {
			t.Fatal("no id mark")
		}
		out = append(out, faultTemplate{resource: r, head: head, tail: tail})
	}
	return out
}

// faultOutcome is what one request got.
type faultOutcome struct {
	id         string
	resource   string
	sent       time.Time
	latency    time.Duration
	status     int    // 0: no HTTP answer (err)
	code       string // the body's "status" of a 2xx, its "error" otherwise
	retryAfter string
	err        error
}

// faultLoadShape shapes a load run. It is bounded by Rate×MaxDuration requests
// and only ever targets the bridge on 127.0.0.1.
type faultLoadShape struct {
	Rate        int           // requests per second, all workers together
	Workers     int           // concurrent senders
	MaxDuration time.Duration // it stops by itself after this
	NoKeepAlive bool          // a new connection per request
}

// faultLoad sends webhooks with unique event ids at a steady rate from many
// goroutines and records every outcome.
type faultLoad struct {
	cfg     faultLoadShape
	url     string
	tmpls   []faultTemplate
	prefix  string
	client  *http.Client
	seq     atomic.Int64
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started time.Time

	mu  sync.Mutex
	out []faultOutcome
}

// startFaultLoad starts sending to base/webhooks until stop or MaxDuration.
func startFaultLoad(t *testing.T, base string, tmpls []faultTemplate, cfg faultLoadShape) *faultLoad {
	t.Helper()
	l := &faultLoad{
		cfg: cfg, url: base + "/webhooks", tmpls: tmpls,
		prefix: fmt.Sprintf("%08x", rand.Uint32()),
		client: &http.Client{
			// Far above hangBound: a request that hangs is recorded as such.
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				MaxIdleConnsPerHost: cfg.Workers,
				DisableKeepAlives:   cfg.NoKeepAlive,
			},
		},
		started: time.Now(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.MaxDuration)
	l.cancel = cancel
	tokens := make(chan struct{}, cfg.Workers)
	l.wg.Add(1)
	go func() { // open loop: tokens at Rate, dropped when every worker is busy
		defer l.wg.Done()
		defer close(tokens)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var issued int64
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			due := int64(time.Since(l.started).Seconds() * float64(cfg.Rate))
			for ; issued < due; issued++ {
				select {
				case tokens <- struct{}{}:
				default:
				}
			}
		}
	}()
	for range cfg.Workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for range tokens {
				l.record(l.send())
			}
		}()
	}
	t.Cleanup(func() { l.stop() })
	return l
}

// send posts one event with a new id, taking the resources in turn; the
// request is never cancelled by stop.
func (l *faultLoad) send() faultOutcome {
	n := l.seq.Add(1)
	tp := l.tmpls[int(n)%len(l.tmpls)]
	o := faultOutcome{id: fmt.Sprintf("%s-0000-4000-8000-%012d", l.prefix, n), resource: tp.resource, sent: time.Now()}
	o.status, o.code, o.retryAfter, o.err = faultPost(l.client, l.url, tp.head+o.id+tp.tail)
	o.latency = time.Since(o.sent)
	return o
}

// faultPost sends one webhook and returns the status, the body's status or error
// code, and Retry-After.
func faultPost(c *http.Client, url, body string) (status int, code, retryAfter string, err error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-AppDirect-Webhook-Token", faultToken)
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	var m struct{ Status, Error string }
	_ = json.NewDecoder(resp.Body).Decode(&m)
	code = m.Error
	if resp.StatusCode < 300 {
		code = m.Status
	}
	return resp.StatusCode, code, resp.Header.Get("Retry-After"), nil
}

func (l *faultLoad) record(o faultOutcome) {
	l.mu.Lock()
	l.out = append(l.out, o)
	l.mu.Unlock()
}

// snapshot returns the outcomes so far.
func (l *faultLoad) snapshot() []faultOutcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.out)
}

// stop stops sending, waits for the requests in flight and returns every
// outcome.
func (l *faultLoad) stop() []faultOutcome {
	l.cancel()
	l.wg.Wait()
	l.client.CloseIdleConnections()
	return l.snapshot()
}

// faultAcceptedAfter reports whether a request sent after at got a 2xx.
func faultAcceptedAfter(outs []faultOutcome, at time.Time) (faultOutcome, bool) {
	for _, o := range outs {
		if o.status/100 == 2 && o.sent.After(at) {
			return o, true
		}
	}
	return faultOutcome{}, false
}

// ---------------------------------------------------------------- the check

// faultCheck says what else than 2xx and 503 + Retry-After a test allows.
type faultCheck struct {
	// bridge, when set, is read for the server-side latency of slow requests.
	bridge *faultBridge
	// transportErrOK allows an outcome without an HTTP answer (SIGTERM).
	transportErrOK func(faultOutcome) bool
	// hangBound, when set, replaces the package's hangBound: the publish
	// timeout of the bridge under test plus a second.
	hangBound time.Duration
}

// checkNoAcknowledgedLoss reads every topic the outcomes name back from
// Kafka and checks the contract: every 2xx id is there (zero acknowledged
// loss); every other answer is 503 with Retry-After; no request took longer
// than hangBound (or cc.hangBound). It returns how often each event id is in
// Kafka.
func checkNoAcknowledgedLoss(t *testing.T, kc kafka.Config, n topics.Naming, outs []faultOutcome, cc faultCheck) map[string]int {
	t.Helper()
	bound := hangBound
	if cc.hangBound > 0 {
		bound = cc.hangBound
	}
	inKafka := map[string]int{}
	var resources []string
	for _, o := range outs {
		if !slices.Contains(resources, o.resource) {
			resources = append(resources, o.resource)
		}
	}
	slices.Sort(resources)
	for _, r := range resources {
		for _, m := range kafkatest.ReadAll(t, kc, n.Topic(r), 2*time.Minute) {
			inKafka[kafkatest.Header(m, topics.HeaderEventID)]++
		}
	}
	var lost, bad, hung []string
	counts := map[string]int{}
	var late, dups, records int
	for _, o := range outs {
		records += inKafka[o.id]
		key := strconv.Itoa(o.status) + " " + o.code
		if o.err != nil {
			key = "no answer: " + errorClass(o.err)
		}
		counts[key]++
		switch {
		case o.status/100 == 2:
			if inKafka[o.id] == 0 {
				lost = append(lost, fmt.Sprintf("%s (%s, %d %s after %s)", o.id, o.resource, o.status, o.code, o.latency.Round(time.Millisecond)))
			}
		case o.status == http.StatusServiceUnavailable:
			if o.retryAfter == "" {
				bad = append(bad, fmt.Sprintf("%s: 503 %s without Retry-After", o.id, o.code))
			}
			if inKafka[o.id] > 0 {
				late++ // a write that timed out and landed anyway: allowed (at least once)
			}
		case o.err != nil && cc.transportErrOK != nil && cc.transportErrOK(o):
		case o.err != nil:
			bad = append(bad, fmt.Sprintf("%s: no answer after %s: %v", o.id, o.latency.Round(time.Millisecond), o.err))
		default:
			bad = append(bad, fmt.Sprintf("%s: %d %s", o.id, o.status, o.code))
		}
		if o.latency > bound {
			hung = append(hung, fmt.Sprintf("%s: %d %s after %s", o.id, o.status, o.code, o.latency.Round(time.Millisecond)))
		}
		if inKafka[o.id] > 1 {
			dups++
		}
	}
	keys := slices.Sorted(maps.Keys(counts))
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, " %q×%d", k, counts[k])
	}
	t.Logf("%d requests:%s; %d of their records read back; %d ids answered 503 landed anyway (allowed), %d ids in Kafka more than once",
		len(outs), sb.String(), records, late, dups)
	t.Logf("latency 2xx %s; 503 %s", faultLatencies(outs, func(o faultOutcome) bool { return o.status/100 == 2 }),
		faultLatencies(outs, func(o faultOutcome) bool { return o.status == http.StatusServiceUnavailable }))
	if len(lost) > 0 {
		t.Errorf("ACKNOWLEDGED LOSS: %d ids answered 2xx are not in Kafka, e.g. %s", len(lost), strings.Join(lost[:min(10, len(lost))], "; "))
	}
	if len(bad) > 0 {
		t.Errorf("%d answers neither 2xx nor 503 with Retry-After, e.g. %s", len(bad), strings.Join(bad[:min(10, len(bad))], "; "))
	}
	if cc.bridge != nil && counts["503 kafka_unavailable"] > 0 {
		ids := make(map[string]bool, len(outs))
		for _, o := range outs {
			ids[o.id] = true
		}
		t.Logf("why 503 (the bridge's log): %s", topCauses(t, cc.bridge.logPath, ids, 3))
	}
	if len(hung) > 0 && cc.bridge != nil {
		server := serverLatencies(t, cc.bridge.logPath)
		for i, h := range hung {
			id, _, _ := strings.Cut(h, ":")
			hung[i] = fmt.Sprintf("%s (server-side %s)", h, server[id])
		}
	}
	if len(hung) > 0 {
		t.Errorf("%d requests took longer than BRIDGE_PUBLISH_TIMEOUT + 1 s = %s, e.g. %s", len(hung), bound, strings.Join(hung[:min(10, len(hung))], "; "))
	}
	return inKafka
}

// faultLatencies summarizes the latencies of the outcomes keep selects.
func faultLatencies(outs []faultOutcome, keep func(faultOutcome) bool) string {
	var ds []time.Duration
	for _, o := range outs {
		if keep(o) {
			ds = append(ds, o.latency)
		}
	}
	if len(ds) == 0 {
		return "(none)"
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration {
		return ds[min(len(ds)-1, int(p*float64(len(ds))))].Round(time.Millisecond)
	}
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", len(ds), q(0.5), q(0.99), ds[len(ds)-1].Round(time.Millisecond))
}

// sentBetween selects outcomes sent in [from, to).
func sentBetween(outs []faultOutcome, from, to time.Time) []faultOutcome {
	var out []faultOutcome
	for _, o := range outs {
		if !o.sent.Before(from) && o.sent.Before(to) {
			out = append(out, o)
		}
	}
	return out
}

// errorClass names the kind of a transport error.
func errorClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return "other"
	}
}

// mostly reports whether at least pct percent of outs got a 2xx, and says
// how many did.
func mostly(outs []faultOutcome, pct int) (bool, string) {
	c := faultStatusCounts(outs)
	ok := 0
	for st, n := range c {
		if st/100 == 2 {
			ok += n
		}
	}
	return len(outs) > 0 && ok*100 >= pct*len(outs), fmt.Sprintf("%d of %d 2xx (%v)", ok, len(outs), c)
}

// faultStatusCounts counts outcomes by status (0: no answer).
func faultStatusCounts(outs []faultOutcome) map[int]int {
	m := map[int]int{}
	for _, o := range outs {
		m[o.status]++
	}
	return m
}

// serverLatencies reads the bridge's request log: the latency it measured for
// each event id.
func serverLatencies(t *testing.T, path string) map[string]string {
	out := map[string]string{}
	for _, m := range faultLogMessages(t, path, "request") {
		if id, ok := m["event_id"].(string); ok {
			out[id] = fmt.Sprintf("%vms", m["latency_ms"])
		}
	}
	return out
}

// topCauses counts the causes the bridge logged for the 503s of ids, with
// numbers blanked, and returns the n most frequent.
func topCauses(t *testing.T, path string, ids map[string]bool, n int) string {
	counts := map[string]int{}
	digits := regexp.MustCompile(`[0-9]+`)
	for _, m := range faultLogMessages(t, path, "request") {
		id, _ := m["event_id"].(string)
		if st, _ := m["status"].(float64); st == http.StatusServiceUnavailable && m["error"] == "kafka_unavailable" && ids[id] {
			cause, _ := m["cause"].(string)
			if i := strings.LastIndex(cause, "retry later: "); i >= 0 {
				cause = cause[i+len("retry later: "):]
			}
			counts[digits.ReplaceAllString(cause, "N")]++
		}
	}
	causes := slices.SortedFunc(maps.Keys(counts), func(a, b string) int { return counts[b] - counts[a] })
	var sb strings.Builder
	for _, c := range causes[:min(n, len(causes))] {
		fmt.Fprintf(&sb, "\n\t%d× %s", counts[c], c)
	}
	return sb.String()
}

// faultLogMessages returns the bridge log's JSON lines whose message is msg.
func faultLogMessages(t *testing.T, path, msg string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}
