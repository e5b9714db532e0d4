package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// laneSpy replaces the writer's produce attempts: it records what each lane
// sends, in order, and fails the test if a lane has two attempts in flight.
type laneSpy struct {
	t        *testing.T
	mu       sync.Mutex
	sent     map[lane][]string // record values, in the order sent
	inFlight map[lane]int
	// hook runs inside an attempt, after it was recorded as in flight.
	hook func(l lane, values []string) error
}

func (s *laneSpy) send(l lane, _ *laneQueue, live []*pendingRecord, _ time.Time) error {
	values := make([]string, len(live))
	for i, p := range live {
		values[i] = string(p.rec.Value)
	}
	s.mu.Lock()
	s.inFlight[l]++
	if n := s.inFlight[l]; n > 1 {
		s.t.Errorf("lane %v has %d produce attempts in flight at once", l, n)
	}
	s.mu.Unlock()
	var err error
	if s.hook != nil {
		err = s.hook(l, values)
	}
	s.mu.Lock()
	s.inFlight[l]--
	if err == nil {
		s.sent[l] = append(s.sent[l], values...)
	}
	s.mu.Unlock()
	return err
}

func (s *laneSpy) values(l lane) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sent[l]...)
}

// spyWriter is a Writer whose attempts go to a laneSpy, with topic t known
// to have partitions partitions.
func spyWriter(t *testing.T, topic string, partitions int, hook func(lane, []string) error) (*Writer, *laneSpy) {
	t.Helper()
	w, err := NewWriter(WriterConfig{
		Kafka:     Config{Brokers: []string{"127.0.0.1:1"}, DialTimeout: time.Second},
		BatchSize: 100, MaxRecordBytes: 1 << 20, WriteTimeout: 5 * time.Second,
		MetadataTimeout: time.Second, StallCheck: time.Second,
	}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	leaders := make([]kafkago.Broker, partitions)
	for i := range leaders {
		leaders[i] = kafkago.Broker{ID: 1, Host: "127.0.0.1", Port: 1}
	}
	w.cluster.leaders[topic] = leaders
	spy := &laneSpy{t: t, sent: map[lane][]string{}, inFlight: map[lane]int{}, hook: hook}
	w.send = spy.send
	t.Cleanup(func() { _ = w.Close() })
	return w, spy
}

func rec(topic, key, value string) topics.Record {
	return topics.Record{Topic: topic, Key: []byte(key), Value: []byte(value)}
}

// TestLaneSendsOneWriteAtATimeInOrder: many callers publish to one
// partition at once; the lane never has two attempts in flight, batches what
// waited, and each caller's records arrive in the order it published them.
func TestLaneSendsOneWriteAtATimeInOrder(t *testing.T) {
	var attempts atomic.Int32
	w, spy := spyWriter(t, "t", 1, func(lane, []string) error {
		attempts.Add(1)
		time.Sleep(time.Millisecond) // an attempt in flight while others arrive
		return nil
	})
	const callers, each = 16, 40
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range each {
				if err := w.Publish(context.Background(), rec("t", "company-1", fmt.Sprintf("%d:%d", g, i))); err != nil {
					t.Errorf("publish %d:%d: %v", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := spy.values(lane{topic: "t", partition: 0})
	if len(got) != callers*each {
		t.Fatalf("%d records sent, want %d", len(got), callers*each)
	}
	next := make([]int, callers)
	for _, v := range got {
		var g, i int
		if _, err := fmt.Sscanf(v, "%d:%d", &g, &i); err != nil {
			t.Fatal(err)
		}
		if i != next[g] {
			t.Fatalf("caller %d's record %d sent when %d was due: the lane reordered", g, i, next[g])
		}
		next[g]++
	}
	if n := attempts.Load(); n >= callers*each {
		t.Errorf("%d attempts for %d records: nothing was batched while an attempt was in flight", n, callers*each)
	}
}

// TestLaneKeepsTheOrderOfOnePublish: the records of one Publish call that
// share a partition are sent in the order given.
func TestLaneKeepsTheOrderOfOnePublish(t *testing.T) {
	w, spy := spyWriter(t, "t", 1, nil)
	var recs []topics.Record
	var want []string
	for i := range 50 {
		v := fmt.Sprint(i)
		recs = append(recs, rec("t", "company-1", v))
		want = append(want, v)
	}
	if err := w.Publish(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	got := spy.values(lane{topic: "t", partition: 0})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

// TestLaneSendsNothingForACallerWhoGaveUp: a record waiting behind an
// attempt in flight is never sent once its caller gave up, and neither is
// a record whose first attempt failed and whose caller left before the
// retry.
func TestLaneSendsNothingForACallerWhoGaveUp(t *testing.T) {
	t.Run("waiting behind an attempt in flight", func(t *testing.T) {
		release := make(chan struct{})
		w, spy := spyWriter(t, "t", 1, func(_ lane, values []string) error {
			if values[0] == "first" {
				<-release
			}
			return nil
		})
		firstDone := make(chan error, 1)
		go func() { firstDone <- w.Publish(context.Background(), rec("t", "company-1", "first")) }()
		waitFor(t, func() bool {
			spy.mu.Lock()
			defer spy.mu.Unlock()
			return spy.inFlight[lane{topic: "t", partition: 0}] == 1
		})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := w.Publish(ctx, rec("t", "company-1", "abandoned")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("publish behind a stuck attempt: %v, want the deadline", err)
		}
		close(release)
		if err := <-firstDone; err != nil {
			t.Fatal(err)
		}
		if err := w.Publish(context.Background(), rec("t", "company-1", "after")); err != nil {
			t.Fatal(err)
		}
		if got := spy.values(lane{topic: "t", partition: 0}); fmt.Sprint(got) != "[first after]" {
			t.Fatalf("sent %v, want [first after]: the abandoned record must not be sent", got)
		}
	})
	t.Run("between attempts", func(t *testing.T) {
		var tries atomic.Int32
		gaveUp := make(chan struct{})
		w, spy := spyWriter(t, "t", 1, func(_ lane, values []string) error {
			if tries.Add(1) == 1 {
				<-gaveUp // the caller leaves while the failed attempt is still out
				return kafkago.RequestTimedOut
			}
			return nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Publish(ctx, rec("t", "company-1", "left")) }()
		waitFor(t, func() bool { return tries.Load() == 1 })
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("publish: %v, want canceled", err)
		}
		close(gaveUp)
		if err := w.Publish(context.Background(), rec("t", "company-1", "next")); err != nil {
			t.Fatal(err)
		}
		if got := spy.values(lane{topic: "t", partition: 0}); fmt.Sprint(got) != "[next]" {
			t.Fatalf("sent %v, want [next]: a failed record must not be retried once its caller left", got)
		}
		if n := tries.Load(); n != 2 {
			t.Fatalf("%d attempts, want 2 (the failed one and next's)", n)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // catches a hang, not a speed bound
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}
