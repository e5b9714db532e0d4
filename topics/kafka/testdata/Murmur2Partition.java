// Murmur2Partition prints, for each key below, Kafka's murmur2 hash and the
// partition Java's default producer partitioner picks for a non-null key
// (BuiltInPartitioner.partitionForKey = Utils.toPositive(Utils.murmur2(key)) %
// numPartitions), as Go table rows. Its output is pasted into the golden
// table of ../murmur2_test.go, so the expected partitions come from Kafka's
// own Java code, not from a Go port of it.
//
// Run it with Java 17+ and the kafka-clients jar (4.1.1 was used):
//
//	javac -encoding UTF-8 -cp kafka-clients-4.1.1.jar -d /tmp/m2 Murmur2Partition.java
//	java -cp kafka-clients-4.1.1.jar:slf4j-api-2.0.17.jar:/tmp/m2 Murmur2Partition
//
// Keys are UTF-8 encoded, as the bridge encodes record keys ([]byte(string)).
// Non-ASCII keys are written with \\u escapes so the source encoding cannot
// change them.
import java.nio.charset.StandardCharsets;

import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;

public class Murmur2Partition {
    static final int[] PARTITION_COUNTS = {1, 3, 6, 12, 50, 997};

    static final String[] KEYS = {
        // The vectors of Kafka's UtilsTest.testMurmur2.
        "21",
        "foobar",
        "a-little-bit-long-string",
        "a-little-bit-longer-string",
        "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
        "abc",
        // Every tail length of the 4-byte loop, and the empty (non-null) key.
        "",
        "a",
        "ab",
        "abcd",
        "abcde",
        "abcdefg",
        // Company UUIDs as the marketplace sends them.
        "c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7",
        "5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21",
        "a9d4e6b2-1c3f-4a58-b7e0-d2f1c9e8a704",
        "7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09",
        "6513270e-269e-4d37-b2a7-4de452e6b438",
        "d23f0824-128b-4f33-8c5c-7fd0a6a3a450",
        "9531985d-5d9d-49f8-9818-e811892f902b",
        "36f675cc-81e7-4ef5-a8e2-5d940ed90475",
        "6b0d549b-6f03-475a-9600-a35a099950d8",
        "8d116ece-1738-47d9-bd9c-172411e20b8f",
        "90c192cf-d3ac-44af-8f21-ddb66cad4a26",
        "a170b338-3926-4059-b28c-105d1fb17c23",
        "0fd630f1-f29d-4da9-953f-48f1a09f76b5",
        "0cb1e29c-658c-4a14-95e6-0af593bd04cf",
        "8e81973e-0bec-47b0-b898-d190f9ebdacc",
        "6b4cb242-4a23-4596-a217-beaddbc496cb",
        "92276658-1e27-41c0-8a6a-63ec24ede6a4",
        "ae97ba94-d0ed-482f-8f6d-05584ef8aa38",
        "923a7369-94e3-4f91-9a61-dbe22e44158b",
        "18f135d2-5f55-4203-b018-50c5a38fd547",
        // External ids (marketplaces may key companies by them).
        "acct-88412",
        "4410021",
        // Non-ASCII ids: bytes >= 0x80 are negative Java bytes.
        "soci\u00e9t\u00e9-g\u00e9n\u00e9rale",
        "M\u00fcller & S\u00f6hne GmbH",
        "\u682a\u5f0f\u4f1a\u793e\u30c6\u30b9\u30c8",
        "\u03a9mega-\u0394elta",
        "\ud83d\ude80launch-co",
        "\u00f1",
    };

    public static void main(String[] args) {
        for (String key : KEYS) {
            byte[] b = key.getBytes(StandardCharsets.UTF_8);
            int h = Utils.murmur2(b);
            StringBuilder row = new StringBuilder();
            row.append("{key: ").append(goQuote(key)).append(", murmur2: ").append(h).append(", partitions: map[int]int{");
            for (int i = 0; i < PARTITION_COUNTS.length; i++) {
                int n = PARTITION_COUNTS[i];
                int p = BuiltInPartitioner.partitionForKey(b, n);
                if (p != Utils.toPositive(h) % n) {
                    throw new IllegalStateException("partitionForKey disagrees with toPositive(murmur2) % n for " + key);
                }
                if (i > 0) {
                    row.append(", ");
                }
                row.append(n).append(": ").append(p);
            }
            row.append("}},");
            System.out.println(row);
        }
    }

    // goQuote writes s as a Go string literal, escaping everything outside
    // printable ASCII by code point.
    static String goQuote(String s) {
        StringBuilder q = new StringBuilder("\"");
        s.codePoints().forEach(cp -> {
            if (cp == '"' || cp == '\\') {
                q.append('\\').append((char) cp);
            } else if (cp >= 0x20 && cp < 0x7f) {
                q.append((char) cp);
            } else if (cp <= 0xffff) {
                q.append(String.format("\\u%04x", cp));
            } else {
                q.append(String.format("\\U%08x", cp));
            }
        });
        return q.append('"').toString();
    }
}
