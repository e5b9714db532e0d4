package topics

import "strings"

// TraceContext is the W3C Trace Context (https://www.w3.org/TR/trace-context/)
// an event record carries: in the traceparent and tracestate headers, and in
// the CloudEvent as the distributed-tracing extension attributes of the same
// names. The zero value carries none, and costs nothing: records without a
// trace context are byte for byte what they were before tracing existed.
//
// The contract holds the plain strings only; it knows no tracing library.
// What the bridge puts here, and what a consumer does with it, is in
// docs/consumers.md.
type TraceContext struct {
	// TraceParent is "00-<trace id>-<parent id>-<flags>" in lower-case
	// hex, as ValidTraceParent checks.
	TraceParent string
	// TraceState is the vendors' list that goes with TraceParent, as
	// ValidTraceState checks; "" for none.
	TraceState string
}

// Checked returns tc without what is not valid: an invalid TraceParent
// drops both (a tracestate means nothing without its traceparent), an
// invalid TraceState only itself. Nothing invalid reaches a record.
func (tc TraceContext) Checked() TraceContext {
	if tc.TraceParent == "" {
		return TraceContext{}
	}
	if !ValidTraceParent(tc.TraceParent) {
		return TraceContext{}
	}
	if !ValidTraceState(tc.TraceState) || strings.Trim(tc.TraceState, " \t,") == "" {
		tc.TraceState = "" // invalid, or no member at all
	}
	return tc
}

// AppendHeaders appends the traceparent header, and the tracestate header
// when there is one, to hs; tc must be Checked. Nothing is appended for the
// zero TraceContext.
func (tc TraceContext) AppendHeaders(hs []Header) []Header {
	if tc.TraceParent == "" {
		return hs
	}
	hs = append(hs, Header{HeaderTraceParent, []byte(tc.TraceParent)})
	if tc.TraceState != "" {
		hs = append(hs, Header{HeaderTraceState, []byte(tc.TraceState)})
	}
	return hs
}

// TraceParentLength is the length of a version-00 traceparent.
const TraceParentLength = 55

// ValidTraceParent is the rule for the traceparent a record carries: W3C
// Trace Context version 00, exactly "00-" 32 lower-case hex digits (the
// trace id, not all zero) "-" 16 lower-case hex digits (the parent span id,
// not all zero) "-" and the flags, 00 to 03 (sampled and random). Nothing
// else: no other version, no upper case, no whitespace, no trailing data.
func ValidTraceParent(s string) bool {
	if len(s) != TraceParentLength || s[0] != '0' || s[1] != '0' || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	traceID, parentID := s[3:35], s[36:52]
	return lowerHex(traceID) && lowerHex(parentID) && !allZero(traceID) && !allZero(parentID) &&
		s[53] == '0' && '0' <= s[54] && s[54] <= '3'
}

// ValidTraceState is the rule for the tracestate a record carries: the W3C
// grammar, at most MaxTraceStateLength bytes and 32 list members, keys
// unique; "" is valid (none). A header that breaks it is dropped whole
// rather than repaired.
func ValidTraceState(s string) bool {
	if len(s) > MaxTraceStateLength {
		return false
	}
	var keys [32]string
	n := 0
	for member := range strings.SplitSeq(s, ",") {
		member = strings.Trim(member, " \t")
		if member == "" {
			continue // empty list members are allowed
		}
		if n == len(keys) {
			return false
		}
		key, value, ok := strings.Cut(member, "=")
		if !ok || !validTraceStateKey(key) || !validTraceStateValue(value) {
			return false
		}
		for _, k := range keys[:n] {
			if k == key {
				return false
			}
		}
		keys[n] = key
		n++
	}
	return true
}

// MaxTraceStateLength is the longest tracestate kept: the 512 characters
// W3C asks every participant to propagate.
const MaxTraceStateLength = 512

// validTraceStateKey: simple-key = lcalpha 0*255(keychar), or
// multi-tenant-key = (lcalpha / DIGIT) 0*240(keychar) "@" lcalpha
// 0*13(keychar).
func validTraceStateKey(k string) bool {
	tenant, system, multi := strings.Cut(k, "@")
	if !multi {
		return len(k) >= 1 && len(k) <= 256 && isLCAlpha(k[0]) && keyChars(k[1:])
	}
	return len(tenant) >= 1 && len(tenant) <= 241 && (isLCAlpha(tenant[0]) || isDigit(tenant[0])) && keyChars(tenant[1:]) &&
		len(system) >= 1 && len(system) <= 14 && isLCAlpha(system[0]) && keyChars(system[1:])
}

// validTraceStateValue: 0*255(chr) nblk-chr, where nblk-chr is printable
// ASCII but ',' and '=', and chr also space.
func validTraceStateValue(v string) bool {
	if len(v) < 1 || len(v) > 256 || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c > 0x7e || c == ',' || c == '=' {
			return false
		}
	}
	return true
}

func keyChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLCAlpha(c) && !isDigit(c) && c != '_' && c != '-' && c != '*' && c != '/' {
			return false
		}
	}
	return true
}

func isLCAlpha(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool   { return '0' <= c && c <= '9' }

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isDigit(c) && !('a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}
