//go:build unix

package process

import (
	"errors"
	"syscall"
)

// exists sends signal 0: the process exists unless that says it does not
// (EPERM means it exists and belongs to someone else).
func exists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
