package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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
