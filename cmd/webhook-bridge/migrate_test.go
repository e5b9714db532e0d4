package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// oldNaming is the layout before BRIDGE_INTERNAL_TOPIC_PREFIX: one prefix
// for every topic.
func oldNaming(n topics.Naming) topics.Naming {
	return topics.Naming{Prefix: n.Prefix, Internal: n.Prefix}
}

// createOldInternalTopics creates n's topics and the quarantine and
// company index of the old layout, as an upgraded deployment has them.
func createOldInternalTopics(t *testing.T, kc kafka.Config, n topics.Naming) {
	t.Helper()
	admin, err := kafka.NewAdmin(kc, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old := oldNaming(n)
	names := append(n.All(), old.Quarantine(), old.Index())
	if _, err := admin.Create(ctx, names, kafka.TopicSpec{Partitions: 3, ReplicationFactor: 1, Compacted: append(n.Compacted(), old.Index())}); err != nil {
		t.Fatal(err)
	}
}

// TestServeNamesOldInternalTopicsAndLeavesThemAlone upgrades a deployment
// whose quarantine and company index still carry BRIDGE_TOPIC_PREFIX: serve
// says so once, naming them, and writes to the new topics only.
func TestServeNamesOldInternalTopicsAndLeavesThemAlone(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	useBroker(t, kc, n)
	createOldInternalTopics(t, kc, n)
	old := oldNaming(n)

	var logs syncBuffer
	base, admin := listenEnv(t)
	srv := runInBackground(t, []string{"serve"}, &logs, &logs)
	waitReady(t, srv, admin)

	var warning map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for warning == nil {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"old_topics"`) {
				if warning != nil {
					t.Fatalf("two warnings about the old topics:\n%s", logs.String())
				}
				if err := json.Unmarshal([]byte(l), &warning); err != nil {
					t.Fatalf("log line %q: %v", l, err)
				}
			}
		}
		if warning == nil && time.Now().After(deadline) {
			t.Fatalf("no warning naming %s and %s; logs:\n%s", old.Quarantine(), old.Index(), logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a log we do not control
	}
	msg, _ := warning["message"].(string)
	for _, want := range []string{old.Quarantine(), old.Index(), n.Quarantine(), n.Index(), "left alone", "BRIDGE_INTERNAL_TOPIC_PREFIX=" + n.Prefix} {
		if !strings.Contains(msg, want) {
			t.Errorf("warning %q does not say %q", msg, want)
		}
	}
	if warning["level"] != "warn" || len(warning["old_topics"].([]any)) != 2 {
		t.Errorf("warning = %v, want level warn and both old topics in old_topics", warning)
	}

	// A body that cannot be routed goes to the new quarantine, not the old.
	if status, _ := postJSON(t, base+"/webhooks", `{"uuid":"e-1","resource":{"type":"Subscription"},"resourceAction":"ADDED"}`,
		"X-AppDirect-Webhook-Token", testToken); status != http.StatusUnprocessableEntity {
		t.Fatalf("post: %d, want 422", status)
	}
	if q := kafkatest.ReadAll(t, kc, n.Quarantine(), 30*time.Second); len(q) != 1 {
		t.Errorf("%s holds %d records, want the quarantined one", n.Quarantine(), len(q))
	}
	if q := kafkatest.ReadAll(t, kc, old.Quarantine(), 5*time.Second); len(q) != 0 {
		t.Errorf("%s holds %d records, want it left alone", old.Quarantine(), len(q))
	}
}

// TestOldInternalTopicsWarning says nothing when there is nothing to say.
func TestOldInternalTopicsWarning(t *testing.T) {
	kc := kafkatest.Kafka(t)
	admin, err := kafka.NewAdmin(kc, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	withOld := kafkatest.Naming(t)
	createOldInternalTopics(t, kc, withOld)
	without := kafkatest.Naming(t)
	tests := []struct {
		name string
		give topics.Naming
		want bool
	}{
		{"old topics beside the new ones", withOld, true},
		{"the old names kept", oldNaming(withOld), false},
		{"no old topics", without, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cfg := Config{TopicPrefix: tt.give.Prefix, InternalTopicPrefix: tt.give.Internal}
			warnOldInternalTopics(ctx, admin, cfg, zerolog.New(&logs))
			if got := strings.Contains(logs.String(), "old_topics"); got != tt.want {
				t.Errorf("warned = %v, want %v; logs: %s", got, tt.want, logs.String())
			}
		})
	}
}

// TestConfigWarnsOfASharedInternalPrefix: changing the resource prefix
// alone, as a second deployment on a cluster would, leaves the internal
// topics shared.
func TestConfigWarnsOfASharedInternalPrefix(t *testing.T) {
	tests := []struct {
		name     string
		prefix   string
		internal string
		want     bool
	}{
		{"the defaults", defaultOf("TopicPrefix"), defaultOf("InternalTopicPrefix"), false},
		{"both set", "staging.appdirect.", "staging.webhook-bridge.", false},
		{"the old names kept", "appdirect.", "appdirect.", false},
		{"only the resource prefix set", "staging.appdirect.", defaultOf("InternalTopicPrefix"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			warnSharedInternalPrefix(Config{TopicPrefix: tt.prefix, InternalTopicPrefix: tt.internal}, zerolog.New(&logs))
			if got := strings.Contains(logs.String(), "BRIDGE_INTERNAL_TOPIC_PREFIX is the default"); got != tt.want {
				t.Errorf("warned = %v, want %v; logs: %s", got, tt.want, logs.String())
			}
		})
	}
}
