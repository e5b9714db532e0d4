package bridge

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// routes lists the whole HTTP API.
func (s *Server) routes() {
	s.e.Use(s.requestLog)
	s.e.POST("/webhooks", s.handleWebhook(), s.authenticate)
	s.e.GET("/healthz", handleHealthz)
	s.e.GET("/readyz", s.handleReadyz)
	s.e.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
	if a, ok := s.opts.Auth.(*Auth); ok && a != nil && a.oauth {
		s.e.POST("/oauth/token", a.handleToken(s))
	}
}

func handleHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(c echo.Context) error {
	if err := s.readiness(); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// authenticate runs the Authenticator before anything reads the body: an
// unauthenticated delivery is written nowhere.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.opts.Auth == nil {
			return next(c)
		}
		if err := s.opts.Auth.Authenticate(c.Request()); err != nil {
			reason := authReason(err)
			s.metrics.authFailures.WithLabelValues(reason).Inc()
			infoOf(c).authReason = reason
			return &Error{Kind: KindUnauthorized, Code: "unauthorized", Message: "missing or invalid credentials", Err: err}
		}
		return next(c)
	}
}
