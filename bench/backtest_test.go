package bench_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/infra/funchost"
)

// TestBacktestCommittedResults fits the scale model on every committed
// results.json and checks that it predicts each measured configuration's
// median end-to-end time within bench.BacktestTolerance. Runs that predate
// the recording of per-instance concurrency take it from the project's
// host.json, as the host applied it on the machine that ran them.
func TestBacktestCommittedResults(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("results", "*", bench.ResultsFile))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no committed results")
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			rep, err := bench.ReadReport(f)
			require.NoError(t, err, "the committed report is readable by this version (regenerate it with funnel bench --recompute)")
			limits, err := funchost.ReadInstanceLimits(filepath.Join("..", "host.json"), rep.Machine.Cores)
			require.NoError(t, err)
			conc := &bench.Concurrency{Queue: limits.QueueConcurrency(), Blob: limits.BlobMaxDegreeOfParallelism, Processors: limits.Processors}
			inputs, err := bench.ModelInputsFromRuns(rep.Runs, f, conc)
			require.NoError(t, err)
			rows := bench.Backtest(rep.Runs, inputs)
			if len(inputs) == 0 {
				assert.Empty(t, rows)
				t.Skip("no native runs (emulated timings only)")
			}
			require.NotEmpty(t, rows)
			for _, r := range rows {
				t.Logf("%s: measured %.3g s (%d runs), predicted %.3g s, %+.1f %%", r.Config, r.Measured, r.Runs, r.Predicted, r.Error*100)
				assert.True(t, r.Within(), "%s: predicted %.3g s, measured median %.3g s (%+.1f %%)", r.Config, r.Predicted, r.Measured, r.Error*100)
			}
		})
	}
}
