package cli

import (
	"encoding/json"
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
