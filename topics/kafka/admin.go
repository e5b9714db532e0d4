package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"
)

// TopicSpec is how topics are created.
type TopicSpec struct {
	Partitions        int
	ReplicationFactor int
	// MaxMessageBytes sets the topic's max.message.bytes so the largest
	// record the writer sends fits (0: the broker's default).
	MaxMessageBytes int64
	// Compacted lists the topics created with cleanup.policy=compact
	// (Naming.Compacted: the company index). An existing one without it is
	// reported as a mismatch.
	Compacted []string
}

// TopicState is what provisioning found or did for one topic.
type TopicState struct {
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions"`
	// Status is "created", "exists" or "mismatch" (exists with another
	// partition count than asked for).
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Admin creates and inspects the bridge's topics.
type Admin struct {
	c   *kafkago.Client
	cfg Config
}

// NewAdmin builds an Admin; it connects lazily.
func NewAdmin(cfg Config) (*Admin, error) {
	c, err := cfg.client()
	if err != nil {
		return nil, err
	}
	return &Admin{c: c, cfg: cfg}, nil
}

// Create makes every topic in names that does not exist yet. It is
// idempotent, and reports a topic that exists with another partition count
// as a mismatch without touching it.
func (a *Admin) Create(ctx context.Context, names []string, spec TopicSpec) ([]TopicState, error) {
	if spec.Partitions <= 0 || spec.ReplicationFactor <= 0 {
		return nil, fmt.Errorf("topic partitions (%d) and replication factor (%d) must be positive", spec.Partitions, spec.ReplicationFactor)
	}
	req := &kafkago.CreateTopicsRequest{}
	for _, n := range names {
		tc := kafkago.TopicConfig{Topic: n, NumPartitions: spec.Partitions, ReplicationFactor: spec.ReplicationFactor}
		if spec.MaxMessageBytes > 0 {
			tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: strconv.FormatInt(spec.MaxMessageBytes, 10)})
		}
		if slices.Contains(spec.Compacted, n) {
			tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"})
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := a.c.CreateTopics(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("create topics: %w", err)
	}
	existing, err := a.Partitions(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make([]TopicState, 0, len(names))
	var failed []string
	for _, n := range names {
		st := TopicState{Topic: n, Partitions: existing[n], Status: "created"}
		if e := resp.Errors[n]; e != nil {
			if !errors.Is(e, kafkago.TopicAlreadyExists) {
				failed = append(failed, fmt.Sprintf("%s: %v", n, e))
				continue
			}
			st.Status = "exists"
			if existing[n] != spec.Partitions {
				st.Status = "mismatch"
				st.Detail = fmt.Sprintf("has %d partitions, configured %d; keys of existing companies would move if it changed, so it is left as it is", existing[n], spec.Partitions)
			}
			if slices.Contains(spec.Compacted, n) {
				policy, err := a.cleanupPolicy(ctx, n)
				if err != nil {
					failed = append(failed, fmt.Sprintf("%s: %v", n, err))
					continue
				}
				if !slices.Contains(strings.Split(policy, ","), "compact") {
					// Without compaction the index grows forever and its
					// tombstones never remove anything.
					st.Status = "mismatch"
					st.Detail = strings.TrimPrefix(st.Detail+"; has cleanup.policy="+policy+", needs compact (kafka-configs --alter --add-config cleanup.policy=compact)", "; ")
				}
			}
		}
		out = append(out, st)
	}
	if len(failed) > 0 {
		return out, fmt.Errorf("create topics: %s", strings.Join(failed, "; "))
	}
	return out, nil
}

// cleanupPolicy reads a topic's cleanup.policy.
func (a *Admin) cleanupPolicy(ctx context.Context, topic string) (string, error) {
	resp, err := a.c.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{
		{ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"cleanup.policy"}},
	}})
	if err != nil {
		return "", fmt.Errorf("describe configs: %w", err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return "", fmt.Errorf("describe configs: %w", r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "cleanup.policy" {
				return e.ConfigValue, nil
			}
		}
	}
	return "delete", nil // Kafka's default
}

// Partitions returns the partition count of each named topic that exists.
func (a *Admin) Partitions(ctx context.Context, names []string) (map[string]int, error) {
	md, err := a.c.Metadata(ctx, &kafkago.MetadataRequest{Topics: names})
	if err != nil {
		return nil, fmt.Errorf("read topic metadata: %w", err)
	}
	out := make(map[string]int, len(names))
	for _, t := range md.Topics {
		if t.Error == nil {
			out[t.Name] = len(t.Partitions)
		}
	}
	return out, nil
}

// Check returns nil when the brokers answer and every topic in names exists
// with a leader for each partition; otherwise an error saying what is wrong.
//
// Each call asks the brokers afresh, over a transport of its own: a kafka-go
// transport answers metadata from a cache that keeps the last good state
// while the brokers are away, so a dead cluster or a deleted topic would
// still look ready.
func (a *Admin) Check(ctx context.Context, names []string) error {
	t, err := a.cfg.transport()
	if err != nil {
		return err
	}
	t.MetadataTopics = names
	defer t.CloseIdleConnections() // also ends the transport's background refresh
	c := &kafkago.Client{Addr: a.c.Addr, Timeout: a.c.Timeout, Transport: t}
	md, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("kafka metadata request failed: %w", err)
	}
	var missing, leaderless []string
	found := make(map[string]bool, len(md.Topics))
	for _, t := range md.Topics {
		if t.Error != nil || len(t.Partitions) == 0 {
			continue
		}
		found[t.Name] = true
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				leaderless = append(leaderless, fmt.Sprintf("%s/%d", t.Name, p.ID))
			}
		}
	}
	for _, n := range names {
		if !found[n] {
			missing = append(missing, n)
		}
	}
	switch {
	case len(missing) > 0:
		slices.Sort(missing)
		return fmt.Errorf("missing topics: %s (run `webhook-bridge topics create`)", strings.Join(missing, ", "))
	case len(leaderless) > 0:
		return fmt.Errorf("partitions without a leader: %s", strings.Join(leaderless, ", "))
	}
	return nil
}

// Health runs Admin.Check in the background, so that readiness probes read
// a recent result instead of calling the broker each time.
type Health struct {
	admin    *Admin
	names    []string
	interval time.Duration
	log      zerolog.Logger

	mu      sync.RWMutex
	err     error
	checked time.Time
}

// NewHealth builds a Health that reports "not checked yet" until the first
// check completes.
func NewHealth(admin *Admin, names []string, interval time.Duration, log zerolog.Logger) *Health {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	return &Health{admin: admin, names: names, interval: interval, log: log, err: errors.New("kafka not checked yet")}
}

// Run checks every interval until ctx ends.
func (h *Health) Run(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		h.CheckNow(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CheckNow runs one check and records its result.
func (h *Health) CheckNow(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, max(h.interval, 3*time.Second))
	err := h.admin.Check(cctx, h.names)
	cancel()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	h.mu.Lock()
	prev := h.err
	h.err, h.checked = err, time.Now()
	h.mu.Unlock()
	switch {
	case err != nil && (prev == nil || prev.Error() != err.Error()):
		h.log.Warn().Err(err).Msg("kafka not ready")
	case err == nil && prev != nil:
		h.log.Info().Msg("kafka ready")
	}
	return err
}

// Err returns the result of the latest check: nil when ready.
func (h *Health) Err() error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.err
}
