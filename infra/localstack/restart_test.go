package localstack_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/aggregate"
	"github.com/funnelpipe/funnel/infra/azurite"
	"github.com/funnelpipe/funnel/infra/localstack"
	"github.com/funnelpipe/funnel/infra/localstack/localstacktest"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/partition"
	"github.com/funnelpipe/funnel/testing_data/dbgen"
	"github.com/funnelpipe/funnel/transport/account"
)

// With RestartAzurite, an emulator that exits (a clean SIGTERM exit, then a
// SIGKILL) is started again on the same ports and data: the stack keeps
// running, what was stored before is still there, and a job submitted
// afterwards runs to the exact answer.
func TestAzuriteRestartsOnSamePortsAndData(t *testing.T) {
	apps := localstacktest.Apps(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var mu sync.Mutex
	var restarts []int
	stack, err := localstack.Start(ctx, localstack.Options{
		AppsDir:        apps,
		Azurite:        azurite.Options{Location: filepath.Join(t.TempDir(), "data")},
		RestartAzurite: true,
		OnRestart: func(_ error, pid int) {
			mu.Lock()
			restarts = append(restarts, pid)
			mu.Unlock()
		},
	})
	require.NoError(t, err)
	defer func() { assert.NoError(t, stack.Stop()) }()

	acct, err := account.Open(account.Config{ConnectionString: stack.ConnectionString()}, account.Options{})
	require.NoError(t, err)
	defer acct.Close()
	var table bytes.Buffer
	require.NoError(t, dbgen.Write(ctx, &table, dbgen.Options{ScaleFactor: 0.01}))
	_, err = acct.Blob().CreateContainer(ctx, "input", nil)
	require.NoError(t, err)
	_, err = acct.Blob().UploadBuffer(ctx, "input", "customer.tbl", table.Bytes(), &azblob.UploadBufferOptions{})
	require.NoError(t, err)

	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		old := stack.AzuritePID()
		require.NoError(t, syscall.Kill(old, sig))
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(restarts) == i+1
		}, time.Minute, 50*time.Millisecond, "restart after %v", sig)
		assert.NotEqual(t, old, stack.AzuritePID())
		select {
		case <-stack.Failed():
			t.Fatalf("the stack failed: %v", stack.Err())
		default:
		}
	}
	// Same endpoints (the connection string the apps hold), same data.
	resp, err := acct.Blob().DownloadStream(ctx, "input", "customer.tbl", nil)
	require.NoError(t, err, "the input uploaded before the restarts is still there")
	resp.Body.Close()

	ref, err := aggregate.Scan(ctx, bytes.NewReader(table.Bytes()), "customer.tbl", aggregate.DefaultLayout())
	require.NoError(t, err)
	client := &partition.Client{BaseURL: stack.APIURL()}
	id, err := client.Submit(ctx, job.Spec{ID: "after-restart", Transport: "queue", Input: job.Input{Container: "input"}})
	require.NoError(t, err)
	st, err := client.Wait(ctx, id, 50*time.Millisecond, nil)
	require.NoError(t, err, "status: %+v", st)
	require.NotNil(t, st.Result)
	assert.Equal(t, *aggregate.NewResult(ref), st.Result.Result, fmt.Sprintf("job %s", id))
}
