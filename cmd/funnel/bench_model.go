package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/funnelpipe/funnel/bench"
)

// scaleModelOptions says what the scale model is computed from.
type scaleModelOptions struct {
	// From is a results.json whose valid, non-emulated runs give the
	// model's inputs; empty means the documented defaults
	// (bench.DefaultModelInputs).
	From string
	// Prices is a price table file; empty means the results file's table,
	// or the built-in bench/prices.json without one.
	Prices string
	// FlexMemoryMB is the Flex Consumption instance size to price.
	FlexMemoryMB int
	// UnitSizeBytes, when not 0, replaces the inputs' unit size.
	UnitSizeBytes int64
	// SizesGB and Instances are the table's rows; empty means 1, 10, 100
	// GB and 10, 100, 1000 instances.
	SizesGB   []float64
	Instances []int
	// Format is "text", "markdown" or "json".
	Format string
}

// cmdBenchModel prints the scale model: end-to-end time and cost at many
// instances and large inputs, extrapolated from a benchmark's results or
// from documented defaults.
func cmdBenchModel(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "bench-model", "[-from results.json] [-prices FILE] [-flex-memory MB] [-unit-size MiB] [-sizes GB,...] [-instances N,...] [-format text|markdown|json]")
	from := fs.String("from", "", "a benchmark's results.json to measure the model's inputs from (default: documented defaults, local Azurite figures)")
	prices := fs.String("prices", "", "price table (default: the results file's table, else the built-in bench/prices.json)")
	flexMB := fs.Int("flex-memory", bench.DefaultFlexInstanceMemoryMB, "Flex Consumption instance memory in MB: 512, 2048 or 4096")
	unitMiB := fs.Float64("unit-size", 0, "work unit size in MiB to model (default: the measured or default inputs' own)")
	sizes := fs.String("sizes", "1,10,100", "data sizes in GB (10^9 bytes), comma-separated")
	instances := fs.String("instances", "10,100,1000", "instance counts, comma-separated")
	format := fs.String("format", "text", "output format: text, markdown or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: bench-model takes no arguments, got %q", errUsage, fs.Args())
	}
	o := scaleModelOptions{From: *from, Prices: *prices, FlexMemoryMB: *flexMB, Format: *format}
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

// writeScaleModel computes the scale model and prints it to w; "funnel
// bench --model" calls it too. Caller mistakes (a flag value, a results
// file without usable runs) are errUsage.
func writeScaleModel(ctx context.Context, w io.Writer, o scaleModelOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch o.Format {
	case "", "text", "markdown", "json":
	default:
		return fmt.Errorf("%w: -format %q, want text, markdown or json", errUsage, o.Format)
	}
	billing := bench.Billing{FlexInstanceMemoryMB: o.FlexMemoryMB}
	if err := billing.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}

	if o.UnitSizeBytes < 0 {
		return fmt.Errorf("%w: unit size %d bytes", errUsage, o.UnitSizeBytes)
	}
	var prices *bench.PriceTable
	inputs := bench.DefaultModelInputs()
	if o.From != "" {
		rep, err := bench.ReadReport(o.From)
		if err != nil {
			return err
		}
		inputs = bench.ModelInputsFromRuns(rep.Runs)
		if len(inputs) == 0 {
			return fmt.Errorf("%w: %s has no counted, non-emulated run with aggregate invocations to measure the model from", errUsage, o.From)
		}
		prices = &rep.Prices
	}
	if o.UnitSizeBytes > 0 {
		for i := range inputs {
			inputs[i].UnitSizeBytes = o.UnitSizeBytes
		}
	}
	if o.Prices != "" {
		p, err := bench.LoadPrices(o.Prices)
		if err != nil {
			return err
		}
		prices = p
	}
	if prices == nil {
		p, err := bench.DefaultPrices()
		if err != nil {
			return err
		}
		prices = p
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
	limits := bench.DefaultModelLimits()
	limits.FlexInstanceMemoryMB = billing.FlexInstanceMemoryMB
	tbl, err := bench.Model(inputs, limits, prices, sizes, instances)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
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
