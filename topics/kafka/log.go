package kafka

import (
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
)

// logEvery is how often a kafka-go message template is logged at most:
// during an outage kafka-go reports the same failure for every partition
// several times a second.
const logEvery = 30 * time.Second

// kafkaLog turns kafka-go's printf-style messages into structured warnings,
// rate-limited per message template: the first of a template is written at
// once, later ones at most once per every, each carrying how many of its
// template were left out since the previous one ("suppressed"). Every
// message, written or not, is counted by count (may be nil). Safe for
// concurrent use; one kafkaLog serves every reader of a component, so that
// their messages share the limit.
type kafkaLog struct {
	log   zerolog.Logger
	every time.Duration
	count func()
	now   func() time.Time // tests move it

	mu    sync.Mutex
	state map[string]*templateState
}

type templateState struct {
	written    time.Time
	suppressed int
}

func newKafkaLog(log zerolog.Logger, count func()) *kafkaLog {
	return &kafkaLog{log: log, every: logEvery, count: count, now: time.Now, state: map[string]*templateState{}}
}

// Printf implements kafka-go's Logger, writing to the kafkaLog's logger.
func (l *kafkaLog) Printf(format string, args ...any) { l.printf(l.log, format, args...) }

// with is a kafka-go Logger that writes to log (a child of the kafkaLog's,
// with fields such as the partition) under the kafkaLog's limit.
func (l *kafkaLog) with(log zerolog.Logger) kafkago.Logger {
	return kafkago.LoggerFunc(func(format string, args ...any) { l.printf(log, format, args...) })
}

func (l *kafkaLog) printf(log zerolog.Logger, format string, args ...any) {
	if l.count != nil {
		l.count()
	}
	now := l.now()
	l.mu.Lock()
	st := l.state[format]
	if st == nil {
		st = &templateState{}
		l.state[format] = st
	}
	if !st.written.IsZero() && now.Sub(st.written) < l.every {
		st.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.written, st.suppressed = now, 0
	l.mu.Unlock()

	ev := log.Warn().Str("template", format).Str("detail", fmt.Sprintf(format, args...))
	for _, a := range args {
		if err, ok := a.(error); ok {
			ev = ev.AnErr("error", err)
			break
		}
	}
	ev.Int("suppressed", suppressed).Int64("interval_ms", l.every.Milliseconds()).Msg("kafka client error")
}
