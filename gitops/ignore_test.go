package gitops_test

import (
	"fmt"
	"io/fs"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/stacks"
)

// TestIgnores: a path is ignored exactly when `git check-ignore` says so —
// untracked and matched by a .gitignore on its way (negations, folder-only
// rules, anchored rules), info/exclude, or below an ignored folder; a
// tracked (force-added) file, or a folder holding one, is not.
func TestIgnores(t *testing.T) {
	g := gittest.New(t)
	g.Write(".gitignore", "/build/\n*.local.yaml\n!keep.local.yaml\n")
	g.Write("stacks/a/.gitignore", "tmp/\nsecret*\n")
	g.Write("stacks/a/stack.yaml", "a")
	g.Write("stacks/a-b/stack.yaml", "a-b") // sorts between "stacks/a" and "stacks/a/"
	g.WriteFile("stacks/a/forced.local.yaml", "x")
	g.Git("add", "-f", "stacks/a/forced.local.yaml")
	g.WriteFile("build/keep/x.yaml", "x")
	g.Git("add", "-f", "build/keep/x.yaml")
	g.Commit("base")
	g.WriteFile(".git/info/exclude", "excluded.yaml\n")
	untracked := []string{
		"stacks/a/x.local.yaml", "stacks/a/keep.local.yaml", "stacks/a/tmp/y.yaml", "stacks/a/sub/tmp/z.yaml",
		"stacks/a/tmp.yaml", "stacks/a/secret.yaml", "stacks/a-b/secret.yaml", "stacks/a/excluded.yaml",
		"build/new.yaml", "build/keep/new.yaml", "stacks/build/x.yaml", "stacks/a/ok.yaml",
	}
	for _, p := range untracked {
		g.WriteFile(p, "x")
	}
	paths := append([]string{"stacks/a/forced.local.yaml", "build/keep/x.yaml", "stacks/a/stack.yaml"}, untracked...)
	dirs := []string{"build", "build/keep", "stacks/a/tmp", "stacks/a/sub/tmp", "stacks/a", "stacks/build"}
	want := map[string]bool{}
	cmd := exec.Command("git", append([]string{"check-ignore", "--"}, append(paths, dirs...)...)...)
	cmd.Dir = g.Dir
	out, _ := cmd.Output() // exit 1 when none is ignored
	for _, p := range strings.Fields(string(out)) {
		want[p] = true
	}
	if len(want) < 8 {
		t.Fatalf("git check-ignore ignores only %v", want)
	}
	for _, m := range modes {
		ig := open(t, g.Dir, m.opts).Ignores()
		for _, p := range paths {
			if got := ig.Ignored(p, false); got != want[p] {
				t.Errorf("%s: Ignored(%s) = %v, git check-ignore says %v", m.name, p, got, want[p])
			}
		}
		for _, d := range dirs {
			if got := ig.Ignored(d, true); got != want[d] {
				t.Errorf("%s: Ignored(%s/) = %v, git check-ignore says %v", m.name, d, got, want[d])
			}
		}
		if h := ig.Hidden(); len(h) != len(want) || !slices.Contains(h, "stacks/a/tmp/") || !slices.Contains(h, "stacks/a/secret.yaml") {
			t.Errorf("%s: Hidden() = %v, want the %d ignored paths, folders with a trailing /", m.name, h, len(want))
		}
	}
}

// TestIgnoresNestedRepository: an untracked folder holding a .git (a
// repository of its own inside this one) is left out with all it holds,
// as git status shows one untracked folder and git add adds none of its
// files; Nested names it. A submodule (a gitlink the index records) and a
// plain untracked folder are not.
func TestIgnoresNestedRepository(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "a")
	g.Commit("base")
	sub := gittest.New(t)
	sub.Write("stack.yaml", "s")
	sub.Commit("sub")
	g.Git("-c", "protocol.file.allow=always", "submodule", "add", "-q", sub.Dir, "stacks/sub")
	g.WriteFile("stacks/other/stack.yaml", "o")
	g.WriteFile("stacks/other/.git", "gitdir: /nowhere\n")
	g.WriteFile("stacks/plain/stack.yaml", "p")
	for _, m := range modes {
		ig := open(t, g.Dir, m.opts).Ignores()
		for _, c := range []struct {
			name  string
			isDir bool
			want  bool
		}{
			{"stacks/other", true, true}, {"stacks/other/stack.yaml", false, true},
			{"stacks/sub", true, false}, {"stacks/plain", true, false}, {"stacks/plain/stack.yaml", false, false},
			{"stacks/a", true, false},
		} {
			if got := ig.Ignored(c.name, c.isDir); got != c.want {
				t.Errorf("%s: Ignored(%s) = %v, want %v", m.name, c.name, got, c.want)
			}
		}
		if n, h := ig.Nested(), ig.Hidden(); !slices.Equal(n, []string{"stacks/other/"}) || len(h) != 0 {
			t.Errorf("%s: Nested() = %v, Hidden() = %v; want [stacks/other/] and none", m.name, n, h)
		}
		// The submodule is read, and named, as no commit of this
		// repository holds its files.
		if !ig.Ignored("stacks/sub/stack.yaml", false) {
			if s := ig.Submodules(); !slices.Equal(s, []string{"stacks/sub/"}) {
				t.Errorf("%s: Submodules() = %v, want [stacks/sub/]", m.name, s)
			}
		} else {
			t.Errorf("%s: Ignored(stacks/sub/stack.yaml) = true, want false", m.name)
		}
	}
}

// TestIgnoresListing: a work tree walked through stacks.DirFSHiding, which
// tells Ignores each folder's listing (so it need not look for a .git or
// a .gitignore in every folder on disk), holds exactly the files git
// holds or would add: `git ls-files --cached --others --exclude-standard`
// — whatever the order in which folders are listed and asked about, with
// .gitignore files in folders listed and in folders not yet listed, a
// nested repository in an untracked folder and one below a tracked
// folder (left out), and a submodule (whose files are read).
func TestIgnoresListing(t *testing.T) {
	g := gittest.New(t)
	g.Write(".gitignore", "*.local.yaml\n")
	g.Write("stacks/a/stack.yaml", "a")
	g.Write("stacks/a/.gitignore", "tmp/\nsecret*\n")
	g.Write("stacks/a/services/api/service.yaml", "s")
	g.Write("stacks/a/services/api/.gitignore", "draft.yaml\n")
	g.Write("stacks/b/stack.yaml", "b")
	g.Commit("base")
	sub := gittest.New(t)
	sub.Write("stack.yaml", "s")
	sub.Commit("sub")
	g.Git("-c", "protocol.file.allow=always", "submodule", "add", "-q", sub.Dir, "stacks/sub")
	g.Commit("submodule")
	for _, p := range []string{
		"stacks/a/x.local.yaml", "stacks/a/tmp/y.yaml", "stacks/a/secret.yaml", "stacks/a/services/api/draft.yaml",
		"stacks/a/services/api/keep.yaml", "stacks/b/new/z.yaml", "stacks/c/stack.yaml",
		"stacks/nested/stack.yaml", "stacks/a/services/inner/stack.yaml",
	} {
		g.WriteFile(p, "x")
	}
	g.WriteFile("stacks/nested/.git", "gitdir: /nowhere\n")
	g.WriteFile("stacks/a/services/inner/.git", "gitdir: /nowhere\n")
	// The .git files point nowhere, so git lists what those folders
	// hold: panka leaves out any untracked folder holding a .git (see
	// TestIgnoresNestedRepository).
	nested := func(p string) bool {
		return strings.HasPrefix(p, "stacks/nested/") || strings.HasPrefix(p, "stacks/a/services/inner/")
	}
	want := []string{"stacks/sub/stack.yaml"}
	for _, p := range strings.Split(g.Git("ls-files", "--cached", "--others", "--exclude-standard"), "\n") {
		if p != "" && !strings.HasSuffix(p, "/") && p != "stacks/sub" && !nested(p) {
			want = append(want, p)
		}
	}
	slices.Sort(want)
	for _, m := range modes {
		for _, warm := range []bool{false, true} {
			ig := open(t, g.Dir, m.opts).Ignores()
			if warm {
				// Asked about before any listing: the answers
				// Ignored caches must not differ.
				ig.Ignored("stacks/a/services", true)
				ig.Ignored("stacks/a/services/api/keep.yaml", false)
			}
			var got []string
			err := fs.WalkDir(stacks.DirFSHiding(g.Dir, ig), ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.Name() == ".git" {
					if d.IsDir() {
						return fs.SkipDir
					}
					return nil
				}
				if !d.IsDir() {
					got = append(got, p)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s: walk: %v", m.name, err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s (warm %v): walk found\n%v\ngit holds\n%v", m.name, warm, got, want)
			}
			if n := ig.Nested(); !slices.Equal(n, []string{"stacks/a/services/inner/", "stacks/nested/"}) {
				t.Errorf("%s (warm %v): Nested() = %v", m.name, warm, n)
			}
			if s := ig.Submodules(); !slices.Equal(s, []string{"stacks/sub/"}) {
				t.Errorf("%s (warm %v): Submodules() = %v", m.name, warm, s)
			}
		}
	}
}

// TestIgnoresFolderShortcut: Ignored answers alike whether it asked the
// index about tracked folders (after many folders, a listing of the whole
// work tree) or looked for a .git in each (the first few, a one-stack
// command): a tracked folder, one holding a .git, a submodule, an
// untracked nested repository, an ignored folder holding a tracked file.
func TestIgnoresFolderShortcut(t *testing.T) {
	g := gittest.New(t)
	g.Write(".gitignore", "/ignored/\n")
	g.Write("stacks/a/stack.yaml", "a")
	g.WriteFile("ignored/kept/x.yaml", "x")
	g.Git("add", "-f", "ignored/kept/x.yaml")
	for i := 0; i < 70; i++ {
		g.Write(fmt.Sprintf("pad/%02d/x.yaml", i), "x")
	}
	g.Commit("base")
	sub := gittest.New(t)
	sub.Write("stack.yaml", "s")
	sub.Commit("sub")
	g.Git("-c", "protocol.file.allow=always", "submodule", "add", "-q", sub.Dir, "stacks/sub")
	g.WriteFile("stacks/a/.git", "gitdir: /nowhere\n") // a tracked folder holding a .git
	g.WriteFile("stacks/other/stack.yaml", "o")
	g.WriteFile("stacks/other/.git", "gitdir: /nowhere\n")
	g.WriteFile("ignored/new/y.yaml", "y")
	asks := []struct {
		name  string
		isDir bool
	}{
		{"stacks/a", true}, {"stacks/a/stack.yaml", false}, {"stacks/sub", true}, {"stacks/sub/stack.yaml", false},
		{"stacks/other", true}, {"stacks/other/stack.yaml", false}, {"ignored/kept", true}, {"ignored/new", true},
		{"ignored/kept/x.yaml", false}, {"stacks", true},
	}
	for _, m := range modes {
		var answers [2][]bool
		for i, warm := range []bool{false, true} {
			ig := open(t, g.Dir, m.opts).Ignores()
			if warm {
				for j := 0; j < 70; j++ {
					ig.Ignored(fmt.Sprintf("pad/%02d", j), true)
				}
			}
			for _, a := range asks {
				answers[i] = append(answers[i], ig.Ignored(a.name, a.isDir))
			}
			if n := ig.Nested(); !slices.Equal(n, []string{"stacks/other/"}) {
				t.Errorf("%s (index read first: %v): Nested() = %v", m.name, warm, n)
			}
		}
		if !slices.Equal(answers[0], answers[1]) {
			t.Errorf("%s: answers %v without the index, %v with it", m.name, answers[0], answers[1])
		}
		if answers[0][0] || !answers[0][4] || answers[0][6] || !answers[0][7] {
			t.Errorf("%s: answers %v (asked %v)", m.name, answers[0], asks)
		}
	}
}
