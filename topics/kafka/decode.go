package kafka

import (
	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// Decode is topics.Decode for a message read with kafka-go: it decodes the
// headers and value and sets Event.Key from the record key.
func Decode(m kafkago.Message) (topics.Event, error) {
	ev, err := topics.Decode(Headers(m.Headers), m.Value)
	ev.Key = string(m.Key)
	return ev, err
}

// Headers converts kafka-go record headers into the contract's headers.
func Headers(hs []kafkago.Header) []topics.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]topics.Header, len(hs))
	for i, h := range hs {
		out[i] = topics.Header{Key: h.Key, Value: h.Value}
	}
	return out
}
