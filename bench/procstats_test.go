package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProcStatCPU(t *testing.T) {
	// utime 250 and stime 50 ticks; the name holds a space and a ')'.
	line := "4242 (funnel) agg) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 8 0 100 0 0\n"
	cpu, err := parseProcStatCPU([]byte(line))
	require.NoError(t, err)
	assert.InDelta(t, 3.0, cpu, 1e-12)

	for _, bad := range []string{"", "4242 funnel S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 2 3 4 5 6 7 8 9 x y 0"} {
		_, err := parseProcStatCPU([]byte(bad))
		require.ErrorIs(t, err, ErrBadMeasurement, bad)
	}
}

func TestParseVmHWM(t *testing.T) {
	n, err := parseVmHWM([]byte("Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    1760 kB\nVmRSS:\t 1700 kB\n"))
	require.NoError(t, err)
	assert.Equal(t, int64(1760*1024), n)
	_, err = parseVmHWM([]byte("Name:\tx\n"))
	require.ErrorIs(t, err, ErrBadMeasurement)
}

func TestReadProcStats(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "77")
	require.NoError(t, os.MkdirAll(p, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(p, "stat"), []byte("77 (h) S 1 77 77 0 -1 0 0 0 0 0 120 30 0 0\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(p, "status"), []byte("VmHWM:\t  2048 kB\n"), 0o644))
	cpu, rss, err := ReadProcStats(dir, 77)
	require.NoError(t, err)
	assert.InDelta(t, 1.5, cpu, 1e-12)
	assert.Equal(t, int64(2<<20), rss)

	_, _, err = ReadProcStats(dir, 78)
	require.ErrorIs(t, err, os.ErrNotExist)

	if runtime.GOOS == "linux" {
		// The test binary itself: some CPU, a peak RSS of at least a MiB.
		cpu, rss, err := ReadProcStats("/proc", os.Getpid())
		require.NoError(t, err)
		assert.GreaterOrEqual(t, cpu, 0.0)
		assert.Greater(t, rss, int64(1<<20))
	}
}

func TestInstanceStatsFromProcessState(t *testing.T) {
	_, err := InstanceStatsFromProcessState("aggregate", "a0", nil)
	require.ErrorIs(t, err, ErrBadMeasurement)
	if runtime.GOOS != "linux" {
		t.Skip("peak RSS from a process state is Linux-only")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	cmd := exec.Command(sh, "-c", "exit 0")
	require.NoError(t, cmd.Run())
	s, err := InstanceStatsFromProcessState("aggregate", "a"+strconv.Itoa(0), cmd.ProcessState)
	require.NoError(t, err)
	assert.Equal(t, "aggregate", s.App)
	assert.Equal(t, "a0", s.Instance)
	assert.Greater(t, s.PeakRSSBytes, int64(100<<10), "a shell uses more than 100 KiB")
	assert.GreaterOrEqual(t, s.CPUSeconds, 0.0)
	require.NoError(t, s.Validate())
}
