package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/bench"
)

func TestBenchModelDefaults(t *testing.T) {
	e, stdout, _ := genEnv()
	require.NoError(t, run(context.Background(), e, []string{"bench-model"}))
	out := stdout.String()
	assert.Contains(t, out, "Scale model")
	assert.Contains(t, out, "defaults (local Azurite figures")
	// 2 transports × 3 sizes × 3 instance counts.
	assert.Len(t, regexp.MustCompile(`(?m)^\s+(queue|blob)\s+[0-9.]+ GB\s`).FindAllString(out, -1), 18)
	assert.Contains(t, out, "100 (cap)")
}

func TestBenchModelFormatsAndFlags(t *testing.T) {
	e, stdout, _ := genEnv()
	require.NoError(t, run(context.Background(), e, []string{"bench-model", "-format", "json", "-sizes", "2", "-instances", "5,50", "-flex-memory", "4096"}))
	var tbl bench.ModelTable
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &tbl))
	require.Len(t, tbl.Rows, 2*1*2)
	assert.Equal(t, int64(2e9), tbl.Rows[0].DataBytes)
	assert.Equal(t, 50, tbl.Rows[1].RequestedInstances)
	assert.Equal(t, 4096, tbl.Limits.FlexInstanceMemoryMB)

	// 1 GB in 100 MiB units is 10 units.
	e, stdout, _ = genEnv()
	require.NoError(t, run(context.Background(), e, []string{"bench-model", "-format", "json", "-sizes", "1", "-instances", "10", "-unit-size", "100"}))
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &tbl))
	require.Len(t, tbl.Rows, 2)
	assert.Equal(t, int64(10), tbl.Rows[0].Units)
	assert.Equal(t, int64(100<<20), tbl.Inputs[0].UnitSizeBytes)

	e, stdout, _ = genEnv()
	require.NoError(t, run(context.Background(), e, []string{"bench-model", "-format", "markdown"}))
	assert.Contains(t, stdout.String(), "| transport | data | instances |")
}

// writeResults writes a results.json with one measured queue run.
func writeResults(t *testing.T, dir string) string {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	m := bench.Measurement{
		Config:      bench.Config{Transport: "queue", Arch: "amd64", ScaleFactor: 1, Chunks: 4, UnitSizeBytes: 8 << 20, InstancesPerApp: 1},
		Repetition:  1,
		SubmittedAt: t0, ResultAt: t0.Add(2 * time.Second),
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
	rep, err := bench.NewReport(bench.ReportOptions{Label: "queue", Created: t0, Prices: prices, Runs: []bench.Run{r}})
	require.NoError(t, err)
	require.NoError(t, bench.WriteReport(dir, rep))
	return filepath.Join(dir, bench.ResultsFile)
}

func TestBenchModelFromResults(t *testing.T) {
	path := writeResults(t, t.TempDir())
	e, stdout, _ := genEnv()
	require.NoError(t, run(context.Background(), e, []string{"bench-model", "-from", path}))
	out := stdout.String()
	assert.Contains(t, out, "measured: 1 run(s), 4 units")
	// 4 units of 6.075 MB × 243 ms = 0.04 s/MB; the first partial waits 7 ms.
	assert.Contains(t, out, "unit 5.8 MiB; aggregate 0 s + 0.04 s/MB; message latency 0.007 s")
	assert.NotContains(t, out, " blob ")
}

func TestBenchModelRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.json")
	require.NoError(t, os.WriteFile(junk, []byte(`{"schema": "something else"}`), 0o644))
	for _, args := range [][]string{
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
