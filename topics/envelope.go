package topics

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Envelope is a parsed AppDirect webhook notification. The raw body stays the
// source of truth: Content and Raw point into it and are never re-encoded.
type Envelope struct {
	// ID is the notification's uuid.
	ID string
	// Timestamp is when the event happened; zero when the body has none.
	Timestamp time.Time
	// Type is resource.type exactly as sent.
	Type string
	// ResourceUUID is resource.uuid ("" when absent).
	ResourceUUID string
	// URL is resource.url ("" when absent).
	URL string
	// Content is the raw resource.content value; nil when absent or null.
	// It is usually an object; anything else is kept but names no company.
	Content []byte
	// Action is resourceAction exactly as sent.
	Action string
	// Raw is the whole body.
	Raw []byte
}

// Error codes of ParseEnvelope, used as the "error" header of quarantined
// records and in HTTP error bodies.
const (
	CodeInvalidJSON       = "invalid_json"
	CodeInvalidEnvelope   = "invalid_envelope"
	CodeUnknownResource   = "unknown_resource"
	CodeUnsupportedAction = "unsupported_action"
	CodeFieldTooLong      = "field_too_long"   // resource.uuid or url over its limit
	CodeRecordTooLarge    = "record_too_large" // the normalized record would exceed Kafka's limit
	maxIDLength           = MaxEventIDLength
)

// MaxTimestampMillis is the largest timestamp accepted:
// 9999-12-31T23:59:59.999Z, the last instant RFC 3339 (and so the
// CloudEvent's time attribute) can write.
const MaxTimestampMillis = 253402300799999

// EnvelopeError says why a body is not a usable webhook notification.
type EnvelopeError struct {
	// Code is CodeInvalidJSON or CodeInvalidEnvelope.
	Code string
	// Detail is a sentence for humans.
	Detail string
}

func (e *EnvelopeError) Error() string { return e.Code + ": " + e.Detail }

func envelopeErr(format string, args ...any) *EnvelopeError {
	return &EnvelopeError{Code: CodeInvalidEnvelope, Detail: fmt.Sprintf(format, args...)}
}

// ParseEnvelope checks that body is a single, well-formed JSON object of the
// marketplace's envelope shape and returns its fields. Unknown keys are
// allowed. On error the returned Envelope still carries whatever was read
// (ID in particular), so the caller can label what it quarantines.
func ParseEnvelope(body []byte) (Envelope, error) {
	st := scanStates.Get().(*scanState)
	defer st.release()
	return parseEnvelope(body, st)
}

// parseEnvelope is ParseEnvelope in the caller's scan state, which then
// holds the member spans of the body (see scanState.scan) until the caller
// releases it.
func parseEnvelope(body []byte, st *scanState) (Envelope, error) {
	env := Envelope{Raw: body}
	err := st.scan(body, true)
	if err != nil {
		return env, &EnvelopeError{Code: CodeInvalidJSON, Detail: "body is not valid JSON: " + err.Error()}
	}
	if b := body[skipWS(body, 0)]; b != '{' {
		return env, envelopeErr("body is a JSON %s, not an object", kindOf(b))
	}
	var (
		resource, ts []byte
		seenID       bool
		seenAction   bool
	)
	// Every member is visited even after a bad one, so that the ID is known
	// whatever order the keys come in; the first error is the one reported.
	keep := func(s string, e error) string {
		if err == nil {
			err = e
		}
		return s
	}
	for _, m := range st.top {
		k, v := body[m.key:m.keyEnd], body[m.val:m.end]
		switch memberName(k) {
		case "uuid":
			seenID = true
			env.ID = keep(stringField("uuid", v))
		case "timestamp":
			ts = v
		case "resource":
			resource = v
		case "resourceAction":
			seenAction = true
			env.Action = keep(internedField("resourceAction", v))
		default:
			keep("", caseVariant(memberName(k), "", topKeys))
		}
	}
	if err != nil {
		return env, err
	}
	if resource == nil || string(resource) == "null" {
		return env, envelopeErr("resource is missing")
	}
	if resource[0] != '{' {
		return env, envelopeErr("resource is a JSON %s, not an object", kindOf(resource[0]))
	}
	var seenType bool
	for _, m := range st.res {
		k, v := body[m.key:m.keyEnd], body[m.val:m.end]
		switch memberName(k) {
		case "type":
			seenType = true
			env.Type = keep(internedField("resource.type", v))
		case "uuid":
			env.ResourceUUID = keep(optionalString("resource.uuid", v))
		case "url":
			env.URL = keep(optionalString("resource.url", v))
		case "content":
			if string(v) != "null" {
				env.Content = v
			}
		default:
			keep("", caseVariant(memberName(k), "resource.", resourceKeys))
		}
	}
	switch {
	case err != nil:
		return env, err
	case !seenID || env.ID == "":
		return env, envelopeErr("uuid is missing or empty")
	case !seenType || env.Type == "":
		return env, envelopeErr("resource.type is missing or empty")
	case !seenAction || env.Action == "":
		return env, envelopeErr("resourceAction is missing or empty")
	case len(env.ID) > maxIDLength:
		return env, envelopeErr("uuid is longer than %d bytes", maxIDLength)
	}
	if ts != nil && string(ts) != "null" {
		if env.Timestamp, err = parseMillis(ts); err != nil {
			return env, err
		}
	}
	return env, nil
}

var (
	topKeys      = []string{"uuid", "timestamp", "resource", "resourceAction"}
	resourceKeys = []string{"type", "uuid", "url", "content"}
)

// caseVariant refuses a key that differs from an envelope key only in case
// ("UUID" beside "uuid"): encoding/json, which most consumers decode with,
// matches keys case-insensitively and would read the other value.
func caseVariant(key, prefix string, known []string) error {
	for _, k := range known {
		if strings.EqualFold(key, k) {
			return envelopeErr("key %q differs from %q only in case", prefix+key, prefix+k)
		}
	}
	return nil
}

// memberName decodes a raw object key, so that an escaped spelling such as
// "\u0075uid" is the member "uuid", as it is for every other JSON parser.
// validJSON has already refused documents where two spellings of one name
// appear in the same object.
func memberName(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		// The envelope's own names come back as constants: string(raw)
		// would allocate for every member of every body.
		switch string(raw) {
		case "uuid":
			return "uuid"
		case "timestamp":
			return "timestamp"
		case "resource":
			return "resource"
		case "resourceAction":
			return "resourceAction"
		case "type":
			return "type"
		case "url":
			return "url"
		case "content":
			return "content"
		}
		return string(raw)
	}
	s, _ := decodeString(append(append([]byte{'"'}, raw...), '"'))
	return s
}

func kindOf(first byte) string {
	switch first {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// stringField decodes a required string member.
func stringField(name string, v []byte) (string, error) {
	if len(v) == 0 || v[0] != '"' {
		return "", envelopeErr("%s must be a string, got a JSON %s", name, kindOf(v[0]))
	}
	s, ok := decodeString(v)
	if !ok {
		return "", envelopeErr("%s is not a valid string", name)
	}
	return s, nil
}

// internedField is stringField for resource.type and resourceAction, whose
// values come from a small set: the catalog's types and aliases and the
// actions come back as constants instead of a copy per body. A fixed map,
// not unique.Make: the set is closed, so values from the wire never join
// it, and a hit costs one lookup that does not allocate.
func internedField(name string, v []byte) (string, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		if s, ok := interned[string(v[1:len(v)-1])]; ok {
			return s, nil
		}
	}
	return stringField(name, v)
}

var interned = func() map[string]string {
	m := make(map[string]string)
	for _, r := range Catalog {
		for _, t := range append([]string{r.Type}, r.Aliases...) {
			m[t] = t
		}
	}
	for a := range actionAliases {
		m[a] = a
	}
	return m
}()

// optionalString decodes a string member that may be null.
func optionalString(name string, v []byte) (string, error) {
	if string(v) == "null" {
		return "", nil
	}
	return stringField(name, v)
}

// parseMillis reads the timestamp: epoch milliseconds as a JSON number.
func parseMillis(v []byte) (time.Time, error) {
	if v[0] == '"' {
		return time.Time{}, envelopeErr("timestamp must be a number of epoch milliseconds, got a string")
	}
	if v[0] != '-' && (v[0] < '0' || v[0] > '9') {
		return time.Time{}, envelopeErr("timestamp must be a number of epoch milliseconds, got a JSON %s", kindOf(v[0]))
	}
	ms, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		var whole bool
		if ms, whole, err = exactMillis(v); !whole {
			return time.Time{}, envelopeErr("timestamp %s is not a whole number of epoch milliseconds", clipNumber(v))
		}
		if err != nil {
			return time.Time{}, envelopeErr("timestamp %s is out of range", clipNumber(v))
		}
	}
	if ms < 0 || ms > MaxTimestampMillis {
		return time.Time{}, envelopeErr("timestamp %d is out of range", ms)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// errMillisRange: a whole number outside [0, MaxTimestampMillis].
var errMillisRange = errors.New("out of range")

// exactMillis reads a JSON number with a fraction or an exponent exactly,
// from its digits rather than through a float, which would round
// 1718174286668.0001 to a whole number. whole says whether the value is a
// whole number; err, whether it is outside [0, MaxTimestampMillis]. Huge
// exponents cost nothing: no power of ten is computed beyond 15 digits.
func exactMillis(v []byte) (ms int64, whole bool, err error) {
	s := string(v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, expPart, hasExp := strings.Cut(s, "e")
	if !hasExp {
		mant, expPart, hasExp = strings.Cut(s, "E")
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	exp := 0
	if hasExp {
		e, perr := strconv.Atoi(expPart)
		switch {
		case perr == nil && e > -1e9 && e < 1e9:
			exp = e
		case strings.HasPrefix(expPart, "-"):
			exp = -1e9
		default:
			exp = 1e9
		}
	}
	if digits == "" {
		return 0, true, nil // zero, whatever its exponent
	}
	// The value is digits × 10^e.
	e := exp - len(frac)
	if e < 0 {
		if -e >= len(digits) || strings.TrimRight(digits[len(digits)+e:], "0") != "" {
			return 0, false, nil // a fraction remains
		}
		digits, e = digits[:len(digits)+e], 0
	}
	if neg || len(digits)+e > len(strconv.Itoa(MaxTimestampMillis)) {
		return 0, true, errMillisRange
	}
	ms, perr := strconv.ParseInt(digits+strings.Repeat("0", e), 10, 64)
	if perr != nil || ms > MaxTimestampMillis {
		return 0, true, errMillisRange
	}
	return ms, true, nil
}

// clipNumber is a JSON number token for an error detail: as written, or
// quoted and cut when it is longer than MaxQuotedInput.
func clipNumber(v []byte) string {
	if len(v) <= MaxQuotedInput {
		return string(v)
	}
	return Quote(string(v))
}
