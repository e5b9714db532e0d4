package topics

// dataSchemaPrefix and dataSchemaVersion frame the dataschema attribute:
// urn:webhook-bridge:schema:<topic name>:v1. The version changes only with
// a change a validating consumer would refuse.
const (
	dataSchemaPrefix  = "urn:webhook-bridge:schema:"
	dataSchemaVersion = ":v1"
)

// DataSchema returns the CloudEvents dataschema attribute of the events of a
// resource topic name, e.g. "urn:webhook-bridge:schema:subscription:v1". It
// is also the $id of the resource's JSON Schema.
func DataSchema(name string) string { return dataSchemaPrefix + name + dataSchemaVersion }
