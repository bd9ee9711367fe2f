package changes

import (
	"context"
	"path"
	"strings"

	"panka.dev/panka/gitops"
	"panka.dev/panka/stacks"
)

// Touches tells which commits changed one stack: a file in its folder, or
// a file that one of its spec.watch globs matches. It compares trees at
// those paths only (the stack's folder, and the folder each glob starts
// with), so a commit that changed nothing there costs a few tree reads,
// not a diff of the commit, and never a path-filtered log.
type Touches struct {
	repo  *gitops.Repo
	dir   string
	watch []string
	globs []glob
	// dirs are the paths the globs' matches lie in; whole is set when a
	// glob starts with a pattern (**/x), whose matches can be anywhere.
	dirs  []string
	whole bool
}

// NewTouches returns the Touches of the stack in folder dir (repo-relative)
// with the spec.watch globs watch.
func NewTouches(repo *gitops.Repo, dir string, watch []string) *Touches {
	t := &Touches{repo: repo, dir: path.Clean(dir), watch: watch}
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

// Dir is the stack folder t compares.
func (t *Touches) Dir() string { return t.dir }

// Before returns the Touches of the stack as it was before a commit
// (whose tree is tree; parentTree its first parent's, ZeroHash for none)
// that moved it into t's folder: the folder whose stack.yaml the commit
// deleted (or renamed) giving the name t's stack.yaml gives in tree, so
// the commits before the move are compared where the stack was then, as
// git log --follow follows a file. It returns t when the commit did not
// bring the stack into its folder, or when it came from no other folder
// (created there).
func (t *Touches) Before(ctx context.Context, parentTree, tree gitops.Hash) (*Touches, error) {
	file := path.Join(t.dir, stacks.StackFile)
	if parentTree.IsZero() {
		return t, nil
	}
	if _, err := t.repo.PathEntry(parentTree, file); err == nil {
		return t, nil
	}
	now, err := t.repo.PathEntry(tree, file)
	if err != nil {
		return t, nil
	}
	name, err := t.nameIn(t.dir, now.Hash)
	if err != nil || name == "" {
		return t, err
	}
	cs, err := t.repo.DiffPath(ctx, parentTree, tree, "")
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		old := c.OldPath
		if c.Action == gitops.Deleted {
			old = c.Path
		}
		if old == "" || old == file || path.Base(old) != stacks.StackFile {
			continue
		}
		if n, err := t.nameIn(path.Dir(old), c.OldHash); err != nil {
			return nil, err
		} else if n == name {
			return NewTouches(t.repo, path.Dir(old), t.watch), nil
		}
	}
	return t, nil
}

// nameIn is the metadata.name of the stack.yaml blob h of folder dir (""
// when it gives none).
func (t *Touches) nameIn(dir string, h gitops.Hash) (string, error) {
	b, err := stackFileBlob(t.repo, h)
	if err != nil {
		return "", err
	}
	if n := stacks.QuickName(b); n != "" {
		return n, nil
	}
	if hd, err := stacks.ParseHeader(dir, b); err == nil {
		return hd.Name, nil
	}
	return "", nil
}
