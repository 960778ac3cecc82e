package funchost

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/handlers/handlertest"
	"github.com/funnelpipe/funnel/infra/azurite/azuritetest"
	"github.com/funnelpipe/funnel/transport/account"
)

// The test binary doubles as a raw capture handler (see captureMain) when
// started by a host with EnvCaptureFile set.
const (
	envCaptureFile    = "FUNCHOST_CAPTURE_FILE"
	envCaptureReplies = "FUNCHOST_CAPTURE_REPLIES"
)

func TestMain(m *testing.M) {
	if os.Getenv(envCaptureFile) != "" {
		os.Exit(captureMain())
	}
	azuritetest.Main(m)
}

// capturedRequest is one request the capture handler received.
type capturedRequest struct {
	Path    string              `json:"path"`
	Method  string              `json:"method"`
	Headers map[string][]string `json:"headers"`
	Body    json.RawMessage     `json:"body"`
}

// captureMain is a custom handler that appends every invocation request to
// the file named by envCaptureFile and answers with the reply its
// function has in the JSON file envCaptureReplies ({"Fn": {...}}), or
// {"Outputs":{},"Logs":["captured"],"ReturnValue":null}. A queue message
// "crash-first" makes it exit in the middle of the invocation when the
// message's DequeueCount is 1; "fail" makes it answer 500.
func captureMain() int {
	replies := map[string]json.RawMessage{}
	if p := os.Getenv(envCaptureReplies); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "capture:", err)
			return 1
		}
		if err := json.Unmarshal(b, &replies); err != nil {
			fmt.Fprintln(os.Stderr, "capture:", err)
			return 1
		}
	}
	f, err := os.OpenFile(os.Getenv(envCaptureFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		return 1
	}
	defer f.Close()
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/" {
			fmt.Fprintln(w, "capture handler")
			return
		}
		body, _ := io.ReadAll(r.Body)
		rec := capturedRequest{Path: r.URL.RequestURI(), Method: r.Method, Headers: r.Header, Body: body}
		if !json.Valid(body) {
			rec.Body, _ = json.Marshal(string(body))
		}
		line, _ := json.Marshal(rec)
		mu.Lock()
		f.Write(append(line, '\n'))
		mu.Unlock()
		var env struct {
			Data     map[string]json.RawMessage
			Metadata map[string]json.RawMessage
		}
		if json.Unmarshal(body, &env) == nil {
			for _, v := range env.Data {
				var s string
				if json.Unmarshal(v, &s) == nil {
					var t string
					if json.Unmarshal([]byte(s), &t) == nil {
						s = t
					}
				}
				switch {
				case s == "crash-first" && string(env.Metadata["DequeueCount"]) == `"1"`:
					fmt.Fprintln(os.Stderr, "capture: crashing as asked")
					os.Exit(3)
				case s == "fail":
					http.Error(w, "failing as asked", http.StatusInternalServerError)
					return
				}
			}
		}
		fn := strings.TrimPrefix(r.URL.Path, "/")
		reply, ok := replies[fn]
		if !ok {
			reply = json.RawMessage(`{"Outputs":{},"Logs":["captured"],"ReturnValue":null}`)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(reply)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "capture:", err)
		return 1
	}
	srv := &http.Server{Handler: mux}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "capture:", err)
		return 1
	}
	return 0
}

func readCaptured(t testing.TB, path string) []capturedRequest {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var out []capturedRequest
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var c capturedRequest
		require.NoError(t, json.Unmarshal(line, &c))
		out = append(out, c)
	}
	return out
}

// testEnv is one test's storage names and clients.
type testEnv struct {
	t       testing.TB
	conn    string
	acct    *account.Account
	suffix  string
	work    string // queue names
	out     string
	capture string
	outCont string // containers
	blobs   string
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	conn := azuritetest.ForTest(t)
	acct, err := account.Open(account.Config{ConnectionString: conn}, account.Options{})
	require.NoError(t, err)
	t.Cleanup(acct.Close)
	s := strings.ToLower(strings.ReplaceAll(newUUID()[:13], "-", ""))
	return &testEnv{t: t, conn: conn, acct: acct, suffix: s,
		work: "work-" + s, out: "out-" + s, capture: "cap-" + s, outCont: "outc-" + s, blobs: "blobs-" + s}
}

func (e *testEnv) settings() map[string]string {
	return map[string]string{
		"AzureWebJobsStorage":      e.conn,
		"FUNCTIONS_WORKER_RUNTIME": "custom",
		"WorkQueue":                e.work,
		"OutQueue":                 e.out,
		"CaptureQueue":             e.capture,
		"OutContainer":             e.outCont,
		"BlobContainer":            e.blobs,
		// Distinct host IDs keep tests' receipts and internal queues apart.
		"AzureFunctionsWebHost__hostid": "t-" + e.suffix,
	}
}

func (e *testEnv) queue(name string) *azqueue.QueueClient {
	return e.acct.Queue().NewQueueClient(name)
}

// send enqueues text base64-encoded, as a base64-encoding host expects.
func (e *testEnv) send(queue, text string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(e.t, e.acct.Enqueue(ctx, queue, base64.StdEncoding.EncodeToString([]byte(text)), 0))
}

// messages peeks up to 32 messages of a queue and returns their raw text.
func (e *testEnv) messages(queue string) []string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := int32(32)
	resp, err := e.queue(queue).PeekMessages(ctx, &azqueue.PeekMessagesOptions{NumberOfMessages: &n})
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range resp.Messages {
		out = append(out, *m.MessageText)
	}
	return out
}

// approxCount is the queue's approximate message count (visible or not).
func (e *testEnv) approxCount(queue string) int32 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := e.queue(queue).GetProperties(ctx, nil)
	require.NoError(e.t, err)
	return *p.ApproximateMessagesCount
}

func (e *testEnv) upload(container, name string, content []byte) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(e.t, e.acct.CreateContainer(ctx, container))
	_, err := e.acct.Blob().UploadBuffer(ctx, container, name, content, nil)
	require.NoError(e.t, err)
}

func (e *testEnv) download(container, name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := e.acct.Blob().DownloadStream(ctx, container, name, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func (e *testEnv) blobNames(container string) []string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	pager := e.acct.Blob().NewListBlobsFlatPager(container, &azblob.ListBlobsFlatOptions{})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return out
		}
		for _, b := range page.Segment.BlobItems {
			out = append(out, *b.Name)
		}
	}
	return out
}

// copyApp copies testdata/apps/<name> into a temporary folder.
func copyApp(t testing.TB, name string) string {
	t.Helper()
	src := filepath.Join("testdata", "apps", name)
	dst := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
	// CopyFS keeps read-only modes from the tree; tests rewrite host.json.
	require.NoError(t, filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	}))
	return dst
}

// basicApp copies the basic app and builds the handlers test app into it.
func basicApp(t testing.TB) string {
	t.Helper()
	dir := copyApp(t, "basic")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	exe, err := handlertest.BuildTestApp(ctx, dir)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "testapp"), exe)
	return dir
}

// captureApp copies the capture app, links this test binary in as its
// handler and writes its replies.
func captureApp(t testing.TB, replies map[string]any) (dir, captureFile string, settings map[string]string) {
	t.Helper()
	dir = copyApp(t, "capture")
	self, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, os.Symlink(self, filepath.Join(dir, "capture")))
	captureFile = filepath.Join(t.TempDir(), "captured.jsonl")
	settings = map[string]string{envCaptureFile: captureFile}
	if replies != nil {
		b, err := json.Marshal(replies)
		require.NoError(t, err)
		p := filepath.Join(t.TempDir(), "replies.json")
		require.NoError(t, os.WriteFile(p, b, 0o644))
		settings[envCaptureReplies] = p
	}
	return dir, captureFile, settings
}

// editJSON rewrites a JSON file of the app through fn.
func editJSON(t testing.TB, path string, fn func(m map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	fn(m)
	b, err = json.MarshalIndent(m, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func setQueues(t testing.TB, dir string, kv map[string]any) {
	editJSON(t, filepath.Join(dir, "host.json"), func(m map[string]any) {
		ext := m["extensions"].(map[string]any)
		q := ext["queues"].(map[string]any)
		for k, v := range kv {
			q[k] = v
		}
	})
}

// running is a host under test.
type running struct {
	h      *Host
	cancel context.CancelFunc
	done   chan error
}

// startHost starts a host for dir and waits until it is ready. The host
// is stopped at the end of the test.
func startHost(t testing.TB, cfg Config) *running {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	h, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{h: h, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- h.Run(ctx) }()
	select {
	case <-h.Ready():
	case err := <-r.done:
		t.Fatalf("host stopped before it was ready: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("host not ready within 90 s")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the host and waits for Run to return.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			require.NoError(t, err)
			close(r.done)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("host did not stop within 2 minutes")
	}
}

// testWriter sends log lines to t.Log while the test runs.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // a log line after the test ended
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// eventually polls cond every 50 ms until it holds or the bound passes.
func eventually(t testing.TB, within time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", within, fmt.Sprintf(format, args...))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// appRecords reads the test app's record file.
func appRecords(t testing.TB, path string) []handlertest.Record {
	t.Helper()
	recs, err := handlertest.ReadRecords(path)
	require.NoError(t, err)
	return recs
}

func countRecords(recs []handlertest.Record, fn, event, msg string) int {
	n := 0
	for _, r := range recs {
		if r.Function == fn && r.Event == event && (msg == "" || r.Message == msg) {
			n++
		}
	}
	return n
}

// quietLogger drops the host's logs (benchmarks).
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError + 4}))
}
