package topics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// This file measures validJSON against jsontext, the syntactic layer of
// encoding/json/v2 (github.com/go-json-experiment/json/jsontext; built with
// GOEXPERIMENT=jsonv2 that package is an alias of the standard library's
// encoding/json/jsontext, so the same benchmarks measure both):
//
//	go test -run TestJSONTextAgreesWithJSONScan -count=1 ./topics
//	go test -run '^$' -bench BenchmarkValidate -benchmem -count=5 ./topics
//
// jsontext's defaults are the strictness validJSON wants: duplicate names
// and invalid UTF-8 are refused unless AllowDuplicateNames(true) or
// AllowInvalidUTF8(true) is given. Two differences remain, by design of
// each side (see the constants below): the nesting limit and \u escapes of
// lone surrogates. "jsontext" is jsontext alone with its defaults;
// "jsontext-compat" adds what a drop-in replacement of validJSON would
// need to decide exactly as it does: a pass for the nesting limit, a
// UTF-8 check of the whole body, and AllowInvalidUTF8(true) so that lone
// surrogate escapes pass (read as U+FFFD, as jsonscan reads them).

const (
	// jsontext nests up to 10000 levels and has no option to lower it
	// (WithDepthLimit is declared but commented out in v1.27.2).
	diffDepth = "jsontext allows nesting to 10000 levels, jsonscan stops at MaxDepth (64)"
	// jsontext checks that escapes decode to Unicode scalar values
	// (RFC 7493 section 2.1); jsonscan, like encoding/json, reads a lone
	// surrogate escape as U+FFFD.
	diffSurrogate = "jsontext refuses a \\u escape of a lone surrogate, jsonscan reads it as U+FFFD"
)

// textValidator is a jsontext.Decoder kept for reuse, reading from a
// bytes.Buffer: the decoder then scans the caller's slice in place
// instead of copying it into a buffer of its own.
type textValidator struct {
	dec jsontext.Decoder
	buf bytes.Buffer
}

var textValidators = sync.Pool{New: func() any { return new(textValidator) }}

var errTrailing = errors.New("unexpected data after the top-level value")

// jsontextValidate is validJSON done by jsontext with its default options:
// one value, then only whitespace.
func jsontextValidate(b []byte) error { return jsontextCheck(b) }

// jsontextCompatValidate decides as validJSON does (though its errors say
// less): jsontext refuses neither nesting deeper than MaxDepth nor, once
// told to let lone surrogate escapes through, invalid UTF-8, so two passes
// of its own do.
func jsontextCompatValidate(b []byte) error {
	if off := depthExceeded(b, MaxDepth); off >= 0 {
		return &syntaxError{off, fmt.Sprintf("nesting deeper than %d levels", MaxDepth)}
	}
	if !utf8.Valid(b) {
		return errors.New("invalid UTF-8")
	}
	return jsontextCheck(b, jsontext.AllowInvalidUTF8(true))
}

// depthExceeded returns the offset of the first '{' or '[' nested deeper
// than limit, or -1. It is exact up to the first syntax error.
func depthExceeded(b []byte, limit int) int {
	depth := 0
	for i := 0; i < len(b); {
		if !structural[b[i]] {
			i++
			continue
		}
		switch b[i] {
		case '{', '[':
			if depth++; depth > limit {
				return i
			}
			i++
		case '}', ']':
			depth--
			i++
		default: // '"'
			i = skipString(b, i)
		}
	}
	return -1
}

func jsontextCheck(b []byte, opts ...jsontext.Options) error {
	v := textValidators.Get().(*textValidator)
	defer func() {
		v.buf = bytes.Buffer{}
		v.dec.Reset(&v.buf) // keep no body alive from the pool
		textValidators.Put(v)
	}()
	v.buf = *bytes.NewBuffer(b)
	v.dec.Reset(&v.buf, opts...)
	if _, err := v.dec.ReadValue(); err != nil {
		return err
	}
	switch _, err := v.dec.ReadToken(); err {
	case io.EOF:
		return nil
	case nil:
		return errTrailing
	default:
		return err
	}
}

// compareImpls are the validators BenchmarkValidate measures.
var compareImpls = []struct {
	name  string
	valid func([]byte) error
}{
	{"jsonscan", validJSON},
	{"jsontext", jsontextValidate},
	{"jsontext-compat", jsontextCompatValidate},
}

type namedBody struct {
	name string
	body []byte
}

// sampleBodies reads every sample body of the bridge, sorted by name.
func sampleBodies(tb testing.TB) []namedBody {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "bridge", "testdata", "samples", "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(paths) == 0 {
		tb.Fatal("no samples in ../bridge/testdata/samples")
	}
	out := make([]namedBody, 0, len(paths))
	for _, p := range paths {
		body, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, namedBody{strings.TrimSuffix(filepath.Base(p), ".json"), body})
	}
	return out
}

// largeUserBody is a USER notification of about 1 MB: a user with
// thousands of memberships, each naming a different company.
func largeUserBody() []byte {
	var b strings.Builder
	b.WriteString(`{
  "uuid": "5c2a50d6-f76c-485f-8b76-4afc6d5f66ff",
  "timestamp": 1718172086647,
  "resource": {
    "type": "USER",
    "uuid": "a9d4e6b2-1c3f-4a58-b7e0-d2f1c9e8a704",
    "url": "https://acme.byappdirect.com/api/account/v1/users/a9d4e6b2-1c3f-4a58-b7e0-d2f1c9e8a704?isExternalId=false",
    "content": {
      "id": "a9d4e6b2-1c3f-4a58-b7e0-d2f1c9e8a704",
      "email": "jane.doe@example.org",
      "firstName": "Jane",
      "lastName": "Doe",
      "locale": "en-US",
      "status": "ACTIVE",
      "deleted": false,
      "creationDate": 1717970000000,
      "customAttributes": {},
      "memberships": [`)
	for i := 0; b.Len() < 1<<20; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `
        {
          "enabled": %t,
          "roles": ["USER", "BILLING_ADMIN"],
          "lastLogin": %d,
          "company": {
            "id": "c1b2a3d4-e5f6-4789-a0b1-%012x",
            "name": "Soci\u00e9t\u00e9 n\u00b0%d \"Gen\u00e8ve\" / Z\u00fcrich",
            "enabled": true,
            "size": "11-50",
            "revenue": %d.%02d,
            "status": "ACTIVE"
          }
        }`, i%3 != 0, 1717970000000+int64(i)*977, i, i, i*1234, i%100)
	}
	b.WriteString(`
      ]
    }
  },
  "resourceAction": "CHANGED"
}
`)
	return []byte(b.String())
}

// deepBody is a notification whose content nests as deep as MaxDepth
// allows: 31 levels of {"children":[...]} under the envelope's two.
func deepBody() []byte {
	const steps = (MaxDepth - 2) / 2
	var open, closing strings.Builder
	for i := 1; i <= steps; i++ {
		fmt.Fprintf(&open, `{"level":%d,"name":"node %d","tags":["a","b"],"children":["leaf %d"`, i, i, i)
		if i < steps {
			open.WriteString(",")
		}
		closing.WriteString("]}")
	}
	return []byte(withContent(open.String() + closing.String()))
}

// compareBodies are BenchmarkValidate's inputs: every sample, the large
// body and the deep one.
func compareBodies(tb testing.TB) []namedBody {
	return append(sampleBodies(tb),
		namedBody{"large-user", largeUserBody()},
		namedBody{"deep", deepBody()})
}

// TestJSONTextAgreesWithJSONScan checks that jsontext with its default
// options accepts and refuses what validJSON does, except for the intended
// differences named in the table, and that jsontext-compat agrees with
// validJSON on every input.
func TestJSONTextAgreesWithJSONScan(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name string
		give string
		want bool   // what validJSON decides
		diff string // when set, jsontext decides !want, for this reason
	}{
		{name: "small envelope", give: okBody, want: true},
		{name: "whitespace around", give: " \t\r\n" + okBody + "\n", want: true},
		{name: "scalars", give: `[1,-0.5e+3,"x",true,false,null,{},[]]`, want: true},
		{name: "big number", give: `123456789012345678901234567890e999`, want: true},
		{name: "escapes", give: `"\" \\ \/ \b \f \n \r \t \u00e9 \u0000 \ud83d\ude80"`, want: true},
		{name: "raw non-ASCII", give: `"é🚀株"`, want: true},
		{name: "noncharacter U+FFFF", give: "[\"\uffff\", \"\\uffff\"]", want: true},
		{name: "same key in sibling objects", give: `[{"a":1},{"a":2}]`, want: true},
		{name: "inner keys do not leak", give: `{"a":{"b":1},"b":2}`, want: true},
		{name: "keys differing only in case", give: `{"uuid":1,"UUID":2}`, want: true},
		{name: "many distinct keys", give: manyKeys(100, ""), want: true},
		{name: "depth 64", give: nest(MaxDepth), want: true},
		{name: "wide at depth 2", give: "[" + strings.Repeat("[],", 10000) + "[]]", want: true},

		{name: "duplicate names", give: `{"a":1,"a":2}`},
		{name: "duplicate top-level uuid", give: `{"uuid":"e1","uuid":"e2","resource":{"type":"USER"},"resourceAction":"ADDED"}`},
		{name: "duplicate name spelled with an escape", give: `{"uuid":1,"\u0075uid":2}`},
		{name: "duplicate name in a nested object", give: `[{"x":{"y":1,"y":2}}]`},
		{name: "duplicate name after a nested object", give: `{"a":{"b":1},"b":2,"a":3}`},
		{name: "duplicate in a 33-key object", give: manyKeys(33, `"k00":0`)},
		{name: "duplicate in a 100-key object", give: manyKeys(100, `"k99":0`)},
		{name: "duplicate empty name", give: `{"":1,"":2}`},
		{name: "invalid UTF-8 byte", give: "\"a\xffb\""},
		{name: "invalid UTF-8 in a name", give: "{\"k\xc3\":1}"},
		{name: "truncated UTF-8 sequence", give: "[\"\xe2\x82\"]"},
		{name: "UTF-8 encoded surrogate", give: "\"\xed\xb0\x80\""},
		{name: "overlong UTF-8", give: "\"\xc0\xaf\""},
		{name: "beyond U+10FFFF", give: "\"\xf4\x90\x80\x80\""},
		{name: "invalid UTF-8 outside a string", give: "[1,\xff]"},
		{name: "trailing garbage", give: okBody + "x"},
		{name: "trailing comma", give: okBody + ","},
		{name: "trailing NUL", give: okBody + "\x00"},
		{name: "two objects", give: okBody + "\n" + okBody},
		{name: "two numbers", give: `1 2`},
		{name: "depth 65", give: nest(MaxDepth + 1), diff: diffDepth},
		{name: "objects at depth 65", give: strings.Repeat(`{"a":`, MaxDepth) + `{}` + strings.Repeat("}", MaxDepth), diff: diffDepth},
		{name: "depth 10000", give: nest(10000), diff: diffDepth},
		{name: "depth 10001", give: nest(10001)},
		{name: "array bomb", give: strings.Repeat("[", 1_000_000)},
		{name: "object bomb", give: strings.Repeat(`{"":`, 100_000)},
		{name: "lone high surrogate escape", give: `"\ud800"`, want: true, diff: diffSurrogate},
		{name: "lone low surrogate escape", give: `"\udc00x"`, want: true, diff: diffSurrogate},
		{name: "reversed surrogate escapes", give: `"\ude80\ud83d"`, want: true, diff: diffSurrogate},
		{name: "lone surrogate escape in a name", give: `{"\ud800":1}`, want: true, diff: diffSurrogate},
		{name: "duplicate names between lone surrogates", give: `{"\ud800":1,"\udbff":2}`},
		{name: "empty", give: ``},
		{name: "whitespace only", give: " \t\r\n "},
		{name: "byte order mark", give: "\xef\xbb\xbf{}"},
		{name: "vertical tab", give: "\v{}"},
		{name: "not JSON", give: `hello`},
		{name: "form encoded", give: `uuid=e1&type=USER`},
		{name: "single quotes", give: `{'a':1}`},
		{name: "unquoted name", give: `{a:1}`},
		{name: "comment", give: `{} // x`},
		{name: "NaN", give: `NaN`},
		{name: "leading zero", give: `[01]`},
		{name: "plus sign", give: `+1`},
		{name: "trailing dot", give: `1.`},
		{name: "exponent without digits", give: `1e+`},
		{name: "hex", give: `0x10`},
		{name: "unescaped newline in string", give: "\"a\nb\""},
		{name: "unescaped NUL in string", give: "\"a\x00b\""},
		{name: "invalid escape", give: `"\x41"`},
		{name: "short unicode escape", give: `"\u12"`},
		{name: "upper-case U escape", give: `"\U0041"`},
		{name: "missing colon", give: `{"a" 1}`},
		{name: "missing value", give: `{"a":}`},
		{name: "trailing comma in object", give: `{"uuid":"e1",}`},
		{name: "trailing comma in array", give: `[1,]`},
		{name: "missing comma", give: `[1 2]`},
		{name: "mismatched brackets", give: `[}`},
		{name: "unclosed object", give: `{"uuid":"e1"`},
		{name: "unclosed string", give: `{"uuid":"e1`},
		{name: "truncated literal", give: `tru`},
		{name: "literal with suffix", give: `truex`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scanErr := validJSON([]byte(tt.give))
			textErr := jsontextValidate([]byte(tt.give))
			compatErr := jsontextCompatValidate([]byte(tt.give))
			if got := scanErr == nil; got != tt.want {
				t.Fatalf("validJSON(%.80q) = %v; the table says accepted = %v", tt.give, scanErr, tt.want)
			}
			wantText := tt.want != (tt.diff != "")
			if got := textErr == nil; got != wantText {
				t.Errorf("jsontext on %.80q: %v; want accepted = %v (validJSON: %v; intended difference: %q)",
					tt.give, textErr, wantText, scanErr, tt.diff)
			}
			if got := compatErr == nil; got != tt.want {
				t.Errorf("jsontext-compat on %.80q: %v; want accepted = %v (validJSON: %v)", tt.give, compatErr, tt.want, scanErr)
			}
		})
	}

	// Every sample, the benchmark's large and deep bodies, every prefix of
	// every sample and single-byte edits of them: the two must agree on
	// all, as none nests deeper than 64 or escapes a lone surrogate.
	for _, nb := range compareBodies(t) {
		t.Run("body/"+nb.name, func(t *testing.T) {
			if err := validJSON(nb.body); err != nil {
				t.Fatalf("validJSON: %v", err)
			}
			if err := jsontextValidate(nb.body); err != nil {
				t.Fatalf("jsontext: %v", err)
			}
			if err := jsontextCompatValidate(nb.body); err != nil {
				t.Fatalf("jsontext-compat: %v", err)
			}
		})
	}
	edits := []byte{'"', '\\', '{', '}', '[', ']', ',', ':', ' ', '0', 'e', '\n', 0x00, 0xc3, 0xff}
	for _, nb := range sampleBodies(t) {
		t.Run("edits/"+nb.name, func(t *testing.T) {
			check := func(what string, b []byte) {
				t.Helper()
				scanErr, textErr, compatErr := validJSON(b), jsontextValidate(b), jsontextCompatValidate(b)
				if (scanErr == nil) != (textErr == nil) || (scanErr == nil) != (compatErr == nil) {
					t.Fatalf("%s: validJSON: %v; jsontext: %v; jsontext-compat: %v; body %q", what, scanErr, textErr, compatErr, b)
				}
			}
			for n := range len(nb.body) {
				check(fmt.Sprintf("prefix of %d bytes", n), nb.body[:n])
			}
			b := bytes.Clone(nb.body)
			for i := range b {
				orig := b[i]
				for _, c := range edits {
					if c != orig {
						b[i] = c
						check(fmt.Sprintf("byte %d set to %q", i, c), b)
					}
				}
				b[i] = orig
			}
		})
	}
}

// BenchmarkValidate measures a whole validation of one body by each
// validator: every sample, a 1 MB USER body and one nesting 64 levels.
// Besides ns/op it reports cpu-ns/op, the process's CPU time per
// validation, which a machine shared with other work inflates far less.
// Compare with: benchstat -col /impl FILE
func BenchmarkValidate(b *testing.B) {
	for _, nb := range compareBodies(b) {
		for _, impl := range compareImpls {
			b.Run("body="+nb.name+"/impl="+impl.name, func(b *testing.B) {
				b.SetBytes(int64(len(nb.body)))
				b.ReportAllocs()
				cpu0, cpuOK := processCPUTime()
				for b.Loop() {
					if err := impl.valid(nb.body); err != nil {
						b.Fatal(err)
					}
				}
				if cpu1, ok := processCPUTime(); cpuOK && ok {
					b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}
