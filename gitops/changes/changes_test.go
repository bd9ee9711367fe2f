package changes_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/stacks"
)

var modes = []struct {
	name string
	opts gitops.Options
}{
	{"git-binary", gitops.Options{}},
	{"go-git", gitops.Options{NoGitBinary: true}},
}

func stackYAML(name, extraVars string, watch ...string) string {
	s := `apiVersion: core.panka.io/v1
kind: Stack
metadata:
  name: ` + name + `
spec:
  provider:
    name: local
  variables:
    LOG_LEVEL:
      default: info
    REGION_NAME:
      default: eu
` + extraVars
	if len(watch) > 0 {
		s += "  watch:\n"
		for _, w := range watch {
			s += "    - " + w + "\n"
		}
	}
	return s
}

const serviceYAML = `apiVersion: core.panka.io/v1
kind: Service
metadata:
  name: api
spec: {}
---
apiVersion: core.panka.io/v1
kind: MicroService
metadata:
  name: api
spec:
  image: nginx:1.0
  port: 8080
  env:
    LOG_LEVEL: ${LOG_LEVEL}
    REGION: ${REGION_NAME}
`

const queueYAML = `apiVersion: core.panka.io/v1
kind: Queue
metadata:
  name: jobs
spec:
  visibilityTimeout: 30
`

func envYAML(name, body string) string {
	return `apiVersion: core.panka.io/v1
kind: Environment
metadata:
  name: ` + name + `
spec:
` + body
}

// seed writes a stack "name" in folder dir with environments dev (uses the
// LOG_LEVEL default), staging and prod (set LOG_LEVEL; prod pins the image).
func seed(g *gittest.Repo, dir, name string, watch ...string) {
	g.Write(dir+"/stack.yaml", stackYAML(name, "", watch...))
	g.Write(dir+"/services/api/service.yaml", serviceYAML)
	g.Write(dir+"/infra/queue.yaml", queueYAML)
	g.Write(dir+"/environments/dev.yaml", envYAML("dev", "  variables: {}\n"))
	g.Write(dir+"/environments/staging.yaml", envYAML("staging", "  variables:\n    LOG_LEVEL: warn\n"))
	g.Write(dir+"/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: error\n  overrides:\n    api:\n      image: nginx:0.9\n"))
}

func baseRepo(t *testing.T) (*gittest.Repo, gitops.Hash) {
	g := gittest.New(t)
	seed(g, "stacks/orders", "orders")
	seed(g, "stacks/users", "users", "shared/policies/**")
	seed(g, "stacks/billing", "billing")
	g.Write("shared/policies/deny.json", "{}")
	g.Write("docs/README.md", "# docs\n")
	g.Write("panka.yaml", "version: v1\n")
	return g, g.Commit("base")
}

// summary renders a result compactly: "name change env:kind,... [components]".
func summary(r *changes.Result) []string {
	out := []string{}
	for _, s := range r.Stacks {
		var envs []string
		for _, e := range s.Environments {
			envs = append(envs, e+":"+string(s.EnvironmentChanges[e]))
		}
		line := fmt.Sprintf("%s %s %s", s.Stack, s.Change, strings.Join(envs, ","))
		if len(s.Components) > 0 {
			line += " [" + strings.Join(s.Components, ",") + "]"
		}
		out = append(out, line)
	}
	return out
}

// detectAll runs Detect with opts on the repository in dir with both
// engines, resolved and --paths (in that order), and calls check with each
// result.
func detectAll(t *testing.T, dir string, opts changes.Options, check func(engine string, paths bool, res *changes.Result)) {
	t.Helper()
	for _, m := range modes {
		repo, err := gitops.Open(dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, paths := range []bool{false, true} {
			opts.Paths = paths
			res, err := changes.Detect(context.Background(), repo, opts)
			if err != nil {
				repo.Close()
				t.Fatalf("%s paths=%v: Detect: %v", m.name, paths, err)
			}
			check(m.name, paths, res)
		}
		repo.Close()
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(g *gittest.Repo)
		opts      changes.Options
		want      []string
		wantPaths []string // --paths mode; nil means same stacks with all environments
		reason    string   // a reason detail that must appear
	}{
		{
			name: "component edit: only environments whose model changed",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/orders/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:1.1", 1))
			},
			want:   []string{"orders modified dev:modified,staging:modified [api]"},
			reason: "component api changed in dev, staging",
		},
		{
			name: "environment file edit: only that environment",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/users/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: debug\n  overrides:\n    api:\n      image: nginx:0.9\n"))
			},
			want:   []string{"users modified prod:modified [api]"},
			reason: "environment prod changed (component api)",
		},
		{
			name: "comment and whitespace only: nothing (listed in --paths mode)",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/billing/services/api/service.yaml", "# a comment\n"+strings.Replace(serviceYAML, "port: 8080", "port:   8080   # the port", 1)+"\n\n")
				g.Write("stacks/billing/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: error # loud\n  overrides:\n    api:\n      image: \"nginx:0.9\"\n"))
			},
			want:      []string{},
			wantPaths: []string{"billing modified dev:modified,prod:modified,staging:modified"},
		},
		{
			name: "variable default only dev uses: only dev",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/orders/stack.yaml", strings.Replace(stackYAML("orders", ""), "default: info", "default: trace", 1))
			},
			want:   []string{"orders modified dev:modified [api]"},
			reason: "changes dev (component api)",
		},
		{
			name: "variable default every environment uses",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/orders/stack.yaml", strings.Replace(stackYAML("orders", ""), "default: eu", "default: us", 1))
			},
			want: []string{"orders modified dev:modified,prod:modified,staging:modified [api]"},
		},
		{
			name: "new stack",
			edit: func(g *gittest.Repo) { seed(g, "stacks/search", "search") },
			want: []string{"search added dev:added,prod:added,staging:added"},
		},
		{
			name: "deleted stack: environments from base",
			edit: func(g *gittest.Repo) { g.Remove("stacks/billing") },
			want: []string{"billing removed dev:removed,prod:removed,staging:removed"},
		},
		{
			name:      "folder renamed, same metadata.name: moved, nothing to deploy",
			edit:      func(g *gittest.Repo) { g.Move("stacks/billing", "stacks/finance") },
			want:      []string{"billing moved "},
			wantPaths: []string{"billing moved dev:modified,prod:modified,staging:modified"},
		},
		{
			name: "folder moved and edited",
			edit: func(g *gittest.Repo) {
				g.Move("stacks/billing", "stacks/finance")
				g.Write("stacks/finance/environments/staging.yaml", envYAML("staging", "  variables:\n    LOG_LEVEL: info\n"))
			},
			want:      []string{"billing moved staging:modified [api]"},
			wantPaths: []string{"billing moved dev:modified,prod:modified,staging:modified"},
		},
		{
			// Each read "stack.yaml: modified", as two unrelated changes:
			// a pipeline acting on the list destroys or strands billing.
			name:   "metadata.name renamed: removed + added",
			edit:   func(g *gittest.Repo) { g.Write("stacks/billing/stack.yaml", stackYAML("invoicing", "")) },
			want:   []string{"billing removed dev:removed,prod:removed,staging:removed", "invoicing added dev:added,prod:added,staging:added"},
			reason: `modified; metadata.name was "billing": a stack is identified by its name, so invoicing is a new stack and billing is removed (what billing deployed stays until panka destroy --stack billing deletes it)`,
		},
		{
			name: "new environment file",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/orders/environments/qa.yaml", envYAML("qa", "  variables: {}\n"))
			},
			want:      []string{"orders modified qa:added"},
			wantPaths: []string{"orders modified dev:modified,prod:modified,qa:added,staging:modified"},
		},
		{
			name:      "environment file deleted",
			edit:      func(g *gittest.Repo) { g.Remove("stacks/orders/environments/staging.yaml") },
			want:      []string{"orders modified staging:removed"},
			wantPaths: []string{"orders modified dev:modified,prod:modified,staging:removed"},
		},
		{
			name: "environment file replaced by another",
			edit: func(g *gittest.Repo) {
				g.Remove("stacks/orders/environments/staging.yaml")
				g.Write("stacks/orders/environments/qa.yaml", envYAML("qa", "  variables: {}\n"))
			},
			want:      []string{"orders modified qa:added,staging:removed"},
			wantPaths: []string{"orders modified dev:modified,prod:modified,qa:added,staging:removed"},
		},
		{
			name: "metadata.name renamed and an environment edited: removed + added",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/billing/stack.yaml", stackYAML("invoicing", ""))
				g.Write("stacks/billing/environments/staging.yaml", envYAML("staging", "  variables:\n    LOG_LEVEL: info\n"))
			},
			want:   []string{"billing removed dev:removed,prod:removed,staging:removed", "invoicing added dev:added,prod:added,staging:added"},
			reason: `modified; metadata.name is "invoicing" at head: a stack is identified by its name, so billing is removed (what it deployed stays until panka destroy --stack billing deletes it) and invoicing is a new stack`,
		},
		{
			name: "stack.yaml edited (same name) and an environment edited",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/orders/stack.yaml", strings.Replace(stackYAML("orders", ""), "default: eu", "default: us", 1))
				g.Write("stacks/orders/environments/staging.yaml", envYAML("staging", "  variables:\n    LOG_LEVEL: info\n"))
			},
			want: []string{"orders modified dev:modified,prod:modified,staging:modified [api]"},
		},
		{
			name:   "watched file outside the stack: every environment",
			edit:   func(g *gittest.Repo) { g.Write("shared/policies/deny.json", `{"deny": true}`) },
			want:   []string{"users modified dev:modified,prod:modified,staging:modified"},
			reason: `matches spec.watch "shared/policies/**"`,
		},
		{
			// Only the old path matches: "shared/deny.json: renamed;
			// matches spec.watch" named a file the glob does not match.
			name:   "watched file renamed out of the glob: the old path named",
			edit:   func(g *gittest.Repo) { g.Move("shared/policies/deny.json", "shared/deny.json") },
			want:   []string{"users modified dev:modified,prod:modified,staging:modified"},
			reason: `renamed from shared/policies/deny.json; matches spec.watch "shared/policies/**"`,
		},
		{
			name: "change outside every stack, no watch: nothing",
			edit: func(g *gittest.Repo) {
				g.Write("docs/README.md", "# changed\n")
				g.Write("panka.yaml", "version: v1\nstacks:\n  root: stacks\n")
				g.Write("stacks/NOTES.md", "not in a stack\n")
			},
			want:      []string{},
			wantPaths: []string{},
		},
		{
			name: "stack stops parsing at head: reported with the error",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/orders/services/api/service.yaml", serviceYAML+"  bogusField: [\n")
			},
			want:   []string{"orders modified dev:modified,prod:modified,staging:modified"},
			reason: "does not load at head",
		},
		{
			// YAML's null is no name: not "orders removed" (a deploy
			// pipeline would destroy it) and a new stack called "null".
			name: "stack.yaml stops parsing at head: metadata.name: null",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/orders/stack.yaml", strings.Replace(stackYAML("orders", ""), "name: orders", "name: null", 1))
			},
			want:   []string{"orders modified dev:modified,prod:modified,staging:modified"},
			reason: "metadata.name: required field is empty (null)",
		},
		{
			name: "stack.yaml stops parsing at head",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/orders/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata: [broken\n")
			},
			want:   []string{"orders modified dev:modified,prod:modified,staging:modified"},
			reason: "does not load at head",
		},
		{
			name: "component deleted",
			edit: func(g *gittest.Repo) { g.Remove("stacks/orders/infra/queue.yaml") },
			want: []string{"orders modified dev:modified,prod:modified,staging:modified [jobs]"},
		},
		{
			name: "--environment and --stack filters",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/orders/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:1.1", 1))
				g.Write("stacks/users/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:1.1", 1))
			},
			opts:      changes.Options{Stacks: []string{"users", "billing"}, Environments: []string{"staging", "prod"}},
			want:      []string{"users modified staging:modified [api]"},
			wantPaths: []string{"users modified prod:modified,staging:modified"},
		},
		{
			name: "filters are globs",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/orders/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:1.1", 1))
				g.Write("stacks/users/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:1.1", 1))
			},
			opts:      changes.Options{Stacks: []string{"u*"}, Environments: []string{"st*", "p[r]od"}},
			want:      []string{"users modified staging:modified [api]"},
			wantPaths: []string{"users modified prod:modified,staging:modified"},
		},
		{
			name: "filters negate classes as the shell does: [!o]* is every stack not starting with o",
			edit: func(g *gittest.Repo) {
				g.Write("stacks/orders/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:1.1", 1))
				g.Write("stacks/users/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:1.1", 1))
			},
			opts:      changes.Options{Stacks: []string{"[!o]*"}, Environments: []string{"[!d]*"}},
			want:      []string{"users modified staging:modified [api]"},
			wantPaths: []string{"users modified prod:modified,staging:modified"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, base := baseRepo(t)
			tt.edit(g)
			head := g.Commit("edit")
			var jsons []string
			opts := tt.opts
			opts.Base, opts.Head, opts.StacksRoot = base.String(), head.String(), "stacks"
			detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
				want := tt.want
				if paths {
					want = tt.wantPaths
					if want == nil {
						want = allEnvs(tt.want)
					}
				}
				if got := summary(res); !reflect.DeepEqual(got, want) {
					t.Errorf("%s paths=%v:\n got %q\nwant %q", engine, paths, got, want)
				}
				if res.Base != base.String() || res.Head != head.String() {
					t.Errorf("base/head = %s %s", res.Base, res.Head)
				}
				if !paths && tt.reason != "" && !hasReason(res, tt.reason) {
					t.Errorf("%s: no reason mentions %q: %s", engine, tt.reason, mustJSON(res))
				}
				if !paths && strings.Contains(tt.name, "stops parsing") && len(res.Problems) == 0 {
					t.Errorf("%s: the parse error is not in Problems", engine)
				}
				jsons = append(jsons, mustJSON(res))
			})
			if jsons[0] != jsons[2] || jsons[1] != jsons[3] {
				t.Errorf("git-binary and go-git results differ:\n%s\n%s", jsons[0], jsons[2])
			}
		})
	}
}

// allEnvs turns expected resolved-mode lines into --paths lines: every
// environment, as modified.
func allEnvs(lines []string) []string {
	out := []string{}
	for _, l := range lines {
		f := strings.Fields(l)
		if f[1] == "modified" {
			l = f[0] + " modified dev:modified,prod:modified,staging:modified"
		} else if len(f) > 3 {
			l = strings.Join(f[:3], " ")
		}
		out = append(out, l)
	}
	return out
}

func hasReason(r *changes.Result, s string) bool {
	for _, st := range r.Stacks {
		for _, x := range st.Reasons {
			if strings.Contains(x.Detail, s) {
				return true
			}
		}
	}
	return false
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestJSONShape(t *testing.T) {
	g, base := baseRepo(t)
	g.Write("stacks/orders/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:1.1", 1))
	head := g.Commit("edit")
	repo, err := gitops.Open(g.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	res, err := changes.Detect(context.Background(), repo, changes.Options{Base: base.String(), Head: head.String(), StacksRoot: "stacks"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"base":"` + base.String() + `","head":"` + head.String() + `","stacks":[{"stack":"orders","path":"stacks/orders","change":"modified",` +
		`"environments":["dev","staging"],"environmentChanges":{"dev":"modified","staging":"modified"},"components":["api"],` +
		`"reasons":[{"file":"stacks/orders/services/api/service.yaml","detail":"modified; component api changed in dev, staging"}]}]}`
	if got := mustJSON(res); got != want {
		t.Errorf("JSON =\n%s\nwant\n%s", got, want)
	}
	res, err = changes.Detect(context.Background(), repo, changes.Options{Base: head.String(), Head: head.String(), StacksRoot: "stacks"})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(res); !strings.Contains(got, `"stacks":[]`) {
		t.Errorf("empty result JSON = %s, want \"stacks\":[]", got)
	}
}

func TestOnlyTouchedStacksAreLoaded(t *testing.T) {
	g, _ := baseRepo(t)
	// A broken stack nobody touches: loading it would report a problem.
	g.Write("stacks/broken/stack.yaml", stackYAML("broken", ""))
	g.Write("stacks/broken/services/x.yaml", "kind: [nonsense\n")
	mid := g.Commit("add a broken stack")
	g.Write("docs/README.md", "# changed\n")
	g.Write("stacks/orders/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: debug\n  overrides:\n    api:\n      image: nginx:0.9\n"))
	head := g.Commit("edit")
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		res, err := changes.Detect(context.Background(), repo, changes.Options{Base: mid.String(), Head: head.String(), StacksRoot: "stacks", NoCache: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := summary(res); !reflect.DeepEqual(got, []string{"orders modified prod:modified [api]"}) || len(res.Problems) > 0 {
			t.Errorf("%s: %q, problems %v", m.name, got, res.Problems)
		}
	}
}

func TestMergeBaseNotTipToTip(t *testing.T) {
	g, _ := baseRepo(t)
	g.Git("checkout", "-q", "-b", "feature")
	g.Write("stacks/users/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	g.Commit("feature: users dev")
	g.Git("checkout", "-q", "main")
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	g.Commit("main: orders dev")
	g.Git("update-ref", "refs/remotes/origin/main", "main")
	g.Git("checkout", "-q", "feature")
	g.Write("stacks/billing/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	g.Commit("feature: billing dev")
	// Merge main into the feature branch: the merge brings orders, which
	// is not the feature's change.
	g.Git("merge", "-q", "--no-ff", "-m", "merge main", "main")

	want := []string{"billing modified dev:modified [api]", "users modified dev:modified [api]"}
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		for _, base := range []string{"", "main", "origin/main"} {
			res, err := changes.Detect(context.Background(), repo, changes.Options{Base: base, StacksRoot: "stacks"})
			if err != nil {
				t.Fatalf("%s base %q: %v", m.name, base, err)
			}
			if got := summary(res); !reflect.DeepEqual(got, want) {
				t.Errorf("%s base %q: %q, want %q", m.name, base, got, want)
			}
		}
		// On the default branch's tip, the default base is its first parent.
		g.Git("checkout", "-q", "main")
		res, err := changes.Detect(context.Background(), repo, changes.Options{StacksRoot: "stacks"})
		if err != nil {
			t.Fatal(err)
		}
		if got := summary(res); !reflect.DeepEqual(got, []string{"orders modified dev:modified [api]"}) {
			t.Errorf("%s on main: %q", m.name, got)
		}
		g.Git("checkout", "-q", "feature")
	}
}

// TestDefaultBaseBehindDefaultBranch: a CI job for a commit of main runs
// after a later push moved origin/main on. HEAD is then on the default
// branch but not its tip; its merge-base with it is HEAD itself, and the
// default base must be HEAD's first parent, as on the tip, not HEAD (which
// said "nothing changed" and let the pipeline skip the deployment).
func TestDefaultBaseBehindDefaultBranch(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	job := g.Commit("main: orders dev")
	g.Write("stacks/users/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	g.Commit("main: users dev (a later push)")
	g.Git("update-ref", "refs/remotes/origin/main", "main")
	g.Git("checkout", "-q", "--detach", job.String())
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		res, err := changes.Detect(context.Background(), repo, changes.Options{StacksRoot: "stacks"})
		if err != nil {
			t.Fatal(err)
		}
		if got := summary(res); !reflect.DeepEqual(got, []string{"orders modified dev:modified [api]"}) || res.Head != job.String() || res.Base == res.Head {
			t.Errorf("%s: base %s head %s: %q, want HEAD's first parent as base and orders changed", m.name, res.Base, res.Head, got)
		}
	}
}

// TestGivenBaseAhead: a base that is not an ancestor of head (main moved
// on after the branch forked) is replaced by the merge-base, so main's own
// later changes are not reported (the comparison from the given base,
// started while the merge-base is computed, is discarded).
func TestGivenBaseAhead(t *testing.T) {
	g, _ := baseRepo(t)
	fork := g.Commit("fork point")
	g.Git("checkout", "-q", "-b", "feature")
	g.Write("stacks/users/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	head := g.Commit("feature: users dev")
	g.Git("checkout", "-q", "main")
	g.Write("stacks/orders/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: debug\n"))
	g.Remove("stacks/billing")
	g.Commit("main moves on")
	detectAll(t, g.Dir, changes.Options{Base: "main", Head: head.String(), StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		want := []string{"users modified dev:modified [api]"}
		if paths {
			want = []string{"users modified dev:modified,prod:modified,staging:modified"}
		}
		if got := summary(res); !reflect.DeepEqual(got, want) || res.Base != fork.String() {
			t.Errorf("%s paths=%v: base %s, %q; want base %s (the merge-base), %q", engine, paths, res.Base, got, fork, want)
		}
	})
}

func TestBaseNotInHistory(t *testing.T) {
	g, base := baseRepo(t)
	for i := 0; i < 3; i++ {
		g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", fmt.Sprintf("  variables:\n    LOG_LEVEL: l%d\n", i)))
		g.Commit(fmt.Sprint("edit ", i))
	}
	shallow := filepath.Join(t.TempDir(), "shallow")
	if out, err := exec.Command("git", "clone", "-q", "--depth", "1", "file://"+g.Dir, shallow).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	tests := []struct {
		name, dir, base string
		want            []string
	}{
		{"shallow clone", shallow, base.String(), []string{"shallow clone", "fetch-depth: 0", "git fetch --deepen"}},
		{"shallow clone, HEAD~1", shallow, "HEAD~1", []string{"shallow clone", "fetch-depth: 0"}},
		{"shallow clone, default base", shallow, "", []string{"default base (HEAD's first parent ", ", as HEAD is the tip of ", "or pass --base)", "shallow", "fetch-depth: 0"}},
		{"unknown sha", g.Dir, "0123456789abcdef0123456789abcdef01234567", []string{"not in the local history", "git fetch", "before a force push", "omit --base"}},
		{"unknown short sha", g.Dir, "0123456789ab", []string{"not in the local history", "git fetch"}},
		{"all-zero sha", g.Dir, strings.Repeat("0", 40), []string{"all-zero", "--base"}},
		{"unknown branch", g.Dir, "no-such-branch", []string{"not found"}},
	}
	for _, m := range modes {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				repo, err := gitops.Open(tt.dir, m.opts)
				if err != nil {
					t.Fatal(err)
				}
				defer repo.Close()
				res, err := changes.Detect(context.Background(), repo, changes.Options{Base: tt.base, StacksRoot: "stacks"})
				if err == nil {
					t.Fatalf("Detect = %q, want an error (never \"everything changed\")", summary(res))
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
			})
		}
	}
}

func TestUncommitted(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	head := g.Commit("committed edit")
	g.WriteFile("stacks/users/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: debug\n  overrides:\n    api:\n      image: nginx:0.9\n"))
	g.WriteFile("stacks/search/stack.yaml", stackYAML("search", ""))
	g.WriteFile("stacks/search/environments/dev.yaml", envYAML("dev", "  variables: {}\n"))
	g.WriteFile("stacks/search/services/api/service.yaml", serviceYAML)
	g.WriteFile("stacks/billing/services/api/service.yaml", "# only a comment\n"+serviceYAML)
	want := []string{"orders modified dev:modified [api]", "search added dev:added", "users modified prod:modified [api]"}
	var jsons []string
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		res, err := changes.Detect(context.Background(), repo, changes.Options{Base: "HEAD~1", StacksRoot: "stacks", Uncommitted: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := summary(res); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q, want %q", m.name, got, want)
		}
		if res.Head != head.String() || !res.Uncommitted {
			t.Errorf("%s: head %s uncommitted %v", m.name, res.Head, res.Uncommitted)
		}
		jsons = append(jsons, mustJSON(res))
		// Without --uncommitted only the commit counts.
		res, err = changes.Detect(context.Background(), repo, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"})
		if err != nil {
			t.Fatal(err)
		}
		if got := summary(res); !reflect.DeepEqual(got, want[:1]) {
			t.Errorf("%s committed only: %q", m.name, got)
		}
	}
	if jsons[0] != jsons[1] {
		t.Errorf("engines differ:\n%s\n%s", jsons[0], jsons[1])
	}
}

// TestIndexCache runs detections in sequence so the on-disk stack index is
// derived from earlier ones, and checks each against a cold run.
func TestIndexCache(t *testing.T) {
	g, base := baseRepo(t)
	commits := []gitops.Hash{base}
	edits := []func(){
		func() { seed(g, "stacks/search", "search", "docs/**") },
		func() { g.Write("docs/README.md", "# new docs\n") },
		func() { g.Write("stacks/search/stack.yaml", stackYAML("search", "")) },
		func() { g.Write("docs/README.md", "# newer docs\n") },
		func() { g.Remove("stacks/users") },
		func() { g.Write("shared/policies/deny.json", "[]") },
	}
	for i, e := range edits {
		e()
		commits = append(commits, g.Commit(fmt.Sprint("edit ", i)))
	}
	repo, err := gitops.Open(g.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	cache := t.TempDir()
	for i := 1; i < len(commits); i++ {
		for _, b := range []int{i - 1, 0} {
			opts := changes.Options{Base: commits[b].String(), Head: commits[i].String(), StacksRoot: "stacks", CacheDir: cache}
			warm, err := changes.Detect(context.Background(), repo, opts)
			if err != nil {
				t.Fatal(err)
			}
			opts.NoCache = true
			cold, err := changes.Detect(context.Background(), repo, opts)
			if err != nil {
				t.Fatal(err)
			}
			if mustJSON(warm) != mustJSON(cold) {
				t.Errorf("%d..%d: cached %s, cold %s", b, i, summary(warm), summary(cold))
			}
		}
	}
	res, _ := changes.Detect(context.Background(), repo, changes.Options{Base: commits[1].String(), Head: commits[2].String(), StacksRoot: "stacks", CacheDir: cache})
	if got := summary(res); !reflect.DeepEqual(got, []string{"search modified dev:modified,prod:modified,staging:modified"}) {
		t.Errorf("watch of a new stack: %q", got)
	}
	res, _ = changes.Detect(context.Background(), repo, changes.Options{Base: commits[3].String(), Head: commits[4].String(), StacksRoot: "stacks", CacheDir: cache})
	if got := summary(res); len(got) != 0 {
		t.Errorf("watch removed from stack.yaml still matches: %q", got)
	}
}

// TestIndexCacheNotAFile: a cache file that is a named pipe, or a
// symbolic link to a device that never ends (/dev/zero), is not read
// (reading blocked for ever: panka changed hung, and a SIGTERM did not end
// it); the index is built as without a cache, and written over it.
func TestIndexCacheNotAFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no named pipes or /dev/zero")
	}
	g, base := baseRepo(t)
	seed(g, "stacks/search", "search", "")
	head := g.Commit("search")
	repo, err := gitops.Open(g.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	opts := changes.Options{Base: base.String(), Head: head.String(), StacksRoot: "stacks", NoCache: true}
	cold, err := changes.Detect(context.Background(), repo, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"named pipe", "link to /dev/zero"} {
		cache := t.TempDir()
		for _, c := range []gitops.Hash{base, head} {
			f := filepath.Join(cache, "stack-index-"+g.Git("rev-parse", c.String()+":stacks")+".json")
			if kind == "named pipe" {
				err = exec.Command("mkfifo", f).Run()
			} else {
				err = os.Symlink("/dev/zero", f)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		opts.NoCache, opts.CacheDir = false, cache
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		done := make(chan struct{})
		var warm *changes.Result
		go func() {
			defer close(done)
			warm, err = changes.Detect(ctx, repo, opts)
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s in the cache: Detect hangs", kind)
		}
		cancel()
		if err != nil {
			t.Fatalf("%s in the cache: %v", kind, err)
		}
		if mustJSON(warm) != mustJSON(cold) {
			t.Errorf("%s in the cache: %s, want %s", kind, summary(warm), summary(cold))
		}
	}
}

// TestIndexCacheSweepsStaleTemps: a process killed while writing the cache
// (kill -9) leaves a .stack-index-* temporary file that nothing removed.
// Writing the cache removes those older than an hour, and keeps a younger
// one (another process's write in progress).
func TestIndexCacheSweepsStaleTemps(t *testing.T) {
	g, base := baseRepo(t)
	seed(g, "stacks/search", "search", "")
	head := g.Commit("search")
	repo, err := gitops.Open(g.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	cache := t.TempDir()
	stale := filepath.Join(cache, ".stack-index-111")
	fresh := filepath.Join(cache, ".stack-index-222")
	for _, f := range []string{stale, fresh} {
		if err := os.WriteFile(f, []byte("panka-stack-index"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := changes.Detect(context.Background(), repo, changes.Options{Base: base.String(), Head: head.String(), StacksRoot: "stacks", CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(cache, "stack-index-*.json")); len(m) == 0 {
		t.Fatal("no cache file was written")
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a temporary cache file two hours old is still there (%v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh temporary cache file (a write in progress) was removed: %v", err)
	}
}

// TestIndexCacheConcurrent: several panka processes (here: repositories
// opened separately, both engines) comparing different commits at once
// share one cache folder; each answer equals a cold run's, whatever the
// others wrote, pruned or were writing meanwhile.
func TestIndexCacheConcurrent(t *testing.T) {
	g, base := baseRepo(t)
	commits := []gitops.Hash{base}
	edits := []func(){
		func() { seed(g, "stacks/search", "search", "docs/**") },
		func() { g.Write("docs/README.md", "# new docs\n") },
		func() { g.Move("stacks/billing", "stacks/finance") },
		func() {
			g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: trace\n"))
		},
		func() { g.Remove("stacks/users") },
		func() { g.Write("stacks/search/stack.yaml", stackYAML("search", "")) },
		func() { seed(g, "stacks/users", "users", "shared/policies/**") },
		func() { g.Write("shared/policies/deny.json", "[]") },
	}
	for i, e := range edits {
		e()
		commits = append(commits, g.Commit(fmt.Sprint("edit ", i)))
	}
	type pair struct{ b, h int }
	var pairs []pair
	for i := 1; i < len(commits); i++ {
		pairs = append(pairs, pair{i - 1, i}, pair{0, i}, pair{i, i - 1})
	}
	want := map[pair]string{}
	{
		repo, err := gitops.Open(g.Dir, gitops.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pairs {
			res, err := changes.Detect(context.Background(), repo, changes.Options{Base: commits[p.b].String(), Head: commits[p.h].String(), StacksRoot: "stacks", NoCache: true})
			if err != nil {
				t.Fatal(err)
			}
			want[p] = mustJSON(res)
		}
		repo.Close()
	}
	cache := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := modes[w%len(modes)]
			for round := range 3 {
				repo, err := gitops.Open(g.Dir, m.opts)
				if err != nil {
					errs <- err.Error()
					return
				}
				for k := range pairs {
					p := pairs[(k*(w+1)+round)%len(pairs)]
					res, err := changes.Detect(context.Background(), repo, changes.Options{Base: commits[p.b].String(), Head: commits[p.h].String(), StacksRoot: "stacks", CacheDir: cache})
					if err != nil {
						errs <- fmt.Sprintf("%s %d..%d: %v", m.name, p.b, p.h, err)
					} else if got := mustJSON(res); got != want[p] {
						errs <- fmt.Sprintf("%s %d..%d: %s, cold run says %s", m.name, p.b, p.h, got, want[p])
					}
				}
				repo.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for e := range errs {
		if n++; n <= 5 {
			t.Error(e)
		}
	}
	files, _ := filepath.Glob(filepath.Join(cache, "stack-index-*.json"))
	if len(files) == 0 {
		t.Error("no index was cached")
	}
	if tmp, _ := filepath.Glob(filepath.Join(cache, ".stack-index-*")); len(tmp) > 0 {
		t.Errorf("temporary files left in the cache: %v", tmp)
	}
}

type fakeDeployed map[string]string // "stack/env" -> commit

func (f fakeDeployed) DeployedCommit(_ context.Context, h *stacks.Header, env string) (string, bool, error) {
	c, ok := f[h.Name+"/"+env]
	if c == "error" {
		return "", false, errors.New("state unavailable")
	}
	return c, ok, nil
}

func TestSinceDeployed(t *testing.T) {
	g, c0 := baseRepo(t)
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	c1 := g.Commit("orders dev")
	g.Write("stacks/orders/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: debug\n  overrides:\n    api:\n      image: nginx:0.9\n"))
	g.Commit("orders prod")
	d := fakeDeployed{
		"orders/dev": c0.String(), "orders/staging": c0.String(), "orders/prod": c1.String(),
		"users/dev": c0.String(), "users/staging": c0.String(), "users/prod": c0.String(),
		"billing/dev": c1.String(), "billing/prod": c1.String(), // billing/staging never deployed
	}
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		res, err := changes.SinceDeployed(context.Background(), repo, d, changes.Options{StacksRoot: "stacks"})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"billing modified staging:added", "orders modified dev:modified,prod:modified [api]"}
		if got := summary(res); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q, want %q", m.name, got, want)
		}
		for _, s := range res.Stacks {
			if s.Stack == "orders" && (s.Deployed["dev"] != c0.String() || s.Deployed["prod"] != c1.String()) {
				t.Errorf("deployed commits = %v", s.Deployed)
			}
		}
		d2 := fakeDeployed{"orders/dev": "0123456789abcdef0123456789abcdef01234567"}
		if _, err := changes.SinceDeployed(context.Background(), repo, d2, changes.Options{StacksRoot: "stacks", Stacks: []string{"orders"}}); err == nil || !strings.Contains(err.Error(), "orders/dev") ||
			!strings.Contains(err.Error(), "git fetch") || !strings.Contains(err.Error(), "deploy those environments again from a commit in the history (panka apply)") {
			t.Errorf("deployed commit not in history: %v", err)
		}
		// A hand-edited state naming a ref, or a short id, is not read
		// as whatever that names now.
		for _, c := range []string{"HEAD", "main", c0.String()[:12]} {
			d3 := fakeDeployed{"orders/dev": c}
			_, err := changes.SinceDeployed(context.Background(), repo, d3, changes.Options{StacksRoot: "stacks", Stacks: []string{"orders"}})
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("the deployed commit %q of orders/dev in the state is not a full commit id", c)) {
				t.Errorf("deployed commit %q: %v", c, err)
			}
		}
	}
}

// TestSinceDeployedMovedOnly: a deployed stack whose folder only moved
// since (git mv stacks/orders stacks/shop/orders, same metadata.name) is
// listed moved, with no environment in resolved mode, as a comparison with
// that commit lists it; --since-deployed said "No stack changed". An
// environment filter leaves it out in both.
func TestSinceDeployedMovedOnly(t *testing.T) {
	g, c0 := baseRepo(t)
	g.Move("stacks/orders", "stacks/shop/orders")
	g.Commit("move orders")
	d := listedDeployed{fakeDeployed{"orders/dev": c0.String(), "orders/staging": c0.String(), "orders/prod": c0.String()}}
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		for _, paths := range []bool{false, true} {
			for _, envs := range [][]string{nil, {"dev"}} {
				o := changes.Options{StacksRoot: "stacks", Stacks: []string{"orders"}, Environments: envs, Paths: paths}
				got, err := changes.SinceDeployed(context.Background(), repo, d, o)
				if err != nil {
					t.Fatal(err)
				}
				o.Base = c0.String()
				want, err := changes.Detect(context.Background(), repo, o)
				if err != nil {
					t.Fatal(err)
				}
				if s, w := summary(got), summary(want); !reflect.DeepEqual(s, w) {
					t.Errorf("%s paths=%v environments=%v: since deployed %q, compared with the deployed commit %q", m.name, paths, envs, s, w)
				}
				if paths || envs != nil {
					continue
				}
				if s := summary(got); !reflect.DeepEqual(s, []string{"orders moved "}) {
					t.Errorf("%s: %q, want [\"orders moved \"]", m.name, s)
				} else if st := got.Stacks[0]; st.Path != "stacks/shop/orders" || st.OldPath != "stacks/orders" {
					t.Errorf("%s: path %q, old path %q", m.name, st.Path, st.OldPath)
				}
			}
		}
	}
}

// listedDeployed is a fakeDeployed that can also list what is deployed
// (as the state store does).
type listedDeployed struct{ fakeDeployed }

func (l listedDeployed) ListDeployed(_ context.Context, skip func(stack, env string) bool) ([]changes.Deployment, error) {
	var out []changes.Deployment
	for _, k := range slices.Sorted(maps.Keys(l.fakeDeployed)) {
		stack, env, _ := strings.Cut(k, "/")
		if !skip(stack, env) {
			out = append(out, changes.Deployment{Stack: stack, Environment: env, Commit: l.fakeDeployed[k]})
		}
	}
	return out, nil
}

// recordingDeployed records the deployments ListDeployed returns, and the
// stacks skip leaves out whole (asked with no environment, as the S3 store
// asks before it lists a stack's environments).
type recordingDeployed struct {
	listedDeployed
	listed, wholeSkipped []string
}

func (r *recordingDeployed) ListDeployed(ctx context.Context, skip func(stack, env string) bool) ([]changes.Deployment, error) {
	for _, k := range slices.Sorted(maps.Keys(r.fakeDeployed)) {
		stack, _, _ := strings.Cut(k, "/")
		if skip(stack, "") && !slices.Contains(r.wholeSkipped, stack) {
			r.wholeSkipped = append(r.wholeSkipped, stack)
		}
	}
	out, err := r.listedDeployed.ListDeployed(ctx, skip)
	for _, d := range out {
		r.listed = append(r.listed, d.Stack+"/"+d.Environment)
	}
	return out, err
}

// TestSinceDeployedRemoved: what is deployed but gone at head (an
// environment file deleted, a stack deleted, a stack renamed) is reported
// removed, with the commit it was deployed from; a stack that merely stops
// loading is not.
func TestSinceDeployedRemoved(t *testing.T) {
	g, c0 := baseRepo(t)
	g.Write("stacks/users/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: info\n"))
	cu := g.Commit("users prod")
	g.Remove("stacks/orders/environments/staging.yaml")
	g.Remove("stacks/users")
	g.Write("stacks/billing/stack.yaml", stackYAML("payments", ""))
	c1 := g.Commit("remove and rename")
	g.Write("stacks/orders/stack.yaml", stackYAML("orders", "")+"  bogus: [\n")
	g.Commit("break orders")
	d := listedDeployed{fakeDeployed{
		"orders/dev": c1.String(), "orders/staging": c0.String(), "orders/prod": c1.String(),
		"users/dev": c0.String(), "users/prod": cu.String(),
		"billing/dev": c0.String(),
		"ghost/dev":   c0.String(), // state of a stack that never existed: nothing to compare
	}}
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		res, err := changes.SinceDeployed(context.Background(), repo, d, changes.Options{StacksRoot: "stacks"})
		if err != nil {
			t.Fatal(err)
		}
		got := summary(res)
		want := []string{
			"billing removed dev:removed",
			"orders modified dev:modified,prod:modified,staging:removed",
			"payments added dev:added,prod:added,staging:added",
			"users removed dev:removed,prod:removed",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q, want %q", m.name, got, want)
		}
		for _, s := range res.Stacks {
			if s.Stack == "users" && (s.Deployed["dev"] != c0.String() || s.Deployed["prod"] != cu.String()) {
				t.Errorf("%s: users deployed commits = %v", m.name, s.Deployed)
			}
		}
		// Filters apply to what is gone too; the deployments of stacks
		// --stack leaves out are not listed (each would be a state read).
		rd := &recordingDeployed{listedDeployed: d}
		res, err = changes.SinceDeployed(context.Background(), repo, rd, changes.Options{StacksRoot: "stacks", Stacks: []string{"users"}, Environments: []string{"prod"}})
		if err != nil || !reflect.DeepEqual(summary(res), []string{"users removed prod:removed"}) {
			t.Errorf("%s filtered: %q, %v", m.name, summary(res), err)
		}
		if want := []string{"users/dev", "users/prod"}; !reflect.DeepEqual(rd.listed, want) {
			t.Errorf("%s filtered: listed %q, want %q (only the selected stack's)", m.name, rd.listed, want)
		}
		// The other stacks are left out whole: a store lists none of
		// their environments.
		var others []string
		for _, k := range slices.Sorted(maps.Keys(d.fakeDeployed)) {
			if stack, _, _ := strings.Cut(k, "/"); stack != "users" && !slices.Contains(others, stack) {
				others = append(others, stack)
			}
		}
		if len(others) == 0 || !reflect.DeepEqual(rd.wholeSkipped, others) {
			t.Errorf("%s filtered: stacks left out whole %q, want %q (every stack but users)", m.name, rd.wholeSkipped, others)
		}
	}
}

// TestMalformedFilter: a --stack/--environment glob path.Match cannot read
// is an error, not a filter that silently matches nothing.
func TestMalformedFilter(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("docs/README.md", "# edited\n")
	g.Commit("edit")
	repo, err := gitops.Open(g.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	for _, o := range []changes.Options{
		{Base: "HEAD~1", StacksRoot: "stacks", Stacks: []string{"orders["}},
		{Base: "HEAD~1", StacksRoot: "stacks", Environments: []string{"[dev"}},
	} {
		if _, err := changes.Detect(context.Background(), repo, o); err == nil || !strings.Contains(err.Error(), "malformed glob") {
			t.Errorf("%+v: %v, want a malformed glob error", o, err)
		}
		o.Base = ""
		if _, err := changes.SinceDeployed(context.Background(), repo, fakeDeployed{}, o); err == nil || !strings.Contains(err.Error(), "malformed glob") {
			t.Errorf("since-deployed %+v: %v, want a malformed glob error", o, err)
		}
	}
}

// TestSinceDeployedAllRemoved: with the stacks root gone at head, what is
// still deployed is reported removed (nothing deployed: the root error).
func TestSinceDeployedAllRemoved(t *testing.T) {
	g, c0 := baseRepo(t)
	g.Remove("stacks")
	g.Commit("retire every stack")
	repo, err := gitops.Open(g.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	res, err := changes.SinceDeployed(context.Background(), repo, listedDeployed{fakeDeployed{"orders/dev": c0.String()}}, changes.Options{StacksRoot: "stacks"})
	if err != nil || !reflect.DeepEqual(summary(res), []string{"orders removed dev:removed"}) {
		t.Errorf("stacks root gone, orders/dev deployed: %q, %v", summary(res), err)
	}
	if _, err := changes.SinceDeployed(context.Background(), repo, listedDeployed{fakeDeployed{}}, changes.Options{StacksRoot: "stacks"}); !errors.Is(err, changes.ErrNoStacksRoot) {
		t.Errorf("stacks root gone, nothing deployed: %v, want ErrNoStacksRoot", err)
	}
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		glob, path string
		want       bool
	}{
		{"shared/**", "shared/a/b/c.json", true},
		{"shared/**", "shared", true},
		{"shared/**/*.json", "shared/x.json", true},
		{"shared/**/*.json", "shared/a/b/x.json", true},
		{"shared/**/*.json", "shared/a/b/x.yaml", false},
		{"shared/*.json", "shared/a/x.json", false},
		{"shared/policies", "shared/policies/deny.json", true},
		{"./shared/x", "shared/x", true},
		{"**/schema.json", "a/b/schema.json", true},
		{"other/**", "shared/x", false},
		// [!...] negates, as in git and the shell (path.Match alone reads
		// it as "! or ..."); [^...] too; an escaped or inner ! is literal.
		{"shared/c[!0-9].txt", "shared/c1.txt", false},
		{"shared/c[!0-9].txt", "shared/cx.txt", true},
		{"shared/c[!0-9].txt", "shared/c!.txt", true},
		{"shared/c[^0-9].txt", "shared/c1.txt", false},
		{"shared/c\\[!0-9].txt", "shared/c[!0-9].txt", true},
		{"shared/c\\[!0-9]", "shared/c[!1", false},
		{"shared/c[a!].txt", "shared/c!.txt", true},
		{"shared/[!.]*/**", "shared/x/y.json", true},
		{"shared/[!.]*/**", "shared/.git/y.json", false},
	}
	for _, tt := range tests {
		if got := changes.MatchGlob(tt.glob, tt.path); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.glob, tt.path, got, tt.want)
		}
	}
}

// TestStacksRootMissing: a stacks root that exists on neither side is a
// wrong stacks.root, not "nothing changed" (CI would then never deploy).
func TestStacksRootMissing(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	g.Commit("edit")
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		for _, o := range []changes.Options{
			{Base: "HEAD~1", StacksRoot: "no-such-root"},
			{Base: "HEAD~1", StacksRoot: "no-such-root", Paths: true},
			{Base: "HEAD", StacksRoot: "no-such-root", Uncommitted: true},
			{Base: "HEAD~1", StacksRoot: "docs/README.md"}, // a file, not a folder
		} {
			res, err := changes.Detect(context.Background(), repo, o)
			if err == nil || !strings.Contains(err.Error(), o.StacksRoot) || !strings.Contains(err.Error(), "stacks.root") {
				t.Errorf("%s %+v: %v, %v; want an error naming the root and stacks.root", m.name, o, res, err)
			}
		}
		if _, err := changes.SinceDeployed(context.Background(), repo, fakeDeployed{}, changes.Options{StacksRoot: "no-such-root"}); err == nil || !strings.Contains(err.Error(), "stacks.root") {
			t.Errorf("%s since-deployed: %v, want the stacks.root error", m.name, err)
		}
		// A root that exists on one side only is a real change (all stacks
		// added or removed), and an existing root is fine.
		res, err := changes.Detect(context.Background(), repo, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"})
		if err != nil || len(res.Stacks) != 1 {
			t.Errorf("%s existing root: %v, %v", m.name, summary(res), err)
		}
	}
}

// TestBrokenAtHeadReasons: when a stack does not load at head, its changed
// files are not described as having "no effect on the resolved model"
// (nothing could be compared); the load errors are the reasons.
func TestBrokenAtHeadReasons(t *testing.T) {
	for _, tt := range []struct{ name, file, content string }{
		{"stack.yaml", "stacks/orders/stack.yaml", stackYAML("orders", "") + "  bogus: [\n"},
		{"component", "stacks/orders/infra/queue.yaml", queueYAML + "  bogus: [\n"},
		{"environment", "stacks/orders/environments/dev.yaml", envYAML("dev", "  variables: [\n")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := baseRepo(t)
			g.Write(tt.file, tt.content)
			g.Commit("break")
			for _, m := range modes {
				repo, err := gitops.Open(g.Dir, m.opts)
				if err != nil {
					t.Fatal(err)
				}
				defer repo.Close()
				res, err := changes.Detect(context.Background(), repo, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Stacks) != 1 || len(res.Problems) == 0 || !hasReason(res, "does not load at head") {
					t.Fatalf("%s: %q problems %v, want orders changed with the load error", m.name, summary(res), res.Problems)
				}
				for _, r := range res.Stacks[0].Reasons {
					if strings.Contains(r.Detail, "no effect") {
						t.Errorf("%s: reason %s: %s", m.name, r.File, r.Detail)
					}
				}
			}
		})
	}
}

// TestOversizedStackFileNotRead: a stack.yaml far above the loader's
// 1 MB limit is not read into memory for the stack index (names, watch
// globs), in either engine and mode, nor is a large file beside the YAML:
// the stack is reported with the limit error. A 60 MB stack.yaml took
// 185 MB (go-git: read whole, twice, grown chunk by chunk), even --paths.
func TestOversizedStackFileNotRead(t *testing.T) {
	g, _ := baseRepo(t)
	big := stackYAML("orders", "") + strings.Repeat("# padding, far above the limit\n", 16<<20/32)
	g.Write("stacks/orders/stack.yaml", big)
	g.Write("stacks/users/assets/data.bin", strings.Repeat("\x00\x01binary", 16<<20/8))
	g.Commit("big files")
	g.Git("repack", "-adq") // and once more with the blobs loose
	g.Write("stacks/orders/stack.yaml", big+"# loose\n")
	g.Commit("loose")
	for _, m := range modes {
		for _, opts := range []changes.Options{
			{Base: "HEAD~2", Head: "HEAD~1", StacksRoot: "stacks", NoCache: true},
			{Base: "HEAD~2", StacksRoot: "stacks", NoCache: true},
			{Base: "HEAD~1", StacksRoot: "stacks", NoCache: true}, // too large at both
			{Base: "HEAD~2", StacksRoot: "stacks", NoCache: true, Paths: true},
		} {
			repo, err := gitops.Open(g.Dir, m.opts)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res, err := changes.Detect(context.Background(), repo, opts)
			runtime.ReadMemStats(&after)
			repo.Close()
			if err != nil {
				t.Fatalf("%s %+v: %v", m.name, opts, err)
			}
			if got := summary(res); len(got) == 0 || !strings.HasPrefix(got[0], "orders ") {
				t.Errorf("%s %+v: %q, want orders changed", m.name, opts, got)
			}
			if !opts.Paths && !hasReason(res, "1 MB limit") {
				t.Errorf("%s %+v: reasons lack the limit error: %+v", m.name, opts, res.Stacks)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 12<<20 {
				t.Errorf("%s %+v: allocated %d MB; a 16 MB stack.yaml and data file must not be read", m.name, opts, n>>20)
			}
		}
	}
}

// TestBrokenAtBothReported: a change to a stack whose stack.yaml does not
// load at base nor at head, in a way that hides its name (flow-style
// metadata before the error), is reported with its environments and the
// load error; it came out as "No stack changed" (a warning on stderr
// only), --paths too, so CI planned nothing for a changed stack.
func TestBrokenAtBothReported(t *testing.T) {
	g, _ := baseRepo(t)
	broken := "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata: {name: orders}\nspec:\n  bogus: [\n"
	g.Write("stacks/orders/stack.yaml", broken)
	g.Commit("break")
	g.Write("stacks/orders/stack.yaml", broken+"# still broken\n")
	g.Write("stacks/orders/infra/queue.yaml", queueYAML+"  # edited\n")
	g.Commit("edit")
	for _, m := range modes {
		for _, paths := range []bool{false, true} {
			repo, err := gitops.Open(g.Dir, m.opts)
			if err != nil {
				t.Fatal(err)
			}
			res, err := changes.Detect(context.Background(), repo, changes.Options{Base: "HEAD~1", StacksRoot: "stacks", Paths: paths})
			repo.Close()
			if err != nil {
				t.Fatal(err)
			}
			want := "orders modified dev:modified,prod:modified,staging:modified"
			if got := summary(res); len(got) != 1 || got[0] != want {
				t.Errorf("%s paths=%v: %q, want [%s]", m.name, paths, got, want)
			}
			if !paths && !hasReason(res, "does not load at head") {
				t.Errorf("%s: reasons lack the load error: %+v", m.name, res.Stacks)
			}
		}
	}
}

// TestBaseEmptyTree: git's empty tree as --base, and the default base of a
// repository's first commit, compare with nothing: every stack and
// environment added, in both engines and modes, committed or not.
func TestBaseEmptyTree(t *testing.T) {
	g, _ := baseRepo(t)
	want := []string{"billing added dev:added,prod:added,staging:added", "orders added dev:added,prod:added,staging:added", "users added dev:added,prod:added,staging:added"}
	for _, opts := range []changes.Options{
		{Base: gitops.EmptyTree.String(), StacksRoot: "stacks"},
		{StacksRoot: "stacks"}, // HEAD is the first commit of main
		{Base: strings.ToUpper(gitops.EmptyTree.String()), StacksRoot: "stacks", Uncommitted: true},
	} {
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			if got := summary(res); !reflect.DeepEqual(got, want) || res.Base != gitops.EmptyTree.String() {
				t.Errorf("%s paths=%v base=%q: base %s, %q; want %q", engine, paths, opts.Base, res.Base, got, want)
			}
		})
	}
	// With a second commit, HEAD's first parent is the default base again.
	g.Write("stacks/orders/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: debug\n"))
	first := g.Head()
	g.Commit("prod debug")
	detectAll(t, g.Dir, changes.Options{StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if res.Base != first.String() || len(res.Stacks) != 1 {
			t.Errorf("%s paths=%v: base %s, %q; want the first commit, orders", engine, paths, res.Base, summary(res))
		}
	})
	// A depth-1 clone's HEAD has a parent it lacks: not a first commit, and
	// never "everything added".
	shallow := &gittest.Repo{T: t, Dir: filepath.Join(t.TempDir(), "shallow")}
	g.Git("clone", "-q", "--depth", "1", "file://"+g.Dir, shallow.Dir)
	for _, m := range modes {
		repo, err := gitops.Open(shallow.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		res, err := changes.Detect(context.Background(), repo, changes.Options{StacksRoot: "stacks"})
		repo.Close()
		if err == nil || !strings.Contains(err.Error(), "shallow clone") {
			t.Errorf("%s: depth-1 clone: %+v, %v; want the shallow-clone error", m.name, res, err)
		}
	}
}

// TestUncommittedOutsideStacksRoot: with --uncommitted only the stacks
// root and the folders watch globs point at are examined, and nothing is
// missed: a watched file changed (HEAD's glob), a file under a glob that
// only the work tree's stack.yaml declares, an untracked watched file; and
// changes elsewhere (application code) change nothing.
func TestUncommittedOutsideStacksRoot(t *testing.T) {
	g, base := baseRepo(t)
	g.Write("app/config/settings.yaml", "a: 1\n")
	g.Write("app/src/main.go", "package main\n")
	base = g.Commit("app")
	g.WriteFile("shared/policies/deny.json", `{"deny": true}`)
	g.WriteFile("shared/policies/new.json", "{}")
	g.WriteFile("app/src/main.go", "package main // edited\n")
	g.WriteFile("app/src/untracked.go", "package main\n")
	g.WriteFile("docs/README.md", "# edited\n")
	g.WriteFile("stacks/orders/stack.yaml", stackYAML("orders", "", "app/config/**"))
	g.WriteFile("app/config/settings.yaml", "a: 2\n")
	detectAll(t, g.Dir, changes.Options{Base: base.String(), StacksRoot: "stacks", Uncommitted: true, NoCache: true}, func(engine string, paths bool, res *changes.Result) {
		var names []string
		for _, st := range res.Stacks {
			names = append(names, st.Stack)
			if len(st.Environments) != 3 {
				t.Errorf("%s paths=%v: %s: environments %v, want all three", engine, paths, st.Stack, st.Environments)
			}
		}
		if strings.Join(names, ",") != "orders,users" {
			t.Errorf("%s paths=%v: %q, want orders and users", engine, paths, summary(res))
		}
		for _, f := range []string{"shared/policies/deny.json", "shared/policies/new.json", "app/config/settings.yaml"} {
			found := false
			for _, st := range res.Stacks {
				for _, r := range st.Reasons {
					found = found || r.File == f && strings.Contains(r.Detail, "spec.watch")
				}
			}
			if !found {
				t.Errorf("%s paths=%v: no watch reason for %s: %s", engine, paths, f, mustJSON(res))
			}
		}
	})
}

// TestDuplicateNameAtHead: a folder copied with its stack.yaml (two
// folders, one metadata.name) is reported with validate's error, whether
// or not the original folder is touched too, whether or not the copy's
// stack.yaml was then edited, and when an existing stack takes the name of
// one the change does not touch; it never vanishes, and is never a plain
// "added" stack that deploying would put over the original's state.
func TestDuplicateNameAtHead(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(g *gittest.Repo)
		stack string
		envs  int
	}{
		{"copy", func(g *gittest.Repo) { seed(g, "stacks/orders-copy", "orders") }, "orders", 3},
		{"copy-touched", func(g *gittest.Repo) {
			seed(g, "stacks/orders-copy", "orders")
			g.Write("stacks/orders/README.md", "notes\n")
		}, "orders", 3},
		{"copy-edited", func(g *gittest.Repo) {
			seed(g, "stacks/orders-copy", "orders")
			g.Write("stacks/orders-copy/stack.yaml", stackYAML("orders", "")+"# the copy\n")
		}, "orders", 3},
		{"copy-edited-one-env", func(g *gittest.Repo) {
			g.Write("stacks/orders-copy/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: orders\nspec:\n  provider:\n    name: local\n")
			g.Write("stacks/orders-copy/environments/dev.yaml", envYAML("dev", "  variables: {}\n"))
		}, "orders", 1},
		{"renamed-to-existing", func(g *gittest.Repo) {
			g.Write("stacks/billing/stack.yaml", stackYAML("users", ""))
		}, "users", 3},
		// Moved as it was and copied: committed, the move's "same content"
		// shortcut listed no environment, unlike the same edit uncommitted.
		{"moved-and-copied", func(g *gittest.Repo) {
			g.Move("stacks/orders", "stacks/orders2")
			seed(g, "stacks/orders-copy", "orders")
		}, "orders", 3},
	}
	for _, c := range cases {
		for _, uncommitted := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/uncommitted=%v", c.name, uncommitted), func(t *testing.T) {
				g, _ := baseRepo(t)
				c.edit(g)
				base := "HEAD"
				if !uncommitted {
					g.Commit(c.name)
					base = "HEAD~1"
				}
				detectAll(t, g.Dir, changes.Options{Base: base, Uncommitted: uncommitted, StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
					var dup *changes.Stack
					for _, st := range res.Stacks {
						if st.Stack == c.stack {
							dup = st
						}
					}
					if dup == nil || len(dup.Environments) != c.envs || !hasReason(res, "must be unique") || len(res.Problems) == 0 {
						t.Errorf("%s paths=%v: %q %v, want %s with the duplicate-name error", engine, paths, summary(res), res.Problems, c.stack)
					}
				})
			})
		}
	}
}

// TestLinkedStackFolder: a symbolic link added to the stacks root that
// points at a stack folder elsewhere is not a stack (git stores the link):
// detection warns, naming it, on both engines, in both modes, committed
// or in the work tree; a changed symbolic link inside a stack is a change
// of that stack, the same committed or not.
func TestLinkedStackFolder(t *testing.T) {
	g, _ := baseRepo(t)
	seed(g, "elsewhere/search", "search")
	g.Commit("a stack outside the stacks root")
	if err := os.Symlink("../elsewhere/search", filepath.Join(g.Dir, "stacks", "search")); err != nil {
		t.Fatal(err)
	}
	g.Git("add", "-A")
	g.Commit("link it")
	want := "stacks/search: is a symbolic link to the stack folder elsewhere/search: linked stack folders are not read"
	check := func(what string, opts changes.Options, wantStacks []string) {
		t.Helper()
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			if got := fmt.Sprint(res.Problems); !strings.Contains(got, want) {
				t.Errorf("%s %s paths=%v: problems %q, want %q", what, engine, paths, got, want)
			}
			if got := summary(res); len(got) != len(wantStacks) || (len(got) > 0 && !strings.HasPrefix(got[0], wantStacks[0])) {
				t.Errorf("%s %s paths=%v: %q, want %q", what, engine, paths, got, wantStacks)
			}
		})
	}
	check("committed", changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, nil)

	// In the work tree: another link, and a link inside a stack retargeted.
	if err := os.Symlink("../elsewhere/search", filepath.Join(g.Dir, "stacks", "search2")); err != nil {
		t.Fatal(err)
	}
	g.Write("stacks/orders/.shared/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: warn\n"))
	link := filepath.Join(g.Dir, "stacks", "orders", "environments", "dev.yaml")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../.shared/dev.yaml", link); err != nil {
		t.Fatal(err)
	}
	g.Commit("orders' dev through a link")
	g.Write("stacks/orders/.shared/dev2.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: error\n"))
	g.Commit("another target")
	want = "stacks/search2: is a symbolic link to the stack folder elsewhere/search"
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../.shared/dev2.yaml", link); err != nil {
		t.Fatal(err)
	}
	check("work tree", changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true}, []string{"orders modified dev:modified"})
}

// TestStackFolderReplacedByLink: a stack folder replaced in the work tree
// by a symbolic link to another stack is, for git, the folder's files
// deleted and a link added (git status: D ..., ?? stacks/billing). The
// work-tree reader read the deleted files through the link, so --uncommitted
// found billing's stack.yaml "modified" to orders' and reported orders
// (a duplicate name) and billing's environments as modified, where the same
// change committed is billing removed, and nothing else.
func TestStackFolderReplacedByLink(t *testing.T) {
	g, _ := baseRepo(t)
	if err := os.RemoveAll(filepath.Join(g.Dir, "stacks", "billing")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("orders", filepath.Join(g.Dir, "stacks", "billing")); err != nil {
		t.Fatal(err)
	}
	want := []string{"billing removed dev:removed,prod:removed,staging:removed"}
	wantProblem := "stacks/billing: is a symbolic link to the stack folder stacks/orders"
	check := func(what string, opts changes.Options) {
		t.Helper()
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			if got := summary(res); !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s paths=%v: %q, want %q", what, engine, paths, got, want)
			}
			if got := fmt.Sprint(res.Problems); !strings.Contains(got, wantProblem) || strings.Contains(got, "used by both") {
				t.Errorf("%s %s paths=%v: problems %q, want only %q", what, engine, paths, got, wantProblem)
			}
		})
	}
	workTreeThenCommitted(g, "billing is a link to orders", check)
}

// TestDuplicateTreeEntry: a commit whose tree lists an environment file
// twice (a malformed tree, written by a faulty tool; git fsck reports
// duplicateEntries) said "environment dev is defined twice (.yaml and
// .yml)", naming files that do not exist. It now says what is wrong.
func TestDuplicateTreeEntry(t *testing.T) {
	g, _ := baseRepo(t)
	hexID := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// The tool appended a new dev.yaml instead of replacing the old one.
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	g.Commit("dev debug")
	oldDev := g.Git("rev-parse", "HEAD~1:stacks/orders/environments/dev.yaml")
	var tree []byte
	for _, e := range [][2]string{{"dev.yaml", oldDev}, {"dev.yaml", g.Git("rev-parse", "HEAD:stacks/orders/environments/dev.yaml")}, {"prod.yaml", g.Git("rev-parse", "HEAD:stacks/orders/environments/prod.yaml")}, {"staging.yaml", g.Git("rev-parse", "HEAD:stacks/orders/environments/staging.yaml")}} {
		tree = append(append(tree, "100644 "+e[0]+"\x00"...), hexID(e[1])...)
	}
	raw := filepath.Join(t.TempDir(), "tree")
	if err := os.WriteFile(raw, tree, 0o644); err != nil {
		t.Fatal(err)
	}
	// Each folder on the way up gets the new tree in place of the old one.
	mktree := func(parent, name, id string) string {
		t.Helper()
		sep := "/"
		if strings.HasSuffix(parent, ":") {
			sep = ""
		}
		listing := strings.Replace(g.Git("ls-tree", parent), g.Git("rev-parse", parent+sep+name)+"\t"+name, id+"\t"+name, 1)
		cmd := exec.Command("git", "mktree")
		cmd.Dir, cmd.Stdin = g.Dir, strings.NewReader(listing+"\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	id := g.Git("hash-object", "-t", "tree", "-w", "--literally", raw)
	id = mktree("HEAD~1:stacks/orders", "environments", id)
	id = mktree("HEAD~1:stacks", "orders", id)
	id = mktree("HEAD~1:", "stacks", id)
	g.Git("update-ref", "refs/heads/dup", g.Git("commit-tree", "-p", "HEAD~1", "-m", "duplicate entry", id))
	want := "stacks/orders/environments/dev.yaml: the commit's tree lists dev.yaml twice, which git cannot check out"
	detectAll(t, g.Dir, changes.Options{Base: "main~1", Head: "dup", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if got := fmt.Sprint(res.Problems); !strings.Contains(got, want) || strings.Contains(got, ".yml") {
			t.Errorf("%s paths=%v: problems %q, want %q", engine, paths, got, want)
		}
	})
}

// TestUncommittedIndexDeletionOfIgnoredFile: a file taken out of the
// index (git rm --cached) that stays on disk counts as it is when git
// status lists it untracked, but when git ignores it, git add -A && git
// commit deletes it (git status lists only "D "). --uncommitted read it
// from disk and said nothing changed, where the commit then reports the
// stack as broken (its stack.yaml gone).
func TestUncommittedIndexDeletionOfIgnoredFile(t *testing.T) {
	g, _ := baseRepo(t)
	g.Git("rm", "-q", "--cached", "stacks/orders/stack.yaml")
	check := func(what string, want []string) {
		t.Helper()
		detectAll(t, g.Dir, changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true}, func(engine string, paths bool, res *changes.Result) {
			got := summary(res)
			if len(want) == 0 && len(got) == 0 {
				return
			}
			if len(got) != len(want) || !strings.HasPrefix(got[0], want[0]) {
				t.Errorf("%s: %s paths=%v: %q, want %q", what, engine, paths, got, want)
			}
		})
	}
	check("untracked", nil)
	g.WriteFile(".gitignore", "stacks/orders/stack.yaml\n")
	check("ignored", []string{"orders modified dev:modified,prod:modified,staging:modified"})
	g.Git("add", ".gitignore")
	g.Commit("orders/stack.yaml is ignored")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if got := summary(res); len(got) != 1 || !strings.HasPrefix(got[0], "orders modified dev:modified,prod:modified,staging:modified") {
			t.Errorf("committed: %s paths=%v: %q", engine, paths, got)
		}
	})
}

// TestLinkedFileReason: an edit of the file a component, environment or
// stack.yaml file links to (a symbolic link inside the stack, which the loader
// follows) is credited with what it changed, not "no effect on the
// resolved model", committed or in the work tree, on both engines.
func TestLinkedFileReason(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/.shared/queue.txt", queueYAML)
	g.Write("stacks/orders/.shared/prod.txt", envYAML("prod", "  variables:\n    LOG_LEVEL: error\n  overrides:\n    api:\n      image: nginx:0.9\n"))
	g.Write("stacks/orders/.shared/stack.txt", stackYAML("orders", ""))
	for link, target := range map[string]string{"infra/queue.yaml": "../.shared/queue.txt", "environments/prod.yaml": "../.shared/prod.txt", "stack.yaml": ".shared/stack.txt"} {
		p := filepath.Join(g.Dir, "stacks", "orders", filepath.FromSlash(link))
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	g.Git("add", "-A")
	g.Commit("orders' queue and prod through links")
	g.Write("stacks/orders/.shared/queue.txt", strings.Replace(queueYAML, "visibilityTimeout: 30", "visibilityTimeout: 60", 1))
	g.Write("stacks/orders/.shared/prod.txt", envYAML("prod", "  variables:\n    LOG_LEVEL: debug\n  overrides:\n    api:\n      image: nginx:0.9\n"))
	want := map[string]string{
		"stacks/orders/.shared/queue.txt": "modified; component jobs changed in dev, prod, staging",
		"stacks/orders/.shared/prod.txt":  "modified; environment prod changed (component api)",
	}
	wantStacks := []string{"orders modified dev:modified,prod:modified,staging:modified [api,jobs]"}
	check := func(what string, opts changes.Options) {
		t.Helper()
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			if paths {
				return
			}
			if got := summary(res); !slices.Equal(got, wantStacks) {
				t.Errorf("%s %s: %q", what, engine, got)
			}
			got := map[string]string{}
			for _, s := range res.Stacks {
				for _, r := range s.Reasons {
					got[r.File] = r.Detail
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("%s %s: reasons %q, want %q", what, engine, got, want)
			}
		})
	}
	workTreeThenCommitted(g, "edit the targets", check)

	g.Write("stacks/orders/.shared/stack.txt", strings.Replace(stackYAML("orders", ""), "default: info", "default: trace", 1))
	want = map[string]string{"stacks/orders/.shared/stack.txt": "modified; changes dev (component api)"}
	wantStacks = []string{"orders modified dev:modified [api]"}
	check("stack.yaml's target, work tree", changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true})
	g.Commit("edit stack.yaml's target")
	check("stack.yaml's target, committed", changes.Options{Base: "HEAD~1", StacksRoot: "stacks"})
}

// TestStackFileGoneEnvironmentsKept: a stack.yaml deleted, or renamed
// (to Stack.yaml: a case-only rename; stack.yml) while the stack's
// environment files stay, is that stack broken (modified, with the error
// saying what to do), not a removed stack that a deploy pipeline would
// destroy; validate refuses the files left behind. Restoring it is that
// stack fixed (modified), not a new stack. Deleting the whole folder
// removes the stack. Both engines and modes, committed and in the
// work tree.
func TestStackFileGoneEnvironmentsKept(t *testing.T) {
	g, _ := baseRepo(t)
	want := "stacks/orders/stack.yaml is gone, but stacks/orders/environments still holds environment files"
	check := func(what string, opts changes.Options, wantStacks []string, wantProblem bool) {
		t.Helper()
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			if got := summary(res); !slices.Equal(got, wantStacks) {
				t.Errorf("%s %s paths=%v: %q, want %q", what, engine, paths, got, wantStacks)
			}
			if got := fmt.Sprint(res.Problems); strings.Contains(got, want) != wantProblem {
				t.Errorf("%s %s paths=%v: problems %q, want %q: %v", what, engine, paths, got, want, wantProblem)
			}
		})
	}
	broken := []string{"orders modified dev:modified,prod:modified,staging:modified"}
	for _, to := range []string{"", "Stack.yaml", "stack.yml"} {
		if to == "" {
			g.Remove("stacks/orders/stack.yaml")
		} else {
			g.Move("stacks/orders/stack.yaml", "stacks/orders/"+to)
		}
		check("work tree, to "+to, changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true}, broken, true)
		g.Commit("stack.yaml gone")
		check("committed, to "+to, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, broken, true)
		// Restored: the stack broken at base is fixed (modified, as
		// when it was deleted), not added.
		if to != "" {
			g.Remove("stacks/orders/" + to)
		}
		g.Git("checkout", "HEAD~1", "--", "stacks/orders/stack.yaml")
		check("restored in the work tree, from "+to, changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true}, broken, false)
		g.Commit("stack.yaml restored")
		check("restored, from "+to, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, broken, false)
		check("deleted and restored", changes.Options{Base: "HEAD~2", StacksRoot: "stacks"}, nil, false)
		g.Git("reset", "-q", "--hard", "HEAD~2")
	}
	g.Git("rm", "-q", "-r", "stacks/orders")
	removed := []string{"orders removed dev:removed,prod:removed,staging:removed"}
	check("whole folder, work tree", changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true}, removed, false)
	g.Commit("orders deleted")
	check("whole folder, committed", changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, removed, false)
}

// TestMovedStackReasons: in a stack folder moved with an overlay edited,
// the files that moved as they were are not credited with the overlay's
// change ("component api changed in prod" on services/api/service.yaml,
// which did not change): they had no effect; the overlay did.
func TestMovedStackReasons(t *testing.T) {
	g, _ := baseRepo(t)
	g.Move("stacks/orders", "stacks/shop")
	g.Write("stacks/shop/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: error\n  overrides:\n    api:\n      image: nginx:0.8\n"))
	g.Commit("move orders, pin prod's image")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if paths {
			return
		}
		if got := summary(res); !slices.Equal(got, []string{"orders moved prod:modified [api]"}) {
			t.Errorf("%s: %q", engine, got)
		}
		for _, s := range res.Stacks {
			for _, r := range s.Reasons {
				switch r.File {
				case "stacks/shop/services/api/service.yaml", "stacks/shop/infra/queue.yaml", "stacks/shop/stack.yaml":
					if !strings.HasSuffix(r.Detail, "; no effect on the resolved model") {
						t.Errorf("%s: %s: %q, want no effect", engine, r.File, r.Detail)
					}
				}
			}
		}
	})
}

// TestWatchThroughLink: a spec.watch glob whose folder is a symbolic link
// (shared/policies -> ../common/policies) does not see the linked files
// change (git records them under the target): detection says so, naming
// the glob to write instead, at every run, both engines and modes,
// committed and in the work tree.
func TestWatchThroughLink(t *testing.T) {
	g, _ := baseRepo(t)
	g.Move("shared/policies", "common/policies")
	if err := os.Symlink("../common/policies", filepath.Join(g.Dir, "shared", "policies")); err != nil {
		t.Fatal(err)
	}
	g.Git("add", "-A")
	g.Commit("policies through a link")
	want := `stack users (stacks/users) at head: stacks/users/stack.yaml: spec.watch glob "shared/policies/**" goes through the symbolic link shared/policies (to ../common/policies): ` +
		`git records changes to the linked files under the target, which the glob does not match, so they go unseen; watch "common/policies/**" instead`
	check := func(what string, opts changes.Options) {
		t.Helper()
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			if got := fmt.Sprint(res.Problems); !strings.Contains(got, want) {
				t.Errorf("%s %s paths=%v: problems %q, want %q", what, engine, paths, got, want)
			}
		})
	}
	g.Write("common/policies/deny.json", `{"deny": true}`)
	check("work tree", changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true})
	g.Commit("edit a policy")
	check("committed", changes.Options{Base: "HEAD~1", StacksRoot: "stacks"})
	// Another stack selected: not said.
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks", Stacks: []string{"orders"}}, func(engine string, paths bool, res *changes.Result) {
		if len(res.Problems) > 0 {
			t.Errorf("--stack orders %s paths=%v: problems %q", engine, paths, res.Problems)
		}
	})
}

// TestStackFileLinkToFolder: a stack.yaml replaced by a symbolic link to
// a folder of the stack is that stack broken (modified, with the error
// naming the link), in the work tree as once committed; detection with
// --uncommitted failed as a whole ("index stacks at head: read
// stacks/orders/stack.yaml: is a directory").
func TestStackFileLinkToFolder(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/real/x.yaml", "a: 1\n")
	g.Commit("a folder")
	if err := os.Remove(filepath.Join(g.Dir, "stacks/orders/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(g.Dir, "stacks/orders/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	want := "stacks/orders/stack.yaml: is a symbolic link to the folder stacks/orders/real: make stacks/orders/stack.yaml a file"
	check := func(what string, opts changes.Options) {
		t.Helper()
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			if got := summary(res); len(got) != 1 || !strings.HasPrefix(got[0], "orders modified dev:modified,prod:modified,staging:modified") {
				t.Errorf("%s %s paths=%v: %q, want orders modified", what, engine, paths, got)
			}
			if got := fmt.Sprint(res.Problems); !strings.Contains(got, want) {
				t.Errorf("%s %s paths=%v: problems %q, want %q", what, engine, paths, got, want)
			}
		})
	}
	check("work tree", changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true})
	g.Git("add", "-A")
	check("staged", changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true})
	g.Commit("stack.yaml links to a folder")
	check("committed", changes.Options{Base: "HEAD~1", StacksRoot: "stacks"})
}

// TestLinkedStackFileWatch: the spec.watch globs of a stack.yaml that is
// a symbolic link (to a file of the stack, which loads) watch, committed
// as in the work tree: the stack index read the link's own content (its
// target's name), found no "watch" in it, and a committed change to a
// watched file went unseen.
func TestLinkedStackFileWatch(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/stack.txt", stackYAML("orders", "", "docs/**"))
	if err := os.Remove(filepath.Join(g.Dir, "stacks/orders/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("stack.txt", filepath.Join(g.Dir, "stacks/orders/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	g.Git("add", "-A")
	g.Commit("orders' stack.yaml through a link, watching docs")
	g.Write("docs/README.md", "# more docs\n")
	want := []string{"orders modified dev:modified,prod:modified,staging:modified"}
	for _, c := range []struct {
		what string
		opts changes.Options
	}{
		{"work tree", changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true}},
		{"committed", changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}},
		{"committed, head not checked out", changes.Options{Base: "HEAD~1", Head: "HEAD", StacksRoot: "stacks", NoCache: true}},
	} {
		if c.what == "committed" {
			g.Commit("edit a watched file")
		}
		if c.what == "committed, head not checked out" {
			g.Git("checkout", "-q", "--detach", "HEAD~1")
			c.opts.Base, c.opts.Head = "HEAD", "main"
		}
		detectAll(t, g.Dir, c.opts, func(engine string, paths bool, res *changes.Result) {
			if got := summary(res); !slices.Equal(got, want) {
				t.Errorf("%s %s paths=%v: %q, want %q", c.what, engine, paths, got, want)
			}
		})
	}
}

// TestLinkedStackFileTargetEdited: with stack.yaml a symbolic link to
// another file of the folder, an edit of that file alone (the link
// unchanged) renames the stack or adds a spec.watch glob. The stack index
// of a commit derived from the cached index of an earlier one kept the
// name and globs the link had there: after a run over the edit, a change
// to the newly watched file was "No stack changed", and --paths called
// the renamed stack by its old name, modified.
func TestLinkedStackFileTargetEdited(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/stack.txt", stackYAML("orders", ""))
	if err := os.Remove(filepath.Join(g.Dir, "stacks/orders/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("stack.txt", filepath.Join(g.Dir, "stacks/orders/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	g.Git("add", "-A")
	c0 := g.Commit("orders' stack.yaml through a link")
	g.Write("stacks/orders/stack.txt", stackYAML("orders", "", "docs/**"))
	c1 := g.Commit("orders watches docs")
	g.Write("docs/README.md", "# more docs\n")
	c2 := g.Commit("edit a watched file")
	g.Write("stacks/orders/stack.txt", stackYAML("shop", "", "docs/**"))
	c3 := g.Commit("orders renamed shop")
	all := "dev:%[1]s,prod:%[1]s,staging:%[1]s"
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		cache := t.TempDir()
		for _, c := range []struct {
			base, head gitops.Hash
			paths      bool
			want       []string
		}{
			{c0, c1, false, nil}, // caches c0's index, then c1's derived from it
			{c1, c2, false, []string{"orders modified " + fmt.Sprintf(all, "modified")}},
			{c2, c3, true, []string{"orders removed " + fmt.Sprintf(all, "removed"), "shop added " + fmt.Sprintf(all, "added")}},
			{c2, c3, false, []string{"orders removed " + fmt.Sprintf(all, "removed"), "shop added " + fmt.Sprintf(all, "added")}},
		} {
			res, err := changes.Detect(context.Background(), repo, changes.Options{Base: c.base.String(), Head: c.head.String(), StacksRoot: "stacks", Paths: c.paths, CacheDir: cache})
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(res); !slices.Equal(got, c.want) {
				t.Errorf("%s %s..%s paths=%v: %q, want %q", m.name, c.base.String()[:7], c.head.String()[:7], c.paths, got, c.want)
			}
		}
	}
}

// TestLinkedStackFileWatchUncommitted: with stack.yaml a symbolic link
// to stack.txt, a work tree that adds a spec.watch glob to stack.txt and
// edits a file it matches outside the stacks root lists the stack, as
// the same edits committed do. git's status was asked about the folders
// of HEAD's globs and of changed stack.yaml files only, not of a changed
// file a stack.yaml links to: the watched file went unseen ("No stack
// changed").
func TestLinkedStackFileWatchUncommitted(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/stack.txt", stackYAML("orders", ""))
	if err := os.Remove(filepath.Join(g.Dir, "stacks/orders/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("stack.txt", filepath.Join(g.Dir, "stacks/orders/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	g.Git("add", "-A")
	g.Commit("orders' stack.yaml through a link")
	g.WriteFile("stacks/orders/stack.txt", stackYAML("orders", "", "docs/**"))
	g.WriteFile("docs/README.md", "# more docs\n")
	want := []string{"orders modified dev:modified,prod:modified,staging:modified"}
	detectAll(t, g.Dir, changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true}, func(engine string, paths bool, res *changes.Result) {
		if got := summary(res); !slices.Equal(got, want) {
			t.Errorf("%s paths=%v: %q, want %q", engine, paths, got, want)
		}
		if len(res.Stacks) == 1 && !slices.ContainsFunc(res.Stacks[0].Reasons, func(r changes.Reason) bool { return r.File == "docs/README.md" }) {
			t.Errorf("%s paths=%v: reasons %v, want docs/README.md among them", engine, paths, res.Stacks[0].Reasons)
		}
	})
}

// TestLinkedStackFilesAlike: two stacks whose stack.yaml are the same
// symbolic link (to stack.txt in each folder) are two stacks, not a folder
// copied under its name: with one of them changed, panka changed listed
// both names' stacks as "stack name ... is used by both", the name taken
// from one or the other depending on the engine.
func TestLinkedStackFilesAlike(t *testing.T) {
	g, _ := baseRepo(t)
	for _, n := range []string{"orders", "users"} {
		g.Write("stacks/"+n+"/stack.txt", stackYAML(n, ""))
		if err := os.Remove(filepath.Join(g.Dir, "stacks", n, "stack.yaml")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("stack.txt", filepath.Join(g.Dir, "stacks", n, "stack.yaml")); err != nil {
			t.Fatal(err)
		}
	}
	g.Git("add", "-A")
	g.Commit("stack.yaml through links")
	g.WriteFile("stacks/orders/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: debug\n  overrides:\n    api:\n      image: nginx:0.9\n"))
	want := []string{"orders modified prod:modified [api]"}
	check := func(what string, opts changes.Options) {
		t.Helper()
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			if paths {
				return // every environment of the touched stack
			}
			if got := summary(res); !slices.Equal(got, want) || len(res.Problems) > 0 {
				t.Errorf("%s %s: %q %v, want %q and no problem", what, engine, got, res.Problems, want)
			}
		})
	}
	workTreeThenCommitted(g, "orders' prod", check)
}

// TestLinkedStackFileBroken: a stack whose stack.yaml is a symbolic link
// to stack.txt, which names it but does not load (an unknown field), keeps
// its name when another of its files changes, as with a stack.yaml of its
// own. Committed, it was listed under its folder's name ("orders-folder"),
// a stack no command finds.
func TestLinkedStackFileBroken(t *testing.T) {
	g, _ := baseRepo(t)
	g.Move("stacks/orders", "stacks/orders-folder")
	g.Write("stacks/orders-folder/stack.txt", stackYAML("orders", "")+"  bogus: 1\n")
	if err := os.Remove(filepath.Join(g.Dir, "stacks/orders-folder/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("stack.txt", filepath.Join(g.Dir, "stacks/orders-folder/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	g.Git("add", "-A")
	g.Commit("orders' stack.yaml through a link, broken")
	g.Write("stacks/orders-folder/infra/queue.yaml", strings.Replace(queueYAML, "30", "60", 1))
	check := func(what string, opts changes.Options) {
		t.Helper()
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			want := []string{"orders modified dev:modified,prod:modified,staging:modified"}
			if got := summary(res); !slices.Equal(got, want) {
				t.Errorf("%s %s paths=%v: %q, want %q", what, engine, paths, got, want)
			}
		})
	}
	check("work tree", changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true})
	g.Commit("orders' queue")
	check("committed", changes.Options{Base: "HEAD~1", StacksRoot: "stacks"})
}

// TestLinkedStackFileTargetDeleted: the file a stack.yaml link points at
// deleted, environments kept, is a broken stack (modified, every
// environment), never a removed one a pipeline would destroy; in the work
// tree it was "removed" once a change of a linked stack.yaml's folder
// read the link again.
func TestLinkedStackFileTargetDeleted(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/stack.txt", stackYAML("orders", ""))
	if err := os.Remove(filepath.Join(g.Dir, "stacks/orders/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("stack.txt", filepath.Join(g.Dir, "stacks/orders/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	g.Git("add", "-A")
	g.Commit("orders' stack.yaml through a link")
	if err := os.Remove(filepath.Join(g.Dir, "stacks/orders/stack.txt")); err != nil {
		t.Fatal(err)
	}
	want := []string{"orders modified dev:modified,prod:modified,staging:modified"}
	check := func(what string, opts changes.Options) {
		t.Helper()
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			if got := summary(res); !slices.Equal(got, want) {
				t.Errorf("%s %s paths=%v: %q, want %q", what, engine, paths, got, want)
			}
		})
	}
	workTreeThenCommitted(g, "stack.txt deleted", check)
}

// TestBrokenStacksSwapNamesUncommitted: two stacks that do not load (an
// unknown field) and differ only by name swap names in the work tree:
// each is moved, and holds at head exactly the files it held at base, so
// no environment changed, as the same edit committed says (the folders'
// tree ids are equal). --uncommitted listed every environment of both.
func TestBrokenStacksSwapNamesUncommitted(t *testing.T) {
	g := gittest.New(t)
	for _, n := range []string{"orders", "billing"} {
		seed(g, "stacks/"+n, n)
		g.Write("stacks/"+n+"/stack.yaml", stackYAML(n, "")+"  bogus: 1\n")
	}
	g.Commit("two broken stacks")
	g.WriteFile("stacks/orders/stack.yaml", stackYAML("billing", "")+"  bogus: 1\n")
	g.WriteFile("stacks/billing/stack.yaml", stackYAML("orders", "")+"  bogus: 1\n")
	want := []string{"billing moved ", "orders moved "}
	check := func(what string, opts changes.Options) {
		t.Helper()
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			if paths {
				return // every environment of a touched stack
			}
			if got := summary(res); !slices.Equal(got, want) {
				t.Errorf("%s %s: %q, want %q", what, engine, got, want)
			}
		})
	}
	workTreeThenCommitted(g, "names swapped", check)
}

// TestStackFileFolder: a folder named stack.yaml where the stack's file
// was is a broken stack (changed, with the error), not a removed stack
// that a deploy pipeline would destroy; fixed again, it is changed from a
// broken base. Committed and in the work tree, both engines and modes.
func TestStackFileFolder(t *testing.T) {
	g, _ := baseRepo(t)
	orders := stackYAML("orders", "")
	if err := os.Remove(filepath.Join(g.Dir, "stacks/orders/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	g.Write("stacks/orders/stack.yaml/stack.yaml", orders)
	want := "stacks/orders/stack.yaml: is a folder, not a file"
	check := func(what string, opts changes.Options) {
		t.Helper()
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			if got := summary(res); len(got) != 1 || !strings.HasPrefix(got[0], "orders modified ") {
				t.Errorf("%s %s paths=%v: %q, want orders modified", what, engine, paths, got)
			}
			if got := fmt.Sprint(res.Problems); !strings.Contains(got, want) {
				t.Errorf("%s %s paths=%v: problems %q, want %q", what, engine, paths, got, want)
			}
		})
	}
	workTreeThenCommitted(g, "stack.yaml becomes a folder", check)

	if err := os.RemoveAll(filepath.Join(g.Dir, "stacks/orders/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	g.Write("stacks/orders/stack.yaml", orders)
	g.Git("add", "-A")
	g.Commit("fixed")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if got := summary(res); len(got) != 1 || !strings.HasPrefix(got[0], "orders modified ") {
			t.Errorf("fixed %s paths=%v: %q, want orders modified", engine, paths, got)
		}
	})
}

// A partial clone (git clone --filter) lacks the blobs (blob:none) or trees
// (tree:0) of commits other than the checked-out one. With the git binary
// they are fetched on demand and the answer is the full clone's; where
// they cannot be had (go-git alone, or the promisor remote unreachable)
// detection fails and says so — it never reports a stack whose files could
// not be read as changed.
func TestPartialClone(t *testing.T) {
	g, base := baseRepo(t)
	g.Git("config", "uploadpack.allowFilter", "true")
	g.Git("config", "uploadpack.allowAnySHA1InWant", "true")
	g.Git("checkout", "-q", "-b", "feature")
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	feature := g.Commit("orders dev")
	g.Git("checkout", "-q", "main")
	full, err := gitops.Open(g.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	want, err := changes.Detect(context.Background(), full, changes.Options{Base: base.String(), Head: feature.String(), StacksRoot: "stacks", NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(want); !slices.Equal(got, []string{"orders modified dev:modified [api]"}) {
		t.Fatalf("full clone: %q", got)
	}
	for _, filter := range []string{"blob:none", "tree:0"} {
		for _, m := range modes {
			t.Run(filter+"/"+m.name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "partial")
				if out, err := exec.Command("git", "clone", "-q", "--filter="+filter, "file://"+g.Dir, dir).CombinedOutput(); err != nil {
					t.Fatalf("clone: %v\n%s", err, out)
				}
				repo, err := gitops.Open(dir, m.opts)
				if err != nil {
					t.Fatal(err)
				}
				defer repo.Close()
				if repo.PartialClone() != "origin" {
					t.Errorf("PartialClone = %q, want origin", repo.PartialClone())
				}
				res, err := changes.Detect(context.Background(), repo, changes.Options{Base: base.String(), Head: feature.String(), StacksRoot: "stacks", NoCache: true})
				if m.opts.NoGitBinary {
					var re *gitops.RefError
					if err == nil {
						t.Fatalf("Detect = %q, want an error: objects are missing", summary(res))
					}
					if !errors.As(err, &re) || re.Partial != "origin" || !strings.Contains(err.Error(), "partial clone") {
						t.Errorf("error %q does not say that the partial clone lacks objects", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := summary(res); !slices.Equal(got, summary(want)) || len(res.Problems) > 0 {
					t.Errorf("git fetched on demand: %q (problems %v), want %q", got, res.Problems, summary(want))
				}
			})
		}
	}
}

// A partial sparse clone (git clone --filter=blob:none --sparse, as big
// monorepos are checked out) lacks the blobs outside the cone, stack.yaml
// files included, which the index of stacks and the loader read. Where
// they cannot be fetched (go-git alone, or the promisor remote
// unreachable), every error names the file, the object and the fix for
// the engine in use: it said "read blob <id>: object not in the local
// repository" (for the index of stacks not even which file), nothing
// about the partial clone or what to do.
func TestPartialSparseCloneMissingNamesFileAndFix(t *testing.T) {
	g, _ := baseRepo(t)
	g.Git("config", "uploadpack.allowFilter", "true")
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	g.Commit("orders dev")
	// Outside the cone: either may be the first read that fails.
	named := func(err error) bool {
		for _, name := range []string{"stacks/billing/stack.yaml", "stacks/users/stack.yaml"} {
			if strings.Contains(err.Error(), name+": read blob "+g.Git("rev-parse", "HEAD:"+name)) {
				return true
			}
		}
		return false
	}
	dir := filepath.Join(t.TempDir(), "partial")
	if out, err := exec.Command("git", "clone", "-q", "--filter=blob:none", "--sparse", "file://"+g.Dir, dir).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"sparse-checkout", "set", "stacks/orders"}, {"remote", "set-url", "origin", "file://" + filepath.Join(t.TempDir(), "gone")}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			repo, err := gitops.Open(dir, m.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer repo.Close()
			fix := "check that origin can be reached"
			if m.opts.NoGitBinary {
				fix = "unset PANKA_GIT_BINARY"
			}
			for _, opts := range []changes.Options{{Base: "HEAD~1"}, {Base: "HEAD", Uncommitted: true}} {
				opts.StacksRoot, opts.NoCache = "stacks", true
				res, err := changes.Detect(context.Background(), repo, opts)
				if err == nil {
					t.Fatalf("Detect(%+v) = %q, want an error: the stack.yaml files outside the cone are not in the clone", opts, summary(res))
				}
				if !named(err) {
					t.Errorf("Detect(%+v): error %q does not name the stack.yaml outside the cone and its blob", opts, err)
				}
				for _, want := range []string{"partial clone", fix} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("Detect(%+v): error %q does not say %q", opts, err, want)
					}
				}
			}
			head, err := repo.Head()
			if err != nil {
				t.Fatal(err)
			}
			fsys, err := repo.TreeFS(head)
			if err != nil {
				t.Fatal(err)
			}
			_, err = fs.ReadFile(fsys, "stacks/billing/stack.yaml")
			if !errors.Is(err, gitops.ErrObjectMissing) || !strings.Contains(err.Error(), "partial clone") || !strings.Contains(err.Error(), fix) {
				t.Errorf("ReadFile: %v, want the object missing from the partial clone, with the fix (%s)", err, fix)
			}
		})
	}
}

// TestUncommittedSparseCheckout compares the work tree of sparse checkouts
// with base: the files git keeps out of the work tree (skip-worktree: the
// folders outside the cone, or one file) are as indexed, unchanged, never
// deleted. A stack changed by the commits outside the cone is reported as
// without --uncommitted; a sparse index (which go-git cannot read) is read
// with the git binary and refused without it.
func TestUncommittedSparseCheckout(t *testing.T) {
	src, base := baseRepo(t)
	src.Write("stacks/billing/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	src.Commit("billing dev")
	cases := []struct {
		name   string
		sparse func(g *gittest.Repo)
		gone   string // a file out of the work tree
		// sparseIndex: go-git cannot read the index.
		sparseIndex bool
	}{
		{"cone", func(g *gittest.Repo) { g.Git("sparse-checkout", "set", "--cone", "--no-sparse-index", "stacks/orders") }, "stacks/billing/stack.yaml", false},
		{"cone sparse index", func(g *gittest.Repo) { g.Git("sparse-checkout", "set", "--cone", "--sparse-index", "stacks/orders") }, "stacks/billing/stack.yaml", true},
		{"no cone", func(g *gittest.Repo) {
			g.Git("sparse-checkout", "set", "--no-cone", "/*", "!/stacks/billing/environments/", "!/stacks/users/")
		}, "stacks/billing/environments/dev.yaml", false},
		{"one file", func(g *gittest.Repo) {
			g.Git("update-index", "--skip-worktree", "stacks/billing/stack.yaml")
			if err := os.Remove(filepath.Join(g.Dir, "stacks", "billing", "stack.yaml")); err != nil {
				t.Fatal(err)
			}
		}, "stacks/billing/stack.yaml", false},
	}
	// --paths lists every environment of a stack whose files changed.
	want := map[bool][]string{
		false: {"billing modified dev:modified [api]", "orders modified staging:modified [api]"},
		true:  {"billing modified dev:modified,prod:modified,staging:modified", "orders modified dev:modified,prod:modified,staging:modified"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := &gittest.Repo{T: t, Dir: filepath.Join(t.TempDir(), "sparse")}
			src.Git("clone", "-q", src.Dir, g.Dir)
			c.sparse(g)
			if g.Exists(c.gone) {
				t.Fatalf("%s is in the work tree: not a sparse checkout", c.gone)
			}
			g.WriteFile("stacks/orders/environments/staging.yaml", envYAML("staging", "  variables:\n    LOG_LEVEL: debug\n"))
			for _, m := range modes {
				repo, err := gitops.Open(g.Dir, m.opts)
				if err != nil {
					t.Fatal(err)
				}
				defer repo.Close()
				for _, paths := range []bool{false, true} {
					res, err := changes.Detect(context.Background(), repo, changes.Options{Base: base.String(), StacksRoot: "stacks", Uncommitted: true, Paths: paths, NoCache: true})
					if c.sparseIndex && m.opts.NoGitBinary {
						// The fix keeps the sparse checkout (it said
						// git sparse-checkout disable, which checks out
						// every file of the monorepo).
						if err == nil || !strings.Contains(err.Error(), "it is a sparse index") || !strings.Contains(err.Error(), "git sparse-checkout reapply --no-sparse-index") {
							t.Errorf("%s: Detect = %v, %v: want an error about the sparse index, with the fix that keeps the sparse checkout", m.name, res, err)
						}
						continue
					}
					if err != nil {
						t.Fatalf("%s: %v", m.name, err)
					}
					if got := summary(res); !slices.Equal(got, want[paths]) || len(res.Problems) > 0 {
						t.Errorf("%s (paths %v): %q (problems %v), want %q", m.name, paths, got, res.Problems, want[paths])
					}
				}
			}
		})
	}
}

// detectUncommitted checks Detect from base with the work tree, in both
// engines, resolved (want[false]) and --paths (want[true]).
func detectUncommitted(t *testing.T, g *gittest.Repo, base gitops.Hash, what string, want map[bool][]string) {
	t.Helper()
	detectAll(t, g.Dir, changes.Options{Base: base.String(), StacksRoot: "stacks", Uncommitted: true, NoCache: true}, func(engine string, paths bool, res *changes.Result) {
		if got := summary(res); !slices.Equal(got, want[paths]) {
			t.Errorf("%s%s (paths %v): %q, want %q", what, engine, paths, got, want[paths])
		}
	})
}

// TestUncommittedSubmoduleWatched: a submodule under a spec.watch folder
// whose checked-out commit moved (git -C sub checkout, git submodule
// update --remote), staged or not, is what git commit -a records, and the
// commit then changes every environment of the watching stack; --uncommitted
// said "nothing changed" (git status --ignore-submodules=all, and go-git
// skipped gitlinks). What the submodule's own work tree holds still does
// not count.
func TestUncommittedSubmoduleWatched(t *testing.T) {
	sub := gittest.New(t)
	sub.Write("deny.json", "{}")
	first := sub.Commit("one")
	sub.Write("deny.json", `{"deny": true}`)
	sub.Commit("two")
	g, _ := baseRepo(t)
	g.Git("-c", "protocol.file.allow=always", "submodule", "add", "-q", sub.Dir, "shared/policies/upstream")
	base := g.Commit("submodule")
	all := []string{"users modified dev:modified,prod:modified,staging:modified"}
	nothing := map[bool][]string{false: {}, true: {}}
	detectUncommitted(t, g, base, "clean: ", nothing)
	upstream := filepath.Join(g.Dir, "shared", "policies", "upstream")
	if err := os.WriteFile(filepath.Join(upstream, "local.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	detectUncommitted(t, g, base, "untracked file inside the submodule: ", nothing)
	g.Git("-C", upstream, "checkout", "-q", "--detach", first.String())
	detectUncommitted(t, g, base, "submodule checked out at another commit: ", map[bool][]string{false: all, true: all})
	g.Git("add", "shared/policies/upstream")
	detectUncommitted(t, g, base, "staged: ", map[bool][]string{false: all, true: all})
	g.Commit("bump the submodule")
	detectAll(t, g.Dir, changes.Options{Base: base.String(), StacksRoot: "stacks", NoCache: true}, func(engine string, paths bool, res *changes.Result) {
		if got := summary(res); !slices.Equal(got, all) {
			t.Errorf("committed, %s (paths %v): %q, want %q", engine, paths, got, all)
		}
	})
}

// TestUncommittedIgnoredFiles: with --uncommitted the head is what git add
// -A would commit, so files git ignores (.gitignore) inside a stack folder
// never count. They did count when another change made the stack load:
// a comment edit beside an ignored component file reported the component
// as changed, with the edit as the reason ("no effect on the resolved
// model"); alone, the same ignored file changed nothing.
func TestUncommittedIgnoredFiles(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write(".gitignore", "*.local.yaml\nscratch/\n")
	base := g.Commit("ignore local files")
	local := strings.ReplaceAll(queueYAML, "name: jobs", "name: local-only")
	g.WriteFile("stacks/orders/infra/extra.local.yaml", local)
	g.WriteFile("stacks/orders/scratch/q.yaml", strings.ReplaceAll(queueYAML, "name: jobs", "name: scratch"))
	nothing := map[bool][]string{false: {}, true: {}}
	detectUncommitted(t, g, base, "ignored files only: ", nothing)
	g.WriteFile("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables: {}\n")+"# a comment\n")
	detectUncommitted(t, g, base, "ignored files and a comment: ", map[bool][]string{
		false: {},
		true:  {"orders modified dev:modified,prod:modified,staging:modified"},
	})
	// An untracked folder holding a new component and an ignored file.
	g.WriteFile("stacks/orders/extra/cache.yaml", strings.ReplaceAll(queueYAML, "name: jobs", "name: extra"))
	g.WriteFile("stacks/orders/extra/more.local.yaml", local)
	all := []string{"orders modified dev:modified,prod:modified,staging:modified [extra]"}
	detectUncommitted(t, g, base, "a new component beside ignored files: ", map[bool][]string{
		false: all,
		true:  {"orders modified dev:modified,prod:modified,staging:modified"},
	})
	// Committed with git add -A, the same.
	g.Git("add", "-A")
	g.Commit("extra")
	detectAll(t, g.Dir, changes.Options{Base: base.String(), StacksRoot: "stacks", NoCache: true}, func(engine string, paths bool, res *changes.Result) {
		if got := summary(res); !paths && !slices.Equal(got, all) {
			t.Errorf("committed, %s: %q, want %q", engine, got, all)
		}
	})
}

// TestUncommittedAssumeUnchanged: a file marked git update-index
// --assume-unchanged is unchanged for git whatever the work tree holds, so
// for both engines: its edit is not seen, and a stack loaded because of
// another change reads its indexed content.
func TestUncommittedAssumeUnchanged(t *testing.T) {
	g, base := baseRepo(t)
	g.Git("update-index", "--assume-unchanged", "stacks/orders/stack.yaml")
	// On disk, orders would be renamed and every environment changed.
	g.WriteFile("stacks/orders/stack.yaml", strings.Replace(stackYAML("renamed", ""), "default: info", "default: debug", 1))
	detectUncommitted(t, g, base, "", map[bool][]string{false: {}, true: {}})
	g.WriteFile("stacks/orders/environments/staging.yaml", envYAML("staging", "  variables:\n    LOG_LEVEL: debug\n"))
	detectUncommitted(t, g, base, "", map[bool][]string{
		false: {"orders modified staging:modified [api]"},
		true:  {"orders modified dev:modified,prod:modified,staging:modified"},
	})
}

// TestUncommittedModeChange: a change of mode in the work tree (chmod +x,
// chmod -x) is a change of the file, as git diff HEAD says, unless
// core.fileMode=false, when git ignores the executable bit.
func TestUncommittedModeChange(t *testing.T) {
	g, base := baseRepo(t)
	g.Git("update-index", "--chmod=+x", "stacks/users/infra/queue.yaml")
	if err := os.Chmod(filepath.Join(g.Dir, "stacks", "users", "infra", "queue.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	base = g.Commit("users queue executable")
	for _, c := range []struct {
		file string
		perm os.FileMode
	}{{"stacks/orders/infra/queue.yaml", 0o755}, {"stacks/users/infra/queue.yaml", 0o644}} {
		if err := os.Chmod(filepath.Join(g.Dir, filepath.FromSlash(c.file)), c.perm); err != nil {
			t.Fatal(err)
		}
	}
	detect := func(fileMode string) {
		t.Helper()
		g.Git("config", "core.fileMode", fileMode)
		want := map[bool][]string{false: {}, true: {}}
		if fileMode == "true" {
			if got := g.Git("diff", "--name-only", "HEAD"); got != "stacks/orders/infra/queue.yaml\nstacks/users/infra/queue.yaml" {
				t.Fatalf("git diff HEAD = %q", got)
			}
			// The model does not depend on modes: only --paths sees them.
			want[true] = []string{"orders modified dev:modified,prod:modified,staging:modified", "users modified dev:modified,prod:modified,staging:modified"}
		} else if got := g.Git("diff", "--name-only", "HEAD"); got != "" {
			t.Fatalf("core.fileMode=false: git diff HEAD = %q", got)
		}
		detectUncommitted(t, g, base, "core.fileMode="+fileMode+", ", want)
	}
	detect("true")
	detect("false")
}

// TestUnknownFilterNames: a literal --stack or --environment that names
// nothing at base or head is an error (a typo must not read as "nothing
// changed"); a glob that matches nothing (warned about instead), or a name
// that exists but did not change, is not. Both engines and modes; untouched stacks are found
// whether or not their folder carries their name.
func TestUnknownFilterNames(t *testing.T) {
	g, _ := baseRepo(t)
	seed(g, "stacks/pay-folder", "payments")
	g.Write("stacks/billing/environments/qa.yaml", envYAML("qa", "  variables: {}\n"))
	g.Commit("more stacks")
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	g.Commit("orders dev")
	ok := []changes.Options{
		{Stacks: []string{"orders"}},
		{Stacks: []string{"users"}},                                  // untouched
		{Stacks: []string{"payments"}},                               // untouched, folder named otherwise
		{Stacks: []string{"nope*"}},                                  // a glob may match nothing
		{Stacks: []string{"nope*"}, Environments: []string{"prodx"}}, // no stack selected: nothing to check
		{Environments: []string{"qa"}},                               // only an untouched stack has it
		{Stacks: []string{"billing"}, Environments: []string{"qa"}},
		{Environments: []string{"q?"}},
	}
	for _, o := range ok {
		o.Base, o.StacksRoot, o.StrictNames = "HEAD~1", "stacks", true
		detectAll(t, g.Dir, o, func(engine string, paths bool, res *changes.Result) {})
	}
	bad := []struct {
		opts changes.Options
		want string
	}{
		{changes.Options{Stacks: []string{"nope"}}, `--stack "nope": no stack of that name at base`},
		{changes.Options{Stacks: []string{"orders", "pay-folder"}}, `--stack "pay-folder"`},
		{changes.Options{Environments: []string{"prodx"}}, `--environment "prodx": no stack has that environment`},
		{changes.Options{Stacks: []string{"orders"}, Environments: []string{"qa"}}, `--environment "qa": no selected stack has that environment`},
		// A near miss names what was meant.
		{changes.Options{Stacks: []string{"orderz"}}, `(did you mean "orders"?): check the spelling`},
		{changes.Options{Environments: []string{"prodx"}}, `(did you mean "prod"?): check the spelling`},
	}
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		for _, b := range bad {
			for _, paths := range []bool{false, true} {
				for _, unc := range []bool{false, true} {
					o := b.opts
					o.Base, o.StacksRoot, o.Paths, o.Uncommitted, o.StrictNames = "HEAD~1", "stacks", paths, unc, true
					if _, err := changes.Detect(context.Background(), repo, o); err == nil || !strings.Contains(err.Error(), b.want) {
						t.Errorf("%s paths=%v uncommitted=%v %v %v: %v, want %q", m.name, paths, unc, o.Stacks, o.Environments, err, b.want)
					}
				}
			}
			o := b.opts
			o.Base, o.StacksRoot = "HEAD~1", "stacks"
			if _, err := changes.Detect(context.Background(), repo, o); err != nil {
				t.Errorf("%s without StrictNames %v %v: %v", m.name, o.Stacks, o.Environments, err)
			}
			o.Base, o.StrictNames = "", true
			if _, err := changes.SinceDeployed(context.Background(), repo, fakeDeployed{}, o); err == nil || !strings.Contains(err.Error(), strings.Split(b.want, ":")[0]) {
				t.Errorf("%s since-deployed %v %v: %v, want %q", m.name, o.Stacks, o.Environments, err, b.want)
			}
		}
		// A stack deployed but gone at head is a known name since-deployed.
		g2 := listedDeployed{fakeDeployed{"gone/dev": "0123456789abcdef0123456789abcdef01234567"}}
		if _, err := changes.SinceDeployed(context.Background(), repo, g2, changes.Options{StacksRoot: "stacks", Stacks: []string{"gone"}, StrictNames: true}); err != nil && strings.Contains(err.Error(), "no stack of that name") {
			t.Errorf("%s: a deployed stack gone at head: %v", m.name, err)
		}
	}
}

// TestStackGlobMatchingNothing: a --stack glob that matches no stack at
// base or head (a typo: a CI matrix silently empty) is warned about in
// Problems, not refused; one that matches a stack, touched or not, whether
// or not its folder carries its name, is not. Both engines and modes, and
// since-deployed.
func TestStackGlobMatchingNothing(t *testing.T) {
	g, _ := baseRepo(t)
	seed(g, "stacks/pay-folder", "payments")
	g.Commit("more stacks")
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	g.Commit("orders dev")
	warned := func(res *changes.Result, glob string) bool {
		for _, p := range res.Problems {
			if strings.Contains(p.Error(), fmt.Sprintf("--stack %q matches no stack ", glob)) && strings.Contains(p.Error(), "check the pattern") {
				return true
			}
		}
		return false
	}
	for _, glob := range []string{"ord*", "pay*", "payme?ts", "[u]sers"} {
		detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks", StrictNames: true, Stacks: []string{glob, "nope*"}}, func(engine string, paths bool, res *changes.Result) {
			if warned(res, glob) || !warned(res, "nope*") {
				t.Errorf("%s paths=%v %s: problems %v, want only nope* warned about", engine, paths, glob, res.Problems)
			}
		})
	}
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks", StrictNames: true, Stacks: []string{"ordrs-*"}}, func(engine string, paths bool, res *changes.Result) {
		if len(res.Stacks) != 0 || !warned(res, "ordrs-*") || !strings.Contains(fmt.Sprint(res.Problems), "at base ") {
			t.Errorf("%s paths=%v: %d stacks, problems %v, want none and a warning naming base and head", engine, paths, len(res.Stacks), res.Problems)
		}
	})
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks", Stacks: []string{"nope*"}}, func(engine string, paths bool, res *changes.Result) {
		if warned(res, "nope*") {
			t.Errorf("%s paths=%v: warned without StrictNames: %v", engine, paths, res.Problems)
		}
	})
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		res, err := changes.SinceDeployed(context.Background(), repo, fakeDeployed{}, changes.Options{StacksRoot: "stacks", StrictNames: true, Stacks: []string{"payme*", "nope*"}})
		repo.Close()
		if err != nil {
			t.Fatalf("%s since-deployed: %v", m.name, err)
		}
		if warned(res, "payme*") || !warned(res, "nope*") {
			t.Errorf("%s since-deployed: problems %v, want only nope* warned about", m.name, res.Problems)
		}
	}
}

// TestEnvironmentGlobMatchingNothing: an --environment glob that matches
// no environment of the selected stacks at base or head (a typo such as
// 'prodution*': a CI matrix silently empty) is warned about in Problems,
// as a --stack glob is, not refused; one that matches an environment of a
// selected stack, touched or not, is not. Both engines and modes, and
// since-deployed.
func TestEnvironmentGlobMatchingNothing(t *testing.T) {
	g, _ := baseRepo(t)
	seed(g, "stacks/pay-folder", "payments")
	g.Write("stacks/pay-folder/environments/qa.yaml", envYAML("qa", "  variables: {}\n"))
	g.Commit("more stacks")
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	g.Commit("orders dev")
	warned := func(res *changes.Result, glob string) bool {
		for _, p := range res.Problems {
			if strings.Contains(p.Error(), fmt.Sprintf("--environment %q matches no environment ", glob)) && strings.Contains(p.Error(), "check the pattern") {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		stacks        []string
		glob, nothing string
	}{
		{nil, "d*", "prd*"},       // touched stack's environment
		{nil, "q?", "prodution*"}, // only an untouched stack has it
		{[]string{"pay*"}, "q?", "d[!e]*"},
		{[]string{"orders"}, "[s]taging", "q?"}, // qa is not orders'
	} {
		detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks", StrictNames: true, Stacks: tc.stacks, Environments: []string{tc.glob, tc.nothing}}, func(engine string, paths bool, res *changes.Result) {
			if warned(res, tc.glob) || !warned(res, tc.nothing) {
				t.Errorf("%s paths=%v --stack %v: problems %v, want only %s warned about", engine, paths, tc.stacks, res.Problems, tc.nothing)
			}
		})
	}
	// --stack matching nothing is warned about on its own: its selected
	// stacks have no environment to match.
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks", StrictNames: true, Stacks: []string{"nope*"}, Environments: []string{"d*"}}, func(engine string, paths bool, res *changes.Result) {
		if warned(res, "d*") || len(res.Problems) != 1 {
			t.Errorf("%s paths=%v: problems %v, want only the --stack glob warned about", engine, paths, res.Problems)
		}
	})
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks", Environments: []string{"prd*"}}, func(engine string, paths bool, res *changes.Result) {
		if warned(res, "prd*") {
			t.Errorf("%s paths=%v: warned without StrictNames: %v", engine, paths, res.Problems)
		}
	})
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		res, err := changes.SinceDeployed(context.Background(), repo, fakeDeployed{}, changes.Options{StacksRoot: "stacks", StrictNames: true, Environments: []string{"q*", "prd*"}})
		repo.Close()
		if err != nil {
			t.Fatalf("%s since-deployed: %v", m.name, err)
		}
		if warned(res, "q*") || !warned(res, "prd*") {
			t.Errorf("%s since-deployed: problems %v, want only prd* warned about", m.name, res.Problems)
		}
	}
}

// TestUnknownFilterNameBrokenStack: a --stack name matching nothing while
// an untouched stack.yaml does not load (so its stack's name is unknown)
// says so, naming the file: the name may be that stack's.
func TestUnknownFilterNameBrokenStack(t *testing.T) {
	g, _ := baseRepo(t)
	seed(g, "stacks/pay-folder", "payments")
	g.Write("stacks/pay-folder/stack.yaml", "apiVersion: panka.dev/v1\nkind: Stack\nmetadata: [broken\n")
	g.Commit("payments breaks")
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	g.Commit("orders dev")
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		for _, paths := range []bool{false, true} {
			for _, unc := range []bool{false, true} {
				o := changes.Options{Stacks: []string{"payments"}, Base: "HEAD~1", StacksRoot: "stacks", Paths: paths, Uncommitted: unc, StrictNames: true}
				_, err := changes.Detect(context.Background(), repo, o)
				want := "stacks/pay-folder/stack.yaml at head "
				if unc {
					want = "stacks/pay-folder/stack.yaml (work tree)"
				}
				if err == nil || !strings.Contains(err.Error(), `--stack "payments": no stack of that name`) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "does not load, so the name of its stack is unknown") {
					t.Errorf("%s paths=%v uncommitted=%v: %v, want the broken %s named", m.name, paths, unc, err, want)
				}
			}
		}
	}
}

// TestWhyEnvironmentFiles: --why names what an environment file's addition
// or deletion did, and a file that stops loading is one reason, not two.
func TestWhyEnvironmentFiles(t *testing.T) {
	g, _ := baseRepo(t)
	g.Remove("stacks/orders/environments/staging.yaml")
	g.Write("stacks/orders/environments/qa.yaml", envYAML("qa", "  variables: {}\n"))
	g.Commit("staging out, qa in")
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables: [\n"))
	g.Commit("break dev")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~2", Head: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if paths {
			return
		}
		want := map[string]string{
			"stacks/orders/environments/staging.yaml": "deleted; environment staging removed",
			"stacks/orders/environments/qa.yaml":      "added; environment qa added",
		}
		checkReasons(t, engine, res.Stacks[0], want)
	})
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if paths {
			return
		}
		rs := res.Stacks[0].Reasons
		if len(rs) != 1 || rs[0].File != "stacks/orders/environments/dev.yaml" || !strings.HasPrefix(rs[0].Detail, "modified; does not load at head: ") {
			t.Errorf("%s: reasons %+v, want one: modified; does not load at head", engine, rs)
		}
	})
}

// TestWhyCommentOnlyEnvironmentFile: an environment file edited only in a
// comment, in a commit that changes the environment through another file,
// is not credited with the change.
func TestWhyCommentOnlyEnvironmentFile(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/infra/queue.yaml", strings.Replace(queueYAML, "30", "60", 1))
	g.Write("stacks/orders/environments/staging.yaml", "# owned by the orders team\n"+envYAML("staging", "  variables:\n    LOG_LEVEL: warn\n"))
	g.Write("stacks/orders/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: debug\n  overrides:\n    api:\n      image: nginx:0.9\n"))
	g.Commit("queue timeout; a comment in staging; prod logs debug")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if paths {
			return
		}
		want := map[string]string{
			"stacks/orders/infra/queue.yaml":          "modified; component jobs changed in dev, prod, staging",
			"stacks/orders/environments/staging.yaml": "modified; no effect on the resolved model",
			"stacks/orders/environments/prod.yaml":    "modified; environment prod changed (component api)",
		}
		checkReasons(t, engine, res.Stacks[0], want)
	})
}

// checkReasons compares a stack's reasons, file -> detail, with want.
func checkReasons(t *testing.T, engine string, st *changes.Stack, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, r := range st.Reasons {
		got[r.File] = r.Detail
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: reasons %v, want %v", engine, got, want)
	}
}

// TestLinkedStacksRoot: a stacks root committed as a symbolic link is an
// error naming the folder to use, not every stack removed.
func TestLinkedStacksRoot(t *testing.T) {
	g, _ := baseRepo(t)
	g.Git("mv", "stacks", "real")
	if err := os.Symlink("real", filepath.Join(g.Dir, "stacks")); err != nil {
		t.Fatal("a symbolic link is needed here:", err)
	}
	g.Git("add", "-A")
	g.Commit("root as a link")
	for _, unc := range []bool{false, true} {
		for _, m := range modes {
			repo, err := gitops.Open(g.Dir, m.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, paths := range []bool{false, true} {
				res, err := changes.Detect(context.Background(), repo, changes.Options{Base: "HEAD~1", StacksRoot: "stacks", Paths: paths, Uncommitted: unc})
				if err == nil || !strings.Contains(err.Error(), "set stacks.root to real") {
					t.Errorf("%s paths=%v uncommitted=%v: %v, %v; want the linked root error", m.name, paths, unc, err, res)
				}
			}
			repo.Close()
		}
	}
}

// TestSinceDeployedAhead: an environment deployed at a commit newer than
// head (one that descends from it: a pipeline for an older commit that runs
// after a newer one deployed) is not listed as changed, which would make
// the pipeline deploy head there and roll it back; it is reported in
// DeployedAhead instead, a stack added since head included (it would read
// as removed). A deployment on another branch, newer but not descending
// from head, is compared as any other.
func TestSinceDeployedAhead(t *testing.T) {
	g, c0 := baseRepo(t)
	g.Write("stacks/orders/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:1.1", 1))
	c1 := g.Commit("orders image")
	g.Git("checkout", "-q", "-b", "topic", c0.String())
	g.Write("stacks/users/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	topic := g.Commit("users dev, on a branch")
	g.Git("checkout", "-q", "main")
	g.Write("stacks/orders/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:1.2", 1))
	seed(g, "stacks/fresh", "fresh")
	c2 := g.Commit("orders image again, fresh stack")
	g.Write("docs/README.md", "# docs, edited\n")
	c3 := g.Commit("docs")
	d := listedDeployed{fakeDeployed{
		"orders/dev": c2.String(), "orders/staging": c3.String(), "orders/prod": c0.String(),
		"users/dev": topic.String(), "users/staging": c1.String(), "users/prod": c1.String(),
		"billing/dev": c1.String(), "billing/staging": c1.String(), "billing/prod": c1.String(),
		"fresh/dev": c2.String(),
	}}
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, paths := range []bool{false, true} {
			res, err := changes.SinceDeployed(context.Background(), repo, d, changes.Options{StacksRoot: "stacks", Head: c1.String(), Paths: paths, NoCache: true})
			if err != nil {
				t.Fatal(err)
			}
			// prod overrides the image the commits change: resolved, it is unchanged.
			want := []string{"users modified dev:modified [api]"}
			if paths {
				want = []string{"orders modified prod:modified", "users modified dev:modified"}
			}
			if got := summary(res); !reflect.DeepEqual(got, want) {
				t.Errorf("%s paths=%v: %q, want %q", m.name, paths, got, want)
			}
			wantAhead := []changes.DeployedAhead{
				{Stack: "fresh", Environment: "dev", Commit: c2.String()},
				{Stack: "orders", Environment: "dev", Commit: c2.String()},
				{Stack: "orders", Environment: "staging", Commit: c3.String()},
			}
			if !reflect.DeepEqual(res.DeployedAhead, wantAhead) {
				t.Errorf("%s paths=%v: deployed ahead %+v, want %+v", m.name, paths, res.DeployedAhead, wantAhead)
			}
		}
		// CompareAhead (status) compares them as any other.
		res, err := changes.SinceDeployed(context.Background(), repo, d, changes.Options{StacksRoot: "stacks", Head: c1.String(), NoCache: true, CompareAhead: true})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"fresh removed dev:removed", "orders modified dev:modified,staging:modified [api]", "users modified dev:modified [api]"}
		if got := summary(res); !reflect.DeepEqual(got, want) || len(res.DeployedAhead) != 0 {
			t.Errorf("%s CompareAhead: %q, ahead %+v; want %q", m.name, got, res.DeployedAhead, want)
		}
		// At the newest commit nothing is ahead.
		res, err = changes.SinceDeployed(context.Background(), repo, d, changes.Options{StacksRoot: "stacks", NoCache: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.DeployedAhead) != 0 {
			t.Errorf("%s at head: deployed ahead %+v", m.name, res.DeployedAhead)
		}
		repo.Close()
	}
}

// TestInvalidWatchGlobReportedEveryTime: a spec.watch glob validate refuses
// is reported (stack.yaml:line and the glob) by every detection, not only
// by the one whose diff changes the stack.yaml that introduced it; the
// stack's valid globs keep watching; the warning names the stack once.
func TestInvalidWatchGlobReportedEveryTime(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/stack.yaml", stackYAML("orders", "", "shared/{a,b}.json", "shared/conf/**"))
	g.Commit("bad glob")
	g.Write("shared/conf/x.json", "{}") // matches the valid glob
	g.Commit("shared conf")
	g.Write("docs/other.md", "x") // touches no stack
	last := g.Commit("unrelated")
	for _, base := range []string{"HEAD~1", "HEAD~2"} {
		detectAll(t, g.Dir, changes.Options{Base: base, Head: last.String(), StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
			n := 0
			for _, p := range res.Problems {
				msg := p.Error()
				if strings.Contains(msg, `watch glob "shared/{a,b}.json": braces`) {
					n++
					if !strings.Contains(msg, "stacks/orders/stack.yaml:") || !strings.Contains(msg, "orders") {
						t.Errorf("%s paths=%v base %s: the problem does not name the stack and file:line: %v", engine, paths, base, msg)
					}
				}
			}
			if n != 1 {
				t.Errorf("%s paths=%v base %s: the invalid glob is reported %d times, want once: %v", engine, paths, base, n, res.Problems)
			}
			want := []string{}
			if base == "HEAD~2" {
				want = []string{"orders"}
			}
			var got []string
			for _, s := range res.Stacks {
				got = append(got, s.Stack)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s paths=%v base %s: stacks %v, want %v (the valid glob keeps watching)", engine, paths, base, got, want)
			}
		})
	}
	// A stack filtered out is not consulted: nothing said.
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", Head: last.String(), StacksRoot: "stacks", Stacks: []string{"users"}}, func(engine string, paths bool, res *changes.Result) {
		if len(res.Problems) != 0 {
			t.Errorf("%s paths=%v --stack users: %v", engine, paths, res.Problems)
		}
	})
}

// TestNestedStackSameInBothModes: a stack.yaml inside another stack's
// folder is invalid (stacks do not nest). A change below it maps to the
// outer stack in resolved and --paths mode alike, and both say why, naming
// both stacks and the nested stack.yaml — --paths used to map it silently.
func TestNestedStackSameInBothModes(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/sub/stack.yaml", stackYAML("inner", ""))
	g.Write("stacks/orders/sub/environments/dev.yaml", envYAML("dev", "  variables: {}\n"))
	g.Commit("nested")
	g.Write("stacks/orders/sub/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	last := g.Commit("edit below the nested stack.yaml")
	for _, base := range []string{"HEAD~1", "HEAD~2"} {
		detectAll(t, g.Dir, changes.Options{Base: base, Head: last.String(), StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
			if got := summary(res); len(got) != 1 || !strings.HasPrefix(got[0], "orders modified") {
				t.Errorf("%s paths=%v base %s: %q, want orders modified", engine, paths, base, got)
			}
			found := false
			for _, p := range res.Problems {
				msg := p.Error()
				found = found || strings.Contains(msg, `stacks/orders/sub/stack.yaml: stacks cannot be nested: stack "inner" (stacks/orders/sub) is inside the folder of stack "orders" (stacks/orders)`)
			}
			if !found {
				t.Errorf("%s paths=%v base %s: no nested-stack problem: %v", engine, paths, base, res.Problems)
			}
			found = false
			for _, r := range res.Stacks[0].Reasons {
				found = found || r.File == "stacks/orders/sub/stack.yaml" && strings.Contains(r.Detail, "cannot be nested")
			}
			if !found {
				t.Errorf("%s paths=%v base %s: no nested-stack reason: %v", engine, paths, base, res.Stacks[0].Reasons)
			}
		})
	}
}

// TestNewStackAboveStacks: a stack.yaml added in a folder above existing
// stacks makes them nested (not stacks any more, their files the new
// stack's). The new stack is not loaded (added), yet detection says so,
// naming every stack it swallowed, in both modes.
func TestNewStackAboveStacks(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/stack.yaml", stackYAML("umbrella", ""))
	last := g.Commit("umbrella")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", Head: last.String(), StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if got := summary(res); len(got) != 1 || !strings.HasPrefix(got[0], "umbrella added") {
			t.Errorf("%s paths=%v: %q, want umbrella added", engine, paths, got)
		}
		var msgs []string
		for _, p := range res.Problems {
			msgs = append(msgs, p.Error())
		}
		all := strings.Join(msgs, "\n")
		for _, s := range []string{"billing", "orders", "users"} {
			want := fmt.Sprintf(`stacks/%s/stack.yaml: stacks cannot be nested: stack %q (stacks/%s) is inside the folder of stack "umbrella" (stacks)`, s, s, s)
			if !strings.Contains(all, want) {
				t.Errorf("%s paths=%v: no problem for %s: %s", engine, paths, s, all)
			}
		}
	})
}

// TestStackMovedIntoAnotherStack: a stack folder moved inside another
// stack's folder (git mv stacks/users stacks/orders/users) is no stack of
// its own at head (stacks do not nest), but its files are all there: it
// is listed moved, every environment, with the nesting error, in both
// modes and engines. It was listed removed, every environment removed,
// and a pipeline destroyed what runs for a folder put in the wrong place.
func TestStackMovedIntoAnotherStack(t *testing.T) {
	g, _ := baseRepo(t)
	g.Move("stacks/users", "stacks/orders/users")
	last := g.Commit("users into orders")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", Head: last.String(), StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		var users *changes.Stack
		for _, s := range res.Stacks {
			if s.Stack == "users" {
				users = s
			}
		}
		if users == nil {
			t.Fatalf("%s paths=%v: users not listed: %q", engine, paths, summary(res))
		}
		if got := fmt.Sprintf("%s %s -> %s %v", users.Change, users.OldPath, users.Path, users.EnvironmentChanges); got != "moved stacks/users -> stacks/orders/users map[dev:modified prod:modified staging:modified]" {
			t.Errorf("%s paths=%v: users %s, want moved into stacks/orders/users, every environment modified", engine, paths, got)
		}
		want := `stacks/orders/users/stack.yaml: stacks cannot be nested: stack "users" (stacks/orders/users) is inside the folder of stack "orders" (stacks/orders)`
		found := false
		for _, r := range users.Reasons {
			found = found || strings.Contains(r.Detail, want)
		}
		if !found {
			t.Errorf("%s paths=%v: no nesting reason for users: %v", engine, paths, users.Reasons)
		}
	})
}

// TestBrokenStackPureMoveUncommitted: a stack that does not load (an
// override of the wrong type), its folder moved unchanged, is moved with
// no environment changed, committed or not: same content, same models.
// --uncommitted resolved it, and listed the environment that does not
// resolve (at base neither) as modified, where the same move committed
// listed none.
func TestBrokenStackPureMoveUncommitted(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  overrides:\n    api:\n      replicas: \"2\"\n"))
	g.Commit("broken dev")
	g.Git("mv", "stacks/orders", "stacks/orders-moved")
	// A new stack of the same files (not added yet): git's rename
	// pairing may take its files, not the moved ones, as the renames.
	seed(g, "stacks/aaa-new", "aaa-new")
	seed(g, "stacks/zzz-new", "zzz-new")
	want := "orders moved "
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, paths := range []bool{false} {
			res, err := changes.Detect(context.Background(), repo, changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true, Paths: paths})
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(res); len(got) != 3 || got[1] != want {
				t.Errorf("%s --uncommitted: %q, want [%q] with the new stacks (as committed)", m.name, got, want)
			}
		}
		repo.Close()
	}
	last := g.Commit("move")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", Head: last.String(), StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if paths {
			return // --paths lists every environment of a touched stack
		}
		if got := summary(res); len(got) != 3 || got[1] != want {
			t.Errorf("%s committed: %q, want [%q] with the new stacks", engine, got, want)
		}
	})
}

// TestSinceDeployedSwallowedByNewStack: a stack.yaml added above deployed
// stacks makes them part of the new stack. --since-deployed does not report
// them removed (their files are all there: nothing to destroy), and says
// why they are no longer compared, naming both stacks.
func TestSinceDeployedSwallowedByNewStack(t *testing.T) {
	g, c0 := baseRepo(t)
	g.Write("stacks/stack.yaml", stackYAML("umbrella", ""))
	g.Commit("umbrella")
	d := listedDeployed{fakeDeployed{"orders/dev": c0.String(), "users/prod": c0.String()}}
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		res, err := changes.SinceDeployed(context.Background(), repo, d, changes.Options{StacksRoot: "stacks"})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range res.Stacks {
			if s.Change == changes.Removed || s.Stack != "umbrella" {
				t.Errorf("%s: %s %s: a swallowed stack is neither removed nor listed", m.name, s.Stack, s.Change)
			}
		}
		var msgs []string
		for _, p := range res.Problems {
			msgs = append(msgs, p.Error())
		}
		all := strings.Join(msgs, "\n")
		for _, s := range []string{"orders", "users"} {
			want := fmt.Sprintf(`stack %s is deployed but not a stack at head: stacks/%s/stack.yaml: stacks cannot be nested: stack %q (stacks/%s) is inside the folder of stack "umbrella" (stacks)`, s, s, s, s)
			if !strings.Contains(all, want) {
				t.Errorf("%s: no problem for %s: %s", m.name, s, all)
			}
		}
	}
}

// TestCrissCrossBase: after criss-cross merges a base and head have two
// merge-bases (git diff base...head warns and uses one). Detection
// compares from the one with the smallest id, on both engines, with
// --base and with the default base, and says so in a warning that names
// the other (a run that passes it as --base compares from it).
func TestCrissCrossBase(t *testing.T) {
	g, _ := baseRepo(t)
	g.Git("checkout", "-q", "-b", "x")
	g.Write("stacks/orders/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:1.1", 1))
	x1 := g.Commit("x1: orders")
	g.Git("checkout", "-q", "-b", "y", "main")
	g.Write("stacks/users/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:1.1", 1))
	y1 := g.Commit("y1: users")
	g.Git("merge", "-q", "--no-ff", "-m", "m2", "x")
	g.Write("stacks/billing/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: debug\n"))
	g.Commit("y3: billing")
	g.Git("checkout", "-q", "x")
	g.Git("merge", "-q", "--no-ff", "-m", "m1", y1.String())
	g.Commit("x3")
	g.Git("checkout", "-q", "y")
	g.Git("update-ref", "refs/remotes/origin/main", "x")
	g.Git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
	first, other := x1, y1
	if other.String() < first.String() {
		first, other = other, first
	}
	// From y1 head brings x1's orders change in; from x1, y1's users change.
	want := map[gitops.Hash][]string{
		x1: {"billing modified prod:modified [api]", "users modified dev:modified,staging:modified [api]"},
		y1: {"billing modified prod:modified [api]", "orders modified dev:modified,staging:modified [api]"},
	}
	for _, base := range []string{"x", ""} {
		detectAll(t, g.Dir, changes.Options{Base: base, StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
			if paths {
				return
			}
			if res.Base != first.String() {
				t.Errorf("base %q %s: compared from %s, want %s (the smallest id)", base, engine, res.Base, first)
			}
			if got := summary(res); !slices.Equal(got, want[first]) {
				t.Errorf("base %q %s: %q, want %q", base, engine, got, want[first])
			}
			warn := fmt.Sprint(res.Problems)
			if !strings.Contains(warn, "2 merge-bases (criss-cross merges") || !strings.Contains(warn, "compared from "+first.String()[:12]) || !strings.Contains(warn, "--base "+other.String()[:12]) {
				t.Errorf("base %q %s: problems %q, want the merge-bases warning", base, engine, warn)
			}
		})
	}
	detectAll(t, g.Dir, changes.Options{Base: other.String()[:12], StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if got := summary(res); !paths && (res.Base != other.String() || !slices.Equal(got, want[other]) || len(res.Problems) > 0) {
			t.Errorf("--base %s %s: from %s: %q %q, want %q", other, engine, res.Base, got, res.Problems, want[other])
		}
	})
}

// TestNameGoesOnOverLines: a metadata.name whose plain scalar goes on over
// the next, deeper line ("orders" then "    extra" is the name "orders
// extra", not valid) is not read as "orders" by the parse-free name reader:
// --paths mode reports the broken stack.yaml as resolved mode does, where
// it used to list the stack as if nothing were wrong.
func TestNameGoesOnOverLines(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/stack.yaml", stackYAML("orders\n    extra", ""))
	g.Commit("name over two lines")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		t.Logf("%s paths=%v: %q %v", engine, paths, summary(res), res.Problems)
		if got := fmt.Sprint(res.Problems); !strings.Contains(got, "stacks/orders/stack.yaml") {
			t.Errorf("%s paths=%v: problems %q, want the broken stacks/orders/stack.yaml", engine, paths, got)
		}
	})
}

// TestUnreadableStackFileEnvironmentFiles: when a stack.yaml is gone or
// gives no name (a header cannot be read) on one side, its environments
// are still the environment files on that side: one deleted in the same
// change is removed, one added is added, committed or in the work tree,
// in both engines and modes; and fixing the stack.yaml later compares the
// environments that were there (modified), not all of them as added.
// Detection used to take base's environments for head's (an environment
// deleted meanwhile read as modified, a new one was missed) and none at
// base (every environment "added" after the fix, a deleted one missed).
func TestUnreadableStackFileEnvironmentFiles(t *testing.T) {
	for _, how := range []string{"gone", "noname"} {
		for _, uncommitted := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/uncommitted=%v", how, uncommitted), func(t *testing.T) {
				g, _ := baseRepo(t)
				if how == "gone" {
					g.Remove("stacks/orders/stack.yaml")
				} else {
					g.Write("stacks/orders/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: [\nspec: {}\n")
				}
				g.Remove("stacks/orders/environments/staging.yaml")
				g.Write("stacks/orders/environments/qa.yaml", envYAML("qa", "  variables: {}\n"))
				base := "HEAD"
				if !uncommitted {
					g.Commit("break")
					base = "HEAD~1"
				}
				want := []string{"orders modified dev:modified,prod:modified,qa:added,staging:removed"}
				detectAll(t, g.Dir, changes.Options{Base: base, Uncommitted: uncommitted, StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
					if got := summary(res); !slices.Equal(got, want) {
						t.Errorf("broken: %s paths=%v: %q, want %q", engine, paths, got, want)
					}
				})
				if how == "gone" {
					return // at base no stack then: restoring it adds one
				}
				if uncommitted {
					g.Commit("break")
				}
				g.Write("stacks/orders/stack.yaml", stackYAML("orders", ""))
				g.Remove("stacks/orders/environments/qa.yaml")
				if !uncommitted {
					g.Commit("fix")
				}
				want = []string{"orders modified dev:modified,prod:modified,qa:removed"}
				detectAll(t, g.Dir, changes.Options{Base: base, Uncommitted: uncommitted, StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
					if got := summary(res); !slices.Equal(got, want) {
						t.Errorf("fixed: %s paths=%v: %q, want %q", engine, paths, got, want)
					}
				})
			})
		}
	}
}

// TestFolderLeftBehindByMove: a stack moved by copying its folder and
// deleting (or breaking) only the old stack.yaml, its environment files
// left behind, is the stack at its new folder: moved, compared there (a
// new environment added), with the leftover folder named on stderr; the
// old folder does not take the name because it sorts first, nor makes it
// a duplicate because it sorts last. Detection used to let whichever
// folder came first in path order claim the name: the leftover one hid
// the moved stack (its new environment missed), or the moved stack was
// reported as a duplicate name.
func TestFolderLeftBehindByMove(t *testing.T) {
	for _, to := range []string{"stacks/a-orders", "stacks/z-orders"} {
		for _, how := range []string{"gone", "noname"} {
			for _, uncommitted := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/uncommitted=%v", to, how, uncommitted), func(t *testing.T) {
					g, _ := baseRepo(t)
					seed(g, to, "orders")
					g.Write(to+"/environments/qa.yaml", envYAML("qa", "  variables: {}\n"))
					if how == "gone" {
						g.Remove("stacks/orders/stack.yaml")
					} else {
						g.Write("stacks/orders/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: [\n")
					}
					base := "HEAD"
					if !uncommitted {
						g.Commit("half a move")
						base = "HEAD~1"
					}
					want := map[bool][]string{
						false: {"orders moved qa:added"},
						true:  {"orders moved dev:modified,prod:modified,qa:added,staging:modified"},
					}
					detectAll(t, g.Dir, changes.Options{Base: base, Uncommitted: uncommitted, StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
						if got := summary(res); !slices.Equal(got, want[paths]) {
							t.Errorf("%s paths=%v: %q, want %q", engine, paths, got, want[paths])
						}
						if len(res.Stacks) == 1 && (res.Stacks[0].Path != to || res.Stacks[0].OldPath != "stacks/orders") {
							t.Errorf("%s paths=%v: %s <- %s, want %s <- stacks/orders", engine, paths, res.Stacks[0].Path, res.Stacks[0].OldPath, to)
						}
						if p := fmt.Sprint(res.Problems); !strings.Contains(p, "stack orders is at "+to+" at head; stacks/orders still holds stack files") || strings.Contains(p, "unique") {
							t.Errorf("%s paths=%v: problems %s", engine, paths, p)
						}
					})
				})
			}
		}
	}
}

// TestSubmoduleUnderStacksRootWarns: a submodule under the stacks root is
// a commit of another repository, whose files panka never reads from this
// repository's trees; adding or moving it used to pass in silence ("No
// stack changed") although a stack inside it changed. It is now a problem
// naming it, in both engines and modes.
func TestSubmoduleUnderStacksRootWarns(t *testing.T) {
	g, _ := baseRepo(t)
	g.Git("update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,stacks/sub")
	g.Git("commit", "-qm", "add a submodule")
	g.Git("update-index", "--cacheinfo", "160000,2222222222222222222222222222222222222222,stacks/sub")
	g.Git("commit", "-qm", "move it")
	for _, m := range modes {
		for _, paths := range []bool{false, true} {
			for _, base := range []string{"HEAD~1", "HEAD~2"} {
				repo, err := gitops.Open(g.Dir, m.opts)
				if err != nil {
					t.Fatal(err)
				}
				res, err := changes.Detect(context.Background(), repo, changes.Options{Base: base, StacksRoot: "stacks", Paths: paths})
				repo.Close()
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Error(), "stacks/sub: a git submodule under the stacks root changed") {
					t.Errorf("%s paths=%v base %s: problems %v", m.name, paths, base, res.Problems)
				}
				if got := summary(res); len(got) != 0 {
					t.Errorf("%s paths=%v base %s: stacks %q, want none", m.name, paths, base, got)
				}
			}
		}
	}
}

// TestBrokenFolderTakesMovedName: a folder whose stack.yaml gave no name
// at base, fixed in the change that moves a stack there (its old folder
// deleted), is that stack moved: compared with the old folder, whose
// environments the new one lacks are removed, whatever the order of the
// two folders. Detection used to let the broken folder, when it came
// first, take the name at base: the stack read as modified in place, the
// old folder dropped, and its environments' removal (what a deploy
// pipeline destroys) missed.
func TestBrokenFolderTakesMovedName(t *testing.T) {
	for _, dir := range []string{"stacks/a", "stacks/z"} {
		for _, uncommitted := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/uncommitted=%v", dir, uncommitted), func(t *testing.T) {
				g, _ := baseRepo(t)
				g.Write(dir+"/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: [\n")
				g.Write(dir+"/environments/dev.yaml", envYAML("dev", "  variables: {}\n"))
				g.Commit("a stack in the making")
				g.Remove("stacks/orders")
				seed(g, dir, "orders")
				g.Remove(dir + "/environments/staging.yaml")
				g.Remove(dir + "/environments/prod.yaml")
				base := "HEAD"
				if !uncommitted {
					g.Commit("orders moves there")
					base = "HEAD~1"
				}
				want := map[bool][]string{
					false: {"orders moved prod:removed,staging:removed"},
					true:  {"orders moved dev:modified,prod:removed,staging:removed"},
				}
				detectAll(t, g.Dir, changes.Options{Base: base, Uncommitted: uncommitted, StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
					if got := summary(res); !slices.Equal(got, want[paths]) {
						t.Errorf("%s paths=%v: %q, want %q", engine, paths, got, want[paths])
					}
					if len(res.Stacks) == 1 && (res.Stacks[0].Path != dir || res.Stacks[0].OldPath != "stacks/orders") {
						t.Errorf("%s paths=%v: %s <- %s, want %s <- stacks/orders", engine, paths, res.Stacks[0].Path, res.Stacks[0].OldPath, dir)
					}
				})
			})
		}
	}
}

// TestWhyFixedFileNotWithoutEffect: the file that fixes a stack which did
// not load at base (or any other file of it) is not said to have "no
// effect on the resolved model": nothing was compared. It used to be, on
// the very file whose fix changed every environment. The same for a stack
// that loads at base but whose environments do not resolve there (an
// unknown field in a component's spec, found when resolving).
func TestWhyFixedFileNotWithoutEffect(t *testing.T) {
	for _, tc := range []struct {
		name, file, broken, fixed, extra string
	}{
		{"overlay", "stacks/orders/environments/dev.yaml",
			envYAML("dev", "  variables: {}\n  overrides:\n    ghost:\n      replicas: 1\n"), envYAML("dev", "  variables: {}\n"), "stacks/orders/README.md"},
		{"component", "stacks/orders/infra/queue.yaml", queueYAML + "  bogus: 1\n", queueYAML, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := baseRepo(t)
			g.Write(tc.file, tc.broken)
			g.Commit("break")
			g.Write(tc.file, tc.fixed)
			if tc.extra != "" {
				g.Write(tc.extra, "notes\n")
			}
			g.Commit("fix")
			detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
				if paths {
					return
				}
				if got := summary(res); !slices.Equal(got, []string{"orders modified dev:modified,prod:modified,staging:modified"}) {
					t.Errorf("%s: %q", engine, got)
				}
				for _, st := range res.Stacks {
					for _, r := range st.Reasons {
						if strings.Contains(r.Detail, "no effect") || !strings.Contains(r.Detail, "not compared: the stack did not load at base ("+tc.file) {
							t.Errorf("%s: %s: %s", engine, r.File, r.Detail)
						}
					}
				}
			})
		})
	}
}

// TestWhyUnresolvedAtHeadNotWithoutEffect: in a stack where an
// environment does not resolve at head, a changed file is not said to
// have "no effect on the resolved model": that environment was not
// compared.
func TestWhyUnresolvedAtHeadNotWithoutEffect(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables: {}\n  overrides:\n    api:\n      image: ${NOT_DECLARED}\n"))
	g.Commit("dev does not resolve")
	g.Write("stacks/orders/infra/queue.yaml", "# the jobs queue\n"+queueYAML)
	g.Commit("a comment")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if paths {
			return
		}
		if got := summary(res); !slices.Equal(got, []string{"orders modified dev:modified"}) {
			t.Errorf("%s: %q", engine, got)
		}
		for _, st := range res.Stacks {
			for _, r := range st.Reasons {
				if r.File == "stacks/orders/infra/queue.yaml" && !strings.HasPrefix(r.Detail, "modified; not compared: environment dev does not resolve at head (stacks/orders/environments/dev.yaml:9:14: ") {
					t.Errorf("%s: %s: %s", engine, r.File, r.Detail)
				}
			}
		}
	})
}

// TestUnresolvedAtHeadOncePerError: a component file every environment
// fails on at head (a mistyped field) is one problem and one reason that
// name the environments, not the same error once per environment: the
// pre-push hook and changed --why of a monorepo with many environments
// repeated each broken file that many times. An error only one
// environment has stays its own.
func TestUnresolvedAtHeadOncePerError(t *testing.T) {
	g, _ := baseRepo(t)
	g.Write("stacks/orders/infra/queue.yaml", strings.Replace(queueYAML, "visibilityTimeout:", "visibilityTimout:", 1))
	g.Write("stacks/orders/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: error\n  overrides:\n    api:\n      image: ${NOT_DECLARED}\n"))
	g.Commit("queue field mistyped; prod uses an undeclared variable")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if paths {
			return
		}
		if got := summary(res); !slices.Equal(got, []string{"orders modified dev:modified,prod:modified,staging:modified"}) {
			t.Errorf("%s: %q", engine, got)
		}
		var problems []string
		for _, p := range res.Problems {
			problems = append(problems, p.Error())
		}
		typo := func(s string) bool { return strings.Contains(s, "spec.visibilityTimout: unknown field") }
		var typos, undeclared []string
		for _, p := range problems {
			if typo(p) {
				typos = append(typos, p)
			}
			if strings.Contains(p, "NOT_DECLARED") {
				undeclared = append(undeclared, p)
			}
		}
		if len(typos) != 1 || !strings.HasPrefix(typos[0], "stack orders (stacks/orders), environments dev, prod, staging at head: stacks/orders/infra/queue.yaml:6:3: ") {
			t.Errorf("%s: want the mistyped field once, for dev, prod, staging; problems:\n%s", engine, strings.Join(problems, "\n"))
		}
		if len(undeclared) != 1 || !strings.HasPrefix(undeclared[0], "stack orders (stacks/orders), environment prod at head: ") {
			t.Errorf("%s: want the undeclared variable once, for prod; problems:\n%s", engine, strings.Join(problems, "\n"))
		}
		var reasons []string
		for _, st := range res.Stacks {
			for _, r := range st.Reasons {
				if typo(r.Detail) {
					reasons = append(reasons, r.File+": "+r.Detail)
				}
			}
		}
		if len(reasons) != 1 || !strings.Contains(reasons[0], "environments dev, prod, staging do not resolve at head: stacks/orders/infra/queue.yaml:6:3: ") {
			t.Errorf("%s: want one reason for the mistyped field; got:\n%s", engine, strings.Join(reasons, "\n"))
		}
	})
}

// TestBackendChange: spec.backend is not part of the resolved model, but
// plan, apply and status read a stack's state where it points. A PR that
// moved a deployed stack to another prefix was "no stack changed" while
// plan showed every environment as all creates.
func TestBackendChange(t *testing.T) {
	g, c0 := baseRepo(t)
	g.Write("stacks/orders/stack.yaml", stackYAML("orders", "  backend:\n    prefix: team-a/\n"))
	c1 := g.Commit("orders: own prefix")
	g.Write("stacks/orders/stack.yaml", "# state of team a\n"+stackYAML("orders", "  backend:\n    prefix: team-a/\n"))
	c2 := g.Commit("comment")
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		res, err := changes.Detect(context.Background(), repo, changes.Options{Base: c0.String(), Head: c1.String(), StacksRoot: "stacks"})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"orders modified dev:modified,prod:modified,staging:modified"}
		if got := summary(res); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q, want %q", m.name, got, want)
		}
		if len(res.Stacks) == 1 {
			why := fmt.Sprint(res.Stacks[0].Reasons)
			if !strings.Contains(why, `stacks/orders/stack.yaml modified; spec.backend changed (spec.backend.prefix "" -> "team-a/")`) || !strings.Contains(why, "Switching backends") {
				t.Errorf("%s: reasons %s", m.name, why)
			}
		}
		res, err = changes.Detect(context.Background(), repo, changes.Options{Base: c1.String(), Head: c2.String(), StacksRoot: "stacks"})
		if err != nil {
			t.Fatal(err)
		}
		if got := summary(res); len(got) != 0 {
			t.Errorf("%s: a comment in stack.yaml: %q", m.name, got)
		}
		res, err = changes.Detect(context.Background(), repo, changes.Options{Base: c0.String(), Head: c1.String(), StacksRoot: "stacks", Environments: []string{"dev"}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := summary(res), []string{"orders modified dev:modified"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: --environment dev: %q, want %q", m.name, got, want)
		}
		// PANKA_BACKEND_PREFIX (or --backend-prefix) wins over
		// spec.backend: the change moves no state.
		res, err = changes.Detect(context.Background(), repo, changes.Options{Base: c0.String(), Head: c1.String(), StacksRoot: "stacks",
			BackendFixed: map[string]bool{"backend.prefix": true}})
		if err != nil {
			t.Fatal(err)
		}
		if got := summary(res); len(got) != 0 {
			t.Errorf("%s: spec.backend.prefix changed while fixed above stack.yaml: %q, want nothing", m.name, got)
		}
		res, err = changes.Detect(context.Background(), repo, changes.Options{Base: c0.String(), Head: c1.String(), StacksRoot: "stacks",
			BackendFixed: map[string]bool{"backend.bucket": true}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := summary(res), []string{"orders modified dev:modified,prod:modified,staging:modified"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: another key fixed: %q, want %q", m.name, got, want)
		}
		// BackendWhere decides when given: the same place is no change
		// (whatever BackendFixed says), another place is, and so is a
		// configuration that does not resolve.
		for _, c := range []struct {
			where func(map[string]string) (string, error)
			want  []string
		}{
			{func(map[string]string) (string, error) { return "s3://b/", nil }, nil},
			{func(k map[string]string) (string, error) { return "s3://b/" + k["backend.prefix"], nil },
				[]string{"orders modified dev:modified,prod:modified,staging:modified"}},
			{func(k map[string]string) (string, error) { return "", errors.New("bad") },
				[]string{"orders modified dev:modified,prod:modified,staging:modified"}},
		} {
			res, err = changes.Detect(context.Background(), repo, changes.Options{Base: c0.String(), Head: c1.String(), StacksRoot: "stacks",
				BackendFixed: map[string]bool{"backend.bucket": true}, BackendWhere: c.where})
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(res); len(got)+len(c.want) > 0 && !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: BackendWhere: %q, want %q", m.name, got, c.want)
			}
		}
	}
}

// TestUncommittedNoCommitYet: before the first commit, the work tree of a
// new repository is compared with nothing (git's empty tree), as git
// status lists every file as new: every stack is added, with the default
// base and with --base HEAD, staged or not, in both engines. Without
// --uncommitted there is no head to compare, and the error says so.
func TestUncommittedNoCommitYet(t *testing.T) {
	g := gittest.New(t)
	seed(g, "stacks/orders", "orders")
	seed(g, "stacks/users", "users")
	g.Git("add", "stacks/users")
	want := []string{
		"orders added dev:added,prod:added,staging:added",
		"users added dev:added,prod:added,staging:added",
	}
	for _, base := range []string{"", "HEAD", gitops.EmptyTree.String()} {
		detectAll(t, g.Dir, changes.Options{Base: base, StacksRoot: "stacks", Uncommitted: true, NoCache: true}, func(engine string, paths bool, res *changes.Result) {
			if got := summary(res); !slices.Equal(got, want) {
				t.Errorf("base %q, %s (paths %v): %q, want %q", base, engine, paths, got, want)
			}
			if res.Base != gitops.EmptyTree.String() || res.Head != gitops.EmptyTree.String() {
				t.Errorf("base %q, %s: base %s head %s, want the empty tree", base, engine, res.Base, res.Head)
			}
		})
	}
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range []changes.Options{{StacksRoot: "stacks"}, {Base: "HEAD~1", StacksRoot: "stacks", Uncommitted: true}} {
			_, err = changes.Detect(context.Background(), repo, opts)
			var re *gitops.RefError
			if !errors.As(err, &re) || re.Unborn != "main" || !strings.Contains(err.Error(), "no commits yet") {
				t.Errorf("%s %+v: %v, want the no-commit error", m.name, opts, err)
			}
		}
		repo.Close()
	}
}

// TestUncommittedCRLFRenormalized: a file committed with CRLF line ends
// is modified for git status once a rule makes git store it with LF
// (`*.yaml text`, eol=lf) and its stat data changes, since git add would
// now store its LF form; with text=auto, -text or binary (or a deeper
// .gitattributes, or info/attributes, saying so) it is not. Both engines
// said "unchanged" for every rule: they hashed the file as it is on disk.
func TestUncommittedCRLFRenormalized(t *testing.T) {
	crlf := strings.ReplaceAll(queueYAML, "\n", "\r\n")
	for _, c := range []struct {
		name  string
		attrs map[string]string // file -> content
		git   bool              // git status lists the file
	}{
		{"text", map[string]string{".gitattributes": "*.yaml text\n"}, true},
		{"eol=lf", map[string]string{".gitattributes": "*.yaml eol=lf\n"}, true},
		{"folder rule", map[string]string{"stacks/.gitattributes": "orders/** text\n"}, true},
		{"text=auto", map[string]string{".gitattributes": "* text=auto\n"}, false},
		{"-text", map[string]string{".gitattributes": "*.yaml text\n*.yaml -text\n"}, false},
		{"binary", map[string]string{".gitattributes": "*.yaml binary\n"}, false},
		{"deeper -text", map[string]string{".gitattributes": "*.yaml text\n", "stacks/orders/infra/.gitattributes": "queue.yaml -text\n"}, false},
		{"info/attributes", map[string]string{".gitattributes": "*.yaml text\n", ".git/info/attributes": "*.yaml -text\n"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, _ := baseRepo(t)
			g.Write("stacks/orders/infra/queue.yaml", crlf)
			for f, a := range c.attrs {
				if !strings.HasPrefix(f, ".git/") {
					g.Write(f, a)
				}
			}
			base := g.Commit("queue with CRLF")
			for f, a := range c.attrs {
				if strings.HasPrefix(f, ".git/") {
					g.WriteFile(f, a)
				}
			}
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(g.Dir, "stacks", "orders", "infra", "queue.yaml"), later, later); err != nil {
				t.Fatal(err)
			}
			if got := g.Git("status", "--porcelain") != ""; got != c.git {
				t.Fatalf("git status lists it: %v, want %v", got, c.git)
			}
			want := map[bool][]string{false: {}, true: {}}
			if c.git {
				// The parsed YAML is the same: only --paths lists it.
				want[true] = []string{"orders modified dev:modified,prod:modified,staging:modified"}
			}
			detectUncommitted(t, g, base, "", want)
		})
	}
}

// TestIndexCacheSkipsNoStacksRoot: a commit without the stacks root (gone)
// has an index of nothing: it is not written to the cache, where it
// took one of the few slots (as stack-index-000….json).
func TestIndexCacheSkipsNoStacksRoot(t *testing.T) {
	g, base := baseRepo(t)
	// Deleted, not moved: a stacks folder moved without panka.yaml is an
	// error (TestStacksRootMovedPankaYAMLNot).
	g.Git("rm", "-rq", "stacks")
	head := g.Commit("remove the stacks root")
	repo, err := gitops.Open(g.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	cache := t.TempDir()
	for _, o := range []changes.Options{{Base: base.String(), Head: head.String()}, {Base: head.String(), Head: base.String()}} {
		o.StacksRoot, o.CacheDir = "stacks", cache
		if _, err := changes.Detect(context.Background(), repo, o); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(cache, "stack-index-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.Contains(filepath.Base(f), strings.Repeat("0", 40)) {
			t.Errorf("cache holds %s, the index of a commit without the stacks root", filepath.Base(f))
		}
	}
	if len(files) != 1 {
		t.Errorf("cache files %q, want the base's index only", files)
	}
}

// TestStrayYAMLIsAProblem: a new stack whose stack.yaml is missing or
// named stack.yml holds YAML under the stacks root in no stack. No stack
// is listed for it, and panka changed said "No stack changed" (exit 0 with
// --exit-code, an empty matrix) without a word, while validate refuses
// the files and no command ever deploys them. Each such file is now a
// problem (a warning), in both modes; YAML outside the stacks root, and a
// file that is not YAML, are not.
func TestStrayYAMLIsAProblem(t *testing.T) {
	g, base := baseRepo(t)
	g.Write("stacks/search/stack.yml", stackYAML("search", ""))
	g.Write("stacks/search/environments/dev.yaml", envYAML("dev", "  variables: {}\n"))
	g.Write("stacks/NOTES.md", "not YAML\n")
	g.Write("docs/example.yaml", "a: 1\n")
	head := g.Commit("a new stack with its stack.yaml misnamed")
	opts := changes.Options{Base: base.String(), Head: head.String(), StacksRoot: "stacks"}
	detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
		if len(res.Stacks) != 0 {
			t.Errorf("%s paths=%v: stacks %q, want none", engine, paths, summary(res))
		}
		var got []string
		for _, p := range res.Problems {
			got = append(got, p.Error())
		}
		if len(got) != 2 || !strings.HasPrefix(got[0], "stacks/search/environments/dev.yaml: YAML file outside any stack") ||
			!strings.HasPrefix(got[1], "stacks/search/stack.yml: a stack file is named stack.yaml, not stack.yml: rename it (git mv stacks/search/stack.yml stacks/search/stack.yaml)") ||
			!strings.Contains(got[1], "it belongs to no stack, so no stack is listed for it") {
			t.Errorf("%s paths=%v: problems %q, want the two stray files", engine, paths, got)
		}
	})
}

// A partial clone lacks the files of base (blob:none) or its folders
// (tree:0). git cat-file fetches each missing object on its own, one fetch
// process and one round trip to the remote per object: a far-apart
// `panka changed` in a blobless clone of 400 stacks ran 656 fetches (33
// s). The objects a batch reads that are not in the clone are fetched
// first in one request; the answer is the full clone's.
func TestPartialCloneBatchedFetch(t *testing.T) {
	const n = 20
	g := gittest.New(t)
	g.Git("config", "uploadpack.allowFilter", "true")
	g.Git("config", "uploadpack.allowAnySHA1InWant", "true")
	for i := 0; i < n; i++ {
		seed(g, fmt.Sprintf("stacks/s%02d", i), fmt.Sprintf("s%02d", i))
	}
	g.Write("panka.yaml", "version: v1\n")
	base := g.Commit("base")
	for i := 0; i < n; i++ {
		dir := fmt.Sprintf("stacks/s%02d", i)
		g.Write(dir+"/stack.yaml", stackYAML(fmt.Sprintf("s%02d", i), fmt.Sprintf("    REV:\n      default: \"%d\"\n", i)))
		g.Write(dir+"/environments/dev.yaml", envYAML("dev", fmt.Sprintf("  variables:\n    LOG_LEVEL: level-%d\n", i)))
	}
	head := g.Commit("every stack")
	full, err := gitops.Open(g.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	opts := changes.Options{Base: base.String(), Head: head.String(), StacksRoot: "stacks", NoCache: true}
	want, err := changes.Detect(context.Background(), full, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Stacks) != n {
		t.Fatalf("full clone: %q, want %d stacks", summary(want), n)
	}
	for _, filter := range []string{"blob:none", "tree:0"} {
		t.Run(filter, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "partial")
			if out, err := exec.Command("git", "clone", "-q", "--filter="+filter, "file://"+g.Dir, dir).CombinedOutput(); err != nil {
				t.Fatalf("clone: %v\n%s", err, out)
			}
			trace := filepath.Join(t.TempDir(), "trace.json")
			t.Setenv("GIT_TRACE2_EVENT", trace)
			repo, err := gitops.Open(dir, gitops.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer repo.Close()
			res, err := changes.Detect(context.Background(), repo, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(res); !slices.Equal(got, summary(want)) || len(res.Problems) > 0 {
				t.Errorf("partial clone: %q (problems %v), want %q", got, res.Problems, summary(want))
			}
			// One fetch per batch of reads (the stack.yaml files, then
			// the rest), not one per object (n+1 here).
			if got := gittest.Fetches(t, trace); got > 3 {
				t.Errorf("%d git fetch processes, want at most 3: the missing objects are fetched in batches", got)
			}
		})
	}
}

// TestRenamePairingUncommittedAsCommitted: several files with the same
// content; a rename committed (z.txt to y.txt) and a deletion of another
// copy (a.txt) in the work tree. --uncommitted kept the commit's pair
// (y from z, a deleted) where the same changes committed pair y with a:
// the reasons differed. Both now pair over all the changes, taking a copy
// with the same file name first (git's exact rename rule), else path order.
func TestRenamePairingUncommittedAsCommitted(t *testing.T) {
	g, _ := baseRepo(t)
	for _, f := range []string{"a.txt", "z.txt", "sub/y.txt", "k.txt"} {
		g.Write("stacks/orders/notes/"+f, "same\n")
	}
	base := g.Commit("copies")
	g.Move("stacks/orders/notes/z.txt", "stacks/orders/notes/y.txt")
	g.Move("stacks/orders/notes/k.txt", "stacks/orders/notes/new/k.txt")
	g.Commit("rename z to y, k to new/k")
	g.Remove("stacks/orders/notes/a.txt")
	g.Remove("stacks/orders/notes/sub/y.txt")
	reasons := func(res *changes.Result) []string {
		var out []string
		for _, s := range res.Stacks {
			for _, r := range s.Reasons {
				out = append(out, r.File+": "+r.Detail)
			}
		}
		return out
	}
	var uncommitted []string
	detectAll(t, g.Dir, changes.Options{Base: base.String(), StacksRoot: "stacks", Uncommitted: true, NoCache: true}, func(engine string, paths bool, res *changes.Result) {
		if paths {
			got := reasons(res)
			if uncommitted != nil && !slices.Equal(got, uncommitted) {
				t.Errorf("%s: uncommitted reasons %q, other engine %q", engine, got, uncommitted)
			}
			uncommitted = got
		}
	})
	g.Commit("delete a and sub/y")
	want := []string{
		"stacks/orders/notes/a.txt: deleted",
		"stacks/orders/notes/new/k.txt: renamed from stacks/orders/notes/k.txt",
		"stacks/orders/notes/y.txt: renamed from stacks/orders/notes/sub/y.txt",
		"stacks/orders/notes/z.txt: deleted",
	}
	detectAll(t, g.Dir, changes.Options{Base: base.String(), StacksRoot: "stacks", NoCache: true}, func(engine string, paths bool, res *changes.Result) {
		if !paths {
			return
		}
		if got := reasons(res); !slices.Equal(got, want) {
			t.Errorf("%s committed: reasons %q, want %q", engine, got, want)
		}
	})
	// git's own exact rename detection pairs them the same way.
	if got := g.Git("diff", "--name-status", "-M100%", base.String(), "HEAD", "--", "stacks/orders/notes"); got != "D\tstacks/orders/notes/a.txt\nR100\tstacks/orders/notes/k.txt\tstacks/orders/notes/new/k.txt\nR100\tstacks/orders/notes/sub/y.txt\tstacks/orders/notes/y.txt\nD\tstacks/orders/notes/z.txt" {
		t.Errorf("git diff -M pairs:\n%s", got)
	}
	if !slices.Equal(uncommitted, want) {
		t.Errorf("uncommitted: reasons %q, want those of the same changes committed, %q", uncommitted, want)
	}
}

// workTreeThenCommitted runs check on the work tree's changes against
// HEAD (--uncommitted), commits them all with msg, and runs check on that
// commit against its parent: the same edit must read the same both ways.
func workTreeThenCommitted(g *gittest.Repo, msg string, check func(what string, opts changes.Options)) {
	check("work tree", changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true})
	g.Git("add", "-A")
	g.Commit(msg)
	check("committed", changes.Options{Base: "HEAD~1", StacksRoot: "stacks"})
}

// TestStackMovedToNonUTF8Folder: a stack folder renamed in the work tree
// to a name that is not UTF-8 (made on a Latin-1 system), with another
// stack edited beside it. --uncommitted failed as a whole ("read the work
// tree: ... is not valid UTF-8"), where the same rename committed is the
// stack moved, not loading at head for its folder's name, and the other
// stack is reported as usual: both ways now read the same.
func TestStackMovedToNonUTF8Folder(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs a file system that takes any bytes in a name")
	}
	g, _ := baseRepo(t)
	bad := "stacks/bill\xe9ng"
	if err := os.Rename(filepath.Join(g.Dir, "stacks", "billing"), filepath.Join(g.Dir, filepath.FromSlash(bad))); err != nil {
		t.Fatal(err)
	}
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	want := []string{"billing moved dev:modified,prod:modified,staging:modified", "orders modified dev:modified [api]"}
	wantPaths := []string{"billing moved dev:modified,prod:modified,staging:modified", "orders modified dev:modified,prod:modified,staging:modified"}
	wantProblem := "stack billing (" + bad + `) at head: stacks/bill\xe9ng: the name "bill\xe9ng" is not valid UTF-8, which panka cannot read: rename it (git mv) to a UTF-8 name`
	check := func(what string, opts changes.Options) {
		t.Helper()
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			w := want
			if paths {
				w = wantPaths
			}
			if got := summary(res); !slices.Equal(got, w) {
				t.Errorf("%s %s paths=%v: %q, want %q", what, engine, paths, got, w)
			}
			if got := fmt.Sprint(res.Problems); !paths && !strings.Contains(got, wantProblem) {
				t.Errorf("%s %s: problems %q, want %q", what, engine, got, wantProblem)
			}
			for _, s := range res.Stacks {
				if s.Stack == "billing" && s.OldPath != "stacks/billing" {
					t.Errorf("%s %s paths=%v: billing moved from %q", what, engine, paths, s.OldPath)
				}
			}
		})
	}
	workTreeThenCommitted(g, "billing in a Latin-1 folder", check)

	// A file edited in that folder is modified, not added (the work
	// tree's file was looked up in HEAD's tree by io/fs, which refuses
	// the name).
	g.Write(bad+"/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	edited := func(what string, opts changes.Options) {
		t.Helper()
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			var got []string
			for _, s := range res.Stacks {
				for _, r := range s.Reasons {
					got = append(got, s.Stack+" "+string(s.Change)+" "+r.File+": "+r.Detail)
				}
			}
			w := "billing modified " + bad + "/environments/dev.yaml: modified"
			if !slices.ContainsFunc(got, func(r string) bool { return strings.HasPrefix(r, w) }) || slices.ContainsFunc(got, func(r string) bool { return strings.Contains(r, "added") }) {
				t.Errorf("%s %s paths=%v: reasons %q, want one to start %q", what, engine, paths, got, w)
			}
		})
	}
	workTreeThenCommitted(g, "billing's dev edited", edited)
}

// TestStacksRootMoved: a commit that moves the stacks folder (stacks/ ->
// deploy/stacks/) and deletes a stack on the way, each commit read under
// its own root (Options.StacksRootAt): the stacks moved along are moved,
// with only the environments an edit changed; the deleted one is removed
// with its environments from base. Read under head's root alone, they
// came out added and the deleted stack was not listed at all.
// TestStacksRootMovedPankaYAMLNot: the stacks folder moved (git mv stacks
// deploy/stacks) in a commit that left panka.yaml naming stacks read as
// every stack removed, exit 0, and a pipeline destroyed them. It is an
// error naming the new folder and the stacks.root to set, in both modes
// and engines; a stacks folder deleted with its stacks is still every
// stack removed.
func TestStacksRootMovedPankaYAMLNot(t *testing.T) {
	for _, to := range []string{"deploy", "infra/stacks"} {
		g, _ := baseRepo(t)
		g.Move("stacks", to)
		g.Remove(to + "/billing") // not every stack needs to be there
		g.Commit("move the stacks, panka.yaml left as it was")
		for _, m := range modes {
			repo, err := gitops.Open(g.Dir, m.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, paths := range []bool{false, true} {
				res, err := changes.Detect(context.Background(), repo, changes.Options{Base: "HEAD~1", StacksRoot: "stacks", Paths: paths})
				if !errors.Is(err, changes.ErrStacksRootMoved) || !strings.Contains(err.Error(), fmt.Sprintf("are under %q there (%s/orders, %s/users)", to, to, to)) || !strings.Contains(err.Error(), "set stacks.root: "+to+" in panka.yaml") {
					t.Errorf("%s paths=%v to %s: result %v, %v; want the moved-root error naming %s", m.name, paths, to, res != nil, err, to)
				}
			}
			repo.Close()
		}
	}
	// stacks.root changed, the stacks not moved: the same error, the
	// other way round.
	g, _ := baseRepo(t)
	g.Write("panka.yaml", "version: v1\nstacks:\n  root: deploy\n")
	g.Commit("root renamed, stacks left")
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		res, err := changes.Detect(context.Background(), repo, changes.Options{Base: "HEAD~1", StacksRoot: "deploy", StacksRootAt: func(commit string) (string, bool) {
			if commit == g.Head().String() {
				return "deploy", true
			}
			return "stacks", true
		}})
		repo.Close()
		if !errors.Is(err, changes.ErrStacksRootMoved) || !strings.Contains(err.Error(), `while the stacks are still in "stacks" there`) || !strings.Contains(err.Error(), "git mv stacks deploy") {
			t.Errorf("%s root renamed in panka.yaml only: result %v, %v; want the error saying to move the stacks", m.name, res != nil, err)
		}
	}
	g, _ = baseRepo(t)
	g.Remove("stacks")
	g.Commit("no more stacks")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		want := []string{"billing removed dev:removed,prod:removed,staging:removed", "orders removed dev:removed,prod:removed,staging:removed", "users removed dev:removed,prod:removed,staging:removed"}
		if got := summary(res); !slices.Equal(got, want) {
			t.Errorf("%s paths=%v: %q, want %q", engine, paths, got, want)
		}
	})
}

// TestStacksRootMovedUncommittedPankaYAMLNot: the stacks folder moved in
// the work tree and not committed yet (git mv, or a plain mv git add -A records) read as
// every stack removed with Uncommitted, exit 0: the work tree's side sees
// only what git status lists under the stacks root, not the new folder
// (and stacks/ left empty by moving stack by stack was a folder there).
// It is the committed case's error; moved into an ignored folder (the
// commit records only the deletion), removed with git rm or rm -r, every
// stack is still removed.
func TestStacksRootMovedUncommittedPankaYAMLNot(t *testing.T) {
	removed := []string{"billing removed dev:removed,prod:removed,staging:removed", "orders removed dev:removed,prod:removed,staging:removed", "users removed dev:removed,prod:removed,staging:removed"}
	opts := changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true}
	for _, tc := range []struct {
		name, to string
		move     func(g *gittest.Repo, to string)
	}{
		{"git mv", "deploy", func(g *gittest.Repo, to string) { g.Move("stacks", to) }},
		// Stack by stack: stacks/ is left on disk, empty but for an
		// ignored file, and the commit has no such folder.
		{"git mv each stack", "deploy", func(g *gittest.Repo, to string) {
			if err := os.MkdirAll(filepath.Join(g.Dir, to), 0o755); err != nil {
				t.Fatal(err)
			}
			g.Git("mv", "stacks/billing", "stacks/orders", "stacks/users", to+"/")
			g.WriteFile(".git/info/exclude", ".DS_Store\n")
			g.WriteFile("stacks/.DS_Store", "")
		}},
		{"mv", "infra/stacks", func(g *gittest.Repo, to string) {
			if err := os.MkdirAll(filepath.Join(g.Dir, "infra"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(g.Dir, "stacks"), filepath.Join(g.Dir, filepath.FromSlash(to))); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		g, _ := baseRepo(t)
		tc.move(g, tc.to)
		for _, m := range modes {
			repo, err := gitops.Open(g.Dir, m.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, paths := range []bool{false, true} {
				opts.Paths = paths
				res, err := changes.Detect(context.Background(), repo, opts)
				want := fmt.Sprintf("stacks root \"stacks\" is not a folder in the work tree, and the stacks in \"stacks\" at base %s are under %q there (%s/billing, %s/orders, %s/users)", g.Head().String()[:12], tc.to, tc.to, tc.to, tc.to)
				if !errors.Is(err, changes.ErrStacksRootMoved) || !errors.Is(err, changes.ErrNoStacksRoot) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "set stacks.root: "+tc.to+" in panka.yaml") {
					t.Errorf("%s, %s paths=%v: result %v, %v; want the moved-root error naming %s", tc.name, m.name, paths, res != nil, err, tc.to)
				}
			}
			repo.Close()
		}
	}
	for _, tc := range []struct {
		name   string
		remove func(g *gittest.Repo)
	}{
		{"git rm", func(g *gittest.Repo) { g.Remove("stacks") }},
		{"rm -r", func(g *gittest.Repo) {
			if err := os.RemoveAll(filepath.Join(g.Dir, "stacks")); err != nil {
				t.Fatal(err)
			}
		}},
		{"mv into an ignored folder", func(g *gittest.Repo) {
			g.WriteFile(".git/info/exclude", "/old/\n")
			if err := os.Rename(filepath.Join(g.Dir, "stacks"), filepath.Join(g.Dir, "old")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		g, _ := baseRepo(t)
		tc.remove(g)
		detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
			if got := summary(res); !slices.Equal(got, removed) {
				t.Errorf("%s, %s paths=%v: %q, want %q", tc.name, engine, paths, got, removed)
			}
		})
	}
}

// TestStacksRootMovedDeep: a stacks folder three levels down renamed where
// it is (platform/infra/stacks -> platform/infra/deploy), panka.yaml left
// as it was, read as every stack removed, committed or not: only the
// folders one and two levels down were looked in. The folders beside it
// are looked in too; deleted, it is still every stack removed.
func TestStacksRootMovedDeep(t *testing.T) {
	const root, to = "platform/infra/stacks", "platform/infra/deploy"
	g := gittest.New(t)
	seed(g, root+"/orders", "orders")
	seed(g, root+"/users", "users")
	g.Write("panka.yaml", "version: v1\nstacks:\n  root: "+root+"\n")
	base := g.Commit("base")
	g.Move(root, to)
	for _, committed := range []bool{false, true} {
		opts := changes.Options{Base: base.String(), StacksRoot: root, Uncommitted: !committed}
		if committed {
			g.Commit("rename the stacks folder")
		}
		for _, m := range modes {
			repo, err := gitops.Open(g.Dir, m.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, paths := range []bool{false, true} {
				opts.Paths = paths
				res, err := changes.Detect(context.Background(), repo, opts)
				if !errors.Is(err, changes.ErrStacksRootMoved) || !strings.Contains(err.Error(), fmt.Sprintf("are under %q there (%s/orders, %s/users)", to, to, to)) || !strings.Contains(err.Error(), "set stacks.root: "+to+" in panka.yaml") {
					t.Errorf("committed=%v %s paths=%v: result %v, %v; want the moved-root error naming %s", committed, m.name, paths, res != nil, err, to)
				}
			}
			repo.Close()
		}
	}
	g.Remove(to)
	g.Commit("no more stacks")
	detectAll(t, g.Dir, changes.Options{Base: base.String(), StacksRoot: root}, func(engine string, paths bool, res *changes.Result) {
		want := []string{"orders removed dev:removed,prod:removed,staging:removed", "users removed dev:removed,prod:removed,staging:removed"}
		if got := summary(res); !slices.Equal(got, want) {
			t.Errorf("%s paths=%v: %q, want %q", engine, paths, got, want)
		}
	})
}

func TestStacksRootMoved(t *testing.T) {
	g, base := baseRepo(t)
	g.Move("stacks", "deploy/stacks")
	g.Remove("deploy/stacks/billing")
	g.Write("deploy/stacks/users/environments/staging.yaml", envYAML("staging", "  variables:\n    LOG_LEVEL: info\n"))
	g.Write("panka.yaml", "version: v1\nstacks:\n  root: deploy/stacks\n")
	g.Commit("move the stacks to deploy/stacks, drop billing")
	var asked []string
	var mu sync.Mutex
	rootAt := func(commit string) (string, bool) {
		mu.Lock()
		asked = append(asked, commit)
		mu.Unlock()
		if commit == base.String() {
			return "stacks/", true
		}
		return "deploy/stacks", true
	}
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "deploy/stacks", StacksRootAt: rootAt}, func(engine string, paths bool, res *changes.Result) {
		want := []string{"billing removed dev:removed,prod:removed,staging:removed", "orders moved ", "users moved staging:modified [api]"}
		if paths {
			want = []string{"billing removed dev:removed,prod:removed,staging:removed", "orders moved dev:modified,prod:modified,staging:modified", "users moved dev:modified,prod:modified,staging:modified"}
		}
		if got := summary(res); !slices.Equal(got, want) {
			t.Errorf("%s paths=%v: %q, want %q", engine, paths, got, want)
		}
		for _, s := range res.Stacks {
			if s.Stack == "orders" && (s.OldPath != "stacks/orders" || s.Path != "deploy/stacks/orders") {
				t.Errorf("%s paths=%v: orders %s -> %s", engine, paths, s.OldPath, s.Path)
			}
		}
	})
	if !slices.Contains(asked, base.String()) {
		t.Errorf("StacksRootAt asked for %q, not base %s", asked, base)
	}
	// Without StacksRootAt, both commits are read under head's root (the
	// rule PANKA_STACKS_ROOT sets): the moved stacks are new there.
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "deploy/stacks"}, func(engine string, paths bool, res *changes.Result) {
		for _, s := range res.Stacks {
			if s.Change != changes.Added {
				t.Errorf("%s paths=%v: %s %s, want added", engine, paths, s.Stack, s.Change)
			}
		}
	})
}

// TestStacksRootMovedUncommitted: the move of TestStacksRootMoved made in
// the work tree (stacks/ -> deploy/stacks/, billing deleted, panka.yaml's
// stacks.root edited), staged or not: --uncommitted read both sides under
// the work tree's root, so every stack came out added and billing was not
// listed at all. Each side is read under its own root, as committed, and
// the answer is the committed one.
func TestStacksRootMovedUncommitted(t *testing.T) {
	for _, staged := range []bool{false, true} {
		t.Run(fmt.Sprintf("staged=%v", staged), func(t *testing.T) {
			g, base := baseRepo(t)
			if err := os.MkdirAll(filepath.Join(g.Dir, "deploy"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(g.Dir, "stacks"), filepath.Join(g.Dir, "deploy", "stacks")); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Join(g.Dir, "deploy", "stacks", "billing")); err != nil {
				t.Fatal(err)
			}
			g.WriteFile("deploy/stacks/users/environments/staging.yaml", envYAML("staging", "  variables:\n    LOG_LEVEL: info\n"))
			g.WriteFile("panka.yaml", "version: v1\nstacks:\n  root: deploy/stacks\n")
			if staged {
				g.Git("add", "-A")
			}
			rootAt := func(commit string) (string, bool) {
				if commit == base.String() {
					return "stacks", true
				}
				return "deploy/stacks", true
			}
			want := []string{"billing removed dev:removed,prod:removed,staging:removed", "orders moved ", "users moved staging:modified [api]"}
			wantPaths := []string{"billing removed dev:removed,prod:removed,staging:removed", "orders moved dev:modified,prod:modified,staging:modified", "users moved dev:modified,prod:modified,staging:modified"}
			check := func(what string, opts changes.Options) {
				t.Helper()
				detectAll(t, g.Dir, opts, func(engine string, paths bool, res *changes.Result) {
					w := want
					if paths {
						w = wantPaths
					}
					if got := summary(res); !slices.Equal(got, w) {
						t.Errorf("%s: %s paths=%v: %q, want %q", what, engine, paths, got, w)
					}
					for _, s := range res.Stacks {
						if s.Stack == "orders" && (s.OldPath != "stacks/orders" || s.Path != "deploy/stacks/orders") {
							t.Errorf("%s: %s paths=%v: orders %s -> %s", what, engine, paths, s.OldPath, s.Path)
						}
					}
				})
			}
			check("work tree", changes.Options{Base: "HEAD", StacksRoot: "deploy/stacks", StacksRootAt: rootAt, Uncommitted: true})
			g.Git("add", "-A")
			g.Commit("move the stacks to deploy/stacks, drop billing")
			check("committed", changes.Options{Base: "HEAD~1", StacksRoot: "deploy/stacks", StacksRootAt: rootAt})
		})
	}
}

// backendDeployed is a DeployedCommits whose states all live under the
// spec.backend prefix it names: a header without it finds nothing.
type backendDeployed struct {
	prefix string
	at     string // the commit every environment was deployed at
}

func (d backendDeployed) DeployedCommit(_ context.Context, h *stacks.Header, env string) (string, bool, error) {
	return d.at, h.Backend["backend.prefix"] == d.prefix, nil
}

// TestNonUTF8FolderWithBackend: a stack with its own spec.backend in a
// folder whose name is not UTF-8 (made on a Latin-1 system). Its header
// was read from the trees only when stack.yaml mentioned no backend, so
// this one was named after its folder: moved to a UTF-8 name, it came out
// as a removed "bill\xe9ng" and an added billing (every environment
// added, a pipeline deploys them anew), and --since-deployed did not find
// its state where spec.backend keeps it. Its identity and spec.backend
// are read as for any other stack, on both engines.
func TestNonUTF8FolderWithBackend(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs a file system that takes any bytes in a name")
	}
	g, _ := baseRepo(t)
	bad := "stacks/bill\xe9ng"
	g.Write("stacks/billing/stack.yaml", strings.Replace(stackYAML("billing", ""), "spec:\n", "spec:\n  backend:\n    prefix: team-b/\n", 1))
	g.Commit("billing keeps its state under team-b/")
	g.Git("mv", "stacks/billing", bad)
	inBad := g.Commit("billing in a Latin-1 folder")
	g.Git("mv", bad, "stacks/billing")
	g.Commit("billing back in a UTF-8 folder")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		want := []string{"billing moved dev:modified,prod:modified,staging:modified"}
		if got := summary(res); !slices.Equal(got, want) {
			t.Errorf("%s paths=%v: %q, want %q", engine, paths, got, want)
		}
	})
	d := backendDeployed{prefix: "team-b/", at: inBad.String()}
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		res, err := changes.SinceDeployed(context.Background(), repo, d, changes.Options{StacksRoot: "stacks", Stacks: []string{"billing"}})
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if len(res.Stacks) != 1 || res.Stacks[0].Deployed["dev"] != inBad.String() || res.Stacks[0].Change != changes.Moved {
			t.Errorf("%s: since deployed: %q %+v, want billing moved from its deployed commit", m.name, summary(res), res.Stacks)
		}
		// At the commit that has it in that folder: its deployment there is
		// found, nothing to say (it did not load: a problem every run).
		res, err = changes.SinceDeployed(context.Background(), repo, d, changes.Options{Head: inBad.String(), StacksRoot: "stacks", Stacks: []string{"billing"}})
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if got := summary(res); len(got) != 0 || len(res.Problems) > 0 {
			t.Errorf("%s: since deployed at %s: %q %v, want nothing changed", m.name, inBad, got, res.Problems)
		}
	}
}

// TestStacksRootIsSubmodule: the stacks root replaced by a git submodule
// (the stacks moved to a repository of their own). This repository's
// commits hold only a commit id there, so every stack came out removed
// (a pipeline destroys them) without a word, and --uncommitted on a
// commit that added the submodule said "no stack changed". Both are an
// error naming the submodule, on both engines, in both modes.
func TestStacksRootIsSubmodule(t *testing.T) {
	g, _ := baseRepo(t)
	g.Remove("stacks")
	g.Git("update-index", "--add", "--cacheinfo", "160000,1111111111111111111111111111111111111111,stacks")
	g.Git("commit", "-qm", "the stacks live in a submodule now")
	for _, c := range []struct {
		what string
		opts changes.Options
		want string
	}{
		{"committed", changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, `stacks root "stacks" is a git submodule at head `},
		{"uncommitted", changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true}, `stacks root "stacks" is a git submodule in the work tree`},
		{"from the submodule", changes.Options{Base: "HEAD", Head: "HEAD", StacksRoot: "stacks"}, `stacks root "stacks" is a git submodule at head `},
	} {
		for _, m := range modes {
			for _, paths := range []bool{false, true} {
				repo, err := gitops.Open(g.Dir, m.opts)
				if err != nil {
					t.Fatal(err)
				}
				c.opts.Paths = paths
				res, err := changes.Detect(context.Background(), repo, c.opts)
				repo.Close()
				if err == nil || !errors.Is(err, changes.ErrNoStacksRoot) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "keep the stack files in this repository") {
					t.Errorf("%s %s paths=%v: %v, %v; want an error saying %q", c.what, m.name, paths, res, err, c.want)
				}
			}
		}
	}
}

// TestStacksRootCaseOnly: the stacks root renamed in case only (stacks
// -> Stacks, as a case-insensitive file system lets it be without panka
// validate or plan noticing). git compares names case-sensitively, so
// every stack of base came out removed (a pipeline destroys them), and
// --since-deployed listed every deployed one removed too. It is an error
// naming the folder there and how to rename it, on both engines, in both
// modes, with --uncommitted and --since-deployed.
func TestStacksRootCaseOnly(t *testing.T) {
	g, base := baseRepo(t)
	g.Git("mv", "stacks", "Stacks.tmp")
	g.Git("mv", "Stacks.tmp", "Stacks")
	g.Git("commit", "-qm", "Stacks")
	want := `stacks root "stacks" is not a folder %s`
	fix := `, but "Stacks" is: git compares file names case-sensitively (a case-insensitive file system, or core.ignorecase, only hides that in this work tree), so every stack would read as removed, and panka finds no stacks where names keep their case (CI); rename it: git mv Stacks stacks.tmp && git mv stacks.tmp stacks`
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			what  string
			opts  changes.Options
			where string
		}{
			{"committed", changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, "at head "},
			{"uncommitted", changes.Options{Base: "HEAD~1", StacksRoot: "stacks", Uncommitted: true}, "in the work tree"},
		} {
			for _, paths := range []bool{false, true} {
				c.opts.Paths = paths
				res, err := changes.Detect(context.Background(), repo, c.opts)
				if err == nil || !errors.Is(err, changes.ErrStacksRootMoved) || !strings.Contains(err.Error(), fmt.Sprintf(want, c.where)) || !strings.Contains(err.Error(), fix) {
					t.Errorf("%s %s paths=%v: %v, %v; want an error saying %q", c.what, m.name, paths, res, err, fmt.Sprintf(want, c.where))
				}
			}
		}
		d := fakeDeployed{"orders/dev": base.String()}
		res, err := changes.SinceDeployed(context.Background(), repo, d, changes.Options{StacksRoot: "stacks"})
		if err == nil || !errors.Is(err, changes.ErrStacksRootMoved) || !strings.Contains(err.Error(), fmt.Sprintf(want, "at head ")) || !strings.Contains(err.Error(), fix) {
			t.Errorf("since deployed %s: %v, %v; want an error saying %q", m.name, res, err, fmt.Sprintf(want, "at head "))
		}
		repo.Close()
	}
	// Renamed back, the base in Stacks: every stack is there at head,
	// nothing refused.
	g.Git("mv", "Stacks", "stacks.tmp")
	g.Git("mv", "stacks.tmp", "stacks")
	g.Git("commit", "-qm", "stacks")
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := changes.Detect(context.Background(), repo, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}); err != nil {
			t.Errorf("%s: renamed back: %v", m.name, err)
		}
		repo.Close()
	}
}

// TestCaseOnlyRenameIgnoreCase: with core.ignorecase (a clone made on
// macOS or Windows, used on a case-sensitive file system) a stack folder
// renamed on disk in case only (stacks/Orders -> stacks/orders, without
// git mv) is, to git, the old paths deleted and nothing added: git status
// hides the new spelling, and git add -A records the deletion only. Both
// engines list the stack removed, as that commit does (it is); git mv,
// staged, is the stack moved.
func TestCaseOnlyRenameIgnoreCase(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs a case-sensitive file system (on a case-insensitive one git sees no change at all)")
	}
	g := gittest.New(t)
	seed(g, "stacks/Orders", "orders")
	g.Write("panka.yaml", "version: v1\n")
	g.Git("config", "core.ignorecase", "true")
	g.Commit("base")
	if err := os.Rename(filepath.Join(g.Dir, "stacks", "Orders"), filepath.Join(g.Dir, "stacks", "orders")); err != nil {
		t.Fatal(err)
	}
	removed := []string{"orders removed dev:removed,prod:removed,staging:removed"}
	detectAll(t, g.Dir, changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true}, func(engine string, paths bool, res *changes.Result) {
		if got := summary(res); !slices.Equal(got, removed) {
			t.Errorf("work tree: %s paths=%v: %q, want %q", engine, paths, got, removed)
		}
	})
	g.Git("add", "-A")
	g.Commit("what git add -A records")
	if got := g.Git("ls-tree", "-r", "--name-only", "HEAD", "stacks"); got != "" {
		t.Fatalf("git add -A recorded %q", got)
	}
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if got := summary(res); !slices.Equal(got, removed) {
			t.Errorf("committed: %s paths=%v: %q, want %q", engine, paths, got, removed)
		}
	})
	// The same rename with git mv (two steps, as on a case-insensitive
	// file system): moved, nothing to deploy.
	g.Git("reset", "-q", "--hard", "HEAD~1")
	g.Git("mv", "stacks/Orders", "stacks/tmp")
	g.Git("mv", "stacks/tmp", "stacks/orders")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD", StacksRoot: "stacks", Uncommitted: true}, func(engine string, paths bool, res *changes.Result) {
		if len(res.Stacks) != 1 || res.Stacks[0].Change != changes.Moved || res.Stacks[0].Path != "stacks/orders" {
			t.Errorf("git mv: %s paths=%v: %q, want orders moved to stacks/orders", engine, paths, summary(res))
		}
	})
}
