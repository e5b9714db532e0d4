package topics

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// addExampleSeeds adds the example payloads of APPDIRECT.md §7.
func addExampleSeeds(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "appdirect", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no example payloads in testdata/appdirect: %v", err)
	}
	for _, name := range files {
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
}

// invalidSeeds are bodies that must be refused, one per kind of refusal.
var invalidSeeds = []string{
	``,
	` `,
	`{`,
	`[]`,
	`null`,
	`"uuid"`,
	`{"uuid":"e1"}`,
	`{"uuid":"e1","uuid":"e2","resource":{"type":"USER"},"resourceAction":"ADDED"}`,
	`{"uuid":"e1","\u0075uid":"e2","resource":{"type":"USER"},"resourceAction":"ADDED"}`,
	"{\"uuid\":\"e\xff\",\"resource\":{\"type\":\"USER\"},\"resourceAction\":\"ADDED\"}",
	`{"uuid":"e1","timestamp":"1718035200123","resource":{"type":"USER"},"resourceAction":"ADDED"}`,
	`{"uuid":"e1","timestamp":-1,"resource":{"type":"USER"},"resourceAction":"ADDED"}`,
	`{"uuid":"e1","timestamp":1.5,"resource":{"type":"USER"},"resourceAction":"ADDED"}`,
	`{"uuid":"e1","resource":{"type":{}},"resourceAction":"ADDED"}`,
	`{"uuid":"e1","resource":[],"resourceAction":"ADDED"}`,
	`{"uuid":1,"resource":{"type":"USER"},"resourceAction":"ADDED"}`,
	`{"resourceAction":1,"uuid":"e1","resource":{"type":"USER"}}`,
	`{"uuid":"e1","resource":{"type":"USER"},"resourceAction":"ADDED"}x`,
	strings.Repeat("[", 100),
	`{"uuid":"e1","resource":{"type":"USER","content":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70) + `},"resourceAction":"ADDED"}`,
}

// validSeeds reach every company rule.
var validSeeds = []string{
	okBody,
	`{"uuid":"e1","resource":{"type":"MEMBERSHIP","uuid":"u1","url":"https://m.example/api/account/v1/companies/caf%C3%A9/users/u1"},"resourceAction":"REMOVED"}`,
	`{"uuid":"e1","resource":{"type":"USER","uuid":"u1","content":{"memberships":[{"company":{"id":"c1"}},{"company":{"id":5}},{"company":{"id":"c2"}}]}},"resourceAction":"CHANGED"}`,
	`{"uuid":"e1","resource":{"type":"SUBSCRIPTION","uuid":"s1","content":{"company":{"id":"c1"},"order":{"company":{"id":"c2"}}}},"resourceAction":"ADDED"}`,
	`{"uuid":"e1","resource":{"type":"APP_ASSIGNMENT","content":{"companyUuid":"c1"}},"resourceAction":"ADDED"}`,
	`{"uuid":"e1","resource":{"type":"COMPANY","uuid":"c1"},"resourceAction":"DELETED"}`,
	`{"\u0075uid":"e\u0031","resource":{"type":"ORDER","uuid":"","content":{"c\u006fmpany":{"id":"c\u00e9"}}},"resourceAction":"ADDED","timestamp":1.718035200123e12}`,
	`{"\u0075uid":"e1","resource":{"typ\u0065":"USER"},"resourceAction":"ADDED","timestamp":1718035200123}`,
}

// FuzzParseEnvelope checks ParseEnvelope and the routing that follows it on
// arbitrary bodies: it never panics, accepts only what encoding/json accepts
// and reads the same fields encoding/json reads, and every accepted event of
// a known resource gets a non-empty key.
func FuzzParseEnvelope(f *testing.F) {
	addExampleSeeds(f)
	for _, s := range invalidSeeds {
		f.Add([]byte(s))
	}
	for _, s := range validSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		env, err := ParseEnvelope(body)
		if !bytes.Equal(body, orig) {
			t.Fatalf("ParseEnvelope modified its input")
		}
		if !bytes.Equal(env.Raw, body) {
			t.Fatalf("Raw = %q, want the body", env.Raw)
		}
		valid := json.Valid(body)
		if err != nil {
			var eerr *EnvelopeError
			if !errors.As(err, &eerr) {
				t.Fatalf("error %v is %T, want *EnvelopeError", err, err)
			}
			if !valid && eerr.Code != CodeInvalidJSON {
				t.Fatalf("json.Valid is false but the code is %q (%v)", eerr.Code, err)
			}
			if eerr.Code != CodeInvalidJSON && eerr.Code != CodeInvalidEnvelope {
				t.Fatalf("code %q is not one ParseEnvelope returns", eerr.Code)
			}
			// A body the strict scanner accepts, whose envelope encoding/json
			// reads as complete, must not be refused.
			if eerr.Code == CodeInvalidEnvelope && completeEnvelope(body) {
				t.Fatalf("refused a complete envelope: %v: %q", err, body)
			}
			return
		}
		if !valid {
			t.Fatalf("ParseEnvelope accepted a body json.Valid refuses: %q", body)
		}
		if env.ID == "" || env.Type == "" || env.Action == "" {
			t.Fatalf("accepted with an empty field: ID %q, Type %q, Action %q", env.ID, env.Type, env.Action)
		}
		if len(env.ID) > maxIDLength {
			t.Fatalf("accepted a %d-byte uuid", len(env.ID))
		}
		if env.Content != nil && !json.Valid(env.Content) {
			t.Fatalf("Content %q is not JSON", env.Content)
		}
		oracle, oerr := decodeEnvelopeOracle(body)
		if oerr != nil {
			t.Fatalf("accepted, but encoding/json cannot read the envelope: %v", oerr)
		}
		if diff := cmp.Diff(oracle, parsedAsDecoded(t, env)); diff != "" {
			t.Fatalf("ParseEnvelope disagrees with encoding/json (-encoding/json +ParseEnvelope):\n%s", diff)
		}

		r, ok := Lookup(env.Type)
		if !ok {
			return
		}
		// Normalize looks the key's first member up among the content's
		// spans, which must give what walking the content gives.
		st := scanStates.Get().(*scanState)
		defer st.release()
		if _, err := parseEnvelope(body, st); err != nil {
			t.Fatalf("parseEnvelope refused what ParseEnvelope accepts: %v", err)
		}
		for _, index := range []CompanyIndex{nil, &fakeIndex{companies: map[string]string{r.Name + "/" + env.ResourceUUID: "c-idx"}}} {
			k := ChooseKey(r, &env, index)
			checkKey(t, k, &env)
			if diff := cmp.Diff(k, chooseKey(r, &env, index, st.content)); diff != "" {
				t.Fatalf("the key from the content's spans differs (-walked +spans):\n%s", diff)
			}
			if a, ok := ParseAction(env.Action); ok {
				rec := EventRecord(Naming{Prefix: "p."}, r, a, &env, k, nil)
				if string(rec.Key) != k.Value || rec.Topic != "p."+r.Name {
					t.Fatalf("record key %q topic %q, want %q and p.%s", rec.Key, rec.Topic, k.Value, r.Name)
				}
			}
		}
	})
}

// completeEnvelope reports whether encoding/json, reading members by their
// exact names, finds every required envelope field with the right type. It
// only vouches for timestamps written as plain integers.
func completeEnvelope(body []byte) bool {
	var top, res map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || top == nil {
		return false
	}
	str := func(raw json.RawMessage, optional bool) (string, bool) {
		var s string
		switch {
		case raw == nil || string(raw) == "null":
			return "", optional
		case raw[0] != '"':
			return "", false
		}
		return s, json.Unmarshal(raw, &s) == nil
	}
	// A key that differs from an envelope key only in case is refused on
	// purpose (encoding/json would match it case-insensitively).
	variant := func(m map[string]json.RawMessage, known ...string) bool {
		for k := range m {
			for _, kn := range known {
				if k != kn && strings.EqualFold(k, kn) {
					return true
				}
			}
		}
		return false
	}
	if variant(top, topKeys...) {
		return false
	}
	id, ok1 := str(top["uuid"], false)
	action, ok2 := str(top["resourceAction"], false)
	if !ok1 || !ok2 || id == "" || len(id) > maxIDLength || action == "" {
		return false
	}
	if ts, ok := top["timestamp"]; ok && string(ts) != "null" {
		ms, err := strconv.ParseInt(string(ts), 10, 64)
		if err != nil || ms < 0 || ms > MaxTimestampMillis {
			return false
		}
	}
	if r := top["resource"]; r == nil || r[0] != '{' || json.Unmarshal(r, &res) != nil || variant(res, resourceKeys...) {
		return false
	}
	typ, ok := str(res["type"], false)
	_, ok3 := str(res["uuid"], true)
	_, ok4 := str(res["url"], true)
	return ok && ok3 && ok4 && typ != ""
}

// checkKey checks the invariants of a chosen key.
func checkKey(t *testing.T, k Key, env *Envelope) {
	t.Helper()
	if k.Value == "" {
		t.Fatalf("empty key for %+v", env)
	}
	switch k.Source {
	case SourceNone:
		if k.CompanyID != "" || k.CompanyIDs != nil {
			t.Fatalf("source none with companies: %+v", k)
		}
		want := env.ResourceUUID
		if !validCompanyID(want) { // empty, overlong, control characters, comma
			want = env.ID
		}
		if k.Value != want {
			t.Fatalf("source none key %q, want %q", k.Value, want)
		}
	case SourcePayload, SourceURL, SourceIndex:
		if k.Value != k.CompanyID || len(k.CompanyIDs) == 0 || k.CompanyIDs[0] != k.CompanyID {
			t.Fatalf("inconsistent key: %+v", k)
		}
		for i, id := range k.CompanyIDs {
			if !validCompanyID(id) {
				t.Fatalf("invalid company id %q in %+v", id, k)
			}
			if slices.Contains(k.CompanyIDs[:i], id) {
				t.Fatalf("repeated company id %q in %+v", id, k)
			}
		}
	default:
		t.Fatalf("unknown source %q", k.Source)
	}
}

// FuzzValidJSON compares validJSON and the walkers with encoding/json: they
// may refuse more (duplicate keys, invalid UTF-8, deep nesting) but never
// accept what encoding/json refuses, and on accepted objects and arrays
// members and elements see exactly what encoding/json decodes.
func FuzzValidJSON(f *testing.F) {
	addExampleSeeds(f)
	for _, s := range append(invalidSeeds, validSeeds...) {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`-0`, `1E+5`, `0.5`, `01`, `1.`, `.5`, `+1`, `NaN`, `"\"`, `"\ud800\udc00"`,
		`{"a":{"b":1},"b":2}`, `[{"a":1},{"a":2}]`, `{"\u0061":1,"a":2}`, manyKeys(40, `"k05":1`),
		`{"a\"b":[1,{"c":"]"}],"\\":null}`, "\"\xed\xa0\x80\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := validJSON(b)
		valid := json.Valid(b)
		if err == nil && !valid {
			t.Fatalf("validJSON accepted what json.Valid refuses: %q", b)
		}
		if err != nil {
			if valid {
				msg := err.Error()
				switch {
				case strings.HasPrefix(msg, "duplicate object key "):
				case strings.HasPrefix(msg, "invalid UTF-8 in string"):
					if utf8.Valid(b) {
						t.Fatalf("invalid UTF-8 reported in valid UTF-8: %q", b)
					}
				case strings.HasPrefix(msg, "nesting deeper than"):
				default:
					t.Fatalf("validJSON refused what json.Valid accepts, for no intended reason: %v: %q", err, b)
				}
			}
			return
		}
		checkSpans(t, b)
		switch b[skipWS(b, 0)] {
		case '{':
			var want map[string]string
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			for k, v := range m {
				want = mapSet(want, k, compact(t, v))
			}
			var got map[string]string
			n := 0
			members(b, func(k, v []byte) bool {
				n++
				got = mapSet(got, memberName(k), compact(t, v))
				return true
			})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("members disagrees with encoding/json (-encoding/json +members):\n%s", diff)
			}
			if n != len(m) {
				t.Fatalf("members visited %d members, encoding/json decoded %d", n, len(m))
			}
			for k, v := range m {
				if got, ok := member(b, k); !ok || compact(t, got) != compact(t, v) {
					t.Fatalf("member(%q) = %q, %v; want %q", k, got, ok, v)
				}
			}
		case '[':
			var want []string
			var a []json.RawMessage
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			for _, v := range a {
				want = append(want, compact(t, v))
			}
			var got []string
			elements(b, func(v []byte) bool {
				got = append(got, compact(t, v))
				return true
			})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("elements disagrees with encoding/json (-encoding/json +elements):\n%s", diff)
			}
		case '"':
			var want string
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			got, ok := decodeString(bytes.TrimSpace(b))
			if !ok || got != want {
				t.Fatalf("decodeString = %q, %v; want %q", got, ok, want)
			}
		}
	})
}

// checkSpans fails t unless the member spans scan notes for the valid
// document b are exactly what members walks: those of the top-level object,
// of the object in its "resource" member and of the object in that one's
// "content" member, in order.
func checkSpans(t *testing.T, b []byte) {
	t.Helper()
	st := scanStates.Get().(*scanState)
	defer st.release()
	if err := st.scan(b, true); err != nil {
		t.Fatalf("scan with spans refused what validJSON accepts: %v", err)
	}
	type kv struct{ K, V string }
	walk := func(obj []byte) (out []kv) {
		members(obj, func(k, v []byte) bool {
			out = append(out, kv{string(k), string(v)})
			return true
		})
		return out
	}
	noted := func(spans []span) (out []kv) {
		for _, m := range spans {
			out = append(out, kv{string(b[m.key:m.keyEnd]), string(b[m.val:m.end])})
		}
		return out
	}
	want := walk(b)
	var res, content []kv
	for _, m := range want {
		if memberName([]byte(m.K)) == "resource" {
			res = walk([]byte(m.V))
		}
	}
	for _, m := range res {
		if memberName([]byte(m.K)) == "content" {
			content = walk([]byte(m.V))
		}
	}
	if diff := cmp.Diff(want, noted(st.top)); diff != "" {
		t.Fatalf("top-level spans disagree with members (-members +spans):\n%s", diff)
	}
	if diff := cmp.Diff(res, noted(st.res)); diff != "" {
		t.Fatalf("resource spans disagree with members (-members +spans):\n%s", diff)
	}
	if diff := cmp.Diff(content, noted(st.content)); diff != "" {
		t.Fatalf("content spans disagree with members (-members +spans):\n%s", diff)
	}
}

func mapSet(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

func compact(t *testing.T, v []byte) string {
	t.Helper()
	var c bytes.Buffer
	if err := json.Compact(&c, v); err != nil {
		t.Fatalf("value %q is not JSON: %v", v, err)
	}
	return c.String()
}

// FuzzCompanyFromURL checks that whatever a url holds, the company taken
// from it is either absent or a usable company id.
func FuzzCompanyFromURL(f *testing.F) {
	for _, s := range []string{
		"https://m.example/api/account/v1/companies/c1/users/u1",
		"/api/account/v1/companies/caf%C3%A9%2Fx/users/u1?isExternalId=true",
		"https://m.example/api/account/v1/companies/%00/users/u1",
		"https://m.example/api/account/v1/companies/%zz",
		"http://[::1/companies/c1",
		"companies/c1",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		id := companyFromURL(raw)
		if id != "" && !validCompanyID(id) {
			t.Fatalf("companyFromURL(%q) = %q, not a valid company id", raw, id)
		}
		if id != "" && !strings.Contains(raw, "companies") {
			t.Fatalf("companyFromURL(%q) = %q from a url without a companies segment", raw, id)
		}
	})
}
