package bridge

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/webhook-bridge/webhook-bridge/topics"
)

// routes lists the whole HTTP API. The webhook port serves what the
// marketplace calls and nothing else; probes, metrics and schemas are on the
// admin port, which is not exposed to the internet.
func (s *Server) routes() {
	// echo applies middleware for every request, one allocation each:
	// requestLog (which also recovers panics) and, with tracing on, the
	// tracing middleware; the webhook route's authentication is composed
	// once, here.
	s.e.Use(s.requestLog)
	if s.tracer != nil {
		s.e.Use(s.traceRequests()...)
	}
	s.e.POST("/webhooks", s.authenticate(s.handleWebhook()))
	if a, ok := s.opts.Auth.(tokenEndpoint); ok {
		if h := a.tokenHandler(s); h != nil {
			s.e.POST("/oauth/token", h)
		}
	}
	s.admin.Use(s.requestLog)
	s.admin.GET("/healthz", handleHealthz)
	s.admin.GET("/readyz", s.handleReadyz)
	s.admin.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
	s.admin.GET("/schemas", handleSchemaIndex)
	s.admin.GET("/schemas/:file", handleSchema)
}

// schemaEntry is one line of GET /schemas.
type schemaEntry struct {
	Resource   string `json:"resource"`
	DataSchema string `json:"dataschema"`
	Path       string `json:"path"`
}

// handleSchemaIndex lists the JSON Schemas: each resource topic name, the
// dataschema its events carry, and the path that serves it.
func handleSchemaIndex(c echo.Context) error {
	var out []schemaEntry
	for _, name := range topics.SchemaNames() {
		out = append(out, schemaEntry{Resource: name, DataSchema: topics.DataSchema(name), Path: "/schemas/" + name + ".json"})
	}
	return c.JSON(http.StatusOK, out)
}

// handleSchema serves GET /schemas/<resource>.json: the JSON Schema (draft
// 2020-12) of the CloudEvents on that resource's topic, whose $id is the
// events' dataschema.
func handleSchema(c echo.Context) error {
	name, isJSON := strings.CutSuffix(c.Param("file"), ".json")
	b, ok := topics.Schema(name)
	if !isJSON || !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no such schema: GET /schemas lists them, e.g. /schemas/subscription.json")
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/schema+json", b)
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
