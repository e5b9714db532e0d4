package bridge_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
