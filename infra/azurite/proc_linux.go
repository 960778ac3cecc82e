//go:build linux

package azurite

import "syscall"

// procAttr puts Azurite in a process group of its own, so Stop can end the
// whole group, and has the kernel kill it if the process that started it
// dies without calling Stop (a crashed or killed test binary).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
