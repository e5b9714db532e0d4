package topics

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestValidJSONAgreesWithEncodingJSON checks validJSON against json.Valid on
// inputs that have neither duplicate keys, invalid UTF-8 nor deep nesting,
// where the two must agree. The want column is checked against json.Valid
// too, so the table cannot drift from the reference.
func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		give string
		want bool
	}{
		{name: "empty object", give: `{}`, want: true},
		{name: "empty array", give: `[]`, want: true},
		{name: "nested empties", give: `[{},[],{"a":[]}]`, want: true},
		{name: "whitespace everywhere", give: " \t\r\n{ \"a\" : [ 1 , 2 ] }\n", want: true},
		{name: "scalar string", give: `"x"`, want: true},
		{name: "scalar true", give: `true`, want: true},
		{name: "scalar false", give: `false`, want: true},
		{name: "scalar null", give: `null`, want: true},
		{name: "zero", give: `0`, want: true},
		{name: "negative zero", give: `-0`, want: true},
		{name: "negative zero fraction", give: `-0.0`, want: true},
		{name: "fraction", give: `0.5`, want: true},
		{name: "exponent", give: `1e5`, want: true},
		{name: "upper exponent with plus", give: `1E+5`, want: true},
		{name: "negative exponent", give: `-12.5e-3`, want: true},
		{name: "zero exponent digits", give: `1e0001`, want: true},
		{name: "huge number", give: `123456789012345678901234567890e999`, want: true},
		{name: "simple escapes", give: `"\" \\ \/ \b \f \n \r \t"`, want: true},
		{name: "unicode escape", give: `"\u00e9\u0000\uFFFF"`, want: true},
		{name: "surrogate pair", give: `"\ud83d\ude80"`, want: true},
		{name: "lone high surrogate", give: `"\ud800"`, want: true},
		{name: "lone low surrogate", give: `"\udc00x"`, want: true},
		{name: "reversed surrogates", give: `"\ude80\ud83d"`, want: true},
		{name: "raw non-ASCII", give: `"é🚀株"`, want: true},
		{name: "DEL is not a control character", give: "\"a\x7fb\"", want: true},
		{name: "escaped key", give: `{"\u0061":1,"b":2}`, want: true},
		{name: "same key in sibling objects", give: `[{"a":1},{"a":2}]`, want: true},
		{name: "same key in nested object", give: `{"a":{"a":1}}`, want: true},
		{name: "inner keys do not leak", give: `{"a":{"b":1},"b":2}`, want: true},
		{name: "brackets in strings", give: `{"a":"}]{[","b":"\"}"}`, want: true},

		{name: "leading zero", give: `01`},
		{name: "leading zero in array", give: `[01]`},
		{name: "negative leading zero", give: `-01`},
		{name: "trailing dot", give: `1.`},
		{name: "leading dot", give: `.5`},
		{name: "plus sign", give: `+1`},
		{name: "minus alone", give: `-`},
		{name: "minus dot", give: `-.5`},
		{name: "exponent without digits", give: `1e`},
		{name: "exponent sign only", give: `1e+`},
		{name: "NaN", give: `NaN`},
		{name: "Infinity", give: `Infinity`},
		{name: "negative Infinity", give: `-Infinity`},
		{name: "hex", give: `0x10`},
		{name: "unescaped newline in string", give: "\"a\nb\""},
		{name: "unescaped tab in string", give: "\"a\tb\""},
		{name: "unescaped NUL in string", give: "\"a\x00b\""},
		{name: "lone backslash", give: `"\"`},
		{name: "backslash at end", give: `"a\`},
		{name: "invalid escape", give: `"\x41"`},
		{name: "escaped single quote", give: `"\'"`},
		{name: "short unicode escape", give: `"\u12"`},
		{name: "non-hex unicode escape", give: `"\u12g4"`},
		{name: "upper-case U escape", give: `"\U0041"`},
		{name: "single quotes", give: `'a'`},
		{name: "unquoted key", give: `{a:1}`},
		{name: "number key", give: `{1:1}`},
		{name: "missing colon", give: `{"a" 1}`},
		{name: "missing value", give: `{"a":}`},
		{name: "trailing comma in object", give: `{"a":1,}`},
		{name: "trailing comma in array", give: `[1,]`},
		{name: "leading comma in array", give: `[,1]`},
		{name: "double comma", give: `[1,,2]`},
		{name: "missing comma", give: `[1 2]`},
		{name: "unclosed array", give: `[1`},
		{name: "unclosed object", give: `{"a":1`},
		{name: "mismatched brackets", give: `[}`},
		{name: "truncated literal", give: `tru`},
		{name: "literal with suffix", give: `truex`},
		{name: "capitalised literal", give: `True`},
		{name: "comment", give: `{} // x`},
		{name: "two values", give: `1 2`},
		{name: "empty", give: ``},
		{name: "whitespace", give: ` `},
		{name: "vertical tab is not whitespace", give: "\v{}"},
		{name: "byte order mark", give: "\xef\xbb\xbf{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ref := json.Valid([]byte(tt.give)); ref != tt.want {
				t.Fatalf("json.Valid(%q) = %v; the table says %v", tt.give, ref, tt.want)
			}
			err := validJSON([]byte(tt.give))
			if diff := cmp.Diff(tt.want, err == nil); diff != "" {
				t.Errorf("validJSON(%q) = %v; accepted mismatch (-want +got):\n%s", tt.give, err, diff)
			}
		})
	}
}

// TestValidJSONStricter lists the intended differences from json.Valid:
// duplicate keys, invalid UTF-8 and nesting deeper than MaxDepth, each
// reported at the offending byte.
func TestValidJSONStricter(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string // error message
	}{
		{name: "duplicate key", give: `{"a":1,"a":2}`, want: `duplicate object key "a" at byte 7`},
		{name: "duplicate key after other keys", give: `{"a":1,"b":2,"c":3,"b":4}`, want: `duplicate object key "b" at byte 19`},
		{name: "duplicate key spelled with an escape", give: `{"a":1,"\u0061":2}`, want: `duplicate object key "a" at byte 7`},
		{name: "duplicate key after a nested object", give: `{"a":{"b":1},"b":2,"a":3}`, want: `duplicate object key "a" at byte 19`},
		{name: "duplicate key in a nested object", give: `[{"x":{"y":1,"y":2}}]`, want: `duplicate object key "y" at byte 13`},
		{name: "duplicate key between lone surrogates", give: `{"\ud800":1,"\udbff":2}`, want: "duplicate object key \"\ufffd\" at byte 12"},
		{name: "duplicate empty key", give: `{"":1,"":2}`, want: `duplicate object key "" at byte 6`},
		{name: "duplicate in a 33-key object", give: manyKeys(33, `"k00":0`), want: `duplicate object key "k00" at byte ` + strconv.Itoa(len(manyKeys(33, "")))},
		{name: "duplicate in a 100-key object", give: manyKeys(100, `"k99":0`), want: `duplicate object key "k99" at byte ` + strconv.Itoa(len(manyKeys(100, "")))},
		{name: "invalid UTF-8 byte", give: "\"a\xffb\"", want: "invalid UTF-8 in string at byte 2"},
		{name: "truncated UTF-8 sequence", give: "[\"\xe2\x82\"]", want: "invalid UTF-8 in string at byte 2"},
		{name: "UTF-8 surrogate", give: "\"\xed\xb0\x80\"", want: "invalid UTF-8 in string at byte 1"},
		{name: "overlong UTF-8", give: "\"\xe0\x80\xaf\"", want: "invalid UTF-8 in string at byte 1"},
		{name: "beyond U+10FFFF", give: "\"\xf4\x90\x80\x80\"", want: "invalid UTF-8 in string at byte 1"},
		{name: "invalid UTF-8 in a key", give: "{\"k\xc3\":1}", want: "invalid UTF-8 in string at byte 3"},
		{name: "arrays one level too deep", give: strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), want: "nesting deeper than 64 levels at byte 64"},
		{name: "objects one level too deep", give: strings.Repeat(`{"a":`, MaxDepth) + `{}` + strings.Repeat("}", MaxDepth), want: "nesting deeper than 64 levels at byte 320"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !json.Valid([]byte(tt.give)) {
				t.Fatalf("json.Valid(%q) = false; this table is for what encoding/json accepts", tt.give)
			}
			err := validJSON([]byte(tt.give))
			got := "<nil>"
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("validJSON() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidJSONDepthLimit checks the boundary: MaxDepth levels pass, one
// more fails, for arrays, objects and a mix.
func TestValidJSONDepthLimit(t *testing.T) {
	mixed := func(n int) string {
		var open, closing strings.Builder
		for i := range n {
			if i%2 == 0 {
				open.WriteString(`[`)
				closing.WriteString(`]`)
			} else {
				open.WriteString(`{"k":`)
				closing.WriteString(`}`)
			}
		}
		// closers in reverse order of openers
		c := []byte(closing.String())
		for i, j := 0, len(c)-1; i < j; i, j = i+1, j-1 {
			c[i], c[j] = c[j], c[i]
		}
		return open.String() + "1" + string(c)
	}
	tests := []struct {
		name string
		give string
		want bool
	}{
		{name: "arrays at the limit", give: strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), want: true},
		{name: "arrays over the limit", give: strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)},
		{name: "mixed at the limit", give: mixed(MaxDepth), want: true},
		{name: "mixed over the limit", give: mixed(MaxDepth + 1)},
		{name: "many siblings at depth 2 do not add up", give: "[" + strings.Repeat("[],", 10000) + "[]]", want: true},
		{name: "array bomb", give: strings.Repeat("[", 1_000_000)},
		{name: "object bomb", give: strings.Repeat(`{"":`, 1_000_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validJSON([]byte(tt.give))
			if diff := cmp.Diff(tt.want, err == nil); diff != "" {
				t.Errorf("validJSON() = %v; accepted mismatch (-want +got):\n%s", err, diff)
			}
		})
	}
}

type kv struct{ Key, Val string }

func collectMembers(b string) []kv {
	var out []kv
	members([]byte(b), func(k, v []byte) bool {
		out = append(out, kv{string(k), string(v)})
		return true
	})
	return out
}

func TestMembers(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []kv
	}{
		{name: "empty object", give: `{}`},
		{name: "scalars", give: `{"a":1,"b":"x","c":true,"d":null,"e":-1.5e3}`, want: []kv{{"a", "1"}, {"b", `"x"`}, {"c", "true"}, {"d", "null"}, {"e", "-1.5e3"}}},
		{name: "nested values are raw", give: `{"a":{"b":[1,{"c":2}]},"d":[]}`, want: []kv{{"a", `{"b":[1,{"c":2}]}`}, {"d", "[]"}}},
		{name: "whitespace", give: " {\n \"a\" :\t1 ,\r\n\"b\" : [ 1 , 2 ] \n} ", want: []kv{{"a", "1"}, {"b", "[ 1 , 2 ]"}}},
		{name: "escaped keys are raw", give: `{"\u0061":1,"a\"b":2,"c\\":3,"\/":4}`, want: []kv{{`\u0061`, "1"}, {`a\"b`, "2"}, {`c\\`, "3"}, {`\/`, "4"}}},
		{name: "strings with brackets and quotes", give: `{"a":"}]\",{","b":"\\"}`, want: []kv{{"a", `"}]\",{"`}, {"b", `"\\"`}}},
		{name: "empty key", give: `{"":0}`, want: []kv{{"", "0"}}},
		{name: "not an object", give: `[{"a":1}]`},
		{name: "string", give: `"{\"a\":1}"`},
		{name: "empty input", give: ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, collectMembers(tt.give)); diff != "" {
				t.Errorf("members(%s) mismatch (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestMembersStops(t *testing.T) {
	var got []string
	members([]byte(`{"a":1,"b":2,"c":3}`), func(k, v []byte) bool {
		got = append(got, string(k))
		return string(k) != "b"
	})
	if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
		t.Errorf("members visited (-want +got):\n%s", diff)
	}
}

func TestElements(t *testing.T) {
	tests := []struct {
		name string
		give string
		want []string
	}{
		{name: "empty", give: `[]`},
		{name: "empty with space", give: `[ ]`},
		{name: "scalars", give: `[1,"a",true,null,-0.5]`, want: []string{"1", `"a"`, "true", "null", "-0.5"}},
		{name: "nested", give: `[{"a":[1,2]},[[]],"]"]`, want: []string{`{"a":[1,2]}`, "[[]]", `"]"`}},
		{name: "whitespace", give: " [ 1 ,\n{ } ] ", want: []string{"1", "{ }"}},
		{name: "strings with escapes", give: `["a\"",",","\\"]`, want: []string{`"a\""`, `","`, `"\\"`}},
		{name: "not an array", give: `{"a":[1]}`},
		{name: "empty input", give: ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			elements([]byte(tt.give), func(v []byte) bool {
				got = append(got, string(v))
				return true
			})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("elements(%s) mismatch (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestMember(t *testing.T) {
	tests := []struct {
		name   string
		give   string
		key    string
		want   string
		wantOK bool
	}{
		{name: "plain", give: `{"a":1,"b":{"c":2}}`, key: "b", want: `{"c":2}`, wantOK: true},
		{name: "first member", give: `{"a":1,"b":2}`, key: "a", want: "1", wantOK: true},
		{name: "escaped key", give: `{"\u0063ompany":{"id":"c1"}}`, key: "company", want: `{"id":"c1"}`, wantOK: true},
		{name: "escaped quote in key", give: `{"a\"b":true}`, key: `a"b`, want: "true", wantOK: true},
		{name: "escaped slash in key", give: `{"a\/b":null}`, key: "a/b", want: "null", wantOK: true},
		{name: "non-ASCII escape", give: `{"soci\u00e9t\u00e9":"x"}`, key: "société", want: `"x"`, wantOK: true},
		{name: "nested key is not a member", give: `{"a":{"b":1}}`, key: "b"},
		{name: "key in a string value is not a member", give: `{"a":"\"b\":1"}`, key: "b"},
		{name: "case matters", give: `{"Company":1}`, key: "company"},
		{name: "missing", give: `{"a":1}`, key: "z"},
		{name: "not an object", give: `["a"]`, key: "a"},
		{name: "scalar", give: `"a"`, key: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := member([]byte(tt.give), tt.key)
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("member(%s, %q) mismatch (-want +got):\n%s", tt.give, tt.key, diff)
			}
			if ok != tt.wantOK {
				t.Errorf("member(%s, %q) ok = %v, want %v", tt.give, tt.key, ok, tt.wantOK)
			}
		})
	}
}

func TestDecodeString(t *testing.T) {
	tests := []struct {
		name   string
		give   string
		want   string
		wantOK bool
	}{
		{name: "plain", give: `"abc"`, want: "abc", wantOK: true},
		{name: "empty", give: `""`, want: "", wantOK: true},
		{name: "escapes", give: `"a\"b\\c\/d\n\u00e9\ud83d\ude80"`, want: "a\"b\\c/d\né🚀", wantOK: true},
		{name: "lone surrogate becomes U+FFFD", give: `"\ud800"`, want: "\ufffd", wantOK: true},
		{name: "number", give: `12`},
		{name: "null", give: `null`},
		{name: "object", give: `{"a":"b"}`},
		{name: "unterminated", give: `"abc`},
		{name: "single quote", give: `"`},
		{name: "bad escape", give: `"\x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeString([]byte(tt.give))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decodeString(%s) mismatch (-want +got):\n%s", tt.give, diff)
			}
			if ok != tt.wantOK {
				t.Errorf("decodeString(%s) ok = %v, want %v", tt.give, ok, tt.wantOK)
			}
		})
	}
}

// TestScannersOnMalformedInput checks that the walkers, which trust
// validJSON, stop on malformed input instead of panicking or looping.
func TestScannersOnMalformedInput(t *testing.T) {
	tests := []struct {
		name        string
		give        string
		wantMembers []kv
	}{
		{name: "unterminated key", give: `{"a`},
		{name: "key without colon", give: `{"a" 1}`},
		{name: "key without value", give: `{"a":`, wantMembers: []kv{{"a", ""}}},
		{name: "unterminated nested value", give: `{"a":{"b":[1,2`, wantMembers: []kv{{"a", `{"b":[1,2`}}},
		{name: "backslash at the end", give: `{"a":"\`, wantMembers: []kv{{"a", `"\`}}},
		{name: "missing comma", give: `{"a":1 "b":2}`, wantMembers: []kv{{"a", "1"}}},
		{name: "unbalanced closers", give: `{"a":]]]}`, wantMembers: []kv{{"a", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.wantMembers, collectMembers(tt.give)); diff != "" {
				t.Errorf("members(%s) mismatch (-want +got):\n%s", tt.give, diff)
			}
			elements([]byte("["+strings.TrimPrefix(tt.give, "{")), func([]byte) bool { return true })
			member([]byte(tt.give), "zz")
		})
	}
}

func TestScanNotesTheEnvelopesMembers(t *testing.T) {
	for _, b := range []string{
		`{"uuid":"e","resource":{"type":"USER","content":{"a":{"b":[1,{"c":2}]}},"url":null},"resourceAction":"ADDED"}`,
		` { "resource" : { "type" : "X" } , "x" : [ { "resource" : { "y" : 1 } } ] } `,
		`{"\u0072esource":{"t\"":"v"},"a":"resource"}`,
		`{"a":{"resource":{"no":1}},"resource":"not an object"}`,
		`{"resource":[{"type":"in an array"}]}`,
		`[{"resource":{"type":"under an array"}}]`,
		`{}`, `{"resource":{}}`, `"resource"`, `7`,
		`{"resource":{"\u0063ontent":{"company":{"id":"c"},"x":[{"y":1}]},"type":"T"}}`,
		`{"resource":{"content":[{"company":"in an array"}]}}`,
		`{"resource":{"content":{"content":{"deeper":1},"k":"v"}},"content":{"top":1}}`,
		`{"content":{"top":1},"resource":{"x":{"content":{"no":1}},"content":null}}`,
		`{"resource":[{"content":{"under":"an array"}}]}`,
	} {
		t.Run(b, func(t *testing.T) { checkSpans(t, []byte(b)) })
	}
	// The check itself fails on spans that are off.
	st := scanStates.Get().(*scanState)
	defer st.release()
	b := []byte(`{"resource":{"type":"X"},"k":1}`)
	if err := st.scan(b, true); err != nil {
		t.Fatal(err)
	}
	if len(st.top) != 2 || len(st.res) != 1 {
		t.Fatalf("spans %v and %v, want 2 top-level and 1 of resource", st.top, st.res)
	}
	if got := string(b[st.res[0].val:st.res[0].end]); got != `"X"` {
		t.Fatalf("resource.type's value %q, want \"X\"", got)
	}
	b = []byte(`{"resource":{"content":{"a":1,"b":{"c":2}},"x":{"d":3}}}`)
	if err := st.scan(b, true); err != nil {
		t.Fatal(err)
	}
	if len(st.content) != 2 || string(b[st.content[1].val:st.content[1].end]) != `{"c":2}` {
		t.Fatalf("content spans %v, want a and b", st.content)
	}
}

// notPlain must flag every byte plainByte refuses (a miss would let a quote,
// a backslash, a control character or unchecked UTF-8 through), and its
// lowest flag must be exact, since the scan jumps to it.
func TestNotPlainAgreesWithThePlainTable(t *testing.T) {
	check := func(w [8]byte) {
		t.Helper()
		m := notPlain(binary.LittleEndian.Uint64(w[:]))
		first := -1
		for i, c := range w {
			flagged := m&(0x80<<(8*i)) != 0
			if !plainByte[c] && !flagged {
				t.Fatalf("%q: byte %d (%#x) is not plain but not flagged (mask %#x)", w, i, c, m)
			}
			if first < 0 && !plainByte[c] {
				first = i
			}
		}
		if got := bits.TrailingZeros64(m) / 8; m != 0 && got != first {
			t.Fatalf("%q: lowest flag at byte %d, first byte that is not plain at %d", w, got, first)
		}
		if m == 0 && first >= 0 {
			t.Fatalf("%q: no flag, but byte %d is not plain", w, first)
		}
	}
	// Every byte value at every position, among plain and other neighbours.
	for _, fill := range []byte{'a', ' ', '"', 0x00, 0x1f, 0xff, '\\', '~'} {
		for pos := 0; pos < 8; pos++ {
			for c := 0; c < 256; c++ {
				var w [8]byte
				for i := range w {
					w[i] = 'a'
					if i > pos {
						w[i] = fill
					}
				}
				w[pos] = byte(c)
				check(w)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		check(w)
	}
}
