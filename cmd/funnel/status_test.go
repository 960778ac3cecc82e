package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/partition"
)

func TestStatus(t *testing.T) {
	_, api := newFakeAPI(t)
	e, stdout, _ := cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"status", "j1", "--api", api}))
	out := stdout.String()
	assert.Contains(t, out, "job        j1\n")
	assert.Contains(t, out, "state      running\n")
	assert.Contains(t, out, "units      2 planned, 2 sent, 1 done, 0 failed\n")
	assert.Contains(t, out, "input      2 files, 96 B\n")

	// Flags after the job ID, as people type them; the job is done now.
	e, stdout, _ = cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"status", "j1", "--json", "--api", api}))
	var st job.Status
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &st))
	assert.Equal(t, job.Done, st.State)
	assert.EqualValues(t, 3, st.Rows.Accepted)
}

func TestStatusReadsTheStateFile(t *testing.T) {
	_, api := newFakeAPI(t)
	state := filepath.Join(t.TempDir(), "up.json")
	require.NoError(t, writeState(state, upState{PID: 1, APIURL: api, ConnectionString: "c"}))
	e, stdout, _ := cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"status", "--state", state, "j1"}))
	assert.Contains(t, stdout.String(), "job        j1")
}

// TestStatusFromTheAzdEnvironment: with the azd environment's values
// exported (FUNNEL_API_URL, FUNNEL_API_KEY), no flag is needed, and the
// key travels as x-functions-key.
func TestStatusFromTheAzdEnvironment(t *testing.T) {
	f, api := newFakeAPI(t)
	e, stdout, _ := cliEnv(map[string]string{"FUNNEL_API_URL": api + "/", "FUNNEL_API_KEY": "k2"})
	require.NoError(t, run(context.Background(), e, []string{"status", "--state", filepath.Join(t.TempDir(), "none.json"), "j1"}))
	assert.Contains(t, stdout.String(), "job        j1")
	assert.Equal(t, "k2", f.key)

	e, _, _ = cliEnv(map[string]string{"FUNNEL_API_URL": "func-x.azurewebsites.net/api"})
	err := run(context.Background(), e, []string{"status", "j1"})
	require.ErrorIs(t, err, errUsage)
	assert.Contains(t, err.Error(), "$FUNNEL_API_URL")
}

func TestStatusAndResultRejectBadUse(t *testing.T) {
	_, api := newFakeAPI(t)
	noState := filepath.Join(t.TempDir(), "none.json")
	cases := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"status without id", []string{"status", "--api", api}, true, "one job ID"},
		{"status two ids", []string{"status", "--api", api, "a", "b"}, true, "one job ID"},
		{"status unknown job", []string{"status", "--api", api, "nope"}, false, `no job "nope"`},
		{"status no api", []string{"status", "--state", noState, "j1"}, false, "funnel up"},
		{"result both formats", []string{"result", "--api", api, "--csv", "--json", "j1"}, true, "not both"},
		{"result without id", []string{"result", "--api", api}, true, "one job ID"},
		{"result unknown job", []string{"result", "--api", api, "nope"}, false, "404"},
		{"result bad flag", []string{"result", "--api", api, "--xml", "j1"}, true, "xml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, stdout, stderr := cliEnv(nil)
			err := run(context.Background(), e, tc.args)
			require.Error(t, err)
			assert.Equal(t, tc.usage, errors.Is(err, errUsage), "usage error? %v", err)
			assert.Contains(t, err.Error()+stderr.String(), tc.want)
			assert.Zero(t, stdout.Len())
		})
	}
	e, _, _ := cliEnv(nil)
	var apiErr *partition.APIError
	require.ErrorAs(t, run(context.Background(), e, []string{"result", "--api", api, "nope"}), &apiErr)
	assert.Equal(t, 404, apiErr.Status)
}

func TestResultFormats(t *testing.T) {
	f, api := newFakeAPI(t)
	e, stdout, _ := cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"result", "j1", "--api", api}))
	assert.Equal(t, f.table(t), stdout.String())

	e, stdout, _ = cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"result", "--csv", "--api", api, "j1"}))
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, "key,name,customers,mean,min,max,total", lines[0])
	assert.Equal(t, "3,CANADA,2,49.90,-0.45,100.25,99.80", lines[1])

	e, stdout, _ = cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"result", "--json", "--api", api, "j1"}))
	var got job.Result
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &got))
	assert.Equal(t, "j1", got.Job)
	assert.Equal(t, f.result.Nations, got.Nations)
	assert.True(t, strings.HasSuffix(stdout.String(), "\n"))
}

// The unit size line says why partition chose the size it did.
func TestStatusSaysWhyTheUnitSize(t *testing.T) {
	base := job.Status{ID: "j1", State: job.Running, Transport: "blob", UnitBytes: 32 << 20, UnitSizeAuto: true, Parallelism: 32}
	tests := []struct {
		rule, want string
	}{
		{job.UnitRuleFloor, "unit size  32 MiB (the blob transport's smallest automatic unit: fewer units than 32-way parallelism asks for"},
		{job.UnitRuleCap, "unit size  32 MiB (the largest automatic unit: more units than 32-way parallelism asks for)"},
		{job.UnitRuleParallelism, "unit size  32 MiB (chosen for 32-way parallelism)"},
		{"", "unit size  32 MiB (chosen for 32-way parallelism)"}, // a record of an older version
	}
	for _, tt := range tests {
		st := base
		st.UnitRule = tt.rule
		var b strings.Builder
		require.NoError(t, writeStatus(&b, &st))
		assert.Contains(t, b.String(), tt.want, tt.rule)
	}
	st := base
	st.UnitSizeAuto, st.UnitRule = false, ""
	var b strings.Builder
	require.NoError(t, writeStatus(&b, &st))
	assert.Contains(t, b.String(), "unit size  32 MiB (as asked)")
}
