//go:build !unix

package engine

import (
	"os"
	"time"
)

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

// HolderAlive reports whether the process pid that took something at since
// still runs; here, whether it is alive (when it started is not known).
func HolderAlive(pid int, since time.Time) bool { return ProcessAlive(pid) }

// Self returns false: without /proc a process cannot be identified beyond
// its pid.
func Self() (Incarnation, bool) { return Incarnation{}, false }

// IncarnationOf returns false: without /proc a process cannot be
// identified beyond its pid.
func IncarnationOf(pid int) (Incarnation, bool) { return Incarnation{}, false }

// Ended returns false: without /proc a process's end cannot be proved.
func Ended(inc Incarnation, pid int) bool { return false }

// BootEnded returns false: without /proc a boot's end cannot be proved.
func BootEnded(inc Incarnation, lastSeen, now time.Time) bool { return false }

// Uptime returns false: without /proc the machine's uptime is not known.
func Uptime() (time.Duration, bool) { return 0, false }
