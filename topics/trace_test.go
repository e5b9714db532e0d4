package topics_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/extensions"
	"github.com/google/go-cmp/cmp"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

const (
	testTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	testTraceState  = "rojo=00f067aa0ba902b7,\tcongo=t61rcWkgMzE,vendor@sys=\"q\\x"
)

func TestValidTraceParent(t *testing.T) {
	tests := []struct {
		name string
		give string
		want bool
	}{
		{name: "sampled", give: testTraceParent, want: true},
		{name: "not sampled", give: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", want: true},
		{name: "random and sampled", give: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", want: true},
		{name: "empty", give: ""},
		{name: "reserved flag", give: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-04"},
		{name: "flags not hex", give: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"},
		{name: "upper case", give: "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"},
		{name: "version 01", give: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{name: "version ff", give: "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{name: "zero trace id", give: "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
		{name: "zero parent id", give: "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"},
		{name: "short trace id", give: "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"},
		{name: "trailing data", give: testTraceParent + "-x"},
		{name: "trailing space", give: testTraceParent + " "},
		{name: "CRLF", give: testTraceParent[:54] + "\r\n"},
		{name: "header injection", give: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX-Evil: 1"},
		{name: "underscores", give: "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"},
		{name: "non-hex trace id", give: "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := topics.ValidTraceParent(tt.give); got != tt.want {
				t.Errorf("ValidTraceParent(%q) = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
}

func TestValidTraceState(t *testing.T) {
	tests := []struct {
		name string
		give string
		want bool
	}{
		{name: "none", give: "", want: true},
		{name: "one", give: "rojo=00f067aa0ba902b7", want: true},
		{name: "several with spaces", give: "rojo=00f067aa0ba902b7 ,\tcongo=t61rcWkgMzE", want: true},
		{name: "empty members", give: "a=1,,b=2,", want: true},
		{name: "multi-tenant key", give: "fw529a3039@dt=ZmY4,1tenant@vendor=x", want: true},
		{name: "value with quote, backslash and inner space", give: `k="q\ x`, want: true},
		{name: "32 members", give: members(32), want: true},
		{name: "33 members", give: members(33)},
		{name: "512 bytes", give: "k=" + strings.Repeat("v", 254) + ",j=" + strings.Repeat("v", 253), want: true},
		{name: "over 512 bytes", give: "k=" + strings.Repeat("v", 256) + ",j=" + strings.Repeat("v", 256)},
		{name: "value of 257", give: "k=" + strings.Repeat("v", 257)},
		{name: "duplicate key", give: "a=1,a=2"},
		{name: "upper-case key", give: "Rojo=1"},
		{name: "key starts with digit", give: "1rojo=1"},
		{name: "no value", give: "rojo="},
		{name: "no equals", give: "rojo"},
		{name: "equals in value", give: "rojo=a=b"},
		{name: "CRLF", give: "rojo=1\r\nX-Evil: 1"},
		{name: "non-ASCII", give: "rojo=é"},
		{name: "long system id", give: "t@abcdefghijklmno=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := topics.ValidTraceState(tt.give); got != tt.want {
				t.Errorf("ValidTraceState(%q) = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
}

func members(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, "k"+strconv.Itoa(i)+"=1")
	}
	return strings.Join(parts, ",")
}

// The zero TraceContext changes nothing: every golden record is what
// Normalize wrote before tracing existed, and NormalizeTraced writes the
// same bytes.
func TestNormalizeTracedWithoutContextIsNormalize(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(samplesDir, "*.json"))
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a, errA := topics.Normalize(body, topics.Naming{Prefix: "appdirect."}, nil)
		b, errB := topics.NormalizeTraced(body, topics.Naming{Prefix: "appdirect."}, nil, topics.TraceContext{})
		if (errA == nil) != (errB == nil) {
			t.Fatalf("%s: errors %v and %v", f, errA, errB)
		}
		if diff := cmp.Diff(a.Record, b.Record); diff != "" {
			t.Errorf("%s: NormalizeTraced with no trace context (-Normalize +NormalizeTraced):\n%s", f, diff)
		}
		for _, h := range b.Record.Headers {
			if h.Key == topics.HeaderTraceParent || h.Key == topics.HeaderTraceState {
				t.Errorf("%s: header %s without a trace context", f, h.Key)
			}
		}
		if bytes.Contains(b.Record.Value, []byte(`"traceparent"`)) {
			t.Errorf("%s: traceparent attribute without a trace context", f)
		}
	}
}

// A traced event carries its trace context in the headers and as the
// CloudEvents distributed-tracing extension, which Decode and the
// CloudEvents SDK read back; what is invalid is dropped, never copied.
func TestNormalizeTracedCarriesTheTraceContext(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(samplesDir, "subscription-added.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                  string
		give                  topics.TraceContext
		wantParent, wantState string
	}{
		{name: "parent and state", give: topics.TraceContext{TraceParent: testTraceParent, TraceState: testTraceState},
			wantParent: testTraceParent, wantState: testTraceState},
		{name: "parent only", give: topics.TraceContext{TraceParent: testTraceParent}, wantParent: testTraceParent},
		{name: "invalid state dropped", give: topics.TraceContext{TraceParent: testTraceParent, TraceState: "rojo=1\r\nx"}, wantParent: testTraceParent},
		{name: "state of no member dropped", give: topics.TraceContext{TraceParent: testTraceParent, TraceState: " ,\t, "}, wantParent: testTraceParent},
		{name: "invalid parent drops both", give: topics.TraceContext{TraceParent: strings.ToUpper(testTraceParent), TraceState: "rojo=1"}},
		{name: "state without parent", give: topics.TraceContext{TraceState: "rojo=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := topics.NormalizeTraced(body, topics.Naming{Prefix: "appdirect."}, nil, tt.give)
			if err != nil {
				t.Fatal(err)
			}
			rec := ev.Record
			hp, hasP := topics.HeaderValue(rec.Headers, topics.HeaderTraceParent)
			hs, hasS := topics.HeaderValue(rec.Headers, topics.HeaderTraceState)
			if hp != tt.wantParent || hasP != (tt.wantParent != "") || hs != tt.wantState || hasS != (tt.wantState != "") {
				t.Errorf("headers traceparent %q (%v), tracestate %q (%v); want %q, %q", hp, hasP, hs, hasS, tt.wantParent, tt.wantState)
			}
			var attrs map[string]any
			if err := json.Unmarshal(rec.Value, &attrs); err != nil {
				t.Fatalf("value is not JSON: %v\n%s", err, rec.Value)
			}
			ap, _ := attrs["traceparent"].(string)
			as, _ := attrs["tracestate"].(string)
			_, hasAP := attrs["traceparent"]
			_, hasAS := attrs["tracestate"]
			if ap != tt.wantParent || hasAP != (tt.wantParent != "") || as != tt.wantState || hasAS != (tt.wantState != "") {
				t.Errorf("attributes traceparent %q, tracestate %q; want %q, %q", ap, as, tt.wantParent, tt.wantState)
			}
			dec, err := topics.Decode(rec.Headers, rec.Value)
			if err != nil {
				t.Fatal(err)
			}
			if dec.TraceParent != tt.wantParent || dec.TraceState != tt.wantState {
				t.Errorf("Decode: %q, %q; want %q, %q", dec.TraceParent, dec.TraceState, tt.wantParent, tt.wantState)
			}
			var sdk cloudevents.Event
			if err := format.JSON.Unmarshal(rec.Value, &sdk); err != nil {
				t.Fatalf("SDK: %v", err)
			}
			if err := sdk.Validate(); err != nil {
				t.Fatalf("SDK: invalid event: %v", err)
			}
			dt, ok := extensions.GetDistributedTracingExtension(sdk)
			if ok != (tt.wantParent != "") || dt.TraceParent != tt.wantParent || dt.TraceState != tt.wantState {
				t.Errorf("SDK distributed tracing extension %+v (%v), want %q, %q", dt, ok, tt.wantParent, tt.wantState)
			}
		})
	}
}

// Decode reads the attributes first (the context the bridge wrote), the
// headers when the value has none, and leaves a mismatch alone: headers
// may be rewritten in transit by traced Kafka clients.
func TestDecodeTraceContext(t *testing.T) {
	const data = `{"uuid":"e-1","resource":{"type":"USER"},"resourceAction":"ADDED"}`
	const other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	value := func(attrs string) []byte {
		return []byte(`{"specversion":"1.0","id":"e-1","source":"appdirect","type":"com.appdirect.user.added"` + attrs + `,"data":` + data + `}`)
	}
	hdr := func(kv ...string) []topics.Header {
		var hs []topics.Header
		for i := 0; i+1 < len(kv); i += 2 {
			hs = append(hs, topics.Header{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	tests := []struct {
		name                  string
		headers               []topics.Header
		value                 []byte
		wantParent, wantState string
	}{
		{name: "none", value: value("")},
		{name: "attributes", value: value(`,"traceparent":"` + testTraceParent + `","tracestate":"a=1"`), wantParent: testTraceParent, wantState: "a=1"},
		{name: "headers only", headers: hdr("traceparent", testTraceParent, "tracestate", "a=1"), value: value(""), wantParent: testTraceParent, wantState: "a=1"},
		{name: "attributes win", headers: hdr("traceparent", other, "tracestate", "b=2"), value: value(`,"traceparent":"` + testTraceParent + `"`), wantParent: testTraceParent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := topics.Decode(tt.headers, tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if ev.TraceParent != tt.wantParent || ev.TraceState != tt.wantState {
				t.Errorf("Decode: %q, %q; want %q, %q", ev.TraceParent, ev.TraceState, tt.wantParent, tt.wantState)
			}
		})
	}
}

// A quarantine record takes the trace context as headers (its value is the
// raw body); the index update of a traced event carries none.
func TestTraceContextHeadersOfOtherRecords(t *testing.T) {
	tc := topics.TraceContext{TraceParent: testTraceParent, TraceState: "a=1"}.Checked()
	q := topics.QuarantineRecord(topics.Naming{}, []byte("x"), topics.CodeInvalidJSON, "not JSON", "", "")
	q.Headers = tc.AppendHeaders(q.Headers)
	if p, _ := topics.HeaderValue(q.Headers, topics.HeaderTraceParent); p != testTraceParent {
		t.Errorf("quarantine traceparent = %q", p)
	}
	if got := (topics.TraceContext{}).AppendHeaders(nil); got != nil {
		t.Errorf("the zero TraceContext appended %v", got)
	}

	body := []byte(`{"uuid":"e-1","resource":{"type":"SUBSCRIPTION","uuid":"s-1","content":{"order":{"company":{"id":"c-1"}}}},"resourceAction":"ADDED"}`)
	ev, err := topics.NormalizeTraced(body, topics.Naming{}, emptyIndex{}, tc)
	if err != nil {
		t.Fatal(err)
	}
	if ev.IndexUpdate.Topic == "" {
		t.Fatal("no index update: the test needs one")
	}
	if _, ok := topics.HeaderValue(ev.IndexUpdate.Headers, topics.HeaderTraceParent); ok {
		t.Errorf("the index update carries a traceparent")
	}
	if p, _ := topics.HeaderValue(ev.Record.Headers, topics.HeaderTraceParent); p != testTraceParent {
		t.Errorf("event traceparent = %q", p)
	}
}

// emptyIndex knows no company.
type emptyIndex struct{}

func (emptyIndex) Company(string, string) (string, bool) { return "", false }

// A traced record matches the resource's JSON Schema and the AsyncAPI
// document's payload and header schemas, which declare the trace context;
// a traceparent the bridge would never write does not.
func TestSchemasDeclareTheTraceContext(t *testing.T) {
	schemas := compileSchemas(t)
	a := loadAsyncAPI(t)
	payload := a.schema(t, "/components/messages/subscriptionEvent/payload")
	headerSchema := a.schema(t, "/components/messages/subscriptionEvent/headers")
	body, err := os.ReadFile(filepath.Join(samplesDir, "subscription-added.json"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := topics.NormalizeTraced(body, topics.Naming{Prefix: "appdirect."}, nil,
		topics.TraceContext{TraceParent: testTraceParent, TraceState: testTraceState})
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas["subscription"].Validate(jsonInstance(t, ev.Record.Value)); err != nil {
		t.Errorf("JSON Schema: %v\n%s", err, ev.Record.Value)
	}
	if err := payload.Validate(jsonInstance(t, ev.Record.Value)); err != nil {
		t.Errorf("AsyncAPI payload: %v", err)
	}
	headers := map[string]any{}
	for _, h := range ev.Record.Headers {
		headers[h.Key] = string(h.Value)
	}
	if err := headerSchema.Validate(instance(t, headers)); err != nil {
		t.Errorf("AsyncAPI headers: %v", err)
	}

	bad := strings.Replace(string(ev.Record.Value), testTraceParent, strings.ToUpper(testTraceParent), 1)
	if schemas["subscription"].Validate(jsonInstance(t, []byte(bad))) == nil || payload.Validate(jsonInstance(t, []byte(bad))) == nil {
		t.Errorf("the schemas accept an upper-case traceparent")
	}
	headers[topics.HeaderTraceParent] = "01-" + testTraceParent[3:]
	if headerSchema.Validate(instance(t, headers)) == nil {
		t.Errorf("the header schema accepts a version-01 traceparent")
	}
}
