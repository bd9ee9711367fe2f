package locker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// ErrReleased is the cause of a lease context that ended because the lease
// was released by its holder.
var ErrReleased = errors.New("lease released")

// Clock is the time source of the lease manager. Tests inject a fake one so
// no test sleeps on real time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d or until ctx is done, whichever comes first, and
	// returns ctx.Err() in the latter case.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits for d or until ctx is done.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Defaults of LeaseOptions.
const (
	DefaultTTL         = time.Hour
	DefaultHeartbeat   = 30 * time.Second
	DefaultOnWaitEvery = 5 * time.Second
	DefaultMinBackoff  = 250 * time.Millisecond
	// DefaultMaxBackoff caps the wait between two attempts on a held
	// lock: a waiter picks a release up at most this late. At 5 s a
	// queued CI job sat idle for up to 5 s after each release; an attempt
	// a second (a conditional write and a read) is no load for DynamoDB
	// or S3, and the holder's heartbeats cost as much.
	DefaultMaxBackoff = time.Second
	// DefaultStopBefore is how long before its expiry a lease whose
	// heartbeats keep failing is given up. Another run anywhere may take
	// the lock once it expires (sooner by the lock server's one-second
	// timestamps and a host clock a little ahead), and the operation
	// under the lease needs time to stop: the engine gives Pulumi 30 s to
	// stop cleanly before it kills it. Given up only at the expiry, the
	// run was still deploying when the next one took the lock and cleared
	// Pulumi's lock as a dead run's.
	DefaultStopBefore = time.Minute
)

// LeaseOptions configure Acquire. Zero values take the defaults above.
type LeaseOptions struct {
	// TTL is how long the lease lives without a heartbeat.
	TTL time.Duration
	// Heartbeat is the interval between lease extensions; it must be
	// shorter than TTL (default: 30 s, or TTL/3 when that is shorter).
	Heartbeat time.Duration
	// Wait is how long to wait for a held lease; 0 fails at once with the
	// holder's *HeldError.
	Wait time.Duration
	// OnWait is called with the current holder while waiting, at most once
	// every OnWaitEvery (and always on the first failed attempt).
	OnWait func(holder Info)
	// OnWaitError is called, while waiting, with the error of an attempt
	// that did not find the lock held (the backend unreachable, a missing
	// table, denied credentials): it returns whether to go on waiting.
	// Nil goes on waiting whatever the error.
	OnWaitError func(err error) bool
	// OnWaitEvery throttles OnWait.
	OnWaitEvery time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff (with jitter)
	// between attempts while waiting.
	MinBackoff, MaxBackoff time.Duration
	// StopBefore is how long before the lease expires the holder gives
	// it up (Context cancelled, Err wrapping ErrLost) while heartbeats
	// fail, so that the operation under it has stopped before any other
	// run can take the lock, as a Kubernetes leader stops at its renew
	// deadline, before its lease runs out (default: DefaultStopBefore, or
	// half of what TTL leaves after a Heartbeat interval when that is
	// shorter, so failed heartbeats are still retried).
	StopBefore time.Duration
	// OnHeartbeatError is told about transient heartbeat failures, which
	// are retried until StopBefore the lease expires (for logging).
	OnHeartbeatError func(err error)
	// OnReclaim is told when the lease, lost with its table or bucket
	// (deleted, then made again without it), was put back with its own
	// lock id (Locker.Reclaim) before any other run took the lock: gone
	// is when heartbeats first found the store gone. The run goes on
	// holding it; between the store's return and that reclaim another run
	// could have taken the lock, so callers should say so loudly.
	OnReclaim func(info Info, gone time.Time)
	// OnStoreBack is told when a heartbeat renews the lease again after
	// heartbeats found its table or bucket gone (since gone): it was
	// back with the lease still in it.
	OnStoreBack func(gone time.Time)
	// OnHeartbeatBack is told when a heartbeat renews the lease again
	// after failed ones (OnHeartbeatError; since: the first of them), so
	// that warnings that the run will stop are followed by word that it
	// will not.
	OnHeartbeatBack func(since time.Time)
	// Clock is the time source (default RealClock). The Locker's own clock
	// should agree with it.
	Clock Clock
	// Rand returns a number in [0,1) for jitter (default math/rand/v2).
	Rand func() float64
}

func (o *LeaseOptions) defaults() error {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = min(DefaultHeartbeat, o.TTL/3)
	}
	if o.Heartbeat >= o.TTL {
		return fmt.Errorf("lease heartbeat %s must be shorter than its ttl %s", o.Heartbeat, o.TTL)
	}
	if o.StopBefore <= 0 {
		o.StopBefore = min(DefaultStopBefore, (o.TTL-o.Heartbeat)/2)
	}
	if o.StopBefore >= o.TTL-o.Heartbeat {
		return fmt.Errorf("lease stop-before %s must leave room for a heartbeat (%s) in its ttl %s", o.StopBefore, o.Heartbeat, o.TTL)
	}
	if o.Wait < 0 {
		o.Wait = 0
	}
	if o.OnWaitEvery <= 0 {
		o.OnWaitEvery = DefaultOnWaitEvery
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return nil
}

// Acquire takes the lease info.Key on l, waiting up to opts.Wait while
// someone else holds it, and starts heartbeats. When the wait runs out the
// error is the last *HeldError (errors.Is(err, ErrHeld)), which names the
// holder. The caller must call Release on every exit path; the lease's
// Context is cancelled when ctx is, or when the lease is lost.
func Acquire(ctx context.Context, l Locker, info Info, opts LeaseOptions) (*Lease, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	clock := opts.Clock
	deadline := clock.Now().Add(opts.Wait)
	backoff := opts.MinBackoff
	var lastNotice time.Time
	notified := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("acquire lock %s: %w", info.Key, err)
		}
		asked := wallNow(clock)
		got, err := l.TryAcquire(ctx, info, opts.TTL)
		if err == nil {
			got.ExpiresAt = asked.Add(opts.TTL)
			return startLease(ctx, l, got, opts), nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("acquire lock %s: %w", info.Key, ctx.Err())
		}
		var held *HeldError
		isHeld := errors.As(err, &held)
		now := clock.Now()
		if opts.Wait == 0 {
			if isHeld {
				return nil, err
			}
			return nil, fmt.Errorf("acquire lock %s: %w", info.Key, err)
		}
		if !now.Before(deadline) {
			if isHeld {
				return nil, fmt.Errorf("%w (gave up after waiting %s)", err, opts.Wait)
			}
			return nil, fmt.Errorf("acquire lock %s (gave up after waiting %s): %w", info.Key, opts.Wait, err)
		}
		if !isHeld && opts.OnWaitError != nil && !opts.OnWaitError(err) {
			return nil, fmt.Errorf("acquire lock %s: %w", info.Key, err)
		}
		if isHeld && opts.OnWait != nil && (!notified || now.Sub(lastNotice) >= opts.OnWaitEvery) {
			opts.OnWait(held.Holder)
			notified, lastNotice = true, now
		}
		d := backoff/2 + time.Duration(opts.Rand()*float64(backoff/2))
		d = min(d, deadline.Sub(now))
		backoff = min(backoff*2, opts.MaxBackoff)
		if err := clock.Sleep(ctx, d); err != nil {
			return nil, fmt.Errorf("wait for lock %s: %w", info.Key, err)
		}
	}
}

// Lease is a held lock kept alive by heartbeats until Release.
type Lease struct {
	locker Locker
	opts   LeaseOptions

	ctx      context.Context
	cancel   context.CancelCauseFunc
	hbCancel context.CancelFunc
	done     chan struct{}

	mu sync.Mutex
	// info is the lease as taken, with ExpiresAt on the lease's Clock
	// (opts.Clock), counted from when the call that took or renewed it
	// was made: the times a lock server gives are on its own clock (the
	// DynamoDB and S3 lockers count on the server's), and a host whose
	// clock is behind it gave its lease up that much after it had
	// expired for every other host.
	info      Info
	lost      error
	storeGone time.Time // when a heartbeat first found the lock store gone
	// givenUp is set when the lease was given up because heartbeats
	// failed: its lock item may still be there, carrying its id.
	givenUp bool

	releaseOnce sync.Once
	releaseErr  error
}

// wallNow is c's time on the wall clock alone: a lease's expiry is
// compared with it, as lock servers and other hosts compare theirs. The
// monotonic reading of time.Now does not count a machine's suspend on
// Linux, so an expiry that carried one still lay ahead after a laptop
// slept past it, and a holder that could not reach the lock server on
// waking went on writing under a lease every other host saw expired.
func wallNow(c Clock) time.Time { return c.Now().Round(0) }

func startLease(parent context.Context, l Locker, info Info, opts LeaseOptions) *Lease {
	ctx, cancel := context.WithCancelCause(parent)
	// Heartbeats go on after the parent is cancelled (Ctrl-C) until the
	// holder releases, so a slow clean-up does not lose the lease.
	hbCtx, hbCancel := context.WithCancel(context.WithoutCancel(parent))
	ls := &Lease{locker: l, opts: opts, ctx: ctx, cancel: cancel, hbCancel: hbCancel, done: make(chan struct{}), info: info}
	go ls.heartbeat(hbCtx)
	return ls
}

// Info returns the lease as last extended; its ExpiresAt is on the
// lease's Clock (see Lease.info).
func (ls *Lease) Info() Info {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.info
}

// Context is cancelled when the lease is lost, released, or when the context
// given to Acquire is cancelled. Run the guarded operation under it.
func (ls *Lease) Context() context.Context { return ls.ctx }

// Err says why Context ended: an error wrapping ErrLost when the lease was
// lost, ErrReleased after Release, the parent's cause when that was
// cancelled; nil while the lease is held.
func (ls *Lease) Err() error {
	if ls.ctx.Err() == nil {
		return nil
	}
	return context.Cause(ls.ctx)
}

// Lost returns the error wrapping ErrLost if the lease was lost, else nil.
func (ls *Lease) Lost() error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.lost
}

// Check asks the lock backend, now, whether the lease is still held,
// extending it as a heartbeat does. Heartbeats notice a lost lease only once
// per interval, so a holder about to record its result checks first: a
// force-unlocked or taken-over holder must not write over the new holder's
// work. When the lease is gone it is marked lost (as a failed heartbeat
// would) and the error wraps ErrLost; any other error only says the
// backend could not be asked.
func (ls *Lease) Check(ctx context.Context) error {
	if err := ls.Lost(); err != nil {
		return err
	}
	info := ls.Info()
	asked := wallNow(ls.opts.Clock)
	err := ls.locker.Heartbeat(ctx, info.Key, info.ID, ls.opts.TTL)
	switch {
	case err == nil:
		ls.mu.Lock()
		ls.info.ExpiresAt, ls.info.LastHeartbeat = asked.Add(ls.opts.TTL), asked
		ls.mu.Unlock()
		return nil
	case errors.Is(err, ErrLost):
		if ls.reclaim(ctx) == nil {
			return nil
		}
		lost := ls.lostError(err)
		ls.lose(lost)
		return lost
	}
	return fmt.Errorf("check lease on %s: %w", info.Key, err)
}

// GiveUpIn is how long from now (on the lease's Clock) a holder whose
// heartbeats keep failing gives the lease up (StopBefore its last known
// expiry; negative once that is past): after it another run could take
// the lock, so whatever the holder writes under the lease must be done by
// then. ok is false while heartbeats find the lease's table or bucket gone
// (no run can take a lease there until it is back: see heartbeat).
func (ls *Lease) GiveUpIn() (left time.Duration, ok bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if !ls.storeGone.IsZero() {
		return 0, false
	}
	return ls.info.ExpiresAt.Add(-ls.opts.StopBefore).Sub(ls.opts.Clock.Now()), true
}

// StoreGoneSince returns when a heartbeat first found the table or bucket
// that keeps the lease gone (ErrStoreGone), zero while the lease is
// renewed. The lease is not lost for that (see heartbeat): the run goes
// on without a lock nobody else can take either, and should say so.
func (ls *Lease) StoreGoneSince() time.Time {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.storeGone
}

// lostError is the error of a lease found gone (err wraps ErrLost): taken
// over or force-unlocked, or, after heartbeats found its table or bucket
// gone, that store made again without it.
func (ls *Lease) lostError(err error) error {
	key := ls.Info().Key
	if since := ls.StoreGoneSince(); !since.IsZero() {
		return fmt.Errorf("lease on %s lost: the lock table or bucket, gone since %s, is back without it (made again), so another run may take the lock now: %w",
			key, since.UTC().Format(time.RFC3339), err)
	}
	return fmt.Errorf("lease on %s lost (taken over or force-unlocked): %w", key, err)
}

// errNoReclaim is reclaim's answer for a lease whose store was never
// found gone: it was taken over or force-unlocked, and stays lost.
var errNoReclaim = errors.New("lease store was not gone")

// reclaim puts the lease back with its own lock id (Locker.Reclaim) when
// heartbeats found its table or bucket gone before they found it lost: the
// store was made again without it. Nobody else can have taken the lock
// before the store came back, and a waiter that takes it in the re-made
// store wins against this (Reclaim writes only where no lease is), so the
// two never both hold it. Stopping the run instead, as on any lost lease,
// stopped the engine mid-update when nobody else wanted the lock (an IaC
// re-apply or `panka backend create` making the table again). It returns
// errNoReclaim when the store was not gone, else Reclaim's error.
func (ls *Lease) reclaim(ctx context.Context) error {
	gone := ls.StoreGoneSince()
	if gone.IsZero() {
		return errNoReclaim
	}
	asked := wallNow(ls.opts.Clock)
	got, err := ls.locker.Reclaim(ctx, ls.Info(), ls.opts.TTL)
	if err != nil {
		return err
	}
	ls.mu.Lock()
	ls.info.ExpiresAt, ls.info.LastHeartbeat = asked.Add(ls.opts.TTL), asked
	first := !ls.storeGone.IsZero() // Check and a heartbeat may both reclaim: told once
	ls.storeGone = time.Time{}
	ls.mu.Unlock()
	if first && ls.opts.OnReclaim != nil {
		ls.opts.OnReclaim(got, gone)
	}
	return nil
}

func (ls *Lease) lose(err error) {
	ls.mu.Lock()
	ls.lost = err
	ls.mu.Unlock()
	ls.cancel(err)
}

func (ls *Lease) heartbeat(ctx context.Context) {
	defer close(ls.done)
	clock := ls.opts.Clock
	key, id := ls.info.Key, ls.info.ID
	interval := ls.opts.Heartbeat
	lastTry := false
	var failing time.Time // the first failed heartbeat since the last success
	for {
		if err := clock.Sleep(ctx, interval); err != nil {
			return
		}
		// A hung call must not outlive the lease: bound it by one
		// interval, and by the time left before the lease is given up
		// (yet long enough for an answer when none is left).
		ls.mu.Lock()
		left := ls.info.ExpiresAt.Add(-ls.opts.StopBefore).Sub(clock.Now())
		ls.mu.Unlock()
		timeout := max(min(ls.opts.Heartbeat, left), min(ls.opts.Heartbeat, ls.opts.StopBefore/4), time.Second)
		cctx, cancel := context.WithTimeout(ctx, timeout)
		asked := wallNow(clock)
		err := ls.locker.Heartbeat(cctx, key, id, ls.opts.TTL)
		cancel()
		now := clock.Now()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			ls.mu.Lock()
			ls.info.ExpiresAt, ls.info.LastHeartbeat = asked.Add(ls.opts.TTL), asked
			gone := ls.storeGone
			ls.storeGone = time.Time{}
			ls.mu.Unlock()
			switch {
			case !gone.IsZero():
				if ls.opts.OnStoreBack != nil {
					ls.opts.OnStoreBack(gone)
				}
			case !failing.IsZero() && ls.opts.OnHeartbeatBack != nil:
				ls.opts.OnHeartbeatBack(failing)
			}
			interval, lastTry, failing = ls.opts.Heartbeat, false, time.Time{}
			continue
		}
		if errors.Is(err, ErrLost) {
			rctx, cancel := context.WithTimeout(ctx, max(ls.opts.Heartbeat, time.Second))
			rerr := ls.reclaim(rctx)
			cancel()
			if rerr == nil {
				interval, lastTry, failing = ls.opts.Heartbeat, false, time.Time{}
				continue
			}
			// %v: the other run's *HeldError must not make this lost
			// lease read as a lock held (exit code 3).
			switch {
			case errors.Is(rerr, ErrLost):
				err = fmt.Errorf("%w; another run took the lock first (%v)", err, rerr)
			case !errors.Is(rerr, errNoReclaim):
				err = fmt.Errorf("%w; putting it back failed (%v)", err, rerr)
			}
			ls.lose(ls.lostError(err))
			return
		}
		if ls.opts.OnHeartbeatError != nil {
			ls.opts.OnHeartbeatError(err)
		}
		if failing.IsZero() {
			failing = now
		}
		if errors.Is(err, ErrStoreGone) {
			// The table or bucket that kept the lease was deleted: no
			// run can take a lease in it while it is gone, so the
			// expiry protects nobody, and losing the lease there
			// stopped the engine mid-update (what Terraform, whose lock
			// has no heartbeat, never does either). The run goes on;
			// once the store is back, without this lease, the next
			// heartbeat finds it lost (ErrLost above) and puts it back
			// (reclaim), or stops the run when another run took the
			// lock first. That heartbeat comes within DefaultMaxBackoff,
			// as a waiter's next try does, not a whole interval (30 s)
			// later: only a run that takes the lock in that second
			// deploys beside this one, until this one stops.
			ls.mu.Lock()
			if ls.storeGone.IsZero() {
				ls.storeGone = now
			}
			ls.mu.Unlock()
			interval, lastTry = min(ls.opts.Heartbeat, DefaultMaxBackoff), false
			continue
		}
		ls.mu.Lock()
		expires := ls.info.ExpiresAt
		ls.mu.Unlock()
		// Time left until the lease is given up, StopBefore its expiry.
		remaining := expires.Add(-ls.opts.StopBefore).Sub(now)
		if remaining <= 0 && !lastTry {
			// One more call, at once and with its own timeout: a process
			// stopped (SIGSTOP, a suspended machine) past the expiry in
			// the middle of a call comes back to a deadline that passed
			// while it was stopped, not to a failing store. The store
			// extends the lease only while its id is still there, so a
			// run that took over meanwhile makes this ErrLost.
			lastTry, interval = true, 0
			continue
		}
		if remaining <= 0 {
			// The last error stays in the chain: a lock table or bucket
			// that is gone (ErrStoreGone) changes what to do next.
			ls.mu.Lock()
			ls.givenUp = true
			ls.mu.Unlock()
			ls.lose(fmt.Errorf("lease on %s given up %s before it expires (%s): heartbeats failed until then, so the run stops before another can take the lock (last error: %w): %w",
				key, ls.opts.StopBefore, expires.UTC().Format(time.RFC3339), err, ErrLost))
			return
		}
		// Retry sooner than usual, but never past the expiry.
		interval = min(ls.opts.Heartbeat, max(remaining/4, ls.opts.MinBackoff), remaining)
	}
}

// Release stops the heartbeats and releases the lease. It is idempotent:
// later calls return the first call's result. A lease that was already
// lost (see Err) is not released again and Release returns nil, except one
// given up because heartbeats failed: its lock item is still there when
// the server did not answer, so one conditional release (it removes the
// item only while it carries this lease's id) is tried, and runs on other
// hosts need not wait for its expiry when the server answers again by
// then. Give it a fresh context when the operation's context may already
// be cancelled.
func (ls *Lease) Release(ctx context.Context) error {
	ls.releaseOnce.Do(func() {
		ls.hbCancel()
		<-ls.done
		if ls.Lost() == nil {
			ls.releaseErr = ls.release(ctx)
		} else if ls.wasGivenUp() {
			ls.releaseGivenUp(ctx)
		}
		ls.cancel(ErrReleased)
	})
	return ls.releaseErr
}

func (ls *Lease) wasGivenUp() bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.givenUp
}

// releaseGivenUp tries once to remove the lock item of a lease given up
// for failed heartbeats, with no retries (the run already said why it
// stopped; a server still cut off would only hold its exit up) and no
// error: if it fails, the item expires by itself as the run said. A lease
// another run holds by now is not removed (ErrLost).
func (ls *Lease) releaseGivenUp(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(ls.opts.MinBackoff, 5*time.Second))
	defer cancel()
	info := ls.Info()
	_ = ls.locker.Release(ctx, info.Key, info.ID)
}

func (ls *Lease) release(ctx context.Context) error {
	key, id := ls.info.Key, ls.info.ID
	const attempts = 3
	var err error
	hung := 0
	start := time.Now()
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			if ls.opts.Clock.Sleep(ctx, ls.opts.MinBackoff<<attempt) != nil {
				break
			}
		}
		// A call that hangs (its request or answer lost) must leave time
		// for another attempt: each gets its share of what is left of
		// ctx. With the whole of it, one lost answer used it all up and
		// the lease stayed held until its ttl ran out.
		actx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok {
			actx, cancel = context.WithTimeout(ctx, max(time.Until(dl)/time.Duration(attempts-attempt), time.Second))
		}
		err = ls.locker.Release(actx, key, id)
		if err != nil && actx.Err() != nil {
			hung++
		}
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrStoreGone) {
			// The table or bucket was deleted (or the setting changed
			// under the run): the lease went with it. Retrying cannot
			// help, and "stays held ... unlock removes it" was wrong:
			// unlock fails on the same missing table.
			return fmt.Errorf("release lock %s (lock id %s): %w; its lease went with it, so there is nothing to unlock, "+
				"and no other run can take this lock until it is back", key, id, err)
		}
		if errors.Is(err, ErrLost) {
			// An earlier attempt may have landed with its reply lost: a
			// lock that is gone now was released.
			if attempt > 0 {
				if _, gerr := ls.locker.Get(ctx, key); errors.Is(gerr, ErrNotFound) {
					return nil
				}
			}
			return fmt.Errorf("release lock %s: %w", key, err)
		}
	}
	// The command that removes this lease and no other (--lock-id), in
	// full: "panka unlock --force" alone was a usage error when pasted, and
	// --force removes whoever's lease is there by the time it runs.
	unlock := "panka unlock --lock-id " + id
	if stack, env, ok := ParseKey(key); ok {
		unlock = fmt.Sprintf("panka unlock --stack %s --environment %s --lock-id %s", stack, env, id)
	}
	next := fmt.Sprintf("it stays held until it expires (%s) or, once the lock backend answers, `%s` removes it", ls.Info().ExpiresAt.UTC().Format(time.RFC3339), unlock)
	if hung > 0 && (hung == attempts || ctx.Err() != nil) {
		// The SDK's text of a cancelled call ("https response error
		// StatusCode: 0, RequestID: , canceled, context deadline
		// exceeded") says nothing useful.
		return fmt.Errorf("release lock %s (lock id %s): the lock backend did not answer (%d attempts in %s): %w; %s",
			key, id, hung, time.Since(start).Round(time.Second), context.DeadlineExceeded, next)
	}
	return fmt.Errorf("release lock %s (lock id %s): %w; %s", key, id, err, next)
}
