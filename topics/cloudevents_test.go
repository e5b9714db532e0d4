package topics

import (
	"strings"
	"testing"
)

func TestEventSource(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string
	}{
		{name: "marketplace URL", give: "https://acme.byappdirect.com/api/billing/v1/subscriptions/5f0e", want: "https://acme.byappdirect.com"},
		{name: "host alone", give: "https://acme.byappdirect.com", want: "https://acme.byappdirect.com"},
		{name: "query and fragment dropped", give: "https://acme.byappdirect.com?x=1#top", want: "https://acme.byappdirect.com"},
		{name: "other port kept", give: "https://acme.byappdirect.com:8443/x", want: "https://acme.byappdirect.com:8443"},
		{name: "https default port dropped", give: "https://acme.byappdirect.com:443/x", want: "https://acme.byappdirect.com"},
		{name: "http default port dropped", give: "http://acme.byappdirect.com:80/x", want: "http://acme.byappdirect.com"},
		{name: "http port of https kept", give: "http://acme.byappdirect.com:443/x", want: "http://acme.byappdirect.com:443"},
		{name: "https port of http kept", give: "https://acme.byappdirect.com:80", want: "https://acme.byappdirect.com:80"},
		{name: "empty port dropped", give: "https://acme.byappdirect.com:/x", want: "https://acme.byappdirect.com"},
		{name: "IP address and port", give: "http://10.0.0.7:8080/api/p", want: "http://10.0.0.7:8080"},
		{name: "upper-case scheme and host", give: "HTTPS://ACME.ByAppDirect.com/x", want: "https://acme.byappdirect.com"},
		{name: "upper-case host, default port", give: "https://ACME.ByAppDirect.com:443/x", want: "https://acme.byappdirect.com"},
		{name: "upper-case scheme, default port", give: "HTTP://acme.byappdirect.com:80", want: "http://acme.byappdirect.com"},
		{name: "userinfo dropped", give: "https://bot:s3cret@acme.byappdirect.com/api/l-1", want: "https://acme.byappdirect.com"},
		{name: "userinfo dropped, port kept", give: "https://bot@ACME.byappdirect.com:8443/x", want: "https://acme.byappdirect.com:8443"},
		{name: "IPv6 keeps its brackets", give: "http://[FE80::1]/x", want: "http://[fe80::1]"},
		{name: "IPv6 default port dropped", give: "https://[2001:db8::1]:443/x", want: "https://[2001:db8::1]"},
		{name: "IPv6 other port kept", give: "https://[2001:db8::1]:8443/x", want: "https://[2001:db8::1]:8443"},
		{name: "other scheme", give: "FTP://Files.Example:21/x", want: "ftp://files.example:21"},
		// url.Parse decodes the host; the source writes it back as a URI.
		{name: "escaped host stays escaped", give: "https://ex%C3%A9.com/x", want: "https://ex%c3%a9.com"},
		{name: "non-ASCII host escaped", give: "https://ÄCME.example/x", want: "https://%c3%a4cme.example"},
		{name: "angle brackets escaped", give: "https://a<b>/x", want: "https://a%3cb%3e"},
		{name: "quote escaped", give: `https://a"b/x`, want: "https://a%22b"},
		{name: "sub-delims kept", give: "https://a!$&'()*+,;=b/x", want: "https://a!$&'()*+,;=b"},
		{name: "IPv6 zone as %25", give: "http://[fe80::1%25en0]:8080/x", want: "http://[fe80::1%25en0]:8080"},
		{name: "brackets around no address", give: "http://[acme]/x", want: NoSource},
		{name: "relative", give: "/api/x", want: NoSource},
		{name: "scheme-relative", give: "//acme.byappdirect.com/api/x", want: NoSource},
		{name: "missing", give: "", want: NoSource},
		{name: "no host", give: "https:///api/x", want: NoSource},
		{name: "not hierarchical", give: "mailto:ops@example.org", want: NoSource},
		{name: "unparseable: bad escape", give: "https://acme.byappdirect.com/%zz", want: NoSource},
		{name: "unparseable: control byte", give: "https://acme.byappdirect.com/a\nb", want: NoSource},
		{name: "unparseable: bad port", give: "https://acme.byappdirect.com:44x3/", want: NoSource},
		{name: "unparseable: space in host", give: "https://acme byappdirect.com/", want: NoSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eventSource(tt.give); got != tt.want {
				t.Errorf("eventSource(%q) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

// TestEventSourceFastPathAllocatesNothing keeps the common case, a
// lower-case marketplace URL, free of allocations.
func TestEventSourceFastPathAllocatesNothing(t *testing.T) {
	for _, raw := range []string{
		"https://acme.byappdirect.com/api/billing/v1/subscriptions/5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21",
		"https://acme.byappdirect.com:443/api/account/v1/users/a9d4?isExternalId=false",
		"https://acme.byappdirect.com:8443/x",
		"http://10.0.0.7:8080/api/p",
	} {
		if _, ok := plainSource(raw); !ok {
			t.Errorf("%s takes the slow path", raw)
		}
		if n := testing.AllocsPerRun(100, func() { _ = eventSource(raw) }); n != 0 {
			t.Errorf("eventSource(%q) allocates %v times, want 0", raw, n)
		}
	}
}

// FuzzEventSource checks that the fast path agrees with url.Parse wherever
// it answers, and that every source follows the rule's shape.
func FuzzEventSource(f *testing.F) {
	for _, s := range []string{
		"https://acme.byappdirect.com/x", "http://a:80", "https://a:443?q", "https://a:8443#f", "https://a:/",
		"https://a:4x", "HTTPS://A/x", "https://a/%4", "https://a/%41", "https://a/\x7f", "https://[::1]:443/",
		"https://u@a/", "/rel", "", "https://", "http://a.b-c.0/\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if src, ok := plainSource(raw); ok {
			if want := parsedSource(raw); src != want {
				t.Fatalf("plainSource(%q) = %q, url.Parse gives %q", raw, src, want)
			}
		}
		src := eventSource(raw)
		if src == NoSource {
			return
		}
		scheme, host, ok := strings.Cut(src, "://")
		if !ok || scheme == "" || host == "" || scheme != strings.ToLower(scheme) || host != strings.ToLower(host) ||
			strings.ContainsAny(host, "/?#@") {
			t.Fatalf("eventSource(%q) = %q: want scheme://host in lower case", raw, src)
		}
		if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
			if port := host[i+1:]; port == "" || port == defaultPort(scheme) {
				t.Fatalf("eventSource(%q) = %q: want no empty or default port", raw, src)
			}
		}
	})
}
