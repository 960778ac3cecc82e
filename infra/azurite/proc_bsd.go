//go:build unix && !linux

package azurite

import "syscall"

// procAttr puts Azurite in a process group of its own, so Stop can end the
// whole group.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
