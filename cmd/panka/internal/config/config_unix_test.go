//go:build unix

package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestConfigFileNotRegular: a config path that is a named pipe, a device
// or a folder is an error naming it; a pipe hung every command and a link
// to /dev/zero ran out of memory.
func TestConfigFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	pipe := filepath.Join(dir, "pipe.yaml")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.yaml")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{pipe, "not a regular file (a named pipe)"},
		{zero, "not a regular file (a device)"},
		{dir, "it is a folder"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := Resolve(Layers{RepoFile: tt.path})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: %v, want %q", tt.path, err, tt.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Resolve hung", tt.path)
		}
	}
}
