package bridge

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// routes lists the whole HTTP API. The webhook port serves what the
// marketplace calls and nothing else; probes, metrics and schemas are on the
// admin port, which is not exposed to the internet.
func (s *Server) routes() {
	// echo applies middleware for every request, one allocation each:
	// requestLog (which also recovers panics) is the only one, and the
	// webhook route's authentication is composed once, here.
	s.e.Use(s.requestLog)
	s.e.POST("/webhooks", s.authenticate(s.handleWebhook()))
	if a, ok := s.opts.Auth.(*Auth); ok && a != nil && a.oauth {
		s.e.POST("/oauth/token", a.handleToken(s))
	}
	s.admin.Use(s.requestLog)
	s.admin.GET("/healthz", handleHealthz)
	s.admin.GET("/readyz", s.handleReadyz)
	s.admin.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
}

func handleHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 while this instance can serve. Kafka's state is
// shown but does not decide: during a Kafka outage the bridge itself
// answers webhooks 503 with Retry-After.
func (s *Server) handleReadyz(c echo.Context) error {
	body := map[string]string{"status": "ready"}
	if s.opts.Kafka != nil {
		body["kafka"] = "ok"
		if err := s.opts.Kafka(); err != nil {
			body["kafka"] = err.Error()
		}
	}
	if err := s.readiness(); err != nil {
		body["status"], body["reason"] = "not ready", err.Error()
		return c.JSON(http.StatusServiceUnavailable, body)
	}
	return c.JSON(http.StatusOK, body)
}

// authenticate runs the Authenticator before anything reads the body: an
// unauthenticated delivery is written nowhere.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.opts.Auth == nil {
			trustConn(c.Request())
			return next(c)
		}
		addr, now := infoOf(c).client, time.Now()
		if d := s.throttle.wait(addr, now); d > 0 {
			s.metrics.throttled.Inc()
			infoOf(c).authReason = "throttled"
			return &Error{Kind: KindThrottled, Code: "too_many_failures", RetryAfter: d,
				Message: "too many failed authentications from this address; retry later"}
		}
		if err := s.opts.Auth.Authenticate(c.Request()); err != nil {
			s.throttle.failed(addr, now)
			reason := authReason(err)
			s.metrics.authFailures.WithLabelValues(reason).Inc()
			infoOf(c).authReason = reason
			return &Error{Kind: KindUnauthorized, Code: "unauthorized", Message: "missing or invalid credentials", Err: err}
		}
		trustConn(c.Request())
		return next(c)
	}
}
