package topics_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// asyncAPIURL is where the test registers topics/asyncapi.yaml with the
// validator, so that its internal $refs resolve.
const asyncAPIURL = "file:///asyncapi.json"

// asyncAPI is the checked-in document, parsed.
type asyncAPI struct {
	doc map[string]any
	c   *jsonschema.Compiler
}

func loadAsyncAPI(t *testing.T) *asyncAPI {
	t.Helper()
	raw, err := os.ReadFile("asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var y any
	if err := yaml.Unmarshal(raw, &y); err != nil {
		t.Fatalf("asyncapi.yaml: %v", err)
	}
	j, err := json.Marshal(y)
	if err != nil {
		t.Fatalf("asyncapi.yaml is not JSON-compatible: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7) // AsyncAPI's default schema format is a superset of draft 7
	c.AssertFormat()
	if err := c.AddResource(asyncAPIURL, doc); err != nil {
		t.Fatal(err)
	}
	return &asyncAPI{doc: doc.(map[string]any), c: c}
}

// schema compiles the schema at a JSON pointer of the document.
func (a *asyncAPI) schema(t *testing.T, pointer string) *jsonschema.Schema {
	t.Helper()
	s, err := a.c.Compile(asyncAPIURL + "#" + pointer)
	if err != nil {
		t.Fatalf("compile %s: %v", pointer, err)
	}
	return s
}

// at returns the value at a path of object keys.
func (a *asyncAPI) at(t *testing.T, path ...string) any {
	t.Helper()
	var v any = a.doc
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("asyncapi.yaml: no %s", strings.Join(path, "/"))
		}
		v = m[k]
	}
	return v
}

// messageOf returns the message id of a channel (each has one).
func (a *asyncAPI) messageOf(t *testing.T, channel string) string {
	t.Helper()
	msgs, _ := a.at(t, "channels", channel, "messages").(map[string]any)
	if len(msgs) != 1 {
		t.Fatalf("channel %s has %d messages, want 1", channel, len(msgs))
	}
	for id := range msgs {
		return id
	}
	return ""
}

// instance turns a Go value into what the validator expects.
func instance(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func TestAsyncAPIChannelsFollowTheCatalog(t *testing.T) {
	a := loadAsyncAPI(t)
	if a.doc["asyncapi"] != "3.0.0" {
		t.Errorf("asyncapi = %v, want 3.0.0", a.doc["asyncapi"])
	}
	want := append(topics.Names(), topics.QuarantineName, topics.IndexName)
	var got []string
	for ch := range a.at(t, "channels").(map[string]any) {
		got = append(got, ch)
	}
	sort.Strings(want)
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("channels (-want +got):\n%s", diff)
	}
	n := topics.Naming{Prefix: "appdirect.", Internal: "webhook-bridge."}
	for _, name := range want {
		address := a.at(t, "channels", name, "address")
		topic := a.at(t, "channels", name, "bindings", "kafka", "topic")
		wantAddress, wantTopic := "{prefix}"+name, n.Topic(name)
		switch name {
		case topics.QuarantineName:
			wantAddress, wantTopic = "{internalPrefix}"+name, n.Quarantine()
		case topics.IndexName:
			wantAddress, wantTopic = "{internalPrefix}"+name, n.Index()
		}
		if address != wantAddress || topic != wantTopic {
			t.Errorf("channel %s: address %v, kafka topic %v; want %s, %s", name, address, topic, wantAddress, wantTopic)
		}
		policy := a.at(t, "channels", name, "bindings", "kafka", "topicConfiguration", "cleanup.policy")
		wantPolicy := "delete"
		if slices.Contains(n.Compacted(), wantTopic) {
			wantPolicy = "compact"
		}
		if diff := cmp.Diff([]any{wantPolicy}, policy); diff != "" {
			t.Errorf("channel %s cleanup.policy (-want +got):\n%s", name, diff)
		}
	}
	// Every header the bridge writes is declared.
	props := a.at(t, "components", "schemas", "EventHeaders", "properties").(map[string]any)
	for _, h := range []string{topics.HeaderResource, topics.HeaderAction, topics.HeaderEventID, topics.HeaderCompanyID,
		topics.HeaderCompanyIDs, topics.HeaderCompanyIDSource, topics.HeaderContentType} {
		if _, ok := props[h]; !ok {
			t.Errorf("EventHeaders does not declare %s", h)
		}
	}
}

// TestGoldenRecordsMatchTheAsyncAPISchemas validates every golden record of
// bridge/testdata/golden (value, headers and key) against the schemas of its
// channel, with a JSON Schema validator.
func TestGoldenRecordsMatchTheAsyncAPISchemas(t *testing.T) {
	a := loadAsyncAPI(t)
	n := topics.Naming{Prefix: "appdirect.", Internal: "webhook-bridge."}
	for file, m := range goldenMessages(t) {
		t.Run(strings.TrimSuffix(file, ".json"), func(t *testing.T) {
			channel, ok := n.Name(m.Topic)
			if !ok {
				t.Fatalf("topic %s lacks the prefix %s", m.Topic, n.Prefix)
			}
			msg := "/components/messages/" + a.messageOf(t, channel)
			value, err := jsonschema.UnmarshalJSON(bytes.NewReader(m.Value))
			if err != nil {
				t.Fatal(err)
			}
			if err := a.schema(t, msg+"/payload").Validate(value); err != nil {
				t.Errorf("value: %v", err)
			}
			headers := map[string]any{}
			for _, h := range m.Headers {
				headers[h.Key] = string(h.Value)
			}
			if err := a.schema(t, msg+"/headers").Validate(instance(t, headers)); err != nil {
				t.Errorf("headers: %v", err)
			}
			if err := a.schema(t, msg+"/bindings/kafka/key").Validate(string(m.Key)); err != nil {
				t.Errorf("key: %v", err)
			}
		})
	}
}

// TestAsyncAPISchemasRefuseWhatBreaksTheContract shows the validation above
// has teeth: records that break the contract fail it.
func TestAsyncAPISchemasRefuseWhatBreaksTheContract(t *testing.T) {
	a := loadAsyncAPI(t)
	m := goldenMessages(t)["subscription-removed.json"]
	payload := a.schema(t, "/components/messages/subscriptionEvent/payload")
	headerSchema := a.schema(t, "/components/messages/subscriptionEvent/headers")
	mutate := func(f func(v map[string]any)) any {
		var v map[string]any
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatal(err)
		}
		f(v)
		return instance(t, v)
	}
	data := func(v map[string]any) map[string]any { return v["data"].(map[string]any) }
	values := map[string]any{
		"another resource's type":   mutate(func(v map[string]any) { v["type"] = "com.appdirect.user.removed" }),
		"webhook of another type":   mutate(func(v map[string]any) { data(v)["resource"].(map[string]any)["type"] = "USER" }),
		"unknown action":            mutate(func(v map[string]any) { data(v)["resourceAction"] = "ARCHIVED" }),
		"no event uuid":             mutate(func(v map[string]any) { delete(data(v), "uuid") }),
		"timestamp as a string":     mutate(func(v map[string]any) { data(v)["timestamp"] = "1718167935310" }),
		"other spec version":        mutate(func(v map[string]any) { v["specversion"] = "0.3" }),
		"time without milliseconds": mutate(func(v map[string]any) { v["time"] = "2024-06-12T04:52:15Z" }),
		"upper-case source":         mutate(func(v map[string]any) { v["source"] = "https://ACME.byappdirect.com" }),
		"source with a path":        mutate(func(v map[string]any) { v["source"] = "https://acme.byappdirect.com/api" }),
	}
	for name, v := range values {
		if err := payload.Validate(v); err == nil {
			t.Errorf("value with %s passed", name)
		}
	}
	base := map[string]any{}
	for _, h := range m.Headers {
		base[h.Key] = string(h.Value)
	}
	with := func(k, v string) map[string]any {
		out := map[string]any{}
		for hk, hv := range base {
			out[hk] = hv
		}
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}
	for name, hs := range map[string]map[string]any{
		"no action header":                 with(topics.HeaderAction, ""),
		"action of another resource":       with(topics.HeaderResource, "user"),
		"company without a source":         with(topics.HeaderCompanyID, "c-1"),
		"source index without the company": with(topics.HeaderCompanyIDSource, topics.SourceIndex),
	} {
		if err := headerSchema.Validate(instance(t, hs)); err == nil {
			t.Errorf("headers with %s passed", name)
		}
	}
}

// TestAsyncAPIExamplesMatchTheirSchemas validates the examples the document
// carries, the quarantine's and the index's included.
func TestAsyncAPIExamplesMatchTheirSchemas(t *testing.T) {
	a := loadAsyncAPI(t)
	for id, msg := range a.at(t, "components", "messages").(map[string]any) {
		exs, _ := msg.(map[string]any)["examples"].([]any)
		if len(exs) == 0 {
			t.Errorf("message %s has no examples", id)
		}
		for i, ex := range exs {
			ex := ex.(map[string]any)
			for _, part := range []string{"payload", "headers"} {
				v, ok := ex[part]
				if !ok {
					continue
				}
				if _, declared := msg.(map[string]any)[part]; !declared {
					t.Errorf("%s example %d has %s but the message declares none", id, i, part)
					continue
				}
				if err := a.schema(t, fmt.Sprintf("/components/messages/%s/%s", id, part)).Validate(v); err != nil {
					t.Errorf("%s example %d %s: %v", id, i, part, err)
				}
			}
		}
	}
}
