package topics_test

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// A consumer continues the trace of an event: Decode gives the trace
// context the bridge wrote, and OpenTelemetry's W3C propagator turns it
// into the parent of the consumer's own span.
func ExampleDecode_trace() {
	// A record as the bridge writes it for a delivery in a trace.
	body := `{"uuid":"e-1","resource":{"type":"SUBSCRIPTION","uuid":"s-1"},"resourceAction":"REMOVED"}`
	routed, _ := topics.NormalizeTraced([]byte(body), topics.Naming{Prefix: "appdirect."}, nil, topics.TraceContext{
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceState: "rojo=00f067aa0ba902b7",
	})
	rec := routed.Record

	ev, err := topics.Decode(rec.Headers, rec.Value)
	if err != nil {
		panic(err)
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{
		"traceparent": ev.TraceParent, "tracestate": ev.TraceState,
	})
	// ctx, span := tracer.Start(ctx, "process "+rec.Topic, trace.WithSpanKind(trace.SpanKindConsumer))
	// defer span.End()
	parent := trace.SpanContextFromContext(ctx)
	fmt.Println(parent.TraceID(), parent.SpanID(), parent.IsSampled(), parent.TraceState())
	// Output: 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 true rojo=00f067aa0ba902b7
}
