package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// phaser runs phases and turns what they measured into results.
type phaser struct {
	c          config
	client     *kafkago.Client
	partitions map[string]int
	vs         []variant
	runID      string
	br         *runningBridge
	index      *indexCheck
	n          int // phases so far
	progress   func(string, ...any)
	stderr     io.Writer
}

// measured returns the process whose CPU and RSS a phase reports: the
// bridge's for a bridge phase, this one (load generator and kafka-go
// writer) for the baseline.
func (p *phaser) measured(mode string) (proc, string) {
	if mode == "baseline" || p.br == nil {
		if p.c.baseline == "writer" {
			return proc{os.Getpid()}, "webhook-bench (load generator + the bridge's writer)"
		}
		return proc{os.Getpid()}, "webhook-bench (load generator + kafka-go's Writer)"
	}
	if p.br.pid == 0 {
		return proc{}, "not measured (give -pid)"
	}
	return proc{p.br.pid}, fmt.Sprintf("webhook-bridge process %d", p.br.pid)
}

func (p *phaser) run(ctx context.Context, mode string, l loadSpec, tgt target) (result, error) {
	p.n++
	ids := newEventIDs(p.runID, p.n)
	out := &outcomes{}
	if p.n > 1 && p.c.cooldown > 0 {
		time.Sleep(p.c.cooldown)
	}
	p.progress("%s %s: %s warm-up + %s measured", mode, l, l.warmup, l.duration)
	from, err := endOffsets(ctx, p.client, p.partitions)
	if err != nil {
		return result{}, err
	}
	who, whoName := p.measured(mode)
	u := p.startUsage(who)
	self := startUsage(proc{os.Getpid()})
	var broker *usage
	if p.c.brokerPID > 0 {
		broker = startUsage(proc{p.c.brokerPID})
	}
	var c0 writerCounts
	var counted bool
	if bw, ok := tgt.(*kafkaTarget); ok {
		bw.w.counts() // reset the writer's counters
	} else if p.br != nil {
		c0, counted = writerCounters(ctx, p.br.base)
	}
	var profiled func() error
	var rt0, rt1 runtimeCounters
	bridgePhase := mode == "bridge" && p.br != nil
	hooks := loadHooks{
		sample: p.sampler(who),
		window: func(begin bool) {
			if begin && bridgePhase {
				rt0 = p.runtimeCounters(ctx)
				if p.c.profiles.on() {
					profiled = p.c.profiles.start(ctx, p.br.base, l, l.duration)
				}
			}
			for _, x := range []*usage{u, self, broker} {
				switch {
				case x == nil:
				case begin:
					x.restart()
				default:
					x.end()
				}
			}
			if !begin && bridgePhase {
				rt1 = p.runtimeCounters(ctx)
			}
		},
	}
	ps := runLoad(ctx, tgt, l, p.vs, ids, out, hooks, p.stderr)
	r := p.finish(mode, l, ps, u, self, broker, whoName)
	if rt0.ok && rt1.ok && ps.cpuReqs > 0 {
		r.AllocsPerReq = (rt1.mallocs - rt0.mallocs) / float64(ps.cpuReqs)
		r.GCCycles = rt1.gcs - rt0.gcs
	}
	if profiled != nil {
		if err := profiled(); err != nil {
			return r, err
		}
	}
	if bw, ok := tgt.(*kafkaTarget); ok {
		c1 := bw.w.counts()
		r.AvgBatch, r.AvgRequest = writerCounts{}.perBatch(c1), writerCounts{}.perRequest(c1)
	} else if counted {
		if c1, ok := writerCounters(ctx, p.br.base); ok {
			r.AvgBatch, r.AvgRequest = c0.perBatch(c1), c0.perRequest(c1)
		}
	}
	r.Verify, err = p.verify(ctx, from, ids, out)
	return r, err
}

// runSingle runs the idle single-request phase against tgt: mode "single"
// for the bridge, "baseline" for the producer alone (the same records
// written to Kafka directly, one at a time: what Kafka's own round trip
// costs an idle client).
func (p *phaser) runSingle(ctx context.Context, mode string, tgt target) (result, error) {
	p.n++
	ids := newEventIDs(p.runID, p.n)
	out := &outcomes{}
	time.Sleep(p.c.cooldown)
	p.progress("%s single: %d requests one at a time, %s apart", mode, p.c.single, p.c.singleGap)
	from, err := endOffsets(ctx, p.client, p.partitions)
	if err != nil {
		return result{}, err
	}
	measured := "bridge"
	if mode == "baseline" {
		measured = "baseline"
	}
	who, whoName := p.measured(measured)
	u := p.startUsage(who)
	self := startUsage(proc{os.Getpid()})
	ps := runSingle(ctx, tgt, p.c.single, p.c.singleGap, p.vs, ids, out)
	l := loadSpec{concurrency: 1, duration: ps.window}
	r := p.finish(mode, l, ps, u, self, nil, whoName)
	r.Load = fmt.Sprintf("1 at a time, %d", p.c.single)
	r.PerSecond = 0
	r.Verify, err = p.verify(ctx, from, ids, out)
	return r, err
}

func (p *phaser) startUsage(who proc) *usage {
	if who.pid == 0 {
		return nil
	}
	return startUsage(who)
}

func (p *phaser) finish(mode string, l loadSpec, ps phaseStats, u, self, broker *usage, whoName string) result {
	r := result{
		Mode: mode, Load: l.String(), Concurrency: l.concurrency, Rate: l.rate,
		Requests: ps.counted, Sent: ps.sent, Seconds: ps.window.Seconds(),
		Errors: ps.errs, Measured: whoName, LoadAvg: loadAvg(), Samples: ps.samples,
		Behind: float64(ps.lateness) / float64(time.Millisecond),
	}
	if ps.window > 0 {
		r.PerSecond = float64(ps.counted) / ps.window.Seconds()
	}
	r.LatencyMS = map[string]float64{}
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p99.9", 0.999}} {
		r.LatencyMS[q.name] = msf(ps.hist.quantile(q.q))
	}
	r.LatencyMS["max"] = msf(ps.hist.maxValue())
	r.LatencyMS["mean"] = msf(ps.hist.mean())
	if l.rate > 0 {
		r.ServiceMS = map[string]float64{
			"p50": msf(ps.svc.quantile(0.5)), "p99": msf(ps.svc.quantile(0.99)),
			"p99.9": msf(ps.svc.quantile(0.999)), "max": msf(ps.svc.maxValue()),
		}
	}
	self.end()
	if u != nil {
		u.end()
		r.CPUSeconds, r.PeakRSS, r.HostBusy = u.CPU.Seconds(), u.PeakRSS, u.HostBusy
		if ps.cpuReqs > 0 {
			r.CPUPerReqUS = float64(u.CPU.Nanoseconds()) / 1e3 / float64(ps.cpuReqs)
		}
		if u.p.pid != os.Getpid() {
			r.LoadGenCPU = self.CPU.Seconds()
		}
	} else {
		r.HostBusy = self.HostBusy
		r.LoadGenCPU = self.CPU.Seconds()
	}
	if broker != nil {
		broker.end()
		r.BrokerCPU = broker.CPU.Seconds()
	}
	return r
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// verify reads back what the phase wrote, once the writers had a moment to
// finish records that were answered with an error.
func (p *phaser) verify(ctx context.Context, from offsets, ids eventIDs, out *outcomes) (verifyResult, error) {
	time.Sleep(500 * time.Millisecond)
	to, err := endOffsets(ctx, p.client, p.partitions)
	if err != nil {
		return verifyResult{}, err
	}
	v := verify(ctx, p.c.brokers, from, to, ids, p.vs, out, p.index)
	status := "ok"
	if !v.OK {
		status = "FAILED"
	}
	p.progress("  verified in %.1fs: %s (%d acknowledged, %d found once, %d missing, %d duplicates, %d unexpected, %d mismatched; company index: %d records, %d tombstones, %d missing)",
		v.Took, status, v.Acked, v.Found, v.Missing, v.Duplicates, v.Unexpected, v.Mismatched, v.IndexRecords, v.Tombstones, v.IndexMissing)
	for _, pr := range v.Problems {
		p.progress("    %s", pr)
	}
	return v, nil
}

// sampler reads RSS, goroutines and heap of the measured process: from
// /proc and, for a bridge, its /metrics.
func (p *phaser) sampler(who proc) func(time.Duration) sample {
	if p.c.every <= 0 {
		return nil
	}
	return func(at time.Duration) sample {
		s := sample{At: at.Seconds()}
		if who.pid != 0 {
			s.RSS, _ = who.rss()
		}
		switch {
		case who.pid == os.Getpid():
			s.Goroutines, s.Heap = goStats()
		case p.br != nil:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			m, err := scrape(ctx, p.br.base, "go_goroutines", "go_memstats_heap_alloc_bytes")
			cancel()
			if err == nil {
				s.Goroutines, s.Heap = int64(m["go_goroutines"]), int64(m["go_memstats_heap_alloc_bytes"])
			}
		}
		return s
	}
}

// runtimeCounters are the bridge's Go runtime counters as its /metrics
// shows them.
type runtimeCounters struct {
	mallocs, gcs float64
	ok           bool
}

func (p *phaser) runtimeCounters(ctx context.Context) runtimeCounters {
	const mallocs, gcs = "go_memstats_mallocs_total", "go_gc_duration_seconds_count"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := scrape(ctx, p.br.base, mallocs, gcs)
	if err != nil {
		return runtimeCounters{}
	}
	a, ok1 := m[mallocs]
	g, ok2 := m[gcs]
	return runtimeCounters{mallocs: a, gcs: g, ok: ok1 && ok2}
}
