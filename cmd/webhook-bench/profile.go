package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// profiles fetches the bridge's CPU and allocation profiles over a bridge
// phase's measured window, from its admin port's /debug/pprof/ (serve with
// BRIDGE_PPROF=true; the bench sets it when it starts the bridge).
type profiles struct {
	cpu, mem string // -cpuprofile, -memprofile: "" for none
	many     bool   // more than one bridge phase: each file gets the phase's load in its name
}

func (p profiles) on() bool { return p.cpu != "" || p.mem != "" }

// profileFile is where the profile of phase l goes: file itself when there
// is one bridge phase, else file with the load before its extension
// (bridge.pprof: bridge-c64.pprof, bridge-rate2000.pprof).
func (p profiles) profileFile(file string, l loadSpec) string {
	if !p.many {
		return file
	}
	label := fmt.Sprintf("c%d", l.concurrency)
	if l.rate > 0 {
		label = fmt.Sprintf("rate%g", l.rate)
	}
	ext := filepath.Ext(file)
	return strings.TrimSuffix(file, ext) + "-" + label + ext
}

// start begins fetching the profiles of a window of about d (pprof counts
// whole seconds); wait returns once they are written, or why not.
func (p profiles) start(ctx context.Context, base string, l loadSpec, d time.Duration) (wait func() error) {
	secs := max(1, int(math.Round(d.Seconds())))
	type job struct{ path, file string }
	var jobs []job
	if p.cpu != "" {
		jobs = append(jobs, job{fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), p.profileFile(p.cpu, l)})
	}
	if p.mem != "" {
		// A delta profile: the allocations made during the window.
		jobs = append(jobs, job{fmt.Sprintf("/debug/pprof/allocs?seconds=%d", secs), p.profileFile(p.mem, l)})
	}
	errs := make(chan error, len(jobs))
	for _, j := range jobs {
		go func() { errs <- fetchProfile(ctx, base+j.path, j.file, time.Duration(secs)*time.Second+time.Minute) }()
	}
	return func() error {
		var first error
		for range jobs {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
}

// fetchProfile GETs url into file.
func fetchProfile(ctx context.Context, url, file string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		hint := ""
		if resp.StatusCode == http.StatusNotFound {
			hint = " (is the bridge running with BRIDGE_PPROF=true?)"
		}
		return fmt.Errorf("profile %s: %s%s %s", url, resp.Status, hint, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", url, err)
	}
	return f.Close()
}
