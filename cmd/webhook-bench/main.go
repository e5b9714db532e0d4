// Command webhook-bench measures webhook-bridge against a Kafka broker and
// compares it with writing the same records to Kafka directly.
//
// The bridge under test is the real service: the bench builds
// cmd/webhook-bridge (go build, or takes -bridge-bin), creates a unique
// topic prefix's topics with `webhook-bridge topics create` (replication 1,
// -partitions each; the company index compacted, as serve expects), and
// starts `webhook-bridge serve` as a child process configured, as in
// production, by BRIDGE_* variables only: the brokers, the prefix, token
// authentication with a token of 32 random bytes, 127.0.0.1 on a free port,
// -batch-size, -publish-timeout and -max-inflight, and
// serve's defaults for everything else (the company index, dedup, the
// request log, BRIDGE_LOG_REQUESTS=errors unless -log-requests says
// otherwise, which goes to -bridge-log). Load starts once its /readyz answers 200; its RSS and CPU
// are read from /proc/<pid>, so they are its own. With -url the bench
// drives a bridge running elsewhere instead (-pid to measure it, -token to
// authenticate, -prefix and -internal-prefix for its topics).
//
// Bodies are generated from the bridge's samples (-samples, one per
// resource and action) with fresh ids, -companies different companies and
// content padded to -body-bytes; or are the *.json files of -bodies. For
// each load level the bench then runs:
//
//   - baseline: a producer straight to Kafka, one synchronous write per
//     event of the records the bridge writes for it: the event record
//     topics.Normalize makes of the body, and its company-index record
//     (below). With -baseline kafka-go (the default) the producer is
//     kafka-go's Writer (acks=all, murmur2, -batch-size,
//     -baseline-batch-timeout); with -baseline writer it is the bridge's own
//     writer alone (topics/kafka: acks=all, murmur2, -batch-size, no batch
//     timer), which shows what the HTTP side adds. This is what a client and
//     the broker allow on this machine.
//   - bridge: the same bodies POSTed to the bridge.
//
// The company index: serve publishes, with each event, a mapping of its
// entity (resource uuid) to its company while its index does not hold it,
// and a tombstone with every REMOVED event; and it keys an event that names
// no company (REMOVED events carry no content) by the company its index
// learned for the entity. To keep the expected record of every request
// independent of the order concurrent requests arrive in, every generated
// body (variant) has UUIDs of its own, so no event that would be keyed
// through the index shares its entity with one that teaches the index:
// REMOVED events find nothing and are keyed as topics.Normalize keys them
// without an index. The bench checks this, and refuses -bodies that break
// it. A variant is sent many times (each with its own event id), so its
// mapping is written once and then known, as for CHANGED events of a known
// entity.
//
// The load generator keeps one HTTP/1.1 keep-alive connection per worker.
// Its default client (-client raw) writes each request with one write and
// reads only the status line and Content-Length: it costs a quarter of the
// CPU of net/http's client (-client nethttp), CPU that on a small machine
// the bridge would otherwise not get.
//
// -concurrency levels are closed loops (each worker sends its next request
// when the previous one is answered); -rate levels are open loops on a
// fixed schedule, where latency counts from when each request was due, so a
// stall is not hidden by the requests it delayed (no coordinated omission).
// Both lists may be given: the closed levels run first. -warmup is sent and
// verified but not measured. After the load levels, -single requests are
// sent one at a time, -single-gap apart, to an otherwise idle bridge (and,
// with a baseline, written one at a time by the baseline's producer first).
//
// Every phase is verified: each topic is read back from the offsets before
// the phase to those after it, and every event answered 2xx must be there
// exactly once, in the partition murmur2 gives its key, byte for byte the
// record the bridge must write; nothing may be there twice, or without
// having been sent. Events answered with an error may be there once (at
// least once delivery). Company-index records are the events' side
// effects: each must be one the variants imply (right value, right
// partition), every acknowledged REMOVED event must have its tombstone, and
// every acknowledged event that named its company its entity's mapping
// (written in this phase or an earlier one). Any failure makes the exit
// status 1.
//
// The table shows, per phase, requests/s, latency percentiles, errors by
// status, CPU µs per request and peak RSS of the measured process (the
// bridge's alone; for the baseline the bench's own: load generator and
// kafka-go writer), all over the measured window, the machine's CPU use,
// and then per load level the bridge against the baseline: throughput,
// their ratio, CPU per request of each, the bridge's peak RSS. -json prints
// the same as JSON. -every prints RSS, goroutines and heap periodically
// (soaks). For each bridge phase the notes give the bridge's heap
// allocations per request and its garbage collections over the window (from
// its /metrics). -cpuprofile and -memprofile write the bridge process's CPU
// profile and a delta profile of its allocations over each bridge phase's
// measured window (the bench then starts it with BRIDGE_PPROF=true);
// profiling costs the bridge a little CPU, so take the CPU figures from a
// run without it.
//
// -mode floor measures what serving HTTP alone costs here, with no Kafka:
// the same load levels, bodies and client against two servers that read
// each request and answer a 202 of the bridge's size, and do nothing else,
// each started as its own process (this executable again) so that its CPU
// is read from /proc like the bridge's: floor-nethttp (net/http with
// serve's timeouts and header limit) and floor-raw (a goroutine per
// connection, one buffered reader, one write per answer). A bridge's CPU
// per request is best read against floor-nethttp at the same request rate
// (-rate): per request, a server does more work when requests come
// further apart (a wake-up each).
//
// The speed line says how fast the machine was: at the start and the end
// of the run the bench hashes with SHA-256 and makes 1 KiB round trips over
// a loopback TCP connection, -speed each (0: not measured). On a VM the
// same build's CPU per request can move by a factor of two from one
// quarter of an hour to the next; runs are comparable when their speed
// lines are.
//
// Usage, from the repository root:
//
//	eval "$(deploy/local/kafka.sh env)"
//	go run ./cmd/webhook-bench -concurrency 64 -duration 10s -warmup 2s -single 50
//	go run ./cmd/webhook-bench -concurrency 1,4,16,64,256 -rate 500,2000 -duration 20s
//	go run ./cmd/webhook-bench -rate 2000 -duration 60s -bridge-log /tmp/bridge.log
//	go run ./cmd/webhook-bench -mode bridge -concurrency 64 -duration 20s -cpuprofile /tmp/cpu.pprof -memprofile /tmp/mem.pprof
//	go run ./cmd/webhook-bench -mode single -single 200
//	go run ./cmd/webhook-bench -mode floor -concurrency 1,4,16,64,256 -rate 500,2000,7000 -duration 10s
//	go run ./cmd/webhook-bench -mode bridge -rate 2000 -duration 10m -every 30s   # soak
//	go run ./cmd/webhook-bench -mode bridge -url http://host:8080/webhooks -token T -prefix appdirect. -pid 1234
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
)

func main() {
	if kind := os.Getenv(floorEnv); kind != "" {
		// Re-executed by -mode floor as one of its servers.
		if err := serveFloor(kind, os.Getenv(floorAddrEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "webhook-bench floor server:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "webhook-bench:", err)
		os.Exit(1)
	}
}

// config is every flag.
type config struct {
	brokers        []string
	mode           string
	duration       time.Duration
	warmup         time.Duration
	concurrency    []int // closed-loop levels
	closed         bool  // run the closed-loop levels
	rates          []float64
	rateInFlight   int
	partitions     int
	url            string
	token          string
	adminURL       string
	prefix         string
	internal       string
	pid            int
	brokerPID      int
	single         int
	singleGap      time.Duration
	every          time.Duration
	jsonOut        bool
	batchSize      int
	connsPerBroker int
	publishTO      time.Duration
	maxInFlight    int
	cooldown       time.Duration
	bodies         bodyOptions
	keep           bool
	speed          time.Duration
	bridgeBin      string
	bridgeLog      string
	gogc           int
	gomaxprocs     int
	logRequests    string
	client         string
	baseline       string        // kafka-go or writer
	baselineBatch  time.Duration // kafka-go's BatchTimeout
	profiles       profiles
}

const usageText = `webhook-bench measures webhook-bridge (the real ` + "`webhook-bridge serve`" + `, started
as a child process) against Kafka and compares it with writing the same
records to Kafka directly. See the package documentation
(go doc ./cmd/webhook-bench) for what each phase does.

Usage:
  webhook-bench [flags]

Examples (from the repository root):
  eval "$(deploy/local/kafka.sh env)"
  webhook-bench -concurrency 64 -duration 10s -warmup 2s -single 50    # what CI runs
  webhook-bench -concurrency 1,4,16,64,256 -rate 500,2000 -duration 20s  # closed and open loop levels
  webhook-bench -mode single -single 200                      # one request at a time, idle bridge
  webhook-bench -mode floor -concurrency 64 -rate 7000        # HTTP alone: no Kafka, no bridge
  webhook-bench -mode bridge -rate 2000 -duration 10m -every 30s   # soak: RSS over time

Flags:
`

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("webhook-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	brokers := fs.String("brokers", "", "Kafka bootstrap brokers, comma-separated (default: $BRIDGE_TEST_KAFKA_BROKERS, else $BRIDGE_KAFKA_BROKERS, else 127.0.0.1:9092)")
	fs.StringVar(&c.mode, "mode", "both", "phases to run: baseline, bridge, both, single (only the idle single-request phase), or floor (no Kafka: the load levels against two servers that only read each request and answer 202, net/http's and a minimal one, each its own process: what HTTP alone costs here)")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "measured time of each load level")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "time sent (and verified) before each load level is measured")
	conc := fs.String("concurrency", "64", "closed-loop levels: workers, one request in flight each, comma-separated (e.g. 1,4,16,64,256); with -rate, run only when given")
	rates := fs.String("rate", "", "open-loop levels: requests per second on a fixed schedule, comma-separated (e.g. 500,2000)")
	fs.IntVar(&c.rateInFlight, "rate-inflight", 512, "open loop: most requests in flight at once")
	fs.IntVar(&c.partitions, "partitions", 6, "partitions of each topic the run creates (BRIDGE_TOPIC_PARTITIONS)")
	fs.StringVar(&c.url, "url", "", "POST to this running bridge (e.g. http://127.0.0.1:8080/webhooks) instead of starting one")
	fs.StringVar(&c.adminURL, "admin-url", "http://127.0.0.1:9090", "with -url: the bridge's admin port, for /readyz and /metrics")
	fs.StringVar(&c.token, "token", "", "X-AppDirect-Webhook-Token to send (default: 32 random bytes, hex, which the started bridge accepts)")
	fs.StringVar(&c.prefix, "prefix", "", "topic prefix (default: bench-<random>. for a started bridge, appdirect. with -url)")
	fs.StringVar(&c.internal, "internal-prefix", "", "prefix of the quarantine and company-index topics (default: bench-<random>-internal. for a started bridge, webhook-bridge. with -url)")
	fs.IntVar(&c.pid, "pid", 0, "with -url: process id of the bridge, to report its RSS and CPU")
	fs.IntVar(&c.brokerPID, "broker-pid", 0, "process id of the Kafka broker, to report its CPU per phase (deploy/local/kafka.sh status prints it)")
	fs.StringVar(&c.bridgeBin, "bridge-bin", "", "webhook-bridge binary to run (default: go build ./cmd/webhook-bridge of the repository around the working directory)")
	fs.IntVar(&c.single, "single", 200, "requests sent one at a time to the idle bridge after the load levels, and written one at a time by the baseline before them (0: none)")
	fs.DurationVar(&c.singleGap, "single-gap", 10*time.Millisecond, "pause between the single requests")
	fs.DurationVar(&c.every, "every", 0, "print RSS, goroutines and heap this often during load phases (soak), e.g. 30s")
	fs.BoolVar(&c.jsonOut, "json", false, "print the results as JSON instead of a table")
	fs.IntVar(&c.batchSize, "batch-size", 100, "writer: most records per batch (BRIDGE_KAFKA_BATCH_SIZE)")
	fs.IntVar(&c.connsPerBroker, "conns-per-broker", 0, "bridge: connections to each broker (BRIDGE_KAFKA_CONNS_PER_BROKER); 0 keeps serve's default")
	fs.DurationVar(&c.publishTO, "publish-timeout", 10*time.Second, "wait for acks=all before a 503 (BRIDGE_PUBLISH_TIMEOUT); the baseline's Publish timeout too")
	fs.IntVar(&c.maxInFlight, "max-inflight", 1000, "bridge: most requests served at once (BRIDGE_MAX_INFLIGHT)")
	fs.DurationVar(&c.cooldown, "cooldown", 2*time.Second, "pause between phases")
	fs.IntVar(&c.bodies.Variants, "variants", 4096, "different bodies generated (each request gets its own event id)")
	fs.IntVar(&c.bodies.Companies, "companies", 5000, "different company ids the bodies name")
	sizes := fs.String("body-bytes", "1024-2048", "bodies with content are padded to a size in this range (REMOVED events have none and stay ~300 bytes)")
	fs.StringVar(&c.bodies.Samples, "samples", "bridge/testdata/samples", "the bridge's sample bodies the generated ones are made from (relative: to the repository root)")
	fs.StringVar(&c.bodies.Dir, "bodies", "", "send the *.json webhook bodies of this directory (their event uuids are replaced) instead of generated ones")
	fs.Uint64Var(&c.bodies.Seed, "seed", 0, "seed of the generated bodies (0: random)")
	fs.DurationVar(&c.speed, "speed", 300*time.Millisecond, "how long each of the machine's speed loops runs at the start and the end of the run (sha256, loopback TCP round trips; see the speed line); 0: not measured")
	fs.BoolVar(&c.keep, "keep", false, "keep the topics the run created (default: delete them at the end)")
	fs.StringVar(&c.bridgeLog, "bridge-log", os.DevNull, "where the started bridge's log goes (one line per request, as in production): a file (appended to), - for stderr; empty: "+os.DevNull)
	fs.IntVar(&c.gogc, "gogc", 0, "GOGC of the started bridge (0: inherited)")
	fs.IntVar(&c.gomaxprocs, "gomaxprocs", 0, "GOMAXPROCS of the started bridge (0: inherited, else the Go runtime's choice: the CPUs, or a container's CPU limit)")
	fs.StringVar(&c.logRequests, "log-requests", "", "BRIDGE_LOG_REQUESTS of the started bridge: all, errors or sample:N (default: serve's, errors)")
	fs.StringVar(&c.baseline, "baseline", "kafka-go", "the baseline's producer: kafka-go (kafka-go's Writer: acks=all, murmur2, -batch-size, -baseline-batch-timeout) or writer (the bridge's own topics/kafka writer, alone)")
	fs.DurationVar(&c.baselineBatch, "baseline-batch-timeout", time.Millisecond, "-baseline kafka-go: its BatchTimeout, how long a partition's batch waits for more records")
	fs.StringVar(&c.client, "client", "raw", "HTTP client of the load generator, one keep-alive connection per worker: raw (minimal HTTP/1.1, about 20 µs of CPU a request) or nethttp (net/http's Transport, about 70 µs: CPU the bridge loses when they share cores)")
	fs.StringVar(&c.profiles.cpu, "cpuprofile", "", "write the bridge process's CPU profile over each bridge load phase's measured window to this file (with several phases: the load goes before the extension, e.g. cpu-c64.pprof); the started bridge serves pprof on its admin port (BRIDGE_PPROF=true), with -url it must")
	fs.StringVar(&c.profiles.mem, "memprofile", "", "like -cpuprofile, for the bridge's allocations over the window (a delta allocs profile: go tool pprof -sample_index=alloc_objects)")
	fs.Bool("spawn", false, "ignored: the bridge always runs as its own process")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q (try -help)", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *brokers == "" {
		*brokers = defaultBrokers()
	}
	c.brokers = splitList(*brokers)
	if len(c.brokers) == 0 {
		return c, errors.New("-brokers is empty")
	}
	var err error
	if c.concurrency, err = parseInts(*conc); err != nil {
		return c, fmt.Errorf("-concurrency: %w", err)
	}
	for _, r := range splitList(*rates) {
		v, err := strconv.ParseFloat(r, 64)
		if err != nil || v <= 0 {
			return c, fmt.Errorf("-rate %q is not a positive number", r)
		}
		c.rates = append(c.rates, v)
	}
	c.closed = len(c.rates) == 0 || set["concurrency"]
	lo, hi, ok := strings.Cut(*sizes, "-")
	if c.bodies.MinBytes, err = strconv.Atoi(lo); err != nil || !ok {
		return c, fmt.Errorf("-body-bytes %q is not MIN-MAX", *sizes)
	}
	if c.bodies.MaxBytes, err = strconv.Atoi(hi); err != nil || c.bodies.MaxBytes < c.bodies.MinBytes {
		return c, fmt.Errorf("-body-bytes %q is not MIN-MAX", *sizes)
	}
	switch c.mode {
	case "baseline", "bridge", "both", "single", "floor":
	default:
		return c, fmt.Errorf("-mode %q is not baseline, bridge, both, single or floor", c.mode)
	}
	if c.baseline != "kafka-go" && c.baseline != "writer" {
		return c, fmt.Errorf("-baseline %q is not kafka-go or writer", c.baseline)
	}
	if c.client != "nethttp" && c.client != "raw" {
		return c, fmt.Errorf("-client %q is not nethttp or raw", c.client)
	}
	switch {
	case c.pid != 0 && c.url == "":
		return c, errors.New("-pid needs -url (a started bridge is measured on its own)")
	case c.bridgeBin != "" && c.url != "":
		return c, errors.New("-bridge-bin and -url exclude each other")
	case c.gogc != 0 && c.url != "":
		return c, errors.New("-gogc needs a started bridge, not -url")
	case c.gomaxprocs < 0:
		return c, errors.New("-gomaxprocs must be 0 (inherited) or more")
	case c.speed < 0:
		return c, errors.New("-speed must be 0 (not measured) or more")
	case c.gomaxprocs != 0 && c.url != "":
		return c, errors.New("-gomaxprocs needs a started bridge, not -url")
	case c.logRequests != "" && c.url != "":
		return c, errors.New("-log-requests needs a started bridge, not -url")
	case c.mode == "floor" && c.url != "":
		return c, errors.New("-mode floor starts its own servers: no -url")
	case c.url == "" && strings.ContainsAny(c.token, ", \t"):
		return c, errors.New("-token for the started bridge may not hold commas or spaces")
	case c.profiles.on() && c.mode != "bridge" && c.mode != "both":
		return c, errors.New("-cpuprofile and -memprofile profile the bridge's load phases: -mode bridge or both")
	case c.bodies.Variants <= 0 || c.partitions <= 0 || c.duration <= 0 || c.warmup < 0 || c.rateInFlight <= 0:
		return c, errors.New("-variants, -partitions, -duration and -rate-inflight must be positive, -warmup not negative")
	}
	return c, nil
}

func defaultBrokers() string {
	for _, k := range []string{"BRIDGE_TEST_KAFKA_BROKERS", "BRIDGE_KAFKA_BROKERS"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return "127.0.0.1:9092"
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}

// loads are the load levels of c: the closed loops, then the open ones.
func (c config) loads() []loadSpec {
	var out []loadSpec
	if c.closed {
		for _, n := range c.concurrency {
			out = append(out, loadSpec{concurrency: n, warmup: c.warmup, duration: c.duration, every: c.every})
		}
	}
	for _, r := range c.rates {
		out = append(out, loadSpec{concurrency: c.rateInFlight, rate: r, warmup: c.warmup, duration: c.duration, every: c.every})
	}
	return out
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	runID := randomHex(8)
	naming := topics.Naming{Prefix: c.prefix, Internal: c.internal}
	if naming.Prefix == "" {
		naming.Prefix = "bench-" + runID + "."
		if c.url != "" {
			naming.Prefix = "appdirect."
		}
	}
	if naming.Internal == "" {
		naming.Internal = "bench-" + runID + "-internal."
		if c.url != "" {
			naming.Internal = "webhook-bridge."
		}
	}
	token := c.token
	if token == "" && c.url == "" {
		token = randomHex(64) // 32 random bytes
	}
	if c.bodies.Dir == "" {
		dir, err := inRepo(c.bodies.Samples)
		if err != nil {
			return fmt.Errorf("-samples %s: the bridge's sample bodies are not there (%w): run from the repository root or give -samples DIR", c.bodies.Samples, err)
		}
		c.bodies.Samples = dir
	}
	if c.mode == "floor" {
		return runFloorMode(ctx, c, naming, runID, progress, stdout, stderr)
	}
	so := serveOptions{
		brokers: c.brokers, naming: naming, partitions: c.partitions, token: token,
		batchSize: c.batchSize, publishTimeout: c.publishTO, connsPerBroker: c.connsPerBroker,
		maxInFlight: c.maxInFlight, gogc: c.gogc, gomaxprocs: c.gomaxprocs, pprof: c.profiles.on(), logRequests: c.logRequests,
	}

	// Topics: the run's own, made by the bridge itself, unless it targets a
	// running bridge's.
	kc := kafka.Config{Brokers: c.brokers, DialTimeout: 5 * time.Second}
	names := naming.All()
	admin, err := kafka.NewAdmin(kc, 30*time.Second)
	if err != nil {
		return err
	}
	defer admin.Close()
	client := &kafkago.Client{Addr: kafkago.TCP(c.brokers...), Timeout: 30 * time.Second}
	bin, created := c.bridgeBin, false
	if c.url == "" {
		if bin == "" {
			tmp, err := os.MkdirTemp("", "webhook-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			progress("building ./cmd/webhook-bridge")
			if bin, err = buildBridge(ctx, tmp); err != nil {
				return err
			}
		}
		progress("creating %d topics %s* with %d partitions on %s (webhook-bridge topics create)", len(names), naming.Prefix, c.partitions, strings.Join(c.brokers, ","))
		cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		err := createTopics(cctx, bin, so)
		cancel()
		if err != nil {
			return err
		}
		created = true
		defer func() {
			if c.keep {
				progress("kept topics %s*", naming.Prefix)
				return
			}
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := client.DeleteTopics(dctx, &kafkago.DeleteTopicsRequest{Topics: names}); err != nil {
				progress("deleting topics %s*: %v", naming.Prefix, err)
			}
		}()
	}
	partitions, err := waitReady(ctx, admin, client, names)
	if err != nil {
		return err
	}
	if created {
		for t, n := range partitions {
			if n != c.partitions {
				return fmt.Errorf("topic %s has %d partitions, not %d", t, n, c.partitions)
			}
		}
	}
	vs, err := makeVariants(c.bodies, naming, partitions)
	if err != nil {
		return err
	}

	rep := report{
		Started: time.Now().UTC(), Brokers: c.brokers, Prefix: naming.Prefix, Partitions: c.partitions,
		Bodies: describeBodies(c.bodies, vs),
		Writer: baselineString(c),
		Machine: fmt.Sprintf("%d CPUs (GOMAXPROCS %d%s), %s, GOGC=%s, load average %s at start",
			runtime.NumCPU(), runtime.GOMAXPROCS(0), bridgeProcs(c.gomaxprocs), runtime.Version(), gogcString(c.gogc), loadAvg()),
		Ratios: map[string]float64{},
	}
	if c.speed > 0 {
		sp, err := measureSpeed(c.speed)
		if err != nil {
			return fmt.Errorf("measuring the machine's speed: %w", err)
		}
		rep.SpeedStart = &sp
	}

	// The bridge under test.
	var br *runningBridge
	if c.mode != "baseline" {
		if c.url != "" {
			br = &runningBridge{url: c.url, base: c.adminURL, pid: c.pid}
			rep.Bridge = "running at " + c.url
		} else {
			progress("starting webhook-bridge serve (log: %s)", c.bridgeLog)
			if br, err = startServe(ctx, bin, so, c.bridgeLog); err != nil {
				return err
			}
			logMode := c.logRequests
			if logMode == "" {
				logMode = "serve's default"
			}
			rep.Bridge = fmt.Sprintf("webhook-bridge serve, process %d, company index and dedup on, token auth, request log (%s) to %s: RSS and CPU are its own", br.pid, logMode, c.bridgeLog)
		}
		defer func() {
			if err := br.close(); err != nil {
				progress("stopping the bridge: %v", err)
			}
		}()
	}
	var baseline *kafkaTarget
	if c.mode == "baseline" || c.mode == "both" {
		var p producer
		if c.baseline == "writer" {
			w, err := kafka.NewWriter(kafka.WriterConfig{
				Kafka: kc, BatchSize: c.batchSize, MaxRecordBytes: maxRecordBytes,
				WriteTimeout: c.publishTO, MetadataTimeout: 2 * time.Second, StallCheck: 500 * time.Millisecond, Topics: naming.All(),
				ConnsPerBroker: c.connsPerBroker, // 0: the writer's default, serve's too
			}, zerolog.New(stderr).Level(zerolog.WarnLevel))
			if err != nil {
				return err
			}
			p = bridgeWriter{w}
		} else {
			p = kafkaGoWriter{&kafkago.Writer{
				Addr: kafkago.TCP(c.brokers...), Balancer: &kafkago.Murmur2Balancer{},
				RequiredAcks: kafkago.RequireAll, BatchSize: c.batchSize, BatchBytes: maxRecordBytes,
				BatchTimeout: c.baselineBatch, ReadTimeout: c.publishTO, WriteTimeout: c.publishTO,
				Transport: &kafkago.Transport{DialTimeout: 5 * time.Second, ClientID: "webhook-bench"},
			}}
		}
		defer p.Close()
		baseline = newKafkaTarget(p, c.publishTO)
	}
	loads := c.loads()
	var web target
	if br != nil {
		if c.client == "raw" {
			if web, err = newRawTarget(br.url, token); err != nil {
				return err
			}
		} else {
			conns := 1
			for _, l := range loads {
				conns = max(conns, l.concurrency)
			}
			h := newHTTPTarget(br.url, token, conns+8)
			defer h.close()
			web = h
		}
	}

	c.profiles.many = len(loads) > 1
	ph := &phaser{
		c: c, client: client, partitions: partitions, vs: vs, runID: runID, br: br, progress: progress, stderr: stderr,
		index: newIndexCheck(naming.Index(), partitions[naming.Index()], vs, created),
	}
	if c.mode != "single" {
		for _, l := range loads {
			var base, brg *result
			if baseline != nil {
				r, err := ph.run(ctx, "baseline", l, baseline)
				if err != nil {
					return err
				}
				rep.Results = append(rep.Results, r)
				base = &rep.Results[len(rep.Results)-1]
			}
			if web != nil {
				r, err := ph.run(ctx, "bridge", l, web)
				if err != nil {
					return err
				}
				rep.Results = append(rep.Results, r)
				brg = &rep.Results[len(rep.Results)-1]
			}
			if base != nil && brg != nil {
				lv := compare(l.String(), *brg, *base)
				rep.Levels = append(rep.Levels, lv)
				if base.PerSecond > 0 {
					rep.Ratios[l.String()] = lv.Ratio
				}
			}
		}
	}
	if baseline != nil && c.single > 0 && c.mode != "single" {
		r, err := ph.runSingle(ctx, "baseline", baseline)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, r)
	}
	if web != nil && c.single > 0 {
		r, err := ph.runSingle(ctx, "single", web)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, r)
	}
	return finishReport(rep, c, stdout)
}

// finishReport measures the machine's speed again, then prints the report;
// it returns errVerify unless every phase was verified.
func finishReport(rep report, c config, stdout io.Writer) error {
	if c.speed > 0 {
		sp, err := measureSpeed(c.speed)
		if err != nil {
			return fmt.Errorf("measuring the machine's speed: %w", err)
		}
		rep.SpeedEnd = &sp
	}
	rep.OK = true
	for _, r := range rep.Results {
		rep.OK = rep.OK && r.Verify.OK
	}
	if c.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printTable(stdout, rep)
	}
	if !rep.OK {
		return errVerify
	}
	return nil
}

// baselineString describes the baseline's producer and the HTTP client.
func baselineString(c config) string {
	p := fmt.Sprintf("kafka-go's Writer (acks=all, murmur2, batch size %d, batch timeout %s)", c.batchSize, c.baselineBatch)
	if c.baseline == "writer" {
		p = fmt.Sprintf("the bridge's writer alone (acks=all, murmur2, batch size %d, no batch timer)", c.batchSize)
	}
	return fmt.Sprintf("baseline %s, compression none, publish timeout %s; HTTP client %s", p, c.publishTO, c.client)
}

func gogcString(flagValue int) string {
	if flagValue != 0 {
		return strconv.Itoa(flagValue) + " (bridge)"
	}
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	return "100"
}

func describeBodies(o bodyOptions, vs []variant) string {
	total, names := 0, map[string]bool{}
	for _, v := range vs {
		total += len(v.body)
		names[v.name] = true
	}
	src := fmt.Sprintf("generated from %d samples of %s, %d companies, content padded to %d-%d bytes", len(names), o.Samples, o.Companies, o.MinBytes, o.MaxBytes)
	if o.Dir != "" {
		src = fmt.Sprintf("%d files of %s", len(names), o.Dir)
	}
	return fmt.Sprintf("%d variants (%s), mean %d bytes", len(vs), src, total/len(vs))
}

// waitReady waits until every partition of names answers its offsets (a new
// partition answers "not leader" for a while) and returns the partition
// counts.
// maxRecordBytes is the writer's record limit: serve's, from
// BRIDGE_MAX_BODY_BYTES's default plus the record overhead.
const maxRecordBytes = 1<<20 + 64<<10

func waitReady(ctx context.Context, admin *kafka.Admin, client *kafkago.Client, names []string) (map[string]int, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		parts, err := admin.Partitions(ctx, names)
		if err == nil {
			for _, n := range names {
				if parts[n] == 0 {
					err = fmt.Errorf("topic %s does not exist", n)
				}
			}
		}
		if err == nil {
			if _, err = endOffsets(ctx, client, parts); err == nil {
				return parts, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("topics not ready: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// bridgeProcs notes the started bridge's GOMAXPROCS when -gomaxprocs sets it.
func bridgeProcs(flagValue int) string {
	if flagValue == 0 {
		return ""
	}
	return fmt.Sprintf("; the bridge's %d", flagValue)
}
