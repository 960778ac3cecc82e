package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/bench/runner"
	"github.com/funnelpipe/funnel/job"
)

const benchUsage = "[--transport queue|blob|both] [--sf 10] [--chunks 100] [--unit-mb 8] [--instances 1] [--reps 5] [--warmup 1] " +
	"[--arch amd64|arm64] [--out bench/results] [--sweep batch|scale|size] [flags]\n" +
	"       funnel bench --remote [--api URL] [--key K] [--account NAME | --connection S] [--transport ...] [--sf 1] [--chunks 10] (see funnel bench --remote -h)\n" +
	"       funnel bench --model -from results.json [--backtest] [-format text|markdown|json] [scale model flags, see funnel bench-model -h]\n" +
	"       funnel bench --recompute REPORT_DIR... (rebuild reports from their raw runs)"

// cmdBench runs the benchmark (runner.Run) and writes its report,
// or with --model prints the scale model.
func cmdBench(ctx context.Context, e env, args []string) error {
	if rest, ok := modelArgs(args); ok {
		return cmdBenchModel(ctx, e, rest)
	}
	if rest, ok := cutBoolFlag(args, "remote"); ok {
		return cmdBenchRemote(ctx, e, rest)
	}
	if len(args) > 0 && (args[0] == "--recompute" || args[0] == "-recompute") {
		return cmdBenchRecompute(ctx, e, args[1:])
	}
	ba, err := parseBenchArgs(e, args)
	if err != nil {
		return err
	}
	o := ba.options
	if o.ExecPrefix, err = runner.EmulatorPrefix(o.Arch, exec.LookPath); err != nil {
		return err
	}
	o.Progress = e.stderr
	started := time.Now()
	out, err := runner.Run(ctx, o)
	if out != nil {
		writeBenchSummary(e.stdout, out, time.Since(started))
	}
	if errors.Is(err, runner.ErrOptions) { // e.g. no packaged apps
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return err
}

// modelArgs reports whether args ask for the scale model (--model) and
// returns them without that flag.
func modelArgs(args []string) ([]string, bool) { return cutBoolFlag(args, "model") }

// cutBoolFlag reports whether args hold the boolean flag name (before any
// "--") and returns them without it.
func cutBoolFlag(args []string, name string) ([]string, bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		switch a {
		case "-" + name, "--" + name, "-" + name + "=true", "--" + name + "=true":
			return append(append([]string{}, args[:i]...), args[i+1:]...), true
		}
	}
	return nil, false
}

// benchTransports reads --transport: queue, blob or both.
func benchTransports(flag string) ([]string, error) {
	switch flag {
	case "both":
		return []string{bench.TransportQueue, bench.TransportBlob}, nil
	case bench.TransportQueue, bench.TransportBlob:
		return []string{flag}, nil
	}
	return nil, fmt.Errorf("%w: --transport %q: want queue, blob or both", errUsage, flag)
}

// benchCacheDir is the data cache folder: flag, else <user cache>/funnel/bench.
func benchCacheDir(flag string) string {
	if flag != "" {
		return flag
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "funnel", "bench")
}

// benchArgs is what the flags of bench say.
type benchArgs struct {
	options runner.Options
	sweep   string
}

// parseBenchArgs checks bench's flags and turns them into runner options
// (without ExecPrefix, which depends on this machine).
func parseBenchArgs(e env, args []string) (benchArgs, error) {
	fs := newFlagSet(e, "bench", benchUsage)
	transport := fs.String("transport", "both", "transport to benchmark: queue, blob or both (both also compares them)")
	sfs := fs.String("sf", "10", "TPC-H scale factor(s), comma-separated: 150,000 customer rows each")
	chunks := fs.String("chunks", "100", "number(s) of chunk files (blobs) the table is cut into, comma-separated")
	unitMB := fs.Int("unit-mb", job.DefaultUnitMB, fmt.Sprintf("work unit size in MiB (1..%d); 0 lets partition pick it from the input size and the transport, as for a job submitted without one", job.MaxUnitMB))
	instances := fs.String("instances", "1", "handler processes per app, comma-separated for several configurations")
	reps := fs.Int("reps", 5, "measured repetitions per configuration (headline figures are medians; 5 or more give a usable range)")
	warmup := fs.Int("warmup", 1, "warm-up runs per configuration, left out of the figures")
	arch := fs.String("arch", runtime.GOARCH, "handler architecture: amd64 or arm64 (another than this machine's runs under qemu, timings marked emulated)")
	outDir := fs.String("out", filepath.Join("bench", "results"), "results `folder`: the report goes to <out>/<date>-<label>/")
	sweep := fs.String("sweep", "", "run a preset sweep: batch (1-500 chunks), scale (1, 2, 4 instances) or size (SF 1, 10, 40)")
	apps := fs.String("apps", "", "`folder` of the packaged apps for --arch (default dist/apps/linux-<arch>)")
	cache := fs.String("cache", "", "`folder` caching generated tables and chunk files (default <user cache>/funnel/bench)")
	prices := fs.String("prices", "", "price table `file` (default: the built-in bench/prices.json)")
	flexMB := fs.Int("flex-memory", bench.DefaultFlexInstanceMemoryMB, "Flex Consumption instance memory in MB to price runs at: 512, 2048 or 4096")
	parallel := fs.Int("parallel", 16, "blobs uploaded and downloaded at once (upload and raw-download measurement)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up on one job after this long (the run is then invalid)")
	settle := fs.Duration("settle", 500*time.Millisecond, "wait this long after a result before reading the counters")
	label := fs.String("label", "", "report label (default: the transport, comparison, or <sweep>-sweep; -<arch> when emulated)")
	workdir := fs.String("workdir", "", "keep each configuration's stack log and invocation records in this `folder` (default: a temporary folder, removed)")
	var notes noteList
	fs.Var(&notes, "note", "a `remark` to print in the report (repeatable), e.g. what else ran on the machine")
	if err := parseFlags(fs, args); err != nil {
		return benchArgs{}, err
	}
	if fs.NArg() != 0 {
		return benchArgs{}, fmt.Errorf("%w: bench takes no arguments, got %q", errUsage, fs.Args())
	}
	if *unitMB < 0 {
		return benchArgs{}, fmt.Errorf("%w: --unit-mb %d: must be 0 (automatic) or 1..%d", errUsage, *unitMB, job.MaxUnitMB)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	o := runner.Options{
		UnitMB: *unitMB, AutoUnit: *unitMB == 0, Reps: *reps, WarmUps: *warmup, Arch: *arch, OutDir: *outDir,
		Parallel: *parallel, Timeout: *timeout, Settle: *settle, Label: *label, WorkDir: *workdir, Notes: notes,
		Billing: bench.Billing{FlexInstanceMemoryMB: *flexMB},
	}
	var err error
	if o.Transports, err = benchTransports(*transport); err != nil {
		return benchArgs{}, err
	}
	if o.ScaleFactors, err = parseList(*sfs, func(s string) (float64, error) {
		v, err := strconv.ParseFloat(s, 64)
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = fmt.Errorf("%q is not a number", s)
		}
		return v, err
	}); err != nil {
		return benchArgs{}, fmt.Errorf("%w: --sf: %v", errUsage, err)
	}
	if o.Chunks, err = parseList(*chunks, strconv.Atoi); err != nil {
		return benchArgs{}, fmt.Errorf("%w: --chunks: %v", errUsage, err)
	}
	if o.Instances, err = parseList(*instances, strconv.Atoi); err != nil {
		return benchArgs{}, fmt.Errorf("%w: --instances: %v", errUsage, err)
	}
	if *sweep != "" {
		varies := map[string]string{runner.SweepBatch: "chunks", runner.SweepScale: "instances", runner.SweepSize: "sf"}[*sweep]
		if set[varies] {
			return benchArgs{}, fmt.Errorf("%w: --sweep %s sets --%s; give one or the other", errUsage, *sweep, varies)
		}
		if err := o.ApplySweep(*sweep); err != nil {
			return benchArgs{}, fmt.Errorf("%w: --sweep: %v", errUsage, err)
		}
	}
	o.AppsDir = *apps
	if o.AppsDir == "" {
		o.AppsDir = filepath.Join("dist", "apps", "linux-"+*arch)
	}
	o.CacheDir = benchCacheDir(*cache)
	if *prices != "" {
		if o.Prices, err = bench.LoadPrices(*prices); err != nil {
			return benchArgs{}, fmt.Errorf("%w: --prices: %w", errUsage, err)
		}
	}
	if o.Label == "" {
		o.Label = o.DefaultLabel(*sweep)
	}
	if err := o.Validate(); err != nil {
		return benchArgs{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	return benchArgs{options: o, sweep: *sweep}, nil
}

// noteList is a repeatable string flag.
type noteList []string

func (n *noteList) String() string { return strings.Join(*n, "; ") }

func (n *noteList) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty note")
	}
	*n = append(*n, v)
	return nil
}

// writeBenchSummary prints the headline figures of each configuration and
// where the report is.
func writeBenchSummary(w io.Writer, out *runner.Outcome, took time.Duration) {
	r := out.Report
	fmt.Fprintf(w, "\nfunnel bench: %d configuration(s), %d run(s) in %s; report %s\n\n",
		len(r.Aggregates), len(r.Runs), took.Round(time.Second), filepath.Join(out.Dir, bench.MarkdownFile))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONFIGURATION\tRUNS\tEND-TO-END S\tMB/S\t× BASELINE\t× RAW DOWNLOAD\tINVOCATIONS\tSTORAGE OPS\tCOST/RUN FLEX\tCOST/RUN CONSUMPTION")
	for _, a := range r.Aggregates {
		runs := strconv.Itoa(a.Repetitions)
		if a.Invalid > 0 {
			runs += fmt.Sprintf(" (+%d invalid)", a.Invalid)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Config, runs, a.EndToEndSeconds, a.ThroughputMBps,
			a.RatioToBaseline, a.RatioToRawDownload, a.Executions, a.StorageOps, a.CostFlex, a.CostConsumption)
	}
	tw.Flush()
	if out.Invalid > 0 {
		fmt.Fprintf(w, "\n%d run(s) INVALID (wrong answer, failed job or no result in time): see the report.\n", out.Invalid)
	}
	for _, a := range out.Aborted {
		fmt.Fprintf(w, "ABORTED: %s\n", a)
	}
}
