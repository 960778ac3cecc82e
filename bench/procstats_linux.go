package bench

import (
	"fmt"
	"os"
	"syscall"
)

// maxRSSBytes reads getrusage's ru_maxrss, which Linux reports in KiB.
func maxRSSBytes(ps *os.ProcessState) (int64, error) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0, fmt.Errorf("%w: no resource usage in process state", ErrBadMeasurement)
	}
	return int64(ru.Maxrss) * 1024, nil
}
