package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/locker"
	slocal "panka.dev/panka/statestore/local"
)

// TestWriteSyncsFileAndDirectory: a lock file was renamed into place
// without syncing its data or its directory, so a crash soon after could
// leave an empty lock file (refused as unreadable by every operation) or
// lose a held lease. Every write (acquire, heartbeat) now syncs the temp
// file before the rename and the directory after it; a failed sync is an
// error that leaves the lock file as it was and no temp file behind.
func TestWriteSyncsFileAndDirectory(t *testing.T) {
	dir := t.TempDir()
	l, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var files, dirs []string
	var fileErr error
	syncFile = func(f *os.File) error {
		files = append(files, f.Name())
		if fileErr != nil {
			return fileErr
		}
		return f.Sync()
	}
	syncDir = func(d string) error { dirs = append(dirs, d); return nil }
	t.Cleanup(func() { syncFile, syncDir = (*os.File).Sync, slocal.SyncDir })

	ctx := context.Background()
	key := locker.Key("shop", "dev")
	info, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "alice"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Heartbeat(ctx, key, info.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || len(dirs) != 2 || dirs[0] != l.Dir() || !strings.HasPrefix(filepath.Base(files[0]), ".tmp-") {
		t.Fatalf("synced files %q, dirs %q; want each of the 2 writes to sync its temp file and %s", files, dirs, l.Dir())
	}
	infoPath, _ := l.paths(key)
	before, err := os.ReadFile(infoPath)
	if err != nil {
		t.Fatal(err)
	}

	fileErr = errors.New("input/output error")
	err = l.Heartbeat(ctx, key, info.ID, time.Hour)
	if err == nil || !strings.Contains(err.Error(), "input/output error") || !strings.Contains(err.Error(), infoPath) {
		t.Fatalf("heartbeat with a failing sync: %v, want the sync's error naming %s", err, infoPath)
	}
	after, err := os.ReadFile(infoPath)
	if err != nil || string(after) != string(before) {
		t.Errorf("lock file after a failed write: %q (%v), want it unchanged", after, err)
	}
	ents, err := os.ReadDir(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
}

// TestRemoveSyncsDirectory: a released lock file was removed without
// syncing its directory, so after a crash the released lease could come
// back until its TTL. Release and ForceRelease now sync the directory
// after the remove; a failed sync still releases (the file is gone).
func TestRemoveSyncsDirectory(t *testing.T) {
	l, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := locker.Key("shop", "dev")
	infoPath, _ := l.paths(key)
	var dirs []string
	var dirErr error
	syncDir = func(d string) error {
		if _, err := os.Stat(infoPath); errors.Is(err, os.ErrNotExist) {
			dirs = append(dirs, d) // synced after the remove
		}
		return dirErr
	}
	t.Cleanup(func() { syncDir = slocal.SyncDir })
	for _, tc := range []struct {
		name    string
		release func(id string) error
		fail    bool
	}{
		{"release", func(id string) error { return l.Release(ctx, key, id) }, false},
		{"force-release", func(string) error { return l.ForceRelease(ctx, key) }, false},
		{"release, sync fails", func(id string) error { return l.Release(ctx, key, id) }, true},
	} {
		dirErr = nil
		info, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "alice"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		dirs = nil
		if tc.fail {
			dirErr = errors.New("input/output error")
		}
		if err := tc.release(info.ID); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(dirs) != 1 || dirs[0] != l.Dir() {
			t.Errorf("%s: synced dirs %q, want %s once, after the remove", tc.name, dirs, l.Dir())
		}
		if _, err := os.Stat(infoPath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: lock file after release: %v, want it gone", tc.name, err)
		}
	}
}

// TestAcquireSyncFailsLeavesNoLease: when the directory sync after the
// lock file's rename fails, acquire fails, and the file it renamed into
// place (a lease nobody holds, refusing every run until its TTL) is
// removed: the next acquire gets the lease.
func TestAcquireSyncFailsLeavesNoLease(t *testing.T) {
	l, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := locker.Key("shop", "dev")
	infoPath, _ := l.paths(key)
	fail := true
	syncDir = func(d string) error {
		if fail {
			return errors.New("input/output error")
		}
		return nil
	}
	t.Cleanup(func() { syncDir = slocal.SyncDir })
	if _, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "alice"}, time.Hour); err == nil || !strings.Contains(err.Error(), "sync its directory") {
		t.Fatalf("TryAcquire with a failing directory sync = %v, want the sync error", err)
	}
	if _, err := os.Stat(infoPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after a failed acquire: %v, want it gone", err)
	}
	fail = false
	info, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "bob"}, time.Hour)
	if err != nil {
		t.Fatalf("TryAcquire after the failed one: %v, want the lease", err)
	}
	// Another's lease is never removed: a failed acquire of a held
	// lease fails before writing.
	fail = true
	if _, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "carol"}, time.Hour); !errors.As(err, new(*locker.HeldError)) {
		t.Errorf("TryAcquire of a held lease = %v, want HeldError", err)
	}
	if cur, err := l.Get(ctx, key); err != nil || cur.ID != info.ID {
		t.Errorf("lease after another's failed acquire: %+v, %v; want bob's", cur, err)
	}
}
