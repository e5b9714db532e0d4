package bridge_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// A traced delivery through a real Kafka writer: the record read back from
// the broker carries the server span's context in its traceparent header
// and CloudEvent attribute, in the sender's trace, next to the publish
// span that wrote it.
func TestIntegrationTraceContextReadBackFromKafka(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 3)
	w, err := kafka.NewWriter(kafkatest.Writer(kc), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	srv := bridge.NewServer(w, testOptions(bridge.Options{Naming: n, Tracer: tp}), zerolog.Nop())
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)

	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/webhooks", strings.NewReader(goodSubscription))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", senderTraceParent)
	req.Header.Set("tracestate", senderTraceState)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d", resp.StatusCode)
	}

	var server, publish []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		switch s.SpanKind {
		case trace.SpanKindServer:
			server = append(server, s)
		case trace.SpanKindProducer:
			publish = append(publish, s)
		}
	}
	if len(server) != 1 || len(publish) != 1 {
		t.Fatalf("%d server and %d publish spans, want 1 and 1", len(server), len(publish))
	}
	if publish[0].Parent.SpanID() != server[0].SpanContext.SpanID() || server[0].SpanContext.TraceID().String() != senderTraceID {
		t.Errorf("spans: server %v (parent %v), publish parent %v", server[0].SpanContext, server[0].Parent, publish[0].Parent)
	}
	want := "00-" + senderTraceID + "-" + server[0].SpanContext.SpanID().String() + "-01"

	msgs := kafkatest.ReadAll(t, kc, n.Topic("subscription"), 30*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d records on %s, want 1", len(msgs), n.Topic("subscription"))
	}
	m := msgs[0]
	if got := kafkatest.Header(m, "traceparent"); got != want {
		t.Errorf("traceparent header = %q, want %q", got, want)
	}
	if got := kafkatest.Header(m, "tracestate"); got != senderTraceState {
		t.Errorf("tracestate header = %q, want %q", got, senderTraceState)
	}
	ev, err := kafka.Decode(m)
	if err != nil {
		t.Fatal(err)
	}
	if ev.TraceParent != want || ev.TraceState != senderTraceState {
		t.Errorf("decoded trace context %q, %q; want %q, %q", ev.TraceParent, ev.TraceState, want, senderTraceState)
	}
	if !strings.Contains(string(m.Value), `"traceparent":"`+want+`"`) {
		t.Errorf("the CloudEvent lacks the traceparent attribute: %s", m.Value)
	}
}
