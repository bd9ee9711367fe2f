package changes

import (
	"context"
	"sort"

	"panka.dev/panka/gitops"
)

// WatchedChanges lists the files that differ between the trees of commits
// base and head and that one of the spec.watch globs watch matches, as
// changed gives them as reasons (one per file, sorted by path): what makes
// `changed --since-deployed` list every environment of a stack deployed at
// base, whatever its resolved model. Only the folders the globs start with
// are compared (the whole trees when a glob starts with a pattern, **/x).
func WatchedChanges(ctx context.Context, repo *gitops.Repo, base, head gitops.Hash, watch []string) ([]Reason, error) {
	if len(watch) == 0 || base == head {
		return nil, nil
	}
	bt, err := repo.CommitTree(base)
	if err != nil {
		return nil, baseError(repo, base.String(), err)
	}
	ht, err := repo.CommitTree(head)
	if err != nil {
		return nil, err
	}
	globs := make([]glob, len(watch))
	anchors := map[string]bool{}
	for i, w := range watch {
		globs[i] = compileGlob(w)
		anchors[watchAnchor(w)] = true
	}
	if anchors[""] {
		anchors = map[string]bool{"": true} // the whole trees cover the others
	}
	var changed []gitops.Change
	seen := map[string]bool{}
	for _, a := range sortedKeys(anchors) {
		ch, err := repo.DiffPath(ctx, bt, ht, a)
		if err != nil {
			return nil, baseError(repo, base.String(), err)
		}
		for _, c := range ch {
			if k := c.OldPath + "\x00" + c.Path; !seen[k] {
				seen[k] = true
				changed = append(changed, c)
			}
		}
	}
	return watchedReasons(changed, globs), nil
}

// watchedReasons gives, sorted by path, the reason of each of changed that
// one of globs matches (at either side: a file renamed out of a glob
// matches by its old path), naming the first glob that matches it.
func watchedReasons(changed []gitops.Change, globs []glob) []Reason {
	sort.SliceStable(changed, func(i, j int) bool { return changed[i].Path < changed[j].Path })
	var out []Reason
	for _, c := range changed {
		hp, bp := c.Path, c.Path
		switch c.Action {
		case gitops.Added:
			bp = ""
		case gitops.Deleted:
			hp = ""
		case gitops.Renamed:
			bp = c.OldPath
		}
		for _, g := range globs {
			if (hp != "" && g.match(hp)) || (bp != "" && g.match(bp)) {
				f := hp
				if f == "" {
					f = bp
				}
				out = append(out, watchReason(f, c, g))
				break
			}
		}
	}
	return out
}
