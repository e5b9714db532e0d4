package bridge

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestDedupKeysKeepIDsApart(t *testing.T) {
	const id = "7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09"
	k := keyOf(id)
	if fmt.Sprintf("%x", k[:]) != strings.ReplaceAll(id, "-", "") {
		t.Errorf("keyOf(%s) = %x, want the UUID's own bytes", id, k)
	}
	ids := []string{
		id,
		strings.ToUpper(id),                     // another id to the table: ids are compared as given
		"7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d0",   // 35 characters
		"7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d0g",  // not hex
		"7d3c1a520b8e-4f61-9a7e-2f5c8e4b1d09--", // dashes elsewhere
		"7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d--",  // dashes for digits, 36 characters
		"7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d00",  // the same digits, then zeros
		"7d3c1a52-0b8e-4f61-9a7e--2f5c8e4b1d0",  // a dash where the last group starts
		"7d3c1a520b8e4f619a7e2f5c8e4b1d09",      // the same bytes, no dashes
		"evt-1", "evt-2", strings.Repeat("x", 256),
	}
	seen := map[dedupKey]string{}
	for _, s := range ids {
		k := keyOf(s)
		if other, dup := seen[k]; dup {
			t.Errorf("keyOf(%q) = keyOf(%q)", s, other)
		}
		seen[k] = s
		if keyOf(s) != k {
			t.Errorf("keyOf(%q) is not stable", s)
		}
	}
}

func TestDedupRemembersEvictsAndExpires(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	d := newDedup(time.Minute, 3)
	d.now = func() time.Time { return now }
	ctx := context.Background()
	ack := func(id string) {
		t.Helper()
		if dup, err := d.begin(ctx, id); dup || err != nil {
			t.Fatalf("begin(%s) = %v, %v; want a first delivery", id, dup, err)
		}
		d.end(id, true)
	}
	isDup := func(id string) bool {
		t.Helper()
		dup, err := d.begin(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !dup {
			d.end(id, false)
		}
		return dup
	}
	ack("a")
	ack("B")
	if !isDup("a") || !isDup("B") || isDup("b") || isDup("c") {
		t.Fatal("acknowledged ids are duplicates, others are not")
	}
	// A failed publish is not remembered.
	if dup, _ := d.begin(ctx, "f"); dup {
		t.Fatal("f is new")
	}
	d.end("f", false)
	if isDup("f") {
		t.Error("an id whose publish failed counts as a duplicate")
	}
	// The oldest goes beyond max entries.
	ack("c")
	ack("d")
	if d.size() != 3 || isDup("a") || !isDup("B") || !isDup("d") {
		t.Errorf("after 4 ids with max 3: size %d, a dup %v, B dup %v", d.size(), isDup("a"), isDup("B"))
	}
	// Everything expires after the TTL.
	now = now.Add(time.Minute)
	if isDup("B") || isDup("d") {
		t.Error("ids outlived the TTL")
	}
	ack("e")
	if d.size() != 1 {
		t.Errorf("size %d after the TTL and one new id, want 1", d.size())
	}
}

// The table's heap per remembered UUID, which the memory settings count on
// (docs/operations.md: the dedup table at BRIDGE_DEDUP_MAX_ENTRIES).
func TestDedupMemoryPerEntry(t *testing.T) {
	const n = 100_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-0b8e-4f61-9a7e-2f5c8e4b1d09", i)
	}
	heap := func() int64 {
		// Twice: the first collection moves sync.Pool contents (other
		// tests' buffers) to the victim cache, the second frees them, so
		// they are not freed between the two readings.
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()
	d := newDedup(time.Hour, n)
	for _, id := range ids {
		_, _ = d.begin(context.Background(), id)
		d.end(id, true)
	}
	per := float64(heap()-before) / n
	runtime.KeepAlive(d)
	runtime.KeepAlive(ids)
	t.Logf("%.1f bytes of heap per remembered id (%d ids)", per, n)
	if d.size() != n {
		t.Fatalf("size %d, want %d", d.size(), n)
	}
	if per < 16 {
		// Each entry holds at least its 16-byte key: less means something
		// else freed memory between the readings.
		t.Fatalf("%.1f bytes of heap per remembered id: less than a key, the reading is wrong", per)
	}
	if per > 64 {
		t.Errorf("%.1f bytes of heap per remembered id, want at most 64", per)
	}
}
