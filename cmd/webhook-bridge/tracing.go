package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/webhook-bridge/webhook-bridge/bridge"
)

// Tracing is configured by OpenTelemetry's own environment variables, not
// BRIDGE_*: they are the same for every OpenTelemetry SDK, the operators'
// tooling (the Collector's Helm chart, the Operator's injection) sets them,
// and the SDK and its exporters read most of them themselves. serve reads
// only what decides whether to export, and how, and checks the rest before
// the SDK would quietly fall back to a default.
//
// Exporting is off unless an OTLP endpoint is set. Off, serve builds no
// tracer provider and the bridge installs no middleware (see bridge.Options.Tracer).

// tracingVar is one OpenTelemetry variable as --help and docs/operations.md
// list it.
type tracingVar struct{ name, def, desc string }

// tracingVars are the OpenTelemetry variables that matter to serve and dev.
var tracingVars = []tracingVar{
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "", "base URL of the OTLP receiver (a Collector), http:// or https://; tracing is off unless this or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set. http/protobuf and http/json append /v1/traces"},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", "the URL for traces alone, used as it is; wins over OTEL_EXPORTER_OTLP_ENDPOINT"},
	{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "http/protobuf (port 4318), grpc (port 4317) or http/json; OTEL_EXPORTER_OTLP_TRACES_PROTOCOL wins over it"},
	{"OTEL_EXPORTER_OTLP_HEADERS", "", "key=value,... sent with every export, e.g. a vendor's API key (secret: never logged); also OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
	{"OTEL_EXPORTER_OTLP_TIMEOUT", "10000", "milliseconds an export may take"},
	{"OTEL_EXPORTER_OTLP_COMPRESSION", "", "gzip, or none"},
	{"OTEL_EXPORTER_OTLP_CERTIFICATE", "", "PEM file of CAs to trust for an https:// endpoint (default: the system's); OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY for mutual TLS"},
	{"OTEL_SERVICE_NAME", "webhook-bridge", "the service.name of the spans"},
	{"OTEL_RESOURCE_ATTRIBUTES", "", "more resource attributes, key=value,..., e.g. deployment.environment.name=prod"},
	{"OTEL_TRACES_SAMPLER", "parentbased_always_on", "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio; parentbased_* follows the sender's sampled flag"},
	{"OTEL_TRACES_SAMPLER_ARG", "", "the ratio, 0 to 1, of the traceidratio samplers (default 1)"},
	{"OTEL_TRACES_EXPORTER", "otlp", "otlp, or none to turn exporting off with an endpoint set"},
	{"OTEL_SDK_DISABLED", "false", "true turns tracing off"},
	{"OTEL_BSP_SCHEDULE_DELAY", "5000", "milliseconds between exports of the spans batched in memory"},
	{"OTEL_BSP_MAX_QUEUE_SIZE", "2048", "spans held for export; beyond it new spans are dropped, requests are not slowed"},
	{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512", "most spans in one export"},
}

// printTracingEnv writes the tracing variables after the BRIDGE_* table of
// --help.
func printTracingEnv(w io.Writer) {
	fmt.Fprintln(w, "\nTracing (OpenTelemetry's standard variables, read by its SDK; off unless an OTLP endpoint is set):")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tDESCRIPTION")
	for _, v := range tracingVars {
		def := v.def
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.name, def, v.desc)
	}
	tw.Flush()
}

// tracingConfig is what the environment says about exporting.
type tracingConfig struct {
	on       bool
	protocol string // http/protobuf, http/json or grpc
	endpoint string // the URL spans go to, without userinfo, for the log
}

// readTracingConfig reads and checks the variables that decide whether and
// how spans are exported. Its errors name the variable.
func readTracingConfig() (tracingConfig, error) {
	var tc tracingConfig
	if v := strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")); v != "" {
		off, err := strconv.ParseBool(v)
		if err != nil {
			return tc, fmt.Errorf("configuration: OTEL_SDK_DISABLED %q is not true or false", v)
		}
		if off {
			return tc, nil
		}
	}
	switch v := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); v {
	case "", "otlp":
	case "none":
		return tc, nil
	default:
		return tc, fmt.Errorf("configuration: OTEL_TRACES_EXPORTER %q is not supported: use otlp (the default) or none", v)
	}
	name, endpoint := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	if endpoint == "" {
		name, endpoint = "OTEL_EXPORTER_OTLP_ENDPOINT", strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	}
	if endpoint == "" {
		return tc, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The exporters would ignore it and send to localhost instead.
		return tc, fmt.Errorf("configuration: %s must be a URL with scheme http or https and a host, e.g. http://otel-collector:4318", name)
	}
	u.User = nil
	tc.on, tc.endpoint = true, u.String()
	tc.protocol = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if tc.protocol == "" {
		tc.protocol = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	switch tc.protocol {
	case "":
		tc.protocol = "http/protobuf"
	case "http/protobuf", "http/json", "grpc":
	default:
		return tc, fmt.Errorf("configuration: OTEL_EXPORTER_OTLP_PROTOCOL (or OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) %q is not http/protobuf, http/json or grpc", tc.protocol)
	}
	if err := checkSampler(); err != nil {
		return tc, err
	}
	return tc, nil
}

// checkSampler refuses a sampler the SDK would replace with its default,
// with a warning at best.
func checkSampler() error {
	name := strings.ToLower(strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER")))
	switch name {
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
		return nil
	case "traceidratio", "parentbased_traceidratio":
		arg := strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER_ARG"))
		if arg == "" {
			return nil
		}
		if r, err := strconv.ParseFloat(arg, 64); err != nil || r < 0 || r > 1 {
			return fmt.Errorf("configuration: OTEL_TRACES_SAMPLER_ARG %q is not a ratio from 0 to 1", arg)
		}
		return nil
	}
	return fmt.Errorf("configuration: OTEL_TRACES_SAMPLER %q is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio", name)
}

// startTracing builds the tracer provider that exports spans by OTLP, or
// nil when the environment sets no endpoint (tracing off). The provider
// batches spans in memory and exports them in the background; shut it down
// (flushing them) after the Kafka writer closed.
func startTracing(ctx context.Context, log zerolog.Logger) (*sdktrace.TracerProvider, error) {
	tc, err := readTracingConfig()
	if err != nil || !tc.on {
		return nil, err
	}
	// The SDK reports export failures through a global handler, by default
	// the standard logger, whose plain lines would break the JSON log.
	warn := log.Sample(&zerolog.BurstSampler{Burst: 10, Period: time.Minute})
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		warn.Warn().Err(err).Msg("tracing: OpenTelemetry error (spans may be lost; requests are not affected)")
	}))
	var exp sdktrace.SpanExporter
	switch tc.protocol {
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default: // http/protobuf, http/json: the exporter reads which
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP %s exporter: %w", tc.protocol, err)
	}
	v, _, _ := bridge.BuildInfo()
	// Later sources win: the defaults, then OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("webhook-bridge"), semconv.ServiceVersion(v)),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("configuration: OTEL_RESOURCE_ATTRIBUTES or OTEL_SERVICE_NAME: %w", err)
	}
	// The sampler comes from OTEL_TRACES_SAMPLER (checked above), the
	// batching from OTEL_BSP_*.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	log.Info().Str("endpoint", tc.endpoint).Str("protocol", tc.protocol).
		Str("service_name", serviceName(res)).Msg("tracing: exporting spans by OTLP")
	return tp, nil
}

// serviceName is res's service.name.
func serviceName(res *resource.Resource) string {
	v, _ := res.Set().Value(semconv.ServiceNameKey)
	return v.AsString()
}
