package partition

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/job"
)

// invoke sends the host's invocation request for an HTTP trigger (the shape
// of handlers/testdata/http_trigger.json, which follows azure-functions-host
// HttpRequestExtensions.GetRequestAsJObject) and returns the HTTP output.
func invoke(t *testing.T, app *handlers.App, function, method, url string, params map[string]string, query map[string]string, body string) (int, string) {
	t.Helper()
	req := map[string]any{
		"Url": url, "Method": method, "Query": query, "Params": params,
		"Headers": map[string][]string{"Content-Type": {"application/json"}},
	}
	if body != "" {
		req["Body"] = body
	}
	env, err := json.Marshal(map[string]any{"Data": map[string]any{"req": req}, "Metadata": map[string]any{}})
	require.NoError(t, err)
	r := httptest.NewRequest(http.MethodPost, "/"+function, bytes.NewReader(env))
	r.Header.Set("X-Azure-Functions-InvocationId", "inv-1")
	w := httptest.NewRecorder()
	app.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code, "the host sees a successful invocation: %s", w.Body.String())
	var resp struct {
		Outputs map[string]struct {
			StatusCode json.Number       `json:"statusCode"`
			Body       string            `json:"body"`
			Headers    map[string]string `json:"headers"`
		}
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
	out := resp.Outputs["res"]
	code, err := out.StatusCode.Int64()
	require.NoError(t, err)
	return int(code), out.Body
}

func TestJobAPI(t *testing.T) {
	in := &fakeInputs{files: map[string][]job.File{"input": {{Name: "c.000.csv", Size: 100, ETag: "e"}}}}
	svc, _ := newService(in, &sink{})
	app := handlers.NewApp(handlers.Options{Name: "partition", Logger: slog.New(slog.DiscardHandler)})
	svc.Register(app)
	base := "http://127.0.0.1:7071/api/jobs"

	code, body := invoke(t, app, "Jobs", "POST", base, nil, nil, `{"id":"j1","transport":"queue","input":{"container":"input","prefix":"c."}}`)
	assert.Equal(t, http.StatusAccepted, code, body)
	assert.Contains(t, body, `"status_url":"http://127.0.0.1:7071/api/jobs/j1"`)
	assert.Contains(t, body, `"units":1`)

	code, body = invoke(t, app, "Jobs", "POST", base, nil, nil, `{"id":"j1","transport":"queue","input":{"container":"input","prefix":"c."}}`)
	assert.Equal(t, http.StatusAccepted, code, "resubmission is idempotent: %s", body)

	code, body = invoke(t, app, "Jobs", "POST", base, nil, nil, `{"id":"j1","transport":"queue","input":{"container":"input","prefix":"c."},"unit_mb":16}`)
	assert.Equal(t, http.StatusConflict, code, body)

	for name, bad := range map[string]string{
		"empty":             ``,
		"not json":          `transport=queue`,
		"unknown field":     `{"transport":"queue","input":{"container":"input"},"colour":"red"}`,
		"unknown transport": `{"transport":"kafka","input":{"container":"input"}}`,
		"bad container":     `{"transport":"queue","input":{"container":"No_Such"}}`,
		"no blobs":          `{"transport":"queue","input":{"container":"input","prefix":"zzz"}}`,
		"absurd unit":       `{"transport":"queue","input":{"container":"input"},"unit_mb":1000000}`,
		"too big":           `{"transport":"queue","input":{"container":"input","blobs":["` + strings.Repeat("x", job.MaxRequest) + `"]}}`,
	} {
		code, body := invoke(t, app, "Jobs", "POST", base, nil, nil, bad)
		assert.Equal(t, http.StatusBadRequest, code, "%s: %s", name, body)
		assert.Contains(t, body, `"error"`, name)
	}

	code, body = invoke(t, app, "JobStatus", "GET", base+"/j1", map[string]string{"id": "j1"}, nil, "")
	assert.Equal(t, http.StatusOK, code, body)
	var st job.Status
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	assert.Equal(t, job.Running, st.State)
	assert.Equal(t, 1, st.Units.Planned)

	code, _ = invoke(t, app, "JobStatus", "GET", base+"/nope", map[string]string{"id": "nope"}, nil, "")
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = invoke(t, app, "JobResult", "GET", base+"/j1/result", map[string]string{"id": "j1"}, nil, "")
	assert.Equal(t, http.StatusConflict, code, "no result while running")
	code, _ = invoke(t, app, "JobResult", "GET", base+"/j1/result", map[string]string{"id": "j1"}, map[string]string{"format": "xml"}, "")
	assert.Equal(t, http.StatusBadRequest, code)
}
