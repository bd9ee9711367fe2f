package main

import (
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"panka.dev/panka/statestore/testserver"
)

// TestSecondInterruptStopsAtOnce: the first Ctrl-C asks a run to stop
// cleanly, and says so at once; a run that cannot (here, state push reading
// a FIFO whose writer never writes; a --var-file gives such a read up at
// the first signal) ends at the second, with exit code 130 and what it
// leaves behind.
func TestSecondInterruptStopsAtOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a FIFO as the file state push reads (Linux only)")
	}
	r := newE2ERepo(t, embedded)
	fifo := filepath.Join(t.TempDir(), "state.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := r.cmd(nil, "state", "push", "--stack", "shop", "--environment", "dev", fifo)
	var errOut syncBuffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Once panka reads the FIFO, it handles SIGINT: its handler is set
	// before any command runs. (SigCgt in /proc/PID/status is no sign of
	// it: the Go runtime catches SIGINT from the start, and one that came
	// before panka's handler ended panka at once, under load in CI.) A
	// writer that is opened (non-blocking: it fails until a reader has
	// the FIFO open) and never writes keeps panka's read waiting.
	var writer int
	waitFor(t, 20*time.Second, func() bool {
		fd, err := syscall.Open(fifo, syscall.O_WRONLY|syscall.O_NONBLOCK, 0)
		writer = fd
		return err == nil
	})
	defer syscall.Close(writer)
	// The first one says at once what it does, while the run still goes on.
	cmd.Process.Signal(syscall.SIGINT)
	waitFor(t, 20*time.Second, func() bool {
		return strings.Contains(errOut.String(), "Ctrl-C: stopping; a second Ctrl-C stops panka at once.")
	})
	select {
	case <-done:
		t.Fatalf("panka ended at the first interrupt although its read cannot be interrupted; stderr: %s", errOut.String())
	default:
	}
	// Then interrupts until it ends: two that arrive before panka takes
	// the first count as one (signals do not queue), so one every 200 ms.
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

// TestInterruptDuringApplySaysWhatItDoes: during a deployment whose engine
// does not stop (here stopped with SIGSTOP, as one blocked on a hung state
// server is), the first Ctrl-C says at once that panka waits for the engine
// to finish its step and that a second Ctrl-C stops at once; it said
// nothing for up to two minutes. The second ends panka (130) naming the
// deployment, what may be half-done and the commands that recover, which
// then work.
func TestInterruptDuringApplySaysWhatItDoes(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the run's processes through /proc (Linux only)")
	}
	r := newE2ERepo(t, embedded)
	marker := runMarker()
	t.Cleanup(func() { killAll(marker) })
	cmd := r.cmd([]string{"PANKALOCAL_DELAY=60s", marker}, applyDev...)
	var errOut syncBuffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, 90*time.Second, func() bool { return strings.Contains(errOut.String(), "creating") })
	engine := pidOf(t, runProcesses(marker), "panka-engine")
	signal(t, engine, syscall.SIGSTOP)
	signal(t, cmd.Process.Pid, syscall.SIGINT)
	first := "Ctrl-C: stopping the apply of shop/dev cleanly: waiting for the engine to finish the step in progress (it is killed if it has not stopped within 2m00s), " +
		"then the run is recorded as interrupted and the lock released. A second Ctrl-C stops panka at once"
	waitFor(t, 20*time.Second, func() bool { return strings.Contains(errOut.String(), first) })
	select {
	case err := <-done:
		t.Fatalf("panka ended (%v) at the first interrupt while its engine was stopped; stderr:\n%s", err, errOut.String())
	default:
	}
	signal(t, cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("panka still runs 20s after the second interrupt; stderr:\n%s", errOut.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit code %d after the second interrupt, want 130; stderr:\n%s", code, errOut.String())
	}
	for _, want := range []string{
		"Second Ctrl-C: panka stops now, without waiting for the apply of shop/dev to end cleanly: the run is not recorded, and resources it was changing may be left half-done.",
		"panka unlock --stack shop --environment dev removes it",
		"panka plan --stack shop --environment dev shows what is left to do",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut.String())
		}
	}
	// The engine (its parent gone) stops once it runs again.
	signal(t, engine, syscall.SIGCONT)
	if left := waitGone(marker, 60*time.Second); len(left) > 0 {
		t.Fatalf("processes of the run left: %s", describe(left))
	}
	// What it said to do works.
	r.mustPanka(nil, "unlock", "--stack", "shop", "--environment", "dev")
	r.mustPanka(nil, applyDev...)
}

// TestInterruptWhileRecording: a SIGTERM (a CI job cancelled) that comes
// once the engine run is over, while the deployment is being recorded
// (here its history write takes seconds), changes nothing: the run is
// recorded as it ended, the lock released, exit 0. What panka said at the
// signal was that it waited for the engine to finish the step in progress
// and would record the run as interrupted; it now says that the run has
// finished and is being recorded.
func TestInterruptWhileRecording(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	r := newE2ERepo(t, servers)
	proxy := testserver.NewFaultProxy(t, testserver.S3(t).Endpoint)
	proxy.Set(testserver.FaultRule{Method: "PUT", Path: "/stacks/shop/dev/history/", Nth: 1, Fault: testserver.FaultDelay, Delay: 5 * time.Second})
	cmd := r.cmd([]string{"PANKA_BACKEND_ENDPOINT=" + proxy.URL}, applyDev...)
	var errOut syncBuffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, 120*time.Second, func() bool { return proxy.Faults() > 0 })
	signal(t, cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("panka still runs 60s after SIGTERM; stderr:\n%s", errOut.String())
	}
	want := "SIGTERM: the apply of shop/dev has finished running; panka is recording how it ended (history, then state) and then releases the lock"
	if code := cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(errOut.String(), want) || strings.Contains(errOut.String(), "recorded as interrupted") {
		t.Fatalf("exit %d, want 0 and %q; stderr:\n%s", code, want, errOut.String())
	}
	proxy.Set()
	if out := r.mustPanka([]string{"PANKA_BACKEND_ENDPOINT=" + proxy.URL}, "status", "--stack", "shop", "--environment", "dev"); !strings.Contains(out, "shop/dev: deployed (serial 1)") || !strings.Contains(out, "lock:      free") {
		t.Fatalf("status after the apply:\n%s", out)
	}
}
