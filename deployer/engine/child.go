package engine

import (
	"os/exec"
	"syscall"
)

// StartChild starts cmd, a helper that must not outlive this process
// (panka starts panka-engine, panka-engine starts the Pulumi CLI):
//
//   - On Unix the child gets its own process group, so a Ctrl-C on the
//     terminal reaches only panka, which cancels gracefully (the engine gets
//     one SIGINT, Pulumi stops cleanly, panka records the deployment) instead
//     of every process being interrupted at once.
//   - On Linux the kernel sends the child onParentDeath when this process
//     dies, however it dies (SIGKILL included); in its own process group the
//     child would otherwise never learn of it. panka-engine gets SIGTERM,
//     which it handles like Ctrl-C (it cancels Pulumi cleanly, then exits).
//     The Pulumi CLI gets SIGKILL: its parent is gone, so it cannot finish
//     anyway, and a SIGTERM would only make it start writing a checkpoint
//     that the closed output pipe (SIGPIPE) then cuts short, leaving a state
//     file the next run cannot load. Its provider plugins notice the engine
//     is gone by themselves (see deployer/pankalocal).
//
// The caller waits for cmd as usual (cmd.Wait).
func StartChild(cmd *exec.Cmd, onParentDeath syscall.Signal) error {
	return startChild(cmd, onParentDeath)
}
