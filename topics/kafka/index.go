package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// IndexConfig configures an Index. Zero values take the documented defaults.
type IndexConfig struct {
	Kafka Config
	// Topic is the company-index topic (Naming.Index).
	Topic string
	// CatchUpTimeout bounds how long Ready waits for the start-up catch-up:
	// after it, Ready reports nil with the index still filling. 0 (or
	// less): no bound.
	CatchUpTimeout time.Duration
}

// Index is the company index held in memory: it implements CompanyIndex,
// is safe for concurrent use, and is filled by Run from the index topic.
//
// Memory: a canonical lower-case UUID of a catalog resource is held as 16
// bytes in a map per resource, other keys as strings; each company id is held
// once (interned, reference-counted) and entries refer to it by a 32-bit
// number. The counting is by hand because unique.Handle costs a pointer per
// entry and weak-pointer bookkeeping per company: BenchmarkIndexMemory
// measured 81 bytes per UUID entry with it against 55 with numbers.
type Index struct {
	cfg IndexConfig
	log zerolog.Logger

	mu        sync.RWMutex
	byUUID    []map[[16]byte]uint32 // per Catalog position
	byKey     map[string]uint32     // every other key, "<name>:<uuid>"
	companies []string              // company ids by number; "" when free
	refs      []uint32              // entries per company number
	numbers   map[string]uint32     // company id → number
	free      []uint32              // free company numbers

	status     atomic.Pointer[indexStatus]
	started    atomic.Int64 // unix nanos when Run started
	read       atomic.Int64 // records read since Run started
	caughtUp   chan struct{}
	caughtOnce sync.Once

	readErrors atomic.Int64                   // every error reading the topic, logged or not
	partitions atomic.Pointer[[]partitionLag] // known once Run has the partitions
	errLog     *kafkaLog                      // the reader's warnings, rate-limited
	live       sync.Map                       // partition → its *indexReader now
	fetches    atomic.Int64                   // fetches of readers counted so far
	readers    atomic.Int64                   // readers started
}

// partitionLag is how far the reader of one partition is: the next offset
// it will read and the partition's high watermark as last seen.
type partitionLag struct {
	next, end atomic.Int64
}

// IndexStats are the index's figures as of the call.
type IndexStats struct {
	// Entries are the entities whose company the index holds.
	Entries int
	// Lag is the records of the topic not read yet: per partition, its
	// high watermark as of the latest fetch (at start: its end offset) less
	// the next offset to read. 0 until Run knows the partitions.
	Lag int64
	// ReadErrors counts every error reading the topic since Run started:
	// failed partition lookups, connections and fetches (kafka-go's reader
	// retries them itself), whether or not the rate-limited log showed them.
	ReadErrors int64
	// Fetches counts the fetch requests of the topic since Run started.
	Fetches int64
	// Readers counts the partition readers Run started: one per partition
	// to catch up, then one per partition to follow.
	Readers int64
}

// indexStatus is the catch-up state as Ready reports it.
type indexStatus struct {
	err    error // setting up the readers failed (retrying)
	target int64 // records between first and end offsets at start (an upper bound)
}

// catalogPos maps a topic name to its Catalog position.
var catalogPos = func() map[string]uint8 {
	if len(topics.Catalog) > 255 {
		panic("topics: the index numbers catalog resources with a byte")
	}
	m := make(map[string]uint8, len(topics.Catalog))
	for i, r := range topics.Catalog {
		m[r.Name] = uint8(i)
	}
	return m
}()

// indexMaxWait is the longest a fetch of the index topic waits for a new
// record.
const indexMaxWait = 1500 * time.Millisecond

// NewIndex builds an empty index; Run fills it.
func NewIndex(cfg IndexConfig, log zerolog.Logger) (*Index, error) {
	if cfg.Topic == "" {
		return nil, errors.New("company index: no topic")
	}
	x := newIndex()
	x.cfg = cfg
	x.log = log.With().Str("component", "company-index").Logger()
	x.errLog.log = x.log
	return x, nil
}

func newIndex() *Index {
	x := &Index{
		byUUID:   make([]map[[16]byte]uint32, len(topics.Catalog)),
		byKey:    make(map[string]uint32),
		numbers:  make(map[string]uint32),
		caughtUp: make(chan struct{}),
	}
	for i := range x.byUUID {
		x.byUUID[i] = make(map[[16]byte]uint32)
	}
	x.errLog = newKafkaLog(zerolog.Nop(), func() { x.readErrors.Add(1) })
	return x
}

// Company returns the company of the entity name:resourceUUID, if known.
func (x *Index) Company(name, resourceUUID string) (string, bool) {
	at := locate(name, resourceUUID)
	var key []byte
	if !at.canon {
		var buf [128]byte // m[string(b)] does not allocate
		key = append(append(append(buf[:0], name...), ':'), resourceUUID...)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	num, ok := x.lookup(at, key)
	if !ok {
		return "", false
	}
	return x.companies[num], true
}

// Len returns the number of entities in the index.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := len(x.byKey)
	for _, m := range x.byUUID {
		n += len(m)
	}
	return n
}

// Stats returns the index's size, lag and read errors.
func (x *Index) Stats() IndexStats {
	st := IndexStats{Entries: x.Len(), ReadErrors: x.readErrors.Load()}
	x.live.Range(func(_, r any) bool {
		x.fetches.Add(r.(*indexReader).Stats().Fetches) // since the last call
		return true
	})
	st.Fetches, st.Readers = x.fetches.Load(), x.readers.Load()
	if ps := x.partitions.Load(); ps != nil {
		for i := range *ps {
			p := &(*ps)[i]
			st.Lag += max(0, p.end.Load()-p.next.Load())
		}
	}
	return st
}

// Learn applies a company-index record this process had acknowledged, so
// that the next lookup sees it before the record is read back from the
// topic. Records of other topics are ignored.
func (x *Index) Learn(rec topics.Record) {
	if rec.Topic == x.cfg.Topic {
		x.apply(rec.Key, rec.Value)
	}
}

// apply sets key to company value, or deletes it when value is empty.
func (x *Index) apply(key, value []byte) {
	i := bytes.IndexByte(key, ':')
	if i <= 0 || i == len(key)-1 {
		return // not an index key: nothing to look it up by
	}
	at := locate(key[:i], key[i+1:])
	x.mu.Lock()
	defer x.mu.Unlock()
	old, had := x.lookup(at, key)
	if len(value) == 0 {
		if !had {
			return
		}
		if at.canon {
			delete(x.byUUID[at.pos], at.id)
		} else {
			delete(x.byKey, string(key))
		}
		x.release(old)
		return
	}
	if had && x.companies[old] == string(value) {
		return
	}
	num := x.intern(value)
	if at.canon {
		x.byUUID[at.pos][at.id] = num
	} else {
		x.byKey[string(key)] = num
	}
	if had {
		x.release(old)
	}
}

// place says where the entry of an entity is: in byUUID[pos] under id
// when canon, else in byKey under "<name>:<uuid>".
type place struct {
	pos   uint8
	id    [16]byte
	canon bool
}

func locate[T string | []byte](name, resourceUUID T) place {
	var at place
	at.pos, at.canon = catalogPos[string(name)]
	if at.canon {
		at.id, at.canon = topics.ParseCanonicalUUID(resourceUUID)
	}
	return at
}

// lookup returns the company number of the entity at, whose key is
// "<name>:<uuid>" (only read when at is not canonical). x.mu is held.
func (x *Index) lookup(at place, key []byte) (uint32, bool) {
	if at.canon {
		num, ok := x.byUUID[at.pos][at.id]
		return num, ok
	}
	num, ok := x.byKey[string(key)]
	return num, ok
}

// intern returns the number of company c, adding a reference.
func (x *Index) intern(c []byte) uint32 {
	if num, ok := x.numbers[string(c)]; ok {
		x.refs[num]++
		return num
	}
	s := string(c)
	var num uint32
	if n := len(x.free); n > 0 {
		num = x.free[n-1]
		x.free = x.free[:n-1]
		x.companies[num], x.refs[num] = s, 1
	} else {
		num = uint32(len(x.companies))
		x.companies = append(x.companies, s)
		x.refs = append(x.refs, 1)
	}
	x.numbers[s] = num
	return num
}

// release drops a reference to company number num, freeing it at zero.
func (x *Index) release(num uint32) {
	if x.refs[num]--; x.refs[num] > 0 {
		return
	}
	delete(x.numbers, x.companies[num])
	x.companies[num] = ""
	x.free = append(x.free, num)
}

// Ready returns nil once the index has read every record that was in the
// topic when Run started, or once CatchUpTimeout has passed since then;
// before, an error that says how far it got.
func (x *Index) Ready() error {
	select {
	case <-x.caughtUp:
		return nil
	default:
	}
	startNanos := x.started.Load()
	if startNanos == 0 {
		return errors.New("company index not started")
	}
	waited := time.Since(time.Unix(0, startNanos))
	if x.cfg.CatchUpTimeout > 0 && waited >= x.cfg.CatchUpTimeout {
		return nil
	}
	bound := "no bound"
	if x.cfg.CatchUpTimeout > 0 {
		bound = "ready regardless after " + x.cfg.CatchUpTimeout.String()
	}
	st := x.status.Load()
	if st == nil || st.err != nil {
		cause := "looking up its partitions"
		if st != nil {
			cause = st.err.Error()
		}
		return fmt.Errorf("company index %s not readable after %s (%s): %s", x.cfg.Topic, waited.Round(time.Millisecond), bound, cause)
	}
	return fmt.Errorf("company index catching up: read %d of at most %d records in %s (%s)",
		x.read.Load(), st.target, waited.Round(time.Millisecond), bound)
}

// CaughtUp is closed once the index has read every record that was in the
// topic when Run started (whatever CatchUpTimeout says).
func (x *Index) CaughtUp() <-chan struct{} { return x.caughtUp }

// WaitCaughtUp blocks until the index caught up or ctx ends.
func (x *Index) WaitCaughtUp(ctx context.Context) error {
	select {
	case <-x.caughtUp:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("company index did not catch up: %w (%v)", ctx.Err(), x.Ready())
	}
}

func (x *Index) markCaughtUp(since time.Time) {
	x.caughtOnce.Do(func() {
		close(x.caughtUp)
		x.log.Info().Int("entries", x.Len()).Int64("records", x.read.Load()).
			Int64("took_ms", time.Since(since).Milliseconds()).Msg("company index caught up")
	})
}

// Run reads the index topic from the beginning of every partition into
// memory and keeps following it until ctx ends; call it once. It retries
// while the topic cannot be read (Ready says why), and returns nil when ctx
// ends.
func (x *Index) Run(ctx context.Context) error {
	start := time.Now()
	x.started.Store(start.UnixNano())
	if x.cfg.CatchUpTimeout > 0 {
		t := time.AfterFunc(x.cfg.CatchUpTimeout, func() {
			select {
			case <-x.caughtUp:
			default:
				x.log.Warn().Int64("timeout_ms", x.cfg.CatchUpTimeout.Milliseconds()).Int64("records", x.read.Load()).
					Msg("company index did not catch up in time; ready with a partial index (REMOVED events of entities not read yet are keyed by their own uuid)")
			}
		})
		defer t.Stop()
	}
	var (
		spans []PartitionOffsets
		err   error
	)
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		if spans, err = Offsets(ctx, x.cfg.Kafka, x.cfg.Topic); err == nil {
			break
		}
		if ctx.Err() == nil {
			x.errLog.Printf("looking up the partitions of %s: %v", x.cfg.Topic, err)
		}
		x.status.Store(&indexStatus{err: err})
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	dialer, err := x.cfg.Kafka.dialer()
	if err != nil {
		return err
	}
	var (
		target  int64
		pending atomic.Int64
	)
	for _, sp := range spans {
		target += sp.End - sp.First
		if sp.End > sp.First {
			pending.Add(1)
		}
	}
	lags := make([]partitionLag, len(spans))
	for i, sp := range spans {
		lags[i].next.Store(sp.First)
		lags[i].end.Store(sp.End)
	}
	x.partitions.Store(&lags)
	x.status.Store(&indexStatus{target: target})
	if pending.Load() == 0 {
		x.markCaughtUp(start)
	}
	var wg sync.WaitGroup
	for i, sp := range spans {
		wg.Go(func() {
			log := x.log.With().Int("partition", sp.Partition).Logger()
			done := sp.End <= sp.First
			r := x.newReader(sp.Partition, log, dialer, done, kafkago.FirstOffset)
			defer func() { x.retire(r) }()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					x.errLog.with(log).Printf("reading the company index: %v", err)
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Second):
					}
					continue
				}
				x.apply(m.Key, m.Value)
				x.read.Add(1)
				lag := &lags[i]
				lag.next.Store(m.Offset + 1)
				if m.HighWaterMark > lag.end.Load() {
					lag.end.Store(m.HighWaterMark)
				}
				// The record at end-1 is there to be read: compaction never
				// touches the active segment, which holds the last record.
				if !done && m.Offset+1 >= sp.End {
					done = true
					if pending.Add(-1) == 0 {
						x.markCaughtUp(start)
					}
					// Caught up: follow from the next record with a reader
					// that waits for records to gather.
					x.retire(r)
					r = x.newReader(sp.Partition, log, dialer, true, m.Offset+1)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// indexFollowMinBytes is what a fetch of a caught-up partition waits to
// gather (or for the broker's wait, MaxWait less kafka-go's 1 s margin:
// 500 ms). With MinBytes 1 every record another replica wrote ended a fetch:
// under load one fetch per index record, parsed by the bridge and answered
// by the broker; now at most about two a second per partition, and a
// replica learns another's mappings within about 500 ms, as before at idle.
// Catching up at start keeps MinBytes 1, so the last records of each
// partition are not held back for the wait.
const indexFollowMinBytes = 1 << 20

// indexReader is a reader of one partition of the index topic.
type indexReader struct {
	*kafkago.Reader
	// retired: being closed; what kafka-go logs from here on (the lag it
	// could not read, the fetch it cancelled) is the close, not a failure.
	retired atomic.Bool
}

// newReader returns a reader of one partition of the index topic from
// offset: for catching up at start (MinBytes 1), or for following once
// caught up (indexFollowMinBytes).
func (x *Index) newReader(partition int, log zerolog.Logger, dialer *kafkago.Dialer, follow bool, offset int64) *indexReader {
	minBytes := 1
	if follow {
		minBytes = indexFollowMinBytes
	}
	ir := &indexReader{}
	errLog := x.errLog.with(log)
	ir.Reader = kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: x.cfg.Kafka.Brokers, Topic: x.cfg.Topic, Partition: partition, Dialer: dialer,
		MinBytes: minBytes, MaxBytes: 16 << 20, QueueCapacity: 1000,
		// kafka-go asks the broker to wait MaxWait less a margin for the
		// round trip (1 s, or a quarter of MaxWait when under 1 s), and
		// times the read out at MaxWait. At 500 ms the margin was 125 ms,
		// which a busy broker or machine can exceed: an "i/o timeout" and a
		// reconnection while healthy. Close waits for the fetch in flight,
		// so MaxWait also bounds the shutdown.
		MaxWait: indexMaxWait,
		ErrorLogger: kafkago.LoggerFunc(func(format string, args ...any) {
			if !ir.retired.Load() {
				errLog.Printf(format, args...)
			}
		}),
	})
	// A reader without a group starts at the first offset unless told.
	_ = ir.SetOffset(offset)
	x.readers.Add(1)
	x.live.Store(partition, ir)
	return ir
}

// retire counts the fetches of reader r and closes it; what kafka-go logs
// while it closes is not a read error.
func (x *Index) retire(r *indexReader) {
	r.retired.Store(true)
	x.live.CompareAndDelete(r.Config().Partition, r)
	x.fetches.Add(r.Stats().Fetches)
	_ = r.Close()
}
