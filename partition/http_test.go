package partition

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/job"
)

// invoke sends the host's invocation request for an HTTP trigger (the shape
// of handlers/testdata/http_trigger.json, which follows azure-functions-host
// HttpRequestExtensions.GetRequestAsJObject) and returns the HTTP output.
func invoke(t *testing.T, app *handlers.App, function, method, url string, params map[string]string, query map[string]string, body string) (int, string) {
	t.Helper()
	code, out, _ := invokeHTTP(t, app, function, method, url, params, query, body)
	return code, out
}

// invokeHTTP is invoke that also returns the invocation's other outputs.
func invokeHTTP(t *testing.T, app *handlers.App, function, method, url string, params map[string]string, query map[string]string, body string) (int, string, map[string]json.RawMessage) {
	t.Helper()
	req := map[string]any{
		"Url": url, "Method": method, "Query": query, "Params": params,
		"Headers": map[string][]string{"Content-Type": {"application/json"}},
	}
	if body != "" {
		req["Body"] = body
	}
	outputs := invokeData(t, app, function, map[string]any{"req": req})
	var out struct {
		StatusCode json.Number `json:"statusCode"`
		Body       string      `json:"body"`
	}
	require.NoError(t, json.Unmarshal(outputs["res"], &out))
	delete(outputs, "res")
	code, err := out.StatusCode.Int64()
	require.NoError(t, err)
	return int(code), out.Body, outputs
}

// invokeData sends an invocation with the given Data, requires the host to
// see it succeed, and returns its outputs.
func invokeData(t *testing.T, app *handlers.App, function string, data map[string]any) map[string]json.RawMessage {
	t.Helper()
	code, outputs := invokeStatus(t, app, function, data)
	require.Equal(t, http.StatusOK, code, "the host sees a successful invocation")
	return outputs
}

// invokeStatus sends an invocation with the given Data and returns the
// status the host sees and the outputs.
func invokeStatus(t *testing.T, app *handlers.App, function string, data map[string]any) (int, map[string]json.RawMessage) {
	t.Helper()
	env, err := json.Marshal(map[string]any{"Data": data, "Metadata": map[string]any{}})
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodPost, "/"+function, bytes.NewReader(env))
	r.Header.Set("X-Azure-Functions-InvocationId", "inv-1")
	w := httptest.NewRecorder()
	app.ServeHTTP(w, r)
	var resp struct {
		Outputs map[string]json.RawMessage
	}
	if w.Code == http.StatusOK {
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp), w.Body.String())
	}
	return w.Code, resp.Outputs
}

// queueData is a queue trigger's Data for message text: the host passes
// the message as a JSON string.
func queueData(text string) map[string]any {
	v, _ := json.Marshal(text)
	return map[string]any{"msg": string(v)}
}

func TestJobAPI(t *testing.T) {
	in := &fakeInputs{files: map[string][]job.File{"input": {{Name: "c.000.csv", Size: 100, ETag: "e"}}}}
	tr := &sink{}
	svc, store := newService(in, tr)
	app := handlers.NewApp(handlers.Options{Name: "partition", Logger: slog.New(slog.DiscardHandler)})
	svc.Register(app)
	base := "http://127.0.0.1:7071/api/jobs"

	code, body, outs := invokeHTTP(t, app, "Jobs", "POST", base, nil, nil, `{"id":"j1","transport":"queue","input":{"container":"input","prefix":"c."}}`)
	assert.Equal(t, http.StatusAccepted, code, body)
	assert.Contains(t, body, `"status_url":"http://127.0.0.1:7071/api/jobs/j1"`)
	assert.Contains(t, body, `"state":"planning"`, "the answer comes before planning")
	assert.Contains(t, body, `"units":0`)
	assert.Equal(t, `"{\"job\":\"j1\"}"`, string(outs["plan"]), "the plan message, a JSON object the host cannot mistake for base64")
	assert.Empty(t, tr.sent)

	code, body, outs = invokeHTTP(t, app, "Jobs", "POST", base, nil, nil, `{"id":"j1","transport":"queue","input":{"container":"input","prefix":"c."}}`)
	assert.Equal(t, http.StatusAccepted, code, "resubmission is idempotent: %s", body)
	assert.Contains(t, outs, "plan", "a job not yet sent is asked for again")

	invokeData(t, app, "Plan", queueData(`{"job":"j1"}`))
	invokeData(t, app, "Plan", queueData(`{"job":"j1"}`))
	assert.Len(t, tr.sent, 1, "a duplicate plan message sends nothing more")
	code, body, outs = invokeHTTP(t, app, "Jobs", "POST", base, nil, nil, `{"id":"j1","transport":"queue","input":{"container":"input","prefix":"c."}}`)
	assert.Equal(t, http.StatusAccepted, code, body)
	assert.Contains(t, body, `"units":1`)
	assert.NotContains(t, outs, "plan", "a sent job needs no plan message")

	code, body = invoke(t, app, "Jobs", "POST", base, nil, nil, `{"id":"j1","transport":"queue","input":{"container":"input","prefix":"c."},"unit_mb":16}`)
	assert.Equal(t, http.StatusConflict, code, body)

	for name, bad := range map[string]string{
		"empty":             ``,
		"not json":          `transport=queue`,
		"unknown field":     `{"transport":"queue","input":{"container":"input"},"colour":"red"}`,
		"unknown transport": `{"transport":"kafka","input":{"container":"input"}}`,
		"bad container":     `{"transport":"queue","input":{"container":"No_Such"}}`,
		"absurd unit":       `{"transport":"queue","input":{"container":"input"},"unit_mb":1000000}`,
		"too big":           `{"transport":"queue","input":{"container":"input","blobs":["` + strings.Repeat("x", job.MaxRequest) + `"]}}`,
	} {
		code, body := invoke(t, app, "Jobs", "POST", base, nil, nil, bad)
		assert.Equal(t, http.StatusBadRequest, code, "%s: %s", name, body)
		assert.Contains(t, body, `"error"`, name)
	}

	// Input with no blob is seen by the plan function: the job fails with
	// the reason.
	code, body = invoke(t, app, "Jobs", "POST", base, nil, nil, `{"id":"noblobs","transport":"queue","input":{"container":"input","prefix":"zzz"}}`)
	assert.Equal(t, http.StatusAccepted, code, body)
	invokeData(t, app, "Plan", queueData(`{"job":"noblobs"}`))
	rec, err := job.Get(context.Background(), store, "noblobs")
	require.NoError(t, err)
	assert.Equal(t, job.Failed, rec.State)
	assert.Contains(t, rec.Failure, `no input blobs in container "input" with prefix "zzz"`)

	code, body = invoke(t, app, "JobStatus", "GET", base+"/j1", map[string]string{"id": "j1"}, nil, "")
	assert.Equal(t, http.StatusOK, code, body)
	var st job.Status
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	assert.Equal(t, job.Running, st.State)
	assert.Equal(t, 1, st.Units.Planned)
	assert.True(t, st.Sent, "status shows the units sent")

	code, _ = invoke(t, app, "JobStatus", "GET", base+"/nope", map[string]string{"id": "nope"}, nil, "")
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = invoke(t, app, "JobResult", "GET", base+"/j1/result", map[string]string{"id": "j1"}, nil, "")
	assert.Equal(t, http.StatusConflict, code, "no result while running")
	code, _ = invoke(t, app, "JobResult", "GET", base+"/j1/result", map[string]string{"id": "j1"}, map[string]string{"format": "xml"}, "")
	assert.Equal(t, http.StatusBadRequest, code)

	// IDs in paths are checked before they become record names.
	for _, bad := range []string{"..%2Ffunnel", "../x", "a/b", "UPPER", strings.Repeat("j", 5000)} {
		for _, fn := range []string{"JobStatus", "JobResult", "JobRetry"} {
			method := "GET"
			if fn == "JobRetry" {
				method = "POST"
			}
			code, body := invoke(t, app, fn, method, base+"/x", map[string]string{"id": bad}, nil, "")
			assert.Equal(t, http.StatusBadRequest, code, "%s %.20q: %s", fn, bad, body)
			assert.Contains(t, body, "job id", fn)
			assert.Less(t, len(body), 400, "a long ID is not echoed whole")
		}
	}

	// Funnel's and the host's containers are refused with a 403.
	code, body = invoke(t, app, "Jobs", "POST", base, nil, nil, `{"transport":"queue","input":{"container":"azure-webjobs-hosts"}}`)
	assert.Equal(t, http.StatusForbidden, code, body)
	assert.Contains(t, body, "own data")
	code, body = invoke(t, app, "Jobs", "POST", base, nil, nil, `{"transport":"queue","input":{"container":"funnel"}}`)
	assert.Equal(t, http.StatusForbidden, code, body)
}

func TestBodySizeIsCheckedFromTheRawValue(t *testing.T) {
	assert.NoError(t, checkBodySize(job.MaxRequest))
	assert.NoError(t, checkBodySize(6*job.MaxRequest), "escapes may still decode within the limit")
	err := checkBodySize(6*job.MaxRequest + 3)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "over the limit")
	// A body of escapes: 6 raw characters per byte, within the limit once
	// decoded, is accepted as far as size goes.
	in := &fakeInputs{files: map[string][]job.File{"input": {{Name: "c", Size: 100, ETag: "e"}}}}
	svc, _ := newService(in, &sink{})
	app := handlers.NewApp(handlers.Options{Name: "partition", Logger: slog.New(slog.DiscardHandler)})
	svc.Register(app)
	escaped := `{"transport":"queue","input":{"container":"input","prefix":"` + strings.Repeat(`\u0063`, 1000) + `"}}`
	code, body := invoke(t, app, "Jobs", "POST", "http://h/api/jobs", nil, nil, `{"id":"esc",`+escaped[1:])
	assert.Equal(t, http.StatusAccepted, code, "decoded, not refused for size: %s", body)
	rec, err := job.Get(context.Background(), svc.Store, "esc")
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("c", 1000), rec.Spec.Input.Prefix)
}

func TestRetryAPI(t *testing.T) {
	in := &fakeInputs{files: map[string][]job.File{"input": {{Name: "big", Size: 3 << 20, ETag: "e"}}}}
	tr := &sink{}
	svc, st := newService(in, tr)
	app := handlers.NewApp(handlers.Options{Name: "partition", Logger: slog.New(slog.DiscardHandler)})
	svc.Register(app)
	base := "http://127.0.0.1:7071/api/jobs"
	code, body := invoke(t, app, "Jobs", "POST", base, nil, nil, `{"id":"rj","transport":"queue","input":{"container":"input"},"unit_mb":1}`)
	require.Equal(t, http.StatusAccepted, code, body)
	invokeData(t, app, "Plan", queueData(`{"job":"rj"}`))
	require.Len(t, tr.sent, 3)

	code, body = invoke(t, app, "JobRetry", "POST", base+"/rj/retry", map[string]string{"id": "rj"}, nil, "")
	assert.Equal(t, http.StatusConflict, code, "a running job is not retried: %s", body)
	code, _ = invoke(t, app, "JobRetry", "POST", base+"/nope/retry", map[string]string{"id": "nope"}, nil, "")
	assert.Equal(t, http.StatusNotFound, code)

	// Unit 1 lands; unit 2 is poisoned and fails the job.
	ctx := context.Background()
	_, err := job.Fold(ctx, st, &job.PartialMsg{Job: "rj", Index: 1, Count: 3, Shards: 1, Partial: &aggregate.Partial{}})
	require.NoError(t, err)
	require.NoError(t, job.Fail(ctx, st, "rj", 2, "unit 2 failed", time.Unix(200, 0)))
	tr.sent = nil
	code, body = invoke(t, app, "JobRetry", "POST", base+"/rj/retry", map[string]string{"id": "rj"}, nil, "")
	require.Equal(t, http.StatusAccepted, code, body)
	assert.Contains(t, body, `"resent":2`)
	assert.Contains(t, body, `"state":"running"`)
	assert.Contains(t, body, `"status_url":"http://127.0.0.1:7071/api/jobs/rj"`)
	var ids []string
	for _, m := range tr.sent {
		ids = append(ids, m.ID)
	}
	assert.Equal(t, []string{job.UnitID("rj", 0), job.UnitID("rj", 2)}, ids, "only the units that never landed, under their own IDs")
	code, _ = invoke(t, app, "JobRetry", "POST", base+"/rj/retry", map[string]string{"id": "rj"}, nil, "")
	assert.Equal(t, http.StatusConflict, code, "the retry is under way")
	assert.Len(t, tr.sent, 2, "and sends nothing more")
}
