package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// ConsumeOptions says what ConsumeToEnd reads.
type ConsumeOptions struct {
	Kafka Config
	// Topic is read, every partition of it.
	Topic string
	// Group is the consumer group whose committed offsets say where to
	// resume; ConsumeToEnd commits each record once handle returned nil for
	// it.
	Group string
	// Where a partition starts when the group has committed nothing for it:
	// the first record at or after StartTime when that is not zero, else
	// StartOffset (clamped to the partition's offsets: 0 is the first).
	StartOffset int64
	StartTime   time.Time
	// DryRun reads from the same positions without joining the group and
	// without committing anything.
	DryRun bool
	// IdleTimeout ends ConsumeToEnd with an error when no record arrives
	// for this long while some are still due, e.g. because another member of
	// Group holds their partitions (default 30 s).
	IdleTimeout time.Duration
}

// Consumed is one record read by ConsumeToEnd.
type Consumed struct {
	topics.Record
	Partition int
	Offset    int64
	Time      time.Time
}

// ConsumeToEnd reads opts.Topic from the group's committed positions (or
// the start positions, for partitions it never committed) up to the end
// offsets seen when it is called, calls handle for each record in partition
// order, and commits a record's offset after handle returned nil for it. It
// returns nil once every partition reached those end offsets; it stops at the
// first error of handle, leaving that record uncommitted, so a rerun starts
// with it. Running ConsumeToEnd twice with one group therefore hands each
// record to a successful handle once.
//
// A record handed to handle is finished even when ctx is cancelled
// meanwhile (an operator's Ctrl-C): handle's context is not cancelled with
// ctx, so handle must bound what it does itself, and the commit gets
// commitTimeout. Only then does ConsumeToEnd stop, with ctx's error, before
// the next record. Otherwise a record whose effect (a publish) was done
// could stay uncommitted and be handled again by the next run.
func ConsumeToEnd(ctx context.Context, opts ConsumeOptions, handle func(context.Context, Consumed) error) error {
	if opts.Group == "" && !opts.DryRun {
		return errors.New("consume to end: no consumer group")
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Second
	}
	c, err := opts.Kafka.client(opts.Topic)
	if err != nil {
		return err
	}
	defer closeClient(c)
	spans, err := topicOffsets(ctx, c, opts.Topic)
	if err != nil {
		return err
	}
	starts, committed, err := startOffsets(ctx, c, opts, spans)
	if err != nil {
		return err
	}
	end := map[int]int64{}
	var uncommitted []kafkago.OffsetCommit
	for _, sp := range spans {
		if starts[sp.Partition] < sp.End {
			end[sp.Partition] = sp.End
		}
		if !committed[sp.Partition] {
			uncommitted = append(uncommitted, kafkago.OffsetCommit{Partition: sp.Partition, Offset: starts[sp.Partition]})
		}
	}
	if len(end) == 0 {
		return nil
	}
	dialer, err := opts.Kafka.dialer()
	if err != nil {
		return err
	}
	if opts.DryRun {
		for _, p := range slices.Sorted(maps.Keys(end)) {
			if err := consumePartition(ctx, opts, dialer, p, starts[p], end[p], handle); err != nil {
				return err
			}
		}
		return nil
	}
	// The group reader resumes from committed offsets only, so a group new
	// to a partition first gets its start position committed (a standalone
	// commit, refused while another member is in the group).
	if len(uncommitted) > 0 {
		err := retryCoordinator(ctx, func() error {
			resp, err := c.OffsetCommit(ctx, &kafkago.OffsetCommitRequest{GroupID: opts.Group, GenerationID: -1,
				Topics: map[string][]kafkago.OffsetCommit{opts.Topic: uncommitted}})
			if err == nil {
				for _, p := range resp.Topics[opts.Topic] {
					if p.Error != nil {
						return p.Error
					}
				}
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("set the start position of group %s (is another member using it?): %w", opts.Group, err)
		}
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: opts.Kafka.Brokers, Topic: opts.Topic, GroupID: opts.Group, Dialer: dialer,
		StartOffset: kafkago.FirstOffset, MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond,
		HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second,
	})
	defer r.Close()
	for len(end) > 0 {
		if err := ctx.Err(); err != nil {
			// Not left to FetchMessage, which may return a record it holds.
			return fmt.Errorf("read %s: %w", opts.Topic, err)
		}
		fctx, cancel := context.WithTimeout(ctx, opts.IdleTimeout)
		m, err := r.FetchMessage(fctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("no record of %s for %s while %d partitions are due (is another member of group %s holding them?)", opts.Topic, opts.IdleTimeout, len(end), opts.Group)
			}
			return fmt.Errorf("read %s: %w", opts.Topic, err)
		}
		e, due := end[m.Partition]
		if !due || m.Offset >= e {
			continue // arrived after ConsumeToEnd started: the next run's
		}
		if err := handle(context.WithoutCancel(ctx), consumed(m)); err != nil {
			return err
		}
		// Not under ctx: once cancelled, CommitMessages may give up without
		// committing what handle did.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		err = r.CommitMessages(cctx, m)
		cancel()
		if err != nil {
			return fmt.Errorf("commit %s/%d@%d for group %s: %w", opts.Topic, m.Partition, m.Offset, opts.Group, err)
		}
		if m.Offset+1 >= e {
			delete(end, m.Partition)
		}
	}
	return nil
}

// commitTimeout bounds the commit of a handled record, which does not stop
// when ConsumeToEnd's context is cancelled.
const commitTimeout = 10 * time.Second

// startOffsets returns where each partition starts and whether the group has
// committed a position for it.
func startOffsets(ctx context.Context, c *kafkago.Client, opts ConsumeOptions, spans []PartitionOffsets) (map[int]int64, map[int]bool, error) {
	starts, committed := map[int]int64{}, map[int]bool{}
	parts := make([]int, len(spans))
	for i, sp := range spans {
		parts[i] = sp.Partition
	}
	if opts.Group != "" {
		var resp *kafkago.OffsetFetchResponse
		err := retryCoordinator(ctx, func() (err error) {
			resp, err = c.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: opts.Group, Topics: map[string][]int{opts.Topic: parts}})
			if err == nil && !errors.Is(resp.Error, kafkago.GroupIdNotFound) { // a new group, for some brokers
				err = resp.Error
			}
			return err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("read the offsets of group %s: %w", opts.Group, err)
		}
		for _, p := range resp.Topics[opts.Topic] {
			if p.Error == nil && p.CommittedOffset >= 0 {
				starts[p.Partition], committed[p.Partition] = p.CommittedOffset, true
			}
		}
	}
	var byTime map[int]int64
	if !opts.StartTime.IsZero() {
		var err error
		if byTime, err = listOffsets(ctx, c, opts.Topic, parts, opts.StartTime.UnixMilli()); err != nil {
			return nil, nil, fmt.Errorf("find the offsets at %s: %w", opts.StartTime.Format(time.RFC3339), err)
		}
	}
	for _, sp := range spans {
		start, ok := starts[sp.Partition]
		switch {
		case ok:
		case byTime != nil:
			var found bool
			if start, found = byTime[sp.Partition]; !found || start < 0 {
				start = sp.End // nothing that recent
			}
		default:
			start = opts.StartOffset
		}
		starts[sp.Partition] = min(max(start, sp.First), sp.End)
	}
	return starts, committed, nil
}

// consumePartition reads one partition from start to end without a group.
func consumePartition(ctx context.Context, opts ConsumeOptions, dialer *kafkago.Dialer, partition int, start, end int64, handle func(context.Context, Consumed) error) error {
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: opts.Kafka.Brokers, Topic: opts.Topic, Partition: partition, Dialer: dialer,
		MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(start); err != nil {
		return fmt.Errorf("seek %s/%d: %w", opts.Topic, partition, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s/%d: %w", opts.Topic, partition, err)
		}
		fctx, cancel := context.WithTimeout(ctx, opts.IdleTimeout)
		m, err := r.FetchMessage(fctx)
		cancel()
		if err != nil {
			return fmt.Errorf("read %s/%d: %w", opts.Topic, partition, err)
		}
		if m.Offset >= end {
			return nil
		}
		// Finished like a record of ConsumeToEnd's group reader.
		if err := handle(context.WithoutCancel(ctx), consumed(m)); err != nil {
			return err
		}
		if m.Offset+1 >= end {
			return nil
		}
	}
}

func consumed(m kafkago.Message) Consumed {
	return Consumed{Record: topics.Record{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: Headers(m.Headers)},
		Partition: m.Partition, Offset: m.Offset, Time: m.Time}
}

// retryCoordinator runs f until it succeeds, fails with an error that is not
// temporary (such as a group coordinator still loading or moving), or 30 s
// passed.
func retryCoordinator(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		err := f()
		var ke kafkago.Error
		if err == nil || !errors.As(err, &ke) || !ke.Temporary() || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}
