package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// useBroker points the commands run by this test at kc and n.
func useBroker(t *testing.T, kc kafka.Config, n topics.Naming) {
	t.Helper()
	t.Setenv("BRIDGE_KAFKA_BROKERS", strings.Join(kc.Brokers, ","))
	t.Setenv("BRIDGE_TOPIC_PREFIX", n.Prefix)
	t.Setenv("BRIDGE_INTERNAL_TOPIC_PREFIX", n.Internal)
	t.Setenv("BRIDGE_AUTH_TOKENS", testToken)
	t.Setenv("BRIDGE_SHUTDOWN_GRACE", "100ms")
	t.Setenv("BRIDGE_TOPIC_PARTITIONS", "3")
	t.Setenv("BRIDGE_TOPIC_REPLICATION", "1")
}

// serveOn starts `serve` on free ports against the broker useBroker named,
// and returns the webhook port's and the admin port's base URLs.
func serveOn(t *testing.T) (string, string, *running) {
	t.Helper()
	base, admin := listenEnv(t)
	srv := runInBackground(t, []string{"serve"}, io.Discard, io.Discard)
	return base, admin, srv
}

// jsonLines decodes every line of out.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("output line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

// subscriptionBody is a SUBSCRIPTION webhook; company "" means no content.
func subscriptionBody(eventID, action, subUUID, company string) string {
	content := ""
	if company != "" {
		content = fmt.Sprintf(`,"content":{"id":%q,"order":{"company":{"id":%q}}}`, subUUID, company)
	}
	return fmt.Sprintf(`{"uuid":%q,"timestamp":1718035200123,"resource":{"type":"SUBSCRIPTION","uuid":%q,"url":"https://acme.byappdirect.com/api/billing/v1/subscriptions/%s"%s},"resourceAction":%q}`,
		eventID, subUUID, subUUID, content, action)
}

func TestServeKeysRemovedEventsByTheCompanyIndex(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	useBroker(t, kc, n)
	// Every topic but the index: not ready, and /readyz says why.
	admin, err := kafka.NewAdmin(kc, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.Create(ctx, n.All()[:len(n.All())-1], kafka.TopicSpec{Partitions: 3, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	base, adminURL, srv := serveOn(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(adminURL + "/readyz")
		if err == nil {
			var body map[string]string
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body["kafka"], "missing topics: "+n.Index()) &&
				strings.Contains(body["reason"], "company index "+n.Index()+" not readable") && strings.Contains(body["reason"], "ready regardless after 2m0s") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz without the index topic: %d %v", resp.StatusCode, body)
			}
		}
		time.Sleep(50 * time.Millisecond) // polling a server we do not control
	}
	// (Not `run topics create`: run sets zerolog's global time format while
	// serve logs.)
	if _, err := admin.Create(ctx, []string{n.Index()}, kafka.TopicSpec{Partitions: 3, ReplicationFactor: 1, Compacted: n.Compacted()}); err != nil {
		t.Fatal(err)
	}
	waitReady(t, srv, adminURL)

	const sub, company = "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21", "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"
	for _, body := range []string{
		subscriptionBody("e-1", "ADDED", sub, company),
		subscriptionBody("e-2", "REMOVED", sub, ""),
	} {
		if status, resp := postJSON(t, base+"/webhooks", body, "X-AppDirect-Webhook-Token", testToken); status != http.StatusAccepted || resp["key"] != company {
			t.Fatalf("post: %d %v, want 202 keyed %s", status, resp, company)
		}
	}
	msgs := kafkatest.ReadAll(t, kc, n.Topic("subscription"), 30*time.Second)
	if len(msgs) != 2 || msgs[0].Partition != msgs[1].Partition || string(msgs[1].Key) != company ||
		kafkatest.Header(msgs[1], topics.HeaderCompanyIDSource) != topics.SourceIndex {
		t.Errorf("want ADDED and REMOVED keyed %s in one partition, the REMOVED from the index; got %d records", company, len(msgs))
	}
}

func TestIndexImport(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 3)
	useBroker(t, kc, n)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()

	csvFile := write("seed.csv", `resource, uuid, company
subscription, 5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21, co-1
ORDER,4410021,co-2

opportunity,o-1,co-3
user,u-1
quote,,co-4
"invoice","inv-1","co-1"
`)
	var out syncBuffer
	err := run(ctx, []string{"index", "import", csvFile}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "3 of 6 lines were bad") {
		t.Errorf("import error = %v, want 3 of 6 lines were bad", err)
	}
	lines := jsonLines(t, out.String())
	var bad []float64
	for _, l := range lines[:len(lines)-1] {
		if l["status"] != "bad" {
			t.Errorf("unexpected line %v", l)
		}
		bad = append(bad, l["line"].(float64))
	}
	if diff := cmp.Diff([]float64{5, 6, 7}, bad); diff != "" {
		t.Errorf("bad lines (-want +got):\n%s\n%s", diff, out.String())
	}
	if diff := cmp.Diff(map[string]any{"status": "done", "read": 6.0, "written": 3.0, "bad": 3.0}, lines[len(lines)-1]); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}

	jsonFile := write("seed.jsonl", `{"resource":"subscription","uuid":"5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21","company":"co-1"}
{"resource":"order","uuid":"4410021","company":"co-9"}
{"resource":"app-assignment","uuid":"aa-1","company":"co-5"}
{"resource":"app-assignment","uuid":"aa-2","company":"co-5","extra":1}
`)
	out = syncBuffer{}
	if err := run(ctx, []string{"index", "import", jsonFile}, &out, io.Discard); err == nil {
		t.Error("import with a bad line succeeded")
	}
	lines = jsonLines(t, out.String())
	if len(lines) != 3 || lines[0]["status"] != "conflict" || lines[0]["existing"] != "co-2" || lines[1]["status"] != "bad" || lines[1]["line"] != 4.0 {
		t.Errorf("JSON lines import printed:\n%s", out.String())
	}
	if diff := cmp.Diff(map[string]any{"status": "done", "read": 4.0, "written": 1.0, "unchanged": 1.0, "conflicts": 1.0, "bad": 1.0}, lines[len(lines)-1]); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	out = syncBuffer{}
	if err := run(ctx, []string{"index", "import", "--overwrite", write("fix.jsonl", `{"resource":"order","uuid":"4410021","company":"co-9"}`)}, &out, io.Discard); err != nil {
		t.Fatalf("import --overwrite: %v\n%s", err, out.String())
	}

	x := kafkatest.RunIndex(t, kc, n)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := x.WaitCaughtUp(wctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range [][2]string{{"subscription", "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21"}, {"order", "4410021"}, {"invoice", "inv-1"}, {"app-assignment", "aa-1"}} {
		got[k[0]+":"+k[1]], _ = x.Company(k[0], k[1])
	}
	want := map[string]string{
		"subscription:5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21": "co-1", "order:4410021": "co-9", "invoice:inv-1": "co-1", "app-assignment:aa-1": "co-5",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("index after the imports (-want +got):\n%s", diff)
	}
	if x.Len() != 4 {
		t.Errorf("index holds %d entries, want 4", x.Len())
	}

	// A served REMOVED of a seeded entity is keyed by its seeded company.
	base, adminURL, srv := serveOn(t)
	waitReady(t, srv, adminURL)
	if status, resp := postJSON(t, base+"/webhooks", subscriptionBody("e-9", "REMOVED", "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21", ""),
		"X-AppDirect-Webhook-Token", testToken); status != http.StatusAccepted || resp["key"] != "co-1" {
		t.Errorf("REMOVED of a seeded subscription: %d %v, want key co-1", status, resp)
	}
}

// importOnce runs `index import` of text with a fresh set of topics on kc and
// returns its output lines, the last value of every key of the company-index
// topic, the number of records that topic holds, and the import's error.
func importOnce(t *testing.T, kc kafka.Config, text string, flags ...string) ([]map[string]any, map[string]string, int, error) {
	t.Helper()
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 1)
	useBroker(t, kc, n)
	p := filepath.Join(t.TempDir(), "seed.csv")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, append(append([]string{"index", "import"}, flags...), p), &out, io.Discard)
	recs := kafkatest.ReadAll(t, kc, n.Index(), 30*time.Second)
	index := map[string]string{}
	for _, m := range recs {
		index[string(m.Key)] = string(m.Value)
	}
	return jsonLines(t, out.String()), index, len(recs), err
}

// errText is err's message, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestIndexImportChecksLinesAgainstEarlierLines(t *testing.T) {
	kc := kafkatest.Kafka(t)
	var filler strings.Builder // a batch's worth of other mappings
	for i := 0; i < importBatch; i++ {
		fmt.Fprintf(&filler, "order,o-%d,co-F\n", i)
	}
	tests := []struct {
		name        string
		flags       []string
		give        string
		want        []map[string]any // output lines
		wantIndex   map[string]string
		wantRecords int
	}{{
		name: "another company in the same batch is a conflict",
		give: "subscription,s-1,co-A\nsubscription,s-1,co-A\norder,o-1,co-C\nsubscription,s-1,co-B\n",
		want: []map[string]any{
			{"line": 4.0, "status": "conflict", "existing": "co-A",
				"error": "line 1 of this file maps subscription:s-1 to co-A, not co-B; kept (--overwrite replaces it)"},
			{"status": "done", "read": 4.0, "written": 2.0, "unchanged": 1.0, "conflicts": 1.0},
		},
		wantIndex:   map[string]string{"subscription:s-1": "co-A", "order:o-1": "co-C"},
		wantRecords: 2,
	}, {
		name: "JSON lines too",
		give: `{"resource":"subscription","uuid":"s-1","company":"co-A"}` + "\n" + `{"resource":"SUBSCRIPTION","uuid":"s-1","company":"co-B"}` + "\n",
		want: []map[string]any{
			{"line": 2.0, "status": "conflict", "existing": "co-A",
				"error": "line 1 of this file maps subscription:s-1 to co-A, not co-B; kept (--overwrite replaces it)"},
			{"status": "done", "read": 2.0, "written": 1.0, "conflicts": 1.0},
		},
		wantIndex:   map[string]string{"subscription:s-1": "co-A"},
		wantRecords: 1,
	}, {
		name: "another company in a later batch is a conflict with the index",
		give: "subscription,s-1,co-A\n" + filler.String() + "subscription,s-1,co-B\n",
		want: []map[string]any{
			{"line": float64(importBatch + 2), "status": "conflict", "existing": "co-A",
				"error": "the index maps subscription:s-1 to co-A, not co-B; kept (--overwrite replaces it)"},
			{"status": "done", "read": float64(importBatch + 2), "written": float64(importBatch + 1), "conflicts": 1.0},
		},
		wantIndex:   map[string]string{"subscription:s-1": "co-A", "order:o-0": "co-F"},
		wantRecords: importBatch + 1,
	}, {
		name:  "--overwrite: a later line replaces an earlier one, as a second import would",
		flags: []string{"--overwrite"},
		give:  "subscription,s-1,co-A\nsubscription,s-1,co-B\nsubscription,s-1,co-B\n",
		want: []map[string]any{
			{"status": "done", "read": 3.0, "written": 2.0, "unchanged": 1.0},
		},
		wantIndex:   map[string]string{"subscription:s-1": "co-B"},
		wantRecords: 2,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, index, records, err := importOnce(t, kc, tt.give, tt.flags...)
			if err != nil {
				t.Errorf("import: %v (conflicts alone exit 0)", err)
			}
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			for k, want := range tt.wantIndex {
				if index[k] != want {
					t.Errorf("index maps %s to %q, want %q", k, index[k], want)
				}
			}
			if records != tt.wantRecords {
				t.Errorf("index topic holds %d records, want %d", records, tt.wantRecords)
			}
		})
	}
}

func TestIndexImportStopsAtAQuoteLeftOpen(t *testing.T) {
	kc := kafkatest.Kafka(t)
	tests := []struct {
		name        string
		give        string
		want        []map[string]any // output lines
		wantErr     string
		wantRecords int // s-1 alone, or every good line
	}{{
		name: "not closed by the end of the file",
		give: "subscription,s-1,co-A\nsubscription,\"s-2,co-B\nsubscription,s-3,co-C\nsubscription,s-4,co-D\nsubscription,s-5,co-E\n",
		want: []map[string]any{{"line": 2.0, "status": "stopped", "read": 1.0, "written": 1.0,
			"error": "line 2: a quoted field opens here and is not closed on this line (the CSV reader ran on to line 5, column 23: extraneous or missing \" in quoted-field)"}},
		wantErr:     "line 2: a quoted field opens here and is not closed on this line (the CSV reader ran on to line 5, column 23: extraneous or missing \" in quoted-field); nothing from line 2 on was imported (the lines before it are counted above): fix the file and import it again",
		wantRecords: 1,
	}, {
		name: "closed by a quote on a later line that another field opens",
		give: "subscription,s-1,co-A\nuser,u-1\nsubscription,\"s-2,co-B\nsubscription,\"s-3\",co-C\nsubscription,s-4,co-D\n",
		want: []map[string]any{
			{"line": 2.0, "status": "bad", "error": "2 fields, want 3: resource, uuid, company"},
			{"line": 3.0, "status": "stopped", "read": 2.0, "written": 1.0, "bad": 1.0,
				"error": "line 3: a quoted field opens here and is not closed on this line (the CSV reader ran on to line 4, column 14: extraneous or missing \" in quoted-field)"},
		},
		wantErr:     "line 3: a quoted field opens here and is not closed on this line (the CSV reader ran on to line 4, column 14: extraneous or missing \" in quoted-field); nothing from line 3 on was imported (the lines before it are counted above): fix the file and import it again",
		wantRecords: 1,
	}, {
		name: "closed on a later line: one field of two lines",
		give: "subscription,s-1,co-A\nsubscription,\"s-2,co-B\nsubscription,s-3\",co-C\nsubscription,s-4,co-D\n",
		want: []map[string]any{{"line": 2.0, "status": "stopped", "read": 1.0, "written": 1.0,
			"error": "line 2: a quoted field opens here and is not closed on this line (the field runs on to line 3)"}},
		wantErr:     "line 2: a quoted field opens here and is not closed on this line (the field runs on to line 3); nothing from line 2 on was imported (the lines before it are counted above): fix the file and import it again",
		wantRecords: 1,
	}, {
		name: "a stray quote within a line is a bad line",
		give: "subscription,s-1,co-A\nsubscription,\"s-2\"x,co-B\nsubscription,s-3,co-C\n",
		want: []map[string]any{
			{"line": 2.0, "status": "bad", "error": "parse error on line 2, column 18: extraneous or missing \" in quoted-field"},
			{"status": "done", "read": 3.0, "written": 2.0, "bad": 1.0},
		},
		wantErr:     "1 of 3 lines were bad (listed above); the other mappings were written",
		wantRecords: 2,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, records, err := importOnce(t, kc, tt.give)
			if errText(err) != tt.wantErr {
				t.Errorf("import error:\n got %v\nwant %s", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if records != tt.wantRecords {
				t.Errorf("index topic holds %d records, want %d", records, tt.wantRecords)
			}
		})
	}
}
