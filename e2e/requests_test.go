package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/job"
)

// apiAnswer is a job API answer as a client sees it on the wire.
type apiAnswer struct {
	status int
	body   []byte
	header http.Header
}

// message is the "error" of an error answer.
func (a apiAnswer) message(t *testing.T) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	require.NoError(t, json.Unmarshal(a.body, &e), "error answer %d is not {\"error\": ...}: %s", a.status, a.body)
	return e.Error
}

// call sends one raw request to the job API.
func (s *stack) call(t *testing.T, method, path string, body []byte) apiAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.APIURL()+path, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return apiAnswer{status: resp.StatusCode, body: data, header: resp.Header}
}

// submitAnswer is the body of a 202 answer to a submit.
type submitAnswer struct {
	ID        string    `json:"id"`
	State     job.State `json:"state"`
	Units     int       `json:"units"`
	StatusURL string    `json:"status_url"`
	ResultURL string    `json:"result_url"`
}

func (s *stack) submitRaw(t *testing.T, spec string) (apiAnswer, submitAnswer) {
	t.Helper()
	a := s.call(t, http.MethodPost, "/jobs", []byte(spec))
	var ans submitAnswer
	if a.status == http.StatusAccepted {
		require.NoError(t, json.Unmarshal(a.body, &ans), "%s", a.body)
	}
	return a, ans
}

// testInvalidRequests checks that requests that can never succeed get a
// 400 whose message says what is wrong, and that nothing is created for
// them; and that input which cannot be planned fails the job with the
// reason.
func testInvalidRequests(t *testing.T, s *stack) {
	s.upload(t, "reqdata", generated(t, t.TempDir(), 0.01, 2))
	huge := `{"transport":"queue","input":{"container":"reqdata","prefix":"` + strings.Repeat("a", job.MaxRequest) + `"}}`
	cases := []struct {
		name string
		body string
		want []string // substrings of the error message
	}{
		{"unknown transport", `{"id":"bad-1","transport":"carrier-pigeon","input":{"container":"reqdata"}}`,
			[]string{`unknown transport "carrier-pigeon"`, "queue, blob"}},
		{"no transport", `{"input":{"container":"reqdata"}}`, []string{"transport is required"}},
		{"bad container name", `{"transport":"queue","input":{"container":"Bad_Container"}}`,
			[]string{`input.container "Bad_Container" is not a valid container name`}},
		{"container with a double hyphen", `{"transport":"queue","input":{"container":"a--b"}}`,
			[]string{"not a valid container name"}},
		{"blobs and prefix", `{"transport":"queue","input":{"container":"reqdata","blobs":["x"],"prefix":"y"}}`,
			[]string{"not both"}},
		{"absurd unit size", `{"transport":"queue","input":{"container":"reqdata"},"unit_mb":1048576}`,
			[]string{"unit_mb 1048576", "1..1024"}},
		{"negative unit size", `{"transport":"queue","input":{"container":"reqdata"},"unit_mb":-8}`,
			[]string{"unit_mb -8"}},
		{"unit size of the wrong type", `{"transport":"queue","input":{"container":"reqdata"},"unit_mb":"big"}`,
			[]string{"not a job spec", "unit_mb"}},
		{"body over 1 MiB", huge, []string{"over the limit of 1048576"}},
		{"malformed JSON", `{"transport": "queue", "input": {`, []string{"not a job spec"}},
		{"not JSON at all", `transport=queue`, []string{"not a job spec"}},
		{"empty body", ``, []string{"empty request body"}},
		{"unknown field", `{"transport":"queue","input":{"container":"reqdata"},"partitions":4}`,
			[]string{"not a job spec", `unknown field "partitions"`}},
		{"trailing data", `{"transport":"queue","input":{"container":"reqdata"}} {}`, []string{"trailing data"}},
		{"bad job ID", `{"id":"Job_1","transport":"queue","input":{"container":"reqdata"}}`, []string{`id "Job_1"`}},
		{"two-byte delimiter", `{"transport":"queue","input":{"container":"reqdata"},"delimiter":"||"}`,
			[]string{`delimiter "||"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := s.submitRaw(t, tc.body)
			require.Equal(t, http.StatusBadRequest, a.status, "answer: %.300s", a.body)
			msg := a.message(t)
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
			assert.Less(t, len(msg), 2000, "a short message, not an echo of the request")
		})
	}
	a := s.call(t, http.MethodGet, "/jobs/bad-1", nil)
	assert.Equal(t, http.StatusNotFound, a.status, "a rejected request leaves no job: %s", a.body)

	// The input is looked at by the plan function, after the job API has
	// answered: input that cannot be planned fails the job with the reason.
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"missing container", `{"id":"bad-3","transport":"queue","input":{"container":"no-such-container"}}`,
			[]string{"no-such-container"}},
		{"no matching blobs", `{"id":"bad-2","transport":"blob","input":{"container":"reqdata","prefix":"nothing-here/"}}`,
			[]string{"no input blobs", `"reqdata"`, `"nothing-here/"`}},
		{"a listed blob is missing", `{"id":"bad-4","transport":"queue","input":{"container":"reqdata","blobs":["customer.000.csv","missing.csv"]}}`,
			[]string{"missing.csv"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, ans := s.submitRaw(t, tc.body)
			require.Equal(t, http.StatusAccepted, a.status, "answer: %.300s", a.body)
			st := s.waitJob(t, ans.ID, job.Failed)
			assert.Contains(t, st.Failure, "planning: ")
			for _, w := range tc.want {
				assert.Contains(t, st.Failure, w)
			}
			assert.Zero(t, st.Units.Planned)
		})
	}

	t.Run("reserved containers", func(t *testing.T) {
		for _, c := range []string{"funnel", "funnel-units", "funnel-partials", "azure-webjobs-hosts"} {
			a, _ := s.submitRaw(t, `{"transport":"queue","input":{"container":"`+c+`"}}`)
			assert.Equal(t, http.StatusForbidden, a.status, "%s: %.300s", c, a.body)
			assert.Contains(t, a.message(t), "own data", c)
		}
	})
	t.Run("job IDs in paths", func(t *testing.T) {
		for _, p := range []string{"/jobs/..%2Ffunnel", "/jobs/UPPER", "/jobs/" + strings.Repeat("j", 3000), "/jobs/..%2Ffunnel/result"} {
			a := s.call(t, http.MethodGet, p, nil)
			assert.Equal(t, http.StatusBadRequest, a.status, "%.60s: %.300s", p, a.body)
			assert.Contains(t, a.message(t), "job id")
		}
		a := s.call(t, http.MethodPost, "/jobs/no-such-job/retry", nil)
		assert.Equal(t, http.StatusNotFound, a.status, a.body)
	})
	t.Run("lookups", func(t *testing.T) {
		a := s.call(t, http.MethodGet, "/jobs/no-such-job", nil)
		assert.Equal(t, http.StatusNotFound, a.status)
		assert.Contains(t, a.message(t), `no job "no-such-job"`)
		a = s.call(t, http.MethodGet, "/jobs/no-such-job/result", nil)
		assert.Equal(t, http.StatusNotFound, a.status)
		a = s.call(t, http.MethodGet, "/jobs/no-such-job/result?format=xml", nil)
		assert.Equal(t, http.StatusBadRequest, a.status)
		assert.Contains(t, a.message(t), `format "xml"`)
	})
}

// testResubmission checks that submitting the same spec under the same ID
// is idempotent (202, the same job, no second run) and that another spec
// under a taken ID is 409.
func testResubmission(t *testing.T, s *stack) {
	files := s.upload(t, "again", generated(t, t.TempDir(), 0.02, 4))
	want := reference(t, files, aggregate.DefaultLayout())
	spec := `{"id":"again","transport":"queue","input":{"container":"again","prefix":"customer."},"unit_mb":0}`
	units := autoUnits(t, files, "queue")

	a, first := s.submitRaw(t, spec)
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	assert.Equal(t, "again", first.ID)
	assert.Equal(t, first.StatusURL, a.header.Get("Location"))
	assert.True(t, strings.HasSuffix(first.StatusURL, "/api/jobs/again"), first.StatusURL)
	assert.Equal(t, first.StatusURL+"/result", first.ResultURL)

	// The same spec again, spelled differently (the automatic unit size
	// left out, fields in another order), while the job may still run.
	a, again := s.submitRaw(t, `{"input":{"prefix":"customer.","container":"again"},"transport":"queue","id":"again"}`)
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	assert.Equal(t, first.ID, again.ID)

	st := s.waitJob(t, "again", job.Done)
	checkDone(t, st, units, want)
	aggregated := s.functionSummary("aggregate", "UnitsQueue").Invocations

	a, done := s.submitRaw(t, spec)
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	assert.Equal(t, "again", done.ID)
	assert.Equal(t, job.Done, done.State, "a resubmission answers with the job as it stands")
	assert.Equal(t, units, done.Units)
	st2, err := s.client.Status(context.Background(), "again")
	require.NoError(t, err)
	assert.Equal(t, st.Timings.Submitted, st2.Timings.Submitted, "the same job, not a new one")
	assert.Equal(t, st.Timings.Finished, st2.Timings.Finished)
	assert.Equal(t, aggregated, s.functionSummary("aggregate", "UnitsQueue").Invocations, "a resubmission of a done job sends no unit")
	s.checkAnswer(t, "again", want, nil)

	for _, other := range []string{
		`{"id":"again","transport":"blob","input":{"container":"again","prefix":"customer."}}`,
		`{"id":"again","transport":"queue","input":{"container":"again","prefix":"customer."},"unit_mb":1}`,
		`{"id":"again","transport":"queue","input":{"container":"again","blobs":["customer.000.csv"]}}`,
	} {
		a, _ := s.submitRaw(t, other)
		assert.Equal(t, http.StatusConflict, a.status, "%s: %s", other, a.body)
		assert.Contains(t, a.message(t), "job again: job exists with a different spec")
	}
	st3, err := s.client.Status(context.Background(), "again")
	require.NoError(t, err)
	assert.Equal(t, job.Transports()[0], st3.Transport, "the 409s left the job alone")
	checkDone(t, st3, units, want)
}

// testEmptyInput runs jobs over empty blobs: there is nothing to plan, and
// the job is done at once with an empty answer, over either transport.
func testEmptyInput(t *testing.T, s *stack) {
	ctx := context.Background()
	s.uploadBytes(t, ctx, "empty", map[string][]byte{"nothing/a.csv": {}, "nothing/b.csv": {}})
	want := &aggregate.Result{Nations: []aggregate.NationResult{}}
	for _, medium := range job.Transports() {
		t.Run(medium, func(t *testing.T) {
			a, ans := s.submitRaw(t, `{"id":"empty-`+medium+`","transport":"`+medium+`","input":{"container":"empty","prefix":"nothing/"}}`)
			require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
			assert.Zero(t, ans.Units)
			st := s.waitJob(t, ans.ID, job.Done)
			assert.Equal(t, 2, st.Files)
			assert.Zero(t, st.Bytes)
			assert.Zero(t, st.Units.Planned)
			assert.Zero(t, st.Units.Done)
			assert.Zero(t, st.Rows.Accepted)
			require.NotNil(t, st.Result)
			assert.Equal(t, *want, st.Result.Result)
			s.checkAnswer(t, ans.ID, want, nil)
		})
	}
}
