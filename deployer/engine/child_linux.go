package engine

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// The parent-death signal is sent when the *thread* that forked the child
// exits, not the process. Go ends a thread when a goroutine exits while
// locked to it, so a child forked from an arbitrary goroutine could be
// signalled in the middle of its work. Every child is therefore forked from
// one goroutine locked to its thread for the life of the process.
var forker struct {
	once sync.Once
	reqs chan forkRequest
}

type forkRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func startChild(cmd *exec.Cmd, onParentDeath syscall.Signal) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = onParentDeath
	forker.once.Do(func() {
		forker.reqs = make(chan forkRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must outlive every child
			for r := range forker.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	forker.reqs <- forkRequest{cmd: cmd, done: done}
	return <-done
}
