package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// TailOptions selects what Tail prints.
type TailOptions struct {
	Kafka Config
	// Topics are the Kafka topics to read, every partition of each.
	Topics []string
	// Resource, Action and Company filter on the record headers; "" matches
	// everything. Company matches company-id or any of company-ids.
	Resource, Action, Company string
	// FromBeginning starts at the oldest record instead of the newest.
	FromBeginning bool
	// Limit stops after this many printed records (0: until ctx ends).
	Limit int
}

// TailLine is one printed record.
type TailLine struct {
	Topic     string            `json:"topic"`
	Partition int               `json:"partition"`
	Offset    int64             `json:"offset"`
	Time      time.Time         `json:"time"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers"`
	Value     json.RawMessage   `json:"value"`
}

// Matches reports whether a record with these headers passes the filters.
func (o TailOptions) Matches(headers []kafkago.Header) bool {
	hs := Headers(headers)
	get := func(k string) string {
		v, _ := topics.HeaderValue(hs, k)
		return v
	}
	if o.Resource != "" && get(topics.HeaderResource) != o.Resource {
		return false
	}
	if o.Action != "" && get(topics.HeaderAction) != strings.ToLower(o.Action) {
		return false
	}
	if o.Company != "" && get(topics.HeaderCompanyID) != o.Company &&
		!slices.Contains(strings.Split(get(topics.HeaderCompanyIDs), ","), o.Company) {
		return false
	}
	return true
}

// Tail prints records of opts.Topics to out as JSON lines until ctx ends or
// opts.Limit records were printed. Values that are JSON are embedded as
// they are; others are printed as JSON strings.
func Tail(ctx context.Context, opts TailOptions, out io.Writer) error {
	admin, err := NewAdmin(opts.Kafka, 10*time.Second)
	if err != nil {
		return err
	}
	defer admin.Close()
	dialer, err := opts.Kafka.dialer()
	if err != nil {
		return err
	}
	parts, err := admin.Partitions(ctx, opts.Topics)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan kafkago.Message)
	errs := make(chan error, 1)
	started := 0
	for _, t := range opts.Topics {
		n, ok := parts[t]
		if !ok {
			return fmt.Errorf("topic %s does not exist", t)
		}
		for p := range n {
			r := kafkago.NewReader(kafkago.ReaderConfig{
				Brokers: opts.Kafka.Brokers, Topic: t, Partition: p, Dialer: dialer,
				MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 200 * time.Millisecond,
			})
			start := kafkago.LastOffset
			if opts.FromBeginning {
				start = kafkago.FirstOffset
			}
			if err := r.SetOffset(start); err != nil {
				r.Close()
				return fmt.Errorf("seek %s/%d: %w", t, p, err)
			}
			started++
			go func() {
				defer r.Close()
				for {
					m, err := r.ReadMessage(ctx)
					if err != nil {
						if ctx.Err() == nil {
							select {
							case errs <- fmt.Errorf("read %s/%d: %w", t, p, err):
							default:
							}
						}
						return
					}
					select {
					case msgs <- m:
					case <-ctx.Done():
						return
					}
				}
			}()
		}
	}
	if started == 0 {
		return errors.New("no partitions to read")
	}
	enc := json.NewEncoder(out)
	printed := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return err
		case m := <-msgs:
			if !opts.Matches(m.Headers) {
				continue
			}
			line := TailLine{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Time.UTC(), Key: string(m.Key), Headers: map[string]string{}}
			for _, h := range m.Headers {
				line.Headers[h.Key] = string(h.Value)
			}
			if json.Valid(m.Value) {
				line.Value = m.Value
			} else {
				line.Value, _ = json.Marshal(string(m.Value))
			}
			if err := enc.Encode(line); err != nil {
				return err
			}
			printed++
			if opts.Limit > 0 && printed >= opts.Limit {
				return nil
			}
		}
	}
}
