// Package kafka is webhook-bridge's Kafka plumbing, built on kafka-go: the
// writer that publishes records with acks=all, topic administration and
// health, the company-index reader, Tail, ConsumeToEnd (reading a topic
// from a group's committed offsets to its end, for replay), the in-process
// dev broker, and Decode for kafka-go messages. It knows the contract (package topics) and nothing of HTTP.
package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Config says how to reach the brokers. The zero value of every field but
// Brokers means plaintext without authentication.
type Config struct {
	// Brokers are bootstrap addresses, host:port.
	Brokers []string
	// TLS turns on TLS to the brokers.
	TLS bool
	// TLSCAFile is a PEM bundle of CAs to trust instead of the system's.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are a client certificate for mutual TLS.
	TLSCertFile, TLSKeyFile string
	// TLSInsecureSkipVerify disables certificate checks; for tests only.
	TLSInsecureSkipVerify bool
	// SASLMechanism is "", "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512".
	SASLMechanism string
	// SASLUsername and SASLPassword are the SASL credentials.
	SASLUsername, SASLPassword string
	// DialTimeout bounds connecting to a broker; it must be positive.
	DialTimeout time.Duration
}

// Validate reports a configuration that cannot work, naming the setting.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("no Kafka brokers configured")
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("kafka broker %q is not host:port", b)
		}
	}
	if _, err := c.mechanism(); err != nil {
		return err
	}
	if c.DialTimeout <= 0 {
		return errors.New("kafka dial timeout must be positive")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("kafka TLS client certificate needs both a cert file and a key file")
	}
	return nil
}

func (c Config) mechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(c.SASLMechanism) {
	case "":
		return nil, nil
	case "PLAIN":
		return plain.Mechanism{Username: c.SASLUsername, Password: c.SASLPassword}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, c.SASLUsername, c.SASLPassword)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, c.SASLUsername, c.SASLPassword)
	default:
		return nil, fmt.Errorf("kafka SASL mechanism %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", c.SASLMechanism)
	}
}

func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLSInsecureSkipVerify} //nolint:gosec // opt-in for tests
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("read kafka CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka CA file %s holds no PEM certificate", c.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("load kafka client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// security validates c and returns what transports and dialers both need:
// the SASL mechanism and the TLS configuration (nil when off).
func (c Config) security() (sasl.Mechanism, *tls.Config, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	mech, _ := c.mechanism()
	tc, err := c.tlsConfig()
	return mech, tc, err
}

// transport builds the kafka-go transport shared by writers and admin
// clients.
func (c Config) transport() (*kafkago.Transport, error) {
	mech, tc, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafkago.Transport{
		DialTimeout: c.DialTimeout,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: 10 * time.Second,
		ClientID:    "webhook-bridge",
		TLS:         tc,
		SASL:        mech,
	}, nil
}

// dialer builds the kafka-go dialer used by readers.
func (c Config) dialer() (*kafkago.Dialer, error) {
	mech, tc, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafkago.Dialer{
		Timeout:       c.DialTimeout,
		DualStack:     true,
		ClientID:      "webhook-bridge",
		TLS:           tc,
		SASLMechanism: mech,
	}, nil
}

// client builds a client for requests about topic. Its transport keeps
// connections and a metadata goroutine until closeClient, and reads the
// metadata of topic only: a shared cluster may hold thousands of topics.
func (c Config) client(topic string) (*kafkago.Client, error) {
	t, err := c.transport()
	if err != nil {
		return nil, err
	}
	t.MetadataTopics = []string{topic}
	return &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Timeout: 10 * time.Second, Transport: t}, nil
}

// closeClient ends a client's connections and its transport's goroutine.
func closeClient(c *kafkago.Client) {
	if t, ok := c.Transport.(*kafkago.Transport); ok {
		t.CloseIdleConnections()
	}
}
