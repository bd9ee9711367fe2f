//go:build unix

package pulumirun

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts the CLI in its own process group, so a terminal's
// Ctrl-C reaches panka (which cancels the CLI gracefully) and not the CLI
// and its plugins directly.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
