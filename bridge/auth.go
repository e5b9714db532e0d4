package bridge

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Auth modes, as given in AuthConfig.Modes.
const (
	ModeToken  = "token"  // the marketplace's static token header
	ModeOAuth2 = "oauth2" // a Bearer token issued by the bridge's /oauth/token
	ModeNone   = "none"   // no authentication (must be chosen explicitly)
)

// The headers that carry the marketplace's static token. Header names are
// case-insensitive; net/http canonicalises them.
const (
	HeaderWebhookToken       = "X-Appdirect-Webhook-Token"
	HeaderLegacyWebhookToken = "Appdirect-Webhook-Token"
)

// AuthConfig configures delivery authentication. Secrets in it are never
// logged or echoed.
type AuthConfig struct {
	// Modes are the accepted ways to authenticate; a delivery passing any one
	// of them is accepted. ModeNone alone turns authentication off.
	Modes []string
	// Tokens are accepted static tokens (several, to rotate without downtime).
	Tokens []string
	// Clients are OAuth2 client ids and their secrets.
	Clients map[string]string
	// Users are OAuth2 resource-owner usernames and passwords (password grant).
	Users map[string]string
	// SigningKeys sign access tokens: the first signs, all verify.
	SigningKeys []string
	// TokenTTL is the lifetime of an access token (default 1 h).
	TokenTTL time.Duration
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// MinSigningKeyBytes is the shortest accepted signing key (HMAC-SHA256).
const MinSigningKeyBytes = 32

// Auth authenticates deliveries by static token, OAuth2 Bearer token or
// both, and issues the Bearer tokens. It is safe for concurrent use.
type Auth struct {
	token, oauth bool
	tokens       [][]byte
	clients      map[string][]byte
	users        map[string][]byte
	keys         []signingKey
	ttl          time.Duration
	now          func() time.Time
}

type signingKey struct {
	id  string
	key []byte
}

// NewAuth checks cfg and builds an Auth. It returns nil, nil for ModeNone.
func NewAuth(cfg AuthConfig) (*Auth, error) {
	a := &Auth{ttl: cfg.TokenTTL, now: cfg.Now}
	if a.ttl <= 0 {
		a.ttl = time.Hour
	}
	if a.now == nil {
		a.now = time.Now
	}
	if len(cfg.Modes) == 0 {
		return nil, errors.New("no auth mode given")
	}
	for _, m := range cfg.Modes {
		switch m {
		case ModeToken:
			a.token = true
		case ModeOAuth2:
			a.oauth = true
		case ModeNone:
			if len(cfg.Modes) > 1 {
				return nil, errors.New("auth mode none cannot be combined with another mode")
			}
			return nil, nil
		default:
			return nil, fmt.Errorf("auth mode %q is not one of token, oauth2, none", m)
		}
	}
	if a.token {
		for _, t := range cfg.Tokens {
			if t = strings.TrimSpace(t); t != "" {
				a.tokens = append(a.tokens, []byte(t))
			}
		}
		if len(a.tokens) == 0 {
			return nil, errors.New("auth mode token needs at least one token")
		}
	}
	if a.oauth {
		if len(cfg.Clients) == 0 {
			return nil, errors.New("auth mode oauth2 needs at least one client")
		}
		a.clients, a.users = secretMap(cfg.Clients), secretMap(cfg.Users)
		for _, k := range cfg.SigningKeys {
			if len(k) < MinSigningKeyBytes {
				return nil, fmt.Errorf("an oauth2 signing key is shorter than %d bytes", MinSigningKeyBytes)
			}
			sum := sha256.Sum256([]byte(k))
			a.keys = append(a.keys, signingKey{id: hex.EncodeToString(sum[:4]), key: []byte(k)})
		}
		if len(a.keys) == 0 {
			return nil, errors.New("auth mode oauth2 needs at least one signing key")
		}
	}
	return a, nil
}

func secretMap(m map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out
}

// Authenticate accepts a delivery that passes any configured mode.
func (a *Auth) Authenticate(r *http.Request) error {
	if a == nil {
		return nil
	}
	var err error
	if a.token {
		if err = a.checkToken(r); err == nil {
			return nil
		}
	}
	if a.oauth {
		authz := r.Header.Get("Authorization")
		// With both modes on, report the Bearer failure only when a Bearer
		// token was presented.
		if authz != "" || !a.token {
			err = a.checkBearer(authz)
		}
	}
	return err
}

// Challenge is the WWW-Authenticate value of a 401.
func (a *Auth) Challenge() string {
	if a != nil && a.oauth {
		return `Bearer realm="webhook-bridge"`
	}
	return ""
}

func (a *Auth) checkToken(r *http.Request) error {
	got := r.Header.Get(HeaderWebhookToken)
	if got == "" {
		got = r.Header.Get(HeaderLegacyWebhookToken)
	}
	if got == "" {
		return &AuthFailure{Reason: "missing_token"}
	}
	if !matchAny([]byte(got), a.tokens) {
		return &AuthFailure{Reason: "invalid_token"}
	}
	return nil
}

// matchAny compares secret with every candidate in constant time, without
// stopping at the first match.
func matchAny(secret []byte, candidates [][]byte) bool {
	ok := 0
	for _, c := range candidates {
		ok |= subtle.ConstantTimeCompare(secret, c)
	}
	return ok == 1
}

// accessClaims are the claims of an access token (a JWT signed with HS256).
type accessClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
}

const (
	tokenIssuer   = "webhook-bridge"
	tokenAudience = "webhook-bridge/webhooks"
)

var b64 = base64.RawURLEncoding

// issue signs an access token for subject with the first signing key; it
// expires a.ttl from now.
func (a *Auth) issue(subject string) string {
	now := a.now()
	exp := now.Add(a.ttl)
	k := a.keys[0]
	header, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT", "kid": k.id})
	claims, _ := json.Marshal(accessClaims{Issuer: tokenIssuer, Subject: subject, Audience: tokenAudience, IssuedAt: now.Unix(), Expires: exp.Unix()})
	signing := b64.EncodeToString(header) + "." + b64.EncodeToString(claims)
	return signing + "." + b64.EncodeToString(sign(k.key, signing))
}

func sign(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// checkBearer verifies an "Authorization: Bearer" access token: signature by
// any configured key, issuer, audience and expiry.
func (a *Auth) checkBearer(authz string) error {
	scheme, tok, found := strings.Cut(authz, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return &AuthFailure{Reason: "missing_bearer"}
	}
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 || len(tok) > 4096 {
		return &AuthFailure{Reason: "malformed_token"}
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &header) != nil || header.Alg != "HS256" {
		return &AuthFailure{Reason: "malformed_token"}
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return &AuthFailure{Reason: "malformed_token"}
	}
	signing := parts[0] + "." + parts[1]
	i := slices.IndexFunc(a.keys, func(k signingKey) bool { return k.id == header.Kid })
	if i < 0 || !hmac.Equal(sig, sign(a.keys[i].key, signing)) {
		return &AuthFailure{Reason: "bad_signature"}
	}
	var c accessClaims
	cb, err := b64.DecodeString(parts[1])
	if err != nil || json.Unmarshal(cb, &c) != nil {
		return &AuthFailure{Reason: "malformed_token"}
	}
	if c.Issuer != tokenIssuer || c.Audience != tokenAudience {
		return &AuthFailure{Reason: "wrong_audience"}
	}
	if a.now().Unix() >= c.Expires {
		return &AuthFailure{Reason: "expired_token"}
	}
	return nil
}
