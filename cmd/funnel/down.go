package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/funnelpipe/funnel/infra/process"
)

// cmdDown stops the `funnel up` named by the state file: SIGTERM, then wait
// until the process is gone (it drains its hosts and stops Azurite first).
func cmdDown(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "down", "[--state FILE] [--timeout D]")
	state := fs.String("state", defaultStateFile, "the state `file` funnel up wrote")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the stack to stop")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: down takes no arguments, got %q", errUsage, fs.Args())
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	st, err := readState(*state)
	if err != nil {
		return err
	}
	if !process.Alive(st.PID, st.ProcStart) {
		if err := os.Remove(*state); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("state file: %w", err)
		}
		fmt.Fprintf(e.stdout, "funnel up (pid %d) was not running; removed the stale %s\n", st.PID, *state)
		return nil
	}
	if err := syscall.Kill(st.PID, syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal funnel up (pid %d): %w", st.PID, err)
	}
	fmt.Fprintf(e.stderr, "funnel down: stopping funnel up (pid %d)...\n", st.PID)
	deadline := time.NewTimer(*timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for process.Alive(st.PID, st.ProcStart) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("funnel up (pid %d) is still running after %v; it may be draining a long invocation (kill -9 %d ends it at once)", st.PID, *timeout, st.PID)
		case <-tick.C:
		}
	}
	// funnel up removes its state file on the way out; a killed one cannot.
	if err := removeStateIfOurs(*state, st.PID); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "stopped funnel up (pid %d)\n", st.PID)
	return nil
}
