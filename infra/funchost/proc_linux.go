package funchost

import "syscall"

// handlerProcAttr puts a handler in its own process group (so a stop
// reaches its children) and has the kernel kill it if the host dies without
// stopping it, so no handler outlives a crashed host.
func handlerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
