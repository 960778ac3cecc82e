package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/infra/funchost"
	"github.com/funnelpipe/funnel/infra/localstack"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/partition"
	"github.com/funnelpipe/funnel/testing_data/chunk"
	"github.com/funnelpipe/funnel/testing_data/dbgen"
	"github.com/funnelpipe/funnel/testing_data/reference"
	"github.com/funnelpipe/funnel/transport/account"
)

// Where `funnel run` puts its input in storage.
const (
	runContainer = "input"
	runPrefix    = "customer/"
	maxRunChunks = 10000
)

// ErrMismatch is returned by run when a job's answer differs from another
// transport's or from the reference answer.
var ErrMismatch = errors.New("results differ")

// cmdRun is the main job in one command: generate the customer table,
// split it, start the local stack, upload, run one job per transport,
// check every answer against the locally computed reference, and stop.
func cmdRun(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "run", "[--sf N] [--chunks N] [--transports queue,blob] [--apps DIR] [--instances ...] [--unit-mb N] [--keep] [-v]")
	sf := fs.Float64("sf", 1, "TPC-H scale factor: 150,000 × sf customer rows")
	chunks := fs.Int("chunks", 100, "split the table into this many chunk files (blobs)")
	transports := fs.String("transports", strings.Join(job.Transports(), ","), "comma-separated transports to run a job over, in order")
	unitMB := fs.Int("unit-mb", job.DefaultUnitMB, fmt.Sprintf("work unit size in MiB (1..%d)", job.MaxUnitMB))
	parallel := fs.Int("parallel", 8, "chunks uploaded at once")
	keep := fs.Bool("keep", false, "keep the work folder (table, chunks, invocation records, stack log)")
	workdir := fs.String("workdir", "", "work `folder` to use and keep (default: a new temporary folder, removed unless --keep)")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up on a job after this long")
	verbose := fs.Bool("v", false, "copy the stack's log to stderr")
	stk := addStackFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: run takes no arguments, got %q", errUsage, fs.Args())
	}
	cfg, err := runConfig(*sf, *chunks, *transports, *unitMB, *parallel, *timeout)
	if err != nil {
		return err
	}
	opts, err := stk.options()
	if err != nil {
		return err
	}

	// Closing the terminal stops the stack too, rather than orphaning the
	// handlers (main already turns SIGINT and SIGTERM into ctx's end).
	ctx, stopHUP := signal.NotifyContext(ctx, syscall.SIGHUP)
	defer stopHUP()

	dir := *workdir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "funnel-run-*"); err != nil {
			return fmt.Errorf("run: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer func() {
		if *keep || *workdir != "" { // a folder the user named is theirs
			fmt.Fprintf(e.stderr, "run: work files kept in %s\n", dir)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintf(e.stderr, "run: remove %s: %v\n", dir, err)
		}
	}()
	logPath := filepath.Join(dir, "stack.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer logFile.Close()
	var logOut io.Writer = logFile
	if *verbose {
		logOut = io.MultiWriter(logFile, e.stderr)
	}
	opts.Logger = slog.New(slog.NewTextHandler(logOut, nil)) // slog serialises writes
	opts.RecordsDir = filepath.Join(dir, "records")

	err = runPipeline(ctx, e, cfg, opts, dir)
	if err != nil && !*verbose {
		logFile.Sync()
		if tail := fileTail(logPath, 20); tail != "" {
			fmt.Fprintf(e.stderr, "run: the last lines of the stack's log:\n%s", tail)
		}
	}
	return err
}

// runCfg is the checked flags of run.
type runCfg struct {
	SF         float64
	Rows       int64
	Chunks     int
	Transports []string
	UnitMB     int
	Parallel   int
	Timeout    time.Duration
}

func runConfig(sf float64, chunks int, transports string, unitMB, parallel int, timeout time.Duration) (runCfg, error) {
	rows, err := dbgen.Rows(sf)
	if err != nil {
		return runCfg{}, fmt.Errorf("%w: --sf: %w", errUsage, err)
	}
	c := runCfg{SF: sf, Rows: rows, Chunks: chunks, UnitMB: unitMB, Parallel: parallel, Timeout: timeout}
	if chunks < 1 || chunks > maxRunChunks || int64(chunks) > rows {
		return c, fmt.Errorf("%w: --chunks %d: must be 1..%d and at most the row count (%d at --sf %g)", errUsage, chunks, maxRunChunks, rows, sf)
	}
	seen := map[string]bool{}
	for _, t := range strings.Split(transports, ",") {
		t = strings.TrimSpace(t)
		if t != "queue" && t != "blob" {
			return c, fmt.Errorf("%w: --transports: unknown transport %q (use %s)", errUsage, t, strings.Join(job.Transports(), ", "))
		}
		if seen[t] {
			return c, fmt.Errorf("%w: --transports: %q given twice", errUsage, t)
		}
		seen[t] = true
		c.Transports = append(c.Transports, t)
	}
	if unitMB < 1 || unitMB > job.MaxUnitMB {
		return c, fmt.Errorf("%w: --unit-mb %d: must be 1..%d", errUsage, unitMB, job.MaxUnitMB)
	}
	if parallel < 1 || parallel > maxUploadParallel {
		return c, fmt.Errorf("%w: --parallel %d: must be 1..%d", errUsage, parallel, maxUploadParallel)
	}
	if timeout <= 0 {
		return c, fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	return c, nil
}

// runOutcome is one transport's job.
type runOutcome struct {
	Transport string
	ID        string
	Took      time.Duration // submit to done, as the client saw it
	Status    *job.Status
	Result    aggregate.Result
}

func runPipeline(ctx context.Context, e env, cfg runCfg, opts localstack.Options, dir string) (err error) {
	out := e.stdout
	tty := isTerminal(e.stderr)
	fmt.Fprintf(out, "funnel run: SF %g (%d customer rows) in %d chunks, transports %s, work folder %s\n",
		cfg.SF, cfg.Rows, cfg.Chunks, strings.Join(cfg.Transports, ", "), dir)

	// 1. Generate and split.
	t0 := time.Now()
	table := filepath.Join(dir, "customer.tbl")
	if err := writeFileAtomically(table, func(w io.Writer) error {
		return dbgen.Write(ctx, w, dbgen.Options{ScaleFactor: cfg.SF})
	}); err != nil {
		return fmt.Errorf("run: generate: %w", err)
	}
	fi, err := os.Stat(table)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	fmt.Fprintf(out, "generated   %s: %d rows, %s in %s\n", filepath.Base(table), cfg.Rows, formatBytes(fi.Size()), since(t0))
	t0 = time.Now()
	paths, err := chunk.SplitFile(ctx, table, chunk.Options{Chunks: cfg.Chunks, Dir: filepath.Join(dir, "chunks")})
	if err != nil {
		return fmt.Errorf("run: split: %w", err)
	}
	if err := os.Remove(table); err != nil { // the chunks hold every byte of it
		return fmt.Errorf("run: %w", err)
	}
	fmt.Fprintf(out, "split       into %d chunks in %s\n", len(paths), since(t0))

	// 2. The reference answer, independent of the kernel: dbgen's own at
	// SF 1, the reference scanner's otherwise.
	t0 = time.Now()
	var tableBytes int64
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("run: %w", err)
		}
		tableBytes += st.Size()
	}
	ref, source, err := reference.ForTable(cfg.SF, paths, tableBytes)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	fmt.Fprintf(out, "reference   %d rows, %d nations: %s, in %s\n", ref.Rows, len(ref.Nations), source, since(t0))
	if ref.Rows != cfg.Rows {
		return fmt.Errorf("run: the reference counts %d rows, the generator wrote %d: %w", ref.Rows, cfg.Rows, ErrMismatch)
	}

	// 3. The stack.
	t0 = time.Now()
	stack, err := localstack.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		t := time.Now()
		serr := stack.Stop()
		if serr == nil {
			fmt.Fprintf(out, "stopped     the stack in %s\n", since(t))
		}
		err = errors.Join(err, serr)
	}()
	fmt.Fprintf(out, "stack       ready in %s: job API %s, storage %s, instances %s\n",
		since(t0), stack.APIURL(), stack.BlobEndpoint(), formatCounts(opts.Instances))

	// 4. Upload.
	acct, err := account.Open(account.Config{ConnectionString: stack.ConnectionString()}, account.Options{Component: "funnel-run"})
	if err != nil {
		return err
	}
	defer acct.Close()
	items, err := uploadPlan(runPrefix, paths)
	if err != nil {
		return err
	}
	var bar io.Writer
	if tty {
		bar = e.stderr
	}
	up, err := uploadFiles(ctx, acct, runContainer, items, cfg.Parallel, bar)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "uploaded    %d chunks, %s, to %s/%s in %s (%s/s)\n", up.Files, formatBytes(up.Bytes), runContainer, runPrefix,
		up.Elapsed.Round(time.Millisecond), formatBytes(int64(float64(up.Bytes)/max(up.Elapsed.Seconds(), 1e-9))))

	// 5. One job per transport.
	client := &partition.Client{BaseURL: stack.APIURL()}
	var outcomes []runOutcome
	for _, tr := range cfg.Transports {
		o, err := runJob(ctx, e, client, tr, cfg, tty, stack)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\n== %s: job %s ==\n", tr, o.ID)
		if err := o.Result.WriteTable(out); err != nil {
			return err
		}
		if err := writeTimings(out, o.Status, o.Took); err != nil {
			return err
		}
		outcomes = append(outcomes, o)
	}

	// 6. Check and summarise.
	fmt.Fprintln(out)
	writeRunSummary(out, outcomes, stack.Summaries())
	var problems []error
	for i, o := range outcomes {
		if err := matchesReference(o.Result, *ref); err != nil {
			problems = append(problems, fmt.Errorf("%s job %s vs the reference: %w", o.Transport, o.ID, err))
		}
		if i > 0 {
			if err := sameAnswer(o.Result, outcomes[0].Result); err != nil {
				problems = append(problems, fmt.Errorf("%s job %s vs %s job %s: %w", o.Transport, o.ID, outcomes[0].Transport, outcomes[0].ID, err))
			}
		}
	}
	if len(problems) > 0 {
		fmt.Fprintln(out, "FAILED: the answers differ:")
		for _, p := range problems {
			fmt.Fprintln(out, "  "+p.Error())
		}
		return fmt.Errorf("run: %w (%d problems, listed above)", ErrMismatch, len(problems))
	}
	fmt.Fprintf(out, "OK: the %s answers are identical and equal the reference answer\n", strings.Join(cfg.Transports, " and "))
	return nil
}

// runJob submits one job, waits for it and fetches its result. A host
// dying while the job runs ends the wait at once with its reason.
func runJob(ctx context.Context, e env, client *partition.Client, tr string, cfg runCfg, tty bool, stack *localstack.Stack) (runOutcome, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	go func() {
		select {
		case <-stack.Failed():
			cancel()
		case <-ctx.Done():
		}
	}()
	spec := job.Spec{Transport: tr, Input: job.Input{Container: runContainer, Prefix: runPrefix}, UnitMB: cfg.UnitMB}
	start := time.Now()
	id, err := client.Submit(ctx, spec)
	if err != nil {
		return runOutcome{}, stackErr(stack, fmt.Errorf("run: submit the %s job: %w", tr, err))
	}
	res, st, err := followJob(ctx, client, id, 100*time.Millisecond, e.stderr, tty)
	if err != nil {
		if st != nil && errors.Is(err, partition.ErrJobFailed) {
			_ = writeStatus(e.stderr, st) // the error below says what matters
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within --timeout %v: %w", cfg.Timeout, err)
		}
		return runOutcome{}, stackErr(stack, fmt.Errorf("run: %s job %s: %w", tr, id, err))
	}
	took := time.Since(start)
	if st.Units.Failed > 0 {
		return runOutcome{}, fmt.Errorf("run: %s job %s: %d units failed", tr, id, st.Units.Failed)
	}
	return runOutcome{Transport: tr, ID: id, Took: took, Status: st, Result: res.Result.Result}, nil
}

// stackErr adds the stack's failure, if any, to err.
func stackErr(stack *localstack.Stack, err error) error {
	if serr := stack.Err(); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// matchesReference compares a job's answer with the reference answer.
func matchesReference(got aggregate.Result, want reference.ResultJSON) error {
	r, err := reference.FromResult(got)
	if err != nil {
		return err
	}
	return reference.Compare(r, want)
}

// sameAnswer compares two jobs' answers with the reference package's
// comparison, which does not depend on the kernel: row counts and every
// nation's figures (rejected samples name files, so only their count).
func sameAnswer(got, want aggregate.Result) error {
	g, err := reference.FromResult(got)
	if err != nil {
		return err
	}
	w, err := reference.FromResult(want)
	if err != nil {
		return err
	}
	return reference.Compare(g, w)
}

// writeRunSummary prints the jobs side by side and the hosts' invocation
// counts.
func writeRunSummary(w io.Writer, outcomes []runOutcome, hosts []funchost.Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TRANSPORT\tJOB\tSUBMIT→DONE\tPARTITION\tDISPATCH\tAGGREGATE\tMERGE\tUNITS\tROWS")
	for _, o := range outcomes {
		t := o.Status.Timings
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", o.Transport, o.ID, o.Took.Round(time.Millisecond),
			seconds(t.PartitionSeconds), seconds(t.DispatchSeconds), seconds(t.AggregateSeconds), seconds(t.MergeSeconds), o.Status.Units.Planned, o.Status.Rows.Accepted)
	}
	tw.Flush()
	var parts []string
	for _, h := range hosts {
		parts = append(parts, fmt.Sprintf("%s %d", h.App, h.Invocations))
	}
	fmt.Fprintf(w, "invocations: %s\n", strings.Join(parts, ", "))
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

// fileTail returns the last n lines of a file, "" if it cannot be read.
func fileTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("  ")
		b.Write(l)
	}
	s := b.String()
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}
