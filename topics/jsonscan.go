package topics

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"sync"
	"unicode/utf8"
)

// MaxDepth is how deeply objects and arrays may nest in a webhook body.
// Marketplace payloads nest a handful of levels; a "depth bomb" of thousands
// of brackets is refused before anything recurses on it.
const MaxDepth = 64

// syntaxError describes where a body stops being acceptable JSON.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.msg, e.off) }

// validator checks a whole document in one pass: JSON syntax (RFC 8259),
// UTF-8 in strings, a nesting limit and duplicate object keys. It is stricter
// than encoding/json on purpose: a body that two parsers could read two ways
// (duplicate keys, invalid UTF-8) must not reach a consumer.
//
// On the way it notes where the members of the top-level object are and,
// when one of them is "resource" holding an object, where that object's
// members are, and those of the object in its "content": ParseEnvelope
// reads the envelope from these spans instead of walking the body again
// (twice over the resource's content), and the key is looked up in the
// content's members without walking the content from its start.
type validator struct {
	b     []byte
	i     int
	depth int
	keys  [][]byte // keys of the objects being scanned, innermost last

	spans      bool   // note the members below
	top, res   []span // the top-level object's members; resource's
	content    []span // the members of resource's "content" object
	inResource bool   // scanning the top-level "resource" member's value
	inContent  bool   // scanning that object's "content" member's value
}

// span is an object member: its raw key (between the quotes) is
// b[key:keyEnd], its raw value b[val:end].
type span struct{ key, keyEnd, val, end int }

// scanState is what a validation reuses from body to body.
type scanState struct {
	keys              [][]byte
	top, res, content []span
}

var scanStates = sync.Pool{New: func() any {
	return &scanState{keys: make([][]byte, 0, 64), top: make([]span, 0, 8), res: make([]span, 0, 8), content: make([]span, 0, 16)}
}}

// validJSON reports the first reason b is not an acceptable JSON document.
func validJSON(b []byte) error {
	st := scanStates.Get().(*scanState)
	defer st.release()
	return st.scan(b, false)
}

// release returns st to the pool, holding no body (spans are offsets) and
// no more spans than an ordinary envelope needs.
func (st *scanState) release() {
	clear(st.keys[:cap(st.keys)])
	st.keys, st.top, st.res, st.content = st.keys[:0], st.top[:0], st.res[:0], st.content[:0]
	if cap(st.top) > keptSpans {
		st.top = make([]span, 0, 8)
	}
	if cap(st.res) > keptSpans {
		st.res = make([]span, 0, 8)
	}
	if cap(st.content) > keptSpans {
		st.content = make([]span, 0, 16)
	}
	scanStates.Put(st)
}

// keptSpans is the most member spans a pooled scanState keeps per object: a
// body may hold thousands of unknown top-level keys.
const keptSpans = 64

// scan validates b (see validator) and, with spans, leaves in st.top the
// members of its top-level object, in st.res those of the object in its
// top-level "resource" member and in st.content those of the object in
// that one's "content" member, as members would give them; they are
// complete only when b is acceptable.
func (st *scanState) scan(b []byte, spans bool) error {
	// Reuse the key stack: growing a fresh one for every body was most of
	// the validator's allocations (a local array escapes: value recurses).
	v := validator{b: b, keys: st.keys[:0], spans: spans, top: st.top[:0], res: st.res[:0], content: st.content[:0]}
	defer func() { st.keys, st.top, st.res, st.content = v.keys, v.top, v.res, v.content }()
	v.ws()
	if v.i == len(b) {
		return &syntaxError{v.i, "empty body"}
	}
	if err := v.value(); err != nil {
		return err
	}
	v.ws()
	if v.i != len(b) {
		return &syntaxError{v.i, "unexpected data after the top-level value"}
	}
	return nil
}

func (v *validator) ws() {
	for v.i < len(v.b) {
		switch v.b[v.i] {
		case ' ', '\t', '\n', '\r':
			v.i++
		default:
			return
		}
	}
}

func (v *validator) fail(msg string) error { return &syntaxError{v.i, msg} }

func (v *validator) value() error {
	if v.i >= len(v.b) {
		return v.fail("unexpected end of JSON")
	}
	switch c := v.b[v.i]; {
	case c == '{':
		return v.object()
	case c == '[':
		return v.array()
	case c == '"':
		_, err := v.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return v.number()
	case c == 't':
		return v.literal("true")
	case c == 'f':
		return v.literal("false")
	case c == 'n':
		return v.literal("null")
	default:
		return v.fail(fmt.Sprintf("invalid character %q looking for a value", c))
	}
}

func (v *validator) literal(lit string) error {
	if !bytes.HasPrefix(v.b[v.i:], []byte(lit)) {
		return v.fail("invalid literal")
	}
	v.i += len(lit)
	return nil
}

func (v *validator) enter() error {
	v.depth++
	if v.depth > MaxDepth {
		return v.fail(fmt.Sprintf("nesting deeper than %d levels", MaxDepth))
	}
	return nil
}

func (v *validator) object() error {
	if err := v.enter(); err != nil {
		return err
	}
	v.i++ // {
	mark := len(v.keys)
	var seen map[string]struct{} // only for objects with many keys
	defer func() { v.keys = v.keys[:mark]; v.depth-- }()
	v.ws()
	if v.i < len(v.b) && v.b[v.i] == '}' {
		v.i++
		return nil
	}
	for {
		v.ws()
		if v.i >= len(v.b) || v.b[v.i] != '"' {
			return v.fail("expected a string object key")
		}
		keyAt := v.i
		key, err := v.str()
		if err != nil {
			return err
		}
		if seen != nil {
			if _, dup := seen[string(key)]; dup {
				return &syntaxError{keyAt, "duplicate object key " + Quote(string(key))}
			}
			seen[string(key)] = struct{}{}
		} else {
			for _, k := range v.keys[mark:] {
				if bytes.Equal(k, key) {
					return &syntaxError{keyAt, "duplicate object key " + Quote(string(key))}
				}
			}
			v.keys = append(v.keys, key)
			if len(v.keys)-mark > 32 {
				seen = make(map[string]struct{}, 64)
				for _, k := range v.keys[mark:] {
					seen[string(k)] = struct{}{}
				}
			}
		}
		keyEnd := v.i - 1
		v.ws()
		if v.i >= len(v.b) || v.b[v.i] != ':' {
			return v.fail("expected ':' after object key")
		}
		v.i++
		v.ws()
		val := v.i
		// The depth tells the objects apart: resource's object is at 2
		// and content's at 3 only when each is its member's value itself,
		// not an element of an array there.
		note := v.spans && (v.depth == 1 || v.depth == 2 && v.inResource || v.depth == 3 && v.inContent)
		if note {
			switch v.depth {
			case 1:
				v.inResource = string(key) == "resource"
			case 2:
				v.inContent = string(key) == "content"
			}
		}
		if err := v.value(); err != nil {
			return err
		}
		if note {
			sp := span{key: keyAt + 1, keyEnd: keyEnd, val: val, end: v.i}
			switch v.depth {
			case 1:
				v.top = append(v.top, sp)
				v.inResource = false
			case 2:
				v.res = append(v.res, sp)
				v.inContent = false
			default:
				v.content = append(v.content, sp)
			}
		}
		v.ws()
		if v.i >= len(v.b) {
			return v.fail("unexpected end of JSON in object")
		}
		switch v.b[v.i] {
		case ',':
			v.i++
		case '}':
			v.i++
			return nil
		default:
			return v.fail("expected ',' or '}' in object")
		}
	}
}

func (v *validator) array() error {
	if err := v.enter(); err != nil {
		return err
	}
	defer func() { v.depth-- }()
	v.i++ // [
	v.ws()
	if v.i < len(v.b) && v.b[v.i] == ']' {
		v.i++
		return nil
	}
	for {
		v.ws()
		if err := v.value(); err != nil {
			return err
		}
		v.ws()
		if v.i >= len(v.b) {
			return v.fail("unexpected end of JSON in array")
		}
		switch v.b[v.i] {
		case ',':
			v.i++
		case ']':
			v.i++
			return nil
		default:
			return v.fail("expected ',' or ']' in array")
		}
	}
}

// str validates a string starting at the opening quote and returns its
// decoded contents (a sub-slice of the input when it has no escapes).
func (v *validator) str() ([]byte, error) {
	start := v.i + 1
	v.i++
	escaped := false
	for v.i < len(v.b) {
		// Eight bytes at a time while they are all plain (most of a body's
		// bytes are inside strings), else straight to the first that is not.
		if v.i+8 <= len(v.b) {
			m := notPlain(binary.LittleEndian.Uint64(v.b[v.i:]))
			if m == 0 {
				v.i += 8
				continue
			}
			v.i += bits.TrailingZeros64(m) / 8
		}
		c := v.b[v.i]
		if plainByte[c] {
			v.i++
			continue
		}
		switch {
		case c == '"':
			raw := v.b[start:v.i]
			v.i++
			if !escaped {
				return raw, nil
			}
			var s string
			if err := json.Unmarshal(v.b[start-1:v.i], &s); err != nil {
				return nil, &syntaxError{start - 1, "invalid string"}
			}
			return []byte(s), nil
		case c == '\\':
			escaped = true
			if v.i+1 >= len(v.b) {
				return nil, v.fail("unexpected end of JSON in string")
			}
			switch v.b[v.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				v.i += 2
			case 'u':
				if v.i+6 > len(v.b) || !isHex4(v.b[v.i+2:v.i+6]) {
					return nil, v.fail("invalid \\u escape in string")
				}
				v.i += 6
			default:
				return nil, v.fail("invalid escape in string")
			}
		case c < 0x20:
			return nil, v.fail("control character in string")
		case c < utf8.RuneSelf:
			v.i++
		default:
			r, size := utf8.DecodeRune(v.b[v.i:])
			if r == utf8.RuneError && size <= 1 {
				return nil, v.fail("invalid UTF-8 in string")
			}
			v.i += size
		}
	}
	return nil, v.fail("unexpected end of JSON in string")
}

// notPlain has the top bit set in each byte of x (eight bytes of a string,
// the first lowest) that may not be plain: '"', '\\', a control character or
// a byte of a multi-byte UTF-8 sequence. The lowest set bit is exact (a
// borrow only runs upwards from a byte that is itself not plain); higher ones
// may be false, which only sends the scan through plainByte.
func notPlain(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ (ones * '"')
	bs := x ^ (ones * '\\')
	return ((q-ones)&^q | (bs-ones)&^bs | (x-ones*0x20)&^x | x) & highs
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (v *validator) number() error {
	b, i := v.b, v.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		v.i = i
		return v.fail("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			v.i = i
			return v.fail("invalid number")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			v.i = i
			return v.fail("invalid number")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	v.i = i
	return nil
}

// The functions below walk documents that validJSON already accepted; on
// malformed input they stop early instead of panicking, but they do not
// report why.

// skipValue returns the index just past the value starting at i.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			if !structural[b[i]] {
				i++
				continue
			}
			switch b[i] {
			case '{', '[':
				depth++
				i++
			case '}', ']':
				depth--
				i++
				if depth == 0 {
					return i
				}
			case '"':
				i = skipString(b, i)
			default:
				i++
			}
		}
		return len(b)
	default: // number, literal
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// plainByte marks the bytes a string holds as they are (printable ASCII
// but '"' and '\\'), and structural the bytes a container walk stops at: the
// scanners test one table entry per byte instead of a chain of comparisons.
var plainByte, structural = func() (plain, structural [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		plain[c] = c != '"' && c != '\\'
	}
	for _, c := range []byte(`{}[]"`) {
		structural[c] = true
	}
	return plain, structural
}()

// skipString returns the index just past the string whose opening quote is
// at i. It jumps from quote to quote (bytes.IndexByte): most of a body's
// bytes are inside strings, and this walk runs over them several times.
func skipString(b []byte, i int) int {
	start := i + 1
	for i = start; i < len(b); i++ {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			break
		}
		i += q
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		n := 0
		for j := i - 1; j >= start && b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return i + 1
		}
	}
	return len(b)
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// members calls fn for each member of the object b (raw key without quotes,
// raw value), stopping when fn returns false. It does nothing when b is not
// an object.
func members(b []byte, fn func(key, val []byte) bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i++
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] != '"' {
			return
		}
		ks := i
		i = skipValue(b, i)
		key := b[ks+1 : max(ks+1, i-1)]
		i = skipWS(b, i)
		if i >= len(b) || b[i] != ':' {
			return
		}
		i = skipWS(b, i+1)
		vs := i
		i = skipValue(b, i)
		if !fn(key, b[vs:i]) {
			return
		}
		i = skipWS(b, i)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i++
	}
}

// elements calls fn for each element of the array b.
func elements(b []byte, fn func(val []byte) bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return
	}
	i++
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] == ']' {
			return
		}
		vs := i
		i = skipValue(b, i)
		if !fn(b[vs:i]) {
			return
		}
		i = skipWS(b, i)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i++
	}
}

// member returns the value of key in object b.
func member(b []byte, key string) (val []byte, ok bool) {
	members(b, func(k, v []byte) bool {
		if keyEquals(k, key) {
			val, ok = v, true
			return false
		}
		return true
	})
	return val, ok
}

// keyEquals compares a raw key (as it appears between quotes) to name.
func keyEquals(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == name
	}
	s, ok := decodeString(append(append([]byte{'"'}, raw...), '"'))
	return ok && s == name
}

// decodeString decodes a raw JSON string value (with its quotes).
func decodeString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
