package bridge_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
)

// pubSpy is a recording Publisher. It keeps a copy of every record it is
// given, acknowledged or not, and can be told to fail or to block until the
// caller's context ends (a broker that never answers).
type pubSpy struct {
	mu    sync.Mutex
	recs  []topics.Record
	err   error
	block bool
}

func (p *pubSpy) Publish(ctx context.Context, recs ...topics.Record) error {
	p.mu.Lock()
	for _, r := range recs {
		c := topics.Record{Topic: r.Topic, Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)}
		for _, h := range r.Headers {
			c.Headers = append(c.Headers, topics.Header{Key: h.Key, Value: bytes.Clone(h.Value)})
		}
		p.recs = append(p.recs, c)
	}
	err, block := p.err, p.block
	p.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

// set resets what was recorded and how the next Publish calls behave.
func (p *pubSpy) set(err error, block bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recs, p.err, p.block = nil, err, block
}

func (p *pubSpy) records() []topics.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]topics.Record(nil), p.recs...)
}

// published lists the topic of every record given, in order.
func (p *pubSpy) published() []string {
	out := []string{}
	for _, r := range p.records() {
		out = append(out, r.Topic)
	}
	return out
}

// logBuf is a zerolog destination that tests can read while the server
// writes.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuf) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

func (b *logBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns every log line written so far, decoded.
func (b *logBuf) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

// testBridge is a real bridge.Server with a recording publisher and a
// logger writing to a buffer.
type testBridge struct {
	srv *bridge.Server
	pub *pubSpy
	log *logBuf
}

// The production defaults of BRIDGE_TOPIC_PREFIX and
// BRIDGE_INTERNAL_TOPIC_PREFIX.
const (
	testPrefix         = "appdirect."
	testInternalPrefix = "webhook-bridge."
	quarantineTopic    = testInternalPrefix + topics.QuarantineName
)

func newTestBridge(opts bridge.Options) *testBridge { return newTestBridgeLogging(opts, &logBuf{}) }

// newTestBridgeLogging is newTestBridge with a log that other bridges of
// the test may share.
func newTestBridgeLogging(opts bridge.Options, log *logBuf) *testBridge {
	tb := &testBridge{pub: &pubSpy{}, log: log}
	tb.srv = bridge.NewServer(tb.pub, testOptions(opts), zerolog.New(log))
	return tb
}

// testOptions fills the options a test leaves zero with production's
// values (bridge itself has no defaults); DedupTTL -1 turns dedup off.
func testOptions(o bridge.Options) bridge.Options {
	if o.Naming == (topics.Naming{}) {
		o.Naming = topics.Naming{Prefix: testPrefix, Internal: testInternalPrefix}
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.PublishTimeout == 0 {
		o.PublishTimeout = 10 * time.Second
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = 5 * time.Second
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 1000
	}
	if o.MaxInFlightBytes == 0 {
		o.MaxInFlightBytes = 64 << 20
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = 1<<20 + 64<<10
	}
	switch o.DedupTTL {
	case 0:
		o.DedupTTL = time.Hour
	case -1:
		o.DedupTTL = 0
	}
	if o.DedupMaxEntries == 0 {
		o.DedupMaxEntries = 100_000
	}
	return o
}

// response is what the server answered.
type response struct {
	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
}

// hangLimit bounds every request: a server that hangs fails the test instead
// of the test run.
const hangLimit = 10 * time.Second

// serve runs req through the server's ServeHTTP.
func (tb *testBridge) serve(t *testing.T, req *http.Request) response {
	t.Helper()
	return serveWith(t, tb.srv, req)
}

// serveAdmin serves req on the admin port's handler.
func (tb *testBridge) serveAdmin(t *testing.T, req *http.Request) response {
	t.Helper()
	return serveWith(t, tb.srv.Admin(), req)
}

func serveWith(t *testing.T, h http.Handler, req *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		h.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-time.After(hangLimit):
		t.Fatalf("%s %s: no answer within %v", req.Method, req.URL.Path, hangLimit)
	}
	return response{status: rec.Code, header: rec.Result().Header, body: rec.Body.Bytes(), elapsed: time.Since(start)}
}

// post sends body to POST /webhooks with a Content-Length.
func (tb *testBridge) post(t *testing.T, body []byte) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return tb.serve(t, req)
}

// errorResponse is the JSON body of every error response.
type errorResponse struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	EventID   string `json:"event_id"`
	RequestID string `json:"request_id"`
}

// acceptedResponse is the JSON body of a 202.
type acceptedResponse struct {
	Status  string `json:"status"`
	EventID string `json:"event_id"`
	Topic   string `json:"topic"`
	Key     string `json:"key"`
}

func decodeBody[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body is not the expected JSON: %v: %s", err, r.body)
	}
	return v
}

// countingReader counts what the server read of a request body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// goodSubscription is a valid SUBSCRIPTION ADDED with its company at
// content.order.company.id.
const goodSubscription = `{"uuid":"evt-good","timestamp":1718035200123,"resource":{"type":"SUBSCRIPTION","uuid":"sub-1",` +
	`"url":"https://acme.byappdirect.com/api/billing/v1/subscriptions/sub-1",` +
	`"content":{"id":"sub-1","order":{"id":"4410021","company":{"id":"co-1"}}}},"resourceAction":"ADDED"}`

// envelope is a well-formed notification with the given parts; content is
// raw JSON or "" for none.
func envelope(id, typ, action, content string) string {
	res := `{"type":` + quote(typ) + `,"uuid":"res-1","url":"https://acme.byappdirect.com/api/x/res-1"`
	if content != "" {
		res += `,"content":` + content
	}
	res += "}"
	return `{"uuid":` + quote(id) + `,"timestamp":1718035200123,"resource":` + res + `,"resourceAction":` + quote(action) + `}`
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// sized returns a valid SUBSCRIPTION envelope of exactly n bytes, padded
// with a string in its content.
func sized(n int) string {
	head := `{"uuid":"evt-sized","timestamp":1718035200123,"resource":{"type":"SUBSCRIPTION","uuid":"sub-sized","content":{"pad":"`
	tail := `"}},"resourceAction":"ADDED"}`
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

func TestServerStatuses(t *testing.T) {
	const (
		maxBody    = 64 << 10
		retryAfter = 7 * time.Second
	)
	tb := newTestBridge(bridge.Options{MaxBodyBytes: maxBody, PublishTimeout: 50 * time.Millisecond, RetryAfter: retryAfter, DedupTTL: -1})
	errBroker := errors.New("kafka: leader not available")
	depthBomb := `{"uuid":"evt-deep","resource":{"type":"USER","uuid":"u-1","content":` +
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `},"resourceAction":"ADDED"}`
	longID := strings.Repeat("c", 50<<10)

	tests := []struct {
		name    string
		method  string // default POST
		target  string // default /webhooks
		body    string
		chunked bool // no Content-Length
		pubErr  error
		block   bool

		wantStatus     int
		wantCode       string   // the error body's "error"; "" for 202
		wantEventID    string   // in the error body and the quarantine record, "" when unknown
		wantQuarantine bool     // the raw body went to the quarantine topic
		quarantineCode string   // its error header when not wantCode (a 503)
		wantTopics     []string // topic of every record handed to the publisher, in order
		wantKey        string   // 202: the record key
		wantAction     string   // 202: the action header
		wantReadAtMost int64    // > 0: the server read at most this much of the body
	}{
		// 400: not JSON.
		{name: "empty body", body: "", wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "whitespace only", body: " \r\n\t ", wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "form encoded", body: "uuid=1&resource=SUBSCRIPTION", wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "XML", body: "<event><uuid>1</uuid></event>", wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "single quotes", body: `{'uuid':'evt-1'}`, wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "truncated", body: goodSubscription[:len(goodSubscription)/2], wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "truncated by one byte", body: goodSubscription[:len(goodSubscription)-1], wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "trailing garbage", body: goodSubscription + "}", wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "two documents", body: goodSubscription + "\n" + goodSubscription, wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "invalid UTF-8 in a value", body: envelope("evt-utf8", "USER", "ADDED", "{\"firstName\":\"Jos\xe9\"}"), wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "invalid UTF-8 in a key", body: envelope("evt-utf8", "USER", "ADDED", "{\"\xff\xfe\":1}"), wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "UTF-16 surrogate encoded as UTF-8", body: envelope("evt-utf8", "USER", "ADDED", "{\"n\":\"\xed\xa0\x80\"}"), wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "raw control character in a string", body: envelope("evt-ctl", "USER", "ADDED", "{\"n\":\"a\x01b\"}"), wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "duplicate top-level key", body: `{"uuid":"evt-a","uuid":"evt-b","resource":{"type":"USER","uuid":"u"},"resourceAction":"ADDED"}`, wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "duplicate nested key", body: `{"uuid":"evt-a","resource":{"type":"USER","type":"COMPANY","uuid":"u"},"resourceAction":"ADDED"}`, wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "duplicate key spelled with an escape", body: `{"uuid":"evt-a","resource":{"type":"USER","\u0074ype":"COMPANY","uuid":"u"},"resourceAction":"ADDED"}`, wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},
		{name: "depth bomb", body: depthBomb, wantStatus: 400, wantCode: "invalid_json", wantQuarantine: true},

		// 400: JSON, but not an envelope.
		{name: "top-level array", body: "[" + goodSubscription + "]", wantStatus: 400, wantCode: "invalid_envelope", wantQuarantine: true},
		{name: "top-level number", body: "42", wantStatus: 400, wantCode: "invalid_envelope", wantQuarantine: true},
		{name: "top-level string", body: `"SUBSCRIPTION"`, wantStatus: 400, wantCode: "invalid_envelope", wantQuarantine: true},
		{name: "top-level null", body: "null", wantStatus: 400, wantCode: "invalid_envelope", wantQuarantine: true},
		{name: "empty object", body: "{}", wantStatus: 400, wantCode: "invalid_envelope", wantQuarantine: true},
		{name: "timestamp is a string", body: strings.Replace(goodSubscription, "1718035200123", `"abc"`, 1), wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-good", wantQuarantine: true},
		{name: "timestamp is a boolean", body: strings.Replace(goodSubscription, "1718035200123", `true`, 1), wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-good", wantQuarantine: true},
		{name: "timestamp is fractional", body: strings.Replace(goodSubscription, "1718035200123", `1718035200123.5`, 1), wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-good", wantQuarantine: true},
		{name: "timestamp is negative", body: strings.Replace(goodSubscription, "1718035200123", `-1`, 1), wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-good", wantQuarantine: true},
		{name: "uuid missing", body: strings.Replace(goodSubscription, `"uuid":"evt-good",`, "", 1), wantStatus: 400, wantCode: "invalid_envelope", wantQuarantine: true},
		{name: "uuid empty", body: envelope("", "SUBSCRIPTION", "ADDED", ""), wantStatus: 400, wantCode: "invalid_envelope", wantQuarantine: true},
		{name: "uuid null", body: strings.Replace(goodSubscription, `"evt-good"`, "null", 1), wantStatus: 400, wantCode: "invalid_envelope", wantQuarantine: true},
		{name: "uuid is a number", body: strings.Replace(goodSubscription, `"evt-good"`, "12345", 1), wantStatus: 400, wantCode: "invalid_envelope", wantQuarantine: true},
		{name: "uuid too long to name the event", body: envelope(strings.Repeat("e", 300), "SUBSCRIPTION", "ADDED", ""), wantStatus: 400, wantCode: "invalid_envelope", wantQuarantine: true},
		{name: "resource missing", body: `{"uuid":"evt-nores","timestamp":1718035200123,"resourceAction":"ADDED"}`, wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-nores", wantQuarantine: true},
		{name: "resource is a string", body: `{"uuid":"evt-str","resource":"SUBSCRIPTION","resourceAction":"ADDED"}`, wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-str", wantQuarantine: true},
		{name: "resource.type missing", body: `{"uuid":"evt-notype","resource":{"uuid":"sub-1"},"resourceAction":"ADDED"}`, wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-notype", wantQuarantine: true},
		{name: "resource.type empty", body: envelope("evt-emptytype", "", "ADDED", ""), wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-emptytype", wantQuarantine: true},
		{name: "resource.type is a number", body: `{"uuid":"evt-numtype","resource":{"type":7,"uuid":"sub-1"},"resourceAction":"ADDED"}`, wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-numtype", wantQuarantine: true},
		{name: "resource.uuid is an object", body: `{"uuid":"evt-objuuid","resource":{"type":"COMPANY","uuid":{"id":"c"}},"resourceAction":"ADDED"}`, wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-objuuid", wantQuarantine: true},
		{name: "resource.url is a number", body: `{"uuid":"evt-numurl","resource":{"type":"COMPANY","uuid":"c","url":1},"resourceAction":"ADDED"}`, wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-numurl", wantQuarantine: true},
		{name: "resourceAction missing", body: `{"uuid":"evt-noact","resource":{"type":"USER","uuid":"u"}}`, wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-noact", wantQuarantine: true},
		{name: "resourceAction empty", body: envelope("evt-emptyact", "USER", "", ""), wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-emptyact", wantQuarantine: true},
		{name: "resourceAction is an array", body: `{"uuid":"evt-arract","resource":{"type":"USER","uuid":"u"},"resourceAction":["ADDED"]}`, wantStatus: 400, wantCode: "invalid_envelope", wantEventID: "evt-arract", wantQuarantine: true},

		// 422: a valid envelope the catalog cannot route.
		{name: "unknown resource type", body: envelope("evt-widget", "WIDGET", "ADDED", "{}"), wantStatus: 422, wantCode: "unknown_resource", wantEventID: "evt-widget", wantQuarantine: true},
		{name: "sales opportunity is not in the catalog", body: envelope("evt-opp", "OPPORTUNITY", "ADDED", "{}"), wantStatus: 422, wantCode: "unknown_resource", wantEventID: "evt-opp", wantQuarantine: true},
		{name: "lower-case type", body: envelope("evt-lower", "subscription", "ADDED", "{}"), wantStatus: 422, wantCode: "unknown_resource", wantEventID: "evt-lower", wantQuarantine: true},
		{name: "type with leading space", body: envelope("evt-space", " SUBSCRIPTION", "ADDED", "{}"), wantStatus: 422, wantCode: "unknown_resource", wantEventID: "evt-space", wantQuarantine: true},
		{name: "type with trailing tab", body: envelope("evt-tab", "SUBSCRIPTION\t", "ADDED", "{}"), wantStatus: 422, wantCode: "unknown_resource", wantEventID: "evt-tab", wantQuarantine: true},
		{name: "RESELLER_REGISTRANT CHANGED", body: envelope("evt-rr", "RESELLER_REGISTRANT", "CHANGED", "{}"), wantStatus: 422, wantCode: "unsupported_action", wantEventID: "evt-rr", wantQuarantine: true},
		{name: "RESELLER_REGISTRANT REMOVED", body: envelope("evt-rr2", "RESELLER_REGISTRANT", "REMOVED", ""), wantStatus: 422, wantCode: "unsupported_action", wantEventID: "evt-rr2", wantQuarantine: true},
		{name: "STAGING_PRODUCT REMOVED", body: envelope("evt-sp", "STAGING_PRODUCT", "REMOVED", ""), wantStatus: 422, wantCode: "unsupported_action", wantEventID: "evt-sp", wantQuarantine: true},
		{name: "PAYMENT_INSTRUMENT DELETED", body: envelope("evt-pi", "PAYMENT_INSTRUMENT", "DELETED", ""), wantStatus: 422, wantCode: "unsupported_action", wantEventID: "evt-pi", wantQuarantine: true},
		{name: "action PURGED", body: envelope("evt-purged", "SUBSCRIPTION", "PURGED", ""), wantStatus: 422, wantCode: "unsupported_action", wantEventID: "evt-purged", wantQuarantine: true},
		{name: "lower-case action", body: envelope("evt-lowact", "SUBSCRIPTION", "added", "{}"), wantStatus: 422, wantCode: "unsupported_action", wantEventID: "evt-lowact", wantQuarantine: true},
		{name: "action with trailing space", body: envelope("evt-actspace", "SUBSCRIPTION", "ADDED ", "{}"), wantStatus: 422, wantCode: "unsupported_action", wantEventID: "evt-actspace", wantQuarantine: true},

		// 202: accepted, including odd but harmless payloads.
		{name: "good", body: goodSubscription, wantStatus: 202, wantTopics: []string{"appdirect.subscription"}, wantKey: "co-1", wantAction: "added"},
		{name: "DELETED is removed", body: envelope("evt-del", "SUBSCRIPTION", "DELETED", ""), wantStatus: 202, wantTopics: []string{"appdirect.subscription"}, wantKey: "res-1", wantAction: "removed"},
		{name: "alias SALES_LEAD", body: envelope("evt-sl", "SALES_LEAD", "ADDED", `{"id":"res-1"}`), wantStatus: 202, wantTopics: []string{"appdirect.lead"}, wantKey: "res-1", wantAction: "added"},
		{name: "alias PLATFORMS", body: envelope("evt-pf", "PLATFORMS", "CHANGED", `{"id":"res-1"}`), wantStatus: 202, wantTopics: []string{"appdirect.platform"}, wantKey: "res-1", wantAction: "changed"},
		{name: "unknown extra keys", body: `{"uuid":"evt-extra","marketplace":{"id":"acme"},"timestamp":1718035200123,"resource":{"type":"ORDER","uuid":"o-1","extra":[1,2],"content":{"company":{"id":"co-9"}}},"resourceAction":"CHANGED","v":2}`, wantStatus: 202, wantTopics: []string{"appdirect.order"}, wantKey: "co-9", wantAction: "changed"},
		{name: "content is a string", body: envelope("evt-cs", "SUBSCRIPTION", "CHANGED", `"co-1"`), wantStatus: 202, wantTopics: []string{"appdirect.subscription"}, wantKey: "res-1", wantAction: "changed"},
		{name: "content is an array", body: envelope("evt-ca", "SUBSCRIPTION", "CHANGED", `[{"company":{"id":"co-1"}}]`), wantStatus: 202, wantTopics: []string{"appdirect.subscription"}, wantKey: "res-1", wantAction: "changed"},
		{name: "content is a number", body: envelope("evt-cn", "ORDER", "ADDED", `12`), wantStatus: 202, wantTopics: []string{"appdirect.order"}, wantKey: "res-1", wantAction: "added"},
		{name: "content is null", body: envelope("evt-cnull", "INVOICE", "CHANGED", `null`), wantStatus: 202, wantTopics: []string{"appdirect.invoice"}, wantKey: "res-1", wantAction: "changed"},
		{name: "company id is a number", body: envelope("evt-idnum", "ORDER", "ADDED", `{"company":{"id":42}}`), wantStatus: 202, wantTopics: []string{"appdirect.order"}, wantKey: "res-1", wantAction: "added"},
		{name: "company id is an object", body: envelope("evt-idobj", "QUOTE", "ADDED", `{"company":{"id":{"id":"co-1"}}}`), wantStatus: 202, wantTopics: []string{"appdirect.quote"}, wantKey: "res-1", wantAction: "added"},
		{name: "company id is null", body: envelope("evt-idnull", "INVOICE", "ADDED", `{"company":{"id":null}}`), wantStatus: 202, wantTopics: []string{"appdirect.invoice"}, wantKey: "res-1", wantAction: "added"},
		{name: "company id is blank", body: envelope("evt-idblank", "INVOICE", "ADDED", `{"company":{"id":"   "}}`), wantStatus: 202, wantTopics: []string{"appdirect.invoice"}, wantKey: "res-1", wantAction: "added"},
		{name: "company id has a control character", body: envelope("evt-idctl", "INVOICE", "ADDED", `{"company":{"id":"co\u0000-1"}}`), wantStatus: 202, wantTopics: []string{"appdirect.invoice"}, wantKey: "res-1", wantAction: "added"},
		{name: "company is a string", body: envelope("evt-costr", "SUBSCRIPTION", "ADDED", `{"company":"co-1","order":{"company":"co-1"}}`), wantStatus: 202, wantTopics: []string{"appdirect.subscription"}, wantKey: "res-1", wantAction: "added"},
		{name: "companyUuid is a boolean", body: envelope("evt-aabool", "APP_ASSIGNMENT", "CHANGED", `{"companyUuid":true}`), wantStatus: 202, wantTopics: []string{"appdirect.app-assignment"}, wantKey: "res-1", wantAction: "changed"},
		{name: "memberships is an object", body: envelope("evt-msobj", "USER", "CHANGED", `{"memberships":{"company":{"id":"co-1"}}}`), wantStatus: 202, wantTopics: []string{"appdirect.user"}, wantKey: "res-1", wantAction: "changed"},
		{name: "memberships of the wrong types", body: envelope("evt-mswrong", "USER", "CHANGED", `{"memberships":[1,null,"co-1",{"company":5},{"company":{"id":[]}}]}`), wantStatus: 202, wantTopics: []string{"appdirect.user"}, wantKey: "res-1", wantAction: "changed"},
		{name: "absurdly long company id", body: envelope("evt-longid", "ORDER", "ADDED", `{"company":{"id":"`+longID+`"}}`), wantStatus: 202, wantTopics: []string{"appdirect.order"}, wantKey: "res-1", wantAction: "added"},
		{name: "absurdly long company in the URL", body: `{"uuid":"evt-longurl","resource":{"type":"MEMBERSHIP","uuid":"m-1","url":"https://acme.byappdirect.com/api/account/v1/companies/` + longID + `/users/u-1"},"resourceAction":"REMOVED"}`, wantStatus: 422, wantCode: "field_too_long", wantQuarantine: true, wantEventID: "evt-longurl"},
		{name: "body of exactly MaxBodyBytes", body: sized(maxBody), wantStatus: 202, wantTopics: []string{"appdirect.subscription"}, wantKey: "sub-sized", wantAction: "added"},
		{name: "chunked body of exactly MaxBodyBytes", body: sized(maxBody), chunked: true, wantStatus: 202, wantTopics: []string{"appdirect.subscription"}, wantKey: "sub-sized", wantAction: "added"},

		// 413: neither read nor quarantined.
		{name: "one byte over MaxBodyBytes", body: sized(maxBody + 1), wantStatus: 413, wantCode: "body_too_large", wantReadAtMost: 0},
		{name: "far over MaxBodyBytes", body: sized(4 * maxBody), wantStatus: 413, wantCode: "body_too_large", wantReadAtMost: 0},
		{name: "chunked one byte over MaxBodyBytes", body: sized(maxBody + 1), chunked: true, wantStatus: 413, wantCode: "body_too_large", wantReadAtMost: maxBody + 1},
		{name: "chunked far over MaxBodyBytes", body: sized(16 * maxBody), chunked: true, wantStatus: 413, wantCode: "body_too_large", wantReadAtMost: maxBody + 1},

		// 503: nothing acknowledged, so the marketplace must retry.
		{name: "publisher fails", body: goodSubscription, pubErr: errBroker, wantStatus: 503, wantCode: "kafka_unavailable", wantEventID: "evt-good", wantTopics: []string{"appdirect.subscription"}},
		{name: "publisher blocks past PublishTimeout", body: goodSubscription, block: true, wantStatus: 503, wantCode: "kafka_unavailable", wantEventID: "evt-good", wantTopics: []string{"appdirect.subscription"}},
		{name: "quarantine write fails", body: "not json", pubErr: errBroker, wantStatus: 503, wantCode: "kafka_unavailable", wantQuarantine: true, quarantineCode: "invalid_json"},
		{name: "quarantine write of an unroutable event blocks", body: envelope("evt-qblock", "WIDGET", "ADDED", "{}"), block: true, wantStatus: 503, wantCode: "kafka_unavailable", wantEventID: "evt-qblock", wantQuarantine: true, quarantineCode: "unknown_resource"},

		// Routing.
		{name: "unknown path", method: http.MethodGet, target: "/nope", wantStatus: 404, wantCode: "not_found"},
		{name: "POST to a misspelt path", target: "/webhook", body: goodSubscription, wantStatus: 404, wantCode: "not_found"},
		{name: "GET /webhooks", method: http.MethodGet, wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "PUT /webhooks", method: http.MethodPut, body: goodSubscription, wantStatus: 405, wantCode: "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb.pub.set(tt.pubErr, tt.block)
			tb.log.reset()
			method, target := or(tt.method, http.MethodPost), or(tt.target, "/webhooks")
			body := &countingReader{r: strings.NewReader(tt.body)}
			req := httptest.NewRequest(method, target, body)
			req.Header.Set("Content-Type", "application/json")
			req.ContentLength = int64(len(tt.body))
			if tt.chunked {
				req.ContentLength = -1
				req.TransferEncoding = []string{"chunked"}
			}

			got := tb.serve(t, req)

			if got.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body: %.500s", got.status, tt.wantStatus, got.body)
			}
			if got.elapsed > 5*time.Second {
				t.Errorf("answered after %v; every answer must come well within the marketplace's 30 s", got.elapsed)
			}
			if ra := got.header.Get("Retry-After"); (ra != "") != (tt.wantStatus == 503) || (ra != "" && ra != "7") {
				t.Errorf("Retry-After = %q, want %q only on 503", ra, "7")
			}
			if tt.wantReadAtMost > 0 || tt.wantStatus == 413 {
				if body.n > tt.wantReadAtMost {
					t.Errorf("server read %d bytes of the body, want at most %d", body.n, tt.wantReadAtMost)
				}
			}

			recs := tb.pub.records()
			var gotTopics []string
			for _, r := range recs {
				gotTopics = append(gotTopics, r.Topic)
			}
			wantTopics := tt.wantTopics
			if tt.wantQuarantine {
				wantTopics = []string{quarantineTopic}
			}
			if diff := cmp.Diff(wantTopics, gotTopics); diff != "" {
				t.Errorf("published topics (-want +got):\n%s", diff)
			}

			if tt.wantStatus == http.StatusAccepted {
				ack := decodeBody[acceptedResponse](t, got)
				wantAck := acceptedResponse{Status: "accepted", EventID: eventIDOf(t, tt.body), Topic: tt.wantTopics[0], Key: tt.wantKey}
				if diff := cmp.Diff(wantAck, ack); diff != "" {
					t.Errorf("202 body (-want +got):\n%s", diff)
				}
				if len(recs) == 1 {
					checkAccepted(t, recs[0], []byte(tt.body), tt.wantKey, tt.wantAction)
				}
			} else {
				e := decodeBody[errorResponse](t, got)
				if e.Error != tt.wantCode {
					t.Errorf(`error body "error" = %q, want %q; body: %s`, e.Error, tt.wantCode, got.body)
				}
				if e.Message == "" {
					t.Errorf("error body has no message: %s", got.body)
				}
				if e.EventID != tt.wantEventID {
					t.Errorf("error body event_id = %q, want %q", e.EventID, tt.wantEventID)
				}
				if rid := got.header.Get("X-Request-Id"); rid == "" || e.RequestID != rid {
					t.Errorf("error body request_id = %q, X-Request-Id = %q; want the same, non-empty", e.RequestID, rid)
				}
			}

			if tt.wantQuarantine && len(recs) == 1 {
				q := recs[0]
				if !bytes.Equal(q.Value, []byte(tt.body)) {
					t.Errorf("quarantine value is not the raw body:\ngot  %.300q\nwant %.300q", q.Value, tt.body)
				}
				wantHeaders := []string{topics.HeaderError, topics.HeaderErrorDetail}
				if tt.wantEventID != "" {
					wantHeaders = append(wantHeaders, topics.HeaderEventID)
				}
				wantHeaders = append(wantHeaders, topics.HeaderContentType) // the request's, application/json
				if tt.wantEventID == "" && !strings.HasPrefix(string(q.Key), "sha256:") {
					t.Errorf("quarantine key without an event id = %q, want sha256:<body hash>", q.Key)
				}
				if diff := cmp.Diff(wantHeaders, headerKeys(q)); diff != "" {
					t.Errorf("quarantine header names (-want +got):\n%s", diff)
				}
				quarantineCode := or(tt.quarantineCode, tt.wantCode)
				if v, _ := topics.HeaderValue(q.Headers, topics.HeaderError); v != quarantineCode {
					t.Errorf("quarantine error header = %q, want %q", v, quarantineCode)
				}
				if v, _ := topics.HeaderValue(q.Headers, topics.HeaderErrorDetail); v == "" {
					t.Error("quarantine error-detail header is empty")
				}
				if v, _ := topics.HeaderValue(q.Headers, topics.HeaderEventID); v != tt.wantEventID {
					t.Errorf("quarantine event-id header = %q, want %q", v, tt.wantEventID)
				}
			}

			lines := tb.log.lines(t)
			if len(lines) != 1 {
				t.Fatalf("got %d log lines, want 1:\n%v", len(lines), lines)
			}
			l := lines[0]
			if s, _ := l["status"].(float64); int(s) != tt.wantStatus {
				t.Errorf("log status = %v, want %d", l["status"], tt.wantStatus)
			}
			if l["request_id"] != got.header.Get("X-Request-Id") {
				t.Errorf("log request_id = %v, want the response's X-Request-Id %q", l["request_id"], got.header.Get("X-Request-Id"))
			}
			if tt.wantCode != "" && l["error"] != tt.wantCode {
				t.Errorf("log error = %v, want %q", l["error"], tt.wantCode)
			}
		})
	}

	t.Run("still serving after every bad input", func(t *testing.T) {
		tb.pub.set(nil, false)
		body := strings.Replace(goodSubscription, "evt-good", "evt-after", 1)
		got := tb.post(t, []byte(body))
		if got.status != http.StatusAccepted {
			t.Fatalf("status = %d, want 202; body: %s", got.status, got.body)
		}
		if recs := tb.pub.records(); len(recs) != 1 || recs[0].Topic != "appdirect.subscription" {
			t.Errorf("published %d records, want 1 to appdirect.subscription", len(recs))
		}
	})
}

// checkAccepted checks the record of a 202 against the contract: key,
// headers and a CloudEvent that embeds the body.
func checkAccepted(t *testing.T, rec topics.Record, body []byte, wantKey, wantAction string) {
	t.Helper()
	if string(rec.Key) != wantKey {
		t.Errorf("key = %q, want %q", rec.Key, wantKey)
	}
	if v, _ := topics.HeaderValue(rec.Headers, topics.HeaderAction); v != wantAction {
		t.Errorf("action header = %q, want %q", v, wantAction)
	}
	if v, _ := topics.HeaderValue(rec.Headers, topics.HeaderContentType); v != topics.CloudEventsContentType {
		t.Errorf("content-type header = %q, want %q", v, topics.CloudEventsContentType)
	}
	if !json.Valid(rec.Value) {
		t.Fatalf("value is not valid JSON: %.500s", rec.Value)
	}
	if data := ceData(t, rec.Value); !bytes.Equal(data, body) {
		t.Errorf("CloudEvent data is not the body byte for byte:\ngot  %.300q\nwant %.300q", data, body)
	}
}

// or returns the first of a and b that is not empty.
func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func eventIDOf(t *testing.T, body string) string {
	t.Helper()
	var env struct {
		UUID string `json:"uuid"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("test body: %v", err)
	}
	return env.UUID
}

func headerKeys(r topics.Record) []string {
	var out []string
	for _, h := range r.Headers {
		out = append(out, h.Key)
	}
	return out
}

// ceData returns the bytes of the CloudEvent's "data" member exactly as
// written: from just after its colon up to the ',' or '}' that ends it.
func ceData(t *testing.T, ce []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(ce))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("CloudEvent is not an object: %v", err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("CloudEvent: %v", err)
		}
		afterKey := int(dec.InputOffset())
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("CloudEvent member %v: %v", tok, err)
		}
		if tok != "data" {
			continue
		}
		start := afterKey
		for start < len(ce) && ce[start] != ':' {
			start++
		}
		start++
		end := int(dec.InputOffset())
		for end < len(ce) && ce[end] != ',' && ce[end] != '}' {
			end++
		}
		return ce[start:end]
	}
	t.Fatalf("CloudEvent has no data: %s", ce)
	return nil
}

// refuseAll is an Authenticator that refuses every delivery.
type refuseAll struct{}

func (refuseAll) Authenticate(*http.Request) error {
	return &bridge.AuthFailure{Reason: "invalid_token"}
}
func (refuseAll) Challenge(error) string { return `Bearer realm="webhook-bridge"` }

func TestUnauthenticatedDeliveryIsWrittenNowhere(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{name: "valid envelope", body: goodSubscription},
		{name: "not JSON", body: "not json"},
		{name: "unknown resource", body: envelope("evt-widget", "WIDGET", "ADDED", "{}")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTestBridge(bridge.Options{Auth: refuseAll{}})
			got := tb.post(t, []byte(tt.body))
			if got.status != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401; body: %s", got.status, got.body)
			}
			if e := decodeBody[errorResponse](t, got); e.Error != "unauthorized" {
				t.Errorf(`error = %q, want "unauthorized"`, e.Error)
			}
			if got.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if recs := tb.pub.records(); len(recs) != 0 {
				t.Errorf("published %d records, want none (not even quarantine)", len(recs))
			}
		})
	}
}

func TestHealthAndReadiness(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		ready      func() error
		shutdown   bool
		wantStatus int
		wantBody   map[string]string
	}{
		{name: "healthz", path: "/healthz", wantStatus: 200, wantBody: map[string]string{"status": "ok"}},
		{name: "healthz while shutting down", path: "/healthz", shutdown: true, wantStatus: 200, wantBody: map[string]string{"status": "ok"}},
		{name: "healthz while Kafka is down", path: "/healthz", ready: func() error { return errors.New("no broker") }, wantStatus: 200, wantBody: map[string]string{"status": "ok"}},
		{name: "readyz without a check", path: "/readyz", wantStatus: 200, wantBody: map[string]string{"status": "ready"}},
		{name: "readyz when ready", path: "/readyz", ready: func() error { return nil }, wantStatus: 200, wantBody: map[string]string{"status": "ready"}},
		{
			name: "readyz when not ready", path: "/readyz",
			ready:      func() error { return errors.New("topic appdirect.user does not exist") },
			wantStatus: 503, wantBody: map[string]string{"status": "not ready", "reason": "topic appdirect.user does not exist"},
		},
		{name: "readyz after BeginShutdown", path: "/readyz", ready: func() error { return nil }, shutdown: true, wantStatus: 503, wantBody: map[string]string{"status": "not ready", "reason": "shutting down"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTestBridge(bridge.Options{Ready: tt.ready})
			if tt.shutdown {
				tb.srv.BeginShutdown()
			}
			got := tb.serveAdmin(t, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if got.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", got.status, tt.wantStatus)
			}
			if diff := cmp.Diff(tt.wantBody, decodeBody[map[string]string](t, got)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("shutting down still serves webhooks", func(t *testing.T) {
		tb := newTestBridge(bridge.Options{})
		tb.srv.BeginShutdown()
		if got := tb.post(t, []byte(goodSubscription)); got.status != http.StatusAccepted {
			t.Errorf("status = %d, want 202", got.status)
		}
	})
}

// The webhook port serves what the marketplace calls and nothing else; the
// admin port serves probes and metrics and takes no webhooks.
func TestPortsServeTheirOwnRoutes(t *testing.T) {
	tb := newTestBridge(bridge.Options{})
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/schemas/subscription.json", "/"} {
		got := tb.serve(t, httptest.NewRequest(http.MethodGet, path, nil))
		if got.status != http.StatusNotFound || !strings.Contains(string(got.body), `"error"`) {
			t.Errorf("webhook port GET %s: %d %s, want 404 with a JSON error", path, got.status, got.body)
		}
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if got := tb.serveAdmin(t, httptest.NewRequest(http.MethodGet, path, nil)); got.status != http.StatusOK {
			t.Errorf("admin port GET %s: %d, want 200", path, got.status)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(goodSubscription))
	req.Header.Set("Content-Type", "application/json")
	if got := tb.serveAdmin(t, req); got.status != http.StatusNotFound && got.status != http.StatusMethodNotAllowed {
		t.Errorf("admin port POST /webhooks: %d, want 404 or 405", got.status)
	}
	if n := len(tb.pub.records()); n != 0 {
		t.Errorf("the admin port published %d records", n)
	}
}

// The admin port serves each resource's JSON Schema, byte for byte the
// embedded one, whose $id is the dataschema its events carry, and lists them.
func TestSchemasAreServed(t *testing.T) {
	tb := newTestBridge(bridge.Options{})
	got := tb.serveAdmin(t, httptest.NewRequest(http.MethodGet, "/schemas", nil))
	var index []struct{ Resource, DataSchema, Path string }
	if err := json.Unmarshal(got.body, &index); got.status != http.StatusOK || err != nil || len(index) != len(topics.Catalog) {
		t.Fatalf("GET /schemas: %d %s (%v), want %d entries", got.status, got.body, err, len(topics.Catalog))
	}
	for _, e := range index {
		got := tb.serveAdmin(t, httptest.NewRequest(http.MethodGet, e.Path, nil))
		want, _ := topics.Schema(e.Resource)
		if got.status != http.StatusOK || got.header.Get("Content-Type") != "application/schema+json" || !bytes.Equal(got.body, want) {
			t.Errorf("GET %s: %d %s, want the embedded schema", e.Path, got.status, got.header.Get("Content-Type"))
			continue
		}
		var s struct {
			ID string `json:"$id"`
		}
		if err := json.Unmarshal(got.body, &s); err != nil || s.ID != e.DataSchema || s.ID != topics.DataSchema(e.Resource) {
			t.Errorf("%s: $id %q, want %q (%v)", e.Path, s.ID, e.DataSchema, err)
		}
	}
	for _, path := range []string{"/schemas/nope.json", "/schemas/subscription", "/schemas/deadletter.json", "/schemas/..%2Fgo.mod"} {
		if got := tb.serveAdmin(t, httptest.NewRequest(http.MethodGet, path, nil)); got.status != http.StatusNotFound || !strings.Contains(string(got.body), `"error"`) {
			t.Errorf("GET %s: %d %s, want 404 with a JSON error", path, got.status, got.body)
		}
	}
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name     string
		give     string // X-Request-Id sent; "" sends none
		wantEcho bool   // the response carries give; else a generated id
	}{
		{name: "valid", give: "req-7f3a_9c:1/2", wantEcho: true},
		{name: "128 bytes", give: strings.Repeat("r", 128), wantEcho: true},
		{name: "absent", give: ""},
		{name: "129 bytes", give: strings.Repeat("r", 129)},
		{name: "with a space", give: "req 1"},
		{name: "with a newline", give: "req-1\n{\"level\":\"error\"}"},
		{name: "with a control character", give: "req-\x01"},
		{name: "non-ASCII", give: "req-é"},
	}
	tb := newTestBridge(bridge.Options{})
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, body := range []string{goodSubscription, "not json"} {
				tb.log.reset()
				req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body))
				if tt.give != "" {
					req.Header.Set("X-Request-Id", tt.give)
				}
				got := tb.serve(t, req)
				rid := got.header.Get("X-Request-Id")
				switch {
				case tt.wantEcho && rid != tt.give:
					t.Errorf("X-Request-Id = %q, want %q echoed", rid, tt.give)
				case !tt.wantEcho && (rid == "" || rid == tt.give):
					t.Errorf("X-Request-Id = %q, want a generated id", rid)
				case !tt.wantEcho && seen[rid]:
					t.Errorf("generated X-Request-Id %q twice", rid)
				}
				seen[rid] = true
				for i := 0; i < len(rid); i++ {
					if rid[i] <= ' ' || rid[i] >= 0x7f {
						t.Errorf("X-Request-Id %q is not printable ASCII", rid)
						break
					}
				}
				if got.status >= 400 {
					if e := decodeBody[errorResponse](t, got); e.RequestID != rid {
						t.Errorf("error body request_id = %q, want %q", e.RequestID, rid)
					}
				}
				lines := tb.log.lines(t)
				if len(lines) != 1 || lines[0]["request_id"] != rid {
					t.Errorf("log lines %v, want one with request_id %q", lines, rid)
				}
			}
		})
	}
}
