//go:build unix && !linux

package funchost

import "syscall"

// handlerProcAttr puts a handler in its own process group.
func handlerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
