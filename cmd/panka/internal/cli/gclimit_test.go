package cli

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestAdaptMemoryLimit: with a live heap above half the floor, the soft
// limit rises to twice the live heap after a collection, so the collector
// does not run all the time; it never drops below the floor.
func TestAdaptMemoryLimit(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(8 << 20))
	adaptMemoryLimit(8 << 20)
	live := make([][]byte, 0, 48)
	for range 48 {
		live = append(live, make([]byte, 1<<20))
	}
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) < 80<<20 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the finalizer runs on its own goroutine
	}
	if got := debug.SetMemoryLimit(-1); got < 80<<20 || got == math.MaxInt64 {
		t.Errorf("memory limit %d MB with 48 MB live, want about 96 MB", got>>20)
	}
	runtime.KeepAlive(live)
}
