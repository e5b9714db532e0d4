package bridge

import (
	"net/http"
	"testing"
)

// With tracing off, reading the trace context costs no allocation: none
// for a request without a traceparent, none for a valid one passed through
// (the record takes the header's own string).
func TestTraceContextOffAllocatesNothing(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for name, h := range map[string]http.Header{
		"none":  {"Content-Type": {"application/json"}},
		"valid": {"Traceparent": {tp}, "Tracestate": {"rojo=1"}},
	} {
		var got string
		if n := testing.AllocsPerRun(100, func() { got = incomingTraceContext(h).TraceParent }); n != 0 {
			t.Errorf("%s: %v allocations per request, want 0", name, n)
		}
		if name == "valid" && got != tp {
			t.Errorf("valid traceparent read as %q", got)
		}
	}
}
