package bridge_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/webhook-bridge/webhook-bridge/bridge"
)

// TestRequestLogModes: BRIDGE_LOG_REQUESTS decides which 2xx get a line;
// 4xx and 5xx get one in every mode.
func TestRequestLogModes(t *testing.T) {
	const token = "log-mode-token-0123456789abcdef"
	tests := []struct {
		give string
		want map[float64]int // lines by status
	}{
		{"all", map[float64]int{202: 6, 400: 1, 401: 1, 503: 1}},
		{"errors", map[float64]int{400: 1, 401: 1, 503: 1}},
		// The 1st and 4th of the six 2xx.
		{"sample:3", map[float64]int{202: 2, 400: 1, 401: 1, 503: 1}},
		{"sample:1", map[float64]int{202: 6, 400: 1, 401: 1, 503: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			mode, err := bridge.ParseRequestLog(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			if mode.String() != tt.give {
				t.Errorf("ParseRequestLog(%q).String() = %q", tt.give, mode.String())
			}
			auth, err := bridge.NewAuth(bridge.AuthConfig{Modes: []string{bridge.ModeToken}, Tokens: []string{token}})
			if err != nil {
				t.Fatal(err)
			}
			tb := newTestBridge(bridge.Options{Auth: auth, LogRequests: mode})
			post := func(body, tok string) int {
				req := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader([]byte(body)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(bridge.HeaderWebhookToken, tok)
				return tb.serve(t, req).status
			}
			var got []int
			for i := range 5 {
				got = append(got, post(envelope(fmt.Sprintf("evt-%d", i), "SUBSCRIPTION", "ADDED", `{"order":{"company":{"id":"co-1"}}}`), token))
			}
			got = append(got, post(envelope("evt-0", "SUBSCRIPTION", "ADDED", `{"order":{"company":{"id":"co-1"}}}`), token)) // a duplicate
			got = append(got, post(`{"uuid":"evt-bad", not json`, token))
			got = append(got, post(envelope("evt-5", "SUBSCRIPTION", "ADDED", ""), "wrong-token"))
			tb.pub.set(errors.New("kafka: leader not available"), false)
			got = append(got, post(envelope("evt-6", "SUBSCRIPTION", "ADDED", ""), token))
			if r := tb.serveAdmin(t, httptest.NewRequest(http.MethodGet, "/readyz", nil)); r.status != http.StatusOK {
				t.Fatalf("/readyz: %d", r.status)
			}
			if diff := cmp.Diff([]int{202, 202, 202, 202, 202, 202, 400, 401, 503}, got); diff != "" {
				t.Fatalf("statuses (-want +got):\n%s", diff)
			}
			lines := map[float64]int{}
			for _, l := range tb.log.lines(t) {
				if l["message"] != "request" {
					continue
				}
				st, _ := l["status"].(float64)
				lines[st]++
				if l["request_id"] == nil || l["path"] != "/webhooks" {
					t.Errorf("line without request_id or path: %v", l)
				}
			}
			if diff := cmp.Diff(tt.want, lines); diff != "" {
				t.Errorf("log lines by status (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{"", "none", "sample:", "sample:0", "sample:-2", "sample:x", "ALL"} {
		if _, err := bridge.ParseRequestLog(bad); err == nil {
			t.Errorf("ParseRequestLog(%q) = nil error", bad)
		}
	}
}

// TestResponsesCarryTheDate: every answer has a Date header (RFC 9110
// requires one), which the bridge formats once a second rather than
// net/http once a response.
func TestResponsesCarryTheDate(t *testing.T) {
	tb := newTestBridge(bridge.Options{})
	for _, r := range []response{
		tb.post(t, []byte(envelope("evt-date", "SUBSCRIPTION", "ADDED", `{"order":{"company":{"id":"co-1"}}}`))),
		tb.post(t, []byte(`not json`)),
		tb.serveAdmin(t, httptest.NewRequest(http.MethodGet, "/readyz", nil)),
	} {
		d, err := http.ParseTime(r.header.Get("Date"))
		if err != nil || time.Since(d) > 2*time.Second || time.Until(d) > time.Second {
			t.Errorf("status %d: Date %q (%v), want now in RFC 9110's format", r.status, r.header.Get("Date"), err)
		}
	}
}
