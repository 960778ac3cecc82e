//go:build !linux

package bench

import (
	"fmt"
	"os"
	"runtime"
)

// maxRSSBytes is only implemented on Linux, where benchmarks run: other
// systems report ru_maxrss in other units.
func maxRSSBytes(*os.ProcessState) (int64, error) {
	return 0, fmt.Errorf("%w: peak RSS from a process state is not implemented on %s", ErrBadMeasurement, runtime.GOOS)
}
