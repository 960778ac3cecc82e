package procstat

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A real stat line (52 fields) whose command name holds a space and a ')':
// utime 250 and stime 50 ticks, start time 987654 ticks.
const statLine = "4242 (funnel) agg) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 8 0 987654 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"

func fakeProc(t *testing.T) string {
	dir := t.TempDir()
	p := filepath.Join(dir, "4242")
	require.NoError(t, os.MkdirAll(p, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(p, "stat"), []byte(statLine), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(p, "status"), []byte("Name:\tfunnel\nVmPeak:\t  9000 kB\nVmHWM:\t    1760 kB\nVmRSS:\t 1700 kB\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "loadavg"), []byte("0.52 1.25 2.00 3/456 7890\n"), 0o644))
	return dir
}

func TestReaderOnAFakeProc(t *testing.T) {
	r, err := New(fakeProc(t))
	require.NoError(t, err)
	s, err := r.Stat(4242)
	require.NoError(t, err)
	assert.Equal(t, Stat{PID: 4242, State: "S", StartTicks: 987654, CPUSeconds: 3}, s)
	assert.False(t, s.Gone())
	rss, err := r.PeakRSS(4242)
	require.NoError(t, err)
	assert.Equal(t, int64(1760*1024), rss)
	l, err := r.LoadAverage()
	require.NoError(t, err)
	assert.Equal(t, [3]float64{0.52, 1.25, 2}, l)

	_, err = r.Stat(4243)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Error(t, r.ResetPeakRSS(4243), "no such process: the reset fails and says so")
}

func TestMalformed(t *testing.T) {
	dir := fakeProc(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "4242", "stat"), []byte("4242 funnel S 1\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "4242", "status"), []byte("Name:\tx\n"), 0o644))
	r, err := New(dir)
	require.NoError(t, err)
	_, err = r.Stat(4242)
	require.Error(t, err)
	_, err = r.PeakRSS(4242)
	require.Error(t, err)

	_, err = New(filepath.Join(dir, "none"))
	require.ErrorIs(t, err, ErrUnavailable)
	_, err = Reader{dir: "x"}.Stat(1)
	require.ErrorIs(t, err, ErrUnavailable)
}

func TestRealProc(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	r := Default()
	me := os.Getpid()
	s, err := r.Stat(me)
	require.NoError(t, err)
	assert.NotZero(t, s.StartTicks)
	assert.False(t, s.Gone())
	rss, err := r.PeakRSS(me)
	require.NoError(t, err)
	assert.Greater(t, rss, int64(1<<20))
	require.NoError(t, r.ResetPeakRSS(me), "a process may reset its own peak")
	_, err = r.LoadAverage()
	require.NoError(t, err)

	// A zombie is gone although its PID still exists.
	cmd := exec.Command("sh", "-c", "exit 0")
	require.NoError(t, cmd.Start())
	defer cmd.Wait()
	for range 200 {
		if st, err := r.Stat(cmd.Process.Pid); err == nil && st.Gone() {
			return
		}
		runtime.Gosched()
		exec.Command("true").Run()
	}
	t.Fatal("the exited child never showed as a zombie")
}
