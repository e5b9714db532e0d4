package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
)

// offsets are the end offsets of every partition of some topics.
type offsets map[string]map[int]int64

// endOffsets asks the broker for the end offset of every partition of
// names (partitions gives how many each has).
func endOffsets(ctx context.Context, c *kafkago.Client, partitions map[string]int) (offsets, error) {
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	for t, n := range partitions {
		for p := range n {
			req.Topics[t] = append(req.Topics[t], kafkago.LastOffsetOf(p))
		}
	}
	resp, err := c.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	out := offsets{}
	for t, ps := range resp.Topics {
		out[t] = map[int]int64{}
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("offsets of %s/%d: %w", t, p.Partition, p.Error)
			}
			out[t][p.Partition] = p.LastOffset
		}
	}
	for t, n := range partitions {
		if len(out[t]) != n {
			return nil, fmt.Errorf("offsets of %s: got %d partitions of %d", t, len(out[t]), n)
		}
	}
	return out, nil
}

// verifyResult is what reading the phase's records back found.
type verifyResult struct {
	OK bool `json:"ok"`
	// NothingWritten is a floor phase's (-mode floor): its server writes
	// nothing to Kafka, and OK says every request was answered 202.
	NothingWritten bool `json:"nothing_written,omitempty"`
	// Acked events (2xx) and how many were found exactly once.
	Acked uint64 `json:"acked"`
	Found uint64 `json:"found"`
	// Failures: acknowledged but absent; present more than once; present but
	// never sent; present with another topic, key, partition, headers or value
	// than the bridge must write.
	Missing    uint64 `json:"missing"`
	Duplicates uint64 `json:"duplicates"`
	Unexpected uint64 `json:"unexpected"`
	Mismatched uint64 `json:"mismatched"` // company-index records included
	// IndexMissing counts company-index records absent although an event
	// that implies them was acknowledged: a REMOVED event's tombstone, or
	// (in the run's own topics) the mapping of an entity whose event named
	// its company.
	IndexMissing uint64 `json:"index_missing"`
	// Not failures: events that got an error yet landed (a 503 after the
	// broker had the record: delivery is at least once), and records of
	// other writers in the same topics.
	ReadErrors       uint64   `json:"read_errors"`
	LandedAfterError uint64   `json:"landed_after_error"`
	Foreign          uint64   `json:"foreign"`
	Read             uint64   `json:"records_read"`
	IndexRecords     uint64   `json:"index_records"` // of the read, those of the company index
	Tombstones       uint64   `json:"index_tombstones"`
	Problems         []string `json:"problems,omitempty"`
	Took             float64  `json:"took_s"`
}

// indexCheck is what verify expects of the company-index topic. Its records
// carry no event id: they are the side effects of the events, checked
// against what the variants imply rather than one by one.
type indexCheck struct {
	topic string
	parts []int
	// want holds, for each entity of the variants, the values its records
	// may have: its company, or "" (a tombstone).
	want map[string]map[string]bool
	// mapped is every entity whose mapping was read so far in the run:
	// the bridge writes a mapping only until its index holds it, perhaps
	// in an earlier phase (or the baseline did).
	mapped map[string]bool
	// strict makes a missing mapping a failure: true when the topics are
	// the run's own, so that no mapping can predate it.
	strict bool
}

func newIndexCheck(topic string, partitions int, vs []variant, strict bool) *indexCheck {
	c := &indexCheck{topic: topic, want: map[string]map[string]bool{}, mapped: map[string]bool{}, strict: strict}
	for p := range partitions {
		c.parts = append(c.parts, p)
	}
	for _, v := range vs {
		if v.index.Topic == "" {
			continue
		}
		k := string(v.index.Key)
		if c.want[k] == nil {
			c.want[k] = map[string]bool{}
		}
		c.want[k][string(v.index.Value)] = true
	}
	return c
}

// verify reads every record written to the topics between from and to and
// checks them against the phase's outcomes: every acknowledged event exactly
// once and exactly as expected, nothing that was not sent, no duplicates;
// with idx, the company-index records the events imply too.
func verify(ctx context.Context, brokers []string, from, to offsets, ids eventIDs, vs []variant, out *outcomes, idx *indexCheck) verifyResult {
	start := time.Now()
	n := out.n.Load()
	seen := make([]uint8, n) // each sequence number lives in one partition: one reader writes it
	var (
		mu         sync.Mutex
		res        verifyResult
		tombstones = map[string]uint64{} // by entity
		mapped     = map[string]bool{}
	)
	problem := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(res.Problems) < 20 {
			res.Problems = append(res.Problems, fmt.Sprintf(format, args...))
		}
	}
	type span struct {
		topic      string
		partition  int
		first, end int64
	}
	var spans []span
	for t, ps := range to {
		for p, end := range ps {
			if first := from[t][p]; end > first {
				spans = append(spans, span{t, p, first, end})
			}
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].end-spans[i].first > spans[j].end-spans[j].first })
	work := make(chan span)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var st struct{ read, foreign, mismatched, unexpected, readErrors, index, tombstones uint64 }
			tombs, maps := map[string]uint64{}, map[string]bool{}
			var want topics.Record
			wantID := make([]byte, idLen)
			for sp := range work {
				r := kafkago.NewReader(kafkago.ReaderConfig{
					Brokers: brokers, Topic: sp.topic, Partition: sp.partition,
					MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond,
				})
				if err := r.SetOffset(sp.first); err != nil {
					st.readErrors++
					problem("read %s/%d: %v", sp.topic, sp.partition, err)
					r.Close()
					continue
				}
				for off := sp.first; off < sp.end; {
					rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					m, err := r.ReadMessage(rctx)
					cancel()
					if err != nil {
						st.readErrors++
						problem("read %s/%d at offset %d of %d: %v", sp.topic, sp.partition, off, sp.end, err)
						break
					}
					off = m.Offset + 1
					st.read++
					if idx != nil && m.Topic == idx.topic {
						key := string(m.Key)
						values, ok := idx.want[key]
						switch {
						case !ok:
							st.foreign++
						case !values[string(m.Value)]:
							st.mismatched++
							problem("%s/%d@%d: company-index record %s=%q is not what the events imply", m.Topic, m.Partition, m.Offset, key, m.Value)
						case m.Partition != (kafkago.Murmur2Balancer{}).Balance(kafkago.Message{Key: m.Key}, idx.parts...):
							st.mismatched++
							problem("%s/%d@%d: company-index record %s is not in murmur2's partition", m.Topic, m.Partition, m.Offset, key)
						case len(m.Value) == 0:
							st.index++
							st.tombstones++
							tombs[key]++
						default:
							st.index++
							maps[key] = true
						}
						continue
					}
					id, _ := topics.HeaderValue(kafka.Headers(m.Headers), topics.HeaderEventID)
					seq, ours := ids.seq(id)
					if !ours {
						st.foreign++
						continue
					}
					if seq >= n {
						st.unexpected++
						problem("%s/%d@%d: event %s was never sent", m.Topic, m.Partition, m.Offset, id)
						continue
					}
					if seen[seq] < 255 {
						seen[seq]++
					}
					v := &vs[seq%uint64(len(vs))]
					v.recordInto(&want, wantID, ids, seq)
					if why := differs(m, want, v); why != "" {
						st.mismatched++
						problem("%s/%d@%d: event %s (%s): %s", m.Topic, m.Partition, m.Offset, id, v.name, why)
					}
				}
				r.Close()
			}
			mu.Lock()
			res.Read += st.read
			res.Foreign += st.foreign
			res.Mismatched += st.mismatched
			res.Unexpected += st.unexpected
			res.ReadErrors += st.readErrors
			res.IndexRecords += st.index
			res.Tombstones += st.tombstones
			for k, n := range tombs {
				tombstones[k] += n
			}
			for k := range maps {
				mapped[k] = true
			}
			mu.Unlock()
		}()
	}
	for _, sp := range spans {
		work <- sp
	}
	close(work)
	wg.Wait()

	for seq := range n {
		c := seen[seq]
		switch out.get(seq) {
		case acked:
			res.Acked++
			switch {
			case c == 0:
				res.Missing++
				problem("event %s was acknowledged but is not in Kafka", ids.id(seq))
			case c > 1:
				res.Duplicates++
				problem("event %s is in Kafka %d times", ids.id(seq), c)
			default:
				res.Found++
			}
		case failed:
			switch {
			case c == 1:
				res.LandedAfterError++
			case c > 1:
				res.Duplicates++
				problem("event %s (answered with an error) is in Kafka %d times", ids.id(seq), c)
			}
		default:
			if c > 0 {
				res.Unexpected++
				problem("event %s is in Kafka but was never sent", ids.id(seq))
			}
		}
	}
	if idx != nil {
		checkIndex(idx, &res, n, vs, out, tombstones, mapped, problem)
	}
	res.OK = res.Missing == 0 && res.Duplicates == 0 && res.Unexpected == 0 && res.Mismatched == 0 &&
		res.ReadErrors == 0 && res.IndexMissing == 0
	res.Took = time.Since(start).Seconds()
	return res
}

// checkIndex checks that every acknowledged event left the index records
// it implies: a REMOVED event its tombstone (one each: the bridge writes one
// with every delivery), an event that named its company its entity's
// mapping (once: in this phase or an earlier one).
func checkIndex(idx *indexCheck, res *verifyResult, n uint64, vs []variant, out *outcomes, tombstones map[string]uint64, mapped map[string]bool, problem func(string, ...any)) {
	for k := range mapped {
		idx.mapped[k] = true
	}
	ackedBy := make([]uint64, len(vs)) // by variant
	for seq := range n {
		if out.get(seq) == acked {
			ackedBy[seq%uint64(len(vs))]++
		}
	}
	wantTombs := map[string]uint64{}
	for i := range vs {
		v := &vs[i]
		if v.index.Topic == "" || ackedBy[i] == 0 {
			continue
		}
		k := string(v.index.Key)
		if v.tombstone {
			wantTombs[k] += ackedBy[i]
		} else if !idx.mapped[k] && idx.strict {
			res.IndexMissing++
			problem("%s (%s) was acknowledged but its company-index mapping %s is not in %s", v.name, v.entity, k, idx.topic)
			idx.mapped[k] = true // once
		}
	}
	for k, want := range wantTombs {
		if got := tombstones[k]; got < want {
			res.IndexMissing += want - got
			problem("%d REMOVED events of %s were acknowledged but %s holds %d tombstones of it", want, k, idx.topic, got)
		}
	}
}

// differs says how m is not the record want (of variant v), "" when it is.
func differs(m kafkago.Message, want topics.Record, v *variant) string {
	switch {
	case m.Topic != want.Topic:
		return fmt.Sprintf("topic %s, want %s", m.Topic, want.Topic)
	case !bytes.Equal(m.Key, want.Key):
		return fmt.Sprintf("key %q, want %q", m.Key, want.Key)
	case len(v.parts) > 0 && m.Partition != (kafkago.Murmur2Balancer{}).Balance(kafkago.Message{Key: want.Key}, v.parts...):
		return fmt.Sprintf("partition %d, want murmur2's %d", m.Partition, (kafkago.Murmur2Balancer{}).Balance(kafkago.Message{Key: want.Key}, v.parts...))
	case len(m.Headers) != len(want.Headers):
		return fmt.Sprintf("%d headers, want %d", len(m.Headers), len(want.Headers))
	case !bytes.Equal(m.Value, want.Value):
		return fmt.Sprintf("value of %d bytes differs from the expected %d bytes", len(m.Value), len(want.Value))
	}
	for i, h := range want.Headers {
		if m.Headers[i].Key != h.Key || !bytes.Equal(m.Headers[i].Value, h.Value) {
			return fmt.Sprintf("header %d is %s=%q, want %s=%q", i, m.Headers[i].Key, m.Headers[i].Value, h.Key, h.Value)
		}
	}
	return ""
}
