package bridge_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
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

// TestTrustedProxies: only a request from a trusted proxy has its
// X-Forwarded-For read; the client is the right-most address that is not a
// trusted proxy, and it is what the log shows and the throttle counts.
func TestTrustedProxies(t *testing.T) {
	a, err := bridge.NewAuth(bridge.AuthConfig{Modes: []string{bridge.ModeToken}, Tokens: []string{tokCurrent}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	srv := bridge.NewServer(&pubSpy{}, testOptions(bridge.Options{Naming: topics.Naming{Prefix: "appdirect."}, Auth: a,
		AuthFailuresPerSecond: 1, AuthFailureBurst: 3,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::1/128")}}), zerolog.New(logs))
	webhook := func(token, peer string, xff ...string) int {
		r := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(fmt.Sprintf(orderEvent, time.Now().UnixNano())))
		r.Header.Set("X-AppDirect-Webhook-Token", token)
		r.RemoteAddr = peer
		for _, v := range xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		return rec.Code
	}
	lastLine := func() map[string]any {
		lines := logs.lines(t)
		return lines[len(lines)-1]
	}
	tests := []struct {
		name       string
		peer       string
		xff        []string
		wantRemote string
		wantProxy  any // nil: no proxy field
	}{
		{"no proxy", "203.0.113.5:1000", nil, "203.0.113.5:1000", nil},
		{"untrusted peer's header is ignored", "203.0.113.5:1000", []string{"192.0.2.1"}, "203.0.113.5:1000", nil},
		{"trusted proxy", "10.1.2.3:555", []string{"192.0.2.1"}, "192.0.2.1", "10.1.2.3:555"},
		{"client-written hops on the left are ignored", "10.1.2.3:555", []string{"6.6.6.6, 192.0.2.1, 10.9.9.9"}, "192.0.2.1", "10.1.2.3:555"},
		{"several headers read right to left", "10.1.2.3:555", []string{"6.6.6.6", "192.0.2.2", "10.0.0.7"}, "192.0.2.2", "10.1.2.3:555"},
		{"IPv6 proxy, address with port", "[2001:db8::1]:443", []string{"192.0.2.3:9999"}, "192.0.2.3", "[2001:db8::1]:443"},
		{"a garbled hop keeps the last vouched-for address", "10.1.2.3:555", []string{"192.0.2.1, garbage, 10.0.0.9"}, "10.0.0.9", "10.1.2.3:555"},
		{"garbage right away: the peer", "10.1.2.3:555", []string{"unknown"}, "10.1.2.3:555", nil},
		{"every hop trusted: the left-most", "10.1.2.3:555", []string{"10.0.0.5, 10.0.0.6"}, "10.0.0.5", "10.1.2.3:555"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := webhook(tokCurrent, tt.peer, tt.xff...); got != http.StatusAccepted {
				t.Fatalf("status %d, want 202", got)
			}
			l := lastLine()
			if l["remote"] != tt.wantRemote || l["proxy"] != tt.wantProxy {
				t.Errorf("log remote %v proxy %v, want %v and %v", l["remote"], l["proxy"], tt.wantRemote, tt.wantProxy)
			}
		})
	}

	// The throttle counts the client behind the proxy, not the proxy.
	const proxy = "10.1.2.3:555"
	for range 10 {
		webhook("wrong", proxy, "198.51.100.66")
	}
	if got := webhook("wrong", proxy, "198.51.100.66"); got != http.StatusTooManyRequests {
		t.Errorf("the guessing client behind the proxy: %d, want 429", got)
	}
	if got := webhook(tokCurrent, proxy, "192.0.2.77"); got != http.StatusAccepted {
		t.Errorf("another client behind the same proxy: %d, want 202", got)
	}
	// A client cannot escape by writing its own X-Forwarded-For.
	if got := webhook("wrong", proxy, "1.2.3.4, 198.51.100.66"); got != http.StatusTooManyRequests {
		t.Errorf("the guessing client with a forged hop: %d, want 429", got)
	}
}

// TestUntrustedForwardWarnsOnce: X-Forwarded-For from a peer that is not a
// trusted proxy is ignored, and said so once: behind an unlisted proxy every
// sender shares one throttle bucket.
func TestUntrustedForwardWarnsOnce(t *testing.T) {
	for _, tt := range []struct {
		name    string
		trusted []netip.Prefix
	}{
		{"no trusted proxies", nil},
		{"a peer outside them", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logBuf{}
			srv := bridge.NewServer(&pubSpy{}, testOptions(bridge.Options{Naming: topics.Naming{Prefix: "appdirect."},
				TrustedProxies: tt.trusted}), zerolog.New(logs))
			warnings := func() int {
				n := 0
				for _, l := range logs.lines(t) {
					if msg, _ := l["message"].(string); l["level"] == "warn" && strings.Contains(msg, "X-Forwarded-For") {
						n++
						if l["peer"] != "203.0.113.5" {
							t.Errorf("warning names peer %v, want 203.0.113.5", l["peer"])
						}
					}
				}
				return n
			}
			send := func(xff string) {
				r := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(fmt.Sprintf(orderEvent, time.Now().UnixNano())))
				r.RemoteAddr = "203.0.113.5:1000"
				if xff != "" {
					r.Header.Set("X-Forwarded-For", xff)
				}
				srv.ServeHTTP(httptest.NewRecorder(), r)
			}
			send("")
			if n := warnings(); n != 0 {
				t.Fatalf("%d warnings without X-Forwarded-For, want none", n)
			}
			send("192.0.2.1")
			send("192.0.2.2")
			if n := warnings(); n != 1 {
				t.Errorf("%d warnings after two requests with X-Forwarded-For, want 1", n)
			}
		})
	}
}
