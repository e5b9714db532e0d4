package topics

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// contractEntry is the part of a catalog entry that other systems depend on:
// what the marketplace sends (type, aliases, actions) and where it goes.
type contractEntry struct {
	Type    string
	Aliases []string
	Name    string
	Actions []Action
}

// catalogContract is the resource table the bridge promises, written out
// literally, in topic-name order. Changing it is a change of contract.
var catalogContract = []contractEntry{
	{Type: "APP_ASSIGNMENT", Name: "app-assignment", Actions: []Action{Added, Changed, Removed}},
	{Type: "CATALOG_PRODUCT", Name: "catalog-product", Actions: []Action{Added, Changed, Removed}},
	{Type: "COMPANY", Name: "company", Actions: []Action{Added, Changed, Removed}},
	{Type: "DISCOUNT", Name: "discount", Actions: []Action{Added, Changed, Removed}},
	{Type: "INVOICE", Name: "invoice", Actions: []Action{Added, Changed, Removed}},
	{Type: "LEAD", Aliases: []string{"SALES_LEAD"}, Name: "lead", Actions: []Action{Added, Changed, Removed}},
	{Type: "MEMBERSHIP", Name: "membership", Actions: []Action{Added, Changed, Removed}},
	{Type: "ORDER", Name: "order", Actions: []Action{Added, Changed, Removed}},
	{Type: "PAYMENT_INSTRUMENT", Name: "payment-instrument", Actions: []Action{Added, Changed}},
	{Type: "PLATFORM", Aliases: []string{"PLATFORMS"}, Name: "platform", Actions: []Action{Added, Changed, Removed}},
	{Type: "QUOTE", Name: "quote", Actions: []Action{Added, Changed, Removed}},
	{Type: "RESELLER_REGISTRANT", Name: "reseller-registrant", Actions: []Action{Added}},
	{Type: "STAGING_PRODUCT", Name: "staging-product", Actions: []Action{Added, Changed}},
	{Type: "SUBSCRIPTION", Name: "subscription", Actions: []Action{Added, Changed, Removed}},
	{Type: "USER", Name: "user", Actions: []Action{Added, Changed, Removed}},
}

func TestCatalogContract(t *testing.T) {
	got := make([]contractEntry, len(Catalog))
	for i, r := range Catalog {
		got[i] = contractEntry{Type: r.Type, Aliases: r.Aliases, Name: r.Name, Actions: r.Actions}
	}
	if diff := cmp.Diff(catalogContract, got); diff != "" {
		t.Errorf("Catalog mismatch (-want +got):\n%s", diff)
	}
	if len(Catalog) != 15 {
		t.Errorf("len(Catalog) = %d, want 15", len(Catalog))
	}
}

func TestNames(t *testing.T) {
	want := []string{
		"app-assignment", "catalog-product", "company", "discount", "invoice",
		"lead", "membership", "order", "payment-instrument", "platform",
		"quote", "reseller-registrant", "staging-product", "subscription", "user",
	}
	got := Names()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Names() mismatch (-want +got):\n%s", diff)
	}
	if !slices.IsSorted(got) {
		t.Errorf("Names() = %q, want topic-name order", got)
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string // topic name; "" when not found
	}{
		{name: "APP_ASSIGNMENT", give: "APP_ASSIGNMENT", want: "app-assignment"},
		{name: "CATALOG_PRODUCT", give: "CATALOG_PRODUCT", want: "catalog-product"},
		{name: "COMPANY", give: "COMPANY", want: "company"},
		{name: "DISCOUNT", give: "DISCOUNT", want: "discount"},
		{name: "INVOICE", give: "INVOICE", want: "invoice"},
		{name: "LEAD", give: "LEAD", want: "lead"},
		{name: "alias SALES_LEAD", give: "SALES_LEAD", want: "lead"},
		{name: "MEMBERSHIP", give: "MEMBERSHIP", want: "membership"},
		{name: "ORDER", give: "ORDER", want: "order"},
		{name: "PAYMENT_INSTRUMENT", give: "PAYMENT_INSTRUMENT", want: "payment-instrument"},
		{name: "PLATFORM", give: "PLATFORM", want: "platform"},
		{name: "alias PLATFORMS", give: "PLATFORMS", want: "platform"},
		{name: "QUOTE", give: "QUOTE", want: "quote"},
		{name: "RESELLER_REGISTRANT", give: "RESELLER_REGISTRANT", want: "reseller-registrant"},
		{name: "STAGING_PRODUCT", give: "STAGING_PRODUCT", want: "staging-product"},
		{name: "SUBSCRIPTION", give: "SUBSCRIPTION", want: "subscription"},
		{name: "USER", give: "USER", want: "user"},

		{name: "lower case", give: "subscription"},
		{name: "title case", give: "Subscription"},
		{name: "lower-case alias", give: "sales_lead"},
		{name: "leading space", give: " SUBSCRIPTION"},
		{name: "trailing space", give: "SUBSCRIPTION "},
		{name: "tab padded", give: "\tUSER\t"},
		{name: "trailing newline", give: "USER\n"},
		{name: "trailing NUL", give: "USER\x00"},
		{name: "empty", give: ""},
		{name: "plural", give: "SUBSCRIPTIONS"},
		{name: "undocumented kind", give: "OPPORTUNITY"},
		{name: "topic name is not a type", give: "app-assignment"},
		{name: "quarantine is not a resource", give: "DEADLETTER"},
		{name: "dotted name", give: "subscription.added"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := Lookup(tt.give)
			got := ""
			if ok {
				got = r.Name
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup(%q) mismatch (-want +got):\n%s", tt.give, diff)
			}
			if ok != (tt.want != "") {
				t.Errorf("Lookup(%q) ok = %v, want %v", tt.give, ok, tt.want != "")
			}
			if !ok && r != nil {
				t.Errorf("Lookup(%q) = %+v, want nil when not found", tt.give, r)
			}
		})
	}
}

// TestLookupReturnsCatalogEntry checks that a type and its aliases resolve to
// the very entry of Catalog, not a copy.
func TestLookupReturnsCatalogEntry(t *testing.T) {
	for i := range Catalog {
		want := &Catalog[i]
		for _, typ := range append([]string{want.Type}, want.Aliases...) {
			got, ok := Lookup(typ)
			if !ok || got != want {
				t.Errorf("Lookup(%q) = %p, %v; want &Catalog[%d] = %p", typ, got, ok, i, want)
			}
		}
	}
}

func TestByName(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string // resource type; "" when not found
	}{
		{name: "user", give: "user", want: "USER"},
		{name: "lead", give: "lead", want: "LEAD"},
		{name: "platform", give: "platform", want: "PLATFORM"},
		{name: "app-assignment", give: "app-assignment", want: "APP_ASSIGNMENT"},
		{name: "reseller-registrant", give: "reseller-registrant", want: "RESELLER_REGISTRANT"},
		{name: "quarantine is not a resource", give: QuarantineName},
		{name: "type is not a name", give: "USER"},
		{name: "prefixed", give: "appdirect.user"},
		{name: "alias spelling", give: "sales-lead"},
		{name: "empty", give: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := ByName(tt.give)
			got := ""
			if ok {
				got = r.Type
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ByName(%q) mismatch (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestParseAction(t *testing.T) {
	tests := []struct {
		name   string
		give   string
		want   Action
		wantOK bool
	}{
		{name: "ADDED", give: "ADDED", want: Added, wantOK: true},
		{name: "CHANGED", give: "CHANGED", want: Changed, wantOK: true},
		{name: "REMOVED", give: "REMOVED", want: Removed, wantOK: true},
		{name: "DELETED is removed", give: "DELETED", want: Removed, wantOK: true},
		{name: "lower case", give: "added"},
		{name: "title case", give: "Added"},
		{name: "lower-case deleted", give: "deleted"},
		{name: "leading space", give: " ADDED"},
		{name: "trailing space", give: "ADDED "},
		{name: "empty", give: ""},
		{name: "DELETE", give: "DELETE"},
		{name: "UPDATED", give: "UPDATED"},
		{name: "CREATED", give: "CREATED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseAction(tt.give)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseAction(%q) mismatch (-want +got):\n%s", tt.give, diff)
			}
			if ok != tt.wantOK {
				t.Errorf("ParseAction(%q) ok = %v, want %v", tt.give, ok, tt.wantOK)
			}
		})
	}
}

func TestSupports(t *testing.T) {
	for _, c := range catalogContract {
		t.Run(c.Name, func(t *testing.T) {
			r, ok := Lookup(c.Type)
			if !ok {
				t.Fatalf("Lookup(%q) not found", c.Type)
			}
			var got []Action
			for _, a := range []Action{Added, Changed, Removed, Action("deleted"), Action("ADDED"), Action("")} {
				if r.Supports(a) {
					got = append(got, a)
				}
			}
			if diff := cmp.Diff(c.Actions, got); diff != "" {
				t.Errorf("%s supports mismatch (-want +got):\n%s", c.Type, diff)
			}
		})
	}
}

func TestNaming(t *testing.T) {
	tests := []struct {
		name           string
		give           Naming
		wantTopic      string // Topic("subscription")
		wantQuarantine string
		wantAll        []string
	}{
		{
			name:           "no prefix",
			give:           Naming{},
			wantTopic:      "subscription",
			wantQuarantine: "deadletter",
			wantAll: []string{
				"app-assignment", "catalog-product", "company", "discount", "invoice",
				"lead", "membership", "order", "payment-instrument", "platform",
				"quote", "reseller-registrant", "staging-product", "subscription", "user",
				"deadletter", "company-index",
			},
		},
		{
			name:           "the default prefixes",
			give:           Naming{Prefix: "appdirect.", Internal: "webhook-bridge."},
			wantTopic:      "appdirect.subscription",
			wantQuarantine: "webhook-bridge.deadletter",
			wantAll: []string{
				"appdirect.app-assignment", "appdirect.catalog-product", "appdirect.company",
				"appdirect.discount", "appdirect.invoice", "appdirect.lead", "appdirect.membership",
				"appdirect.order", "appdirect.payment-instrument", "appdirect.platform",
				"appdirect.quote", "appdirect.reseller-registrant", "appdirect.staging-product",
				"appdirect.subscription", "appdirect.user", "webhook-bridge.deadletter",
				"webhook-bridge.company-index",
			},
		},
		{
			name:           "one prefix for all, the layout before Internal",
			give:           Naming{Prefix: "appdirect.", Internal: "appdirect."},
			wantTopic:      "appdirect.subscription",
			wantQuarantine: "appdirect.deadletter",
			wantAll: []string{
				"appdirect.app-assignment", "appdirect.catalog-product", "appdirect.company",
				"appdirect.discount", "appdirect.invoice", "appdirect.lead", "appdirect.membership",
				"appdirect.order", "appdirect.payment-instrument", "appdirect.platform",
				"appdirect.quote", "appdirect.reseller-registrant", "appdirect.staging-product",
				"appdirect.subscription", "appdirect.user", "appdirect.deadletter",
				"appdirect.company-index",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.wantTopic, tt.give.Topic("subscription")); diff != "" {
				t.Errorf("Topic mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantQuarantine, tt.give.Quarantine()); diff != "" {
				t.Errorf("Quarantine mismatch (-want +got):\n%s", diff)
			}
			all := tt.give.All()
			if diff := cmp.Diff(tt.wantAll, all); diff != "" {
				t.Errorf("All mismatch (-want +got):\n%s", diff)
			}
			if len(all) != 17 {
				t.Errorf("len(All()) = %d, want 17", len(all))
			}
			if diff := cmp.Diff([]string{tt.give.Internal + "company-index"}, tt.give.Compacted()); diff != "" {
				t.Errorf("Compacted mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNamingName(t *testing.T) {
	tests := []struct {
		name     string
		prefix   string
		internal string
		give     string
		want     string
		wantOK   bool
	}{
		{name: "resource topic", prefix: "appdirect.", internal: "webhook-bridge.", give: "appdirect.user", want: "user", wantOK: true},
		{name: "quarantine topic", prefix: "appdirect.", internal: "webhook-bridge.", give: "webhook-bridge.deadletter", want: "deadletter", wantOK: true},
		{name: "index topic", prefix: "appdirect.", internal: "webhook-bridge.", give: "webhook-bridge.company-index", want: "company-index", wantOK: true},
		{name: "internal prefix, other name", prefix: "appdirect.", internal: "webhook-bridge.", give: "webhook-bridge.user", want: "webhook-bridge.user"},
		{name: "old quarantine topic", prefix: "appdirect.", internal: "webhook-bridge.", give: "appdirect.deadletter", want: "deadletter", wantOK: true},
		{name: "one prefix for all", prefix: "appdirect.", internal: "appdirect.", give: "appdirect.deadletter", want: "deadletter", wantOK: true},
		{name: "other prefix", prefix: "appdirect.", give: "other.user", want: "other.user"},
		{name: "no prefix on topic", prefix: "appdirect.", give: "user", want: "user"},
		{name: "prefix alone", prefix: "appdirect.", give: "appdirect.", want: "", wantOK: true},
		{name: "prefix is case sensitive", prefix: "appdirect.", give: "AppDirect.user", want: "AppDirect.user"},
		{name: "empty prefix", prefix: "", give: "user", want: "user", wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Naming{Prefix: tt.prefix, Internal: tt.internal}.Name(tt.give)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Name(%q) mismatch (-want +got):\n%s", tt.give, diff)
			}
			if ok != tt.wantOK {
				t.Errorf("Name(%q) ok = %v, want %v", tt.give, ok, tt.wantOK)
			}
		})
	}
}

// TestNamingRoundTrip checks that Name undoes Topic, Quarantine and Index
// for every topic.
func TestNamingRoundTrip(t *testing.T) {
	for _, n := range []Naming{
		{Prefix: "prod.appdirect.", Internal: "prod.webhook-bridge."},
		{Prefix: "prod.appdirect.", Internal: "prod.appdirect."},
		{Prefix: "appdirect.", Internal: ""},
	} {
		want := append(Names(), QuarantineName, IndexName)
		var got []string
		for _, topic := range n.All() {
			name, ok := n.Name(topic)
			if !ok {
				t.Errorf("%+v: Name(%q) not ok", n, topic)
			}
			got = append(got, name)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%+v: Name(All()) mismatch (-want +got):\n%s", n, diff)
		}
	}
}

// TestResourcePatternMatchesOnlyResourceTopics is what a consumer's pattern
// subscription relies on: with the default prefixes, ^<Prefix>.* over every
// topic the bridge writes matches the 15 resource topics and nothing else,
// so no quarantined body or index record reaches a CloudEvents decoder.
func TestResourcePatternMatchesOnlyResourceTopics(t *testing.T) {
	n := Naming{Prefix: "appdirect.", Internal: "webhook-bridge."}
	pattern := regexp.MustCompile("^" + regexp.QuoteMeta(n.Prefix) + ".*")
	var got []string
	for _, topic := range n.All() {
		if pattern.MatchString(topic) {
			got = append(got, topic)
		}
	}
	var want []string
	for _, name := range Names() {
		want = append(want, n.Topic(name))
	}
	if len(want) != 15 {
		t.Fatalf("the catalog has %d resources, want 15", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s matches (-want +got):\n%s", pattern, diff)
	}
	// The layout before Internal, one prefix for all, is what broke
	// pattern subscriptions.
	old := Naming{Prefix: "appdirect.", Internal: "appdirect."}
	if !pattern.MatchString(old.Quarantine()) || !pattern.MatchString(old.Index()) {
		t.Errorf("%s does not match the old internal topics %s and %s: the check above proves nothing", pattern, old.Quarantine(), old.Index())
	}
}

// kafkaTopicName is what Kafka's Topic.validate accepts: at most 249 of
// [a-zA-Z0-9._-], and not "." or "..".
var kafkaTopicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func TestTopicNamesValid(t *testing.T) {
	tests := []struct {
		name string
		give Naming
	}{
		{name: "no prefix", give: Naming{}},
		{name: "default prefixes", give: Naming{Prefix: "appdirect.", Internal: "webhook-bridge."}},
		{name: "environment prefixes", give: Naming{Prefix: "prod_eu-1.appdirect.", Internal: "prod_eu-1.webhook-bridge."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bad []string
			seen := map[string]string{}
			for _, topic := range tt.give.All() {
				if !kafkaTopicName.MatchString(topic) || topic == "." || topic == ".." {
					bad = append(bad, topic)
				}
				// Kafka refuses topics that differ only in '.' versus '_',
				// since both map to the same metric name.
				norm := strings.ReplaceAll(topic, ".", "_")
				if other, dup := seen[norm]; dup {
					t.Errorf("topics %q and %q collide (same name, or differ only in '.' and '_')", other, topic)
				}
				seen[norm] = topic
			}
			if diff := cmp.Diff([]string(nil), bad); diff != "" {
				t.Errorf("invalid Kafka topic names (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResourceTypesUnique(t *testing.T) {
	seen := map[string]string{}
	for _, r := range Catalog {
		for _, typ := range append([]string{r.Type}, r.Aliases...) {
			if other, dup := seen[typ]; dup {
				t.Errorf("type %q maps to %s and %s", typ, other, r.Name)
			}
			seen[typ] = r.Name
		}
		if r.Name == QuarantineName || r.Name == IndexName {
			t.Errorf("resource %s uses the quarantine or index topic name", r.Type)
		}
		if strings.Contains(r.Name, ":") {
			t.Errorf("resource %s: a topic name with ':' would make company-index keys ambiguous", r.Type)
		}
	}
}
