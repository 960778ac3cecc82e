package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/funnelpipe/funnel/infra/localstack"
	"github.com/funnelpipe/funnel/infra/process"
)

// defaultStateFile is where `funnel up` says where its stack is, relative
// to the working directory; down, upload, submit, status and result read
// it.
const defaultStateFile = ".run/funnel-up.json"

// maxInstances bounds --instances: each instance is a process.
const maxInstances = 64

// cmdUp runs the local stack in the foreground until SIGINT or SIGTERM.
func cmdUp(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "up", "[--apps DIR] [--data DIR] [--instances N|app=N,...] [--exec-prefix CMD] [--state FILE] [--records DIR] [--log-level LEVEL]")
	sf := addStackFlags(fs)
	data := fs.String("data", "", "keep Azurite's data in `DIR` across restarts of the stack (default: a temporary directory, removed on stop)")
	state := fs.String("state", defaultStateFile, "`file` to write the stack's endpoints to, for the other commands")
	records := fs.String("records", "", "write one JSON line per invocation to `DIR`/<app>.jsonl")
	level := fs.String("log-level", "info", "log level of the hosts' and handlers' logs on stderr: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: up takes no arguments, got %q", errUsage, fs.Args())
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("%w: --log-level %q: use debug, info, warn or error", errUsage, *level)
	}
	opts, err := sf.options()
	if err != nil {
		return err
	}
	if old, err := readState(*state); err == nil && process.Alive(old.PID, old.ProcStart) {
		return fmt.Errorf("a stack is already running here (pid %d, job API %s); stop it with `funnel down` or use another --state", old.PID, old.APIURL)
	}
	// Closing the terminal stops the stack too, rather than orphaning the
	// handlers (main already turns SIGINT and SIGTERM into ctx's end).
	ctx, stopHUP := signal.NotifyContext(ctx, syscall.SIGHUP)
	defer stopHUP()
	opts.RecordsDir = *records
	if *data != "" {
		abs, err := filepath.Abs(*data)
		if err != nil {
			return fmt.Errorf("--data %s: %w", *data, err)
		}
		opts.Azurite.Location = abs
	}
	// An emulator that exits is started again on the same ports and data,
	// so the apps (which hold its endpoints) carry on; say so.
	opts.RestartAzurite = true
	opts.OnRestart = func(exit error, pid int) {
		fmt.Fprintf(e.stderr, "funnel up: Azurite exited (%v); restarted it on the same ports and data (pid %d)\n", exit, pid)
	}
	opts.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lv}))

	fmt.Fprintf(e.stderr, "funnel up: starting Azurite and the %s hosts from %s\n", strings.Join(localstack.Apps(), ", "), opts.AppsDir)
	stack, err := localstack.Start(ctx, opts)
	if err != nil {
		return err
	}
	st := upState{
		PID:              os.Getpid(),
		ProcStart:        process.StartTime(os.Getpid()),
		Started:          time.Now().UTC().Truncate(time.Second),
		APIURL:           stack.APIURL(),
		ConnectionString: stack.ConnectionString(),
		BlobEndpoint:     stack.BlobEndpoint(),
		QueueEndpoint:    stack.QueueEndpoint(),
		AppsDir:          opts.AppsDir,
		Instances:        sf.instances.counts(),
	}
	if err := writeState(*state, st); err != nil {
		return errors.Join(err, stack.Stop())
	}
	printEndpoints(e.stdout, st, *state)

	var runErr error
	select {
	case <-ctx.Done():
		fmt.Fprintln(e.stderr, "funnel up: stopping (draining in-flight invocations)")
	case <-stack.Failed():
		runErr = stack.Err()
		fmt.Fprintln(e.stderr, "funnel up: stopping:", runErr)
	}
	stopErr := stack.Stop()
	rmErr := removeStateIfOurs(*state, st.PID)
	if err := errors.Join(runErr, stopErr, rmErr); err != nil {
		return err
	}
	fmt.Fprintln(e.stderr, "funnel up: stopped")
	return nil
}

func printEndpoints(w io.Writer, st upState, stateFile string) {
	fmt.Fprintf(w, "funnel up: the stack is ready (pid %d)\n", st.PID)
	fmt.Fprintf(w, "  job API      %s\n", st.APIURL)
	fmt.Fprintf(w, "  storage      %s\n", st.ConnectionString)
	fmt.Fprintf(w, "  blob         %s\n", st.BlobEndpoint)
	fmt.Fprintf(w, "  queue        %s\n", st.QueueEndpoint)
	fmt.Fprintf(w, "  instances    %s\n", formatCounts(st.Instances))
	fmt.Fprintf(w, "  state file   %s\n", stateFile)
	fmt.Fprintln(w, "Stop it with `funnel down` or Ctrl-C.")
}

// stackFlags are the flags that choose how the local stack runs, shared by
// up and run.
type stackFlags struct {
	apps       *string
	instances  instancesFlag
	execPrefix *string
}

func addStackFlags(fs *flag.FlagSet) *stackFlags {
	sf := &stackFlags{instances: instancesFlag{}}
	sf.apps = fs.String("apps", filepath.Join("dist", "apps", "linux-"+runtime.GOARCH), "`folder` of the packaged apps (make package) holding partition/, aggregate/ and merge/")
	fs.Var(&sf.instances, "instances", "handler processes per app: `N` for every app, or a list like partition=1,aggregate=2,merge=1 (default 1 each)")
	sf.execPrefix = fs.String("exec-prefix", "", "command prepended to every handler, e.g. qemu-aarch64-static to run arm64 handlers on amd64")
	return sf
}

// options turns the flags into localstack options, checking the apps
// folder so that a missing package is a usage error, not a start failure.
func (sf *stackFlags) options() (localstack.Options, error) {
	for _, app := range localstack.Apps() {
		if _, err := os.Stat(filepath.Join(*sf.apps, app, "host.json")); err != nil {
			return localstack.Options{}, fmt.Errorf("%w: --apps %s: no %s app there (build it with `make package`, or name the folder holding partition/, aggregate/ and merge/)", errUsage, *sf.apps, app)
		}
	}
	return localstack.Options{
		AppsDir:    *sf.apps,
		Instances:  sf.instances.counts(),
		ExecPrefix: strings.Fields(*sf.execPrefix),
	}, nil
}

// instancesFlag is --instances: "N" or "app=N,app=N".
type instancesFlag map[string]int

func (f instancesFlag) String() string { return formatCounts(f) }

func (f instancesFlag) Set(v string) error {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 || n > maxInstances {
			return fmt.Errorf("%d: must be 1..%d", n, maxInstances)
		}
		for _, app := range localstack.Apps() {
			f[app] = n
		}
		return nil
	}
	if v == "" {
		return errors.New("empty: give N or app=N,...")
	}
	for _, part := range strings.Split(v, ",") {
		app, num, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%q: want N or app=N (apps: %s)", part, strings.Join(localstack.Apps(), ", "))
		}
		if !isApp(app) {
			return fmt.Errorf("unknown app %q (apps: %s)", app, strings.Join(localstack.Apps(), ", "))
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > maxInstances {
			return fmt.Errorf("%s=%s: the count must be a whole number 1..%d", app, num, maxInstances)
		}
		f[app] = n
	}
	return nil
}

// counts returns the count of every app, 1 where none was given.
func (f instancesFlag) counts() map[string]int {
	m := map[string]int{}
	for _, app := range localstack.Apps() {
		m[app] = max(1, f[app])
	}
	return m
}

func isApp(name string) bool {
	for _, a := range localstack.Apps() {
		if a == name {
			return true
		}
	}
	return false
}

// formatCounts writes app counts in pipeline order: "partition=1,aggregate=2,merge=1".
func formatCounts(m map[string]int) string {
	var parts []string
	seen := map[string]bool{}
	for _, app := range localstack.Apps() {
		if n, ok := m[app]; ok {
			parts = append(parts, fmt.Sprintf("%s=%d", app, n))
			seen[app] = true
		}
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ",")
}

// upState is the state file of a running `funnel up`.
type upState struct {
	PID int `json:"pid"`
	// ProcStart is the process's start time in clock ticks since boot
	// (/proc/<pid>/stat), so that a recycled PID is not mistaken for it.
	ProcStart        string         `json:"proc_start,omitempty"`
	Started          time.Time      `json:"started"`
	APIURL           string         `json:"api_url"`
	ConnectionString string         `json:"connection_string"`
	BlobEndpoint     string         `json:"blob_endpoint,omitempty"`
	QueueEndpoint    string         `json:"queue_endpoint,omitempty"`
	AppsDir          string         `json:"apps_dir"`
	Instances        map[string]int `json:"instances"`
}

// errNoStack says that no state file names a running stack.
var errNoStack = errors.New("no `funnel up` state")

func readState(path string) (*upState, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist (start the stack with `funnel up` in this directory, or pass --state)", errNoStack, path)
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	var st upState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if st.PID <= 0 || st.APIURL == "" || st.ConnectionString == "" {
		return nil, fmt.Errorf("state file %s: pid, api_url or connection_string missing", path)
	}
	return &st, nil
}

// writeState writes the state file atomically (readers never see half of
// it), readable by the user only: it holds a connection string.
func writeState(path string, st upState) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	if err := errors.Join(werr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

// removeStateIfOurs removes the state file if it still names pid.
func removeStateIfOurs(path string, pid int) error {
	st, err := readState(path)
	if err != nil || st.PID != pid {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}
