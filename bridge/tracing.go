package bridge

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/contrib/instrumentation/github.com/labstack/echo/otelecho"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// Tracing, when Options.Tracer is set: a server span for every request on
// the webhook port (otelecho; its parent is the request's W3C traceparent
// when valid, else it starts a trace), a producer span for every publish
// under it, and the server span's context in the records. Without a
// Tracer there are no spans and no middleware; a valid traceparent the
// request brought still goes into the records, unchanged, as W3C asks of a
// participant that does not trace (propagate what it cannot add to).
//
// The bridge uses the OpenTelemetry API only; the SDK and its exporters
// are wired in cmd/webhook-bridge.

// instrumentationName names the bridge's own spans' tracer.
const instrumentationName = "github.com/webhook-bridge/webhook-bridge/bridge"

// startTracing turns tracing on: publishes get their span, and routes
// installs traceRequests.
func (s *Server) startTracing(tp trace.TracerProvider) {
	s.tracer = tp
	s.pub = tracedPublisher{pub: s.pub, tracer: tp.Tracer(instrumentationName)}
}

// traceRequests is the server span of every webhook-port request. It runs
// inside requestLog, so that its span sees the status the error handler
// chose (httpError runs once here, and requestLog's own call finds the
// response written), and around everything else.
func (s *Server) traceRequests() []echo.MiddlewareFunc {
	server := otelecho.Middleware("",
		otelecho.WithTracerProvider(s.tracer),
		// W3C Trace Context only: what the records carry.
		otelecho.WithPropagators(propagation.TraceContext{}),
		// The bridge's metrics are Prometheus's (/metrics).
		otelecho.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelecho.WithOnError(func(c echo.Context, err error) { s.httpError(err, c) }),
	)
	logTraceID := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if sc := trace.SpanContextFromContext(c.Request().Context()); sc.IsValid() {
				infoOf(c).traceID = sc.TraceID().String()
			}
			return next(c)
		}
	}
	return []echo.MiddlewareFunc{server, logTraceID}
}

// traceContext is the trace context the request's records carry, checked
// (see topics.TraceContext): with tracing on, the server span's; off, the
// request's own traceparent and tracestate when the traceparent is valid.
// The zero value (no header, no attribute) when there is none.
func (s *Server) traceContext(c echo.Context) topics.TraceContext {
	r := c.Request()
	if s.tracer != nil {
		sc := trace.SpanContextFromContext(r.Context())
		if !sc.IsValid() {
			return topics.TraceContext{}
		}
		return topics.TraceContext{TraceParent: formatTraceParent(sc), TraceState: sc.TraceState().String()}.Checked()
	}
	tc := incomingTraceContext(r.Header)
	if tc.TraceParent != "" {
		infoOf(c).traceID = tc.TraceParent[3:35]
	}
	return tc
}

// incomingTraceContext reads the W3C headers of a request, strictly: one
// traceparent that is valid (see parseTraceParent), else nothing; the
// tracestate, its lines joined, only when valid too. The header map is
// read directly: Get would canonicalize (and allocate) on every request.
func incomingTraceContext(h http.Header) topics.TraceContext {
	parents := h["Traceparent"]
	if len(parents) != 1 { // none, or several: W3C calls several invalid
		return topics.TraceContext{}
	}
	tp, ok := parseTraceParent(parents[0])
	if !ok {
		return topics.TraceContext{}
	}
	tc := topics.TraceContext{TraceParent: tp}
	if states := h["Tracestate"]; len(states) > 0 {
		ts := states[0]
		if len(states) > 1 {
			ts = strings.Join(states, ",")
		}
		if topics.ValidTraceState(ts) {
			tc.TraceState = ts
		}
	}
	return tc
}

// parseTraceParent checks a traceparent and returns it as version 00
// (topics.ValidTraceParent). A later version (01 to fe) is read as W3C
// asks: its first 55 characters as version 00, when nothing or a '-'
// follows them, keeping the flags version 00 defines (sampled, random).
func parseTraceParent(s string) (string, bool) {
	if topics.ValidTraceParent(s) {
		return s, true
	}
	if len(s) < topics.TraceParentLength || (len(s) > topics.TraceParentLength && s[topics.TraceParentLength] != '-') {
		return "", false
	}
	v, err := hex.DecodeString(s[:2])
	if err != nil || s[:2] != strings.ToLower(s[:2]) || v[0] == 0 || v[0] == 0xff {
		return "", false
	}
	flags, err := hex.DecodeString(s[53:55])
	if err != nil || s[53:55] != strings.ToLower(s[53:55]) {
		return "", false
	}
	tp := "00" + s[2:53] + "0" + string(rune('0'+(flags[0]&0x03)))
	return tp, topics.ValidTraceParent(tp)
}

// formatTraceParent is sc as a version-00 traceparent, with the flags
// version 00 defines.
func formatTraceParent(sc trace.SpanContext) string {
	var b [topics.TraceParentLength]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))})
	return string(b[:])
}

// tracedPublisher gives every publish a producer span, a child of the
// request's server span: the topics and records it wrote, its outcome, and
// an error status with the reason when Kafka did not take them.
type tracedPublisher struct {
	pub    Publisher
	tracer trace.Tracer
}

// Span attributes of a publish beyond the semantic conventions' own.
const (
	attrPublishTopics  = attribute.Key("webhook_bridge.publish.topics")
	attrPublishRecords = attribute.Key("webhook_bridge.publish.records")
	attrPublishOutcome = attribute.Key("webhook_bridge.publish.outcome")
)

func (p tracedPublisher) Publish(ctx context.Context, recs ...topics.Record) error {
	if len(recs) == 0 {
		return p.pub.Publish(ctx, recs...)
	}
	names := make([]string, 0, len(recs))
	for _, r := range recs {
		names = append(names, r.Topic)
	}
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemKafka,
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("send"),
		semconv.MessagingDestinationName(recs[0].Topic),
		attrPublishTopics.StringSlice(names),
		attrPublishRecords.Int(len(recs)),
	}
	if len(recs) > 1 {
		attrs = append(attrs, semconv.MessagingBatchMessageCount(len(recs)))
	}
	ctx, span := p.tracer.Start(ctx, "send "+recs[0].Topic, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	defer span.End()
	err := p.pub.Publish(ctx, recs...)
	if err != nil {
		reason := publishReason(err)
		span.SetAttributes(attrPublishOutcome.String("error"), semconv.ErrorTypeKey.String(reason))
		span.RecordError(err)
		span.SetStatus(codes.Error, reason)
		return err
	}
	span.SetAttributes(attrPublishOutcome.String("ok"))
	return nil
}
