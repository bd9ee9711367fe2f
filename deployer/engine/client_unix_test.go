//go:build unix

package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// writeLog records each write it gets.
type writeLog struct {
	mu     sync.Mutex
	writes []string
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// TestHelperStderrWholeLines: the helper's stderr reaches Options.Stderr a
// whole line a write, so the progress lines panka writes to the same
// stderr go between lines: Pulumi writes a line's text and its newline
// apart, and "  web: updating..." was printed into the middle of
// Pulumi's "~ web updating (0s) [diff: ~spec]". A last line without
// newline comes out when the helper ends.
func TestHelperStderrWholeLines(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fake-engine")
	script := "#!/bin/sh\nread -r req\nprintf 'Updating (shop-dev):\\n ~ web upd' >&2\necho '{\"ready\":true}'\n" +
		"sleep 0.3\nprintf 'ating (0s)\\n' >&2\nread -r op\nprintf 'no newline at the end' >&2\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var log writeLog
	c, err := Start(context.Background(), Request{}, Options{Binary: bin, Stderr: &log})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	_, _ = c.Outputs(context.Background()) // the helper ends without answering
	_ = c.Close()
	log.mu.Lock()
	defer log.mu.Unlock()
	if got := strings.Join(log.writes, ""); got != "Updating (shop-dev):\n ~ web updating (0s)\nno newline at the end\n" {
		t.Errorf("stderr passed on = %q", got)
	}
	for _, w := range log.writes {
		if !strings.HasSuffix(w, "\n") {
			t.Errorf("write %q of %q does not end a line", w, log.writes)
		}
	}
}
