package kafka

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// murmur2Golden is the output of testdata/Murmur2Partition.java, run with
// Java 17 and kafka-clients 4.1.1: Kafka's own Utils.murmur2 of each key's
// UTF-8 bytes and the partition its default producer partitioner picks,
// BuiltInPartitioner.partitionForKey = toPositive(murmur2(key)) % n, for n
// partitions. Nothing in this table was computed by Go. The first six rows
// are the vectors of Kafka's UtilsTest.testMurmur2.
var murmur2Golden = []struct {
	key        string
	murmur2    int32
	partitions map[int]int // partition count -> partition
}{
	{key: "21", murmur2: -973932308, partitions: map[int]int{1: 0, 3: 0, 6: 0, 12: 0, 50: 40, 997: 586}},
	{key: "foobar", murmur2: -790332482, partitions: map[int]int{1: 0, 3: 0, 6: 0, 12: 6, 50: 16, 997: 868}},
	{key: "a-little-bit-long-string", murmur2: -985981536, partitions: map[int]int{1: 0, 3: 2, 6: 2, 12: 8, 50: 12, 997: 103}},
	{key: "a-little-bit-longer-string", murmur2: -1486304829, partitions: map[int]int{1: 0, 3: 2, 6: 5, 12: 11, 50: 19, 997: 323}},
	{key: "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", murmur2: -58897971, partitions: map[int]int{1: 0, 3: 2, 6: 5, 12: 5, 50: 27, 997: 287}},
	{key: "abc", murmur2: 479470107, partitions: map[int]int{1: 0, 3: 0, 6: 3, 12: 3, 50: 7, 997: 843}},
	{key: "", murmur2: 275646681, partitions: map[int]int{1: 0, 3: 0, 6: 3, 12: 9, 50: 31, 997: 109}},
	{key: "a", murmur2: -1563381124, partitions: map[int]int{1: 0, 3: 1, 6: 4, 12: 4, 50: 24, 997: 104}},
	{key: "ab", murmur2: 316155434, partitions: map[int]int{1: 0, 3: 2, 6: 2, 12: 2, 50: 34, 997: 752}},
	{key: "abcd", murmur2: -1323649548, partitions: map[int]int{1: 0, 3: 2, 6: 2, 12: 8, 50: 0, 997: 39}},
	{key: "abcde", murmur2: 461995741, partitions: map[int]int{1: 0, 3: 1, 6: 1, 12: 1, 50: 41, 997: 896}},
	{key: "abcdefg", murmur2: -346467175, partitions: map[int]int{1: 0, 3: 1, 6: 1, 12: 1, 50: 23, 997: 778}},
	{key: "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7", murmur2: 953663651, partitions: map[int]int{1: 0, 3: 2, 6: 5, 12: 11, 50: 1, 997: 250}},
	{key: "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21", murmur2: -1590915717, partitions: map[int]int{1: 0, 3: 2, 6: 5, 12: 11, 50: 31, 997: 657}},
	{key: "a9d4e6b2-1c3f-4a58-b7e0-d2f1c9e8a704", murmur2: -1573812864, partitions: map[int]int{1: 0, 3: 2, 6: 2, 12: 8, 50: 34, 997: 972}},
	{key: "7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09", murmur2: 1340647731, partitions: map[int]int{1: 0, 3: 0, 6: 3, 12: 3, 50: 31, 997: 774}},
	{key: "6513270e-269e-4d37-b2a7-4de452e6b438", murmur2: -633447741, partitions: map[int]int{1: 0, 3: 2, 6: 5, 12: 11, 50: 7, 997: 680}},
	{key: "d23f0824-128b-4f33-8c5c-7fd0a6a3a450", murmur2: 1852880133, partitions: map[int]int{1: 0, 3: 0, 6: 3, 12: 9, 50: 33, 997: 498}},
	{key: "9531985d-5d9d-49f8-9818-e811892f902b", murmur2: 1758266703, partitions: map[int]int{1: 0, 3: 0, 6: 3, 12: 3, 50: 3, 997: 374}},
	{key: "36f675cc-81e7-4ef5-a8e2-5d940ed90475", murmur2: -944762879, partitions: map[int]int{1: 0, 3: 0, 6: 3, 12: 9, 50: 19, 997: 786}},
	{key: "6b0d549b-6f03-475a-9600-a35a099950d8", murmur2: 712407197, partitions: map[int]int{1: 0, 3: 2, 6: 5, 12: 5, 50: 47, 997: 847}},
	{key: "8d116ece-1738-47d9-bd9c-172411e20b8f", murmur2: 364382942, partitions: map[int]int{1: 0, 3: 2, 6: 2, 12: 2, 50: 42, 997: 379}},
	{key: "90c192cf-d3ac-44af-8f21-ddb66cad4a26", murmur2: 625105788, partitions: map[int]int{1: 0, 3: 0, 6: 0, 12: 0, 50: 38, 997: 746}},
	{key: "a170b338-3926-4059-b28c-105d1fb17c23", murmur2: 166358461, partitions: map[int]int{1: 0, 3: 1, 6: 1, 12: 1, 50: 11, 997: 38}},
	{key: "0fd630f1-f29d-4da9-953f-48f1a09f76b5", murmur2: 1702727105, partitions: map[int]int{1: 0, 3: 2, 6: 5, 12: 5, 50: 5, 997: 655}},
	{key: "0cb1e29c-658c-4a14-95e6-0af593bd04cf", murmur2: 559444013, partitions: map[int]int{1: 0, 3: 2, 6: 5, 12: 5, 50: 13, 997: 394}},
	{key: "8e81973e-0bec-47b0-b898-d190f9ebdacc", murmur2: 339719165, partitions: map[int]int{1: 0, 3: 2, 6: 5, 12: 5, 50: 15, 997: 388}},
	{key: "6b4cb242-4a23-4596-a217-beaddbc496cb", murmur2: 1427874217, partitions: map[int]int{1: 0, 3: 1, 6: 1, 12: 1, 50: 17, 997: 727}},
	{key: "92276658-1e27-41c0-8a6a-63ec24ede6a4", murmur2: 467777821, partitions: map[int]int{1: 0, 3: 1, 6: 1, 12: 1, 50: 21, 997: 376}},
	{key: "ae97ba94-d0ed-482f-8f6d-05584ef8aa38", murmur2: 832174329, partitions: map[int]int{1: 0, 3: 0, 6: 3, 12: 9, 50: 29, 997: 363}},
	{key: "923a7369-94e3-4f91-9a61-dbe22e44158b", murmur2: 1570006154, partitions: map[int]int{1: 0, 3: 2, 6: 2, 12: 2, 50: 4, 997: 344}},
	{key: "18f135d2-5f55-4203-b018-50c5a38fd547", murmur2: -759922199, partitions: map[int]int{1: 0, 3: 0, 6: 3, 12: 9, 50: 49, 997: 657}},
	{key: "acct-88412", murmur2: -666069452, partitions: map[int]int{1: 0, 3: 0, 6: 0, 12: 0, 50: 46, 997: 809}},
	{key: "4410021", murmur2: -2104573301, partitions: map[int]int{1: 0, 3: 0, 6: 3, 12: 3, 50: 47, 997: 464}},
	{key: "soci\u00e9t\u00e9-g\u00e9n\u00e9rale", murmur2: 319794439, partitions: map[int]int{1: 0, 3: 1, 6: 1, 12: 7, 50: 39, 997: 707}},
	{key: "M\u00fcller & S\u00f6hne GmbH", murmur2: -699456147, partitions: map[int]int{1: 0, 3: 2, 6: 5, 12: 5, 50: 1, 997: 653}},
	{key: "\u682a\u5f0f\u4f1a\u793e\u30c6\u30b9\u30c8", murmur2: 566644574, partitions: map[int]int{1: 0, 3: 2, 6: 2, 12: 2, 50: 24, 997: 621}},
	{key: "\u03a9mega-\u0394elta", murmur2: 2134875416, partitions: map[int]int{1: 0, 3: 2, 6: 2, 12: 8, 50: 16, 997: 313}},
	{key: "\U0001f680launch-co", murmur2: 912135183, partitions: map[int]int{1: 0, 3: 0, 6: 3, 12: 3, 50: 33, 997: 820}},
	{key: "\u00f1", murmur2: -881189238, partitions: map[int]int{1: 0, 3: 2, 6: 2, 12: 2, 50: 10, 997: 722}},
}

// TestRecordPartitionMatchesJava proves that a record keyed by the bridge
// lands on the partition a Java producer would choose for the same key, so
// Java and Go producers and consumers agree on which partition holds a
// company's events.
func TestRecordPartitionMatchesJava(t *testing.T) {
	for _, g := range murmur2Golden {
		t.Run(g.key, func(t *testing.T) {
			// The record exactly as the bridge builds it for this key.
			env := topics.Envelope{ID: "ev-1"}
			r, _ := topics.Lookup("COMPANY")
			rec := topics.EventRecord(topics.Naming{}, r, topics.Added, &env, topics.Key{Value: g.key, Source: topics.SourceNone}, nil)
			if rec.Key == nil {
				t.Fatalf("record key for %q is nil; a nil key is not hashed", g.key)
			}
			got := map[int]int{}
			for n := range g.partitions {
				got[n] = (&kafkago.Murmur2Balancer{}).Balance(kafkago.Message{Key: rec.Key}, partitionIDs(n)...)
			}
			if diff := cmp.Diff(g.partitions, got); diff != "" {
				t.Errorf("partition of %q (-java +kafka-go):\n%s", g.key, diff)
			}
		})
	}
}

// TestMurmur2GoldenConsistent checks the transcription of the Java output:
// each partition is toPositive(murmur2) % n, with Java's toPositive
// (clear the sign bit).
func TestMurmur2GoldenConsistent(t *testing.T) {
	wantKeys := []string{"21", "foobar", "a-little-bit-long-string", "a-little-bit-longer-string", "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", "abc"}
	wantHashes := []int32{-973932308, -790332482, -985981536, -1486304829, -58897971, 479470107} // UtilsTest
	var gotKeys []string
	var gotHashes []int32
	for _, g := range murmur2Golden[:6] {
		gotKeys = append(gotKeys, g.key)
		gotHashes = append(gotHashes, g.murmur2)
	}
	if diff := cmp.Diff(wantKeys, gotKeys); diff != "" {
		t.Errorf("UtilsTest keys (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantHashes, gotHashes); diff != "" {
		t.Errorf("UtilsTest hashes (-want +got):\n%s", diff)
	}
	for _, g := range murmur2Golden {
		want := map[int]int{}
		for n := range g.partitions {
			want[n] = int(uint32(g.murmur2)&0x7fffffff) % n
		}
		if diff := cmp.Diff(want, g.partitions); diff != "" {
			t.Errorf("golden row %q is inconsistent (-toPositive(murmur2)%%n +table):\n%s", g.key, diff)
		}
	}
}

// TestMurmur2NilKey checks that records without a key never panic the
// balancer and stay in range.
func TestMurmur2NilKey(t *testing.T) {
	rec := topics.Record{Value: []byte("x")}
	tests := []struct {
		name string
		give []int
	}{
		{name: "one partition", give: partitionIDs(1)},
		{name: "three partitions", give: partitionIDs(3)},
		{name: "fifty partitions", give: partitionIDs(50)},
		{name: "sparse partition ids", give: []int{2, 5, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &kafkago.Murmur2Balancer{}
			var outside []int
			for range 1000 {
				p := b.Balance(kafkago.Message{Key: rec.Key}, tt.give...)
				if !slices.Contains(tt.give, p) {
					outside = append(outside, p)
				}
			}
			if diff := cmp.Diff([]int(nil), outside); diff != "" {
				t.Errorf("partitions not offered (-want +got):\n%s", diff)
			}
		})
	}
}

func partitionIDs(n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	return ids
}
