package topics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Event is a record of a resource topic, decoded for consumers: its
// CloudEvents attributes, what it is about, its company, and the original
// webhook.
type Event struct {
	// CloudEvents attributes. ID is the notification's uuid (delivery is at
	// least once: dedupe on it); Subject is resource.uuid ("" when absent);
	// Time is the notification's timestamp (zero when absent); DataSchema
	// names the resource's JSON Schema (see DataSchema and Schema; "" in
	// records written before the bridge set it).
	SpecVersion, ID, Source, Type, Subject, DataContentType, DataSchema string
	Time                                                                time.Time

	// Resource is the topic name, e.g. "subscription", and Action what
	// happened to it.
	Resource string
	Action   Action

	// Key is the record key: CompanyID when known, else the resource's own
	// id. Decode leaves it empty (it reads headers and value); an adapter
	// that holds the whole record, such as the kafka package's Decode, sets
	// it.
	Key string
	// CompanyID is the company, "" when unknown; CompanyIDs every company
	// the payload names; CompanyIDSource where CompanyID came from
	// (SourcePayload, SourceURL, SourceIndex or SourceNone).
	CompanyID       string
	CompanyIDs      []string
	CompanyIDSource string

	// TraceParent and TraceState are the W3C Trace Context the event was
	// published in (see TraceContext): the CloudEvent's distributed-tracing
	// extension attributes, or, when the value has none, the traceparent
	// and tracestate headers. Both are "" when the delivery brought no
	// trace context and the bridge traced nothing. They are as written,
	// unchecked: a W3C propagator that continues the trace checks them.
	// Headers and attributes may differ: a traced Kafka client or proxy
	// may rewrite the headers in transit, while the attributes stay as the
	// bridge wrote them; Decode does not compare them.
	TraceParent, TraceState string

	// Data is the original webhook body, byte for byte, and Webhook its
	// parsed envelope (Webhook.Content is the resource's content, nil for
	// REMOVED events).
	Data    []byte
	Webhook Envelope
}

// ErrNotEvent is wrapped by Decode's errors for records that are not events
// of a resource topic, such as quarantined bodies.
var ErrNotEvent = errors.New("not a webhook-bridge event")

// cloudEvent is the structured-mode JSON of a record value.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	DataSchema      string          `json:"dataschema"`
	CompanyID       *string         `json:"companyid"`
	TraceParent     string          `json:"traceparent"`
	TraceState      string          `json:"tracestate"`
	Data            json.RawMessage `json:"data"`
}

// typePrefix starts the CloudEvents type of every event.
const typePrefix = "com.appdirect."

// Decode reads a record of a resource topic as the bridge wrote it: a
// CloudEvents 1.0 structured-mode JSON value whose data is the webhook, and
// the headers of the README's contract. It checks that the headers and the
// value agree. Records of other topics (the quarantine, the company index)
// give an error wrapping ErrNotEvent. It needs no Kafka client: any
// consumer passes the record's headers and value.
func Decode(headers []Header, value []byte) (Event, error) {
	var ev Event
	if code, ok := HeaderValue(headers, HeaderError); ok {
		return ev, fmt.Errorf("%w: a quarantined body (error %s)", ErrNotEvent, code)
	}
	var ce cloudEvent
	if err := json.Unmarshal(value, &ce); err != nil {
		return ev, fmt.Errorf("%w: value is not a CloudEvents JSON object: %v", ErrNotEvent, err)
	}
	switch {
	case ce.SpecVersion != "1.0":
		return ev, fmt.Errorf("%w: specversion is %q, want 1.0", ErrNotEvent, ce.SpecVersion)
	case ce.ID == "" || ce.Source == "" || ce.Type == "":
		return ev, fmt.Errorf("%w: id, source or type is missing", ErrNotEvent)
	case len(ce.Data) == 0 || string(ce.Data) == "null":
		return ev, fmt.Errorf("%w: no data", ErrNotEvent)
	}
	ev = Event{
		SpecVersion: ce.SpecVersion, ID: ce.ID, Source: ce.Source, Type: ce.Type, Subject: ce.Subject,
		DataContentType: ce.DataContentType, DataSchema: ce.DataSchema, Data: dataAsWritten(value, ce.Data),
	}
	if ce.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, ce.Time)
		if err != nil {
			return ev, fmt.Errorf("time %q is not RFC 3339: %w", ce.Time, err)
		}
		ev.Time = t
	}
	name, action, ok := strings.Cut(strings.TrimPrefix(ce.Type, typePrefix), ".")
	if !ok || !strings.HasPrefix(ce.Type, typePrefix) || name == "" || strings.Contains(action, ".") {
		return ev, fmt.Errorf("%w: type %q is not %s<resource>.<action>", ErrNotEvent, ce.Type, typePrefix)
	}
	ev.Resource, ev.Action = name, Action(action)
	// In a fixed order, so that the error names the same header every time.
	for _, hw := range [...][2]string{{HeaderResource, name}, {HeaderAction, action}, {HeaderEventID, ce.ID}} {
		if got, ok := HeaderValue(headers, hw[0]); ok && got != hw[1] {
			return ev, fmt.Errorf("header %s is %q but the CloudEvent says %q", hw[0], got, hw[1])
		}
	}
	ev.CompanyID, _ = HeaderValue(headers, HeaderCompanyID)
	if ce.CompanyID != nil {
		if ev.CompanyID != "" && ev.CompanyID != *ce.CompanyID {
			return ev, fmt.Errorf("header %s is %q but the CloudEvent's companyid is %q", HeaderCompanyID, ev.CompanyID, *ce.CompanyID)
		}
		ev.CompanyID = *ce.CompanyID
	}
	if ids, ok := HeaderValue(headers, HeaderCompanyIDs); ok && ids != "" {
		ev.CompanyIDs = strings.Split(ids, ",")
	} else if ev.CompanyID != "" {
		ev.CompanyIDs = []string{ev.CompanyID}
	}
	ev.CompanyIDSource, _ = HeaderValue(headers, HeaderCompanyIDSource)
	if ce.TraceParent != "" {
		ev.TraceParent, ev.TraceState = ce.TraceParent, ce.TraceState
	} else if tp, ok := HeaderValue(headers, HeaderTraceParent); ok && tp != "" {
		ev.TraceParent = tp
		ev.TraceState, _ = HeaderValue(headers, HeaderTraceState)
	}
	env, err := ParseEnvelope(ev.Data)
	if err != nil {
		return ev, fmt.Errorf("data is not a webhook: %w", err)
	}
	ev.Webhook = env
	return ev, nil
}

// dataAsWritten returns the webhook body as the bridge received it, the
// whitespace around it included, which json.RawMessage leaves out (a body
// that ends in a newline would otherwise not be the body byte for byte).
// The bridge writes "data": last, right after the colon and before the
// closing brace, so the body is everything between the two. A value written
// otherwise gives d itself. The result is a copy: value may be reused.
func dataAsWritten(value, d []byte) []byte {
	end := len(value)
	for end > 0 && isJSONSpace(value[end-1]) {
		end--
	}
	if end == 0 || value[end-1] != '}' {
		return bytes.Clone(d)
	}
	end-- // the brace
	stop := end
	for stop > 0 && isJSONSpace(value[stop-1]) {
		stop--
	}
	start := stop - len(d)
	if start < 0 || !bytes.Equal(value[start:stop], d) {
		return bytes.Clone(d)
	}
	for start > 0 && isJSONSpace(value[start-1]) {
		start--
	}
	if !bytes.HasSuffix(value[:start], []byte(`"data":`)) {
		return bytes.Clone(d)
	}
	return bytes.Clone(value[start:end])
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
