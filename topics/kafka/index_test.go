package kafka_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

const indexTopic = "t.company-index"

func newTestIndex(t testing.TB) *kafka.Index {
	t.Helper()
	x, err := kafka.NewIndex(kafka.IndexConfig{Topic: indexTopic}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// mapping is an index record of the test topic; company "" is a tombstone.
func mapping(name, uuid, company string) topics.Record {
	return topics.IndexRecord(topics.Naming{Prefix: "t.", Internal: "t."}, name, uuid, company)
}

const (
	sub1 = "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21"
	sub2 = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
	coA  = "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"
	coB  = "8f14e45f-ceea-467f-a0e6-4b3c2d1e0f9a"
)

func TestIndexLearnAndLookup(t *testing.T) {
	type lookup struct {
		name, uuid string
		want       string // "" for not found
	}
	tests := []struct {
		name    string
		give    []topics.Record
		lookups []lookup
		wantLen int
	}{
		{
			name:    "canonical uuid",
			give:    []topics.Record{mapping("subscription", sub1, coA)},
			lookups: []lookup{{"subscription", sub1, coA}, {"order", sub1, ""}, {"subscription", sub2, ""}},
			wantLen: 1,
		},
		{
			name: "other spellings are kept exactly",
			give: []topics.Record{
				mapping("order", "4410021", coA),
				mapping("subscription", strings.ToUpper(sub1), coB),
				mapping("subscription", "{"+sub1+"}", coA),
			},
			lookups: []lookup{
				{"order", "4410021", coA},
				{"subscription", strings.ToUpper(sub1), coB},
				{"subscription", sub1, ""},
				{"subscription", "{" + sub1 + "}", coA},
			},
			wantLen: 3,
		},
		{
			name: "dashes where digits belong are another spelling",
			give: []topics.Record{
				mapping("subscription", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeee00", coA),
				mapping("subscription", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeee--", coB),
				mapping("subscription", "aaaaaaaa-bbbb-cccc-dddd--eeeeeeeeeee", coB),
			},
			lookups: []lookup{
				{"subscription", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeee00", coA},
				{"subscription", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeee--", coB},
				{"subscription", "aaaaaaaa-bbbb-cccc-dddd--eeeeeeeeeee", coB},
			},
			wantLen: 3,
		},
		{
			name:    "a name outside the catalog is kept too",
			give:    []topics.Record{mapping("opportunity", sub1, coA)},
			lookups: []lookup{{"opportunity", sub1, coA}},
			wantLen: 1,
		},
		{
			name:    "a later value replaces an earlier one",
			give:    []topics.Record{mapping("subscription", sub1, coA), mapping("subscription", sub1, coB)},
			lookups: []lookup{{"subscription", sub1, coB}},
			wantLen: 1,
		},
		{
			name: "tombstones remove",
			give: []topics.Record{
				mapping("subscription", sub1, coA), mapping("order", "4410021", coA),
				mapping("subscription", sub1, ""), mapping("order", "4410021", ""),
				mapping("user", sub2, ""), // of an entity never seen
			},
			lookups: []lookup{{"subscription", sub1, ""}, {"order", "4410021", ""}, {"user", sub2, ""}},
			wantLen: 0,
		},
		{
			name: "a company number is reused after its last entity went",
			give: []topics.Record{
				mapping("subscription", sub1, coA), mapping("subscription", sub1, ""),
				mapping("subscription", sub2, coB), mapping("order", "1", coA), mapping("order", "2", coB),
			},
			lookups: []lookup{{"subscription", sub1, ""}, {"subscription", sub2, coB}, {"order", "1", coA}, {"order", "2", coB}},
			wantLen: 3,
		},
		{
			name: "records that are not index records are ignored",
			give: []topics.Record{
				{Topic: "t.subscription", Key: []byte("subscription:" + sub1), Value: []byte(coA)},
				{Topic: indexTopic, Key: []byte("no-colon"), Value: []byte(coA)},
				{Topic: indexTopic, Key: []byte(":" + sub1), Value: []byte(coA)},
				{Topic: indexTopic, Key: []byte("subscription:"), Value: []byte(coA)},
			},
			lookups: []lookup{{"subscription", sub1, ""}, {"", sub1, ""}, {"subscription", "", ""}},
			wantLen: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newTestIndex(t)
			for _, rec := range tt.give {
				x.Learn(rec)
			}
			for _, l := range tt.lookups {
				got, ok := x.Company(l.name, l.uuid)
				if ok != (l.want != "") || got != l.want {
					t.Errorf("Company(%q, %q) = %q, %v; want %q", l.name, l.uuid, got, ok, l.want)
				}
			}
			if got := x.Len(); got != tt.wantLen {
				t.Errorf("Len() = %d, want %d", got, tt.wantLen)
			}
		})
	}
}

func TestIndexConcurrentUse(t *testing.T) {
	x := newTestIndex(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				uuid := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
				company := fmt.Sprintf("co-%d", (i+w)%7)
				if i%3 == 0 {
					company = ""
				}
				x.Learn(mapping("subscription", uuid, company))
				x.Company("subscription", uuid)
			}
		})
	}
	wg.Wait()
	if n := x.Len(); n == 0 || n > 2000 {
		t.Errorf("Len() = %d after concurrent writes of 2000 keys", n)
	}
}

func TestParseIndexKey(t *testing.T) {
	tests := []struct {
		give             string
		wantName, wantID string
		wantOK           bool
	}{
		{give: "subscription:" + sub1, wantName: "subscription", wantID: sub1, wantOK: true},
		{give: "order:a:b", wantName: "order", wantID: "a:b", wantOK: true},
		{give: "subscription"},
		{give: ":x"},
		{give: "x:"},
	}
	for _, tt := range tests {
		name, id, ok := topics.ParseIndexKey(tt.give)
		if name != tt.wantName || id != tt.wantID || ok != tt.wantOK {
			t.Errorf("ParseIndexKey(%q) = %q, %q, %v; want %q, %q, %v", tt.give, name, id, ok, tt.wantName, tt.wantID, tt.wantOK)
		}
		if ok && topics.IndexKey(name, id) != tt.give {
			t.Errorf("IndexKey does not undo ParseIndexKey(%q)", tt.give)
		}
	}
}

func TestCheckMapping(t *testing.T) {
	tests := []struct {
		name, resource, uuid, company string
		wantErr                       string
	}{
		{name: "valid", resource: "subscription", uuid: sub1, company: coA},
		{name: "tombstone", resource: "subscription", uuid: sub1},
		{name: "type instead of name", resource: "SUBSCRIPTION", uuid: sub1, company: coA, wantErr: "not a resource topic name"},
		{name: "prefixed name", resource: "appdirect.subscription", uuid: sub1, company: coA, wantErr: "not a resource topic name"},
		{name: "no uuid", resource: "order", company: coA, wantErr: "resource uuid"},
		{name: "long uuid", resource: "order", uuid: strings.Repeat("x", 257), company: coA, wantErr: "resource uuid"},
		{name: "control character", resource: "order", uuid: "1", company: "a\nb", wantErr: "company id"},
		{name: "blank company", resource: "order", uuid: "1", company: "  ", wantErr: "company id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := topics.CheckMapping(tt.resource, tt.uuid, tt.company)
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("CheckMapping = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// webhook builds an envelope; content "" means none.
func webhook(typ, action, uuid, url, content string) string {
	res := fmt.Sprintf(`"type":%q,"uuid":%q,"url":%q`, typ, uuid, url)
	if content != "" {
		res += `,"content":` + content
	}
	return fmt.Sprintf(`{"uuid":"e-1","timestamp":1718035200123,"resource":{%s},"resourceAction":%q}`, res, action)
}

func TestIndexUpdate(t *testing.T) {
	n := topics.Naming{Prefix: "t.", Internal: "t."}
	withCompany := fmt.Sprintf(`{"company":{"id":%q}}`, coA)
	subURL := "https://acme.byappdirect.com/api/billing/v1/subscriptions/" + sub1
	memberURL := fmt.Sprintf("https://acme.byappdirect.com/api/account/v1/companies/%s/users/%s", coA, sub2)
	tests := []struct {
		name  string
		body  string
		known map[string]string // index content before: uuid → company
		nilIx bool
		want  *topics.Record
	}{
		{name: "added names the company", body: webhook("SUBSCRIPTION", "ADDED", sub1, subURL, withCompany),
			want: &topics.Record{Topic: "t.company-index", Key: []byte("subscription:" + sub1), Value: []byte(coA)}},
		{name: "already known", body: webhook("SUBSCRIPTION", "CHANGED", sub1, subURL, withCompany),
			known: map[string]string{sub1: coA}},
		{name: "moved to another company", body: webhook("SUBSCRIPTION", "CHANGED", sub1, subURL, withCompany),
			known: map[string]string{sub1: coB},
			want:  &topics.Record{Topic: "t.company-index", Key: []byte("subscription:" + sub1), Value: []byte(coA)}},
		{name: "company from the url", body: webhook("MEMBERSHIP", "ADDED", sub2, memberURL, `{"roles":[]}`),
			want: &topics.Record{Topic: "t.company-index", Key: []byte("membership:" + sub2), Value: []byte(coA)}},
		{name: "payload names none", body: webhook("SUBSCRIPTION", "CHANGED", sub1, subURL, `{"status":"ACTIVE"}`)},
		{name: "company found in the index is not written back", body: webhook("SUBSCRIPTION", "CHANGED", sub1, subURL, `{"status":"ACTIVE"}`),
			known: map[string]string{sub1: coA}},
		{name: "removed writes a tombstone", body: webhook("SUBSCRIPTION", "REMOVED", sub1, subURL, ""),
			known: map[string]string{sub1: coA},
			want:  &topics.Record{Topic: "t.company-index", Key: []byte("subscription:" + sub1)}},
		{name: "removed writes a tombstone even when not known here", body: webhook("SUBSCRIPTION", "REMOVED", sub1, subURL, ""),
			want: &topics.Record{Topic: "t.company-index", Key: []byte("subscription:" + sub1)}},
		{name: "removed membership", body: webhook("MEMBERSHIP", "REMOVED", sub2, memberURL, ""),
			want: &topics.Record{Topic: "t.company-index", Key: []byte("membership:" + sub2)}},
		{name: "a company is its own company", body: webhook("COMPANY", "ADDED", coA, "https://acme.byappdirect.com/api/account/v1/companies/"+coA, `{"id":"x"}`)},
		{name: "nor is a removed one", body: webhook("COMPANY", "REMOVED", coA, "https://acme.byappdirect.com/api/account/v1/companies/"+coA, "")},
		{name: "marketplace-level resources are never mapped", body: webhook("CATALOG_PRODUCT", "REMOVED", "665549", "https://acme.byappdirect.com/api/marketplace/v1/products/665549", "")},
		{name: "no resource uuid", body: webhook("SUBSCRIPTION", "ADDED", "", subURL, withCompany)},
		{name: "no index configured", body: webhook("SUBSCRIPTION", "ADDED", sub1, subURL, withCompany), nilIx: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := topics.ParseEnvelope([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			res, _ := topics.Lookup(env.Type)
			act, _ := topics.ParseAction(env.Action)
			x := newTestIndex(t)
			for uuid, company := range tt.known {
				x.Learn(topics.IndexRecord(n, res.Name, uuid, company))
			}
			var index topics.CompanyIndex = x
			if tt.nilIx {
				index = nil
			}
			k := topics.ChooseKey(res, &env, index)
			got, ok := topics.IndexUpdate(n, res, act, &env, k, index)
			if !ok {
				if tt.want != nil {
					t.Fatalf("no update, want %s=%q", tt.want.Key, tt.want.Value)
				}
				return
			}
			if tt.want == nil {
				t.Fatalf("update %s=%q, want none", got.Key, got.Value)
			}
			if diff := cmp.Diff(*tt.want, got); diff != "" {
				t.Errorf("update (-want +got):\n%s", diff)
			}
		})
	}
}

// publish writes recs with a fresh writer, failing the test on error.
func publish(t testing.TB, kc kafka.Config, recs ...topics.Record) {
	t.Helper()
	wc := kafkatest.Writer(kc)
	wc.BatchSize = 10000
	w, err := kafka.NewWriter(wc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for len(recs) > 0 {
		chunk := recs[:min(len(recs), 50000)]
		recs = recs[len(chunk):]
		if err := w.Publish(ctx, chunk...); err != nil {
			t.Fatal(err)
		}
	}
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling a consumer we do not control
	}
}

func TestIndexReadsTheTopicAndFollowsIt(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 3)
	publish(t, kc,
		topics.IndexRecord(n, "subscription", sub1, coB),
		topics.IndexRecord(n, "subscription", sub1, coA), // the later one wins
		topics.IndexRecord(n, "order", "4410021", coA),
		topics.IndexRecord(n, "user", sub2, coB),
		topics.IndexRecord(n, "user", sub2, ""), // removed
	)

	x := kafkatest.RunIndex(t, kc, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := x.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := x.Ready(); err != nil {
		t.Fatalf("Ready() after catching up = %v", err)
	}
	check := func(name, uuid, want string) {
		t.Helper()
		if got, ok := x.Company(name, uuid); got != want || ok != (want != "") {
			t.Errorf("Company(%s, %s) = %q, %v; want %q", name, uuid, got, ok, want)
		}
	}
	check("subscription", sub1, coA)
	check("order", "4410021", coA)
	check("user", sub2, "")
	if x.Len() != 2 {
		t.Errorf("Len() = %d, want 2", x.Len())
	}

	// It keeps following: what other replicas write arrives.
	publish(t, kc, topics.IndexRecord(n, "quote", "q-1", coB), topics.IndexRecord(n, "subscription", sub1, ""))
	eventually(t, "new mapping and tombstone read", func() bool {
		_, removed := x.Company("subscription", sub1)
		got, _ := x.Company("quote", "q-1")
		return got == coB && !removed
	})
}

// Once caught up, a partition's reader lets records gather: records written
// one at a time by another replica must not each cost a fetch (with MinBytes
// 1 they did, one fetch per record, answered by the broker and parsed here).
func TestIndexFollowsWithoutAFetchPerRecord(t *testing.T) {
	const partitions, records = 3, 120
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, partitions)
	publish(t, kc, topics.IndexRecord(n, "quote", "q-start", coA)) // one partition to catch up on
	x := kafkatest.RunIndex(t, kc, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := x.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	// Every partition follows: one reader each, and the caught-up one had
	// a reader to catch up with before.
	eventually(t, "a following reader per partition", func() bool { return x.Stats().Readers == partitions+1 })

	before := x.Stats()
	began := time.Now()
	for i := range records {
		publish(t, kc, topics.IndexRecord(n, "quote", fmt.Sprintf("q-%d", i), coB))
		time.Sleep(5 * time.Millisecond)
	}
	eventually(t, "every record read", func() bool { return x.Len() == records+1 })
	took := time.Since(began)
	after := x.Stats()
	fetches := after.Fetches - before.Fetches
	// About two fetches a second per partition (the broker's 500 ms wait),
	// plus one in flight at each end; generous, and far below one per record.
	limit := int64(partitions) * (int64(took/(250*time.Millisecond)) + 3)
	t.Logf("%d records one at a time over %s: %d fetches (limit %d)", records, took.Round(time.Millisecond), fetches, limit)
	if fetches <= 0 || fetches > limit {
		t.Errorf("following %d records over %s took %d fetches, want 1..%d", records, took.Round(time.Millisecond), fetches, limit)
	}
	if after.Readers != before.Readers {
		t.Errorf("readers started while following: %d, then %d", before.Readers, after.Readers)
	}
}

func TestIndexOfAnEmptyTopicIsReadyAtOnce(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 2)
	x := kafkatest.RunIndex(t, kc, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := x.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestIndexReadinessIsExplainedAndBounded(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t) // no topics: the index topic is missing
	x, err := kafka.NewIndex(kafka.IndexConfig{Kafka: kc, Topic: n.Index(), CatchUpTimeout: 500 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Ready(); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Errorf("Ready() before Run = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = x.Run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, "Ready names the unreadable topic", func() bool {
		err := x.Ready()
		return err != nil && strings.Contains(err.Error(), n.Index()) && strings.Contains(err.Error(), "ready regardless after 500ms")
	})
	eventually(t, "Ready gives up waiting after CatchUpTimeout", func() bool { return x.Ready() == nil })
	select {
	case <-x.CaughtUp():
		t.Error("CaughtUp closed though nothing was read")
	default:
	}
}

func TestCreateCompactsTheIndexTopic(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	admin, err := kafka.NewAdmin(kc, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// An index topic made by hand without compaction is reported.
	if _, err := admin.Create(ctx, []string{n.Index()}, kafka.TopicSpec{Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	states, err := admin.Create(ctx, []string{n.Index()}, kafka.TopicSpec{Partitions: 1, ReplicationFactor: 1, Compacted: n.Compacted()})
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || states[0].Status != "mismatch" || !strings.Contains(states[0].Detail, "cleanup.policy=delete, needs compact") {
		t.Errorf("existing uncompacted index topic: %+v, want a cleanup.policy mismatch", states)
	}

	n2 := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n2, 1)
	if got := cleanupPolicy(t, kc, n2.Index()); got != "compact" {
		t.Errorf("cleanup.policy of %s = %q, want compact", n2.Index(), got)
	}
	if got := cleanupPolicy(t, kc, n2.Topic("user")); got != "delete" {
		t.Errorf("cleanup.policy of %s = %q, want delete", n2.Topic("user"), got)
	}
	states, err = admin.Create(ctx, n2.All(), kafka.TopicSpec{Partitions: 1, ReplicationFactor: 1, Compacted: n2.Compacted()})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if st.Status != "exists" {
			t.Errorf("second create: %+v, want exists", st)
		}
	}
}

func cleanupPolicy(t *testing.T, kc kafka.Config, topic string) string {
	t.Helper()
	c := &kafkago.Client{Addr: kafkago.TCP(kc.Brokers...), Timeout: 10 * time.Second}
	resp, err := c.DescribeConfigs(context.Background(), &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{
		{ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"cleanup.policy"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Resources {
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "cleanup.policy" {
				return e.ConfigValue
			}
		}
	}
	return "delete"
}

// benchEntries is the size the README quotes: one million entities.
const benchEntries = 1_000_000

// benchCompanies is how many companies those entities belong to.
const benchCompanies = 100_000

func benchUUID(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i*7919) }

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkIndexMemory measures the heap an Index holds per entry: 1M
// entities of 100k companies, with canonical UUIDs (16-byte keys) and with
// other ids (string keys). Run:
//
//	go test ./topics/kafka -run '^$' -bench BenchmarkIndexMemory -benchtime 1x
func BenchmarkIndexMemory(b *testing.B) {
	for _, kind := range []struct {
		name string
		id   func(int) string
	}{
		{"uuid", benchUUID},
		{"numeric", func(i int) string { return fmt.Sprint(10_000_000 + i) }},
	} {
		b.Run(kind.name, func(b *testing.B) {
			recs := make([]topics.Record, benchEntries)
			for i := range recs {
				recs[i] = mapping("subscription", kind.id(i), benchUUID(i%benchCompanies))
			}
			b.ResetTimer()
			for range b.N {
				before := heapInUse()
				x := newTestIndex(b)
				start := time.Now()
				for _, rec := range recs {
					x.Learn(rec)
				}
				took := time.Since(start)
				after := heapInUse()
				if x.Len() != benchEntries {
					b.Fatalf("Len() = %d", x.Len())
				}
				b.ReportMetric(float64(after-before)/benchEntries, "bytes/entry")
				b.ReportMetric(float64(after-before)/(1<<20), "MiB/1M")
				b.ReportMetric(float64(took.Nanoseconds())/benchEntries, "ns/learn")
				runtime.KeepAlive(x)
			}
		})
	}
}

// BenchmarkIndexCatchUp measures the start-up catch-up: an Index reading 1M
// mappings (100k companies) from a 6-partition index topic into memory. Run
// against the real broker:
//
//	eval "$(deploy/local/kafka.sh env)"
//	go test ./topics/kafka -run '^$' -bench BenchmarkIndexCatchUp -benchtime 3x -timeout 30m
func BenchmarkIndexCatchUp(b *testing.B) {
	kc := kafkatest.Kafka(b)
	n := kafkatest.Naming(b)
	kafkatest.CreateTopics(b, kc, n, 6)
	recs := make([]topics.Record, benchEntries)
	for i := range recs {
		recs[i] = topics.IndexRecord(n, "subscription", benchUUID(i), benchUUID(i%benchCompanies))
	}
	start := time.Now()
	publish(b, kc, recs...)
	b.Logf("wrote %d mappings in %s", benchEntries, time.Since(start).Round(time.Millisecond))
	recs = nil
	b.ResetTimer()
	for range b.N {
		x, err := kafka.NewIndex(kafka.IndexConfig{Kafka: kc, Topic: n.Index(), CatchUpTimeout: -1}, zerolog.Nop())
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		start := time.Now()
		go func() { defer close(done); _ = x.Run(ctx) }()
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
		err = x.WaitCaughtUp(wctx)
		took := time.Since(start)
		wcancel()
		cancel()
		<-done
		if err != nil {
			b.Fatal(err)
		}
		if x.Len() != benchEntries {
			b.Fatalf("Len() = %d after catching up, want %d", x.Len(), benchEntries)
		}
		b.ReportMetric(took.Seconds(), "s/catch-up")
		b.ReportMetric(benchEntries/took.Seconds(), "records/s")
	}
}

// BenchmarkIndexLookup measures Company, which every event whose payload
// names no company calls: a hit among 1M canonical UUIDs, and a miss of a
// numeric id.
func BenchmarkIndexLookup(b *testing.B) {
	x := newTestIndex(b)
	for i := range benchEntries {
		x.Learn(mapping("subscription", benchUUID(i), benchUUID(i%benchCompanies)))
	}
	hit := benchUUID(4242)
	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, ok := x.Company("subscription", hit); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, ok := x.Company("catalog-product", "665549"); ok {
				b.Fatal("hit")
			}
		}
	})
}

// TestIndexCountsReadErrorsAndLogsThemSparingly: while healthy the index
// reports no read errors and no lag; once its broker is gone, errors count
// up while the log shows each kind of failure once.
func TestIndexCountsReadErrorsAndLogsThemSparingly(t *testing.T) {
	b, err := kafka.StartDevBroker("127.0.0.1:0") // one this test may stop
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	kc := kafka.Config{Brokers: []string{b.Addr()}, DialTimeout: time.Second}
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 3)
	publish(t, kc, topics.IndexRecord(n, "order", "4410021", coA), topics.IndexRecord(n, "user", sub2, coB))
	var logs syncBuf
	x, err := kafka.NewIndex(kafka.IndexConfig{Kafka: kc, Topic: n.Index()}, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = x.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := x.WaitCaughtUp(wctx); err != nil {
		t.Fatal(err)
	}
	if st := x.Stats(); st.Entries != 2 || st.Lag != 0 || st.ReadErrors != 0 {
		t.Errorf("Stats() caught up = %+v, want 2 entries, no lag, no errors; log:\n%s", st, logs.String())
	}

	b.Close()
	eventually(t, "read errors counted", func() bool { return x.Stats().ReadErrors >= 10 })
	templates := map[string]int{}
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if m["message"] != "kafka client error" {
			continue
		}
		tmpl, _ := m["template"].(string)
		templates[tmpl]++
		if _, ok := m["partition"]; !ok || m["detail"] == "" {
			t.Errorf("kafka client error without partition or detail: %s", line)
		}
	}
	if len(templates) == 0 {
		t.Fatalf("no kafka client error logged; log:\n%s", logs.String())
	}
	for tmpl, n := range templates {
		if n > 1 {
			t.Errorf("%q logged %d times within the interval, want once", tmpl, n)
		}
	}
	t.Logf("%d read errors, logged as %v", x.Stats().ReadErrors, templates)
}

// syncBuf is a log destination tests read while the index writes.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
