package process

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
