package topics

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
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
	return NormalizeTraced(body, n, index, TraceContext{})
}

// NormalizeTraced is Normalize for a delivery that came with a trace
// context: the event record carries tc (what of it is valid, see
// TraceContext.Checked) in its traceparent and tracestate headers and
// CloudEvent attributes. The index update carries none: it is the bridge's
// compacted state, not an event. The zero TraceContext gives exactly
// Normalize's record.
func NormalizeTraced(body []byte, n Naming, index CompanyIndex, tc TraceContext) (Routed, error) {
	var ev Routed
	st := scanStates.Get().(*scanState)
	defer st.release()
	env, err := parseEnvelope(body, st)
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
			Detail: fmt.Sprintf("resource.type %s is not a known resource (types are matched exactly, upper case)", Quote(env.Type))}
	}
	if err := checkLimits(&env); err != nil {
		return ev, err
	}
	ev.Resource = res
	act, ok := ParseAction(env.Action)
	if !ok {
		return ev, &Error{Kind: KindUnroutable, Code: CodeUnsupportedAction,
			Detail: fmt.Sprintf("resourceAction %s is not one of ADDED, CHANGED, REMOVED (or DELETED)", Quote(env.Action))}
	}
	ev.Action = act
	if !res.Supports(act) {
		return ev, &Error{Kind: KindUnroutable, Code: CodeUnsupportedAction,
			Detail: fmt.Sprintf("resource %s does not support action %s", Quote(env.Type), Quote(env.Action))}
	}
	ev.Key = chooseKey(res, &ev.Envelope, index, st.content)
	tc = tc.Checked()
	ev.Record = eventRecord(n, res, act, &ev.Envelope, ev.Key, tc, appendCloudEvent(nil, res, act, &ev.Envelope, ev.Key, tc))
	if up, ok := IndexUpdate(n, res, act, &ev.Envelope, ev.Key, index); ok {
		ev.IndexUpdate = up
	}
	return ev, nil
}

// Envelope field limits: a value over its limit cannot make a sound key,
// header or record, so the delivery is refused (and quarantined).
const (
	// MaxEventIDLength bounds the notification's uuid, which becomes the
	// event-id header and the CloudEvent id.
	MaxEventIDLength = 256
	// MaxResourceUUIDLength bounds resource.uuid (the CloudEvent subject).
	MaxResourceUUIDLength = 256
	// MaxURLLength bounds resource.url (the CloudEvent source comes from it).
	MaxURLLength = 4096
	// MaxQuotedInput is the most bytes of any input an error detail quotes.
	MaxQuotedInput = 256
)

// ValidEventID is the rule for the notification's uuid: 1 to
// MaxEventIDLength printable ASCII characters without comma, since it
// becomes a record key, a header and a log field. CR/LF in it would split a
// line of kcat's output, a comma a header list.
func ValidEventID(s string) bool {
	if s == "" || len(s) > MaxEventIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == ',' {
			return false
		}
	}
	return true
}

// checkLimits refuses an envelope whose uuid breaks ValidEventID
// (KindInvalid) or whose resource.uuid or url is over its limit
// (KindUnroutable).
func checkLimits(env *Envelope) error {
	switch {
	case !ValidEventID(env.ID):
		return &Error{Kind: KindInvalid, Code: CodeInvalidEnvelope, Detail: fmt.Sprintf(
			"uuid %s must be 1 to %d printable ASCII characters without commas", Quote(env.ID), MaxEventIDLength)}
	case len(env.ResourceUUID) > MaxResourceUUIDLength:
		return &Error{Kind: KindUnroutable, Code: CodeFieldTooLong, Detail: fmt.Sprintf(
			"resource.uuid is %d bytes, over the limit of %d", len(env.ResourceUUID), MaxResourceUUIDLength)}
	case len(env.URL) > MaxURLLength:
		return &Error{Kind: KindUnroutable, Code: CodeFieldTooLong, Detail: fmt.Sprintf(
			"resource.url is %d bytes, over the limit of %d", len(env.URL), MaxURLLength)}
	}
	return nil
}

// Quote quotes at most MaxQuotedInput bytes of an input for an error detail
// or a log field, saying how long the whole was when it cut.
func Quote(s string) string {
	if len(s) <= MaxQuotedInput {
		return strconv.Quote(s)
	}
	cut := MaxQuotedInput
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + fmt.Sprintf("… (%d bytes)", len(s))
}
