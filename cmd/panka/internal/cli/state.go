package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/deploy"
	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/gitops"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
)

func init() { register(newCmdState) }

func newCmdState(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Inspect and repair panka's state (list, show, pull, push, rm)",
		Long: `state works on panka's own record of what is deployed: one state.json per
stack/environment in the configured backend (backend.type local or s3), next
to an immutable history of deployments (see panka history).`,
	}
	cmd.AddCommand(newCmdStateList(f), newCmdStateShow(f), newCmdStatePull(f), newCmdStatePush(f), newCmdStateRm(f))
	return cmd
}

// stackStore opens the store holding stack's state: the configuration with
// the stack's own spec.backend settings when the stack is found in the
// repository, the repository-wide configuration otherwise (a stack removed
// from the repository still has state).
func (f *Factory) stackStore(ctx context.Context, stack string) (statestore.Store, *config.Resolved, error) {
	cfg, err := f.deployedStackConfig(ctx, stack)
	if err != nil {
		return nil, nil, err
	}
	s, err := f.Store(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return s, cfg, nil
}

// deployedStackConfig is stackConfig for commands about what is deployed.
// A stack that is no longer in the repository (deleted, or renamed in
// stack.yaml) has no spec.backend to read: its state may be in a backend
// another stack's spec.backend points at (the stack kept its settings
// under its new name), where changed --since-deployed finds it removed.
// When the repository-wide backend has no state of stack, the first of
// those that has is used, so status, history and destroy reach it.
func (f *Factory) deployedStackConfig(ctx context.Context, stack string) (*config.Resolved, error) {
	h, err := f.findHeader(stack)
	if err != nil {
		return nil, err
	}
	if h != nil {
		return f.stackConfig(stack)
	}
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	if has, err := f.hasStackState(ctx, cfg, stack); err != nil || has {
		return cfg, nil // errors are the caller's to meet, with the default backend
	}
	seen := map[string]bool{f.describeBackend(cfg): true}
	for _, o := range f.repoHeaders() {
		if len(o.Backend) == 0 {
			continue
		}
		c, err := f.configForHeader(o, path.Join(o.Path, stacks.StackFile))
		if err != nil || seen[f.describeBackend(c)] {
			continue
		}
		seen[f.describeBackend(c)] = true
		if has, _ := f.hasStackState(ctx, c, stack); has {
			f.Log.Info().Msgf("stack %q is not in the repository; its state is in %s (the backend of stack %q's spec.backend)", stack, f.describeBackend(c), o.Name)
			return c, nil
		}
	}
	// A stack deleted (or renamed) with its own spec.backend that no
	// remaining stack shares: the commit before its removal says where
	// its state is. destroy of a removed stack (the CI job for a
	// "removed" matrix entry) said "has no state: nothing to destroy"
	// and left it all deployed.
	if h, at := f.removedStackHeader(ctx, stack); h != nil && len(h.Backend) > 0 {
		c, err := f.ConfigForStack(h.Backend, path.Join(h.Path, stacks.StackFile)+" at "+commit7(at.String()))
		if err == nil && !seen[f.describeBackend(c)] {
			if has, _ := f.hasStackState(ctx, c, stack); has {
				f.Log.Info().Msgf("stack %q is not in the repository since %s; its state is in %s (its spec.backend before then)", stack, commit7(at.String()), f.describeBackend(c))
				return c, nil
			}
		}
	}
	return cfg, nil
}

// maxRemovedStackCommits bounds how far back removedStackHeader looks.
const maxRemovedStackCommits = 500

// removedStackHeader finds the stack.yaml stack had before it left the
// repository (its folder deleted, or metadata.name changed): see
// removedStackHeaders. It returns that header and the parent commit; nil
// when not found (the stack was never in this history, or left it longer
// ago).
func (f *Factory) removedStackHeader(ctx context.Context, stack string) (h *stacks.Header, at gitops.Hash) {
	f.removedStackHeaders(ctx, func(rh *stacks.Header, rat gitops.Hash) bool {
		if rh.Name != stack {
			return true
		}
		h, at = rh, rat
		return false
	})
	return h, at
}

// removedStackHeaders calls found, newest first, with the header of each
// stack.yaml under the stacks root that left the repository, as it was
// before (its folder deleted, or metadata.name changed), and the commit
// that had it: first those deleted or changed in the work tree (as HEAD
// has them), then, walking HEAD's first parents (at most
// maxRemovedStackCommits), those each commit deletes or changes, as its
// parent had them. found returns false to stop. Headers that do not
// parse are left out.
func (f *Factory) removedStackHeaders(ctx context.Context, found func(h *stacks.Header, at gitops.Hash) bool) {
	hist := f.stackHistory(ctx)
	if hist == nil {
		return
	}
	// Deleted (or renamed) in the work tree, not committed yet: HEAD's
	// stack.yaml is the one it had.
	if !worktreeRemovedHeaders(ctx, hist, found) {
		return
	}
	var fsys fs.FS
	at := -1
	for _, s := range hist.changed {
		if !strings.HasPrefix(s.file, hist.root+"/") {
			continue
		}
		p := hist.cs[s.i+1]
		if s.i != at {
			var err error
			if fsys, err = hist.repo.TreeFS(p); err != nil {
				return
			}
			at = s.i
		}
		if h, err := stacks.ReadHeader(fsys, path.Dir(s.file)); err == nil && !found(h, p) {
			return
		}
	}
}

// worktreeRemovedHeaders is removedStackHeaders for the stack folders
// deleted (or whose stack.yaml is changed) in the work tree and not
// committed yet: the headers of HEAD's stack.yaml files under root that
// the work tree changed, with HEAD. It returns false when found did.
func worktreeRemovedHeaders(ctx context.Context, hist *stackHistory, found func(h *stacks.Header, at gitops.Hash) bool) bool {
	repo, root := hist.repo, hist.root
	head, err := repo.Head()
	if err != nil {
		return true
	}
	changed, err := hist.worktreeChanges(ctx)
	if err != nil {
		return true
	}
	var fsys fs.FS
	for _, p := range changed {
		if path.Base(p) != stacks.StackFile || !strings.HasPrefix(p, root+"/") {
			continue
		}
		if fsys == nil {
			if fsys, err = repo.TreeFS(head); err != nil {
				return true
			}
		}
		if h, err := stacks.ReadHeader(fsys, path.Dir(p)); err == nil && !found(h, head) {
			return false
		}
	}
	return true
}

// firstParentTrees returns HEAD and its first parents, newest first (at
// most n+1 commits: n steps back; fewer where the history or a shallow
// clone ends, or a commit cannot be read), with their root trees, the
// commits read in one batch.
func firstParentTrees(repo *gitops.Repo, n int) (commits, trees []gitops.Hash) {
	head, err := repo.Head()
	if err != nil {
		return nil, nil
	}
	cs, _ := repo.FirstParents(head, n+1)
	repo.PrefetchCommits(cs)
	for _, c := range cs {
		t, err := repo.CommitTree(c)
		if err != nil {
			break
		}
		commits, trees = append(commits, c), append(trees, t)
	}
	return commits, trees
}

// hasStackState reports whether cfg's state backend holds state of stack.
func (f *Factory) hasStackState(ctx context.Context, cfg *config.Resolved, stack string) (bool, error) {
	s, err := f.Store(ctx, cfg)
	if err != nil {
		return false, err
	}
	keys, err := s.ListStack(ctx, stack)
	return len(keys) > 0, err
}

func (f *Factory) stackConfig(stack string) (*config.Resolved, error) {
	h, err := f.findHeader(stack)
	if err != nil {
		return nil, err
	}
	if h != nil && len(h.Backend) > 0 {
		return f.configForHeader(h, path.Join(h.Path, stacks.StackFile))
	}
	return f.Config()
}

// repoHeaders reads the headers of every stack in the work tree; nil when
// there is no readable stacks folder (state commands work without one).
// Stacks that do not load are left out with a warning: the others' backend
// settings still count.
func (f *Factory) repoHeaders() []*stacks.Header {
	repo, err := openStackRepo(f)
	if err != nil {
		return nil
	}
	defer repo.close()
	disc, err := stacks.DiscoverStacks(repo.fsys, repo.stacksRoot)
	if err != nil {
		f.Log.Warn().Err(err).Msg("some stacks do not load: their own spec.backend settings are not used (run `panka validate`)")
	}
	var out []*stacks.Header
	for _, r := range disc.Refs {
		if disc.Duplicates[r.Name] != nil {
			continue
		}
		h, err := stacks.ReadHeader(repo.fsys, r.Path)
		if err != nil {
			f.Log.Warn().Err(err).Str("stack", r.Name).Msg("read stack header: its own spec.backend settings are not used")
			continue
		}
		out = append(out, h)
	}
	return out
}

// stacksWithBackend names the stacks of the work tree with their own
// spec.backend settings (see repoHeaders).
func (f *Factory) stacksWithBackend() []string {
	var out []string
	for _, h := range f.repoHeaders() {
		if len(h.Backend) > 0 {
			out = append(out, h.Name)
		}
	}
	return out
}

// findHeader reads the header of one stack of the work tree (nil when it
// is not there); only that stack's stack.yaml is parsed beyond its name.
// Problems of other stacks do not matter; a stack.yaml of this stack that
// does not load, or a name two stacks use, is an error: the stack's own
// spec.backend decides where its state and locks are, and guessing would
// read or write another place.
//
// The answers are kept for the run: the work tree does not change under
// a command that reads state, and plan --all-changed asks for every stack
// it plans (it read every stack.yaml of the repository each time: 30
// plans among 1,000 stacks took 630 ms instead of 150), and so is the
// work tree view they are read from (opening it reads the whole staging
// index: 11,000 plans of a 4,000-stack repository spent two thirds of
// their time there).
func (f *Factory) findHeader(stack string) (*stacks.Header, error) {
	return f.findHeaderAs(stack, false)
}

// findHeaderQuiet is findHeader for a check on the side of a command that
// reads the stacks itself (plan, apply): the gitignored files its own view
// leaves out are said once, by that view, not split over two warnings.
func (f *Factory) findHeaderQuiet(stack string) (*stacks.Header, error) {
	return f.findHeaderAs(stack, true)
}

func (f *Factory) findHeaderAs(stack string, quiet bool) (*stacks.Header, error) {
	f.headersMu.Lock()
	defer f.headersMu.Unlock()
	if r, ok := f.headers[stack]; ok {
		return r.h, r.err
	}
	h, err := f.findHeaderOnce(stack, quiet)
	if f.headers == nil {
		f.headers = map[string]foundHeader{}
	}
	f.headers[stack] = foundHeader{h, err}
	return h, err
}

// workTreeStacks lists the names of the work tree's stacks that
// findHeader discovered (nil before it ran, or outside a repository), for
// a "did you mean" on a name it did not find.
func (f *Factory) workTreeStacks() []string {
	f.headersMu.Lock()
	defer f.headersMu.Unlock()
	if f.headersRepo != nil && f.headersDisc == nil {
		// findHeader found its stack from the record of the names
		// (quickStack) without a discovery: the list needs one.
		f.workTreeDiscovery()
	}
	if f.headersDisc == nil || f.headersDisc.disc == nil {
		return nil
	}
	var names []string
	for _, r := range f.headersDisc.disc.Refs {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	return slices.Compact(names)
}

// closeHeaders releases the work tree view findHeader kept open for the
// run (Run calls it once the command has returned).
func (f *Factory) closeHeaders() {
	f.headersMu.Lock()
	defer f.headersMu.Unlock()
	if f.headersRepo != nil {
		f.headersRepo.close()
		f.headersRepo = nil
	}
}

// foundHeader is one answer of findHeader.
type foundHeader struct {
	h   *stacks.Header
	err error
}

// workTreeDiscovery returns the work tree view findHeader reads (opened
// the first time) and the stacks discovered in it, once a run: plan and
// status find their stack in it too (planSourceFS.discover), where each
// discovering the work tree again read every stack.yaml of the
// repository twice. nil outside a repository. The caller holds headersMu.
func (f *Factory) workTreeDiscovery() (*stackRepo, *discovered) {
	if f.workTreeView() == nil {
		return nil, nil
	}
	if f.headersDisc == nil {
		f.headersDisc = &discovered{}
		f.headersDisc.disc, f.headersDisc.err = stacks.DiscoverStacks(f.headersRepo.fsys, f.headersRepo.stacksRoot)
		saveStackNames(f, f.headersRepo, f.headersDisc.disc, f.headersDisc.err)
	}
	return f.headersRepo, f.headersDisc
}

// workTreeView returns the work tree view findHeader reads, opened the
// first time; nil outside a repository. The caller holds headersMu.
func (f *Factory) workTreeView() *stackRepo {
	if f.headersRepo == nil {
		repo, err := openStackRepo(f)
		if err != nil {
			return nil
		}
		repo.warn = nil // said after each question of findHeader, unless quiet
		f.headersRepo = repo
	}
	return f.headersRepo
}

func (f *Factory) findHeaderOnce(stack string, quiet bool) (*stacks.Header, error) {
	if repo := f.workTreeView(); repo != nil && f.headersDisc == nil {
		// Without reading every stack.yaml when the names recorded
		// last time still hold; anything not plain goes the long way.
		if ref, ok := quickStack(f, repo.dir, repo.gitDir, repo.stacksRoot, stack); ok {
			if h, err := stacks.ReadHeader(repo.fsys, ref.Path); err == nil {
				if !quiet {
					warnIgnored(f, repo.ignores)
				}
				return h, nil
			}
		}
	}
	repo, found := f.workTreeDiscovery()
	if repo == nil {
		return nil, nil
	}
	if !quiet {
		defer warnIgnored(f, repo.ignores)
	}
	disc, derr := found.disc, found.err
	if disc.Duplicates[stack] != nil {
		_, err := findStack(disc, stack, repo.stacksRoot)
		return nil, err
	}
	for _, r := range disc.Refs {
		if r.Name != stack {
			continue
		}
		h, err := stacks.ReadHeader(repo.fsys, r.Path)
		if err != nil {
			// The work tree is being edited (an incident's status, history
			// or rollback --to-version must still find the state): the
			// committed stack.yaml says where the state is until an
			// apply of the edit moves it.
			if hh := f.committedHeader(repo.dir, r.Path, stack, err); hh != nil {
				return hh, nil
			}
			return nil, fmt.Errorf("read the backend settings of stack %q (its state and locks may be under its own spec.backend): %w\nfix %s (run `panka validate --stack %s`)", stack, err, path.Join(r.Path, stacks.StackFile), stack)
		}
		return h, nil
	}
	// A stack.yaml that gives no name now may be this stack's, as
	// committed.
	for _, u := range disc.Unnamed {
		if hh := f.committedHeader(repo.dir, u.Path, stack, &stacks.Errors{List: u.Errors}); hh != nil {
			return hh, nil
		}
	}
	if len(disc.Refs) == 0 && derr == nil {
		// Outside git, started inside another folder's stacks root:
		// the state looked for is that folder's .panka/, not this one's,
		// and "nothing deployed" would be wrong.
		if err := repo.insideStacksRoot(); err != nil {
			return nil, err
		}
	}
	if derr != nil {
		f.Log.Warn().Err(derr).Msgf("stack %q is not among the stacks that load: using the repository's backend settings (if it is one of the stacks above, fix it first: run `panka validate`)", stack)
	}
	return nil, nil
}

// committedHeader reads the header of stack from its stack.yaml in
// stackDir as committed at HEAD, for a work tree where that file does not
// load (problem): the committed file says where the state is until an
// apply of the edit moves it, so an incident's status, history or rollback
// --to-version still finds it. It warns (once a run) that it does so; nil
// when there is no commit, or the committed file is not there, does not
// load or names another stack.
func (f *Factory) committedHeader(dir, stackDir, stack string, problem error) *stacks.Header {
	repo, err := gitops.Open(dir, f.GitOptions())
	if err != nil {
		return nil
	}
	defer repo.Close()
	head, err := repo.Head()
	if err != nil {
		return nil
	}
	fsys, err := repo.TreeFS(head)
	if err != nil {
		return nil
	}
	h, err := stacks.ReadHeader(fsys, stackDir)
	if err != nil || h.Name != stack {
		return nil
	}
	if _, said := f.committedBackendSaid.LoadOrStore(stack, true); !said {
		f.Warnf("%s does not load (%v): using its spec.backend settings as committed at HEAD (%s); fix it (run `panka validate --stack %s`)",
			path.Join(stackDir, stacks.StackFile), problem, commit7(head.String()), stack)
	}
	return h
}

// stateKeyFlags are --stack and --environment.
type stateKeyFlags struct {
	Stack, Environment string
}

// needStackEnv is the usage error of a command that takes one
// stack/environment and was not given both (nil when it was). It said
// "--stack and --environment are required" whichever was missing; it now
// also says which, and for a stack given, the environments it has, so the
// next try is right. or is said after "required" (" (or --all-changed)").
func needStackEnv(f *Factory, stack, env, or string) error {
	switch {
	case stack != "" && env != "":
		return nil
	case stack == "" && env == "":
		return Usagef("--stack and --environment are required%s", or)
	case stack == "":
		return Usagef("--stack and --environment are required%s: --stack is missing (panka stack list names the stacks)", or)
	}
	what := "--environment is missing"
	if h, err := f.findHeaderQuiet(stack); err == nil && h != nil && len(h.Environments) > 0 {
		what += fmt.Sprintf(" (stack %s has %s)", stack, strings.Join(h.Environments, ", "))
	}
	return Usagef("--stack and --environment are required%s: %s", or, what)
}

func (k *stateKeyFlags) register(cmd *cobra.Command) {
	stackEnvFlags(cmd.Flags(), &k.Stack, &k.Environment)
}

func (k *stateKeyFlags) key(f *Factory) (statestore.Key, error) {
	if err := needStackEnv(f, k.Stack, k.Environment, ""); err != nil {
		return statestore.Key{}, err
	}
	key := statestore.Key{Stack: k.Stack, Environment: k.Environment}
	if err := key.Validate(); err != nil {
		return key, &UsageError{Err: err}
	}
	return key, nil
}

// commit7 is the 7-character short SHA of tables.
// newestRecord returns the newest record of key's history, or, when it
// cannot be read, what its name says (bad); both nil when there is none.
func newestRecord(ctx context.Context, s statestore.Store, key statestore.Key) (*statestore.Deployment, *statestore.UnreadableRecord, error) {
	h, err := s.History(ctx, key, 0, 1)
	bad, err := statestore.Unreadable(err)
	switch {
	case err != nil:
		return nil, nil, err
	case len(bad) > 0:
		return nil, &bad[0], nil
	case len(h) > 0:
		return h[0], nil, nil
	}
	return nil, nil, nil
}

// lostState is, for key without a state.json, noState's error when its
// history records deployments (state.json was deleted or lost: restore
// it), nil when it records none. "Never been deployed" sent the user to
// deploy it anew.
func (f *Factory) lostState(ctx context.Context, s statestore.Store, cfg *config.Resolved, key statestore.Key) error {
	h, bad, err := newestRecord(ctx, s, key)
	if err != nil || bad == nil && (h == nil || !deploy.RecordsDeployed(h)) {
		return nil
	}
	return f.noState(ctx, s, cfg, key)
}

func commit7(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

// stateAge renders d as 45s, 12m, 5h, 3d.
func stateAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// underStateLease runs fn holding the stack/environment's lock lease, so a
// state edit never interleaves with a deployment (a held lock exits 3).
// Compare-and-swap still guards the write itself. fn writes through s, the
// store under the lease (leaseWrites): before its first write it asks the
// lock server whether the lease still holds, as apply does before it
// records, and its writes stop when the lease could be taken. fn is told
// who holds the lease (for the state's LastWrite) and, when it took over
// the lease of a process that no longer ran (a killed run's), what it
// cleared (kept, to add to the state's Recoveries: a state edit records
// no deployment that could keep it; nil otherwise).
func (f *Factory) underStateLease(ctx context.Context, cfg *config.Resolved, store statestore.Store, key statestore.Key, op string, wait time.Duration,
	fn func(ctx context.Context, s statestore.Store, user string, kept *statestore.Recovery) error) error {
	lease, err := f.AcquireLease(ctx, cfg, key.Stack, key.Environment, op, "", wait)
	if err != nil {
		return err
	}
	defer f.ReleaseLease(lease)
	info := lease.Info()
	var kept *statestore.Recovery
	if h := f.takenOver(key.Stack, key.Environment); h != nil {
		kept = &statestore.Recovery{Operation: strings.ReplaceAll(op, "-", " "), LockID: info.ID, User: info.LockedBy, Host: info.Metadata.Hostname,
			At: f.Now().UTC(), Cleared: statestore.Recovered{Lease: h}}
	}
	what := "the " + strings.ReplaceAll(op, "-", " ")
	s := &leaseWrites{Store: store, key: key, within: lease.GiveUpIn, check: func(ctx context.Context) error {
		// Not under the lease's context: a lost lease ends it, and the
		// error says who holds the lock now.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := f.leaseLost(cctx, cfg, lease, what); err != nil {
			return fmt.Errorf("%s of %s wrote nothing: its lock lease was lost (%w), so another run may own its state now; see panka status --stack %s, then re-run it",
				what, key, err, key.Stack)
		}
		return nil
	}}
	return fn(lease.Context(), s, info.LockedBy, kept)
}

// leaseWrites is a state store whose writes are made under a lock lease.
// The lease's heartbeats notice a lease removed by panka unlock --force
// (or taken over) only once per locks.heartbeat, so a state push or rm whose
// reads were slow could write over the state of the run that took the lock
// meanwhile: before its first write it asks the lock server (check), and
// every write is bound by the time the lease could be taken
// (deploy.LeaseBound), as apply's and drift detect's records are. Reads go
// to the store as they are.
type leaseWrites struct {
	statestore.Store
	key    statestore.Key
	check  func(ctx context.Context) error
	within func() (time.Duration, bool)
	asked  bool
	lost   error
}

// write runs one write of the store under the lease.
func (w *leaseWrites) write(ctx context.Context, fn func(ctx context.Context) error) error {
	if !w.asked {
		w.asked = true
		w.lost = w.check(ctx)
	}
	if w.lost != nil {
		return w.lost
	}
	bctx, cancel, err := deploy.LeaseBound(ctx, w.key, w.within)
	defer cancel()
	if err != nil {
		return err
	}
	return deploy.StoppedAtLeaseEnd(bctx, fn(bctx))
}

func (w *leaseWrites) Put(ctx context.Context, key statestore.Key, st *statestore.State, prev statestore.Version) (v statestore.Version, err error) {
	err = w.write(ctx, func(ctx context.Context) error {
		v, err = w.Store.Put(ctx, key, st, prev)
		return err
	})
	return v, err
}

func (w *leaseWrites) Delete(ctx context.Context, key statestore.Key, prev statestore.Version) error {
	return w.write(ctx, func(ctx context.Context) error { return w.Store.Delete(ctx, key, prev) })
}

func (w *leaseWrites) AppendHistory(ctx context.Context, key statestore.Key, d *statestore.Deployment) error {
	return w.write(ctx, func(ctx context.Context) error { return w.Store.AppendHistory(ctx, key, d) })
}

func (w *leaseWrites) RemoveHistory(ctx context.Context, key statestore.Key, d *statestore.Deployment) error {
	return w.write(ctx, func(ctx context.Context) error { return w.Store.RemoveHistory(ctx, key, d) })
}

func (w *leaseWrites) MarkSerial(ctx context.Context, key statestore.Key, serial int64) error {
	return w.write(ctx, func(ctx context.Context) error { return w.Store.MarkSerial(ctx, key, serial) })
}

// ---- state list ----

// StateListOptions are the inputs of `panka state list`.
type StateListOptions struct {
	F *Factory
	// OpenStore builds the state store of a configuration (Factory.Store;
	// tests wrap it).
	OpenStore func(ctx context.Context, cfg *config.Resolved) (statestore.Store, error)
}

// StateListItem is one row of `panka state list -o json`.
type StateListItem struct {
	Stack         string    `json:"stack"`
	Environment   string    `json:"environment"`
	Serial        int64     `json:"serial"`
	Status        string    `json:"status"`
	Commit        string    `json:"commit,omitempty"`
	Operation     string    `json:"operation,omitempty"`
	Result        string    `json:"result,omitempty"`
	DeployedAt    time.Time `json:"deployedAt,omitzero"`
	UpdatedAt     time.Time `json:"updatedAt"`
	Components    int       `json:"components"`
	Backend       string    `json:"backend"`
	Error         string    `json:"error,omitempty"`
	lastActivityT time.Time
}

func newCmdStateList(f *Factory) *cobra.Command {
	opts := &StateListOptions{F: f, OpenStore: f.Store}
	return &cobra.Command{
		Use:   "list",
		Short: "List every stack/environment with state: serial, last commit, status, age",
		Long: `list shows every stack/environment that has state in the configured backend,
and in the backends of stacks in this repository that set their own
spec.backend (bucket or prefix).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return stateListRun(c.Context(), opts) },
	}
}

func stateListRun(ctx context.Context, opts *StateListOptions) error {
	f := opts.F
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	type source struct {
		cfg   *config.Resolved
		stack string // only this stack's keys ("" = all)
		file  string // the stack.yaml whose spec.backend names cfg
	}
	sources := []source{{cfg: cfg}}
	for _, h := range f.repoHeaders() {
		if len(h.Backend) == 0 {
			continue
		}
		c, err := f.configForHeader(h, path.Join(h.Path, stacks.StackFile))
		if err != nil {
			return err
		}
		sources = append(sources, source{cfg: c, stack: h.Name, file: path.Join(h.Path, stacks.StackFile)})
	}
	seen := map[string]bool{}
	var items []StateListItem
	var stores []statestore.Store // of items[i]
	var maybe []bool              // items[i] may have no state (ListMaybe)
	for _, src := range sources {
		loc := f.describeBackend(src.cfg)
		// A backend only a stack's spec.backend names: its error says so
		// (the advice "fix backend.bucket" pointed at the config files).
		whose := ""
		if src.file != "" {
			whose = " (the spec.backend of stack " + src.stack + ", " + src.file + ")"
		}
		s, err := opts.OpenStore(ctx, src.cfg)
		if err != nil {
			if whose != "" {
				return fmt.Errorf("%s%s: %w", loc, whose, err)
			}
			return err
		}
		var keys []statestore.Key
		ml, unverified := s.(statestore.MaybeLister)
		switch {
		case src.stack != "":
			unverified = false
			keys, err = s.ListStack(ctx, src.stack)
		case unverified:
			// Each state is read below anyway: one that is not there
			// is left out then, without a listing per environment.
			keys, err = ml.ListMaybe(ctx)
		default:
			keys, err = s.List(ctx)
		}
		if err != nil {
			return fmt.Errorf("list states in %s%s: %w", loc, whose, err)
		}
		for _, k := range keys {
			if src.stack != "" && k.Stack != src.stack {
				continue
			}
			id := loc + "\x00" + k.String()
			if seen[id] {
				continue
			}
			seen[id] = true
			items = append(items, StateListItem{Stack: k.Stack, Environment: k.Environment, Backend: loc})
			stores = append(stores, s)
			maybe = append(maybe, unverified)
		}
	}
	absent := make([]bool, len(items))
	err = forEach(ctx, storeReads, len(items), func(ctx context.Context, i int) error {
		it := &items[i]
		st, _, err := stores[i].Get(ctx, statestore.Key{Stack: it.Stack, Environment: it.Environment})
		if maybe[i] && errors.Is(err, statestore.ErrNotFound) {
			absent[i] = true // history or Pulumi files only, or deleted
			return nil
		}
		if err != nil {
			it.Status, it.Error = "unreadable", err.Error()
			return nil
		}
		it.Serial, it.Status, it.UpdatedAt, it.Components = st.Serial, st.Status, st.UpdatedAt, st.Resources.Components
		if d := st.LastDeployment; d != nil {
			it.Commit, it.Operation, it.Result, it.DeployedAt = d.Commit, d.Operation, d.Result, d.EndedAt
		}
		return nil
	})
	if err == nil {
		err = ctx.Err() // a cancelled read is not an unreadable state
	}
	if err != nil {
		return err
	}
	kept := items[:0]
	for i, it := range items {
		if !absent[i] {
			kept = append(kept, it)
		}
	}
	if items = kept; len(items) == 0 {
		items = nil
	}
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].Stack != items[j].Stack {
			return items[i].Stack < items[j].Stack
		}
		return items[i].Environment < items[j].Environment
	})
	// An unreadable state is listed (with its error) and makes the exit
	// status 1, as `stack list` does for a stack that does not load: a
	// script checking states must not take a corrupt one for a good one.
	unreadable := 0
	for _, it := range items {
		if it.Error != "" {
			unreadable++
		}
	}
	if f.JSON() {
		if items == nil {
			items = []StateListItem{}
		}
		if err := f.PrintJSON(items); err != nil || unreadable == 0 {
			return err
		}
		return &ExitCodeError{Code: ExitError, Msg: countNoun(unreadable, "state") + " could not be read"}
	}
	if len(items) == 0 {
		fmt.Fprintf(f.Notices(), "No state in %s.\n", f.describeBackend(cfg))
		return nil
	}
	now := f.Now()
	// States from more than one backend (stacks with their own
	// spec.backend) say where each is: a stack/environment deployed at an
	// earlier prefix and again at its new one was listed twice, the two
	// rows told apart by nothing.
	backends := map[string]bool{}
	for _, it := range items {
		backends[it.Backend] = true
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	header := "STACK\tENVIRONMENT\tSERIAL\tCOMMIT\tSTATUS\tAGE"
	if len(backends) > 1 {
		header += "\tBACKEND"
	}
	fmt.Fprintln(tw, header)
	for _, it := range items {
		a := "-"
		if !it.UpdatedAt.IsZero() {
			a = stateAge(now.Sub(it.UpdatedAt))
		}
		serial := fmt.Sprint(it.Serial)
		if it.Error != "" {
			serial = "-"
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", it.Stack, it.Environment, serial, orNone(commit7(it.Commit)), it.Status, a)
		if len(backends) > 1 {
			line += "\t" + it.Backend
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if unreadable == 0 {
		return nil
	}
	for _, it := range items {
		if it.Error != "" {
			f.Errorf("%s/%s: %s", it.Stack, it.Environment, it.Error)
		}
	}
	return &ExitCodeError{Code: ExitError, Msg: countNoun(unreadable, "state") + " could not be read"}
}

// ---- state show ----

// StateShowOptions are the inputs of `panka state show`.
type StateShowOptions struct {
	F *Factory
	stateKeyFlags
}

func newCmdStateShow(f *Factory) *cobra.Command {
	opts := &StateShowOptions{F: f}
	cmd := &cobra.Command{
		Use:   "show --stack S --environment E",
		Short: "Print the state of a stack/environment (summary, or the whole state with -o json)",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return stateShowRun(c.Context(), opts) },
	}
	opts.stateKeyFlags.register(cmd)
	markRequired(cmd, "", "stack", "environment")
	return cmd
}

func stateShowRun(ctx context.Context, opts *StateShowOptions) error {
	f := opts.F
	key, err := opts.key(f)
	if err != nil {
		return err
	}
	s, cfg, err := f.stackStore(ctx, key.Stack)
	if err != nil {
		return err
	}
	st, _, err := s.Get(ctx, key)
	if errors.Is(err, statestore.ErrNotFound) {
		return f.noState(ctx, s, cfg, key)
	}
	if err != nil {
		return err
	}
	st = shownState(st)
	if f.JSON() {
		return f.PrintJSON(st)
	}
	w := f.IO.Out
	fmt.Fprintf(w, "Stack:        %s\n", st.Stack)
	fmt.Fprintf(w, "Environment:  %s\n", st.Environment)
	fmt.Fprintf(w, "Serial:       %d\n", st.Serial)
	fmt.Fprintf(w, "Status:       %s\n", st.Status)
	if !st.UpdatedAt.IsZero() {
		fmt.Fprintf(w, "Updated:      %s (%s ago)\n", st.UpdatedAt.UTC().Format(time.RFC3339), stateAge(f.Now().Sub(st.UpdatedAt)))
	}
	fmt.Fprintf(w, "Backend:      %s\n", f.describeBackend(cfg))
	if d := st.LastDeployment; d != nil {
		fmt.Fprintf(w, "Last deployment:\n")
		writeDeployment(w, d)
	}
	if d := st.LastSuccessful; d != nil && (st.LastDeployment == nil || d.Serial != st.LastDeployment.Serial) {
		fmt.Fprintf(w, "Deployed (last success):\n")
		writeDeployment(w, d)
	}
	if lw := st.LastWrite; lw != nil {
		// history's note sends the reader here to learn why the state
		// is ahead of its newest record: say it (it was in -o json only).
		by := ""
		if lw.User != "" {
			by = " by " + lw.User
		}
		at := ""
		if !lw.At.IsZero() {
			at = " at " + lw.At.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "Last write:   panka %s%s%s, serial %d (it records no deployment: no history record)\n", orUnknown(lw.Operation), by, at, lw.Serial)
	}
	r := st.Resources
	fmt.Fprintf(w, "Resources:    %d components, %d resources", r.Components, r.Resources)
	if len(r.ByKind) > 0 {
		var parts []string
		for _, k := range sortedKeysOf(r.ByKind) {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.ByKind[k]))
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	if comps := specComponents(st.Spec); len(comps) > 0 {
		fmt.Fprintf(w, "Components:\n")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, c := range comps {
			fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Kind)
		}
		_ = tw.Flush()
	}
	if len(st.Outputs) > 0 {
		fmt.Fprintf(w, "Outputs:\n")
		for _, c := range sortedKeysOf(st.Outputs) {
			for _, o := range sortedKeysOf(st.Outputs[c]) {
				fmt.Fprintf(w, "  %s.%s = %v\n", c, o, st.Outputs[c][o])
			}
		}
	}
	if dc := st.LastDriftCheck; dc != nil {
		drift := "no drift"
		if len(dc.Drifted) > 0 {
			drift = "drifted: " + strings.Join(dc.Drifted, ", ")
		}
		fmt.Fprintf(w, "Drift check:  %s, %s\n", dc.At.UTC().Format(time.RFC3339), drift)
	}
	for _, r := range st.Recoveries {
		fmt.Fprintf(w, "Recovered:    an earlier run stopped part way, and %s (kept until the next deployment's record takes it)\n", r)
	}
	return nil
}

// shownState returns st as state show prints it: secret values (their
// keyed hashes) and secret references, in the spec, the outputs and the
// deployment records, become "(sensitive)", as plan and show print them
// (shownDeployment). What is stored is not changed; state pull prints it.
func shownState(st *statestore.State) *statestore.State {
	c := *st
	c.LastDeployment = shownDeployment(st.LastDeployment)
	c.LastSuccessful = shownDeployment(st.LastSuccessful)
	c.Spec = planner.MaskModel(st.Spec)
	c.Outputs = planner.MaskOutputs(st.Outputs)
	return &c
}

// shownDeployment returns d as history prints it: the recorded variables,
// spec and outputs with every secret value (keyed hash) and every SSM /
// Secrets Manager reference as "(sensitive)"; the JSON keeps its fields.
func shownDeployment(d *statestore.Deployment) *statestore.Deployment {
	if d == nil {
		return nil
	}
	c := *d
	c.Vars = planner.MaskVars(d.Vars)
	c.Spec = planner.MaskModel(d.Spec)
	c.Outputs = planner.MaskOutputs(d.Outputs)
	return &c
}

func writeDeployment(w io.Writer, d *statestore.Deployment) {
	fmt.Fprintf(w, "  %s #%d %s, commit %s", d.Operation, d.Serial, d.Result, orNone(commit7(d.Commit)))
	if d.Dirty {
		fmt.Fprint(w, " (dirty)")
	}
	if d.Ref != "" {
		fmt.Fprintf(w, " (%s)", d.Ref)
	}
	fmt.Fprintln(w)
	if !d.EndedAt.IsZero() {
		fmt.Fprintf(w, "  at %s by %s on %s\n", d.EndedAt.UTC().Format(time.RFC3339), orNone(d.User), orNone(d.Host))
	}
	if !d.Recovered.Empty() {
		fmt.Fprintf(w, "  recovered from an earlier run that stopped part way: %s\n", d.Recovered)
	}
	if d.CommitAuthor != "" || d.CommitMessage != "" {
		msg, _, _ := strings.Cut(d.CommitMessage, "\n")
		fmt.Fprintf(w, "  %s: %s\n", orNone(d.CommitAuthor), msg)
	}
	if done := doneBeforeStop(d.Result, d.ChangesFrom, d.Changes); done != "" {
		fmt.Fprintf(w, "  before it stopped: %s\n", done)
	}
	if d.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", d.Error)
	}
}

func sortedKeysOf[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

type specComponent struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// specComponents lists the components of a stored spec (stacks.Resolved JSON).
func specComponents(spec json.RawMessage) []specComponent {
	var m struct {
		Components []specComponent `json:"components"`
	}
	if len(spec) == 0 || json.Unmarshal(spec, &m) != nil {
		return nil
	}
	return m.Components
}

// ---- state pull ----

// StatePullOptions are the inputs of `panka state pull`.
type StatePullOptions struct {
	F *Factory
	stateKeyFlags
}

func newCmdStatePull(f *Factory) *cobra.Command {
	opts := &StatePullOptions{F: f}
	cmd := &cobra.Command{
		Use:   "pull --stack S --environment E > state.json",
		Short: "Print the state of a stack/environment as JSON (the state.json format) to stdout",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return statePullRun(c.Context(), opts) },
	}
	opts.stateKeyFlags.register(cmd)
	markRequired(cmd, "", "stack", "environment")
	return cmd
}

func statePullRun(ctx context.Context, opts *StatePullOptions) error {
	f := opts.F
	key, err := opts.key(f)
	if err != nil {
		return err
	}
	s, cfg, err := f.stackStore(ctx, key.Stack)
	if err != nil {
		return err
	}
	data, err := statestore.Export(ctx, s, key)
	if errors.Is(err, statestore.ErrNotFound) {
		return f.noState(ctx, s, cfg, key)
	}
	var de *statestore.DamagedError
	if errors.As(err, &de) && data != nil {
		// Printed as stored: the repair the error names starts here.
		f.Warnf("%v", err)
	} else if err != nil {
		return err
	}
	_, err = f.IO.Out.Write(data)
	return err
}

// ---- state push ----

// StatePushOptions are the inputs of `panka state push`.
type StatePushOptions struct {
	F *Factory
	stateKeyFlags
	File        string
	Force       bool
	LockTimeout time.Duration
}

// StatePushResult is what `panka state push -o json` prints.
type StatePushResult struct {
	Stack       string `json:"stack"`
	Environment string `json:"environment"`
	Serial      int64  `json:"serial"`
	Backend     string `json:"backend"`
}

func newCmdStatePush(f *Factory) *cobra.Command {
	opts := &StatePushOptions{F: f}
	cmd := &cobra.Command{
		Use:   "push FILE [--stack S --environment E] [--force]",
		Short: "Replace the state of a stack/environment with FILE (- reads stdin)",
		Long: `push writes FILE (a state as printed by ` + "`panka state pull`" + `) as the state of its
stack/environment, or of --stack/--environment. The new state gets the next
serial. Without --force it refuses a file for another stack/environment, and
one older than the stored state (someone deployed since it was pulled).
The write is compare-and-swap: a deployment racing with the push wins and
the push fails. Earlier versions stay in a versioned bucket.

Only state.json is written: a state pulled from another backend comes
without its history and without Pulumi's state (pulumi/), which knows the
resources. To move a deployment, copy its whole stacks/<stack>/<env>/ tree
instead (docs/state.md, "Switching backends").`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.File = args[0]
			if strings.TrimSpace(opts.File) == "" {
				// state push "$FILE" with the variable unset read the
				// folder panka runs in: "read : read DIR: is a directory".
				return Usagef("the FILE argument is empty (an unset or empty CI variable?): give the state file to push (panka state pull writes one), or - for standard input")
			}
			return statePushRun(c.Context(), opts)
		},
	}
	opts.stateKeyFlags.register(cmd)
	cmd.Flags().BoolVar(&opts.Force, "force", false, "push a file for another stack/environment, or older than the stored state")
	durationVar(cmd.Flags(), &opts.LockTimeout, "lock-timeout", 0, "wait this long for the stack/environment's lock: seconds or e.g. 10m (0: fail at once)")
	return cmd
}

func statePushRun(ctx context.Context, opts *StatePushOptions) error {
	f := opts.F
	var data []byte
	var err error
	name := opts.File
	if opts.File == "-" {
		data, err = io.ReadAll(io.LimitReader(f.IO.In, 256<<20))
		name = "stdin"
	} else {
		p := opts.File
		if !filepath.IsAbs(p) {
			wd, werr := f.WorkDir()
			if werr != nil {
				return werr
			}
			p = filepath.Join(wd, p)
		}
		data, err = os.ReadFile(p)
	}
	if errors.Is(err, syscall.EISDIR) {
		// The file-system advice for a folder where panka needs a
		// file is about its own files ("move it away"): this one is
		// the user's argument.
		return fmt.Errorf("read %s: it is a folder, not a state file; nothing was written: give the file `panka state pull` wrote (panka state push FILE)", opts.File)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", opts.File, err)
	}
	// An editor's UTF-8 byte order mark (Notepad, Set-Content -Encoding
	// utf8 in Windows PowerShell) is no part of the document: a pulled
	// state edited there was refused as "not valid JSON ... invalid
	// character 'ï'".
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	key := statestore.Key{Stack: opts.Stack, Environment: opts.Environment}
	if key.Stack == "" || key.Environment == "" {
		// Default to the stack/environment the file names. A document
		// that is no state says so, as Import would, not in Go's terms.
		if err := statestore.CheckImport(data, name); err != nil {
			return err
		}
		var probe struct {
			Stack       string `json:"stack"`
			Environment string `json:"environment"`
		}
		if err := json.Unmarshal(data, &probe); err != nil {
			return fmt.Errorf("%s is not a state document (its stack and environment must be strings); nothing was written: push a state printed by `panka state pull`", name)
		}
		if key.Stack == "" {
			key.Stack = probe.Stack
		}
		if key.Environment == "" {
			key.Environment = probe.Environment
		}
		var missing, flags, fields []string
		if key.Stack == "" {
			missing, flags, fields = append(missing, "no stack"), append(flags, "--stack/-s"), append(fields, `"stack"`)
		}
		if key.Environment == "" {
			missing, flags, fields = append(missing, "no environment"), append(flags, "--environment/-e"), append(fields, `"environment"`)
		}
		if len(missing) > 0 {
			are := "field is"
			if len(missing) > 1 {
				are = "fields are"
			}
			return fmt.Errorf("%s names %s (its %s %s empty or missing); nothing was written: pass %s, or set %s in the file",
				name, strings.Join(missing, " and "), strings.Join(fields, " and "), are, strings.Join(flags, " and "), strings.Join(fields, " and "))
		}
	}
	if err := key.Validate(); err != nil {
		return fmt.Errorf("%s: %w (pass --stack and --environment)", name, err)
	}
	s, cfg, err := f.stackStore(ctx, key.Stack)
	if err != nil {
		return err
	}
	var st *statestore.State
	err = f.underStateLease(ctx, cfg, s, key, "state-push", opts.LockTimeout, func(ctx context.Context, s statestore.Store, user string, kept *statestore.Recovery) error {
		var err error
		st, err = statestore.Import(ctx, s, key, data, statestore.ImportOptions{Source: name, Force: opts.Force, Now: f.Now, User: user, Recovery: kept})
		return err
	})
	if err != nil {
		return fmt.Errorf("push to %s%s: %w", f.describeBackend(cfg), statestore.StatePath("", key), err)
	}
	res := StatePushResult{Stack: key.Stack, Environment: key.Environment, Serial: st.Serial, Backend: f.describeBackend(cfg)}
	if f.JSON() {
		return f.PrintJSON(res)
	}
	fmt.Fprintf(f.IO.Out, "Pushed the state of %s as serial %d to %s\n", key, st.Serial, res.Backend)
	return nil
}

// ---- state rm ----

// StateRmOptions are the inputs of `panka state rm`.
type StateRmOptions struct {
	F *Factory
	stateKeyFlags
	Resources   []string
	LockTimeout time.Duration
}

// StateRmResult is what `panka state rm -o json` prints.
type StateRmResult struct {
	Stack       string   `json:"stack"`
	Environment string   `json:"environment"`
	Removed     []string `json:"removed"`
	Serial      int64    `json:"serial"`
}

func newCmdStateRm(f *Factory) *cobra.Command {
	opts := &StateRmOptions{F: f}
	cmd := &cobra.Command{
		Use:   "rm --stack S --environment E --resource COMPONENT [--resource ...]",
		Short: "Remove components from panka's state (their cloud resources are not touched)",
		Long: `rm removes components from panka's state of a stack/environment: from the
deployed spec, the outputs and the resource counts, so panka forgets them.
Nothing in the cloud is deleted, and the Pulumi stack's own state is handled
by the deployer, not by this command. The write is compare-and-swap and gets
the next serial.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if len(opts.Resources) == 0 {
				return Usagef("--resource is required (a component name; repeatable)")
			}
			return stateRmRun(c.Context(), opts)
		},
	}
	opts.stateKeyFlags.register(cmd)
	markRequired(cmd, "", "stack", "environment")
	cmd.Flags().StringArrayVarP(&opts.Resources, "resource", "r", nil, "component to remove (repeatable)")
	markRequired(cmd, "", "resource")
	durationVar(cmd.Flags(), &opts.LockTimeout, "lock-timeout", 0, "wait this long for the stack/environment's lock: seconds or e.g. 10m (0: fail at once)")
	return cmd
}

func stateRmRun(ctx context.Context, opts *StateRmOptions) error {
	f := opts.F
	key, err := opts.key(f)
	if err != nil {
		return err
	}
	s, cfg, err := f.stackStore(ctx, key.Stack)
	if err != nil {
		return err
	}
	var st *statestore.State
	err = f.underStateLease(ctx, cfg, s, key, "state-rm", opts.LockTimeout, func(ctx context.Context, s statestore.Store, user string, kept *statestore.Recovery) error {
		var err error
		st, _, err = statestore.Update(ctx, s, key, f.Now, func(st *statestore.State) error {
			// History has no record of it: the state says it was one
			// (serial 0: Update fills in the one it writes).
			st.LastWrite = &statestore.Write{Operation: statestore.WriteStateRm, User: user, At: f.Now().UTC()}
			if kept != nil {
				st.Recoveries = append(st.Recoveries, *kept)
			}
			return removeComponents(st, opts.Resources)
		})
		return err
	})
	if errors.Is(err, statestore.ErrNotFound) {
		return f.noState(ctx, s, cfg, key)
	}
	if err != nil {
		return err
	}
	res := StateRmResult{Stack: key.Stack, Environment: key.Environment, Removed: opts.Resources, Serial: st.Serial}
	if f.JSON() {
		return f.PrintJSON(res)
	}
	fmt.Fprintf(f.IO.Out, "Removed %s from the state of %s (serial %d).\n", strings.Join(opts.Resources, ", "), key, st.Serial)
	fmt.Fprintf(f.Notices(), "Cloud resources were not touched; the Pulumi stack's state is handled by the deployer.\n")
	return nil
}

// removeComponents drops names from st's spec, outputs and counts. Every
// name must be in the state; dependsOn entries naming them are dropped too.
func removeComponents(st *statestore.State, names []string) error {
	var spec map[string]json.RawMessage
	var comps []map[string]json.RawMessage
	if len(st.Spec) > 0 && string(st.Spec) != "null" {
		if err := json.Unmarshal(st.Spec, &spec); err != nil {
			return fmt.Errorf("the deployed spec in the state of %s/%s cannot be read: %w", st.Stack, st.Environment, err)
		}
		if raw, ok := spec["components"]; ok {
			if err := json.Unmarshal(raw, &comps); err != nil {
				return fmt.Errorf("the deployed spec in the state of %s/%s cannot be read: %w", st.Stack, st.Environment, err)
			}
		}
	}
	nameOf := func(c map[string]json.RawMessage) string {
		var n string
		_ = json.Unmarshal(c["name"], &n)
		return n
	}
	var have []string
	for _, c := range comps {
		have = append(have, nameOf(c))
	}
	for c := range st.Outputs {
		if !slices.Contains(have, c) {
			have = append(have, c)
		}
	}
	sort.Strings(have)
	for _, n := range names {
		if !slices.Contains(have, n) {
			list := strings.Join(have, ", ")
			if list == "" {
				list = "none"
			}
			return fmt.Errorf("the state of %s/%s has no component %q (components: %s%s); nothing was written", st.Stack, st.Environment, n, list, withSemi(didYouMean(n, have)))
		}
	}
	kept := comps[:0]
	for _, c := range comps {
		n := nameOf(c)
		if slices.Contains(names, n) {
			var kind string
			_ = json.Unmarshal(c["kind"], &kind)
			if st.Resources.ByKind[kind] > 0 {
				st.Resources.ByKind[kind]--
				if st.Resources.ByKind[kind] == 0 {
					delete(st.Resources.ByKind, kind)
				}
			}
			continue
		}
		if raw, ok := c["dependsOn"]; ok {
			var deps []string
			if json.Unmarshal(raw, &deps) == nil {
				deps = slices.DeleteFunc(deps, func(d string) bool { return slices.Contains(names, d) })
				if len(deps) == 0 {
					delete(c, "dependsOn")
				} else {
					c["dependsOn"], _ = json.Marshal(deps)
				}
			}
		}
		kept = append(kept, c)
	}
	if spec != nil {
		raw, err := json.Marshal(kept)
		if err != nil {
			return err
		}
		spec["components"] = raw
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(spec); err != nil {
			return err
		}
		st.Spec = json.RawMessage(bytes.TrimSpace(b.Bytes()))
		st.Resources.Components = len(kept)
	}
	for _, n := range names {
		delete(st.Outputs, n)
	}
	return nil
}

// stateElsewhere says, for key with nothing recorded in cfg's backend (a
// first deployment there), where else a deployment of the stack is
// recorded and still deployed: in the repository-wide backend when the
// stack has its own spec.backend now, where an earlier spec.backend of the
// stack put it, or under the name an earlier metadata.name gave it (its
// stack.yaml as HEAD's first parents had it, at most
// maxRemovedStackCommits back). "" when nowhere. Adding or changing a
// deployed stack's spec.backend.prefix, or renaming it, made its next
// apply create everything again in a new, empty deployment, with no word
// about the deployment left behind (still running, in a state status no
// longer read). Without walk the history of panka.yaml is not looked at,
// and the stack's own only when the run's one walk back (stackHistory)
// found that its stack.yaml moved it: plan --all-changed, which may plan
// thousands of new environments, does not resolve each earlier panka.yaml
// for each of them. what names
// the run that would create everything again: "this plan", "this apply",
// "the next apply" (status, changed).
func (f *Factory) stateElsewhere(ctx context.Context, open storeOpener, cfg *config.Resolved, key statestore.Key, what string, walk bool) string {
	here := f.describeBackend(cfg)
	seen := map[string]bool{here + " " + key.Stack: true}
	check := func(c *config.Resolved, name, file string, at gitops.Hash) string {
		where := f.describeBackend(c)
		if seen[where+" "+name] {
			return ""
		}
		seen[where+" "+name] = true
		if name != key.Stack && slices.Contains(f.workTreeStacks(), name) {
			// Not a rename: a stack still has that name (this folder
			// was a copy of it), and the deployment is that stack's.
			return ""
		}
		s, err := open(ctx, c)
		if err != nil {
			return ""
		}
		old := statestore.Key{Stack: name, Environment: key.Environment}
		st, _, err := s.Get(ctx, old)
		if err != nil || st == nil || st.Status == statestore.StatusDestroyed {
			return ""
		}
		rec := ""
		if d := deployedRecord(st); d != nil && d.Commit != "" {
			rec = ", commit " + shortSHA(d.Commit)
		}
		if name != key.Stack {
			// The zero commit: the work tree's stack.yaml renamed it, not
			// committed yet.
			before := "before commit " + commit7(at.String())
			if at.IsZero() {
				before = "at HEAD (renamed in the work tree, not committed yet)"
			}
			return fmt.Sprintf("nothing is recorded for %s, but the stack of %s was named %q %s, and %s is deployed (state serial %d, %s%s, in %s): "+
				"a stack is identified by its metadata.name, so %s creates everything again as a new stack while %s stays deployed. "+
				"Keep the name %q in %s, or remove the old deployment once this one runs: panka destroy --stack %s --environment %s",
				key, file, name, before, old, st.Serial, st.Status, rec, where, what, old, name, file, name, key.Environment)
		}
		settings := "the spec.backend settings of " + file
		if file == repoConfigFile {
			settings = "the backend settings of " + file
			if !at.IsZero() {
				settings += " (commit " + commit7(at.String()) + ")"
			}
		}
		return fmt.Sprintf("nothing is recorded for %s in %s, but %s holds a deployment of it (state serial %d, %s%s): %s changed since, "+
			"and %s creates everything again in a new, empty deployment while that one stays deployed. "+
			"Move the state first: copy the whole stacks/%s/%s/ folder (state.json, history/ and pulumi/) from %s to %s (docs/state.md, \"Switching backends\"); "+
			"or destroy it there with the settings it was deployed with",
			key, here, where, st.Serial, st.Status, rec, settings, what, key.Stack, key.Environment, where, here)
	}
	h, err := f.findHeaderQuiet(key.Stack)
	if err != nil || h == nil {
		return ""
	}
	switch {
	case walk:
		if m := f.earlierStackState(ctx, h, check); m != "" {
			return m
		}
		if m := f.earlierRepoConfigState(ctx, h, check); m != "" {
			return m
		}
	case f.stackMoved(ctx, h):
		// The run's one walk back found that this stack's own
		// stack.yaml moved it: a check of its earlier settings only.
		if m := f.earlierStackState(ctx, h, check); m != "" {
			return m
		}
	}
	if len(h.Backend) > 0 {
		if def, err := f.Config(); err == nil {
			if m := check(def, key.Stack, path.Join(h.Path, stacks.StackFile), gitops.ZeroHash); m != "" {
				return m
			}
		}
	}
	if m := f.overriddenBackendState(ctx, open, cfg, h, key, what, seen); m != "" {
		return m
	}
	return f.embeddedStateLeft(ctx, cfg, key, what, seen)
}

// overriddenBackendState is stateElsewhere for a backend that PANKA_BACKEND_*
// variables or flags (--backend-bucket) moved away from the one the
// configuration files (panka.yaml, the stack's spec.backend) name: a
// PANKA_BACKEND_TYPE=local left exported from an experiment, or a CI
// variable naming another bucket, made plan show "nothing deployed yet"
// and apply create everything again beside the team's deployment, with
// no word about it. It asks the configured backend, for at most
// elsewhereTimeout (it may not be reachable from here: then nothing is
// said).
func (f *Factory) overriddenBackendState(ctx context.Context, open storeOpener, cfg *config.Resolved, h *stacks.Header, key statestore.Key, what string, seen map[string]bool) string {
	shared, set := f.overriddenFrom(cfg, h)
	if shared == nil {
		return ""
	}
	where := f.describeBackend(shared)
	if seen[where+" "+key.Stack] {
		return ""
	}
	seen[where+" "+key.Stack] = true
	var st *statestore.State
	if shared.Backend.Type == "s3" {
		if _, down := f.unanswered.Load(where); down {
			return ""
		}
		ctx, cancel := context.WithTimeout(ctx, elsewhereTimeout)
		defer cancel()
		s, err := open(ctx, shared)
		if err == nil {
			st, _, err = s.Get(ctx, key)
		}
		if err != nil && !errors.Is(err, statestore.ErrNotFound) {
			f.unanswered.Store(where, true)
		}
		if err != nil || st == nil || st.Status == statestore.StatusDestroyed {
			return ""
		}
	} else if st = f.localDeployment(ctx, shared, key); st == nil {
		return ""
	}
	rec := recordedCommit(st)
	return fmt.Sprintf("nothing is recorded for %s in %s, but %s, the backend the configuration files name, holds a deployment of it (state serial %d, %s%s): "+
		"%s moved this run away from it, and %s creates everything again in a new, empty deployment while that one stays deployed. "+
		"Unset the override to work on that deployment; to move it instead, copy the whole stacks/%s/%s/ folder (state.json, history/ and pulumi/) from %s to %s first (docs/state.md, \"Switching backends\")",
		key, f.describeBackend(cfg), where, st.Serial, st.Status, rec, strings.Join(set, ", "), what, key.Stack, key.Environment, where, f.describeBackend(cfg))
}

// overriddenFrom returns, when PANKA_BACKEND_* variables or flags set
// cfg's backend, the configuration the configuration files (panka.yaml,
// the spec.backend of h) name, and the settings that moved the run away
// from it; nil when nothing did, or when the files name the embedded
// default (embeddedStateLeft says it).
func (f *Factory) overriddenFrom(cfg *config.Resolved, h *stacks.Header) (*config.Resolved, []string) {
	var set []string
	for _, k := range []string{"backend.type", "backend.bucket", "backend.prefix", "backend.directory", "backend.endpoint", "backend.region"} {
		if src := cfg.Sources[k]; src.Layer == "env" || src.Layer == "flag" {
			set = append(set, fmt.Sprintf("%s by %s", k, src))
		}
	}
	if len(set) == 0 {
		return nil, nil
	}
	shared, err := f.configForStackLines(h.Backend, h.BackendLines, path.Join(h.Path, stacks.StackFile), true, false)
	if err != nil || f.describeBackend(shared) == f.describeBackend(embeddedDefault(cfg)) {
		return nil, nil
	}
	return shared, set
}

// embeddedDefault is cfg with the embedded default backend (local, in the
// repository's .panka/).
func embeddedDefault(cfg *config.Resolved) *config.Resolved {
	def := &config.Resolved{Config: cfg.Config, Sources: cfg.Sources}
	def.Backend = config.Backend{Type: "local"}
	return def
}

// elsewhereTimeout bounds overriddenBackendState's look at a backend the
// run does not use, which may not be reachable from here.
const elsewhereTimeout = 10 * time.Second

// embeddedStateLeft is stateElsewhere for the embedded default: a team
// that tried panka on its own (state in <repo>/.panka/state) and then
// configured a bucket (panka.yaml, PANKA_BACKEND_*) got, on the next
// plan and apply, a first deployment that creates everything again, with
// no word about the one left in .panka/. Only a state.json on disk is
// read (nothing is created, and CI's local-backend warning is not given),
// so a fresh CI checkout pays one stat.
func (f *Factory) embeddedStateLeft(ctx context.Context, cfg *config.Resolved, key statestore.Key, what string, seen map[string]bool) string {
	if key.Validate() != nil {
		return ""
	}
	def := embeddedDefault(cfg)
	where := f.describeBackend(def)
	if seen[where+" "+key.Stack] {
		return ""
	}
	st := f.localDeployment(ctx, def, key)
	if st == nil {
		return ""
	}
	rec := recordedCommit(st)
	why := "the backend settings changed since"
	for _, k := range []string{"backend.type", "backend.bucket", "backend.directory", "backend.prefix"} {
		if src, ok := cfg.Sources[k]; ok && src.Layer != "default" {
			why = fmt.Sprintf("%s is set now (from %s)", k, src)
			break
		}
	}
	here := f.describeBackend(cfg)
	return fmt.Sprintf("nothing is recorded for %s in %s, but the embedded default backend %s holds a deployment of it (state serial %d, %s%s): %s, "+
		"and %s creates everything again in a new, empty deployment while that one stays deployed. "+
		"Move the state first: copy the whole stacks/%s/%s/ folder (state.json, history/ and pulumi/) from %s to %s (docs/state.md, \"Switching backends\"); "+
		"or destroy it there with the settings it was deployed with (PANKA_BACKEND_TYPE=local PANKA_LOCKS_TYPE=local panka destroy --stack %s --environment %s)",
		key, here, where, st.Serial, st.Status, rec, why, what, key.Stack, key.Environment, where, here, key.Stack, key.Environment)
}

// noState is the error of a state command (show, pull, rm) for key, which
// has no state.json in s: a name that is not the repository's, a state
// that was deleted or lost while its history was kept (status calls it
// "state missing"; "never deployed ... see panka state list", which does
// not list it, sent the user the wrong way), or none at all.
func (f *Factory) noState(ctx context.Context, s statestore.Store, cfg *config.Resolved, key statestore.Key) error {
	where := f.describeBackend(cfg)
	if nerr := f.unknownName(key, where); nerr != nil {
		return nerr
	}
	h, bad, err := newestRecord(ctx, s, key)
	if err == nil && h != nil && deploy.RecordsDeployed(h) {
		return fmt.Errorf("%s has no state in %s, but its history records deployments up to serial %d (%s of commit %s by %s, %s): its state.json was deleted or lost. "+
			"Restore it ("+statestore.RestoreHint+")",
			key, where, h.Serial, h.Operation, shortSHA(h.Commit), h.User, h.Result)
	}
	if err == nil && bad != nil {
		return fmt.Errorf("%s has no state in %s: %s", key, where, deploy.LostStateUnreadable(key, bad))
	}
	return fmt.Errorf("%s has no state in %s (never deployed, or a different backend/prefix); see `panka state list`", key, where)
}

// localDeployment reads key's state in cfg's local backend when it holds
// a deployment (not destroyed), else nil. Only a state.json on disk is
// read: nothing is created (no .panka/.gitignore), and CI's
// local-backend warning is not given.
func (f *Factory) localDeployment(ctx context.Context, cfg *config.Resolved, key statestore.Key) *statestore.State {
	dir, err := f.localDir(cfg)
	if err != nil {
		return nil
	}
	p, _ := statestore.NormalizePrefix(cfg.Backend.Prefix)
	if _, err := os.Stat(filepath.Join(dir, "state", filepath.FromSlash(statestore.StatePath(p, key)))); err != nil {
		return nil
	}
	s, err := local.New(local.Options{Dir: dir, Prefix: p})
	if err != nil {
		return nil
	}
	st, _, err := s.Get(ctx, key)
	if err != nil || st == nil || st.Status == statestore.StatusDestroyed {
		return nil
	}
	return st
}

// recordedCommit is ", commit <short SHA>" of st's deployment, for
// messages, or "".
func recordedCommit(st *statestore.State) string {
	if d := deployedRecord(st); d != nil && d.Commit != "" {
		return ", commit " + shortSHA(d.Commit)
	}
	return ""
}

// earlierRepoConfigState is earlierStackState for the repository's
// panka.yaml: a backend.prefix (or bucket) changed there, on a branch or
// in the work tree, made plan say "nothing deployed yet" and apply create
// everything again beside the deployment the earlier panka.yaml's backend
// holds, with no word about it (a change of the stack's own spec.backend
// was warned about). Each earlier panka.yaml of HEAD's first parents (at
// most maxRemovedStackCommits back: stackHistory), and HEAD's under an
// uncommitted edit, is resolved with this run's other settings, and its
// backend is checked.
func (f *Factory) earlierRepoConfigState(ctx context.Context, h *stacks.Header, check func(c *config.Resolved, name, file string, at gitops.Hash) string) string {
	hist := f.stackHistory(ctx)
	if hist == nil {
		return ""
	}
	repo, cs := hist.repo, hist.cs
	stackFile := path.Join(h.Path, stacks.StackFile)
	checkAt := func(c gitops.Hash, changed gitops.Hash) string {
		data, err := repoConfigAt(f, repo, c.String())
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				return ""
			}
			data = []byte{} // no panka.yaml then: the other layers alone
		}
		oc, err := f.configWithRepoData(h.Backend, h.BackendLines, stackFile, false, false, data, repoConfigFile+" at "+commit7(c.String()))
		if err != nil {
			return ""
		}
		if f.describeBackend(oc) == f.describeBackend(embeddedDefault(oc)) {
			return "" // the embedded default: embeddedStateLeft says it, with the destroy to run there
		}
		return check(oc, h.Name, repoConfigFile, changed)
	}
	if len(cs) > 0 {
		if now, err := repoConfigAt(f, repo, ""); err == nil || errors.Is(err, fs.ErrNotExist) {
			if then, err2 := repoConfigAt(f, repo, cs[0].String()); (err2 == nil || errors.Is(err2, fs.ErrNotExist)) && !bytes.Equal(now, then) {
				if m := checkAt(cs[0], gitops.ZeroHash); m != "" {
					return m
				}
			}
		}
	}
	for _, i := range hist.repoConfig {
		if m := checkAt(cs[i+1], cs[i]); m != "" {
			return m
		}
	}
	return ""
}

// earlierStackState is stateElsewhere's walk back through the stack's
// stack.yaml: the newest earlier spec.backend or metadata.name under
// which check finds a deployment. Only the commits that stackHistory found
// may have changed them are read.
func (f *Factory) earlierStackState(ctx context.Context, h *stacks.Header, check func(c *config.Resolved, name, file string, at gitops.Hash) string) string {
	file := path.Join(h.Path, stacks.StackFile)
	hist := f.stackHistory(ctx)
	if hist == nil {
		return ""
	}
	repo, cs, trees := hist.repo, hist.cs, hist.trees
	blob := func(t gitops.Hash) gitops.Hash {
		e, err := repo.PathEntry(t, file)
		if err != nil {
			return gitops.ZeroHash
		}
		return e.Hash
	}
	// The work tree's stack.yaml (h) edited and not committed yet: what
	// HEAD has is the earlier setting, under which the stack is deployed
	// (a rename or a new prefix is planned and applied before it is
	// committed as often as after).
	if len(cs) > 0 && !blob(trees[0]).IsZero() {
		if fsys, err := repo.TreeFS(cs[0]); err == nil {
			if old, err := stacks.ReadHeader(fsys, h.Path); err == nil && (old.Name != h.Name || !maps.Equal(old.Backend, h.Backend)) {
				if oc, err := f.ConfigForStack(old.Backend, file+" at "+commit7(cs[0].String())); err == nil {
					if m := check(oc, old.Name, file, gitops.ZeroHash); m != "" {
						return m
					}
				}
			}
		}
	}
	for _, i := range hist.moved[file] {
		p := cs[i+1]
		fsys, err := repo.TreeFS(p)
		if err != nil {
			return ""
		}
		old, err := stacks.ReadHeader(fsys, h.Path)
		if err != nil || old.Name == h.Name && maps.Equal(old.Backend, h.Backend) {
			continue
		}
		oc, err := f.ConfigForStack(old.Backend, file+" at "+commit7(p.String()))
		if err != nil {
			continue
		}
		// The commit that changed it: the stack had the old settings until then.
		if m := check(oc, old.Name, file, cs[i]); m != "" {
			return m
		}
	}
	return ""
}
