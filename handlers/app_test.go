package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/internal/syncio"
)

// The golden invocation requests under testdata/ reproduce what the real
// host (Azure/azure-functions-host, v4) sends for each trigger when it calls a
// custom handler without HTTP forwarding:
//
//   - Envelope {"Data", "Metadata"} and headers: src/WebJobs.Script/Workers/Http/
//     DefaultHttpWorkerService.cs (ProcessDefaultInvocationRequest, AddHeaders)
//     and HttpScriptInvocationContext.cs.
//   - Value encodings: src/WebJobs.Script/Workers/MessageExtensions/
//     ScriptInvocationContextExtensions.cs (GetHttpScriptInvocationContextValue):
//     a string (queue message, Id, PopReceipt, blob path parameter) goes
//     through JsonConvert.SerializeObject, so it is quoted twice; a number
//     (DequeueCount) becomes its SerializeObject text "2"; DateTimeOffset
//     values are re-parsed and serialised as ISO 8601 with offset; objects
//     (sys, Properties) become JSON objects; bytes of a dataType binary
//     binding are base64; keys ending in "Trigger" are dropped from Metadata.
//   - http_trigger.json's Data.req: src/WebJobs.Script/Extensions/
//     HttpRequestExtensions.cs (GetRequestAsJObject): Url, Method, Query
//     (name → value), Headers (name → [values]), Params, Identities, Body (the
//     body's text).
//
// The golden responses follow HttpScriptInvocationResult.cs and
// HttpOutputBindingResponse.cs (statusCode, headers, body) in the same folder.

func newTestApp(t *testing.T, reg prometheus.Registerer) (*handlers.App, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return handlers.NewApp(handlers.Options{Name: "test", Logger: log, Registerer: reg}), logs
}

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// post sends an invocation request the way the host does.
func post(t *testing.T, h http.Handler, function string, body []byte, invocationID string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:34567/"+function, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Azure-Functions-InvocationId", invocationID)
	req.Header.Set("X-Azure-Functions-HostVersion", "4.1036.1.23224")
	req.Header.Set("User-Agent", "Azure-Functions-Host/4.1036.1.23224")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestGoldenQueueTrigger(t *testing.T) {
	app, _ := newTestApp(t, nil)
	var got struct {
		msg                      string
		dequeue                  int64
		id, pop, inserted, fname string
		sys                      map[string]string
	}
	app.Handle("Work", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		var err error
		got.fname = inv.Function
		if got.msg, err = inv.QueueMessage("msg"); err != nil {
			return nil, err
		}
		if got.dequeue, err = inv.MetaInt("DequeueCount"); err != nil {
			return nil, err
		}
		if got.id, err = inv.MetaString("Id"); err != nil {
			return nil, err
		}
		if got.pop, err = inv.MetaString("PopReceipt"); err != nil {
			return nil, err
		}
		if got.inserted, err = inv.MetaString("InsertionTime"); err != nil {
			return nil, err
		}
		sys, err := inv.MetaString("sys")
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(sys), &got.sys); err != nil {
			return nil, err
		}
		var unit struct {
			Job, File   string
			Unit, Units int
		}
		if err := json.Unmarshal([]byte(got.msg), &unit); err != nil {
			return nil, err
		}
		resp := handlers.NewResponse()
		for part := range 2 {
			resp.AddQueue("out", fmt.Sprintf(`{"job":%q,"file":%q,"unit":%d,"part":%d}`, unit.Job, unit.File, unit.Unit, part))
		}
		resp.Log(fmt.Sprintf("unit %d of %d of %s done (attempt %d)", unit.Unit, unit.Units, unit.Job, got.dequeue))
		return resp, nil
	})

	rec := post(t, app, "Work", golden(t, "queue_trigger.json"), "9f0e4a0c-2a1b-4c55-b1de-0d3b1f1f2a01")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.JSONEq(t, string(golden(t, "queue_response.json")), rec.Body.String())
	assert.Equal(t, "Work", got.fname)
	assert.Equal(t, `{"job":"job42","file":"customer-0001.tbl","unit":3,"units":12}`, got.msg)
	assert.EqualValues(t, 2, got.dequeue)
	assert.Equal(t, "5c1f0e7a-1d6b-4f55-8f7e-2b9f61e6a3d4", got.id)
	assert.Equal(t, "AgAAAAMAAAAAAAAAcE2Y0tuU2wE=", got.pop)
	assert.Equal(t, "2025-03-14T09:26:51+00:00", got.inserted)
	assert.Equal(t, "Work", got.sys["MethodName"])
}

func TestGoldenBlobTrigger(t *testing.T) {
	app, _ := newTestApp(t, nil)
	var content []byte
	var name string
	var size int64
	app.Handle("OnBlob", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		var err error
		if content, err = inv.Blob("blob"); err != nil {
			return nil, err
		}
		if name, err = inv.MetaString("name"); err != nil {
			return nil, err
		}
		props, err := inv.MetaString("Properties")
		if err != nil {
			return nil, err
		}
		var p struct{ ContentLength int64 }
		if err := json.Unmarshal([]byte(props), &p); err != nil {
			return nil, err
		}
		size = p.ContentLength
		resp := handlers.NewResponse()
		resp.AddQueue("out", fmt.Sprintf("blob:%s:%d", name, len(content)))
		resp.SetBlob("copy", content)
		return resp, nil
	})

	rec := post(t, app, "OnBlob", golden(t, "blob_trigger.json"), "1")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.JSONEq(t, string(golden(t, "blob_response.json")), rec.Body.String())
	assert.Equal(t, "chunk-0001.tbl", name)
	assert.True(t, bytes.HasPrefix(content, []byte("1|Customer#000000001|")), "content %q", content)
	assert.EqualValues(t, len(content), size)
}

func TestGoldenHTTPTrigger(t *testing.T) {
	type submit struct {
		Input     string `json:"input"`
		Transport string `json:"transport"`
	}
	app, _ := newTestApp(t, nil)
	var req *handlers.HTTPRequest
	app.Handle("Jobs", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		var err error
		if req, err = inv.HTTPRequest("req"); err != nil {
			return nil, err
		}
		var s submit
		if err := req.DecodeBody(&s); err != nil {
			return nil, handlers.BadRequest(err.Error())
		}
		if s.Transport != "queue" && s.Transport != "blob" {
			return nil, handlers.BadRequest("transport must be queue or blob")
		}
		id := req.Params["id"]
		resp := handlers.NewResponse()
		err = resp.SetHTTP("res", handlers.HTTPResponse{
			StatusCode: http.StatusAccepted,
			Headers:    map[string]string{"Location": "/api/jobs/" + id},
			Body:       map[string]string{"id": id, "transport": s.Transport},
		})
		return resp, err
	})

	rec := post(t, app, "Jobs", golden(t, "http_trigger.json"), "2")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.JSONEq(t, string(golden(t, "http_response.json")), rec.Body.String())
	assert.Equal(t, "POST", req.Method)
	assert.Equal(t, "http://localhost:7071/api/jobs/job42?verbose=1", req.URL)
	assert.Equal(t, map[string]string{"verbose": "1"}, req.Query)
	assert.Equal(t, []string{"application/json"}, req.Headers["Accept"])
	assert.Equal(t, "application/json", req.Header("content-type"))

	// The same request with a bad body: the host gets 200, the caller 400.
	var env map[string]map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(golden(t, "http_trigger.json"), &env))
	var r map[string]any
	require.NoError(t, json.Unmarshal(env["Data"]["req"], &r))
	r["Body"] = `{"input":"customers/","transport":"carrier pigeon"}`
	var err error
	env["Data"]["req"], err = json.Marshal(r)
	require.NoError(t, err)
	body, err := json.Marshal(env)
	require.NoError(t, err)
	rec = post(t, app, "Jobs", body, "3")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.JSONEq(t, string(golden(t, "http_error_response.json")), rec.Body.String())
}

// failureBody is what the handler answers with a non-2xx status.
func failureBody(t *testing.T, rec *httptest.ResponseRecorder) handlers.Response {
	t.Helper()
	var r handlers.Response
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r), rec.Body.String())
	require.Len(t, r.Logs, 1)
	assert.Empty(t, r.Outputs)
	assert.Nil(t, r.ReturnValue)
	assert.Contains(t, rec.Body.String(), `"ReturnValue":null`)
	assert.Contains(t, rec.Body.String(), `"Outputs":{}`)
	return r
}

func TestErrorsMapToStatus(t *testing.T) {
	queueEnv := golden(t, "queue_trigger.json")
	httpEnv := golden(t, "http_trigger.json")
	errBoom := errors.New("storage unavailable")
	tests := []struct {
		name       string
		fn         handlers.HandlerFunc
		opts       []handlers.FunctionOption
		envelope   []byte
		wantStatus int
		wantLog    string // in the failure body's Logs
		wantHTTP   int    // status inside the HTTP output, for a 200
		wantOutput string // name of the HTTP output
	}{
		{
			name:       "error fails the invocation",
			fn:         func(context.Context, *handlers.Invocation) (*handlers.Response, error) { return nil, errBoom },
			envelope:   queueEnv,
			wantStatus: http.StatusInternalServerError,
			wantLog:    "storage unavailable",
		},
		{
			name: "wrapped error with a response still fails",
			fn: func(context.Context, *handlers.Invocation) (*handlers.Response, error) {
				r := handlers.NewResponse()
				r.AddQueue("out", "{}")
				return r, fmt.Errorf("merge: %w", errBoom)
			},
			envelope:   queueEnv,
			wantStatus: http.StatusInternalServerError,
			wantLog:    "merge: storage unavailable",
		},
		{
			name: "HTTPError from a queue trigger is a failure",
			fn: func(context.Context, *handlers.Invocation) (*handlers.Response, error) {
				return nil, handlers.BadRequest("no such job")
			},
			envelope:   queueEnv,
			wantStatus: http.StatusInternalServerError,
			wantLog:    "http 400: no such job",
		},
		{
			name: "HTTPError from an HTTP trigger answers the caller",
			fn: func(context.Context, *handlers.Invocation) (*handlers.Response, error) {
				return nil, &handlers.HTTPError{Status: http.StatusNotFound, Message: "no such job"}
			},
			envelope:   httpEnv,
			wantStatus: http.StatusOK,
			wantHTTP:   http.StatusNotFound,
			wantOutput: "res",
		},
		{
			name: "wrapped HTTPError, custom output name",
			fn: func(context.Context, *handlers.Invocation) (*handlers.Response, error) {
				return nil, fmt.Errorf("submit: %w", handlers.BadRequest("bad"))
			},
			opts:       []handlers.FunctionOption{handlers.HTTPOutput("response")},
			envelope:   httpEnv,
			wantStatus: http.StatusOK,
			wantHTTP:   http.StatusBadRequest,
			wantOutput: "response",
		},
		{
			name: "HTTPOutput marks a function HTTP-triggered whatever its Data",
			fn: func(context.Context, *handlers.Invocation) (*handlers.Response, error) {
				return nil, &handlers.HTTPError{Status: http.StatusConflict, Message: "exists"}
			},
			opts:       []handlers.FunctionOption{handlers.HTTPOutput("res")},
			envelope:   []byte(`{"Data":{},"Metadata":{}}`),
			wantStatus: http.StatusOK,
			wantHTTP:   http.StatusConflict,
			wantOutput: "res",
		},
		{
			name: "panic is recovered",
			fn: func(context.Context, *handlers.Invocation) (*handlers.Response, error) {
				var m map[string]int
				m["x"]++ // assignment to a nil map
				return nil, nil
			},
			envelope:   queueEnv,
			wantStatus: http.StatusInternalServerError,
			wantLog:    "panic: assignment to entry in nil map",
		},
		{
			name: "unencodable output fails the invocation",
			fn: func(context.Context, *handlers.Invocation) (*handlers.Response, error) {
				r := handlers.NewResponse()
				r.SetOutput("out", func() {})
				return r, nil
			},
			envelope:   queueEnv,
			wantStatus: http.StatusInternalServerError,
			wantLog:    "cannot encode response",
		},
		{
			name:       "nil response is an empty one",
			fn:         func(context.Context, *handlers.Invocation) (*handlers.Response, error) { return nil, nil },
			envelope:   queueEnv,
			wantStatus: http.StatusOK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, _ := newTestApp(t, nil)
			app.Handle("F", tt.fn, tt.opts...)
			rec := post(t, app, "F", tt.envelope, "inv-1")
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			switch {
			case tt.wantStatus != http.StatusOK:
				r := failureBody(t, rec)
				assert.Contains(t, r.Logs[0], tt.wantLog)
			case tt.wantOutput != "":
				var r struct {
					Outputs map[string]struct {
						StatusCode int               `json:"statusCode"`
						Headers    map[string]string `json:"headers"`
						Body       string            `json:"body"`
					}
				}
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r))
				out, ok := r.Outputs[tt.wantOutput]
				require.True(t, ok, "no output %q in %s", tt.wantOutput, rec.Body.String())
				assert.Equal(t, tt.wantHTTP, out.StatusCode)
				assert.Equal(t, "application/json", out.Headers["Content-Type"])
				var body map[string]string
				require.NoError(t, json.Unmarshal([]byte(out.Body), &body))
				assert.NotEmpty(t, body["error"])
			default:
				assert.JSONEq(t, `{"Outputs":{},"Logs":[],"ReturnValue":null}`, rec.Body.String())
			}
		})
	}
}

func TestMalformedEnvelope(t *testing.T) {
	tests := []struct{ name, body string }{
		{"empty", ""},
		{"not JSON", "hello"},
		{"array", `[{"Data":{}}]`},
		{"truncated", `{"Data":{"msg":"x"`},
		{"Data not an object", `{"Data":"x","Metadata":{}}`},
		{"Metadata not an object", `{"Data":{},"Metadata":[1]}`},
		{"trailing data", `{"Data":{}} {"Data":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			app, _ := newTestApp(t, nil)
			app.Handle("F", func(context.Context, *handlers.Invocation) (*handlers.Response, error) {
				called = true
				return nil, nil
			})
			rec := post(t, app, "F", []byte(tt.body), "x")
			assert.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
			assert.False(t, called, "function called with a malformed envelope")
			failureBody(t, rec)
		})
	}
}

func TestRoutes(t *testing.T) {
	app, _ := newTestApp(t, nil)
	app.Handle("Work", func(context.Context, *handlers.Invocation) (*handlers.Response, error) { return nil, nil })
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/", http.StatusOK}, // the host's readiness ping
		{http.MethodHead, "/", http.StatusOK},
		{http.MethodGet, "/healthz", http.StatusOK},
		{http.MethodPost, "/Work", http.StatusOK},
		{http.MethodGet, "/Work", http.StatusMethodNotAllowed},
		{http.MethodPost, "/work", http.StatusNotFound}, // names are case-sensitive
		{http.MethodPost, "/Other", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(`{"Data":{},"Metadata":{}}`))
			rec := httptest.NewRecorder()
			app.ServeHTTP(rec, req)
			assert.Equal(t, tt.want, rec.Code)
		})
	}
}

func TestHandlePanicsOnBadRegistration(t *testing.T) {
	app, _ := newTestApp(t, nil)
	f := func(context.Context, *handlers.Invocation) (*handlers.Response, error) { return nil, nil }
	app.Handle("A", f)
	assert.Panics(t, func() { app.Handle("A", f) })
	assert.Panics(t, func() { app.Handle("", f) })
	assert.Panics(t, func() { app.Handle("a/b", f) })
}

func TestEveryLogLineCarriesTheInvocationID(t *testing.T) {
	app, logs := newTestApp(t, nil)
	app.Handle("F", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		inv.Log.Info("from the invocation logger")
		handlers.Logger(ctx).Info("from the context logger")
		msg, err := inv.QueueMessage("msg")
		if err != nil {
			return nil, err
		}
		if msg == "panic" {
			panic("asked to")
		}
		return nil, errors.New("fails")
	})
	post(t, app, "F", []byte(`{"Data":{"msg":"\"x\""}}`), "inv-A")
	post(t, app, "F", []byte(`{"Data":{"msg":"\"panic\""}}`), "inv-B")
	post(t, app, "F", []byte(`not json`), "inv-C")

	lines := logs.records(t)
	ids := map[string]int{}
	for _, l := range lines {
		id, _ := l["invocation_id"].(string)
		require.NotEmpty(t, id, "log line without invocation_id: %v", l)
		assert.Equal(t, "F", l["function"])
		assert.Equal(t, "test", l["app"])
		ids[id]++
	}
	// A: 2 own lines + failure + done; B: 2 + panic + done; C: malformed + done.
	assert.Equal(t, map[string]int{"inv-A": 4, "inv-B": 4, "inv-C": 2}, ids)
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	app, _ := newTestApp(t, reg)
	started, release := make(chan struct{}), make(chan struct{})
	app.Handle("Work", func(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
		msg, err := inv.QueueMessage("msg")
		if err != nil {
			return nil, err
		}
		switch msg {
		case "fail":
			return nil, errors.New("failed")
		case "panic":
			panic("boom")
		case "block":
			close(started)
			<-release
		}
		return nil, nil
	})
	app.Handle("Jobs", func(context.Context, *handlers.Invocation) (*handlers.Response, error) {
		return nil, handlers.BadRequest("no")
	})
	send := func(fn, msg string) {
		post(t, app, fn, []byte(fmt.Sprintf(`{"Data":{"msg":%q}}`, fmt.Sprintf("%q", msg))), "m")
	}
	for _, m := range []string{"ok", "ok", "fail", "panic"} {
		send("Work", m)
	}
	post(t, app, "Work", []byte("{"), "m")
	post(t, app, "Jobs", golden(t, "http_trigger.json"), "m")

	done := make(chan struct{})
	go func() { defer close(done); send("Work", "block") }()
	<-started
	inFlight := `
# HELP funnel_handler_invocations_in_flight Invocations being run, by function.
# TYPE funnel_handler_invocations_in_flight gauge
funnel_handler_invocations_in_flight{app="test",function="Jobs"} 0
funnel_handler_invocations_in_flight{app="test",function="Work"} %d
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(inFlight, 1)), handlers.MetricInFlight))
	close(release)
	<-done
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(inFlight, 0)), handlers.MetricInFlight))

	want := `
# HELP funnel_handler_invocations_total Invocations answered, by function and outcome (ok, http_error, error, panic, bad_request).
# TYPE funnel_handler_invocations_total counter
funnel_handler_invocations_total{app="test",function="Jobs",outcome="http_error"} 1
funnel_handler_invocations_total{app="test",function="Work",outcome="bad_request"} 1
funnel_handler_invocations_total{app="test",function="Work",outcome="error"} 1
funnel_handler_invocations_total{app="test",function="Work",outcome="ok"} 3
funnel_handler_invocations_total{app="test",function="Work",outcome="panic"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), handlers.MetricInvocations))

	mfs, err := reg.Gather()
	require.NoError(t, err)
	counts := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != handlers.MetricDuration {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "function" {
					counts[l.GetValue()] = m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	assert.Equal(t, map[string]uint64{"Work": 6, "Jobs": 1}, counts)
}

func TestAppsSharingARegistryShareMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := func(context.Context, *handlers.Invocation) (*handlers.Response, error) { return nil, nil }
	for range 2 {
		app, _ := newTestApp(t, reg) // a second registration must not panic
		app.Handle("F", f)
		post(t, app, "F", []byte(`{}`), "x")
	}
	assert.Equal(t, 2.0, testutil.ToFloat64(counter(t, reg, "F", "ok")))
}

// counter returns a collector reading one series of the invocations counter.
func counter(t *testing.T, reg *prometheus.Registry, function, outcome string) prometheus.Collector {
	t.Helper()
	// The registry rejects a second, equal counter and hands back the first:
	// registering an equal one is how to get hold of it.
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        handlers.MetricInvocations,
		Help:        "Invocations answered, by function and outcome (ok, http_error, error, panic, bad_request).",
		ConstLabels: prometheus.Labels{"app": "test"},
	}, []string{"function", "outcome"})
	var are prometheus.AlreadyRegisteredError
	require.ErrorAs(t, reg.Register(c), &are)
	return are.ExistingCollector.(*prometheus.CounterVec).WithLabelValues(function, outcome)
}

func TestHandleHTTPForwarding(t *testing.T) {
	reg := prometheus.NewRegistry()
	app, logs := newTestApp(t, reg)
	app.HandleHTTP("Status", "/api/jobs/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Logger(r.Context()).Info("status asked")
		switch id := r.PathValue("id"); id {
		case "panic":
			panic("boom")
		case "missing":
			http.Error(w, "no such job", http.StatusNotFound)
		default:
			fmt.Fprintf(w, `{"id":%q}`, strings.TrimPrefix(r.URL.Path, "/api/jobs/"))
		}
	}))
	get := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("X-Azure-Functions-InvocationId", "fwd")
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, req)
		return rec
	}
	rec := get("/api/jobs/job42")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, `{"id":"job42"}`, rec.Body.String())
	assert.Equal(t, http.StatusNotFound, get("/api/jobs/missing").Code)
	assert.Equal(t, http.StatusInternalServerError, get("/api/jobs/panic").Code)

	want := `
# HELP funnel_handler_invocations_total Invocations answered, by function and outcome (ok, http_error, error, panic, bad_request).
# TYPE funnel_handler_invocations_total counter
funnel_handler_invocations_total{app="test",function="Status",outcome="http_error"} 1
funnel_handler_invocations_total{app="test",function="Status",outcome="ok"} 1
funnel_handler_invocations_total{app="test",function="Status",outcome="panic"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), handlers.MetricInvocations))
	for _, l := range logs.records(t) {
		assert.Equal(t, "fwd", l["invocation_id"], "%v", l)
	}
}

// logBuffer collects JSON log lines; safe for concurrent use.
type logBuffer struct{ syncio.Buffer }

func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		out = append(out, m)
	}
	require.NoError(t, sc.Err())
	return out
}
