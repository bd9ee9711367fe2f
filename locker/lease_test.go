package locker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"panka.dev/panka/locker"
	"panka.dev/panka/locker/local"
	"panka.dev/panka/locker/lockertest"
)

// flaky wraps a Locker and fails heartbeats (and releases) with a
// transient error while failing is set.
type flaky struct {
	locker.Locker
	failing    atomic.Bool
	heartbeats atomic.Int64
	releases   atomic.Int64
}

var errTransient = errors.New("connection reset by peer")

func (f *flaky) Heartbeat(ctx context.Context, key, id string, ttl time.Duration) error {
	f.heartbeats.Add(1)
	if f.failing.Load() {
		return errTransient
	}
	return f.Locker.Heartbeat(ctx, key, id, ttl)
}

func (f *flaky) Release(ctx context.Context, key, id string) error {
	f.releases.Add(1)
	if f.failing.Load() {
		return errTransient
	}
	return f.Locker.Release(ctx, key, id)
}

func newFlaky(t *testing.T, clk *lockertest.Clock) *flaky {
	l, err := local.New(local.Options{Dir: t.TempDir(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &flaky{Locker: l}
}

var key = locker.Key("app", "prod")

func TestLeaseTransientHeartbeatErrorsRetriedUntilExpiry(t *testing.T) {
	ctx := context.Background()
	clk := lockertest.NewClock(lockertest.Start)
	fl := newFlaky(t, clk)
	var mu sync.Mutex
	var reported []error
	lease, err := locker.Acquire(ctx, fl, locker.Info{Key: key, LockedBy: "a"}, locker.LeaseOptions{TTL: time.Minute, Heartbeat: 20 * time.Second, Clock: clk,
		OnHeartbeatError: func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	fl.failing.Store(true)
	// Fail until the lease would expire: the lease stays up until then.
	for lease.Context().Err() == nil {
		if !clk.WaitSleepers(1, lease.Context().Done()) {
			break
		}
		if clk.Now().Sub(lockertest.Start) > 2*time.Minute {
			t.Fatalf("lease still up at %v after failing heartbeats from the start", clk.Now())
		}
		clk.Advance(5 * time.Second)
	}
	<-lease.Context().Done()
	if !errors.Is(lease.Err(), locker.ErrLost) || !strings.Contains(lease.Err().Error(), "connection reset") || !errors.Is(lease.Err(), errTransient) {
		t.Fatalf("Err = %v, want ErrLost naming and wrapping the last error", lease.Err())
	}
	// Given up StopBefore its expiry (by default half of what the ttl
	// leaves after a heartbeat interval: 20 s here), not at the expiry,
	// when another run may already take the lock, nor much sooner.
	expires := lockertest.Start.Add(time.Minute)
	if at := clk.Now(); at.Before(expires.Add(-20*time.Second)) || at.After(expires.Add(-15*time.Second)) {
		t.Fatalf("lease given up at %v, want 20 s (StopBefore) before it expires at %v", at, expires)
	}
	if !strings.Contains(lease.Err().Error(), "given up 20s before it expires") {
		t.Fatalf("Err = %v, want it to say the lease was given up before it expires", lease.Err())
	}
	if n := fl.heartbeats.Load(); n < 3 {
		t.Fatalf("%d heartbeats tried, want retries", n)
	}
	mu.Lock()
	if len(reported) == 0 {
		t.Fatal("transient errors were not reported")
	}
	mu.Unlock()
	// The server still does not answer: one release is tried, no error
	// (the lease expires by itself, as the run said).
	if err := lease.Release(ctx); err != nil {
		t.Fatalf("Release of a lost lease = %v, want nil", err)
	}
	if n := fl.releases.Load(); n != 1 {
		t.Fatalf("%d releases tried of a lease given up, want one", n)
	}
	if _, err := fl.Locker.Get(ctx, key); err != nil {
		t.Fatalf("the given-up lease with the server cut off: %v, want it left to expire", err)
	}
}

// TestLeaseGivenUpReleasedWhenTheServerAnswersAgain: a run that gave its
// lease up because heartbeats failed left its lock item on exit even when
// the lock server answered again by then, so runs on other hosts waited
// until its expiry. Release now removes it (conditionally: only while it
// carries this lease's id), and leaves a lease another run took alone.
func TestLeaseGivenUpReleasedWhenTheServerAnswersAgain(t *testing.T) {
	ctx := context.Background()
	for _, takenOver := range []bool{false, true} {
		clk := lockertest.NewClock(lockertest.Start)
		fl := newFlaky(t, clk)
		lease, err := locker.Acquire(ctx, fl, locker.Info{Key: key, LockedBy: "a"}, locker.LeaseOptions{TTL: time.Minute, Heartbeat: 20 * time.Second, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		fl.failing.Store(true)
		for lease.Context().Err() == nil {
			if !clk.WaitSleepers(1, lease.Context().Done()) {
				break
			}
			clk.Advance(5 * time.Second)
		}
		if !strings.Contains(fmt.Sprint(lease.Err()), "given up") {
			t.Fatalf("Err = %v, want the lease given up", lease.Err())
		}
		fl.failing.Store(false) // the server answers again
		var other locker.Info
		if takenOver {
			clk.Advance(time.Minute) // expired: another run takes it
			if other, err = fl.Locker.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "b"}, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		if err := lease.Release(ctx); err != nil {
			t.Fatalf("Release of a given-up lease = %v, want nil", err)
		}
		h, err := fl.Locker.Get(ctx, key)
		switch {
		case takenOver && (err != nil || h.ID != other.ID):
			t.Fatalf("the other run's lease after the given-up one's release: %+v, %v, want it kept", h, err)
		case !takenOver && !errors.Is(err, locker.ErrNotFound):
			t.Fatalf("the given-up lease after Release with the server answering: %+v, %v, want it removed", h, err)
		}
	}
}

// TestLeaseGivenUpBeforeItsExpiry: a holder cut off from the lock server
// (heartbeats failing) stopped its run only once its lease had expired,
// when a run on another host that reaches the server could already take
// the lock and clear Pulumi's lock as a dead run's while this run's engine
// was still stopping (Pulumi gets 30 s to stop cleanly). At the defaults
// (ttl 1 h, heartbeat 30 s) it is given up a minute before the expiry.
func TestLeaseGivenUpBeforeItsExpiry(t *testing.T) {
	ctx := context.Background()
	clk := lockertest.NewClock(lockertest.Start)
	fl := newFlaky(t, clk)
	lease, err := locker.Acquire(ctx, fl, locker.Info{Key: key, LockedBy: "a"}, locker.LeaseOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	fl.failing.Store(true)
	expires := lease.Info().ExpiresAt
	for lease.Context().Err() == nil {
		if !clk.WaitSleepers(1, lease.Context().Done()) {
			break
		}
		if clk.Now().After(expires) {
			t.Fatalf("lease still up at %v, past its expiry %v", clk.Now(), expires)
		}
		clk.Advance(5 * time.Second)
	}
	<-lease.Context().Done()
	at := clk.Now()
	if left := expires.Sub(at); left < 45*time.Second || left > locker.DefaultStopBefore+time.Second {
		t.Fatalf("lease given up %s before its expiry, want about %s (with time for the engine to stop)", left, locker.DefaultStopBefore)
	}
	if !errors.Is(lease.Err(), locker.ErrLost) || !strings.Contains(lease.Err().Error(), "given up 1m0s before it expires") {
		t.Fatalf("Err = %v, want ErrLost saying it was given up before it expires", lease.Err())
	}
}

// storeGone wraps a Locker whose store (table, bucket) is deleted while
// gone is set: heartbeats fail with StoreGone.
type storeGone struct {
	locker.Locker
	gone atomic.Bool
}

func (s *storeGone) Heartbeat(ctx context.Context, key, id string, ttl time.Duration) error {
	if s.gone.Load() {
		return locker.StoreGone(errors.New("the table does not exist"))
	}
	return s.Locker.Heartbeat(ctx, key, id, ttl)
}

// storeGoneLease takes a lease (heartbeat 30 s) on a local locker wrapped
// in storeGone, deletes its store, and lets 100 s pass: the lease must go
// on all that while.
func storeGoneLease(t *testing.T, opts locker.LeaseOptions) (*lockertest.Clock, *local.Locker, *storeGone, *locker.Lease) {
	t.Helper()
	ctx := context.Background()
	clk := lockertest.NewClock(lockertest.Start)
	l, err := local.New(local.Options{Dir: t.TempDir(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	sg := &storeGone{Locker: l}
	opts.TTL, opts.Heartbeat, opts.Clock = time.Hour, 30*time.Second, clk
	lease, err := locker.Acquire(ctx, sg, locker.Info{Key: key, LockedBy: "a"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lease.Release(ctx) })
	sg.gone.Store(true)
	for range 100 { // well past a heartbeat interval
		if !clk.WaitSleepers(1, lease.Context().Done()) {
			t.Fatalf("lease ended while the store was gone: %v", lease.Err())
		}
		clk.Advance(time.Second)
	}
	// The heartbeat asleep, so the caller changes the store before it
	// next looks.
	if !clk.WaitSleepers(1, lease.Context().Done()) {
		t.Fatalf("lease ended while the store was gone: %v", lease.Err())
	}
	if lease.StoreGoneSince().IsZero() {
		t.Fatal("StoreGoneSince is zero after heartbeats found the store gone")
	}
	// The store is made again, empty: the lease went with the old one.
	if err := l.ForceRelease(ctx, key); err != nil {
		t.Fatal(err)
	}
	return clk, l, sg, lease
}

// TestLeaseStoreBackIsNoticedPromptly: a lease whose lock table was
// deleted goes on, and once the table is made again without it another
// run can take the lock: when one does, the holder must notice (its next
// heartbeat finds the lease taken) within about a second, as a waiter
// would take the lock, not a heartbeat interval (30 s) later, deploying
// beside the other run all that while.
func TestLeaseStoreBackIsNoticedPromptly(t *testing.T) {
	ctx := context.Background()
	clk, l, sg, lease := storeGoneLease(t, locker.LeaseOptions{})
	sg.gone.Store(false)
	back := clk.Now()
	other, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "b"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for clk.WaitSleepers(1, lease.Context().Done()) {
		if clk.Now().Sub(back) > 5*time.Second {
			t.Fatalf("lease still held %s after another run took the lock in the store made again (heartbeat 30s)", clk.Now().Sub(back))
		}
		clk.Advance(250 * time.Millisecond)
	}
	<-lease.Context().Done()
	if err := lease.Err(); !errors.Is(err, locker.ErrLost) || errors.Is(err, locker.ErrHeld) || !strings.Contains(err.Error(), "another run took the lock first") {
		t.Fatalf("lease ended with %v, want ErrLost (not ErrHeld, which exits 3) saying another run took the lock first", err)
	}
	if waited := clk.Now().Sub(back); waited > locker.DefaultMaxBackoff+250*time.Millisecond {
		t.Errorf("lost lease noticed %s after the store came back, want within %s", waited, locker.DefaultMaxBackoff)
	}
	if got, err := l.Get(ctx, key); err != nil || got.ID != other.ID {
		t.Errorf("the other run's lease: %+v, %v, want it untouched (lock id %s)", got, err, other.ID)
	}
}

// TestLeaseReclaimedWhenStoreBackEmpty: the lock table made again without
// the lease (an IaC re-apply, panka backend create) and nobody taking the
// lock: the run was stopped mid-update there, protecting nobody. It now
// puts its lease back with its own lock id within a second, says so, and
// goes on holding it with normal heartbeats.
func TestLeaseReclaimedWhenStoreBackEmpty(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var reclaimed []time.Time
	clk, l, sg, lease := storeGoneLease(t, locker.LeaseOptions{OnReclaim: func(_ locker.Info, gone time.Time) {
		mu.Lock()
		reclaimed = append(reclaimed, gone)
		mu.Unlock()
	}})
	gone := lease.StoreGoneSince()
	sg.gone.Store(false)
	back := clk.Now()
	for clk.Now().Sub(back) < 2*time.Minute {
		if !clk.WaitSleepers(1, lease.Context().Done()) {
			t.Fatalf("lease ended %s after the store came back empty: %v", clk.Now().Sub(back), lease.Err())
		}
		clk.Advance(250 * time.Millisecond)
	}
	got, err := l.Get(ctx, key)
	if err != nil || got.ID != lease.Info().ID || got.LockedBy != "a" {
		t.Fatalf("lease in the store made again: %+v, %v, want lock id %s", got, err, lease.Info().ID)
	}
	if !got.ExpiresAt.After(clk.Now()) || !lease.StoreGoneSince().IsZero() {
		t.Errorf("reclaimed lease expires %v (now %v), StoreGoneSince %v: want it renewed and the store no longer gone", got.ExpiresAt, clk.Now(), lease.StoreGoneSince())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reclaimed) != 1 || !reclaimed[0].Equal(gone) {
		t.Errorf("OnReclaim told %v, want once, with the store gone since %v", reclaimed, gone)
	}
	// Another run now finds it held, and the holder releases it cleanly.
	if _, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "b"}, time.Hour); !errors.Is(err, locker.ErrHeld) {
		t.Errorf("acquire beside the reclaimed lease: %v, want ErrHeld", err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Errorf("release of the reclaimed lease: %v", err)
	}
}

func TestLeaseRecoversFromTransientHeartbeatErrors(t *testing.T) {
	ctx := context.Background()
	clk := lockertest.NewClock(lockertest.Start)
	fl := newFlaky(t, clk)
	var backs []time.Time
	var mu sync.Mutex
	lease, err := locker.Acquire(ctx, fl, locker.Info{Key: key}, locker.LeaseOptions{TTL: time.Minute, Heartbeat: 20 * time.Second, Clock: clk,
		OnHeartbeatBack: func(since time.Time) { mu.Lock(); backs = append(backs, since); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	fl.failing.Store(true)
	for range 2 { // a heartbeat fails at 30 s, before the lease is given up at 40 s
		clk.WaitSleepers(1, nil)
		clk.Advance(15 * time.Second)
	}
	clk.WaitSleepers(1, nil) // its retry asleep
	fl.failing.Store(false)
	for range 4 {
		clk.WaitSleepers(1, nil)
		clk.Advance(20 * time.Second)
	}
	clk.WaitSleepers(1, nil)
	if lease.Err() != nil {
		t.Fatalf("lease ended after transient errors: %v", lease.Err())
	}
	if got := lease.Info().ExpiresAt; !got.After(clk.Now()) {
		t.Fatalf("lease expiry %v not after now %v", got, clk.Now())
	}
	// The warnings that the run would stop are followed by word that the
	// heartbeat works again, once.
	mu.Lock()
	defer mu.Unlock()
	if want := lockertest.Start.Add(30 * time.Second); len(backs) != 1 || !backs[0].Equal(want) {
		t.Fatalf("OnHeartbeatBack told %v, want once, failing since %v", backs, want)
	}
}

func TestLeaseParentCancelKeepsHeartbeatUntilRelease(t *testing.T) {
	clk := lockertest.NewClock(lockertest.Start)
	fl := newFlaky(t, clk)
	parent, cancel := context.WithCancel(context.Background())
	lease, err := locker.Acquire(parent, fl, locker.Info{Key: key}, locker.LeaseOptions{TTL: time.Minute, Heartbeat: 20 * time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	cancel() // Ctrl-C
	<-lease.Context().Done()
	if !errors.Is(lease.Err(), context.Canceled) {
		t.Fatalf("Err = %v, want context.Canceled", lease.Err())
	}
	// Heartbeats go on while the operation cleans up.
	clk.WaitSleepers(1, nil)
	clk.Advance(20 * time.Second)
	clk.WaitSleepers(1, nil)
	if fl.heartbeats.Load() != 1 {
		t.Fatalf("%d heartbeats after cancel, want 1", fl.heartbeats.Load())
	}
	if err := lease.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := fl.Get(context.Background(), key); !errors.Is(err, locker.ErrNotFound) {
		t.Fatalf("lease not released: %v", err)
	}
}

func TestLeaseReleaseRetriesTransientErrors(t *testing.T) {
	ctx := context.Background()
	clk := lockertest.NewClock(lockertest.Start)
	fl := newFlaky(t, clk)
	lease, err := locker.Acquire(ctx, fl, locker.Info{Key: key}, locker.LeaseOptions{TTL: time.Minute, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	fl.failing.Store(true)
	done := make(chan error, 1)
	go func() { done <- lease.Release(ctx) }()
	// The first attempt fails, then Release backs off on the clock.
	for deadline := time.Now().Add(20 * time.Second); fl.releases.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("Release never tried")
		}
		time.Sleep(time.Millisecond)
	}
	clk.WaitSleepers(1, nil)
	fl.failing.Store(false)
	clk.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatalf("Release = %v", err)
	}
	if n := fl.releases.Load(); n != 2 {
		t.Fatalf("%d release attempts, want 2", n)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatalf("second Release = %v", err)
	}
	if n := fl.releases.Load(); n != 2 {
		t.Fatalf("second Release called the backend again")
	}
}

func TestAcquireOptions(t *testing.T) {
	clk := lockertest.NewClock(lockertest.Start)
	fl := newFlaky(t, clk)
	_, err := locker.Acquire(context.Background(), fl, locker.Info{Key: key}, locker.LeaseOptions{TTL: time.Minute, Heartbeat: time.Minute, Clock: clk})
	if err == nil || !strings.Contains(err.Error(), "shorter than its ttl") {
		t.Fatalf("heartbeat >= ttl: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := locker.Acquire(ctx, fl, locker.Info{Key: key}, locker.LeaseOptions{Clock: clk}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

func TestHeldErrorMessage(t *testing.T) {
	h := &locker.HeldError{Holder: locker.Info{Key: key, LockedBy: "alice", LockedAt: lockertest.Start, ExpiresAt: lockertest.Start.Add(time.Hour),
		Metadata: locker.Metadata{Hostname: "h", PID: 1, Operation: "apply", Commit: "0123456789abcdef"}}}
	want := "app/prod is locked by alice on h (pid 1), operation apply, commit 0123456789ab, since 2027-01-15T08:00:00Z, expires 2027-01-15T09:00:00Z"
	if h.Error() != want {
		t.Fatalf("Error() = %q\nwant      %q", h.Error(), want)
	}
	if !errors.Is(h, locker.ErrHeld) {
		t.Fatal("HeldError is not ErrHeld")
	}
	// A CI job's lease names its run: whether that job still runs or was
	// cancelled (its lease left behind) is on that page.
	h.Holder.Metadata.CIURL = "https://github.com/acme/infra/actions/runs/99"
	if want += ", CI run https://github.com/acme/infra/actions/runs/99"; h.Error() != want {
		t.Fatalf("Error() = %q\nwant      %q", h.Error(), want)
	}
}

// TestLeaseCheckSeesForceUnlockAtOnce: a holder about to record its result
// asks the backend rather than waiting for the next heartbeat; a lease that
// was force-unlocked (and taken by another run) is reported lost at once and
// the lease's context ends, while a held lease is extended.
func TestLeaseCheckSeesForceUnlockAtOnce(t *testing.T) {
	ctx := context.Background()
	clk := lockertest.NewClock(lockertest.Start)
	fl := newFlaky(t, clk)
	lease, err := locker.Acquire(ctx, fl, locker.Info{Key: key, LockedBy: "a"}, locker.LeaseOptions{TTL: time.Minute, Heartbeat: 20 * time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	clk.Advance(10 * time.Second)
	if err := lease.Check(ctx); err != nil {
		t.Fatalf("Check of a held lease: %v", err)
	}
	if got, want := lease.Info().ExpiresAt, clk.Now().Add(time.Minute); !got.Equal(want) {
		t.Errorf("Check did not extend the lease: expires %v, want %v", got, want)
	}

	// A transient backend error is not a lost lease.
	fl.failing.Store(true)
	if err := lease.Check(ctx); err == nil || errors.Is(err, locker.ErrLost) || lease.Lost() != nil {
		t.Fatalf("Check with the backend failing: %v (lost %v), want a plain error", err, lease.Lost())
	}
	fl.failing.Store(false)

	// Force-unlocked and taken by b, well before the next heartbeat.
	if err := fl.ForceRelease(ctx, key); err != nil {
		t.Fatal(err)
	}
	other, err := locker.Acquire(ctx, fl, locker.Info{Key: key, LockedBy: "b"}, locker.LeaseOptions{TTL: time.Minute, Heartbeat: 20 * time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release(ctx)
	err = lease.Check(ctx)
	if !errors.Is(err, locker.ErrLost) || lease.Lost() == nil {
		t.Fatalf("Check after a force unlock: %v (Lost %v), want ErrLost", err, lease.Lost())
	}
	<-lease.Context().Done()
	if !errors.Is(lease.Err(), locker.ErrLost) {
		t.Fatalf("lease context ended with %v, want ErrLost", lease.Err())
	}
	if err := other.Check(ctx); err != nil {
		t.Fatalf("the new holder's lease: %v", err)
	}
}

// stalled fails the next heartbeat with a passed deadline, as a call in
// flight when its process was stopped comes back after a resume.
type stalled struct {
	*flaky
	next atomic.Bool
}

func (s *stalled) Heartbeat(ctx context.Context, key, id string, ttl time.Duration) error {
	if s.next.CompareAndSwap(true, false) {
		s.heartbeats.Add(1)
		return context.DeadlineExceeded
	}
	return s.flaky.Heartbeat(ctx, key, id, ttl)
}

// TestLeaseSurvivesAStopPastExpiry: a run stopped past its lease's expiry
// in the middle of a heartbeat, that nobody took over meanwhile, keeps its
// lease when it resumes (the failed call is tried again at once); one that
// was taken over loses it.
func TestLeaseSurvivesAStopPastExpiry(t *testing.T) {
	ctx := context.Background()
	for _, takenOver := range []bool{false, true} {
		clk := lockertest.NewClock(lockertest.Start)
		st := &stalled{flaky: newFlaky(t, clk)}
		lease, err := locker.Acquire(ctx, st, locker.Info{Key: key, LockedBy: "a"}, locker.LeaseOptions{TTL: time.Minute, Heartbeat: 20 * time.Second, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		if takenOver {
			// Taken over while a is stopped (force-unlocked here, so that
			// a's heartbeat cannot run first).
			clk.WaitSleepers(1, nil)
			if err := st.Locker.ForceRelease(ctx, key); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Locker.TryAcquire(ctx, locker.Info{Key: key, ID: "b", LockedBy: "b"}, time.Minute); err != nil {
				t.Fatalf("take over: %v", err)
			}
			st.next.Store(true)
			clk.Advance(2 * time.Minute)
			<-lease.Context().Done()
			if !errors.Is(lease.Err(), locker.ErrLost) {
				t.Fatalf("taken over: Err = %v, want ErrLost", lease.Err())
			}
			continue
		}
		clk.WaitSleepers(1, nil)
		st.next.Store(true)
		clk.Advance(2 * time.Minute) // stopped past the expiry, mid-call
		clk.WaitSleepers(1, lease.Context().Done())
		if err := lease.Err(); err != nil {
			t.Fatalf("the resumed lease: %v", err)
		}
		if got := lease.Info().ExpiresAt; !got.After(clk.Now()) {
			t.Fatalf("lease expiry %v not after now %v", got, clk.Now())
		}
		if n := st.heartbeats.Load(); n != 2 {
			t.Fatalf("%d heartbeats, want the failed one and its retry", n)
		}
		lease.Release(ctx)
	}
}

// replyLost releases for real on the first Release call and then reports
// a transient error, as a release whose reply was lost after it landed.
type replyLost struct {
	*flaky
	once atomic.Bool
}

func (r *replyLost) Release(ctx context.Context, key, id string) error {
	if r.once.CompareAndSwap(false, true) {
		r.releases.Add(1)
		if err := r.Locker.Release(ctx, key, id); err != nil {
			return err
		}
		return errTransient
	}
	return r.flaky.Release(ctx, key, id)
}

// TestLeaseReleaseReplyLost: a release that landed but whose reply was
// lost is retried; the retry finds the lock gone, which is released, not
// "lease lost".
func TestLeaseReleaseReplyLost(t *testing.T) {
	ctx := context.Background()
	clk := lockertest.NewClock(lockertest.Start)
	rl := &replyLost{flaky: newFlaky(t, clk)}
	lease, err := locker.Acquire(ctx, rl, locker.Info{Key: key}, locker.LeaseOptions{TTL: time.Minute, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- lease.Release(ctx) }()
	for deadline := time.Now().Add(20 * time.Second); rl.releases.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("Release never tried")
		}
		time.Sleep(time.Millisecond)
	}
	clk.WaitSleepers(1, nil)
	clk.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatalf("Release = %v, want nil (the first attempt landed)", err)
	}
	if n := rl.releases.Load(); n != 2 {
		t.Fatalf("%d release attempts, want 2", n)
	}
}

// TestAcquirePicksUpAReleasePromptly: a waiter (--lock-timeout) that has
// waited long takes the lock at most DefaultMaxBackoff (1 s) after its
// holder releases it. The backoff grew to 5 s, so a queued run sat idle
// for up to 5 s after every release; jitter near its top shows the worst.
func TestAcquirePicksUpAReleasePromptly(t *testing.T) {
	ctx := context.Background()
	clk := lockertest.NewClock(lockertest.Start)
	l, err := local.New(local.Options{Dir: t.TempDir(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	held, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "first"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var lease *locker.Lease
	go func() {
		defer close(done)
		lease, err = locker.Acquire(ctx, l, locker.Info{Key: key, LockedBy: "second"},
			locker.LeaseOptions{Wait: time.Hour, Clock: clk, Rand: func() float64 { return 0.999 }})
	}()
	// step advances the clock while the waiter sleeps; false once it
	// ended.
	step := func() bool {
		select {
		case <-done:
			return false
		default:
		}
		if !clk.WaitSleepers(1, done) {
			return false
		}
		clk.Advance(50 * time.Millisecond)
		return true
	}
	for clk.Now().Sub(lockertest.Start) < 3*time.Minute {
		if !step() {
			t.Fatalf("the waiter ended at %v while the lock was held: %v", clk.Now(), err)
		}
	}
	if err := l.Release(ctx, key, held.ID); err != nil {
		t.Fatal(err)
	}
	released := clk.Now()
	for step() {
	}
	<-done
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	if late := lease.Info().LockedAt.Sub(released); late > time.Second {
		t.Fatalf("the waiter took the lock %s after its release, want within 1s", late)
	}
}

// TestLeaseStoreBackWithTheLease: a lock table that was unreachable as
// missing and answers again with the lease still in it: the lease is
// renewed as before, and OnStoreBack says so once (the warnings that it
// was gone stop, so a line that it is back closes them).
func TestLeaseStoreBackWithTheLease(t *testing.T) {
	var mu sync.Mutex
	var back []time.Time
	clk, l, sg, lease := storeGoneLease(t, locker.LeaseOptions{OnStoreBack: func(gone time.Time) {
		mu.Lock()
		back = append(back, gone)
		mu.Unlock()
	}})
	gone := lease.StoreGoneSince()
	// storeGoneLease removed the lease; this store kept it.
	if _, err := l.Reclaim(context.Background(), lease.Info(), time.Hour); err != nil {
		t.Fatal(err)
	}
	sg.gone.Store(false)
	for range 120 {
		if !clk.WaitSleepers(1, lease.Context().Done()) {
			t.Fatalf("lease ended after the store came back with it: %v", lease.Err())
		}
		clk.Advance(time.Second)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(back) != 1 || !back[0].Equal(gone) || !lease.StoreGoneSince().IsZero() {
		t.Errorf("OnStoreBack told %v (StoreGoneSince %v), want once, with the store gone since %v", back, lease.StoreGoneSince(), gone)
	}
}

// TestLeaseCheckReclaims: the check a run makes before recording, when the
// store came back empty before the next heartbeat: it puts the lease back
// (as the heartbeat would) instead of calling it lost, and the warning
// comes once, not again from the heartbeat that follows.
func TestLeaseCheckReclaims(t *testing.T) {
	ctx := context.Background()
	var reclaims, backs atomic.Int32
	clk, l, sg, lease := storeGoneLease(t, locker.LeaseOptions{
		OnReclaim:   func(locker.Info, time.Time) { reclaims.Add(1) },
		OnStoreBack: func(time.Time) { backs.Add(1) },
	})
	sg.gone.Store(false)
	if err := lease.Check(ctx); err != nil {
		t.Fatalf("Check with the store back empty: %v, want the lease put back", err)
	}
	if got, err := l.Get(ctx, key); err != nil || got.ID != lease.Info().ID {
		t.Fatalf("lease after Check: %+v, %v, want lock id %s", got, err, lease.Info().ID)
	}
	for range 90 {
		if !clk.WaitSleepers(1, lease.Context().Done()) {
			t.Fatalf("lease ended after Check put it back: %v", lease.Err())
		}
		clk.Advance(time.Second)
	}
	if r, b := reclaims.Load(), backs.Load(); r != 1 || b != 0 {
		t.Errorf("OnReclaim told %d times, OnStoreBack %d, want 1 and 0", r, b)
	}
}
