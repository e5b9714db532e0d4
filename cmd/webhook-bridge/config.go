package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/kelseyhightower/envconfig"
	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
)

//go:generate go test -run TestDocsConfigTable|TestDocsMetricsTable|TestDocsTracingTable -update .

// envPrefix is the prefix of every environment variable the binary reads.
const envPrefix = "BRIDGE"

// shutdownMargin is what a shutdown needs beyond the grace period and the
// last publish: net/http looks for idle connections every 500ms, then the
// writer closes and the last spans are flushed.
const shutdownMargin = 2 * time.Second

// Config is every setting, read from BRIDGE_* environment variables. Its tags
// are the documentation: `--help` prints them.
type Config struct {
	HTTPAddr              string            `envconfig:"HTTP_ADDR" default:":8080" desc:"address of the webhook port: POST /webhooks and POST /oauth/token, nothing else"`
	AdminAddr             string            `envconfig:"ADMIN_ADDR" default:":9090" desc:"address of the admin port (plain HTTP): GET /healthz, /readyz, /metrics and /schemas; it discloses versions, volumes and Kafka's state, so keep it off the internet"`
	HTTPMaxConns          int               `envconfig:"HTTP_MAX_CONNS" default:"4096" desc:"most connections the webhook port keeps open; over it a new connection is reset at once, and the open ones keep being served"`
	HTTPUnauthIdle        time.Duration     `envconfig:"HTTP_UNAUTHENTICATED_IDLE_TIMEOUT" default:"5s" desc:"how long a keep-alive connection that has not authenticated a request may idle (HTTP_IDLE_TIMEOUT applies once one has)"`
	KafkaBrokers          []string          `envconfig:"KAFKA_BROKERS" desc:"comma-separated Kafka bootstrap brokers, host:port (required by serve, topics, tail, index, replay)"`
	KafkaTLS              bool              `envconfig:"KAFKA_TLS" default:"false" desc:"use TLS to the brokers"`
	KafkaTLSCAFile        string            `envconfig:"KAFKA_TLS_CA_FILE" desc:"PEM file of CAs to trust for the brokers (default: the system's)"`
	KafkaTLSCertFile      string            `envconfig:"KAFKA_TLS_CERT_FILE" desc:"PEM client certificate for mutual TLS to the brokers"`
	KafkaTLSKeyFile       string            `envconfig:"KAFKA_TLS_KEY_FILE" desc:"PEM key of the client certificate"`
	KafkaSASL             string            `envconfig:"KAFKA_SASL_MECHANISM" desc:"SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default: none)"`
	KafkaSASLUser         string            `envconfig:"KAFKA_SASL_USERNAME" desc:"SASL username"`
	KafkaSASLPassword     string            `envconfig:"KAFKA_SASL_PASSWORD" secret:"true" desc:"SASL password (secret)"`
	AuthMode              string            `envconfig:"AUTH_MODE" default:"token" desc:"how deliveries authenticate: token, oauth2, token,oauth2 (either) or none (dev defaults to none)"`
	AuthTokens            []string          `envconfig:"AUTH_TOKENS" secret:"true" desc:"accepted X-AppDirect-Webhook-Token values, comma-separated (several while rotating) (secret)"`
	OAuthClients          map[string]string `envconfig:"OAUTH_CLIENTS" secret:"true" desc:"OAuth2 clients as id:secret,id2:secret2 (secret)"`
	OAuthUsers            map[string]string `envconfig:"OAUTH_USERS" secret:"true" desc:"OAuth2 password-grant users as name:password,... (secret)"`
	OAuthSigningKeys      []string          `envconfig:"OAUTH_SIGNING_KEYS" secret:"true" desc:"keys of at least 32 bytes that sign access tokens, comma-separated: the first signs, all verify (secret)"`
	AuthFailuresPerSecond float64           `envconfig:"AUTH_FAILURES_PER_SECOND" default:"1" desc:"failed authentications allowed per client address and second, on average (webhooks and /oauth/token); beyond the burst the address gets 429 with Retry-After before its credentials are checked (0 turns it off)"`
	AuthFailureBurst      int               `envconfig:"AUTH_FAILURE_BURST" default:"20" desc:"failed authentications a client address may make at once before AUTH_FAILURES_PER_SECOND applies"`
	TrustedProxies        []string          `envconfig:"TRUSTED_PROXIES" desc:"comma-separated IPs or CIDRs of the proxies in front of the webhook port: only from them is X-Forwarded-For read, its right-most address not one of them being the client the log and the auth throttle use (default: none; the peer is the client)"`
	OAuthTokenTTL         time.Duration     `envconfig:"OAUTH_TOKEN_TTL" default:"1h" desc:"lifetime of an issued access token"`
	TLSCertFile           string            `envconfig:"TLS_CERT_FILE" desc:"PEM certificate (chain) to serve HTTPS; with TLS_KEY_FILE"`
	TLSKeyFile            string            `envconfig:"TLS_KEY_FILE" desc:"PEM private key of TLS_CERT_FILE"`
	TopicPrefix           string            `envconfig:"TOPIC_PREFIX" default:"appdirect." desc:"prefix of every resource topic name: a pattern subscription on it matches the 15 resource topics only"`
	InternalTopicPrefix   string            `envconfig:"INTERNAL_TOPIC_PREFIX" default:"webhook-bridge." desc:"prefix of the bridge's own topics, the quarantine (deadletter) and the company index (company-index), and of replay's consumer group; keep it out of TOPIC_PREFIX (set it to TOPIC_PREFIX to keep the topic names of versions before it existed)"`
	TopicPartitions       int               `envconfig:"TOPIC_PARTITIONS" default:"6" desc:"partitions of each topic made by topics create (changing it later moves companies between partitions)"`
	TopicReplication      int               `envconfig:"TOPIC_REPLICATION" default:"3" desc:"replication factor of each topic made by topics create (1 for a single local broker)"`
	MaxBodyBytes          int64             `envconfig:"MAX_BODY_BYTES" default:"1048576" desc:"largest accepted webhook body; larger ones get 413"`
	PublishTimeout        time.Duration     `envconfig:"PUBLISH_TIMEOUT" default:"15s" desc:"how long a webhook request may take from its arrival, Kafka's acks=all included, before it is answered 503: above a dead broker's fencing (broker.session.timeout.ms, 9s by default, plus a controller election) and well under the marketplace's 30s"`
	MaxInFlightBytes      int64             `envconfig:"MAX_INFLIGHT_BYTES" default:"67108864" desc:"budget of webhook bodies held in memory at once, counted as they are read; over it the answer is 503 with Retry-After (slow bodies are cut by HTTP_READ_TIMEOUT)"`
	RetryAfter            time.Duration     `envconfig:"RETRY_AFTER" default:"5s" desc:"the Retry-After of a 503: when the marketplace (or any client) should try again"`
	MaxInFlight           int               `envconfig:"MAX_INFLIGHT" default:"4000" desc:"most webhook requests served at once; above it the answer is 503 at once. Size it to the peak rate times PUBLISH_TIMEOUT: while a broker is being fenced every acks=all write waits (MAX_INFLIGHT_BYTES bounds the bodies held). Keep it below HTTP_MAX_CONNS: a connection carries one request at a time, so at or above it new connections are reset instead of answered 503"`
	DedupTTL              time.Duration     `envconfig:"DEDUP_TTL" default:"1h" desc:"how long an acknowledged event id is remembered so a redelivery gets 2xx without a second record (0 turns it off)"`
	DedupMaxEntries       int               `envconfig:"DEDUP_MAX_ENTRIES" default:"100000" desc:"most event ids remembered for dedup (oldest dropped first)"`
	IndexCatchUp          time.Duration     `envconfig:"INDEX_CATCHUP_TIMEOUT" default:"2m" desc:"at start, readiness waits at most this long for the company index to be read (0: no bound); after it, REMOVED events of entities not read yet are keyed by their own uuid"`
	BatchSize             int               `envconfig:"KAFKA_BATCH_SIZE" default:"100" desc:"most records in one partition's batch of a produce request (a partition sends at once when idle, and batches what arrives while its write is in flight; one request to a broker carries the batches of all its partitions that wait)"`
	KafkaWriteTimeout     time.Duration     `envconfig:"KAFKA_WRITE_TIMEOUT" default:"10s" desc:"bounds one produce attempt to a partition leader, the wait for acks=all included (a request as a whole is bounded by PUBLISH_TIMEOUT)"`
	KafkaMetadataTimeout  time.Duration     `envconfig:"KAFKA_METADATA_TIMEOUT" default:"2s" desc:"bounds one metadata request to one broker (all brokers are asked at once; the first answer wins)"`
	KafkaConnsPerBroker   int               `envconfig:"KAFKA_CONNS_PER_BROKER" default:"2" desc:"connections the writer keeps to each broker, 1 to 16; a partition always uses the same one and each carries one produce request at a time (a broker serves a connection's requests one by one), so a slow request holds up only the partitions behind it"`
	KafkaStallCheck       time.Duration     `envconfig:"KAFKA_STALL_CHECK" default:"500ms" desc:"while a produce waits, how often the writer checks whether the partition's leader moved (it then resends to the new leader)"`
	KafkaDialTimeout      time.Duration     `envconfig:"KAFKA_DIAL_TIMEOUT" default:"5s" desc:"bounds connecting to a broker"`
	KafkaHealthInterval   time.Duration     `envconfig:"KAFKA_HEALTH_INTERVAL" default:"10s" desc:"how often Kafka's reachability and the topics are checked (the webhook_bridge_kafka_up metric and the log; readiness does not depend on it); each check opens a connection to every broker, TLS and SASL included"`
	KafkaAdminTimeout     time.Duration     `envconfig:"KAFKA_ADMIN_TIMEOUT" default:"10s" desc:"bounds one admin request (topic creation and description, health checks)"`
	TopicMinInSync        int               `envconfig:"TOPIC_MIN_INSYNC_REPLICAS" default:"2" desc:"min.insync.replicas of each topic made by topics create: replicas that must hold a record before acks=all acknowledges it (capped at TOPIC_REPLICATION)"`
	ReadHeaderTimeout     time.Duration     `envconfig:"HTTP_READ_HEADER_TIMEOUT" default:"5s" desc:"time to read request headers (cuts off slow clients)"`
	ReadTimeout           time.Duration     `envconfig:"HTTP_READ_TIMEOUT" default:"15s" desc:"time to read a whole request"`
	WriteTimeout          time.Duration     `envconfig:"HTTP_WRITE_TIMEOUT" default:"30s" desc:"time to answer a request once its headers are read (above PUBLISH_TIMEOUT)"`
	IdleTimeout           time.Duration     `envconfig:"HTTP_IDLE_TIMEOUT" default:"120s" desc:"how long an idle keep-alive connection stays open"`
	MaxHeaderBytes        int               `envconfig:"HTTP_MAX_HEADER_BYTES" default:"65536" desc:"largest accepted request header block"`
	ShutdownGrace         time.Duration     `envconfig:"SHUTDOWN_GRACE" default:"5s" desc:"after SIGTERM, how long to keep accepting requests while readiness reports 503"`
	ShutdownTimeout       time.Duration     `envconfig:"SHUTDOWN_TIMEOUT" default:"25s" desc:"after SIGTERM, the most time until exit, grace included; at least SHUTDOWN_GRACE + PUBLISH_TIMEOUT + 2s, and below the orchestrator's kill timeout (terminationGracePeriodSeconds, stop_grace_period)"`
	LogLevel              string            `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogRequests           string            `envconfig:"LOG_REQUESTS" default:"errors" desc:"which requests get a log line: errors (answered 4xx or 5xx), all, or sample:N (the errors and one in N of the others). Every 4xx and 5xx is logged in every mode (401 and 429 sampled against floods); a 2xx is already recorded in Kafka, with its event-id header, and counted in the metrics"`
	PProf                 bool              `envconfig:"PPROF" default:"false" desc:"serve Go's profiler (net/http/pprof) under /debug/pprof/ on the admin port, for profiling under load; admin port only, never the webhook port: a profile shows code paths and memory contents, and profiling costs CPU while it runs"`
	DevKafkaAddr          string            `envconfig:"DEV_KAFKA_ADDR" default:"127.0.0.1:9092" desc:"dev only: address of the embedded in-memory broker"`
}

// loadConfig reads the environment.
func loadConfig() (Config, error) {
	var c Config
	if err := envconfig.Process(envPrefix, &c); err != nil {
		return c, fmt.Errorf("configuration: %w", hideSecretValue(err))
	}
	if _, err := zerolog.ParseLevel(strings.ToLower(c.LogLevel)); err != nil || c.LogLevel == "" {
		return c, fmt.Errorf("configuration: BRIDGE_LOG_LEVEL %q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch {
	case c.MaxInFlight <= 0 || c.DedupMaxEntries <= 0 || c.DedupTTL < 0:
		return c, fmt.Errorf("configuration: BRIDGE_MAX_INFLIGHT and BRIDGE_DEDUP_MAX_ENTRIES must be positive, BRIDGE_DEDUP_TTL not negative")
	case c.AdminAddr == "" || c.AdminAddr == c.HTTPAddr:
		return c, fmt.Errorf("configuration: BRIDGE_ADMIN_ADDR must be set and differ from BRIDGE_HTTP_ADDR (%q): the webhook port serves webhooks only", c.HTTPAddr)
	case c.HTTPMaxConns <= 0 || c.HTTPUnauthIdle < 0:
		return c, fmt.Errorf("configuration: BRIDGE_HTTP_MAX_CONNS must be positive and BRIDGE_HTTP_UNAUTHENTICATED_IDLE_TIMEOUT not negative")
	case c.MaxBodyBytes <= 0:
		return c, fmt.Errorf("configuration: BRIDGE_MAX_BODY_BYTES must be positive")
	case c.MaxInFlightBytes <= c.MaxBodyBytes:
		return c, fmt.Errorf("configuration: BRIDGE_MAX_INFLIGHT_BYTES must exceed BRIDGE_MAX_BODY_BYTES")
	case c.TopicPartitions <= 0 || c.TopicReplication <= 0 || c.TopicMinInSync <= 0:
		return c, fmt.Errorf("configuration: BRIDGE_TOPIC_PARTITIONS, BRIDGE_TOPIC_REPLICATION and BRIDGE_TOPIC_MIN_INSYNC_REPLICAS must be positive")
	case c.BatchSize <= 0 || c.KafkaWriteTimeout <= 0 || c.KafkaMetadataTimeout <= 0 || c.KafkaStallCheck <= 0 || c.KafkaDialTimeout <= 0 || c.KafkaAdminTimeout <= 0 || c.KafkaHealthInterval <= 0:
		return c, fmt.Errorf("configuration: BRIDGE_KAFKA_BATCH_SIZE and the BRIDGE_KAFKA_*_TIMEOUT and BRIDGE_KAFKA_STALL_CHECK durations must be positive")
	case c.KafkaConnsPerBroker < 1 || c.KafkaConnsPerBroker > 16:
		return c, fmt.Errorf("configuration: BRIDGE_KAFKA_CONNS_PER_BROKER must be 1 to 16, got %d", c.KafkaConnsPerBroker)
	case c.PublishTimeout <= 0 || c.PublishTimeout >= 30*time.Second:
		return c, fmt.Errorf("configuration: BRIDGE_PUBLISH_TIMEOUT must be above 0 and below the marketplace's 30s timeout, got %s", c.PublishTimeout)
	case c.WriteTimeout <= c.PublishTimeout:
		return c, fmt.Errorf("configuration: BRIDGE_HTTP_WRITE_TIMEOUT (%s) must exceed BRIDGE_PUBLISH_TIMEOUT (%s)", c.WriteTimeout, c.PublishTimeout)
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return c, fmt.Errorf("configuration: BRIDGE_TLS_CERT_FILE and BRIDGE_TLS_KEY_FILE go together; only one is set")
	case c.ShutdownGrace >= c.ShutdownTimeout:
		return c, fmt.Errorf("configuration: BRIDGE_SHUTDOWN_GRACE (%s) must be shorter than BRIDGE_SHUTDOWN_TIMEOUT (%s)", c.ShutdownGrace, c.ShutdownTimeout)
	case c.ShutdownTimeout < c.ShutdownGrace+c.PublishTimeout+shutdownMargin:
		return c, fmt.Errorf("configuration: BRIDGE_SHUTDOWN_TIMEOUT (%s) must be at least BRIDGE_SHUTDOWN_GRACE + BRIDGE_PUBLISH_TIMEOUT + %s (%s): a webhook accepted at the end of the grace period may wait BRIDGE_PUBLISH_TIMEOUT for Kafka, and then its answer, the writer's close and the last spans need time too",
			c.ShutdownTimeout, shutdownMargin, c.ShutdownGrace+c.PublishTimeout+shutdownMargin)
	}
	if _, err := c.trustedProxies(); err != nil {
		return c, err
	}
	if _, err := bridge.ParseRequestLog(c.LogRequests); err != nil {
		return c, fmt.Errorf("configuration: BRIDGE_LOG_REQUESTS: %w", err)
	}
	return c, nil
}

// trustedProxies parses BRIDGE_TRUSTED_PROXIES: an IP stands for itself.
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range c.TrustedProxies {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("configuration: BRIDGE_TRUSTED_PROXIES: %s is not an IP address or CIDR", topics.Quote(v))
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// hideSecretValue rewrites envconfig's error for a secret variable, which
// would quote the value (and the offending item), into one that names the
// variable and the expected form only.
func hideSecretValue(err error) error {
	var pe *envconfig.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	f, ok := reflect.TypeFor[Config]().FieldByName(pe.FieldName)
	if !ok || f.Tag.Get("secret") != "true" {
		return err
	}
	form := "a value of type " + pe.TypeName
	if f.Type.Kind() == reflect.Map {
		form = "comma-separated name:secret pairs, where neither part contains ',' or ':'"
	}
	return fmt.Errorf("%s is not %s (the value is secret and not shown)", pe.KeyName, form)
}

// kafka returns the Kafka connection settings, checked.
func (c Config) kafka() (kafka.Config, error) {
	kc := kafka.Config{
		Brokers: c.KafkaBrokers, TLS: c.KafkaTLS, TLSCAFile: c.KafkaTLSCAFile,
		TLSCertFile: c.KafkaTLSCertFile, TLSKeyFile: c.KafkaTLSKeyFile,
		SASLMechanism: c.KafkaSASL, SASLUsername: c.KafkaSASLUser, SASLPassword: c.KafkaSASLPassword,
		DialTimeout: c.KafkaDialTimeout,
	}
	if len(kc.Brokers) == 0 {
		return kc, fmt.Errorf("BRIDGE_KAFKA_BROKERS is not set: name the Kafka brokers, e.g. BRIDGE_KAFKA_BROKERS=127.0.0.1:9092 (or run `webhook-bridge dev` for an in-memory broker)")
	}
	if err := kc.Validate(); err != nil {
		return kc, fmt.Errorf("configuration: %w", err)
	}
	if !kc.TLS && (kc.TLSCAFile != "" || kc.TLSCertFile != "" || kc.TLSKeyFile != "") {
		return kc, fmt.Errorf("configuration: BRIDGE_KAFKA_TLS_CA_FILE, _CERT_FILE or _KEY_FILE is set but BRIDGE_KAFKA_TLS is false: set BRIDGE_KAFKA_TLS=true, or unset the files to connect in plain text")
	}
	if kc.SASLMechanism != "" && (kc.SASLUsername == "" || kc.SASLPassword == "") {
		return kc, fmt.Errorf("configuration: BRIDGE_KAFKA_SASL_MECHANISM needs BRIDGE_KAFKA_SASL_USERNAME and BRIDGE_KAFKA_SASL_PASSWORD")
	}
	return kc, nil
}

func (c Config) naming() topics.Naming {
	return topics.Naming{Prefix: c.TopicPrefix, Internal: c.InternalTopicPrefix}
}

func (c Config) writer(kc kafka.Config) kafka.WriterConfig {
	return kafka.WriterConfig{
		Kafka: kc, BatchSize: c.BatchSize, MaxRecordBytes: c.maxRecordBytes(),
		WriteTimeout: c.KafkaWriteTimeout, MetadataTimeout: c.KafkaMetadataTimeout, StallCheck: c.KafkaStallCheck,
		ConnsPerBroker: c.KafkaConnsPerBroker, Topics: c.naming().All(),
	}
}

// recordOverheadBytes is room for the CloudEvents attributes and the headers
// around the largest accepted body.
const recordOverheadBytes = 64 << 10

// maxRecordBytes is the largest record: the largest body and its overhead.
func (c Config) maxRecordBytes() int64 { return c.MaxBodyBytes + recordOverheadBytes }

func (c Config) topicSpec() kafka.TopicSpec {
	return kafka.TopicSpec{Partitions: c.TopicPartitions, ReplicationFactor: c.TopicReplication,
		MinInSyncReplicas: min(c.TopicMinInSync, c.TopicReplication), MaxMessageBytes: c.maxRecordBytes()}
}

// Shortest secrets serve accepts (dev is exempt): guessing a random secret
// of 32 bytes is out of reach at any rate, and a password of 16 characters
// out of reach at the rate the failure throttle allows.
const (
	minSecretBytes    = 32
	minPasswordLength = 16
)

// checkSecretStrength refuses secrets too short to withstand guessing. Its
// errors name the variable, and the client or user, never the value.
func (c Config) checkSecretStrength() error {
	hint := fmt.Sprintf("use a random value of at least %d bytes, e.g. `openssl rand -hex 32`", minSecretBytes)
	for _, t := range c.AuthTokens {
		if len(t) < minSecretBytes {
			return fmt.Errorf("configuration: BRIDGE_AUTH_TOKENS has a token shorter than %d bytes; %s", minSecretBytes, hint)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.OAuthClients)) {
		if len(c.OAuthClients[id]) < minSecretBytes {
			return fmt.Errorf("configuration: BRIDGE_OAUTH_CLIENTS: the secret of client %s is shorter than %d bytes; %s", topics.Quote(id), minSecretBytes, hint)
		}
	}
	for _, u := range slices.Sorted(maps.Keys(c.OAuthUsers)) {
		if utf8.RuneCountInString(c.OAuthUsers[u]) < minPasswordLength {
			return fmt.Errorf("configuration: BRIDGE_OAUTH_USERS: the password of user %s is shorter than %d characters", topics.Quote(u), minPasswordLength)
		}
	}
	for _, k := range c.OAuthSigningKeys {
		if len(k) < bridge.MinSigningKeyBytes {
			return fmt.Errorf("configuration: BRIDGE_OAUTH_SIGNING_KEYS has a key shorter than %d bytes; %s", bridge.MinSigningKeyBytes, hint)
		}
	}
	return nil
}

// auth builds delivery authentication; nil means none. Errors name the
// variable to set.
func (c Config) auth() (*bridge.Auth, error) {
	modes := strings.Split(strings.ReplaceAll(c.AuthMode, " ", ""), ",")
	for _, m := range modes {
		switch {
		case m == bridge.ModeToken && len(c.AuthTokens) == 0:
			return nil, fmt.Errorf("configuration: BRIDGE_AUTH_MODE=%s needs BRIDGE_AUTH_TOKENS (the token set in the marketplace's webhook settings)", c.AuthMode)
		case m == bridge.ModeOAuth2 && len(c.OAuthClients) == 0:
			return nil, fmt.Errorf("configuration: BRIDGE_AUTH_MODE=%s needs BRIDGE_OAUTH_CLIENTS (id:secret pairs)", c.AuthMode)
		case m == bridge.ModeOAuth2 && len(c.OAuthSigningKeys) == 0:
			return nil, fmt.Errorf("configuration: BRIDGE_AUTH_MODE=%s needs BRIDGE_OAUTH_SIGNING_KEYS (at least %d bytes each)", c.AuthMode, bridge.MinSigningKeyBytes)
		}
	}
	// The Kubernetes Secret template ships REPLACE_ME placeholders: applied
	// unchanged, they must not become working credentials.
	secrets := append(append([]string{}, c.AuthTokens...), c.OAuthSigningKeys...)
	for _, v := range c.OAuthClients {
		secrets = append(secrets, v)
	}
	for _, v := range c.OAuthUsers {
		secrets = append(secrets, v)
	}
	for _, v := range secrets {
		if strings.Contains(strings.ToUpper(v), "REPLACE_ME") {
			return nil, fmt.Errorf("configuration: a credential is still the template placeholder REPLACE_ME; set real secrets")
		}
	}
	a, err := bridge.NewAuth(bridge.AuthConfig{
		Modes: modes, Tokens: c.AuthTokens, Clients: c.OAuthClients, Users: c.OAuthUsers,
		SigningKeys: c.OAuthSigningKeys, TokenTTL: c.OAuthTokenTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("configuration: BRIDGE_AUTH_MODE=%s: %w", c.AuthMode, err)
	}
	return a, nil
}

// serverOptions are the bridge's options; loadConfig has checked them.
func (c Config) serverOptions() bridge.Options {
	proxies, _ := c.trustedProxies()
	logRequests, _ := bridge.ParseRequestLog(c.LogRequests)
	return bridge.Options{
		LogRequests: logRequests,
		Naming:      c.naming(), MaxBodyBytes: c.MaxBodyBytes, PublishTimeout: c.PublishTimeout, RetryAfter: c.RetryAfter,
		AuthFailuresPerSecond: c.AuthFailuresPerSecond, AuthFailureBurst: c.AuthFailureBurst,
		MaxInFlightBytes: c.MaxInFlightBytes, MaxRecordBytes: c.maxRecordBytes(),
		MaxInFlight: c.MaxInFlight, DedupTTL: c.DedupTTL, DedupMaxEntries: c.DedupMaxEntries,
		TrustedProxies: proxies,
	}
}

// printEnv writes the table of environment variables with their defaults.
func printEnv(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tTYPE\tDEFAULT\tDESCRIPTION")
	_ = envconfig.Usagef(envPrefix, &Config{}, tw,
		"{{range .}}{{usage_key .}}\t{{usage_type .}}\t{{usage_default .}}\t{{usage_description .}}\n{{end}}")
	tw.Flush()
	printTracingEnv(w)
}

// defaultOf is the default of a Config field, from its tag.
func defaultOf(field string) string {
	f, _ := reflect.TypeFor[Config]().FieldByName(field)
	return f.Tag.Get("default")
}
