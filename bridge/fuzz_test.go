package bridge_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// FuzzNormalize drives the whole pipeline a delivery goes through (envelope
// parsing, routing, company keys, CloudEvents encoding), seeded with every
// shipped sample: it never panics, and whatever it accepts becomes a valid
// JSON CloudEvent whose data is the input byte for byte.
func FuzzNormalize(f *testing.F) {
	paths, err := filepath.Glob("testdata/samples/*.json")
	if err != nil || len(paths) == 0 {
		f.Fatalf("no samples: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"uuid":"e","resource":{"type":"USER","content":{"memberships":[{"company":{"id":"a,b"}},{"company":{"id":7}}]}},"resourceAction":"DELETED"}`))
	f.Add([]byte(`{"uuid":"\u0065","resource":{"type":"MEMBERSHIP","url":"https://h/companies/%zz/users/u"},"resourceAction":"ADDED"}`))
	n := topics.Naming{Prefix: "f."}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := topics.Normalize(body, n, nil)
		if err != nil {
			if !json.Valid(body) && ev.Resource != nil {
				t.Fatalf("invalid JSON was routed to %s", ev.Resource.Name)
			}
			return
		}
		var ce struct {
			SpecVersion string          `json:"specversion"`
			ID          string          `json:"id"`
			Type        string          `json:"type"`
			Data        json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(ev.Record.Value, &ce); err != nil {
			t.Fatalf("record value is not JSON: %v\n%s", err, ev.Record.Value)
		}
		// The raw body is embedded as the last member: the value must end
		// with `"data":` + body + `}`.
		suffix := append(append([]byte(`"data":`), body...), '}')
		if !bytes.HasSuffix(ev.Record.Value, suffix) {
			t.Fatalf("data is not the input byte for byte")
		}
		if ce.SpecVersion != "1.0" || ce.ID != ev.Envelope.ID || ce.Type != "com.appdirect."+ev.Resource.Name+"."+string(ev.Action) {
			t.Fatalf("CloudEvent attributes %+v for event %q", ce, ev.Envelope.ID)
		}
		if len(ev.Record.Key) == 0 || ev.Record.Topic != n.Topic(ev.Resource.Name) {
			t.Fatalf("record key %q topic %q", ev.Record.Key, ev.Record.Topic)
		}
	})
}
