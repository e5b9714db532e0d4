package kafka

import (
	"context"
	"errors"
	"fmt"

	kafkago "github.com/segmentio/kafka-go"
)

// PartitionOffsets is one partition's first offset and end offset (the
// offset the next record will get).
type PartitionOffsets struct {
	Partition  int
	First, End int64
}

// Offsets returns the first and end offset of every partition of topic, as
// of now, asking each partition's leader. It fails unless every partition
// answers, e.g. while a new topic's partitions have no leader yet.
func Offsets(ctx context.Context, kc Config, topic string) ([]PartitionOffsets, error) {
	c, err := kc.client(topic)
	if err != nil {
		return nil, err
	}
	defer closeClient(c) // callers retry: each attempt has its own connections
	return topicOffsets(ctx, c, topic)
}

// topicOffsets is Offsets with a client the caller holds.
func topicOffsets(ctx context.Context, c *kafkago.Client, topic string) ([]PartitionOffsets, error) {
	md, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("read metadata of %s: %w", topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) == 0 {
		var cause error = errors.New("no partitions")
		if len(md.Topics) == 1 && md.Topics[0].Error != nil {
			cause = md.Topics[0].Error
		}
		return nil, fmt.Errorf("topic %s: %w", topic, cause)
	}
	parts := make([]int, len(md.Topics[0].Partitions))
	for i, p := range md.Topics[0].Partitions {
		parts[i] = p.ID
	}
	first, err := listOffsets(ctx, c, topic, parts, kafkago.FirstOffset)
	if err != nil {
		return nil, err
	}
	end, err := listOffsets(ctx, c, topic, parts, kafkago.LastOffset)
	if err != nil {
		return nil, err
	}
	var out []PartitionOffsets
	for _, p := range parts {
		f, ok1 := first[p]
		e, ok2 := end[p]
		if ok1 && ok2 {
			out = append(out, PartitionOffsets{Partition: p, First: f, End: e})
		}
	}
	if len(out) != len(md.Topics[0].Partitions) {
		return nil, fmt.Errorf("offsets of %s: %d of %d partitions answered", topic, len(out), len(md.Topics[0].Partitions))
	}
	return out, nil
}

// listOffsets asks for one kind of offset of every partition: the first
// (kafkago.FirstOffset), the end (kafkago.LastOffset), or the first at or after a
// time (milliseconds; -1 when there is none). One kind per request, because
// kafka-go sorts answers by the timestamp the broker echoes, and Kafka echoes
// -1 for both the first and the end offset.
func listOffsets(ctx context.Context, c *kafkago.Client, topic string, parts []int, ts int64) (map[int]int64, error) {
	req := make([]kafkago.OffsetRequest, len(parts))
	for i, p := range parts {
		req[i] = kafkago.OffsetRequest{Partition: p, Timestamp: ts}
	}
	resp, err := c.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: req}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := make(map[int]int64, len(parts))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		switch ts {
		case kafkago.FirstOffset, kafkago.LastOffset:
			// The field the request did not name keeps its initial value
			// (0 or -1), below the answer, which is in one of the two.
			out[po.Partition] = max(po.FirstOffset, po.LastOffset)
		default:
			out[po.Partition] = -1
			for off := range po.Offsets {
				out[po.Partition] = off
			}
		}
	}
	return out, nil
}
