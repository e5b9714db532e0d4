package topics

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"unicode/utf8"
)

// Record header names: the contract consumers filter on without decoding
// values.
const (
	HeaderResource        = "resource"          // topic name, e.g. "subscription"
	HeaderAction          = "action"            // "added", "changed" or "removed"
	HeaderEventID         = "event-id"          // the notification's uuid
	HeaderCompanyID       = "company-id"        // the company, when known
	HeaderCompanyIDs      = "company-ids"       // every company the payload names, comma-separated
	HeaderCompanyIDSource = "company-id-source" // payload, url, index or none
	HeaderContentType     = "content-type"      // application/cloudevents+json
	HeaderEventTime       = "event-time"        // the marketplace's timestamp, epoch milliseconds
	HeaderError           = "error"             // quarantine: a short error code
	HeaderErrorDetail     = "error-detail"      // quarantine: a sentence for humans
	HeaderTraceParent     = "traceparent"       // W3C Trace Context, when the event has one (TraceContext)
	HeaderTraceState      = "tracestate"        // W3C Trace Context vendors' list, with traceparent
)

// CloudEventsContentType is the content-type header of resource records.
const CloudEventsContentType = "application/cloudevents+json"

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one Kafka record to publish.
type Record struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []Header
}

// HeaderValue returns the value of the first header named key, so that
// consumers can filter on headers without decoding values.
func HeaderValue(headers []Header, key string) (string, bool) {
	for _, h := range headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// EventRecord builds the record of a routed event; value is its encoded
// CloudEvent.
func EventRecord(n Naming, r *Resource, a Action, env *Envelope, k Key, value []byte) Record {
	return eventRecord(n, r, a, env, k, TraceContext{}, value)
}

// eventRecord is EventRecord with the trace context tc (Checked; the zero
// value for none) in the traceparent and tracestate headers.
func eventRecord(n Naming, r *Resource, a Action, env *Envelope, k Key, tc TraceContext, value []byte) Record {
	size := 8
	if tc.TraceParent != "" {
		size += 2
	}
	hs := make([]Header, 0, size)
	// Every header value and the key are slices of one buffer: two
	// allocations for the lot instead of one per value. Kafka owns the
	// buffer once the record is published, and nothing writes to it after.
	n0 := len(r.Name) + len(a) + len(env.ID) + len(k.CompanyID) + len(k.Source) +
		len(CloudEventsContentType) + len(k.Value) + maxInt64Digits
	for i, id := range k.CompanyIDs {
		n0 += len(id)
		if i > 0 {
			n0++
		}
	}
	buf := make([]byte, 0, n0)
	value0 := func(f func([]byte) []byte) []byte {
		at := len(buf)
		buf = f(buf)
		return buf[at:len(buf):len(buf)]
	}
	str := func(v string) []byte {
		return value0(func(b []byte) []byte { return append(b, v...) })
	}
	hs = append(hs,
		Header{HeaderResource, str(r.Name)},
		Header{HeaderAction, str(string(a))},
		Header{HeaderEventID, str(env.ID)},
	)
	if k.CompanyID != "" {
		hs = append(hs, Header{HeaderCompanyID, str(k.CompanyID)})
	}
	if len(k.CompanyIDs) > 0 {
		hs = append(hs, Header{HeaderCompanyIDs, value0(func(b []byte) []byte {
			for i, id := range k.CompanyIDs {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, id...)
			}
			return b
		})})
	}
	hs = append(hs,
		Header{HeaderCompanyIDSource, str(k.Source)},
		Header{HeaderContentType, str(CloudEventsContentType)},
	)
	if !env.Timestamp.IsZero() {
		// Consumers order by event time without decoding the value.
		hs = append(hs, Header{HeaderEventTime, value0(func(b []byte) []byte {
			return strconv.AppendInt(b, env.Timestamp.UnixMilli(), 10)
		})})
	}
	hs = tc.AppendHeaders(hs)
	return Record{Topic: n.Topic(r.Name), Key: str(k.Value), Value: value, Headers: hs}
}

// maxInt64Digits is the longest decimal int64, sign included.
const maxInt64Digits = 20

// QuarantineRecord builds the record that keeps an unroutable body: the raw
// bytes unchanged, why in the headers (the detail cut to
// MaxQuarantineDetail bytes, so the record always fits), the request's
// Content-Type in content-type when it had one. It is keyed by the event id
// when one was read (ValidEventID), else by "sha256:" and the body's hash,
// so that a redelivered bad body lands in the same partition.
func QuarantineRecord(n Naming, body []byte, code, detail, eventID, contentType string) Record {
	if len(detail) > MaxQuarantineDetail {
		cut := MaxQuarantineDetail
		for cut > 0 && !utf8.RuneStart(detail[cut]) {
			cut--
		}
		detail = detail[:cut] + "…"
	}
	hs := []Header{
		{HeaderError, []byte(code)},
		{HeaderErrorDetail, []byte(detail)},
	}
	var key []byte
	if ValidEventID(eventID) {
		hs = append(hs, Header{HeaderEventID, []byte(eventID)})
		key = []byte(eventID)
	} else {
		sum := sha256.Sum256(body)
		key = []byte("sha256:" + hex.EncodeToString(sum[:]))
	}
	if contentType != "" && len(contentType) <= MaxQuotedInput {
		hs = append(hs, Header{HeaderContentType, []byte(contentType)})
	}
	return Record{Topic: n.Quarantine(), Key: key, Value: body, Headers: hs}
}

// MaxQuarantineDetail bounds the error-detail header of a quarantine record.
const MaxQuarantineDetail = 1024
