package topics

import (
	"errors"
	"fmt"
)

// Routed is a webhook routed through the catalog: the record to publish and
// what it was made of.
type Routed struct {
	Envelope Envelope
	Resource *Resource
	Action   Action
	Key      Key
	Record   Record
	// IndexUpdate is the company-index record the event implies (a mapping
	// the payload taught, or a tombstone after REMOVED; see IndexUpdate).
	// Its Topic is "" when there is none, and always with a nil index.
	IndexUpdate Record
}

// Records returns what one delivery publishes, in a single publish: the
// event, then its index update if any. Both are acknowledged (acks=all)
// before the delivery is.
func (ev *Routed) Records() []Record {
	if ev.IndexUpdate.Topic == "" {
		return []Record{ev.Record}
	}
	return []Record{ev.Record, ev.IndexUpdate}
}

// Kind sorts the reasons a webhook cannot become an event record.
type Kind int

// The kinds of Normalize's errors.
const (
	// KindInvalid: the body is not JSON or not a webhook envelope.
	KindInvalid Kind = iota + 1
	// KindUnroutable: a valid envelope the catalog cannot route (unknown
	// resource type, unsupported action).
	KindUnroutable
)

// Error is why a webhook could not be routed. Code is the quarantine's
// error code (the Code* constants); Detail a sentence for humans that never
// holds a secret.
type Error struct {
	Kind   Kind
	Code   string
	Detail string
}

func (e *Error) Error() string { return e.Code + ": " + e.Detail }

// Normalize validates a webhook body and builds its record exactly as a live
// delivery does: parse the envelope, route it through the catalog, choose the
// key (index may be nil), encode the CloudEvent and, with an index, the
// index update to publish with it. A body that cannot be routed gives an
// *Error of KindInvalid or KindUnroutable whose Code is the quarantine's error
// code; Routed.Envelope.ID is set whenever it was read.
func Normalize(body []byte, n Naming, index CompanyIndex) (Routed, error) {
	var ev Routed
	env, err := ParseEnvelope(body)
	ev.Envelope = env
	if err != nil {
		// Any parse error stops here: routing an envelope that was not read
		// would misfile it.
		code, detail := CodeInvalidEnvelope, err.Error()
		var perr *EnvelopeError
		if errors.As(err, &perr) {
			code, detail = perr.Code, perr.Detail
		}
		return ev, &Error{Kind: KindInvalid, Code: code, Detail: detail}
	}
	res, ok := Lookup(env.Type)
	if !ok {
		return ev, &Error{Kind: KindUnroutable, Code: CodeUnknownResource,
			Detail: fmt.Sprintf("resource.type %q is not a known resource (types are matched exactly, upper case)", env.Type)}
	}
	ev.Resource = res
	act, ok := ParseAction(env.Action)
	if !ok {
		return ev, &Error{Kind: KindUnroutable, Code: CodeUnsupportedAction,
			Detail: fmt.Sprintf("resourceAction %q is not one of ADDED, CHANGED, REMOVED (or DELETED)", env.Action)}
	}
	ev.Action = act
	if !res.Supports(act) {
		return ev, &Error{Kind: KindUnroutable, Code: CodeUnsupportedAction,
			Detail: fmt.Sprintf("resource %s does not support action %s", env.Type, env.Action)}
	}
	ev.Key = ChooseKey(res, &ev.Envelope, index)
	ev.Record = EventRecord(n, res, act, &ev.Envelope, ev.Key, appendCloudEvent(nil, res, act, &ev.Envelope, ev.Key))
	if up, ok := IndexUpdate(n, res, act, &ev.Envelope, ev.Key, index); ok {
		ev.IndexUpdate = up
	}
	return ev, nil
}
