package bridge_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
)

// TestDeliveriesThatCanNeverFitAreQuarantined: a delivery whose record Kafka
// would refuse on every retry gets a 4xx at once, and its body is kept in
// the quarantine, in a record that fits.
func TestDeliveriesThatCanNeverFitAreQuarantined(t *testing.T) {
	memberships := make([]string, 36_000)
	for i := range memberships {
		memberships[i] = fmt.Sprintf(`{"company":{"id":"c1b2a3d4-e5f6-4789-a0b1-%012d"}}`, i)
	}
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   string
	}{
		{name: "1 MB resource.type", wantStatus: 422, wantCode: topics.CodeUnknownResource,
			body: `{"uuid":"evt-type","resource":{"type":"` + strings.Repeat("T", 1_000_000) + `","uuid":"x"},"resourceAction":"ADDED"}`},
		{name: "600 KB resource.uuid", wantStatus: 422, wantCode: topics.CodeFieldTooLong,
			body: `{"uuid":"evt-uuid","resource":{"type":"ORDER","uuid":"` + strings.Repeat("u", 600_000) + `","content":{"company":{"id":"c-1"}}},"resourceAction":"ADDED"}`},
		{name: "USER with 36,000 memberships", wantStatus: 422, wantCode: topics.CodeRecordTooLarge,
			body: `{"uuid":"evt-user","resource":{"type":"USER","uuid":"u-1","content":{"memberships":[` + strings.Join(memberships, ",") + `]}},"resourceAction":"CHANGED"}`},
		{name: "uuid with CR/LF", wantStatus: 400, wantCode: topics.CodeInvalidEnvelope,
			body: "{\"uuid\":\"evt-1\\r\\nforged: header\",\"resource\":{\"type\":\"ORDER\",\"uuid\":\"o-1\",\"content\":{\"company\":{\"id\":\"c-1\"}}},\"resourceAction\":\"ADDED\"}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTestBridge(bridge.Options{MaxBodyBytes: 2 << 20})
			got := tb.post(t, []byte(tt.body))
			if got.status != tt.wantStatus || !strings.Contains(string(got.body), `"error":"`+tt.wantCode+`"`) {
				t.Fatalf("status %d %.300s, want %d %s", got.status, got.body, tt.wantStatus, tt.wantCode)
			}
			recs := tb.pub.records()
			if len(recs) != 1 || recs[0].Topic != quarantineTopic || string(recs[0].Value) != tt.body {
				t.Fatalf("published %d records (first to %q), want the raw body in %s only", len(recs), topicOf(recs), quarantineTopic)
			}
			q := recs[0]
			size := len(q.Key) + len(q.Value)
			for _, h := range q.Headers {
				size += len(h.Key) + len(h.Value)
				if strings.ContainsAny(string(h.Value), "\r\n") {
					t.Errorf("quarantine header %s holds CR/LF: %q", h.Key, h.Value)
				}
			}
			if limit := len(tt.body) + 64<<10; size > limit {
				t.Errorf("quarantine record is %d bytes, over body + 64 KiB (%d): it might not fit", size, limit)
			}
			if len(got.body) > 1024 {
				t.Errorf("error body is %d bytes: it echoes the input", len(got.body))
			}
		})
	}
}

func topicOf(recs []topics.Record) string {
	if len(recs) == 0 {
		return ""
	}
	return recs[0].Topic
}

// TestBodiesAreHeldWithinTheMemoryBudget: requests whose bodies would take
// the bodies held at once over MaxInFlightBytes get 503 with Retry-After,
// while the others are served.
func TestBodiesAreHeldWithinTheMemoryBudget(t *testing.T) {
	tb := newTestBridge(bridge.Options{MaxInFlightBytes: 3 << 20, PublishTimeout: time.Second})
	tb.pub.set(nil, true) // every publish waits, so bodies stay held
	body := `{"uuid":"evt-%d","resource":{"type":"ORDER","uuid":"o-1","content":{"company":{"id":"c-1"},"pad":"` + strings.Repeat("p", 900_000) + `"}},"resourceAction":"ADDED"}`
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	retryAfter := make([]string, 8)
	for i := range statuses {
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(fmt.Sprintf(body, i)))
			rec := httptest.NewRecorder()
			tb.srv.ServeHTTP(rec, req) // answered at the publish timeout, or at once when over budget
			statuses[i], retryAfter[i] = rec.Code, rec.Header().Get("Retry-After")
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusServiceUnavailable || retryAfter[i] == "" {
			t.Fatalf("request %d: %d Retry-After %q, want 503 with Retry-After (publish blocked or over budget)", i, s, retryAfter[i])
		}
	}
	// 3 MiB holds three bodies of ~0.9 MB: at most three reached Publish.
	if over := len(tb.pub.records()); over == 0 || over > 3 {
		t.Errorf("%d requests reached Publish with a 3 MiB budget for 0.9 MB bodies, want 1 to 3", over)
	}
}

// TestASlowBodyIsATimeoutNotBadInput: a body that does not arrive within the
// publish timeout gets 408 body_timeout (the sender is slow, not wrong; the
// marketplace retries), nothing is written, and the server goes on serving.
func TestASlowBodyIsATimeoutNotBadInput(t *testing.T) {
	tb := newTestBridge(bridge.Options{PublishTimeout: 300 * time.Millisecond})
	ts := httptest.NewServer(tb.srv)
	defer ts.Close()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// 8 of the 100 bytes announced, then nothing.
	fmt.Fprintf(conn, "POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"uuid\":")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound for a hang
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	var body struct{ Error, Message string }
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	if resp.StatusCode != http.StatusRequestTimeout || body.Error != "body_timeout" {
		t.Errorf("a body cut short in time: %d %s, want 408 body_timeout", resp.StatusCode, b)
	}
	tb.pub.mu.Lock()
	n := len(tb.pub.recs)
	tb.pub.mu.Unlock()
	if n != 0 {
		t.Errorf("%d records written for a body that never arrived", n)
	}
	r, err := http.Post(ts.URL+"/webhooks", "application/json", strings.NewReader(fmt.Sprintf(orderEvent, time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusAccepted {
		t.Errorf("the next delivery: %d, want 202", r.StatusCode)
	}
}
