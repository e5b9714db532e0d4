package kafka

import (
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"
)

// DevBroker is an in-process, in-memory Kafka-protocol broker (kfake) for the
// dev command and for tests on machines without Java. Nothing it holds
// survives Close. It is never used by serve.
type DevBroker struct {
	c *kfake.Cluster
}

// StartDevBroker listens on addr ("127.0.0.1:0" picks a free port).
func StartDevBroker(addr string) (*DevBroker, error) {
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }),
	)
	if err != nil {
		return nil, fmt.Errorf("start in-memory broker on %s: %w", addr, err)
	}
	return &DevBroker{c: c}, nil
}

// Addr is the broker's host:port.
func (b *DevBroker) Addr() string { return b.c.ListenAddrs()[0] }

// Close stops the broker and drops its data.
func (b *DevBroker) Close() { b.c.Close() }
