package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// idLen is the length of an event id: a UUID.
const idLen = 36

// eventIDs are the event ids of one phase: a UUID whose first 24 characters
// are fixed for the phase (random run bits, then the phase number) and whose
// last 12 hex digits are a sequence number, so that a record read back names
// the request that wrote it.
type eventIDs struct {
	prefix string // 24 characters, "xxxxxxxx-pppp-4ppp-8ppp-"
}

func newEventIDs(run string, phase int) eventIDs {
	// run is 8 hex digits; the phase fills the remaining fixed groups.
	p := fmt.Sprintf("%04x%03x%03x", phase, phase>>16, phase>>28)
	return eventIDs{prefix: run + "-" + p[:4] + "-4" + p[4:7] + "-8" + p[7:10] + "-"}
}

// put writes the id of seq into dst[:idLen].
func (e eventIDs) put(dst []byte, seq uint64) {
	copy(dst, e.prefix)
	const hexd = "0123456789abcdef"
	for i := idLen - 1; i >= len(e.prefix); i-- {
		dst[i] = hexd[seq&0xf]
		seq >>= 4
	}
}

func (e eventIDs) id(seq uint64) string {
	var b [idLen]byte
	e.put(b[:], seq)
	return string(b[:])
}

// seq returns the sequence number of an id of this phase.
func (e eventIDs) seq(id string) (uint64, bool) {
	if len(id) != idLen || !strings.HasPrefix(id, e.prefix) {
		return 0, false
	}
	n, err := strconv.ParseUint(id[len(e.prefix):], 16, 64)
	return n, err == nil
}

// variant is one generated webhook body with its event id left open: every
// request fills in its own id, so that the body and the record it makes
// differ from any other request's only in that id.
type variant struct {
	name   string // template, e.g. "user-added"
	body   []byte // with a placeholder id at each of bodyAt
	bodyAt []int
	rec    topics.Record // what topics.Normalize makes of body
	valAt  []int         // the id's offsets in rec.Value
	hdrAt  int           // index of the event-id header in rec.Headers
	keyAt  []int         // the id's offsets in rec.Key (only when the key is the id)
	parts  []int         // partitions of the topic, for the expected partition

	// entity is the company-index key of the body's resource ("" when it
	// has no resource uuid); learns tells whether the body names its
	// company (payload or url), so that the bridge maps entity to it.
	entity string
	learns bool
	// index is the company-index record the bridge publishes with the
	// event while its index does not hold the mapping yet (ADDED, CHANGED),
	// or with every delivery (a REMOVED event's tombstone); Topic "" if none.
	index     topics.Record
	tombstone bool
}

// bodyFor writes the body of seq into dst (len(v.body) bytes).
func (v *variant) bodyFor(dst []byte, ids eventIDs, seq uint64) []byte {
	dst = append(dst[:0], v.body...)
	for _, at := range v.bodyAt {
		ids.put(dst[at:], seq)
	}
	return dst
}

// recordFor is the record the bridge makes of bodyFor(seq).
func (v *variant) recordFor(ids eventIDs, seq uint64) topics.Record {
	var r topics.Record
	v.recordInto(&r, make([]byte, idLen), ids, seq)
	return r
}

// recordInto is recordFor reusing r's buffers, and id (idLen bytes) for the
// event-id header.
func (v *variant) recordInto(r *topics.Record, id []byte, ids eventIDs, seq uint64) {
	r.Topic = v.rec.Topic
	r.Key = append(r.Key[:0], v.rec.Key...)
	r.Value = append(r.Value[:0], v.rec.Value...)
	for _, at := range v.valAt {
		ids.put(r.Value[at:], seq)
	}
	for _, at := range v.keyAt {
		ids.put(r.Key[at:], seq)
	}
	ids.put(id, seq)
	r.Headers = append(r.Headers[:0], v.rec.Headers...)
	r.Headers[v.hdrAt].Value = id
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// placeholderID marks where the event id goes; it is a valid id itself.
const placeholderID = "ffffffff-ffff-4fff-8fff-ffffffffffff"

// bodyOptions shape generated bodies.
type bodyOptions struct {
	Variants  int    // how many different bodies
	Companies int    // how many different company ids they name
	MinBytes  int    // bodies with content are padded to a size in [MinBytes, MaxBytes]
	MaxBytes  int    //
	Samples   string // the bridge's samples, one per resource and action: the templates
	Dir       string // send these bodies as they are (but for the event id) instead
	Seed      uint64 // of the choices (0: random)
}

// template is a sample body and what Normalize made of it.
type template struct {
	name string
	body []byte
	ev   topics.Routed
}

// loadTemplates reads the *.json bodies of dir.
func loadTemplates(dir string) ([]template, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("bodies: %w", err)
		}
		return nil, fmt.Errorf("bodies: no *.json files in %s", dir)
	}
	slices.Sort(names)
	var out []template
	for _, n := range names {
		body, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		ev, err := topics.Normalize(body, topics.Naming{}, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: the bridge would not accept it: %w", n, err)
		}
		if bytes.Count(body, []byte(ev.Envelope.ID)) != 1 {
			return nil, fmt.Errorf("%s: the event uuid %q must appear exactly once in the body", n, ev.Envelope.ID)
		}
		out = append(out, template{name: strings.TrimSuffix(filepath.Base(n), ".json"), body: body, ev: ev})
	}
	return out, nil
}

// makeVariants builds opts.Variants bodies from the templates, round robin
// over the templates so that every resource and action is sent alike. Each
// variant gets fresh UUIDs (the same UUID stays the same within a body, so
// ids and hrefs agree), a company from a pool of opts.Companies, padding in
// its content to the size range, and a placeholder event id.
//
// Fresh UUIDs per variant make every entity (resource uuid) a variant's
// own: no REMOVED event, nor any other that names no company, shares its
// entity with an event that teaches the company index, so the bridge's
// index never holds it and the event is keyed exactly as Normalize keys it
// without an index, whatever order concurrent requests arrive in.
// makeVariants checks this (and refuses -bodies that break it).
func makeVariants(opts bodyOptions, n topics.Naming, partitions map[string]int) ([]variant, error) {
	dir := opts.Samples
	if opts.Dir != "" {
		dir = opts.Dir
	}
	tmpls, err := loadTemplates(dir)
	if err != nil {
		return nil, err
	}
	seed := opts.Seed
	if seed == 0 {
		seed = randUint64()
	}
	rng := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	companies := make([]string, max(opts.Companies, 1))
	for i := range companies {
		companies[i] = randomUUID(rng)
	}
	out := make([]variant, 0, opts.Variants)
	for i := range opts.Variants {
		t := tmpls[i%len(tmpls)]
		var body []byte
		if opts.Dir == "" {
			body = freshIDs(rng, t, companies)
			body = pad(rng, body, opts.MinBytes, opts.MaxBytes)
		} else {
			// As it is, but for the event id, which every request fills in.
			body = bytes.Replace(t.body, []byte(t.ev.Envelope.ID), []byte(placeholderID), 1)
		}
		v, err := newVariant(t.name, body, n, partitions)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := checkEntities(out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkEntities refuses variants whose expected key would depend on the
// order requests arrive in: an event that names no company is keyed through
// the bridge's company index, so it must not share its entity with an event
// that teaches the index a company.
func checkEntities(vs []variant) error {
	teacher := map[string]string{}
	for _, v := range vs {
		if v.learns && v.entity != "" {
			teacher[v.entity] = v.name
		}
	}
	for _, v := range vs {
		if t, ok := teacher[v.entity]; ok && !v.learns {
			return fmt.Errorf("%s and %s are the same entity (%s): the bridge keys %s by the company the index learned from %s, so its key depends on which arrives first; give each entity its own resource uuid",
				v.name, t, v.entity, v.name, t)
		}
	}
	return nil
}

// freshIDs replaces every UUID of t's body with a new one, the company's
// with one of companies, and a marketplace-level key (a product id, say)
// with a new value, so that those events spread over partitions too.
func freshIDs(rng *mrand.Rand, t template, companies []string) []byte {
	body := t.body
	company := t.ev.Key.CompanyID
	repl := map[string]string{}
	for _, u := range uuidRE.FindAll(body, -1) {
		if _, ok := repl[string(u)]; ok {
			continue
		}
		if string(u) == company {
			repl[string(u)] = companies[rng.IntN(len(companies))]
		} else {
			repl[string(u)] = randomUUID(rng)
		}
	}
	if k := t.ev.Key; k.CompanyID == "" && !uuidRE.MatchString(k.Value) && len(k.Value) >= 4 {
		repl[k.Value] = freshKey(rng, k.Value)
	}
	for from, to := range repl {
		body = bytes.ReplaceAll(body, []byte(from), []byte(to))
	}
	// The event id goes last so that nothing else can take its value.
	return bytes.Replace(body, []byte(repl[t.ev.Envelope.ID]), []byte(placeholderID), 1)
}

func freshKey(rng *mrand.Rand, v string) string {
	if _, err := strconv.Atoi(v); err == nil {
		lo := int64(1)
		for range len(v) - 1 {
			lo *= 10
		}
		return strconv.FormatInt(lo+rng.Int64N(9*lo), 10)
	}
	return fmt.Sprintf("%s-%06d", v, rng.IntN(1_000_000))
}

// pad adds a "notes" member to the body's content object so that the body
// reaches a size drawn from [lo, hi]; bodies without content (REMOVED) stay
// as they are.
func pad(rng *mrand.Rand, body []byte, lo, hi int) []byte {
	if hi <= 0 {
		return body
	}
	target := lo
	if hi > lo {
		target += rng.IntN(hi - lo + 1)
	}
	env, err := topics.ParseEnvelope(body)
	if err != nil || len(body) >= target || len(env.Content) < 2 || env.Content[0] != '{' {
		return body
	}
	key := ""
	for _, k := range []string{"notes", "internalNotes", "remarks", "comments"} {
		if !bytes.Contains(env.Content, []byte(`"`+k+`"`)) {
			key = k
			break
		}
	}
	if key == "" {
		return body
	}
	at := cap(body) - cap(env.Content) + 1 // just inside the content's '{'
	sep := ", "
	if len(bytes.TrimSpace(env.Content[1:len(env.Content)-1])) == 0 {
		sep = ""
	}
	n := target - len(body) - len(`"": ""`) - len(key) - len(sep)
	if n <= 0 {
		return body
	}
	member := `"` + key + `": "` + lorem(rng, n) + `"` + sep
	out := make([]byte, 0, len(body)+len(member))
	out = append(out, body[:at]...)
	out = append(out, member...)
	return append(out, body[at:]...)
}

var words = strings.Fields(`account renewal seats license annual monthly upgrade downgrade
	billing contact region storage support premium standard trial migration invoice credit
	customer reseller partner catalog edition pricing discount quota usage connector`)

func lorem(rng *mrand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[rng.IntN(len(words))])
	}
	return b.String()[:n]
}

// emptyIndex is a company index that holds nothing: the bridge's, as far as
// any entity of the variants goes until it learned the entity's mapping.
type emptyIndex struct{}

func (emptyIndex) Company(string, string) (string, bool) { return "", false }

// newVariant normalizes body (which holds placeholderID as its event id)
// and finds where the id goes in the body and in the record.
func newVariant(name string, body []byte, n topics.Naming, partitions map[string]int) (variant, error) {
	ev, err := topics.Normalize(body, n, emptyIndex{})
	if err != nil {
		return variant{}, fmt.Errorf("%s: generated body is refused: %w", name, err)
	}
	if ev.Envelope.ID != placeholderID {
		return variant{}, fmt.Errorf("%s: event id is %q, not the placeholder", name, ev.Envelope.ID)
	}
	v := variant{name: name, body: body, rec: ev.Record, hdrAt: -1, index: ev.IndexUpdate}
	if ev.Envelope.ResourceUUID != "" {
		v.entity = topics.IndexKey(ev.Resource.Name, ev.Envelope.ResourceUUID)
	}
	v.learns = ev.Key.Source == topics.SourcePayload || ev.Key.Source == topics.SourceURL
	v.tombstone = v.index.Topic != "" && v.index.Value == nil
	if v.index.Topic != "" && bytes.Contains(v.index.Key, []byte(placeholderID)) {
		return variant{}, fmt.Errorf("%s: the company-index key holds the event id", name)
	}
	v.bodyAt = indexAll(body, placeholderID)
	v.valAt = indexAll(ev.Record.Value, placeholderID)
	v.keyAt = indexAll(ev.Record.Key, placeholderID)
	for i, h := range ev.Record.Headers {
		if h.Key == topics.HeaderEventID {
			v.hdrAt = i
		}
	}
	if len(v.bodyAt) != 1 || v.hdrAt < 0 {
		return variant{}, fmt.Errorf("%s: the event id must appear once in the body and as the %s header", name, topics.HeaderEventID)
	}
	for _, h := range ev.Record.Headers {
		if h.Key != topics.HeaderEventID && bytes.Contains(h.Value, []byte(placeholderID)) {
			return variant{}, fmt.Errorf("%s: header %s holds the event id", name, h.Key)
		}
	}
	for p := range partitions[ev.Record.Topic] {
		v.parts = append(v.parts, p)
	}
	return v, nil
}

func indexAll(b []byte, s string) []int {
	var out []int
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(s))
		if i < 0 {
			return out
		}
		out = append(out, off+i)
		off += i + len(s)
	}
}

func randomUUID(rng *mrand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randUint64() uint64 {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		panic(err)
	}
	return n.Uint64() | 1
}

// randomHex returns n random hex digits.
func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)[:n]
}

var errVerify = errors.New("verification failed")
