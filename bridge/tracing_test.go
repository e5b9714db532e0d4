package bridge_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
)

// The sender's trace context, as W3C's examples write it.
const (
	senderTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	senderSpanID      = "00f067aa0ba902b7"
	senderTraceParent = "00-" + senderTraceID + "-" + senderSpanID + "-01"
	senderTraceState  = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
)

// newTracedBridge is a test bridge with tracing on, its spans kept in
// memory as they end.
func newTracedBridge(t *testing.T, opts bridge.Options) (*testBridge, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	opts.Tracer = tp
	return newTestBridge(opts), exp
}

// postTraced posts body with the given W3C headers (nil: none).
func (tb *testBridge) postTraced(t *testing.T, body string, h http.Header) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header[k] = v
	}
	return tb.serve(t, req)
}

// w3c is the request headers of a trace context.
func w3c(parent string, state ...string) http.Header {
	h := http.Header{"Traceparent": {parent}}
	if len(state) > 0 {
		h["Tracestate"] = state
	}
	return h
}

// recordTrace is what a record carries of its trace context: the headers
// and the CloudEvent attributes as Decode reads them.
type recordTrace struct {
	HeaderParent, HeaderState string
	AttrParent, AttrState     string
}

func traceOf(t *testing.T, rec topics.Record) recordTrace {
	t.Helper()
	var rt recordTrace
	rt.HeaderParent, _ = topics.HeaderValue(rec.Headers, topics.HeaderTraceParent)
	rt.HeaderState, _ = topics.HeaderValue(rec.Headers, topics.HeaderTraceState)
	if ev, err := topics.Decode(rec.Headers, rec.Value); err == nil {
		// Decode falls back to the headers; read the value alone.
		if ev, err = topics.Decode(nil, rec.Value); err == nil {
			rt.AttrParent, rt.AttrState = ev.TraceParent, ev.TraceState
		}
	}
	return rt
}

// spansByKind sorts the ended spans: the server span and the publish span.
func spansByKind(t *testing.T, exp *tracetest.InMemoryExporter) (server, publish []tracetest.SpanStub) {
	t.Helper()
	for _, s := range exp.GetSpans() {
		switch s.SpanKind {
		case trace.SpanKindServer:
			server = append(server, s)
		case trace.SpanKindProducer:
			publish = append(publish, s)
		default:
			t.Errorf("unexpected span %q of kind %v", s.Name, s.SpanKind)
		}
	}
	return server, publish
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// A delivery with a traceparent: a server span that continues the sender's
// trace, a publish span under it, and the record carries the server span's
// context, in its headers and its CloudEvent, with the sender's tracestate.
func TestTracingContinuesTheSendersTrace(t *testing.T) {
	tb, exp := newTracedBridge(t, bridge.Options{})
	got := tb.postTraced(t, goodSubscription, w3c(senderTraceParent, senderTraceState))
	if got.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", got.status, got.body)
	}
	server, publish := spansByKind(t, exp)
	if len(server) != 1 || len(publish) != 1 {
		t.Fatalf("%d server and %d publish spans, want 1 and 1: %+v", len(server), len(publish), exp.GetSpans())
	}
	srv, pub := server[0], publish[0]
	if srv.SpanContext.TraceID().String() != senderTraceID || srv.Parent.SpanID().String() != senderSpanID || !srv.Parent.IsRemote() {
		t.Errorf("server span: trace %s parent %s, want the sender's trace %s and span %s",
			srv.SpanContext.TraceID(), srv.Parent.SpanID(), senderTraceID, senderSpanID)
	}
	if srv.Name != "POST /webhooks" || attrs(srv)["http.response.status_code"].AsInt64() != http.StatusAccepted {
		t.Errorf("server span %q, attributes %v", srv.Name, srv.Attributes)
	}
	if pub.SpanContext.TraceID() != srv.SpanContext.TraceID() || pub.Parent.SpanID() != srv.SpanContext.SpanID() {
		t.Errorf("publish span is not a child of the server span: parent %s, server %s", pub.Parent.SpanID(), srv.SpanContext.SpanID())
	}
	topic := testPrefix + "subscription"
	a := attrs(pub)
	if pub.Name != "send "+topic || a["messaging.system"].AsString() != "kafka" || a["messaging.destination.name"].AsString() != topic ||
		!slices.Equal(a["webhook_bridge.publish.topics"].AsStringSlice(), []string{topic}) ||
		a["webhook_bridge.publish.records"].AsInt64() != 1 || a["webhook_bridge.publish.outcome"].AsString() != "ok" ||
		pub.Status.Code == codes.Error {
		t.Errorf("publish span %q: status %v, attributes %v", pub.Name, pub.Status, pub.Attributes)
	}

	recs := tb.pub.records()
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	want := "00-" + senderTraceID + "-" + srv.SpanContext.SpanID().String() + "-01"
	if diff := cmp.Diff(recordTrace{want, senderTraceState, want, senderTraceState}, traceOf(t, recs[0])); diff != "" {
		t.Errorf("record trace context (-want +got):\n%s", diff)
	}

	// The request's log line names the trace.
	var logged bool
	for _, l := range tb.log.lines(t) {
		if l["message"] == "request" {
			logged = true
			if l["trace_id"] != senderTraceID {
				t.Errorf("log line trace_id = %v, want %s", l["trace_id"], senderTraceID)
			}
		}
	}
	if !logged {
		t.Errorf("no request log line: %s", tb.log)
	}
}

// Without a traceparent, or with one that is not valid, the bridge starts a
// trace: the record carries the new trace, never the malformed header.
func TestTracingStartsATraceForAMissingOrMalformedTraceparent(t *testing.T) {
	tests := []struct {
		name string
		give http.Header
	}{
		{name: "none"},
		{name: "upper case", give: w3c(strings.ToUpper(senderTraceParent), senderTraceState)},
		{name: "zero trace id", give: w3c("00-00000000000000000000000000000000-" + senderSpanID + "-01")},
		{name: "version ff", give: w3c("ff" + senderTraceParent[2:])},
		{name: "too short", give: w3c(senderTraceParent[:54])},
		{name: "trailing data on version 00", give: w3c(senderTraceParent + "-00")},
		{name: "CRLF", give: w3c(senderTraceParent + "\r\nX-Injected: 1")},
		{name: "garbage", give: w3c("hello")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, exp := newTracedBridge(t, bridge.Options{})
			got := tb.postTraced(t, goodSubscription, tt.give)
			if got.status != http.StatusAccepted {
				t.Fatalf("status %d: %s", got.status, got.body)
			}
			server, publish := spansByKind(t, exp)
			if len(server) != 1 || len(publish) != 1 {
				t.Fatalf("%d server and %d publish spans, want 1 and 1", len(server), len(publish))
			}
			srv := server[0]
			if srv.Parent.IsValid() || srv.SpanContext.TraceID().String() == senderTraceID {
				t.Errorf("server span continues trace %s (parent %v), want a new trace", srv.SpanContext.TraceID(), srv.Parent.SpanID())
			}
			want := "00-" + srv.SpanContext.TraceID().String() + "-" + srv.SpanContext.SpanID().String() + "-01"
			if diff := cmp.Diff(recordTrace{HeaderParent: want, AttrParent: want}, traceOf(t, tb.pub.records()[0])); diff != "" {
				t.Errorf("record trace context (-want +got):\n%s", diff)
			}
		})
	}
}

// A publish Kafka refuses ends its span with an error status and the
// reason; the server span records the 503.
func TestTracingMarksAFailedPublish(t *testing.T) {
	tb, exp := newTracedBridge(t, bridge.Options{})
	tb.pub.set(syscall.ECONNREFUSED, false)
	got := tb.postTraced(t, goodSubscription, w3c(senderTraceParent))
	if got.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", got.status, got.body)
	}
	server, publish := spansByKind(t, exp)
	if len(server) != 1 || len(publish) != 1 {
		t.Fatalf("%d server and %d publish spans, want 1 and 1", len(server), len(publish))
	}
	pub := publish[0]
	a := attrs(pub)
	if pub.Status.Code != codes.Error || pub.Status.Description != "connection refused" ||
		a["webhook_bridge.publish.outcome"].AsString() != "error" || a["error.type"].AsString() != "connection refused" {
		t.Errorf("publish span status %+v, attributes %v", pub.Status, pub.Attributes)
	}
	if len(pub.Events) == 0 || pub.Events[0].Name != "exception" {
		t.Errorf("publish span records no error event: %+v", pub.Events)
	}
	if srv := server[0]; srv.Status.Code != codes.Error || attrs(srv)["http.response.status_code"].AsInt64() != http.StatusServiceUnavailable {
		t.Errorf("server span status %+v, attributes %v", srv.Status, srv.Attributes)
	}
	// The error response was written once, with its JSON body.
	if e := decodeBody[errorResponse](t, got); e.Error != "kafka_unavailable" {
		t.Errorf("error body %+v", e)
	}
}

// A quarantined delivery carries the trace context as headers (its value is
// the raw body); its publish has a span too. The index update that rides
// with an event carries none.
func TestTracingQuarantineAndIndexRecords(t *testing.T) {
	tb, exp := newTracedBridge(t, bridge.Options{})
	got := tb.postTraced(t, envelope("evt-widget", "WIDGET", "ADDED", "{}"), w3c(senderTraceParent, senderTraceState))
	if got.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %s", got.status, got.body)
	}
	server, publish := spansByKind(t, exp)
	if len(server) != 1 || len(publish) != 1 || publish[0].Name != "send "+quarantineTopic {
		t.Fatalf("spans %+v", exp.GetSpans())
	}
	want := "00-" + senderTraceID + "-" + server[0].SpanContext.SpanID().String() + "-01"
	if diff := cmp.Diff(recordTrace{HeaderParent: want, HeaderState: senderTraceState}, traceOf(t, tb.pub.records()[0])); diff != "" {
		t.Errorf("quarantine record trace context (-want +got):\n%s", diff)
	}

	ix := &memIndex{}
	tb, _ = newTracedBridge(t, bridge.Options{Index: ix})
	if got := tb.postTraced(t, goodSubscription, w3c(senderTraceParent)); got.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", got.status, got.body)
	}
	recs := tb.pub.records()
	if len(recs) != 2 {
		t.Fatalf("%d records, want the event and its index update", len(recs))
	}
	if rt := traceOf(t, recs[1]); rt != (recordTrace{}) {
		t.Errorf("the index update carries %+v", rt)
	}
}

// Tracing off: no header and no attribute unless the request brought a
// valid traceparent; a valid one goes into the record unchanged (a later
// version as version 00), a malformed one nowhere.
func TestTracingOffPassesAValidTraceparentThrough(t *testing.T) {
	tests := []struct {
		name string
		give http.Header
		want recordTrace
	}{
		{name: "none"},
		{name: "valid", give: w3c(senderTraceParent, senderTraceState),
			want: recordTrace{senderTraceParent, senderTraceState, senderTraceParent, senderTraceState}},
		{name: "valid without tracestate", give: w3c(senderTraceParent),
			want: recordTrace{HeaderParent: senderTraceParent, AttrParent: senderTraceParent}},
		{name: "tracestate over several lines", give: w3c(senderTraceParent, "rojo=1", "congo=2"),
			want: recordTrace{senderTraceParent, "rojo=1,congo=2", senderTraceParent, "rojo=1,congo=2"}},
		{name: "invalid tracestate dropped", give: w3c(senderTraceParent, "Rojo=1"),
			want: recordTrace{HeaderParent: senderTraceParent, AttrParent: senderTraceParent}},
		{name: "later version read as 00", give: w3c("cc-" + senderTraceID + "-" + senderSpanID + "-0b-what-comes-next"),
			want: recordTrace{HeaderParent: "00-" + senderTraceID + "-" + senderSpanID + "-03", AttrParent: "00-" + senderTraceID + "-" + senderSpanID + "-03"}},
		{name: "later version, no dash after flags", give: w3c("cc-" + senderTraceID + "-" + senderSpanID + "-01x")},
		{name: "upper case", give: w3c(strings.ToUpper(senderTraceParent), senderTraceState)},
		{name: "reserved flags in version 00", give: w3c(senderTraceParent[:53] + "ff")},
		{name: "CRLF", give: w3c(senderTraceParent+"\r\nX-Injected: 1", senderTraceState)},
		{name: "leading space", give: w3c(" " + senderTraceParent)},
		{name: "two traceparents", give: http.Header{"Traceparent": {senderTraceParent, senderTraceParent}}},
		{name: "tracestate alone", give: http.Header{"Tracestate": {senderTraceState}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTestBridge(bridge.Options{})
			got := tb.postTraced(t, goodSubscription, tt.give)
			if got.status != http.StatusAccepted {
				t.Fatalf("status %d: %s", got.status, got.body)
			}
			rec := tb.pub.records()[0]
			if diff := cmp.Diff(tt.want, traceOf(t, rec)); diff != "" {
				t.Errorf("record trace context (-want +got):\n%s", diff)
			}
			if tt.want == (recordTrace{}) {
				// Byte for byte the record of a bridge without tracing.
				plain, err := topics.Normalize([]byte(goodSubscription), testOptions(bridge.Options{}).Naming, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(rec.Value, plain.Record.Value) || len(rec.Headers) != len(plain.Record.Headers) {
					t.Errorf("record differs from Normalize's:\n%s\n%s", rec.Value, plain.Record.Value)
				}
			}
		})
	}
}

// memIndex is a company index that knows nothing and learns nothing, so
// that every event with a company in its payload has an index update.
type memIndex struct{}

func (*memIndex) Company(string, string) (string, bool) { return "", false }
func (*memIndex) Learn(topics.Record)                   {}
