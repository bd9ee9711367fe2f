package hooks

import (
	"context"
	"fmt"
	"strings"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/stacks"
)

// PushStrays lists the YAML files a push adds or changes under root that
// belong to no stack (no stack.yaml in their folder or above it, e.g. a
// new stack whose stack.yaml is missing or named stack.yml), from res.Base
// to res.Head as changes.Detect compared them. Detection leaves such files
// out (they are in no stack), yet panka validate refuses them and no
// command ever deploys them. Files inside a stack res lists are left to
// its own report.
func PushStrays(ctx context.Context, repo *gitops.Repo, res *changes.Result, root string) ([]error, error) {
	head, err := repo.ResolveRef(res.Head)
	if err != nil {
		return nil, err
	}
	headTree, err := repo.CommitTree(head)
	if err != nil {
		return nil, err
	}
	baseTree := gitops.ZeroHash
	if res.Base != gitops.EmptyTree.String() {
		base, err := repo.ResolveRef(res.Base)
		if err != nil {
			return nil, err
		}
		if baseTree, err = repo.CommitTree(base); err != nil {
			return nil, err
		}
	}
	changed, err := repo.DiffTrees(ctx, baseTree, headTree)
	if err != nil {
		return nil, fmt.Errorf("list the files changed from %.12s to %.12s: %w", res.Base, res.Head, err)
	}
	fsys := repo.TreeFSOf(headTree)
	var out []error
	for _, c := range changed {
		if c.Action == gitops.Deleted || inListedStack(res, c.Path) {
			continue
		}
		if e := stacks.StrayFile(fsys, root, c.Path); e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

func inListedStack(res *changes.Result, file string) bool {
	for _, s := range res.Stacks {
		if s.Path == "." || strings.HasPrefix(file, s.Path+"/") {
			return true
		}
	}
	return false
}
