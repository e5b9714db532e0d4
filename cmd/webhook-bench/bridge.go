package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// modulePath is the module whose cmd/webhook-bridge the bench builds.
const modulePath = "github.com/webhook-bridge/webhook-bridge"

// serveOptions are the settings the bench gives `webhook-bridge serve` (and
// `webhook-bridge topics create`) through BRIDGE_* variables. Everything
// else is serve's default, as in production: the company index, dedup,
// the request log (unless logRequests is set).
type serveOptions struct {
	brokers        []string
	naming         topics.Naming
	partitions     int
	token          string
	batchSize      int
	publishTimeout time.Duration
	maxInFlight    int
	gogc           int    // 0: inherited
	gomaxprocs     int    // 0: inherited
	pprof          bool   // serve pprof on the admin port (-cpuprofile, -memprofile)
	logRequests    string // BRIDGE_LOG_REQUESTS; "" for serve's default
	connsPerBroker int    // BRIDGE_KAFKA_CONNS_PER_BROKER; 0 for serve's default
}

// env is this process's environment without any BRIDGE_* variable (a
// developer's shell may hold some that would change the bridge), plus the
// bench's settings; addr and admin are where serve listens ("" for other
// commands).
func (o serveOptions) env(addr, admin string) []string {
	var env []string
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "BRIDGE_"):
		case o.gogc != 0 && strings.HasPrefix(kv, "GOGC="):
		case o.gomaxprocs != 0 && strings.HasPrefix(kv, "GOMAXPROCS="):
		default:
			env = append(env, kv)
		}
	}
	set := func(k, v string) { env = append(env, "BRIDGE_"+k+"="+v) }
	set("KAFKA_BROKERS", strings.Join(o.brokers, ","))
	set("TOPIC_PREFIX", o.naming.Prefix)
	set("INTERNAL_TOPIC_PREFIX", o.naming.Internal)
	set("TOPIC_PARTITIONS", strconv.Itoa(o.partitions))
	set("TOPIC_REPLICATION", "1")
	set("AUTH_MODE", "token")
	set("AUTH_TOKENS", o.token)
	set("KAFKA_BATCH_SIZE", strconv.Itoa(o.batchSize))
	set("PUBLISH_TIMEOUT", o.publishTimeout.String())
	set("MAX_INFLIGHT", strconv.Itoa(o.maxInFlight))
	// Nothing is measured while the bridge stops: skip the grace period in
	// which a replica keeps serving for its load balancer.
	set("SHUTDOWN_GRACE", "0s")
	if addr != "" {
		set("HTTP_ADDR", addr)
		set("ADMIN_ADDR", admin)
	}
	if o.pprof {
		set("PPROF", "true")
	}
	if o.connsPerBroker != 0 {
		set("KAFKA_CONNS_PER_BROKER", strconv.Itoa(o.connsPerBroker))
	}
	if o.logRequests != "" {
		set("LOG_REQUESTS", o.logRequests)
	}
	if o.gogc != 0 {
		env = append(env, "GOGC="+strconv.Itoa(o.gogc))
	}
	if o.gomaxprocs != 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(o.gomaxprocs))
	}
	return env
}

// repoRoot returns the root of the webhook-bridge module that holds the
// working directory, "" when it is outside it.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			line, _, _ := bytes.Cut(b, []byte("\n"))
			if strings.TrimSpace(string(line)) == "module "+modulePath {
				return dir
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// inRepo resolves a path given relative to the repository root: as given
// when it exists, else under the root of the module around the working
// directory (so that `go test ./cmd/webhook-bench`, which runs in the
// package's folder, finds it too).
func inRepo(path string) (string, error) {
	if _, err := os.Stat(path); err == nil || filepath.IsAbs(path) {
		return path, err
	}
	if root := repoRoot(); root != "" {
		p := filepath.Join(root, path)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	_, err := os.Stat(path)
	return path, err
}

// buildBridge builds cmd/webhook-bridge of the repository around the working
// directory into dir and returns the binary's path.
func buildBridge(ctx context.Context, dir string) (string, error) {
	root := repoRoot()
	if root == "" {
		return "", fmt.Errorf("building webhook-bridge: the working directory is not inside %s; run from the repository or give -bridge-bin", modulePath)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building webhook-bridge: %w; give -bridge-bin", err)
	}
	bin := filepath.Join(dir, "webhook-bridge")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/webhook-bridge")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/webhook-bridge: %w\n%s", err, out)
	}
	return bin, nil
}

// createTopics runs `webhook-bridge topics create`: every topic serve
// expects (the resources', the quarantine and the compacted company index),
// created as in production but for the replication factor.
func createTopics(ctx context.Context, bin string, o serveOptions) error {
	cmd := exec.CommandContext(ctx, bin, "topics", "create")
	cmd.Env = o.env("", "")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("webhook-bridge topics create: %w\n%s", err, out)
	}
	return nil
}

// runningBridge is a bridge under test.
type runningBridge struct {
	url     string // of its webhook endpoint
	base    string // the admin port: http://host:port, for /readyz and /metrics
	pid     int    // the process whose RSS and CPU are the bridge's; 0 unknown
	started bool   // started by the bench (its topics are the run's own)
	stop    func() error
}

func (b *runningBridge) close() error {
	if b.stop == nil {
		return nil
	}
	return b.stop()
}

// openLog opens where the bridge's log goes: a file (appended to), "-" or
// "stderr" for this process's stderr, "" for nowhere.
func openLog(path string) (*os.File, func() error, error) {
	switch path {
	case "-", "stderr":
		return os.Stderr, func() error { return nil }, nil
	case "":
		path = os.DevNull
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("bridge log: %w", err)
	}
	return f, f.Close, nil
}

// freeAddr returns a 127.0.0.1 address whose port is free (for now).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServe starts `bin serve` with o's environment on a free port of
// 127.0.0.1, its stdout and stderr going to logPath, and waits until its
// /readyz answers 200 (Kafka reachable, every topic there, the company
// index read). The bridge runs in its own process group, so that a ^C
// reaches the bench, which stops it in order; it gets SIGTERM should the
// bench die first.
func startServe(ctx context.Context, bin string, o serveOptions, logPath string) (*runningBridge, error) {
	logOut, closeLog, err := openLog(logPath)
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		closeLog()
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		closeLog()
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = o.env(addr, admin)
	cmd.Stdout, cmd.Stderr = logOut, logOut
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		closeLog()
		return nil, fmt.Errorf("start webhook-bridge serve: %w", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	b := &runningBridge{
		url: "http://" + addr + "/webhooks", base: "http://" + admin, pid: cmd.Process.Pid, started: true,
		stop: func() error {
			defer closeLog()
			select {
			case <-exited:
				return fmt.Errorf("webhook-bridge serve had exited: %v", waitErr)
			default:
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
				return waitErr
			case <-time.After(40 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				return errors.New("webhook-bridge serve did not stop within 40s of SIGTERM; killed")
			}
		},
	}
	if err := waitServeReady(ctx, b.base, exited); err != nil {
		_ = b.close()
		where := "run with -bridge-log - to see its log"
		if logPath != "" && logPath != os.DevNull {
			where = "its log: " + logPath
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("webhook-bridge serve exited before it was ready (%v); %s", waitErr, where)
		default:
		}
		return nil, fmt.Errorf("%w; %s", err, where)
	}
	return b, nil
}

// waitServeReady polls base/readyz until it answers 200. The index of a new
// topic is read at once, but serve would wait up to 2 minutes for a slow
// one (BRIDGE_INDEX_CATCHUP_TIMEOUT).
func waitServeReady(ctx context.Context, base string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(150 * time.Second)
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err != nil {
			last = err.Error()
		} else {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s %s", resp.Status, bytes.TrimSpace(body))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook-bridge serve not ready within 150s: /readyz: %s", last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// scrape reads the named unlabelled samples from a bridge's /metrics;
// names it does not export are missing from the map.
func scrape(ctx context.Context, base string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, val, _ := strings.Cut(sc.Text(), " ")
		if !want[name] {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// writerCounts are a Kafka writer's counters: record batches (one per
// partition of a request), records, and produce requests.
type writerCounts struct {
	writes, messages, requests float64
}

// perBatch and perRequest are the records of an average batch and request
// between c and later.
func (c writerCounts) perBatch(later writerCounts) float64 {
	if later.writes <= c.writes {
		return 0
	}
	return (later.messages - c.messages) / (later.writes - c.writes)
}

func (c writerCounts) perRequest(later writerCounts) float64 {
	if later.requests <= c.requests {
		return 0
	}
	return (later.messages - c.messages) / (later.requests - c.requests)
}

// writerCounters reads the bridge's Kafka writer counters; ok is false when
// it exports none.
func writerCounters(ctx context.Context, base string) (writerCounts, bool) {
	const w, m, r = "webhook_bridge_kafka_writer_writes_total", "webhook_bridge_kafka_writer_messages_total", "webhook_bridge_kafka_writer_requests_total"
	s, err := scrape(ctx, base, w, m, r)
	if err != nil {
		return writerCounts{}, false
	}
	writes, ok1 := s[w]
	messages, ok2 := s[m]
	return writerCounts{writes: writes, messages: messages, requests: s[r]}, ok1 && ok2
}
