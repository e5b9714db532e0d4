package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// cluster is the writer's own view of where each partition's leader is.
//
// kafka-go's Transport caches metadata for its MetadataTTL and offers no way
// to refresh it on demand: after a leader moved, its Writer kept sending to
// the old leader (a stopped node) until the cache expired. And a metadata
// request that reaches a hung broker waits out its whole timeout. So the
// writer asks for metadata itself, when it needs to (a topic's first use, a
// failed or stalled produce), from every known broker at once, and takes the
// first answer: one hung or dead node neither delays nor decides it.
type cluster struct {
	cfg     Config
	timeout time.Duration // bounds one metadata request to one broker

	mu      sync.Mutex
	brokers map[int]string              // node id -> host:port, as last seen
	leaders map[string][]kafkago.Broker // topic -> leader of each partition
	fetch   *metadataFetch              // the refresh running now, if any
}

// metadataFetch is one refresh that concurrent callers share.
type metadataFetch struct {
	names []string // the topics it asks for
	done  chan struct{}
	err   error
}

func newCluster(cfg Config, timeout time.Duration) *cluster {
	return &cluster{cfg: cfg, timeout: timeout, brokers: map[int]string{}, leaders: map[string][]kafkago.Broker{}}
}

// partitions returns the leader of each partition of topic, from the cache
// or, for a topic not seen yet, from a refresh that also asks for also (the
// topics the caller will use, so that one refresh learns them all).
func (c *cluster) partitions(ctx context.Context, topic string, also ...string) ([]kafkago.Broker, error) {
	c.mu.Lock()
	ps, ok := c.leaders[topic]
	c.mu.Unlock()
	if ok {
		return ps, nil
	}
	if err := c.refresh(ctx, append([]string{topic}, also...)...); err != nil {
		return nil, err
	}
	c.mu.Lock()
	ps, ok = c.leaders[topic]
	c.mu.Unlock()
	if !ok {
		return nil, kafkago.UnknownTopicOrPartition
	}
	return ps, nil
}

// cached returns the cached leaders of topic's partitions.
func (c *cluster) cached(topic string) ([]kafkago.Broker, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.leaders[topic]
	return ps, ok
}

// leader returns the cached leader of a partition; ok is false when unknown.
func (c *cluster) leader(topic string, partition int) (kafkago.Broker, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.leaders[topic]
	if partition < 0 || partition >= len(ps) || ps[partition].ID < 0 {
		return kafkago.Broker{}, false
	}
	return ps[partition], true
}

// refresh asks the cluster for the leaders of every topic in use (plus
// extra) and replaces the cache. Callers that arrive while a refresh runs
// wait for it rather than start another.
func (c *cluster) refresh(ctx context.Context, extra ...string) error {
	for {
		c.mu.Lock()
		f := c.fetch
		if f == nil {
			f = &metadataFetch{done: make(chan struct{})}
			c.fetch = f
			addrs := c.addrsLocked()
			for t := range c.leaders {
				f.names = append(f.names, t)
			}
			for _, t := range extra {
				if _, ok := c.leaders[t]; !ok {
					f.names = append(f.names, t)
				}
			}
			c.mu.Unlock()
			go c.run(f, addrs)
			extra = nil
		} else {
			c.mu.Unlock()
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		// A refresh that was already running may not have asked for extra.
		extra = slices.DeleteFunc(extra, func(t string) bool { return slices.Contains(f.names, t) })
		if f.err != nil || len(extra) == 0 {
			return f.err
		}
	}
}

// addrsLocked lists the bootstrap brokers and every broker seen since.
func (c *cluster) addrsLocked() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range c.cfg.Brokers {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, a := range c.brokers {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

func (c *cluster) run(f *metadataFetch, addrs []string) {
	res, err := c.ask(addrs, f.names)
	c.mu.Lock()
	if err == nil {
		for _, b := range res.Brokers {
			c.brokers[b.ID] = net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
		}
		leaders := make(map[string][]kafkago.Broker, len(res.Topics))
		for _, t := range res.Topics {
			if t.Error != nil || len(t.Partitions) == 0 {
				continue // deleted or not there yet: its next use asks again
			}
			ps := make([]kafkago.Broker, len(t.Partitions))
			for _, p := range t.Partitions {
				if p.ID >= 0 && p.ID < len(ps) {
					ps[p.ID] = p.Leader
					if p.Error != nil || p.Leader.Host == "" {
						ps[p.ID].ID = -1 // no leader now (an election is running)
					}
				}
			}
			leaders[t.Name] = ps
		}
		c.leaders = leaders
	}
	f.err = err
	c.fetch = nil
	c.mu.Unlock()
	close(f.done)
}

// ask sends a metadata request for names to every address at once and
// returns the first answer.
func (c *cluster) ask(addrs, names []string) (*kafkago.MetadataResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	type answer struct {
		res *kafkago.MetadataResponse
		err error
	}
	answers := make(chan answer, len(addrs))
	for _, a := range addrs {
		go func() {
			res, err := c.askOne(ctx, a, names)
			answers <- answer{res, err}
		}()
	}
	var errs []error
	for range addrs {
		a := <-answers
		if a.err == nil {
			return a.res, nil
		}
		errs = append(errs, a.err)
	}
	return nil, fmt.Errorf("no broker answered a metadata request: %w", errors.Join(errs...))
}

// askOne asks one broker over a transport of its own, closed before it
// returns: a shared transport would answer from its cache.
func (c *cluster) askOne(ctx context.Context, addr string, names []string) (*kafkago.MetadataResponse, error) {
	t, err := c.cfg.transport()
	if err != nil {
		return nil, err
	}
	defer t.CloseIdleConnections()
	t.MetadataTopics = names // not the whole cluster's topics
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: c.timeout, Transport: t}
	res, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: names})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	if len(res.Brokers) == 0 {
		return nil, fmt.Errorf("%s: metadata names no broker", addr)
	}
	return res, nil
}
