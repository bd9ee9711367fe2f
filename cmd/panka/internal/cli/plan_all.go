package cli

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/deploy"
	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

// planAllChanged plans every stack/environment that change detection
// reports between --base and --head (the desired YAML read from --head's
// tree), and prints them under one summary. An environment or stack that
// was removed plans as a destroy. A stack that fails to plan is reported
// and the others are still planned; the command then fails.
func planAllChanged(ctx context.Context, opts *PlanOptions, vars stacks.VarValues) error {
	f := opts.F
	root, err := f.RepoRoot()
	if err != nil {
		return err
	}
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	repo, err := gitops.Open(root, f.GitOptions())
	if err != nil {
		return fmt.Errorf("--all-changed needs a git repository: %w", err)
	}
	defer repo.Close()
	// As panka changed does: a branch named like a short commit id
	// resolved to the branch without a word.
	warnAmbiguousRef(f, repo, "--base", opts.Base)
	warnAmbiguousRef(f, repo, "--head", opts.Head)
	key := f.planSecretKey()
	// Head and base are each read under the stacks.root of their own
	// panka.yaml, as panka changed lists them (ownStacksRoots): a --head
	// whose stacks folder moved is not read under the work tree's root,
	// where it has no stack and every deployed one would plan a destroy.
	copts := changes.Options{Base: opts.Base, Head: opts.Head, StacksRoot: cfg.Stacks.Root,
		Resolve: stacks.ResolveOptions{Vars: vars, SecretKey: key}, BackendFixed: backendFixed(cfg), BackendWhere: f.backendWhere}
	ownStacksRoots(f, repo, cfg, opts.Head, &copts)
	res, err := changes.Detect(ctx, repo, copts)
	if err != nil {
		return withCIBaseHint(f, err)
	}
	if opts.Base == "" {
		warnCITarget(f, repo)
		warnStaleRemoteHEAD(ctx, f, repo, res)
	}
	warnBaseDescends(f, repo, opts.Base, res)
	warnMergeResultBase(ctx, f, repo, opts.Base, res)
	for _, p := range res.Problems {
		f.Warnf("%s", p)
	}
	for _, s := range res.Stacks {
		for _, r := range s.Reasons {
			// Its plans read the new location: "nothing deployed yet",
			// every component a create, unless the state was copied.
			if i := strings.Index(r.Detail, changes.BackendChanged); i >= 0 {
				f.Warnf("stack %s: %s: %s", s.Stack, r.File, r.Detail[i:])
			}
		}
	}
	head, base := plumbing.NewHash(res.Head), plumbing.NewHash(res.Base)
	headFS, err := repo.TreeFS(head)
	if err != nil {
		return err
	}
	headRef := opts.Head
	if headRef == "" {
		headRef = "HEAD"
	}
	// repo: each plan compares what head's stacks watch (spec.watch) with
	// their deployed commits, as plan --stack does.
	src := &planSourceFS{fsys: headFS, repo: repo, commit: res.Head, ref: headRef, root: copts.StacksRoot}
	f.Log.Debug().Str("base", res.Base).Str("head", res.Head).Int("stacks", len(res.Stacks)).Msg("planning changed stacks")

	// Each plan reads one state: planned storeReads at a time, each backend
	// opened once (one client, its connections reused), printed in order.
	o := *opts
	o.OpenStore = cachedStores(opts.OpenStore)
	type job struct {
		s   *changes.Stack
		env string
	}
	var jobs []job
	for _, s := range res.Stacks {
		for _, env := range s.Environments {
			jobs = append(jobs, job{s, env})
		}
	}
	results := make([]*planResult, len(jobs))
	errs := make([]error, len(jobs))
	_ = forEach(ctx, storeReads, len(jobs), func(ctx context.Context, i int) error {
		s, env := jobs[i].s, jobs[i].env
		if s.Change == changes.Removed || s.EnvironmentChanges[env] == changes.Removed {
			results[i], errs[i] = planDestroy(ctx, &o, repo, base, s, env)
		} else {
			results[i], errs[i] = planOne(ctx, &o, src, s.Stack, env, vars)
		}
		return nil // one failure does not stop the others
	})
	if err := ctx.Err(); err != nil {
		return err // interrupted: some were never planned
	}
	var plans []*planner.Result
	var failed []string
	var declared [][]stacks.ResolvedVar
	var notDeployed []string
	for i, j := range jobs {
		if errs[i] != nil {
			f.Errorf("plan %s/%s: %s", j.s.Stack, j.env, errs[i])
			failed = append(failed, j.s.Stack+"/"+j.env)
			continue
		}
		if results[i].nothingDeployed {
			// Removed at head, but nothing of it is deployed: no destroy
			// plan ("nothing deployed yet", "No changes") to list, as
			// panka destroy of it finds nothing to destroy.
			notDeployed = append(notDeployed, j.s.Stack+"/"+j.env)
			continue
		}
		plans = append(plans, results[i].plan)
		if d := results[i].desired; d != nil {
			declared = append(declared, d.Variables)
		}
	}
	if len(notDeployed) > 0 {
		fmt.Fprintf(f.Notices(), "Not planned: %s, removed at %.12s, %s not deployed (never, or destroyed already): nothing to destroy.\n",
			strings.Join(notDeployed, ", "), res.Head, isAre(len(notDeployed)))
	}
	if len(failed) == 0 && len(declared) > 0 {
		warnUndeclared(f, vars, declared)
	}
	switch {
	case f.JSON():
		err = planner.WriteJSONAll(f.IO.Out, plans)
	case len(plans) == 0 && len(failed) > 0:
		// Every changed stack environment failed: the errors above say why,
		// and "No changed stacks to plan." would say nothing changed.
	default:
		err = planner.WriteTextAll(f.IO.Out, plans, planner.TextOptions{Color: f.IO.ColorOut()})
	}
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d changed stack environments could not be planned: %v", len(failed), len(failed)+len(plans), failed)
	}
	if opts.DetailedExitCode && slices.ContainsFunc(plans, (*planner.Result).Applies) {
		return &ExitCodeError{Code: ExitChanges}
	}
	return nil
}

// cachedStores wraps open so that it opens each backend once: the
// configurations of stacks that resolve alike share one store.
func cachedStores(open func(context.Context, *config.Resolved) (statestore.Store, error)) func(context.Context, *config.Resolved) (statestore.Store, error) {
	var mu sync.Mutex
	stores := map[string]statestore.Store{}
	return func(ctx context.Context, cfg *config.Resolved) (statestore.Store, error) {
		// The whole configuration (no maps or pointers in it) and the
		// one source the clients look at.
		key := fmt.Sprintf("%+v|%s", cfg.Config, cfg.Sources["backend.usePathStyle"].Layer)
		mu.Lock()
		defer mu.Unlock()
		if st, ok := stores[key]; ok {
			return st, nil
		}
		st, err := open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		stores[key] = st
		return st, nil
	}
}

// planDestroy plans the removal of a stack/environment that no longer
// exists at head: everything in its state is deleted. The stack's backend
// settings come from its stack.yaml at base.
func planDestroy(ctx context.Context, opts *PlanOptions, repo *gitops.Repo, base gitops.Hash, s *changes.Stack, env string) (*planResult, error) {
	f := opts.F
	dir := s.Path
	if s.OldPath != "" {
		dir = s.OldPath
	}
	var backend map[string]string
	if fsys, err := repo.TreeFS(base); err == nil {
		if h, err := stacks.ReadHeader(fsys, dir); err == nil {
			backend = h.Backend
		}
	}
	cfg, err := f.ConfigForStack(backend, path.Join(dir, "stack.yaml"))
	if err != nil {
		return nil, err
	}
	store, err := opts.OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return planDestroyIn(ctx, f, cfg, store, statestore.Key{Stack: s.Stack, Environment: env})
}

// planDestroyIn plans the destroy of skey, whose state is in store (of
// cfg): what panka destroy deletes. When nothing is deployed there (no
// state and no history of a deployment, or a destroyed state) it returns
// no plan but nothingDeployed.
func planDestroyIn(ctx context.Context, f *Factory, cfg *config.Resolved, store statestore.Store, skey statestore.Key) (*planResult, error) {
	noteLeaseHeld(ctx, f, cfg, skey)
	state, _, err := store.Get(ctx, skey)
	header := planner.Header{Stack: skey.Stack, Environment: skey.Environment}
	var deployed *stacks.Resolved
	switch {
	case errors.Is(err, statestore.ErrNotFound):
		// No state.json: never deployed, unless its history says what it
		// deployed is still there (state.json deleted or lost), which
		// destroy refuses until it is restored.
		h, bad, herr := newestRecord(ctx, store, skey)
		switch {
		case herr != nil:
			return nil, fmt.Errorf("read the history of %s: %w", skey, herr)
		case bad != nil:
			f.Warnf("%s; this destroy plan plans as if nothing were deployed, and panka destroy refuses until it is restored", deploy.LostStateUnreadable(skey, bad))
		case h != nil && deploy.RecordsDeployed(h):
			f.Warnf("%s: what it deployed may still run. Restore state.json ("+statestore.RestoreHint+") before panka destroy, which refuses until then",
				deploy.LostStateWarning(skey, h, "this destroy plan"))
		default:
			return &planResult{nothingDeployed: true}, nil
		}
	case err != nil:
		return nil, fmt.Errorf("read state of %s: %w", skey, err)
	case state.Status == statestore.StatusDestroyed:
		return &planResult{nothingDeployed: true}, nil
	default:
		header.Deployed = deploy.DeployedHeader(state)
		if len(state.Spec) > 0 && string(state.Spec) != "null" {
			if deployed, err = planner.DecodeModel(state.Spec); err != nil {
				return nil, fmt.Errorf("read the deployed spec in the state of %s: %w%s", skey, err, badSpecHint)
			}
		}
	}
	planned := deployed
	if state != nil {
		// As destroy plans it: Pulumi's checkpoint tells which of the
		// components failed runs tried were never created (not deleted).
		var left []stacks.Component
		var tried []string
		if planned, left, tried, err = deploy.Planned(ctx, store, skey, state, deployed, nil, f.engineCheckpointFunc(cfg, skey)); err != nil {
			return nil, err
		}
		if len(left) > 0 {
			f.Warnf("%s", deploy.LeftWarning(skey, left, "destroy"))
		}
		if len(tried) > 0 {
			f.Warnf("%s", deploy.TriedWarning(skey, tried, "destroy"))
		}
	}
	p := planner.Plan(nil, planned, planner.Options{Header: header})
	// As destroy refuses it, before deleting anything.
	if w := deploy.DeletionProtectionWarning(p, planned, skey, "destroy"); w != "" {
		f.Warnf("%s", w)
	}
	return &planResult{plan: p}, nil
}
