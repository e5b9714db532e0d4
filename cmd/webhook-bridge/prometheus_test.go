package main

// A real Prometheus scrapes two real `serve` processes, one of which loses
// its Kafka, while the test drives every kind of delivery; then every
// dashboard query and every alert expression runs through Prometheus's HTTP
// API. A renamed metric, a label the binary does not set, or a query that
// errors fails here, where the unit tests of the rules (promtool) cannot
// see it.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// promJob is the scrape job of the test's Prometheus.
const promJob = "webhook-bridge"

// requirePrometheus returns the path of Debian's prometheus binary. Without
// it the test skips, and fails under CI=true, which installs it.
func requirePrometheus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("prometheus is not on PATH: under CI=true the real-Prometheus test must run (apt-get install prometheus)")
	}
	t.Skip("prometheus is not on PATH (apt-get install prometheus); skipping the real-Prometheus test")
	return ""
}

// promServer is a Prometheus process of the test.
type promServer struct {
	base    string
	logPath string
	client  *http.Client
}

// startPrometheus runs prometheus scraping targets (host:port) every second
// and evaluating rules every second, and waits until it is ready.
func startPrometheus(t *testing.T, bin string, rules string, targets []string) *promServer {
	t.Helper()
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: %s
    static_configs:
      - targets: [%s]
`, strconv.Quote(rules), promJob, strings.Join(quoted, ", "))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := &promServer{base: "http://" + addr, logPath: filepath.Join(dir, "prometheus.log"), client: &http.Client{Timeout: 10 * time.Second}}
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", faultLogTail(p.logPath, 20))
		}
	})
	faultWaitFor(t, 30*time.Second, "prometheus ready", func() bool {
		select {
		case <-exited:
			t.Fatalf("prometheus exited at start:\n%s", faultLogTail(p.logPath, 20))
		default:
		}
		st, _ := faultGet(p.base + "/-/ready")
		return st == http.StatusOK
	})
	return p
}

// promSample is one series of an instant query's answer.
type promSample struct {
	Metric map[string]string
	Value  float64
}

// query runs an instant query; err is Prometheus's error, if any.
func (p *promServer) query(expr string) ([]promSample, error) {
	resp, err := p.client.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status, Error, ErrorType string
		Data                     struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("HTTP %d, undecodable answer: %w", resp.StatusCode, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s: %s", body.ErrorType, body.Error)
	}
	value := func(v [2]any) float64 {
		s, _ := v[1].(string)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return math.NaN()
		}
		return f
	}
	switch body.Data.ResultType {
	case "vector":
		var res []struct {
			Metric map[string]string
			Value  [2]any
		}
		if err := json.Unmarshal(body.Data.Result, &res); err != nil {
			return nil, err
		}
		out := make([]promSample, len(res))
		for i, r := range res {
			out[i] = promSample{Metric: r.Metric, Value: value(r.Value)}
		}
		return out, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(body.Data.Result, &v); err != nil {
			return nil, err
		}
		return []promSample{{Value: value(v)}}, nil
	}
	return nil, fmt.Errorf("result type %s, want an instant vector or a scalar", body.Data.ResultType)
}

// value runs expr and returns the value of its one series, NaN when it has
// none (or errors).
func (p *promServer) value(expr string) float64 {
	s, err := p.query(expr)
	if err != nil || len(s) != 1 {
		return math.NaN()
	}
	return s[0].Value
}

func (s promSample) String() string {
	var kv []string
	for k, v := range s.Metric {
		if k != "job" {
			kv = append(kv, k+"="+strconv.Quote(v))
		}
	}
	sort.Strings(kv)
	return fmt.Sprintf("{%s} %g", strings.Join(kv, ", "), s.Value)
}

// selectorRef finds the vector selectors of an expression: every metric the
// bridge, the Go and process collectors and Prometheus (up) export, with its
// label matchers. Names of functions and labels never take these forms.
var selectorRef = regexp.MustCompile(`\b((?:webhook_bridge|go|process)_[a-zA-Z0-9_]+|up)\b(\{[^}]*\})?`)

// vectorSelectors lists the selectors of expr as instant queries.
func vectorSelectors(expr string) []string {
	var out []string
	for _, m := range selectorRef.FindAllStringSubmatch(expr, -1) {
		if m[1] == "up" && m[2] == "" {
			continue // a word, not the metric: the dashboard always filters up
		}
		if sel := m[1] + m[2]; !slices.Contains(out, sel) {
			out = append(out, sel)
		}
	}
	return out
}

// labelValuesRef is Grafana's label_values(selector, label), which is not
// PromQL.
var labelValuesRef = regexp.MustCompile(`^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// dashboardPromQL turns a dashboard query into PromQL: the template
// variables as Grafana fills them with every instance selected, and the
// rate interval wide enough to cover the scenario.
func dashboardPromQL(expr string) string {
	r := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "5m",
		"${job}", promJob, "$job", promJob, "${instance}", ".*", "$instance", ".*")
	expr = r.Replace(expr)
	if m := labelValuesRef.FindStringSubmatch(expr); m != nil {
		return fmt.Sprintf("count by (%s) (%s)", m[2], m[1])
	}
	return expr
}

// promTraffic sends one kind of request in a loop from several goroutines
// until stopped, counting the answers by status.
type promTraffic struct {
	name   string
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	counts map[int]int
	bodies map[int]string // a body of each status, for the failure message
	causes map[string]int // the messages of the 503s
}

func (tr *promTraffic) halt() map[int]int {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	tr.wg.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.counts
}

var promClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// startTraffic sends what next returns (a body, its token and the client
// address a trusted proxy would name) to url every every, from workers
// goroutines.
func startTraffic(t *testing.T, name, url string, workers int, every time.Duration, next func() (body, token, client string)) *promTraffic {
	tr := &promTraffic{name: name, stop: make(chan struct{}), counts: map[int]int{}, bodies: map[int]string{}, causes: map[string]int{}}
	for range workers {
		tr.wg.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-tr.stop:
					return
				case <-tick.C:
				}
				body, token, client := next()
				req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-AppDirect-Webhook-Token", token)
				req.Header.Set("X-Forwarded-For", client)
				st, answer := 0, ""
				if resp, err := promClient.Do(req); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					st, answer = resp.StatusCode, string(b)
				} else {
					answer = err.Error()
				}
				tr.mu.Lock()
				tr.counts[st]++
				if _, ok := tr.bodies[st]; !ok {
					tr.bodies[st] = answer
				}
				if st == http.StatusServiceUnavailable {
					var b struct{ Message string }
					_ = json.Unmarshal([]byte(answer), &b)
					tr.causes[b.Message]++
				}
				tr.mu.Unlock()
			}
		})
	}
	t.Cleanup(func() { tr.halt() })
	return tr
}

// TestPrometheusEvaluatesTheDashboardAndAlerts: Prometheus scrapes a healthy
// instance and one whose Kafka goes away mid-test, while they get valid,
// invalid (quarantined), unauthenticated (401, then throttled 429) and
// duplicate deliveries. Then every dashboard query and every alert
// expression must evaluate without error, every metric they select must
// have series, every dashboard query must return data, and each alert
// expression must be true or false as the scenario dictates. Kafka's loss
// must show in webhook_bridge_kafka_up and the writer errors within 10 s.
func TestPrometheusEvaluatesTheDashboardAndAlerts(t *testing.T) {
	promBin := requirePrometheus(t)
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 3)
	// The instance that loses Kafka has a broker of its own, in this process,
	// that the test closes: its port is then closed, and the brokers it named
	// refuse every connection.
	doomed, err := kafka.StartDevBroker("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var closeOnce sync.Once
	closeDoomed := func() { closeOnce.Do(doomed.Close) }
	defer closeDoomed()
	dkc := kafka.Config{Brokers: []string{doomed.Addr()}, DialTimeout: time.Second}
	kafkatest.CreateTopics(t, dkc, n, 3)

	bin := faultBuild(t)
	env := map[string]string{
		"BRIDGE_TRUSTED_PROXIES":          "127.0.0.1",
		"BRIDGE_AUTH_FAILURE_BURST":       "5",
		"BRIDGE_AUTH_FAILURES_PER_SECOND": "1",
		"BRIDGE_PUBLISH_TIMEOUT":          "2s",
		"BRIDGE_KAFKA_HEALTH_INTERVAL":    "2s", // the 10 s bound below counts from Kafka's loss
	}
	t0 := time.Now()
	healthy := startFaultBridge(t, bin, kc, n, env)
	down := startFaultBridge(t, bin, dkc, n, env)
	healthy.waitReadyz(t, http.StatusOK, 30*time.Second)
	down.waitReadyz(t, http.StatusOK, 30*time.Second)
	hInst, dInst := strings.TrimPrefix(healthy.admin, "http://"), strings.TrimPrefix(down.admin, "http://")
	rules, err := filepath.Abs(repoFile("deploy", "prometheus", "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	prom := startPrometheus(t, promBin, rules, []string{hInst, dInst})
	faultWaitFor(t, 20*time.Second, "prometheus scraping both instances", func() bool {
		return prom.value(fmt.Sprintf(`sum(up{job=%q})`, promJob)) == 2 &&
			prom.value(fmt.Sprintf(`sum(webhook_bridge_kafka_up{job=%q})`, promJob)) == 2
	})
	t.Logf("bridges built and started, prometheus scraping both: %s", time.Since(t0).Round(time.Millisecond))

	// The deliveries. Each kind comes from its own client address, which the
	// bridges read from X-Forwarded-For (127.0.0.1 is a trusted proxy), so
	// the guesser's throttle does not touch the marketplace.
	tmpls := faultTemplates(t, "subscription", "user", "order", "company")
	prefix := fmt.Sprintf("%08x", rand.Uint32())
	var seq atomic.Int64
	fresh := func() string {
		i := seq.Add(1)
		tp := tmpls[int(i)%len(tmpls)]
		return tp.head + fmt.Sprintf("%s-0000-4000-8000-%012d", prefix, i) + tp.tail
	}
	var (
		dupMu   sync.Mutex
		dupLast string
	)
	const marketplace, guesser = "198.51.100.10", "203.0.113.66"
	var invalid atomic.Int64
	traffic := []*promTraffic{
		startTraffic(t, "valid", healthy.base+"/webhooks", 3, 200*time.Millisecond, func() (string, string, string) {
			return fresh(), faultToken, marketplace
		}),
		// Every other one a redelivery of the one before: 202 duplicate.
		startTraffic(t, "duplicates", healthy.base+"/webhooks", 1, 200*time.Millisecond, func() (string, string, string) {
			dupMu.Lock()
			defer dupMu.Unlock()
			if dupLast == "" {
				dupLast = fresh()
				return dupLast, faultToken, marketplace
			}
			b := dupLast
			dupLast = ""
			return b, faultToken, marketplace
		}),
		// Quarantined: not JSON (400), or a resource type the catalog does
		// not know (422).
		startTraffic(t, "invalid", healthy.base+"/webhooks", 1, 250*time.Millisecond, func() (string, string, string) {
			i := invalid.Add(1)
			if i%2 == 0 {
				return `{"uuid":"not json`, faultToken, marketplace
			}
			id := fmt.Sprintf("%s-0000-4000-9000-%012d", prefix, i)
			return strings.Replace(tmpls[0].head+id+tmpls[0].tail, `"type":"SUBSCRIPTION"`, `"type":"WIDGET"`, 1), faultToken, marketplace
		}),
		startTraffic(t, "unauthenticated", healthy.base+"/webhooks", 1, 200*time.Millisecond, func() (string, string, string) {
			return fresh(), "not-the-token", guesser // 401, then 429
		}),
		// Once Kafka is gone each of these waits BRIDGE_PUBLISH_TIMEOUT.
		startTraffic(t, "valid to the instance losing Kafka", down.base+"/webhooks", 16, 500*time.Millisecond, func() (string, string, string) {
			return fresh(), faultToken, marketplace
		}),
	}

	// Kafka answers for a few seconds, then goes away.
	faultWaitFor(t, 20*time.Second, "deliveries acknowledged by both instances", func() bool {
		return prom.value(fmt.Sprintf(`sum(webhook_bridge_requests_total{instance=%q, code="202"})`, dInst)) >= 5 &&
			prom.value(fmt.Sprintf(`sum(webhook_bridge_requests_total{instance=%q, code="202"})`, hInst)) >= 5
	})
	errorsBefore := prom.value(fmt.Sprintf(`webhook_bridge_kafka_writer_errors_total{instance=%q}`, dInst))
	closed := time.Now()
	closeDoomed()
	var tookUp, tookErrors time.Duration
	faultWaitFor(t, 10*time.Second, "Prometheus seeing Kafka unreachable (webhook_bridge_kafka_up 0) and writer errors", func() bool {
		if tookUp == 0 && prom.value(fmt.Sprintf(`webhook_bridge_kafka_up{instance=%q}`, dInst)) == 0 {
			tookUp = time.Since(closed)
		}
		if tookErrors == 0 && prom.value(fmt.Sprintf(`webhook_bridge_kafka_writer_errors_total{instance=%q}`, dInst)) > errorsBefore {
			tookErrors = time.Since(closed)
		}
		return tookUp > 0 && tookErrors > 0
	})
	t.Logf("Kafka closed: Prometheus saw webhook_bridge_kafka_up 0 after %s and kafka_writer_errors_total rise after %s",
		tookUp.Round(time.Millisecond), tookErrors.Round(time.Millisecond))
	// Enough 503s (over 5% of the webhooks), quarantines and refusals for
	// every rate and alert to see them.
	faultWaitFor(t, 30*time.Second, "503s, quarantines, throttling and index read errors scraped", func() bool {
		return prom.value(fmt.Sprintf(`sum(webhook_bridge_requests_total{instance=%q, code="503"})`, dInst)) >= 80 &&
			// WebhookBridgeQuarantineGrowing wants more than 10 of a reason.
			prom.value(`min(sum by (reason) (webhook_bridge_quarantined_total{reason=~"invalid_json|unknown_resource"}))`) >= 15 &&
			prom.value(`sum(webhook_bridge_auth_throttled_total)`) >= 5 &&
			prom.value(fmt.Sprintf(`webhook_bridge_company_index_read_errors_total{instance=%q}`, dInst)) > 0
	})
	for _, tr := range traffic {
		counts := tr.halt()
		t.Logf("%s: answers by status %v", tr.name, counts)
	}
	stopped := time.Now()
	// A 503 says why: here, that the broker's port refuses connections.
	refused := 0
	for _, tr := range traffic {
		for msg, n := range tr.causes {
			t.Logf("%s: %d× 503 %q", tr.name, n, msg)
			if !strings.HasPrefix(msg, "Kafka did not take the record: ") {
				t.Errorf("%s: a 503 does not name its cause: %s", tr.name, msg)
			}
			if strings.Contains(msg, "connection refused") {
				refused += n
			}
		}
	}
	if refused == 0 {
		t.Error(`no 503 says "connection refused", though the broker's port was closed`)
	}
	faultWaitFor(t, 10*time.Second, "both instances scraped after the traffic stopped", func() bool {
		return prom.value(fmt.Sprintf(`min(timestamp(webhook_bridge_build_info{job=%q}))`, promJob)) > float64(stopped.UnixMilli())/1000
	})
	checkDashboard(t, prom)
	checkAlertExprs(t, prom, hInst, dInst)
	checkTruth(t, prom, n.Index(), n.Quarantine(), hInst, dInst)
	t.Logf("whole scenario: %s", time.Since(t0).Round(time.Millisecond))
}

// checkDashboard runs every dashboard query: it must evaluate, each metric
// it selects must have series, and it must return data that is a number.
func checkDashboard(t *testing.T, prom *promServer) {
	t.Helper()
	exprs, _ := dashboardQueries(t)
	for _, raw := range exprs {
		expr := dashboardPromQL(raw)
		if strings.Contains(expr, "$") {
			t.Errorf("dashboard query with a variable the test does not fill: %s", raw)
			continue
		}
		for _, sel := range vectorSelectors(expr) {
			if got, err := prom.query(sel); err != nil || len(got) == 0 {
				t.Errorf("dashboard: %s selects no series (err %v) in:\n  %s", sel, err, raw)
			}
		}
		got, err := prom.query(expr)
		switch {
		case err != nil:
			t.Errorf("dashboard query fails: %v\n  %s", err, expr)
		case len(got) == 0:
			t.Errorf("dashboard query returns nothing:\n  %s", expr)
		default:
			for _, s := range got {
				if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
					t.Errorf("dashboard query returns %v:\n  %s", s, expr)
				}
			}
		}
	}
}

// checkAlertExprs runs every alert's expression: it must evaluate, each
// metric it selects must have series, and it must be true (return these
// series) or false (return nothing) as the scenario dictates.
func checkAlertExprs(t *testing.T, prom *promServer, hInst, dInst string) {
	t.Helper()
	// want lists the series each alert's expression returns, by their labels
	// other than job and the metric name; nil: false.
	want := map[string][]string{
		"WebhookBridgeNoReadyInstance":     nil,
		"WebhookBridgeInstanceNotReady":    nil,
		"WebhookBridgeKafkaUnreachable":    {fmt.Sprintf(`{instance=%q}`, dInst)},
		"WebhookBridgeHighErrorRatio":      {"{}"},
		"WebhookBridgeSlowRequests":        nil, // 503s take BRIDGE_PUBLISH_TIMEOUT, 2 s
		"WebhookBridgeOverloaded":          nil,
		"WebhookBridgeQuarantineGrowing":   {`{reason="invalid_json"}`, `{reason="unknown_resource"}`},
		"WebhookBridgeAuthFailureFlood":    nil, // the throttle holds failures to 1/s
		"WebhookBridgeCompanyIndexBehind":  nil,
		"WebhookBridgeCompanyIndexFailing": {fmt.Sprintf(`{instance=%q}`, dInst)},
		"WebhookBridgeNoDeliveries":        nil, // no hour of history
		"WebhookBridgePanics":              nil,
	}
	seen := map[string]bool{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			seen[r.Alert] = true
			exp, known := want[r.Alert]
			if !known {
				t.Errorf("%s: the scenario says nothing about this alert; add its expectation", r.Alert)
			}
			for _, sel := range vectorSelectors(r.Expr) {
				if got, err := prom.query(sel); err != nil || len(got) == 0 {
					t.Errorf("%s: %s selects no series (err %v)", r.Alert, sel, err)
				}
			}
			got, err := prom.query(r.Expr)
			if err != nil {
				t.Errorf("%s: the expression fails: %v", r.Alert, err)
				continue
			}
			var series []string
			for _, s := range got {
				var kv []string
				for k, v := range s.Metric {
					if k != "job" && k != "__name__" {
						kv = append(kv, fmt.Sprintf("%s=%q", k, v))
					}
				}
				sort.Strings(kv)
				series = append(series, "{"+strings.Join(kv, ", ")+"}")
			}
			sort.Strings(series)
			if !slices.Equal(series, exp) {
				t.Errorf("%s: the expression returns %v (%v), want %v\n  %s", r.Alert, series, got, exp, r.Expr)
			}
		}
	}
	for a := range want {
		if !seen[a] {
			t.Errorf("%s: no such alert in rules.yml", a)
		}
	}
	// Prometheus itself evaluates the rules: each without error, and the
	// Kafka alert pending for the instance that lost it.
	var rules struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
					Alerts                  []struct {
						Labels map[string]string
						State  string
					}
				}
			}
		}
	}
	resp, err := prom.client.Get(prom.base + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&rules); err != nil {
		t.Fatal(err)
	}
	pending := false
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			if r.Health != "ok" {
				t.Errorf("prometheus evaluates %s with health %q: %s", r.Name, r.Health, r.LastError)
			}
			for _, a := range r.Alerts {
				if r.Name == "WebhookBridgeKafkaUnreachable" && a.Labels["instance"] == dInst && a.State == "pending" {
					pending = true
				}
			}
		}
	}
	if !pending {
		t.Errorf("prometheus has no pending WebhookBridgeKafkaUnreachable for %s", dInst)
	}
}

// checkTruth checks that the traffic shows where it should: what each
// instance did, counted under the labels the dashboard and alerts read.
func checkTruth(t *testing.T, prom *promServer, indexTopic, quarantineTopic, hInst, dInst string) {
	t.Helper()
	sel := func(inst, rest string) string {
		if rest != "" {
			rest = ", " + rest
		}
		return fmt.Sprintf(`{instance=%q%s}`, inst, rest)
	}
	positive := []string{
		`webhook_bridge_requests_total` + sel(hInst, `route="/webhooks", code="202"`),
		`webhook_bridge_requests_total` + sel(hInst, `route="/webhooks", code="400"`),
		`webhook_bridge_requests_total` + sel(hInst, `route="/webhooks", code="401"`),
		`webhook_bridge_requests_total` + sel(hInst, `route="/webhooks", code="422"`),
		`webhook_bridge_requests_total` + sel(hInst, `route="/webhooks", code="429"`),
		`webhook_bridge_duplicates_total` + sel(hInst, ""),
		`webhook_bridge_auth_throttled_total` + sel(hInst, ""),
		`webhook_bridge_auth_failures_total` + sel(hInst, `reason="invalid_token"`),
		`webhook_bridge_quarantined_total` + sel(hInst, `reason="invalid_json"`),
		`webhook_bridge_records_published_total` + sel(hInst, fmt.Sprintf(`topic=%q`, quarantineTopic)),
		`webhook_bridge_records_published_total` + sel(hInst, fmt.Sprintf(`topic=%q`, indexTopic)),
		`webhook_bridge_kafka_publish_duration_seconds_count` + sel(hInst, `outcome="ok"`),
		`webhook_bridge_kafka_writer_messages_total` + sel(hInst, ""),
		`webhook_bridge_company_index_entries` + sel(hInst, ""),
		`webhook_bridge_requests_total` + sel(dInst, `route="/webhooks", code="503"`),
		`webhook_bridge_publish_errors_total` + sel(dInst, ""),
		`webhook_bridge_kafka_publish_duration_seconds_count` + sel(dInst, `outcome="error"`),
		`webhook_bridge_kafka_writer_errors_total` + sel(dInst, ""),
		`webhook_bridge_kafka_writer_retries_total` + sel(dInst, ""),
		`webhook_bridge_company_index_read_errors_total` + sel(dInst, ""),
	}
	for _, s := range positive {
		if v := prom.value("sum(" + s + ")"); !(v > 0) {
			t.Errorf("%s is %v after the traffic that should count there", s, v)
		}
	}
	for expr, want := range map[string]float64{
		"webhook_bridge_kafka_up" + sel(hInst, ""):                   1,
		"webhook_bridge_kafka_up" + sel(dInst, ""):                   0,
		"webhook_bridge_ready" + sel(dInst, ""):                      1, // readiness does not follow Kafka
		"webhook_bridge_company_index_caught_up" + sel(dInst, ""):    1,
		"webhook_bridge_requests_in_flight" + sel(hInst, ""):         0, // the scrape is not counted
		"sum(webhook_bridge_overloaded_total" + sel(hInst, "") + ")": 0,
	} {
		if !strings.HasPrefix(expr, "sum(") {
			expr = "sum(" + expr + ")"
		}
		if v := prom.value(expr); v != want {
			t.Errorf("%s = %v, want %v", expr, v, want)
		}
	}
}
