package topics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// okBody is a small valid envelope that error cases below start from.
const okBody = `{"uuid":"e1","timestamp":1718035200123,"resource":{"type":"USER","uuid":"u1","url":"https://m.example/api/account/v1/users/u1","content":{"id":"u1"}},"resourceAction":"ADDED"}`

// ts0 is okBody's timestamp, 1718035200123 ms after the epoch.
var ts0 = time.Date(2024, 6, 10, 16, 0, 0, 123_000_000, time.UTC)

// envelopeBody builds an envelope whose resource is the given JSON.
func envelopeBody(resource string) string {
	return `{"uuid":"e1","timestamp":1718035200123,"resource":` + resource + `,"resourceAction":"CHANGED"}`
}

// withContent builds a USER envelope whose content is the given JSON.
func withContent(content string) string {
	return envelopeBody(`{"type":"USER","uuid":"u1","content":` + content + `}`)
}

func TestParseEnvelope(t *testing.T) {
	uuid256 := strings.Repeat("é", 127) + "ab" // 256 bytes, 129 runes
	depth64 := strings.Repeat("[", 62) + strings.Repeat("]", 62)
	tests := []struct {
		name string
		give string
		want Envelope // Raw is always the body and is filled in by the test
	}{
		{
			name: "with content",
			give: okBody,
			want: Envelope{
				ID: "e1", Timestamp: ts0, Type: "USER", ResourceUUID: "u1",
				URL: "https://m.example/api/account/v1/users/u1", Content: []byte(`{"id":"u1"}`), Action: "ADDED",
			},
		},
		{
			name: "REMOVED without content",
			give: `{"uuid":"e2","timestamp":1718035200123,"resource":{"type":"SUBSCRIPTION","uuid":"s1","url":"https://m.example/api/billing/v1/subscriptions/s1"},"resourceAction":"REMOVED"}`,
			want: Envelope{
				ID: "e2", Timestamp: ts0, Type: "SUBSCRIPTION", ResourceUUID: "s1",
				URL: "https://m.example/api/billing/v1/subscriptions/s1", Action: "REMOVED",
			},
		},
		{
			name: "content null",
			give: `{"uuid":"e1","resource":{"type":"USER","content":null},"resourceAction":"CHANGED"}`,
			want: Envelope{ID: "e1", Type: "USER", Action: "CHANGED"},
		},
		{
			name: "timestamp absent",
			give: `{"uuid":"e1","resource":{"type":"USER"},"resourceAction":"ADDED"}`,
			want: Envelope{ID: "e1", Type: "USER", Action: "ADDED"},
		},
		{
			name: "timestamp null",
			give: `{"uuid":"e1","timestamp":null,"resource":{"type":"USER"},"resourceAction":"ADDED"}`,
			want: Envelope{ID: "e1", Type: "USER", Action: "ADDED"},
		},
		{
			name: "unknown keys are kept in Raw and do not shadow known ones",
			give: `{"marketplace":"acme","uuid":"e1","extra":{"uuid":"nested","resourceAction":"REMOVED"},"resource":{"type":"USER","partner":"APPDIRECT","more":[{"type":"COMPANY"}]},"resourceAction":"ADDED","zz":null}`,
			want: Envelope{ID: "e1", Type: "USER", Action: "ADDED"},
		},
		{
			name: "keys in any order, with whitespace",
			give: " \r\n\t{ \"resourceAction\" : \"CHANGED\" ,\n \"resource\" :\t{ \"content\" : { \"id\" : 1 } , \"url\" : \"u\" , \"type\" : \"ORDER\" , \"uuid\" : \"o1\" } , \"timestamp\" : 1718035200123 , \"uuid\" : \"e1\" }\n ",
			want: Envelope{ID: "e1", Timestamp: ts0, Type: "ORDER", ResourceUUID: "o1", URL: "u", Content: []byte(`{ "id" : 1 }`), Action: "CHANGED"},
		},
		{
			name: "escaped strings",
			give: `{"uuid":"e\u0031-\"q\"\/\u00e9\ud83d\ude80\\","resource":{"type":"US\u0045R","uuid":"u\tx","url":"https:\/\/m.example\/u"},"resourceAction":"ADD\u0045D"}`,
			want: Envelope{ID: "e1-\"q\"/é🚀\\", Type: "USER", ResourceUUID: "u\tx", URL: "https://m.example/u", Action: "ADDED"},
		},
		{
			name: "escaped member names",
			give: `{"\u0075uid":"e1","resourc\u0065":{"typ\u0065":"USER","\u0075rl":"u","\u0063ontent":{}},"resource\u0041ction":"ADDED"}`,
			want: Envelope{ID: "e1", Type: "USER", URL: "u", Content: []byte(`{}`), Action: "ADDED"},
		},
		{
			name: "resource.uuid and resource.url null",
			give: envelopeBody(`{"type":"USER","uuid":null,"url":null}`),
			want: Envelope{ID: "e1", Timestamp: ts0, Type: "USER", Action: "CHANGED"},
		},
		{
			name: "content that is not an object is kept",
			give: withContent(`["a",1]`),
			want: Envelope{ID: "e1", Timestamp: ts0, Type: "USER", ResourceUUID: "u1", Content: []byte(`["a",1]`), Action: "CHANGED"},
		},
		{
			name: "content string is kept",
			give: withContent(`"c1"`),
			want: Envelope{ID: "e1", Timestamp: ts0, Type: "USER", ResourceUUID: "u1", Content: []byte(`"c1"`), Action: "CHANGED"},
		},
		{
			name: "action and type are not checked here",
			give: `{"uuid":"e1","resource":{"type":"OPPORTUNITY"},"resourceAction":"DELETED"}`,
			want: Envelope{ID: "e1", Type: "OPPORTUNITY", Action: "DELETED"},
		},
		{
			name: "uuid of exactly 256 bytes",
			give: `{"uuid":"` + uuid256 + `","resource":{"type":"USER"},"resourceAction":"ADDED"}`,
			want: Envelope{ID: uuid256, Type: "USER", Action: "ADDED"},
		},
		{
			name: "nesting of exactly MaxDepth",
			give: withContent(depth64),
			want: Envelope{ID: "e1", Timestamp: ts0, Type: "USER", ResourceUUID: "u1", Content: []byte(depth64), Action: "CHANGED"},
		},
		{
			name: "object with many keys",
			give: withContent(manyKeys(40, "")),
			want: Envelope{ID: "e1", Timestamp: ts0, Type: "USER", ResourceUUID: "u1", Content: []byte(manyKeys(40, "")), Action: "CHANGED"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.give)
			got, err := ParseEnvelope(body)
			if err != nil {
				t.Fatalf("ParseEnvelope() error = %v, want nil", err)
			}
			tt.want.Raw = body
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseEnvelope() mismatch (-want +got):\n%s", diff)
			}
			// Content is a slice of the body, never a re-encoding.
			if got.Content != nil && !bytes.Contains(body, got.Content) {
				t.Errorf("Content %q is not part of the body", got.Content)
			}
		})
	}
}

// manyKeys is a JSON object with n members "k00", "k01", ... followed by
// extra (which may add a duplicate).
func manyKeys(n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%02d":%d`, i, i)
	}
	if extra != "" {
		b.WriteString("," + extra)
	}
	b.WriteString("}")
	return b.String()
}

func TestParseEnvelopeErrors(t *testing.T) {
	notJSON := func(msg string, off int) string {
		return fmt.Sprintf("body is not valid JSON: %s at byte %d", msg, off)
	}
	dupAt := func(body, key string) string {
		return notJSON(fmt.Sprintf("duplicate object key %q", key), strings.LastIndex(body, `"`+key+`"`))
	}
	var (
		dupTop          = `{"uuid":"e1","uuid":"e2","resource":{"type":"USER"},"resourceAction":"ADDED"}`
		dupEscaped      = `{"uuid":"e1","\u0075uid":"e2","resource":{"type":"USER"},"resourceAction":"ADDED"}`
		dupResource     = `{"uuid":"e1","resource":{"type":"USER","uuid":"u1","type":"COMPANY"},"resourceAction":"ADDED"}`
		dupDeep         = withContent(`{"order":{"company":{"id":"c1","href":"h","id":"c2"}}}`)
		dupManyEarly    = withContent(manyKeys(40, `"k05":5`))
		dupManyLate     = withContent(manyKeys(40, `"k35":5`))
		dupManyBoundary = withContent(manyKeys(33, `"k32":5`))
		dupInArray      = withContent(`{"memberships":[{"company":{"id":"c1"}},{"company":{"id":"c2","id":"c3"}}]}`)
		tooDeep         = withContent(strings.Repeat("[", 63) + strings.Repeat("]", 63))
		trailing        = okBody + "x"
		badUTF8         = "{\"uuid\":\"e\xff1\",\"resource\":{\"type\":\"USER\"},\"resourceAction\":\"ADDED\"}"
		badUTF8Deep     = withContent("{\"name\":\"caf\xc3\"}")
		surrogateUTF8   = withContent("{\"name\":\"\xed\xa0\x80\"}")
		overlongUTF8    = withContent("{\"name\":\"\xc0\xaf\"}")
		ctrlInString    = withContent("{\"name\":\"a\nb\"}")
		uuid257         = strings.Repeat("é", 128) + "a"
	)
	tests := []struct {
		name       string
		give       string
		wantCode   string
		wantDetail string
		wantID     string
	}{
		{name: "empty body", give: "", wantCode: CodeInvalidJSON, wantDetail: notJSON("empty body", 0)},
		{name: "whitespace only", give: " \t\r\n ", wantCode: CodeInvalidJSON, wantDetail: notJSON("empty body", 5)},
		{name: "not JSON", give: "hello", wantCode: CodeInvalidJSON, wantDetail: notJSON("invalid character 'h' looking for a value", 0)},
		{name: "form encoded", give: "uuid=e1&type=USER", wantCode: CodeInvalidJSON, wantDetail: notJSON("invalid character 'u' looking for a value", 0)},
		{name: "byte order mark", give: "\xef\xbb\xbf" + okBody, wantCode: CodeInvalidJSON, wantDetail: notJSON("invalid character 'ï' looking for a value", 0)},
		{name: "truncated after a member", give: `{"uuid":"e1"`, wantCode: CodeInvalidJSON, wantDetail: notJSON("unexpected end of JSON in object", 12)},
		{name: "truncated in a string", give: `{"uuid":"e1`, wantCode: CodeInvalidJSON, wantDetail: notJSON("unexpected end of JSON in string", 11)},
		{name: "truncated whole body", give: okBody[:len(okBody)-1], wantCode: CodeInvalidJSON, wantDetail: notJSON("unexpected end of JSON in object", len(okBody)-1)},
		{name: "top-level array", give: `[]`, wantCode: CodeInvalidEnvelope, wantDetail: "body is a JSON array, not an object"},
		{name: "top-level array of envelopes", give: "[" + okBody + "]", wantCode: CodeInvalidEnvelope, wantDetail: "body is a JSON array, not an object"},
		{name: "top-level number", give: `42`, wantCode: CodeInvalidEnvelope, wantDetail: "body is a JSON number, not an object"},
		{name: "top-level negative number", give: ` -1 `, wantCode: CodeInvalidEnvelope, wantDetail: "body is a JSON number, not an object"},
		{name: "top-level string", give: `"e1"`, wantCode: CodeInvalidEnvelope, wantDetail: "body is a JSON string, not an object"},
		{name: "top-level null", give: `null`, wantCode: CodeInvalidEnvelope, wantDetail: "body is a JSON null, not an object"},
		{name: "top-level boolean", give: `true`, wantCode: CodeInvalidEnvelope, wantDetail: "body is a JSON boolean, not an object"},
		{name: "invalid UTF-8 in uuid", give: badUTF8, wantCode: CodeInvalidJSON, wantDetail: notJSON("invalid UTF-8 in string", 10)},
		{name: "truncated UTF-8 sequence deep in content", give: badUTF8Deep, wantCode: CodeInvalidJSON, wantDetail: notJSON("invalid UTF-8 in string", strings.Index(badUTF8Deep, "\xc3"))},
		{name: "UTF-8 encoded surrogate", give: surrogateUTF8, wantCode: CodeInvalidJSON, wantDetail: notJSON("invalid UTF-8 in string", strings.Index(surrogateUTF8, "\xed"))},
		{name: "overlong UTF-8", give: overlongUTF8, wantCode: CodeInvalidJSON, wantDetail: notJSON("invalid UTF-8 in string", strings.Index(overlongUTF8, "\xc0"))},
		{name: "raw control character in string", give: ctrlInString, wantCode: CodeInvalidJSON, wantDetail: notJSON("control character in string", strings.Index(ctrlInString, "\n"))},
		{name: "duplicate top-level key", give: dupTop, wantCode: CodeInvalidJSON, wantDetail: notJSON(`duplicate object key "uuid"`, 13)},
		{name: "duplicate key spelled with an escape", give: dupEscaped, wantCode: CodeInvalidJSON, wantDetail: notJSON(`duplicate object key "uuid"`, 13)},
		{name: "duplicate key in resource", give: dupResource, wantCode: CodeInvalidJSON, wantDetail: dupAt(dupResource, "type")},
		{name: "duplicate key deep in content", give: dupDeep, wantCode: CodeInvalidJSON, wantDetail: dupAt(dupDeep, "id")},
		{name: "duplicate key in an array element", give: dupInArray, wantCode: CodeInvalidJSON, wantDetail: dupAt(dupInArray, "id")},
		{name: "duplicate of an early key in a 40-key object", give: dupManyEarly, wantCode: CodeInvalidJSON, wantDetail: dupAt(dupManyEarly, "k05")},
		{name: "duplicate of a late key in a 40-key object", give: dupManyLate, wantCode: CodeInvalidJSON, wantDetail: dupAt(dupManyLate, "k35")},
		{name: "duplicate of the 33rd key", give: dupManyBoundary, wantCode: CodeInvalidJSON, wantDetail: dupAt(dupManyBoundary, "k32")},
		{name: "nesting deeper than MaxDepth", give: tooDeep, wantCode: CodeInvalidJSON, wantDetail: notJSON("nesting deeper than 64 levels", strings.Index(tooDeep, "[")+62)},
		// The scan stops at the 65th bracket: byte 64 of 100000.
		{name: "array depth bomb", give: strings.Repeat("[", 100000), wantCode: CodeInvalidJSON, wantDetail: notJSON("nesting deeper than 64 levels", 64)},
		{name: "object depth bomb", give: strings.Repeat(`{"a":`, 100000), wantCode: CodeInvalidJSON, wantDetail: notJSON("nesting deeper than 64 levels", 64*5)},
		{name: "trailing garbage", give: trailing, wantCode: CodeInvalidJSON, wantDetail: notJSON("unexpected data after the top-level value", len(okBody))},
		{name: "two objects", give: okBody + "\n" + okBody, wantCode: CodeInvalidJSON, wantDetail: notJSON("unexpected data after the top-level value", len(okBody)+1)},
		{name: "trailing comma", give: okBody + ",", wantCode: CodeInvalidJSON, wantDetail: notJSON("unexpected data after the top-level value", len(okBody))},
		{name: "trailing NUL", give: okBody + "\x00", wantCode: CodeInvalidJSON, wantDetail: notJSON("unexpected data after the top-level value", len(okBody))},
		{name: "comma before closing brace", give: `{"uuid":"e1",}`, wantCode: CodeInvalidJSON, wantDetail: notJSON("expected a string object key", 13)},

		{name: "timestamp not a number", give: strings.Replace(okBody, `1718035200123`, `"abc"`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp must be a number of epoch milliseconds, got a string", wantID: "e1"},
		{name: "timestamp as a string of digits", give: strings.Replace(okBody, `1718035200123`, `"1718035200123"`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp must be a number of epoch milliseconds, got a string", wantID: "e1"},
		{name: "timestamp fractional", give: strings.Replace(okBody, `1718035200123`, `1718035200123.5`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp 1718035200123.5 is not a whole number of epoch milliseconds", wantID: "e1"},
		{name: "timestamp negative", give: strings.Replace(okBody, `1718035200123`, `-1`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp -1 is out of range", wantID: "e1"},
		{name: "timestamp negative in exponent form", give: strings.Replace(okBody, `1718035200123`, `-1e3`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp -1e3 is out of range", wantID: "e1"},
		{name: "timestamp above 2^53", give: strings.Replace(okBody, `1718035200123`, `9007199254740993`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp 9007199254740993 is out of range", wantID: "e1"},
		{name: "timestamp beyond int64", give: strings.Replace(okBody, `1718035200123`, `99999999999999999999`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp 99999999999999999999 is out of range", wantID: "e1"},
		{name: "timestamp beyond float64", give: strings.Replace(okBody, `1718035200123`, `1e400`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp 1e400 is out of range", wantID: "e1"},
		{name: "timestamp after year 9999", give: strings.Replace(okBody, `1718035200123`, `253402300800000`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp 253402300800000 is out of range", wantID: "e1"},
		{name: "timestamp a float would round to whole", give: strings.Replace(okBody, `1718035200123`, `1718174286668.0001`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp 1718174286668.0001 is not a whole number of epoch milliseconds", wantID: "e1"},
		{name: "timestamp a float would round to 2^53", give: strings.Replace(okBody, `1718035200123`, `9007199254740992.4`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp 9007199254740992.4 is not a whole number of epoch milliseconds", wantID: "e1"},
		{name: "timestamp a float would round to zero", give: strings.Replace(okBody, `1718035200123`, `1e-400`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp 1e-400 is not a whole number of epoch milliseconds", wantID: "e1"},
		{name: "timestamp with a huge exponent", give: strings.Replace(okBody, `1718035200123`, `1e999999999999999999`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp 1e999999999999999999 is out of range", wantID: "e1"},
		{name: "timestamp boolean", give: strings.Replace(okBody, `1718035200123`, `true`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp must be a number of epoch milliseconds, got a JSON boolean", wantID: "e1"},
		{name: "timestamp object", give: strings.Replace(okBody, `1718035200123`, `{"ms":1}`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "timestamp must be a number of epoch milliseconds, got a JSON object", wantID: "e1"},

		{name: "uuid missing", give: `{"resource":{"type":"USER"},"resourceAction":"ADDED"}`, wantCode: CodeInvalidEnvelope, wantDetail: "uuid is missing or empty"},
		{name: "uuid empty", give: strings.Replace(okBody, `"uuid":"e1"`, `"uuid":""`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "uuid is missing or empty"},
		{name: "uuid only in another case", give: `{"UUID":"e1","resource":{"type":"USER"},"resourceAction":"ADDED"}`, wantCode: CodeInvalidEnvelope, wantDetail: `key "UUID" differs from "uuid" only in case`},
		{name: "uuid beside a case variant", give: `{"uuid":"e1","UUID":"e2","resource":{"type":"USER"},"resourceAction":"ADDED"}`, wantCode: CodeInvalidEnvelope, wantDetail: `key "UUID" differs from "uuid" only in case`, wantID: "e1"},
		{name: "resource key case variant", give: `{"uuid":"e1","resource":{"type":"USER","Type":"COMPANY"},"resourceAction":"ADDED"}`, wantCode: CodeInvalidEnvelope, wantDetail: `key "resource.Type" differs from "resource.type" only in case`, wantID: "e1"},
		{name: "uuid null", give: strings.Replace(okBody, `"uuid":"e1"`, `"uuid":null`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "uuid must be a string, got a JSON null"},
		{name: "uuid number", give: strings.Replace(okBody, `"uuid":"e1"`, `"uuid":1`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "uuid must be a string, got a JSON number"},
		{name: "uuid array", give: strings.Replace(okBody, `"uuid":"e1"`, `"uuid":["e1"]`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "uuid must be a string, got a JSON array"},
		{name: "uuid longer than 256 bytes", give: strings.Replace(okBody, `"uuid":"e1"`, `"uuid":"`+uuid257+`"`, 1), wantCode: CodeInvalidEnvelope, wantDetail: "uuid is longer than 256 bytes", wantID: uuid257},

		{name: "resource missing", give: `{"uuid":"e1","resourceAction":"ADDED"}`, wantCode: CodeInvalidEnvelope, wantDetail: "resource is missing", wantID: "e1"},
		{name: "resource null", give: `{"uuid":"e1","resource":null,"resourceAction":"ADDED"}`, wantCode: CodeInvalidEnvelope, wantDetail: "resource is missing", wantID: "e1"},
		{name: "resource array", give: `{"uuid":"e1","resource":[{"type":"USER"}],"resourceAction":"ADDED"}`, wantCode: CodeInvalidEnvelope, wantDetail: "resource is a JSON array, not an object", wantID: "e1"},
		{name: "resource string", give: `{"uuid":"e1","resource":"USER","resourceAction":"ADDED"}`, wantCode: CodeInvalidEnvelope, wantDetail: "resource is a JSON string, not an object", wantID: "e1"},
		{name: "resource empty object", give: `{"uuid":"e1","resource":{},"resourceAction":"REMOVED"}`, wantCode: CodeInvalidEnvelope, wantDetail: "resource.type is missing or empty", wantID: "e1"},
		{name: "resource.type missing", give: envelopeBody(`{"uuid":"u1"}`), wantCode: CodeInvalidEnvelope, wantDetail: "resource.type is missing or empty", wantID: "e1"},
		{name: "resource.type empty", give: envelopeBody(`{"type":""}`), wantCode: CodeInvalidEnvelope, wantDetail: "resource.type is missing or empty", wantID: "e1"},
		{name: "resource.type object", give: envelopeBody(`{"type":{"name":"USER"}}`), wantCode: CodeInvalidEnvelope, wantDetail: "resource.type must be a string, got a JSON object", wantID: "e1"},
		{name: "resource.type null", give: envelopeBody(`{"type":null}`), wantCode: CodeInvalidEnvelope, wantDetail: "resource.type must be a string, got a JSON null", wantID: "e1"},
		{name: "resource.url number", give: envelopeBody(`{"type":"USER","url":42}`), wantCode: CodeInvalidEnvelope, wantDetail: "resource.url must be a string, got a JSON number", wantID: "e1"},
		{name: "resource.uuid object", give: envelopeBody(`{"type":"USER","uuid":{}}`), wantCode: CodeInvalidEnvelope, wantDetail: "resource.uuid must be a string, got a JSON object", wantID: "e1"},
		{name: "resource.uuid boolean before a good type", give: envelopeBody(`{"uuid":false,"type":"USER"}`), wantCode: CodeInvalidEnvelope, wantDetail: "resource.uuid must be a string, got a JSON boolean", wantID: "e1"},

		{name: "resourceAction missing", give: `{"uuid":"e1","resource":{"type":"USER"}}`, wantCode: CodeInvalidEnvelope, wantDetail: "resourceAction is missing or empty", wantID: "e1"},
		{name: "resourceAction empty", give: `{"uuid":"e1","resource":{"type":"USER"},"resourceAction":""}`, wantCode: CodeInvalidEnvelope, wantDetail: "resourceAction is missing or empty", wantID: "e1"},
		{name: "resourceAction number", give: `{"uuid":"e1","resource":{"type":"USER"},"resourceAction":1}`, wantCode: CodeInvalidEnvelope, wantDetail: "resourceAction must be a string, got a JSON number", wantID: "e1"},
		// The ID is read whatever the order of the members.
		{name: "bad resourceAction before the uuid", give: `{"resourceAction":["ADDED"],"resource":{"type":"USER"},"uuid":"e9"}`, wantCode: CodeInvalidEnvelope, wantDetail: "resourceAction must be a string, got a JSON array", wantID: "e9"},
		{name: "bad resource before the uuid", give: `{"resource":{"type":7},"resourceAction":"ADDED","uuid":"e9"}`, wantCode: CodeInvalidEnvelope, wantDetail: "resource.type must be a string, got a JSON number", wantID: "e9"},
		{name: "escaped uuid member with a bad resource", give: `{"resource":[],"\u0075uid":"e9"}`, wantCode: CodeInvalidEnvelope, wantDetail: "resource is a JSON array, not an object", wantID: "e9"},
		// Nothing is read from a body that is not JSON.
		{name: "no ID from invalid JSON", give: trailing, wantCode: CodeInvalidJSON, wantDetail: notJSON("unexpected data after the top-level value", len(okBody))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.give)
			env, err := ParseEnvelope(body)
			var eerr *EnvelopeError
			if !errors.As(err, &eerr) {
				t.Fatalf("ParseEnvelope() error = %v (%T), want an *EnvelopeError", err, err)
			}
			type result struct{ Code, Detail, ID string }
			want := result{tt.wantCode, tt.wantDetail, tt.wantID}
			got := result{eerr.Code, eerr.Detail, env.ID}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParseEnvelope() mismatch (-want +got):\n%s", diff)
			}
			if err.Error() != eerr.Code+": "+eerr.Detail {
				t.Errorf("Error() = %q, want code: detail", err.Error())
			}
			if !bytes.Equal(env.Raw, body) {
				t.Errorf("Raw = %q, want the body", env.Raw)
			}
		})
	}
}

func TestParseEnvelopeTimestamp(t *testing.T) {
	tests := []struct {
		name string
		give string // the JSON value of "timestamp"
		want time.Time
	}{
		{name: "documented example", give: "1718035200123", want: ts0},
		{name: "another example", give: "1487230205455", want: time.Date(2017, 2, 16, 7, 30, 5, 455_000_000, time.UTC)},
		{name: "epoch", give: "0", want: time.Unix(0, 0).UTC()},
		{name: "negative zero", give: "-0", want: time.Unix(0, 0).UTC()},
		{name: "whole number with a fraction part", give: "1718035200123.0", want: ts0},
		{name: "exponent form", give: "1.718035200123e12", want: ts0},
		{name: "upper-case exponent", give: "1718035200123E0", want: ts0},
		{name: "largest accepted", give: "253402300799999", want: time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)},
		{name: "largest accepted, exponent form", give: "2.53402300799999e14", want: time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)},
		{name: "trailing zeros of a fraction", give: "1718035200.12300e3", want: ts0},
		{name: "zero with a huge exponent", give: "0.0e999999999999", want: time.Unix(0, 0).UTC()},
		{name: "absent is zero", give: "", want: time.Time{}},
		{name: "null is zero", give: "null", want: time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := ""
			if tt.give != "" {
				ts = `"timestamp":` + tt.give + `,`
			}
			env, err := ParseEnvelope([]byte(`{"uuid":"e1",` + ts + `"resource":{"type":"USER"},"resourceAction":"ADDED"}`))
			if err != nil {
				t.Fatalf("ParseEnvelope() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, env.Timestamp); diff != "" {
				t.Errorf("Timestamp mismatch (-want +got):\n%s", diff)
			}
			if !env.Timestamp.IsZero() && env.Timestamp.Location() != time.UTC {
				t.Errorf("Timestamp location = %v, want UTC", env.Timestamp.Location())
			}
		})
	}
}

// TestParseEnvelopeTimestampFormat checks the documented example instant.
func TestParseEnvelopeTimestampFormat(t *testing.T) {
	env, err := ParseEnvelope([]byte(okBody))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("2024-06-10T16:00:00.123Z", env.Timestamp.Format(time.RFC3339Nano)); diff != "" {
		t.Errorf("Timestamp mismatch (-want +got):\n%s", diff)
	}
}

// decodedEnvelope is what encoding/json reads from a body, with exact (not
// case-folded) member names, as an independent oracle for ParseEnvelope.
type decodedEnvelope struct {
	ID, Type, ResourceUUID, URL, Action string
	Millis                              float64 // 0 when absent or null
	Content                             string  // compacted
}

func decodeWithEncodingJSON(t testing.TB, body []byte) decodedEnvelope {
	t.Helper()
	d, err := decodeEnvelopeOracle(body)
	if err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return d
}

// decodeEnvelopeOracle reads the envelope fields with encoding/json.
func decodeEnvelopeOracle(body []byte) (d decodedEnvelope, err error) {
	var top, res map[string]json.RawMessage
	must := func(e error) {
		if err == nil {
			err = e
		}
	}
	must(json.Unmarshal(body, &top))
	must(json.Unmarshal(top["uuid"], &d.ID))
	must(json.Unmarshal(top["resourceAction"], &d.Action))
	if ts, ok := top["timestamp"]; ok {
		must(json.Unmarshal(ts, &d.Millis))
	}
	must(json.Unmarshal(top["resource"], &res))
	must(json.Unmarshal(res["type"], &d.Type))
	if v, ok := res["uuid"]; ok {
		must(json.Unmarshal(v, &d.ResourceUUID))
	}
	if v, ok := res["url"]; ok {
		must(json.Unmarshal(v, &d.URL))
	}
	if v, ok := res["content"]; ok && string(v) != "null" {
		var c bytes.Buffer
		must(json.Compact(&c, v))
		d.Content = c.String()
	}
	return d, err
}

// TestParseEnvelopeExamples parses the example payloads of APPDIRECT.md §7
// and checks every field against encoding/json.
func TestParseEnvelopeExamples(t *testing.T) {
	tests := []struct {
		name string
		give string // file in testdata/appdirect
		want decodedEnvelope
	}{
		{name: "subscription added", give: "7.1-subscription-added.json", want: decodedEnvelope{ID: "7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09", Type: "SUBSCRIPTION", ResourceUUID: "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21", Action: "ADDED", Millis: 1718035200123}},
		{name: "user changed", give: "7.2-user-changed.json", want: decodedEnvelope{ID: "0c6f9e3d-58a2-4b1c-9d7e-31a4f2b8c5e6", Type: "USER", ResourceUUID: "a9d4e6b2-1c3f-4a58-b7e0-d2f1c9e8a704", Action: "CHANGED", Millis: 1718038800456}},
		{name: "company removed", give: "7.3-company-removed.json", want: decodedEnvelope{ID: "e2a7b9c4-6d13-4f8a-b05e-9c3d1a7f2e48", Type: "COMPANY", ResourceUUID: "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7", Action: "REMOVED", Millis: 1718042400789}},
		{name: "catalog product changed", give: "7.4-catalog-product-changed.json", want: decodedEnvelope{ID: "9b1d4c7e-2f5a-4e83-a6c0-7d8e1f2a3b54", Type: "CATALOG_PRODUCT", ResourceUUID: "665549", Action: "CHANGED", Millis: 1718046000012}},
		{name: "subscription removed", give: "7.5-subscription-removed.json", want: decodedEnvelope{ID: "41f8c2d6-7a3e-4b95-8e1c-5d2f9a0b7c63", Type: "SUBSCRIPTION", ResourceUUID: "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21", Action: "REMOVED", Millis: 1718049600345}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "appdirect", tt.give))
			if err != nil {
				t.Fatal(err)
			}
			env, err := ParseEnvelope(body)
			if err != nil {
				t.Fatalf("ParseEnvelope() error = %v", err)
			}
			oracle := decodeWithEncodingJSON(t, body)
			got := parsedAsDecoded(t, env)
			if diff := cmp.Diff(oracle, got); diff != "" {
				t.Errorf("ParseEnvelope() disagrees with encoding/json (-want +got):\n%s", diff)
			}
			// The hand-written fields pin the oracle itself.
			got.URL, got.Content = "", ""
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseEnvelope() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// parsedAsDecoded converts an Envelope to the oracle's shape.
func parsedAsDecoded(t testing.TB, env Envelope) decodedEnvelope {
	t.Helper()
	d := decodedEnvelope{ID: env.ID, Type: env.Type, ResourceUUID: env.ResourceUUID, URL: env.URL, Action: env.Action}
	if !env.Timestamp.IsZero() {
		d.Millis = float64(env.Timestamp.UnixMilli())
	}
	if env.Content != nil {
		var c bytes.Buffer
		if err := json.Compact(&c, env.Content); err != nil {
			t.Fatalf("Content %q is not JSON: %v", env.Content, err)
		}
		d.Content = c.String()
	}
	return d
}

// FuzzExactMillis compares exactMillis with math/big on numbers whose
// exponent is small enough for big.Rat to expand.
func FuzzExactMillis(f *testing.F) {
	for _, s := range []string{"1718174286668.0001", "9007199254740992.4", "1e-400", "2.53402300799999e14", "-0.0e5", "1718035200.12300e3", "253402300800000.0", "-1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 60 || !validNumber(s) {
			return
		}
		if _, exp, ok := strings.Cut(strings.ToLower(s), "e"); ok {
			if e, err := strconv.Atoi(exp); err != nil || e > 400 || e < -400 {
				return
			}
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("big.Rat cannot read %q", s)
		}
		ms, whole, err := exactMillis([]byte(s))
		if whole != r.IsInt() {
			t.Fatalf("exactMillis(%q) whole = %v, big.Rat says %v", s, whole, r.IsInt())
		}
		if !whole {
			return
		}
		inRange := r.Sign() >= 0 && r.Num().IsInt64() && r.Num().Int64() <= MaxTimestampMillis
		if (err == nil) != inRange || (inRange && ms != r.Num().Int64()) {
			t.Fatalf("exactMillis(%q) = %d, %v; big.Rat says %s (in range %v)", s, ms, err, r.RatString(), inRange)
		}
	})
}

// jsonNumber is RFC 8259's number grammar.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// validNumber reports whether s is one JSON number token.
func validNumber(s string) bool { return jsonNumber.MatchString(s) }
