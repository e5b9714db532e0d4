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
	// MinInSyncReplicas sets min.insync.replicas: how many replicas must
	// hold a record before acks=all acknowledges it. The broker's default
	// is 1, with which a replicated topic may acknowledge on one disk.
	MinInSyncReplicas int
	// Compacted lists the topics created with cleanup.policy=compact
	// (Naming.Compacted: the company index). An existing one without it is
	// reported as a mismatch.
	Compacted []string
}

// TopicInfo is how an existing topic is set up.
type TopicInfo struct {
	Topic             string `json:"topic"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	MinInSyncReplicas int    `json:"min_insync_replicas"`
	CleanupPolicy     string `json:"cleanup_policy"`
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

// Admin creates and inspects the bridge's topics. Each call closes its
// connections before it returns: a kafka-go transport left open refreshes
// the metadata of every topic in the cluster every few seconds, which an
// Admin kept for a process's life (for Check) would do for nothing. Close
// it when done.
type Admin struct {
	c       *kafkago.Client
	t       *kafkago.Transport
	cluster *cluster // for Check: asks every broker at once
}

// NewAdmin builds an Admin; it connects lazily. timeout bounds each request.
func NewAdmin(cfg Config, timeout time.Duration) (*Admin, error) {
	t, err := cfg.transport()
	if err != nil {
		return nil, err
	}
	return &Admin{
		c: &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Timeout: timeout, Transport: t},
		t: t, cluster: newCluster(cfg, timeout),
	}, nil
}

// Close closes the Admin's connections and ends its transport's background
// metadata refresh. A later call connects again.
func (a *Admin) Close() { a.t.CloseIdleConnections() }

// Create makes every topic in names that does not exist yet. It is
// idempotent, and reports a topic that exists with another partition count
// as a mismatch without touching it.
func (a *Admin) Create(ctx context.Context, names []string, spec TopicSpec) ([]TopicState, error) {
	defer a.Close()
	if spec.Partitions <= 0 || spec.ReplicationFactor <= 0 {
		return nil, fmt.Errorf("topic partitions (%d) and replication factor (%d) must be positive", spec.Partitions, spec.ReplicationFactor)
	}
	req := &kafkago.CreateTopicsRequest{}
	for _, n := range names {
		tc := kafkago.TopicConfig{Topic: n, NumPartitions: spec.Partitions, ReplicationFactor: spec.ReplicationFactor}
		if spec.MaxMessageBytes > 0 {
			tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: strconv.FormatInt(spec.MaxMessageBytes, 10)})
		}
		if spec.MinInSyncReplicas > 0 {
			tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: "min.insync.replicas", ConfigValue: strconv.Itoa(spec.MinInSyncReplicas)})
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
	infos, err := a.Describe(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make([]TopicState, 0, len(names))
	var failed []string
	for _, n := range names {
		info := infos[n]
		st := TopicState{Topic: n, Partitions: info.Partitions, Status: "created"}
		if e := resp.Errors[n]; e != nil {
			if !errors.Is(e, kafkago.TopicAlreadyExists) {
				failed = append(failed, fmt.Sprintf("%s: %v", n, e))
				continue
			}
			st.Status = "exists"
			var wrong []string
			if info.Partitions != spec.Partitions {
				wrong = append(wrong, fmt.Sprintf("has %d partitions, configured %d; keys of existing companies would move if it changed, so it is left as it is", info.Partitions, spec.Partitions))
			}
			if spec.MinInSyncReplicas > 0 && info.MinInSyncReplicas != spec.MinInSyncReplicas {
				wrong = append(wrong, fmt.Sprintf("has min.insync.replicas=%d, configured %d (kafka-configs --alter --entity-type topics --entity-name %s --add-config min.insync.replicas=%d)",
					info.MinInSyncReplicas, spec.MinInSyncReplicas, n, spec.MinInSyncReplicas))
			}
			// Without compaction the index grows forever and its tombstones
			// never remove anything.
			if slices.Contains(spec.Compacted, n) && !slices.Contains(strings.Split(info.CleanupPolicy, ","), "compact") {
				wrong = append(wrong, "has cleanup.policy="+info.CleanupPolicy+", needs compact (kafka-configs --alter --add-config cleanup.policy=compact)")
			}
			if len(wrong) > 0 {
				st.Status, st.Detail = "mismatch", strings.Join(wrong, "; ")
			}
		}
		out = append(out, st)
	}
	if len(failed) > 0 {
		return out, fmt.Errorf("create topics: %s", strings.Join(failed, "; "))
	}
	return out, nil
}

// Describe returns how each named topic that exists is set up.
func (a *Admin) Describe(ctx context.Context, names []string) (map[string]TopicInfo, error) {
	defer a.Close()
	existing, err := a.existing(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]TopicInfo, len(names))
	req := &kafkago.DescribeConfigsRequest{}
	for _, t := range existing {
		out[t.Name] = TopicInfo{Topic: t.Name, Partitions: len(t.Partitions), ReplicationFactor: len(t.Partitions[0].Replicas),
			MinInSyncReplicas: 1, CleanupPolicy: "delete"} // Kafka's defaults
		req.Resources = append(req.Resources, kafkago.DescribeConfigRequestResource{
			ResourceType: kafkago.ResourceTypeTopic, ResourceName: t.Name, ConfigNames: []string{"min.insync.replicas", "cleanup.policy"}})
	}
	if len(req.Resources) == 0 {
		return out, nil
	}
	resp, err := a.describeConfigs(ctx, req)
	if err != nil {
		return nil, err
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("describe configs of %s: %w", r.ResourceName, r.Error)
		}
		info := out[r.ResourceName]
		for _, e := range r.ConfigEntries {
			switch e.ConfigName {
			case "min.insync.replicas":
				if v, err := strconv.Atoi(e.ConfigValue); err == nil {
					info.MinInSyncReplicas = v
				}
			case "cleanup.policy":
				info.CleanupPolicy = e.ConfigValue
			}
		}
		out[r.ResourceName] = info
	}
	return out, nil
}

// describeConfigs sends req, again while a broker answers that a topic does
// not exist: a topic just created (or found in one broker's metadata) is
// known to the other brokers of a cluster only a moment later, and the
// request may reach one of them.
func (a *Admin) describeConfigs(ctx context.Context, req *kafkago.DescribeConfigsRequest) (*kafkago.DescribeConfigsResponse, error) {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		resp, err := a.c.DescribeConfigs(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("describe topic configs: %w", err)
		}
		unknown := slices.ContainsFunc(resp.Resources, func(r kafkago.DescribeConfigResponseResource) bool {
			return errors.Is(r.Error, kafkago.UnknownTopicOrPartition)
		})
		if !unknown || attempt == describeAttempts {
			return resp, nil
		}
		select {
		case <-ctx.Done():
			return resp, nil // its errors say what was not found
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// describeAttempts bounds describeConfigs' attempts: about 6 s of waiting
// in all, several times what a cluster takes to spread a new topic.
const describeAttempts = 9

// Partitions returns the partition count of each named topic that exists.
func (a *Admin) Partitions(ctx context.Context, names []string) (map[string]int, error) {
	defer a.Close()
	existing, err := a.existing(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(existing))
	for _, t := range existing {
		out[t.Name] = len(t.Partitions)
	}
	return out, nil
}

// existing returns the metadata of the named topics that exist.
func (a *Admin) existing(ctx context.Context, names []string) ([]kafkago.Topic, error) {
	md, err := a.c.Metadata(ctx, &kafkago.MetadataRequest{Topics: names})
	if err != nil {
		return nil, fmt.Errorf("read topic metadata: %w", err)
	}
	return slices.DeleteFunc(md.Topics, func(t kafkago.Topic) bool { return t.Error != nil || len(t.Partitions) == 0 }), nil
}

// Check returns nil when the brokers answer and every topic in names exists
// with a leader for each partition; otherwise an error saying what is wrong.
//
// Each call asks every known broker afresh and at once, each over a
// transport of its own, and takes the first answer: a kafka-go transport
// answers metadata from a cache that keeps the last good state while the
// brokers are away, and one hung broker would stall a single request.
func (a *Admin) Check(ctx context.Context, names []string) error {
	if err := a.cluster.refresh(ctx, names...); err != nil {
		return fmt.Errorf("kafka metadata request failed: %w", err)
	}
	var missing, leaderless []string
	for _, n := range names {
		ps, ok := a.cluster.cached(n)
		if !ok {
			missing = append(missing, n)
			continue
		}
		for i, b := range ps {
			if b.ID < 0 {
				leaderless = append(leaderless, fmt.Sprintf("%s/%d", n, i))
			}
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
