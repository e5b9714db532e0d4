package bridge

import (
	"errors"
	"fmt"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// Event is a routed webhook: the record to publish and what it was made of.
type Event struct {
	Envelope topics.Envelope
	Resource *topics.Resource
	Action   topics.Action
	Key      topics.Key
	Record   topics.Record
	// IndexUpdate is the company-index record the event implies (a mapping
	// the payload taught, or a tombstone after REMOVED; see
	// topics.IndexUpdate). Its Topic is "" when there is none, and always
	// with a nil index.
	IndexUpdate topics.Record
}

// Records returns what one delivery of ev publishes, in a single Publish
// call: the event, then its index update if any. Both are acknowledged
// (acks=all) before the delivery is.
func (ev *Event) Records() []topics.Record {
	if ev.IndexUpdate.Topic == "" {
		return []topics.Record{ev.Record}
	}
	return []topics.Record{ev.Record, ev.IndexUpdate}
}

// IndexLearner is a CompanyIndex that can apply an index record this process
// had acknowledged, before its consumer reads it back (*topics.Index can):
// this instance's next REMOVED of the entity finds the company at once.
type IndexLearner interface {
	Learn(rec topics.Record)
}

// Acknowledged tells index, when it is an IndexLearner, of ev's index update
// once Publish succeeded for ev.Records().
func (ev *Event) Acknowledged(index topics.CompanyIndex) {
	if l, ok := index.(IndexLearner); ok && ev.IndexUpdate.Topic != "" {
		l.Learn(ev.IndexUpdate)
	}
}

// Normalize validates a webhook body and builds its record exactly as a live
// delivery does: parse the envelope, route it through the catalog, choose the
// key (index may be nil), encode the CloudEvent and, with an index, the
// index update to publish with it. A body that cannot be routed gives an
// *Error of KindInvalid or KindUnroutable whose Code is the quarantine's error
// code; Event.Envelope.ID is set whenever it was read.
func Normalize(body []byte, n topics.Naming, index topics.CompanyIndex) (Event, error) {
	var ev Event
	env, err := topics.ParseEnvelope(body)
	ev.Envelope = env
	if err != nil {
		// Any parse error stops here: routing an envelope that was not read
		// would misfile it.
		code, detail := topics.CodeInvalidEnvelope, err.Error()
		var perr *topics.EnvelopeError
		if errors.As(err, &perr) {
			code, detail = perr.Code, perr.Detail
		}
		return ev, &Error{Kind: KindInvalid, Code: code, Message: detail}
	}
	res, ok := topics.Lookup(env.Type)
	if !ok {
		return ev, &Error{Kind: KindUnroutable, Code: topics.CodeUnknownResource,
			Message: fmt.Sprintf("resource.type %q is not a known resource (types are matched exactly, upper case)", env.Type)}
	}
	ev.Resource = res
	act, ok := topics.ParseAction(env.Action)
	if !ok {
		return ev, &Error{Kind: KindUnroutable, Code: topics.CodeUnsupportedAction,
			Message: fmt.Sprintf("resourceAction %q is not one of ADDED, CHANGED, REMOVED (or DELETED)", env.Action)}
	}
	ev.Action = act
	if !res.Supports(act) {
		return ev, &Error{Kind: KindUnroutable, Code: topics.CodeUnsupportedAction,
			Message: fmt.Sprintf("resource %s does not support action %s", env.Type, env.Action)}
	}
	ev.Key = topics.ChooseKey(res, &ev.Envelope, index)
	ev.Record = topics.EventRecord(n, res, act, &ev.Envelope, ev.Key, appendCloudEvent(nil, res, act, &ev.Envelope, ev.Key))
	if up, ok := topics.IndexUpdate(n, res, act, &ev.Envelope, ev.Key, index); ok {
		ev.IndexUpdate = up
	}
	return ev, nil
}
