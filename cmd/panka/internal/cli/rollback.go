package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/spf13/cobra"

	"panka.dev/panka/deployer/deploy"
	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/gitops"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

func init() { register(newCmdRollback) }

// RollbackOptions are the inputs of rollback.
type RollbackOptions struct {
	F           *Factory
	Stack       string
	Environment string
	// Exactly one of ToCommit, ToVersion (> 0) and ToPrevious.
	ToCommit   string
	ToVersion  int64
	ToPrevious bool
	// Force deploys a commit that was never deployed to this environment,
	// or with secret variables that differ from the recorded ones.
	Force  bool
	Vars   varFlags
	Deploy deployFlags
}

func newCmdRollback(f *Factory) *cobra.Command {
	opts := &RollbackOptions{F: f}
	cmd := &cobra.Command{
		Use:   "rollback --stack STACK --environment ENV (--to-commit SHA | --to-version N | --to-previous)",
		Short: "Redeploy what an earlier deployment deployed: an earlier commit's YAML, or a recorded spec",
		Long: `Rollback redeploys an earlier deployment of a stack/environment.

--to-commit SHA reads that commit's YAML straight from git (no checkout) and
resolves it with the variables recorded in the history record of that
commit's deployment; variables given now (--var, --var-file, PANKA_VAR_*) win,
with a warning when they differ. Secret variables are recorded as hashes only,
so they must be given again; a value whose hash differs from the recorded one
is refused unless --force. The commit must have been deployed to this
environment before (--force deploys any commit).

--to-version N redeploys the resolved spec recorded by the deployment that
wrote state serial N (see panka history); it works even when the commit is
not in the local clone, but not for specs holding secret values (use
--to-commit with the secrets then).

--to-previous picks the newest successful deployment before the current one
whose spec differs from it (a re-apply of the same spec is skipped); after a
run that failed or was interrupted, the last successful deployment (the one
that ran before it).

The plan against the current state is shown and confirmed as for apply
(--auto-approve), the rollback runs under the stack/environment's lease, and
it is recorded as a rollback (from the deployed commit to the target one).
A rollback to what is deployed now (its commit, or its serial) changes
nothing: it says so and records nothing, unless drift found since or a
failed run needs repair.
Data-holding components the target does not have are only deleted with
--allow-destroy.`,
		Example: `  panka rollback --stack shop --environment production --to-previous
  panka rollback --stack shop --environment production --to-commit 9f8e7d6
  panka rollback -s shop -e production --to-version 12 --auto-approve`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needStackEnv(opts.F, opts.Stack, opts.Environment, ""); err != nil {
				return err
			}
			if cmd.Flags().Changed("to-commit") && strings.TrimSpace(opts.ToCommit) == "" {
				// --to-commit "$SHA" with the variable unset: "give
				// exactly one of ..." read as if it was not given.
				return Usagef("--to-commit is empty (an unset or empty CI variable?): name the commit to roll back to (panka history lists the deployed ones)")
			}
			n := 0
			if opts.ToCommit != "" {
				n++
			}
			if cmd.Flags().Changed("to-version") {
				n++
				if opts.ToVersion <= 0 {
					return Usagef("--to-version %d: give the state serial of a deployment (panka history lists them)", opts.ToVersion)
				}
			}
			if opts.ToPrevious {
				n++
			}
			if n != 1 {
				return Usagef("give exactly one of --to-commit, --to-version and --to-previous")
			}
			return rollbackRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	stackEnvFlags(fl, &opts.Stack, &opts.Environment)
	markRequired(cmd, "", "stack", "environment")
	fl.StringVar(&opts.ToCommit, "to-commit", "", "redeploy the YAML of this commit (full or short SHA, or any ref)")
	intVarP(fl, &opts.ToVersion, "to-version", "", 0, "redeploy the spec recorded by the deployment with this state serial",
		"the state serial of a deployment (panka history lists them), e.g. --to-version 12")
	fl.BoolVar(&opts.ToPrevious, "to-previous", false, "redeploy the newest earlier successful deployment whose spec differs from the current one (after a failed run: the last successful one)")
	fl.BoolVar(&opts.Force, "force", false, "deploy a commit never deployed to this environment, or secrets that differ from the recorded ones")
	opts.Vars.register(cmd)
	opts.Deploy.register(cmd)
	// A rollback reads state.json for what is deployed and is refused
	// without it, flag or not (rollbackRun says what to do instead). The
	// flag stays accepted (scripts pass a shared set of flags) but is not
	// offered.
	_ = fl.MarkHidden("allow-lost-state")
	return cmd
}

// deployedRecord is the deployment whose result is live in st: the last
// successful apply, rollback or promote; nil when nothing is deployed (never
// deployed, or destroyed).
func deployedRecord(st *statestore.State) *statestore.Deployment {
	if st == nil || st.Status == statestore.StatusDestroyed {
		return nil
	}
	d := st.LastSuccessful
	if d == nil && st.LastDeployment != nil && st.LastDeployment.Result == statestore.ResultSucceeded {
		d = st.LastDeployment
	}
	if d == nil || d.Operation == statestore.OpDestroy {
		return nil
	}
	return d
}

// isDeployment reports whether d is a successful deployment of a spec (not
// a destroy, not a failure).
func isDeployment(d *statestore.Deployment) bool {
	return d != nil && d.Result == statestore.ResultSucceeded && d.Operation != statestore.OpDestroy
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	if sha == "" {
		return "(no commit)"
	}
	return sha
}

// rollbackTarget is what a rollback deploys.
type rollbackTarget struct {
	desired *desiredModel
	record  *statestore.Deployment // the history record of the target, if any
	commit  string
}

func rollbackRun(ctx context.Context, opts *RollbackOptions) error {
	f := opts.F
	given, err := opts.Vars.values(ctx, f)
	if err != nil {
		return err
	}
	store, cfg, err := f.stackStore(ctx, opts.Stack)
	if err != nil {
		return err
	}
	key := statestore.Key{Stack: opts.Stack, Environment: opts.Environment}
	st, _, err := store.Get(ctx, key)
	if errors.Is(err, statestore.ErrNotFound) {
		if nerr := f.unknownName(key, f.describeBackend(cfg)); nerr != nil {
			return nerr // a typo: not "deploy it with panka apply"
		}
		if run := deployingNow(ctx, f, cfg, key); run != "" {
			return fmt.Errorf("%s has no state yet in %s: its first deployment is running now (locked by %s), so there is nothing to roll back to; to stop that run, interrupt it (Ctrl-C in its terminal, or cancel its CI job)",
				key, f.describeBackend(cfg), run)
		}
		if lerr := f.lostState(ctx, store, cfg, key); lerr != nil {
			if opts.Deploy.AllowLostState {
				return fmt.Errorf("%w. --allow-lost-state does not apply to rollback, which needs state.json to know what is deployed: "+
					"when what was deployed is really gone, deploy the commit wanted with panka apply --ref COMMIT --allow-lost-state", lerr)
			}
			return lerr
		}
		return fmt.Errorf("%s has never been deployed (no state in %s): there is nothing to roll back; deploy it with panka apply", key, f.describeBackend(cfg))
	}
	if err != nil {
		return fmt.Errorf("read state of %s: %w", key, err)
	}
	current := deployedRecord(st)
	history := &historyPages{store: store, key: key}
	// A variable secret in what is deployed is secret in this run too,
	// whatever the target commit declares (rollbackToCommit adds HEAD's
	// declarations, the commit's and its deployment's record).
	moreSecrets := recordedSecrets(current, st.LastDeployment)
	var tgt *rollbackTarget
	switch {
	case opts.ToVersion > 0:
		rec, err := store.Deployment(ctx, key, opts.ToVersion)
		if errors.Is(err, statestore.ErrNotFound) {
			serials, lerr := listSerials(ctx, history)
			if lerr != nil {
				return lerr
			}
			return fmt.Errorf("%s has no deployment with state serial %d (serials: %s); panka history --stack %s --environment %s lists them%s",
				key, opts.ToVersion, serials, key.Stack, key.Environment, noHistoryHint(ctx, history, key))
		}
		if err != nil {
			return fmt.Errorf("read deployment %d of %s: %w", opts.ToVersion, key, err)
		}
		if tgt, err = rollbackToRecord(ctx, f, key, rec, moreSecrets, opts.Force); err != nil {
			return err
		}
	case opts.ToPrevious:
		var rec *statestore.Deployment
		if last := st.LastDeployment; current != nil && last != nil && last.Serial > current.Serial && last.Result != statestore.ResultSucceeded {
			// A run that failed or was interrupted left what it got to:
			// the deployment before it, the one that ran until then, is
			// the previous one (as helm rollback's previous release).
			fmt.Fprintf(f.Notices(), "The last run (serial %d, %s of commit %s) %s: rolling back to the last successful deployment, which ran before it.\n",
				last.Serial, last.Operation, short(last.Commit), last.Result)
			rec = current
		} else if rec, err = previousDeployment(ctx, history, current); err != nil {
			return err
		} else if err := previousUnreadable(history, key, current, rec); err != nil {
			return err
		}
		if rec == nil && current == nil {
			return fmt.Errorf("%s has no successful deployment to roll back to (state serial %d, status %s): there is nothing to roll back to; deploy it with panka apply", key, st.Serial, st.Status)
		}
		if rec == nil {
			running := ""
			if run := deployingNow(ctx, f, cfg, key); run != "" {
				// The run going on is what the user wants undone: it
				// has not recorded yet, so it is not "the one deployed".
				running = fmt.Sprintf("; %s is being deployed now (locked by %s): to stop that run, interrupt it (Ctrl-C in its terminal, or cancel its CI job); once it has recorded, rollback --to-previous goes back to serial %d",
					key, run, current.Serial)
			}
			return fmt.Errorf("%s has no successful deployment before the one deployed now (serial %d, %s of commit %s) with a different spec: there is nothing to roll back to%s%s",
				key, current.Serial, current.Operation, short(current.Commit), noHistoryHint(ctx, history, key), running)
		}
		fmt.Fprintf(f.Notices(), "Rolling back to serial %d (%s, commit %s).\n", rec.Serial, rec.Operation, short(rec.Commit))
		if why := notTheCommit(rec); why != "" {
			// The commit's YAML is not what that deployment ran: "the
			// previous deployment" is its recorded spec.
			fmt.Fprintf(f.Notices(), "Deployment %d %s, so the YAML of commit %s is not what it deployed; using the spec it recorded.\n", rec.Serial, why, short(rec.Commit))
			if tgt, err = rollbackToRecord(ctx, f, key, rec, moreSecrets, opts.Force); err != nil {
				return fmt.Errorf("deployment %d of %s %s, so only the spec it recorded redeploys it, and %w", rec.Serial, key, why, err)
			}
			break
		}
		tgt, err = rollbackToCommit(ctx, f, key, rec.Commit, rec, given, moreSecrets, history, opts.Force)
		var missing *gitops.RefError
		if errors.As(err, &missing) && missing.Missing {
			// Not in this clone: the recorded spec still works.
			fmt.Fprintf(f.Notices(), "Commit %s is not in this clone; using the spec recorded by deployment %d.\n", short(rec.Commit), rec.Serial)
			tgt, err = rollbackToRecord(ctx, f, key, rec, moreSecrets, opts.Force)
		}
		if err != nil {
			return err
		}
	default:
		if tgt, err = rollbackToCommit(ctx, f, key, opts.ToCommit, nil, given, moreSecrets, history, opts.Force); err != nil {
			return err
		}
	}
	from := ""
	if current != nil {
		from = current.Commit
	}
	d := tgt.desired
	if d.header.Source == "history" {
		if len(given.Flags)+len(given.File) > 0 {
			f.Warnf("--var and --var-file have no effect here: this rollback redeploys the spec recorded by deployment %d as it was resolved then; to resolve the YAML of commit %s with them, roll back with --to-commit %s",
				tgt.record.Serial, short(tgt.commit), short(tgt.commit))
		}
	} else {
		warnUndeclared(f, given, [][]stacks.ResolvedVar{d.model.Variables})
	}
	req := deploy.Request{
		Key:       key,
		Operation: statestore.OpRollback, Desired: d.model, Source: d.source, Vars: d.vars,
		FromCommit: from, ToCommit: tgt.commit,
		AllowDestroy: opts.Deploy.AllowDestroy, AllowReplace: opts.Deploy.AllowReplace,
		PlanHeader: planner.Header{Desired: d.header, Vars: planner.MaskVars(d.vars)},
		Check:      func(now *statestore.State) error { return rollbackStillCurrent(key, st, now) },
		// A rollback to the deployment that is live is no rollback: as
		// kubectl rollout undo to the current revision, it says so and
		// records nothing, unless the plan under the lease finds
		// something to change or repair (drift, a failed or killed run).
		SkipUpToDate: isCurrent(current, tgt),
	}
	err = runDeployment(ctx, f, cfg, &opts.Deploy, d.key, req)
	if errors.Is(err, deploy.ErrUpToDate) {
		fmt.Fprintf(f.Notices(), "%s is already deployed at commit %s (serial %d, %s by %s): this rollback changes nothing, so nothing was run or recorded. "+
			"To undo that deployment, roll back to an earlier one: panka rollback --stack %s --environment %s --to-previous (panka history lists them).\n",
			key, short(current.Commit), current.Serial, current.Operation, dash(current.User), key.Stack, key.Environment)
		return nil
	}
	return err
}

// isCurrent reports whether tgt redeploys current, the deployment live
// now: its own record (--to-version of its serial), or the commit it
// deployed in full from a clean tree.
func isCurrent(current *statestore.Deployment, tgt *rollbackTarget) bool {
	if current == nil {
		return false
	}
	if tgt.record != nil && tgt.record.Serial == current.Serial && tgt.desired.header.Source == "history" {
		return true
	}
	return current.Commit != "" && tgt.commit == current.Commit && !current.Dirty && len(current.TargetComponents) == 0 && tgt.desired.header.Source != "history"
}

// rollbackStillCurrent refuses a rollback whose target and "from" commit
// were chosen from state read before the lease was taken (read) when the
// state under the lease (now) has moved on: another run deployed meanwhile,
// typically while this one waited for the lock (--lock-timeout).
// A drift check (panka drift detect, which holds the same lease) moves the
// serial without deploying anything: that is no change.
func rollbackStillCurrent(key statestore.Key, read, now *statestore.State) error {
	if now != nil && (now.Serial == read.Serial || sameDeployments(read, now)) {
		return nil
	}
	what := "its state was removed"
	if now != nil {
		what = fmt.Sprintf("it went from serial %d to %d", read.Serial, now.Serial)
		if d := now.LastDeployment; d != nil && d.Serial == now.Serial {
			what += fmt.Sprintf(" (%s of commit %s by %s, %s)", d.Operation, short(d.Commit), d.User, d.Result)
		}
	}
	return fmt.Errorf("the state of %s changed while this rollback waited for the lock: %s; nothing was rolled back. "+
		"See panka history --stack %s --environment %s, then run the rollback again to roll back from what is deployed now",
		key, what, key.Stack, key.Environment)
}

// sameDeployments reports whether a and b, two reads of one state, hold the
// same newest and deployed records and status (only the serial or the last
// drift check may differ).
func sameDeployments(a, b *statestore.State) bool {
	same := func(x, y *statestore.Deployment) bool {
		return (x == nil) == (y == nil) && (x == nil || x.ID == y.ID && x.Serial == y.Serial)
	}
	return a.Status == b.Status && same(a.LastDeployment, b.LastDeployment) && same(deployedRecord(a), deployedRecord(b))
}

// historyPages reads the history of one stack/environment newest first,
// a page at a time and only as far as it is looked through: a rollback
// most often goes back to one of the last deployments of a history that
// continuous deployment makes thousands long (each record one read).
type historyPages struct {
	store statestore.Store
	key   statestore.Key
	recs  []*statestore.Deployment
	// bad are the records of the pages read so far that cannot be read
	// (they are not in recs); listed counts both.
	bad    []statestore.UnreadableRecord
	listed int
	done   bool
	// first is the length of the first page (0: historyPage).
	first int
}

// historyPage is how many records historyPages reads first; each next
// page is as long as all before it (a store may list every record name to
// serve one page: a scan of the whole history takes a few pages, not
// hundreds).
const historyPage = 32

// at returns record i (0 is the newest), or nil past the oldest.
func (h *historyPages) at(ctx context.Context, i int) (*statestore.Deployment, error) {
	for i >= len(h.recs) && !h.done {
		n := max(historyPage, h.listed)
		if h.listed == 0 && h.first > 0 {
			n = h.first
		}
		page, err := h.store.History(ctx, h.key, h.listed, n)
		// A record that cannot be read does not hide the others: the
		// callers say what it means for them (unreadableIn).
		bad, err := statestore.Unreadable(err)
		if err != nil {
			return nil, fmt.Errorf("read the history of %s: %w", h.key, err)
		}
		h.recs = append(h.recs, page...)
		h.bad = append(h.bad, bad...)
		h.listed += len(page) + len(bad)
		h.done = len(page)+len(bad) < n
	}
	if i < len(h.recs) {
		return h.recs[i], nil
	}
	return nil, nil
}

// each calls fn with the records newest first until fn returns false or
// the history ends.
func (h *historyPages) each(ctx context.Context, fn func(d *statestore.Deployment) bool) error {
	for i := 0; ; i++ {
		d, err := h.at(ctx, i)
		if err != nil || d == nil {
			return err
		}
		if !fn(d) {
			return nil
		}
	}
}

// unreadableIn returns the records that cannot be read among those read
// so far whose serial is above after and below before (0: no bound).
func (h *historyPages) unreadableIn(after, before int64) []statestore.UnreadableRecord {
	var out []statestore.UnreadableRecord
	for _, b := range h.bad {
		if b.Serial > after && (before == 0 || b.Serial < before) {
			out = append(out, b)
		}
	}
	return out
}

// unreadableWalked is an error naming the records that cannot be read
// among those read between serials after and before (a walk back through
// the history that stopped at after, 0: at its oldest record), which the
// walk may have needed; nil when there are none.
func (h *historyPages) unreadableWalked(after, before int64) error {
	bad := h.unreadableIn(after, before)
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%s cannot be read: %w", unreadableNames(bad), &statestore.UnreadableError{Key: h.key, Records: bad})
}

// unreadableError is the error of a rollback that cannot tell its target
// because of the records of bad (what says how they matter), naming each
// with why it cannot be read; next is the way out without them.
func unreadableError(key statestore.Key, bad []statestore.UnreadableRecord, what, next string) error {
	return fmt.Errorf("%s of %s cannot be read, and %s; %s. Nothing was changed. Why it cannot be read: %w", unreadableNames(bad), key, what, next, &statestore.UnreadableError{Key: key, Records: bad})
}

// unreadableNames names the records of bad by serial ("history record 2",
// "history records 5, 2").
func unreadableNames(bad []statestore.UnreadableRecord) string {
	names := make([]string, len(bad))
	for i, b := range bad {
		names[i] = fmt.Sprint(b.Serial)
	}
	if len(bad) == 1 {
		return "history record " + names[0]
	}
	return "history records " + strings.Join(names, ", ")
}

// listSerials names the newest serials of history for errors.
// noHistoryHint ends the errors of a rollback that found nothing to roll
// back to when the history holds no record at all although a state is
// there: a state moved with state pull | state push carries none, and
// "nothing to roll back to" read as if there never was an earlier
// deployment. "" when there are records (or they cannot be listed).
func noHistoryHint(ctx context.Context, history *historyPages, key statestore.Key) string {
	found := false
	if err := history.each(ctx, func(*statestore.Deployment) bool { found = true; return false }); err != nil || found || len(history.bad) > 0 {
		return ""
	}
	return fmt.Sprintf(" (the history here holds no record of %s at all: a state written by panka state push carries none; to roll back through the deployments made before it was moved, copy the old backend's %s objects here first)",
		key, statestore.HistoryPrefix("", key))
}

func listSerials(ctx context.Context, history *historyPages) (string, error) {
	var s []string
	err := history.each(ctx, func(d *statestore.Deployment) bool {
		if len(s) == 10 {
			s = append(s, "and older ones")
			return false
		}
		s = append(s, fmt.Sprintf("%d (%s %s)", d.Serial, d.Operation, d.Result))
		return true
	})
	// A record that cannot be read has a serial all the same (its name).
	for _, b := range history.bad {
		s = append(s, fmt.Sprintf("%d (unreadable)", b.Serial))
	}
	if len(s) == 0 {
		return "none", err
	}
	return strings.Join(s, ", "), err
}

// previousDeployment is the newest successful deployment older than the
// current one whose spec differs from it (redeploying the same spec would
// change nothing).
func previousDeployment(ctx context.Context, history *historyPages, current *statestore.Deployment) (*statestore.Deployment, error) {
	var found *statestore.Deployment
	if current == nil {
		err := history.each(ctx, func(d *statestore.Deployment) bool {
			if isDeployment(d) {
				found = d
			}
			return found == nil
		})
		return found, err
	}
	// The current deployment's record comes before older ones (newest
	// first): its spec is known by the time they are compared with it.
	var currentSpec []byte
	err := history.each(ctx, func(d *statestore.Deployment) bool {
		if d.Serial == current.Serial {
			currentSpec = d.Spec
		}
		if d.Serial >= current.Serial || !isDeployment(d) {
			return true
		}
		if currentSpec != nil && string(d.Spec) == string(currentSpec) {
			return true
		}
		found = d
		return false
	})
	return found, err
}

// previousUnreadable refuses --to-previous when a record that cannot be
// read lies between the deployment found (prev, nil: none) and the one
// deployed now (current, nil: none): it may be the previous deployment,
// and rolling back past it would go further back than asked.
func previousUnreadable(history *historyPages, key statestore.Key, current, prev *statestore.Deployment) error {
	var after, before int64
	if prev != nil {
		after = prev.Serial
	}
	if current != nil {
		before = current.Serial
	}
	bad := history.unreadableIn(after, before)
	if len(bad) == 0 {
		return nil
	}
	now := "the deployment to roll back to"
	if current != nil {
		now = fmt.Sprintf("the deployment before the one deployed now (serial %d)", current.Serial)
	}
	next := fmt.Sprintf("restore it (docs/state.md, \"Errors\"), or roll back to a commit you know with panka rollback --stack %s --environment %s --to-commit SHA", key.Stack, key.Environment)
	if prev != nil {
		next = fmt.Sprintf("to roll back to the readable deployment before it, serial %d (%s of commit %s), run panka rollback --stack %s --environment %s --to-version %d; or restore it (docs/state.md, \"Errors\")",
			prev.Serial, prev.Operation, short(prev.Commit), key.Stack, key.Environment, prev.Serial)
	}
	return unreadableError(key, bad, "may be "+now, next)
}

// notTheCommit says why the YAML of rec's commit is not what rec deployed
// ("" when it is): deployed from uncommitted changes, or only some of its
// components (apply --target-component).
func notTheCommit(rec *statestore.Deployment) string {
	switch {
	case rec.Dirty:
		return "was deployed from uncommitted changes (dirty)"
	case len(rec.TargetComponents) > 0:
		return fmt.Sprintf("deployed only %s of its commit (--target-component)", strings.Join(rec.TargetComponents, ", "))
	}
	return ""
}

// rollbackToRecord deploys the resolved spec recorded in rec.
// moreSecrets names the variables the deployed records hold as secrets.
func rollbackToRecord(ctx context.Context, f *Factory, key statestore.Key, rec *statestore.Deployment, moreSecrets map[string]bool, force bool) (*rollbackTarget, error) {
	switch {
	case rec.Operation == statestore.OpDestroy:
		return nil, fmt.Errorf("deployment %d of %s is a destroy: to delete everything run panka destroy --stack %s --environment %s", rec.Serial, key, key.Stack, key.Environment)
	case rec.Result != statestore.ResultSucceeded && !force:
		return nil, fmt.Errorf("deployment %d of %s %s (%s), so its spec was never fully deployed; pick a successful one (panka history) or pass --force", rec.Serial, key, rec.Result, firstLine(rec.Error))
	case len(rec.Spec) == 0 || string(rec.Spec) == "null":
		return nil, fmt.Errorf("deployment %d of %s recorded no spec; roll back with --to-commit %s instead", rec.Serial, key, short(rec.Commit))
	}
	model, err := planner.DecodeModel(rec.Spec)
	if err != nil {
		return nil, fmt.Errorf("read the spec recorded by deployment %d of %s: %w", rec.Serial, key, err)
	}
	if names := sensitiveFields(model); len(names) > 0 {
		return nil, secretRecordError(key, rec, names)
	}
	if model.Stack != key.Stack || model.Environment != key.Environment {
		// A record emptied or edited by hand ("spec": {}), or copied from
		// another stack/environment's history: it said "recorded a spec
		// of /", with no way on.
		what := fmt.Sprintf("a spec of %s/%s (a record copied from another stack/environment's history?)", model.Stack, model.Environment)
		if model.Stack == "" && model.Environment == "" {
			what = "a spec that names no stack and environment (emptied or edited by hand)"
		}
		way := fmt.Sprintf("roll back with --to-commit %s instead, or restore the record (docs/state.md, \"Errors\")", rec.Commit)
		if rec.Commit == "" {
			way = "restore the record (docs/state.md, \"Errors\")"
		}
		return nil, fmt.Errorf("deployment %d of %s recorded %s, so it cannot be redeployed as recorded; nothing was changed: %s", rec.Serial, key, what, way)
	}
	// A variable recorded in clear that is secret now (declared so at
	// HEAD, or hashed in the deployed record): the recorded spec holds
	// its value in clear, where no one can tell which fields it filled,
	// so redeploying it as recorded would print and record it in clear.
	// The commit's YAML, resolved, hashes it (rollbackToCommit).
	if clear := clearSecrets(rec, moreSecrets, headSecretVars(ctx, f, recordedVarValues(rec))); len(clear) > 0 {
		if !force {
			byCommit := fmt.Sprintf("roll back to its commit instead, which treats it as secret (panka rollback --stack %s --environment %s --to-commit %s), or ", key.Stack, key.Environment, rec.Commit)
			if rec.Commit == "" {
				byCommit = "" // files no commit holds
			}
			return nil, fmt.Errorf("deployment %d of %s was given %s in clear, and %s secret now (at HEAD or in what is deployed): its recorded spec holds the value in clear, and redeploying it as recorded would show and record it so; "+
				"%spass --force to redeploy the recorded spec as it is",
				rec.Serial, key, strings.Join(clear, ", "), isAre(len(clear)), byCommit)
		}
		f.Warnf("deployment %d of %s was given %s in clear, which %s secret now; redeploying its recorded spec as it is because of --force", rec.Serial, key, strings.Join(clear, ", "), isAre(len(clear)))
	}
	// A partial deployment's spec is still partial: the record must not
	// claim its commit is deployed in full (changed --since-deployed,
	// status and promote read it).
	src := deploy.Source{Commit: rec.Commit, Ref: rec.Ref, Author: rec.CommitAuthor, Message: rec.CommitMessage, Dirty: rec.Dirty,
		Partial: rec.TargetComponents}
	key2 := f.planSecretKey()
	d := &desiredModel{model: model, source: src, key: key2, vars: rec.Vars,
		header: planner.Desired{Source: "history", Ref: fmt.Sprintf("the spec recorded by deployment %d", rec.Serial), Commit: rec.Commit, Dirty: rec.Dirty}}
	return &rollbackTarget{desired: d, record: rec, commit: rec.Commit}, nil
}

// secretRecordError refuses to redeploy rec's recorded spec, which holds
// the secret values of fields (hashes only: they cannot be deployed),
// with the rollback by commit that can, and exactly which secret
// variables it needs given again: those the deployment was given from
// outside the repository (the others come from the commit's YAML).
func secretRecordError(key statestore.Key, rec *statestore.Deployment, fields []string) error {
	msg := fmt.Sprintf("the spec recorded by deployment %d of %s holds secret values (%s), and history keeps only their hashes, so it cannot be redeployed as recorded",
		rec.Serial, key, strings.Join(fields, ", "))
	if rec.Commit == "" {
		return fmt.Errorf("%s; the deployment was made from files no commit holds, so no commit can be rolled back to either: deploy those files again with panka apply", msg)
	}
	var secrets []string
	for _, n := range sortedKeysOf(rec.Vars) {
		if stacks.IsSensitive(rec.Vars[n]) {
			secrets = append(secrets, n)
		}
	}
	cmd := fmt.Sprintf("panka rollback --stack %s --environment %s --to-commit %s", key.Stack, key.Environment, rec.Commit)
	given := "; its secret values come from the YAML of that commit"
	if len(secrets) > 0 {
		flags := make([]string, len(secrets))
		env := make([]string, len(secrets))
		for i, n := range secrets {
			flags[i] = " --var " + n + "=..."
			env[i] = "PANKA_VAR_" + n
		}
		cmd += strings.Join(flags, "")
		given = fmt.Sprintf(", giving again the secret variables deployment %d was given (%s) with --var as below, in a --var-file or as %s (panka checks them against the recorded hashes)",
			rec.Serial, strings.Join(secrets, ", "), strings.Join(env, ", "))
	}
	if rec.Dirty {
		given += "; the deployment was made from uncommitted changes, so the commit's YAML may differ from what it deployed"
	}
	return fmt.Errorf("%s: roll back to its commit instead%s:\n  %s\nif the commit is not in this clone, fetch it first (git fetch origin %s)", msg, given, cmd, rec.Commit)
}

// sensitiveFields lists component.field paths holding secret hashes.
func sensitiveFields(r *stacks.Resolved) []string {
	var out []string
	var walk func(p string, v any)
	walk = func(p string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(p+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", p, i), e)
			}
		default:
			if stacks.IsSensitive(x) {
				out = append(out, p)
			}
		}
	}
	for _, c := range r.Components {
		for k, v := range c.Spec {
			walk(c.Name+".spec."+k, v)
		}
	}
	sort.Strings(out)
	return out
}

// rollbackToCommit loads the stack's YAML at ref and resolves it with the
// variables recorded for that commit's deployment, overridden by given:
// those of want when it is a deployment of that commit (--to-previous),
// else of the newest one. The newest deployment of a commit deployed
// again with other --var values (a secret rotated, a setting changed) is
// not the one --to-previous picked: its values made the rollback a
// no-op, or refused the secrets given for the deployment it named.
// moreSecrets names the variables secret elsewhere in the run (at HEAD,
// in the deployed record): given (or recorded in clear) for a commit that
// declares them without secret: true, they are still hashed and masked.
func rollbackToCommit(ctx context.Context, f *Factory, key statestore.Key, ref string, want *statestore.Deployment, given stacks.VarValues, moreSecrets map[string]bool, history *historyPages, force bool) (*rollbackTarget, error) {
	src, err := planSource(ctx, f, ref)
	if err != nil {
		var re *gitops.RefError
		if errors.As(err, &re) && re.Missing {
			if d := recordedDeployment(ctx, history, ref); d != nil {
				// Fetching does not help when no remote has the commit
				// any more (force-pushed away), and a CI job's clone is
				// often shallow: its record still has the spec.
				return nil, fmt.Errorf("rollback of %s to %s: %w; if no remote has it any more (a force-push, a deleted branch), or to skip fetching, redeploy the spec its deployment recorded, which needs no git history: panka rollback --stack %s --environment %s --to-version %d",
					key, ref, re, key.Stack, key.Environment, d.Serial)
			}
		}
		if errors.As(err, &re) && re.Zero {
			// gitops' advice is about changed --base.
			return nil, fmt.Errorf("rollback of %s: --to-commit %s is the all-zero commit id (a new branch or tag has no \"before\" commit), not a deployed commit: give one that panka history --stack %s --environment %s lists, or --to-previous",
				key, ref, key.Stack, key.Environment)
		}
		if errors.As(err, &re) {
			// Say which rollback failed.
			return nil, fmt.Errorf("rollback of %s to %s: %w", key, ref, re)
		}
		if errors.Is(err, gitops.ErrNotRepository) {
			// planSource names --ref, which rollback has not.
			return nil, fmt.Errorf("rollback of %s: --to-commit %s reads that commit's YAML from git: %s; or redeploy a recorded spec with --to-version N or --to-previous, which need no git history",
				key, ref, strings.TrimPrefix(err.Error(), "--ref "+ref+": "))
		}
		return nil, err
	}
	defer src.close()
	// Deployed (else refused below without --force): loaded as it was.
	src.legacy = true
	commit := src.commit
	var notBefore time.Time
	if src.repo != nil {
		if c, err := src.repo.Commit(plumbing.NewHash(commit)); err == nil {
			notBefore = deployedNotBefore(c.CommitDate, f.Now())
		}
	}
	var rec *statestore.Deployment
	var deployed []string
	if want != nil && want.Commit == commit {
		rec = want
	} else if rec, deployed, err = deploymentOf(ctx, history, commit, notBefore); err != nil {
		return nil, err
	}
	// A record that cannot be read and is recent enough to be a
	// deployment of commit (named after notBefore) may be the one
	// looked for, or a newer one with other variables.
	var bad []statestore.UnreadableRecord
	if want == nil || want.Commit != commit {
		var after int64
		if rec != nil {
			after = rec.Serial
		}
		for _, b := range history.unreadableIn(after, 0) {
			if notBefore.IsZero() || !b.Named.Before(notBefore) {
				bad = append(bad, b)
			}
		}
	}
	if rec != nil && len(bad) > 0 {
		f.Warnf("%s of %s cannot be read: if it is a later deployment of %s, its variables may differ from those of deployment %d, which this rollback uses. Why it cannot be read: %v",
			unreadableNames(bad), key, short(commit), rec.Serial, &statestore.UnreadableError{Key: key, Records: bad})
	}
	if rec == nil {
		if len(deployed) > 6 {
			deployed = append(deployed[:6], "...")
		}
		list := strings.Join(deployed, ", ")
		if list == "" {
			list = "none"
		}
		if len(bad) > 0 && !force {
			return nil, unreadableError(key, bad, fmt.Sprintf("may be the deployment of commit %s, which no readable record holds (deployed commits, newest first: %s)", short(commit), list),
				fmt.Sprintf("restore it (docs/state.md, \"Errors\"), or pass --force to deploy %s with the variables given now", short(commit)))
		}
		if !force {
			if m := renamedSince(f, src, key, commit); m != "" {
				return nil, fmt.Errorf("commit %s was never deployed to %s (deployed commits, newest first: %s): %s", short(commit), key, list, m)
			}
			return nil, fmt.Errorf("commit %s was never deployed to %s (deployed commits, newest first: %s); roll back to one of those, or pass --force to deploy %s anyway",
				short(commit), key, list, short(commit))
		}
		f.Warnf("commit %s was never deployed to %s; deploying it because of --force, with the variables given now.", short(commit), key)
	}
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	sref, err := planFindStack(src, src.stacksRoot(cfg), key.Stack)
	if err != nil {
		if m := renamedSince(f, src, key, commit); m != "" {
			return nil, fmt.Errorf("stack %q did not exist at commit %s (no stack.yaml with metadata.name %s under %s/): %s", key.Stack, short(commit), key.Stack, src.stacksRoot(cfg), m)
		}
		return nil, fmt.Errorf("stack %q did not exist at commit %s (no stack.yaml with metadata.name %s under %s/): %w", key.Stack, short(commit), key.Stack, src.stacksRoot(cfg), err)
	}
	all := mergeVarValues(recordedVarValues(rec), given)
	src.moreSecrets = map[string]bool{}
	for _, m := range []map[string]bool{moreSecrets, recordedSecrets(rec), headSecretVars(ctx, f, all)} {
		maps.Copy(src.moreSecrets, m)
	}
	vars, err := rollbackVars(f, key, commit, rec, given, src.secretVars(src.stacksRoot(cfg), all), force)
	if err != nil {
		return nil, err
	}
	d, err := loadDesired(ctx, f, f.Store, src, key.Stack, key.Environment, vars)
	if err != nil {
		var se *stacks.Errors
		if errors.As(err, &se) {
			hint := ""
			if rec != nil {
				hint = fmt.Sprintf("; the spec it deployed is recorded: panka rollback --stack %s --environment %s --to-version %d", key.Stack, key.Environment, rec.Serial)
			}
			return nil, fmt.Errorf("the YAML of %s at commit %s (%s) does not load with this panka%s:\n%w", key.Stack, short(commit), sref.Path, hint, err)
		}
		return nil, err
	}
	d.header.Source = "ref"
	return &rollbackTarget{desired: d, record: rec, commit: commit}, nil
}

// deployClockSlack is how much earlier than a commit's committer date a
// record of its deployment may start: the clocks of the machine that made
// the commit and of the one that deployed it may disagree.
const deployClockSlack = 7 * 24 * time.Hour

// deployedNotBefore is when the deployments of a commit dated committed
// started at the earliest (less deployClockSlack), or zero when that says
// nothing: a date so far ahead of now that a deployment made now would
// start before it is a wrong clock's (its deployments, made at real times,
// all would).
func deployedNotBefore(committed, now time.Time) time.Time {
	if t := committed.Add(-deployClockSlack); t.Before(now) {
		return t
	}
	return time.Time{}
}

// deploymentOf returns the newest successful deployment of commit in
// history, or nil and the newest deployed commits (at most 7, for the
// error). It reads the history newest first, down to the records that
// started before notBefore (the commit's date less deployClockSlack; zero:
// all of them), and past them only as far as the list of deployed commits
// needs: a deployment of a commit starts after it was made, so a commit
// never deployed does not cost a read of a history thousands long.
func deploymentOf(ctx context.Context, history *historyPages, commit string, notBefore time.Time) (*statestore.Deployment, []string, error) {
	var rec *statestore.Deployment
	var deployed []string
	seen := map[string]bool{}
	err := history.each(ctx, func(d *statestore.Deployment) bool {
		at := d.StartedAt
		if at.IsZero() {
			at = d.EndedAt
		}
		// Older records are read only as far as the error's list needs.
		past := !notBefore.IsZero() && !at.IsZero() && at.Before(notBefore)
		if past && len(deployed) > 6 {
			return false
		}
		if !isDeployment(d) {
			return true
		}
		if d.Commit == commit {
			rec = d
			return false
		}
		if !seen[d.Commit] && d.Commit != "" && len(deployed) <= 6 {
			seen[d.Commit] = true
			deployed = append(deployed, fmt.Sprintf("%s (serial %d)", short(d.Commit), d.Serial))
		}
		return true
	})
	return rec, deployed, err
}

// recordedScan bounds how far back recordedDeployment looks: a commit that
// is gone from the clone was most often deployed recently, and a ref that
// names no deployment must not cost a read of a history thousands long.
const recordedScan = 2 * historyPage

// recordedDeployment is the newest successful deployment among the recent
// ones whose commit ref abbreviates (a hexadecimal SHA, 4 characters or
// more) and whose recorded spec --to-version can redeploy (no secret
// values: it refuses those), nil when there is none.
func recordedDeployment(ctx context.Context, history *historyPages, ref string) *statestore.Deployment {
	ref = strings.ToLower(ref)
	if len(ref) < 4 || len(ref) > 40 || strings.Trim(ref, "0123456789abcdef") != "" {
		return nil
	}
	for i := range recordedScan {
		d, err := history.at(ctx, i)
		if err != nil || d == nil {
			return nil
		}
		if isDeployment(d) && strings.HasPrefix(d.Commit, ref) {
			if model, err := planner.DecodeModel(d.Spec); err != nil || len(sensitiveFields(model)) > 0 {
				return nil
			}
			return d
		}
	}
	return nil
}

// rollbackVars merges the variables recorded by rec (the deployment of
// commit) under the ones given now. Recorded secrets are hashes: they must
// be given again, and a value whose hash differs is refused unless force.
// Given values that differ from recorded ones are warned about.
// secret names the variables secret anywhere in the run: their values
// are never printed.
func rollbackVars(f *Factory, key statestore.Key, commit string, rec *statestore.Deployment, given stacks.VarValues, secret map[string]bool, force bool) (stacks.VarValues, error) {
	if rec == nil || len(rec.Vars) == 0 {
		return given, nil
	}
	now := func(name string) (string, bool) {
		for _, m := range []map[string]string{given.Flags, given.File, given.Env} {
			if v, ok := m[name]; ok {
				return v, true
			}
		}
		return "", false
	}
	secretKey := f.planSecretKey()
	out := stacks.VarValues{Flags: given.Flags, File: given.File, Env: map[string]string{}}
	for k, v := range given.Env {
		out.Env[k] = v
	}
	var needed, differ []string
	for _, name := range sortedKeysOf(rec.Vars) {
		recorded := rec.Vars[name]
		v, ok := now(name)
		if stacks.IsSensitive(recorded) {
			switch {
			case !ok:
				needed = append(needed, name)
			case !stacks.SecretMatches(secretKey, key.Stack, key.Environment, name, v, recorded):
				differ = append(differ, name)
			}
			continue
		}
		if !ok {
			out.Env[name] = recorded
			continue
		}
		if v != recorded && secret[name] {
			f.Warnf("%s (secret: values not shown) differs from the value recorded for the deployment of %s (serial %d); using the value given now.",
				name, short(commit), rec.Serial)
		} else if v != recorded {
			f.Warnf("%s=%q differs from the value %q recorded for the deployment of %s (serial %d); using the value given now.",
				name, v, recorded, short(commit), rec.Serial)
		}
	}
	if len(needed) > 0 {
		flags := make([]string, len(needed))
		for i, n := range needed {
			flags[i] = "--var " + n + "=... (or PANKA_VAR_" + n + ")"
		}
		return out, fmt.Errorf("the deployment of %s to %s (serial %d) used secret variables %s; history keeps only their hashes, so give them again: %s",
			short(commit), key, rec.Serial, strings.Join(needed, ", "), strings.Join(flags, ", "))
	}
	if len(differ) > 0 {
		if !force {
			return out, fmt.Errorf("the values given for secret variables %s are not the ones the deployment of %s to %s (serial %d) used (their hashes differ; the passphrase must also be the same); give the values used then, or pass --force to deploy the new ones",
				strings.Join(differ, ", "), short(commit), key, rec.Serial)
		}
		f.Warnf("secret variables %s differ from the ones recorded for the deployment of %s; deploying the values given now because of --force.",
			strings.Join(differ, ", "), short(commit))
	}
	return out, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// recordedSecrets names the variables the records hold as secrets
// (keyed hashes); nil records are skipped.
func recordedSecrets(recs ...*statestore.Deployment) map[string]bool {
	var out map[string]bool
	for _, rec := range recs {
		if rec == nil {
			continue
		}
		for n, v := range rec.Vars {
			if stacks.IsSensitive(v) {
				if out == nil {
					out = map[string]bool{}
				}
				out[n] = true
			}
		}
	}
	return out
}

// recordedVarValues are rec's recorded variables as given values (nil
// rec: none), for the names a run is given or replays.
func recordedVarValues(rec *statestore.Deployment) stacks.VarValues {
	v := stacks.VarValues{Env: map[string]string{}}
	if rec != nil {
		for n, x := range rec.Vars {
			v.Env[n] = x
		}
	}
	return v
}

// headSecretVars names those of the given variables that a stack of the
// work tree (HEAD and its uncommitted changes) declares secret: true;
// nil outside git or when the work tree's stacks cannot be read (the
// target's own declarations still count).
func headSecretVars(ctx context.Context, f *Factory, given stacks.VarValues) map[string]bool {
	cfg, err := f.Config()
	if err != nil {
		return nil
	}
	src, err := planSource(ctx, f, "")
	if err != nil {
		return nil
	}
	defer src.close()
	return src.secretVars(cfg.Stacks.Root, given)
}

// clearSecrets lists, sorted, the variables rec recorded in clear that
// one of secret names (they are secret now).
func clearSecrets(rec *statestore.Deployment, secret ...map[string]bool) []string {
	var out []string
	for _, n := range sortedKeysOf(rec.Vars) {
		if stacks.IsSensitive(rec.Vars[n]) {
			continue
		}
		for _, m := range secret {
			if m[n] {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// renamedSince says, for a rollback of key to commit, that the work
// tree's folder of the stack held a stack of another metadata.name at
// that commit (the stack was renamed since): a rollback "to before the
// rename" was refused as "never deployed" (or, with --force, "did not
// exist") without a word about the rename or where the deployments of
// that time are. "" when the folder held no stack, the same one, or the
// stack is not in the work tree.
func renamedSince(f *Factory, src *planSourceFS, key statestore.Key, commit string) string {
	h, err := f.findHeaderQuiet(key.Stack)
	if err != nil || h == nil {
		return ""
	}
	old, err := stacks.ReadHeader(src.fsys, h.Path)
	if err != nil || old.Name == "" || old.Name == key.Stack || slices.Contains(f.workTreeStacks(), old.Name) {
		// (A name the work tree still has: the folders were swapped
		// or reused, not renamed.)
		return ""
	}
	return fmt.Sprintf("at commit %s its folder %s held stack %q, renamed %q since (metadata.name in %s): a stack is identified by its metadata.name, so %q has no YAML there, "+
		"and what was deployed before the rename is recorded under %s/%s (panka history --stack %s --environment %s). "+
		"To deploy that YAML as %s, restore it in a new commit (keeping metadata.name %s) and apply that",
		short(commit), h.Path, old.Name, key.Stack, path.Join(h.Path, stacks.StackFile), key.Stack,
		old.Name, key.Environment, old.Name, key.Environment, key.Stack, key.Stack)
}
