package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
)

// gatePublisher records records and, while closed, holds every Publish until
// it is opened or the context ends.
type gatePublisher struct {
	mu      sync.Mutex
	recs    []topics.Record
	gate    chan struct{}
	waiting atomic.Int64
	fail    atomic.Bool
}

func (p *gatePublisher) Publish(ctx context.Context, recs ...topics.Record) error {
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	select {
	case <-p.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	if p.fail.Load() {
		return fmt.Errorf("broker away")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recs = append(p.recs, recs...)
	return nil
}

func (p *gatePublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.recs)
}

func serve(srv http.Handler, body string) (int, map[string]any) {
	req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m
}

const orderEvent = `{"uuid":"evt-%d","timestamp":1718035200123,"resource":{"type":"ORDER","uuid":"o-1","content":{"company":{"id":"c-1"}}},"resourceAction":"CHANGED"}`

func TestRedeliveryOfAnAcknowledgedEventWritesOneRecord(t *testing.T) {
	pub := &gatePublisher{gate: make(chan struct{})}
	close(pub.gate)
	srv := bridge.NewServer(pub, testOptions(bridge.Options{Naming: topics.Naming{Prefix: "a."}}), zerolog.Nop())
	body := fmt.Sprintf(orderEvent, 1)
	// The marketplace's 11 planned attempts of one event, all arriving.
	for i := range 11 {
		status, resp := serve(srv, body)
		want := "accepted"
		if i > 0 {
			want = "duplicate"
		}
		if status != http.StatusAccepted || resp["status"] != want {
			t.Fatalf("delivery %d: %d %v, want 202 %s", i+1, status, resp, want)
		}
	}
	if n := pub.count(); n != 1 {
		t.Fatalf("%d records for one event delivered 11 times, want 1", n)
	}
	if status, _ := serve(srv, fmt.Sprintf(orderEvent, 2)); status != http.StatusAccepted || pub.count() != 2 {
		t.Fatalf("another event: %d, %d records", status, pub.count())
	}
}

func TestRedeliveryAfterAFailureIsPublishedAgain(t *testing.T) {
	pub := &gatePublisher{gate: make(chan struct{})}
	close(pub.gate)
	pub.fail.Store(true)
	srv := bridge.NewServer(pub, testOptions(bridge.Options{Naming: topics.Naming{Prefix: "a."}}), zerolog.Nop())
	body := fmt.Sprintf(orderEvent, 1)
	if status, _ := serve(srv, body); status != http.StatusServiceUnavailable {
		t.Fatalf("failed publish: %d, want 503", status)
	}
	pub.fail.Store(false)
	if status, resp := serve(srv, body); status != http.StatusAccepted || resp["status"] != "accepted" {
		t.Fatalf("retry after a 503: %d %v, want a fresh 202", status, resp)
	}
	if n := pub.count(); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
}

func TestConcurrentDeliveriesOfOneEventWriteOneRecord(t *testing.T) {
	pub := &gatePublisher{gate: make(chan struct{})}
	srv := bridge.NewServer(pub, testOptions(bridge.Options{Naming: topics.Naming{Prefix: "a."}}), zerolog.Nop())
	body := fmt.Sprintf(orderEvent, 7)
	var wg sync.WaitGroup
	statuses := make(chan int, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _ := serve(srv, body)
			statuses <- s
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for pub.waiting.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no publish started")
		}
		time.Sleep(time.Millisecond) // polling the fake
	}
	close(pub.gate)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusAccepted {
			t.Errorf("status %d, want 202", s)
		}
	}
	if n := pub.count(); n != 1 {
		t.Fatalf("%d records from 5 concurrent deliveries of one event, want 1", n)
	}
}

func TestDedupOffPublishesEveryDelivery(t *testing.T) {
	pub := &gatePublisher{gate: make(chan struct{})}
	close(pub.gate)
	srv := bridge.NewServer(pub, testOptions(bridge.Options{Naming: topics.Naming{Prefix: "a."}, DedupTTL: -1}), zerolog.Nop())
	for range 3 {
		serve(srv, fmt.Sprintf(orderEvent, 1))
	}
	if n := pub.count(); n != 3 {
		t.Fatalf("%d records with dedup off, want 3", n)
	}
}

func TestMaxInFlightRefusesAtOnce(t *testing.T) {
	pub := &gatePublisher{gate: make(chan struct{})}
	const limit = 4
	srv := bridge.NewServer(pub, testOptions(bridge.Options{Naming: topics.Naming{Prefix: "a."}, MaxInFlight: limit, PublishTimeout: 30 * time.Second}), zerolog.Nop())
	var wg sync.WaitGroup
	for i := range limit {
		wg.Add(1)
		go func() { defer wg.Done(); serve(srv, fmt.Sprintf(orderEvent, 100+i)) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for pub.waiting.Load() < limit {
		if time.Now().After(deadline) {
			t.Fatalf("only %d publishes waiting, want %d", pub.waiting.Load(), limit)
		}
		time.Sleep(time.Millisecond) // polling the fake
	}
	done := make(chan struct{})
	var status int
	var resp map[string]any
	go func() { status, resp = serve(srv, fmt.Sprintf(orderEvent, 999)); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the request over the limit was queued instead of refused")
	}
	if status != http.StatusServiceUnavailable || resp["error"] != "overloaded" {
		t.Fatalf("over the limit: %d %v, want 503 overloaded", status, resp)
	}
	close(pub.gate)
	wg.Wait()
	if status, _ := serve(srv, fmt.Sprintf(orderEvent, 1000)); status != http.StatusAccepted {
		t.Fatalf("after the burst: %d, want 202", status)
	}
}

// panicPublisher panics on its first Publish, then acknowledges.
type panicPublisher struct{ calls atomic.Int32 }

func (p *panicPublisher) Publish(context.Context, ...topics.Record) error {
	if p.calls.Add(1) == 1 {
		panic("publisher exploded")
	}
	return nil
}

// TestPanicInAHandlerIsA500AndTheNextRequestIsServed: the panic becomes a 500
// with a JSON body, a log line with the stack and a counted metric.
func TestPanicInAHandlerIsA500AndTheNextRequestIsServed(t *testing.T) {
	logs := &logBuf{}
	srv := bridge.NewServer(&panicPublisher{}, testOptions(bridge.Options{Naming: topics.Naming{Prefix: "a."}}), zerolog.New(logs))
	status, resp := serve(srv, fmt.Sprintf(orderEvent, 1))
	if status != http.StatusInternalServerError || resp["error"] != "internal" {
		t.Fatalf("panicking handler: %d %v, want 500 with error internal", status, resp)
	}
	var panicked bool
	for _, l := range logs.lines(t) {
		if l["message"] == "handler panicked" && l["panic"] == "publisher exploded" &&
			strings.Contains(fmt.Sprint(l["stack"]), "panicPublisher") && l["request_id"] != nil {
			panicked = true
		}
	}
	if !panicked {
		t.Errorf("no error log line with the panic, its stack and the request id:\n%s", logs.buf.String())
	}
	if status, resp := serve(srv, fmt.Sprintf(orderEvent, 2)); status != http.StatusAccepted {
		t.Fatalf("the request after the panic: %d %v, want 202", status, resp)
	}
	rec := httptest.NewRecorder()
	srv.Admin().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "webhook_bridge_panics_total 1\n") {
		t.Errorf("/metrics lacks webhook_bridge_panics_total 1")
	}
}

// TestReadinessDoesNotFollowKafka: Kafka down is shown and counted, but
// /readyz stays 200, so a Kafka-wide fault does not take every replica out
// of service; webhooks get the bridge's own 503 with Retry-After.
func TestReadinessDoesNotFollowKafka(t *testing.T) {
	down := errors.New("kafka metadata request failed: connection refused")
	pub := &gatePublisher{gate: make(chan struct{})}
	close(pub.gate)
	pub.fail.Store(true)
	srv := bridge.NewServer(pub, testOptions(bridge.Options{Naming: topics.Naming{Prefix: "a."}, Kafka: func() error { return down }}), zerolog.Nop())
	rec := httptest.NewRecorder()
	srv.Admin().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusOK || body["kafka"] != down.Error() {
		t.Fatalf("/readyz with Kafka down: %d %v, want 200 naming Kafka's state", rec.Code, body)
	}
	req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(fmt.Sprintf(orderEvent, 1)))
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("webhook with Kafka down: %d Retry-After %q, want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	rec = httptest.NewRecorder()
	srv.Admin().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "webhook_bridge_kafka_up 0\n") || !strings.Contains(rec.Body.String(), "webhook_bridge_ready 1\n") {
		t.Errorf("/metrics lacks webhook_bridge_kafka_up 0 or webhook_bridge_ready 1")
	}
}
