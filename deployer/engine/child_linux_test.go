package engine

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envParent makes the test binary act as a parent process that starts a
// child with StartChild (see parentMain).
const envParent = "PANKA_ENGINE_TEST_PARENT"

// init keeps the parent's main goroutine on the main thread: Go never
// ends that thread (a goroutine locked to it that exits leaves it parked),
// and the main goroutine may otherwise have moved to another thread by the
// time parentMain runs, leaving the main thread free for the goroutine
// whose thread must end there — it then never did ("thread … did not end",
// seen under load). Locking in init is Go's documented way to keep main on
// the main thread.
func init() {
	if os.Getenv(envParent) == "1" {
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(envParent) == "1" {
		if err := parentMain(); err != nil {
			fmt.Fprintln(os.Stderr, "parent:", err)
			os.Exit(1)
		}
		select {} // until the test kills us
	}
	os.Exit(m.Run())
}

// parentMain starts a child (a shell that echoes one line, then sleeps)
// with StartChild from a goroutine locked to its
// thread, lets that thread end, checks that the child still answers, then
// prints the child's pid. The parent-death signal follows the thread that
// forks, so a child forked from a thread that ends would be signalled here.
func parentMain() error {
	cmd := exec.Command("sh", "-c", `read -r line && echo "$line" && exec sleep 600`)
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	// Keep this goroutine on its thread, so the one below cannot run on the
	// main thread, which Go never ends.
	runtime.LockOSThread()
	started := make(chan error, 1)
	var tid int
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		tid = syscall.Gettid()
		started <- StartChild(cmd, syscall.SIGTERM)
	}()
	if err := <-started; err != nil {
		return err
	}
	if tid == os.Getpid() {
		return fmt.Errorf("the starting goroutine ran on the main thread, which Go never ends")
	}
	task := filepath.Join("/proc/self/task", strconv.Itoa(tid))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(task); os.IsNotExist(err) {
			break // the thread is gone: any parent-death signal has been sent
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("thread %d did not end", tid)
		}
	}
	// A pending SIGTERM kills the shell before its read returns, so an
	// answer means it was not signalled.
	if _, err := io.WriteString(in, "ping\n"); err != nil {
		return fmt.Errorf("child gone after the starting thread ended: %w", err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ping\n" {
		return fmt.Errorf("child gone after the starting thread ended: %q %v", line, err)
	}
	fmt.Println(cmd.Process.Pid)
	return nil
}

// TestStartChildEndsWithItsParent: a child started with StartChild outlives
// the thread that asked for it, and ends when its parent is SIGKILLed (the
// parent cannot forward anything then, and the child's own process group
// keeps a group kill from reaching it).
func TestStartChildEndsWithItsParent(t *testing.T) {
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), envParent+"=1")
	parent.Stderr = os.Stderr
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = parent.Wait()
		close(exited)
	}()
	defer func() {
		_ = parent.Process.Kill()
		<-exited
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	child, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		t.Fatalf("parent reported %q: %v %v", line, err, perr)
	}
	defer func() { _ = syscall.Kill(child, syscall.SIGKILL) }()
	if pgid, err := syscall.Getpgid(child); err != nil || pgid != child {
		t.Errorf("child's process group %d (%v), want its own (%d)", pgid, err, child)
	}

	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); alive(child); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d still runs 15s after its parent was killed", child)
		}
	}
}

// alive reports whether pid runs (a zombie, dead but not yet reaped by
// whoever inherited it, does not).
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}
