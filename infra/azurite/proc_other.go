//go:build !unix

package azurite

import (
	"os"
	"syscall"
)

// Without process groups, Stop ends the node process itself.

func procAttr() *syscall.SysProcAttr { return nil }

func terminate(pid int) error { return kill(pid) }

func kill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil // gone
	}
	return p.Kill()
}
