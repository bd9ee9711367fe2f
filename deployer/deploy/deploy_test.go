package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/locker"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
)

// fakeEngine records calls and returns canned results; the real engine is
// exercised end to end by the CLI tests.
type fakeEngine struct {
	upErr     error
	outputs   map[string]engine.Output
	ups       int
	destroys  int
	recovered *engine.Recovery
	onUp      func()
	calls     []string // "refresh", "up", "destroy" in order
	changes   map[string]int
	rootOp    string
	// destroyChanges is Destroy's summary; destroySummarized says a
	// failing onDestroy sends it too.
	destroyChanges    map[string]int
	destroySummarized bool
	// recover, when set, is RecoverStale's behaviour.
	recover func(ctx context.Context) (*engine.Recovery, error)
	// onDestroy, when set, runs in Destroy, which then fails with its error.
	onDestroy func() error
}

func (e *fakeEngine) RecoverStale(ctx context.Context) (*engine.Recovery, error) {
	if e.recover != nil {
		return e.recover(ctx)
	}
	return e.recovered, nil
}

func (e *fakeEngine) Up(ctx context.Context, _ func(engine.Event)) (*engine.Result, error) {
	e.ups++
	e.calls = append(e.calls, "up")
	if e.onUp != nil {
		e.onUp()
	}
	if e.upErr != nil {
		if e.changes != nil {
			// The summary of the failed update: what it did before it stopped.
			return &engine.Result{Changes: e.changes, RootOp: e.rootOp}, e.upErr
		}
		return nil, e.upErr
	}
	return &engine.Result{Outputs: e.outputs, Changes: e.changes, RootOp: e.rootOp}, nil
}

func (e *fakeEngine) Destroy(context.Context, func(engine.Event)) (*engine.Result, error) {
	e.destroys++
	e.calls = append(e.calls, "destroy")
	if e.onDestroy != nil {
		if err := e.onDestroy(); err != nil {
			if e.destroySummarized {
				// The engine's summary of the failed destroy.
				return &engine.Result{Changes: e.destroyChanges, Summarized: true, RootOp: "same"}, err
			}
			return nil, err
		}
	}
	return &engine.Result{Changes: e.destroyChanges, RootOp: "delete"}, nil
}

func (e *fakeEngine) Refresh(context.Context, func(engine.Event)) (*engine.Result, error) {
	e.calls = append(e.calls, "refresh")
	return &engine.Result{}, nil
}

func model(comps ...stacks.Component) *stacks.Resolved {
	return &stacks.Resolved{Stack: "shop", Environment: "dev", Provider: stacks.Provider{Name: "local"}, Components: comps}
}

func comp(name string, kind stacks.Kind, spec map[string]any, deps ...string) stacks.Component {
	return stacks.Component{Name: name, Kind: kind, Spec: spec, DependsOn: deps}
}

func newRuntime(t *testing.T, eng *fakeEngine) (Runtime, statestore.Store) {
	t.Helper()
	store, err := local.New(local.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return Runtime{
		Store:     store,
		NewEngine: func(context.Context, *stacks.Resolved, *stacks.Resolved) (Engine, error) { return eng, nil },
		User:      "alice@example.com", Host: "laptop", PankaVersion: "test", LockID: "lock-1",
		Now: func() time.Time { now = now.Add(time.Second); return now },
	}, store
}

var key = statestore.Key{Stack: "shop", Environment: "dev"}

func TestRunRecordsDeployments(t *testing.T) {
	eng := &fakeEngine{outputs: map[string]engine.Output{
		"jobs.url":   {Value: "local://shop/dev/jobs"},
		"db.address": {Value: "db.dev.shop.local", Secret: true},
	}}
	rt, store := newRuntime(t, eng)
	ctx := context.Background()
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}), comp("db", stacks.KindDatabase, map[string]any{"engine": "postgres"}))

	res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1, Source: Source{Commit: strings.Repeat("a", 40)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deployment.Serial != 1 || res.Deployment.Result != statestore.ResultSucceeded || eng.ups != 1 {
		t.Fatalf("first apply: serial %d result %s ups %d", res.Deployment.Serial, res.Deployment.Result, eng.ups)
	}
	st, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != statestore.StatusDeployed || st.LastSuccessful.Commit != strings.Repeat("a", 40) {
		t.Errorf("state after apply: %+v", st)
	}
	if got := st.Outputs["jobs"]["url"]; got != "local://shop/dev/jobs" {
		t.Errorf("queue url output = %v", got)
	}
	if got, _ := st.Outputs["db"]["address"].(string); !stacks.IsSensitive(got) || strings.Contains(got, "db.dev") {
		t.Errorf("secret output stored as %q, want a keyed hash", got)
	}

	// Same model, new commit: nothing to change, the engine is not run, the
	// new commit is recorded.
	res, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1, Source: Source{Commit: strings.Repeat("b", 40)}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.EngineSkipped || eng.ups != 1 || res.Deployment.Serial != 2 {
		t.Errorf("no-op apply: skipped=%v ups=%d serial=%d", res.EngineSkipped, eng.ups, res.Deployment.Serial)
	}

	// A failing engine leaves state failed with the previous spec, and history
	// records the failure.
	eng.upErr = errors.New("provider exploded")
	v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}), comp("db", stacks.KindDatabase, map[string]any{"engine": "postgres"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2}); err == nil || !strings.Contains(err.Error(), "provider exploded") {
		t.Fatalf("err = %v, want the engine's error", err)
	}
	st, _, _ = store.Get(ctx, key)
	if st.Status != statestore.StatusFailed || st.Serial != 3 || st.LastSuccessful.Serial != 2 {
		t.Errorf("state after failure: status %s serial %d lastSuccessful %d", st.Status, st.Serial, st.LastSuccessful.Serial)
	}
	deployed, _ := planner.DecodeModel(st.Spec)
	if p := planner.Plan(v1, deployed, planner.Options{}); p.HasChanges() {
		t.Errorf("state spec after a failed run should still be the last deployed one")
	}
	hist, err := store.History(ctx, key, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 || hist[0].Result != statestore.ResultFailed || hist[0].Error == "" {
		t.Fatalf("history = %d records, newest %+v", len(hist), hist[0])
	}

	// The next run recovers.
	eng.upErr = nil
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2}); err != nil {
		t.Fatal(err)
	}
	st, _, _ = store.Get(ctx, key)
	if st.Status != statestore.StatusDeployed || st.Serial != 4 {
		t.Errorf("recovery: status %s serial %d", st.Status, st.Serial)
	}
}

// TestRunSecretOutputsHashedPerEnvironment: the same secret output value
// in two environments (or stacks) is recorded with different keyed hashes,
// as the spec's secrets are (stacks.HashSensitiveAt), so a reader of the
// state or history cannot tell that a secret is reused.
func TestRunSecretOutputsHashedPerEnvironment(t *testing.T) {
	secret := []byte("k")
	hashes := map[string]string{}
	for _, k := range []statestore.Key{{Stack: "shop", Environment: "dev"}, {Stack: "shop", Environment: "production"}, {Stack: "cart", Environment: "dev"}} {
		eng := &fakeEngine{outputs: map[string]engine.Output{"db.address": {Value: "db.internal", Secret: true}}}
		rt, store := newRuntime(t, eng)
		rt.SecretKey = secret
		m := model(comp("db", stacks.KindDatabase, map[string]any{"engine": "postgres"}))
		m.Stack, m.Environment = k.Stack, k.Environment
		ctx := context.Background()
		if _, err := Run(ctx, rt, Request{Key: k, Operation: statestore.OpApply, Desired: m}); err != nil {
			t.Fatal(err)
		}
		st, _, err := store.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := st.Outputs["db"]["address"].(string)
		if want := stacks.HashSensitiveAt(secret, k.Stack, k.Environment, "db.address", `"db.internal"`).Hash; got != want {
			t.Errorf("%s: secret output stored as %q, want %q", k, got, want)
		}
		hist, err := store.History(ctx, k, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if rec, _ := hist[0].Outputs["db"]["address"].(string); rec != got {
			t.Errorf("%s: history records the output as %q, state as %q", k, rec, got)
		}
		for other, h := range hashes {
			if h == got {
				t.Errorf("%s and %s record the same hash for the same secret output", other, k)
			}
		}
		hashes[k.String()] = got
	}
}

// TestRunCountsResources: state records how many resources the engine
// manages (its summary, deletions left out), kept when the engine is
// skipped.
func TestRunCountsResources(t *testing.T) {
	eng := &fakeEngine{changes: map[string]int{"create": 3, "same": 1}}
	rt, store := newRuntime(t, eng)
	ctx := context.Background()
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}), comp("mail", stacks.KindQueue, map[string]any{"fifo": true}))
	v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
	for i, step := range []struct {
		desired *stacks.Resolved
		changes map[string]int
		want    int
	}{
		{v1, map[string]int{"create": 3, "same": 1}, 4},
		{v1, nil, 4}, // nothing to change: the engine is skipped
		{v2, map[string]int{"same": 3, "delete": 1}, 3},
	} {
		eng.changes = step.changes
		if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: step.desired, AllowDestroy: true}); err != nil {
			t.Fatal(err)
		}
		st, _, err := store.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if st.Resources.Resources != step.want || st.Resources.Components != len(step.desired.Components) {
			t.Errorf("step %d: resources %+v, want %d resources", i, st.Resources, step.want)
		}
	}
}

// TestRunRecordsEngineChanges: the created/updated/replaced/deleted counts
// recorded are what the engine's summary says it did (its root stack
// resource left out), not what the plan expected, also for a run that
// failed part way; the plan's only when the engine says nothing (a run
// that stopped before its summary).
func TestRunRecordsEngineChanges(t *testing.T) {
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	ctx := context.Background()
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}), comp("mail", stacks.KindQueue, map[string]any{"fifo": true}))
	v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}), comp("mail", stacks.KindQueue, map[string]any{"fifo": true}))
	v3 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(90)}), comp("mail", stacks.KindQueue, map[string]any{"fifo": true}))
	for _, step := range []struct {
		name    string
		desired *stacks.Resolved
		changes map[string]int
		rootOp  string
		upErr   error
		want    statestore.ChangeSummary
		from    string
	}{
		// The plan creates 2 components; the engine created them and a
		// child resource of one, and the stack's root resource.
		{"first apply", v1, map[string]int{"create": 4}, "create", nil, statestore.ChangeSummary{Create: 3}, statestore.ChangesFromEngine},
		// The plan updates jobs; the engine failed: no summary.
		{"failed", v2, nil, "", errors.New("provider exploded"), statestore.ChangeSummary{Update: 1}, statestore.ChangesFromPlan},
		// The plan updates jobs; the engine failed, and its summary says
		// it changed nothing before it stopped.
		{"failed, nothing done", v2, map[string]int{"same": 2}, "same", errors.New("provider exploded"), statestore.ChangeSummary{}, statestore.ChangesFromEngine},
		// The plan updates jobs; the engine replaced it (say, a provider
		// that cannot update that field in place).
		{"replaced", v3, map[string]int{"replace": 1, "same": 3}, "same", nil, statestore.ChangeSummary{Replace: 1}, statestore.ChangesFromEngine},
		// The plan creates two; the engine created one before the other
		// failed.
		{"failed part way", model(append(slices.Clone(v3.Components), comp("a", stacks.KindQueue, map[string]any{}), comp("b", stacks.KindQueue, map[string]any{}))...),
			map[string]int{"create": 1, "same": 3}, "same", errors.New("provider exploded"), statestore.ChangeSummary{Create: 1}, statestore.ChangesFromEngine},
	} {
		eng.changes, eng.rootOp, eng.upErr = step.changes, step.rootOp, step.upErr
		res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: step.desired})
		if (err != nil) != (step.upErr != nil) {
			t.Fatalf("%s: %v", step.name, err)
		}
		if res == nil || res.Deployment == nil {
			t.Fatalf("%s: nothing recorded (err %v)", step.name, err)
		}
		if got := res.Deployment.Changes; got == nil || *got != step.want {
			t.Errorf("%s: deployment changes %+v, want %+v", step.name, got, step.want)
		}
		hist, err := store.History(ctx, key, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := hist[0].Changes; got == nil || *got != step.want || hist[0].ChangesFrom != step.from {
			t.Errorf("%s: recorded changes %+v from %q, want %+v from %q", step.name, got, hist[0].ChangesFrom, step.want, step.from)
		}
		st, _, err := store.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.LastDeployment.Changes; got == nil || *got != step.want || st.LastDeployment.ChangesFrom != step.from {
			t.Errorf("%s: state's last deployment changes %+v from %q, want %+v from %q", step.name, got, st.LastDeployment.ChangesFrom, step.want, step.from)
		}
	}
	// A destroy that failed at its first delete: the engine's summary
	// is empty, and the record says nothing was deleted, not the plan's
	// deletes.
	eng.onDestroy, eng.destroySummarized = func() error { return errors.New("cannot delete a") }, true
	res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true})
	if err == nil || res == nil || res.Deployment == nil {
		t.Fatalf("failed destroy: %v, %+v", err, res)
	}
	if got := res.Deployment.Changes; got == nil || *got != (statestore.ChangeSummary{}) || res.Deployment.ChangesFrom != statestore.ChangesFromEngine {
		t.Errorf("failed destroy: deployment changes %+v from %q, want none from the engine", got, res.Deployment.ChangesFrom)
	}
	eng.onDestroy, eng.destroySummarized = nil, false
	eng.destroyChanges = map[string]int{"delete": 4}
	res, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Deployment.Changes, (statestore.ChangeSummary{Delete: 3}); got == nil || *got != want {
		t.Errorf("destroy: deployment changes %+v, want %+v", got, want)
	}
}

func TestRunInterruptedIsRecorded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	eng.upErr = context.Canceled
	eng.onUp = cancel // Ctrl-C while the engine runs
	_, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: model(comp("jobs", stacks.KindQueue, map[string]any{}))})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	st, _, err := store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastDeployment.Result != statestore.ResultInterrupted || st.Status != statestore.StatusFailed {
		t.Errorf("interrupted run recorded as %s/%s", st.LastDeployment.Result, st.Status)
	}
}

// TestRunInterruptedWhileCheckingLeftovers: a Ctrl-C or SIGTERM that
// lands while the engine checks for what a killed run may have left (it
// does so before every run) stops the run as an interruption. Its error
// said "clear what an earlier, killed run left behind: ... interrupted",
// blaming a killed run that never was.
func TestRunInterruptedWhileCheckingLeftovers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eng := &fakeEngine{recover: func(context.Context) (*engine.Recovery, error) {
		cancel()
		return nil, fmt.Errorf("export Pulumi state on stack %q interrupted (Ctrl-C or a stop signal): %w", "shop-dev", context.Canceled)
	}}
	rt, store := newRuntime(t, eng)
	_, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: model(comp("jobs", stacks.KindQueue, map[string]any{}))})
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "killed") || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v, want an interruption that blames no killed run", err)
	}
	if eng.ups != 0 {
		t.Errorf("the engine ran up %d times after the interrupt", eng.ups)
	}
	st, _, err := store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastDeployment.Result != statestore.ResultInterrupted {
		t.Errorf("recorded as %s, want interrupted", st.LastDeployment.Result)
	}
}

// TestRunAfterInterruptedDestroy: a destroy stopped by Ctrl-C or SIGTERM
// after the engine had deleted every resource is recorded as interrupted,
// with the deployed spec kept, while Pulumi's checkpoint is empty. The
// next apply and destroy were both refused ("Pulumi's state ... holds no
// resources ... was lost"), leaving only state rm; the apply creates the
// components again, and the destroy finishes.
func TestRunAfterInterruptedDestroy(t *testing.T) {
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{}), comp("web", stacks.KindWorker, map[string]any{"image": "web:1"}))
	if _, err := Run(context.Background(), rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	eng.onDestroy = func() error {
		cancel() // Ctrl-C once everything is deleted
		return fmt.Errorf("pulumi destroy on stack %q interrupted (Ctrl-C or a stop signal): %w", "shop-dev", context.Canceled)
	}
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted destroy: %v", err)
	}
	eng.onDestroy = nil
	none := 0
	eng.recovered = &engine.Recovery{Resources: &none}
	res, err := Run(context.Background(), rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1})
	if err != nil {
		t.Fatalf("apply after the interrupted destroy: %v", err)
	}
	if eng.ups != 2 || res.Deployment.Result != statestore.ResultSucceeded {
		t.Errorf("apply after the interrupted destroy: ups %d, result %s", eng.ups, res.Deployment.Result)
	}
	// The same for a destroy run again after one that failed.
	eng.recovered = nil
	eng.onDestroy = func() error { return errors.New("provider failed") }
	if _, err := Run(context.Background(), rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true}); err == nil || !strings.Contains(err.Error(), "provider failed") {
		t.Fatalf("failed destroy: %v", err)
	}
	eng.onDestroy = nil
	eng.recovered = &engine.Recovery{Resources: &none}
	if _, err := Run(context.Background(), rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true}); err != nil {
		t.Fatalf("destroy after the failed destroy: %v", err)
	}
	st, _, err := store.Get(context.Background(), key)
	if err != nil || st.Status != statestore.StatusDestroyed {
		t.Fatalf("state after the destroy: %+v, %v", st, err)
	}
	// The engine found nothing left to delete (no summary, no step): the
	// record counts no deletes, not the plan's 2.
	if got := st.LastDeployment.Changes; got == nil || *got != (statestore.ChangeSummary{}) {
		t.Errorf("destroy that deleted nothing records changes %+v, want none", got)
	}
}

func TestDataProtection(t *testing.T) {
	eng := &fakeEngine{}
	rt, _ := newRuntime(t, eng)
	ctx := context.Background()
	v1 := model(comp("db", stacks.KindDatabase, map[string]any{"engine": "postgres"}), comp("api", stacks.KindMicroService, map[string]any{"image": "a"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		desired      *stacks.Resolved
		allowDestroy bool
		allowReplace bool
		want         string
	}{
		{name: "delete database refused", desired: model(comp("api", stacks.KindMicroService, map[string]any{"image": "a"})), want: `refusing to deploy: the plan would delete Database "db"`},
		{name: "replace database refused", desired: model(comp("db", stacks.KindCache, map[string]any{"engine": "postgres"}), comp("api", stacks.KindMicroService, map[string]any{"image": "a"})), want: `would replace Database "db" (kind changed)`},
		{name: "destroy refused", desired: nil, want: `refusing to destroy: the plan would delete Database "db"`},
		{name: "delete allowed", desired: model(comp("api", stacks.KindMicroService, map[string]any{"image": "a"})), allowDestroy: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := eng.ups + eng.destroys
			op := statestore.OpApply
			if tt.desired == nil {
				op = statestore.OpDestroy
			}
			_, err := Run(ctx, rt, Request{Key: key, Operation: op, Desired: tt.desired, AllowDestroy: tt.allowDestroy, AllowReplace: tt.allowReplace})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var pe *ProtectedError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ProtectedError containing %q", err, tt.want)
			}
			if eng.ups+eng.destroys != before {
				t.Errorf("engine ran although the plan was refused")
			}
		})
	}
}

func TestTargeted(t *testing.T) {
	deployed := model(comp("a", stacks.KindQueue, map[string]any{"fifo": false}), comp("b", stacks.KindQueue, map[string]any{"fifo": false}))
	desired := model(comp("a", stacks.KindQueue, map[string]any{"fifo": true}), comp("b", stacks.KindQueue, map[string]any{"fifo": true}), comp("c", stacks.KindBucket, map[string]any{}, "a"))
	got, err := Targeted(desired, deployed, []string{"b"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Component("a").Spec["fifo"] != false || got.Component("b").Spec["fifo"] != true || got.Component("c") != nil {
		t.Errorf("targeted model = %+v", got.Components)
	}
	if _, err := Targeted(desired, nil, []string{"c"}); err == nil || !strings.Contains(err.Error(), "add --target-component a") {
		t.Errorf("missing dependency: err = %v", err)
	}
	if _, err := Targeted(desired, deployed, []string{"nope"}); err == nil || !strings.Contains(err.Error(), "no such component") ||
		!strings.Contains(err.Error(), "(components: a, b, c)") {
		t.Errorf("unknown component: err = %v", err)
	}
	// A near miss says what was meant (qa-cli found none here).
	if _, err := Targeted(desired, deployed, []string{"bb"}); err == nil || !strings.Contains(err.Error(), `(components: a, b, c; did you mean "b"?)`) {
		t.Errorf("near miss: err = %v", err)
	}
}

// TestTargetedKeepsSecretValues: a component kept at its deployed spec
// comes from state, where a secret is its keyed hash. The engine must get
// the secret's value wherever desired still has it (the same hash), not
// the hash as text, which the aws target deployed as the value (an ECS
// environment variable holding "sensitive:hmac-sha256:...").
func TestTargetedKeepsSecretValues(t *testing.T) {
	pw := stacks.HashSensitive([]byte("k"), "PASS", "pre-hunter2")
	deployed := model(comp("api", stacks.KindWorker, map[string]any{"image": "a:1", "env": map[string]any{"PW": pw.Hash}, "args": []any{pw.Hash}}),
		comp("db", stacks.KindDatabase, map[string]any{"storageGB": int64(20)}))
	desired := model(comp("api", stacks.KindWorker, map[string]any{"image": "a:2", "env": map[string]any{"PW": pw}}),
		comp("db", stacks.KindDatabase, map[string]any{"storageGB": int64(30)}))
	got, err := Targeted(desired, deployed, []string{"db"})
	if err != nil {
		t.Fatal(err)
	}
	api := got.Component("api")
	if api.Spec["image"] != "a:1" {
		t.Errorf("api not kept at its deployed spec: %v", api.Spec)
	}
	env := api.Spec["env"].(map[string]any)
	if s, ok := env["PW"].(stacks.Sensitive); !ok || s.Clear != "pre-hunter2" {
		t.Errorf("kept api's secret = %#v, want the sensitive value", env["PW"])
	}
	if s, ok := api.Spec["args"].([]any)[0].(stacks.Sensitive); !ok || s.Clear != "pre-hunter2" {
		t.Errorf("kept api's secret in a list = %#v, want the sensitive value", api.Spec["args"])
	}
	if deployed.Component("api").Spec["env"].(map[string]any)["PW"] != pw.Hash {
		t.Error("the deployed model was changed")
	}
	if got.Hash() == "" || string(got.Canonical()) == "" || !strings.Contains(string(got.Canonical()), pw.Hash) {
		t.Errorf("the kept secret does not encode as its hash: %s", got.Canonical())
	}
}

// TestTargetedKeptSecretChanged: a component kept at its deployed spec
// whose secret changed since (rotated, or no longer in the YAML) cannot be
// deployed unchanged: panka has only the old value's hash. The engine got
// that hash as the value: the aws target deployed it (an ECS environment
// variable "sensitive:hmac-sha256:..."), the local target failed halfway,
// after the targeted components were updated. Refused before the engine,
// naming the component and the field, never a value.
func TestTargetedKeptSecretChanged(t *testing.T) {
	key := []byte("k")
	oldPW := stacks.HashSensitiveAt(key, "shop", "dev", "PW", "old-hunter2")
	newPW := stacks.HashSensitiveAt(key, "shop", "dev", "PW", "new-hunter3")
	gone := stacks.HashSensitiveAt(key, "shop", "dev", "X", "gone-hunter4")
	deployed := model(comp("api", stacks.KindWorker, map[string]any{"env": map[string]any{"PW": oldPW.Hash}}),
		comp("worker", stacks.KindWorker, map[string]any{"env": map[string]any{"PW": oldPW.Hash, "X": gone.Hash}}))
	desired := model(comp("api", stacks.KindWorker, map[string]any{"env": map[string]any{"PW": newPW}}),
		comp("worker", stacks.KindWorker, map[string]any{"env": map[string]any{"PW": newPW}}))
	_, err := Targeted(desired, deployed, []string{"api"})
	want := "--target-component: worker would be kept at its deployed spec, but its secret values at spec.env.PW, spec.env.X changed since it was deployed (or are gone), and state keeps only their hashes, not the values deployed then: add --target-component worker to deploy it with the values given now, or apply without --target-component"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if strings.Contains(err.Error(), "hunter") {
		t.Errorf("a secret value is printed: %v", err)
	}
	if _, err := Targeted(desired, deployed, []string{"api", "worker"}); err != nil {
		t.Errorf("both targeted: %v", err)
	}
}

// TestTargetedKeepsLegacySecretValues: a kept component deployed before
// hash v2 holds its secret's old hash; an unchanged secret still gets its
// value back (and keeps the recorded hash), not a refusal or the hash as
// the value.
func TestTargetedKeepsLegacySecretValues(t *testing.T) {
	key := []byte("k")
	pw := stacks.HashSensitiveAt(key, "shop", "dev", "PW", "hunter2")
	deployed := model(comp("api", stacks.KindWorker, map[string]any{"image": "a:1"}),
		comp("worker", stacks.KindWorker, map[string]any{"env": map[string]any{"PW": pw.Legacy}}))
	desired := model(comp("api", stacks.KindWorker, map[string]any{"image": "a:2", "env": map[string]any{"PW": pw}}),
		comp("worker", stacks.KindWorker, map[string]any{"env": map[string]any{"PW": pw}}))
	got, err := Targeted(desired, deployed, []string{"api"})
	if err != nil {
		t.Fatal(err)
	}
	s, ok := got.Component("worker").Spec["env"].(map[string]any)["PW"].(stacks.Sensitive)
	if !ok || s.Clear != "hunter2" || s.Hash != pw.Legacy {
		t.Errorf("kept worker's secret = %#v, want its value under the recorded (pre-v2) hash", s)
	}
}

// TestTargetedReferencesAcrossAKindChange: assets changed kind (Bucket to
// Worker) and web's reference with it. Deploying either alone would
// leave a reference to an output the other side does not have; the engine
// then failed in the middle of the run, after taking the lease and
// recording a failed deployment, without saying what to target.
func TestTargetedReferencesAcrossAKindChange(t *testing.T) {
	deployed := model(comp("assets", stacks.KindBucket, map[string]any{}),
		comp("web", stacks.KindWorker, map[string]any{"env": map[string]any{"B": "${assets.name}"}}, "assets"))
	desired := model(comp("assets", stacks.KindWorker, map[string]any{}),
		comp("web", stacks.KindWorker, map[string]any{"env": map[string]any{"B": "s3://${assets.serviceName}/x"}}, "assets"))
	for _, tt := range []struct {
		target []string
		want   string
	}{
		{[]string{"web"}, `web references ${assets.serviceName}, but assets would stay a Bucket, which has no output "serviceName" (outputs: name, arn): add --target-component assets`},
		{[]string{"assets"}, `web (kept as deployed) references ${assets.name}, but the targeted assets is a Worker, which has no output "name" (outputs: serviceName): add --target-component web`},
		{[]string{"assets", "web"}, ""},
	} {
		_, err := Targeted(desired, deployed, tt.target)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("--target-component %v: err = %v, want %q", tt.target, err, tt.want)
		}
	}
	// A reference the kept component has is fine, escaped text is not one.
	desired.Component("web").Spec["env"] = map[string]any{"B": "${assets.serviceName}", "C": "$${assets.nope}"}
	deployed.Component("web").Spec["env"] = map[string]any{"B": "${assets.arn}"}
	if _, err := Targeted(desired, deployed, []string{"assets", "web"}); err != nil {
		t.Errorf("both targeted: %v", err)
	}
}

// TestRunLostLeaseRecordsNothing: a run whose lease was lost meanwhile
// (force-unlocked and taken by another run) must not write history or
// state: the new holder owns them, and a write here would make the new
// holder's own write fail after its engine ran.
// TestRunRecordsPartialDeployment: a --target-component run that leaves a
// changed component out records which components it deployed, so the
// commit is not taken for deployed in full (changed --since-deployed,
// status, promote); one that leaves nothing out records a full deployment.
func TestRunRecordsPartialDeployment(t *testing.T) {
	rt, _ := newRuntime(t, &fakeEngine{})
	ctx := context.Background()
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}), comp("web", stacks.KindWorker, map[string]any{"image": "web:1"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1, Source: Source{Commit: strings.Repeat("a", 40)}}); err != nil {
		t.Fatal(err)
	}
	both := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}), comp("web", stacks.KindWorker, map[string]any{"image": "web:2"}))
	res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: both, TargetComponents: []string{"web", "web"}, Source: Source{Commit: strings.Repeat("b", 40)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Deployment.TargetComponents; !slices.Equal(got, []string{"web"}) {
		t.Errorf("targeted run leaving jobs out: TargetComponents = %v, want [web]", got)
	}
	// jobs deployed now too: targeting it leaves nothing out.
	res, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: both, TargetComponents: []string{"jobs"}, Source: Source{Commit: strings.Repeat("b", 40)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Deployment.TargetComponents; got != nil {
		t.Errorf("targeted run leaving nothing out: TargetComponents = %v, want none", got)
	}
}

func TestRunLostLeaseRecordsNothing(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	errLost := errors.New("lease on stack:shop:env:dev lost (taken over or force-unlocked)")
	rt.LeaseLost = func(context.Context) error { return errLost }
	v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}))
	res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
	if !errors.Is(err, errLost) || !strings.Contains(err.Error(), "nothing was recorded") {
		t.Fatalf("err = %v, want the lost lease, saying nothing was recorded", err)
	}
	if res == nil || res.Deployment != nil {
		t.Fatalf("result %+v: a deployment was reported as recorded", res)
	}
	st, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := store.History(ctx, key, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Serial != 1 || len(hist) != 1 {
		t.Fatalf("after a run with a lost lease: state serial %d, %d history records; want 1 and 1", st.Serial, len(hist))
	}
}

// TestRunLostLeaseStopsTheEngine: a lease lost while the engine runs
// cancels the engine, whose error then only says it was interrupted "(Ctrl-C
// or a stop signal)". The error must lead with the real cause, the lost
// lease, and say what to do; the engine's misleading text is left out.
func TestRunLostLeaseStopsTheEngine(t *testing.T) {
	errLost := errors.New("lease on stack:shop:env:dev lost (taken over or force-unlocked): heartbeat: lock is gone; it is now held by bob")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	eng := &fakeEngine{upErr: fmt.Errorf("pulumi up on stack %q interrupted (Ctrl-C or a stop signal): %w", "shop-dev", context.Canceled)}
	eng.onUp = func() { cancel(errLost) } // the heartbeat finds the lease gone
	rt, store := newRuntime(t, eng)
	rt.LeaseLost = func(context.Context) error { return errLost }
	_, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: model(comp("jobs", stacks.KindQueue, map[string]any{}))})
	if !errors.Is(err, errLost) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the lost lease and the cancelled engine in its chain", err)
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	if want := "the apply of shop/dev was stopped: its lock lease was lost while the engine ran (" + errLost.Error() + ")"; !strings.HasPrefix(first, want) {
		t.Errorf("first line %q, want it to start with %q", first, want)
	}
	for _, want := range []string{"Nothing was recorded in its state or history", "panka status --stack shop", "re-run the apply"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "Ctrl-C") {
		t.Errorf("error %q blames Ctrl-C for a lost lease", err)
	}
	if _, _, err := store.Get(context.Background(), key); !errors.Is(err, statestore.ErrNotFound) {
		t.Errorf("state after a run that lost its lease: %v, want none", err)
	}

	// An engine that failed on its own says why first.
	eng = &fakeEngine{upErr: errors.New("pulumi up on stack \"shop-dev\" failed: disk full")}
	rt, _ = newRuntime(t, eng)
	rt.LeaseLost = func(context.Context) error { return errLost }
	_, err = Run(context.Background(), rt, Request{Key: key, Operation: statestore.OpApply, Desired: model(comp("jobs", stacks.KindQueue, map[string]any{}))})
	if first, _, _ := strings.Cut(err.Error(), "\n"); !strings.Contains(first, "disk full") || !strings.Contains(err.Error(), errLost.Error()) {
		t.Errorf("engine failure, then the lease lost: %q, want the failure first and the lost lease", err)
	}

	// The lock table deleted under the run: heartbeats failed until the
	// lease ran out. "panka status shows who holds its lock now" could
	// only say the table does not exist: it says the table is gone and
	// what brings it back.
	gone := fmt.Errorf("lease on stack:shop:env:dev given up 1m0s before it expires (2026-01-02T15:04:05Z): heartbeats failed until then, so the run stops before another can take the lock (last error: %w): %w",
		locker.StoreGone(errors.New("heartbeat: the table does not exist")), locker.ErrLost)
	ctx, cancel = context.WithCancelCause(context.Background())
	defer cancel(nil)
	eng = &fakeEngine{upErr: fmt.Errorf("pulumi up on stack %q interrupted (Ctrl-C or a stop signal): %w", "shop-dev", context.Canceled)}
	eng.onUp = func() { cancel(gone) }
	rt, _ = newRuntime(t, eng)
	rt.LeaseLost = func(context.Context) error { return gone }
	_, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: model(comp("jobs", stacks.KindQueue, map[string]any{}))})
	want := "Next: the lock table or bucket is gone (deleted, or the setting points at another one): once it is back " +
		"(`panka backend create`, or locks.table / backend.bucket fixed), re-run the apply"
	if !errors.Is(err, locker.ErrStoreGone) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "panka status") {
		t.Errorf("lease lost with the lock table gone: %q, want it to say %q and not send to panka status", err, want)
	}
}

// TestRunStoppedForACause: a run stopped for another reason than Ctrl-C
// (here the state server that stopped answering) says that reason, not
// the engine's "interrupted (Ctrl-C or a stop signal)", and records it so.
func TestRunStoppedForACause(t *testing.T) {
	hung := errors.New("the S3 state server http://127.0.0.1:9 (bucket b) has not answered for 3m00s")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	eng := &fakeEngine{upErr: fmt.Errorf("pulumi up on stack %q interrupted (Ctrl-C or a stop signal): %w", "shop-dev", context.Canceled)}
	eng.onUp = func() { cancel(hung) }
	rt, store := newRuntime(t, eng)
	_, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: model(comp("jobs", stacks.KindQueue, map[string]any{}))})
	if !errors.Is(err, hung) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the cause and the cancelled engine in its chain", err)
	}
	if want := "the apply of shop/dev was stopped: " + hung.Error(); err.Error() != want {
		t.Errorf("err %q, want %q", err, want)
	}
	st, _, gerr := store.Get(context.Background(), key)
	if gerr != nil {
		t.Fatal(gerr)
	}
	if d := st.LastDeployment; d.Result != statestore.ResultInterrupted || d.Error != err.Error() {
		t.Errorf("recorded %s with error %q, want interrupted with %q", d.Result, d.Error, err)
	}

	// Stopped while the engine starts (Pulumi reads its state then).
	ctx, cancel = context.WithCancelCause(context.Background())
	rt.NewEngine = func(context.Context, *stacks.Resolved, *stacks.Resolved) (Engine, error) {
		cancel(hung)
		return nil, fmt.Errorf("panka-engine stopped: %w", context.Canceled)
	}
	_, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": true}))})
	if want := "start the deployment engine for shop/dev (nothing was changed or recorded): the apply of shop/dev was stopped: " + hung.Error(); err == nil || err.Error() != want {
		t.Errorf("stopped at engine start: %v, want %q", err, want)
	}
}

// TestRunMissingPluginRecordsNothing: an engine that cannot find its
// provider plugin (pulumi-aws, which is never downloaded) failed before it
// changed anything: the run is refused, as for a missing tool, and history
// and state keep saying what is deployed.
func TestRunMissingPluginRecordsNothing(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	eng.upErr = fmt.Errorf("pulumi up on stack \"shop-dev\": %w: failed to run update: exit status 1",
		&engine.MissingPluginError{Plugin: "pulumi-resource-aws", Hint: "install it"})
	v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}))
	res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
	var mp *engine.MissingPluginError
	if !errors.As(err, &mp) || !strings.HasPrefix(err.Error(), "cannot apply shop/dev, nothing was changed or recorded: ") ||
		!strings.Contains(err.Error(), "cannot find the provider plugin pulumi-resource-aws") {
		t.Fatalf("err = %v, want the missing plugin, saying nothing was changed or recorded", err)
	}
	if res == nil || res.Deployment != nil {
		t.Fatalf("result %+v: a deployment was reported as recorded", res)
	}
	st, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := store.History(ctx, key, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Serial != 1 || st.Status != statestore.StatusDeployed || len(hist) != 1 {
		t.Fatalf("after a run without its plugin: state serial %d status %s, %d history records; want 1, deployed, 1", st.Serial, st.Status, len(hist))
	}
}

// TestRunDestroyNeverDeployed: destroying what has no state fails before a
// plan is shown (an empty plan saying "No changes" would contradict it)
// and before the engine starts.
func TestRunDestroyNeverDeployed(t *testing.T) {
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	shown := false
	rt.OnPlan = func(*planner.Result) { shown = true }
	_, err := Run(context.Background(), rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true})
	if err == nil || !strings.Contains(err.Error(), "shop/dev has no state: nothing to destroy") || errors.Is(err, ErrNothingToDestroy) {
		t.Fatalf("destroy of a never-deployed stack: %v; want an error, not ErrNothingToDestroy (a mistyped name looks the same)", err)
	}
	if shown || len(eng.calls) != 0 {
		t.Errorf("plan shown %v, engine calls %v; want neither", shown, eng.calls)
	}
	if _, _, err := store.Get(context.Background(), key); !errors.Is(err, statestore.ErrNotFound) {
		t.Errorf("state after the refused destroy: %v", err)
	}
}

// TestRunDestroyAlreadyDestroyed: destroying what is destroyed already
// fails like destroying what was never deployed (before a plan is shown
// and before the engine starts) and records no second destroy. The plan
// header of a destroyed one says nothing is deployed, not that the commit
// the destroy ran at is.
func TestRunDestroyAlreadyDestroyed(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	v1 := model(comp("api", stacks.KindMicroService, map[string]any{"image": "api:1"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1, Source: Source{Commit: strings.Repeat("a", 40)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, Source: Source{Commit: strings.Repeat("b", 40)}}); err != nil {
		t.Fatal(err)
	}
	st, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	h := DeployedHeader(st)
	if !h.Destroyed || h.Commit != "" || h.By != "alice@example.com" || h.Status != statestore.StatusDestroyed {
		t.Errorf("header of a destroyed state = %+v; want destroyed, no commit", h)
	}
	calls := len(eng.calls)
	shown := false
	rt.OnPlan = func(*planner.Result) { shown = true }
	res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, Source: Source{Commit: strings.Repeat("c", 40)}, AllowDestroy: true})
	if !errors.Is(err, ErrNothingToDestroy) || !strings.Contains(err.Error(), "shop/dev was already destroyed by alice@example.com at 2026-11-25T12:00:04Z (state serial 2): nothing to destroy") {
		t.Fatalf("destroy of a destroyed stack: %v; want ErrNothingToDestroy (a re-run destroy pipeline succeeds)", err)
	}
	if res == nil || res.Deployment != nil || !res.EngineSkipped || res.Plan == nil || !res.Plan.Header.Destroy || res.Plan.HasChanges() {
		t.Errorf("result of a destroy of a destroyed stack = %+v; want its empty destroy plan, no deployment, the engine skipped", res)
	}
	if shown || len(eng.calls) != calls {
		t.Errorf("plan shown %v, engine calls %v; want neither", shown, eng.calls[calls:])
	}
	hist, err := store.History(ctx, key, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st2, _, _ := store.Get(ctx, key); st2.Serial != 2 || len(hist) != 2 {
		t.Errorf("after the refused destroy: state serial %d, %d history records; want 2 and 2", st2.Serial, len(hist))
	}

	// Applying again shows what is deployed as nothing, and works.
	var header planner.Deployed
	rt.OnPlan = func(p *planner.Result) { header = p.Header.Deployed }
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1, Source: Source{Commit: strings.Repeat("a", 40)}}); err != nil {
		t.Fatal(err)
	}
	if !header.Destroyed || header.Commit != "" {
		t.Errorf("apply after destroy: plan header %+v; want destroyed, no commit", header)
	}
}

// TestRunDestroyStateLostAfterDestroy: a state.json deleted after a
// destroy leaves the history's newest record to say what was last done.
// A successful destroy: nothing to destroy (ErrNothingToDestroy, the
// record named), as with the state. A failed one may have left resources:
// refused as any lost state is; it said "nothing to destroy".
func TestRunDestroyStateLostAfterDestroy(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	v1 := model(comp("api", stacks.KindMicroService, map[string]any{"image": "api:1"}))
	lose := func() {
		t.Helper()
		_, v, err := store.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Delete(ctx, key, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	eng.onDestroy = func() error { return errors.New("provider failed") }
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true}); err == nil {
		t.Fatal("destroy with a failing engine succeeded")
	}
	eng.onDestroy = nil
	lose()
	calls := len(eng.calls)
	_, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true})
	if err == nil || errors.Is(err, ErrNothingToDestroy) || strings.Contains(err.Error(), "nothing to destroy") ||
		!strings.Contains(err.Error(), "shop/dev has no state, but its history records deployments up to serial 2 (destroy of commit") ||
		!strings.Contains(err.Error(), "failed): its state.json was deleted or lost, so what was deployed may still exist") {
		t.Fatalf("destroy after a failed destroy and a lost state: %v; want it refused, the failed destroy named", err)
	}
	if len(eng.calls) != calls {
		t.Errorf("engine calls %v; want none", eng.calls[calls:])
	}

	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1, AllowLostState: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true}); err != nil {
		t.Fatal(err)
	}
	lose()
	calls = len(eng.calls)
	_, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true})
	if !errors.Is(err, ErrNothingToDestroy) || !strings.Contains(err.Error(), "shop/dev was already destroyed by alice@example.com at ") ||
		!strings.Contains(err.Error(), "(history serial 4; its state.json is gone since): nothing to destroy") {
		t.Fatalf("destroy after a destroy and a lost state: %v; want ErrNothingToDestroy naming the destroy record", err)
	}
	if h, _ := store.History(ctx, key, 0, 0); len(h) != 4 || len(eng.calls) != calls {
		t.Errorf("%d history records (want 4), engine calls %v (want none)", len(h), eng.calls[calls:])
	}
}

// TestRunEngineStartFailureRecordsNothing: an engine that cannot start (a
// missing tool or passphrase) changed nothing, so neither history nor state
// may say a deployment failed: status keeps showing what is deployed.
func TestRunEngineStartFailureRecordsNothing(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	errStart := errors.New("the passphrase secrets provider needs PULUMI_CONFIG_PASSPHRASE")
	rt.NewEngine = func(context.Context, *stacks.Resolved, *stacks.Resolved) (Engine, error) { return nil, errStart }
	v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}))
	for _, req := range []Request{
		{Key: key, Operation: statestore.OpApply, Desired: v2},
		{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true},
	} {
		res, err := Run(ctx, rt, req)
		if !errors.Is(err, errStart) || !strings.Contains(err.Error(), "nothing was changed or recorded") {
			t.Fatalf("%s: err = %v, want the start error, saying nothing was recorded", req.Operation, err)
		}
		if res == nil || res.Deployment != nil {
			t.Fatalf("%s: result %+v: a deployment was reported as recorded", req.Operation, res)
		}
	}
	st, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := store.History(ctx, key, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Serial != 1 || st.Status != statestore.StatusDeployed || len(hist) != 1 {
		t.Fatalf("after runs whose engine did not start: state serial %d status %s, %d history records; want 1, deployed, 1", st.Serial, st.Status, len(hist))
	}
}

// TestRunInterruptedBeforeEngineRecordsNothing: a stop signal before the
// engine started (while it started, or one OnStart reports, whose notice
// said so) changes and records nothing, and the error says just that,
// not the engine's "context canceled", and not "recorded as interrupted".
func TestRunInterruptedBeforeEngineRecordsNothing(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "visibilityTimeout": int64(60)}))
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	starting := rt
	starting.NewEngine = func(ctx context.Context, _, _ *stacks.Resolved) (Engine, error) {
		cancel() // Ctrl-C while it starts
		return nil, fmt.Errorf("run `pulumi version`: interrupted (Ctrl-C or a stop signal): %w", ctx.Err())
	}
	refused := rt
	refused.OnStart = func() error { return errors.New("interrupted before the engine started") }
	for name, run := range map[string]func() (*Result, error){
		"engine starting": func() (*Result, error) {
			return Run(cctx, starting, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
		},
		"OnStart": func() (*Result, error) {
			return Run(ctx, refused, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
		},
	} {
		eng.calls = nil
		res, err := run()
		want := "the apply of " + key.String() + " was interrupted (Ctrl-C or a stop signal) before its engine started: nothing was changed or recorded"
		if err == nil || err.Error() != want {
			t.Errorf("%s: err = %v, want %q", name, err, want)
		}
		if res == nil || res.Deployment != nil || len(eng.calls) != 0 {
			t.Errorf("%s: result %+v, engine calls %v: want nothing run or recorded", name, res, eng.calls)
		}
	}
	st, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if hist, err := store.History(ctx, key, 0, 0); err != nil || st.Serial != 1 || len(hist) != 1 {
		t.Fatalf("after runs interrupted before the engine: state serial %d, %d history records (%v); want 1, 1", st.Serial, len(hist), err)
	}
}

// TestRunUndoesRecordedDrift: after drift detect found drift, re-applying
// the deployed spec must run the engine (not skip it as "no changes") and
// refresh first, or the engine compares with its own records and leaves the
// drift in place. Success records a clean drift check.
func TestRunUndoesRecordedDrift(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	checked := rt.Now()
	if _, _, err := statestore.Update(ctx, store, key, rt.Now, func(s *statestore.State) error {
		s.LastDriftCheck = &statestore.DriftCheck{At: checked, Drifted: []string{"jobs"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	eng.calls = nil
	res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1})
	if err != nil {
		t.Fatal(err)
	}
	if res.EngineSkipped || strings.Join(eng.calls, ",") != "refresh,up" {
		t.Fatalf("re-apply after drift: skipped=%v engine calls %v, want refresh then up", res.EngineSkipped, eng.calls)
	}
	st, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if dc := st.LastDriftCheck; dc == nil || len(dc.Drifted) != 0 || !dc.At.After(checked) {
		t.Fatalf("drift check after the re-apply: %+v, want a clean check", dc)
	}

	// Without recorded drift a no-change apply still skips the engine.
	eng.calls = nil
	if res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil || !res.EngineSkipped || len(eng.calls) != 0 {
		t.Fatalf("no-change apply: %v, skipped=%v, calls %v", err, res.EngineSkipped, eng.calls)
	}
}

// TestRunExplainsEngineReplaceRefusal: the engine refuses to replace a
// protected component; what made it want to differs, and so does what
// shows it. After drift detect found drift (the run refreshes first), the
// plan says "No changes": the error must send the user to drift detect
// with the right stack and environment, not to panka plan. Without
// drift, the plan shows the change (as an update the provider makes only
// by re-creating).
func TestRunExplainsEngineReplaceRefusal(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	v1 := model(comp("db", stacks.KindDatabase, map[string]any{"engine": "postgres"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	// As the engine client returns it: the engine's text, the refusal in its chain.
	eng.upErr = fmt.Errorf("pulumi up on stack \"shop-dev\": %w: failed to run update: exit status 1", &engine.ProtectedError{Replace: []string{"db"}})

	v2 := model(comp("db", stacks.KindDatabase, map[string]any{"engine": "postgres", "version": "16"}))
	_, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2})
	var pe *engine.ProtectedError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want the engine's ProtectedError", err)
	}
	for _, want := range []string{"refusing to replace db", "panka plan --stack shop --environment dev shows the change", "re-run with --allow-replace"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal of a planned change: %q lacks %q", err, want)
		}
	}

	if _, _, err := statestore.Update(ctx, store, key, rt.Now, func(s *statestore.State) error {
		s.LastDriftCheck = &statestore.DriftCheck{At: rt.Now(), Drifted: []string{"db"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}) // the deployed spec: the plan has no changes
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want the engine's ProtectedError", err)
	}
	for _, want := range []string{"the apply of shop/dev was refused by the engine: refusing to replace db",
		"drift detect had found db changed outside panka", "panka drift detect --stack shop --environment dev", "re-run with --allow-replace"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal after drift: %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "panka plan --stack") || strings.Contains(err.Error(), "See panka plan") {
		t.Errorf("refusal after drift sends the user to panka plan, which shows no change: %q", err)
	}
}

// TestRunNoticesUnrecordedEngineWrites: the engine's state token is
// recorded after each engine run; when it differs at the next run (a
// stopped run resumed after its lease was taken over and its engine wrote
// the state), a no-change apply warns, refreshes and runs the engine
// instead of skipping it, and records the new token; the next no-change
// apply skips the engine again. Unknown tokens are no change.
func TestRunNoticesUnrecordedEngineWrites(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	token := "t1"
	eng.onUp = func() { token += "+up" } // the engine writes its state
	rt.EngineState = func(context.Context, string) (string, error) { return token, nil }
	var warnings []string
	rt.Warnf = func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := store.Get(ctx, key); st.EngineState != "t1+up" {
		t.Fatalf("recorded engine state %q, want the token after the engine ran", st.EngineState)
	}

	token = "written by a resumed run"
	eng.calls = nil
	res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1})
	if err != nil {
		t.Fatal(err)
	}
	if res.EngineSkipped || strings.Join(eng.calls, ",") != "refresh,up" {
		t.Fatalf("apply after an unrecorded engine write: skipped=%v calls %v, want refresh then up", res.EngineSkipped, eng.calls)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "was written after its last recorded deployment (serial 1)") {
		t.Errorf("warnings %q, want one about the unrecorded write", warnings)
	}
	if st, _, _ := store.Get(ctx, key); st.EngineState != "written by a resumed run+up" {
		t.Fatalf("recorded engine state %q, want the new token", st.EngineState)
	}

	eng.calls, warnings = nil, nil
	if res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil || !res.EngineSkipped || len(eng.calls) != 0 || len(warnings) != 0 {
		t.Fatalf("no-change apply after that: %v, skipped=%v, calls %v, warnings %q", err, res.EngineSkipped, eng.calls, warnings)
	}
	// The engine skipped: the recorded token stays.
	if st, _, _ := store.Get(ctx, key); st.EngineState != "written by a resumed run+up" {
		t.Fatalf("engine state after a skipped run %q", st.EngineState)
	}
	token = "" // cannot be told: no change
	if res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil || !res.EngineSkipped {
		t.Fatalf("unknown token: %v, skipped=%v", err, res.EngineSkipped)
	}
}

// TestRunReportsRecovery: what clearing a stopped run's leftovers removed
// is logged once, readably, with what stopped that run: no record (killed,
// or cut off from S3 before it could record), or its failed record (an S3
// outage stopped its engine but panka's record got through), not "was
// killed" for both.
func TestRunReportsRecovery(t *testing.T) {
	const cleared = "holding the lease, panka cleared pending updating of urn:pulumi:shop-dev::panka::pankalocal:index:Component::web"
	web := model(comp("web", stacks.KindMicroService, map[string]any{"image": "a"}))
	eng := &fakeEngine{recovered: &engine.Recovery{PendingOperations: []engine.PendingOperation{{Type: "updating", URN: "urn:pulumi:shop-dev::panka::pankalocal:index:Component::web"}}}}
	rt, _ := newRuntime(t, eng)
	var logs []string
	rt.Logf = func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
	res, err := Run(context.Background(), rt, Request{Key: key, Operation: statestore.OpApply, Desired: web})
	if err != nil {
		t.Fatal(err)
	}
	want := "an earlier run of shop/dev stopped before its engine finished without a record of it (killed, or cut off from its state backend); " + cleared
	if res.Recovery == nil || strings.Join(logs, "\n") != want {
		t.Fatalf("recovery logged as %q, want %q", logs, want)
	}

	// The engine's state stopped answering: the run failed and recorded it.
	eng2 := &fakeEngine{upErr: errors.New("pulumi up made no progress for 10s with no resource operation in flight")}
	rt2, _ := newRuntime(t, eng2)
	if _, err := Run(context.Background(), rt2, Request{Key: key, Operation: statestore.OpApply, Desired: web}); err == nil {
		t.Fatal("the stopped run succeeded")
	}
	eng2.upErr, eng2.recovered = nil, eng.recovered
	logs = nil
	rt2.Logf = rt.Logf
	if _, err := Run(context.Background(), rt2, Request{Key: key, Operation: statestore.OpApply, Desired: web}); err != nil {
		t.Fatal(err)
	}
	want = "an earlier run of shop/dev stopped before its engine finished (its record, serial 1, is a failed apply: panka history --stack shop --environment dev shows why); " + cleared
	if !slices.Contains(logs, want) || strings.Contains(strings.Join(logs, "\n"), "killed") {
		t.Fatalf("recovery after a recorded failure logged as %q, want %q", logs, want)
	}
}

// TestRunRefusesEmptyPulumiState: panka's state records deployed
// components but Pulumi's checkpoint holds none (its pulumi/ folder was
// not copied along with state.json to a new backend). A destroy would
// delete nothing and record everything destroyed; an up would create every
// component again. Both are refused before the engine runs.
func TestRunRefusesEmptyPulumiState(t *testing.T) {
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	ctx := context.Background()
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}), comp("web", stacks.KindWorker, map[string]any{"image": "web:1"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1, Source: Source{Commit: strings.Repeat("a", 40)}}); err != nil {
		t.Fatal(err)
	}

	eng.recovered = &engine.Recovery{Resources: new(int)}
	_, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true})
	if err == nil || !strings.Contains(err.Error(), "Pulumi's state of shop/dev holds no resources, but panka's state records 2 deployed component(s) (state serial 1, commit aaaaaaaaaaaa): jobs, web") ||
		!strings.Contains(err.Error(), "panka state rm --stack shop --environment dev --resource jobs --resource web") {
		t.Fatalf("destroy err = %v, want the empty Pulumi state refused", err)
	}
	v2 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}), comp("web", stacks.KindWorker, map[string]any{"image": "web:2"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2}); err == nil || !strings.Contains(err.Error(), "holds no resources") {
		t.Fatalf("apply err = %v, want the empty Pulumi state refused", err)
	}
	if eng.destroys != 0 || eng.ups != 1 {
		t.Fatalf("engine ran on an empty Pulumi state: %d destroys, %d ups", eng.destroys, eng.ups)
	}
	st, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if deployed, _ := planner.DecodeModel(st.Spec); st.Status == statestore.StatusDestroyed || deployed == nil || len(deployed.Components) != 2 {
		t.Fatalf("state after the refusals: status %s, spec %s; want the deployed components kept", st.Status, st.Spec)
	}
	// Refusals that ran nothing record nothing: no failed deployment, no
	// new serial (which would make saved plans stale).
	if hist, err := store.History(ctx, key, 0, 0); err != nil || len(hist) != 1 || st.Serial != 1 || st.Status != statestore.StatusDeployed {
		t.Fatalf("after the refusals: %d records (%v), state serial %d status %s; want the one deployment only", len(hist), err, st.Serial, st.Status)
	}

	// With resources in the checkpoint (or none deployed) the engine runs.
	eng.recovered = &engine.Recovery{Resources: new(int)}
	*eng.recovered.Resources = 2
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true}); err != nil || eng.destroys != 1 {
		t.Fatalf("destroy with resources: err %v, %d destroys", err, eng.destroys)
	}
}

// TestRunProtectsWhatFailedRunsLeft: a first apply interrupted after the
// engine created a Database leaves a state with no spec. A destroy planned
// from that state alone said "No changes", asked nothing and deleted the
// Database without --allow-destroy. The components failed runs tried to
// deploy are planned as deployed: the destroy (and an apply that drops
// them) is refused without --allow-destroy, and a retry of the same apply
// plans as before.
func TestRunProtectsWhatFailedRunsLeft(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{upErr: errors.New("interrupted after creating db")}
	rt, _ := newRuntime(t, eng)
	var warnings []string
	rt.Warnf = func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	v1 := model(comp("db", stacks.KindDatabase, map[string]any{"engine": "postgres"}), comp("web", stacks.KindWorker, map[string]any{"image": "web:1"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err == nil {
		t.Fatal("first apply: want the engine's error")
	}

	var prot *ProtectedError
	_, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy})
	if !errors.As(err, &prot) || !strings.Contains(err.Error(), `Database "db"`) || eng.destroys != 0 {
		t.Fatalf("destroy after a failed first apply: err %v, %d destroys; want it refused for db", err, eng.destroys)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "shop/dev: db, web may exist although no successful deployment recorded them") {
		t.Errorf("warnings = %q", warnings)
	}
	v2 := model(comp("web", stacks.KindWorker, map[string]any{"image": "web:1"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2}); !errors.As(err, &prot) {
		t.Fatalf("apply without db after a failed apply with it: err %v, want it refused", err)
	}

	// A retry of the same apply: every component is still a create.
	eng.upErr = nil
	res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan.Summary.Create != 2 || res.Plan.Summary.Delete != 0 {
		t.Errorf("retry plan = %+v, want 2 creates", res.Plan.Summary)
	}
	res, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true})
	if err != nil || eng.destroys != 1 || res.Plan.Summary.Delete != 2 {
		t.Fatalf("destroy after a successful apply: err %v, %d destroys, plan %+v", err, eng.destroys, res.Plan.Summary)
	}
}

// TestRunPlansWhatFailedRunsTried: an apply that changed web and failed
// (here: in the engine; a failed health check after a complete update is
// the same) may leave the engine holding web:2 while the state records
// web:1. Reverting the YAML to web:1 planned "No changes" while the next
// apply, which runs the engine after a failed run, changed web back. Such
// a component is planned against what the failed run tried, with a
// warning; one the failed run did not change, or one desired otherwise,
// plans as before.
func TestRunPlansWhatFailedRunsTried(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{}
	rt, _ := newRuntime(t, eng)
	var warnings []string
	rt.Warnf = func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	db := comp("db", stacks.KindDatabase, map[string]any{"engine": "postgres"})
	v1 := model(db, comp("web", stacks.KindWorker, map[string]any{"image": "web:1"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	eng.upErr = errors.New("health check failed after the update")
	v2 := model(db, comp("web", stacks.KindWorker, map[string]any{"image": "web:2"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2}); err == nil {
		t.Fatal("second apply: want the engine's error")
	}

	// Reverted: web is an update back to web:1, db stays a no-op.
	eng.upErr = nil
	warnings = nil
	res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan.Summary.Update != 1 || res.Plan.Summary.NoOp != 1 {
		t.Errorf("plan after the revert = %+v, want web updated (back to web:1), db no-op", res.Plan.Summary)
	}
	for _, c := range res.Plan.Changes {
		if c.Component == "web" && (len(c.Fields) != 1 || c.Fields[0].Before != "web:2" || c.Fields[0].After != "web:1") {
			t.Errorf("web fields = %+v, want spec.image web:2 → web:1", c.Fields)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "shop/dev: web may hold what a failed or interrupted run since the last successful one tried to deploy") {
		t.Errorf("warnings = %q", warnings)
	}
	// After that success, the failed run no longer counts.
	warnings = nil
	if res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil || res.Plan.HasChanges() || len(warnings) != 0 {
		t.Errorf("apply after the successful revert: err %v, plan %+v, warnings %q; want no changes", err, res.Plan.Summary, warnings)
	}
}

// TestCheckProtectionNamesTheDeployedKind: a kind change of a data
// component is refused naming the kind that holds the data (the deployed
// one), not the new kind: 'would replace Topic "jobs"' read as if a topic
// held data.
func TestCheckProtectionNamesTheDeployedKind(t *testing.T) {
	deployed := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
	desired := model(comp("jobs", stacks.KindTopic, map[string]any{"fifo": false}))
	p := planner.Plan(desired, deployed, planner.Options{})
	err := CheckProtection(p, false, false)
	if err == nil || !strings.Contains(err.Error(), `would replace Queue "jobs" (kind changed)`) {
		t.Fatalf("CheckProtection = %v, want the Queue named", err)
	}
}

// TestCheckProtectionDeadLetter: removing a Queue's deadLetter deletes
// its dead-letter queue and the messages in it while the queue stays (an
// update): it used to deploy without a word; it needs --allow-destroy.
func TestCheckProtectionDeadLetter(t *testing.T) {
	deployed := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "deadLetter": map[string]any{"maxReceives": 5}}))
	desired := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
	p := planner.Plan(desired, deployed, planner.Options{})
	err := CheckProtection(p, false, true)
	if err == nil || !strings.Contains(err.Error(), `would delete part of Queue "jobs" (spec.deadLetter changed: the dead-letter queue is deleted, and the messages in it are lost) (data is lost); re-run with --allow-destroy`) {
		t.Fatalf("CheckProtection = %v, want the dead-letter queue's deletion refused", err)
	}
	if err := CheckProtection(p, true, false); err != nil {
		t.Fatalf("CheckProtection with --allow-destroy = %v", err)
	}
	// A changed maxReceives keeps the dead-letter queue.
	desired = model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false, "deadLetter": map[string]any{"maxReceives": 9}}))
	if err := CheckProtection(planner.Plan(desired, deployed, planner.Options{}), false, false); err != nil {
		t.Fatalf("CheckProtection of a maxReceives change = %v", err)
	}
}

// TestSecretKeyWarning: deployed secrets hashed with a key and desired ones
// without (or the reverse) plan as changed whatever their values: said;
// the same scheme on both sides, or no secrets, says nothing.
func TestSecretKeyWarning(t *testing.T) {
	keyed := stacks.HashSensitive([]byte("k"), "TOKEN", "v")
	unkeyed := stacks.HashSensitive(nil, "TOKEN", "v")
	model := func(v any, fromJSON bool) *stacks.Resolved {
		if s, ok := v.(stacks.Sensitive); ok && fromJSON {
			v = s.Hash // as read back from state
		}
		return &stacks.Resolved{Stack: "s", Environment: "e",
			Variables:  []stacks.ResolvedVar{{Name: "TOKEN", Value: v, Secret: true}},
			Components: []stacks.Component{{Name: "api", Spec: map[string]any{"env": map[string]any{"TOKEN": v}, "command": []any{"x", v}}}}}
	}
	key := statestore.Key{Stack: "s", Environment: "e"}
	for _, tt := range []struct {
		name              string
		deployed, desired *stacks.Resolved
		want              string
	}{
		{"no passphrase here", model(keyed, true), model(unkeyed, false), "hashed with a key derived from the Pulumi passphrase, which is not given here"},
		{"none at deployment", model(unkeyed, true), model(keyed, false), "hashed without a key (no Pulumi passphrase was given) and this run has one"},
		{"both keyed", model(keyed, true), model(keyed, false), ""},
		{"both unkeyed", model(unkeyed, true), model(unkeyed, false), ""},
		{"no secrets", model("plain", true), model("plain", false), ""},
		{"nothing deployed", nil, model(unkeyed, false), ""},
		{"destroy", model(keyed, true), nil, ""},
	} {
		got := SecretKeyWarning(key, tt.deployed, tt.desired)
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestRunAfterKilledDestroy: panka killed (SIGKILL, a CI job's grace
// period over) during a destroy whose engine went on and deleted every
// resource: nothing was recorded, and Pulumi's checkpoint, written since
// the last recorded deployment, is empty. The next apply and destroy were
// refused as if Pulumi's state were lost; the written checkpoint says it
// is what a run that recorded nothing left, so both go on.
func TestRunAfterKilledDestroy(t *testing.T) {
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	token := "t1"
	rt.EngineState = func(context.Context, string) (string, error) { return token, nil }
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{}), comp("web", stacks.KindWorker, map[string]any{"image": "web:1"}))
	if _, err := Run(context.Background(), rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	token = "t2: written by the killed destroy"
	none := 0
	eng.recovered = &engine.Recovery{Resources: &none}
	if _, err := Run(context.Background(), rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true}); err != nil {
		t.Fatalf("destroy after the killed destroy: %v", err)
	}
	st, _, err := store.Get(context.Background(), key)
	if err != nil || st.Status != statestore.StatusDestroyed {
		t.Fatalf("state: %+v, %v", st, err)
	}
	// And an apply in its place.
	eng2 := &fakeEngine{}
	rt2, _ := newRuntime(t, eng2)
	token = "t1"
	rt2.EngineState = rt.EngineState
	if _, err := Run(context.Background(), rt2, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	token = "t2: written by the killed destroy"
	eng2.recovered = &engine.Recovery{Resources: &none}
	if _, err := Run(context.Background(), rt2, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil || eng2.ups != 2 {
		t.Fatalf("apply after the killed destroy: %v (ups %d)", err, eng2.ups)
	}
}

// TestPlannedLeavesOutWhatFailedRunsNeverReached: after a failed apply,
// the plan compared each component with what that run tried, whether or
// not the engine reached it: a component the run never updated showed an
// update (the engine then did nothing), and one whose create failed showed
// a delete that needed --allow-destroy for a Bucket that never existed.
// Pulumi's checkpoint says which components the run touched (a resource
// created or modified since it started, or pending): the others keep the
// recorded spec, and a tried component missing from it was never created.
func TestPlannedLeavesOutWhatFailedRunsNeverReached(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{}
	rt, _ := newRuntime(t, eng)
	var warnings []string
	rt.Warnf = func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	assets := comp("assets", stacks.KindBucket, map[string]any{"versioning": true})
	v1 := model(assets, comp("web", stacks.KindWorker, map[string]any{"image": "web:1"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	applied := rt.Now() // after the first run, before the failed one
	eng.upErr = errors.New("pankalocal: write manifest media.json: file exists")
	v2 := model(assets, comp("media", stacks.KindBucket, map[string]any{"versioning": false}), comp("web", stacks.KindWorker, map[string]any{"image": "web:2"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2}); err == nil {
		t.Fatal("second apply: want the engine's error")
	}
	eng.upErr = nil
	checkpoint := func(webModified time.Time, pendingMedia bool) func(context.Context) ([]byte, error) {
		return assetsWebCheckpoint(applied, webModified, pendingMedia)
	}
	st, _, err := rt.Store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	deployed, err := planner.DecodeModel(st.Spec)
	if err != nil {
		t.Fatal(err)
	}

	// Reverted; the failed run reached neither web nor media.
	planned, left, tried, err := Planned(ctx, rt.Store, key, st, deployed, v1, checkpoint(applied.Add(-time.Second), false))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 || len(tried) != 0 {
		t.Errorf("untouched: left %v, tried %v; want neither", left, tried)
	}
	if p := planner.Plan(v1, planned, planner.Options{}); p.HasChanges() {
		t.Errorf("untouched: plan %+v, want no changes", p.Summary)
	}
	// It updated web (modified since it started), and media's create was
	// in flight when it stopped: both are planned as before.
	planned, left, tried, _ = Planned(ctx, rt.Store, key, st, deployed, v1, checkpoint(applied.Add(time.Hour), true))
	if len(left) != 1 || left[0].Name != "media" || !slices.Equal(tried, []string{"web"}) {
		t.Errorf("touched: left %v, tried %v; want media left, web tried", left, tried)
	}
	if p := planner.Plan(v1, planned, planner.Options{}); p.Summary.Update != 1 || p.Summary.Delete != 1 {
		t.Errorf("touched: plan %+v, want web updated back, media deleted", p.Summary)
	}
	// No checkpoint to read: as before, planned against what the run tried.
	if _, left, tried, _ := Planned(ctx, rt.Store, key, st, deployed, v1, nil); len(left) != 1 || len(tried) != 1 {
		t.Errorf("no checkpoint: left %v, tried %v; want media left, web tried", left, tried)
	}

	// Run reads it through Runtime.EngineCheckpoint: no warning, nothing
	// to delete (no --allow-destroy needed), nothing to update.
	rt.EngineCheckpoint = checkpoint(applied.Add(-time.Second), false)
	warnings = nil
	res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan.Summary.Update != 0 || res.Plan.Summary.Delete != 0 || len(warnings) != 0 {
		t.Errorf("apply of the revert: plan %+v, warnings %q; want no update, no delete, no warning", res.Plan.Summary, warnings)
	}
}

// TestRunWarnsOfUntrackedCreates: a run killed while the provider created
// components leaves pending creates, which the next run drops. When that
// run does not deploy those components (another commit, a rollback, a
// destroy), what the killed run created was tracked by nothing and never
// deleted (found by kill -9 rounds: w4.json and w6.json stayed under
// .panka/local while plan said "No changes"). The run now warns, naming
// them; components it deploys again (by name, or as parts named
// <component>-...) and other pending operations are not named.
func TestRunWarnsOfUntrackedCreates(t *testing.T) {
	urn := func(name string) string { return "urn:pulumi:shop-dev::panka::pankalocal:index:Component::" + name }
	eng := &fakeEngine{recovered: &engine.Recovery{PendingOperations: []engine.PendingOperation{
		{Type: "creating", URN: urn("w6")}, {Type: "creating", URN: urn("w4")}, {Type: "creating", URN: urn("web")},
		{Type: "creating", URN: "urn:pulumi:shop-dev::panka::panka:aws:MicroService$aws:ecs/service:Service::web-service"},
		{Type: "updating", URN: urn("w5")}, {Type: "deleting", URN: urn("w3")},
	}}}
	rt, _ := newRuntime(t, eng)
	var warnings []string
	rt.Warnf = func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	if _, err := Run(context.Background(), rt, Request{Key: key, Operation: statestore.OpApply,
		Desired: model(comp("web", stacks.KindMicroService, map[string]any{"image": "a"}))}); err != nil {
		t.Fatal(err)
	}
	want := "the killed run of shop/dev was creating w4, w6 when it died (its pending creates were dropped above): they may exist although nothing tracks them now, " +
		"and this apply does not deploy them, so neither Pulumi nor panka will ever delete them. Look for them (with the local target, w4.json, w6.json in the manifest directory of shop/dev) " +
		"and delete them by hand, or apply a commit that has them (which takes them over) and then one without"
	if len(warnings) != 1 || warnings[0] != want {
		t.Fatalf("warnings = %q, want %q", warnings, want)
	}

	// Deployed again: nothing to say.
	warnings = nil
	rt2, _ := newRuntime(t, &fakeEngine{recovered: &engine.Recovery{PendingOperations: []engine.PendingOperation{{Type: "creating", URN: urn("w4")}}}})
	rt2.Warnf = rt.Warnf
	if _, err := Run(context.Background(), rt2, Request{Key: key, Operation: statestore.OpApply,
		Desired: model(comp("w4", stacks.KindWorker, map[string]any{"image": "a"}))}); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings for a create deployed again: %q", warnings)
	}
}

// TestRunNoChangeRefusesAGoneCheckpoint: an apply whose plan changes
// nothing runs no engine; when Pulumi's checkpoint is missing or holds none
// of the deployed components (state.json moved to another backend without
// pulumi/), it refuses and records nothing, as an apply that runs the
// engine does (CheckEngineState), instead of recording all is well.
func TestRunNoChangeRefusesAGoneCheckpoint(t *testing.T) {
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	ctx := context.Background()
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	const root = `{"urn":"urn:pulumi:shop-dev::panka::pulumi:pulumi:Stack::panka-shop-dev","type":"pulumi:pulumi:Stack"}`
	jobs := `{"urn":"urn:pulumi:shop-dev::panka::pankalocal:index:Component::jobs","type":"pankalocal:index:Component"}`
	for _, c := range []struct {
		name, doc string
		refused   bool
	}{
		{"missing", "", true},
		{"empty stack", `{"version":3,"checkpoint":{"latest":{"resources":[` + root + `]}}}`, true},
		{"holds it", `{"version":3,"checkpoint":{"latest":{"resources":[` + root + `,` + jobs + `]}}}`, false},
		{"unreadable", `not json`, false},
	} {
		rt.EngineCheckpoint = func(context.Context) ([]byte, error) {
			if c.doc == "" {
				return nil, nil
			}
			return []byte(c.doc), nil
		}
		before, _, _ := store.Get(ctx, key)
		eng.calls = nil
		res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1})
		after, _, _ := store.Get(ctx, key)
		if c.refused {
			if err == nil || !strings.Contains(err.Error(), "Pulumi's state of shop/dev holds no resources, but panka's state records 1 deployed component(s)") || after.Serial != before.Serial {
				t.Errorf("%s: %v, serial %d -> %d, want a refusal that records nothing", c.name, err, before.Serial, after.Serial)
			}
			continue
		}
		if err != nil || !res.EngineSkipped || len(eng.calls) != 0 || after.Serial != before.Serial+1 {
			t.Errorf("%s: %v, skipped=%v, calls %v, serial %d -> %d, want a recorded no-change apply", c.name, err, res.EngineSkipped, eng.calls, before.Serial, after.Serial)
		}
	}
}

// TestDeletionProtectionNeedsTwoSteps: on the aws target, a Database
// deployed with deletionProtection (the default) cannot be deleted: RDS
// refuses. destroy --allow-destroy ran the engine anyway, which deleted
// the components before the database and then failed on it, leaving the
// stack half destroyed. It is now refused before the engine, with the two
// steps; once the database is deployed unprotected, destroy goes ahead.
func TestDeletionProtectionNeedsTwoSteps(t *testing.T) {
	eng := &fakeEngine{}
	rt, _ := newRuntime(t, eng)
	ctx := context.Background()
	aws := func(dbSpec map[string]any) *stacks.Resolved {
		m := model(comp("db", stacks.KindDatabase, dbSpec), comp("api", stacks.KindMicroService, map[string]any{"image": "a"}))
		m.Provider = stacks.Provider{Name: "aws", Region: "eu-west-1"}
		return m
	}
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: aws(map[string]any{"engine": "postgres"})}); err != nil {
		t.Fatal(err)
	}
	for _, req := range []Request{
		{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true},
		{Key: key, Operation: statestore.OpApply, Desired: model(comp("api", stacks.KindMicroService, map[string]any{"image": "a"})), AllowDestroy: true},
	} {
		before := eng.ups + eng.destroys
		_, err := Run(ctx, rt, req)
		if err == nil {
			t.Fatalf("%s of a protected database: no error", req.Operation)
		}
		for _, want := range []string{`Database "db", deployed with deletionProtection on`, "spec.overrides.db.deletionProtection: false in environments/dev.yaml", "panka apply -s shop -e dev", "Nothing was changed"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q\nlacks %q", req.Operation, err, want)
			}
		}
		if eng.ups+eng.destroys != before {
			t.Errorf("%s: engine ran although RDS would refuse the delete", req.Operation)
		}
	}
	// Step 1, then step 2.
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: aws(map[string]any{"engine": "postgres", "deletionProtection": false})}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpDestroy, AllowDestroy: true}); err != nil {
		t.Fatalf("destroy of an unprotected database: %v", err)
	}
	if eng.destroys != 1 {
		t.Errorf("engine destroys = %d, want 1", eng.destroys)
	}
}

// TestRunStopsOnUnreadableFailedRun: the components a failed run may have
// created are planned from its history record. One unreadable record
// among the newest ones made failedRuns read nothing: the plan left out
// the Database the failed run created, and the apply that no longer has
// it deleted it, unconfirmed and without --allow-destroy. It now stops,
// naming the record; a bad record older than the last successful
// deployment does not count.
func TestRunStopsOnUnreadableFailedRun(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	web := comp("web", stacks.KindWorker, map[string]any{"image": "web:1"})
	db := comp("db", stacks.KindDatabase, map[string]any{"engine": "postgres"})
	for i := 0; i < 2; i++ { // serials 1 and 2
		if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: model(web)}); err != nil {
			t.Fatal(err)
		}
	}
	eng.upErr = errors.New("interrupted after creating db")
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: model(web, db)}); err == nil {
		t.Fatal("apply with db: want the engine's error")
	}
	eng.upErr = nil
	dir := store.(*local.Store).Dir()
	recs, err := store.History(ctx, key, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := func(serial int64) string {
		t.Helper()
		for _, r := range recs {
			if r.Serial == serial {
				name, err := statestore.HistoryName(r)
				if err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, "state", filepath.FromSlash(statestore.HistoryPrefix("", key)), name)
				if err := os.WriteFile(p, []byte("{not json"), 0o644); err != nil {
					t.Fatal(err)
				}
				return name
			}
		}
		t.Fatalf("no record with serial %d", serial)
		return ""
	}

	// Older than the last successful deployment (serial 2): db is still
	// planned as left by the failed run, so dropping it is refused.
	corrupt(1)
	var prot *ProtectedError
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: model(web)}); !errors.As(err, &prot) {
		t.Fatalf("apply without db, an old record unreadable: err %v, want db protected", err)
	}
	// The successful deployment's record unreadable: whether failed runs
	// came before it cannot be known, so the run stops, naming it.
	name := corrupt(2)
	_, err = Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: model(web), AllowDestroy: true})
	if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "since its last successful deployment") ||
		!strings.Contains(err.Error(), "stops here, before planning") || !strings.Contains(err.Error(), "(its last run, serial 3, failed)") || eng.ups != 2 {
		t.Fatalf("apply, the record before the failed run unreadable: err %v, %d engine runs; want it stopped, naming %s", err, eng.ups, name)
	}
	st, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	deployed, err := planner.DecodeModel(st.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := Planned(ctx, store, key, st, deployed, model(web), nil); err == nil || !strings.Contains(err.Error(), name) {
		t.Errorf("Planned: err %v, want the unreadable record named", err)
	}
}

// TestRunWaitsForAKilledRunsPulumi: the recovery of a killed run finds
// that run's Pulumi still holding the stack's Pulumi lock on this host (a
// real process here): its panka was killed, and its engine is stopping
// it cleanly. Without a wait (--lock-timeout 0) the run is refused,
// saying --lock-timeout waits for it; with one it waits, saying so once,
// and deploys when that process ends; it gives up when the wait runs out.
// The run was refused whatever the wait, and had to be re-run.
func TestRunWaitsForAKilledRunsPulumi(t *testing.T) {
	busy := func(t *testing.T) (*exec.Cmd, *fakeEngine) {
		t.Helper()
		old := exec.Command("sleep", "60")
		if err := old.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = old.Process.Kill(); _ = old.Wait() })
		since := time.Now()
		eng := &fakeEngine{}
		eng.recover = func(context.Context) (*engine.Recovery, error) {
			if engine.HolderAlive(old.Process.Pid, since) {
				return nil, &engine.PulumiBusyError{Stack: "shop-dev", PID: old.Process.Pid, Since: since, Lock: "/x/.pulumi/locks/a.json"}
			}
			return &engine.Recovery{}, nil
		}
		return old, eng
	}
	desired := model(comp("jobs", stacks.KindQueue, map[string]any{}))
	req := Request{Key: key, Operation: statestore.OpApply, Desired: desired}

	t.Run("no wait", func(t *testing.T) {
		old, eng := busy(t)
		rt, _ := newRuntime(t, eng)
		_, err := Run(context.Background(), rt, req)
		var pb *engine.PulumiBusyError
		want := fmt.Sprintf("held by pulumi pid %d on this host", old.Process.Pid)
		if !errors.As(err, &pb) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "or re-run with --lock-timeout (e.g. --lock-timeout 10m), which waits for it") {
			t.Fatalf("err = %v, want the busy Pulumi named (%q) and --lock-timeout", err, want)
		}
		if eng.ups != 0 {
			t.Errorf("up ran %d times alongside the earlier run's Pulumi", eng.ups)
		}
	})

	t.Run("waits", func(t *testing.T) {
		old, eng := busy(t)
		rt, _ := newRuntime(t, eng)
		rt.WaitStale = time.Minute
		var mu sync.Mutex
		var logged []string
		rt.Logf = func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			logged = append(logged, fmt.Sprintf(format, args...))
			if strings.HasPrefix(logged[len(logged)-1], "waiting up to") {
				// It ends once the wait is said, as a clean stop would.
				_ = old.Process.Kill()
			}
		}
		if _, err := Run(context.Background(), rt, req); err != nil {
			t.Fatalf("run after the earlier run's Pulumi ended: %v", err)
		}
		if eng.ups != 1 {
			t.Errorf("up ran %d times, want 1", eng.ups)
		}
		want := fmt.Sprintf("waiting up to 1m0s for pulumi pid %d of an earlier run of shop/dev to end: it still holds the stack's Pulumi lock on this host", old.Process.Pid)
		if len(logged) == 0 || !strings.HasPrefix(logged[0], want) {
			t.Errorf("said %q, want first %q", logged, want)
		}
	})

	t.Run("busy about an ended holder", func(t *testing.T) {
		// The engine keeps naming a holder that has ended (a lock file
		// whose pid HolderAlive cannot see): the wait asks it again at
		// most every 250 ms, not back to back, and gives up in time.
		old, eng := busy(t)
		_ = old.Process.Kill()
		_ = old.Wait()
		var calls atomic.Int32
		eng.recover = func(context.Context) (*engine.Recovery, error) {
			calls.Add(1)
			return nil, &engine.PulumiBusyError{Stack: "shop-dev", PID: old.Process.Pid, Since: time.Now(), Lock: "/x/.pulumi/locks/a.json"}
		}
		rt, _ := newRuntime(t, eng)
		rt.WaitStale = time.Second
		_, err := Run(context.Background(), rt, req)
		var pb *engine.PulumiBusyError
		if !errors.As(err, &pb) || !strings.Contains(err.Error(), "(gave up after waiting 1s)") {
			t.Fatalf("err = %v, want the busy Pulumi, given up after the wait", err)
		}
		if n := calls.Load(); n > 6 {
			t.Errorf("the engine was asked %d times in a 1 s wait, want at most one a 250 ms pause", n)
		}
	})

	t.Run("gives up", func(t *testing.T) {
		_, eng := busy(t)
		rt, _ := newRuntime(t, eng)
		rt.WaitStale = 300 * time.Millisecond
		_, err := Run(context.Background(), rt, req)
		var pb *engine.PulumiBusyError
		if !errors.As(err, &pb) || !strings.Contains(err.Error(), "(gave up after waiting 300ms)") {
			t.Fatalf("err = %v, want the busy Pulumi, given up after the wait", err)
		}
	})

	// --lock-timeout bounds the wait for the lease and this one together:
	// with the whole of it here too, a run waited up to twice what was
	// asked.
	t.Run("what the lease wait left", func(t *testing.T) {
		old, eng := busy(t)
		rt, _ := newRuntime(t, eng)
		rt.WaitStale, rt.WaitedForLock = time.Minute, 45*time.Second
		var said []string
		rt.Logf = func(format string, args ...any) {
			said = append(said, fmt.Sprintf(format, args...))
			_ = old.Process.Kill()
		}
		if _, err := Run(context.Background(), rt, req); err != nil {
			t.Fatalf("run after the earlier run's Pulumi ended: %v", err)
		}
		if len(said) == 0 || !strings.HasPrefix(said[0], "waiting up to 15s for pulumi pid") {
			t.Errorf("said %q, want it to wait what is left of --lock-timeout 1m0s after 45s for the lock (15s)", said)
		}
	})

	t.Run("lease wait used it all", func(t *testing.T) {
		_, eng := busy(t)
		rt, _ := newRuntime(t, eng)
		rt.WaitStale, rt.WaitedForLock = 2*time.Second, 2*time.Second
		start := time.Now()
		_, err := Run(context.Background(), rt, req)
		var pb *engine.PulumiBusyError
		if !errors.As(err, &pb) || !strings.Contains(err.Error(), "(gave up: --lock-timeout 2s ran out, 2s of it spent waiting for the lock)") {
			t.Fatalf("err = %v, want the busy Pulumi, given up as the lock wait used --lock-timeout", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("waited %s more after the lock wait had used --lock-timeout 2s", took)
		}
	})
}

// TestRunNumbersAfterTheSerialMark: drift checks numbered the state past
// its last deployment (serials 2 and 3, no history record), then
// state.json was restored to its earlier version (serial 1), the repair
// statestore.RestoreHint names: the next apply recorded serial 2 again. It
// numbers after the serial mark; so does one over a lost state.json.
func TestRunNumbersAfterTheSerialMark(t *testing.T) {
	rt, store := newRuntime(t, &fakeEngine{})
	ctx := context.Background()
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{"fifo": false}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1, Source: Source{Commit: strings.Repeat("a", 40)}}); err != nil {
		t.Fatal(err)
	}
	first, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Now() }
	var v statestore.Version
	for range 2 {
		if _, v, err = statestore.Update(ctx, store, key, now, func(st *statestore.State) error {
			st.LastDriftCheck = &statestore.DriftCheck{At: now()}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Put(ctx, key, first, v); err != nil { // restored to serial 1
		t.Fatal(err)
	}
	res, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1, Source: Source{Commit: strings.Repeat("b", 40)}})
	if err != nil || res.Deployment.Serial != 4 {
		t.Fatalf("apply over the restored state: %+v, %v; want serial 4, after the drift checks' 3", res, err)
	}
}

// assetsWebCheckpoint is a local target's checkpoint holding assets and web,
// both created before applied, assets last modified then and web at
// webModified; with pendingMedia, a create of media left pending.
func assetsWebCheckpoint(applied, webModified time.Time, pendingMedia bool) func(context.Context) ([]byte, error) {
	const typ = "pankalocal:index:Component"
	root := "urn:pulumi:shop-dev::panka::pulumi:pulumi:Stack::panka-shop-dev"
	res := func(name string, at time.Time) string {
		return fmt.Sprintf(`{"urn":"urn:pulumi:shop-dev::panka::%s::%s","type":%q,"parent":%q,"created":%q,"modified":%q}`,
			typ, name, typ, root, applied.Add(-time.Second).Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
	}
	pending := ""
	if pendingMedia {
		pending = fmt.Sprintf(`,"pending_operations":[{"resource":{"urn":"urn:pulumi:shop-dev::panka::%s::media","parent":%q},"type":"creating"}]`, typ, root)
	}
	doc := fmt.Sprintf(`{"version":3,"checkpoint":{"latest":{"resources":[{"urn":%q,"type":"pulumi:pulumi:Stack"},%s,%s]%s}}}`,
		root, res("assets", applied.Add(-time.Second)), res("web", webModified), pending)
	return func(context.Context) ([]byte, error) { return []byte(doc), nil }
}

// TestDoneByFailedRuns: after a failed apply, the plan (against the
// recorded spec) names the changes the engine made already, as Pulumi's
// checkpoint shows them: a component modified (web) or left pending
// (media) since the failed run started, not one it left as it was
// (assets), nor one Planned already planned against that run (skip).
func TestDoneByFailedRuns(t *testing.T) {
	ctx := context.Background()
	eng := &fakeEngine{}
	rt, _ := newRuntime(t, eng)
	v1 := model(comp("assets", stacks.KindBucket, map[string]any{"versioning": true}), comp("web", stacks.KindWorker, map[string]any{"image": "web:1"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	st, _, err := rt.Store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	deployed, err := planner.DecodeModel(st.Spec)
	if err != nil {
		t.Fatal(err)
	}
	v2 := model(comp("assets", stacks.KindBucket, map[string]any{"versioning": false}),
		comp("media", stacks.KindBucket, map[string]any{"versioning": false}), comp("web", stacks.KindWorker, map[string]any{"image": "web:2"}))
	p := planner.Plan(v2, deployed, planner.Options{})
	applied := rt.Now()
	if got := DoneByFailedRuns(ctx, rt.Store, key, st, p, nil, assetsWebCheckpoint(applied, applied.Add(time.Hour), true)); got != nil {
		t.Errorf("after a successful deployment: %v, want none", got)
	}

	eng.upErr = errors.New("pankalocal: injected failure")
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2}); err == nil {
		t.Fatal("the failing apply succeeded")
	}
	if st, _, err = rt.Store.Get(ctx, key); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		checkpoint func(context.Context) ([]byte, error)
		skip       []string
		want       []string
	}{
		{"web modified, media pending", assetsWebCheckpoint(applied, applied.Add(time.Hour), true), nil, []string{"media", "web"}},
		{"web planned against the run", assetsWebCheckpoint(applied, applied.Add(time.Hour), true), []string{"web"}, []string{"media"}},
		{"nothing reached", assetsWebCheckpoint(applied, applied.Add(-time.Second), false), nil, nil},
		{"no checkpoint to read", nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DoneByFailedRuns(ctx, rt.Store, key, st, p, tc.skip, tc.checkpoint); !slices.Equal(got, tc.want) {
				t.Errorf("DoneByFailedRuns = %v, want %v", got, tc.want)
			}
		})
	}
	if w := DoneWarning(key, st, []string{"media", "web"}, "this apply"); !strings.Contains(w, "changed (or was changing) media, web in the engine before it stopped") || !strings.Contains(w, "this apply changes only what is left") {
		t.Errorf("DoneWarning = %q", w)
	}

	// A component the plan keeps that the checkpoint no longer holds was
	// deleted by the failed run (a destroy that stopped part way): the
	// engine creates it again, whatever the plan's action.
	full := assetsWebCheckpoint(applied, applied.Add(time.Hour), false)
	b, _ := full(ctx)
	noWeb := func(context.Context) ([]byte, error) {
		return []byte(regexp.MustCompile(`,\{"urn":"[^"]*::web"[^}]*\}`).ReplaceAllString(string(b), "")), nil
	}
	if got := GoneByFailedRuns(ctx, rt.Store, key, st, p, nil, noWeb); !slices.Equal(got, []string{"web"}) {
		t.Errorf("GoneByFailedRuns without web in the checkpoint = %v, want [web] (not media, a create)", got)
	}
	if got := GoneByFailedRuns(ctx, rt.Store, key, st, p, []string{"web"}, noWeb); got != nil {
		t.Errorf("GoneByFailedRuns skipping web = %v, want none", got)
	}
	if got := GoneByFailedRuns(ctx, rt.Store, key, st, p, nil, full); got != nil {
		t.Errorf("GoneByFailedRuns with every component in the checkpoint = %v, want none", got)
	}
	if w := GoneWarning(key, st, []string{"web"}, "this apply"); !strings.Contains(w, "deleted web before it stopped") || !strings.Contains(w, "but this apply creates it again") {
		t.Errorf("GoneWarning = %q", w)
	}
}

// TestKnownOutputs: a plan compares references by the recorded outputs
// only when they are what the engine holds: a successful deployment that
// no drift check found changed since.
func TestKnownOutputs(t *testing.T) {
	outs := map[string]map[string]any{"q": {"url": "local://s/e/q"}}
	for _, tc := range []struct {
		name string
		st   *statestore.State
		want bool
	}{
		{"no state", nil, false},
		{"deployed", &statestore.State{Status: statestore.StatusDeployed, Outputs: outs}, true},
		{"checked, no drift", &statestore.State{Status: statestore.StatusDeployed, Outputs: outs, LastDriftCheck: &statestore.DriftCheck{}}, true},
		{"drifted", &statestore.State{Status: statestore.StatusDeployed, Outputs: outs, LastDriftCheck: &statestore.DriftCheck{Drifted: []string{"q"}}}, false},
		{"failed", &statestore.State{Status: statestore.StatusFailed, Outputs: outs}, false},
	} {
		if got := KnownOutputs(tc.st); (got != nil) != tc.want {
			t.Errorf("%s: KnownOutputs = %v, want known %v", tc.name, got, tc.want)
		}
	}
}

// TestRunKeepsWhatItClearedWhenRefused: a run that clears a killed run's
// Pulumi lock and is then refused before its engine runs (here: Pulumi's
// state holds no resources while the state records deployed ones)
// records no deployment, and the next run finds nothing left to clear.
// What it cleared is kept in the state as it clears it, and the record of
// the next deployment carries it (Recovered.Earlier); what a clear that
// failed part way removed is kept too.
func TestRunKeepsWhatItClearedWhenRefused(t *testing.T) {
	eng := &fakeEngine{}
	rt, store := newRuntime(t, eng)
	ctx := context.Background()
	v1 := model(comp("jobs", stacks.KindQueue, map[string]any{}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v1}); err != nil {
		t.Fatal(err)
	}
	lock := engine.StaleLock{Path: ".pulumi/locks/organization/panka/shop-dev/1.json", PID: 4242, Username: "bob", Hostname: "ci"}
	none := 0
	eng.recovered = &engine.Recovery{Locks: []engine.StaleLock{lock}, Resources: &none}
	rt.LockID = "lock-2"
	v2 := model(comp("jobs", stacks.KindQueue, map[string]any{}), comp("web", stacks.KindWorker, map[string]any{"image": "web:1"}))
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2}); err == nil || !strings.Contains(err.Error(), "holds no resources") {
		t.Fatalf("apply over an empty Pulumi state: %v, want it refused", err)
	}
	st, _, err := store.Get(ctx, key)
	if err != nil || st.LastDeployment.Serial != 1 || len(st.Recoveries) != 1 {
		t.Fatalf("state after the refused run: %+v, %v; want what it cleared kept", st, err)
	}
	if k := st.Recoveries[0]; k.Operation != "apply" || k.LockID != "lock-2" || len(k.Cleared.PulumiLocks) != 1 || k.Cleared.PulumiLocks[0].PID != 4242 {
		t.Errorf("kept = %+v, want the refused apply's removal of pid 4242's Pulumi lock", k)
	}

	// The next one clears part of what is left, then fails.
	lock2 := engine.StaleLock{Path: ".pulumi/locks/organization/panka/shop-dev/2.json", PID: 4343}
	eng.recovered = nil
	eng.recover = func(context.Context) (*engine.Recovery, error) {
		return &engine.Recovery{Locks: []engine.StaleLock{lock2}}, errors.New("import Pulumi state without pending operations: access denied")
	}
	rt.LockID = "lock-3"
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2}); err == nil || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("apply whose clear fails part way: %v", err)
	}
	eng.recover = nil
	rt.LockID = "lock-4"
	if _, err := Run(ctx, rt, Request{Key: key, Operation: statestore.OpApply, Desired: v2}); err != nil {
		t.Fatal(err)
	}
	hist, err := store.History(ctx, key, 0, 0)
	if err != nil || len(hist) != 3 {
		t.Fatalf("history: %d records, %v", len(hist), err)
	}
	// The failed run's record says what it removed before it failed, and
	// what the refused run before it removed.
	failed := hist[1].Recovered
	if hist[1].Result != statestore.ResultFailed || failed == nil || len(failed.PulumiLocks) != 1 || failed.PulumiLocks[0].PID != 4343 ||
		len(failed.Earlier) != 1 || failed.Earlier[0].LockID != "lock-2" {
		t.Errorf("the failed run's record: %s, recovered %+v", hist[1].Result, failed)
	}
	st, _, err = store.Get(ctx, key)
	if err != nil || len(st.Recoveries) != 0 || st.LastDeployment.Recovered != nil {
		t.Errorf("state after the deploying run: %+v, %v; want the recoveries taken by the failed run's record", st, err)
	}
}
