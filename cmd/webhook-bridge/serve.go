package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
)

// serve runs the HTTP server until ctx ends, then shuts down in order:
// readiness 503 at once, keep serving for the grace period, stop accepting,
// finish in-flight requests, flush and close the Kafka writer, then flush
// the spans (when tracing is on), whose last ones are the last publishes.
//
// dev exempts the secrets from the strength check; banner, when set, is
// called with the webhook port's address once it listens.
func serve(ctx context.Context, cfg Config, log zerolog.Logger, dev bool, banner func(addr string)) error {
	kc, err := cfg.kafka()
	if err != nil {
		return err
	}
	auth, err := cfg.auth()
	if err != nil {
		return err
	}
	if !dev {
		if err := cfg.checkSecretStrength(); err != nil {
			return err
		}
	}
	tp, err := startTracing(ctx, log)
	if err != nil {
		return err
	}
	if tp != nil {
		// For the early returns; the shutdown below flushes it in order.
		defer func() {
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = tp.Shutdown(fctx)
		}()
	}
	if cfg.MaxInFlight >= cfg.HTTPMaxConns {
		log.Warn().Int("max_inflight", cfg.MaxInFlight).Int("http_max_conns", cfg.HTTPMaxConns).
			Msg("BRIDGE_MAX_INFLIGHT is not below BRIDGE_HTTP_MAX_CONNS: a connection carries one request at a time, so an overload resets new connections instead of answering 503 overloaded")
	}
	w, err := kafka.NewWriter(cfg.writer(kc), log)
	if err != nil {
		return err
	}
	admin, err := kafka.NewAdmin(kc, cfg.KafkaAdminTimeout)
	if err != nil {
		return err
	}
	defer admin.Close()
	var tlsCert *tls.Certificate
	if cfg.TLSCertFile != "" {
		c, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("load BRIDGE_TLS_CERT_FILE/BRIDGE_TLS_KEY_FILE: %w", err)
		}
		tlsCert = &c
	}
	naming := cfg.naming()
	index, err := kafka.NewIndex(cfg.index(kc), log)
	if err != nil {
		return err
	}
	health := kafka.NewHealth(admin, naming.All(), cfg.KafkaHealthInterval, log)
	hctx, stopBackground := context.WithCancel(context.Background())
	var background sync.WaitGroup
	background.Go(func() { health.Run(hctx) })
	background.Go(func() { _ = index.Run(hctx) })
	defer func() { stopBackground(); background.Wait() }()
	background.Go(func() { warnTopicSetup(hctx, admin, naming.All(), log) })
	background.Go(func() { warnOldInternalTopics(hctx, admin, cfg, log) })
	warnSharedInternalPrefix(cfg, log)

	opts := cfg.serverOptions()
	// Readiness is this instance's own state only (see bridge.Options.Ready);
	// Kafka's is a metric and a log line.
	opts.Ready = index.Ready
	opts.Kafka = health.Err
	opts.Index = index
	if tp != nil {
		opts.Tracer = tp
	}
	if auth != nil {
		opts.Auth = auth
	} else {
		log.Warn().Msg("BRIDGE_AUTH_MODE=none: deliveries are NOT authenticated; anyone who can reach this port can write to the topics")
	}
	srv := bridge.NewServer(w, opts, log)
	srv.Metrics().WatchWriter(writerStats(w))
	srv.Metrics().WatchIndex(index.Len, index.CaughtUp())
	srv.Metrics().WatchIndexReader(func() bridge.IndexStats {
		st := index.Stats()
		return bridge.IndexStats{Lag: st.Lag, ReadErrors: st.ReadErrors}
	})

	raiseFileLimit(cfg.HTTPMaxConns, log)
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("listen on BRIDGE_ADMIN_ADDR %s: %w", cfg.AdminAddr, err)
	}
	defer adminLn.Close()
	tcpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on BRIDGE_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	wl := srv.Listener(tcpLn, cfg.HTTPMaxConns, cfg.HTTPUnauthIdle)
	var ln net.Listener = wl
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          httpErrorLog(log),
	}
	wl.Configure(hs)
	if tlsCert != nil {
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*tlsCert}}
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	adminHandler := srv.Admin()
	if cfg.PProf {
		adminHandler = withPprof(adminHandler)
		log.Warn().Str("path", pprofPrefix).Msg("BRIDGE_PPROF=true: the admin port serves Go's profiler; keep it off the internet")
	}
	adminHS := &http.Server{
		Handler:           adminHandler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          httpErrorLog(log),
	}
	v, c, _ := bridge.BuildInfo()
	log.Info().Str("version", v).Str("commit", c).Str("addr", ln.Addr().String()).Str("admin_addr", adminLn.Addr().String()).
		Bool("tls", tlsCert != nil).Interface("config", cfg.redacted()).Msg("listening")
	if banner != nil {
		banner(ln.Addr().String())
	}
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	go func() {
		if err := adminHS.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin server: %w", err)
		}
	}()
	// The admin port answers until the very end: /readyz says 503 through
	// the grace period and the drain.
	defer adminHS.Close()

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	deadline := time.Now().Add(cfg.ShutdownTimeout)
	srv.BeginShutdown()
	log.Info().Int64("grace_ms", cfg.ShutdownGrace.Milliseconds()).Msg("shutting down: readiness is 503, still serving during the grace period")
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
	if tp != nil {
		// After the writer: the spans of the last publishes are ended.
		if err := tp.Shutdown(sctx); err != nil {
			log.Warn().Err(err).Msg("tracing: flushing the last spans")
		}
	}
	if shutdownErr != nil {
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	log.Info().Msg("stopped")
	return nil
}

// index configures the company index from cfg.
func (c Config) index(kc kafka.Config) kafka.IndexConfig {
	return kafka.IndexConfig{Kafka: kc, Topic: c.naming().Index(), CatchUpTimeout: c.IndexCatchUp}
}

// describeOnce describes the topics of names that exist, asking again every
// 5 s until Kafka answers; ok is false when ctx ended first.
func describeOnce(ctx context.Context, admin *kafka.Admin, names []string) (infos map[string]kafka.TopicInfo, ok bool) {
	for {
		var err error
		if infos, err = admin.Describe(ctx, names); err == nil {
			return infos, true
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(5 * time.Second):
		}
	}
}

// warnSharedInternalPrefix logs a configuration that changed
// BRIDGE_TOPIC_PREFIX but not BRIDGE_INTERNAL_TOPIC_PREFIX: where that is
// done to run several deployments on one cluster, they would share the
// quarantine (and replay each other's bodies) and the company index.
func warnSharedInternalPrefix(cfg Config, log zerolog.Logger) {
	if cfg.TopicPrefix != defaultOf("TopicPrefix") && cfg.InternalTopicPrefix == defaultOf("InternalTopicPrefix") {
		log.Warn().Str("topic_prefix", cfg.TopicPrefix).Str("internal_topic_prefix", cfg.InternalTopicPrefix).
			Msg("BRIDGE_TOPIC_PREFIX is set but BRIDGE_INTERNAL_TOPIC_PREFIX is the default: deployments sharing this Kafka cluster share the quarantine and the company index unless each sets its own BRIDGE_INTERNAL_TOPIC_PREFIX")
	}
}

// warnOldInternalTopics logs, once at start, the quarantine and company
// index of the layout before BRIDGE_INTERNAL_TOPIC_PREFIX, named with
// BRIDGE_TOPIC_PREFIX, when they exist and are not the ones in use. The
// bridge leaves them alone: it neither reads, writes nor deletes them.
func warnOldInternalTopics(ctx context.Context, admin *kafka.Admin, cfg Config, log zerolog.Logger) {
	n := cfg.naming()
	old := topics.Naming{Prefix: cfg.TopicPrefix, Internal: cfg.TopicPrefix}
	var candidates []string
	for _, t := range [][2]string{{old.Quarantine(), n.Quarantine()}, {old.Index(), n.Index()}} {
		if t[0] != t[1] {
			candidates = append(candidates, t[0])
		}
	}
	if len(candidates) == 0 {
		return
	}
	infos, ok := describeOnce(ctx, admin, candidates)
	if !ok {
		return
	}
	var found []string
	for _, t := range candidates {
		if _, ok := infos[t]; ok {
			found = append(found, t)
		}
	}
	if len(found) == 0 {
		return
	}
	log.Warn().Strs("old_topics", found).Strs("topics", []string{n.Quarantine(), n.Index()}).
		Msgf("%s, named before BRIDGE_INTERNAL_TOPIC_PREFIX existed, are left alone (not read, written or deleted): the quarantine and the company index are now %s and %s; "+
			"BRIDGE_INTERNAL_TOPIC_PREFIX=%s keeps the old names (see Migration in docs/operations.md)",
			strings.Join(found, " and "), n.Quarantine(), n.Index(), cfg.TopicPrefix)
}

// warnTopicSetup logs, once at start, topics whose setup cannot keep the
// durability promise: replication below 3, or min.insync.replicas below 2
// (with which acks=all can mean one copy). Replication 1 is how a
// single-broker setup declares itself; it is said once, as such.
func warnTopicSetup(ctx context.Context, admin *kafka.Admin, names []string, log zerolog.Logger) {
	infos, ok := describeOnce(ctx, admin, names)
	if !ok {
		return
	}
	var single, weak []string
	for _, n := range names {
		i, ok := infos[n]
		switch {
		case !ok:
		case i.ReplicationFactor == 1:
			single = append(single, n)
		case i.ReplicationFactor < 3 || i.MinInSyncReplicas < 2:
			weak = append(weak, fmt.Sprintf("%s (replication %d, min.insync.replicas %d)", n, i.ReplicationFactor, i.MinInSyncReplicas))
		}
	}
	if len(single) > 0 {
		log.Warn().Int("topics", len(single)).Msg("single-broker setup: topics have replication 1, so an acknowledged record has one copy; use replication 3 and min.insync.replicas 2 in production")
	}
	if len(weak) > 0 {
		log.Warn().Strs("topics", weak).Msg("topics below replication 3 or min.insync.replicas 2: acks=all may rest on fewer copies than a broker failure needs (webhook-bridge topics create reports the fix)")
	}
}

// redacted is the effective config as it may be logged, by variable name:
// fields tagged secret show only whether they are set.
func (c Config) redacted() map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(c)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name := envPrefix + "_" + f.Tag.Get("envconfig")
		fv := v.Field(i)
		switch {
		case f.Tag.Get("secret") == "true":
			if fv.IsZero() || fv.Len() == 0 {
				out[name] = ""
			} else {
				out[name] = "[redacted]"
			}
		case fv.Kind() == reflect.Slice:
			out[name] = fmt.Sprint(strings.Join(fv.Interface().([]string), ","))
		default:
			out[name] = fmt.Sprint(fv.Interface())
		}
	}
	return out
}

// writerStats adapts the Kafka writer's counters to the metrics' terms.
func writerStats(w *kafka.Writer) func() bridge.WriterStats {
	return func() bridge.WriterStats {
		s := w.Stats()
		return bridge.WriterStats{Writes: s.Writes, Messages: s.Messages, Bytes: s.Bytes, Requests: s.Requests,
			Errors: s.Errors, Retries: s.Retries, QueueLength: s.QueueLength}
	}
}

// raiseFileLimit raises the soft limit of open files to the hard one (Go
// does so at start on Linux; this says so, and warns when the limit is
// below what BRIDGE_HTTP_MAX_CONNS needs: a connection per file, and room
// for Kafka, the admin port and the process itself).
func raiseFileLimit(maxConns int, log zerolog.Logger) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Warn().Err(err).Msg("reading the open-file limit")
		return
	}
	if rl.Cur < rl.Max {
		raised := rl
		raised.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			rl = raised
		}
	}
	ev := log.Info()
	if need := uint64(maxConns) + fileLimitMargin; rl.Cur < need {
		ev = log.Warn().Uint64("needed", need)
	}
	ev.Uint64("soft", rl.Cur).Uint64("hard", rl.Max).Int("http_max_conns", maxConns).Msg("open-file limit")
}

// fileLimitMargin is the files kept for everything but webhook connections.
const fileLimitMargin = 512
