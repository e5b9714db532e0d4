package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// reqInfo collects what a request log line reports; handlers fill it in.
type reqInfo struct {
	eventID, resource, action, companyID, topic string
	authReason                                  string
	reason                                      string // why Kafka did not take the records (a 503)
	client                                      string // the client's IP (see Server.client)
	viaProxy                                    bool   // client was read from X-Forwarded-For
	duplicate                                   bool   // a redelivery answered from the dedup cache
	traceID                                     string // the W3C trace id of the request, when it has one
	status                                      int
	code                                        string
	err                                         error
}

const infoKey = "bridge.info"

// reqContext is the echo.Context that requestLog hands down the chain: it
// carries the request's reqInfo, where c.Set would allocate a map for every
// request. It is pooled, like echo's own contexts.
type reqContext struct {
	echo.Context
	info reqInfo
}

var reqContexts = sync.Pool{New: func() any { return new(reqContext) }}

func infoOf(c echo.Context) *reqInfo {
	if rc, ok := c.(*reqContext); ok {
		return &rc.info
	}
	if i, ok := c.Get(infoKey).(*reqInfo); ok {
		return i
	}
	i := &reqInfo{}
	c.Set(infoKey, i)
	return i
}

// requestIDs makes request ids unique per process and cheap: a random
// prefix fixed at start and a counter.
var (
	idPrefix = func() string {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}()
	idCounter atomic.Uint64
)

func newRequestID() string {
	var b [48]byte
	id := append(append(b[:0], idPrefix...), '-')
	return string(strconv.AppendUint(id, idCounter.Add(1), 10))
}

// validRequestID accepts a caller's X-Request-Id only when it is short and
// printable, so it cannot forge log lines.
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// requestLog sets the request id, attaches a child logger to the request
// context, and writes one log line per request once it is answered.
func (s *Server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		rid := req.Header.Get(echo.HeaderXRequestID)
		if !validRequestID(rid) {
			rid = newRequestID()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, rid)
		l := s.log.With().Str("request_id", rid).Logger()
		c.SetRequest(req.WithContext(l.WithContext(req.Context())))
		rc := reqContexts.Get().(*reqContext)
		rc.Context = c
		defer func() {
			*rc = reqContext{}
			reqContexts.Put(rc)
		}()
		info := &rc.info
		info.client, info.viaProxy = s.client(req)
		// The gauge counts the webhook port's requests: not the scrape that
		// reads it, nor probes.
		counted := c.Echo() == s.e
		if counted {
			s.metrics.inFlight.Inc()
		}
		err := next(rc)
		if err != nil {
			// The error handler writes the response and fills info; c.Error
			// would hand it the inner context, without info.
			s.httpError(err, rc)
		}
		if counted {
			s.metrics.inFlight.Dec()
		}
		status := c.Response().Status
		latency := time.Since(start)
		path := c.Path()
		if path == "" {
			path = "unmatched"
		}
		s.metrics.observe(path, info, status, latency)
		if path == "/metrics" || path == "/healthz" || path == "/readyz" {
			if status < 500 || path == "/metrics" {
				return nil // probes and scrapes would drown the log
			}
		}
		ev := l.Info()
		switch {
		case status >= 500:
			ev = l.Error()
		case status == http.StatusUnauthorized || status == http.StatusTooManyRequests:
			// A flood of guesses must not flood the log: these lines are
			// sampled (the metrics count every one).
			ev = s.failLog.Warn().Str("request_id", rid)
		case status >= 400:
			ev = l.Warn()
		}
		ev = ev.Str("method", clip(req.Method)).Str("path", clip(req.URL.Path)).Int("status", status).
			Float64("latency_ms", float64(latency.Microseconds())/1000)
		if info.viaProxy {
			ev = ev.Str("remote", info.client).Str("proxy", req.RemoteAddr)
		} else {
			ev = ev.Str("remote", req.RemoteAddr)
		}
		addStr(ev, "event_id", info.eventID)
		addStr(ev, "resource", info.resource)
		addStr(ev, "action", info.action)
		addStr(ev, "company_id", info.companyID)
		addStr(ev, "topic", info.topic)
		addStr(ev, "error", info.code)
		addStr(ev, "auth_reason", info.authReason)
		addStr(ev, "reason", info.reason)
		addStr(ev, "trace_id", info.traceID)
		if info.duplicate {
			ev = ev.Bool("duplicate", true)
		}
		if info.err != nil {
			ev = ev.AnErr("cause", info.err)
		}
		ev.Msg("request")
		return nil
	}
}

// addStr adds a field when it has a value, clipped: a log field quotes at
// most topics.MaxQuotedInput bytes of any input.
func addStr(ev *zerolog.Event, k, v string) {
	if v != "" {
		ev.Str(k, clip(v))
	}
}

// clip cuts s to at most topics.MaxQuotedInput bytes, at a rune boundary,
// marking the cut.
func clip(s string) string {
	if len(s) <= topics.MaxQuotedInput {
		return s
	}
	cut := topics.MaxQuotedInput
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
