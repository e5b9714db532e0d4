package main

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// TestPprofOnlyOnTheAdminPortWhenAsked: BRIDGE_PPROF=true serves Go's
// profiler on the admin port, never on the webhook port, and by default
// neither does; a CPU profile may run longer than the admin port's write
// timeout.
func TestPprofOnlyOnTheAdminPortWhenAsked(t *testing.T) {
	get := func(t *testing.T, url string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	t.Run("off by default", func(t *testing.T) {
		base, admin, _, _, _ := startServe(t, nil)
		for _, u := range []string{admin + pprofPrefix, admin + pprofPrefix + "heap", base + pprofPrefix} {
			if code, _ := get(t, u); code != http.StatusNotFound {
				t.Errorf("GET %s = %d, want 404", u, code)
			}
		}
	})
	t.Run("on", func(t *testing.T) {
		base, admin, _, _, _ := startServe(t, map[string]string{
			"BRIDGE_PPROF": "true",
			// A profile of 3 s outlasts the admin port's write timeout.
			"BRIDGE_PUBLISH_TIMEOUT": "1s", "BRIDGE_HTTP_WRITE_TIMEOUT": "2s",
		})
		if code, _ := get(t, base+pprofPrefix); code != http.StatusNotFound {
			t.Errorf("webhook port GET %s = %d, want 404", pprofPrefix, code)
		}
		if code, b := get(t, admin+pprofPrefix); code != http.StatusOK || !bytes.Contains(b, []byte("heap")) {
			t.Errorf("admin GET %s = %d, want 200 listing the profiles", pprofPrefix, code)
		}
		for _, p := range []string{"profile?seconds=3", "heap", "allocs"} {
			code, b := get(t, admin+pprofPrefix+p)
			// A profile is gzipped protobuf.
			if code != http.StatusOK || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
				t.Errorf("admin GET %s%s = %d, %d bytes; want 200 and a gzipped profile: %.200q", pprofPrefix, p, code, len(b), b)
			}
		}
		if code, _ := get(t, admin+"/readyz"); code != http.StatusOK {
			t.Errorf("admin GET /readyz = %d beside pprof, want 200", code)
		}
	})
}
