package bridge

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// dedup remembers the event ids this instance got acknowledged, for a while,
// so that a redelivery (the marketplace retries anything it did not see a
// 2xx for, and admins replay) is answered 2xx without a second record. It
// also makes a second delivery of an id wait while the first is in flight.
// It is per instance: a redelivery that reaches another replica, or comes
// after the TTL or eviction, is published again (consumers dedupe on the
// event-id header).
type dedup struct {
	ttl  time.Duration
	max  int
	now  func() time.Time
	base time.Time // acknowledgement times are durations since base

	mu    sync.Mutex
	acked map[dedupKey]time.Duration
	order []dedupKey // ids in the order they were acknowledged
	head  int
	// pending holds the ids being published now; the channel is made only
	// once a second delivery of the id waits for it (nil until then), and
	// closed by end.
	pending map[dedupKey]chan struct{}
}

// dedupKey is what the table keeps of an event id: 16 bytes whatever the
// id's length. A canonical lower-case UUID (the marketplace's ids) is its
// own 16 bytes; any other id is the first 16 bytes of its SHA-256, so two
// ids that differ in anything, case included, stay apart (a collision is
// a 2^-128 chance). An entry costs 54 bytes of heap; it cost 130 when the
// table kept the id's string, 82 for the entry and 48 for the string
// (TestDedupMemoryPerEntry).
type dedupKey [16]byte

func keyOf(id string) dedupKey {
	if k, ok := topics.ParseCanonicalUUID(id); ok {
		return k
	}
	sum := sha256.Sum256([]byte(id))
	return dedupKey(sum[:16])
}

func newDedup(ttl time.Duration, maxEntries int) *dedup {
	d := &dedup{
		ttl: ttl, max: maxEntries, now: time.Now,
		acked:   make(map[dedupKey]time.Duration),
		pending: make(map[dedupKey]chan struct{}),
	}
	d.base = d.now()
	return d
}

// begin reports whether id was already acknowledged. When it was not, the
// caller owns id until it calls end(id, acknowledged); a concurrent begin of
// the same id waits for that.
func (d *dedup) begin(ctx context.Context, id string) (dup bool, err error) {
	k := keyOf(id)
	for {
		d.mu.Lock()
		if at, ok := d.acked[k]; ok && d.since()-at < d.ttl {
			d.mu.Unlock()
			return true, nil
		}
		wait, busy := d.pending[k]
		if !busy {
			d.pending[k] = nil
			d.mu.Unlock()
			return false, nil
		}
		if wait == nil {
			wait = make(chan struct{})
			d.pending[k] = wait
		}
		d.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// since is the time since base, on the monotonic clock.
func (d *dedup) since() time.Duration { return d.now().Sub(d.base) }

// end gives up id, which the caller owns since begin; acked says whether
// Kafka acknowledged its records.
func (d *dedup) end(id string, acked bool) {
	k := keyOf(id)
	d.mu.Lock()
	defer d.mu.Unlock()
	if ch := d.pending[k]; ch != nil {
		close(ch)
	}
	delete(d.pending, k)
	if !acked {
		return
	}
	now := d.since()
	if _, ok := d.acked[k]; !ok {
		d.order = append(d.order, k)
	}
	d.acked[k] = now
	d.evict(now)
}

// evict drops expired ids and the oldest ones beyond max.
func (d *dedup) evict(now time.Duration) {
	for d.head < len(d.order) {
		k := d.order[d.head]
		at, ok := d.acked[k]
		if ok && len(d.acked) <= d.max && now-at < d.ttl {
			break
		}
		delete(d.acked, k)
		d.head++
	}
	if d.head > 1024 && d.head*2 > len(d.order) {
		d.order = append([]dedupKey(nil), d.order[d.head:]...)
		d.head = 0
	}
}

// size is how many ids are remembered.
func (d *dedup) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.acked)
}
