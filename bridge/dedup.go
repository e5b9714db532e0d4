package bridge

import (
	"context"
	"sync"
	"time"
)

// dedup remembers the event ids this instance got acknowledged, for a while,
// so that a redelivery (the marketplace retries anything it did not see a
// 2xx for, and admins replay) is answered 2xx without a second record. It
// also makes a second delivery of an id wait while the first is in flight.
// It is per instance: a redelivery that reaches another replica, or comes
// after the TTL or eviction, is published again (consumers dedupe on the
// event-id header).
type dedup struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	acked map[string]time.Time
	order []string // ids in the order they were acknowledged
	head  int
	// pending holds the ids being published now; the channel is made only
	// once a second delivery of the id waits for it (nil until then), and
	// closed by end.
	pending map[string]chan struct{}
}

func newDedup(ttl time.Duration, maxEntries int) *dedup {
	return &dedup{
		ttl: ttl, max: maxEntries, now: time.Now,
		acked:   make(map[string]time.Time),
		pending: make(map[string]chan struct{}),
	}
}

// begin reports whether id was already acknowledged. When it was not, the
// caller owns id until it calls end(id, acknowledged); a concurrent begin of
// the same id waits for that.
func (d *dedup) begin(ctx context.Context, id string) (dup bool, err error) {
	for {
		d.mu.Lock()
		if at, ok := d.acked[id]; ok && d.now().Sub(at) < d.ttl {
			d.mu.Unlock()
			return true, nil
		}
		wait, busy := d.pending[id]
		if !busy {
			d.pending[id] = nil
			d.mu.Unlock()
			return false, nil
		}
		if wait == nil {
			wait = make(chan struct{})
			d.pending[id] = wait
		}
		d.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// end gives up id, which the caller owns since begin; acked says whether
// Kafka acknowledged its records.
func (d *dedup) end(id string, acked bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ch := d.pending[id]; ch != nil {
		close(ch)
	}
	delete(d.pending, id)
	if !acked {
		return
	}
	now := d.now()
	if _, ok := d.acked[id]; !ok {
		d.order = append(d.order, id)
	}
	d.acked[id] = now
	d.evict(now)
}

// evict drops expired ids and the oldest ones beyond max.
func (d *dedup) evict(now time.Time) {
	for d.head < len(d.order) {
		id := d.order[d.head]
		at, ok := d.acked[id]
		if ok && len(d.acked) <= d.max && now.Sub(at) < d.ttl {
			break
		}
		delete(d.acked, id)
		d.order[d.head] = ""
		d.head++
	}
	if d.head > 1024 && d.head*2 > len(d.order) {
		d.order = append([]string(nil), d.order[d.head:]...)
		d.head = 0
	}
}

// size is how many ids are remembered.
func (d *dedup) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.acked)
}
