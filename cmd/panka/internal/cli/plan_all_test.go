package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"panka.dev/panka/deployer/planner"
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

// BenchmarkPlanAllChanged is plan --all-changed in a repository of 1,000
// stacks where 10 changed (30 stack/environments planned): finding the
// stacks (every stack.yaml read) happens once per run, not once per plan.
func BenchmarkPlanAllChanged(b *testing.B) {
	r := newPlanRepo(b)
	filler := func(i int, level string) {
		dir := fmt.Sprintf("stacks/filler/f%04d", i)
		r.WriteFile(dir+"/stack.yaml", fmt.Sprintf("apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: f%04d\nspec:\n  provider:\n    name: local\n  variables:\n    LEVEL:\n      default: info\n", i))
		for _, e := range []string{"dev", "staging", "prod"} {
			r.WriteFile(dir+"/environments/"+e+".yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: "+e+"\nspec:\n  variables:\n    LEVEL: "+level+"\n")
		}
		r.WriteFile(dir+"/services/api/service.yaml", "apiVersion: core.panka.io/v1\nkind: Service\nmetadata:\n  name: api\nspec: {}\n---\napiVersion: core.panka.io/v1\nkind: MicroService\nmetadata:\n  name: api\nspec:\n  image: nginx:1.0\n  port: 8080\n  env:\n    LEVEL: ${LEVEL}\n")
	}
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
