package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/locker"
)

// On a terminal --force shows the holder and asks; only "y"/"yes" removes.
func TestUnlockForcePromptsOnTTY(t *testing.T) {
	tests := []struct {
		answer  string
		removed bool
	}{
		{"n\n", false},
		{"\n", false},
		{"yes\n", true},
		{"y\n", true},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSpace(tc.answer), func(t *testing.T) {
			ctx := context.Background()
			f, _, out, errOut := lockTestFactory(t)
			f.IO.SetTTY(true, false, true)
			f.IO.In = bytes.NewBufferString(tc.answer)
			cfg, _ := f.Config()
			l, _ := f.Locker(ctx, cfg)
			if _, err := l.TryAcquire(ctx, alice, time.Hour); err != nil {
				t.Fatal(err)
			}
			opts := &UnlockOptions{LocksOptions: *newLocksOptions(f), Force: true}
			opts.Stack, opts.Environment = "app", "prod"
			err := unlockRun(ctx, opts)
			if !strings.Contains(errOut.String(), "app/prod is locked by alice@example.com on host-a (pid 42)") || !strings.Contains(errOut.String(), "Remove this lease?") {
				t.Fatalf("stderr lacks the holder and the question:\n%s", errOut)
			}
			_, gerr := l.Get(ctx, alice.Key)
			if tc.removed {
				if err != nil || !errors.Is(gerr, locker.ErrNotFound) || !strings.Contains(out.String(), "Unlocked app/prod") {
					t.Fatalf("unlock = %v, Get = %v, stdout %q; want removed", err, gerr, out)
				}
			} else if err == nil || !strings.Contains(err.Error(), "cancelled") || gerr != nil {
				t.Fatalf("unlock = %v, Get = %v; want cancelled and kept", err, gerr)
			}
		})
	}
}

// Without --force the caller's own lease (same identity and host) is removed.
func TestUnlockOwnLease(t *testing.T) {
	ctx := context.Background()
	f, _, out, _ := lockTestFactory(t)
	cfg, _ := f.Config()
	lease, err := f.AcquireLease(ctx, cfg, "app", "prod", "apply", "abc", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	opts := &UnlockOptions{LocksOptions: *newLocksOptions(f)}
	opts.Identity = func(ctx context.Context) (string, string) {
		who, meta := f.LockIdentity(ctx, cfg, "", "")
		return who, meta.Hostname
	}
	opts.Stack, opts.Environment = "app", "prod"
	if err := unlockRun(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Unlocked app/prod (lock id "+lease.Info().ID+" held by os-user)") {
		t.Fatalf("stdout = %q", out)
	}
}

// TestUnlockHelperProcess is the second process of TestUnlockLiveProcess:
// it runs until its stdin closes or it is killed.
func TestUnlockHelperProcess(t *testing.T) {
	if os.Getenv("PANKA_UNLOCK_HELPER") != "1" {
		return
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// startHolder starts a real second process and returns it; the caller
// kills it.
func startHolder(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnlockHelperProcess$")
	cmd.Env = append(os.Environ(), "PANKA_UNLOCK_HELPER=1")
	if _, err := cmd.StdinPipe(); err != nil { // held open: the helper waits
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestUnlockLiveProcess: without --force, a lease of the caller (same
// identity and host) is not released while the process that took it still
// runs (an apply in another terminal), with or without --lock-id; the error
// names the process. Once it is dead, the stale lease is released. A lease
// without a PID (older panka) and one from another host are released as
// before.
func TestUnlockLiveProcess(t *testing.T) {
	ctx := context.Background()
	f, _, out, _ := lockTestFactory(t)
	cfg, _ := f.Config()
	l, err := f.Locker(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	who, meta := f.LockIdentity(ctx, cfg, "apply", "0123456789abcdef0123456789abcdef01234567")
	identity := func(context.Context) (string, string) { return who, meta.Hostname }
	unlock := func(lockID string) error {
		opts := &UnlockOptions{LocksOptions: *newLocksOptions(f), Identity: identity, LockID: lockID}
		opts.Stack, opts.Environment = "app", "prod"
		return unlockRun(ctx, opts)
	}
	take := func(pid int, host string) locker.Info {
		t.Helper()
		m := heldBy(t, meta, pid, pid > 0)
		m.Hostname = host
		info, err := l.TryAcquire(ctx, locker.Info{Key: locker.Key("app", "prod"), LockedBy: who, Metadata: m}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	held := func(what string) {
		t.Helper()
		if _, err := l.Get(ctx, locker.Key("app", "prod")); err != nil {
			t.Fatalf("%s: the lease is gone: %v", what, err)
		}
	}
	released := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, gerr := l.Get(ctx, locker.Key("app", "prod")); !errors.Is(gerr, locker.ErrNotFound) {
			t.Fatalf("%s: lease still there (%v)", what, gerr)
		}
	}

	holder := startHolder(t)
	pid := holder.Process.Pid
	info := take(pid, meta.Hostname)
	for _, lockID := range []string{"", info.ID} {
		err := unlock(lockID)
		if !errors.Is(err, locker.ErrHeld) || exitCode(err) != ExitLocked {
			t.Fatalf("unlock (lock id %q) of a live process's lease: %v (exit %d), want held, exit 3", lockID, err, exitCode(err))
		}
		for _, want := range []string{fmt.Sprintf("Process %d (panka apply) on this host has held it since", pid), "still running", "Nothing was removed",
			"Wait for it to finish", "panka unlock --stack app --environment prod --force"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		held("unlock of a live process's lease")
	}

	// --force --yes removes it, saying first that the process still runs
	// and what it does to that run (it used to show only the lease).
	var errOut bytes.Buffer
	f.IO.ErrOut = &errOut
	force := &UnlockOptions{LocksOptions: *newLocksOptions(f), Identity: identity, Force: true, Yes: true}
	force.Stack, force.Environment = "app", "prod"
	released("unlock --force --yes of a live process's lease", unlockRun(ctx, force))
	for _, want := range []string{fmt.Sprintf("Process %d, which took it, still runs on this host", pid), "stops that run at its next heartbeat",
		fmt.Sprintf("kill -INT %d", pid)} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("unlock --force of a live process's lease does not say %q:\n%s", want, errOut.String())
		}
	}
	info = take(pid, meta.Hostname)

	// The holder dies (killed, and reaped): its lease is stale and released.
	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	released("unlock after the holder died", unlock(""))
	if !strings.Contains(out.String(), "Unlocked app/prod") {
		t.Errorf("stdout = %q", out)
	}

	// No PID recorded (older panka): released as before.
	take(0, meta.Hostname)
	released("unlock of a lease without a pid", unlock(""))

	// Another host's PID says nothing here: --lock-id releases it.
	other := startHolder(t)
	info = take(other.Process.Pid, "some-other-host")
	released("unlock --lock-id of another host's lease", unlock(info.ID))
}

// TestDescribeLockOf: messages about one stack/environment's lock (unlock
// of an unlocked one, a failed acquire) name its object or item, not the
// pattern of all locks.
func TestDescribeLockOf(t *testing.T) {
	ios, _, _, _ := Test()
	f := NewFactory(ios)
	tests := []struct {
		name string
		cfg  config.Config
		want string
	}{
		{"s3", config.Config{Backend: config.Backend{Bucket: "b"}, Locks: config.Locks{Type: "s3"}}, "s3://b/stacks/app/prod/lock.json"},
		{"s3 prefix", config.Config{Backend: config.Backend{Bucket: "b", Prefix: "/team/"}, Locks: config.Locks{Type: "s3"}}, "s3://b/team/stacks/app/prod/lock.json"},
		{"dynamodb", config.Config{Locks: config.Locks{Type: "dynamodb", Table: "panka-locks"}}, "DynamoDB table panka-locks, lockKey stack:app:env:prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.describeLockOf(&config.Resolved{Config: tt.cfg}, "app", "prod"); got != tt.want {
				t.Errorf("describeLockOf = %q, want %q", got, tt.want)
			}
		})
	}
}
