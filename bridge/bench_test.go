package bridge_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
)

// The hot path, measured without Kafka:
//
//	go test -run '^$' -bench . -benchmem ./bridge
//
// BenchmarkNormalize is envelope parse + routing + key extraction +
// CloudEvents encoding, one sub-benchmark per resource (its ADDED sample).
// BenchmarkHandler is the whole HTTP handler (routing, request id, token
// authentication, body read, Normalize, dedup, publish to a no-op publisher,
// metrics, the request log line encoded by zerolog, the 202 body) for a
// typical ~1.4 KiB SUBSCRIPTION CHANGED delivery.

func benchSample(b *testing.B, name string) []byte {
	b.Helper()
	body, err := os.ReadFile(filepath.Join(samplesDir, name))
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkNormalize(b *testing.B) {
	n := topics.Naming{Prefix: testPrefix}
	for _, r := range topics.Catalog {
		body := benchSample(b, r.Name+"-added.json")
		b.Run(r.Name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := topics.Normalize(body, n, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchPublisher acknowledges every record at once.
type benchPublisher struct{}

func (benchPublisher) Publish(context.Context, ...topics.Record) error { return nil }

// benchResponse is a ResponseWriter that the benchmark reuses, so that the
// allocations counted are the server's, not the test harness's.
type benchResponse struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *benchResponse) Header() http.Header         { return w.h }
func (w *benchResponse) WriteHeader(status int)      { w.status = status }
func (w *benchResponse) Write(p []byte) (int, error) { return w.body.Write(p) }

// benchBody is a request body that can be rewound.
type benchBody struct{ bytes.Reader }

func (*benchBody) Close() error { return nil }

// uuidTail is where a sample's event uuid gets a fresh counter, so that
// every delivery is a new event (a repeated id would be answered by the
// dedup without publishing).
func uuidTail(body []byte) int {
	i := bytes.Index(body, []byte(`"uuid": "`))
	if i < 0 {
		panic("sample without uuid")
	}
	return i + len(`"uuid": "`) + 36 - 12
}

func benchHandler(b *testing.B, name string, parallel bool) {
	const token = "bench-token-0123456789"
	auth, err := bridge.NewAuth(bridge.AuthConfig{Modes: []string{bridge.ModeToken}, Tokens: []string{token}})
	if err != nil {
		b.Fatal(err)
	}
	srv := bridge.NewServer(benchPublisher{}, testOptions(bridge.Options{Naming: topics.Naming{Prefix: testPrefix}, Auth: auth}),
		zerolog.New(io.Discard).With().Timestamp().Logger())
	tmpl := benchSample(b, name)
	tail := uuidTail(tmpl)
	var seq atomic.Uint64
	serve := func(pb interface{ Next() bool }) {
		body := bytes.Clone(tmpl)
		rb := &benchBody{}
		req, err := http.NewRequest(http.MethodPost, "http://bridge/webhooks", rb)
		if err != nil {
			b.Error(err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(bridge.HeaderWebhookToken, token)
		req.ContentLength = int64(len(body))
		req.RemoteAddr = "127.0.0.1:40000"
		w := &benchResponse{h: make(http.Header)}
		var digits [20]byte
		for pb.Next() {
			d := strconv.AppendUint(digits[:0], seq.Add(1), 16)
			copy(body[tail:tail+12], "000000000000")
			copy(body[tail+12-len(d):], d)
			rb.Reset(body)
			clear(w.h)
			w.body.Reset()
			w.status = 0
			srv.ServeHTTP(w, req)
			if w.status != http.StatusAccepted {
				b.Errorf("status %d: %s", w.status, w.body.Bytes())
				return
			}
		}
	}
	b.SetBytes(int64(len(tmpl)))
	b.ReportAllocs()
	if parallel {
		b.RunParallel(func(pb *testing.PB) { serve(pb) })
		return
	}
	serve(loopNext{b})
}

type loopNext struct{ b *testing.B }

func (l loopNext) Next() bool { return l.b.Loop() }

func BenchmarkHandler(b *testing.B) {
	benchHandler(b, "subscription-changed.json", false)
}

func BenchmarkHandlerParallel(b *testing.B) {
	benchHandler(b, "subscription-changed.json", true)
}

// The request path of a routed webhook stays under 20 heap allocations
// (token authentication, dedup, normalization, the 202), measured through
// ServeHTTP with a publisher that keeps nothing. Under the race detector
// sync.Pool drops a quarter of what it is given, so pooled buffers are
// allocated again: the bound there is looser.
func TestHandlerAllocations(t *testing.T) {
	limit := 20.0
	if raceEnabled {
		limit = 24
	}
	r := testing.Benchmark(func(b *testing.B) { benchHandler(b, "subscription-changed.json", false) })
	if r.N == 0 {
		t.Fatal("the handler benchmark did not run")
	}
	if got := float64(r.MemAllocs) / float64(r.N); got >= limit {
		t.Errorf("%.1f allocations per webhook, want under %.0f", got, limit)
	}
	t.Logf("%.1f allocations per webhook over %d webhooks", float64(r.MemAllocs)/float64(r.N), r.N)
}
