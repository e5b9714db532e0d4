package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// syncBuffer is a bytes.Buffer safe for the goroutines of a running command.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// listenEnv points BRIDGE_HTTP_ADDR and BRIDGE_ADMIN_ADDR at free local
// ports and returns their base URLs: the webhook port's and the admin
// port's.
func listenEnv(t *testing.T) (base, admin string) {
	t.Helper()
	addr, adminAddr := freeAddr(t), freeAddr(t)
	t.Setenv("BRIDGE_HTTP_ADDR", addr)
	t.Setenv("BRIDGE_ADMIN_ADDR", adminAddr)
	return "http://" + addr, "http://" + adminAddr
}

// clearBridgeEnv unsets every BRIDGE_* variable for the test.
func clearBridgeEnv(t *testing.T) {
	t.Helper()
	for name := range configVars() {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
}

// testToken is a webhook token long enough for serve (32 bytes or more).
const testToken = "test-token-5f0c2a9e7b41d836c0e9a2f4"

// envNames lists every BRIDGE_* variable of Config.
func envNames() []string {
	var out []string
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		out = append(out, envPrefix+"_"+ct.Field(i).Tag.Get("envconfig"))
	}
	return out
}

func TestHelpListsEveryVariableWithItsDefault(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"tail", "--help"}, {"topics", "--help"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, name := range envNames() {
			if !strings.Contains(out.String(), name) {
				t.Errorf("%v: help does not list %s", args, name)
			}
		}
		// Each variable's line shows the default its tag declares: the one
		// place defaults are defined.
		ct := reflect.TypeFor[Config]()
		for i := range ct.NumField() {
			f := ct.Field(i)
			def, ok := f.Tag.Lookup("default")
			if !ok {
				continue
			}
			name := envPrefix + "_" + f.Tag.Get("envconfig")
			line := ""
			for _, l := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(l, name+" ") {
					line = l
				}
			}
			if !strings.Contains(line, " "+def+" ") {
				t.Errorf("%v: the help line of %s does not show its default %q: %q", args, name, def, line)
			}
		}
	}
}

// Every command of the usage answers --help with its own usage and exit 0,
// without acting: healthcheck does not probe "--help" as a URL. A command's
// help lists every flag it parses (tail's -quarantine once was left out).
func TestEveryCommandTakesHelp(t *testing.T) {
	var cmds []string
	for _, l := range strings.Split(usage, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "webhook-bridge" && !strings.HasPrefix(f[1], "-") && !slices.Contains(cmds, f[1]) {
			cmds = append(cmds, f[1])
		}
	}
	if len(cmds) < 8 {
		t.Fatalf("found only %v in the usage", cmds)
	}
	for _, cmd := range cmds {
		var out bytes.Buffer
		if err := run(context.Background(), []string{cmd, "--help"}, &out, io.Discard); err != nil {
			t.Errorf("%s --help: %v", cmd, err)
			continue
		}
		if cmd != "serve" && cmd != "dev" && !strings.Contains(out.String(), "webhook-bridge "+cmd) {
			t.Errorf("%s --help does not show its own usage:\n%s", cmd, out.String())
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"tail", "--help"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	fs, _, _ := tailFlags(io.Discard)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "-"+f.Name) {
			t.Errorf("tail --help does not list -%s", f.Name)
		}
	})
	if !strings.Contains(out.String(), "-quarantine") {
		t.Errorf("tail --help does not list -quarantine:\n%s", out.String())
	}
}

// serve refuses secrets too short to withstand guessing; the error names
// the variable (and the client or user), never the value. dev is exempt
// (TestDevServesWithAnEmbeddedBroker runs with a short token).
func TestServeRefusesShortSecrets(t *testing.T) {
	key := strings.Repeat("k", 32)
	strong := strings.Repeat("s", 32)
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"one-character token", map[string]string{"BRIDGE_AUTH_TOKENS": "x"}, "BRIDGE_AUTH_TOKENS has a token shorter than 32 bytes"},
		{"three-character token", map[string]string{"BRIDGE_AUTH_TOKENS": "Zq7"}, "BRIDGE_AUTH_TOKENS has a token shorter than 32 bytes"},
		{"one short token of two", map[string]string{"BRIDGE_AUTH_TOKENS": strong + ",Zq7"}, "BRIDGE_AUTH_TOKENS"},
		{"short client secret", map[string]string{"BRIDGE_AUTH_MODE": "oauth2", "BRIDGE_OAUTH_CLIENTS": "market:Zq7", "BRIDGE_OAUTH_SIGNING_KEYS": key}, `BRIDGE_OAUTH_CLIENTS: the secret of client "market"`},
		{"short password", map[string]string{"BRIDGE_AUTH_MODE": "oauth2", "BRIDGE_OAUTH_CLIENTS": "market:" + strong, "BRIDGE_OAUTH_USERS": "ops:Zq7Zq7Zq7Zq7Zq7", "BRIDGE_OAUTH_SIGNING_KEYS": key}, `BRIDGE_OAUTH_USERS: the password of user "ops" is shorter than 16 characters`},
		{"short signing key", map[string]string{"BRIDGE_AUTH_MODE": "oauth2", "BRIDGE_OAUTH_CLIENTS": "market:" + strong, "BRIDGE_OAUTH_SIGNING_KEYS": key + "," + "Zq7"}, "shorter than 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearBridgeEnv(t)
			t.Setenv("BRIDGE_KAFKA_BROKERS", "127.0.0.1:9")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			err := run(context.Background(), []string{"serve"}, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("serve: %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "Zq7") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
	t.Run("strong secrets pass", func(t *testing.T) {
		clearBridgeEnv(t)
		cfg := defaultConfig(t)
		cfg.AuthTokens = []string{strong}
		cfg.OAuthClients = map[string]string{"market": strong}
		cfg.OAuthUsers = map[string]string{"ops": strings.Repeat("p", 16)}
		cfg.OAuthSigningKeys = []string{key}
		if err := cfg.checkSecretStrength(); err != nil {
			t.Errorf("checkSecretStrength: %v", err)
		}
	})
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"serve without brokers", nil, []string{"serve"}, "BRIDGE_KAFKA_BROKERS is not set"},
		{"topics without brokers", nil, []string{"topics", "create"}, "BRIDGE_KAFKA_BROKERS is not set"},
		{"publish timeout over 30s", map[string]string{"BRIDGE_PUBLISH_TIMEOUT": "31s"}, []string{"serve"}, "BRIDGE_PUBLISH_TIMEOUT"},
		{"bad duration", map[string]string{"BRIDGE_PUBLISH_TIMEOUT": "soon"}, []string{"serve"}, "PUBLISH_TIMEOUT"},
		{"bad log level", map[string]string{"BRIDGE_LOG_LEVEL": "loud"}, []string{"serve"}, "BRIDGE_LOG_LEVEL"},
		{"broker not host:port", map[string]string{"BRIDGE_KAFKA_BROKERS": "kafka"}, []string{"serve"}, `"kafka" is not host:port`},
		{"bad sasl mechanism", map[string]string{"BRIDGE_KAFKA_BROKERS": "k:9092", "BRIDGE_KAFKA_SASL_MECHANISM": "GSSAPI"}, []string{"serve"}, "GSSAPI"},
		{"sasl without password", map[string]string{"BRIDGE_KAFKA_BROKERS": "k:9092", "BRIDGE_KAFKA_SASL_MECHANISM": "PLAIN", "BRIDGE_KAFKA_SASL_USERNAME": "u"}, []string{"serve"}, "BRIDGE_KAFKA_SASL_PASSWORD"},
		{"grace above timeout", map[string]string{"BRIDGE_SHUTDOWN_GRACE": "30s"}, []string{"serve"}, "BRIDGE_SHUTDOWN_GRACE"},
		{"no time for the last publish", map[string]string{"BRIDGE_SHUTDOWN_GRACE": "5s", "BRIDGE_PUBLISH_TIMEOUT": "15s", "BRIDGE_SHUTDOWN_TIMEOUT": "20s"}, []string{"serve"},
			"BRIDGE_SHUTDOWN_TIMEOUT (20s) must be at least BRIDGE_SHUTDOWN_GRACE + BRIDGE_PUBLISH_TIMEOUT + 2s (22s)"},
		{"kafka tls files without tls", map[string]string{"BRIDGE_KAFKA_BROKERS": "k:9092", "BRIDGE_KAFKA_TLS_CA_FILE": "/ca.pem"}, []string{"serve"}, "BRIDGE_KAFKA_TLS is false"},
		{"token mode without tokens", map[string]string{"BRIDGE_KAFKA_BROKERS": "k:9092"}, []string{"serve"}, "BRIDGE_AUTH_MODE=token needs BRIDGE_AUTH_TOKENS"},
		{"oauth2 without clients", map[string]string{"BRIDGE_KAFKA_BROKERS": "k:9092", "BRIDGE_AUTH_MODE": "oauth2"}, []string{"serve"}, "needs BRIDGE_OAUTH_CLIENTS"},
		{"oauth2 without keys", map[string]string{"BRIDGE_KAFKA_BROKERS": "k:9092", "BRIDGE_AUTH_MODE": "token,oauth2", "BRIDGE_AUTH_TOKENS": "t", "BRIDGE_OAUTH_CLIENTS": "c:s"}, []string{"serve"}, "needs BRIDGE_OAUTH_SIGNING_KEYS"},
		{"short signing key", map[string]string{"BRIDGE_KAFKA_BROKERS": "k:9092", "BRIDGE_AUTH_MODE": "oauth2", "BRIDGE_OAUTH_CLIENTS": "c:s", "BRIDGE_OAUTH_SIGNING_KEYS": "short"}, []string{"serve"}, "shorter than 32 bytes"},
		{"unknown auth mode", map[string]string{"BRIDGE_KAFKA_BROKERS": "k:9092", "BRIDGE_AUTH_MODE": "hmac"}, []string{"serve"}, `"hmac" is not one of`},
		{"tls cert without key", map[string]string{"BRIDGE_TLS_CERT_FILE": "/x.pem"}, []string{"serve"}, "BRIDGE_TLS_CERT_FILE and BRIDGE_TLS_KEY_FILE"},
		{"placeholder token", map[string]string{"BRIDGE_KAFKA_BROKERS": "k:9092", "BRIDGE_AUTH_TOKENS": "REPLACE_ME"}, []string{"serve"}, "placeholder REPLACE_ME"},
		{"trusted proxy not an address", map[string]string{"BRIDGE_TRUSTED_PROXIES": "10.0.0.0/8,ingress"}, []string{"serve"}, `BRIDGE_TRUSTED_PROXIES: "ingress" is not an IP address or CIDR`},
		{"no connection to a broker", map[string]string{"BRIDGE_KAFKA_CONNS_PER_BROKER": "0"}, []string{"serve"}, "BRIDGE_KAFKA_CONNS_PER_BROKER must be 1 to 16, got 0"},
		{"too many connections to a broker", map[string]string{"BRIDGE_KAFKA_CONNS_PER_BROKER": "17"}, []string{"serve"}, "BRIDGE_KAFKA_CONNS_PER_BROKER must be 1 to 16, got 17"},
		{"bad request log mode", map[string]string{"BRIDGE_LOG_REQUESTS": "sample:0"}, []string{"serve"}, `BRIDGE_LOG_REQUESTS: "sample:0" is not all, errors or sample:N`},
		{"tail the quarantine by company", map[string]string{"BRIDGE_KAFKA_BROKERS": "k:9092"}, []string{"tail", "--quarantine", "--company", "c1"}, "tail --quarantine: the quarantine's records carry no resource, action or company headers"},
		{"unknown command", nil, []string{"launch"}, `unknown command "launch"`},
		{"no command", nil, nil, "no command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("BRIDGE_KAFKA_BROKERS", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestConnsPerBrokerDefaultIsTheWriters: serve's default for
// BRIDGE_KAFKA_CONNS_PER_BROKER is the writer's own, the one the
// measurements in docs/performance.md chose.
func TestConnsPerBrokerDefaultIsTheWriters(t *testing.T) {
	cfg := configFromEnv(t, map[string]string{"BRIDGE_KAFKA_BROKERS": "k:9092", "BRIDGE_AUTH_TOKENS": strings.Repeat("t", 32)})
	if cfg.KafkaConnsPerBroker != kafka.DefaultConnsPerBroker {
		t.Errorf("BRIDGE_KAFKA_CONNS_PER_BROKER defaults to %d, the writer to %d", cfg.KafkaConnsPerBroker, kafka.DefaultConnsPerBroker)
	}
	if got := cfg.writer(kafka.Config{}).ConnsPerBroker; got != cfg.KafkaConnsPerBroker {
		t.Errorf("the writer gets %d connections per broker, the setting is %d", got, cfg.KafkaConnsPerBroker)
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^webhook-bridge \S+ \(commit \S+, go1\.\d+`).MatchString(out.String()) {
		t.Errorf("version printed %q", out.String())
	}
}

func TestTopicsCreateIsIdempotentAndReportsMismatch(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	t.Setenv("BRIDGE_KAFKA_BROKERS", strings.Join(kc.Brokers, ","))
	t.Setenv("BRIDGE_TOPIC_PREFIX", n.Prefix)
	t.Setenv("BRIDGE_INTERNAL_TOPIC_PREFIX", n.Internal)
	t.Setenv("BRIDGE_TOPIC_PARTITIONS", "3")
	t.Setenv("BRIDGE_TOPIC_REPLICATION", "1")
	ctx := context.Background()

	var list bytes.Buffer
	if err := run(ctx, []string{"topics", "list"}, &list, io.Discard); err == nil || !strings.Contains(err.Error(), "17 topics missing") {
		t.Fatalf("list before create: err %v, want 17 topics missing", err)
	}
	for i, want := range []string{"created", "exists"} {
		var out bytes.Buffer
		if err := run(ctx, []string{"topics", "create"}, &out, io.Discard); err != nil {
			t.Fatalf("create #%d: %v\n%s", i+1, err, out.String())
		}
		for _, topic := range n.All() {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(topic) + `\s+3\s+` + want).MatchString(out.String()) {
				t.Errorf("create #%d: no line %q 3 %s in\n%s", i+1, topic, want, out.String())
			}
		}
	}
	t.Setenv("BRIDGE_TOPIC_PARTITIONS", "4")
	var out bytes.Buffer
	if err := run(ctx, []string{"topics", "create"}, &out, io.Discard); err != nil {
		t.Fatalf("create with other partitions: %v", err)
	}
	if c := strings.Count(out.String(), "mismatch"); c != 17 {
		t.Errorf("%d mismatch lines, want 17:\n%s", c, out.String())
	}
	list.Reset()
	if err := run(ctx, []string{"topics", "list"}, &list, io.Discard); err != nil {
		t.Fatalf("list: %v", err)
	}
	if c := strings.Count(list.String(), " ok"); c != 17 {
		t.Errorf("list shows %d ok topics, want 17:\n%s", c, list.String())
	}
}

// running is a command started by runInBackground.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// runInBackground starts run with args; stop cancels it and returns its
// error.
func runInBackground(t *testing.T, args []string, stdout, stderr io.Writer) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() { r.err = run(ctx, args, stdout, stderr); close(r.done) }()
	t.Cleanup(func() { _ = r.stop() })
	return r
}

func (r *running) stop() error {
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(60 * time.Second):
		return errors.New("run did not return within 60s of cancel")
	}
}

// waitReady polls admin's /readyz until 200, failing at once if the command
// exited.
func waitReady(t *testing.T, r *running, base string) {
	t.Helper()
	waitReadyWith(t, r, http.DefaultClient, base)
}

// postJSON posts body with optional header name/value pairs.
func postJSON(t *testing.T, url, body string, headers ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestServePublishesAndTailReadsBack(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 3)
	base, admin := listenEnv(t)
	t.Setenv("BRIDGE_KAFKA_BROKERS", strings.Join(kc.Brokers, ","))
	t.Setenv("BRIDGE_TOPIC_PREFIX", n.Prefix)
	t.Setenv("BRIDGE_INTERNAL_TOPIC_PREFIX", n.Internal)
	t.Setenv("BRIDGE_SHUTDOWN_GRACE", "100ms")
	t.Setenv("BRIDGE_LOG_REQUESTS", "all") // the 202's line too
	var logs syncBuffer
	t.Setenv("BRIDGE_AUTH_TOKENS", testToken)
	srv := runInBackground(t, []string{"serve"}, io.Discard, &logs)
	waitReady(t, srv, admin)

	status, body := postJSON(t, base+"/webhooks", devSample, "X-AppDirect-Webhook-Token", testToken)
	if status != http.StatusAccepted || body["topic"] != n.Topic("subscription") {
		t.Fatalf("post: %d %v", status, body)
	}
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, []string{"tail", "--resource", "subscription", "--action", "added", "--company", "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7", "--from-beginning", "--limit", "1"}, &out, io.Discard); err != nil {
		t.Fatalf("tail: %v", err)
	}
	var line kafka.TailLine
	if err := json.Unmarshal([]byte(out.String()), &line); err != nil {
		t.Fatalf("tail printed %q: %v", out.String(), err)
	}
	if line.Topic != n.Topic("subscription") || line.Key != "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7" || line.Headers["event-id"] != "7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09" {
		t.Errorf("tail line %+v", line)
	}
	if err := srv.stop(); err != nil {
		t.Fatalf("serve returned %v after cancel, want nil", err)
	}
	// One log line per request, with the fields operators search by.
	var found bool
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil || m["message"] != "request" || m["path"] != "/webhooks" {
			continue
		}
		found = true
		for _, k := range []string{"request_id", "event_id", "resource", "action", "company_id", "topic", "status", "latency_ms"} {
			if _, ok := m[k]; !ok {
				t.Errorf("request log line lacks %s: %s", k, sc.Text())
			}
		}
	}
	if !found {
		t.Errorf("no request log line in:\n%s", logs.String())
	}
}

func TestDevServesWithAnEmbeddedBroker(t *testing.T) {
	base, admin := listenEnv(t)
	addr := strings.TrimPrefix(base, "http://")
	t.Setenv("BRIDGE_DEV_KAFKA_ADDR", "127.0.0.1:0")
	t.Setenv("BRIDGE_SHUTDOWN_GRACE", "100ms")
	t.Setenv("BRIDGE_AUTH_TOKENS", "short") // dev is exempt from the strength check
	var out syncBuffer
	srv := runInBackground(t, []string{"dev"}, &out, io.Discard)
	waitReady(t, srv, admin)
	for _, want := range []string{"IN MEMORY ONLY", "curl -sS -X POST http://" + addr + "/webhooks", "tail --from-beginning"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dev banner lacks %q:\n%s", want, out.String())
		}
	}
	if status, body := postJSON(t, base+"/webhooks", devSample); status != http.StatusAccepted {
		t.Fatalf("post sample: %d %v", status, body)
	}
	brokers := regexp.MustCompile(`BRIDGE_KAFKA_BROKERS=(\S+)`).FindStringSubmatch(out.String())
	if brokers == nil {
		t.Fatalf("banner names no broker:\n%s", out.String())
	}
	kc := kafka.Config{Brokers: []string{brokers[1]}, DialTimeout: 5 * time.Second}
	msgs := kafkatest.ReadAll(t, kc, "appdirect.subscription", 30*time.Second)
	if len(msgs) != 1 || kafkatest.Header(msgs[0], topics.HeaderEventID) != "7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09" {
		t.Errorf("embedded broker holds %d records, want the one sample", len(msgs))
	}
	if err := srv.stop(); err != nil {
		t.Fatalf("dev returned %v after cancel", err)
	}
}

// defaultConfig is the configuration with every default and nothing from
// the environment.
func defaultConfig(t testing.TB) Config {
	t.Helper()
	var c Config
	if err := envconfig.Process("WEBHOOK_BRIDGE_TEST_UNSET", &c); err != nil {
		t.Fatal(err)
	}
	return c
}
