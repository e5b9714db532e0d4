package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// accepted is the body of a 202.
type accepted struct {
	Status  string `json:"status"`
	EventID string `json:"event_id"`
	Topic   string `json:"topic"`
	Key     string `json:"key"`
}

// appendJSON appends a's JSON as echo's c.JSON would, without its
// reflection and allocations.
func (a accepted) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"status":`...)
	dst = topics.AppendJSONString(dst, a.Status)
	dst = append(dst, `,"event_id":`...)
	dst = topics.AppendJSONString(dst, a.EventID)
	dst = append(dst, `,"topic":`...)
	dst = topics.AppendJSONString(dst, a.Topic)
	dst = append(dst, `,"key":`...)
	dst = topics.AppendJSONString(dst, a.Key)
	return append(dst, "}\n"...)
}

// handleWebhook takes one marketplace notification: it reads the body within
// the limit, parses and routes it, and answers 202 only after Kafka
// acknowledged the record. What cannot be routed is quarantined first.
func (s *Server) handleWebhook() echo.HandlerFunc {
	return func(c echo.Context) error {
		info := infoOf(c)
		// Bound the requests (and so the bodies) held at once: when Kafka is
		// slow or away, refuse at once rather than queue without limit.
		if n := s.inFlight.Add(1); n > int64(s.opts.MaxInFlight) {
			s.inFlight.Add(-1)
			s.metrics.overloaded.Inc()
			return &Error{Kind: KindUnavailable, Code: "overloaded",
				Message: fmt.Sprintf("more than %d requests in flight; retry later", s.opts.MaxInFlight)}
		}
		defer s.inFlight.Add(-1)
		// One deadline from arrival bounds the whole request: reading the
		// body, waiting for an earlier delivery of this event, publishing
		// or quarantining. During an outage, redeliveries arriving together
		// must not each wait out a publish timeout behind the one before.
		deadline := time.Now().Add(s.opts.PublishTimeout)
		ctx, cancel := context.WithDeadline(c.Request().Context(), deadline)
		defer cancel()
		setReadDeadline(c.Response().Writer, deadline)
		var budget bodyBudget
		defer func() { s.bodyBytes.Add(-budget.held) }()
		body, err := s.readBody(c, &budget)
		if err != nil {
			return err
		}
		// The body's buffer is reused once the request is answered, unless
		// it became a record's value (quarantined): Kafka may still be
		// sending it.
		kept := false
		defer func() {
			if !kept {
				keepBody(c, body)
			}
		}()
		ev, err := topics.NormalizeTraced(body, s.opts.Naming, s.companyIndex(), s.traceContext(c))
		if topics.ValidEventID(ev.Envelope.ID) {
			info.eventID = ev.Envelope.ID
		}
		if ev.Resource != nil {
			info.resource = ev.Resource.Name
		}
		info.action = string(ev.Action)
		if err != nil {
			var e *topics.Error
			if !errors.As(err, &e) {
				return err
			}
			kind := KindInvalid
			if e.Kind == topics.KindUnroutable {
				kind = KindUnroutable
			}
			kept = true
			return s.quarantine(ctx, c, body, kind, e.Code, e.Detail)
		}
		recs := records(c, &ev)
		if err := CheckRecordSize(recs, s.opts.MaxRecordBytes); err != nil {
			// Kafka would refuse it on every retry: keep the body instead.
			var e *topics.Error
			if !errors.As(err, &e) {
				return err
			}
			kept = true
			return s.quarantine(ctx, c, body, KindUnroutable, e.Code, e.Detail)
		}
		env, rec := &ev.Envelope, ev.Record
		acked := false // set once Kafka acknowledged; read by the dedup
		if s.dedup != nil {
			dup, err := s.dedup.begin(ctx, env.ID)
			if err != nil {
				return &Error{Kind: KindUnavailable, Code: "kafka_unavailable", Message: "an earlier delivery of this event was still waiting for Kafka; nothing was accepted, retry later", Err: err}
			}
			if dup {
				s.metrics.duplicates.Inc()
				info.duplicate = true
				return c.JSON(http.StatusAccepted, accepted{Status: "duplicate", EventID: env.ID, Topic: rec.Topic})
			}
			defer func() { s.dedup.end(env.ID, acked) }()
		}
		info.companyID, info.topic = ev.Key.CompanyID, rec.Topic
		if err := s.publish(ctx, info, recs...); err != nil {
			return err
		}
		if s.opts.Index != nil && ev.IndexUpdate.Topic != "" {
			s.opts.Index.Learn(ev.IndexUpdate)
		}
		acked = true
		a := accepted{Status: "accepted", EventID: env.ID, Topic: rec.Topic, Key: ev.Key.Value}
		return writeJSON(c, http.StatusAccepted, a.appendJSON(outBuffer(c)))
	}
}

// records is what one delivery publishes (see topics.Routed.Records), in
// the request's pooled context when it has one.
func records(c echo.Context, ev *topics.Routed) []topics.Record {
	rc, ok := c.(*reqContext)
	if !ok {
		return ev.Records()
	}
	rc.recs[0], rc.recs[1] = ev.Record, ev.IndexUpdate
	if ev.IndexUpdate.Topic == "" {
		return rc.recs[:1]
	}
	return rc.recs[:2]
}

// outBuffer is an empty buffer for a response body, in the request's pooled
// context when it has one.
func outBuffer(c echo.Context) []byte {
	if rc, ok := c.(*reqContext); ok {
		return rc.out[:0]
	}
	return make([]byte, 0, 128)
}

// jsonContentType is the Content-Type of JSON answers, shared: net/http
// only reads a header's values.
var jsonContentType = []string{echo.MIMEApplicationJSON}

// writeJSON answers status with a JSON body, as c.JSONBlob would, without
// allocating the header value.
func writeJSON(c echo.Context, status int, body []byte) error {
	c.Response().Header()[echo.HeaderContentType] = jsonContentType
	return c.JSONBlob(status, body)
}

// setReadDeadline bounds the reading of the body, as
// http.NewResponseController(w).SetReadDeadline does, without allocating
// the controller.
func setReadDeadline(w http.ResponseWriter, t time.Time) {
	for {
		switch x := w.(type) {
		case interface{ SetReadDeadline(time.Time) error }:
			_ = x.SetReadDeadline(t)
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return
		}
	}
}

// quarantine keeps an authenticated body that cannot be routed, then returns
// the error the sender sees. If the quarantine itself cannot be written the
// answer is 503, so the marketplace retries and nothing is lost.
func (s *Server) quarantine(ctx context.Context, c echo.Context, body []byte, kind Kind, code, detail string) error {
	info := infoOf(c)
	rec := topics.QuarantineRecord(s.opts.Naming, body, code, detail, info.eventID, c.Request().Header.Get("Content-Type"))
	rec.Headers = s.traceContext(c).AppendHeaders(rec.Headers)
	info.topic = rec.Topic
	if err := s.publish(ctx, info, rec); err != nil {
		return err
	}
	s.metrics.quarantined.WithLabelValues(code).Inc()
	return &Error{Kind: kind, Code: code, Message: detail + "; the body was kept in the quarantine topic"}
}

// publish writes recs (an event and its index update, or a quarantined
// body) before ctx's deadline and turns failure into a 503 that names the
// cause (also in info, for the log line; info may be nil). Every
// acknowledged record counts under its topic; a failure under the first
// record's.
func (s *Server) publish(ctx context.Context, info *reqInfo, recs ...topics.Record) error {
	start := time.Now()
	err := s.pub.Publish(ctx, recs...)
	if err == nil {
		s.metrics.publishOK.Observe(time.Since(start).Seconds())
		for _, r := range recs {
			s.metrics.publishedTo(r.Topic)
		}
		return nil
	}
	s.metrics.publishFailed.Observe(time.Since(start).Seconds())
	s.metrics.publishErrors.WithLabelValues(recs[0].Topic).Inc()
	reason := publishReason(err)
	if info != nil {
		info.reason = reason
	}
	return &Error{Kind: KindUnavailable, Code: "kafka_unavailable", Err: err,
		Message: "Kafka did not take the record: " + reason + "; nothing was accepted, retry later"}
}

// publishReason names why a publish failed, in a few words: the
// Publisher's own words when its error has a Reason method (see
// Publisher), else what the standard library can tell.
func publishReason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		if reason := r.Reason(); reason != "" {
			return reason
		}
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	return "error"
}

// CheckRecordSize returns a *topics.Error of code record_too_large when
// recs, the records of one event (see topics.Routed.Records), would be over
// limit bytes together, the record limit (Options.MaxRecordBytes), else nil.
// Kafka would refuse such records on every attempt: serve quarantines the
// body instead, and replay, which applies the same check, reports it
// rejected rather than retrying it for ever.
func CheckRecordSize(recs []topics.Record, limit int64) error {
	if size := recordsSize(recs); size > limit {
		return &topics.Error{Kind: topics.KindUnroutable, Code: topics.CodeRecordTooLarge, Detail: fmt.Sprintf(
			"the normalized record would be %d bytes, over the %d-byte limit (a very large resource.uuid or company list)", size, limit)}
	}
	return nil
}

// recordsSize is about the bytes recs take in a produce request, as the
// writer counts them.
func recordsSize(recs []topics.Record) int64 {
	var n int64
	for _, r := range recs {
		n += int64(32 + len(r.Key) + len(r.Value))
		for _, h := range r.Headers {
			n += int64(20 + len(h.Key) + len(h.Value))
		}
	}
	return n
}

// bodyBudget is a request's share of MaxInFlightBytes, the budget of bodies
// held at once: held bytes, taken as the body is read, to give back once it
// is no longer needed.
type bodyBudget struct {
	s    *Server
	held int64
}

// grow takes n more bytes, or refuses them with a 503 when that would put
// the bodies in flight over the budget.
func (b *bodyBudget) grow(n int64) error {
	if b.s.bodyBytes.Add(n) > b.s.opts.MaxInFlightBytes {
		b.s.bodyBytes.Add(-n)
		b.s.metrics.overloaded.Inc()
		return &Error{Kind: KindUnavailable, Code: "overloaded",
			Message: "the bodies of the requests in flight are over the memory budget; retry later"}
	}
	b.held += n
	return nil
}

// readBody reads the body within MaxBodyBytes, holding its bytes against
// MaxInFlightBytes in budget as they are read; the caller gives
// budget.held back once the body is no longer needed. It reads into the
// buffer the request's pooled context keeps from an earlier request, when
// there is one (see keepBody).
func (s *Server) readBody(c echo.Context, budget *bodyBudget) ([]byte, error) {
	budget.s = s
	var buf []byte
	if rc, ok := c.(*reqContext); ok {
		buf, rc.body = rc.body, nil
	}
	return readBodyWith(c.Request(), s.opts.MaxBodyBytes, buf, budget.grow)
}

// keepBody gives body's buffer to the request's pooled context, for a later
// request to read into: the caller must not use body afterwards, nor have
// handed it to anything that may (a quarantine record's value belongs to
// Kafka until acknowledged). Buffers over 64 KiB are left to the garbage
// collector.
func keepBody(c echo.Context, body []byte) {
	if rc, ok := c.(*reqContext); ok && cap(body) <= maxKeptBody && cap(body) > cap(rc.body) {
		rc.body = body[:0]
	}
}

const maxKeptBody = 64 << 10

// readBodyWith reads at most limit bytes into buf's room (buf may be nil). A
// declared Content-Length over the limit is refused before reading; a
// chunked body is cut off at the limit. grow is told of every byte the body
// may take before it is read into, and may refuse them: first the declared
// length (or 4 KiB), then, as a chunked body goes on, the buffer's room.
func readBodyWith(r *http.Request, limit int64, buf []byte, grow func(int64) error) ([]byte, error) {
	tooLarge := func() error { // built only when needed: Sprintf allocates
		return &Error{Kind: KindTooLarge, Code: "body_too_large", Message: fmt.Sprintf("body is larger than %d bytes", limit)}
	}
	if r.ContentLength > limit {
		return nil, tooLarge()
	}
	size := r.ContentLength
	if size < 0 {
		size = 4096
	}
	counted := size + 1
	if err := grow(counted); err != nil {
		return nil, err
	}
	if int64(cap(buf)) < counted {
		buf = make([]byte, 0, counted)
	}
	buf = buf[:0]
	lr := io.LimitedReader{R: r.Body, N: limit + 1}
	for {
		if int64(len(buf)) == counted {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			if err := grow(int64(cap(buf)) - counted); err != nil {
				return nil, err
			}
			counted = int64(cap(buf))
		}
		n, err := lr.Read(buf[len(buf):counted])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, tooLarge()
		}
		if err == io.EOF {
			return buf, nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The sender is slow, not wrong: a status it retries, not "bad input".
			return nil, &Error{Kind: KindTimeout, Code: "body_timeout", Message: "the request body did not arrive within the publish timeout; nothing was written", Err: err}
		}
		if err != nil {
			return nil, &Error{Kind: KindInvalid, Code: "body_unreadable", Message: "the request body could not be read; nothing was written", Err: err}
		}
	}
}

// companyIndex is the index as Normalize takes it: a nil interface when
// there is none.
func (s *Server) companyIndex() topics.CompanyIndex {
	if s.opts.Index == nil {
		return nil
	}
	return s.opts.Index
}
