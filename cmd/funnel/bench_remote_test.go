package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/bench"
	"github.com/funnelpipe/funnel/bench/runner"
	"github.com/funnelpipe/funnel/infra/localstack"
	"github.com/funnelpipe/funnel/infra/localstack/localstacktest"
)

// TestBenchRemoteAgainstAFunnelUpStack runs `funnel bench --remote` with a
// local stack as the remote target, found only through --api, --key and
// --connection as a deployment would be: both transports, answers exact,
// the report marked as the local environment and listing what a remote
// benchmark cannot see.
func TestBenchRemoteAgainstAFunnelUpStack(t *testing.T) {
	apps := localstacktest.Apps(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := localstack.Start(ctx, localstack.Options{AppsDir: apps})
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Stop()) }()

	out, cache := t.TempDir(), t.TempDir()
	e, stdout, stderr := cliEnv(map[string]string{"FUNNEL_API_KEY": "not-checked-locally"})
	err = run(ctx, e, []string{"bench", "--remote", "--api", st.APIURL(), "--connection", st.ConnectionString(),
		"--state", filepath.Join(t.TempDir(), "none.json"),
		"--sf", "0.02", "--chunks", "3", "--unit-mb", "1", "--reps", "1", "--warmup", "0", "--poll", "20ms",
		"--out", out, "--cache", cache, "--label", "remote-test"})
	require.NoError(t, err, stderr.String())
	assert.Contains(t, stdout.String(), "environment local: 2 of 2 jobs exact")

	dirs, err := filepath.Glob(filepath.Join(out, "*-remote-test"))
	require.NoError(t, err)
	require.Len(t, dirs, 1)
	b, err := os.ReadFile(filepath.Join(dirs[0], bench.ResultsFile))
	require.NoError(t, err)
	var rep runner.RemoteReport
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.Equal(t, "remote", rep.Kind)
	assert.Equal(t, runner.EnvironmentLocal, rep.Environment)
	assert.EqualValues(t, 3000, rep.InputRows)
	require.Len(t, rep.Runs, 2)
	for _, r := range rep.Runs {
		assert.True(t, r.Correct, r.Mismatch)
		assert.Greater(t, r.EndToEndSeconds, 0.0)
		assert.Greater(t, r.RawDownloadSeconds, 0.0)
		assert.NotEmpty(t, r.JobID)
	}
	assert.ElementsMatch(t, []string{"queue", "blob"}, []string{rep.Runs[0].Transport, rep.Runs[1].Transport})
	assert.NotEmpty(t, rep.NotSeen)
	md, err := os.ReadFile(filepath.Join(dirs[0], bench.MarkdownFile))
	require.NoError(t, err)
	assert.Contains(t, string(md), "**Environment: local**")
	assert.Contains(t, string(md), "Not seen from outside the pipeline")
	assert.False(t, strings.Contains(string(md)+string(b), "not-checked-locally"), "the key is never written")
}

func TestBenchRemoteRejectsBadUse(t *testing.T) {
	for _, args := range [][]string{
		{"--transport", "carrier-pigeon"},
		{"--unit-mb", "0"},
		{"--poll", "0s"},
		{"extra"},
	} {
		e, _, _ := cliEnv(nil)
		err := run(context.Background(), e, append([]string{"bench", "--remote", "--api", "http://127.0.0.1:1/api", "--connection", "UseDevelopmentStorage=true"}, args...))
		assert.ErrorIs(t, err, errUsage, "%q", args)
	}
}
