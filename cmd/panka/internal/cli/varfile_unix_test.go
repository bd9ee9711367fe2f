//go:build unix

package cli

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVarFileFIFOInterrupted: a --var-file that is a FIFO nothing writes
// to blocks in open; a stop signal (the context ending) gives up the wait
// with an "interrupted" error instead of waiting for a second signal.
func TestVarFileFIFOInterrupted(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "vars.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ := Test()
	f := NewFactory(ios)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := (&varFlags{VarFiles: []string{fifo}}).values(ctx, f)
	if err == nil || !strings.Contains(err.Error(), "interrupted: --var-file "+fifo+" was still being read") {
		t.Fatalf("err = %v, want interrupted", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}
}
