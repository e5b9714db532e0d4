package topics

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// fakeIndex is a CompanyIndex that answers from a map and records every
// question it is asked.
type fakeIndex struct {
	companies map[string]string // "name/resourceUUID" -> company id
	calls     []string          // "name/resourceUUID", in call order
}

func (f *fakeIndex) Company(name, resourceUUID string) (string, bool) {
	k := name + "/" + resourceUUID
	f.calls = append(f.calls, k)
	id, ok := f.companies[k]
	return id, ok
}

// event builds an envelope body for ChooseKey tests. resource is the inner
// JSON of the resource object after "type".
func event(typ, action, resource string) string {
	if resource != "" {
		resource = "," + resource
	}
	return `{"uuid":"ev-1","timestamp":1718035200123,"resource":{"type":"` + typ + `"` + resource + `},"resourceAction":"` + action + `"}`
}

// orderWithCompanyID is an ORDER event whose content.company.id is the given
// JSON value.
func orderWithCompanyID(idJSON string) string {
	return event("ORDER", "ADDED", `"uuid":"o-1","url":"https://m.example/api/billing/v1/orders/o-1","content":{"id":"o-1","company":{"id":`+idJSON+`,"href":"h"}}`)
}

// noCompany is the key of an event that names no company.
func noCompany(resourceUUID string) Key {
	return Key{Value: resourceUUID, Source: SourceNone}
}

func payload(ids ...string) Key {
	return Key{Value: ids[0], CompanyID: ids[0], CompanyIDs: ids, Source: SourcePayload}
}

func fromURL(id string) Key {
	return Key{Value: id, CompanyID: id, CompanyIDs: []string{id}, Source: SourceURL}
}

func TestChooseKey(t *testing.T) {
	long256 := strings.Repeat("c", 256)
	long257 := strings.Repeat("c", 257)
	tests := []struct {
		name string
		give string
		want Key
	}{
		// COMPANY: resource.uuid, even without content.
		{
			name: "COMPANY added: resource.uuid, not content.id",
			give: event("COMPANY", "ADDED", `"uuid":"c-1","url":"https://m.example/api/account/v1/companies/c-1","content":{"id":"ext-1","name":"Acme"}`),
			want: payload("c-1"),
		},
		{
			name: "COMPANY removed without content",
			give: event("COMPANY", "REMOVED", `"uuid":"c-1","url":"https://m.example/api/account/v1/companies/c-1?isExternalId=false"`),
			want: payload("c-1"),
		},
		{
			name: "COMPANY with blank resource.uuid falls back to the url",
			give: event("COMPANY", "CHANGED", `"uuid":" ","url":"https://m.example/api/account/v1/companies/c-2?isExternalId=true"`),
			want: fromURL("c-2"),
		},

		// APP_ASSIGNMENT: content.companyUuid.
		{
			name: "APP_ASSIGNMENT added",
			give: event("APP_ASSIGNMENT", "ADDED", `"uuid":"aa-1","url":"https://m.example/api/account/v2/subscriptions/assignments/aa-1","content":{"userUuid":"u-1","companyUuid":"c-1","subscriptionUuid":"s-1","status":"ACTIVE"}`),
			want: payload("c-1"),
		},
		{
			name: "APP_ASSIGNMENT removed",
			give: event("APP_ASSIGNMENT", "REMOVED", `"uuid":"aa-1","url":"https://m.example/api/account/v2/subscriptions/assignments/aa-1"`),
			want: noCompany("aa-1"),
		},

		// SUBSCRIPTION: content.company.id, then content.order.company.id.
		{
			name: "SUBSCRIPTION with company and order company: company wins",
			give: event("SUBSCRIPTION", "CHANGED", `"uuid":"s-1","content":{"company":{"id":"c-top"},"order":{"company":{"id":"c-order"}}}`),
			want: payload("c-top"),
		},
		{
			name: "SUBSCRIPTION with order company only",
			give: event("SUBSCRIPTION", "ADDED", `"uuid":"s-1","content":{"order":{"id":"4410021","company":{"id":"c-order","href":"h"},"user":{"id":"u-1"}}}`),
			want: payload("c-order"),
		},
		{
			name: "SUBSCRIPTION with a bad company id falls to the order's",
			give: event("SUBSCRIPTION", "ADDED", `"uuid":"s-1","content":{"company":{"id":17},"order":{"company":{"id":"c-order"}}}`),
			want: payload("c-order"),
		},
		{
			name: "SUBSCRIPTION removed",
			give: event("SUBSCRIPTION", "REMOVED", `"uuid":"s-1","url":"https://m.example/api/billing/v1/subscriptions/s-1"`),
			want: noCompany("s-1"),
		},

		// content.company.id for ORDER, INVOICE, QUOTE, PAYMENT_INSTRUMENT.
		{name: "ORDER", give: orderWithCompanyID(`"c-1"`), want: payload("c-1")},
		{
			name: "INVOICE",
			give: event("INVOICE", "ADDED", `"uuid":"i-1","content":{"company":{"id":"c-1"},"seller":{"company":{"id":"reseller-1"}}}`),
			want: payload("c-1"),
		},
		{
			name: "INVOICE with only a seller is not keyed by the seller",
			give: event("INVOICE", "ADDED", `"uuid":"i-1","content":{"seller":{"companyUuid":"reseller-1","company":{"id":"reseller-1"}}}`),
			want: noCompany("i-1"),
		},
		{
			name: "QUOTE",
			give: event("QUOTE", "CHANGED", `"uuid":"q-1","content":{"company":{"id":"c-1"}}`),
			want: payload("c-1"),
		},
		{
			name: "PAYMENT_INSTRUMENT",
			give: event("PAYMENT_INSTRUMENT", "ADDED", `"uuid":"pi-1","url":"https://m.example/api/billing/v1/paymentInstruments/pi-1","content":{"company":{"id":"c-1"}}`),
			want: payload("c-1"),
		},

		// USER: every membership's company, the first one is the key.
		{
			name: "USER with one membership",
			give: event("USER", "CHANGED", `"uuid":"u-1","content":{"id":"u-1","memberships":[{"enabled":true,"company":{"id":"c-1","name":"Example Org"}}]}`),
			want: payload("c-1"),
		},
		{
			name: "USER with several memberships: payload order, no repeats",
			give: event("USER", "CHANGED", `"uuid":"u-1","content":{"memberships":[{"company":{"id":"c-3"}},{"company":{"id":"c-1"}},{"company":{"id":"c-3"}},{"company":{"id":"c-2"}},{"company":{"id":"c-1"}}]}`),
			want: payload("c-3", "c-1", "c-2"),
		},
		{
			name: "USER memberships with bad entries are skipped",
			give: event("USER", "CHANGED", `"uuid":"u-1","content":{"memberships":[{"company":{"id":5}},{"company":null},"c-x",7,null,[],{"enabled":true},{"company":{"id":"  "}},{"company":{"id":""}},{"company":"c-y"},{"company":{"id":"c-2"}},{"company":{"id":{"id":"c-z"}}},{"company":{"id":"c-3"}}]}`),
			want: payload("c-2", "c-3"),
		},
		{
			name: "USER memberships not an array",
			give: event("USER", "CHANGED", `"uuid":"u-1","content":{"memberships":{"company":{"id":"c-1"}}}`),
			want: noCompany("u-1"),
		},
		{
			name: "USER with no memberships",
			give: event("USER", "ADDED", `"uuid":"u-1","url":"https://m.example/api/account/v1/users/u-1?isExternalId=false","content":{"id":"u-1","memberships":[]}`),
			want: noCompany("u-1"),
		},
		{
			name: "USER removed",
			give: event("USER", "REMOVED", `"uuid":"u-1","url":"https://m.example/api/account/v1/users/u-1"`),
			want: noCompany("u-1"),
		},

		// MEMBERSHIP: the company is only in resource.url.
		{
			name: "MEMBERSHIP from the url",
			give: event("MEMBERSHIP", "ADDED", `"uuid":"u-1","url":"https://m.example/api/account/v1/companies/c-1/users/u-1","content":{"id":"u-1","roles":["USER"]}`),
			want: fromURL("c-1"),
		},
		{
			name: "MEMBERSHIP removed keeps the url's company",
			give: event("MEMBERSHIP", "REMOVED", `"uuid":"u-1","url":"https://m.example/api/account/v1/companies/c-1/users/u-1"`),
			want: fromURL("c-1"),
		},
		{
			name: "MEMBERSHIP with percent-encoded ids",
			give: event("MEMBERSHIP", "CHANGED", `"uuid":"u-1","url":"https://m.example/api/account/v1/companies/caf%C3%A9%20%26%20co%2Fparis/users/u%2F1?isExternalId=true"`),
			want: fromURL("café & co/paris"),
		},
		{
			name: "MEMBERSHIP with a relative url",
			give: event("MEMBERSHIP", "CHANGED", `"uuid":"u-1","url":"/api/account/v1/companies/c-1/users/u-1"`),
			want: fromURL("c-1"),
		},
		{
			name: "MEMBERSHIP with companies only in the query",
			give: event("MEMBERSHIP", "CHANGED", `"uuid":"u-1","url":"https://m.example/api/account/v1/users/u-1?next=/companies/c-1/x"`),
			want: noCompany("u-1"),
		},
		{
			name: "MEMBERSHIP with an empty company segment",
			give: event("MEMBERSHIP", "CHANGED", `"uuid":"u-1","url":"https://m.example/api/account/v1/companies//users/u-1"`),
			want: noCompany("u-1"),
		},
		{
			name: "MEMBERSHIP with a blank company segment",
			give: event("MEMBERSHIP", "CHANGED", `"uuid":"u-1","url":"https://m.example/api/account/v1/companies/%20%09/users/u-1"`),
			want: noCompany("u-1"),
		},
		{
			name: "MEMBERSHIP with a control character in the company",
			give: event("MEMBERSHIP", "CHANGED", `"uuid":"u-1","url":"https://m.example/api/account/v1/companies/c%00/users/u-1"`),
			want: noCompany("u-1"),
		},
		{
			name: "MEMBERSHIP with a bad escape",
			give: event("MEMBERSHIP", "CHANGED", `"uuid":"u-1","url":"https://m.example/api/account/v1/companies/c%zz/users/u-1"`),
			want: noCompany("u-1"),
		},
		{
			name: "MEMBERSHIP with a url that does not parse",
			give: event("MEMBERSHIP", "CHANGED", `"uuid":"u-1","url":"http://[::1/companies/c-1/users/u-1"`),
			want: noCompany("u-1"),
		},
		{
			name: "MEMBERSHIP url ending at companies",
			give: event("MEMBERSHIP", "CHANGED", `"uuid":"u-1","url":"https://m.example/api/account/v1/companies"`),
			want: noCompany("u-1"),
		},

		// No resource.uuid: the event id.
		{
			name: "REMOVED with empty resource.uuid: the event id",
			give: event("SUBSCRIPTION", "REMOVED", `"uuid":"","url":""`),
			want: noCompany("ev-1"),
		},
		{
			name: "REMOVED without resource.uuid: the event id",
			give: event("ORDER", "REMOVED", ``),
			want: noCompany("ev-1"),
		},

		// Resources without a customer company, even when content names one.
		{
			name: "CATALOG_PRODUCT: the vendor is not the key",
			give: event("CATALOG_PRODUCT", "CHANGED", `"uuid":"665549","url":"https://m.example/api/marketplace/v1/products/665549?country=&currency=","content":{"application":{"id":665549,"vendor":{"id":"v-1"}},"company":{"id":"c-1"}}`),
			want: noCompany("665549"),
		},
		{
			name: "STAGING_PRODUCT",
			give: event("STAGING_PRODUCT", "ADDED", `"uuid":"p-1","content":{"company":{"id":"c-1"},"productRefId":"r"}`),
			want: noCompany("p-1"),
		},
		{
			name: "DISCOUNT",
			give: event("DISCOUNT", "ADDED", `"uuid":"d-1","content":{"company":{"id":"c-1"},"companyUuid":"c-1"}`),
			want: noCompany("d-1"),
		},
		{
			name: "PLATFORM",
			give: event("PLATFORM", "CHANGED", `"uuid":"pl-1","content":{"company":{"id":"c-1"}}`),
			want: noCompany("pl-1"),
		},
		{
			name: "PLATFORMS alias",
			give: event("PLATFORMS", "CHANGED", `"uuid":"pl-1","content":{"company":{"id":"c-1"}}`),
			want: noCompany("pl-1"),
		},
		{
			name: "LEAD",
			give: event("LEAD", "ADDED", `"uuid":"l-1","content":{"company":{"id":"c-1"}}`),
			want: noCompany("l-1"),
		},
		{
			name: "SALES_LEAD alias",
			give: event("SALES_LEAD", "ADDED", `"uuid":"l-1","content":{"company":{"id":"c-1"}}`),
			want: noCompany("l-1"),
		},
		{
			name: "RESELLER_REGISTRANT",
			give: event("RESELLER_REGISTRANT", "ADDED", `"uuid":"rr-1","content":{"company":{"id":"c-1"},"companyUuid":"c-1"}`),
			want: noCompany("rr-1"),
		},

		// Bad company values are skipped, never a panic.
		{name: "company id number", give: orderWithCompanyID(`42`), want: noCompany("o-1")},
		{name: "company id object", give: orderWithCompanyID(`{"id":"c-1"}`), want: noCompany("o-1")},
		{name: "company id array", give: orderWithCompanyID(`["c-1"]`), want: noCompany("o-1")},
		{name: "company id null", give: orderWithCompanyID(`null`), want: noCompany("o-1")},
		{name: "company id true", give: orderWithCompanyID(`true`), want: noCompany("o-1")},
		{name: "company id empty", give: orderWithCompanyID(`""`), want: noCompany("o-1")},
		{name: "company id whitespace", give: orderWithCompanyID(`" \t\n "`), want: noCompany("o-1")},
		{name: "company id with NUL", give: orderWithCompanyID(`"c\u00001"`), want: noCompany("o-1")},
		{name: "company id with newline", give: orderWithCompanyID(`"c-1\n"`), want: noCompany("o-1")},
		{name: "company id with DEL", give: orderWithCompanyID(`"c-1\u007f"`), want: noCompany("o-1")},
		{name: "company id with an invalid surrogate", give: orderWithCompanyID(`"c-\ud800"`), want: payload("c-\ufffd")},
		{name: "company id of 257 bytes", give: orderWithCompanyID(`"` + long257 + `"`), want: noCompany("o-1")},
		{name: "company id of 256 bytes", give: orderWithCompanyID(`"` + long256 + `"`), want: payload(long256)},
		{name: "company id with escapes", give: orderWithCompanyID(`"c-\u00e9\/1"`), want: payload("c-é/1")},
		{name: "company id with inner spaces", give: orderWithCompanyID(`"Acme Corp"`), want: payload("Acme Corp")},
		{name: "company not an object", give: event("ORDER", "ADDED", `"uuid":"o-1","content":{"company":"c-1"}`), want: noCompany("o-1")},
		{name: "content array", give: event("ORDER", "ADDED", `"uuid":"o-1","content":[{"company":{"id":"c-1"}}]`), want: noCompany("o-1")},
		{name: "content string", give: event("ORDER", "ADDED", `"uuid":"o-1","content":"{\"company\":{\"id\":\"c-1\"}}"`), want: noCompany("o-1")},
		{name: "content number", give: event("ORDER", "ADDED", `"uuid":"o-1","content":1`), want: noCompany("o-1")},
		{name: "content empty object", give: event("ORDER", "ADDED", `"uuid":"o-1","content":{}`), want: noCompany("o-1")},
		{name: "company key spelled with an escape", give: event("ORDER", "ADDED", `"uuid":"o-1","content":{"c\u006fmpany":{"\u0069d":"c-1"}}`), want: payload("c-1")},
		{name: "content.companyUuid as a number", give: event("APP_ASSIGNMENT", "ADDED", `"uuid":"aa-1","content":{"companyUuid":1}`), want: noCompany("aa-1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := chooseKeyFor(t, tt.give, nil)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ChooseKey() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// chooseKeyFor parses body, looks its resource up and chooses its key.
func chooseKeyFor(t testing.TB, body string, index CompanyIndex) Key {
	t.Helper()
	env, err := ParseEnvelope([]byte(body))
	if err != nil {
		t.Fatalf("ParseEnvelope(%s) error = %v", body, err)
	}
	r, ok := Lookup(env.Type)
	if !ok {
		t.Fatalf("Lookup(%q) not found", env.Type)
	}
	return ChooseKey(r, &env, index)
}

func TestChooseKeyIndex(t *testing.T) {
	companies := map[string]string{
		"subscription/s-1": "c-idx",
		"order/o-1":        "c-idx",
		"membership/u-1":   "c-idx",
		"user/u-1":         "c-idx",
		"company/c-1":      "c-idx",
		"order/o-blank":    "   ",
		"order/o-ctrl":     "c\x01",
	}
	tests := []struct {
		name      string
		give      string
		want      Key
		wantCalls []string
	}{
		{
			name:      "REMOVED: the index is asked with the topic name and resource.uuid",
			give:      event("SUBSCRIPTION", "REMOVED", `"uuid":"s-1"`),
			want:      Key{Value: "c-idx", CompanyID: "c-idx", CompanyIDs: []string{"c-idx"}, Source: SourceIndex},
			wantCalls: []string{"subscription/s-1"},
		},
		{
			name:      "USER without memberships",
			give:      event("USER", "CHANGED", `"uuid":"u-1","content":{"memberships":[]}`),
			want:      Key{Value: "c-idx", CompanyID: "c-idx", CompanyIDs: []string{"c-idx"}, Source: SourceIndex},
			wantCalls: []string{"user/u-1"},
		},
		{
			name: "payload company: the index is not asked",
			give: orderWithCompanyID(`"c-1"`),
			want: payload("c-1"),
		},
		{
			name: "COMPANY: resource.uuid, the index is not asked",
			give: event("COMPANY", "REMOVED", `"uuid":"c-1"`),
			want: payload("c-1"),
		},
		{
			name: "url company: the index is not asked",
			give: event("MEMBERSHIP", "REMOVED", `"uuid":"u-1","url":"/api/account/v1/companies/c-url/users/u-1"`),
			want: fromURL("c-url"),
		},
		{
			name:      "index miss",
			give:      event("ORDER", "REMOVED", `"uuid":"o-2"`),
			want:      noCompany("o-2"),
			wantCalls: []string{"order/o-2"},
		},
		{
			name:      "index answer blank: not used",
			give:      event("ORDER", "REMOVED", `"uuid":"o-blank"`),
			want:      noCompany("o-blank"),
			wantCalls: []string{"order/o-blank"},
		},
		{
			name:      "index answer with a control character: not used",
			give:      event("ORDER", "REMOVED", `"uuid":"o-ctrl"`),
			want:      noCompany("o-ctrl"),
			wantCalls: []string{"order/o-ctrl"},
		},
		{
			name: "no resource.uuid: the index is not asked",
			give: event("ORDER", "REMOVED", `"uuid":""`),
			want: noCompany("ev-1"),
		},
		{
			name:      "resource without company rules still asks the index",
			give:      event("DISCOUNT", "REMOVED", `"uuid":"d-1"`),
			want:      noCompany("d-1"),
			wantCalls: []string{"discount/d-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := &fakeIndex{companies: companies}
			got := chooseKeyFor(t, tt.give, idx)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ChooseKey() mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCalls, idx.calls); diff != "" {
				t.Errorf("index calls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChooseKeyExamples keys the example payloads of APPDIRECT.md §7.
func TestChooseKeyExamples(t *testing.T) {
	tests := []struct {
		name string
		give string // file in testdata/appdirect
		want Key
	}{
		{name: "subscription added", give: "7.1-subscription-added.json", want: payload("c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7")},
		{name: "user changed", give: "7.2-user-changed.json", want: payload("c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7")},
		{name: "company removed", give: "7.3-company-removed.json", want: payload("c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7")},
		{name: "catalog product changed", give: "7.4-catalog-product-changed.json", want: noCompany("665549")},
		{name: "subscription removed", give: "7.5-subscription-removed.json", want: noCompany("5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "appdirect", tt.give))
			if err != nil {
				t.Fatal(err)
			}
			got := chooseKeyFor(t, string(body), nil)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ChooseKey() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// memberships builds a USER event with one membership per company id.
func memberships(ids ...string) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"enabled":true,"company":{"id":%q}}`, id)
	}
	return event("USER", "CHANGED", `"uuid":"u-1","content":{"memberships":[`+b.String()+`]}`)
}

// seq returns "c-<from>" .. "c-<to-1>".
func seq(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("c-%d", i))
	}
	return out
}

// TestChooseKeyManyMemberships covers users in many companies: repeats are
// dropped whether they come before or after the set switches to a map.
func TestChooseKeyManyMemberships(t *testing.T) {
	tests := []struct {
		name string
		give []string
		want []string
	}{
		{name: "16 distinct", give: seq(0, 16), want: seq(0, 16)},
		{name: "17 distinct", give: seq(0, 17), want: seq(0, 17)},
		{name: "repeat at the switch", give: append(seq(0, 16), "c-0", "c-16", "c-15"), want: seq(0, 17)},
		{name: "repeats after the switch", give: append(append(seq(0, 40), seq(0, 40)...), "c-40", "c-39"), want: seq(0, 41)},
		{name: "every id twice in a row", give: []string{"a", "a", "b", "b", "c", "c"}, want: []string{"a", "b", "c"}},
		{name: "thousands", give: append(seq(0, 5000), seq(2500, 5001)...), want: seq(0, 5001)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := chooseKeyFor(t, memberships(tt.give...), nil)
			if diff := cmp.Diff(payload(tt.want...), got); diff != "" {
				t.Errorf("ChooseKey() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// BenchmarkChooseKeyManyMemberships is a 1 MiB USER body naming ~39000
// companies. Repeats used to be found by a linear scan per id, which took
// seconds per event; it must stay linear.
func BenchmarkChooseKeyManyMemberships(b *testing.B) {
	var ids []string
	for n := 0; n < 1<<20; n += len(`{"enabled":true,"company":{"id":"c-00000"}},`) {
		ids = append(ids, fmt.Sprintf("c-%d", len(ids)))
	}
	env, err := ParseEnvelope([]byte(memberships(ids...)))
	if err != nil {
		b.Fatal(err)
	}
	r, _ := Lookup("USER")
	for b.Loop() {
		if k := ChooseKey(r, &env, nil); len(k.CompanyIDs) != len(ids) {
			b.Fatalf("%d company ids, want %d", len(k.CompanyIDs), len(ids))
		}
	}
}

func TestParseKeyPath(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		want    keyPath
		wantErr bool
	}{
		{name: "resource.uuid", give: "resource.uuid", want: keyPath{root: "resource"}},
		{name: "content member", give: "content.companyUuid", want: keyPath{root: "content", segs: []keySeg{{name: "companyUuid"}}}},
		{name: "content path", give: "content.order.company.id", want: keyPath{root: "content", segs: []keySeg{{name: "order"}, {name: "company"}, {name: "id"}}}},
		{name: "array path", give: "content.memberships[].company.id", want: keyPath{root: "content", segs: []keySeg{{name: "memberships", each: true}, {name: "company"}, {name: "id"}}}},
		{name: "resource.url is not a path", give: "resource.url", wantErr: true},
		{name: "resource alone", give: "resource", wantErr: true},
		{name: "content alone", give: "content", wantErr: true},
		{name: "other root", give: "body.company.id", wantErr: true},
		{name: "empty segment", give: "content..id", wantErr: true},
		{name: "trailing dot", give: "content.id.", wantErr: true},
		{name: "bare brackets", give: "content.[].id", wantErr: true},
		{name: "brackets inside a name", give: "content.a[]b.id", wantErr: true},
		{name: "index in brackets", give: "content.memberships[0].id", wantErr: true},
		{name: "empty", give: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseKeyPath(tt.give)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseKeyPath(%q) error = %v, want error %v", tt.give, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(keyPath{}, keySeg{})); diff != "" {
				t.Errorf("parseKeyPath(%q) mismatch (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestOverlongResourceUUIDFallsBackToTheEventID(t *testing.T) {
	r, _ := Lookup("DISCOUNT")
	env := Envelope{ID: "evt-1", ResourceUUID: strings.Repeat("d", 300)}
	want := Key{Value: "evt-1", Source: SourceNone}
	if diff := cmp.Diff(want, ChooseKey(r, &env, nil)); diff != "" {
		t.Errorf("ChooseKey mismatch (-want +got):\n%s", diff)
	}
}

func TestValidCompanyID(t *testing.T) {
	tests := []struct {
		name string
		give string
		want bool
	}{
		{name: "uuid", give: "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7", want: true},
		{name: "non-ASCII", give: "株式会社テスト", want: true},
		{name: "inner space", give: "Acme Corp", want: true},
		{name: "256 bytes", give: strings.Repeat("x", 256), want: true},
		{name: "257 bytes", give: strings.Repeat("x", 257)},
		{name: "empty", give: ""},
		{name: "spaces", give: "   "},
		{name: "unicode spaces only", give: "\u00a0\u2003"},
		{name: "tab inside", give: "c\t1"},
		{name: "NUL", give: "\x00"},
		{name: "DEL", give: "c\x7f"},
		{name: "invalid UTF-8", give: "c\xff"},
		{name: "comma (would split company-ids)", give: "acme,inc"},
		{name: "path traversal", give: "../../etc"},
		{name: "dot segment", give: "acme/./x"},
		{name: "slash inside a name", give: "café & co/paris", want: true},
		{name: "spaces around", give: " D "},
		{name: "quotes", give: `" D "`},
		{name: "backslash", give: `acme\x`},
		{name: "right-to-left override", give: "acme\u202egpj.exe"},
		{name: "zero-width space", give: "ac\u200bme"},
		{name: "no-break space inside", give: "acme\u00a0corp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, validCompanyID(tt.give)); diff != "" {
				t.Errorf("validCompanyID(%q) mismatch (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

// TestEventRecordKeyHeaders checks how a chosen key reaches the record.
func TestEventRecordKeyHeaders(t *testing.T) {
	tests := []struct {
		name        string
		give        string
		wantKey     string
		wantHeaders []Header
	}{
		{
			name:    "several companies",
			give:    event("USER", "CHANGED", `"uuid":"u-1","content":{"memberships":[{"company":{"id":"c-1"}},{"company":{"id":"c-2"}}]}`),
			wantKey: "c-1",
			wantHeaders: []Header{
				{HeaderResource, []byte("user")},
				{HeaderAction, []byte("changed")},
				{HeaderEventID, []byte("ev-1")},
				{HeaderCompanyID, []byte("c-1")},
				{HeaderCompanyIDs, []byte("c-1,c-2")},
				{HeaderCompanyIDSource, []byte("payload")},
				{HeaderContentType, []byte(CloudEventsContentType)},
				{HeaderEventTime, []byte("1718035200123")},
			},
		},
		{
			name:    "no company",
			give:    event("SUBSCRIPTION", "REMOVED", `"uuid":"s-1"`),
			wantKey: "s-1",
			wantHeaders: []Header{
				{HeaderResource, []byte("subscription")},
				{HeaderAction, []byte("removed")},
				{HeaderEventID, []byte("ev-1")},
				{HeaderCompanyIDSource, []byte("none")},
				{HeaderContentType, []byte(CloudEventsContentType)},
				{HeaderEventTime, []byte("1718035200123")},
			},
		},
		{
			name:    "no timestamp, no event-time",
			give:    `{"uuid":"ev-2","resource":{"type":"SUBSCRIPTION","uuid":"s-1"},"resourceAction":"REMOVED"}`,
			wantKey: "s-1",
			wantHeaders: []Header{
				{HeaderResource, []byte("subscription")},
				{HeaderAction, []byte("removed")},
				{HeaderEventID, []byte("ev-2")},
				{HeaderCompanyIDSource, []byte("none")},
				{HeaderContentType, []byte(CloudEventsContentType)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := ParseEnvelope([]byte(tt.give))
			if err != nil {
				t.Fatal(err)
			}
			r, _ := Lookup(env.Type)
			a, _ := ParseAction(env.Action)
			rec := EventRecord(Naming{Prefix: "appdirect."}, r, a, &env, ChooseKey(r, &env, nil), []byte("v"))
			if diff := cmp.Diff("appdirect."+r.Name, rec.Topic); diff != "" {
				t.Errorf("Topic mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantKey, string(rec.Key)); diff != "" {
				t.Errorf("Key mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantHeaders, rec.Headers); diff != "" {
				t.Errorf("Headers mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidEventID(t *testing.T) {
	tests := []struct {
		name string
		give string
		want bool
	}{
		{name: "uuid", give: "7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09", want: true},
		{name: "256 bytes", give: strings.Repeat("e", 256), want: true},
		{name: "257 bytes", give: strings.Repeat("e", 257)},
		{name: "empty", give: ""},
		{name: "CR/LF", give: "evt-1\r\nforged: line"},
		{name: "NUL", give: "evt\x001"},
		{name: "comma", give: "evt-1,evt-2"},
		{name: "non-ASCII", give: "évt-1"},
		{name: "DEL", give: "evt\x7f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ValidEventID(tt.give)); diff != "" {
				t.Errorf("ValidEventID(%q) mismatch (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

func TestQuoteCutsLongInput(t *testing.T) {
	if got := Quote("SUBSCRIPTION"); got != `"SUBSCRIPTION"` {
		t.Errorf("Quote(short) = %s", got)
	}
	long := strings.Repeat("é", 600) // 1200 bytes, cut inside no rune
	got := Quote(long)
	if len(got) > MaxQuotedInput+40 || !strings.HasSuffix(got, "… (1200 bytes)") || !utf8.ValidString(got) {
		t.Errorf("Quote(1200 bytes) = %d bytes %q, want at most %d bytes of input and the length", len(got), got, MaxQuotedInput)
	}
}
