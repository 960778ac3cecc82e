package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ReportSchema is the value of results.json's "schema" field.
const ReportSchema = "funnel-bench/1"

// ErrBadReport marks a report that cannot be written or read.
var ErrBadReport = errors.New("bench: bad report")

// Report is everything a benchmark produced; it is results.json.
type Report struct {
	Schema string `json:"schema"`
	// Label names what the report is about: a transport ("queue", "blob")
	// or "comparison".
	Label   string    `json:"label"`
	Created time.Time `json:"created"`
	Machine Machine   `json:"machine"`
	// Prices is the price table the costs were computed with; its Date is
	// the report's price date.
	Prices  PriceTable `json:"prices"`
	Billing Billing    `json:"billing"`
	// Notes are free-form remarks from the runner (e.g. what was skipped).
	Notes      []string    `json:"notes,omitempty"`
	Runs       []Run       `json:"runs"`
	Aggregates []Aggregate `json:"aggregates"`
	// Model extrapolates the runs (or the default inputs when no run can
	// be used) to more instances and data.
	Model ModelTable `json:"model"`
}

// ReportOptions is what NewReport builds a report from.
type ReportOptions struct {
	Label   string
	Created time.Time
	Machine Machine
	Prices  *PriceTable
	// Billing must be what the runs were priced with; the zero value means
	// DefaultBilling.
	Billing Billing
	Runs    []Run
	Notes   []string
	// ModelLimits, ModelSizes and ModelInstances default to
	// DefaultModelLimits, DefaultModelSizes and DefaultModelInstances.
	ModelLimits    *ModelLimits
	ModelSizes     []int64
	ModelInstances []int
	// HostConcurrency is the per-instance concurrency host.json gives, for
	// runs that did not record it (results written before they did).
	HostConcurrency *Concurrency
}

var labelPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// ValidLabel reports whether label can name a report (and its folder):
// lower-case letters, digits and hyphens, starting with a letter or digit.
func ValidLabel(label string) bool { return labelPattern.MatchString(label) }

// NewReport aggregates the runs' repetitions and computes the scale model.
func NewReport(o ReportOptions) (Report, error) {
	if !labelPattern.MatchString(o.Label) {
		return Report{}, fmt.Errorf("%w: label %q, want lower-case letters, digits and hyphens", ErrBadReport, o.Label)
	}
	if o.Prices == nil {
		return Report{}, fmt.Errorf("%w: no price table", ErrBadReport)
	}
	if len(o.Runs) == 0 {
		return Report{}, fmt.Errorf("%w: no runs", ErrBadReport)
	}
	if o.Created.IsZero() {
		return Report{}, fmt.Errorf("%w: no creation time", ErrBadReport)
	}
	if o.Billing == (Billing{}) {
		o.Billing = DefaultBilling()
	}
	aggs, err := AggregateRuns(o.Runs)
	if err != nil {
		return Report{}, err
	}
	limits := DefaultModelLimits()
	if o.ModelLimits != nil {
		limits = *o.ModelLimits
	}
	limits.FlexInstanceMemoryMB = o.Billing.FlexInstanceMemoryMB
	source := filepath.ToSlash(filepath.Join(ReportDir("", o.Created, o.Label), ResultsFile))
	inputs, err := ModelInputsFromRuns(o.Runs, source, o.HostConcurrency)
	if err != nil {
		return Report{}, err
	}
	var model ModelTable
	if len(inputs) == 0 {
		model = ModelTable{Limits: limits, Note: "no counted run with native (not emulated) timings to fit the model on: emulated timings say nothing about speed."}
	} else {
		model, err = Model(inputs, limits, o.Prices,
			cmpSlice(o.ModelSizes, DefaultModelSizes()), cmpSlice(o.ModelInstances, DefaultModelInstances()))
		if err != nil {
			return Report{}, err
		}
		model.Backtest = Backtest(o.Runs, inputs)
	}
	return Report{
		Schema: ReportSchema, Label: o.Label, Created: o.Created.UTC(), Machine: o.Machine,
		Prices: *o.Prices, Billing: o.Billing, Notes: o.Notes,
		Runs: o.Runs, Aggregates: aggs, Model: model,
	}, nil
}

func cmpSlice[T any](s, def []T) []T {
	if len(s) == 0 {
		return def
	}
	return s
}

// ReportDir is the directory a report goes to: <root>/<YYYY-MM-DD>-<label>.
func ReportDir(root string, created time.Time, label string) string {
	return filepath.Join(root, created.UTC().Format(time.DateOnly)+"-"+label)
}

// Files a report directory holds besides the plots.
const (
	ResultsFile  = "results.json"
	MarkdownFile = "report.md"
)

// WriteReport writes results.json, report.md and the plots (each as SVG
// and PNG) into dir, creating it. Each file is written to a temporary name
// and renamed, so a failed write leaves no half-written file behind.
func WriteReport(dir string, r Report) error {
	if r.Schema != ReportSchema {
		return fmt.Errorf("%w: schema %q, want %q (build reports with NewReport)", ErrBadReport, r.Schema, ReportSchema)
	}
	if len(r.Runs) == 0 {
		return fmt.Errorf("%w: no runs", ErrBadReport)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	results, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write report: encode results: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, ResultsFile), append(results, '\n')); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	plots, err := writePlots(dir, r)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	var md bytes.Buffer
	if err := writeMarkdown(&md, r, plots); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, MarkdownFile), md.Bytes()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// ReadReport reads a results.json written by WriteReport.
func ReadReport(path string) (Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return Report{}, fmt.Errorf("read report: %w", err)
	}
	defer f.Close()
	r, err := DecodeReport(f)
	if err != nil {
		return Report{}, fmt.Errorf("read report %s: %w", path, err)
	}
	return r, nil
}

// DecodeReport decodes results.json; an unknown field or another schema is
// an error wrapping ErrBadReport.
func DecodeReport(rd io.Reader) (Report, error) {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	var r Report
	if err := dec.Decode(&r); err != nil {
		return Report{}, fmt.Errorf("%w: %v", ErrBadReport, err)
	}
	if r.Schema != ReportSchema {
		return Report{}, fmt.Errorf("%w: schema %q, want %q", ErrBadReport, r.Schema, ReportSchema)
	}
	return r, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	perr := os.Chmod(name, 0o644) // CreateTemp makes 0600; reports are shared
	if err := errors.Join(werr, cerr, perr); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// IndexFile is the index WriteIndex keeps in the results root.
const IndexFile = "README.md"

// WriteIndex writes <root>/README.md listing every report directory under
// root (those holding a report.md), newest first, with a link to the
// latest, so that the project README can link to one stable page.
func WriteIndex(root string) error {
	entries, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, e.Name(), MarkdownFile)); err == nil {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) == 0 {
		return fmt.Errorf("write index: %w: no report under %s", ErrBadReport, root)
	}
	// Names start with the date, so name order is date order; within a
	// date, the time each report says it was created decides (file
	// modification times do not survive a clone), then the name.
	created := make(map[string]time.Time, len(dirs))
	for _, d := range dirs {
		created[d] = createdAt(filepath.Join(root, d, ResultsFile))
	}
	slices.SortFunc(dirs, func(a, b string) int {
		if c := strings.Compare(a[:min(10, len(a))], b[:min(10, len(b))]); c != 0 {
			return -c
		}
		if c := created[a].Compare(created[b]); c != 0 {
			return -c
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	b.WriteString("# Benchmark reports\n\n")
	fmt.Fprintf(&b, "Latest: [%s](%s/%s)\n\n", dirs[0], dirs[0], MarkdownFile)
	b.WriteString("All reports, newest first:\n\n")
	for _, d := range dirs {
		fmt.Fprintf(&b, "- [%s](%s/%s)\n", d, d, MarkdownFile)
	}
	if err := writeFileAtomic(filepath.Join(root, IndexFile), []byte(b.String())); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}

// createdAt is the "created" time a results file records, or the zero
// time when it has none or cannot be read (such reports sort last within
// their date).
func createdAt(path string) time.Time {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}
	}
	var r struct {
		Created time.Time `json:"created"`
	}
	if json.Unmarshal(b, &r) != nil {
		return time.Time{}
	}
	return r.Created
}

// RecomputeReport rebuilds the report of a results.json from its raw
// measurements alone: every derived figure (statistics, GB-seconds, cost,
// the scale model and its back-test) is computed again by this code, with
// the report's own price table and billing. Fields the raw measurements do
// not need (derived figures of an older version) are ignored; the schema
// must match. hostConcurrency, when not nil, gives the model the
// per-instance concurrency of runs that did not record it, for a machine of
// the report's core count.
func RecomputeReport(path string, hostConcurrency func(cores int) (*Concurrency, error)) (Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Report{}, fmt.Errorf("recompute report: %w", err)
	}
	// Decoded leniently: derived figures of an older version may have
	// other fields; only the raw measurements and settings are kept.
	var raw Report
	if err := json.Unmarshal(b, &raw); err != nil {
		return Report{}, fmt.Errorf("recompute report %s: %w: %w", path, ErrBadReport, err)
	}
	if raw.Schema != ReportSchema {
		return Report{}, fmt.Errorf("recompute report %s: %w: schema %q, want %q", path, ErrBadReport, raw.Schema, ReportSchema)
	}
	if raw.Billing == (Billing{}) {
		raw.Billing = DefaultBilling()
	}
	runs := make([]Run, 0, len(raw.Runs))
	for _, old := range raw.Runs {
		r, err := NewRun(old.Measurement, &raw.Prices, raw.Billing)
		if err != nil {
			return Report{}, fmt.Errorf("recompute report %s: %w", path, err)
		}
		runs = append(runs, r)
	}
	var conc *Concurrency
	if hostConcurrency != nil {
		if conc, err = hostConcurrency(raw.Machine.Cores); err != nil {
			return Report{}, fmt.Errorf("recompute report %s: %w", path, err)
		}
	}
	return NewReport(ReportOptions{
		Label: raw.Label, Created: raw.Created, Machine: raw.Machine, Prices: &raw.Prices, Billing: raw.Billing,
		Notes: raw.Notes, Runs: runs, HostConcurrency: conc,
	})
}
