package bridge_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/bridge"
)

// Known secrets of the auth tests. None of them may ever appear in a log
// line, and none but an issued access token in a response.
const (
	tokCurrent  = "tok-current-5b1e0c7a93d2f48e"
	tokPrevious = "tok-previous-8f4d2a6c1e07b35a"

	clientID     = "appdirect-marketplace"
	clientSecret = "client-secret-3c9a7e1f5b2d06a4"
	// otherSecret needs RFC 6749 2.3.1 form-encoding inside HTTP Basic, and
	// looks like the base64 secrets operators generate.
	otherClientID = "ops team"
	otherSecret   = "k+9/Zq w%3D:x=="

	userName     = "appdirect-user"
	userPassword = "user-password-0d4b8f2a6c9e71b3"

	keyNew = "signing-key-new-7a1c3e5b9d0f2468ace13579bdf02468"
	keyOld = "signing-key-old-2b4d6f8a0c1e3579bdf2468ace013579"
)

// authSample is a delivery the catalog routes (to appdirect.subscription).
const authSample = `{"uuid":"evt-auth-1","timestamp":1718035200123,"resource":{"type":"SUBSCRIPTION","uuid":"sub-1",` +
	`"url":"https://acme.byappdirect.com/api/billing/v1/subscriptions/sub-1",` +
	`"content":{"id":"sub-1","order":{"company":{"id":"c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"}}}},"resourceAction":"ADDED"}`

// authRemote is the remote address every test request comes from.
const authRemote = "203.0.113.7:4711"

// authClock is AuthConfig.Now that a test moves.
type authClock struct {
	mu sync.Mutex
	t  time.Time
}

func newAuthClock() *authClock {
	// Far from the real time, so a handler that reads the real clock instead
	// of AuthConfig.Now gives itself away.
	return &authClock{t: time.Date(2024, 6, 10, 16, 0, 0, 0, time.UTC)}
}

func (c *authClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *authClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// authBridge is a testBridge with real delivery authentication. transcript
// keeps every response (status, headers, body) it gave.
type authBridge struct {
	*testBridge
	transcript bytes.Buffer
}

// newAuthBridge builds an authBridge logging to logs, or to a log of its
// own when logs is nil.
func newAuthBridge(t *testing.T, cfg bridge.AuthConfig, logs *logBuf) *authBridge {
	t.Helper()
	a, err := bridge.NewAuth(cfg)
	if err != nil {
		t.Fatalf("NewAuth: %v", err)
	}
	if logs == nil {
		logs = &logBuf{}
	}
	var opts bridge.Options
	if a != nil {
		opts.Auth = a
	}
	return &authBridge{testBridge: newTestBridgeLogging(opts, logs)}
}

// tokenConfig is the configuration of token mode with a rotation pair.
func tokenConfig() bridge.AuthConfig {
	return bridge.AuthConfig{Modes: []string{bridge.ModeToken}, Tokens: []string{tokCurrent, tokPrevious}}
}

// oauthConfig is the configuration of oauth2 mode with two clients, one
// user and the signing keys given.
func oauthConfig(clock *authClock, keys ...string) bridge.AuthConfig {
	if len(keys) == 0 {
		keys = []string{keyNew, keyOld}
	}
	cfg := bridge.AuthConfig{
		Modes:       []string{bridge.ModeOAuth2},
		Clients:     map[string]string{clientID: clientSecret, otherClientID: otherSecret},
		Users:       map[string]string{userName: userPassword},
		SigningKeys: keys,
		TokenTTL:    10 * time.Minute,
	}
	if clock != nil {
		cfg.Now = clock.Now
	}
	return cfg
}

// authWireRequest builds a request from its wire form, parsed the way the HTTP
// server parses what a client sends, so header names keep the case given.
func authWireRequest(t *testing.T, method, path string, headers [][2]string, body string) *http.Request {
	t.Helper()
	var w strings.Builder
	fmt.Fprintf(&w, "%s %s HTTP/1.1\r\nHost: bridge.example\r\n", method, path)
	for _, h := range headers {
		fmt.Fprintf(&w, "%s: %s\r\n", h[0], h[1])
	}
	fmt.Fprintf(&w, "Content-Length: %d\r\n\r\n%s", len(body), body)
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(w.String())))
	if err != nil {
		t.Fatalf("parse request: %v", err)
	}
	req.RemoteAddr = authRemote
	return req
}

// do serves req and records the response in the transcript.
func (b *authBridge) do(t *testing.T, req *http.Request) response {
	t.Helper()
	res := b.serve(t, req)
	fmt.Fprintf(&b.transcript, "%d\n", res.status)
	_ = res.header.Write(&b.transcript)
	b.transcript.Write(res.body)
	b.transcript.WriteString("\n")
	return res
}

// deliver posts body to /webhooks with the given headers.
func (b *authBridge) deliver(t *testing.T, body string, headers ...[2]string) response {
	t.Helper()
	return b.do(t, authWireRequest(t, http.MethodPost, "/webhooks", append([][2]string{{"Content-Type", "application/json"}}, headers...), body))
}

// basicAuthz is an HTTP Basic Authorization value with both parts form-encoded,
// as RFC 6749 section 2.3.1 asks.
func basicAuthz(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// rawBasicAuthz is an HTTP Basic Authorization value without form-encoding, as
// many clients send it.
func rawBasicAuthz(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// tokenRequest posts form to /oauth/token with the given headers.
func (b *authBridge) tokenRequest(t *testing.T, form string, headers ...[2]string) response {
	t.Helper()
	return b.do(t, authWireRequest(t, http.MethodPost, "/oauth/token", append([][2]string{{"Content-Type", "application/x-www-form-urlencoded"}}, headers...), form))
}

// accessToken gets a client_credentials token for clientID and fails the
// test unless the endpoint issues one.
func (b *authBridge) accessToken(t *testing.T) string {
	t.Helper()
	got := b.tokenRequest(t, "grant_type=client_credentials", [2]string{"Authorization", basicAuthz(clientID, clientSecret)})
	if got.status != http.StatusOK {
		t.Fatalf("token request: %d %s", got.status, got.body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(got.body, &tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("token response %s: %v", got.body, err)
	}
	return tr.AccessToken
}

func bearerAuthz(tok string) [2]string { return [2]string{"Authorization", "Bearer " + tok} }

// authFailures scrapes GET /metrics through the server and returns
// webhook_bridge_auth_failures_total by reason.
func (b *authBridge) authFailures(t *testing.T) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	b.srv.Admin().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	const prefix = `webhook_bridge_auth_failures_total{reason="`
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		reason, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			t.Fatalf("unexpected metric line %q", sc.Text())
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", sc.Text(), err)
		}
		if v != 0 { // every known reason is exported from the start, at 0
			out[reason] = v
		}
	}
	return out
}

func TestAuthFailureSeriesStartAtZero(t *testing.T) {
	srv := bridge.NewServer(&pubSpy{}, testOptions(bridge.Options{}), zerolog.Nop())
	rec := httptest.NewRecorder()
	srv.Admin().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, series := range []string{
		`webhook_bridge_auth_failures_total{reason="invalid_token"} 0`,
		`webhook_bridge_auth_failures_total{reason="expired_token"} 0`,
		`webhook_bridge_quarantined_total{reason="unknown_resource"} 0`,
		`webhook_bridge_publish_errors_total{topic="` + quarantineTopic + `"} 0`,
	} {
		if !strings.Contains(rec.Body.String(), series+"\n") {
			t.Errorf("/metrics lacks %s before any event", series)
		}
	}
}

// authErrorCode is the "error" member of a JSON error body.
func authErrorCode(t *testing.T, r response) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("body is not a JSON error: %v: %s", err, r.body)
	}
	return e.Error
}

func TestAuthToken(t *testing.T) {
	tests := []struct {
		name     string
		headers  [][2]string
		body     string
		want     int
		failures map[string]float64
	}{
		{name: "current token", headers: [][2]string{{"X-AppDirect-Webhook-Token", tokCurrent}}, want: 202},
		{name: "previous token while rotating", headers: [][2]string{{"X-AppDirect-Webhook-Token", tokPrevious}}, want: 202},
		{name: "legacy header", headers: [][2]string{{"AppDirect-Webhook-Token", tokCurrent}}, want: 202},
		{name: "lower-case header name", headers: [][2]string{{"x-appdirect-webhook-token", tokCurrent}}, want: 202},
		{name: "upper-case header name", headers: [][2]string{{"X-APPDIRECT-WEBHOOK-TOKEN", tokPrevious}}, want: 202},
		{name: "lower-case legacy header name", headers: [][2]string{{"appdirect-webhook-token", tokPrevious}}, want: 202},
		{name: "wrong legacy header, right new one", headers: [][2]string{{"AppDirect-Webhook-Token", "nope"}, {"X-AppDirect-Webhook-Token", tokCurrent}}, want: 202},
		{
			name: "missing token", want: 401,
			failures: map[string]float64{"missing_token": 1},
		},
		{
			name: "wrong token", headers: [][2]string{{"X-AppDirect-Webhook-Token", "tok-guess"}}, want: 401,
			failures: map[string]float64{"invalid_token": 1},
		},
		{
			name: "token of another case", headers: [][2]string{{"X-AppDirect-Webhook-Token", strings.ToUpper(tokCurrent)}}, want: 401,
			failures: map[string]float64{"invalid_token": 1},
		},
		{
			name: "prefix of the token", headers: [][2]string{{"X-AppDirect-Webhook-Token", tokCurrent[:10]}}, want: 401,
			failures: map[string]float64{"invalid_token": 1},
		},
		{
			name: "both tokens in one header", headers: [][2]string{{"X-AppDirect-Webhook-Token", tokCurrent + "," + tokPrevious}}, want: 401,
			failures: map[string]float64{"invalid_token": 1},
		},
		{
			name: "wrong token with a body that would be quarantined", headers: [][2]string{{"X-AppDirect-Webhook-Token", "tok-guess"}},
			body: "not json at all", want: 401,
			failures: map[string]float64{"invalid_token": 1},
		},
		{
			name: "missing token with an unroutable body", body: strings.Replace(authSample, "SUBSCRIPTION", "WIDGET", 1), want: 401,
			failures: map[string]float64{"missing_token": 1},
		},
		{
			name: "token sent as Bearer", headers: [][2]string{{"Authorization", "Bearer " + tokCurrent}}, want: 401,
			failures: map[string]float64{"missing_token": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newAuthBridge(t, tokenConfig(), nil)
			body := tt.body
			if body == "" {
				body = authSample
			}
			got := b.deliver(t, body, tt.headers...)
			if got.status != tt.want {
				t.Fatalf("status = %d, want %d; body %s", got.status, tt.want, got.body)
			}
			wantTopics := []string{}
			if tt.want == http.StatusAccepted {
				wantTopics = []string{"appdirect.subscription"}
			} else {
				if code := authErrorCode(t, got); code != "unauthorized" {
					t.Errorf(`error = %q, want "unauthorized"`, code)
				}
			}
			if diff := cmp.Diff(wantTopics, b.pub.published()); diff != "" {
				t.Errorf("published topics (-want +got):\n%s", diff)
			}
			wantFailures := tt.failures
			if wantFailures == nil {
				wantFailures = map[string]float64{}
			}
			if diff := cmp.Diff(wantFailures, b.authFailures(t)); diff != "" {
				t.Errorf("webhook_bridge_auth_failures_total (-want +got):\n%s", diff)
			}
		})
	}
}

// tokenReply is an RFC 6749 token endpoint answer, success or error.
type tokenReply struct {
	AccessToken string `json:"access_token,omitempty"`
	TokenType   string `json:"token_type,omitempty"`
	ExpiresIn   int64  `json:"expires_in,omitempty"`
	Error       string `json:"error,omitempty"`
}

func TestAuthOAuthTokenEndpoint(t *testing.T) {
	const formCT = "application/x-www-form-urlencoded"
	tests := []struct {
		name    string
		ct      string // Content-Type; "" means formCT
		form    string
		headers [][2]string
		want    int
		// wantBody is the body without access_token, which is checked by use.
		wantBody tokenReply
		// wantBasicChallenge: a 401 asks for HTTP Basic (RFC 6749 5.2).
		wantBasicChallenge bool
		wantFailure        string // auth failure metric reason, if any
	}{
		{
			name: "client credentials by HTTP Basic", form: "grant_type=client_credentials",
			headers: [][2]string{{"Authorization", basicAuthz(clientID, clientSecret)}},
			want:    200, wantBody: tokenReply{TokenType: "Bearer", ExpiresIn: 600},
		},
		{
			name: "client credentials in the form", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {clientSecret}}.Encode(),
			want: 200, wantBody: tokenReply{TokenType: "Bearer", ExpiresIn: 600},
		},
		{
			name: "form-encoded Basic credentials with reserved characters", form: "grant_type=client_credentials",
			headers: [][2]string{{"Authorization", basicAuthz(otherClientID, otherSecret)}},
			want:    200, wantBody: tokenReply{TokenType: "Bearer", ExpiresIn: 600},
		},
		{
			name: "Basic credentials sent without form-encoding", form: "grant_type=client_credentials",
			headers: [][2]string{{"Authorization", rawBasicAuthz(otherClientID, otherSecret)}},
			want:    200, wantBody: tokenReply{TokenType: "Bearer", ExpiresIn: 600},
		},
		{
			name: "form client with reserved characters", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {otherClientID}, "client_secret": {otherSecret}}.Encode(),
			want: 200, wantBody: tokenReply{TokenType: "Bearer", ExpiresIn: 600},
		},
		{
			name: "content type with charset", ct: formCT + "; charset=UTF-8", form: "grant_type=client_credentials",
			headers: [][2]string{{"Authorization", basicAuthz(clientID, clientSecret)}},
			want:    200, wantBody: tokenReply{TokenType: "Bearer", ExpiresIn: 600},
		},
		{
			name: "password grant, client by Basic", form: url.Values{"grant_type": {"password"}, "username": {userName}, "password": {userPassword}}.Encode(),
			headers: [][2]string{{"Authorization", basicAuthz(clientID, clientSecret)}},
			want:    200, wantBody: tokenReply{TokenType: "Bearer", ExpiresIn: 600},
		},
		{
			name: "password grant, client in the form",
			form: url.Values{"grant_type": {"password"}, "username": {userName}, "password": {userPassword}, "client_id": {clientID}, "client_secret": {clientSecret}, "scope": {"webhooks"}}.Encode(),
			want: 200, wantBody: tokenReply{TokenType: "Bearer", ExpiresIn: 600},
		},
		{
			name: "password grant, wrong password", form: url.Values{"grant_type": {"password"}, "username": {userName}, "password": {"guess"}}.Encode(),
			headers: [][2]string{{"Authorization", basicAuthz(clientID, clientSecret)}},
			want:    400, wantBody: tokenReply{Error: "invalid_grant"}, wantFailure: "token_invalid_grant",
		},
		{
			name: "password grant, unknown user", form: url.Values{"grant_type": {"password"}, "username": {"mallory"}, "password": {userPassword}}.Encode(),
			headers: [][2]string{{"Authorization", basicAuthz(clientID, clientSecret)}},
			want:    400, wantBody: tokenReply{Error: "invalid_grant"}, wantFailure: "token_invalid_grant",
		},
		{
			name: "password grant without client authentication", form: url.Values{"grant_type": {"password"}, "username": {userName}, "password": {userPassword}}.Encode(),
			want: 401, wantBody: tokenReply{Error: "invalid_client"}, wantBasicChallenge: true, wantFailure: "token_invalid_client",
		},
		{
			name: "password grant without password", form: url.Values{"grant_type": {"password"}, "username": {userName}}.Encode(),
			headers: [][2]string{{"Authorization", basicAuthz(clientID, clientSecret)}},
			want:    400, wantBody: tokenReply{Error: "invalid_request"},
		},
		{
			name: "unsupported grant type", form: "grant_type=authorization_code&code=abc",
			headers: [][2]string{{"Authorization", basicAuthz(clientID, clientSecret)}},
			want:    400, wantBody: tokenReply{Error: "unsupported_grant_type"},
		},
		{
			name: "wrong client secret by Basic", form: "grant_type=client_credentials",
			headers: [][2]string{{"Authorization", basicAuthz(clientID, "guess")}},
			want:    401, wantBody: tokenReply{Error: "invalid_client"}, wantBasicChallenge: true, wantFailure: "token_invalid_client",
		},
		{
			name: "wrong client secret in the form", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {"guess"}}.Encode(),
			want: 401, wantBody: tokenReply{Error: "invalid_client"}, wantBasicChallenge: true, wantFailure: "token_invalid_client",
		},
		{
			name: "unknown client", form: "grant_type=client_credentials",
			headers: [][2]string{{"Authorization", basicAuthz("mallory", clientSecret)}},
			want:    401, wantBody: tokenReply{Error: "invalid_client"}, wantBasicChallenge: true, wantFailure: "token_invalid_client",
		},
		{
			name: "another client's secret", form: "grant_type=client_credentials",
			headers: [][2]string{{"Authorization", basicAuthz(otherClientID, clientSecret)}},
			want:    401, wantBody: tokenReply{Error: "invalid_client"}, wantBasicChallenge: true, wantFailure: "token_invalid_client",
		},
		{
			name: "no client authentication", form: "grant_type=client_credentials",
			want: 401, wantBody: tokenReply{Error: "invalid_client"}, wantBasicChallenge: true, wantFailure: "token_invalid_client",
		},
		{
			name: "missing grant_type", form: "scope=webhooks",
			headers: [][2]string{{"Authorization", basicAuthz(clientID, clientSecret)}},
			want:    400, wantBody: tokenReply{Error: "invalid_request"},
		},
		{
			name: "client secret by Basic and in the form", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {clientSecret}}.Encode(),
			headers: [][2]string{{"Authorization", basicAuthz(clientID, clientSecret)}},
			want:    400, wantBody: tokenReply{Error: "invalid_request"},
		},
		{
			name: "JSON body", ct: "application/json", form: `{"grant_type":"client_credentials"}`,
			headers: [][2]string{{"Authorization", basicAuthz(clientID, clientSecret)}},
			want:    400, wantBody: tokenReply{Error: "invalid_request"},
		},
		{
			name: "no content type", ct: "-", form: "grant_type=client_credentials",
			headers: [][2]string{{"Authorization", basicAuthz(clientID, clientSecret)}},
			want:    400, wantBody: tokenReply{Error: "invalid_request"},
		},
		{
			name: "repeated grant_type", form: "grant_type=client_credentials&grant_type=client_credentials",
			headers: [][2]string{{"Authorization", basicAuthz(clientID, clientSecret)}},
			want:    400, wantBody: tokenReply{Error: "invalid_request"},
		},
		{
			name: "repeated client_secret", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {clientSecret, clientSecret}}.Encode(),
			want: 400, wantBody: tokenReply{Error: "invalid_request"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newAuthClock()
			b := newAuthBridge(t, oauthConfig(clock), nil)
			headers := tt.headers
			switch tt.ct {
			case "":
				headers = append(headers, [2]string{"Content-Type", formCT})
			case "-":
			default:
				headers = append(headers, [2]string{"Content-Type", tt.ct})
			}
			got := b.do(t, authWireRequest(t, http.MethodPost, "/oauth/token", headers, tt.form))
			if got.status != tt.want {
				t.Fatalf("status = %d, want %d; body %s", got.status, tt.want, got.body)
			}
			if ct := got.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if cc := got.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			var body tokenReply
			var raw map[string]any
			if err := json.Unmarshal(got.body, &body); err != nil || json.Unmarshal(got.body, &raw) != nil {
				t.Fatalf("body is not JSON: %v: %s", err, got.body)
			}
			tok := body.AccessToken
			body.AccessToken = ""
			if diff := cmp.Diff(tt.wantBody, body); diff != "" {
				t.Errorf("body (-want +got):\n%s\n%s", diff, got.body)
			}
			if tt.want != http.StatusOK {
				if d, _ := raw["error_description"].(string); d == "" {
					t.Errorf("error without error_description: %s", got.body)
				}
			}
			challenge := got.header.Get("WWW-Authenticate")
			if tt.wantBasicChallenge != strings.HasPrefix(challenge, "Basic ") {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge: %v", challenge, tt.wantBasicChallenge)
			}
			wantFailures := map[string]float64{}
			if tt.wantFailure != "" {
				wantFailures[tt.wantFailure] = 1
			}
			if diff := cmp.Diff(wantFailures, b.authFailures(t)); diff != "" {
				t.Errorf("webhook_bridge_auth_failures_total (-want +got):\n%s", diff)
			}
			if tt.want != http.StatusOK {
				return
			}
			// The issued token authenticates a delivery.
			if d := b.deliver(t, authSample, bearerAuthz(tok)); d.status != http.StatusAccepted {
				t.Errorf("delivery with the issued token: %d %s", d.status, d.body)
			}
			if diff := cmp.Diff([]string{"appdirect.subscription"}, b.pub.published()); diff != "" {
				t.Errorf("published topics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuthTokenEndpointOnlyInOAuth2Mode(t *testing.T) {
	b := newAuthBridge(t, tokenConfig(), nil)
	got := b.tokenRequest(t, "grant_type=client_credentials", [2]string{"Authorization", basicAuthz(clientID, clientSecret)})
	if got.status != http.StatusNotFound {
		t.Errorf("POST /oauth/token in token mode: %d, want 404; body %s", got.status, got.body)
	}
}

func TestAuthTokenEndpointBasicHeader(t *testing.T) {
	formCreds := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {clientSecret}}.Encode()
	tests := []struct {
		name  string
		authz string
		form  string
		want  int
		code  string // "error" of the body; "" on success
	}{
		{name: "scheme in lower case", authz: strings.Replace(basicAuthz(clientID, clientSecret), "Basic", "basic", 1), form: "grant_type=client_credentials", want: 200},
		{name: "undecodable Basic", authz: "Basic %%%", form: "grant_type=client_credentials", want: 401, code: "invalid_client"},
		{name: "Basic without a colon", authz: "Basic " + base64.StdEncoding.EncodeToString([]byte(clientID)), form: "grant_type=client_credentials", want: 401, code: "invalid_client"},
		{name: "undecodable Basic and form credentials", authz: "Basic %%%", form: formCreds, want: 400, code: "invalid_request"},
		{name: "Bearer and form credentials", authz: "Bearer abc", form: formCreds, want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newAuthBridge(t, oauthConfig(newAuthClock()), nil)
			got := b.tokenRequest(t, tt.form, [2]string{"Authorization", tt.authz})
			if got.status != tt.want {
				t.Fatalf("status = %d, want %d; body %s", got.status, tt.want, got.body)
			}
			var tr tokenReply
			if err := json.Unmarshal(got.body, &tr); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, got.body)
			}
			if tr.Error != tt.code {
				t.Errorf("error = %q, want %q", tr.Error, tt.code)
			}
		})
	}
}

// tamperClaims returns tok with its claims changed by edit and the original
// header and signature.
func tamperClaims(t *testing.T, tok string, edit func(claims map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("access token %q is not a JWS compact serialization", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("claims of the access token: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatalf("claims of the access token: %v", err)
	}
	edit(claims)
	nc, _ := json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(nc) + "." + parts[2]
}

// withJOSEHeader returns tok with its JOSE header replaced.
func withJOSEHeader(tok string, header string) string {
	parts := strings.Split(tok, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + parts[1] + "." + parts[2]
}

func TestAuthBearer(t *testing.T) {
	clock := newAuthClock()
	issuer := newAuthBridge(t, oauthConfig(clock), nil)
	tok := issuer.accessToken(t)
	oldIssuer := newAuthBridge(t, oauthConfig(clock, keyOld), nil)
	oldTok := oldIssuer.accessToken(t)

	flip := func(s string) string { // changes the first character
		if s[0] == 'A' {
			return "B" + s[1:]
		}
		return "A" + s[1:]
	}
	parts := strings.Split(tok, ".")

	tests := []struct {
		name string
		// server is the configuration of the server that receives the
		// delivery; nil means the issuer itself.
		server  *bridge.AuthConfig
		advance time.Duration
		authz   string
		want    int
		reason  string
	}{
		{name: "valid token", authz: "Bearer " + tok, want: 202},
		{name: "scheme in lower case", authz: "bearer " + tok, want: 202},
		{name: "one second before expiry", advance: 10*time.Minute - time.Second, authz: "Bearer " + tok, want: 202},
		{name: "at expiry", advance: 10 * time.Minute, authz: "Bearer " + tok, want: 401, reason: "expired_token"},
		{name: "long expired", advance: 48 * time.Hour, authz: "Bearer " + tok, want: 401, reason: "expired_token"},
		{name: "no Authorization", want: 401, reason: "missing_bearer"},
		{name: "Basic instead of Bearer", authz: basicAuthz(clientID, clientSecret), want: 401, reason: "missing_bearer"},
		{name: "empty Bearer", authz: "Bearer ", want: 401, reason: "missing_bearer"},
		{name: "not a JWT", authz: "Bearer not-a-token", want: 401, reason: "malformed_token"},
		{
			name: "expiry pushed out", advance: 48 * time.Hour, want: 401, reason: "bad_signature",
			authz: "Bearer " + tamperClaims(t, tok, func(c map[string]any) { c["exp"] = clock.Now().Add(72 * time.Hour).Unix() }),
		},
		{
			name: "subject changed", want: 401, reason: "bad_signature",
			authz: "Bearer " + tamperClaims(t, tok, func(c map[string]any) { c["sub"] = "client:mallory" }),
		},
		{name: "signature changed", authz: "Bearer " + parts[0] + "." + parts[1] + "." + flip(parts[2]), want: 401, reason: "bad_signature"},
		{name: "signature removed", authz: "Bearer " + parts[0] + "." + parts[1] + ".", want: 401, reason: "bad_signature"},
		{name: "alg none", authz: "Bearer " + withJOSEHeader(parts[0]+"."+parts[1]+".", `{"alg":"none","typ":"JWT"}`), want: 401, reason: "malformed_token"},
		{name: "unknown kid", authz: "Bearer " + withJOSEHeader(tok, `{"alg":"HS256","typ":"JWT","kid":"00000000"}`), want: 401, reason: "bad_signature"},
		{
			name: "signed by the second key of a rotated list", authz: "Bearer " + oldTok, want: 202,
			server: cfgPtr(oauthConfig(clock, keyNew, keyOld)),
		},
		{
			name: "signed by a key no longer listed", authz: "Bearer " + oldTok, want: 401, reason: "bad_signature",
			server: cfgPtr(oauthConfig(clock, keyNew)),
		},
		{
			name: "issued by another replica with the same keys", authz: "Bearer " + tok, want: 202,
			server: cfgPtr(oauthConfig(clock, keyNew, keyOld)),
		},
		{
			name: "issued by another replica with the keys in another order", authz: "Bearer " + tok, want: 202,
			server: cfgPtr(oauthConfig(clock, keyOld, keyNew)),
		},
		{
			name: "a marketplace token is not a Bearer token", authz: "Bearer " + tokCurrent, want: 401, reason: "malformed_token",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case gets its own clock, starting where the token was
			// issued, and its own server, so the metrics are its own.
			c := &authClock{t: clock.Now()}
			c.Add(tt.advance)
			cfg := oauthConfig(c)
			if tt.server != nil {
				cfg = *tt.server
			}
			cfg.Now = c.Now
			b := newAuthBridge(t, cfg, nil)
			var headers [][2]string
			if tt.authz != "" {
				headers = append(headers, [2]string{"Authorization", tt.authz})
			}
			got := b.deliver(t, authSample, headers...)
			if got.status != tt.want {
				t.Fatalf("status = %d, want %d; body %s", got.status, tt.want, got.body)
			}
			wantTopics, wantFailures := []string{}, map[string]float64{}
			if tt.want == http.StatusAccepted {
				wantTopics = []string{"appdirect.subscription"}
			} else {
				wantFailures[tt.reason] = 1
				if code := authErrorCode(t, got); code != "unauthorized" {
					t.Errorf(`error = %q, want "unauthorized"`, code)
				}
				if ch, want := got.header.Get("WWW-Authenticate"), bearerChallenge(tt.reason); ch != want {
					t.Errorf("WWW-Authenticate = %q, want %q", ch, want)
				}
			}
			if diff := cmp.Diff(wantTopics, b.pub.published()); diff != "" {
				t.Errorf("published topics (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantFailures, b.authFailures(t)); diff != "" {
				t.Errorf("webhook_bridge_auth_failures_total (-want +got):\n%s", diff)
			}
		})
	}
}

func cfgPtr(c bridge.AuthConfig) *bridge.AuthConfig { return &c }

// bearerChallenge is the WWW-Authenticate of a 401 for reason, with OAuth2
// on (RFC 6750, section 3): error="invalid_token" only when a Bearer token
// was presented and refused.
func bearerChallenge(reason string) string {
	const base = `Bearer realm="webhook-bridge"`
	switch reason {
	case "missing_bearer", "missing_token", "invalid_token":
		return base
	case "expired_token":
		return base + `, error="invalid_token", error_description="the access token expired"`
	default:
		return base + `, error="invalid_token", error_description="the access token is not valid"`
	}
}

func TestAuthExpiresInFollowsTheClock(t *testing.T) {
	// expires_in must agree with the clock that checks expiry: a client that
	// renews when expires_in runs out must never present an expired token.
	clock := newAuthClock()
	b := newAuthBridge(t, oauthConfig(clock), nil)
	got := b.tokenRequest(t, "grant_type=client_credentials", [2]string{"Authorization", basicAuthz(clientID, clientSecret)})
	var tr tokenReply
	if err := json.Unmarshal(got.body, &tr); err != nil || got.status != http.StatusOK {
		t.Fatalf("token request: %d %s", got.status, got.body)
	}
	clock.Add(time.Duration(tr.ExpiresIn)*time.Second - time.Second)
	if d := b.deliver(t, authSample, bearerAuthz(tr.AccessToken)); d.status != http.StatusAccepted {
		t.Errorf("1 s before expires_in (%d s) ran out: %d, want 202", tr.ExpiresIn, d.status)
	}
	clock.Add(time.Second)
	if d := b.deliver(t, authSample, bearerAuthz(tr.AccessToken)); d.status != http.StatusUnauthorized {
		t.Errorf("when expires_in (%d s) ran out: %d, want 401", tr.ExpiresIn, d.status)
	}
}

func TestAuthTokenOrOAuth2(t *testing.T) {
	clock := newAuthClock()
	cfg := oauthConfig(clock)
	cfg.Modes = []string{bridge.ModeToken, bridge.ModeOAuth2}
	cfg.Tokens = []string{tokCurrent, tokPrevious}
	issuer := newAuthBridge(t, cfg, nil)
	tok := issuer.accessToken(t)

	tests := []struct {
		name    string
		headers [][2]string
		want    int
		reason  string
	}{
		{name: "token", headers: [][2]string{{"X-AppDirect-Webhook-Token", tokCurrent}}, want: 202},
		{name: "legacy token", headers: [][2]string{{"AppDirect-Webhook-Token", tokPrevious}}, want: 202},
		{name: "Bearer", headers: [][2]string{bearerAuthz(tok)}, want: 202},
		{name: "wrong token, valid Bearer", headers: [][2]string{{"X-AppDirect-Webhook-Token", "tok-guess"}, bearerAuthz(tok)}, want: 202},
		{name: "valid token, bad Bearer", headers: [][2]string{{"X-AppDirect-Webhook-Token", tokCurrent}, bearerAuthz("x.y.z")}, want: 202},
		{name: "neither", want: 401, reason: "missing_token"},
		{name: "wrong token only", headers: [][2]string{{"X-AppDirect-Webhook-Token", "tok-guess"}}, want: 401, reason: "invalid_token"},
		{name: "bad Bearer only", headers: [][2]string{bearerAuthz(tok + "x")}, want: 401, reason: "bad_signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newAuthBridge(t, cfg, nil)
			got := b.deliver(t, authSample, tt.headers...)
			if got.status != tt.want {
				t.Fatalf("status = %d, want %d; body %s", got.status, tt.want, got.body)
			}
			wantTopics, wantFailures := []string{}, map[string]float64{}
			if tt.want == http.StatusAccepted {
				wantTopics = []string{"appdirect.subscription"}
			} else {
				wantFailures[tt.reason] = 1
				if code := authErrorCode(t, got); code != "unauthorized" {
					t.Errorf(`error = %q, want "unauthorized"`, code)
				}
				if ch, want := got.header.Get("WWW-Authenticate"), bearerChallenge(tt.reason); ch != want {
					t.Errorf("WWW-Authenticate = %q, want %q", ch, want)
				}
			}
			if diff := cmp.Diff(wantTopics, b.pub.published()); diff != "" {
				t.Errorf("published topics (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantFailures, b.authFailures(t)); diff != "" {
				t.Errorf("webhook_bridge_auth_failures_total (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewAuthRefusesIncompleteConfig(t *testing.T) {
	tests := []struct {
		name string
		give bridge.AuthConfig
		want string // in the error; "" means no error
	}{
		{name: "no mode", give: bridge.AuthConfig{}, want: "no auth mode"},
		{name: "token without tokens", give: bridge.AuthConfig{Modes: []string{"token"}, Tokens: []string{" ", ""}}, want: "at least one token"},
		{name: "oauth2 without clients", give: bridge.AuthConfig{Modes: []string{"oauth2"}, SigningKeys: []string{keyNew}}, want: "at least one client"},
		{name: "oauth2 without keys", give: bridge.AuthConfig{Modes: []string{"oauth2"}, Clients: map[string]string{clientID: clientSecret}}, want: "at least one signing key"},
		{name: "short key", give: bridge.AuthConfig{Modes: []string{"oauth2"}, Clients: map[string]string{clientID: clientSecret}, SigningKeys: []string{keyNew, "short-key"}}, want: "shorter than 32 bytes"},
		{name: "none with token", give: bridge.AuthConfig{Modes: []string{"none", "token"}, Tokens: []string{tokCurrent}}, want: "cannot be combined"},
		{name: "unknown mode", give: bridge.AuthConfig{Modes: []string{"hmac"}}, want: `"hmac" is not one of`},
		{name: "none", give: bridge.AuthConfig{Modes: []string{"none"}}},
		{name: "token", give: tokenConfig()},
		{name: "oauth2", give: oauthConfig(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bridge.NewAuth(tt.give)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("NewAuth: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("NewAuth error = %v, want one containing %q", err, tt.want)
			}
			for _, s := range []string{keyNew, "short-key", clientSecret, tokCurrent} {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains the secret %q", err, s)
				}
			}
		})
	}
}

// TestAuthFailureIsLoggedOnce checks the one log line of each refused
// request: remote address and reason, never the presented secret.
func TestAuthFailureIsLoggedOnce(t *testing.T) {
	clock := newAuthClock()
	cfg := oauthConfig(clock)
	cfg.Modes = []string{bridge.ModeToken, bridge.ModeOAuth2}
	cfg.Tokens = []string{tokCurrent}
	issued := newAuthBridge(t, cfg, nil).accessToken(t)
	expired := &authClock{t: clock.Now().Add(time.Hour)}
	forged := tamperClaims(t, issued, func(c map[string]any) { c["sub"] = "client:mallory" })

	tests := []struct {
		name      string
		path      string
		headers   [][2]string
		body      string
		clock     *authClock
		presented string // the secret the request carried
		reason    string // in the log line
	}{
		{name: "missing token", path: "/webhooks", reason: "missing_token"},
		{name: "wrong token", path: "/webhooks", headers: [][2]string{{"X-AppDirect-Webhook-Token", "presented-wrong-token-61c2"}}, presented: "presented-wrong-token-61c2", reason: "invalid_token"},
		{name: "expired Bearer", path: "/webhooks", headers: [][2]string{bearerAuthz(issued)}, clock: expired, presented: issued, reason: "expired_token"},
		{name: "forged Bearer", path: "/webhooks", headers: [][2]string{bearerAuthz(forged)}, presented: forged, reason: "bad_signature"},
		{
			name: "wrong client secret", path: "/oauth/token", body: "grant_type=client_credentials",
			headers:   [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}, {"Authorization", basicAuthz(clientID, "presented-client-secret-9f")}},
			presented: "presented-client-secret-9f", reason: "invalid_client",
		},
		{
			name: "wrong user password", path: "/oauth/token", body: url.Values{"grant_type": {"password"}, "username": {userName}, "password": {"presented-password-4e1d"}}.Encode(),
			headers:   [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}, {"Authorization", basicAuthz(clientID, clientSecret)}},
			presented: "presented-password-4e1d", reason: "invalid_grant",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock
			if tt.clock != nil {
				c = tt.clock
			}
			cfg := cfg
			cfg.Now = c.Now
			b := newAuthBridge(t, cfg, nil)
			body := tt.body
			if body == "" {
				body = authSample
			}
			headers := tt.headers
			if tt.path == "/webhooks" {
				headers = append(headers, [2]string{"Content-Type", "application/json"})
			}
			got := b.do(t, authWireRequest(t, http.MethodPost, tt.path, headers, body))
			if got.status < 400 {
				t.Fatalf("status = %d, want a refusal; body %s", got.status, got.body)
			}
			rid := got.header.Get("X-Request-Id")
			var mine []map[string]any
			for _, l := range b.log.lines(t) {
				if l["request_id"] == rid {
					mine = append(mine, l)
				}
			}
			if len(mine) != 1 {
				t.Fatalf("%d log lines for request %s, want 1:\n%s", len(mine), rid, b.log.String())
			}
			l := mine[0]
			want := map[string]any{"level": "warn", "remote": authRemote, "status": float64(got.status), "path": tt.path}
			gotFields := map[string]any{"level": l["level"], "remote": l["remote"], "status": l["status"], "path": l["path"]}
			if diff := cmp.Diff(want, gotFields); diff != "" {
				t.Errorf("log line (-want +got):\n%s", diff)
			}
			if cause, _ := l["cause"].(string); !strings.Contains(cause, tt.reason) {
				t.Errorf("log line does not say the reason %q: %v", tt.reason, l)
			}
			logs := b.log.String()
			for _, s := range []string{tt.presented, tokCurrent, clientSecret, userPassword, keyNew, keyOld} {
				if s != "" && strings.Contains(logs, s) {
					t.Errorf("the log holds the secret %q:\n%s", s, logs)
				}
			}
		})
	}
}

// TestAuthSecretsNeverLeak runs every authentication path with known
// secrets and asserts that no secret appears in any log line, response
// header or response body (an access token only in the response that issues
// it).
func TestAuthSecretsNeverLeak(t *testing.T) {
	logs := &logBuf{}
	clock := newAuthClock()
	cfg := oauthConfig(clock)
	cfg.Modes = []string{bridge.ModeToken, bridge.ModeOAuth2}
	cfg.Tokens = []string{tokCurrent, tokPrevious}
	b := newAuthBridge(t, cfg, logs)
	// A second server with only the new key, refusing tokens of the old.
	cfgNew := oauthConfig(clock, keyNew)
	bNew := newAuthBridge(t, cfgNew, logs)
	oldIssuer := newAuthBridge(t, oauthConfig(clock, keyOld), logs)

	// Wrong secrets presented by callers: never logged or echoed either.
	const (
		wrongToken    = "presented-wrong-token-a81f"
		wrongSecret   = "presented-wrong-secret-c47e"
		wrongPassword = "presented-wrong-password-19bd"
	)
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	want := func(got response, status int) {
		t.Helper()
		if got.status != status {
			t.Errorf("status = %d, want %d; body %s", got.status, status, got.body)
		}
	}
	issue := func(got response) string {
		t.Helper()
		want(got, http.StatusOK)
		var tr tokenReply
		_ = json.Unmarshal(got.body, &tr)
		return tr.AccessToken
	}
	hdr := func(k, v string) [2]string { return [2]string{k, v} }

	// Static tokens.
	want(b.deliver(t, authSample, hdr("X-AppDirect-Webhook-Token", tokCurrent)), 202)
	want(b.deliver(t, authSample, hdr("AppDirect-Webhook-Token", tokPrevious)), 202)
	want(b.deliver(t, authSample, hdr("X-AppDirect-Webhook-Token", wrongToken)), 401)
	want(b.deliver(t, "not json "+tokCurrent, hdr("X-AppDirect-Webhook-Token", wrongToken)), 401)
	want(b.deliver(t, authSample), 401)

	// The token endpoint, every grant and every refusal.
	var issued []string
	issued = append(issued,
		issue(b.tokenRequest(t, form("grant_type", "client_credentials"), hdr("Authorization", basicAuthz(clientID, clientSecret)))),
		issue(b.tokenRequest(t, form("grant_type", "client_credentials", "client_id", otherClientID, "client_secret", otherSecret))),
		issue(b.tokenRequest(t, form("grant_type", "password", "username", userName, "password", userPassword), hdr("Authorization", basicAuthz(clientID, clientSecret)))),
		issue(b.tokenRequest(t, form("grant_type", "password", "username", userName, "password", userPassword, "client_id", clientID, "client_secret", clientSecret))),
	)
	want(b.tokenRequest(t, form("grant_type", "client_credentials"), hdr("Authorization", basicAuthz(clientID, wrongSecret))), 401)
	want(b.tokenRequest(t, form("grant_type", "client_credentials", "client_id", clientID, "client_secret", wrongSecret)), 401)
	want(b.tokenRequest(t, form("grant_type", "password", "username", userName, "password", wrongPassword), hdr("Authorization", basicAuthz(clientID, clientSecret))), 400)
	want(b.tokenRequest(t, form("grant_type", "client_credentials", "client_secret", clientSecret), hdr("Authorization", basicAuthz(clientID, clientSecret))), 400)
	want(b.tokenRequest(t, form("grant_type", "client_credentials", "client_id", clientID, "client_secret", clientSecret, "client_secret", wrongSecret)), 400)
	want(b.tokenRequest(t, form("grant_type", "authorization_code", "code", wrongSecret), hdr("Authorization", basicAuthz(clientID, clientSecret))), 400)
	want(b.tokenRequest(t, form("client_id", clientID, "client_secret", clientSecret)), 400)
	want(b.do(t, authWireRequest(t, http.MethodPost, "/oauth/token",
		[][2]string{{"Content-Type", "application/json"}}, `{"client_id":"`+clientID+`","client_secret":"`+clientSecret+`"}`)), 400)
	want(b.do(t, authWireRequest(t, http.MethodPost, "/oauth/token",
		[][2]string{{"Content-Type", "application/x-www-form-urlencoded"}}, "grant_type=client_credentials&client_secret="+clientSecret+"%zz")), 400)

	// Bearer tokens: valid, tampered, expired, rotated out.
	for _, tok := range issued {
		want(b.deliver(t, authSample, bearerAuthz(tok)), 202)
		want(b.deliver(t, authSample, bearerAuthz(tok+"A")), 401)
		want(b.deliver(t, authSample, bearerAuthz(tamperClaims(t, tok, func(c map[string]any) { c["sub"] = "client:x" }))), 401)
	}
	oldTok := issue(oldIssuer.tokenRequest(t, form("grant_type", "client_credentials"), hdr("Authorization", basicAuthz(clientID, clientSecret))))
	issued = append(issued, oldTok)
	want(b.deliver(t, authSample, bearerAuthz(oldTok)), 202)
	want(bNew.deliver(t, authSample, bearerAuthz(oldTok)), 401)
	clock.Add(time.Hour)
	for _, tok := range issued {
		want(b.deliver(t, authSample, bearerAuthz(tok)), 401)
	}

	secrets := map[string]string{
		"current token": tokCurrent, "previous token": tokPrevious,
		"client secret": clientSecret, "other client secret": otherSecret,
		"user password": userPassword, "new signing key": keyNew, "old signing key": keyOld,
		"Basic credentials":      strings.TrimPrefix(basicAuthz(clientID, clientSecret), "Basic "),
		"presented wrong token":  wrongToken,
		"presented wrong secret": wrongSecret, "presented wrong password": wrongPassword,
	}
	logText := logs.String()
	if !strings.Contains(logText, `"status":401`) {
		t.Fatalf("the log holds no refused request; did the run happen?\n%s", logText)
	}
	responses := b.transcript.String() + bNew.transcript.String() + oldIssuer.transcript.String()
	for name, s := range secrets {
		if strings.Contains(logText, s) {
			t.Errorf("the log holds the %s %q", name, s)
		}
		if strings.Contains(responses, s) {
			t.Errorf("a response holds the %s %q", name, s)
		}
	}
	for i, tok := range issued {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(logText, tok) || strings.Contains(logText, sig) {
			t.Errorf("the log holds issued access token #%d", i)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", logText)
	}
}
