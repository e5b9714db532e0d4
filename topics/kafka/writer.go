package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

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
// It keeps one lane per topic partition, with its own connection to the
// partition's leader and at most one produce request in flight: a lane with
// nothing in flight writes at once, with no batch timer, and the records
// that arrive meanwhile go together in its next request. A record whose
// caller gave up before it was sent is never sent. When a produce fails
// because the leader moved or its node is gone, or waits while the leader
// moves, the writer asks every broker for metadata at once and sends the
// lane's records to the new leader (see cluster); a node that is down gets
// no second attempt once another leader is known.
type Writer struct {
	cfg      WriterConfig
	dialer   *kafkago.Dialer
	cluster  *cluster
	balancer kafkago.Murmur2Balancer
	log      zerolog.Logger
	unkeyed  atomic.Uint64 // spreads records without a key over partitions
	// send makes one produce attempt (produce; tests replace it to watch
	// what the lanes send).
	send func(l lane, q *laneQueue, live []*pendingRecord, deadline time.Time) error

	mu      sync.Mutex
	lanes   map[lane]*laneQueue
	closed  bool
	writing sync.WaitGroup // one per lane with a write in flight

	writes, messages, bytes, errors, retries atomic.Int64
}

// lane is a topic partition.
type lane struct {
	topic     string
	partition int
}

type laneQueue struct {
	waiting []*pendingRecord
	writing bool
	// conn is the lane's connection to its leader (node connBroker); only
	// the lane's writing goroutine touches them.
	conn       *kafkago.Conn
	connBroker int
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
	msg  kafkago.Message
	size int64
	sent bool                  // taken into a produce request; guarded by Writer.mu
	done chan error            // the outcome, sent once
	last atomic.Pointer[error] // the latest failed attempt's error, for a caller who gives up
}

// lastErr is the error of the record's latest failed attempt, nil if none.
func (p *pendingRecord) lastErr() error {
	if e := p.last.Load(); e != nil {
		return *e
	}
	return nil
}

// NewWriter builds a Writer. It does not connect until the first Publish.
func NewWriter(cfg WriterConfig, log zerolog.Logger) (*Writer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d, err := cfg.Kafka.dialer()
	if err != nil {
		return nil, err
	}
	w := &Writer{
		cfg:     cfg,
		dialer:  d,
		cluster: newCluster(cfg.Kafka, cfg.MetadataTimeout),
		log:     log.With().Str("component", "kafka-writer").Logger(),
		lanes:   make(map[lane]*laneQueue),
	}
	w.send = w.produce
	return w, nil
}

// Publish writes recs and returns nil only once the broker acknowledged every
// one of them with acks=all. When ctx ends first it returns an error, and a
// record may still land later: Kafka can hold a record the caller was told
// failed, never the reverse. Records of one partition are written in the
// order Publish received them.
func (w *Writer) Publish(ctx context.Context, recs ...topics.Record) error {
	ps := make([]*pendingRecord, len(recs))
	lanes := make([]lane, len(recs))
	for i, r := range recs {
		p, l, err := w.prepare(ctx, r)
		if err != nil {
			return publishError(recs, err)
		}
		ps[i], lanes[i] = p, l
	}
	if err := w.enqueue(ps, lanes); err != nil {
		return publishError(recs, err)
	}
	var errs []error
	for i, p := range ps {
		select {
		case err := <-p.done:
			if err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			w.abandon(ps[i:], lanes[i:])
			err := ctx.Err()
			last := ps[i].lastErr()
			if last == nil {
				// It waited behind a batch that kept failing.
				last = w.laneErr(lanes[i])
			}
			if last != nil {
				// Say what kept failing, not only that time ran out.
				err = fmt.Errorf("%w; the last attempt: %w", err, last)
			}
			return publishError(recs, err)
		}
	}
	if len(errs) > 0 {
		return publishError(recs, errors.Join(errs...))
	}
	return nil
}

// publishError wraps err as a *PublishError, which names its cause.
func publishError(recs []topics.Record, err error) error {
	if len(recs) == 1 {
		return &PublishError{Err: fmt.Errorf("publish to %s: %w", recs[0].Topic, err)}
	}
	return &PublishError{Err: fmt.Errorf("publish %d records: %w", len(recs), err)}
}

// prepare finds the lane of r: the partition Java's default partitioner
// picks for its key (murmur2), or the next partition for a record without
// a key.
func (w *Writer) prepare(ctx context.Context, r topics.Record) (*pendingRecord, lane, error) {
	hs := make([]kafkago.Header, len(r.Headers))
	size := int64(32 + len(r.Key) + len(r.Value)) // at least the record's size in a batch
	for j, h := range r.Headers {
		hs[j] = kafkago.Header{Key: h.Key, Value: h.Value}
		size += int64(20 + len(h.Key) + len(h.Value))
	}
	if size > w.cfg.MaxRecordBytes {
		// Refused here: in a lane it would fail the records written with it.
		return nil, lane{}, fmt.Errorf("%w: about %d bytes, over the %d-byte limit", errRecordTooLarge, size, w.cfg.MaxRecordBytes)
	}
	p := &pendingRecord{ctx: ctx, msg: kafkago.Message{Key: r.Key, Value: r.Value, Headers: hs}, size: size, done: make(chan error, 1)}
	leaders, err := w.cluster.partitions(ctx, r.Topic, w.cfg.Topics...)
	if err != nil {
		// No broker told where the partitions are: a failed attempt like
		// a failed produce, or an outage from start would never count.
		w.errors.Add(1)
		return nil, lane{}, err
	}
	parts := make([]int, len(leaders))
	for i := range parts {
		parts[i] = i
	}
	l := lane{topic: r.Topic}
	if r.Key != nil {
		l.partition = w.balancer.Balance(p.msg, parts...)
	} else {
		l.partition = int(w.unkeyed.Add(1) % uint64(len(parts)))
	}
	return p, l, nil
}

// enqueue puts ps in their lanes, starting a lane's writer when it is idle.
func (w *Writer) enqueue(ps []*pendingRecord, lanes []lane) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errWriterClosed
	}
	for i, p := range ps {
		q := w.lanes[lanes[i]]
		if q == nil {
			q = &laneQueue{connBroker: -1}
			w.lanes[lanes[i]] = q
		}
		q.waiting = append(q.waiting, p)
		if !q.writing {
			q.writing = true
			w.writing.Add(1)
			go w.writeLane(lanes[i], q)
		}
	}
	return nil
}

// abandon drops the records of ps that were not sent yet: their caller no
// longer waits for them.
func (w *Writer) abandon(ps []*pendingRecord, lanes []lane) {
	gone := make(map[*pendingRecord]bool, len(ps))
	for _, p := range ps {
		gone[p] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	swept := make(map[lane]bool)
	for i, p := range ps {
		if !p.sent && !swept[lanes[i]] {
			swept[lanes[i]] = true
			q := w.lanes[lanes[i]]
			q.waiting = slices.DeleteFunc(q.waiting, func(x *pendingRecord) bool { return gone[x] })
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
		batch := slices.Clone(q.waiting[:n])
		q.waiting = slices.Delete(q.waiting, 0, n)
		for _, p := range batch {
			p.sent = true
		}
		w.mu.Unlock()
		err := w.write(l, q, batch)
		for _, p := range batch {
			p.done <- err
		}
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
	for attempt := 0; ; attempt++ {
		// Nothing is sent for a caller who gave up, retries included.
		live := batch[:0:0]
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
		if err == nil {
			var size int64
			for _, p := range live {
				size += int64(len(p.msg.Key) + len(p.msg.Value))
			}
			q.last.Store(nil)
			w.writes.Add(1)
			w.messages.Add(int64(len(live)))
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
		w.closeConn(q)
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

// produce makes one attempt: it sends live to the partition's current leader
// and waits for acks=all until deadline. While it waits, every StallCheck it
// asks whether the leader moved and, if so, abandons the attempt.
func (w *Writer) produce(l lane, q *laneQueue, live []*pendingRecord, deadline time.Time) error {
	leader, ok := w.cluster.leader(l.topic, l.partition)
	if !ok {
		return kafkago.LeaderNotAvailable
	}
	if q.conn == nil || q.connBroker != leader.ID {
		w.closeConn(q)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		c, err := w.dialer.DialPartition(ctx, "tcp", "", kafkago.Partition{Topic: l.topic, ID: l.partition, Leader: leader})
		cancel()
		if err != nil {
			q.connBroker = leader.ID // the refresh compares against the node that failed
			return fmt.Errorf("connect to node %d (%s:%d): %w", leader.ID, leader.Host, leader.Port, err)
		}
		q.conn, q.connBroker = c, leader.ID
	}
	msgs := make([]kafkago.Message, len(live))
	for i, p := range live {
		msgs[i] = p.msg
	}
	conn := q.conn
	_ = conn.SetDeadline(deadline)
	var moved atomic.Bool
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		w.watchLeader(l, leader.ID, conn, &moved, stop)
	}()
	_, err := conn.WriteMessages(msgs...)
	close(stop)
	<-watched
	if err != nil && moved.Load() {
		return fmt.Errorf("node %d stopped answering and partition %s/%d has a new leader: %w", leader.ID, l.topic, l.partition, kafkago.NotLeaderForPartition)
	}
	if err != nil {
		return fmt.Errorf("node %d: %w", leader.ID, err)
	}
	return nil
}

// watchLeader closes conn once the partition's leader is no longer node,
// checking every StallCheck until stop is closed.
func (w *Writer) watchLeader(l lane, node int, conn *kafkago.Conn, moved *atomic.Bool, stop <-chan struct{}) {
	t := time.NewTicker(w.cfg.StallCheck)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.MetadataTimeout)
		err := w.cluster.refresh(ctx)
		cancel()
		if b, ok := w.cluster.leader(l.topic, l.partition); err == nil && ok && b.ID != node {
			moved.Store(true)
			_ = conn.Close()
			return
		}
	}
}

func (w *Writer) closeConn(q *laneQueue) {
	if q.conn != nil {
		_ = q.conn.Close()
		q.conn = nil
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
	// Writes are acknowledged produce requests, Messages and Bytes what they
	// carried; Errors are failed attempts (refused connections, timeouts and
	// broker errors alike, and records no broker could be asked about) and
	// Retries the attempts after a failure.
	Writes, Messages, Bytes, Errors, Retries int64
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
		Writes: w.writes.Swap(0), Messages: w.messages.Swap(0), Bytes: w.bytes.Swap(0),
		Errors: w.errors.Swap(0), Retries: w.retries.Swap(0), QueueLength: waiting,
	}
}

// Close refuses new records, waits for the lanes' writes, then closes their
// connections.
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.writing.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, q := range w.lanes {
		w.closeConn(q)
	}
	return nil
}
