package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
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

func init() { register(newCmdPromote) }

// PromoteOptions are the inputs of promote.
type PromoteOptions struct {
	F      *Factory
	Stack  string
	From   string
	To     string
	Vars   varFlags
	Deploy deployFlags
}

func newCmdPromote(f *Factory) *cobra.Command {
	opts := &PromoteOptions{F: f}
	cmd := &cobra.Command{
		Use:   "promote --stack STACK --from ENV --to ENV",
		Short: "Deploy to one environment the commit last deployed to another",
		Long: `Promote deploys to --to the commit last successfully deployed to --from: that
commit's YAML is read from git (no checkout) and resolved for the --to
environment (its overlay and variables; --var, --var-file and PANKA_VAR_*
as for apply). The plan against --to's state is shown and confirmed
(--auto-approve), the deployment runs under --to's lease and is recorded as
a promote from --from.

Promote refuses when --from's last deployment failed or was interrupted, when
--from was destroyed or never deployed, and when --from runs uncommitted
changes (a dirty deployment): promote what was tested, nothing else.`,
		Example: `  panka promote --stack shop --from staging --to production
  panka promote -s shop --from dev --to staging --auto-approve`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Stack == "" || opts.From == "" || opts.To == "" {
				return Usagef("--stack, --from and --to are required")
			}
			if opts.From == opts.To {
				return Usagef("--from and --to are both %q: promote deploys one environment's commit to another", opts.From)
			}
			return promoteRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	stackEnvFlags(fl, &opts.Stack, nil)
	fl.StringVar(&opts.From, "from", "", "environment whose deployed commit is promoted")
	fl.StringVar(&opts.To, "to", "", "environment to deploy it to")
	markRequired(cmd, "", "stack", "from", "to")
	opts.Vars.register(cmd)
	opts.Deploy.register(cmd)
	return cmd
}

// promoteSource returns the deployment of from that promote deploys, or
// an error saying why there is none fit to promote.
func promoteSource(st *statestore.State, from statestore.Key) (*statestore.Deployment, error) {
	last := st.LastDeployment
	if last != nil && last.Result != statestore.ResultSucceeded {
		return nil, fmt.Errorf("the last deployment to %s (serial %d, %s of commit %s) %s: %s; fix %s first (panka status --stack %s --environment %s)",
			from, last.Serial, last.Operation, short(last.Commit), last.Result, firstLine(last.Error), from.Environment, from.Stack, from.Environment)
	}
	rec := deployedRecord(st)
	if rec == nil {
		return nil, fmt.Errorf("%s has nothing deployed (status %s): there is nothing to promote", from, st.Status)
	}
	if rec.Commit == "" {
		return nil, fmt.Errorf("the deployment of %s (serial %d) was made outside git: there is no commit to promote", from, rec.Serial)
	}
	if rec.Dirty {
		return nil, fmt.Errorf("%s runs uncommitted changes (serial %d was deployed from a dirty work tree at %s): commit them and deploy %s from the commit before promoting it",
			from, rec.Serial, short(rec.Commit), from.Environment)
	}
	if len(rec.TargetComponents) > 0 {
		return nil, fmt.Errorf("%s runs a partial deployment of %s (serial %d deployed only %s with --target-component; its other components were left as they were): deploy all of %s to %s (panka apply --stack %s --environment %s --ref %s) before promoting it",
			from, short(rec.Commit), rec.Serial, strings.Join(rec.TargetComponents, ", "), short(rec.Commit), from.Environment, from.Stack, from.Environment, rec.Commit)
	}
	return rec, nil
}

func promoteRun(ctx context.Context, opts *PromoteOptions) error {
	f := opts.F
	store, cfg, err := f.stackStore(ctx, opts.Stack)
	if err != nil {
		return err
	}
	// A --to the work tree's stack has no environment of, with no state
	// or history either, is most likely mistyped (prodution): that is
	// said before any problem of the source, as a mistyped --environment
	// is. It is not refused outright: the source's deployed commit may
	// still have an environment the work tree has dropped (promote then
	// warns, warnPromoteRemoved), so it answers only when the source
	// cannot be promoted, or its commit lacks the environment too.
	toKey := statestore.Key{Stack: opts.Stack, Environment: opts.To}
	tst, _, terr := store.Get(ctx, toKey)
	var toTypo error
	if errors.Is(terr, statestore.ErrNotFound) && noHistory(ctx, store, toKey) {
		if nerr := f.unknownName(toKey, f.describeBackend(cfg)); nerr != nil {
			toTypo = fmt.Errorf("--to: %w", nerr)
		}
	}
	orTypo := func(err error) error {
		if toTypo != nil {
			return toTypo
		}
		return err
	}
	vars, err := opts.Vars.values(ctx, f)
	if err != nil {
		return orTypo(err)
	}
	fromKey := statestore.Key{Stack: opts.Stack, Environment: opts.From}
	st, _, err := store.Get(ctx, fromKey)
	if errors.Is(err, statestore.ErrNotFound) {
		if nerr := f.unknownName(fromKey, f.describeBackend(cfg)); nerr != nil {
			return orTypo(fmt.Errorf("--from: %w", nerr))
		}
		if lerr := f.lostState(ctx, store, cfg, fromKey); lerr != nil {
			if opts.Deploy.AllowLostState {
				// The flag is for --to's state.json (deploy.Run).
				lerr = fmt.Errorf("%w. --allow-lost-state is for the state.json of --to: promote reads that of --from for the commit it promotes", lerr)
			}
			return orTypo(fmt.Errorf("--from: %w", lerr))
		}
		return orTypo(fmt.Errorf("%s has never been deployed (no state in %s): there is nothing to promote", fromKey, f.describeBackend(cfg)))
	}
	if err != nil {
		return orTypo(fmt.Errorf("read state of %s: %w", fromKey, err))
	}
	rec, err := promoteSource(st, fromKey)
	if err != nil {
		return orTypo(err)
	}
	src, err := planSource(ctx, f, rec.Commit)
	if err != nil {
		// planSource names the --ref flag of plan, which promote has not.
		var re *gitops.RefError
		if errors.As(err, &re) {
			err = re
		}
		return orTypo(fmt.Errorf("promote of %s to %s: its deployed commit %s: %w", fromKey, opts.To, short(rec.Commit), err))
	}
	defer src.close()
	// Deployed to --from: loaded as it was deployed there.
	src.legacy = true
	// A variable secret at HEAD, in the source's record or in what the
	// target runs is secret in this run too, whatever the source's commit
	// declares.
	src.moreSecrets = map[string]bool{}
	maps.Copy(src.moreSecrets, recordedSecrets(rec))
	if terr == nil {
		maps.Copy(src.moreSecrets, recordedSecrets(deployedRecord(tst), tst.LastDeployment))
	}
	maps.Copy(src.moreSecrets, headSecretVars(ctx, f, mergeVarValues(recordedVarValues(rec), vars)))
	d, err := loadDesired(ctx, f, f.Store, src, opts.Stack, opts.To, vars)
	if err != nil {
		// A mistyped --to (neither the source's commit nor the work tree
		// has it, and nothing was deployed there) is that, not a commit
		// that "predates" its file. Otherwise its errors name the commit
		// by id only: say whose it is.
		return orTypo(fmt.Errorf("promote of %s to %s (%s's deployed commit %s): %w", fromKey, opts.To, opts.From, short(rec.Commit), err))
	}
	warnUndeclared(f, vars, [][]stacks.ResolvedVar{d.model.Variables})
	d.header.Ref = opts.From + "'s deployed commit"
	d.source.Ref = rec.Ref
	fmt.Fprintf(f.Notices(), "Promoting %s (commit %s, serial %d, deployed by %s) to %s.\n", fromKey, short(rec.Commit), rec.Serial, rec.User, opts.To)
	for _, note := range promoteVarNotes(rec, d.model, d.vars, src.secretVars(src.stacksRoot(cfg), recordedVarValues(rec)), opts.To) {
		f.Warnf("%s", note)
	}
	warnPromoteRemoved(f, opts.Stack, opts.From, opts.To, rec.Commit)
	req := deploy.Request{
		Key:       statestore.Key{Stack: d.model.Stack, Environment: opts.To},
		Operation: statestore.OpPromote, Desired: d.model, Source: d.source, Vars: d.vars,
		FromEnvironment: opts.From,
		AllowDestroy:    opts.Deploy.AllowDestroy, AllowReplace: opts.Deploy.AllowReplace,
		PlanHeader: planner.Header{Desired: d.header, Vars: planner.MaskVars(d.vars)},
		// The source was read before the target's lease was taken: a
		// promote that waited for it (--lock-timeout) must not ship what
		// the source ran before a deployment that happened meanwhile.
		Check: func(target *statestore.State) error {
			now, _, err := store.Get(ctx, fromKey)
			if err != nil && !errors.Is(err, statestore.ErrNotFound) {
				return fmt.Errorf("read state of %s again before promoting it: %w", fromKey, err)
			}
			if err := promoteStillCurrent(fromKey, opts.To, rec, now); err != nil {
				return err
			}
			warnPromoteBehind(ctx, f, src.repo, fromKey, opts.To, rec.Commit, target)
			warnSourceBusy(ctx, f, cfg, fromKey, opts.To, rec)
			return nil
		},
	}
	return runDeployment(ctx, f, d.cfg, &opts.Deploy, d.key, req)
}

// warnPromoteRemoved warns when the target environment (or its whole
// stack) is no longer in the work tree, while the source's deployed commit
// still has it: the promote deploys an environment the repository removed
// (one destroyed on purpose comes back), and the next changed
// --since-deployed lists it as removed again. Nothing is said outside a
// repository whose stacks can be read.
func warnPromoteRemoved(f *Factory, stack, from, to, commit string) {
	h, err := f.findHeader(stack)
	if err != nil {
		return
	}
	switch {
	case h == nil:
		f.Warnf("stack %q is not in the work tree (HEAD) any more, but %s's deployed commit %s has it: this promote deploys %s/%s again, which changed --since-deployed then lists as removed; "+
			"if the stack was removed on purpose, stop here (Ctrl-C, or decline)", stack, from, short(commit), stack, to)
	case !slices.Contains(h.Environments, to):
		f.Warnf("%s is not in the work tree (HEAD) any more, but %s's deployed commit %s has it: this promote deploys %s/%s again, which changed --since-deployed then lists as removed; "+
			"if the environment was removed on purpose, stop here (Ctrl-C, or decline)", path.Join(h.Path, "environments", to+".yaml"), from, short(commit), stack, to)
	}
}

// warnSourceBusy warns when a run that deploys the source environment
// from holds its lease now: promote ships what from ran before that run
// (rec), which may not be what the user, who just started a deployment to
// from, means to promote. Nothing is said when the lock cannot be read.
func warnSourceBusy(ctx context.Context, f *Factory, cfg *config.Resolved, from statestore.Key, to string, rec *statestore.Deployment) {
	lk, err := f.Locker(ctx, cfg)
	if err != nil {
		return
	}
	info, err := lk.Get(ctx, locker.Key(from.Stack, from.Environment))
	if err != nil || !info.ExpiresAt.After(lockNow(lk, f.Now)) {
		return
	}
	switch info.Metadata.Operation {
	case statestore.OpApply, statestore.OpDestroy, statestore.OpRollback, statestore.OpPromote:
	default:
		return // a drift check, a state edit: the deployment stays
	}
	what := info.Metadata.Operation
	if c := info.Metadata.Commit; c != "" {
		what += " of commit " + short(c)
	}
	f.Warnf("%s is being deployed now (%s by %s, since %s): this promotes to %s what %s ran before it (serial %d, commit %s); to ship what that run deploys, wait for it and promote again",
		from, what, info.LockedBy, info.LockedAt.UTC().Format(time.RFC3339), to, from.Environment, rec.Serial, short(rec.Commit))
}

// promoteVarNotes says which variables the source's deployment rec was
// given from outside the repository (--var, --var-file, PANKA_VAR_*) that
// this promote was not given (given: the ones it was, as recorded) and
// that target, resolved for environment to, gets another value for (or,
// secret, a value that cannot be compared). Promote resolves the target
// with its own variables, so a value such as an image tag that the source
// was given on its command line is not what the target deploys: without a
// word, "ship exactly what staging runs" ships something else.
func promoteVarNotes(rec *statestore.Deployment, target *stacks.Resolved, given map[string]string, secret map[string]bool, to string) []string {
	var notes []string
	for _, name := range sortedKeysOf(rec.Vars) {
		if _, ok := given[name]; ok {
			continue
		}
		i := slices.IndexFunc(target.Variables, func(v stacks.ResolvedVar) bool { return v.Name == name })
		if i < 0 {
			continue
		}
		v := target.Variables[i]
		from := map[string]string{"environment": "its environment file", "default": "the stack's default", "unset": "nothing (unset)"}[v.Source]
		if from == "" {
			from = v.Source
		}
		recorded := rec.Vars[name]
		if v.Secret || stacks.IsSensitive(recorded) || secret[name] {
			notes = append(notes, fmt.Sprintf("secret variable %s was given to the deployment of %s (serial %d) and not to this promote, so %s takes it from %s; "+
				"to deploy the same value, give it again (--var %s=..., --var-file or PANKA_VAR_%s)",
				name, rec.Environment, rec.Serial, to, from, name, name))
			continue
		}
		now, _ := v.Value.(string)
		if v.Source != "unset" && now == recorded {
			continue
		}
		notes = append(notes, fmt.Sprintf("the deployment of %s (serial %d) was given %s=%q, this promote was not, so %s takes %s from %s: %q; "+
			"to deploy what %s runs, pass --var %s=%q",
			rec.Environment, rec.Serial, name, recorded, to, name, from, now, rec.Environment, name, recorded))
	}
	return notes
}

// warnPromoteBehind warns when the target (its state target, read under
// its lease) runs commits that commit, the source's deployed one, lacks: a
// hotfix deployed to production, or production ahead of staging. The
// promote takes out what they changed, as apply warns of an older commit
// and plan of a branch behind the deployed commit. Nothing is said when
// either commit cannot be placed (a shallow clone).
func warnPromoteBehind(ctx context.Context, f *Factory, repo *gitops.Repo, from statestore.Key, to, commit string, target *statestore.State) {
	d, n := deployedAhead(ctx, repo, commit, target)
	if n == 0 {
		return
	}
	f.Warnf("%s/%s runs commit %s (deployment %d), which has %s that %s's deployed commit %s does not: this promote takes out what they changed in %s. "+
		"If they belong there (a hotfix), deploy them to %s first and promote again; panka history --stack %s --environment %s --commits lists them",
		from.Stack, to, shortSHA(d.Commit), d.Serial, plural(n, "commit"), from.Environment, shortSHA(commit), to, from.Environment, from.Stack, to)
}

// promoteStillCurrent refuses a promote of rec, the deployment of from read
// before the target's lease was taken, when from's state read under that
// lease (now; nil when it is gone) no longer has it fit to promote: another
// run deployed, rolled back, destroyed or failed on from while the promote
// waited for the lock of to. A drift check that only moved the serial is no
// change.
func promoteStillCurrent(from statestore.Key, to string, rec *statestore.Deployment, now *statestore.State) error {
	what := "its state was removed"
	if now != nil {
		cur, err := promoteSource(now, from)
		switch {
		case err == nil && cur.ID == rec.ID:
			return nil
		case err != nil:
			what = err.Error()
		default:
			what = fmt.Sprintf("it now runs serial %d (%s of commit %s by %s)", cur.Serial, cur.Operation, short(cur.Commit), cur.User)
		}
	}
	return fmt.Errorf("%s changed while this promote waited for the lock of %s: it was read at serial %d (commit %s), and %s; nothing was promoted. "+
		"See panka status --stack %s, then run the promote again to promote what %s runs now",
		from, to, rec.Serial, short(rec.Commit), what, from.Stack, from.Environment)
}
