package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/bench/runner"
	"github.com/funnelpipe/funnel/job"
)

const benchRemoteUsage = "--remote [--api URL] [--key K] [--account NAME | --connection S] [--transport queue|blob|both] [--sf 1] [--chunks 10] " +
	"[--unit-mb 8] [--reps 3] [--warmup 1] [--out bench/results]"

// cmdBenchRemote runs `funnel bench --remote`: the benchmark's job against
// a pipeline that already runs (an azd deployment, or a funnel up stack),
// found like the other commands find it (--api/$FUNNEL_API_URL,
// --key/$FUNNEL_API_KEY, --account/$AZURE_STORAGE_ACCOUNT or a connection
// string). See runner.RunRemote for what is measured and what cannot be.
func cmdBenchRemote(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "bench", benchRemoteUsage)
	af := addAPIFlags(fs)
	conn := fs.String("connection", "", "storage connection `string` of the deployment (default: $AzureWebJobsStorage, else --account)")
	acctName := fs.String("account", "", "the deployment's storage account `name`, reached with your Microsoft Entra identity (default $"+envStorageAccount+")")
	transport := fs.String("transport", "both", "transport to benchmark: queue, blob or both")
	sf := fs.Float64("sf", 1, "TPC-H scale factor of the input")
	chunks := fs.Int("chunks", 10, "chunk files (blobs) the table is cut into")
	unitMB := fs.Int("unit-mb", job.DefaultUnitMB, fmt.Sprintf("work unit size in MiB (1..%d)", job.MaxUnitMB))
	reps := fs.Int("reps", 3, "measured jobs per transport")
	warmup := fs.Int("warmup", 1, "warm-up jobs per transport, left out of the figures (the first wakes a scaled-to-zero app)")
	outDir := fs.String("out", filepath.Join("bench", "results"), "results `folder`: the report goes to <out>/<date>-<label>/")
	cache := fs.String("cache", "", "`folder` caching generated tables and chunk files (default <user cache>/funnel/bench)")
	label := fs.String("label", "", "report label (default remote-<environment>-<transports>)")
	parallel := fs.Int("parallel", 16, "blobs uploaded and downloaded at once")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up on one job after this long (the run is then invalid)")
	poll := fs.Duration("poll", 250*time.Millisecond, "how often a job's status is read: the resolution of the end-to-end time")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: bench --remote takes no arguments, got %q", errUsage, fs.Args())
	}
	if *unitMB < 1 || *unitMB > job.MaxUnitMB {
		return fmt.Errorf("%w: --unit-mb %d: must be 1..%d", errUsage, *unitMB, job.MaxUnitMB)
	}
	if *poll <= 0 || *timeout <= 0 {
		return fmt.Errorf("%w: --poll and --timeout must be positive", errUsage)
	}
	o := runner.RemoteOptions{
		ScaleFactor: *sf, Chunks: *chunks, UnitMB: *unitMB, Reps: *reps, WarmUps: *warmup,
		Parallel: *parallel, Timeout: *timeout, PollEvery: *poll,
		CacheDir: benchCacheDir(*cache), OutDir: *outDir, Label: *label, RepoDir: ".", Progress: e.stderr,
	}
	var err error
	if o.Transports, err = benchTransports(*transport); err != nil {
		return err
	}
	c, err := af.client(e)
	if err != nil {
		return err
	}
	o.APIURL, o.Key = c.BaseURL, c.Key
	cfg, from, err := storageConfig(e, *conn, *acctName, *af.state)
	if err != nil {
		return err
	}
	o.Storage = cfg
	fmt.Fprintf(e.stderr, "remote benchmark of %s (storage from %s)\n", o.APIURL, from)
	rep, dir, err := runner.RunRemote(ctx, o)
	if errors.Is(err, runner.ErrOptions) {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if rep != nil {
		correct := 0
		for _, r := range rep.Runs {
			if r.Correct {
				correct++
			}
		}
		fmt.Fprintf(e.stdout, "environment %s: %d of %d jobs exact; report %s\n", rep.Environment, correct, len(rep.Runs), filepath.Join(dir, bench.MarkdownFile))
	}
	return err
}
