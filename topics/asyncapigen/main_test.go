package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckedInDocumentIsCurrent fails when topics/asyncapi.yaml is not what
// the generator makes of the current catalog and golden records.
func TestCheckedInDocumentIsCurrent(t *testing.T) {
	want, err := generate("../../bridge/testdata/golden")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
		for i := range min(len(gl), len(wl)) {
			if !bytes.Equal(gl[i], wl[i]) {
				t.Errorf("line %d is\n\t%s\nwant\n\t%s", i+1, gl[i], wl[i])
				break
			}
		}
		t.Errorf("topics/asyncapi.yaml is stale (%d lines, generator makes %d): run go generate ./topics and commit the result", len(gl), len(wl))
	}
}

// TestCheckedInSchemasAreCurrent fails when topics/schemas is not what the
// generator makes of the current catalog: a file differs, is missing or is
// left over.
func TestCheckedInSchemasAreCurrent(t *testing.T) {
	want, err := schemaFiles()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../schemas/*")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range files {
		got[filepath.Base(f)] = true
		if _, ok := want[filepath.Base(f)]; !ok {
			t.Errorf("topics/schemas/%s is not a resource's schema: run go generate ./topics", filepath.Base(f))
		}
	}
	for name, b := range want {
		raw, err := os.ReadFile(filepath.Join("..", "schemas", name))
		if err != nil || !bytes.Equal(raw, b) {
			t.Errorf("topics/schemas/%s is missing or stale: run go generate ./topics and commit the result", name)
		}
	}
}

func TestCamel(t *testing.T) {
	for give, want := range map[string]string{"user": "user", "app-assignment": "appAssignment", "reseller-registrant": "resellerRegistrant"} {
		if got := camel(give); got != want {
			t.Errorf("camel(%q) = %q, want %q", give, got, want)
		}
	}
}
