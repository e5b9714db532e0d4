package topics_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestContractIsPure keeps topics importable by any consumer: its
// dependencies hold no Kafka client, HTTP framework, logger, metrics or
// tracing library (the trace context is plain strings: TraceContext).
func TestContractIsPure(t *testing.T) {
	forbidden := []string{"segmentio/kafka-go", "twmb/franz-go", "labstack/echo", "rs/zerolog", "prometheus/client_golang",
		"webhook-bridge/bridge", "webhook-bridge/topics/kafka", "go.opentelemetry.io"}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %d packages: %q", len(deps), out)
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.Contains(d, f) {
				t.Errorf("topics depends on %s", d)
			}
		}
	}
}
