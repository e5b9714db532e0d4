package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

func TestConsumeToEndCommitsWhatWasHandled(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 1)
	var recs []topics.Record
	for i := range 4 {
		recs = append(recs, topics.Record{Topic: n.Quarantine(), Value: fmt.Appendf(nil, "r%d", i)})
	}
	publish(t, kc, recs...)
	opts := kafka.ConsumeOptions{Kafka: kc, Topic: n.Quarantine(), Group: n.Prefix + "consume"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	consume := func(opts kafka.ConsumeOptions, failAt string) ([]string, error) {
		var seen []string
		err := kafka.ConsumeToEnd(ctx, opts, func(_ context.Context, c kafka.Consumed) error {
			seen = append(seen, fmt.Sprintf("%s@%d", c.Value, c.Offset))
			if string(c.Value) == failAt {
				return errors.New("handler failed")
			}
			return nil
		})
		return seen, err
	}

	seen, err := consume(opts, "r2")
	if err == nil || err.Error() != "handler failed" {
		t.Fatalf("ConsumeToEnd = %v, want the handler's error", err)
	}
	if diff := cmp.Diff([]string{"r0@0", "r1@1", "r2@2"}, seen); diff != "" {
		t.Errorf("first run (-want +got):\n%s", diff)
	}
	// A dry run of the same group reads from its position, commits nothing.
	dry := opts
	dry.DryRun = true
	for range 2 {
		if seen, err = consume(dry, ""); err != nil || !cmp.Equal([]string{"r2@2", "r3@3"}, seen) {
			t.Errorf("dry run: %v, %v; want r2 and r3", seen, err)
		}
	}
	// The record that failed comes again; what succeeded does not.
	if seen, err = consume(opts, ""); err != nil || !cmp.Equal([]string{"r2@2", "r3@3"}, seen) {
		t.Errorf("second run: %v, %v; want r2 and r3", seen, err)
	}
	if seen, err = consume(opts, ""); err != nil || len(seen) != 0 {
		t.Errorf("third run: %v, %v; want nothing", seen, err)
	}
	// Start positions of a new group.
	other := opts
	other.Group, other.StartOffset = n.Prefix+"other", 3
	if seen, err = consume(other, ""); err != nil || !cmp.Equal([]string{"r3@3"}, seen) {
		t.Errorf("new group from offset 3: %v, %v", seen, err)
	}
	if _, err := consume(kafka.ConsumeOptions{Kafka: kc, Topic: n.Quarantine()}, ""); err == nil {
		t.Error("ConsumeToEnd without a group succeeded")
	}
}

// TestConsumeToEndFinishesTheRecordItWasHandedOnCancel: a cancel (an
// operator's Ctrl-C) while handle runs cancels neither handle's context nor
// the record's commit, so that what handle did (a publish) is not done again
// by the next run; the next record is not handed over.
func TestConsumeToEndFinishesTheRecordItWasHandedOnCancel(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 1)
	publish(t, kc, topics.Record{Topic: n.Quarantine(), Value: []byte("r0")}, topics.Record{Topic: n.Quarantine(), Value: []byte("r1")})
	// Each with a new group: a lost commit was a matter of chance.
	for i := range 5 {
		for _, dry := range []bool{true, false} { // the dry run first: it reads from the group's position
			opts := kafka.ConsumeOptions{Kafka: kc, Topic: n.Quarantine(), Group: fmt.Sprintf("%scancel-%d", n.Prefix, i), DryRun: dry}
			ctx, cancel := context.WithCancel(context.Background())
			var seen []string
			err := kafka.ConsumeToEnd(ctx, opts, func(hctx context.Context, c kafka.Consumed) error {
				seen = append(seen, string(c.Value))
				cancel()
				if err := hctx.Err(); err != nil {
					t.Errorf("dry run %v: handle's context ended with the cancel: %v", dry, err)
				}
				return nil
			})
			cancel()
			if !errors.Is(err, context.Canceled) || !cmp.Equal([]string{"r0"}, seen) {
				t.Errorf("dry run %v: cancelled in the first record: handed %v, %v; want r0 only and the cancel", dry, seen, err)
			}
		}
		// r0 was committed, r1 was not handed over.
		opts := kafka.ConsumeOptions{Kafka: kc, Topic: n.Quarantine(), Group: fmt.Sprintf("%scancel-%d", n.Prefix, i)}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var seen []string
		err := kafka.ConsumeToEnd(ctx, opts, func(_ context.Context, c kafka.Consumed) error {
			seen = append(seen, string(c.Value))
			return nil
		})
		cancel()
		if err != nil || !cmp.Equal([]string{"r1"}, seen) {
			t.Fatalf("trial %d: the run after the cancel handed %v, %v; want r1 only", i, seen, err)
		}
	}
}
