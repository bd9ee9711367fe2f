//go:build unix

package engine

import (
	"errors"
	"syscall"
)

// ProcessAlive reports whether a process with pid exists on this host.
// Signal 0 checks without signalling; EPERM means it exists but belongs to
// another user.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
