package local_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"panka.dev/panka/locker"
	"panka.dev/panka/locker/local"
)

// FuzzLockFile feeds arbitrary lock files (hand-edited, cut short, written
// by another release) to the local locker: Get, List, TryAcquire, Heartbeat,
// Release and ForceRelease return a lease or an error, never panic, and an
// unreadable file is ErrUnreadable, which unlock --force removes.
func FuzzLockFile(f *testing.F) {
	dir := f.TempDir()
	l, err := local.New(local.Options{Dir: dir})
	if err != nil {
		f.Fatal(err)
	}
	key := locker.Key("orders", "dev")
	info, err := l.TryAcquire(context.Background(), locker.Info{Key: key, LockedBy: "me",
		Metadata: locker.Metadata{Hostname: "h", PID: 1, Operation: "apply"}}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "locks", url.QueryEscape(key)+".json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, s := range []string{"", "{}", "null", "[]", `{"lockId":"x","expiresAt":"9999-12-31T23:59:59Z"}`, `{"expiresAt":"yesterday"}`,
		`{"lockKey":"stack:other:env:dev","lockId":"` + info.ID + `","expiresAt":"9999-12-31T23:59:59Z"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "locks"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "locks", url.QueryEscape(key)+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := local.New(local.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		check := func(what string, err error) {
			if err != nil && err.Error() == "" {
				t.Fatalf("%s: empty error", what)
			}
		}
		_, err = l.Get(ctx, key)
		unreadable := errors.Is(err, locker.ErrUnreadable)
		check("Get", err)
		_, err = l.List(ctx)
		check("List", err)
		got, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "fuzz"}, time.Minute)
		if unreadable && !errors.Is(err, locker.ErrUnreadable) {
			t.Fatalf("TryAcquire over an unreadable lock file: %v, want ErrUnreadable", err)
		}
		if err == nil {
			check("Heartbeat", l.Heartbeat(ctx, key, got.ID, time.Minute))
			if err := l.Release(ctx, key, got.ID); err != nil {
				t.Fatalf("Release of a lease just taken: %v", err)
			}
		}
		check("Heartbeat", l.Heartbeat(ctx, key, "x", time.Minute))
		check("Release", l.Release(ctx, key, "x"))
		if unreadable {
			if err := l.ForceRelease(ctx, key); err != nil {
				t.Fatalf("ForceRelease of an unreadable lock file: %v", err)
			}
		}
	})
}
