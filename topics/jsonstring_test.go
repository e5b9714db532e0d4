package topics

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestAppendJSONString(t *testing.T) {
	tests := []struct {
		name string
		give string
	}{
		{name: "empty", give: ""},
		{name: "plain", give: "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21"},
		{name: "quotes", give: `say "hi"`},
		{name: "only a quote", give: `"`},
		{name: "backslash", give: `C:\path\to`},
		{name: "escaped-looking", give: `\u0041\n`},
		{name: "newline, return, tab", give: "a\nb\rc\td"},
		{name: "NUL", give: "a\x00b"},
		{name: "every C0 control", give: "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"},
		{name: "DEL", give: "a\x7fb"},
		{name: "HTML", give: "<script>alert('x') && 1</script>"},
		{name: "slash", give: "https://acme.byappdirect.com/api"},
		{name: "Latin-1", give: "Société Générale, Zürich"},
		{name: "CJK", give: "日本語のテキスト"},
		{name: "emoji", give: "ok 🎉👍🏽"},
		{name: "line and paragraph separators", give: "a\u2028b\u2029c"},
		{name: "BOM and max rune", give: "\ufeff\U0010ffff"},
		{name: "replacement character itself", give: "\ufffd"},
		{name: "invalid byte", give: "Jos\xe9"},
		{name: "lone continuation byte", give: "\x80abc"},
		{name: "truncated sequence", give: "abc\xe2\x82"},
		{name: "truncated sequence then ASCII", give: "\xe2\x82z"},
		{name: "overlong encoding", give: "\xc0\xaf"},
		{name: "UTF-16 surrogate as UTF-8", give: "\xed\xa0\x80"},
		{name: "beyond U+10FFFF", give: "\xf4\x90\x80\x80"},
		{name: "all invalid", give: "\xff\xfe\xfd"},
		{name: "mixed", give: "\"\xff\\\n\u00e9\x01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const prefix = `{"k":`
			got := AppendJSONString([]byte(prefix), tt.give)
			if !bytes.HasPrefix(got, []byte(prefix)) {
				t.Fatalf("AppendJSONString lost what it appended to: %q", got)
			}
			got = got[len(prefix):]
			if !json.Valid(got) || !utf8.Valid(got) {
				t.Fatalf("AppendJSONString(%q) = %q, not valid UTF-8 JSON", tt.give, got)
			}
			for _, c := range got {
				if c < 0x20 {
					t.Fatalf("AppendJSONString(%q) = %q holds a raw control character", tt.give, got)
				}
			}
			ref, err := json.Marshal(tt.give)
			if err != nil {
				t.Fatal(err)
			}
			var gotS, wantS string
			if err := json.Unmarshal(got, &gotS); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(ref, &wantS); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantS, gotS); diff != "" {
				t.Errorf("AppendJSONString(%q) = %s decodes differently from encoding/json's %s (-want +got):\n%s", tt.give, got, ref, diff)
			}
			if utf8.ValidString(tt.give) && gotS != tt.give {
				t.Errorf("valid UTF-8 %q did not round-trip: %q", tt.give, gotS)
			}
		})
	}
}
