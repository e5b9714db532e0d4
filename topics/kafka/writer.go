package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// WriterConfig configures a Writer. Zero values take the documented defaults.
type WriterConfig struct {
	Kafka Config
	// BatchTimeout is how long a partition's batch waits for more records
	// before it is sent (default 2 ms). kafka-go's own default of 1 s would
	// put a second on every synchronous request.
	BatchTimeout time.Duration
	// BatchSize is the most records in one batch (default 100).
	BatchSize int
	// MaxRecordBytes is the largest record, and the largest batch, the
	// writer sends (default 1 MiB + 64 KiB). Topics are created to accept it.
	MaxRecordBytes int64
	// WriteTimeout bounds one produce request to a broker (default 10 s);
	// callers bound a whole Publish with their context.
	WriteTimeout time.Duration
}

// DefaultMaxRecordBytes is WriterConfig.MaxRecordBytes's default.
const DefaultMaxRecordBytes = 1<<20 + 64<<10

func (c WriterConfig) maxRecordBytes() int64 {
	if c.MaxRecordBytes > 0 {
		return c.MaxRecordBytes
	}
	return DefaultMaxRecordBytes
}

// Writer publishes records to any topic through one shared kafka-go Writer,
// waiting for acks from all in-sync replicas. It is safe for concurrent use.
//
// In front of kafka-go it keeps one lane per topic partition with at most one
// write in flight: the records that arrive meanwhile wait in the lane and go
// together in its next write, and a record whose caller gave up before it was
// sent is dropped. kafka-go alone queues each record as its own small batch
// behind the one in flight and sends it even after its caller left: with
// 200 ms of network latency that cut a partition to five records a second,
// and during an outage every refused record stayed in memory, to be written
// after recovery.
type Writer struct {
	w        *kafkago.Writer
	t        *kafkago.Transport // the writer's: its metadata is cached
	balancer kafkago.Murmur2Balancer
	maxBytes int64

	mu      sync.Mutex
	lanes   map[lane]*laneQueue
	closed  bool
	writing sync.WaitGroup // one per lane with a write in flight
}

// lane is a topic partition; partition -1 takes records without a key, which
// kafka-go spreads over the partitions.
type lane struct {
	topic     string
	partition int
}

type laneQueue struct {
	waiting []*pendingRecord
	writing bool
}

// pendingRecord is one record of a Publish call on its way to Kafka.
type pendingRecord struct {
	lane lane
	msg  kafkago.Message
	sent bool       // handed to kafka-go; guarded by Writer.mu
	done chan error // the outcome, sent once
}

// NewWriter builds a Writer. It does not connect until the first Publish.
func NewWriter(cfg WriterConfig, log zerolog.Logger) (*Writer, error) {
	t, err := cfg.Kafka.transport()
	if err != nil {
		return nil, err
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = 2 * time.Millisecond
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	l := log.With().Str("component", "kafka-writer").Logger()
	// Retry for about as long as a caller waits (WriteTimeout): a leader
	// moving or a topic just created answers "not leader" for a moment.
	const backoffMax = 250 * time.Millisecond
	attempts := 5 + int(cfg.WriteTimeout/backoffMax)
	addr := kafkago.TCP(cfg.Kafka.Brokers...)
	return &Writer{
		t:        t,
		maxBytes: cfg.maxRecordBytes(),
		lanes:    make(map[lane]*laneQueue),
		w: &kafkago.Writer{
			Addr:                   addr,
			Balancer:               &kafkago.Murmur2Balancer{},
			RequiredAcks:           kafkago.RequireAll,
			BatchTimeout:           cfg.BatchTimeout,
			BatchSize:              cfg.BatchSize,
			BatchBytes:             cfg.maxRecordBytes(),
			WriteTimeout:           cfg.WriteTimeout,
			ReadTimeout:            cfg.WriteTimeout,
			MaxAttempts:            attempts,
			WriteBackoffMin:        10 * time.Millisecond,
			WriteBackoffMax:        backoffMax,
			AllowAutoTopicCreation: false,
			Transport:              t,
			ErrorLogger: kafkago.LoggerFunc(func(msg string, args ...any) {
				l.Warn().Msgf(msg, args...)
			}),
		},
	}, nil
}

// Publish writes recs and returns nil only once the broker acknowledged every
// one of them with acks=all. When ctx ends first it returns an error, and a
// record may still land later: Kafka can hold a record the caller was told
// failed, never the reverse. Records of one partition are written in the
// order Publish received them.
func (w *Writer) Publish(ctx context.Context, recs ...topics.Record) error {
	ps := make([]*pendingRecord, len(recs))
	for i, r := range recs {
		p, err := w.prepare(ctx, r)
		if err != nil {
			return publishError(recs, err)
		}
		ps[i] = p
	}
	if err := w.enqueue(ps); err != nil {
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
			w.abandon(ps[i:])
			return publishError(recs, ctx.Err())
		}
	}
	if len(errs) > 0 {
		return publishError(recs, errors.Join(errs...))
	}
	return nil
}

func publishError(recs []topics.Record, err error) error {
	if len(recs) == 1 {
		return fmt.Errorf("publish to %s: %w", recs[0].Topic, err)
	}
	return fmt.Errorf("publish %d records: %w", len(recs), err)
}

// prepare finds the lane of r: the partition kafka-go's balancer will choose.
func (w *Writer) prepare(ctx context.Context, r topics.Record) (*pendingRecord, error) {
	hs := make([]kafkago.Header, len(r.Headers))
	size := int64(32 + len(r.Key) + len(r.Value)) // at least kafka-go's size of the record
	for j, h := range r.Headers {
		hs[j] = kafkago.Header{Key: h.Key, Value: h.Value}
		size += int64(20 + len(h.Key) + len(h.Value))
	}
	p := &pendingRecord{
		lane: lane{topic: r.Topic, partition: -1},
		msg:  kafkago.Message{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: hs},
		done: make(chan error, 1),
	}
	if size > w.maxBytes {
		// Refused here: in a lane it would fail the records written with it.
		return nil, fmt.Errorf("record of about %d bytes is over the %d-byte limit", size, w.maxBytes)
	}
	if r.Key != nil {
		// As kafka-go's writer asks, from the transport's cache.
		res, err := w.t.RoundTrip(ctx, w.w.Addr, &metadata.Request{TopicNames: []string{r.Topic}})
		if err != nil {
			return nil, err
		}
		n := 0
		for _, t := range res.(*metadata.Response).Topics {
			if t.Name == r.Topic {
				if t.ErrorCode != 0 {
					return nil, kafkago.Error(t.ErrorCode)
				}
				n = len(t.Partitions)
			}
		}
		if n == 0 {
			return nil, kafkago.UnknownTopicOrPartition
		}
		parts := make([]int, n)
		for i := range parts {
			parts[i] = i
		}
		p.lane.partition = w.balancer.Balance(p.msg, parts...)
	}
	return p, nil
}

// enqueue puts ps in their lanes, starting a lane's writer when it is idle.
func (w *Writer) enqueue(ps []*pendingRecord) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("the Kafka writer is closed")
	}
	for _, p := range ps {
		q := w.lanes[p.lane]
		if q == nil {
			q = &laneQueue{}
			w.lanes[p.lane] = q
		}
		q.waiting = append(q.waiting, p)
		if !q.writing {
			q.writing = true
			w.writing.Add(1)
			go w.drain(q)
		}
	}
	return nil
}

// abandon drops the records of ps that were not sent yet: their caller no
// longer waits for them.
func (w *Writer) abandon(ps []*pendingRecord) {
	gone := make(map[*pendingRecord]bool, len(ps))
	for _, p := range ps {
		gone[p] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	swept := make(map[lane]bool)
	for _, p := range ps {
		if !p.sent && !swept[p.lane] {
			swept[p.lane] = true
			q := w.lanes[p.lane]
			q.waiting = slices.DeleteFunc(q.waiting, func(x *pendingRecord) bool { return gone[x] })
		}
	}
}

// drain writes the lane's waiting records, all of them in each write, until
// none wait.
func (w *Writer) drain(q *laneQueue) {
	defer w.writing.Done()
	for {
		w.mu.Lock()
		batch := q.waiting
		q.waiting = nil
		if len(batch) == 0 {
			q.writing = false
			w.mu.Unlock()
			return
		}
		msgs := make([]kafkago.Message, len(batch))
		for i, p := range batch {
			p.sent = true
			msgs[i] = p.msg
		}
		w.mu.Unlock()
		// Bound by no caller's context: kafka-go keeps a batch until its
		// attempts are over whatever the context, and the lane must not start
		// another write meanwhile.
		err := w.w.WriteMessages(context.Background(), msgs...)
		var werrs kafkago.WriteErrors
		perRecord := errors.As(err, &werrs) && len(werrs) == len(batch)
		for i, p := range batch {
			if perRecord {
				p.done <- werrs[i]
			} else {
				p.done <- err
			}
		}
	}
}

// WriterStats are the writer's counters since the previous Stats call.
type WriterStats struct {
	Writes, Messages, Bytes, Errors, Retries int64
	// Gauges, as of the call. QueueLength counts the records waiting in the
	// lanes for the write in flight before them.
	QueueLength, QueueCapacity int64
}

// Stats returns the counters since the previous call (kafka-go resets them on
// every read, so exactly one caller should read and accumulate them).
func (w *Writer) Stats() WriterStats {
	s := w.w.Stats()
	var waiting int64
	w.mu.Lock()
	for _, q := range w.lanes {
		waiting += int64(len(q.waiting))
	}
	w.mu.Unlock()
	return WriterStats{
		Writes: s.Writes, Messages: s.Messages, Bytes: s.Bytes, Errors: s.Errors, Retries: s.Retries,
		QueueLength: s.QueueLength + waiting, QueueCapacity: s.QueueCapacity,
	}
}

// Close refuses new records, waits for the lanes' writes, then flushes and
// closes connections.
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.writing.Wait()
	return w.w.Close()
}
