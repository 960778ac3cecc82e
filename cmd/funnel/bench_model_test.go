package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/bench"
)

func TestBenchModelNeedsResults(t *testing.T) {
	e, stdout, _ := genEnv()
	err := run(context.Background(), e, []string{"bench-model"})
	require.ErrorIs(t, err, errUsage, "no invented defaults: the model is fitted on a results file")
	assert.Contains(t, err.Error(), "-from")
	assert.Zero(t, stdout.Len())
}

func TestBenchModelFormatsAndFlags(t *testing.T) {
	path := writeResults(t, t.TempDir())
	e, stdout, _ := genEnv()
	require.NoError(t, run(context.Background(), e, []string{"bench-model", "-from", path, "-host-json", hostJSONPath, "-format", "json", "-sizes", "2", "-instances", "5,50", "-flex-memory", "4096"}))
	var tbl bench.ModelTable
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &tbl))
	require.Len(t, tbl.Rows, 1*1*2)
	assert.Equal(t, int64(2e9), tbl.Rows[0].DataBytes)
	assert.Equal(t, 50, tbl.Rows[1].RequestedInstances)
	assert.Equal(t, 4096, tbl.Limits.FlexInstanceMemoryMB)
	require.Len(t, tbl.Backtest, 1)

	// 1 GB in 100 MiB units is 10 units.
	e, stdout, _ = genEnv()
	require.NoError(t, run(context.Background(), e, []string{"bench-model", "-from", path, "-host-json", hostJSONPath, "-format", "json", "-sizes", "1", "-instances", "10", "-unit-size", "100"}))
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &tbl))
	require.Len(t, tbl.Rows, 1)
	assert.Equal(t, int64(10), tbl.Rows[0].Units)
	assert.Equal(t, int64(100<<20), tbl.Inputs[0].UnitSizeBytes)

	e, stdout, _ = genEnv()
	require.NoError(t, run(context.Background(), e, []string{"bench-model", "-from", path, "-host-json", hostJSONPath, "-format", "markdown", "-cold-start", "3"}))
	assert.Contains(t, stdout.String(), "| transport | data | instances |")
	assert.Contains(t, stdout.String(), "starts work 3 s after")
}

// hostJSONPath is the project's host.json, seen from this package.
var hostJSONPath = filepath.Join("..", "..", "host.json")

// writeResults writes a results.json with one measured queue run.
func writeResults(t *testing.T, dir string) string {
	return writeResultsRuns(t, dir, []time.Duration{2 * time.Second})
}

// writeResultsRuns writes a results.json with one measured queue run per
// duration, each of a configuration of its own chunk count (4, 5, ...)
// with the same four units.
func writeResultsRuns(t *testing.T, dir string, durations []time.Duration) string {
	var runs []bench.Run
	for i, d := range durations {
		runs = append(runs, resultsRun(t, 4+i, d))
	}
	prices, err := bench.DefaultPrices()
	require.NoError(t, err)
	rep, err := bench.NewReport(bench.ReportOptions{Label: "queue", Created: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), Prices: prices, Runs: runs,
		HostConcurrency: &bench.Concurrency{Queue: 24, Blob: 16, Processors: 2}})
	require.NoError(t, err)
	require.NoError(t, bench.WriteReport(dir, rep))
	return filepath.Join(dir, bench.ResultsFile)
}

func resultsRun(t *testing.T, chunks int, took time.Duration) bench.Run {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	m := bench.Measurement{
		Config:      bench.Config{Transport: "queue", Arch: "amd64", ScaleFactor: 1, Chunks: chunks, UnitSizeBytes: 8 << 20, InstancesPerApp: 1},
		Repetition:  1,
		SubmittedAt: t0, ResultAt: t0.Add(took),
		InputBytes: 24_300_000, InputRows: 150_000, Correct: true,
		Invocations: []bench.InvocationRecord{{Function: "partition", Instance: "p0", Start: t0, DurationMS: 20, Outcome: bench.OutcomeSuccess}},
		StorageOps:  []bench.StorageOp{{Service: bench.ServiceQueue, Operation: "PutMessage", Count: 8}},
		Instances: []bench.InstanceStats{
			{App: "partition", Instance: "p0", PeakRSSBytes: 20 << 20},
			{App: "aggregate", Instance: "a0", PeakRSSBytes: 50 << 20},
			{App: "merge", Instance: "m0", PeakRSSBytes: 20 << 20},
		},
	}
	for k := range 4 {
		start := t0.Add(time.Duration(100+300*k) * time.Millisecond)
		m.Invocations = append(m.Invocations,
			bench.InvocationRecord{Function: "aggregate", Instance: "a0", Start: start, DurationMS: 243, Outcome: bench.OutcomeSuccess, BytesIn: 6_075_000},
			bench.InvocationRecord{Function: "merge", Instance: "m0", Start: start.Add(250 * time.Millisecond), DurationMS: 4, Outcome: bench.OutcomeSuccess})
	}
	prices, err := bench.DefaultPrices()
	require.NoError(t, err)
	r, err := bench.NewRun(m, prices, bench.DefaultBilling())
	require.NoError(t, err)
	return r
}

func TestBenchModelFromResults(t *testing.T) {
	path := writeResults(t, t.TempDir())
	e, stdout, _ := genEnv()
	require.NoError(t, run(context.Background(), e, []string{"bench-model", "-from", path, "-host-json", hostJSONPath}))
	out := stdout.String()
	assert.Contains(t, out, path+": 1 run(s), 4 units")
	// Dispatch: submit to the first aggregate start, 100 ms.
	assert.Contains(t, out, "dispatch D = 0.1 s")
	// The run did not record its concurrency: host.json's 16 + 8.
	assert.Contains(t, out, "24 units per instance at once (from host.json")
	assert.NotContains(t, out, "blob —", "only queue runs, only queue inputs")

	// The back-test: the fit reproduces its one run, exit status zero.
	e, stdout, _ = genEnv()
	require.NoError(t, run(context.Background(), e, []string{"bench", "--model", "--backtest", "-from", path, "-host-json", hostJSONPath}))
	assert.Contains(t, stdout.String(), "queue amd64 SF1 4 chunks")
	assert.Contains(t, stdout.String(), " ok")
}

// TestBenchModelBacktestFails checks that a model missing a run by more
// than the tolerance makes the back-test fail: two runs of one
// configuration fitted together and back-tested, then a report whose
// runs cannot be fitted by one line (a configuration 10 times slower with
// the same units) misses.
func TestBenchModelBacktestFails(t *testing.T) {
	dir := t.TempDir()
	path := writeResultsRuns(t, dir, []time.Duration{2 * time.Second, 20 * time.Second})
	e, stdout, _ := genEnv()
	err := run(context.Background(), e, []string{"bench", "--model", "--backtest", "-from", path, "-host-json", hostJSONPath})
	require.ErrorIs(t, err, bench.ErrBacktest)
	assert.Contains(t, stdout.String(), "MISS")
}

func TestBenchModelRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.json")
	require.NoError(t, os.WriteFile(junk, []byte(`{"schema": "something else"}`), 0o644))
	for _, args := range [][]string{
		{"bench-model"},
		{"bench-model", "-from", writeResults(t, t.TempDir()), "-host-json", filepath.Join(dir, "none.json")},
		{"bench-model", "-from", writeResults(t, t.TempDir()), "-host-json", hostJSONPath, "-scale-decision", "0"},
		{"bench-model", "extra"},
		{"bench-model", "-sizes", "0"},
		{"bench-model", "-sizes", "ten"},
		{"bench-model", "-sizes", ","},
		{"bench-model", "-instances", "0"},
		{"bench-model", "-flex-memory", "1000"},
		{"bench-model", "-format", "yaml"},
		{"bench-model", "-unit-size", "-1"},
	} {
		e, stdout, _ := genEnv()
		err := run(context.Background(), e, args)
		assert.ErrorIs(t, err, errUsage, "%q", args)
		assert.Zero(t, stdout.Len(), "%q", args)
	}
	for _, args := range [][]string{
		{"bench-model", "-from", filepath.Join(dir, "missing.json")},
		{"bench-model", "-from", junk},
		{"bench-model", "-prices", junk},
	} {
		e, stdout, _ := genEnv()
		err := run(context.Background(), e, args)
		require.Error(t, err, fmt.Sprint(args))
		assert.Zero(t, stdout.Len(), "%q", args)
	}
}
