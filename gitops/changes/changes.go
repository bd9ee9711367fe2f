package changes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"panka.dev/panka/gitops"
	"panka.dev/panka/stacks"
)

// Kind is how a stack or an environment changed.
type Kind string

// Change kinds (SPEC §4).
const (
	Added    Kind = "added"
	Removed  Kind = "removed"
	Moved    Kind = "moved"
	Modified Kind = "modified"
)

// Options select what to compare.
type Options struct {
	// Base is the ref to compare from. Empty means the default base: the
	// merge-base of Head with the remote default branch, or Head's first
	// parent when Head is the default branch's tip. A given Base is
	// replaced by its merge-base with Head (so a branch that fell behind
	// main is compared from where it forked, not tip to tip).
	Base string
	// Head is the ref to compare to; empty means HEAD.
	Head string
	// Uncommitted compares against the work tree (staged, unstaged and
	// untracked files that are not ignored) instead of Head's tree.
	Uncommitted bool
	// StacksRoot is the folder holding stacks (config stacks.root).
	StacksRoot string
	// StacksRootAt, when set, gives the stacks root a commit's own
	// configuration names (ok false: none readable, use StacksRoot). Base
	// is read under its own root where that differs from StacksRoot
	// (head's), so the stacks a move of the stacks root carried along are
	// compared (moved), not listed as added, and one deleted under the
	// old root is listed as removed. With Uncommitted, StacksRoot is the
	// work tree's root (its panka.yaml's), and the bases are read under
	// their own.
	StacksRootAt func(commit string) (root string, ok bool)
	// Paths maps changed files to stacks without loading them: every
	// environment of a touched stack is reported.
	Paths bool
	// Stacks and Environments, when set, restrict the result to these
	// stack names and environment names (path.Match globs).
	Stacks       []string
	Environments []string
	// StrictNames makes a Stacks or Environments entry without glob
	// characters that names nothing (at base or head; since-deployed: at
	// head or in the deployed state) an error: a typo in a pipeline would
	// otherwise read as "nothing changed".
	StrictNames bool
	// BackendFixed are the config keys ("backend.bucket") that a layer
	// above stack.yaml sets (environment variables, flags; SPEC §8): a
	// change of those keys in a stack's spec.backend moves no state, so it
	// is no reason to list the stack.
	BackendFixed map[string]bool
	// BackendWhere, when set, says where the state of a stack whose
	// spec.backend holds keys ("backend.prefix" -> value) is kept, once
	// every layer of configuration and its implied defaults are applied: a
	// spec.backend change lists the stack only when the two places differ
	// (keys set above stack.yaml, or a type implied by a bucket from an
	// environment variable, move nothing). An error counts as a change.
	BackendWhere func(keys map[string]string) (string, error)
	// Resolve are the options stacks are resolved with (Lenient is forced:
	// secrets are not in git).
	Resolve stacks.ResolveOptions
	// CacheDir holds the stack index cache; empty means
	// <git-common-dir>/panka. NoCache disables it.
	CacheDir string
	NoCache  bool
	// Concurrency bounds parallel stack resolution (default GOMAXPROCS).
	Concurrency int

	// CompareAhead makes SinceDeployed compare the environments deployed at
	// a descendant of head too (status: what differs, whichever is newer)
	// instead of listing them in Result.DeployedAhead.
	CompareAhead bool

	// wholeSince makes SinceDeployed compare every deployed commit with a
	// whole-repository comparison (tests check the per-stack path against it).
	wholeSince bool
}

// Result is the outcome of a detection, in the JSON shape of SPEC §4.
type Result struct {
	// Base is the commit compared from. SinceDeployed leaves it empty
	// (each environment has its own, in Stack.Deployed) until
	// DeployedBase sets it to one commit that stands for them all.
	Base string `json:"base"`
	Head string `json:"head"`
	// Bases lists, with SinceDeployed, the distinct commits deployed to
	// the environments compared (sorted; [] when none is deployed): what
	// the Stack.Deployed maps hold, for every environment compared, also
	// the unchanged ones. Nil (left out) for a comparison of two commits.
	Bases []string `json:"bases,omitzero"`
	// Uncommitted is set when the work tree was compared (Head is then
	// the commit the work tree is based on).
	Uncommitted bool     `json:"uncommitted,omitempty"`
	Stacks      []*Stack `json:"stacks"`
	// DeployedAhead lists, with --since-deployed, the environments last
	// deployed at a commit that descends from head (a newer one: a
	// pipeline for an older commit that runs after a newer one deployed).
	// Deploying head there would roll them back: they are not compared,
	// and not in Stacks.
	DeployedAhead []DeployedAhead `json:"deployedAhead,omitempty"`
	// Problems are errors worth showing that did not stop detection (a
	// stack that no longer parses: it is reported changed, with the error
	// in its reasons).
	Problems []error `json:"-"`
}

// Stack is one changed stack.
type Stack struct {
	Stack string `json:"stack"`
	Path  string `json:"path"`
	// OldPath is the folder at base of a moved stack.
	OldPath            string          `json:"oldPath,omitempty"`
	Change             Kind            `json:"change"`
	Environments       []string        `json:"environments"`
	EnvironmentChanges map[string]Kind `json:"environmentChanges"`
	Components         []string        `json:"components"`
	// EnvironmentComponents gives, per modified environment, the
	// components that changed there (Components is their union).
	EnvironmentComponents map[string][]string `json:"-"`
	Reasons               []Reason            `json:"reasons"`
	// Deployed gives, with --since-deployed, the commit each environment
	// was compared from ("" when never deployed).
	Deployed map[string]string `json:"deployed,omitempty"`
}

// DeployedAhead is an environment deployed at a descendant of head.
type DeployedAhead struct {
	Stack       string `json:"stack"`
	Environment string `json:"environment"`
	Commit      string `json:"commit"`
}

// Reason explains a change.
type Reason struct {
	File   string `json:"file"`
	Detail string `json:"detail"`
}

// Detect compares two commits (or a commit and the work tree).
func Detect(ctx context.Context, repo *gitops.Repo, opts Options) (*Result, error) {
	if err := opts.checkFilters(); err != nil {
		return nil, err
	}
	e := newEngine(repo, opts)
	defer e.wait()
	repo.Warm()
	if !opts.Uncommitted && !e.ix.holdsIndexes() {
		e.ix.startStaged()
		// Nothing reads the repository after Detect returns.
		defer e.ix.stagedStacks()
	}
	head, err := e.head(true)
	if err != nil {
		return nil, err
	}
	if opts.Base != "" {
		return e.detectFrom(ctx, head)
	}
	base, several := gitops.EmptyTree, error(nil)
	if head.commit != gitops.EmptyTree { // else no commit yet: everything is new
		if base, several, err = defaultBase(ctx, e.repo, head.commit); err != nil {
			return nil, err
		}
	}
	res := &Result{Base: base.String(), Head: head.commit.String(), Uncommitted: opts.Uncommitted}
	res.Stacks, res.Problems, err = e.compare(ctx, base, head, nil)
	if err != nil {
		return nil, err
	}
	if several != nil {
		res.Problems = append([]error{several}, res.Problems...)
	}
	return res, nil
}

// severalBases is the warning for a base and head with several
// merge-bases (criss-cross merges; git merge-base --all lists them):
// detection compares from the first by id, as git diff base...head
// compares from one of them, and says so, since the changes that came
// into head from the other side through the merges may then be listed.
func severalBases(base string, bases []gitops.Hash) error {
	others := make([]string, len(bases)-1)
	for i, b := range bases[1:] {
		others[i] = shortID(b)
	}
	return fmt.Errorf("%s and head have %d merge-bases (criss-cross merges; git merge-base --all): compared from %s, the one with the smallest id, so changes that came into head through the merges from the other side may be listed too; pass --base %s to compare from another one",
		base, len(bases), shortID(bases[0]), strings.Join(others, " or --base "))
}

// detectFrom compares from the merge-base of the given base and head.
// Finding the merge-base walks the history between the two commits, the
// slowest step of a far-apart comparison in a repository without a
// commit-graph; and it is most often the given base itself (an ancestor of
// head). So the comparison from the given base runs meanwhile, and is kept
// when the merge-base turns out to be that commit.
func (e *engine) detectFrom(ctx context.Context, head *side) (*Result, error) {
	b, err := e.resolveBase(head)
	if err != nil {
		return nil, err
	}
	type compared struct {
		stacks   []*Stack
		problems []error
		err      error
	}
	run := func(ctx context.Context, base gitops.Hash) compared {
		st, probs, err := e.compare(ctx, base, head, nil)
		return compared{st, probs, err}
	}
	result := func(base gitops.Hash, c compared) (*Result, error) {
		if c.err != nil {
			return nil, c.err
		}
		return &Result{Base: base.String(), Head: head.commit.String(), Uncommitted: e.opts.Uncommitted, Stacks: c.stacks, Problems: c.problems}, nil
	}
	if b == head.commit || b == gitops.EmptyTree {
		return result(b, run(ctx, b))
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	spec := make(chan compared, 1)
	go func() { spec <- run(sctx, b) }()
	bases, err := e.repo.MergeBases(ctx, b, head.commit)
	if err == nil && bases[0] == b {
		return result(b, <-spec)
	}
	cancel()
	<-spec
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", e.opts.Base, baseError(e.repo, e.opts.Base, err))
	}
	res, err := result(bases[0], run(ctx, bases[0]))
	if err == nil && len(bases) > 1 {
		res.Problems = append([]error{severalBases("base "+e.opts.Base, bases)}, res.Problems...)
	}
	return res, err
}

// DefaultBase returns the base Detect uses when none is given: the
// merge-base of head with the remote default branch, or head's first parent
// when head is on the default branch (its tip, or behind it: a CI job for a
// commit of main after later pushes moved origin/main on). Head's merge-base
// with a branch that contains it is head itself, and comparing head with
// head would silently say that nothing changed.
func DefaultBase(ctx context.Context, repo *gitops.Repo, head gitops.Hash) (gitops.Hash, error) {
	b, _, err := defaultBase(ctx, repo, head)
	return b, err
}

// defaultBase is DefaultBase; it also returns the warning of
// severalBases when head and the default branch have several.
func defaultBase(ctx context.Context, repo *gitops.Repo, head gitops.Hash) (base gitops.Hash, several error, err error) {
	name, tip, err := repo.DefaultBranch()
	if err != nil {
		return gitops.ZeroHash, nil, err
	}
	onBranch := tip == head
	var mb gitops.Hash
	var bases []gitops.Hash
	if !onBranch {
		if bases, err = repo.MergeBases(ctx, head, tip); err != nil {
			return gitops.ZeroHash, nil, fmt.Errorf("default base (merge-base of HEAD and %s): %w", name, baseError(repo, name, err))
		}
		mb = bases[0]
		onBranch = mb == head
	}
	if onBranch {
		p, ok, err := repo.FirstParent(head)
		if err != nil {
			return gitops.ZeroHash, nil, baseError(repo, "HEAD^", err)
		}
		if !ok {
			// The first commit of the repository: everything in it is new.
			return gitops.EmptyTree, nil, nil
		}
		// A depth-1 clone (CI's default checkout) names the parent but does
		// not have it: say that this is the default base, which the user
		// never typed, rather than fail later on an unexplained commit id.
		if _, err := repo.CommitTree(p); err != nil {
			where := "the tip of"
			if tip != head {
				where = "on"
			}
			return gitops.ZeroHash, nil, fmt.Errorf("default base (HEAD's first parent %s, as HEAD is %s %s; or pass --base): %w", p.String()[:12], where, name, baseError(repo, p.String(), err))
		}
		return p, nil, nil
	}
	if len(bases) > 1 {
		return mb, severalBases(name, bases), nil
	}
	return mb, nil, nil
}

// baseError turns a missing object into the shallow-clone explanation.
func baseError(repo *gitops.Repo, ref string, err error) error {
	var re *gitops.RefError
	if errors.As(err, &re) {
		return err
	}
	if errors.Is(err, gitops.ErrObjectMissing) {
		sh, _ := repo.IsShallow()
		return &gitops.RefError{Ref: ref, Missing: true, Shallow: sh, Partial: repo.PartialClone(), Err: err}
	}
	return err
}

type engine struct {
	repo *gitops.Repo
	opts Options
	ix   *indexer // head's stacks root

	rootsMu sync.Mutex
	roots   map[string]*indexer // other stacks roots bases are read under (Options.StacksRootAt)

	mu      sync.Mutex
	headers map[string]headerResult // key: side+dir tree id+dir
}

type headerResult struct {
	h   *stacks.Header
	err error
}

func newEngine(repo *gitops.Repo, opts Options) *engine {
	opts.Resolve.Lenient = true
	opts.StacksRoot = cleanRoot(opts.StacksRoot)
	if opts.Concurrency <= 0 {
		opts.Concurrency = runtime.GOMAXPROCS(0)
	}
	cache := ""
	if !opts.NoCache {
		cache = opts.CacheDir
		if cache == "" {
			cache = filepath.Join(repo.CommonDir(), "panka")
		}
	}
	e := &engine{repo: repo, opts: opts, ix: &indexer{repo: repo, root: opts.StacksRoot, cacheDir: cache},
		headers: map[string]headerResult{}}
	return e
}

// indexerAt is the indexer of the stacks root base commit c is read under:
// the one its own configuration names (Options.StacksRootAt), else the
// engine's.
func (e *engine) indexerAt(c gitops.Hash) *indexer {
	if e.opts.StacksRootAt == nil || c == gitops.EmptyTree {
		return e.ix
	}
	r, ok := e.opts.StacksRootAt(c.String())
	if r = cleanRoot(r); !ok || r == e.ix.root {
		return e.ix
	}
	e.rootsMu.Lock()
	defer e.rootsMu.Unlock()
	if e.roots[r] == nil {
		if e.roots == nil {
			e.roots = map[string]*indexer{}
		}
		e.roots[r] = &indexer{repo: e.repo, root: r, cacheDir: e.ix.cacheDir}
	}
	return e.roots[r]
}

// cleanRoot is a stacks root as the indexes name it: slash-separated,
// without leading or trailing slash, "" for the repository's root.
func cleanRoot(root string) string {
	return strings.Trim(path.Clean("/"+filepath.ToSlash(root)), "/")
}

// rootsDiffer reports whether base and head are read under different
// stacks roots (Options.StacksRootAt).
func (e *engine) rootsDiffer(base, head *side) bool { return e.rootOf(base) != e.rootOf(head) }

// side is one end of a comparison: a commit's tree, or the work tree.
type side struct {
	commit   gitops.Hash
	tree     gitops.Hash // root tree; zero for the work tree
	fsys     fs.FS
	worktree bool
	index    *stackIndex
	ix       *indexer  // the indexer of the stacks root this side is read under (nil: the engine's)
	dirs     []string  // index's stack folders, sorted (base side, for nestedNow)
	keys     *sync.Map // stack folder -> cacheKey
	indexed  *sync.Map // stack folder -> header from the index
}

// wait returns when the cache writes of every indexer are done.
func (e *engine) wait() {
	e.ix.wait()
	e.rootsMu.Lock()
	defer e.rootsMu.Unlock()
	for _, x := range e.roots {
		x.wait()
	}
}

// rootOf is the indexer of the stacks root side s is read under.
func (e *engine) rootOf(s *side) *indexer {
	if s != nil && s.ix != nil {
		return s.ix
	}
	return e.ix
}

// where says where a message's subject is on s, the role ("base",
// "head") naming a commit: "at head 0123456789ab", "in the work tree",
// and for git's empty tree (a repository with no commit yet, or --base
// given as its id) a name, not an id nobody recognises.
func (s *side) where(role string) string {
	switch {
	case s.worktree && s.commit == gitops.EmptyTree:
		return "in the work tree (no commit yet)"
	case s.worktree:
		return "in the work tree"
	case s.commit == gitops.EmptyTree:
		return "in the empty tree (" + role + ": no commit)"
	}
	return "at " + role + " " + shortID(s.commit)
}

// eitherWhere is where for a subject on neither side: "at base X or head
// Y", "at base X or in the work tree"; only head's where when base is the
// same tree or git's empty tree (which holds nothing to name).
func eitherWhere(base, head *side) string {
	h := head.where("head")
	if base == nil || base.commit == head.commit && !head.worktree || base.commit == gitops.EmptyTree {
		return h
	}
	b := base.where("base")
	if strings.HasPrefix(b, "at ") && strings.HasPrefix(h, "at ") {
		h = strings.TrimPrefix(h, "at ")
	}
	return b + " or " + h
}

// head is the head side. With unborn (Detect) and Uncommitted, a
// repository with no commit yet has the work tree on git's empty tree:
// everything in it is new, as git status lists it.
func (e *engine) head(unborn bool) (*side, error) {
	ref := e.opts.Head
	if ref == "" {
		ref = "HEAD"
	}
	h, err := e.repo.ResolveRef(ref)
	if err != nil {
		var re *gitops.RefError
		if !unborn || !e.opts.Uncommitted || !errors.As(err, &re) || re.Unborn == "" || !isHEAD(ref) {
			return nil, fmt.Errorf("head: %w", err)
		}
		h = gitops.EmptyTree
	}
	s, err := e.commitSide(h)
	if err != nil {
		return nil, err
	}
	if e.opts.Uncommitted {
		// Git's view: what a sparse checkout or assume-unchanged keeps
		// out of the work tree reads as indexed, not as absent.
		wt, err := e.repo.WorktreeFS(stacks.DirFS(e.repo.Root()))
		if err != nil {
			return nil, err
		}
		s.worktree = true
		s.fsys = wt
	}
	return s, nil
}

func (e *engine) commitSide(h gitops.Hash) (*side, error) {
	if h == gitops.EmptyTree { // a base of nothing
		return &side{commit: h, fsys: e.repo.TreeFSOf(gitops.ZeroHash), keys: &sync.Map{}, indexed: &sync.Map{}}, nil
	}
	t, err := e.repo.CommitTree(h)
	if err != nil {
		return nil, baseError(e.repo, h.String(), err)
	}
	return &side{commit: h, tree: t, fsys: e.repo.TreeFSOf(t), keys: &sync.Map{}, indexed: &sync.Map{}}, nil
}

// resolveBase resolves --base: a commit, or git's empty tree (nothing: every
// stack added), which is not a commit and has no merge-base.
func (e *engine) resolveBase(head *side) (gitops.Hash, error) {
	if strings.EqualFold(strings.TrimSpace(e.opts.Base), gitops.EmptyTree.String()) {
		return gitops.EmptyTree, nil
	}
	b, err := e.repo.ResolveRef(e.opts.Base)
	if err != nil {
		var re *gitops.RefError
		if head.commit == gitops.EmptyTree && errors.As(err, &re) && re.Unborn != "" && isHEAD(e.opts.Base) {
			// --base HEAD --uncommitted before the first commit: HEAD
			// holds nothing yet.
			return gitops.EmptyTree, nil
		}
		if errors.As(err, &re) && re.Missing && !re.Shallow && re.Partial == "" && len(strings.TrimSpace(e.opts.Base)) == 40 {
			// A full clone lacks a full commit id: most often CI's "before"
			// of a force push, which no remote has any more.
			return gitops.ZeroHash, fmt.Errorf("base: %w; if it is what the branch pointed at before a force push (CI's \"before\" commit), it is gone for good: omit --base to compare from where the branch forked from the default branch, or pass --base origin/<default branch>", err)
		}
		return gitops.ZeroHash, fmt.Errorf("base: %w", err)
	}
	return b, nil
}

// isHEAD reports whether ref names HEAD itself ("HEAD", "@").
func isHEAD(ref string) bool {
	ref = strings.TrimSpace(ref)
	return ref == "HEAD" || ref == "@"
}

// changedPaths lists what differs between base and the head side.
func (e *engine) changedPaths(ctx context.Context, base *side, head *side) ([]gitops.Change, error) {
	ch, err := e.repo.DiffTrees(ctx, base.tree, head.tree)
	if err != nil {
		return nil, baseError(e.repo, base.commit.String(), err)
	}
	if !head.worktree {
		return ch, nil
	}
	wt, err := e.worktreeChanges(ctx, base, head)
	if err != nil {
		return nil, err
	}
	if _, ok := head.fsys.(*committableFS); !ok {
		head.fsys = newCommittableFS(head.fsys, e.repo.TreeFSOf(head.tree), wt)
	}
	files, err := e.repo.WorktreeFiles(head.fsys, wt)
	if err != nil {
		return nil, err
	}
	if c, ok := head.fsys.(*committableFS); ok {
		c.hideIgnored(e.repo, wt, files)
	}
	return mergeWorktree(e.repo, base.fsys.(*gitops.TreeFS), ch, wt, files)
}

// worktreeChanges lists the work-tree changes that can matter: those under
// the stacks root, and those under the folders that head's spec.watch globs
// start with (HEAD's globs, and those of the stack.yaml files changed in the
// work tree, or of the files a linked stack.yaml points at). The rest of a large repository — most often the application
// code beside the stacks — is not examined: a status of the whole work tree
// costs seconds there. Base's stacks root is examined too where it is
// another (Options.StacksRootAt): the stacks moved away from it.
func (e *engine) worktreeChanges(ctx context.Context, base, head *side) ([]string, error) {
	root := e.opts.StacksRoot
	if root == "" {
		return e.repo.WorktreeChanges(ctx)
	}
	// An empty base root is the whole repository (WorktreeChangesUnder).
	wt, err := e.repo.WorktreeChangesUnder(ctx, root, e.rootOf(base).root)
	if err != nil {
		return nil, err
	}
	ix, _, ok, err := e.ix.quick(head.tree)
	if err == nil && !ok {
		ix, err = e.ix.forCommit(ctx, head.tree)
	}
	if err != nil {
		return nil, baseError(e.repo, head.commit.String(), err)
	}
	var globs []string
	for _, en := range ix.Stacks {
		globs = append(globs, en.Watch...)
	}
	linked := ix.hasLink()
	read := map[string]bool{}
	for _, p := range wt {
		dir := path.Dir(p)
		if path.Base(p) != stacks.StackFile {
			// A stack.yaml that is a symbolic link declares what the file
			// it points at says, which the work tree may have edited.
			if !linked {
				continue
			}
			if dir = ix.stackOf(p); dir == "" || ix.Stacks[dir] == nil || !ix.Stacks[dir].Link {
				continue
			}
		}
		if read[dir] {
			continue
		}
		read[dir] = true
		// A removed stack.yaml declares nothing; a broken one its globs
		// as written (as the index, see watchEntry).
		if _, watch, err := stacks.ReadWatch(head.fsys, dir); !errors.Is(err, stacks.ErrNoStack) {
			globs = append(globs, watch...)
		}
	}
	dirs := map[string]bool{}
	for _, g := range globs {
		d := watchDir(g)
		if d == "" {
			return e.repo.WorktreeChanges(ctx) // a glob that starts with a pattern
		}
		if d == ".." || strings.HasPrefix(d, "../") {
			continue // an invalid glob leaving the repository matches nothing
		}
		if d != root && !strings.HasPrefix(d, root+"/") {
			dirs[d] = true
		}
	}
	if len(dirs) == 0 {
		return wt, nil
	}
	more, err := e.repo.WorktreeChangesUnder(ctx, sortedKeys(dirs)...)
	if err != nil {
		return nil, err
	}
	// Disjoint from wt (outside the root), both sorted.
	all := append(wt, more...)
	sort.Strings(all)
	return slices.Compact(all), nil
}

// watchDir is the path every match of spec.watch glob g lies in or is (a
// folder, or the file itself for a glob without pattern characters), or ""
// when the glob starts with a pattern.
func watchDir(g string) string {
	p := literalPrefix(g)
	if strings.ContainsAny(strings.TrimPrefix(strings.TrimPrefix(g, "./"), "/"), "*?[\\") {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return ""
		}
		p = p[:i]
	}
	return strings.Trim(p, "/")
}

// mergeWorktree folds work-tree changes (relative to HEAD) into the
// base..HEAD changes, comparing each work-tree path with base directly:
// wt lists the paths, files what the work tree holds there.
func mergeWorktree(repo *gitops.Repo, base *gitops.TreeFS, commitChanges []gitops.Change, wt []string, files []gitops.WorktreeFile) ([]gitops.Change, error) {
	inWT := map[string]bool{}
	for _, p := range wt {
		inWT[p] = true
	}
	var out []gitops.Change
	for _, c := range commitChanges {
		// Every committed rename is split and paired again with the work
		// tree's changes: a file deleted in the work tree with the same
		// content may be the better match, as the same changes committed
		// would pair it (kept, the commit's pair was listed instead).
		if c.Action == gitops.Renamed {
			if !inWT[c.OldPath] {
				out = append(out, gitops.Change{Action: gitops.Deleted, Path: c.OldPath, OldHash: c.OldHash, OldMode: c.OldMode})
			}
			if !inWT[c.Path] {
				out = append(out, gitops.Change{Action: gitops.Added, Path: c.Path, NewHash: c.NewHash, NewMode: c.NewMode})
			}
			continue
		}
		if !inWT[c.Path] {
			out = append(out, c)
		}
	}
	for i, p := range wt {
		be, berr := treeEntry(repo, base, p)
		inBase := berr == nil && !be.IsDir()
		f := files[i]
		inTree := f.Mode != filemode.Empty
		switch {
		case inBase && inTree:
			// As git: a change of mode (chmod +x) is a change too.
			if f.Hash != be.Hash || f.Mode != be.Mode {
				out = append(out, gitops.Change{Action: gitops.Modified, Path: p, OldHash: be.Hash, NewHash: f.Hash, OldMode: be.Mode, NewMode: f.Mode})
			}
		case inBase:
			out = append(out, gitops.Change{Action: gitops.Deleted, Path: p, OldHash: be.Hash, OldMode: be.Mode})
		case inTree:
			out = append(out, gitops.Change{Action: gitops.Added, Path: p, NewHash: f.Hash, NewMode: f.Mode})
		}
	}
	// A file moved in the work tree (git mv, staged or not) reads as
	// renamed, as the same move committed does.
	return gitops.PairRenames(out), nil
}

// treeEntry is t.Entry(p) for any path p, one that is not UTF-8 included:
// git's trees hold such names (made on a Latin-1 system), which io/fs
// refuses, and a file of them changed in the work tree read as added,
// or its deletion as nothing.
func treeEntry(repo *gitops.Repo, t *gitops.TreeFS, p string) (gitops.TreeEntry, error) {
	if utf8.ValidString(p) || t.Root().IsZero() {
		return t.Entry(p)
	}
	return repo.PathEntry(t.Root(), p)
}

// indexes builds the stack index of both sides: base from the cache (or a
// walk of trees), head from base plus the stack.yaml files in changes.
func (e *engine) indexes(ctx context.Context, base, head *side, changes []gitops.Change) error {
	if err := e.baseIndex(ctx, base); err != nil {
		return err
	}
	return e.headIndex(base.index, head, changes)
}

// headIndex builds head's stack index from from, the index of base's tree
// under head's stacks root (base's own index unless the roots differ),
// plus the stack.yaml files in changes (base to head).
func (e *engine) headIndex(from *stackIndex, head *side, changes []gitops.Change) error {
	hix := from.clone()
	var hashOf func([]byte) string
	if head.worktree {
		hix.Tree = ""
		hashOf = func(b []byte) string { return plumbing.ComputeHash(plumbing.BlobObject, b).String() }
	} else {
		rt, err := e.ix.rootTree(head.tree)
		if err != nil {
			return err
		}
		hix.Tree = rt.String()
	}
	if err := e.ix.apply(hix, changes, head.fsys, hashOf); err != nil {
		return fmt.Errorf("index stacks at head: %w", err)
	}
	head.index = hix
	if !head.worktree {
		// The next detection most likely starts where this one ends.
		e.ix.save(hix)
	}
	return nil
}

// baseFromHead derives the stack index of base from head's and the
// changes between them (read backwards), and caches head's.
func (e *engine) baseFromHead(base, head *side, changes []gitops.Change, headCached bool) error {
	bix := head.index.clone()
	bix.noWatch = true // nothing reads base's watch globs
	rt, err := e.ix.rootTree(base.tree)
	if err != nil {
		return fmt.Errorf("index stacks at %s: %w", base.commit.String()[:12], baseError(e.repo, base.commit.String(), err))
	}
	bix.Tree = rt.String()
	if err := e.ix.apply(bix, reverse(changes), base.fsys, nil); err != nil {
		return fmt.Errorf("index stacks at %s: %w", base.commit.String()[:12], baseError(e.repo, base.commit.String(), err))
	}
	base.index = bix
	if !headCached {
		e.ix.save(head.index)
	}
	return nil
}

// baseIndex builds the stack index of base (from the cache or a walk of
// its tree) unless it has one.
func (e *engine) baseIndex(ctx context.Context, base *side) error {
	if base.index != nil {
		return nil
	}
	ix, err := e.rootOf(base).forCommit(ctx, base.tree)
	if err != nil {
		return fmt.Errorf("index stacks at %s: %w", base.commit.String()[:12], baseError(e.repo, base.commit.String(), err))
	}
	base.index = ix
	return nil
}

// ownIndexes builds each side's stack index under its own stacks root
// (Options.StacksRootAt): neither derives from the other, whose folders
// are elsewhere.
func (e *engine) ownIndexes(ctx context.Context, base, head *side) error {
	if err := e.baseIndex(ctx, base); err != nil {
		return err
	}
	ix, err := e.ix.forCommit(ctx, head.tree)
	if err != nil {
		return fmt.Errorf("index stacks at head %s: %w", shortID(head.commit), err)
	}
	head.index = ix
	return nil
}

// rootMissing reports whether the stacks root is not a folder on side s.
func (e *engine) rootMissing(s *side) bool {
	x := e.rootOf(s)
	if x.root == "" {
		return false
	}
	if s.worktree {
		st, err := fs.Stat(s.fsys, x.root)
		return err != nil || !st.IsDir()
	}
	rt, err := x.rootTree(s.tree)
	return err == nil && rt.IsZero()
}

// rootRecordsNothing reports whether the stacks root is not a folder on
// side s, or, in the work tree, a folder holding no file git add -A would
// record (left empty by git mv stacks/* deploy/, or holding only ignored
// files): the commit has none there either (git records no empty folder).
// Asked only when s has no stacks, so the walk stops at its first file.
func (e *engine) rootRecordsNothing(s *side) bool {
	if e.rootMissing(s) {
		return true
	}
	root := e.rootOf(s).root
	if !s.worktree || root == "" {
		return false
	}
	errFile := errors.New("a file")
	err := fs.WalkDir(s.fsys, root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			return errFile
		}
		return err
	})
	return err == nil
}

// submoduleRoot refuses a head whose stacks root is a git submodule (in
// its commit's tree; for the work tree, HEAD's): this repository's trees
// hold only a commit id of another repository there, so every stack of
// base came out removed (a pipeline destroys them) and, from a base
// without stacks, nothing changed. A base whose stacks root is one (the
// stacks moved back into this repository) lists head's stacks as added,
// which deploys nothing that is not there.
func (e *engine) submoduleRoot(head *side) error {
	root := e.rootOf(head).root
	if root == "" || len(head.index.Stacks) > 0 || head.tree.IsZero() {
		return nil
	}
	en, err := e.repo.PathEntry(head.tree, root)
	if err != nil || en.Mode != filemode.Submodule {
		return nil
	}
	return fmt.Errorf("%w: stacks root %q is a git submodule %s: this repository's commits record only a commit of another repository there, none of its files, so panka cannot compare its stacks (nor plan --ref or roll back to them); keep the stack files in this repository, or set stacks.root in panka.yaml (or PANKA_STACKS_ROOT) to a folder of it", ErrNoStacksRoot, root, head.where("head"))
}

// caseRoot refuses a head without the stacks root whose parent folder
// holds it under another case ("Stacks" for "stacks"): git compares names
// case-sensitively, so every stack of base read as removed there (a
// pipeline destroys them), though on a case-insensitive file system
// (macOS, Windows, core.ignorecase) panka validate and plan found them in
// the work tree; a case-sensitive one (CI) finds none.
func (e *engine) caseRoot(head *side, stacksAt int) error {
	root := e.rootOf(head).root
	if root == "" || stacksAt > 0 || !e.rootMissing(head) {
		return nil
	}
	parent, name := path.Split(root)
	parent = strings.TrimSuffix(parent, "/")
	if parent == "" {
		parent = "."
	}
	ents, err := fs.ReadDir(head.fsys, parent)
	if err != nil {
		return nil
	}
	for _, en := range ents {
		if !en.IsDir() || en.Name() == name || !strings.EqualFold(en.Name(), name) {
			continue
		}
		other := path.Join(parent, en.Name())
		return fmt.Errorf("%w: stacks root %q is not a folder %s, but %q is: git compares file names case-sensitively (a case-insensitive file system, or core.ignorecase, only hides that in this work tree), so every stack would read as removed, and panka finds no stacks where names keep their case (CI); rename it: git mv %s %s.tmp && git mv %s.tmp %s (or set stacks.root in panka.yaml to %q)",
			ErrStacksRootMoved, root, head.where("head"), other, other, root, root, root, other)
	}
	return nil
}

// movedRoot refuses a head without the stacks root whose stacks are there
// under another folder (git mv stacks deploy, with panka.yaml still naming
// stacks): every stack of base read as removed (a pipeline destroys them),
// though a stacks.root naming the new folder in the same commit reads them
// as moved. It looks, only then, for a few of base's stack folders under
// the folders one and two levels down at head, and beside base's stacks
// folder when that is deeper; a stacks folder deleted
// with its stacks is a real removal and finds none. In the work tree (a
// git mv not committed yet) it looks on disk, where the folders git status
// was not asked about are hidden otherwise (committableFS), past the
// ignored ones, and keeps what git add -A would record (committedAs).
func (e *engine) movedRoot(ctx context.Context, base, head *side) error {
	root := e.rootOf(head).root
	if root == "" || base.index == nil || len(base.index.Stacks) == 0 || len(head.index.Stacks) > 0 || !e.rootRecordsNothing(head) {
		return nil
	}
	prefix := e.rootOf(base).root + "/"
	var rels []string
	for d := range base.index.Stacks {
		if rel, ok := strings.CutPrefix(d, prefix); ok {
			rels = append(rels, rel)
		}
	}
	sort.Strings(rels)
	rels = rels[:min(len(rels), 3)]
	if len(rels) == 0 {
		return nil
	}
	fsys := head.fsys
	var ig *gitops.Ignores
	if c, ok := fsys.(*committableFS); ok {
		fsys, ig = c.fsys, e.repo.Ignores()
	}
	var dirs []string
	tops, _ := fs.ReadDir(fsys, ".")
	for _, t := range tops {
		if !t.IsDir() || t.Name() == ".git" || ig != nil && ig.Ignored(t.Name(), true) {
			continue
		}
		dirs = append(dirs, t.Name())
		subs, _ := fs.ReadDir(fsys, t.Name())
		for _, sub := range subs {
			if sub.IsDir() {
				dirs = append(dirs, path.Join(t.Name(), sub.Name()))
			}
		}
	}
	// A deeper stacks folder renamed where it is (platform/infra/stacks
	// -> platform/infra/deploy): the folders beside it.
	if parent := path.Dir(strings.TrimSuffix(prefix, "/")); strings.Count(parent, "/") > 0 {
		subs, _ := fs.ReadDir(fsys, parent)
		for _, sub := range subs {
			if d := path.Join(parent, sub.Name()); sub.IsDir() && (ig == nil || !ig.Ignored(d, true)) {
				dirs = append(dirs, d)
			}
		}
	}
	for _, d := range dirs {
		var found []string
		for _, rel := range rels {
			if st, err := fs.Stat(fsys, path.Join(d, rel, stacks.StackFile)); err == nil && !st.IsDir() {
				found = append(found, path.Join(d, rel))
			}
		}
		if ig != nil && 2*len(found) > len(rels) {
			var err error
			if found, err = e.committedAs(ctx, head, found); err != nil {
				return fmt.Errorf("stacks root %q is not a folder %s; look for the stacks of base %s under %q: %w", root, head.where("head"), shortID(base.commit), d, err)
			}
		}
		if 2*len(found) > len(rels) && d == strings.TrimSuffix(prefix, "/") {
			// stacks.root changed, the folder did not move.
			return fmt.Errorf("%w: stacks root %q is not a folder %s, while the stacks are still in %q there (%s): panka.yaml names a folder the stacks did not move to, so every stack would read as removed; move them in the same commit (git mv %s %s), or set stacks.root back to %s",
				ErrStacksRootMoved, root, head.where("head"), d, strings.Join(found, ", "), d, root, d)
		}
		if 2*len(found) > len(rels) {
			return fmt.Errorf("%w: stacks root %q is not a folder %s, and the stacks in %q %s are under %q there (%s): the stacks folder moved while panka.yaml still names %q, so every stack would read as removed; set stacks.root: %s in panka.yaml in the same commit (or PANKA_STACKS_ROOT), and they read as moved",
				ErrStacksRootMoved, root, head.where("head"), strings.TrimSuffix(prefix, "/"), base.where("base"), d, strings.Join(found, ", "), root, d)
		}
	}
	return nil
}

// committedAs keeps of the work tree's stack folders dirs those whose
// stack.yaml git add -A would record: tracked at HEAD, or listed by git
// status (staged by git mv, or untracked and not ignored). A git status
// of those few files only, asked only once a moved stacks root is found.
func (e *engine) committedAs(ctx context.Context, head *side, dirs []string) ([]string, error) {
	c := head.fsys.(*committableFS)
	files := make([]string, len(dirs))
	for i, d := range dirs {
		files[i] = path.Join(d, stacks.StackFile)
	}
	listed, err := e.repo.WorktreeChangesUnder(ctx, files...)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, d := range dirs {
		if _, ok := slices.BinarySearch(listed, files[i]); ok || !c.hidden(files[i]) {
			out = append(out, d)
		}
	}
	return out, nil
}

// linkedRoot refuses a stacks root that is a symbolic link on a side
// without stacks: git stores the link, not the folder, so every stack
// would read as removed (or added) there.
func (e *engine) linkedRoot(base, head *side) error {
	for i, s := range []*side{base, head} {
		root := e.rootOf(s).root
		if root == "" || len(s.index.Stacks) > 0 {
			continue
		}
		if err := stacks.LinkedRoot(s.fsys, root); err != nil {
			return fmt.Errorf("%s: %w", s.where([2]string{"base", "head"}[i]), err)
		}
	}
	return nil
}

// rootError says that the stacks root exists on neither side: a wrong
// stacks.root would otherwise look like "nothing changed" forever.
func (e *engine) rootError(base, head *side) error {
	if e.rootsDiffer(base, head) {
		return fmt.Errorf("%w: stacks root %q is not a folder %s, nor %q %s: set stacks.root in panka.yaml (or PANKA_STACKS_ROOT) to the folder holding your stacks", ErrNoStacksRoot, e.rootOf(base).root, base.where("base"), e.rootOf(head).root, head.where("head"))
	}
	return fmt.Errorf("%w: stacks root %q is not a folder %s: set stacks.root in panka.yaml (or PANKA_STACKS_ROOT) to the folder holding your stacks", ErrNoStacksRoot, e.opts.StacksRoot, eitherWhere(base, head))
}

// ErrNoStacksRoot is returned (wrapped) when the stacks root exists at
// neither commit compared: a wrong stacks.root, or a repository without
// stacks yet.
var ErrNoStacksRoot = errors.New("no stacks")

// ErrStacksRootMoved is returned (wrapped; it wraps ErrNoStacksRoot) when
// head has no stacks root while the stacks are there under another folder
// (moved, or renamed in case only) or stacks.root names a folder they did
// not move to: a mistake of the commit, which every panka changed on it
// refuses, unlike a repository without stacks.
var ErrStacksRootMoved = fmt.Errorf("%w", ErrNoStacksRoot)

func shortID(h gitops.Hash) string { return h.String()[:12] }

// duplicateName is the error of a stack name used by two folders.
func duplicateName(name, first, second string) error {
	a, b := min(first, second), max(first, second)
	return &stacks.Errors{List: []*stacks.Error{{File: path.Join(b, stacks.StackFile), Key: "metadata.name", Msg: fmt.Sprintf("stack name %q is used by both %s and %s: stack names must be unique, rename one", name, a, b)}}}
}

// touched is what a change does to one stack folder.
type touched struct {
	files   []gitops.Change
	watched []Reason
}

// ident is one stack identity (metadata.name) seen at base and/or head.
type ident struct {
	name             string
	baseDir, headDir string
	bh, hh           *stacks.Header
	baseErr, headErr error
	files            []gitops.Change
	watched          []Reason
	// nestedFolders: --paths looks for a stack.yaml in every folder of
	// the changed files (else only among the changed files), see nestedIn.
	nestedFolders bool
}

// nestedFoldersMax is the number of touched stacks up to which --paths
// looks for nested stack.yaml files in every folder of the changed files.
// Beyond it (a far-apart comparison) that would read a tree per folder,
// doubling the cost of --paths; the changed stack.yaml files are still
// checked, and resolved mode reports nesting whenever it loads a stack.
const nestedFoldersMax = 200

// compare reports the stacks that changed between base and head. only, when
// set, restricts detection to some stack/environment pairs (since-deployed).
func (e *engine) compare(ctx context.Context, baseCommit gitops.Hash, head *side, only map[string]map[string]bool) ([]*Stack, []error, error) {
	base, err := e.commitSide(baseCommit)
	if err != nil {
		return nil, nil, err
	}
	// head sides are shared between comparisons (since-deployed): index a copy.
	hs := *head
	hs.index = nil
	head = &hs
	base.ix, head.ix = e.indexerAt(baseCommit), e.ix
	// One side's stack index does not depend on the diff: build it while
	// git computes the diff, then derive the other side's from it. That is
	// base's when it is cached; else head's when it comes without a walk
	// of trees (cached, or head is checked out and the staging index lists
	// it); else base's.
	headFirst, headCached := false, false
	ixDone := make(chan error, 1)
	var headFrom *stackIndex // the work tree's index derives from base's tree under head's root
	go func() {
		if e.rootsDiffer(base, head) && head.worktree {
			ix, err := e.ix.forCommit(ctx, base.tree)
			if err != nil {
				err = fmt.Errorf("index stacks at %s: %w", shortID(base.commit), baseError(e.repo, base.commit.String(), err))
			} else {
				headFrom = ix
				err = e.baseIndex(ctx, base)
			}
			ixDone <- err
			return
		}
		if e.rootsDiffer(base, head) {
			ixDone <- e.ownIndexes(ctx, base, head)
			return
		}
		if !head.worktree && !e.ix.cachedIndex(base.tree) {
			ix, cached, ok, err := e.ix.quick(head.tree)
			if err != nil || ok {
				head.index, headFirst, headCached = ix, ok, cached
				ixDone <- err
				return
			}
		}
		ixDone <- e.baseIndex(ctx, base)
	}()
	basePrefix, prefix := e.rootOf(base).rootPrefix(), e.ix.rootPrefix()
	changes, err := e.changedPaths(ctx, base, head)
	ixErr := <-ixDone
	if err != nil {
		return nil, nil, err
	}
	if ixErr != nil {
		return nil, nil, fmt.Errorf("index stacks: %w", ixErr)
	}
	// The base versions of changed stack.yaml files are read for the
	// headers of touched stacks below: start reading them now, meanwhile
	// the indexes are derived and the paths mapped.
	baseBlobs := make(chan struct{})
	go func() {
		defer close(baseBlobs)
		_ = e.repo.PrefetchBlobs(stackFileBlobs(changes, basePrefix))
	}()
	defer func() { <-baseBlobs }()
	switch {
	case headFrom != nil:
		err = e.headIndex(headFrom, head, changes)
	case e.rootsDiffer(base, head): // both built meanwhile
	case headFirst:
		err = e.baseFromHead(base, head, changes, headCached)
	default:
		err = e.indexes(ctx, base, head, changes)
	}
	if err != nil {
		return nil, nil, err
	}
	e.folderStackFiles(base, head, changes)
	if err := e.submoduleRoot(head); err != nil {
		return nil, nil, err
	}
	if err := e.caseRoot(head, len(head.index.Stacks)); err != nil {
		return nil, nil, err
	}
	if len(base.index.Stacks) == 0 && len(head.index.Stacks) == 0 && e.rootMissing(base) && e.rootMissing(head) {
		return nil, nil, e.rootError(base, head)
	}
	if err := e.linkedRoot(base, head); err != nil {
		return nil, nil, err
	}
	if err := e.movedRoot(ctx, base, head); err != nil {
		return nil, nil, err
	}
	e.orphanedStackFiles(base, head, changes)

	watch := map[string][]string{}
	for dir, ent := range head.index.Stacks {
		if len(ent.Watch) > 0 {
			watch[dir] = ent.Watch
		}
	}
	watchers := newWatchSet(watch)

	atBase, atHead := map[string]*touched{}, map[string]*touched{}
	var links []string      // new or changed symbolic links outside every stack
	var strays []string     // new or changed YAML files under the stacks root outside every stack
	var submodules []string // added, moved or removed submodules under the stacks root
	touch := func(m map[string]*touched, dir string) *touched {
		t := m[dir]
		if t == nil {
			t = &touched{}
			m[dir] = t
		}
		return t
	}
	for _, c := range changes {
		var bp, hp string
		switch c.Action {
		case gitops.Added:
			hp = c.Path
		case gitops.Deleted:
			bp = c.Path
		case gitops.Modified:
			bp, hp = c.Path, c.Path
		case gitops.Renamed:
			bp, hp = c.OldPath, c.Path
		}
		if bp != "" && strings.HasPrefix(bp, basePrefix) {
			if d := base.index.stackOf(bp); d != "" {
				t := touch(atBase, d)
				t.files = append(t.files, c)
			}
		}
		if hp != "" && strings.HasPrefix(hp, prefix) {
			if d := head.index.stackOf(hp); d != "" {
				t := touch(atHead, d)
				if len(t.files) == 0 || t.files[len(t.files)-1].Path != c.Path {
					t.files = append(t.files, c)
				}
			} else if c.NewMode == filemode.Symlink {
				links = append(links, hp)
			} else if isYAMLName(hp) {
				strays = append(strays, hp)
			}
		}
		if (c.OldMode == filemode.Submodule || c.NewMode == filemode.Submodule) && (strings.HasPrefix(c.Path, prefix) || strings.HasPrefix(c.Path, basePrefix)) {
			submodules = append(submodules, c.Path)
		}
		watchers.match([2]string{hp, bp}, func(dir string, g glob) {
			f := hp
			if f == "" {
				f = bp
			}
			t := touch(atHead, dir)
			t.watched = append(t.watched, watchReason(f, c, g))
		})
	}

	// A folder that is a stack on both sides is compared on both sides,
	// whichever side the changed files are on.
	for dir := range atBase {
		if _, ok := head.index.Stacks[dir]; ok {
			touch(atHead, dir)
		}
	}
	for dir := range atHead {
		if _, ok := base.index.Stacks[dir]; ok {
			touch(atBase, dir)
		}
	}

	// Read what the touched folders need at base in a few batches (the
	// git-binary accelerator pipelines them; reads are then served from
	// memory), then their headers (stack.yaml names and environment
	// listings, mostly without a YAML parse) in parallel.
	baseDirs, headDirsAll := sortedKeys(atBase), sortedKeys(atHead)
	// The stack.yaml blobs the index knows (head's from the work tree
	// where they match), and the trees on the way to the touched folders
	// that are read, in a few batches.
	var pw sync.WaitGroup
	pw.Add(2)
	go func() {
		defer pw.Done()
		e.prefetchHeaderReads(base, baseDirs, false, baseBlobs)
	}()
	go func() {
		defer pw.Done()
		e.prefetchHeaderReads(head, headDirsAll, true, nil)
	}()
	pw.Wait()
	if err := e.prefetch(ctx, base, baseDirs); err != nil {
		return nil, nil, err
	}
	e.parallel(len(baseDirs), func(i int) { e.header(base, baseDirs[i]) })

	// At head, in --paths mode, a folder keeps its environment listing
	// unless an environment file was added, removed or renamed, and the
	// stack.yaml blob is known from the head index: most headers need no
	// tree read at all.
	var headDirs []string
	listing := listingChanges(changes)
	for _, dir := range headDirsAll {
		if en := head.index.Stacks[dir]; !e.opts.Paths || head.worktree || listing[dir] || (en != nil && en.EnvsKnown) || !e.deriveHeader(base, head, dir) {
			headDirs = append(headDirs, dir)
		}
	}
	if err := e.prefetch(ctx, head, headDirs); err != nil {
		return nil, nil, err
	}
	e.parallel(len(headDirs), func(i int) { e.header(head, headDirs[i]) })
	// Identities: read the headers of touched folders only.
	idents := map[string]*ident{}
	get := func(name string) *ident {
		id := idents[name]
		if id == nil {
			id = &ident{name: name}
			idents[name] = id
		}
		return id
	}
	// A folder without a name of its own (its stack.yaml gone, or
	// unreadable) that takes the name it has at the other side yields it
	// to a folder elsewhere whose stack.yaml gives that name, whatever the
	// order of the two: the stack moved from or to there.
	inside := func(dir, other string) bool { return strings.HasPrefix(dir+"/", other+"/") }
	var leftBehind []error
	baseNames := map[string]string{}
	for _, dir := range baseDirs {
		h, err := e.header(base, dir)
		name := path.Base(dir)
		if h != nil {
			name = h.Name
		} else if _, ok := atHead[dir]; ok {
			if hh, _ := e.header(head, dir); hh != nil {
				name = hh.Name // broken at base, fixed at head: same stack
			}
		}
		baseNames[dir] = name
		id := get(name)
		if id.baseDir != "" && h != nil && id.bh == nil && !inside(dir, id.baseDir) {
			id.baseDir, id.baseErr, id.files = "", nil, nil
		}
		if id.baseDir != "" {
			continue
		}
		id.baseDir, id.bh, id.baseErr = dir, h, err
		id.files = append(id.files, atBase[dir].files...)
	}
	// At head, the folder left behind is named on stderr.
	behind := func(name, dir, other string, err error) error {
		what := "its stack.yaml is gone"
		if !errors.Is(err, stacks.ErrNoStack) {
			what = "its stack.yaml gives no name: " + firstLine(err)
		}
		return fmt.Errorf("stack %s is at %s at head; %s still holds stack files, but %s: delete that folder (git rm -r %s) if the stack moved, or fix its stack.yaml", name, other, dir, what, dir)
	}
	headErrs := map[string]error{} // folder -> its header error, as read
	for _, dir := range headDirsAll {
		h, err := e.header(head, dir)
		headErrs[dir] = err
		name := path.Base(dir)
		if h != nil {
			name = h.Name
		} else if n, ok := baseNames[dir]; ok {
			name = n // stack.yaml no longer parses: keep the identity it had
		}
		id := get(name)
		if id.headDir != "" && h == nil && id.hh != nil && !inside(id.headDir, dir) {
			leftBehind = append(leftBehind, behind(name, dir, id.headDir, err))
			continue
		}
		if id.headDir != "" && h != nil && id.hh == nil && !inside(dir, id.headDir) {
			leftBehind = append(leftBehind, behind(name, id.headDir, dir, headErrs[id.headDir]))
			id.headDir, id.headErr = "", nil
		}
		if errors.Is(err, stacks.ErrNoStack) {
			// orphanedStackFiles: its stack.yaml is gone, its
			// environments are not.
			err = fmt.Errorf("%s is gone, but %s still holds environment files: restore %s (named exactly that) to keep the stack, or delete the whole folder (git rm -r %s) to remove it", path.Join(dir, stacks.StackFile), path.Join(dir, stacks.EnvironmentsDir), stacks.StackFile, dir)
		}
		if id.headDir != "" {
			if id.headErr == nil {
				id.headErr = duplicateName(name, id.headDir, dir)
			}
			continue
		}
		id.headDir, id.hh, id.headErr = dir, h, err
		t := atHead[dir]
		id.files = mergeFiles(id.files, t.files)
		id.watched = t.watched
	}
	e.nestedAtHead(head, changes, prefix, idents)
	// A touched stack whose stack.yaml another (untouched) folder holds
	// byte for byte at head (a copied folder): same name, so the copy does
	// not load (validate refuses it). Only blob ids are compared: the index
	// does not always know names, and reading every stack.yaml is what a
	// small change must not cost.
	// The touched stacks' blobs first, then one pass over the index (no
	// map of all its blobs: that cost a far-apart run milliseconds).
	touchedBlob := map[string]*ident{}
	for _, id := range idents {
		if id.headDir == "" || id.headErr != nil || id.hh == nil {
			continue
		}
		// A symbolic link is only its target's name: two stack.yaml links
		// to stack.txt in their own folders are two stacks.
		if en := head.index.Stacks[id.headDir]; en != nil && en.Blob != "" && !en.Link {
			touchedBlob[en.Blob] = id
		}
	}
	if len(touchedBlob) > 0 {
		other := map[*ident]string{}
		for d, x := range head.index.Stacks {
			if id := touchedBlob[x.Blob]; id != nil && d != id.headDir && !x.Link && (other[id] == "" || d < other[id]) {
				other[id] = d
			}
		}
		for id, d := range other {
			id.headErr = duplicateName(id.name, d, id.headDir)
		}
	}

	e.freshNames(ctx, head, atHead, idents)
	if only == nil {
		warns, err := e.unknownFilters(ctx, base, head, atHead, idents)
		if err != nil {
			return nil, nil, err
		}
		leftBehind = append(leftBehind, warns...)
	}

	problems := leftBehind
	// A link to a stack folder is not a stack (validate says why): no
	// change made through it is seen.
	for _, l := range links {
		if target, ok := stacks.LinkedStack(head.fsys, l); ok {
			problems = append(problems, fmt.Errorf("%s: %s", l, stacks.LinkedStackMessage(target)))
		}
	}

	// YAML added or changed under the stacks root in no stack (a new
	// stack whose stack.yaml is missing or named stack.yml): no stack is
	// listed for it, which read as "nothing changed", while validate
	// refuses it and no command deploys it.
	if only == nil {
		for _, p := range strays {
			if err := stacks.StrayFile(head.fsys, e.opts.StacksRoot, p); err != nil {
				problems = append(problems, fmt.Errorf("%w (it belongs to no stack, so no stack is listed for it)", err))
			}
		}
	}

	// A submodule is a commit of another repository: its files are not in
	// this repository's trees, so no stack in it is ever compared (plan
	// --ref and rollback --to-commit do not find it either).
	for _, p := range submodules {
		problems = append(problems, fmt.Errorf("%s: a git submodule under the stacks root changed; panka reads stacks from this repository's commits only, so no stack inside it is compared (nor found by plan --ref or rollback --to-commit): keep stack files in this repository, not in a submodule", p))
	}

	base.dirs = sortedKeys(base.index.Stacks)
	names := sortedKeys(idents)
	for _, id := range idents {
		id.nestedFolders = len(idents) <= nestedFoldersMax
	}
	out := make([]*Stack, len(names))
	probs := make([][]error, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, e.opts.Concurrency)
	for i, name := range names {
		id := idents[name]
		if !e.selected(id.name) || (only != nil && only[id.name] == nil) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var restrict map[string]bool
			if only != nil {
				restrict = only[id.name]
			}
			out[i], probs[i] = e.stackChange(base, head, id, restrict)
		}()
	}
	wg.Wait()
	var res []*Stack
	for i := range out {
		problems = append(problems, probs[i]...)
		if out[i] != nil {
			res = append(res, out[i])
		}
	}
	if only == nil {
		problems = append(problems, e.badWatchGlobs(head.fsys, head.index, problems)...)
	}
	explainRenames(res)
	if res == nil {
		res = []*Stack{}
	}
	// The stacks loader takes a file it cannot read for a broken stack;
	// an object missing from the repository (a partial clone that could
	// not fetch it) would so change the answer: it is an error instead.
	for _, s := range []*side{base, head} {
		if t, ok := s.fsys.(interface{ Missing() error }); ok {
			if err := t.Missing(); err != nil {
				return nil, nil, baseError(e.repo, s.commit.String(), err)
			}
		}
	}
	return res, problems, ctx.Err()
}

// explainRenames says, on the stack.yaml reason of both, that an added
// stack and a removed one are the same stack.yaml (same folder) given
// another metadata.name: the listing alone (one stack added, one removed, each
// with "stack.yaml: modified") reads as two unrelated changes, while a
// pipeline that acts on it creates everything again under the new name
// and destroys, or leaves running, what the old name deployed.
func explainRenames(res []*Stack) {
	removed := map[string]*Stack{} // stack.yaml at base -> the removed stack
	for _, s := range res {
		if s.Change == Removed {
			removed[path.Join(s.Path, stacks.StackFile)] = s
		}
	}
	if len(removed) == 0 {
		return
	}
	for _, s := range res {
		if s.Change != Added {
			continue
		}
		file := path.Join(s.Path, stacks.StackFile)
		for i, r := range s.Reasons {
			if r.File != file {
				continue
			}
			gone := removed[file]
			if gone == nil {
				break
			}
			s.Reasons[i].Detail += fmt.Sprintf("; metadata.name was %q: a stack is identified by its name, so %s is a new stack and %s is removed (what %s deployed stays until panka destroy --stack %s deletes it)",
				gone.Stack, s.Stack, gone.Stack, gone.Stack, gone.Stack)
			for j, g := range gone.Reasons {
				if g.File == file {
					gone.Reasons[j].Detail += fmt.Sprintf("; metadata.name is %q at head: a stack is identified by its name, so %s is removed (what it deployed stays until panka destroy --stack %s deletes it) and %s is a new stack",
						s.Stack, gone.Stack, gone.Stack, s.Stack)
				}
			}
			break
		}
	}
}

// folderStackFiles makes a folder that holds a folder named stack.yaml, on
// the side where a changed path says so, a stack of that side's index: git
// stores no stack.yaml file there, so the folder would otherwise read as no
// stack at all and its stack as removed (or added), which a deploy
// pipeline acts on. As a stack, reading its stack.yaml fails, and the stack
// is reported as changed with that error, as for a stack.yaml that does
// not parse.
func (e *engine) folderStackFiles(base, head *side, changes []gitops.Change) {
	const marker = "/" + stacks.StackFile + "/"
	for _, c := range changes {
		for i, p := range []string{c.OldPath, c.Path} {
			s := head
			if i == 0 || c.Action == gitops.Deleted {
				s = base
			}
			j := strings.Index("/"+p, marker)
			prefix := e.rootOf(s).rootPrefix()
			if p == "" || j < 0 || !strings.HasPrefix(p, prefix) {
				continue
			}
			dir := strings.TrimSuffix(p[:j], "/")
			if dir == "" || len(dir) < len(strings.TrimSuffix(prefix, "/")) || s.index.Stacks[dir] != nil || s.index.stackOf(dir+"/"+stacks.StackFile) != "" {
				continue
			}
			ix := s.index.clone()
			ix.Stacks[dir] = &indexEntry{}
			s.index = ix
		}
	}
}

// orphanedStackFiles makes a folder whose stack.yaml was deleted (or
// renamed: to stack.yml, Stack.yaml, another folder) while YAML files of
// its environments stay a stack of head's index: its stack would
// otherwise read as removed, which a deploy pipeline destroys, when
// validate refuses those files as belonging to no stack. As a stack,
// reading its stack.yaml fails, and the stack is reported as changed
// with that error, as for a stack.yaml that does not parse. Deleting the
// whole folder removes the stack.
func (e *engine) orphanedStackFiles(base, head *side, changes []gitops.Change) {
	prefix := e.rootOf(base).rootPrefix()
	for _, c := range changes {
		p := c.OldPath
		if c.Action == gitops.Deleted {
			p = c.Path
		}
		if p == "" || path.Base(p) != stacks.StackFile || !strings.HasPrefix(p, prefix) {
			continue
		}
		dir := path.Dir(p)
		if base.index.Stacks[dir] == nil || head.index.Stacks[dir] != nil || head.index.stackOf(p) != "" {
			continue
		}
		if !holdsEnvironments(head.fsys, dir) {
			continue
		}
		ix := head.index.clone()
		ix.Stacks[dir] = &indexEntry{}
		head.index = ix
	}
	// The other way round: a stack.yaml restored (or added, or renamed
	// into place) in a folder that held environment files without one at
	// base. That folder was this stack, broken at base: the stack is
	// modified, as when it was deleted, not added.
	prefix = e.rootOf(head).rootPrefix()
	for _, c := range changes {
		if c.Action != gitops.Added && c.Action != gitops.Renamed {
			continue
		}
		p := c.Path
		if path.Base(p) != stacks.StackFile || !strings.HasPrefix(p, prefix) {
			continue
		}
		dir := path.Dir(p)
		if head.index.Stacks[dir] == nil || base.index.Stacks[dir] != nil || base.index.stackOf(p) != "" || !holdsEnvironments(base.fsys, dir) {
			continue
		}
		ix := base.index.clone()
		ix.Stacks[dir] = &indexEntry{}
		base.index = ix
	}
}

// holdsEnvironments reports whether stack folder dir of fsys has a YAML
// file in its environments folder (reached through folders only).
func holdsEnvironments(fsys fs.FS, dir string) bool {
	envDir := path.Join(dir, stacks.EnvironmentsDir)
	if !realDir(fsys, envDir) {
		return false // not there, or through a symbolic link (not read)
	}
	ents, err := fs.ReadDir(fsys, envDir)
	return err == nil && slices.ContainsFunc(ents, func(d fs.DirEntry) bool { return !d.IsDir() && isYAMLName(d.Name()) })
}

// realDir reports whether dir is a folder of fsys reached through
// folders only (no symbolic link on the way).
func realDir(fsys fs.FS, dir string) bool {
	for p := dir; p != "."; p = path.Dir(p) {
		st, err := fs.Lstat(fsys, p)
		if err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}

// environmentFiles lists the environments of stack folder dir by the names
// of its environments/*.yaml (or .yml) files, sorted, as the stacks loader
// does; for a stack whose stack.yaml gives no header.
func environmentFiles(fsys fs.FS, dir string) []string {
	ents, err := fs.ReadDir(fsys, path.Join(dir, stacks.EnvironmentsDir))
	if err != nil {
		return nil
	}
	var envs []string
	for _, d := range ents {
		env := strings.TrimSuffix(strings.TrimSuffix(d.Name(), ".yaml"), ".yml")
		if d.IsDir() || !isYAMLName(d.Name()) || stacks.CheckName(env) != "" || slices.Contains(envs, env) {
			continue
		}
		envs = append(envs, env)
	}
	sort.Strings(envs)
	return envs
}

// isYAMLName reports whether a file name ends in .yaml or .yml.
func isYAMLName(n string) bool { return strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") }

// prefetchHeaderReads reads ahead, in a few batches, what the headers of
// dirs on side s read: the stack.yaml blobs the index knows (head's from the
// work tree where they match), and the trees on the way to the folders
// whose environments the index does not know. Both are optimisations:
// reads stay correct whatever they fetched. Blobs are read from the work
// tree where they match it when fromWorktree (head's), after wait closes
// (reads already under way) when wait is not nil.
func (e *engine) prefetchHeaderReads(s *side, dirs []string, fromWorktree bool, wait <-chan struct{}) {
	if s.worktree {
		return
	}
	var paths, read []string
	var ids []gitops.Hash
	for _, d := range dirs {
		en := s.index.Stacks[d]
		if en != nil && en.EnvsKnown && en.Blob != "" {
			paths, ids = append(paths, path.Join(d, stacks.StackFile)), append(ids, plumbing.NewHash(en.Blob))
		}
		if !e.opts.Paths || en == nil || !en.EnvsKnown {
			read = append(read, d)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = e.repo.PrefetchDirs(s.tree, read)
	}()
	if wait != nil {
		<-wait
	}
	if fromWorktree {
		_ = e.repo.PrefetchWorktreeBlobs(paths, ids)
	} else {
		_ = e.repo.PrefetchBlobs(ids)
	}
	wg.Wait()
}

// freshNames checks the stacks that are new at head (no touched folder held
// their name at base) against the names of the stacks the change did not
// touch: a folder copied and then edited, or a metadata.name changed to
// one in use, is a duplicate name that the comparison of touched folders
// alone cannot see. Only then are the untouched stacks' names read.
func (e *engine) freshNames(ctx context.Context, head *side, atHead map[string]*touched, idents map[string]*ident) {
	fresh := map[string]*ident{}
	for _, id := range idents {
		if id.baseDir == "" && id.headDir != "" && id.headErr == nil && id.hh != nil {
			fresh[id.name] = id
		}
	}
	if len(fresh) == 0 {
		return
	}
	var dirs []string
	for d := range head.index.Stacks {
		if _, ok := atHead[d]; !ok {
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	e.prefetchHeaderReads(head, dirs, true, nil)
	if err := e.prefetchFor(ctx, head, dirs, true); err != nil {
		return
	}
	names := make([]string, len(dirs))
	e.parallel(len(dirs), func(i int) {
		// A broken stack.yaml the change did not touch is not this
		// comparison's problem (validate reports it).
		if h, err := e.header(head, dirs[i]); err == nil && h != nil {
			names[i] = h.Name
		}
	})
	for i, d := range dirs {
		if id := fresh[names[i]]; id != nil && id.headErr == nil {
			id.headErr = duplicateName(id.name, d, id.headDir)
		}
	}
}

// nestedIn returns the error of a stack.yaml in a folder between the
// stack id at head and one of its changed files (stacks.NestedIn), or nil.
// Each folder is looked at once, at a commit in the stack's own tree (not
// by a path walk from the root); with many stacks touched
// (nestedFoldersMax), only changed stack.yaml files below the stack's
// own are looked at.
func (e *engine) nestedIn(fsys fs.FS, id *ident) error {
	has := func(rel string) bool {
		_, err := fs.Stat(fsys, id.headDir+"/"+rel+"/"+stacks.StackFile)
		return err == nil
	}
	if t, ok := fsys.(*gitops.TreeFS); ok && id.nestedFolders {
		ent, err := t.Entry(id.headDir)
		if err != nil || !ent.IsDir() {
			return nil
		}
		has = func(rel string) bool {
			_, err := e.repo.PathEntry(ent.Hash, rel+"/"+stacks.StackFile)
			return err == nil
		}
	}
	seen := map[string]bool{}
	for _, c := range id.files {
		rel, ok := strings.CutPrefix(c.Path, id.headDir+"/")
		if c.Action == gitops.Deleted || !ok {
			continue
		}
		if !id.nestedFolders {
			if path.Base(rel) == stacks.StackFile && rel != stacks.StackFile {
				if err := stacks.NestedIn(fsys, id.headDir, c.Path, id.name); err != nil {
					return err
				}
			}
			continue
		}
		for d := path.Dir(rel); d != "." && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			if has(d) {
				return stacks.NestedIn(fsys, id.headDir, c.Path, id.name)
			}
		}
	}
	return nil
}

// pureMove reports whether id's folder only moved: the files the change
// took from the base folder (deleted, or renamed away) are, path for path
// below the folder, blob for blob and mode for mode, the files it put in
// the head folder (added, or renamed there), and the base folder is gone
// at head. How git paired the renames does not matter (among files of the
// same content it may pair a moved file with another stack's). The work
// tree has no folder tree id to compare (resolveEnvs compares those of
// commits), so a stack that does not load was resolved, and an
// environment that did not resolve at base either was listed, where the
// same move committed lists none.
func pureMove(head *side, id *ident) bool {
	if id.baseDir == "" || id.headDir == "" || id.baseDir == id.headDir || len(id.files) == 0 {
		return false
	}
	type blob struct {
		hash gitops.Hash
		mode filemode.FileMode
	}
	from, to := map[string]blob{}, map[string]blob{}
	for _, c := range id.files {
		if c.Action == gitops.Modified {
			return false
		}
		old := c.OldPath // renamed; a deleted file's path is Path
		if c.Action == gitops.Deleted {
			old = c.Path
		}
		if rel, ok := strings.CutPrefix(old, id.baseDir+"/"); ok && c.Action != gitops.Added {
			from[rel] = blob{c.OldHash, c.OldMode}
		}
		if rel, ok := strings.CutPrefix(c.Path, id.headDir+"/"); ok && c.Action != gitops.Deleted {
			to[rel] = blob{c.NewHash, c.NewMode}
		}
	}
	if len(from) == 0 || !maps.Equal(from, to) {
		return false
	}
	for _, b := range from {
		if b.hash.IsZero() {
			return false
		}
	}
	_, err := fs.Stat(head.fsys, id.baseDir)
	return errors.Is(err, fs.ErrNotExist)
}

// sameFolder reports whether the folder of a stack that changed folders
// holds, in the work tree, exactly the files (paths below it, modes and
// blob ids) its folder held at base, as the comparison of tree ids finds
// between commits: two stacks that swapped names, say, each ending up
// with the other's files. Such a stack did not change, whether it loads
// or not; one that does not load was listed with every environment.
func sameFolder(base *side, id *ident) bool {
	t, ok := base.fsys.(*gitops.TreeFS)
	if !ok || id.baseDir == "" || id.headDir == "" || id.baseDir == id.headDir || len(id.files) == 0 {
		return false
	}
	type blob struct {
		hash gitops.Hash
		mode filemode.FileMode
	}
	list := func(dir string) (map[string]blob, bool) {
		out := map[string]blob{}
		err := fs.WalkDir(t, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			en, err := t.Entry(p)
			if err != nil {
				return err
			}
			out[strings.TrimPrefix(p, dir+"/")] = blob{en.Hash, en.Mode}
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) {
			return out, true // no such folder at base
		}
		return out, err == nil
	}
	from, ok1 := list(id.baseDir)
	to, ok2 := list(id.headDir)
	if !ok1 || !ok2 || len(from) == 0 {
		return false
	}
	// id.files are the changes from base to the work tree in both folders.
	for _, c := range id.files {
		for _, old := range []string{c.OldPath, c.Path} {
			if rel, ok := strings.CutPrefix(old, id.headDir+"/"); ok && (old == c.OldPath || c.Action == gitops.Deleted) {
				delete(to, rel)
			}
		}
		if rel, ok := strings.CutPrefix(c.Path, id.headDir+"/"); ok && c.Action != gitops.Deleted {
			if c.NewHash.IsZero() {
				return false
			}
			to[rel] = blob{c.NewHash, c.NewMode}
		}
	}
	return maps.Equal(from, to)
}

// nestedAtHead finds the stacks gone at head whose stack.yaml a change
// put inside another stack's folder (git mv stacks/users
// stacks/orders/users): no stack at head, since stacks do not nest, but
// not removed either: its files are all there, and listing it removed
// would have a pipeline destroy what runs. It is the stack, at its new
// folder, with the nesting error (which plan and validate give too).
func (e *engine) nestedAtHead(head *side, changes []gitops.Change, prefix string, idents map[string]*ident) {
	for _, c := range changes {
		if c.Action == gitops.Deleted || path.Base(c.Path) != stacks.StackFile || !strings.HasPrefix(c.Path, prefix) {
			continue
		}
		dir := path.Dir(c.Path)
		if _, ok := head.index.Stacks[dir]; ok {
			continue
		}
		outer := ""
		for d := path.Dir(dir); d != "." && d != "/" && outer == ""; d = path.Dir(d) {
			if _, ok := head.index.Stacks[d]; ok {
				outer = d
			}
		}
		if outer == "" {
			continue
		}
		name, _, _ := stacks.ReadWatch(head.fsys, dir)
		id := idents[name]
		if name == "" || id == nil || id.baseDir == "" || id.headDir != "" {
			continue
		}
		outerName, _, _ := stacks.ReadWatch(head.fsys, outer)
		if err := stacks.NestedIn(head.fsys, outer, c.Path, outerName); err != nil {
			id.headDir, id.headErr = dir, err
		}
	}
}

// nestedNow returns the nesting errors of the stacks of base below dir
// that are still there at head but, dir being a stack now, nested in it
// (the index at head leaves them out), or nil.
func (e *engine) nestedNow(base, head *side, dir, name string) error {
	lo := dir + "/"
	var all stacks.Errors
	for i := sort.SearchStrings(base.dirs, lo); i < len(base.dirs) && strings.HasPrefix(base.dirs[i], lo); i++ {
		d := base.dirs[i]
		if _, ok := head.index.Stacks[d]; ok {
			continue
		}
		var es *stacks.Errors
		if err := stacks.NestedIn(head.fsys, dir, path.Join(d, stacks.StackFile), name); errors.As(err, &es) {
			all.List = append(all.List, es.List...)
		}
	}
	if len(all.List) == 0 {
		return nil
	}
	return &all
}

// badWatchGlobs reports the stacks at head (fsys, its index ix) whose
// spec.watch holds a glob validate refuses (a leading !, braces, ** inside
// a segment, ...): such a glob watches less than it says, or nothing, at
// every commit, so it is
// reported whenever changes are detected, not only when the stack.yaml
// that introduced it changed (its load then reports it: those already in
// problems are not repeated). Only the few stack.yaml files with such a
// glob are read, for the file:line of each.
func (e *engine) badWatchGlobs(fsys fs.FS, ix *stackIndex, problems []error) []error {
	var out []error
	for _, dir := range sortedKeys(ix.Stacks) {
		ent := ix.Stacks[dir]
		bad := ""
		for _, g := range ent.Watch {
			if bad = stacks.CheckWatchGlob(g); bad != "" {
				break
			}
		}
		if bad == "" {
			continue
		}
		name, _, err := stacks.ReadWatch(fsys, dir)
		if name != "" && !e.selected(name) {
			continue
		}
		file := path.Join(dir, stacks.StackFile)
		reported := false
		for _, p := range problems {
			if msg := p.Error(); strings.Contains(msg, file+":") && strings.Contains(msg, "spec.watch") {
				reported = true
				break
			}
		}
		if reported {
			continue
		}
		if err == nil {
			err = fmt.Errorf("%s: spec.watch: %s", file, bad)
		}
		who := fmt.Sprintf("stack %s (%s)", name, dir)
		if name == "" {
			who = "stack at " + dir
		}
		out = append(out, fmt.Errorf("%s at head: %w\n(such a glob watches less than it says, or nothing: fix it; `panka validate` lists the problems)", who, err))
	}
	return append(out, e.linkedWatchGlobs(fsys, ix)...)
}

// linkedWatchGlobs warns about the spec.watch globs whose literal folder
// (or file) is, or lies inside, a symbolic link on fsys: git records
// the changes of the linked files under the link's target, which the
// glob does not match, so they would go unseen, silently.
func (e *engine) linkedWatchGlobs(fsys fs.FS, ix *stackIndex) []error {
	var out []error
	for _, dir := range sortedKeys(ix.Stacks) {
		ent := ix.Stacks[dir]
		if ent.Name != "" && !e.selected(ent.Name) {
			continue
		}
		for _, g := range ent.Watch {
			if stacks.CheckWatchGlob(g) != "" {
				continue // reported above
			}
			clean := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(g, "./"), "/"), "/")
			lit := literalPrefix(g)
			if lit != clean {
				// A pattern follows: only the whole folders before it.
				i := strings.LastIndexByte(lit, '/')
				if i < 0 {
					continue
				}
				lit = lit[:i]
			}
			p := ""
			for _, part := range strings.Split(lit, "/") {
				p = path.Join(p, part)
				st, err := fs.Lstat(fsys, p)
				if err != nil || st.IsDir() {
					if err != nil {
						break // not there (yet): nothing to say
					}
					continue
				}
				if st.Mode()&fs.ModeSymlink == 0 {
					break
				}
				target, _ := fs.ReadLink(fsys, p)
				where := path.Join(path.Dir(p), target)
				fix := fmt.Sprintf("watch %q instead", where+strings.TrimPrefix(clean, p))
				if path.IsAbs(target) || where == ".." || strings.HasPrefix(where, "../") {
					fix = "changes outside the repository are never seen: move what it watches into the repository"
				}
				who := fmt.Sprintf("stack %s (%s)", ent.Name, dir)
				if ent.Name == "" {
					who = "stack at " + dir
				}
				out = append(out, fmt.Errorf("%s at head: %s: spec.watch glob %q goes through the symbolic link %s (to %s): git records changes to the linked files under the target, which the glob does not match, so they go unseen; %s", who, path.Join(dir, stacks.StackFile), g, p, target, fix))
				break
			}
		}
	}
	return out
}

// watchReason says that file f, changed by c, matches spec.watch glob g.
// A rename names the old path too: of a file renamed out of the glob
// (shared/x.json -> shared/x.txt) only the old path matches.
func watchReason(f string, c gitops.Change, g glob) Reason {
	d := string(c.Action)
	if c.Action == gitops.Renamed {
		d = "renamed from " + c.OldPath
	}
	return Reason{File: f, Detail: fmt.Sprintf("%s; matches spec.watch %q", d, g.text)}
}

// stackFileBlobs returns the base-side blob ids of the stack.yaml files
// below prefix that changes modify, delete or rename.
func stackFileBlobs(changes []gitops.Change, prefix string) []gitops.Hash {
	var out []gitops.Hash
	for _, c := range changes {
		p := c.Path
		if c.Action == gitops.Renamed {
			p = c.OldPath
		}
		if c.Action == gitops.Added || c.OldHash.IsZero() || !strings.HasPrefix(p, prefix) || path.Base(p) != stacks.StackFile {
			continue
		}
		out = append(out, c.OldHash)
	}
	return out
}

// listingChanges returns the stack folders (candidates: every folder
// holding an environments folder that changed) whose environment file
// listing may differ between the two sides of changes: a file was added,
// deleted or renamed at or below <dir>/environments. Modified files keep
// a listing as it was.
func listingChanges(changes []gitops.Change) map[string]bool {
	out := map[string]bool{}
	mark := func(p string) {
		for d := p; d != "." && d != "/" && d != ""; d = path.Dir(d) {
			if path.Base(d) == stacks.EnvironmentsDir {
				out[path.Dir(d)] = true
			}
		}
	}
	for _, c := range changes {
		if c.Action != gitops.Modified {
			mark(c.Path)
			if c.OldPath != "" {
				mark(c.OldPath)
			}
		}
	}
	return out
}

// deriveHeader sets the header of the stack folder dir at head from its
// header at base, when the environment listing is known to be the same,
// reading only the head stack.yaml (by blob id, from the head index) when
// it changed. It reports false when it cannot.
func (e *engine) deriveHeader(base, head *side, dir string) bool {
	be, he := base.index.Stacks[dir], head.index.Stacks[dir]
	if be == nil || he == nil || he.Blob == "" || be.Link || he.Link {
		// A stack.yaml that is a symbolic link names the stack in the
		// file it points at, which may have changed when the link did not.
		return false
	}
	bh, err := e.header(base, dir)
	if err != nil || bh == nil {
		return false
	}
	name := bh.Name
	if he.Blob != be.Blob {
		b, err := stackFileBlob(e.repo, plumbing.NewHash(he.Blob))
		if err != nil {
			return false
		}
		if name = stacks.QuickName(b); name == "" {
			return false
		}
	}
	key := e.cacheKey(head, dir)
	if key == "" {
		return false
	}
	h := &stacks.Header{Ref: stacks.Ref{Name: name, Path: dir}, Environments: append([]string(nil), bh.Environments...)}
	e.mu.Lock()
	e.headers[key] = headerResult{h: h}
	e.mu.Unlock()
	return true
}

// ownFiles describes a stack's changed files from its own point of view: a
// file renamed to or from another stack (git pairs a deletion and an
// addition of the same content, common with files copied between stacks)
// is, for this stack, added or deleted. Renames within the stack (its own
// folder at base and head, moved or not) stay renames.
func ownFiles(files []gitops.Change, baseDir, headDir string) []gitops.Change {
	in := func(p, dir string) bool { return dir != "" && strings.HasPrefix(p, dir+"/") }
	var out []gitops.Change
	for i, c := range files {
		if c.Action != gitops.Renamed || (in(c.OldPath, baseDir) && in(c.Path, headDir)) {
			if out != nil {
				out = append(out, c)
			}
			continue
		}
		if out == nil {
			out = append(make([]gitops.Change, 0, len(files)), files[:i]...)
		}
		switch {
		case in(c.OldPath, baseDir):
			out = append(out, gitops.Change{Action: gitops.Deleted, Path: c.OldPath, OldHash: c.OldHash, OldMode: c.OldMode})
		case in(c.Path, headDir):
			out = append(out, gitops.Change{Action: gitops.Added, Path: c.Path, NewHash: c.NewHash, NewMode: c.NewMode})
		default:
			out = append(out, c)
		}
	}
	if out == nil {
		return files
	}
	return mergeFiles(out, nil)
}

func mergeFiles(a, b []gitops.Change) []gitops.Change {
	// Most often both sides list the same changes (a folder that is a
	// stack at base and at head) or one side lists none: nothing to merge
	// when the one list is in path order without repeats.
	switch {
	case len(b) == 0 || slices.Equal(a, b):
		b = nil
	case len(a) == 0:
		a, b = b, nil
	}
	if b == nil && strictlyByPath(a) {
		return a
	}
	out := make([]gitops.Change, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.SortStableFunc(out, func(x, y gitops.Change) int { return strings.Compare(x.Path, y.Path) })
	// Drop repeats (same action and path), keeping the first: repeats are
	// within a run of one path.
	n, run := 0, 0
	for i, c := range out {
		if i > 0 && c.Path != out[i-1].Path {
			run = n
		}
		dup := false
		for _, k := range out[run:n] {
			if k.Action == c.Action {
				dup = true
				break
			}
		}
		if !dup {
			out[n] = c
			n++
		}
	}
	return out[:n]
}

func strictlyByPath(cs []gitops.Change) bool {
	for i := 1; i < len(cs); i++ {
		if cs[i-1].Path >= cs[i].Path {
			return false
		}
	}
	return true
}

func (e *engine) selected(name string) bool {
	if len(e.opts.Stacks) == 0 {
		return true
	}
	for _, s := range e.opts.Stacks {
		if matchName(s, name) {
			return true
		}
	}
	return false
}

func (e *engine) envSelected(env string, restrict map[string]bool) bool {
	if restrict != nil && !restrict[env] {
		return false
	}
	if len(e.opts.Environments) == 0 {
		return true
	}
	for _, x := range e.opts.Environments {
		if matchName(x, env) {
			return true
		}
	}
	return false
}

// checkFilters rejects --stack/--environment globs that path.Match cannot
// read (they would silently match nothing).
func (o Options) checkFilters() error {
	for _, f := range []struct {
		flag string
		pats []string
	}{{"--stack", o.Stacks}, {"--environment", o.Environments}} {
		for _, p := range f.pats {
			if _, err := path.Match(p, ""); err != nil {
				return fmt.Errorf("%s %q: malformed glob (use *, ?, [a-z] and [!a-z]; escape a literal one with \\)", f.flag, p)
			}
		}
	}
	return nil
}

// parallel runs fn(0..n-1) on Concurrency goroutines.
func (e *engine) parallel(n int, fn func(i int)) {
	parallelN(context.Background(), e.opts.Concurrency, n, fn)
}

// prefetch batches the reads of stack folders: stack.yaml and the
// environments listing in --paths mode, every file otherwise.
func (e *engine) prefetch(ctx context.Context, s *side, dirs []string) error {
	return e.prefetchFor(ctx, s, dirs, e.opts.Paths)
}

// prefetchFor is prefetch of what headers read (stack.yaml and the
// environments listing) when headers is set.
func (e *engine) prefetchFor(ctx context.Context, s *side, dirs []string, headers bool) error {
	if s.worktree || len(dirs) == 0 {
		return nil
	}
	t := s.fsys.(*gitops.TreeFS)
	roots := make([]gitops.Hash, 0, len(dirs))
	// The headers the index answers read their stack.yaml blob only:
	// in one batch, from the work tree where it holds them, not one
	// round trip each (4,000 of them for status in a big repository).
	var files []string
	var blobs []gitops.Hash
	defer func() {
		if len(blobs) > 0 {
			_ = e.repo.PrefetchWorktreeBlobs(files, blobs) // an optimisation only
		}
	}()
	for _, d := range dirs {
		if s.index != nil {
			if en := s.index.Stacks[d]; headers && en != nil && en.EnvsKnown {
				if en.Blob != "" {
					files, blobs = append(files, d+"/"+stacks.StackFile), append(blobs, plumbing.NewHash(en.Blob))
				}
				continue // the header comes from the index
			}
		}
		if ent, err := t.Entry(d); err == nil && ent.IsDir() {
			roots = append(roots, ent.Hash)
		}
	}
	// What the loader reads: YAML files (and links, which may point at
	// one), not the data files, images or archives beside them.
	want := func(rel string, ent gitops.TreeEntry) bool {
		if ent.IsDir() {
			return !stacks.SkipDir(ent.Name)
		}
		return ent.Mode == filemode.Symlink || strings.HasSuffix(ent.Name, ".yaml") || strings.HasSuffix(ent.Name, ".yml")
	}
	if headers {
		want = func(rel string, _ gitops.TreeEntry) bool {
			return rel == stacks.StackFile || rel == stacks.EnvironmentsDir
		}
	}
	return e.repo.Prefetch(ctx, roots, want)
}

// cacheKey identifies a stack folder's content: its tree id at a commit (or
// nothing for the work tree, which is not cached).
func (e *engine) cacheKey(s *side, dir string) string {
	if s.worktree {
		return ""
	}
	if k, ok := s.keys.Load(dir); ok {
		return k.(string)
	}
	key := ""
	if ent, err := s.fsys.(*gitops.TreeFS).Entry(dir); err == nil {
		key = ent.Hash.String() + ":" + dir
	}
	s.keys.Store(dir, key)
	return key
}

func (e *engine) header(s *side, dir string) (*stacks.Header, error) {
	if h, ok := s.indexed.Load(dir); ok {
		return h.(*stacks.Header), nil
	}
	if h, ok := e.indexHeader(s, dir); ok {
		// Cheap enough not to share between sides; kept per side.
		s.indexed.Store(dir, h)
		return h, nil
	}
	key := e.cacheKey(s, dir)
	if key != "" {
		e.mu.Lock()
		r, ok := e.headers[key]
		e.mu.Unlock()
		if ok {
			return r.h, r.err
		}
	}
	var h *stacks.Header
	var err error
	if qh, ok := quickHeader(s.fsys, dir); ok {
		h = qh
	} else if bh, ok := e.badFolderHeader(s, dir); ok {
		h = bh
	} else {
		h, err = stacks.ReadHeader(s.fsys, dir)
	}
	if key != "" {
		e.mu.Lock()
		e.headers[key] = headerResult{h, err}
		e.mu.Unlock()
	}
	return h, err
}

// badFolderHeader reads the name and environments of a commit's stack
// whose folder's path is not UTF-8 straight from the trees, as
// indexHeader does from the stack index: io/fs refuses such a path, so
// ReadHeader cannot read it, and the stack was named after its folder. A
// stack renamed into such a folder was then removed (every environment:
// a pipeline destroys them) and an unknown one added, or moved and
// failing to load at head when the stack index happened to know its
// environments. It keeps its identity: moved, not loading at head, with
// the folder's name as the reason.
//
// In the work tree (--uncommitted) the folder is read from disk, as git
// add reads it, without the files git ignores.
func (e *engine) badFolderHeader(s *side, dir string) (*stacks.Header, bool) {
	if utf8.ValidString(dir) {
		return nil, false
	}
	var b []byte
	var files []string
	if s.worktree {
		var ok bool
		if b, files, ok = e.badWorktreeFolder(dir); !ok {
			return nil, false
		}
	} else {
		f, err := e.repo.PathEntry(s.tree, path.Join(dir, stacks.StackFile))
		if err != nil || f.IsDir() {
			return nil, false
		}
		if b, err = stackFileBlob(e.repo, f.Hash); err != nil {
			return nil, false
		}
		if d, err := e.repo.PathEntry(s.tree, path.Join(dir, stacks.EnvironmentsDir)); err == nil && d.IsDir() {
			ents, err := e.repo.Tree(d.Hash)
			if err != nil {
				return nil, false
			}
			for _, en := range ents {
				if !en.IsDir() {
					files = append(files, en.Name)
				}
			}
		}
	}
	envs, ok := envNames(files)
	if !ok {
		return nil, false
	}
	if mayHaveBackend(b) {
		// Parsed for its spec.backend, which says where its state is
		// (--since-deployed) and whose change moves it: named after its
		// folder, a stack with one was removed and a new one added
		// wherever it moved.
		h, err := stacks.ParseHeader(dir, b)
		if err != nil {
			return nil, false
		}
		h.Environments = envs
		return h, true
	}
	name := stacks.QuickName(b)
	if name == "" {
		return nil, false
	}
	return &stacks.Header{Ref: stacks.Ref{Name: name, Path: dir}, Environments: envs}, true
}

// badWorktreeFolder reads, from disk, the stack.yaml of the work tree's
// folder dir (whose name io/fs refuses) and the names of the files in its
// environments folder that git does not ignore; ok is false when the
// stack file cannot be read (ignored, gone, a folder) or the folder
// cannot be listed.
func (e *engine) badWorktreeFolder(dir string) (b []byte, files []string, ok bool) {
	ig := e.repo.Ignores()
	file := path.Join(dir, stacks.StackFile)
	if ig.Ignored(file, false) {
		return nil, nil, false
	}
	b, err := os.ReadFile(filepath.Join(e.repo.Root(), filepath.FromSlash(file)))
	if err != nil {
		return nil, nil, false
	}
	envDir := path.Join(dir, stacks.EnvironmentsDir)
	ents, err := os.ReadDir(filepath.Join(e.repo.Root(), filepath.FromSlash(envDir)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false
	}
	for _, en := range ents {
		if !en.IsDir() && !ig.Ignored(path.Join(envDir, en.Name()), false) {
			files = append(files, en.Name())
		}
	}
	return b, files, true
}

// indexHeader answers header from the side's stack index when it knows the
// folder's environments: only the stack.yaml blob is read (most often
// already in memory), no tree.
func (e *engine) indexHeader(s *side, dir string) (*stacks.Header, bool) {
	if s.index == nil || s.worktree {
		return nil, false
	}
	en := s.index.Stacks[dir]
	if en == nil || !en.EnvsKnown || en.Blob == "" {
		return nil, false
	}
	b, err := stackFileBlob(e.repo, plumbing.NewHash(en.Blob))
	if err != nil || mayHaveBackend(b) {
		return nil, false
	}
	name := stacks.QuickName(b)
	if name == "" {
		return nil, false
	}
	return &stacks.Header{Ref: stacks.Ref{Name: name, Path: dir}, Environments: append([]string(nil), en.Envs...)}, true
}

// load parses a whole stack. Loaded stacks are not cached: a far-apart
// comparison touches thousands, and memory must stay bounded by the number
// compared at once.
func (e *engine) load(s *side, dir string) (*stacks.Stack, error) {
	return stacks.Load(s.fsys, dir)
}

// loadBase is load for the base side: a commit compared from (most often
// the one deployed, or the remote's tip a push builds on) is read as it
// was deployed, a layout panka refuses since (stacks.LoadLegacy) loading
// as it did then. Refused, it made every environment of the stack
// "modified" without a comparison, also after head fixed the layout.
// Nothing is said of those layouts here: the base cannot be edited, and
// head, read strictly, reports them if it still has them.
func (e *engine) loadBase(s *side, dir string) (*stacks.Stack, error) {
	if s.worktree {
		return e.load(s, dir)
	}
	st, _, err := stacks.LoadLegacy(s.fsys, dir)
	return st, err
}

// BackendChanged starts the detail of a reason for a stack whose
// stack.yaml moved its state (spec.backend): plan --all-changed repeats it,
// as the plans of such a stack read the new location.
const BackendChanged = "spec.backend changed ("

// backendChange describes how spec.backend differs between the base and
// head headers of a stack ("" when alike, or when either is unknown);
// keys in fixed are set above stack.yaml and do not count.
func backendChange(bh, hh *stacks.Header, fixed map[string]bool, where func(map[string]string) (string, error)) string {
	if bh == nil || hh == nil || maps.Equal(bh.Backend, hh.Backend) {
		return ""
	}
	moved := ""
	if where != nil {
		wb, errB := where(bh.Backend)
		wh, errH := where(hh.Backend)
		if errB == nil && errH == nil && wb == wh {
			return ""
		}
		if errB == nil && errH == nil {
			moved = fmt.Sprintf("state %s -> %s", wb, wh)
		}
	}
	keys := map[string]bool{}
	for k := range bh.Backend {
		keys[k] = true
	}
	for k := range hh.Backend {
		keys[k] = true
	}
	var diffs []string
	for _, k := range sortedKeys(keys) {
		if b, h := bh.Backend[k], hh.Backend[k]; b != h && !fixed[k] {
			diffs = append(diffs, fmt.Sprintf("%s %q -> %q", strings.Replace(k, "backend.", "spec.backend.", 1), b, h))
		}
	}
	if len(diffs) == 0 && moved != "" {
		// Only keys fixed above stack.yaml differ, yet the place does (an
		// implied default): say where it moves.
		diffs = append(diffs, moved)
	}
	if len(diffs) == 0 {
		return ""
	}
	return BackendChanged + strings.Join(diffs, ", ") + "): plan, apply and status read this stack's state (and Pulumi's) at the new location; " +
		"unless it was copied there first (docs/state.md, Switching backends), every environment plans as new and apply deploys it again beside what runs"
}

// stackChange classifies one identity and, in resolved mode, compares its
// environments. It returns nil when nothing that matters changed.
func (e *engine) stackChange(base, head *side, id *ident, restrict map[string]bool) (*Stack, []error) {
	id.files = ownFiles(id.files, id.baseDir, id.headDir)
	st := &Stack{Stack: id.name, EnvironmentChanges: map[string]Kind{}, Components: []string{}, Reasons: []Reason{}}
	var problems []error
	switch {
	case id.baseDir != "" && id.headDir != "":
		st.Path, st.Change = id.headDir, Modified
		if id.baseDir != id.headDir {
			st.Change, st.OldPath = Moved, id.baseDir
		}
	case id.headDir != "":
		st.Path, st.Change = id.headDir, Added
	default:
		st.Path, st.Change = id.baseDir, Removed
	}
	envsOf := func(s *side, dir string, h *stacks.Header) []string {
		if h != nil {
			return h.Environments
		}
		if dir == "" {
			return nil
		}
		// No header: stack.yaml is gone or gives no name. An environment
		// still exists iff its file does (SPEC §3).
		return environmentFiles(s.fsys, dir)
	}
	if id.headErr != nil {
		problems = append(problems, fmt.Errorf("stack %s (%s) at head: %w", id.name, id.headDir, id.headErr))
		st.Reasons = append(st.Reasons, errorReasons(id.headDir, id.headErr, "does not load at head")...)
	} else if id.headDir != "" && (e.opts.Paths || st.Change == Added) {
		// A stack.yaml in a folder of this stack: loading it (resolved
		// mode, validate) says stacks cannot be nested; --paths, and a
		// new stack, are not loaded, and must not take the files there
		// silently (a new stack.yaml above existing stacks swallows them).
		err := e.nestedIn(head.fsys, id)
		if err == nil {
			err = e.nestedNow(base, head, id.headDir, id.name)
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("stack %s (%s) at head: %w", id.name, id.headDir, err))
			st.Reasons = append(st.Reasons, errorReasons(id.headDir, err, "does not load at head")...)
		}
	}
	set := func(env string, k Kind) {
		if e.envSelected(env, restrict) {
			st.EnvironmentChanges[env] = k
		}
	}
	fileReasons := func(effects map[string]string) {
		explained := map[string]int{} // file -> index of its load-error reason
		for i, r := range st.Reasons {
			if _, ok := explained[r.File]; !ok {
				explained[r.File] = i
			}
		}
		for _, c := range id.files {
			d := string(c.Action)
			if c.Action == gitops.Renamed {
				d = "renamed from " + c.OldPath
			}
			if i, ok := explained[c.Path]; ok {
				// "modified; does not load at head: …", not the file twice.
				st.Reasons[i].Detail = d + "; " + st.Reasons[i].Detail
				continue
			}
			if x := effects[c.Path]; x != "" {
				d += "; " + x
			} else if effects != nil {
				d += "; no effect on the resolved model"
			}
			st.Reasons = append(st.Reasons, Reason{File: c.Path, Detail: d})
		}
		st.Reasons = append(st.Reasons, id.watched...)
	}

	switch st.Change {
	case Added:
		for _, env := range envsOf(head, id.headDir, id.hh) {
			set(env, Added)
		}
		fileReasons(nil)
	case Removed:
		if id.baseErr != nil {
			st.Reasons = append(st.Reasons, errorReasons(id.baseDir, id.baseErr, "does not load at base")...)
		}
		for _, env := range envsOf(base, id.baseDir, id.bh) {
			set(env, Removed)
		}
		fileReasons(nil)
	default:
		envB, envH := toSet(envsOf(base, id.baseDir, id.bh)), toSet(envsOf(head, id.headDir, id.hh))
		all := sortedKeys(union(envB, envH))
		if e.opts.Paths {
			for _, env := range all {
				switch {
				case !envB[env]:
					set(env, Added)
				case !envH[env]:
					set(env, Removed)
				default:
					set(env, Modified)
				}
			}
			fileReasons(nil)
			break
		}
		effects, comps, envComps, extra, probs := e.resolveEnvs(base, head, id, all, envB, envH, restrict, set)
		problems = append(problems, probs...)
		st.Reasons = append(st.Reasons, extra...)
		st.Components, st.EnvironmentComponents = comps, envComps
		if d := backendChange(id.bh, id.hh, e.opts.BackendFixed, e.opts.BackendWhere); d != "" {
			// The resolved model does not hold spec.backend, but plan,
			// apply and status read the state where it points: at head
			// every environment has nothing deployed there, and plans
			// as all creates.
			for _, env := range all {
				if envB[env] && envH[env] {
					if _, done := st.EnvironmentChanges[env]; !done {
						set(env, Modified)
					}
				}
			}
			file := path.Join(id.headDir, stacks.StackFile)
			if effects == nil {
				effects = map[string]string{}
			}
			if x := effects[file]; x != "" {
				d = x + "; " + d
			}
			effects[file] = d
		}
		if len(id.watched) > 0 {
			for _, env := range all {
				if envH[env] {
					if _, done := st.EnvironmentChanges[env]; !done {
						set(env, Modified)
					}
				}
			}
		}
		fileReasons(effects)
	}
	for env := range st.EnvironmentChanges {
		st.Environments = append(st.Environments, env)
	}
	sort.Strings(st.Environments)
	if st.Environments == nil {
		st.Environments = []string{}
	}
	// Compared for some environments only (--environment, or
	// --since-deployed's deployed ones), a stack none of them changed
	// is left out; a move is kept when only the deployed environments
	// were compared: a plain comparison lists it, and --since-deployed
	// said "No stack changed" of a stack whose folder moved since its
	// deployment.
	filtered := len(e.opts.Environments) > 0 || restrict != nil && st.Change != Moved
	if len(st.Environments) == 0 && (st.Change == Modified || filtered) {
		return nil, problems
	}
	return st, problems
}

// resolveEnvs compares every environment's resolved model at base and
// head. It returns, per changed file, what it changed, and the changed
// components, in all and per environment.
func (e *engine) resolveEnvs(base, head *side, id *ident, all []string, envB, envH map[string]bool, restrict map[string]bool, set func(string, Kind)) (map[string]string, []string, map[string][]string, []Reason, []error) {
	effects := map[string]string{}
	var problems []error
	var reasons []Reason
	var notCompared string // why an environment could not be compared
	// headErrs: the environments that do not resolve at head, each
	// problem once with every environment it is in (a mistyped field of
	// a component fails them all alike).
	var headErrs envErrors
	if !head.worktree && len(id.watched) == 0 && id.headErr == nil && id.baseErr == nil && e.cacheKey(base, id.baseDir) != "" &&
		strings.SplitN(e.cacheKey(base, id.baseDir), ":", 2)[0] == strings.SplitN(e.cacheKey(head, id.headDir), ":", 2)[0] {
		return effects, []string{}, nil, nil, nil // same content (a pure move)
	}
	// A folder whose name is not UTF-8 does not load (io/fs refuses the
	// name), moved there or not: said as at a commit, where the cache key
	// differs.
	if head.worktree && len(id.watched) == 0 && id.headErr == nil && id.baseErr == nil && utf8.ValidString(id.headDir) && (pureMove(head, id) || sameFolder(base, id)) {
		return effects, []string{}, nil, nil, nil // the same, in the work tree
	}
	var sB, sH *stacks.Stack
	var errB, errH error
	if id.headErr == nil {
		sH, errH = e.load(head, id.headDir)
		if errH != nil {
			problems = append(problems, fmt.Errorf("stack %s (%s) at head: %w", id.name, id.headDir, errH))
			reasons = append(reasons, errorReasons(id.headDir, errH, "does not load at head")...)
		}
	}
	if id.baseErr == nil {
		sB, errB = e.loadBase(base, id.baseDir)
	} else {
		errB = id.baseErr
	}
	// An environment's model depends on the stack's shared files and its
	// own overlay only: when only overlays changed, the other environments
	// need no resolving.
	shared := id.baseDir != id.headDir
	envFiles := map[string]bool{}
	for _, c := range id.files {
		for _, p := range []string{c.Path, c.OldPath} {
			if p == "" {
				continue
			}
			rel := strings.TrimPrefix(strings.TrimPrefix(p, id.headDir+"/"), id.baseDir+"/")
			if dir, file := path.Split(rel); dir == stacks.EnvironmentsDir+"/" {
				envFiles[strings.TrimSuffix(strings.TrimSuffix(file, ".yaml"), ".yml")] = true
			} else {
				shared = true
			}
		}
	}
	if sH != nil {
		// An overlay that links to a changed file changed too.
		changed := map[string]bool{}
		for _, c := range id.files {
			changed[c.Path] = true
		}
		for _, env := range all {
			if t := sH.LinkTarget(sH.EnvironmentFile(env)); t != "" && changed[t] {
				envFiles[env] = true
			}
		}
	}
	compEnvs := map[string][]string{}     // component -> envs where it changed
	envComps := map[string][]string{}     // env -> components that changed there
	fileEnvs := map[string][]string{}     // env file / stack.yaml effect
	overlayComps := map[string][]string{} // env -> components its overlay's edit changed
	stackComps := map[string][]string{}   // env -> components stack.yaml's own edit changed
	// svcMoved: component -> its Service at base and at head, where they
	// differ (a Service document moved, renamed or added changes the
	// components of its folder, in whatever file they are).
	svcMoved := map[string][2]string{}
	// stackEdited: stack.yaml changed in place (not only moved) along
	// with other files of the stack, so what it changes itself must be
	// told apart from theirs. When it is the only file that changed,
	// every change is its own, and the extra resolve below is not paid
	// (a far-apart comparison edits thousands of stack.yaml files).
	stackEdited, others := false, false
	if sB != nil && sH != nil && id.headDir != "" {
		for _, c := range id.files {
			if c.Path == path.Join(id.headDir, stacks.StackFile) {
				stackEdited = stackEdited || c.OldHash != c.NewHash
			} else {
				others = true
			}
		}
	}
	stackEdited = stackEdited && others
	for _, env := range all {
		if !e.envSelected(env, restrict) {
			continue
		}
		switch {
		case !envB[env]:
			set(env, Added)
			continue
		case !envH[env]:
			set(env, Removed)
			continue
		case id.headErr != nil || errH != nil || errB != nil:
			set(env, Modified)
			continue
		case !shared && !envFiles[env]:
			continue // nothing it depends on changed
		}
		rB, eB := sB.Resolve(env, e.opts.Resolve)
		rH, eH := sH.Resolve(env, e.opts.Resolve)
		if eH != nil {
			set(env, Modified)
			headErrs.add(env, eH)
			if notCompared == "" {
				notCompared = "environment " + env + " does not resolve at head (" + firstLine(eH) + ")"
			}
			continue
		}
		if eB != nil {
			set(env, Modified)
			if notCompared == "" {
				notCompared = "the stack did not load at base (" + firstLine(eB) + ")"
			}
			continue
		}
		if bytes.Equal(rB.Canonical(), rH.Canonical()) {
			continue
		}
		set(env, Modified)
		cb, ch := components(rB), components(rH)
		changedComp := false
		for name := range union(toSet(keys(cb)), toSet(keys(ch))) {
			if cb[name].json != ch[name].json {
				compEnvs[name] = append(compEnvs[name], env)
				envComps[env] = append(envComps[env], name)
				changedComp = true
				if b, h := rB.Component(name), rH.Component(name); b != nil && h != nil && b.Service != h.Service {
					svcMoved[name] = [2]string{b.Service, h.Service}
				}
			}
		}
		sf := path.Join(id.headDir, stacks.StackFile)
		if stackEdited {
			// Did stack.yaml's own edit change the model? Resolve head with
			// base's stack.yaml: in a commit that also changes env's overlay
			// (or a component), stack.yaml is credited only with what it
			// changes itself.
			if rS, eS := sH.WithStackFile(sB).Resolve(env, e.opts.Resolve); eS == nil {
				if !bytes.Equal(rS.Canonical(), rH.Canonical()) {
					cs := components(rS)
					stackComps[env] = []string{}
					for _, name := range envComps[env] {
						if cs[name].json != ch[name].json {
							stackComps[env] = append(stackComps[env], name)
						}
					}
					fileEnvs[sf] = append(fileEnvs[sf], env)
				}
			} else if !changedComp || !bytes.Equal(mustJSON(rB.Provider), mustJSON(rH.Provider)) || !bytes.Equal(mustJSON(rB.Variables), mustJSON(rH.Variables)) {
				// Head does not resolve without its stack.yaml edit (a
				// variable only it declares): the edit matters.
				fileEnvs[sf] = append(fileEnvs[sf], env)
			}
		} else if !changedComp || !bytes.Equal(mustJSON(rB.Provider), mustJSON(rH.Provider)) || !bytes.Equal(mustJSON(rB.Variables), mustJSON(rH.Variables)) {
			fileEnvs[sf] = append(fileEnvs[sf], env)
		}
		envFile := sH.EnvironmentFile(env)
		if envFiles[env] && envFile != "" {
			// Did the overlay's own edit change the model? Resolve head with
			// base's overlay: a comment-only edit of the overlay, in a
			// commit that changes env through another file, is not credited.
			rM, eM := sH.WithOverlay(env, sB).Resolve(env, e.opts.Resolve)
			if eM == nil {
				if bytes.Equal(rM.Canonical(), rH.Canonical()) {
					continue
				}
				cm := components(rM)
				overlayComps[env] = []string{}
				for _, name := range envComps[env] {
					if cm[name].json != ch[name].json {
						overlayComps[env] = append(overlayComps[env], name)
					}
				}
			}
		}
		fileEnvs[envFile] = append(fileEnvs[envFile], env)
	}
	for _, g := range headErrs.groups {
		label := plural(len(g.envs), "environment ", "environments ") + strings.Join(g.envs, ", ")
		problems = append(problems, fmt.Errorf("stack %s (%s), %s at head: %w", id.name, id.headDir, label, g.err))
		reasons = append(reasons, errorReasons(id.headDir, g.err, label+plural(len(g.envs), " does", " do")+" not resolve at head")...)
	}
	if errB != nil && errH == nil && id.headErr == nil {
		effects[path.Join(id.baseDir, stacks.StackFile)] = "the stack did not load at base: " + firstLine(errB)
	}
	comps := sortedKeys(compEnvs)
	if comps == nil {
		comps = []string{}
	}
	for _, names := range envComps {
		sort.Strings(names)
	}
	// Attribute effects to the changed files.
	envOfFile := func(p string) string {
		for _, d := range []string{id.headDir, id.baseDir} {
			if rel, ok := strings.CutPrefix(p, d+"/"); ok && d != "" {
				if dir, file := path.Split(rel); dir == stacks.EnvironmentsDir+"/" {
					return strings.TrimSuffix(strings.TrimSuffix(file, ".yaml"), ".yml")
				}
			}
		}
		return ""
	}
	// isFile reports whether the component or environment file f is
	// the changed file c: f itself, or the file the symbolic link f
	// points at (the loader reads the target).
	isFile := func(f string, c gitops.Change) bool {
		if c.Action == gitops.Renamed && c.OldHash == c.NewHash && id.baseDir != id.headDir && id.baseDir != "" &&
			strings.TrimPrefix(c.OldPath, id.baseDir+"/") == strings.TrimPrefix(c.Path, id.headDir+"/") {
			// Moved with its stack, as it was: it changed nothing (the
			// change came from another file).
			return false
		}
		for _, p := range []string{c.Path, c.OldPath} {
			if p != "" && f != "" && (f == p || (sH != nil && sH.LinkTarget(f) == p) || (sB != nil && sB.LinkTarget(f) == p)) {
				return true
			}
		}
		return false
	}
	for _, c := range id.files {
		var parts []string
		// An environment file added or deleted (or renamed: both) adds or
		// removes its environment.
		for _, p := range []string{c.OldPath, c.Path} {
			env := envOfFile(p)
			if env == "" || p == "" || !e.envSelected(env, restrict) {
				continue
			}
			switch {
			case envH[env] && !envB[env]:
				parts = append(parts, "environment "+env+" added")
			case envB[env] && !envH[env]:
				parts = append(parts, "environment "+env+" removed")
			}
		}
		for _, name := range comps {
			f := ""
			if sH != nil {
				f = sH.ComponentFile(name)
			}
			if f == "" && sB != nil {
				f = sB.ComponentFile(name)
			}
			sv, moved := svcMoved[name]
			if isFile(f, c) || moved && (sB != nil && isFile(sB.ServiceFile(sv[0]), c) || sH != nil && isFile(sH.ServiceFile(sv[1]), c)) {
				parts = append(parts, fmt.Sprintf("component %s changed in %s", name, strings.Join(compEnvs[name], ", ")))
			}
		}
		envs := fileEnvs[c.Path]
		stackFile := strings.HasSuffix(c.Path, "/"+stacks.StackFile)
		for _, f := range sortedKeys(fileEnvs) {
			if f != c.Path && isFile(f, c) {
				// An overlay or stack.yaml linked to c.
				envs = append(envs, fileEnvs[f]...)
				stackFile = stackFile || strings.HasSuffix(f, "/"+stacks.StackFile)
			}
		}
		if len(envs) > 0 && len(parts) == 0 {
			var cs []string
			for _, env := range envs {
				if oc, ok := overlayComps[env]; ok && !stackFile {
					cs = append(cs, oc...)
				} else if sc, ok := stackComps[env]; ok && stackFile {
					cs = append(cs, sc...)
				} else {
					cs = append(cs, envComps[env]...)
				}
			}
			what := ""
			if cs = sortedKeys(toSet(cs)); len(cs) > 0 {
				what = " (components " + strings.Join(cs, ", ") + ")"
				if len(cs) == 1 {
					what = " (component " + cs[0] + ")"
				}
			}
			if stackFile {
				parts = append(parts, "changes "+strings.Join(envs, ", ")+what)
			} else {
				parts = append(parts, "environment "+strings.Join(envs, ", ")+" changed"+what)
			}
		}
		if len(parts) > 0 && effects[c.Path] == "" {
			effects[c.Path] = strings.Join(parts, "; ")
		}
	}
	if id.headErr != nil || errH != nil {
		// Nothing was compared: no file is "without effect" (the load
		// errors are the reasons).
		return nil, comps, envComps, reasons, problems
	}
	if errB != nil {
		notCompared = "the stack did not load at base (" + firstLine(errB) + ")"
	}
	if notCompared != "" {
		// Nor when base did not load, or an environment did not resolve
		// at base or head: whatever a file's edit did, it was not
		// compared (it may be the fix).
		for _, c := range id.files {
			if effects[c.Path] == "" {
				effects[c.Path] = "not compared: " + notCompared
			}
		}
	}
	return effects, comps, envComps, reasons, problems
}

type compJSON struct{ json string }

func components(r *stacks.Resolved) map[string]compJSON {
	m := make(map[string]compJSON, len(r.Components))
	for _, c := range r.Components {
		m[c.Name] = compJSON{string(mustJSON(c))}
	}
	return m
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(err.Error())
	}
	return b
}

// errorReasons lists the problems of a load error as reasons.
func errorReasons(dir string, err error, what string) []Reason {
	var se *stacks.Errors
	if errors.As(err, &se) && len(se.List) > 0 {
		out := make([]Reason, 0, len(se.List))
		for _, x := range se.List {
			out = append(out, Reason{File: x.File, Detail: what + ": " + x.Error()})
		}
		return out
	}
	return []Reason{{File: path.Join(dir, stacks.StackFile), Detail: what + ": " + err.Error()}}
}

// envErrors gathers the problems of environments, each problem (one
// stacks.Error, or an error of another kind as a whole) once, in the
// order first met, with the environments it was met in.
type envErrors struct {
	groups []*envError
	byText map[string]*envError
}

type envError struct {
	envs []string
	err  error
}

func (x *envErrors) add(env string, err error) {
	items := []error{err}
	var se *stacks.Errors
	if errors.As(err, &se) && len(se.List) > 0 {
		items = items[:0]
		for _, e := range se.List {
			items = append(items, &stacks.Errors{List: []*stacks.Error{e}})
		}
	}
	for _, e := range items {
		text := e.Error()
		g := x.byText[text]
		if g == nil {
			if x.byText == nil {
				x.byText = map[string]*envError{}
			}
			g = &envError{err: e}
			x.byText[text] = g
			x.groups = append(x.groups, g)
		}
		if !slices.Contains(g.envs, env) {
			g.envs = append(g.envs, env)
		}
	}
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " (and more)"
	}
	return s
}

func toSet(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func union(a, b map[string]bool) map[string]bool {
	m := make(map[string]bool, len(a)+len(b))
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := keys(m)
	sort.Strings(out)
	return out
}
