package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/bench/runner"
	"github.com/funnelpipe/funnel/job"
)

// TestSF1ExactArm64 runs the SF1 job over the queue transport with the
// handlers built for linux/arm64: natively on an arm64 machine, under
// qemu-aarch64-static (Debian package qemu-user-static) on another, and is
// skipped in one line when neither is possible. No Azure Functions plan runs
// arm64, so this is what keeps the arm64 build honest. The answer must be
// exact; the time is emulated and only logged.
func TestSF1ExactArm64(t *testing.T) {
	prefix, err := runner.EmulatorPrefix("arm64", nil)
	if errors.Is(err, runner.ErrNoEmulator) {
		t.Skipf("arm64 handlers not run: %v", err)
	}
	require.NoError(t, err)
	start := time.Now()
	s := startStack(t, stackConfig{arch: "arm64", execPrefix: prefix})
	t.Logf("arm64 apps (exec prefix %q on %s) built and started in %v", prefix, runtime.GOARCH, time.Since(start).Round(time.Millisecond))
	dir := t.TempDir()
	table, expectedJSON, want := sf1(t, dir)
	files := s.upload(t, "sf1", split(t, table, filepath.Join(dir, "chunks"), 20))

	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	start = time.Now()
	id, err := s.client.Submit(ctx, job.Spec{ID: "sf1-arm64", Transport: "queue", Input: job.Input{Container: "sf1", Prefix: "customer."}})
	require.NoError(t, err)
	st := s.waitJob(t, id, job.Done)
	t.Logf("SF1 over queue with arm64 handlers: %v from submit to done (emulated: not a performance figure)", time.Since(start).Round(time.Millisecond))
	checkDone(t, st, autoUnits(t, files, "queue"), want)
	require.EqualValues(t, 150000, st.Rows.Accepted)
	s.checkAnswer(t, id, want, expectedJSON)
}
