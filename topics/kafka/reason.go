package kafka

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	kafkago "github.com/segmentio/kafka-go"
)

// PublishError is every error of Writer.Publish. Its Reason method names
// the cause in a few words that a 503 and its log line can carry
// ("connection refused", "not enough in-sync replicas", "timed out (last
// attempt: leader not available)").
type PublishError struct {
	Err error
}

func (e *PublishError) Error() string { return e.Err.Error() }
func (e *PublishError) Unwrap() error { return e.Err }

// Reason names the cause of the failure in a few words.
func (e *PublishError) Reason() string { return Reason(e.Err) }

// errRecordTooLarge is a record over WriterConfig.MaxRecordBytes.
var errRecordTooLarge = errors.New("record too large")

// errWriterClosed is a Publish after Close.
var errWriterClosed = errors.New("the Kafka writer is closed")

// Reason names the cause of a Kafka error in a few words. A deadline that
// passed while the writer retried names the last attempt's cause as well:
// "timed out" alone would hide a broker that refused every connection.
func Reason(err error) string {
	cause := causeOf(err)
	if errors.Is(err, context.DeadlineExceeded) {
		if cause == "" || cause == "timed out" {
			return "timed out"
		}
		return "timed out (last attempt: " + cause + ")"
	}
	if cause == "" {
		return "error"
	}
	return cause
}

// causeOf names the most specific cause it recognizes in err, "" for none.
// Kafka's own error codes come first: they say more than the connection.
func causeOf(err error) string {
	var ke kafkago.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafkago.NotEnoughReplicas, kafkago.NotEnoughReplicasAfterAppend:
			return "not enough in-sync replicas"
		case kafkago.LeaderNotAvailable:
			return "leader not available"
		case kafkago.NotLeaderForPartition:
			return "not the partition's leader (the leader moved)"
		case kafkago.UnknownTopicOrPartition:
			return "topic or partition does not exist"
		case kafkago.RequestTimedOut:
			return "the broker timed out waiting for the replicas"
		case kafkago.MessageSizeTooLarge, kafkago.RecordListTooLarge:
			return "record too large"
		case kafkago.TopicAuthorizationFailed, kafkago.ClusterAuthorizationFailed:
			return "not authorized"
		case kafkago.SASLAuthenticationFailed:
			return "SASL authentication failed"
		case kafkago.KafkaStorageError:
			return "broker storage error"
		}
		return "kafka error: " + ke.Title()
	}
	var dns *net.DNSError
	switch {
	case errors.Is(err, errRecordTooLarge):
		return "record too large"
	case errors.Is(err, errWriterClosed):
		return "shutting down"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "broker unreachable"
	case errors.As(err, &dns):
		return "broker name not resolvable"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	return ""
}
