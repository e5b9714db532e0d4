package bridge_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/webhook-bridge/webhook-bridge/bridge"
)

// keyID is the kid the bridge gives a signing key. Replicas of every version
// must agree on it, or a rolling upgrade refuses the tokens of the others.
func keyID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:4])
}

// signToken signs claims with key under the given method and kid, the way a
// replica of another version (or a forger holding the key) would.
func signToken(t *testing.T, method jwt.SigningMethod, key, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString([]byte(key))
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// jwtSegment decodes segment i (0 header, 1 claims) of tok.
func jwtSegment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWS compact serialization: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	return m
}

func TestAuthAccessTokenClaims(t *testing.T) {
	clock := newAuthClock()
	now := float64(clock.Now().Unix())
	tests := []struct {
		name       string
		form       string
		wantHeader map[string]any
		wantClaims map[string]any
	}{
		{
			name:       "client credentials",
			form:       "grant_type=client_credentials",
			wantHeader: map[string]any{"alg": "HS256", "typ": "JWT", "kid": keyID(keyNew)},
			wantClaims: map[string]any{
				"iss": "webhook-bridge", "aud": "webhook-bridge/webhooks", "sub": "client:" + clientID, "client_id": clientID,
				"iat": now, "nbf": now, "exp": now + 600,
			},
		},
		{
			name:       "password",
			form:       url.Values{"grant_type": {"password"}, "username": {userName}, "password": {userPassword}}.Encode(),
			wantHeader: map[string]any{"alg": "HS256", "typ": "JWT", "kid": keyID(keyNew)},
			wantClaims: map[string]any{
				"iss": "webhook-bridge", "aud": "webhook-bridge/webhooks", "sub": "user:" + userName, "client_id": clientID,
				"iat": now, "nbf": now, "exp": now + 600,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newAuthBridge(t, oauthConfig(clock), nil)
			got := b.tokenRequest(t, tt.form, [2]string{"Authorization", basicAuthz(clientID, clientSecret)})
			var tr tokenReply
			if err := json.Unmarshal(got.body, &tr); err != nil || got.status != http.StatusOK {
				t.Fatalf("token request: %d %s", got.status, got.body)
			}
			if diff := cmp.Diff(tt.wantHeader, jwtSegment(t, tr.AccessToken, 0)); diff != "" {
				t.Errorf("JOSE header (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantClaims, jwtSegment(t, tr.AccessToken, 1)); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAuthRevokedHolder shows that removing a client or a user from the
// configuration revokes the tokens already issued to it: a server with the
// same signing keys but without the holder refuses them.
func TestAuthRevokedHolder(t *testing.T) {
	clock := newAuthClock()
	issuer := newAuthBridge(t, oauthConfig(clock), nil)
	issue := func(form string) string {
		t.Helper()
		got := issuer.tokenRequest(t, form, [2]string{"Authorization", basicAuthz(clientID, clientSecret)})
		var tr tokenReply
		if err := json.Unmarshal(got.body, &tr); err != nil || got.status != http.StatusOK {
			t.Fatalf("token request: %d %s", got.status, got.body)
		}
		return tr.AccessToken
	}
	clientTok := issue("grant_type=client_credentials")
	userTok := issue(url.Values{"grant_type": {"password"}, "username": {userName}, "password": {userPassword}}.Encode())

	withoutClient := oauthConfig(clock)
	delete(withoutClient.Clients, clientID)
	withoutUser := oauthConfig(clock)
	delete(withoutUser.Users, userName)
	otherClientOnly := oauthConfig(clock)
	otherClientOnly.Clients = map[string]string{otherClientID: otherSecret}
	otherClientOnly.Users = nil

	tests := []struct {
		name   string
		server bridge.AuthConfig
		tok    string
		want   int
		reason string
	}{
		{name: "client token, client still configured", server: oauthConfig(clock), tok: clientTok, want: 202},
		{name: "client token, client removed", server: withoutClient, tok: clientTok, want: 401, reason: "revoked_token"},
		{name: "client token, user removed", server: withoutUser, tok: clientTok, want: 202},
		{name: "user token, client and user still configured", server: oauthConfig(clock), tok: userTok, want: 202},
		{name: "user token, user removed", server: withoutUser, tok: userTok, want: 401, reason: "revoked_token"},
		{name: "user token, its client removed", server: withoutClient, tok: userTok, want: 401, reason: "revoked_token"},
		{name: "user token, only another client left", server: otherClientOnly, tok: userTok, want: 401, reason: "revoked_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newAuthBridge(t, tt.server, nil)
			got := b.deliver(t, authSample, bearerAuthz(tt.tok))
			if got.status != tt.want {
				t.Fatalf("status = %d, want %d; body %s", got.status, tt.want, got.body)
			}
			wantTopics, wantFailures := []string{"appdirect.subscription"}, map[string]float64{}
			if tt.want != http.StatusAccepted {
				wantTopics = []string{}
				wantFailures[tt.reason] = 1
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

// TestAuthBearerClaimChecks signs tokens with a configured key, so only the
// claim checks can refuse them.
func TestAuthBearerClaimChecks(t *testing.T) {
	clock := newAuthClock()
	now := clock.Now()
	// claims are those of a token just issued to clientID; edit changes them.
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": "webhook-bridge", "aud": "webhook-bridge/webhooks", "sub": "client:" + clientID, "client_id": clientID,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	hs256, kid := jwt.SigningMethodHS256, keyID(keyOld)
	tests := []struct {
		name   string
		tok    string
		want   int
		reason string
	}{
		{name: "as issued", tok: signToken(t, hs256, keyOld, kid, claims(nil)), want: 202},
		{
			name: "issued before client_id existed",
			tok:  signToken(t, hs256, keyOld, kid, claims(func(c jwt.MapClaims) { delete(c, "client_id"); delete(c, "nbf") })),
			want: 202,
		},
		{
			// It names no client that could be checked.
			name: "user token issued before client_id existed",
			tok:  signToken(t, hs256, keyOld, kid, claims(func(c jwt.MapClaims) { delete(c, "client_id"); c["sub"] = "user:" + userName })),
			want: 401, reason: "revoked_token",
		},
		{
			name: "aud as a list", tok: signToken(t, hs256, keyOld, kid, claims(func(c jwt.MapClaims) { c["aud"] = []string{"webhook-bridge/webhooks"} })),
			want: 401, reason: "malformed_token",
		},
		{
			name: "issued by a replica 20 s ahead", want: 202,
			tok: signToken(t, hs256, keyOld, kid, claims(func(c jwt.MapClaims) {
				c["iat"], c["nbf"] = now.Add(20*time.Second).Unix(), now.Add(20*time.Second).Unix()
			})),
		},
		{
			name: "issued 2 min in the future", want: 401, reason: "premature_token",
			tok: signToken(t, hs256, keyOld, kid, claims(func(c jwt.MapClaims) { c["iat"] = now.Add(2 * time.Minute).Unix() })),
		},
		{
			name: "not valid for 2 min", want: 401, reason: "premature_token",
			tok: signToken(t, hs256, keyOld, kid, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * time.Minute).Unix() })),
		},
		{
			name: "expired 1 s ago, within the leeway", want: 401, reason: "expired_token",
			tok: signToken(t, hs256, keyOld, kid, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Second).Unix() })),
		},
		{
			name: "expired 1 min ago", want: 401, reason: "expired_token",
			tok: signToken(t, hs256, keyOld, kid, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })),
		},
		{
			name: "no exp", want: 401, reason: "malformed_token",
			tok: signToken(t, hs256, keyOld, kid, claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		},
		{
			name: "another issuer", want: 401, reason: "wrong_audience",
			tok: signToken(t, hs256, keyOld, kid, claims(func(c jwt.MapClaims) { c["iss"] = "someone-else" })),
		},
		{
			name: "another audience", want: 401, reason: "wrong_audience",
			tok: signToken(t, hs256, keyOld, kid, claims(func(c jwt.MapClaims) { c["aud"] = "webhook-bridge/admin" })),
		},
		{
			name: "no audience", want: 401, reason: "malformed_token",
			tok: signToken(t, hs256, keyOld, kid, claims(func(c jwt.MapClaims) { delete(c, "aud") })),
		},
		{
			name: "HS384 with a configured key", want: 401, reason: "malformed_token",
			tok: signToken(t, jwt.SigningMethodHS384, keyOld, kid, claims(nil)),
		},
		{
			name: "kid of the other configured key", want: 401, reason: "bad_signature",
			tok: signToken(t, hs256, keyOld, keyID(keyNew), claims(nil)),
		},
		{
			name: "no kid", want: 401, reason: "bad_signature",
			tok: signToken(t, hs256, keyOld, "", claims(nil)),
		},
		{
			name: "unknown subject kind", want: 401, reason: "revoked_token",
			tok: signToken(t, hs256, keyOld, kid, claims(func(c jwt.MapClaims) { c["sub"] = "admin:" + clientID })),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newAuthBridge(t, oauthConfig(clock), nil)
			got := b.deliver(t, authSample, bearerAuthz(tt.tok))
			if got.status != tt.want {
				t.Fatalf("status = %d, want %d; body %s", got.status, tt.want, got.body)
			}
			wantFailures := map[string]float64{}
			if tt.want != http.StatusAccepted {
				wantFailures[tt.reason] = 1
			}
			if diff := cmp.Diff(wantFailures, b.authFailures(t)); diff != "" {
				t.Errorf("webhook_bridge_auth_failures_total (-want +got):\n%s", diff)
			}
			if tt.want == http.StatusAccepted {
				return
			}
			logs := b.log.String()
			for _, s := range []string{tt.tok, tt.tok[strings.LastIndexByte(tt.tok, '.')+1:], keyOld, keyNew} {
				if strings.Contains(logs, s) {
					t.Errorf("the log holds the token or a key:\n%s", logs)
				}
			}
		})
	}
}
