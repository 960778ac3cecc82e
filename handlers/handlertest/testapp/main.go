// Command testapp is a tiny custom handler used to test a Functions host
// (infra/funchost) for fidelity with the real one. It serves, through package
// handlers, three functions whose function.json the host's tests write:
//
//   - Echo — HTTP trigger named "req", HTTP output named "res". Answers 200
//     with JSON {"method", "url", "query", "params", "headers", "body",
//     "invocation_id"} describing the request; with query ?status=<code> it
//     returns handlers.HTTPError{code} instead, so the caller gets <code>
//     and {"error": ...} while the host gets 200.
//   - Work — queue trigger named "msg". Steered by the message text:
//     "fail" returns an error (500: the host retries, then poisons);
//     "panic" panics (recovered: 500); "crash" exits the process with status
//     3 in the middle of the invocation; "sleep:<ms>" sleeps that long (or
//     until cancelled) and succeeds; anything else succeeds at once.
//   - OnBlob — blob trigger named "blob" (declare "dataType": "binary") with
//     path parameter {name}. Steered like Work by the blob's content (when
//     it is one of those words); otherwise succeeds.
//
// A successful Work or OnBlob sets two outputs, so a test can observe them
// through output bindings: a queue output named "out" ("done:<message>" for
// Work, "blob:<name>:<size>" for OnBlob; the ':' keeps the text from being
// valid base64, which the host would decode) and a blob output named
// "outblob" holding the message text or a copy of the blob (base64 on the
// wire; declare it WITHOUT "dataType": "binary", see handlers.Response.SetBlob).
// A function.json may declare either, both or none: the host ignores outputs
// it has no binding for.
//
// Every invocation is also appended to the file named by TESTAPP_RECORD, one
// JSON object a line (handlertest.Record): a "start" line, then "ok", "fail",
// "panic" or "crash". Environment: FUNCTIONS_CUSTOMHANDLER_PORT (set by the
// host), FUNCTIONS_CUSTOMHANDLER_WORKER_ID, FUNNEL_METRICS_ADDR, TESTAPP_RECORD.
// SIGTERM or SIGINT shuts it down gracefully (in-flight invocations finish);
// it exits 0 then, 1 on an error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/handlers/handlertest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, logw io.Writer) error {
	cfg, err := handlers.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	rec, err := openRecorder(getenv(handlertest.EnvRecord), cfg.WorkerID)
	if err != nil {
		return err
	}
	defer rec.close()
	log := slog.New(slog.NewJSONHandler(logw, nil))
	app := handlers.NewApp(handlers.Options{Name: "testapp", Logger: log, Registerer: prometheus.NewRegistry()})
	t := &testApp{rec: rec, exit: os.Exit}
	app.Handle("Echo", t.echo, handlers.HTTPOutput("res"))
	app.Handle("Work", t.work)
	app.Handle("OnBlob", t.onBlob)
	return handlers.Serve(ctx, app, cfg)
}

type testApp struct {
	rec  *recorder
	exit func(code int) // os.Exit
}

func (a *testApp) echo(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
	req, err := inv.HTTPRequest("req")
	if err != nil {
		return nil, err
	}
	body, err := req.BodyText()
	if err != nil {
		return nil, handlers.BadRequest(err.Error())
	}
	if err := a.rec.add(handlertest.Record{Event: handlertest.EventStart, Function: inv.Function, InvocationID: inv.ID, Message: body}); err != nil {
		return nil, err
	}
	if s := req.Query["status"]; s != "" {
		code, err := strconv.Atoi(s)
		if err != nil || code < 100 || code > 599 {
			return nil, handlers.BadRequest(fmt.Sprintf("status %q is not an HTTP status", s))
		}
		return nil, &handlers.HTTPError{Status: code, Message: "asked for status " + s}
	}
	resp := handlers.NewResponse()
	err = resp.SetHTTP("res", handlers.HTTPResponse{StatusCode: http.StatusOK, Body: map[string]any{
		"method":        req.Method,
		"url":           req.URL,
		"query":         req.Query,
		"params":        req.Params,
		"headers":       req.Headers,
		"body":          body,
		"invocation_id": inv.ID,
	}})
	if err != nil {
		return nil, err
	}
	return resp, a.rec.add(handlertest.Record{Event: handlertest.EventOK, Function: inv.Function, InvocationID: inv.ID, Message: body})
}

func (a *testApp) work(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
	msg, err := inv.QueueMessage("msg")
	if err != nil {
		return nil, err
	}
	r := handlertest.Record{Function: inv.Function, InvocationID: inv.ID, Message: msg}
	if n, err := inv.MetaInt("DequeueCount"); err == nil {
		r.DequeueCount = n
	}
	return a.steer(ctx, inv, r, msg, func(resp *handlers.Response) {
		resp.AddQueue("out", "done:"+msg)
		resp.SetBlob("outblob", []byte(msg))
	})
}

func (a *testApp) onBlob(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
	content, err := inv.Blob("blob")
	if err != nil {
		return nil, err
	}
	name, err := inv.MetaString("name")
	if err != nil {
		return nil, err
	}
	r := handlertest.Record{Function: inv.Function, InvocationID: inv.ID, Message: name, Size: len(content)}
	command := ""
	if len(content) <= 64 {
		command = strings.TrimSpace(string(content))
	}
	return a.steer(ctx, inv, r, command, func(resp *handlers.Response) {
		resp.AddQueue("out", fmt.Sprintf("blob:%s:%d", name, len(content)))
		resp.SetBlob("outblob", content)
	})
}

var errAsked = errors.New("testapp: failing as asked")

// steer records the start, runs the behaviour command asks for, records
// the end, and on success builds the response with outputs.
func (a *testApp) steer(ctx context.Context, inv *handlers.Invocation, r handlertest.Record, command string, outputs func(*handlers.Response)) (*handlers.Response, error) {
	r.Event = handlertest.EventStart
	if err := a.rec.add(r); err != nil {
		return nil, err
	}
	end := func(event string) error {
		r.Event = event
		return a.rec.add(r)
	}
	switch {
	case command == "fail":
		if err := end(handlertest.EventFail); err != nil {
			return nil, err
		}
		return nil, errAsked
	case command == "panic":
		if err := end(handlertest.EventPanic); err != nil {
			return nil, err
		}
		panic("testapp: panicking as asked")
	case command == "crash":
		if err := end(handlertest.EventCrash); err != nil {
			inv.Log.Error("cannot record crash", "err", err)
		}
		inv.Log.Warn("exiting as asked", "code", handlertest.CrashExitCode)
		a.exit(handlertest.CrashExitCode)
		return nil, errors.New("testapp: exit returned") // only with a test's exit
	case strings.HasPrefix(command, "sleep:"):
		ms, err := strconv.Atoi(strings.TrimPrefix(command, "sleep:"))
		if err != nil || ms < 0 {
			return nil, fmt.Errorf("testapp: bad sleep command %q", command)
		}
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	resp := handlers.NewResponse()
	outputs(resp)
	resp.Log(fmt.Sprintf("%s processed %q", inv.Function, r.Message))
	return resp, end(handlertest.EventOK)
}

// recorder appends Records to a file shared by every instance of the app:
// each Record is one write to a file opened with O_APPEND, so lines from
// concurrent processes do not interleave.
type recorder struct {
	mu       sync.Mutex
	f        *os.File // nil: recording off
	pid      int
	workerID string
}

func openRecorder(path, workerID string) (*recorder, error) {
	r := &recorder{pid: os.Getpid(), workerID: workerID}
	if path == "" {
		return r, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open record file: %w", err)
	}
	r.f = f
	return r, nil
}

func (r *recorder) add(rec handlertest.Record) error {
	if r.f == nil {
		return nil
	}
	rec.PID, rec.WorkerID = r.pid, r.workerID
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return nil
}

func (r *recorder) close() {
	if r.f != nil {
		r.f.Close()
	}
}
