package deploy

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
	s3store "panka.dev/panka/statestore/s3"
	"panka.dev/panka/statestore/testserver"
)

// backends opens stores over one fresh location per backend: the local
// store in a temp dir and the S3 store on the test server. Every call of
// open is a new client, so two runs never share one.
var backends = []struct {
	name     string
	location func(t *testing.T) (open func() statestore.Store)
}{
	{"local", func(t *testing.T) func() statestore.Store {
		dir := filepath.Join(t.TempDir(), ".panka")
		return func() statestore.Store {
			s, err := local.New(local.Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}},
	{"s3", func(t *testing.T) func() statestore.Store {
		srv := testserver.S3(t)
		bucket := testserver.NewBucket(t)
		return func() statestore.Store {
			c := s3store.NewClient(srv.AWSConfig(), s3store.ClientOptions{Endpoint: srv.Endpoint, UsePathStyle: true})
			s, err := s3store.New(c, s3store.Options{Bucket: bucket})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}},
}

// clock is a shared fake clock: runs that interleave see one time line.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

func runtimeOn(store statestore.Store, eng Engine, c *clock, user, lockID string) Runtime {
	return Runtime{
		Store:     store,
		NewEngine: func(context.Context, *stacks.Resolved, *stacks.Resolved) (Engine, error) { return eng, nil },
		User:      user, Host: "laptop", PankaVersion: "test", LockID: lockID,
		Now: c.Now,
	}
}

// historyOf returns "serial:id" of every record, newest first.
func historyOf(t *testing.T, s statestore.Store) []string {
	t.Helper()
	h, err := s.History(context.Background(), key, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range h {
		out = append(out, entry(d))
	}
	return out
}

func stateOf(t *testing.T, s statestore.Store) *statestore.State {
	t.Helper()
	st, _, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func entry(d *statestore.Deployment) string { return fmt.Sprintf("%d:%s", d.Serial, d.ID) }

func wantAll(t *testing.T, err error, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Fatalf("err = %v\nwant it to contain %q", err, s)
		}
	}
}

// faultyStore is a real store with injected failures: RemoveHistory fails
// with removeErr; AppendHistory fails with appendErr; Put fails with
// putErr, after writing when putLands (the write was stored and only its
// answer was lost).
type faultyStore struct {
	statestore.Store
	putErr   error
	putLands bool
	// putHangs makes Put wait for its context to end (a state server
	// that does not answer), then fail with the context's error.
	putHangs  bool
	removeErr error
	appendErr error
	// historyErr fails History and NewerHistory (a record that no longer
	// decodes, a listing the server refuses).
	historyErr error
}

func (s *faultyStore) History(ctx context.Context, k statestore.Key, offset, limit int) ([]*statestore.Deployment, error) {
	if s.historyErr != nil {
		return nil, s.historyErr
	}
	return s.Store.History(ctx, k, offset, limit)
}

func (s *faultyStore) NewerHistory(ctx context.Context, k statestore.Key, serial int64, since time.Time) (*statestore.Deployment, error) {
	if s.historyErr != nil {
		return nil, s.historyErr
	}
	return s.Store.NewerHistory(ctx, k, serial, since)
}

func (s *faultyStore) AppendHistory(ctx context.Context, k statestore.Key, d *statestore.Deployment) error {
	if s.appendErr != nil {
		return s.appendErr
	}
	return s.Store.AppendHistory(ctx, k, d)
}

func (s *faultyStore) Put(ctx context.Context, k statestore.Key, st *statestore.State, prev statestore.Version) (statestore.Version, error) {
	if s.putHangs {
		<-ctx.Done()
		return "", ctx.Err()
	}
	if s.putErr == nil {
		return s.Store.Put(ctx, k, st, prev)
	}
	if s.putLands {
		if _, err := s.Store.Put(ctx, k, st, prev); err != nil {
			return "", err
		}
	}
	return "", s.putErr
}

func (s *faultyStore) RemoveHistory(ctx context.Context, k statestore.Key, d *statestore.Deployment) error {
	if s.removeErr != nil {
		return s.removeErr
	}
	return s.Store.RemoveHistory(ctx, k, d)
}

// takeOver makes the engine of run A, while it runs, let run B (another
// user, lock and store client) deploy and write state, as after a force
// unlock. It returns B's result once A's engine ran.
func takeOver(t *testing.T, engA *fakeEngine, rtB Runtime) func() *Result {
	var other *Result
	engA.onUp = func() {
		engA.onUp = nil
		v3 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(30)}))
		var err error
		if other, err = Run(context.Background(), rtB, Request{Key: key, Operation: statestore.OpApply, Desired: v3, Source: Source{Commit: strings.Repeat("b", 40)}}); err != nil {
			t.Errorf("the run that took over: %v", err)
		}
	}
	return func() *Result {
		if other == nil {
			t.Fatal("the run that took over did not run")
		}
		return other
	}
}

// conflict is a run (A) that applies v1, then applies v2 and loses the
// state write to another run (B, another user, lock and store client)
// that deploys while A's engine runs. wrap, when set, wraps A's store.
type conflict struct {
	first, res, other *Result
	err               error
	rtA               Runtime
	v2                *stacks.Resolved
}

func loseStateWrite(t *testing.T, open func() statestore.Store, wrap func(statestore.Store) statestore.Store) conflict {
	t.Helper()
	ctx := context.Background()
	c := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	engA, engB := &fakeEngine{}, &fakeEngine{}
	storeA := open()
	if wrap != nil {
		storeA = wrap(storeA)
	}
	var x conflict
	x.rtA = runtimeOn(storeA, engA, c, "alice@example.com", "lock-a")
	rtB := runtimeOn(open(), engB, c, "bob@example.com", "lock-b")
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
	var err error
	if x.first, err = Run(ctx, x.rtA, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	winner := takeOver(t, engA, rtB)
	x.v2 = model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}))
	x.res, x.err = Run(ctx, x.rtA, Request{Key: key, Operation: statestore.OpApply, Desired: x.v2})
	x.other = winner()
	return x
}

// TestRunStateConflictRecordsNoHistory: a run whose state write loses the
// compare-and-swap (here: while its engine ran, another run with its own
// store client deployed and wrote state) leaves no history record claiming
// its run, does not touch the winner's state or record, and says so.
func TestRunStateConflictRecordsNoHistory(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			open := b.location(t)
			x := loseStateWrite(t, open, nil)
			first, res, err, other, rtA, v2 := x.first, x.res, x.err, x.other, x.rtA, x.v2
			if !errors.Is(err, statestore.ErrConflict) {
				t.Fatalf("err = %v, want a state conflict", err)
			}
			wantAll(t, err,
				"the apply of shop/dev (serial 2, succeeded) was not recorded",
				"changed by another writer",
				"it is now at serial 2, written by the apply of commit bbbbbbbbbbbb by bob@example.com on laptop",
				"lock lock-b",
				"the history record it had written was withdrawn",
				"the engine did run, so resources may have changed: see panka status --stack shop, then re-run")
			if res.Deployment != nil {
				t.Fatalf("the losing run reported a recorded deployment %+v", res.Deployment)
			}
			reader := open()
			want := []string{entry(other.Deployment), entry(first.Deployment)}
			if got := historyOf(t, reader); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("history = %v, want only the runs that wrote state: %v", got, want)
			}
			if rec, err := reader.Deployment(ctx, key, 2); err != nil || rec.ID != other.Deployment.ID || rec.User != "bob@example.com" {
				t.Fatalf("the winner's record of serial 2: %+v, %v", rec, err)
			}
			if st := stateOf(t, reader); st.Serial != 2 || st.LastDeployment.ID != other.Deployment.ID {
				t.Fatalf("state serial %d last %s, want the other run's serial 2", st.Serial, st.LastDeployment.ID)
			}

			// A re-run plans against the new state and records serial 3.
			again, err := Run(ctx, rtA, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
			if err != nil {
				t.Fatal(err)
			}
			want = append([]string{entry(again.Deployment)}, want...)
			if got := historyOf(t, reader); strings.Join(got, " ") != strings.Join(want, " ") || again.Deployment.Serial != 3 {
				t.Fatalf("history after the re-run = %v, want %v", got, want)
			}
		})
	}
}

// TestRunStateConflictRecordStays: when the record cannot be withdrawn
// either, the error names the object that remains and says it describes a
// deployment that was not recorded.
func TestRunStateConflictRecordStays(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			open := b.location(t)
			x := loseStateWrite(t, open, func(st statestore.Store) statestore.Store {
				return &faultyStore{Store: st, removeErr: errors.New("remove history record: 503 SlowDown")}
			})
			res, err, other := x.res, x.err, x.other
			if !errors.Is(err, statestore.ErrConflict) || res.Deployment != nil {
				t.Fatalf("err = %v, deployment %+v; want a state conflict and nothing recorded", err, res.Deployment)
			}
			// The losing run started first, so its record sorts below the winner's.
			h, herr := open().History(ctx, key, 0, 0)
			if herr != nil {
				t.Fatal(herr)
			}
			if len(h) != 3 || h[0].ID != other.Deployment.ID {
				t.Fatalf("history %v, want the winner's record, the one left behind, the first run's", h)
			}
			phantom := h[1]
			name, _ := statestore.HistoryName(phantom)
			if phantom.User != "alice@example.com" || phantom.Serial != 2 {
				t.Fatalf("record %+v, want the losing run's (it could not be withdrawn)", phantom)
			}
			wantAll(t, err,
				"the apply of shop/dev (serial 2, succeeded) was not recorded",
				"could not be withdrawn (remove history record: 503 SlowDown)",
				"stacks/shop/dev/history/"+name+" (under backend.prefix, if set) remains and describes a deployment that was not recorded",
				"see panka status --stack shop, then re-run")
		})
	}
}

// deployedOnce deploys one queue (serial 1) through a store whose writes
// can be made to fail; reader is a second handle on the same location.
func deployedOnce(t *testing.T, open func() statestore.Store) (d struct {
	store  *faultyStore
	eng    *fakeEngine
	rt     Runtime
	reader statestore.Store
	v1     *stacks.Resolved
	first  *Result
}) {
	t.Helper()
	c := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	d.store, d.eng = &faultyStore{Store: open()}, &fakeEngine{}
	d.rt = runtimeOn(d.store, d.eng, c, "alice@example.com", "lock-a")
	d.reader = open()
	d.v1 = model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
	var err error
	if d.first, err = Run(context.Background(), d.rt, Request{Key: key, Operation: statestore.OpApply, Desired: d.v1}); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRunStateWriteFails: a state write that fails without a conflict (a
// storage error) withdraws the record the same way; one whose write was
// stored although it reported an error is a recorded deployment.
func TestRunStateWriteFails(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			d := deployedOnce(t, b.location(t))
			store, rt, reader, v1, first := d.store, d.rt, d.reader, d.v1, d.first

			// Nothing to change: the engine is skipped, and the message says
			// no resources changed.
			store.putErr = errors.New("write state: 500 InternalError")
			res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1})
			wantAll(t, err, "the apply of shop/dev (serial 2, succeeded) was not recorded: write state: write state: 500 InternalError",
				"the history record it had written was withdrawn",
				"the engine did not run (nothing to change), so no resources changed")
			if res.Deployment != nil || errors.Is(err, statestore.ErrConflict) {
				t.Fatalf("deployment %+v, err %v", res.Deployment, err)
			}
			if got := historyOf(t, reader); len(got) != 1 || got[0] != entry(first.Deployment) {
				t.Fatalf("history = %v, want only serial 1", got)
			}

			// The write was stored, only its answer failed: recorded.
			store.putLands = true
			v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}))
			res, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
			if err != nil || res.Deployment == nil || res.Deployment.Serial != 2 {
				t.Fatalf("a state write that landed: err %v, deployment %+v; want serial 2 recorded", err, res.Deployment)
			}
			if got := historyOf(t, reader); len(got) != 2 || got[0] != entry(res.Deployment) || stateOf(t, reader).LastDeployment.ID != res.Deployment.ID {
				t.Fatalf("history = %v, want the landed run's record first, matching state", got)
			}
		})
	}
}

// TestRunRecordsNothingAfterTheLeaseCouldBeTaken: the writes that record
// a deployment stop when the run's lock lease could be taken by another
// run (RecordWithin): a state write still hanging then is given up and the
// history record withdrawn (that withdrawal has its own time: it changes
// only this run's record); past that time no write starts. Before, the
// writes had 30 s whatever the lease, and landed after another run could
// hold the lock.
func TestRunRecordsNothingAfterTheLeaseCouldBeTaken(t *testing.T) {
	ctx := context.Background()
	d := deployedOnce(t, backends[0].location(t))
	store, rt, reader, first := d.store, d.rt, d.reader, d.first
	v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}))

	store.putHangs = true
	left := 300 * time.Millisecond
	rt.RecordWithin = func() (time.Duration, bool) { return left, true }
	start := time.Now()
	_, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
	wantAll(t, err, "the apply of shop/dev (serial 2, succeeded) was not recorded: write state: context deadline exceeded: stopped because its lock lease on shop/dev was not renewed in time",
		"may be taken by another run from ",
		"the history record it had written was withdrawn",
		"the engine did run, so resources may have changed")
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the run took %s: its writes were not stopped when the lease could be taken", took)
	}
	if got := historyOf(t, reader); len(got) != 1 || got[0] != entry(first.Deployment) {
		t.Fatalf("history = %v, want only serial 1", got)
	}

	// Past that time, nothing is written at all.
	store.putHangs = false
	left = -time.Second
	_, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
	wantAll(t, err, "the apply of shop/dev (serial 2, succeeded) was not recorded: its lock lease on shop/dev was not renewed in time",
		"nothing was written to its state or history")
	if got := historyOf(t, reader); len(got) != 1 || stateOf(t, reader).Serial != 1 {
		t.Fatalf("history = %v, state serial %d; want only serial 1", got, stateOf(t, reader).Serial)
	}
}

// TestRunHistoryWriteFails: a history record that cannot be written (the
// server went away during the run, a read-only folder) leaves state and
// history as they were, and the error says the deployment was not
// recorded, whether resources may have changed, and what to do next.
func TestRunHistoryWriteFails(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			d := deployedOnce(t, b.location(t))
			store, eng, rt, reader, v1, first := d.store, d.eng, d.rt, d.reader, d.v1, d.first
			store.appendErr = errors.New("write history record s3://b/k: cannot reach the S3 endpoint")
			unchanged := func() {
				t.Helper()
				if got := historyOf(t, reader); len(got) != 1 || got[0] != entry(first.Deployment) {
					t.Fatalf("history = %v, want only serial 1", got)
				}
				if st := stateOf(t, reader); st.Serial != 1 || st.LastDeployment.ID != first.Deployment.ID {
					t.Fatalf("state serial %d, want serial 1 as it was", st.Serial)
				}
			}

			// The engine ran and changed resources.
			v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}))
			res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
			wantAll(t, err, "the apply of shop/dev (serial 2, succeeded) was not recorded: write its history record: write history record s3://b/k: cannot reach the S3 endpoint",
				"nothing was written to its state or history",
				"the engine did run, so resources may have changed: see panka status --stack shop, then re-run")
			if res.Deployment != nil || eng.ups != 2 {
				t.Fatalf("deployment %+v, engine runs %d; want nothing recorded after the second engine run", res.Deployment, eng.ups)
			}
			unchanged()

			// The engine failed too: both are said.
			eng.upErr = errors.New("pulumi up failed: save snapshot: connection refused")
			_, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
			wantAll(t, err, "pulumi up failed: save snapshot: connection refused",
				"the apply of shop/dev (serial 2, failed) was not recorded: write its history record",
				"the engine did run, so resources may have changed")
			unchanged()

			// Nothing to change: the engine did not run.
			eng.upErr = nil
			_, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1})
			wantAll(t, err, "the apply of shop/dev (serial 2, succeeded) was not recorded",
				"the engine did not run (nothing to change), so no resources changed")
			unchanged()

			// A destroy is re-run as a destroy: "the next apply ...
			// reconciles them" sent the user to deploy it all again.
			_, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true})
			wantAll(t, err, "the destroy of shop/dev (serial 2, succeeded) was not recorded: write its history record",
				"the engine did run, so resources may have been deleted: see panka status --stack shop, then re-run the destroy: it plans against the recorded state, deletes what is left and records it")
			if strings.Contains(err.Error(), "the next apply") {
				t.Fatalf("a destroy that was not recorded sends the user to apply: %v", err)
			}
			unchanged()
		})
	}
}

// TestRunAfterStateLost: a state.json deleted while history remains (by
// hand, a bucket lifecycle rule) refuses the deployment before the plan
// (it only warned, and planned every component as a create beside what
// still runs), naming the newest record and the restore; with
// AllowLostState it is said before the plan, and the deployment continues
// the history's serials: two records with one serial would make rollback
// --to-version pick either.
func TestRunAfterStateLost(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			open := b.location(t)
			c := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
			store := open()
			var logs []string
			eng := &fakeEngine{}
			rt := runtimeOn(store, eng, c, "alice@example.com", "lock-a")
			rt.Warnf = func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
			v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
			v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}))
			for _, v := range []*stacks.Resolved{v1, v2} {
				if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v, Source: Source{Commit: strings.Repeat("c", 40)}}); err != nil {
					t.Fatal(err)
				}
			}
			_, version, err := store.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Delete(ctx, key, version); err != nil {
				t.Fatal(err)
			}
			logs = nil
			ups := eng.ups
			_, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
			wantAll(t, err, "shop/dev has no state, but its history records deployments up to serial 2 (apply of commit cccccccccccc by alice@example.com, succeeded, at 2026-11-25T12:00:04Z): "+
				"its state.json was deleted or lost, so this apply would plan as if nothing were deployed and create every component again while what was deployed may still run. Nothing was changed. "+
				"Restore state.json (an earlier object version where the S3 bucket keeps them, a backup of .panka/state for the local backend, or `panka state push --force FILE` with a copy) and run it again; "+
				"when what was deployed is really gone, pass --allow-lost-state to apply anew (recorded as serial 3)")
			if h, _ := store.History(ctx, key, 0, 0); len(h) != 2 || eng.ups != ups || len(logs) != 0 {
				t.Fatalf("apply refused after state loss: %d records (want 2), %d engine runs (want none), warnings %q", len(h), eng.ups-ups, logs)
			}
			if _, _, err := store.Get(ctx, key); !errors.Is(err, statestore.ErrNotFound) {
				t.Fatalf("apply refused after state loss wrote a state: %v", err)
			}
			res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2, AllowLostState: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Deployment.Serial != 3 || stateOf(t, store).Serial != 3 || stateOf(t, store).LastSuccessful.Serial != 3 {
				t.Fatalf("serial %d, state serial %d; want 3, after the history's 2", res.Deployment.Serial, stateOf(t, store).Serial)
			}
			serials := map[int64]int{}
			h, err := store.History(ctx, key, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range h {
				if serials[d.Serial]++; serials[d.Serial] > 1 {
					t.Errorf("two history records with serial %d", d.Serial)
				}
			}
			want := "shop/dev has no state, but its history records deployments up to serial 2 (apply of commit cccccccccccc by alice@example.com, succeeded): " +
				"its state.json was deleted or lost, so this apply plans as if nothing were deployed and records serial 3"
			if len(logs) == 0 || !strings.Contains(logs[0], want) || !strings.Contains(logs[0], "panka state push --force FILE") {
				t.Errorf("logs %q\nwant the first to contain %q and the repair", logs, want)
			}

			// destroy with state.json lost again: refused (what was deployed
			// may still exist), not "nothing to destroy", and nothing written.
			_, version, err = store.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Delete(ctx, key, version); err != nil {
				t.Fatal(err)
			}
			logs = nil
			_, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true})
			wantAll(t, err, "shop/dev has no state, but its history records deployments up to serial 3 (apply of commit",
				"so what was deployed may still exist. Restore state.json first", "panka state push --force FILE", "nothing was changed")
			if strings.Contains(err.Error(), "nothing to destroy") || len(logs) != 0 {
				t.Errorf("destroy after state loss: %v, warnings %q", err, logs)
			}
			if h, _ := store.History(ctx, key, 0, 0); len(h) != 3 {
				t.Errorf("destroy after state loss wrote history: %d records, want 3", len(h))
			}
		})
	}
}

// TestRunRecordsOneRecordPerDeployment: on the normal path every
// deployment (apply, no-op apply, failure, rollback, destroy) adds exactly
// one record, newest first, matching the state it wrote.
func TestRunRecordsOneRecordPerDeployment(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			open := b.location(t)
			c := &clock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
			eng := &fakeEngine{}
			rt := runtimeOn(open(), eng, c, "alice@example.com", "lock-1")
			reader := open()
			v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
			v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(90)}))
			steps := []struct {
				op      string
				desired *stacks.Resolved
				upErr   error
			}{
				{statestore.OpApply, v1, nil},
				{statestore.OpApply, v1, nil}, // no changes: engine skipped, still recorded
				{statestore.OpApply, v2, errors.New("provider exploded")},
				{statestore.OpRollback, v1, nil},
				{statestore.OpDestroy, nil, nil},
			}
			var want []string
			for i, s := range steps {
				eng.upErr = s.upErr
				res, err := Run(ctx, rt, Request{Key: key, Operation: s.op, Desired: s.desired, AllowDestroy: true})
				if (err != nil) != (s.upErr != nil) {
					t.Fatalf("step %d (%s): %v", i, s.op, err)
				}
				want = append([]string{entry(res.Deployment)}, want...)
				got := historyOf(t, reader)
				st := stateOf(t, reader)
				if strings.Join(got, " ") != strings.Join(want, " ") || st.Serial != int64(i+1) || got[0] != entry(st.LastDeployment) {
					t.Fatalf("step %d (%s): history %v, state serial %d last %s; want %v", i, s.op, got, st.Serial, entry(st.LastDeployment), want)
				}
			}
		})
	}
}

// TestRunAfterKilledBetweenHistoryAndState: a run killed after writing its
// history record and before writing state (SIGKILL, a dying CI runner)
// leaves history one serial ahead of the state. The next deployment says
// so before the plan and numbers after that record: numbering after the
// state gave two records one serial, so rollback --to-version picked
// either.
func TestRunAfterKilledBetweenHistoryAndState(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			d := deployedOnce(t, b.location(t))
			store, rt, reader := d.store, d.rt, d.reader
			var logs []string
			rt.Warnf = func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }

			// The killed run: its record is written, its state write and
			// the withdrawal of its record never happen. It ran on a
			// machine whose clock is 3 hours behind: its record is named
			// before the state's deployment, and still found.
			store.putErr = errors.New("killed")
			store.removeErr = errors.New("killed")
			rt.Now = func() time.Time { return time.Now().Add(-3 * time.Hour) }
			v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}))
			if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2, Source: Source{Commit: strings.Repeat("b", 40)}}); err == nil {
				t.Fatal("the killed run reported no error")
			}
			store.putErr, store.removeErr = nil, nil
			rt.Now = nil
			if h := historyOf(t, reader); len(h) != 2 || stateOf(t, reader).Serial != 1 {
				t.Fatalf("after the killed run: history %v, state serial %d; want 2 records, state at 1", h, stateOf(t, reader).Serial)
			}

			logs = nil
			v3 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(90)}))
			res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v3})
			if err != nil {
				t.Fatal(err)
			}
			if res.Deployment.Serial != 3 || stateOf(t, reader).Serial != 3 {
				t.Fatalf("serial %d, state serial %d; want 3, after the killed run's record 2", res.Deployment.Serial, stateOf(t, reader).Serial)
			}
			h, err := reader.History(ctx, key, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[int64]bool{}
			for _, r := range h {
				if seen[r.Serial] {
					t.Errorf("two history records with serial %d", r.Serial)
				}
				seen[r.Serial] = true
			}
			want := "the history of shop/dev records serial 2 (apply of commit bbbbbbbbbbbb by alice@example.com, succeeded), newer than its state (serial 1): " +
				"the run that wrote it stopped before recording its state"
			if len(logs) != 1 || !strings.Contains(logs[0], want) || !strings.Contains(logs[0], "This apply plans against the state and records serial 3") {
				t.Errorf("warnings %q\nwant one containing %q", logs, want)
			}

			// Once state has caught up, nothing more is said.
			logs = nil
			if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v3}); err != nil || len(logs) != 0 {
				t.Errorf("next run: %v, warnings %q", err, logs)
			}
		})
	}
}

// TestRunHistoryUnreadable: a run that cannot read the newest records of
// its history (one that no longer decodes, one a newer panka wrote, a
// listing the server refuses) stops before planning, and says which and
// what to do: it numbers its record after the newest one, and numbering
// after the state instead gave two deployments one serial. The same with
// state.json lost, where it would have numbered from 1.
func TestRunHistoryUnreadable(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			d := deployedOnce(t, b.location(t))
			bad := errors.New("history record stacks/shop/dev/history/20261125T120000.000000000Z-000000000002.json: invalid character 'x'")
			d.store.historyErr = bad
			v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}))
			engineRuns := d.eng.ups
			_, err := Run(ctx, d.rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
			if err == nil || !errors.Is(err, bad) || !strings.Contains(err.Error(), "newer than its state (serial 1)") ||
				!strings.Contains(err.Error(), "stops here, before planning") {
				t.Fatalf("apply with an unreadable history: %v", err)
			}
			if d.eng.ups != engineRuns {
				t.Error("the engine ran")
			}
			if h := historyOf(t, d.reader); len(h) != 1 || stateOf(t, d.reader).Serial != 1 {
				t.Fatalf("after the refused run: history %v, state serial %d; want 1 record, state at 1", h, stateOf(t, d.reader).Serial)
			}

			// state.json lost as well.
			_, ver, err := d.reader.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.reader.Delete(ctx, key, ver); err != nil {
				t.Fatal(err)
			}
			if _, err := Run(ctx, d.rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2}); err == nil || !errors.Is(err, bad) ||
				!strings.Contains(err.Error(), "read the history of shop/dev:") {
				t.Fatalf("apply with no state and an unreadable history: %v", err)
			}

			// The newest record damaged (truncated, by hand): its name
			// says serial 2. The refusal names both the lost state.json
			// and the record (it named only the record, so restoring the
			// record alone led to the next refusal), and the way out.
			rec := statestore.UnreadableRecord{Name: "20261125T130000.000000000Z-000000000002.json", Location: "H/20261125T130000.000000000Z-000000000002.json", Serial: 2,
				Err: fmt.Errorf("history record H/20261125T130000.000000000Z-000000000002.json is not valid JSON: %w", statestore.ErrCorrupt)}
			d.store.historyErr = &statestore.UnreadableError{Key: key, Records: []statestore.UnreadableRecord{rec}}
			_, err = Run(ctx, d.rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
			wantAll(t, err, "shop/dev has no state: state.json is missing, but the history of shop/dev holds records up to serial 2, whose record cannot be read (history record H/20261125T130000.000000000Z-000000000002.json is not valid JSON: corrupt state): "+
				"state.json was deleted or lost, so what was deployed may still run. Restore it (an earlier object version where the S3 bucket keeps them, a backup of .panka/state for the local backend, or `panka state push --force FILE` with a copy, which is numbered after that record). "+
				"Nothing was changed. When what was deployed is really gone, pass --allow-lost-state to apply as if nothing were deployed (recorded as serial 3)")
			_, err = Run(ctx, d.rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true, AllowLostState: true})
			wantAll(t, err, "shop/dev has no state: state.json is missing, but the history of shop/dev holds records up to serial 2, whose record cannot be read", "; then destroy. Nothing was changed")
			if d.eng.ups != engineRuns || d.eng.destroys != 0 {
				t.Error("the engine ran")
			}
			var warned []string
			d.rt.Warnf = func(format string, args ...any) { warned = append(warned, fmt.Sprintf(format, args...)) }
			res, err := Run(ctx, d.rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2, AllowLostState: true})
			if err != nil || res.Deployment.Serial != 3 {
				t.Fatalf("--allow-lost-state with the newest record damaged: %v (serial %v), want serial 3, after the record named 2", err, res)
			}
			if len(warned) == 0 || !strings.Contains(warned[0], "whose record cannot be read") || !strings.Contains(warned[0], "this apply plans as if nothing were deployed (--allow-lost-state) and records serial 3") {
				t.Errorf("warnings %q", warned)
			}
		})
	}
}
