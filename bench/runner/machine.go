package runner

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/funnelpipe/funnel/bench"
)

// MachineOptions says where DescribeMachine looks. Empty fields take the
// defaults noted on each.
type MachineOptions struct {
	// ProcDir is the proc file system ("/proc").
	ProcDir string
	// OSRelease is the os-release file ("/etc/os-release").
	OSRelease string
	// RepoDir is the funnel work tree, for its git commit ("." ).
	RepoDir string
	// AzuritePackage is Azurite's package.json
	// ("<RepoDir>/infra/node_modules/azurite/package.json").
	AzuritePackage string
}

// DescribeMachine gathers the machine description for a report. A field it
// cannot find is set to Unknown (or 0) rather than failing the report; only a
// cancelled ctx is an error.
func DescribeMachine(ctx context.Context, o MachineOptions) (bench.Machine, error) {
	o.ProcDir = cmp.Or(o.ProcDir, "/proc")
	o.OSRelease = cmp.Or(o.OSRelease, "/etc/os-release")
	o.RepoDir = cmp.Or(o.RepoDir, ".")
	o.AzuritePackage = cmp.Or(o.AzuritePackage, filepath.Join(o.RepoDir, "infra", "node_modules", "azurite", "package.json"))

	m := bench.Machine{
		CPUModel:       bench.Unknown,
		Cores:          runtime.NumCPU(),
		OS:             bench.Unknown,
		Kernel:         bench.Unknown,
		GOOS:           runtime.GOOS,
		GOARCH:         runtime.GOARCH,
		GoVersion:      runtime.Version(),
		AzuriteVersion: bench.Unknown,
		FunnelCommit:   bench.Unknown,
	}
	if b, err := os.ReadFile(filepath.Join(o.ProcDir, "cpuinfo")); err == nil {
		m.CPUModel = cmp.Or(parseCPUModel(b), bench.Unknown)
	}
	if b, err := os.ReadFile(filepath.Join(o.ProcDir, "meminfo")); err == nil {
		m.MemoryBytes = parseMemTotal(b)
	}
	if b, err := os.ReadFile(filepath.Join(o.ProcDir, "sys", "kernel", "osrelease")); err == nil {
		m.Kernel = cmp.Or(strings.TrimSpace(string(b)), bench.Unknown)
	}
	if b, err := os.ReadFile(o.OSRelease); err == nil {
		m.OS = cmp.Or(parseOSRelease(b), bench.Unknown)
	}
	if b, err := os.ReadFile(o.AzuritePackage); err == nil {
		var pkg struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(b, &pkg) == nil {
			m.AzuriteVersion = cmp.Or(pkg.Version, bench.Unknown)
		}
	}
	if commit, err := git(ctx, o.RepoDir, "rev-parse", "HEAD"); err == nil {
		m.FunnelCommit = commit
		status, err := git(ctx, o.RepoDir, "status", "--porcelain", "--untracked-files=no")
		m.FunnelDirty = err == nil && status != ""
	}
	if err := ctx.Err(); err != nil {
		return bench.Machine{}, fmt.Errorf("describe machine: %w", err)
	}
	return m, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return "", err
	}
	return strings.TrimSpace(out.String()), nil
}

// parseCPUModel finds the CPU model in /proc/cpuinfo: "model name" on x86,
// "Model" or "Hardware" on arm, or the implementer and part numbers.
func parseCPUModel(b []byte) string {
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if _, dup := fields[k]; !dup && v != "" {
			fields[k] = v
		}
	}
	for _, k := range []string{"model name", "Model", "Hardware", "cpu model"} {
		if v := fields[k]; v != "" {
			return v
		}
	}
	if impl, part := fields["CPU implementer"], fields["CPU part"]; impl != "" && part != "" {
		return fmt.Sprintf("CPU implementer %s, part %s", impl, part)
	}
	return ""
}

// parseMemTotal returns MemTotal from /proc/meminfo in bytes (0 if absent).
func parseMemTotal(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || n < 0 {
				return 0
			}
			if len(f) >= 3 && strings.EqualFold(f[2], "kB") {
				n *= 1024
			}
			return n
		}
	}
	return 0
}

// parseOSRelease returns PRETTY_NAME (or NAME VERSION) from os-release.
func parseOSRelease(b []byte) string {
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `'"`)
		}
		vals[k] = v
	}
	if v := vals["PRETTY_NAME"]; v != "" {
		return v
	}
	return strings.TrimSpace(vals["NAME"] + " " + vals["VERSION"])
}
