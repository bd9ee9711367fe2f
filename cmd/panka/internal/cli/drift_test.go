package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/locker"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

// TestDriftCheckLostLeaseRecordsNothing: drift detect whose lease was lost
// meanwhile (force-unlocked, here by another client, and possibly taken by
// another run) must not write the check to state: the new holder owns it,
// and a write here would make the new holder's own write fail after its
// engine ran. While the lease is held the check is recorded.
func TestDriftCheckLostLeaseRecordsNothing(t *testing.T) {
	ctx := context.Background()
	f, _, _, _ := lockTestFactory(t)
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	store, err := f.Store(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	if _, err := store.Put(ctx, key, &statestore.State{SchemaVersion: statestore.SchemaVersion, Serial: 1, Stack: "shop", Environment: "dev", Status: statestore.StatusDeployed}, ""); err != nil {
		t.Fatal(err)
	}
	checkedAt := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	rep := driftReport{Stack: "shop", Environment: "dev", Serial: 1, CheckedAt: checkedAt, Drifted: []string{"web"}}

	lease, err := f.AcquireLease(ctx, cfg, "shop", "dev", "drift", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.ReleaseLease(lease)
	if notRecorded, err := recordDriftCheck(ctx, f, cfg, store, lease, key, rep); err != nil || notRecorded != nil {
		t.Fatalf("record with the lease held: %v, %v", notRecorded, err)
	}
	st, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Serial != 2 || st.LastDriftCheck == nil || !st.LastDriftCheck.At.Equal(checkedAt) {
		t.Fatalf("state after a check under the lease: serial %d, drift check %+v; want serial 2 with the check", st.Serial, st.LastDriftCheck)
	}

	other, err := f.Locker(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.ForceRelease(ctx, locker.Key("shop", "dev")); err != nil {
		t.Fatal(err)
	}
	rep.CheckedAt, rep.Drifted = checkedAt.Add(time.Hour), nil
	_, err = recordDriftCheck(ctx, f, cfg, store, lease, key, rep)
	if !errors.Is(err, locker.ErrLost) {
		t.Fatalf("record after a force unlock: %v, want ErrLost", err)
	}
	for _, want := range []string{"the drift check of shop/dev was not recorded in its state: the lock lease was lost",
		"nobody holds the lock now (it was removed, e.g. by panka unlock --force)", "see panka status --stack shop, then re-run panka drift detect"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	st, _, err = store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Serial != 2 || !st.LastDriftCheck.At.Equal(checkedAt) {
		t.Fatalf("state after a check with a lost lease: serial %d, drift check %+v; want serial 2 and the earlier check, untouched", st.Serial, st.LastDriftCheck)
	}
}

// failingPuts is a store whose writes fail (a state backend that stopped
// answering between the read and the write of a run).
type failingPuts struct{ statestore.Store }

func (failingPuts) Put(context.Context, statestore.Key, *statestore.State, statestore.Version) (statestore.Version, error) {
	return "", errors.New("PutObject: 503 Service Unavailable")
}

// TestDriftCheckNotRecorded: drift detect that found drift but could not
// record it in state fails (exit 1), naming what it found and to check
// again: the next apply refreshes, and so puts the drift back, only when
// state lists it. It printed a warning and exited 0 (or 2), and the next
// apply said "no changes". A check that found nothing only warns.
func TestDriftCheckNotRecorded(t *testing.T) {
	ctx := context.Background()
	f, _, _, _ := lockTestFactory(t)
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	store, err := f.Store(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	if _, err := store.Put(ctx, key, &statestore.State{SchemaVersion: statestore.SchemaVersion, Serial: 1, Stack: "shop", Environment: "dev", Status: statestore.StatusDeployed}, ""); err != nil {
		t.Fatal(err)
	}
	lease, err := f.AcquireLease(ctx, cfg, "shop", "dev", "drift", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.ReleaseLease(lease)
	rep := driftReport{Stack: "shop", Environment: "dev", Serial: 1, CheckedAt: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Drifted: []string{"web"}, Refresh: []string{"db"}}
	notRecorded, err := recordDriftCheck(ctx, f, cfg, failingPuts{store}, lease, key, rep)
	if err != nil || notRecorded == nil {
		t.Fatalf("record into a failing store: %v, %v; want the write's error as notRecorded", notRecorded, err)
	}
	err = unrecordedDrift(f, key, rep, notRecorded)
	if err == nil {
		t.Fatal("drift found and not recorded: no error")
	}
	for _, want := range []string{"the drift found in shop/dev (web, db) was not recorded in its state (PutObject: 503 Service Unavailable)",
		"the next apply would not refresh from the real resources", "panka drift detect --stack shop --environment dev again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	rep.Drifted, rep.Refresh = nil, nil
	if err := unrecordedDrift(f, key, rep, notRecorded); err != nil {
		t.Fatalf("no drift found, not recorded: %v, want a warning only", err)
	}
	if st, _, err := store.Get(ctx, key); err != nil || st.Serial != 1 || st.LastDriftCheck != nil {
		t.Fatalf("state after failed records: %+v, %v; want serial 1 untouched", st, err)
	}
}

// TestDriftStoppedByLostLease: a drift check whose lease is lost while the
// engine refreshes is cancelled; the engine then says only "interrupted
// (Ctrl-C or a stop signal)". The error leads with the lost lease instead.
func TestDriftStoppedByLostLease(t *testing.T) {
	ctx := context.Background()
	f, _, _, _ := lockTestFactory(t)
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	lease, err := f.AcquireLease(ctx, cfg, "shop", "dev", "drift", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.ReleaseLease(lease)
	engineErr := errors.New("refresh shop/dev: refresh on stack \"shop-dev\" interrupted (Ctrl-C or a stop signal)")
	if err := driftStopped(lease.Context(), f, cfg, lease, key, engineErr); err != engineErr {
		t.Fatalf("with the lease held: %v, want the engine's error as it is", err)
	}
	other, err := f.Locker(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.ForceRelease(ctx, locker.Key("shop", "dev")); err != nil {
		t.Fatal(err)
	}
	if err := lease.Check(ctx); !errors.Is(err, locker.ErrLost) { // as the heartbeat finds it
		t.Fatalf("check after a force unlock: %v", err)
	}
	err = driftStopped(lease.Context(), f, cfg, lease, key, engineErr)
	if !errors.Is(err, locker.ErrLost) {
		t.Fatalf("lease lost: %v, want ErrLost", err)
	}
	if want := "the drift check of shop/dev was stopped: its lock lease was lost while the engine ran (lease on stack:shop:env:dev lost"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	for _, want := range []string{"nobody holds the lock now", "re-run panka drift detect"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "Ctrl-C") {
		t.Errorf("error %q blames Ctrl-C for a lost lease", err)
	}
}

// TestDriftReportOrderAndText: the engine reports drifted resources in the
// order it finished refreshing them, which varies between runs; text and
// -o json list them in one stable order (component, then URN). A resource
// without property diffs (one that is gone) prints no empty list.
func TestDriftReportOrderAndText(t *testing.T) {
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	const typ = "pankalocal:index:Component"
	steps := []engine.Step{
		{Component: "web", URN: "urn:pulumi:dev::shop::" + typ + "::web", Type: typ, Name: "web", Op: "update", Diffs: []string{"spec.replicas"}},
		{Component: "orders", URN: "urn:pulumi:dev::shop::" + typ + "::orders", Type: typ, Name: "orders", Op: "same"},
		{Component: "assets", URN: "urn:pulumi:dev::shop::" + typ + "::assets", Type: typ, Name: "assets", Op: "delete"},
		{Component: "api", URN: "urn:pulumi:dev::shop::" + typ + "::api", Type: typ, Name: "api", Op: "update", Diffs: []string{"spec.image", "spec.port"}},
	}
	rev := append([]engine.Step(nil), steps...)
	slices.Reverse(rev)
	for name, in := range map[string][]engine.Step{"engine order": steps, "reversed": rev} {
		rep := newDriftReport(key, at, in)
		var js bytes.Buffer
		if err := json.NewEncoder(&js).Encode(rep); err != nil {
			t.Fatal(err)
		}
		var decoded driftReport
		if err := json.Unmarshal(js.Bytes(), &decoded); err != nil {
			t.Fatal(err)
		}
		var jsonOrder []string
		for _, r := range decoded.Resources {
			jsonOrder = append(jsonOrder, r.Component)
		}
		if want := []string{"api", "assets", "web"}; !slices.Equal(jsonOrder, want) {
			t.Errorf("%s: -o json lists %v, want %v", name, jsonOrder, want)
		}
		rep.setRemediation("0123456789abcdef0123456789abcdef01234567")
		var text bytes.Buffer
		writeDriftText(&text, rep)
		want := "Drift in shop/dev: 3 resources of 3 components differ from what panka deployed:\n" +
			"  api  " + typ + " (update): spec.image, spec.port\n" +
			"  assets  " + typ + " (delete: it no longer exists)\n" +
			"  web  " + typ + " (update): spec.replicas\n" +
			"Re-apply the deployed commit to put them back: panka apply --stack shop --environment dev --ref 0123456789abcdef0123456789abcdef01234567\n"
		if got := text.String(); got != want {
			t.Errorf("%s: text\n%s\nwant\n%s", name, got, want)
		}
	}

	// one resource: "1 resource(s) of 1 component(s) differ ... put them back"
	var one bytes.Buffer
	single := newDriftReport(key, at, []engine.Step{steps[0]})
	single.setRemediation("c")
	writeDriftText(&one, single)
	if got, want := one.String(), "Drift in shop/dev: 1 resource of 1 component differs from what panka deployed:\n"+
		"  web  "+typ+" (update): spec.replicas\n"+
		"Re-apply the deployed commit to put it back: panka apply --stack shop --environment dev --ref c\n"; got != want {
		t.Errorf("one resource: text\n%s\nwant\n%s", got, want)
	}

	var text bytes.Buffer
	clean := newDriftReport(key, at, []engine.Step{steps[1]})
	clean.setRemediation("c")
	writeDriftText(&text, clean)
	if got, want := text.String(), "No drift: shop/dev matches what panka deployed.\n"; got != want {
		t.Errorf("no drift: text %q, want %q", got, want)
	}
}

// TestDriftAddRefreshed: an apply that refreshed to undo drift and then
// was refused took the drift into the engine's state, so the next refresh
// saw none and drift detect said "No drift". The components the last
// check found are compared with the deployed spec by the preview of
// re-applying it: what it still changes is reported (a create is a
// resource that is gone); other components' preview steps are not drift.
func TestDriftAddRefreshed(t *testing.T) {
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	const typ = "pankalocal:index:Component"
	urn := func(c string) string { return "urn:pulumi:shop-dev::panka::" + typ + "::" + c }
	rep := newDriftReport(key, time.Now(), nil)
	steps := []engine.Step{
		{Component: "db", URN: urn("db"), Type: typ, Op: "replace", Diffs: []string{"spec"}},
		{Component: "web", URN: urn("web"), Type: typ, Op: "replace"},
		{Component: "orders", URN: urn("orders"), Type: typ, Op: "create"},
		{Component: "other", URN: urn("other"), Type: typ, Op: "update"},
	}
	rep.addRefreshed(steps, []string{"db", "orders", "web"})
	rep.markReplacements(steps, &stacks.Resolved{Components: []stacks.Component{{Name: "db", Kind: stacks.KindDatabase}, {Name: "web", Kind: stacks.KindMicroService}}})
	if want := []string{"db", "orders", "web"}; !slices.Equal(rep.Drifted, want) {
		t.Fatalf("drifted %v, want %v", rep.Drifted, want)
	}
	got := map[string]driftEntry{}
	for _, r := range rep.Resources {
		got[r.Component] = r
	}
	if r := got["db"]; r.Op != "replace" || !r.DataLoss || r.Kind != "Database" {
		t.Errorf("db: %+v, want a replace with data loss", r)
	}
	if r := got["web"]; r.Op != "replace" || r.DataLoss {
		t.Errorf("web: %+v, want a replace without data loss", r)
	}
	if r := got["orders"]; r.Op != "delete" {
		t.Errorf("orders: %+v, want delete (gone)", r)
	}
	rep.setRemediation("c0ffee")
	if want := "panka apply --stack shop --environment dev --ref c0ffee --allow-replace"; rep.Remediation != want {
		t.Errorf("remediation %q, want %q", rep.Remediation, want)
	}
}

// TestDriftWithoutPreview: with secrets in the deployed spec there is no
// preview of re-applying it. A drifted field that panka registers as
// replacing (a Queue's fifo, lost to garbage) is a replace, with
// --allow-replace in the advice (it said update, and the apply was
// refused); a field changed in place stays an update; a component the
// last check found drifted whose resource the refresh now finds as the
// engine's state has it (a refused apply took the drift into that state)
// stays reported, uncompared (it said "No drift", and the drift was lost).
func TestDriftWithoutPreview(t *testing.T) {
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	const typ = "pankalocal:index:Component"
	urn := func(c string) string { return "urn:pulumi:shop-dev::panka::" + typ + "::" + c }
	deployed := &stacks.Resolved{Components: []stacks.Component{{Name: "jobs", Kind: stacks.KindQueue}, {Name: "web", Kind: stacks.KindWorker},
		{Name: "db", Kind: stacks.KindDatabase}, {Name: "cache", Kind: stacks.KindCache}}}
	rep := newDriftReport(key, time.Now(), []engine.Step{
		{Component: "jobs", URN: urn("jobs"), Type: typ, Op: "update", Diffs: []string{"spec.fifo", "spec.pankalocal:unparseable"}},
		{Component: "web", URN: urn("web"), Type: typ, Op: "update", Diffs: []string{"spec.replicas"}},
	})
	rep.keepUncompared([]engine.Step{
		{Component: "db", URN: urn("db"), Type: typ, Op: "same"},
		{Component: "cache", URN: urn("cache"), Type: typ, Op: "same"},
		{Component: "web", URN: urn("web"), Type: typ, Op: "same"},
	}, []string{"db", "web"})
	rep.markForcedReplacements(deployed)
	if want := []string{"db", "jobs", "web"}; !slices.Equal(rep.Drifted, want) {
		t.Fatalf("drifted %v, want %v", rep.Drifted, want)
	}
	got := map[string]driftEntry{}
	for _, r := range rep.Resources {
		got[r.Component] = r
	}
	if r := got["jobs"]; r.Op != "replace" || !r.DataLoss || r.Kind != "Queue" {
		t.Errorf("jobs: %+v, want a replace with data loss", r)
	}
	if r := got["web"]; r.Op != "update" || r.DataLoss || r.Uncompared {
		t.Errorf("web: %+v, want an update", r)
	}
	if r := got["db"]; r.Op != "update" || !r.Uncompared || r.Kind != "Database" {
		t.Errorf("db: %+v, want an uncompared update", r)
	}
	rep.setRemediation("c0ffee")
	if want := "panka apply --stack shop --environment dev --ref c0ffee --allow-replace"; rep.Remediation != want {
		t.Errorf("remediation %q, want %q", rep.Remediation, want)
	}
}

// TestDriftAfterUnfinishedDestroy: a destroy stopped midway (SIGTERM after
// its first delete) keeps the deployed spec in state while the engine has
// deleted some or all of the components. drift detect refused then with
// "Pulumi's state ... was lost" (nothing left), or would have found no
// drift in what was left. It says the destroy did not finish and how to go
// on, before starting the engine, and records nothing.
func TestDriftAfterUnfinishedDestroy(t *testing.T) {
	ctx := context.Background()
	f, _, _, _ := lockTestFactory(t)
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	store, err := f.Store(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	deployed := &stacks.Resolved{Stack: "shop", Environment: "dev", Components: []stacks.Component{
		{Name: "shop-db", Kind: stacks.KindDatabase, Spec: map[string]any{"engine": "postgres"}},
		{Name: "web", Kind: stacks.KindMicroService, Spec: map[string]any{"image": "web:1"}},
	}}
	const commit = "0123456789abcdef0123456789abcdef01234567"
	started := time.Date(2026, 11, 27, 5, 59, 41, 0, time.UTC)
	apply := &statestore.Deployment{Serial: 1, Operation: statestore.OpApply, Commit: commit, Result: statestore.ResultSucceeded}
	destroy := &statestore.Deployment{Serial: 2, Operation: statestore.OpDestroy, Commit: commit, Result: statestore.ResultInterrupted, StartedAt: started}
	if _, err := store.Put(ctx, key, &statestore.State{SchemaVersion: statestore.SchemaVersion, Serial: 2, Stack: "shop", Environment: "dev",
		Status: statestore.StatusFailed, Spec: deployed.Canonical(), LastDeployment: destroy, LastSuccessful: apply}, ""); err != nil {
		t.Fatal(err)
	}
	err = driftDetectRun(ctx, &DriftOptions{F: f, Stack: "shop", Environment: "dev"})
	if err == nil {
		t.Fatal("drift detect after an interrupted destroy succeeded")
	}
	for _, want := range []string{
		"the last destroy of shop/dev did not finish (interrupted at 2026-11-27T05:59:41Z, state serial 2)",
		"drift cannot be judged",
		"panka destroy --stack shop --environment dev --allow-destroy",
		"panka apply --stack shop --environment dev --ref " + commit,
		"re-run panka drift detect",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "lost") {
		t.Errorf("error %q takes Pulumi's state for lost", err)
	}
	st, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Serial != 2 || st.LastDriftCheck != nil {
		t.Errorf("state after the refusal: serial %d, drift check %+v; want serial 2 and no check recorded", st.Serial, st.LastDriftCheck)
	}
}

// TestDriftEngineStateEmptiedByKilledRun: panka killed during a destroy
// records nothing, while its engine finishes or stops the destroy and
// writes Pulumi's checkpoint. drift detect then refused with "Pulumi's
// state ... was lost", sending the user to restore it. A checkpoint
// written since the last recorded deployment (moved) was not lost: the
// error says a run that recorded nothing emptied it and how to go on. One
// that did not move is still taken for lost, and a checkpoint holding
// resources passes.
func TestDriftEngineStateEmptiedByKilledRun(t *testing.T) {
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	const commit = "0123456789abcdef0123456789abcdef01234567"
	// Serial 6: drift checks (or a run keeping what it cleared) wrote
	// the state after the deployment it records, serial 4.
	st := &statestore.State{Serial: 6, Stack: "shop", Environment: "dev", Status: statestore.StatusDeployed,
		LastDeployment: &statestore.Deployment{Serial: 4, Operation: statestore.OpApply, Commit: commit, Result: statestore.ResultSucceeded}}
	deployed := &stacks.Resolved{Stack: "shop", Environment: "dev", Components: []stacks.Component{
		{Name: "assets", Kind: stacks.KindBucket}, {Name: "web", Kind: stacks.KindMicroService}}}
	none, two := 0, 2
	empty, full := &engine.Recovery{Resources: &none}, &engine.Recovery{Resources: &two}

	err := driftEngineState(key, st, deployed, empty, true)
	if err == nil {
		t.Fatal("an emptied checkpoint passed")
	}
	for _, want := range []string{
		"Pulumi's state of shop/dev holds no resources, and it was written after the last recorded deployment (serial 4) by a run that recorded nothing",
		"its components (assets, web) may be deleted and drift cannot be judged",
		"panka destroy --stack shop --environment dev --allow-destroy",
		"panka apply --stack shop --environment dev --ref " + commit,
		"re-run panka drift detect",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "lost") {
		t.Errorf("error %q takes Pulumi's state for lost", err)
	}
	if err := driftEngineState(key, st, deployed, empty, false); err == nil || !strings.Contains(err.Error(), "or it was lost") {
		t.Errorf("an empty checkpoint not written since: %v, want the lost-state refusal", err)
	}
	if err := driftEngineState(key, st, deployed, full, true); err != nil {
		t.Errorf("a checkpoint holding resources: %v", err)
	}
	if err := driftEngineState(key, st, nil, empty, true); err != nil {
		t.Errorf("nothing deployed: %v", err)
	}
}
