package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/partition"
)

// fakeAPI answers like the job API for one job, "j1", that is running on
// the first status read and done from the second on.
type fakeAPI struct {
	t       *testing.T
	result  *aggregate.Result
	mu      sync.Mutex
	specs   []job.Spec
	reads   int
	retries int
	key     string
}

func newFakeAPI(t *testing.T) (*fakeAPI, string) {
	t.Helper()
	rows := "1|a|x|3|p|100.25|s|c|\n2|b|x|3|p|-0.45|s|c|\n3|c|x|24|p|9999.99|s|c|\n"
	p, err := aggregate.Scan(context.Background(), strings.NewReader(rows), "t", aggregate.DefaultLayout())
	require.NoError(t, err)
	f := &fakeAPI{t: t, result: aggregate.NewResult(p)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL + "/api"
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.key = r.Header.Get("x-functions-key")
	answer := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		require.NoError(f.t, json.NewEncoder(w).Encode(v))
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/jobs":
		body, _ := io.ReadAll(r.Body)
		spec, err := job.DecodeSpec(body)
		if err == nil {
			err = spec.Normalize()
		}
		if err != nil {
			answer(http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if spec.Input.Container == "flaky" && len(f.specs)%2 == 0 {
			f.specs = append(f.specs, spec)
			answer(http.StatusBadGateway, map[string]string{"error": "upstream timed out"})
			return
		}
		if spec.Input.Container == "taken" {
			answer(http.StatusConflict, map[string]string{"error": "job j1: job exists with a different spec"})
			return
		}
		f.specs = append(f.specs, spec)
		answer(http.StatusAccepted, map[string]any{"id": "j1", "state": "planning"})
	case r.Method == http.MethodGet && r.URL.Path == "/api/jobs/j1":
		f.reads++
		st := job.Status{ID: "j1", State: job.Running, Transport: "queue", Files: 2, Bytes: 96, Units: job.UnitCounts{Planned: 2, Sent: 2, Done: 1}, Rows: job.RowCounts{Accepted: 2}}
		if f.reads > 1 {
			st.State, st.Units.Done, st.Rows.Accepted = job.Done, 2, 3
			st.Timings = job.Timings{PartitionSeconds: 0.1, AggregateSeconds: 0.5, MergeSeconds: 0.2, ElapsedSeconds: 0.9}
			st.Result = &job.Result{Job: "j1", Result: *f.result}
		}
		answer(http.StatusOK, st)
	case r.Method == http.MethodGet && r.URL.Path == "/api/jobs/j1/result":
		if r.URL.Query().Get("format") == "csv" {
			w.Header().Set("Content-Type", "text/csv")
			require.NoError(f.t, f.result.WriteCSV(w))
			return
		}
		answer(http.StatusOK, job.Result{Job: "j1", ElapsedSeconds: 0.9, Result: *f.result})
	case r.Method == http.MethodPost && r.URL.Path == "/api/jobs/j1/retry":
		f.retries++
		if f.retries > 1 {
			answer(http.StatusConflict, map[string]string{"error": "job j1 is running: job cannot be retried"})
			return
		}
		answer(http.StatusAccepted, map[string]any{"id": "j1", "state": "running", "resent": 2, "failed_attempts": 1})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/jobs/"):
		answer(http.StatusNotFound, map[string]string{"error": "no job \"" + strings.TrimPrefix(r.URL.Path, "/api/jobs/") + "\""})
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeAPI) table(t *testing.T) string {
	var b bytes.Buffer
	require.NoError(t, f.result.WriteTable(&b))
	return b.String()
}

func TestSubmitSpec(t *testing.T) {
	cases := []struct {
		name                                  string
		id, transport, container, prefix, blb string
		unitMB                                int
		want                                  string // error; "" for success
	}{
		{"prefix", "", "queue", "input", "customer/", "", 8, ""},
		{"blobs", "run-1", "blob", "input", "", "a.csv, b.csv", 1, ""},
		{"no transport", "", "", "input", "", "", 8, "--transport is required"},
		{"bad transport", "", "carrier-pigeon", "input", "", "", 8, "unknown transport"},
		{"no container", "", "queue", "", "", "", 8, "--container is required"},
		{"bad container", "", "queue", "In_put", "", "", 8, "not a valid container name"},
		{"both inputs", "", "queue", "input", "p", "a", 8, "not both"},
		{"duplicate blob", "", "queue", "input", "", "a,a", 8, "listed twice"},
		{"unit negative", "", "queue", "input", "", "", -1, "--unit-mb"},
		{"unit too big", "", "queue", "input", "", "", 2048, "--unit-mb"},
		{"bad id", "Job 1", "queue", "input", "", "", 8, "id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := submitSpec(tc.id, tc.transport, tc.container, tc.prefix, tc.blb, tc.unitMB, "|", false)
			if tc.want != "" {
				require.ErrorIs(t, err, errUsage)
				assert.ErrorContains(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.transport, spec.Transport)
			assert.Equal(t, tc.unitMB, spec.UnitMB)
		})
	}
	spec, err := submitSpec("", "blob", "input", "", "a.csv, b.csv", 8, "|", false)
	require.NoError(t, err)
	assert.Equal(t, []string{"a.csv", "b.csv"}, spec.Input.Blobs)
}

func TestSubmitPrintsTheID(t *testing.T) {
	f, api := newFakeAPI(t)
	e, stdout, _ := cliEnv(map[string]string{"FUNNEL_API_KEY": "k1"})
	require.NoError(t, run(context.Background(), e, []string{"submit", "--api", api, "--transport", "queue", "--container", "input", "--prefix", "customer/", "--unit-mb", "2", "--id", "j1"}))
	assert.Equal(t, "j1\n", stdout.String())
	require.Len(t, f.specs, 1)
	assert.Equal(t, job.Spec{ID: "j1", Transport: "queue", Input: job.Input{Container: "input", Prefix: "customer/"}, UnitMB: 2, Delimiter: "|"}, f.specs[0])
	assert.Equal(t, "k1", f.key, "the key from the environment")

	e, stdout, _ = cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"submit", "--api", api, "--transport", "blob", "--container", "input", "--json"}))
	assert.JSONEq(t, `{"id":"j1"}`, stdout.String())
	require.Len(t, f.specs, 2)
	assert.NoError(t, job.CheckID(f.specs[1].ID), "without --id the CLI picks the ID: %q", f.specs[1].ID)

	// An answer lost to a 5xx is asked for again under the same ID.
	e, _, _ = cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"submit", "--api", api, "--transport", "queue", "--container", "flaky"}))
	require.Len(t, f.specs, 4, "sent twice")
	assert.Equal(t, f.specs[2], f.specs[3], "the same spec under the same ID")
	assert.NotEmpty(t, f.specs[3].ID)
}

func TestSubmitWaitPrintsTheResult(t *testing.T) {
	f, api := newFakeAPI(t)
	e, stdout, stderr := cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"submit", "--api", api, "--transport", "queue", "--container", "input", "--wait", "--interval", "10ms"}))
	out := stdout.String()
	assert.True(t, strings.HasPrefix(out, "j1\n"), out)
	assert.Contains(t, out, f.table(t))
	assert.Contains(t, out, "job j1 (queue): 3 rows in 2 units of 2 files; submit→done")
	assert.Contains(t, out, "partition 0.10s, dispatch 0.00s, aggregate 0.50s, merge 0.20s")
	assert.Contains(t, stderr.String(), "units 1/2 done", "progress while it runs")
	assert.Contains(t, stderr.String(), "units 2/2 done")

	e, stdout, _ = cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"submit", "--api", api, "--transport", "queue", "--container", "input", "--wait", "--json", "--interval", "10ms"}))
	var got job.Result
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &got), "stdout is only the result JSON: %s", stdout)
	assert.Equal(t, f.result.Nations, got.Nations)
}

func TestSubmitRejectsBadUse(t *testing.T) {
	_, api := newFakeAPI(t)
	noState := filepath.Join(t.TempDir(), "none.json")
	cases := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"argument", []string{"--api", api, "--transport", "queue", "--container", "input", "extra"}, true, "no arguments"},
		{"interval", []string{"--api", api, "--transport", "queue", "--container", "input", "--interval", "0s"}, true, "--interval"},
		{"bad api", []string{"--api", "localhost:7071", "--transport", "queue", "--container", "input"}, true, "http://"},
		{"no api", []string{"--state", noState, "--transport", "queue", "--container", "input"}, false, "funnel up"},
		{"bad delimiter", []string{"--api", api, "--transport", "queue", "--container", "input", "--delimiter", "||"}, true, "delimiter"},
		{"server refuses", []string{"--api", api, "--transport", "queue", "--container", "taken"}, false, "409: job j1: job exists with a different spec"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, stdout, _ := cliEnv(nil)
			err := run(context.Background(), e, append([]string{"submit"}, tc.args...))
			require.Error(t, err)
			assert.Equal(t, tc.usage, errors.Is(err, errUsage), "usage error? %v", err)
			assert.ErrorContains(t, err, tc.want)
			assert.Zero(t, stdout.Len())
		})
	}
}

func TestSubmitGivesUpAfterTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"id":"slow"}`)
			return
		}
		io.WriteString(w, `{"id":"slow","state":"running","units":{"planned":4}}`)
	}))
	defer srv.Close()
	e, stdout, _ := cliEnv(nil)
	err := run(context.Background(), e, []string{"submit", "--api", srv.URL + "/api", "--transport", "queue", "--container", "input", "--wait", "--interval", "10ms", "--timeout", "200ms"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, "slow\n", stdout.String(), "the ID is printed before waiting")
}

func TestSubmitReportsAFailedJob(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"id":"bad"}`)
			return
		}
		io.WriteString(w, `{"id":"bad","state":"failed","transport":"blob","failure":"unit 3: blob changed"}`)
	}))
	defer srv.Close()
	e, _, stderr := cliEnv(nil)
	err := run(context.Background(), e, []string{"submit", "--api", srv.URL + "/api", "--transport", "blob", "--container", "input", "--wait", "--interval", "10ms"})
	require.ErrorIs(t, err, partition.ErrJobFailed)
	assert.ErrorContains(t, err, "blob changed")
	assert.Contains(t, stderr.String(), "state      failed")
}
