package engine

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
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

// TestEnded: a process is proved ended only from its own boot and pid
// namespace, and only when its pid is free (or a zombie) or taken by a
// process that started at another tick (reused); a running one, and an
// incarnation that is incomplete or of another boot or namespace, is not.
func TestEnded(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	inc, ok := IncarnationOf(pid)
	if !ok {
		t.Fatal("IncarnationOf a running child: /proc did not tell it")
	}
	self, ok := Self()
	if !ok || self.Boot != inc.Boot || self.PIDNamespace != inc.PIDNamespace || self.Start <= 0 || inc.Start < self.Start {
		t.Fatalf("Self = %+v, %v; the child's = %+v", self, ok, inc)
	}
	if Ended(inc, pid) {
		t.Error("a running process is reported ended")
	}
	reused := inc
	reused.Start--
	if !Ended(reused, pid) {
		t.Error("a pid now held by a process that started at another tick is not reported ended")
	}
	for name, other := range map[string]Incarnation{
		"another boot":      {Boot: "00000000-0000-0000-0000-000000000000", PIDNamespace: inc.PIDNamespace, Start: inc.Start - 1},
		"another namespace": {Boot: inc.Boot, PIDNamespace: "pid:[1]", Start: inc.Start - 1},
		"no start":          {Boot: inc.Boot, PIDNamespace: inc.PIDNamespace},
	} {
		if Ended(other, pid) {
			t.Errorf("%s: reported ended", name)
		}
	}
	if Ended(self, os.Getpid()) {
		t.Error("this very process is reported ended")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !Ended(inc, pid) {
		t.Error("a killed process is not reported ended")
	}
	if Ended(Incarnation{Boot: "x", PIDNamespace: inc.PIDNamespace, Start: inc.Start}, pid) {
		t.Error("a killed process of another boot is reported ended")
	}
}

// TestBootEnded: a process of another boot of this machine (its machine
// id) whose lease was last renewed before this boot started has ended;
// not when it is this boot, another machine, a machine id is missing, or
// the renewal is after this boot started, or dated after now.
func TestBootEnded(t *testing.T) {
	self, ok := Self()
	up, upOK := Uptime()
	if !ok || !upOK || self.Machine == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("this host does not tell its boot, uptime or machine id: %+v, uptime %v", self, up)
		}
		t.Skip("this host does not tell its boot, uptime or machine id (/etc/machine-id)")
	}
	now := time.Now()
	bootStart := now.Add(-up)
	earlier := Incarnation{Boot: "2f0e9c1a-5b7d-4e3f-8a6b-1c2d3e4f5a6b", PIDNamespace: self.PIDNamespace, Start: 4242, Machine: self.Machine}
	with := func(f func(*Incarnation)) Incarnation { inc := earlier; f(&inc); return inc }
	for _, tc := range []struct {
		name string
		inc  Incarnation
		seen time.Time
		want bool
	}{
		{"renewed before this boot", earlier, bootStart.Add(-time.Minute), true},
		{"renewed within the clock margin of this boot's start", earlier, bootStart.Add(-time.Second), false},
		{"renewed after this boot started", earlier, bootStart.Add(up / 2), false},
		{"renewed after now", earlier, now.Add(time.Minute), false},
		{"never renewed", earlier, time.Time{}, false},
		{"this boot", with(func(i *Incarnation) { i.Boot = self.Boot }), bootStart.Add(-time.Minute), false},
		{"no machine id", with(func(i *Incarnation) { i.Machine = "" }), bootStart.Add(-time.Minute), false},
		{"another machine", with(func(i *Incarnation) { i.Machine = "0123456789abcdef0123456789abcdef" }), bootStart.Add(-time.Minute), false},
	} {
		if got := BootEnded(tc.inc, tc.seen, now); got != tc.want {
			t.Errorf("%s: BootEnded = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A hash, never the id itself (machine-id(5): confidential).
	if id, _ := os.ReadFile("/etc/machine-id"); len(self.Machine) != 32 || (len(id) > 0 && self.Machine == strings.TrimSpace(string(id))) {
		t.Errorf("Machine %q is not a 32-digit hash of /etc/machine-id", self.Machine)
	}
}

// TestSelfHelperProcess prints what Self says of the process it runs in
// (for TestSelfWithAForeignProc).
func TestSelfHelperProcess(t *testing.T) {
	if os.Getenv("PANKA_SELF_HELPER") != "1" {
		return
	}
	_, ok := Self()
	_, started := startTicks(os.Getpid())
	fmt.Printf("pid=%d self=%v start=%v\n", os.Getpid(), ok, started)
	os.Exit(0)
}

// TestSelfWithAForeignProc: a process in its own pid namespace that sees
// another namespace's /proc (a container with the host's /proc) found
// another process under its pid there and recorded that one's
// incarnation as its own; a run there took a live holder's lease for a
// dead one's. Self now says it cannot tell, and nothing is read of a pid
// from that /proc. Here: unshare a pid namespace without mounting /proc.
func TestSelfWithAForeignProc(t *testing.T) {
	var out []byte
	var err error
	for _, args := range [][]string{{"--pid", "--fork"}, {"--user", "--map-root-user", "--pid", "--fork"}} {
		cmd := exec.Command("unshare", append(args, os.Args[0], "-test.run=^TestSelfHelperProcess$")...)
		cmd.Env = append(os.Environ(), "PANKA_SELF_HELPER=1")
		if out, err = cmd.Output(); err == nil {
			break
		}
	}
	if err != nil {
		t.Skipf("this host does not let a test make a pid namespace (unshare): %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != "pid=1 self=false start=false" {
		t.Fatalf("in a pid namespace seeing another's /proc: %q, want pid=1 self=false start=false", got)
	}
	if _, ok := Self(); !ok {
		t.Error("Self is not known with this process's own /proc")
	}
}
