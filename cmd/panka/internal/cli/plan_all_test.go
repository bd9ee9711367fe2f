package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
)

// TestPlanAllChanged plans every changed stack/environment between two
// commits under one summary; a removed environment plans as a destroy.
func TestPlanAllChanged(t *testing.T) {
	r := newPlanRepo(t)
	r.deploy("orders", "stacks/orders", "dev", 4, nil)
	r.deploy("user-platform", "stacks/user-platform", "staging", 9, map[string]string{"SIGNING_KEY": "k"})
	r.Write("stacks/orders/infra/events.yaml", strings.Replace(r.read("stacks/orders/infra/events.yaml"), "visibilityTimeout: 60", "visibilityTimeout: 90", 1))
	r.Remove("stacks/user-platform/environments/staging.yaml")
	r.Commit("orders: longer visibility; drop user-platform staging")

	out, errOut, code := r.run(r.env(), "plan", "--all-changed", "--base", "HEAD~1", "--detailed-exitcode")
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s\nstdout:\n%s", code, errOut, out)
	}
	for _, w := range []string{
		"Plan for orders/dev", "Plan for orders/production", "Plan for orders/staging",
		"Destroy plan for user-platform/staging",
		"orders/dev: Plan: 0 to create, 1 to update, 0 to delete",
		"DATA LOSS: users-db (Database) will be deleted",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Count(out, "\nPlan: ") != 1 {
		t.Errorf("want exactly one overall summary line:\n%s", out)
	}

	out, errOut, code = r.run(r.env(), "plan", "--all-changed", "--base", "HEAD~1", "-o", "json")
	if code != 0 {
		t.Fatalf("json: exit %d: %s", code, errOut)
	}
	var all planner.All
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(all.Plans) != 4 || all.Summary.Update != 1 || all.Summary.Delete == 0 {
		t.Errorf("json: %d plans, summary %+v", len(all.Plans), all.Summary)
	}

	// Nothing changed between a commit and itself.
	out, _, code = r.run(r.env(), "plan", "--all-changed", "--base", "HEAD", "--detailed-exitcode")
	if code != 0 || !strings.Contains(out, "No changed stacks to plan.") {
		t.Errorf("empty range: exit %d:\n%s", code, out)
	}
}

// fillerStack writes stack f<i> (three environments, one service whose
// environment takes LEVEL) under stacks/filler.
func fillerStack(r *planRepo, i int, level, image string) {
	dir := fmt.Sprintf("stacks/filler/f%04d", i)
	r.WriteFile(dir+"/stack.yaml", fmt.Sprintf("apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: f%04d\nspec:\n  provider:\n    name: local\n  variables:\n    LEVEL:\n      default: info\n", i))
	for _, e := range []string{"dev", "staging", "prod"} {
		r.WriteFile(dir+"/environments/"+e+".yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: "+e+"\nspec:\n  variables:\n    LEVEL: "+level+"\n")
	}
	r.WriteFile(dir+"/services/api/service.yaml", "apiVersion: core.panka.io/v1\nkind: Service\nmetadata:\n  name: api\nspec: {}\n---\napiVersion: core.panka.io/v1\nkind: MicroService\nmetadata:\n  name: api\nspec:\n  image: "+image+"\n  port: 8080\n  env:\n    LEVEL: ${LEVEL}\n")
}

// TestPlanAllChangedManyInOrder: plans run concurrently but print in the
// order of the change list, whatever finishes first; a stack that cannot
// be planned is reported once per environment, in its place, and the others
// are planned.
func TestPlanAllChangedManyInOrder(t *testing.T) {
	r := newPlanRepo(t)
	for i := 0; i < 40; i++ {
		fillerStack(r, i, "info", "nginx:1.0")
	}
	r.Git("add", "-A")
	r.Commit("40 stacks")
	for i := 0; i < 40; i++ {
		image := "nginx:1.0"
		if i == 17 {
			image = "nginx:${NO_SUCH_VARIABLE}"
		}
		fillerStack(r, i, "debug", image)
	}
	r.Git("add", "-A")
	r.Commit("40 stacks changed")
	r.deploy("f0003", "stacks/filler/f0003", "dev", 2, nil)
	out, errOut, code := r.run(r.env(), "plan", "--all-changed", "--base", "HEAD~1")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one stack fails):\n%s\n%s", code, out, errOut)
	}
	var got, want []string
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "Plan for "); ok {
			got = append(got, strings.Fields(rest)[0])
		}
	}
	for i := 0; i < 40; i++ {
		if i == 17 {
			continue
		}
		for _, e := range []string{"dev", "prod", "staging"} {
			want = append(want, fmt.Sprintf("f%04d/%s", i, e))
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("plans in this order:\n%v\nwant\n%v", got, want)
	}
	if n := strings.Count(errOut, "Error: plan f0017/"); n != 3 || !strings.Contains(errOut, "3 of 120 changed stack environments could not be planned") {
		t.Errorf("stderr: %d plan errors for f0017, want 3:\n%s", n, errOut)
	}
	if !strings.Contains(out, "f0003/dev: No changes.") {
		t.Errorf("f0003/dev is deployed as head has it: want no changes:\n%s", out)
	}
}

// TestCachedStores: stacks whose configurations resolve alike share one
// store; another backend opens its own.
func TestCachedStores(t *testing.T) {
	opened := 0
	open := cachedStores(func(ctx context.Context, cfg *config.Resolved) (statestore.Store, error) {
		opened++
		return local.New(local.Options{Dir: t.TempDir(), Prefix: cfg.Backend.Prefix})
	})
	mk := func(prefix string) *config.Resolved {
		c := &config.Resolved{Config: config.Default(), Sources: map[string]config.Source{}}
		c.Backend.Prefix = prefix
		return c
	}
	a1, _ := open(context.Background(), mk(""))
	a2, _ := open(context.Background(), mk(""))
	b, _ := open(context.Background(), mk("team-b"))
	if opened != 2 || a1 != a2 || a1 == b {
		t.Errorf("opened %d stores (want 2); same config shares: %v; other backend apart: %v", opened, a1 == a2, a1 != b)
	}
}

// BenchmarkPlanAllChanged is plan --all-changed in a repository of 1,000
// stacks where 10 changed (30 stack/environments planned): finding the
// stacks (every stack.yaml read) happens once per run, not once per plan,
// and so does opening the work tree view those are read from (the whole
// staging index read: 158 ms a run when it was opened once per plan).
func BenchmarkPlanAllChanged(b *testing.B) {
	r := newPlanRepo(b)
	filler := func(i int, level string) { fillerStack(r, i, level, "nginx:1.0") }
	for i := 0; i < 1000; i++ {
		filler(i, "info")
	}
	r.Git("add", "-A")
	r.Commit("1,000 stacks")
	for i := 0; i < 1000; i += 100 {
		filler(i, "debug")
	}
	r.Git("add", "-A")
	r.Commit("10 stacks changed")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, errOut, code := r.run(r.env(), "plan", "--all-changed", "--base", "HEAD~1")
		if code != 0 || strings.Count(out, "Plan for f") != 30 {
			b.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
	b.ReportMetric(30, "plans")
}
