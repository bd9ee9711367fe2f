package lockertest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"panka.dev/panka/locker"
)

// Backend is a locker backend under test.
type Backend struct {
	// Open returns a new client, independent of every other client, on
	// the namespace ns (a directory, table, or bucket/prefix) with the
	// given clock. It must work in a child process too (no testing.T).
	Open func(ns string, now func() time.Time) (locker.Locker, error)
	// NewNamespace returns a fresh, empty namespace for one test.
	NewNamespace func(t testing.TB) string
	// Processes runs the contention test across processes as well (for
	// backends whose correctness relies on OS locks).
	Processes bool
	// Rounds per goroutine in the contention test (default 200;
	// LOCKERTEST_ROUNDS overrides it).
	Rounds int
	// MaxBackoff caps the backoff of a contender between attempts
	// (default 500ms; LOCKERTEST_MAX_BACKOFF overrides it). Network
	// backends want more, so that 49 pollers do not saturate the client
	// (under -race) or the test server.
	MaxBackoff time.Duration
}

// Start is the fake clock's starting time (whole seconds, as DynamoDB stores).
var Start = time.Unix(1_800_000_000, 0)

const (
	ttl = time.Minute
	hb  = 20 * time.Second
)

// Run runs the conformance suite.
func Run(t *testing.T, b Backend) {
	if n, err := strconv.Atoi(os.Getenv("LOCKERTEST_ROUNDS")); err == nil && n > 0 {
		b.Rounds = n
	}
	if b.Rounds == 0 {
		b.Rounds = 200
	}
	if d, err := time.ParseDuration(os.Getenv("LOCKERTEST_MAX_BACKOFF")); err == nil {
		b.MaxBackoff = d
	}
	if b.MaxBackoff == 0 {
		b.MaxBackoff = 500 * time.Millisecond
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"ExclusiveAcquire", testExclusive},
		{"ReleaseByNonHolderRefused", testReleaseByNonHolder},
		{"ExpiredLeaseTakenOver", testExpiredTakenOver},
		{"HeartbeatKeepsLeaseAlive", testHeartbeatKeepsAlive},
		{"ConcurrentHeartbeatsOfTheHolder", testConcurrentHeartbeats},
		{"LostLeaseCancelsContext", testLostLeaseCancels},
		{"WaitSucceedsWhenReleased", testWaitSucceeds},
		{"WaitGivesUp", testWaitGivesUp},
		{"ForceUnlock", testForceUnlock},
		{"Reclaim", testReclaim},
		{"GetAndList", testGetList},
		{"Contention", testContention},
		{"ContentionProcesses", testContentionProcesses},
		{"CrashedHolderExpires", testCrash},
	}
	for _, tc := range tests {
		if tc.name == "ContentionProcesses" && !b.Processes {
			continue // network backends keep no process-local state
		}
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

// pair opens two independent clients on a fresh namespace sharing clock.
func pair(t *testing.T, b Backend, now func() time.Time) (string, locker.Locker, locker.Locker) {
	t.Helper()
	ns := b.NewNamespace(t)
	x, err := b.Open(ns, now)
	if err != nil {
		t.Fatal(err)
	}
	y, err := b.Open(ns, now)
	if err != nil {
		t.Fatal(err)
	}
	return ns, x, y
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var key = locker.Key("app", "prod")

func infoFor(who string) locker.Info {
	return locker.Info{Key: key, LockedBy: who, Metadata: locker.Metadata{Hostname: "host-" + who, PID: 42, Version: "v1.2.3",
		Operation: "apply", Commit: "0123456789abcdef0123456789abcdef01234567", CIURL: "https://ci.example/run/1",
		BootID: "c10c0714-0f44-402f-8dcf-0d861a75c47e", PIDNamespace: "pid:[4026531836]", ProcessStart: 123456789,
		MachineID: "5f1d8a0e2c3b4a69b7e8d9c0a1b2c3d4"}}
}

func mustHeld(t *testing.T, err error, wantID string) {
	t.Helper()
	var he *locker.HeldError
	if !errors.As(err, &he) || !errors.Is(err, locker.ErrHeld) {
		t.Fatalf("got %v, want *HeldError", err)
	}
	if wantID != "" && he.Holder.ID != wantID {
		t.Fatalf("HeldError names lock id %s, want %s", he.Holder.ID, wantID)
	}
}

func testExclusive(t *testing.T, b Backend) {
	ctx := ctxT(t)
	clk := NewClock(Start)
	_, a, c := pair(t, b, clk.Now)
	ia, err := a.TryAcquire(ctx, infoFor("alice"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uuid.Parse(ia.ID); err != nil {
		t.Fatalf("lock id %q is not a UUID", ia.ID)
	}
	if !ia.ExpiresAt.Equal(Start.Add(ttl)) || !ia.LockedAt.Equal(Start) {
		t.Fatalf("lease times %v..%v, want %v..%v", ia.LockedAt, ia.ExpiresAt, Start, Start.Add(ttl))
	}
	_, err = c.TryAcquire(ctx, infoFor("bob"), ttl)
	mustHeld(t, err, ia.ID)
	var he *locker.HeldError
	errors.As(err, &he)
	if he.Holder.LockedBy != "alice" || he.Holder.Metadata.Hostname != "host-alice" || he.Holder.Metadata.Operation != "apply" {
		t.Fatalf("holder = %+v, want alice's lease", he.Holder)
	}
	// Not re-entrant: the holder's own client is refused too.
	_, err = a.TryAcquire(ctx, infoFor("alice"), ttl)
	mustHeld(t, err, ia.ID)
	clk.Advance(ttl) // exactly at expiry: still held
	_, err = c.TryAcquire(ctx, infoFor("bob"), ttl)
	mustHeld(t, err, ia.ID)
	if err := a.Release(ctx, key, ia.ID); err != nil {
		t.Fatal(err)
	}
	ib, err := c.TryAcquire(ctx, infoFor("bob"), ttl)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if ib.ID == ia.ID {
		t.Fatal("a new lease reused the old lock id")
	}
	// Another key is independent.
	other := infoFor("alice")
	other.Key = locker.Key("app", "dev")
	if _, err := a.TryAcquire(ctx, other, ttl); err != nil {
		t.Fatalf("acquire another key: %v", err)
	}
}

func testReleaseByNonHolder(t *testing.T, b Backend) {
	ctx := ctxT(t)
	clk := NewClock(Start)
	_, a, c := pair(t, b, clk.Now)
	ia, err := a.TryAcquire(ctx, infoFor("alice"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{uuid.NewString(), ""} {
		if err := c.Release(ctx, key, id); !errors.Is(err, locker.ErrLost) {
			t.Fatalf("release with lock id %q by a non-holder: %v, want ErrLost", id, err)
		}
		if err := c.Heartbeat(ctx, key, id, ttl); !errors.Is(err, locker.ErrLost) {
			t.Fatalf("heartbeat with lock id %q by a non-holder: %v, want ErrLost", id, err)
		}
	}
	got, err := c.Get(ctx, key)
	if err != nil || got.ID != ia.ID {
		t.Fatalf("after refused release Get = %+v, %v; want alice's lease", got, err)
	}
	_, err = c.TryAcquire(ctx, infoFor("bob"), ttl)
	mustHeld(t, err, ia.ID)
	if err := c.Release(ctx, locker.Key("nope", "prod"), ia.ID); !errors.Is(err, locker.ErrLost) {
		t.Fatalf("release of a key nobody holds: %v, want ErrLost", err)
	}
}

func testExpiredTakenOver(t *testing.T, b Backend) {
	ctx := ctxT(t)
	clk := NewClock(Start)
	_, a, c := pair(t, b, clk.Now)
	ia, err := a.TryAcquire(ctx, infoFor("alice"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(ttl / 2)
	_, err = c.TryAcquire(ctx, infoFor("bob"), ttl)
	mustHeld(t, err, ia.ID)
	clk.Advance(ttl/2 + time.Second) // one second past expiry
	ib, err := c.TryAcquire(ctx, infoFor("bob"), ttl)
	if err != nil {
		t.Fatalf("take over an expired lease: %v", err)
	}
	if err := a.Heartbeat(ctx, key, ia.ID, ttl); !errors.Is(err, locker.ErrLost) {
		t.Fatalf("old holder's heartbeat: %v, want ErrLost", err)
	}
	if err := a.Release(ctx, key, ia.ID); !errors.Is(err, locker.ErrLost) {
		t.Fatalf("old holder's release: %v, want ErrLost", err)
	}
	got, err := a.Get(ctx, key)
	if err != nil || got.ID != ib.ID || got.LockedBy != "bob" {
		t.Fatalf("Get = %+v, %v; want bob's lease", got, err)
	}
}

func testHeartbeatKeepsAlive(t *testing.T, b Backend) {
	ctx := ctxT(t)
	clk := NewClock(Start)
	_, a, c := pair(t, b, clk.Now)
	// Plain heartbeats.
	ia, err := a.TryAcquire(ctx, infoFor("alice"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		clk.Advance(40 * time.Second)
		if err := a.Heartbeat(ctx, key, ia.ID, ttl); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	_, err = c.TryAcquire(ctx, infoFor("bob"), ttl)
	mustHeld(t, err, ia.ID)
	got, _ := c.Get(ctx, key)
	if !got.ExpiresAt.Equal(clk.Now().Add(ttl)) || !got.LastHeartbeat.Equal(clk.Now()) || !got.LockedAt.Equal(Start) {
		t.Fatalf("after heartbeats lease = %+v; want lockedAt %v, heartbeat %v, expiry %v", got, Start, clk.Now(), clk.Now().Add(ttl))
	}
	if err := a.Release(ctx, key, ia.ID); err != nil {
		t.Fatal(err)
	}

	// The lease manager's heartbeat goroutine.
	lease, err := locker.Acquire(ctx, a, infoFor("alice"), locker.LeaseOptions{TTL: ttl, Heartbeat: hb, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(context.Background())
	for range 7 { // 140 s, more than two TTLs
		if !clk.WaitSleepers(1, nil) {
			t.Fatal("heartbeat goroutine never slept")
		}
		clk.Advance(hb)
	}
	if !clk.WaitSleepers(1, nil) {
		t.Fatal("heartbeat goroutine stopped")
	}
	_, err = c.TryAcquire(ctx, infoFor("bob"), ttl)
	mustHeld(t, err, lease.Info().ID)
	if lease.Err() != nil {
		t.Fatalf("lease ended: %v", lease.Err())
	}
	if exp := lease.Info().ExpiresAt; !exp.Equal(clk.Now().Add(ttl)) {
		t.Fatalf("lease.Info().ExpiresAt = %v, want %v", exp, clk.Now().Add(ttl))
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if !errors.Is(lease.Err(), locker.ErrReleased) {
		t.Fatalf("Err after release = %v, want ErrReleased", lease.Err())
	}
	if _, err := c.Get(ctx, key); !errors.Is(err, locker.ErrNotFound) {
		t.Fatalf("Get after release: %v, want ErrNotFound", err)
	}
}

// testConcurrentHeartbeats: heartbeats of the holder's own lock id that
// overlap (Lease.Check, asked before a run records its result, meeting the
// heartbeat goroutine's call) all extend the lease; none reads the other's
// extension as the lease taken over. The clock moves on at every reading,
// as the real one does, so no two heartbeats write the same lease.
func testConcurrentHeartbeats(t *testing.T, b Backend) {
	ctx := ctxT(t)
	var ticks atomic.Int64
	now := func() time.Time { return Start.Add(time.Duration(ticks.Add(1)) * time.Millisecond) }
	_, a, c := pair(t, b, now)
	ia, err := a.TryAcquire(ctx, infoFor("alice"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 2, 10
	errs := make(chan error, workers*rounds)
	for range rounds {
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.Heartbeat(ctx, key, ia.ID, ttl); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Errorf("concurrent heartbeat of the holder: %v", err)
	}
	_, err = c.TryAcquire(ctx, infoFor("bob"), ttl)
	mustHeld(t, err, ia.ID)
	if err := a.Release(ctx, key, ia.ID); err != nil {
		t.Fatalf("release after concurrent heartbeats: %v", err)
	}
}

func testLostLeaseCancels(t *testing.T, b Backend) {
	ctx := ctxT(t)
	clk := NewClock(Start)
	_, a, c := pair(t, b, clk.Now)
	lease, err := locker.Acquire(ctx, a, infoFor("alice"), locker.LeaseOptions{TTL: ttl, Heartbeat: hb, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ForceRelease(ctx, key); err != nil {
		t.Fatal(err)
	}
	ib, err := c.TryAcquire(ctx, infoFor("bob"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	if !clk.WaitSleepers(1, nil) {
		t.Fatal("heartbeat goroutine never slept")
	}
	clk.Advance(hb)
	select {
	case <-lease.Context().Done():
	case <-time.After(20 * time.Second):
		t.Fatal("holder's context not cancelled after its lease was taken")
	}
	if !errors.Is(lease.Err(), locker.ErrLost) || lease.Lost() == nil {
		t.Fatalf("lease.Err() = %v, want ErrLost", lease.Err())
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatalf("Release of a lost lease: %v", err)
	}
	got, err := c.Get(ctx, key)
	if err != nil || got.ID != ib.ID {
		t.Fatalf("releasing a lost lease touched the new holder's: %+v, %v", got, err)
	}
}

func testWaitSucceeds(t *testing.T, b Backend) {
	ctx := ctxT(t)
	clk := NewClock(Start)
	_, a, c := pair(t, b, clk.Now)
	ia, err := a.TryAcquire(ctx, infoFor("alice"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []locker.Info
	type result struct {
		lease *locker.Lease
		err   error
	}
	done := make(chan result, 1)
	go func() {
		l, err := locker.Acquire(ctx, c, infoFor("bob"), locker.LeaseOptions{TTL: ttl, Heartbeat: hb, Wait: 10 * time.Minute, Clock: clk,
			OnWait: func(h locker.Info) { mu.Lock(); seen = append(seen, h); mu.Unlock() }})
		done <- result{l, err}
	}()
	// Let it back off a few times while alice holds the lease.
	for range 5 {
		if !clk.WaitSleepers(1, nil) {
			t.Fatal("waiter never backed off")
		}
		clk.Advance(locker.DefaultMaxBackoff)
	}
	if !clk.WaitSleepers(1, nil) {
		t.Fatal("waiter never backed off")
	}
	if err := a.Release(ctx, key, ia.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(locker.DefaultMaxBackoff)
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("waiter did not get the lease after it was released")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.lease.Release(context.Background())
	mu.Lock()
	defer mu.Unlock()
	// OnWait is throttled to every 5 s: 6 attempts over 25 s give 3..6 notices.
	if len(seen) < 2 || seen[0].ID != ia.ID || seen[0].LockedBy != "alice" {
		t.Fatalf("OnWait saw %+v, want alice's lease at least twice", seen)
	}
	if got, _ := a.Get(ctx, key); got.ID != r.lease.Info().ID || got.LockedBy != "bob" {
		t.Fatalf("Get = %+v, want bob's lease", got)
	}
}

func testWaitGivesUp(t *testing.T, b Backend) {
	ctx := ctxT(t)
	clk := NewClock(Start)
	_, a, c := pair(t, b, clk.Now)
	ia, err := a.TryAcquire(ctx, infoFor("alice"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	// Wait 0 fails at once, without sleeping.
	_, err = locker.Acquire(ctx, c, infoFor("bob"), locker.LeaseOptions{TTL: ttl, Clock: clk})
	mustHeld(t, err, ia.ID)
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		_, err := locker.Acquire(ctx, c, infoFor("bob"), locker.LeaseOptions{TTL: ttl, Wait: 20 * time.Second, Clock: clk})
		done <- err
		close(finished)
	}()
	var elapsed time.Duration
	for {
		select {
		case err := <-done:
			mustHeld(t, err, ia.ID)
			if !strings.Contains(err.Error(), "waiting 20s") {
				t.Fatalf("error %q does not say how long it waited", err)
			}
			if elapsed < 20*time.Second || elapsed > 21*time.Second {
				t.Fatalf("gave up after %v, want 20s", elapsed)
			}
			return
		default:
		}
		if clk.WaitSleepers(1, finished) {
			clk.Advance(time.Second)
			elapsed += time.Second
		}
	}
}

func testForceUnlock(t *testing.T, b Backend) {
	ctx := ctxT(t)
	clk := NewClock(Start)
	_, a, c := pair(t, b, clk.Now)
	if err := c.ForceRelease(ctx, key); !errors.Is(err, locker.ErrNotFound) {
		t.Fatalf("force-release with no lock: %v, want ErrNotFound", err)
	}
	ia, err := a.TryAcquire(ctx, infoFor("alice"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ForceRelease(ctx, key); err != nil {
		t.Fatalf("force-release: %v", err)
	}
	if _, err := c.Get(ctx, key); !errors.Is(err, locker.ErrNotFound) {
		t.Fatalf("Get after force-release: %v, want ErrNotFound", err)
	}
	if err := a.Heartbeat(ctx, key, ia.ID, ttl); !errors.Is(err, locker.ErrLost) {
		t.Fatalf("holder's heartbeat after force-release: %v, want ErrLost", err)
	}
	if err := a.Release(ctx, key, ia.ID); !errors.Is(err, locker.ErrLost) {
		t.Fatalf("holder's release after force-release: %v, want ErrLost", err)
	}
	if _, err := c.TryAcquire(ctx, infoFor("bob"), ttl); err != nil {
		t.Fatalf("acquire after force-release: %v", err)
	}
}

// testReclaim: a lease lost with its store (deleted and made again
// empty) is put back with its own lock id, and is then held as before; a
// lease another client holds is never written over.
func testReclaim(t *testing.T, b Backend) {
	ctx := ctxT(t)
	clk := NewClock(Start)
	_, a, c := pair(t, b, clk.Now)
	lost := infoFor("alice")
	lost.ID = uuid.NewString()
	lost.LockedAt = Start.Add(-10 * time.Minute)
	lost.LastHeartbeat, lost.ExpiresAt = lost.LockedAt, lost.LockedAt.Add(ttl)
	got, err := a.Reclaim(ctx, lost, ttl)
	if err != nil {
		t.Fatalf("reclaim where no lease is: %v", err)
	}
	if got.ID != lost.ID || !got.ExpiresAt.Equal(Start.Add(ttl)) || !got.LastHeartbeat.Equal(Start) {
		t.Fatalf("reclaimed %+v, want lock id %s, expiring at %v", got, lost.ID, Start.Add(ttl))
	}
	seen, err := c.Get(ctx, key)
	if err != nil || seen.ID != lost.ID || !seen.LockedAt.Equal(lost.LockedAt) || seen.Metadata != lost.Metadata || !seen.ExpiresAt.Equal(Start.Add(ttl)) {
		t.Fatalf("other client reads %+v, %v; want the reclaimed lease as it was (lock id %s, locked at %v)", seen, err, lost.ID, lost.LockedAt)
	}
	if _, err := c.TryAcquire(ctx, infoFor("bob"), ttl); !errors.Is(err, locker.ErrHeld) {
		t.Fatalf("acquire beside a reclaimed lease: %v, want ErrHeld", err)
	}
	if _, err := a.Reclaim(ctx, lost, ttl); err != nil {
		t.Fatalf("reclaim of a lease already back: %v", err)
	}
	if err := a.Heartbeat(ctx, key, lost.ID, ttl); err != nil {
		t.Fatalf("heartbeat of a reclaimed lease: %v", err)
	}
	if err := a.Release(ctx, key, lost.ID); err != nil {
		t.Fatalf("release of a reclaimed lease: %v", err)
	}

	// Another run took the lock first: the lost lease stays lost.
	ib, err := c.TryAcquire(ctx, infoFor("bob"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Reclaim(ctx, lost, ttl)
	if !errors.Is(err, locker.ErrLost) {
		t.Fatalf("reclaim over another's lease: %v, want ErrLost", err)
	}
	mustHeld(t, err, ib.ID)
	if seen, err := c.Get(ctx, key); err != nil || seen.ID != ib.ID {
		t.Fatalf("after a refused reclaim: %+v, %v, want bob's lease (lock id %s) untouched", seen, err, ib.ID)
	}
}

func testGetList(t *testing.T, b Backend) {
	ctx := ctxT(t)
	clk := NewClock(Start)
	_, a, c := pair(t, b, clk.Now)
	if _, err := c.Get(ctx, key); !errors.Is(err, locker.ErrNotFound) {
		t.Fatalf("Get with no lock: %v, want ErrNotFound", err)
	}
	if l, err := c.List(ctx); err != nil || len(l) != 0 {
		t.Fatalf("List with no lock = %v, %v", l, err)
	}
	keys := []string{locker.Key("web", "dev"), locker.Key("app", "prod"), locker.Key("app", "dev")}
	ids := map[string]string{}
	for i, k := range keys {
		in := infoFor("alice")
		in.Key = k
		got, err := a.TryAcquire(ctx, in, ttl)
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = got.ID
		if i == 0 {
			clk.Advance(time.Minute / 2)
		}
	}
	list, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{locker.Key("app", "dev"), locker.Key("app", "prod"), locker.Key("web", "dev")}
	if len(list) != len(want) {
		t.Fatalf("List = %+v, want %v", list, want)
	}
	for i, l := range list {
		exp := infoFor("alice")
		if l.Key != want[i] || l.ID != ids[l.Key] || l.LockedBy != "alice" || l.Metadata != exp.Metadata {
			t.Fatalf("List[%d] = %+v, want key %s with alice's metadata %+v", i, l, want[i], exp.Metadata)
		}
	}
	if !list[2].LockedAt.Equal(Start) || !list[0].LockedAt.Equal(Start.Add(time.Minute/2)) {
		t.Fatalf("lockedAt %v and %v, want %v and %v", list[2].LockedAt, list[0].LockedAt, Start, Start.Add(time.Minute/2))
	}
	got, err := c.Get(ctx, keys[1])
	if err != nil || got != list[1] {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, list[1])
	}
	if err := a.Release(ctx, keys[0], ids[keys[0]]); err != nil {
		t.Fatal(err)
	}
	if list, err := c.List(ctx); err != nil || len(list) != 2 {
		t.Fatalf("List after one release = %+v, %v", list, err)
	}
}

// Contention: goroutines × rounds acquisitions of one key through two
// clients; an atomic counter independent of the locker must never see two
// holders.
func testContention(t *testing.T, b Backend) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	defer func() {
		t.Logf("%d goroutines x %d rounds in %v", 50, b.Rounds, time.Since(start).Round(time.Millisecond))
	}()
	_, a, c := pair(t, b, time.Now)
	const goroutines = 50
	var holders, violations, total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := []locker.Locker{a, c}[g%2]
			if err := contend(ctx, cl, fmt.Sprintf("g%d", g), b.Rounds, b.MaxBackoff, func() {
				if holders.Add(1) != 1 {
					violations.Add(1)
				}
				time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
				holders.Add(-1)
				total.Add(1)
			}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if v := violations.Load(); v != 0 {
		t.Fatalf("%d times two holders at once", v)
	}
	if n := total.Load(); n != int64(goroutines*b.Rounds) {
		t.Fatalf("%d rounds completed, want %d", n, goroutines*b.Rounds)
	}
}

// minBackoff is the first backoff of a contender in the contention tests.
const minBackoff = 2 * time.Millisecond

// contend acquires key rounds times, running critical while holding it.
func contend(ctx context.Context, l locker.Locker, who string, rounds int, maxBackoff time.Duration, critical func()) error {
	for r := 0; r < rounds; r++ {
		var info locker.Info
		for backoff := minBackoff; ; backoff = min(backoff*2, maxBackoff) {
			var err error
			info, err = l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: who}, time.Minute)
			if err == nil {
				break
			}
			if !errors.Is(err, locker.ErrHeld) {
				return fmt.Errorf("%s round %d: %w", who, r, err)
			}
			time.Sleep(backoff/2 + rand.N(backoff/2))
		}
		critical()
		if err := l.Release(ctx, key, info.ID); err != nil {
			return fmt.Errorf("%s round %d: release: %w", who, r, err)
		}
	}
	return nil
}

// Child process protocol.
const (
	envRole    = "LOCKERTEST_CHILD"
	envNS      = "LOCKERTEST_NS"
	envMarker  = "LOCKERTEST_MARKER"
	envWorkers = "LOCKERTEST_WORKERS"
	envRounds  = "LOCKERTEST_ROUNDS"
	envTTL     = "LOCKERTEST_TTL"
)

// RunChild runs the child-process half of the suite when this process was
// started by it, and exits; otherwise it returns at once. Call it first in
// TestMain of every package that calls Run.
func RunChild(b Backend) {
	role := os.Getenv(envRole)
	if role == "" {
		return
	}
	ctx := context.Background()
	l, err := b.Open(os.Getenv(envNS), time.Now)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	switch role {
	case "hold":
		d, _ := time.ParseDuration(os.Getenv(envTTL))
		lease, err := locker.Acquire(ctx, l, locker.Info{Key: key, LockedBy: "child", Metadata: locker.Metadata{PID: os.Getpid()}},
			locker.LeaseOptions{TTL: d, Heartbeat: d / 4})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child acquire:", err)
			os.Exit(3)
		}
		fmt.Printf("ACQUIRED %s\n", lease.Info().ID)
		<-lease.Context().Done() // until SIGKILL
		fmt.Fprintln(os.Stderr, "child lost its lease:", lease.Err())
		os.Exit(4)
	case "contend":
		workers, _ := strconv.Atoi(os.Getenv(envWorkers))
		rounds, _ := strconv.Atoi(os.Getenv(envRounds))
		marker := os.Getenv(envMarker)
		var violations, total atomic.Int64
		var wg sync.WaitGroup
		var failed atomic.Bool
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := contend(ctx, l, fmt.Sprintf("p%d-w%d", os.Getpid(), w), rounds, 500*time.Millisecond, func() {
					// O_EXCL on a marker file is the independent check:
					// it fails if another process holds the lease too.
					f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
					if err != nil {
						violations.Add(1)
						return
					}
					f.Close()
					time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
					if err := os.Remove(marker); err != nil {
						violations.Add(1)
					}
					total.Add(1)
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					failed.Store(true)
				}
			}()
		}
		wg.Wait()
		fmt.Printf("DONE %d %d\n", total.Load(), violations.Load())
		if failed.Load() {
			os.Exit(3)
		}
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, "unknown child role", role)
	os.Exit(3)
}

func child(t *testing.T, env ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// testContentionProcesses: the same as testContention, but the
// contenders are separate processes and the check is an O_EXCL marker file.
func testContentionProcesses(t *testing.T, b Backend) {
	ns := b.NewNamespace(t)
	marker := filepath.Join(t.TempDir(), "holder")
	const procs, workers = 5, 10
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for range procs {
		cmd := child(t, envRole+"=contend", envNS+"="+ns, envMarker+"="+marker,
			envWorkers+"="+strconv.Itoa(workers), envRounds+"="+strconv.Itoa(b.Rounds))
		out := &strings.Builder{}
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	var total int
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("contender process %d: %v", i, err)
		}
		var n, v int
		if _, err := fmt.Sscanf(outs[i].String(), "DONE %d %d", &n, &v); err != nil {
			t.Fatalf("contender process %d printed %q", i, outs[i].String())
		}
		if v != 0 {
			t.Errorf("contender process %d saw another holder %d times", i, v)
		}
		total += n
	}
	if want := procs * workers * b.Rounds; total != want {
		t.Fatalf("%d rounds completed across processes, want %d", total, want)
	}
}

// testCrash: a child process holding a lease (with heartbeats) is
// SIGKILLed; the lease is refused until it expires and taken right after.
func testCrash(t *testing.T, b Backend) {
	ctx := ctxT(t)
	const childTTL = 2 * time.Second
	ns := b.NewNamespace(t)
	cmd := child(t, envRole+"=hold", envNS+"="+ns, envTTL+"="+childTTL.String())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
	}()
	var id string
	select {
	case l := <-line:
		id, _ = strings.CutPrefix(l, "ACQUIRED ")
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child never acquired the lease")
	}
	if id == "" {
		cmd.Wait()
		t.Fatal("child failed to acquire the lease")
	}
	time.Sleep(childTTL / 2) // let it heartbeat at least once
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	l, err := b.Open(ns, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	held, err := l.Get(ctx, key)
	if err != nil || held.ID != id {
		t.Fatalf("after SIGKILL Get = %+v, %v; want the child's lease %s", held, err, id)
	}
	if time.Now().Before(held.ExpiresAt) {
		_, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "parent"}, time.Minute)
		if time.Now().Before(held.ExpiresAt) { // (not a slow call that crossed the expiry)
			mustHeld(t, err, id)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "parent"}, time.Minute)
		if err == nil {
			if got.LockedAt.Before(held.ExpiresAt) {
				t.Fatalf("lease taken at %v, before the crashed holder's expiry %v", got.LockedAt, held.ExpiresAt)
			}
			return
		}
		if !errors.Is(err, locker.ErrHeld) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease of the crashed holder (expiry %v) never became free", held.ExpiresAt)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
