package gitops_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/gittest"
)

// TestReadsAfterConcurrentRepack: a `git gc` (auto gc after a commit, a
// fetch, a repack by an IDE) may replace the packs while panka runs.
// Objects read afterwards must still be found — not reported as missing
// from the local history nor fail with "packfile not found".
func TestReadsAfterConcurrentRepack(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			g := gittest.New(t)
			var commits []gitops.Hash
			for i, name := range []string{"a.txt", "b.txt", "c.txt"} {
				g.Write(name, name+" "+string(rune('0'+i)))
				commits = append(commits, g.Commit("add "+name))
			}
			g.Git("gc", "-q", "--prune=now")
			before := packs(t, g.Dir)

			r := open(t, g.Dir, m.opts)
			// Load go-git's view of the packs.
			if _, err := r.Commit(commits[0]); err != nil {
				t.Fatal(err)
			}

			// Another process commits and repacks: the pack just read is
			// replaced by a new one and loose objects are pruned.
			g.Write("d.txt", "d")
			commits = append(commits, g.Commit("add d.txt"))
			g.Git("gc", "-q", "--prune=now")
			if after := packs(t, g.Dir); len(after) != 1 || after[0] == before[0] {
				t.Fatalf("gc did not replace the pack: %v, then %v", before, after)
			}

			for _, c := range commits[1:] {
				if _, err := r.Commit(c); err != nil {
					t.Errorf("read commit %s after the repack: %v", c, err)
				}
			}
			if h, err := r.ResolveRef(commits[3].String()); err != nil || h != commits[3] {
				t.Errorf("resolve the new commit after the repack: %v, %v", h, err)
			}
			if mb, err := r.MergeBase(context.Background(), commits[1], commits[3]); err != nil || mb != commits[1] {
				t.Errorf("merge-base after the repack: %v, %v", mb, err)
			}
			tree, err := r.CommitTree(commits[2])
			if err != nil {
				t.Fatalf("tree of %s after the repack: %v", commits[2], err)
			}
			b, err := fs.ReadFile(r.TreeFSOf(tree), "c.txt")
			if err != nil || string(b) != "c.txt 2" {
				t.Errorf("read c.txt after the repack: %q, %v", b, err)
			}
		})
	}
}

func packs(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
