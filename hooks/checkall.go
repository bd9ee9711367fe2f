package hooks

import (
	"fmt"
	"io/fs"

	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/stacks"
)

// CheckAll loads every stack under root of fsys (a pushed commit's tree)
// and validates every environment without variable values, as a pre-push
// hook does when a push has nothing to be compared with (the first push to
// an empty remote, or a repository whose default branch cannot be found):
// every stack is reported added, and each problem is one error naming the
// stack. It is what a comparison with an empty tree would report.
func CheckAll(fsys fs.FS, root string) *changes.Result {
	res := &changes.Result{Stacks: []*changes.Stack{}}
	disc, err := stacks.DiscoverStacks(fsys, root)
	if err != nil {
		res.Problems = append(res.Problems, fmt.Errorf("find stacks under %s: %w", root, err))
	}
	for _, e := range stacks.Strays(fsys, root, disc.Refs) {
		res.Problems = append(res.Problems, e)
	}
	for _, r := range disc.Refs {
		st := &changes.Stack{Stack: r.Name, Path: r.Path, Change: changes.Added, Environments: []string{},
			EnvironmentChanges: map[string]changes.Kind{}, Components: []string{}, Reasons: []changes.Reason{}}
		res.Stacks = append(res.Stacks, st)
		s, err := disc.Load(r)
		if err == nil {
			st.Environments = s.Environments()
			st.Components = s.ComponentNames()
			for _, e := range st.Environments {
				st.EnvironmentChanges[e] = changes.Added
			}
			err = s.Validate(stacks.ResolveOptions{})
		} else if h, herr := stacks.ReadHeader(fsys, r.Path); herr == nil {
			// A stack that does not load (one nested in its folder) still
			// has its environments: listed as added, as detection lists a
			// new stack's, not as "no environment changed".
			st.Environments = h.Environments
			for _, e := range st.Environments {
				st.EnvironmentChanges[e] = changes.Added
			}
		}
		if err != nil {
			res.Problems = append(res.Problems, fmt.Errorf("stack %s (%s) at head: %w", r.Name, r.Path, err))
		}
	}
	return res
}
