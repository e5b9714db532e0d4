// Conformance is a consumer that nobody on the bridge's side would write:
// kafka-clients and the CloudEvents Java SDK, subscribed by the documented
// pattern (^<resource prefix>.*) from the beginning. It decodes every record
// with the SDK's CloudEventDeserializer and checks it against the manifest
// that .ci/smoke.py wrote from what it sent: id, type, source, subject, the
// companyid extension, dataschema, data byte for byte in the raw value, the
// record key, and the partition (kafka-clients' own partitioner). Every
// expected record must be read exactly once, and every record read must be
// an expected CloudEvent. Prints "N checked, M failed"; exits 1 on any
// failure.
//
//   java -cp target/classes:$(cat target/classpath.txt) conformance.Conformance \
//       --brokers 127.0.0.1:9092 --prefix smoke-ab12cd. --manifest manifest.jsonl
//
// CONFORMANCE_BREAK=key expects a wrong key for the first manifest record,
// to show that a broken check fails the run.
package conformance;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cloudevents.CloudEvent;
import io.cloudevents.kafka.CloudEventDeserializer;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class Conformance {
    /** One line of the manifest: a record smoke.py expects. */
    record Expected(String topic, byte[] key, int partitions, String id, String type, String source,
                    String subject, String companyid, String dataschema, byte[] body) {}

    private static final int SHOW_PER_CHECK = 10;
    private static final JsonFactory JSON = new JsonFactory();
    private final Map<String, Integer> failuresByCheck = new TreeMap<>();

    public static void main(String[] args) throws Exception {
        Map<String, String> flags = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            flags.put(args[i], args[i + 1]);
        }
        String brokers = flags.getOrDefault("--brokers", System.getenv("BRIDGE_TEST_KAFKA_BROKERS"));
        String prefix = flags.get("--prefix");
        String manifest = flags.get("--manifest");
        if (brokers == null || prefix == null || manifest == null) {
            System.err.println("usage: Conformance --brokers HOST:PORT --prefix RESOURCE_PREFIX --manifest FILE");
            System.exit(2);
        }
        System.exit(new Conformance().run(brokers, prefix, Path.of(manifest)));
    }

    int run(String brokers, String prefix, Path manifestPath) throws IOException {
        Map<String, Expected> expected = readManifest(manifestPath);
        if (expected.isEmpty()) {
            fail("manifest", manifestPath + " lists no records");
        }
        if ("key".equals(System.getenv("CONFORMANCE_BREAK"))) {
            Map.Entry<String, Expected> first = expected.entrySet().iterator().next();
            Expected e = first.getValue();
            first.setValue(new Expected(e.topic(), (new String(e.key(), StandardCharsets.UTF_8) + "-broken")
                    .getBytes(StandardCharsets.UTF_8), e.partitions(), e.id(), e.type(), e.source(),
                    e.subject(), e.companyid(), e.dataschema(), e.body()));
            System.out.println("CONFORMANCE_BREAK=key: expecting a wrong key for " + first.getKey());
        }
        // The documented subscription: every resource topic, and nothing else.
        Pattern pattern = Pattern.compile("^" + prefix.replaceAll("([^A-Za-z0-9_-])", "\\\\$1") + ".*");

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "conformance-java-" + UUID.randomUUID());
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "webhook-bridge-conformance-java");

        // Records are read as bytes and decoded by a second pass through the
        // SDK's deserializer, so the raw value stays at hand for the data
        // check (the SDK's data is re-serialized JSON, not the sender's bytes).
        CloudEventDeserializer ceDeserializer = new CloudEventDeserializer();
        ceDeserializer.configure(Map.of(), false);

        Map<String, Integer> seen = new HashMap<>();
        int checked = 0;
        int failedRecords = 0;
        try (KafkaConsumer<byte[], byte[]> consumer =
                     new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            Set<String> topics = consumer.listTopics(Duration.ofSeconds(30)).keySet().stream()
                    .filter(t -> pattern.matcher(t).matches()).collect(Collectors.toCollection(java.util.TreeSet::new));
            System.out.printf("subscribed to %s: %d topics%n", pattern, topics.size());
            Map<String, Integer> partitionCounts = new HashMap<>();
            for (String t : topics) {
                partitionCounts.put(t, consumer.partitionsFor(t, Duration.ofSeconds(30)).size());
            }
            consumer.subscribe(pattern);

            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            Map<TopicPartition, Long> ends = null;
            while (true) {
                for (ConsumerRecord<byte[], byte[]> rec : consumer.poll(Duration.ofMillis(500))) {
                    checked++;
                    if (!check(rec, ceDeserializer, expected, seen, partitionCounts)) {
                        failedRecords++;
                    }
                }
                Set<TopicPartition> assigned = consumer.assignment();
                Set<String> assignedTopics = assigned.stream().map(TopicPartition::topic).collect(Collectors.toSet());
                if (!assigned.isEmpty() && assignedTopics.containsAll(topics)) {
                    if (ends == null) {
                        ends = consumer.endOffsets(assigned);
                    }
                    Map<TopicPartition, Long> e = ends;
                    if (assigned.stream().allMatch(tp -> consumer.position(tp) >= e.getOrDefault(tp, 0L))) {
                        break;
                    }
                }
                if (System.nanoTime() > deadline) {
                    fail("timeout", "did not reach the end of every partition within 90s (assigned " + assigned + ")");
                    failedRecords++;
                    break;
                }
            }
        }
        for (Map.Entry<String, Expected> e : expected.entrySet()) {
            int n = seen.getOrDefault(e.getKey(), 0);
            if (n == 0) {
                fail("missing", e.getKey() + ": never read");
                failedRecords++;
            }
        }
        System.out.printf("read %d records; %d expected by the manifest%n", checked, expected.size());
        if (!failuresByCheck.isEmpty()) {
            System.out.println("failures by check: " + failuresByCheck.entrySet().stream()
                    .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(" ")));
        }
        System.out.printf("java conformance: %d checked, %d failed%n", checked, failedRecords);
        return failedRecords == 0 ? 0 : 1;
    }

    /** Checks one record; reports every failed check and returns whether all passed. */
    private boolean check(ConsumerRecord<byte[], byte[]> rec, CloudEventDeserializer deserializer,
                          Map<String, Expected> expected, Map<String, Integer> seen,
                          Map<String, Integer> partitionCounts) {
        String where = rec.topic() + "/" + rec.partition() + "@" + rec.offset();
        CloudEvent ce;
        try {
            ce = deserializer.deserialize(rec.topic(), rec.headers(), rec.value());
            if (ce == null) {
                throw new IllegalStateException("deserializer returned null");
            }
        } catch (RuntimeException ex) {
            String what = rec.value() == null ? "null value (tombstone)" : rec.value().length + "-byte value";
            String ct = rec.headers().lastHeader("content-type") == null ? "no content-type header"
                    : "content-type " + new String(rec.headers().lastHeader("content-type").value(), StandardCharsets.UTF_8);
            return fail("cloudevent", where + ": not a CloudEvent (" + what + ", " + ct + "): " + ex);
        }
        String id = ce.getId();
        Expected want = expected.get(rec.topic() + " " + id);
        if (want == null) {
            return fail("unexpected", where + ": event " + id + " is not in the manifest");
        }
        boolean ok = true;
        if (seen.merge(rec.topic() + " " + id, 1, Integer::sum) > 1) {
            ok = fail("duplicate", where + ": event " + id + " read more than once");
        }
        ok &= same("type", where, want.type(), ce.getType());
        ok &= same("source", where, want.source(), Objects.toString(ce.getSource(), null));
        ok &= same("subject", where, want.subject(), ce.getSubject());
        ok &= same("companyid", where, want.companyid(), Objects.toString(ce.getExtension("companyid"), null));
        URI schema = ce.getDataSchema();
        ok &= same("dataschema", where, want.dataschema(), schema == null ? null : schema.toString());
        byte[] data;
        try {
            data = dataMember(rec.value());
        } catch (IOException ex) {
            data = null;
        }
        if (!Arrays.equals(want.body(), data)) {
            ok = fail("data", where + ": data member is not the posted body byte for byte ("
                    + (data == null ? "none" : data.length + " bytes") + ", want " + want.body().length + ")");
        }
        if (!Arrays.equals(want.key(), rec.key())) {
            ok = fail("key", where + ": key " + str(rec.key()) + ", want " + str(want.key()));
        }
        Integer actualCount = partitionCounts.get(rec.topic());
        if (actualCount == null || actualCount != want.partitions()) {
            ok = fail("partition", where + ": topic has " + actualCount + " partitions, want " + want.partitions());
        }
        int part = BuiltInPartitioner.partitionForKey(want.key(), want.partitions());
        if (rec.partition() != part) {
            ok = fail("partition", where + ": key " + str(want.key()) + " in partition " + rec.partition()
                    + ", Kafka's partitioner says " + part);
        }
        return ok;
    }

    /**
     * Returns the text of the top-level "data" member of a structured
     * CloudEvent: everything between its colon and the ',' or '}' after it,
     * which is the webhook body exactly as the bridge embedded it.
     */
    static byte[] dataMember(byte[] value) throws IOException {
        if (value == null) {
            return null;
        }
        try (JsonParser p = JSON.createParser(value)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken t = p.nextToken();
                if (!"data".equals(name)) {
                    p.skipChildren();
                    continue;
                }
                int start = (int) p.currentTokenLocation().getByteOffset();
                if (t.isStructStart()) {
                    p.skipChildren();
                } else {
                    p.finishToken();
                }
                int end = (int) p.currentLocation().getByteOffset();
                while (start > 0 && value[start - 1] != ':') {
                    start--;
                }
                while (end < value.length && value[end] != ',' && value[end] != '}') {
                    end++;
                }
                return Arrays.copyOfRange(value, start, end);
            }
        }
        return null;
    }

    private static Map<String, Expected> readManifest(Path path) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        Map<String, Expected> out = new LinkedHashMap<>();
        List<String> lines = Files.readAllLines(path, StandardCharsets.UTF_8);
        for (String line : lines) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode n = mapper.readTree(line);
            Expected e = new Expected(n.get("topic").asText(), n.get("key").asText().getBytes(StandardCharsets.UTF_8),
                    n.get("partitions").asInt(), n.get("id").asText(), n.get("type").asText(),
                    n.get("source").asText(), text(n, "subject"), text(n, "companyid"), text(n, "dataschema"),
                    Base64.getDecoder().decode(n.get("body").asText()));
            if (out.put(e.topic() + " " + e.id(), e) != null) {
                throw new IOException(path + ": event " + e.id() + " listed twice for " + e.topic());
            }
        }
        return out;
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    private static String str(byte[] b) {
        return b == null ? "null" : "\"" + new String(b, StandardCharsets.UTF_8) + "\"";
    }

    private boolean same(String check, String where, String want, String got) {
        if (Objects.equals(want, got)) {
            return true;
        }
        return fail(check, where + ": " + check + " " + (got == null ? "absent" : "\"" + got + "\"")
                + ", want " + (want == null ? "absent" : "\"" + want + "\""));
    }

    private boolean fail(String check, String detail) {
        int n = failuresByCheck.merge(check, 1, Integer::sum);
        if (n <= SHOW_PER_CHECK) {
            System.out.println("FAIL " + check + ": " + detail);
        } else if (n == SHOW_PER_CHECK + 1) {
            System.out.println("FAIL " + check + ": (further " + check + " failures counted, not shown)");
        }
        return false;
    }
}
