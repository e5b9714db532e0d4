package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
)

// serve runs the HTTP server until ctx ends, then shuts down in order:
// readiness 503 at once, keep serving for the grace period, stop accepting,
// finish in-flight requests, flush and close the Kafka writer.
func serve(ctx context.Context, cfg Config, log zerolog.Logger, banner func(addr string)) error {
	kc, err := cfg.kafka()
	if err != nil {
		return err
	}
	w, err := topics.NewWriter(cfg.writer(kc), log)
	if err != nil {
		return err
	}
	admin, err := topics.NewAdmin(kc)
	if err != nil {
		return err
	}
	naming := cfg.naming()
	health := topics.NewHealth(admin, naming.All(), 2*time.Second, log)
	hctx, stopHealth := context.WithCancel(context.Background())
	defer stopHealth()
	go health.Run(hctx)

	opts := cfg.serverOptions()
	opts.Ready = health.Err
	srv := bridge.NewServer(w, opts, log)

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          httpErrorLog(log),
	}
	v, c, _ := bridge.BuildInfo()
	log.Info().Str("version", v).Str("commit", c).Str("addr", ln.Addr().String()).
		Interface("config", cfg.redacted()).Msg("listening")
	if banner != nil {
		banner(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	deadline := time.Now().Add(cfg.ShutdownTimeout)
	srv.Drain()
	log.Info().Dur("grace", cfg.ShutdownGrace).Msg("shutting down: readiness is 503, still serving during the grace period")
	select {
	case <-time.After(cfg.ShutdownGrace):
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	}
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	shutdownErr := hs.Shutdown(sctx)
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			log.Warn().Err(err).Msg("closing the Kafka writer")
		}
	case <-sctx.Done():
		shutdownErr = errors.Join(shutdownErr, errors.New("kafka writer did not close before BRIDGE_SHUTDOWN_TIMEOUT"))
	}
	if shutdownErr != nil {
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	log.Info().Msg("stopped")
	return nil
}

// redacted is the config as it may be logged: secrets replaced.
func (c Config) redacted() Config {
	if c.KafkaSASLPassword != "" {
		c.KafkaSASLPassword = "[redacted]"
	}
	return c
}
