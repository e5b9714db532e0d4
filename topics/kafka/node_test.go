package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/produce"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// pipeBroker answers the produce requests of a writer's nodes over
// in-memory pipes, decoding them with kafka-go's own decoder (which checks
// every batch's CRC). It fails the test if a node sends a request while
// its previous one is unanswered, and can hold requests until released.
type pipeBroker struct {
	t        *testing.T
	mu       sync.Mutex
	requests [][]string // per request: "topic/partition=value,value"
	byAddr   map[string][]string
	hold     chan struct{}
	held     int            // requests waiting for hold
	dials    int            // connections made; each is numbered by its dial
	connOf   map[string]int // "topic/partition": the connection that carried it
}

func (b *pipeBroker) dial(_ context.Context, addr string) (net.Conn, io.Reader, int16, error) {
	client, server := net.Pipe()
	b.mu.Lock()
	b.dials++
	conn := b.dials
	b.mu.Unlock()
	go b.serve(server, addr, conn)
	return client, client, maxProduceVersion, nil
}

func (b *pipeBroker) serve(c net.Conn, addr string, conn int) {
	defer c.Close()
	for {
		_ = c.SetReadDeadline(time.Time{})
		version, corr, _, msg, err := protocol.ReadRequest(c)
		if err != nil {
			return
		}
		req, ok := msg.(*produce.Request)
		if !ok || req.Acks != -1 {
			b.t.Errorf("request %T with acks %v, want a produce request with acks=all", msg, req)
			return
		}
		var got []string
		res := &produce.Response{}
		for _, tp := range req.Topics {
			rt := produce.ResponseTopic{Topic: tp.Topic}
			for _, p := range tp.Partitions {
				got = append(got, fmt.Sprintf("%s/%d=%s", tp.Topic, p.Partition, recordValues(b.t, p.RecordSet)))
				tpName := fmt.Sprintf("%s/%d", tp.Topic, p.Partition)
				b.mu.Lock()
				if was, ok := b.connOf[tpName]; ok && was != conn {
					b.t.Errorf("%s came over connection %d, before over %d: a partition keeps its connection", tpName, conn, was)
				}
				b.connOf[tpName] = conn
				if b.byAddr != nil {
					b.byAddr[addr] = append(b.byAddr[addr], got[len(got)-1])
				}
				b.mu.Unlock()
				rt.Partitions = append(rt.Partitions, produce.ResponsePartition{Partition: p.Partition})
			}
			res.Topics = append(res.Topics, rt)
		}
		b.mu.Lock()
		b.requests = append(b.requests, got)
		hold := b.hold
		if hold != nil {
			b.held++
		}
		b.mu.Unlock()
		if hold != nil {
			<-hold
		}
		// Nothing more may come before the answer: one request in flight.
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		var one [1]byte
		if n, _ := c.Read(one[:]); n > 0 {
			b.t.Errorf("a node sent another request while one was in flight")
			return
		}
		if err := protocol.WriteResponse(c, version, corr, res); err != nil {
			return
		}
	}
}

// recordValues lists a record set's values (key:value when keyed, headers
// in brackets, <null> for a null value).
func recordValues(t *testing.T, rs protocol.RecordSet) string {
	var out []string
	var err error
	for {
		var r *protocol.Record
		if r, err = rs.Records.ReadRecord(); err != nil {
			break
		}
		s := ""
		if r.Key != nil {
			k, _ := protocol.ReadAll(r.Key)
			s = string(k) + ":"
		}
		if r.Value == nil {
			s += "<null>"
		} else {
			v, _ := protocol.ReadAll(r.Value)
			s += string(v)
		}
		for _, h := range r.Headers {
			s += fmt.Sprintf("[%s=%s]", h.Key, h.Value)
		}
		out = append(out, s)
	}
	if !errors.Is(err, io.EOF) {
		t.Errorf("decode record set: %v", err)
	}
	return fmt.Sprint(out)
}

func (b *pipeBroker) got() [][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([][]string, len(b.requests))
	for i, r := range b.requests {
		out[i] = append([]string(nil), r...)
		sort.Strings(out[i])
	}
	return out
}

// pipeWriter is a Writer whose nodes talk to a pipeBroker over one
// connection to the broker; topic name has partitions partitions, all led
// by node 1.
func pipeWriter(t *testing.T, parts map[string]int) (*Writer, *pipeBroker) {
	t.Helper()
	return pipeWriterConns(t, parts, 1)
}

// pipeWriterConns is pipeWriter with conns connections to the broker.
func pipeWriterConns(t *testing.T, parts map[string]int, conns int) (*Writer, *pipeBroker) {
	t.Helper()
	w, err := NewWriter(WriterConfig{
		Kafka:     Config{Brokers: []string{"127.0.0.1:1"}, DialTimeout: time.Second},
		BatchSize: 100, MaxRecordBytes: 1 << 20, WriteTimeout: 5 * time.Second,
		MetadataTimeout: time.Second, StallCheck: time.Minute, ConnsPerBroker: conns,
	}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	for topic, n := range parts {
		leaders := make([]kafkago.Broker, n)
		for i := range leaders {
			leaders[i] = kafkago.Broker{ID: 1, Host: "127.0.0.1", Port: 1}
		}
		w.cluster.leaders[topic] = leaders
	}
	b := &pipeBroker{t: t, connOf: make(map[string]int)}
	w.dial = b.dial
	t.Cleanup(func() { _ = w.Close() })
	return w, b
}

// keyFor returns a key that murmur2 puts in partition p of n.
func keyFor(t *testing.T, p, n int) string {
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	for i := range 10000 {
		k := fmt.Sprintf("company-%d", i)
		if (kafkago.Murmur2Balancer{}).Balance(kafkago.Message{Key: []byte(k)}, parts...) == p {
			return k
		}
	}
	t.Fatalf("no key for partition %d of %d", p, n)
	return ""
}

// queued is how many attempts wait in node 1's queue (its first connection's).
func queued(w *Writer) int {
	n := w.nodeOf(1, 0)
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.queue)
}

// TestNodeSendsTheWaitingPartitionsInOneRequest: while a request is in
// flight, the attempts of other partitions wait at their node and go
// together in its next request, each partition's records in order in one
// batch; a partition's own next records wait for its attempt in flight.
func TestNodeSendsTheWaitingPartitionsInOneRequest(t *testing.T) {
	w, b := pipeWriter(t, map[string]int{"a": 3, "b": 2})
	release := make(chan struct{})
	b.hold = release
	a0, a1, a2 := keyFor(t, 0, 3), keyFor(t, 1, 3), keyFor(t, 2, 3)
	b0, b1 := keyFor(t, 0, 2), keyFor(t, 1, 2)
	errs := make(chan error, 10)
	publish := func(recs ...topics.Record) { go func() { errs <- w.Publish(context.Background(), recs...) }() }

	publish(rec("a", a0, "first"))
	waitFor(t, func() bool { return len(b.got()) == 1 })
	publish(rec("a", a1, "x1"), rec("a", a1, "x2"))
	publish(rec("a", a2, "y"))
	publish(topics.Record{Topic: "b", Key: []byte(b0), Headers: []topics.Header{{Key: "action", Value: []byte("removed")}}}) // a tombstone
	publish(rec("b", b1, "z"))
	waitFor(t, func() bool { return queued(w) == 4 })
	publish(rec("a", a0, "second")) // waits in its lane behind "first"
	time.Sleep(10 * time.Millisecond)
	b.mu.Lock()
	b.hold = nil
	b.mu.Unlock()
	close(release)
	for range 6 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// "second" goes once "first" is answered: in the request with the
	// others when it reaches the node before that request is made, else
	// in the next.
	waiting := []string{"a/1=[" + a1 + ":x1 " + a1 + ":x2]", "a/2=[" + a2 + ":y]", "b/0=[" + b0 + ":<null>[action=removed]]", "b/1=[" + b1 + ":z]"}
	second := "a/0=[" + a0 + ":second]"
	want := [][]string{{"a/0=[" + a0 + ":first]"}, waiting, {second}}
	if got := b.got(); len(got) == 2 {
		want = [][]string{want[0], append([]string{second}, waiting...)}
	}
	if diff := cmp.Diff(want, b.got()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestNodeSpreadsPartitionsOverConnections: with two connections to a
// broker, a partition behind the other connection is sent while the first
// connection's request is unanswered; a partition behind the busy
// connection waits; and every partition always uses the same connection
// (pipeBroker fails the test otherwise, and if a connection carries two
// requests at once).
func TestNodeSpreadsPartitionsOverConnections(t *testing.T) {
	w, b := pipeWriterConns(t, map[string]int{"a": 4}, 2)
	release := make(chan struct{})
	b.hold = release
	keys := []string{keyFor(t, 0, 4), keyFor(t, 1, 4), keyFor(t, 2, 4), keyFor(t, 3, 4)}
	errs := make(chan error, 8)
	publish := func(p int, v string) {
		go func() { errs <- w.Publish(context.Background(), rec("a", keys[p], v)) }()
	}
	heldRequests := func() int { b.mu.Lock(); defer b.mu.Unlock(); return b.held }

	publish(0, "p0")
	waitFor(t, func() bool { return heldRequests() == 1 })
	publish(1, "p1") // the other connection: in flight beside p0
	waitFor(t, func() bool { return heldRequests() == 2 })
	publish(2, "p2") // p0's connection, which is busy: waits at its node
	waitFor(t, func() bool { return queued(w) == 1 })
	if got := heldRequests(); got != 2 {
		t.Fatalf("%d requests in flight, want 2 (one per connection)", got)
	}
	b.mu.Lock()
	b.hold = nil
	b.mu.Unlock()
	close(release)
	publish(3, "p3")
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Second round: every partition again, over the connection it had.
	for p := range 4 {
		publish(p, fmt.Sprintf("again%d", p))
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dials != 2 {
		t.Errorf("%d connections made, want 2", b.dials)
	}
	c := b.connOf
	if c["a/0"] != c["a/2"] || c["a/1"] != c["a/3"] || c["a/0"] == c["a/1"] {
		t.Errorf("partitions by connection %v, want 0 and 2 on one, 1 and 3 on the other", c)
	}
}

// TestNodeLeavesOutRecordsWhoseCallersGaveUp: an attempt that waited at
// its node behind a request in flight sends nothing for a caller who gave
// up meanwhile, and the records of the callers who still wait go.
func TestNodeLeavesOutRecordsWhoseCallersGaveUp(t *testing.T) {
	w, b := pipeWriter(t, map[string]int{"a": 3})
	release := make(chan struct{})
	b.hold = release
	a0, a1, a2 := keyFor(t, 0, 3), keyFor(t, 1, 3), keyFor(t, 2, 3)
	first := make(chan error, 1)
	go func() { first <- w.Publish(context.Background(), rec("a", a0, "first")) }()
	waitFor(t, func() bool { return len(b.got()) == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() { gone <- w.Publish(ctx, rec("a", a1, "gone")) }()
	stays := make(chan error, 1)
	go func() { stays <- w.Publish(context.Background(), rec("a", a2, "stays")) }()
	waitFor(t, func() bool { return queued(w) == 2 })
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("publish of a caller who gave up: %v, want canceled", err)
	}
	b.mu.Lock()
	b.hold = nil
	b.mu.Unlock()
	close(release)
	for _, c := range []chan error{first, stays} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Publish(context.Background(), rec("a", a1, "after")); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"a/0=[" + a0 + ":first]"},
		{"a/2=[" + a2 + ":stays]"},
		{"a/1=[" + a1 + ":after]"},
	}
	if diff := cmp.Diff(want, b.got()); diff != "" {
		t.Errorf("requests (-want +got): a record whose caller gave up was sent\n%s", diff)
	}
	if s := w.Stats(); s.Messages != 3 {
		t.Errorf("Stats().Messages = %d, want the 3 records sent", s.Messages)
	}
}

// TestNodeAbandonsARequestWhoseLeaderMoved: a produce request that gets no
// answer while its partition's leader moves is abandoned at the next stall
// check, and the records go to the new leader, well before the write
// timeout.
func TestNodeAbandonsARequestWhoseLeaderMoved(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	old := c.LeaderFor("t", 0)
	next := 1 - old
	var mu sync.Mutex
	var produceTo []int32 // the nodes produce requests reached
	stuck := make(chan struct{})
	defer close(stuck)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		mu.Lock()
		produceTo = append(produceTo, c.CurrentNode())
		first := len(produceTo) == 1
		mu.Unlock()
		if first {
			// The leader goes quiet with the request, and moves.
			go func() { _ = c.MoveTopicPartition("t", 0, next) }()
			c.SleepControl(func() { <-stuck })
		}
		return nil, nil, false
	})
	w, err := NewWriter(WriterConfig{
		Kafka:     Config{Brokers: c.ListenAddrs(), DialTimeout: time.Second},
		BatchSize: 100, MaxRecordBytes: 1 << 20, WriteTimeout: 10 * time.Second,
		MetadataTimeout: time.Second, StallCheck: 100 * time.Millisecond,
	}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	start := time.Now()
	if err := w.Publish(ctx, rec("t", "k", "v")); err != nil {
		t.Fatalf("publish while the leader moved: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("publish took %s: the stalled request was not abandoned at a stall check", took)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(produceTo) < 2 || produceTo[0] != old || produceTo[len(produceTo)-1] != next {
		t.Errorf("produce requests went to nodes %v, want %d (stalled) then %d", produceTo, old, next)
	}
}

// TestProduceEncodingEveryVersion: the requests the writer encodes decode
// with kafka-go's own decoder, and the responses kafka-go encodes parse,
// for every Produce version the writer speaks.
func TestProduceEncodingEveryVersion(t *testing.T) {
	ctx := context.Background()
	p := func(key, value string, hs ...topics.Header) *pendingRecord {
		r := topics.Record{Value: []byte(value), Headers: hs}
		if key != "" {
			r.Key = []byte(key)
		}
		if value == "" {
			r.Value = nil
		}
		return &pendingRecord{ctx: ctx, rec: r}
	}
	jobs := []*produceJob{
		{l: lane{topic: "a", partition: 2}, live: []*pendingRecord{p("k1", "v1", topics.Header{Key: "h", Value: []byte("x")}), p("k2", "")}},
		{l: lane{topic: "a", partition: 5}, live: []*pendingRecord{p("", "v3")}},
		{l: lane{topic: "b", partition: 0}, live: []*pendingRecord{p("k4", "v4")}},
	}
	now := time.Now()
	for v := int16(minProduceVersion); v <= maxProduceVersion; v++ {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			b := appendProduceRequest(nil, v, 7, "webhook-bridge", jobs, now, now.Add(5*time.Second))
			version, corr, client, msg, err := protocol.ReadRequest(bytesReader(b))
			if err != nil {
				t.Fatalf("kafka-go cannot read the request: %v", err)
			}
			req := msg.(*produce.Request)
			if version != v || corr != 7 || client != "webhook-bridge" || req.Acks != -1 || req.Timeout < 3000 || req.Timeout > 5000 {
				t.Errorf("header: version %d, correlation %d, client %q, acks %d, timeout %d ms", version, corr, client, req.Acks, req.Timeout)
			}
			var got []string
			res := &produce.Response{}
			for _, tp := range req.Topics {
				rt := produce.ResponseTopic{Topic: tp.Topic}
				for _, part := range tp.Partitions {
					got = append(got, fmt.Sprintf("%s/%d=%s", tp.Topic, part.Partition, recordValues(t, part.RecordSet)))
					rt.Partitions = append(rt.Partitions, produce.ResponsePartition{Partition: part.Partition, ErrorCode: int16(part.Partition)})
				}
				res.Topics = append(res.Topics, rt)
			}
			want := []string{"a/2=[k1:v1[h=x] k2:<null>]", "a/5=[v3]", "b/0=[k4:v4]"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			var out writeBuffer
			if err := protocol.WriteResponse(&out, v, 7, res); err != nil {
				t.Fatal(err)
			}
			// Past the size and the correlation id.
			parts, err := parseProduceResponse(nil, out.b[8:], v)
			if err != nil {
				t.Fatalf("parse kafka-go's response: %v", err)
			}
			var answers []string
			for _, a := range parts {
				answers = append(answers, fmt.Sprintf("%s/%d:%d", a.topic, a.partition, a.code))
			}
			if diff := cmp.Diff([]string{"a/2:2", "a/5:5", "b/0:0"}, answers); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
		})
	}
}

type writeBuffer struct{ b []byte }

func (w *writeBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

func bytesReader(b []byte) io.Reader { return &readBuffer{b: b} }

type readBuffer struct{ b []byte }

func (r *readBuffer) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// TestNodeSendsAWaitingWriteToANewLeader: an attempt that waited at its node
// for a partition whose leader meanwhile moved to another node is not sent
// to the old one: its lane sends it to the new leader.
func TestNodeSendsAWaitingWriteToANewLeader(t *testing.T) {
	w, b := pipeWriter(t, map[string]int{"a": 3})
	b.byAddr = map[string][]string{}
	release := make(chan struct{})
	b.hold = release
	a0, a1 := keyFor(t, 0, 3), keyFor(t, 1, 3)
	first := make(chan error, 1)
	go func() { first <- w.Publish(context.Background(), rec("a", a0, "first")) }()
	waitFor(t, func() bool { return len(b.got()) == 1 })
	moved := make(chan error, 1)
	go func() { moved <- w.Publish(context.Background(), rec("a", a1, "moved")) }()
	waitFor(t, func() bool { return queued(w) == 1 })
	w.cluster.mu.Lock()
	w.cluster.leaders["a"][1] = kafkago.Broker{ID: 2, Host: "127.0.0.2", Port: 2}
	w.cluster.mu.Unlock()
	b.mu.Lock()
	b.hold = nil
	b.mu.Unlock()
	close(release)
	for _, c := range []chan error{first, moved} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	want := map[string][]string{"127.0.0.1:1": {"a/0=[" + a0 + ":first]"}, "127.0.0.2:2": {"a/1=[" + a1 + ":moved]"}}
	if diff := cmp.Diff(want, b.byAddr); diff != "" {
		t.Errorf("records by broker (-want +got):\n%s", diff)
	}
}

// A broker that accepts the connection and then hangs up, or answers
// garbage, fails connect with an error; the dialed connection is closed.
func TestConnectFailsCleanlyWhenTheBrokerHangsUp(t *testing.T) {
	for name, answer := range map[string][]byte{
		"hang up": nil,
		"garbage": {0, 0, 0, 4, 1, 2, 3, 4},
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			closed := make(chan struct{})
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer close(closed)
				if answer != nil {
					buf := make([]byte, 512)
					_, _ = c.Read(buf)
					_, _ = c.Write(answer)
					// The client closes its end: Read returns.
					_, _ = io.Copy(io.Discard, c)
				}
				c.Close()
			}()
			w, _ := pipeWriter(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, rd, _, err := w.connect(ctx, ln.Addr().String())
			if err == nil || conn != nil || rd != nil {
				t.Fatalf("connect = %v, %v, %v; want an error and no connection", conn, rd, err)
			}
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("the dialed connection was not closed")
			}
		})
	}
}
