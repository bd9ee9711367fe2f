package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/locker"
	"panka.dev/panka/locker/local"
	"panka.dev/panka/locker/lockertest"
	slocal "panka.dev/panka/statestore/local"
)

var backend = lockertest.Backend{
	Open: func(dir string, now func() time.Time) (locker.Locker, error) {
		return local.New(local.Options{Dir: dir, Now: now})
	},
	NewNamespace: func(t testing.TB) string { return t.TempDir() },
	Processes:    true,
}

func TestMain(m *testing.M) {
	lockertest.RunChild(backend)
	os.Exit(m.Run())
}

func TestConformance(t *testing.T) { lockertest.Run(t, backend) }

// TestGitIgnoreSharedWithTheStore: the locker writes the same .gitignore as
// the local state store, so the two never rewrite each other's file.
func TestGitIgnoreSharedWithTheStore(t *testing.T) {
	dir := t.TempDir()
	l, err := local.New(local.Options{Dir: dir, GitIgnore: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := l.TryAcquire(ctx, locker.Info{Key: "shop/dev", ID: "one", LockedBy: "dev"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if err != nil || string(b) != slocal.GitIgnore {
		t.Fatalf(".gitignore = %q (%v), want the state store's %q", b, err, slocal.GitIgnore)
	}
}

// A damaged lock file is reported as unreadable (so unlock --force knows to
// remove it) and ForceRelease removes it.
func TestDamagedLockFile(t *testing.T) {
	dir := t.TempDir()
	l, err := local.New(local.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := locker.Key("app", "prod")
	if err := os.MkdirAll(filepath.Join(dir, "locks"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "locks", "stack%3Aapp%3Aenv%3Aprod.json")
	// Cut short; and valid JSON that holds no lease ({}, null, a lease
	// written by hand without an expiry, which was taken over as one
	// that expired in year 1).
	for _, content := range []string{`{"lockKey": `, `{}`, `null`, `{"lockKey": "stack:app:env:prod", "lockId": "freeze", "lockedBy": "release-freeze"}`} {
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		// Each error names the whole command that removes it: plain
		// "panka unlock --force" is refused without the stack and
		// environment.
		const unlock = "panka unlock --force -s app -e prod removes it"
		if _, err := l.Get(ctx, key); !errors.Is(err, locker.ErrUnreadable) || !strings.Contains(err.Error(), unlock) {
			t.Fatalf("Get of lock file %s: %v; want ErrUnreadable naming %q", content, err, unlock)
		}
		if _, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "dev"}, time.Minute); !errors.Is(err, locker.ErrUnreadable) || !strings.Contains(err.Error(), unlock) {
			t.Fatalf("TryAcquire over lock file %s: %v; want ErrUnreadable naming %q", content, err, unlock)
		}
		if _, err := l.List(ctx); !errors.Is(err, locker.ErrUnreadable) || strings.Count(err.Error(), "panka unlock") != 1 || !strings.Contains(err.Error(), unlock) {
			t.Fatalf("List with lock file %s: %v; want ErrUnreadable naming %q once", content, err, unlock)
		}
	}
	if err := l.ForceRelease(ctx, key); err != nil {
		t.Fatalf("ForceRelease of a damaged lock file: %v", err)
	}
	if _, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "dev"}, time.Minute); err != nil {
		t.Fatalf("TryAcquire after ForceRelease: %v", err)
	}
}
