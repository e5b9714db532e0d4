package bridge_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webhook-bridge/webhook-bridge/bridge"
)

// TestMetricsTellTheTruth: quarantined records count as published to the
// quarantine topic, publish latency is split by outcome, and a duplicate
// 202 says so in its log line.
func TestMetricsTellTheTruth(t *testing.T) {
	tb := newTestBridge(bridge.Options{})
	if got := tb.post(t, []byte(`{"uuid":"evt-q","resource":{"type":"NOT_A_TYPE","uuid":"x"},"resourceAction":"ADDED"}`)); got.status != http.StatusUnprocessableEntity {
		t.Fatalf("unknown type: %d", got.status)
	}
	ok := []byte(`{"uuid":"evt-ok","resource":{"type":"ORDER","uuid":"o-1","content":{"company":{"id":"c-1"}}},"resourceAction":"ADDED"}`)
	for range 2 {
		if got := tb.post(t, ok); got.status != http.StatusAccepted {
			t.Fatalf("valid event: %d", got.status)
		}
	}
	tb.pub.set(errors.New("connection refused"), false)
	if got := tb.post(t, []byte(`{"uuid":"evt-fail","resource":{"type":"ORDER","uuid":"o-2","content":{"company":{"id":"c-1"}}},"resourceAction":"ADDED"}`)); got.status != http.StatusServiceUnavailable {
		t.Fatalf("refused publish: %d", got.status)
	}
	rec := httptest.NewRecorder()
	tb.srv.Admin().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`webhook_bridge_records_published_total{topic="` + quarantineTopic + `"} 1`,
		`webhook_bridge_records_published_total{topic="` + testPrefix + `order"} 1`,
		`webhook_bridge_kafka_publish_duration_seconds_count{outcome="ok"} 2`,
		`webhook_bridge_kafka_publish_duration_seconds_count{outcome="error"} 1`,
		"webhook_bridge_requests_in_flight 0",
	} {
		if !strings.Contains(rec.Body.String(), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var dupLines int
	for _, l := range tb.log.lines(t) {
		if l["event_id"] == "evt-ok" && l["duplicate"] == true {
			dupLines++
		}
	}
	if dupLines != 1 {
		t.Errorf("%d log lines of evt-ok with duplicate: true, want 1 (the redelivery)", dupLines)
	}
}

// reasonErr is a publisher's error that names its cause, as topics/kafka's
// do.
type reasonErr struct{ reason string }

func (e reasonErr) Error() string  { return "publish: " + e.reason }
func (e reasonErr) Reason() string { return e.reason }

// TestUnavailableSaysWhy: a 503's message and log line name the cause the
// publisher gave, or what the standard library can tell, never "not in
// time" for a refused connection.
func TestUnavailableSaysWhy(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name  string
		err   error
		block bool
		want  string
	}{
		{name: "publisher's reason", err: fmt.Errorf("wrapped: %w", reasonErr{"not enough in-sync replicas"}), want: "not enough in-sync replicas"},
		{name: "refused", err: fmt.Errorf("publish: %w", refused), want: "connection refused"},
		{name: "deadline", block: true, want: "timed out"},
		{name: "anything else", err: errors.New("boom"), want: "error"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTestBridge(bridge.Options{PublishTimeout: 200 * time.Millisecond})
			tb.pub.set(tt.err, tt.block)
			id := fmt.Sprintf("evt-why-%d", i)
			got := tb.post(t, []byte(`{"uuid":"`+id+`","resource":{"type":"ORDER","uuid":"o-1","content":{"company":{"id":"c-1"}}},"resourceAction":"ADDED"}`))
			var body struct{ Error, Message string }
			if err := json.Unmarshal(got.body, &body); err != nil || got.status != http.StatusServiceUnavailable {
				t.Fatalf("got %d %s, want a 503", got.status, got.body)
			}
			if want := "Kafka did not take the record: " + tt.want + "; nothing was accepted, retry later"; body.Message != want {
				t.Errorf("message %q, want %q", body.Message, want)
			}
			var reasons []any
			for _, l := range tb.log.lines(t) {
				if l["event_id"] == id {
					reasons = append(reasons, l["reason"])
				}
			}
			if len(reasons) != 1 || reasons[0] != tt.want {
				t.Errorf("log lines of %s have reason %v, want one with %q", id, reasons, tt.want)
			}
		})
	}
}

// TestInFlightCountsWebhooksOnly: a webhook waiting for Kafka is in flight;
// the scrape that reads the gauge, and probes, are not.
func TestInFlightCountsWebhooksOnly(t *testing.T) {
	tb := newTestBridge(bridge.Options{PublishTimeout: 2 * time.Second})
	tb.pub.set(nil, true) // the publish waits until the request gives up
	done := make(chan response, 1)
	go func() {
		done <- tb.post(t, []byte(`{"uuid":"evt-wait","resource":{"type":"ORDER","uuid":"o-1","content":{"company":{"id":"c-1"}}},"resourceAction":"ADDED"}`))
	}()
	gauge := func() string {
		tb.serveAdmin(t, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		got := tb.serveAdmin(t, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		for line := range strings.Lines(string(got.body)) {
			if v, ok := strings.CutPrefix(line, "webhook_bridge_requests_in_flight "); ok {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(tb.pub.records()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // until the webhook reached the publisher
	}
	if got := gauge(); got != "1" {
		t.Errorf("in flight while one webhook waits = %s, want 1", got)
	}
	<-done
	if got := gauge(); got != "0" {
		t.Errorf("in flight after it was answered = %s, want 0", got)
	}
}
