package funchost

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/handlers/handlertest"
)

// Fidelity tests run the handlers test app (handlers/handlertest/testapp)
// or this test binary as a capture handler under the host, against
// Azurite. They synchronise on what can be observed (records, queue and
// blob contents) with generous bounds, and assert nothing about timing.

const waitLong = 60 * time.Second

func TestHTTPTriggerRouteAndMethods(t *testing.T) {
	env := newTestEnv(t)
	dir := basicApp(t)
	rec := filepath.Join(t.TempDir(), "app.jsonl")
	s := env.settings()
	s[handlertest.EnvRecord] = rec
	r := startHost(t, Config{AppDir: dir, Settings: s})
	base := r.h.HTTPURL() + "/api/echo/"

	resp, err := http.Post(base+"abc/more?x=1&x=2&y=z", "text/plain", strings.NewReader("hello body"))
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var echo struct {
		Method  string              `json:"method"`
		URL     string              `json:"url"`
		Query   map[string]string   `json:"query"`
		Params  map[string]string   `json:"params"`
		Headers map[string][]string `json:"headers"`
		Body    string              `json:"body"`
		ID      string              `json:"invocation_id"`
	}
	require.NoError(t, json.Unmarshal(b, &echo), string(b))
	assert.Equal(t, "POST", echo.Method)
	assert.Equal(t, map[string]string{"id": "abc", "tail": "more"}, echo.Params)
	assert.Equal(t, map[string]string{"x": "1,2", "y": "z"}, echo.Query, "repeated parameters are joined with commas")
	assert.Equal(t, "hello body", echo.Body)
	assert.True(t, strings.HasSuffix(echo.URL, "/api/echo/abc/more?x=1&x=2&y=z"), echo.URL)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, echo.ID)
	assert.Equal(t, []string{"text/plain"}, echo.Headers["Content-Type"])

	// The optional parameter may be left out.
	resp, err = http.Get(base + "xyz")
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	require.NoError(t, json.Unmarshal(b, &echo))
	assert.Equal(t, "xyz", echo.Params["id"])

	for _, c := range []struct {
		method, url string
		want        int
	}{
		{http.MethodGet, base + "123", http.StatusNotFound},    // {id:alpha}
		{http.MethodDelete, base + "abc", http.StatusNotFound}, // methods are a route constraint
		{http.MethodGet, base + "abc?status=418", 418},         // the handler's own status
		{http.MethodGet, r.h.HTTPURL() + "/api/nothing", 404},  // no route
		{http.MethodGet, r.h.HTTPURL() + "/echo/abc", 404},     // missing prefix
		{http.MethodGet, r.h.HTTPURL() + "/api/ECHO/abc", 200}, // literals ignore case
	} {
		req, err := http.NewRequest(c.method, c.url, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, c.want, resp.StatusCode, "%s %s", c.method, c.url)
	}
	recs := r.h.Records()
	require.NotEmpty(t, recs)
	for _, rc := range recs {
		assert.Equal(t, "Echo", rc.Function)
		assert.Equal(t, "httpTrigger", rc.Trigger)
	}
}

func TestQueueMessageDeliveredAsSent(t *testing.T) {
	env := newTestEnv(t)
	dir, capFile, s := captureApp(t, nil)
	for k, v := range env.settings() {
		s[k] = v
	}
	r := startHost(t, Config{AppDir: dir, Settings: s})

	const text = `{"id":"m1","n":2,"note":"<&> é \"q\""}`
	env.send(env.capture, text)
	var got []capturedRequest
	eventually(t, waitLong, func() bool {
		got = readCaptured(t, capFile)
		return len(got) >= 1
	}, "the capture handler receiving the message")
	c := got[0]
	assert.Equal(t, "/Q", c.Path)
	assert.Equal(t, http.MethodPost, c.Method)
	assert.Equal(t, []string{HostVersion}, c.Headers["X-Azure-Functions-Hostversion"])
	assert.Regexp(t, `^[0-9a-f-]{36}$`, c.Headers["X-Azure-Functions-Invocationid"][0])
	assert.Equal(t, "Azure-Functions-Host/"+HostVersion, c.Headers["User-Agent"][0])

	var env2 struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
	require.NoError(t, json.Unmarshal(c.Body, &env2))
	// Data.item is SerializeObject(text): a JSON string holding a JSON string.
	var once, twice string
	require.NoError(t, json.Unmarshal(env2.Data["item"], &once))
	require.NoError(t, json.Unmarshal([]byte(once), &twice))
	assert.Equal(t, text, twice)
	assert.Equal(t, `"null"`, string(env2.Data["ref"]), "a missing input blob is null, serialised to the string \"null\"")

	// Metadata: scalars quoted once more, times as ISO strings, sys.
	meta := env2.Metadata
	assert.Equal(t, `"1"`, string(meta["DequeueCount"]))
	// The message's own "id" property replaces Id: binding data keys are
	// case-insensitive and a JSON message's properties are applied last
	// (Utility.ApplyBindingData) — a trap for handlers reading Metadata.Id.
	assert.Equal(t, `"\"m1\""`, string(meta["Id"]))
	var pop string
	require.NoError(t, json.Unmarshal(meta["PopReceipt"], &pop))
	assert.True(t, strings.HasPrefix(pop, `"`) && strings.HasSuffix(pop, `"`), pop)
	for _, k := range []string{"ExpirationTime", "InsertionTime", "NextVisibleTime"} {
		var ts string
		require.NoError(t, json.Unmarshal(meta[k], &ts), k)
		assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$`, ts, k)
	}
	assert.NotContains(t, meta, "QueueTrigger", "keys ending in Trigger are left out")
	var sys struct{ MethodName, UtcNow, RandGuid string }
	require.NoError(t, json.Unmarshal(meta["sys"], &sys))
	assert.Equal(t, "Q", sys.MethodName)
	assert.Regexp(t, `Z$`, sys.UtcNow)
	assert.Regexp(t, `^[0-9a-f-]{36}$`, sys.RandGuid)
	// JSON message properties join the binding data as strings, which the
	// host then serialises again.
	assert.Equal(t, `"\"2\""`, string(meta["n"]))
	r.stop(t)
}

func TestQueueRetriesThenPoison(t *testing.T) {
	env := newTestEnv(t)
	dir := basicApp(t)
	rec := filepath.Join(t.TempDir(), "app.jsonl")
	s := env.settings()
	s[handlertest.EnvRecord] = rec
	r := startHost(t, Config{AppDir: dir, Settings: s})

	env.send(env.work, "fail")
	env.send(env.work, "fine")
	// A message that is not base64 cannot be decoded: the extension moves
	// it to the poison queue at once, as it is, without an invocation.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, env.acct.Enqueue(ctx, env.work, "plain text, not base64!", 0))
	want := base64.StdEncoding.EncodeToString([]byte("fail"))
	eventually(t, waitLong, func() bool {
		m := env.messages(env.work + "-poison")
		return len(m) == 2
	}, "two messages in %s-poison", env.work)
	assert.ElementsMatch(t, []string{want, "plain text, not base64!"}, env.messages(env.work+"-poison"))
	recs := appRecords(t, rec)
	// maxDequeueCount is 3: three tries, DequeueCount 1, 2, 3.
	var counts []int64
	for _, rc := range recs {
		if rc.Function == "Work" && rc.Event == handlertest.EventFail {
			counts = append(counts, rc.DequeueCount)
		}
	}
	assert.Equal(t, []int64{1, 2, 3}, counts)
	assert.Equal(t, 1, countRecords(recs, "Work", handlertest.EventOK, "fine"))
	assert.Len(t, recs, 3*2+2, "no invocation for the undecodable message")
	eventually(t, waitLong, func() bool { return env.approxCount(env.work) == 0 }, "the work queue to empty")

	// The successful message's outputs: a queue message (base64, as the
	// queue extension writes) and a blob named after the message Id.
	eventually(t, waitLong, func() bool { return len(env.messages(env.out)) == 1 }, "the queue output")
	out, err := base64.StdEncoding.DecodeString(env.messages(env.out)[0])
	require.NoError(t, err)
	assert.Equal(t, "done:fine", string(out))
	var names []string
	eventually(t, waitLong, func() bool { names = env.blobNames(env.outCont); return len(names) == 1 }, "the blob output")
	assert.Regexp(t, `^work/[0-9a-f-]{36}\.txt$`, names[0])
	b, err := env.download(env.outCont, names[0])
	require.NoError(t, err)
	assert.Equal(t, "fine", string(b))

	sum := r.h.Summary()
	assert.Equal(t, 2, sum.Poisoned[env.work])
	assert.Equal(t, 3, sum.Functions["Work"].Failures)
	assert.Equal(t, 1, sum.Functions["Work"].Successes)
}

func TestBlobProcessedOncePerVersion(t *testing.T) {
	env := newTestEnv(t)
	dir := basicApp(t)
	rec := filepath.Join(t.TempDir(), "app.jsonl")
	s := env.settings()
	s[handlertest.EnvRecord] = rec
	startHost(t, Config{AppDir: dir, Settings: s, Instances: 2})

	okFor := func(name string) int { return countRecords(appRecords(t, rec), "OnBlob", handlertest.EventOK, name) }
	env.upload(env.blobs, "in/a.bin", []byte("version one"))
	eventually(t, waitLong, func() bool { return okFor("a.bin") == 1 }, "a.bin processed")
	// Blobs outside the path's prefix never fire.
	env.upload(env.blobs, "other/x.bin", []byte("not mine"))
	// A later blob being processed shows the scanner has gone past a.bin
	// several times since.
	for _, n := range []string{"b.bin", "c.bin"} {
		env.upload(env.blobs, "in/"+n, []byte(n))
		eventually(t, waitLong, func() bool { return okFor(n) == 1 }, "%s processed", n)
	}
	assert.Equal(t, 1, okFor("a.bin"), "an unchanged blob fires once, with two instances")

	env.upload(env.blobs, "in/a.bin", []byte("version two, longer"))
	eventually(t, waitLong, func() bool { return okFor("a.bin") == 2 }, "the new version of a.bin processed")
	env.upload(env.blobs, "in/d.bin", []byte("d"))
	eventually(t, waitLong, func() bool { return okFor("d.bin") == 1 }, "d.bin processed")
	recs := appRecords(t, rec)
	assert.Equal(t, 2, countRecords(recs, "OnBlob", handlertest.EventOK, "a.bin"))
	assert.Equal(t, 0, countRecords(recs, "OnBlob", handlertest.EventStart, "x.bin"))
	var sizes []int
	for _, rc := range recs {
		if rc.Message == "a.bin" && rc.Event == handlertest.EventOK {
			sizes = append(sizes, rc.Size)
		}
	}
	assert.Equal(t, []int{len("version one"), len("version two, longer")}, sizes)
}

func TestBlobFailuresGoToPoisonQueue(t *testing.T) {
	env := newTestEnv(t)
	dir := basicApp(t)
	rec := filepath.Join(t.TempDir(), "app.jsonl")
	s := env.settings()
	s[handlertest.EnvRecord] = rec
	r := startHost(t, Config{AppDir: dir, Settings: s})

	env.upload(env.blobs, "in/bad.bin", []byte("fail"))
	var msg blobTriggerMessage
	eventually(t, waitLong, func() bool {
		for _, m := range env.messages(blobTriggerPoison) {
			b, err := base64.StdEncoding.DecodeString(m)
			if err != nil || json.Unmarshal(b, &msg) != nil {
				continue
			}
			if msg.ContainerName == env.blobs && msg.BlobName == "in/bad.bin" {
				return true
			}
		}
		return false
	}, "bad.bin in %s", blobTriggerPoison)
	assert.Equal(t, "BlobTrigger", msg.Type)
	assert.Equal(t, "Host.Functions.OnBlob", msg.FunctionID)
	assert.Equal(t, "BlockBlob", msg.BlobType)
	assert.True(t, strings.HasPrefix(msg.ETag, `"`), msg.ETag)
	// poisonBlobThreshold is 3.
	assert.Equal(t, 3, countRecords(appRecords(t, rec), "OnBlob", handlertest.EventFail, "bad.bin"))
	assert.Equal(t, 1, r.h.Summary().Poisoned[r.h.blobQueue])
}

func TestBatchSizeAndInstancesBoundConcurrency(t *testing.T) {
	env := newTestEnv(t)
	dir := basicApp(t)
	setQueues(t, dir, map[string]any{"batchSize": 1, "newBatchThreshold": 0})
	rec := filepath.Join(t.TempDir(), "app.jsonl")
	s := env.settings()
	s[handlertest.EnvRecord] = rec
	startHost(t, Config{AppDir: dir, Settings: s, Instances: 2})

	const n = 8
	for i := 0; i < n; i++ {
		env.send(env.work, "sleep:200")
	}
	eventually(t, 2*waitLong, func() bool {
		return countRecords(appRecords(t, rec), "Work", handlertest.EventOK, "") == n
	}, "%d messages processed", n)
	// Replay the record file (appended in order by every process): at most
	// batchSize+newBatchThreshold = 1 invocation per instance at a time.
	running, most := 0, 0
	perPID := map[int]int{}
	for _, rc := range appRecords(t, rec) {
		switch rc.Event {
		case handlertest.EventStart:
			running++
			perPID[rc.PID]++
			assert.LessOrEqual(t, perPID[rc.PID], 1, "one message at a time per instance")
		case handlertest.EventOK:
			running--
			perPID[rc.PID]--
		}
		most = max(most, running)
	}
	assert.LessOrEqual(t, most, 2)
	assert.GreaterOrEqual(t, most, 1)
}

func TestHandlerCrashRestartsAndRedelivers(t *testing.T) {
	env := newTestEnv(t)
	dir, capFile, s := captureApp(t, nil)
	for k, v := range env.settings() {
		s[k] = v
	}
	r := startHost(t, Config{AppDir: dir, Settings: s})
	before := r.h.Processes()
	require.Len(t, before, 1)

	env.send(env.capture, "crash-first")
	eventually(t, waitLong, func() bool {
		for _, rc := range r.h.Records() {
			if rc.Outcome == OutcomeSuccess && rc.DequeueCount == 2 {
				return true
			}
		}
		return false
	}, "the message processed on its second delivery")
	recs := r.h.Records()
	require.GreaterOrEqual(t, len(recs), 2)
	assert.Equal(t, OutcomeFailure, recs[0].Outcome, "the invocation in flight when the handler died fails")
	assert.Equal(t, int64(1), recs[0].DequeueCount)
	sum := r.h.Summary()
	assert.Equal(t, 1, sum.Instances[0].Restarts)
	assert.Equal(t, 2, sum.Instances[0].Processes)
	assert.Len(t, readCaptured(t, capFile), 2)
	after := r.h.Processes()
	require.Len(t, after, 1)
	assert.NotEqual(t, before[0].PID, after[0].PID, "Processes shows the restarted handler")
	eventually(t, waitLong, func() bool { return env.approxCount(env.capture) == 0 }, "the queue to empty")
}

// TestProcessesAndInstanceSettings checks the process API tools measure
// handlers with: every instance's process, its PID and port, and the
// settings given to that instance alone, which reach its environment.
func TestProcessesAndInstanceSettings(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/<pid>/environ")
	}
	env := newTestEnv(t)
	dir, _, s := captureApp(t, nil)
	for k, v := range env.settings() {
		s[k] = v
	}
	r := startHost(t, Config{AppDir: dir, Settings: s, Instances: 2, InstanceSettings: func(i int) map[string]string {
		return map[string]string{"FUNNEL_TEST_INSTANCE": strconv.Itoa(i)}
	}})
	ps := r.h.Processes()
	require.Len(t, ps, 2)
	for i, p := range ps {
		assert.Equal(t, i, p.Instance)
		assert.Equal(t, map[string]string{"FUNNEL_TEST_INSTANCE": strconv.Itoa(i)}, p.Settings)
		assert.NotZero(t, p.Port)
		environ, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.PID), "environ"))
		require.NoError(t, err)
		assert.Contains(t, strings.Split(string(environ), "\x00"), "FUNNEL_TEST_INSTANCE="+strconv.Itoa(i))
	}
	assert.NotEqual(t, ps[0].PID, ps[1].PID)
	l := r.h.InstanceLimits()
	assert.Equal(t, 16, l.QueueBatchSize, "the test app keeps the default batch size")
}

func TestShutdownDrainsInFlightWork(t *testing.T) {
	env := newTestEnv(t)
	dir := basicApp(t)
	rec := filepath.Join(t.TempDir(), "app.jsonl")
	s := env.settings()
	s[handlertest.EnvRecord] = rec
	r := startHost(t, Config{AppDir: dir, Settings: s})

	env.send(env.work, "sleep:1500")
	eventually(t, waitLong, func() bool {
		return countRecords(appRecords(t, rec), "Work", handlertest.EventStart, "sleep:1500") == 1
	}, "the slow invocation to start")
	r.stop(t) // returns once Run has returned
	recs := appRecords(t, rec)
	assert.Equal(t, 1, countRecords(recs, "Work", handlertest.EventOK, "sleep:1500"), "the invocation in flight finished")
	hrecs := r.h.Records()
	require.Len(t, hrecs, 1)
	assert.Equal(t, OutcomeSuccess, hrecs[0].Outcome)
	assert.Equal(t, int32(0), env.approxCount(env.work), "the drained message was deleted")
}

func TestFunctionTimeoutFailsRetriesAndRestarts(t *testing.T) {
	env := newTestEnv(t)
	dir := basicApp(t)
	editJSON(t, filepath.Join(dir, "host.json"), func(m map[string]any) { m["functionTimeout"] = "00:00:01" })
	setQueues(t, dir, map[string]any{"maxDequeueCount": 2})
	rec := filepath.Join(t.TempDir(), "app.jsonl")
	s := env.settings()
	s[handlertest.EnvRecord] = rec
	r := startHost(t, Config{AppDir: dir, Settings: s})

	env.send(env.work, "sleep:30000")
	want := base64.StdEncoding.EncodeToString([]byte("sleep:30000"))
	eventually(t, 2*waitLong, func() bool {
		m := env.messages(env.work + "-poison")
		return len(m) == 1 && m[0] == want
	}, "the timed-out message in the poison queue after 2 tries")
	var outcomes []string
	for _, rc := range r.h.Records() {
		outcomes = append(outcomes, rc.Outcome)
	}
	assert.Equal(t, []string{OutcomeTimeout, OutcomeTimeout}, outcomes)
	starts := 0
	for _, rc := range appRecords(t, rec) {
		if rc.Event == handlertest.EventStart && rc.Function == "Work" {
			starts++
			assert.Equal(t, int64(starts), rc.DequeueCount)
		}
	}
	assert.Equal(t, 2, starts)
	// The retry reaches the same handler before the 2 s grace period ends,
	// so one restart ends both, as in the real host.
	eventually(t, waitLong, func() bool { return r.h.Summary().Instances[0].Restarts >= 1 }, "the handler restarted after the timeout")
}

func TestBlobTriggerScanDeliversBlobAndMetadata(t *testing.T) {
	env := newTestEnv(t)
	dir, capFile, s := captureApp(t, nil)
	for k, v := range env.settings() {
		s[k] = v
	}
	// The container scan source lists every 10 s; a blob present at start
	// is found by the first scan.
	env.upload(env.blobs, "2026/data.csv", []byte("a|b\n1|2\n"))
	env.upload(env.blobs, "2026/skip.txt", []byte("not a csv"))
	startHost(t, Config{AppDir: dir, Settings: s})

	var c capturedRequest
	eventually(t, waitLong, func() bool {
		for _, r := range readCaptured(t, capFile) {
			if r.Path == "/Blobs" {
				c = r
				return true
			}
		}
		return false
	}, "the blob trigger invocation")
	var inv struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
	require.NoError(t, json.Unmarshal(c.Body, &inv))
	var once, twice string
	require.NoError(t, json.Unmarshal(inv.Data["data"], &once))
	require.NoError(t, json.Unmarshal([]byte(once), &twice))
	assert.Equal(t, "a|b\n1|2\n", twice, "a blob without dataType arrives as a doubly encoded string")
	assert.Equal(t, `"\"2026/data\""`, string(inv.Metadata["name"]))
	var uri string
	require.NoError(t, json.Unmarshal(inv.Metadata["Uri"], &uri))
	assert.True(t, strings.HasSuffix(uri, "/"+env.blobs+"/2026/data.csv\""), uri)
	var props struct {
		ContentLength int64
		ETag          string
		BlobType      string
	}
	require.NoError(t, json.Unmarshal(inv.Metadata["Properties"], &props))
	assert.Equal(t, int64(8), props.ContentLength)
	assert.Equal(t, "Block", props.BlobType)
	assert.Equal(t, "{}", string(inv.Metadata["Metadata"]))
	assert.NotContains(t, inv.Metadata, "BlobTrigger")
	for _, r := range readCaptured(t, capFile) {
		assert.NotContains(t, string(r.Body), "skip.txt")
	}
}

func TestOutputBindingsAndReturnValue(t *testing.T) {
	env := newTestEnv(t)
	dir, capFile, s := captureApp(t, map[string]any{
		"Q": map[string]any{
			"Outputs": map[string]any{
				"many": []string{"aGVsbG8=", `{"k":1}`},
				"text": "aGVsbG8=", // valid base64: decoded for a non-binary output
				"raw":  "aGVsbG8=", // a binary output writes the string as it is
			},
			"Logs":        []string{"queue log line"},
			"ReturnValue": nil,
		},
		"H": map[string]any{
			"Outputs":     map[string]any{},
			"ReturnValue": map[string]any{"statusCode": 201, "headers": map[string]any{"X-Job": "yes"}, "body": "created"},
		},
	})
	for k, v := range env.settings() {
		s[k] = v
	}
	reg := prometheus.NewRegistry()
	recFile := filepath.Join(t.TempDir(), "records.jsonl")
	r := startHost(t, Config{AppDir: dir, Settings: s, Registerer: reg, RecordsPath: recFile})

	env.upload(env.outCont, "ref-j1", []byte("reference"))
	env.send(env.capture, `{"id":"j1"}`)
	// An invocation is recorded once its outputs are written.
	eventually(t, waitLong, func() bool { return len(r.h.Records()) == 1 }, "the queue-triggered invocation")
	require.Equal(t, OutcomeSuccess, r.h.Records()[0].Outcome, r.h.Records()[0].Error)
	var got []string
	for _, m := range env.messages(env.out) {
		b, err := base64.StdEncoding.DecodeString(m)
		require.NoError(t, err)
		got = append(got, string(b))
	}
	assert.ElementsMatch(t, []string{"aGVsbG8=", `{"k":1}`}, got, "array elements are messages as they are")
	text, err := env.download(env.outCont, "j1-text")
	require.NoError(t, err)
	assert.Equal(t, "hello", string(text))
	raw, err := env.download(env.outCont, "j1-raw")
	require.NoError(t, err)
	assert.Equal(t, "aGVsbG8=", string(raw))

	var inv struct{ Data map[string]json.RawMessage }
	require.NoError(t, json.Unmarshal(readCaptured(t, capFile)[0].Body, &inv))
	assert.Equal(t, `"\"reference\""`, string(inv.Data["ref"]), "a blob input arrives like a string trigger")

	req, err := http.NewRequest(http.MethodPost, r.h.HTTPURL()+"/api/jobs/42", strings.NewReader(`{"x":1}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, "created", string(body))
	assert.Equal(t, "yes", resp.Header.Get("X-Job"))
	resp, err = http.Get(r.h.HTTPURL() + "/api/jobs/42")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "GET is not among the methods")

	hreq := readCaptured(t, capFile)[1]
	var hinv struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
	require.NoError(t, json.Unmarshal(hreq.Body, &hinv))
	var reqData struct {
		Method, Url, Body string
		Params            map[string]string
		Headers           map[string][]string
		Identities        []map[string]any
	}
	require.NoError(t, json.Unmarshal(hinv.Data["req"], &reqData))
	assert.Equal(t, "POST", reqData.Method)
	assert.Equal(t, `{"x":1}`, reqData.Body)
	assert.Equal(t, map[string]string{"id": "42"}, reqData.Params)
	assert.Equal(t, []string{"7"}, reqData.Headers["Content-Length"])
	require.Len(t, reqData.Identities, 1)
	assert.Equal(t, `"\"42\""`, string(hinv.Metadata["id"]), "route parameters are binding data")
	assert.Equal(t, `"\"1\""`, string(hinv.Metadata["x"]), "so are a JSON body's properties")

	r.stop(t)
	// Metrics and the records file.
	assert.Equal(t, 1.0, testutil.ToFloat64(r.h.metrics.invocations.WithLabelValues("Q", OutcomeSuccess)))
	assert.Equal(t, 1.0, testutil.ToFloat64(r.h.metrics.invocations.WithLabelValues("H", OutcomeSuccess)))
	n, err := testutil.GatherAndCount(reg, "funchost_invocations_total", "funchost_queue_polls_total", "funchost_instance_peak_rss_bytes")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 4)
	lines, err := os.ReadFile(recFile)
	require.NoError(t, err)
	var recs []Record
	for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		var rc Record
		require.NoError(t, json.Unmarshal([]byte(l), &rc))
		recs = append(recs, rc)
	}
	assert.Equal(t, r.h.Records(), recs)
	sum := r.h.Summary()
	assert.Equal(t, 2, sum.Billing.Executions)
	assert.Greater(t, sum.Instances[0].PeakRSSBytes, int64(0))
	assert.Greater(t, sum.Billing.ConsumptionGBSeconds, 0.0)
	assert.Greater(t, sum.Billing.FlexGBSeconds, 0.0)
}

func TestForwardedHTTPRequest(t *testing.T) {
	env := newTestEnv(t)
	dir, capFile, s := captureApp(t, map[string]any{"api/jobs/9": map[string]any{"raw": "reply"}})
	editJSON(t, filepath.Join(dir, "host.json"), func(m map[string]any) {
		m["customHandler"].(map[string]any)["enableForwardingHttpRequest"] = true
	})
	for k, v := range env.settings() {
		s[k] = v
	}
	r := startHost(t, Config{AppDir: dir, Settings: s})
	resp, err := http.Post(r.h.HTTPURL()+"/api/jobs/9?a=1&a=2", "text/plain", strings.NewReader("raw body"))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"raw": "reply"}`, string(body), "the handler's raw answer comes back")
	c := readCaptured(t, capFile)
	require.Len(t, c, 1)
	assert.Equal(t, "/api/jobs/9?a=1%2C2", c[0].Path, "forwarded to the original path, query values joined")
	assert.Equal(t, `"raw body"`, string(c[0].Body))
	assert.Equal(t, []string{"text/plain"}, c[0].Headers["Content-Type"])
	assert.NotEmpty(t, c[0].Headers["X-Azure-Functions-Invocationid"])
}

func TestMessageEncodingNone(t *testing.T) {
	env := newTestEnv(t)
	dir, capFile, s := captureApp(t, map[string]any{
		"Q": map[string]any{"Outputs": map[string]any{"many": []string{"out one"}}},
	})
	editJSON(t, filepath.Join(dir, "host.json"), func(m map[string]any) {
		m["extensions"].(map[string]any)["queues"].(map[string]any)["messageEncoding"] = "none"
	})
	for k, v := range env.settings() {
		s[k] = v
	}
	startHost(t, Config{AppDir: dir, Settings: s})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, env.acct.Enqueue(ctx, env.capture, "plain {text}", 0))
	eventually(t, waitLong, func() bool { return len(env.messages(env.out)) == 1 }, "the output message")
	assert.Equal(t, []string{"out one"}, env.messages(env.out), "outputs are written as they are")
	var inv struct{ Data map[string]json.RawMessage }
	require.NoError(t, json.Unmarshal(readCaptured(t, capFile)[0].Body, &inv))
	assert.Equal(t, `"\"plain {text}\""`, string(inv.Data["item"]))
}
