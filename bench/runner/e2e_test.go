package runner

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/infra/localstack/localstacktest"
)

func TestMain(m *testing.M) { localstacktest.Main(m) }

// testLog passes progress lines to t.Log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestRunBenchmarkEndToEnd runs the whole benchmark, small: both
// transports on a real Azurite with the real handlers, one repetition
// each, and checks the report it writes.
func TestRunBenchmarkEndToEnd(t *testing.T) {
	apps := localstacktest.Apps(t) // skips under -short
	out := t.TempDir()
	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	o := Options{
		Transports: []string{bench.TransportQueue, bench.TransportBlob}, ScaleFactors: []float64{0.01}, Chunks: []int{2}, Instances: []int{1},
		Reps: 1, WarmUps: 0, AppsDir: apps, CacheDir: t.TempDir(), OutDir: out, WorkDir: work,
		Timeout: 2 * time.Minute, Notes: []string{"end-to-end test"}, Progress: testLog{t},
		RepoDir: filepath.Join("..", "."),
	}
	res, err := Run(ctx, o)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(out, time.Now().UTC().Format(time.DateOnly)+"-comparison"), res.Dir)
	assert.Zero(t, res.Invalid)
	assert.Empty(t, res.Aborted)

	for _, f := range []string{bench.ResultsFile, bench.MarkdownFile, "e2e_vs_chunks.svg", "e2e_vs_chunks.png"} {
		st, err := os.Stat(filepath.Join(res.Dir, f))
		require.NoError(t, err, f)
		assert.Positive(t, st.Size(), f)
	}
	index, err := os.ReadFile(filepath.Join(out, bench.IndexFile))
	require.NoError(t, err)
	assert.Contains(t, string(index), filepath.Base(res.Dir))

	rep, err := bench.ReadReport(filepath.Join(res.Dir, bench.ResultsFile))
	require.NoError(t, err)
	require.Len(t, rep.Runs, 2)
	assert.Contains(t, rep.Notes, "end-to-end test")
	for _, r := range rep.Runs {
		c := r.Config
		assert.True(t, r.Correct, "%s: %s", c, r.Mismatch)
		assert.Equal(t, runtime.GOARCH, c.Arch)
		assert.False(t, c.Emulated)
		assert.Equal(t, int64(1500), r.InputRows)
		assert.Positive(t, r.EndToEndSeconds)
		assert.Positive(t, r.BaselineSeconds)
		assert.Positive(t, r.RawDownloadSeconds)
		// 1 plan, and 1 unit (the two small chunks share it) aggregated
		// and merged.
		for fn, n := range map[string]int{"partition": 1, "aggregate": 1, "merge": 1} {
			s, ok := stageOfRun(r, fn)
			require.True(t, ok, "%s: no %s invocations", c, fn)
			assert.GreaterOrEqual(t, s.Invocations, n, "%s %s", c, fn)
		}
		require.Len(t, r.Instances, 3, "one per app")
		for _, in := range r.Instances {
			assert.Positive(t, in.PeakRSSBytes, in.Instance)
		}
		assert.Positive(t, r.CPUSeconds)
		ops := map[string]int64{}
		for _, op := range r.StorageOps {
			ops[op.Operation] += op.Count
		}
		assert.GreaterOrEqual(t, ops["GetBlob"], int64(2), "%s: the aggregate reads both chunks", c)
		if c.Transport == bench.TransportQueue {
			assert.GreaterOrEqual(t, ops["PutMessage"], int64(2), "%s: units and partials are queue messages", c)
		} else {
			assert.GreaterOrEqual(t, ops["PutBlob"]+ops["PutBlockList"], int64(2), "%s: units and partials are blobs", c)
		}
		assert.Positive(t, r.Cost.Flex.Total)
		// The local Event Grid counted its operations: every committed
		// blob write of the job is an ingress (job records at least; a
		// conditional write that is refused commits nothing), and blob
		// messages are delivered to the webhooks.
		require.NotNil(t, r.EventGrid, "%s: Event Grid operations counted", c)
		require.NotNil(t, r.Cost.EventGrid)
		assert.Positive(t, r.EventGrid.Ingress, c)
		assert.LessOrEqual(t, r.EventGrid.Ingress, ops["PutBlob"]+ops["PutBlockList"]+ops["CopyBlob"], "%s: at most one ingress per blob write", c)
		if c.Transport == bench.TransportBlob {
			assert.GreaterOrEqual(t, r.EventGrid.Deliveries, int64(2), "%s: the unit and the partials were delivered", c)
		} else {
			assert.Zero(t, r.EventGrid.Deliveries, "%s: no blob trigger fires for a queue job", c)
		}
		assert.Positive(t, r.Cost.EventGrid.Cost)
	}
	// Both transports took turns on one stack, whose log is kept in the
	// work folder; the queue run came first, the blob run after it.
	logs, err := filepath.Glob(filepath.Join(work, "*", "stack.log"))
	require.NoError(t, err)
	assert.Len(t, logs, 1)
	var queueAt, blobAt time.Time
	for _, r := range rep.Runs {
		if r.Config.Transport == bench.TransportQueue {
			queueAt = r.SubmittedAt
		} else {
			blobAt = r.SubmittedAt
		}
		assert.Positive(t, r.BaselineSeconds, "measured after the jobs, given to each repetition")
		assert.Positive(t, r.RawDownloadSeconds)
		require.NotNil(t, r.Concurrency, "the host's per-instance concurrency is recorded")
		assert.Equal(t, 24, r.Concurrency.Queue)
	}
	assert.True(t, queueAt.Before(blobAt))
}

func stageOfRun(r bench.Run, fn string) (bench.StageStats, bool) {
	for _, s := range r.Stages {
		if s.Function == fn {
			return s, true
		}
	}
	return bench.StageStats{}, false
}
