package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// The floor (-mode floor) is what serving HTTP alone costs on this
// machine: the same load generator, bodies and connections as a bridge
// phase, against a server that reads each request and answers it with a
// 202 of the bridge's size, and does nothing else: no authentication, no
// validation, no Kafka. Each server runs as its own process, so its CPU
// per request is read from /proc like the bridge's:
//
//   - floor-nethttp: net/http with the bridge's timeouts and header limit
//     (what any handler built on net/http starts from);
//   - floor-raw: a goroutine per connection reading with one buffered
//     reader and answering with one write (about the least a Go server
//     can do per request: the system calls and the scheduler).

// floorEnv names the server a re-executed webhook-bench runs instead of
// the bench, and floorAddrEnv its address.
const (
	floorEnv     = "WEBHOOK_BENCH_FLOOR"
	floorAddrEnv = "WEBHOOK_BENCH_FLOOR_ADDR"
)

// floorKinds are the floor servers, in the order -mode floor runs them.
var floorKinds = []string{"nethttp", "raw"}

// floorBody is the 202's body: as long as the bridge's for a typical event
// (status, event id, topic and key).
var floorBody = []byte(`{"status":"accepted","event_id":"0a1b2c3d-0a1b-4c3d-8e9f-0a1b2c3d4e5f","topic":"bench-0123456789abcdef.subscription","key":"9f8e7d6c-5b4a-4c3d-8e9f-0a1b2c3d4e5f"}` + "\n")

// serveFloor serves the floor server kind on addr until the process is
// stopped.
func serveFloor(kind, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	switch kind {
	case "nethttp":
		srv := &http.Server{
			Handler:           http.HandlerFunc(floorHandler),
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
			MaxHeaderBytes: 64 << 10,
		}
		return srv.Serve(ln)
	case "raw":
		for {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			go serveRawConn(c)
		}
	}
	return fmt.Errorf("%s=%q is not one of %v", floorEnv, kind, floorKinds)
}

var floorLength = strconv.Itoa(len(floorBody))

func floorHandler(w http.ResponseWriter, r *http.Request) {
	var buf [4096]byte
	for {
		if _, err := r.Body.Read(buf[:]); err != nil {
			if !errors.Is(err, io.EOF) {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			break
		}
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{floorLength}
	w.WriteHeader(http.StatusAccepted)
	w.Write(floorBody)
}

// floorResponse is the whole of the raw server's answer.
var floorResponse = []byte("HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: " + floorLength + "\r\n\r\n" + string(floorBody))

// serveRawConn answers the requests of one keep-alive connection: each a
// request line, headers with a Content-Length, and that many bytes.
func serveRawConn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 8192)
	for {
		length := -1
		for first := true; ; first = false {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) == 0 {
				if first {
					return
				}
				break
			}
			if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
				if length, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
					return
				}
			}
		}
		if length < 0 {
			return
		}
		if _, err := br.Discard(length); err != nil {
			return
		}
		if _, err := c.Write(floorResponse); err != nil {
			return
		}
	}
}

// floorServer is a floor server running as a child process.
type floorServer struct {
	kind   string
	url    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startFloor starts this executable as the floor server kind and waits
// until it accepts connections.
func startFloor(ctx context.Context, kind string, o serveOptions) (*floorServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	// GOGC and GOMAXPROCS as -gogc and -gomaxprocs give the bridge.
	cmd.Env = append(o.env("", ""), floorEnv+"="+kind, floorAddrEnv+"="+addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	f := &floorServer{kind: kind, url: "http://" + addr + "/webhooks", cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(f.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return f, nil
		}
		select {
		case <-f.exited:
			return nil, fmt.Errorf("floor server %s exited: %v", kind, cmd.ProcessState)
		case <-ctx.Done():
			f.close()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			f.close()
			return nil, fmt.Errorf("floor server %s: %s does not accept connections after 10s: %w", kind, addr, err)
		}
	}
}

func (f *floorServer) close() {
	_ = f.cmd.Process.Kill()
	<-f.exited
}

// runFloor runs every load level against each floor server in turn.
func (p *phaser) runFloor(ctx context.Context, loads []loadSpec) ([]result, error) {
	var rs []result
	for _, kind := range floorKinds {
		f, err := startFloor(ctx, kind, serveOptions{gogc: p.c.gogc, gomaxprocs: p.c.gomaxprocs})
		if err != nil {
			return rs, err
		}
		tgt, err := newRawTarget(f.url, "")
		if err != nil {
			f.close()
			return rs, err
		}
		for _, l := range loads {
			r := p.floorPhase(ctx, "floor-"+kind, f.cmd.Process.Pid, l, tgt)
			rs = append(rs, r)
		}
		f.close()
	}
	return rs, nil
}

// floorPhase is one load level against a floor server: measured like a
// bridge phase, with nothing to verify (the server writes nothing), but
// every request must have been answered 202.
func (p *phaser) floorPhase(ctx context.Context, mode string, pid int, l loadSpec, tgt target) result {
	p.n++
	if p.n > 1 && p.c.cooldown > 0 {
		time.Sleep(p.c.cooldown)
	}
	p.progress("%s %s: %s warm-up + %s measured", mode, l, l.warmup, l.duration)
	who := proc{pid}
	u := startUsage(who)
	self := startUsage(proc{os.Getpid()})
	hooks := loadHooks{
		sample: p.sampler(who),
		window: func(begin bool) {
			for _, x := range []*usage{u, self} {
				if begin {
					x.restart()
				} else {
					x.end()
				}
			}
		},
	}
	out := &outcomes{}
	ps := runLoad(ctx, tgt, l, p.vs, newEventIDs(p.runID, p.n), out, hooks, p.stderr)
	r := p.finish(mode, l, ps, u, self, nil, fmt.Sprintf("floor server process %d (%s)", pid, mode))
	r.Verify = verifyResult{OK: len(ps.errs) == 0 && ps.ok > 0, NothingWritten: true}
	if !r.Verify.OK {
		r.Verify.Problems = append(r.Verify.Problems, fmt.Sprintf("%d answered 202, errors %s", ps.ok, errString(ps.errs)))
	}
	return r
}

// runFloorMode is -mode floor: the load levels against each floor server,
// then the table. It needs no Kafka; the bodies are the bridge phases'.
func runFloorMode(ctx context.Context, c config, naming topics.Naming, runID string, progress func(string, ...any), stdout, stderr io.Writer) error {
	partitions := map[string]int{}
	for _, t := range naming.All() {
		partitions[t] = c.partitions
	}
	vs, err := makeVariants(c.bodies, naming, partitions)
	if err != nil {
		return err
	}
	rep := report{
		Started: time.Now().UTC(), Bodies: describeBodies(c.bodies, vs),
		Writer: "none: the floor servers read each request and answer 202, nothing else (-mode floor); HTTP client " + c.client,
		Bridge: "not started",
		Machine: fmt.Sprintf("%d CPUs (GOMAXPROCS %d%s), %s, GOGC=%s, load average %s at start",
			runtime.NumCPU(), runtime.GOMAXPROCS(0), bridgeProcs(c.gomaxprocs), runtime.Version(), gogcString(c.gogc), loadAvg()),
	}
	if c.client != "raw" {
		return errors.New("-mode floor sends with -client raw")
	}
	if c.speed > 0 {
		sp, err := measureSpeed(c.speed)
		if err != nil {
			return fmt.Errorf("measuring the machine's speed: %w", err)
		}
		rep.SpeedStart = &sp
	}
	ph := &phaser{c: c, vs: vs, runID: runID, progress: progress, stderr: stderr}
	rep.Results, err = ph.runFloor(ctx, c.loads())
	if err != nil {
		return err
	}
	return finishReport(rep, c, stdout)
}
