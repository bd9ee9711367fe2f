//go:build unix

package cli

import (
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestSameSignalTwiceAtOnceIsOne: `timeout 30m panka apply` (GNU timeout)
// and CI runners send SIGTERM to panka and to its process group, so it
// arrives twice at once: that is one request to stop cleanly, not the
// second signal that ends panka at once (leaving its lease and Pulumi's
// lock). The same signal later on is the second. (SIGUSR1 stands for
// SIGTERM here; Ctrl-C, which a terminal sends once, is never merged.)
func TestSameSignalTwiceAtOnceIsOne(t *testing.T) {
	var mu sync.Mutex
	var said []bool
	exited := make(chan int, 1)
	old := exitNow
	exitNow = func(code int) { exited <- code }
	defer func() { exitNow = old }()
	ctx, stop := interruptContext(func(_ os.Signal, second bool) {
		mu.Lock()
		said = append(said, second)
		mu.Unlock()
	}, syscall.SIGUSR1)
	defer stop()
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the first signal did not cancel the run")
	}
	// The copy, once the first was taken (sent together, the two are
	// often merged into one before panka sees them).
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	time.Sleep(100 * time.Millisecond) // < sameSignalWindow
	select {
	case code := <-exited:
		t.Fatalf("the signal sent twice at once ended panka (exit %d)", code)
	default:
	}
	time.Sleep(200 * time.Millisecond) // > sameSignalWindow in all
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	select {
	case code := <-exited:
		if code != 130 {
			t.Errorf("exit %d, want 130", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second signal later on did not end panka")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(said) != 2 || said[0] || !said[1] {
		t.Errorf("said (second?) %v, want [false true]", said)
	}
}
