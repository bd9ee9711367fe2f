package engine

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestProcessAliveZombie: a child that has ended but was not reaped yet (a
// zombie: what a killed run's processes become under a parent that does
// not reap) is not alive; a running one is, and so is this process.
func TestProcessAliveZombie(t *testing.T) {
	if !ProcessAlive(os.Getpid()) {
		t.Fatal("this process is not alive")
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !ProcessAlive(pid) {
		t.Fatal("a running child is not alive")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Not waited for: the child stays a zombie until cmd.Wait.
	deadline := time.Now().Add(10 * time.Second)
	for !zombie(pid) {
		if time.Now().After(deadline) {
			t.Fatal("the killed child never showed as a zombie")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ProcessAlive(pid) {
		t.Error("a zombie is reported alive")
	}
	cmd.Wait()
	if ProcessAlive(pid) {
		t.Error("a reaped child is reported alive")
	}
}

// TestHolderAlive: a running process is the holder of what it took after
// it started, not of what was taken before it started (its pid reused).
func TestHolderAlive(t *testing.T) {
	before := time.Now().Add(-time.Minute)
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	start, ok := processStart(pid)
	if !ok || start.Before(before) || start.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("processStart = %v, %v; want about now", start, ok)
	}
	if !HolderAlive(pid, time.Now()) {
		t.Error("a process is not the holder of what it took after it started")
	}
	if HolderAlive(pid, before) {
		t.Error("a process that started after the lease was taken is reported its holder")
	}
	if !HolderAlive(os.Getpid(), time.Time{}) {
		t.Error("no time given: alive is enough")
	}
}
