//go:build !unix

package engine

import (
	"os/exec"
	"syscall"
)

// startChild starts cmd as is: there are no process groups or parent-death
// signals to set up.
func startChild(cmd *exec.Cmd, _ syscall.Signal) error { return cmd.Start() }
