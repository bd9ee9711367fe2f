package changes_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/gitops/gittest"
)

// TestWatchedChanges: the files spec.watch globs match that differ between
// a deployed commit and a later one, as changed gives them: a watched
// file, a file added to or renamed out of a watched folder, a file a glob
// that starts with a pattern matches (compared over the whole tree), and
// not the unwatched files next to them, the stack's own files, or a file
// changed and changed back. Both engines.
func TestWatchedChanges(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/shop/stack.yaml", "a")
	g.Write("shared/policies/p.json", "{}")
	g.Write("shared/policies/old.json", "{}")
	g.Write("shared/README.md", "x")
	g.Write("config/global.yaml", "g")
	deployed := g.Commit("deployed")
	g.Write("stacks/shop/stack.yaml", "b")
	g.Write("shared/README.md", "y")
	g.Write("config/other.yaml", "o")
	unwatched := g.Commit("unwatched files only")
	g.Write("config/global.yaml", "g2")
	g.Write("shared/policies/q.json", "{}")
	g.Move("shared/policies/old.json", "archive/old.json")
	g.Write("deep/down/alerts.yaml", "a")
	watched := g.Commit("watched files")
	g.Write("config/global.yaml", "g")
	g.Remove("shared/policies/q.json")
	g.Move("archive/old.json", "shared/policies/old.json")
	g.Remove("deep/down/alerts.yaml")
	back := g.Commit("changed back")

	watch := []string{"shared/policies/**", "config/global.yaml", "**/alerts.yaml"}
	for _, m := range modes {
		repo, err := gitops.Open(g.Dir, m.opts)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		for _, tc := range []struct {
			name  string
			base  plumbing.Hash
			head  plumbing.Hash
			watch []string
			want  []changes.Reason
		}{
			{"same commit", deployed, deployed, watch, nil},
			{"no globs", deployed, watched, nil, nil},
			{"unwatched files only", deployed, unwatched, watch, nil},
			{"changed and changed back", deployed, back, watch, nil},
			{"watched files", deployed, watched, watch, []changes.Reason{
				{File: "archive/old.json", Detail: `renamed from shared/policies/old.json; matches spec.watch "shared/policies/**"`},
				{File: "config/global.yaml", Detail: `modified; matches spec.watch "config/global.yaml"`},
				{File: "deep/down/alerts.yaml", Detail: `added; matches spec.watch "**/alerts.yaml"`},
				{File: "shared/policies/q.json", Detail: `added; matches spec.watch "shared/policies/**"`},
			}},
			{"literal folders only", unwatched, watched, []string{"config/global.yaml"}, []changes.Reason{
				{File: "config/global.yaml", Detail: `modified; matches spec.watch "config/global.yaml"`},
			}},
		} {
			got, err := changes.WatchedChanges(context.Background(), repo, tc.base, tc.head, tc.watch)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: %s: %+v, %v; want %+v", m.name, tc.name, got, err, tc.want)
			}
		}
		// A deployed commit the clone does not have is an error that says
		// so, never "nothing watched changed".
		missing := plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")
		_, err = changes.WatchedChanges(context.Background(), repo, missing, watched, watch)
		var re *gitops.RefError
		if !errors.As(err, &re) || !re.Missing {
			t.Errorf("%s: missing deployed commit: %v, want a RefError that says it is missing", m.name, err)
		}
	}
}
