package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
)

// replayGroup is the default consumer group replay commits its position in,
// after the internal topic prefix, like the quarantine it reads, so that
// deployments sharing a cluster (each with its own prefixes) do not share
// it.
const replayGroup = "replay"

// replayLine is one line of replay's output: a quarantined record and what
// became of it, or (Status "done", or "failed" with the error that stopped
// replay) the counts at the end.
type replayLine struct {
	Status     string `json:"status"` // published, would_publish, rejected, done or failed
	Partition  *int   `json:"partition,omitempty"`
	Offset     *int64 `json:"offset,omitempty"`
	EventID    string `json:"event_id,omitempty"`
	Quarantine string `json:"quarantined_as,omitempty"` // the error header it was quarantined with
	Topic      string `json:"topic,omitempty"`
	Key        string `json:"key,omitempty"`
	Error      string `json:"error,omitempty"`
	Detail     string `json:"detail,omitempty"`

	Read      int            `json:"read,omitempty"`
	Published int            `json:"published,omitempty"`
	Rejected  int            `json:"rejected,omitempty"`
	Errors    map[string]int `json:"errors,omitempty"`
	DryRun    bool           `json:"dry_run,omitempty"`
	Group     string         `json:"group,omitempty"`
}

// replayFlags declares replay's flags.
func replayFlags(stderr io.Writer) (*flag.FlagSet, *replayOptions) {
	o := &replayOptions{}
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.fromBeginning, "from-beginning", false, "a group new to a partition starts at its oldest record (the default)")
	fs.Int64Var(&o.offset, "offset", -1, "a group new to a partition starts at this offset (of every partition)")
	fs.StringVar(&o.since, "since", "", "a group new to a partition starts at its first record at or after this RFC 3339 time")
	fs.StringVar(&o.group, "group", "", "consumer group that remembers how far replay got (default BRIDGE_INTERNAL_TOPIC_PREFIX + \"replay\", e.g. webhook-bridge.replay); a group that has committed resumes there whatever the flags say, so use a new name to replay again")
	fs.BoolVar(&o.dryRun, "dry-run", false, "report what would be published, publishing and committing nothing")
	return fs, o
}

type replayOptions struct {
	fromBeginning bool
	offset        int64
	since         string
	group         string
	dryRun        bool
}

// replayCmd runs `replay`: it re-runs the current validation on every
// quarantined body up to the end offsets seen at start, publishes those that
// now pass exactly as a live delivery would (index update included), and
// reports the others; each record's offset is committed in the group once it
// was handled, so a second run publishes nothing twice.
func replayCmd(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer, log zerolog.Logger) error {
	fs, o := replayFlags(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("replay takes no arguments, got %q", fs.Args())
	}
	opts := kafka.ConsumeOptions{Group: o.group, DryRun: o.dryRun}
	starts := 0
	if o.fromBeginning {
		starts++
	}
	if o.offset >= 0 {
		starts++
		opts.StartOffset = o.offset
	}
	if o.since != "" {
		starts++
		t, err := time.Parse(time.RFC3339, o.since)
		if err != nil {
			return fmt.Errorf("--since %q is not an RFC 3339 time such as 2024-06-10T16:00:00Z", o.since)
		}
		opts.StartTime = t
	}
	if starts > 1 {
		return errors.New("give at most one of --from-beginning, --offset and --since")
	}
	n := cfg.naming()
	if o.group == "" {
		o.group = n.Internal + replayGroup
		opts.Group = o.group
	}
	kc, err := cfg.kafka()
	if err != nil {
		return err
	}
	opts.Kafka, opts.Topic = kc, n.Quarantine()
	index, stop, err := loadIndex(ctx, cfg, kc, log, n.All())
	if err != nil {
		return err
	}
	defer stop()
	w, err := kafka.NewWriter(cfg.writer(kc), log)
	if err != nil {
		return err
	}
	defer w.Close()

	enc := json.NewEncoder(stdout)
	sum := replayLine{Status: "done", Errors: map[string]int{}, DryRun: o.dryRun, Group: o.group}
	err = kafka.ConsumeToEnd(ctx, opts, func(ctx context.Context, m kafka.Consumed) error {
		sum.Read++
		line := replayLine{Partition: &m.Partition, Offset: &m.Offset}
		line.Quarantine, _ = topics.HeaderValue(m.Headers, topics.HeaderError)
		// The event continues the trace of the quarantined delivery, if any.
		tp, _ := topics.HeaderValue(m.Headers, topics.HeaderTraceParent)
		ts, _ := topics.HeaderValue(m.Headers, topics.HeaderTraceState)
		ev, err := topics.NormalizeTraced(m.Value, n, index, topics.TraceContext{TraceParent: tp, TraceState: ts})
		line.EventID = ev.Envelope.ID
		if err == nil {
			// serve's limit: Kafka would refuse the record on every rerun.
			err = bridge.CheckRecordSize(ev.Records(), cfg.maxRecordBytes())
		}
		if err != nil {
			var e *topics.Error
			if !errors.As(err, &e) {
				return err
			}
			sum.Rejected++
			sum.Errors[e.Code]++
			line.Status, line.Error, line.Detail = "rejected", e.Code, e.Detail
			return enc.Encode(line)
		}
		line.Topic, line.Key = ev.Record.Topic, ev.Key.Value
		if o.dryRun {
			// As the real run would after the publish: later records of the
			// same entity get the key they would get.
			if ev.IndexUpdate.Topic != "" {
				index.Learn(ev.IndexUpdate)
			}
			line.Status = "would_publish"
		} else {
			pctx, cancel := context.WithTimeout(ctx, cfg.PublishTimeout)
			err := w.Publish(pctx, ev.Records()...)
			cancel()
			if err != nil {
				return fmt.Errorf("publish event %s from %s/%d@%d (nothing after it was handled; rerun to resume): %w",
					ev.Envelope.ID, opts.Topic, m.Partition, m.Offset, err)
			}
			if ev.IndexUpdate.Topic != "" {
				index.Learn(ev.IndexUpdate)
			}
			line.Status = "published"
		}
		sum.Published++
		return enc.Encode(line)
	})
	if len(sum.Errors) == 0 {
		sum.Errors = nil
	}
	if err != nil {
		// The last line is what a script reads: it must not say done.
		sum.Status, sum.Error = "failed", err.Error()
	}
	if encErr := enc.Encode(sum); err == nil {
		err = encErr
	}
	return err
}

const replayUsage = `Usage: webhook-bridge replay [--from-beginning | --offset N | --since RFC3339] [--group NAME] [--dry-run]

Reads the quarantine topic up to the end it had when replay started, runs
every body through the current validation and routing (and serve's record
size limit) again, and publishes those that pass to their resource topics
exactly as a live delivery would (same record, key chosen with the company
index). Each record's offset is committed in the consumer group once it was
handled, so running replay twice publishes nothing twice; on Ctrl-C, the
record in hand is published and committed before replay stops. Prints one
JSON line per record (status published, rejected with its error code, or
would_publish under --dry-run) and a last line with the counts by error code
(status done, or failed with the error that stopped replay). Records stay in
the quarantine topic.

Flags:
`
