package topics

import (
	"fmt"
	"slices"
	"strings"
)

// The company index remembers which company an entity belongs to, so that
// events whose payload names none (REMOVED events carry no content) are still
// keyed by their company and land in its partition. It lives in Kafka itself:
// a compacted topic (Naming.Index) whose records are
//
//	key   "<topic name>:<resource uuid>", e.g. "subscription:5f0e2c8a-…"
//	value the company id; a tombstone (no value) once the entity is removed
//
// The bridge writes a mapping in the same Publish as the event that taught it
// (only when it changed), and a tombstone with every REMOVED event. Every
// replica reads the whole topic into memory at start and keeps following it.

// IndexKey is the company-index key of an entity.
func IndexKey(name, resourceUUID string) string { return name + ":" + resourceUUID }

// ParseIndexKey splits a company-index key into topic name and resource uuid.
// Topic names never contain ':', so the first one separates them.
func ParseIndexKey(key string) (name, resourceUUID string, ok bool) {
	i := strings.IndexByte(key, ':')
	if i <= 0 || i == len(key)-1 {
		return "", "", false
	}
	return key[:i], key[i+1:], true
}

// MaxIndexUUIDLength bounds the resource uuid of an index key.
const MaxIndexUUIDLength = 256

// CheckMapping reports why name, resourceUUID and companyID cannot be an
// index entry: the name must be a catalog topic name, the uuid non-empty and
// at most MaxIndexUUIDLength bytes, the company a valid company id (see
// ChooseKey). companyID "" is allowed: it stands for a tombstone.
func CheckMapping(name, resourceUUID, companyID string) error {
	if _, ok := ByName(name); !ok {
		return fmt.Errorf("%q is not a resource topic name (one of %v)", name, Names())
	}
	if resourceUUID == "" || len(resourceUUID) > MaxIndexUUIDLength {
		return fmt.Errorf("resource uuid must be 1 to %d bytes, got %d", MaxIndexUUIDLength, len(resourceUUID))
	}
	if companyID != "" && !validCompanyID(companyID) {
		return fmt.Errorf("company id %q is empty, longer than %d bytes or holds control characters", companyID, MaxCompanyIDLength)
	}
	return nil
}

// IndexRecord builds the company-index record of an entity: companyID as
// value, or a tombstone (nil value) when companyID is "".
func IndexRecord(n Naming, name, resourceUUID, companyID string) Record {
	rec := Record{Topic: n.Index(), Key: []byte(IndexKey(name, resourceUUID))}
	if companyID != "" {
		rec.Value = []byte(companyID)
	}
	return rec
}

// IndexUpdate returns the company-index record that publishing this event
// implies, and false when there is none:
//
//   - ADDED or CHANGED whose payload or url named the company: the mapping,
//     unless index already holds exactly it;
//   - REMOVED: a tombstone, for resources that can name a company, so that a
//     later event of the same uuid is not keyed by a removed entity's company.
//     It is written even when this instance's index does not hold the entity:
//     another replica may have written the mapping a moment ago.
//
// Resources whose company is their own resource.uuid (COMPANY) never need
// the index and are never written to it.
//
// With a nil index (no index configured) there is never an update.
func IndexUpdate(n Naming, r *Resource, a Action, env *Envelope, k Key, index CompanyIndex) (Record, bool) {
	if index == nil || env.ResourceUUID == "" || len(env.ResourceUUID) > MaxIndexUUIDLength ||
		slices.Contains(r.CompanyPaths, "resource.uuid") { // the entity is the company (COMPANY)
		return Record{}, false
	}
	if a == Removed {
		if len(r.CompanyPaths) == 0 && k.Source == SourceNone {
			return Record{}, false // a marketplace-level resource: never mapped
		}
		return IndexRecord(n, r.Name, env.ResourceUUID, ""), true
	}
	if k.Source != SourcePayload && k.Source != SourceURL {
		return Record{}, false
	}
	if have, ok := index.Company(r.Name, env.ResourceUUID); ok && have == k.CompanyID {
		return Record{}, false
	}
	return IndexRecord(n, r.Name, env.ResourceUUID, k.CompanyID), true
}
