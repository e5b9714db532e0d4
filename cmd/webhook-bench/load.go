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
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
)

// outcome of one event id.
const (
	notSent byte = iota
	acked        // 2xx (bridge) or Publish returned nil (baseline)
	failed       // anything else: the record may or may not have landed
)

// outcomes holds one byte per sequence number, in chunks so that it grows
// without copying; each sequence number is written by one goroutine.
type outcomes struct {
	mu     sync.RWMutex
	chunks [][]byte
	n      atomic.Uint64 // highest sequence number set, plus one
}

const chunkBits = 16

func (o *outcomes) set(seq uint64, v byte) {
	c := int(seq >> chunkBits)
	o.mu.RLock()
	if c < len(o.chunks) {
		o.chunks[c][seq&(1<<chunkBits-1)] = v
		o.mu.RUnlock()
	} else {
		o.mu.RUnlock()
		o.mu.Lock()
		for len(o.chunks) <= c {
			o.chunks = append(o.chunks, make([]byte, 1<<chunkBits))
		}
		o.chunks[c][seq&(1<<chunkBits-1)] = v
		o.mu.Unlock()
	}
	for {
		n := o.n.Load()
		if seq < n || o.n.CompareAndSwap(n, seq+1) {
			return
		}
	}
}

// get is only called once every writer is done.
func (o *outcomes) get(seq uint64) byte {
	c := int(seq >> chunkBits)
	if c >= len(o.chunks) {
		return notSent
	}
	return o.chunks[c][seq&(1<<chunkBits-1)]
}

// target is where a phase sends events: the bridge over HTTP, or Kafka
// directly (the baseline).
type target interface {
	// send delivers event seq of variant v and returns its status: an HTTP
	// status, statusPublished for a baseline write, or 0 with the error.
	send(ctx context.Context, w *worker, v *variant, seq uint64) (int, error)
}

// statusPublished is a baseline write that Kafka acknowledged.
const statusPublished = 202

// worker is one load-generating goroutine's state.
type worker struct {
	ids  eventIDs
	buf  []byte
	rd   bytes.Reader
	rec  topics.Record // the baseline's record buffers, reused while Publish succeeds
	recs []topics.Record
	msgs []kafkago.Message // kafka-go's copy of recs
	id   []byte
	conn *rawConn   // -client raw
	hist *histogram // the phase's: from when the request was due (open loop) or sent
	svc  *histogram // the phase's: from when it was sent, without the load generator's own delays
	errs map[string]uint64
	ok   uint64
	n    uint64 // requests counted in the window
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.c.Close()
		w.conn = nil
	}
}

func (w *worker) fail(key string) {
	if w.errs == nil {
		w.errs = map[string]uint64{}
	}
	w.errs[key]++
}

// httpTarget posts to a bridge.
type httpTarget struct {
	url, token string
	client     *http.Client
}

func newHTTPTarget(url, token string, conns int) *httpTarget {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns * 2,
		MaxIdleConnsPerHost:   conns * 2, // the default of 2 would close and reopen connections all the time
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 40 * time.Second,
		ForceAttemptHTTP2:     false,
		WriteBufferSize:       8 << 10,
		ReadBufferSize:        8 << 10,
	}
	return &httpTarget{url: url, token: token, client: &http.Client{Transport: tr, Timeout: 40 * time.Second}}
}

func (t *httpTarget) send(ctx context.Context, w *worker, v *variant, seq uint64) (int, error) {
	w.buf = v.bodyFor(w.buf, w.ids, seq)
	w.rd.Reset(w.buf)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, &w.rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if t.token != "" {
		req.Header.Set(bridge.HeaderWebhookToken, t.token)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		w.buf = nil // the transport may still hold it
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (t *httpTarget) close() { t.client.CloseIdleConnections() }

// kafkaTarget publishes the records the bridge would, straight to Kafka
// through a producer: each event with the company-index record the bridge
// publishes with it (a REMOVED event's tombstone every time, an entity's
// mapping until it is known).
type kafkaTarget struct {
	w       producer
	timeout time.Duration
	known   *sync.Map // entities mapped, as the bridge's index learns them
}

func newKafkaTarget(w producer, timeout time.Duration) *kafkaTarget {
	return &kafkaTarget{w: w, timeout: timeout, known: &sync.Map{}}
}

// producer is what a baseline writes with: kafka-go's own Writer, or the
// bridge's (topics/kafka).
type producer interface {
	// publish writes recs with acks=all; the records' bytes may be reused
	// once it returned nil.
	publish(ctx context.Context, w *worker, recs []topics.Record) error
	// counts are the records, batches and produce requests (0: not
	// counted) written since the previous call.
	counts() writerCounts
	Close() error
}

// bridgeWriter is the bridge's own writer (topics/kafka.Writer).
type bridgeWriter struct{ *kafka.Writer }

func (b bridgeWriter) publish(ctx context.Context, _ *worker, recs []topics.Record) error {
	return b.Publish(ctx, recs...)
}

func (b bridgeWriter) counts() writerCounts {
	s := b.Stats()
	return writerCounts{writes: float64(s.Writes), messages: float64(s.Messages), requests: float64(s.Requests)}
}

// kafkaGoWriter is kafka-go's Writer: synchronous, acks=all, murmur2.
type kafkaGoWriter struct{ w *kafkago.Writer }

func (k kafkaGoWriter) publish(ctx context.Context, w *worker, recs []topics.Record) error {
	w.msgs = w.msgs[:0]
	for _, r := range recs {
		hs := make([]kafkago.Header, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = kafkago.Header{Key: h.Key, Value: h.Value}
		}
		w.msgs = append(w.msgs, kafkago.Message{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: hs})
	}
	err := k.w.WriteMessages(ctx, w.msgs...)
	if err != nil {
		w.msgs = nil // the writer may still hold them
	}
	return err
}

func (k kafkaGoWriter) counts() writerCounts {
	s := k.w.Stats()
	return writerCounts{writes: float64(s.Writes), messages: float64(s.Messages)}
}

func (k kafkaGoWriter) Close() error { return k.w.Close() }

func (t *kafkaTarget) send(ctx context.Context, w *worker, v *variant, seq uint64) (int, error) {
	if w.id == nil {
		w.id = make([]byte, idLen)
	}
	v.recordInto(&w.rec, w.id, w.ids, seq)
	w.recs = append(w.recs[:0], w.rec)
	learn := false
	if v.index.Topic != "" {
		if v.tombstone {
			w.recs = append(w.recs, v.index)
		} else if _, ok := t.known.Load(v.entity); !ok {
			w.recs = append(w.recs, v.index)
			learn = true
		}
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	if err := t.w.publish(ctx, w, w.recs); err != nil {
		w.rec, w.id, w.recs = topics.Record{}, nil, nil // the writer may still hold them
		return 0, err
	}
	if learn {
		t.known.Store(v.entity, true)
	}
	return statusPublished, nil
}

// loadSpec is the load of one phase.
type loadSpec struct {
	concurrency int           // closed loop: workers; open loop: most requests in flight
	rate        float64       // requests per second; 0 for a closed loop
	warmup      time.Duration // sent and verified, not measured
	duration    time.Duration // measured
	every       time.Duration // print a sample line this often (0: never)
}

func (l loadSpec) String() string {
	if l.rate > 0 {
		return fmt.Sprintf("rate=%g/s", l.rate)
	}
	return fmt.Sprintf("c=%d", l.concurrency)
}

// phaseStats is what a load run measured.
type phaseStats struct {
	hist     *histogram
	svc      *histogram
	errs     map[string]uint64
	ok       uint64
	counted  uint64 // requests completed in the window
	sent     uint64 // every sequence number handed out
	cpuReqs  uint64 // requests the CPU measured between the window hooks served
	window   time.Duration
	samples  []sample
	lateness time.Duration // open loop: how far the schedule fell behind at most
}

// sample is one line of the periodic report (soak).
type sample struct {
	At         float64 `json:"at_s"` // seconds since the phase started
	Rate       float64 `json:"rate"`
	RSS        int64   `json:"rss_bytes"`
	Goroutines int64   `json:"goroutines"`
	Heap       int64   `json:"heap_bytes,omitempty"`
	Errors     uint64  `json:"errors"`
}

// loadHooks are what runLoad calls back, each optional.
type loadHooks struct {
	// sample reads the measured process (every spec.every).
	sample func(since time.Duration) sample
	// window is called with true when the warm-up ends and the measured
	// window begins, then with false when it ends: at the end of the
	// duration (closed loop) or when the last scheduled request is answered
	// (open loop). CPU measured between the two is the window's requests'.
	window func(begin bool)
}

// runLoad drives tgt with spec, in a closed loop or on a fixed schedule.
// Every event it sends has its outcome recorded in out.
func runLoad(ctx context.Context, tgt target, spec loadSpec, vs []variant, ids eventIDs, out *outcomes, hooks loadHooks, log io.Writer) phaseStats {
	hist, svc := newHistogram(), newHistogram()
	start := time.Now()
	warmEnd := start.Add(spec.warmup)
	end := warmEnd.Add(spec.duration)
	workers := make([]*worker, spec.concurrency)
	var next atomic.Uint64
	var done atomic.Uint64 // completed requests, for the samples
	var errCount atomic.Uint64

	do := func(w *worker, seq uint64, from time.Time) {
		v := &vs[seq%uint64(len(vs))]
		sent := time.Now()
		status, err := tgt.send(ctx, w, v, seq)
		now := time.Now()
		good := err == nil && status >= 200 && status < 300
		if good {
			out.set(seq, acked)
		} else {
			out.set(seq, failed)
			errCount.Add(1)
		}
		done.Add(1)
		if from.Before(warmEnd) || now.After(end) && spec.rate == 0 {
			return // warm-up, or (closed loop) past the window
		}
		w.n++
		w.hist.record(now.Sub(from))
		w.svc.record(now.Sub(sent))
		switch {
		case good:
			w.ok++
		case err != nil:
			w.fail(errKind(err))
		default:
			w.fail(strconv.Itoa(status))
		}
	}

	// The measured window's hooks.
	answered := make(chan struct{}) // every request answered
	windowDone := make(chan struct{})
	go func() {
		defer close(windowDone)
		until := func(t time.Time) {
			select {
			case <-ctx.Done():
			case <-time.After(time.Until(t)):
			}
		}
		until(warmEnd)
		if hooks.window != nil {
			hooks.window(true)
		}
		if spec.rate > 0 {
			<-answered
		} else {
			until(end)
		}
		if hooks.window != nil {
			hooks.window(false)
		}
	}()

	var wg sync.WaitGroup
	var lateness time.Duration
	if spec.rate <= 0 {
		for i := range workers {
			w := &worker{ids: ids, hist: hist, svc: svc}
			workers[i] = w
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil && time.Now().Before(end) {
					t0 := time.Now()
					do(w, next.Add(1)-1, t0)
				}
			}()
		}
	} else {
		// Open loop: request i is due at start + i/rate whatever happened to
		// the others, and its latency counts from then (no coordinated
		// omission: a stall shows as the latency of every request it held).
		interval := float64(time.Second) / spec.rate
		total := uint64(spec.rate * (spec.warmup + spec.duration).Seconds())
		due := func(i uint64) time.Time { return start.Add(time.Duration(float64(i) * interval)) }
		queue := make(chan uint64, 1<<16)
		for i := range workers {
			w := &worker{ids: ids, hist: hist, svc: svc}
			workers[i] = w
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := range queue {
					do(w, seq, due(seq))
				}
			}()
		}
		go func() {
			defer close(queue)
			for i := uint64(0); i < total && ctx.Err() == nil; i++ {
				d := due(i)
				if wait := time.Until(d); wait > 0 {
					time.Sleep(wait)
				} else if -wait > lateness {
					lateness = -wait
				}
				next.Store(i + 1)
				queue <- i
			}
		}()
	}

	// Periodic samples, for soaks.
	stopSamples := make(chan struct{})
	var samples []sample
	var sampleWG sync.WaitGroup
	if spec.every > 0 && hooks.sample != nil {
		sampleWG.Add(1)
		go func() {
			defer sampleWG.Done()
			t := time.NewTicker(spec.every)
			defer t.Stop()
			lastDone, lastAt := uint64(0), time.Now()
			for {
				select {
				case <-stopSamples:
					return
				case now := <-t.C:
					d := done.Load()
					s := hooks.sample(now.Sub(start))
					s.Rate = float64(d-lastDone) / now.Sub(lastAt).Seconds()
					s.Errors = errCount.Load()
					lastDone, lastAt = d, now
					samples = append(samples, s)
					heap := "-"
					if s.Heap > 0 {
						heap = mib(s.Heap)
					}
					fmt.Fprintf(log, "  %6.0fs  %8.0f req/s  rss %9s  goroutines %5d  heap %9s  errors %d\n",
						s.At, s.Rate, mib(s.RSS), s.Goroutines, heap, s.Errors)
				}
			}
		}()
	}
	wg.Wait()
	close(answered)
	<-windowDone
	close(stopSamples)
	sampleWG.Wait()
	for _, w := range workers {
		w.close()
	}

	ps := phaseStats{hist: hist, svc: svc, errs: map[string]uint64{}, sent: next.Load(), window: spec.duration, samples: samples, lateness: lateness}
	if spec.rate > 0 {
		// The window ends when the last scheduled request is answered.
		ps.window = max(time.Since(warmEnd), spec.duration)
	}
	for _, w := range workers {
		ps.ok += w.ok
		ps.counted += w.n
		for k, v := range w.errs {
			ps.errs[k] += v
		}
	}
	ps.cpuReqs = ps.counted
	return ps
}

// runSingle sends n requests one after another, gap apart, after a few
// unmeasured ones: the latency of a bridge that is otherwise idle.
func runSingle(ctx context.Context, tgt target, n int, gap time.Duration, vs []variant, ids eventIDs, out *outcomes) phaseStats {
	w := &worker{ids: ids}
	ps := phaseStats{hist: newHistogram(), svc: newHistogram(), errs: map[string]uint64{}}
	const unmeasured = 5
	start := time.Now()
	for i := 0; i < n+unmeasured && ctx.Err() == nil; i++ {
		seq := uint64(i)
		v := &vs[seq%uint64(len(vs))] // round robin over the resources, as verify expects
		t0 := time.Now()
		status, err := tgt.send(ctx, w, v, seq)
		d := time.Since(t0)
		ps.sent++
		good := err == nil && status >= 200 && status < 300
		if good {
			out.set(seq, acked)
		} else {
			out.set(seq, failed)
		}
		if i >= unmeasured {
			ps.counted++
			ps.hist.record(d)
			switch {
			case good:
				ps.ok++
			case err != nil:
				ps.errs[errKind(err)]++
			default:
				ps.errs[strconv.Itoa(status)]++
			}
		}
		time.Sleep(gap)
	}
	w.close()
	ps.window = time.Since(start)
	ps.cpuReqs = ps.sent
	return ps
}

// errKind is a short label for a transport error.
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	default:
		return "error"
	}
}

// rawTarget posts to a bridge over plain HTTP/1.1 keep-alive connections,
// one per worker, writing each request with one write and parsing only the
// status line and the headers it needs. It costs the load generator a
// fraction of what net/http's client does, CPU the bridge gets instead when
// both share a machine.
type rawTarget struct {
	addr string // host:port
	head []byte // the request up to the Content-Length value
}

func newRawTarget(rawURL, token string) (*rawTarget, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("-client raw needs an http:// URL, got %q", rawURL)
	}
	path := u.RequestURI()
	head := "POST " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: webhook-bench\r\nContent-Type: application/json\r\n"
	if token != "" {
		head += bridge.HeaderWebhookToken + ": " + token + "\r\n"
	}
	return &rawTarget{addr: u.Host, head: []byte(head + "Content-Length: ")}, nil
}

type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

func (t *rawTarget) send(ctx context.Context, w *worker, v *variant, seq uint64) (int, error) {
	if w.conn == nil {
		c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", t.addr)
		if err != nil {
			return 0, err
		}
		w.conn = &rawConn{c: c, br: bufio.NewReaderSize(c, 4096)}
	}
	rc := w.conn
	b := append(w.buf[:0], t.head...)
	b = strconv.AppendInt(b, int64(len(v.body)), 10)
	b = append(b, "\r\n\r\n"...)
	at := len(b)
	b = append(b, v.body...)
	for _, off := range v.bodyAt {
		w.ids.put(b[at+off:], seq)
	}
	w.buf = b
	_ = rc.c.SetDeadline(time.Now().Add(40 * time.Second))
	status, err := t.exchange(rc, b)
	if err != nil {
		rc.c.Close()
		w.conn = nil
		if errors.Is(err, errConnClosing) {
			return status, nil
		}
		return 0, err
	}
	return status, nil
}

// exchange writes one request and reads its response; it returns an error
// for anything but a well-formed response the connection survives.
func (t *rawTarget) exchange(rc *rawConn, req []byte) (int, error) {
	if _, err := rc.c.Write(req); err != nil {
		return 0, err
	}
	line, err := rc.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, closing := -1, false
	for {
		h, err := rc.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, val, _ := bytes.Cut(h, []byte(":"))
		val = bytes.TrimSpace(val)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(val)); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", val)
			}
		case bytes.EqualFold(k, []byte("Connection")) && bytes.EqualFold(val, []byte("close")):
			closing = true
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			return 0, fmt.Errorf("transfer-encoding %q is not supported by -client raw", val)
		}
	}
	if length < 0 {
		return 0, errors.New("response without Content-Length")
	}
	if _, err := rc.br.Discard(length); err != nil {
		return 0, err
	}
	if closing {
		return status, errConnClosing
	}
	return status, nil
}

var errConnClosing = errors.New("server closed the connection")
