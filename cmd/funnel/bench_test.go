package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/bench/runner"
)

func TestBenchFlags(t *testing.T) {
	cache, err := os.UserCacheDir()
	require.NoError(t, err)
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, o runner.Options)
	}{
		{name: "defaults", args: nil, check: func(t *testing.T, o runner.Options) {
			assert.Equal(t, []string{"queue", "blob"}, o.Transports)
			assert.Equal(t, []float64{10}, o.ScaleFactors)
			assert.Equal(t, []int{100}, o.Chunks)
			assert.Equal(t, []int{1}, o.Instances)
			assert.Equal(t, 8, o.UnitMB)
			assert.Equal(t, 5, o.Reps)
			assert.Equal(t, 1, o.WarmUps)
			assert.Equal(t, runtime.GOARCH, o.Arch)
			assert.Equal(t, filepath.Join("bench", "results"), o.OutDir)
			assert.Equal(t, filepath.Join("dist", "apps", "linux-"+runtime.GOARCH), o.AppsDir)
			assert.Equal(t, filepath.Join(cache, "funnel", "bench"), o.CacheDir)
			assert.Equal(t, "comparison", o.Label)
			assert.Equal(t, bench.DefaultBilling(), o.Billing)
			assert.Equal(t, 10*time.Minute, o.Timeout)
		}},
		{name: "one transport, lists", args: []string{"--transport", "queue", "--sf", "1, 0.5", "--chunks", "10,20", "--instances", "1,2", "--unit-mb", "4", "--reps", "1", "--warmup", "0"},
			check: func(t *testing.T, o runner.Options) {
				assert.Equal(t, []string{"queue"}, o.Transports)
				assert.Equal(t, []float64{1, 0.5}, o.ScaleFactors)
				assert.Equal(t, []int{10, 20}, o.Chunks)
				assert.Equal(t, []int{1, 2}, o.Instances)
				assert.Equal(t, 4, o.UnitMB)
				assert.Equal(t, 0, o.WarmUps)
				assert.Equal(t, "queue", o.Label)
				assert.Len(t, o.Configs(), 8)
			}},
		{name: "automatic unit size", args: []string{"--unit-mb", "0"}, check: func(t *testing.T, o runner.Options) {
			assert.True(t, o.AutoUnit)
			assert.Zero(t, o.Configs()[0].UnitSizeBytes, "picked once the input's size is known")
		}},
		{name: "batch sweep", args: []string{"--sweep", "batch", "--sf", "1"}, check: func(t *testing.T, o runner.Options) {
			assert.Equal(t, []int{1, 5, 10, 20, 50, 100, 250, 500}, o.Chunks)
			assert.Equal(t, "batch-sweep", o.Label)
			assert.Len(t, o.Configs(), 16)
		}},
		{name: "scale sweep of blob", args: []string{"--sweep", "scale", "--transport", "blob"}, check: func(t *testing.T, o runner.Options) {
			assert.Equal(t, []int{1, 2, 4}, o.Instances)
			assert.Equal(t, "scale-sweep-blob", o.Label)
		}},
		{name: "size sweep", args: []string{"--sweep=size"}, check: func(t *testing.T, o runner.Options) {
			assert.Equal(t, []float64{1, 10, 40}, o.ScaleFactors)
		}},
		{name: "other arch", args: []string{"--arch", otherGOARCH(), "--transport", "queue"}, check: func(t *testing.T, o runner.Options) {
			assert.Equal(t, filepath.Join("dist", "apps", "linux-"+otherGOARCH()), o.AppsDir)
			assert.Equal(t, "queue-"+otherGOARCH(), o.Label)
			assert.True(t, o.Configs()[0].Emulated)
		}},
		{name: "explicit", args: []string{"--apps", "a", "--cache", "c", "--out", "o", "--label", "mine", "--flex-memory", "512",
			"--parallel", "4", "--timeout", "1m", "--settle", "1s", "--note", "one", "--note", "two", "--workdir", "w"},
			check: func(t *testing.T, o runner.Options) {
				assert.Equal(t, "a", o.AppsDir)
				assert.Equal(t, "c", o.CacheDir)
				assert.Equal(t, "o", o.OutDir)
				assert.Equal(t, "mine", o.Label)
				assert.Equal(t, 512, o.Billing.FlexInstanceMemoryMB)
				assert.Equal(t, 4, o.Parallel)
				assert.Equal(t, time.Minute, o.Timeout)
				assert.Equal(t, time.Second, o.Settle)
				assert.Equal(t, []string{"one", "two"}, o.Notes)
				assert.Equal(t, "w", o.WorkDir)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, _ := genEnv()
			ba, err := parseBenchArgs(e, tt.args)
			require.NoError(t, err)
			tt.check(t, ba.options)
		})
	}
}

func otherGOARCH() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

func TestBenchFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		says string
	}{
		{[]string{"extra"}, "no arguments"},
		{[]string{"--transport", "kafka"}, "--transport"},
		{[]string{"--sf", "ten"}, "--sf"},
		{[]string{"--sf", "NaN"}, "--sf"},
		{[]string{"--sf", "1.5"}, "scale factor"},
		{[]string{"--chunks", ""}, "--chunks"},
		{[]string{"--chunks", "0"}, "0 chunks"},
		{[]string{"--sf", "0.001", "--chunks", "500"}, "row count"},
		{[]string{"--instances", "x"}, "--instances"},
		{[]string{"--instances", "17"}, "instances per app"},
		{[]string{"--reps", "0"}, "repetitions"},
		{[]string{"--warmup", "-1"}, "warm-up"},
		{[]string{"--unit-mb", "-1"}, "--unit-mb -1"},
		{[]string{"--unit-mb", "2048"}, "unit size"},
		{[]string{"--arch", "386"}, `arch "386"`},
		{[]string{"--sweep", "latency"}, "sweep"},
		{[]string{"--sweep", "batch", "--chunks", "10"}, "--sweep batch sets --chunks"},
		{[]string{"--sweep", "size", "--sf", "1"}, "--sweep size sets --sf"},
		{[]string{"--sweep", "scale", "--instances", "2"}, "--sweep scale sets --instances"},
		{[]string{"--label", "Bad Label"}, "label"},
		{[]string{"--flex-memory", "1000"}, "1000 MB"},
		{[]string{"--note", " "}, "empty note"},
		{[]string{"--prices", "/nonexistent/prices.json"}, "--prices"},
		{[]string{"--reps"}, "flag needs an argument"},
	} {
		e, stdout, _ := genEnv()
		// An apps folder without apps: should a case pass the flag checks,
		// it fails there instead of running a benchmark.
		err := run(context.Background(), e, append([]string{"bench", "--apps", t.TempDir()}, tt.args...))
		require.ErrorIs(t, err, errUsage, "%q", tt.args)
		assert.Contains(t, err.Error(), tt.says, "%q", tt.args)
		assert.Zero(t, stdout.Len(), "%q", tt.args)
	}
}

func TestBenchWithoutPackagedApps(t *testing.T) {
	e, _, _ := genEnv()
	dir := t.TempDir()
	err := run(context.Background(), e, []string{"bench", "--apps", filepath.Join(dir, "apps"), "--cache", filepath.Join(dir, "cache"), "--out", filepath.Join(dir, "out")})
	require.ErrorIs(t, err, errUsage)
	assert.Contains(t, err.Error(), "make package")
	_, err = os.Stat(filepath.Join(dir, "out"))
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing is written")
}

func TestBenchModelFlag(t *testing.T) {
	from := writeResults(t, t.TempDir())
	for _, args := range [][]string{
		{"bench", "--model", "-from", from, "-host-json", hostJSONPath, "-format", "json", "-sizes", "2", "-instances", "5,50"},
		{"bench", "-format", "json", "-sizes", "2", "-model", "-from", from, "-host-json", hostJSONPath, "-instances", "5,50"},
	} {
		e, stdout, _ := genEnv()
		require.NoError(t, run(context.Background(), e, args), "%q", args)
		var tbl bench.ModelTable
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &tbl), "%q", args)
		assert.Len(t, tbl.Rows, 1*1*2, "%q", args)
	}
	// The model's own flags are checked by the model.
	e, _, _ := genEnv()
	require.ErrorIs(t, run(context.Background(), e, []string{"bench", "--model", "-from", from, "-format", "yaml"}), errUsage)

	got, ok := modelArgs([]string{"--sf", "1", "--", "--model"})
	assert.False(t, ok, "after -- nothing is a flag")
	assert.Nil(t, got)
}

func TestWriteBenchSummary(t *testing.T) {
	rep, err := bench.ReadReport(writeResults(t, t.TempDir()))
	require.NoError(t, err)
	var b strings.Builder
	writeBenchSummary(&b, &runner.Outcome{Report: rep, Dir: "bench/results/2026-11-23-queue", Invalid: 1, Aborted: []string{"blob: the stack did not start"}}, 95*time.Second)
	out := b.String()
	assert.Contains(t, out, "1 configuration(s), 1 run(s) in 1m35s; report bench/results/2026-11-23-queue/report.md")
	assert.Contains(t, out, "queue amd64 SF1 4 chunks 8 MiB units ×1  1")
	assert.Contains(t, out, "END-TO-END S")
	assert.Contains(t, out, "1 run(s) INVALID")
	assert.Contains(t, out, "ABORTED: blob: the stack did not start")
}
