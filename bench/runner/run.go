package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/infra/funchost"
	"github.com/funnelpipe/funnel/infra/localstack"
	"github.com/funnelpipe/funnel/infra/procstat"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/partition"
	"github.com/funnelpipe/funnel/transport/account"
)

// Timings of the runner's waits.
const (
	// doneCheckEvery is how often the job record is read while the merge
	// or partition host is finishing invocations; doneCheckIdle how often
	// it is read otherwise; filePollEvery how often the records files are
	// looked at.
	doneCheckEvery = 25 * time.Millisecond
	doneCheckIdle  = time.Second
	filePollEvery  = 5 * time.Millisecond
)

// Outcome is what Run produced.
type Outcome struct {
	Report bench.Report
	// Dir is the report's folder.
	Dir string
	// Invalid counts the runs with a wrong answer, a failed job or no
	// answer in time; Aborted describes the configurations cut short.
	Invalid int
	Aborted []string
}

// Run runs every configuration of o and writes the report.
//
// For each configuration it starts a fresh local stack (a new Azurite and
// the three apps under the local Functions host, o.ExecPrefix in front of
// every handler), uploads the data set (generated once per scale factor and
// split once per chunk count, in o.CacheDir) before any clock starts, and
// then, for each warm-up run and repetition: measures the single-machine
// baseline (the kernel over the chunk files on local disk) and the raw
// download of the chunks from the same Azurite; reads every counter;
// submits the job and waits for its result; checks the answer against the
// exact one; waits o.Settle; reads every counter again. A run's figures are
// the differences: the invocations the hosts recorded in that window, the
// storage requests of the hosts and of every handler process (scraped from
// their /metrics), and each handler's CPU time and peak RSS (from /proc).
//
// The report (results.json, report.md, plots) goes to ReportDir(o.OutDir,
// start, label) and the index of o.OutDir is rewritten. A configuration
// that cannot run to its end (the stack does not start, a handler dies)
// is noted in the report and the benchmark goes on with the next; the
// error then wraps ErrAborted. Runs with a wrong answer are in the report,
// left out of its figures, and the error wraps ErrInvalidRuns. Only when
// no run finished at all is there no report.
func Run(ctx context.Context, o Options) (*Outcome, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if o.Label == "" {
		o.Label = o.DefaultLabel("")
	}
	for _, app := range localstack.Apps() {
		if st, err := os.Stat(filepath.Join(o.AppsDir, app, "host.json")); err != nil || st.IsDir() {
			return nil, fmt.Errorf("%w: %s has no %s app (build it with `make package`)", ErrOptions, o.AppsDir, app)
		}
	}
	prices := o.Prices
	if prices == nil {
		p, err := bench.DefaultPrices()
		if err != nil {
			return nil, err
		}
		prices = p
	}
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	started := o.Now()
	loadStart, _ := loadAverage(procstat.Default())
	// The machine and the work tree as the benchmark starts: the handlers
	// and this binary were built from the tree as it is now.
	machine, err := DescribeMachine(ctx, MachineOptions{RepoDir: o.RepoDir})
	if err != nil {
		return nil, err
	}
	if machine.FunnelCommit != bench.Unknown {
		// Earlier reports in the results folder are not changes to the
		// code under test.
		if dirty, err := treeDirty(ctx, o.RepoDir, o.OutDir); err == nil {
			machine.FunnelDirty = dirty
		}
	}

	work := o.WorkDir
	if work == "" {
		dir, err := os.MkdirTemp("", "funnel-bench-*")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(dir)
		work = dir
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}

	cache := newDataCache(o.CacheDir, progress)
	configs := o.Configs()
	var (
		runs    []bench.Run
		notes   []string
		aborted []string
	)
	groups := stackGroups(configs)
	for i, group := range groups {
		cfg := group[0]
		var names []string
		for _, g := range group {
			names = append(names, g.Transport)
		}
		progress("== stack %d of %d: %s on one stack, interleaved: %s", i+1, len(groups), strings.Join(names, " and "), cfg)
		d, err := cache.get(ctx, cfg.ScaleFactor, cfg.Chunks)
		if err != nil {
			return nil, err
		}
		if o.AutoUnit {
			autoUnit(group, d.Bytes)
		}
		cr := &configRunner{o: o, cfgs: group, data: d, progress: progress,
			dir: filepath.Join(work, fmt.Sprintf("%02d-sf%s-c%d-x%d", i+1, bench.FormatFloat(cfg.ScaleFactor), cfg.Chunks, cfg.InstancesPerApp))}
		ms, cnotes, err := cr.run(ctx)
		for _, m := range ms {
			r, nerr := bench.NewRun(m, prices, o.Billing)
			if nerr != nil {
				err = errors.Join(err, nerr)
				continue
			}
			runs = append(runs, r)
		}
		notes = append(notes, cnotes...)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("bench: %w", ctx.Err())
			}
			msg := fmt.Sprintf("%s (%s): aborted after %d run(s): %v", cfg, strings.Join(names, ", "), len(ms), err)
			progress("ABORTED     %s", msg)
			aborted = append(aborted, msg)
			notes = append(notes, "**Configuration "+msg+"**")
		}
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("%w: no run finished: %s", ErrAborted, strings.Join(aborted, "; "))
	}

	loadEnd, _ := loadAverage(procstat.Default())
	head := o.methodNotes(loadStart, loadEnd)
	rep, err := bench.NewReport(bench.ReportOptions{
		Label: o.Label, Created: started, Machine: machine, Prices: prices, Billing: o.Billing,
		Runs: runs, Notes: append(append(head, o.Notes...), notes...),
	})
	if err != nil {
		return nil, err
	}
	dir := bench.ReportDir(o.OutDir, started, o.Label)
	if err := bench.WriteReport(dir, rep); err != nil {
		return nil, err
	}
	if err := bench.WriteIndex(o.OutDir); err != nil {
		return nil, err
	}
	progress("report      %s", filepath.Join(dir, bench.MarkdownFile))

	out := &Outcome{Report: rep, Dir: dir, Aborted: aborted}
	for _, r := range runs {
		if !r.Correct {
			out.Invalid++
		}
	}
	var errs []error
	if len(aborted) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s", ErrAborted, strings.Join(aborted, "; ")))
	}
	if out.Invalid > 0 {
		errs = append(errs, fmt.Errorf("%w: %d of %d runs (see %s)", ErrInvalidRuns, out.Invalid, len(runs), filepath.Join(dir, bench.MarkdownFile)))
	}
	return out, errors.Join(errs...)
}

// treeDirty reports whether the git work tree at repo has uncommitted
// changes to tracked files outside outDir (the results folder, which
// every benchmark writes to).
func treeDirty(ctx context.Context, repo, outDir string) (bool, error) {
	args := []string{"status", "--porcelain", "--untracked-files=no", "--", ":/"}
	top, err := git(ctx, repo, "rev-parse", "--show-toplevel")
	if err != nil {
		return false, err
	}
	absOut, err := filepath.Abs(outDir)
	if err != nil {
		return false, err
	}
	if top, err = filepath.EvalSymlinks(top); err != nil {
		return false, err
	}
	if real, err := filepath.EvalSymlinks(absOut); err == nil {
		absOut = real
	}
	if rel, err := filepath.Rel(top, absOut); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && rel != "." {
		args = append(args, ":(top,exclude)"+filepath.ToSlash(rel))
	}
	out, err := git(ctx, repo, args...)
	if err != nil {
		return false, err
	}
	return out != "", nil
}

// methodNotes says how the figures were taken and what they leave out.
func (o Options) methodNotes(loadStart, loadEnd string) []string {
	notes := []string{
		fmt.Sprintf("End-to-end time runs from just before the submit request to the moment the runner saw the job record marked done "+
			"(it reads the record each time the merge or partition host finishes an invocation, at most every %v, and at least every %v).",
			doneCheckEvery, doneCheckIdle),
		fmt.Sprintf("Storage operations counted: every request of the three handler processes (read from each handler's Prometheus /metrics before and after the job) "+
			"and of the local Functions host for triggers and bindings (queue polling, blob-trigger receipts, output bindings), from just before the submit until %v after the result. "+
			"Not counted: the runner's own requests (uploading the input, the raw-download measurement, reading the job record to see that the job is done).", o.Settle),
		"Invocations are those the hosts started in the same window, the job API's submit included (the answer is read through the job API after the window and checked against the exact answer: dbgen's at SF 1, else the reference scanner's, which shares no code with the kernel; the baseline's answer is checked too). " +
			"The host sees only an invocation's trigger payload, so an aggregate invocation's bytes in also hold an equal share of what the aggregate processes read from blob storage in the run. " +
			"CPU seconds are each handler process's utime+stime from /proc over the window, peak RSS its VmHWM after a reset (clear_refs) before the job. " +
			"The local host's own CPU and Azurite's are not in those figures (Azurite's is noted per configuration below).",
		fmt.Sprintf("Baseline: the same kernel over the same chunk files from local disk (page cache warm), %d workers, units of the job's unit size (the queue job's when partition chose a size for each transport). "+
			"Raw download: every chunk blob from the same Azurite, %d at a time, bodies discarded. Both are measured once per counted repetition after all jobs on the stack "+
			"(measured right before a job, the download would warm Azurite's files for it); the i-th pair is set beside each transport's i-th repetition.",
			runtime.GOMAXPROCS(0), o.Parallel),
		"Configurations that differ only in their transport share one stack (one Azurite and one set of hosts, data uploaded once) and take turns on it, ABAB, warm-ups first, so that drift in the machine's load falls on both alike.",
	}
	if slices.Contains(o.Transports, bench.TransportBlob) {
		notes = append(notes, "Blob-triggered functions (\"source\": \"EventGrid\") are driven as in Azure: a local Event Grid in front of Azurite's blob endpoint sees each committed blob write "+
			"and POSTs a BlobCreated event to the host's blob webhook, which queues it on the host's internal blob trigger queue; the host's requests for that queue and for reading the blob are counted as the host's. "+
			"Its ingress (one event per committed blob write, whatever the container, as a storage account's system topic takes them in) and its deliveries are Event Grid operations, counted separately below and priced in the costs. "+
			"Every blob request of the run, the raw-download measurement's included, passes through that proxy.")
	}
	if loadStart != "" && loadEnd != "" {
		notes = append(notes, fmt.Sprintf("Load average (1, 5, 15 min) on this %d-core machine: %s at the start, %s at the end.", runtime.NumCPU(), loadStart, loadEnd))
	}
	if bench.Emulated(o.Arch) {
		notes = append(notes, fmt.Sprintf("The handlers ran as %s binaries under %s on this %s machine: their timings and the costs derived from them are emulated and show correctness only.",
			o.Arch, strings.Join(o.ExecPrefix, " "), runtime.GOARCH))
	}
	return notes
}

// stackGroups groups configurations that differ only in their transport,
// in run order: each group runs on one stack.
func stackGroups(configs []bench.Config) [][]bench.Config {
	var out [][]bench.Config
	for _, c := range configs {
		key := c
		key.Transport = ""
		if n := len(out); n > 0 {
			last := out[n-1][0]
			last.Transport = ""
			if last == key {
				out[n-1] = append(out[n-1], c)
				continue
			}
		}
		out = append(out, []bench.Config{c})
	}
	return out
}

// configRunner runs the repetitions of a group of configurations on one
// stack.
type configRunner struct {
	o Options
	// cfgs differ only in their transport: they share one stack and take
	// turns on it.
	cfgs     []bench.Config
	data     *dataset
	dir      string
	progress func(string, ...any)

	stack  *localstack.Stack
	limits funchost.InstanceLimits // the aggregate app's, as its host applies host.json
	acct   *account.Account
	probe  *prober
	client *partition.Client
	store  job.Store
}

// runExtra is what a run measured beyond its Measurement, for the notes.
type runExtra struct {
	bySource   map[string]float64 // storage requests by host or app
	grid       float64            // Event Grid deliveries
	azuriteCPU float64
	restarted  []string
	notReset   []string
	timedOut   bool
}

func (c *configRunner) run(ctx context.Context) (ms []bench.Measurement, notes []string, err error) {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	logFile, err := os.Create(filepath.Join(c.dir, "stack.log"))
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	defer logFile.Close()
	reg := prometheus.NewRegistry()
	instances := map[string]int{}
	var keys []string
	for _, app := range localstack.Apps() {
		instances[app] = c.cfgs[0].InstancesPerApp
		for i := range c.cfgs[0].InstancesPerApp {
			keys = append(keys, instanceKey(app, i))
		}
	}
	// Every handler serves its metrics on an address of its own, given to
	// its instance alone; the hosts report it back with the process.
	addrs, err := reserveAddrs(len(keys))
	if err != nil {
		return nil, nil, err
	}
	metricsAddr := map[string]string{}
	for i, k := range keys {
		metricsAddr[k] = addrs[i]
	}
	t0 := time.Now()
	c.stack, err = localstack.Start(ctx, localstack.Options{
		AppsDir: c.o.AppsDir, Instances: instances, ExecPrefix: c.o.ExecPrefix,
		RecordsDir: filepath.Join(c.dir, "records"), Registerer: reg, Logger: slog.New(slog.NewTextHandler(logFile, nil)),
		InstanceSettings: func(app string, i int) map[string]string {
			return map[string]string{handlers.EnvMetricsAddr: metricsAddr[instanceKey(app, i)]}
		},
		FlexMemoryMB: c.o.Billing.FlexInstanceMemoryMB,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("bench: start the stack: %w (log: %s)", err, logFile.Name())
	}
	defer func() {
		if serr := c.stack.Stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("bench: stop the stack: %w", serr))
		}
	}()
	procs := func() map[string]handlerProc { return stackProcs(c.stack.Hosts()) }
	if got := procs(); len(got) != len(keys) {
		return nil, nil, fmt.Errorf("bench: the hosts report %d handler process(es), want %d (log: %s)", len(got), len(keys), logFile.Name())
	}
	c.limits = c.stack.Hosts()["aggregate"].InstanceLimits()
	c.progress("stack       ready in %s: %d handler process(es), storage %s", time.Since(t0).Round(time.Millisecond), len(keys), c.stack.BlobEndpoint())

	// The runner's own storage client counts into no registry the report
	// reads: its requests are not the pipeline's.
	c.acct, err = account.Open(account.Config{ConnectionString: c.stack.ConnectionString()}, account.Options{Component: "bench-runner"})
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	defer c.acct.Close()
	t0 = time.Now()
	if err := uploadDataset(ctx, c.acct, c.data, c.o.Parallel); err != nil {
		return nil, nil, err
	}
	took := time.Since(t0)
	c.progress("uploaded    %d chunks, %s, in %s (before any clock starts)", len(c.data.Paths), bench.FormatBytes(c.data.Bytes), took.Round(time.Millisecond))

	c.probe = &prober{proc: procstat.Default(), procs: procs, hostUsage: reg, client: &http.Client{Timeout: 10 * time.Second}, azuritePID: c.stack.AzuritePID()}
	c.client = &partition.Client{BaseURL: c.stack.APIURL(), HTTP: &http.Client{Timeout: time.Minute}}
	c.store = job.NewBlobStore(c.acct.Blob(), job.DefaultContainer)

	load, _ := loadAverage(procstat.Default())
	// The transports of the group take turns on this one stack (ABAB), so
	// that drift in the machine's load falls on both alike.
	extras := map[bench.Config][]runExtra{}
	stopped := map[bench.Config]bool{}
	var measured []int // indexes into ms of the counted repetitions, in order
	total := c.o.WarmUps + c.o.Reps
	for i := range total {
		warm := i < c.o.WarmUps
		rep := i + 1
		what := fmt.Sprintf("warm-up %d/%d", rep, c.o.WarmUps)
		if !warm {
			rep = i - c.o.WarmUps + 1
			what = fmt.Sprintf("rep %d/%d", rep, c.o.Reps)
		}
		for _, cfg := range c.cfgs {
			if stopped[cfg] {
				continue
			}
			m, x, err := c.once(ctx, cfg, rep, warm)
			if err != nil {
				return ms, notes, fmt.Errorf("%s, %s: %w", cfg.Transport, what, err)
			}
			ms = append(ms, m)
			if !warm {
				measured = append(measured, len(ms)-1)
			}
			verdict := "correct"
			if !m.Correct {
				verdict = "INVALID: " + m.Mismatch
			}
			var ops float64
			for _, v := range x.bySource {
				ops += v
			}
			c.progress("%-5s %-11s %.3f s submit→result, %d invocations, %.0f storage requests: %s",
				cfg.Transport, what, m.ResultAt.Sub(m.SubmittedAt).Seconds(), len(m.Invocations), ops, verdict)
			if len(x.restarted) > 0 {
				notes = append(notes, fmt.Sprintf("%s, %s: handler(s) %s restarted during the run; what the old process counted after the run began is missing.",
					cfg, what, strings.Join(x.restarted, ", ")))
			}
			if len(x.notReset) > 0 {
				notes = append(notes, fmt.Sprintf("%s, %s: the peak RSS of %s could not be reset before the run; their peak RSS (and the Consumption GB-s priced from it) is the process's lifetime peak.",
					cfg, what, strings.Join(x.notReset, ", ")))
			}
			if x.timedOut {
				notes = append(notes, fmt.Sprintf("%s, %s: no result within %v; the configuration's remaining runs were skipped.", cfg, what, c.o.Timeout))
				stopped[cfg] = true
				continue
			}
			if !warm && m.Correct {
				extras[cfg] = append(extras[cfg], x)
			}
		}
	}
	// The single-machine baseline and the raw download, once per counted
	// repetition, after every job of the stack: measured right before a
	// job, the download would warm Azurite's files for it. The i-th pair
	// goes with each transport's i-th repetition.
	if err := c.references(ctx, ms, measured); err != nil {
		return ms, notes, err
	}
	for _, cfg := range c.cfgs {
		if n := c.configNote(cfg, extras[cfg], load); n != "" {
			notes = append(notes, n)
		}
	}
	return ms, notes, nil
}

// references measures the baseline and the raw download o.Reps times and
// gives the i-th pair to the measurements of repetition i.
func (c *configRunner) references(ctx context.Context, ms []bench.Measurement, measured []int) error {
	for rep := 1; rep <= c.o.Reps; rep++ {
		t0 := time.Now()
		base, err := kernelResult(ctx, c.data.Paths, c.cfgs[0].UnitSizeBytes)
		if err != nil {
			return err
		}
		baseline := time.Since(t0).Seconds()
		if err := verifyResult(*base, *c.data.Reference); err != nil {
			return fmt.Errorf("bench: the baseline (the kernel on this machine) disagrees with the reference answer: %w", err)
		}
		raw, err := rawDownload(ctx, c.acct.Blob(), c.data, c.o.Parallel)
		if err != nil {
			return err
		}
		c.progress("reference   %d/%d: baseline %.3f s, raw download %.3f s", rep, c.o.Reps, baseline, raw.Seconds())
		for _, i := range measured {
			if ms[i].Repetition == rep {
				ms[i].BaselineSeconds, ms[i].RawDownloadSeconds = baseline, raw.Seconds()
			}
		}
	}
	return nil
}

// configNote describes who made the storage requests and how busy Azurite
// was, per counted run, and the machine's load when the runs began.
func (c *configRunner) configNote(cfg bench.Config, xs []runExtra, load string) string {
	if len(xs) == 0 {
		return ""
	}
	sums := map[string]float64{}
	azurite, azuriteRuns, grid := 0.0, 0, 0.0
	for _, x := range xs {
		grid += x.grid
		for k, v := range x.bySource {
			sums[k] += v
		}
		if x.azuriteCPU >= 0 {
			azurite += x.azuriteCPU
			azuriteRuns++
		}
	}
	var parts []string
	for _, src := range append([]string{"host"}, localstack.Apps()...) {
		name := src
		if src == "host" {
			name = "Functions host (triggers, bindings)"
		}
		parts = append(parts, fmt.Sprintf("%s %s", name, bench.Sig(sums[src]/float64(len(xs)), 4)))
	}
	s := fmt.Sprintf("%s: storage requests per counted run by who made them: %s.", cfg, strings.Join(parts, ", "))
	if grid > 0 {
		s += fmt.Sprintf(" Event Grid delivered %s BlobCreated events per run to the blob webhooks (Event Grid operations, not storage requests).", bench.Sig(grid/float64(len(xs)), 4))
	}
	if azuriteRuns > 0 {
		s += fmt.Sprintf(" Azurite used %s CPU-s per run.", bench.Sig(azurite/float64(azuriteRuns), 3))
	}
	if load != "" {
		s += " Load average when its runs began: " + load + "."
	}
	return s
}

// once runs one job and measures it.
func (c *configRunner) once(ctx context.Context, cfg bench.Config, rep int, warm bool) (bench.Measurement, runExtra, error) {
	m := bench.Measurement{
		Config: cfg, Repetition: rep, WarmUp: warm,
		InputBytes: c.data.Bytes, InputRows: c.data.Rows, Roles: bench.DefaultRoles(),
	}
	x := runExtra{azuriteCPU: -1}

	before, err := c.probe.snap(ctx, true)
	if err != nil {
		return m, x, err
	}
	spec := job.Spec{Transport: cfg.Transport, Input: job.Input{Container: inputContainer, Prefix: inputPrefix}, UnitMB: int(cfg.UnitSizeBytes >> 20)}
	if c.o.AutoUnit {
		spec.UnitMB = 0 // partition picks it, as for a user's job
	}
	jctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	m.SubmittedAt = time.Now()
	id, err := c.client.Submit(jctx, spec)
	if err != nil {
		return m, x, c.stackErr(fmt.Errorf("bench: submit: %w", err))
	}
	rec, at, err := c.waitDone(jctx, id)
	m.ResultAt = at
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		x.timedOut = true
		m.Mismatch = fmt.Sprintf("job %s gave no result within %v", id, c.o.Timeout)
	case err != nil:
		return m, x, c.stackErr(fmt.Errorf("bench: job %s: %w", id, err))
	case rec.State == job.Failed:
		m.Mismatch = fmt.Sprintf("job %s failed: %s", id, rec.Failure)
	case rec.Plan != nil && rec.Plan.UnitBytes != cfg.UnitSizeBytes:
		// The report states the configuration's unit size.
		return m, x, fmt.Errorf("bench: job %s ran units of %d bytes, the configuration says %d", id, rec.Plan.UnitBytes, cfg.UnitSizeBytes)
	}

	select {
	case <-time.After(c.o.Settle):
	case <-ctx.Done():
		return m, x, ctx.Err()
	}
	after, err := c.probe.snap(ctx, false)
	if err != nil {
		return m, x, err
	}
	d, err := c.probe.diff(before, after)
	if err != nil {
		return m, x, err
	}

	// The answer is read as a user reads it, through the job API, once the
	// counters are read: reading a result is not part of computing it.
	if rec != nil && rec.State == job.Done {
		m.Correct, m.Mismatch, err = c.check(ctx, id)
		if err != nil {
			return m, x, err
		}
	}
	var apps []appRecords
	for app, h := range c.stack.Hosts() {
		apps = append(apps, appRecords{App: app, Records: h.Records()})
	}
	m.Invocations = windowRecords(apps, before.At, after.At)
	apportionReads(m.Invocations, m.Roles.Aggregate, d.BlobReadBytes["aggregate"])
	if m.StorageOps, err = bench.StorageOpsFromUsage(d.Usage); err != nil {
		return m, x, err
	}
	m.StorageOpsBySource = map[string][]bench.StorageOp{}
	for src, u := range d.UsageBySource {
		if m.StorageOpsBySource[src], err = bench.StorageOpsFromUsage(u); err != nil {
			return m, x, err
		}
	}
	m.Instances = d.Instances
	m.Concurrency = &bench.Concurrency{Queue: c.limits.QueueConcurrency(), Blob: c.limits.BlobMaxDegreeOfParallelism, Processors: c.limits.Processors}
	x.restarted = d.Restarted
	x.notReset = d.NotReset
	x.azuriteCPU = d.AzuriteCPU
	x.bySource = d.BySource
	x.grid = d.GridDeliveries
	if d.GridCounted {
		m.EventGrid = &bench.EventGridOps{Ingress: int64(math.Round(d.GridIngress)), Deliveries: int64(math.Round(d.GridDeliveries))}
	}
	return m, x, nil
}

// check reads a finished job's result through the job API and compares
// it with the exact answer; a wrong or unreadable answer is a mismatch,
// an API that does not answer an error.
func (c *configRunner) check(ctx context.Context, id string) (correct bool, mismatch string, err error) {
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	body, err := c.client.Result(rctx, id, "json")
	if err != nil {
		return false, "", c.stackErr(fmt.Errorf("bench: job %s: read the result: %w", id, err))
	}
	var res job.Result
	if err := json.Unmarshal(body, &res); err != nil {
		return false, fmt.Sprintf("job %s: the result is not JSON: %v", id, err), nil
	}
	if err := verifyResult(res.Result, *c.data.Reference); err != nil {
		return false, fmt.Sprintf("job %s: %v", id, err), nil
	}
	return true, "", nil
}

// waitDone waits until the job's record says done or failed and returns
// it with the time the runner saw it. It reads the record whenever the
// merge or partition host has finished an invocation (their records files
// grow), at most every doneCheckEvery, and at least every doneCheckIdle,
// so that the wait costs Azurite little and lags the result by little.
func (c *configRunner) waitDone(ctx context.Context, id string) (*job.Record, time.Time, error) {
	files := []string{filepath.Join(c.dir, "records", "merge.jsonl"), filepath.Join(c.dir, "records", "partition.jsonl")}
	size := func() int64 {
		var n int64
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				n += st.Size()
			}
		}
		return n
	}
	last, lastCheck := int64(-1), time.Time{}
	tick := time.NewTicker(filePollEvery)
	defer tick.Stop()
	for {
		now := time.Now()
		cur := size()
		if (cur != last && now.Sub(lastCheck) >= doneCheckEvery) || now.Sub(lastCheck) >= doneCheckIdle {
			last, lastCheck = cur, now
			rec, err := job.Get(ctx, c.store, id)
			at := time.Now()
			if err != nil {
				return nil, at, err
			}
			if rec.State.Final() {
				return rec, at, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, time.Now(), ctx.Err()
		case <-c.stack.Failed():
			return nil, time.Now(), c.stack.Err()
		case <-tick.C:
		}
	}
}

// stackErr adds the stack's failure, if any, to err.
func (c *configRunner) stackErr(err error) error {
	if serr := c.stack.Err(); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}
