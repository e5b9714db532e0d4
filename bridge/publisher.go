package bridge

import (
	"context"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// Publisher writes records durably. It is safe for concurrent use. Publish
// returns nil only after the broker acknowledged every record with acks=all;
// any error means the caller must not report success (a record may still
// have landed: delivery is at least once).
type Publisher interface {
	Publish(ctx context.Context, recs ...topics.Record) error
}
