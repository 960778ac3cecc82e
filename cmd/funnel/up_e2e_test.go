package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/infra/localstack/localstacktest"
	"github.com/funnelpipe/funnel/infra/process"
	"github.com/funnelpipe/funnel/infra/procstat"
	"github.com/funnelpipe/funnel/job"
)

// TestUpUploadSubmitDown drives the stack the way a user does: funnel up
// as its own process, then upload, submit --wait, status and result through
// the state file, and funnel down.
func TestUpUploadSubmitDown(t *testing.T) {
	apps := localstacktest.Apps(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	state := filepath.Join(dir, ".run", "up.json")
	up := startUp(ctx, t, "--apps", apps, "--state", state, "--log-level", "warn", "--instances", "merge=2")
	upOut, upErr, exited := up.stdout, up.stderr, up.exited
	st, err := readState(state)
	require.NoError(t, err)
	assert.Equal(t, up.cmd.Process.Pid, st.PID)
	assert.Equal(t, map[string]int{"partition": 1, "aggregate": 1, "merge": 2}, st.Instances)

	// Two chunk files.
	rows := []string{"1|a|x|3|p|100.25|s|c|\n2|b|x|7|p|-0.45|s|c|\n", "3|c|x|3|p|9999.99|s|c|\nnot a row\n"}
	var files []string
	for i, r := range rows {
		f := filepath.Join(dir, "customer."+string(rune('0'+i))+".csv")
		require.NoError(t, os.WriteFile(f, []byte(r), 0o644))
		files = append(files, f)
	}
	p, err := aggregate.Scan(ctx, strings.NewReader(strings.Join(rows, "")), "x", aggregate.DefaultLayout())
	require.NoError(t, err)
	want := aggregate.NewResult(p)

	e, stdout, stderr := cliEnv(nil)
	require.NoError(t, run(ctx, e, append([]string{"upload", "--state", state, "--container", "input", "--prefix", "c/"}, files...)), stderr.String())
	assert.Contains(t, stdout.String(), "uploaded 2 files")

	e, stdout, stderr = cliEnv(nil)
	require.NoError(t, run(ctx, e, []string{"submit", "--state", state, "--transport", "queue", "--container", "input", "--prefix", "c/", "--id", "e2e-1", "--wait", "--interval", "50ms"}), stderr.String())
	var table bytes.Buffer
	require.NoError(t, want.WriteTable(&table))
	assert.Contains(t, stdout.String(), table.String())
	assert.Contains(t, stdout.String(), "rows accepted: 3, rejected: 1")

	e, stdout, _ = cliEnv(nil)
	require.NoError(t, run(ctx, e, []string{"status", "e2e-1", "--state", state, "--json"}))
	var status job.Status
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &status))
	assert.Equal(t, job.Done, status.State)
	require.Len(t, status.Samples, 1)
	assert.Equal(t, "c/customer.1.csv", status.Samples[0].File)

	e, stdout, _ = cliEnv(nil)
	require.NoError(t, run(ctx, e, []string{"result", "e2e-1", "--state", state, "--csv"}))
	assert.Equal(t, "key,name,customers,mean,min,max,total\n3,CANADA,2,5050.12,100.25,9999.99,10100.24\n7,GERMANY,1,-0.45,-0.45,-0.45,-0.45\n", stdout.String())

	e, stdout, _ = cliEnv(nil)
	require.NoError(t, run(ctx, e, []string{"down", "--state", state}))
	assert.Contains(t, stdout.String(), "stopped funnel up")
	select {
	case err := <-exited:
		assert.NoError(t, err, "funnel up exits 0 after a down:\n%s", upErr.String())
	case <-time.After(time.Minute):
		t.Fatal("down returned but funnel up still runs")
	}
	assert.NoFileExists(t, state)
	assert.Contains(t, upOut.String(), "job API      "+st.APIURL)
	assert.Contains(t, upOut.String(), "storage      "+st.ConnectionString)
}

// upProcess is a funnel up running as its own process.
type upProcess struct {
	cmd            *exec.Cmd
	stdout, stderr *bytes.Buffer // read only after exited
	exited         chan error
}

// startUp builds funnel, starts `funnel up args...` and returns once the
// state file named by --state exists (the stack is ready).
func startUp(ctx context.Context, t *testing.T, args ...string) *upProcess {
	t.Helper()
	root, err := localstacktest.ModuleRoot()
	require.NoError(t, err)
	funnel := filepath.Join(t.TempDir(), "funnel")
	build := exec.CommandContext(ctx, "go", "build", "-o", funnel, "./cmd/funnel")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	var state string
	for i, a := range args {
		if a == "--state" {
			state = args[i+1]
		}
	}
	require.NotEmpty(t, state, "startUp needs --state")

	up := &upProcess{cmd: exec.Command(funnel, append([]string{"up"}, args...)...), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	up.cmd.Stdout, up.cmd.Stderr = up.stdout, up.stderr
	up.cmd.Dir = root // where Azurite is installed
	require.NoError(t, up.cmd.Start())
	go func() { up.exited <- up.cmd.Wait() }()
	t.Cleanup(func() { _ = up.cmd.Process.Kill() })
	for {
		if _, err := os.Stat(state); err == nil {
			return up
		}
		select {
		case err := <-up.exited:
			t.Fatalf("funnel up exited: %v\n%s\n%s", err, up.stdout, up.stderr)
		case <-ctx.Done():
			t.Fatal("funnel up did not become ready")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestUpStopsOnHangup: closing the terminal stops the stack cleanly.
func TestUpStopsOnHangup(t *testing.T) {
	apps := localstacktest.Apps(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	state := filepath.Join(t.TempDir(), "up.json")
	up := startUp(ctx, t, "--apps", apps, "--state", state)
	require.NoError(t, up.cmd.Process.Signal(syscall.SIGHUP))
	select {
	case err := <-up.exited:
		require.NoError(t, err, "%s", up.stderr)
	case <-ctx.Done():
		t.Fatal("funnel up ignored SIGHUP")
	}
	assert.Contains(t, up.stderr.String(), "funnel up: stopped")
	assert.NoFileExists(t, state)
	assert.Empty(t, handlersUnder(t, apps), "handlers orphaned")
}

// handlersUnder returns the PIDs of live processes whose executable or command
// line mentions dir (process.Mentioning); it skips without /proc.
func handlersUnder(t *testing.T, dir string) []int {
	t.Helper()
	pids, err := process.Mentioning(dir)
	if err != nil {
		t.Skip(err)
	}
	return pids
}

// TestUpKeepsDataAndRestartsAzurite: with --data, what is uploaded survives
// a down and up; an Azurite that dies under a running funnel up is started
// again on the same ports and data, and funnel up says so.
func TestUpKeepsDataAndRestartsAzurite(t *testing.T) {
	apps := localstacktest.Apps(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	state := filepath.Join(dir, "up.json")
	data := filepath.Join(dir, "azurite-data")
	file := filepath.Join(dir, "customer.0.csv")
	require.NoError(t, os.WriteFile(file, []byte("1|a|x|3|p|100.25|s|c|\n"), 0o644))

	up := startUp(ctx, t, "--apps", apps, "--state", state, "--data", data, "--log-level", "warn")
	e, _, stderr := cliEnv(nil)
	require.NoError(t, run(ctx, e, []string{"upload", "--state", state, "--container", "input", file}), stderr.String())
	e, _, _ = cliEnv(nil)
	require.NoError(t, run(ctx, e, []string{"down", "--state", state}))
	require.NoError(t, <-up.exited, "%s", up.stderr)

	up = startUp(ctx, t, "--apps", apps, "--state", state, "--data", data, "--log-level", "warn")
	pids := azuritesOn(t, data)
	require.Len(t, pids, 1, "one Azurite on the data directory")
	require.NoError(t, syscall.Kill(pids[0], syscall.SIGKILL))
	require.Eventually(t, func() bool {
		p := azuritesOn(t, data)
		return len(p) == 1 && p[0] != pids[0]
	}, time.Minute, 100*time.Millisecond, "Azurite restarted")
	st, err := readState(state)
	require.NoError(t, err)
	blobURL, err := url.Parse(st.BlobEndpoint)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", blobURL.Host, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, time.Minute, 100*time.Millisecond, "the restarted Azurite listens on the blob port it had")

	// The job runs on the restarted emulator, over the file uploaded by
	// the first funnel up.
	e, stdout, stderr := cliEnv(nil)
	if err := run(ctx, e, []string{"submit", "--state", state, "--transport", "blob", "--container", "input", "--id", "kept", "--wait", "--interval", "50ms"}); err != nil {
		_ = up.cmd.Process.Signal(syscall.SIGTERM)
		<-up.exited
		t.Fatalf("submit: %v\n%s\nfunnel up:\n%s", err, stderr, up.stderr)
	}
	assert.Contains(t, stdout.String(), "CANADA")

	e, _, _ = cliEnv(nil)
	require.NoError(t, run(ctx, e, []string{"down", "--state", state}))
	require.NoError(t, <-up.exited, "%s", up.stderr)
	assert.Contains(t, up.stderr.String(), "restarted it on the same ports and data")
	assert.Empty(t, azuritesOn(t, data), "no Azurite left behind")
}

// azuritesOn returns the PIDs of live processes started with
// "--location dir": the Azurites on data directory dir.
func azuritesOn(t *testing.T, dir string) []int {
	t.Helper()
	cmds, err := procstat.Default().Commands()
	if err != nil {
		t.Skip(err)
	}
	var pids []int
	for _, c := range cmds {
		i := slices.Index(c.Args, "--location")
		if i >= 0 && i+1 < len(c.Args) && c.Args[i+1] == dir && process.Alive(c.PID, "") {
			pids = append(pids, c.PID)
		}
	}
	return pids
}
