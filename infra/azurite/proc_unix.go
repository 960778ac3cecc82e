//go:build unix

package azurite

import "syscall"

// terminate asks every process in the group led by pid to exit.
func terminate(pid int) error { return signalGroup(pid, syscall.SIGTERM) }

// kill ends every process in the group led by pid.
func kill(pid int) error { return signalGroup(pid, syscall.SIGKILL) }

func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil {
		if err == syscall.ESRCH {
			return nil // the group is gone already
		}
		return err
	}
	return nil
}
