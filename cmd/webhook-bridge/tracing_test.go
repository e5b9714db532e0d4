package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// clearTracingEnv unsets every OpenTelemetry variable for the test, so
// that the machine's own cannot turn tracing on.
func clearTracingEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "OTEL_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

func TestTracingConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    tracingConfig
		wantErr string // a part of the error; "" for none
	}{
		{name: "nothing set: off"},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			want: tracingConfig{on: true, protocol: "http/protobuf", endpoint: "http://collector:4318"}},
		{name: "traces endpoint wins", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/v1/traces"},
			want: tracingConfig{on: true, protocol: "http/protobuf", endpoint: "https://b/v1/traces"}},
		{name: "grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			want: tracingConfig{on: true, protocol: "grpc", endpoint: "http://collector:4317"}},
		{name: "traces protocol wins", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
			want: tracingConfig{on: true, protocol: "http/json", endpoint: "http://c:4318"}},
		{name: "userinfo not logged", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://user:secret@collector"},
			want: tracingConfig{on: true, protocol: "http/protobuf", endpoint: "https://collector"}},
		{name: "sdk disabled", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}},
		{name: "exporter none", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}},
		{name: "protocol without endpoint: off", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}},
		{name: "sampler", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"},
			want: tracingConfig{on: true, protocol: "http/protobuf", endpoint: "http://c:4318"}},
		{name: "no scheme", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT must be a URL"},
		{name: "bad traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://x"}, wantErr: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be a URL"},
		{name: "unknown protocol", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "unknown sampler", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "sometimes"}, wantErr: "OTEL_TRACES_SAMPLER"},
		{name: "ratio over 1", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "unknown exporter", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "OTEL_TRACES_EXPORTER"},
		{name: "sdk disabled not a bool", env: map[string]string{"OTEL_SDK_DISABLED": "yes please"}, wantErr: "OTEL_SDK_DISABLED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearTracingEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := readTracingConfig()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("readTracingConfig() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHelpListsTheTracingVariables(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--help"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, v := range tracingVars {
		if !strings.Contains(out.String(), "\n"+v.name+" ") {
			t.Errorf("serve --help does not list %s", v.name)
		}
	}
}

// TestDocsTracingTable keeps the tracing variables of docs/operations.md
// equal to what --help lists.
func TestDocsTracingTable(t *testing.T) {
	rows := [][]string{{"variable", "default", "meaning"}}
	for _, v := range tracingVars {
		def := "—"
		if v.def != "" {
			def = "`" + v.def + "`"
		}
		rows = append(rows, []string{"`" + v.name + "`", def, strings.ReplaceAll(v.desc, "|", `\|`)})
	}
	syncGenerated(t, root+"/docs/operations.md", map[string]string{"tracing": markdownTable(rows)})
}

// otlpReceiver is an OTLP trace receiver (a Collector's, in miniature) on
// a loopback port, for one protocol.
type otlpReceiver struct {
	url   string
	mu    sync.Mutex
	spans []*tracepb.ResourceSpans
}

func (r *otlpReceiver) add(req *collectortrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, req.GetResourceSpans()...)
}

func (r *otlpReceiver) received() []*tracepb.ResourceSpans {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.ResourceSpans(nil), r.spans...)
}

type grpcTraceService struct {
	collectortrace.UnimplementedTraceServiceServer
	r *otlpReceiver
}

func (s grpcTraceService) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	s.r.add(req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func startOTLPReceiver(t *testing.T, protocol string) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	if protocol == "grpc" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gs := grpc.NewServer()
		collectortrace.RegisterTraceServiceServer(gs, grpcTraceService{r: r})
		go func() { _ = gs.Serve(ln) }()
		t.Cleanup(gs.Stop)
		r.url = "http://" + ln.Addr().String()
		return r
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var msg collectortrace.ExportTraceServiceRequest
		var err error
		ct := req.Header.Get("Content-Type")
		switch {
		case req.URL.Path != "/v1/traces":
			http.Error(w, "not the traces path", http.StatusNotFound)
			return
		case protocol == "http/json" && ct == "application/json":
			err = unmarshalOTLPJSON(body, &msg)
		case protocol == "http/protobuf" && ct == "application/x-protobuf":
			err = proto.Unmarshal(body, &msg)
		default:
			http.Error(w, "unexpected content type "+ct, http.StatusUnsupportedMediaType)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.add(&msg)
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(hs.Close)
	r.url = hs.URL
	return r
}

// serve with an OTLP endpoint exports, by each protocol, the server span
// of a traced delivery and its publish span, in the sender's trace, under
// service.name webhook-bridge, flushed at shutdown after the Kafka writer
// closed; the record in Kafka carries the server span's traceparent.
func TestServeExportsTraces(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 1)
	for _, protocol := range []string{"http/protobuf", "http/json", "grpc"} {
		t.Run(strings.ReplaceAll(protocol, "/", "-"), func(t *testing.T) {
			clearTracingEnv(t)
			rcv := startOTLPReceiver(t, protocol)
			base, admin := listenEnv(t)
			t.Setenv("BRIDGE_KAFKA_BROKERS", strings.Join(kc.Brokers, ","))
			t.Setenv("BRIDGE_TOPIC_PREFIX", n.Prefix)
			t.Setenv("BRIDGE_INTERNAL_TOPIC_PREFIX", n.Internal)
			t.Setenv("BRIDGE_SHUTDOWN_GRACE", "100ms")
			t.Setenv("BRIDGE_AUTH_TOKENS", testToken)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.url)
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
			// The default logs 4xx and 5xx only; the test reads the 202's line.
			t.Setenv("BRIDGE_LOG_REQUESTS", "all")
			var logs syncBuffer
			srv := runInBackground(t, []string{"serve"}, io.Discard, &logs)
			waitReady(t, srv, admin)

			traceID, spanID := randomHex(t, 16), randomHex(t, 8)
			status, body := postJSON(t, base+"/webhooks", devSample, "X-AppDirect-Webhook-Token", testToken,
				"traceparent", "00-"+traceID+"-"+spanID+"-01")
			if status != http.StatusAccepted {
				t.Fatalf("post: %d %v", status, body)
			}
			if len(rcv.received()) != 0 {
				// The batch exports every 5 s by default: the spans are
				// in memory until the shutdown flushes them.
				t.Logf("spans exported before the shutdown")
			}
			if err := srv.stop(); err != nil {
				t.Fatalf("serve returned %v after cancel, want nil", err)
			}

			var server, publish *tracepb.Span
			for _, rs := range rcv.received() {
				var service string
				for _, a := range rs.GetResource().GetAttributes() {
					if a.GetKey() == "service.name" {
						service = a.GetValue().GetStringValue()
					}
				}
				for _, ss := range rs.GetScopeSpans() {
					for _, s := range ss.GetSpans() {
						if hex.EncodeToString(s.GetTraceId()) != traceID {
							continue
						}
						if service != "webhook-bridge" {
							t.Errorf("span %q of service %q, want webhook-bridge", s.GetName(), service)
						}
						switch s.GetKind() {
						case tracepb.Span_SPAN_KIND_SERVER:
							server = s
						case tracepb.Span_SPAN_KIND_PRODUCER:
							publish = s
						}
					}
				}
			}
			if server == nil || publish == nil {
				t.Fatalf("the receiver got no server or publish span of trace %s: %v\nlogs:\n%s", traceID, rcv.received(), logs.String())
			}
			if hex.EncodeToString(server.GetParentSpanId()) != spanID || !bytes.Equal(publish.GetParentSpanId(), server.GetSpanId()) {
				t.Errorf("server span's parent %x (want %s), publish span's parent %x (want %x)",
					server.GetParentSpanId(), spanID, publish.GetParentSpanId(), server.GetSpanId())
			}
			if publish.GetName() != "send "+n.Topic("subscription") {
				t.Errorf("publish span %q", publish.GetName())
			}

			want := "00-" + traceID + "-" + hex.EncodeToString(server.GetSpanId()) + "-01"
			var found bool
			for _, m := range kafkatest.ReadAll(t, kc, n.Topic("subscription"), 30*time.Second) {
				if kafkatest.Header(m, "traceparent") != want {
					continue
				}
				found = true
				if ev, err := kafka.Decode(m); err != nil || ev.TraceParent != want {
					t.Errorf("decoded traceparent %q (%v), want %q", ev.TraceParent, err, want)
				}
			}
			if !found {
				t.Errorf("no record with traceparent %s", want)
			}

			// The log says tracing is on, and the request line names the trace.
			var on, traced bool
			sc := bufio.NewScanner(strings.NewReader(logs.String()))
			for sc.Scan() {
				var m map[string]any
				if json.Unmarshal(sc.Bytes(), &m) != nil {
					t.Errorf("log line is not JSON: %s", sc.Text())
					continue
				}
				on = on || (m["message"] == "tracing: exporting spans by OTLP" && m["protocol"] == protocol)
				traced = traced || (m["message"] == "request" && m["trace_id"] == traceID)
			}
			if !on || !traced {
				t.Errorf("tracing line %v, request line with trace_id %v; logs:\n%s", on, traced, logs.String())
			}
		})
	}
}

// unmarshalOTLPJSON reads OTLP/JSON, whose ids are hex where protobuf's
// JSON mapping has base64: it turns them into base64 for protojson.
func unmarshalOTLPJSON(b []byte, msg proto.Message) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var walk func(v any) error
	walk = func(v any) error {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && (k == "traceId" || k == "spanId" || k == "parentSpanId") {
					raw, err := hex.DecodeString(s)
					if err != nil {
						return fmt.Errorf("%s %q is not hex: %w", k, s, err)
					}
					v[k] = base64.StdEncoding.EncodeToString(raw)
					continue
				}
				if err := walk(e); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range v {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(v); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return protojson.Unmarshal(b, msg)
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	b[0] |= 1 // never all zero
	return hex.EncodeToString(b)
}

// replay publishes a quarantined delivery in the trace it came with: the
// quarantine record's traceparent and tracestate headers become the
// event's. A quarantined body without them gives an event without them.
func TestReplayContinuesTheQuarantinedTrace(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 1)
	useBroker(t, kc, n)
	const traceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	w, err := kafka.NewWriter(kafkatest.Writer(kc), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	traced := topics.QuarantineRecord(n, []byte(subscriptionBody("e-traced", "ADDED", "s-1", "co-1")), topics.CodeUnknownResource, "unknown", "e-traced", "application/json")
	traced.Headers = topics.TraceContext{TraceParent: traceParent, TraceState: "rojo=1"}.Checked().AppendHeaders(traced.Headers)
	plain := topics.QuarantineRecord(n, []byte(subscriptionBody("e-plain", "ADDED", "s-2", "co-1")), topics.CodeUnknownResource, "unknown", "e-plain", "application/json")
	if err := w.Publish(context.Background(), traced, plain); err != nil {
		t.Fatal(err)
	}
	w.Close()

	replayOut(t, "--from-beginning")
	got := map[string][2]string{}
	for _, m := range kafkatest.ReadAll(t, kc, n.Topic("subscription"), 30*time.Second) {
		ev, err := kafka.Decode(m)
		if err != nil {
			t.Fatal(err)
		}
		got[ev.ID] = [2]string{kafkatest.Header(m, "traceparent"), ev.TraceParent + " " + ev.TraceState}
	}
	want := map[string][2]string{"e-traced": {traceParent, traceParent + " rojo=1"}, "e-plain": {"", " "}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replayed events' traceparent header and decoded context (-want +got):\n%s", diff)
	}
}
