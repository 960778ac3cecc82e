package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/partition"
	"github.com/funnelpipe/funnel/transport/account"
)

// Environments a remote report names.
const (
	EnvironmentLocal = "local" // the job API is on this machine (a funnel up stack)
	EnvironmentAzure = "azure" // anywhere else: a deployment in Azure
)

// RemoteOptions configures RunRemote: the same measured job as Run, against
// a pipeline that is already running somewhere else.
type RemoteOptions struct {
	// APIURL is the job API, e.g. https://func-partition-x.azurewebsites.net/api;
	// Key its function key, sent as x-functions-key (empty: none).
	APIURL, Key string
	// Storage is the deployment's storage account, where the input is
	// uploaded before any clock starts.
	Storage account.Config
	// Transports to run, in order ("queue", "blob").
	Transports []string
	// ScaleFactor, Chunks and UnitMB are the job: SF customer rows in
	// Chunks blobs, units of UnitMB MiB.
	ScaleFactor float64
	Chunks      int
	UnitMB      int
	// WarmUps and Reps are the unmeasured and measured runs per transport.
	WarmUps, Reps int
	// Parallel is how many blobs are uploaded or downloaded at once
	// (default 16).
	Parallel int
	// Timeout bounds one job (default 15 min); PollEvery is how often its
	// status is read (default 250 ms): the end-to-end time is known to
	// that resolution.
	Timeout, PollEvery time.Duration
	// CacheDir holds the generated data (as Options.CacheDir); OutDir
	// receives ReportDir(OutDir, start, Label). Both are required.
	CacheDir, OutDir, Label string
	// RepoDir is the funnel work tree, described in the report.
	RepoDir string
	// Progress receives one line per step; nil for none.
	Progress io.Writer
	// HTTP is the job API's client; nil means one with a minute's timeout.
	HTTP *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// RemoteReport is a remote benchmark's results.json.
type RemoteReport struct {
	// Kind is "remote": the figures were taken from outside the pipeline.
	Kind string `json:"kind"`
	// Environment is EnvironmentLocal or EnvironmentAzure.
	Environment string    `json:"environment"`
	Label       string    `json:"label"`
	Created     time.Time `json:"created"`
	// API is the job API's URL (never the key); Storage describes the
	// account without secrets.
	API     string `json:"api"`
	Storage string `json:"storage"`
	// Client is the machine the benchmark ran on (not the pipeline's).
	Client      bench.Machine `json:"client"`
	ScaleFactor float64       `json:"scale_factor"`
	Chunks      int           `json:"chunks"`
	UnitMB      int           `json:"unit_mb"`
	InputBytes  int64         `json:"input_bytes"`
	InputRows   int64         `json:"input_rows"`
	Runs        []RemoteRun   `json:"runs"`
	// NotSeen lists the figures a local benchmark reports that this one
	// could not see.
	NotSeen []string `json:"not_seen"`
	Notes   []string `json:"notes"`
}

// RemoteRun is one job of a remote benchmark.
type RemoteRun struct {
	Transport   string    `json:"transport"`
	Repetition  int       `json:"repetition"`
	WarmUp      bool      `json:"warm_up"`
	JobID       string    `json:"job_id"`
	SubmittedAt time.Time `json:"submitted_at"`
	ResultAt    time.Time `json:"result_at"`
	// EndToEndSeconds is submit to the status read that saw the job done.
	EndToEndSeconds float64 `json:"end_to_end_seconds"`
	ThroughputMBps  float64 `json:"throughput_mbps"`
	// BaselineSeconds is the kernel over the chunk files on the client;
	// RawDownloadSeconds downloading the chunks from the deployment's
	// storage to the client.
	BaselineSeconds    float64 `json:"baseline_seconds"`
	RawDownloadSeconds float64 `json:"raw_download_seconds"`
	// Job is the job's own account of its stages (job API status).
	Job      job.Timings `json:"job_timings"`
	Correct  bool        `json:"correct"`
	Mismatch string      `json:"mismatch,omitempty"`
}

// remoteNotSeen is what a remote benchmark cannot measure from outside.
var remoteNotSeen = []string{
	"function invocations and their durations (read them from Application Insights)",
	"storage requests by operation (the account's metrics in Azure Monitor)",
	"handler CPU time and peak memory, and how many instances ran",
	"cost per run (it is computed from the invocations, GB-seconds and storage requests above; read it from the bill or Azure Monitor)",
}

// EnvironmentOf says where a job API runs: EnvironmentLocal when its host
// is a loopback address or localhost, else EnvironmentAzure.
func EnvironmentOf(apiURL string) (string, error) {
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: job API %q is not an http(s) URL", ErrOptions, apiURL)
	}
	h := u.Hostname()
	if h == "localhost" {
		return EnvironmentLocal, nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return EnvironmentLocal, nil
	}
	return EnvironmentAzure, nil
}

func (o RemoteOptions) withDefaults() RemoteOptions {
	if o.Parallel == 0 {
		o.Parallel = 16
	}
	if o.Timeout == 0 {
		o.Timeout = 15 * time.Minute
	}
	if o.PollEvery == 0 {
		o.PollEvery = 250 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: time.Minute}
	}
	return o
}

func (o RemoteOptions) validate() error {
	var errs []error
	if len(o.Transports) == 0 {
		errs = append(errs, errors.New("no transport"))
	}
	for _, t := range o.Transports {
		if !slices.Contains(job.Transports(), t) {
			errs = append(errs, fmt.Errorf("transport %q (want %s)", t, strings.Join(job.Transports(), " or ")))
		}
	}
	if !(o.ScaleFactor > 0) {
		errs = append(errs, fmt.Errorf("scale factor %v", o.ScaleFactor))
	}
	if o.Chunks < 1 || o.UnitMB < 1 || o.Reps < 1 || o.WarmUps < 0 || o.Parallel < 0 {
		errs = append(errs, fmt.Errorf("chunks %d, unit %d MiB, %d reps, %d warm-ups, parallel %d", o.Chunks, o.UnitMB, o.Reps, o.WarmUps, o.Parallel))
	}
	if o.OutDir == "" || o.CacheDir == "" {
		errs = append(errs, errors.New("no output or cache folder"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return nil
}

// RunRemote runs the benchmark's job against a running pipeline: it
// uploads the data set (generated and cached as for Run) to o.Storage
// before any clock starts, then for each transport runs o.WarmUps and
// o.Reps jobs, each timed from the submit request to the status read that
// sees it done, with the answer read through the job API and checked
// against the exact one. Before each job it measures, on this machine, the
// kernel over the chunk files and the raw download of the chunks from
// o.Storage. It writes results.json (RemoteReport) and report.md to
// ReportDir(o.OutDir, start, o.Label) and returns the report and its
// folder; runs with a wrong answer make the error wrap ErrInvalidRuns.
func RunRemote(ctx context.Context, o RemoteOptions) (*RemoteReport, string, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, "", err
	}
	envName, err := EnvironmentOf(o.APIURL)
	if err != nil {
		return nil, "", err
	}
	if o.Label == "" {
		o.Label = "remote-" + envName + "-" + strings.Join(o.Transports, "-")
	}
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	started := o.Now()
	client, err := DescribeMachine(ctx, MachineOptions{RepoDir: o.RepoDir})
	if err != nil {
		return nil, "", err
	}
	d, err := newDataCache(o.CacheDir, progress).get(ctx, o.ScaleFactor, o.Chunks)
	if err != nil {
		return nil, "", err
	}
	acct, err := account.Open(o.Storage, account.Options{Component: "bench-remote"})
	if err != nil {
		return nil, "", fmt.Errorf("bench: %w", err)
	}
	defer acct.Close()
	t0 := time.Now()
	if err := uploadDataset(ctx, acct, d, o.Parallel); err != nil {
		return nil, "", err
	}
	progress("uploaded    %d chunks, %s, to %s in %s (before any clock starts)", len(d.Paths), bench.FormatBytes(d.Bytes), o.Storage, time.Since(t0).Round(time.Millisecond))

	rep := &RemoteReport{
		Kind: "remote", Environment: envName, Label: o.Label, Created: started,
		API: o.APIURL, Storage: o.Storage.String(), Client: client,
		ScaleFactor: o.ScaleFactor, Chunks: o.Chunks, UnitMB: o.UnitMB, InputBytes: d.Bytes, InputRows: d.Rows,
		NotSeen: remoteNotSeen,
		Notes: []string{
			fmt.Sprintf("End-to-end time runs from just before the submit request to the job API's status read that saw the job done; status is read every %v, so the figure is known to that resolution and includes the network between this client and the job API.", o.PollEvery),
			"Baseline: the same kernel over the same chunk files on this client's disk. Raw download: every chunk blob from the deployment's storage to this client, so it measures this client's network as much as the storage.",
			"The input was uploaded before the first clock started; it is left in the container `" + inputContainer + "` under `" + inputPrefix + "`.",
		},
	}
	api := &partition.Client{BaseURL: strings.TrimSuffix(o.APIURL, "/"), Key: o.Key, HTTP: o.HTTP}
	invalid := 0
	for _, tr := range o.Transports {
		for i := range o.WarmUps + o.Reps {
			warm := i < o.WarmUps
			n := i + 1
			if !warm {
				n = i - o.WarmUps + 1
			}
			r, err := runRemoteJob(ctx, o, api, acct, d, tr, n, warm)
			if err != nil {
				return nil, "", err
			}
			rep.Runs = append(rep.Runs, r)
			verdict := "correct"
			if !r.Correct {
				verdict = "INVALID: " + r.Mismatch
				invalid++
			}
			what := fmt.Sprintf("%s rep %d", tr, n)
			if warm {
				what = fmt.Sprintf("%s warm-up %d", tr, n)
			}
			progress("%-15s %.3f s submit→result (baseline %.3f s, raw download %.3f s): %s", what, r.EndToEndSeconds, r.BaselineSeconds, r.RawDownloadSeconds, verdict)
		}
	}
	dir := bench.ReportDir(o.OutDir, started, o.Label)
	if err := writeRemoteReport(dir, rep); err != nil {
		return nil, "", err
	}
	progress("report      %s", filepath.Join(dir, bench.MarkdownFile))
	if invalid > 0 {
		return rep, dir, fmt.Errorf("%w: %d of %d runs (see %s)", ErrInvalidRuns, invalid, len(rep.Runs), filepath.Join(dir, bench.MarkdownFile))
	}
	return rep, dir, nil
}

// runRemoteJob measures one job.
func runRemoteJob(ctx context.Context, o RemoteOptions, api *partition.Client, acct *account.Account, d *dataset, tr string, n int, warm bool) (RemoteRun, error) {
	r := RemoteRun{Transport: tr, Repetition: n, WarmUp: warm}
	t0 := time.Now()
	base, err := kernelResult(ctx, d.Paths, int64(o.UnitMB)<<20)
	if err != nil {
		return r, err
	}
	r.BaselineSeconds = time.Since(t0).Seconds()
	if err := verifyResult(*base, *d.Reference); err != nil {
		return r, fmt.Errorf("bench: the baseline disagrees with the reference answer: %w", err)
	}
	raw, err := rawDownload(ctx, acct.Blob(), d, o.Parallel)
	if err != nil {
		return r, err
	}
	r.RawDownloadSeconds = raw.Seconds()

	jctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	spec := job.Spec{Transport: tr, Input: job.Input{Container: inputContainer, Prefix: inputPrefix}, UnitMB: o.UnitMB}
	r.SubmittedAt = time.Now()
	if r.JobID, err = api.Submit(jctx, spec); err != nil {
		return r, fmt.Errorf("bench: submit: %w", err)
	}
	st, err := api.Wait(jctx, r.JobID, o.PollEvery, nil)
	r.ResultAt = time.Now()
	r.EndToEndSeconds = r.ResultAt.Sub(r.SubmittedAt).Seconds()
	r.ThroughputMBps = float64(d.Bytes) / 1e6 / r.EndToEndSeconds
	if st != nil {
		r.Job = st.Timings
	}
	switch {
	case errors.Is(err, partition.ErrJobFailed):
		r.Mismatch = fmt.Sprintf("job %s failed: %s", r.JobID, st.Failure)
		return r, nil
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		r.Mismatch = fmt.Sprintf("job %s gave no result within %v", r.JobID, o.Timeout)
		return r, nil
	case err != nil:
		return r, fmt.Errorf("bench: job %s: %w", r.JobID, err)
	}
	body, err := api.Result(ctx, r.JobID, "json")
	if err != nil {
		return r, fmt.Errorf("bench: job %s: read the result: %w", r.JobID, err)
	}
	var res job.Result
	if err := json.Unmarshal(body, &res); err != nil {
		r.Mismatch = fmt.Sprintf("job %s: the result is not JSON: %v", r.JobID, err)
		return r, nil
	}
	if err := verifyResult(res.Result, *d.Reference); err != nil {
		r.Mismatch = fmt.Sprintf("job %s: %v", r.JobID, err)
		return r, nil
	}
	r.Correct = true
	return r, nil
}

// writeRemoteReport writes results.json and report.md into dir.
func writeRemoteReport(dir string, rep *RemoteReport) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, bench.ResultsFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, bench.MarkdownFile), []byte(remoteMarkdown(rep)), 0o644)
}

// remoteMarkdown renders a remote report for people.
func remoteMarkdown(rep *RemoteReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# funnel remote benchmark: %s\n\n", rep.Label)
	fmt.Fprintf(&b, "- **Environment: %s** (job API %s)\n", rep.Environment, rep.API)
	fmt.Fprintf(&b, "- Storage: %s\n", rep.Storage)
	fmt.Fprintf(&b, "- Input: SF %s, %d chunks, %s, %d rows; units of %d MiB\n", bench.FormatFloat(rep.ScaleFactor), rep.Chunks, bench.FormatBytes(rep.InputBytes), rep.InputRows, rep.UnitMB)
	fmt.Fprintf(&b, "- Client: %s, %d cores, funnel %s\n", rep.Client.CPUModel, rep.Client.Cores, rep.Client.FunnelCommit)
	fmt.Fprintf(&b, "- Created: %s\n\n", rep.Created.UTC().Format(time.RFC3339))
	b.WriteString("| transport | runs counted | end-to-end s, median (min–max) | MB/s | × client kernel | × raw download to client | invalid |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, tr := range job.Transports() {
		var e2e, base, raw []float64
		invalid := 0
		for _, r := range rep.Runs {
			if r.Transport != tr || r.WarmUp {
				continue
			}
			if !r.Correct {
				invalid++
				continue
			}
			e2e, base, raw = append(e2e, r.EndToEndSeconds), append(base, r.BaselineSeconds), append(raw, r.RawDownloadSeconds)
		}
		if len(e2e) == 0 && invalid == 0 {
			continue
		}
		if len(e2e) == 0 {
			fmt.Fprintf(&b, "| %s | 0 | – | – | – | – | %d |\n", tr, invalid)
			continue
		}
		st := bench.NewStat(e2e)
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s× | %s× | %d |\n", tr, st.N, st,
			bench.Sig(float64(rep.InputBytes)/1e6/st.Median, 3), bench.Sig(st.Median/bench.NewStat(base).Median, 3), bench.Sig(st.Median/bench.NewStat(raw).Median, 3), invalid)
	}
	b.WriteString("\n## Runs\n\n| transport | run | job | end-to-end s | job's own elapsed s | answer |\n|---|---|---|---:|---:|---|\n")
	for _, r := range rep.Runs {
		what := fmt.Sprintf("rep %d", r.Repetition)
		if r.WarmUp {
			what = fmt.Sprintf("warm-up %d", r.Repetition)
		}
		answer := "exact"
		if !r.Correct {
			answer = "INVALID: " + r.Mismatch
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.Transport, what, r.JobID, bench.Sig(r.EndToEndSeconds, 4), bench.Sig(r.Job.ElapsedSeconds, 4), answer)
	}
	b.WriteString("\n## Not seen from outside the pipeline\n\nA local benchmark (`funnel bench`) also reports these; a remote one cannot see them:\n\n")
	for _, s := range rep.NotSeen {
		b.WriteString("- " + s + "\n")
	}
	b.WriteString("\n## How the figures were taken\n\n")
	for _, s := range rep.Notes {
		b.WriteString("- " + s + "\n")
	}
	return b.String()
}
