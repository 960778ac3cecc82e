// Package runner is the half of the benchmark that starts things: Run
// runs every configuration of Options on a fresh local stack (Azurite plus
// the three apps under the local Functions host), measures each job into a
// bench.Measurement, checks its answer, and writes the report with package
// bench, which holds the pure arithmetic (statistics, cost, model) and the
// writing. RunRemote runs the same measured job against a pipeline that
// already runs elsewhere (an Azure deployment) and writes a smaller report
// (RemoteReport) that names its environment and what it could not see.
package runner

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/infra/procstat"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/testing_data/dbgen"
)

// Errors of the runner.
var (
	// ErrOptions wraps every error about Options themselves.
	ErrOptions = errors.New("bench: bad runner options")
	// ErrNoEmulator is returned when handlers of another architecture
	// need an emulator this machine does not have.
	ErrNoEmulator = errors.New("bench: no emulator")
	// ErrInvalidRuns is returned by Run, after the report is
	// written, when some runs had a wrong answer, failed or timed out.
	ErrInvalidRuns = errors.New("bench: some runs are invalid")
	// ErrAborted is returned by Run, after the report (if any run
	// finished) is written, when a configuration could not be run to its
	// end: the stack did not start, a handler died, storage failed.
	ErrAborted = errors.New("bench: some configurations were aborted")
)

// Sweeps: the seed's experiments, each a preset list of one variable.
const (
	SweepBatch = "batch" // the same input in 1 to 500 chunks
	SweepScale = "scale" // 1, 2 and 4 instances per app
	SweepSize  = "size"  // scale factors 1, 10 and 40
)

// Sweeps names the sweeps ApplySweep knows.
func Sweeps() []string { return []string{SweepBatch, SweepScale, SweepSize} }

// Limits on runner options.
const (
	maxRunnerChunks    = 10000
	maxRunnerInstances = 16
	maxRunnerReps      = 100
)

// Options configures Run. Every configuration is one point
// of the product Transports × ScaleFactors × Chunks × Instances, at UnitMB
// and Arch.
type Options struct {
	// Transports are the transports to run, "queue" and/or "blob".
	Transports []string
	// ScaleFactors are TPC-H scale factors (150,000 customer rows each).
	ScaleFactors []float64
	// Chunks are the numbers of chunk files (blobs) the table is cut into.
	Chunks []int
	// Instances are handler processes per app.
	Instances []int
	// UnitMB is the job's work unit size in MiB (job.DefaultUnitMB if 0),
	// unless AutoUnit.
	UnitMB int
	// AutoUnit submits jobs without a unit size, so that partition picks
	// it from the input size (job.AutoUnitBytes); each configuration
	// records the size picked.
	AutoUnit bool
	// Reps measured repetitions per configuration, after WarmUps warm-up
	// runs (left out of every figure).
	Reps, WarmUps int
	// Arch is the handlers' architecture, "amd64" or "arm64" (this
	// machine's when empty). Handlers of another architecture run under
	// ExecPrefix (see EmulatorPrefix) and their timings are marked emulated.
	Arch string
	// AppsDir holds the packaged apps for Arch (partition/, aggregate/,
	// merge/), e.g. dist/apps/linux-arm64.
	AppsDir string
	// ExecPrefix is prepended to every handler's command line.
	ExecPrefix []string
	// CacheDir keeps generated tables and chunk files between runs: a
	// table is generated once per scale factor and split once per chunk
	// count.
	CacheDir string
	// OutDir is the results root (bench/results); the report goes to
	// ReportDir(OutDir, now, Label) and OutDir's index is rewritten.
	OutDir string
	// Label names the report; empty means DefaultLabel's.
	Label string
	// Prices is the price table; nil means DefaultPrices.
	Prices *bench.PriceTable
	// Billing is how runs are priced; the zero value means DefaultBilling.
	Billing bench.Billing
	// Parallel is how many blobs are uploaded or downloaded at once (16 if 0).
	Parallel int
	// Timeout bounds one job, submit to result (10 minutes if 0).
	Timeout time.Duration
	// Settle is how long the runner waits after a job's result before it
	// reads the counters, so that the last message deletions and receipts
	// are counted (500 ms if 0).
	Settle time.Duration
	// WorkDir receives each configuration's stack log and invocation
	// records; empty means a temporary folder removed at the end.
	WorkDir string
	// RepoDir is the funnel work tree, for the machine description (".").
	RepoDir string
	// Notes are added to the report as they are.
	Notes []string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
	// Now is the clock (time.Now if nil); tests fix it.
	Now func() time.Time
}

// ApplySweep sets the variable a sweep varies to its preset values.
func (o *Options) ApplySweep(sweep string) error {
	switch sweep {
	case SweepBatch:
		o.Chunks = []int{1, 5, 10, 20, 50, 100, 250, 500}
	case SweepScale:
		o.Instances = []int{1, 2, 4}
	case SweepSize:
		o.ScaleFactors = []float64{1, 10, 40}
	default:
		return fmt.Errorf("%w: sweep %q (want %s)", ErrOptions, sweep, strings.Join(Sweeps(), ", "))
	}
	return nil
}

// withDefaults fills the zero fields that have a default.
func (o Options) withDefaults() Options {
	o.Arch = cmp.Or(o.Arch, runtime.GOARCH)
	o.UnitMB = cmp.Or(o.UnitMB, job.DefaultUnitMB)
	o.Parallel = cmp.Or(o.Parallel, 16)
	o.Timeout = cmp.Or(o.Timeout, 10*time.Minute)
	o.Settle = cmp.Or(o.Settle, 500*time.Millisecond)
	o.RepoDir = cmp.Or(o.RepoDir, ".")
	if o.Billing == (bench.Billing{}) {
		o.Billing = bench.DefaultBilling()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate reports options Run cannot run, with an error wrapping
// ErrOptions that names the field.
func (o Options) Validate() error {
	o = o.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrOptions}, args...)...)
	}
	if len(o.Transports) == 0 {
		return bad("no transport")
	}
	for i, t := range o.Transports {
		if t != bench.TransportQueue && t != bench.TransportBlob {
			return bad("transport %q (want %s or %s)", t, bench.TransportQueue, bench.TransportBlob)
		}
		if slices.Contains(o.Transports[:i], t) {
			return bad("transport %q given twice", t)
		}
	}
	if len(o.ScaleFactors) == 0 || len(o.Chunks) == 0 || len(o.Instances) == 0 {
		return bad("scale factors, chunks and instances each need at least one value")
	}
	for _, sf := range o.ScaleFactors {
		rows, err := dbgen.Rows(sf)
		if err != nil {
			return bad("scale factor: %v", err)
		}
		for _, c := range o.Chunks {
			if c < 1 || c > maxRunnerChunks || int64(c) > rows {
				return bad("%d chunks: must be 1..%d and at most the row count (%d at SF %s)", c, maxRunnerChunks, rows, bench.FormatFloat(sf))
			}
		}
	}
	for _, n := range o.Instances {
		if n < 1 || n > maxRunnerInstances {
			return bad("%d instances per app: must be 1..%d", n, maxRunnerInstances)
		}
	}
	if !o.AutoUnit && (o.UnitMB < 1 || o.UnitMB > job.MaxUnitMB) {
		return bad("unit size %d MiB: must be 1..%d", o.UnitMB, job.MaxUnitMB)
	}
	if o.Reps < 1 || o.Reps > maxRunnerReps {
		return bad("%d repetitions: must be 1..%d", o.Reps, maxRunnerReps)
	}
	if o.WarmUps < 0 || o.WarmUps > maxRunnerReps {
		return bad("%d warm-up runs: must be 0..%d", o.WarmUps, maxRunnerReps)
	}
	if o.Arch != "amd64" && o.Arch != "arm64" {
		return bad("arch %q (want amd64 or arm64)", o.Arch)
	}
	if o.AppsDir == "" {
		return bad("no apps folder")
	}
	if o.CacheDir == "" || o.OutDir == "" {
		return bad("a cache folder and an output folder are needed")
	}
	if o.Label != "" && !bench.ValidLabel(o.Label) {
		return bad("label %q: lower-case letters, digits and hyphens", o.Label)
	}
	if o.Parallel < 1 || o.Parallel > 256 {
		return bad("parallelism %d: must be 1..256", o.Parallel)
	}
	if o.Timeout < 0 || o.Settle < 0 {
		return bad("negative timeout or settle time")
	}
	if err := o.Billing.Validate(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// Configs expands the options into the configurations to run, in run
// order: by scale factor, then chunk count (so that one data set is split
// once and used by consecutive runs), then instances, then transport in
// the order given.
func (o Options) Configs() []bench.Config {
	o = o.withDefaults()
	emulated := bench.Emulated(o.Arch)
	sfs := slices.Compact(slices.Sorted(slices.Values(o.ScaleFactors)))
	chunks := slices.Compact(slices.Sorted(slices.Values(o.Chunks)))
	insts := slices.Compact(slices.Sorted(slices.Values(o.Instances)))
	var out []bench.Config
	for _, sf := range sfs {
		for _, c := range chunks {
			for _, n := range insts {
				for _, t := range o.Transports {
					out = append(out, bench.Config{
						Transport: t, Arch: o.Arch, Emulated: emulated, ScaleFactor: sf, Chunks: c,
						UnitSizeBytes: o.unitBytes(), InstancesPerApp: n, AutoUnit: o.AutoUnit,
					})
				}
			}
		}
	}
	return out
}

// unitBytes is the configurations' unit size: 0 with AutoUnit until the
// input's size is known (autoUnit).
func (o Options) unitBytes() int64 {
	if o.AutoUnit {
		return 0
	}
	return int64(o.UnitMB) << 20
}

// autoUnit gives the configurations of one input the unit size partition
// picks for it over each one's transport when a job names none.
func autoUnit(group []bench.Config, inputBytes int64) {
	for i := range group {
		group[i].UnitSizeBytes, _ = job.AutoUnitBytes(inputBytes, job.DefaultParallelism, group[i].Transport)
	}
}

// DefaultLabel names a report after what it holds: the transport alone,
// "comparison" for both, "<sweep>-sweep" for a sweep, with "-<arch>"
// appended when the handlers ran emulated.
func (o Options) DefaultLabel(sweep string) string {
	o = o.withDefaults()
	label := "comparison"
	if len(o.Transports) == 1 {
		label = o.Transports[0]
	}
	if sweep != "" {
		label = sweep + "-sweep"
		if len(o.Transports) == 1 {
			label += "-" + o.Transports[0]
		}
	}
	if bench.Emulated(o.Arch) {
		label += "-" + o.Arch
	}
	return label
}

// emulators names the qemu user-mode emulator of each architecture.
var emulators = map[string]string{"arm64": "qemu-aarch64-static", "amd64": "qemu-x86_64-static"}

// EmulatorPrefix returns the command that runs handlers built for arch on
// this machine: none when arch is this machine's, else the qemu user-mode
// emulator (found with lookPath, exec.LookPath when nil). A missing
// emulator is an error wrapping ErrNoEmulator that says what to install.
func EmulatorPrefix(arch string, lookPath func(string) (string, error)) ([]string, error) {
	if !bench.Emulated(arch) {
		return nil, nil
	}
	name, ok := emulators[arch]
	if !ok {
		return nil, fmt.Errorf("%w: no emulator known for arch %q", ErrNoEmulator, arch)
	}
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	path, err := lookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s handlers on this %s machine need %s: install qemu-user-static (apt-get install qemu-user-static)", ErrNoEmulator, arch, runtime.GOARCH, name)
	}
	return []string{path}, nil
}

// loadAverage reads the 1, 5 and 15 minute load averages, as uptime
// prints them.
func loadAverage(r procstat.Reader) (string, error) {
	l, err := r.LoadAverage()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2]), nil
}
