package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/infra/localstack"
	"github.com/funnelpipe/funnel/infra/localstack/localstacktest"
	"github.com/funnelpipe/funnel/infra/process"
)

func TestMain(m *testing.M) { localstacktest.Main(m) }

// cliEnv is an env with captured output and the given environment.
func cliEnv(vars map[string]string) (env, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	return env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return vars[k] }}, &stdout, &stderr
}

// fakeApps makes a folder that passes the apps check (host.json per app).
func fakeApps(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, app := range localstack.Apps() {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, app), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, app, "host.json"), []byte("{}"), 0o644))
	}
	return dir
}

func TestInstancesFlag(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]int
		err  string
	}{
		{"2", map[string]int{"partition": 2, "aggregate": 2, "merge": 2}, ""},
		{"partition=1,aggregate=2,merge=1", map[string]int{"partition": 1, "aggregate": 2, "merge": 1}, ""},
		{"aggregate=3", map[string]int{"partition": 1, "aggregate": 3, "merge": 1}, ""},
		{" merge=4 , aggregate=2", map[string]int{"partition": 1, "aggregate": 2, "merge": 4}, ""},
		{"0", nil, "must be 1..64"},
		{"65", nil, "must be 1..64"},
		{"", nil, "empty"},
		{"reduce=2", nil, `unknown app "reduce"`},
		{"aggregate=x", nil, "whole number"},
		{"aggregate=0", nil, "whole number"},
		{"aggregate", nil, "want N or app=N"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			f := instancesFlag{}
			err := f.Set(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, f.counts())
		})
	}
	f := instancesFlag{}
	require.NoError(t, f.Set("merge=2,aggregate=3"))
	assert.Equal(t, "aggregate=3,merge=2", f.String(), "pipeline order")
}

func TestUpRejectsBadUse(t *testing.T) {
	apps := fakeApps(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"argument", []string{"up", "--apps", apps, "extra"}, "no arguments"},
		{"log level", []string{"up", "--apps", apps, "--log-level", "loud"}, "--log-level"},
		{"no apps", []string{"up", "--apps", t.TempDir()}, "make package"},
		{"instances", []string{"up", "--apps", apps, "--instances", "map=2"}, "unknown app"},
		{"unknown flag", []string{"up", "--nope"}, "nope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, stdout, stderr := cliEnv(nil)
			err := run(context.Background(), e, tc.args)
			require.ErrorIs(t, err, errUsage)
			assert.Contains(t, err.Error()+stderr.String(), tc.want)
			assert.Zero(t, stdout.Len())
		})
	}
	e, _, stderr := cliEnv(nil)
	require.ErrorIs(t, run(context.Background(), e, []string{"up", "--help"}), flag.ErrHelp)
	assert.Contains(t, stderr.String(), "usage: funnel up")
	assert.Contains(t, stderr.String(), "-instances")
}

func TestUpRefusesWhenAStackRuns(t *testing.T) {
	state := filepath.Join(t.TempDir(), "up.json")
	// This test process stands in for a running funnel up.
	require.NoError(t, writeState(state, upState{PID: os.Getpid(), ProcStart: process.StartTime(os.Getpid()), APIURL: "http://127.0.0.1:1/api", ConnectionString: "x"}))
	e, _, _ := cliEnv(nil)
	err := run(context.Background(), e, []string{"up", "--apps", fakeApps(t), "--state", state})
	require.ErrorContains(t, err, "already running")
	assert.FileExists(t, state, "the running stack's state stays")
}

func TestStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "up.json")
	_, err := readState(path)
	require.ErrorIs(t, err, errNoStack)

	st := upState{PID: 42, APIURL: "http://127.0.0.1:7071/api", ConnectionString: "c", Instances: map[string]int{"merge": 2}, Started: time.Unix(1700000000, 0).UTC()}
	require.NoError(t, writeState(path, st))
	got, err := readState(path)
	require.NoError(t, err)
	assert.Equal(t, st, *got)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "it holds a connection string")

	require.NoError(t, removeStateIfOurs(path, 41))
	assert.FileExists(t, path, "another pid's state is not ours to remove")
	require.NoError(t, removeStateIfOurs(path, 42))
	assert.NoFileExists(t, path)

	require.NoError(t, os.WriteFile(path, []byte(`{"pid": 0}`), 0o600))
	_, err = readState(path)
	assert.ErrorContains(t, err, "missing")
	require.NoError(t, os.WriteFile(path, []byte(`{`), 0o600))
	_, err = readState(path)
	assert.Error(t, err)
}
