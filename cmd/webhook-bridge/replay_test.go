package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// replayOut runs replay with args and returns its output lines, the last
// one being the summary.
func replayOut(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	lines, out, err := replayRun(t, args...)
	if err != nil {
		t.Fatalf("replay %v: %v\n%s", args, err, out)
	}
	if len(lines) == 0 || lines[len(lines)-1]["status"] != "done" {
		t.Fatalf("replay %v printed no summary:\n%s", args, out)
	}
	return lines
}

// replayRun runs replay with args and returns its output, as lines and as
// text, and its error.
func replayRun(t *testing.T, args ...string) ([]map[string]any, string, error) {
	t.Helper()
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, append([]string{"replay"}, args...), &out, io.Discard)
	return jsonLines(t, out.String()), out.String(), err
}

// quarantined is a body as serve would have kept it in the quarantine.
type quarantined struct{ id, body string }

// quarantine writes bodies to the quarantine topic with the error code
// code, in order.
func quarantine(t *testing.T, kc kafka.Config, n topics.Naming, code string, bodies ...quarantined) {
	t.Helper()
	w, err := kafka.NewWriter(kafkatest.Writer(kc), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, q := range bodies {
		rec := topics.QuarantineRecord(n, []byte(q.body), code, "kept by the test", q.id, "application/json")
		if err := w.Publish(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
}

// statuses lists each record line's event id and status, in output order.
func statuses(lines []map[string]any) []string {
	var out []string
	for _, l := range lines[:len(lines)-1] {
		s := l["event_id"].(string) + " " + l["status"].(string)
		if e, ok := l["error"]; ok {
			s += " " + e.(string)
		}
		out = append(out, s)
	}
	return out
}

func TestReplayPublishesWhatNowPassesOnce(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 1) // one quarantine partition: one order to assert
	useBroker(t, kc, n)
	const sub, company = "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21", "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"
	// As an older version (one that did not know SUBSCRIPTION) would have
	// quarantined them, plus a body that is still unroutable.
	added := subscriptionBody("e-added", "ADDED", sub, company)
	removed := subscriptionBody("e-removed", "REMOVED", sub, "")
	unknown := strings.Replace(subscriptionBody("e-unknown", "ADDED", "o-1", "co-x"), "SUBSCRIPTION", "OPPORTUNITY", 1)
	w, err := kafka.NewWriter(kafkatest.Writer(kc), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, q := range []struct{ body, id string }{{added, "e-added"}, {unknown, "e-unknown"}, {removed, "e-removed"}} {
		rec := topics.QuarantineRecord(n, []byte(q.body), topics.CodeUnknownResource, "resource.type is not a known resource", q.id, "application/json")
		if err := w.Publish(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()

	// A dry run reports without publishing or committing.
	lines := replayOut(t, "--dry-run")
	if diff := cmp.Diff([]string{"e-added would_publish", "e-unknown rejected unknown_resource", "e-removed would_publish"}, statuses(lines)); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}

	lines = replayOut(t, "--from-beginning")
	if diff := cmp.Diff([]string{"e-added published", "e-unknown rejected unknown_resource", "e-removed published"}, statuses(lines)); diff != "" {
		t.Errorf("first run (-want +got):\n%s", diff)
	}
	sum := lines[len(lines)-1]
	if diff := cmp.Diff(map[string]any{"status": "done", "read": 3.0, "published": 2.0, "rejected": 1.0,
		"errors": map[string]any{"unknown_resource": 1.0}, "group": n.Internal + "replay"}, sum); diff != "" {
		t.Errorf("first run summary (-want +got):\n%s", diff)
	}
	if lines[0]["quarantined_as"] != "unknown_resource" || lines[0]["topic"] != n.Topic("subscription") || lines[0]["key"] != company {
		t.Errorf("published line %v", lines[0])
	}

	// The second run finds nothing new: the group committed every record.
	lines = replayOut(t, "--from-beginning")
	if len(lines) != 1 || lines[0]["read"] != nil {
		t.Errorf("second run handled records again:\n%v", lines)
	}

	// Exactly once in the resource topic, keyed like a live delivery: the
	// REMOVED by the company the replayed ADDED taught the index.
	msgs := kafkatest.ReadAll(t, kc, n.Topic("subscription"), 30*time.Second)
	var got []string
	for _, m := range msgs {
		got = append(got, kafkatest.Header(m, topics.HeaderEventID)+" "+string(m.Key)+" "+kafkatest.Header(m, topics.HeaderCompanyIDSource))
	}
	if diff := cmp.Diff([]string{"e-added " + company + " payload", "e-removed " + company + " index"}, got); diff != "" {
		t.Errorf("subscription topic (-want +got):\n%s", diff)
	}
	if idx := kafkatest.ReadAll(t, kc, n.Index(), 30*time.Second); len(idx) != 2 || idx[1].Value != nil {
		t.Errorf("index topic holds %d records, want the mapping and its tombstone", len(idx))
	}

	// Start positions apply to a group that has not committed yet.
	lines = replayOut(t, "--dry-run", "--group", n.Internal+"other", "--offset", "1")
	if diff := cmp.Diff([]string{"e-unknown rejected unknown_resource", "e-removed would_publish"}, statuses(lines)); diff != "" {
		t.Errorf("--offset 1 (-want +got):\n%s", diff)
	}
	lines = replayOut(t, "--group", n.Internal+"later", "--since", time.Now().Add(time.Hour).Format(time.RFC3339))
	if len(lines) != 1 || lines[0]["read"] != nil {
		t.Errorf("--since an hour ahead read records:\n%v", lines)
	}
	lines = replayOut(t, "--group", n.Internal+"earlier", "--dry-run", "--since", time.Now().Add(-time.Hour).Format(time.RFC3339))
	if len(lines) != 4 {
		t.Errorf("--since an hour ago: %d lines, want 3 records and the summary", len(lines))
	}
}

func TestReplayFlagErrors(t *testing.T) {
	t.Setenv("BRIDGE_KAFKA_BROKERS", "127.0.0.1:1")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--from-beginning", "--offset", "3"}, "at most one of"},
		{[]string{"--since", "yesterday"}, "not an RFC 3339 time"},
		{[]string{"extra"}, "takes no arguments"},
	} {
		err := run(context.Background(), append([]string{"replay"}, tt.args...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("replay %v: %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

// TestReplayRejectsRecordsTooLarge: a body whose normalized record is over
// serve's record limit (quarantined as record_too_large) is rejected like
// any body that does not pass, and committed, not handed to a publish that
// Kafka refuses on every rerun; a dry run says so too.
func TestReplayRejectsRecordsTooLarge(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 1)
	useBroker(t, kc, n)
	// A record limit of 256 KiB + 64 KiB, for a body smaller than the
	// default limit needs.
	t.Setenv("BRIDGE_MAX_BODY_BYTES", "262144")
	const limit = 262144 + 64<<10
	// A USER naming 4,000 companies: its company-ids header alone is over
	// the 64 KiB the limit allows beyond the body.
	ms := make([]string, 4000)
	for i := range ms {
		ms[i] = fmt.Sprintf(`{"company":{"id":"c1b2a3d4-e5f6-4789-a0b1-%012d"}}`, i)
	}
	big := `{"uuid":"e-big","resource":{"type":"USER","uuid":"u-1","content":{"memberships":[` + strings.Join(ms, ",") + `]}},"resourceAction":"CHANGED"}`
	if len(big) > 262144 {
		t.Fatalf("the body is %d bytes: serve would have refused it (413), not quarantined it", len(big))
	}
	quarantine(t, kc, n, topics.CodeRecordTooLarge, quarantined{"e-big", big})
	quarantine(t, kc, n, topics.CodeUnknownResource,
		quarantined{"e-ok", subscriptionBody("e-ok", "ADDED", "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21", "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7")})

	lines := replayOut(t, "--dry-run")
	if diff := cmp.Diff([]string{"e-big rejected record_too_large", "e-ok would_publish"}, statuses(lines)); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	lines = replayOut(t)
	if diff := cmp.Diff([]string{"e-big rejected record_too_large", "e-ok published"}, statuses(lines)); diff != "" {
		t.Errorf("run (-want +got):\n%s", diff)
	}
	if d, _ := lines[0]["detail"].(string); !strings.Contains(d, fmt.Sprintf("over the %d-byte limit", limit)) {
		t.Errorf("detail %q does not name serve's record limit, %d bytes", d, limit)
	}
	if diff := cmp.Diff(map[string]any{"status": "done", "read": 2.0, "published": 1.0, "rejected": 1.0,
		"errors": map[string]any{"record_too_large": 1.0}, "group": n.Internal + "replay"}, lines[len(lines)-1]); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	// Both committed: a rerun has nothing to do.
	if lines = replayOut(t); len(lines) != 1 || lines[0]["read"] != nil {
		t.Errorf("rerun handled records again:\n%v", lines)
	}
}

// TestReplayDryRunKeysLikeTheRealRun: a dry run learns the company index's
// mappings as the real run does after each publish, so it shows the keys
// the real run publishes with (here, the REMOVED keyed by the company its
// ADDED named).
func TestReplayDryRunKeysLikeTheRealRun(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 1)
	useBroker(t, kc, n)
	const sub, company = "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21", "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"
	quarantine(t, kc, n, topics.CodeUnknownResource,
		quarantined{"e-added", subscriptionBody("e-added", "ADDED", sub, company)},
		quarantined{"e-removed", subscriptionBody("e-removed", "REMOVED", sub, "")})
	keys := func(lines []map[string]any) []string {
		var out []string
		for _, l := range lines[:len(lines)-1] {
			out = append(out, fmt.Sprint(l["event_id"], " ", l["topic"], " ", l["key"]))
		}
		return out
	}
	want := []string{"e-added " + n.Topic("subscription") + " " + company, "e-removed " + n.Topic("subscription") + " " + company}
	if diff := cmp.Diff(want, keys(replayOut(t, "--dry-run"))); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, keys(replayOut(t))); diff != "" {
		t.Errorf("run (-want +got):\n%s", diff)
	}
}

// TestReplayFailureEndsWithAFailedLine: when replay stops on an error, its
// last line, the one a script reads, says so, with the error, and never
// "done"; a rerun resumes with the record it stopped at.
func TestReplayFailureEndsWithAFailedLine(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 1)
	useBroker(t, kc, n)
	quarantine(t, kc, n, topics.CodeUnknownResource,
		quarantined{"e-added", subscriptionBody("e-added", "ADDED", "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21", "co-1")})
	t.Setenv("BRIDGE_PUBLISH_TIMEOUT", "1ns") // no publish is acknowledged in time
	lines, out, err := replayRun(t)
	if err == nil {
		t.Fatalf("replay succeeded with a publish timeout of 1ns:\n%s", out)
	}
	if len(lines) == 0 {
		t.Fatalf("replay printed nothing")
	}
	last := lines[len(lines)-1]
	if msg, _ := last["error"].(string); last["status"] != "failed" || msg != err.Error() || last["read"] != 1.0 {
		t.Errorf("last line %v, want status failed, read 1 and the error %q", last, err)
	}
	if strings.Contains(out, `"status":"done"`) {
		t.Errorf("a failed replay printed done:\n%s", out)
	}
	t.Setenv("BRIDGE_PUBLISH_TIMEOUT", "15s")
	if diff := cmp.Diff([]string{"e-added published"}, statuses(replayOut(t))); diff != "" {
		t.Errorf("rerun (-want +got):\n%s", diff)
	}
}
