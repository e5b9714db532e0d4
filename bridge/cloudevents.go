package bridge

import (
	"net/url"
	"unicode/utf8"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// ceTimeLayout is RFC 3339 in UTC with the millisecond precision of the
// marketplace's timestamps.
const ceTimeLayout = "2006-01-02T15:04:05.000Z"

// appendCloudEvent appends the structured-mode CloudEvents 1.0 JSON event of
// env to dst. The webhook body is embedded as "data" byte for byte: it was
// validated as JSON, so it needs no re-encoding.
func appendCloudEvent(dst []byte, res *topics.Resource, act topics.Action, env *topics.Envelope, key topics.Key) []byte {
	dst = append(dst, `{"specversion":"1.0","id":`...)
	dst = appendJSONString(dst, env.ID)
	dst = append(dst, `,"source":`...)
	dst = appendJSONString(dst, eventSource(env.URL))
	dst = append(dst, `,"type":"com.appdirect.`...)
	dst = append(dst, res.Name...)
	dst = append(dst, '.')
	dst = append(dst, act...)
	dst = append(dst, '"')
	if env.ResourceUUID != "" {
		dst = append(dst, `,"subject":`...)
		dst = appendJSONString(dst, env.ResourceUUID)
	}
	// RFC 3339 has four-digit years; the envelope admits timestamps far
	// beyond 9999, and a "time" consumers cannot parse would make the whole
	// event unreadable to them. time is optional, and data keeps the
	// original timestamp.
	if ts := env.Timestamp.UTC(); !env.Timestamp.IsZero() && ts.Year() >= 0 && ts.Year() <= 9999 {
		dst = append(dst, `,"time":"`...)
		dst = ts.AppendFormat(dst, ceTimeLayout)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"datacontenttype":"application/json"`...)
	if key.CompanyID != "" {
		dst = append(dst, `,"companyid":`...)
		dst = appendJSONString(dst, key.CompanyID)
	}
	dst = append(dst, `,"data":`...)
	dst = append(dst, env.Raw...)
	return append(dst, '}')
}

// eventSource is the CloudEvents source: scheme://host of resource.url, the
// marketplace that sent the event, or "appdirect" when there is none.
func eventSource(raw string) string {
	if raw == "" {
		return "appdirect"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "appdirect"
	}
	return u.Scheme + "://" + u.Host
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping what RFC 8259
// requires and replacing invalid UTF-8 with U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
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
