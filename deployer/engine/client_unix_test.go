//go:build unix

package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInterruptedHelperKilledAfterGrace: a helper that does not stop when
// interrupted (its engine blocked on a hung state server) is killed after
// the grace, and the error says so and what it may leave, still counting
// as an interruption; it said "panka-engine stopped: context canceled".
func TestInterruptedHelperKilledAfterGrace(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fake-engine")
	// Ready, then deaf to SIGINT/SIGTERM for the operation (exec keeps the
	// ignored signals).
	script := "#!/bin/sh\ntrap '' INT TERM\nread -r req\necho '{\"ready\":true}'\nread -r op\nexec sleep 600\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := Start(context.Background(), Request{}, Options{Binary: bin, StopGrace: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = c.Up(ctx, nil)
	if err == nil {
		t.Fatal("Up of a helper that never answers returned no error")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %q is not an interruption (errors.Is context.Canceled)", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "panka-engine did not stop within 300ms of being interrupted and was killed") ||
		!strings.Contains(msg, "Pulumi's lock and pending operations") || strings.Contains(msg, "context canceled") {
		t.Errorf("error = %q", msg)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Up returned after %s, want about the grace", d)
	}
}
