package kafka

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/apiversions"
	"github.com/segmentio/kafka-go/protocol/saslauthenticate"
	"github.com/segmentio/kafka-go/protocol/saslhandshake"
	"github.com/segmentio/kafka-go/sasl"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// node is one of the writer's connections to a broker (ConnsPerBroker of
// them; a partition always uses the same one), shared by every lane whose
// partition it carries. A lane hands the node one attempt at a time (a
// produceJob) and waits for its answer; the node sends every attempt that
// waits as one produce request, with at most one request in flight: a node
// with nothing in flight sends at once, and the attempts that arrive
// meanwhile go together in its next request. Since a lane has at most one
// attempt at a time, a partition still has at most one write in flight and
// its records stay in order; and a busy bridge sends one request, one
// write and one read per connection for many partitions' records, where it
// sent one per partition.
//
// The request is Produce v3 to v8 with acks=all, encoded here into a buffer
// the node reuses: kafka-go's Conn writes one partition per request, and
// encodes every record twice.
type node struct {
	w  *Writer
	id int

	mu      sync.Mutex
	queue   []*produceJob // attempts waiting for the next request
	sending bool          // a goroutine is sending the queue's requests

	// Owned by the sending goroutine (and Close, once none runs).
	conn    net.Conn
	rd      io.Reader // conn's, buffered
	addr    string    // host:port conn reached
	version int16     // of Produce
	corr    int32
	buf     []byte // the request, then the response
	round   []*produceJob
	parts   []partAnswer

	// The stall check of the request in flight (see watch).
	stall     *time.Timer
	watchMu   sync.Mutex
	watchSeq  uint64 // the request in flight; a stale check sees another
	watchOn   bool
	watchConn net.Conn
	watched   []lane
	moved     []lane // of the request in flight, found led by another node
}

// produceJob is one attempt of a lane: its live records, to the node that
// leads the partition.
type produceJob struct {
	l        lane
	live     []*pendingRecord
	deadline time.Time
	leader   kafkago.Broker
	size     int64
	done     chan error // the outcome, one per attempt
}

// partAnswer is a partition's answer in a produce response; topic points
// into the node's buffer.
type partAnswer struct {
	topic     []byte
	partition int32
	code      int16
}

// maxRequestBytes bounds the records of one produce request, well under
// the broker's socket.request.max.bytes (100 MiB by default); one lane's
// attempt is bounded by MaxRecordBytes.
const maxRequestBytes = 16 << 20

// keptBufferBytes is the most a node keeps of its buffer between requests.
const keptBufferBytes = 1 << 20

// nodeKey names a node: a broker and which of its connections.
type nodeKey struct{ id, conn int }

// nodeOf returns the node of broker id that carries partition, making it on
// first use.
func (w *Writer) nodeOf(id, partition int) *node {
	k := nodeKey{id, partition % w.cfg.ConnsPerBroker}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.nodes[k]
	if n == nil {
		n = &node{w: w, id: id}
		n.stall = time.AfterFunc(time.Hour, n.checkStall)
		n.stall.Stop()
		w.nodes[k] = n
	}
	return n
}

// produce makes one attempt: it sends live to the partition's current
// leader, in the next produce request of that broker's node, and waits for
// acks=all until deadline. While the request waits, every StallCheck the
// node asks whether a partition it carries moved and, if so, abandons it.
func (w *Writer) produce(l lane, q *laneQueue, live []*pendingRecord, deadline time.Time) error {
	leader, ok := w.cluster.leader(l.topic, l.partition)
	if !ok {
		return kafkago.LeaderNotAvailable
	}
	q.connBroker = leader.ID // the refresh compares against the node tried
	j := &q.job
	if j.done == nil {
		j.done = make(chan error, 1)
	}
	j.l, j.live, j.deadline, j.leader = l, live, deadline, leader
	j.size = 0
	for _, p := range live {
		j.size += p.size
	}
	w.nodeOf(leader.ID, l.partition).submit(j)
	err := <-j.done
	j.live = nil
	return err
}

// submit queues j for the node's next request. When the node is idle the
// caller sends that request itself, saving a goroutine's hand-off on the
// way to Kafka and back; the requests after it, if attempts arrived
// meanwhile, go from a goroutine of the node's, so that the caller's lane
// can hand its next attempt over at once.
func (n *node) submit(j *produceJob) {
	n.mu.Lock()
	n.queue = append(n.queue, j)
	idle := !n.sending
	n.sending = true
	n.mu.Unlock()
	if !idle {
		return
	}
	n.w.senders.Add(1)
	if n.round1() {
		go n.run()
		return
	}
	n.w.senders.Done()
}

// run sends the queue's requests until none wait.
func (n *node) run() {
	defer n.w.senders.Done()
	for n.round1() {
	}
}

// round1 sends one request of the queue's attempts, as many as fit, and
// reports whether more wait; when none do, the node is idle again.
func (n *node) round1() (more bool) {
	n.mu.Lock()
	k, bytes := 0, int64(0)
	for k < len(n.queue) && (k == 0 || bytes+n.queue[k].size <= maxRequestBytes) {
		bytes += n.queue[k].size
		k++
	}
	n.round = append(n.round[:0], n.queue[:k]...)
	n.queue = slices.Delete(n.queue, 0, k)
	n.mu.Unlock()
	if k > 0 {
		n.send(n.round)
		clear(n.round)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) == 0 {
		n.sending = false
		return false
	}
	return true
}

// send makes one produce request of jobs and answers each.
func (n *node) send(jobs []*produceJob) {
	// Nothing is sent for a caller who gave up, though its record waited
	// here behind a request in flight; nor to this node for a partition
	// that, meanwhile, another node leads (the lane sends it there at once).
	live := jobs[:0]
	for _, j := range jobs {
		if b, ok := n.w.cluster.leader(j.l.topic, j.l.partition); ok && b.ID != n.id {
			j.done <- fmt.Errorf("node %d: partition %s/%d has a new leader: %w", n.id, j.l.topic, j.l.partition, kafkago.NotLeaderForPartition)
			continue
		}
		kept := false
		for _, p := range j.live {
			if p.ctx.Err() != nil {
				p.skipped = true
			} else {
				kept = true
			}
		}
		if kept {
			live = append(live, j)
		} else {
			j.done <- errCallersGone
		}
	}
	jobs = live
	if len(jobs) == 0 {
		return
	}
	deadline := jobs[0].deadline
	for _, j := range jobs[1:] {
		if j.deadline.After(deadline) {
			deadline = j.deadline
		}
	}
	leader := jobs[0].leader
	addr := net.JoinHostPort(leader.Host, strconv.Itoa(leader.Port))
	if n.conn != nil && n.addr != addr {
		n.closeConn()
	}
	if n.conn == nil {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		conn, rd, version, err := n.w.dial(ctx, addr)
		cancel()
		if err != nil {
			err = fmt.Errorf("connect to node %d (%s:%d): %w", leader.ID, leader.Host, leader.Port, err)
			for _, j := range jobs {
				j.done <- err
			}
			return
		}
		n.conn, n.rd, n.version, n.addr = conn, rd, version, addr
	}
	slices.SortFunc(jobs, func(a, b *produceJob) int {
		if c := strings.Compare(a.l.topic, b.l.topic); c != 0 {
			return c
		}
		return a.l.partition - b.l.partition
	})
	now := time.Now()
	n.corr++
	n.buf = appendProduceRequest(n.buf[:0], n.version, n.corr, n.w.clientID, jobs, now, deadline)
	n.watch(jobs)
	err := n.roundTrip(deadline)
	moved := n.unwatch()
	if err == nil {
		n.w.requests.Add(1)
	}
	if err != nil {
		n.closeConn()
		for _, j := range jobs {
			if slices.Contains(moved, j.l) {
				j.done <- fmt.Errorf("node %d stopped answering and partition %s/%d has a new leader: %w", n.id, j.l.topic, j.l.partition, kafkago.NotLeaderForPartition)
			} else {
				j.done <- fmt.Errorf("node %d: %w", n.id, err)
			}
		}
		return
	}
	for _, j := range jobs {
		i := slices.IndexFunc(n.parts, func(a partAnswer) bool {
			return a.partition == int32(j.l.partition) && string(a.topic) == j.l.topic
		})
		switch {
		case i < 0:
			j.done <- fmt.Errorf("node %d: no answer for partition %s/%d", n.id, j.l.topic, j.l.partition)
		case n.parts[i].code != 0:
			j.done <- fmt.Errorf("node %d: %w", n.id, kafkago.Error(n.parts[i].code))
		default:
			j.done <- nil
		}
	}
	clear(n.parts)
	if cap(n.buf) > keptBufferBytes {
		n.buf = nil
	}
}

// errCallersGone answers an attempt none of whose callers waits any more:
// nothing of it was sent.
var errCallersGone = errors.New("every caller gave up before the records were sent")

// roundTrip writes the request in n.buf and reads its answer into n.parts.
func (n *node) roundTrip(deadline time.Time) error {
	if err := n.conn.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := n.conn.Write(n.buf); err != nil {
		return err
	}
	var size [8]byte
	if _, err := io.ReadFull(n.rd, size[:]); err != nil {
		return err
	}
	length := int32(binary.BigEndian.Uint32(size[:4]))
	if corr := int32(binary.BigEndian.Uint32(size[4:])); corr != n.corr {
		return fmt.Errorf("produce response for request %d, want %d", corr, n.corr)
	}
	if length < 4 || length > 64<<20 {
		return fmt.Errorf("produce response of %d bytes", length)
	}
	body := slices.Grow(n.buf[:0], int(length-4))[:length-4]
	if _, err := io.ReadFull(n.rd, body); err != nil {
		return err
	}
	n.buf = body
	parts, err := parseProduceResponse(n.parts[:0], body, n.version)
	n.parts = parts
	return err
}

func (n *node) closeConn() {
	if n.conn != nil {
		_ = n.conn.Close()
		n.conn, n.rd, n.addr = nil, nil, ""
	}
}

// watch starts the stall check of the request of jobs: every StallCheck
// until unwatch, checkStall asks whether one of their partitions moved.
func (n *node) watch(jobs []*produceJob) {
	n.watchMu.Lock()
	n.watchSeq++
	n.watchOn, n.watchConn = true, n.conn
	n.watched, n.moved = n.watched[:0], n.moved[:0]
	for _, j := range jobs {
		n.watched = append(n.watched, j.l)
	}
	n.watchMu.Unlock()
	n.stall.Reset(n.w.cfg.StallCheck)
}

// unwatch ends the stall check and returns the partitions it found led by
// another node (valid until the next watch).
func (n *node) unwatch() []lane {
	n.watchMu.Lock()
	n.watchOn, n.watchConn = false, nil
	moved := n.moved
	n.watchMu.Unlock()
	n.stall.Stop()
	return moved
}

// checkStall runs when a request has waited StallCheck: it refreshes the
// metadata and, when a partition of the request has a new leader, closes
// the connection, which abandons the request; else it checks again later.
func (n *node) checkStall() {
	n.watchMu.Lock()
	seq, on := n.watchSeq, n.watchOn
	lanes := slices.Clone(n.watched)
	n.watchMu.Unlock()
	if !on {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.w.cfg.MetadataTimeout)
	err := n.w.cluster.refresh(ctx)
	cancel()
	n.watchMu.Lock()
	defer n.watchMu.Unlock()
	if !n.watchOn || n.watchSeq != seq {
		return // answered meanwhile
	}
	if err == nil {
		for _, l := range lanes {
			if b, ok := n.w.cluster.leader(l.topic, l.partition); ok && b.ID != n.id {
				n.moved = append(n.moved, l)
			}
		}
	}
	if len(n.moved) > 0 {
		_ = n.watchConn.Close()
		return
	}
	n.stall.Reset(n.w.cfg.StallCheck)
}

// Produce request and response, versions 3 to 8 (the same request; the
// response grows), as https://kafka.apache.org/protocol#The_Messages_Produce
// describes them, with record batches of magic 2.
const (
	apiProduce        = 0
	minProduceVersion = 3 // record batches with headers
	maxProduceVersion = 8 // the last before flexible versions
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendProduceRequest appends the whole produce request of jobs, its size
// first: acks=all, a timeout a little under deadline, one record batch per
// job, every record stamped now. A record whose caller gave up (skipped) is
// left out.
func appendProduceRequest(b []byte, version int16, corr int32, clientID string, jobs []*produceJob, now, deadline time.Time) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, 0) // size, below
	b = binary.BigEndian.AppendUint16(b, apiProduce)
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = appendString(b, clientID)
	b = binary.BigEndian.AppendUint16(b, 0xffff) // transactional id: null
	b = binary.BigEndian.AppendUint16(b, 0xffff) // acks: -1, all in-sync replicas
	b = binary.BigEndian.AppendUint32(b, uint32(brokerTimeout(now, deadline).Milliseconds()))
	topics := 0
	for i, j := range jobs {
		if i == 0 || j.l.topic != jobs[i-1].l.topic {
			topics++
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(topics))
	ms := now.UnixMilli()
	for i := 0; i < len(jobs); {
		k := i + 1
		for k < len(jobs) && jobs[k].l.topic == jobs[i].l.topic {
			k++
		}
		b = appendString(b, jobs[i].l.topic)
		b = binary.BigEndian.AppendUint32(b, uint32(k-i))
		for _, j := range jobs[i:k] {
			b = binary.BigEndian.AppendUint32(b, uint32(j.l.partition))
			b = appendRecordBatch(b, j.live, ms)
		}
		i = k
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// brokerTimeout is how long the broker may wait for the replicas: the time
// left, less a margin for the answer's way back (a second, or a quarter of a
// shorter wait), as kafka-go's Conn does.
func brokerTimeout(now, deadline time.Time) time.Duration {
	left := deadline.Sub(now)
	rtt := min(time.Second, left/4)
	return max(left-rtt, time.Millisecond)
}

// appendRecordBatch appends a record set of one batch (its size first) of
// the records of ps whose callers still wait.
func appendRecordBatch(b []byte, ps []*pendingRecord, ms int64) []byte {
	sizeAt := len(b)
	b = binary.BigEndian.AppendUint32(b, 0) // record set size, below
	batch := len(b)
	b = binary.BigEndian.AppendUint64(b, 0)          // base offset
	b = binary.BigEndian.AppendUint32(b, 0)          // batch length, below
	b = binary.BigEndian.AppendUint32(b, 0xffffffff) // partition leader epoch: -1
	b = append(b, 2)                                 // magic
	b = binary.BigEndian.AppendUint32(b, 0)          // crc, below
	crcFrom := len(b)
	n := 0
	for _, p := range ps {
		if !p.skipped {
			n++
		}
	}
	b = binary.BigEndian.AppendUint16(b, 0)                  // attributes: no compression, create time
	b = binary.BigEndian.AppendUint32(b, uint32(n-1))        // last offset delta
	b = binary.BigEndian.AppendUint64(b, uint64(ms))         // base timestamp
	b = binary.BigEndian.AppendUint64(b, uint64(ms))         // max timestamp
	b = binary.BigEndian.AppendUint64(b, 0xffffffffffffffff) // producer id: -1
	b = binary.BigEndian.AppendUint16(b, 0xffff)             // producer epoch: -1
	b = binary.BigEndian.AppendUint32(b, 0xffffffff)         // base sequence: -1
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	off := 0
	for _, p := range ps {
		if p.skipped {
			continue
		}
		b = appendRecord(b, off, &p.rec)
		off++
	}
	binary.BigEndian.PutUint32(b[batch+8:], uint32(len(b)-batch-12))
	binary.BigEndian.PutUint32(b[crcFrom-4:], crc32.Checksum(b[crcFrom:], castagnoli))
	binary.BigEndian.PutUint32(b[sizeAt:], uint32(len(b)-batch))
	return b
}

// appendRecord appends one record of a batch: no timestamp delta, offset
// delta off. A nil key or value is null (a nil value is a tombstone).
func appendRecord(b []byte, off int, m *topics.Record) []byte {
	size := 1 + 1 + varintLen(int64(off)) + bytesLen(m.Key) + bytesLen(m.Value) + varintLen(int64(len(m.Headers)))
	for _, h := range m.Headers {
		size += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	b = binary.AppendVarint(b, int64(size))
	b = append(b, 0)                       // attributes
	b = binary.AppendVarint(b, 0)          // timestamp delta
	b = binary.AppendVarint(b, int64(off)) // offset delta
	b = appendVarBytes(b, m.Key)
	b = appendVarBytes(b, m.Value)
	b = binary.AppendVarint(b, int64(len(m.Headers)))
	for _, h := range m.Headers {
		b = binary.AppendVarint(b, int64(len(h.Key)))
		b = append(b, h.Key...)
		b = appendVarBytes(b, h.Value)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendVarBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}

func bytesLen(v []byte) int {
	if v == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(v))) + len(v)
}

func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63) // zigzag
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// parseProduceResponse reads a produce response's body (after the size and
// correlation id) into the answers of its partitions.
func parseProduceResponse(out []partAnswer, b []byte, version int16) ([]partAnswer, error) {
	r := respReader{b: b}
	topics := r.int32()
	for range max(topics, 0) {
		topic := r.bytes()
		parts := r.int32()
		for range max(parts, 0) {
			a := partAnswer{topic: topic, partition: r.int32(), code: r.int16()}
			r.skip(8) // base offset
			r.skip(8) // log append time (v2+)
			if version >= 5 {
				r.skip(8) // log start offset
			}
			if version >= 8 {
				errs := r.int32()
				for range max(errs, 0) {
					r.skip(4) // batch index
					r.nullableString()
				}
				r.nullableString() // error message
			}
			if r.err != nil {
				break
			}
			out = append(out, a)
		}
	}
	r.skip(4) // throttle time
	return out, r.err
}

// respReader reads a response's fields, remembering the first short read.
type respReader struct {
	b   []byte
	err error
}

func (r *respReader) need(n int) bool {
	if r.err == nil && len(r.b) < n {
		r.err = io.ErrUnexpectedEOF
	}
	return r.err == nil
}

func (r *respReader) skip(n int) {
	if r.need(n) {
		r.b = r.b[n:]
	}
}

func (r *respReader) int16() int16 {
	if !r.need(2) {
		return 0
	}
	v := int16(binary.BigEndian.Uint16(r.b))
	r.b = r.b[2:]
	return v
}

func (r *respReader) int32() int32 {
	if !r.need(4) {
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.b))
	r.b = r.b[4:]
	return v
}

// bytes reads a string, in place.
func (r *respReader) bytes() []byte {
	n := int(r.int16())
	if n < 0 || !r.need(n) {
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *respReader) nullableString() {
	if n := int(r.int16()); n > 0 {
		r.skip(n)
	}
}

// connect opens a connection to a broker for produce requests: TCP, TLS
// when configured, the API versions, then SASL when configured. It returns
// the connection, a buffered reader of it, and the Produce version to use.
func (w *Writer) connect(ctx context.Context, addr string) (conn net.Conn, rd io.Reader, version int16, err error) {
	d := net.Dialer{Timeout: w.cfg.Kafka.DialTimeout}
	conn, err = d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, 0, err
	}
	// Every failed return below sets conn to nil, so close the dialed
	// connection through its own variable.
	raw := conn
	ok := false
	defer func() {
		if !ok {
			raw.Close()
		}
	}()
	if deadline, has := ctx.Deadline(); has {
		_ = conn.SetDeadline(deadline)
	}
	if w.tls != nil {
		cfg := w.tls
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, 0, err
		}
		conn = tc
	}
	pc := protocol.NewConn(conn, w.clientID)
	res, err := pc.RoundTrip(new(apiversions.Request))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("api versions: %w", err)
	}
	av := res.(*apiversions.Response)
	if av.ErrorCode != 0 {
		return nil, nil, 0, fmt.Errorf("api versions: %w", kafkago.Error(av.ErrorCode))
	}
	versions := make(map[protocol.ApiKey]int16, len(av.ApiKeys))
	version = -1
	for _, k := range av.ApiKeys {
		key := protocol.ApiKey(k.ApiKey)
		versions[key] = key.SelectVersion(k.MinVersion, k.MaxVersion)
		if k.ApiKey == apiProduce && k.MinVersion <= maxProduceVersion && k.MaxVersion >= minProduceVersion {
			version = min(k.MaxVersion, maxProduceVersion)
		}
	}
	if version < 0 {
		return nil, nil, 0, fmt.Errorf("the broker supports no Produce version from %d to %d", minProduceVersion, maxProduceVersion)
	}
	pc.SetVersions(versions)
	if w.sasl != nil {
		if err := authenticate(ctx, pc, w.sasl, addr); err != nil {
			return nil, nil, 0, err
		}
	}
	_ = conn.SetDeadline(time.Time{})
	ok = true
	// pc reads through its own buffer, which holds nothing past the last
	// answer: the broker sends nothing unasked.
	return conn, pc, version, nil
}

// authenticate runs the SASL exchange of mechanism on pc.
func authenticate(ctx context.Context, pc *protocol.Conn, mechanism sasl.Mechanism, addr string) error {
	res, err := pc.RoundTrip(&saslhandshake.Request{Mechanism: mechanism.Name()})
	if err != nil {
		return fmt.Errorf("SASL handshake: %w", err)
	}
	if code := res.(*saslhandshake.Response).ErrorCode; code != 0 {
		return fmt.Errorf("SASL handshake: %w", kafkago.Error(code))
	}
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	ctx = sasl.WithMetadata(ctx, &sasl.Metadata{Host: host, Port: p})
	sess, state, err := mechanism.Start(ctx)
	if err != nil {
		return err
	}
	for done := false; !done; {
		res, err := pc.RoundTrip(&saslauthenticate.Request{AuthBytes: state})
		if err != nil {
			if errors.Is(err, io.EOF) {
				// A broker may say no by closing the connection.
				return kafkago.SASLAuthenticationFailed
			}
			return err
		}
		ar := res.(*saslauthenticate.Response)
		if ar.ErrorCode != 0 {
			if ar.ErrorMessage != "" {
				return fmt.Errorf("%w: %s", kafkago.Error(ar.ErrorCode), ar.ErrorMessage)
			}
			return kafkago.Error(ar.ErrorCode)
		}
		if done, state, err = sess.Next(ctx, ar.AuthBytes); err != nil {
			return err
		}
	}
	return nil
}
