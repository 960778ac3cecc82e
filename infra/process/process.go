// Package process answers, for the local tooling (funnel up/down, the
// Azurite launcher, their tests), whether a process still runs: the one
// implementation of that check, with PID-reuse detection where /proc gives
// a start time.
package process

import (
	"os"
	"strconv"
	"strings"

	"github.com/funnelpipe/funnel/infra/procstat"
)

// Alive reports whether pid runs and, when start is not empty, is the
// process that started at that time (StartTime), not a recycled PID. A
// zombie counts as gone. Where the platform cannot tell (no /proc, no
// signals), Alive reports true, so callers keep what might still be in
// use. /proc is read through infra/procstat.
func Alive(pid int, start string) bool {
	if pid <= 0 || !exists(pid) {
		return false
	}
	st, err := procstat.Default().Stat(pid)
	if err != nil {
		return true // no /proc: trust the signal check
	}
	if st.Gone() {
		return false
	}
	return start == "" || start == strconv.FormatUint(st.StartTicks, 10)
}

// StartTime returns pid's start time (clock ticks after boot, from /proc),
// "" when unknown. Store it beside a PID to tell a recycled PID.
func StartTime(pid int) string {
	st, err := procstat.Default().Stat(pid)
	if err != nil {
		return ""
	}
	return strconv.FormatUint(st.StartTicks, 10)
}

// Mentioning returns the PIDs of live processes (zombies excluded, this
// process excluded) whose executable lies under dir or whose command line
// contains it: what tests use to find processes a tool left behind. Without
// /proc the error wraps procstat.ErrUnavailable.
func Mentioning(dir string) ([]int, error) {
	cmds, err := procstat.Default().Commands()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, c := range cmds {
		if c.PID == os.Getpid() {
			continue
		}
		if (strings.HasPrefix(c.Executable, dir) || strings.Contains(strings.Join(c.Args, " "), dir)) && Alive(c.PID, "") {
			pids = append(pids, c.PID)
		}
	}
	return pids, nil
}
