// Package handlertest supports tests that run a Functions host (the local
// host in infra/funchost, or the real one) against a real custom handler:
// it builds the tiny handler in handlertest/testapp and reads the record
// file that handler appends to, so a test can see which invocations ran,
// how often, in which process, and how they ended.
//
// See package testapp's documentation for its functions and the messages
// that steer them.
package handlertest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// TestAppPackage is the import path of the test app.
const TestAppPackage = "github.com/funnelpipe/funnel/handlers/handlertest/testapp"

// EnvRecord names the environment variable giving the test app the file it
// appends Records to (one JSON object a line). Unset: nothing is recorded.
const EnvRecord = "TESTAPP_RECORD"

// Events of a Record.
const (
	EventStart = "start" // the invocation began (before its behaviour ran)
	EventOK    = "ok"    // it succeeded: the host was answered 200
	EventFail  = "fail"  // it returned an error ("fail"): answered 500
	EventPanic = "panic" // it is about to panic ("panic"): answered 500
	EventCrash = "crash" // the process is about to exit with CrashExitCode
)

// CrashExitCode is the test app's exit status after a "crash" message.
const CrashExitCode = 3

// Record is one line of the record file.
type Record struct {
	Event        string `json:"event"`
	Function     string `json:"function"`
	InvocationID string `json:"invocation_id"`
	// Message is the queue message text (Work), the blob's name (OnBlob),
	// or the request body (Echo).
	Message string `json:"message"`
	// Size is the blob's length in bytes (OnBlob).
	Size int `json:"size,omitempty"`
	// DequeueCount is the queue message's DequeueCount (Work).
	DequeueCount int64 `json:"dequeue_count,omitempty"`
	// PID and WorkerID tell the handler processes apart (scale-out).
	PID      int    `json:"pid"`
	WorkerID string `json:"worker_id,omitempty"`
}

// ReadRecords reads a record file. A missing file is no records and no error
// (nothing was invoked yet).
func ReadRecords(path string) ([]Record, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("handlertest: %w", err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("handlertest: %s line %d: %w", path, n, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("handlertest: reading %s: %w", path, err)
	}
	return out, nil
}

// BuildTestApp compiles the test app into dir and returns the executable's
// path. It runs "go build" (the go command on PATH, else the one of the
// running toolchain) and must be called from inside the funnel module.
func BuildTestApp(ctx context.Context, dir string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(dir, "testapp")
	if runtime.GOOS == "windows" {
		out += ".exe"
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", out, TestAppPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("handlertest: go build %s: %w\n%s", TestAppPackage, err, b)
	}
	return out, nil
}
