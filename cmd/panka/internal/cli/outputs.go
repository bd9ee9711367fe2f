package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

func init() { register(newCmdOutputs) }

// OutputsOptions are the inputs of outputs.
type OutputsOptions struct {
	F           *Factory
	Stack       string
	Environment string
	Component   string
	ShowSecrets bool
}

func newCmdOutputs(f *Factory) *cobra.Command {
	opts := &OutputsOptions{F: f}
	cmd := &cobra.Command{
		Use:   "outputs --stack STACK --environment ENV",
		Short: "Print the outputs of the last deployment",
		Long: `Outputs prints each component's outputs (url, endpoint, arn, ...) as recorded
by the last successful deployment. Sensitive outputs show as (sensitive):
panka's state keeps only their keyed hashes. --show-secrets reads the clear
values from Pulumi's encrypted state instead (needs the secrets provider,
e.g. PULUMI_CONFIG_PASSPHRASE).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needStackEnv(opts.F, opts.Stack, opts.Environment, ""); err != nil {
				return err
			}
			return outputsRun(cmd.Context(), opts)
		},
	}
	stackEnvFlags(cmd.Flags(), &opts.Stack, &opts.Environment)
	markRequired(cmd, "", "stack", "environment")
	cmd.Flags().StringVar(&opts.Component, "component", "", "only this component's outputs")
	cmd.Flags().BoolVar(&opts.ShowSecrets, "show-secrets", false, "show sensitive outputs in clear (read from Pulumi's encrypted state)")
	return cmd
}

func outputsRun(ctx context.Context, opts *OutputsOptions) error {
	f := opts.F
	key := statestore.Key{Stack: opts.Stack, Environment: opts.Environment}
	_, cfg, st, err := f.deployedState(ctx, key)
	if err != nil {
		return err
	}
	if err := outputsFrom(f, key, st); err != nil {
		return err
	}
	if run := deployingNow(ctx, f, cfg, key); run != "" {
		serial := st.Serial
		if d := deployedRecord(st); d != nil {
			serial = d.Serial
		}
		fmt.Fprintf(f.Notices(), "Note: %s is being deployed now (locked by %s): these are the outputs of deployment %d, which that run replaces when it records; read them again once it has finished\n",
			key, run, serial)
	}
	outs := st.Outputs
	if opts.ShowSecrets {
		// Pulumi reads its state from the S3 backend without a time limit.
		wctx, unwatch := f.watchStateServer(ctx, cfg)
		defer unwatch()
		eng, err := f.startEngine(wctx, cfg, key, nil, engineOptions{Log: f.engineLog()})
		if err == nil {
			defer eng.Close()
			var raw map[string]engine.Output
			if raw, err = eng.Outputs(wctx); err == nil {
				outs = groupClear(raw)
			}
		}
		if err != nil {
			if cause := context.Cause(wctx); wctx.Err() != nil && ctx.Err() == nil && cause != nil {
				err = cause // the state server stopped answering
			}
			return fmt.Errorf("read outputs of %s from Pulumi: %w", key, err)
		}
	}
	if opts.Component != "" {
		o, ok := outs[opts.Component]
		if !ok {
			names := make([]string, 0, len(outs))
			for c := range outs {
				names = append(names, c)
			}
			sort.Strings(names)
			return fmt.Errorf("%s has no outputs for component %q (components with outputs: %s)", key, opts.Component, strings.Join(names, ", "))
		}
		outs = map[string]map[string]any{opts.Component: o}
	}
	masked := map[string]map[string]any{}
	for c, o := range outs {
		masked[c] = map[string]any{}
		for n, v := range o {
			if stacks.IsSensitive(v) {
				v = planner.Masked
			}
			masked[c][n] = v
		}
	}
	if f.JSON() {
		return f.PrintJSON(masked)
	}
	comps := make([]string, 0, len(masked))
	for c := range masked {
		comps = append(comps, c)
	}
	sort.Strings(comps)
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	for _, c := range comps {
		names := make([]string, 0, len(masked[c]))
		for n := range masked[c] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(tw, "%s.%s\t%v\n", c, n, masked[c][n])
		}
	}
	return tw.Flush()
}

// outputsFrom checks that st has a successful deployment whose outputs
// can be printed. A stack/environment whose only runs failed (or that
// failed after a destroy) has none: printing its empty outputs with exit 0
// would hand a CI step "{}" as if that were what is deployed. When the
// newest run failed after an earlier success, the outputs are that
// earlier deployment's, which is said on stderr.
func outputsFrom(f *Factory, key statestore.Key, st *statestore.State) error {
	last := st.LastDeployment
	if deployedRecord(st) == nil && st.Status != statestore.StatusDeployed {
		what := fmt.Sprintf("status %s", st.Status)
		if last != nil {
			what = fmt.Sprintf("its last run, the %s of commit %s (serial %d), %s", last.Operation, short(last.Commit), last.Serial, last.Result)
			if last.Error != "" {
				what += ": " + firstLine(last.Error)
			}
		}
		return fmt.Errorf("%s has no successful deployment to read outputs from (%s); see panka status --stack %s --environment %s, fix it and run panka apply --stack %s --environment %s",
			key, what, key.Stack, key.Environment, key.Stack, key.Environment)
	}
	if ok := deployedRecord(st); ok != nil && last != nil && last.Result != statestore.ResultSucceeded {
		f.Warnf("the last run of %s, the %s of commit %s (serial %d), %s: these are the outputs of the deployment before it (serial %d, commit %s)",
			key, last.Operation, short(last.Commit), last.Serial, last.Result, ok.Serial, short(ok.Commit))
	}
	return nil
}

// deployedState reads the state of a deployed stack/environment from the
// store its stack's configuration names; never-deployed and destroyed ones
// are errors that say what to do.
func (f *Factory) deployedState(ctx context.Context, key statestore.Key) (statestore.Store, *config.Resolved, *statestore.State, error) {
	store, cfg, err := f.stackStore(ctx, key.Stack)
	if err != nil {
		return nil, nil, nil, err
	}
	st, _, err := store.Get(ctx, key)
	switch {
	case errors.Is(err, statestore.ErrNotFound):
		if run := deployingNow(ctx, f, cfg, key); run != "" {
			// Its first deployment is going on: "never deployed, run
			// panka apply" sent a CI step reading its outputs to start
			// a second one.
			return nil, nil, nil, fmt.Errorf("%s has no state yet in %s: its first deployment is running now (locked by %s); run this again once that run has finished",
				key, f.describeBackend(cfg), run)
		}
		if lerr := f.lostState(ctx, store, cfg, key); lerr != nil {
			return nil, nil, nil, lerr
		}
		return nil, nil, nil, f.notDeployed(key, cfg)
	case err != nil:
		return nil, nil, nil, fmt.Errorf("read state of %s: %w", key, err)
	case st.Status == statestore.StatusDestroyed:
		return nil, nil, nil, fmt.Errorf("%s was destroyed (serial %d): nothing is deployed", key, st.Serial)
	}
	return store, cfg, st, nil
}

// deployingNow describes the run that deploys key now (its lease is held,
// not expired nor stale, by an apply, destroy, rollback or promote), for a
// command that reads what is deployed while it may change: "" when none
// does, or the lock cannot be read in leasePeekTimeout (the command does
// not need it).
func deployingNow(ctx context.Context, f *Factory, cfg *config.Resolved, key statestore.Key) string {
	pctx, cancel := context.WithTimeout(ctx, leasePeekTimeout)
	defer cancel()
	h, now, held := heldLease(pctx, f, cfg, key)
	if !held {
		return ""
	}
	switch h.Metadata.Operation {
	case statestore.OpApply, statestore.OpDestroy, statestore.OpRollback, statestore.OpPromote:
		return describeHolder(h, now)
	}
	return ""
}

// notDeployed is the error for a stack/environment without state: the
// advice to apply it only where the work tree has it (a mistyped name must
// not send the user to deploy it).
func (f *Factory) notDeployed(key statestore.Key, cfg *config.Resolved) error {
	where := f.describeBackend(cfg)
	if err := f.unknownName(key, where); err != nil {
		return err
	}
	return fmt.Errorf("%s has never been deployed (no state in %s): run panka apply --stack %s --environment %s", key, where, key.Stack, key.Environment)
}

// unknownName is the error for a stack/environment without state (in
// where) whose stack, or environment, the work tree does not have either:
// most likely a typo, named with the names it has. nil when the work tree
// has both, when it cannot be read, and outside a repository (a CI job
// reading state: nothing to check the names against).
func (f *Factory) unknownName(key statestore.Key, where string) error {
	if root, _ := f.RepoRoot(); root == "" {
		return nil
	}
	h, err := f.findHeader(key.Stack)
	switch {
	case err != nil:
		return nil
	case h == nil:
		dym := didYouMean(key.Stack, f.workTreeStacks())
		if dym != "" {
			dym = " (" + dym + ")"
		}
		return fmt.Errorf("%s has no state in %s, and this repository has no stack %q%s: check the name (panka state list shows what has state)", key, where, key.Stack, dym)
	case !slices.Contains(h.Environments, key.Environment):
		return fmt.Errorf("%s has no state in %s, and stack %q has no environment %q (environments: %s%s): check the name (panka state list shows what has state)",
			key, where, key.Stack, key.Environment, strings.Join(h.Environments, ", "), withSemi(didYouMean(key.Environment, h.Environments)))
	}
	return nil
}

// unknownNameInStacks is unknownName where the work tree has stacks: a
// folder without any (a CI job reading state from another checkout, or
// the wrong folder) has nothing to check names against, and a read-only
// command (history, locks show) then says what the store has instead.
func (f *Factory) unknownNameInStacks(key statestore.Key, where string) error {
	err := f.unknownName(key, where)
	if err != nil && len(f.workTreeStacks()) == 0 {
		return nil
	}
	return err
}

// groupClear groups "<component>.<output>" stack outputs, keeping clear values.
func groupClear(raw map[string]engine.Output) map[string]map[string]any {
	res := map[string]map[string]any{}
	for name, o := range raw {
		c, n, ok := strings.Cut(name, ".")
		if !ok {
			continue
		}
		if res[c] == nil {
			res[c] = map[string]any{}
		}
		res[c][n] = o.Value
	}
	return res
}
