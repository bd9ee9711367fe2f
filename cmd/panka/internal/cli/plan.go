package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/deploy"
	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/locker"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

func init() { register(newCmdPlan) }

// storeOpener builds the state store of a configuration: Factory.Store,
// or the one a run keeps per backend (plan --all-changed: building one
// loads the AWS configuration and a new S3 client).
type storeOpener = func(ctx context.Context, cfg *config.Resolved) (statestore.Store, error)

// PlanOptions are the inputs of plan.
type PlanOptions struct {
	F *Factory
	// OpenStore builds the state store of a configuration (Factory.Store
	// in production).
	OpenStore storeOpener

	Stack            string
	Environment      string
	Ref              string
	Vars             varFlags
	Out              string
	DetailedExitCode bool
	AllChanged       bool
	Base, Head       string
	// TargetComponents plans only these components, as apply
	// --target-component deploys them: the others keep their deployed
	// spec.
	TargetComponents []string
}

func newCmdPlan(f *Factory) *cobra.Command {
	opts := &PlanOptions{F: f, OpenStore: f.Store}
	cmd := &cobra.Command{
		Use:        "plan --stack STACK --environment ENV",
		SuggestFor: []string{"diff", "preview"},
		Short:      "Show what apply would change: the desired YAML against the deployed state",
		Long: `Plan resolves a stack for one environment (from the work tree, or from any
commit with --ref, without a checkout) and compares it with the spec recorded
in the state of the last deployment. Each component is listed as create (+),
update (~), replace (-/+) or delete (-) with its changed fields; data-holding
components that would be deleted or replaced are flagged DATA LOSS. Secret
values always show as (sensitive).

Variables come from --var, --var-file (- for stdin) and PANKA_VAR_<NAME>.
--out saves the plan for "panka apply FILE", which refuses it once state or
the desired model has changed. --detailed-exitcode exits 2 when apply would
change resources (changes in the plan, or none but components drift detect
found changed outside panka, or a last run that did not finish) or would
record, without changing any, what changed --since-deployed lists it for
until then (labels, service, dependsOn, or variables no component changes
with; files the stack watches, spec.watch, changed since the deployed
commit; a deployment made from uncommitted changes; an environment of a
stack with no components yet, of which nothing is deployed), 0 when it
would not, 1 on error.`,
		Example: `  panka plan --stack orders --environment dev
  panka plan --stack orders --environment production --ref v1.4.0 -o json
  panka plan --stack orders --environment dev --var IMAGE_TAG=1.5.0 --out orders-dev.plan
  panka plan --all-changed --base origin/main`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := emptyRef(cmd, "plan"); err != nil {
				return err
			}
			if cmd.Flags().Changed("target-component") && len(opts.TargetComponents) == 0 {
				// As apply: --target-component "$COMPONENT" with the
				// variable unset planned every component.
				return Usagef("--target-component is empty (an unset or empty CI variable?): name the components to plan, or omit --target-component to plan every component")
			}
			if len(opts.TargetComponents) > 0 {
				if opts.AllChanged {
					return Usagef("--target-component plans some components of one stack/environment; it cannot be combined with --all-changed")
				}
			}
			if opts.AllChanged {
				if opts.Stack != "" || opts.Environment != "" {
					return Usagef("--all-changed plans every changed stack/environment; do not combine it with --stack/--environment")
				}
				if opts.Out != "" {
					return Usagef("--out saves one plan; it cannot be combined with --all-changed")
				}
				if opts.Ref != "" {
					return Usagef("--all-changed plans --head (default HEAD); use --head instead of --ref")
				}
				if cmd.Flags().Changed("base") && strings.TrimSpace(opts.Base) == "" {
					// As panka changed: --base "$BEFORE" with the
					// variable unset would plan far less than meant.
					opts.Base = ""
					opts.F.Warnf("--base is empty (an unset or empty CI variable?): comparing from the default base instead; omit --base to mean that, or pass a ref")
				}
				emptyHead(cmd, &opts.Head, opts.F)
			} else {
				if err := needStackEnv(opts.F, opts.Stack, opts.Environment, " (or --all-changed)"); err != nil {
					return err
				}
				if opts.Base != "" || opts.Head != "" {
					return Usagef("--base/--head only go with --all-changed")
				}
			}
			if cmd.Flags().Changed("out") && strings.TrimSpace(opts.Out) == "" {
				// --out "$PLANFILE" with the variable unset saved no
				// plan, without a word, for the apply "$PLANFILE" after.
				return Usagef("--out is empty (an unset or empty CI variable?): name the file to save the plan in, or leave --out out")
			}
			if opts.Out == "-" {
				// Not stdout (which has the plan already): it wrote a
				// file named "-".
				return Usagef("--out -: the saved plan is a file for panka apply FILE; give a file name (the plan is printed on stdout anyway, -o json for JSON)")
			}
			return planRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	stackEnvFlags(fl, &opts.Stack, &opts.Environment)
	markRequired(cmd, "unless --all-changed is given", "stack", "environment")
	fl.StringVar(&opts.Ref, "ref", "", "plan the YAML of this git ref or commit instead of the work tree")
	opts.Vars.register(cmd)
	fl.StringVar(&opts.Out, "out", "", "save the plan to FILE for panka apply FILE")
	fl.BoolVar(&opts.DetailedExitCode, "detailed-exitcode", false, "exit 2 when apply would change resources (plan changes, drift, an unfinished run) or record what deploys nothing (labels, watched files, a dirty deployment, a stack with no components not deployed yet), 0 when not")
	fl.StringSliceVar(&opts.TargetComponents, "target-component", nil, "plan only these components, as apply --target-component deploys them (repeatable); the others keep their deployed spec. With --out, apply FILE deploys only them")
	fl.BoolVar(&opts.AllChanged, "all-changed", false, "plan every stack/environment that changed between --base and --head")
	fl.StringVar(&opts.Base, "base", "", "with --all-changed: base ref (default: merge-base with the default branch)")
	fl.StringVar(&opts.Head, "head", "", "with --all-changed: head ref (default HEAD)")
	return cmd
}

// planRun plans one stack/environment (or every changed one) and prints the
// result.
func planRun(ctx context.Context, opts *PlanOptions) error {
	f := opts.F
	vars, err := opts.Vars.values(ctx, f)
	if err != nil {
		return err
	}
	if opts.AllChanged {
		return planAllChanged(ctx, opts, vars)
	}
	src, err := planSource(ctx, f, opts.Ref)
	if err != nil {
		return zeroRef(err, opts.Ref)
	}
	src.shareDiscovery = true
	defer src.close()
	res, err := planOne(ctx, opts, src, opts.Stack, opts.Environment, vars)
	var gone *goneDeployedError
	if errors.As(err, &gone) && len(opts.TargetComponents) == 0 {
		// As plan --all-changed plans it (and terraform a removed
		// configuration): what destroy deletes, not an error.
		return planGone(ctx, opts, gone)
	}
	if err != nil {
		return err
	}
	warnUndeclared(f, vars, [][]stacks.ResolvedVar{res.desired.Variables})
	if opts.Out != "" {
		saved := planner.NewSaved(res.plan, res.desired, planner.RecordVars(res.desired, res.key), f.Now(), version)
		saved.StateBasis = res.basis
		if len(opts.TargetComponents) > 0 {
			// apply FILE deploys these only, as the plan planned them.
			saved.TargetComponents = slices.Compact(slices.Sorted(slices.Values(opts.TargetComponents)))
		}
		out, err := f.UserPath(opts.Out)
		if err != nil {
			return err
		}
		if err := saved.Write(out); err != nil {
			return err
		}
		f.Log.Info().Str("file", opts.Out).Msg("plan saved")
		only := ""
		if len(saved.TargetComponents) > 0 {
			only = " (it deploys only " + strings.Join(saved.TargetComponents, ", ") + ")"
		}
		fmt.Fprintf(f.Notices(), "Plan saved to %s; apply it with: panka apply %s%s\n", opts.Out, opts.Out, only)
	}
	return printPlan(f, opts, res.plan)
}

// printPlan prints p as -o asks, and returns the exit code
// --detailed-exitcode gives when it changes something.
func printPlan(f *Factory, opts *PlanOptions, p *planner.Result) error {
	var err error
	if f.JSON() {
		err = p.WriteJSON(f.IO.Out)
	} else {
		err = p.WriteText(f.IO.Out, planner.TextOptions{Color: f.IO.ColorOut()})
	}
	if err != nil {
		return err
	}
	if opts.DetailedExitCode && p.Applies() {
		return &ExitCodeError{Code: ExitChanges}
	}
	return nil
}

// planGone prints the destroy plan of a stack/environment the work tree
// no longer has while it is still deployed, as plan --all-changed does.
// apply refuses it (and a saved destroy plan): panka destroy, with its
// confirmation and --allow-destroy for protected data, deletes it.
func planGone(ctx context.Context, opts *PlanOptions, gone *goneDeployedError) error {
	f := opts.F
	if opts.Out != "" {
		return fmt.Errorf("%w; --out saves a plan for panka apply, which does not destroy: leave --out out to see the destroy plan", gone)
	}
	cfg, err := f.deployedStackConfig(ctx, gone.stack)
	if err != nil {
		return err
	}
	store, err := opts.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	res, err := planDestroyIn(ctx, f, cfg, store, statestore.Key{Stack: gone.stack, Environment: gone.env})
	if err != nil {
		return err
	}
	if res.nothingDeployed {
		// Destroyed (or its state removed) since it was found deployed.
		return fmt.Errorf("%s/%s is not deployed any more (destroyed meanwhile): nothing to plan or destroy", gone.stack, gone.env)
	}
	f.Warnf("%s; this plan is what that destroy deletes (panka apply refuses it)", gone)
	return printPlan(f, opts, res.plan)
}

// zeroRef rewords the error for --ref set to the all-zero id a CI system
// gives a new branch: gitops' advice is about --base, which plan and apply
// have not.
func zeroRef(err error, ref string) error {
	var re *gitops.RefError
	if errors.As(err, &re) && re.Zero {
		return fmt.Errorf("--ref %s is the all-zero commit id (a new branch or tag has no \"before\" commit), not a commit to deploy: pass the commit itself, e.g. --ref \"$GITHUB_SHA\" or --ref HEAD", ref)
	}
	return err
}

// planResult is one computed plan and what it was computed from.
type planResult struct {
	plan    *planner.Result
	desired *stacks.Resolved
	key     []byte
	// basis is the PlanBasis of the state planned against, for a saved
	// plan (Saved.StateBasis).
	basis string
	// nothingDeployed: a destroy plan of a stack/environment with
	// nothing deployed (planDestroyIn); plan is nil.
	nothingDeployed bool
}

// planSourceFS is where the desired YAML comes from: the work tree or a
// commit's tree.
type planSourceFS struct {
	fsys   fs.FS
	repo   *gitops.Repo // nil outside git
	commit string       // "" without commits
	ref    string       // --ref as given
	// legacy: the commit is not the one being edited (HEAD), or is one
	// panka deployed (a rollback or promotion source): its stack loads
	// as it was deployed, the layouts refused since then only warned
	// about (stacks.LoadLegacy).
	legacy bool
	// root is the stacks root a commit is read under, the stacks.root
	// of its own panka.yaml (ownStacksRoot), as changed lists it; "" for
	// the work tree, read under the configuration's.
	root string
	// ignores lists the gitignored files the work tree left out (nil for
	// a commit, or outside git).
	ignores *gitops.Ignores
	f       *Factory
	// unchecked is HEAD's commit when the work tree was never checked
	// out (see stackRepo.notCheckedOut).
	unchecked string

	// The stacks found under a root, kept for the command: plan
	// --all-changed plans many stacks of one tree, and finding them reads
	// every stack.yaml of the repository.
	discMu sync.Mutex
	discs  map[string]*discovered
	// shareDiscovery: the work tree's stacks under the stacks root are
	// those findHeader discovered (Factory.workTreeDiscovery), not
	// discovered again; shared are the ignores of that view, whose left
	// out files close names too.
	shareDiscovery bool
	shared         *gitops.Ignores

	// moreSecrets names variables another source of the same run holds
	// as secret (rollback: the work tree's stacks and the deployed
	// record; promote: the source's record), for secretVars.
	moreSecrets map[string]bool
}

// stacksRoot is the folder the stacks of s are found under: its own root
// when set, else the configuration's stacks.root.
func (s *planSourceFS) stacksRoot(cfg *config.Resolved) string {
	if s.root != "" {
		return s.root
	}
	return cfg.Stacks.Root
}

// secretVars names the variables given from outside the repository
// (vars) that must be treated as secret in every stack this run
// resolves: those any stack under root declares secret: true, and
// moreSecrets. A value given once for a whole run (CI passes the same
// --var to every stack) is masked in all of them, as CI masks a secret
// in every log line, not only in the stack that declares it secret.
func (s *planSourceFS) secretVars(root string, vars stacks.VarValues) map[string]bool {
	names := givenNames(vars)
	if len(names) == 0 {
		return nil
	}
	disc, _ := s.discover(root)
	out := disc.SecretVars(names)
	for _, n := range names {
		if s.moreSecrets[n] {
			if out == nil {
				out = map[string]bool{}
			}
			out[n] = true
		}
	}
	return out
}

// givenNames lists, sorted, the variables vars gives.
func givenNames(vars stacks.VarValues) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]string{vars.Flags, vars.File, vars.Env} {
		for n := range m {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

type discovered struct {
	disc *stacks.Discovery
	err  error
}

// discover returns the stacks under root (DiscoverStacks, once per root).
func (s *planSourceFS) discover(root string) (*stacks.Discovery, error) {
	s.discMu.Lock()
	defer s.discMu.Unlock()
	if d, ok := s.discs[root]; ok {
		return d.disc, d.err
	}
	if s.discs == nil {
		s.discs = map[string]*discovered{}
	}
	if d := s.sharedDiscovery(root); d != nil {
		s.discs[root] = d
		return d.disc, d.err
	}
	disc, err := stacks.DiscoverStacks(s.fsys, root)
	s.discs[root] = &discovered{disc, err}
	return disc, err
}

// quickStack finds the work tree's stack called name from the record of
// the names (see quickStack), once nothing discovered the stacks under
// root for this run; ok is false for a commit's tree, outside git, and
// whenever the record does not hold.
func (s *planSourceFS) quickStack(root, name string) (stacks.Ref, bool) {
	if s.ref != "" || s.repo == nil || s.ignores == nil || s.f == nil {
		return stacks.Ref{}, false
	}
	s.discMu.Lock()
	_, done := s.discs[root]
	s.discMu.Unlock()
	if done {
		return stacks.Ref{}, false
	}
	return quickStack(s.f, s.repo.Root(), s.repo.GitDir(), root, name)
}

// sharedDiscovery returns findHeader's discovery of the work tree when
// this source shares it (shareDiscovery) and it is of root; else nil.
// Both are the same view of the work tree (worktreeView): git's, without
// what it ignores, in the same repository (GIT_DIR and GIT_WORK_TREE,
// which only planSource's OpenRepo follows, unset).
func (s *planSourceFS) sharedDiscovery(root string) *discovered {
	if !s.shareDiscovery || s.ref != "" || s.ignores == nil || s.f.Getenv("GIT_DIR") != "" || s.f.Getenv("GIT_WORK_TREE") != "" {
		return nil
	}
	s.f.headersMu.Lock()
	defer s.f.headersMu.Unlock()
	repo, found := s.f.workTreeDiscovery()
	if repo == nil || repo.ignores == nil || repo.stacksRoot != path.Clean(root) {
		return nil
	}
	s.shared = repo.ignores
	return found
}

func (s *planSourceFS) close() {
	if s.ignores != nil || s.shared != nil {
		warnIgnored(s.f, s.ignores, s.shared)
		s.ignores, s.shared = nil, nil
	}
	if s.repo != nil {
		s.repo.Close()
	}
}

// planSource opens the desired tree: a commit's tree for ref, else the work
// tree (with HEAD and its uncommitted changes when in git).
func planSource(ctx context.Context, f *Factory, ref string) (*planSourceFS, error) {
	root, err := f.RepoRoot()
	if err != nil {
		return nil, err
	}
	src := &planSourceFS{ref: ref}
	repo, err := f.OpenRepo(root)
	if err != nil {
		if ref != "" {
			return nil, fmt.Errorf("--ref %s: %w", ref, err)
		}
		if !errors.Is(err, gitops.ErrNotRepository) {
			return nil, err
		}
		stacksRoot := "stacks"
		if cfg, cerr := f.Config(); cerr == nil && cfg.Stacks.Root != "" {
			stacksRoot = cfg.Stacks.Root
		}
		if berr := bareRepoError(root, stacksRoot); berr != nil {
			return nil, berr
		}
		f.Log.Debug().Str("dir", root).Msg("not a git repository: planning the directory as it is")
		src.fsys = stacks.DirFS(root)
		return src, nil
	}
	src.repo = repo
	if ref != "" {
		h, err := repo.ResolveRef(ref)
		if err != nil {
			repo.Close()
			return nil, fmt.Errorf("--ref: %w", err)
		}
		warnAmbiguousRef(f, repo, "", ref)
		if src.fsys, err = repo.TreeFS(h); err != nil {
			repo.Close()
			return nil, fmt.Errorf("--ref %s: %w", ref, err)
		}
		src.commit = h.String()
		if head, err := repo.Head(); err != nil || head != h {
			src.legacy = true
		}
		// The commit is read under the stacks.root of its own panka.yaml,
		// as changed reads it: a rollback or --ref to a commit from before
		// the stacks folder moved finds its stacks where they were.
		if cfg, err := f.Config(); err == nil {
			if own := ownStacksRoot(f, repo, cfg); own != nil {
				if root, ok := own(src.commit); ok {
					src.root = root
				}
			}
		}
		return src, nil
	}
	// The work tree as git sees it: files outside a sparse checkout's cone
	// read as staged, gitignored ones are left out (see worktreeView).
	src.ignores, src.f = repo.Ignores(), f
	src.fsys = stacks.DirFSHiding(root, src.ignores)
	if wt, err := repo.WorktreeFS(src.fsys); err == nil {
		src.fsys = wt
	} else {
		f.Log.Debug().Err(err).Msg("reading the staging index for skip-worktree files: planning the disk as it is")
	}
	if h, err := repo.Head(); err == nil {
		src.commit = h.String()
		if !repo.HasIndex() {
			src.unchecked = src.commit
		}
	} else {
		f.Log.Debug().Err(err).Msg("no HEAD commit: planning the work tree without a commit")
	}
	return src, nil
}

// isDirty reports whether uncommitted changes touch the stack folder (or,
// without a commit, whether there is anything at all). Only that folder's
// status is asked for: the whole work tree's costs seconds in a large
// repository.
func (s *planSourceFS) isDirty(ctx context.Context, stackDir string) (bool, error) {
	if s.ref != "" || s.repo == nil {
		return false, nil
	}
	if s.commit == "" {
		return true, nil
	}
	ch, err := s.repo.WorktreeChangesUnder(ctx, stackDir)
	if err != nil {
		return false, fmt.Errorf("check %s for uncommitted changes: %w", stackDir, err)
	}
	return len(ch) > 0, nil
}

// planOne plans one stack/environment from src.
func planOne(ctx context.Context, opts *PlanOptions, src *planSourceFS, stackName, env string, vars stacks.VarValues) (*planResult, error) {
	d, err := loadDesired(ctx, opts.F, opts.OpenStore, src, stackName, env, vars)
	if err != nil {
		return nil, olderCommitHint(src, stackName, env, err)
	}
	desired := d.model
	store, err := opts.OpenStore(ctx, d.cfg)
	if err != nil {
		return nil, err
	}
	skey := statestore.Key{Stack: desired.Stack, Environment: env}
	state, _, err := store.Get(ctx, skey)
	switch {
	case errors.Is(err, statestore.ErrNotFound):
		state = nil
	case err != nil:
		return nil, fmt.Errorf("read state of %s: %w", skey, err)
	}
	noteLeaseHeld(ctx, opts.F, d.cfg, skey)
	header := planner.Header{Stack: desired.Stack, Environment: env, Desired: d.header, Vars: planner.MaskVars(d.vars)}
	var deployed *stacks.Resolved
	if state != nil {
		header.Deployed = deploy.DeployedHeader(state)
		if len(state.Spec) > 0 && string(state.Spec) != "null" {
			if deployed, err = planner.DecodeModel(state.Spec); err != nil {
				return nil, fmt.Errorf("read the deployed spec in the state of %s: %w%s", skey, err, badSpecHint)
			}
		}
	}
	if len(opts.TargetComponents) > 0 {
		// As apply targets it, before planning.
		if desired, err = deploy.Targeted(desired, deployed, opts.TargetComponents); err != nil {
			return nil, err
		}
	}
	// As apply plans it: with what failed runs may have left behind.
	planned, left, tried, err := deploy.Planned(ctx, store, skey, state, deployed, desired, opts.F.engineCheckpointFunc(d.cfg, skey))
	if err != nil {
		return nil, err
	}
	if len(left) > 0 {
		opts.F.Warnf("%s", deploy.LeftWarning(skey, left, "apply"))
	}
	if len(tried) > 0 {
		opts.F.Warnf("%s", deploy.TriedWarning(skey, tried, "apply"))
	}
	if w := deploy.SecretKeyWarning(skey, deployed, desired); w != "" {
		opts.F.Warnf("%s", w)
	} else if deploy.HasKeyedSecrets(deployed) {
		// Under another passphrase every secret would plan as changed
		// (the hashes are keyed from it), and apply refuses it: said
		// here, instead of a plan of changes that are not there. Only
		// then: the check costs a key derivation.
		if err := opts.F.checkPassphrase(ctx, d.cfg, skey); err != nil {
			return nil, fmt.Errorf("cannot plan %s: %w", skey, err)
		}
	}
	repoID := ""
	if src.repo != nil {
		repoID = src.repo.RemoteID()
	}
	if w := deploy.OtherRepositoryWarning(skey, state, repoID, "plan"); w != "" {
		opts.F.Warnf("%s", w)
	}
	planner.KeepDeployedHashes(desired, planned)
	p := planner.Plan(desired, planned, planner.Options{Header: header, Outputs: deploy.KnownOutputs(state)})
	p.Watched = watchedSinceDeployed(ctx, opts.F, src.repo, skey, header.Deployed.Commit, src.commit, d.watch)
	p = deploy.PlanOverrides(ctx, p, desired, planned, planner.Options{Header: header, Outputs: deploy.KnownOutputs(state)}, func(ctx context.Context, deployed string) (bool, bool) {
		return repoChangedSinceDeployed(ctx, opts.F, src.repo, d.cfg, skey, deployed, src.commit)
	})
	skip := tried
	for _, c := range left {
		skip = append(skip, c.Name)
	}
	if done := deploy.DoneByFailedRuns(ctx, store, skey, state, p, skip, opts.F.engineCheckpointFunc(d.cfg, skey)); len(done) > 0 {
		opts.F.Warnf("%s", deploy.DoneWarning(skey, state, done, "apply"))
		p.DoneByFailedRuns = done
	}
	if gone := deploy.GoneByFailedRuns(ctx, store, skey, state, p, skip, opts.F.engineCheckpointFunc(d.cfg, skey)); len(gone) > 0 {
		opts.F.Warnf("%s", deploy.GoneWarning(skey, state, gone, "apply"))
	}
	// As apply refuses it, before changing anything.
	if w := deploy.DeletionProtectionWarning(p, planned, skey, "apply"); w != "" {
		opts.F.Warnf("%s", w)
	}
	if w := deploy.RefusedChangesWarning(p, desired, planned, skey, "apply"); w != "" {
		opts.F.Warnf("%s", w)
	}
	if p.HasChanges() && src.repo != nil && src.commit != "" {
		warnPlanBehindDeployed(ctx, opts.F, src.repo, skey, src.commit, opts.Ref, state)
	}
	for _, n := range p.VariableNotes {
		fmt.Fprintf(opts.F.Notices(), "Note: %s.\n", n)
	}
	if state != nil && state.LastDriftCheck != nil && len(state.LastDriftCheck.Drifted) > 0 {
		// The plan compares with the deployed spec, not the real resources.
		dc := state.LastDriftCheck
		them := "them"
		if len(dc.Drifted) == 1 {
			them = "it"
		}
		fmt.Fprintf(opts.F.Notices(), "Note: drift detect found %s of %s changed outside panka (%s); panka apply refreshes first and puts %s back.\n",
			strings.Join(dc.Drifted, ", "), skey, dc.At.UTC().Format(time.RFC3339), them)
	}
	if state != nil && state.EngineState != "" {
		// As apply checks it: a run that recorded nothing wrote the
		// engine's state since (a stopped run resumed after another took
		// its lease over, a killed one, pulumi by hand). The plan compares
		// with panka's record, which may no longer be what is deployed:
		// it said "No changes" while the resources held another spec.
		if es := opts.F.engineStateFunc(d.cfg, skey); es != nil {
			if cur, err := es(ctx, state.EngineState); err == nil && cur != "" && cur != state.EngineState && !leaseHeldNow(ctx, opts.F, d.cfg, skey) {
				now := recordedSince(ctx, store, skey, state)
				if now != nil {
					// Compared with the state written since, not the one read.
					cur, err = es(ctx, now.EngineState)
				}
				if now != nil && (err != nil || cur == "" || cur == now.EngineState) {
					// A run that held the lease while this plan read
					// the state wrote the engine's state and recorded
					// it, then released the lease: it recorded, and
					// this plan compares with the state before it.
					warnRecordedMeanwhile(opts.F, skey, state, now)
				} else {
					opts.F.Warnf("the engine's state of %s was written after its last recorded deployment (serial %d), by a run that recorded nothing "+
						"(killed, or stopped while it held the lease and resumed after another took it over; or pulumi run by hand): what is deployed may differ from the state this plan compares with. "+
						"panka drift detect --stack %s --environment %s shows what differs; panka apply refreshes from the real resources and runs the engine, whatever the plan says",
						skey, deploy.LastRecorded(state), skey.Stack, skey.Environment)
				}
			}
		}
	}
	// Nothing recorded here: one history read for both checks below.
	nothing := false
	if state == nil {
		h, bad, err := newestRecord(ctx, store, skey)
		nothing = err == nil && h == nil && bad == nil
		if h != nil && deploy.RecordsDeployed(h) {
			// As status and apply say it: the plan creates everything,
			// while what the history records may still run.
			opts.F.Warnf("%s: what it creates may still run. Restore state.json before deploying ("+statestore.RestoreHint+"); "+lostStateApply,
				deploy.LostStateWarning(skey, h, "this plan"))
		}
		if bad != nil {
			opts.F.Warnf("%s; this plan plans as if nothing were deployed; "+lostStateApply, deploy.LostStateUnreadable(skey, bad))
		}
	}
	if nothing {
		if m := opts.F.stateElsewhere(ctx, opts.OpenStore, d.cfg, skey, "this plan", !opts.AllChanged); m != "" {
			opts.F.Warnf("%s", m)
		}
	}
	if nothing && opts.F.engineRanUnrecorded(ctx, d.cfg, skey) && !leaseHeldNow(ctx, opts.F, d.cfg, skey) {
		if now := recordedSince(ctx, store, skey, nil); now != nil {
			// A first deployment ran and recorded while this plan
			// read: its lease, free now, was not yet taken or already
			// released when the state and history were read.
			warnRecordedMeanwhile(opts.F, skey, nil, now)
		} else {
			// Nothing recorded, so the plan creates everything; but a
			// first deployment whose record failed (or a killed one) may
			// have made them already.
			opts.F.Warnf("nothing is recorded for %s, but the engine's state holds a deployment that was not recorded (its record could not be written, or it was killed): "+
				"resources this plan creates may exist already; panka apply takes them over from the engine's state and records them", skey)
		}
	}
	return &planResult{plan: p, desired: desired, key: d.key, basis: state.PlanBasis()}, nil
}

// warnRecordedMeanwhile says that key's state changed from was (nil: none)
// to now while the plan ran, which compares with was.
func warnRecordedMeanwhile(f *Factory, key statestore.Key, was, now *statestore.State) {
	from := "no state"
	if was != nil {
		from = fmt.Sprintf("serial %d", was.Serial)
	}
	by := ""
	if r := now.LastDeployment; r != nil && r.Serial == now.Serial {
		by = fmt.Sprintf(", by the %s of commit %s by %s", r.Operation, shortSHA(r.Commit), dash(r.User))
	}
	f.Warnf("the state of %s changed while this plan ran (%s to serial %d%s): this plan compares with %s; run panka plan again",
		key, from, now.Serial, by, from)
}

// noHistory reports whether key's history is known to be empty.
func noHistory(ctx context.Context, store statestore.Store, key statestore.Key) bool {
	h, err := store.History(ctx, key, 0, 1)
	return err == nil && len(h) == 0
}

// warnPlanBehindDeployed warns, for a plan with changes, when the
// deployed commit has commits that the commit planned lacks (a branch that forked before main moved on and
// deployed, or HEAD behind the deployed commit): the plan then also takes
// out what those commits changed, which panka changed, comparing the
// branch with where it forked, does not list. status says it as "N behind
// the deployed commit", apply warns of an older commit. Nothing is said
// when a commit cannot be placed (a shallow clone). ref is the --ref
// planned ("" for the work tree).
func warnPlanBehindDeployed(ctx context.Context, f *Factory, repo *gitops.Repo, key statestore.Key, commit, ref string, st *statestore.State) {
	warnBehindDeployed(ctx, f, repo, key, commit, ref, st, "plan")
}

// warnBehindDeployed warns when the deployed commit has commits that
// commit (the one a plan or apply, named by verb, runs) lacks; see
// warnPlanBehindDeployed. Nothing is said when either commit cannot be
// placed. ref is the --ref that named commit ("" for the work tree's).
func warnBehindDeployed(ctx context.Context, f *Factory, repo *gitops.Repo, key statestore.Key, commit, ref string, st *statestore.State, verb string) {
	d, n := deployedAhead(ctx, repo, commit, st)
	if n == 0 {
		return
	}
	what := "the commit planned"
	if verb == "apply" {
		what = "the commit this apply deploys"
	}
	if isAncestor(ctx, repo, commit, d.Commit) {
		// HEAD behind the deployed commit (a checkout not pulled since,
		// an older tag): there are no changes of its own to merge or
		// rebase, the plan simply goes back, as a rollback does.
		update := fmt.Sprintf("Update the checkout (git pull, or check out %s or a later commit)", shortSHA(d.Commit))
		if ref != "" {
			// The commit was named: there is no checkout to update.
			what = "--ref " + ref
			update = fmt.Sprintf("Give --ref %s or a later commit", shortSHA(d.Commit))
		}
		f.Warnf("%s runs commit %s (deployment %d), which has %s that %s (%s) does not: %s is one of its ancestors, so this %s goes back to older YAML, as a rollback does. "+
			"%s to %s from what runs; to go back on purpose, panka rollback --stack %s --environment %s --to-commit %s records it as a rollback; panka history --stack %s --environment %s --commits lists the commits",
			key, shortSHA(d.Commit), d.Serial, plural(n, "commit"), shortSHA(commit), what, shortSHA(commit), verb, update, verb,
			key.Stack, key.Environment, shortSHA(commit), key.Stack, key.Environment)
		return
	}
	f.Warnf("%s runs commit %s (deployment %d), which has %s that %s (%s) does not: this %s also takes out what they changed there. "+
		"Merge or rebase onto %s (or the default branch) to %s only your changes; panka history --stack %s --environment %s --commits lists them",
		key, shortSHA(d.Commit), d.Serial, plural(n, "commit"), shortSHA(commit), what, verb, shortSHA(d.Commit), verb, key.Stack, key.Environment)
}

// watchedSinceDeployed lists the files the stack's spec.watch globs (watch)
// match that differ between the deployed commit and commit (the one
// planned or applied), as changed --since-deployed finds them: it lists
// the environment for them, whatever the resolved models, until a
// deployment records a commit that has them. Nothing when commit is older
// than the deployed one (changed does not list that, and a forward-only
// apply skips it); a warning when the deployed commit cannot be compared
// (not in a shallow clone's history).
func watchedSinceDeployed(ctx context.Context, f *Factory, repo *gitops.Repo, key statestore.Key, deployed, commit string, watch []string) []planner.WatchedFile {
	if repo == nil || deployed == "" || commit == "" || deployed == commit || len(watch) == 0 {
		return nil
	}
	c, err := repo.ResolveRef(commit)
	if err != nil {
		return nil
	}
	var reasons []changes.Reason
	if _, ok := gitops.FullID(deployed); !ok {
		// As changed --since-deployed refuses it: a hand-edited "HEAD"
		// or branch name would name whatever it points at now.
		err = fmt.Errorf("the deployed commit %q in its state is not a full commit id (40 hex digits)", deployed)
	} else if d, rerr := repo.ResolveRef(deployed); rerr != nil {
		err = rerr
	} else if isAncestor(ctx, repo, commit, deployed) {
		return nil
	} else {
		reasons, err = changes.WatchedChanges(ctx, repo, d, c, watch)
	}
	if err != nil {
		f.Warnf("cannot tell whether files %s watches (spec.watch) changed since its deployed commit %s: %v; if they did, panka changed --since-deployed lists it until a deployment records a commit that has them",
			key, shortSHA(deployed), err)
		return nil
	}
	out := make([]planner.WatchedFile, 0, len(reasons))
	for _, r := range reasons {
		out = append(out, planner.WatchedFile{File: r.File, Detail: r.Detail})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// repoChangedSinceDeployed reports whether changed --since-deployed, with
// commit as its head, lists key: the environment's model resolved from
// commit (without values given from outside the repository) differs from
// the deployed commit's. known is false when it cannot tell (a commit
// this clone does not have); outside git and for the same commit it is
// not changed.
func repoChangedSinceDeployed(ctx context.Context, f *Factory, repo *gitops.Repo, cfg *config.Resolved, key statestore.Key, deployed, commit string) (changed, known bool) {
	if repo == nil || deployed == "" || commit == "" || deployed == commit {
		return false, true
	}
	check := fixedDeployed{stack: key.Stack, commits: map[string]string{key.Environment: deployed}, tried: map[string]string{}}
	copts := changes.Options{Head: commit, StacksRoot: cfg.Stacks.Root, Stacks: []string{key.Stack}, Environments: []string{key.Environment}}
	ownStacksRoots(f, repo, cfg, commit, &copts)
	res, err := changes.SinceDeployed(ctx, repo, check, copts)
	if err != nil {
		f.Log.Debug().Err(err).Str("stack", key.String()).Msg("compare with the deployed commit")
		return false, false
	}
	for _, s := range res.Stacks {
		if s.Stack == key.Stack && slices.Contains(s.Environments, key.Environment) {
			return true, true
		}
	}
	return false, true
}

// isAncestor reports whether commit is an ancestor of deployed (every
// commit of commit's is in deployed's history); false when either cannot
// be placed.
func isAncestor(ctx context.Context, repo *gitops.Repo, commit, deployed string) bool {
	c, err1 := repo.ResolveRef(commit)
	d, err2 := repo.ResolveRef(deployed)
	if err1 != nil || err2 != nil {
		return false
	}
	n, err := repo.CountCommits(ctx, d, c, gitops.LogOptions{Complete: true})
	return err == nil && n == 0
}

// deployedAhead returns the deployment st records and how many commits its
// commit has that commit does not (0 when none, or either commit cannot be
// placed: a shallow clone, no repository).
func deployedAhead(ctx context.Context, repo *gitops.Repo, commit string, st *statestore.State) (*statestore.Deployment, int) {
	d := deployedRecord(st)
	if repo == nil || d == nil || d.Commit == "" || d.Commit == commit {
		return d, 0
	}
	want, err1 := repo.ResolveRef(commit)
	deployed, err2 := repo.ResolveRef(d.Commit)
	if err1 != nil || err2 != nil {
		return d, 0
	}
	n, err := repo.CountCommits(ctx, want, deployed, gitops.LogOptions{Complete: true})
	if err != nil {
		return d, 0 // a shallow clone's boundary lies between them, or worse
	}
	return d, n
}

// recordedSince returns key's state when it was written again since st
// was read (another serial; st nil: there was none), else nil. A run that
// held the lease meanwhile writes the engine's state, records, and
// releases the lease: read before its record and checked after its
// release, it looks like a run that recorded nothing (the engine's state
// newer than st's record, the lease free). A state that cannot be read
// again is not known to have moved.
func recordedSince(ctx context.Context, store statestore.Store, key statestore.Key, st *statestore.State) *statestore.State {
	now, _, err := store.Get(ctx, key)
	if err != nil || now == nil || (st != nil && now.Serial == st.Serial) {
		return nil
	}
	return now
}

// leaseHeldNow reports whether a lease on key is held now (not expired):
// the run holding it (an apply, a drift detect) writes the engine's state
// as it goes and records its deployment after, so the engine's state
// being ahead of the record is no sign of a run that recorded nothing.
// A lock that cannot be read counts as not held, and so does a stale one,
// taken on this host by a process that no longer runs: that is the run
// that recorded nothing (killed), and its lease is what a kill -9 leaves.
func leaseHeldNow(ctx context.Context, f *Factory, cfg *config.Resolved, key statestore.Key) bool {
	_, _, held := heldLease(ctx, f, cfg, key)
	return held
}

// heldLease reads key's lease: held is whether a run holds it now, as
// leaseHeldNow says, with the lease and the time to compare its times
// with (the lock server's).
func heldLease(ctx context.Context, f *Factory, cfg *config.Resolved, key statestore.Key) (h locker.Info, now time.Time, held bool) {
	l, err := f.Locker(ctx, cfg)
	if err != nil {
		return h, now, false
	}
	if h, err = l.Get(ctx, locker.Key(key.Stack, key.Environment)); err != nil {
		return h, now, false
	}
	now = lockNow(l, f.Now)
	return h, now, !h.Expired(now) && !holderGone(h)
}

// leasePeekTimeout bounds noteLeaseHeld's read of the lock: a plan takes
// no lease, and a lock server that is slow or out of reach (a plan job
// whose credentials may not read the table) must not hold it up.
const leasePeekTimeout = 3 * time.Second

// noteLeaseHeld says on stderr who holds key's lease, when a run holds it
// as the plan reads the state (a PR's plan job while main deploys): that
// run may change what is deployed and records after this plan compares,
// so the diff is not what the next apply does, and a plan saved now is
// refused as stale. Nothing is said when the lock cannot be read (the
// plan does not need it), has expired, or is stale (its process on this
// host no longer runs: no run is going on).
func noteLeaseHeld(ctx context.Context, f *Factory, cfg *config.Resolved, key statestore.Key) {
	ctx, cancel := context.WithTimeout(ctx, leasePeekTimeout)
	defer cancel()
	h, now, held := heldLease(ctx, f, cfg, key)
	if !held {
		return
	}
	fmt.Fprintf(f.Notices(), "Note: %s is locked by %s%s: that run may change what is deployed, and this plan compares with the state before it records; plan again once it has finished (a plan saved meanwhile is refused as stale)\n",
		key, describeHolder(h, now), quietHolderNote(h, now, cfg.Locks.Heartbeat.D(), key.Stack, key.Environment))
}

// lostStateApply ends plan's warnings about a lost state.json: apply (of
// the plan, or anew) refuses to deploy over it (deploy.Run), which the
// plan's "apply it with: panka apply FILE" would otherwise run into.
const lostStateApply = "until then apply refuses to deploy (pass --allow-lost-state to it when what was deployed is really gone)"

// planFindStack finds a stack by metadata.name under the stacks root.
func planFindStack(src *planSourceFS, root, name string) (stacks.Ref, error) {
	if ref, ok := src.quickStack(root, name); ok {
		return ref, nil
	}
	disc, err := src.discover(root)
	ref, ferr := findStack(disc, name, root)
	if ferr != nil {
		if err != nil && disc.Duplicates[name] == nil {
			return stacks.Ref{}, fmt.Errorf("find stacks under %s%s: %w", root, planAt(src), err)
		}
		if src.ref != "" {
			return stacks.Ref{}, fmt.Errorf("at %s: %w", src.ref, ferr)
		}
		if src.unchecked != "" && len(disc.Refs) == 0 {
			return stacks.Ref{}, (&stackRepo{dir: src.repo.Root(), unchecked: src.unchecked}).notCheckedOut()
		}
		if src.repo != nil && disc.Duplicates[name] == nil {
			// plan --stack main: a branch where a stack name belongs
			if what := refKind(src.repo, name); what != "" {
				return stacks.Ref{}, fmt.Errorf("%w; %s is %s of the repository: to plan the YAML of a commit, give it as --ref %s", ferr, name, what, name)
			}
		}
		return stacks.Ref{}, ferr
	}
	return ref, nil
}

// loadStackAt loads the stack in dir from src: strictly for the work
// tree and HEAD, whose YAML can still be fixed; for another commit
// (src.legacy) as it was deployed, what panka refuses since it was made
// and that cannot change what is deployed (stacks.LoadLegacy) warned
// about, not refused. A deployment tool must redeploy what it deployed,
// and a commit cannot be fixed.
func loadStackAt(f *Factory, src *planSourceFS, dir string) (*stacks.Stack, error) {
	if !src.legacy {
		return stacks.Load(src.fsys, dir)
	}
	st, legacy, err := stacks.LoadLegacy(src.fsys, dir)
	if err != nil {
		return nil, err
	}
	warnLegacy(f, src, legacy)
	return st, nil
}

// olderCommitHint adds to err, the YAML of --ref COMMIT (not HEAD) not
// loading, what redeploys an older commit whose YAML this panka refuses
// while an earlier one deployed it (a rule added since that LoadLegacy
// does not relax): the spec its deployment recorded, which rollback
// --to-version reads without loading the YAML, as rollback --to-commit
// says in the same case.
func olderCommitHint(src *planSourceFS, stack, env string, err error) error {
	var se *stacks.Errors
	if !src.legacy || src.ref == "" || !errors.As(err, &se) {
		return err
	}
	return fmt.Errorf("%w\n%s is not HEAD: if an earlier panka deployed this YAML and this one refuses it, panka rollback --stack %s --environment %s --to-version N redeploys the spec that deployment recorded (panka history --stack %s --environment %s lists the serials); else fix the YAML in a new commit",
		err, src.ref, stack, env, stack, env)
}

// warnLegacy says, for each problem of a commit read as it was deployed
// (stacks.LoadLegacy, Resolved.Legacy), where it is and that the work
// tree is where to fix it.
func warnLegacy(f *Factory, src *planSourceFS, legacy []*stacks.Error) {
	for _, w := range legacy {
		f.Warnf("at commit %s, %v. Read as panka read it before refusing it, as that commit deployed then: a commit cannot change, but panka validate refuses this in the work tree, so fix it there if it is still so", short(src.commit), w)
	}
}

// planAt names the ref being read, for errors.
func planAt(src *planSourceFS) string {
	if src.ref != "" {
		return " at " + src.ref
	}
	return ""
}

func planContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// badSpecHint ends the error about a deployed spec in state.json that does
// not decode.
const badSpecHint = "; the state was left as it is: restore an earlier version of state.json, or push a good one with `panka state push --force FILE`"
