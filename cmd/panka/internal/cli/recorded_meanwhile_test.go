package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
)

// firstGetStale is a state store whose first Get answers what the state
// was before a run recorded (first; nil: no state yet), as a read made
// just before that run's record does; later reads see the store.
type firstGetStale struct {
	statestore.Store
	first *statestore.State
	done  bool
	// historyLater: the first History lists nothing (read before the
	// run wrote its record).
	historyLater, listed bool
}

func (s *firstGetStale) History(ctx context.Context, key statestore.Key, offset, limit int) ([]*statestore.Deployment, error) {
	if s.historyLater && !s.listed {
		s.listed = true
		return nil, nil
	}
	return s.Store.History(ctx, key, offset, limit)
}

func (s *firstGetStale) Get(ctx context.Context, key statestore.Key) (*statestore.State, statestore.Version, error) {
	if !s.done {
		s.done = true
		if s.first == nil {
			return nil, "", statestore.ErrNotFound
		}
		return s.first, "stale", nil
	}
	return s.Store.Get(ctx, key)
}

// recordedMeanwhile sets up shop/dev as an apply that ran while plan or
// status read the state leaves it: the engine's checkpoint and state
// serial 2 recorded by that apply, its lease released. It returns the
// factory and the state as it was before that apply (serial 1, recording
// the checkpoint before).
func recordedMeanwhile(t *testing.T) (f *Factory, out, errOut *bytes.Buffer, store statestore.Store, stale *statestore.State) {
	t.Helper()
	r := &planRepo{Repo: gittest.New(t), t: t}
	r.WriteFile("stacks/shop/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: shop\nspec:\n  provider:\n    name: local\n")
	r.WriteFile("stacks/shop/environments/dev.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec: {}\n")
	r.WriteFile("stacks/shop/infra/queue.yaml", "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: jobs\nspec: {}\n")
	r.Git("add", "-A")
	r.Commit("jobs")
	r.deploy("shop", "stacks/shop", "dev", 1, nil)

	pdir := filepath.Join(r.Dir, ".panka", "state", "stacks", "shop", "dev", "pulumi")
	name := engine.StackName("shop", "dev")
	checkpoint := filepath.Join(pdir, filepath.FromSlash(engine.CheckpointPath(name)))
	write := func(p, content string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(content))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	write(filepath.Join(pdir, filepath.FromSlash(engine.HistoryPath(name)), "shop-dev-1.history.json"), "{}")
	ls, err := local.New(local.Options{Dir: filepath.Join(r.Dir, ".panka")})
	if err != nil {
		t.Fatal(err)
	}
	store = ls
	ctx := context.Background()
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	st, version, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	st.EngineState = write(checkpoint, `{"version": 1}`)
	if version, err = store.Put(ctx, key, st, version); err != nil {
		t.Fatal(err)
	}
	prev := *st
	stale = &prev

	// The apply: its engine writes the checkpoint, then it records.
	next := *st
	rec := *st.LastDeployment
	rec.ID, rec.Serial, rec.User = "d2", 2, "bob"
	next.Serial, next.LastDeployment = 2, &rec
	next.EngineState = write(checkpoint, `{"version": 2}`)
	if _, err := store.Put(ctx, key, &next, version); err != nil {
		t.Fatal(err)
	}

	ios, _, out, errOut := Test()
	f = NewFactory(ios)
	f.Getwd = func() (string, error) { return r.Dir, nil }
	f.Home = func() (string, error) { return r.Dir + "/.home", nil }
	env := r.env()
	f.Environ = func() []string { return env }
	f.Now = func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }
	return f, out, errOut, store, stale
}

// TestPlanRecordedMeanwhileIsNotUnrecorded: a plan that read the state
// just before an apply recorded, and asked for its lease after that apply
// released it, found the engine's state newer than the state it read and
// the lease free, and warned that a run "recorded nothing (killed, ...)":
// a plan run in a loop while a CI fleet deploys said so a few times a
// minute. It says the state changed while it ran instead.
func TestPlanRecordedMeanwhileIsNotUnrecorded(t *testing.T) {
	f, _, stderr, store, before := recordedMeanwhile(t)
	open := func(context.Context, *config.Resolved) (statestore.Store, error) {
		return &firstGetStale{Store: store, first: before}, nil
	}
	err := planRun(context.Background(), &PlanOptions{F: f, OpenStore: open, Stack: "shop", Environment: "dev"})
	errOut := stderr.String()
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, errOut)
	}
	if strings.Contains(errOut, "recorded nothing") {
		t.Errorf("plan calls an apply that recorded while it ran one that recorded nothing:\n%s", errOut)
	}
	if want := "the state of shop/dev changed while this plan ran (serial 1 to serial 2, by the apply of commit "; !strings.Contains(errOut, want) ||
		!strings.Contains(errOut, "by bob): this plan compares with serial 1; run panka plan again") {
		t.Errorf("plan does not say the state changed while it ran (want %q):\n%s", want, errOut)
	}

	// A first deployment: nothing recorded when the plan read the state
	// and the history; it said that deployment "was not recorded".
	stderr.Reset()
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	if err := store.AppendHistory(context.Background(), key, before.LastDeployment); err != nil {
		t.Fatal(err)
	}
	open = func(context.Context, *config.Resolved) (statestore.Store, error) {
		return &firstGetStale{Store: store, historyLater: true}, nil
	}
	if err := planRun(context.Background(), &PlanOptions{F: f, OpenStore: open, Stack: "shop", Environment: "dev"}); err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr)
	}
	errOut = stderr.String()
	if strings.Contains(errOut, "not recorded") || !strings.Contains(errOut, "the state of shop/dev changed while this plan ran (no state to serial 2, by the apply of commit ") ||
		!strings.Contains(errOut, "this plan compares with no state; run panka plan again") {
		t.Errorf("plan of a first deployment that recorded while it ran:\n%s", errOut)
	}

	// Read after the record, the plan has nothing to say about it.
	stderr.Reset()
	open = func(context.Context, *config.Resolved) (statestore.Store, error) { return store, nil }
	if err := planRun(context.Background(), &PlanOptions{F: f, OpenStore: open, Stack: "shop", Environment: "dev"}); err != nil {
		t.Fatal(err)
	}
	if errOut := stderr.String(); strings.Contains(errOut, "shop/dev") {
		t.Errorf("plan after the record warns:\n%s", errOut)
	}
}

// TestStatusRecordedMeanwhileIsNotUnrecorded: status read the state
// before an apply recorded and the lock after it released, and said the
// engine's state "was written after the last recorded deployment"; read
// between a first deployment's history record and its state, it said the
// state was missing. It shows what that apply recorded.
func TestStatusRecordedMeanwhileIsNotUnrecorded(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(before *statestore.State) *statestore.State
	}{
		{"state read before the record", func(before *statestore.State) *statestore.State { return before }},
		{"first deployment read between history and state", func(*statestore.State) *statestore.State { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, out, _, store, before := recordedMeanwhile(t)
			if tc.first(before) == nil {
				// Its history record written, as every deployment's is
				// before its state.
				if err := store.AppendHistory(context.Background(), statestore.Key{Stack: "shop", Environment: "dev"}, before.LastDeployment); err != nil {
					t.Fatal(err)
				}
			}
			open := func(context.Context, *config.Resolved) (statestore.Store, error) {
				return &firstGetStale{Store: store, first: tc.first(before)}, nil
			}
			f.Flags.Output = "json"
			if err := statusRun(context.Background(), &StatusOptions{F: f, OpenLocker: f.Locker, OpenStore: open, Stack: "shop", Environment: "dev"}); err != nil {
				t.Fatal(err)
			}
			var got StackStatus
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
			if len(got.Environments) != 1 {
				t.Fatalf("status lists %d environments:\n%s", len(got.Environments), out)
			}
			e := got.Environments[0]
			if e.EngineStateChanged || e.Missing != nil || e.Status != "deployed" || e.Serial != 2 {
				t.Errorf("status = %s, serial %d, engineStateChanged %v, missing %v; want deployed, serial 2, what the apply recorded:\n%s",
					e.Status, e.Serial, e.EngineStateChanged, e.Missing != nil, out)
			}
		})
	}
}

// TestUnrecordedStaysUnrecordedWhenStateMoved: a state written while plan
// or status read it (a drift check recording, which keeps the engine's
// state token) does not hide an engine state that no run recorded: they
// compare the engine's state with the state read again.
func TestUnrecordedStaysUnrecordedWhenStateMoved(t *testing.T) {
	f, out, stderr, store, before := recordedMeanwhile(t)
	ctx := context.Background()
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	st, version, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	// The checkpoint stays as the unrecorded run left it; the state goes
	// on recording the one before.
	st.Serial, st.EngineState = 3, before.EngineState
	if _, err := store.Put(ctx, key, st, version); err != nil {
		t.Fatal(err)
	}
	open := func(context.Context, *config.Resolved) (statestore.Store, error) {
		return &firstGetStale{Store: store, first: before}, nil
	}
	if err := planRun(ctx, &PlanOptions{F: f, OpenStore: open, Stack: "shop", Environment: "dev"}); err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr)
	}
	if errOut := stderr.String(); !strings.Contains(errOut, "by a run that recorded nothing") || strings.Contains(errOut, "changed while this plan ran") {
		t.Errorf("plan does not say the engine's state was written by a run that recorded nothing:\n%s", errOut)
	}

	out.Reset()
	open = func(context.Context, *config.Resolved) (statestore.Store, error) {
		return &firstGetStale{Store: store, first: before}, nil
	}
	f.Flags.Output = "json"
	if err := statusRun(ctx, &StatusOptions{F: f, OpenLocker: f.Locker, OpenStore: open, Stack: "shop", Environment: "dev"}); err != nil {
		t.Fatal(err)
	}
	var got StackStatus
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if e := got.Environments[0]; !e.EngineStateChanged || e.Serial != 3 {
		t.Errorf("status: serial %d, engineStateChanged %v; want serial 3, true:\n%s", e.Serial, e.EngineStateChanged, out)
	}
}
