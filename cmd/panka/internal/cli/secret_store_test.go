package cli

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
)

// TestPlanReadsDeployedSecretsFromTheRunsStore: the read of the deployed
// record's secret variables (28e74fb) built a store of its own with
// Factory.Store instead of the plan's OpenStore: plan --all-changed, which
// keeps one store per backend, built a new one (AWS configuration, S3
// client) for every stack environment whenever a variable was given
// (PANKA_VAR_* in CI), and was 30-80% slower on S3. The read now goes
// through the plan's store: here, a store elsewhere than the work tree's
// .panka/ holds API_TOKEN deployed as secret, and the plan keeps it so.
func TestPlanReadsDeployedSecretsFromTheRunsStore(t *testing.T) {
	r := &planRepo{Repo: gittest.New(t), t: t}
	r.WriteFile("stacks/shop/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: shop\nspec:\n  provider:\n    name: local\n  variables:\n    API_TOKEN: {required: true}\n")
	r.WriteFile("stacks/shop/environments/dev.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec: {}\n")
	r.WriteFile("stacks/shop/services/web/service.yaml", "apiVersion: core.panka.io/v1\nkind: Service\nmetadata:\n  name: web\nspec: {}\n---\n"+
		"apiVersion: core.panka.io/v1\nkind: Worker\nmetadata:\n  name: web\nspec:\n  image: busybox\n  env:\n    API_TOKEN: ${API_TOKEN}\n")
	r.Git("add", "-A")
	r.Commit("shop")

	store, err := local.New(local.Options{Dir: filepath.Join(t.TempDir(), "elsewhere")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	ended := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	rec := &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: "d1", Serial: 1, Stack: "shop", Environment: "dev",
		Operation: statestore.OpApply, Commit: r.Head().String(), User: "alice", StartedAt: ended.Add(-time.Minute), EndedAt: ended,
		Result: statestore.ResultSucceeded, Vars: map[string]string{"API_TOKEN": "sensitive:hmac-sha256:0123456789abcdef"}}
	st := &statestore.State{SchemaVersion: statestore.SchemaVersion, Serial: 1, Stack: "shop", Environment: "dev",
		Status: statestore.StatusDeployed, LastDeployment: rec, UpdatedAt: ended}
	if _, err := store.Put(ctx, key, st, ""); err != nil {
		t.Fatal(err)
	}

	ios, _, out, errOut := Test()
	f := NewFactory(ios)
	f.Getwd = func() (string, error) { return r.Dir, nil }
	f.Home = func() (string, error) { return r.Dir + "/.home", nil }
	env := r.env()
	f.Environ = func() []string { return env }
	var opened atomic.Int32
	open := func(context.Context, *config.Resolved) (statestore.Store, error) {
		opened.Add(1)
		return store, nil
	}
	opts := &PlanOptions{F: f, OpenStore: open, Stack: "shop", Environment: "dev", Vars: varFlags{Vars: []string{"API_TOKEN=hunter2"}}}
	if err := planRun(ctx, opts); err != nil {
		t.Fatalf("plan: %v\n%s", err, errOut)
	}
	if strings.Contains(out.String()+errOut.String(), "hunter2") {
		t.Errorf("the plan printed the value of API_TOKEN, deployed as secret in the plan's store:\n%s%s", out, errOut)
	}
	if opened.Load() < 2 {
		t.Errorf("OpenStore called %d times: the deployed record's secrets were not read through it", opened.Load())
	}
}
