package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one row of the table: one phase.
type result struct {
	Mode        string             `json:"mode"`
	Load        string             `json:"load"`
	Concurrency int                `json:"concurrency"`
	Rate        float64            `json:"rate,omitempty"`
	Requests    uint64             `json:"requests"` // measured
	Sent        uint64             `json:"sent"`     // warm-up included
	Seconds     float64            `json:"seconds"`
	PerSecond   float64            `json:"requests_per_second"`
	LatencyMS   map[string]float64 `json:"latency_ms"`
	// ServiceMS (open loop) counts from when a request was actually sent,
	// not when it was due: the gap to LatencyMS is the load generator's own
	// delay (a stalled machine), which LatencyMS rightly includes.
	ServiceMS map[string]float64 `json:"service_ms,omitempty"`
	Errors    map[string]uint64  `json:"errors"`
	// CPUSeconds is the measured process's CPU (utime+stime) over the
	// measured window; CPUPerReqUS divides it by the requests of the window.
	CPUSeconds  float64      `json:"cpu_seconds"`
	CPUPerReqUS float64      `json:"cpu_us_per_request"`
	PeakRSS     int64        `json:"peak_rss_bytes"`
	Measured    string       `json:"measured"` // whose CPU and RSS
	LoadGenCPU  float64      `json:"loadgen_cpu_seconds,omitempty"`
	BrokerCPU   float64      `json:"broker_cpu_seconds,omitempty"`
	HostBusy    float64      `json:"host_cpu_busy"`
	LoadAvg     string       `json:"load_average"`
	Behind      float64      `json:"schedule_behind_ms,omitempty"`
	AvgBatch    float64      `json:"avg_batch_records,omitempty"`
	Samples     []sample     `json:"samples,omitempty"`
	Verify      verifyResult `json:"verify"`
	// AllocsPerReq and GCCycles are the bridge's heap allocations per
	// request and its garbage collections over the window (its /metrics).
	AllocsPerReq float64 `json:"bridge_allocs_per_request,omitempty"`
	GCCycles     float64 `json:"bridge_gc_cycles,omitempty"`
	// AvgRequest is the records of an average produce request (a request
	// carries a batch for each partition of one broker with records
	// waiting).
	AvgRequest float64 `json:"avg_request_records,omitempty"`
}

// level compares the bridge with the baseline at one load level.
type level struct {
	Load              string  `json:"load"`
	BridgePerSecond   float64 `json:"bridge_requests_per_second"`
	BaselinePerSecond float64 `json:"baseline_requests_per_second"`
	// Ratio is the bridge's throughput over the baseline's.
	Ratio             float64            `json:"throughput_ratio"`
	BridgeCPUUS       float64            `json:"bridge_cpu_us_per_request"`
	BaselineCPUUS     float64            `json:"baseline_cpu_us_per_request"`
	BridgePeakRSS     int64              `json:"bridge_peak_rss_bytes"`
	BridgeLatencyMS   map[string]float64 `json:"bridge_latency_ms"`
	BaselineLatencyMS map[string]float64 `json:"baseline_latency_ms"`
}

func compare(load string, brg, base result) level {
	l := level{
		Load: load, BridgePerSecond: brg.PerSecond, BaselinePerSecond: base.PerSecond,
		BridgeCPUUS: brg.CPUPerReqUS, BaselineCPUUS: base.CPUPerReqUS, BridgePeakRSS: brg.PeakRSS,
		BridgeLatencyMS: brg.LatencyMS, BaselineLatencyMS: base.LatencyMS,
	}
	if base.PerSecond > 0 {
		l.Ratio = brg.PerSecond / base.PerSecond
	}
	return l
}

// report is the whole run, as -json prints it.
type report struct {
	Started    time.Time          `json:"started"`
	Brokers    []string           `json:"brokers"`
	Prefix     string             `json:"topic_prefix"`
	Partitions int                `json:"partitions"`
	Bridge     string             `json:"bridge"`
	Bodies     string             `json:"bodies"`
	Writer     string             `json:"writer"`
	Machine    string             `json:"machine"`
	SpeedStart *speed             `json:"speed_at_start,omitempty"`
	SpeedEnd   *speed             `json:"speed_at_end,omitempty"`
	Results    []result           `json:"results"`
	Levels     []level            `json:"levels,omitempty"`
	Ratios     map[string]float64 `json:"throughput_ratio_bridge_to_baseline,omitempty"`
	OK         bool               `json:"ok"`
}

func printTable(w io.Writer, rep report) {
	fmt.Fprintf(w, "webhook-bench %s\n", rep.Started.Format(time.RFC3339))
	if len(rep.Brokers) > 0 {
		fmt.Fprintf(w, "kafka:   %s, topics %s* (%d partitions, replication 1)\n", strings.Join(rep.Brokers, ","), rep.Prefix, rep.Partitions)
	}
	fmt.Fprintf(w, "writer:  %s\n", rep.Writer)
	if rep.Bridge != "" {
		fmt.Fprintf(w, "bridge:  %s\n", rep.Bridge)
	}
	fmt.Fprintf(w, "bodies:  %s\n", rep.Bodies)
	fmt.Fprintf(w, "machine: %s\n", rep.Machine)
	if rep.SpeedStart != nil {
		fmt.Fprintf(w, "speed:   %s at start", rep.SpeedStart)
		if rep.SpeedEnd != nil {
			fmt.Fprintf(w, "; %s at the end", rep.SpeedEnd)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tload\trequests\treq/s\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\tcpu µs/req\tpeak rss\thost cpu\tverified\t")
	for _, r := range rep.Results {
		l := r.LatencyMS
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f%%\t%s\t\n",
			r.Mode, r.Load, r.Requests, perSecond(r.PerSecond), f3(l["p50"]), f3(l["p99"]), f3(l["p99.9"]), f3(l["max"]),
			errString(r.Errors), cpuUS(r.CPUPerReqUS), rssString(r.PeakRSS), r.HostBusy*100, verifiedString(r.Verify))
	}
	tw.Flush()
	if len(rep.Levels) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "load\tbridge req/s\tbaseline req/s\tbridge/baseline\tbridge p99 ms\tbaseline p99 ms\tbridge cpu µs/req\tbaseline cpu µs/req\tbridge peak rss\t")
		for _, l := range rep.Levels {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t\n",
				l.Load, perSecond(l.BridgePerSecond), perSecond(l.BaselinePerSecond), l.Ratio,
				f3(l.BridgeLatencyMS["p99"]), f3(l.BaselineLatencyMS["p99"]),
				cpuUS(l.BridgeCPUUS), cpuUS(l.BaselineCPUUS), rssString(l.BridgePeakRSS))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	for _, r := range rep.Results {
		var notes []string
		if r.Measured != "" {
			notes = append(notes, "cpu/rss of "+r.Measured)
		}
		if r.LoadGenCPU > 0 {
			notes = append(notes, fmt.Sprintf("load generator %.1f cpu s", r.LoadGenCPU))
		}
		if r.BrokerCPU > 0 {
			notes = append(notes, fmt.Sprintf("broker %.1f cpu s", r.BrokerCPU))
		}
		if r.AvgBatch > 0 {
			notes = append(notes, fmt.Sprintf("%.1f records per partition batch", r.AvgBatch))
		}
		if r.AvgRequest > 0 {
			notes = append(notes, fmt.Sprintf("%.1f per produce request", r.AvgRequest))
		}
		if r.AllocsPerReq > 0 {
			notes = append(notes, fmt.Sprintf("bridge %.0f allocs/req, %.0f GCs", r.AllocsPerReq, r.GCCycles))
		}
		if r.Behind > 1 {
			notes = append(notes, fmt.Sprintf("schedule fell up to %.0f ms behind", r.Behind))
		}
		if s := r.ServiceMS; s != nil {
			notes = append(notes, fmt.Sprintf("from actual send: p50 %s, p99 %s, p99.9 %s, max %s ms", f3(s["p50"]), f3(s["p99"]), f3(s["p99.9"]), f3(s["max"])))
		}
		if n := len(r.Samples); n >= 2 {
			first, last := r.Samples[0], r.Samples[n-1]
			notes = append(notes, fmt.Sprintf("rss %s at %.0fs, %s at %.0fs; goroutines %d, %d",
				mib(first.RSS), first.At, mib(last.RSS), last.At, first.Goroutines, last.Goroutines))
		}
		if r.Verify.LandedAfterError > 0 {
			notes = append(notes, fmt.Sprintf("%d answered with an error yet written (allowed: at least once)", r.Verify.LandedAfterError))
		}
		notes = append(notes, "load average "+r.LoadAvg)
		if r.Verify.NothingWritten {
			notes = append(notes, r.Verify.Problems...)
			fmt.Fprintf(w, "%s %s: %s; nothing written to Kafka\n", r.Mode, r.Load, strings.Join(notes, ", "))
			continue
		}
		fmt.Fprintf(w, "%s %s: %s; %d records read back (%d of the company index) in %.1fs\n",
			r.Mode, r.Load, strings.Join(notes, ", "), r.Verify.Read, r.Verify.IndexRecords, r.Verify.Took)
	}
}

func perSecond(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func cpuUS(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func rssString(v int64) string {
	if v <= 0 {
		return "-"
	}
	return mib(v)
}

func verifiedString(v verifyResult) string {
	switch {
	case v.NothingWritten && v.OK:
		return "- (all 202)"
	case v.NothingWritten:
		return "FAILED (not all 202)"
	}
	if v.OK {
		return "ok"
	}
	return fmt.Sprintf("FAILED (%d missing, %d dup, %d unexpected, %d mismatched, %d index missing)",
		v.Missing, v.Duplicates, v.Unexpected, v.Mismatched, v.IndexMissing)
}

func f3(v float64) string { return ms(time.Duration(v * float64(time.Millisecond))) }

func errString(m map[string]uint64) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
