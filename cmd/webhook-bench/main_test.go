package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
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

func TestEventIDs(t *testing.T) {
	ids := newEventIDs("0a1b2c3d", 7)
	for _, seq := range []uint64{0, 1, 0xabc, 1<<48 - 1} {
		id := ids.id(seq)
		if len(id) != idLen || !uuidRE.MatchString(id) {
			t.Errorf("id %q is not a UUID", id)
		}
		if got, ok := ids.seq(id); !ok || got != seq {
			t.Errorf("seq(%q) = %d, %v, want %d", id, got, ok, seq)
		}
	}
	if _, ok := newEventIDs("0a1b2c3d", 8).seq(ids.id(5)); ok {
		t.Error("an id of another phase was taken as this phase's")
	}
}

// samples are the bridge's samples, seen from this package's folder.
const samples = "../../bridge/testdata/samples"

// learnedIndex is a company index that learned the mappings it was given,
// as the bridge's does from the index topic and its own publishes.
type learnedIndex map[string]string

func (l learnedIndex) Company(name, uuid string) (string, bool) {
	c, ok := l[topics.IndexKey(name, uuid)]
	return c, ok
}

// The records the baseline writes and the verification expects are the
// bridge's own: spliced records equal topics.Normalize of the spliced body,
// with no index, and with an index that learned every mapping the variants
// teach (in whatever order they arrived), so the index cannot change a key.
func TestVariantsAreWhatTheBridgeWrites(t *testing.T) {
	n := topics.Naming{Prefix: "bench-test.", Internal: "bench-test-internal."}
	parts := map[string]int{}
	for _, r := range topics.Catalog {
		parts[n.Topic(r.Name)] = 6
	}
	vs, err := makeVariants(bodyOptions{Variants: 300, Companies: 50, MinBytes: 1024, MaxBytes: 2048, Samples: samples, Seed: 7}, n, parts)
	if err != nil {
		t.Fatal(err)
	}
	learned := learnedIndex{}
	for _, v := range vs {
		if v.index.Topic != "" && !v.tombstone {
			learned[string(v.index.Key)] = string(v.index.Value)
		}
	}
	if len(learned) < 50 {
		t.Fatalf("the variants teach the index %d mappings, want many", len(learned))
	}
	ids := newEventIDs("feedbeef", 1)
	resources := map[string]bool{}
	companies := map[string]bool{}
	tombstones := 0
	for i := range vs {
		v := &vs[i]
		for _, seq := range []uint64{uint64(i), uint64(i) + 1<<30} {
			body := v.bodyFor(nil, ids, seq)
			for _, index := range []topics.CompanyIndex{nil, emptyIndex{}, learned} {
				ev, err := topics.Normalize(body, n, index)
				if err != nil {
					t.Fatalf("%s: %v\n%s", v.name, err, body)
				}
				if ev.Envelope.ID != ids.id(seq) {
					t.Fatalf("%s: event id %q, want %q", v.name, ev.Envelope.ID, ids.id(seq))
				}
				if want := v.recordFor(ids, seq); !reflect.DeepEqual(ev.Record, want) {
					t.Fatalf("%s (index %T): spliced record differs from Normalize's (-normalize +spliced):\n%s", v.name, index, cmp.Diff(ev.Record, want))
				}
				if index == (emptyIndex{}) {
					if !reflect.DeepEqual(ev.IndexUpdate, v.index) {
						t.Fatalf("%s: index record differs (-normalize +variant):\n%s", v.name, cmp.Diff(ev.IndexUpdate, v.index))
					}
				}
			}
			if len(v.parts) != 6 {
				t.Fatalf("%s: %d partitions", v.name, len(v.parts))
			}
		}
		if v.tombstone {
			tombstones++
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
	if tombstones == 0 {
		t.Error("no variant writes a tombstone: REMOVED events are missing")
	}
}

// Whatever the seed, no generated entity is shared by an event keyed
// through the index and one that teaches it.
func TestVariantsKeepEntitiesApart(t *testing.T) {
	n := topics.Naming{Prefix: "bench-test.", Internal: "bench-test-internal."}
	for seed := uint64(1); seed <= 20; seed++ {
		if _, err := makeVariants(bodyOptions{Variants: 410, Companies: 5, MinBytes: 0, MaxBytes: 0, Samples: samples, Seed: seed}, n, nil); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
	// The samples as they are share entities (subscription-added and
	// subscription-removed name the same subscription): refused.
	_, err := makeVariants(bodyOptions{Variants: 41, Dir: samples}, n, nil)
	if err == nil || !strings.Contains(err.Error(), "same entity") {
		t.Errorf("makeVariants(-bodies samples) = %v, want the same-entity error", err)
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

// benchTopics creates a run's topics on the test broker, as `topics
// create` does.
func benchTopics(t *testing.T, kc kafka.Config) (topics.Naming, *kafkago.Client, map[string]int) {
	t.Helper()
	id := "bench-test-" + randomHex(8)
	n := topics.Naming{Prefix: id + ".", Internal: id + "-internal."}
	admin, err := kafka.NewAdmin(kc, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := admin.Create(ctx, n.All(), kafka.TopicSpec{Partitions: 2, ReplicationFactor: 1, Compacted: n.Compacted()}); err != nil {
		t.Fatal(err)
	}
	client := &kafkago.Client{Addr: kafkago.TCP(kc.Brokers...), Timeout: 30 * time.Second}
	t.Cleanup(func() {
		_, _ = client.DeleteTopics(context.Background(), &kafkago.DeleteTopicsRequest{Topics: n.All()})
	})
	parts, err := waitReady(ctx, admin, client, n.All())
	if err != nil {
		t.Fatal(err)
	}
	return n, client, parts
}

// lyingTarget wraps the baseline target: it can claim success for an event
// it never writes, write an event twice, write a record that is not the
// bridge's, or leave out an event's company-index record.
type lyingTarget struct {
	kafkaTarget
	skip, twice, corrupt, noIndex uint64
}

func (l *lyingTarget) send(ctx context.Context, w *worker, v *variant, seq uint64) (int, error) {
	switch seq {
	case l.skip:
		return statusPublished, nil
	case l.corrupt:
		rec := v.recordFor(w.ids, seq)
		rec.Value = append(rec.Value[:len(rec.Value)-1], ' ', '}')
		return statusPublished, l.w.publish(ctx, w, []topics.Record{rec})
	case l.noIndex:
		return statusPublished, l.w.publish(ctx, w, []topics.Record{v.recordFor(w.ids, seq)})
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
	vs, err := makeVariants(bodyOptions{Variants: 41, Companies: 10, MinBytes: 1024, MaxBytes: 2048, Samples: samples, Seed: 3}, n, parts)
	if err != nil {
		t.Fatal(err)
	}
	removed := uint64(math.MaxUint64) // the first variant whose event carries a tombstone
	for i, v := range vs {
		if v.tombstone {
			removed = uint64(i)
			break
		}
	}
	w, err := kafka.NewWriter(kafkatest.Writer(kc), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	idx := newIndexCheck(n.Index(), parts[n.Index()], vs, true)
	const none = math.MaxUint64
	tests := []struct {
		name string
		lie  lyingTarget
		want func(v verifyResult) bool
	}{
		{"honest", lyingTarget{skip: none, twice: none, corrupt: none, noIndex: none},
			func(v verifyResult) bool {
				return v.OK && v.Found == v.Acked && v.Acked > 0 && v.IndexRecords > 0 && v.Tombstones > 0
			}},
		{"a 2xx event that is not in Kafka", lyingTarget{skip: 3, twice: none, corrupt: none, noIndex: none},
			func(v verifyResult) bool { return !v.OK && v.Missing == 1 && v.Duplicates == 0 && v.Found == v.Acked-1 }},
		{"an event written twice", lyingTarget{skip: none, twice: 5, corrupt: none, noIndex: none},
			func(v verifyResult) bool { return !v.OK && v.Duplicates == 1 && v.Missing == 0 }},
		{"a record that is not the bridge's", lyingTarget{skip: none, twice: none, corrupt: 2, noIndex: none},
			func(v verifyResult) bool { return !v.OK && v.Mismatched == 1 && v.Missing == 0 }},
		{"a REMOVED event without its tombstone", lyingTarget{skip: none, twice: none, corrupt: none, noIndex: removed},
			func(v verifyResult) bool { return !v.OK && v.IndexMissing == 1 && v.Missing == 0 && v.Mismatched == 0 }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, err := endOffsets(ctx, client, parts)
			if err != nil {
				t.Fatal(err)
			}
			tgt := tt.lie
			tgt.kafkaTarget = *newKafkaTarget(bridgeWriter{w}, 10*time.Second)
			ids := newEventIDs("c0ffee00", i+1)
			out := &outcomes{}
			// Long enough for 50 events on a loaded machine under -race
			// (the checks need some to lie about, not a speed).
			ps := runLoad(ctx, &tgt, loadSpec{concurrency: 2, duration: 3 * time.Second}, vs, ids, out, loadHooks{}, io.Discard)
			if ps.sent < 50 {
				t.Fatalf("only %d events sent in 3 s", ps.sent)
			}
			to, err := endOffsets(ctx, client, parts)
			if err != nil {
				t.Fatal(err)
			}
			v := verify(ctx, kc.Brokers, from, to, ids, vs, out, idx)
			if !tt.want(v) {
				t.Errorf("verify = %+v", v)
			}
		})
	}
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
		if v := verify(ctx, kc.Brokers, from, to, ids, vs, out, idx); v.OK || v.Unexpected != 1 || v.Found != 1 {
			t.Errorf("verify = %+v", v)
		}
	})
	t.Run("a company-index record the events do not imply", func(t *testing.T) {
		var learner *variant
		for i := range vs {
			if v := &vs[i]; v.index.Topic != "" && !v.tombstone {
				learner = v
				break
			}
		}
		from, _ := endOffsets(ctx, client, parts)
		wrong := topics.IndexRecord(n, "subscription", "not-a-variant", "somebody")
		other := learner.index
		other.Value = []byte("another-company")
		if err := w.Publish(ctx, wrong, other); err != nil {
			t.Fatal(err)
		}
		to, _ := endOffsets(ctx, client, parts)
		v := verify(ctx, kc.Brokers, from, to, newEventIDs("c0ffee00", 100), vs, &outcomes{}, idx)
		if v.OK || v.Mismatched != 1 || v.Foreign != 1 {
			t.Errorf("verify = %+v", v)
		}
	})
	t.Run("an acknowledged event whose mapping was never written", func(t *testing.T) {
		fresh := newIndexCheck(n.Index(), parts[n.Index()], vs, true) // knows no mapping
		seq := uint64(0)
		for vs[seq].index.Topic == "" || vs[seq].tombstone {
			seq++
		}
		from, _ := endOffsets(ctx, client, parts)
		ids := newEventIDs("c0ffee00", 101)
		out := &outcomes{}
		out.set(seq, acked)
		if err := w.Publish(ctx, vs[seq].recordFor(ids, seq)); err != nil {
			t.Fatal(err)
		}
		to, _ := endOffsets(ctx, client, parts)
		if v := verify(ctx, kc.Brokers, from, to, ids, vs, out, fresh); v.OK || v.IndexMissing != 1 || v.Found != 1 {
			t.Errorf("verify = %+v", v)
		}
	})
}

// A tiny whole run against the real `webhook-bridge serve`: closed and open
// loop levels with their baselines, then single requests; JSON out.
func TestRunTinyBench(t *testing.T) {
	kc := kafkatest.Kafka(t)
	var stdout, stderr bytes.Buffer
	log := filepath.Join(t.TempDir(), "bridge.log")
	args := []string{
		"-brokers", strings.Join(kc.Brokers, ","), "-duration", "1s", "-warmup", "200ms",
		"-concurrency", "1,4", "-rate", "200", "-partitions", "2", "-single", "10", "-single-gap", "1ms",
		"-cooldown", "0", "-variants", "82", "-json", "-bridge-log", log, "-client", "nethttp", "-log-requests", "all",
		"-speed", "50ms",
	}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if !rep.OK || len(rep.Results) != 8 || len(rep.Levels) != 3 {
		t.Fatalf("report: ok %v, %d results, %d levels\n%s", rep.OK, len(rep.Results), len(rep.Levels), stdout.String())
	}
	for _, r := range rep.Results {
		// /proc counts CPU in 10 ms ticks: ten single requests may cost
		// less than one.
		single := strings.HasPrefix(r.Load, "1 at a time")
		cpuKnown := r.CPUPerReqUS > 0 || single
		if r.Requests == 0 || !r.Verify.OK || r.Verify.Found != r.Verify.Acked || r.LatencyMS["p50"] <= 0 || !cpuKnown || r.PeakRSS <= 0 {
			t.Errorf("%s %s: %d requests, verify %+v, latency %v, %.0f cpu µs/req, rss %d", r.Mode, r.Load, r.Requests, r.Verify, r.LatencyMS, r.CPUPerReqUS, r.PeakRSS)
		}
		if len(r.Errors) > 0 {
			t.Errorf("%s %s: errors %v", r.Mode, r.Load, r.Errors)
		}
		if r.Mode != "baseline" && !strings.Contains(r.Measured, "webhook-bridge process") {
			t.Errorf("%s %s: measured %q, want the bridge process", r.Mode, r.Load, r.Measured)
		}
		if r.Mode == "bridge" && r.AllocsPerReq <= 0 {
			t.Errorf("%s %s: no allocations per request from the bridge's /metrics", r.Mode, r.Load)
		}
		if r.Verify.IndexRecords == 0 && !single {
			t.Errorf("%s %s: no company-index records read back", r.Mode, r.Load)
		}
	}
	for _, sp := range []*speed{rep.SpeedStart, rep.SpeedEnd} {
		if sp == nil || sp.HashMBPerS <= 0 || sp.RoundTripUS <= 0 || sp.RoundTripCPUUS <= 0 {
			t.Errorf("machine speed at start %+v, at the end %+v; want both measured", rep.SpeedStart, rep.SpeedEnd)
		}
	}
	for i, want := range []string{"c=1", "c=4", "rate=200/s"} {
		l := rep.Levels[i]
		if l.Load != want || l.Ratio <= 0 || l.BridgeCPUUS <= 0 || l.BaselineCPUUS <= 0 || l.BridgePeakRSS <= 0 {
			t.Errorf("level %d = %+v, want %s with ratio, CPU and RSS", i, l, want)
		}
	}
	if b, err := os.ReadFile(log); err != nil || !bytes.Contains(b, []byte(`"listening"`)) || !bytes.Contains(b, []byte("/webhooks")) {
		t.Errorf("bridge log %s: %v\n%.2000s", log, err, b)
	}

	// A given binary, bridge only, open loop, the raw client, samples,
	// profiles, table.
	bin, err := buildBridge(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	prof := t.TempDir()
	args = []string{
		"-brokers", strings.Join(kc.Brokers, ","), "-duration", "1s", "-warmup", "100ms", "-mode", "bridge",
		"-rate", "200", "-partitions", "1", "-single", "5", "-cooldown", "0", "-variants", "41", "-bridge-log", "",
		"-bridge-bin", bin, "-every", "300ms", "-speed", "0",
		"-cpuprofile", filepath.Join(prof, "cpu.pprof"), "-memprofile", filepath.Join(prof, "mem.pprof"),
	}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "rate=200/s") || strings.Count(out, " ok\n") != 2 || !strings.Contains(out, "webhook-bridge serve, process") || strings.Contains(out, "speed:") {
		t.Errorf("table:\n%s", out)
	}
	if !strings.Contains(stderr.String(), "goroutines") {
		t.Errorf("no samples printed:\n%s", stderr.String())
	}
	for _, f := range []string{"cpu.pprof", "mem.pprof"} {
		// A profile is gzipped protobuf.
		if b, err := os.ReadFile(filepath.Join(prof, f)); err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Errorf("%s: %v, %d bytes; want a gzipped profile", f, err, len(b))
		}
	}
}

// The speed line: both loops ran, and the table names them.
func TestMeasureSpeed(t *testing.T) {
	sp, err := measureSpeed(30 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if sp.HashMBPerS <= 0 || sp.RoundTripUS <= 0 || sp.RoundTripCPUUS <= 0 {
		t.Fatalf("speed %+v, want every figure measured", sp)
	}
	var out bytes.Buffer
	printTable(&out, report{Machine: "m", SpeedStart: &sp, SpeedEnd: &speed{HashMBPerS: 1, RoundTripUS: 2, RoundTripCPUUS: 3}})
	if want := "speed:   " + sp.String() + " at start; sha256 1 MB/s, loopback round trip 2.0 µs (3.0 µs cpu) at the end\n"; !strings.Contains(out.String(), want) {
		t.Errorf("table:\n%s\nwant the line %q", out.String(), want)
	}
}

func TestProfileFiles(t *testing.T) {
	tests := []struct {
		name string
		many bool
		give loadSpec
		want string
	}{
		{"one phase", false, loadSpec{concurrency: 64}, "out/cpu.pprof"},
		{"closed loop", true, loadSpec{concurrency: 64}, "out/cpu-c64.pprof"},
		{"open loop", true, loadSpec{concurrency: 512, rate: 2000}, "out/cpu-rate2000.pprof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (profiles{many: tt.many}).profileFile("out/cpu.pprof", tt.give); got != tt.want {
				t.Errorf("profileFile = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRunNeedsTheSamples(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-samples", "no/such/samples"}, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "-samples no/such/samples") {
		t.Errorf("run = %v, want an error naming -samples", err)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name      string
		give      []string
		wantErr   string
		wantLoads []string
	}{
		{"defaults", nil, "", []string{"c=64"}},
		{"concurrency list", []string{"-concurrency", "64,128,256"}, "", []string{"c=64", "c=128", "c=256"}},
		{"rate", []string{"-rate", "2000"}, "", []string{"rate=2000/s"}},
		{"closed and open levels", []string{"-concurrency", "1,4,16,64,256", "-rate", "500,2000"}, "",
			[]string{"c=1", "c=4", "c=16", "c=64", "c=256", "rate=500/s", "rate=2000/s"}},
		{"CI", []string{"-concurrency", "64", "-duration", "10s", "-warmup", "2s", "-single", "50"}, "", []string{"c=64"}},
		{"spawn is accepted", []string{"-spawn"}, "", []string{"c=64"}},
		{"bad mode", []string{"-mode", "fast"}, "-mode", nil},
		{"bad rate", []string{"-rate", "500,x"}, "-rate", nil},
		{"pid without url", []string{"-pid", "1"}, "-pid", nil},
		{"binary with url", []string{"-url", "http://h/webhooks", "-bridge-bin", "/bin/true"}, "-bridge-bin", nil},
		{"bad sizes", []string{"-body-bytes", "2000"}, "-body-bytes", nil},
		{"profiles", []string{"-cpuprofile", "cpu.pprof", "-memprofile", "mem.pprof"}, "", []string{"c=64"}},
		{"profile without the bridge", []string{"-mode", "baseline", "-cpuprofile", "cpu.pprof"}, "-cpuprofile", nil},
		{"the bridge's writer as baseline", []string{"-baseline", "writer"}, "", []string{"c=64"}},
		{"unknown baseline", []string{"-baseline", "franz-go"}, "-baseline", nil},
		{"the bridge's GOMAXPROCS", []string{"-gomaxprocs", "1"}, "", []string{"c=64"}},
		{"negative GOMAXPROCS", []string{"-gomaxprocs", "-1"}, "-gomaxprocs", nil},
		{"GOMAXPROCS with url", []string{"-url", "http://h/webhooks", "-gomaxprocs", "1"}, "-gomaxprocs", nil},
		{"no speed loops", []string{"-speed", "0"}, "", []string{"c=64"}},
		{"negative speed", []string{"-speed", "-1s"}, "-speed", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.give, io.Discard)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("parseFlags(%q) = %v, want error containing %q", tt.give, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var got []string
			for _, l := range c.loads() {
				got = append(got, l.String())
			}
			if diff := cmp.Diff(tt.wantLoads, got); diff != "" {
				t.Errorf("loads (-want +got):\n%s", diff)
			}
		})
	}
	var out bytes.Buffer
	if _, err := parseFlags([]string{"-help"}, &out); err == nil || !strings.Contains(out.String(), "-concurrency") || !strings.Contains(out.String(), "Examples") {
		t.Errorf("-help: %v\n%s", err, out.String())
	}
}

// The started bridge inherits GOGC and GOMAXPROCS unless -gogc and
// -gomaxprocs set them, and never the shell's BRIDGE_* settings.
func TestServeEnvironment(t *testing.T) {
	t.Setenv("GOMAXPROCS", "7")
	t.Setenv("GOGC", "300")
	t.Setenv("BRIDGE_AUTH_MODE", "none")
	values := func(env []string, name string) []string {
		var vs []string
		for _, e := range env {
			if v, ok := strings.CutPrefix(e, name+"="); ok {
				vs = append(vs, v)
			}
		}
		return vs
	}
	for _, tt := range []struct {
		name             string
		o                serveOptions
		gogc, gomaxprocs string
	}{
		{"inherited", serveOptions{token: "t"}, "300", "7"},
		{"set", serveOptions{token: "t", gogc: 50, gomaxprocs: 1}, "50", "1"},
	} {
		env := tt.o.env("", "")
		if got := values(env, "GOGC"); !slices.Equal(got, []string{tt.gogc}) {
			t.Errorf("%s: GOGC %q, want %q", tt.name, got, tt.gogc)
		}
		if got := values(env, "GOMAXPROCS"); !slices.Equal(got, []string{tt.gomaxprocs}) {
			t.Errorf("%s: GOMAXPROCS %q, want %q", tt.name, got, tt.gomaxprocs)
		}
		if got := values(env, "BRIDGE_AUTH_MODE"); !slices.Equal(got, []string{"token"}) {
			t.Errorf("%s: BRIDGE_AUTH_MODE %q, want the bench's token", tt.name, got)
		}
	}
}
