package bridge_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
)

// TestFailedAuthenticationsAreThrottledPerAddress: 200 wrong tokens, then
// 200 wrong client secrets, from one address both end in 429 with
// Retry-After; a correct token (and client secret) from another address
// still succeeds. Refused guesses are counted and their log lines sampled.
func TestFailedAuthenticationsAreThrottledPerAddress(t *testing.T) {
	cfg := oauthConfig(nil)
	cfg.Modes = []string{bridge.ModeToken, bridge.ModeOAuth2}
	cfg.Tokens = []string{tokCurrent}
	a, err := bridge.NewAuth(cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	srv := bridge.NewServer(&pubSpy{}, testOptions(bridge.Options{Naming: topics.Naming{Prefix: "appdirect."}, Auth: a,
		AuthFailuresPerSecond: 1, AuthFailureBurst: 20}), zerolog.New(logs))
	serve := func(r *http.Request, from string) *httptest.ResponseRecorder {
		r.RemoteAddr = from
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		return rec
	}
	webhook := func(token, from string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(fmt.Sprintf(orderEvent, time.Now().UnixNano())))
		r.Header.Set("X-AppDirect-Webhook-Token", token)
		return serve(r, from)
	}
	tokenRequest := func(secret, from string) *httptest.ResponseRecorder {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return serve(r, from)
	}
	const attacker = "198.51.100.7:40000"
	for name, try := range map[string]func(i int) *httptest.ResponseRecorder{
		"wrong tokens":         func(i int) *httptest.ResponseRecorder { return webhook(fmt.Sprintf("guess-%d", i), attacker) },
		"wrong client secrets": func(i int) *httptest.ResponseRecorder { return tokenRequest(fmt.Sprintf("guess-%d", i), attacker) },
	} {
		var last *httptest.ResponseRecorder
		counts := map[int]int{}
		for i := range 200 {
			last = try(i)
			counts[last.Code]++
		}
		if last.Code != http.StatusTooManyRequests || counts[http.StatusTooManyRequests] < 150 {
			t.Errorf("%s: answers %v, last %d; want the guesses to end in 429", name, counts, last.Code)
		}
		if s, err := strconv.Atoi(last.Header().Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("%s: 429 Retry-After %q, want whole seconds >= 1", name, last.Header().Get("Retry-After"))
		}
	}
	if rec := webhook(tokCurrent, "203.0.113.9:5000"); rec.Code != http.StatusAccepted {
		t.Fatalf("correct token from another address: %d %s, want 202", rec.Code, rec.Body)
	}
	if rec := tokenRequest(clientSecret, "203.0.113.9:5001"); rec.Code != http.StatusOK {
		t.Fatalf("correct client secret from another address: %d %s, want 200", rec.Code, rec.Body)
	}
	rec := httptest.NewRecorder()
	srv.Admin().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "webhook_bridge_auth_throttled_total") || strings.Contains(rec.Body.String(), "webhook_bridge_auth_throttled_total 0\n") {
		t.Errorf("/metrics does not count the throttled requests")
	}
	var refusedLines int
	for _, l := range logs.lines(t) {
		if l["status"] == float64(http.StatusUnauthorized) || l["status"] == float64(http.StatusTooManyRequests) {
			refusedLines++
		}
	}
	if refusedLines == 0 || refusedLines >= 400 {
		t.Errorf("%d log lines for 400 refused requests, want some but fewer (sampled)", refusedLines)
	}
}
