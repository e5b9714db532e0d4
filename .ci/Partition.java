// Prints, for each key read from standard input (one per line, UTF-8), the
// partition that Apache Kafka's Java producer picks for it by default:
// toPositive(murmur2(key)) % partitions. Run with the kafka-clients jar:
//   java -cp "$KAFKA_LIB/*" .ci/Partition.java 6 < keys.txt
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.utils.Utils;

public class Partition {
    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            byte[] key = line.getBytes(StandardCharsets.UTF_8);
            System.out.println(Utils.toPositive(Utils.murmur2(key)) % n);
        }
    }
}
