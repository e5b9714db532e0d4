// Package topics is webhook-bridge's contract with its consumers: the catalog
// of AppDirect resources (type strings, aliases, topic names, supported
// actions, company-key rules), the parsing of the marketplace's webhook
// envelope, company keys, Normalize (a webhook body to its records), the
// CloudEvents encoding, Record and its headers, and Decode (a record's
// headers and value back to an Event). It is pure: it imports no Kafka
// client, HTTP framework, logger or metrics library, so any consumer can
// import it to decode records. The Kafka plumbing lives in topics/kafka; the
// HTTP side in bridge.
package topics

import (
	"fmt"
	"slices"
	"strings"
)

// Action is the lower-case name of what happened to a resource, as it
// appears in the "action" header and in the CloudEvents type.
type Action string

// The actions the marketplace sends in resourceAction.
const (
	Added   Action = "added"
	Changed Action = "changed"
	Removed Action = "removed"
)

// actionAliases maps the wire spellings of resourceAction to actions. The
// marketplace sends ADDED, CHANGED and REMOVED; its UI calls the third one
// "Deleted", so DELETED is accepted as well. Matching is exact: no case
// folding, no trimming.
var actionAliases = map[string]Action{
	"ADDED":   Added,
	"CHANGED": Changed,
	"REMOVED": Removed,
	"DELETED": Removed,
}

// ParseAction maps a resourceAction string to an Action.
func ParseAction(s string) (Action, bool) {
	a, ok := actionAliases[s]
	return a, ok
}

// Resource describes one kind of marketplace resource and where its events go.
type Resource struct {
	// Type is the canonical resource.type string, e.g. "SUBSCRIPTION".
	Type string
	// Aliases are other resource.type spellings that mean the same resource.
	Aliases []string
	// Name is the topic name without prefix, e.g. "subscription".
	Name string
	// Actions are the actions the marketplace sends for this resource.
	Actions []Action
	// CompanyPaths are where the company id may be found, tried in order;
	// the first non-empty string wins. See KeyPath for the syntax.
	CompanyPaths []string
}

// Supports reports whether the marketplace sends action for r.
func (r *Resource) Supports(a Action) bool { return slices.Contains(r.Actions, a) }

var (
	all     = []Action{Added, Changed, Removed}
	noDel   = []Action{Added, Changed}
	content = func(paths ...string) []string { return paths }
)

// Catalog is every resource the bridge routes, in topic-name order. It is the
// one place to add a resource, an alias or a company-id location; the README
// table, the AsyncAPI document and the tests are checked against it.
//
// Paths are tried in order. Every resource additionally falls back to a
// "/companies/{id}/" segment of resource.url, and then to resource.uuid as the
// record key without a company id (see ChooseKey).
var Catalog = []Resource{
	{Type: "APP_ASSIGNMENT", Name: "app-assignment", Actions: all, CompanyPaths: content("content.companyUuid")},
	{Type: "CATALOG_PRODUCT", Name: "catalog-product", Actions: all},
	{Type: "COMPANY", Name: "company", Actions: all, CompanyPaths: content("resource.uuid")},
	{Type: "DISCOUNT", Name: "discount", Actions: all},
	{Type: "INVOICE", Name: "invoice", Actions: all, CompanyPaths: content("content.company.id")},
	{Type: "LEAD", Aliases: []string{"SALES_LEAD"}, Name: "lead", Actions: all},
	{Type: "MEMBERSHIP", Name: "membership", Actions: all},
	{Type: "ORDER", Name: "order", Actions: all, CompanyPaths: content("content.company.id")},
	{Type: "PAYMENT_INSTRUMENT", Name: "payment-instrument", Actions: noDel, CompanyPaths: content("content.company.id")},
	{Type: "PLATFORM", Aliases: []string{"PLATFORMS"}, Name: "platform", Actions: all},
	{Type: "QUOTE", Name: "quote", Actions: all, CompanyPaths: content("content.company.id")},
	{Type: "RESELLER_REGISTRANT", Name: "reseller-registrant", Actions: []Action{Added}},
	{Type: "STAGING_PRODUCT", Name: "staging-product", Actions: noDel},
	{Type: "SUBSCRIPTION", Name: "subscription", Actions: all, CompanyPaths: content("content.company.id", "content.order.company.id")},
	{Type: "USER", Name: "user", Actions: all, CompanyPaths: content("content.memberships[].company.id")},
}

// QuarantineName is the topic name (without Naming.Internal) of the
// quarantine topic, where authenticated deliveries that cannot be routed are
// kept.
const QuarantineName = "deadletter"

// IndexName is the topic name (without Naming.Internal) of the company
// index: a compacted topic keyed "<topic name>:<resource uuid>" whose values
// are company ids (see Index).
const IndexName = "company-index"

var byType = func() map[string]*Resource {
	m := make(map[string]*Resource)
	for i := range Catalog {
		r := &Catalog[i]
		for _, t := range append([]string{r.Type}, r.Aliases...) {
			if _, dup := m[t]; dup {
				panic(fmt.Sprintf("topics: resource type %q listed twice in Catalog", t))
			}
			m[t] = r
		}
		for _, p := range r.CompanyPaths {
			if _, err := parseKeyPath(p); err != nil {
				panic(fmt.Sprintf("topics: catalog entry %s: %v", r.Type, err))
			}
		}
	}
	return m
}()

// Lookup finds the resource for a resource.type string. Matching is exact:
// "subscription" or " SUBSCRIPTION" are not SUBSCRIPTION, so a sender's typo
// is quarantined instead of guessed at.
func Lookup(resourceType string) (*Resource, bool) {
	r, ok := byType[resourceType]
	return r, ok
}

// ByName finds the resource with the given topic name (e.g. "user").
func ByName(name string) (*Resource, bool) {
	for i := range Catalog {
		if Catalog[i].Name == name {
			return &Catalog[i], true
		}
	}
	return nil, false
}

// Names returns the topic names of every resource, in catalog order.
func Names() []string {
	out := make([]string, len(Catalog))
	for i, r := range Catalog {
		out[i] = r.Name
	}
	return out
}

// Naming turns topic names into full Kafka topic names with a prefix. The
// resource topics and the bridge's own (the quarantine and the company
// index, whose records are not CloudEvents) have a prefix each, so that a
// pattern subscription on Prefix (^appdirect\..*) reads the resource topics
// only, as long as Internal does not start with Prefix.
type Naming struct {
	// Prefix is prepended to every resource topic name, e.g. "appdirect.".
	Prefix string
	// Internal is prepended to the quarantine's and the company index's
	// topic names, e.g. "webhook-bridge.". Empty means no prefix.
	Internal string
}

// Topic returns the Kafka topic for a resource topic name.
func (n Naming) Topic(name string) string { return n.Prefix + name }

// Quarantine returns the Kafka topic of the quarantine.
func (n Naming) Quarantine() string { return n.Internal + QuarantineName }

// Index returns the Kafka topic of the company index.
func (n Naming) Index() string { return n.Internal + IndexName }

// All returns every Kafka topic the bridge writes to: one per resource, the
// quarantine topic and the company index, in that order.
func (n Naming) All() []string {
	out := make([]string, 0, len(Catalog)+2)
	for _, r := range Catalog {
		out = append(out, n.Topic(r.Name))
	}
	return append(out, n.Quarantine(), n.Index())
}

// Compacted returns the topics of All that are created with
// cleanup.policy=compact: the company index, where only the latest value of
// each key matters.
func (n Naming) Compacted() []string { return []string{n.Index()} }

// Name strips the prefix from a Kafka topic, returning the topic name:
// Internal from the quarantine and the company index, Prefix from any other.
func (n Naming) Name(topic string) (string, bool) {
	if name, ok := strings.CutPrefix(topic, n.Internal); ok && (name == QuarantineName || name == IndexName) {
		return name, true
	}
	return strings.CutPrefix(topic, n.Prefix)
}
