// Command webhook-bridge receives AppDirect marketplace webhooks over HTTP and
// publishes each one to a Kafka topic named after its resource, keyed by
// company. See README.md for the contract and every setting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/bridge"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "webhook-bridge:", err)
			os.Exit(1)
		}
	}
}

const usage = `webhook-bridge receives AppDirect marketplace webhooks and publishes each to a
Kafka topic per resource, keyed by company, answering 2xx only after acks=all.

Usage:
  webhook-bridge serve                 serve webhooks (needs BRIDGE_KAFKA_BROKERS)
  webhook-bridge dev                   serve with an embedded in-memory broker (data is lost on exit)
  webhook-bridge topics create         create every topic (idempotent)
  webhook-bridge topics list           show every topic and its partitions
  webhook-bridge tail [flags]          print records as JSON lines (see tail --help)
  webhook-bridge index import FILE     write company-index mappings from CSV or JSON lines (see index --help)
  webhook-bridge replay [flags]        publish quarantined bodies that now pass validation (see replay --help)
  webhook-bridge version               print version, commit and Go version
  webhook-bridge healthcheck [URL]     exit 0 if URL (default: this host's /readyz) answers 200

Every command reads its settings from the environment:

`

// run is the whole program; main only maps its error to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		printEnv(stderr)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	if cmd == "help" || cmd == "-h" || cmd == "--help" || cmd == "-help" {
		fmt.Fprint(stdout, usage)
		printEnv(stdout)
		return nil
	}
	for _, a := range rest {
		if a == "-h" || a == "--help" || a == "-help" {
			return commandHelp(cmd, stdout)
		}
	}
	if cmd == "version" {
		v, c, g := bridge.BuildInfo()
		fmt.Fprintf(stdout, "webhook-bridge %s (commit %s, %s)\n", v, c, g)
		return nil
	}
	if cmd == "healthcheck" {
		return healthcheck(ctx, rest, stdout)
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts the orderly shutdown; a second one stops the
	// process at once, as if there were no handler.
	context.AfterFunc(ctx, stop)
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log, false, nil)
	case "dev":
		return dev(ctx, cfg, log, stdout)
	case "topics":
		return topicsCmd(ctx, cfg, rest, stdout)
	case "tail":
		return tailCmd(ctx, cfg, rest, stdout, stderr)
	case "index":
		return indexCmd(ctx, cfg, rest, stdout, stderr, log)
	case "replay":
		return replayCmd(ctx, cfg, rest, stdout, stderr, log)
	default:
		return fmt.Errorf("unknown command %q (try --help)", cmd)
	}
}

func commandHelp(cmd string, w io.Writer) error {
	switch cmd {
	case "version":
		fmt.Fprintln(w, "Usage: webhook-bridge version\n\nPrints the version, commit and Go version this binary was built from.")
		return nil
	case "healthcheck":
		fmt.Fprintln(w, "Usage: webhook-bridge healthcheck [URL]\n\nGETs URL and exits 0 only on a 200 answer within 5s. Without URL it asks\nthis host's /readyz on BRIDGE_ADMIN_ADDR (default "+defaultOf("AdminAddr")+"). For container\nimages without a shell or curl.")
		return nil
	case "tail":
		fs, _, _ := tailFlags(io.Discard)
		fmt.Fprintln(w, "Usage: webhook-bridge tail [flags]\n\nPrints records as JSON lines, filtering on headers without decoding values.\n\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	case "topics":
		fmt.Fprintln(w, "Usage: webhook-bridge topics create|list")
	case "index":
		fmt.Fprint(w, indexUsage)
	case "replay":
		fs, _ := replayFlags(io.Discard)
		fmt.Fprint(w, replayUsage)
		fs.SetOutput(w)
		fs.PrintDefaults()
	default:
		fmt.Fprint(w, usage)
	}
	fmt.Fprintln(w, "\nEnvironment:")
	printEnv(w)
	return nil
}

// Log timestamps carry sub-second precision. zerolog keeps the format in a
// package variable: set it once, before anything logs.
func init() { zerolog.TimeFieldFormat = time.RFC3339Nano }

func newLogger(cfg Config, w io.Writer) zerolog.Logger {
	lvl, _ := zerolog.ParseLevel(strings.ToLower(cfg.LogLevel))
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", "webhook-bridge").Logger()
}
