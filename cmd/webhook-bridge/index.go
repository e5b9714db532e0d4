package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
)

// importBatch is how many mappings one Publish writes.
const importBatch = 5000

// loadIndex checks that topics exist, then reads the company index into
// memory and keeps following it until stop is called.
func loadIndex(ctx context.Context, cfg Config, kc kafka.Config, log zerolog.Logger, topicNames []string) (*kafka.Index, func(), error) {
	admin, err := kafka.NewAdmin(kc, cfg.KafkaAdminTimeout)
	if err != nil {
		return nil, nil, err
	}
	if err := admin.Check(ctx, topicNames); err != nil {
		return nil, nil, err
	}
	ic := cfg.index(kc)
	ic.CatchUpTimeout = 0 // no bound: this command waits below
	x, err := kafka.NewIndex(ic, log)
	if err != nil {
		return nil, nil, err
	}
	ictx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = x.Run(ictx) }()
	stop := func() { cancel(); <-done }
	wait := cfg.IndexCatchUp
	if wait <= 0 {
		wait = 24 * time.Hour
	}
	wctx, wcancel := context.WithTimeout(ctx, wait)
	defer wcancel()
	if err := x.WaitCaughtUp(wctx); err != nil {
		stop()
		return nil, nil, err
	}
	return x, stop, nil
}

// importLine is one mapping of an import file.
type importLine struct {
	Resource string `json:"resource"`
	UUID     string `json:"uuid"`
	Company  string `json:"company"`
}

// importReport is a line of `index import`'s output: a bad or conflicting
// line, or (Summary) the counts at the end.
type importReport struct {
	Line     int    `json:"line,omitempty"`
	Status   string `json:"status"` // bad, conflict, done or stopped
	Error    string `json:"error,omitempty"`
	Existing string `json:"existing,omitempty"`

	Read      int `json:"read,omitempty"`
	Written   int `json:"written,omitempty"`
	Unchanged int `json:"unchanged,omitempty"`
	Conflicts int `json:"conflicts,omitempty"`
	Bad       int `json:"bad,omitempty"`
}

// indexCmd runs `index import [--overwrite] FILE`.
func indexCmd(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer, log zerolog.Logger) error {
	if len(args) == 0 || args[0] != "import" {
		return errors.New("usage: webhook-bridge index import [--overwrite] FILE")
	}
	fs := flag.NewFlagSet("index import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	overwrite := fs.Bool("overwrite", false, "replace mappings the index or an earlier line of FILE holds with another company (default: keep them and report a conflict)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: webhook-bridge index import [--overwrite] FILE (FILE - reads standard input)")
	}
	in := io.Reader(os.Stdin)
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	kc, err := cfg.kafka()
	if err != nil {
		return err
	}
	n := cfg.naming()
	index, stop, err := loadIndex(ctx, cfg, kc, log, []string{n.Index()})
	if err != nil {
		return err
	}
	defer stop()
	wc := cfg.writer(kc)
	wc.BatchSize = importBatch
	w, err := kafka.NewWriter(wc, log)
	if err != nil {
		return err
	}
	defer w.Close()

	enc := json.NewEncoder(stdout)
	sum := importReport{Status: "done"}
	var batch []topics.Record
	// pending holds the mappings of batch by key: a line meets the mappings
	// of the lines before it as a later import would, and the index learns
	// them only once their batch is written. Written ones are in the index
	// (flush has it learn them), so pending never outgrows a batch, however
	// long the file.
	type pendingMapping struct {
		company string
		line    int
	}
	pending := make(map[string]pendingMapping, importBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := w.Publish(pctx, batch...); err != nil {
			return fmt.Errorf("write %d mappings (%d written before): %w", len(batch), sum.Written, err)
		}
		for _, rec := range batch {
			index.Learn(rec)
		}
		sum.Written += len(batch)
		batch = batch[:0]
		clear(pending)
		return nil
	}
	err = readMappings(in, func(line int, m importLine, lineErr error) error {
		sum.Read++
		if lineErr == nil {
			if r, ok := topics.Lookup(m.Resource); ok {
				m.Resource = r.Name // a resource.type is fine too
			}
			if m.Company == "" {
				lineErr = errors.New("no company id")
			} else {
				lineErr = topics.CheckMapping(m.Resource, m.UUID, m.Company)
			}
		}
		if lineErr != nil {
			sum.Bad++
			return enc.Encode(importReport{Line: line, Status: "bad", Error: lineErr.Error()})
		}
		key := topics.IndexKey(m.Resource, m.UUID)
		p, inBatch := pending[key]
		have, known := p.company, inBatch
		if !inBatch {
			have, known = index.Company(m.Resource, m.UUID)
		}
		switch {
		case known && have == m.Company:
			sum.Unchanged++
			return nil
		case known && !*overwrite:
			sum.Conflicts++
			holder := "the index"
			if inBatch {
				holder = fmt.Sprintf("line %d of this file", p.line)
			}
			return enc.Encode(importReport{Line: line, Status: "conflict", Existing: have,
				Error: fmt.Sprintf("%s maps %s to %s, not %s; kept (--overwrite replaces it)", holder, key, have, m.Company)})
		}
		batch = append(batch, topics.IndexRecord(n, m.Resource, m.UUID, m.Company))
		pending[key] = pendingMapping{company: m.Company, line: line}
		if len(batch) >= importBatch {
			return flush()
		}
		return nil
	})
	// A quote left open stops the import: what came before it is written
	// and counted, nothing after it is.
	var open *openQuoteError
	stopped := errors.As(err, &open)
	if err == nil || stopped {
		if err := flush(); err != nil {
			return err
		}
	}
	if err != nil && !stopped {
		return err
	}
	if stopped {
		sum.Status, sum.Line, sum.Error = "stopped", open.Line, open.Error()
	}
	if err := enc.Encode(sum); err != nil {
		return err
	}
	if stopped {
		return fmt.Errorf("%w; nothing from line %d on was imported (the lines before it are counted above): fix the file and import it again", open, open.Line)
	}
	if sum.Bad > 0 {
		return fmt.Errorf("%d of %d lines were bad (listed above); the other mappings were written", sum.Bad, sum.Read)
	}
	return nil
}

// openQuoteError is readMappings' error for a quoted CSV field that runs
// over more than one line. No resource, uuid or company holds a line break,
// so a quote was left open, and the lines up to where the CSV reader found
// its end (perhaps the end of the file) went into that field: reading on
// would count them as neither bad nor written.
type openQuoteError struct {
	Line   int    // where the field opens
	Detail string // where it ends
}

func (e *openQuoteError) Error() string {
	return fmt.Sprintf("line %d: a quoted field opens here and is not closed on this line (%s)", e.Line, e.Detail)
}

// readMappings reads CSV (resource, uuid, company; the first line may be a
// header) or, when the first byte that is not blank is '{', JSON lines of
// {"resource","uuid","company"}. It calls fn for every record that is not
// empty, with its line number and its problem if it has one. A CSV field
// that runs over lines ends the reading with an *openQuoteError.
func readMappings(in io.Reader, fn func(line int, m importLine, err error) error) error {
	br := bufio.NewReaderSize(in, 1<<16)
	for {
		b, err := br.Peek(1)
		if err != nil {
			return nil // empty input
		}
		if b[0] != ' ' && b[0] != '\t' && b[0] != '\r' && b[0] != '\n' {
			break
		}
		_, _ = br.ReadByte()
	}
	if b, _ := br.Peek(1); b[0] == '{' {
		sc := bufio.NewScanner(br)
		sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
		for line := 1; sc.Scan(); line++ {
			text := bytes.TrimSpace(sc.Bytes())
			if len(text) == 0 {
				continue
			}
			var m importLine
			dec := json.NewDecoder(bytes.NewReader(text))
			dec.DisallowUnknownFields()
			err := dec.Decode(&m)
			if err == nil && dec.More() {
				err = errors.New("more than one JSON value on the line")
			}
			if err != nil {
				err = fmt.Errorf("not a JSON object of resource, uuid and company: %v", err)
			}
			if err := fn(line, m, err); err != nil {
				return err
			}
		}
		return sc.Err()
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.ReuseRecord = true
	for first := true; ; first = false {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		var (
			m    importLine
			line int
		)
		var perr *csv.ParseError
		if errors.As(err, &perr) && perr.StartLine != perr.Line {
			return &openQuoteError{Line: perr.StartLine,
				Detail: fmt.Sprintf("the CSV reader ran on to line %d, column %d: %v", perr.Line, perr.Column, perr.Err)}
		}
		if err == nil {
			if breaks := lineBreaks(rec); breaks > 0 {
				line, _ = r.FieldPos(0)
				return &openQuoteError{Line: line, Detail: fmt.Sprintf("the field runs on to line %d", line+breaks)}
			}
		}
		switch {
		case err != nil:
			if perr == nil {
				return err
			}
			line = perr.Line
		case len(rec) != 3:
			line, _ = r.FieldPos(0)
			err = fmt.Errorf("%d fields, want 3: resource, uuid, company", len(rec))
		case first && isHeader(rec[0]):
			continue
		default:
			line, _ = r.FieldPos(0)
			m = importLine{Resource: strings.TrimSpace(rec[0]), UUID: strings.TrimSpace(rec[1]), Company: strings.TrimSpace(rec[2])}
		}
		if err := fn(line, m, err); err != nil {
			return err
		}
	}
}

// lineBreaks counts the line breaks in the fields of a CSV record (the CSV
// reader turns a quoted \r\n into \n).
func lineBreaks(rec []string) int {
	n := 0
	for _, f := range rec {
		n += strings.Count(f, "\n")
	}
	return n
}

// isHeader reports whether a CSV first field names the column rather than a
// resource.
func isHeader(field string) bool {
	switch strings.ToLower(strings.TrimSpace(field)) {
	case "resource", "topic", "topic name", "topic_name", "name", "type":
		return true
	}
	return false
}

const indexUsage = `Usage: webhook-bridge index import [--overwrite] FILE

Writes company-index mappings (which company an entity belongs to) for
entities created before the bridge saw them, so that their REMOVED events
are keyed by their company. FILE (- for standard input) is either CSV:

  resource,uuid,company                  (this header line is optional)
  subscription,5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21,c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7

or JSON lines:

  {"resource":"subscription","uuid":"5f0e2c8a-…","company":"c1b2a3d4-…"}

resource is a topic name (subscription) or resource.type (SUBSCRIPTION).
Mappings the index already holds are left alone (counted unchanged, or
reported as a conflict when the company differs) unless --overwrite is
given. The lines of FILE meet the mappings of the lines before them the
same way, as if each were imported on its own: a repeated line is counted
unchanged, and a later line that maps an entity to another company is a
conflict (with --overwrite, it replaces the earlier one). Bad lines and
conflicts are reported as JSON lines and the others written; the last line
counts everything, and the exit status is 1 if any line was bad.

A quoted CSV field that is not closed on the line where it opens stops the
import there (resource, uuid and company never hold a line break, so a
quote was left open): the lines before it are written and counted, none
from it on; the last line says "stopped" and names the line, and the exit
status is 1. Fix the file and import it again: what was written is then
counted unchanged.
`
