package main

// The measurement behind the idle-connection term of the Kubernetes memory
// settings (docs/operations.md, "Memory"): the real binary against the real
// broker, with keep-alive connections held open after one authenticated
// webhook each. It holds 500 connections by default and fails past 64 KiB
// of RSS or two goroutines per connection; the figure in the docs holds
// 4,000:
//
//	eval "$(deploy/local/kafka.sh env)"
//	BRIDGE_TEST_CONN_MEMORY=4000 go test ./cmd/webhook-bridge -run TestIdleConnectionMemory -count=1 -v

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// connMemEnv is the number of connections to hold (500 when unset).
const connMemEnv = "BRIDGE_TEST_CONN_MEMORY"

// The bounds per idle connection the test allows.
const (
	maxConnRSSKiB      = 64
	maxConnGoroutines  = 2
	defaultConnsToHold = 500
)

func TestIdleConnectionMemory(t *testing.T) {
	n := defaultConnsToHold
	if v := os.Getenv(connMemEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive number of connections", connMemEnv, v)
		}
	}
	if !kafkatest.Real() && os.Getenv("CI") != "true" {
		t.Skipf("measures the real binary against a real broker: run eval \"$(deploy/local/kafka.sh env)\" first (under CI=true a missing broker fails)")
	}
	kc := kafkatest.Kafka(t) // fails under CI=true without a broker
	naming := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, naming, 3)
	bin := faultBuild(t)
	p := startFaultBridge(t, bin, kc, naming, map[string]string{
		"BRIDGE_LOG_LEVEL":       "warn", // no request log line per connection
		"BRIDGE_PUBLISH_TIMEOUT": "10s",
	})
	p.waitReadyz(t, http.StatusOK, 60*time.Second)
	addr := strings.TrimPrefix(p.base, "http://")

	var seq atomic.Int64
	// post sends one authenticated webhook (a new event id each) on c and
	// reads its answer, leaving the connection open and idle.
	post := func(c net.Conn, br *bufio.Reader) error {
		id := fmt.Sprintf("%08x-0b8e-4f61-9a7e-2f5c8e4b1d09", seq.Add(1))
		body := strings.Replace(devSample, "7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09", id, 1)
		req := "POST /webhooks HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n" +
			"X-AppDirect-Webhook-Token: " + faultToken + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		if _, err := io.WriteString(c, req); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}

	// Warm up on one connection with as many webhooks as connections to
	// come, so that the dedup table, the writer and the heap have grown
	// before the baseline is read.
	warm, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer warm.Close()
	wbr := bufio.NewReader(warm)
	for range n {
		if err := post(warm, wbr); err != nil {
			t.Fatalf("warm-up webhook: %v", err)
		}
	}

	type sample struct {
		conns           int
		rssKiB          int64
		heapMiB, stkMiB float64
		goroutines      float64
	}
	read := func(conns int) sample {
		m := scrapeGauges(t, p.admin+"/metrics")
		if got := int(m["webhook_bridge_http_connections"]); got != conns {
			t.Fatalf("webhook_bridge_http_connections = %d, want %d", got, conns)
		}
		return sample{conns: conns, rssKiB: p.rssKiB(t), heapMiB: m["go_memstats_heap_inuse_bytes"] / (1 << 20),
			stkMiB: m["go_memstats_stack_inuse_bytes"] / (1 << 20), goroutines: m["go_goroutines"]}
	}
	samples := []sample{read(1)}

	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	const steps = 4
	for step := 1; step <= steps; step++ {
		target := n * step / steps
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		todo := make(chan struct{}, target-len(conns))
		for range target - len(conns) {
			todo <- struct{}{}
		}
		close(todo)
		for range 32 {
			wg.Go(func() {
				for range todo {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
					if err := post(c, bufio.NewReader(c)); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("connection %d: %v", len(conns), err)
		}
		samples = append(samples, read(target+1))
	}
	// Past the unauthenticated idle timeout (5 s): the connections that
	// authenticated stay open, and so in the count.
	time.Sleep(6 * time.Second) // a fixed span to outlast, not a condition to wait for
	last := read(n + 1)
	samples = append(samples, last)

	t.Logf("%-6s %10s %10s %10s %10s", "conns", "VmRSS MiB", "heap MiB", "stack MiB", "goroutines")
	for _, s := range samples {
		t.Logf("%-6d %10.1f %10.1f %10.1f %10.0f", s.conns, mib(s.rssKiB), s.heapMiB, s.stkMiB, s.goroutines)
	}
	first := samples[0]
	perConn := float64(last.rssKiB-first.rssKiB) / float64(n)
	t.Logf("idle keep-alive connections: %d held %.1f MiB of VmRSS: %.1f KiB each (heap %.1f KiB, stacks %.1f KiB each)",
		n, mib(last.rssKiB-first.rssKiB), perConn,
		(last.heapMiB-first.heapMiB)*1024/float64(n), (last.stkMiB-first.stkMiB)*1024/float64(n))
	if perConn > maxConnRSSKiB {
		t.Errorf("%.1f KiB of RSS per idle connection, want at most %d", perConn, maxConnRSSKiB)
	}
	if g := (last.goroutines - first.goroutines) / float64(n); g > maxConnGoroutines {
		t.Errorf("%.2f goroutines per idle connection, want at most %d", g, maxConnGoroutines)
	}
}

var gaugeLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*) ([0-9.e+-]+)$`)

// scrapeGauges reads the unlabelled samples of a /metrics page.
func scrapeGauges(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if m := gaugeLine.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			out[m[1]] = v
		}
	}
	return out
}
