package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// startServe runs `serve` against the test broker with its topics created
// and returns its base URL.
// startServe runs serve on free ports and returns the webhook port's and the
// admin port's base URLs.
func startServe(t *testing.T, env map[string]string) (string, string, *running, kafka.Config, topics.Naming) {
	t.Helper()
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 3)
	base, admin := listenEnv(t)
	t.Setenv("BRIDGE_KAFKA_BROKERS", strings.Join(kc.Brokers, ","))
	t.Setenv("BRIDGE_TOPIC_PREFIX", n.Prefix)
	t.Setenv("BRIDGE_INTERNAL_TOPIC_PREFIX", n.Internal)
	t.Setenv("BRIDGE_AUTH_TOKENS", testToken)
	for k, v := range env {
		t.Setenv(k, v)
	}
	srv := runInBackground(t, []string{"serve"}, io.Discard, io.Discard)
	waitReady(t, srv, admin)
	return base, admin, srv, kc, n
}

// scrape reads the admin port's /metrics.
func scrape(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func metricValue(t *testing.T, text, series string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no series %s in /metrics", series)
	}
	return m[1]
}

func TestMetricsCountWhatHappened(t *testing.T) {
	base, admin, _, _, n := startServe(t, nil)
	if status, body := postJSON(t, base+"/webhooks", devSample, "X-AppDirect-Webhook-Token", testToken); status != http.StatusAccepted {
		t.Fatalf("post: %d %v", status, body)
	}
	if status, _ := postJSON(t, base+"/webhooks", "{", "X-AppDirect-Webhook-Token", testToken); status != http.StatusBadRequest {
		t.Fatalf("bad post: %d", status)
	}
	if status, _ := postJSON(t, base+"/webhooks", devSample, "X-AppDirect-Webhook-Token", "nope"); status != http.StatusUnauthorized {
		t.Fatalf("unauthorized post: %d", status)
	}
	text := scrape(t, admin)
	for series, want := range map[string]string{
		`webhook_bridge_records_published_total{topic="` + n.Topic("subscription") + `"}`:                    "1",
		`webhook_bridge_quarantined_total{reason="invalid_json"}`:                                            "1",
		`webhook_bridge_auth_failures_total{reason="invalid_token"}`:                                         "1",
		`webhook_bridge_requests_total{action="added",code="202",resource="subscription",route="/webhooks"}`: "1",
		`webhook_bridge_ready`:                       "1",
		`webhook_bridge_kafka_writer_messages_total`: "3", // the event, the company-index mapping it taught, the quarantined body
		`webhook_bridge_company_index_entries`:       "1",
		`webhook_bridge_company_index_caught_up`:     "1",
	} {
		if got := metricValue(t, text, series); got != want {
			t.Errorf("%s = %s, want %s", series, got, want)
		}
	}
	for _, name := range []string{"webhook_bridge_request_duration_seconds_bucket", "webhook_bridge_kafka_publish_duration_seconds_bucket", "webhook_bridge_build_info", "webhook_bridge_requests_in_flight"} {
		if !strings.Contains(text, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if !strings.Contains(text, `le="0.001"`) {
		t.Error("latency histograms do not resolve 1 ms")
	}
}

func TestHealthcheckCommand(t *testing.T) {
	_, admin, _, _, _ := startServe(t, nil)
	var out strings.Builder
	if err := run(context.Background(), []string{"healthcheck", admin + "/readyz"}, &out, io.Discard); err != nil {
		t.Fatalf("healthcheck of a ready server: %v", err)
	}
	// Without a URL it asks BRIDGE_ADMIN_ADDR's /readyz, as the image's
	// health check does.
	if err := run(context.Background(), []string{"healthcheck"}, &out, io.Discard); err != nil {
		t.Fatalf("healthcheck with its default URL (BRIDGE_ADMIN_ADDR=%s): %v", os.Getenv("BRIDGE_ADMIN_ADDR"), err)
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer down.Close()
	if err := run(context.Background(), []string{"healthcheck", down.URL}, io.Discard, io.Discard); err == nil {
		t.Error("healthcheck of a 503 server succeeded")
	}
}

// slowBody hands out its first part at once and the rest when released.
type slowBody struct {
	first, rest []byte
	release     chan struct{}
	sentFirst   chan struct{}
	stage       int
}

func (b *slowBody) Read(p []byte) (int, error) {
	switch b.stage {
	case 0:
		b.stage = 1
		close(b.sentFirst)
		return copy(p, b.first), nil
	case 1:
		<-b.release
		b.stage = 2
		return copy(p, b.rest), nil
	default:
		return 0, io.EOF
	}
}

func TestShutdownFinishesTheRequestInFlight(t *testing.T) {
	base, admin, srv, kc, n := startServe(t, map[string]string{"BRIDGE_SHUTDOWN_GRACE": "300ms", "BRIDGE_SHUTDOWN_TIMEOUT": "20s"})
	half := len(devSample) / 2
	body := &slowBody{first: []byte(devSample[:half]), rest: []byte(devSample[half:]), release: make(chan struct{}), sentFirst: make(chan struct{})}
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(devSample))
	req.Header.Set("X-AppDirect-Webhook-Token", testToken)
	type result struct {
		status int
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		resp.Body.Close()
		res <- result{status: resp.StatusCode}
	}()
	<-body.sentFirst
	stopped := make(chan error, 1)
	go func() { stopped <- srv.stop() }() // what SIGTERM does
	// Readiness turns 503 at once while the request is still in flight.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not turn 503 after shutdown began")
		}
		time.Sleep(10 * time.Millisecond) // polling the server under test
	}
	// After the grace period the listener stops accepting, while the
	// request in flight is still waiting for the rest of its body.
	noKeepAlive := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		resp, err := noKeepAlive.Get(base + "/")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("new connections still accepted 10s after shutdown began")
		}
		time.Sleep(10 * time.Millisecond) // polling the server under test
	}
	close(body.release)
	r := <-res
	if r.err != nil || r.status != http.StatusAccepted {
		t.Fatalf("in-flight request: status %d err %v, want 202", r.status, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("serve returned %v, want nil", err)
	}
	msgs := kafkatest.ReadAll(t, kc, n.Topic("subscription"), 30*time.Second)
	if len(msgs) != 1 || kafkatest.Header(msgs[0], topics.HeaderEventID) != "7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09" {
		t.Errorf("topic holds %d records, want the in-flight one", len(msgs))
	}
}

// A connection carries one request at a time: with BRIDGE_MAX_INFLIGHT not
// below BRIDGE_HTTP_MAX_CONNS the in-flight bound can never answer 503, so
// serve says so at start; with the defaults it does not.
func TestInFlightBoundAboveTheConnectionCapWarns(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 1)
	for _, tt := range []struct {
		name     string
		maxConns string
		wantWarn bool
	}{
		{"defaults", "", false},
		{"cap below the bound", "100", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, admin := listenEnv(t)
			t.Setenv("BRIDGE_KAFKA_BROKERS", strings.Join(kc.Brokers, ","))
			t.Setenv("BRIDGE_TOPIC_PREFIX", n.Prefix)
			t.Setenv("BRIDGE_INTERNAL_TOPIC_PREFIX", n.Internal)
			t.Setenv("BRIDGE_SHUTDOWN_GRACE", "100ms")
			t.Setenv("BRIDGE_AUTH_TOKENS", "inflight-test-token-7c1d-93b0e5f2a8c4")
			if tt.maxConns != "" {
				t.Setenv("BRIDGE_HTTP_MAX_CONNS", tt.maxConns)
			}
			var logs syncBuffer
			srv := runInBackground(t, []string{"serve"}, io.Discard, &logs)
			waitReady(t, srv, admin)
			if err := srv.stop(); err != nil {
				t.Fatalf("serve returned %v after cancel, want nil", err)
			}
			if warned := hasWarning(t, logs.String(), "BRIDGE_MAX_INFLIGHT is not below BRIDGE_HTTP_MAX_CONNS"); warned != tt.wantWarn {
				t.Errorf("warned that the in-flight bound cannot apply: %v, want %v; log:\n%s", warned, tt.wantWarn, logs.String())
			}
		})
	}
}

// hasWarning reports whether a warn-level line of the JSON log says msg.
func hasWarning(t *testing.T, log, msg string) bool {
	t.Helper()
	for _, l := range logLines(t, log) {
		if m, _ := l["message"].(string); l["level"] == "warn" && strings.Contains(m, msg) {
			return true
		}
	}
	return false
}
