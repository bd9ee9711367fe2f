//go:build !unix

package engine

import "os"

// ProcessAlive reports whether a process with pid exists on this host. On
// Windows FindProcess opens the process and fails when there is none; where
// it cannot tell (it always succeeds), the process counts as alive: callers
// then err on the side of leaving things alone (a lease, a workspace).
func ProcessAlive(pid int) bool {
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
