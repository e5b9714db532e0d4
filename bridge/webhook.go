package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
		body, err := readBody(c.Request(), s.opts.MaxBodyBytes)
		if err != nil {
			return err
		}
		ev, err := Normalize(body, s.opts.Naming, s.opts.Index)
		if len(ev.Envelope.ID) <= 256 {
			info.eventID = ev.Envelope.ID
		}
		if ev.Resource != nil {
			info.resource = ev.Resource.Name
		}
		info.action = string(ev.Action)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				return err
			}
			return s.quarantine(c, body, e.Kind, e.Code, e.Message)
		}
		env, rec := &ev.Envelope, ev.Record
		acked := false // set once Kafka acknowledged; read by the dedup
		if s.dedup != nil {
			dup, done, err := s.dedup.begin(c.Request().Context(), env.ID)
			if err != nil {
				return &Error{Kind: KindUnavailable, Code: "cancelled", Message: "the request ended while an earlier delivery of this event was in flight", Err: err}
			}
			if dup {
				s.metrics.duplicates.Inc()
				return c.JSON(http.StatusAccepted, accepted{Status: "duplicate", EventID: env.ID, Topic: rec.Topic})
			}
			defer func() { done(acked) }()
		}
		info.companyID, info.topic = ev.Key.CompanyID, rec.Topic
		if err := s.publish(c.Request().Context(), rec); err != nil {
			return err
		}
		s.metrics.published.WithLabelValues(rec.Topic).Inc()
		acked = true
		return c.JSON(http.StatusAccepted, accepted{Status: "accepted", EventID: env.ID, Topic: rec.Topic, Key: ev.Key.Value})
	}
}

// quarantine keeps an authenticated body that cannot be routed, then returns
// the error the sender sees. If the quarantine itself cannot be written the
// answer is 503, so the marketplace retries and nothing is lost.
func (s *Server) quarantine(c echo.Context, body []byte, kind Kind, code, detail string) error {
	info := infoOf(c)
	rec := topics.QuarantineRecord(s.opts.Naming, body, code, detail, info.eventID)
	info.topic = rec.Topic
	if err := s.publish(c.Request().Context(), rec); err != nil {
		return err
	}
	s.metrics.quarantined.WithLabelValues(code).Inc()
	return &Error{Kind: kind, Code: code, Message: detail + "; the body was kept in the quarantine topic"}
}

// publish writes rec within PublishTimeout and turns failure into a 503.
func (s *Server) publish(ctx context.Context, rec topics.Record) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.PublishTimeout)
	defer cancel()
	start := time.Now()
	err := s.pub.Publish(ctx, rec)
	s.metrics.publishSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.publishErrors.WithLabelValues(rec.Topic).Inc()
		return &Error{Kind: KindUnavailable, Code: "kafka_unavailable",
			Message: "Kafka did not acknowledge the record in time; nothing was accepted, retry later", Err: err}
	}
	return nil
}

// readBody reads at most limit bytes. A declared Content-Length over the
// limit is refused before reading; a chunked body is cut off at the limit.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	tooLarge := &Error{Kind: KindTooLarge, Code: "body_too_large", Message: fmt.Sprintf("body is larger than %d bytes", limit)}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	size := r.ContentLength
	if size < 0 {
		size = 4096
	}
	buf := make([]byte, 0, size+1)
	lr := io.LimitReader(r.Body, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, tooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, &Error{Kind: KindInvalid, Code: "body_unreadable", Message: "the request body could not be read", Err: err}
		}
	}
}
