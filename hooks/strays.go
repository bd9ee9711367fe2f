package hooks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/stacks"
)

// CheckPushed returns what a push brings that changes.Detect (res, from
// res.Base to res.Head) does not check, as panka validate would report it:
//   - every stack res lists as added, loaded and validated (without
//     variable values) at head: detection lists a new stack from its
//     stack.yaml header and environment file names without loading it,
//     so a new stack that does not load went through the hook;
//   - the YAML files the push adds or changes under root that belong to
//     no stack (no stack.yaml in their folder or above it, e.g. a new
//     stack whose stack.yaml is missing or named stack.yml): detection
//     leaves them out, yet panka validate refuses them and no command
//     ever deploys them. Files inside a stack res lists are left to its
//     own report.
func CheckPushed(ctx context.Context, repo *gitops.Repo, res *changes.Result, root string) ([]error, error) {
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
	for _, st := range res.Stacks {
		if st.Change != changes.Added || reported(res, st) {
			continue
		}
		s, err := stacks.Load(fsys, st.Path)
		if err == nil {
			err = s.Validate(stacks.ResolveOptions{})
		}
		if err != nil {
			out = append(out, fmt.Errorf("stack %s (%s) at head: %w", st.Stack, st.Path, err))
		}
	}
	// Detection reports the ones it meets itself: not twice.
	said := map[string]bool{}
	for _, p := range res.Problems {
		var se *stacks.Error
		if errors.As(p, &se) {
			said[se.File] = true
		}
	}
	for _, c := range changed {
		if c.Action == gitops.Deleted || inListedStack(res, c.Path) || said[c.Path] {
			continue
		}
		if e := stacks.StrayFile(fsys, root, c.Path); e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// reported tells whether detection already reported st at head (a new
// stack.yaml nested in another stack's folder).
func reported(res *changes.Result, st *changes.Stack) bool {
	prefix := fmt.Sprintf("stack %s (%s) at head: ", st.Stack, st.Path)
	for _, p := range res.Problems {
		if strings.HasPrefix(p.Error(), prefix) {
			return true
		}
	}
	return false
}

func inListedStack(res *changes.Result, file string) bool {
	for _, s := range res.Stacks {
		if s.Path == "." || strings.HasPrefix(file, s.Path+"/") {
			return true
		}
	}
	return false
}
