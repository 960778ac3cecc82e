//go:build unix

package azurite_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/infra/azurite"
	"github.com/funnelpipe/funnel/infra/process"
	"github.com/funnelpipe/funnel/internal/syncio"
)

func startForTest(t *testing.T, opts azurite.Options) *azurite.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Azurite; skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := azurite.Start(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

func TestStartServesAndStopLeavesNothing(t *testing.T) {
	s := startForTest(t, azurite.Options{})
	pid, dir := s.PID(), s.Location()
	require.True(t, process.Alive(pid, ""))
	require.DirExists(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	blobs, err := azblob.NewClientFromConnectionString(s.ConnectionString(), nil)
	require.NoError(t, err)
	_, err = blobs.CreateContainer(ctx, "smoke", nil)
	require.NoError(t, err)
	_, err = blobs.UploadBuffer(ctx, "smoke", "a", []byte("hello"), nil)
	require.NoError(t, err)

	queues, err := azqueue.NewServiceClientFromConnectionString(s.ConnectionString(), nil)
	require.NoError(t, err)
	_, err = queues.CreateQueue(ctx, "smoke", nil)
	require.NoError(t, err)
	_, err = queues.NewQueueClient("smoke").EnqueueMessage(ctx, "hi", nil)
	require.NoError(t, err)

	require.NoError(t, s.Stop())
	require.NoError(t, s.Stop(), "Stop is idempotent")
	assert.False(t, process.Alive(pid, ""), "process %d still exists after Stop", pid)
	assert.NoDirExists(t, dir)
	select {
	case <-s.Exited():
	default:
		t.Fatal("Exited not closed after Stop")
	}
}

func TestParallelInstancesGetDifferentPorts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Azurite; skipped under -short")
	}
	var (
		wg      sync.WaitGroup
		servers [2]*azurite.Server
		errs    [2]error
	)
	for i := range servers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			servers[i], errs[i] = azurite.Start(ctx, azurite.Options{})
		})
	}
	wg.Wait()
	for i, s := range servers {
		if s != nil {
			t.Cleanup(func() { _ = s.Stop() })
		}
		require.NoError(t, errs[i])
	}
	a, b := servers[0], servers[1]
	ports := map[int]bool{}
	for _, p := range []int{a.BlobPort(), a.QueuePort(), a.TablePort(), b.BlobPort(), b.QueuePort(), b.TablePort()} {
		require.NotZero(t, p)
		assert.False(t, ports[p], "port %d used twice", p)
		ports[p] = true
	}
	assert.NotEqual(t, a.Location(), b.Location())
	assert.NotEqual(t, a.ConnectionString(), b.ConnectionString())
}

func TestNamedLocationIsKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startForTest(t, azurite.Options{Location: dir})
	require.NoError(t, s.Stop())
	assert.DirExists(t, dir)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.NotEmpty(t, entries, "Azurite wrote its databases there")
}

func TestMissingInstall(t *testing.T) {
	_, err := azurite.Start(context.Background(), azurite.Options{Dir: t.TempDir()})
	require.ErrorIs(t, err, azurite.ErrNotInstalled)
	assert.Contains(t, err.Error(), "make deps")
}

func TestInstallFoundThroughEnv(t *testing.T) {
	t.Setenv(azurite.EnvDir, t.TempDir())
	_, err := azurite.Start(context.Background(), azurite.Options{})
	require.ErrorIs(t, err, azurite.ErrNotInstalled, "the env directory is used, and it is empty")
}

func TestStartFailureQuotesStderr(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node; skipped under -short")
	}
	// A node that is not Azurite: a script that complains and exits.
	dir := t.TempDir()
	node := filepath.Join(dir, "fake-node")
	require.NoError(t, os.WriteFile(node, []byte("#!/bin/sh\necho 'boom: cannot listen' >&2\nexit 3\n"), 0o755))
	_, err := azurite.Start(context.Background(), azurite.Options{Node: node})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "boom: cannot listen")
	assert.Contains(t, err.Error(), "exited during start")
}

func TestStartTimeoutKillsProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a process; skipped under -short")
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	node := filepath.Join(dir, "silent-node")
	require.NoError(t, os.WriteFile(node, []byte("#!/bin/sh\necho $$ > "+pidFile+"\nexec sleep 60\n"), 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := azurite.Start(ctx, azurite.Options{Node: node})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	raw, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(t, err)
	assert.False(t, process.Alive(pid, ""), "process %d survived a failed start", pid)
}

func TestConnectionString(t *testing.T) {
	got := azurite.ConnectionString("http://127.0.0.1:1/devstoreaccount1", "http://127.0.0.1:2/devstoreaccount1", "")
	assert.Equal(t, "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="+azurite.AccountKey+
		";BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;QueueEndpoint=http://127.0.0.1:2/devstoreaccount1;", got)
	_, err := azblob.NewClientFromConnectionString(got, nil)
	require.NoError(t, err, "the SDK parses it")
}

func TestOutputReceivesAzuriteLog(t *testing.T) {
	var out syncio.Buffer
	s := startForTest(t, azurite.Options{Output: &out, AccessLog: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	queues, err := azqueue.NewServiceClientFromConnectionString(s.ConnectionString(), nil)
	require.NoError(t, err)
	_, err = queues.CreateQueue(ctx, "logged", nil)
	require.NoError(t, err)
	// Node writes to a pipe asynchronously: wait (bounded) for the line.
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "/devstoreaccount1/logged") },
		20*time.Second, 20*time.Millisecond, "the access log shows the request: %s", out.String())
	require.NoError(t, s.Stop())
	assert.Contains(t, out.String(), "Azurite Queue service is successfully listening at http://127.0.0.1:"+strconv.Itoa(s.QueuePort()))
}

func TestPortInUseIsReported(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Azurite; skipped under -short")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = azurite.Start(ctx, azurite.Options{QueuePort: port})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "EADDRINUSE")
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "Azurite's exit is noticed, not waited out")
}

func TestStartSweepsDirectoriesOfDeadOwners(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Azurite; skipped under -short")
	}
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	deadPID := dead.Process.Pid

	mk := func(owner int) string {
		dir, err := os.MkdirTemp("", "funnel-azurite-*")
		require.NoError(t, err)
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		require.NoError(t, os.WriteFile(filepath.Join(dir, ".funnel-owner"), []byte(strconv.Itoa(owner)), 0o644))
		return dir
	}
	stale := mk(deadPID)
	live := mk(os.Getppid())
	foreign, err := os.MkdirTemp("", "funnel-azurite-*") // no owner file
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(foreign) })

	s := startForTest(t, azurite.Options{})
	assert.NoDirExists(t, stale, "the directory of a dead owner is removed")
	assert.DirExists(t, live, "a live owner's directory is kept")
	assert.DirExists(t, foreign, "a directory without an owner file is kept")
	assert.FileExists(t, filepath.Join(s.Location(), ".funnel-owner"))
}
