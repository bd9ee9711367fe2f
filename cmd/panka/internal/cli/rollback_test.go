package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
)

func TestRollbackVars(t *testing.T) {
	const pass = "rollback test passphrase"
	key := planner.DeriveSecretKey(pass)
	secret := stacks.HashSensitive(key, "DB_PASSWORD", "hunter2").Hash
	rec := &statestore.Deployment{Serial: 4, Vars: map[string]string{"IMAGE_TAG": "1.4.0", "DB_PASSWORD": secret}}
	tests := []struct {
		name     string
		given    stacks.VarValues
		force    bool
		wantEnv  map[string]string
		wantErr  string
		wantWarn string
	}{
		{name: "secret missing", given: stacks.VarValues{}, wantErr: "used secret variables DB_PASSWORD; history keeps only their hashes"},
		{name: "recorded values fill in", given: stacks.VarValues{Env: map[string]string{"DB_PASSWORD": "hunter2"}},
			wantEnv: map[string]string{"DB_PASSWORD": "hunter2", "IMAGE_TAG": "1.4.0"}},
		{name: "given value wins with a warning", given: stacks.VarValues{Flags: map[string]string{"IMAGE_TAG": "2.0.0", "DB_PASSWORD": "hunter2"}},
			wantEnv: map[string]string{}, wantWarn: `IMAGE_TAG="2.0.0" differs from the value "1.4.0"`},
		{name: "secret differs", given: stacks.VarValues{Flags: map[string]string{"DB_PASSWORD": "other"}},
			wantErr: "secret variables DB_PASSWORD are not the ones"},
		{name: "secret differs, forced", given: stacks.VarValues{File: map[string]string{"DB_PASSWORD": "other"}}, force: true,
			wantEnv: map[string]string{"IMAGE_TAG": "1.4.0"}, wantWarn: "deploying the values given now because of --force"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, _, errOut := Test()
			f := NewFactory(ios)
			f.Environ = func() []string { return []string{"PULUMI_CONFIG_PASSPHRASE=" + pass} }
			got, err := rollbackVars(f, statestore.Key{Stack: "shop", Environment: "dev"}, strings.Repeat("a", 40), rec, tc.given, nil, tc.force)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("the error shows a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Env, tc.wantEnv) {
				t.Errorf("env layer = %v, want %v", got.Env, tc.wantEnv)
			}
			if !strings.Contains(errOut.String(), tc.wantWarn) || (tc.wantWarn == "" && errOut.Len() > 0) {
				t.Errorf("stderr = %q, want %q", errOut.String(), tc.wantWarn)
			}
			if strings.Contains(errOut.String(), "hunter2") || strings.Contains(errOut.String(), "other\"") {
				t.Errorf("stderr shows a secret: %q", errOut.String())
			}
		})
	}
}

func TestPreviousDeployment(t *testing.T) {
	spec := func(s string) json.RawMessage { return json.RawMessage(`{"v":"` + s + `"}`) }
	ok := statestore.ResultSucceeded
	hist := []*statestore.Deployment{ // newest first
		{Serial: 6, Operation: statestore.OpApply, Result: ok, Commit: "c4", Spec: spec("b")},
		{Serial: 5, Operation: statestore.OpApply, Result: statestore.ResultFailed, Commit: "c3", Spec: spec("c")},
		{Serial: 4, Operation: statestore.OpApply, Result: ok, Commit: "c2", Spec: spec("b")},
		{Serial: 3, Operation: statestore.OpDestroy, Result: ok},
		{Serial: 2, Operation: statestore.OpRollback, Result: ok, Commit: "c1", Spec: spec("a")},
		{Serial: 1, Operation: statestore.OpApply, Result: ok, Commit: "c0", Spec: spec("z")},
	}
	tests := []struct {
		name    string
		current *statestore.Deployment
		want    int64
	}{
		{"skips failures, destroys and the same spec", hist[0], 2},
		{"from an older current", hist[4], 1},
		{"nothing before the first", hist[5], 0},
		{"nothing deployed: the newest successful", nil, 6},
	}
	store := historyStore(t, hist)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := previousDeployment(context.Background(), &historyPages{store: store, key: historyKey}, tc.current)
			if err != nil {
				t.Fatal(err)
			}
			var serial int64
			if got != nil {
				serial = got.Serial
			}
			if serial != tc.want {
				t.Errorf("previous = %d, want %d", serial, tc.want)
			}
		})
	}
}

// TestPreviousDeploymentClockSkew: history is ordered by serial, not by the
// clocks of the runners that wrote it. Serial 6 was written by a runner
// whose clock is behind, so its record's time is before serial 5's: the
// previous deployment of 7 is still 6, and the newest record is 7.
func TestPreviousDeploymentClockSkew(t *testing.T) {
	spec := func(s string) json.RawMessage { return json.RawMessage(`{"v":"` + s + `"}`) }
	ok := statestore.ResultSucceeded
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hist := []*statestore.Deployment{ // newest first
		{Serial: 7, Operation: statestore.OpApply, Result: ok, Commit: "c7", Spec: spec("7"), StartedAt: at.Add(20 * time.Minute)},
		{Serial: 6, Operation: statestore.OpApply, Result: ok, Commit: "c6", Spec: spec("6"), StartedAt: at.Add(5 * time.Minute)},
		{Serial: 5, Operation: statestore.OpApply, Result: ok, Commit: "c5", Spec: spec("5"), StartedAt: at.Add(10 * time.Minute)},
		{Serial: 4, Operation: statestore.OpApply, Result: ok, Commit: "c4", Spec: spec("4"), StartedAt: at},
	}
	store := historyStore(t, hist)
	ctx := context.Background()
	got, err := previousDeployment(ctx, &historyPages{store: store, key: historyKey}, hist[0])
	if err != nil || got == nil || got.Serial != 6 {
		t.Errorf("previous of serial 7 = %v, %v; want serial 6", got, err)
	}
	got, err = previousDeployment(ctx, &historyPages{store: store, key: historyKey}, nil)
	if err != nil || got == nil || got.Serial != 7 {
		t.Errorf("newest successful = %v, %v; want serial 7", got, err)
	}
}

var historyKey = statestore.Key{Stack: "shop", Environment: "dev"}

// historyStore is a local state store holding hist (newest first) as the
// history of historyKey; records without StartedAt start a minute apart.
func historyStore(t *testing.T, hist []*statestore.Deployment) *countingStore {
	t.Helper()
	st, err := local.New(local.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := len(hist) - 1; i >= 0; i-- {
		d := *hist[i]
		d.SchemaVersion, d.Stack, d.Environment = statestore.SchemaVersion, historyKey.Stack, historyKey.Environment
		d.ID = fmt.Sprintf("d%d", d.Serial)
		if d.StartedAt.IsZero() {
			d.StartedAt = at.Add(time.Duration(d.Serial) * time.Minute)
		}
		d.EndedAt = d.StartedAt.Add(time.Second)
		if err := st.AppendHistory(context.Background(), historyKey, &d); err != nil {
			t.Fatal(err)
		}
	}
	return &countingStore{Store: st}
}

// TestRollbackReadsHistoryAsFarAsNeeded: in a history of 500 deployments
// the previous one, a commit deployed recently and a missing serial's
// error read one page of records; a commit never deployed reads them all
// and names the newest deployed commits.
func TestRollbackReadsHistoryAsFarAsNeeded(t *testing.T) {
	ctx := context.Background()
	var hist []*statestore.Deployment
	for n := int64(500); n >= 1; n-- {
		hist = append(hist, &statestore.Deployment{Serial: n, Operation: statestore.OpApply, Result: statestore.ResultSucceeded,
			Commit: fmt.Sprintf("%040x", n), Spec: json.RawMessage(fmt.Sprintf(`{"v":%d}`, n))})
	}
	store := historyStore(t, hist)
	h := &historyPages{store: store, key: historyKey}
	prev, err := previousDeployment(ctx, h, hist[0])
	if err != nil || prev == nil || prev.Serial != 499 || store.read > historyPage {
		t.Errorf("previous: %v %v after reading %d records", prev, err, store.read)
	}
	store.read = 0
	h = &historyPages{store: store, key: historyKey}
	serials, err := listSerials(ctx, h)
	if err != nil || !strings.HasPrefix(serials, "500 (apply succeeded), 499 ") || !strings.HasSuffix(serials, ", and older ones") || store.read > historyPage {
		t.Errorf("serials %q %v after reading %d records", serials, err, store.read)
	}
	// Every record, once, newest first, in a few calls (pages grow).
	store.read, store.calls = 0, 0
	h = &historyPages{store: store, key: historyKey}
	var seen []int64
	if err := h.each(ctx, func(d *statestore.Deployment) bool { seen = append(seen, d.Serial); return true }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 500 || seen[0] != 500 || seen[499] != 1 || store.read != 500 || store.calls > 5 {
		t.Errorf("each: %d records (%v … %v), %d read in %d calls", len(seen), seen[:1], seen[len(seen)-1:], store.read, store.calls)
	}
}

// TestDeploymentOfStopsAtCommitDate: looking for the deployment of a
// commit never deployed reads the records down to the commit's date (less
// the clock slack), not a history of a deployment a day for 500 days; with
// no date it reads them all; a deployment started up to the slack before
// the commit's date (a clock behind) is found.
func TestDeploymentOfStopsAtCommitDate(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	day := func(n int64) time.Time { return at.Add(time.Duration(n) * 24 * time.Hour) }
	var hist []*statestore.Deployment
	for n := int64(500); n >= 1; n-- {
		hist = append(hist, &statestore.Deployment{Serial: n, Operation: statestore.OpApply, Result: statestore.ResultSucceeded,
			Commit: fmt.Sprintf("%040x", n), StartedAt: day(n)})
	}
	store := historyStore(t, hist)
	never := strings.Repeat("f", 40)
	rec, deployed, err := deploymentOf(ctx, &historyPages{store: store, key: historyKey}, never, day(490).Add(-deployClockSlack))
	if err != nil || rec != nil || len(deployed) != 7 || !strings.HasPrefix(deployed[0], short(fmt.Sprintf("%040x", 500))) || store.read > historyPage {
		t.Errorf("never deployed: %v %v %v after reading %d records, want nil, 7 commits, one page at most", rec, deployed, err, store.read)
	}
	store.read = 0
	rec, _, err = deploymentOf(ctx, &historyPages{store: store, key: historyKey}, never, time.Time{})
	if err != nil || rec != nil || store.read != 500 {
		t.Errorf("no date: %v %v after reading %d records, want all 500", rec, err, store.read)
	}
	// A commit dated 30 days after the newest record (a wrong clock): its
	// date sets no limit, and its deployment, 100 records back, is found
	// (it was "never deployed").
	store.read = 0
	nb := deployedNotBefore(day(530), day(500))
	rec, _, err = deploymentOf(ctx, &historyPages{store: store, key: historyKey}, fmt.Sprintf("%040x", 400), nb)
	if !nb.IsZero() || err != nil || rec == nil || rec.Serial != 400 {
		t.Errorf("commit dated ahead: not before %v, %v %v, want no limit and serial 400", nb, rec, err)
	}
	if nb := deployedNotBefore(day(503), day(500)); !nb.Equal(day(496)) {
		t.Errorf("commit dated 3 days ahead: not before %v, want %v (the slack still applies)", nb, day(496))
	}
	// Serial 480 started 6 days before its commit's date, by its clock.
	rec, _, err = deploymentOf(ctx, &historyPages{store: store, key: historyKey}, fmt.Sprintf("%040x", 480), day(486).Add(-deployClockSlack))
	if err != nil || rec == nil || rec.Serial != 480 {
		t.Errorf("clock behind: %v %v, want serial 480", rec, err)
	}
}

func TestPromoteSource(t *testing.T) {
	from := statestore.Key{Stack: "shop", Environment: "staging"}
	good := &statestore.Deployment{Serial: 3, Operation: statestore.OpApply, Result: statestore.ResultSucceeded, Commit: strings.Repeat("c", 40)}
	failed := &statestore.Deployment{Serial: 4, Operation: statestore.OpApply, Result: statestore.ResultFailed, Commit: strings.Repeat("d", 40), Error: "provider error\nmore"}
	dirty := *good
	dirty.Dirty = true
	partial := *good
	partial.TargetComponents = []string{"web"}
	tests := []struct {
		name    string
		st      *statestore.State
		want    int64
		wantErr string
	}{
		{"last succeeded", &statestore.State{Status: statestore.StatusDeployed, LastDeployment: good}, 3, ""},
		{"last failed", &statestore.State{Status: statestore.StatusFailed, LastDeployment: failed, LastSuccessful: good}, 0,
			"the last deployment to shop/staging (serial 4, apply of commit dddddddddddd) failed: provider error; fix staging first"},
		{"destroyed", &statestore.State{Status: statestore.StatusDestroyed, LastDeployment: &statestore.Deployment{Serial: 5, Operation: statestore.OpDestroy, Result: statestore.ResultSucceeded}}, 0,
			"shop/staging has nothing deployed"},
		{"dirty", &statestore.State{Status: statestore.StatusDeployed, LastDeployment: &dirty}, 0, "runs uncommitted changes"},
		{"partial", &statestore.State{Status: statestore.StatusDeployed, LastDeployment: &partial}, 0,
			"shop/staging runs a partial deployment of cccccccccccc (serial 3 deployed only web with --target-component"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := promoteSource(tc.st, from)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Serial != tc.want {
				t.Errorf("serial = %d, want %d", got.Serial, tc.want)
			}
		})
	}
}

func TestSensitiveFields(t *testing.T) {
	r := &stacks.Resolved{Components: []stacks.Component{
		{Name: "api", Spec: map[string]any{"env": map[string]any{"A": "plain", "KEY": "sensitive:hmac-sha256:00"}, "args": []any{"x", "sensitive:sha256:11"}}},
		{Name: "db", Spec: map[string]any{"engine": "postgres"}},
	}}
	got := sensitiveFields(r)
	want := []string{"api.spec.args[1]", "api.spec.env.KEY"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sensitiveFields = %v, want %v", got, want)
	}
}

// TestPromoteVarNotes: promote resolves the target with its own variables,
// so a value the source's deployment was given on its command line (an
// image tag from CI) is not what the target gets; promote deployed the
// stack default instead without a word. Each such variable is named, with
// the value to pass; one given now, or resolving alike, is not.
func TestPromoteVarNotes(t *testing.T) {
	key := planner.DeriveSecretKey("promote test passphrase")
	rec := &statestore.Deployment{Serial: 8, Environment: "staging", Vars: map[string]string{
		"IMAGE":     "shop:tested-77",
		"REGION":    "eu-west-1",
		"TAG":       "7",
		"API_KEY":   stacks.HashSensitive(key, "API_KEY", "k1").Hash,
		"GONE":      "x",
		"FLAG_ONLY": "yes",
	}}
	target := &stacks.Resolved{Variables: []stacks.ResolvedVar{
		{Name: "IMAGE", Value: "shop:1.0", Source: "default"},
		{Name: "REGION", Value: "eu-west-1", Source: "environment"},
		{Name: "TAG", Value: "8", Source: "flag"},
		{Name: "API_KEY", Value: stacks.HashSensitive(key, "API_KEY", "none"), Source: "default", Secret: true},
		{Name: "FLAG_ONLY", Source: "unset"},
	}}
	got := promoteVarNotes(rec, target, map[string]string{"TAG": "8"}, nil, "production")
	want := []string{
		`secret variable API_KEY was given to the deployment of staging (serial 8) and not to this promote, so production takes it from the stack's default; to deploy the same value, give it again (--var API_KEY=..., --var-file or PANKA_VAR_API_KEY)`,
		`the deployment of staging (serial 8) was given FLAG_ONLY="yes", this promote was not, so production takes FLAG_ONLY from nothing (unset): ""; to deploy what staging runs, pass --var FLAG_ONLY="yes"`,
		`the deployment of staging (serial 8) was given IMAGE="shop:tested-77", this promote was not, so production takes IMAGE from the stack's default: "shop:1.0"; to deploy what staging runs, pass --var IMAGE="shop:tested-77"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("notes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := promoteVarNotes(&statestore.Deployment{Environment: "staging"}, target, nil, nil, "production"); len(n) != 0 {
		t.Fatalf("a source deployed without outside variables: %q", n)
	}
}

// TestRollbackToPreviousNothingBefore: the refusal names the deployment
// that is deployed now; it named the state's serial as "the current one",
// which after a failed or interrupted run is that run, not what is
// deployed, and said "before the current one" when nothing was deployed.
// After an interrupted run, the previous deployment is the last successful
// one (it was refused as "nothing before"): here its commit is read from
// git, which this folder is not.
func TestRollbackToPreviousNothingBefore(t *testing.T) {
	ctx := context.Background()
	rec := func(serial int, op, result string) string {
		return fmt.Sprintf(`{"schemaVersion": 1, "id": "d%d", "serial": %d, "stack": "orders", "environment": "dev", "operation": %q,
  "commit": "abcdef0123456789abcdef0123456789abcdef01", "user": "dev", "host": "h", "pankaVersion": "t",
  "startedAt": "2026-01-02T03:04:05Z", "endedAt": "2026-01-02T03:05:05Z", "result": %q}`, serial, serial, op, result)
	}
	for _, tc := range []struct{ name, state, want string }{
		{"deployed, then a destroy interrupted",
			`{"schemaVersion": 1, "serial": 3, "stack": "orders", "environment": "dev", "status": "failed",
 "lastSuccessful": ` + rec(1, "apply", "succeeded") + `, "lastDeployment": ` + rec(3, "destroy", "interrupted") + `,
 "resources": {"components": 0, "resources": 0}, "updatedAt": "2026-01-02T03:05:05Z"}`,
			"rollback of orders/dev: --to-commit abcdef0123456789abcdef0123456789abcdef01 reads that commit's YAML from git: open repository at "},
		{"deployed once",
			`{"schemaVersion": 1, "serial": 1, "stack": "orders", "environment": "dev", "status": "deployed",
 "lastDeployment": ` + rec(1, "apply", "succeeded") + `, "resources": {"components": 0, "resources": 0}, "updatedAt": "2026-01-02T03:05:05Z"}`,
			"orders/dev has no successful deployment before the one deployed now (serial 1, apply of commit abcdef012345) with a different spec: there is nothing to roll back to"},
		{"only a failed run",
			`{"schemaVersion": 1, "serial": 2, "stack": "orders", "environment": "dev", "status": "failed",
 "lastDeployment": ` + rec(2, "apply", "failed") + `, "resources": {"components": 0, "resources": 0}, "updatedAt": "2026-01-02T03:05:05Z"}`,
			"orders/dev has no successful deployment to roll back to (state serial 3, status failed): there is nothing to roll back to; deploy it with panka apply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, dir := stLocalFactory(t)
			doc := filepath.Join(dir, "s.json")
			if err := os.WriteFile(doc, []byte(tc.state), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := statePushRun(ctx, &StatePushOptions{F: f, File: doc}); err != nil {
				t.Fatal(err)
			}
			err := rollbackRun(ctx, &RollbackOptions{F: f, Stack: "orders", Environment: "dev", ToPrevious: true})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("rollback --to-previous:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestPromoteStillCurrent: promote read the source's deployment before it
// waited for the target's lock, and shipped it even when the source had
// been deployed again meanwhile (three promotes queued behind each other
// all shipped the commit staging ran when they started). Under the lease
// the source is read again: the same deployment passes (a drift check
// that only moved the serial too); another one, none, or a failure since
// (which promote refuses to start from) is refused.
func TestPromoteStillCurrent(t *testing.T) {
	from := statestore.Key{Stack: "shop", Environment: "staging"}
	rec := &statestore.Deployment{ID: "d9", Serial: 9, Operation: statestore.OpApply, Result: statestore.ResultSucceeded,
		Commit: "abcdef0123456789abcdef0123456789abcdef01", User: "alice"}
	newer := &statestore.Deployment{ID: "d11", Serial: 11, Operation: statestore.OpApply, Result: statestore.ResultSucceeded,
		Commit: "0123456789abcdef0123456789abcdef01234567", User: "bob"}
	failed := &statestore.Deployment{ID: "d12", Serial: 12, Operation: statestore.OpApply, Result: statestore.ResultFailed, Error: "boom"}
	destroy := &statestore.Deployment{ID: "d13", Serial: 13, Operation: statestore.OpDestroy, Result: statestore.ResultSucceeded}
	for _, tc := range []struct {
		name string
		now  *statestore.State
		want string
	}{
		{"unchanged", &statestore.State{Serial: 9, Status: statestore.StatusDeployed, LastDeployment: rec}, ""},
		{"drift check moved the serial", &statestore.State{Serial: 10, Status: statestore.StatusDeployed, LastDeployment: rec}, ""},
		{"a failed run since", &statestore.State{Serial: 12, Status: statestore.StatusFailed, LastDeployment: failed, LastSuccessful: rec},
			"the last deployment to shop/staging (serial 12, apply of commit (no commit)) failed: boom; fix staging first (panka status --stack shop --environment staging)"},
		{"deployed again", &statestore.State{Serial: 11, Status: statestore.StatusDeployed, LastDeployment: newer},
			"it now runs serial 11 (apply of commit 0123456789ab by bob)"},
		{"destroyed", &statestore.State{Serial: 13, Status: statestore.StatusDestroyed, LastDeployment: destroy, LastSuccessful: destroy},
			"shop/staging has nothing deployed (status destroyed): there is nothing to promote"},
		{"state gone", nil, "its state was removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := promoteStillCurrent(from, "production", rec, tc.now)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			want := "shop/staging changed while this promote waited for the lock of production: it was read at serial 9 (commit abcdef012345), and " + tc.want +
				"; nothing was promoted. See panka status --stack shop, then run the promote again to promote what staging runs now"
			if err == nil || err.Error() != want {
				t.Fatalf("got  %v\nwant %s", err, want)
			}
		})
	}
}

// TestNotTheCommit: the deployments whose commit's YAML is not what they
// ran, which rollback --to-previous redeploys from their recorded spec.
func TestNotTheCommit(t *testing.T) {
	for _, tc := range []struct {
		rec  statestore.Deployment
		want string
	}{
		{statestore.Deployment{}, ""},
		{statestore.Deployment{Dirty: true}, "was deployed from uncommitted changes (dirty)"},
		{statestore.Deployment{TargetComponents: []string{"api", "db"}}, "deployed only api, db of its commit (--target-component)"},
	} {
		if got := notTheCommit(&tc.rec); got != tc.want {
			t.Errorf("notTheCommit(%+v) = %q, want %q", tc.rec, got, tc.want)
		}
	}
}

// TestRollbackStillCurrent: a rollback that waited for the lock refuses
// when a deployment happened meanwhile, but not when only a drift check
// (which holds the same lease and moves the serial) ran: it refused "the
// state went from serial 9 to 10" after waiting for panka drift detect.
func TestRollbackStillCurrent(t *testing.T) {
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	rec := &statestore.Deployment{ID: "d9", Serial: 9, Operation: statestore.OpApply, Result: statestore.ResultSucceeded,
		Commit: "abcdef0123456789abcdef0123456789abcdef01", User: "alice"}
	newer := &statestore.Deployment{ID: "d10", Serial: 10, Operation: statestore.OpApply, Result: statestore.ResultSucceeded,
		Commit: "0123456789abcdef0123456789abcdef01234567", User: "bob"}
	failed := &statestore.Deployment{ID: "d10", Serial: 10, Operation: statestore.OpApply, Result: statestore.ResultFailed, User: "bob"}
	read := &statestore.State{Serial: 9, Status: statestore.StatusDeployed, LastDeployment: rec}
	for _, tc := range []struct {
		name string
		now  *statestore.State
		want string
	}{
		{"unchanged", read, ""},
		{"drift check moved the serial", &statestore.State{Serial: 10, Status: statestore.StatusDeployed, LastDeployment: rec,
			LastDriftCheck: &statestore.DriftCheck{Drifted: []string{"web"}}}, ""},
		{"deployed again", &statestore.State{Serial: 10, Status: statestore.StatusDeployed, LastDeployment: newer},
			"it went from serial 9 to 10 (apply of commit 0123456789ab by bob, succeeded)"},
		{"a failed run since", &statestore.State{Serial: 10, Status: statestore.StatusFailed, LastDeployment: failed, LastSuccessful: rec},
			"it went from serial 9 to 10 (apply of commit (no commit) by bob, failed)"},
		{"state gone", nil, "its state was removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := rollbackStillCurrent(key, read, tc.now)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "changed while this rollback waited for the lock: "+tc.want+"; nothing was rolled back") {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestPromoteWarnsOfSourceBeingDeployed: a promote while a run deploys the
// source environment says that it ships what the source ran before that
// run (it said nothing: a user who had just started staging's deployment
// promoted the old commit). A drift check holding the lease is no reason.
func TestPromoteWarnsOfSourceBeingDeployed(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		op   string
		warn bool
	}{{"apply", true}, {"rollback", true}, {"drift", false}} {
		t.Run(tc.op, func(t *testing.T) {
			f, _, _, errOut := lockTestFactory(t)
			cfg, err := f.Config()
			if err != nil {
				t.Fatal(err)
			}
			from := statestore.Key{Stack: "shop", Environment: "staging"}
			rec := &statestore.Deployment{Serial: 7, Commit: "abcdef0123456789abcdef0123456789abcdef01"}
			warnSourceBusy(ctx, f, cfg, from, "production", rec)
			if errOut.Len() != 0 {
				t.Fatalf("source not locked: %q", errOut)
			}
			lease, err := f.AcquireLease(ctx, cfg, "shop", "staging", tc.op, "1234567890abcdef1234567890abcdef12345678", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.ReleaseLease(lease)
			warnSourceBusy(ctx, f, cfg, from, "production", rec)
			got := errOut.String()
			if !tc.warn {
				if got != "" {
					t.Fatalf("a %s holds the lease: %q, want no warning", tc.op, got)
				}
				return
			}
			for _, want := range []string{"shop/staging is being deployed now (" + tc.op + " of commit 1234567890ab by os-user, since ",
				"this promotes to production what staging ran before it (serial 7, commit abcdef012345); to ship what that run deploys, wait for it and promote again"} {
				if !strings.Contains(got, want) {
					t.Errorf("warning %q lacks %q", got, want)
				}
			}
		})
	}
}

// --to-version of a spec holding secret hashes says exactly which
// rollback can deploy it: the commit, with the secret variables the
// deployment was given from outside (not those its YAML gives), or, for
// a deployment of files no commit holds, that none can.
func TestSecretRecordError(t *testing.T) {
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	sha := strings.Repeat("c", 40)
	fields := []string{"web.spec.env.API_KEY"}
	rec := &statestore.Deployment{Serial: 4, Commit: sha, Vars: map[string]string{
		"TAG": "v7", "API_KEY": "sensitive:hmac-sha256:v2:00", "DB_PASS": "sensitive:hmac-sha256:v2:01"}}
	got := secretRecordError(key, rec, fields).Error()
	for _, want := range []string{
		"deployment 4 of shop/dev holds secret values (web.spec.env.API_KEY)",
		"giving again the secret variables deployment 4 was given (API_KEY, DB_PASS)",
		"as PANKA_VAR_API_KEY, PANKA_VAR_DB_PASS",
		"\n  panka rollback --stack shop --environment dev --to-commit " + sha + " --var API_KEY=... --var DB_PASS=...\n",
		"(git fetch origin " + sha + ")",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "TAG") {
		t.Errorf("names a variable that is not secret:\n%s", got)
	}
	got = secretRecordError(key, &statestore.Deployment{Serial: 2, Commit: sha}, fields).Error()
	if !strings.Contains(got, "its secret values come from the YAML of that commit:\n  panka rollback --stack shop --environment dev --to-commit "+sha+"\n") {
		t.Errorf("secrets from the YAML:\n%s", got)
	}
	got = secretRecordError(key, &statestore.Deployment{Serial: 3}, fields).Error()
	if !strings.Contains(got, "made from files no commit holds") || strings.Contains(got, "--to-commit") {
		t.Errorf("no commit:\n%s", got)
	}
}
