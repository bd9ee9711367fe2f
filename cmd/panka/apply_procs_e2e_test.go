package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestApplyLeavesNoProcessBehind: however an apply ends — panka SIGKILLed,
// panka interrupted (Ctrl-C), panka-engine SIGKILLed — while the provider
// holds a Create in flight, every process of the run (panka, panka-engine,
// the Pulumi CLI, pulumi-resource-pankalocal; each in its own process
// group) is gone within seconds, and the next apply recovers and leaves
// nothing behind either.
func TestApplyLeavesNoProcessBehind(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("lists a run's processes through /proc, and only Linux has the parent-death signal panka relies on")
	}
	tests := []struct {
		name string
		stop func(t *testing.T, panka int, procs map[int]string)
	}{
		{"panka killed", func(t *testing.T, panka int, _ map[int]string) { signal(t, panka, syscall.SIGKILL) }},
		{"panka interrupted", func(t *testing.T, panka int, _ map[int]string) { signal(t, panka, syscall.SIGINT) }},
		{"engine killed", func(t *testing.T, _ int, procs map[int]string) {
			signal(t, pidOf(t, procs, "panka-engine"), syscall.SIGKILL)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newE2ERepo(t, embedded)
			gate := filepath.Join(t.TempDir(), "gate")
			env := []string{"PANKALOCAL_GATE=" + gate, "PANKA_LOCKS_TTL=8", "PANKA_LOCKS_HEARTBEAT=2"}
			marker := runMarker()
			cmd := r.cmd(append(env, marker), applyDev...)
			var out, errOut syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() {
				_ = cmd.Wait()
				close(exited)
			}()
			t.Cleanup(func() { killAll(marker) })

			var procs map[int]string
			waitFor(t, 90*time.Second, func() bool {
				procs = runProcesses(marker)
				return strings.Contains(errOut.String(), "creating") &&
					has(procs, "panka") && has(procs, "panka-engine") && has(procs, "pulumi") && has(procs, "pulumi-resource-pankalocal")
			})
			tt.stop(t, cmd.Process.Pid, procs)
			if left := waitGone(marker, 15*time.Second); len(left) > 0 {
				t.Fatalf("processes of the run still alive 15s after it was stopped: %s (before: %s)\nstderr:\n%s",
					describe(left), describe(procs), errOut.String())
			}
			<-exited

			if err := os.WriteFile(gate, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			marker = runMarker()
			stdout, stderr, code := r.panka(append(env, marker), append(applyDev, "--lock-timeout", "1m")...)
			if code != 0 || !strings.Contains(stdout, "succeeded") {
				t.Fatalf("apply after the stopped one: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if _, err := os.Stat(filepath.Join(r.dir, ".panka/local/shop/dev/web.json")); err != nil {
				t.Fatalf("web manifest after the recovery: %v", err)
			}
			if left := waitGone(marker, 15*time.Second); len(left) > 0 {
				t.Fatalf("the recovery apply left processes behind: %s", describe(left))
			}
		})
	}
}

var runs atomic.Int64

// runMarker is an environment variable every process of one run inherits
// (panka → panka-engine → pulumi → provider), so the run's processes are
// found even after they were re-parented.
func runMarker() string {
	return fmt.Sprintf("PANKA_E2E_RUN=%d-%d", os.Getpid(), runs.Add(1))
}

// runProcesses returns the live processes (pid → command name) whose
// environment holds marker. Zombies count as gone: they run nothing.
func runProcesses(marker string) map[int]string {
	procs := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	want := []byte(marker + "\x00")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !(bytes.HasPrefix(env, want) || bytes.Contains(env, append([]byte{0}, want...))) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		procs[pid] = filepath.Base(argv0)
	}
	return procs
}

// waitGone polls until no process of the run is left and returns those
// still alive at the deadline.
func waitGone(marker string, d time.Duration) map[int]string {
	deadline := time.Now().Add(d)
	for {
		left := runProcesses(marker)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killAll ends what a failed test left of its runs, by pid.
func killAll(marker string) {
	// Freeze them all first, panka before the rest: killed one by one (in
	// map order), a panka still running for a moment saw its engine die,
	// recorded the run and released the lease, which a machine that dies
	// does not do (TestApplyKilledThenRecoversAfterExpiry then found the
	// lease free, now and then under load).
	procs := runProcesses(marker)
	signal := func(sig syscall.Signal, panka bool) {
		for pid, name := range procs {
			if (name == "panka") == panka {
				_ = syscall.Kill(pid, sig)
			}
		}
	}
	signal(syscall.SIGSTOP, true)
	signal(syscall.SIGSTOP, false)
	signal(syscall.SIGKILL, true)
	signal(syscall.SIGKILL, false)
}

func has(procs map[int]string, name string) bool {
	for _, n := range procs {
		if n == name {
			return true
		}
	}
	return false
}

func pidOf(t *testing.T, procs map[int]string, name string) int {
	t.Helper()
	for pid, n := range procs {
		if n == name {
			return pid
		}
	}
	t.Fatalf("no %s among %s", name, describe(procs))
	return 0
}

func signal(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Signal(sig)
	}
	if err != nil {
		t.Fatalf("signal %d: %v", pid, err)
	}
}

func describe(procs map[int]string) string {
	var s []string
	for pid, n := range procs {
		s = append(s, fmt.Sprintf("%d %s", pid, n))
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// TestApplyWaitsForAKilledRunsStoppingPulumi: panka alone killed, not its
// engine, while Pulumi creates: the engine stops that Pulumi cleanly,
// which lasts as long as the resource operations in flight (here the old
// Pulumi is held stopped, SIGSTOP, to make it last). The next apply takes
// the dead run's lease over and finds that Pulumi still holding the
// stack's Pulumi lock: without --lock-timeout it is refused, naming the
// pid and --lock-timeout; with it, it waits for that Pulumi to end (once
// resumed) and deploys. It was refused either way and had to be re-run.
func TestApplyWaitsForAKilledRunsStoppingPulumi(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("lists a run's processes through /proc, and only Linux has the parent-death signal panka relies on")
	}
	r := newE2ERepo(t, embedded)
	env := []string{"PANKALOCAL_DELAY=30s"}
	marker := runMarker()
	cmd := r.cmd(append(env, marker), applyDev...)
	var first syncBuffer
	cmd.Stdout, cmd.Stderr = &first, &first
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killAll(marker) })
	var procs map[int]string
	waitFor(t, 90*time.Second, func() bool {
		procs = runProcesses(marker)
		return r.creatingLocked(first.String()) && has(procs, "pulumi")
	})
	pulumi := pidOf(t, procs, "pulumi")
	signal(t, pulumi, syscall.SIGSTOP)
	t.Cleanup(func() { _ = syscall.Kill(pulumi, syscall.SIGCONT) })
	signal(t, cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()

	busy := fmt.Sprintf("the Pulumi lock on stack \"shop-dev\" is held by pulumi pid %d on this host", pulumi)
	_, stderr, code := r.panka(nil, applyDev...)
	if code != 3 || !strings.Contains(stderr, busy) || !strings.Contains(stderr, "or re-run with --lock-timeout (e.g. --lock-timeout 10m), which waits for it") {
		t.Fatalf("apply while the killed run's Pulumi still stops: exit %d, want it refused as locked (3) naming pid %d and --lock-timeout\n%s", code, pulumi, stderr)
	}

	next := r.cmd(nil, append(applyDev, "--lock-timeout", "2m")...)
	var out, errOut syncBuffer
	next.Stdout, next.Stderr = &out, &errOut
	if err := next.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = next.Process.Kill() })
	waiting := fmt.Sprintf("for pulumi pid %d of an earlier run of shop/dev to end", pulumi)
	waitFor(t, 90*time.Second, func() bool { return strings.Contains(errOut.String(), waiting) })
	signal(t, pulumi, syscall.SIGCONT)
	if err := next.Wait(); err != nil || !strings.Contains(out.String(), "succeeded") {
		t.Fatalf("apply --lock-timeout 2m after the killed run's Pulumi ended: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	if _, err := os.Stat(filepath.Join(r.dir, ".panka/local/shop/dev/web.json")); err != nil {
		t.Fatalf("web manifest after the apply: %v", err)
	}
}
