package topics_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/go-cmp/cmp"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// goldenDir holds the bridge's record for every sample webhook.
const (
	goldenDir  = "../bridge/testdata/golden"
	samplesDir = "../bridge/testdata/samples"
)

// golden is a record as bridge/testdata/golden keeps it.
type golden struct {
	Topic   string `json:"topic"`
	Key     string `json:"key"`
	Headers []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"headers"`
	Value json.RawMessage `json:"value"`
}

// goldenMessages returns every golden record as the topics.Record a consumer
// reads, by file name.
func goldenMessages(t *testing.T) map[string]topics.Record {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in %s: %v", goldenDir, err)
	}
	out := map[string]topics.Record{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var g golden
		if err := json.Unmarshal(raw, &g); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		m := topics.Record{Topic: g.Topic, Key: []byte(g.Key), Value: g.Value}
		for _, h := range g.Headers {
			m.Headers = append(m.Headers, topics.Header{Key: h.Key, Value: []byte(h.Value)})
		}
		out[filepath.Base(f)] = m
	}
	return out
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return buf.String()
}

func TestDecodeEveryGoldenRecord(t *testing.T) {
	for name, m := range goldenMessages(t) {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			ev, err := decode(m)
			if err != nil {
				t.Fatal(err)
			}
			sample, err := os.ReadFile(filepath.Join(samplesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			// The golden files hold values re-indented, so only the JSON is
			// compared here; TestDecodeGivesTheBodyByteForByte compares bytes.
			if compact(t, ev.Data) != compact(t, sample) {
				t.Errorf("Data is not the sample webhook")
			}
			env, err := topics.ParseEnvelope(sample)
			if err != nil {
				t.Fatal(err)
			}
			res, _ := topics.Lookup(env.Type)
			act, _ := topics.ParseAction(env.Action)
			header := func(k string) string { v, _ := topics.HeaderValue(m.Headers, k); return v }
			want := map[string]any{
				"id": env.ID, "type": "com.appdirect." + res.Name + "." + string(act), "subject": env.ResourceUUID,
				"time": env.Timestamp.UTC(), "resource": res.Name, "action": act, "key": string(m.Key),
				"company": header(topics.HeaderCompanyID), "source": header(topics.HeaderCompanyIDSource),
				"webhook":    [4]string{env.ID, env.Type, env.ResourceUUID, env.Action},
				"dataschema": "urn:webhook-bridge:schema:" + res.Name + ":v1",
			}
			got := map[string]any{
				"id": ev.ID, "type": ev.Type, "subject": ev.Subject, "time": ev.Time.UTC(), "resource": ev.Resource,
				"action": ev.Action, "key": ev.Key, "company": ev.CompanyID, "source": ev.CompanyIDSource,
				"webhook":    [4]string{ev.Webhook.ID, ev.Webhook.Type, ev.Webhook.ResourceUUID, ev.Webhook.Action},
				"dataschema": ev.DataSchema,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			if ev.CompanyID != "" && (len(ev.CompanyIDs) == 0 || ev.CompanyIDs[0] != ev.CompanyID) {
				t.Errorf("CompanyIDs %v do not start with CompanyID %s", ev.CompanyIDs, ev.CompanyID)
			}
		})
	}
}

// TestGoldenRecordsDecodeWithTheCloudEventsSDK shows that teams can read the
// topics with the CloudEvents Go SDK instead of Decode: every golden record
// is a valid structured-mode JSON event with the same attributes.
func TestGoldenRecordsDecodeWithTheCloudEventsSDK(t *testing.T) {
	for name, m := range goldenMessages(t) {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			ev, err := decode(m)
			if err != nil {
				t.Fatal(err)
			}
			contentType, _ := topics.HeaderValue(m.Headers, topics.HeaderContentType)
			f := format.Lookup(contentType)
			if f == nil {
				t.Fatalf("the SDK knows no event format for content-type %q", contentType)
			}
			var sdk cloudevents.Event
			if err := f.Unmarshal(m.Value, &sdk); err != nil {
				t.Fatalf("SDK: %v", err)
			}
			if err := sdk.Validate(); err != nil {
				t.Fatalf("SDK: invalid event: %v", err)
			}
			var viaJSON cloudevents.Event
			if err := json.Unmarshal(m.Value, &viaJSON); err != nil {
				t.Fatalf("SDK UnmarshalJSON: %v", err)
			}
			if viaJSON.ID() != sdk.ID() {
				t.Errorf("format.JSON and UnmarshalJSON disagree")
			}
			companyID, _ := sdk.Extensions()["companyid"].(string)
			want := []any{ev.SpecVersion, ev.ID, ev.Source, ev.Type, ev.Subject, ev.Time.UTC(), ev.DataContentType, ev.DataSchema, ev.CompanyID}
			got := []any{sdk.SpecVersion(), sdk.ID(), sdk.Source(), sdk.Type(), sdk.Subject(), sdk.Time().UTC(), sdk.DataContentType(), sdk.DataSchema(), companyID}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("SDK attributes (-Decode +SDK):\n%s", diff)
			}
			if compact(t, sdk.Data()) != compact(t, ev.Data) {
				t.Errorf("SDK data differs from Decode's")
			}
			var data map[string]any
			if err := sdk.DataAs(&data); err != nil || data["uuid"] != ev.ID {
				t.Errorf("SDK DataAs: %v, uuid %v", err, data["uuid"])
			}
		})
	}
}

func TestDecodeKeepsDataByteForByte(t *testing.T) {
	body := `{ "uuid" : "e-1",  "resource":{"type":"USER","uuid":"u-1"},` + "\n\t" + `"resourceAction":"REMOVED" }`
	m := topics.Record{Value: []byte(`{"specversion":"1.0","id":"e-1","source":"appdirect","type":"com.appdirect.user.removed","subject":"u-1","datacontenttype":"application/json","data":` + body + `}`)}
	ev, err := decode(m)
	if err != nil {
		t.Fatal(err)
	}
	if string(ev.Data) != body {
		t.Errorf("Data = %q, want %q", ev.Data, body)
	}
	if !ev.Time.IsZero() || ev.CompanyID != "" || ev.CompanyIDs != nil {
		t.Errorf("absent time and company decoded as %v, %q, %v", ev.Time, ev.CompanyID, ev.CompanyIDs)
	}
}

func TestDecodeErrors(t *testing.T) {
	const data = `{"uuid":"e-1","resource":{"type":"USER"},"resourceAction":"ADDED"}`
	ce := func(attrs string) []byte {
		return []byte(`{"specversion":"1.0","id":"e-1","source":"appdirect","datacontenttype":"application/json"` + attrs + `}`)
	}
	hdr := func(kv ...string) []topics.Header {
		var hs []topics.Header
		for i := 0; i+1 < len(kv); i += 2 {
			hs = append(hs, topics.Header{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	tests := []struct {
		name     string
		give     topics.Record
		want     string
		notEvent bool
	}{
		{name: "quarantined body", give: topics.Record{Value: []byte(`{"uuid":1}`), Headers: hdr("error", "invalid_envelope")}, want: "quarantined", notEvent: true},
		{name: "index record", give: topics.Record{Key: []byte("user:u-1"), Value: []byte("co-1")}, want: "not a CloudEvents JSON object", notEvent: true},
		{name: "tombstone", give: topics.Record{Key: []byte("user:u-1")}, want: "not a CloudEvents JSON object", notEvent: true},
		{name: "other spec version", give: topics.Record{Value: []byte(`{"specversion":"0.3","id":"e-1","source":"s","type":"com.appdirect.user.added","data":` + data + `}`)}, want: "specversion", notEvent: true},
		{name: "no id", give: topics.Record{Value: []byte(`{"specversion":"1.0","source":"s","type":"com.appdirect.user.added","data":` + data + `}`)}, want: "id, source or type", notEvent: true},
		{name: "no data", give: topics.Record{Value: ce(`,"type":"com.appdirect.user.added"`)}, want: "no data", notEvent: true},
		{name: "foreign type", give: topics.Record{Value: ce(`,"type":"org.example.thing","data":` + data)}, want: "is not com.appdirect.", notEvent: true},
		{name: "bad time", give: topics.Record{Value: ce(`,"type":"com.appdirect.user.added","time":"yesterday","data":` + data)}, want: "not RFC 3339"},
		{name: "action header disagrees", give: topics.Record{Value: ce(`,"type":"com.appdirect.user.added","data":` + data), Headers: hdr("action", "removed")}, want: "header action"},
		{name: "company disagrees", give: topics.Record{Value: ce(`,"type":"com.appdirect.user.added","companyid":"a","data":` + data), Headers: hdr("company-id", "b")}, want: "companyid"},
		{name: "data is not a webhook", give: topics.Record{Value: ce(`,"type":"com.appdirect.user.added","data":{"x":1}`)}, want: "data is not a webhook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(tt.give)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode error = %v, want one containing %q", err, tt.want)
			}
			if errors.Is(err, topics.ErrNotEvent) != tt.notEvent {
				t.Errorf("errors.Is(err, ErrNotEvent) = %v, want %v", !tt.notEvent, tt.notEvent)
			}
		})
	}
	// A valid record with a time decodes it in UTC.
	ev, err := decode(topics.Record{Value: ce(`,"type":"com.appdirect.user.added","time":"2024-06-10T16:00:00.123Z","data":` + data)})
	if err != nil || !ev.Time.Equal(time.Date(2024, 6, 10, 16, 0, 0, 123e6, time.UTC)) {
		t.Errorf("Decode = %v, %v", ev.Time, err)
	}
}

// decode is topics.Decode of a whole record, with the key a consumer reads
// next to the headers and value.
func decode(r topics.Record) (topics.Event, error) {
	ev, err := topics.Decode(r.Headers, r.Value)
	ev.Key = string(r.Key)
	return ev, err
}

// TestDecodeGivesTheBodyByteForByte: the whitespace around a body is part of
// it, and Decode's Data is the body as received, a copy of the value's bytes.
func TestDecodeGivesTheBodyByteForByte(t *testing.T) {
	const env = `{"uuid":"e1","timestamp":1718035200123,"resource":{"type":"DISCOUNT","uuid":"d-1"},"resourceAction":"REMOVED"}`
	for _, body := range []string{env, env + "\n", "  \t" + env + "\r\n ", "\n" + env} {
		r, err := topics.Normalize([]byte(body), topics.Naming{Prefix: "appdirect."}, nil)
		if err != nil {
			t.Fatalf("Normalize(%q): %v", body, err)
		}
		ev, err := topics.Decode(r.Record.Headers, r.Record.Value)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if string(ev.Data) != body {
			t.Errorf("Data = %q, want the body %q", ev.Data, body)
		}
		for i := range r.Record.Value {
			r.Record.Value[i] = 'x'
		}
		if string(ev.Data) != body {
			t.Errorf("Data changed with the value it came from: %q", ev.Data)
		}
	}
}
