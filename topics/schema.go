package topics

import (
	"embed"
	"io/fs"
	"slices"
)

// dataSchemaPrefix and dataSchemaVersion frame the dataschema attribute:
// urn:webhook-bridge:schema:<topic name>:v1. The version changes only with
// a change a validating consumer would refuse.
const (
	dataSchemaPrefix  = "urn:webhook-bridge:schema:"
	dataSchemaVersion = ":v1"
)

// DataSchema returns the CloudEvents dataschema attribute of the events of a
// resource topic name, e.g. "urn:webhook-bridge:schema:subscription:v1". It
// is also the $id of the resource's JSON Schema (Schema).
func DataSchema(name string) string { return dataSchemaPrefix + name + dataSchemaVersion }

// schemaFiles are the JSON Schemas of the resources' CloudEvents, generated
// from Catalog with asyncapi.yaml (go generate ./topics).
//
//go:embed schemas/*.json
var schemaFiles embed.FS

// Schema returns the JSON Schema (draft 2020-12) of the CloudEvents of a
// resource topic name, e.g. "subscription": the record value the bridge
// writes, envelope attributes and data (the webhook). Its $id is
// DataSchema(name). ok is false for names that are not resource topics.
// The bytes are the caller's own.
func Schema(name string) (schema []byte, ok bool) {
	if _, ok := ByName(name); !ok {
		return nil, false
	}
	b, err := schemaFiles.ReadFile("schemas/" + name + ".json")
	if err != nil {
		return nil, false
	}
	return b, true
}

// SchemaNames returns the names Schema answers for: the topic names of
// every resource, in catalog order.
func SchemaNames() []string {
	files, _ := fs.Glob(schemaFiles, "schemas/*.json")
	var out []string
	for _, name := range Names() {
		if slices.Contains(files, "schemas/"+name+".json") {
			out = append(out, name)
		}
	}
	return out
}
