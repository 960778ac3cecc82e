package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/infra/process"
)

func TestDownWithoutAStack(t *testing.T) {
	e, _, _ := cliEnv(nil)
	err := run(context.Background(), e, []string{"down", "--state", filepath.Join(t.TempDir(), "none.json")})
	require.ErrorIs(t, err, errNoStack)
	assert.ErrorContains(t, err, "funnel up")
}

func TestDownRejectsBadUse(t *testing.T) {
	for _, args := range [][]string{
		{"down", "extra"},
		{"down", "--timeout", "0s"},
		{"down", "--timeout", "soon"},
	} {
		e, _, _ := cliEnv(nil)
		assert.ErrorIs(t, run(context.Background(), e, args), errUsage, "%q", args)
	}
}

func TestDownRemovesAStaleState(t *testing.T) {
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	state := filepath.Join(t.TempDir(), "up.json")
	require.NoError(t, writeState(state, upState{PID: cmd.Process.Pid, APIURL: "http://x/api", ConnectionString: "c"}))

	e, stdout, _ := cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"down", "--state", state}))
	assert.Contains(t, stdout.String(), "was not running")
	assert.NoFileExists(t, state)
}

func TestDownStopsTheProcess(t *testing.T) {
	// A process that, like funnel up, ends on SIGTERM.
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	state := filepath.Join(t.TempDir(), "up.json")
	pid := cmd.Process.Pid
	require.NoError(t, writeState(state, upState{PID: pid, ProcStart: process.StartTime(pid), APIURL: "http://x/api", ConnectionString: "c"}))

	e, stdout, _ := cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"down", "--state", state, "--timeout", "20s"}))
	assert.Contains(t, stdout.String(), "stopped funnel up")
	assert.NoFileExists(t, state)
	select {
	case err := <-exited:
		assert.ErrorContains(t, err, "terminated")
	case <-time.After(10 * time.Second):
		t.Fatal("down returned but the process still runs")
	}
}
