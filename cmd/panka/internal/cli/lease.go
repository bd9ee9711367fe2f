package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/locker"
	ddblocker "panka.dev/panka/locker/dynamodb"
	"panka.dev/panka/statestore"
	s3store "panka.dev/panka/statestore/s3"
)

// releaseTimeout bounds the release of a lease on the way out, after the
// command's own context may already be cancelled by Ctrl-C or SIGTERM.
const releaseTimeout = 15 * time.Second

// leaseCheckTimeout bounds the question, before a run records what it did,
// whether its lease still holds (leaseLost).
const leaseCheckTimeout = 10 * time.Second

// AcquireLease takes the lock lease of stack/env for operation (apply,
// destroy, rollback) at commit, waiting up to wait while someone else holds
// it and saying on stderr who that is (at most every few seconds). It
// returns a *locker.HeldError (exit code 3) naming the holder and the
// unlock command when the wait runs out. The lease heartbeats until
// released: run the operation under lease.Context() (cancelled when the
// lease is lost or on Ctrl-C/SIGTERM) and `defer f.ReleaseLease(lease)`.
func (f *Factory) AcquireLease(ctx context.Context, cfg *config.Resolved, stack, env, operation, commit string, wait time.Duration) (*locker.Lease, error) {
	return f.acquireLease(ctx, cfg, stack, env, operation, commit, wait, factoryClock{f})
}

// takenOver returns, once, the holder of the lease of stack/env this run
// took over from a process that no longer ran (nil when it took a free or
// expired one), to record in the deployment (statestore.Recovered).
func (f *Factory) takenOver(stack, env string) *statestore.RecoveredHolder {
	if h, ok := f.tookOver.LoadAndDelete(locker.Key(stack, env)); ok {
		return h.(*statestore.RecoveredHolder)
	}
	return nil
}

// recoveredHolder is lease h as a deployment record names the lease it
// took over (expired: h had expired, rather than its process ended).
func recoveredHolder(h locker.Info, expired bool) *statestore.RecoveredHolder {
	return &statestore.RecoveredHolder{LockID: h.ID, User: h.LockedBy, Host: h.Metadata.Hostname, PID: h.Metadata.PID,
		Operation: h.Metadata.Operation, Commit: h.Metadata.Commit, Since: h.LockedAt, Expired: expired}
}

// factoryClock is the real clock with the Factory's Now.
type factoryClock struct{ f *Factory }

func (c factoryClock) Now() time.Time { return c.f.Now() }
func (c factoryClock) Sleep(ctx context.Context, d time.Duration) error {
	return locker.RealClock{}.Sleep(ctx, d)
}

// lockNow is the time to compare the lease times of l with: the lock
// server's for the DynamoDB and S3 lockers, which count lease times on it
// (a host whose clock is off called a live lease's holder most likely
// dead), else local.
func lockNow(l locker.Locker, local func() time.Time) time.Time {
	if c, ok := l.(interface{ Now() time.Time }); ok {
		return c.Now()
	}
	return local()
}

// sharedLocksLocalState refuses a lease in a DynamoDB table over local
// state: the table is shared, the state is this checkout's (.panka/ or
// backend.directory), so a run in another clone takes the lock once this
// one is done and deploys again from its own state, which lacks this
// deployment: the lock orders the runs and guards nothing. panka init
// refuses --table without --bucket for that reason; a panka.yaml (or
// PANKA_LOCKS_TABLE alone) saying the same was taken as it was. Commands
// that only look at the locks (locks list, unlock) or only read the state
// still run.
func sharedLocksLocalState(cfg *config.Resolved) error {
	if cfg.Backend.Type != "local" || cfg.Locks.Type != "dynamodb" {
		return nil
	}
	if cfg.Backend.Directory != "" {
		// A configured directory may be a mount other hosts share (NFS):
		// "state only this checkout has" was untrue there. Still refused:
		// the local store's compare-and-swap of state is a check and a
		// rename under flock, which keeps other hosts out only where the
		// mount's file locking reaches the server (not with NFS's nolock,
		// nor on many network filesystems), so the state write is not
		// the sure last guard it is on S3 (If-Match).
		return fmt.Errorf("locks.type is dynamodb (%s; table %s, %s) but the state is local, in %s (backend.directory, %s): "+
			"a lock in a shared table keeps nothing safe over it, even on a mount other hosts share (NFS), as the local store's compare-and-swap of state "+
			"relies on file locks that many network mounts keep to each host (NFS with nolock), so a run that lost its lease can write over the next one's state; "+
			"keep the state in S3 (backend.bucket, PANKA_BACKEND_BUCKET or --backend-bucket; `panka backend create` makes the bucket), "+
			"or, when only this host deploys, lock locally (locks.type: local, and remove locks.table)",
			cfg.Sources["locks.type"], cfg.Locks.Table, cfg.Sources["locks.table"], cfg.Backend.Directory, cfg.Sources["backend.directory"])
	}
	return fmt.Errorf("locks.type is dynamodb (%s; table %s, %s) but the state is local (backend.type local, %s): a lock in a shared table "+
		"over state only this checkout has keeps nothing safe, as a run in another clone takes the lock after this one and deploys again from its own state; "+
		"keep the state in S3 as well (backend.bucket, PANKA_BACKEND_BUCKET or --backend-bucket; `panka backend create` makes the bucket), "+
		"or lock locally (locks.type: local, and remove locks.table)",
		cfg.Sources["locks.type"], cfg.Locks.Table, cfg.Sources["locks.table"], cfg.Sources["backend.type"])
}

// personalLockTable refuses a lease in a DynamoDB table named only by the
// user's own configuration (~/.panka/config.yaml, which panka init
// writes) over a bucket named by the repository's panka.yaml, a stack, an
// environment variable or a flag: the bucket is the team's, the table is
// this user's, and a teammate without that file locks elsewhere (S3 lock
// objects next to the state, the default, or a table of their own), so
// two runs on one stack did not keep each other out. The lock belongs next
// to the state it guards, as terraform configures both in one backend
// block.
//
// The same holds for the table's region: panka init writes locks.region
// next to locks.table, and with the team's table named in panka.yaml and
// no locks.region there (the table then is in backend.region), that
// region of the user's own file sent this user's leases to a table of
// that name in another region (DynamoDB tables are regional), or to none.
func personalLockTable(cfg *config.Resolved) error {
	bucketSrc, tableSrc := cfg.Sources["backend.bucket"], cfg.Sources["locks.table"]
	shared := func(s config.Source) bool { return s.Layer != "user" && s.Layer != "default" && s.Layer != "" }
	if cfg.Backend.Type != "s3" || cfg.Locks.Type != "dynamodb" || !shared(bucketSrc) {
		return nil
	}
	userFile := func(s config.Source) string {
		if i := strings.LastIndexByte(s.Where, ':'); i > 0 {
			return s.Where[:i] // file:line
		}
		return s.Where
	}
	if regionSrc := cfg.Sources["locks.region"]; shared(tableSrc) && regionSrc.Layer == "user" && cfg.Backend.Region != "" && cfg.Locks.Region != cfg.Backend.Region {
		return fmt.Errorf("locks.region %s is set only in your own configuration (%s), while table %s is the one of %s, next to bucket %s in %s (backend.region, %s): "+
			"a DynamoDB table is in one region, so your runs lock in another table than your teammates' (or in none), and their runs and yours on a stack do not keep each other out; "+
			"set locks.region where the table is set when the table is in another region than the bucket, or remove region from locks in %s",
			cfg.Locks.Region, regionSrc, cfg.Locks.Table, tableSrc, cfg.Backend.Bucket, cfg.Backend.Region, cfg.Sources["backend.region"], userFile(regionSrc))
	}
	if tableSrc.Layer != "user" {
		return nil
	}
	file := userFile(tableSrc)
	return fmt.Errorf("locks.table %s is set only in your own configuration (%s), while bucket %s is the one of %s: "+
		"a teammate without that file locks elsewhere (S3 lock objects next to the state, or a table of their own), so their runs and yours on a stack do not keep each other out; "+
		"set the locks next to the bucket (locks: {type: dynamodb, table: %s} in panka.yaml, or the same place the bucket is set), or remove locks from %s",
		cfg.Locks.Table, tableSrc, cfg.Backend.Bucket, bucketSrc, cfg.Locks.Table, file)
}

func (f *Factory) acquireLease(ctx context.Context, cfg *config.Resolved, stack, env, operation, commit string, wait time.Duration, clock locker.Clock) (*locker.Lease, error) {
	if err := sharedLocksLocalState(cfg); err != nil {
		return nil, err
	}
	if err := personalLockTable(cfg); err != nil {
		return nil, err
	}
	l, err := f.Locker(ctx, cfg)
	if err != nil {
		return nil, err
	}
	shared := l // its Now is the lock server's (lockNow)
	// leaseNow is the time to compare lease times with: the lock
	// server's on the real clock (a test's clock is the locker's own).
	leaseNow := clock.Now
	if _, real := clock.(factoryClock); real {
		leaseNow = func() time.Time { return lockNow(shared, clock.Now) }
	}
	every := cfg.Locks.Heartbeat.D()
	l = liveHolderGuard{Locker: l, now: leaseNow, every: every, tookOver: func(h locker.Info) {
		why := "no longer runs on this host (killed, or it crashed)"
		if self, ok := engine.Self(); ok && self.Boot != h.Metadata.BootID {
			why = "ran before this machine last restarted"
		}
		f.Warnf("took over the lock on %s/%s from %s: process %d %s, so nothing would have released it before it expired",
			stack, env, describeHolder(h, leaseNow()), h.Metadata.PID, why)
		f.tookOver.Store(locker.Key(stack, env), recoveredHolder(h, false))
	}, tookExpired: func(h locker.Info) {
		// Said in the record only: taking an expired lease is what
		// locks.ttl is for, but its holder never released it (killed on
		// another machine, or cut off), which history should keep.
		f.tookOver.Store(locker.Key(stack, env), recoveredHolder(h, true))
	}}
	if cfg.Backend.Type == "s3" && cfg.Locks.Type == "local" {
		// Shared state, private locks: a run on another machine takes
		// its own lock file and deploys the same stack at the same time.
		f.Warnf("locks.type is local while the state is shared in S3 (bucket %s): the lock is a file in this checkout's .panka/, so a run on another machine is not kept out; set locks.type to s3 (lock objects next to the state) or dynamodb", cfg.Backend.Bucket)
	}
	who, meta := f.LockIdentity(ctx, cfg, operation, commit)
	info := locker.Info{Key: locker.Key(stack, env), LockedBy: who, Metadata: meta}
	var lastErrNotice, lastBeatWarn time.Time
	beatsFailed := 0
	goneWarns := &storeGoneWarnings{every: max(cfg.Locks.Heartbeat.D(), locker.DefaultOnWaitEvery)}
	opts := locker.LeaseOptions{
		TTL: cfg.Locks.TTL.D(), Heartbeat: cfg.Locks.Heartbeat.D(), Wait: wait, Clock: clock,
		OnWait: func(h locker.Info) {
			note := ""
			// Lease times are the lock server's (the wait itself counts
			// on this host's clock, which does not jump).
			now := leaseNow()
			at, soon := bootOverAt(h, now, every)
			switch {
			case h.Expired(now) && holderRuns(h):
				note = fmt.Sprintf(" (its process %d still runs on this host: waiting until it ends)", h.Metadata.PID)
			case h.Expired(now):
			case holderGone(h) && soon:
				note = fmt.Sprintf(" (stale: process %d ran before this machine last restarted; the wait takes it over in %s, "+
					"once it has gone two heartbeat intervals without one)", h.Metadata.PID, humanDuration(at.Sub(now)))
			case holderGone(h):
				// A killed run's lease: nothing will release it, and the
				// wait said only "expires in 59m" until it gave up.
				unlock, _ := staleUnlock(h, who, stack, env)
				note = fmt.Sprintf(" (stale: process %d that took it no longer runs on this host, so nothing releases it: "+
					"the wait ends only when it expires, or once `%s` removes it)", h.Metadata.PID, unlock)
			case renamedHostNote(h, now) != "":
				unlock, _ := staleUnlock(h, who, stack, env)
				note = fmt.Sprintf(" (taken on this machine under its former hostname %s, in a boot that ended: if the hostname changed on restart, it is stale and `%s` removes it)",
					h.Metadata.Hostname, unlock)
			default:
				note = quietHolderNote(h, now, cfg.Locks.Heartbeat.D(), stack, env)
			}
			fmt.Fprintf(f.Notices(), "Waiting for the lock on %s/%s: %s%s\n", stack, env, describeHolder(h, now), note)
		},
		OnWaitError: func(err error) bool {
			// A set-up mistake (a missing table or bucket, credentials,
			// the endpoint of another server) does not pass by waiting:
			// said at once, not after --lock-timeout of silence.
			if !transientLockError(err) {
				return false
			}
			if now := clock.Now(); lastErrNotice.IsZero() || now.Sub(lastErrNotice) >= locker.DefaultOnWaitEvery {
				lastErrNotice = now
				fmt.Fprintf(f.Notices(), "Waiting for the lock on %s/%s: the lock backend failed (%v); retrying until --lock-timeout %s runs out\n", stack, env, err, wait)
			}
			return true
		},
		OnHeartbeatError: func(err error) {
			// Heartbeats are retried ever sooner as the lease runs out
			// (down to every 250 ms): one warning a heartbeat interval,
			// with how many failed since the last one, not a screenful.
			// A store that is gone may stay gone for the whole run
			// (hours), and the run goes on meanwhile: the first warning
			// at once, then ever further apart (storeGoneWarnings).
			now := clock.Now()
			gone := errors.Is(err, locker.ErrStoreGone)
			quiet := max(cfg.Locks.Heartbeat.D(), locker.DefaultOnWaitEvery)
			if gone {
				quiet = goneWarns.quiet()
			}
			if !lastBeatWarn.IsZero() && now.Sub(lastBeatWarn) < quiet {
				beatsFailed++
				return
			}
			ev := f.Log.Warn().Err(err).Str("stack", stack).Str("environment", env)
			if beatsFailed > 0 {
				ev = ev.Int("failedSinceLastWarning", beatsFailed)
			}
			lastBeatWarn, beatsFailed = now, 0
			msg := "lock heartbeat failed; retrying until shortly before the lease expires, when the run stops (so it has stopped before another run can take the lock)"
			if gone {
				goneWarns.warned()
				msg = "lock heartbeat failed: the lock table or bucket is gone, and this run's lease with it; nobody else can take the lock while it is gone, " +
					"so the run goes on (stopping it mid-deployment would protect nothing); once the table or bucket is back, the run puts its lease back, or stops if another run took the lock first"
			}
			ev.Msg(msg)
		},
	}
	opts.OnHeartbeatBack = func(since time.Time) {
		f.Log.Warn().Str("stack", stack).Str("environment", env).
			Msgf("lock heartbeat works again: the lease is renewed and the run goes on (heartbeats failed since %s)", since.UTC().Format(time.RFC3339))
	}
	opts.OnStoreBack = func(gone time.Time) {
		goneWarns.reset()
		f.Log.Warn().Str("stack", stack).Str("environment", env).
			Msgf("the lock table or bucket, gone since %s, is back with this run's lease in it: the lease is renewed again", gone.UTC().Format(time.RFC3339))
	}
	opts.OnReclaim = func(got locker.Info, gone time.Time) {
		goneWarns.reset()
		// Loud: from the store's return until this put, up to a second,
		// a run that tried the lock could have taken it, deployed and
		// released it beside this one.
		f.Log.Warn().Str("stack", stack).Str("environment", env).Str("lockId", got.ID).
			Msgf("the lock table or bucket, gone since %s, is back without this run's lease: the lease was put back (same lock id) before any other run took the lock, so the run goes on holding it; "+
				"if another run of %s/%s ran in the moment before, check its deployment", gone.UTC().Format(time.RFC3339), stack, env)
	}
	lease, err := locker.Acquire(ctx, l, info, opts)
	if err != nil {
		if errors.Is(err, locker.ErrHeld) {
			return nil, heldError(err, stack, env, wait, who, leaseNow(), every)
		}
		if ctx.Err() != nil {
			// Ctrl-C while waiting: "context canceled" would be all it said.
			return nil, fmt.Errorf("%s of %s/%s interrupted while waiting for its lock (%s); nothing was changed", operation, stack, env, f.describeLockOf(cfg, stack, env))
		}
		return nil, fmt.Errorf("lock %s/%s (%s): %w", stack, env, f.describeLockOf(cfg, stack, env), err)
	}
	f.Log.Debug().Str("stack", stack).Str("environment", env).Str("lockId", lease.Info().ID).Str("lockedBy", who).Msg("lock acquired")
	return lease, nil
}

// storeGoneWarnings spaces the warnings of heartbeats that find the lock
// table or bucket gone: the run goes on for as long as it is gone, and one
// warning a heartbeat interval was some 120 an hour. The first comes at
// once; after each the quiet time doubles, from every up to
// maxStoreGoneWarnEvery, until the store is back (reset).
type storeGoneWarnings struct {
	mu    sync.Mutex
	every time.Duration
	gap   time.Duration // quiet time after the last warning; 0: warn at once
}

// maxStoreGoneWarnEvery is the longest gap between two warnings that the
// lock table or bucket is still gone.
const maxStoreGoneWarnEvery = 10 * time.Minute

// quiet is how long to stay quiet after the last warning.
func (w *storeGoneWarnings) quiet() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gap
}

// warned doubles the quiet time after a warning was given.
func (w *storeGoneWarnings) warned() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gap = min(max(2*w.gap, w.every), max(maxStoreGoneWarnEvery, w.every))
}

// reset makes the next warning come at once (the store is back).
func (w *storeGoneWarnings) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gap = 0
}

// transientLockError reports whether err, of a lock backend, may pass by
// waiting: the server unreachable or not answering, or answering with
// server errors or throttling through every retry.
func transientLockError(err error) bool {
	if errors.Is(err, s3store.ErrUnreachable) || errors.Is(err, s3store.ErrServerFailing) || errors.Is(err, ddblocker.ErrUnreachable) {
		return true
	}
	_, _, failing := s3store.ServerFailure(err)
	return failing
}

// leaseLost is asked right before a command records what it did under
// lease (what: "the deployment", "the drift check"). It returns the error
// wrapping locker.ErrLost when the lease is known to be lost (force
// unlocked, taken over, expired): then nothing may be written, as another
// run may hold the lease and own the state by now. When the backend cannot
// be asked, or its table or bucket is gone (the run went on without a lock
// nobody else could take either), it only warns: the state write is
// compare-and-swap.
func (f *Factory) leaseLost(ctx context.Context, cfg *config.Resolved, lease *locker.Lease, what string) error {
	// Bounded: a lock server that holds the question unanswered must not
	// keep the record from being written (the state server may answer).
	cctx, cancel := context.WithTimeout(ctx, leaseCheckTimeout)
	err := lease.Check(cctx)
	cancel()
	if errors.Is(err, locker.ErrLost) {
		return f.lostTo(ctx, cfg, lease, err)
	}
	if errors.Is(err, locker.ErrStoreGone) {
		// Said plainly at the end: the run went on without a lock (its
		// heartbeat warnings said so as it happened).
		when := ""
		if since := lease.StoreGoneSince(); !since.IsZero() {
			when = fmt.Sprintf(" (noticed %s ago)", humanDuration(f.Now().Sub(since)))
		}
		f.Warnf("recording %s of a run that lost its lock on the way: the lock table or bucket was deleted under it%s. "+
			"No other run could take the lock while it was gone, and the state write is compare-and-swap, so nothing is overwritten; "+
			"make the table or bucket again before the next run: %v", what, when, err)
		return nil
	}
	if err != nil {
		f.Log.Warn().Err(err).Msgf("could not confirm the lock lease before recording %s", what)
	}
	return nil
}

// lostTo adds to lost, the error of a lost lease, who holds the lock now
// (describeHolder), or that nobody does, or that the lock backend does not
// answer (the lease then ran out because its heartbeats could not reach
// it).
func (f *Factory) lostTo(ctx context.Context, cfg *config.Resolved, lease *locker.Lease, lost error) error {
	l, err := f.Locker(ctx, cfg)
	if err != nil {
		return lost
	}
	mine := lease.Info()
	stack, env, _ := locker.ParseKey(mine.Key)
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	h, err := l.Get(gctx, mine.Key)
	switch {
	case errors.Is(err, locker.ErrNotFound) && !lease.StoreGoneSince().IsZero():
		return fmt.Errorf("%w; nobody holds it yet", lost)
	case errors.Is(err, locker.ErrNotFound):
		return fmt.Errorf("%w; nobody holds the lock now (it was removed, e.g. by panka unlock --force)", lost)
	case errors.Is(err, locker.ErrStoreGone) && errors.Is(lost, locker.ErrStoreGone):
		// Said once: the heartbeats' last error already says the table
		// or bucket is gone and how to make it again.
		return lost
	case errors.Is(err, locker.ErrStoreGone):
		return fmt.Errorf("%w; nobody can hold the lock now: %v", lost, err)
	case err != nil:
		return fmt.Errorf("%w; the lock (%s) cannot be read now either (%v): check that the lock backend is up and reachable from here", lost, f.describeLockOf(cfg, stack, env), err)
	case h.ID == mine.ID:
		return lost
	}
	return fmt.Errorf("%w; it is now held by %s", lost, describeHolder(h, lockNow(l, f.Now)))
}

// ReleaseLease releases lease with a fresh, bounded context, so it also
// runs after Ctrl-C/SIGTERM cancelled the command's context, and logs a
// failure (the lease then expires by itself after locks.ttl).
func (f *Factory) ReleaseLease(lease *locker.Lease) error {
	if lease == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	err := lease.Release(ctx)
	if err != nil {
		f.Log.Warn().Err(err).Msg("release the lock")
	}
	return err
}

// liveHolderGuard refuses to take over an expired lease while the process
// that took it still runs on this host: its lease ran out because it stopped
// heartbeating (suspended with SIGSTOP or a closed laptop lid, or hung), not
// because it died, and it goes on deploying when it resumes. Pulumi's own
// lock cannot stop it then: the new holder clears that lock as left by a
// killed run, and the resumed engine writes its checkpoint over the new
// holder's, so panka's state and the real resources silently disagree.
// Holders on other hosts cannot be checked and are taken over at expiry.
//
// Conversely it takes over, before expiry, a lease whose holder provably
// ended (holderEnded: killed with SIGKILL, crashed, or run in a boot of
// this machine that ended), and tells tookOver: as
// Terraform's local lock, an OS file lock, ends with its process, a run
// killed on this machine does not keep the next one out for locks.ttl.
// The killed run's engine stops when panka dies (engine.StartChild: it
// gets SIGTERM and stops Pulumi); a Pulumi still running keeps its own
// lock, which RecoverStale refuses to clear ("wait for it to end"), so the
// new holder never deploys alongside it. What a killed engine left in
// Pulumi's state (its lock, pending operations) is cleared under the new
// lease as after an expiry.
type liveHolderGuard struct {
	locker.Locker
	now      func() time.Time
	every    time.Duration // the heartbeat interval (holderEnded)
	tookOver func(holder locker.Info)
	// tookExpired, when set, is told of an expired lease taken: its
	// holder never released it.
	tookExpired func(holder locker.Info)
}

func (g liveHolderGuard) TryAcquire(ctx context.Context, info locker.Info, ttl time.Duration) (locker.Info, error) {
	h, err := g.Get(ctx, info.Key)
	switch {
	case err != nil:
	case h.Expired(g.now()) && holderRuns(h):
		return locker.Info{}, &locker.HeldError{Holder: h}
	case !h.Expired(g.now()) && holderEnded(h, g.now(), g.every):
		// Removed while it carries the ended holder's lock id only: a
		// run that took it over a moment before keeps it, and this
		// attempt then finds that run's lease held.
		err := g.Locker.Release(ctx, info.Key, h.ID)
		if err != nil && !errors.Is(err, locker.ErrLost) {
			return locker.Info{}, fmt.Errorf("take over the lease of process %d, which no longer runs on this host: %w", h.Metadata.PID, err)
		}
		got, aerr := g.Locker.TryAcquire(ctx, info, ttl)
		// Taken: the ended holder's lease is gone, removed by this run
		// or by one racing it (ErrLost here) that has not taken it yet.
		if aerr == nil && g.tookOver != nil {
			g.tookOver(h)
		}
		return got, aerr
	}
	got, aerr := g.Locker.TryAcquire(ctx, info, ttl)
	if aerr == nil && err == nil && h.ID != "" && h.ID != got.ID && h.Expired(g.now()) && g.tookExpired != nil {
		g.tookExpired(h)
	}
	return got, aerr
}

// heldError keeps the *HeldError (exit code 3) and adds the next steps;
// who is the caller's lock identity, every the heartbeat interval.
func heldError(err error, stack, env string, waited time.Duration, who string, now time.Time, every time.Duration) error {
	var he *locker.HeldError
	if errors.As(err, &he) && he.Holder.Expired(now) && holderRuns(he.Holder) {
		return fmt.Errorf("%w\nIts lease expired, but process %d that took it on this host still runs (stopped, suspended or hung): "+
			"taking the lock over would let two deployments write the same resources and Pulumi state. "+
			"Let it finish or stop it (kill %d); the next operation then takes the lock over. "+
			"If it no longer deploys anything, remove its lock with:\n  panka unlock --stack %s --environment %s --force",
			err, he.Holder.Metadata.PID, he.Holder.Metadata.PID, stack, env)
	}
	if errors.As(err, &he) && holderGone(he.Holder) {
		unlock, why := staleUnlock(he.Holder, who, stack, env)
		if why != "" {
			why = " (" + why + ")"
		}
		if at, ok := bootOverAt(he.Holder, now, every); ok {
			// Restarted soon after its last heartbeat: proved dead in
			// a moment, not at expiry.
			return fmt.Errorf("%w\nProcess %d that took it on this host ran before this machine last restarted: the lock is stale. "+
				"It was renewed only %s ago, so it is taken over once it has gone two heartbeat intervals (%s) without one, in %s "+
				"(a copy of this machine could still renew it until then): re-run then, or wait with --lock-timeout (e.g. --lock-timeout 2m), or remove it now with:\n  %s%s",
				err, he.Holder.Metadata.PID, humanDuration(now.Sub(lastSeen(he.Holder))), humanDuration(2*every), humanDuration(at.Sub(now)), unlock, why)
		}
		return fmt.Errorf("%w\nProcess %d that took it on this host is no longer running (killed, or its machine restarted): the lock is stale. "+
			"It is not taken over before it expires, as its lease does not prove that its holder ended (%s). "+
			"Remove it with:\n  %s%s\nor wait until it expires; the next operation then takes it over", err, he.Holder.Metadata.PID, unprovenWhy(he.Holder, now, every), unlock, why)
	}
	if he != nil {
		if renamed := renamedHostNote(he.Holder, now); renamed != "" {
			unlock, why := staleUnlock(he.Holder, who, stack, env)
			if why != "" {
				why = " (" + why + ")"
			}
			return fmt.Errorf("%w\n%s. If it is, remove the lock with:\n  %s%s\nor wait until it expires; the next operation then takes it over", err, renamed, unlock, why)
		}
		if quiet := heartbeatSilence(he.Holder, now, every); quiet > 0 && holderRuns(he.Holder) {
			// Silent but alive: stopped, suspended or hung, not dead. It
			// goes on deploying when it resumes, so it is not "most likely
			// dead", and removing its lease is not the first thing to do.
			unlock, _ := staleUnlock(he.Holder, who, stack, env)
			return fmt.Errorf("%w\nIts holder has not renewed it for %s, but process %d that took it on this host still runs (stopped, suspended or hung): "+
				"it goes on deploying when it resumes. Let it finish or stop it (kill %d); the lease is then stale and\n  %s\nremoves it (or wait until it expires, in %s)",
				err, humanDuration(quiet), he.Holder.Metadata.PID, he.Holder.Metadata.PID, unlock, humanDuration(he.Holder.ExpiresAt.Sub(now)))
		} else if quiet > 0 {
			return fmt.Errorf("%w\nIts holder has not renewed it for %s, while a running panka renews it every %s: that run is most likely dead (killed, or its machine went away). "+
				"If you are sure, remove the lock with:\n  panka unlock --stack %s --environment %s --force\nor wait until it expires (in %s); the next operation then takes it over",
				err, humanDuration(quiet), every, stack, env, humanDuration(he.Holder.ExpiresAt.Sub(now)))
		}
	}
	next := "wait for it with --lock-timeout (e.g. --lock-timeout 10m)"
	if waited > 0 {
		next = "wait longer with a larger --lock-timeout"
	}
	if he != nil && holderRuns(he.Holder) {
		// It runs here and renews its lease: not dead, so no unlock
		// --force (which would let two runs deploy at once).
		pid := he.Holder.Metadata.PID
		return fmt.Errorf("%w\nThat run is going on now, as process %d on this host: %s, or stop it cleanly (Ctrl-C in its terminal, or kill -INT %d), "+
			"which records it and releases the lock", err, pid, next, pid)
	}
	return fmt.Errorf("%w\n%s, or, if that run is dead, remove its lock with:\n  panka unlock --stack %s --environment %s --force", err, next, stack, env)
}

// renamedHostNote says, for lease h from this machine (its machine id) in
// a boot that ended before this one started (engine.BootEnded) but under
// another hostname, that its holder ended with that boot if the hostname
// changed on restart (DHCP), and why panka does not take it over by
// itself: a VM cloned from this machine's disk image has the same machine
// id under another name and may still run it, a holder cut off from the
// lock backend (heartbeats failing, still deploying) as much as a dead one;
// only the hostname tells this machine's restart from that clone. "" when
// h is not such a lease.
func renamedHostNote(h locker.Info, now time.Time) string {
	host, _ := os.Hostname()
	inc, ok := holderIncarnation(h)
	if !ok || host == "" || h.Metadata.Hostname == "" || h.Metadata.Hostname == host || !engine.BootEnded(inc, lastSeen(h), now) {
		return ""
	}
	return fmt.Sprintf("It was taken by process %d on this machine (its machine id) under another hostname, %s, in a boot that ended before this one started (this host is %s now): "+
		"if this machine's hostname changed when it restarted (DHCP), that run ended with the boot and the lock is stale. "+
		"panka does not take it over by itself, as a VM cloned from this machine's image has the same machine id under another name and may still run it: "+
		"check that %s is this machine", h.Metadata.PID, h.Metadata.Hostname, host, h.Metadata.Hostname)
}

// staleUnlock is the least forceful command that removes stale lease h (see
// holderGone) for the caller whose lock identity is who: plain unlock
// releases the caller's own lease once its process is gone (unlockRun);
// someone else's, or one whose owner is unknown (who == ""), needs --force,
// and why says so ("" when plain unlock does it).
func staleUnlock(h locker.Info, who, stack, env string) (cmd, why string) {
	cmd = fmt.Sprintf("panka unlock --stack %s --environment %s", stack, env)
	switch {
	case who != "" && h.LockedBy == who:
		return cmd, ""
	case who == "":
		return cmd + " --force", "--force: who you are could not be determined, and plain unlock removes only your own lease"
	default:
		return cmd + " --force", fmt.Sprintf("--force: it was taken by %s, not by you (%s), and plain unlock removes only your own lease", dash(h.LockedBy), who)
	}
}

// heartbeatSilence returns how long lease h has gone without a heartbeat
// when that is far longer than a running holder waits between two (three
// intervals of every, and at least two minutes): its holder is then most
// likely dead, on whatever host, though the lease has not expired yet.
// It returns 0 otherwise, and for an expired lease (anyone may take it).
func heartbeatSilence(h locker.Info, now time.Time, every time.Duration) time.Duration {
	if h.LastHeartbeat.IsZero() || every <= 0 || h.Expired(now) {
		return 0
	}
	quiet := now.Sub(h.LastHeartbeat)
	if quiet <= max(3*every, 2*time.Minute) {
		return 0
	}
	return quiet
}

// quietHolderNote is what a note about lease h (held, not expired) adds
// when its holder has gone without a heartbeat for long (heartbeatSilence)
// and is not a process that still runs on this host: that its run is most
// likely dead, and the unlock --force that removes it. "" otherwise.
func quietHolderNote(h locker.Info, now time.Time, every time.Duration, stack, env string) string {
	quiet := heartbeatSilence(h, now, every)
	if quiet <= 0 || holderRuns(h) {
		return ""
	}
	return fmt.Sprintf(" (not renewed for %s, while a running panka renews it every %s: its run is most likely dead; "+
		"if you are sure, `panka unlock --stack %s --environment %s --force` removes it)",
		humanDuration(quiet), every, stack, env)
}

// holderGone reports whether a lease was taken on this host by a process
// that no longer runs. Leases from other hosts, or without a PID (older
// panka), cannot be checked: they are not gone.
func holderGone(h locker.Info) bool {
	host, _ := os.Hostname()
	checkable, alive := localHolder(h, host)
	return checkable && !alive
}

// holderRuns reports whether a lease was taken on this host by a process
// that still runs.
func holderRuns(h locker.Info) bool {
	host, _ := os.Hostname()
	checkable, alive := localHolder(h, host)
	return checkable && alive
}

// localHolder reports whether lease h was taken on host (this machine) by
// a process panka can check, and whether that process still runs (a
// process with its pid that started after the lease was taken is another
// one: engine.HolderAlive). A lease
// without a PID (older panka), from another host, or naming this very
// process (which never holds the lease it inspects: its PID was reused) is
// not checkable. A lease that names its holder's incarnation (boot, pid
// namespace, start) and was taken in this boot is checked exactly, and is
// not checkable from another pid namespace (another container with the
// same hostname, whose pids are not this one's).
func localHolder(h locker.Info, host string) (checkable, alive bool) {
	pid := h.Metadata.PID
	if pid <= 0 || host == "" || h.Metadata.Hostname != host || pid == os.Getpid() {
		return false, false
	}
	if inc, ok := holderIncarnation(h); ok {
		if self, ok := engine.Self(); ok && self.Boot == inc.Boot {
			if self.PIDNamespace != inc.PIDNamespace {
				return false, false
			}
			return true, !engine.Ended(inc, pid)
		}
	}
	return true, engine.HolderAlive(pid, h.LockedAt)
}

// holderIncarnation is the incarnation lease h records of its holder;
// false when it records none or only part (older panka, a host without
// /proc). Its Machine may be empty (a host without a machine id).
func holderIncarnation(h locker.Info) (engine.Incarnation, bool) {
	m := h.Metadata
	inc := engine.Incarnation{Boot: m.BootID, PIDNamespace: m.PIDNamespace, Start: m.ProcessStart, Machine: m.MachineID}
	return inc, inc.Boot != "" && inc.PIDNamespace != "" && inc.Start > 0
}

// unprovenWhy says why stale lease h (holderGone) is not holderEnded at
// now, every being the heartbeat interval.
func unprovenWhy(h locker.Info, now time.Time, every time.Duration) string {
	inc, ok := holderIncarnation(h)
	self, selfOK := engine.Self()
	switch {
	case !ok:
		return "it was taken by a panka that recorded only its pid, which a later process may have reused"
	case !selfOK || self.Boot == inc.Boot:
		return "this machine cannot tell its processes apart"
	case inc.Machine == "" || self.Machine == "":
		return "it was taken in another boot, and without a machine id (/etc/machine-id) on both sides another machine with the same name cannot be ruled out"
	case inc.Machine != self.Machine:
		return "it was taken by another machine with the same name"
	case lastSeen(h).After(now):
		return fmt.Sprintf("it was taken in another boot, but its last renewal is dated %s ahead of the lock's clock: a clock is off", humanDuration(lastSeen(h).Sub(now)))
	}
	return fmt.Sprintf("it was taken in another boot, but renewed %s ago: not long enough before this machine last started, "+
		"or for a run that renews it every %s, to rule out a copy of this machine (same name and machine id) that still runs it",
		humanDuration(now.Sub(lastSeen(h))), every)
}

// holderEnded reports whether lease h's holder provably ended at now
// (every is the heartbeat interval). Either it was taken on this host, in
// this boot and pid namespace, by a process that no longer runs (its pid
// free, or a later process's), or in an earlier boot of this host, which
// bootOver proves. Such a lease is taken over before it expires
// (liveHolderGuard). A lease without its holder's incarnation (older
// panka), or from another host or namespace, is never proved ended: it is
// only shown as stale (holderGone).
func holderEnded(h locker.Info, now time.Time, every time.Duration) bool {
	inc, ok := localIncarnation(h)
	if !ok {
		return false
	}
	if engine.Ended(inc, h.Metadata.PID) {
		return true
	}
	ended, silent := bootOver(h, inc, now, every)
	return ended && silent
}

// localIncarnation is the incarnation lease h records of its holder
// (holderIncarnation) when it was taken on this host; false otherwise.
func localIncarnation(h locker.Info) (engine.Incarnation, bool) {
	host, _ := os.Hostname()
	inc, ok := holderIncarnation(h)
	return inc, ok && host != "" && h.Metadata.Hostname == host
}

// bootOver tells whether lease h (incarnation inc, taken on this host) is
// of an earlier boot of this machine, which restarted since (ended: same
// machine id, another boot, last renewed before this boot started, see
// engine.BootEnded), and whether it has gone more than two heartbeat
// intervals without a heartbeat (silent). Both prove its holder dead. The
// silence is what tells a copy of this machine (a VM cloned from one disk
// image keeps its machine id and name) that booted after the lease was
// taken and still renews it: only one stalled that long loses its lease
// early, as a lease from another machine silent that long is called
// most likely dead (heartbeatSilence).
func bootOver(h locker.Info, inc engine.Incarnation, now time.Time, every time.Duration) (ended, silent bool) {
	seen := lastSeen(h)
	if every <= 0 || h.LockedAt.IsZero() || seen.Before(h.LockedAt) || !engine.BootEnded(inc, seen, now) {
		return false, false
	}
	return true, now.Sub(seen) > 2*every
}

// bootOverAt is when lease h, of an earlier boot of this machine
// (bootOver ended) that is not yet silent long enough, is proved dead;
// false when that is not what is missing at now.
func bootOverAt(h locker.Info, now time.Time, every time.Duration) (time.Time, bool) {
	inc, ok := localIncarnation(h)
	if !ok {
		return time.Time{}, false
	}
	if ended, silent := bootOver(h, inc, now, every); !ended || silent {
		return time.Time{}, false
	}
	return lastSeen(h).Add(2*every + time.Second), true
}

// lastSeen is when lease h's holder last showed it was alive: its last
// heartbeat, else when it took the lease.
func lastSeen(h locker.Info) time.Time {
	if h.LastHeartbeat.IsZero() {
		return h.LockedAt
	}
	return h.LastHeartbeat
}

// describeHolder says who holds a lease: user, host, operation, commit,
// since and expiry, relative to now.
func describeHolder(h locker.Info, now time.Time) string {
	s := h.LockedBy
	if s == "" {
		s = "(unknown)"
	}
	if h.Metadata.Hostname != "" {
		s += " on " + h.Metadata.Hostname
		if h.Metadata.PID != 0 {
			s += fmt.Sprintf(" (pid %d)", h.Metadata.PID)
		}
	}
	if h.Metadata.Operation != "" {
		s += ", " + h.Metadata.Operation
	}
	if h.Metadata.Commit != "" {
		s += " of commit " + shortCommit(h.Metadata.Commit)
	}
	if !h.LockedAt.IsZero() {
		s += fmt.Sprintf(", since %s (%s ago)", h.LockedAt.Local().Format("2006-01-02 15:04:05"), humanDuration(now.Sub(h.LockedAt)))
	}
	if !h.ExpiresAt.IsZero() {
		if h.Expired(now) {
			s += fmt.Sprintf(", expired %s ago", humanDuration(now.Sub(h.ExpiresAt)))
		} else {
			s += ", expires in " + humanDuration(h.ExpiresAt.Sub(now))
		}
	}
	if h.Metadata.CIURL != "" {
		s += ", " + h.Metadata.CIURL
	}
	return s
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// humanDuration renders d as 45s, 3m20s, 2h05m or 3d4h.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}
