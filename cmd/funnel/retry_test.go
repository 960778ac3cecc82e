package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetry(t *testing.T) {
	f, api := newFakeAPI(t)
	e, stdout, _ := cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"retry", "j1", "--api", api}))
	assert.Equal(t, "job j1: running, 2 units sent again (failed attempts so far: 1)\n", stdout.String())

	// The API refuses a second retry while the first runs; --wait follows
	// the job to its result.
	e, _, _ = cliEnv(nil)
	err := run(context.Background(), e, []string{"retry", "--api", api, "j1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "409")
	assert.Contains(t, err.Error(), "cannot be retried")

	f.mu.Lock()
	f.retries = 0
	f.mu.Unlock()
	e, stdout, _ = cliEnv(nil)
	require.NoError(t, run(context.Background(), e, []string{"retry", "--wait", "--api", api, "j1"}))
	assert.Contains(t, stdout.String(), "CANADA")

	e, _, _ = cliEnv(nil)
	err = run(context.Background(), e, []string{"retry", "--api", api})
	require.ErrorIs(t, err, errUsage)
}
