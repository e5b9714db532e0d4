// Command webhook-bench measures webhook-bridge against a Kafka broker and
// compares it with writing the same records to Kafka directly.
//
// One run creates its own topics (under a unique prefix, replication 1,
// -partitions each), generates webhook bodies for every resource and action
// (from the bridge's samples, with fresh ids, -companies different companies
// and content padded to -body-bytes; or the *.json files of -bodies), and
// then, for each load level:
//
//   - baseline: N goroutines each Publish one record at a time, straight to
//     Kafka through a kafka.Writer configured like the bridge's (acks=all,
//     murmur2, -batch-size, -batch-timeout): the same records (topics, keys,
//     headers, values) that bridge.Normalize makes of the bodies. This is
//     what the client and the broker allow on this machine.
//   - bridge: the same bodies POSTed to a bridge: by default one started in
//     this process (bridge.NewServer, kafka.NewWriter, net/http.Server on
//     127.0.0.1:0, token authentication, the request log written to
//     -bridge-log); with -spawn one started as a child process, so that its
//     RSS and CPU are its own; with -url one running elsewhere (-pid to
//     measure it, -token to authenticate, -prefix for its topics).
//
// The load generator keeps one HTTP/1.1 keep-alive connection per worker. Its
// default client (-client raw) writes each request with one write and reads
// only the status line and Content-Length: it costs a quarter of the CPU of
// net/http's client (-client nethttp), CPU that on a small machine the
// bridge would otherwise not get.
//
// With -concurrency the load is a closed loop (each worker sends its next
// request when the previous one is answered); with -rate it is an open loop
// on a fixed schedule, and latency counts from when each request was due, so
// a stall is not hidden by the requests it delayed (no coordinated
// omission). -warmup is sent and verified but not measured.
//
// After the load phases, -single requests are sent one at a time, -single-gap
// apart, to an otherwise idle bridge.
//
// Every phase is verified: each topic is read back from the offsets before
// the phase to those after it, and every event answered 2xx must be there
// exactly once, in the partition murmur2 gives its key, byte for byte the
// record the bridge must write; nothing may be there twice, or without
// having been sent. Events answered with an error may be there once (at
// least once delivery). Any failure makes the exit status 1.
//
// The table shows requests/s, latency percentiles, errors by status, CPU
// seconds (and per request) and peak RSS of the process that serves the
// bridge (in process: shared with the load generator; the baseline's is the
// load generator and its writer), the machine's CPU use, the load average,
// and the ratio of bridge to baseline throughput. -json prints the same as
// JSON. -every prints RSS, goroutines and heap periodically (for soaks).
//
// Usage:
//
//	eval "$(deploy/local/kafka.sh env)"
//	go run ./cmd/webhook-bench -concurrency 64,128,256 -duration 20s
//	go run ./cmd/webhook-bench -rate 2000 -duration 60s -spawn
//	go run ./cmd/webhook-bench -mode single -single 200
//	go run ./cmd/webhook-bench -mode bridge -rate 2000 -duration 10m -every 30s -spawn   # soak
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
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "webhook-bench:", err)
		os.Exit(1)
	}
}

// config is every flag.
type config struct {
	brokers      []string
	mode         string
	duration     time.Duration
	warmup       time.Duration
	concurrency  []int
	rates        []float64
	partitions   int
	url          string
	token        string
	prefix       string
	pid          int
	brokerPID    int
	spawn        bool
	single       int
	singleGap    time.Duration
	every        time.Duration
	jsonOut      bool
	batchSize    int
	batchTimeout time.Duration
	publishTO    time.Duration
	maxInFlight  int
	cooldown     time.Duration
	bodies       bodyOptions
	keep         bool
	cpuProfile   string
	pprofAddr    string
	bridgeLog    string
	gogc         int
	client       string
	child        bool
}

const usageText = `webhook-bench measures webhook-bridge against Kafka and compares it with
writing the same records to Kafka directly. See the package documentation
(go doc ./cmd/webhook-bench) for what each phase does.

Usage:
  webhook-bench [flags]

Examples:
  eval "$(deploy/local/kafka.sh env)"
  webhook-bench -concurrency 64,128,256 -duration 20s        # closed loop, baseline and bridge
  webhook-bench -rate 2000 -duration 60s -spawn              # open loop, bridge in its own process
  webhook-bench -mode single -single 200                     # one request at a time, idle bridge
  webhook-bench -mode bridge -rate 2000 -duration 10m -every 30s -spawn   # soak: RSS over time

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
	fs.StringVar(&c.mode, "mode", "both", "phases to run: baseline, bridge, both, or single (only the idle single-request phase)")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "measured time of each load phase")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "time sent (and verified) before each load phase is measured")
	conc := fs.String("concurrency", "64", "closed loop: workers, one request in flight each; a comma-separated list runs each level. With -rate: most requests in flight (default 512 then)")
	rates := fs.String("rate", "", "open loop: requests per second on a fixed schedule; a comma-separated list runs each rate (empty: closed loop)")
	fs.IntVar(&c.partitions, "partitions", 6, "partitions of each topic the run creates")
	fs.StringVar(&c.url, "url", "", "POST to this running bridge (e.g. http://127.0.0.1:8080/webhooks) instead of starting one")
	fs.StringVar(&c.token, "token", "", "X-AppDirect-Webhook-Token to send (default: a random one, which the started bridge accepts)")
	fs.StringVar(&c.prefix, "prefix", "", "topic prefix (default: bench-<random>. for a started bridge, appdirect. with -url)")
	fs.IntVar(&c.pid, "pid", 0, "with -url: process id of the bridge, to report its RSS and CPU")
	fs.IntVar(&c.brokerPID, "broker-pid", 0, "process id of the Kafka broker, to report its CPU per phase (deploy/local/kafka.sh status prints it)")
	fs.BoolVar(&c.spawn, "spawn", false, "start the bridge as a child process (this binary), so that its RSS and CPU are its own")
	fs.IntVar(&c.single, "single", 200, "requests sent one at a time to the idle bridge after the load phases (0: none)")
	fs.DurationVar(&c.singleGap, "single-gap", 10*time.Millisecond, "pause between the single requests")
	fs.DurationVar(&c.every, "every", 0, "print RSS, goroutines and heap this often during load phases (soak), e.g. 30s")
	fs.BoolVar(&c.jsonOut, "json", false, "print the results as JSON instead of a table")
	fs.IntVar(&c.batchSize, "batch-size", 100, "writer: most records per batch (BRIDGE_KAFKA_BATCH_SIZE)")
	fs.DurationVar(&c.batchTimeout, "batch-timeout", 2*time.Millisecond, "writer: how long a batch waits to fill (BRIDGE_KAFKA_BATCH_TIMEOUT)")
	fs.DurationVar(&c.publishTO, "publish-timeout", 10*time.Second, "wait for acks=all before a 503 (BRIDGE_PUBLISH_TIMEOUT); the baseline's Publish timeout too")
	fs.IntVar(&c.maxInFlight, "max-inflight", 1000, "bridge: most requests served at once (BRIDGE_MAX_INFLIGHT)")
	fs.DurationVar(&c.cooldown, "cooldown", 2*time.Second, "pause between phases")
	fs.IntVar(&c.bodies.Variants, "variants", 4096, "different bodies generated (each request gets its own event id)")
	fs.IntVar(&c.bodies.Companies, "companies", 5000, "different company ids the bodies name")
	sizes := fs.String("body-bytes", "1024-2048", "bodies with content are padded to a size in this range (REMOVED events have none and stay ~300 bytes)")
	fs.StringVar(&c.bodies.Dir, "bodies", "", "send the *.json webhook bodies of this directory (their event uuids are replaced) instead of generated ones")
	fs.Uint64Var(&c.bodies.Seed, "seed", 0, "seed of the generated bodies (0: random)")
	fs.BoolVar(&c.keep, "keep", false, "keep the topics the run created (default: delete them at the end)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the bridge during each load phase to this file (the phase is added to the name); in process it includes the load generator")
	fs.StringVar(&c.pprofAddr, "pprof", "", "serve net/http/pprof of this process on this address (in-process bridge)")
	fs.StringVar(&c.bridgeLog, "bridge-log", os.DevNull, "where the started bridge writes its request log (one line per request, as in production); empty discards it before writing")
	fs.IntVar(&c.gogc, "gogc", 0, "GOGC of the bridge: of this process when in process (the load generator's too), of the child with -spawn (0: leave as is)")
	fs.StringVar(&c.client, "client", "raw", "HTTP client of the load generator, one keep-alive connection per worker: raw (minimal HTTP/1.1, about 20 µs of CPU a request) or nethttp (net/http's Transport, about 70 µs: CPU the bridge loses when they share cores)")
	fs.BoolVar(&c.child, "child", false, "internal: serve a bridge for -spawn")
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
	if len(c.rates) > 0 && !set["concurrency"] {
		c.concurrency = []int{512}
	}
	if len(c.rates) > 0 && len(c.concurrency) != 1 {
		return c, errors.New("with -rate, -concurrency is one number: the most requests in flight")
	}
	lo, hi, ok := strings.Cut(*sizes, "-")
	if c.bodies.MinBytes, err = strconv.Atoi(lo); err != nil || !ok {
		return c, fmt.Errorf("-body-bytes %q is not MIN-MAX", *sizes)
	}
	if c.bodies.MaxBytes, err = strconv.Atoi(hi); err != nil || c.bodies.MaxBytes < c.bodies.MinBytes {
		return c, fmt.Errorf("-body-bytes %q is not MIN-MAX", *sizes)
	}
	switch c.mode {
	case "baseline", "bridge", "both", "single":
	default:
		return c, fmt.Errorf("-mode %q is not baseline, bridge, both or single", c.mode)
	}
	if c.client != "nethttp" && c.client != "raw" {
		return c, fmt.Errorf("-client %q is not nethttp or raw", c.client)
	}
	if c.url != "" && c.spawn {
		return c, errors.New("-url and -spawn exclude each other")
	}
	if c.pid != 0 && c.url == "" {
		return c, errors.New("-pid needs -url (a started bridge is measured on its own)")
	}
	if c.bodies.Variants <= 0 || c.partitions <= 0 || c.duration <= 0 || c.warmup < 0 {
		return c, errors.New("-variants, -partitions and -duration must be positive, -warmup not negative")
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

// result is one row of the table.
type result struct {
	Mode        string             `json:"mode"`
	Load        string             `json:"load"`
	Concurrency int                `json:"concurrency"`
	Rate        float64            `json:"rate,omitempty"`
	Requests    uint64             `json:"requests"` // measured
	Sent        uint64             `json:"sent"`     // warm-up included
	Seconds     float64            `json:"seconds"`
	PerSecond   float64            `json:"requests_per_second"`
	LatencyMS   map[string]float64 `json:"latency_ms"`
	// ServiceMS (open loop) counts from when a request was actually sent,
	// not when it was due: the gap to LatencyMS is the load generator's own
	// delay (a stalled machine), which LatencyMS rightly includes.
	ServiceMS   map[string]float64 `json:"service_ms,omitempty"`
	Errors      map[string]uint64  `json:"errors"`
	CPUSeconds  float64            `json:"cpu_seconds"`
	CPUPerReqUS float64            `json:"cpu_us_per_request"`
	PeakRSS     int64              `json:"peak_rss_bytes"`
	Measured    string             `json:"measured"` // whose CPU and RSS
	LoadGenCPU  float64            `json:"loadgen_cpu_seconds,omitempty"`
	BrokerCPU   float64            `json:"broker_cpu_seconds,omitempty"`
	HostBusy    float64            `json:"host_cpu_busy"`
	LoadAvg     string             `json:"load_average"`
	Behind      float64            `json:"schedule_behind_ms,omitempty"`
	AvgBatch    float64            `json:"avg_batch_records,omitempty"`
	Samples     []sample           `json:"samples,omitempty"`
	Verify      verifyResult       `json:"verify"`
}

// report is the whole run, as -json prints it.
type report struct {
	Started    time.Time          `json:"started"`
	Brokers    []string           `json:"brokers"`
	Prefix     string             `json:"topic_prefix"`
	Partitions int                `json:"partitions"`
	Bridge     string             `json:"bridge"`
	Bodies     string             `json:"bodies"`
	Writer     string             `json:"writer"`
	Machine    string             `json:"machine"`
	Results    []result           `json:"results"`
	Ratios     map[string]float64 `json:"throughput_ratio_bridge_to_baseline,omitempty"`
	OK         bool               `json:"ok"`
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	kc := kafka.Config{Brokers: c.brokers, DialTimeout: 5 * time.Second}
	bc := bridgeConfig{
		kafka: kc, token: c.token, batchSize: c.batchSize, batchTimeout: c.batchTimeout,
		publishTimeout: c.publishTO, maxInFlight: c.maxInFlight, logFile: c.bridgeLog,
		naming: topics.Naming{Prefix: c.prefix},
	}
	if c.child {
		return runChild(bc, stdin, stdout)
	}
	if c.gogc != 0 && !c.spawn && c.url == "" {
		debug.SetGCPercent(c.gogc)
	}
	bc.gogc = c.gogc
	runID := randomHex(8)
	if bc.naming.Prefix == "" {
		bc.naming.Prefix = "bench-" + runID + "."
		if c.url != "" {
			bc.naming.Prefix = "appdirect."
		}
	}
	if bc.token == "" && c.url == "" {
		bc.token = randomHex(32)
	}
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }

	// Topics: the run's own, unless it targets a running bridge's.
	names := make([]string, 0, len(topics.Catalog)+1)
	for _, r := range topics.Catalog {
		names = append(names, bc.naming.Topic(r.Name))
	}
	names = append(names, bc.naming.Quarantine())
	admin, err := kafka.NewAdmin(kc, 10*time.Second)
	if err != nil {
		return err
	}
	client := &kafkago.Client{Addr: kafkago.TCP(c.brokers...), Timeout: 30 * time.Second}
	created := false
	if c.url == "" {
		progress("creating %d topics %s* with %d partitions on %s", len(names), bc.naming.Prefix, c.partitions, strings.Join(c.brokers, ","))
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		_, err := admin.Create(cctx, names, kafka.TopicSpec{Partitions: c.partitions, ReplicationFactor: 1, MaxMessageBytes: maxRecordBytes})
		cancel()
		if err != nil {
			return err
		}
		created = true
		defer func() {
			if c.keep {
				progress("kept topics %s*", bc.naming.Prefix)
				return
			}
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := client.DeleteTopics(dctx, &kafkago.DeleteTopicsRequest{Topics: names}); err != nil {
				progress("deleting topics %s*: %v", bc.naming.Prefix, err)
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
	vs, err := makeVariants(c.bodies, bc.naming, partitions)
	if err != nil {
		return err
	}

	rep := report{
		Started: time.Now().UTC(), Brokers: c.brokers, Prefix: bc.naming.Prefix, Partitions: c.partitions,
		Bodies: describeBodies(c.bodies, vs),
		Writer: fmt.Sprintf("acks=all, murmur2, batch size %d, batch timeout %s, compression none, publish timeout %s; HTTP client %s", c.batchSize, c.batchTimeout, c.publishTO, c.client),
		Machine: fmt.Sprintf("%d CPUs (GOMAXPROCS %d), %s, GOGC=%s, load average %s at start",
			runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), gogcString(c.gogc), loadAvg()),
		Ratios: map[string]float64{},
	}

	// The bridge under test.
	var br *runningBridge
	wantBridge := c.mode != "baseline"
	if wantBridge {
		switch {
		case c.url != "":
			br = &runningBridge{url: c.url, pid: c.pid}
			rep.Bridge = "running at " + c.url
		case c.spawn:
			if br, err = spawnBridge(bc); err != nil {
				return err
			}
			rep.Bridge = fmt.Sprintf("child process %d (this binary -child): RSS and CPU are the bridge's alone", br.pid)
		default:
			if br, err = startBridge(bc, c.pprofAddr); err != nil {
				return err
			}
			rep.Bridge = "in process: RSS and CPU include the load generator"
			if br.pprof != "" {
				progress("pprof on http://%s/debug/pprof/", br.pprof)
			}
		}
		defer func() {
			if err := br.close(); err != nil {
				progress("stopping the bridge: %v", err)
			}
		}()
	}
	var baseline *kafkaTarget
	if c.mode == "baseline" || c.mode == "both" {
		w, err := kafka.NewWriter(bc.writerConfig(), zerolog.New(stderr).Level(zerolog.WarnLevel))
		if err != nil {
			return err
		}
		defer w.Close()
		baseline = &kafkaTarget{w: w, timeout: c.publishTO}
	}
	var web target
	if br != nil {
		if c.client == "raw" {
			if web, err = newRawTarget(br.url, bc.token); err != nil {
				return err
			}
		} else {
			conns := 0
			for _, n := range c.concurrency {
				conns = max(conns, n)
			}
			h := newHTTPTarget(br.url, bc.token, conns+8)
			defer h.close()
			web = h
		}
	}

	ph := &phaser{c: c, client: client, partitions: partitions, vs: vs, runID: runID, br: br, progress: progress, stderr: stderr}
	var loads []loadSpec
	if len(c.rates) > 0 {
		for _, r := range c.rates {
			loads = append(loads, loadSpec{concurrency: c.concurrency[0], rate: r, warmup: c.warmup, duration: c.duration, every: c.every})
		}
	} else {
		for _, n := range c.concurrency {
			loads = append(loads, loadSpec{concurrency: n, warmup: c.warmup, duration: c.duration, every: c.every})
		}
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
			if base != nil && brg != nil && base.PerSecond > 0 {
				rep.Ratios[l.String()] = brg.PerSecond / base.PerSecond
			}
		}
	}
	if web != nil && c.single > 0 {
		r, err := ph.runSingle(ctx, web)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, r)
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
	src := fmt.Sprintf("generated from the bridge's %d samples, %d companies, content padded to %d-%d bytes", len(names), o.Companies, o.MinBytes, o.MaxBytes)
	if o.Dir != "" {
		src = fmt.Sprintf("%d files of %s", len(names), o.Dir)
	}
	return fmt.Sprintf("%d variants (%s), mean %d bytes", len(vs), src, total/len(vs))
}

// waitReady waits until every partition of names answers its offsets (a new
// partition answers "not leader" for a while) and returns the partition
// counts.
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

// phaser runs phases and turns what they measured into results.
type phaser struct {
	c          config
	client     *kafkago.Client
	partitions map[string]int
	vs         []variant
	runID      string
	br         *runningBridge
	n          int // phases so far
	progress   func(string, ...any)
	stderr     io.Writer
}

func (p *phaser) measured(mode string) (proc, string) {
	if mode == "baseline" || p.br == nil {
		return proc{os.Getpid()}, "load generator + writer"
	}
	if p.br.pid == 0 {
		return proc{}, "not measured (give -pid)"
	}
	if p.br.pid == os.Getpid() {
		return proc{os.Getpid()}, "bridge + load generator (one process)"
	}
	return proc{p.br.pid}, fmt.Sprintf("bridge process %d", p.br.pid)
}

func (p *phaser) run(ctx context.Context, mode string, l loadSpec, tgt target) (result, error) {
	p.n++
	ids := newEventIDs(p.runID, p.n)
	out := &outcomes{}
	if p.n > 1 && p.c.cooldown > 0 {
		time.Sleep(p.c.cooldown)
	}
	p.progress("%s %s: %s warm-up + %s measured", mode, l, l.warmup, l.duration)
	from, err := endOffsets(ctx, p.client, p.partitions)
	if err != nil {
		return result{}, err
	}
	who, whoName := p.measured(mode)
	u := p.startUsage(who)
	self := startUsage(proc{os.Getpid()})
	var broker *usage
	if p.c.brokerPID > 0 {
		broker = startUsage(proc{p.c.brokerPID})
	}
	var w0, m0 float64
	var counted bool
	if bw, ok := tgt.(*kafkaTarget); ok {
		bw.w.Stats() // reset kafka-go's counters
	} else if p.br != nil {
		w0, m0, counted = writerCounters(ctx, p.br.url)
	}
	stopProfile := p.profile(ctx, mode, l)
	ps := runLoad(ctx, tgt, l, p.vs, ids, out, p.sampler(who), p.stderr)
	stopProfile()
	r := p.finish(mode, l, ps, u, self, broker, whoName)
	if bw, ok := tgt.(*kafkaTarget); ok {
		r.AvgBatch = avgBatch(bw.w.Stats())
	} else if counted {
		if w1, m1, ok := writerCounters(ctx, p.br.url); ok && w1 > w0 {
			r.AvgBatch = (m1 - m0) / (w1 - w0)
		}
	}
	r.Verify, err = p.verify(ctx, from, ids, out)
	return r, err
}

func (p *phaser) runSingle(ctx context.Context, tgt target) (result, error) {
	p.n++
	ids := newEventIDs(p.runID, p.n)
	out := &outcomes{}
	time.Sleep(p.c.cooldown)
	p.progress("single: %d requests one at a time, %s apart", p.c.single, p.c.singleGap)
	from, err := endOffsets(ctx, p.client, p.partitions)
	if err != nil {
		return result{}, err
	}
	who, whoName := p.measured("bridge")
	u := p.startUsage(who)
	self := startUsage(proc{os.Getpid()})
	ps := runSingle(ctx, tgt, p.c.single, p.c.singleGap, p.vs, ids, out)
	l := loadSpec{concurrency: 1, duration: ps.window}
	r := p.finish("single", l, ps, u, self, nil, whoName)
	r.Load = fmt.Sprintf("1 at a time, %d", p.c.single)
	r.PerSecond = 0
	r.Verify, err = p.verify(ctx, from, ids, out)
	return r, err
}

func (p *phaser) startUsage(who proc) *usage {
	if who.pid == 0 {
		return nil
	}
	return startUsage(who)
}

func (p *phaser) finish(mode string, l loadSpec, ps phaseStats, u, self, broker *usage, whoName string) result {
	r := result{
		Mode: mode, Load: l.String(), Concurrency: l.concurrency, Rate: l.rate,
		Requests: ps.counted, Sent: ps.sent, Seconds: ps.window.Seconds(),
		Errors: ps.errs, Measured: whoName, LoadAvg: loadAvg(), Samples: ps.samples,
		Behind: float64(ps.lateness) / float64(time.Millisecond),
	}
	if ps.window > 0 {
		r.PerSecond = float64(ps.counted) / ps.window.Seconds()
	}
	r.LatencyMS = map[string]float64{}
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p99.9", 0.999}} {
		r.LatencyMS[q.name] = msf(ps.hist.quantile(q.q))
	}
	r.LatencyMS["max"] = msf(ps.hist.maxValue())
	r.LatencyMS["mean"] = msf(ps.hist.mean())
	if l.rate > 0 {
		r.ServiceMS = map[string]float64{
			"p50": msf(ps.svc.quantile(0.5)), "p99": msf(ps.svc.quantile(0.99)),
			"p99.9": msf(ps.svc.quantile(0.999)), "max": msf(ps.svc.maxValue()),
		}
	}
	self.end()
	if u != nil {
		u.end()
		r.CPUSeconds, r.PeakRSS, r.HostBusy = u.CPU.Seconds(), u.PeakRSS, u.HostBusy
		if ps.sent > 0 {
			r.CPUPerReqUS = float64(u.CPU.Microseconds()) / float64(ps.sent)
		}
		if u.p.pid != os.Getpid() {
			r.LoadGenCPU = self.CPU.Seconds()
		}
	} else {
		r.HostBusy = self.HostBusy
		r.LoadGenCPU = self.CPU.Seconds()
	}
	if broker != nil {
		broker.end()
		r.BrokerCPU = broker.CPU.Seconds()
	}
	return r
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func avgBatch(s kafka.WriterStats) float64 {
	if s.Writes == 0 {
		return 0
	}
	return float64(s.Messages) / float64(s.Writes)
}

// verify reads back what the phase wrote, once the writers had a moment to
// finish records that were answered with an error.
func (p *phaser) verify(ctx context.Context, from offsets, ids eventIDs, out *outcomes) (verifyResult, error) {
	time.Sleep(500 * time.Millisecond)
	to, err := endOffsets(ctx, p.client, p.partitions)
	if err != nil {
		return verifyResult{}, err
	}
	v := verify(ctx, p.c.brokers, from, to, ids, p.vs, out)
	status := "ok"
	if !v.OK {
		status = "FAILED"
	}
	p.progress("  verified in %.1fs: %s (%d acknowledged, %d found once, %d missing, %d duplicates, %d unexpected, %d mismatched)",
		v.Took, status, v.Acked, v.Found, v.Missing, v.Duplicates, v.Unexpected, v.Mismatched)
	for _, pr := range v.Problems {
		p.progress("    %s", pr)
	}
	return v, nil
}

// sampler reads RSS, goroutines and heap of the measured process.
func (p *phaser) sampler(who proc) func(time.Duration) sample {
	if p.c.every <= 0 {
		return nil
	}
	return func(at time.Duration) sample {
		s := sample{At: at.Seconds()}
		if who.pid != 0 {
			s.RSS, _ = who.rss()
		}
		switch {
		case who.pid == os.Getpid():
			s.Goroutines, s.Heap = goStats()
		case p.br != nil && p.br.pprof != "":
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.Goroutines, _ = goroutinesOf(ctx, p.br.pprof)
			cancel()
		}
		return s
	}
}

// profile starts a CPU profile of the bridge for a bridge load phase and
// returns what stops it.
func (p *phaser) profile(ctx context.Context, mode string, l loadSpec) func() {
	if p.c.cpuProfile == "" || mode != "bridge" || p.br == nil {
		return func() {}
	}
	path := profilePath(p.c.cpuProfile, mode+"-"+strings.ReplaceAll(strings.ReplaceAll(l.String(), "=", ""), "/", ""))
	switch {
	case p.br.inProc:
		f, err := os.Create(path)
		if err != nil {
			p.progress("cpu profile: %v", err)
			return func() {}
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			p.progress("cpu profile: %v", err)
			f.Close()
			return func() {}
		}
		return func() {
			pprof.StopCPUProfile()
			f.Close()
			p.progress("  cpu profile (bridge and load generator): %s", path)
		}
	case p.br.pprof != "":
		done := make(chan error, 1)
		secs := int((l.warmup + l.duration).Seconds())
		go func() { done <- profileChild(ctx, p.br.pprof, max(secs, 1), path) }()
		return func() {
			if err := <-done; err != nil {
				p.progress("cpu profile: %v", err)
				return
			}
			p.progress("  cpu profile (bridge process): %s", path)
		}
	}
	return func() {}
}

func profilePath(base, label string) string {
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		return base[:i] + "." + label + base[i:]
	}
	return base + "." + label
}

func printTable(w io.Writer, rep report) {
	fmt.Fprintf(w, "webhook-bench %s\n", rep.Started.Format(time.RFC3339))
	fmt.Fprintf(w, "kafka:   %s, topics %s* (%d partitions, replication 1)\n", strings.Join(rep.Brokers, ","), rep.Prefix, rep.Partitions)
	fmt.Fprintf(w, "writer:  %s\n", rep.Writer)
	if rep.Bridge != "" {
		fmt.Fprintf(w, "bridge:  %s\n", rep.Bridge)
	}
	fmt.Fprintf(w, "bodies:  %s\n", rep.Bodies)
	fmt.Fprintf(w, "machine: %s\n\n", rep.Machine)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tload\trequests\treq/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\tcpu s\tcpu µs/req\tpeak rss\thost cpu\tload avg\tverified\t")
	for _, r := range rep.Results {
		rate := "-"
		if r.PerSecond > 0 {
			rate = fmt.Sprintf("%.0f", r.PerSecond)
		}
		rss := "-"
		if r.PeakRSS > 0 {
			rss = mib(r.PeakRSS)
		}
		ver := "ok"
		if !r.Verify.OK {
			ver = fmt.Sprintf("FAILED (%d missing, %d dup, %d unexpected, %d mismatched)", r.Verify.Missing, r.Verify.Duplicates, r.Verify.Unexpected, r.Verify.Mismatched)
		}
		l := r.LatencyMS
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.0f\t%s\t%.0f%%\t%s\t%s\t\n",
			r.Mode, r.Load, r.Requests, rate, f3(l["p50"]), f3(l["p90"]), f3(l["p99"]), f3(l["p99.9"]), f3(l["max"]),
			errString(r.Errors), r.CPUSeconds, r.CPUPerReqUS, rss, r.HostBusy*100, r.LoadAvg, ver)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if len(rep.Ratios) > 0 {
		keys := make([]string, 0, len(rep.Ratios))
		for k := range rep.Ratios {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, rep.Ratios[k]))
		}
		fmt.Fprintf(w, "throughput bridge/baseline: %s\n", strings.Join(parts, ", "))
	}
	for _, r := range rep.Results {
		var notes []string
		if r.Measured != "" {
			notes = append(notes, "cpu/rss of "+r.Measured)
		}
		if r.LoadGenCPU > 0 {
			notes = append(notes, fmt.Sprintf("load generator %.1f cpu s", r.LoadGenCPU))
		}
		if r.BrokerCPU > 0 {
			notes = append(notes, fmt.Sprintf("broker %.1f cpu s", r.BrokerCPU))
		}
		if r.AvgBatch > 0 {
			notes = append(notes, fmt.Sprintf("%.1f records per produce batch", r.AvgBatch))
		}
		if r.Behind > 1 {
			notes = append(notes, fmt.Sprintf("schedule fell up to %.0f ms behind", r.Behind))
		}
		if s := r.ServiceMS; s != nil {
			notes = append(notes, fmt.Sprintf("from actual send: p50 %s, p99 %s, p99.9 %s, max %s ms", f3(s["p50"]), f3(s["p99"]), f3(s["p99.9"]), f3(s["max"])))
		}
		if n := len(r.Samples); n >= 2 {
			first, last := r.Samples[0], r.Samples[n-1]
			notes = append(notes, fmt.Sprintf("rss %s at %.0fs, %s at %.0fs; goroutines %d, %d",
				mib(first.RSS), first.At, mib(last.RSS), last.At, first.Goroutines, last.Goroutines))
		}
		if r.Verify.LandedAfterError > 0 {
			notes = append(notes, fmt.Sprintf("%d answered with an error yet written (allowed: at least once)", r.Verify.LandedAfterError))
		}
		fmt.Fprintf(w, "%s %s: %s; %d records read back in %.1fs\n", r.Mode, r.Load, strings.Join(notes, ", "), r.Verify.Read, r.Verify.Took)
	}
}

func f3(v float64) string { return ms(time.Duration(v * float64(time.Millisecond))) }

func errString(m map[string]uint64) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
