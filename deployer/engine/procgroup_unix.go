//go:build unix

package engine

import (
	"os/exec"
	"syscall"
)

// OwnProcessGroup starts cmd in its own process group, so a Ctrl-C on the
// terminal reaches panka (which forwards it, or cancels gracefully) and not
// the child and its plugins directly.
func OwnProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
