// Package kafkatest is the one Kafka harness of the integration tests: the
// broker named by BRIDGE_TEST_KAFKA_BROKERS (CI: a real Apache Kafka), else
// an in-process kfake broker. Under CI=true a missing broker fails the test
// instead of falling back.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
)

// EnvBrokers names the broker that integration tests use.
const EnvBrokers = "BRIDGE_TEST_KAFKA_BROKERS"

// Real reports whether tests run against an external (real) broker.
func Real() bool { return os.Getenv(EnvBrokers) != "" }

// Kafka returns the connection settings of the test broker, starting an
// in-process broker for this test when none is configured.
func Kafka(t testing.TB) kafka.Config {
	t.Helper()
	if v := os.Getenv(EnvBrokers); v != "" {
		return kafka.Config{Brokers: strings.Split(v, ","), DialTimeout: 5 * time.Second}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set: under CI=true integration tests need a real Kafka broker (start one with deploy/local/kafka.sh start)", EnvBrokers)
	}
	b, err := kafka.StartDevBroker("127.0.0.1:0")
	if err != nil {
		t.Fatalf("start in-process broker: %v", err)
	}
	t.Cleanup(b.Close)
	return kafka.Config{Brokers: []string{b.Addr()}, DialTimeout: 5 * time.Second}
}

// Naming returns topic prefixes unique to this test, so tests sharing a
// broker never read each other's records: test-<random>. for the resource
// topics, test-<random>-internal. for the quarantine and the company index.
func Naming(t testing.TB) topics.Naming {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := "test-" + hex.EncodeToString(b)
	return topics.Naming{Prefix: id + ".", Internal: id + "-internal."}
}

// CreateTopics creates every bridge topic under n with the given partitions
// and fails the test on any error.
func CreateTopics(t testing.TB, kc kafka.Config, n topics.Naming, partitions int) {
	t.Helper()
	admin, err := kafka.NewAdmin(kc, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.Create(ctx, n.All(), kafka.TopicSpec{Partitions: partitions, ReplicationFactor: 1, Compacted: n.Compacted()}); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	// A new partition answers "not leader" until the broker has created its
	// log, which takes a while on a loaded machine: wait until every
	// partition answers a ListOffsets.
	for {
		err := admin.Check(ctx, n.All())
		if err == nil {
			err = answering(ctx, kc, n.All())
		}
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("topics not ready: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// answering returns nil once every partition of every topic answers its
// offsets from its leader.
func answering(ctx context.Context, kc kafka.Config, names []string) error {
	for _, topic := range names {
		if _, err := kafka.Offsets(ctx, kc, topic); err != nil {
			return err
		}
	}
	return nil
}

// ReadAll reads every record of topic, from the start of each partition to
// the end offsets seen when it is called, and returns them ordered by
// partition and offset. Records acknowledged before the call are all there.
func ReadAll(t testing.TB, kc kafka.Config, topic string, timeout time.Duration) []kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var spans []kafka.PartitionOffsets
	for {
		var err error
		if spans, err = kafka.Offsets(ctx, kc, topic); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("read %s: %v", topic, err)
		}
		time.Sleep(50 * time.Millisecond) // a partition not answering yet: poll
	}
	var out []kafkago.Message
	for _, sp := range spans {
		if sp.End == sp.First {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: kc.Brokers, Topic: topic, Partition: sp.Partition, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(sp.First); err != nil {
			t.Fatal(err)
		}
		for off := sp.First; off < sp.End; off++ {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s/%d at %d of %d: %v", topic, sp.Partition, off, sp.End, err)
			}
			out = append(out, m)
		}
		r.Close()
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out
}

// Header returns the value of the first header of m named key, "" when it
// has none.
func Header(m kafkago.Message, key string) string {
	v, _ := topics.HeaderValue(kafka.Headers(m.Headers), key)
	return v
}

// RunIndex runs a company index of n's index topic, without a catch-up
// bound, until the test ends.
func RunIndex(t testing.TB, kc kafka.Config, n topics.Naming) *kafka.Index {
	t.Helper()
	x, err := kafka.NewIndex(kafka.IndexConfig{Kafka: kc, Topic: n.Index()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = x.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return x
}

// Writer is the writer configuration tests use: production's values, spelled
// out here because inner layers have no defaults.
func Writer(kc kafka.Config) kafka.WriterConfig {
	return kafka.WriterConfig{Kafka: kc, BatchSize: 100, MaxRecordBytes: MaxRecordBytes,
		WriteTimeout: 10 * time.Second, MetadataTimeout: 2 * time.Second, StallCheck: 500 * time.Millisecond}
}

// MaxRecordBytes is the record limit of the topics tests create.
const MaxRecordBytes = 1<<20 + 64<<10
