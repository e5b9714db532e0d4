package topics

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// WriterConfig configures a Writer. Zero values take the documented defaults.
type WriterConfig struct {
	Kafka KafkaConfig
	// BatchTimeout is how long a partition's batch waits for more records
	// before it is sent (default 2 ms). kafka-go's own default of 1 s would
	// put a second on every synchronous request.
	BatchTimeout time.Duration
	// BatchSize is the most records in one batch (default 100).
	BatchSize int
	// MaxRecordBytes is the largest record, and the largest batch, the
	// writer sends (default 1 MiB + 64 KiB). Topics are created to accept it.
	MaxRecordBytes int64
	// WriteTimeout bounds one produce request to a broker (default 10 s);
	// callers bound a whole Publish with their context.
	WriteTimeout time.Duration
}

// DefaultMaxRecordBytes is WriterConfig.MaxRecordBytes's default.
const DefaultMaxRecordBytes = 1<<20 + 64<<10

func (c WriterConfig) maxRecordBytes() int64 {
	if c.MaxRecordBytes > 0 {
		return c.MaxRecordBytes
	}
	return DefaultMaxRecordBytes
}

// Writer publishes records to any topic through one shared kafka-go Writer,
// waiting for acks from all in-sync replicas. It is safe for concurrent use.
type Writer struct {
	w *kafka.Writer
}

// NewWriter builds a Writer. It does not connect until the first Publish.
func NewWriter(cfg WriterConfig, log zerolog.Logger) (*Writer, error) {
	t, err := cfg.Kafka.transport()
	if err != nil {
		return nil, err
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = 2 * time.Millisecond
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	l := log.With().Str("component", "kafka-writer").Logger()
	// Retry for about as long as a caller waits (WriteTimeout): a leader
	// moving or a topic just created answers "not leader" for a moment.
	const backoffMax = 250 * time.Millisecond
	attempts := 5 + int(cfg.WriteTimeout/backoffMax)
	return &Writer{w: &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Kafka.Brokers...),
		Balancer:               &kafka.Murmur2Balancer{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           cfg.BatchTimeout,
		BatchSize:              cfg.BatchSize,
		BatchBytes:             cfg.maxRecordBytes(),
		WriteTimeout:           cfg.WriteTimeout,
		ReadTimeout:            cfg.WriteTimeout,
		MaxAttempts:            attempts,
		WriteBackoffMin:        10 * time.Millisecond,
		WriteBackoffMax:        backoffMax,
		AllowAutoTopicCreation: false,
		Transport:              t,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			l.Warn().Msgf(msg, args...)
		}),
	}}, nil
}

// Publish writes recs and returns nil only once the broker acknowledged every
// one of them with acks=all. When ctx ends first it returns an error, and a
// record may still land later: Kafka can hold a record the caller was told
// failed, never the reverse.
func (w *Writer) Publish(ctx context.Context, recs ...Record) error {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		hs := make([]kafka.Header, len(r.Headers))
		for j, h := range r.Headers {
			hs[j] = kafka.Header{Key: h.Key, Value: h.Value}
		}
		msgs[i] = kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: hs}
	}
	if err := w.w.WriteMessages(ctx, msgs...); err != nil {
		if len(recs) == 1 {
			return fmt.Errorf("publish to %s: %w", recs[0].Topic, err)
		}
		return fmt.Errorf("publish %d records: %w", len(recs), err)
	}
	return nil
}

// WriterStats are the writer's counters since the previous Stats call.
type WriterStats struct {
	Writes, Messages, Bytes, Errors, Retries int64
	// Gauges, as of the call.
	QueueLength, QueueCapacity int64
}

// Stats returns the counters since the previous call (kafka-go resets them on
// every read, so exactly one caller should read and accumulate them).
func (w *Writer) Stats() WriterStats {
	s := w.w.Stats()
	return WriterStats{
		Writes: s.Writes, Messages: s.Messages, Bytes: s.Bytes, Errors: s.Errors, Retries: s.Retries,
		QueueLength: s.QueueLength, QueueCapacity: s.QueueCapacity,
	}
}

// Close flushes pending records and closes connections.
func (w *Writer) Close() error { return w.w.Close() }
