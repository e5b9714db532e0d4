package main

import (
	"context"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"
)

// pprofPrefix is where BRIDGE_PPROF serves Go's profiler on the admin port.
const pprofPrefix = "/debug/pprof/"

// withPprof serves net/http/pprof under /debug/pprof/ and everything else
// with admin. It is for the admin port only: a profile shows code paths
// and memory contents.
func withPprof(admin http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(pprofPrefix, pprof.Index) // heap, allocs, goroutine, block, mutex, ...
	mux.HandleFunc(pprofPrefix+"cmdline", pprof.Cmdline)
	mux.HandleFunc(pprofPrefix+"profile", longPoll(pprof.Profile))
	mux.HandleFunc(pprofPrefix+"symbol", pprof.Symbol)
	mux.HandleFunc(pprofPrefix+"trace", longPoll(pprof.Trace))
	mux.Handle("/", admin)
	return mux
}

// longPoll lets a CPU profile or trace of ?seconds=N run longer than the
// admin port's BRIDGE_HTTP_WRITE_TIMEOUT, which pprof would otherwise
// refuse: the response's write deadline becomes N seconds and a margin,
// and pprof is shown a server without a write timeout.
func longPoll(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sec, err := strconv.ParseFloat(strings.TrimSpace(r.FormValue("seconds")), 64)
		if err != nil || sec <= 0 {
			sec = 30 // pprof's default
		}
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Duration(sec*float64(time.Second)) + 30*time.Second))
		h(w, r.WithContext(context.WithValue(r.Context(), http.ServerContextKey, &http.Server{})))
	}
}
