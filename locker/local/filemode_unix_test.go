//go:build unix

package local_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"panka.dev/panka/locker"
	"panka.dev/panka/locker/local"
)

// TestLockFilesFollowUmask: the lease file and its .flock are created 0644
// less the umask, like the rest of .panka/, not 0600: another user of a
// shared or read-only checkout can list the locks and see who holds one.
func TestLockFilesFollowUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	dir := t.TempDir()
	l, err := local.New(local.Options{Dir: dir})
	if err != nil {
		syscall.Umask(old)
		t.Fatal(err)
	}
	_, err = l.TryAcquire(context.Background(), locker.Info{Key: locker.Key("shop", "dev"), LockedBy: "dev"}, time.Minute)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "locks", "*"))
	if len(files) != 2 {
		t.Fatalf("lock files: %v", files)
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o644 {
			t.Errorf("%s has mode %04o, want 0644", f, got)
		}
	}
}
