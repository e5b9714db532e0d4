package kafka

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAdminHoldsNothingBetweenCalls: once a call returns, the Admin's
// transport sends no more metadata requests. Left open, kafka-go's
// transport asks for every topic in the cluster once per MetadataTTL, for
// as long as the process that keeps the Admin (for its health checks) runs.
func TestAdminHoldsNothingBetweenCalls(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var metadata atomic.Int64
	c.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		metadata.Add(1)
		return nil, nil, false
	})
	a, err := NewAdmin(Config{Brokers: c.ListenAddrs(), DialTimeout: time.Second}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.t.MetadataTTL = 20 * time.Millisecond // a refresh left running would show within the wait below
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, call := range []struct {
		name string
		run  func() error
	}{
		{"Describe", func() error { _, err := a.Describe(ctx, []string{"t"}); return err }},
		{"Partitions", func() error { _, err := a.Partitions(ctx, []string{"t"}); return err }},
		{"Create", func() error {
			_, err := a.Create(ctx, []string{"t", "u"}, TopicSpec{Partitions: 1, ReplicationFactor: 1})
			return err
		}},
	} {
		if err := call.run(); err != nil {
			t.Fatalf("%s: %v", call.name, err)
		}
		// A refresh already on its way when the call closed may still arrive.
		time.Sleep(50 * time.Millisecond)
		before := metadata.Load()
		if before == 0 {
			t.Fatalf("%s sent no metadata request: the count below would prove nothing", call.name)
		}
		time.Sleep(300 * time.Millisecond)
		if after := metadata.Load(); after != before {
			t.Errorf("after %s returned, its transport sent %d more metadata requests", call.name, after-before)
		}
	}
}

// TestDescribeWaitsForATopicEveryBrokerKnows: in a cluster, the broker that
// answers DescribeConfigs may not know yet a topic another broker just
// created. Describe asks again instead of failing `topics create`.
func TestDescribeWaitsForATopicEveryBrokerKnows(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var asked atomic.Int64
	c.ControlKey(int16(kmsg.DescribeConfigs), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if asked.Add(1) > 2 {
			return nil, nil, false
		}
		req := kreq.(*kmsg.DescribeConfigsRequest)
		resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
		for _, r := range req.Resources {
			rr := kmsg.NewDescribeConfigsResponseResource()
			rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
			rr.ErrorCode = 3 // UNKNOWN_TOPIC_OR_PARTITION
			resp.Resources = append(resp.Resources, rr)
		}
		return resp, nil, true
	})
	a, err := NewAdmin(Config{Brokers: c.ListenAddrs(), DialTimeout: time.Second}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	infos, err := a.Describe(ctx, []string{"t"})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if n := asked.Load(); n != 3 || infos["t"].Partitions != 1 {
		t.Errorf("DescribeConfigs asked %d times, want 3; got %+v", n, infos)
	}
}
