package gitops_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/gittest"
)

// modes are the two engines every test runs: the git-binary accelerator and
// pure go-git. Results must be identical.
var modes = []struct {
	name string
	opts gitops.Options
}{
	{"git-binary", gitops.Options{}},
	{"go-git", gitops.Options{NoGitBinary: true}},
}

func open(t *testing.T, dir string, opts gitops.Options) *gitops.Repo {
	t.Helper()
	r, err := gitops.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if want := opts.NoGitBinary == false; r.UsesGitBinary() != want {
		t.Fatalf("UsesGitBinary = %v, want %v", r.UsesGitBinary(), want)
	}
	return r
}

func TestOpen(t *testing.T) {
	g := gittest.New(t)
	g.Write("a/b/c.txt", "x")
	head := g.Commit("one")
	wt := filepath.Join(t.TempDir(), "wt")
	g.Git("worktree", "add", "-b", "side", wt)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			tests := []struct{ name, dir, root string }{
				{"root", g.Dir, g.Dir},
				{"subfolder", filepath.Join(g.Dir, "a", "b"), g.Dir},
				{"linked worktree", wt, wt},
			}
			for _, tt := range tests {
				r := open(t, tt.dir, m.opts)
				if got, _ := filepath.EvalSymlinks(r.Root()); got != mustEval(t, tt.root) {
					t.Errorf("%s: Root = %s, want %s", tt.name, r.Root(), tt.root)
				}
				h, err := r.Head()
				if err != nil || h != head {
					t.Errorf("%s: Head = %s, %v; want %s", tt.name, h, err, head)
				}
				if _, err := r.TreeFS(h); err != nil {
					t.Errorf("%s: TreeFS: %v", tt.name, err)
				}
			}
			r := open(t, wt, m.opts)
			if mustEval(t, r.CommonDir()) != mustEval(t, filepath.Join(g.Dir, ".git")) {
				t.Errorf("CommonDir in a linked worktree = %s, want the main .git", r.CommonDir())
			}
			if _, err := gitops.Open(t.TempDir(), m.opts); !errors.Is(err, gitops.ErrNotRepository) {
				t.Errorf("Open outside a repository: %v, want ErrNotRepository", err)
			}
			// Inside .git itself the work tree above is found.
			if r := open(t, filepath.Join(g.Dir, ".git", "objects"), m.opts); mustEval(t, r.Root()) != mustEval(t, g.Dir) {
				t.Errorf("Open inside .git: Root = %s", r.Root())
			}
		})
	}
	// A bare repository (a CI mirror) has no work tree: said, with the fix.
	bare := filepath.Join(t.TempDir(), "bare.git")
	g.Git("clone", "-q", "--bare", g.Dir, bare)
	for _, dir := range []string{bare, filepath.Join(bare, "refs")} {
		if _, err := gitops.Open(dir, gitops.Options{}); !errors.Is(err, gitops.ErrNotRepository) || !strings.Contains(err.Error(), "bare repository") || !strings.Contains(err.Error(), "git clone") {
			t.Errorf("Open(%s) of a bare repository: %v", dir, err)
		}
	}
	// SHA-256 repositories are refused by name, not with go-git's
	// "unknown extension".
	sha := t.TempDir()
	g.Git("init", "-q", "--object-format=sha256", sha)
	if _, err := gitops.Open(sha, gitops.Options{}); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("Open of a SHA-256 repository: %v", err)
	}
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	e, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestResolveRef(t *testing.T) {
	g := gittest.New(t)
	var c []gitops.Hash
	for i := 0; i < 5; i++ {
		g.Write("f.txt", fmt.Sprint(i))
		c = append(c, g.Commit(fmt.Sprint("c", i)))
	}
	g.Git("tag", "light")
	g.Git("tag", "-a", "annotated", "-m", "a tag", c[2].String())
	g.Git("tag", "-a", "nested", "-m", "a tag of a tag", "annotated")
	g.Git("checkout", "-q", "-b", "feature", c[3].String())
	g.Write("g.txt", "feature")
	feat := g.Commit("feature work")
	g.Git("checkout", "-q", "main")
	g.Git("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
	merge := g.Head()
	g.Git("update-ref", "refs/remotes/origin/main", c[4].String())
	g.Git("update-ref", "refs/remotes/origin/feature", c[1].String())
	g.Git("config", "remote.origin.url", "https://example.invalid/repo.git")
	g.Git("config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")
	g.Git("config", "branch.main.remote", "origin")
	g.Git("config", "branch.main.merge", "refs/heads/main")
	g.Git("config", "branch.feature.remote", "origin")
	g.Git("config", "branch.feature.merge", "refs/heads/feature")

	tests := []struct {
		ref  string
		want gitops.Hash
	}{
		{"HEAD", merge},
		{"main", merge},
		{"feature", feat},
		{"refs/heads/feature", feat},
		{"light", c[4]},
		{"annotated", c[2]},
		{"origin/main", c[4]},
		{"origin/feature", c[1]},
		{c[1].String(), c[1]},
		{c[1].String()[:7], c[1]},
		{"HEAD~3", c[2]},
		{"HEAD^", c[4]},
		{"HEAD^2", feat},
		{"HEAD^2~1", c[3]},
		{"@{upstream}", c[4]},
		{"@{u}", c[4]},
		{"feature@{u}", c[1]},
		{"feature@{upstream}~1", c[0]},
		{"HEAD^{}", merge},
		{"annotated^{commit}", c[2]},
		// An annotated tag's own object id (what a pre-push hook is
		// given for a pushed tag) is the commit it tags, as in git.
		{g.Git("rev-parse", "annotated"), c[2]},
		{g.Git("rev-parse", "annotated")[:12], c[2]},
		{g.Git("rev-parse", "nested"), c[2]},
		{"HEAD^{/c3}", c[3]},
		// White space inside a message search is part of it.
		{"HEAD^{/feature work}", feat},
		// A peel followed by more (go-git alone refused these, and read
		// HEAD^{}~ as HEAD).
		{"HEAD^{}~1", c[4]},
		{"HEAD^{}~", c[4]},
		{"HEAD^{commit}^2", feat},
		{"HEAD^{}^{commit}", merge},
		{"nested^{}~1", c[1]},
		// ^{tag} of an annotated tag is the tag (then its commit).
		{"annotated^{tag}", c[2]},
		{"nested^{tag}", c[2]},
		{"annotated^{tag}~1", c[1]},
		// Stray white space around a ref (a CI variable) is no part of it.
		{" HEAD~3", c[2]},
		{"main\n", merge},
		{"\t" + c[1].String()[:7] + " ", c[1]},
	}
	// Ids of objects that are no commits: a tree, a blob, git's empty tree.
	treeID, blobID := g.Git("rev-parse", "HEAD^{tree}"), g.Git("rev-parse", "light:f.txt")
	// Tags of a tree and of a blob (lightweight, annotated).
	g.Git("tag", "treetag", treeID)
	g.Git("tag", "-a", "-m", "a blob", "blobtag", blobID)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			for _, tt := range tests {
				got, err := r.ResolveRef(tt.ref)
				if err != nil || got != tt.want {
					t.Errorf("ResolveRef(%q) = %s, %v; want %s", tt.ref, got, err, tt.want)
				}
				if !strings.Contains(tt.ref, "@") && strings.TrimSpace(tt.ref) == tt.ref {
					if gitSays := g.Git("rev-parse", tt.ref+"^{commit}"); gitSays != tt.want.String() {
						t.Errorf("test table disagrees with git for %q: %s", tt.ref, gitSays)
					}
				}
			}
			errTests := []struct {
				ref                   string
				missing, zero, noFind bool
				msg                   string
			}{
				{ref: "nope", noFind: true, msg: "not found"},
				{ref: strings.Repeat("0", 40), zero: true, msg: "all-zero"},
				{ref: "deadbeef" + strings.Repeat("1", 32), missing: true, msg: "git fetch"},
				{ref: "HEAD~40", noFind: true, msg: "shorter"},
				{ref: "HEAD^2^2", noFind: true, msg: "not a merge with that many parents"},
				{ref: "HEAD@{push}", msg: "not supported"},
				{ref: "HEAD~1 main", msg: "contains white space"},
				{ref: "origin/main...HEAD", msg: "a range of commits, not one commit: name one commit (for panka changed, pass the range's ends as --base origin/main --head HEAD"},
				{ref: "main..feature", msg: "ends as --base main --head feature"},
				{ref: "main..", msg: "ends as --base main --head HEAD"},
				{ref: "main\tHEAD", msg: "contains white space"},
				// git's parent shorthands for ranges and sets.
				{ref: "HEAD^!", msg: "a range of commits (HEAD^! is HEAD^..HEAD), not one commit: name one commit (for panka changed, pass --base HEAD^ --head HEAD)"},
				{ref: "main^-", msg: "(main^- is main^1..main)"},
				{ref: "HEAD^-2", msg: "pass --base HEAD^2 --head HEAD"},
				{ref: "HEAD^@", msg: "names every parent of HEAD, not one commit"},
				// Forms naming something else than a commit: never the
				// commit they start from.
				{ref: "HEAD^{tree}", msg: "names a tree, not a commit"},
				// Suffixes git does not know: which it takes, not go-git's
				// "not a valid revision suffix brace component".
				{ref: "HEAD^{xyz}", msg: "^{xyz} is not a revision suffix git knows: use ^{commit} (or ^{}, ^{object}: the commit itself), ^{tag} (an annotated tag, then its commit) or ^{/<text>}"},
				{ref: "main^{}~1^{Commit}", msg: "^{Commit} is not a revision suffix git knows"},
				{ref: "HEAD^{", msg: "its ^{ is not closed by a }: use ^{commit}"},
				{ref: "annotated^{blob}", msg: "names a blob, not a commit"},
				{ref: "light:f.txt", msg: `names the file or folder "f.txt" inside a commit, not a commit: pass the commit alone (light)`},
				{ref: "light:", msg: `names the root folder inside a commit (its tree), not a commit: pass the commit alone (light)`},
				{ref: ":f.txt", msg: `names the file or folder "f.txt" inside a commit, not a commit: pass the commit alone (HEAD)`},
				{ref: "HEAD~1:", msg: "inside a commit"},
				{ref: ":0:f.txt", msg: "inside a commit"},
				{ref: ":/c3", msg: "not supported"},
				{ref: ":/c3 fix", msg: "(:/<text>) is not supported"},
				{ref: "HEAD^{/c3} main", msg: "contains white space"},
				// Ids of other objects: what they are, not "fetch it".
				{ref: treeID, msg: "names a tree, not a commit: pass a commit id"},
				{ref: treeID[:10], msg: "names a tree, not a commit"},
				{ref: blobID, msg: "names a blob, not a commit"},
				{ref: gitops.EmptyTree.String(), msg: "git's empty tree, not a commit"},
				// Tags of other objects: what they point at, not "not found".
				{ref: "treetag", msg: "refs/tags/treetag points at a tree"},
				{ref: "treetag~1", msg: "refs/tags/treetag points at a tree"},
				{ref: "blobtag", msg: "refs/tags/blobtag points at a blob"},
				// ^{tag} of what is no annotated tag: an error, as in
				// git, never the commit it names.
				{ref: "light^{tag}", msg: "light is not an annotated tag (it names a commit, " + c[4].String()[:12] + "), so ^{tag} names nothing, as in git: drop the ^{tag}"},
				{ref: "main^{tag}", msg: "main is not an annotated tag (it names a commit"},
				{ref: "HEAD^{tag}", msg: "HEAD is not an annotated tag (it names a commit"},
				{ref: "HEAD~1^{tag}", msg: "HEAD~1 is not an annotated tag (it names a commit)"},
			}
			for _, tt := range errTests {
				_, err := r.ResolveRef(tt.ref)
				var re *gitops.RefError
				if !errors.As(err, &re) {
					t.Errorf("ResolveRef(%q) error = %v, want *RefError", tt.ref, err)
					continue
				}
				if re.Missing != tt.missing || re.Zero != tt.zero || errors.Is(err, gitops.ErrRefNotFound) != tt.noFind {
					t.Errorf("ResolveRef(%q) = %+v", tt.ref, re)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("ResolveRef(%q) error %q does not mention %q", tt.ref, err, tt.msg)
				}
			}
			g.Git("checkout", "-q", "--detach", "HEAD")
			if _, err := r.ResolveRef("@{u}"); err == nil || !strings.Contains(err.Error(), "detached") {
				t.Errorf("@{u} on a detached HEAD: %v", err)
			}
			g.Git("checkout", "-q", "main")
			// An upstream deleted on the remote and pruned (git status:
			// [gone], after a merged pull request) is said as such, not
			// "not found ... git fetch first".
			g.Git("branch", "-f", "gone", c[0].String())
			g.Git("config", "branch.gone.remote", "origin")
			g.Git("config", "branch.gone.merge", "refs/heads/gone")
			for _, ref := range []string{"gone@{u}", "gone@{upstream}~1"} {
				if _, err := r.ResolveRef(ref); err == nil || !strings.Contains(err.Error(), `the upstream of branch "gone", origin/gone, is gone`) || !strings.Contains(err.Error(), "git branch --set-upstream-to") {
					t.Errorf("ResolveRef(%s) with its upstream pruned: %v", ref, err)
				}
			}
		})
	}
}

// TestResolveShortIDs: abbreviated commit ids resolve as git resolves
// them: at least 4 digits, and an ambiguous one is an error listing the
// candidates, never the first object that happens to match (go-git's own
// ResolveRevision takes any prefix of any length).
func TestResolveShortIDs(t *testing.T) {
	g := gittest.New(t)
	var stream strings.Builder
	for i := 0; i < 1500; i++ {
		fmt.Fprintf(&stream, "commit refs/heads/main\ncommitter T <t@example.com> %d +0000\ndata 4\nc%03d\n", 1600000000+i, i%1000)
		if i == 0 {
			stream.WriteString("M 644 inline f\ndata 1\nx\n")
		}
		stream.WriteString("\n")
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Stdin = g.Dir, strings.NewReader(stream.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v %s", err, out)
	}
	// A 4-digit prefix two commits share, and one only one commit has.
	byPrefix := map[string][]string{}
	for _, id := range strings.Fields(g.Git("rev-list", "main")) {
		byPrefix[id[:4]] = append(byPrefix[id[:4]], id)
	}
	var ambiguous, unique string
	for p, ids := range byPrefix {
		if len(ids) > 1 && ambiguous == "" {
			ambiguous = p
		}
		if len(ids) == 1 && unique == "" {
			unique = p
		}
	}
	if ambiguous == "" || unique == "" {
		t.Fatal("no ambiguous or no unique 4-digit prefix among 1,500 commits")
	}
	g.Git("branch", "abc") // a branch with a hex name wins over ids
	g.Git("branch", "dead", "main~7")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			if h, err := r.ResolveRef(unique); err != nil || h.String() != byPrefix[unique][0] {
				t.Errorf("ResolveRef(%s) = %s, %v; want %s", unique, h, err, byPrefix[unique][0])
			}
			if _, err := r.ResolveRef(ambiguous); err == nil || !strings.Contains(err.Error(), "ambiguous") || !strings.Contains(err.Error(), byPrefix[ambiguous][0][:12]) {
				t.Errorf("ResolveRef(%s) (ambiguous) = %v", ambiguous, err)
			}
			for _, short := range []string{"1", "a", "12", "fff"} {
				if _, err := r.ResolveRef(short); !errors.Is(err, gitops.ErrRefNotFound) || !strings.Contains(err.Error(), "at least 4") {
					t.Errorf("ResolveRef(%s) = %v, want not found (too short)", short, err)
				}
			}
			if h, err := r.ResolveRef("abc"); err != nil || h != g.Head() {
				t.Errorf("branch abc: %s, %v", h, err)
			}
			if h, err := r.ResolveRef("dead"); err != nil || h.String() != g.Git("rev-parse", "main~7") {
				t.Errorf("branch dead: %s, %v", h, err)
			}
		})
	}
}

func TestDefaultBranch(t *testing.T) {
	// init.defaultBranch is read from git's configuration: the
	// developer's own must not decide.
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	tests := []struct {
		name    string
		refs    map[string]string // ref -> "c0".."c2" or "sym:<ref>"
		want    string
		wantIdx int
		wantErr bool
		errHas  string // with wantErr: a part of the error
	}{
		{"origin/HEAD symbolic", map[string]string{"refs/remotes/origin/trunk": "c1", "refs/remotes/origin/main": "c2", "refs/remotes/origin/HEAD": "sym:refs/remotes/origin/trunk"}, "origin/trunk", 1, false, ""},
		{"origin/main", map[string]string{"refs/remotes/origin/main": "c1", "refs/remotes/origin/master": "c2"}, "origin/main", 1, false, ""},
		{"origin/master", map[string]string{"refs/remotes/origin/master": "c0"}, "origin/master", 0, false, ""},
		{"local main without remote", nil, "main", 2, false, ""},
		{"nothing", map[string]string{"delete:refs/heads/main": ""}, "", 0, true, ""},
		// A clone whose only remote is not named origin (git clone -o upstream).
		{"only remote upstream", map[string]string{"remote:upstream": "", "refs/remotes/upstream/main": "c1"}, "upstream/main", 1, false, ""},
		{"origin among remotes", map[string]string{"remote:origin": "", "remote:upstream": "", "refs/remotes/origin/main": "c1", "refs/remotes/upstream/main": "c0"}, "origin/main", 1, false, ""},
		// Its HEAD a plain id rather than a link to a branch: upstream's,
		// not the origin/HEAD this clone does not have.
		{"only remote upstream, HEAD an id", map[string]string{"remote:upstream": "", "refs/remotes/upstream/HEAD": "c1"}, "upstream/HEAD", 1, false, ""},
		{"two remotes, no origin", map[string]string{"remote:a": "", "remote:b": "", "refs/remotes/a/main": "c1"}, "main", 2, false, ""},
		// A default branch named neither main nor master (git init -b
		// trunk): git's init.defaultBranch names it, origin's first.
		{"init.defaultBranch local", map[string]string{"config:init.defaultBranch": "trunk", "refs/heads/trunk": "c1", "refs/heads/feat": "c2", "delete:refs/heads/main": ""}, "trunk", 1, false, ""},
		{"init.defaultBranch remote", map[string]string{"config:init.defaultBranch": "trunk", "remote:origin": "", "refs/remotes/origin/trunk": "c0", "refs/heads/trunk": "c1", "delete:refs/heads/main": ""}, "origin/trunk", 0, false, ""},
		{"init.defaultBranch not a branch here", map[string]string{"config:init.defaultBranch": "develop", "refs/heads/trunk": "c1", "refs/heads/feat": "c2", "delete:refs/heads/main": ""}, "", 0, true, "local branches: feat, trunk)"},
		// Without remote, the one local branch there is.
		{"only local branch", map[string]string{"refs/heads/trunk": "c1", "delete:refs/heads/main": ""}, "trunk", 1, false, ""},
		{"two local branches", map[string]string{"refs/heads/trunk": "c1", "refs/heads/feat": "c2", "delete:refs/heads/main": ""}, "", 0, true, "init.defaultBranch; local branches: feat, trunk); pass --base"},
		// With a remote (a CI checkout of one branch), the local branch
		// says nothing of the remote's default one.
		{"only local branch, with a remote", map[string]string{"remote:origin": "", "refs/heads/trunk": "c1", "delete:refs/heads/main": ""}, "", 0, true, "local branches: trunk)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := gittest.New(t)
			var c []gitops.Hash
			for i := 0; i < 3; i++ {
				g.Write("f", fmt.Sprint(i))
				c = append(c, g.Commit(fmt.Sprint(i)))
			}
			keys := make([]string, 0, len(tt.refs))
			for k := range tt.refs {
				keys = append(keys, k)
			}
			sort.Strings(keys) // symbolic refs after their targets
			for _, ref := range keys {
				v := tt.refs[ref]
				switch {
				case strings.HasPrefix(ref, "config:"):
					g.Git("config", strings.TrimPrefix(ref, "config:"), v)
				case strings.HasPrefix(ref, "remote:"):
					g.Git("remote", "add", strings.TrimPrefix(ref, "remote:"), "file:///nonexistent")
				case strings.HasPrefix(ref, "delete:"):
					g.Git("checkout", "-q", "--detach")
					g.Git("update-ref", "-d", strings.TrimPrefix(ref, "delete:"))
				case strings.HasPrefix(v, "sym:"):
					g.Git("symbolic-ref", ref, strings.TrimPrefix(v, "sym:"))
				default:
					g.Git("update-ref", ref, c[v[1]-'0'].String())
				}
			}
			for _, m := range modes {
				r := open(t, g.Dir, m.opts)
				name, h, err := r.DefaultBranch()
				if tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), "--base") || !strings.Contains(err.Error(), tt.errHas) {
						t.Errorf("%s: DefaultBranch = %s, %v; want an error saying to pass --base (and %q)", m.name, name, err, tt.errHas)
					}
					continue
				}
				if err != nil || name != tt.want || h != c[tt.wantIdx] {
					t.Errorf("%s: DefaultBranch = %s %s %v; want %s %s", m.name, name, h, err, tt.want, c[tt.wantIdx])
				}
			}
		})
	}
}

// TestRemoteBranches: a remote's remote-tracking branches, loose and
// packed, by short name; its HEAD and other remotes' branches left out.
func TestRemoteBranches(t *testing.T) {
	g := gittest.New(t)
	g.Write("f", "0")
	c0 := g.Commit("0")
	g.Write("f", "1")
	c1 := g.Commit("1")
	g.Git("update-ref", "refs/remotes/mirror/trunk", c0.String())
	g.Git("update-ref", "refs/remotes/mirror/feat/x", c1.String())
	g.Git("pack-refs", "--all")
	g.Git("update-ref", "refs/remotes/mirror/loose", c1.String())
	g.Git("symbolic-ref", "refs/remotes/mirror/HEAD", "refs/remotes/mirror/trunk")
	g.Git("update-ref", "refs/remotes/origin/main", c1.String())
	g.Git("update-ref", "refs/remotes/mirror2/main", c1.String())
	want := map[string]gitops.Hash{"mirror/trunk": c0, "mirror/feat/x": c1, "mirror/loose": c1}
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		got, err := r.RemoteBranches("mirror")
		if err != nil || !maps.Equal(got, want) {
			t.Errorf("%s: RemoteBranches(mirror) = %v, %v; want %v", m.name, got, err, want)
		}
		if got, err := r.RemoteBranches("none"); err != nil || len(got) != 0 {
			t.Errorf("%s: RemoteBranches(none) = %v, %v; want none", m.name, got, err)
		}
	}
}

func TestMergeBaseAndLog(t *testing.T) {
	g := gittest.New(t)
	g.Write("a", "0")
	root := g.Commit("root")
	g.Write("a", "1")
	fork := g.Commit("fork point")
	g.Git("checkout", "-q", "-b", "topic")
	for i := 0; i < 3; i++ {
		g.Write("t", fmt.Sprint(i))
		g.Commit(fmt.Sprint("topic ", i))
	}
	topic := g.Head()
	g.Git("checkout", "-q", "main")
	for i := 0; i < 2; i++ {
		g.Write("m", fmt.Sprint(i))
		g.Commit(fmt.Sprint("main ", i))
	}
	g.Git("merge", "-q", "--no-ff", "-m", "merge topic", "topic")
	merge := g.Head()
	g.Write("m", "after")
	tip := g.Commit("after merge")

	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			ctx := context.Background()
			mb, err := r.MergeBase(ctx, topic, merge)
			if err != nil || mb != topic {
				t.Errorf("MergeBase(topic, merge) = %s, %v; want topic %s", mb, err, topic)
			}
			mainBefore, _ := r.ResolveRef("HEAD~2")
			mb, err = r.MergeBase(ctx, topic, mainBefore)
			if err != nil || mb != fork {
				t.Errorf("MergeBase(topic, main) = %s, %v; want fork %s", mb, err, fork)
			}
			p, ok, err := r.FirstParent(merge)
			if err != nil || !ok || p != mainBefore {
				t.Errorf("FirstParent(merge) = %s %v %v; want %s", p, ok, err, mainBefore)
			}
			if _, ok, _ := r.FirstParent(root); ok {
				t.Errorf("FirstParent(root) ok = true")
			}
			for _, lt := range []struct {
				from, to gitops.Hash
				first    bool
			}{
				{gitops.ZeroHash, tip, false}, {gitops.ZeroHash, tip, true}, {fork, tip, false}, {fork, tip, true}, {topic, tip, false}, {tip, fork, false},
			} {
				args := []string{"rev-list", "--topo-order"}
				if lt.first {
					args = append(args, "--first-parent")
				}
				args = append(args, lt.to.String())
				if !lt.from.IsZero() {
					args = append(args, "^"+lt.from.String())
				}
				want := strings.Fields(g.Git(args...))
				log, err := r.Log(ctx, lt.from, lt.to, gitops.LogOptions{FirstParent: lt.first})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, c := range log {
					got = append(got, c.SHA())
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("Log(%s..%s, first=%v) = %v, want %v", short(lt.from), short(lt.to), lt.first, got, want)
				}
				n, err := r.CountCommits(ctx, lt.from, lt.to, gitops.LogOptions{FirstParent: lt.first})
				if err != nil || n != len(want) {
					t.Errorf("CountCommits(%s..%s) = %d, %v; want %d", short(lt.from), short(lt.to), n, err, len(want))
				}
			}
			c, err := r.Commit(merge)
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject() != "merge topic" || len(c.Parents) != 2 || c.AuthorName != "Test Author" || c.AuthorEmail != "author@example.com" ||
				c.CommitterName != "Test Committer" || c.Author != "Test Author <author@example.com>" || c.AuthorDate.IsZero() || c.CommitDate.IsZero() ||
				c.SHA() != merge.String() {
				t.Errorf("Commit metadata = %+v", c)
			}
		})
	}
}

// TestLogMatchesGitOnTangledHistory: the go-git Log and CountCommits give
// git rev-list's answer on a history of branches, merges, octopus merges
// and commits whose clocks went backwards, for many pairs of commits, and
// on a long history read only the commits between the two (it marked
// every ancestor of from first: a second per call on 100,000 commits,
// so that `history --commits` of 20 deployments took 6 s, and 2,000
// deployments over ten minutes).
func TestLogMatchesGitOnTangledHistory(t *testing.T) {
	g := gittest.New(t)
	tree := g.Git("mktree")
	commit := func(date int64, parents ...string) string {
		args := []string{"commit-tree", tree, "-m", fmt.Sprint("c", date)}
		for _, p := range parents {
			args = append(args, "-p", p)
		}
		cmd := exec.Command("git", args...)
		cmd.Dir = g.Dir
		d := fmt.Sprintf("%d +0000", date)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=A", "GIT_AUTHOR_EMAIL=a@x", "GIT_COMMITTER_NAME=C", "GIT_COMMITTER_EMAIL=c@x",
			"GIT_AUTHOR_DATE="+d, "GIT_COMMITTER_DATE="+d, "GIT_CONFIG_NOSYSTEM=1", "HOME="+g.Dir)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git commit-tree: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	rnd := rand.New(rand.NewSource(1))
	var all []string
	date := int64(1700000000)
	for i := 0; i < 120; i++ {
		date += 60
		d := date
		if i%17 == 5 {
			d -= 3600 * 24 * 3 // a clock three days behind
		}
		var parents []string
		if len(all) > 0 {
			parents = append(parents, all[len(all)-1-rnd.Intn(min(len(all), 6))])
			for k := rnd.Intn(4); k > 1 && len(all) > 3; k-- { // sometimes a merge, now and then an octopus
				if p := all[rnd.Intn(len(all))]; !slices.Contains(parents, p) {
					parents = append(parents, p)
				}
			}
		}
		all = append(all, commit(d, parents...))
	}
	head := all[len(all)-1]
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		ctx := context.Background()
		for i := 0; i < 150; i++ {
			from, to := all[rnd.Intn(len(all))], all[rnd.Intn(len(all))]
			if i%10 == 0 {
				to = head
			}
			for _, first := range []bool{false, true} {
				args := []string{"rev-list", "--topo-order"}
				if first {
					args = append(args, "--first-parent")
				}
				want := strings.Fields(g.Git(append(args, to, "^"+from)...))
				log, err := r.Log(ctx, plumbing.NewHash(from), plumbing.NewHash(to), gitops.LogOptions{FirstParent: first})
				if err != nil {
					t.Fatal(err)
				}
				got := []string{}
				for _, c := range log {
					got = append(got, c.SHA())
				}
				if !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) {
					t.Errorf("%s: Log(%s..%s, first=%v) = %d commits %v, git rev-list %d %v", m.name, from[:7], to[:7], first, len(got), got, len(want), want)
				}
				// With a limit: the newest of the same list.
				limited, err := r.Log(ctx, plumbing.NewHash(from), plumbing.NewHash(to), gitops.LogOptions{FirstParent: first, Limit: 3})
				if err != nil {
					t.Fatal(err)
				}
				if len(limited) != min(3, len(want)) || len(limited) > 0 && limited[len(limited)-1].SHA() != want[len(limited)-1] {
					t.Errorf("%s: Log(%s..%s, first=%v, limit 3) = %d commits, want the first 3 of %v", m.name, from[:7], to[:7], first, len(limited), want)
				}
			}
		}
	}

	// A long history whose old part is gone: the walk between two recent
	// commits must not need it.
	long := gittest.New(t)
	for i := 0; i < 60; i++ {
		long.Write("f", fmt.Sprint(i))
		long.Commit(fmt.Sprint(i))
	}
	for _, h := range strings.Fields(long.Git("rev-list", "HEAD~20")) {
		if err := os.Remove(filepath.Join(long.Dir, ".git", "objects", h[:2], h[2:])); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range modes {
		r := open(t, long.Dir, m.opts)
		from, _ := r.ResolveRef("HEAD~3")
		to, _ := r.ResolveRef("HEAD")
		if n, err := r.CountCommits(context.Background(), from, to, gitops.LogOptions{}); err != nil || n != 3 {
			t.Errorf("%s: CountCommits(HEAD~3, HEAD) = %d, %v; want 3, reading only the commits in between", m.name, n, err)
		}
		if log, err := r.Log(context.Background(), to, from, gitops.LogOptions{}); err != nil || len(log) != 0 {
			t.Errorf("%s: Log(HEAD, HEAD~3) = %d commits, %v; want none", m.name, len(log), err)
		}
	}
}

func short(h gitops.Hash) string {
	if h.IsZero() {
		return "0"
	}
	return h.String()[:7]
}

func TestChangedPaths(t *testing.T) {
	g := gittest.New(t)
	g.Write("keep/same.txt", "same")
	g.Write("dir/mod.txt", "v1")
	g.Write("dir/del.txt", "gone")
	g.Write("old/name.txt", "moved content")
	g.Write("becomes-dir", "file")
	g.Write("deep/a/b/c/d.txt", "deep")
	g.Write("script.sh", "#!/bin/sh")
	base := g.Commit("base")
	g.Write("dir/mod.txt", "v2")
	g.Remove("dir/del.txt")
	g.Remove("old/name.txt")
	g.Write("new/name.txt", "moved content")
	g.Remove("becomes-dir")
	g.Write("becomes-dir/inside.txt", "now a dir")
	g.Write("deep/a/b/c/e.txt", "new deep")
	g.Write("added.txt", "hello")
	g.Git("update-index", "--chmod=+x", "script.sh")
	head := g.Commit("head")

	want := []string{
		"added added.txt",
		"deleted becomes-dir",
		"added becomes-dir/inside.txt",
		"added deep/a/b/c/e.txt",
		"deleted dir/del.txt",
		"modified dir/mod.txt",
		"renamed new/name.txt <- old/name.txt",
		"modified script.sh",
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			ch, err := r.ChangedPaths(context.Background(), base, head)
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(ch); !reflect.DeepEqual(got, want) {
				t.Errorf("ChangedPaths =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			ch, _ = r.ChangedPaths(context.Background(), head, head)
			if len(ch) != 0 {
				t.Errorf("ChangedPaths(head, head) = %v", ch)
			}
		})
	}
}

func describe(ch []gitops.Change) []string {
	var out []string
	for _, c := range ch {
		s := string(c.Action) + " " + c.Path
		if c.OldPath != "" {
			s += " <- " + c.OldPath
		}
		out = append(out, s)
	}
	return out
}

// TestChangedPathsBothEnginesAgree builds a random history and requires the
// git-binary and go-git engines to agree on every pair of commits, and both
// to agree with `git diff --name-status`.
func TestChangedPathsBothEnginesAgree(t *testing.T) {
	g := gittest.New(t)
	rnd := rand.New(rand.NewSource(7))
	var files []string
	var commits []gitops.Hash
	for i := 0; i < 12; i++ {
		for k := 0; k < 1+rnd.Intn(6); k++ {
			switch op := rnd.Intn(4); {
			case op == 0 || len(files) < 3:
				p := fmt.Sprintf("d%d/e%d/f%d.yaml", rnd.Intn(3), rnd.Intn(3), rnd.Intn(1000))
				g.Write(p, fmt.Sprint("content ", rnd.Intn(5)))
				files = append(files, p)
			case op == 1:
				i := rnd.Intn(len(files))
				g.Remove(files[i])
				files = append(files[:i], files[i+1:]...)
			case op == 2:
				g.Write(files[rnd.Intn(len(files))], fmt.Sprint("edit ", rnd.Int()))
			default:
				i := rnd.Intn(len(files))
				np := fmt.Sprintf("moved/%d/%s", rnd.Intn(2), filepath.Base(files[i]))
				if g.Exists(np) {
					continue
				}
				g.Move(files[i], np)
				files[i] = np
			}
		}
		commits = append(commits, g.Commit(fmt.Sprint("c", i)))
	}
	a, b := open(t, g.Dir, modes[0].opts), open(t, g.Dir, modes[1].opts)
	ctx := context.Background()
	for i := range commits {
		for j := range commits {
			x, err := a.ChangedPaths(ctx, commits[i], commits[j])
			if err != nil {
				t.Fatal(err)
			}
			y, err := b.ChangedPaths(ctx, commits[i], commits[j])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(x, y) {
				t.Fatalf("engines disagree on %d..%d:\n%v\n%v", i, j, describe(x), describe(y))
			}
			// DiffPath of the whole tree (in process) is the same diff.
			ti, _ := a.CommitTree(commits[i])
			tj, _ := a.CommitTree(commits[j])
			if z, err := a.DiffPath(ctx, ti, tj, ""); err != nil || !reflect.DeepEqual(z, x) {
				t.Fatalf("DiffPath of the whole tree %d..%d: %v\n%v\nwant\n%v", i, j, err, describe(z), describe(x))
			}
			var names []string
			for _, c := range x {
				if c.OldPath != "" {
					names = append(names, c.OldPath)
				}
				names = append(names, c.Path)
			}
			sort.Strings(names)
			want := strings.Fields(g.Git("diff", "--name-only", "--no-renames", commits[i].String(), commits[j].String()))
			sort.Strings(want)
			if fmt.Sprint(names) != fmt.Sprint(want) {
				t.Fatalf("%d..%d: paths %v, git diff says %v", i, j, names, want)
			}
		}
	}
}

func TestTreeFS(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/orders/stack.yaml", "kind: Stack\n")
	g.Write("stacks/orders/environments/dev.yaml", "kind: Environment\n")
	g.Write("stacks/orders/services/api/service.yaml", "kind: Service\n")
	g.Write("README.md", "# hello\n")
	g.Write("a-b/x", "1")
	g.Write("a/x", "2") // git orders "a-b" before "a/"; fs.ReadDir must not
	if err := os.Symlink("../README.md", filepath.Join(g.Dir, "a", "link")); err != nil {
		t.Fatal(err)
	}
	g.Git("add", "a/link")
	h := g.Commit("tree")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			fsys, err := r.TreeFS(h)
			if err != nil {
				t.Fatal(err)
			}
			if err := fstest.TestFS(fsys, "stacks/orders/stack.yaml", "stacks/orders/environments/dev.yaml", "stacks/orders/services/api/service.yaml", "README.md", "a-b/x", "a/x"); err != nil {
				t.Fatal(err)
			}
			b, err := fsys.(*gitops.TreeFS).ReadFile("stacks/orders/services/api/service.yaml")
			if err != nil || string(b) != "kind: Service\n" {
				t.Errorf("ReadFile = %q, %v", b, err)
			}
			if _, err := fsys.Open("stacks/nope"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Open missing = %v", err)
			}
			// Symbolic links read as links (fs.ReadLinkFS), as on disk.
			if dest, err := fs.ReadLink(fsys, "a/link"); err != nil || dest != "../README.md" {
				t.Errorf("ReadLink = %q, %v", dest, err)
			}
			if st, err := fs.Lstat(fsys, "a/link"); err != nil || st.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("Lstat of a link = %v, %v", st, err)
			}
			if _, err := fs.ReadLink(fsys, "a/x"); err == nil {
				t.Error("ReadLink of a regular file succeeded")
			}
		})
	}
}

func TestWorktreeChanges(t *testing.T) {
	g := gittest.New(t)
	g.Write(".gitignore", "*.log\nbuild/\n")
	g.Write("clean.txt", "clean")
	g.Write("edit.txt", "before")
	g.Write("staged.txt", "before")
	g.Write("gone.txt", "here")
	g.Write("unstaged-del.txt", "here")
	g.Write("sub/deep.txt", "deep")
	g.Commit("base")
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		if d, err := r.IsDirty(context.Background()); err != nil || d {
			t.Errorf("%s: IsDirty on a clean tree = %v, %v", m.name, d, err)
		}
	}
	g.WriteFile("edit.txt", "after, longer")
	g.Write("staged.txt", "after")
	g.Git("rm", "-q", "gone.txt")
	if err := os.Remove(filepath.Join(g.Dir, "unstaged-del.txt")); err != nil {
		t.Fatal(err)
	}
	g.WriteFile("new/untracked.txt", "new")
	g.WriteFile("debug.log", "ignored")
	g.WriteFile("build/out.bin", "ignored")
	g.WriteFile("clean.txt", "clean") // rewritten with the same content
	want := []string{"edit.txt", "gone.txt", "new/untracked.txt", "staged.txt", "unstaged-del.txt"}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			got, err := r.WorktreeChanges(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("WorktreeChanges = %v, want %v", got, want)
			}
			if d, err := r.IsDirty(context.Background()); err != nil || !d {
				t.Errorf("IsDirty = %v, %v", d, err)
			}
		})
	}
}

// TestWorktreeChangesUnder: the changes of some folders only (a sibling
// sharing a name as a prefix excluded, special characters taken literally;
// "" among them: everything), the same in both engines.
func TestWorktreeChangesUnder(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/api/stack.yaml", "a")
	g.Write("stacks/api/env/dev.yaml", "a")
	g.Write("stacks/api-v2/stack.yaml", "a")
	g.Write("stacks/we[i]rd/stack.yaml", "a")
	g.Write("stacks/wei/stack.yaml", "a")
	g.Commit("base")
	g.WriteFile("stacks/api/env/dev.yaml", "b")
	g.WriteFile("stacks/api/new.yaml", "new")
	g.WriteFile("stacks/api-v2/stack.yaml", "b")
	g.WriteFile("stacks/we[i]rd/stack.yaml", "b")
	g.WriteFile("stacks/wei/untracked.yaml", "b")
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		for dir, want := range map[string][]string{
			"stacks/api":               {"stacks/api/env/dev.yaml", "stacks/api/new.yaml"},
			"stacks/api/":              {"stacks/api/env/dev.yaml", "stacks/api/new.yaml"},
			"stacks/we[i]rd":           {"stacks/we[i]rd/stack.yaml"},
			"stacks/api/env":           {"stacks/api/env/dev.yaml"},
			"stacks/missing":           nil,
			"stacks/api-v2/x":          nil,
			"stacks/api-v2 stacks/wei": {"stacks/api-v2/stack.yaml", "stacks/wei/untracked.yaml"},
			"stacks/wei ":              {"stacks/api-v2/stack.yaml", "stacks/api/env/dev.yaml", "stacks/api/new.yaml", "stacks/we[i]rd/stack.yaml", "stacks/wei/untracked.yaml"},
		} {
			got, err := r.WorktreeChangesUnder(context.Background(), strings.Split(dir, " ")...)
			if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s: WorktreeChangesUnder(%q) = %v, %v; want %v", m.name, dir, got, err, want)
			}
		}
	}
}

// TestTrackedChangesUnder: the tracked files a work tree deleted or
// changed (a stack.yaml removed, edited, or its folder replaced by a
// link) are listed as WorktreeChangesUnder lists them; with the git
// binary the untracked files are not (git status -uno: no walk of the
// work tree for them), without it they may be.
func TestTrackedChangesUnder(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "a")
	g.Write("stacks/b/stack.yaml", "b")
	g.Write("stacks/c/stack.yaml", "c")
	g.Write("stacks/d/stack.yaml", "d")
	g.Write("other/x.yaml", "x")
	g.Commit("base")
	if err := os.Remove(filepath.Join(g.Dir, "stacks", "a", "stack.yaml")); err != nil {
		t.Fatal(err)
	}
	g.WriteFile("stacks/b/stack.yaml", "b2")
	if err := os.Rename(filepath.Join(g.Dir, "stacks", "c"), filepath.Join(g.Dir, "stacks", "e")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("e", filepath.Join(g.Dir, "stacks", "c")); err != nil {
		t.Fatal(err)
	}
	g.WriteFile("stacks/new/stack.yaml", "n")
	g.WriteFile("other/x.yaml", "x2")
	tracked := []string{"stacks/a/stack.yaml", "stacks/b/stack.yaml", "stacks/c/stack.yaml"}
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		all, err := r.WorktreeChangesUnder(context.Background(), "stacks")
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.TrackedChangesUnder(context.Background(), "stacks")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range tracked {
			if !slices.Contains(got, p) || !slices.Contains(all, p) {
				t.Errorf("%s: TrackedChangesUnder = %q, WorktreeChangesUnder = %q; both want %s", m.name, got, all, p)
			}
		}
		for _, p := range got {
			if !slices.Contains(all, p) {
				t.Errorf("%s: TrackedChangesUnder lists %s, which WorktreeChangesUnder (%q) does not", m.name, p, all)
			}
		}
		if m.opts.NoGitBinary {
			continue
		}
		if !reflect.DeepEqual(got, tracked) {
			t.Errorf("%s: TrackedChangesUnder = %q; want only the tracked changes %q", m.name, got, tracked)
		}
		if !slices.Contains(all, "stacks/new/stack.yaml") {
			t.Errorf("%s: WorktreeChangesUnder = %q; want the untracked stacks/new/stack.yaml too", m.name, all)
		}
	}
}

// TestWorktreeChangesUnderReadsOnlyThem: without the git binary the
// status of a few folders reads those folders only, not the rest of a
// large work tree (a plan in a monorepo of 200,000 files took 5 s and
// 210 MB: every tracked file was stat'ed and every folder walked, then all
// but the stack's changes dropped), with the ignore rules of the folders
// on their way still applied, and the same answers as git.
func TestWorktreeChangesUnderReadsOnlyThem(t *testing.T) {
	g := gittest.New(t)
	g.Write(".gitignore", "*.log\n")
	g.Write("stacks/.gitignore", "tmp/\n")
	g.Write("stacks/api/stack.yaml", "a")
	g.Write("stacks/api/env/dev.yaml", "a")
	g.Write("stacks/api-v2/stack.yaml", "a")
	g.Write("shared/config.json", "a")
	for i := 0; i < 20; i++ {
		for j := 0; j < 10; j++ {
			g.Write(fmt.Sprintf("src/m%d/f%d.go", i, j), "package m")
		}
	}
	if err := os.Symlink("shared", filepath.Join(g.Dir, "shared-link")); err != nil {
		t.Fatal(err)
	}
	g.Git("add", "shared-link")
	g.Commit("base")
	g.WriteFile("stacks/api/env/dev.yaml", "b")
	g.WriteFile("stacks/api/new.yaml", "new")
	g.WriteFile("stacks/api/debug.log", "ignored by the root's .gitignore")
	g.WriteFile("stacks/api/tmp/x.yaml", "ignored by stacks/.gitignore")
	g.WriteFile("stacks/tmp/y.yaml", "ignored")
	g.WriteFile("stacks/api-v2/stack.yaml", "b")
	g.WriteFile("shared/config.json", "b")
	g.WriteFile("src/m3/f1.go", "changed")
	g.WriteFile("src/m4/new.go", "untracked")
	for _, tc := range []struct {
		dirs []string
		want string
	}{
		{[]string{"stacks/api"}, "stacks/api/env/dev.yaml stacks/api/new.yaml"},
		{[]string{"stacks/api/env/dev.yaml", "shared/config.json"}, "shared/config.json stacks/api/env/dev.yaml"},
		{[]string{"stacks/api/new.yaml"}, "stacks/api/new.yaml"},
		{[]string{"stacks/api/debug.log", "stacks/tmp", "stacks/api/tmp/x.yaml"}, ""},
		// Beyond a symbolic link git sees nothing (the files are the target's).
		{[]string{"shared-link/config.json"}, ""},
		{[]string{"shared-link"}, ""},
		{[]string{"stacks/api", "stacks", "stacks/api/env"}, "stacks/api-v2/stack.yaml stacks/api/env/dev.yaml stacks/api/new.yaml"},
	} {
		for _, m := range modes {
			r := open(t, g.Dir, m.opts)
			n, restore := gitops.CountWorktreeReads()
			got, err := r.WorktreeChangesUnder(context.Background(), tc.dirs...)
			restore()
			if err != nil || strings.Join(got, " ") != tc.want {
				t.Errorf("%s: WorktreeChangesUnder(%q) = %v, %v; want %s", m.name, tc.dirs, got, err, tc.want)
			}
			if reads := n.Load(); reads > 12 {
				t.Errorf("%s: WorktreeChangesUnder(%q) read %d folders and files; want those of the folders asked about only", m.name, tc.dirs, reads)
			}
		}
	}
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		got, err := r.WorktreeChanges(context.Background())
		want := "shared/config.json src/m3/f1.go src/m4/new.go stacks/api-v2/stack.yaml stacks/api/env/dev.yaml stacks/api/new.yaml"
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("%s: WorktreeChanges = %v, %v; want %s", m.name, got, err, want)
		}
	}
}

func TestShallowClone(t *testing.T) {
	g := gittest.New(t)
	var c []gitops.Hash
	for i := 0; i < 4; i++ {
		g.Write("f", fmt.Sprint(i))
		c = append(c, g.Commit(fmt.Sprint(i)))
	}
	dst := filepath.Join(t.TempDir(), "shallow")
	cmd := exec.Command("git", "clone", "-q", "--depth", "1", "file://"+g.Dir, dst)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			full := open(t, g.Dir, m.opts)
			if s, err := full.IsShallow(); err != nil || s {
				t.Errorf("IsShallow(full clone) = %v, %v", s, err)
			}
			r := open(t, dst, m.opts)
			if s, err := r.IsShallow(); err != nil || !s {
				t.Errorf("IsShallow(shallow clone) = %v, %v", s, err)
			}
			for _, ref := range []string{c[1].String(), "HEAD~2"} {
				_, err := r.ResolveRef(ref)
				var re *gitops.RefError
				if !errors.As(err, &re) || !re.Missing || !re.Shallow || !strings.Contains(err.Error(), "fetch-depth: 0") {
					t.Errorf("ResolveRef(%s) in a shallow clone = %v; want a missing-history error with the fix", ref, err)
				}
			}
			n, err := r.CountCommits(context.Background(), gitops.ZeroHash, c[3], gitops.LogOptions{})
			if err != nil || n != 1 {
				t.Errorf("CountCommits in a shallow clone = %d, %v; want 1", n, err)
			}
		})
	}
}

// TestRemoteBranchNotFetched: a remote branch that a CI checkout did not
// fetch (actions/checkout's default fetch-depth: 1, a --single-branch
// clone) is an error that names the fetch that brings it: with its
// history in a shallow clone (a plain git fetch of the branch left the
// merge-base cut off, a second failure), the branch alone in a full one.
// The suggested command makes the ref resolve.
func TestRemoteBranchNotFetched(t *testing.T) {
	g := gittest.New(t)
	g.Write("f", "0")
	g.Commit("0")
	g.Git("branch", "-M", "main")
	g.Git("checkout", "-q", "-b", "feat")
	g.Write("f", "1")
	g.Commit("1")
	for _, tc := range []struct {
		clone []string
		fix   []string
	}{
		{[]string{"--depth", "1"}, []string{"fetch", "-q", "--unshallow", "origin", "main:refs/remotes/origin/main"}},
		{[]string{"--single-branch"}, []string{"fetch", "-q", "origin", "main:refs/remotes/origin/main"}},
	} {
		dst := filepath.Join(t.TempDir(), "clone")
		args := append(append([]string{"clone", "-q", "--branch", "feat"}, tc.clone...), "file://"+g.Dir, dst)
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		for _, m := range modes {
			r := open(t, dst, m.opts)
			_, err := r.ResolveRef("origin/main")
			var re *gitops.RefError
			if !errors.As(err, &re) || re.Remote != "origin" || re.Branch != "main" || !strings.Contains(err.Error(), "git fetch "+strings.Join(tc.fix[2:], " ")) {
				t.Errorf("%s %v: ResolveRef(origin/main) = %v; want a not-found error naming git %v", m.name, tc.clone, err, tc.fix[2:])
			}
			if shallow := strings.Contains(err.Error(), "fetch-depth: 0"); shallow != (tc.clone[0] == "--depth") {
				t.Errorf("%s %v: ResolveRef(origin/main) = %v; fetch-depth advice only in a shallow clone", m.name, tc.clone, err)
			}
			// Not a remote of this clone: no fetch to name.
			if _, err := r.ResolveRef("upstream/main"); !errors.As(err, &re) || re.Remote != "" || !strings.Contains(err.Error(), "git fetch first") {
				t.Errorf("%s %v: ResolveRef(upstream/main) = %v; want the generic not-found error", m.name, tc.clone, err)
			}
		}
		cmd := exec.Command("git", tc.fix...)
		cmd.Dir = dst
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", tc.fix, err, out)
		}
		for _, m := range modes {
			r := open(t, dst, m.opts)
			h, err := r.ResolveRef("origin/main")
			if err != nil {
				t.Fatalf("%s %v: after git %v: ResolveRef(origin/main) = %v", m.name, tc.clone, tc.fix, err)
			}
			head, err := r.ResolveRef("HEAD")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.MergeBase(context.Background(), h, head); err != nil {
				t.Errorf("%s %v: after git %v: merge-base with origin/main: %v", m.name, tc.clone, tc.fix, err)
			}
		}
	}
}

// TestCountCommitsAcrossShallowBoundary: a clone that fetched two tips
// at depth 1 (git clone --depth 1 --no-single-branch, or a CI runner that
// fetched main and then the commit it builds) has both commits, each cut
// off from its parents. main's tip is the feature commit's parent, yet the
// walk from the feature commit stops at the boundary and "finds" main's
// tip not reachable from it: plan warned that the deployed commit (main)
// held a commit the commit planned lacked, status said HEAD was 1 behind
// it. With Complete such a count is ErrShallowHistory; an answer the cut
// cannot change (none, or the deployed commit within the fetched history)
// is still given.
func TestCountCommitsAcrossShallowBoundary(t *testing.T) {
	g := gittest.New(t)
	for i := 0; i < 4; i++ {
		g.Write("f", fmt.Sprint("0.", i))
		g.Commit(fmt.Sprint("c0.", i))
	}
	g.Write("f", "1")
	c1 := g.Commit("c1")
	g.Git("checkout", "-q", "-b", "feature")
	g.Write("f", "2")
	g.Commit("c2")
	g.Write("f", "3")
	c3 := g.Commit("c3")
	g.Git("checkout", "-q", "main")
	dst := filepath.Join(t.TempDir(), "shallow")
	cmd := exec.Command("git", "clone", "-q", "--depth", "1", "--no-single-branch", "file://"+g.Dir, dst)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	deep := filepath.Join(t.TempDir(), "deep")
	cmd = exec.Command("git", "clone", "-q", "--depth", "3", "--no-single-branch", "file://"+g.Dir, deep)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	ctx := context.Background()
	complete := gitops.LogOptions{Complete: true}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, dst, m.opts)
			n, err := r.CountCommits(ctx, c3, c1, complete)
			if !errors.Is(err, gitops.ErrShallowHistory) || !strings.Contains(err.Error(), "fetch-depth: 0") {
				t.Errorf("CountCommits(c3..c1) across a shallow boundary = %d, %v; want ErrShallowHistory with the fix", n, err)
			}
			if cs, err := r.Log(ctx, c1, c3, complete); !errors.Is(err, gitops.ErrShallowHistory) {
				t.Errorf("Log(c1..c3) across a shallow boundary = %d commits, %v; want ErrShallowHistory", len(cs), err)
			}
			if n, err := r.CountCommits(ctx, c3, c3, complete); err != nil || n != 0 {
				t.Errorf("CountCommits(c3..c3) = %d, %v; want 0", n, err)
			}
			// Without Complete, what the clone holds (as git rev-list counts).
			if n, err := r.CountCommits(ctx, c3, c1, gitops.LogOptions{}); err != nil || n != 1 {
				t.Errorf("CountCommits(c3..c1) without Complete = %d, %v; want 1", n, err)
			}
			// Deep enough: c1 is within c3's fetched history, and the
			// boundary (main~2, older than every commit counted) cannot
			// change the answer.
			d := open(t, deep, m.opts)
			if s, err := d.IsShallow(); err != nil || !s {
				t.Fatalf("IsShallow(depth 3 clone) = %v, %v", s, err)
			}
			if n, err := d.CountCommits(ctx, c3, c1, complete); err != nil || n != 0 {
				t.Errorf("CountCommits(c3..c1) in a deep enough clone = %d, %v; want 0", n, err)
			}
			if n, err := d.CountCommits(ctx, c1, c3, complete); err != nil || n != 2 {
				t.Errorf("CountCommits(c1..c3) in a deep enough clone = %d, %v; want 2", n, err)
			}
		})
	}
}

// TestBlobSizeReadsNoContents: a tree file's size comes from the object's
// header (packed whole, packed as a delta, or loose), not from reading it:
// a 200 MB YAML file committed into a stack folder made panka changed read
// it whole (twice, 580 MB) to learn it is above the loader's 1 MB limit.
// Prefetching skips such a blob as it streams by.
func TestBlobSizeReadsNoContents(t *testing.T) {
	g := gittest.New(t)
	big := strings.Repeat("0123456789abcdef", 2<<20) // 32 MB
	var text strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&text, "line %d of a file git stores as a delta of its next version\n", i)
	}
	g.Write("big.yaml", big)
	g.Write("empty", "")
	var versions []gitops.Hash // git keeps the newest whole, the others as deltas
	for i := 0; i < 4; i++ {
		g.Write("delta.txt", text.String()+strings.Repeat("x", i))
		versions = append(versions, g.Commit(fmt.Sprint("version ", i)))
	}
	g.Git("repack", "-adf", "-q")
	g.Write("loose/big.yaml", big+"loose")
	h := g.Commit("loose")
	sizes := map[string]int{"big.yaml": len(big), "empty": 0, "delta.txt": text.Len() + 3, "loose/big.yaml": len(big) + 5}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			fsys, err := r.TreeFS(h)
			if err != nil {
				t.Fatal(err)
			}
			tree, _ := r.CommitTree(h)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if err := r.Prefetch(context.Background(), []gitops.Hash{tree}, nil); err != nil {
				t.Fatal(err)
			}
			for p, want := range sizes {
				st, err := fs.Stat(fsys, p)
				if err != nil || st.Size() != int64(want) {
					t.Errorf("Stat(%s).Size() = %v, %v; want %d", p, st.Size(), err, want)
				}
			}
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
				t.Errorf("Prefetch and the sizes of two 32 MB files allocated %d MB; want them not read", n>>20)
			}
			for p, want := range sizes {
				if b, err := fs.ReadFile(fsys, p); err != nil || len(b) != want {
					t.Errorf("ReadFile(%s) = %d bytes, %v; want %d", p, len(b), err, want)
				}
			}
			for i, v := range versions {
				vfs, err := r.TreeFS(v)
				if err != nil {
					t.Fatal(err)
				}
				if st, err := fs.Stat(vfs, "delta.txt"); err != nil || st.Size() != int64(text.Len()+i) {
					t.Errorf("version %d: Stat(delta.txt).Size() = %v, %v; want %d", i, st.Size(), err, text.Len()+i)
				}
			}
		})
	}
}

func TestBlobsAndPrefetch(t *testing.T) {
	g := gittest.New(t)
	for i := 0; i < 20; i++ {
		g.Write(fmt.Sprintf("d%d/e/f%d.txt", i%3, i), strings.Repeat(fmt.Sprint(i), i+1))
	}
	g.Write("same/a", "dup")
	g.Write("same/b", "dup")
	h := g.Commit("files")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			fsys, err := r.TreeFS(h)
			if err != nil {
				t.Fatal(err)
			}
			tfs := fsys.(*gitops.TreeFS)
			var paths []string
			var hashes []gitops.Hash
			err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				e, err := tfs.Entry(p)
				paths, hashes = append(paths, p), append(hashes, e.Hash)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			i := 0
			if err := r.Blobs(hashes, func(h gitops.Hash, b []byte) error {
				want, _ := os.ReadFile(filepath.Join(g.Dir, paths[i]))
				if h != hashes[i] || string(b) != string(want) {
					t.Errorf("Blobs #%d (%s) = %q, want %q", i, paths[i], b, want)
				}
				i++
				return nil
			}); err != nil || i != len(paths) {
				t.Fatalf("Blobs: %v after %d of %d", err, i, len(paths))
			}
			tree, _ := r.CommitTree(h)
			if err := r.Prefetch(context.Background(), []gitops.Hash{tree}, nil); err != nil {
				t.Fatal(err)
			}
			for _, p := range paths {
				b, err := tfs.ReadFile(p)
				want, _ := os.ReadFile(filepath.Join(g.Dir, p))
				if err != nil || string(b) != string(want) {
					t.Errorf("after Prefetch, ReadFile(%s) = %q, %v", p, b, err)
				}
			}
			found, err := r.FindDirs(context.Background(), tree, "", "a", nil)
			if err != nil || len(found) != 1 || found["same/a"].IsZero() {
				t.Errorf("FindDirs = %v, %v", found, err)
			}
		})
	}
}

// TestParallelCatFile splits every batch over three cat-file processes and
// checks that trees and blobs read through them are exactly git's, and that
// a missing object in a split batch is reported, not lost: with
// --batch-command --buffer (git 2.36+) and with plain --batch.
func TestParallelCatFile(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain-batch=%v", plain), func(t *testing.T) {
			defer gitops.SetPlainBatch(plain)()
			testParallelCatFile(t)
		})
	}
}

func TestGitVersionAtLeast(t *testing.T) {
	for out, want := range map[string]bool{
		"git version 2.39.5":                 true,
		"git version 2.36.0":                 true,
		"git version 2.35.9":                 false,
		"git version 3.0.0":                  true,
		"git version 1.99.1":                 false,
		"git version 2.45.1.windows.1":       true,
		"git version 2.39.3 (Apple Git-146)": true,
		"git version":                        false,
		"":                                   false,
		"git version x.y":                    false,
	} {
		if got := gitops.GitVersionAtLeast(out, 2, 36); got != want {
			t.Errorf("%q: %v, want %v", out, got, want)
		}
	}
}

func testParallelCatFile(t *testing.T) {
	defer gitops.SetCatFileSplit(1, 3)()
	g := gittest.New(t)
	want := map[string]string{}
	for i := 0; i < 60; i++ {
		p := fmt.Sprintf("t%d/s%d/stack.yaml", i%4, i)
		want[p] = strings.Repeat(fmt.Sprint(i), i+1)
		g.Write(p, want[p])
		q := fmt.Sprintf("t%d/s%d/env/e.yaml", i%4, i)
		want[q] = fmt.Sprint("env ", i)
		g.Write(q, want[q])
	}
	h := g.Commit("files")
	r := open(t, g.Dir, gitops.Options{})
	if !r.UsesGitBinary() {
		t.Fatal("git binary not used")
	}
	tree, err := r.CommitTree(h)
	if err != nil {
		t.Fatal(err)
	}
	found, err := r.FindDirs(context.Background(), tree, "", "stack.yaml", nil)
	if err != nil || len(found) != 60 {
		t.Fatalf("FindDirs found %d, %v; want 60", len(found), err)
	}
	if err := r.Prefetch(context.Background(), []gitops.Hash{tree}, nil); err != nil {
		t.Fatal(err)
	}
	fsys := r.TreeFSOf(tree)
	for p, w := range want {
		b, err := fsys.ReadFile(p)
		if err != nil || string(b) != w {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", p, b, err, w)
		}
	}
	var hashes []gitops.Hash
	for p := range found {
		hashes = append(hashes, found[p])
	}
	bogus := gitops.Hash{0xde, 0xad}
	hashes = append(hashes[:30], append([]gitops.Hash{bogus}, hashes[30:]...)...)
	if err := r.PrefetchBlobs(hashes); err != nil {
		t.Errorf("PrefetchBlobs with a missing object: %v (missing objects are reported on read)", err)
	}
	if _, err := r.Blob(bogus); !errors.Is(err, gitops.ErrObjectMissing) {
		t.Errorf("Blob(missing) = %v, want ErrObjectMissing", err)
	}
}

// TestResolveRefNoCommits: HEAD of a repository without commits is
// explained as such, not as a ref to fetch.
func TestResolveRefNoCommits(t *testing.T) {
	g := gittest.New(t)
	g.WriteFile("stacks/a/stack.yaml", "x: 1\n")
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		for _, ref := range []string{"HEAD", "HEAD~1", "HEAD^"} {
			_, err := r.ResolveRef(ref)
			if err == nil || !strings.Contains(err.Error(), "no commits yet") || !strings.Contains(err.Error(), "main") || strings.Contains(err.Error(), "fetch") {
				t.Errorf("%s: ResolveRef(%s) = %v, want an error saying the repository (branch main) has no commits yet", m.name, ref, err)
			}
		}
		// Another missing ref is still "not found".
		if _, err := r.ResolveRef("other"); err == nil || strings.Contains(err.Error(), "no commits yet") {
			t.Errorf("%s: ResolveRef(other) = %v", m.name, err)
		}
	}
}

// TestWorktreeChangesSubmoduleAndExcludes: both engines leave what a
// submodule's own work tree holds alone (a clean one is not "untracked
// files"), list it when the commit checked out in it or staged for it
// changed, and honour the ignore files
// git reads besides .gitignore: core.excludesFile, and by default
// $XDG_CONFIG_HOME/git/ignore.
func TestWorktreeChangesSubmoduleAndExcludes(t *testing.T) {
	sub := gittest.New(t)
	sub.Write("inner.yaml", "x: 1\n")
	sub.Commit("sub")
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "x: 1\n")
	g.Commit("base")
	g.Git("-c", "protocol.file.allow=always", "submodule", "add", "-q", sub.Dir, "stacks/a/vendored")
	g.Commit("submodule")
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	t.Setenv("HOME", t.TempDir()) // no global core.excludesFile of the machine
	if err := os.MkdirAll(filepath.Join(xdg, "git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(xdg, "git", "ignore"), []byte("*.swp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	excludes := filepath.Join(t.TempDir(), "excludes")
	if err := os.WriteFile(excludes, []byte("*.bak\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g.WriteFile("stacks/a/stack.yaml.swp", "editor swap file")
	g.WriteFile("stacks/a/new.yaml", "y: 1\n")
	g.WriteFile("stacks/a/vendored/inner.yaml", "x: 2\n") // a dirty submodule
	check := func(want []string) {
		t.Helper()
		for _, m := range modes {
			got, err := open(t, g.Dir, m.opts).WorktreeChanges(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: WorktreeChanges = %v, want %v", m.name, got, want)
			}
		}
	}
	check([]string{"stacks/a/new.yaml"})
	// The submodule checked out at another commit is a change (git commit
	// -a records it), also when the ref its HEAD names is packed.
	vendored := filepath.Join(g.Dir, "stacks/a/vendored")
	g.Git("-C", vendored, "checkout", "-q", "--", "inner.yaml")
	sub.Write("inner.yaml", "x: 3\n")
	sub.Commit("sub two")
	g.Git("-C", vendored, "pull", "-q", "--no-rebase", "origin", "main")
	g.Git("-C", vendored, "pack-refs", "--all")
	g.WriteFile("stacks/a/vendored/inner.yaml", "x: 4\n") // dirty again
	check([]string{"stacks/a/new.yaml", "stacks/a/vendored"})
	g.Git("add", "stacks/a/vendored")
	check([]string{"stacks/a/new.yaml", "stacks/a/vendored"}) // staged
	g.Commit("bump vendored")
	check([]string{"stacks/a/new.yaml"})
	// core.excludesFile replaces the default file.
	g.Git("config", "core.excludesFile", excludes)
	g.WriteFile("stacks/a/old.bak", "backup")
	check([]string{"stacks/a/new.yaml", "stacks/a/stack.yaml.swp"})
}

// TestWorktreeChangesExcludesFileIncluded: core.excludesFile set in a file
// git's configuration includes (include.path, includeIf "gitdir:..." or
// "onbranch:...", as dotfiles often do) is honoured by both engines. go-git
// alone read only the three top-level files, so with PANKA_GIT_BINARY=false
// panka changed --uncommitted listed a stack folder the user ignores
// globally as an untracked, added stack.
func TestWorktreeChangesExcludesFileIncluded(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "x: 1\n")
	g.Commit("base")
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", "")
	os.Unsetenv("GIT_CONFIG_GLOBAL") // set empty, git reads no global file
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(home, "swp.ignore"), "*.swp\n")
	write(filepath.Join(home, "bak.ignore"), "*.bak\n")
	write(filepath.Join(home, "swp.cfg"), "[core]\n\texcludesFile = ~/swp.ignore\n")
	write(filepath.Join(home, "bak.cfg"), "[core]\n\texcludesFile = ~/bak.ignore\n")
	g.WriteFile("stacks/a/new.yaml", "y: 1\n")
	g.WriteFile("stacks/a/stack.yaml.swp", "editor swap file")
	g.WriteFile("stacks/a/old.bak", "backup")
	check := func(want ...string) {
		t.Helper()
		cmd := exec.Command("git", "status", "--porcelain", "-uall")
		cmd.Dir = g.Dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(out), "\n"); n != len(want) {
			t.Fatalf("git status lists %d files, the test wants %d:\n%s", n, len(want), out)
		}
		for _, m := range modes {
			got, err := open(t, g.Dir, m.opts).WorktreeChanges(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: WorktreeChanges = %v, want %v", m.name, got, want)
			}
		}
	}
	gitconfig := filepath.Join(home, ".gitconfig")
	write(gitconfig, "[include]\n\tpath = swp.cfg\n")
	check("stacks/a/new.yaml", "stacks/a/old.bak")
	write(gitconfig, "[includeIf \"gitdir:"+g.Dir+"/\"]\n\tpath = ~/bak.cfg\n")
	check("stacks/a/new.yaml", "stacks/a/stack.yaml.swp")
	write(gitconfig, "[includeIf \"gitdir:/elsewhere/\"]\n\tpath = ~/bak.cfg\n")
	check("stacks/a/new.yaml", "stacks/a/old.bak", "stacks/a/stack.yaml.swp")
	write(gitconfig, "[includeIf \"onbranch:ma*\"]\n\tpath = swp.cfg\n")
	check("stacks/a/new.yaml", "stacks/a/old.bak")
	// The repository's own configuration comes last and wins; its
	// include.path is relative to the .git folder.
	g.Git("config", "include.path", filepath.Join("..", "..", filepath.Base(home), "bak.cfg"))
	check("stacks/a/new.yaml", "stacks/a/stack.yaml.swp")
}

// TestWorktreeChangesFolderReplacedByLink: a tracked folder moved and
// replaced by a symbolic link to its new place (mv stacks/a stacks/b;
// ln -s b stacks/a) leaves, for git, every file indexed below stacks/a
// deleted. go-git alone read them through the link, found them unchanged
// and listed only the link and the new folder, so panka changed
// --uncommitted saw stacks/b as a copy of a stack that still existed.
func TestWorktreeChangesFolderReplacedByLink(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "x: 1\n")
	g.Write("stacks/a/environments/dev.yaml", "y: 1\n")
	g.Write("stacks/c/stack.yaml", "z: 1\n")
	g.Commit("base")
	if err := os.Rename(filepath.Join(g.Dir, "stacks", "a"), filepath.Join(g.Dir, "stacks", "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("b", filepath.Join(g.Dir, "stacks", "a")); err != nil {
		t.Fatal(err)
	}
	want := []string{"stacks/a", "stacks/a/environments/dev.yaml", "stacks/a/stack.yaml", "stacks/b/environments/dev.yaml", "stacks/b/stack.yaml"}
	if got := g.Git("status", "--porcelain", "--untracked-files=all"); got != "D stacks/a/environments/dev.yaml\n D stacks/a/stack.yaml\n?? stacks/a\n?? stacks/b/environments/dev.yaml\n?? stacks/b/stack.yaml" {
		t.Fatalf("git status = %q", got)
	}
	for _, m := range modes {
		for _, under := range [][]string{nil, {"stacks"}, {"stacks/a"}} {
			got, err := open(t, g.Dir, m.opts).WorktreeChangesUnder(context.Background(), under...)
			w := want
			if len(under) == 1 && under[0] == "stacks/a" {
				w = []string{"stacks/a", "stacks/a/environments/dev.yaml", "stacks/a/stack.yaml"}
			}
			if err != nil || !reflect.DeepEqual(got, w) {
				t.Errorf("%s: WorktreeChangesUnder(%q) = %q, %v; want %q", m.name, under, got, err, w)
			}
		}
	}
}

// TestWorktreeChangesSplitIndex: with core.splitIndex the staging index is
// a shared index plus changes; go-git alone must read it as git does
// (deleted, replaced and added entries), in index versions 2 and 4.
func TestWorktreeChangesSplitIndex(t *testing.T) {
	for _, version := range []string{"2", "4"} {
		t.Run("v"+version, func(t *testing.T) {
			g := gittest.New(t)
			g.Git("config", "index.version", version)
			old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := 0; i < 40; i++ {
				p := fmt.Sprintf("d%d/f%02d.txt", i%3, i)
				g.WriteFile(p, fmt.Sprint("content ", i))
				// Not racily clean: git keeps these entries in the shared
				// index instead of replacing them all in the split one.
				if err := os.Chtimes(filepath.Join(g.Dir, p), old, old); err != nil {
					t.Fatal(err)
				}
			}
			g.Git("add", "-A")
			g.Commit("base")
			g.Git("config", "core.splitIndex", "true")
			g.Git("config", "splitIndex.maxPercentChange", "100") // keep the shared index
			g.Git("update-index", "--index-version", version, "--split-index")
			g.Write("d0/f00.txt", "staged edit")                    // replaces a shared entry
			g.Git("rm", "-q", "--cached", "d1/f01.txt")             // deletes one (the file stays, untracked)
			g.Git("rm", "-q", "d2/f02.txt")                         // deletes one with its file
			g.Write("d1/new.txt", "staged new")                     // adds one
			g.WriteFile("d0/f03.txt", "unstaged edit, longer text") // work tree only
			g.WriteFile("untracked.txt", "new")
			// The changes are in the split part (delete and replace
			// bitmaps, an added entry), the rest in the shared index.
			shared, _ := filepath.Glob(filepath.Join(g.Dir, ".git", "sharedindex.*"))
			if len(shared) != 1 {
				t.Fatalf("shared indexes: %v", shared)
			}
			si, err1 := os.Stat(shared[0])
			ix, err2 := os.Stat(filepath.Join(g.Dir, ".git", "index"))
			if err1 != nil || err2 != nil || ix.Size()*2 > si.Size() {
				t.Fatalf("the split index does not hold only the changes: %v %v", err1, err2)
			}
			want := []string{"d0/f00.txt", "d0/f03.txt", "d1/f01.txt", "d1/new.txt", "d2/f02.txt", "untracked.txt"}
			for _, m := range modes {
				got, err := open(t, g.Dir, m.opts).WorktreeChanges(context.Background())
				if err != nil {
					t.Fatalf("%s: %v", m.name, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: WorktreeChanges = %v, want %v", m.name, got, want)
				}
			}
			// Committed, the tree is clean again for both.
			g.Git("add", "-A")
			g.Commit("all")
			for _, m := range modes {
				if got, err := open(t, g.Dir, m.opts).WorktreeChanges(context.Background()); err != nil || len(got) != 0 {
					t.Errorf("%s: clean tree: %v, %v", m.name, got, err)
				}
			}
		})
	}
}

// Repository extensions that do not change how objects and refs are read
// must not stop panka: git sparse-checkout sets extensions.worktreeConfig
// (in a format-0 repository), older partial clones carry
// extensions.partialClone (format 1). go-git v5 refuses both by itself.
// An extension that does change reading (refStorage) is refused by name.
func TestOpenHarmlessExtensions(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "a")
	g.Write("stacks/b/stack.yaml", "b")
	head := g.Commit("one")
	g.Git("sparse-checkout", "set", "--cone", "--no-sparse-index", "stacks/a")
	if got := g.Git("config", "--get", "extensions.worktreeConfig"); got != "true" {
		t.Fatalf("git sparse-checkout did not set extensions.worktreeConfig (%q)", got)
	}
	v1 := gittest.New(t)
	v1.Write("f.txt", "x")
	v1Head := v1.Commit("one")
	v1.Git("config", "core.repositoryFormatVersion", "1")
	v1.Git("config", "extensions.partialClone", "origin")
	v1.Git("config", "extensions.preciousObjects", "true")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			for _, c := range []struct {
				dir  string
				want gitops.Hash
			}{{g.Dir, head}, {v1.Dir, v1Head}} {
				r := open(t, c.dir, m.opts)
				if h, err := r.Head(); err != nil || h != c.want {
					t.Errorf("%s: Head = %s, %v; want %s", c.dir, h, err, c.want)
				}
			}
		})
	}
	v1.Git("config", "extensions.refStorage", "reftable")
	if _, err := gitops.Open(v1.Dir, gitops.Options{}); err == nil || !strings.Contains(err.Error(), "refstorage") || !strings.Contains(err.Error(), "cannot read") {
		t.Errorf("Open with extensions.refStorage: %v, want an error naming the extension", err)
	}
}

// TestMergeBaseUnrelated: a base from an unrelated history (an orphan
// branch) has no fork point with head; the error says so and what to pass,
// not "pass --base explicitly" to someone who just did.
func TestMergeBaseUnrelated(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "1")
	main := g.Commit("one")
	g.Git("checkout", "-q", "--orphan", "other")
	orphan := g.Commit("orphan")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			_, err := r.MergeBase(context.Background(), orphan, main)
			if err == nil || !strings.Contains(err.Error(), "no common ancestor") || !strings.Contains(err.Error(), "from the head's own history") || !strings.Contains(err.Error(), gitops.EmptyTree.String()) || strings.Contains(err.Error(), "explicitly") {
				t.Errorf("MergeBase of unrelated commits: %v", err)
			}
		})
	}
}

// TestReplaceRefsIgnored: a replacement (git replace OLD NEW) is local to
// the clone that made it; both engines read the objects as they are, as
// go-git does and as CI's clone does. The git binary followed refs/replace/,
// so HEAD~1 (and what changed since) differed between the two engines.
func TestReplaceRefsIgnored(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "1")
	first := g.Commit("one")
	g.Write("stacks/b/stack.yaml", "2")
	second := g.Commit("two")
	g.Write("stacks/a/stack.yaml", "3")
	head := g.Commit("three")
	g.Git("replace", second.String(), first.String())
	if got := g.Git("rev-parse", "HEAD~1^{tree}"); got != g.Git("rev-parse", first.String()+"^{tree}") {
		t.Fatalf("git does not follow the replacement: %s", got)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			base, err := r.ResolveRef("HEAD~1")
			if err != nil || base != second {
				t.Fatalf("ResolveRef(HEAD~1) = %s, %v; want %s", base, err, second)
			}
			if base, err := r.ResolveRef("HEAD~2"); err != nil || base != first {
				t.Errorf("ResolveRef(HEAD~2) = %s, %v; want %s", base, err, first)
			}
			ch, err := r.ChangedPaths(context.Background(), base, head)
			if err != nil {
				t.Fatal(err)
			}
			if len(ch) != 1 || ch[0].Path != "stacks/a/stack.yaml" {
				t.Errorf("ChangedPaths(HEAD~1, HEAD) = %+v, want stacks/a/stack.yaml only", ch)
			}
		})
	}
}

// TestAlternates: a clone made with git clone --shared (or --reference)
// keeps no objects of its own and reads them from the other repository,
// named by an absolute path in objects/info/alternates. go-git looked that
// path up inside the .git folder, found nothing, and with
// PANKA_GIT_BINARY=false panka changed said "resolve ref HEAD: not found".
// A relative path there (relative to the objects folder, as git reads it),
// a #-comment line, and an alternate with alternates of its own failed the
// same way.
func TestAlternates(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "1")
	base := g.Commit("one")
	g.Write("stacks/a/stack.yaml", "2")
	g.Write("stacks/b/stack.yaml", "b")
	g.Commit("two")
	for _, packed := range []bool{false, true} {
		if packed {
			g.Git("gc", "-q")
		}
		clone := filepath.Join(t.TempDir(), "shared")
		g.Git("clone", "-q", "--shared", g.Dir, clone)
		relative := filepath.Join(t.TempDir(), "relative")
		g.Git("clone", "-q", "--shared", g.Dir, relative)
		rel, err := filepath.Rel(filepath.Join(relative, ".git", "objects"), filepath.Join(g.Dir, ".git", "objects"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(relative, ".git", "objects", "info", "alternates"), []byte("# borrowed\n\n"+rel+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("git", "-C", relative, "cat-file", "-e", "HEAD:stacks/a/stack.yaml").CombinedOutput(); err != nil {
			t.Fatalf("git does not read the relative alternate: %v %s", err, out)
		}
		// A --shared clone of a --shared clone: its alternate borrows
		// from a third repository.
		chained := filepath.Join(t.TempDir(), "chained")
		g.Git("clone", "-q", "--shared", clone, chained)
		for _, m := range modes {
			for _, clone := range []string{clone, relative, chained} {
				t.Run(fmt.Sprintf("%s/packed=%v/%s", m.name, packed, filepath.Base(clone)), func(t *testing.T) {
					r := open(t, clone, m.opts)
					head, err := r.ResolveRef("HEAD")
					if err != nil {
						t.Fatal(err)
					}
					ch, err := r.ChangedPaths(context.Background(), base, head)
					if err != nil || len(ch) != 2 {
						t.Errorf("ChangedPaths = %+v, %v; want stacks/a and stacks/b", ch, err)
					}
					fsys, err := r.TreeFS(head)
					if err != nil {
						t.Fatal(err)
					}
					if b, err := fs.ReadFile(fsys, "stacks/a/stack.yaml"); err != nil || string(b) != "2" {
						t.Errorf("stacks/a/stack.yaml at HEAD = %q, %v", b, err)
					}
				})
			}
		}
	}
}

// TestGraftsIgnored: a grafts file (.git/info/grafts, git's deprecated
// form of git replace, still honoured by git) is local to the clone too.
// The git binary followed it (GIT_NO_REPLACE_OBJECTS does not turn grafts
// off), so with the git binary panka changed --base HEAD~1 compared from
// the grafted parent and listed more than go-git alone did.
func TestGraftsIgnored(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "1")
	first := g.Commit("one")
	g.Write("stacks/b/stack.yaml", "2")
	second := g.Commit("two")
	g.Write("stacks/a/stack.yaml", "3")
	head := g.Commit("three")
	g.WriteFile(".git/info/grafts", head.String()+" "+first.String()+"\n")
	if got := g.Git("rev-parse", "HEAD~1"); got != first.String() {
		t.Fatalf("git does not follow the graft: %s", got)
	}
	t.Setenv("GIT_GRAFT_FILE", filepath.Join(g.Dir, ".git", "info", "grafts"))
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			base, err := r.ResolveRef("HEAD~1")
			if err != nil || base != second {
				t.Fatalf("ResolveRef(HEAD~1) = %s, %v; want %s", base, err, second)
			}
			if mb, err := r.MergeBase(context.Background(), second, head); err != nil || mb != second {
				t.Errorf("MergeBase(two, three) = %s, %v; want %s", mb, err, second)
			}
			ch, err := r.ChangedPaths(context.Background(), base, head)
			if err != nil {
				t.Fatal(err)
			}
			if len(ch) != 1 || ch[0].Path != "stacks/a/stack.yaml" {
				t.Errorf("ChangedPaths(HEAD~1, HEAD) = %+v, want stacks/a/stack.yaml only", ch)
			}
		})
	}
}

// GIT_DIR, GIT_WORK_TREE and GIT_INDEX_FILE in panka's environment (set by
// hand, or by git for a hook) must not make the git processes read another
// repository than the one go-git opened: both engines answer for the
// repository Open found.
func TestGitEnvironmentDoesNotRedirect(t *testing.T) {
	a := gittest.New(t)
	a.Write("stacks/a/stack.yaml", "a")
	a.Commit("a")
	a.Write("stacks/a/stack.yaml", "a2")
	blob := plumbing.NewHash(a.Git("rev-parse", ":stacks/a/stack.yaml"))
	a.Commit("a2")
	a.WriteFile("stacks/a/new.yaml", "untracked")
	b := gittest.New(t)
	b.Write("other.txt", "b")
	b.Commit("b")
	b.WriteFile("other.txt", "changed")
	t.Setenv("GIT_DIR", filepath.Join(b.Dir, ".git"))
	t.Setenv("GIT_WORK_TREE", b.Dir)
	t.Setenv("GIT_INDEX_FILE", filepath.Join(b.Dir, ".git", "index"))
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, a.Dir, m.opts)
			got, err := r.WorktreeChanges(context.Background())
			if want := []string{"stacks/a/new.yaml"}; err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("WorktreeChanges = %q, %v; want %q", got, err, want)
			}
			if data, err := r.Blob(blob); err != nil || string(data) != "a2" {
				t.Errorf("Blob = %q, %v; want a2", data, err)
			}
		})
	}
}

// An annotated tag of an annotated tag (git tag -a t2 t1) names the commit
// at the end of the chain, on both paths (go-git peels one level only).
func TestResolveNestedTag(t *testing.T) {
	g := gittest.New(t)
	g.Write("f.txt", "1")
	first := g.Commit("one")
	g.Write("f.txt", "2")
	second := g.Commit("two")
	g.Git("tag", "-a", "-m", "t1", "t1")
	g.Git("tag", "-a", "-m", "t2", "t2", "t1")
	g.Git("tag", "-a", "-m", "t3", "release/t3", "t2")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			for ref, want := range map[string]gitops.Hash{"t2": second, "release/t3": second, "tags/t2": second, "t2~1": first, "release/t3^": first, "t1": second} {
				if h, err := r.ResolveRef(ref); err != nil || h != want {
					t.Errorf("ResolveRef(%q) = %s, %v; want %s", ref, h, err, want)
				}
			}
		})
	}
}

// TestResolveOctopusParent: HEAD^3 and beyond name the third (fourth, ...)
// branch of an octopus merge; go-git's revision parser refuses any ^N above
// 2 ("must be 0, 1 or 2 after ^"), so without the git binary --base HEAD^3
// was an error while git resolved it.
func TestResolveOctopusParent(t *testing.T) {
	g := gittest.New(t)
	g.Write("f.txt", "0")
	g.Commit("root")
	for _, b := range []string{"a", "b", "c"} {
		g.Git("checkout", "-q", "-b", b, "main")
		g.Write(b+".txt", b)
		g.Commit(b)
	}
	g.Git("checkout", "-q", "main")
	g.Write("f.txt", "1")
	g.Commit("main work")
	g.Git("merge", "-q", "--no-edit", "a", "b", "c")
	if parents := strings.Fields(g.Git("log", "-1", "--format=%P")); len(parents) != 4 {
		t.Fatalf("want an octopus merge with 4 parents, got %v", parents)
	}
	g.Git("tag", "-a", "-m", "t", "octo")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			for _, ref := range []string{"HEAD^3", "HEAD^4", "main^3~1", "HEAD^4^", "octo^3", "HEAD^3^0", "HEAD^2^1"} {
				want := plumbing.NewHash(g.Git("rev-parse", "--verify", ref+"^{commit}"))
				if got, err := r.ResolveRef(ref); err != nil || got != want {
					t.Errorf("ResolveRef(%q) = %s, %v; want %s (git rev-parse)", ref, got, err, want)
				}
			}
			for _, ref := range []string{"HEAD^5", "HEAD~1^3", "HEAD^99999999999999999999", "HEAD~99999999999999999999^3"} {
				if h, err := r.ResolveRef(ref); !errors.Is(err, gitops.ErrRefNotFound) || !strings.Contains(err.Error(), "not a merge with that many parents") {
					t.Errorf("ResolveRef(%q) = %s, %v; want not found: not a merge with that many parents", ref, h, err)
				}
			}
		})
	}
}

// TestResolveReflog: the reflog forms (HEAD@{1}: where HEAD was before the
// last pull or reset; main@{2}; @{1}; @{-1}: the branch checked out before)
// resolve as git resolves them with either engine. go-git's ResolveRevision
// dropped the @{N} and answered the ref itself, so --base HEAD@{1} compared
// HEAD with HEAD ("No stack changed"); and past the reflog's end git's
// refusal fell through to that, with the git binary too.
func TestResolveReflog(t *testing.T) {
	g := gittest.New(t)
	g.Write("f.txt", "1")
	g.Commit("one")
	g.Write("f.txt", "2")
	g.Commit("two")
	g.Write("f.txt", "3")
	g.Commit("three")
	g.Git("checkout", "-q", "-b", "side")
	g.Write("g.txt", "side")
	g.Commit("side work")
	g.Git("checkout", "-q", "main")
	g.Git("reset", "-q", "--hard", "HEAD~1") // main@{1} is "three"
	g.Git("update-ref", "refs/remotes/origin/main", "HEAD~1")
	// @{-3} names a branch deleted since: the error says which.
	g.Git("checkout", "-q", "-b", "gone")
	g.Git("checkout", "-q", "main")
	g.Git("branch", "-q", "-D", "gone")
	g.Git("checkout", "-q", "side")
	g.Git("checkout", "-q", "main")
	refs := []string{"HEAD@{1}", "HEAD@{2}", "main@{1}", "main@{2}", "main@{1}~2", "@{1}", "@{0}", "@{-1}", "@{-1}~1", "HEAD@{3}^", "refs/heads/main@{1}", "side@{0}"}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			for _, ref := range refs {
				want := plumbing.NewHash(g.Git("rev-parse", "--verify", ref))
				got, err := r.ResolveRef(ref)
				if err != nil || got != want {
					t.Errorf("ResolveRef(%q) = %s, %v; want %s (git rev-parse)", ref, got, err, want)
				}
			}
			if h, _ := r.ResolveRef("main@{1}"); h == g.Head() {
				t.Errorf("main@{1} resolved to main itself")
			}
			for ref, msg := range map[string]string{
				"main@{99}":  "the reflog of refs/heads/main only has 4 entries",
				"HEAD@{1}^2": "not a merge with that many parents",
				"nope@{1}":   `no branch, tag or remote branch "nope" has a reflog here`,
				"@{-9}":      "only 6 branch switch(es) are recorded",
				"@{-3}":      `@{-3} is "gone", checked out 3 branch switch(es) ago, and no branch, tag or commit has that name here any more`,
				"@{-3}~1":    `@{-3} is "gone"`,
			} {
				if h, err := r.ResolveRef(ref); err == nil || !strings.Contains(err.Error(), msg) {
					t.Errorf("ResolveRef(%q) = %s, %v; want an error saying %q", ref, h, err, msg)
				}
			}
			if m.opts.NoGitBinary {
				if _, err := r.ResolveRef("main@{yesterday}"); err == nil || !strings.Contains(err.Error(), "reflog dates only through the git binary") {
					t.Errorf("main@{yesterday} with go-git alone: %v", err)
				}
			} else {
				// The reflog starts in 2023 (gittest's dates): git answers
				// its oldest entry for an earlier date, with a warning
				// only, which is not where main was then (for
				// main@{yesterday} on a fresh CI clone, head itself: "No
				// stack changed").
				if h, err := r.ResolveRef("main@{2020-01-01}"); err == nil || !strings.Contains(err.Error(), "log for 'main' only goes back to") || !strings.Contains(err.Error(), "git rev-list -1 --before=<date> <branch>") {
					t.Errorf("ResolveRef(main@{2020-01-01}) before the reflog's start = %s, %v; want an error naming the fix", h, err)
				}
				want := plumbing.NewHash(g.Git("rev-parse", "--verify", "main@{now}"))
				if got, err := r.ResolveRef("main@{now}"); err != nil || got != want {
					t.Errorf("ResolveRef(main@{now}) = %s, %v; want %s", got, err, want)
				}
			}
		})
	}
}

// TestResolveReflogZeroEmptyReflog: X@{0} is X's current value, also when
// X's reflog is empty (git reflog expire --expire=now --all, as some CI
// caches and maintenance jobs run), as git resolves it; go-git alone
// refused it ("the reflog of HEAD only has 0 entries"). @{1} is still
// refused.
func TestResolveReflogZeroEmptyReflog(t *testing.T) {
	g := gittest.New(t)
	g.Write("f.txt", "1")
	g.Commit("one")
	g.Write("f.txt", "2")
	g.Commit("two")
	g.Git("reflog", "expire", "--expire=now", "--all")
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		for _, ref := range []string{"HEAD@{0}", "main@{0}", "@{0}", "@{0}~1"} {
			want := plumbing.NewHash(g.Git("rev-parse", "--verify", ref))
			if got, err := r.ResolveRef(ref); err != nil || got != want {
				t.Errorf("%s: ResolveRef(%q) = %s, %v; want %s (git rev-parse)", m.name, ref, got, err, want)
			}
		}
		if h, err := r.ResolveRef("HEAD@{1}"); err == nil {
			t.Errorf("%s: ResolveRef(HEAD@{1}) = %s, want an error", m.name, h)
		}
	}
}

// TestResolveReflogHeadFromBranch: without a reflog of HEAD (a clone made
// by a tool that writes only branch reflogs, or logs/HEAD deleted), git
// resolves HEAD@{N} through the reflog of the branch HEAD points at; go-git
// alone said "HEAD has no reflog here" while the git binary answered.
func TestResolveReflogHeadFromBranch(t *testing.T) {
	g := gittest.New(t)
	g.Write("f.txt", "1")
	g.Commit("one")
	g.Write("f.txt", "2")
	g.Commit("two")
	g.Write("f.txt", "3")
	g.Commit("three")
	if err := os.Remove(filepath.Join(g.Dir, ".git", "logs", "HEAD")); err != nil {
		t.Fatal(err)
	}
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		for _, ref := range []string{"HEAD@{1}", "HEAD@{2}~0", "@{1}", "HEAD@{0}"} {
			want := plumbing.NewHash(g.Git("rev-parse", "--verify", ref))
			if got, err := r.ResolveRef(ref); err != nil || got != want {
				t.Errorf("%s: ResolveRef(%q) = %s, %v; want %s (git rev-parse)", m.name, ref, got, err, want)
			}
		}
	}
}

// With core.autocrlf=true or a .gitattributes eol=crlf, git checks files
// out with CRLF line ends and stores them with LF: a checked-out file whose
// stat data no longer matches the index (touched, or racily clean) is
// unchanged for git status, and must be for go-git too. The attributes
// may come from a folder's own .gitattributes (stacks/.gitattributes): go-git
// alone read only the top one and listed every touched file as changed.
func TestWorktreeChangesCRLF(t *testing.T) {
	for _, setup := range []string{"core.autocrlf", "include.path", ".gitattributes", "stacks/.gitattributes", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT"} {
		t.Run(setup, func(t *testing.T) {
			g := gittest.New(t)
			switch setup {
			case "core.autocrlf":
				g.Git("config", "core.autocrlf", "true")
			case "GIT_CONFIG_PARAMETERS":
				// `git -c core.autocrlf=true <alias or hook>` running
				// panka: go-git alone read only the files.
				t.Setenv("GIT_CONFIG_PARAMETERS", "'core.autocrlf'='true'")
			case "GIT_CONFIG_COUNT":
				t.Setenv("GIT_CONFIG_COUNT", "1")
				t.Setenv("GIT_CONFIG_KEY_0", "core.autocrlf")
				t.Setenv("GIT_CONFIG_VALUE_0", "true")
			case "include.path":
				// core.autocrlf in an included file (go-git alone
				// read only the top-level files' settings).
				inc := filepath.Join(t.TempDir(), "crlf.cfg")
				if err := os.WriteFile(inc, []byte("[core]\n\tautocrlf = true\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				g.Git("config", "include.path", inc)
			default:
				g.Write(setup, "*.yaml text eol=crlf\n")
			}
			g.Write("stacks/a/stack.yaml", "a: 1\nb: 2\n")
			g.Write("stacks/a/other.yaml", "c: 3\n")
			g.Commit("one")
			if err := os.RemoveAll(filepath.Join(g.Dir, "stacks")); err != nil {
				t.Fatal(err)
			}
			g.Git("checkout", "-q", "--", ".")
			p := filepath.Join(g.Dir, "stacks", "a", "stack.yaml")
			if b, _ := os.ReadFile(p); !strings.Contains(string(b), "\r\n") {
				t.Fatalf("git checked out %q without CRLF", b)
			}
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(p, later, later); err != nil {
				t.Fatal(err)
			}
			g.WriteFile("stacks/a/other.yaml", "c: 4\r\n")
			want := []string{"stacks/a/other.yaml"}
			if got := g.Git("status", "--porcelain"); got != "M stacks/a/other.yaml" {
				t.Fatalf("git status = %q", got)
			}
			for _, m := range modes {
				r := open(t, g.Dir, m.opts)
				if got, err := r.WorktreeChanges(context.Background()); err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("%s: WorktreeChanges = %q, %v; want %q", m.name, got, err, want)
				}
			}
		})
	}
}

// TestWorktreeChangesCRLFAsGitStatus: a work-tree file whose line ends
// differ from the index's is modified exactly when git status lists it,
// in both engines. go-git's took an LF file saved with CRLF for unchanged
// under core.autocrlf or text=auto whenever git add would store the
// indexed blob, while git status lists a file whose size is not the one
// the index recorded without reading it; and it converted line ends that
// git leaves alone (-text, or no text attribute and core.autocrlf off
// while another path has a text rule).
func TestWorktreeChangesCRLFAsGitStatus(t *testing.T) {
	const lf, crlf = "a: 1\nb: 2\n", "a: 1\r\nb: 2\r\n"
	for _, tc := range []struct {
		name string
		// setup runs after the first commit of stacks/a/stack.yaml (lf).
		setup func(g *gittest.Repo)
		want  []string
	}{
		{"autocrlf saved with CRLF", func(g *gittest.Repo) {
			g.Git("config", "core.autocrlf", "true")
			g.WriteFile("stacks/a/stack.yaml", crlf)
		}, []string{"stacks/a/stack.yaml"}},
		{"text=auto saved with CRLF", func(g *gittest.Repo) {
			g.Write(".gitattributes", "* text=auto\n")
			g.Commit("attributes")
			g.WriteFile("stacks/a/stack.yaml", crlf)
		}, []string{"stacks/a/stack.yaml"}},
		{"text saved with CRLF", func(g *gittest.Repo) {
			g.Write(".gitattributes", "*.yaml text\n")
			g.Commit("attributes")
			g.WriteFile("stacks/a/stack.yaml", crlf)
		}, []string{"stacks/a/stack.yaml"}},
		{"text rule of other files saved with CRLF", func(g *gittest.Repo) {
			g.Write(".gitattributes", "*.sh text eol=lf\n")
			g.Commit("attributes")
			g.WriteFile("stacks/a/stack.yaml", crlf)
		}, []string{"stacks/a/stack.yaml"}},
		// Checked out with CRLF (the index records that size), then
		// git no longer converts: the same bytes are modified.
		{"checked out by autocrlf, autocrlf off", func(g *gittest.Repo) {
			g.Write(".gitattributes", "*.sh text eol=lf\n")
			g.Commit("attributes")
			checkoutCRLF(g)
			g.Git("config", "core.autocrlf", "false")
		}, []string{"stacks/a/stack.yaml"}},
		{"checked out by autocrlf, then -text", func(g *gittest.Repo) {
			checkoutCRLF(g)
			g.WriteFile(".git/info/attributes", "*.yaml -text\n")
		}, []string{"stacks/a/stack.yaml"}},
		{"checked out by autocrlf, touched", func(g *gittest.Repo) {
			checkoutCRLF(g)
		}, nil},
		{"checked out by text=auto, touched", func(g *gittest.Repo) {
			g.WriteFile(".git/info/attributes", "* text=auto eol=crlf\n")
			checkoutCRLF(g)
			g.Git("config", "--unset", "core.autocrlf")
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := gittest.New(t)
			g.Write("stacks/a/stack.yaml", lf)
			g.Commit("one")
			tc.setup(g)
			p := filepath.Join(g.Dir, "stacks", "a", "stack.yaml")
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(p, later, later); err != nil {
				t.Fatal(err)
			}
			status := strings.Fields(g.Git("status", "--porcelain")) // "M path"
			if len(status) > 0 {
				status = status[1:]
			}
			if !slices.Equal(status, tc.want) {
				t.Fatalf("git status lists %q, the test expects %q", status, tc.want)
			}
			for _, m := range modes {
				r := open(t, g.Dir, m.opts)
				if got, err := r.WorktreeChanges(context.Background()); err != nil || !slices.Equal(got, tc.want) {
					t.Errorf("%s: WorktreeChanges = %q, %v; want %q as git status", m.name, got, err, tc.want)
				}
			}
		})
	}
}

// TestLooksBinary: under text=auto and core.autocrlf git leaves the line
// ends of a file it takes for binary alone (convert.c's convert_is_binary).
func TestLooksBinary(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    bool
	}{
		{"", false},
		{"a: 1\r\nb: 2\r\n", false},
		{"a: 1\nb: 2\n", false},
		{"a: \"x\ty\033[0m\"\r\n", false},
		{"a: 1\r\nb: \"x\ry\"\r\n", true}, // a lone CR
		{"a: 1\r\n\x00\r\n", true},
		{"a: 1\r\n\x01\r\n", true},                        // one control character in 4 printable ones
		{strings.Repeat("x", 128) + "\x01\r\n", false},    // one in 128
		{strings.Repeat("x", 128) + "\x01\x7f\r\n", true}, // two in 128
		{"a: 1\r\n\x1a", false},                           // a DOS end-of-file mark
	} {
		if got := gitops.LooksBinary([]byte(tc.content)); got != tc.want {
			t.Errorf("LooksBinary(%q) = %v, want %v", tc.content, got, tc.want)
		}
	}
}

// TestEnvConfig: settings git passes to the commands it runs (git -c
// name=value, GIT_CONFIG_COUNT) are read as git reads them, overriding
// the configuration files.
func TestEnvConfig(t *testing.T) {
	// As git 2.39 writes them for: -c alias.pp='!printenv ...'
	// -c core.autocrlf=true -c "a.b=it's x" -c foo.bar -c Core.FileMode=false
	t.Setenv("GIT_CONFIG_PARAMETERS", `'alias.pp'=''\!'printenv GIT_CONFIG_PARAMETERS' 'core.autocrlf'='true' 'a.b'='it'\''s x' 'foo.bar'= 'Core.FileMode'='false' 'old.style=v'`)
	t.Setenv("GIT_CONFIG_COUNT", "2")
	t.Setenv("GIT_CONFIG_KEY_0", "core.autocrlf")
	t.Setenv("GIT_CONFIG_VALUE_0", "input") // GIT_CONFIG_PARAMETERS comes later and wins
	t.Setenv("GIT_CONFIG_KEY_1", "core.ignorecase")
	t.Setenv("GIT_CONFIG_VALUE_1", "true")
	for _, tc := range []struct {
		name, want string
		found      bool
	}{
		{"alias.pp", "!printenv GIT_CONFIG_PARAMETERS", true},
		{"core.autocrlf", "true", true},
		{"a.b", "it's x", true},
		{"foo.bar", "true", true},
		{"core.filemode", "false", true},
		{"old.style", "v", true},
		{"core.ignorecase", "true", true},
		{"core.symlinks", "", false},
	} {
		if v, found := gitops.EnvConfig(tc.name); v != tc.want || found != tc.found {
			t.Errorf("EnvConfig(%q) = %q, %v; want %q, %v", tc.name, v, found, tc.want, tc.found)
		}
	}
}

// checkoutCRLF checks stacks/ out again with core.autocrlf=true: CRLF line
// ends on disk, their size in the index.
func checkoutCRLF(g *gittest.Repo) {
	g.T.Helper()
	g.Git("config", "core.autocrlf", "true")
	if err := os.RemoveAll(filepath.Join(g.Dir, "stacks")); err != nil {
		g.T.Fatal(err)
	}
	g.Git("checkout", "-q", "--", "stacks")
	if b, _ := os.ReadFile(filepath.Join(g.Dir, "stacks", "a", "stack.yaml")); !strings.Contains(string(b), "\r\n") {
		g.T.Fatalf("git checked out %q without CRLF", b)
	}
	g.Git("status", "--porcelain") // records the checked-out files' stat data
}

// TestDiffPath: the changes at a path between two commits' trees are what
// `git diff --no-renames <a> <b> -- <path>` lists, in both engines, for
// folders, files, paths on one side only and a file that became a folder.
func TestDiffPath(t *testing.T) {
	g := gittest.New(t)
	g.Write("s/a/stack.yaml", "a\n")
	g.Write("s/a/env/dev.yaml", "dev\n")
	g.Write("s/b/x", "x\n")
	g.Write("top", "t\n")
	c0 := g.Commit("c0")
	g.Write("s/a/env/dev.yaml", "dev2\n")
	g.Write("s/a/env/prod.yaml", "prod\n")
	g.Remove("s/b/x")
	g.Write("s/b/x/inner", "now a folder\n")
	g.Write("s/c/new", "n\n")
	g.Remove("top")
	c1 := g.Commit("c1")
	ctx := context.Background()
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		t0, err := r.CommitTree(c0)
		if err != nil {
			t.Fatal(err)
		}
		t1, err := r.CommitTree(c1)
		if err != nil {
			t.Fatal(err)
		}
		for _, pair := range [][2]gitops.Hash{{t0, t1}, {t1, t0}, {gitops.ZeroHash, t1}} {
			for _, p := range []string{"s", "s/a", "s/a/env", "s/a/env/dev.yaml", "s/b", "s/b/x", "s/c", "top", "nothing/here"} {
				got, err := r.DiffPath(ctx, pair[0], pair[1], p)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, c := range got {
					names = append(names, string(c.Action)+" "+c.Path)
				}
				var want []string
				if !pair[0].IsZero() {
					for _, l := range strings.Split(g.Git("diff", "--no-renames", "--name-status", pair[0].String(), pair[1].String(), "--", p), "\n") {
						if st, path, ok := strings.Cut(l, "\t"); ok {
							want = append(want, map[string]string{"A": "added", "D": "deleted", "M": "modified"}[st]+" "+path)
						}
					}
				} else {
					for _, f := range strings.Fields(g.Git("ls-tree", "-r", "--name-only", c1.String(), "--", p)) {
						want = append(want, "added "+f)
					}
				}
				sort.Strings(names)
				sort.Strings(want)
				if fmt.Sprint(names) != fmt.Sprint(want) {
					t.Errorf("%s %s..%s %s: %q, want %q", m.name, pair[0].String()[:7], pair[1].String()[:7], p, names, want)
				}
			}
		}
	}
}

// TestDiffPathBase: DiffPathBase lists what DiffPath does, but for a folder
// only head has, which is one Added change of the folder (not descended
// into), in both engines.
func TestDiffPathBase(t *testing.T) {
	g := gittest.New(t)
	g.Write("s/a/stack.yaml", "a\n")
	g.Write("s/a/env/dev.yaml", "dev\n")
	g.Write("s/b/x", "x\n")
	g.Write("s/m/stack.yaml", "m\n")
	c0 := g.Commit("c0")
	g.Write("s/a/env/dev.yaml", "dev2\n")
	g.Write("s/a/env/prod.yaml", "prod\n")
	g.Remove("s/b/x")
	g.Write("s/b/x/inner", "now a folder\n")
	g.Write("s/c/new", "n\n")
	g.Write("s/c/deep/er", "e\n")
	g.Remove("s/m/stack.yaml")
	g.Write("s/moved/stack.yaml", "m\n")
	c1 := g.Commit("c1")
	ctx := context.Background()
	key := func(c gitops.Change) string {
		return fmt.Sprintf("%s %s<-%s %s/%s %v/%v", c.Action, c.Path, c.OldPath, c.OldHash, c.NewHash, c.OldMode, c.NewMode)
	}
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		t0, _ := r.CommitTree(c0)
		t1, err := r.CommitTree(c1)
		if err != nil {
			t.Fatal(err)
		}
		for _, pair := range [][2]gitops.Hash{{t0, t1}, {t1, t0}, {gitops.ZeroHash, t1}, {t1, gitops.ZeroHash}} {
			for _, p := range []string{"", "s", "s/a", "s/b", "s/b/x", "s/c", "s/moved", "nothing"} {
				full, err := r.DiffPath(ctx, pair[0], pair[1], p)
				if err != nil {
					t.Fatal(err)
				}
				base, err := r.DiffPathBase(ctx, pair[0], pair[1], p)
				if err != nil {
					t.Fatal(err)
				}
				var dirs []string
				inBase := map[string]bool{}
				for _, c := range base {
					if c.Action == gitops.Added && c.NewMode == filemode.Dir {
						dirs = append(dirs, c.Path)
						continue
					}
					// What base holds is listed as DiffPath lists it, but a
					// rename into an added folder, listed as the deletion.
					inBase[key(c)] = true
				}
				under := func(f string) bool {
					for _, d := range dirs {
						if strings.HasPrefix(f, d+"/") {
							return true
						}
					}
					return false
				}
				for _, c := range full {
					switch {
					case inBase[key(c)]:
						delete(inBase, key(c))
					case c.Action == gitops.Added && under(c.Path):
					case c.Action == gitops.Renamed && under(c.Path) && inBase[key(gitops.Change{Action: gitops.Deleted, Path: c.OldPath, OldHash: c.OldHash, OldMode: c.OldMode})]:
						delete(inBase, key(gitops.Change{Action: gitops.Deleted, Path: c.OldPath, OldHash: c.OldHash, OldMode: c.OldMode}))
					default:
						t.Errorf("%s %s: DiffPath has %s, DiffPathBase not", m.name, p, key(c))
					}
				}
				for k := range inBase {
					t.Errorf("%s %s: DiffPathBase has %s, DiffPath not", m.name, p, k)
				}
			}
		}
		got, err := r.DiffPathBase(ctx, t0, t1, "s")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range got {
			names = append(names, string(c.Action)+" "+c.Path)
		}
		sort.Strings(names)
		want := []string{"added s/a/env/prod.yaml", "added s/b/x", "added s/c", "added s/moved", "deleted s/b/x", "deleted s/m/stack.yaml", "modified s/a/env/dev.yaml"}
		if fmt.Sprint(names) != fmt.Sprint(want) {
			t.Errorf("%s: DiffPathBase = %q, want %q", m.name, names, want)
		}
	}
}

// TestWorktreeChangesAssumeUnchanged: git status does not look at the
// work-tree files of entries marked git update-index --assume-unchanged;
// go-git alone must not either (its decoder drops that flag), in a plain
// index and in a split index (the flag on a shared entry and on a
// replacing one).
func TestWorktreeChangesAssumeUnchanged(t *testing.T) {
	for _, split := range []bool{false, true} {
		t.Run(fmt.Sprintf("split %v", split), func(t *testing.T) {
			g := gittest.New(t)
			old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
			for _, p := range []string{"a.txt", "b.txt", "c.txt", "d/e.txt"} {
				g.WriteFile(p, "content of "+p)
				// Not racily clean, so that split-index entries stay shared.
				if err := os.Chtimes(filepath.Join(g.Dir, filepath.FromSlash(p)), old, old); err != nil {
					t.Fatal(err)
				}
			}
			g.Git("add", "-A")
			g.Commit("base")
			g.Git("update-index", "--assume-unchanged", "a.txt")
			if split {
				g.Git("config", "splitIndex.maxPercentChange", "100")
				g.Git("update-index", "--split-index")
			}
			g.Git("update-index", "--assume-unchanged", "d/e.txt")
			if split {
				if _, err := os.Stat(filepath.Join(g.Dir, ".git", "index")); err != nil {
					t.Fatal(err)
				}
				if shared, _ := filepath.Glob(filepath.Join(g.Dir, ".git", "sharedindex.*")); len(shared) != 1 {
					t.Fatalf("shared indexes: %v", shared)
				}
			}
			g.WriteFile("a.txt", "edited, longer than before")
			g.WriteFile("d/e.txt", "edited, longer than before")
			g.WriteFile("b.txt", "edited, longer than before")
			if err := os.Remove(filepath.Join(g.Dir, "c.txt")); err != nil {
				t.Fatal(err)
			}
			want := []string{"b.txt", "c.txt"}
			if got := g.Git("status", "--porcelain"); got != "M b.txt\n D c.txt" {
				t.Fatalf("git status = %q", got)
			}
			for _, m := range modes {
				got, err := open(t, g.Dir, m.opts).WorktreeChanges(context.Background())
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("%s: WorktreeChanges = %q, %v; want %q", m.name, got, err, want)
				}
			}
		})
	}
}

// TestWorktreeChangesSameSizeAndMtime: a tracked file whose content
// changed while its size and mtime stayed (cp -p or rsync -t of another
// version, touch -r, an in-place rewrite with the mtime put back) is
// modified for git status, which also compares inode and change time;
// without the git binary it was unchanged (size and mtime only), so
// `panka changed --uncommitted` missed the edit. core.trustctime=false and
// core.checkStat=minimal make git trust less of the stat data; go-git
// alone must still agree with git status.
func TestWorktreeChangesSameSizeAndMtime(t *testing.T) {
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	setup := func(t *testing.T) *gittest.Repo {
		g := gittest.New(t)
		for _, p := range []string{"replaced.yaml", "rewritten.yaml", "kept.yaml"} {
			g.WriteFile(p, "versioning: true\n")
			// Not racily clean: older than the index.
			if err := os.Chtimes(filepath.Join(g.Dir, p), old, old); err != nil {
				t.Fatal(err)
			}
		}
		g.Git("add", "-A")
		g.Commit("base")
		return g
	}
	edit := func(t *testing.T, g *gittest.Repo) {
		// A new file renamed over the old one (a new inode), and the old
		// file rewritten in place (the same inode, a new change time),
		// both with the old size and mtime.
		tmp := filepath.Join(g.Dir, "replaced.yaml.new")
		if err := os.WriteFile(tmp, []byte("versioning: fals\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(g.Dir, "replaced.yaml")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(g.Dir, "rewritten.yaml"), []byte("versioning: fals\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"replaced.yaml", "rewritten.yaml"} {
			if err := os.Chtimes(filepath.Join(g.Dir, p), old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name   string
		config []string
		want   []string
	}{
		// git compares the change time to the second only (it is built
		// without USE_NSEC), so whether it sees the in-place rewrite
		// depends on the clock; panka compares the nanoseconds too, as
		// it does the mtime.
		{"default", nil, []string{"replaced.yaml", "rewritten.yaml"}},
		{"trustctime false", []string{"core.trustctime", "false"}, []string{"replaced.yaml"}},
		{"checkStat minimal", []string{"core.checkStat", "minimal"}, []string{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := setup(t)
			if c.config != nil {
				g.Git(append([]string{"config"}, c.config...)...)
			}
			edit(t, g)
			for _, m := range modes {
				got, err := open(t, g.Dir, m.opts).WorktreeChanges(context.Background())
				if err != nil {
					t.Fatalf("%s: %v", m.name, err)
				}
				if m.opts.NoGitBinary && !reflect.DeepEqual(got, c.want) || !m.opts.NoGitBinary && !reflect.DeepEqual(got, c.want) && !slices.Contains(got, "replaced.yaml") {
					t.Errorf("%s: WorktreeChanges = %q, want %q", m.name, got, c.want)
				}
			}
			if got := g.Git("status", "--porcelain"); len(c.want) > 0 && !strings.Contains(got, "M replaced.yaml") {
				t.Errorf("git status = %q, want replaced.yaml modified", got)
			}
		})
	}
}

// TestWorktreeChangesFileMode: chmod +x on a tracked file is a change for
// git status, unless core.fileMode=false (a file system without the
// executable bit); go-git alone must agree.
func TestWorktreeChangesFileMode(t *testing.T) {
	g := gittest.New(t)
	g.Write("run.sh", "echo hi\n")
	g.Write("data.yaml", "a: 1\n")
	g.Commit("base")
	if err := os.Chmod(filepath.Join(g.Dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		fileMode, status string
		want             []string
	}{{"true", "M run.sh", []string{"run.sh"}}, {"false", "", []string{}}} {
		g.Git("config", "core.fileMode", c.fileMode)
		if got := g.Git("status", "--porcelain"); got != c.status {
			t.Fatalf("core.fileMode=%s: git status = %q", c.fileMode, got)
		}
		for _, m := range modes {
			got, err := open(t, g.Dir, m.opts).WorktreeChanges(context.Background())
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("core.fileMode=%s, %s: WorktreeChanges = %q, %v; want %q", c.fileMode, m.name, got, err, c.want)
			}
		}
	}
}

// TestDamagedPack: objects listed in a pack index that cannot be read from
// a truncated pack are reported as a damaged pack, with both engines; they
// were "not in the local history: fetch it first", which does not help.
// An object no pack lists is still ErrObjectMissing.
func TestDamagedPack(t *testing.T) {
	g := gittest.New(t)
	for i := range 3 {
		g.Write("stacks/a/stack.yaml", strings.Repeat(fmt.Sprintf("line %d\n", i), 400))
		g.Write(fmt.Sprintf("stacks/b%d/x.yaml", i), strings.Repeat("y", 300*i))
		g.Commit(fmt.Sprintf("c%d", i))
	}
	g.Git("gc", "-q")
	packs, _ := filepath.Glob(filepath.Join(g.Dir, ".git", "objects", "pack", "pack-*.pack"))
	if len(packs) != 1 {
		t.Fatalf("want one pack, have %v", packs)
	}
	var ids []gitops.Hash
	for _, l := range strings.Split(strings.TrimSpace(g.Git("cat-file", "--batch-all-objects", "--batch-check=%(objectname)")), "\n") {
		ids = append(ids, plumbing.NewHash(l))
	}
	fi, err := os.Stat(packs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(packs[0], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(packs[0], 12+(fi.Size()-12)/3); err != nil {
		t.Fatal(err)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			damaged := 0
			for _, h := range ids {
				_, err := r.Blob(h)
				if err == nil {
					continue
				}
				if errors.Is(err, gitops.ErrObjectMissing) {
					t.Fatalf("Blob(%s) of a damaged pack = %v, want a damaged-pack error", h, err)
				}
				if !strings.Contains(err.Error(), "the pack file is damaged") {
					continue // a tree or commit: "object is a tree"
				}
				damaged++
			}
			if damaged == 0 {
				t.Fatal("no object reported damaged")
			}
			if _, err := r.Blob(gitops.Hash{0xde, 0xad}); !errors.Is(err, gitops.ErrObjectMissing) {
				t.Errorf("Blob(missing) = %v, want ErrObjectMissing", err)
			}
		})
	}
}

// TestResolveRefDamagedHead: a HEAD file that is neither a symbolic ref nor
// a commit id is named, with what it holds and how to repair it, not
// reported as an unknown ref to fetch.
func TestResolveRefDamagedHead(t *testing.T) {
	g := gittest.New(t)
	g.Write("a.txt", "a")
	g.Commit("one")
	g.WriteFile(".git/HEAD", "garbage!!\n")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r, err := gitops.Open(g.Dir, m.opts)
			if err != nil {
				// Refusing to open is as good, if it says why.
				if !strings.Contains(err.Error(), "HEAD") {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			defer r.Close()
			for _, ref := range []string{"HEAD", "HEAD~1"} {
				_, err := r.ResolveRef(ref)
				if err == nil || !strings.Contains(err.Error(), `HEAD is damaged: it holds "garbage!!"`) || !strings.Contains(err.Error(), "echo 'ref: refs/heads/main'") {
					t.Errorf("ResolveRef(%s) = %v", ref, err)
				}
			}
		})
	}
}

// TestWorktreeChangesIgnoreCase: with core.ignorecase (macOS' and
// Windows' default) a file whose path differs from an index entry's in
// case only is that entry, not an untracked file: git status lists no
// such file, and neither engine does. (On a case-sensitive file system
// git then lists the entry deleted; on a case-insensitive one, nothing.)
func TestWorktreeChangesIgnoreCase(t *testing.T) {
	g := gittest.New(t)
	g.Write("Stacks/Shop/stack.yaml", "a")
	g.Write("Stacks/Shop/infra/Data.yaml", "b")
	g.Commit("base")
	if err := os.Rename(filepath.Join(g.Dir, "Stacks", "Shop"), filepath.Join(g.Dir, "Stacks", "shop")); err != nil {
		t.Fatal(err)
	}
	g.WriteFile("Stacks/shop/new.yaml", "untracked")
	g.Git("config", "core.ignorecase", "true")
	var want []string
	for _, rec := range strings.Split(g.Git("status", "--porcelain=v1", "-z", "--untracked-files=all"), "\x00") {
		// "XY path" (the output's first space is trimmed).
		if _, p, ok := strings.Cut(strings.TrimLeft(rec, " "), " "); ok {
			want = append(want, p)
		}
	}
	slices.Sort(want)
	if slices.Contains(want, "Stacks/shop/stack.yaml") || !slices.Contains(want, "Stacks/shop/new.yaml") {
		t.Fatalf("git status: %q", want)
	}
	for _, m := range modes {
		got, err := open(t, g.Dir, m.opts).WorktreeChanges(context.Background())
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: WorktreeChanges = %q, %v; want %q (git status)", m.name, got, err, want)
		}
	}
}

// TestWorktreeChangesFileFolder: a tracked file replaced in the work tree
// by a folder of the same name (with files in it), and a tracked folder
// replaced by a file, are listed as git status lists them by both engines:
// go-git alone skipped the new folder as if it were a submodule (its new
// files missed) and failed on the file in the way of the folder's old
// entries ("not a directory").
func TestWorktreeChangesFileFolder(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/infra/data.yaml", "a")
	g.Write("stacks/a/infra/dir/x.yaml", "x")
	g.Commit("base")
	for _, p := range []string{"stacks/a/infra/data.yaml", "stacks/a/infra/dir"} {
		if err := os.RemoveAll(filepath.Join(g.Dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	g.WriteFile("stacks/a/infra/data.yaml/db.yaml", "now a folder")
	g.WriteFile("stacks/a/infra/dir", "now a file")
	want := []string{"stacks/a/infra/data.yaml", "stacks/a/infra/data.yaml/db.yaml", "stacks/a/infra/dir", "stacks/a/infra/dir/x.yaml"}
	for _, m := range modes {
		got, err := open(t, g.Dir, m.opts).WorktreeChanges(context.Background())
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: WorktreeChanges = %q, %v; want %q", m.name, got, err, want)
		}
	}
}

// TestMergeBaseBelowShallowBoundary: two branches that meet below where a
// shallow clone is cut off have no merge-base in it. The error named it as
// a ref, `ref "merge-base(5e986233be2d, 55a7350cf418)" is not in the local
// history`, which reads as a ref the user passed; it now says what is
// missing, with the fix.
func TestMergeBaseBelowShallowBoundary(t *testing.T) {
	g := gittest.New(t)
	g.Write("f", "0")
	g.Commit("fork")
	g.Git("checkout", "-q", "-b", "feature")
	g.Write("g", "1")
	g.Commit("f1")
	g.Write("g", "2")
	g.Commit("f2")
	g.Git("checkout", "-q", "main")
	for i := 0; i < 3; i++ {
		g.Write("f", fmt.Sprint(i+1))
		g.Commit(fmt.Sprint("m", i))
	}
	dst := filepath.Join(t.TempDir(), "shallow")
	cmd := exec.Command("git", "clone", "-q", "--depth", "1", "--no-single-branch", "file://"+g.Dir, dst)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, dst, m.opts)
			a, err := r.ResolveRef("origin/main")
			if err != nil {
				t.Fatal(err)
			}
			b, err := r.ResolveRef("origin/feature")
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.MergeBase(context.Background(), a, b)
			var re *gitops.RefError
			if !errors.As(err, &re) || !re.Shallow {
				t.Fatalf("MergeBase across a shallow boundary: %v; want a shallow RefError", err)
			}
			want := fmt.Sprintf("the merge-base of %.12s and %.12s is not in the local history (their histories meet below where this shallow clone is cut off): fetch more history (git fetch --deepen=200", a, b)
			if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "merge-base(") {
				t.Errorf("error = %q; want it to start %q", err, want)
			}
		})
	}
}

// TestFirstParents: HEAD and its first parents, as git rev-list
// --first-parent -n lists them, through a merge (its first parent only),
// bounded by n and by a shallow clone's boundary.
func TestFirstParents(t *testing.T) {
	g := gittest.New(t)
	for i := 0; i < 3; i++ {
		g.Write("f", fmt.Sprint(i))
		g.Commit(fmt.Sprint("c", i))
	}
	g.Git("checkout", "-q", "-b", "side")
	g.Write("g", "side")
	g.Commit("side")
	g.Git("checkout", "-q", "main")
	g.Write("f", "3")
	g.Commit("c3")
	g.Git("merge", "-q", "--no-ff", "-m", "merge side", "side")
	g.Write("f", "4")
	g.Commit("c4")
	dst := filepath.Join(t.TempDir(), "shallow")
	if out, err := exec.Command("git", "clone", "-q", "--depth", "3", "file://"+g.Dir, dst).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			for _, dir := range []string{g.Dir, dst} {
				r := open(t, dir, m.opts)
				head, err := r.Head()
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range []int{1, 3, 100} {
					got, err := r.FirstParents(head, n)
					if err != nil {
						t.Fatalf("FirstParents(HEAD, %d) in %s: %v", n, dir, err)
					}
					want := strings.Fields(g.Git("-C", dir, "rev-list", "--first-parent", "-n", fmt.Sprint(n), "HEAD"))
					var ids []string
					for _, h := range got {
						ids = append(ids, h.String())
					}
					if !slices.Equal(ids, want) {
						t.Errorf("FirstParents(HEAD, %d) in %s = %v; git rev-list --first-parent says %v", n, dir, ids, want)
					}
				}
			}
		})
	}
}

// TestResolveHexNamedRef: a branch (or tag) named like a commit's short id
// resolves as git resolves it (the ref before an abbreviated id, a full
// 40-digit id before the ref), with or without suffixes, in both engines,
// and AmbiguousRef lists both names exactly when git warns "refname is
// ambiguous". git rev-parse itself is the oracle.
func TestResolveHexNamedRef(t *testing.T) {
	g := gittest.New(t)
	var c []gitops.Hash
	for i := 0; i < 4; i++ {
		g.Write("f.txt", fmt.Sprint(i))
		c = append(c, g.Commit(fmt.Sprint("c", i)))
	}
	short := c[3].String()[:7]
	g.Git("branch", short, c[1].String())          // a branch named like HEAD's short id
	g.Git("tag", c[2].String()[:9], c[0].String()) // a tag named like c2's id
	g.Git("branch", c[3].String(), c[0].String())  // a 40-hex branch (git resolves the id)
	g.Git("branch", "beef", c[0].String())         // hex, but no object starts with it (most likely)
	names := []string{short, short + "~0", short + "~1", short + "^", c[2].String()[:9], c[2].String()[:9] + "~0",
		c[3].String(), c[3].String() + "~1", "beef", "beef~0", c[1].String()[:8]}
	type answer struct {
		id        string
		ambiguous bool
	}
	want := map[string]answer{}
	for _, name := range names {
		cmd := exec.Command("git", "rev-parse", "--verify", name+"^{commit}")
		cmd.Dir, cmd.Env = g.Dir, gittest.Env()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git rev-parse %s: %v %s", name, err, stderr.String())
		}
		want[name] = answer{strings.TrimSpace(string(out)), strings.Contains(stderr.String(), "is ambiguous")}
	}
	if !want[short].ambiguous || want[short].id != c[1].String() || !want[c[3].String()].ambiguous || want[c[3].String()].id != c[3].String() {
		t.Fatalf("git's own answers are not what this test expects: %+v", want)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			for _, name := range names {
				h, err := r.ResolveRef(name)
				if err != nil || h.String() != want[name].id {
					t.Errorf("ResolveRef(%s) = %s, %v; git answers %s", name, h, err, want[name].id)
				}
				amb := r.AmbiguousRef(name)
				if (len(amb) > 0) != want[name].ambiguous {
					t.Errorf("AmbiguousRef(%s) = %q; git warns: %v", name, amb, want[name].ambiguous)
				}
				if len(amb) > 0 {
					suffix := name[strings.IndexAny(name+"~", "~^"):]
					if first := g.Git("rev-parse", amb[0]+suffix+"^{commit}"); first != want[name].id {
						t.Errorf("AmbiguousRef(%s) = %q: the first is not what git resolves, %s", name, amb, want[name].id)
					}
				}
			}
		})
	}
}

// TestResolveAmbiguousShortIDWithSuffix: an abbreviated id two commits
// start with is ambiguous with a suffix too (abc1~1), as git says ("short
// object ID abc1 is ambiguous"); go-git resolved it from whichever commit
// it met first, so changed --base abc1~1 compared against a commit chosen
// at random, in both engines (git's refusal made the git-binary path fall
// back to go-git's answer).
func TestResolveAmbiguousShortIDWithSuffix(t *testing.T) {
	g := gittest.New(t)
	g.Write("f.txt", "x")
	g.Commit("root")
	// Commits of the same tree, enough for two ids to share 4 digits.
	var stream strings.Builder
	for i := 0; i < 1500; i++ {
		fmt.Fprintf(&stream, "commit refs/heads/main\ncommitter T <t@example.com> %d +0000\ndata %d\nm%04d\n", 1700000000+i, 6, i)
		if i == 0 {
			stream.WriteString("from refs/heads/main^0\n")
		}
		stream.WriteString("M 100644 inline f.txt\ndata 1\nx\n\n")
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Env = g.Dir, gittest.Env()
	cmd.Stdin = strings.NewReader(stream.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fast-import: %v %s", err, out)
	}
	seen := map[string]string{}
	prefix := ""
	for _, id := range strings.Fields(g.Git("rev-list", "main")) {
		if _, ok := seen[id[:4]]; ok {
			prefix = id[:4]
			break
		}
		seen[id[:4]] = id
	}
	if prefix == "" {
		t.Fatal("no two commits share 4 digits")
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			for _, name := range []string{prefix, prefix + "~1", prefix + "^", prefix + "~0"} {
				h, err := r.ResolveRef(name)
				if err == nil || !strings.Contains(err.Error(), "abbreviated commit id is ambiguous: 2 commits start with it") {
					t.Errorf("ResolveRef(%s) = %s, %v; want ambiguous (as git says)", name, h, err)
				}
			}
			// The full id, and an unambiguous abbreviation, still resolve.
			full := seen[prefix]
			parent := g.Git("rev-parse", full+"~1")
			for _, name := range []string{full + "~1", full[:12] + "~1", strings.ToUpper(full[:12]) + "~1"} {
				if h, err := r.ResolveRef(name); err != nil || h.String() != parent {
					t.Errorf("ResolveRef(%s) = %s, %v; want %s", name, h, err, parent)
				}
			}
		})
	}
}

// TestDiffTreesOddPaths: git's diff read as it streams (-z) gives the
// in-process diff for paths with quotes, newlines, spaces and bytes that
// are not UTF-8, and a cancelled context is an error, not a short diff.
func TestDiffTreesOddPaths(t *testing.T) {
	g := gittest.New(t)
	odd := []string{"stacks/odd \"name\"\nx/stack.yaml", "stacks/sp ace/a b.yaml", "stacks/ord\xe9ers/stack.yaml", "stacks/tab\there.yaml"}
	for i, p := range odd {
		g.Write(p, fmt.Sprint("v: ", i, "\n"))
	}
	for i := range 300 {
		g.Write(fmt.Sprintf("stacks/s%03d/stack.yaml", i), fmt.Sprint("name: s", i, "\n"))
	}
	base := g.Commit("base")
	for i, p := range odd {
		g.Write(p, fmt.Sprint("v: ", i+1, "\n"))
	}
	for i := range 300 {
		g.Write(fmt.Sprintf("stacks/s%03d/stack.yaml", i), fmt.Sprint("name: s", i, "\nedited: true\n"))
	}
	head := g.Commit("head")
	ctx := context.Background()
	var diffs [][]gitops.Change
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		ch, err := r.ChangedPaths(ctx, base, head)
		if err != nil {
			t.Fatal(err)
		}
		if len(ch) != len(odd)+300 {
			t.Fatalf("%s: %d changes, want %d: %v", m.name, len(ch), len(odd)+300, describe(ch))
		}
		diffs = append(diffs, ch)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if ch, err := r.ChangedPaths(cctx, base, head); err == nil {
			t.Errorf("%s: a cancelled diff gave %d changes and no error", m.name, len(ch))
		}
	}
	if !reflect.DeepEqual(diffs[0], diffs[1]) {
		t.Fatalf("engines disagree:\n%v\n%v", describe(diffs[0]), describe(diffs[1]))
	}
}

// TestCatFileBrokenReply: a git on PATH whose cat-file answers one object
// and then garbage, and stops reading while it lives on. The batch falls
// back to go-git from the first blob not delivered (fn saw the delivered
// ones twice), the writer feeding the process does not stay blocked on
// its full input, and Close does not wait on the process. Both protocols.
func TestCatFileBrokenReply(t *testing.T) {
	realGit, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	g := gittest.New(t)
	var blobs []plumbing.Hash
	want := map[plumbing.Hash]string{}
	for i := 0; i < 3; i++ {
		content := fmt.Sprintf("blob %d\n", i)
		g.Write(fmt.Sprintf("f%d.txt", i), content)
		h := plumbing.NewHash(g.Git("hash-object", fmt.Sprintf("f%d.txt", i)))
		blobs = append(blobs, h)
		want[h] = content
	}
	g.Commit("blobs")
	// Enough requests to fill the pipe to the process and the writer's
	// buffer: its writer blocks unless the process is stopped.
	var hashes []plumbing.Hash
	for len(hashes) < 6000 {
		hashes = append(hashes, blobs...)
	}
	fake := t.TempDir()
	script := "#!/bin/sh\ncase \"$1\" in\ncat-file)\n" +
		"  read -r line\n  echo \"${line#contents }\" | '" + realGit + "' cat-file --batch\n" +
		"  echo 'fatal: not what you expect'\n  exec sleep 600\n  ;;\n" +
		"*) exec '" + realGit + "' \"$@\" ;;\nesac\n"
	if err := os.WriteFile(filepath.Join(fake, "git"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", fake+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain-batch=%v", plain), func(t *testing.T) {
			defer gitops.SetPlainBatch(plain)()
			repo, err := gitops.Open(g.Dir, gitops.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !repo.UsesGitBinary() {
				t.Fatal("the fake git is not in use")
			}
			var got []plumbing.Hash
			err = repo.Blobs(hashes, func(h plumbing.Hash, b []byte) error {
				if string(b) != want[h] {
					return fmt.Errorf("blob %s: %q, want %q", h, b, want[h])
				}
				got = append(got, h)
				return nil
			})
			if err != nil {
				t.Fatalf("Blobs: %v", err)
			}
			if !slices.Equal(got, hashes) {
				t.Errorf("fn saw %d blobs, want the %d asked for, each once and in order", len(got), len(hashes))
			}
			// A single read after the break goes to go-git too.
			if b, err := repo.Blob(blobs[1]); err != nil || string(b) != want[blobs[1]] {
				t.Errorf("Blob after the break: %q, %v", b, err)
			}
			buf := make([]byte, 1<<20)
			if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "readPart") {
				t.Errorf("a cat-file writer outlived the batch:\n%s", stacks)
			}
			closed := make(chan error, 1)
			go func() { closed <- repo.Close() }()
			select {
			case err := <-closed:
				if err != nil {
					t.Errorf("Close: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Close still waits on the stopped cat-file process after 30 s")
			}
		})
	}
}

// TestFullRefName: the full name a short ref name stands for is the one
// git picks (git rev-parse --symbolic-full-name is the oracle): a tag is
// refs/tags/..., a branch refs/heads/..., a tag before a branch of the
// same name, and a commit id or an unknown name is no ref ("").
func TestFullRefName(t *testing.T) {
	g := gittest.New(t)
	g.Write("f.txt", "x")
	c := g.Commit("one")
	g.Git("tag", "v1")
	g.Git("tag", "-a", "-m", "annotated", "v2")
	g.Git("branch", "both")
	g.Git("tag", "both")
	g.Git("update-ref", "refs/remotes/origin/dev", c.String())
	names := []string{"v1", "v2", "main", "both", "origin/dev", "refs/tags/v1", "refs/heads/main", c.String(), c.String()[:9], "gone"}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			for _, name := range names {
				cmd := exec.Command("git", "rev-parse", "--symbolic-full-name", name)
				cmd.Dir, cmd.Env = g.Dir, gittest.Env()
				out, err := cmd.Output()
				want := strings.TrimSpace(string(out))
				if err != nil {
					want = "" // an unknown name is echoed, with an error
				}
				if name == "both" {
					// git warns "refname is ambiguous", prints no full name,
					// and resolves the tag (refRules' order).
					want = "refs/tags/both"
				}
				if got := r.FullRefName(name); got != want {
					t.Errorf("FullRefName(%s) = %q; git says %q", name, got, want)
				}
			}
		})
	}
}

// TestPrefetchDiffs: after PrefetchDiffs over a first-parent history, the
// comparisons of each commit with its parent under a folder are what they
// are without it (folders added, removed, or changed a level down; a file
// where a folder was), in both modes.
func TestPrefetchDiffs(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/x/stack.yaml", "a1")
	g.Write("stacks/b/y/stack.yaml", "b1")
	g.Write("other/z", "z1")
	g.Commit("c1")
	g.Write("stacks/a/x/stack.yaml", "a2")
	g.Commit("c2")
	g.Write("other/z", "z2")
	g.Commit("c3")
	g.Write("stacks/c/w/stack.yaml", "c1")
	g.Remove("stacks/b/y/stack.yaml")
	g.Commit("c4")
	g.Remove("stacks/a/x/stack.yaml")
	g.Write("stacks/a/x", "now a file")
	g.Commit("c5")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			plain := open(t, g.Dir, m.opts)
			r := open(t, g.Dir, m.opts)
			head, err := r.Head()
			if err != nil {
				t.Fatal(err)
			}
			cs, err := r.FirstParents(head, 10)
			if err != nil || len(cs) != 5 {
				t.Fatalf("FirstParents = %v, %v", cs, err)
			}
			trees := make([]gitops.Hash, len(cs))
			for i, c := range cs {
				if trees[i], err = r.CommitTree(c); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.PrefetchDiffs(context.Background(), trees, "stacks"); err != nil {
				t.Fatal(err)
			}
			var n int
			for i := 0; i+1 < len(trees); i++ {
				got, err := r.DiffPath(context.Background(), trees[i+1], trees[i], "stacks")
				if err != nil {
					t.Fatal(err)
				}
				want, err := plain.DiffPath(context.Background(), trees[i+1], trees[i], "stacks")
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("step %d: after PrefetchDiffs %v, without %v", i, got, want)
				}
				n += len(got)
			}
			if n != 5 { // c2 one, c3 none (outside), c4 two, c5 two (a file for a folder)
				t.Errorf("%d changes in all, want 5", n)
			}
		})
	}
}
