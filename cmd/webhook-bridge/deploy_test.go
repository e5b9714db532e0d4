package main

// These tests prove the deployment files valid without a Docker engine or a
// cluster: docker-compose.yml through compose-go's strict loader, the
// Kubernetes kustomization rendered by kustomize's own Go module (as
// `kubectl apply -k` renders it) with every object decoded strictly into the
// k8s.io/api types, the Dockerfile's stages, and the Grafana dashboard
// against the metrics a real bridge.Server exports. They are offline and fast.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	composetypes "github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
)

// repoFile is a path from the repository root; tests run in cmd/webhook-bridge.
func repoFile(parts ...string) string {
	return filepath.Join(append([]string{"..", ".."}, parts...)...)
}

func readRepoFile(t *testing.T, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoFile(parts...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deref formats what p points to, or "unset".
func deref[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprintf("%+v", *p)
}

// configVars maps every BRIDGE_* variable to its Config field.
func configVars() map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		out[envPrefix+"_"+f.Tag.Get("envconfig")] = f
	}
	return out
}

// unknownVars returns the BRIDGE_* names in names that Config does not read.
func unknownVars(names []string) []string {
	known := configVars()
	var out []string
	for _, n := range names {
		if _, ok := known[n]; strings.HasPrefix(n, envPrefix+"_") && !ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func TestKubeAndComposeVarCheckIsAbleToFail(t *testing.T) {
	got := unknownVars([]string{"BRIDGE_HTTP_ADDR", "BRIDGE_NOT_A_SETTING", "GOMEMLIMIT"})
	if diff := cmp.Diff([]string{"BRIDGE_NOT_A_SETTING"}, got); diff != "" {
		t.Errorf("unknownVars (-want +got):\n%s", diff)
	}
}

// defaultShutdownTimeout is BRIDGE_SHUTDOWN_TIMEOUT's default, read from
// Config's tag so that changing the default re-checks the grace periods.
func defaultShutdownTimeout(t *testing.T) time.Duration {
	t.Helper()
	f := configVars()[envPrefix+"_SHUTDOWN_TIMEOUT"]
	d, err := time.ParseDuration(f.Tag.Get("default"))
	if err != nil || d <= 0 {
		t.Fatalf("BRIDGE_SHUTDOWN_TIMEOUT default %q: %v", f.Tag.Get("default"), err)
	}
	return d
}

// configFromEnv loads Config the way the binary does, from exactly env: every
// other BRIDGE_* variable is unset for the test.
func configFromEnv(t *testing.T, env map[string]string) Config {
	t.Helper()
	for name := range configVars() {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatalf("the binary refuses these settings: %v", err)
	}
	return cfg
}

// ---------------------------------------------------------------------------
// docker-compose.yml

// composeEnv is the environment docker-compose.yml is interpolated with.
var composeEnv = map[string]string{"BRIDGE_AUTH_TOKENS": "compose-test-token"}

func loadComposeFile(t *testing.T, file string, env map[string]string, profiles ...string) (*composetypes.Project, error) {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	details := composetypes.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []composetypes.ConfigFile{{Filename: abs}},
		Environment: env,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Validation stays on: the compose-spec JSON schema rejects unknown keys
	// and wrong types, and the consistency check rejects dangling references.
	return loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.Profiles = profiles
	})
}

func loadCompose(t *testing.T, profiles ...string) *composetypes.Project {
	t.Helper()
	p, err := loadComposeFile(t, repoFile("docker-compose.yml"), composeEnv, profiles...)
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

func composeService(t *testing.T, p *composetypes.Project, name string) composetypes.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no active service %q (services: %v, disabled: %v)", name, p.ServiceNames(), slices.Sorted(maps.Keys(p.DisabledServices)))
	}
	return s
}

func envOf(s composetypes.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func TestComposeIsStrict(t *testing.T) {
	orig := string(readRepoFile(t, "docker-compose.yml"))
	tests := []struct {
		name string
		old  string
		new  string
		env  map[string]string
	}{
		{name: "unknown key", old: "\n  bridge:\n", new: "\n  bridge:\n    not_a_compose_key: true\n", env: composeEnv},
		{name: "wrong type", old: "stop_grace_period: 30s", new: "stop_grace_period: [30s]", env: composeEnv},
		{name: "dangling depends_on", old: "      topics:\n        condition: service_completed_successfully", new: "      topicz:\n        condition: service_completed_successfully", env: composeEnv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.old != "" && !strings.Contains(orig, tt.old) {
				t.Fatalf("docker-compose.yml no longer contains %q; update this test", tt.old)
			}
			file := filepath.Join(t.TempDir(), "docker-compose.yml")
			if err := os.WriteFile(file, []byte(strings.Replace(orig, tt.old, tt.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := loadComposeFile(t, file, tt.env); err == nil {
				t.Errorf("the loader accepted docker-compose.yml with %s", tt.name)
			} else {
				t.Logf("refused: %v", err)
			}
		})
	}
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	if got := slices.Sorted(maps.Keys(p.Services)); !cmp.Equal(got, []string{"bridge", "kafka", "topics"}) {
		t.Errorf("default services = %v, want bridge, kafka, topics (others only in profiles)", got)
	}

	kafka := composeService(t, p, "kafka")
	if kafka.Image != "apache/kafka:4.1.1" {
		t.Errorf("kafka image = %q, want the pinned official apache/kafka:4.1.1", kafka.Image)
	}
	kenv := envOf(kafka)
	for k, want := range map[string]string{
		"KAFKA_PROCESS_ROLES":                            "broker,controller",
		"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                "false",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
	} {
		if kenv[k] != want {
			t.Errorf("kafka %s = %q, want %q", k, kenv[k], want)
		}
	}
	for _, k := range []string{"KAFKA_NODE_ID", "KAFKA_LISTENERS", "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_CONTROLLER_LISTENER_NAMES"} {
		if kenv[k] == "" {
			t.Errorf("kafka sets no %s", k)
		}
	}
	if hc := kafka.HealthCheck; hc == nil || hc.Disable || !slices.ContainsFunc(hc.Test, func(s string) bool {
		return strings.HasSuffix(s, "kafka-broker-api-versions.sh")
	}) {
		t.Errorf("kafka healthcheck = %+v, want kafka-broker-api-versions.sh", kafka.HealthCheck)
	}

	tp := composeService(t, p, "topics")
	if diff := cmp.Diff([]string{"topics", "create"}, []string(tp.Command)); diff != "" {
		t.Errorf("topics command (-want +got):\n%s", diff)
	}
	if dep, ok := tp.DependsOn["kafka"]; !ok || dep.Condition != composetypes.ServiceConditionHealthy {
		t.Errorf("topics depends_on kafka = %+v, want condition service_healthy", dep)
	}
	if tp.Restart != composetypes.RestartPolicyNo {
		t.Errorf("topics restart = %q, want \"no\" (a one-shot job)", tp.Restart)
	}

	br := composeService(t, p, "bridge")
	if diff := cmp.Diff([]string{"serve"}, []string(br.Command)); diff != "" {
		t.Errorf("bridge command (-want +got):\n%s", diff)
	}
	if dep, ok := br.DependsOn["topics"]; !ok || dep.Condition != composetypes.ServiceConditionCompletedSuccessfully {
		t.Errorf("bridge depends_on topics = %+v, want condition service_completed_successfully", dep)
	}
	if !slices.ContainsFunc(br.Ports, func(pc composetypes.ServicePortConfig) bool { return pc.Target == 8080 && pc.Published == "8080" }) {
		t.Errorf("bridge ports = %+v, want 8080:8080", br.Ports)
	}
	// The healthcheck asks /readyz on the admin port; the image has no
	// shell, so the binary itself is the probe.
	if env := envOf(br); env["BRIDGE_ADMIN_ADDR"] != ":9090" {
		t.Errorf("bridge BRIDGE_ADMIN_ADDR = %q, want :9090 (the healthcheck and prometheus.yml use it)", env["BRIDGE_ADMIN_ADDR"])
	}
	if slices.ContainsFunc(br.Ports, func(pc composetypes.ServicePortConfig) bool { return pc.Target == 9090 && pc.HostIP != "127.0.0.1" }) {
		t.Errorf("bridge ports = %+v: the admin port is published beyond the host's loopback", br.Ports)
	}
	wantHC := []string{"CMD", "/webhook-bridge", "healthcheck", "http://127.0.0.1:9090/readyz"}
	if br.HealthCheck == nil || !cmp.Equal([]string(br.HealthCheck.Test), wantHC) {
		t.Errorf("bridge healthcheck = %s, want test %q", deref(br.HealthCheck), wantHC)
	}

	for _, name := range []string{"topics", "bridge"} {
		s := composeService(t, p, name)
		if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s: build = %+v, want dockerfile deploy/Dockerfile", name, s.Build)
		} else if ctxDir, _ := filepath.Abs(repoFile()); filepath.Clean(s.Build.Context) != ctxDir {
			t.Errorf("%s: build context %q, want the repository root %q", name, s.Build.Context, ctxDir)
		}
		if s.Image != br.Image {
			t.Errorf("%s image %q differs from bridge's %q: they are one image", name, s.Image, br.Image)
		}
	}
}

func TestComposeEnvironmentUsesTheBinarysNames(t *testing.T) {
	p := loadCompose(t, "*")
	for _, s := range p.Services {
		var names []string
		for k := range s.Environment {
			names = append(names, k)
		}
		if bad := unknownVars(names); len(bad) > 0 {
			t.Errorf("service %s sets %v, which Config does not read", s.Name, bad)
		}
	}
	for _, name := range []string{"topics", "bridge"} {
		env := envOf(composeService(t, p, name))
		if env["BRIDGE_KAFKA_BROKERS"] != "kafka:9092" || env["BRIDGE_TOPIC_REPLICATION"] != "1" {
			t.Errorf("%s: BRIDGE_KAFKA_BROKERS=%q BRIDGE_TOPIC_REPLICATION=%q, want kafka:9092 and 1 (one broker)",
				name, env["BRIDGE_KAFKA_BROKERS"], env["BRIDGE_TOPIC_REPLICATION"])
		}
		if name == "topics" {
			for k := range env {
				if configVars()[k].Tag.Get("secret") == "true" {
					t.Errorf("topics gets the secret %s, which topics create does not need", k)
				}
			}
		}
	}

	br := composeService(t, p, "bridge")
	env := envOf(br)
	if env["BRIDGE_AUTH_TOKENS"] != composeEnv["BRIDGE_AUTH_TOKENS"] {
		t.Errorf("BRIDGE_AUTH_TOKENS = %q, want it interpolated from the environment, never written in the file", env["BRIDGE_AUTH_TOKENS"])
	}
	// The binary accepts exactly these settings, and serve has its credentials.
	cfg := configFromEnv(t, env)
	if _, err := cfg.kafka(); err != nil {
		t.Error(err)
	}
	if a, err := cfg.auth(); err != nil || a == nil {
		t.Errorf("bridge auth = %v, %v; want authentication on", a, err)
	}
	timeout := max(cfg.ShutdownTimeout, defaultShutdownTimeout(t))
	if br.StopGracePeriod == nil || time.Duration(*br.StopGracePeriod) <= timeout {
		t.Errorf("bridge stop_grace_period = %v, want above BRIDGE_SHUTDOWN_TIMEOUT (%s) so Docker never SIGKILLs a draining bridge", deref(br.StopGracePeriod), timeout)
	}
	if _, port, _ := net.SplitHostPort(cfg.HTTPAddr); port != "8080" {
		t.Errorf("bridge listens on %q, but ports and healthcheck use 8080", cfg.HTTPAddr)
	}
}

func TestComposeObservabilityProfile(t *testing.T) {
	def := loadCompose(t)
	obs := loadCompose(t, "observability")
	for _, name := range []string{"prometheus", "grafana"} {
		if _, ok := def.Services[name]; ok {
			t.Errorf("%s runs without the observability profile", name)
		}
		s := composeService(t, obs, name)
		if !slices.Contains(s.Profiles, "observability") {
			t.Errorf("%s profiles = %v, want observability", name, s.Profiles)
		}
		for _, v := range s.Volumes {
			if v.Type == composetypes.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts %s, which does not exist: %v", name, v.Source, err)
				}
			}
		}
	}
	mount := func(svc, target string) string {
		for _, v := range composeService(t, obs, svc).Volumes {
			if v.Target == target {
				return v.Source
			}
		}
		t.Errorf("%s mounts nothing at %s", svc, target)
		return ""
	}
	if src, _ := filepath.Abs(repoFile("deploy", "prometheus", "prometheus.yml")); mount("prometheus", "/etc/prometheus/prometheus.yml") != src {
		t.Errorf("prometheus does not mount deploy/prometheus/prometheus.yml")
	}
	if src, _ := filepath.Abs(repoFile("deploy", "grafana", "provisioning")); mount("grafana", "/etc/grafana/provisioning") != src {
		t.Errorf("grafana does not mount deploy/grafana/provisioning")
	}

	// Prometheus scrapes the bridge's service name and container port.
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			MetricsPath   string `json:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "deploy", "prometheus", "prometheus.yml"), &prom); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	scraped := false
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if slices.Contains(st.Targets, "bridge:9090") && (sc.MetricsPath == "" || sc.MetricsPath == "/metrics") {
				scraped = true
			}
		}
	}
	if !scraped {
		t.Errorf("prometheus.yml does not scrape bridge:9090/metrics (the admin port): %+v", prom.ScrapeConfigs)
	}

	// Grafana's datasource is the prometheus service, and the dashboard
	// provider reads the folder docker-compose.yml mounts dashboard.json in.
	var ds struct {
		Datasources []struct {
			UID  string `json:"uid"`
			Type string `json:"type"`
			URL  string `json:"url"`
		} `json:"datasources"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml"), &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("grafana datasources = %+v, want one prometheus at http://prometheus:9090", ds.Datasources)
	}
	var dp struct {
		Providers []struct {
			Type    string `json:"type"`
			Options struct {
				Path string `json:"path"`
			} `json:"options"`
		} `json:"providers"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "deploy", "grafana", "provisioning", "dashboards", "webhook-bridge.yml"), &dp); err != nil {
		t.Fatal(err)
	}
	dashSrc, _ := filepath.Abs(repoFile("deploy", "grafana", "dashboard.json"))
	found := false
	for _, v := range composeService(t, obs, "grafana").Volumes {
		for _, pr := range dp.Providers {
			if v.Source == dashSrc && pr.Type == "file" && path.Dir(v.Target) == path.Clean(pr.Options.Path) {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("grafana does not mount deploy/grafana/dashboard.json into a provisioned dashboards folder (%+v)", dp.Providers)
	}
}

func TestComposeImagesArePinned(t *testing.T) {
	p := loadCompose(t, "*")
	for _, s := range p.Services {
		if s.Build != nil {
			continue // built here
		}
		if !pinnedImage(s.Image) {
			t.Errorf("service %s uses image %q: pin a version tag (not latest) or a digest", s.Name, s.Image)
		}
	}
}

// pinnedImage reports whether ref names a version tag or a digest.
func pinnedImage(ref string) bool {
	if strings.Contains(ref, "@sha256:") {
		return true
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	i := strings.LastIndex(name, ":")
	return i > 0 && name[i+1:] != "" && name[i+1:] != "latest"
}

// TestComposeWithoutTheToken loads docker-compose.yml in a shell without
// BRIDGE_AUTH_TOKENS, as `docker compose down` or `ps` would: the file must
// load (no ${VAR:?} refusing at parse time), and serve, not compose, refuses
// to start, naming the variable.
func TestComposeWithoutTheToken(t *testing.T) {
	if m := regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*:?\?`).FindString(string(readRepoFile(t, "docker-compose.yml"))); m != "" {
		t.Errorf("docker-compose.yml requires a variable at parse time (%s...}): down and ps would fail without it", m)
	}
	p, err := loadComposeFile(t, repoFile("docker-compose.yml"), map[string]string{})
	if err != nil {
		t.Fatalf("docker-compose.yml without BRIDGE_AUTH_TOKENS: %v", err)
	}
	env := envOf(composeService(t, p, "bridge"))
	if v, ok := env["BRIDGE_AUTH_TOKENS"]; !ok || v != "" {
		t.Errorf("BRIDGE_AUTH_TOKENS = %q (set %v), want it empty when the shell has none", v, ok)
	}
	cfg := configFromEnv(t, env)
	if _, err := cfg.auth(); err == nil || !strings.Contains(err.Error(), "BRIDGE_AUTH_TOKENS") {
		t.Errorf("serve's auth without the token: err = %v, want a refusal naming BRIDGE_AUTH_TOKENS", err)
	}
}

// kafkaListeners parses a Kafka listener list, NAME://host:port,...
func kafkaListeners(t *testing.T, v string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for l := range strings.SplitSeq(v, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(l), "://")
		if !ok {
			t.Fatalf("listener %q is not NAME://host:port", l)
		}
		out[name] = addr
	}
	return out
}

// TestComposeKafkaListeners checks that Kafka serves the containers on
// kafka:9092 and tools on the host on a second listener, which advertises the
// loopback address and port the host reaches it on.
func TestComposeKafkaListeners(t *testing.T) {
	kafka := composeService(t, loadCompose(t), "kafka")
	env := envOf(kafka)
	listeners := kafkaListeners(t, env["KAFKA_LISTENERS"])
	advertised := kafkaListeners(t, env["KAFKA_ADVERTISED_LISTENERS"])
	protocols := map[string]string{}
	for _, kv := range strings.Split(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"], ",") {
		k, v, _ := strings.Cut(kv, ":")
		protocols[k] = v
	}
	for name := range listeners {
		if protocols[name] == "" {
			t.Errorf("listener %s has no security protocol in KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", name)
		}
	}
	if advertised["PLAINTEXT"] != "kafka:9092" || env["KAFKA_INTER_BROKER_LISTENER_NAME"] != "PLAINTEXT" {
		t.Errorf("PLAINTEXT advertises %q (inter-broker listener %q), want kafka:9092, the containers' address", advertised["PLAINTEXT"], env["KAFKA_INTER_BROKER_LISTENER_NAME"])
	}
	if _, ok := advertised[env["KAFKA_CONTROLLER_LISTENER_NAMES"]]; ok {
		t.Error("the controller listener is advertised to clients")
	}
	var hostOnes []string
	for name, addr := range advertised {
		if name == "PLAINTEXT" {
			continue
		}
		hostOnes = append(hostOnes, name)
		host, port, err := net.SplitHostPort(addr)
		if err != nil || (host != "localhost" && host != "127.0.0.1") {
			t.Errorf("listener %s advertises %q, want the host's loopback", name, addr)
			continue
		}
		_, lport, _ := net.SplitHostPort(listeners[name])
		if !slices.ContainsFunc(kafka.Ports, func(pc composetypes.ServicePortConfig) bool {
			return pc.HostIP == "127.0.0.1" && pc.Published == port && strconv.Itoa(int(pc.Target)) == lport
		}) {
			t.Errorf("listener %s listens on :%s and advertises %s, but kafka publishes %+v, not 127.0.0.1:%s:%s", name, lport, addr, kafka.Ports, port, lport)
		}
		// deploy/local/kafka.sh takes 9092 to 9094 on the host.
		if n, _ := strconv.Atoi(port); n >= 9092 && n <= 9094 {
			t.Errorf("listener %s is published on %s, which deploy/local/kafka.sh uses", name, port)
		}
	}
	if len(hostOnes) != 1 {
		t.Errorf("advertised listeners %v: want PLAINTEXT and one for the host", advertised)
	}
	if slices.ContainsFunc(kafka.Ports, func(pc composetypes.ServicePortConfig) bool { return pc.HostIP != "127.0.0.1" }) {
		t.Errorf("kafka ports %+v: publish on the host's loopback only", kafka.Ports)
	}
}

// TestComposeStatesTheEngineVersion checks that a compose file using
// healthcheck start_interval says it needs Docker Engine 25, in its header
// and in docs/operations.md: older engines refuse it.
func TestComposeStatesTheEngineVersion(t *testing.T) {
	uses := false
	for _, s := range loadCompose(t, "*").Services {
		if s.HealthCheck != nil && s.HealthCheck.StartInterval != nil {
			uses = true
		}
	}
	if !uses {
		t.Skip("no healthcheck sets start_interval")
	}
	header := string(readRepoFile(t, "docker-compose.yml"))
	header = header[:strings.Index(header, "\nname:")]
	ops := string(readRepoFile(t, "docs", "operations.md"))
	for name, text := range map[string]string{"docker-compose.yml's header": strings.Join(strings.Fields(strings.ReplaceAll(header, "#", "")), " "), "docs/operations.md": strings.Join(strings.Fields(ops), " ")} {
		if !strings.Contains(text, "Docker Engine 25 or later") || !strings.Contains(text, "start_interval") {
			t.Errorf("%s does not say that start_interval needs Docker Engine 25 or later", name)
		}
	}
}

// TestDockerImageHealthCheckStory checks that the Dockerfile, docker-compose.yml,
// the README and docs/operations.md tell one story: the image has no
// HEALTHCHECK, and compose's healthcheck runs `/webhook-bridge healthcheck`
// against the admin port's /readyz.
func TestDockerImageHealthCheckStory(t *testing.T) {
	for _, st := range parseDockerfile(t, readRepoFile(t, "deploy", "Dockerfile")) {
		for _, in := range st {
			if in.cmd == "HEALTHCHECK" {
				t.Errorf("deploy/Dockerfile has HEALTHCHECK %s: the docs say the image has none", in.args)
			}
		}
	}
	br := composeService(t, loadCompose(t), "bridge")
	hc := br.HealthCheck
	_, adminPort, _ := net.SplitHostPort(envOf(br)["BRIDGE_ADMIN_ADDR"])
	if hc == nil || len(hc.Test) < 4 || hc.Test[1] != "/webhook-bridge" || hc.Test[2] != "healthcheck" ||
		!strings.HasSuffix(hc.Test[3], ":"+adminPort+"/readyz") {
		t.Errorf("bridge healthcheck = %s, want /webhook-bridge healthcheck on the admin port's /readyz", deref(hc))
	}
	normalize := func(b []byte) string {
		return strings.Join(strings.Fields(strings.ReplaceAll(string(b), "#", "")), " ")
	}
	for _, f := range []struct {
		name string
		text string
		want []string
	}{
		{"deploy/Dockerfile", normalize(readRepoFile(t, "deploy", "Dockerfile")), []string{"No HEALTHCHECK", "healthcheck"}},
		{"docker-compose.yml", normalize(readRepoFile(t, "docker-compose.yml")), []string{"no HEALTHCHECK", "/webhook-bridge healthcheck", "/readyz"}},
		{"README.md", normalize(readRepoFile(t, "README.md")), []string{"no `HEALTHCHECK`", "webhook-bridge healthcheck", "/readyz"}},
		{"docs/operations.md", normalize(readRepoFile(t, "docs", "operations.md")), []string{"no `HEALTHCHECK`", "webhook-bridge healthcheck", "/readyz"}},
	} {
		for _, w := range f.want {
			if !strings.Contains(f.text, w) {
				t.Errorf("%s does not say %q", f.name, w)
			}
		}
		if m := regexp.MustCompile(`(?i)image (has|ships|includes|with) a (docker )?health ?check`).FindString(f.text); m != "" {
			t.Errorf("%s says %q: the image has no HEALTHCHECK", f.name, m)
		}
	}
}

// TestComposeHealthcheckRunsTheBinary runs the bridge's compose healthcheck
// command (the image has no shell or curl) against a server that is ready,
// then against one that is not.
func TestComposeHealthcheckRunsTheBinary(t *testing.T) {
	hc := composeService(t, loadCompose(t), "bridge").HealthCheck
	if hc == nil || len(hc.Test) < 3 || hc.Test[0] != "CMD" || hc.Test[1] != "/webhook-bridge" {
		t.Fatalf("bridge healthcheck = %+v, want [CMD /webhook-bridge ...]", hc)
	}
	args := slices.Clone(hc.Test[2:])
	i := slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, "http://") })
	if i < 0 {
		t.Fatalf("bridge healthcheck %q names no URL", hc.Test)
	}
	if u := args[i]; !strings.HasSuffix(u, "/readyz") {
		t.Errorf("bridge healthcheck asks %s, want /readyz", u)
	}
	for _, tt := range []struct {
		status  int
		wantErr bool
	}{{http.StatusOK, false}, {http.StatusServiceUnavailable, true}} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/readyz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(tt.status)
		}))
		args[i] = ts.URL + "/readyz"
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := run(ctx, args, io.Discard, io.Discard)
		cancel()
		ts.Close()
		if (err != nil) != tt.wantErr {
			t.Errorf("webhook-bridge %q against a %d: err = %v, want error %v", args, tt.status, err, tt.wantErr)
		}
	}
}

// TestComposeHeaderExampleIsAccepted posts the webhook that
// docker-compose.yml's header tells SREs to send, with its token header.
func TestComposeHeaderExampleIsAccepted(t *testing.T) {
	header := string(readRepoFile(t, "docker-compose.yml"))
	m := regexp.MustCompile(`(?s)-H "([^":]+): \$BRIDGE_AUTH_TOKENS".*?-d '(\{[^']*\})'`).FindStringSubmatch(header)
	if m == nil {
		t.Fatal("docker-compose.yml's header shows no curl line with a token header and a JSON body")
	}
	srv := newDeployBridge(t, &nopPublisher{})
	req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(m[2]))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(m[1], deployToken)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Errorf("the header's example got %d %s, want 202", rec.Code, rec.Body)
	}
}

// ---------------------------------------------------------------------------
// deploy/kubernetes, rendered as `kubectl apply -k` renders it

// kubeDir is where kubeFS puts deploy/kubernetes.
const kubeDir = "/repo/deploy/kubernetes"

// kubeSecretName is the Secret the pods read, made out of band.
const kubeSecretName = "webhook-bridge"

// Names of the generated ConfigMaps in kustomization.yaml, before kustomize
// adds their hashes.
const (
	kubeConfigMap       = "webhook-bridge"
	kubeTopicsConfigMap = "webhook-bridge-topics"
	// kubeImageKey is the topics ConfigMap's key that holds the Job's image.
	kubeImageKey = "WEBHOOK_BRIDGE_IMAGE"
)

// kubeManifests are the objects of deploy/kubernetes as kustomize renders
// them, each decoded strictly into its k8s.io/api type.
type kubeManifests struct {
	kust        types.Kustomization // kustomization.yaml itself
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	configMaps  []*corev1.ConfigMap
	secrets     []*corev1.Secret
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
	jobs        []*batchv1.Job
	rendered    string // the whole output, as kubectl would apply it
}

// decodeStrict decodes one YAML document into v, failing on unknown or
// misspelt fields and duplicate keys.
func decodeStrict(data []byte, v any) error {
	if docs := regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1); len(slices.DeleteFunc(docs, func(d string) bool {
		return strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(d, "")) == ""
	})) != 1 {
		return errors.New("want exactly one YAML document per file")
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	// The API server's own decoder: unlike encoding/json it matches field
	// names case-sensitively, so "Selector" is an unknown field, not selector.
	strictErrs, err := kjson.UnmarshalStrict(js, v, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// decodeManifest decodes a Kubernetes object strictly into its k8s.io/api type.
func decodeManifest(data []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(data, &tm); err != nil {
		return nil, err
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "v1 Service":
		obj = &corev1.Service{}
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1 Secret":
		obj = &corev1.Secret{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		obj = &autoscalingv2.HorizontalPodAutoscaler{}
	case "policy/v1 PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	case "batch/v1 Job":
		obj = &batchv1.Job{}
	default:
		return nil, errors.New("unexpected apiVersion/kind " + strconv.Quote(tm.APIVersion+" "+tm.Kind))
	}
	return obj, decodeStrict(data, obj)
}

// kubeFS copies deploy/kubernetes to kubeDir of an in-memory file system, so
// that a test can change a file or add an overlay next to it. secret.env, a
// developer's filled-in Secret that git ignores, stays behind.
func kubeFS(t *testing.T) filesys.FileSystem {
	t.Helper()
	fsys := filesys.MakeFsInMemory()
	entries, err := os.ReadDir(repoFile("deploy", "kubernetes"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "secret.env" {
			continue
		}
		if err := fsys.WriteFile(path.Join(kubeDir, e.Name()), readRepoFile(t, "deploy", "kubernetes", e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return fsys
}

// writeKubeFile writes a file of the in-memory file system.
func writeKubeFile(t *testing.T, fsys filesys.FileSystem, name, content string) {
	t.Helper()
	if err := fsys.WriteFile(name, []byte(content)); err != nil {
		t.Fatal(err)
	}
}

// editKubeFile replaces old, which must be there, by new in a file of kubeDir.
func editKubeFile(t *testing.T, fsys filesys.FileSystem, name, old, new string) {
	t.Helper()
	b, err := fsys.ReadFile(path.Join(kubeDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s no longer contains %q; update this test", name, old)
	}
	writeKubeFile(t, fsys, path.Join(kubeDir, name), strings.Replace(string(b), old, new, 1))
}

// renderKube runs kustomize on dir of fsys, as `kubectl apply -k` does, and
// decodes every object strictly into its k8s.io/api type.
func renderKube(t *testing.T, fsys filesys.FileSystem, dir string) kubeManifests {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var m kubeManifests
	for _, r := range rm.Resources() {
		data, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		m.rendered += "---\n" + string(data)
		obj, err := decodeManifest(data)
		if err != nil {
			t.Errorf("%s %s: %v", r.GetKind(), r.GetName(), err)
			continue
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			m.deployments = append(m.deployments, o)
		case *corev1.Service:
			m.services = append(m.services, o)
		case *corev1.ConfigMap:
			m.configMaps = append(m.configMaps, o)
		case *corev1.Secret:
			m.secrets = append(m.secrets, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			m.hpas = append(m.hpas, o)
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, o)
		case *batchv1.Job:
			m.jobs = append(m.jobs, o)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return m
}

// loadKube renders deploy/kubernetes and checks it holds one of each object,
// two ConfigMaps and no Secret.
func loadKube(t *testing.T) kubeManifests {
	t.Helper()
	var kust types.Kustomization
	if err := decodeStrict(readRepoFile(t, "deploy", "kubernetes", "kustomization.yaml"), &kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	m := renderKube(t, kubeFS(t), kubeDir)
	m.kust = kust
	for what, c := range map[string]struct{ got, want int }{
		"Deployment": {len(m.deployments), 1}, "Service": {len(m.services), 1}, "ConfigMap": {len(m.configMaps), 2},
		"Secret": {len(m.secrets), 0}, "HorizontalPodAutoscaler": {len(m.hpas), 1},
		"PodDisruptionBudget": {len(m.pdbs), 1}, "Job": {len(m.jobs), 1},
	} {
		if c.got != c.want {
			t.Fatalf("deploy/kubernetes renders %d %s, want %d", c.got, what, c.want)
		}
	}
	return m
}

// configMap is the rendered ConfigMap of the generator named gen.
func (m kubeManifests) configMap(t *testing.T, gen string) *corev1.ConfigMap {
	t.Helper()
	for _, cm := range m.configMaps {
		if hashedName(gen).MatchString(cm.Name) {
			return cm
		}
	}
	var names []string
	for _, cm := range m.configMaps {
		names = append(names, cm.Name)
	}
	t.Fatalf("no ConfigMap %s-<hash> rendered, only %v", gen, names)
	return nil
}

func TestKubeManifestsDecodeStrictly(t *testing.T) {
	loadKube(t)
	// Strict decoding is what catches a misspelt field: prove it does.
	bad := []struct{ name, doc string }{
		{"unknown field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n"},
		{"wrong case", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  Selector: {a: b}\n"},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {A: b}\ndata: {C: d}\n"},
		{"two documents", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\n"},
		{"unexpected kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"},
	}
	for _, b := range bad {
		if _, err := decodeManifest([]byte(b.doc)); err == nil {
			t.Errorf("%s: decoded without an error", b.name)
		} else {
			t.Logf("%s refused: %v", b.name, err)
		}
	}
	// kustomize keeps a field it does not know, so the rendered objects are
	// decoded strictly too.
	fsys := kubeFS(t)
	editKubeFile(t, fsys, "pdb.yaml", "  minAvailable: 1\n", "  minAvailable: 1\n  minAvailabel: 1\n")
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, kubeDir)
	if err != nil {
		t.Fatal(err)
	}
	refused := false
	for _, r := range rm.Resources() {
		data, _ := r.AsYAML()
		if _, err := decodeManifest(data); err != nil {
			refused = true
			t.Logf("misspelt field refused after rendering: %v", err)
		}
	}
	if !refused {
		t.Error("a misspelt field survived kustomize and strict decoding")
	}
}

func TestKubeKustomizationListsEveryFile(t *testing.T) {
	m := loadKube(t)
	if m.kust.APIVersion != "kustomize.config.k8s.io/v1beta1" || m.kust.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml is %s %s", m.kust.APIVersion, m.kust.Kind)
	}
	// Every YAML file of the folder is a resource, kustomize configuration,
	// or a Prometheus Operator object applied on its own.
	var files []string
	entries, err := os.ReadDir(repoFile("deploy", "kubernetes"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") && e.Name() != "kustomization.yaml" &&
			!operatorManifest(t, e.Name()) && !slices.Contains(m.kust.Configurations, e.Name()) {
			files = append(files, e.Name())
		}
	}
	if diff := cmp.Diff(slices.Sorted(slices.Values(files)), slices.Sorted(slices.Values(m.kust.Resources))); diff != "" {
		t.Errorf("kustomization.yaml resources differ from the folder's YAML files (-files +resources):\n%s", diff)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(m.kust.Resources)))) != len(m.kust.Resources) {
		t.Errorf("kustomization.yaml lists a file twice: %v", m.kust.Resources)
	}
}

// kubeVersion is the release, from deploy/VERSION.
func kubeVersion(t *testing.T) string {
	t.Helper()
	v := strings.TrimSpace(string(readRepoFile(t, "deploy", "VERSION")))
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(v) {
		t.Fatalf("VERSION %q is not a release version like v1.2.3", v)
	}
	return v
}

// TestKubeImageIsTheRelease checks that the kustomization runs the release
// of VERSION, not latest: with a pinned tag, IfNotPresent pulls each release
// once per node.
func TestKubeImageIsTheRelease(t *testing.T) {
	m := loadKube(t)
	version := kubeVersion(t)
	if len(m.kust.Images) != 1 {
		t.Fatalf("kustomization.yaml images = %+v, want one entry", m.kust.Images)
	}
	img := m.kust.Images[0]
	if img.Name != "webhook-bridge" || img.NewTag != version || img.Digest != "" {
		t.Errorf("kustomization.yaml images = %+v, want webhook-bridge with newTag %s (VERSION)", img, version)
	}
	want := img.NewName + ":" + version
	var images []string
	for _, d := range m.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			images = append(images, c.Image)
		}
	}
	for _, j := range m.jobs {
		for _, c := range j.Spec.Template.Spec.Containers {
			images = append(images, c.Image)
		}
	}
	images = append(images, m.configMap(t, kubeTopicsConfigMap).Data[kubeImageKey])
	for _, got := range images {
		if got != want || !pinnedImage(got) {
			t.Errorf("rendered image %q, want %s (VERSION)", got, want)
		}
	}
}

// checkSecurityContext checks one container's effective security settings.
func checkSecurityContext(t *testing.T, what string, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if sc == nil {
		t.Errorf("%s: container %s has no securityContext", what, c.Name)
		return
	}
	nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
	if !nonRoot {
		t.Errorf("%s: runAsNonRoot is not true", what)
	}
	uid := sc.RunAsUser
	if uid == nil {
		uid = psc.RunAsUser
	}
	if uid == nil || *uid != 65532 {
		t.Errorf("%s: runAsUser = %v, want 65532 (the image's nonroot user)", what, uid)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem is not true", what)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation is not false", what)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privileged", what)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities = %+v, want drop ALL and add none", what, sc.Capabilities)
	}
	sp := sc.SeccompProfile
	if sp == nil {
		sp = psc.SeccompProfile
	}
	if sp == nil || sp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile = %+v, want RuntimeDefault", what, sp)
	}
}

// checkEnvFrom checks that a container reads the generated ConfigMap
// configMap and the Secret made out of band, and sets no BRIDGE_* variable
// Config does not know.
func checkEnvFrom(t *testing.T, what string, c corev1.Container, configMap string) {
	t.Helper()
	var cms, secs []string
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil {
			cms = append(cms, e.ConfigMapRef.Name)
		}
		if e.SecretRef != nil {
			secs = append(secs, e.SecretRef.Name)
			if e.SecretRef.Optional != nil && *e.SecretRef.Optional {
				t.Errorf("%s: the Secret is optional: without it the pods would start and be refused for want of credentials, instead of waiting for it", what)
			}
		}
	}
	if !cmp.Equal(cms, []string{configMap}) || !cmp.Equal(secs, []string{kubeSecretName}) {
		t.Errorf("%s: envFrom configMaps %v secrets %v, want %s and %s", what, cms, secs, configMap, kubeSecretName)
	}
	for _, e := range c.Env {
		if bad := unknownVars([]string{e.Name}); len(bad) > 0 {
			t.Errorf("%s: env %s is not a Config variable", what, e.Name)
		}
	}
}

// readEnvFile reads a kustomize or `kubectl create secret --from-env-file`
// env file: VAR=value lines, # comments, values taken as written.
func readEnvFile(t *testing.T, parts ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for line := range strings.Lines(string(readRepoFile(t, parts...))) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not VAR=value", path.Join(parts...), line)
		}
		if _, dup := out[k]; dup {
			t.Errorf("%s sets %s twice", path.Join(parts...), k)
		}
		out[k] = v
	}
	return out
}

// kubeSecretTemplate is secret.env.example: what the out-of-band Secret holds.
func kubeSecretTemplate(t *testing.T) map[string]string {
	t.Helper()
	return readEnvFile(t, "deploy", "kubernetes", "secret.env.example")
}

// kubeConfig is the Config the pods get from the rendered ConfigMap and the
// Secret made from secret.env.example, placeholders and all.
func kubeConfig(t *testing.T, m kubeManifests) Config {
	t.Helper()
	env := maps.Clone(m.configMap(t, kubeConfigMap).Data)
	maps.Copy(env, kubeSecretTemplate(t))
	return configFromEnv(t, env)
}

func TestKubeDeployment(t *testing.T) {
	m := loadKube(t)
	d := m.deployments[0]
	pod := d.Spec.Template.Spec
	cfg := kubeConfig(t, m)

	if ru := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
		ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" {
		t.Errorf("strategy = %+v, want RollingUpdate with maxUnavailable 0", d.Spec.Strategy)
	}
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the selector %v does not match the pod labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	timeout := max(cfg.ShutdownTimeout, defaultShutdownTimeout(t))
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= timeout {
		t.Errorf("terminationGracePeriodSeconds = %s, want above BRIDGE_SHUTDOWN_TIMEOUT (%s)", deref(g), timeout)
	}
	if len(pod.TopologySpreadConstraints) == 0 && (pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil) {
		t.Error("no topologySpreadConstraints or podAntiAffinity: both replicas may land on one node")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if !cmp.Equal(c.Args, []string{"serve"}) || len(c.Command) > 0 {
		t.Errorf("command %q args %q, want the image's entrypoint with args [serve]", c.Command, c.Args)
	}
	// Probes ask the admin port; the webhook port serves webhooks only.
	_, port, _ := net.SplitHostPort(cfg.AdminAddr)
	probe := func(name string, p *corev1.Probe, wantPath string) {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: none, want GET %s", name, wantPath)
			return
		}
		if p.HTTPGet.Path != wantPath {
			t.Errorf("%s probe path = %q, want %q", name, p.HTTPGet.Path, wantPath)
		}
		if got := containerPort(c, p.HTTPGet.Port); strconv.Itoa(int(got)) != port {
			t.Errorf("%s probe port %s is %d, but BRIDGE_ADMIN_ADDR is %q", name, p.HTTPGet.Port.String(), got, cfg.AdminAddr)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	if c.StartupProbe != nil {
		probe("startup", c.StartupProbe, "/healthz")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || !okLim || req.Cmp(lim) > 0 {
			t.Errorf("%s: request %v limit %v, want both, request at most the limit", r, req.String(), lim.String())
		}
	}
	// docs/performance.md measures serve at GOMAXPROCS 1, which Go (1.25
	// and later) derives from a CPU limit of one CPU: a limit above it, or
	// a GOMAXPROCS of its own, would run the bridge in a way not measured.
	if lim, ok := c.Resources.Limits[corev1.ResourceCPU]; !ok || lim.MilliValue() != 1000 {
		t.Errorf("CPU limit %v, want 1: docs/performance.md measured the GOMAXPROCS it gives", lim.String())
	}
	for _, e := range c.Env {
		if e.Name == "GOMAXPROCS" {
			t.Errorf("the container sets GOMAXPROCS=%q: the CPU limit decides it (docs/performance.md)", e.Value)
		}
	}
	checkSecurityContext(t, "deployment", pod, c)
	checkEnvFrom(t, "deployment", c, m.configMap(t, kubeConfigMap).Name)
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not false: the bridge never talks to the API server")
	}
}

// The rules of the memory arithmetic in docs/operations.md, "Memory".
const (
	memRequestHeadroom = 1.2  // the request: the normal peak and a fifth more
	memRequestStep     = 32   // MiB: the request rounded up to a multiple
	memLimitShare      = 0.85 // GOMEMLIMIT's share of the limit; the limit is the worst case over it
	memLimitStep       = 64   // MiB: the limit rounded up to a multiple
	memMeasuredDedup   = 100000
)

// memTerm is one row of docs/operations.md's memory table.
type memTerm struct {
	term      string
	mib       float64
	inRequest bool
}

// memoryTerms reads the table of the "### Memory" section.
func memoryTerms(t *testing.T) ([]memTerm, string) {
	t.Helper()
	doc := string(readRepoFile(t, "docs", "operations.md"))
	i := strings.Index(doc, "\n### Memory\n")
	if i < 0 {
		t.Fatal("docs/operations.md has no ### Memory section")
	}
	sec := doc[i+1:]
	if j := strings.Index(sec[1:], "\n#"); j >= 0 {
		sec = sec[:j+1]
	}
	var terms []memTerm
	for line := range strings.Lines(sec) {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 4 {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(cells[1]), 64)
		if err != nil {
			continue // the header and its rule
		}
		in := strings.TrimSpace(cells[2])
		if in != "request, limit" && in != "limit" {
			t.Fatalf("memory table: %q is counted in %q, want \"request, limit\" or \"limit\"", cells[0], in)
		}
		terms = append(terms, memTerm{term: strings.TrimSpace(cells[0]), mib: v, inRequest: in == "request, limit"})
	}
	if len(terms) == 0 {
		t.Fatal("docs/operations.md's Memory section has no table of terms")
	}
	return terms, sec
}

// roundTo rounds a number of MiB to one decimal, as the docs write them.
func roundTo(mib float64) float64 { return math.Round(mib*10) / 10 }

// TestKubeMemoryMatchesTheDocs redoes the arithmetic of docs/operations.md
// from its table of measured terms and checks the Deployment's memory
// request, limit and GOMEMLIMIT against it, the docs' results, and the
// settings the terms assume.
func TestKubeMemoryMatchesTheDocs(t *testing.T) {
	m := loadKube(t)
	cfg := kubeConfig(t, m)
	terms, sec := memoryTerms(t)
	var normal, worst, inflight, conns float64
	for _, tm := range terms {
		worst += tm.mib
		if tm.inRequest {
			normal += tm.mib
		}
		switch {
		case strings.Contains(tm.term, "BRIDGE_HTTP_MAX_CONNS"):
			conns += tm.mib
			mt := regexp.MustCompile(`BRIDGE_HTTP_MAX_CONNS.*?([\d,]+) × ([\d.]+) KiB`).FindStringSubmatch(tm.term)
			if mt == nil {
				t.Fatalf("memory table: %q does not say connections × KiB", tm.term)
			}
			n, _ := strconv.Atoi(strings.ReplaceAll(mt[1], ",", ""))
			kib, _ := strconv.ParseFloat(mt[2], 64)
			if n != cfg.HTTPMaxConns {
				t.Errorf("memory table counts %d connections, config.env allows %d", n, cfg.HTTPMaxConns)
			}
			if want := roundTo(float64(n) * kib / 1024); tm.mib != want {
				t.Errorf("memory table: %d × %.1f KiB is %.1f MiB, not %.1f", n, kib, want, tm.mib)
			}
		case !tm.inRequest:
			inflight += tm.mib
		}
	}
	// Bodies and the records that embed them, both within the budget.
	if want := 2 * float64(cfg.MaxInFlightBytes) / (1 << 20); inflight != want {
		t.Errorf("memory table counts %.1f MiB in flight, want twice BRIDGE_MAX_INFLIGHT_BYTES (%d): %.1f", inflight, cfg.MaxInFlightBytes, want)
	}
	if conns == 0 {
		t.Error("memory table has no BRIDGE_HTTP_MAX_CONNS row")
	}
	if cfg.DedupMaxEntries != memMeasuredDedup {
		t.Errorf("BRIDGE_DEDUP_MAX_ENTRIES is %d, but the measured peak had %d ids", cfg.DedupMaxEntries, memMeasuredDedup)
	}

	request := int64(math.Ceil(normal*memRequestHeadroom/memRequestStep)) * memRequestStep
	limit := int64(math.Ceil(worst/memLimitShare/memLimitStep)) * memLimitStep
	goMemLimit := int64(math.Floor(memLimitShare * float64(limit)))
	if float64(goMemLimit) < worst {
		t.Errorf("GOMEMLIMIT %d MiB is below the worst case %.1f MiB: a full load would collect without pause", goMemLimit, worst)
	}
	t.Logf("normal %.1f MiB → request %dMi; worst case %.1f MiB → limit %dMi; GOMEMLIMIT %dMiB", normal, request, worst, limit, goMemLimit)

	// The docs show these results.
	for _, want := range []string{
		fmt.Sprintf("= %.1f MiB → %dMi ", roundTo(normal*memRequestHeadroom), request),
		fmt.Sprintf("= %.1f MiB\n", roundTo(worst)),
		fmt.Sprintf("= %.1f MiB → %dMi ", roundTo(worst/memLimitShare), limit),
		fmt.Sprintf("= %.1f MiB → %dMiB ", roundTo(memLimitShare*float64(limit)), goMemLimit),
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("docs/operations.md's arithmetic does not show %q", want)
		}
	}

	// The Deployment has them.
	c := m.deployments[0].Spec.Template.Spec.Containers[0]
	for what, q := range map[string]struct {
		got  resource.Quantity
		want int64
	}{
		"requests.memory": {c.Resources.Requests[corev1.ResourceMemory], request},
		"limits.memory":   {c.Resources.Limits[corev1.ResourceMemory], limit},
	} {
		if want := resource.MustParse(fmt.Sprintf("%dMi", q.want)); q.got.Cmp(want) != 0 {
			t.Errorf("%s = %s, want %s (docs/operations.md, Memory)", what, q.got.String(), want.String())
		}
	}
	var gml *corev1.EnvVar
	for i, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			gml = &c.Env[i]
		}
	}
	if want := fmt.Sprintf("%dMiB", goMemLimit); gml == nil || gml.ValueFrom != nil || gml.Value != want {
		t.Errorf("GOMEMLIMIT = %+v, want the value %s (docs/operations.md, Memory)", gml, want)
	}
}

// containerPort resolves a probe's or Service's port (number or name).
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}

func TestKubeServiceHPAAndPDB(t *testing.T) {
	m := loadKube(t)
	d := m.deployments[0]
	podLabels := labels.Set(d.Spec.Template.Labels)
	c := d.Spec.Template.Spec.Containers[0]

	svc := m.services[0]
	if len(svc.Spec.Selector) == 0 {
		t.Error("the Service selects nothing")
	}
	for k, v := range svc.Spec.Selector {
		if podLabels[k] != v {
			t.Errorf("the Service selects %s=%s, which the Deployment's pods lack", k, v)
		}
	}
	for _, job := range m.jobs {
		jl := labels.Set(job.Spec.Template.Labels)
		matches := len(svc.Spec.Selector) > 0
		for k, v := range svc.Spec.Selector {
			matches = matches && jl[k] == v
		}
		if matches {
			t.Errorf("the Service also selects the %s Job's pods", job.Name)
		}
	}
	if len(svc.Spec.Ports) == 0 || containerPort(c, svc.Spec.Ports[0].TargetPort) != 8080 {
		t.Errorf("Service ports %+v do not reach the container's 8080", svc.Spec.Ports)
	}

	hpa := m.hpas[0]
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("HPA targets %+v, want apps/v1 Deployment %s", ref, d.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("HPA replicas %s..%d, want at least 2", deref(hpa.Spec.MinReplicas), hpa.Spec.MaxReplicas)
	}
	if !slices.ContainsFunc(hpa.Spec.Metrics, func(ms autoscalingv2.MetricSpec) bool {
		return ms.Type == autoscalingv2.ResourceMetricSourceType && ms.Resource != nil && ms.Resource.Name == corev1.ResourceCPU
	}) {
		t.Errorf("HPA metrics %+v, want CPU", hpa.Spec.Metrics)
	}
	// The HPA owns the count: a replicas field would reset it at each apply.
	if d.Spec.Replicas != nil {
		t.Errorf("the Deployment sets replicas: %d while the HPA scales it: every apply would reset the count", *d.Spec.Replicas)
	}

	pdb := m.pdbs[0]
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(1) {
		t.Errorf("PDB minAvailable = %s, want 1", deref(pdb.Spec.MinAvailable))
	}
	if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(podLabels) {
		t.Errorf("PDB selector %v does not select the Deployment's pods", pdb.Spec.Selector)
	}
}

// kubeSecretProblems lists what makes a rendering unsafe to apply over a
// Secret made out of band: any Secret in it (a tracked file's or a
// generator's), and any placeholder.
func kubeSecretProblems(m kubeManifests) []string {
	var out []string
	for _, s := range m.secrets {
		out = append(out, fmt.Sprintf("it holds Secret %s: an apply would overwrite the real one", s.Name))
	}
	if strings.Contains(m.rendered, "REPLACE_ME") {
		out = append(out, "it holds the placeholder REPLACE_ME")
	}
	return out
}

// TestKubeSecretIsMadeOutOfBand checks that applying the kustomization never
// overwrites the Secret, that the pods read it by its fixed name, and that
// its template, secret.env.example, stays a template serve refuses.
func TestKubeSecretIsMadeOutOfBand(t *testing.T) {
	m := loadKube(t)
	for _, p := range kubeSecretProblems(m) {
		t.Errorf("deploy/kubernetes: %s", p)
	}
	if len(m.kust.SecretGenerator) > 0 {
		t.Errorf("kustomization.yaml has a secretGenerator: the Secret is made out of band (secret.env.example)")
	}
	// No tracked file of the folder is a Secret, listed or not.
	entries, err := os.ReadDir(repoFile("deploy", "kubernetes"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); ext == ".yaml" || ext == ".yml" {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(readRepoFile(t, "deploy", "kubernetes", e.Name()), &tm); err != nil || tm.Kind == "Secret" {
				t.Errorf("%s is a Secret (%v): make it out of band from secret.env.example", e.Name(), err)
			}
		}
	}
	checkEnvFrom(t, "job", m.jobs[0].Spec.Template.Spec.Containers[0], m.configMap(t, kubeTopicsConfigMap).Name)

	// The filled-in copy is never committed nor sent to the image build.
	var ignore []string
	for l := range strings.Lines(string(readRepoFile(t, ".gitignore"))) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			ignore = append(ignore, l)
		}
	}
	if !gitIgnored(ignore, "deploy/kubernetes/secret.env") || gitIgnored(ignore, "deploy/kubernetes/secret.env.example") {
		t.Error(".gitignore does not ignore deploy/kubernetes/secret.env, the filled-in Secret, or ignores its template")
	}

	// The template: secrets only, every value a placeholder serve refuses.
	tmpl := kubeSecretTemplate(t)
	if len(tmpl) == 0 {
		t.Fatal("secret.env.example sets nothing")
	}
	vars := configVars()
	for k, v := range tmpl {
		if f, ok := vars[k]; !ok || f.Tag.Get("secret") != "true" {
			t.Errorf("secret.env.example sets %s, which is not a secret Config variable", k)
		}
		if v != "REPLACE_ME" {
			t.Errorf("secret.env.example %s = %q, want the placeholder REPLACE_ME: it is tracked by git", k, v)
		}
	}
	cfg := kubeConfig(t, m)
	if _, err := cfg.kafka(); err != nil {
		t.Error(err)
	}
	if _, err := cfg.auth(); err == nil || !strings.Contains(err.Error(), "REPLACE_ME") {
		t.Errorf("auth from the unfilled template: err = %v, want a refusal naming REPLACE_ME", err)
	}
	// Filled in as its header says, it turns authentication on.
	filled := strings.Repeat("0123456789abcdef", 4)
	for i := range cfg.AuthTokens {
		cfg.AuthTokens[i] = filled
	}
	if err := cfg.checkSecretStrength(); err != nil {
		t.Error(err)
	}
	if a, err := cfg.auth(); err != nil || a == nil {
		t.Errorf("auth from the filled Secret = %v, %v; want authentication on", a, err)
	}

	// The check fails on a Secret from a tracked file.
	fsys := kubeFS(t)
	writeKubeFile(t, fsys, path.Join(kubeDir, "secret.yaml"),
		"apiVersion: v1\nkind: Secret\nmetadata: {name: webhook-bridge}\nstringData: {BRIDGE_AUTH_TOKENS: REPLACE_ME}\n")
	editKubeFile(t, fsys, "kustomization.yaml", "\nresources:\n", "\nresources:\n  - secret.yaml\n")
	if got := kubeSecretProblems(renderKube(t, fsys, kubeDir)); len(got) != 2 {
		t.Errorf("a Secret template in the kustomization: problems %q, want the Secret and its placeholder", got)
	}
}

// gitIgnored applies .gitignore patterns to a slash path: as dockerIgnored,
// except that a pattern without a slash matches a name in any folder.
func gitIgnored(patterns []string, file string) bool {
	ignored := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		match := matchIgnore(strings.TrimPrefix(p, "/"), file)
		if !strings.Contains(strings.TrimSuffix(p, "/"), "/") {
			for part := range strings.SplitSeq(file, "/") {
				if ok, _ := path.Match(p, part); ok {
					match = true
				}
			}
		}
		if match {
			ignored = !neg
		}
	}
	return ignored
}

// hashedName matches a generated name: the generator's, a dash and the
// 10-character content hash kustomize appends.
func hashedName(orig string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(orig) + `-[bcdfghkmt2-9]{10}$`)
}

// TestKubeConfigMapIsGenerated checks that config.env becomes a ConfigMap
// named by its content which the pods read: a changed setting changes the
// pod template, so the Deployment rolls its pods.
func TestKubeConfigMapIsGenerated(t *testing.T) {
	m := loadKube(t)
	if m.kust.GeneratorOptions != nil && m.kust.GeneratorOptions.DisableNameSuffixHash {
		t.Error("generatorOptions disables the name hashes")
	}
	cm, topicsCM := m.configMap(t, kubeConfigMap), m.configMap(t, kubeTopicsConfigMap)
	for _, c := range []*corev1.ConfigMap{cm, topicsCM} {
		if len(c.BinaryData) > 0 {
			t.Errorf("ConfigMap %s has binaryData", c.Name)
		}
	}
	vars := configVars()
	for k := range cm.Data {
		f, ok := vars[k]
		switch {
		case !ok:
			t.Errorf("config.env sets %s, which Config does not read", k)
		case f.Tag.Get("secret") == "true":
			t.Errorf("config.env sets the secret %s: it belongs in the Secret (secret.env.example)", k)
		}
	}
	// The Job's ConfigMap is the same settings and its image.
	want := maps.Clone(cm.Data)
	want[kubeImageKey] = m.jobs[0].Spec.Template.Spec.Containers[0].Image
	if diff := cmp.Diff(want, topicsCM.Data); diff != "" {
		t.Errorf("ConfigMap %s is not config.env and the Job's image (-want +got):\n%s", topicsCM.Name, diff)
	}
	if c := m.deployments[0].Spec.Template.Spec.Containers[0]; !slices.ContainsFunc(c.EnvFrom, func(e corev1.EnvFromSource) bool {
		return e.ConfigMapRef != nil && e.ConfigMapRef.Name == cm.Name
	}) {
		t.Errorf("the Deployment does not read ConfigMap %s", cm.Name)
	}

	// A changed setting rolls the pods.
	fsys := kubeFS(t)
	editKubeFile(t, fsys, "config.env", "BRIDGE_LOG_LEVEL=info", "BRIDGE_LOG_LEVEL=debug")
	changed := renderKube(t, fsys, kubeDir)
	if got := changed.configMap(t, kubeConfigMap); got.Name == cm.Name || got.Data["BRIDGE_LOG_LEVEL"] != "debug" {
		t.Errorf("after a change to config.env the ConfigMap is %s %v, want a new name", got.Name, got.Data)
	}
	if cmp.Equal(m.deployments[0].Spec.Template, changed.deployments[0].Spec.Template) {
		t.Error("a change to config.env leaves the Deployment's pod template as it was: the pods would not roll")
	}
}

// TestKubeTopicsJob checks the topics Job, and that it is safe to apply again:
// a Job's pod template cannot change, so two renderings that name the Job
// alike must give it the same template, whatever changed between them.
func TestKubeTopicsJob(t *testing.T) {
	m := loadKube(t)
	job := m.jobs[0]
	pod := job.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if !cmp.Equal(c.Args, []string{"topics", "create"}) || len(c.Command) > 0 {
		t.Errorf("command %q args %q, want args [topics create]", c.Command, c.Args)
	}
	if pod.RestartPolicy != corev1.RestartPolicyOnFailure && pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q, want OnFailure or Never", pod.RestartPolicy)
	}
	if job.Spec.BackoffLimit == nil {
		t.Error("no backoffLimit")
	}
	if ttl := job.Spec.TTLSecondsAfterFinished; ttl == nil || *ttl <= 0 {
		t.Errorf("ttlSecondsAfterFinished = %s: every release would leave a finished Job behind", deref(ttl))
	}
	if want := m.deployments[0].Spec.Template.Spec.Containers[0].Image; c.Image != want {
		t.Errorf("job image %q, deployment image %q: they are one image", c.Image, want)
	}
	checkSecurityContext(t, "job", pod, c)
	if topicsCM := m.configMap(t, kubeTopicsConfigMap); job.Name != topicsCM.Name {
		t.Errorf("the Job is named %s, want its ConfigMap's hashed name %s", job.Name, topicsCM.Name)
	}

	// Renderings of the folder as it is, with a setting changed, and through
	// overlays that change the image in each way an overlay can.
	overlay := func(name, body string) func(*testing.T, filesys.FileSystem) string {
		return func(t *testing.T, fsys filesys.FileSystem) string {
			dir := path.Join(path.Dir(kubeDir), "overlay-"+name)
			writeKubeFile(t, fsys, path.Join(dir, "kustomization.yaml"),
				"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../kubernetes\n"+body)
			return dir
		}
	}
	variants := []struct {
		name  string
		setup func(*testing.T, filesys.FileSystem) string
	}{
		{"as is", func(*testing.T, filesys.FileSystem) string { return kubeDir }},
		{"as is, again", func(*testing.T, filesys.FileSystem) string { return kubeDir }},
		{"a new release", func(t *testing.T, fsys filesys.FileSystem) string {
			editKubeFile(t, fsys, "kustomization.yaml", "newTag: "+kubeVersion(t), "newTag: v999.0.0")
			return kubeDir
		}},
		{"another partition count", func(t *testing.T, fsys filesys.FileSystem) string {
			editKubeFile(t, fsys, "config.env", "BRIDGE_TOPIC_PARTITIONS=6", "BRIDGE_TOPIC_PARTITIONS=12")
			return kubeDir
		}},
		{"a log level", func(t *testing.T, fsys filesys.FileSystem) string {
			editKubeFile(t, fsys, "config.env", "BRIDGE_LOG_LEVEL=info", "BRIDGE_LOG_LEVEL=warn")
			return kubeDir
		}},
		{"overlay: registry", overlay("registry", "images:\n  - name: webhook-bridge\n    newName: registry.example.com/webhook-bridge\n")},
		{"overlay: registry, again", overlay("registry2", "images:\n  - name: webhook-bridge\n    newName: registry.example.com/webhook-bridge\n")},
		{"overlay: tag", overlay("tag", "images:\n  - name: webhook-bridge\n    newTag: v999.1.0\n")},
		{"overlay: digest", overlay("digest", "images:\n  - name: webhook-bridge\n    digest: sha256:"+strings.Repeat("ab", 32)+"\n")},
	}
	type rendering struct {
		variant string
		job     *batchv1.Job
	}
	var jobs []rendering
	for _, v := range variants {
		fsys := kubeFS(t)
		r := renderKube(t, fsys, v.setup(t, fsys))
		if len(r.jobs) != 1 {
			t.Fatalf("%s: %d Jobs rendered", v.name, len(r.jobs))
		}
		j := r.jobs[0]
		if !hashedName(kubeTopicsConfigMap).MatchString(j.Name) {
			t.Errorf("%s: the Job is named %s, want webhook-bridge-topics-<hash>", v.name, j.Name)
		}
		jobs = append(jobs, rendering{v.name, j})
	}
	for i, a := range jobs {
		for _, b := range jobs[i+1:] {
			sameName := a.job.Name == b.job.Name
			sameTemplate := cmp.Equal(a.job.Spec.Template, b.job.Spec.Template)
			switch {
			case sameName && !sameTemplate:
				t.Errorf("%q and %q both name the Job %s but differ in its pod template: the second apply would fail (field is immutable):\n%s",
					a.variant, b.variant, a.job.Name, cmp.Diff(a.job.Spec.Template, b.job.Spec.Template))
			case !sameName && sameTemplate:
				t.Errorf("%q and %q run the same Job under two names (%s, %s): it would run again for nothing", a.variant, b.variant, a.job.Name, b.job.Name)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// deploy/Dockerfile

// dockerInstr is one Dockerfile instruction, continuation lines joined.
type dockerInstr struct {
	cmd  string // upper case
	args string
}

func parseDockerfile(t *testing.T, data []byte) [][]dockerInstr {
	t.Helper()
	var stages [][]dockerInstr
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := dockerInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Errorf("Dockerfile: %s before the first FROM", in.cmd)
			}
			return
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if trimmed := strings.TrimSpace(line); strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue // comments may sit inside a continued instruction too
		}
		if s, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

// fromImage returns the image and stage name of a FROM instruction.
func fromImage(args string) (image, name string) {
	var fields []string
	for _, f := range strings.Fields(args) {
		if !strings.HasPrefix(f, "--") {
			fields = append(fields, f)
		}
	}
	image = fields[0]
	if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
		name = fields[2]
	}
	return image, name
}

// jsonForm decodes an exec-form ENTRYPOINT or CMD.
func jsonForm(t *testing.T, in dockerInstr) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		t.Errorf("%s %s: not the exec (JSON) form, which needs no shell: %v", in.cmd, in.args, err)
	}
	return v
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, readRepoFile(t, "deploy", "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a final stage", len(stages))
	}
	stageNames := map[string]bool{}
	for _, st := range stages {
		img, name := fromImage(st[0].args)
		if !stageNames[img] && !pinnedImage(img) {
			t.Errorf("FROM %s: pin a version tag (not latest) or a digest", img)
		}
		stageNames[name] = true
	}

	// The build stage: a static, reproducible binary with its version.
	var build string
	var buildStage []dockerInstr
	for _, st := range stages[:len(stages)-1] {
		for _, in := range st {
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				build, buildStage = in.args, st
			}
		}
	}
	if build == "" {
		t.Fatal("no RUN go build in a build stage")
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(readRepoFile(t, "go.mod")))
	if goVersion == nil {
		t.Fatal("go.mod names no go version")
	}
	if img, _ := fromImage(buildStage[0].args); !strings.HasPrefix(img, "golang:"+goVersion[1]+".") {
		t.Errorf("build stage FROM %s, want golang:%s.x, the Go of go.mod", img, goVersion[1])
	}
	for _, want := range []string{
		"CGO_ENABLED=0", "-trimpath", `-s -w`,
		"-X github.com/webhook-bridge/webhook-bridge/bridge.Version=${VERSION}",
		"-X github.com/webhook-bridge/webhook-bridge/bridge.Commit=${COMMIT}",
		"./cmd/webhook-bridge",
	} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build line lacks %q:\n%s", want, build)
		}
	}
	// -X only sets string variables that exist: these fail to compile otherwise.
	var _, _ *string = &bridge.Version, &bridge.Commit
	for _, arg := range []string{"VERSION", "COMMIT"} {
		if !slices.ContainsFunc(buildStage, func(in dockerInstr) bool {
			return in.cmd == "ARG" && (in.args == arg || strings.HasPrefix(in.args, arg+"="))
		}) {
			t.Errorf("the build stage declares no ARG %s", arg)
		}
	}
	out := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(build)
	if out == nil {
		t.Fatal("the go build line names no -o output")
	}

	// The final stage: the binary alone on a minimal base, as non-root.
	final := stages[len(stages)-1]
	img, _ := fromImage(final[0].args)
	if !strings.HasPrefix(img, "gcr.io/distroless/static") && img != "scratch" {
		t.Errorf("final stage FROM %s, want distroless static or scratch", img)
	}
	var user string
	var entry, cmdArgs []string
	var copied, exposed bool
	var copiedTo string
	for _, in := range final[1:] {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entry = jsonForm(t, in)
		case "CMD":
			cmdArgs = jsonForm(t, in)
		case "EXPOSE":
			exposed = exposed || slices.Contains(strings.Fields(in.args), "8080")
		case "COPY":
			f := strings.Fields(in.args)
			if slices.ContainsFunc(f, func(s string) bool { return strings.HasPrefix(s, "--from=") }) && slices.Contains(f, out[1]) {
				copied, copiedTo = true, f[len(f)-1]
			}
		case "RUN":
			t.Errorf("final stage RUN %s: the run-time image has no shell", in.args)
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if user == "" || uid == "0" || uid == "root" {
		t.Errorf("final stage USER %q, want a non-root user", user)
	} else if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("final stage USER %q: use a numeric uid, so that Kubernetes' runAsNonRoot can verify it", user)
	}
	if !copied {
		t.Errorf("final stage does not COPY --from the build stage's %s", out[1])
	}
	if len(entry) != 1 || path.Base(entry[0]) != "webhook-bridge" || (copied && entry[0] != copiedTo) {
		t.Errorf("ENTRYPOINT %q, want the binary alone, as copied to %s", entry, copiedTo)
	}
	if !cmp.Equal(cmdArgs, []string{"serve"}) {
		t.Errorf("CMD %q, want [serve]", cmdArgs)
	}
	if !exposed {
		t.Error("final stage does not EXPOSE 8080")
	}
	// Compose's healthcheck and Kubernetes run the entrypoint by this path.
	if hc := loadCompose(t).Services["bridge"].HealthCheck; hc != nil && len(hc.Test) > 1 && len(entry) == 1 && hc.Test[1] != entry[0] {
		t.Errorf("compose healthcheck runs %s, the image's binary is %s", hc.Test[1], entry[0])
	}
}

// TestDockerBuildMatchesCI checks that .ci/run builds the same static binary
// as the image, so that CI's smoke test runs what ships.
func TestDockerBuildMatchesCI(t *testing.T) {
	data, err := os.ReadFile(repoFile(".ci", "run"))
	if err != nil {
		t.Skipf("no .ci/run: %v", err)
	}
	var line string
	for l := range strings.Lines(string(data)) {
		if strings.Contains(l, "go build") && strings.Contains(l, "./cmd/webhook-bridge") && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			line = l
		}
	}
	if line == "" {
		t.Fatal(".ci/run does not build ./cmd/webhook-bridge")
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w"} {
		if !strings.Contains(line, want) {
			t.Errorf(".ci/run's go build lacks %q, which deploy/Dockerfile uses:\n%s", want, line)
		}
	}
}

// TestDockerignoreKeepsTheSources checks that .dockerignore excludes none of
// the files the image's go build needs.
func TestDockerignoreKeepsTheSources(t *testing.T) {
	var patterns []string
	for l := range strings.Lines(string(readRepoFile(t, ".dockerignore"))) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	if len(patterns) == 0 {
		t.Fatal(".dockerignore is empty")
	}
	needed := []string{"go.mod", "go.sum"}
	root := repoFile()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && rel != ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") && !strings.Contains(filepath.ToSlash(rel), "/testdata/") {
			needed = append(needed, filepath.ToSlash(rel))
			// So are the files it embeds.
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for l := range strings.Lines(string(src)) {
				patterns, ok := strings.CutPrefix(strings.TrimSpace(l), "//go:embed ")
				if !ok {
					continue
				}
				for _, pat := range strings.Fields(patterns) {
					files, err := filepath.Glob(filepath.Join(filepath.Dir(p), pat))
					if err != nil || len(files) == 0 {
						return fmt.Errorf("%s: //go:embed %s matches nothing (%v)", rel, pat, err)
					}
					for _, f := range files {
						fr, _ := filepath.Rel(root, f)
						needed = append(needed, filepath.ToSlash(fr))
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range needed {
		if dockerIgnored(patterns, f) {
			t.Errorf(".dockerignore excludes %s, which the image's build needs", f)
		}
	}
	for _, f := range []string{".git/config", ".env", "bridge/server_test.go", "deploy/kubernetes/secret.env"} {
		if !dockerIgnored(patterns, f) {
			t.Errorf(".dockerignore sends %s to the daemon", f)
		}
	}
}

// dockerIgnored applies .dockerignore patterns to a slash path: a pattern
// matches the path or one of its parent folders, ** spans folders, and the
// last matching pattern wins (! re-includes).
func dockerIgnored(patterns []string, file string) bool {
	ignored := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/")
		if matchIgnore(p, file) {
			ignored = !neg
		}
	}
	return ignored
}

func matchIgnore(pattern, file string) bool {
	parts := strings.Split(file, "/")
	for i := 1; i <= len(parts); i++ {
		prefix := strings.Join(parts[:i], "/")
		if ok, _ := path.Match(pattern, prefix); ok {
			return true
		}
		if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
			for j := 0; j < i; j++ {
				if ok, _ := path.Match(rest, strings.Join(parts[j:i], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// deploy/grafana/dashboard.json

// deployToken is the token of the test servers below.
const deployToken = "deploy-test-token"

// nopPublisher acknowledges every record, or fails every one while fail is set.
type nopPublisher struct{ fail bool }

func (p *nopPublisher) Publish(ctx context.Context, recs ...topics.Record) error {
	if p.fail {
		return errors.New("kafka is down")
	}
	return nil
}

func newDeployBridge(t *testing.T, pub bridge.Publisher) *bridge.Server {
	t.Helper()
	auth, err := bridge.NewAuth(bridge.AuthConfig{Modes: []string{bridge.ModeToken}, Tokens: []string{deployToken}})
	if err != nil {
		t.Fatal(err)
	}
	opts := defaultConfig(t).serverOptions()
	opts.PublishTimeout, opts.Auth = time.Second, auth
	return bridge.NewServer(pub, opts, zerolog.Nop())
}

// newWiredBridge is a server with every collector serve registers: the
// Kafka check, the writer's statistics and the company index (fakes of
// them), so that /metrics exports every family a running bridge does.
func newWiredBridge(t *testing.T, pub bridge.Publisher) *bridge.Server {
	t.Helper()
	auth, err := bridge.NewAuth(bridge.AuthConfig{Modes: []string{bridge.ModeToken}, Tokens: []string{deployToken}})
	if err != nil {
		t.Fatal(err)
	}
	opts := defaultConfig(t).serverOptions()
	opts.PublishTimeout, opts.Auth = time.Second, auth
	opts.Kafka = func() error { return nil }
	srv := bridge.NewServer(pub, opts, zerolog.Nop())
	srv.Metrics().WatchWriter(func() bridge.WriterStats { return bridge.WriterStats{Writes: 1, Messages: 1} })
	caughtUp := make(chan struct{})
	close(caughtUp)
	srv.Metrics().WatchIndex(func() int { return 0 }, caughtUp)
	srv.Metrics().WatchIndexReader(func() bridge.IndexStats { return bridge.IndexStats{} })
	return srv
}

// scrapeFamilies serves the requests a running bridge sees, so that every
// labelled series exists, then returns every metric family GET /metrics
// exports: name → type and the label names of its series.
func scrapeFamilies(t *testing.T) map[string]scrapedFamily {
	t.Helper()
	pub := &nopPublisher{}
	srv := newWiredBridge(t, pub)
	do := func(method, target, body string, token bool) int {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token {
			req.Header.Set(bridge.HeaderWebhookToken, deployToken)
		}
		rec := httptest.NewRecorder()
		if method == http.MethodGet { // probes are on the admin port
			srv.Admin().ServeHTTP(rec, req)
		} else {
			srv.ServeHTTP(rec, req)
		}
		return rec.Code
	}
	for _, r := range []struct {
		method, target, body string
		token, kafkaDown     bool
		want                 int
	}{
		{method: "POST", target: "/webhooks", body: devSample, token: true, want: http.StatusAccepted},
		{method: "POST", target: "/webhooks", body: "{not json", token: true, want: http.StatusBadRequest},
		{method: "POST", target: "/webhooks", body: devSample, want: http.StatusUnauthorized},
		// Another event: a redelivery of the first may be answered from memory.
		{method: "POST", target: "/webhooks", body: strings.Replace(devSample, `"uuid":"7d3c1a52`, `"uuid":"8e4d2b63`, 1), token: true, kafkaDown: true, want: http.StatusServiceUnavailable},
		{method: "GET", target: "/healthz", want: http.StatusOK},
		{method: "GET", target: "/readyz", want: http.StatusOK},
	} {
		pub.fail = r.kafkaDown
		if got := do(r.method, r.target, r.body, r.token); got != r.want {
			t.Fatalf("%s %s (token %v, kafka down %v) = %d, want %d", r.method, r.target, r.token, r.kafkaDown, got, r.want)
		}
	}
	rec := httptest.NewRecorder()
	srv.Admin().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	return parseExposition(t, rec.Body)
}

type scrapedFamily struct {
	typ    string
	labels map[string]bool
}

var (
	typeLine   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$`)
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? `)
	labelName  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"`)
)

func parseExposition(t *testing.T, r io.Reader) map[string]scrapedFamily {
	t.Helper()
	fams := map[string]scrapedFamily{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := typeLine.FindStringSubmatch(line); m != nil {
			fams[m[1]] = scrapedFamily{typ: m[2], labels: map[string]bool{}}
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fam, ok := familyOf(fams, m[1])
		if !ok {
			t.Errorf("/metrics: sample %s has no # TYPE", m[1])
			continue
		}
		for _, l := range labelName.FindAllStringSubmatch(m[2], -1) {
			fam.labels[l[1]] = true
		}
	}
	if len(fams) == 0 {
		t.Fatal("/metrics exported nothing")
	}
	return fams
}

// familyOf finds the family of a series name, histograms' and summaries'
// _bucket, _sum and _count series included.
func familyOf(fams map[string]scrapedFamily, name string) (scrapedFamily, bool) {
	if f, ok := fams[name]; ok {
		return f, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f, ok := fams[base]; ok && (f.typ == "histogram" || f.typ == "summary") && (suffix != "_bucket" || f.typ == "histogram") {
				return f, true
			}
		}
	}
	return scrapedFamily{}, false
}

// dashboardQueries returns every PromQL expression of the dashboard: panel
// targets (rows' nested panels included) and template variable queries.
func dashboardQueries(t *testing.T) (exprs []string, dash map[string]any) {
	t.Helper()
	data := readRepoFile(t, "deploy", "grafana", "dashboard.json")
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	var panels func(v any)
	panels = func(v any) {
		list, _ := v.([]any)
		for _, p := range list {
			pm, _ := p.(map[string]any)
			targets, _ := pm["targets"].([]any)
			if pm["type"] != "row" && len(targets) == 0 {
				t.Errorf("panel %q has no targets", pm["title"])
			}
			for _, tg := range targets {
				tm, _ := tg.(map[string]any)
				e, _ := tm["expr"].(string)
				if strings.TrimSpace(e) == "" {
					t.Errorf("panel %q has a target without expr", pm["title"])
				}
				exprs = append(exprs, e)
			}
			panels(pm["panels"])
		}
	}
	panels(dash["panels"])
	if tpl, ok := dash["templating"].(map[string]any); ok {
		list, _ := tpl["list"].([]any)
		for _, v := range list {
			vm, _ := v.(map[string]any)
			if vm["type"] != "query" {
				continue
			}
			switch q := vm["query"].(type) {
			case string:
				exprs = append(exprs, q)
			case map[string]any:
				s, _ := q["query"].(string)
				exprs = append(exprs, s)
			}
		}
	}
	return exprs, dash
}

var (
	metricRef   = regexp.MustCompile(`\b((?:webhook_bridge|go|process)_[a-zA-Z0-9_]+)\b(\{[^}]*\})?`)
	matcherName = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	byClause    = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// promLabels are added by Prometheus at scrape time, or by histograms.
var promLabels = map[string]bool{"job": true, "instance": true, "le": true, "service": true}

func TestGrafanaDashboardQueriesExportedMetrics(t *testing.T) {
	exprs, _ := dashboardQueries(t)
	fams := scrapeFamilies(t)
	queried := map[string]bool{}
	for _, e := range exprs {
		labels := map[string]bool{}
		for _, m := range metricRef.FindAllStringSubmatch(e, -1) {
			fam, ok := familyOf(fams, m[1])
			if !ok {
				t.Errorf("the dashboard queries %s, which /metrics does not export:\n  %s", m[1], e)
				continue
			}
			queried[m[1]] = true
			for l := range fam.labels {
				labels[l] = true
			}
			for _, lm := range matcherName.FindAllStringSubmatch(m[2], -1) {
				if !fam.labels[lm[1]] && !promLabels[lm[1]] {
					t.Errorf("the dashboard filters %s on label %q, which it does not have:\n  %s", m[1], lm[1], e)
				}
			}
		}
		for _, b := range byClause.FindAllStringSubmatch(e, -1) {
			for l := range strings.SplitSeq(b[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !labels[l] && !promLabels[l] {
					t.Errorf("the dashboard groups by %q, which no metric of the query has:\n  %s", l, e)
				}
			}
		}
	}
	// What an SRE needs on the dashboard (issue 4).
	for _, want := range []string{
		"webhook_bridge_requests_total",
		"webhook_bridge_request_duration_seconds_bucket",
		"webhook_bridge_kafka_publish_duration_seconds_bucket",
		"webhook_bridge_quarantined_total",
		"webhook_bridge_auth_failures_total",
		"webhook_bridge_publish_errors_total",
		"webhook_bridge_requests_in_flight",
		"webhook_bridge_ready",
		"webhook_bridge_kafka_writer_errors_total",
		"webhook_bridge_kafka_writer_retries_total",
		// and issue 13: Kafka's reachability, the company index,
		// duplicates, overload and throttling.
		"webhook_bridge_kafka_up",
		"webhook_bridge_company_index_entries",
		"webhook_bridge_company_index_lag_records",
		"webhook_bridge_company_index_read_errors_total",
		"webhook_bridge_duplicates_total",
		"webhook_bridge_overloaded_total",
		"webhook_bridge_auth_throttled_total",
	} {
		if !queried[want] {
			t.Errorf("the dashboard has no panel on %s", want)
		}
	}
	// 4xx and 5xx apart, not one "non-2xx" lump.
	for _, class := range []string{`code=~"4.."`, `code=~"5.."`} {
		if !slices.ContainsFunc(exprs, func(e string) bool { return strings.Contains(e, class) }) {
			t.Errorf("the dashboard shows no rate of %s on its own", class)
		}
	}
	for _, h := range []string{"webhook_bridge_request_duration_seconds_bucket", "webhook_bridge_kafka_publish_duration_seconds_bucket"} {
		if !slices.ContainsFunc(exprs, func(e string) bool {
			return strings.Contains(e, "histogram_quantile(") && strings.Contains(e, h)
		}) {
			t.Errorf("the dashboard shows no latency percentile of %s", h)
		}
	}
	if !slices.ContainsFunc(exprs, func(e string) bool { return regexp.MustCompile(`\bup\b`).MatchString(e) }) {
		t.Error("the dashboard does not show up")
	}
}

func TestGrafanaDashboardShape(t *testing.T) {
	_, dash := dashboardQueries(t)
	for _, k := range []string{"uid", "title"} {
		if s, _ := dash[k].(string); s == "" {
			t.Errorf("dashboard.json has no %s", k)
		}
	}
	ids := map[float64]bool{}
	var walk func(v any)
	walk = func(v any) {
		list, _ := v.([]any)
		for _, p := range list {
			pm, _ := p.(map[string]any)
			id, _ := pm["id"].(float64)
			if ids[id] {
				t.Errorf("panel id %v is used twice", id)
			}
			ids[id] = true
			if _, ok := pm["gridPos"].(map[string]any); !ok {
				t.Errorf("panel %q has no gridPos", pm["title"])
			}
			if pm["type"] != "row" {
				ds, _ := pm["datasource"].(map[string]any)
				if ds["uid"] != "${datasource}" {
					t.Errorf("panel %q uses datasource %v, want the ${datasource} variable", pm["title"], pm["datasource"])
				}
			}
			walk(pm["panels"])
		}
	}
	walk(dash["panels"])
	if len(ids) == 0 {
		t.Error("dashboard.json has no panels")
	}
	// "All" must mean the bridge's jobs and instances, the values the
	// variable found: a catch-all such as ".*" makes up{job=~"$job"}, the
	// process_* and go_* panels select every target a shared Prometheus
	// scrapes.
	tmpl, _ := dash["templating"].(map[string]any)
	vars, _ := tmpl["list"].([]any)
	for _, v := range vars {
		vm, _ := v.(map[string]any)
		if all, ok := vm["allValue"].(string); ok && all != "" {
			t.Errorf("variable %v has allValue %q: with All selected its panels would select other jobs too", vm["name"], all)
		}
	}
	if len(vars) < 3 {
		t.Errorf("dashboard.json has %d template variables, want datasource, job and instance", len(vars))
	}
}

// TestGrafanaDashboardCheckIsAbleToFail feeds the checker a metric the
// bridge does not export.
func TestGrafanaDashboardCheckIsAbleToFail(t *testing.T) {
	fams := scrapeFamilies(t)
	for _, name := range []string{"webhook_bridge_no_such_metric_total", "webhook_bridge_requests_total_bucket", "webhook_bridge_requests_in_flight_sum"} {
		if _, ok := familyOf(fams, name); ok {
			t.Errorf("familyOf accepted %s", name)
		}
	}
	if _, ok := familyOf(fams, "webhook_bridge_request_duration_seconds_bucket"); !ok {
		t.Error("familyOf refused a histogram's _bucket series")
	}
}

// operatorManifest reports whether a file of deploy/kubernetes is a
// Prometheus Operator resource. Those are applied on their own:
// kustomization.yaml must apply on a cluster without the operator's kinds.
func operatorManifest(t *testing.T, name string) bool {
	t.Helper()
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(readRepoFile(t, "deploy", "kubernetes", name), &tm); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return strings.HasPrefix(tm.APIVersion, "monitoring.coreos.com/")
}

// promRules is a Prometheus rule file, and the spec of a PrometheusRule.
// Only the fields the rules use are here, so strict decoding refuses a
// misspelt one.
type promRules struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

func loadRules(t *testing.T) promRules {
	t.Helper()
	var r promRules
	if err := decodeStrict(readRepoFile(t, "deploy", "prometheus", "rules.yml"), &r); err != nil {
		t.Fatalf("deploy/prometheus/rules.yml: %v", err)
	}
	if len(r.Groups) == 0 {
		t.Fatal("deploy/prometheus/rules.yml has no groups")
	}
	return r
}

// runbookURL is where docs/alerts.md is read; runbook_url is it + "#" + anchor.
const runbookURL = "https://github.com/webhook-bridge/webhook-bridge/blob/main/docs/alerts.md"

// TestPrometheusRuleMatchesRulesFile keeps the PrometheusRule for the
// Prometheus Operator and the rule file for a plain Prometheus from drifting.
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	rules := loadRules(t)
	var pr struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
		Spec            promRules         `json:"spec"`
	}
	if err := decodeStrict(readRepoFile(t, "deploy", "kubernetes", "prometheusrule.yaml"), &pr); err != nil {
		t.Fatalf("prometheusrule.yaml: %v", err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || pr.Metadata.Name == "" {
		t.Errorf("prometheusrule.yaml is %s %s named %q, want monitoring.coreos.com/v1 PrometheusRule", pr.APIVersion, pr.Kind, pr.Metadata.Name)
	}
	if diff := cmp.Diff(rules, pr.Spec); diff != "" {
		t.Errorf("prometheusrule.yaml's spec differs from deploy/prometheus/rules.yml (-rules.yml +prometheusrule.yaml):\n%s", diff)
	}
}

// TestPrometheusRulesAreDocumentedAndTested checks every alert's labels and
// annotations, that its runbook_url leads to a heading of docs/alerts.md,
// and that rules_test.yml has it both firing and quiet: promtool passes a
// test of a misspelt alert name that expects no alert.
func TestPrometheusRulesAreDocumentedAndTested(t *testing.T) {
	anchors := map[string]bool{}
	for line := range strings.Lines(string(readRepoFile(t, "docs", "alerts.md"))) {
		if h, ok := strings.CutPrefix(line, "#"); ok {
			anchors[githubAnchor(strings.TrimLeft(h, "#"))] = true
		}
	}
	alerts := map[string]bool{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if !strings.HasPrefix(r.Alert, "WebhookBridge") || alerts[r.Alert] {
				t.Errorf("alert %q: want a unique name starting with WebhookBridge", r.Alert)
			}
			alerts[r.Alert] = true
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s has no %s", r.Alert, a)
				}
			}
			if want := runbookURL + "#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if !anchors[strings.ToLower(r.Alert)] {
				t.Errorf("docs/alerts.md has no heading %s (its runbook_url's anchor)", r.Alert)
			}
		}
	}

	var tests struct {
		RuleFiles []string `json:"rule_files"`
		Tests     []struct {
			Name          string `json:"name"`
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "deploy", "prometheus", "rules_test.yml"), &tests); err != nil {
		t.Fatalf("rules_test.yml: %v", err)
	}
	if !slices.Equal(tests.RuleFiles, []string{"rules.yml"}) {
		t.Errorf("rules_test.yml tests %v, want [rules.yml]", tests.RuleFiles)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if !alerts[a.Alertname] {
				t.Errorf("rules_test.yml %q tests %q, which rules.yml does not define", tc.Name, a.Alertname)
			}
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for a := range alerts {
		if !fires[a] {
			t.Errorf("rules_test.yml never has %s firing", a)
		}
		if !quiet[a] {
			t.Errorf("rules_test.yml never has %s quiet", a)
		}
	}
}

// githubAnchor is the fragment GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// servedExposition is GET /metrics of a server wired as serve wires it
// (Kafka check, writer statistics, company index) after a webhook answered
// 202 and one answered 503.
func servedExposition(t *testing.T) string {
	t.Helper()
	pub := &nopPublisher{}
	srv := newWiredBridge(t, pub)
	for _, r := range []struct {
		body      string
		kafkaDown bool
		want      int
	}{
		{body: devSample, want: http.StatusAccepted},
		{body: strings.Replace(devSample, `"uuid":"7d3c1a52`, `"uuid":"8e4d2b63`, 1), kafkaDown: true, want: http.StatusServiceUnavailable},
	} {
		pub.fail = r.kafkaDown
		req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(r.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(bridge.HeaderWebhookToken, deployToken)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != r.want {
			t.Fatalf("POST /webhooks (kafka down %v) = %d, want %d", r.kafkaDown, rec.Code, r.want)
		}
	}
	rec := httptest.NewRecorder()
	srv.Admin().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	return rec.Body.String()
}

var labelMatcher = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)

// TestPrometheusRulesQueryExportedMetrics fails when an alert queries a
// metric, a label or a label value (route="/webhooks", code=~"5..") the
// bridge does not export: such an alert would never fire.
func TestPrometheusRulesQueryExportedMetrics(t *testing.T) {
	expo := servedExposition(t)
	fams := parseExposition(t, strings.NewReader(expo))
	// values are the values a label takes in the samples of one series name.
	values := func(name, label string) []string {
		var vs []string
		for line := range strings.Lines(expo) {
			m := sampleLine.FindStringSubmatch(line)
			if m == nil || m[1] != name {
				continue
			}
			for _, l := range labelMatcher.FindAllStringSubmatch(m[2], -1) {
				if l[1] == label {
					vs = append(vs, l[3])
				}
			}
		}
		return slices.Compact(slices.Sorted(slices.Values(vs)))
	}
	// Kubernetes scrapes add namespace and pod; the rules aggregate by them.
	scrapeLabels := map[string]bool{"namespace": true, "pod": true}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			have := map[string]bool{}
			refs := metricRef.FindAllStringSubmatch(r.Expr, -1)
			if len(refs) == 0 {
				t.Errorf("%s queries no webhook-bridge metric: %s", r.Alert, r.Expr)
			}
			for _, m := range refs {
				fam, ok := familyOf(fams, m[1])
				if !ok {
					t.Errorf("%s queries %s, which /metrics does not export", r.Alert, m[1])
					continue
				}
				for l := range fam.labels {
					have[l] = true
				}
				for _, lm := range labelMatcher.FindAllStringSubmatch(m[2], -1) {
					name, op, want := lm[1], lm[2], lm[3]
					if !fam.labels[name] {
						t.Errorf("%s filters %s on label %q, which it does not have", r.Alert, m[1], name)
						continue
					}
					match := func(v string) bool { return v == want }
					if op == "=~" {
						re := regexp.MustCompile("^(?:" + want + ")$")
						match = re.MatchString
					} else if op != "=" {
						continue
					}
					if got := values(m[1], name); !slices.ContainsFunc(got, match) {
						t.Errorf("%s wants %s{%s%s%q}, but a bridge that served webhooks exports only %s values %q", r.Alert, m[1], name, op, want, name, got)
					}
				}
			}
			for _, b := range byClause.FindAllStringSubmatch(r.Expr, -1) {
				for l := range strings.SplitSeq(b[1], ",") {
					if l = strings.TrimSpace(l); l != "" && !have[l] && !promLabels[l] && !scrapeLabels[l] {
						t.Errorf("%s groups by %q, which none of its metrics has", r.Alert, l)
					}
				}
			}
		}
	}
}

// TestComposePrometheusLoadsTheRules checks that every rule file
// prometheus.yml names is mounted where the container's Prometheus looks for
// it: a rule file that is not there is skipped without an error.
func TestComposePrometheusLoadsTheRules(t *testing.T) {
	var prom struct {
		RuleFiles []string `json:"rule_files"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "deploy", "prometheus", "prometheus.yml"), &prom); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if !slices.Contains(prom.RuleFiles, "rules.yml") {
		t.Errorf("prometheus.yml rule_files = %v, want rules.yml", prom.RuleFiles)
	}
	mounts := map[string]string{}
	for _, v := range composeService(t, loadCompose(t, "observability"), "prometheus").Volumes {
		mounts[v.Target] = v.Source
	}
	for _, f := range prom.RuleFiles {
		// Relative rule files are read from prometheus.yml's directory.
		target := path.Join("/etc/prometheus", f)
		if src, _ := filepath.Abs(repoFile("deploy", "prometheus", f)); mounts[target] != src {
			t.Errorf("prometheus.yml loads %s, but docker-compose.yml mounts %q there, want %s", f, mounts[target], src)
		}
	}
}

// TestKubeServiceMonitorSelectsTheService checks that the ServiceMonitor
// scrapes /metrics on a named port of the bridge's Service, and that the
// operator's resources stay out of kustomization.yaml.
func TestKubeServiceMonitorSelectsTheService(t *testing.T) {
	m := loadKube(t)
	svc := m.services[0]
	var sm struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
		Spec            struct {
			Selector  metav1.LabelSelector `json:"selector"`
			Endpoints []struct {
				Port     string `json:"port"`
				Path     string `json:"path"`
				Interval string `json:"interval"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	if err := decodeStrict(readRepoFile(t, "deploy", "kubernetes", "servicemonitor.yaml"), &sm); err != nil {
		t.Fatalf("servicemonitor.yaml: %v", err)
	}
	if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Kind != "ServiceMonitor" || sm.Metadata.Name == "" {
		t.Errorf("servicemonitor.yaml is %s %s named %q, want monitoring.coreos.com/v1 ServiceMonitor", sm.APIVersion, sm.Kind, sm.Metadata.Name)
	}
	if sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the Service (labels %v)", sm.Spec.Selector, svc.Labels)
	}
	if len(sm.Spec.Endpoints) == 0 {
		t.Error("the ServiceMonitor has no endpoints")
	}
	for _, e := range sm.Spec.Endpoints {
		if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
			t.Errorf("ServiceMonitor endpoint port %q is not a port name of the Service", e.Port)
		}
		if e.Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoint path %q, want /metrics", e.Path)
		}
	}
	for _, name := range []string{"servicemonitor.yaml", "prometheusrule.yaml"} {
		if !operatorManifest(t, name) || slices.Contains(m.kust.Resources, name) {
			t.Errorf("%s: want a Prometheus Operator resource left out of kustomization.yaml", name)
		}
	}
}
