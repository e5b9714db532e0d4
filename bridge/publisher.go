package bridge

import (
	"context"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// Publisher writes records durably. It is safe for concurrent use. Publish
// returns nil only after the broker acknowledged every record with acks=all;
// any error means the caller must not report success (a record may still
// have landed: delivery is at least once). An error that has a method
// Reason() string names its cause in a few words ("connection refused",
// "not enough in-sync replicas"); the 503's message and log line carry it.
// Publish may keep the records' bytes for as long as it needs them (the
// bridge never reuses them), but not the recs slice itself past its return:
// the bridge reuses that for its next request.
type Publisher interface {
	Publish(ctx context.Context, recs ...topics.Record) error
}

// Index is the company index as the HTTP side uses it: it finds the company
// of events whose payload names none, and learns the index records this
// process had acknowledged before its own reader reads them back, so that
// the next REMOVED of the entity finds its company at once. Safe for
// concurrent use.
type Index interface {
	topics.CompanyIndex
	Learn(rec topics.Record)
}
