package topics

import (
	"os"
	"path/filepath"
	"testing"
)

// The steps of the hot path, one sub-benchmark per resource (the bridge's
// ADDED sample of each):
//
//	go test -run '^$' -bench . -benchmem ./topics
//
// ValidJSON is the strict validation pass, ParseEnvelope includes it,
// ChooseKey is the company-key extraction of a parsed envelope.

func benchBodies(b *testing.B) map[string][]byte {
	b.Helper()
	out := make(map[string][]byte, len(Catalog))
	for _, r := range Catalog {
		body, err := os.ReadFile(filepath.Join("..", "bridge", "testdata", "samples", r.Name+"-added.json"))
		if err != nil {
			b.Fatal(err)
		}
		out[r.Name] = body
	}
	return out
}

func BenchmarkValidJSON(b *testing.B) {
	bodies := benchBodies(b)
	for _, r := range Catalog {
		body := bodies[r.Name]
		b.Run(r.Name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := validJSON(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseEnvelope(b *testing.B) {
	bodies := benchBodies(b)
	for _, r := range Catalog {
		body := bodies[r.Name]
		b.Run(r.Name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseEnvelope(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkChooseKey(b *testing.B) {
	bodies := benchBodies(b)
	for i := range Catalog {
		r := &Catalog[i]
		env, err := ParseEnvelope(bodies[r.Name])
		if err != nil {
			b.Fatal(err)
		}
		b.Run(r.Name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if k := ChooseKey(r, &env, nil); k.Value == "" {
					b.Fatal("no key")
				}
			}
		})
	}
}
