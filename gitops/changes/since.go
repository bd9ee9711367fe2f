package changes

import (
	"context"
	"path"
	"strings"

	"panka.dev/panka/gitops"
	"panka.dev/panka/stacks"
)

// sinceResult is what sinceEach answered per deployed commit, and what it
// left to a whole comparison (rest: stack -> environments).
type sinceResult struct {
	stacks   map[string][]*Stack
	problems map[string][]error
	rest     map[string]map[string]map[string]bool
}

// sinceItem is one stack of a deployed group.
type sinceItem struct {
	commit    string
	base      *side
	name, dir string
	envs      map[string]bool
	files     []gitops.Change
	watched   []Reason
	folders   [2]gitops.Hash // the folder's trees at base and head, when it changed
	st        *Stack
	probs     []error
	err       error
	whole     bool // left to the whole comparison
}

// sinceEach compares each deployed stack on its own where that gives what
// a whole comparison of its deployed commit with head would: the stack
// lies in the same folder at both (a stack there, not inside another, with
// the same name, which no other folder uses at head), and its
// spec.watch globs each have a literal folder. Then only that folder and
// the watched folders are compared, so a repository deployed
// continuously (a different deployed commit for almost every stack) costs
// a few tree reads per stack, not a whole-repository diff per commit.
// Anything else (a stack moved, renamed, broken) is left to compare.
func (e *engine) sinceEach(ctx context.Context, head *side, hix *stackIndex, wt []string, groups map[string]map[string]map[string]bool, bases map[string]*side, dirOf map[string]string) (*sinceResult, error) {
	res := &sinceResult{stacks: map[string][]*Stack{}, problems: map[string][]error{}, rest: map[string]map[string]map[string]bool{}}
	if e.opts.wholeSince {
		res.rest = groups
		return res, nil
	}
	var items []*sinceItem
	for _, c := range sortedKeys(groups) {
		for _, name := range sortedKeys(groups[c]) {
			it := &sinceItem{commit: c, base: bases[c], name: name, dir: dirOf[name], envs: groups[c][name]}
			// Deployed but gone at head: only a whole comparison finds where it went.
			it.whole = it.dir == ""
			items = append(items, it)
		}
	}
	// The trees on the way to the stack folders, their parents (a stack
	// above them) and the watched paths, for every deployed commit, in a few
	// pipelined batches.
	roots := make([]gitops.Hash, len(items))
	paths := make([][]string, len(items))
	for i, it := range items {
		if it.whole {
			continue
		}
		roots[i] = it.base.tree
		paths[i] = append(paths[i], it.dir)
		for _, w := range hix.Stacks[it.dir].Watch {
			paths[i] = append(paths[i], watchAnchor(w))
		}
	}
	_ = e.repo.PrefetchPaths(ctx, roots, paths)

	headTree := e.repo.TreeFSOf(head.tree) // HEAD's, under a work tree
	// The folders that differ are compared file by file and loaded at both
	// commits: read them (trees and files) in one batch too.
	var differ []gitops.Hash
	for _, it := range items {
		if it.whole {
			continue
		}
		be, berr := e.repo.PathEntry(it.base.tree, it.dir)
		he, herr := e.repo.PathEntry(head.tree, it.dir)
		if berr == nil && herr == nil && be.Hash != he.Hash {
			differ = append(differ, be.Hash, he.Hash)
		}
	}
	_ = e.repo.Prefetch(ctx, differ, nil)
	e.parallel(len(items), func(i int) {
		it := items[i]
		if it.whole || ctx.Err() != nil {
			return
		}
		it.whole, it.err = e.sinceDiff(ctx, it, head, headTree, hix.Stacks[it.dir], wt)
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The changed stacks are loaded at their deployed commit and at head:
	// read their folders in one batch, then compare them.
	var changed []*sinceItem
	var folders []gitops.Hash
	for _, it := range items {
		if !it.whole && it.err == nil && (len(it.files) > 0 || len(it.watched) > 0) {
			changed = append(changed, it)
			folders = append(folders, it.folders[:]...)
		}
	}
	_ = e.repo.Prefetch(ctx, folders, nil)
	e.parallel(len(changed), func(i int) {
		it := changed[i]
		bh, berr := e.header(it.base, it.dir)
		hh, herr := e.header(head, it.dir)
		if berr != nil || herr != nil || bh == nil || hh == nil || bh.Name != it.name || hh.Name != it.name {
			it.whole = true // renamed or broken: compare classifies it
			return
		}
		id := &ident{name: it.name, baseDir: it.dir, headDir: it.dir, bh: bh, hh: hh, files: it.files, watched: it.watched}
		it.st, it.probs = e.stackChange(it.base, head, id, it.envs)
	})
	for _, it := range items {
		switch {
		case it.err != nil:
			return nil, it.err
		case it.whole:
			if res.rest[it.commit] == nil {
				res.rest[it.commit] = map[string]map[string]bool{}
			}
			res.rest[it.commit][it.name] = it.envs
		default:
			if it.st != nil {
				res.stacks[it.commit] = append(res.stacks[it.commit], it.st)
			}
			res.problems[it.commit] = append(res.problems[it.commit], it.probs...)
		}
	}
	// As compare reports them: an object missing from a partial clone is
	// an error, not a stack that does not load.
	for _, s := range append([]*side{head, {commit: head.commit, fsys: headTree}}, valuesOf(bases)...) {
		if t, ok := s.fsys.(*gitops.TreeFS); ok {
			if err := t.Missing(); err != nil {
				return nil, baseError(e.repo, s.commit.String(), err)
			}
		}
	}
	return res, nil
}

// sinceDiff lists what changed in one deployed stack's folder and watched
// paths, or says it needs the whole comparison.
func (e *engine) sinceDiff(ctx context.Context, it *sinceItem, head *side, headTree *gitops.TreeFS, en *indexEntry, wt []string) (whole bool, err error) {
	baseFS := it.base.fsys.(*gitops.TreeFS)
	be, err := baseFS.Entry(it.dir)
	if err != nil || !be.IsDir() {
		return true, nil // not a folder at the deployed commit: moved or new
	}
	he, err := headTree.Entry(it.dir)
	if err != nil || !he.IsDir() {
		return true, nil // only in the work tree
	}
	if en == nil {
		return true, nil
	}
	// A stack above it at the deployed commit made it part of that stack.
	outer := &stackIndex{Stacks: map[string]*indexEntry{}}
	for d := path.Dir(it.dir); d != "." && d != "/"; d = path.Dir(d) {
		if _, err := baseFS.Entry(d + "/" + stacks.StackFile); err == nil {
			outer.Stacks[d] = &indexEntry{}
		}
	}
	if e.ix.insideStack(outer, it.dir) {
		return true, nil
	}

	files, err := e.sincePath(ctx, it.base, head, it.dir, wt)
	if err != nil {
		return false, err
	}
	var watched []Reason
	if len(en.Watch) > 0 {
		globs := make([]glob, len(en.Watch))
		var changed []gitops.Change
		seen := map[string]bool{}
		for i, w := range en.Watch {
			globs[i] = compileGlob(w)
			a := watchAnchor(w)
			if a == "" {
				return true, nil // may match anywhere: only the whole diff tells
			}
			ch, err := e.sincePath(ctx, it.base, head, a, wt)
			if err != nil {
				return false, err
			}
			for _, c := range ch {
				if k := c.OldPath + "\x00" + c.Path; !seen[k] {
					seen[k] = true
					changed = append(changed, c)
				}
			}
		}
		watched = watchedReasons(changed, globs)
	}
	it.files, it.watched = files, watched
	if len(files) > 0 || len(watched) > 0 {
		it.folders = [2]gitops.Hash{be.Hash, he.Hash}
		if head.worktree {
			it.folders[1] = gitops.ZeroHash
		}
	}
	return false, nil
}

// sincePath lists what differs at p (a folder or file) between the base
// side and head (HEAD's tree plus the work tree's changes under p).
func (e *engine) sincePath(ctx context.Context, base, head *side, p string, wt []string) ([]gitops.Change, error) {
	ch, err := e.repo.DiffPath(ctx, base.tree, head.tree, p)
	if err != nil {
		return nil, baseError(e.repo, base.commit.String(), err)
	}
	if !head.worktree {
		return ch, nil
	}
	var under []string
	for _, w := range wt {
		if w == p || strings.HasPrefix(w, p+"/") {
			under = append(under, w)
		}
	}
	if len(under) == 0 {
		return ch, nil
	}
	files, err := e.repo.WorktreeFiles(head.fsys, under)
	if err != nil {
		return nil, err
	}
	return mergeWorktree(e.repo, base.fsys.(*gitops.TreeFS), ch, under, files)
}

// watchAnchor is the folder (or file) below which everything a spec.watch
// glob can match lies: its literal leading segments; "" when the glob
// starts with a pattern.
func watchAnchor(g string) string {
	lit := literalPrefix(g)
	if lit == strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(g, "./"), "/"), "/") {
		return lit // no pattern: the path itself
	}
	i := strings.LastIndexByte(lit, '/')
	if i <= 0 {
		return ""
	}
	return lit[:i]
}

func valuesOf[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}
