package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// liveBridge is a bridge with a real Kafka writer behind a real listener.
type liveBridge struct {
	url    string
	kc     kafka.Config
	naming topics.Naming
}

func startLive(t *testing.T, kc kafka.Config, n topics.Naming, publishTimeout time.Duration) *liveBridge {
	t.Helper()
	wc := kafkatest.Writer(kc)
	wc.WriteTimeout = publishTimeout
	w, err := kafka.NewWriter(wc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	srv := bridge.NewServer(w, testOptions(bridge.Options{Naming: n, PublishTimeout: publishTimeout}), zerolog.Nop())
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &liveBridge{url: hs.URL, kc: kc, naming: n}
}

func (b *liveBridge) post(t *testing.T, body string) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := http.Post(b.url+"/webhooks", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("response body is not JSON: %q", raw)
	}
	return resp.StatusCode, resp.Header, m
}

// event builds a webhook of resource type typ; content "" means none.
func event(id, typ, action, resourceUUID, url, content string) string {
	res := fmt.Sprintf(`"type":%q,"uuid":%q,"url":%q`, typ, resourceUUID, url)
	if content != "" {
		res += `,"content":` + content
	}
	return fmt.Sprintf(`{"uuid":%q,"timestamp":1718035200123,"resource":{%s},"resourceAction":%q}`, id, res, action)
}

// partitionOf is where Java's default partitioner puts key among n
// partitions (murmur2; topics' tests check it against Java itself).
func partitionOf(key string, n int) int {
	ps := make([]int, n)
	for i := range ps {
		ps[i] = i
	}
	return (&kafkago.Murmur2Balancer{}).Balance(kafkago.Message{Key: []byte(key)}, ps...)
}

func TestIntegrationEveryResourceAndActionLandsKeyedByCompany(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	const partitions = 6
	kafkatest.CreateTopics(t, kc, n, partitions)
	b := startLive(t, kc, n, 10*time.Second)

	type sent struct{ id, key, company, action string }
	want := map[string][]sent{}
	i := 0
	for _, r := range topics.Catalog {
		for _, a := range r.Actions {
			i++
			id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
			company := fmt.Sprintf("company-%d", i%4)
			resUUID := fmt.Sprintf("res-%d", i)
			content := fmt.Sprintf(`{"id":%q,"company":{"id":%q},"companyUuid":%q,"order":{"company":{"id":%q}},"memberships":[{"company":{"id":%q}}]}`,
				resUUID, company, company, company, company)
			url := "https://acme.example.org/api/x/" + resUUID
			key, wantCompany := company, company
			switch {
			case r.Name == "company":
				key, wantCompany = resUUID, resUUID
			case r.Name == "membership":
				url = "https://acme.example.org/api/account/v1/companies/" + company + "/users/" + resUUID
			case a == topics.Removed || len(r.CompanyPaths) == 0:
				key, wantCompany = resUUID, ""
			}
			if a == topics.Removed {
				content = ""
			}
			wireAction := strings.ToUpper(string(a))
			status, _, body := b.post(t, event(id, r.Type, wireAction, resUUID, url, content))
			if status != http.StatusAccepted {
				t.Fatalf("%s %s: status %d, body %v", r.Type, wireAction, status, body)
			}
			if body["topic"] != n.Topic(r.Name) || body["event_id"] != id {
				t.Errorf("%s %s: 202 body %v, want topic %s and event_id %s", r.Type, wireAction, body, n.Topic(r.Name), id)
			}
			want[r.Name] = append(want[r.Name], sent{id: id, key: key, company: wantCompany, action: string(a)})
		}
	}
	for _, r := range topics.Catalog {
		msgs := kafkatest.ReadAll(t, kc, n.Topic(r.Name), 30*time.Second)
		if len(msgs) != len(want[r.Name]) {
			t.Fatalf("%s: %d records, want %d", r.Name, len(msgs), len(want[r.Name]))
		}
		byID := map[string]kafkago.Message{}
		for _, m := range msgs {
			byID[kafkatest.Header(m, topics.HeaderEventID)] = m
		}
		for _, s := range want[r.Name] {
			m, ok := byID[s.id]
			if !ok {
				t.Errorf("%s: event %s not in the topic", r.Name, s.id)
				continue
			}
			if string(m.Key) != s.key {
				t.Errorf("%s %s: key %q, want %q", r.Name, s.action, m.Key, s.key)
			}
			if p := partitionOf(s.key, partitions); m.Partition != p {
				t.Errorf("%s %s: partition %d, want murmur2 partition %d", r.Name, s.action, m.Partition, p)
			}
			for h, v := range map[string]string{
				topics.HeaderResource: r.Name, topics.HeaderAction: s.action,
				topics.HeaderCompanyID: s.company, topics.HeaderContentType: topics.CloudEventsContentType,
			} {
				if got := kafkatest.Header(m, h); got != v {
					t.Errorf("%s %s: header %s = %q, want %q", r.Name, s.action, h, got, v)
				}
			}
			var ce struct {
				ID   string          `json:"id"`
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(m.Value, &ce); err != nil {
				t.Fatalf("%s: value is not JSON: %v", r.Name, err)
			}
			if ce.ID != s.id || ce.Type != "com.appdirect."+r.Name+"."+s.action {
				t.Errorf("%s: CloudEvent id %q type %q", r.Name, ce.ID, ce.Type)
			}
		}
	}
	if q := kafkatest.ReadAll(t, kc, n.Quarantine(), 30*time.Second); len(q) != 0 {
		t.Errorf("quarantine holds %d records, want none", len(q))
	}
}

func TestIntegrationOneCompanyStaysInOrderInOnePartition(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 6)
	b := startLive(t, kc, n, 10*time.Second)
	const count = 30
	for i := range count {
		action := "CHANGED"
		if i == 0 {
			action = "ADDED"
		}
		body := event(fmt.Sprintf("evt-%03d", i), "ORDER", action, "order-1", "https://m.example.org/api/billing/v1/orders/order-1",
			`{"id":"order-1","company":{"id":"company-42"}}`)
		if status, _, resp := b.post(t, body); status != http.StatusAccepted {
			t.Fatalf("post %d: %d %v", i, status, resp)
		}
	}
	msgs := kafkatest.ReadAll(t, kc, n.Topic("order"), 30*time.Second)
	if len(msgs) != count {
		t.Fatalf("%d records, want %d", len(msgs), count)
	}
	for i, m := range msgs {
		if m.Partition != msgs[0].Partition {
			t.Fatalf("record %d in partition %d, first in %d", i, m.Partition, msgs[0].Partition)
		}
		if id := kafkatest.Header(m, topics.HeaderEventID); id != fmt.Sprintf("evt-%03d", i) {
			t.Errorf("offset %d holds %s: acknowledged order not kept", m.Offset, id)
		}
	}
}

func TestIntegrationBadInputIsQuarantinedRaw(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 3)
	b := startLive(t, kc, n, 10*time.Second)
	tests := []struct {
		name, body, code string
		status           int
		eventID          string
	}{
		{"not json", `{"uuid":`, topics.CodeInvalidJSON, 400, ""},
		{"no type", `{"uuid":"e-1","resource":{},"resourceAction":"ADDED"}`, topics.CodeInvalidEnvelope, 400, "e-1"},
		{"unknown type", event("e-2", "SALES_OPPORTUNITY", "ADDED", "r", "", `{}`), topics.CodeUnknownResource, 422, "e-2"},
		{"unsupported action", event("e-3", "RESELLER_REGISTRANT", "CHANGED", "r", "", `{}`), topics.CodeUnsupportedAction, 422, "e-3"},
	}
	for _, tt := range tests {
		status, _, body := b.post(t, tt.body)
		if status != tt.status || body["error"] != tt.code {
			t.Errorf("%s: got %d %v, want %d %s", tt.name, status, body["error"], tt.status, tt.code)
		}
	}
	q := kafkatest.ReadAll(t, kc, n.Quarantine(), 30*time.Second)
	if len(q) != len(tests) {
		t.Fatalf("quarantine holds %d records, want %d", len(q), len(tests))
	}
	byBody := map[string]kafkago.Message{}
	for _, m := range q {
		byBody[string(m.Value)] = m
	}
	for _, tt := range tests {
		m, ok := byBody[tt.body]
		if !ok {
			t.Errorf("%s: raw body not quarantined unchanged", tt.name)
			continue
		}
		if got := kafkatest.Header(m, topics.HeaderError); got != tt.code {
			t.Errorf("%s: error header %q, want %q", tt.name, got, tt.code)
		}
		if kafkatest.Header(m, topics.HeaderErrorDetail) == "" {
			t.Errorf("%s: no error-detail header", tt.name)
		}
		if got := kafkatest.Header(m, topics.HeaderEventID); got != tt.eventID {
			t.Errorf("%s: event-id header %q, want %q", tt.name, got, tt.eventID)
		}
	}
	for _, r := range topics.Catalog {
		if msgs := kafkatest.ReadAll(t, kc, n.Topic(r.Name), 30*time.Second); len(msgs) != 0 {
			t.Errorf("%s holds %d records after bad input only", r.Name, len(msgs))
		}
	}
}

func TestIntegrationMissingTopicIs503AndNotReady(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t) // topics deliberately not created
	b := startLive(t, kc, n, 3*time.Second)
	start := time.Now()
	status, hdr, body := b.post(t, event("e-1", "ORDER", "ADDED", "o", "", `{"company":{"id":"c"}}`))
	if status != http.StatusServiceUnavailable || body["error"] != "kafka_unavailable" || hdr.Get("Retry-After") == "" {
		t.Fatalf("got %d %v Retry-After=%q, want 503 kafka_unavailable with Retry-After", status, body, hdr.Get("Retry-After"))
	}
	if d := time.Since(start); d > 3*time.Second+5*time.Second {
		t.Errorf("503 took %s, more than the publish timeout allows", d)
	}
	admin, err := kafka.NewAdmin(kc, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	err = admin.Check(context.Background(), n.All())
	if err == nil || !strings.Contains(err.Error(), n.Topic("order")) {
		t.Errorf("readiness check = %v, want it to name the missing topic %s", err, n.Topic("order"))
	}
}

func TestIntegrationUnreachableBrokerIs503WithinTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	b := startLive(t, kafka.Config{Brokers: []string{addr}, DialTimeout: time.Second}, topics.Naming{Prefix: "x."}, 2*time.Second)
	start := time.Now()
	status, hdr, _ := b.post(t, event("e-1", "ORDER", "ADDED", "o", "", `{"company":{"id":"c"}}`))
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q, want 503 with Retry-After", status, hdr.Get("Retry-After"))
	}
	if d := time.Since(start); d > 2*time.Second+5*time.Second {
		t.Errorf("503 took %s; the publish timeout is 2s", d)
	}
}
