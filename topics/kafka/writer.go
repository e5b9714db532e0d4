package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// WriterConfig configures a Writer. Every field must be set: the
// configuration (cmd/webhook-bridge) holds the defaults.
type WriterConfig struct {
	Kafka Config
	// BatchSize is the most records one produce request carries.
	BatchSize int
	// MaxRecordBytes is the largest record, and the largest produce batch,
	// the writer sends. Topics are created to accept it.
	MaxRecordBytes int64
	// WriteTimeout bounds one produce attempt (the wait for acks=all
	// included); callers bound a whole Publish with their context.
	WriteTimeout time.Duration
	// MetadataTimeout bounds one metadata request to one broker.
	MetadataTimeout time.Duration
	// ConnsPerBroker is how many connections the writer keeps to each
	// broker (0 means DefaultConnsPerBroker). A partition always goes over
	// the same one (partition number modulo ConnsPerBroker), and each has
	// at most one request in flight; a broker handles one request of a connection at a
	// time, so with more than one, a slow request (a broker's GC pause, a
	// follower late for acks=all) holds up only the partitions behind it.
	ConnsPerBroker int
	// StallCheck is how often the writer asks, while a produce waits for
	// its answer, whether the partition's leader moved; when it did, the
	// attempt is abandoned and the records go to the new leader.
	StallCheck time.Duration
	// Topics, when given, are the topics the writer will write to: the
	// first metadata request learns them all at once.
	Topics []string
}

func (c WriterConfig) validate() error {
	switch {
	case c.BatchSize <= 0:
		return errors.New("kafka writer: batch size must be positive")
	case c.MaxRecordBytes <= 0:
		return errors.New("kafka writer: max record bytes must be positive")
	case c.WriteTimeout <= 0 || c.MetadataTimeout <= 0 || c.StallCheck <= 0:
		return errors.New("kafka writer: write timeout, metadata timeout and stall check must be positive")
	}
	return c.Kafka.Validate()
}

// Writer publishes records to any topic, waiting for acks from all in-sync
// replicas. It is safe for concurrent use.
//
// It keeps one lane per topic partition with at most one write in flight:
// a lane with nothing in flight writes at once, with no batch timer, and the
// records that arrive meanwhile go together in its next write. The lanes
// whose partitions one broker leads share that broker's connection (a
// node): each request carries every lane's write that waits, so a busy
// writer sends one request for many partitions (see node). A record whose
// caller gave up before it was sent is never sent. When a produce fails
// because the leader moved or its node is gone, or waits while the leader
// moves, the writer asks every broker for metadata at once and sends the
// lane's records to the new leader (see cluster); a node that is down gets
// no second attempt once another leader is known.
type Writer struct {
	cfg      WriterConfig
	tls      *tls.Config    // nil: plaintext
	sasl     sasl.Mechanism // nil: none
	clientID string
	cluster  *cluster
	balancer kafkago.Murmur2Balancer
	log      zerolog.Logger
	unkeyed  atomic.Uint64 // spreads records without a key over partitions
	// send makes one produce attempt (produce; tests replace it to watch
	// what the lanes send).
	send func(l lane, q *laneQueue, live []*pendingRecord, deadline time.Time) error
	// dial opens a node's connection (connect; tests replace it with a
	// broker of their own).
	dial func(ctx context.Context, addr string) (net.Conn, io.Reader, int16, error)

	mu      sync.Mutex
	lanes   map[lane]*laneQueue
	nodes   map[nodeKey]*node
	closed  bool
	writing sync.WaitGroup // one per lane with a write in flight
	senders sync.WaitGroup // one per node sending

	writes, messages, bytes, errors, retries, requests atomic.Int64
}

// lane is a topic partition.
type lane struct {
	topic     string
	partition int
}

type laneQueue struct {
	waiting []*pendingRecord
	writing bool
	// connBroker is the node of the lane's latest attempt, job the attempt,
	// batch and live its records; only the lane's writing goroutine
	// touches them.
	connBroker  int
	job         produceJob
	batch, live []*pendingRecord
	// last is the error of the lane's latest attempt, nil after a success.
	last atomic.Pointer[error]
}

// laneErr is the error of the lane's latest attempt, nil if it succeeded.
func (w *Writer) laneErr(l lane) error {
	w.mu.Lock()
	q := w.lanes[l]
	w.mu.Unlock()
	if q == nil {
		return nil
	}
	if e := q.last.Load(); e != nil {
		return *e
	}
	return nil
}

// pendingRecord is one record of a Publish call on its way to Kafka.
type pendingRecord struct {
	ctx  context.Context // the caller's: once done, the record is not sent
	rec  topics.Record
	lane lane
	size int64
	sent bool // taken into a lane's write; guarded by Writer.mu
	// skipped: its caller had given up when its node built the request, so
	// it was left out; written: Kafka acknowledged it. Set by the lane's
	// attempts, read once they returned.
	skipped, written bool
	// done receives the record once err holds its outcome; the records of
	// one Publish share it.
	done chan *pendingRecord
	err  error
	last atomic.Pointer[error] // the latest failed attempt's error, for a caller who gives up
}

// lastErr is the error of the record's latest failed attempt, nil if none.
func (p *pendingRecord) lastErr() error {
	if e := p.last.Load(); e != nil {
		return *e
	}
	return nil
}

// DefaultConnsPerBroker is WriterConfig.ConnsPerBroker when it is 0, and
// serve's BRIDGE_KAFKA_CONNS_PER_BROKER default: two connections were
// measured to halve the partitions a slow request holds up without the
// CPU of four (docs/performance.md, "Connections per broker").
const DefaultConnsPerBroker = 2

// NewWriter builds a Writer. It does not connect until the first Publish.
func NewWriter(cfg WriterConfig, log zerolog.Logger) (*Writer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ConnsPerBroker <= 0 {
		cfg.ConnsPerBroker = DefaultConnsPerBroker
	}
	mech, tc, err := cfg.Kafka.security()
	if err != nil {
		return nil, err
	}
	w := &Writer{
		cfg:      cfg,
		tls:      tc,
		sasl:     mech,
		clientID: "webhook-bridge",
		cluster:  newCluster(cfg.Kafka, cfg.MetadataTimeout),
		log:      log.With().Str("component", "kafka-writer").Logger(),
		lanes:    make(map[lane]*laneQueue),
		nodes:    make(map[nodeKey]*node),
	}
	w.send, w.dial = w.produce, w.connect
	return w, nil
}

// Publish writes recs and returns nil only once the broker acknowledged every
// one of them with acks=all. When ctx ends first it returns an error, and a
// record may still land later: Kafka can hold a record the caller was told
// failed, never the reverse. Records of one partition are written in the
// order Publish received them. Publish keeps the records' bytes, not recs.
func (w *Writer) Publish(ctx context.Context, recs ...topics.Record) error {
	// One allocation for the records, one for their answers.
	ps := make([]pendingRecord, len(recs))
	done := make(chan *pendingRecord, len(recs))
	for i, r := range recs {
		if err := w.prepare(ctx, &ps[i], r, done); err != nil {
			return publishError(recs, err)
		}
	}
	if err := w.enqueue(ps); err != nil {
		return publishError(recs, err)
	}
	var errs []error
	for range ps {
		select {
		case p := <-done:
			if p.err != nil {
				errs = append(errs, p.err)
			}
		case <-ctx.Done():
			w.abandon(ps)
			return publishError(recs, w.gaveUp(ctx, ps, done))
		}
	}
	if len(errs) > 0 {
		return publishError(recs, errors.Join(errs...))
	}
	return nil
}

// gaveUp is the error of a Publish whose ctx ended: ctx's, and what kept
// failing for the first of ps (in order) not acknowledged. A record whose
// lane answered with an error as ctx ended (its retries stop at the same
// deadline, so the two often come together) counts as not acknowledged.
func (w *Writer) gaveUp(ctx context.Context, ps []pendingRecord, done chan *pendingRecord) error {
	acked := make(map[*pendingRecord]bool, len(ps))
	for len(done) > 0 {
		p := <-done
		acked[p] = p.err == nil
	}
	err := ctx.Err()
	for i := range ps {
		p := &ps[i]
		if acked[p] {
			continue
		}
		last := p.lastErr()
		if last == nil {
			// It waited behind a batch that kept failing.
			last = w.laneErr(p.lane)
		}
		if last != nil {
			// Say what kept failing, not only that time ran out.
			err = fmt.Errorf("%w; the last attempt: %w", err, last)
		}
		break
	}
	return err
}

// publishError wraps err as a *PublishError, which names its cause.
func publishError(recs []topics.Record, err error) error {
	if len(recs) == 1 {
		return &PublishError{Err: fmt.Errorf("publish to %s: %w", recs[0].Topic, err)}
	}
	return &PublishError{Err: fmt.Errorf("publish %d records: %w", len(recs), err)}
}

// murmurPartitions are the partitions murmur2 chooses from, shared.
var murmurPartitions = func() []int {
	ids := make([]int, 1024)
	for i := range ids {
		ids[i] = i
	}
	return ids
}()

// prepare fills p for r and finds its lane: the partition Java's default
// partitioner picks for its key (murmur2), or the next partition for a
// record without a key.
func (w *Writer) prepare(ctx context.Context, p *pendingRecord, r topics.Record, done chan *pendingRecord) error {
	size := int64(32 + len(r.Key) + len(r.Value)) // at least the record's size in a batch
	for _, h := range r.Headers {
		size += int64(20 + len(h.Key) + len(h.Value))
	}
	if size > w.cfg.MaxRecordBytes {
		// Refused here: in a lane it would fail the records written with it.
		return fmt.Errorf("%w: about %d bytes, over the %d-byte limit", errRecordTooLarge, size, w.cfg.MaxRecordBytes)
	}
	p.ctx, p.rec, p.size, p.done = ctx, r, size, done
	leaders, err := w.cluster.partitions(ctx, r.Topic, w.cfg.Topics...)
	if err != nil {
		// No broker told where the partitions are: a failed attempt like
		// a failed produce, or an outage from start would never count.
		w.errors.Add(1)
		return err
	}
	n := len(leaders)
	p.lane = lane{topic: r.Topic}
	switch {
	case r.Key == nil:
		p.lane.partition = int(w.unkeyed.Add(1) % uint64(n))
	case n <= len(murmurPartitions):
		p.lane.partition = w.balancer.Balance(kafkago.Message{Key: r.Key}, murmurPartitions[:n]...)
	default:
		ids := make([]int, n)
		for i := range ids {
			ids[i] = i
		}
		p.lane.partition = w.balancer.Balance(kafkago.Message{Key: r.Key}, ids...)
	}
	return nil
}

// enqueue puts ps in their lanes, starting a lane's writer when it is idle.
func (w *Writer) enqueue(ps []pendingRecord) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errWriterClosed
	}
	for i := range ps {
		p := &ps[i]
		q := w.lanes[p.lane]
		if q == nil {
			q = &laneQueue{connBroker: -1}
			w.lanes[p.lane] = q
		}
		q.waiting = append(q.waiting, p)
		if !q.writing {
			q.writing = true
			w.writing.Add(1)
			go w.writeLane(p.lane, q)
		}
	}
	return nil
}

// abandon drops the records of ps that were not sent yet: their caller no
// longer waits for them.
func (w *Writer) abandon(ps []pendingRecord) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range ps {
		p := &ps[i]
		if p.sent {
			continue
		}
		if q := w.lanes[p.lane]; q != nil {
			q.waiting = slices.DeleteFunc(q.waiting, func(x *pendingRecord) bool {
				return x.done == p.done // of the same Publish
			})
		}
	}
}

// writeLane writes the lane's waiting records until none wait: each produce
// request takes what waits, up to BatchSize records and MaxRecordBytes.
func (w *Writer) writeLane(l lane, q *laneQueue) {
	defer w.writing.Done()
	for {
		w.mu.Lock()
		n, bytes := 0, int64(0)
		for n < len(q.waiting) && n < w.cfg.BatchSize && (n == 0 || bytes+q.waiting[n].size <= w.cfg.MaxRecordBytes) {
			bytes += q.waiting[n].size
			n++
		}
		if n == 0 {
			q.writing = false
			w.mu.Unlock()
			return
		}
		batch := append(q.batch[:0], q.waiting[:n]...)
		q.waiting = slices.Delete(q.waiting, 0, n)
		for _, p := range batch {
			p.sent = true
		}
		w.mu.Unlock()
		err := w.write(l, q, batch)
		for _, p := range batch {
			p.err = err
			if err == nil && !p.written {
				// Left out because its caller had gone: it must not read
				// as acknowledged.
				p.err = errCallersGone
			}
			p.done <- p
		}
		clear(batch)
		q.batch = batch[:0]
	}
}

// Retry pauses while a partition has no reachable leader.
const (
	retryBackoffMin = 20 * time.Millisecond
	retryBackoffMax = 500 * time.Millisecond
)

// write sends batch to the lane's leader until it is acknowledged, every
// caller in it gave up, or an error that no retry can cure.
func (w *Writer) write(l lane, q *laneQueue, batch []*pendingRecord) error {
	backoff := retryBackoffMin
	var last error
	defer func() {
		clear(q.live)
		q.live = q.live[:0]
	}()
	for attempt := 0; ; attempt++ {
		// Nothing is sent for a caller who gave up, retries included.
		live := q.live[:0]
		deadline := time.Time{}
		for _, p := range batch {
			if p.ctx.Err() == nil {
				live = append(live, p)
				if d, ok := p.ctx.Deadline(); !ok {
					deadline = time.Now().Add(w.cfg.WriteTimeout)
				} else if d.After(deadline) {
					deadline = d
				}
			}
		}
		q.live = live
		if len(live) == 0 {
			if last == nil {
				last = context.Canceled
			}
			return fmt.Errorf("every caller gave up: %w", last)
		}
		deadline = minTime(deadline, time.Now().Add(w.cfg.WriteTimeout))
		if attempt > 0 {
			w.retries.Add(1)
		}
		err := w.send(l, q, live, deadline)
		if errors.Is(err, errCallersGone) {
			continue // nothing was sent: the next round finds no live record
		}
		if err == nil {
			var size, n int64
			for _, p := range live {
				if !p.skipped {
					p.written = true
					size += int64(len(p.rec.Key) + len(p.rec.Value))
					n++
				}
			}
			q.last.Store(nil)
			w.writes.Add(1)
			w.messages.Add(n)
			w.bytes.Add(size)
			return nil
		}
		w.errors.Add(1)
		// An attempt that ran into the callers' own deadline says only that
		// time ran out: the attempt before it says why.
		if last == nil || time.Now().Before(deadline) {
			for _, p := range live {
				p.last.Store(&err)
			}
			q.last.Store(&err)
		}
		last = err
		if !retriable(err) {
			return err
		}
		// Where is the leader now? Ask every broker; a moved leader is
		// tried at once, an unchanged one after a pause.
		before := q.connBroker
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		rerr := w.cluster.refresh(ctx)
		cancel()
		if _, ok := w.cluster.cached(l.topic); rerr == nil && !ok {
			// Deleted: fail now rather than at the caller's deadline.
			return fmt.Errorf("topic %s does not exist: %w", l.topic, kafkago.UnknownTopicOrPartition)
		}
		if b, ok := w.cluster.leader(l.topic, l.partition); rerr == nil && ok && b.ID != before {
			backoff = retryBackoffMin
			continue
		}
		sleepUntil(min(backoff, time.Until(deadline)))
		backoff = min(2*backoff, retryBackoffMax)
	}
}

// retriable reports whether another attempt, perhaps to another leader, can
// succeed: network errors and Kafka's retriable errors can, a record too
// large or a refused authorization cannot.
func retriable(err error) bool {
	var ke kafkago.Error
	if errors.As(err, &ke) {
		return ke.Temporary() || ke == kafkago.UnknownTopicOrPartition
	}
	return true
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func sleepUntil(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

// WriterStats are the writer's counters since the previous Stats call.
type WriterStats struct {
	// Writes are acknowledged record batches (one per partition of a
	// produce request), Messages and Bytes what they carried; Requests are
	// the produce requests Kafka answered; Errors are failed attempts
	// (refused connections, timeouts and broker errors alike, and records no
	// broker could be asked about) and Retries the attempts after a failure.
	Writes, Messages, Bytes, Requests, Errors, Retries int64
	// QueueLength counts the records waiting in the lanes, as of the call,
	// for the write in flight before them.
	QueueLength int64
}

// Stats returns the counters since the previous call: exactly one caller
// should read and accumulate them.
func (w *Writer) Stats() WriterStats {
	var waiting int64
	w.mu.Lock()
	for _, q := range w.lanes {
		waiting += int64(len(q.waiting))
	}
	w.mu.Unlock()
	return WriterStats{
		Writes: w.writes.Swap(0), Messages: w.messages.Swap(0), Bytes: w.bytes.Swap(0), Requests: w.requests.Swap(0),
		Errors: w.errors.Swap(0), Retries: w.retries.Swap(0), QueueLength: waiting,
	}
}

// Close refuses new records, waits for the lanes' writes, then closes the
// nodes' connections.
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.writing.Wait()
	w.senders.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.nodes {
		n.stall.Stop()
		n.closeConn()
	}
	return nil
}
