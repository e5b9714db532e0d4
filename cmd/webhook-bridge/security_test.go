package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// selfSigned writes a fresh self-signed certificate for 127.0.0.1 and
// localhost and its key to a temporary folder, and returns both paths and a
// pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "webhook-bridge test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// httpsClient trusts only pool and speaks TLS versions min to max.
func httpsClient(pool *x509.CertPool, minVersion, maxVersion uint16) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: minVersion, MaxVersion: maxVersion},
			DisableKeepAlives: true,
		},
	}
}

// waitReadyWith polls base/readyz with client until 200, failing at once if
// the command exited.
func waitReadyWith(t *testing.T, r *running, client *http.Client, base string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-r.done:
			t.Fatalf("command exited before it was ready: %v", r.err)
		default:
		}
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz not 200 within 60s (last error %v)", base, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a server we do not control
	}
}

// postWith posts body with client and optional header name/value pairs, and
// returns the status, the headers and the body.
func postWith(t *testing.T, client *http.Client, url, contentType, body string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, b
}

// logLines decodes the JSON log lines of a run.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

func TestServeHTTPS(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 1)
	certFile, keyFile, pool := selfSigned(t)
	_, admin := listenEnv(t)
	addr := os.Getenv("BRIDGE_HTTP_ADDR")
	t.Setenv("BRIDGE_KAFKA_BROKERS", strings.Join(kc.Brokers, ","))
	t.Setenv("BRIDGE_TOPIC_PREFIX", n.Prefix)
	t.Setenv("BRIDGE_INTERNAL_TOPIC_PREFIX", n.Internal)
	t.Setenv("BRIDGE_SHUTDOWN_GRACE", "100ms")
	t.Setenv("BRIDGE_TLS_CERT_FILE", certFile)
	t.Setenv("BRIDGE_TLS_KEY_FILE", keyFile)
	t.Setenv("BRIDGE_AUTH_MODE", "token")
	t.Setenv("BRIDGE_AUTH_TOKENS", "tls-test-token-4c1e-9a0b7d3e5f218c64")
	var logs syncBuffer
	srv := runInBackground(t, []string{"serve"}, io.Discard, &logs)
	base := "https://" + addr
	client := httpsClient(pool, 0, 0)
	waitReady(t, srv, admin) // the admin port is plain HTTP

	t.Run("webhook over HTTPS", func(t *testing.T) {
		status, _, body := postWith(t, client, base+"/webhooks", "application/json", devSample, "X-AppDirect-Webhook-Token", "tls-test-token-4c1e-9a0b7d3e5f218c64")
		if status != http.StatusAccepted {
			t.Fatalf("POST over HTTPS: %d %s", status, body)
		}
		msgs := kafkatest.ReadAll(t, kc, n.Topic("subscription"), 30*time.Second)
		if len(msgs) != 1 {
			t.Fatalf("%d records in %s, want the one delivered", len(msgs), n.Topic("subscription"))
		}
	})
	t.Run("still authenticated over HTTPS", func(t *testing.T) {
		status, _, body := postWith(t, client, base+"/webhooks", "application/json", devSample, "X-AppDirect-Webhook-Token", "wrong")
		if status != http.StatusUnauthorized {
			t.Errorf("POST with a wrong token over HTTPS: %d %s, want 401", status, body)
		}
	})
	t.Run("TLS versions", func(t *testing.T) {
		tests := []struct {
			name     string
			min, max uint16
			wantOK   bool
		}{
			{name: "TLS 1.0 only", min: tls.VersionTLS10, max: tls.VersionTLS10},
			{name: "TLS 1.1 at most", min: tls.VersionTLS10, max: tls.VersionTLS11},
			{name: "TLS 1.2 only", min: tls.VersionTLS12, max: tls.VersionTLS12, wantOK: true},
			{name: "TLS 1.3 only", min: tls.VersionTLS13, max: tls.VersionTLS13, wantOK: true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
					&tls.Config{RootCAs: pool, MinVersion: tt.min, MaxVersion: tt.max})
				if !tt.wantOK {
					if err == nil {
						v := conn.ConnectionState().Version
						conn.Close()
						t.Fatalf("handshake succeeded with version %s, want it refused", tls.VersionName(v))
					}
					// The refusal must come from the server, not from a
					// client that cannot speak the version at all.
					if !strings.Contains(err.Error(), "protocol version") {
						t.Errorf("handshake error %q, want the server's protocol version alert", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				defer conn.Close()
				if v := conn.ConnectionState().Version; v != tt.max {
					t.Errorf("negotiated %s, want %s", tls.VersionName(v), tls.VersionName(tt.max))
				}
			})
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		_, err := httpsClient(x509.NewCertPool(), 0, 0).Post(base+"/webhooks", "application/json", strings.NewReader(devSample))
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("a client that does not trust the certificate got %v, want a certificate error", err)
		}
	})
	t.Run("plain HTTP to the TLS port", func(t *testing.T) {
		plain := &http.Client{Timeout: 10 * time.Second}
		for _, do := range []func() (*http.Response, error){
			func() (*http.Response, error) { return plain.Get("http://" + addr + "/webhooks") },
			func() (*http.Response, error) {
				return plain.Post("http://"+addr+"/webhooks", "application/json", strings.NewReader(devSample))
			},
		} {
			resp, err := do()
			if err != nil {
				continue // refused outright: fine
			}
			resp.Body.Close()
			if resp.StatusCode < 300 {
				t.Errorf("plain HTTP to the TLS port answered %d", resp.StatusCode)
			}
		}
		msgs := kafkatest.ReadAll(t, kc, n.Topic("subscription"), 30*time.Second)
		if len(msgs) != 1 {
			t.Errorf("%d records in %s after plain HTTP attempts, want only the one delivered over HTTPS", len(msgs), n.Topic("subscription"))
		}
	})

	if err := srv.stop(); err != nil {
		t.Fatalf("serve returned %v after cancel, want nil", err)
	}
	var listening map[string]any
	for _, l := range logLines(t, logs.String()) {
		if l["message"] == "listening" {
			listening = l
		}
	}
	if listening == nil || listening["tls"] != true {
		t.Errorf(`start-up line %v, want "tls":true`, listening)
	}
}

// secretEnv are secret settings with known values, and the variables that
// carry them.
var secretEnv = map[string]string{
	"BRIDGE_AUTH_TOKENS":         "env-token-current-7d2a91-4f0e8c3b6a15,env-token-previous-0be4c3-9d27e1f8a04b",
	"BRIDGE_OAUTH_CLIENTS":       "marketplace:env-client-secret-5f81ac-2d7e0b9c4a63",
	"BRIDGE_OAUTH_USERS":         "appdirect:env-user-password-c29e07",
	"BRIDGE_OAUTH_SIGNING_KEYS":  "env-signing-key-new-3a8f0c6e1b9d2457ac,env-signing-key-old-6d1b8e4f2a0c9735bd",
	"BRIDGE_KAFKA_SASL_PASSWORD": "env-sasl-password-81f3d2",
}

// secretValues are the secret strings of secretEnv, each alone.
var secretValues = []string{
	"env-token-current-7d2a91-4f0e8c3b6a15", "env-token-previous-0be4c3-9d27e1f8a04b",
	"env-client-secret-5f81ac-2d7e0b9c4a63", "env-user-password-c29e07",
	"env-signing-key-new-3a8f0c6e1b9d2457ac", "env-signing-key-old-6d1b8e4f2a0c9735bd",
	"env-sasl-password-81f3d2",
}

func TestSecretsStayOutOfHelpAndLogs(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 1)
	base, admin := listenEnv(t)
	t.Setenv("BRIDGE_KAFKA_BROKERS", strings.Join(kc.Brokers, ","))
	t.Setenv("BRIDGE_TOPIC_PREFIX", n.Prefix)
	t.Setenv("BRIDGE_INTERNAL_TOPIC_PREFIX", n.Internal)
	t.Setenv("BRIDGE_SHUTDOWN_GRACE", "100ms")
	t.Setenv("BRIDGE_LOG_LEVEL", "debug")
	t.Setenv("BRIDGE_AUTH_MODE", "token,oauth2")
	for k, v := range secretEnv {
		t.Setenv(k, v)
	}
	// The wrong secrets a caller presents stay out of the log too.
	const wrongToken, wrongSecret, wrongPassword = "presented-token-e07b1f", "presented-secret-4a9d3c", "presented-password-b81e6a"

	for _, args := range [][]string{{"--help"}, {"help"}, {"serve", "--help"}, {"topics", "--help"}, {"tail", "--help"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, &out, &errOut); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if !strings.Contains(out.String(), "BRIDGE_OAUTH_SIGNING_KEYS") {
			t.Fatalf("%v printed no variable table:\n%s", args, out.String())
		}
		for _, s := range secretValues {
			if strings.Contains(out.String()+errOut.String(), s) {
				t.Errorf("%v output holds the secret %q", args, s)
			}
		}
	}

	var stdout, stderr syncBuffer
	srv := runInBackground(t, []string{"serve"}, &stdout, &stderr)
	waitReady(t, srv, admin)
	client := &http.Client{Timeout: 30 * time.Second}
	const form = "application/x-www-form-urlencoded"
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	var responses bytes.Buffer
	post := func(path, contentType, body string, want int, headers ...string) []byte {
		t.Helper()
		status, h, b := postWith(t, client, base+path, contentType, body, headers...)
		_ = h.Write(&responses)
		responses.Write(b)
		if status != want {
			t.Errorf("POST %s: %d %s, want %d", path, status, b, want)
		}
		return b
	}
	tokenOf := func(b []byte) string {
		t.Helper()
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(b, &tr); err != nil || tr.AccessToken == "" {
			t.Fatalf("token response %s: %v", b, err)
		}
		return tr.AccessToken
	}

	post("/webhooks", "application/json", devSample, 202, "X-AppDirect-Webhook-Token", "env-token-current-7d2a91-4f0e8c3b6a15")
	post("/webhooks", "application/json", devSample, 202, "AppDirect-Webhook-Token", "env-token-previous-0be4c3-9d27e1f8a04b")
	post("/webhooks", "application/json", devSample, 401, "X-AppDirect-Webhook-Token", wrongToken)
	post("/webhooks", "application/json", devSample, 401)
	issued := []string{
		tokenOf(post("/oauth/token", form, "grant_type=client_credentials", 200, "Authorization", basic("marketplace", "env-client-secret-5f81ac-2d7e0b9c4a63"))),
		tokenOf(post("/oauth/token", form, "grant_type=client_credentials&client_id=marketplace&client_secret=env-client-secret-5f81ac-2d7e0b9c4a63", 200)),
		tokenOf(post("/oauth/token", form, "grant_type=password&username=appdirect&password=env-user-password-c29e07", 200, "Authorization", basic("marketplace", "env-client-secret-5f81ac-2d7e0b9c4a63"))),
	}
	post("/oauth/token", form, "grant_type=client_credentials", 401, "Authorization", basic("marketplace", wrongSecret))
	post("/oauth/token", form, "grant_type=password&username=appdirect&password="+wrongPassword, 400, "Authorization", basic("marketplace", "env-client-secret-5f81ac-2d7e0b9c4a63"))
	post("/oauth/token", form, "grant_type=client_credentials&client_secret=env-client-secret-5f81ac-2d7e0b9c4a63&client_secret="+wrongSecret, 400)
	for _, tok := range issued {
		post("/webhooks", "application/json", devSample, 202, "Authorization", "Bearer "+tok)
		post("/webhooks", "application/json", devSample, 401, "Authorization", "Bearer "+tok+"A")
	}
	if err := srv.stop(); err != nil {
		t.Fatalf("serve returned %v after cancel, want nil", err)
	}

	logs := stdout.String() + stderr.String()
	for _, s := range append(secretValues, wrongToken, wrongSecret, wrongPassword) {
		if strings.Contains(logs, s) {
			t.Errorf("the output of serve holds the secret %q", s)
		}
		if strings.Contains(responses.String(), s) {
			t.Errorf("a response holds the secret %q", s)
		}
	}
	for i, tok := range issued {
		if strings.Contains(logs, tok) || strings.Contains(logs, tok[strings.LastIndexByte(tok, '.')+1:]) {
			t.Errorf("the output of serve holds issued access token #%d", i)
		}
	}
	var config map[string]any
	for _, l := range logLines(t, stderr.String()) {
		if l["message"] == "listening" {
			config, _ = l["config"].(map[string]any)
		}
	}
	if config == nil {
		t.Fatalf("no start-up line with the config in:\n%s", logs)
	}
	got, want := map[string]any{}, map[string]any{}
	for k := range secretEnv {
		got[k], want[k] = config[k], "[redacted]"
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("secret settings in the start-up line (-want +got):\n%s", diff)
	}
	if config["BRIDGE_AUTH_MODE"] != "token,oauth2" {
		t.Errorf("start-up line shows BRIDGE_AUTH_MODE %v, want the setting itself", config["BRIDGE_AUTH_MODE"])
	}
	if t.Failed() {
		t.Logf("output of serve:\n%s", logs)
	}
}

func TestConfigErrorsHideSecrets(t *testing.T) {
	tests := []struct {
		name, variable, value string
	}{
		{"client without a secret separator", "BRIDGE_OAUTH_CLIENTS", "marketplace-cfgerr-secret-9a1f"},
		{"client secret with a colon", "BRIDGE_OAUTH_CLIENTS", "marketplace:cfgerr-secret:7b2e"},
		{"user without a password separator", "BRIDGE_OAUTH_USERS", "appdirect-cfgerr-password-3c8d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("BRIDGE_KAFKA_BROKERS", "127.0.0.1:9092")
			t.Setenv(tt.variable, tt.value)
			var out, errOut bytes.Buffer
			err := run(context.Background(), []string{"serve"}, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.variable) {
				t.Fatalf("error = %v, want one naming %s", err, tt.variable)
			}
			for _, part := range append([]string{tt.value}, strings.Split(tt.value, ":")[1:]...) {
				if strings.Contains(err.Error()+out.String()+errOut.String(), part) {
					t.Errorf("error %q shows the secret value %q", err, part)
				}
			}
		})
	}
}

func TestAuthModeNoneWarns(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 1)
	tests := []struct {
		name       string
		mode       string
		wantStatus int // of a delivery without credentials
		wantWarn   bool
	}{
		{name: "none", mode: "none", wantStatus: http.StatusAccepted, wantWarn: true},
		{name: "token", mode: "token", wantStatus: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, admin := listenEnv(t)
			t.Setenv("BRIDGE_KAFKA_BROKERS", strings.Join(kc.Brokers, ","))
			t.Setenv("BRIDGE_TOPIC_PREFIX", n.Prefix)
			t.Setenv("BRIDGE_INTERNAL_TOPIC_PREFIX", n.Internal)
			t.Setenv("BRIDGE_SHUTDOWN_GRACE", "100ms")
			t.Setenv("BRIDGE_AUTH_MODE", tt.mode)
			t.Setenv("BRIDGE_AUTH_TOKENS", "mode-test-token-2b7c-5e19a0d4c7f3b862")
			var logs syncBuffer
			srv := runInBackground(t, []string{"serve"}, io.Discard, &logs)
			waitReady(t, srv, admin)
			if status, body := postJSON(t, base+"/webhooks", devSample); status != tt.wantStatus {
				t.Errorf("delivery without credentials: %d %v, want %d", status, body, tt.wantStatus)
			}
			if err := srv.stop(); err != nil {
				t.Fatalf("serve returned %v after cancel, want nil", err)
			}
			if warned := hasWarning(t, logs.String(), "NOT authenticated"); warned != tt.wantWarn {
				t.Errorf("warning that deliveries are NOT authenticated: %v, want %v; log:\n%s", warned, tt.wantWarn, logs.String())
			}
		})
	}
}

// cmdSASLBroker is a broker that requires SASL: the real test broker's SASL
// listener (see deploy/local/kafka.sh env), else, not under CI, an
// in-process kfake broker with SASL.
type cmdSASLBroker struct {
	brokers, user, password string
	// real: Apache Kafka, which answers a failed authentication with a
	// reason (kfake closes the connection instead).
	real bool
}

func cmdSASLKafka(t *testing.T) cmdSASLBroker {
	t.Helper()
	if v := os.Getenv("BRIDGE_TEST_KAFKA_SASL_BROKERS"); v != "" {
		b := cmdSASLBroker{brokers: v, user: os.Getenv("BRIDGE_TEST_KAFKA_SASL_USER"), password: os.Getenv("BRIDGE_TEST_KAFKA_SASL_PASSWORD"), real: true}
		if b.user == "" || b.password == "" {
			t.Fatal(`BRIDGE_TEST_KAFKA_SASL_BROKERS is set but BRIDGE_TEST_KAFKA_SASL_USER or _PASSWORD is not: eval "$(deploy/local/kafka.sh env)"`)
		}
		return b
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("BRIDGE_TEST_KAFKA_SASL_BROKERS is not set: under CI=true the Kafka SASL tests need the real broker's SASL listener. " +
			"Start it with `deploy/local/kafka.sh start` and export its settings with `eval \"$(deploy/local/kafka.sh env)\"`")
	}
	const user, password = "bridge-test", "kfake-sasl-password-93ab"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser("PLAIN", user, password),
		kfake.Superuser("SCRAM-SHA-256", user, password),
		kfake.Superuser("SCRAM-SHA-512", user, password))
	if err != nil {
		t.Fatalf("start in-process broker with SASL: %v", err)
	}
	t.Cleanup(c.Close)
	return cmdSASLBroker{brokers: strings.Join(c.ListenAddrs(), ","), user: user, password: password}
}

// readyzReason polls /readyz until the first Kafka check is done and
// returns its status and reason.
func readyzReason(t *testing.T, r *running, base string, wantReady bool) (int, string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-r.done:
			t.Fatalf("command exited: %v", r.err)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			var body struct{ Reason, Kafka string }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			// Kafka's state is shown in its own field; readiness waits for
			// the company index, which a failing Kafka keeps unread.
			kafkaFailed := body.Kafka != "" && body.Kafka != "ok" && !strings.Contains(body.Kafka, "not checked yet")
			// A slow first check (SCRAM on a loaded machine) may fail before
			// a later one passes: when ready is expected, wait for it.
			if resp.StatusCode == http.StatusOK || (!wantReady && kafkaFailed) {
				return resp.StatusCode, body.Kafka
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz gave no Kafka check result within 60s (last error %v)", base, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a server we do not control
	}
}

// TestServeTopicsAndTailOverKafkaSASL runs the commands with
// BRIDGE_KAFKA_SASL_*: topics create, serve (a delivery is acknowledged over
// SASL), tail; and serve with a wrong password is not ready, saying why.
func TestServeTopicsAndTailOverKafkaSASL(t *testing.T) {
	b := cmdSASLKafka(t)
	tests := []struct {
		mechanism string
		password  string
		wantReady bool
	}{
		{mechanism: "PLAIN", password: b.password, wantReady: true},
		{mechanism: "SCRAM-SHA-256", password: b.password, wantReady: true},
		{mechanism: "SCRAM-SHA-512", password: b.password, wantReady: true},
		{mechanism: "SCRAM-SHA-512", password: "wrong-password-cmd-5d0e"},
	}
	for _, tt := range tests {
		name := tt.mechanism
		if !tt.wantReady {
			name += " wrong password"
		}
		t.Run(name, func(t *testing.T) {
			n := kafkatest.Naming(t)
			base, admin := listenEnv(t)
			t.Setenv("BRIDGE_KAFKA_BROKERS", b.brokers)
			t.Setenv("BRIDGE_KAFKA_SASL_MECHANISM", tt.mechanism)
			t.Setenv("BRIDGE_KAFKA_SASL_USERNAME", b.user)
			t.Setenv("BRIDGE_KAFKA_SASL_PASSWORD", tt.password)
			t.Setenv("BRIDGE_TOPIC_PREFIX", n.Prefix)
			t.Setenv("BRIDGE_INTERNAL_TOPIC_PREFIX", n.Internal)
			t.Setenv("BRIDGE_TOPIC_PARTITIONS", "1")
			t.Setenv("BRIDGE_TOPIC_REPLICATION", "1")
			t.Setenv("BRIDGE_SHUTDOWN_GRACE", "100ms")
			t.Setenv("BRIDGE_AUTH_TOKENS", "sasl-test-token-8e21-0c7d4b9a6e3f1528")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			var out bytes.Buffer
			err := run(ctx, []string{"topics", "create"}, &out, io.Discard)
			if tt.wantReady && err != nil {
				t.Fatalf("topics create over SASL: %v\n%s", err, out.String())
			}
			if !tt.wantReady && err == nil {
				t.Fatalf("topics create with a wrong password succeeded:\n%s", out.String())
			}

			var logs syncBuffer
			srv := runInBackground(t, []string{"serve"}, io.Discard, &logs)
			status, reason := readyzReason(t, srv, admin, tt.wantReady)
			if !tt.wantReady {
				if status != http.StatusServiceUnavailable {
					t.Errorf("/readyz with a wrong SASL password: %d, want 503", status)
				}
				if b.real && !strings.Contains(reason, "SASL Authentication") {
					t.Errorf("/readyz reason %q, want one saying SASL authentication failed", reason)
				}
				if err := srv.stop(); err != nil {
					t.Fatalf("serve returned %v after cancel", err)
				}
				if strings.Contains(logs.String(), tt.password) || strings.Contains(logs.String(), b.password) {
					t.Errorf("serve logged a SASL password:\n%s", logs.String())
				}
				return
			}
			if status != http.StatusOK {
				t.Fatalf("/readyz over SASL: %d %q", status, reason)
			}
			if status, body := postJSON(t, base+"/webhooks", devSample, "X-AppDirect-Webhook-Token", "sasl-test-token-8e21-0c7d4b9a6e3f1528"); status != http.StatusAccepted {
				t.Fatalf("POST over SASL: %d %v", status, body)
			}
			var tail syncBuffer
			if err := run(ctx, []string{"tail", "--resource", "subscription", "--from-beginning", "--limit", "1"}, &tail, io.Discard); err != nil {
				t.Fatalf("tail over SASL: %v", err)
			}
			if !strings.Contains(tail.String(), "7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09") {
				t.Errorf("tail over SASL printed %q, want the delivered event", tail.String())
			}
			if err := srv.stop(); err != nil {
				t.Fatalf("serve returned %v after cancel, want nil", err)
			}
			if strings.Contains(logs.String(), b.password) {
				t.Errorf("serve logged the SASL password:\n%s", logs.String())
			}
		})
	}
}
