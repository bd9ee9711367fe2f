package changes

import (
	"context"
	"path"
	"strings"

	"panka.dev/panka/gitops"
)

// Touches tells which commits changed one stack: a file in its folder, or
// a file that one of its spec.watch globs matches. It compares trees at
// those paths only (the stack's folder, and the folder each glob starts
// with), so a commit that changed nothing there costs a few tree reads,
// not a diff of the commit, and never a path-filtered log.
type Touches struct {
	repo  *gitops.Repo
	dir   string
	globs []glob
	// dirs are the paths the globs' matches lie in; whole is set when a
	// glob starts with a pattern (**/x), whose matches can be anywhere.
	dirs  []string
	whole bool
}

// NewTouches returns the Touches of the stack in folder dir (repo-relative)
// with the spec.watch globs watch.
func NewTouches(repo *gitops.Repo, dir string, watch []string) *Touches {
	t := &Touches{repo: repo, dir: path.Clean(dir)}
	for _, w := range watch {
		t.globs = append(t.globs, compileGlob(w))
		d := watchDir(w)
		switch {
		case d == "":
			t.whole = true
		case d == t.dir || strings.HasPrefix(d, t.dir+"/"):
			// in the stack's folder: compared with it
		default:
			t.dirs = append(t.dirs, d)
		}
	}
	return t
}

// Paths are the repo-relative paths Changed compares (for a prefetch of
// the trees on the way to them); a glob that starts with a pattern makes
// it compare whole trees as well.
func (t *Touches) Paths() []string {
	return append([]string{t.dir}, t.dirs...)
}

// Changed reports whether a commit whose tree is tree changed the stack
// against parentTree (its first parent's tree; ZeroHash, the empty tree,
// for a root commit).
func (t *Touches) Changed(ctx context.Context, parentTree, tree gitops.Hash) (bool, error) {
	if parentTree == tree {
		return false, nil
	}
	cs, err := t.repo.DiffPath(ctx, parentTree, tree, t.dir)
	if err != nil || len(cs) > 0 {
		return len(cs) > 0, err
	}
	if len(t.globs) == 0 {
		return false, nil
	}
	if t.whole {
		cs, err := t.repo.DiffPath(ctx, parentTree, tree, "")
		return t.watched(cs), err
	}
	for _, d := range t.dirs {
		cs, err := t.repo.DiffPath(ctx, parentTree, tree, d)
		if err != nil {
			return false, err
		}
		if t.watched(cs) {
			return true, nil
		}
	}
	return false, nil
}

// watched reports whether one of cs (either side of a rename) is a file
// the stack's watch globs match.
func (t *Touches) watched(cs []gitops.Change) bool {
	for _, c := range cs {
		for _, g := range t.globs {
			if g.match(c.Path) || (c.OldPath != "" && g.match(c.OldPath)) {
				return true
			}
		}
	}
	return false
}
