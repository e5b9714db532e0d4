package bridge

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
	// TokenTTL is the lifetime of an access token; oauth2 needs it positive.
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
	parser       *jwt.Parser
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
		if a.ttl <= 0 {
			return nil, errors.New("auth mode oauth2 needs a positive token lifetime")
		}
		a.parser = newParser(a.now)
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

// Challenge is the WWW-Authenticate value of the 401 that err caused: with
// OAuth2 on, a Bearer challenge (RFC 6750, section 3). When a Bearer token
// was presented and refused it says error="invalid_token", the code OAuth2
// clients take as "get a new token"; when none was, it has no error code,
// as the RFC asks. The description says whether the token expired and
// nothing more about it.
func (a *Auth) Challenge(err error) string {
	if a == nil || !a.oauth {
		return ""
	}
	const challenge = `Bearer realm="webhook-bridge"`
	var af *AuthFailure
	if !errors.As(err, &af) {
		return challenge
	}
	switch af.Reason {
	case "expired_token":
		return challenge + `, error="invalid_token", error_description="the access token expired"`
	case "malformed_token", "bad_signature", "wrong_audience", "premature_token", "revoked_token":
		return challenge + `, error="invalid_token", error_description="the access token is not valid"`
	default: // no Bearer token presented (a webhook token may have been)
		return challenge
	}
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

const (
	tokenIssuer   = "webhook-bridge"
	tokenAudience = "webhook-bridge/webhooks"
	// maxBearerBytes bounds what is parsed at all; issued tokens are far
	// shorter.
	maxBearerBytes = 4096
	// tokenLeeway absorbs clock skew between replicas: a token stamped by a
	// replica whose clock runs a little ahead is not "issued in the future".
	tokenLeeway = 30 * time.Second
)

// accessClaims are the claims of an access token, a JWT signed with HS256
// whose header's kid names the signing key:
//
//	iss        tokenIssuer
//	aud        tokenAudience
//	sub        "client:<id>" (client_credentials) or "user:<name>" (password)
//	client_id  the client it was issued to, whatever the grant (RFC 9068)
//	iat, nbf   when it was issued
//	exp        iat + TokenTTL
type accessClaims struct {
	jwt.RegisteredClaims
	// Audience shadows RegisteredClaims.Audience, which encodes as a list:
	// replicas that predate jwt/v5 read aud as a string, and would refuse
	// every token issued here during a rolling upgrade.
	Audience string `json:"aud"`
	ClientID string `json:"client_id,omitempty"`
}

// GetAudience lets the validator check the shadowing Audience.
func (c accessClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{c.Audience}, nil
}

// issue signs an access token for client, and for user if the password grant
// gave one, with the first signing key; it expires a.ttl from now.
func (a *Auth) issue(client, user string) (string, error) {
	now := a.now()
	c := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   "client:" + client,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(a.ttl)),
		},
		Audience: tokenAudience,
		ClientID: client,
	}
	if user != "" {
		c.Subject = "user:" + user
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["kid"] = a.keys[0].id
	s, err := t.SignedString(a.keys[0].key)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return s, nil
}

// newParser pins what checkBearer accepts; the parser is safe for concurrent
// use.
func newParser(now func() time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(tokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(now),
	)
}

var errUnknownKey = errors.New("no signing key has this kid")

// verificationKey picks the configured key the token's kid names, so a token
// signed by any listed key verifies (rotation) and one by a key no longer
// listed does not.
func (a *Auth) verificationKey(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	i := slices.IndexFunc(a.keys, func(k signingKey) bool { return k.id == kid })
	if i < 0 {
		return nil, errUnknownKey
	}
	return a.keys[i].key, nil
}

// checkBearer verifies an "Authorization: Bearer" access token: signature by
// the key its kid names, issuer, audience, times, and that its client and
// user are still configured.
func (a *Auth) checkBearer(authz string) error {
	scheme, tok, found := strings.Cut(authz, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return &AuthFailure{Reason: "missing_bearer"}
	}
	if len(tok) > maxBearerBytes {
		return &AuthFailure{Reason: "malformed_token"}
	}
	var c accessClaims
	t, err := a.parser.ParseWithClaims(strings.TrimSpace(tok), &c, a.verificationKey)
	if err != nil {
		return &AuthFailure{Reason: bearerReason(t, err)}
	}
	// The leeway is for skew in iat and nbf only. exp stays exact, as
	// before: expires_in tells the client how long the token lasts by this
	// same clock, and it lasts exactly that long.
	if !a.now().Before(c.ExpiresAt.Time) {
		return &AuthFailure{Reason: "expired_token"}
	}
	if !a.holderConfigured(&c) {
		return &AuthFailure{Reason: "revoked_token"}
	}
	return nil
}

// bearerReason sorts a jwt error into the reasons checkBearer has always
// reported. The reason, not err, is what is logged: jwt errors can quote
// parts of the token.
func bearerReason(t *jwt.Token, err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && t != nil && t.Method != nil && t.Method.Alg() != jwt.SigningMethodHS256.Alg():
		return "malformed_token" // an alg we never sign with, "none" among them
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, errUnknownKey):
		return "bad_signature"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong_audience"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired_token"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "premature_token"
	default: // undecodable, unknown alg, a required claim missing
		return "malformed_token"
	}
}

// holderConfigured reports whether the token's client, and for the password
// grant its user, are still configured: removing either from the
// configuration revokes the tokens issued to it, without waiting for exp.
func (a *Auth) holderConfigured(c *accessClaims) bool {
	client := c.ClientID
	switch kind, name, _ := strings.Cut(c.Subject, ":"); kind {
	case "client":
		if client == "" {
			client = name // issued before client_id was added
		}
	case "user":
		if _, ok := a.users[name]; !ok {
			return false
		}
	default:
		return false
	}
	_, ok := a.clients[client]
	return client != "" && ok
}
