package bridge

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// throttle limits failed authentications per client address with a token
// bucket: each failure takes a token, and an address with none left is
// refused with 429 before its credentials are checked, so guessing slows to
// the refill rate. A success takes nothing, but the bucket is the
// address's: senders behind a proxy that is not in TrustedProxies share the
// proxy's bucket, so one sender's failures throttle them all (the server
// warns once when it sees X-Forwarded-For from an untrusted peer).
type throttle struct {
	every rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	swept   time.Time
}

// maxThrottleBuckets bounds the addresses remembered; full buckets (no
// recent failure) are forgotten first.
const maxThrottleBuckets = 100_000

func newThrottle(perSecond float64, burst int) *throttle {
	if perSecond <= 0 || burst <= 0 {
		return nil // off
	}
	return &throttle{every: rate.Limit(perSecond), burst: burst, buckets: map[string]*rate.Limiter{}}
}

// wait is how long addr must wait before its credentials are checked again;
// 0 when it may try now.
func (t *throttle) wait(addr string, now time.Time) time.Duration {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	l := t.buckets[addr]
	t.mu.Unlock()
	if l == nil || l.TokensAt(now) >= 1 {
		return 0
	}
	r := l.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now) // only asking
	return max(d, time.Second)
}

// failed takes a token from addr's bucket.
func (t *throttle) failed(addr string, now time.Time) {
	if t == nil {
		return
	}
	t.mu.Lock()
	l := t.buckets[addr]
	if l == nil {
		if len(t.buckets) >= maxThrottleBuckets && now.Sub(t.swept) > time.Second {
			t.sweepLocked(now)
		}
		l = rate.NewLimiter(t.every, t.burst)
		t.buckets[addr] = l
	}
	t.mu.Unlock()
	l.AllowN(now, 1)
}

// sweepLocked forgets the addresses whose bucket has refilled.
func (t *throttle) sweepLocked(now time.Time) {
	t.swept = now
	for a, l := range t.buckets {
		if l.TokensAt(now) >= float64(t.burst) {
			delete(t.buckets, a)
		}
	}
}
