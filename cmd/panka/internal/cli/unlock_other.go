//go:build !unix

package cli

import "os"

// processAlive reports whether a process with pid exists on this host. On
// Windows FindProcess opens the process and fails when there is none; where
// it cannot tell (it always succeeds), the process counts as alive, so
// unlock errs on the side of not breaking a lease.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}
