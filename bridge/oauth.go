package bridge

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/webhook-bridge/webhook-bridge/topics"
)

// oauthError is an RFC 6749 section 5.2 error of the token endpoint.
type oauthError struct {
	status int
	code   string // invalid_request, invalid_client, invalid_grant, unsupported_grant_type
	desc   string
}

func (e *oauthError) Error() string { return "oauth2 " + e.code + ": " + e.desc }

// tokenResponse is an RFC 6749 section 5.1 access token response.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// maxTokenRequestBytes bounds a token request body.
const maxTokenRequestBytes = 16 << 10

// tokenEndpoint is an Authenticator that may also issue tokens: the webhook
// port serves a non-nil tokenHandler as POST /oauth/token.
type tokenEndpoint interface {
	tokenHandler(s *Server) echo.HandlerFunc
}

// tokenHandler is POST /oauth/token when OAuth 2.0 is on, else nil.
func (a *Auth) tokenHandler(s *Server) echo.HandlerFunc {
	if a == nil || !a.oauth {
		return nil
	}
	return a.handleToken(s)
}

// handleToken is the OAuth2 token endpoint the marketplace calls before
// delivering with "Authorization: Bearer": grant types client_credentials
// (client id and secret by HTTP Basic or in the form) and password (the
// same, plus username and password).
func (a *Auth) handleToken(s *Server) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		c.Response().Header().Set("Cache-Control", "no-store")
		c.Response().Header().Set("Pragma", "no-cache")
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
			return &oauthError{http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded"}
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxTokenRequestBytes+1))
		if err != nil || len(body) > maxTokenRequestBytes {
			return &oauthError{http.StatusBadRequest, "invalid_request", "the body could not be read or is too large"}
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return &oauthError{http.StatusBadRequest, "invalid_request", "the body is not a valid form"}
		}
		for k, v := range form {
			if len(v) > 1 {
				return &oauthError{http.StatusBadRequest, "invalid_request", fmt.Sprintf("parameter %s is repeated", topics.Quote(k))}
			}
		}
		addr, now := infoOf(c).client, time.Now()
		if d := s.throttle.wait(addr, now); d > 0 {
			s.metrics.throttled.Inc()
			return &Error{Kind: KindThrottled, Code: "too_many_failures", RetryAfter: d,
				Message: "too many failed authentications from this address; retry later"}
		}
		client, err := a.clientOf(r, form)
		if err != nil {
			// Only failed client authentication counts; a malformed request
			// is not an authentication attempt.
			if code := err.(*oauthError).code; code == "invalid_client" {
				s.throttle.failed(addr, now)
				s.metrics.authFailures.WithLabelValues("token_" + code).Inc()
			}
			return err
		}
		var user string
		switch gt := form.Get("grant_type"); gt {
		case "client_credentials":
		case "password":
			pass := form.Get("password")
			user = form.Get("username")
			if user == "" || pass == "" {
				return &oauthError{http.StatusBadRequest, "invalid_request", "grant type password needs username and password"}
			}
			if !checkSecret(a.users, user, pass) {
				s.throttle.failed(addr, now)
				s.metrics.authFailures.WithLabelValues("token_invalid_grant").Inc()
				return &oauthError{http.StatusBadRequest, "invalid_grant", "the username or password is wrong"}
			}
		case "":
			return &oauthError{http.StatusBadRequest, "invalid_request", "grant_type is missing"}
		default:
			return &oauthError{http.StatusBadRequest, "unsupported_grant_type", "grant types are client_credentials and password"}
		}
		tok, err := a.issue(client, user)
		if err != nil {
			return err
		}
		trustConn(r)
		// expires_in is the TTL itself: the token's exp was computed from
		// the same clock (AuthConfig.Now) that checks it.
		return c.JSON(http.StatusOK, tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(a.ttl / time.Second)})
	}
}

// clientOf authenticates the OAuth2 client by HTTP Basic or form fields (not
// both, RFC 6749 section 2.3).
func (a *Auth) clientOf(r *http.Request, form url.Values) (string, error) {
	id, secret, basic := r.BasicAuth()
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Basic") {
		// A Basic header r.BasicAuth cannot read is still a method
		// presented: it must fail, not give way to the form's credentials.
		basic = true
	}
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	switch {
	case basic && formSecret != "":
		return "", &oauthError{http.StatusBadRequest, "invalid_request", "use one client authentication method, not both"}
	case !basic:
		id, secret = formID, formSecret
	}
	if id == "" || secret == "" {
		return "", &oauthError{http.StatusUnauthorized, "invalid_client", "client authentication is missing"}
	}
	ok := checkSecret(a.clients, id, secret)
	if basic {
		// RFC 6749 section 2.3.1 form-encodes both parts inside Basic, but
		// many clients send them as they are; a secret with "+" or "%"
		// (base64 secrets have "+") would then never match. Accept either
		// reading, checking both so timing does not tell which one matched.
		du, derr := url.QueryUnescape(id)
		dp, perr := url.QueryUnescape(secret)
		if derr == nil && perr == nil && checkSecret(a.clients, du, dp) {
			ok, id = true, du
		}
	}
	if !ok {
		return "", &oauthError{http.StatusUnauthorized, "invalid_client", "client authentication failed"}
	}
	return id, nil
}

// checkSecret compares in constant time, also for unknown names, so timing
// does not tell which names exist.
func checkSecret(m map[string][]byte, name, secret string) bool {
	want, ok := m[name]
	if !ok {
		want = []byte("\x00no-such-name-placeholder-secret\x00")
	}
	return matchAny([]byte(secret), [][]byte{want}) && ok
}
