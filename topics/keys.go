package topics

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Where a record's company id came from, as given in the
// "company-id-source" header.
const (
	SourcePayload = "payload" // a CompanyPaths rule matched the body
	SourceURL     = "url"     // a /companies/{id}/ segment of resource.url
	SourceIndex   = "index"   // a CompanyIndex lookup
	SourceNone    = "none"    // no company: the key is the resource's own id
)

// MaxCompanyIDLength bounds a company id taken from a payload; longer values
// are treated as not found rather than used as a key.
const MaxCompanyIDLength = 256

// Key is the record key chosen for an event and the company it names.
type Key struct {
	// Value is the Kafka record key: the company id when known, otherwise
	// resource.uuid (or, when that is empty or breaks validCompanyID's
	// rule, the event id).
	Value string
	// CompanyID is the company, "" when unknown.
	CompanyID string
	// CompanyIDs lists every company the payload names, in payload order,
	// without repeats (several only for USER events with several memberships).
	CompanyIDs []string
	// Source is one of SourcePayload, SourceURL, SourceIndex, SourceNone.
	Source string
}

// CompanyIndex finds the company of an entity whose event names none
// (REMOVED events carry no content). Implementations are safe for concurrent
// use.
type CompanyIndex interface {
	Company(name, resourceUUID string) (companyID string, ok bool)
}

// ChooseKey applies r's company rules to env, in order: the catalog's
// CompanyPaths, a /companies/{id}/ segment of resource.url, the index (when
// not nil), and finally resource.uuid. This is the only place keys are chosen.
func ChooseKey(r *Resource, env *Envelope, index CompanyIndex) Key {
	return chooseKey(r, env, index, nil)
}

// chooseKey is ChooseKey given, when content is not nil, the member spans
// of env.Content in env.Raw that the validator noted (scanState.content;
// empty when the content is no object or has no members): a path's first
// member is then found among them instead of by walking the content.
func chooseKey(r *Resource, env *Envelope, index CompanyIndex, content []span) Key {
	for _, p := range r.CompanyPaths {
		kp := cachedKeyPath(p)
		if ids := kp.eval(env, content); len(ids) > 0 {
			return Key{Value: ids[0], CompanyID: ids[0], CompanyIDs: ids, Source: SourcePayload}
		}
	}
	if id := companyFromURL(env.URL); id != "" {
		return Key{Value: id, CompanyID: id, CompanyIDs: []string{id}, Source: SourceURL}
	}
	if index != nil && env.ResourceUUID != "" {
		if id, ok := index.Company(r.Name, env.ResourceUUID); ok && validCompanyID(id) {
			return Key{Value: id, CompanyID: id, CompanyIDs: []string{id}, Source: SourceIndex}
		}
	}
	k := Key{Value: env.ResourceUUID, Source: SourceNone}
	if !validCompanyID(k.Value) {
		k.Value = env.ID // ParseEnvelope bounds it
	}
	return k
}

// keyPath is a parsed company path: a root ("resource" or "content") and
// member names, where a name ending in "[]" visits every array element.
type keyPath struct {
	root string
	segs []keySeg
}

type keySeg struct {
	name string
	each bool
}

// keyPaths caches parsed company paths (string → keyPath): ChooseKey runs
// for every event, and parsing a path allocates.
var keyPaths sync.Map

func cachedKeyPath(p string) keyPath {
	if kp, ok := keyPaths.Load(p); ok {
		return kp.(keyPath)
	}
	kp, _ := parseKeyPath(p) // validated when the catalog loaded
	keyPaths.Store(p, kp)
	return kp
}

// parseKeyPath accepts "resource.uuid", "content.a.b" and
// "content.list[].a.b".
func parseKeyPath(p string) (keyPath, error) {
	parts := strings.Split(p, ".")
	kp := keyPath{root: parts[0]}
	switch {
	case kp.root == "resource" && len(parts) == 2 && parts[1] == "uuid":
		return kp, nil
	case kp.root != "content" || len(parts) < 2:
		return kp, fmt.Errorf("company path %q: must be resource.uuid or start with content.", p)
	}
	for _, s := range parts[1:] {
		name, each := strings.CutSuffix(s, "[]")
		if name == "" || strings.ContainsAny(name, "[]") {
			return kp, fmt.Errorf("company path %q: bad segment %q", p, s)
		}
		kp.segs = append(kp.segs, keySeg{name: name, each: each})
	}
	return kp, nil
}

func (kp keyPath) eval(env *Envelope, content []span) []string {
	if kp.root == "resource" {
		if validCompanyID(env.ResourceUUID) {
			return []string{env.ResourceUUID}
		}
		return nil
	}
	var out idSet
	if content == nil {
		collect(env.Content, kp.segs, &out)
		return out.ids
	}
	// The first member from the spans, then as collect goes on.
	first := kp.segs[0]
	for _, m := range content {
		if !keyEquals(env.Raw[m.key:m.keyEnd], first.name) {
			continue
		}
		next := env.Raw[m.val:m.end]
		if !first.each {
			collect(next, kp.segs[1:], &out)
			break
		}
		elements(next, func(el []byte) bool {
			collect(el, kp.segs[1:], &out)
			return true
		})
		break
	}
	return out.ids
}

// idSet collects company ids in order, without repeats. It switches from a
// linear scan to a map once it holds more than a few ids, so that a payload
// naming thousands of companies costs linear, not quadratic, time.
type idSet struct {
	ids  []string
	seen map[string]struct{}
}

func (s *idSet) add(id string) {
	if s.seen != nil {
		if _, dup := s.seen[id]; dup {
			return
		}
		s.seen[id] = struct{}{}
		s.ids = append(s.ids, id)
		return
	}
	for _, have := range s.ids {
		if have == id {
			return
		}
	}
	s.ids = append(s.ids, id)
	if len(s.ids) > 16 {
		s.seen = make(map[string]struct{}, 2*len(s.ids))
		for _, have := range s.ids {
			s.seen[have] = struct{}{}
		}
	}
}

// collect walks v along segs, adding every valid string found at the end.
// Values of the wrong JSON type are skipped, never an error.
func collect(v []byte, segs []keySeg, out *idSet) {
	if len(v) == 0 {
		return
	}
	if len(segs) == 0 {
		if s, ok := decodeString(v); ok && validCompanyID(s) {
			out.add(s)
		}
		return
	}
	next, ok := member(v, segs[0].name)
	if !ok {
		return
	}
	if !segs[0].each {
		collect(next, segs[1:], out)
		return
	}
	elements(next, func(el []byte) bool {
		collect(el, segs[1:], out)
		return true
	})
}

// validCompanyID is the one rule for company ids, applied wherever a key or
// header is built: 1 to MaxCompanyIDLength bytes of valid UTF-8; no control
// or format characters (such as right-to-left overrides and zero-width
// spaces), no whitespace but inner spaces, none at either end; no comma
// (the company-ids header is comma-separated), quote or backslash; no "."
// or ".." between slashes.
// External ids with inner spaces or in any script pass ("Acme Corp",
// "株式会社テスト"); "../../etc", " D " and ids that render differently
// from their bytes do not. An id that breaks the rule is not used: the key
// falls back as for an event that names no company.
func validCompanyID(s string) bool {
	if s == "" || len(s) > MaxCompanyIDLength || !utf8.ValidString(s) {
		return false
	}
	for i, r := range s {
		switch {
		case r == ',' || r == '"' || r == '\\':
			return false
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return false
		case unicode.IsSpace(r) && (r != ' ' || i == 0 || i == len(s)-1):
			return false
		}
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "." || seg == ".." { // a key that walks a path when used as one
			return false
		}
	}
	return true
}

// companyFromURL returns the id in a "/companies/{id}" path segment, which is
// where MEMBERSHIP events carry their company.
func companyFromURL(raw string) string {
	if raw == "" {
		return ""
	}
	// Most URLs name no company. Without '%' nothing unescapes into a
	// "companies" segment, so there is no need to parse (which allocates).
	if !strings.Contains(raw, "companies/") && !strings.Contains(raw, "%") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	segs := strings.Split(u.EscapedPath(), "/")
	for i := 0; i+1 < len(segs); i++ {
		if segs[i] != "companies" {
			continue
		}
		id, err := url.PathUnescape(segs[i+1])
		if err == nil && validCompanyID(id) {
			return id
		}
		return ""
	}
	return ""
}
