package bridge_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
)

// holdingPublisher keeps the records it is given as given, as Kafka's
// writer does until they are acknowledged (or for ever, for a caller who
// gave up), and a copy of each to compare them with later.
type holdingPublisher struct {
	mu     sync.Mutex
	held   []topics.Record
	copies []topics.Record
	fail   bool
}

func (p *holdingPublisher) Publish(_ context.Context, recs ...topics.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range recs {
		c := topics.Record{Topic: r.Topic, Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)}
		for _, h := range r.Headers {
			c.Headers = append(c.Headers, topics.Header{Key: h.Key, Value: bytes.Clone(h.Value)})
		}
		p.held, p.copies = append(p.held, r), append(p.copies, c)
	}
	if p.fail {
		return context.DeadlineExceeded
	}
	return nil
}

// TestBuffersKafkaHoldsAreNotReused: the bridge reuses request bodies'
// buffers, but never one that became a record's value (a quarantined body,
// whether Kafka acknowledged it or not), and no record's bytes change once
// published, whatever is served afterwards.
func TestBuffersKafkaHoldsAreNotReused(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("acknowledged=%v", !fail), func(t *testing.T) {
			pub := &holdingPublisher{fail: fail}
			srv := bridge.NewServer(pub, testOptions(bridge.Options{}), zerolog.New(io.Discard))
			post := func(body string) int {
				req, err := http.NewRequest(http.MethodPost, "http://bridge/webhooks", bytes.NewReader([]byte(body)))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				return serveWith(t, srv, req).status
			}
			// Quarantined: an unknown resource, and a body that is not JSON.
			post(envelope("evt-q1", "NO_SUCH_RESOURCE", "ADDED", `{"id":"x"}`))
			post(`{"uuid":"evt-q2", not json` + string(bytes.Repeat([]byte("x"), 600)))
			// Then valid deliveries of every size class, one at a time, so
			// that each reuses what the one before left.
			for i := range 40 {
				post(envelope(fmt.Sprintf("evt-%d", i), "SUBSCRIPTION", "ADDED",
					`{"order":{"company":{"id":"co-`+fmt.Sprint(i)+`"}},"pad":"`+string(bytes.Repeat([]byte{'a' + byte(i%26)}, i*97))+`"}`))
			}
			pub.mu.Lock()
			defer pub.mu.Unlock()
			if len(pub.held) < 2 {
				t.Fatalf("%d records published, want the quarantined ones at least", len(pub.held))
			}
			for i, r := range pub.held {
				c := pub.copies[i]
				if !bytes.Equal(r.Value, c.Value) || !bytes.Equal(r.Key, c.Key) || r.Topic != c.Topic {
					t.Errorf("record %d (%s) changed after it was published:\nnow  %.120q\nthen %.120q", i, r.Topic, r.Value, c.Value)
				}
				for j, h := range r.Headers {
					if !bytes.Equal(h.Value, c.Headers[j].Value) {
						t.Errorf("record %d header %s changed after it was published: %q, was %q", i, h.Key, h.Value, c.Headers[j].Value)
					}
				}
			}
		})
	}
}

// TestBodyBudgetIsGivenBack: every request gives back what its body took
// of MaxInFlightBytes, whatever its outcome, so that requests one after
// another never run out of a budget of a few bodies.
func TestBodyBudgetIsGivenBack(t *testing.T) {
	tb := newTestBridge(bridge.Options{MaxBodyBytes: 2048, MaxInFlightBytes: 3 * 2049})
	bodies := []string{
		envelope("evt-%d", "SUBSCRIPTION", "ADDED", `{"order":{"company":{"id":"co-1"}}}`), // 202
		envelope("evt-%d", "NO_SUCH_RESOURCE", "ADDED", `{"id":"x"}`),                      // 422, quarantined
		`{"uuid":"evt-%d", not json`, // 400, quarantined
	}
	for i := range 60 {
		body := fmt.Sprintf(bodies[i%len(bodies)], i)
		if r := tb.post(t, []byte(body)); r.status == http.StatusServiceUnavailable {
			t.Fatalf("request %d: 503 %s: the budget was not given back", i, r.body)
		}
	}
}
