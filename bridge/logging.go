package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
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
	requestID                                   string
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
// request, and buffers a handler may reuse once the request is answered.
// It is pooled, like echo's own contexts.
type reqContext struct {
	echo.Context
	info reqInfo
	// recs holds what one delivery publishes (Publish does not keep the
	// slice past its return; the records' bytes are not pooled).
	recs [2]topics.Record
	// out is the 202 body, copied into the connection's buffer when written.
	out [160]byte
	// body is a buffer an earlier request read its body into (see keepBody).
	body []byte
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
	n := copy(b[:], idPrefix)
	b[n] = '-'
	n++
	// The digits by hand: strconv.AppendUint would move b to the heap.
	var d [20]byte
	i := len(d)
	for v := idCounter.Add(1); ; v /= 10 {
		i--
		d[i] = byte('0' + v%10)
		if v < 10 {
			break
		}
	}
	n += copy(b[n:], d[i:])
	return string(b[:n])
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

// requestLog sets the request id, counts and times the request, and writes
// its log line once it is answered, as Options.LogRequests says. It also
// turns a panic in the handler into a 500 (see recovering).
//
// The request id goes into the log line and the error body, not into a
// child logger on the request's context: nothing below the handlers logs
// per request (an error is logged once, here), and a logger per request
// would cost four allocations and a 500-byte buffer each time.
func (s *Server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		rid := req.Header.Get(echo.HeaderXRequestID)
		if !validRequestID(rid) {
			rid = newRequestID()
		}
		h := c.Response().Header()
		h[echo.HeaderXRequestID] = []string{rid}
		// net/http would format the time for every response.
		h["Date"] = s.date.of(start)
		rc := reqContexts.Get().(*reqContext)
		rc.Context = c
		defer func() {
			// body stays: the next request reads into it.
			rc.Context, rc.info, rc.recs = nil, reqInfo{}, [2]topics.Record{}
			reqContexts.Put(rc)
		}()
		info := &rc.info
		info.requestID = rid
		info.client, info.viaProxy = s.client(req)
		// The gauge counts the webhook port's requests: not the scrape that
		// reads it, nor probes.
		counted := c.Echo() == s.e
		if counted {
			s.metrics.inFlight.Inc()
		}
		err := s.recovering(next, rc)
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
		if status < 400 && !s.logSuccess() {
			return nil
		}
		ev := s.log.Info()
		switch {
		case status >= 500:
			ev = s.log.Error()
		case status == http.StatusUnauthorized || status == http.StatusTooManyRequests:
			// A flood of guesses must not flood the log: these lines are
			// sampled (the metrics count every one).
			ev = s.failLog.Warn()
		case status >= 400:
			ev = s.log.Warn()
		}
		if ev == nil {
			return nil
		}
		ev = ev.Str("request_id", rid).Str("method", clip(req.Method)).Str("path", clip(req.URL.Path)).Int("status", status).
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

// logSuccess reports whether the line of a request answered below 400 is
// written, as Options.LogRequests says. Lines of 4xx and 5xx always are.
func (s *Server) logSuccess() bool {
	switch s.opts.LogRequests.Mode {
	case LogErrors:
		return false
	case LogSample:
		return s.logSeq.Add(1)%uint64(s.opts.LogRequests.N) == 1%uint64(s.opts.LogRequests.N)
	}
	return true
}

// recovering calls next, turning a panic into a 500 with a JSON body, an
// error log line with the stack, and a count; the process keeps serving.
func (s *Server) recovering(next echo.HandlerFunc, c echo.Context) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler {
			panic(r) // net/http's way to abort a response
		}
		s.metrics.panics.Inc()
		s.log.Error().Str("request_id", infoOf(c).requestID).Str("panic", fmt.Sprint(r)).
			Str("stack", string(debug.Stack())).Msg("handler panicked")
		err = &Error{Kind: KindInternal, Code: "internal", Message: "internal error"}
	}()
	return next(c)
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

// RequestLogMode says which requests get a log line.
type RequestLogMode int

// The request log's modes. Lines of requests answered 4xx or 5xx are
// written in every mode.
const (
	// LogAll writes a line for every request (the zero value).
	LogAll RequestLogMode = iota
	// LogErrors writes lines for requests answered 4xx or 5xx only.
	LogErrors
	// LogSample writes lines for 4xx and 5xx, and for one in N of the
	// others.
	LogSample
)

// RequestLog is which requests get a log line: see RequestLogMode. Probes
// and scrapes of the admin port are logged only when they fail, in every
// mode; and 401 and 429 lines are sampled against floods (the metrics count
// every one).
type RequestLog struct {
	Mode RequestLogMode
	// N is LogSample's one in N, at least 1.
	N int
}

// ParseRequestLog reads "all", "errors" or "sample:N" (N ≥ 1).
func ParseRequestLog(s string) (RequestLog, error) {
	switch s {
	case "all":
		return RequestLog{Mode: LogAll}, nil
	case "errors":
		return RequestLog{Mode: LogErrors}, nil
	}
	if n, ok := strings.CutPrefix(s, "sample:"); ok {
		if v, err := strconv.Atoi(n); err == nil && v >= 1 {
			return RequestLog{Mode: LogSample, N: v}, nil
		}
	}
	return RequestLog{}, fmt.Errorf("%s is not all, errors or sample:N with N a whole number of at least 1", topics.Quote(s))
}

func (r RequestLog) String() string {
	switch r.Mode {
	case LogErrors:
		return "errors"
	case LogSample:
		return "sample:" + strconv.Itoa(r.N)
	}
	return "all"
}

// dateHeader is the Date header of the current second, formatted once per
// second and shared: net/http only reads a header's values.
type dateHeader struct {
	v atomic.Pointer[dateValue]
}

type dateValue struct {
	sec int64
	val []string
}

func (d *dateHeader) of(now time.Time) []string {
	sec := now.Unix()
	if v := d.v.Load(); v != nil && v.sec == sec {
		return v.val
	}
	v := &dateValue{sec: sec, val: []string{now.UTC().Format(http.TimeFormat)}}
	d.v.Store(v)
	return v.val
}
