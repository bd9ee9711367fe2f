package osfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReplace: the file is written in a folder made for it, replaced
// whole, and the temporary files killed writes left (older than
// StaleTemp) are removed, not a younger one (a write in progress).
func TestReplace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	file := filepath.Join(dir, "record")
	if err := Replace(file, ".record-", []byte("one")); err != nil {
		t.Fatal(err)
	}
	stale, fresh := filepath.Join(dir, ".record-1"), filepath.Join(dir, ".record-2")
	for _, f := range []string{stale, fresh} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * StaleTemp)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if err := Replace(file, ".record-", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "two" {
		t.Fatalf("record: %q, %v", b, err)
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, err := os.Lstat(fresh); err != nil {
		t.Errorf("a write in progress removed: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".record-*"))
	if len(left) != 1 {
		t.Errorf("temporary files left: %v", left)
	}
}
