package changes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/stacks"
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
					got, want := sinceJSON(t, repo, d, o), sinceJSON(t, repo, d, changes.WholeSince(o))
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
		"inner modified dev:added,staging:added", // part of team at c0; prod deployed
		"orders modified dev:modified,staging:modified [api]",
		"payments modified staging:added",                       // dev and prod deployed
		"people modified dev:modified,prod:added,staging:added", // watches the new allow.json
		"reports modified dev:modified,staging:modified",
		"search modified dev:modified,prod:removed,staging:added",
		"users removed dev:removed,prod:removed,staging:removed",
	}
	if got := summary(res); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestSinceDeployedPerStackRandom checks the per-stack path against the
// whole comparison over random histories: edits, comment-only edits,
// environments added and removed, stacks added, deleted, moved, renamed,
// watched files changed, with random deployed commits.
func TestSinceDeployedPerStackRandom(t *testing.T) {
	for sd := int64(1); sd <= 6; sd++ {
		t.Run(fmt.Sprint("seed ", sd), func(t *testing.T) {
			rnd := rand.New(rand.NewSource(sd))
			g, commits, next := randomHistory(t, rnd)
			// Deployed: every name a stack had, at a random commit.
			d := fakeDeployed{}
			for n := 0; n < next; n++ {
				for _, env := range []string{"dev", "staging", "prod"} {
					if rnd.Intn(4) > 0 {
						d[fmt.Sprintf("s%d/%s", n, env)] = commits[rnd.Intn(len(commits))].String()
						d[fmt.Sprintf("n%d/%s", n, env)] = commits[rnd.Intn(len(commits))].String()
					}
				}
			}
			for _, m := range modes {
				repo, err := gitops.Open(g.Dir, m.opts)
				if err != nil {
					t.Fatal(err)
				}
				for _, paths := range []bool{false, true} {
					o := changes.Options{StacksRoot: "stacks", Paths: paths, NoCache: true}
					for _, dep := range []changes.DeployedCommits{d, listedDeployed{d}} {
						got := sinceJSON(t, repo, dep, o)
						want := sinceJSON(t, repo, dep, changes.WholeSince(o))
						if got != want {
							t.Errorf("%s paths=%v: per stack\n%s\nwhole\n%s", m.name, paths, got, want)
						}
					}
				}
				repo.Close()
			}
		})
	}
}

// sinceJSON is SinceDeployed's result and problems as JSON.
func sinceJSON(t *testing.T, repo *gitops.Repo, d changes.DeployedCommits, o changes.Options) string {
	t.Helper()
	res, err := changes.SinceDeployed(context.Background(), repo, d, o)
	if err != nil {
		t.Fatal(err)
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

// TestRenameBetweenStacks: a file moved from one stack to another (git
// pairs the deletion and the addition of the same content as a rename) is
// deleted from the one and added to the other, each stack's reasons naming
// its own file; a stack moved as a whole keeps its renames.
func TestRenameBetweenStacks(t *testing.T) {
	g, base := baseRepo(t)
	g.Move("stacks/orders/environments/staging.yaml", "stacks/users/environments/qa.yaml")
	g.Move("stacks/billing", "stacks/finance/billing")
	g.Commit("move a file between stacks, move a stack")
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		res, err := changes.Detect(context.Background(), repo, changes.Options{Base: base.String(), StacksRoot: "stacks", Paths: true})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, s := range res.Stacks {
			for _, r := range s.Reasons {
				got[s.Stack] = append(got[s.Stack], r.File+": "+r.Detail)
			}
		}
		want := map[string][]string{
			"orders":  {"stacks/orders/environments/staging.yaml: deleted"},
			"users":   {"stacks/users/environments/qa.yaml: added"},
			"billing": nil,
		}
		for _, f := range []string{"environments/dev.yaml", "environments/prod.yaml", "environments/staging.yaml", "infra/queue.yaml", "services/api/service.yaml", "stack.yaml"} {
			want["billing"] = append(want["billing"], "stacks/finance/billing/"+f+": renamed from stacks/billing/"+f)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: reasons\n%q\nwant\n%q", m.name, got, want)
		}
	}
}

// randomHistory builds a random history of stacks for property tests:
// component, environment and stack.yaml edits, comment-only edits,
// environments added and removed, stacks added, deleted, moved, renamed
// (metadata.name n<i>), watched files changed. next is one more than the
// highest stack number used (s<i> or n<i>).
func randomHistory(t *testing.T, rnd *rand.Rand) (g *gittest.Repo, commits []gitops.Hash, next int) {
	g = gittest.New(t)
	type st struct{ dir, name, watch string }
	var live []st
	for i := 0; i < 5; i++ {
		s := st{dir: fmt.Sprintf("stacks/t%d/s%d", i%2, i), name: fmt.Sprintf("s%d", i)}
		if i%2 == 0 {
			s.watch = fmt.Sprintf("shared/w%d/**", i%3)
		}
		seed(g, s.dir, s.name, watchList(s.watch)...)
		live = append(live, s)
	}
	g.Write("shared/w0/a.json", "{}")
	g.Write("shared/w1/a.json", "{}")
	commits = []gitops.Hash{g.Commit("base")}
	next = 5
	for c := 0; c < 10; c++ {
		for k := 0; k < 1+rnd.Intn(3); k++ {
			i := rnd.Intn(len(live))
			s := live[i]
			switch rnd.Intn(10) {
			case 0:
				g.Write(s.dir+"/environments/dev.yaml", envYAML("dev", fmt.Sprintf("  variables:\n    LOG_LEVEL: l%d\n", rnd.Intn(4))))
			case 1:
				if g.Exists(s.dir + "/environments/prod.yaml") {
					g.Write(s.dir+"/environments/prod.yaml", fmt.Sprintf("# note %d\n", rnd.Int())+envYAML("prod", "  variables:\n    LOG_LEVEL: error\n  overrides:\n    api:\n      image: nginx:0.9\n"))
				}
			case 2:
				if g.Exists(s.dir + "/environments/staging.yaml") {
					g.Remove(s.dir + "/environments/staging.yaml")
				} else {
					g.Write(s.dir+"/environments/staging.yaml", envYAML("staging", "  variables: {}\n"))
				}
			case 3:
				nd := fmt.Sprintf("stacks/moved%d/%s", c, path.Base(s.dir))
				if !g.Exists(nd) {
					g.Move(s.dir, nd)
					live[i].dir = nd
				}
			case 4:
				live[i].name = fmt.Sprintf("n%d", next)
				next++
				g.Write(s.dir+"/stack.yaml", stackYAML(live[i].name, "", watchList(s.watch)...))
			case 5:
				g.Write(fmt.Sprintf("shared/w%d/a.json", rnd.Intn(3)), fmt.Sprint(`{"v":`, rnd.Intn(9), "}"))
			case 6:
				ns := st{dir: fmt.Sprintf("stacks/t%d/s%d", rnd.Intn(2), next), name: fmt.Sprintf("s%d", next)}
				next++
				seed(g, ns.dir, ns.name)
				live = append(live, ns)
			case 7:
				if len(live) > 2 {
					g.Remove(s.dir)
					live = append(live[:i], live[i+1:]...)
				}
			case 8:
				g.Write(s.dir+"/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", fmt.Sprintf("nginx:1.%d", rnd.Intn(3)), 1))
			case 9:
				g.Write(s.dir+"/stack.yaml", strings.Replace(stackYAML(s.name, "", watchList(s.watch)...), "default: eu", fmt.Sprintf("default: eu%d", rnd.Intn(3)), 1))
			}
		}
		commits = append(commits, g.Commit(fmt.Sprint("c", c)))
	}
	return g, commits, next
}

func watchList(w string) []string {
	if w == "" {
		return nil
	}
	return []string{w}
}

// TestDetectAgainstBruteForce: over random histories, for every pair of
// commits, what Detect reports is what loading and resolving every stack
// and environment at both commits says (no missed change, no false
// alarm): an environment is added, removed, or modified when its resolved
// model differs or a file its stack watches changed; --paths lists the
// stacks holding (at either commit) or watching a changed file.
func TestDetectAgainstBruteForce(t *testing.T) {
	for sd := int64(1); sd <= 4; sd++ {
		t.Run(fmt.Sprint("seed ", sd), func(t *testing.T) {
			g, commits, _ := randomHistory(t, rand.New(rand.NewSource(sd)))
			// Both engines, a seed each; both kinds of stacks root.
			repo, err := gitops.Open(g.Dir, modes[sd%2].opts)
			if err != nil {
				t.Fatal(err)
			}
			defer repo.Close()
			at := map[gitops.Hash]map[string]*stackAt{}
			for _, c := range commits {
				fsys, err := repo.TreeFS(c)
				if err != nil {
					t.Fatal(err)
				}
				at[c] = loadAll(t, fsys)
			}
			for i, b := range commits {
				for _, h := range commits[i+1:] {
					changed := strings.Fields(g.Git("diff", "--name-only", "--no-renames", b.String(), h.String()))
					want, wantPaths := oracle(at[b], at[h], changed)
					for _, paths := range []bool{false, true} {
						// The stacks root as configured, or the repository root
						// (every folder searched; the same stacks here).
						root := []string{"stacks", ""}[sd/2%2]
						res, err := changes.Detect(context.Background(), repo, changes.Options{Base: b.String(), Head: h.String(), StacksRoot: root, Paths: paths, NoCache: true})
						if err != nil {
							t.Fatal(err)
						}
						got := summarize(res, paths)
						w := want
						if paths {
							w = wantPaths
						}
						if !slices.Equal(got, w) {
							t.Errorf("%s..%s paths=%v:\n got  %q\n want %q", b.String()[:7], h.String()[:7], paths, got, w)
						}
					}
				}
			}
		})
	}
}

// stackAt is a stack as the brute-force oracle sees it at one side.
type stackAt struct {
	dir    string
	watch  []string
	models map[string]string // env -> canonical resolved model
}

// loadAll loads and resolves every stack and environment of fsys.
func loadAll(t *testing.T, fsys fs.FS) map[string]*stackAt {
	t.Helper()
	refs, err := stacks.Discover(fsys, "stacks")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*stackAt{}
	for _, ref := range refs {
		st, err := stacks.Load(fsys, ref.Path)
		if err != nil {
			t.Fatalf("%s: %v", ref.Path, err)
		}
		h, err := stacks.ReadHeader(fsys, ref.Path)
		if err != nil {
			t.Fatal(err)
		}
		sa := &stackAt{dir: ref.Path, watch: h.Watch, models: map[string]string{}}
		for _, env := range h.Environments {
			r, err := st.Resolve(env, stacks.ResolveOptions{Lenient: true})
			if err != nil {
				t.Fatalf("%s/%s: %v", ref.Name, env, err)
			}
			sa.models[env] = string(r.Canonical())
		}
		out[ref.Name] = sa
	}
	return out
}

// oracle says what changed between two sides by brute force: resolved
// ("name env:kind,...") and --paths (names) lines, sorted.
func oracle(base, head map[string]*stackAt, changed []string) (want, wantPaths []string) {
	watched := func(s *stackAt) bool {
		for _, p := range changed {
			for _, w := range s.watch {
				if changes.MatchGlob(w, p) {
					return true
				}
			}
		}
		return false
	}
	under := func(s *stackAt) bool {
		for _, p := range changed {
			if strings.HasPrefix(p, s.dir+"/") {
				return true
			}
		}
		return false
	}
	for _, name := range union(base, head) {
		sb, sh := base[name], head[name]
		var envs []string
		switch {
		case sb == nil:
			for _, env := range sortedMapKeys(sh.models) {
				envs = append(envs, env+":added")
			}
		case sh == nil:
			for _, env := range sortedMapKeys(sb.models) {
				envs = append(envs, env+":removed")
			}
		default:
			w := watched(sh)
			for _, env := range union(sb.models, sh.models) {
				mb, inB := sb.models[env]
				mh, inH := sh.models[env]
				switch {
				case !inB:
					envs = append(envs, env+":added")
				case !inH:
					envs = append(envs, env+":removed")
				case mb != mh || w:
					envs = append(envs, env+":modified")
				}
			}
		}
		if len(envs) > 0 {
			want = append(want, name+" "+strings.Join(envs, ","))
		}
		if (sb != nil && under(sb)) || (sh != nil && (under(sh) || watched(sh))) {
			wantPaths = append(wantPaths, name)
		}
	}
	return want, wantPaths
}

// summarize renders Detect's result as the oracle does.
func summarize(res *changes.Result, paths bool) []string {
	var got []string
	for _, s := range res.Stacks {
		if paths {
			got = append(got, s.Stack)
			continue
		}
		var envs []string
		for _, env := range s.Environments {
			envs = append(envs, env+":"+string(s.EnvironmentChanges[env]))
		}
		if len(envs) > 0 {
			got = append(got, s.Stack+" "+strings.Join(envs, ","))
		}
	}
	sort.Strings(got)
	return got
}

func union[V any](a, b map[string]V) []string {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return sortedMapKeys(m)
}

func sortedMapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestUncommittedAgainstBruteForce: over random histories with random
// work-tree changes on top (edits staged or not, files deleted without
// git rm, untracked files and stacks, files untracked with git rm
// --cached, stack folders moved on disk, ignored files, chmod +x), Detect
// with --uncommitted says what loading every stack at the base commit and
// in the work tree says; --paths lists the stacks holding a file whose
// content or mode differs between base and the work tree (a file untracked
// with git rm --cached but still there, unchanged, is not a change).
func TestUncommittedAgainstBruteForce(t *testing.T) {
	for sd := int64(1); sd <= 6; sd++ {
		t.Run(fmt.Sprint("seed ", sd), func(t *testing.T) {
			rnd := rand.New(rand.NewSource(100 + sd))
			g, commits, _ := randomHistory(t, rnd)
			g.Write(".gitignore", "*.tmp\n")
			commits = append(commits, g.Commit("ignore"))
			var dirs []string
			for _, l := range strings.Split(g.Git("ls-files", "stacks"), "\n") {
				if strings.HasSuffix(l, "/stack.yaml") {
					dirs = append(dirs, path.Dir(l))
				}
			}
			for k := 0; k < 2+rnd.Intn(4); k++ {
				d := dirs[rnd.Intn(len(dirs))]
				if !g.Exists(d) {
					continue
				}
				switch rnd.Intn(8) {
				case 0: // an unstaged edit
					if g.Exists(d + "/environments/dev.yaml") {
						g.WriteFile(d+"/environments/dev.yaml", envYAML("dev", fmt.Sprintf("  variables:\n    LOG_LEVEL: wt%d\n", rnd.Intn(3))))
					}
				case 1: // staged, then edited again on disk
					g.Write(d+"/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", "nginx:2.0", 1))
					g.WriteFile(d+"/services/api/service.yaml", strings.Replace(serviceYAML, "nginx:1.0", fmt.Sprintf("nginx:2.%d", rnd.Intn(2)), 1))
				case 2: // deleted on disk only
					if g.Exists(d + "/environments/staging.yaml") {
						if err := os.Remove(filepath.Join(g.Dir, d, "environments", "staging.yaml")); err != nil {
							t.Fatal(err)
						}
					}
				case 3: // a new, untracked stack
					n := fmt.Sprintf("stacks/wt/u%d", k)
					g.WriteFile(n+"/stack.yaml", stackYAML(fmt.Sprintf("u%d", k), ""))
					g.WriteFile(n+"/environments/dev.yaml", envYAML("dev", "  variables: {}\n"))
				case 4: // untracked, still on disk
					g.Git("rm", "-q", "--cached", "-r", d+"/infra")
				case 5: // moved on disk, not in the index
					nd := fmt.Sprintf("stacks/wtmoved%d/%s", k, path.Base(d))
					if err := os.MkdirAll(filepath.Join(g.Dir, path.Dir(nd)), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(filepath.Join(g.Dir, d), filepath.Join(g.Dir, nd)); err != nil {
						t.Fatal(err)
					}
				case 6: // ignored files change nothing
					g.WriteFile(d+"/environments/prod.yaml.tmp", "junk")
					g.WriteFile("shared/w0/b.tmp", "junk")
				case 7: // a watched file, and a mode change
					g.WriteFile("shared/w1/a.json", fmt.Sprint(`{"wt":`, rnd.Intn(3), "}"))
					if g.Exists(d + "/stack.yaml") {
						if err := os.Chmod(filepath.Join(g.Dir, d, "stack.yaml"), 0o755); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			work := loadAll(t, stacks.DirFS(g.Dir))
			for _, b := range []gitops.Hash{commits[0], commits[len(commits)/2], commits[len(commits)-1]} {
				fsys := treeAt(t, b, g)
				changed := changedOnDisk(t, g, b)
				want, wantPaths := oracle(loadAll(t, fsys), work, changed)
				for _, m := range modes {
					repo, err := gitops.Open(g.Dir, m.opts)
					if err != nil {
						t.Fatal(err)
					}
					for _, paths := range []bool{false, true} {
						res, err := changes.Detect(context.Background(), repo, changes.Options{Base: b.String(), Uncommitted: true, StacksRoot: "stacks", Paths: paths, NoCache: true})
						if err != nil {
							t.Fatal(err)
						}
						w := want
						if paths {
							w = wantPaths
						}
						if got := summarize(res, paths); !slices.Equal(got, w) {
							t.Errorf("%s from %s paths=%v:\n got  %q\n want %q\n%s", m.name, b.String()[:7], paths, got, w, g.Git("status", "--short"))
						}
					}
					repo.Close()
				}
			}
		})
	}
}

// treeAt returns the file system of commit c.
func treeAt(t *testing.T, c gitops.Hash, g *gittest.Repo) fs.FS {
	t.Helper()
	repo, err := gitops.Open(g.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	fsys, err := repo.TreeFS(c)
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// changedOnDisk lists the paths whose content or mode differs between
// commit b and the work tree (the files git would see: tracked or
// untracked, not ignored), by hashing what is on disk.
func changedOnDisk(t *testing.T, g *gittest.Repo, b gitops.Hash) []string {
	t.Helper()
	type file struct{ mode, id string }
	at := map[string]file{}
	for _, l := range strings.Split(g.Git("ls-tree", "-r", b.String()), "\n") {
		meta, p, ok := strings.Cut(l, "\t")
		if f := strings.Fields(meta); ok && len(f) == 3 {
			at[p] = file{f[0], f[2]}
		}
	}
	disk := map[string]file{}
	for _, p := range strings.Fields(g.Git("ls-files", "--cached", "--others", "--exclude-standard")) {
		st, err := os.Lstat(filepath.Join(g.Dir, p))
		if err != nil {
			continue // deleted on disk
		}
		mode := "100644"
		if st.Mode()&0o111 != 0 {
			mode = "100755"
		}
		disk[p] = file{mode, g.Git("hash-object", "--", p)}
	}
	var out []string
	for _, p := range union(at, disk) {
		if at[p] != disk[p] {
			out = append(out, p)
		}
	}
	return out
}

// TestDeployedBase: with --since-deployed, -o json's "base" is one commit
// id (it was "", which a consumer expecting a SHA there broke on): the
// commit every environment compared is deployed at, their merge-base when
// they differ (also with one deployed from a branch), git's empty tree
// when nothing is deployed or the deployed commits share no history.
// "bases" lists the distinct deployed commits compared ([] for none); a
// comparison of two commits leaves it out. Both engines.
func TestDeployedBase(t *testing.T) {
	g, c0 := baseRepo(t)
	g.Write("stacks/orders/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	c1 := g.Commit("orders dev")
	g.Git("checkout", "-q", "-b", "preview")
	g.Write("stacks/users/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: info\n"))
	p1 := g.Commit("preview")
	g.Git("checkout", "-q", "--orphan", "imported")
	g.Write("docs/README.md", "# imported\n")
	o1 := g.Commit("imported separately")
	g.Git("checkout", "-q", "-f", "main")
	g.Write("stacks/billing/environments/dev.yaml", envYAML("dev", "  variables:\n    LOG_LEVEL: debug\n"))
	c2 := g.Commit("billing dev")

	every := func(c gitops.Hash, more ...string) fakeDeployed {
		d := fakeDeployed{}
		for _, s := range []string{"orders", "users", "billing"} {
			for _, env := range []string{"dev", "staging", "prod"} {
				d[s+"/"+env] = c.String()
			}
		}
		for i := 0; i+1 < len(more); i += 2 {
			d[more[i]] = more[i+1]
		}
		return d
	}
	empty := gitops.EmptyTree.String()
	for _, tc := range []struct {
		name  string
		d     fakeDeployed
		base  string
		bases []string
	}{
		{"all at head", every(c2), c2.String(), []string{c2.String()}},
		{"all at one older commit", every(c1), c1.String(), []string{c1.String()}},
		{"nothing deployed", fakeDeployed{}, empty, []string{}},
		{"some never deployed", fakeDeployed{"orders/dev": c1.String()}, c1.String(), []string{c1.String()}},
		{"along main", every(c2, "orders/dev", c0.String(), "users/prod", c1.String()), c0.String(), sortedIDs(c0, c1, c2)},
		{"a branch deployed", every(c2, "users/dev", p1.String()), c1.String(), sortedIDs(c2, p1)},
		{"unrelated histories", every(c2, "billing/prod", o1.String()), empty, sortedIDs(c2, o1)},
		// Deployed at commits newer than head (not compared): as at head.
		{"all ahead of head", every(c2), c1.String(), []string{}},
		{"some ahead of head", every(c2, "orders/dev", c0.String()), c0.String(), []string{c0.String()}},
	} {
		for _, m := range modes {
			repo, err := gitops.Open(g.Dir, m.opts)
			if err != nil {
				t.Fatal(err)
			}
			o := changes.Options{StacksRoot: "stacks"}
			if strings.Contains(tc.name, "ahead") {
				o.Head = c1.String()
			}
			res, err := changes.SinceDeployed(context.Background(), repo, tc.d, o)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.name, m.name, err)
			}
			if res.Base != "" {
				t.Errorf("%s %s: SinceDeployed set base %s: DeployedBase sets it", tc.name, m.name, res.Base)
			}
			if err := changes.DeployedBase(context.Background(), repo, res); err != nil {
				t.Fatalf("%s %s: %v", tc.name, m.name, err)
			}
			if res.Base != tc.base || !slices.Equal(res.Bases, tc.bases) {
				t.Errorf("%s %s: base %s bases %v, want %s %v", tc.name, m.name, res.Base, res.Bases, tc.base, tc.bases)
			}
			b, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), `"base":"`+tc.base+`"`) || !strings.Contains(string(b), `"bases":[`) {
				t.Errorf("%s %s: JSON %s", tc.name, m.name, b)
			}
			repo.Close()
		}
	}

	// A comparison of two commits has one base and no "bases".
	repo, err := gitops.Open(g.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	res, err := changes.Detect(context.Background(), repo, changes.Options{Base: c0.String(), StacksRoot: "stacks"})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(res); !strings.Contains(string(b), `"base":"`+c0.String()+`"`) || strings.Contains(string(b), `"bases"`) {
		t.Errorf("--base: JSON %s", b)
	}
}

func sortedIDs(hs ...gitops.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	sort.Strings(out)
	return out
}

// TestSinceDeployedLegacyLayout: a deployed commit made before panka
// refused a Service outside services/<svc>/ (infra/ops.yaml, which
// groups the shared queue) did not load as base: every environment was
// "modified" without a comparison, no component named. It is read as it
// was deployed, so what changed in each is listed; head is still read
// strictly, its own misplaced Service an error in the problems.
func TestSinceDeployedLegacyLayout(t *testing.T) {
	g := gittest.New(t)
	seed(g, "stacks/orders", "orders")
	g.Write("stacks/orders/infra/ops.yaml", "apiVersion: core.panka.io/v1\nkind: Service\nmetadata:\n  name: ops\nspec: {}\n")
	c0 := g.Commit("old layout")
	g.Write("stacks/orders/environments/prod.yaml", envYAML("prod", "  variables:\n    LOG_LEVEL: debug\n  overrides:\n    api:\n      image: nginx:0.9\n"))
	g.Commit("prod logs more")
	d := fakeDeployed{"orders/dev": c0.String(), "orders/staging": c0.String(), "orders/prod": c0.String()}
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
		// Head still has the old layout: refused there.
		if got, want := summary(res), []string{"orders modified dev:modified,prod:modified,staging:modified"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: head with the old layout: %q, want %q", m.name, got, want)
		}
		if len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Error(), "stacks/orders/infra/ops.yaml:2:7: kind: a Service document belongs in") {
			t.Errorf("%s: head's problems %v", m.name, res.Problems)
		}
	}
	// Fixed at head: the queue left service ops in every environment,
	// and prod's overlay changed api there.
	g.Move("stacks/orders/infra/ops.yaml", "stacks/orders/services/ops/service.yaml")
	g.Commit("services in services/<svc>/")
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
		if got, want := summary(res), []string{"orders modified dev:modified,prod:modified,staging:modified [api,jobs]"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q, want %q", m.name, got, want)
		}
		if len(res.Problems) != 0 {
			t.Errorf("%s: problems %v", m.name, res.Problems)
		}
		for _, s := range res.Stacks {
			if !reflect.DeepEqual(s.EnvironmentComponents, map[string][]string{"dev": {"jobs"}, "staging": {"jobs"}, "prod": {"api", "jobs"}}) {
				t.Errorf("%s: components per environment %v", m.name, s.EnvironmentComponents)
			}
			// The moved Service is credited with the queue it no longer
			// groups, though the queue's file did not change.
			checkReasons(t, m.name, s, map[string]string{
				"stacks/orders/environments/prod.yaml":    "modified; environment prod changed (component api)",
				"stacks/orders/services/ops/service.yaml": "renamed from stacks/orders/infra/ops.yaml; component jobs changed in dev, prod, staging",
			})
		}
	}
}

// TestServiceEditCredited: a Service renamed in its service.yaml moves
// every component of its folder to the new name, those in other files
// too; changed --why said the service.yaml had "no effect on the
// resolved model" when no component of its own changed.
func TestServiceEditCredited(t *testing.T) {
	g := gittest.New(t)
	seed(g, "stacks/orders", "orders")
	g.Write("stacks/orders/services/api/service.yaml", "apiVersion: core.panka.io/v1\nkind: Service\nmetadata:\n  name: api\nspec: {}\n")
	g.Write("stacks/orders/services/api/app.yaml", strings.SplitN(serviceYAML, "---\n", 2)[1])
	g.Write("stacks/orders/services/api/jobs.yaml", strings.Replace(queueYAML, "name: jobs", "name: api-jobs", 1))
	g.Commit("api in two files")
	g.Write("stacks/orders/services/api/service.yaml", "apiVersion: core.panka.io/v1\nkind: Service\nmetadata:\n  name: public-api\nspec: {}\n")
	g.Commit("the api service is public-api")
	detectAll(t, g.Dir, changes.Options{Base: "HEAD~1", StacksRoot: "stacks"}, func(engine string, paths bool, res *changes.Result) {
		if paths {
			return
		}
		if got, want := summary(res), []string{"orders modified dev:modified,prod:modified,staging:modified [api,api-jobs]"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %q, want %q", engine, got, want)
		}
		checkReasons(t, engine, res.Stacks[0], map[string]string{
			"stacks/orders/services/api/service.yaml": "modified; component api changed in dev, prod, staging; component api-jobs changed in dev, prod, staging",
		})
	})
}
