package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWithFSAdvice: file-system errors that say only what failed get what
// to do, naming the folder to check or the file in the way; other errors
// are left alone, and the original error stays reachable.
func TestWithFSAdvice(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "stray")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "gone")); err != nil {
		t.Fatal(err)
	}
	wrap := func(op, path string, e error) error {
		return fmt.Errorf("write state: %w", &fs.PathError{Op: op, Path: path, Err: e})
	}
	tests := []struct {
		name string
		err  error
		want string // "" means unchanged
	}{
		{"permission on a folder", wrap("open", dir, syscall.EACCES), "check the owner and mode of " + dir + " and the folders above it (ls -ld " + dir + ")"},
		{"permission on a file", wrap("open", filepath.Join(dir, "state.json"), syscall.EPERM), "ls -ld " + dir + ")"},
		{"file in the way", wrap("open", filepath.Join(file, "locks", "x.json"), syscall.ENOTDIR), file + " is a file where panka needs a folder: move it away"},
		{"folder in the way", wrap("read", dir, syscall.EISDIR), dir + " is a folder where panka needs a file (state.json, a history record, a lock): move it away"},
		{"link to nothing", wrap("mkdir", filepath.Join(dir, "gone"), syscall.EEXIST), filepath.Join(dir, "gone") + " is a symbolic link to " + filepath.Join(dir, "nowhere") + ", which does not exist"},
		{"exists", wrap("open", file, syscall.EEXIST), ""},
		{"read-only", wrap("open", dir, syscall.EROFS), "the file system is read-only"},
		{"disk full", wrap("write", dir, syscall.ENOSPC), "the disk (or your quota) is full"},
		{"missing file", wrap("open", dir, syscall.ENOENT), ""},
		{"not a file-system error", errors.New("boom"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withFSAdvice(tt.err)
			if tt.want == "" {
				if got != tt.err {
					t.Fatalf("changed: %v", got)
				}
				return
			}
			if !strings.HasPrefix(got.Error(), tt.err.Error()+": ") || !strings.Contains(got.Error(), tt.want) {
				t.Fatalf("got %q, want %q after the original text", got, tt.want)
			}
			var pe *fs.PathError
			if !errors.As(got, &pe) {
				t.Fatal("the original error is not reachable")
			}
		})
	}
}
