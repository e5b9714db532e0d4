package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// ceCapture is a Publisher that keeps the records it acknowledges.
type ceCapture struct {
	mu   sync.Mutex
	recs []topics.Record
}

func (p *ceCapture) Publish(_ context.Context, recs ...topics.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recs = append(p.recs, recs...)
	return nil
}

// cePost posts body through a fresh server and returns the one record it
// published.
func cePost(t *testing.T, body []byte) topics.Record {
	t.Helper()
	pub := &ceCapture{}
	srv := NewServer(pub, Options{Naming: topics.Naming{Prefix: "appdirect."}, MaxBodyBytes: 1 << 20, PublishTimeout: 10 * time.Second,
		RetryAfter: 5 * time.Second, MaxInFlight: 1000, MaxInFlightBytes: 64 << 20, MaxRecordBytes: 1<<20 + 64<<10}, zerolog.Nop())
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(body)))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body: %s", rec.Code, rec.Body)
	}
	if len(pub.recs) != 1 {
		t.Fatalf("published %d records, want 1", len(pub.recs))
	}
	return pub.recs[0]
}

// ceAttributes decodes a CloudEvent's context attributes (every member but
// data) and checks that data is the body.
func ceAttributes(t *testing.T, value, body []byte) map[string]string {
	t.Helper()
	if !json.Valid(value) || !utf8.Valid(value) {
		t.Fatalf("CloudEvent is not valid UTF-8 JSON: %s", value)
	}
	var ce map[string]json.RawMessage
	if err := json.Unmarshal(value, &ce); err != nil {
		t.Fatalf("CloudEvent is not an object: %v", err)
	}
	attrs := map[string]string{}
	for k, raw := range ce {
		if k == "data" {
			if !bytes.Equal(raw, bytes.TrimSpace(body)) {
				t.Errorf("data = %s, want the body %s", raw, body)
			}
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Errorf("attribute %s = %s, want a string", k, raw)
		}
		attrs[k] = s
	}
	return attrs
}

func TestCloudEventIsValidJSONForEverySample(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "samples", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no samples in testdata/samples")
	}
	for _, p := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(p), ".json"), func(t *testing.T) {
			body, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rec := cePost(t, body)
			attrs := ceAttributes(t, rec.Value, body)
			for _, a := range []string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"} {
				if attrs[a] == "" {
					t.Errorf("CloudEvent has no %s: %s", a, rec.Value)
				}
			}
		})
	}
}

func TestCloudEventAttributes(t *testing.T) {
	tests := []struct {
		name string
		give string
		want map[string]string // every attribute but data
	}{
		{
			name: "ids that need escaping",
			give: `{"uuid":"evt \"1\" \\ <&>","timestamp":1718035200123,"resource":{"type":"ORDER","uuid":"ord\"1\u0000 \u2028 é","url":"https://acme.byappdirect.com/api/billing/v1/orders/1","content":{"company":{"id":"co 'quoted' <é>"}}},"resourceAction":"ADDED"}`,
			want: map[string]string{
				"specversion": "1.0", "id": "evt \"1\" \\ <&>", "source": "https://acme.byappdirect.com",
				"type": "com.appdirect.order.added", "subject": "ord\"1\x00 \u2028 é", "time": "2024-06-10T16:00:00.123Z",
				"datacontenttype": "application/json", "dataschema": "urn:webhook-bridge:schema:order:v1", "companyid": "co 'quoted' <é>",
			},
		},
		{
			name: "escaped member names and type",
			give: `{"\u0075uid":"evt-esc","timestamp":1718035200123,"resource":{"type":"SUB\u0053CRIPTION","uuid":"sub-1","url":"https://acme.byappdirect.com/s"},"resourceAction":"REMOVED"}`,
			want: map[string]string{
				"specversion": "1.0", "id": "evt-esc", "source": "https://acme.byappdirect.com",
				"type": "com.appdirect.subscription.removed", "subject": "sub-1", "time": "2024-06-10T16:00:00.123Z",
				"datacontenttype": "application/json", "dataschema": "urn:webhook-bridge:schema:subscription:v1",
			},
		},
		{
			name: "no url, no timestamp",
			give: `{"uuid":"evt-bare","resource":{"type":"DISCOUNT","uuid":"d-1"},"resourceAction":"REMOVED"}`,
			want: map[string]string{
				"specversion": "1.0", "id": "evt-bare", "source": "appdirect", "type": "com.appdirect.discount.removed",
				"subject": "d-1", "datacontenttype": "application/json", "dataschema": "urn:webhook-bridge:schema:discount:v1",
			},
		},
		{
			name: "null url and timestamp",
			give: `{"uuid":"evt-null","timestamp":null,"resource":{"type":"DISCOUNT","uuid":"d-1","url":null},"resourceAction":"REMOVED"}`,
			want: map[string]string{
				"specversion": "1.0", "id": "evt-null", "source": "appdirect", "type": "com.appdirect.discount.removed",
				"subject": "d-1", "datacontenttype": "application/json", "dataschema": "urn:webhook-bridge:schema:discount:v1",
			},
		},
		{
			name: "no resource.uuid",
			give: `{"uuid":"evt-nosubj","timestamp":0,"resource":{"type":"PLATFORM","url":"http://10.0.0.7:8080/api/p"},"resourceAction":"ADDED"}`,
			want: map[string]string{
				"specversion": "1.0", "id": "evt-nosubj", "source": "http://10.0.0.7:8080", "type": "com.appdirect.platform.added",
				"time": "1970-01-01T00:00:00.000Z", "datacontenttype": "application/json", "dataschema": "urn:webhook-bridge:schema:platform:v1",
			},
		},
		{
			name: "last millisecond of year 9999",
			give: `{"uuid":"evt-9999","timestamp":253402300799999,"resource":{"type":"DISCOUNT","uuid":"d-1"},"resourceAction":"REMOVED"}`,
			want: map[string]string{
				"specversion": "1.0", "id": "evt-9999", "source": "appdirect", "type": "com.appdirect.discount.removed",
				"subject": "d-1", "time": "9999-12-31T23:59:59.999Z", "datacontenttype": "application/json", "dataschema": "urn:webhook-bridge:schema:discount:v1",
			},
		},
		{
			// The last instant RFC 3339 can write; one later is refused
			// (TestParseEnvelopeErrors).
			name: "timestamp at the end of year 9999",
			give: `{"uuid":"evt-9999","timestamp":253402300799999,"resource":{"type":"DISCOUNT","uuid":"d-1"},"resourceAction":"REMOVED"}`,
			want: map[string]string{
				"specversion": "1.0", "id": "evt-9999", "source": "appdirect", "type": "com.appdirect.discount.removed",
				"subject": "d-1", "time": "9999-12-31T23:59:59.999Z", "datacontenttype": "application/json", "dataschema": "urn:webhook-bridge:schema:discount:v1",
			},
		},
		{
			name: "relative url",
			give: `{"uuid":"evt-rel","timestamp":1718035200000,"resource":{"type":"LEAD","uuid":"l-1","url":"/api/channel/v1/leads/l-1"},"resourceAction":"CHANGED"}`,
			want: map[string]string{
				"specversion": "1.0", "id": "evt-rel", "source": "appdirect", "type": "com.appdirect.lead.changed",
				"subject": "l-1", "time": "2024-06-10T16:00:00.000Z", "datacontenttype": "application/json", "dataschema": "urn:webhook-bridge:schema:lead:v1",
			},
		},
		{
			name: "url with credentials",
			give: `{"uuid":"evt-cred","timestamp":1718035200000,"resource":{"type":"LEAD","uuid":"l-1","url":"https://bot:s3cret@acme.byappdirect.com/api/l-1"},"resourceAction":"CHANGED"}`,
			want: map[string]string{
				"specversion": "1.0", "id": "evt-cred", "source": "https://acme.byappdirect.com", "type": "com.appdirect.lead.changed",
				"subject": "l-1", "time": "2024-06-10T16:00:00.000Z", "datacontenttype": "application/json", "dataschema": "urn:webhook-bridge:schema:lead:v1",
			},
		},
		{
			name: "body with surrounding whitespace",
			give: "\n\t " + `{"uuid":"evt-ws","timestamp":1718035200000,"resource":{"type":"MEMBERSHIP","uuid":"u-1","url":"https://acme.byappdirect.com/api/account/v1/companies/co-7/users/u-1"},"resourceAction":"REMOVED"}` + " \r\n",
			want: map[string]string{
				"specversion": "1.0", "id": "evt-ws", "source": "https://acme.byappdirect.com", "type": "com.appdirect.membership.removed",
				"subject": "u-1", "time": "2024-06-10T16:00:00.000Z", "datacontenttype": "application/json", "dataschema": "urn:webhook-bridge:schema:membership:v1", "companyid": "co-7",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := cePost(t, []byte(tt.give))
			got := ceAttributes(t, rec.Value, []byte(tt.give))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CloudEvent attributes (-want +got):\n%s\nvalue: %s", diff, rec.Value)
			}
		})
	}
}
