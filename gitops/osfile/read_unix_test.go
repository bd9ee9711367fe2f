//go:build unix

package osfile_test

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"panka.dev/panka/gitops/osfile"
)

// TestReadNamedPipe: a named pipe is refused at once; opening it for
// reading used to wait for a writer for ever.
func TestReadNamedPipe(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pipe.yaml")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool, 1)
	go func() {
		_, ok := osfile.Read(p, osfile.Options{Max: 1 << 20})
		done <- ok
	}()
	select {
	case ok := <-done:
		if ok {
			t.Error("Read of a named pipe: ok, want refused")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read hung on a named pipe")
	}
}
