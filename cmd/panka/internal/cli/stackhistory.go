package cli

import (
	"bytes"
	"context"
	"path"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/filemode"

	"panka.dev/panka/gitops"
	"panka.dev/panka/stacks"
)

// stackHistory is one walk back over HEAD's first parents (at most
// maxRemovedStackCommits), read once a run, for the checks of where a
// stack's state was before its settings moved (earlierStackState,
// earlierRepoConfigState): the commits and their trees, the steps at which
// panka.yaml changed, and, by stack.yaml path, the steps at which a stack's
// metadata.name or spec.backend may have changed. Each commit is compared
// with its parent under the stacks root only, so changed --since-deployed
// asks it about thousands of stacks for the price of one walk (a walk per
// stack cost tens of milliseconds each on a large repository).
type stackHistory struct {
	repo *gitops.Repo
	root string // the stacks root (the configured one), slash-separated
	// cs are HEAD and its first parents, newest first, and trees their
	// root trees: step i is commit cs[i] against its parent cs[i+1].
	cs, trees []gitops.Hash
	// repoConfig are the steps, newest first, whose commit changed
	// panka.yaml.
	repoConfig []int
	// changed are the stack.yaml files each step changed or removed
	// (renamed: the path it left) that the parent had, newest first, in
	// path order within a step.
	changed []stackFileStep
	// moved are, by stack.yaml path, the steps, newest first, among
	// changed where the parent's stack.yaml may give another
	// metadata.name or spec.backend than HEAD's (headerMayDiffer); the
	// others give what HEAD's gives.
	moved map[string][]int

	// worktree are the tracked files under the root the work tree
	// changed (a status, read once: worktreeChanges).
	worktreeOnce sync.Once
	worktree     []string
	worktreeErr  error
}

// worktreeChanges returns the tracked files under the stacks root that
// the work tree changed or deleted, read once for the run.
func (h *stackHistory) worktreeChanges(ctx context.Context) ([]string, error) {
	h.worktreeOnce.Do(func() { h.worktree, h.worktreeErr = h.repo.TrackedChangesUnder(ctx, h.root) })
	return h.worktree, h.worktreeErr
}

// stackFileStep is a stack.yaml (file, as the parent had it: blob old)
// that step i changed or removed.
type stackFileStep struct {
	i    int
	file string
	old  gitops.Hash
	link bool // a symbolic link
}

// stackHistory returns the run's stackHistory, read on first use; nil
// outside a repository or when HEAD cannot be read.
func (f *Factory) stackHistory(ctx context.Context) *stackHistory {
	f.historyMu.Lock()
	defer f.historyMu.Unlock()
	if !f.historyRead {
		f.history, f.historyRead = f.readStackHistory(ctx), true
	}
	return f.history
}

// closeStackHistory releases the repository stackHistory read (Run calls
// it once the command has returned).
func (f *Factory) closeStackHistory() {
	f.historyMu.Lock()
	defer f.historyMu.Unlock()
	if f.history != nil {
		f.history.repo.Close()
	}
	f.history, f.historyRead = nil, false
}

func (f *Factory) readStackHistory(ctx context.Context) *stackHistory {
	dir, err := f.RepoRoot()
	if err != nil {
		return nil
	}
	root := "stacks"
	if cfg, err := f.Config(); err == nil {
		root = path.Clean(stacksRoot(cfg.Stacks.Root))
	}
	repo, err := gitops.Open(dir, f.GitOptions())
	if err != nil {
		return nil
	}
	h := &stackHistory{repo: repo, root: root, moved: map[string][]int{}}
	h.cs, h.trees = firstParentTrees(repo, maxRemovedStackCommits)
	configBlob := func(t gitops.Hash) gitops.Hash {
		e, err := repo.PathEntry(t, repoConfigFile)
		if err != nil {
			return gitops.ZeroHash
		}
		return e.Hash
	}
	_ = repo.PrefetchDiffs(ctx, h.trees, root) // an optimisation: the reads below stay correct
	for i := 0; i+1 < len(h.cs); i++ {
		if h.trees[i] == h.trees[i+1] {
			continue
		}
		// In process and under the stacks root only: a commit that
		// changed one file there costs a few tree reads.
		chs, err := repo.DiffPathBase(ctx, h.trees[i+1], h.trees[i], root)
		if err != nil {
			// What lies further back is not known: the walk ends here.
			h.cs, h.trees = h.cs[:i+1], h.trees[:i+1]
			break
		}
		if configBlob(h.trees[i+1]) != configBlob(h.trees[i]) {
			h.repoConfig = append(h.repoConfig, i)
		}
		for _, ch := range chs {
			old := ch.Path
			if ch.Action == gitops.Renamed {
				old = ch.OldPath
			}
			if ch.OldHash.IsZero() || path.Base(old) != stacks.StackFile {
				continue
			}
			h.changed = append(h.changed, stackFileStep{i, old, ch.OldHash, ch.OldMode == filemode.Symlink})
		}
	}
	if len(h.changed) == 0 {
		return h
	}
	// Each earlier stack.yaml is compared with HEAD's, as text: the
	// blobs are read in one batch.
	head := map[string]gitops.TreeEntry{}
	var want []gitops.Hash
	asked := map[gitops.Hash]bool{}
	ask := func(b gitops.Hash) {
		if !asked[b] {
			asked[b] = true
			want = append(want, b)
		}
	}
	for _, s := range h.changed {
		e, ok := head[s.file]
		if !ok {
			e, _ = repo.PathEntry(h.trees[0], s.file) // none: the zero entry
			head[s.file] = e
		}
		if e.Hash != s.old && !e.Hash.IsZero() {
			ask(s.old)
			ask(e.Hash)
		}
	}
	text := map[gitops.Hash][]byte{}
	_ = repo.Blobs(want, func(b gitops.Hash, data []byte) error {
		text[b] = bytes.Clone(data)
		return nil
	}) // a blob not read counts as changed
	for _, s := range h.changed {
		e := head[s.file]
		if e.Hash == s.old && !s.link {
			continue
		}
		then, ok1 := text[s.old]
		now, ok2 := text[e.Hash]
		if s.link || e.Mode == filemode.Symlink || !ok1 || !ok2 || headerMayDiffer(then, now) {
			h.moved[s.file] = append(h.moved[s.file], s.i)
		}
	}
	return h
}

// headerMayDiffer reports whether two texts of a stack.yaml may give
// another metadata.name or spec.backend (what stacks.Header compares for
// where a stack's state is), without parsing them: when neither mentions a
// backend or holds an anchor (which could bring a value in from elsewhere
// in the file), the lines they differ in must mention the name. The
// answer errs on the side of true: a true is parsed and compared.
func headerMayDiffer(a, b []byte) bool {
	for _, w := range [][]byte{[]byte("backend"), []byte("&")} {
		if bytes.Contains(a, w) || bytes.Contains(b, w) {
			return true
		}
	}
	lines := map[string]int{}
	for l := range bytes.SplitSeq(a, []byte("\n")) {
		lines[string(l)]++
	}
	for l := range bytes.SplitSeq(b, []byte("\n")) {
		lines[string(l)]--
	}
	for l, n := range lines {
		if n != 0 && (strings.Contains(l, "name") || strings.Contains(l, "metadata")) {
			return true
		}
	}
	return false
}

// stackMoved reports whether the stack.yaml of h (its folder) gave
// another metadata.name or spec.backend at HEAD's first parents, as the
// run's stackHistory found.
func (f *Factory) stackMoved(ctx context.Context, h *stacks.Header) bool {
	hist := f.stackHistory(ctx)
	return hist != nil && len(hist.moved[path.Join(h.Path, stacks.StackFile)]) > 0
}

// movedStackFiles are the stack.yaml files (under the stacks root) whose
// metadata.name or spec.backend may have been different in the history
// stackHistory walked, or which the work tree changed (with worktree):
// the stacks whose state may lie where an earlier setting put it.
func (h *stackHistory) movedStackFiles(ctx context.Context, worktree bool) map[string]bool {
	out := map[string]bool{}
	for p := range h.moved {
		out[p] = true
	}
	if worktree {
		changed, err := h.worktreeChanges(ctx)
		if err == nil {
			for _, p := range changed {
				if path.Base(p) == stacks.StackFile {
					out[p] = true
				}
			}
		}
	}
	return out
}
