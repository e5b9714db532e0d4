package topics

import (
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ceTimeLayout is RFC 3339 in UTC with the millisecond precision of the
// marketplace's timestamps.
const ceTimeLayout = "2006-01-02T15:04:05.000Z"

// appendCloudEvent appends the structured-mode CloudEvents 1.0 JSON event of
// env to dst. The webhook body is embedded as "data" byte for byte: it was
// validated as JSON, so it needs no re-encoding. tc (Checked) adds the
// distributed-tracing extension attributes traceparent and tracestate;
// the zero value adds nothing.
func appendCloudEvent(dst []byte, res *Resource, act Action, env *Envelope, key Key, tc TraceContext) []byte {
	// Size the value once: the body plus the attributes, escapes aside. It
	// used to grow through about six copies of the body.
	if need := len(env.Raw) + len(env.ID) + len(env.URL) + len(env.ResourceUUID) + len(key.CompanyID) + len(tc.TraceParent) + len(tc.TraceState) + 320; cap(dst)-len(dst) < need {
		dst = append(make([]byte, 0, len(dst)+need), dst...)
	}
	dst = append(dst, `{"specversion":"1.0","id":`...)
	dst = AppendJSONString(dst, env.ID)
	dst = append(dst, `,"source":`...)
	dst = AppendJSONString(dst, eventSource(env.URL))
	dst = append(dst, `,"type":"com.appdirect.`...)
	dst = append(dst, res.Name...)
	dst = append(dst, '.')
	dst = append(dst, act...)
	dst = append(dst, '"')
	if env.ResourceUUID != "" {
		dst = append(dst, `,"subject":`...)
		dst = AppendJSONString(dst, env.ResourceUUID)
	}
	// RFC 3339 has four-digit years: ParseEnvelope refuses a timestamp
	// beyond 9999 (MaxTimestampMillis), and this guard keeps an Envelope
	// built otherwise from writing a "time" consumers cannot parse.
	if ts := env.Timestamp.UTC(); !env.Timestamp.IsZero() && ts.Year() >= 0 && ts.Year() <= 9999 {
		dst = append(dst, `,"time":"`...)
		dst = ts.AppendFormat(dst, ceTimeLayout)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"datacontenttype":"application/json","dataschema":"`+dataSchemaPrefix...)
	dst = append(dst, res.Name...)
	dst = append(dst, dataSchemaVersion+`"`...)
	if key.CompanyID != "" {
		dst = append(dst, `,"companyid":`...)
		dst = AppendJSONString(dst, key.CompanyID)
	}
	if tc.TraceParent != "" {
		dst = append(dst, `,"traceparent":"`...)
		dst = append(dst, tc.TraceParent...) // lower-case hex and '-' only
		dst = append(dst, '"')
		if tc.TraceState != "" {
			dst = append(dst, `,"tracestate":`...)
			dst = AppendJSONString(dst, tc.TraceState) // may hold '"' and '\\'
		}
	}
	dst = append(dst, `,"data":`...)
	dst = append(dst, env.Raw...)
	return append(dst, '}')
}

// eventSource is the CloudEvents source: the marketplace that sent the
// event, normalized from resource.url by the rule docs/consumers.md states.
// It is the scheme and the host, both lower case, without the scheme's
// default port (80 for http, 443 for https) but with any other port, and
// without userinfo, path, query or fragment; an IPv6 literal keeps its
// brackets. A missing, relative or unparseable URL gives NoSource.
func eventSource(raw string) string {
	if raw == "" {
		return NoSource
	}
	if src, ok := plainSource(raw); ok {
		return src
	}
	return parsedSource(raw)
}

// NoSource is the CloudEvents source of an event whose resource.url is
// missing, relative or not a parseable URL. It is a URI reference, as
// CloudEvents requires, but not a URL.
const NoSource = "appdirect"

// parsedSource is eventSource through url.Parse, for every URL plainSource
// leaves alone.
func parsedSource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return NoSource
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	// url.Parse checked that a port is digits. Split it off: it follows
	// an IPv6 literal's closing bracket, or the one colon of any other host
	// (a host name holds none, so more colons are not a host).
	name, port, hasPort := host, "", false
	if strings.HasPrefix(host, "[") {
		end := strings.LastIndexByte(host, ']')
		if end < 0 {
			return NoSource
		}
		name = host[:end+1]
		if rest := host[end+1:]; rest != "" {
			if rest[0] != ':' {
				return NoSource
			}
			port, hasPort = rest[1:], true
		}
	} else if i := strings.IndexByte(host, ':'); i >= 0 {
		name, port, hasPort = host[:i], host[i+1:], true
	}
	if name == "" || name == "[]" || strings.ContainsRune(port, ':') {
		return NoSource
	}
	name, ok := uriHost(name)
	if !ok {
		return NoSource
	}
	if hasPort && port != "" && port != defaultPort(scheme) {
		return scheme + "://" + name + ":" + port
	}
	return scheme + "://" + name
}

// uriHost writes a host as url.Parse decoded it back in a form RFC 3986
// allows, so that source is a URI every CloudEvents SDK reads: a reg-name's
// bytes other than unreserved characters and sub-delims percent-encoded
// (ex%c3%a9.com, not exé.com; a%3cb%3e, not a<b>), an IPv6 literal's zone
// with its '%' as "%25" (RFC 6874). ok is false for a bracketed host that
// is not an IP address.
func uriHost(name string) (string, bool) {
	if !strings.HasPrefix(name, "[") {
		return escapeHost(name), true
	}
	addr, zone, hasZone := strings.Cut(name[1:len(name)-1], "%")
	if _, err := netip.ParseAddr(addr); err != nil || (hasZone && zone == "") {
		return "", false
	}
	if !hasZone {
		return name, true
	}
	return "[" + addr + "%25" + escapeHost(zone) + "]", true
}

// escapeHost percent-encodes the bytes of s a URI host cannot hold as
// they are, in lower-case hex like the rest of the source, so that one
// host has one spelling.
func escapeHost(s string) string {
	const hex = "0123456789abcdef"
	keep := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~!$&'()*+,;=", c) >= 0
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !keep(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; keep(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

// defaultPort is the port a scheme implies, "" when the rule knows none.
func defaultPort(scheme string) string {
	switch scheme {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// plainSource is eventSource for the URLs the marketplace sends, without
// url.Parse and its allocations: "http://" or "https://", a lower-case host
// name (letters, digits, '.', '-'), an optional port of digits, and nothing
// after them that url.Parse refuses (control bytes, a '%' not followed by
// two hex digits). The source is then a prefix of raw (without the port
// when it is the default one), exactly what parsedSource gives. ok is false
// for anything else, upper case included, which takes the url.Parse path.
func plainSource(raw string) (src string, ok bool) {
	var hostAt int
	var defPort string
	switch {
	case strings.HasPrefix(raw, "https://"):
		hostAt, defPort = len("https://"), "443"
	case strings.HasPrefix(raw, "http://"):
		hostAt, defPort = len("http://"), "80"
	default:
		return "", false
	}
	end := hostAt
	for end < len(raw) {
		c := raw[end]
		if c == '/' || c == '?' || c == '#' || c == ':' {
			break
		}
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return "", false
		}
		end++
	}
	if end == hostAt {
		return "", false
	}
	src = raw[:end]
	if end < len(raw) && raw[end] == ':' {
		portAt := end + 1
		for end = portAt; end < len(raw) && '0' <= raw[end] && raw[end] <= '9'; end++ {
		}
		if end < len(raw) && raw[end] != '/' && raw[end] != '?' && raw[end] != '#' {
			return "", false
		}
		if port := raw[portAt:end]; port != "" && port != defPort {
			src = raw[:end]
		}
	}
	for i := end; i < len(raw); i++ {
		switch c := raw[i]; {
		case c < 0x20 || c == 0x7f:
			return "", false
		case c == '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "", false
			}
		}
	}
	return src, true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, escaping what RFC 8259
// requires and replacing invalid UTF-8 with U+FFFD. It is the one JSON
// string writer of the bridge: record values and response bodies use it.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
