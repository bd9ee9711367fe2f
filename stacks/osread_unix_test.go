//go:build unix

package stacks

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadNamedPipe: a named pipe named like a stack file is an error
// saying what it is; opening it used to wait for a writer for ever, and
// panka validate hung, deaf to Ctrl-C.
func TestLoadNamedPipe(t *testing.T) {
	dir := t.TempDir()
	sdir := filepath.Join(dir, "stacks", "s")
	if err := os.MkdirAll(filepath.Join(sdir, "infra"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sdir, "stack.yaml"), []byte(stackYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(sdir, "infra", "pipe.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Load(DirFS(dir), "stacks/s")
		done <- err
	}()
	select {
	case err := <-done:
		want := "stacks/s/infra/pipe.yaml: is not a regular file (a named pipe)"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load hung on a named pipe")
	}
}
