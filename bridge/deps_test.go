package bridge_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBridgeKnowsNoKafkaClient keeps bridge on the HTTP side: it reaches
// Kafka only through the interfaces it owns (Publisher, Index), never
// through a Kafka client or the Kafka plumbing package. It traces through
// the OpenTelemetry API alone: the SDK and its exporters are wired in cmd.
func TestBridgeKnowsNoKafkaClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !strings.Contains(string(out), "labstack/echo") {
		t.Fatalf("go list -deps does not list echo; the listing is wrong: %q", deps)
	}
	for _, d := range deps {
		for _, f := range []string{"segmentio/kafka-go", "twmb/franz-go", "webhook-bridge/topics/kafka", "webhook-bridge/cmd",
			"go.opentelemetry.io/otel/sdk", "go.opentelemetry.io/otel/exporters"} {
			if strings.Contains(d, f) {
				t.Errorf("bridge depends on %s", d)
			}
		}
	}
}
