package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/locker"
	"panka.dev/panka/locker/local"
	"panka.dev/panka/locker/lockertest"
)

// lockTestFactory returns a Factory on a fresh git repository (local
// backend) with test streams and the given environment.
func lockTestFactory(t *testing.T, env ...string) (*Factory, string, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	repo := t.TempDir()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut := Test()
	f := NewFactory(ios)
	f.Getwd = func() (string, error) { return repo, nil }
	f.Home = func() (string, error) { return home, nil }
	env = append([]string{"HOME=" + home, "USER=os-user"}, env...)
	f.Environ = func() []string { return env }
	return f, repo, out, errOut
}

func lockWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

var alice = locker.Info{Key: locker.Key("app", "prod"), LockedBy: "alice@example.com",
	Metadata: locker.Metadata{Hostname: "host-a", PID: 42, Operation: "apply", Commit: "0123456789abcdef0123456789abcdef01234567"}}

// onFakeClock puts f on a fake clock and returns it, f's configuration and
// its locker.
func onFakeClock(t *testing.T, f *Factory) (*lockertest.Clock, *config.Resolved, locker.Locker) {
	t.Helper()
	// The real time (in whole seconds, as DynamoDB stores): leases are
	// compared with when local processes started.
	return onFakeClockAt(t, f, time.Now().Truncate(time.Second))
}

// onFakeClockAt is onFakeClock starting at start.
func onFakeClockAt(t *testing.T, f *Factory, start time.Time) (*lockertest.Clock, *config.Resolved, locker.Locker) {
	t.Helper()
	clk := lockertest.NewClock(start)
	f.Now, f.FakeClock = clk.Now, true
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	l, err := f.Locker(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return clk, cfg, l
}

// aliceHolds returns a lock test factory and its configuration, with
// app/prod held by alice for an hour.
func aliceHolds(t *testing.T) (*Factory, *config.Resolved) {
	t.Helper()
	ctx := context.Background()
	f, _, _, _ := lockTestFactory(t)
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.Locker(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.TryAcquire(ctx, alice, time.Hour); err != nil {
		t.Fatal(err)
	}
	return f, cfg
}

func TestAcquireLeaseHeldExitsThreeNamingHolder(t *testing.T) {
	ctx := context.Background()
	f, cfg := aliceHolds(t)
	var err error
	clk := lockertest.NewClock(time.Now())
	for _, wait := range []time.Duration{0, 30 * time.Second} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, err = f.acquireLease(ctx, cfg, "app", "prod", "destroy", "abc", wait, clk)
		}()
		for clk.WaitSleepers(1, done) {
			clk.Advance(time.Second)
		}
		<-done
		if !errors.Is(err, locker.ErrHeld) || exitCode(err) != ExitLocked {
			t.Fatalf("AcquireLease = %v (exit %d), want ErrHeld and exit 3", err, exitCode(err))
		}
		if wait > 0 && !strings.Contains(err.Error(), "gave up after waiting 30s") {
			t.Errorf("error %q does not say it waited", err)
		}
		for _, want := range []string{"locked by alice@example.com on host-a (pid 42)", "operation apply", "--lock-timeout",
			"panka unlock --stack app --environment prod --force"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	}
}

func TestAcquireLeaseWaitsPrintingHolderThenTakesIt(t *testing.T) {
	ctx := context.Background()
	f, repo, _, errOut := lockTestFactory(t, "GITHUB_ACTIONS=true", "GITHUB_SERVER_URL=https://github.com", "GITHUB_REPOSITORY=acme/infra", "GITHUB_RUN_ID=99")
	lockWriteFile(t, filepath.Join(repo, ".git", "config"), "[core]\n\tbare = false\n[user]\n\tname = Bob\n\temail = bob@example.com\n")
	clk, cfg, other := onFakeClock(t, f)
	held, err := other.TryAcquire(ctx, alice, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		lease *locker.Lease
		err   error
	}
	done := make(chan result, 1)
	go func() {
		l, err := f.acquireLease(ctx, cfg, "app", "prod", "apply", "fedcba9876543210", 10*time.Minute, clk)
		done <- result{l, err}
	}()
	for range 6 {
		clk.WaitSleepers(1, nil)
		clk.Advance(locker.DefaultMaxBackoff)
	}
	clk.WaitSleepers(1, nil)
	if err := other.Release(ctx, alice.Key, held.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(locker.DefaultMaxBackoff)
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("AcquireLease did not take the released lock")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	stderr := errOut.String()
	if n := strings.Count(stderr, "Waiting for the lock on app/prod: alice@example.com on host-a (pid 42), apply of commit 0123456789ab, since "); n < 2 || n > 7 {
		t.Errorf("stderr has %d waiting notices, want a few:\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "ago), expires in 59m") {
		t.Errorf("waiting notice lacks the expiry:\n%s", stderr)
	}
	info := r.lease.Info()
	host, _ := os.Hostname()
	want := locker.Metadata{Hostname: host, PID: os.Getpid(), Version: Build().Version, Operation: "apply", Commit: "fedcba9876543210",
		CIURL: "https://github.com/acme/infra/actions/runs/99"}
	if self, ok := engine.Self(); ok {
		// Who it is beyond its pid, so a run after it is killed can prove it ended.
		want.BootID, want.PIDNamespace, want.ProcessStart, want.MachineID = self.Boot, self.PIDNamespace, self.Start, self.Machine
	} else if runtime.GOOS == "linux" {
		t.Fatal("engine.Self: /proc does not tell this process's incarnation")
	}
	if info.LockedBy != "bob@example.com" || info.Metadata != want {
		t.Fatalf("lease = %+v, want bob@example.com with %+v", info, want)
	}
	got, err := other.Get(ctx, alice.Key)
	if err != nil || got.ID != info.ID || got.LockedBy != "bob@example.com" {
		t.Fatalf("stored lease = %+v, %v", got, err)
	}
	if err := f.ReleaseLease(r.lease); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Get(ctx, alice.Key); !errors.Is(err, locker.ErrNotFound) {
		t.Fatalf("after ReleaseLease: %v, want ErrNotFound", err)
	}
}

// Ctrl-C while waiting for a held lock says so, not "context canceled".
func TestAcquireLeaseInterruptedWhileWaiting(t *testing.T) {
	f, _, _, _ := lockTestFactory(t)
	cfg, _ := f.Config()
	other, _ := f.Locker(context.Background(), cfg)
	if _, err := other.TryAcquire(context.Background(), alice, time.Hour); err != nil {
		t.Fatal(err)
	}
	clk := lockertest.NewClock(lockertest.Start)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.acquireLease(ctx, cfg, "app", "prod", "apply", "abc", 10*time.Minute, clk)
		done <- err
	}()
	clk.WaitSleepers(1, nil)
	cancel()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "apply of app/prod interrupted while waiting for its lock") ||
		!strings.Contains(err.Error(), "nothing was changed") || strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("interrupted wait: %v", err)
	}
}

// Ctrl-C cancels the command's context; the lease is still released.
func TestReleaseLeaseAfterInterrupt(t *testing.T) {
	f, _, _, _ := lockTestFactory(t)
	cfg, _ := f.Config()
	ctx, cancel := context.WithCancel(context.Background())
	lease, err := f.AcquireLease(ctx, cfg, "app", "prod", "apply", "abc", 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-lease.Context().Done()
	if err := f.ReleaseLease(lease); err != nil {
		t.Fatal(err)
	}
	l, _ := f.Locker(context.Background(), cfg)
	if _, err := l.Get(context.Background(), locker.Key("app", "prod")); !errors.Is(err, locker.ErrNotFound) {
		t.Fatalf("lease left behind after interrupt: %v", err)
	}
	if err := f.ReleaseLease(lease); err != nil {
		t.Fatalf("second ReleaseLease = %v", err)
	}
}

func TestDescribeHolder(t *testing.T) {
	now := lockertest.Start.Add(90 * time.Minute)
	h := alice
	h.LockedAt, h.ExpiresAt = lockertest.Start, lockertest.Start.Add(2*time.Hour)
	got := describeHolder(h, now)
	for _, want := range []string{"alice@example.com on host-a (pid 42), apply of commit 0123456789ab, since ", "(1h30m ago), expires in 30m00s"} {
		if !strings.Contains(got, want) {
			t.Errorf("describeHolder = %q, lacks %q", got, want)
		}
	}
	h.ExpiresAt = lockertest.Start.Add(time.Hour)
	if got := describeHolder(h, now); !strings.Contains(got, "expired 30m00s ago") {
		t.Errorf("describeHolder of an expired lease = %q", got)
	}
	for d, want := range map[time.Duration]string{45 * time.Second: "45s", 200 * time.Second: "3m20s", 125 * time.Minute: "2h05m", 76 * time.Hour: "3d4h"} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestAcquireLeaseHeldSilentHolder: a lease whose holder stopped renewing
// it long ago (a run killed on another machine; its pid cannot be checked
// from here) is reported as most likely dead, with the way to remove it,
// before it expires; a holder that renews on time is not.
func TestAcquireLeaseHeldSilentHolder(t *testing.T) {
	ctx := context.Background()
	f, cfg := aliceHolds(t)
	every := cfg.Locks.Heartbeat.D()
	for _, tt := range []struct {
		later  time.Duration
		silent bool
	}{{time.Minute, false}, {15 * time.Minute, true}} {
		clk := lockertest.NewClock(time.Now().Add(tt.later))
		_, err := f.acquireLease(ctx, cfg, "app", "prod", "apply", "abc", 0, clk)
		if !errors.Is(err, locker.ErrHeld) || exitCode(err) != ExitLocked {
			t.Fatalf("AcquireLease = %v, want ErrHeld and exit 3", err)
		}
		msg := err.Error()
		if got := strings.Contains(msg, "has not renewed it for 15m"); got != tt.silent {
			t.Errorf("%s later: silent = %v, want %v: %q", tt.later, got, tt.silent, msg)
		}
		if tt.silent {
			for _, want := range []string{"a running panka renews it every " + every.String(), "most likely dead",
				"panka unlock --stack app --environment prod --force", "or wait until it expires (in 45m"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
		}
	}
}

func TestHeartbeatSilence(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	lease := func(beat, expires time.Duration) locker.Info {
		return locker.Info{LastHeartbeat: now.Add(-beat), ExpiresAt: now.Add(expires)}
	}
	tests := []struct {
		name  string
		info  locker.Info
		every time.Duration
		want  time.Duration
	}{
		{"renewed on time", lease(30*time.Second, time.Hour), 30 * time.Second, 0},
		{"under two minutes", lease(110*time.Second, time.Hour), 30 * time.Second, 0},
		{"silent", lease(10*time.Minute, time.Hour), 30 * time.Second, 10 * time.Minute},
		{"three slow intervals", lease(25*time.Minute, time.Hour), 10 * time.Minute, 0},
		{"expired: anyone may take it", lease(2*time.Hour, -time.Minute), 30 * time.Second, 0},
		{"no heartbeat recorded", locker.Info{ExpiresAt: now.Add(time.Hour)}, 30 * time.Second, 0},
	}
	for _, tt := range tests {
		if got := heartbeatSilence(tt.info, now, tt.every); got != tt.want {
			t.Errorf("%s: heartbeatSilence = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestAcquireLeaseTakesOverReusedPID: an expired lease taken on this host
// by a pid that a process started after the lease now has (a new
// container with the same hostname, whose processes get the same small
// pids) is taken over: that process is not the holder.
func TestAcquireLeaseTakesOverReusedPID(t *testing.T) {
	ctx := context.Background()
	f, _, _, _ := lockTestFactory(t)
	clk, cfg, other := onFakeClockAt(t, f, time.Now().Add(-time.Hour).Truncate(time.Second))
	host, _ := os.Hostname()
	reused := alice
	reused.Metadata.Hostname, reused.Metadata.PID = host, startHolder(t).Process.Pid
	if _, err := other.TryAcquire(ctx, reused, time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	l, err := f.acquireLease(ctx, cfg, "app", "prod", "apply", "abc", 0, clk)
	if err != nil {
		t.Fatalf("AcquireLease over an expired lease whose pid a later process reuses: %v", err)
	}
	_ = f.ReleaseLease(l)
}

// TestAcquireLeaseKeepsExpiredLeaseOfALiveProcess: a lease that expired
// because its holder stopped heartbeating (SIGSTOP, a suspended laptop) is
// not taken over while that process still runs on this host: it resumes
// deploying, and two runs would write the same resources and Pulumi state.
// The error says so and how to go on (exit 3); a wait says it waits for the
// process. Once the process is gone the expired lease is taken over, and an
// expired lease from another host is taken over at once (it cannot be
// checked).
// TestAcquireLeaseHeldByARunningProcess: a lease taken on this host by a
// process that runs and renews it is a run going on, not a dead one: the
// error says so and how to stop it, not "if that run is dead, remove its
// lock with panka unlock --force" (which lets two runs deploy at once).
func TestAcquireLeaseHeldByARunningProcess(t *testing.T) {
	ctx := context.Background()
	f, _, _, _ := lockTestFactory(t)
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.Locker(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	pid := startHolder(t).Process.Pid
	running := alice
	running.Metadata.Hostname, running.Metadata.PID = host, pid
	if _, err := other.TryAcquire(ctx, running, time.Hour); err != nil {
		t.Fatal(err)
	}
	_, err = f.acquireLease(ctx, cfg, "app", "prod", "apply", "abc", 0, lockertest.NewClock(time.Now()))
	if !errors.Is(err, locker.ErrHeld) || exitCode(err) != ExitLocked {
		t.Fatalf("AcquireLease = %v (exit %d), want ErrHeld and exit 3", err, exitCode(err))
	}
	want := fmt.Sprintf("That run is going on now, as process %d on this host: wait for it with --lock-timeout (e.g. --lock-timeout 10m), "+
		"or stop it cleanly (Ctrl-C in its terminal, or kill -INT %d), which records it and releases the lock", pid, pid)
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "--force") {
		t.Errorf("error:\n%v\nwant it to say %q and not suggest --force", err, want)
	}
}

func TestAcquireLeaseKeepsExpiredLeaseOfALiveProcess(t *testing.T) {
	ctx := context.Background()
	f, _, _, errOut := lockTestFactory(t)
	clk, cfg, other := onFakeClock(t, f)
	host, _ := os.Hostname()
	holder := startHolder(t)
	stopped := alice
	stopped.Metadata.Hostname, stopped.Metadata.PID = host, holder.Process.Pid
	if _, err := other.TryAcquire(ctx, stopped, time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)

	_, err := f.acquireLease(ctx, cfg, "app", "prod", "apply", "abc", 0, clk)
	if !errors.Is(err, locker.ErrHeld) || exitCode(err) != ExitLocked {
		t.Fatalf("AcquireLease over the expired lease of a live process = %v (exit %d), want ErrHeld and exit 3", err, exitCode(err))
	}
	for _, want := range []string{fmt.Sprintf("Its lease expired, but process %d that took it on this host still runs", holder.Process.Pid),
		fmt.Sprintf("kill %d", holder.Process.Pid), "panka unlock --stack app --environment prod --force"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if got, err := other.Get(ctx, alice.Key); err != nil || got.Metadata.PID != holder.Process.Pid {
		t.Fatalf("the stopped process's lease = %+v, %v; want it kept", got, err)
	}

	// Waiting: the notice says why an expired lease is not taken; the
	// holder ends and the lease is taken over.
	done := make(chan error, 1)
	go func() {
		l, err := f.acquireLease(ctx, cfg, "app", "prod", "apply", "abc", 10*time.Minute, clk)
		if err == nil {
			err = f.ReleaseLease(l)
		}
		done <- err
	}()
	clk.WaitSleepers(1, nil)
	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	clk.Advance(locker.DefaultMaxBackoff)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("AcquireLease after the holder ended: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("AcquireLease did not take the lease over after its process ended")
	}
	if want := fmt.Sprintf("(its process %d still runs on this host: waiting until it ends)", holder.Process.Pid); !strings.Contains(errOut.String(), want) {
		t.Errorf("waiting notice does not say %q:\n%s", want, errOut)
	}

	// Another host's expired lease cannot be checked: taken over at expiry.
	remote := alice
	remote.Metadata.PID = startHolder(t).Process.Pid
	if _, err := other.TryAcquire(ctx, remote, time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	l, err := f.acquireLease(ctx, cfg, "app", "prod", "apply", "abc", 0, clk)
	if err != nil {
		t.Fatalf("AcquireLease over another host's expired lease: %v", err)
	}
	_ = f.ReleaseLease(l)
}

// TestAcquireLeaseWarnsLocalLocksOnSharedState: local lock files with state
// shared in S3 keep no other machine out: taking the lease says so (and
// still works: it may be meant for a single deploy host).
func TestAcquireLeaseWarnsLocalLocksOnSharedState(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		env  []string
		warn bool
	}{
		{[]string{"PANKA_BACKEND_TYPE=s3", "PANKA_BACKEND_BUCKET=team-state", "PANKA_LOCKS_TYPE=local"}, true},
		{nil, false}, // the embedded default: local state, local locks
	} {
		f, _, _, errOut := lockTestFactory(t, tt.env...)
		cfg, err := f.Config()
		if err != nil {
			t.Fatal(err)
		}
		l, err := f.AcquireLease(ctx, cfg, "app", "prod", "apply", "abc", 0)
		if err != nil {
			t.Fatalf("%v: %v", tt.env, err)
		}
		f.ReleaseLease(l)
		got := strings.Contains(errOut.String(), "locks.type is local while the state is shared in S3 (bucket team-state)")
		if got != tt.warn {
			t.Errorf("%v: warned = %v, want %v; stderr: %s", tt.env, got, tt.warn, errOut)
		}
	}
}

// TestLeaseRefusesSharedLocksOverLocalState: a DynamoDB lock table (set in
// panka.yaml, or implied by PANKA_LOCKS_TABLE) with the state left local
// was taken as it was, though panka init refuses --table without --bucket:
// the table is shared, the state is one checkout's, and a run in another
// clone deployed again from its own state once the lock was free. Taking
// the lease is refused, naming the keys, where they are set and the two
// fixes, before any request to the table.
func TestLeaseRefusesSharedLocksOverLocalState(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name, file string
		env        []string
		want       string
	}{
		{"panka.yaml", "locks:\n  type: dynamodb\n  table: team-locks\n", nil,
			"locks.type is dynamodb (repo (%s/panka.yaml:2); table team-locks, repo (%s/panka.yaml:3)) but the state is local (backend.type local, default)"},
		{"table alone", "", []string{"PANKA_LOCKS_TABLE=team-locks"},
			"locks.type is dynamodb (default (implied by locks.table); table team-locks, env (PANKA_LOCKS_TABLE)) but the state is local (backend.type local, default)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := append([]string{"PANKA_LOCKS_ENDPOINT=http://127.0.0.1:1", "PANKA_LOCKS_REGION=us-east-1"}, tt.env...)
			f, repo, _, _ := lockTestFactory(t, env...)
			want := tt.want
			if tt.file != "" {
				lockWriteFile(t, filepath.Join(repo, "panka.yaml"), tt.file)
				want = fmt.Sprintf(want, repo, repo)
			}
			cfg, err := f.Config()
			if err != nil {
				t.Fatal(err)
			}
			l, err := f.AcquireLease(ctx, cfg, "app", "prod", "apply", "abc", 0)
			if err == nil {
				f.ReleaseLease(l)
				t.Fatal("AcquireLease in a DynamoDB table over local state succeeded")
			}
			for _, w := range []string{want, "keep the state in S3 as well (backend.bucket, PANKA_BACKEND_BUCKET or --backend-bucket", "or lock locally (locks.type: local, and remove locks.table)"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "127.0.0.1:1") {
				t.Errorf("error %q comes from a request to the table", err)
			}
		})
	}
}

// TestLeaseRefusesAPersonalLockTable: panka init writes locks.table into
// ~/.panka/config.yaml; with the team's bucket named in panka.yaml (and no
// locks there), this user's runs locked in their own table while a
// teammate without that file locked with S3 lock objects: two applies of
// one stack did not keep each other out. Taking the lease is refused,
// naming both settings and where to put the locks; a table set next to the
// bucket, or a bucket of the user's own file too, is taken as before.
func TestLeaseRefusesAPersonalLockTable(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name, user, repo string
		env              []string
		refused          bool
	}{
		{"bucket in panka.yaml, table in the user file", "locks:\n  type: dynamodb\n  table: my-locks\n", "backend:\n  bucket: team-state\n", nil, true},
		{"bucket from the environment, table in the user file", "locks:\n  table: my-locks\n", "", []string{"PANKA_BACKEND_BUCKET=team-state"}, true},
		{"both in the user file", "backend:\n  bucket: my-state\nlocks:\n  table: my-locks\n", "", nil, false},
		{"both in panka.yaml", "", "backend:\n  bucket: team-state\nlocks:\n  table: team-locks\n", nil, false},
		{"table in panka.yaml over the user's", "locks:\n  table: my-locks\n", "backend:\n  bucket: team-state\nlocks:\n  table: team-locks\n", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := append([]string{"PANKA_LOCKS_ENDPOINT=http://127.0.0.1:1", "PANKA_LOCKS_REGION=us-east-1", "PANKA_BACKEND_REGION=us-east-1",
				"AWS_ACCESS_KEY_ID=AKIATEST", "AWS_SECRET_ACCESS_KEY=secret", "AWS_EC2_METADATA_DISABLED=true"}, tt.env...)
			f, repo, _, _ := lockTestFactory(t, env...)
			home, _ := f.Home()
			if tt.user != "" {
				lockWriteFile(t, filepath.Join(home, ".panka", "config.yaml"), tt.user)
			}
			if tt.repo != "" {
				lockWriteFile(t, filepath.Join(repo, "panka.yaml"), tt.repo)
			}
			cfg, err := f.Config()
			if err != nil {
				t.Fatal(err)
			}
			err = personalLockTable(cfg)
			if !tt.refused {
				if err != nil {
					t.Fatalf("personalLockTable: %v", err)
				}
				return
			}
			userFile := filepath.Join(home, ".panka", "config.yaml")
			for _, w := range []string{"locks.table my-locks is set only in your own configuration (user (" + userFile + ":",
				"while bucket team-state is the one of ", "so their runs and yours on a stack do not keep each other out",
				"set the locks next to the bucket (locks: {type: dynamodb, table: my-locks} in panka.yaml, or the same place the bucket is set), or remove locks from " + userFile} {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v lacks %q", err, w)
				}
			}
			if _, err := f.AcquireLease(ctx, cfg, "app", "prod", "apply", "abc", 0); err == nil || !strings.Contains(err.Error(), "is set only in your own configuration") {
				t.Errorf("AcquireLease: %v, want it refused before any request", err)
			}
		})
	}
}

// TestLeaseRefusesAPersonalLockRegion: panka init writes locks.region next
// to locks.table in ~/.panka/config.yaml; in a team repository whose
// panka.yaml names the bucket, its region and the table (the table then
// in the bucket's region), that region of the user's own file sent this
// user's leases to a table of the team's name in another region (or to
// none), so a teammate's apply and this user's did not keep each other
// out. Taking the lease is refused, naming both settings and what to do;
// a region equal to the bucket's, or one set where the table is, is taken.
func TestLeaseRefusesAPersonalLockRegion(t *testing.T) {
	ctx := context.Background()
	const team = "backend:\n  bucket: team-state\n  region: eu-west-1\nlocks:\n  table: team-locks\n"
	for _, tt := range []struct {
		name, user, repo string
		refused          bool
	}{
		{"panka init's region in the user file", "locks:\n  type: dynamodb\n  table: my-locks\n  region: eu-west-3\n", team, true},
		{"the bucket's region in the user file", "locks:\n  table: my-locks\n  region: eu-west-1\n", team, false},
		{"the table's region in panka.yaml", "locks:\n  region: eu-west-3\n", team + "  region: us-east-2\n", false},
		{"bucket, table and region in the user file", "backend:\n  bucket: my-state\n  region: eu-west-1\nlocks:\n  table: my-locks\n  region: eu-west-3\n", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, repo, _, _ := lockTestFactory(t, "PANKA_LOCKS_ENDPOINT=http://127.0.0.1:1",
				"AWS_ACCESS_KEY_ID=AKIATEST", "AWS_SECRET_ACCESS_KEY=secret", "AWS_EC2_METADATA_DISABLED=true")
			home, _ := f.Home()
			userFile := filepath.Join(home, ".panka", "config.yaml")
			lockWriteFile(t, userFile, tt.user)
			if tt.repo != "" {
				lockWriteFile(t, filepath.Join(repo, "panka.yaml"), tt.repo)
			}
			cfg, err := f.Config()
			if err != nil {
				t.Fatal(err)
			}
			err = personalLockTable(cfg)
			if !tt.refused {
				if err != nil {
					t.Fatalf("personalLockTable: %v", err)
				}
				return
			}
			for _, w := range []string{"locks.region eu-west-3 is set only in your own configuration (user (" + userFile + ":4)",
				"while table team-locks is the one of repo (" + filepath.Join(repo, "panka.yaml") + ":5), next to bucket team-state in eu-west-1 (backend.region, repo (",
				"your runs lock in another table than your teammates' (or in none), and their runs and yours on a stack do not keep each other out",
				"set locks.region where the table is set when the table is in another region than the bucket, or remove region from locks in " + userFile} {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v lacks %q", err, w)
				}
			}
			if _, err := f.AcquireLease(ctx, cfg, "app", "prod", "apply", "abc", 0); err == nil || !strings.Contains(err.Error(), "locks.region eu-west-3 is set only in your own configuration") {
				t.Errorf("AcquireLease: %v, want it refused before any request", err)
			}
		})
	}
}

// TestLeaseLostNamesTheNewHolder: a run that finds its lease lost says who
// holds the lock now (the run that took it over), so the user knows whom to
// wait for; or that nobody does, after a force unlock.
func TestLeaseLostNamesTheNewHolder(t *testing.T) {
	ctx := context.Background()
	f, repo, _, _ := lockTestFactory(t)
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	lease, err := f.AcquireLease(ctx, cfg, "app", "prod", "apply", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.ReleaseLease(lease)
	other, err := f.Locker(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.ForceRelease(ctx, alice.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := other.TryAcquire(ctx, alice, time.Hour); err != nil {
		t.Fatal(err)
	}
	err = f.leaseLost(ctx, cfg, lease, "the deployment")
	if !errors.Is(err, locker.ErrLost) {
		t.Fatalf("leaseLost after a takeover: %v, want ErrLost", err)
	}
	if want := "it is now held by alice@example.com on host-a (pid 42), apply of commit 0123456789ab"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}

	if err := other.ForceRelease(ctx, alice.Key); err != nil {
		t.Fatal(err)
	}
	err = f.leaseLost(ctx, cfg, lease, "the deployment")
	if want := "nobody holds the lock now"; !errors.Is(err, locker.ErrLost) || !strings.Contains(err.Error(), want) {
		t.Errorf("leaseLost with the lock removed: %v, want ErrLost saying %q", err, want)
	}

	// A lock that cannot be read (here damaged; as well a backend that
	// does not answer, whose heartbeats failed until the lease ran out).
	lockWriteFile(t, filepath.Join(repo, ".panka", "locks", url.QueryEscape(alice.Key)+".json"), "{not json")
	err = f.lostTo(ctx, cfg, lease, lease.Lost())
	if want := "the lock (" + filepath.Join(repo, ".panka", "locks"); !errors.Is(err, locker.ErrLost) || !strings.Contains(err.Error(), want) ||
		!strings.Contains(err.Error(), "cannot be read now either") {
		t.Errorf("lostTo with an unreadable lock: %v, want ErrLost saying the lock %s... cannot be read", err, want)
	}
}

// TestAcquireLeaseWaitNamesADeadHolder: waiting (--lock-timeout) on the
// lease of a run killed on this host (stale), or of one that has not
// renewed it for many heartbeats (most likely dead), the notices said only
// "Waiting for the lock ..., expires in 59m" until the wait gave up: they
// now say that nothing will release it and the command that removes it.
func TestAcquireLeaseWaitNamesADeadHolder(t *testing.T) {
	ctx := context.Background()
	waitOut := func(t *testing.T, f *Factory, cfg *config.Resolved, clk *lockertest.Clock, errOut *bytes.Buffer) string {
		t.Helper()
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, err = f.acquireLease(ctx, cfg, "app", "prod", "apply", "abc", 30*time.Second, clk)
		}()
		for clk.WaitSleepers(1, done) {
			clk.Advance(locker.DefaultMaxBackoff)
		}
		<-done
		if !errors.Is(err, locker.ErrHeld) {
			t.Fatalf("AcquireLease = %v, want ErrHeld", err)
		}
		return errOut.String()
	}

	t.Run("stale", func(t *testing.T) {
		f, _, _, errOut := lockTestFactory(t)
		clk, cfg, other := onFakeClock(t, f)
		holder := startHolder(t)
		who, meta := f.LockIdentity(ctx, cfg, "apply", "")
		// Pid only, as an older panka: a lease that says who its holder
		// was beyond its pid is taken over once it ended, not waited for.
		meta = heldBy(t, meta, holder.Process.Pid, false)
		if _, err := other.TryAcquire(ctx, locker.Info{Key: alice.Key, LockedBy: who, Metadata: meta}, time.Hour); err != nil {
			t.Fatal(err)
		}
		_ = holder.Process.Kill()
		_ = holder.Wait()
		stderr := waitOut(t, f, cfg, clk, errOut)
		want := fmt.Sprintf("(stale: process %d that took it no longer runs on this host, so nothing releases it: "+
			"the wait ends only when it expires, or once `panka unlock --stack app --environment prod` removes it)", holder.Process.Pid)
		if !strings.Contains(stderr, "Waiting for the lock on app/prod") || !strings.Contains(stderr, want) {
			t.Errorf("waiting notices do not say %q:\n%s", want, stderr)
		}
	})

	t.Run("silent", func(t *testing.T) {
		f, _, _, errOut := lockTestFactory(t)
		start := time.Now().Truncate(time.Second)
		clk, cfg, other := onFakeClockAt(t, f, start.Add(-15*time.Minute))
		if _, err := other.TryAcquire(ctx, alice, time.Hour); err != nil {
			t.Fatal(err)
		}
		clk.Advance(15 * time.Minute)
		stderr := waitOut(t, f, cfg, clk, errOut)
		want := "while a running panka renews it every " + cfg.Locks.Heartbeat.D().String() + ": its run is most likely dead; " +
			"if you are sure, `panka unlock --stack app --environment prod --force` removes it)"
		if !strings.Contains(stderr, "(not renewed for 15m") || !strings.Contains(stderr, want) {
			t.Errorf("waiting notices do not say %q:\n%s", want, stderr)
		}
	})
}

// heldBy returns meta as the lease metadata of process pid: its pid and,
// with incarnation, who it is beyond its pid (engine.IncarnationOf, as
// panka records itself); without, as an older panka recorded it.
func heldBy(t *testing.T, meta locker.Metadata, pid int, incarnation bool) locker.Metadata {
	t.Helper()
	meta.PID = pid
	meta.BootID, meta.PIDNamespace, meta.ProcessStart, meta.MachineID = "", "", 0, ""
	if incarnation {
		inc, ok := engine.IncarnationOf(pid)
		if !ok {
			t.Fatalf("engine.IncarnationOf(%d): /proc does not tell it", pid)
		}
		meta.BootID, meta.PIDNamespace, meta.ProcessStart, meta.MachineID = inc.Boot, inc.PIDNamespace, inc.Start, inc.Machine
	}
	return meta
}

// TestAcquireLeaseTakesOverEndedHolder: a lease whose holder provably
// ended (taken on this host, in this boot and pid namespace, by a process
// that no longer runs, or whose pid a later process now has) is taken over
// before it expires, with a warning naming the ended holder; locks show
// says the next operation takes it over. Never while the holder runs, nor
// from another pid namespace (a container with the same hostname) or boot,
// nor without the proof (an older panka's lease: TestStaleLockOfDeadProcess).
func TestAcquireLeaseTakesOverEndedHolder(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("proves a holder ended through /proc (Linux only)")
	}
	ctx := context.Background()
	host, _ := os.Hostname()
	take := func(t *testing.T, f *Factory, cfg *config.Resolved, meta locker.Metadata) locker.Info {
		t.Helper()
		l, err := f.Locker(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		meta.Hostname, meta.Operation, meta.Commit = host, "apply", alice.Metadata.Commit
		info, err := l.TryAcquire(ctx, locker.Info{Key: alice.Key, LockedBy: alice.LockedBy, Metadata: meta}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	acquire := func(f *Factory, cfg *config.Resolved) (*locker.Lease, error) {
		return f.acquireLease(ctx, cfg, "app", "prod", "apply", "abc", 0, factoryClock{f})
	}

	t.Run("killed", func(t *testing.T) {
		f, _, out, errOut := lockTestFactory(t)
		cfg, err := f.Config()
		if err != nil {
			t.Fatal(err)
		}
		holder := startHolder(t)
		pid := holder.Process.Pid
		dead := take(t, f, cfg, heldBy(t, locker.Metadata{}, pid, true))
		if _, err := acquire(f, cfg); !errors.Is(err, locker.ErrHeld) || !strings.Contains(err.Error(), "That run is going on now") {
			t.Fatalf("acquire while the holder runs: %v, want held by a run going on", err)
		}
		if err := holder.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = holder.Wait()

		lo := newLocksOptions(f)
		lo.Stack, lo.Environment = "app", "prod"
		if err := locksShowRun(ctx, lo); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("Stale:     pid %d no longer runs on this host; the next operation on this host takes it over, or panka unlock --stack app --environment prod --force removes it", pid); !strings.Contains(out.String(), want) {
			t.Errorf("locks show does not say %q:\n%s", want, out)
		}
		// locks list too, under its table (its EXPIRES column says "in 59m").
		if err := locksListRun(ctx, newLocksOptions(f)); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("app/prod is stale: pid %d no longer runs on this host; the next operation on this host takes it over, or panka unlock --stack app --environment prod --force removes it", pid); !strings.Contains(errOut.String(), want) {
			t.Errorf("locks list does not say %q:\n%s", want, errOut)
		}

		lease, err := acquire(f, cfg)
		if err != nil {
			t.Fatalf("acquire after the holder was killed: %v, want the lease taken over", err)
		}
		defer f.ReleaseLease(lease)
		if lease.Info().ID == dead.ID {
			t.Fatalf("lease %s is the killed holder's", dead.ID)
		}
		want := fmt.Sprintf("Warning: took over the lock on app/prod from alice@example.com on %s (pid %d), apply of commit 0123456789ab, since ", host, pid)
		want2 := fmt.Sprintf(": process %d no longer runs on this host (killed, or it crashed), so nothing would have released it before it expired\n", pid)
		if !strings.Contains(errOut.String(), want) || !strings.Contains(errOut.String(), " ago), expires in ") || !strings.Contains(errOut.String(), want2) {
			t.Errorf("stderr does not say %q ... %q:\n%s", want, want2, errOut)
		}
	})

	t.Run("two runs race for it", func(t *testing.T) {
		// The ended holder's lease is removed only while it carries its
		// lock id: exactly one run takes it over and says so; the other
		// finds that run's lease held.
		f1, repo, _, errOut1 := lockTestFactory(t)
		cfg, err := f1.Config()
		if err != nil {
			t.Fatal(err)
		}
		ios, _, _, errOut2 := Test()
		f2 := NewFactory(ios)
		f2.Getwd, f2.Home, f2.Environ = func() (string, error) { return repo, nil }, f1.Home, f1.Environ
		holder := startHolder(t)
		take(t, f1, cfg, heldBy(t, locker.Metadata{}, holder.Process.Pid, true))
		if err := holder.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = holder.Wait()
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for n, f := range []*Factory{f1, f2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var lease *locker.Lease
				lease, errs[n] = acquire(f, cfg)
				if errs[n] == nil {
					t.Cleanup(func() { f.ReleaseLease(lease) })
				}
			}()
		}
		wg.Wait()
		won, warned := 0, 0
		for n, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, locker.ErrHeld) || exitCode(err) != ExitLocked:
				// (Both runs are this process: the winner's pid is not
				// "another process going on now" here.)
				t.Errorf("run %d: %v, want the lease held (exit 3) by the run that took it over", n, err)
			}
		}
		for _, out := range []string{errOut1.String(), errOut2.String()} {
			warned += strings.Count(out, "Warning: took over the lock on app/prod")
		}
		if won != 1 || warned != 1 {
			t.Fatalf("%d runs took the lease, %d said they took it over; want 1 and 1 (%v)", won, warned, errs)
		}
	})

	t.Run("pid reused", func(t *testing.T) {
		f, _, _, errOut := lockTestFactory(t)
		cfg, err := f.Config()
		if err != nil {
			t.Fatal(err)
		}
		// The pid runs, but a process that started at another tick has it.
		meta := heldBy(t, locker.Metadata{}, startHolder(t).Process.Pid, true)
		meta.ProcessStart--
		take(t, f, cfg, meta)
		lease, err := acquire(f, cfg)
		if err != nil {
			t.Fatalf("acquire over an ended holder whose pid is reused: %v", err)
		}
		defer f.ReleaseLease(lease)
		if !strings.Contains(errOut.String(), "Warning: took over the lock on app/prod") {
			t.Errorf("no takeover warning:\n%s", errOut)
		}
	})

	for _, tc := range []struct {
		name  string
		other func(*locker.Metadata)
		says  string
	}{
		// Its pids are not this namespace's: nothing is known of it.
		{"another pid namespace", func(m *locker.Metadata) { m.PIDNamespace = "pid:[1]" }, "if that run is dead, remove its lock with"},
		{"another boot", func(m *locker.Metadata) { m.BootID = "00000000-0000-0000-0000-000000000000" }, "it was taken in another boot, but renewed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, _, errOut := lockTestFactory(t)
			cfg, err := f.Config()
			if err != nil {
				t.Fatal(err)
			}
			holder := startHolder(t)
			meta := heldBy(t, locker.Metadata{}, holder.Process.Pid, true)
			tc.other(&meta)
			if err := holder.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = holder.Wait()
			take(t, f, cfg, meta)
			_, err = acquire(f, cfg)
			if !errors.Is(err, locker.ErrHeld) || exitCode(err) != ExitLocked || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("acquire over a lease from %s: %v (exit %d), want held (exit 3) saying %q", tc.name, err, exitCode(err), tc.says)
			}
			if strings.Contains(errOut.String(), "took over") {
				t.Errorf("stderr says it took over:\n%s", errOut)
			}
		})
	}
}

// TestLeaseHolderHelperProcess is the holder process of
// TestLockWaiterStartsPromptlyAfterARelease: it takes the lease of
// app/prod in PANKA_LEASE_HELPER_DIR, says "held", and releases it when
// its stdin closes, saying when (Unix nanoseconds).
func TestLeaseHolderHelperProcess(t *testing.T) {
	dir := os.Getenv("PANKA_LEASE_HELPER_DIR")
	if dir == "" {
		return
	}
	ctx := context.Background()
	l, err := local.New(local.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	held, err := l.TryAcquire(ctx, locker.Info{Key: alice.Key, LockedBy: "ci-job-1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("held")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := l.Release(ctx, alice.Key, held.ID); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("released %d\n", time.Now().UnixNano())
	os.Exit(0)
}

// TestLockWaiterStartsPromptlyAfterARelease: a run waiting for the lock
// (--lock-timeout) that another process holds takes it within about a
// second of its release, after waiting long enough for the backoff to
// reach its cap. The cap was 5 s: a queued CI job sat idle that long.
func TestLockWaiterStartsPromptlyAfterARelease(t *testing.T) {
	ctx := context.Background()
	f, repo, _, _ := lockTestFactory(t)
	var errOut syncBuffer
	f.IO.ErrOut = &errOut
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command(os.Args[0], "-test.run=^TestLeaseHolderHelperProcess$")
	holder.Env = append(os.Environ(), "PANKA_LEASE_HELPER_DIR="+filepath.Join(repo, ".panka"))
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "held" {
		t.Fatalf("holder process: %q, want held", lines.Text())
	}

	type result struct {
		lease *locker.Lease
		at    time.Time
		err   error
	}
	got := make(chan result, 1)
	go func() {
		lease, err := f.AcquireLease(ctx, cfg, "app", "prod", "apply", "abc", time.Minute)
		got <- result{lease, time.Now(), err}
	}()
	// The second notice comes DefaultOnWaitEvery (5 s) after the first:
	// by then the backoff has grown to its cap.
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(errOut.String(), "Waiting for the lock on app/prod: ci-job-1") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no second waiting notice in 30s:\n%s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stdin.Close()
	if !lines.Scan() {
		t.Fatalf("holder process did not say it released the lease: %v", lines.Err())
	}
	ns, err := strconv.ParseInt(strings.TrimPrefix(lines.Text(), "released "), 10, 64)
	if err != nil {
		t.Fatalf("holder process: %q", lines.Text())
	}
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer f.ReleaseLease(r.lease)
	// At most the 1 s cap, and the attempt itself, after the release.
	if late := r.at.Sub(time.Unix(0, ns)); late > 1500*time.Millisecond {
		t.Fatalf("the waiter took the lock %s after the other process released it, want within about 1s", late)
	}
}

// TestAcquireLeaseTakesOverLeaseOfARestartedMachine: a lease taken on this
// machine before it restarted (same hostname and machine id, another boot,
// last renewed before this boot started and silent since) is taken over
// at once, saying so: nothing of that boot runs any more. It needed panka
// unlock or locks.ttl. Not when part of the proof is missing or odd: no
// machine id recorded (an older panka, a container image without one),
// another machine id, a renewal after this boot started (a copy of this
// machine that still runs it), a renewal dated in the future.
func TestAcquireLeaseTakesOverLeaseOfARestartedMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("proves a boot ended through /proc (Linux only)")
	}
	self, ok := engine.Self()
	up, upOK := engine.Uptime()
	if !ok || !upOK || self.Machine == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("this host does not tell its boot, uptime or machine id (/etc/machine-id): %+v, uptime %v", self, up)
		}
		t.Skip("this host does not tell its boot, uptime or machine id (/etc/machine-id)")
	}
	ctx := context.Background()
	host, _ := os.Hostname()
	now := time.Now().Truncate(time.Second)
	bootStart := now.Add(-up)
	// Heartbeats so far apart that the lease, last renewed before this
	// boot started, has not gone two of them without one.
	every := up + time.Hour
	for _, tc := range []struct {
		name string
		meta func(*locker.Metadata)
		beat time.Time // a heartbeat at this time, after the lease was taken
		env  []string
		says string // "" takes it over
		// waitTakes: a wait (--lock-timeout) takes it over once it is
		// silent long enough, before it expires.
		waitTakes bool
	}{
		{name: "restarted"},
		{name: "restarted soon after its last heartbeat",
			env:       []string{fmt.Sprintf("PANKA_LOCKS_HEARTBEAT=%d", int(every.Seconds())), fmt.Sprintf("PANKA_LOCKS_TTL=%d", int(3*every.Seconds()))},
			says:      "ran before this machine last restarted: the lock is stale. It was renewed only " + humanDuration(up+10*time.Minute) + " ago, so it is taken over once it has gone two heartbeat intervals (" + humanDuration(2*every) + ") without one, in ",
			waitTakes: true},
		{name: "no machine id recorded", meta: func(m *locker.Metadata) { m.MachineID = "" },
			says: "without a machine id (/etc/machine-id) on both sides another machine with the same name cannot be ruled out"},
		// A hostname changed on restart (DHCP) cannot be told from a
		// clone of this machine under another name that still runs:
		// not taken over, but the refusal says so and how to remove it.
		{name: "another hostname", meta: func(m *locker.Metadata) { m.Hostname = "old-" + host },
			says: "under another hostname, old-" + host + ", in a boot that ended before this one started (this host is " + host + " now): " +
				"if this machine's hostname changed when it restarted (DHCP), that run ended with the boot and the lock is stale. " +
				"panka does not take it over by itself, as a VM cloned from this machine's image has the same machine id under another name and may still run it: " +
				"check that old-" + host + " is this machine. If it is, remove the lock with:\n  panka unlock --stack app --environment prod --force"},
		{name: "another hostname, renewed after this boot started", meta: func(m *locker.Metadata) { m.Hostname = "old-" + host }, beat: bootStart.Add(up / 2),
			says: "that run is most likely dead (killed, or its machine went away). If you are sure, remove the lock"},
		{name: "another machine id", meta: func(m *locker.Metadata) { m.MachineID = "0123456789abcdef0123456789abcdef" },
			says: "it was taken by another machine with the same name"},
		{name: "renewed after this boot started", beat: bootStart.Add(up / 2),
			says: "it was taken in another boot, but renewed " + humanDuration(up-up/2) + " ago: not long enough before this machine last started"},
		{name: "renewed in the future", beat: now.Add(10 * time.Minute),
			says: "it was taken in another boot, but its last renewal is dated 10m00s ahead of the lock's clock: a clock is off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, out, errOut := lockTestFactory(t, tc.env...)
			clk, cfg, l := onFakeClockAt(t, f, bootStart.Add(-10*time.Minute))
			holder := startHolder(t)
			pid := holder.Process.Pid
			_ = holder.Process.Kill()
			_ = holder.Wait()
			meta := locker.Metadata{Hostname: host, PID: pid, Operation: "apply", Commit: alice.Metadata.Commit,
				BootID: "2f0e9c1a-5b7d-4e3f-8a6b-1c2d3e4f5a6b", PIDNamespace: self.PIDNamespace, ProcessStart: 4242, MachineID: self.Machine}
			if tc.meta != nil {
				tc.meta(&meta)
			}
			dead, err := l.TryAcquire(ctx, locker.Info{Key: alice.Key, LockedBy: alice.LockedBy, Metadata: meta}, 4*every)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.beat.IsZero() {
				clk.Advance(tc.beat.Sub(clk.Now()))
				if err := l.Heartbeat(ctx, alice.Key, dead.ID, 4*every); err != nil {
					t.Fatal(err)
				}
			}
			clk.Advance(now.Sub(clk.Now()))
			lo := newLocksOptions(f)
			lo.Stack, lo.Environment = "app", "prod"
			if err := locksShowRun(ctx, lo); err != nil {
				t.Fatal(err)
			}
			next := "the next operation on this host takes it over"
			if shown := out.String(); strings.Contains(shown, next) != (tc.says == "") {
				t.Errorf("locks show (saying %q: %v):\n%s", next, tc.says == "", shown)
			}
			lease, err := f.acquireLease(ctx, cfg, "app", "prod", "apply", "abc", 0, clk)
			if tc.says != "" {
				if !errors.Is(err, locker.ErrHeld) || exitCode(err) != ExitLocked || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("acquire: %v (exit %d), want held (exit 3) saying %q", err, exitCode(err), tc.says)
				}
				if strings.Contains(errOut.String(), "took over") {
					t.Errorf("stderr says it took over:\n%s", errOut)
				}
				if !tc.waitTakes {
					return
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					lease, err = f.acquireLease(ctx, cfg, "app", "prod", "apply", "abc", 3*every, clk)
				}()
				for clk.WaitSleepers(1, done) {
					clk.Advance(every / 8)
				}
				<-done
				if err != nil || !lease.Info().ExpiresAt.After(clk.Now()) || clk.Now().After(dead.ExpiresAt) {
					t.Fatalf("the wait: %v at %v, want the lease taken over before it expired (%v)", err, clk.Now(), dead.ExpiresAt)
				}
				if want := fmt.Sprintf("(stale: process %d ran before this machine last restarted; the wait takes it over in ", pid); !strings.Contains(errOut.String(), want) {
					t.Errorf("the wait does not say %q:\n%s", want, errOut)
				}
			}
			if err != nil {
				t.Fatalf("acquire over the lease of a boot that ended: %v, want it taken over", err)
			}
			defer f.ReleaseLease(lease)
			if lease.Info().ID == dead.ID {
				t.Fatalf("lease %s is the earlier boot's", dead.ID)
			}
			want := fmt.Sprintf("Warning: took over the lock on app/prod from alice@example.com on %s (pid %d), apply of commit 0123456789ab, since ", host, pid)
			want2 := fmt.Sprintf(": process %d ran before this machine last restarted, so nothing would have released it before it expired\n", pid)
			if !strings.Contains(errOut.String(), want) || !strings.Contains(errOut.String(), want2) {
				t.Errorf("stderr does not say %q ... %q:\n%s", want, want2, errOut)
			}
		})
	}
}
