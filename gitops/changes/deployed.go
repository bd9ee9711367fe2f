package changes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"panka.dev/panka/gitops"
	"panka.dev/panka/stacks"
)

// DeployedCommits tells which commit was last deployed where. The state
// store implements it for `changed --since-deployed`.
type DeployedCommits interface {
	// DeployedCommit returns the full id of the commit last successfully
	// deployed to environment env of the stack (its header gives the name
	// and the spec.backend settings that locate its state); ok is false
	// when the environment was never deployed (or was destroyed). Calls
	// come from several goroutines at once (state reads are network
	// round trips: thousands of them one after the other take minutes).
	DeployedCommit(ctx context.Context, stack *stacks.Header, env string) (commit string, ok bool, err error)
}

// deployedLookups bounds the DeployedCommit calls made at once.
const deployedLookups = 16

// parallelN calls fn(0..n-1) from at most workers goroutines, stopping
// early when ctx is done.
func parallelN(ctx context.Context, workers, n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers && w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// Deployment is one stack/environment a DeployedLister reports deployed.
type Deployment struct {
	Stack, Environment, Commit string
}

// DeployedLister is implemented by DeployedCommits that can also list what
// is deployed. SinceDeployed then also reports what is deployed but gone at
// head (an environment file deleted, a stack folder deleted, a stack
// renamed by metadata.name) as removed, so a pipeline can destroy it.
type DeployedLister interface {
	// ListDeployed returns the stack/environments deployed (not destroyed)
	// with the commit last deployed there, leaving out those skip selects
	// (the ones SinceDeployed asked DeployedCommit about already, and the
	// stacks --stack leaves out). skip(stack, "") true leaves the whole
	// stack out: a lister need not look at its environments.
	ListDeployed(ctx context.Context, skip func(stack, env string) bool) ([]Deployment, error)
}

// SinceDeployed compares every environment of every stack at head with the
// commit last deployed to it. A never-deployed environment is reported
// added; with a DeployedLister, a deployed environment gone at head is
// reported removed. Result.Base is empty (each environment has its own base, given in
// Stack.Deployed; DeployedBase gives one for them all), Result.Bases lists
// the deployed commits compared.
func SinceDeployed(ctx context.Context, repo *gitops.Repo, deployed DeployedCommits, opts Options) (*Result, error) {
	if err := opts.checkFilters(); err != nil {
		return nil, err
	}
	e := newEngine(repo, opts)
	defer e.ix.wait()
	head, err := e.head(true)
	if err != nil {
		return nil, err
	}
	// Every stack at head: the index lists them, headers give names and
	// environments (this mode covers the whole repository by nature).
	ix, err := e.ix.forCommit(ctx, head.tree)
	if err != nil {
		return nil, err
	}
	var wt []string // paths that differ between HEAD and the work tree
	if !head.worktree {
		// The headers below come from the index where it knows the
		// environments (indexHeader), as a comparison's do, rather than
		// from two tree reads per stack.
		head.index = ix
	}
	if head.worktree {
		base, err := e.commitSide(head.commit)
		if err != nil {
			return nil, err
		}
		base.index = ix
		ch, err := e.changedPaths(ctx, base, head)
		if err != nil {
			return nil, err
		}
		if err := e.indexes(ctx, base, head, ch); err != nil {
			return nil, err
		}
		ix = head.index
		for _, c := range ch {
			wt = append(wt, c.Path)
			if c.OldPath != "" {
				wt = append(wt, c.OldPath)
			}
		}
	}
	// No stacks root at head is an error unless something deployed is
	// gone with it (checked once the deployments are listed).
	rootGone := len(ix.Stacks) == 0 && e.rootMissing(head)
	if err := e.caseRoot(head, len(ix.Stacks)); err != nil {
		return nil, err
	}
	res := &Result{Head: head.commit.String(), Uncommitted: opts.Uncommitted, Stacks: []*Stack{}}
	groups := map[string]map[string]map[string]bool{} // base -> stack -> envs
	never := map[string]*Stack{}
	deployedAt := map[string]map[string]string{}
	dirOf := map[string]string{} // stack name -> folder at head
	// Every header, then every deployed commit (state reads: concurrently,
	// then taken in folder order).
	dirs := sortedKeys(ix.Stacks)
	if err := e.prefetchFor(ctx, head, dirs, true); err != nil {
		return nil, err
	}
	hdrs := make([]*stacks.Header, len(dirs))
	herrs := make([]error, len(dirs))
	e.parallel(len(dirs), func(i int) { hdrs[i], herrs[i] = e.header(head, dirs[i]) })
	type lookup struct {
		h      *stacks.Header
		dir    string
		env    string
		commit string
		ok     bool
		err    error
	}
	var lookups []*lookup
	names := e.literalFilters()
	for i, dir := range dirs {
		h := hdrs[i]
		if herrs[i] != nil {
			names.see(e, path.Base(dir), nil) // the folder most often names it
			res.Problems = append(res.Problems, fmt.Errorf("stack at %s: %w", dir, herrs[i]))
			continue
		}
		names.see(e, h.Name, h.Environments)
		if !e.selected(h.Name) {
			continue
		}
		if _, dup := dirOf[h.Name]; dup {
			dirOf[h.Name] = "" // two folders: left to compare, which reports it
		} else {
			dirOf[h.Name] = dir
		}
		for _, env := range h.Environments {
			if e.envSelected(env, nil) {
				lookups = append(lookups, &lookup{h: h, dir: dir, env: env})
			}
		}
	}
	parallelN(ctx, deployedLookups, len(lookups), func(i int) {
		l := lookups[i]
		l.commit, l.ok, l.err = deployed.DeployedCommit(ctx, l.h, l.env)
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, l := range lookups {
		h, env, c := l.h, l.env, l.commit
		if l.err != nil {
			return nil, fmt.Errorf("last deployed commit of %s/%s: %w", h.Name, env, l.err)
		}
		if deployedAt[h.Name] == nil {
			deployedAt[h.Name] = map[string]string{}
		}
		deployedAt[h.Name][env] = c
		if !l.ok {
			st := never[h.Name]
			if st == nil {
				st = &Stack{Stack: h.Name, Path: l.dir, Change: Added, EnvironmentChanges: map[string]Kind{}, Components: []string{}, Reasons: []Reason{}}
				never[h.Name] = st
			}
			st.EnvironmentChanges[env] = Added
			st.Reasons = append(st.Reasons, Reason{File: l.dir, Detail: "environment " + env + " is not deployed (never deployed, or destroyed)"})
			continue
		}
		if groups[c] == nil {
			groups[c] = map[string]map[string]bool{}
		}
		if groups[c][h.Name] == nil {
			groups[c][h.Name] = map[string]bool{}
		}
		groups[c][h.Name][env] = true
	}
	// What is deployed but gone at head: compared from its deployed
	// commit, where it still exists, it comes out removed (compare decides,
	// so a stack that merely stopped loading at head is reported as such).
	if l, ok := deployed.(DeployedLister); ok {
		gone, err := l.ListDeployed(ctx, func(stack, env string) bool {
			if !e.selected(stack) {
				// Left out below all the same (names.see does nothing for
				// it): not read, so --stack does not cost a read of every
				// state in a monorepo's store.
				return true
			}
			_, seen := deployedAt[stack][env]
			return seen
		})
		if err != nil {
			return nil, fmt.Errorf("list deployed stacks: %w", err)
		}
		nestedSaid := map[string]bool{}
		for _, d := range gone {
			names.see(e, d.Stack, []string{d.Environment})
			if !e.selected(d.Stack) || !e.envSelected(d.Environment, nil) {
				continue
			}
			if !nestedSaid[d.Stack] {
				nestedSaid[d.Stack] = true
				if err := nestedByName(head.fsys, ix, d.Stack); err != nil {
					// Its folder is still there, inside another stack: not
					// removed, not compared either; say why.
					res.Problems = append(res.Problems, fmt.Errorf("stack %s is deployed but not a stack at head: %w", d.Stack, err))
				}
			}
			if deployedAt[d.Stack] == nil {
				deployedAt[d.Stack] = map[string]string{}
			}
			deployedAt[d.Stack][d.Environment] = d.Commit
			if groups[d.Commit] == nil {
				groups[d.Commit] = map[string]map[string]bool{}
			}
			if groups[d.Commit][d.Stack] == nil {
				groups[d.Commit][d.Stack] = map[string]bool{}
			}
			groups[d.Commit][d.Stack][d.Environment] = true
		}
	}
	if rootGone && len(groups) == 0 {
		return nil, e.rootError(nil, head)
	}
	if err := names.err(e, head.where("head")+" or in the deployed state"); err != nil {
		return nil, err
	}
	res.Problems = append(res.Problems, names.warnings(e, head.where("head")+" or in the deployed state")...)
	bases := map[string]*side{}
	ids := make([]gitops.Hash, 0, len(groups))
	for c := range groups {
		if h, ok := gitops.FullID(c); ok {
			ids = append(ids, h)
		}
	}
	repo.PrefetchCommits(ids)
	for _, c := range sortedKeys(groups) {
		if _, ok := gitops.FullID(c); !ok {
			// State records full commit ids; anything else (a hand-edited
			// "HEAD", a branch name) would name whatever it points at now.
			return nil, fmt.Errorf("the deployed commit %q of %s in the state is not a full commit id (40 hex digits): fix the state (panka state pull/push) or redeploy", c, describeGroup(groups[c]))
		}
		bh, err := repo.ResolveRef(c)
		if err != nil {
			var re *gitops.RefError
			if errors.As(err, &re) && re.Missing {
				// Fetching helps when the commit is on the remote; a commit
				// deployed from a branch since squash-merged or deleted is
				// gone for good.
				return nil, fmt.Errorf("commit %s, last deployed to %s: %w; if no remote has it any more (deployed from a branch since squash-merged or deleted), deploy those environments again from a commit in the history (panka apply), or compare with a given base (panka changed --base REF)", c, describeGroup(groups[c]), err)
			}
			return nil, fmt.Errorf("commit %s, last deployed to %s: %w", c, describeGroup(groups[c]), err)
		}
		if bases[c], err = e.commitSide(bh); err != nil {
			return nil, fmt.Errorf("commit %s, last deployed to %s: %w", c, describeGroup(groups[c]), err)
		}
	}
	if !opts.CompareAhead {
		e.deployedAhead(ctx, head, groups, bases, res)
	}
	res.Bases = append([]string{}, sortedKeys(groups)...)
	// Most deployed stacks are compared on their own (their folder and
	// watched paths at the two commits); the rest, per deployed commit,
	// with a whole comparison.
	fast, err := e.sinceEach(ctx, head, ix, wt, groups, bases, dirOf)
	if err != nil {
		return nil, err
	}
	merged := never
	for _, c := range sortedKeys(groups) {
		stacks, probs := fast.stacks[c], fast.problems[c]
		if rest := fast.rest[c]; len(rest) > 0 {
			st, ps, err := e.compare(ctx, bases[c].commit, head, rest)
			if err != nil {
				return nil, err
			}
			stacks, probs = append(stacks, st...), append(probs, ps...)
			sort.SliceStable(stacks, func(i, j int) bool { return stacks[i].Stack < stacks[j].Stack })
		}
		res.Problems = append(res.Problems, probs...)
		for _, s := range stacks {
			m := merged[s.Stack]
			if m == nil {
				merged[s.Stack] = s
				continue
			}
			for env, k := range s.EnvironmentChanges {
				m.EnvironmentChanges[env] = k
			}
			m.Components = unionSorted(m.Components, s.Components)
			for env, names := range s.EnvironmentComponents {
				if m.EnvironmentComponents == nil {
					m.EnvironmentComponents = map[string][]string{}
				}
				m.EnvironmentComponents[env] = names
			}
			// Environments deployed at different commits may give the
			// same reason (a file changed since both).
			for _, r := range s.Reasons {
				if !slices.Contains(m.Reasons, r) {
					m.Reasons = append(m.Reasons, r)
				}
			}
			if m.Change == Added {
				m.Change = s.Change
			}
		}
	}
	for _, name := range sortedKeys(merged) {
		s := merged[name]
		if s.Change == Added && slices.ContainsFunc(slices.Collect(maps.Values(deployedAt[name])), func(c string) bool { return c != "" }) {
			// An environment of it is deployed: no new stack, though one
			// of its environments is.
			s.Change = Modified
		}
		s.Environments = sortedKeys(s.EnvironmentChanges)
		s.Deployed = map[string]string{}
		for _, env := range s.Environments {
			s.Deployed[env] = deployedAt[name][env]
		}
		res.Stacks = append(res.Stacks, s)
	}
	res.Problems = append(res.Problems, e.badWatchGlobs(head.fsys, ix, res.Problems)...)
	// Deployed commits are compared in groups, some stacks on their own:
	// the problems come in a stable order whatever the grouping.
	sort.SliceStable(res.Problems, func(i, j int) bool { return res.Problems[i].Error() < res.Problems[j].Error() })
	return res, nil
}

// DeployedBase sets res.Base, for a SinceDeployed result, to one commit
// its comparison stands on, so that a reader of "base" gets a commit id as
// with --base: the deployed commit when every environment compared is
// deployed at the same one; when they differ, their merge-base (the newest
// commit every deployed one descends from, as git merge-base --octopus;
// after criss-cross merges, of several such, the one reached by taking
// pairwise merge-bases, each the one with the smallest id, from the oldest
// deployed commit through the others in id order: the same on every run). git diff base head then shows every change made since any of
// those deployments. An environment deployed at a commit newer than head
// (Result.DeployedAhead, not compared) counts as deployed at head, as
// --base of a descendant of head has head as merge-base. With nothing
// deployed (every environment compared with nothing) and for deployed
// commits with no common ancestor, it is git's empty tree, as for --base
// of it.
func DeployedBase(ctx context.Context, repo *gitops.Repo, res *Result) error {
	ids := res.Bases
	if len(res.DeployedAhead) > 0 && !slices.Contains(ids, res.Head) {
		ids = append(slices.Clone(ids), res.Head)
		sort.Strings(ids)
	}
	if len(ids) == 0 {
		res.Base = gitops.EmptyTree.String()
		return nil
	}
	cs := make([]gitops.Hash, len(ids))
	for i, c := range ids {
		h, ok := gitops.FullID(c)
		if !ok {
			return fmt.Errorf("deployed commit %q is not a full commit id", c)
		}
		cs[i] = h
	}
	if len(cs) == 1 {
		res.Base = cs[0].String()
		return nil
	}
	// Most often one of them (the oldest) is an ancestor of all the others
	// (a mainline deployed commit by commit): it is their merge-base, found
	// in one walk. The others are merged in pairwise.
	oldest, when := 0, time.Time{}
	for i, h := range cs {
		c, err := repo.Commit(h)
		if err != nil {
			return fmt.Errorf("merge-base of the deployed commits: %w", err)
		}
		if i == 0 || c.CommitDate.Before(when) {
			oldest, when = i, c.CommitDate
		}
	}
	mb := cs[oldest]
	desc, err := repo.DescendantsOf(ctx, mb, cs, aheadSlack)
	if err != nil {
		return fmt.Errorf("merge-base of the deployed commits: %w", err)
	}
	for _, h := range cs {
		if h == mb || desc[h] {
			continue
		}
		next, err := repo.MergeBase(ctx, mb, h)
		if errors.Is(err, gitops.ErrUnrelatedHistories) {
			res.Base = gitops.EmptyTree.String()
			return nil
		}
		if err != nil {
			return fmt.Errorf("merge-base of the deployed commits %.12s and %.12s: %w", mb, h, err)
		}
		mb = next
	}
	res.Base = mb.String()
	return nil
}

// nestedByName returns the nesting error of a stack called name whose
// stack.yaml lies at <stack folder>/<name>/stack.yaml of a stack of ix (a
// new stack.yaml above it made it part of that stack), or nil.
func nestedByName(fsys fs.FS, ix *stackIndex, name string) error {
	if stacks.CheckName(name) != "" {
		return nil
	}
	for _, dir := range sortedKeys(ix.Stacks) {
		p := path.Join(dir, name, stacks.StackFile)
		if st, err := fs.Stat(fsys, p); err != nil || st.IsDir() {
			continue
		}
		if n, _, _ := stacks.ReadWatch(fsys, path.Join(dir, name)); n != name {
			continue
		}
		outer, _, _ := stacks.ReadWatch(fsys, dir)
		if err := stacks.NestedIn(fsys, dir, p, outer); err != nil {
			return err
		}
	}
	return nil
}

// aheadSlack bounds the clock skew deployedAhead allows for between
// commits (statestore.HistorySkew, for history records).
const aheadSlack = 24 * time.Hour

// deployedAhead moves the deployed commits that descend from head out of
// groups into res.DeployedAhead: compared with head, every change made
// since head would read as changed, and a pipeline would deploy head
// there, rolling back what the newer commit deployed. When the history
// cannot be read, they stay (compared, as any other).
func (e *engine) deployedAhead(ctx context.Context, head *side, groups map[string]map[string]map[string]bool, bases map[string]*side, res *Result) {
	var cands []gitops.Hash
	for c := range groups {
		if b := bases[c]; b != nil && b.commit != head.commit {
			cands = append(cands, b.commit)
		}
	}
	if len(cands) == 0 {
		return
	}
	desc, err := e.repo.DescendantsOf(ctx, head.commit, cands, aheadSlack)
	if err != nil {
		return
	}
	for _, c := range sortedKeys(groups) {
		if !desc[bases[c].commit] {
			continue
		}
		for _, name := range sortedKeys(groups[c]) {
			for _, env := range sortedKeys(groups[c][name]) {
				res.DeployedAhead = append(res.DeployedAhead, DeployedAhead{Stack: name, Environment: env, Commit: c})
			}
		}
		delete(groups, c)
	}
	sort.Slice(res.DeployedAhead, func(i, j int) bool {
		a, b := res.DeployedAhead[i], res.DeployedAhead[j]
		return a.Stack < b.Stack || a.Stack == b.Stack && a.Environment < b.Environment
	})
}

func describeGroup(g map[string]map[string]bool) string {
	var out []string
	for _, s := range sortedKeys(g) {
		for _, env := range sortedKeys(g[s]) {
			out = append(out, s+"/"+env)
		}
	}
	if len(out) > 3 {
		return strings.Join(out[:3], ", ") + fmt.Sprintf(" and %d more", len(out)-3)
	}
	return strings.Join(out, ", ")
}

func unionSorted(a, b []string) []string {
	m := toSet(a)
	for _, x := range b {
		m[x] = true
	}
	out := keys(m)
	sort.Strings(out)
	return out
}
