package bridge

import (
	"errors"
	"maps"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// latencyBuckets resolve 1 ms at the low end, where a healthy bridge lives,
// and reach the marketplace's 30 s timeout at the top.
var latencyBuckets = []float64{
	0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03,
	0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// Metrics are the server's Prometheus metrics, in a registry of its own so
// that several servers in one process (tests) do not collide.
type Metrics struct {
	Registry       *prometheus.Registry
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	publishSeconds *prometheus.HistogramVec
	// publishOK and publishFailed are publishSeconds by outcome, resolved
	// once rather than per request.
	publishOK, publishFailed prometheus.Observer
	published                *prometheus.CounterVec
	publishErrors            *prometheus.CounterVec
	quarantined              *prometheus.CounterVec
	authFailures             *prometheus.CounterVec
	inFlight                 prometheus.Gauge
	overloaded               prometheus.Counter
	duplicates               prometheus.Counter
	panics                   prometheus.Counter
	throttled                prometheus.Counter
	conns, connsMax          prometheus.Gauge
	connsRefused             prometheus.Counter

	// The children of requests, requestSeconds and published each request
	// adds to, resolved once per label set: WithLabelValues checks and
	// hashes every label value on every call. The label sets are few
	// (routes, catalog resources and actions, status codes, topics), so
	// the maps are copied on the rare miss and read without a lock.
	requestsBy       cowMap[requestLabels, prometheus.Counter]
	requestSecondsBy cowMap[string, prometheus.Observer]
	publishedBy      cowMap[string, prometheus.Counter]
}

// requestLabels are the labels of webhook_bridge_requests_total.
type requestLabels struct {
	route, resource, action string
	status                  int
}

// cowMap is a map read without locks and copied on write, for a small set
// of keys that stops growing early.
type cowMap[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex
}

// get returns the value of k, making it with newV on first use.
func (c *cowMap[K, V]) get(k K, newV func() V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	next := newV()
	m := maps.Clone(derefMap(old))
	if m == nil {
		m = map[K]V{}
	}
	m[k] = next
	c.m.Store(&m)
	return next
}

func derefMap[K comparable, V any](m *map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	return *m
}

func newMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_bridge_requests_total",
			Help: "HTTP requests by route, resource, action and status code.",
		}, []string{"route", "resource", "action", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "webhook_bridge_request_duration_seconds",
			Help:    "Time from request received to response written, by route (buckets from 0.5 ms to 30 s).",
			Buckets: latencyBuckets,
		}, []string{"route"}),
		publishSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "webhook_bridge_kafka_publish_duration_seconds",
			Help:    "Time a publish took, by outcome: ok (Kafka acknowledged with acks=all) or error (refused, unreachable or out of time).",
			Buckets: latencyBuckets,
		}, []string{"outcome"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_bridge_records_published_total",
			Help: "Records acknowledged by Kafka, by topic.",
		}, []string{"topic"}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_bridge_publish_errors_total",
			Help: "Publishes Kafka did not take (refused, unreachable or out of time; answered 503 with the reason in the log), by the topic of their first record.",
		}, []string{"topic"}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_bridge_quarantined_total",
			Help: "Bodies written to the quarantine topic, by reason.",
		}, []string{"reason"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_bridge_auth_failures_total",
			Help: "Deliveries refused with 401, and failed token requests (token_*), by reason.",
		}, []string{"reason"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "webhook_bridge_requests_in_flight",
			Help: "Requests being served on the webhook port (the admin port's probes and scrapes are not counted).",
		}),
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m.overloaded = counter("webhook_bridge_overloaded_total",
		"Webhook requests refused with 503 because BRIDGE_MAX_INFLIGHT were already in flight, or their bodies would exceed BRIDGE_MAX_INFLIGHT_BYTES.")
	m.duplicates = counter("webhook_bridge_duplicates_total",
		"Redeliveries of an event id this instance already had acknowledged, answered 202 without a second record.")
	m.panics = counter("webhook_bridge_panics_total",
		"Requests whose handler panicked (answered 500; the process kept serving).")
	m.throttled = counter("webhook_bridge_auth_throttled_total",
		"Requests refused with 429 because their address failed authentication too often.")
	m.connsRefused = counter("webhook_bridge_http_connections_refused_total",
		"Connections to the webhook port reset at once because BRIDGE_HTTP_MAX_CONNS were already open.")
	m.conns = prometheus.NewGauge(prometheus.GaugeOpts{Name: "webhook_bridge_http_connections",
		Help: "Connections open on the webhook port."})
	m.connsMax = prometheus.NewGauge(prometheus.GaugeOpts{Name: "webhook_bridge_http_connections_max",
		Help: "BRIDGE_HTTP_MAX_CONNS: the most connections the webhook port keeps open."})
	m.Registry.MustRegister(m.overloaded, m.duplicates, m.panics, m.throttled, m.connsRefused, m.conns, m.connsMax)
	// Known label values start at 0, so dashboards and alerts see a series
	// before the first event of its kind.
	for _, code := range []string{topics.CodeInvalidJSON, topics.CodeInvalidEnvelope, topics.CodeUnknownResource,
		topics.CodeUnsupportedAction, topics.CodeFieldTooLong, topics.CodeRecordTooLarge} {
		m.quarantined.WithLabelValues(code)
	}
	for _, r := range authReasons {
		m.authFailures.WithLabelValues(r)
	}
	m.publishOK, m.publishFailed = m.publishSeconds.WithLabelValues("ok"), m.publishSeconds.WithLabelValues("error")
	m.Registry.MustRegister(m.requests, m.requestSeconds, m.publishSeconds, m.published,
		m.publishErrors, m.quarantined, m.authFailures, m.inFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo())
	return m
}

// okGauge is 1 while check returns nil, else 0.
func okGauge(name, help string, check func() error) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
		if check() != nil {
			return 0
		}
		return 1
	})
}

// writerCollector exports the Kafka writer's counters, accumulating the
// deltas each Stats call returns.
type writerCollector struct {
	stats func() WriterStats
	mu    sync.Mutex
	total WriterStats

	writes, messages, bytes, requests, errors, retries, queue *prometheus.Desc
}

func newWriterCollector(stats func() WriterStats) *writerCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("webhook_bridge_kafka_writer_"+name, help, nil, nil)
	}
	return &writerCollector{
		stats:    stats,
		writes:   d("writes_total", "Record batches Kafka acknowledged: one per partition of a produce request (a request carries every partition of one broker with records waiting)."),
		messages: d("messages_total", "Records in the record batches Kafka acknowledged."),
		bytes:    d("bytes_total", "Bytes of keys and values in the record batches Kafka acknowledged."),
		requests: d("requests_total", "Produce requests Kafka answered; each carries the record batches of every partition of one broker that had records waiting."),
		errors:   d("errors_total", "Failed attempts of the Kafka writer: produce requests refused, timed out or answered with an error, and records no broker could be asked about."),
		retries:  d("retries_total", "Produce attempts that retried a failed one, to the same or a new leader."),
		queue:    d("queue_length", "Records waiting in the writer's partition lanes behind the produce request in flight."),
	}
}

func (c *writerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.writes, c.messages, c.bytes, c.requests, c.errors, c.retries, c.queue} {
		ch <- d
	}
}

func (c *writerCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	s := c.stats()
	c.total.Writes += s.Writes
	c.total.Messages += s.Messages
	c.total.Bytes += s.Bytes
	c.total.Requests += s.Requests
	c.total.Errors += s.Errors
	c.total.Retries += s.Retries
	t := c.total
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.writes, prometheus.CounterValue, float64(t.Writes))
	ch <- prometheus.MustNewConstMetric(c.messages, prometheus.CounterValue, float64(t.Messages))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(t.Bytes))
	ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(t.Requests))
	ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(t.Errors))
	ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(t.Retries))
	ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(s.QueueLength))
}

// WriterStats are a Kafka writer's counters since the previous call, and its
// queue length as of the call.
type WriterStats struct {
	Writes, Messages, Bytes, Requests, Errors, Retries int64
	QueueLength                                        int64
}

// WatchWriter exports a Kafka writer's statistics; stats must return the
// counters since its previous call.
func (m *Metrics) WatchWriter(stats func() WriterStats) {
	m.Registry.MustRegister(newWriterCollector(stats))
}

// WatchIndex exports the company index's size and whether it has caught up
// with its topic since start.
func (m *Metrics) WatchIndex(entries func() int, caughtUp <-chan struct{}) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webhook_bridge_company_index_entries",
			Help: "Entities whose company the company index holds in memory.",
		}, func() float64 { return float64(entries()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webhook_bridge_company_index_caught_up",
			Help: "1 once the company index read every record its topic held at start, else 0.",
		}, func() float64 {
			select {
			case <-caughtUp:
				return 1
			default:
				return 0
			}
		}),
	)
}

// IndexStats are the company index reader's figures as of the call.
type IndexStats struct {
	// Lag is the records of the index topic not read yet, as of the
	// latest fetch of each partition.
	Lag int64
	// ReadErrors counts every error reading the index topic since start.
	ReadErrors int64
}

// WatchIndexReader exports how far the company index's reader is behind
// its topic, and its read errors; stats must return the errors since start.
func (m *Metrics) WatchIndexReader(stats func() IndexStats) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webhook_bridge_company_index_lag_records",
			Help: "Records of the company index topic not read yet, as of the latest fetch of each partition (at start: every record to catch up on).",
		}, func() float64 { return float64(stats().Lag) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "webhook_bridge_company_index_read_errors_total",
			Help: "Errors reading the company index topic: failed partition lookups, connections and fetches (the reader retries them).",
		}, func() float64 { return float64(stats().ReadErrors) }),
	)
}

// Metrics returns the server's metrics registry, for the caller to add its
// own collectors (such as the Kafka writer's).
func (s *Server) Metrics() *Metrics { return s.metrics }

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

func (m *Metrics) observe(route string, info *reqInfo, status int, d time.Duration) {
	l := requestLabels{route: route, resource: info.resource, action: info.action, status: status}
	m.requestsBy.get(l, func() prometheus.Counter {
		return m.requests.WithLabelValues(l.route, l.resource, l.action, strconv.Itoa(l.status))
	}).Inc()
	m.requestSecondsBy.get(route, func() prometheus.Observer {
		return m.requestSeconds.WithLabelValues(route)
	}).Observe(d.Seconds())
}

// publishedTo counts a record Kafka acknowledged.
func (m *Metrics) publishedTo(topic string) {
	m.publishedBy.get(topic, func() prometheus.Counter { return m.published.WithLabelValues(topic) }).Inc()
}

// Version and Commit are set at build time with -ldflags "-X"; Version falls
// back to the module version recorded by the go command.
var (
	Version = ""
	Commit  = ""
)

// BuildInfo returns the version, the commit and the Go version of this
// binary, with sane values for a plain `go build`.
func BuildInfo() (version, commit, goVersion string) {
	version, commit, goVersion = Version, Commit, "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if version == "" && bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && commit == "" {
				commit = s.Value
			}
		}
	}
	if version == "" {
		version = "(devel)"
	}
	if commit == "" {
		commit = "unknown"
	}
	return version, commit, goVersion
}

func buildInfo() prometheus.Collector {
	v, c, g := BuildInfo()
	g2 := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "webhook_bridge_build_info",
		Help:        "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": v, "commit": c, "goversion": g},
	})
	g2.Set(1)
	return g2
}

// AuthFailure is an authentication error with a short reason, used as the
// metric label and in the log; it never holds a presented secret.
type AuthFailure struct {
	Reason string // e.g. "missing_credentials", "invalid_token", "expired_token"
}

func (e *AuthFailure) Error() string { return "authentication failed: " + e.Reason }

// authReasons are every reason label of webhook_bridge_auth_failures_total.
var authReasons = []string{
	"missing_token", "invalid_token", "missing_bearer", "malformed_token", "bad_signature",
	"wrong_audience", "expired_token", "premature_token", "revoked_token", "token_invalid_client", "token_invalid_grant",
}

func authReason(err error) string {
	var af *AuthFailure
	if errors.As(err, &af) {
		return af.Reason
	}
	return "invalid"
}
