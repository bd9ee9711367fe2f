package changes_test

import (
	"context"
	"testing"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/gitops/gittest"
)

// TestTouches: which commits changed a stack, against their first parent:
// its folder, a watched folder, a watched file, and a glob that starts
// with a pattern (compared over the whole tree); a rename out of a watched
// folder counts; other files do not. Both engines.
func TestTouches(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/shop/stack.yaml", "a")
	g.Write("shared/policies/p.json", "{}")
	g.Write("shared/README.md", "x")
	root := g.Commit("root")
	type step struct {
		name string
		edit func()
		want bool
	}
	steps := []step{
		{"stack file", func() { g.Write("stacks/shop/stack.yaml", "b") }, true},
		{"other stack", func() { g.Write("stacks/other/stack.yaml", "x") }, false},
		{"watched folder", func() { g.Write("shared/policies/q.json", "{}") }, true},
		{"unwatched file next to it", func() { g.Write("shared/README.md", "y") }, false},
		{"watched file", func() { g.Write("config/global.yaml", "g") }, true},
		{"file matched by **", func() { g.Write("deep/down/alerts.yaml", "a") }, true},
		{"renamed out of a watched folder", func() { g.Move("shared/policies/q.json", "archive/q.json") }, true},
		{"empty commit", func() {}, false},
	}
	var commits []gitops.Hash
	for _, s := range steps {
		s.edit()
		commits = append(commits, g.Commit(s.name))
	}
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		touches := changes.NewTouches(repo, "stacks/shop", []string{"shared/policies/**", "config/global.yaml", "**/alerts.yaml"})
		parent, err := repo.CommitTree(root)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := touches.Changed(context.Background(), gitops.ZeroHash, parent); err != nil || !got {
			t.Errorf("%s: root commit against the empty tree: %v, %v; want true", m.name, got, err)
		}
		for i, s := range steps {
			tree, err := repo.CommitTree(commits[i])
			if err != nil {
				t.Fatal(err)
			}
			got, err := touches.Changed(context.Background(), parent, tree)
			if err != nil || got != s.want {
				t.Errorf("%s: %s: %v, %v; want %v", m.name, s.name, got, err, s.want)
			}
			parent = tree
		}
		repo.Close()
	}
}
