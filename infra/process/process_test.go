package process

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/infra/procstat"
)

func TestAlive(t *testing.T) {
	me := os.Getpid()
	assert.True(t, Alive(me, ""))
	assert.True(t, Alive(me, StartTime(me)))
	if StartTime(me) != "" {
		assert.False(t, Alive(me, "1"), "same pid, other start time: a recycled pid")
	}
	assert.False(t, Alive(0, ""))

	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	assert.False(t, Alive(cmd.Process.Pid, ""), "an exited process")
}

func TestMentioning(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "sleep 30; : "+dir) // dir only marks the command line
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pids, err := Mentioning(dir)
	if errors.Is(err, procstat.ErrUnavailable) {
		t.Skip(err)
	}
	require.NoError(t, err)
	assert.Contains(t, pids, cmd.Process.Pid)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	pids, err = Mentioning(dir)
	require.NoError(t, err)
	assert.NotContains(t, pids, cmd.Process.Pid)
}
