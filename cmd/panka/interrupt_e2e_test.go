package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecondInterruptStopsAtOnce: the first Ctrl-C asks a run to stop
// cleanly; a run that cannot (here, reading a --var-file FIFO nobody
// writes) ends at the second, with exit code 130 and what it leaves behind.
func TestSecondInterruptStopsAtOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("waits for the signal handler through /proc (Linux only)")
	}
	r := newE2ERepo(t, embedded)
	fifo := filepath.Join(t.TempDir(), "vars.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := r.cmd(nil, "plan", "--stack", "shop", "--environment", "dev", "--var-file", fifo)
	var errOut syncBuffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Once panka handles SIGINT (SigCgt in /proc/PID/status), interrupts
	// until it ends: two that arrive before panka takes the first count as
	// one (signals do not queue), so one interrupt every 200 ms.
	waitFor(t, 20*time.Second, func() bool { return catches(cmd.Process.Pid, syscall.SIGINT) })
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			cmd.Process.Signal(syscall.SIGINT)
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("panka still runs after repeated interrupts; stderr: %s", errOut.String())
		}
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit code %d, want 130; stderr: %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "Second Ctrl-C: panka stops now, without waiting for the run to end cleanly") ||
		!strings.Contains(errOut.String(), "panka unlock removes it") {
		t.Errorf("stderr: %s", errOut.String())
	}
}

// catches reports whether process pid has a handler for sig.
func catches(pid int, sig syscall.Signal) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if hex, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err == nil && mask&(1<<(uint(sig)-1)) != 0
		}
	}
	return false
}
