package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/hooks"
)

func hooksGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.email=t@example.com", "-c", "user.name=T"}, args...)...)
	cmd.Dir = dir
	cmd.Env = gittest.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestHooksInstallAndPrePush(t *testing.T) {
	dir := t.TempDir()
	hooksGit(t, dir, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hooksGit(t, dir, "add", "-A")
	hooksGit(t, dir, "commit", "-qm", "start")
	base := hooksGit(t, dir, "rev-parse", "HEAD")
	qs, _ := filepath.Abs("../../../../testdata/quickstart/stacks")
	if out, err := exec.Command("cp", "-r", qs, filepath.Join(dir, "stacks")).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	hooksGit(t, dir, "add", "-A")
	hooksGit(t, dir, "commit", "-qm", "shop")
	head := hooksGit(t, dir, "rev-parse", "HEAD")

	f, out, errOut := stackTestFactory(t, dir, "", false)
	if code := Run(context.Background(), f, []string{"hooks", "install"}); code != 0 {
		t.Fatalf("hooks install: exit %d: %s", code, errOut)
	}
	hook, err := os.ReadFile(filepath.Join(dir, ".git", "hooks", "pre-push"))
	if err != nil || !strings.Contains(string(hook), "hooks run pre-push") || !strings.Contains(out.String(), "Installed") {
		t.Fatalf("hook not installed: %v\n%s", err, hook)
	}
	// -o json reports the hook as JSON, not the text line.
	f, out, errOut = stackTestFactory(t, dir, "", false)
	if code := Run(context.Background(), f, []string{"hooks", "install", "--force", "-o", "json"}); code != 0 {
		t.Fatalf("hooks install -o json: exit %d: %s", code, errOut)
	}
	var installed struct{ Hook, Path string }
	if err := json.Unmarshal(out.Bytes(), &installed); err != nil || installed.Hook != "pre-push" || filepath.Base(installed.Path) != "pre-push" {
		t.Errorf("hooks install -o json printed %q (%v), want {\"hook\": \"pre-push\", \"path\": .../pre-push}", out, err)
	}

	tests := []struct {
		name      string
		stdin     string
		wantCode  int
		want      string
		env       []string
		wantEmpty bool // nothing on stderr
	}{
		{name: "push to an existing branch", stdin: "refs/heads/main " + head + " refs/heads/main " + base + "\n", want: "shop (added): dev, production"},
		{name: "new branch uses the default base", stdin: "refs/heads/main " + head + " refs/heads/main " + strings.Repeat("0", 40) + "\n", want: "refs/heads/main changes"},
		// A push that moves the branch back (reset, push --force) brings
		// no commit: said so, not "changes no stack".
		{name: "moving a branch back", stdin: "refs/heads/main " + base + " refs/heads/main " + head + "\n", env: []string{"PANKA_LOGGING_LEVEL=info"}, want: "refs/heads/main moves back from " + head[:12] + " to an earlier commit, " + base[:12]},
		// Nothing to check is silent unless asked, as git's own hooks are
		// when all is well.
		{name: "moving a branch back, not asked", stdin: "refs/heads/main " + base + " refs/heads/main " + head + "\n", wantEmpty: true},
		{name: "deleting a branch checks nothing", stdin: "(delete) " + strings.Repeat("0", 40) + " refs/heads/old " + base + "\n", want: ""},
		{name: "bad input", stdin: "garbage\n", wantCode: 1, want: "pre-push input line 1"},
		// A commit from before any stack, in a repository whose default
		// branch has them: nothing to check, and stacks.root is not
		// wrong, so nothing is said.
		{name: "a commit before any stack", stdin: "refs/heads/main " + base + " refs/heads/main " + base + "\n", wantEmpty: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, errOut := stackTestFactory(t, dir, tt.stdin, false, tt.env...)
			code := Run(context.Background(), f, []string{"hooks", "run", "pre-push", "origin", "https://example.com/repo.git"})
			if code != tt.wantCode || !strings.Contains(errOut.String(), tt.want) || tt.wantEmpty && errOut.Len() > 0 {
				t.Fatalf("exit %d (want %d), stderr:\n%s", code, tt.wantCode, errOut)
			}
		})
	}

	// Run by hand at a terminal, it says what it reads instead of waiting
	// for input.
	f, _, errOut = stackTestFactory(t, dir, "", true)
	if code := Run(context.Background(), f, []string{"hooks", "run", "pre-push"}); code != 1 || !strings.Contains(errOut.String(), "reads what git pushes on standard input") {
		t.Errorf("at a terminal: exit %d, stderr:\n%s", code, errOut)
	}

	// A stack that no longer loads refuses the push.
	if err := os.WriteFile(filepath.Join(dir, "stacks/shop/infra/data.yaml"), []byte("apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: orders\nspec:\n  fifoo: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hooksGit(t, dir, "commit", "-qam", "broken")
	broken := hooksGit(t, dir, "rev-parse", "HEAD")
	f, _, errOut = stackTestFactory(t, dir, "refs/heads/main "+broken+" refs/heads/main "+head+"\n", false)
	if code := Run(context.Background(), f, []string{"hooks", "run", "pre-push"}); code != 1 || !strings.Contains(errOut.String(), "push refused") || !strings.Contains(errOut.String(), "fifoo") {
		t.Fatalf("broken stack: exit %d, stderr:\n%s", code, errOut)
	}
}

// TestHooksPrePushProblemLines: a stack with several problems is
// reported a line each, every line with the "panka: REF:" prefix (only
// the first had it, the rest bare among git's output), in file and line
// order (they came in the order found), under the stack's own line.
func TestHooksPrePushProblemLines(t *testing.T) {
	dir := quickstartRepo(t, "main")
	base := hooksGit(t, dir, "rev-parse", "HEAD")
	prod := filepath.Join(dir, "stacks/shop/environments/production.yaml")
	b, err := os.ReadFile(prod)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), "replicas: 3", "replicas: three", 1) + "    nope:\n      a: 1\n"
	if err := os.WriteFile(prod, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	svc := filepath.Join(dir, "stacks/shop/services/web/service.yaml")
	if b, err = os.ReadFile(svc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(svc, []byte(strings.Replace(string(b), "${orders.url}", "${orderz.url}", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	hooksGit(t, dir, "commit", "-qam", "broken")
	head := hooksGit(t, dir, "rev-parse", "HEAD")
	for _, env := range [][]string{nil, {"PANKA_GIT_BINARY=false"}} {
		f, _, errOut := stackTestFactory(t, dir, "refs/heads/main "+head+" refs/heads/main "+base+"\n", false, env...)
		if code := Run(context.Background(), f, []string{"hooks", "run", "pre-push", "origin", "https://example.invalid/shop.git"}); code != 1 {
			t.Fatalf("%v: exit %d, stderr:\n%s", env, code, errOut)
		}
		var problems []string
		for _, line := range strings.Split(errOut.String(), "\n") {
			if strings.HasPrefix(line, "panka: refs/heads/main changes:") {
				break
			}
			problems = append(problems, line)
		}
		want := []string{
			"panka: refs/heads/main: stack shop (stacks/shop) at head:",
			"panka: refs/heads/main:   stacks/shop/environments/production.yaml:10:17: spec.overrides.web.replicas: want an integer",
			"panka: refs/heads/main:   stacks/shop/environments/production.yaml:16:5: spec.overrides.nope: ",
			"panka: refs/heads/main:   stacks/shop/services/web/service.yaml:19:19: spec.env.ORDERS_QUEUE: reference ${orderz.url}: unknown component",
		}
		if len(problems) != len(want) {
			t.Fatalf("%v: %d problem lines, want %d:\n%s", env, len(problems), len(want), errOut)
		}
		for i, w := range want {
			if !strings.HasPrefix(problems[i], w) {
				t.Errorf("%v: line %d = %q, want it to start with %q", env, i+1, problems[i], w)
			}
		}
	}
}

// TestHooksPrePushManyEarlierRefs: a first push of many branches (git
// push --all to an empty remote) compares a new branch from the refs the
// push sends before it, at most maxEarlierRefs of them. Orphan branches
// without stacks (gh-pages, docs) took those places, and every branch
// after them was checked whole and listed as added, main pushed before it
// or not; they are no longer kept. When the cap leaves out what a branch
// forks from, the hook says so, and what to do.
func TestHooksPrePushManyEarlierRefs(t *testing.T) {
	for _, withStacks := range []bool{false, true} {
		dir := quickstartRepo(t, "main")
		hooksGit(t, dir, "remote", "add", "origin", "https://example.invalid/shop.git")
		zero := strings.Repeat("0", 40)
		var stdin strings.Builder
		for i := range maxEarlierRefs + 1 {
			name := fmt.Sprintf("a%02d", i)
			hooksGit(t, dir, "checkout", "-q", "--orphan", name)
			if !withStacks {
				hooksGit(t, dir, "rm", "-rqf", ".")
			}
			if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte(name), 0o644); err != nil {
				t.Fatal(err)
			}
			hooksGit(t, dir, "add", "-A")
			hooksGit(t, dir, "commit", "-qm", name)
			fmt.Fprintf(&stdin, "refs/heads/%s %s refs/heads/%s %s\n", name, hooksGit(t, dir, "rev-parse", "HEAD"), name, zero)
		}
		hooksGit(t, dir, "checkout", "-qf", "main")
		fmt.Fprintf(&stdin, "refs/heads/main %s refs/heads/main %s\n", hooksGit(t, dir, "rev-parse", "HEAD"), zero)
		hooksGit(t, dir, "checkout", "-qb", "x1")
		prod := filepath.Join(dir, "stacks/shop/environments/production.yaml")
		b, err := os.ReadFile(prod)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(prod, []byte(strings.Replace(string(b), "replicas: 3", "replicas: 4", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		hooksGit(t, dir, "commit", "-qam", "x1")
		fmt.Fprintf(&stdin, "refs/heads/x1 %s refs/heads/x1 %s\n", hooksGit(t, dir, "rev-parse", "HEAD"), zero)
		for _, env := range [][]string{nil, {"PANKA_GIT_BINARY=false"}} {
			f, _, errOut := stackTestFactory(t, dir, stdin.String(), false, env...)
			if code := Run(context.Background(), f, []string{"hooks", "run", "pre-push", "origin", "https://example.invalid/shop.git"}); code != 0 {
				t.Fatalf("stacks in the orphans %v, %v: exit %d, stderr:\n%s", withStacks, env, code, errOut)
			}
			out := errOut.String()
			x1 := out[strings.Index(out, "panka: refs/heads/main changes:"):]
			if !withStacks {
				if !strings.Contains(x1, "panka: refs/heads/x1 changes:\n  shop (modified): production\n") || strings.Count(x1, "checking every stack") != 0 {
					t.Errorf("orphans without stacks, %v: x1 not compared from main:\n%s", env, out)
				}
				continue
			}
			if want := fmt.Sprintf("it is compared only with the first %d refs this push sends before it that bring commits, not with the 2 after them: push the branch it forks from on its own first): checking every stack", maxEarlierRefs); !strings.Contains(x1, want) {
				t.Errorf("orphans with stacks, %v: want %q in:\n%s", env, want, out)
			}
		}
	}
}

// TestHooksPrePushPreCommitAtTerminal: pre-commit run --hook-stage
// pre-push --from-ref A --to-ref B, typed at a terminal, names the refs in
// PRE_COMMIT_* with standard input the terminal: panka refused it as "run
// by hand" instead of checking the ref named. Without those variables a
// terminal is still refused (it would wait for input).
func TestHooksPrePushPreCommitAtTerminal(t *testing.T) {
	dir := quickstartRepo(t, "main")
	base := hooksGit(t, dir, "rev-parse", "HEAD")
	if err := os.WriteFile(filepath.Join(dir, "stacks/shop/infra/data.yaml"), []byte("apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: orders\nspec:\n  fifoo: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hooksGit(t, dir, "commit", "-qam", "broken")
	head := hooksGit(t, dir, "rev-parse", "HEAD")

	f, _, errOut := stackTestFactory(t, dir, "", true, "PRE_COMMIT_FROM_REF="+base, "PRE_COMMIT_TO_REF="+head)
	if code := Run(context.Background(), f, []string{"hooks", "run", "pre-push"}); code != 1 || !strings.Contains(errOut.String(), "fifoo: unknown field") || !strings.Contains(errOut.String(), "push refused") {
		t.Fatalf("pre-commit refs at a terminal: exit %d, stderr:\n%s", code, errOut)
	}
	f, _, errOut = stackTestFactory(t, dir, "", true)
	if code := Run(context.Background(), f, []string{"hooks", "run", "pre-push"}); code != 1 || !strings.Contains(errOut.String(), "reads what git pushes on standard input") {
		t.Fatalf("at a terminal: exit %d, stderr:\n%s", code, errOut)
	}
}

// TestHooksPrePushWithoutBase: a push with nothing to compare with — the
// first push of a repository to an empty remote, or a repository whose
// default branch panka cannot find (trunk, no origin/HEAD) — checks every
// stack of the pushed commit instead of refusing the push.
func TestHooksPrePushWithoutBase(t *testing.T) {
	dir := quickstartRepo(t, "trunk")
	first := hooksGit(t, dir, "rev-parse", "HEAD")
	zero := strings.Repeat("0", 40)
	run := func(stdin string) (int, string) {
		t.Helper()
		f, _, errOut := stackTestFactory(t, dir, stdin, false)
		code := Run(context.Background(), f, []string{"hooks", "run", "pre-push", "origin", "https://example.com/repo.git"})
		return code, errOut.String()
	}

	code, errOut := run("refs/heads/trunk " + first + " refs/heads/trunk " + zero + "\n")
	if code != 0 || !strings.Contains(errOut, "it is a first commit): checking every stack") || !strings.Contains(errOut, "shop (added): dev, production") {
		t.Fatalf("first push: exit %d, stderr:\n%s", code, errOut)
	}

	// A second commit on a branch, with no main/master or origin/HEAD.
	hooksGit(t, dir, "checkout", "-qb", "feature")
	if err := os.WriteFile(filepath.Join(dir, "stacks/shop/infra/data.yaml"), []byte("apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: orders\nspec:\n  fifoo: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hooksGit(t, dir, "add", "-A")
	hooksGit(t, dir, "commit", "-qm", "broken")
	broken := hooksGit(t, dir, "rev-parse", "HEAD")
	code, errOut = run("refs/heads/feature " + broken + " refs/heads/feature " + zero + "\n")
	if code != 1 || !strings.Contains(errOut, "find the default branch") || !strings.Contains(errOut, "fifoo") || !strings.Contains(errOut, "push refused") {
		t.Fatalf("broken stack, no default branch: exit %d, stderr:\n%s", code, errOut)
	}
}

// TestHooksPrePushFirstPushOfMain: the first push of main to an empty
// remote (only a local main, no remote-tracking branch) checks every
// stack of the pushed commit, not only what its last commit changed: a
// stack broken two commits back is refused.
func TestHooksPrePushFirstPushOfMain(t *testing.T) {
	dir := quickstartRepo(t, "main")
	if err := os.WriteFile(filepath.Join(dir, "stacks/shop/infra/data.yaml"), []byte("apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: orders\nspec:\n  fifoo: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hooksGit(t, dir, "commit", "-qam", "broken")
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("shop\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hooksGit(t, dir, "add", "-A")
	hooksGit(t, dir, "commit", "-qm", "readme")
	hooksGit(t, dir, "remote", "add", "origin", "https://example.invalid/empty.git")
	head := hooksGit(t, dir, "rev-parse", "HEAD")
	for _, env := range [][]string{nil, {"PANKA_GIT_BINARY=false"}} {
		f, _, errOut := stackTestFactory(t, dir, "refs/heads/main "+head+" refs/heads/main "+strings.Repeat("0", 40)+"\n", false, env...)
		code := Run(context.Background(), f, []string{"hooks", "run", "pre-push", "origin", "https://example.invalid/empty.git"})
		if code != 1 || !strings.Contains(errOut.String(), "no remote-tracking branch says what the remote holds") ||
			!strings.Contains(errOut.String(), "fifoo") || !strings.Contains(errOut.String(), "push refused") {
			t.Errorf("%v: exit %d, stderr:\n%s", env, code, errOut)
		}
	}
}

// TestHooksPrePushUnrelatedHistory: a push that replaces a remote branch
// with an unrelated history (git push --force main:gh-pages over an orphan
// branch) has no fork point: every stack of the pushed commit is checked,
// not the push refused with advice (--base) a hook cannot take; a new
// orphan branch says why without that advice either.
func TestHooksPrePushUnrelatedHistory(t *testing.T) {
	dir := quickstartRepo(t, "main")
	hooksGit(t, dir, "commit", "-q", "--allow-empty", "-m", "second")
	main := hooksGit(t, dir, "rev-parse", "HEAD")
	hooksGit(t, dir, "update-ref", "refs/remotes/origin/main", main)
	hooksGit(t, dir, "checkout", "-q", "--orphan", "site")
	hooksGit(t, dir, "rm", "-rq", "--cached", ".")
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hooksGit(t, dir, "add", "index.html")
	hooksGit(t, dir, "commit", "-qm", "site")
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hooksGit(t, dir, "commit", "-qam", "site 2")
	site := hooksGit(t, dir, "rev-parse", "HEAD")
	hooksGit(t, dir, "checkout", "-qf", "main")
	for _, env := range [][]string{nil, {"PANKA_GIT_BINARY=false"}} {
		for _, tt := range []struct{ stdin, want string }{
			{"refs/heads/main " + main + " refs/heads/site " + site + "\n", "it shares no history with " + site[:12] + ", what refs/heads/site holds): checking every stack"},
			// The orphan branch holds no stacks and no panka.yaml (a
			// gh-pages): nothing to check, and nothing said unless asked.
			{"refs/heads/site " + site + " refs/heads/site " + strings.Repeat("0", 40) + "\n", ""},
			{"refs/heads/site " + site + " refs/heads/site " + hooksGit(t, dir, "rev-parse", site+"~1") + "\n", ""},
		} {
			f, _, errOut := stackTestFactory(t, dir, tt.stdin, false, env...)
			code := Run(context.Background(), f, []string{"hooks", "run", "pre-push", "origin", "https://example.invalid/repo.git"})
			if code != 0 || !strings.Contains(errOut.String(), tt.want) || strings.Contains(errOut.String(), "--base") || tt.want == "" && errOut.Len() > 0 {
				t.Errorf("%v %q: exit %d, stderr:\n%s", env, tt.stdin, code, errOut)
			}
		}
	}
}

// TestHooksPrePushNoStacksHint: a push whose commit has a panka.yaml
// but not the stacks root it sets says so, and how to set it, without
// refusing the push; in a repository without panka (its hooks from a
// shared core.hooksPath) the push says nothing unless asked.
func TestHooksPrePushNoStacksHint(t *testing.T) {
	for _, tt := range []struct {
		name, config, want string
	}{
		{name: "panka.yaml sets a root that is not there", config: "version: v1\nstacks:\n  root: deploy/stacks\n", want: `stacks root "deploy/stacks" is not a folder`},
		{name: "no panka.yaml, no stacks"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			hooksGit(t, dir, "init", "-q", "-b", "main")
			if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.config != "" {
				if err := os.WriteFile(filepath.Join(dir, "panka.yaml"), []byte(tt.config), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			hooksGit(t, dir, "add", "-A")
			hooksGit(t, dir, "commit", "-qm", "start")
			base := hooksGit(t, dir, "rev-parse", "HEAD")
			hooksGit(t, dir, "commit", "-q", "--allow-empty", "-m", "second")
			head := hooksGit(t, dir, "rev-parse", "HEAD")
			hooksGit(t, dir, "update-ref", "refs/remotes/origin/main", base)
			for _, stdin := range []string{
				"refs/heads/main " + head + " refs/heads/main " + base + "\n",
				"refs/heads/feat " + head + " refs/heads/feat " + strings.Repeat("0", 40) + "\n",
			} {
				f, _, errOut := stackTestFactory(t, dir, stdin, false)
				code := Run(context.Background(), f, []string{"hooks", "run", "pre-push", "origin"})
				if code != 0 || tt.want == "" && errOut.Len() > 0 || tt.want != "" && (!strings.Contains(errOut.String(), tt.want) || !strings.Contains(errOut.String(), "set stacks.root in panka.yaml")) {
					t.Errorf("%q: exit %d, stderr:\n%s", stdin, code, errOut)
				}
			}
		})
	}
}

// TestHooksPrePushMovedStack: a stack moved to a new folder says where it
// moved from, and with no environment changed the line does not end in a
// dangling colon.
func TestHooksPrePushMovedStack(t *testing.T) {
	dir := quickstartRepo(t, "main")
	base := hooksGit(t, dir, "rev-parse", "HEAD")
	hooksGit(t, dir, "mv", "stacks/shop", "stacks/store")
	hooksGit(t, dir, "commit", "-qm", "move shop")
	moved := hooksGit(t, dir, "rev-parse", "HEAD")
	f, _, errOut := stackTestFactory(t, dir, "refs/heads/main "+moved+" refs/heads/main "+base+"\n", false)
	if code := Run(context.Background(), f, []string{"hooks", "run", "pre-push", "origin", "https://example.com/repo.git"}); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	want := "  shop (moved from stacks/shop to stacks/store; no environment changed)\n"
	if !strings.Contains(errOut.String(), want) || strings.Contains(errOut.String(), ": \n") {
		t.Errorf("stderr:\n%s\nwant the line %q", errOut, want)
	}
}

func TestPrePushLine(t *testing.T) {
	tests := []struct {
		name string
		s    changes.Stack
		want string
	}{
		{"added", changes.Stack{Stack: "shop", Change: changes.Added, Environments: []string{"dev", "production"},
			EnvironmentChanges: map[string]changes.Kind{"dev": changes.Added, "production": changes.Added}}, "shop (added): dev, production"},
		{"modified, one environment new", changes.Stack{Stack: "shop", Change: changes.Modified, Environments: []string{"dev", "qa"},
			EnvironmentChanges: map[string]changes.Kind{"dev": changes.Modified, "qa": changes.Added}}, "shop (modified): dev, qa (added)"},
		{"moved with a change", changes.Stack{Stack: "shop", Change: changes.Moved, Path: "apps/shop", OldPath: "stacks/shop", Environments: []string{"dev"},
			EnvironmentChanges: map[string]changes.Kind{"dev": changes.Modified}}, "shop (moved from stacks/shop to apps/shop): dev"},
		{"moved only", changes.Stack{Stack: "shop", Change: changes.Moved, Path: "apps/shop", OldPath: "stacks/shop"},
			"shop (moved from stacks/shop to apps/shop; no environment changed)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := prePushLine(&tt.s); got != tt.want {
				t.Errorf("prePushLine = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHooksInstallHooksPath installs where git runs hooks from: a
// core.hooksPath in the user's global config counts as much as one in the
// repository's, and a linked worktree shares the main repository's hooks.
func TestHooksInstallHooksPath(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "repo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// gitHookDir is where git itself runs hooks from in wd.
	gitHookDir := func(wd string) string {
		p := hooksGit(t, wd, "rev-parse", "--git-path", "hooks")
		if !filepath.IsAbs(p) {
			p = filepath.Join(wd, p)
		}
		return p
	}
	global := filepath.Join(tmp, "gitconfig")
	t.Setenv("GIT_CONFIG_GLOBAL", global)
	hooksGit(t, dir, "init", "-q", "-b", "main")
	hooksGit(t, dir, "commit", "-q", "--allow-empty", "-m", "start")
	// Installed with the git binary and with go-git alone, in turn: each
	// must write where git runs hooks from.
	install := func(t *testing.T, wd string) {
		t.Helper()
		for _, env := range [][]string{nil, {"PANKA_GIT_BINARY=false"}} {
			hooksDir := gitHookDir(wd)
			os.Remove(filepath.Join(hooksDir, "pre-push"))
			f, _, errOut := stackTestFactory(t, wd, "", false, env...)
			if code := Run(context.Background(), f, []string{"hooks", "install", "--force"}); code != 0 {
				t.Fatalf("hooks install %v: exit %d: %s", env, code, errOut)
			}
			if _, err := os.Stat(filepath.Join(hooksDir, "pre-push")); err != nil {
				t.Errorf("hooks install %v: no pre-push hook where git runs hooks from (%s): %v", env, hooksDir, err)
			}
		}
	}

	t.Run("global core.hooksPath", func(t *testing.T) {
		shared := filepath.Join(tmp, "shared-hooks")
		hooksGit(t, dir, "config", "--file", global, "core.hooksPath", shared)
		defer hooksGit(t, dir, "config", "--file", global, "--unset", "core.hooksPath")
		install(t, dir)
		if got := gitHookDir(dir); got != shared {
			t.Fatalf("git runs hooks from %s, want %s", got, shared)
		}
		if _, err := os.Stat(filepath.Join(shared, "pre-push")); err != nil {
			t.Errorf("no pre-push hook where git runs hooks from (%s): %v", shared, err)
		}
	})
	// core.hooksPath /dev/null turns hooks off: install says so and how
	// to turn them on (it said "/dev/null is a file where panka needs a
	// folder: move it away"); uninstall finds nothing to remove.
	t.Run("core.hooksPath /dev/null", func(t *testing.T) {
		hooksGit(t, dir, "config", "core.hooksPath", "/dev/null")
		defer hooksGit(t, dir, "config", "--unset", "core.hooksPath")
		for _, env := range [][]string{nil, {"PANKA_GIT_BINARY=false"}} {
			f, _, errOut := stackTestFactory(t, dir, "", false, env...)
			if code := Run(context.Background(), f, []string{"hooks", "install"}); code != 1 ||
				!strings.Contains(errOut.String(), "git's hooks folder /dev/null is not a folder, so git runs no hook from it") ||
				!strings.Contains(errOut.String(), "git config --unset core.hooksPath") || strings.Contains(errOut.String(), "move it away") {
				t.Errorf("hooks install %v: exit %d: %s", env, code, errOut)
			}
			f, out, errOut := stackTestFactory(t, dir, "", false, env...)
			if code := Run(context.Background(), f, []string{"hooks", "uninstall"}); code != 0 || !strings.Contains(out.String(), "No pre-push hook at /dev/null/pre-push: nothing to remove") {
				t.Errorf("hooks uninstall %v: exit %d: %s%s", env, code, out, errOut)
			}
		}
	})
	// ~/ in core.hooksPath is the home folder, for git and for panka alike.
	t.Run("global core.hooksPath under ~", func(t *testing.T) {
		home := filepath.Join(tmp, "home")
		t.Setenv("HOME", home)
		hooksGit(t, dir, "config", "--file", global, "core.hooksPath", "~/git-hooks")
		defer hooksGit(t, dir, "config", "--file", global, "--unset", "core.hooksPath")
		install(t, dir)
		if got, want := gitHookDir(dir), filepath.Join(home, "git-hooks"); got != want {
			t.Fatalf("git runs hooks from %s, want %s", got, want)
		}
	})
	t.Run("linked worktree", func(t *testing.T) {
		wt := filepath.Join(tmp, "wt")
		hooksGit(t, dir, "worktree", "add", "-q", "-b", "wt", wt)
		install(t, wt)
		if _, err := os.Stat(filepath.Join(gitHookDir(wt), "pre-push")); err != nil {
			t.Errorf("no pre-push hook where git runs the worktree's hooks from: %v", err)
		}
		// A core.hooksPath of this work tree alone (git config --worktree).
		own := filepath.Join(tmp, "wt-hooks")
		hooksGit(t, wt, "config", "extensions.worktreeConfig", "true")
		hooksGit(t, wt, "config", "--worktree", "core.hooksPath", own)
		install(t, wt)
		if got := gitHookDir(wt); got != own {
			t.Fatalf("git runs the worktree's hooks from %s, want %s", got, own)
		}
		hooksGit(t, wt, "config", "--worktree", "--unset", "core.hooksPath")
		hooksGit(t, wt, "config", "--unset", "extensions.worktreeConfig")
	})
}

// TestHooksPrePushNewRefAtDefaultTip: a new branch or tag pushed at a commit
// the remote default branch already holds adds nothing to check (not the
// tip's own changes again); one more commit on it is checked as usual.
func TestHooksPrePushNewRefAtDefaultTip(t *testing.T) {
	dir := t.TempDir()
	hooksGit(t, dir, "init", "-q", "-b", "main")
	qs, _ := filepath.Abs("../../../../testdata/quickstart/stacks")
	if out, err := exec.Command("cp", "-r", qs, filepath.Join(dir, "stacks")).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	hooksGit(t, dir, "add", "-A")
	hooksGit(t, dir, "commit", "-qm", "shop")
	if err := os.WriteFile(filepath.Join(dir, "stacks/shop/environments/dev.yaml"), []byte("apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec:\n  variables:\n    GREETING: hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hooksGit(t, dir, "commit", "-qam", "dev greeting")
	tip := hooksGit(t, dir, "rev-parse", "HEAD")
	hooksGit(t, dir, "update-ref", "refs/remotes/origin/main", tip)
	zero := strings.Repeat("0", 40)
	// The same from a clone whose one remote is not called origin (git
	// clone -o upstream): its default branch is upstream/main.
	for _, remote := range []string{"origin", "upstream"} {
		if remote != "origin" {
			hooksGit(t, dir, "remote", "add", remote, "https://example.invalid/repo.git")
			hooksGit(t, dir, "update-ref", "refs/remotes/"+remote+"/main", tip)
			hooksGit(t, dir, "update-ref", "-d", "refs/remotes/origin/main")
		}
		for _, stdin := range []string{
			"refs/heads/feat " + tip + " refs/heads/feat " + zero + "\n",
			"refs/tags/v1 " + tip + " refs/tags/v1 " + zero + "\n",
			"refs/heads/old " + hooksGit(t, dir, "rev-parse", "HEAD~1") + " refs/heads/old " + zero + "\n",
		} {
			f, _, errOut := stackTestFactory(t, dir, stdin, false, "PANKA_LOGGING_LEVEL=info")
			if code := Run(context.Background(), f, []string{"hooks", "run", "pre-push", remote}); code != 0 || !strings.Contains(errOut.String(), "adds no commit to "+remote+"/main") || strings.Contains(errOut.String(), "shop") {
				t.Errorf("%s: %q: exit %d, stderr:\n%s", remote, stdin, code, errOut)
			}
			// Silent unless asked, as git's own hooks are when all is well.
			f, _, errOut = stackTestFactory(t, dir, stdin, false)
			if code := Run(context.Background(), f, []string{"hooks", "run", "pre-push", remote}); code != 0 || errOut.Len() > 0 {
				t.Errorf("%s: %q, not asked: exit %d, stderr:\n%s", remote, stdin, code, errOut)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "stacks/shop/environments/production.yaml"), []byte("apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: production\nspec:\n  variables:\n    GREETING: hey\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hooksGit(t, dir, "commit", "-qam", "production greeting")
	next := hooksGit(t, dir, "rev-parse", "HEAD")
	f, _, errOut := stackTestFactory(t, dir, "refs/heads/feat "+next+" refs/heads/feat "+zero+"\n", false)
	if code := Run(context.Background(), f, []string{"hooks", "run", "pre-push"}); code != 0 || !strings.Contains(errOut.String(), "shop (modified): production") || strings.Contains(errOut.String(), "dev") {
		t.Errorf("a new branch one commit ahead: exit %d, stderr:\n%s", code, errOut)
	}
}

// quickstartRepo is a new repository on branch whose one commit ("shop")
// holds the quickstart's stacks.
func quickstartRepo(t *testing.T, branch string) string {
	t.Helper()
	dir := t.TempDir()
	hooksGit(t, dir, "init", "-q", "-b", branch)
	qs, _ := filepath.Abs("../../../../testdata/quickstart/stacks")
	if out, err := exec.Command("cp", "-r", qs, filepath.Join(dir, "stacks")).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	hooksGit(t, dir, "add", "-A")
	hooksGit(t, dir, "commit", "-qm", "shop")
	return dir
}

// TestHooksForceAndUninstall: hooks install --force keeps the hook it
// replaces and says where; hooks uninstall removes panka's hook (and says
// how to put the kept one back), finds nothing to do a second time, and
// refuses a hook panka did not write.
func TestHooksForceAndUninstall(t *testing.T) {
	dir := t.TempDir()
	hooksGit(t, dir, "init", "-q", "-b", "main")
	hookDir := filepath.Join(dir, ".git", "hooks")
	path := filepath.Join(hookDir, "pre-push")
	mine := "#!/bin/sh\necho my own checks\n"
	if err := os.WriteFile(path, []byte(mine), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		f, out, errOut := stackTestFactory(t, dir, "", false)
		code := Run(context.Background(), f, args)
		return code, out.String(), errOut.String()
	}
	if code, _, errOut := run("hooks", "uninstall"); code != 1 || !strings.Contains(errOut, path+": a pre-push hook not written by panka exists") || !strings.Contains(errOut, "edit or remove it yourself") {
		t.Errorf("uninstall of a foreign hook: exit %d, stderr:\n%s", code, errOut)
	}
	backup := filepath.Join(hookDir, "pre-push.panka-backup")
	code, out, errOut := run("hooks", "install", "--force")
	if code != 0 || !strings.Contains(out, "The pre-push hook it replaced is kept as "+backup) {
		t.Fatalf("install --force: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(backup); err != nil || string(b) != mine {
		t.Fatalf("backup: %q, %v", b, err)
	}
	code, out, errOut = run("hooks", "uninstall")
	// The paths are quoted as a shell needs them (a TMPDIR holding a
	// space gives "mv '/tmp/a b/...' ...").
	restore := "mv " + hooks.ShellQuote(backup) + " " + hooks.ShellQuote(path)
	if code != 0 || !strings.Contains(out, "Removed "+path) || !strings.Contains(out, "to restore it: "+restore) {
		t.Fatalf("uninstall: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("hook still there: %v", err)
	}
	code, out, errOut = run("hooks", "uninstall", "-o", "json")
	var res struct {
		Path    string
		Removed bool
		Backups []string
	}
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || res.Removed || res.Path != path || len(res.Backups) != 1 {
		t.Errorf("second uninstall: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	// The restore command shown works.
	if out, err := exec.Command("sh", "-c", restore).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", restore, err, out)
	}
	if b, _ := os.ReadFile(path); string(b) != mine {
		t.Errorf("restored hook: %q", b)
	}
}

// TestHookBinaryKeepsLink: a panka installed as a link into a versioned
// folder (Homebrew's /usr/local/bin/panka -> ../Cellar/panka/1.2.0/bin/panka,
// a Nix profile) is recorded in the hook as the link, which an upgrade
// repoints; the hook recorded the versioned path os.Executable gives,
// which the upgrade removes, and then found panka only on PATH: a GUI git
// client, with a minimal PATH, refused every push.
func TestHookBinaryKeepsLink(t *testing.T) {
	dir := t.TempDir()
	install := func(version string) string {
		t.Helper()
		p := filepath.Join(dir, "Cellar", version, "panka")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho \"panka "+version+" $*\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	exe := install("1.0")
	link := filepath.Join(dir, "bin", "panka")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../Cellar/1.0/panka", link); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other", "panka")
	if err := os.MkdirAll(filepath.Dir(other), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	found := func(p string) func(string) (string, error) {
		return func(string) (string, error) { return p, nil }
	}
	notFound := func(string) (string, error) { return "", exec.ErrNotFound }
	for _, tt := range []struct {
		name, arg0 string
		lookPath   func(string) (string, error)
		want       string
	}{
		{"started from PATH through the link", "panka", found(link), link},
		{"started by the link's path", link, notFound, link},
		{"another panka first on PATH", "panka", found(other), exe},
		{"not on PATH", "panka", notFound, exe},
		{"started by the binary itself", exe, notFound, exe},
	} {
		if got := hookBinary(exe, tt.arg0, tt.lookPath); got != tt.want {
			t.Errorf("%s: hookBinary = %s, want %s", tt.name, got, tt.want)
		}
	}

	// The hook keeps working across an upgrade that moves the link, with
	// a PATH that has no panka.
	hook, _, err := hooks.Install(filepath.Join(dir, "hooks"), hookBinary(exe, "panka", found(link)), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "Cellar", "1.0")); err != nil {
		t.Fatal(err)
	}
	install("1.1")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../Cellar/1.1/panka", link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(hook, "origin", "url")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "panka 1.1 hooks run pre-push origin url") {
		t.Errorf("hook after the upgrade: %v\n%s", err, out)
	}
}
