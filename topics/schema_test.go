package topics_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// compileSchemas compiles the JSON Schema of every resource, by topic name,
// each registered under its $id as a consumer would.
func compileSchemas(t testing.TB) map[string]*jsonschema.Schema {
	t.Helper()
	out := map[string]*jsonschema.Schema{}
	for _, name := range topics.SchemaNames() {
		raw, ok := topics.Schema(name)
		if !ok {
			t.Fatalf("Schema(%q) is not ok, but SchemaNames lists it", name)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("schema %s: %v", name, err)
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if err := c.AddResource(topics.DataSchema(name), doc); err != nil {
			t.Fatalf("schema %s: %v", name, err)
		}
		s, err := c.Compile(topics.DataSchema(name))
		if err != nil {
			t.Fatalf("schema %s does not compile: %v", name, err)
		}
		out[name] = s
	}
	return out
}

// jsonInstance decodes a value for the validator.
func jsonInstance(t testing.TB, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%v: %.200s", err, b)
	}
	return v
}

func TestSchemasCoverTheCatalog(t *testing.T) {
	if diff := cmp.Diff(topics.Names(), topics.SchemaNames()); diff != "" {
		t.Errorf("SchemaNames (-want +got):\n%s", diff)
	}
	compileSchemas(t)
	for _, name := range topics.SchemaNames() {
		raw, _ := topics.Schema(name)
		var head struct {
			Schema string `json:"$schema"`
			ID     string `json:"$id"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			t.Fatal(err)
		}
		want := "urn:webhook-bridge:schema:" + name + ":v1"
		if head.Schema != "https://json-schema.org/draft/2020-12/schema" || head.ID != want || topics.DataSchema(name) != want {
			t.Errorf("%s: $schema %q, $id %q, DataSchema %q; want draft 2020-12 and %s", name, head.Schema, head.ID, topics.DataSchema(name), want)
		}
		raw[0] = 'x' // the caller's own copy
		if again, _ := topics.Schema(name); again[0] != '{' {
			t.Errorf("Schema(%q) returned shared bytes", name)
		}
	}
	for _, name := range []string{"", "deadletter", "company-index", "SUBSCRIPTION", "subscription.json", "../asyncapi.go", "schemas/user"} {
		if _, ok := topics.Schema(name); ok {
			t.Errorf("Schema(%q) is ok, want no schema", name)
		}
	}
}

// TestGoldenRecordsMatchTheirSchemas validates the value of every golden
// record of bridge/testdata/golden against the schema its dataschema names.
func TestGoldenRecordsMatchTheirSchemas(t *testing.T) {
	schemas := compileSchemas(t)
	for file, m := range goldenMessages(t) {
		t.Run(strings.TrimSuffix(file, ".json"), func(t *testing.T) {
			name, _ := topics.HeaderValue(m.Headers, topics.HeaderResource)
			var ce struct {
				DataSchema string `json:"dataschema"`
			}
			if err := json.Unmarshal(m.Value, &ce); err != nil {
				t.Fatal(err)
			}
			if ce.DataSchema != topics.DataSchema(name) {
				t.Fatalf("dataschema = %q, want %q", ce.DataSchema, topics.DataSchema(name))
			}
			if err := schemas[name].Validate(jsonInstance(t, m.Value)); err != nil {
				t.Errorf("value does not match %s: %v", ce.DataSchema, err)
			}
		})
	}
}

// TestSchemasRefuseWhatBreaksTheContract shows the schemas have teeth:
// values that break the contract fail them.
func TestSchemasRefuseWhatBreaksTheContract(t *testing.T) {
	schemas := compileSchemas(t)
	golden := goldenMessages(t)
	mutate := func(file string, f func(v map[string]any)) any {
		var v map[string]any
		if err := json.Unmarshal(golden[file].Value, &v); err != nil {
			t.Fatal(err)
		}
		f(v)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return jsonInstance(t, b)
	}
	data := func(v map[string]any) map[string]any { return v["data"].(map[string]any) }
	resource := func(v map[string]any) map[string]any { return data(v)["resource"].(map[string]any) }
	tests := []struct {
		name   string
		schema string
		file   string
		change func(v map[string]any)
	}{
		{"another resource's type", "subscription", "subscription-removed.json", func(v map[string]any) { v["type"] = "com.appdirect.user.removed" }},
		{"an action the resource lacks", "payment-instrument", "payment-instrument-changed.json", func(v map[string]any) {
			v["type"], data(v)["resourceAction"] = "com.appdirect.payment-instrument.removed", "REMOVED"
		}},
		{"type and resourceAction disagree", "subscription", "subscription-removed.json", func(v map[string]any) { v["type"] = "com.appdirect.subscription.added" }},
		{"another resource's dataschema", "subscription", "subscription-removed.json", func(v map[string]any) { v["dataschema"] = "urn:webhook-bridge:schema:user:v1" }},
		{"no dataschema", "subscription", "subscription-removed.json", func(v map[string]any) { delete(v, "dataschema") }},
		{"webhook of another type", "subscription", "subscription-removed.json", func(v map[string]any) { resource(v)["type"] = "USER" }},
		{"resource.type in lower case", "subscription", "subscription-removed.json", func(v map[string]any) { resource(v)["type"] = "subscription" }},
		{"unknown action", "subscription", "subscription-removed.json", func(v map[string]any) { data(v)["resourceAction"] = "ARCHIVED" }},
		{"no event uuid", "subscription", "subscription-removed.json", func(v map[string]any) { delete(data(v), "uuid") }},
		{"event uuid with a comma", "subscription", "subscription-removed.json", func(v map[string]any) { v["id"] = "a,b" }},
		{"a member spelled UUID", "subscription", "subscription-removed.json", func(v map[string]any) { data(v)["UUID"] = "other" }},
		{"a member spelled resource.Type", "subscription", "subscription-removed.json", func(v map[string]any) { resource(v)["Type"] = "USER" }},
		{"timestamp as a string", "subscription", "subscription-removed.json", func(v map[string]any) { data(v)["timestamp"] = "1718167935310" }},
		{"negative timestamp", "subscription", "subscription-removed.json", func(v map[string]any) { data(v)["timestamp"] = -1 }},
		{"other spec version", "subscription", "subscription-removed.json", func(v map[string]any) { v["specversion"] = "0.3" }},
		{"time without milliseconds", "subscription", "subscription-removed.json", func(v map[string]any) { v["time"] = "2024-06-12T04:52:15Z" }},
		{"upper-case source", "subscription", "subscription-removed.json", func(v map[string]any) { v["source"] = "https://ACME.byappdirect.com" }},
		{"source with a path", "subscription", "subscription-removed.json", func(v map[string]any) { v["source"] = "https://acme.byappdirect.com/api" }},
		{"other data content type", "user", "user-added.json", func(v map[string]any) { v["datacontenttype"] = "text/plain" }},
		{"empty company id", "user", "user-added.json", func(v map[string]any) { v["companyid"] = "" }},
		{"no data", "user", "user-added.json", func(v map[string]any) { delete(v, "data") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := schemas[tt.schema].Validate(mutate(tt.file, tt.change)); err == nil {
				t.Errorf("%s with %s passed", tt.file, tt.name)
			}
		})
	}
	// What the contract allows passes: an alias, unknown members, no
	// optional attributes.
	for name, f := range map[string]func(v map[string]any){
		"an alias": func(v map[string]any) { resource(v)["type"] = "SALES_LEAD" },
		"unknown members": func(v map[string]any) {
			v["partitionkey"], data(v)["marketplace"], resource(v)["links"] = "x", "m", []any{}
		},
		"no optional":         func(v map[string]any) { delete(v, "subject"); delete(v, "time"); delete(v, "companyid") },
		"DELETED for removed": func(v map[string]any) { data(v)["resourceAction"] = "DELETED" },
		"no timestamp or url": func(v map[string]any) {
			delete(data(v), "timestamp")
			delete(resource(v), "url")
			v["source"] = "appdirect"
		},
		"null uuid, url, time": func(v map[string]any) { data(v)["timestamp"], resource(v)["uuid"], resource(v)["url"] = nil, nil, nil },
	} {
		if err := schemas["lead"].Validate(mutate("lead-removed.json", f)); err != nil {
			t.Errorf("lead-removed.json with %s: %v", name, err)
		}
	}
}

// acceptedBodies are webhooks the bridge accepts at the edges of what it
// accepts, with the samples and the examples of APPDIRECT.md.
var acceptedBodies = []string{
	`{"uuid":"e1","resource":{"type":"DISCOUNT"},"resourceAction":"REMOVED"}`,
	`{"uuid":"e1","timestamp":null,"resource":{"type":"DISCOUNT","uuid":null,"url":null,"content":null},"resourceAction":"DELETED"}`,
	`{"uuid":"e1","timestamp":0,"resource":{"type":"PLATFORMS","uuid":"","url":"/api/p"},"resourceAction":"ADDED"}`,
	`{"uuid":"e1","timestamp":253402300799999,"resource":{"type":"SALES_LEAD","uuid":"l1"},"resourceAction":"CHANGED"}`,
	`{"uuid":"e1","timestamp":2.53402300799999e14,"resource":{"type":"QUOTE","uuid":"q1"},"resourceAction":"REMOVED"}`,
	`{"\u0075uid":"e\u0031","resource":{"type":"ORDER","uuid":"","content":{"c\u006fmpany":{"id":"c\u00e9"}}},"resourceAction":"ADDED","timestamp":1.718035200123e12}`,
	`{"uuid":"evt \"1\" \\ <&>","timestamp":1718035200123,"resource":{"type":"ORDER","uuid":"ord\"1\u0000 \u2028 é","url":"HTTPS://ACME.ByAppDirect.com:443/api/billing/v1/orders/1","content":{"company":{"id":"co 'quoted' <é>"}}},"resourceAction":"ADDED"}`,
	`{"uuid":"e1","resource":{"type":"USER","uuid":"u1","url":"https://bot:s3cret@acme.byappdirect.com:8443/u1","content":"not an object"},"resourceAction":"CHANGED","extra":[1,2]}`,
	`{"uuid":"e1","resource":{"type":"COMPANY","uuid":"c1","url":"http://[FE80::1]:80/c1","content":{"id":"c1"},"links":[]},"resourceAction":"REMOVED"}`,
	`{"uuid":"e1","resource":{"type":"MEMBERSHIP","uuid":"u1","url":"https://ÄCME.example/api/account/v1/companies/caf%C3%A9/users/u1"},"resourceAction":"REMOVED"}`,
	`{"uuid":"e1","resource":{"type":"INVOICE","uuid":"i1","url":"mailto:billing@example.org","content":[]},"resourceAction":"ADDED"}`,
	`{"uuid":"e1","resource":{"type":"USER","uuid":"u1","content":{"memberships":[{"company":{"id":"c1"}},{"company":{"id":5}},{"company":{"id":"c2"}}]}},"resourceAction":"CHANGED"}`,
	"\n\t " + `{"uuid":"e1","resource":{"type":"RESELLER_REGISTRANT","uuid":"r1"},"resourceAction":"ADDED"}` + " \r\n",
}

// exampleBodies returns the sample webhooks of bridge/testdata/samples and
// APPDIRECT.md's examples.
func exampleBodies(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, pattern := range []string{filepath.Join(samplesDir, "*.json"), filepath.Join("testdata", "appdirect", "*.json")} {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			t.Fatalf("no bodies match %s: %v", pattern, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	for _, s := range acceptedBodies {
		out = append(out, []byte(s))
	}
	return out
}

// TestSchemasAcceptWhatNormalizeWrites checks that the schemas are no
// stricter than the bridge: the CloudEvent of every body it accepts
// validates, oddities included.
func TestSchemasAcceptWhatNormalizeWrites(t *testing.T) {
	schemas := compileSchemas(t)
	for _, body := range exampleBodies(t) {
		ev, err := topics.Normalize(body, topics.Naming{Prefix: "appdirect."}, nil)
		if err != nil {
			t.Errorf("Normalize(%s): %v", body, err)
			continue
		}
		if err := schemas[ev.Resource.Name].Validate(jsonInstance(t, ev.Record.Value)); err != nil {
			t.Errorf("the CloudEvent of %s does not match its schema: %v\nvalue: %s", body, err, ev.Record.Value)
		}
	}
}

// FuzzSchemasAcceptWhatNormalizeWrites is TestSchemasAcceptWhatNormalizeWrites
// for arbitrary bodies.
func FuzzSchemasAcceptWhatNormalizeWrites(f *testing.F) {
	for _, b := range exampleBodies(f) {
		f.Add(b)
	}
	schemas := compileSchemas(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := topics.Normalize(body, topics.Naming{Prefix: "appdirect."}, nil)
		if err != nil {
			return
		}
		if !slices.Contains(topics.SchemaNames(), ev.Resource.Name) {
			t.Fatalf("no schema for %s", ev.Resource.Name)
		}
		if err := schemas[ev.Resource.Name].Validate(jsonInstance(t, ev.Record.Value)); err != nil {
			t.Fatalf("the CloudEvent of %q does not match its schema: %v", body, err)
		}
	})
}
