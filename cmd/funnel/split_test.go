package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitThenRef(t *testing.T) {
	dir := t.TempDir()
	in := refRows(5000)
	src := filepath.Join(dir, "customer.tbl")
	require.NoError(t, os.WriteFile(src, []byte(in), 0o644))
	for _, mode := range []string{"lines", "roundrobin"} {
		out := filepath.Join(dir, mode)
		e, stdout, stderr := refEnv("")
		require.NoError(t, run(context.Background(), e, []string{"split", "--chunks", "5", "--mode", mode, "--out", out, src}))
		paths := strings.Fields(stdout.String())
		require.Len(t, paths, 5)
		assert.Equal(t, filepath.Join(out, "customer.000.csv"), paths[0])
		assert.Equal(t, filepath.Join(out, "customer.004.csv"), paths[4])
		assert.Contains(t, stderr.String(), "5 chunk(s)")

		var joined strings.Builder
		for _, p := range paths {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			joined.WriteString(string(b))
		}
		if mode == "lines" {
			assert.Equal(t, in, joined.String())
		} else {
			assert.ElementsMatch(t, strings.SplitAfter(in, "\n"), strings.SplitAfter(joined.String(), "\n"))
		}

		// The chunks give the same answer as the whole file.
		e, got, _ := refEnv("")
		require.NoError(t, run(context.Background(), e, append([]string{"ref", "--json"}, paths...)))
		e, want, _ := refEnv("")
		require.NoError(t, run(context.Background(), e, []string{"ref", "--json", src}))
		assert.JSONEq(t, want.String(), got.String())
	}
}

func TestSplitStdinRoundRobin(t *testing.T) {
	out := t.TempDir()
	e, stdout, _ := refEnv("a\nb\nc\n")
	require.NoError(t, run(context.Background(), e, []string{"split", "--chunks", "2", "--mode", "rr", "--name", "part{n}.txt", "--out", out, "-"}))
	paths := strings.Fields(stdout.String())
	require.Equal(t, []string{filepath.Join(out, "part000.txt"), filepath.Join(out, "part001.txt")}, paths)
	b, err := os.ReadFile(paths[0])
	require.NoError(t, err)
	assert.Equal(t, "a\nc\n", string(b))
}

func TestSplitRejectsBadUse(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.tbl")
	require.NoError(t, os.WriteFile(src, []byte("a\n"), 0o644))
	out := filepath.Join(dir, "out")
	for _, args := range [][]string{
		{"split", "--out", out, src},
		{"split", "--chunks", "0", "--out", out, src},
		{"split", "--chunks", "-3", "--out", out, src},
		{"split", "--chunks", "2", src},
		{"split", "--chunks", "2", "--out", out},
		{"split", "--chunks", "2", "--out", out, src, src},
		{"split", "--chunks", "2", "--mode", "bytes", "--out", out, src},
		{"split", "--chunks", "2", "--name", "fixed.csv", "--out", out, src},
		{"split", "--chunks", "2", "--out", out, "-"},
	} {
		e, stdout, _ := refEnv("")
		err := run(context.Background(), e, args)
		assert.ErrorIs(t, err, errUsage, "%q", args)
		assert.Zero(t, stdout.Len(), "%q", args)
	}
	_, err := os.Stat(out)
	assert.ErrorIs(t, err, os.ErrNotExist, "bad use creates nothing")

	e, _, _ := refEnv("")
	err = run(context.Background(), e, []string{"split", "--chunks", "2", "--out", out, filepath.Join(dir, "missing")})
	require.ErrorIs(t, err, os.ErrNotExist)

	e, _, stderr := refEnv("")
	assert.ErrorIs(t, run(context.Background(), e, []string{"split", "-h"}), flag.ErrHelp)
	assert.Contains(t, stderr.String(), "--chunks")
}
