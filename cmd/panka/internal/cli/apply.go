package cli

import (
	"bufio"
	"cmp"
	"context"
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
	"time"

	"github.com/spf13/cobra"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/deploy"
	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/gitops"
	"panka.dev/panka/locker"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

func init() {
	register(newCmdApply)
	register(newCmdDestroy)
}

// deployFlags are the flags every deploying command shares.
type deployFlags struct {
	AutoApprove  bool
	AllowDestroy bool
	AllowReplace bool
	LockTimeout  time.Duration
	Parallelism  int
	// NewPassphrase accepts a secrets passphrase other than the one the
	// last run encrypted with (a deliberate change: checkPassphrase).
	NewPassphrase bool
	// AllowLostState deploys although state.json is missing while the
	// history records a deployment (deploy.Request.AllowLostState).
	AllowLostState bool
}

func (d *deployFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&d.AutoApprove, "auto-approve", false, cmd.Name()+" without asking for confirmation (preferences.autoApprove)")
	fl.BoolVar(&d.AllowDestroy, "allow-destroy", false, "allow deleting data-holding components (Database, Cache, Bucket, Queue)")
	fl.BoolVar(&d.AllowReplace, "allow-replace", false, "allow replacing data-holding components (the old one and its data are deleted)")
	durationVar(fl, &d.LockTimeout, "lock-timeout", 0, "wait at most this long, in all, for the stack/environment's lock and for the Pulumi of a killed run to stop: seconds or e.g. 10m (0: fail at once)")
	intVarP(fl, &d.Parallelism, "parallelism", "", 0, "max parallel resource operations (preferences.parallelism)",
		"the number of resource operations to run at once, e.g. --parallelism 10")
	fl.BoolVar(&d.AllowLostState, "allow-lost-state", false, "deploy although state.json is missing while the history records deployments (what they deployed is gone): plans as if nothing were deployed")
	fl.BoolVar(&d.NewPassphrase, "new-passphrase", false, "accept a secrets passphrase other than the last deployment's (a deliberate change; secrets the Pulumi state holds still need the old one)")
	cmd.PreRunE = func(*cobra.Command, []string) error { return d.check() }
}

// check rejects values the engine cannot use (the config key behind it has
// the same bound: preferences.parallelism >= 1). A negative --lock-timeout
// is refused by the flag itself (durationValue).
func (d *deployFlags) check() error {
	if d.Parallelism < 0 {
		return Usagef("--parallelism %d: give a positive number of parallel operations (0 or unset: preferences.parallelism)", d.Parallelism)
	}
	return nil
}

// ApplyOptions are the inputs of apply.
type ApplyOptions struct {
	F                *Factory
	Stack            string
	Environment      string
	Ref              string
	PlanFile         string
	Vars             varFlags
	TargetComponents []string
	ForwardOnly      bool
	// ForwardOnlySet: --forward-only was given (also as
	// --forward-only=false), so it wins over preferences.forwardOnly.
	ForwardOnlySet bool
	Deploy         deployFlags
}

func newCmdApply(f *Factory) *cobra.Command {
	opts := &ApplyOptions{F: f}
	cmd := &cobra.Command{
		Use:        "apply [PLANFILE] --stack STACK --environment ENV",
		SuggestFor: []string{"deploy", "up"},
		Short:      "Deploy a stack/environment under its lock lease and record the deployment",
		Long: `Apply takes the stack/environment's lock lease, reads its state, plans the
desired YAML (work tree, --ref, or a plan saved with plan --out) against it,
shows the plan, asks for confirmation (unless --auto-approve; without a
terminal it never asks and refuses instead), deploys through Pulumi with live
progress, checks health, and records the deployment (commit, author, user,
vars, outputs) in history and state. Data-holding components are never
deleted or replaced without --allow-destroy / --allow-replace.

With --forward-only (for deploy pipelines) apply deploys only a commit that
has the deployed commit in its history: a commit older than the deployed one
(a pipeline that ran late) is skipped with exit 0, and so is one a rollback
took out (the commit rolled back from) while that rollback is what runs; one
that diverged from it, or that this clone cannot place (fetch the history),
is refused; the
check is made under the lock, so a pipeline that waited (--lock-timeout) for
a newer one's deployment skips. A commit of the default branch deployed after
a deployment from another branch (a preview, since squash-merged) comes after
the default branch's own last deployment instead, and replaces it.`,
		Example: `  panka apply --stack orders --environment dev
  panka apply --stack orders --environment production --ref v1.4.0 --auto-approve
  panka apply orders-dev.plan
  panka apply --stack orders --environment production --auto-approve --forward-only --lock-timeout 30m`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := emptyRef(cmd, "deploy"); err != nil {
				return err
			}
			if cmd.Flags().Changed("target-component") && len(opts.TargetComponents) == 0 {
				// --target-component "$COMPONENT" with the variable
				// unset deployed every component of the stack.
				return Usagef("--target-component is empty (an unset or empty CI variable?): name the components to deploy, or omit --target-component to deploy every component")
			}
			if len(args) == 1 && strings.TrimSpace(args[0]) == "" {
				// apply "$PLANFILE" --stack S --environment E with the
				// variable unset deployed the work tree, not the plan.
				return Usagef("the PLANFILE argument is empty (an unset or empty CI variable?): give the file panka plan --out wrote, or leave it out to apply --stack/--environment")
			}
			if len(args) == 1 {
				opts.PlanFile = args[0]
				if opts.PlanFile == "-" {
					return Usagef("apply -: give the file panka plan --out wrote (a saved plan is not read from stdin)")
				}
				if opts.Ref != "" {
					return Usagef("a saved plan fixes what is applied: --ref cannot be combined with PLANFILE")
				}
			} else if err := needStackEnv(opts.F, opts.Stack, opts.Environment, " (or a saved PLANFILE)"); err != nil {
				return err
			}
			opts.ForwardOnlySet = cmd.Flags().Changed("forward-only")
			return applyRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	stackEnvFlags(fl, &opts.Stack, &opts.Environment)
	markRequired(cmd, "unless a saved PLANFILE is given", "stack", "environment")
	fl.StringVar(&opts.Ref, "ref", "", "deploy the YAML of this git ref or commit instead of the work tree")
	fl.StringSliceVar(&opts.TargetComponents, "target-component", nil, "deploy only these components (repeatable); the others keep their deployed spec")
	fl.BoolVar(&opts.ForwardOnly, "forward-only", false, "deploy only a commit that has the deployed commit in its history: skip an older one (exit 0), refuse a diverged or unplaceable one (preferences.forwardOnly)")
	opts.Vars.register(cmd)
	opts.Deploy.register(cmd)
	return cmd
}

// desiredModel is a resolved model and where it came from.
type desiredModel struct {
	model   *stacks.Resolved
	cfg     *config.Resolved
	source  deploy.Source
	header  planner.Desired
	key     []byte
	vars    map[string]string
	stackID stacks.Ref
	// watch are the stack's spec.watch globs (watchedSinceDeployed).
	watch []string
}

// loadDesired resolves stack/env from src (the work tree or a commit).
// open builds the state store it reads the deployed record's secrets
// from: the run's (plan --all-changed keeps one per backend).
func loadDesired(ctx context.Context, f *Factory, open storeOpener, src *planSourceFS, stackName, env string, vars stacks.VarValues) (*desiredModel, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	root := src.stacksRoot(cfg)
	ref, err := planFindStack(src, root, stackName)
	var nested *nestedStackError
	switch {
	case errors.As(err, &nested):
		// Its files are still there, inside another stack's folder:
		// nothing to destroy.
		return nil, err
	case err != nil:
		if rerr := configuredRootMissing(f, src, cfg); rerr != nil && !removedUnderRoot(ctx, f, stackName) {
			return nil, rerr
		}
		if disc, _ := src.discover(root); src.ref == "" && disc != nil && len(disc.Refs) == 0 {
			if dir, derr := f.RepoRoot(); derr == nil {
				if src.repo == nil {
					if ierr := (&stackRepo{dir: dir, stacksRoot: stacksRoot(root)}).insideStacksRoot(); ierr != nil {
						return nil, ierr
					}
				}
				if cerr := configBelowRoot(f, dir, stacksRoot(root)); cerr != nil {
					return nil, cerr
				}
			}
		}
		if gone := stillDeployed(ctx, f, src, stackName, env, "stack (deleted, or renamed in stack.yaml)"); gone != "" {
			return nil, &goneDeployedError{err: fmt.Errorf("%w; %s", err, gone), stack: stackName, env: env}
		}
		return nil, err
	}
	st, err := loadStackAt(f, src, ref.Path)
	if err != nil {
		return nil, fmt.Errorf("load stack %q (%s%s): %w", stackName, ref.Path, planAt(src), err)
	}
	if envs := st.Environments(); !planContains(envs, env) {
		if gone := stillDeployed(ctx, f, src, stackName, env, "environment file"); gone != "" {
			return nil, &goneDeployedError{err: fmt.Errorf("stack %q has no environment %q%s (environments: %s); %s, or restore %s/environments/%s.yaml",
				stackName, env, planAt(src), strings.Join(envs, ", "), gone, ref.Path, env), stack: stackName, env: env}
		}
		if src.ref != "" {
			// A commit (--ref, a rollback or promotion source): adding the
			// file now does not change what that commit holds.
			return nil, fmt.Errorf("stack %q has no environment %q%s (environments there: %s%s): that commit predates %s/environments/%s.yaml (or never had it); deploy the environment from a commit that has the file (panka apply --ref COMMIT), or check the names",
				stackName, env, planAt(src), strings.Join(envs, ", "), withSemi(didYouMean(env, envs)), ref.Path, env)
		}
		if dym := didYouMean(env, envs); dym != "" {
			return nil, fmt.Errorf("stack %q has no environment %q%s (environments: %s); %s (a new environment is a new file, %s/environments/%s.yaml)",
				stackName, env, planAt(src), strings.Join(envs, ", "), dym, ref.Path, env)
		}
		return nil, fmt.Errorf("stack %q has no environment %q%s (environments: %s); add %s/environments/%s.yaml",
			stackName, env, planAt(src), strings.Join(envs, ", "), ref.Path, env)
	}
	cfg, err = f.configForHeader(st.Header(), path.Join(ref.Path, "stack.yaml"))
	if err != nil {
		return nil, err
	}
	if src.ref != "" {
		if cfg, err = workTreeBackend(f, stackName, cfg, " at commit "+short(src.commit)); err != nil {
			return nil, err
		}
	}
	key := f.planSecretKey()
	secretVars := src.secretVars(root, vars)
	if ds := deployedSecretVars(ctx, open, cfg, statestore.Key{Stack: stackName, Environment: env}, vars); len(ds) > 0 {
		secretVars = maps.Clone(secretVars)
		if secretVars == nil {
			secretVars = map[string]bool{}
		}
		maps.Copy(secretVars, ds)
	}
	model, err := st.Resolve(env, stacks.ResolveOptions{Vars: vars, SecretKey: key, SecretVars: secretVars})
	if err != nil {
		return nil, fmt.Errorf("resolve %s/%s%s: %w", stackName, env, planAt(src), err)
	}
	warnLegacy(f, src, model.Legacy)
	if err := checkTarget(model, st, ref.Path, planAt(src)); err != nil {
		return nil, err
	}
	f.warnUnkeyedSecrets(cfg, model, key)
	dirty, err := src.isDirty(ctx, ref.Path)
	if err != nil {
		return nil, err
	}
	d := &desiredModel{model: model, cfg: cfg, key: key, vars: planner.RecordVars(model, key), stackID: ref, watch: st.Header().Watch}
	d.header = planner.Desired{Source: "worktree", Ref: src.ref, Commit: src.commit, Dirty: dirty}
	if src.ref != "" {
		d.header.Source = "ref"
	}
	d.source = deploy.Source{Commit: src.commit, Ref: src.ref, Dirty: d.header.Dirty}
	if src.ref == "" && src.repo != nil {
		d.source.Ref = src.repo.HeadBranch()
	}
	if src.repo != nil && src.commit != "" {
		if h, err := src.repo.ResolveRef(src.commit); err == nil {
			if c, err := src.repo.Commit(h); err == nil {
				d.source.Author = c.Author
				d.source.Message = c.Message
			}
		}
	}
	return d, nil
}

// workTreeBackend is the configuration a stack's YAML read at a commit
// (--ref, a rollback or promotion source) is planned and deployed with:
// its state and locks are where the work tree's stack.yaml puts them, as
// for status, history and rollback, not where the commit's spec.backend
// did (state moved to another prefix or bucket since: a promotion of an
// older commit deployed into an empty state at the old place, creating
// everything again, and status did not see it). at is the commit for the
// warning (" at commit X"); atCommit is the configuration the commit's stack.yaml gives,
// used when the work tree has no such stack.
func workTreeBackend(f *Factory, stack string, atCommit *config.Resolved, at string) (*config.Resolved, error) {
	h, err := f.findHeader(stack)
	if err != nil {
		// The work tree is being fixed: deploying a commit that loads
		// still works, with that commit's settings.
		f.Warnf("%v; using the backend settings of stack %q%s", err, stack, at)
		return atCommit, nil
	}
	if h == nil {
		return atCommit, nil
	}
	cfg, err := f.configForHeader(h, path.Join(h.Path, stacks.StackFile))
	if err != nil {
		return nil, err
	}
	if was, now := f.describeBackend(atCommit), f.describeBackend(cfg); was != now {
		f.Warnf("the spec.backend of stack %q%s puts its state in %s; using %s, where the work tree's %s puts it now",
			stack, at, was, now, path.Join(h.Path, stacks.StackFile))
	}
	return cfg, nil
}

// configuredRootMissing is, for the work tree, the error validate gives
// when stacks.root was set (not the default) and names no folder: a
// mistyped root (panka.yaml, PANKA_STACKS_ROOT) is not a stack that was
// deleted, and stillDeployed would suggest destroying every deployed one.
func configuredRootMissing(f *Factory, src *planSourceFS, cfg *config.Resolved) error {
	s, ok := cfg.Sources["stacks.root"]
	if src.ref != "" || !ok || s.Layer == "default" || cfg.Stacks.Root == "" {
		return nil
	}
	where := s.Where
	if where == "" {
		where = s.Layer
	}
	dir, _ := f.RepoRoot()
	return rootNotFolder(src.fsys, path.Clean(filepath.ToSlash(cfg.Stacks.Root)), cfg.Stacks.Root, where, dir)
}

// removedUnderRoot says whether the history has stack under the
// configured stacks.root, deleted since: the root folder is gone because
// its last stacks were deleted (git rm -r stacks), not because stacks.root
// is mistyped, so the caller goes on to say the stack is gone (and plan
// shows its destroy plan, as plan --all-changed does).
func removedUnderRoot(ctx context.Context, f *Factory, stack string) bool {
	h, _ := f.removedStackHeader(ctx, stack)
	return h != nil
}

// stillDeployed says, for a stack/environment the YAML no longer has, that
// it is still deployed and how to delete what it deployed ("" when its
// state says nothing is deployed, or cannot be read: the caller's error
// stands alone then). what is what was deleted ("stack", "environment file").
// At another commit (--ref, a rollback or promotion target) the stack or
// environment may simply not exist yet: only a commit that descends from
// the deployed one has it deleted (plan --all-changed --head of it plans
// the destroy).
func stillDeployed(ctx context.Context, f *Factory, src *planSourceFS, stack, env, what string) string {
	key := statestore.Key{Stack: stack, Environment: env}
	if key.Validate() != nil {
		return ""
	}
	store, _, err := f.stackStore(ctx, stack)
	if err != nil {
		return ""
	}
	st, _, err := store.Get(ctx, key)
	if err != nil || st.Status == statestore.StatusDestroyed {
		return ""
	}
	if src.ref != "" {
		d := deployedRecord(st)
		if src.repo == nil || d == nil || d.Commit == "" || !isAncestor(ctx, src.repo, d.Commit, src.commit) {
			return ""
		}
	}
	s := fmt.Sprintf("%s is still deployed (state serial %d", key, st.Serial)
	if d := deployedRecord(st); d != nil && d.Commit != "" {
		s += ", commit " + shortSHA(d.Commit)
	}
	return s + fmt.Sprintf(") although its %s is gone: panka destroy --stack %s --environment %s deletes what it deployed", what, stack, env)
}

// goneDeployedError is loadDesired's error for a stack/environment the
// work tree no longer has (stack deleted or renamed, environment file
// deleted) while its state says it is still deployed: plan shows the
// destroy plan of it, as plan --all-changed does; apply refuses it.
type goneDeployedError struct {
	err        error
	stack, env string
}

func (e *goneDeployedError) Error() string { return e.err.Error() }
func (e *goneDeployedError) Unwrap() error { return e.err }

// planFileArgHint says what apply's PLANFILE argument arg, which is no
// file, names instead when it is a stack, an environment or (noRef: no
// --ref given) a git ref of the repository: the flag that takes it. ""
// when it is none of them.
func planFileArgHint(f *Factory, arg string, noRef bool) string {
	if stack, env := stackWordOf(workTreeRefs(f), arg); stack != "" {
		if env != "" {
			return fmt.Sprintf("%s is a stack and its environment, as panka changed -o names prints them: did you mean --stack %s --environment %s?", arg, stack, env)
		}
		return fmt.Sprintf("%s is the folder of stack %s: did you mean --stack %s?", arg, stack, stack)
	}
	switch {
	case strings.ContainsAny(arg, `/\`) || strings.HasSuffix(arg, ".json"):
		return "" // a path: the file is what is missing
	case slices.Contains(completeStacks(f), arg):
		return fmt.Sprintf("%s is a stack: did you mean --stack %s?", arg, arg)
	case slices.Contains(completeEnvironments(f, ""), arg):
		return fmt.Sprintf("%s is an environment: did you mean --environment %s?", arg, arg)
	case noRef:
		if what := refNamed(f, arg); what != "" {
			return fmt.Sprintf("%s is %s of the repository: did you mean --ref %s?", arg, what, arg)
		}
	}
	return ""
}

func applyRun(ctx context.Context, opts *ApplyOptions) error {
	f := opts.F
	vars, err := opts.Vars.values(ctx, f)
	if err != nil {
		return err
	}
	var saved *planner.Saved
	ref := opts.Ref
	stack, env := opts.Stack, opts.Environment
	if opts.PlanFile != "" {
		planFile, err := f.UserPath(opts.PlanFile)
		if err != nil {
			return err
		}
		if saved, err = planner.LoadSaved(planFile); err != nil {
			if name, value, ok := strings.Cut(opts.PlanFile, "="); ok && errors.Is(err, fs.ErrNotExist) {
				// NAME=VALUE is a variable whose --var was left out:
				// its value may be a secret, so it is not printed (nor
				// the name, when it may be a base64 secret).
				if maybeSecretName(name, value) {
					return Usagef("no saved plan at the argument given (not shown: it may be a secret value): to set a variable write --var NAME=VALUE")
				}
				return Usagef("no saved plan %q (its value not shown): to set a variable write --var NAME=VALUE", name+"=...")
			}
			st, serr := os.Stat(planFile)
			if hint := planFileArgHint(f, opts.PlanFile, opts.Ref == ""); hint != "" && (errors.Is(err, fs.ErrNotExist) || serr == nil && st.IsDir()) {
				// panka apply main, as panka changed main: a word, not a
				// file (or a stack's folder, stacks/orders).
				return Usagef("no saved plan %s; %s", opts.PlanFile, hint)
			}
			return err
		}
		if saved.Desired == nil || string(saved.Desired) == "null" {
			return fmt.Errorf("%s is a destroy plan: run panka destroy --stack %s --environment %s", opts.PlanFile, saved.Stack, saved.Environment)
		}
		if (stack != "" && stack != saved.Stack) || (env != "" && env != saved.Environment) {
			// The one not given is the plan's: -e prod alone said
			// "not /prod".
			want := statestore.Key{Stack: cmp.Or(stack, saved.Stack), Environment: cmp.Or(env, saved.Environment)}
			return fmt.Errorf("%s plans %s/%s, not %s: leave --stack and --environment out to apply it, or plan %s with panka plan --stack %s --environment %s --out FILE and apply that",
				opts.PlanFile, saved.Stack, saved.Environment, want, want, want.Stack, want.Environment)
		}
		stack, env = saved.Stack, saved.Environment
		if err := checkSavedTargets(opts.PlanFile, saved, opts.TargetComponents); err != nil {
			return err
		}
		opts.TargetComponents = saved.TargetComponents
		if saved.Commit != "" && !saved.Dirty {
			ref = saved.Commit
		}
		// Replay the plan's recorded variables; values given now must
		// be the ones planned.
		recorded, secrets := saved.VarValues()
		if err := checkSavedVars(opts.PlanFile, saved, vars); err != nil {
			return err
		}
		vars = mergeVarValues(recorded, vars)
		if err := checkSavedSecrets(f, opts.PlanFile, saved, secrets, vars); err != nil {
			return err
		}
		vars = savedSecretSources(saved, slices.Sorted(maps.Keys(saved.Vars)), vars)
	}
	src, err := planSource(ctx, f, ref)
	if err != nil {
		if saved != nil && ref != opts.Ref {
			// The commit comes from the plan file, not from a --ref the
			// user typed (typically planned in one CI job, applied in
			// another with a shallower checkout).
			if inner := errors.Unwrap(err); inner != nil {
				err = inner
			}
			return fmt.Errorf("%s was planned at commit %s: %w", opts.PlanFile, ref, err)
		}
		return zeroRef(err, ref)
	}
	defer src.close()
	d, err := loadDesired(ctx, f, f.Store, src, stack, env, vars)
	if err != nil {
		return olderCommitHint(src, stack, env, err)
	}
	warnUndeclared(f, vars, [][]stacks.ResolvedVar{d.model.Variables})
	if err := checkTargetNames(ctx, f, d, env, opts.TargetComponents); err != nil {
		return err
	}
	if d.source.Commit == "" {
		why := "the folder is not in a git repository"
		if src.repo != nil {
			why = "the repository has no commit yet"
		}
		f.Warnf("%s/%s is deployed from files no commit holds (%s): the deployment is recorded without a commit, so `panka changed --since-deployed`, `panka status` and `panka rollback --to-commit` cannot place it; commit the stack first to deploy a commit", d.model.Stack, env, why)
	}
	if saved != nil {
		d.source.Ref = saved.Ref
	}
	req := deploy.Request{
		Key:       statestore.Key{Stack: d.model.Stack, Environment: env},
		Operation: statestore.OpApply, Desired: d.model, Source: d.source, Vars: d.vars,
		TargetComponents: opts.TargetComponents, AllowDestroy: opts.Deploy.AllowDestroy,
		AllowReplace: opts.Deploy.AllowReplace, Saved: saved,
		PlanHeader: planner.Header{Desired: d.header, Vars: planner.MaskVars(d.vars)},
		Watched: func(ctx context.Context, deployed string) []planner.WatchedFile {
			// As plan shows them: the plan of apply FILE too.
			return watchedSinceDeployed(ctx, f, src.repo, statestore.Key{Stack: d.model.Stack, Environment: env}, deployed, d.source.Commit, d.watch)
		},
		ChangedSinceDeployed: func(ctx context.Context, deployed string) (bool, bool) {
			// As plan asks it: apply's plan says what plan said.
			return repoChangedSinceDeployed(ctx, f, src.repo, d.cfg, statestore.Key{Stack: d.model.Stack, Environment: env}, deployed, d.source.Commit)
		},
	}
	// The flag wins over the config, as everywhere: --forward-only=false
	// turns preferences.forwardOnly off for one run.
	forwardOnly, without := opts.ForwardOnly, "apply without --forward-only"
	if !opts.ForwardOnlySet && d.cfg.Preferences.ForwardOnly {
		forwardOnly = true
		without = fmt.Sprintf("apply with --forward-only=false (preferences.forwardOnly is true, from %s)", d.cfg.Sources["preferences.forwardOnly"])
	}
	req.Check = func(now *statestore.State) error {
		if forwardOnly {
			if now == nil {
				// No state.json, but history may record deployments
				// (the state was lost or deleted): the newest one is
				// the reference, not "nothing deployed".
				store, err := f.Store(ctx, d.cfg)
				if err == nil {
					now, err = stateFromHistory(ctx, store, req.Key)
				}
				if err != nil {
					return fmt.Errorf("apply --forward-only of %s refused, nothing was changed or recorded: it has no state, and its history cannot be read to find the deployed commit: %w", req.Key, err)
				}
			}
			store, err := f.Store(ctx, d.cfg)
			if err != nil {
				return err
			}
			// Most checks look at the record before the deployed one
			// only: a short first page.
			earlier := &historyPages{store: store, key: req.Key, first: 4}
			return checkForward(ctx, src.repo, req.Key, d.source, now, without, forwardHistory{earlier, f.Warnf})
		}
		if saved != nil {
			// A saved plan whose state moved on is refused (the deployer
			// checks it again after planning, with the desired model):
			// said now, before warnings about an apply that will not run
			// ("deploys older YAML ... stop here") and before planning.
			serial := int64(0)
			if now != nil {
				serial = now.Serial
			}
			if err := saved.Check(serial, now.PlanBasis(), saved.DesiredHash); err != nil {
				return staleSince(err, saved, now)
			}
		}
		warnOlderThanDeployed(ctx, f, src.repo, req.Key, d.source.Commit, now)
		return nil
	}
	err = runDeployment(ctx, f, d.cfg, &opts.Deploy, d.key, req)
	var older *olderCommitError
	if errors.As(err, &older) {
		// A pipeline for an older commit that ran late: nothing to do.
		// engineSkipped stays false: it means "planned, no changes,
		// recorded", and nothing was planned or recorded here.
		if f.JSON() {
			_ = f.PrintJSON(struct {
				Plan       *planner.Result        `json:"plan"`
				Deployment *statestore.Deployment `json:"deployment"`
				Skipped    bool                   `json:"engineSkipped"`
				Reason     string                 `json:"skipped"`
			}{nil, nil, false, older.Error()})
		}
		fmt.Fprintln(f.Notices(), older.Error())
		return nil
	}
	return err
}

// checkSavedTargets refuses apply PLANFILE --target-component naming
// other components than the plan was made for (saved.TargetComponents;
// none: every component): the plan fixes what is applied. The same
// components, in any order, are no contradiction.
func checkSavedTargets(planFile string, saved *planner.Saved, given []string) error {
	if len(given) == 0 {
		return nil
	}
	want := slices.Compact(slices.Sorted(slices.Values(given)))
	if slices.Equal(want, saved.TargetComponents) {
		return nil
	}
	key := statestore.Key{Stack: saved.Stack, Environment: saved.Environment}
	replan := fmt.Sprintf("panka plan --stack %s --environment %s --target-component %s --out FILE and apply that", key.Stack, key.Environment, strings.Join(want, ","))
	if len(saved.TargetComponents) == 0 {
		return fmt.Errorf("%s plans every component of %s, not only --target-component %s: a saved plan fixes what is applied; leave --target-component out to apply it, or save a plan of those with %s",
			planFile, key, strings.Join(want, ","), replan)
	}
	return fmt.Errorf("%s was planned with --target-component %s, not %s: a saved plan fixes what is applied; leave --target-component out to apply it (it deploys %s), or save a plan of those with %s",
		planFile, strings.Join(saved.TargetComponents, ","), strings.Join(want, ","), strings.Join(saved.TargetComponents, ", "), replan)
}

// staleSince adds to err, a saved plan's StaleError, which run moved the
// state on since the plan (read under the lease: now): a PR's plan applied
// after main deployed said only that the serial moved, not who deployed
// what meanwhile.
func staleSince(err error, saved *planner.Saved, now *statestore.State) error {
	var stale *planner.StaleError
	if !errors.As(err, &stale) || now == nil || now.Serial == saved.StateSerial {
		return err
	}
	d := now.LastDeployment
	if d == nil || d.Serial <= saved.StateSerial {
		// Written since without a deployment: "state changed" was all it
		// said, and the history, which holds deployments, showed nothing
		// after the serial planned against.
		if dc := now.LastDriftCheck; dc != nil && len(dc.Refreshed()) > 0 && dc.At.After(saved.CreatedAt) {
			stale.Reason += fmt.Sprintf(": a drift check at %s found drift in %s, which the apply would put back and the plan does not show (panka drift detect --stack %s --environment %s shows it)",
				dc.At.UTC().Format(time.RFC3339), strings.Join(dc.Refreshed(), ", "), now.Stack, now.Environment)
			return err
		}
		at := ""
		if !now.UpdatedAt.IsZero() {
			at = " at " + now.UpdatedAt.UTC().Format(time.RFC3339)
		}
		stale.Reason += fmt.Sprintf(": it was written%s by no deployment (panka state rm or state push, which the history does not record); panka status --stack %s --environment %s shows what it holds now",
			at, now.Stack, now.Environment)
		return err
	}
	what := fmt.Sprintf("%s of commit %s by %s, %s", d.Operation, shortSHA(d.Commit), dash(d.User), orNone(d.Result))
	if d.Commit == "" {
		what = fmt.Sprintf("%s by %s, %s", d.Operation, dash(d.User), orNone(d.Result))
	}
	if !d.EndedAt.IsZero() {
		what += " at " + d.EndedAt.UTC().Format(time.RFC3339)
	}
	stale.Reason += fmt.Sprintf(": deployment %d (%s) was recorded since", d.Serial, what)
	return err
}

// checkTargetNames refuses a --target-component that names no component
// of the stack's YAML nor of what is deployed (a typo), before anything
// the run needs is checked: a machine without the Pulumi CLI was told to
// install it first, only to learn then that the name was wrong. The
// state is read only for a name the YAML lacks (a component removed from
// it, still deployed, may be targeted); when it cannot be read the run
// reads it again under the lease and says why.
func checkTargetNames(ctx context.Context, f *Factory, d *desiredModel, env string, names []string) error {
	if len(names) == 0 || deploy.UnknownTarget(d.model, nil, names) == nil {
		return nil
	}
	store, err := f.Store(ctx, d.cfg)
	if err != nil {
		return nil
	}
	var deployed *stacks.Resolved
	st, _, err := store.Get(ctx, statestore.Key{Stack: d.model.Stack, Environment: env})
	switch {
	case errors.Is(err, statestore.ErrNotFound):
	case err != nil:
		return nil
	case len(st.Spec) > 0 && string(st.Spec) != "null":
		if deployed, err = planner.DecodeModel(st.Spec); err != nil {
			return nil
		}
	}
	return deploy.UnknownTarget(d.model, deployed, names)
}

// deployedSecretVars names those of the variables given from outside the
// repository (vars) that what is deployed to key holds as secret (a keyed
// hash in its deployed or last record): nil when none is given, or when
// the state cannot be read (the plan reads it again and says why).
// Dropping secret: true from a declaration must not print and record in
// clear a value deployed as secret, as rollback and promote already keep
// the deployed record's secrecy.
func deployedSecretVars(ctx context.Context, open storeOpener, cfg *config.Resolved, key statestore.Key, vars stacks.VarValues) map[string]bool {
	if len(givenNames(vars)) == 0 {
		return nil
	}
	store, err := open(ctx, cfg)
	if err != nil {
		return nil
	}
	st, _, err := store.Get(ctx, key)
	if err != nil {
		return nil
	}
	return recordedSecrets(deployedRecord(st), st.LastDeployment)
}

// stateFromHistory stands in for a missing state.json with the newest
// successful record in key's history, for apply --forward-only (nil when
// there is none; a destroy leaves nothing deployed, as deployedRecord
// says). It reads back only as far as that record: a window of the newest
// 20 took a history whose newest 20 runs failed for "nothing deployed",
// and the check let any commit through.
func stateFromHistory(ctx context.Context, store statestore.Store, key statestore.Key) (*statestore.State, error) {
	h := &historyPages{store: store, key: key, first: 4}
	var found *statestore.Deployment
	err := h.each(ctx, func(r *statestore.Deployment) bool {
		if r.Result == statestore.ResultSucceeded {
			found = r
			return false
		}
		return true
	})
	after := int64(0)
	if found != nil {
		after = found.Serial
	}
	if err == nil {
		// One that cannot be read may be the newest successful one.
		err = h.unreadableWalked(after, 0)
	}
	if err != nil || found == nil {
		return nil, err
	}
	// deployedRecord: a destroy leaves nothing deployed.
	return &statestore.State{LastSuccessful: found}, nil
}

// olderCommitError is what apply --forward-only says when the commit it
// would deploy is an ancestor of the deployed one: it skips (exit 0).
type olderCommitError struct{ msg string }

func (e *olderCommitError) Error() string { return e.msg }

// checkForward is apply --forward-only's check, given the state read under
// the lease: the commit deployed (the last successful deployment's) must
// be src's commit or one of its ancestors. An ancestor of it (older YAML:
// a pipeline for an older commit that runs after a newer one deployed)
// is an olderCommitError; a commit that diverged from it, or whose place
// cannot be told (this clone lacks the deployed commit, a shallow clone's
// boundary lies between them, files no commit holds), is an error that
// says how to go on. Nothing has been planned or changed when it refuses.
// without says how to apply without the check ("apply without
// --forward-only", or how to turn the config's preferences.forwardOnly off).
//
// A deployment from another branch than the default one (a preview of a
// branch, which was then squash-merged: its commit is on no branch of the
// mainline) is not what a deploy of the default branch must come after:
// see mainlineReference.
func checkForward(ctx context.Context, repo *gitops.Repo, key statestore.Key, src deploy.Source, st *statestore.State, without string, hist forwardHistory) error {
	d := deployedRecord(st)
	if d == nil {
		return destroyedSince(ctx, repo, key, src, st, without)
	}
	if d.Commit != "" && d.Commit == src.Commit {
		return nil
	}
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("apply --forward-only of %s refused, nothing was changed or recorded: "+format, append([]any{key}, args...)...)
	}
	deployedOne := fmt.Sprintf("the deployed commit %s (deployment %d)", shortSHA(d.Commit), d.Serial)
	if d.Commit == "" {
		deployedOne = fmt.Sprintf("the deployed spec (deployment %d)", d.Serial)
	}
	if repo == nil {
		return refuse("the folder is not in a git repository, so whether the YAML applied comes after %s cannot be told; apply from a clone of the repository, or %s", deployedOne, without)
	}
	if src.Commit == "" {
		return refuse("the repository has no commit yet, so whether the YAML applied comes after %s cannot be told; commit it, or %s", deployedOne, without)
	}
	if d.Commit == "" {
		return refuse("the deployed spec (deployment %d) was deployed from files no commit holds, so whether %s comes after it cannot be told; deploy it once without the check (%s)", d.Serial, shortSHA(src.Commit), without)
	}
	o, err := orderCommits(ctx, repo, src.Commit, d.Commit)
	applied, deployed, mb := o.applied, o.deployed, o.mergeBase
	if o.failed != orderApplied && (o.failed != orderOK || (mb != deployed && mb != applied)) && hist.earlier != nil {
		// Not plainly after (or before) the deployed commit: when that was
		// deployed from another branch, the default branch's own last
		// deployment decides.
		ref, branch, ok, rerr := mainlineReference(ctx, repo, o.applied, d, hist.earlier)
		if rerr != nil {
			return refuse("%v", rerr)
		}
		if ok {
			from, kind := branchOf(repo, d), "a branch deployment"
			if !strings.HasPrefix(from, "branch ") {
				kind = "its commit" // a tag's, a commit id's, a detached HEAD's
			}
			replaced := fmt.Sprintf("%s runs commit %s (deployment %d), deployed from %s, which is not on the default branch %s (%s, since squash-merged or not merged)", key, shortSHA(d.Commit), d.Serial, from, branch, kind)
			if ref == nil {
				hist.warn("%s; no deployment of %s comes before it, so this apply of %s replaces it", replaced, branch, shortSHA(src.Commit))
				return nil
			}
			if err := checkForward(ctx, repo, key, src, &statestore.State{LastSuccessful: ref}, without, forwardHistory{}); err != nil {
				// It names ref as what runs: say what does, and why ref.
				why := fmt.Sprintf(" (%s; deployment %d is the last of %s, so --forward-only compared with it)", replaced, ref.Serial, branch)
				var older *olderCommitError
				if errors.As(err, &older) {
					return &olderCommitError{older.msg + why}
				}
				return fmt.Errorf("%w%s", err, why)
			}
			hist.warn("%s; --forward-only placed this apply of %s after deployment %d of %s's commit %s instead, and it replaces what deployment %d runs", replaced, shortSHA(src.Commit), ref.Serial, branch, shortSHA(ref.Commit), d.Serial)
			return nil
		}
	}
	switch o.failed {
	case orderApplied:
		return refuse("%v", err)
	case orderDeployed:
		return refuse("it runs commit %s (deployment %d), which this clone does not have, so whether %s comes after it cannot be told: fetch it (`git fetch origin %s`, or a checkout with full history, e.g. actions/checkout with fetch-depth: 0) and re-run", shortSHA(d.Commit), d.Serial, shortSHA(src.Commit), d.Commit)
	case orderMergeBase:
		return refuse("whether %s comes after the deployed commit %s (deployment %d) cannot be told: %v; fetch the full history (`git fetch --unshallow`) and re-run", shortSHA(src.Commit), shortSHA(d.Commit), d.Serial, err)
	}
	switch mb {
	case deployed:
		return undoneByRollback(ctx, repo, key, src, applied, d, without, hist.earlier)
	case applied:
		return &olderCommitError{fmt.Sprintf("apply --forward-only of %s skipped, nothing was changed or recorded: it runs commit %s (deployment %d), which is newer than %s (one of its ancestors); deploy an older commit with `panka rollback --to-commit %s`",
			key, shortSHA(d.Commit), d.Serial, shortSHA(src.Commit), shortSHA(src.Commit))}
	}
	n, err := repo.CountCommits(ctx, applied, deployed, gitops.LogOptions{Complete: true})
	if errors.Is(err, gitops.ErrShallowHistory) {
		// git's merge-base stops at a shallow clone's boundary: the
		// deployed commit may well be an ancestor through a commit cut
		// off (it found an older common one), so "diverged" is no answer.
		return refuse("whether %s comes after the deployed commit %s (deployment %d) cannot be told: the history between them is cut off by this shallow clone; fetch the full history (`git fetch --unshallow`, or a checkout with full history, e.g. actions/checkout with fetch-depth: 0) and re-run", shortSHA(src.Commit), shortSHA(d.Commit), d.Serial)
	}
	has := "commits"
	if n > 0 {
		has = plural(n, "commit")
	}
	return refuse("it runs commit %s (deployment %d), which has %s that %s lacks (they diverged at %s): deploying it would take out what they changed, unless %s holds the same changes another way (squash-merged, cherry-picked; panka plan with --ref %s shows what it changes). Merge or rebase onto %s (or the default branch) and deploy that, or %s to take them out; panka history --stack %s --environment %s --commits lists them",
		shortSHA(d.Commit), d.Serial, has, shortSHA(src.Commit), shortSHA(mb.String()), shortSHA(src.Commit), shortSHA(src.Commit), shortSHA(d.Commit), without, key.Stack, key.Environment)
}

// destroyedSince is checkForward's answer when nothing is deployed: when
// the last successful run was a destroy made at a commit that descends from
// the one applied (an older commit), that commit is skipped, as an older
// commit than the deployed one is. A commit removes an environment file,
// its pipeline destroys the environment (changed --since-deployed lists it
// removed), and the pipeline of an older commit that still had the file,
// late or waiting for the lock while the destroy ran, deployed it all
// again without a word. The destroy's own commit and any newer one deploy
// (an environment destroyed to save cost comes back with apply); so does
// one that cannot be placed (a destroy from a commit this clone lacks):
// nothing is deployed that it could take out.
func destroyedSince(ctx context.Context, repo *gitops.Repo, key statestore.Key, src deploy.Source, st *statestore.State, without string) error {
	rec := (*statestore.Deployment)(nil)
	if st != nil {
		rec = st.LastSuccessful
		if rec == nil && st.LastDeployment != nil && st.LastDeployment.Result == statestore.ResultSucceeded {
			rec = st.LastDeployment
		}
	}
	if rec == nil || rec.Operation != statestore.OpDestroy || rec.Commit == "" || repo == nil || src.Commit == "" || strings.EqualFold(rec.Commit, src.Commit) {
		return nil
	}
	o, err := orderCommits(ctx, repo, src.Commit, rec.Commit)
	if err != nil || o.mergeBase != o.applied {
		return nil
	}
	return &olderCommitError{fmt.Sprintf("apply --forward-only of %s skipped, nothing was changed or recorded: it was destroyed (deployment %d) at commit %s, which is newer than %s (one of its ancestors), so deploying it would undo that destroy; deploy a newer commit, or %s to deploy it again",
		key, rec.Serial, shortSHA(rec.Commit), shortSHA(src.Commit), without)}
}

// undoneByRollback is checkForward's answer for a commit (applied) that
// comes after the deployed one, d's, when d is a rollback, or redeployed
// the commit a rollback put back (a pipeline of that commit that waited
// for the lock while the rollback ran, a scheduled re-apply: recorded as
// an apply with no changes, after which the rollback's commits deployed
// again without a word): the commits it
// took out (its from-commit and those between it and d's commit) are not
// forward of what ran, though each has d's commit in its history. A
// pipeline for the rolled-back commit that ran late, or waited for the lock
// (--lock-timeout) while the rollback ran, deployed it again and undid the
// rollback without a word. Such a commit is skipped as an older one is (an
// olderCommitError); a commit that is not one of them (a fix made after it,
// or on another branch) deploys. Rollbacks that came right before d, with
// no other successful deployment in between (rolled back twice, further
// each time), took out their own commits: earlier (nil: none read) gives
// them. The history is read only as far back as these rules need (see
// historyPages). nil when no rollback put d's commit in place.
func undoneByRollback(ctx context.Context, repo *gitops.Repo, key statestore.Key, src deploy.Source, applied gitops.Hash, d *statestore.Deployment, without string, earlier *historyPages) error {
	if d.Operation != statestore.OpRollback {
		if earlier == nil {
			return nil
		}
		// The records before d that deployed its commit too: the first
		// one that is a rollback put it in place (one that deployed
		// another commit ends the search: d's commit came by an apply).
		rb, err := rollbackBehind(ctx, d, earlier)
		if err != nil {
			return fmt.Errorf("apply --forward-only of %s refused, nothing was changed or recorded: it runs commit %s (deployment %d), and the history before it cannot be read to find whether a rollback put that commit back: %w; or %s", key, shortSHA(d.Commit), d.Serial, err, without)
		}
		if rb == nil {
			return nil
		}
		rolledBack := fmt.Sprintf("it runs commit %s (deployment %d), which a rollback (deployment %d) from commit %s put back", shortSHA(d.Commit), d.Serial, rb.Serial, shortSHA(rb.FromCommit))
		return undoneBy(ctx, repo, key, src, applied, rb, rolledBack, without, earlier)
	}
	rolledBack := fmt.Sprintf("it runs a rollback (deployment %d) from commit %s to %s", d.Serial, shortSHA(d.FromCommit), shortSHA(d.Commit))
	return undoneBy(ctx, repo, key, src, applied, d, rolledBack, without, earlier)
}

// undoneBy is undoneByRollback's check against d, a rollback, and the
// rollbacks right before it; rolledBack says what runs.
func undoneBy(ctx context.Context, repo *gitops.Repo, key statestore.Key, src deploy.Source, applied gitops.Hash, d *statestore.Deployment, rolledBack, without string, earlier *historyPages) error {
	// took says whether rollback rb took applied out; an error when that
	// cannot be told.
	took := func(rb *statestore.Deployment) (bool, error) {
		if rb.FromCommit == "" || rb.FromCommit == rb.Commit {
			return false, nil
		}
		from, err := repo.ResolveRef(rb.FromCommit)
		if err != nil {
			return false, fmt.Errorf("apply --forward-only of %s refused, nothing was changed or recorded: %s, and this clone does not have %s (which rollback %d came from), so whether %s is one of the commits the rollback took out cannot be told: fetch it (`git fetch origin %s`, or a checkout with full history) and re-run, or %s",
				key, rolledBack, shortSHA(rb.FromCommit), rb.Serial, shortSHA(src.Commit), rb.FromCommit, without)
		}
		// Not one of them when newer than the commit rolled back from, or
		// on another line. (A merge base cut off by a shallow clone leaves
		// the rule out: the commit was placed after the deployed one.)
		mb, err := repo.MergeBase(ctx, applied, from)
		return err == nil && mb == applied, nil
	}
	skip := func(what string) error {
		return &olderCommitError{fmt.Sprintf("apply --forward-only of %s skipped, nothing was changed or recorded: %s, and %s is %s; deploy a newer commit (the fix), or %s to deploy it again",
			key, rolledBack, shortSHA(src.Commit), what, without)}
	}
	if ok, err := took(d); err != nil || ok {
		if err != nil {
			return err
		}
		if strings.EqualFold(applied.String(), d.FromCommit) {
			return skip("the commit it rolled back from")
		}
		return skip("one of the commits that rollback took out")
	}
	if earlier == nil {
		return nil
	}
	var verdict error
	var stop int64
	err := earlier.each(ctx, func(r *statestore.Deployment) bool {
		if r.Serial >= d.Serial || r.Result != statestore.ResultSucceeded {
			return true
		}
		stop = r.Serial
		if r.Operation != statestore.OpRollback {
			return false
		}
		if ok, err := took(r); err != nil || ok {
			verdict = err
			if err == nil {
				verdict = skip(fmt.Sprintf("one of the commits rollback %d before it (from commit %s) took out", r.Serial, shortSHA(r.FromCommit)))
			}
			return false
		}
		stop = 0
		return true
	})
	if err == nil && verdict == nil {
		err = earlier.unreadableWalked(stop, d.Serial)
	}
	if err != nil {
		return fmt.Errorf("apply --forward-only of %s refused, nothing was changed or recorded: %s, and the history before it cannot be read to find the commits the rollbacks before it took out: %w", key, rolledBack, err)
	}
	return verdict
}

// rollbackBehind is the successful rollback that put d's commit in place
// when the successful deployments since (d among them) all deployed that
// commit again, or nil.
func rollbackBehind(ctx context.Context, d *statestore.Deployment, earlier *historyPages) (*statestore.Deployment, error) {
	var rb *statestore.Deployment
	var stop int64
	err := earlier.each(ctx, func(r *statestore.Deployment) bool {
		if r.Serial >= d.Serial || r.Result != statestore.ResultSucceeded {
			return true
		}
		if !strings.EqualFold(r.Commit, d.Commit) {
			stop = r.Serial
			return false
		}
		if r.Operation == statestore.OpRollback {
			rb = r
			return false
		}
		return true
	})
	if err == nil && rb == nil {
		// A record that cannot be read in between may be the rollback.
		err = earlier.unreadableWalked(stop, d.Serial)
	}
	return rb, err
}

// forwardHistory is what checkForward needs beyond the state: the history
// (earlier, read only as far back as a rule needs: a fixed window of the
// newest 100 records was defeated by a longer one, a rollback further back
// than that no longer keeping the commits it took out from being deployed
// again; nil when the check must not look past the state) and a way to
// warn.
type forwardHistory struct {
	earlier *historyPages
	warn    func(format string, args ...any)
}

// branchOf names the ref deployment d was made from: the branch checked
// out, or the --ref given, which may be a tag or a commit id ("tag v2",
// not "branch v2"). A name no ref of this clone has (a branch deleted
// after its merge) is a branch: that is what a record names unless --ref
// was given.
func branchOf(repo *gitops.Repo, d *statestore.Deployment) string {
	if d.Ref == "" {
		return "a detached HEAD"
	}
	full := repo.FullRefName(d.Ref)
	switch {
	case strings.HasPrefix(full, "refs/tags/"):
		return "tag " + d.Ref
	case full == "" && len(d.Ref) >= 4 && strings.HasPrefix(strings.ToLower(d.Commit), strings.ToLower(d.Ref)):
		// --ref given a commit id; a deleted branch whose name merely
		// looks like one (cafe) is still a branch.
		return "commit " + d.Ref
	}
	return "branch " + d.Ref
}

// mainlineReference decides which deployment apply --forward-only orders
// applied (a commit the deployed one, d's, does not plainly come before)
// against when d was made from another branch than the repository's
// default one. A branch deployed for a preview and then squash-merged
// leaves its commit on no branch of the mainline: compared with it, every
// later deploy of the default branch was refused as diverged. So when
// applied is on the default branch and d is not (its commit is in the
// clone and not on the default branch, or, not in the clone, its record
// names another branch), the reference is the newest successful
// deployment of a commit on the default branch (ref; nil when none came
// since the last destroy), read back as far as it takes: a pipeline of the default branch still skips an older commit
// than its own last deployment, and the branch deployment is replaced,
// as a deploy of the mainline replaces a preview. ok is false when the
// rule does not apply (applied is not on the default branch, d is on it,
// or where either stands cannot be told), and checkForward goes on as
// before; err when the history cannot be read or holds a deployment whose
// branch cannot be told.
func mainlineReference(ctx context.Context, repo *gitops.Repo, applied gitops.Hash, d *statestore.Deployment, earlier *historyPages) (ref *statestore.Deployment, branch string, ok bool, err error) {
	branch, tip, err := repo.DefaultBranch()
	if err != nil || applied.IsZero() {
		return nil, "", false, nil
	}
	// A record names the branch checked out (main), DefaultBranch the
	// remote-tracking one (origin/main) where there is a remote.
	short := branch
	if i := strings.IndexByte(branch, '/'); i >= 0 {
		short = branch[i+1:]
	}
	// on says whether rec was deployed from the default branch: known
	// (ok) when its commit is in the clone, or its record names a branch.
	shallow, serr := repo.IsShallow()
	on := func(rec *statestore.Deployment) (onMain, known bool) {
		if h, ok := gitops.FullID(rec.Commit); ok {
			if _, err := repo.Commit(h); err == nil {
				mb, err := repo.MergeBase(ctx, h, tip)
				if err != nil {
					return false, false
				}
				// A shallow clone's merge-base stops at its boundary: "not
				// an ancestor" may be a history cut off.
				return mb == h, mb == h || (serr == nil && !shallow)
			}
		}
		// Not in the clone: its record names the branch checked out, or
		// the --ref given. A branch deleted after its merge resolves to
		// nothing; a tag, a commit id or the default branch is no answer.
		if rec.Ref == "" || rec.Ref == "HEAD" || rec.Ref == short || rec.Ref == branch || strings.Trim(rec.Ref, "0123456789abcdef") == "" {
			return false, false
		}
		if _, err := repo.ResolveRef(rec.Ref); err == nil {
			return false, false
		}
		return false, true
	}
	if mb, err := repo.MergeBase(ctx, applied, tip); err != nil || mb != applied {
		return nil, "", false, nil
	}
	if onMain, known := on(d); onMain || !known {
		return nil, "", false, nil
	}
	var found, unplaced *statestore.Deployment
	destroyed := false
	err = earlier.each(ctx, func(r *statestore.Deployment) bool {
		if r.Result != statestore.ResultSucceeded {
			return true
		}
		if r.Operation == statestore.OpDestroy {
			destroyed = true
			return false
		}
		switch onMain, known := on(r); {
		case onMain:
			found = r
			return false
		case !known:
			unplaced = r
			return false
		}
		return true
	})
	if err != nil {
		return nil, "", false, fmt.Errorf("read the history to find the last deployment of %s: %w", branch, err)
	}
	if r := unplaced; r != nil {
		return nil, "", false, fmt.Errorf("it runs commit %s (deployment %d), deployed from %s, which is not on the default branch %s; deployment %d before it, of commit %s, cannot be placed (this clone lacks the commit and its record names no branch), so which deployment of %s this apply must come after cannot be told: fetch it (`git fetch origin %s`) and re-run",
			shortSHA(d.Commit), d.Serial, branchOf(repo, d), branch, r.Serial, shortSHA(r.Commit), branch, r.Commit)
	}
	if destroyed {
		return nil, branch, true, nil
	}
	return found, branch, true, nil
}

// commitOrder is where the commit an apply deploys stands against the
// deployed one: both resolved in the clone and their merge base, or which
// of those steps failed (failed, with the error orderCommits returns).
type commitOrder struct {
	applied, deployed, mergeBase gitops.Hash
	failed                       orderStep
}

type orderStep int

const (
	orderOK        orderStep = iota
	orderApplied             // the commit applied does not resolve
	orderDeployed            // the deployed commit is not in this clone
	orderMergeBase           // no merge base found (a shallow clone's boundary, ...)
)

// orderCommits resolves commit (the one an apply deploys) and deployed
// (the deployed commit) in repo and finds their merge base, for
// checkForward (which refuses what it cannot place) and
// warnOlderThanDeployed (which warns).
func orderCommits(ctx context.Context, repo *gitops.Repo, commit, deployed string) (commitOrder, error) {
	var o commitOrder
	var err error
	if o.applied, err = repo.ResolveRef(commit); err != nil {
		o.failed = orderApplied
		return o, err
	}
	if o.deployed, err = repo.ResolveRef(deployed); err != nil {
		o.failed = orderDeployed
		return o, err
	}
	if o.mergeBase, err = repo.MergeBase(ctx, o.applied, o.deployed); err != nil {
		o.failed = orderMergeBase
		return o, err
	}
	return o, nil
}

// commitClockSlack is how far the clock of the machine that made a
// commit may run ahead of the one that deployed: madeAfter needs a commit
// made that much later than a deployment started.
const commitClockSlack = time.Hour

// madeAfter reports whether commit was made (its committer date) well
// after the deployment d started, so that it cannot be an ancestor of
// d's commit, which existed before d started: an apply of it does not go
// back in history, whether or not the deployed commit is in the clone.
func madeAfter(repo *gitops.Repo, commit gitops.Hash, d *statestore.Deployment) bool {
	if d.StartedAt.IsZero() {
		return false
	}
	c, err := repo.Commit(commit)
	return err == nil && c.CommitDate.After(d.StartedAt.Add(commitClockSlack))
}

// warnOlderThanDeployed warns when the commit an apply deploys is an
// ancestor of the one deployed (read under the lease): the apply deploys
// older YAML, like a rollback. That is what a pipeline for an older commit
// that runs late (after a newer one deployed) does without knowing it.
// A commit that diverged from the deployed one (a branch forked before it)
// warns as plan does: the apply takes out what the deployed commit's own
// commits changed.
// When the deployed commit cannot be placed, and the commit applied was
// not made after that deployment (madeAfter), it warns that it cannot tell,
// and how to find out: a full clone that does not have it is the usual
// form of that late pipeline (its runner fetched before the newer commit
// was pushed); a shallow clone (CI's default depth-1 checkout) lacks it,
// or the history between them, on every run, and is told to use
// --forward-only and a checkout with full history. Nothing is said when
// the commit applied cannot be placed (no git).
func warnOlderThanDeployed(ctx context.Context, f *Factory, repo *gitops.Repo, key statestore.Key, commit string, st *statestore.State) {
	d := deployedRecord(st)
	if repo == nil || d == nil || commit == "" || d.Commit == "" || d.Commit == commit {
		return
	}
	o, err := orderCommits(ctx, repo, commit, d.Commit)
	switch o.failed {
	case orderApplied:
		return
	case orderDeployed, orderMergeBase:
		if madeAfter(repo, o.applied, d) {
			// Made after that deployment started: it cannot be one of
			// the deployed commit's ancestors (the usual CI run of a new
			// commit in a depth-1 checkout).
			return
		}
		if shallow, serr := repo.IsShallow(); serr == nil && shallow {
			what := "which this shallow clone does not have"
			if o.failed == orderMergeBase {
				what = "and this shallow clone lacks the history between them"
			}
			f.Warnf("%s runs commit %s (deployment %d), %s: whether this apply of %s goes back in history (deploys older YAML than what runs, as a pipeline for an older commit that runs after a newer one deployed does) cannot be told. "+
				"Apply with --forward-only to skip an older commit and refuse one it cannot place, and check out with full history (actions/checkout with fetch-depth: 0, or `git fetch --unshallow`) so panka can tell",
				key, shortSHA(d.Commit), d.Serial, what, shortSHA(commit))
			return
		}
		if o.failed == orderDeployed {
			f.Warnf("%s runs commit %s (deployment %d), which this clone does not have: it may be newer than the commit this apply deploys, %s, and this apply then deploys older YAML. "+
				"A pipeline for an older commit that runs after a newer one deployed should stop here (Ctrl-C, or decline); `git fetch origin` and `panka status --stack %s --environment %s` tell (apply --forward-only refuses instead)",
				key, shortSHA(d.Commit), d.Serial, shortSHA(commit), key.Stack, key.Environment)
			return
		}
		f.Warnf("%s runs commit %s (deployment %d): whether this apply of %s goes back in history cannot be told (%v); apply --forward-only refuses what it cannot place", key, shortSHA(d.Commit), d.Serial, shortSHA(commit), err)
		return
	}
	if o.mergeBase != o.applied {
		// Diverged (a branch that forked before the deployed commit):
		// the apply takes out what the deployed commit's own commits
		// changed, as plan warns.
		warnBehindDeployed(ctx, f, repo, key, commit, "", st, "apply")
		return
	}
	f.Warnf("%s runs commit %s (deployment %d), which is newer than the commit this apply deploys, %s (one of its ancestors): this apply deploys older YAML, as a rollback does. "+
		"A pipeline for an older commit that runs after a newer one deployed should stop here (Ctrl-C, or decline; apply --forward-only skips it); `panka rollback --to-commit %s` records it as a rollback",
		key, shortSHA(d.Commit), d.Serial, shortSHA(commit), shortSHA(commit))
}

// mergeVarValues overlays given on base, source by source.
func mergeVarValues(base, given stacks.VarValues) stacks.VarValues {
	merge := func(a, b map[string]string) map[string]string {
		if len(a) == 0 {
			return b
		}
		out := map[string]string{}
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out
	}
	return stacks.VarValues{Flags: merge(base.Flags, given.Flags), File: merge(base.File, given.File), Env: merge(base.Env, given.Env)}
}

// checkSavedVars refuses a value given now (--var, --var-file,
// PANKA_VAR_<NAME>) for a variable a saved plan recorded with another
// value: it was refused later as a stale plan ("the desired model changed
// since it was planned"), which did not say that a variable caused it.
// (Values are not printed: a variable may be secret in another stack.)
// What counts is the value the replay resolves: one given now by a source
// below the one the plan recorded (PANKA_VAR_X set in the job's
// environment at plan and apply time, overridden by --var X at plan
// time) does not apply, and is no reason to refuse.
func checkSavedVars(planFile string, saved *planner.Saved, given stacks.VarValues) error {
	recorded, _ := saved.VarValues()
	effective := mergeVarValues(recorded, given)
	var differ []string
	for name, v := range saved.Vars {
		if stacks.IsSensitive(v) {
			continue // checkSavedSecrets
		}
		if g, ok := givenVar(effective, name); ok && g != v {
			differ = append(differ, name)
		}
	}
	if len(differ) > 0 {
		sort.Strings(differ)
		return fmt.Errorf("the values given for variables %s (by --var, --var-file or PANKA_VAR_*) are not the ones %s was planned with: a saved plan applies what was planned, with the values it recorded; "+
			"leave them out (the plan replays its own), or run panka plan again with the new ones", strings.Join(differ, ", "), planFile)
	}
	// A variable the plan took from the environment file or the stack's
	// default (or left unset), given now: it overrides them, and the plan
	// was refused later as stale ("the desired model changed since it was
	// planned"), without a word of why (a PANKA_VAR_<NAME> set in the
	// apply job only, say).
	model, err := saved.DesiredModel()
	if err != nil || model == nil {
		return nil // the plan's own checks say what is wrong with it
	}
	var extra []string
	for _, v := range model.Variables {
		if _, recorded := saved.Vars[v.Name]; recorded {
			continue
		}
		if _, ok := givenVar(given, v.Name); ok {
			extra = append(extra, v.Name)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return fmt.Errorf("variables %s are given now (by --var, --var-file or PANKA_VAR_*), but %s was planned without them (with the values of the environment file or the stack's defaults): a saved plan applies what was planned; "+
		"leave them out (unset PANKA_VAR_%s), or run panka plan again with them", strings.Join(extra, ", "), planFile, strings.Join(extra, ", PANKA_VAR_"))
}

// checkSavedSecrets checks that every secret variable a saved plan was
// made with is given again (the plan holds only their hashes), all named
// at once, and with the value the plan was made with: another value would
// only be refused later as a stale plan, which does not say why.
func checkSavedSecrets(f *Factory, planFile string, saved *planner.Saved, secrets []string, vars stacks.VarValues) error {
	var missing, differ, flags []string
	for _, name := range secrets {
		v, ok := givenVar(vars, name)
		switch {
		case !ok:
			missing = append(missing, name)
			flags = append(flags, "--var "+name+"=... (or PANKA_VAR_"+name+")")
		case !stacks.SecretMatches(f.planSecretKey(), saved.Stack, saved.Environment, name, v, saved.Vars[name]):
			differ = append(differ, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s was planned with secret variables %s, which a saved plan records only as hashes: give them again: %s (or in a --var-file)",
			planFile, strings.Join(missing, ", "), strings.Join(flags, ", "))
	}
	if len(differ) > 0 {
		return fmt.Errorf("the values given for secret variables %s are not the ones %s was planned with (their hashes differ; the passphrase must also be the same): give the values used for the plan, or run panka plan again with the new ones",
			strings.Join(differ, ", "), planFile)
	}
	return nil
}

// savedSecretSources puts each secret variable given again for a saved
// plan where the plan recorded it from (--var, --var-file or
// PANKA_VAR_<NAME>): the resolved model names each variable's source, so
// a value given another way than at plan time, as the error asking for it
// allows, made the plan stale ("the desired model changed").
func savedSecretSources(saved *planner.Saved, secrets []string, vars stacks.VarValues) stacks.VarValues {
	clone := func(m map[string]string) map[string]string {
		out := make(map[string]string, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	out := stacks.VarValues{Flags: clone(vars.Flags), File: clone(vars.File), Env: clone(vars.Env)}
	for _, name := range secrets {
		v, ok := givenVar(vars, name)
		if !ok {
			continue
		}
		delete(out.Flags, name)
		delete(out.File, name)
		delete(out.Env, name)
		out.Set(saved.VarSources[name], name, v)
	}
	return out
}

// givenVar is the value given for name by --var, --var-file or
// PANKA_VAR_<name>, in that priority.
func givenVar(v stacks.VarValues, name string) (string, bool) {
	for _, m := range []map[string]string{v.Flags, v.File, v.Env} {
		if x, ok := m[name]; ok {
			return x, true
		}
	}
	return "", false
}

// runDeployment takes the lease and runs req, printing the plan and result.
func runDeployment(ctx context.Context, f *Factory, cfg *config.Resolved, df *deployFlags, secretKey []byte, req deploy.Request) error {
	// What the engine needs on this machine is checked before the lease is
	// taken: a run that cannot start leaves no lock, state or history behind.
	// (Even a run with nothing to change needs it: it may refresh drift.)
	if err := f.enginePrerequisites(cfg).Check(); err != nil {
		return fmt.Errorf("cannot %s %s, nothing was changed or recorded:\n%w", req.Operation, req.Key, err)
	}
	if m := req.Desired; m != nil && m.Provider.Name == "local" {
		// The local target writes its manifests there: a file in the
		// way (or a link to nothing) failed the engine run part way,
		// recorded as a failed deployment.
		root, err := f.RepoRoot()
		if err != nil {
			return err
		}
		dir := localManifestDir(root, m)
		if fb := folderBlocked(dir); fb != "" {
			return fmt.Errorf("cannot %s %s, nothing was changed or recorded: the local target's manifest folder %s (spec.provider.directory) cannot be used: %s", req.Operation, req.Key, dir, fb)
		}
	}
	if err := f.checkPassphrase(ctx, cfg, req.Key); err != nil {
		if !df.NewPassphrase {
			return fmt.Errorf("cannot %s %s, nothing was changed or recorded: %w", req.Operation, req.Key, err)
		}
		// Only an engine run writes its state under the new passphrase.
		req.RunEngine = true
	}
	store, err := f.Store(ctx, cfg)
	if err != nil {
		return err
	}
	if req.Operation != statestore.OpDestroy {
		// A first deployment here while the stack is deployed where an
		// earlier spec.backend put it: said before the plan and the prompt.
		if _, _, err := store.Get(ctx, req.Key); errors.Is(err, statestore.ErrNotFound) && noHistory(ctx, store, req.Key) {
			if m := f.stateElsewhere(ctx, f.Store, cfg, req.Key, "this "+req.Operation, true); m != "" {
				f.Warnf("%s", m)
			}
		}
	}
	req.AllowLostState = df.AllowLostState
	waitStart := time.Now()
	lease, err := f.AcquireLease(ctx, cfg, req.Key.Stack, req.Key.Environment, req.Operation, req.Source.Commit, df.LockTimeout)
	if err != nil {
		return err
	}
	waitedForLock := time.Since(waitStart)
	defer f.ReleaseLease(lease)
	defer f.deploying(&runningDeployment{operation: req.Operation, stack: req.Key.Stack, env: req.Key.Environment})()
	parallelism := df.Parallelism
	if parallelism == 0 {
		parallelism = cfg.Preferences.Parallelism
	}
	autoApprove := df.AutoApprove || cfg.Preferences.AutoApprove
	prog := newProgressFor(f, cfg)
	defer prog.stop()
	host, _ := os.Hostname()
	info := lease.Info()
	rt := deploy.Runtime{
		Store: store,
		NewEngine: f.engineFactory(cfg, req.Key, engineOptions{Parallelism: parallelism, Log: f.engineLog(),
			AllowDestroy: req.AllowDestroy, AllowReplace: req.AllowReplace}),
		OnEvent:          prog.event,
		EngineState:      f.engineStateFunc(cfg, req.Key),
		EngineCheckpoint: f.engineCheckpointFunc(cfg, req.Key),
		Logf: func(format string, args ...any) {
			fmt.Fprintf(f.Notices(), format+"\n", args...)
		},
		Warnf:     f.Warnf,
		SecretKey: secretKey,
		OnStart:   f.startingDeployment,
		OnRecord:  f.recordingDeployment,
		LeaseLost: func(ctx context.Context) error {
			return f.leaseLost(ctx, cfg, lease, "the deployment")
		},
		RecordWithin:  lease.GiveUpIn,
		WaitStale:     df.LockTimeout,
		WaitedForLock: waitedForLock,
		LockID:        info.ID,
		User:          info.LockedBy,
		Host:          host,
		CIRunURL:      info.Metadata.CIURL,
		PankaVersion:  Build().Version,
		Repository:    f.repositoryID(),
		TookOver:      f.takenOver(req.Key.Stack, req.Key.Environment),
		Now:           f.Now,
	}
	planShown := false
	rt.OnPlan = func(p *planner.Result) {
		prog.plan(p)
		planShown = true
		if f.JSON() {
			return
		}
		_ = p.WriteText(f.IO.Out, planner.TextOptions{Color: f.IO.ColorOut(),
			Command: req.Operation, AllowDestroy: req.AllowDestroy, AllowReplace: req.AllowReplace})
	}
	if !autoApprove {
		rt.Confirm = func(p *planner.Result) (bool, error) {
			// At the prompt a Ctrl-C ends the run at once (nothing to wait for).
			defer f.deploying(nil)()
			if !f.IO.CanPrompt() {
				return false, fmt.Errorf("%s of %s needs confirmation and there is no terminal to ask on: %s", req.Operation, req.Key, noTerminalHint(req))
			}
			if req.Operation == statestore.OpDestroy {
				return confirm(lease.Context(), f.IO.In, f.IO.ErrOut, fmt.Sprintf("This deletes every resource of %s. Type the stack name to confirm: ", req.Key), req.Key.Stack)
			}
			return confirm(lease.Context(), f.IO.In, f.IO.ErrOut, fmt.Sprintf("Do you want to %s %s? Only 'yes' will be accepted: ", req.Operation, req.Key), "yes")
		}
	}
	ectx, unwatch := f.watchStateServer(lease.Context(), cfg)
	res, err := deploy.Run(ectx, rt, req)
	unwatch()
	prog.stop()
	if lerr := lease.Lost(); lerr != nil && !errors.Is(err, locker.ErrLost) {
		err = errors.Join(err, fmt.Errorf("the lock lease was lost during the %s: %w", req.Operation, lerr))
	}
	switch {
	case res != nil && res.Deployment != nil:
		printDeployment(f, res)
	case res != nil && f.JSON() && errors.Is(err, deploy.ErrNothingToDestroy):
		// Nothing to destroy is the destroy's goal met (exit 0): its
		// JSON is the empty destroy plan and no deployment.
		printDeployment(f, res)
	case res != nil && planShown && f.JSON():
		// Refused or declined after the plan (data protection, no
		// terminal to confirm on): text shows the plan before the error,
		// so JSON does too, with no deployment.
		printDeployment(f, res)
	}
	if errors.Is(err, deploy.ErrDeclined) || errors.Is(err, errPromptInterrupted) {
		op := req.Operation
		msg := fmt.Sprintf("%s of %s cancelled: nothing was changed.", strings.ToUpper(op[:1])+op[1:], req.Key)
		if errors.Is(err, errPromptInterrupted) {
			msg = fmt.Sprintf("%s of %s %v: nothing was changed, and the lock was released.", strings.ToUpper(op[:1])+op[1:], req.Key, err)
		}
		if f.jsonLog == nil {
			fmt.Fprintln(f.Notices(), msg)
		}
		return &ExitCodeError{Code: ExitError, Msg: msg}
	}
	return err
}

// noTerminalHint says how to go on with req when it cannot be confirmed on
// a terminal. A plan saved with plan --out is of the work tree (or --ref)
// and is applied as an apply: the way to review an apply only. A promote
// deploys the commit deployed to another environment, which plan shows
// with --ref; a rollback or destroy has no saved-plan form.
func noTerminalHint(req deploy.Request) string {
	switch {
	case req.Operation == statestore.OpApply && req.Saved != nil:
		// The saved plan is the review: "review it first with plan
		// --out" sent the user round in a circle.
		return "the saved plan is what it applies: re-run with --auto-approve (it is refused if the state or the desired model changed since the plan)"
	case req.Operation == statestore.OpApply && len(req.TargetComponents) > 0:
		return fmt.Sprintf("re-run with --auto-approve (or review it first with panka plan --stack %s --environment %s --target-component %s --out FILE, with the same --ref, --var and --var-file, if any, and apply FILE --auto-approve)",
			req.Key.Stack, req.Key.Environment, strings.Join(req.TargetComponents, ","))
	case req.Operation == statestore.OpApply:
		return "re-run with --auto-approve (or review it first with panka plan --out FILE and apply FILE --auto-approve)"
	case req.Operation == statestore.OpPromote && req.Source.Commit != "":
		return fmt.Sprintf("re-run with --auto-approve to deploy %s's deployed commit %s to %s; to review what that changes first, run "+
			"panka plan --stack %s --environment %s --ref %s (with the same --var and --var-file, if any)",
			req.FromEnvironment, short(req.Source.Commit), req.Key.Environment, req.Key.Stack, req.Key.Environment, req.Source.Commit)
	default:
		return "re-run with --auto-approve"
	}
}

// engineLog is where the engine's own progress text goes: stderr with -v
// (as info lines with --log-format json).
func (f *Factory) engineLog() io.Writer {
	switch {
	case f.Flags.Verbose == 0:
		return nil
	case f.jsonLog != nil:
		return logLines{f.jsonLog}
	}
	return f.IO.ErrOut
}

// errPromptInterrupted is returned by confirm when ctx ends (Ctrl-C,
// SIGTERM, a lost lease) before the question is answered.
var errPromptInterrupted = errors.New("interrupted at the confirmation prompt")

// confirm asks question on w and reads one line from r. A read from a
// terminal does not return on Ctrl-C (the signal cancels ctx, it does not
// end the read), so the answer is awaited together with ctx: without that,
// Ctrl-C at the prompt left panka waiting for input while it held the
// lease, and a second Ctrl-C ended it as a killed run, the lease left held.
func confirm(ctx context.Context, r io.Reader, w io.Writer, question, want string) (bool, error) {
	fmt.Fprint(w, question)
	type answer struct {
		line string
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		ch <- answer{line, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil && a.line == "" {
			return false, nil
		}
		return strings.TrimSpace(a.line) == want, nil
	case <-ctx.Done():
		fmt.Fprintln(w)
		if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
			return false, fmt.Errorf("%w (%w)", errPromptInterrupted, cause) // the lease was lost
		}
		return false, fmt.Errorf("%w (Ctrl-C or a stop signal)", errPromptInterrupted)
	}
}

// withoutDoneBefore splits the plan's counts s of a deployment (res)
// into what this run changed and, before, the changes of the components
// the engine left alone because failed runs before it had made them
// (res.DoneBefore): the plan counts them, as nothing recorded them, but
// "4 created" after a run that created 3 of them read as this run having
// made all four. before is nil when there are none.
func withoutDoneBefore(s *statestore.ChangeSummary, res *deploy.Result) (now, before *statestore.ChangeSummary) {
	if s == nil || res.Plan == nil || len(res.DoneBefore) == 0 {
		return s, nil
	}
	left, done := *s, statestore.ChangeSummary{}
	for _, c := range res.Plan.Changes {
		if !slices.Contains(res.DoneBefore, c.Component) {
			continue
		}
		var from, to *int
		switch c.Action {
		case planner.ActionCreate:
			from, to = &left.Create, &done.Create
		case planner.ActionUpdate:
			from, to = &left.Update, &done.Update
		case planner.ActionReplace:
			from, to = &left.Replace, &done.Replace
		case planner.ActionDelete:
			from, to = &left.Delete, &done.Delete
		default:
			continue
		}
		if *from > 0 {
			*from--
			*to++
		}
	}
	if done == (statestore.ChangeSummary{}) {
		return s, nil
	}
	return &left, &done
}

// printDeployment reports a recorded deployment on stdout.
func printDeployment(f *Factory, res *deploy.Result) {
	d := res.Deployment
	if f.JSON() {
		// deployment is null when nothing was deployed (refused, declined).
		// Its secrets and secret references print as the plan's do.
		_ = f.PrintJSON(struct {
			Plan       *planner.Result        `json:"plan"`
			Deployment *statestore.Deployment `json:"deployment"`
			Skipped    bool                   `json:"engineSkipped"`
			DoneBefore []string               `json:"doneBefore,omitempty"`
		}{res.Plan, shownDeployment(d), res.EngineSkipped, res.DoneBefore})
		return
	}
	// ", commit abc123def456", or nothing outside git.
	commit := ""
	if d.Commit != "" {
		commit = ", commit " + short(d.Commit)
		if d.Dirty {
			commit += " (dirty)"
		}
	}
	switch d.Result {
	case statestore.ResultSucceeded:
		// The plan's counts, in components, as its "Plan: ..." line said
		// them; the engine's, in Pulumi resources, follow only where they
		// differ, labelled: "4 updated" after "1 to update" read as apply
		// doing more than the plan said.
		s := d.PlannedChanges
		if s == nil {
			s = d.Changes
		}
		s, before := withoutDoneBefore(s, res)
		fmt.Fprintf(f.IO.Out, "\n%s of %s/%s succeeded: %d created, %d updated, %d replaced, %d deleted (serial %d%s).\n",
			strings.ToUpper(d.Operation[:1])+d.Operation[1:], d.Stack, d.Environment, s.Create, s.Update, s.Replace, s.Delete, d.Serial, commit)
		if before != nil {
			them, were := "them", "they were"
			if len(res.DoneBefore) == 1 {
				them, were = "it", "it was"
			}
			// Nothing is recorded: the run that made them recorded
			// nothing (its record could not be written, or it was
			// killed), as status and plan say.
			who := "A failed or interrupted run before it"
			if res.DoneBeforeUnrecorded {
				who = "A run before it that was not recorded (its record could not be written, or it was killed)"
			}
			other := "other "
			if *s == (statestore.ChangeSummary{}) {
				other = ""
			}
			fmt.Fprintf(f.IO.Out, "%s had made the plan's %schanges already: %s (%s); the engine left %s as %s, and this deployment records %s.\n",
				who, other, changeCounts(before, ""), strings.Join(res.DoneBefore, ", "), them, were, them)
		}
		if e := d.Changes; d.ChangesFrom == statestore.ChangesFromEngine && e != nil && *e != *s {
			counts := changeCounts(e, "")
			if *e == (statestore.ChangeSummary{}) {
				counts = "none changed"
			}
			fmt.Fprintf(f.IO.Out, "Those are components, as the plan counts them; the engine's own count, in Pulumi resources: %s (a component can be several resources, and putting back drift or finishing an earlier run's changes touches some the plan did not list).\n", counts)
		}
		if len(d.Outputs) > 0 {
			fmt.Fprintln(f.IO.Out, "\nOutputs:")
			comps := make([]string, 0, len(d.Outputs))
			for c := range d.Outputs {
				comps = append(comps, c)
			}
			sort.Strings(comps)
			for _, c := range comps {
				outs := d.Outputs[c]
				names := make([]string, 0, len(outs))
				for n := range outs {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					v := outs[n]
					if stacks.IsSensitive(v) {
						v = planner.Masked
					}
					fmt.Fprintf(f.IO.Out, "  %s.%s = %v\n", c, n, v)
				}
			}
		}
	default:
		done := ""
		if s := doneBeforeStop(d.Result, d.ChangesFrom, d.Changes); s != "" {
			done = ", " + s + " before it stopped"
		}
		fmt.Fprintf(f.IO.Out, "\n%s of %s/%s %s (serial %d%s%s); the lock was released and the next apply continues from here.\n",
			strings.ToUpper(d.Operation[:1])+d.Operation[1:], d.Stack, d.Environment, d.Result, d.Serial, commit, done)
	}
}

// DestroyOptions are the inputs of destroy.
type DestroyOptions struct {
	F           *Factory
	Stack       string
	Environment string
	Deploy      deployFlags
}

func newCmdDestroy(f *Factory) *cobra.Command {
	opts := &DestroyOptions{F: f}
	cmd := &cobra.Command{
		Use:   "destroy --stack STACK --environment ENV",
		Short: "Delete everything a stack/environment deployed",
		Long: `Destroy takes the lease, plans the deletion of every deployed component,
asks you to type the stack name (or --auto-approve), deletes the resources
through Pulumi and records a destroy deployment. Data-holding components
(Database, Cache, Bucket, Queue) also need --allow-destroy.

Nothing to destroy (destroyed already, or an environment of the stack
never deployed) runs and records nothing and exits 0, with a note on
stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needStackEnv(opts.F, opts.Stack, opts.Environment, ""); err != nil {
				return err
			}
			return destroyRun(cmd.Context(), opts)
		},
	}
	stackEnvFlags(cmd.Flags(), &opts.Stack, &opts.Environment)
	markRequired(cmd, "", "stack", "environment")
	opts.Deploy.register(cmd)
	// A destroy deletes; it re-creates nothing. The flag stays accepted
	// (scripts pass a shared set of flags) but is not offered.
	_ = cmd.Flags().MarkHidden("allow-replace")
	// Nor does it run over a lost state.json: it is refused whatever.
	_ = cmd.Flags().MarkHidden("allow-lost-state")
	return cmd
}

func destroyRun(ctx context.Context, opts *DestroyOptions) error {
	f := opts.F
	cfg, err := f.deployedStackConfig(ctx, opts.Stack)
	if err != nil {
		return err
	}
	if err := removedStackUnseen(ctx, f, cfg, opts.Stack, opts.Environment); err != nil {
		return err
	}
	key := statestore.Key{Stack: opts.Stack, Environment: opts.Environment}
	if err := destroyUnknownEnv(ctx, f, cfg, key); err != nil {
		if errors.Is(err, deploy.ErrNothingToDestroy) && f.JSON() {
			printDeployment(f, &deploy.Result{Plan: planner.Plan(nil, nil, planner.Options{Header: planner.Header{Stack: key.Stack, Environment: key.Environment}}), EngineSkipped: true})
		}
		return nothingDestroyed(f, err)
	}
	req := deploy.Request{Key: key,
		Operation: statestore.OpDestroy, Source: headSource(f), AllowDestroy: opts.Deploy.AllowDestroy, AllowReplace: opts.Deploy.AllowReplace}
	return nothingDestroyed(f, runDeployment(ctx, f, cfg, &opts.Deploy, f.planSecretKey(), req))
}

// nothingDestroyed is destroy's outcome for err: a destroy with nothing
// to destroy (deploy.ErrNothingToDestroy: destroyed already, or never
// deployed) has met its goal, as terraform destroy and pulumi destroy
// exit 0 when nothing is left, so that a destroy pipeline re-run after it
// succeeded does not fail; it is said on stderr. Any other err is returned.
func nothingDestroyed(f *Factory, err error) error {
	if !errors.Is(err, deploy.ErrNothingToDestroy) {
		return err
	}
	fmt.Fprintf(f.Notices(), "%v; nothing was run or recorded.\n", err)
	return nil
}

// removedStackUnseen is destroy's error for a stack that is not in the work
// tree and has no state where panka looked (cfg's backend, those of the
// stacks' spec.backend, and that of its own stack.yaml before the commit
// that removed it): when it had a spec.backend of its own that the history
// here does not reach (a CI job's shallow clone), its state and resources
// are elsewhere, and "nothing to destroy" would leave them deployed.
func removedStackUnseen(ctx context.Context, f *Factory, cfg *config.Resolved, stack, env string) error {
	if h, err := f.findHeader(stack); err != nil || h != nil {
		return nil
	}
	if has, err := f.hasStackState(ctx, cfg, stack); err != nil || has {
		return nil
	}
	where := "the history of this clone"
	if root, err := f.RepoRoot(); err == nil {
		if repo, err := gitops.Open(root, f.GitOptions()); err == nil {
			if sh, _ := repo.IsShallow(); sh {
				where = "this shallow clone, which lacks the commits before HEAD (git fetch --unshallow, or actions/checkout with fetch-depth: 0)"
			}
			repo.Close()
		}
	}
	return fmt.Errorf("%s/%s has no state in %s: nothing to destroy there. Stack %q is not in this work tree, and no stack.yaml of it in %s names a spec.backend of its own; "+
		"if it had one, its state and resources are there: run panka destroy where that stack.yaml can be read (a full clone, or a checkout of a commit that still has the stack), "+
		"or give its backend (PANKA_BACKEND_PREFIX, PANKA_BACKEND_BUCKET)",
		stack, env, f.describeBackend(cfg), stack, where)
}

// destroyUnknownEnv is destroy's error for a stack/environment of a stack
// in the work tree with no state nor history, before a lease on it is
// taken: one whose environment the stack does not have either is a
// mistyped name (-e prd), said as outputs, drift detect and rollback say
// it, with the names there are; one it has was never deployed, said with
// the backend looked in (deploy.ErrNothingToDestroy: the name is right,
// and nothing is deployed under it). Both were "has no state: nothing to
// destroy", naming neither. nil otherwise (deployment checks what there is to
// destroy under the lease).
func destroyUnknownEnv(ctx context.Context, f *Factory, cfg *config.Resolved, key statestore.Key) error {
	if key.Validate() != nil {
		return nil
	}
	h, err := f.findHeader(key.Stack)
	if err != nil || h == nil {
		return nil
	}
	store, err := f.Store(ctx, cfg)
	if err != nil {
		return nil
	}
	if _, _, err := store.Get(ctx, key); !errors.Is(err, statestore.ErrNotFound) || !noHistory(ctx, store, key) {
		return nil
	}
	where := f.describeBackend(cfg)
	if !slices.Contains(h.Environments, key.Environment) {
		return f.unknownName(key, where)
	}
	return fmt.Errorf("%s has never been deployed (no state in %s): %w", key, where, deploy.ErrNothingToDestroy)
}

// headSource is the commit a command that deploys no YAML (destroy) runs
// at, recorded like apply's: HEAD, its branch, author and subject. Empty
// outside git or before the first commit: the command still runs.
func headSource(f *Factory) deploy.Source {
	root, err := f.RepoRoot()
	if err != nil {
		return deploy.Source{}
	}
	repo, err := gitops.Open(root, f.GitOptions())
	if err != nil {
		return deploy.Source{}
	}
	defer repo.Close()
	h, err := repo.Head()
	if err != nil {
		return deploy.Source{}
	}
	src := deploy.Source{Commit: h.String(), Ref: repo.HeadBranch()}
	if c, err := repo.Commit(h); err == nil {
		src.Author, src.Message = c.Author, c.Message
	}
	return src
}

// emptyRef refuses a --ref given empty: --ref "$RELEASE_TAG" with the
// variable unset or empty would otherwise silently take the work tree, so
// a pipeline meant to deploy a tag deployed whatever is checked out.
func emptyRef(cmd *cobra.Command, verb string) error {
	fl := cmd.Flags().Lookup("ref")
	if fl == nil || !fl.Changed || strings.TrimSpace(fl.Value.String()) != "" {
		return nil
	}
	return Usagef("--ref is empty (an unset or empty CI variable?): name the git ref or commit to %s, or omit --ref to %s the work tree", verb, verb)
}
