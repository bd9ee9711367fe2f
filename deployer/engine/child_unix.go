//go:build unix && !linux

package engine

import (
	"os/exec"
	"syscall"
)

// startChild has no parent-death signal here (it is Linux-only): a child
// outlives a killed parent until it next writes to the closed pipe, or its
// work ends.
func startChild(cmd *exec.Cmd, _ syscall.Signal) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	return cmd.Start()
}
