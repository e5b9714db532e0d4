package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// The JSON Schemas of the resource records' values, one function per part,
// shared by the AsyncAPI document (components.schemas) and the standalone
// schemas of topics/schemas. Each says what the bridge writes: every record
// it writes validates (a fuzz test in topics checks), and nothing looser is
// allowed than the bridge accepts. Unknown members stay allowed everywhere.

// jsonSchemaDraft is the dialect of the standalone schemas.
const jsonSchemaDraft = "https://json-schema.org/draft/2020-12/schema"

// sourcePattern is what the CloudEvents source can be: "appdirect", or a
// lower-case scheme and host (with a port only when it is not the default).
const sourcePattern = `^(appdirect|[a-z][a-z0-9+.-]*://(` + regName + `|\[[0-9a-f:.]+(%25` + regName + `)?\])(:[0-9]+)?)$`

// regName is RFC 3986's reg-name in lower case: unreserved characters,
// sub-delims and percent-encoded bytes.
const regName = `([a-z0-9._~!$&'()*+,;=-]|%[0-9a-f]{2})+`

const sourceDescription = "The marketplace that sent the event, normalized from resource.url: its scheme and host in lower case, " +
	"without the scheme's default port (443 for https, 80 for http) but with any other port (https://acme.byappdirect.com:8443), " +
	"without userinfo, path, query or fragment; an IPv6 address keeps its brackets. " +
	"`appdirect` when resource.url is missing, relative or unparseable: a URI reference, not a URL."

// eventIDPattern is topics.ValidEventID: printable ASCII without commas.
const eventIDPattern = `^[\x20-\x2b\x2d-\x7e]+$`

// The envelope's member names, each matched exactly; ParseEnvelope refuses
// a member that differs from one of them only in case.
var (
	webhookKeys  = []string{"uuid", "timestamp", "resource", "resourceAction"}
	resourceKeys = []string{"type", "uuid", "url", "content"}
)

// wireActions returns the resourceAction spellings of actions.
func wireActions(actions []topics.Action) []any {
	var out []any
	for _, a := range actions {
		out = append(out, strings.ToUpper(string(a)))
		if a == topics.Removed {
			out = append(out, "DELETED")
		}
	}
	return out
}

var allActions = []topics.Action{topics.Added, topics.Changed, topics.Removed}

// The parts that narrow a schema to one resource.

// typeEnum is the CloudEvents type of r's events.
func typeEnum(r *topics.Resource) obj {
	var types []any
	for _, a := range r.Actions {
		types = append(types, "com.appdirect."+r.Name+"."+string(a))
	}
	return obj{{"enum", types}, {"description", "com.appdirect." + r.Name + ".<action>."}}
}

// dataSchemaConst is the dataschema attribute of r's events.
func dataSchemaConst(r *topics.Resource) obj {
	return obj{{"const", topics.DataSchema(r.Name)}, {"description", "The $id of the " + r.Name + " schema."}}
}

// resourceTypeEnum is the resource.type of r's webhooks: its type or an
// alias.
func resourceTypeEnum(r *topics.Resource) obj {
	types := []any{r.Type}
	for _, a := range r.Aliases {
		types = append(types, a)
	}
	return obj{{"enum", types}, {"description", "The resource kind, matched exactly: the canonical type or an alias."}}
}

// actionEnum is the resourceAction of r's webhooks (nil: of any).
func actionEnum(r *topics.Resource) obj {
	actions := allActions
	if r != nil {
		actions = r.Actions
	}
	return obj{{"type", "string"}, {"enum", wireActions(actions)}, {"description", "What happened; DELETED is read as REMOVED."}}
}

// resourceCloudEvent is the AsyncAPI payload schema of r's topic: the
// generic CloudEvent narrowed to r.
func resourceCloudEvent(r *topics.Resource, id string) obj {
	return obj{
		{"description", fmt.Sprintf("A CloudEvent of a %s webhook. The same as the standalone schema %s (topics/schemas/%s.json).", r.Type, topics.DataSchema(r.Name), r.Name)},
		{"allOf", []any{
			ref("#/components/schemas/CloudEvent"),
			obj{{"type", "object"}, {"properties", obj{
				{"type", typeEnum(r)},
				{"dataschema", dataSchemaConst(r)},
				{"data", ref("#/components/schemas/" + id + "Webhook")},
			}}},
		}},
	}
}

// resourceWebhook is the AsyncAPI schema of r's webhook, the CloudEvent's
// data: the generic webhook narrowed to r.
func resourceWebhook(r *topics.Resource) obj {
	return obj{
		{"description", fmt.Sprintf("The AppDirect webhook of a %s event, as the marketplace sent it.", r.Type)},
		{"allOf", []any{
			ref("#/components/schemas/Webhook"),
			obj{{"type", "object"}, {"properties", obj{
				{"resource", obj{{"type", "object"}, {"properties", obj{{"type", resourceTypeEnum(r)}}}}},
				{"resourceAction", actionEnum(r)},
			}}},
		}},
	}
}

// cloudEventSchema is the schema of a resource record's value: the
// CloudEvent the bridge writes for r (nil: for any resource), whose data is
// the schema at dataRef.
func cloudEventSchema(r *topics.Resource, dataRef string) obj {
	desc := "A CloudEvents 1.0 event in structured JSON mode, as the bridge writes it."
	typ := obj{{"type", "string"}, {"pattern", `^com\.appdirect\.[a-z-]+\.(added|changed|removed)$`},
		{"description", "com.appdirect.<topic name>.<action>: the canonical topic name (also for aliases of resource.type) and the lower-case action (DELETED is removed)."}}
	dataSchema := obj{{"type", "string"}, {"pattern", `^urn:webhook-bridge:schema:[a-z-]+:v1$`},
		{"description", "The JSON Schema of the event: urn:webhook-bridge:schema:<topic name>:v1, the $id of the resource's schema."}}
	actions := allActions
	if r != nil {
		desc = fmt.Sprintf("A CloudEvent of a %s webhook, as the bridge writes it to the %s topic.", r.Type, r.Name)
		typ, dataSchema, actions = typeEnum(r), dataSchemaConst(r), r.Actions
	}
	// The type's action is the webhook's resourceAction.
	var sameAction []any
	for _, a := range actions {
		sameAction = append(sameAction, obj{
			{"if", obj{{"required", []any{"type"}}, {"properties", obj{{"type", obj{{"pattern", `\.` + string(a) + `$`}}}}}}},
			{"then", obj{{"properties", obj{{"data", obj{{"properties", obj{
				{"resourceAction", obj{{"enum", wireActions([]topics.Action{a})}}},
			}}}}}}}},
		})
	}
	return obj{
		{"description", desc},
		{"type", "object"},
		{"required", []any{"specversion", "id", "source", "type", "datacontenttype", "dataschema", "data"}},
		{"properties", obj{
			{"specversion", obj{{"const", "1.0"}}},
			{"id", obj{{"type", "string"}, {"minLength", 1}, {"maxLength", topics.MaxEventIDLength}, {"pattern", eventIDPattern},
				{"description", "The notification's uuid; also the event-id header. Delivery is at least once: dedupe on it."}}},
			{"source", obj{{"type", "string"}, {"pattern", sourcePattern}, {"description", sourceDescription}}},
			{"type", typ},
			{"subject", obj{{"type", "string"}, {"minLength", 1}, {"maxLength", topics.MaxResourceUUIDLength},
				{"description", "resource.uuid; absent when the webhook has none."}}},
			{"time", obj{{"type", "string"}, {"format", "date-time"}, {"pattern", `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`},
				{"description", "The webhook's epoch-millisecond timestamp in RFC 3339 UTC with milliseconds (the event-time header holds the same instant); absent when the webhook has none (or it lies beyond year 9999)."}}},
			{"datacontenttype", obj{{"const", "application/json"}}},
			{"dataschema", dataSchema},
			{"companyid", obj{{"type", "string"}, {"minLength", 1}, {"maxLength", topics.MaxCompanyIDLength},
				{"description", "Extension attribute: the company, exactly when the company-id header is present."}}},
			{"traceparent", traceParentSchema("Extension attribute (CloudEvents distributed tracing): the W3C traceparent of the delivery, " +
				"with tracing on the bridge's server span, off the sender's own; absent when there is none. Also the traceparent header, as written.")},
			{"tracestate", traceStateSchema("Extension attribute (CloudEvents distributed tracing): the W3C tracestate that goes with traceparent; absent when there is none.")},
			{"data", ref(dataRef)},
		}},
		{"allOf", sameAction},
	}
}

// webhookSchema is the AppDirect webhook envelope of r's events (nil: of
// any resource), as the marketplace documents it and the bridge accepts it.
func webhookSchema(r *topics.Resource) obj {
	desc := "An AppDirect marketplace webhook notification, byte for byte as it was posted (unknown members are kept)."
	typ := obj{{"type", "string"}, {"minLength", 1}, {"description", "The resource kind, matched exactly (upper case)."}}
	if r != nil {
		desc = fmt.Sprintf("The AppDirect webhook of a %s event, byte for byte as the marketplace posted it (unknown members are kept).", r.Type)
		typ = resourceTypeEnum(r)
	}
	nullable := func(max int, desc string) obj {
		return obj{{"type", []any{"string", "null"}}, {"maxLength", max}, {"description", desc}}
	}
	return obj{
		{"description", desc},
		{"type", "object"},
		{"required", []any{"uuid", "resource", "resourceAction"}},
		{"propertyNames", exactNames(webhookKeys)},
		{"properties", obj{
			{"uuid", obj{{"type", "string"}, {"minLength", 1}, {"maxLength", topics.MaxEventIDLength}, {"pattern", eventIDPattern},
				{"description", "The notification's id: printable ASCII without commas."}}},
			{"timestamp", obj{{"type", []any{"integer", "null"}}, {"minimum", 0}, {"maximum", int64(topics.MaxTimestampMillis)},
				{"description", "When the event happened, in Unix epoch milliseconds."}}},
			{"resource", obj{
				{"type", "object"},
				{"required", []any{"type"}},
				{"propertyNames", exactNames(resourceKeys)},
				{"properties", obj{
					{"type", typ},
					{"uuid", nullable(topics.MaxResourceUUIDLength, "The id of the entity; the CloudEvent subject.")},
					{"url", nullable(topics.MaxURLLength, "The entity's REST URL on the marketplace; the CloudEvent source comes from it.")},
					{"content", obj{{"description", "The entity, as a GET on resource.url returns it: an object for ADDED and CHANGED; absent for REMOVED, as the marketplace documents. The bridge passes any value through unchanged."}}},
				}},
			}},
			{"resourceAction", actionEnum(r)},
		}},
	}
}

// exactNames allows any member name except one that differs from a name of
// known only in letter case: encoding/json, which many consumers decode
// with, would read it as that member, so the bridge refuses it.
func exactNames(known []string) obj {
	var alts []string
	for _, k := range known {
		var b strings.Builder
		for _, c := range k {
			if lo, up := strings.ToLower(string(c)), strings.ToUpper(string(c)); lo != up {
				b.WriteString("[" + lo + up + "]")
			} else {
				b.WriteRune(c)
			}
		}
		alts = append(alts, b.String())
	}
	return obj{{"anyOf", []any{
		obj{{"enum", toAny(known)}},
		obj{{"not", obj{{"pattern", "^(" + strings.Join(alts, "|") + ")$"}}}},
	}}}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// resourceSchema is the standalone schema of r's events: the CloudEvent,
// its data in $defs, and $id the dataschema attribute.
func resourceSchema(r topics.Resource) obj {
	ce := cloudEventSchema(&r, "#/$defs/webhook")
	s := obj{
		{"$schema", jsonSchemaDraft},
		{"$id", topics.DataSchema(r.Name)},
		{"title", r.Type + " event"},
	}
	for _, e := range ce {
		if e.k == "description" {
			e.v = fmt.Sprintf("The value of every record of the %s topic (BRIDGE_TOPIC_PREFIX + %q): a CloudEvents 1.0 event in structured JSON mode "+
				"whose data is the %s webhook, byte for byte. Generated from the catalog by go generate ./topics; "+
				"topics.Schema(%q) returns it.", r.Name, r.Name, r.Type, r.Name)
		}
		s = append(s, e)
	}
	return append(s, kv{"$defs", obj{{"webhook", webhookSchema(&r)}}})
}

// writeSchemas writes the standalone schema of every resource to dir as
// <topic name>.json and removes any other .json file there.
func writeSchemas(dir string) error {
	want, err := schemaFiles()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if _, ok := want[filepath.Base(f)]; !ok {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	for name, b := range want {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// schemaFiles returns the standalone schemas by file name.
func schemaFiles() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, r := range topics.Catalog {
		b, err := marshalIndent(resourceSchema(r))
		if err != nil {
			return nil, fmt.Errorf("schema of %s: %w", r.Name, err)
		}
		out[r.Name+".json"] = b
	}
	return out, nil
}

// marshalIndent writes v as JSON with two-space indentation, keys of obj in
// their order, and no HTML escaping (descriptions hold "<topic name>").
func marshalIndent(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// MarshalJSON writes o's members in order.
func (o obj) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := marshalNoEscape(e.k)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		v, err := marshalNoEscape(e.v)
		if err != nil {
			return nil, err
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// traceParentSchema is a W3C traceparent as the bridge writes it
// (topics.ValidTraceParent); the ids are not all zero.
func traceParentSchema(desc string) obj {
	return obj{{"type", "string"}, {"pattern", `^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]$`}, {"description", desc}}
}

// traceStateSchema is a W3C tracestate as the bridge writes it
// (topics.ValidTraceState).
func traceStateSchema(desc string) obj {
	return obj{{"type", "string"}, {"minLength", 1}, {"maxLength", topics.MaxTraceStateLength}, {"pattern", `^[\t -~]+$`}, {"description", desc}}
}
