package bridge_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// indexedBridge is one bridge replica: a real writer, its own company index
// following the index topic, and a real listener.
type indexedBridge struct {
	*liveBridge
	index *kafka.Index
}

// startIndexed starts a replica and waits until its index caught up.
func startIndexed(t *testing.T, kc kafka.Config, n topics.Naming) *indexedBridge {
	t.Helper()
	x := kafkatest.RunIndex(t, kc, n)
	w, err := kafka.NewWriter(kafkatest.Writer(kc), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	srv := bridge.NewServer(w, testOptions(bridge.Options{Naming: n, Index: x, Ready: x.Ready}), zerolog.Nop())
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := x.WaitCaughtUp(wctx); err != nil {
		t.Fatal(err)
	}
	b := &indexedBridge{liveBridge: &liveBridge{url: hs.URL, kc: kc, naming: n}, index: x}
	rec := httptest.NewRecorder()
	srv.Admin().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/readyz after the index caught up: %d %s", rec.Code, rec.Body)
	}
	return b
}

// accept posts body and fails the test unless it is accepted.
func (b *indexedBridge) accept(t *testing.T, body string) map[string]any {
	t.Helper()
	status, _, resp := b.post(t, body)
	if status != http.StatusAccepted {
		t.Fatalf("status %d, body %v", status, resp)
	}
	return resp
}

// waitFor polls b's index until it maps name:uuid to want ("" for absent).
func (b *indexedBridge) waitFor(t *testing.T, name, uuid, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, ok := b.index.Company(name, uuid)
		if got == want && ok == (want != "") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("index maps %s:%s to %q (%v) after 30s, want %q", name, uuid, got, ok, want)
		}
		time.Sleep(20 * time.Millisecond) // polling a consumer we do not control
	}
}

// subscriptionEvents are an ADDED naming company and a REMOVED without
// content of the same subscription.
func subscriptionEvents(seq int, subUUID, company string) (added, removed string) {
	url := "https://acme.byappdirect.com/api/billing/v1/subscriptions/" + subUUID
	added = event(fmt.Sprintf("00000000-0000-4000-8000-%012d", 2*seq), "SUBSCRIPTION", "ADDED", subUUID, url,
		fmt.Sprintf(`{"id":%q,"order":{"company":{"id":%q}}}`, subUUID, company))
	removed = event(fmt.Sprintf("00000000-0000-4000-8000-%012d", 2*seq+1), "SUBSCRIPTION", "REMOVED", subUUID, url, "")
	return added, removed
}

// byEventID reads the subscription topic, by event id.
func byEventID(t *testing.T, kc kafka.Config, n topics.Naming) map[string]kafkago.Message {
	t.Helper()
	out := map[string]kafkago.Message{}
	for _, m := range kafkatest.ReadAll(t, kc, n.Topic("subscription"), 30*time.Second) {
		out[kafkatest.Header(m, topics.HeaderEventID)] = m
	}
	return out
}

// checkSameKey checks that the REMOVED record is keyed, partitioned and
// labelled like the ADDED one, with its company from the index.
func checkSameKey(t *testing.T, msgs map[string]kafkago.Message, added, removed, company string) {
	t.Helper()
	a, r := msgs[eventID(added)], msgs[eventID(removed)]
	if a.Value == nil || r.Value == nil {
		t.Fatalf("ADDED or REMOVED not in the topic (found %d records)", len(msgs))
	}
	if string(a.Key) != company || string(r.Key) != company || a.Partition != r.Partition {
		t.Errorf("ADDED key %q partition %d, REMOVED key %q partition %d; want both %q in one partition",
			a.Key, a.Partition, r.Key, r.Partition, company)
	}
	for h, want := range map[string]string{topics.HeaderCompanyID: company, topics.HeaderCompanyIDSource: topics.SourceIndex} {
		if got := kafkatest.Header(r, h); got != want {
			t.Errorf("REMOVED header %s = %q, want %q", h, got, want)
		}
	}
	if got := kafkatest.Header(a, topics.HeaderCompanyIDSource); got != topics.SourcePayload {
		t.Errorf("ADDED company-id-source = %q, want payload", got)
	}
}

func eventID(body string) string {
	env, _ := topics.ParseEnvelope([]byte(body))
	return env.ID
}

func TestIntegrationIndexKeysRemovedByTheCompanyOfAdded(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 6)
	b := startIndexed(t, kc, n)
	const sub, company = "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21", "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"
	added, removed := subscriptionEvents(1, sub, company)

	b.accept(t, added)
	// No waiting: the replica learned the mapping when it was acknowledged.
	if resp := b.accept(t, removed); resp["key"] != company {
		t.Errorf("REMOVED answered key %v, want %s", resp["key"], company)
	}
	checkSameKey(t, byEventID(t, kc, n), added, removed, company)

	// The index topic holds the mapping, then its tombstone.
	idx := kafkatest.ReadAll(t, kc, n.Index(), 30*time.Second)
	if len(idx) != 2 || string(idx[0].Key) != "subscription:"+sub || string(idx[0].Value) != company ||
		string(idx[1].Key) != "subscription:"+sub || idx[1].Value != nil {
		t.Errorf("index topic holds %d records, want the mapping then a tombstone of subscription:%s", len(idx), sub)
		for _, m := range idx {
			t.Logf("  %s = %q", m.Key, m.Value)
		}
	}
}

func TestIntegrationIndexAcrossReplicasAndRestarts(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 6)
	one, two := startIndexed(t, kc, n), startIndexed(t, kc, n)

	// ADDED to one replica, REMOVED to the other a moment later, once it
	// has read the mapping from the index topic.
	const sub1, co1 = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", "company-one"
	added1, removed1 := subscriptionEvents(1, sub1, co1)
	one.accept(t, added1)
	two.waitFor(t, "subscription", sub1, co1)
	two.accept(t, removed1)

	// A mapping survives a restart: a new replica reads it at start.
	const sub2, co2 = "a9d4e6b2-1c3f-4a58-b7e0-d2f1c9e8a704", "company-two"
	added2, removed2 := subscriptionEvents(2, sub2, co2)
	one.accept(t, added2)
	restarted := startIndexed(t, kc, n)
	if got, ok := restarted.index.Company("subscription", sub2); !ok || got != co2 {
		t.Fatalf("restarted replica maps subscription:%s to %q, %v; want %s", sub2, got, ok, co2)
	}
	restarted.accept(t, removed2)

	// The tombstone removed both mappings everywhere: a replica started now
	// knows neither, and the old replicas forget them too.
	fresh := startIndexed(t, kc, n)
	for _, b := range []*indexedBridge{one, two, restarted, fresh} {
		b.waitFor(t, "subscription", sub1, "")
		b.waitFor(t, "subscription", sub2, "")
	}
	if fresh.index.Len() != 0 {
		t.Errorf("fresh replica holds %d entries, want 0", fresh.index.Len())
	}
	url := "https://acme.byappdirect.com/api/billing/v1/subscriptions/" + sub2
	again := event("00000000-0000-4000-8000-000000000099", "SUBSCRIPTION", "REMOVED", sub2, url, "")
	if resp := fresh.accept(t, again); resp["key"] != sub2 {
		t.Errorf("REMOVED of an entity no longer indexed: key %v, want its uuid %s", resp["key"], sub2)
	}

	msgs := byEventID(t, kc, n)
	checkSameKey(t, msgs, added1, removed1, co1)
	checkSameKey(t, msgs, added2, removed2, co2)
	if m := msgs[eventID(again)]; kafkatest.Header(m, topics.HeaderCompanyIDSource) != topics.SourceNone ||
		kafkatest.Header(m, topics.HeaderCompanyID) != "" {
		t.Errorf("REMOVED after the tombstone: company-id-source %q company-id %q, want none and no company",
			kafkatest.Header(m, topics.HeaderCompanyIDSource), kafkatest.Header(m, topics.HeaderCompanyID))
	}
}
