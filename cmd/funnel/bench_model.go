package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/infra/funchost"
)

// scaleModelOptions says what the scale model is computed from.
type scaleModelOptions struct {
	// From is the results.json whose counted, non-emulated runs the
	// model's inputs are fitted on. Required: the model has no defaults.
	From string
	// HostJSON is the host.json that gives the per-instance concurrency
	// of runs that did not record it.
	HostJSON string
	// Prices is a price table file; empty means the results file's table.
	Prices string
	// FlexMemoryMB is the Flex Consumption instance size to price.
	FlexMemoryMB int
	// UnitSizeBytes, when not 0, replaces the inputs' unit size.
	UnitSizeBytes int64
	// SizesGB and Instances are the table's rows; empty means 1, 10, 100
	// GB and 10, 100, 1000 instances.
	SizesGB   []float64
	Instances []int
	// ColdStartSeconds and ScaleDecisionSeconds are the model's stated
	// assumptions (see bench.ModelAssumptions); negative means the
	// default.
	ColdStartSeconds, ScaleDecisionSeconds float64
	// Backtest prints the back-test instead of the table and fails when
	// a configuration is missed by more than bench.BacktestTolerance.
	Backtest bool
	// Format is "text", "markdown" or "json".
	Format string
}

// cmdBenchModel prints the scale model: end-to-end time and cost at many
// instances and large inputs, fitted on a benchmark's results; or with
// -backtest, the model against the runs it was fitted on.
func cmdBenchModel(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "bench-model", "-from results.json [-backtest] [-host-json FILE] [-prices FILE] [-flex-memory MB] [-unit-size MiB] [-sizes GB,...] [-instances N,...] [-cold-start S] [-scale-decision S] [-format text|markdown|json]")
	from := fs.String("from", "", "the benchmark's results.json whose runs the model is fitted on (required: the model has no default inputs)")
	backtest := fs.Bool("backtest", false, fmt.Sprintf("print, for every measured configuration, the median measured and the predicted end-to-end time; fail beyond ±%v %%", bench.BacktestTolerance*100))
	hostJSON := fs.String("host-json", "host.json", "host.json giving the per-instance concurrency of runs that did not record it")
	prices := fs.String("prices", "", "price table (default: the results file's table)")
	flexMB := fs.Int("flex-memory", bench.DefaultFlexInstanceMemoryMB, "Flex Consumption instance memory in MB: 512, 2048 or 4096")
	unitMiB := fs.Float64("unit-size", 0, "work unit size in MiB to model (default: the measured one)")
	sizes := fs.String("sizes", "1,10,100", "data sizes in GB (10^9 bytes), comma-separated")
	instances := fs.String("instances", "10,100,1000", "instance counts, comma-separated")
	coldStart := fs.Float64("cold-start", -1, "assumed seconds before a new instance runs work (default: the model's stated assumption, 0)")
	decision := fs.Float64("scale-decision", -1, "assumed seconds between scale decisions (default: the model's stated assumption, 1)")
	format := fs.String("format", "text", "output format: text, markdown or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: bench-model takes no arguments, got %q", errUsage, fs.Args())
	}
	o := scaleModelOptions{From: *from, HostJSON: *hostJSON, Prices: *prices, FlexMemoryMB: *flexMB, Format: *format, Backtest: *backtest,
		ColdStartSeconds: *coldStart, ScaleDecisionSeconds: *decision}
	if *unitMiB < 0 || math.IsNaN(*unitMiB) || *unitMiB > 1<<20 {
		return fmt.Errorf("%w: -unit-size %v MiB out of range", errUsage, *unitMiB)
	}
	o.UnitSizeBytes = int64(math.Round(*unitMiB * (1 << 20)))
	if *unitMiB > 0 && o.UnitSizeBytes < 1 {
		o.UnitSizeBytes = 1
	}
	var err error
	if o.SizesGB, err = parseList(*sizes, func(s string) (float64, error) {
		v, err := strconv.ParseFloat(s, 64)
		if err == nil && (!(v > 0) || math.IsInf(v, 0) || v*1e9 > math.MaxInt64) {
			err = fmt.Errorf("size %q GB out of range", s)
		}
		return v, err
	}); err != nil {
		return fmt.Errorf("%w: -sizes: %v", errUsage, err)
	}
	if o.Instances, err = parseList(*instances, func(s string) (int, error) {
		v, err := strconv.Atoi(s)
		if err == nil && v < 1 {
			err = fmt.Errorf("instance count %d below 1", v)
		}
		return v, err
	}); err != nil {
		return fmt.Errorf("%w: -instances: %v", errUsage, err)
	}
	return writeScaleModel(ctx, e.stdout, o)
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := parse(f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list %q", s)
	}
	return out, nil
}

// writeScaleModel fits the scale model on o.From's runs and prints it (or
// its back-test) to w; "funnel bench --model" calls it too. Caller
// mistakes (a flag value, no results file, a file without usable runs) are
// errUsage; a back-test beyond the tolerance is an error wrapping
// bench.ErrBacktest, after the table is printed.
func writeScaleModel(ctx context.Context, w io.Writer, o scaleModelOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch o.Format {
	case "", "text", "markdown", "json":
	default:
		return fmt.Errorf("%w: -format %q, want text, markdown or json", errUsage, o.Format)
	}
	if o.From == "" {
		return fmt.Errorf("%w: the scale model is fitted on measured runs: give -from results.json (e.g. bench/results/<report>/results.json)", errUsage)
	}
	billing := bench.Billing{FlexInstanceMemoryMB: o.FlexMemoryMB}
	if err := billing.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if o.UnitSizeBytes < 0 {
		return fmt.Errorf("%w: unit size %d bytes", errUsage, o.UnitSizeBytes)
	}
	limits := bench.DefaultModelLimits()
	limits.FlexInstanceMemoryMB = billing.FlexInstanceMemoryMB
	if o.ColdStartSeconds >= 0 {
		limits.ColdStartSeconds = o.ColdStartSeconds
	}
	if o.ScaleDecisionSeconds >= 0 {
		limits.ScaleDecisionSeconds = o.ScaleDecisionSeconds
	}
	if err := limits.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if _, err := hostConcurrency(o.HostJSON)(0); err != nil {
		return fmt.Errorf("%w: -host-json: %w", errUsage, err)
	}
	// The raw measurements are read and every derived figure recomputed,
	// so that results written by an older version fit the same way.
	rep, err := bench.RecomputeReport(o.From, hostConcurrency(o.HostJSON))
	if err != nil {
		return err
	}
	conc, err := hostConcurrency(o.HostJSON)(rep.Machine.Cores)
	if err != nil {
		return fmt.Errorf("%w: -host-json: %w", errUsage, err)
	}
	inputs, err := bench.ModelInputsFromRuns(rep.Runs, o.From, conc)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if len(inputs) == 0 {
		return fmt.Errorf("%w: %s has no counted, non-emulated run with aggregate invocations to fit the model on", errUsage, o.From)
	}
	if o.Backtest {
		rows := bench.Backtest(rep.Runs, inputs)
		var misses int
		for _, r := range rows {
			if !r.Within() {
				misses++
			}
		}
		switch o.Format {
		case "json":
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rows); err != nil {
				return err
			}
		default:
			fmt.Fprintf(w, "Back-test of the scale model fitted on %s (median measured vs predicted end-to-end time, tolerance ±%v %%):\n\n", o.From, bench.BacktestTolerance*100)
			if err := bench.WriteBacktest(w, rows); err != nil {
				return err
			}
		}
		if misses > 0 {
			return fmt.Errorf("%w: %d of %d configuration(s) beyond ±%v %%", bench.ErrBacktest, misses, len(rows), bench.BacktestTolerance*100)
		}
		return nil
	}
	if o.UnitSizeBytes > 0 {
		for i := range inputs {
			inputs[i].UnitSizeBytes = o.UnitSizeBytes
		}
	}
	prices := &rep.Prices
	if o.Prices != "" {
		if prices, err = bench.LoadPrices(o.Prices); err != nil {
			return err
		}
	}
	sizes := make([]int64, 0, len(o.SizesGB))
	for _, gb := range o.SizesGB {
		sizes = append(sizes, int64(math.Round(gb*1e9)))
	}
	if len(o.SizesGB) == 0 {
		sizes = bench.DefaultModelSizes()
	}
	instances := o.Instances
	if len(instances) == 0 {
		instances = bench.DefaultModelInstances()
	}
	tbl, err := bench.Model(inputs, limits, prices, sizes, instances)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	tbl.Backtest = bench.Backtest(rep.Runs, inputs)
	switch o.Format {
	case "markdown":
		return tbl.WriteMarkdown(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(tbl)
	}
	return tbl.WriteText(w)
}

// hostConcurrency reads the per-instance concurrency a host.json gives on
// a machine of cores processors (this one's when 0).
func hostConcurrency(hostJSON string) func(cores int) (*bench.Concurrency, error) {
	return func(cores int) (*bench.Concurrency, error) {
		l, err := funchost.ReadInstanceLimits(hostJSON, cores)
		if err != nil {
			return nil, err
		}
		return &bench.Concurrency{Queue: l.QueueConcurrency(), Blob: l.BlobMaxDegreeOfParallelism, Processors: l.Processors}, nil
	}
}

// cmdBenchRecompute rebuilds committed reports from their raw runs: every
// derived figure, the cost and the scale model are computed again by this
// version, and results.json, report.md and the plots are rewritten in
// place (the index of each report's parent folder too).
func cmdBenchRecompute(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "bench --recompute", "[-host-json FILE] REPORT_DIR...")
	hostJSON := fs.String("host-json", "host.json", "host.json giving the per-instance concurrency of runs that did not record it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: bench --recompute needs at least one report folder", errUsage)
	}
	for _, dir := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, err := bench.RecomputeReport(filepath.Join(dir, bench.ResultsFile), hostConcurrency(*hostJSON))
		if err != nil {
			return err
		}
		if err := bench.WriteReport(dir, rep); err != nil {
			return err
		}
		if err := bench.WriteIndex(filepath.Dir(filepath.Clean(dir))); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "recomputed %s: %d run(s)\n", filepath.Join(dir, bench.MarkdownFile), len(rep.Runs))
	}
	return nil
}
