package changes_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
)

// TestSinceDeployedPerStack: SinceDeployed compares most deployed stacks
// on their own (their folder and watched folders at the two commits); the
// answer, reasons included, must be exactly what a whole comparison of
// each deployed commit gives, in both engines, both modes, with and
// without the work tree, including the cases it hands over (a stack moved,
// renamed, nested, copied, broken, or watching everywhere).
func TestSinceDeployedPerStack(t *testing.T) {
	g, c0 := baseRepo(t)
	seed(g, "stacks/team", "team")
	seed(g, "stacks/team/inner", "inner")
	seed(g, "stacks/search", "search", "'**/schema.graphql'")
	seed(g, "stacks/reports", "reports", "docs/README.md", "shared/*/deny.json")
	g.Write("api/schema.graphql", "type Q { a: Int }\n")
	c0 = g.Commit("more stacks")
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	c1 := g.Commit("orders dev")
	g.Write("stacks/billing/environments/prod.yaml", "# reviewed\n"+envYAML("prod", "  variables:\n    LOG_LEVEL: error\n  overrides:\n    api:\n      image: nginx:0.9\n"))
	c2 := g.Commit("billing comment")
	g.Write("shared/policies/deny.json", `{"deny": true}`)
	c3 := g.Commit("policies")
	seed(g, "stacks/payments", "payments")
	c4 := g.Commit("payments")
	g.Move("stacks/billing", "stacks/finance/billing")
	c5 := g.Commit("move billing")
	g.Remove("stacks/team/stack.yaml")
	g.Remove("stacks/team/services")
	g.Remove("stacks/team/infra")
	g.Remove("stacks/team/environments")
	g.Write("api/schema.graphql", "type Q { a: Int, b: Int }\n")
	g.Write("stacks/team/inner/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	c6 := g.Commit("inner on its own; schema")
	g.Write("stacks/users/stack.yaml", stackYAML("people", "", "shared/policies/**"))
	g.Write("stacks/copy/stack.yaml", stackYAML("payments", ""))
	g.Write("stacks/orders/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:1.1", 1))
	g.Write("docs/README.md", "# docs, edited\n")
	g.Write("stacks/finance/billing/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	c7 := g.Commit("rename users, copy payments, orders image, docs")

	d := listedDeployed{fakeDeployed{
		"orders/dev": c0.String(), "orders/staging": c0.String(), "orders/prod": c1.String(),
		"users/dev": c0.String(), "users/staging": c3.String(), "users/prod": c2.String(),
		"billing/dev": c0.String(), "billing/staging": c5.String(), "billing/prod": c1.String(),
		"payments/dev": c4.String(), "payments/prod": c6.String(),
		"inner/dev": c0.String(), "inner/prod": c6.String(),
		"search/dev": c0.String(), "search/prod": c6.String(),
		"reports/dev": c0.String(), "reports/staging": c6.String(), "reports/prod": c7.String(),
		"people/dev": c7.String(),
	}}
	run := func(repo *gitops.Repo, o changes.Options) string {
		t.Helper()
		res, err := changes.SinceDeployed(context.Background(), repo, d, o)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		var probs []string
		for _, p := range res.Problems {
			probs = append(probs, p.Error())
		}
		b, err := json.MarshalIndent(struct {
			R *changes.Result
			P []string
		}{res, probs}, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	check := func(stage string) {
		t.Helper()
		for _, m := range modes {
			repo, err := gitops.Open(g.Dir, m.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, paths := range []bool{false, true} {
				for _, wt := range []bool{false, true} {
					o := changes.Options{StacksRoot: "stacks", Paths: paths, Uncommitted: wt, NoCache: true}
					got, want := run(repo, o), run(repo, changes.WholeSince(o))
					if got != want {
						t.Errorf("%s %s paths=%v uncommitted=%v: per stack\n%s\nwhole\n%s", stage, m.name, paths, wt, got, want)
					}
				}
			}
			repo.Close()
		}
	}
	check("committed")

	// The work tree: an edit in a stack, a watched file, a deletion, a new stack.
	g.WriteFile("stacks/orders/environments/staging.yaml", envYAML("staging", "  variables:\n    LOG_LEVEL: debug\n"))
	g.WriteFile("shared/policies/allow.json", "{}")
	g.Git("rm", "-q", "stacks/search/environments/prod.yaml")
	g.WriteFile("stacks/fresh/stack.yaml", stackYAML("fresh", ""))
	check("work tree")

	// And the answer itself, for the cases handed over and not.
	repo, err := gitops.Open(g.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	o := changes.Options{StacksRoot: "stacks", Uncommitted: true}
	res, err := changes.SinceDeployed(context.Background(), repo, d, o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"billing moved dev:modified [api]",
		"inner added dev:added,staging:added", // part of team at c0
		"orders modified dev:modified,staging:modified [api]",
		"payments added staging:added",
		"people modified dev:modified,prod:added,staging:added", // watches the new allow.json
		"reports modified dev:modified,staging:modified",
		"search modified dev:modified,prod:removed,staging:added",
		"users removed dev:removed,prod:removed,staging:removed",
	}
	if got := summary(res); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
