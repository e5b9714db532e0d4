package kafka

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestKafkaLogIsStructuredAndRateLimited: kafka-go's messages become
// warnings with fields, one per template per interval, each saying how many
// were left out; every message is counted.
func TestKafkaLogIsStructuredAndRateLimited(t *testing.T) {
	var buf bytes.Buffer
	var counted atomic.Int64
	l := newKafkaLog(zerolog.New(&buf), func() { counted.Add(1) })
	now := time.Unix(1_700_000_000, 0)
	l.now = func() time.Time { return now }
	const tmpl = "error initializing the kafka reader for partition %d of %s: %s"
	refused := errors.New("dial tcp 127.0.0.1:9092: connect: connection refused")
	p1 := l.with(zerolog.New(&buf).With().Int("partition", 1).Logger())
	for i := range 100 {
		p1.Printf(tmpl, i%3, "appdirect.company-index", refused)
		now = now.Add(100 * time.Millisecond) // 10 s in all, under the interval
	}
	l.Printf("the kafka reader got an unknown error reading partition %d of %s at offset %d: %s", 0, "x", 7, refused)
	now = now.Add(logEvery)
	p1.Printf(tmpl, 2, "appdirect.company-index", refused)

	var lines []map[string]any
	for line := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (the first of each template, then one after the interval):\n%s", len(lines), buf.String())
	}
	first, last := lines[0], lines[2]
	for k, want := range map[string]any{
		"level": "warn", "message": "kafka client error", "template": tmpl, "partition": float64(1),
		"detail":     "error initializing the kafka reader for partition 0 of appdirect.company-index: " + refused.Error(),
		"error":      refused.Error(),
		"suppressed": float64(0), "interval_ms": float64(logEvery.Milliseconds()),
	} {
		if first[k] != want {
			t.Errorf("first line %s = %v, want %v", k, first[k], want)
		}
	}
	if last["suppressed"] != float64(99) {
		t.Errorf("the line after the interval says suppressed %v, want 99", last["suppressed"])
	}
	if got := counted.Load(); got != 102 {
		t.Errorf("counted %d messages, want 102", got)
	}
}

func TestIndexStatsLag(t *testing.T) {
	x := newIndex()
	if st := x.Stats(); st.Lag != 0 || st.ReadErrors != 0 {
		t.Errorf("Stats() before Run = %+v, want no lag and no errors", st)
	}
	lags := make([]partitionLag, 3)
	for i, p := range []struct{ next, end int64 }{{0, 10}, {5, 5}, {7, 3}} {
		lags[i].next.Store(p.next)
		lags[i].end.Store(p.end)
	}
	x.partitions.Store(&lags)
	x.errLog.Printf("x %d", 1)
	if st := x.Stats(); st.Lag != 10 || st.ReadErrors != 1 {
		t.Errorf("Stats() = %+v, want lag 10 (a partition past its stale end counts 0) and 1 error", st)
	}
}
