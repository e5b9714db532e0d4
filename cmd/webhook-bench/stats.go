package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// histogram counts latencies in nanoseconds in log-linear buckets: exact
// below 256 ns, then 128 buckets per power of two, so any value is known
// within 0.4 %. It has a fixed size (about 60 KiB) whatever the run's
// length, so a long soak does not grow the process it measures, and every
// worker of a phase records into the same one (atomically).
type histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
	min    atomic.Int64 // valid once n > 0
	sum    atomic.Int64 // of nanoseconds: 292 years of latency fit
}

const (
	histSub     = 128 // buckets per power of two
	histBuckets = (64-8)*histSub + 2*histSub
)

func histIndex(v int64) int {
	if v < 0 {
		v = 0
	}
	e := bits.Len64(uint64(v)) - 8 // values below 2^8 are exact
	if e < 0 {
		e = 0
	}
	return e*histSub + int(uint64(v)>>uint(e))
}

// histRange is the [lo, hi] of the values in bucket i.
func histRange(i int) (lo, hi int64) {
	if i < 2*histSub {
		return int64(i), int64(i)
	}
	e := i/histSub - 1
	m := int64(i - e*histSub)
	return m << uint(e), (m+1)<<uint(e) - 1
}

func newHistogram() *histogram {
	h := &histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

// record is safe for concurrent use.
func (h *histogram) record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[histIndex(v)].Add(1)
	h.sum.Add(v)
	for m := h.max.Load(); v > m && !h.max.CompareAndSwap(m, v); m = h.max.Load() {
	}
	for m := h.min.Load(); v < m && !h.min.CompareAndSwap(m, v); m = h.min.Load() {
	}
	h.n.Add(1)
}

// quantile returns the value at rank ceil(q·n) (the nearest-rank
// definition: p99 of 200 samples is the 198th smallest), as the middle of
// its bucket, clamped to the observed extremes; the extremes themselves are
// exact. Call it once recording is over.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	lo, hi := h.min.Load(), h.max.Load()
	rank := uint64(q*float64(n) + 0.9999999)
	rank = min(max(rank, 1), n)
	switch rank {
	case n:
		return time.Duration(hi)
	case 1:
		return time.Duration(lo)
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			blo, bhi := histRange(i)
			return time.Duration(min(max(blo+(bhi-blo)/2, lo), hi))
		}
	}
	return time.Duration(hi)
}

func (h *histogram) mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

func (h *histogram) maxValue() time.Duration {
	if h.n.Load() == 0 {
		return 0
	}
	return time.Duration(h.max.Load())
}

// proc reads a process's resource use from /proc (Linux).
type proc struct{ pid int }

// rss returns the resident set size in bytes.
func (p proc) rss() (int64, error) {
	return statusField(p.pid, "VmRSS:")
}

// threads returns the number of OS threads.
func (p proc) threads() (int64, error) {
	v, err := statusField(p.pid, "Threads:")
	return v / 1024, err // statusField scales kB; Threads has no unit
}

func statusField(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field); ok {
			fs := strings.Fields(rest)
			if len(fs) == 0 {
				break
			}
			v, err := strconv.ParseInt(fs[0], 10, 64)
			return v * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// cpu returns the process's user and system CPU time.
func (p proc) cpu() (time.Duration, error) {
	if p.pid == os.Getpid() {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0, err
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start at ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", p.pid)
	}
	fs := strings.Fields(string(b[i+1:]))
	if len(fs) < 13 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", p.pid)
	}
	ut, err1 := strconv.ParseInt(fs[11], 10, 64)
	st, err2 := strconv.ParseInt(fs[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc/%d/stat", p.pid)
	}
	const clkTck = 100 // USER_HZ on every Linux we run on
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// hostCPU returns busy and total jiffies of the whole machine (/proc/stat).
func hostCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fs := strings.Fields(string(line))
	for i, f := range fs[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// loadAvg returns /proc/loadavg's three averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	fs := strings.Fields(string(b))
	if len(fs) < 3 {
		return "?"
	}
	return strings.Join(fs[:3], " ")
}

// goStats reads this process's goroutines and live heap without stopping
// the world (runtime.ReadMemStats would).
func goStats() (goroutines, heap int64) {
	s := []metrics.Sample{{Name: "/sched/goroutines:goroutines"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		goroutines = int64(s[0].Value.Uint64())
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		heap = int64(s[1].Value.Uint64())
	}
	return goroutines, heap
}

// usage measures a process over a phase: CPU time used and peak RSS
// (sampled every 100 ms), plus the machine's CPU busy share.
type usage struct {
	p         proc
	cpu0      time.Duration
	busy0     int64
	total0    int64
	peak      int64
	stop      chan struct{}
	done      chan struct{}
	ended     bool
	CPU       time.Duration
	PeakRSS   int64
	HostBusy  float64 // 0..1 of all cores
	sampleErr error
}

func startUsage(p proc) *usage {
	u := &usage{p: p, stop: make(chan struct{}), done: make(chan struct{})}
	u.cpu0, u.sampleErr = p.cpu()
	u.busy0, u.total0 = hostCPU()
	if r, err := p.rss(); err == nil {
		u.peak = r
	}
	go func() {
		defer close(u.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-u.stop:
				return
			case <-t.C:
				if r, err := p.rss(); err == nil && r > u.peak {
					u.peak = r
				}
			}
		}
	}()
	return u
}

// restart measures CPU (the process's and the machine's) from now on: the
// measured window begins after the warm-up. The RSS peak keeps counting
// from startUsage.
func (u *usage) restart() {
	var err error
	if u.cpu0, err = u.p.cpu(); err != nil && u.sampleErr == nil {
		u.sampleErr = err
	}
	u.busy0, u.total0 = hostCPU()
}

// end stops the measurement; calls after the first do nothing.
func (u *usage) end() {
	if u.ended {
		return
	}
	u.ended = true
	close(u.stop)
	<-u.done
	if r, err := u.p.rss(); err == nil && r > u.peak {
		u.peak = r
	}
	c, err := u.p.cpu()
	if err != nil && u.sampleErr == nil {
		u.sampleErr = err
	}
	u.CPU, u.PeakRSS = c-u.cpu0, u.peak
	busy, total := hostCPU()
	if total > u.total0 {
		u.HostBusy = float64(busy-u.busy0) / float64(total-u.total0)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// ms formats a latency in milliseconds with three significant digits.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v == 0:
		return "0"
	case v < 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}
