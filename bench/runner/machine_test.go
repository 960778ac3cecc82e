package runner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/funnelpipe/funnel/bench"
)

func TestParseCPUModel(t *testing.T) {
	tests := []struct {
		name, cpuinfo, want string
	}{
		{"x86", "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n", "AMD EPYC 7B13"},
		{"raspberry pi", "processor\t: 0\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd08\n\nHardware\t: BCM2835\nModel\t: Raspberry Pi 4 Model B Rev 1.4\n", "Raspberry Pi 4 Model B Rev 1.4"},
		{"arm server", "processor\t: 0\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd0c\n", "CPU implementer 0x41, part 0xd0c"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, parseCPUModel([]byte(tt.cpuinfo)))
		})
	}
}

func TestParseMemTotal(t *testing.T) {
	assert.Equal(t, int64(24*1024*1024*1024), parseMemTotal([]byte("MemTotal:       25165824 kB\nMemFree:        1 kB\n")))
	assert.Equal(t, int64(0), parseMemTotal([]byte("MemFree: 1 kB\n")))
	assert.Equal(t, int64(0), parseMemTotal([]byte("MemTotal: lots kB\n")))
}

func TestParseOSRelease(t *testing.T) {
	assert.Equal(t, "Debian GNU/Linux 13 (trixie)", parseOSRelease([]byte("PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\n")))
	assert.Equal(t, "Alpine 3.20", parseOSRelease([]byte("# comment\nNAME=Alpine\nVERSION='3.20'\n")))
	assert.Equal(t, "", parseOSRelease(nil))
}

func TestDescribeMachine(t *testing.T) {
	dir := t.TempDir()
	proc := filepath.Join(dir, "proc")
	require.NoError(t, os.MkdirAll(filepath.Join(proc, "sys", "kernel"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(proc, "cpuinfo"), []byte("model name\t: Test CPU 9000\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(proc, "meminfo"), []byte("MemTotal: 1024 kB\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(proc, "sys", "kernel", "osrelease"), []byte("6.1.0-test\n"), 0o644))
	osRelease := filepath.Join(dir, "os-release")
	require.NoError(t, os.WriteFile(osRelease, []byte(`PRETTY_NAME="Test OS 1"`+"\n"), 0o644))
	pkg := filepath.Join(dir, "package.json")
	require.NoError(t, os.WriteFile(pkg, []byte(`{"name": "azurite", "version": "3.35.0"}`), 0o644))

	repo := filepath.Join(dir, "repo")
	require.NoError(t, os.MkdirAll(repo, 0o755))
	commit := ""
	if _, err := exec.LookPath("git"); err == nil {
		gitRun := func(args ...string) string {
			cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, string(out))
			return string(out)
		}
		gitRun("init", "-q")
		require.NoError(t, os.WriteFile(filepath.Join(repo, "f"), []byte("1"), 0o644))
		gitRun("add", "f")
		gitRun("commit", "-q", "-m", "one")
		commit = gitRun("rev-parse", "HEAD")
		commit = commit[:len(commit)-1]
		require.NoError(t, os.WriteFile(filepath.Join(repo, "f"), []byte("2"), 0o644))
	}

	m, err := DescribeMachine(context.Background(), MachineOptions{ProcDir: proc, OSRelease: osRelease, RepoDir: repo, AzuritePackage: pkg})
	require.NoError(t, err)
	assert.Equal(t, "Test CPU 9000", m.CPUModel)
	assert.Equal(t, int64(1024*1024), m.MemoryBytes)
	assert.Equal(t, "6.1.0-test", m.Kernel)
	assert.Equal(t, "Test OS 1", m.OS)
	assert.Equal(t, "3.35.0", m.AzuriteVersion)
	assert.Equal(t, runtime.Version(), m.GoVersion)
	assert.Equal(t, runtime.NumCPU(), m.Cores)
	if commit != "" {
		assert.Equal(t, commit, m.FunnelCommit)
		assert.True(t, m.FunnelDirty)
	}

	// Nothing found: fields are Unknown, not an error.
	m, err = DescribeMachine(context.Background(), MachineOptions{ProcDir: filepath.Join(dir, "none"), OSRelease: filepath.Join(dir, "none"), RepoDir: filepath.Join(dir, "none")})
	require.NoError(t, err)
	assert.Equal(t, bench.Unknown, m.CPUModel)
	assert.Equal(t, bench.Unknown, m.OS)
	assert.Equal(t, bench.Unknown, m.AzuriteVersion)
	assert.Equal(t, bench.Unknown, m.FunnelCommit)
	assert.Zero(t, m.MemoryBytes)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = DescribeMachine(ctx, MachineOptions{ProcDir: proc})
	require.ErrorIs(t, err, context.Canceled)
}
