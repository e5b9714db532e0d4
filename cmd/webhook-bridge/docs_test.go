package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/kelseyhightower/envconfig"

	"github.com/webhook-bridge/webhook-bridge/bridge"
	"github.com/webhook-bridge/webhook-bridge/topics"
)

// updateDocs rewrites the generated sections of docs/operations.md and
// docs/consumers.md instead of comparing them: go generate ./cmd/webhook-bridge
// and go generate ./topics run it.
var updateDocs = flag.Bool("update", false, "rewrite the generated sections of ../../docs/*.md from Config and the catalog")

// root is the repository root, seen from this package's directory.
const root = "../.."

// readmeMaxLines keeps the README an entry point; the details live in docs/.
const readmeMaxLines = 200

// ciTestCommand is the test command .ci/run runs; the README names it.
const ciTestCommand = "go test -race -count=1 ./..."

// TestDocsConfigTable keeps the configuration table of docs/operations.md
// equal to Config: every variable as --help names it, its type, the default
// its tag declares, whether it is required or secret, and its description.
func TestDocsConfigTable(t *testing.T) {
	syncGenerated(t, filepath.Join(root, "docs", "operations.md"), map[string]string{"config": configTable(t)})
}

// configTable renders Config, one row per variable, in field order.
func configTable(t *testing.T) string {
	t.Helper()
	// envconfig.Usagef computes the names exactly as --help prints them;
	// the tags are read from the fields it names.
	const sep = "\x1f"
	var out bytes.Buffer
	if err := envconfig.Usagef(envPrefix, &Config{}, &out,
		"{{range .}}{{.Name}}"+sep+"{{usage_key .}}"+sep+"{{usage_type .}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	ct := reflect.TypeFor[Config]()
	rows := [][]string{{"variable", "type", "default", "flags", "meaning"}}
	for line := range strings.Lines(out.String()) {
		parts := strings.Split(strings.TrimSuffix(line, "\n"), sep)
		if len(parts) != 3 {
			t.Fatalf("envconfig.Usagef line %q: want 3 fields", line)
		}
		f, ok := ct.FieldByName(parts[0])
		if !ok {
			t.Fatalf("envconfig.Usagef names field %s, which Config lacks", parts[0])
		}
		def := "—"
		if d, ok := f.Tag.Lookup("default"); ok {
			def = "`" + d + "`"
			if d == "" {
				def = "empty"
			}
		}
		var flags []string
		for _, tag := range []string{"required", "secret"} {
			if f.Tag.Get(tag) == "true" {
				flags = append(flags, tag)
			}
		}
		desc := f.Tag.Get("desc")
		if desc == "" {
			t.Errorf("Config.%s has no desc tag", f.Name)
		}
		rows = append(rows, []string{"`" + parts[1] + "`", parts[2], def, strings.Join(flags, ", "), desc})
	}
	if len(rows) != ct.NumField()+1 {
		t.Fatalf("envconfig.Usagef listed %d variables, Config has %d fields", len(rows)-1, ct.NumField())
	}
	for _, row := range rows {
		for i := range row {
			row[i] = strings.ReplaceAll(row[i], "|", `\|`)
		}
	}
	return markdownTable(rows)
}

// TestDocsResourceTable keeps the resource tables of docs/consumers.md equal
// to what the catalog routes: the topic (with the default
// BRIDGE_TOPIC_PREFIX), actions and company-id rules of every resource, and
// the CloudEvents type of every resource and action as Normalize writes it.
func TestDocsResourceTable(t *testing.T) {
	syncGenerated(t, filepath.Join(root, "docs", "consumers.md"), map[string]string{
		"resources":         resourceTable(),
		"cloudevents-types": cloudEventsTypeTable(t),
	})
}

// docsNaming is the naming the documentation shows: Config's default
// BRIDGE_TOPIC_PREFIX and BRIDGE_INTERNAL_TOPIC_PREFIX.
func docsNaming() topics.Naming {
	return Config{TopicPrefix: defaultOf("TopicPrefix"), InternalTopicPrefix: defaultOf("InternalTopicPrefix")}.naming()
}

// resourceTable renders topics.Catalog, one row per resource.
func resourceTable() string {
	rows := [][]string{{"`resource.type` (aliases)", "topic", "actions", "company id taken from (first found wins)"}}
	for _, r := range topics.Catalog {
		typ := "`" + r.Type + "`"
		if len(r.Aliases) > 0 {
			typ += " (" + codeList(r.Aliases, ", ") + ")"
		}
		actions := make([]string, len(r.Actions))
		for i, a := range r.Actions {
			actions[i] = string(a)
		}
		company := "—"
		if len(r.CompanyPaths) > 0 {
			paths := make([]string, len(r.CompanyPaths))
			for i, p := range r.CompanyPaths {
				paths[i] = "`" + p + "`"
				if strings.Contains(p, "[]") {
					paths[i] += " (the first; all in `company-ids`)"
				}
			}
			company = strings.Join(paths, ", then ")
		}
		rows = append(rows, []string{typ, "`" + docsNaming().Topic(r.Name) + "`", strings.Join(actions, " "), company})
	}
	return markdownTable(rows)
}

// wireActions are the resourceAction spellings the marketplace sends;
// ParseAction says which Action each one is.
var wireActions = []string{"ADDED", "CHANGED", "REMOVED", "DELETED"}

// cloudEventsTypeTable renders the CloudEvents type of every resource and
// action, read from the record Normalize builds for a minimal webhook, with
// every resource.type (aliases included) and resourceAction that gives it.
func cloudEventsTypeTable(t *testing.T) string {
	t.Helper()
	rows := [][]string{{"CloudEvents `type`", "topic", "`resource.type`", "`resourceAction`"}}
	for _, r := range topics.Catalog {
		for _, a := range r.Actions {
			var wire []string
			for _, w := range wireActions {
				if got, ok := topics.ParseAction(w); ok && got == a {
					wire = append(wire, w)
				}
			}
			if len(wire) == 0 {
				t.Fatalf("%s: no resourceAction spelling parses as %q", r.Type, a)
			}
			// Every spelling of the type and the action gives one type.
			var typ, topic string
			for _, rt := range append([]string{r.Type}, r.Aliases...) {
				for _, w := range wire {
					body := fmt.Sprintf(`{"uuid":"e1","timestamp":0,"resource":{"type":%q,"uuid":"r1"},"resourceAction":%q}`, rt, w)
					ev, err := topics.Normalize([]byte(body), docsNaming(), nil)
					if err != nil {
						t.Fatalf("Normalize %s %s: %v", rt, w, err)
					}
					var ce struct {
						Type string `json:"type"`
					}
					if err := json.Unmarshal(ev.Record.Value, &ce); err != nil {
						t.Fatalf("%s %s: record value: %v", rt, w, err)
					}
					if typ != "" && (ce.Type != typ || ev.Record.Topic != topic) {
						t.Fatalf("%s %s gives %s on %s, %s %s gives %s on %s", rt, w, ce.Type, ev.Record.Topic, r.Type, wire[0], typ, topic)
					}
					typ, topic = ce.Type, ev.Record.Topic
				}
			}
			rows = append(rows, []string{"`" + typ + "`", "`" + topic + "`", codeList(append([]string{r.Type}, r.Aliases...), " or "), codeList(wire, " or ")})
		}
	}
	return markdownTable(rows)
}

func codeList(ss []string, sep string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "`" + s + "`"
	}
	return strings.Join(out, sep)
}

// TestREADMEIsAnEntryPoint keeps README.md short, naming the test command CI
// runs and linking every page of docs/.
func TestREADMEIsAnEntryPoint(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	if n := strings.Count(readme, "\n"); n > readmeMaxLines {
		t.Errorf("README.md has %d lines, want at most %d: move details to docs/", n, readmeMaxLines)
	}
	if !strings.Contains(readme, ciTestCommand) {
		t.Errorf("README.md does not name the test command .ci/run runs: %s", ciTestCommand)
	}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no docs/*.md found")
	}
	var linked []string
	for _, l := range markdownLinks(readme) {
		path, _, _ := strings.Cut(l.target, "#")
		linked = append(linked, path)
	}
	for _, p := range pages {
		if want := "docs/" + filepath.Base(p); !slices.Contains(linked, want) {
			t.Errorf("README.md does not link %s", want)
		}
	}
}

// TestDocsLinksResolve checks every relative link of README.md and docs/:
// the file exists and, with a #fragment into Markdown, so does the heading.
func TestDocsLinksResolve(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{filepath.Join(root, "README.md")}, pages...) {
		for _, problem := range brokenLinks(p) {
			t.Error(problem)
		}
	}
}

// TestDocsLinkCheckIsAbleToFail shows brokenLinks reporting a missing file
// and a missing heading, so a passing TestDocsLinksResolve means something.
func TestDocsLinkCheckIsAbleToFail(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "page.md")
	doc := "# Title\n\n## Two words\n\n[ok](#two-words) [ok](page.md#title) [bad](missing.md) [bad](#nowhere)\n\n```\n[code](is-not-a-link.md)\n```\n"
	if err := os.WriteFile(page, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	got := brokenLinks(page)
	if len(got) != 2 || !strings.Contains(got[0], "missing.md") || !strings.Contains(got[1], "#nowhere") {
		t.Errorf("brokenLinks = %q, want the missing file and the missing heading", got)
	}
}

type markdownLink struct {
	line   int
	target string
}

var linkRE = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// markdownLinks returns the link targets of doc outside fenced code blocks
// and code spans.
func markdownLinks(doc string) []markdownLink {
	var out []markdownLink
	fenced := false
	for i, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for _, m := range linkRE.FindAllStringSubmatch(withoutCodeSpans(line), -1) {
			out = append(out, markdownLink{line: i + 1, target: m[1]})
		}
	}
	return out
}

var codeSpanRE = regexp.MustCompile("`[^`]*`")

func withoutCodeSpans(line string) string { return codeSpanRE.ReplaceAllString(line, "") }

// brokenLinks lists the relative links of the Markdown file path that lead
// nowhere.
func brokenLinks(path string) []string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, l := range markdownLinks(string(raw)) {
		if strings.Contains(l.target, "://") || strings.HasPrefix(l.target, "mailto:") {
			continue
		}
		file, frag, _ := strings.Cut(l.target, "#")
		target := path
		if file != "" {
			target = filepath.Join(filepath.Dir(path), filepath.FromSlash(file))
			if _, err := os.Stat(target); err != nil {
				out = append(out, fmt.Sprintf("%s:%d: link %s: no such file", path, l.line, l.target))
				continue
			}
		}
		if frag == "" || !strings.HasSuffix(target, ".md") {
			continue
		}
		doc, err := os.ReadFile(target)
		if err != nil {
			out = append(out, fmt.Sprintf("%s:%d: link %s: %v", path, l.line, l.target, err))
			continue
		}
		if !slices.Contains(headingAnchors(string(doc)), frag) {
			out = append(out, fmt.Sprintf("%s:%d: link %s: no heading with anchor #%s in %s", path, l.line, l.target, frag, target))
		}
	}
	return out
}

// headingAnchors returns the anchors GitHub gives the headings of doc:
// lower case, punctuation dropped, spaces as hyphens, repeats numbered.
func headingAnchors(doc string) []string {
	var out []string
	seen := map[string]int{}
	fenced := false
	for line := range strings.Lines(doc) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out = append(out, fmt.Sprintf("%s-%d", a, n))
		} else {
			out = append(out, a)
		}
		seen[a]++
	}
	return out
}

// markdownTable renders rows (the first is the header) as a Markdown table
// with padded columns, so the source reads as a table too.
func markdownTable(rows [][]string) string {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			b.WriteString(" " + c + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)) + " |")
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(widths))
	for i, w := range widths {
		sep[i] = strings.Repeat("-", w)
	}
	line(sep)
	for _, row := range rows[1:] {
		line(row)
	}
	return b.String()
}

// sectionMarkers returns the lines that delimit the generated section name.
func sectionMarkers(name string) (begin, end string) {
	return "<!-- BEGIN generated: " + name + " -->\n", "<!-- END generated: " + name + " -->"
}

// sectionBounds finds the generated section name in doc: the text from
// after its BEGIN line to its END marker.
func sectionBounds(doc, name string) (i, j int, err error) {
	begin, end := sectionMarkers(name)
	if strings.Count(doc, begin) != 1 || strings.Count(doc, end) != 1 {
		return 0, 0, fmt.Errorf("want exactly one %q line and one %q", strings.TrimSpace(begin), end)
	}
	i = strings.Index(doc, begin) + len(begin)
	j = strings.Index(doc, end)
	if j < i {
		return 0, 0, fmt.Errorf("%q comes before %q", end, strings.TrimSpace(begin))
	}
	return i, j, nil
}

// syncGenerated compares each generated section of path with want[name];
// with -update it rewrites the sections instead.
func syncGenerated(t *testing.T, path string, want map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for name, body := range want {
		i, j, err := sectionBounds(doc, name)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if *updateDocs {
			doc = doc[:i] + body + doc[j:]
			continue
		}
		if diff := cmp.Diff(strings.Split(body, "\n"), strings.Split(doc[i:j], "\n")); diff != "" {
			t.Errorf("%s: generated section %q is out of date; run go generate ./topics ./cmd/webhook-bridge (-want +got):\n%s", path, name, diff)
		}
	}
	if *updateDocs && doc != string(raw) {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTopLevelLayout keeps the repository's top level to the design card:
// cmd/, bridge/, topics/, deploy/, docker-compose.yml, go.mod, go.sum,
// README.md, .ci/ and docs/ (and git's and Docker's dotfiles).
func TestTopLevelLayout(t *testing.T) {
	allowed := map[string]bool{"cmd": true, "bridge": true, "topics": true, "deploy": true, "docker-compose.yml": true,
		"go.mod": true, "go.sum": true, "README.md": true, ".ci": true, "docs": true, ".gitignore": true, ".dockerignore": true}
	out, err := exec.Command("git", "-C", repoFile(), "ls-files").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		top, _, _ := strings.Cut(f, "/")
		if !allowed[top] && !seen[top] {
			t.Errorf("tracked top-level entry %q is not in the design card's layout", top)
		}
		seen[top] = true
	}
	if !seen["cmd"] || !seen["topics"] {
		t.Fatalf("git ls-files listed no cmd/ or topics/: %q", out)
	}
}

// TestDocsMetricsTable keeps the metrics table of docs/operations.md equal
// to what /metrics exports: every family of a server wired as serve wires
// it, with its type, labels and help text.
func TestDocsMetricsTable(t *testing.T) {
	syncGenerated(t, filepath.Join(root, "docs", "operations.md"), map[string]string{"metrics": metricsTable(t)})
}

// closedLabels are labels whose every value exists from start (at 0): the
// table lists their values.
var closedLabels = map[string]bool{"outcome": true, "reason": true}

// metricsTable renders the bridge's own metric families, sorted by name;
// the Go runtime's and the process's are named in the text around it.
func metricsTable(t *testing.T) string {
	t.Helper()
	pub := &nopPublisher{}
	srv := newWiredBridge(t, pub)
	for _, fail := range []bool{false, true} { // every labelled family gets a series
		pub.fail = fail
		req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(strings.Replace(devSample, `"uuid":"7d3c1a52`, fmt.Sprintf(`"uuid":"%v7d3c1a52`, fail), 1)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(bridge.HeaderWebhookToken, deployToken)
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}
	fams, err := srv.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	rows := [][]string{{"metric", "type", "labels", "meaning"}}
	for _, f := range fams {
		name := f.GetName()
		if !strings.HasPrefix(name, "webhook_bridge_") {
			continue
		}
		values := map[string][]string{}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(values[l.GetName()], l.GetValue()) {
					values[l.GetName()] = append(values[l.GetName()], l.GetValue())
				}
			}
		}
		var labels []string
		for _, l := range slices.Sorted(maps.Keys(values)) {
			if closedLabels[l] {
				vs := slices.Sorted(slices.Values(values[l]))
				labels = append(labels, fmt.Sprintf("`%s` (`%s`)", l, strings.Join(vs, "`, `")))
			} else {
				labels = append(labels, "`"+l+"`")
			}
		}
		lbl := strings.Join(labels, ", ")
		if lbl == "" {
			lbl = "—"
		}
		help := f.GetHelp()
		if help == "" {
			t.Errorf("metric %s has no help text", name)
		}
		rows = append(rows, []string{"`" + name + "`", strings.ToLower(f.GetType().String()), lbl, strings.ReplaceAll(help, "|", `\|`)})
	}
	return markdownTable(rows)
}
