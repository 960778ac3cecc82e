package handlertest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/handlers/handlertest"
)

// app is one running test app process.
type app struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:<port>
	record string
	exited chan error
}

// startApp runs the binary the way the Functions host does: a free port in
// FUNCTIONS_CUSTOMHANDLER_PORT; it is ready when it logs that it listens.
func startApp(t *testing.T, bin string) *app {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	a := &app{base: "http://127.0.0.1:" + strconv.Itoa(port), record: filepath.Join(t.TempDir(), "record.jsonl"), exited: make(chan error, 1)}
	a.cmd = exec.Command(bin)
	a.cmd.Env = append(os.Environ(),
		"FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port),
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID=worker-1",
		handlertest.EnvRecord+"="+a.record)
	stderr, err := a.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, a.cmd.Start())
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Kill()
			<-a.exited
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), `"msg":"custom handler listening"`) {
				ready <- true
				signalled = true
			}
		}
		if !signalled {
			ready <- false
		}
		a.exited <- a.cmd.Wait()
	}()
	require.True(t, <-ready, "test app exited before listening")
	return a
}

func (a *app) post(t *testing.T, path string, body []byte) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.base+path, strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set("X-Azure-Functions-InvocationId", "inv-"+strings.TrimPrefix(path, "/"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// queueEnvelope is a queue trigger invocation as the real host encodes it.
func queueEnvelope(msg string, dequeue int) []byte {
	once, _ := json.Marshal(msg)
	b, _ := json.Marshal(map[string]any{
		"Data":     map[string]string{"msg": string(once)},
		"Metadata": map[string]any{"DequeueCount": strconv.Itoa(dequeue), "Id": `"id-1"`},
	})
	return b
}

func buildApp(t *testing.T) string {
	t.Helper()
	bin, err := handlertest.BuildTestApp(context.Background(), t.TempDir())
	require.NoError(t, err)
	return bin
}

func TestTestApp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the test app")
	}
	bin := buildApp(t)

	t.Run("functions", func(t *testing.T) {
		a := startApp(t, bin)

		status, body, err := a.post(t, "/Work", queueEnvelope(`{"unit":1}`, 2))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, body)
		assert.JSONEq(t, `{"Outputs":{"out":"done:{\"unit\":1}","outblob":"eyJ1bml0IjoxfQ=="},"Logs":["Work processed \"{\\\"unit\\\":1}\""],"ReturnValue":null}`, body)

		status, _, err = a.post(t, "/Work", queueEnvelope("fail", 1))
		require.NoError(t, err)
		assert.Equal(t, http.StatusInternalServerError, status)
		status, _, err = a.post(t, "/Work", queueEnvelope("panic", 1))
		require.NoError(t, err)
		assert.Equal(t, http.StatusInternalServerError, status)

		blob, err := os.ReadFile(filepath.Join("..", "testdata", "blob_trigger.json"))
		require.NoError(t, err)
		status, body, err = a.post(t, "/OnBlob", blob)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, body)
		assert.Contains(t, body, `"out":"blob:chunk-0001.tbl:138"`)

		httpReq, err := os.ReadFile(filepath.Join("..", "testdata", "http_trigger.json"))
		require.NoError(t, err)
		status, body, err = a.post(t, "/Echo", httpReq)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, body)
		var out struct {
			Outputs struct {
				Res struct {
					StatusCode int    `json:"statusCode"`
					Body       string `json:"body"`
				} `json:"res"`
			}
		}
		require.NoError(t, json.Unmarshal([]byte(body), &out))
		assert.Equal(t, http.StatusOK, out.Outputs.Res.StatusCode)
		var echo map[string]any
		require.NoError(t, json.Unmarshal([]byte(out.Outputs.Res.Body), &echo))
		assert.Equal(t, "POST", echo["method"])
		assert.Equal(t, `{"input":"customers/","transport":"queue"}`, echo["body"])
		assert.Equal(t, map[string]any{"id": "job42"}, echo["params"])

		teapot := strings.Replace(string(httpReq), `"Query": {`, `"Query": {"status": "418", `, 1)
		status, body, err = a.post(t, "/Echo", []byte(teapot))
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, body)
		require.NoError(t, json.Unmarshal([]byte(body), &out))
		assert.Equal(t, http.StatusTeapot, out.Outputs.Res.StatusCode)

		recs, err := handlertest.ReadRecords(a.record)
		require.NoError(t, err)
		var events []string
		for _, r := range recs {
			events = append(events, r.Function+":"+r.Event)
			assert.Equal(t, a.cmd.Process.Pid, r.PID)
			assert.Equal(t, "worker-1", r.WorkerID)
		}
		assert.Equal(t, []string{
			"Work:start", "Work:ok", "Work:start", "Work:fail", "Work:start", "Work:panic",
			"OnBlob:start", "OnBlob:ok", "Echo:start", "Echo:ok", "Echo:start",
		}, events)
		assert.EqualValues(t, 2, recs[0].DequeueCount)
		assert.Equal(t, "chunk-0001.tbl", recs[6].Message)
		assert.Equal(t, 138, recs[6].Size)
	})

	t.Run("crash exits mid-invocation", func(t *testing.T) {
		a := startApp(t, bin)
		_, _, err := a.post(t, "/Work", queueEnvelope("crash", 1))
		require.Error(t, err, "a crashed invocation got an answer")
		err = <-a.exited
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, handlertest.CrashExitCode, ee.ExitCode())
		recs, err := handlertest.ReadRecords(a.record)
		require.NoError(t, err)
		require.Len(t, recs, 2)
		assert.Equal(t, handlertest.EventCrash, recs[1].Event)
	})

	t.Run("SIGTERM drains the in-flight invocation", func(t *testing.T) {
		a := startApp(t, bin)
		type result struct {
			status int
			body   string
			err    error
		}
		res := make(chan result, 1)
		go func() {
			s, b, err := a.post(t, "/Work", queueEnvelope("sleep:300", 1))
			res <- result{s, b, err}
		}()
		waitForRecord(t, a.record, handlertest.EventStart)
		require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
		r := <-res
		require.NoError(t, r.err)
		assert.Equal(t, http.StatusOK, r.status, r.body)
		require.NoError(t, <-a.exited, "exit status after SIGTERM")
	})
}

// waitForRecord polls the record file until it holds a record of event:
// the app runs in another process, so there is nothing to block on. The
// wait is bounded by the test's deadline, not asserted.
func waitForRecord(t *testing.T, path, event string) {
	t.Helper()
	for {
		recs, err := handlertest.ReadRecords(path)
		require.NoError(t, err)
		for _, r := range recs {
			if r.Event == event {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReadRecords(t *testing.T) {
	dir := t.TempDir()
	recs, err := handlertest.ReadRecords(filepath.Join(dir, "absent"))
	require.NoError(t, err)
	assert.Empty(t, recs)

	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte(`{"event":"ok"}`+"\n{oops\n"), 0o644))
	_, err = handlertest.ReadRecords(bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 2")
	assert.False(t, errors.Is(err, os.ErrNotExist))
}
