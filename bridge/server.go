// Package bridge is the HTTP side of webhook-bridge: the echo server, its
// routes, delivery authentication, body limits, envelope validation and
// routing through the topics catalog, CloudEvents encoding, the mapping of
// errors to status codes, request logging and metrics. It never talks to
// Kafka directly: it hands records to a Publisher.
package bridge

import (
	"errors"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// Authenticator decides whether a delivery may be written anywhere. It is
// safe for concurrent use.
type Authenticator interface {
	// Authenticate returns nil for a valid delivery, else an error whose text
	// says why without repeating any presented secret.
	Authenticate(r *http.Request) error
	// Challenge is the WWW-Authenticate value of the 401 that err (from
	// Authenticate) caused, "" for none.
	Challenge(err error) string
}

// Options configure a Server. There are no defaults here: a zero value
// means zero (the configuration in cmd/webhook-bridge holds the defaults).
type Options struct {
	// Naming gives the Kafka topic names.
	Naming topics.Naming
	// MaxBodyBytes is the largest accepted body.
	MaxBodyBytes int64
	// PublishTimeout bounds a webhook request from its arrival to its
	// answer, waiting for Kafka's acknowledgement included; keep it well
	// under the marketplace's 30 s.
	PublishTimeout time.Duration
	// RetryAfter is the Retry-After of a 503 (at least 1 s is sent).
	RetryAfter time.Duration
	// Ready reports whether this instance can serve (the company index read
	// at start, say); nil means always ready. It must not depend on what
	// every replica shares, such as Kafka: a Kafka-wide fault would take
	// every replica out of service at once, and the marketplace would get
	// the load balancer's answers instead of the bridge's 503 with
	// Retry-After.
	Ready func() error
	// Kafka reports whether Kafka is reachable with every topic present;
	// nil means unknown. It is exported as a metric and shown by /readyz,
	// and does not change readiness.
	Kafka func() error
	// Index finds the company of events whose payload names none; may be nil.
	Index Index
	// MaxInFlightBytes is the budget of webhook bodies held at once,
	// counted as they are read: over it the answer is 503 with Retry-After.
	MaxInFlightBytes int64
	// MaxRecordBytes is the largest record Kafka accepts; a delivery whose
	// records would be larger is quarantined (422) rather than retried.
	MaxRecordBytes int64
	// MaxInFlight caps webhook requests served at once; above it the answer
	// is 503 at once instead of queueing.
	MaxInFlight int
	// DedupTTL is how long an acknowledged event id is remembered, so that a
	// redelivery gets 2xx without a second record; 0 turns it off.
	DedupTTL time.Duration
	// DedupMaxEntries bounds the remembered ids; 0 turns dedup off.
	DedupMaxEntries int
	// AuthFailuresPerSecond and AuthFailureBurst bound failed
	// authentications per client address (webhooks and the token
	// endpoint): beyond the burst, an address is answered 429 with
	// Retry-After before its credentials are checked, at the refill rate.
	// Either 0 turns it off.
	AuthFailuresPerSecond float64
	AuthFailureBurst      int
	// Auth authenticates deliveries; nil accepts every delivery. An *Auth
	// with OAuth2 on also serves POST /oauth/token.
	Auth Authenticator
	// LogRequests is which requests get a log line; the zero value logs
	// every one. Lines of 4xx and 5xx answers are written in every mode.
	LogRequests RequestLog
	// TrustedProxies are the proxies in front of the server (an ingress, a
	// load balancer). Only a request whose peer is one of them has its
	// X-Forwarded-For read, for the client address that the log shows and
	// that failed authentications are throttled by. Empty: the peer is the
	// client.
	TrustedProxies []netip.Prefix
	// Tracer, when set, turns tracing on (see tracing.go): a server span
	// for every request on the webhook port, a producer span for every
	// publish, and the server span's trace context in the records. nil:
	// no spans and no middleware; a valid traceparent a request brought
	// still goes into its records unchanged.
	Tracer trace.TracerProvider
}

// Server is the bridge's HTTP handler.
type Server struct {
	e            *echo.Echo // the webhook port
	admin        *echo.Echo // the admin port
	pub          Publisher
	opts         Options
	log          zerolog.Logger
	shuttingDown atomic.Bool
	metrics      *Metrics
	inFlight     atomic.Int64
	// bodyBytes are the bytes of the bodies held now (MaxInFlightBytes).
	bodyBytes atomic.Int64
	dedup     *dedup         // nil when off
	throttle  *throttle      // nil when off
	failLog   zerolog.Logger // sampled: the log of refused authentications
	logSeq    atomic.Uint64  // requests answered below 400, for LogSample
	// warnedForward: the warning about X-Forwarded-For from an untrusted
	// peer was logged.
	warnedForward atomic.Bool
	date          dateHeader

	tracer trace.TracerProvider // nil when tracing is off
}

// NewServer builds the HTTP handler. pub receives every record to write.
func NewServer(pub Publisher, opts Options, log zerolog.Logger) *Server {
	s := &Server{e: echo.New(), admin: echo.New(), pub: pub, opts: opts, log: log, metrics: newMetrics(),
		throttle: newThrottle(opts.AuthFailuresPerSecond, opts.AuthFailureBurst)}
	for _, t := range opts.Naming.All() {
		s.metrics.published.WithLabelValues(t)
		s.metrics.publishErrors.WithLabelValues(t)
	}
	if opts.DedupTTL > 0 && opts.DedupMaxEntries > 0 {
		s.dedup = newDedup(opts.DedupTTL, opts.DedupMaxEntries)
	}
	s.failLog = log.Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second, NextSampler: &zerolog.BasicSampler{N: 100}})
	for _, e := range []*echo.Echo{s.e, s.admin} {
		e.HideBanner, e.HidePort = true, true
		e.HTTPErrorHandler = s.httpError
	}
	s.metrics.Registry.MustRegister(okGauge("webhook_bridge_ready",
		"1 when /readyz answers 200 (not shutting down, company index read at start), else 0.", s.readiness))
	if opts.Kafka != nil {
		s.metrics.Registry.MustRegister(okGauge("webhook_bridge_kafka_up",
			"1 when the latest check found Kafka reachable with every topic present, else 0.", opts.Kafka))
	}
	if opts.Tracer != nil {
		s.startTracing(opts.Tracer)
	}
	s.routes()
	return s
}

// ServeHTTP serves one request on the webhook port: POST /webhooks and, with
// OAuth2 on, POST /oauth/token. Anything else is a 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.e.ServeHTTP(w, r) }

// Admin is the handler of the admin port: GET /healthz, /readyz and
// /metrics. It discloses versions, volumes and Kafka's state, so it belongs
// on an address the internet cannot reach.
func (s *Server) Admin() http.Handler { return s.admin }

// readiness is nil when the server should receive traffic, else why not.
func (s *Server) readiness() error {
	if s.shuttingDown.Load() {
		return errShuttingDown
	}
	if s.opts.Ready != nil {
		return s.opts.Ready()
	}
	return nil
}

var errShuttingDown = errors.New("shutting down")

// BeginShutdown marks the server as shutting down: /readyz answers 503 from
// now on so load balancers stop sending, while requests keep being served.
func (s *Server) BeginShutdown() { s.shuttingDown.Store(true) }
