package topics

// asyncapi.yaml, beside this file, is the AsyncAPI 3.0 document of every
// topic: channels, headers, keys and JSON Schemas of the values, with the
// golden records as examples. It is generated from Catalog; a test fails when
// it is stale. The catalog's tables in docs/consumers.md are rendered by a
// test of cmd/webhook-bridge, beside the other generated documentation.
//go:generate go run ./asyncapigen -o asyncapi.yaml -schemas schemas -golden ../bridge/testdata/golden
//go:generate go test ../cmd/webhook-bridge -run TestDocsResourceTable -update
