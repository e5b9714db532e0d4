package bridge_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden from the current output")

const (
	samplesDir = "testdata/samples"
	goldenDir  = "testdata/golden"
)

// sampleNames is the file name of one sample per resource and action the
// catalog supports: <topic name>-<action>.json.
func sampleNames() []string {
	var names []string
	for _, r := range topics.Catalog {
		for _, a := range r.Actions {
			names = append(names, r.Name+"-"+string(a)+".json")
		}
	}
	slices.Sort(names)
	return names
}

// sampleKeys is where each sample's company is, per the catalog's rules:
// the record key and the company-id header ("" for none).
var sampleKeys = map[string]struct{ key, company string }{
	// content.companyUuid; REMOVED has no content, so resource.uuid.
	"app-assignment-added.json":   {"8f14e45f-ceea-467f-a0e6-4b3c2d1e0f9a", "8f14e45f-ceea-467f-a0e6-4b3c2d1e0f9a"},
	"app-assignment-changed.json": {"8f14e45f-ceea-467f-a0e6-4b3c2d1e0f9a", "8f14e45f-ceea-467f-a0e6-4b3c2d1e0f9a"},
	"app-assignment-removed.json": {"0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", ""},
	// Marketplace-level: the vendor is not a customer company.
	"catalog-product-added.json":   {"665549", ""},
	"catalog-product-changed.json": {"665549", ""},
	"catalog-product-removed.json": {"665549", ""},
	// resource.uuid is the company, REMOVED included.
	"company-added.json":    {"2b7e1516-28ae-4d2a-b6f7-15880923cf4f", "2b7e1516-28ae-4d2a-b6f7-15880923cf4f"},
	"company-changed.json":  {"2b7e1516-28ae-4d2a-b6f7-15880923cf4f", "2b7e1516-28ae-4d2a-b6f7-15880923cf4f"},
	"company-removed.json":  {"2b7e1516-28ae-4d2a-b6f7-15880923cf4f", "2b7e1516-28ae-4d2a-b6f7-15880923cf4f"},
	"discount-added.json":   {"118432", ""},
	"discount-changed.json": {"118432", ""},
	"discount-removed.json": {"118432", ""},
	// content.company.id, not the seller's company.
	"invoice-added.json":   {"d4735e3a-265e-46ee-b0b6-7a1c9e2f5b38", "d4735e3a-265e-46ee-b0b6-7a1c9e2f5b38"},
	"invoice-changed.json": {"d4735e3a-265e-46ee-b0b6-7a1c9e2f5b38", "d4735e3a-265e-46ee-b0b6-7a1c9e2f5b38"},
	"invoice-removed.json": {"b5c6d7e8-f9a0-4b1c-9d2e-3f4a5b6c7d8e", ""},
	"lead-added.json":      {"3c9d2e1f-0a8b-4c7d-9e6f-5a4b3c2d1e0f", ""},
	"lead-changed.json":    {"3c9d2e1f-0a8b-4c7d-9e6f-5a4b3c2d1e0f", ""},
	"lead-removed.json":    {"3c9d2e1f-0a8b-4c7d-9e6f-5a4b3c2d1e0f", ""},
	// Only resource.url names the company, REMOVED included.
	"membership-added.json":   {"6b86b273-ff34-4fce-9d6b-804eff5a3f57", "6b86b273-ff34-4fce-9d6b-804eff5a3f57"},
	"membership-changed.json": {"6b86b273-ff34-4fce-9d6b-804eff5a3f57", "6b86b273-ff34-4fce-9d6b-804eff5a3f57"},
	"membership-removed.json": {"6b86b273-ff34-4fce-9d6b-804eff5a3f57", "6b86b273-ff34-4fce-9d6b-804eff5a3f57"},
	"order-added.json":        {"c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7", "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"},
	"order-changed.json":      {"c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7", "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"},
	"order-removed.json":      {"4410021", ""},
	// content.company.id.
	"payment-instrument-added.json":   {"c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7", "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"},
	"payment-instrument-changed.json": {"c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7", "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"},
	"platform-added.json":             {"acme-prod", ""},
	"platform-changed.json":           {"acme-prod", ""},
	"platform-removed.json":           {"acme-prod", ""},
	"quote-added.json":                {"8f14e45f-ceea-467f-a0e6-4b3c2d1e0f9a", "8f14e45f-ceea-467f-a0e6-4b3c2d1e0f9a"},
	"quote-changed.json":              {"8f14e45f-ceea-467f-a0e6-4b3c2d1e0f9a", "8f14e45f-ceea-467f-a0e6-4b3c2d1e0f9a"},
	"quote-removed.json":              {"q-20240610-0042", ""},
	"reseller-registrant-added.json":  {"1f2e3d4c-5b6a-4978-8a6b-5c4d3e2f1a0b", ""},
	"staging-product-added.json":      {"771203", ""},
	"staging-product-changed.json":    {"771203", ""},
	// ADDED has only content.order.company.id; CHANGED has content.company.id.
	"subscription-added.json":   {"c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7", "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"},
	"subscription-changed.json": {"c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7", "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"},
	"subscription-removed.json": {"5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21", ""},
	// The first of two memberships, in payload order.
	"user-added.json":   {"c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7", "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"},
	"user-changed.json": {"4e07408b-2bed-4f1c-a8d2-3c1d5e7b9a60", "4e07408b-2bed-4f1c-a8d2-3c1d5e7b9a60"},
	"user-removed.json": {"a9d4e6b2-1c3f-4a58-b7e0-d2f1c9e8a704", ""},
}

// goldenHeader is one record header, in order.
type goldenHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// goldenRecord is the normalized output for one sample: what the bridge
// hands to Kafka.
type goldenRecord struct {
	Topic   string          `json:"topic"`
	Key     string          `json:"key"`
	Headers []goldenHeader  `json:"headers"`
	Value   json.RawMessage `json:"value"` // the CloudEvent
}

// sampleEnvelope is what the checks below read from a sample.
type sampleEnvelope struct {
	UUID      string `json:"uuid"`
	Timestamp int64  `json:"timestamp"`
	Resource  struct {
		Type    string          `json:"type"`
		UUID    string          `json:"uuid"`
		URL     string          `json:"url"`
		Content json.RawMessage `json:"content"`
	} `json:"resource"`
	ResourceAction string `json:"resourceAction"`
}

func TestSamplesCoverTheCatalog(t *testing.T) {
	var got []string
	entries, err := os.ReadDir(samplesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff(sampleNames(), got); diff != "" {
		t.Errorf("%s: one sample per resource and supported action (-want +got):\n%s", samplesDir, diff)
	}
	var keyed []string
	for name := range sampleKeys {
		keyed = append(keyed, name)
	}
	slices.Sort(keyed)
	if diff := cmp.Diff(sampleNames(), keyed); diff != "" {
		t.Errorf("sampleKeys covers (-want +got):\n%s", diff)
	}

	ids := map[string]string{}
	for _, name := range got {
		body, err := os.ReadFile(filepath.Join(samplesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		var env sampleEnvelope
		if err := json.Unmarshal(body, &env); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if other, dup := ids[env.UUID]; dup {
			t.Errorf("%s and %s share the event uuid %s", other, name, env.UUID)
		}
		ids[env.UUID] = name
		res, ok := topics.Lookup(env.Resource.Type)
		wantName := strings.TrimSuffix(name, ".json")
		if !ok || res.Name+"-"+strings.ToLower(env.ResourceAction)+".json" != name {
			t.Errorf("%s holds a %s %s event, want the event its name says (%s)", name, env.Resource.Type, env.ResourceAction, wantName)
		}
		removed := env.ResourceAction == "REMOVED"
		if hasContent := len(env.Resource.Content) > 0; hasContent == removed {
			t.Errorf("%s: content present = %v; REMOVED events have none, the others do", name, hasContent)
		}
		if !removed && (len(body) < 512 || len(body) > 2048) {
			t.Errorf("%s is %d bytes, want a realistic 0.5-2 KiB", name, len(body))
		}
		if env.Timestamp <= 0 || env.Resource.UUID == "" || env.Resource.URL == "" {
			t.Errorf("%s: want a timestamp, resource.uuid and resource.url", name)
		}
	}
}

func TestGolden(t *testing.T) {
	tb := newTestBridge(bridge.Options{})
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range sampleNames() {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(samplesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			var env sampleEnvelope
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatal(err)
			}
			tb.pub.set(nil, false)
			tb.log.reset()

			got := tb.post(t, body)

			if got.status != http.StatusAccepted {
				t.Fatalf("status = %d, want 202; body: %s", got.status, got.body)
			}
			recs := tb.pub.records()
			if len(recs) != 1 {
				t.Fatalf("published %d records, want 1", len(recs))
			}
			rec := recs[0]
			ack := decodeBody[acceptedResponse](t, got)
			if ack.EventID != env.UUID || ack.Topic != rec.Topic {
				t.Errorf("202 body names event %q and topic %q, want %q and %q", ack.EventID, ack.Topic, env.UUID, rec.Topic)
			}

			checkContract(t, name, env, body, rec)
			checkRequestLog(t, tb.log.lines(t), got, env, rec)

			gotGolden := goldenRecord{Topic: rec.Topic, Key: string(rec.Key), Value: rec.Value}
			for _, h := range rec.Headers {
				gotGolden.Headers = append(gotGolden.Headers, goldenHeader{Key: h.Key, Value: string(h.Value)})
			}
			path := filepath.Join(goldenDir, name)
			if *update {
				if err := os.WriteFile(path, formatGolden(t, gotGolden), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./bridge -update to create it)", err)
			}
			var want goldenRecord
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if diff := cmp.Diff(want.Topic, gotGolden.Topic); diff != "" {
				t.Errorf("topic (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want.Key, gotGolden.Key); diff != "" {
				t.Errorf("key (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want.Headers, gotGolden.Headers); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(decodeJSON(t, want.Value), decodeJSON(t, gotGolden.Value)); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
			if t.Failed() {
				t.Logf("if the change is intended, run go test ./bridge -update and review the diff of %s", path)
			}
		})
	}

	t.Run("no stale golden files", func(t *testing.T) {
		entries, err := os.ReadDir(goldenDir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		if diff := cmp.Diff(sampleNames(), got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", goldenDir, diff)
		}
	})
}

// checkContract checks, independently of the golden file, what consumers
// rely on in the record of a sample.
func checkContract(t *testing.T, name string, env sampleEnvelope, body []byte, rec topics.Record) {
	t.Helper()
	res, _ := topics.Lookup(env.Resource.Type)
	action := strings.ToLower(env.ResourceAction)
	want := sampleKeys[name]

	if rec.Topic != testPrefix+res.Name {
		t.Errorf("topic = %q, want %q", rec.Topic, testPrefix+res.Name)
	}
	if string(rec.Key) != want.key {
		t.Errorf("key = %q, want %q", rec.Key, want.key)
	}
	wantHeaders := map[string]string{
		topics.HeaderResource:    res.Name,
		topics.HeaderAction:      action,
		topics.HeaderEventID:     env.UUID,
		topics.HeaderContentType: topics.CloudEventsContentType,
	}
	if want.company != "" {
		wantHeaders[topics.HeaderCompanyID] = want.company
	}
	gotHeaders := map[string]string{}
	for _, h := range rec.Headers {
		if _, dup := gotHeaders[h.Key]; dup {
			t.Errorf("header %q appears twice", h.Key)
		}
		gotHeaders[h.Key] = string(h.Value)
	}
	for k := range gotHeaders {
		if _, ok := wantHeaders[k]; !ok && k != topics.HeaderCompanyID {
			delete(gotHeaders, k) // other headers are the golden file's business
		}
	}
	if diff := cmp.Diff(wantHeaders, gotHeaders); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}

	var ce map[string]json.RawMessage
	if err := json.Unmarshal(rec.Value, &ce); err != nil {
		t.Fatalf("value is not a JSON object: %v", err)
	}
	str := func(attr string) (string, bool) {
		raw, ok := ce[attr]
		if !ok {
			return "", false
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Errorf("CloudEvent %s is not a string: %s", attr, raw)
		}
		return s, true
	}
	u, err := url.Parse(env.Resource.URL)
	if err != nil {
		t.Fatal(err)
	}
	wantAttrs := map[string]string{
		"specversion":     "1.0",
		"id":              env.UUID,
		"type":            "com.appdirect." + res.Name + "." + action,
		"source":          u.Scheme + "://" + u.Host,
		"subject":         env.Resource.UUID,
		"datacontenttype": "application/json",
		"dataschema":      "urn:webhook-bridge:schema:" + res.Name + ":v1",
	}
	if want.company != "" {
		wantAttrs["companyid"] = want.company
	}
	gotAttrs := map[string]string{}
	for attr := range ce {
		if attr == "data" || attr == "time" {
			continue
		}
		gotAttrs[attr], _ = str(attr)
	}
	if diff := cmp.Diff(wantAttrs, gotAttrs); diff != "" {
		t.Errorf("CloudEvent attributes (-want +got):\n%s", diff)
	}
	_, hasHeader := topics.HeaderValue(rec.Headers, topics.HeaderCompanyID)
	if _, hasExt := ce["companyid"]; hasExt != hasHeader {
		t.Errorf("companyid attribute present = %v, company-id header present = %v; want both or neither", hasExt, hasHeader)
	}

	ts, ok := str("time")
	wantTime := time.UnixMilli(env.Timestamp).UTC()
	if tm, err := time.Parse(time.RFC3339Nano, ts); !ok || err != nil || !tm.Equal(wantTime) || !strings.HasSuffix(ts, "Z") {
		t.Errorf("CloudEvent time = %q, want %s as RFC 3339 in UTC", ts, wantTime.Format(time.RFC3339Nano))
	}

	if data := ceData(t, rec.Value); !bytes.Equal(data, body) {
		t.Errorf("CloudEvent data is not the posted body byte for byte:\ngot  %q\nwant %q", data, body)
	}
}

// checkRequestLog checks the one log line of a request.
func checkRequestLog(t *testing.T, lines []map[string]any, got response, env sampleEnvelope, rec topics.Record) {
	t.Helper()
	if len(lines) != 1 {
		t.Fatalf("got %d log lines, want 1: %v", len(lines), lines)
	}
	l := lines[0]
	res, _ := topics.Lookup(env.Resource.Type)
	want := map[string]any{
		"request_id": got.header.Get("X-Request-Id"),
		"event_id":   env.UUID,
		"resource":   res.Name,
		"action":     strings.ToLower(env.ResourceAction),
		"topic":      rec.Topic,
		"status":     float64(http.StatusAccepted),
	}
	if company, ok := topics.HeaderValue(rec.Headers, topics.HeaderCompanyID); ok {
		want["company_id"] = company
	}
	gotFields := map[string]any{}
	for k := range want {
		gotFields[k] = l[k]
	}
	if _, ok := l["company_id"]; ok {
		gotFields["company_id"] = l["company_id"]
	}
	if diff := cmp.Diff(want, gotFields); diff != "" {
		t.Errorf("log line (-want +got):\n%s", diff)
	}
	if ms, ok := l["latency_ms"].(float64); !ok || ms < 0 {
		t.Errorf("log latency_ms = %v, want a duration in milliseconds", l["latency_ms"])
	}
}

// formatGolden writes g for people to read: one line per header, the
// CloudEvent indented.
func formatGolden(t *testing.T, g goldenRecord) []byte {
	t.Helper()
	var b bytes.Buffer
	line := func(format string, v any) {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, format, j)
	}
	b.WriteString("{\n")
	line("  \"topic\": %s,\n", g.Topic)
	line("  \"key\": %s,\n", g.Key)
	b.WriteString("  \"headers\": [\n")
	for i, h := range g.Headers {
		sep := ","
		if i == len(g.Headers)-1 {
			sep = ""
		}
		line("    %s"+sep+"\n", h)
	}
	b.WriteString("  ],\n  \"value\": ")
	if err := json.Indent(&b, g.Value, "  ", "  "); err != nil {
		t.Fatalf("value is not JSON: %v", err)
	}
	b.WriteString("\n}\n")
	return b.Bytes()
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v: %.200s", err, b)
	}
	return v
}
