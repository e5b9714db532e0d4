package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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

// TestMain lets the test binary serve as the -spawn child, as the real
// binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func TestHistogramQuantiles(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	tests := []struct {
		name string
		give []int64
	}{
		{"one value", []int64{1234567}},
		{"small exact values", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"200 samples", func() []int64 {
			var v []int64
			for i := range 200 {
				v = append(v, int64(i+1)*int64(time.Millisecond))
			}
			return v
		}()},
		{"log-uniform 1µs to 10s", func() []int64 {
			var v []int64
			for range 100_000 {
				v = append(v, int64(math.Exp(math.Log(1e3)+rng.Float64()*(math.Log(1e10)-math.Log(1e3)))))
			}
			return v
		}()},
		{"bimodal", func() []int64 {
			var v []int64
			for i := range 10_000 {
				if i%100 == 0 {
					v = append(v, 250*int64(time.Millisecond)+rng.Int64N(int64(time.Millisecond)))
				} else {
					v = append(v, 2*int64(time.Millisecond)+rng.Int64N(int64(time.Millisecond)))
				}
			}
			return v
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistogram()
			for _, v := range tt.give {
				h.record(time.Duration(v))
			}
			sorted := slices.Clone(tt.give)
			slices.Sort(sorted)
			for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 1} {
				want := exactQuantile(sorted, q)
				got := int64(h.quantile(q))
				if diff := math.Abs(float64(got-want)) / float64(want); diff > 1.0/256 {
					t.Errorf("p%g = %d, want %d (off by %.2f%%)", q*100, got, want, diff*100)
				}
			}
			if h.maxValue() != time.Duration(sorted[len(sorted)-1]) || h.maxValue() != h.quantile(1) {
				t.Errorf("max = %d, quantile(1) = %d, want %d", h.maxValue(), h.quantile(1), sorted[len(sorted)-1])
			}
		})
	}
	// p99 of 200 values is the 198th smallest, p50 the 100th.
	h := newHistogram()
	for i := 1; i <= 200; i++ {
		h.record(time.Duration(i))
	}
	if got := h.quantile(0.99); got != 198 {
		t.Errorf("p99 of 1..200 = %d, want 198", got)
	}
	if got := h.quantile(0.5); got != 100 {
		t.Errorf("p50 of 1..200 = %d, want 100", got)
	}
}

func TestHistogramConcurrentRecords(t *testing.T) {
	h := newHistogram()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.record(time.Duration(g*1000 + i + 1))
			}
		}()
	}
	wg.Wait()
	if n := h.n.Load(); n != 8000 {
		t.Fatalf("n = %d, want 8000", n)
	}
	if lo, hi := h.quantile(0), h.maxValue(); lo != 1 || hi != 8000 {
		t.Errorf("min, max = %d, %d, want 1, 8000", lo, hi)
	}
	if p50 := h.quantile(0.5); math.Abs(float64(p50-4000)) > 4000.0/128 {
		t.Errorf("p50 = %d, want about 4000", p50)
	}
	if m := h.mean(); m != 4000 {
		t.Errorf("mean = %d, want 4000", m)
	}
}

func TestHistogramBucketsCoverEveryValue(t *testing.T) {
	for _, v := range []int64{0, 1, 255, 256, 257, 511, 512, 1 << 20, 1<<40 + 12345, math.MaxInt64} {
		i := histIndex(v)
		lo, hi := histRange(i)
		if i < 0 || i >= histBuckets || v < lo || v > hi {
			t.Errorf("value %d: bucket %d holds [%d, %d]", v, i, lo, hi)
		}
		if hi > 256 && float64(hi-lo)/float64(lo) > 1.0/128 {
			t.Errorf("value %d: bucket [%d, %d] is wider than 1/128", v, lo, hi)
		}
	}
}

func TestTemplatesAreTheBridgeSamples(t *testing.T) {
	samples, err := filepath.Glob("../../bridge/testdata/samples/*.json")
	if err != nil || len(samples) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, s := range samples {
		want, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := templates.ReadFile("templates/" + filepath.Base(s))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("templates/%s differs from %s: copy the samples again (cp bridge/testdata/samples/*.json cmd/webhook-bench/templates/)", filepath.Base(s), s)
		}
	}
	entries, _ := templates.ReadDir("templates")
	if len(entries) != len(samples) {
		t.Errorf("%d templates, %d samples", len(entries), len(samples))
	}
}

func TestEventIDs(t *testing.T) {
	ids := newEventIDs("0a1b2c3d", 7)
	for _, seq := range []uint64{0, 1, 0xabc, 1<<48 - 1} {
		id := ids.id(seq)
		if len(id) != idLen || !uuidRE.MatchString(id) {
			t.Errorf("id %q is not a UUID", id)
		}
		if got, ok := ids.seq([]byte(id)); !ok || got != seq {
			t.Errorf("seq(%q) = %d, %v, want %d", id, got, ok, seq)
		}
	}
	if _, ok := newEventIDs("0a1b2c3d", 8).seq([]byte(ids.id(5))); ok {
		t.Error("an id of another phase was taken as this phase's")
	}
}

// The records the baseline writes and the verification expects are the
// bridge's own: spliced records equal bridge.Normalize of the spliced body.
func TestVariantsAreWhatTheBridgeWrites(t *testing.T) {
	n := topics.Naming{Prefix: "bench-test."}
	parts := map[string]int{}
	for _, r := range topics.Catalog {
		parts[n.Topic(r.Name)] = 6
	}
	vs, err := makeVariants(bodyOptions{Variants: 300, Companies: 50, MinBytes: 1024, MaxBytes: 2048, Seed: 7}, n, parts)
	if err != nil {
		t.Fatal(err)
	}
	ids := newEventIDs("feedbeef", 1)
	resources := map[string]bool{}
	companies := map[string]bool{}
	for i := range vs {
		v := &vs[i]
		for _, seq := range []uint64{uint64(i), uint64(i) + 1<<30} {
			body := v.bodyFor(nil, ids, seq)
			ev, err := topics.Normalize(body, n, nil)
			if err != nil {
				t.Fatalf("%s: %v\n%s", v.name, err, body)
			}
			if ev.Envelope.ID != ids.id(seq) {
				t.Fatalf("%s: event id %q, want %q", v.name, ev.Envelope.ID, ids.id(seq))
			}
			if diff := cmp.Diff(ev.Record, v.recordFor(ids, seq)); diff != "" {
				t.Fatalf("%s: spliced record differs from Normalize's (-normalize +spliced):\n%s", v.name, diff)
			}
			if len(v.parts) != 6 {
				t.Fatalf("%s: %d partitions", v.name, len(v.parts))
			}
		}
		resources[v.rec.Topic] = true
		if c := ev(t, v, n).Key.CompanyID; c != "" {
			companies[c] = true
		}
		if ev(t, v, n).Envelope.Content != nil && (len(v.body) < 1024 || len(v.body) > 2048+200) {
			t.Errorf("%s: body of %d bytes, want about 1-2 KiB", v.name, len(v.body))
		}
	}
	if len(resources) != len(topics.Catalog) {
		t.Errorf("bodies cover %d resources, want %d", len(resources), len(topics.Catalog))
	}
	if len(companies) < 30 {
		t.Errorf("bodies name %d companies, want many", len(companies))
	}
}

func ev(t *testing.T, v *variant, n topics.Naming) topics.Routed {
	t.Helper()
	e, err := topics.Normalize(v.body, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// benchTopics creates a run's topics on the test broker.
func benchTopics(t *testing.T, kc kafka.Config) (topics.Naming, *kafkago.Client, map[string]int) {
	t.Helper()
	n := topics.Naming{Prefix: "bench-test-" + randomHex(8) + "."}
	var names []string
	for _, r := range topics.Catalog {
		names = append(names, n.Topic(r.Name))
	}
	names = append(names, n.Quarantine())
	admin, err := kafka.NewAdmin(kc, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := admin.Create(ctx, names, kafka.TopicSpec{Partitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	client := &kafkago.Client{Addr: kafkago.TCP(kc.Brokers...), Timeout: 30 * time.Second}
	t.Cleanup(func() {
		_, _ = client.DeleteTopics(context.Background(), &kafkago.DeleteTopicsRequest{Topics: names})
	})
	parts, err := waitReady(ctx, admin, client, names)
	if err != nil {
		t.Fatal(err)
	}
	return n, client, parts
}

// lyingTarget wraps the baseline target: it can claim success for an event
// it never writes, write an event twice, or write a record that is not the
// bridge's.
type lyingTarget struct {
	kafkaTarget
	skip, twice, corrupt uint64
}

func (l *lyingTarget) send(ctx context.Context, w *worker, v *variant, seq uint64) (int, error) {
	switch seq {
	case l.skip:
		return statusPublished, nil
	case l.corrupt:
		rec := v.recordFor(w.ids, seq)
		rec.Value = append(rec.Value[:len(rec.Value)-1], ' ', '}')
		return statusPublished, l.w.Publish(ctx, rec)
	case l.twice:
		if _, err := l.kafkaTarget.send(ctx, w, v, seq); err != nil {
			return 0, err
		}
	}
	return l.kafkaTarget.send(ctx, w, v, seq)
}

func TestVerifyCatchesLossDuplicatesAndWrongRecords(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n, client, parts := benchTopics(t, kc)
	vs, err := makeVariants(bodyOptions{Variants: 41, Companies: 10, MinBytes: 1024, MaxBytes: 2048, Seed: 3}, n, parts)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kafka.NewWriter(kafkatest.Writer(kc), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	tests := []struct {
		name string
		lie  lyingTarget
		want func(v verifyResult) bool
	}{
		{"honest", lyingTarget{skip: math.MaxUint64, twice: math.MaxUint64, corrupt: math.MaxUint64},
			func(v verifyResult) bool { return v.OK && v.Found == v.Acked && v.Acked > 0 }},
		{"a 2xx event that is not in Kafka", lyingTarget{skip: 3, twice: math.MaxUint64, corrupt: math.MaxUint64},
			func(v verifyResult) bool { return !v.OK && v.Missing == 1 && v.Duplicates == 0 && v.Found == v.Acked-1 }},
		{"an event written twice", lyingTarget{skip: math.MaxUint64, twice: 5, corrupt: math.MaxUint64},
			func(v verifyResult) bool { return !v.OK && v.Duplicates == 1 && v.Missing == 0 }},
		{"a record that is not the bridge's", lyingTarget{skip: math.MaxUint64, twice: math.MaxUint64, corrupt: 2},
			func(v verifyResult) bool { return !v.OK && v.Mismatched == 1 && v.Missing == 0 }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, err := endOffsets(ctx, client, parts)
			if err != nil {
				t.Fatal(err)
			}
			tgt := tt.lie
			tgt.kafkaTarget = kafkaTarget{w: w, timeout: 10 * time.Second}
			ids := newEventIDs("c0ffee00", i+1)
			out := &outcomes{}
			ps := runLoad(ctx, &tgt, loadSpec{concurrency: 2, duration: 300 * time.Millisecond}, vs, ids, out, nil, io.Discard)
			if ps.sent < 10 {
				t.Fatalf("only %d events sent", ps.sent)
			}
			to, err := endOffsets(ctx, client, parts)
			if err != nil {
				t.Fatal(err)
			}
			v := verify(ctx, kc.Brokers, from, to, ids, vs, out)
			if !tt.want(v) {
				t.Errorf("verify = %+v", v)
			}
		})
	}
	// A record of this phase that was never sent.
	t.Run("an event that was never sent", func(t *testing.T) {
		from, _ := endOffsets(ctx, client, parts)
		ids := newEventIDs("c0ffee00", 99)
		out := &outcomes{}
		out.set(0, acked)
		for _, seq := range []uint64{0, 1} {
			if err := w.Publish(ctx, vs[seq].recordFor(ids, seq)); err != nil {
				t.Fatal(err)
			}
		}
		to, _ := endOffsets(ctx, client, parts)
		if v := verify(ctx, kc.Brokers, from, to, ids, vs, out); v.OK || v.Unexpected != 1 || v.Found != 1 {
			t.Errorf("verify = %+v", v)
		}
	})
}

// A tiny whole run: baseline, in-process bridge and single requests, JSON out.
func TestRunTinyBench(t *testing.T) {
	kc := kafkatest.Kafka(t)
	var stdout, stderr bytes.Buffer
	args := []string{
		"-brokers", strings.Join(kc.Brokers, ","), "-duration", "1s", "-warmup", "200ms",
		"-concurrency", "4", "-partitions", "2", "-single", "10", "-single-gap", "1ms",
		"-cooldown", "0", "-variants", "82", "-json", "-bridge-log", "", "-client", "nethttp",
	}
	if err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if !rep.OK || len(rep.Results) != 3 {
		t.Fatalf("report: ok %v, %d results\n%s", rep.OK, len(rep.Results), stdout.String())
	}
	for _, r := range rep.Results {
		if r.Requests == 0 || !r.Verify.OK || r.Verify.Found != r.Verify.Acked || r.LatencyMS["p50"] <= 0 {
			t.Errorf("%s %s: %d requests, verify %+v, latency %v", r.Mode, r.Load, r.Requests, r.Verify, r.LatencyMS)
		}
		if len(r.Errors) > 0 {
			t.Errorf("%s %s: errors %v", r.Mode, r.Load, r.Errors)
		}
	}
	if _, ok := rep.Ratios["c=4"]; !ok {
		t.Errorf("no throughput ratio: %v", rep.Ratios)
	}
	// Open loop, table output, the raw client, a bridge in a child process.
	stdout.Reset()
	args = []string{
		"-brokers", strings.Join(kc.Brokers, ","), "-duration", "1s", "-warmup", "100ms", "-mode", "bridge",
		"-rate", "200", "-partitions", "1", "-single", "5", "-cooldown", "0", "-variants", "41", "-bridge-log", "",
		"-spawn", "-every", "300ms",
	}
	if err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "rate=200/s") || strings.Count(out, " ok") != 2 || !strings.Contains(out, "child process") {
		t.Errorf("table:\n%s", out)
	}
	if !strings.Contains(stderr.String(), "goroutines") {
		t.Errorf("no samples printed:\n%s", stderr.String())
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		give    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"concurrency list", []string{"-concurrency", "64,128,256"}, ""},
		{"rate", []string{"-rate", "2000"}, ""},
		{"bad mode", []string{"-mode", "fast"}, "-mode"},
		{"rate with a list of workers", []string{"-rate", "2000", "-concurrency", "1,2"}, "-concurrency"},
		{"pid without url", []string{"-pid", "1"}, "-pid"},
		{"bad sizes", []string{"-body-bytes", "2000"}, "-body-bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.give, io.Discard)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("parseFlags(%q) = %v, want error containing %q", tt.give, err, tt.wantErr)
			}
		})
	}
	var out bytes.Buffer
	if _, err := parseFlags([]string{"-help"}, &out); err == nil || !strings.Contains(out.String(), "-concurrency") || !strings.Contains(out.String(), "Examples") {
		t.Errorf("-help: %v\n%s", err, out.String())
	}
}
