package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, 100 on
// every Linux architecture Go supports.
const userHZ = 100

// ReadProcStats reads a running process's CPU time (user plus system) and
// peak resident set size (VmHWM) from procDir ("/proc" on Linux), for a
// runner that samples handler instances before they exit. A missing process
// or an unreadable file is an error.
func ReadProcStats(procDir string, pid int) (cpuSeconds float64, peakRSSBytes int64, err error) {
	dir := filepath.Join(procDir, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0, 0, fmt.Errorf("read process stats: %w", err)
	}
	if cpuSeconds, err = parseProcStatCPU(stat); err != nil {
		return 0, 0, fmt.Errorf("read process stats of %d: %w", pid, err)
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return 0, 0, fmt.Errorf("read process stats: %w", err)
	}
	if peakRSSBytes, err = parseVmHWM(status); err != nil {
		return 0, 0, fmt.Errorf("read process stats of %d: %w", pid, err)
	}
	return cpuSeconds, peakRSSBytes, nil
}

// parseProcStatCPU returns utime+stime from a /proc/<pid>/stat line. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseProcStatCPU(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: malformed /proc stat line", ErrBadMeasurement)
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state(3) ppid(4) ... utime(14) stime(15), so utime is
	// f[11] and stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: short /proc stat line", ErrBadMeasurement)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%w: bad CPU times %q %q in /proc stat line", ErrBadMeasurement, f[11], f[12])
	}
	return float64(utime+stime) / userHZ, nil
}

// parseVmHWM returns VmHWM from /proc/<pid>/status in bytes.
func parseVmHWM(b []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "VmHWM:" && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || kb < 0 {
				return 0, fmt.Errorf("%w: bad VmHWM %q", ErrBadMeasurement, f[1])
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("%w: no VmHWM in /proc status", ErrBadMeasurement)
}

// InstanceStatsFromProcessState gives an exited handler process's CPU time
// and peak RSS from what os/exec's Wait recorded (getrusage), the exact
// figures once a process is gone.
func InstanceStatsFromProcessState(app, instance string, ps *os.ProcessState) (InstanceStats, error) {
	if ps == nil {
		return InstanceStats{}, fmt.Errorf("%w: instance %s has no process state (not waited for?)", ErrBadMeasurement, instance)
	}
	rss, err := maxRSSBytes(ps)
	if err != nil {
		return InstanceStats{}, fmt.Errorf("instance %s: %w", instance, err)
	}
	return InstanceStats{
		App: app, Instance: instance,
		CPUSeconds:   (ps.UserTime() + ps.SystemTime()).Seconds(),
		PeakRSSBytes: rss,
	}, nil
}
