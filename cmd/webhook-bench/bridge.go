package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // the in-process and spawned bridges' profiles, on their own listener
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
)

// bridgeConfig is how the tool runs a bridge: as `webhook-bridge serve`
// would with these settings.
type bridgeConfig struct {
	kafka          kafka.Config
	naming         topics.Naming
	token          string
	batchSize      int
	batchTimeout   time.Duration
	publishTimeout time.Duration
	maxInFlight    int
	logFile        string // the bridge's request log; "" discards it
	gogc           int    // a spawned bridge's GOGC (0: inherited)
}

func (c bridgeConfig) writerConfig() kafka.WriterConfig {
	return kafka.WriterConfig{
		Kafka: c.kafka, BatchSize: c.batchSize, MaxRecordBytes: maxRecordBytes, WriteTimeout: c.publishTimeout,
		MetadataTimeout: 2 * time.Second, StallCheck: 500 * time.Millisecond,
	}
}

// maxRecordBytes is the record limit of the topics the benchmark creates.
const maxRecordBytes = 1<<20 + 64<<10

// runningBridge is a bridge under test.
type runningBridge struct {
	url      string
	pid      int    // the process whose RSS and CPU are the bridge's
	pprof    string // host:port of its net/http/pprof, "" if none
	inProc   bool
	shutdown func() error
}

func (b *runningBridge) close() error {
	if b.shutdown == nil {
		return nil
	}
	return b.shutdown()
}

// zerolog keeps the time format in a package variable: set it once, before
// anything logs.
func init() { zerolog.TimeFieldFormat = time.RFC3339Nano }

// startBridge serves the bridge in this process on 127.0.0.1:0, wired as
// cmd/webhook-bridge's serve does (token authentication, a request log
// line per request, the same writer and HTTP server settings).
func startBridge(c bridgeConfig, pprofAddr string) (*runningBridge, error) {
	logOut, closeLog, err := openLog(c.logFile)
	if err != nil {
		return nil, err
	}
	log := zerolog.New(logOut).Level(zerolog.InfoLevel).With().Timestamp().Str("service", "webhook-bridge").Logger()
	w, err := kafka.NewWriter(c.writerConfig(), log)
	if err != nil {
		return nil, err
	}
	auth, err := bridge.NewAuth(bridge.AuthConfig{Modes: []string{bridge.ModeToken}, Tokens: []string{c.token}})
	if err != nil {
		return nil, err
	}
	srv := bridge.NewServer(w, bridge.Options{
		Naming: c.naming, PublishTimeout: c.publishTimeout, MaxInFlight: c.maxInFlight, Auth: auth,
		MaxBodyBytes: 1 << 20, RetryAfter: 5 * time.Second, DedupTTL: time.Hour, DedupMaxEntries: 100_000,
	}, log)
	srv.Metrics().WatchWriter(func() bridge.WriterStats {
		s := w.Stats()
		return bridge.WriterStats{Writes: s.Writes, Messages: s.Messages, Bytes: s.Bytes, Errors: s.Errors, Retries: s.Retries, QueueLength: s.QueueLength}
	}) // as serve does; read back through /metrics
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	go func() { _ = hs.Serve(ln) }()
	b := &runningBridge{url: "http://" + ln.Addr().String() + "/webhooks", pid: os.Getpid(), inProc: true}
	var ps *http.Server
	if pprofAddr != "" {
		pl, err := net.Listen("tcp", pprofAddr)
		if err != nil {
			return nil, fmt.Errorf("pprof listener: %w", err)
		}
		ps = &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = ps.Serve(pl) }()
		b.pprof = pl.Addr().String()
	}
	b.shutdown = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := hs.Shutdown(ctx)
		if ps != nil {
			_ = ps.Close()
		}
		return errors.Join(err, w.Close(), closeLog())
	}
	return b, nil
}

func openLog(path string) (io.Writer, func() error, error) {
	switch path {
	case "":
		return io.Discard, func() error { return nil }, nil
	case "-", "stderr":
		return os.Stderr, func() error { return nil }, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("bridge log: %w", err)
	}
	return f, f.Close, nil
}

// childArgs are the flags a spawned bridge gets: the parent's, plus -child.
func childArgs(c bridgeConfig) []string {
	return []string{
		"-child",
		"-brokers", strings.Join(c.kafka.Brokers, ","),
		"-prefix", c.naming.Prefix,
		"-token", c.token,
		"-batch-size", strconv.Itoa(c.batchSize),
		"-batch-timeout", c.batchTimeout.String(),
		"-publish-timeout", c.publishTimeout.String(),
		"-max-inflight", strconv.Itoa(c.maxInFlight),
		"-bridge-log", c.logFile,
	}
}

var childLine = regexp.MustCompile(`^listening (\S+) pprof (\S+)$`)

// spawnBridge runs the bridge in a child process (this binary with -child),
// so that its RSS and CPU are its own, not shared with the load generator.
// The child exits when its stdin closes, so it never outlives the parent.
func spawnBridge(c bridgeConfig) (*runningBridge, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, childArgs(c)...)
	cmd.Stderr = os.Stderr
	if c.gogc != 0 {
		cmd.Env = append(os.Environ(), "GOGC="+strconv.Itoa(c.gogc))
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	m := childLine.FindStringSubmatch(strings.TrimSpace(line))
	if err != nil || m == nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("spawned bridge did not start (%q): %v", line, err)
	}
	return &runningBridge{
		url: m[1], pprof: m[2], pid: cmd.Process.Pid,
		shutdown: func() error {
			stdin.Close()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				return err
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				return errors.New("spawned bridge did not stop within 30s; killed")
			}
		},
	}, nil
}

// runChild is the spawned bridge's side of spawnBridge.
func runChild(c bridgeConfig, stdin io.Reader, stdout io.Writer) error {
	b, err := startBridge(c, "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening %s pprof %s\n", b.url, b.pprof)
	_, _ = io.Copy(io.Discard, stdin) // until the parent closes it (or dies)
	return b.close()
}

// goroutinesOf reads the goroutine count from a net/http/pprof endpoint.
func goroutinesOf(ctx context.Context, pprof string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pprof+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return 0, err
	}
	var n int64
	if _, err := fmt.Sscanf(line, "goroutine profile: total %d", &n); err != nil {
		return 0, fmt.Errorf("goroutine profile: %q", line)
	}
	return n, nil
}

// profileChild fetches a CPU profile of seconds from a pprof endpoint into
// path.
func profileChild(ctx context.Context, pprof string, seconds int, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprof, seconds), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writerCounters reads the bridge's Kafka writer counters (produce requests
// and records) from its /metrics; ok is false when it exports none.
func writerCounters(ctx context.Context, webhooksURL string) (writes, messages float64, ok bool) {
	u := strings.TrimSuffix(webhooksURL, "/webhooks") + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	found := 0
	for sc.Scan() {
		name, val, _ := strings.Cut(sc.Text(), " ")
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		switch name {
		case "webhook_bridge_kafka_writer_writes_total":
			writes, found = v, found+1
		case "webhook_bridge_kafka_writer_messages_total":
			messages, found = v, found+1
		}
	}
	return writes, messages, found == 2
}
