package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
)

// devSample is the webhook the dev banner's curl line posts.
const devSample = `{"uuid":"7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09","timestamp":1718035200123,"resource":{"type":"SUBSCRIPTION","uuid":"5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21","url":"https://acme.byappdirect.com/api/billing/v1/subscriptions/5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21","content":{"id":"5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21","status":"ACTIVE","order":{"id":"4410021","company":{"id":"c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"}}}},"resourceAction":"ADDED"}`

// dev starts an embedded in-memory broker, creates the topics on it and
// serves against it: the newcomer's first command. It accepts every delivery
// without authentication.
func dev(ctx context.Context, cfg Config, log zerolog.Logger, stdout io.Writer) error {
	b, err := kafka.StartDevBroker(cfg.DevKafkaAddr)
	if err != nil {
		return fmt.Errorf("%w (set BRIDGE_DEV_KAFKA_ADDR to another address if a broker already listens there)", err)
	}
	defer b.Close()
	cfg.KafkaBrokers = []string{b.Addr()}
	cfg.KafkaTLS, cfg.KafkaSASL = false, ""
	if _, set := os.LookupEnv(envPrefix + "_AUTH_MODE"); !set {
		cfg.AuthMode = bridge.ModeNone
	}
	kc, err := cfg.kafka()
	if err != nil {
		return err
	}
	admin, err := kafka.NewAdmin(kc, cfg.KafkaAdminTimeout)
	if err != nil {
		return err
	}
	spec := cfg.topicSpec()
	spec.ReplicationFactor = 1
	spec.Compacted = cfg.naming().Compacted()
	if _, err := admin.Create(ctx, cfg.naming().All(), spec); err != nil {
		return err
	}
	log.Warn().Str("kafka", b.Addr()).Msg("dev mode: embedded in-memory Kafka, data is lost on exit")
	return serve(ctx, cfg, log, true, func(addr string) {
		fmt.Fprintf(stdout, `
  webhook-bridge dev: serving on http://%[1]s with an EMBEDDED IN-MEMORY KAFKA on %[2]s.
  DATA IS IN MEMORY ONLY: it is gone when this process stops. Never use dev in production.

  Send a webhook:
    curl -sS -X POST http://%[1]s/webhooks -H 'Content-Type: application/json' \
      -d '%[3]s'

  Watch it arrive (another terminal):
    BRIDGE_KAFKA_BROKERS=%[2]s go run ./cmd/webhook-bridge tail --from-beginning

`, dialable(addr), b.Addr(), devSample)
	})
}

// dialable turns a listen address such as "[::]:8080" into one curl can use.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "::" || host == "0.0.0.0" || strings.HasPrefix(host, "[") {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
