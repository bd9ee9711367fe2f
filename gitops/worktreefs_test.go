package gitops_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"panka.dev/panka/gitops/gittest"
)

// TestWorktreeFS: the work tree of a sparse checkout reads as git sees it —
// the files outside the cone (skip-worktree; folders of a sparse index)
// and those marked assume-unchanged as indexed, the rest from disk — and
// is a consistent fs.FS (fstest.TestFS).
func TestWorktreeFS(t *testing.T) {
	src := gittest.New(t)
	src.Write("stacks/a/stack.yaml", "a")
	src.Write("stacks/a/env/dev.yaml", "a dev")
	src.Write("stacks/b/stack.yaml", "b")
	src.Write("stacks/b/env/dev.yaml", "b dev")
	src.Write("top.txt", "top")
	src.Commit("base")
	for _, sparseIndex := range []string{"--no-sparse-index", "--sparse-index"} {
		t.Run(sparseIndex, func(t *testing.T) {
			g := &gittest.Repo{T: t, Dir: filepath.Join(t.TempDir(), "sparse")}
			src.Git("clone", "-q", src.Dir, g.Dir)
			g.Git("sparse-checkout", "set", "--cone", sparseIndex, "stacks/a")
			g.Git("update-index", "--assume-unchanged", "stacks/a/stack.yaml")
			g.WriteFile("stacks/a/stack.yaml", "edited, assumed unchanged")
			g.WriteFile("stacks/a/env/prod.yaml", "untracked")
			g.WriteFile("stacks/b/env/new.yaml", "untracked outside the cone")
			if g.Exists("stacks/b/stack.yaml") {
				t.Fatal("stacks/b is checked out")
			}
			for _, m := range modes {
				fsys, err := open(t, g.Dir, m.opts).WorktreeFS(os.DirFS(g.Dir))
				if err != nil {
					t.Fatalf("%s: %v", m.name, err)
				}
				for p, want := range map[string]string{
					"stacks/a/stack.yaml": "a", "stacks/a/env/dev.yaml": "a dev", "stacks/a/env/prod.yaml": "untracked",
					"stacks/b/stack.yaml": "b", "stacks/b/env/dev.yaml": "b dev", "stacks/b/env/new.yaml": "untracked outside the cone",
					"top.txt": "top",
				} {
					if got, err := fs.ReadFile(fsys, p); err != nil || string(got) != want {
						t.Errorf("%s: %s = %q, %v; want %q", m.name, p, got, err, want)
					}
				}
				if err := fstest.TestFS(fsys, "stacks/a/env/prod.yaml", "stacks/b/stack.yaml", "stacks/b/env/dev.yaml", "stacks/b/env/new.yaml", "top.txt"); err != nil {
					t.Errorf("%s: %v", m.name, err)
				}
			}
		})
	}
}
