// Package procstat is the one reader of Linux's /proc for the local tools:
// a process's state, start time, CPU time and peak resident set size, the
// reset of that peak, and the machine's load average. The local Functions
// host (infra/funchost) samples its handlers with it, the benchmark runner
// measures them with it, and `funnel up`/`funnel down` tell a live process
// from a recycled PID with it. Parsing is left to
// github.com/prometheus/procfs.
package procstat

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/prometheus/procfs"
)

// DefaultDir is where Linux mounts the proc file system.
const DefaultDir = procfs.DefaultMountPoint

// ErrUnavailable is returned when the proc file system cannot be read at
// all (not Linux, or not mounted).
var ErrUnavailable = errors.New("procstat: no proc file system")

// Reader reads one proc file system.
type Reader struct {
	dir string
	fs  procfs.FS
}

// New returns a Reader of the proc file system at dir (DefaultDir when
// empty); tests pass a folder of their own. A dir that cannot be read is an
// error wrapping ErrUnavailable.
func New(dir string) (Reader, error) {
	if dir == "" {
		dir = DefaultDir
	}
	fs, err := procfs.NewFS(dir)
	if err != nil {
		return Reader{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return Reader{dir: dir, fs: fs}, nil
}

// Default reads /proc; on a machine without one every call fails with an
// error wrapping ErrUnavailable.
func Default() Reader {
	r, err := New("")
	if err != nil {
		return Reader{dir: DefaultDir}
	}
	return r
}

// Stat is what /proc/<pid>/stat says about a process.
type Stat struct {
	PID int
	// State is the one-letter state: R, S, D, Z (zombie), X (dead), ...
	State string
	// StartTicks is when the process started, in clock ticks after boot:
	// with the PID, it names one process (a recycled PID has another).
	StartTicks uint64
	// CPUSeconds is user plus system time.
	CPUSeconds float64
}

// Gone reports whether the process has exited (a zombie or dead entry).
func (s Stat) Gone() bool { return s.State == "Z" || s.State == "X" }

func (r Reader) proc(pid int) (procfs.Proc, error) {
	if r.fs == (procfs.FS{}) {
		return procfs.Proc{}, fmt.Errorf("%w at %s", ErrUnavailable, r.dir)
	}
	p, err := r.fs.Proc(pid)
	if err != nil {
		return procfs.Proc{}, fmt.Errorf("procstat: process %d: %w", pid, err)
	}
	return p, nil
}

// Stat reads pid's state, start time and CPU time. A process that does not
// exist is an error wrapping os.ErrNotExist.
func (r Reader) Stat(pid int) (Stat, error) {
	p, err := r.proc(pid)
	if err != nil {
		return Stat{}, err
	}
	s, err := p.Stat()
	if err != nil {
		return Stat{}, fmt.Errorf("procstat: process %d: stat: %w", pid, err)
	}
	return Stat{PID: pid, State: s.State, StartTicks: s.Starttime, CPUSeconds: s.CPUTime()}, nil
}

// PeakRSS reads pid's peak resident set size (VmHWM) in bytes: the peak
// since the process started or since the last ResetPeakRSS.
func (r Reader) PeakRSS(pid int) (int64, error) {
	p, err := r.proc(pid)
	if err != nil {
		return 0, err
	}
	s, err := p.NewStatus()
	if err != nil {
		return 0, fmt.Errorf("procstat: process %d: status: %w", pid, err)
	}
	if s.VmHWM == 0 {
		return 0, fmt.Errorf("procstat: process %d: no VmHWM in its status", pid)
	}
	return int64(s.VmHWM), nil
}

// ResetPeakRSS sets pid's peak RSS back to its current RSS (writing 5 to
// /proc/<pid>/clear_refs), so that the next PeakRSS is the peak of what
// happened since. It fails for another user's process and on kernels
// without the feature; the caller must then say that its peak is the
// process's lifetime peak.
func (r Reader) ResetPeakRSS(pid int) error {
	if err := os.WriteFile(filepath.Join(r.dir, strconv.Itoa(pid), "clear_refs"), []byte("5"), 0); err != nil {
		return fmt.Errorf("procstat: reset the peak RSS of process %d: %w", pid, err)
	}
	return nil
}

// LoadAverage reads the 1, 5 and 15 minute load averages.
func (r Reader) LoadAverage() ([3]float64, error) {
	if r.fs == (procfs.FS{}) {
		return [3]float64{}, fmt.Errorf("%w at %s", ErrUnavailable, r.dir)
	}
	l, err := r.fs.LoadAvg()
	if err != nil {
		return [3]float64{}, fmt.Errorf("procstat: load average: %w", err)
	}
	return [3]float64{l.Load1, l.Load5, l.Load15}, nil
}

// Command is a process's executable and command line.
type Command struct {
	PID        int
	Executable string   // "" when it cannot be read (another user's process)
	Args       []string // the command line; nil when it cannot be read
}

// Commands lists every process's executable and command line. A process
// that exits meanwhile, or whose entries cannot be read, is listed with
// what could be read.
func (r Reader) Commands() ([]Command, error) {
	if r.fs == (procfs.FS{}) {
		return nil, fmt.Errorf("%w at %s", ErrUnavailable, r.dir)
	}
	procs, err := r.fs.AllProcs()
	if err != nil {
		return nil, fmt.Errorf("procstat: list processes: %w", err)
	}
	out := make([]Command, 0, len(procs))
	for _, p := range procs {
		c := Command{PID: p.PID}
		c.Executable, _ = p.Executable()
		c.Args, _ = p.CmdLine()
		out = append(out, c)
	}
	return out, nil
}
