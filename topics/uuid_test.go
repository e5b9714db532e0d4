package topics

import (
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

var canonicalUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// parseUUIDSlowly is ParseCanonicalUUID's reference: the pattern, then the
// digits without dashes.
func parseUUIDSlowly(s string) (id [16]byte, ok bool) {
	if !canonicalUUID.MatchString(s) {
		return id, false
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return id, false
	}
	return [16]byte(b), true
}

func TestParseCanonicalUUID(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"7A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D", false}, // upper case is another spelling
		{"7a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d", false},
		{"7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4", false},
		{"7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d0", false},
		{"7a1b2c3g-4e5f-4a6b-8c7d-9e0f1a2b3c4d", false},
		{"{a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4}", false},
		// Dashes where digits belong: neither the bytes of another id nor a
		// read past the end.
		{"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeee--", false},
		{"--aaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", false},
		{"aaaaaaaa-bbbb-cccc-dddd--eeeeeeeeeee", false},
		{"aaaaaaaa--bbb-cccc-dddd-eeeeeeeeeeee", false},
		{"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeee-", false},
		{"------------------------------------", false},
	}
	for _, tt := range tests {
		id, ok := ParseCanonicalUUID(tt.in)
		if ok != tt.ok {
			t.Errorf("ParseCanonicalUUID(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if want, _ := parseUUIDSlowly(tt.in); ok && id != want {
			t.Errorf("ParseCanonicalUUID(%q) = %x, want %x", tt.in, id, want)
		}
		if idb, okb := ParseCanonicalUUID([]byte(tt.in)); okb != ok || idb != id {
			t.Errorf("ParseCanonicalUUID([]byte(%q)) = %x, %v; the string gave %x, %v", tt.in, idb, okb, id, ok)
		}
	}
}

// Two ids that differ as written never parse to the same bytes, and the
// parser never panics: it agrees with the pattern for any 36 bytes.
func FuzzParseCanonicalUUID(f *testing.F) {
	for _, s := range []string{
		"7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
		"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeee--",
		"aaaaaaaa-bbbb-cccc-dddd--eeeeeeeeeee",
		"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeee00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseCanonicalUUID(s)
		want, wantOK := parseUUIDSlowly(s)
		if ok != wantOK || id != want {
			t.Fatalf("ParseCanonicalUUID(%q) = %x, %v; want %x, %v", s, id, ok, want, wantOK)
		}
	})
}
