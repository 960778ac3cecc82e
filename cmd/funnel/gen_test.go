package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func genEnv() (env, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }}, &stdout, &stderr
}

func TestGenWritesFile(t *testing.T) {
	e, stdout, _ := genEnv()
	path := filepath.Join(t.TempDir(), "customer.tbl")
	require.NoError(t, run(context.Background(), e, []string{"gen", "--sf", "0.001", "--out", path, "--workers", "2"}))
	assert.Zero(t, stdout.Len())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(data), "\n")
	require.Len(t, lines, 151) // 150 rows and the empty rest after the last newline
	// The first row of dbgen 2.14.0's customer.tbl.
	assert.Equal(t, "1|Customer#000000001|IVhzIApeRb ot,c,E|15|25-989-741-2988|711.56|BUILDING|to the even, regular platelets. regular, ironic epitaphs nag e|\n", lines[0])
	assert.True(t, strings.HasPrefix(lines[149], "150|Customer#000000150|"), lines[149])
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "temporary file left behind")
}

func TestGenRejectsBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"gen", "--sf", "0"},
		{"gen", "--sf", "2.5"},
		{"gen", "--sf", "x"},
		{"gen", "--workers", "0"},
		{"gen", "--workers", "100000"},
		{"gen", "extra"},
	} {
		e, stdout, _ := genEnv()
		err := run(context.Background(), e, args)
		assert.ErrorIs(t, err, errUsage, "%q", args)
		assert.Zero(t, stdout.Len(), "%q", args)
	}
	e, _, stderr := genEnv()
	assert.ErrorIs(t, run(context.Background(), e, []string{"gen", "-h"}), flag.ErrHelp)
	assert.Contains(t, stderr.String(), "-sf")
}

func TestGenLeavesNoFileOnFailure(t *testing.T) {
	e, _, _ := genEnv()
	dir := t.TempDir()
	path := filepath.Join(dir, "customer.tbl")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := run(ctx, e, []string{"gen", "--sf", "1", "--out", path})
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}
