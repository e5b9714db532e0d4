package bridge

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// Kind sorts errors into the few outcomes the HTTP edge distinguishes.
type Kind int

// The kinds of error, each with one HTTP status.
const (
	KindInternal     Kind = iota // 500
	KindInvalid                  // 400: not JSON, not an envelope
	KindUnauthorized             // 401: no or wrong credentials
	KindTooLarge                 // 413: body over the limit
	KindUnroutable               // 422: a valid envelope the catalog cannot route
	KindUnavailable              // 503: Kafka did not acknowledge; retry later
	KindThrottled                // 429: too many failed authentications
	KindTimeout                  // 408: the body did not arrive in time
)

var kindStatus = map[Kind]int{
	KindInternal:     http.StatusInternalServerError,
	KindInvalid:      http.StatusBadRequest,
	KindUnauthorized: http.StatusUnauthorized,
	KindTooLarge:     http.StatusRequestEntityTooLarge,
	KindUnroutable:   http.StatusUnprocessableEntity,
	KindUnavailable:  http.StatusServiceUnavailable,
	KindThrottled:    http.StatusTooManyRequests,
	KindTimeout:      http.StatusRequestTimeout,
}

// Error is an error with a Kind, a short machine-readable Code and a message
// that is safe to show the sender.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Err     error // the cause, logged but never sent
	// RetryAfter, when set, is the Retry-After of a 429 or 503 (else the
	// server's).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	EventID   string `json:"event_id,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// httpError turns any error a handler returned into a status and a body. It
// is the only place that writes error responses.
func (s *Server) httpError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := http.StatusInternalServerError, errorBody{Error: "internal", Message: "internal error"}
	var e *Error
	var he *echo.HTTPError
	var oe *oauthError
	switch {
	case errors.As(err, &oe):
		// The token endpoint answers in RFC 6749's format.
		infoOf(c).status, infoOf(c).err, infoOf(c).code = oe.status, err, oe.code
		if oe.code == "invalid_client" {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="webhook-bridge"`)
		}
		_ = c.JSON(oe.status, map[string]string{"error": oe.code, "error_description": oe.desc})
		return
	case errors.As(err, &e):
		status, body.Error, body.Message = kindStatus[e.Kind], e.Code, e.Message
		if e.Kind == KindUnavailable || e.Kind == KindThrottled {
			after := s.opts.RetryAfter
			if e.RetryAfter > 0 {
				after = e.RetryAfter
			}
			c.Response().Header().Set("Retry-After", strconv.Itoa(int((max(after, time.Second)+time.Second-1)/time.Second)))
		}
		if e.Kind == KindUnauthorized && s.opts.Auth != nil {
			if ch := s.opts.Auth.Challenge(e.Err); ch != "" {
				c.Response().Header().Set("WWW-Authenticate", ch)
			}
		}
	case errors.As(err, &he):
		status = he.Code
		body.Error = httpCode(he.Code)
		body.Message = http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			body.Message = m
		}
	}
	info := infoOf(c)
	info.status, info.err, info.code = status, err, body.Error
	body.EventID = info.eventID
	body.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, body)
}

func httpCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	default:
		if status >= 500 {
			return "internal"
		}
		return "error"
	}
}
