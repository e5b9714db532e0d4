package topics_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// updateDocs rewrites the generated sections of docs/consumers.md instead of
// comparing them: go generate ./topics runs it.
var updateDocs = flag.Bool("update", false, "rewrite the generated sections of ../docs/consumers.md from the catalog")

// consumersDoc is the page whose resource tables are generated here.
const consumersDoc = "../docs/consumers.md"

// docsNaming is the default BRIDGE_TOPIC_PREFIX, which the documentation
// shows; cmd/webhook-bridge's TestDocsTopicPrefix checks that it still is.
var docsNaming = topics.Naming{Prefix: "appdirect."}

// TestDocsResourceTable keeps the resource tables of docs/consumers.md equal
// to what the catalog routes: the topic, actions and company-id rules of
// every resource, and the CloudEvents type of every resource and action as
// Normalize writes it.
func TestDocsResourceTable(t *testing.T) {
	syncGenerated(t, consumersDoc, map[string]string{
		"resources":         resourceTable(),
		"cloudevents-types": cloudEventsTypeTable(t),
	})
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
		rows = append(rows, []string{typ, "`" + docsNaming.Topic(r.Name) + "`", strings.Join(actions, " "), company})
	}
	return markdownTable(rows)
}

// wireActions are the resourceAction spellings the marketplace sends;
// ParseAction says which Action each one is.
var wireActions = []string{"ADDED", "CHANGED", "REMOVED", "DELETED"}

// cloudEventsTypeTable renders the CloudEvents type of every resource and
// action, read from the record Normalize builds for a minimal webhook.
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
			body := fmt.Sprintf(`{"uuid":"e1","timestamp":0,"resource":{"type":%q,"uuid":"r1"},"resourceAction":%q}`, r.Type, wire[0])
			ev, err := topics.Normalize([]byte(body), docsNaming, nil)
			if err != nil {
				t.Fatalf("Normalize %s %s: %v", r.Type, wire[0], err)
			}
			var ce struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(ev.Record.Value, &ce); err != nil {
				t.Fatalf("%s %s: record value: %v", r.Type, wire[0], err)
			}
			rows = append(rows, []string{"`" + ce.Type + "`", "`" + ev.Record.Topic + "`", "`" + r.Type + "`", codeList(wire, " or ")})
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

// syncGenerated compares each section of path, the text between
// "<!-- BEGIN generated: NAME -->" and "<!-- END generated: NAME -->", with
// want[NAME]; with -update it rewrites the sections instead.
func syncGenerated(t *testing.T, path string, want map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for name, body := range want {
		begin := "<!-- BEGIN generated: " + name + " -->\n"
		end := "<!-- END generated: " + name + " -->"
		if strings.Count(doc, begin) != 1 || strings.Count(doc, end) != 1 {
			t.Fatalf("%s: want exactly one %q line and one %q", path, strings.TrimSpace(begin), end)
		}
		i := strings.Index(doc, begin) + len(begin)
		j := strings.Index(doc, end)
		if j < i {
			t.Fatalf("%s: %q comes before %q", path, end, strings.TrimSpace(begin))
		}
		if *updateDocs {
			doc = doc[:i] + body + doc[j:]
			continue
		}
		if diff := cmp.Diff(strings.Split(body, "\n"), strings.Split(doc[i:j], "\n")); diff != "" {
			t.Errorf("%s: generated section %q is out of date; run go generate ./topics (-want +got):\n%s", path, name, diff)
		}
	}
	if *updateDocs && doc != string(raw) {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
