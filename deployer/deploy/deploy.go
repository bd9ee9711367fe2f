package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/deployer/planner"
	awsmodel "panka.dev/panka/deployer/target/aws/model"
	"panka.dev/panka/locker"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

// Engine runs Pulumi for one stack/environment. *engine.Client satisfies it.
type Engine interface {
	RecoverStale(ctx context.Context) (*engine.Recovery, error)
	Up(ctx context.Context, onEvent func(engine.Event)) (*engine.Result, error)
	Destroy(ctx context.Context, onEvent func(engine.Event)) (*engine.Result, error)
	// Refresh updates the engine's state from the real resources, so the
	// next Up sees (and undoes) changes made outside panka.
	Refresh(ctx context.Context, onEvent func(engine.Event)) (*engine.Result, error)
}

// Source says where the desired model came from (recorded in history).
type Source struct {
	Commit  string
	Ref     string
	Author  string
	Message string
	Dirty   bool
	// Partial names the only components of Commit whose YAML the desired
	// model holds (a rollback to the recorded spec of an apply
	// --target-component): recorded as the deployment's targetComponents,
	// as for TargetComponents, without limiting what is deployed.
	Partial []string
}

// Request is one deployment.
type Request struct {
	Key       statestore.Key
	Operation string // statestore.OpApply, OpDestroy, OpRollback, OpPromote
	// Desired is the model to deploy; nil destroys everything.
	Desired *stacks.Resolved
	Source  Source
	// Vars are the recorded variable values (secrets as keyed hashes).
	Vars map[string]string
	// TargetComponents limits the deployment to these components; the
	// others keep their deployed spec.
	TargetComponents []string
	AllowDestroy     bool
	AllowReplace     bool
	// AllowLostState deploys although state.json is missing while the
	// history records a deployment that left something deployed (state.json
	// deleted or lost): the plan is made as if nothing were deployed.
	// Without it such a run is refused before planning (LostStateError).
	AllowLostState bool
	// Saved, when set, is a saved plan that must still be current.
	Saved *planner.Saved
	// FromCommit/ToCommit (rollback) and FromEnvironment (promote) are recorded.
	FromCommit, ToCommit, FromEnvironment string
	// Header fields for the plan that only the caller knows.
	PlanHeader planner.Header
	// Watched, when set, lists for the plan (Result.Watched) the files the
	// stack watches that changed since deployed, the commit the state read
	// under the lease records: the caller knows the repository.
	Watched func(ctx context.Context, deployed string) []planner.WatchedFile
	// ChangedSinceDeployed, when set, reports whether the commit deployed
	// from resolves otherwise than deployed (the commit the state read
	// under the lease records), values given from outside left out, as
	// changed --since-deployed compares them; known is false when it
	// cannot tell. The caller knows the repository (see PlanOverrides).
	ChangedSinceDeployed func(ctx context.Context, deployed string) (changed, known bool)
	// RunEngine runs the engine even when the plan changes nothing: a new
	// secrets passphrase is taken on only by an engine run, which writes
	// its state encrypted under it.
	RunEngine bool
	// SkipUpToDate returns ErrUpToDate, with nothing run or recorded, when
	// the plan changes nothing and nothing needs repair (no drift found by
	// the last check, no failed or unrecorded run since the deployment the
	// state holds, the engine's state as that deployment left it): a
	// rollback to the deployment that is already live. An apply records a
	// run that changes nothing; a rollback "from X to X" would put in
	// history a rollback that undid nothing.
	SkipUpToDate bool
	// Check, when set, is given the state read under the lease (nil when
	// there is none) before anything is planned: a caller that chose what
	// to deploy from an earlier read refuses with an error when it moved on.
	Check func(st *statestore.State) error
}

// Runtime are the services and callbacks a deployment uses.
type Runtime struct {
	Store statestore.Store
	// NewEngine builds the engine for the model to deploy (nil for destroy:
	// the engine destroys what its state holds); deployed is what the plan
	// compared with: what state says is deployed, with the components
	// failed runs since may have left (nil: nothing). It is called before
	// the deployment is recorded: when it fails, nothing ran and Run
	// records nothing.
	NewEngine func(ctx context.Context, desired, deployed *stacks.Resolved) (Engine, error)
	// Confirm is asked when the plan has changes; nil means auto-approve.
	Confirm func(p *planner.Result) (bool, error)
	// OnPlan receives the plan before confirmation (to show it).
	OnPlan func(p *planner.Result)
	// OnEvent receives engine progress.
	OnEvent func(engine.Event)
	// Logf reports notable steps (recovery of a killed run, skipped engine).
	Logf func(format string, args ...any)
	// Warnf reports what the user should know before confirming (nil:
	// Logf, prefixed "warning: ").
	Warnf func(format string, args ...any)
	// HealthCheck runs after a successful engine run (may be nil), after
	// the engine's own check (an Engine with a Health method).
	HealthCheck func(ctx context.Context, desired *stacks.Resolved, outputs map[string]map[string]any) error
	// EngineState returns a token that changes whenever the engine's own
	// state (Pulumi's checkpoint) is written ("" when there is none or it
	// cannot be told). It is recorded in state after each engine run; a
	// different token at the next run means that something that recorded
	// no deployment wrote the engine's state since (a stopped run that
	// resumed after its lease was taken over, pulumi run by hand, files
	// copied or restored): what is deployed may then differ from the
	// state, and the run refreshes and runs the engine whatever its plan
	// says. recorded is the token state holds ("" to ask for the current
	// backend's own form): a backend that can compute the token in that
	// form returns it so, so that the engine's files copied unchanged from
	// another backend are not a change. nil: not checked.
	EngineState func(ctx context.Context, recorded string) (string, error)
	// EngineCheckpoint reads Pulumi's checkpoint of the stack (nil when
	// there is none), so that the plan after a failed run leaves out what
	// that run never reached (Planned). nil: not read.
	EngineCheckpoint func(ctx context.Context) ([]byte, error)
	// SecretKey keys the hashes of sensitive outputs in state.
	SecretKey []byte
	// OnStart is called once the run goes on to be recorded: the engine
	// has started (or is skipped, nothing to change). An error stops the
	// run there, with nothing changed or recorded: a stop signal that came
	// before it, which the user was told stops the run so (may be nil).
	OnStart func() error
	// OnRecord is called once the engine run is over, right before the
	// deployment is recorded (may be nil).
	OnRecord func()
	// LeaseLost is asked right before the deployment is recorded; it
	// returns an error when the lock lease is known to be lost (force
	// unlocked, taken over, expired). Then nothing is written: another run
	// may hold the lease and own the state by now. nil: never asked.
	LeaseLost func(ctx context.Context) error
	// RecordWithin, asked right after LeaseLost, is how long from now
	// until another run could take the lock lease (ok false: no such
	// time): the history and state writes must be done by then, and are
	// not started after it. nil: no bound but their own.
	RecordWithin func() (left time.Duration, ok bool)
	// WaitStale is how long to wait, when the recovery of a killed run
	// finds that run's Pulumi still holding its lock on this host
	// (*engine.PulumiBusyError: its panka was killed, and its engine is
	// stopping Pulumi cleanly), for that Pulumi to end: the run's
	// --lock-timeout, as that Pulumi's lock is the run's lock too. 0
	// refuses at once.
	WaitStale time.Duration
	// WaitedForLock is how much of WaitStale the run already spent
	// waiting for its lease: --lock-timeout bounds both waits together,
	// so the wait for a killed run's Pulumi gets only what is left.
	WaitedForLock time.Duration

	LockID       string
	User, Host   string
	CIRunURL     string
	PankaVersion string
	// Repository is recorded as the deployment's repository.
	Repository string
	// TookOver is the holder of the lease this run took over because its
	// process no longer ran (a killed run's), recorded in the
	// deployment's Recovered; nil when the lease was free or expired.
	TookOver *statestore.RecoveredHolder
	Now      func() time.Time
}

// Result is what a deployment did.
type Result struct {
	Plan       *planner.Result
	Deployment *statestore.Deployment // nil when nothing was applied (declined or no changes recorded)
	Recovery   *engine.Recovery
	Declined   bool
	// EngineSkipped is true when the plan had no changes and the engine was not run.
	EngineSkipped bool
	// DoneBefore names, sorted, those of Plan.DoneByFailedRuns (or the
	// components madeByUnrecordedRuns names) that the engine took no step
	// on: the runs before this one had made their changes already, so
	// this run only records them (the plan's counts include them, the
	// engine's do not).
	DoneBefore []string
	// DoneBeforeUnrecorded is true when the run that made DoneBefore's
	// changes recorded nothing (madeByUnrecordedRuns: nothing is recorded
	// for the stack, or the engine's state was written after the last
	// recorded deployment).
	DoneBeforeUnrecorded bool
	// unrecordedSince, when set, is when a run that recorded nothing may
	// have begun to change what this run's plan changes: the zero time
	// when nothing is recorded, else when the last recorded deployment
	// ended (its engine state written since).
	unrecordedSince *time.Time
	// resources is how many resources the engine manages after Up (-1:
	// the engine did not say).
	resources int
	// changes is what the engine reports it changed (nil: it did not say).
	changes *statestore.ChangeSummary
	// engineRan is set once an engine operation that may write the
	// engine's state (up, destroy, refresh) was started.
	engineRan bool
}

// ErrDeclined is returned when the user does not confirm.
var ErrDeclined = errors.New("apply cancelled: the plan was not confirmed")

// ErrNothingToDestroy is wrapped by the error of a destroy of a
// stack/environment that was destroyed already (and by a caller's own of
// one it knows by name that was never deployed): nothing was run or
// recorded. As for terraform destroy and pulumi destroy with nothing
// left, that is the destroy's goal met, not a failure: a caller may treat
// it as success (a destroy pipeline re-run after it succeeded). A state
// that is lost while its history says something was deployed is not
// this: that error refuses the destroy.
var ErrNothingToDestroy = errors.New("nothing to destroy")

// ErrUpToDate is returned, for a Request with SkipUpToDate, when what it
// deploys is deployed already: nothing was run or recorded.
var ErrUpToDate = errors.New("already deployed: nothing was run or recorded")

// ProtectedError lists data-holding components a plan would delete or
// replace without permission.
type ProtectedError struct {
	Deletes  []string // need --allow-destroy
	Replaces []string // need --allow-replace
	// Operation is what was refused ("destroy", "rollback", ...); "" reads
	// as deploy.
	Operation string
}

func (e *ProtectedError) Error() string {
	var parts []string
	if len(e.Deletes) > 0 {
		parts = append(parts, fmt.Sprintf("would delete %s (data is lost); re-run with --allow-destroy if that is intended", strings.Join(e.Deletes, ", ")))
	}
	if len(e.Replaces) > 0 {
		parts = append(parts, fmt.Sprintf("would replace %s (the old resource and its data are deleted); re-run with --allow-replace if that is intended", strings.Join(e.Replaces, ", ")))
	}
	op := e.Operation
	if op == "" || op == string(statestore.OpApply) {
		op = "deploy"
	}
	return "refusing to " + op + ": the plan " + strings.Join(parts, "; and it ") + ". Nothing was changed."
}

// CheckProtection returns a *ProtectedError when p deletes or replaces a
// data-holding component without the matching permission.
func CheckProtection(p *planner.Result, allowDestroy, allowReplace bool) error {
	e := &ProtectedError{}
	for _, c := range p.Changes {
		if !c.DataLoss {
			continue
		}
		kind := c.Kind
		if c.PreviousKind != "" {
			kind = c.PreviousKind // a kind change loses the deployed kind's data
		}
		what := fmt.Sprintf("%s %q", kind, c.Component)
		switch c.Action {
		case planner.ActionDelete:
			if !allowDestroy {
				e.Deletes = append(e.Deletes, what)
			}
		case planner.ActionUpdate:
			// Part of its data goes (a Queue's dead-letter queue): a
			// delete, though the component stays.
			if !allowDestroy {
				e.Deletes = append(e.Deletes, fmt.Sprintf("part of %s (%s changed: %s)", what, strings.Join(c.DeleteReasons, ", "), deleteReason(c)))
			}
		case planner.ActionReplace:
			if !allowReplace {
				why := ""
				if len(c.ReplaceReasons) > 0 {
					why = " (" + strings.Join(c.ReplaceReasons, ", ") + " changed)"
				}
				e.Replaces = append(e.Replaces, what+why)
			}
		}
	}
	if len(e.Deletes)+len(e.Replaces) == 0 {
		return nil
	}
	return e
}

// deleteReason is what the update c deletes, as its plan says it: the
// reason of its first field a DeleteReasons path covers.
func deleteReason(c planner.Change) string {
	for _, fc := range c.Fields {
		for _, p := range c.DeleteReasons {
			if fc.Reason != "" && (fc.Path == p || strings.HasPrefix(fc.Path, p+".")) {
				return fc.Reason
			}
		}
	}
	return "data it holds is deleted"
}

// CheckDeletionProtection refuses a plan that deletes or replaces a
// Database the aws target deployed with deletionProtection on (the
// default): RDS refuses to delete a protected instance, so the engine
// would stop at it, after deleting the components it reached first, and
// leave the stack half destroyed. The error gives the two steps: deploy
// the database with deletionProtection: false, then run the command
// again. planned is the deployed model the plan was made against.
func CheckDeletionProtection(p *planner.Result, planned *stacks.Resolved, key statestore.Key, op string) error {
	names, deletes := deletionProtected(p, planned)
	if len(names) == 0 {
		return nil
	}
	what := op
	if what == "" || op == statestore.OpApply {
		what = "deploy"
	}
	return fmt.Errorf("refusing to %s %s: the plan would %s Database %s, deployed with deletionProtection on (the default), and RDS refuses to delete a protected instance: "+
		"the run would stop there, after changing the components before it. Do it in two steps: %s. Nothing was changed",
		what, key, deletes, quoteJoin(names), twoSteps(names, key, "run this "+what+" again"))
}

// DeletionProtectionWarning is what panka plan says of a plan that
// CheckDeletionProtection would refuse ("" when it would not): command
// (apply, destroy) refuses it up front, before deleting anything.
func DeletionProtectionWarning(p *planner.Result, planned *stacks.Resolved, key statestore.Key, command string) string {
	names, deletes := deletionProtected(p, planned)
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: this plan would %s Database %s, deployed with deletionProtection on (the default), and RDS refuses to delete a protected instance: "+
		"panka %s refuses this plan before changing anything. Do it in two steps: %s",
		key, deletes, quoteJoin(names), command, twoSteps(names, key, "run panka "+command+" again"))
}

// deletionProtected names the Databases p deletes or replaces that the
// aws target deployed with deletionProtection on (planned is the deployed
// model p was made against), and says "delete" or "delete or replace".
func deletionProtected(p *planner.Result, planned *stacks.Resolved) (names []string, deletes string) {
	if planned == nil || planned.Provider.Name != "aws" {
		return nil, ""
	}
	replace := false
	for _, c := range p.Changes {
		if c.Action != planner.ActionDelete && c.Action != planner.ActionReplace {
			continue
		}
		i := slices.IndexFunc(planned.Components, func(d stacks.Component) bool { return d.Name == c.Component })
		if i < 0 || !awsmodel.DeletionProtected(&planned.Components[i]) {
			continue
		}
		names = append(names, c.Component)
		replace = replace || c.Action == planner.ActionReplace
	}
	deletes = "delete"
	if replace {
		deletes = "delete or replace"
	}
	return names, deletes
}

// CheckRefusedChanges refuses a plan that updates a component in a way
// AWS refuses (awsmodel.RefusedChanges: a Database's storage shrunk or
// its engine downgraded, as a rollback past an upgrade does): the engine
// would stop there, after changing the components before it, and leave
// the stack half deployed. desired and planned are the models the plan
// was made from.
func CheckRefusedChanges(p *planner.Result, desired, planned *stacks.Resolved, key statestore.Key, op string) error {
	refused := refusedChanges(p, desired, planned)
	if len(refused) == 0 {
		return nil
	}
	what := op
	if what == "" || op == statestore.OpApply {
		what = "deploy"
	}
	return fmt.Errorf("refusing to %s %s: AWS refuses part of this plan, and the run would stop there, after changing the components before it: %s. Nothing was changed",
		what, key, strings.Join(refused, "; "))
}

// RefusedChangesWarning is what panka plan says of a plan that
// CheckRefusedChanges would refuse ("" when it would not).
func RefusedChangesWarning(p *planner.Result, desired, planned *stacks.Resolved, key statestore.Key, command string) string {
	refused := refusedChanges(p, desired, planned)
	if len(refused) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: AWS refuses part of this plan, and panka %s refuses it before changing anything: %s", key, command, strings.Join(refused, "; "))
}

// refusedChanges lists, for the aws target, the updates of p that AWS
// refuses, each naming the component (and its file, when known).
func refusedChanges(p *planner.Result, desired, planned *stacks.Resolved) []string {
	if desired == nil || planned == nil || desired.Provider.Name != "aws" || planned.Provider.Name != "aws" {
		return nil
	}
	var out []string
	for _, c := range p.Changes {
		if c.Action != planner.ActionUpdate {
			continue
		}
		after, before := desired.Component(c.Component), planned.Component(c.Component)
		if after == nil || before == nil || after.Kind != before.Kind {
			continue
		}
		where := fmt.Sprintf("component %q (%s)", c.Component, c.Kind)
		if after.File != "" {
			where = after.File + ": " + where
		}
		for _, r := range awsmodel.RefusedChanges(after.Kind, before.Spec, after.Spec) {
			out = append(out, where+": "+r)
		}
	}
	return out
}

// twoSteps says how to delete the protected Databases names of key: deploy
// them unprotected first, then again (then).
func twoSteps(names []string, key statestore.Key, then string) string {
	overrides := make([]string, len(names))
	for i, n := range names {
		overrides[i] = fmt.Sprintf("spec.overrides.%s.deletionProtection: false", n)
	}
	return fmt.Sprintf("1. set %s in environments/%s.yaml (or spec.deletionProtection: false in the component's file), keeping everything else as deployed, and run panka apply -s %s -e %s; "+
		"2. %s", strings.Join(overrides, " and "), key.Environment, key.Stack, key.Environment, then)
}

func quoteJoin(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// Run performs the deployment. ctx should be the lease's context, so a lost
// lease stops the engine.
func Run(ctx context.Context, rt Runtime, req Request) (*Result, error) {
	if rt.Now == nil {
		rt.Now = time.Now
	}
	logf := rt.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	warnf := rt.Warnf
	if warnf == nil {
		warnf = func(format string, args ...any) { logf("warning: "+format, args...) }
	}
	state, version, err := rt.Store.Get(ctx, req.Key)
	var lastSerial int64
	var lost *statestore.Deployment // the newest record when state.json is gone
	// lostErr refuses a run over a lost state.json, once req.Check had
	// its say: a --forward-only apply of an older commit still skips.
	var lostErr error
	switch {
	case errors.Is(err, statestore.ErrNotFound):
		state, version = nil, ""
		// No state.json, but history: it was deleted or lost (by hand, a
		// bucket lifecycle rule). Numbering again from 1 would give two
		// deployments the same serial, and rollback --to-version would
		// pick either.
		h, herr := rt.Store.History(ctx, req.Key, 0, 1)
		bad, herr := statestore.Unreadable(herr)
		if herr != nil {
			return nil, historyUnread(req, 0, herr)
		}
		// A state rm, state push or drift check may have numbered the
		// lost state past the newest record (Store.MarkSerial).
		marked, merr := rt.Store.MarkedSerial(ctx, req.Key)
		if merr != nil {
			return nil, fmt.Errorf("read state of %s: no state.json, and %w", req.Key, merr)
		}
		lastSerial = marked
		switch {
		case len(bad) > 0:
			// The newest record is damaged as well: its name still
			// numbers it, and says something was deployed.
			lastSerial = max(marked, bad[0].Serial)
			if req.Operation == statestore.OpDestroy || !req.AllowLostState {
				lostErr = lostStateError(req, nil, &bad[0])
				break
			}
			warnf("%s; this %s plans as if nothing were deployed (--allow-lost-state) and records serial %d", LostStateUnreadable(req.Key, &bad[0]), req.Operation, lastSerial+1)
		case len(h) > 0:
			lastSerial, lost = max(marked, h[0].Serial), h[0]
			if req.Operation == statestore.OpDestroy {
				break // refused below, with the same story
			}
			if RecordsDeployed(h[0]) && !req.AllowLostState {
				lostErr = lostStateError(req, h[0], nil)
				break
			}
			warnf("%s and records serial %d. "+
				"To plan against the last deployment instead, stop here and restore state.json ("+statestore.RestoreHint+")",
				LostStateWarning(req.Key, h[0], "this "+string(req.Operation)), lastSerial+1)
		}
	case err != nil:
		return nil, fmt.Errorf("read state of %s: %w", req.Key, err)
	default:
		// A run killed between its history record and its state write
		// (or one whose record could not be withdrawn, or a state pushed
		// back with --force) leaves history ahead of the state: numbering
		// after the state would give two deployments one serial.
		// Only the records named since the state's last deployment (less
		// clock skew) are looked at: every run pays this check.
		h, herr := rt.Store.NewerHistory(ctx, req.Key, state.Serial, statestore.NewerSince(state))
		if herr != nil {
			return nil, historyUnread(req, state.Serial, herr)
		}
		// A state.json restored to an earlier version (the repair
		// statestore.RestoreHint names) is behind the serials drift
		// checks, state rm and state push gave since (Store.MarkSerial):
		// numbering after the state would give one of them again.
		marked, merr := rt.Store.MarkedSerial(ctx, req.Key)
		if merr != nil {
			return nil, fmt.Errorf("read state of %s: %w", req.Key, merr)
		}
		lastSerial = marked
		if h != nil {
			lastSerial = max(marked, h.Serial)
			warnf("the history of %s records serial %d (%s of commit %s by %s, %s), newer than its state (serial %d): "+
				"the run that wrote it stopped before recording its state (killed, or its state write failed), so what is deployed may differ from the state. "+
				"This %s plans against the state and records serial %d",
				req.Key, h.Serial, h.Operation, shortSHA(h.Commit), h.User, h.Result, state.Serial, req.Operation, lastSerial+1)
		}
	}
	// What runs that recorded no deployment cleared before this one: this
	// run's record takes it (Recovered.Earlier), and its state drops it.
	var pending []statestore.Recovery
	if state != nil {
		pending = state.Recoveries
	}
	// keep writes what this run cleared into the state as soon as it has
	// cleared it: the next run finds nothing left to clear, so a refusal,
	// a declined plan, a lost lease or a kill before this run's record
	// lost that an earlier run had stopped part way.
	keep := func(cleared *statestore.Recovered) {
		if state == nil || cleared.Empty() {
			return
		}
		r := statestore.Recovery{Operation: string(req.Operation), LockID: rt.LockID, User: rt.User, Host: rt.Host, At: rt.Now().UTC(), Cleared: *cleared}
		st, v, err := KeepRecovery(ctx, rt.Store, req.Key, state.Serial, r, rt.RecordWithin, rt.Now)
		if err != nil {
			warnf("could not keep what this run cleared in the state of %s (%s): %v; this run's record keeps it, if it gets to record one", req.Key, cleared, err)
			return
		}
		state, version, lastSerial = st, v, max(lastSerial, st.Serial)
	}
	keep(RecoveredRecord(rt.TookOver, nil))
	if w := OtherRepositoryWarning(req.Key, state, rt.Repository, req.Operation); w != "" {
		warnf("%s", w)
	}
	if req.Check != nil {
		if err := req.Check(state); err != nil {
			return nil, err
		}
	}
	if lostErr != nil {
		return nil, lostErr
	}
	var deployed *stacks.Resolved
	if state != nil && len(state.Spec) > 0 && string(state.Spec) != "null" {
		if deployed, err = planner.DecodeModel(state.Spec); err != nil {
			return nil, fmt.Errorf("read the deployed spec in the state of %s: %w; the state was left as it is: restore an earlier version of state.json, or push a good one with `panka state push --force FILE`", req.Key, err)
		}
	}
	desired := req.Desired
	partial := req.Source.Partial
	if len(req.TargetComponents) > 0 {
		if desired, err = Targeted(desired, deployed, req.TargetComponents); err != nil {
			return nil, err
		}
		if !bytes.Equal(desired.Canonical(), req.Desired.Canonical()) {
			// Components were left out: the record must not claim the
			// commit is deployed in full (changed --since-deployed, status).
			partial = slices.Sorted(slices.Values(req.TargetComponents))
			partial = slices.Compact(partial)
		}
	}
	header := req.PlanHeader
	header.Stack, header.Environment = req.Key.Stack, req.Key.Environment
	header.Destroy = desired == nil
	if state != nil {
		header.Deployed = DeployedHeader(state)
	}
	planned, left, tried, err := Planned(ctx, rt.Store, req.Key, state, deployed, desired, rt.EngineCheckpoint)
	if err != nil {
		return nil, err
	}
	if len(left) > 0 {
		warnf("%s", LeftWarning(req.Key, left, "this "+string(req.Operation)))
	}
	if len(tried) > 0 {
		warnf("%s", TriedWarning(req.Key, tried, "this "+string(req.Operation)))
	}
	if w := SecretKeyWarning(req.Key, deployed, desired); w != "" {
		warnf("%s", w)
	}
	planner.KeepDeployedHashes(desired, planned)
	p := planner.Plan(desired, planned, planner.Options{Header: header, Outputs: KnownOutputs(state)})
	if req.Watched != nil && desired != nil {
		p.Watched = req.Watched(ctx, header.Deployed.Commit)
	}
	p = PlanOverrides(ctx, p, desired, planned, planner.Options{Header: header, Outputs: KnownOutputs(state)}, req.ChangedSinceDeployed)
	skipped := append(componentNames(&stacks.Resolved{Components: left}), tried...)
	if done := DoneByFailedRuns(ctx, rt.Store, req.Key, state, p, skipped, rt.EngineCheckpoint); len(done) > 0 {
		warnf("%s", DoneWarning(req.Key, state, done, "this "+string(req.Operation)))
		p.DoneByFailedRuns = done
	}
	if gone := GoneByFailedRuns(ctx, rt.Store, req.Key, state, p, skipped, rt.EngineCheckpoint); len(gone) > 0 {
		warnf("%s", GoneWarning(req.Key, state, gone, "this "+string(req.Operation)))
	}
	res := &Result{Plan: p, resources: -1}
	if state == nil && lastSerial == 0 {
		// Nothing is recorded, while the engine may hold what a first
		// deployment whose record could not be written made.
		res.unrecordedSince = &time.Time{}
	}
	if req.Saved != nil {
		serial := int64(0)
		if state != nil {
			serial = state.Serial
		}
		hash := ""
		if desired != nil {
			hash = desired.Hash()
		}
		if err := req.Saved.Check(serial, state.PlanBasis(), hash); err != nil {
			return res, err
		}
	}
	if desired == nil && (state == nil || state.Status == statestore.StatusDestroyed) {
		// Before the plan is shown: an empty destroy plan reading "No
		// changes" followed by this error says two things at once. A
		// destroyed one has nothing deployed either: destroying it again
		// would only record another destroy.
		err := nothingToDestroy(req.Key, state, lost)
		res.EngineSkipped = errors.Is(err, ErrNothingToDestroy)
		return res, err
	}
	if err := CheckProtection(p, req.AllowDestroy, req.AllowReplace); err != nil {
		var pe *ProtectedError
		if errors.As(err, &pe) {
			pe.Operation = string(req.Operation)
		}
		if rt.OnPlan != nil {
			rt.OnPlan(p)
		}
		return res, err
	}
	if err := CheckDeletionProtection(p, planned, req.Key, req.Operation); err != nil {
		if rt.OnPlan != nil {
			rt.OnPlan(p)
		}
		return res, err
	}
	if err := CheckRefusedChanges(p, desired, planned, req.Key, string(req.Operation)); err != nil {
		if rt.OnPlan != nil {
			rt.OnPlan(p)
		}
		return res, err
	}
	if rt.OnPlan != nil {
		rt.OnPlan(p)
	}
	// Drift found by the last check is only undone when the engine first
	// refreshes its state from the real resources: without it, Up compares
	// with its own records and changes nothing (and the engine would be
	// skipped altogether when the spec did not change).
	var refreshed []string
	if state != nil {
		refreshed = state.LastDriftCheck.Refreshed()
	}
	drifted := desired != nil && len(refreshed) > 0
	engineMoved := engineStateMoved(ctx, rt, state)
	moved := desired != nil && engineMoved
	if moved && len(p.DoneByFailedRuns) == 0 && state.LastDeployment != nil && !state.LastDeployment.EndedAt.IsZero() {
		// A run that recorded nothing ran the engine after the last
		// recorded deployment, and may have made some of the plan's
		// changes (its record could not be written).
		res.unrecordedSince = &state.LastDeployment.EndedAt
	}
	if moved {
		warnf("the engine's state of %s was written after its last recorded deployment (serial %d): by a run that recorded nothing "+
			"(killed, or stopped while it held the lease and resumed after another took it over; or pulumi run by hand), or its files were copied or restored. "+
			"What is deployed may differ from the state, so this %s refreshes from the real resources and runs the engine, whatever the plan says",
			req.Key, LastRecorded(state), req.Operation)
	}
	// A changed dependsOn deploys nothing but is the engine's to record
	// (the order of its steps): it runs, and changes nothing.
	upToDate := !p.HasChanges() && !p.DependenciesChanged() && state != nil && state.Status == statestore.StatusDeployed && !drifted && !moved && !req.RunEngine
	if upToDate && req.SkipUpToDate && lastSerial <= state.Serial && engineStateGone(ctx, rt, req.Key, state, deployed) == nil {
		return res, ErrUpToDate
	}
	if !upToDate && rt.Confirm != nil && (p.HasChanges() || drifted || moved) {
		ok, err := rt.Confirm(p)
		if err != nil {
			return res, err
		}
		if !ok {
			res.Declined = true
			return res, ErrDeclined
		}
	}

	// The engine starts before anything is recorded: a run whose engine
	// cannot start (a missing tool, an unreadable Pulumi backend) changed
	// nothing, and history and state keep saying what is deployed.
	var eng Engine
	if !upToDate {
		if eng, err = rt.NewEngine(ctx, desired, planned); err != nil {
			err = stoppedBy(ctx, err, req)
			var se *StoppedError
			if errors.Is(err, context.Canceled) && !errors.As(err, &se) {
				return res, interruptedBeforeEngine(req)
			}
			return res, fmt.Errorf("start the deployment engine for %s (nothing was changed or recorded): %w", req.Key, err)
		}
		if c, ok := eng.(interface{ Close() error }); ok {
			defer c.Close()
		}
	}
	if rt.OnStart != nil {
		if err := rt.OnStart(); err != nil {
			return res, interruptedBeforeEngine(req)
		}
	}

	started := rt.Now()
	rec := &statestore.Deployment{
		SchemaVersion: statestore.SchemaVersion, ID: uuid.NewString(),
		Stack: req.Key.Stack, Environment: req.Key.Environment, Operation: req.Operation,
		Commit: req.Source.Commit, Ref: req.Source.Ref, CommitAuthor: req.Source.Author,
		CommitMessage: req.Source.Message, Dirty: req.Source.Dirty,
		FromCommit: req.FromCommit, ToCommit: req.ToCommit, FromEnvironment: req.FromEnvironment,
		TargetComponents: partial,
		User:             rt.User, Host: rt.Host, CIRunURL: rt.CIRunURL, PankaVersion: rt.PankaVersion, Repository: rt.Repository,
		Vars: req.Vars, StartedAt: started, LockID: rt.LockID,
		// The plan's counts until the engine says what it did (a skipped
		// engine run, or one that stopped before its summary, says nothing).
		Changes:        &statestore.ChangeSummary{Create: p.Summary.Create, Update: p.Summary.Update, Replace: p.Summary.Replace, Delete: p.Summary.Delete},
		ChangesFrom:    statestore.ChangesFromPlan,
		PlannedChanges: &statestore.ChangeSummary{Create: p.Summary.Create, Update: p.Summary.Update, Replace: p.Summary.Replace, Delete: p.Summary.Delete},
	}
	if desired != nil {
		rec.Spec = desired.Canonical()
	}

	var outputs map[string]map[string]any
	var runErr error
	if gone := engineStateGone(ctx, rt, req.Key, state, deployed); upToDate && gone != nil {
		// Nothing to change by the plan, but Pulumi's state was not moved
		// along with panka's: recording a deployment would say all is
		// well (docs/state.md, "Switching backends").
		runErr = fmt.Errorf("%w%w", gone, errRefusedBeforeEngine)
	} else if upToDate {
		res.EngineSkipped = true
		logf("no changes: the deployed spec already matches; recording the deployment without running the engine")
		outputs = state.Outputs
	} else {
		if drifted {
			logf("drift was found in %s when checked at %s: refreshing from the real resources first, so this %s puts them back",
				strings.Join(refreshed, ", "), state.LastDriftCheck.At.UTC().Format(time.RFC3339), req.Operation)
		}
		// An empty engine state is what a destroy that did not finish
		// left, or one that recorded nothing (panka killed while its
		// engine went on): not a lost one.
		emptyOK := DestroyUnfinished(state) || engineMoved
		outputs, runErr = runEngine(ctx, rt, eng, req, state, deployed, desired, drifted || moved, emptyOK, res, keep, logf)
		runErr = explainProtected(runErr, req, state, drifted, moved)
		runErr = stoppedBy(ctx, runErr, req)
		runErr = refusedForPlugin(runErr, req, res.changes)
	}
	if errors.Is(runErr, errRefusedBeforeEngine) {
		// Nothing ran: a refusal, not a deployment. Recording it would
		// mark the environment failed and move the serial on (making
		// saved plans stale) for a run that changed nothing.
		return res, runErr
	}
	// What an earlier, stopped run left and this one cleared: said on
	// stderr as it happens, and kept in the record, as that run often
	// left none of its own.
	rec.Recovered = RecoveredRecord(rt.TookOver, res.Recovery)
	if len(pending) > 0 {
		if rec.Recovered == nil {
			rec.Recovered = &statestore.Recovered{}
		}
		rec.Recovered.Earlier = pending
	}
	if res.changes != nil {
		// What the engine did, which can differ from the plan: a refresh
		// that undoes drift updates what the plan left alone, and a run
		// that failed part way did only some of it.
		rec.Changes, rec.ChangesFrom = res.changes, statestore.ChangesFromEngine
	}
	rec.EndedAt = rt.Now()
	next := nextState(state, lastSerial, req, rec, desired, outputs, runErr, ctx)
	if res.engineRan {
		next.EngineState = ""
		if rt.EngineState != nil {
			// A token that cannot be read is unknown: the next run does
			// not compare.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			next.EngineState, _ = rt.EngineState(rctx, "")
			cancel()
		}
	}
	if next.Status == statestore.StatusDeployed {
		switch {
		case res.EngineSkipped && state != nil:
			next.Resources.Resources = state.Resources.Resources
		case !res.EngineSkipped && res.resources >= 0:
			next.Resources.Resources = res.resources
		}
	}
	if drifted && next.LastDeployment.Result == statestore.ResultSucceeded {
		// Refreshed and brought back to the deployed spec.
		next.LastDriftCheck = &statestore.DriftCheck{At: rec.EndedAt}
	}
	rec.Serial = next.Serial
	rec.Result = next.LastDeployment.Result
	if runErr != nil {
		rec.Error = runErr.Error()
	}
	if rec.Result == statestore.ResultSucceeded {
		rec.Outputs = outputs
	}
	// State must be recorded even when ctx was cancelled (Ctrl-C), but not
	// by a run that lost its lease: the new holder owns the state, and a
	// write here would make its own write fail after its engine ran.
	if rt.OnRecord != nil {
		rt.OnRecord()
	}
	if rt.LeaseLost != nil {
		// Its own time: a lock server that stops answering took all of
		// the writes' 30 s here, and a deployment that succeeded was not
		// recorded with the state server answering all along.
		lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := rt.LeaseLost(lctx)
		lcancel()
		if err != nil {
			return res, &LeaseLostError{Key: req.Key, Operation: string(req.Operation), Lost: err, RunErr: runErr,
				Stopped: runErr != nil && ctx.Err() != nil, EngineSkipped: res.EngineSkipped}
		}
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// No write after the lease could be taken: a history record that
	// landed then sat among the new holder's, and a late state write made
	// the new holder's own write fail after its engine ran. (The lease
	// check above extends the lease when the lock server answers.)
	wctx, bcancel, err := LeaseBound(wctx, req.Key, rt.RecordWithin)
	defer bcancel()
	if err != nil {
		return res, errors.Join(runErr, fmt.Errorf("the %s of %s (serial %d, %s) was not recorded: %w; nothing was written to its state or history%s",
			rec.Operation, req.Key, rec.Serial, rec.Result, err, afterUnrecorded(req.Key, rec.Operation, res.EngineSkipped)))
	}
	if err := rt.Store.AppendHistory(wctx, req.Key, rec); err != nil {
		return res, errors.Join(runErr, fmt.Errorf("the %s of %s (serial %d, %s) was not recorded: write its history record: %w; nothing was written to its state or history%s",
			rec.Operation, req.Key, rec.Serial, rec.Result, StoppedAtLeaseEnd(wctx, err), afterUnrecorded(req.Key, rec.Operation, res.EngineSkipped)))
	}
	// History first (SPEC §5), then the compare-and-swap write of state:
	// when that fails, the record just appended describes a deployment that
	// was not recorded, and is withdrawn. The read and the withdrawal get
	// their own time: they change nothing another holder owns.
	if _, err := rt.Store.Put(wctx, req.Key, next, version); err != nil {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer rcancel()
		if landed(rctx, rt.Store, req.Key, rec) {
			// The write went through and only its answer failed.
			res.Deployment = rec
			return res, runErr
		}
		return res, errors.Join(runErr, notRecorded(rctx, rt.Store, req, rec, res.EngineSkipped, StoppedAtLeaseEnd(wctx, err)))
	}
	res.Deployment = rec
	return res, runErr
}

// explainProtected says, in the engine's refusal to replace protected
// components (err), what made the engine want to and where to see it. The
// plan cannot tell: it compares the desired model with the recorded state.
// After a refresh from the real resources (drift found by drift detect, or
// engine state written by a run that recorded nothing) the cause is a
// change made outside panka, which only drift detect shows; otherwise it is
// a change in the plan that the provider makes only by re-creating.
func explainProtected(err error, req Request, state *statestore.State, drifted, moved bool) error {
	var pe *engine.ProtectedError
	if !errors.As(err, &pe) || len(pe.Replace) == 0 {
		return err
	}
	key := req.Key
	detect := fmt.Sprintf("panka drift detect --stack %s --environment %s", key.Stack, key.Environment)
	switch {
	case drifted:
		pe.Why = fmt.Sprintf("This %s refreshed %s from the real resources first, because drift detect had found %s changed outside panka: "+
			"that change is what the provider can only undo by re-creating, and panka plan does not show it (it compares the YAML with the recorded state). "+
			"See what differs with %s, then put the resource back as it was deployed (or change the YAML to match it) and re-run.",
			req.Operation, key, strings.Join(state.LastDriftCheck.Refreshed(), ", "), detect)
	case moved:
		pe.Why = fmt.Sprintf("This %s refreshed %s from the real resources first, because its engine state was written by a run that recorded nothing: "+
			"what is deployed differs from what panka recorded, and panka plan does not show it (it compares the YAML with the recorded state). "+
			"See what differs with %s, then bring the resource back in line with the YAML and re-run.", req.Operation, key, detect)
	default:
		pe.Why = fmt.Sprintf("panka plan --stack %s --environment %s shows the change that forces it (as an update: the plan cannot know which changes a provider makes only by re-creating).",
			key.Stack, key.Environment)
	}
	return fmt.Errorf("the %s of %s was refused by the engine: %w", req.Operation, key, pe)
}

// refusedForPlugin makes an engine error that is a missing provider plugin
// a refusal (errRefusedBeforeEngine): the plugin serves every resource of
// the stack's target, so the engine failed before it could change any, and
// recording the run would mark the environment failed and move its serial
// on for nothing, as for a missing tool.
// A passphrase that does not decrypt the engine's state is refused the
// same way, when the engine reported no change (it fails reading its
// state, before any step): a CI secret rotated by mistake marked every
// environment it touched failed.
func refusedForPlugin(err error, req Request, changes *statestore.ChangeSummary) error {
	var mp *engine.MissingPluginError
	var pp *engine.PassphraseError
	switch {
	case errors.As(err, &mp):
	case errors.As(err, &pp) && (changes == nil || *changes == statestore.ChangeSummary{}):
	default:
		return err
	}
	return fmt.Errorf("cannot %s %s, nothing was changed or recorded: %w%w", req.Operation, req.Key, err, errRefusedBeforeEngine)
}

// interruptedBeforeEngine is req stopped by Ctrl-C or a stop signal
// before its engine started: it changed and recorded nothing. (The
// engine's own error for it, "context canceled" at the end, says less.)
func interruptedBeforeEngine(req Request) error {
	return fmt.Errorf("the %s of %s was interrupted (Ctrl-C or a stop signal) before its engine started: nothing was changed or recorded", req.Operation, req.Key)
}

// StoppedError is an engine run that ctx stopped for a reason other than
// Ctrl-C or a stop signal (a lost lease, a state server that stopped
// answering): Cause. The engine's own error only says it was interrupted,
// "(Ctrl-C or a stop signal)", so the text is the cause instead.
type StoppedError struct {
	Key       statestore.Key
	Operation string
	Cause     error
	// Err is the engine's error.
	Err error
}

func (e *StoppedError) Error() string {
	return fmt.Sprintf("the %s of %s was stopped: %v", e.Operation, e.Key, e.Cause)
}

// Unwrap gives errors.Is/As the cause and the engine's error.
func (e *StoppedError) Unwrap() []error { return []error{e.Cause, e.Err} }

// stoppedBy is runErr, or a *StoppedError when ctx ended with a cause
// other than plain cancellation (Ctrl-C, SIGTERM) while the engine ran.
func stoppedBy(ctx context.Context, runErr error, req Request) error {
	if runErr == nil || ctx.Err() == nil {
		return runErr
	}
	cause := context.Cause(ctx)
	if cause == nil || errors.Is(cause, context.Canceled) {
		return runErr
	}
	return &StoppedError{Key: req.Key, Operation: string(req.Operation), Cause: cause, Err: runErr}
}

// LeaseLostError is a deployment that lost its lock lease (taken over after
// it expired, force-unlocked, or not renewed until it ran out) and so
// recorded nothing: another run may own the state by now. When the loss
// stopped the engine (Stopped), the engine's own error only says it was
// cancelled, as after Ctrl-C: the message leads with the lost lease
// instead, the real cause, and leaves that text out.
type LeaseLostError struct {
	Key       statestore.Key
	Operation string
	// Lost is why the lease was lost (wraps locker.ErrLost).
	Lost error
	// RunErr is the engine's error, nil when it succeeded.
	RunErr error
	// Stopped is true when the lost lease cancelled the engine.
	Stopped bool
	// EngineSkipped: nothing to change, the engine did not run.
	EngineSkipped bool
}

func (e *LeaseLostError) Error() string {
	next := fmt.Sprintf("Next: panka status --stack %s shows who holds its lock now; once no other run holds it (and the lock backend answers), "+
		"re-run the %s: it plans against the recorded state and redoes this work", e.Key.Stack, e.Operation)
	if errors.Is(e.Lost, locker.ErrStoreGone) {
		// Nobody holds it: the table or bucket of the locks is gone,
		// and status would only say that it cannot read the lock.
		next = fmt.Sprintf("Next: the lock table or bucket is gone (deleted, or the setting points at another one): once it is back "+
			"(`panka backend create`, or locks.table / backend.bucket fixed), re-run the %s: it plans against the recorded state and redoes this work", e.Operation)
	}
	switch {
	case e.Stopped:
		return fmt.Sprintf("the %s of %s was stopped: its lock lease was lost while the engine ran (%v).\n"+
			"Nothing was recorded in its state or history, as another run may own them now; the engine was cancelled mid-run, "+
			"so resources it was changing may be left half-done. %s", e.Operation, e.Key, e.Lost, next)
	case e.RunErr != nil:
		return fmt.Sprintf("the %s of %s failed: %v\n"+
			"and its lock lease was lost meanwhile (%v), so nothing was recorded in its state or history, as another run may own them now. %s",
			e.Operation, e.Key, e.RunErr, e.Lost, next)
	case e.EngineSkipped:
		return fmt.Sprintf("the %s of %s was not recorded: its lock lease was lost (%v), so nothing was recorded in its state or history, "+
			"as another run may own them now; the engine did not run (nothing to change), so no resources changed. %s", e.Operation, e.Key, e.Lost, next)
	}
	return fmt.Sprintf("the %s of %s was not recorded: its lock lease was lost (%v), so nothing was recorded in its state or history, "+
		"as another run may own them now; the engine did run, so resources may have changed. %s", e.Operation, e.Key, e.Lost, next)
}

// Unwrap gives errors.Is/As the lost lease and the engine's error.
func (e *LeaseLostError) Unwrap() []error {
	if e.RunErr == nil {
		return []error{e.Lost}
	}
	return []error{e.Lost, e.RunErr}
}

// nothingToDestroy is the error for a destroy of a stack/environment that
// has no state or is destroyed already (ErrNothingToDestroy). lost is the
// newest history record when state.json is gone but history is not.
func nothingToDestroy(key statestore.Key, st *statestore.State, lost *statestore.Deployment) error {
	if st == nil && lost != nil && RecordsDeployed(lost) {
		// "Nothing to destroy" would be wrong: what that deployment made
		// may still exist, and Pulumi's own state may still list it.
		return fmt.Errorf("%s has no state, but its history records deployments up to serial %d (%s of commit %s by %s, %s): "+
			"its state.json was deleted or lost, so what was deployed may still exist. Restore state.json first "+
			"("+statestore.RestoreHint+"), then destroy; nothing was changed",
			key, lost.Serial, lost.Operation, shortSHA(lost.Commit), lost.User, lost.Result)
	}
	if st == nil && lost == nil {
		// Not ErrNothingToDestroy: with neither state nor history, the
		// caller cannot tell a mistyped name from one never deployed.
		return fmt.Errorf("%s has no state: nothing to destroy", key)
	}
	var d *statestore.Deployment
	var where string
	if st != nil {
		d, where = st.LastDeployment, fmt.Sprintf("state serial %d", st.Serial)
	} else {
		// Its newest record, a successful destroy, says so.
		d, where = lost, fmt.Sprintf("history serial %d; its state.json is gone since", lost.Serial)
	}
	by := ""
	if d != nil && d.Operation == statestore.OpDestroy {
		if d.User != "" {
			by += " by " + d.User
		}
		if !d.EndedAt.IsZero() {
			by += " at " + d.EndedAt.UTC().Format(time.RFC3339)
		}
	}
	return fmt.Errorf("%s was already destroyed%s (%s): %w", key, by, where, ErrNothingToDestroy)
}

// landed reports whether the state now holds rec: a state write that
// returned an error (a timeout, a failed fsync) may still have been stored.
func landed(ctx context.Context, store statestore.Store, key statestore.Key, rec *statestore.Deployment) bool {
	st, _, err := store.Get(ctx, key)
	return err == nil && st.Serial == rec.Serial && st.LastDeployment != nil && st.LastDeployment.ID == rec.ID
}

// notRecorded handles a failed state write after the history append: it
// withdraws the record and returns the error that says what happened and
// what to do next.
func notRecorded(ctx context.Context, store statestore.Store, req Request, rec *statestore.Deployment, engineSkipped bool, putErr error) error {
	var msg string
	if errors.Is(putErr, statestore.ErrConflict) {
		if now := describeState(ctx, store, req.Key); now != "" {
			msg += " (" + now + ")"
		}
	}
	name, _ := statestore.HistoryName(rec)
	object := statestore.HistoryPrefix("", req.Key) + name
	if err := store.RemoveHistory(ctx, req.Key, rec); err != nil {
		msg += fmt.Sprintf("; the history record it had written could not be withdrawn (%v): %s (under backend.prefix, if set) remains and describes a deployment that was not recorded; delete it, or panka history and rollback --to-commit will show it", err, object)
	} else {
		msg += "; the history record it had written was withdrawn, so history does not show it"
	}
	msg += afterUnrecorded(req.Key, rec.Operation, engineSkipped)
	return fmt.Errorf("the %s of %s (serial %d, %s) was not recorded: write state: %w%s", rec.Operation, req.Key, rec.Serial, rec.Result, putErr, msg)
}

// leaseEnds is why writes under a lock lease stop at by (LeaseBound):
// unless a heartbeat renews its lock lease before then, the lease is given
// up at by, and another run could take the lock soon after.
func leaseEnds(key statestore.Key, by time.Time) error {
	return fmt.Errorf("its lock lease on %s was not renewed in time (the lock server did not answer) and may be taken by another run from %s, "+
		"so nothing is written after that (a longer locks.ttl gives a slow lock or state server more time)", key, by.UTC().Format(time.RFC3339))
}

// LeaseBound bounds ctx, of writes made under a lock lease, by the time
// within (Runtime.RecordWithin) says another run could take the lease:
// ctx then ends with leaseEnds as its cause (StoppedAtLeaseEnd adds it to
// a write's error). Once that time has passed it returns leaseEnds as an
// error: start no write. A nil within, or no such time (the lock table
// or bucket is gone), leaves ctx as it is. Call cancel either way.
func LeaseBound(ctx context.Context, key statestore.Key, within func() (left time.Duration, ok bool)) (_ context.Context, cancel context.CancelFunc, _ error) {
	if within == nil {
		return ctx, func() {}, nil
	}
	left, ok := within()
	if !ok {
		return ctx, func() {}, nil
	}
	by := time.Now().Add(left)
	if left <= 0 {
		return ctx, func() {}, leaseEnds(key, by)
	}
	bctx, cancel := context.WithDeadlineCause(ctx, by, leaseEnds(key, by))
	return bctx, cancel, nil
}

// StoppedAtLeaseEnd returns err, of a write under ctx, with the reason
// ctx stopped it when that is its lock lease's end (LeaseBound).
func StoppedAtLeaseEnd(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); ctx.Err() != nil && !errors.Is(cause, context.DeadlineExceeded) && !errors.Is(cause, context.Canceled) {
		return fmt.Errorf("%w: stopped because %w", err, cause)
	}
	return err
}

// afterUnrecorded ends the error of a deployment that was not recorded:
// whether resources may have changed, and what to do next.
func afterUnrecorded(key statestore.Key, op string, engineSkipped bool) string {
	if engineSkipped {
		return fmt.Sprintf("; the engine did not run (nothing to change), so no resources changed: see panka status --stack %s, then re-run", key.Stack)
	}
	if op == statestore.OpDestroy {
		// Not "the next apply ... reconciles them": that would deploy
		// again what the user is taking down.
		return fmt.Sprintf("; the engine did run, so resources may have been deleted: see panka status --stack %s, then re-run the destroy: it plans against the recorded state, deletes what is left and records it", key.Stack)
	}
	return fmt.Sprintf("; the engine did run, so resources may have changed: see panka status --stack %s, then re-run: the next apply, rollback or promote plans against the recorded state and reconciles them", key.Stack)
}

// describeState says what a stack/environment's state holds now (its serial
// and who wrote it), "" when that cannot be read.
func describeState(ctx context.Context, store statestore.Store, key statestore.Key) string {
	st, _, err := store.Get(ctx, key)
	if errors.Is(err, statestore.ErrNotFound) {
		return "it has no state now"
	}
	if err != nil {
		return ""
	}
	return StateNow(st)
}

// LastRecorded is the serial of the last deployment st records (st.Serial
// when it records none): a drift check, state rm, state push, and a run
// keeping what it cleared of a stopped one (State.Recoveries) move the
// state's serial on without a deployment, so "written after its last
// recorded deployment (serial N)" named a serial no record has.
func LastRecorded(st *statestore.State) int64 {
	if st.LastDeployment != nil {
		return st.LastDeployment.Serial
	}
	return st.Serial
}

// StateNow says which write st, a state just read, holds: "it is now at
// serial N, written by" the state push or state rm (LastWrite) or the
// deployment that wrote it.
func StateNow(st *statestore.State) string {
	s := fmt.Sprintf("it is now at serial %d", st.Serial)
	if w := st.LastWrite; w != nil && w.Serial == st.Serial {
		s += ", written by " + w.Operation
		if w.User != "" {
			s += " by " + w.User
		}
		if !w.At.IsZero() {
			s += " at " + w.At.UTC().Format(time.RFC3339)
		}
		return s
	}
	if d := st.LastDeployment; d != nil {
		s += fmt.Sprintf(", written by the %s", d.Operation)
		if d.Commit != "" {
			s += " of commit " + shortSHA(d.Commit)
		}
		if d.User != "" {
			s += " by " + d.User
		}
		if d.Host != "" {
			s += " on " + d.Host
		}
		if !d.EndedAt.IsZero() {
			s += " at " + d.EndedAt.UTC().Format(time.RFC3339)
		}
		if d.LockID != "" {
			s += ", lock " + d.LockID
		}
		if d.Result != "" {
			s += ", " + d.Result
		}
	}
	return s
}

// RecoveryNotice says what RecoverStale (rec, not empty) cleared, and what
// stopped the run that left it. Not always a kill: a run the state backend
// stopped answering (its engine's state writes unanswered) is stopped and,
// when the backend still takes panka's own record, recorded as failed. The
// last record says which when it is not a success; otherwise no record is
// left, which a kill and an outage that also cut the record both explain.
func RecoveryNotice(key statestore.Key, st *statestore.State, rec *engine.Recovery) string {
	why := "without a record of it (killed, or cut off from its state backend)"
	if st != nil && st.LastDeployment != nil && st.LastDeployment.Result != statestore.ResultSucceeded {
		d := st.LastDeployment
		article := "a"
		if strings.HasPrefix(d.Result, "i") {
			article = "an"
		}
		why = fmt.Sprintf("(its record, serial %d, is %s %s %s: panka history --stack %s --environment %s shows why)", d.Serial, article, d.Result, d.Operation, key.Stack, key.Environment)
	}
	return fmt.Sprintf("an earlier run of %s stopped before its engine finished %s; holding the lease, panka %s", key, why, rec.String())
}

// RecoveredRecord is the deployment record's account of what a run cleared
// of an earlier, stopped one: the lease it took over (lease) and what
// RecoverStale removed (rec); nil when neither.
func RecoveredRecord(lease *statestore.RecoveredHolder, rec *engine.Recovery) *statestore.Recovered {
	r := &statestore.Recovered{Lease: lease}
	if rec != nil {
		r.PulumiCancelled = rec.Cancelled
		for _, l := range rec.Locks {
			r.PulumiLocks = append(r.PulumiLocks, statestore.RecoveredHolder{Path: l.Path, User: l.Username, Host: l.Hostname, PID: l.PID, Since: l.Created})
		}
		for _, p := range rec.PendingOperations {
			r.PendingOperations = append(r.PendingOperations, statestore.RecoveredOperation{Type: p.Type, URN: p.URN})
		}
	}
	if r.Empty() {
		return nil
	}
	return r
}

// KeepRecovery writes into key's state (State.Recoveries) what run r
// cleared of an earlier, stopped run, merged into that run's entry (by
// its lock id) when there is one. A run writes it as it clears, so that
// a run that records no deployment (drift detect; one refused, declined,
// stopped or cut off before its record) does not lose it: the next run
// finds nothing left to clear, and an earlier run that stopped part way
// often left no record of its own. The next deployment's record takes it
// (Recovered.Earlier). It writes only over the state serial the run read
// (serial), and not after the run's lock lease could be taken (within,
// as for a deployment's record); it returns the state written and its
// version.
func KeepRecovery(ctx context.Context, store statestore.Store, key statestore.Key, serial int64, r statestore.Recovery, within func() (time.Duration, bool), now func() time.Time) (*statestore.State, statestore.Version, error) {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	wctx, bcancel, err := LeaseBound(wctx, key, within)
	defer bcancel()
	if err != nil {
		return nil, "", err
	}
	st, v, err := statestore.Update(wctx, store, key, now, func(s *statestore.State) error {
		if s.Serial != serial {
			return fmt.Errorf("the state changed since this run read it (serial %d then; %s)", serial, StateNow(s))
		}
		for i := range s.Recoveries {
			if r.LockID != "" && s.Recoveries[i].LockID == r.LockID {
				s.Recoveries[i].Cleared.Merge(&r.Cleared)
				return nil
			}
		}
		s.Recoveries = append(s.Recoveries, r)
		return nil
	})
	if err != nil {
		return nil, "", StoppedAtLeaseEnd(wctx, err)
	}
	return st, v, nil
}

// UntrackedWarning says, when RecoverStale (rec) dropped the pending creates
// of resources that desired (nil: a destroy) does not deploy again (see
// untrackedCreates), that they may exist untracked and how to remove them;
// notDeployed says, given "it" or "them", why they are not deployed. It
// returns "" when there are none.
func UntrackedWarning(key statestore.Key, rec *engine.Recovery, desired *stacks.Resolved, notDeployed func(them string) string) string {
	if rec == nil {
		return ""
	}
	names := untrackedCreates(rec, desired)
	if len(names) == 0 {
		return ""
	}
	they, them := pronoun(names, "it", "they"), pronoun(names, "it", "them")
	return fmt.Sprintf("the killed run of %s was creating %s when it died (its pending creates were dropped above): %s may exist although nothing tracks %s now, "+
		"and %s, so neither Pulumi nor panka will ever delete %s. Look for %s (with the local target, %s in the manifest directory of %s) "+
		"and delete %s by hand, or apply a commit that has %s (which takes %s over) and then one without",
		key, strings.Join(names, ", "), they, them, notDeployed(them), them, them, manifestNames(names), key, them, them, them)
}

// untrackedCreates names the resources whose create a killed run left
// pending and RecoverStale dropped, that desired (nil: a destroy) does not
// deploy again: the provider may have created them before the run died,
// and no state tracks them any more, so nothing will ever delete them
// (the next up creates again only what it deploys). A resource named like
// a desired component, or as one of its parts (<component>-...), is
// deployed again.
func untrackedCreates(rec *engine.Recovery, desired *stacks.Resolved) []string {
	var out []string
	for _, p := range rec.PendingOperations {
		if p.Type != "creating" {
			continue
		}
		i := strings.LastIndex(p.URN, "::")
		if i < 0 {
			continue
		}
		name := p.URN[i+2:]
		again := false
		if desired != nil {
			for _, c := range desired.Components {
				if name == c.Name || strings.HasPrefix(name, c.Name+"-") {
					again = true
					break
				}
			}
		}
		if !again && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// manifestNames lists the local target's manifest files of names.
func manifestNames(names []string) string {
	files := make([]string, len(names))
	for i, n := range names {
		files[i] = n + ".json"
	}
	return strings.Join(files, ", ")
}

// pronoun is one for a single name, many for several.
func pronoun(names []string, one, many string) string {
	if len(names) == 1 {
		return one
	}
	return many
}

func shortSHA(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// recoverStale runs eng.RecoverStale and, while it refuses because a
// Pulumi process of an earlier run still holds the stack's Pulumi lock on
// this host, waits up to what is left of rt.WaitStale (the run's
// --lock-timeout, less rt.WaitedForLock) for that process to end and asks
// again: a run started while a killed panka's engine still stops its
// Pulumi cleanly went on to fail and had to be re-run. With the whole of
// --lock-timeout here as well, a run could wait twice what was asked.
func recoverStale(ctx context.Context, rt Runtime, eng Engine, key statestore.Key, logf func(string, ...any)) (*engine.Recovery, error) {
	deadline := time.Now().Add(rt.WaitStale - rt.WaitedForLock)
	said := map[int]bool{}
	for {
		rec, err := eng.RecoverStale(ctx)
		var busy *engine.PulumiBusyError
		if err == nil || !errors.As(err, &busy) {
			return rec, err
		}
		if rt.WaitStale <= 0 {
			return nil, fmt.Errorf("%w; or re-run with --lock-timeout (e.g. --lock-timeout 10m), which waits for it", err)
		}
		if !time.Now().Before(deadline) {
			if forLock := rt.WaitedForLock.Round(time.Second); forLock > 0 {
				return nil, fmt.Errorf("%w (gave up: --lock-timeout %s ran out, %s of it spent waiting for the lock)", err, rt.WaitStale, forLock)
			}
			return nil, fmt.Errorf("%w (gave up after waiting %s)", err, rt.WaitStale)
		}
		if !said[busy.PID] {
			said[busy.PID] = true
			logf("waiting up to %s for pulumi pid %d of an earlier run of %s to end: it still holds the stack's Pulumi lock on this host "+
				"(its panka was killed, and its engine is stopping it cleanly, or it still deploys)", max(time.Until(deadline), 0).Round(time.Second), busy.PID, key)
		}
		// At least one pause a round: were the engine to keep saying busy
		// about a holder HolderAlive finds ended, the loop would otherwise
		// ask it back to back until the wait ran out.
		for {
			t := time.NewTimer(max(min(250*time.Millisecond, time.Until(deadline)), 0))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			if !engine.HolderAlive(busy.PID, busy.Since) || !time.Now().Before(deadline) {
				break
			}
		}
	}
}

func runEngine(ctx context.Context, rt Runtime, eng Engine, req Request, state *statestore.State, deployed, desired *stacks.Resolved, refresh, emptyOK bool, res *Result, keep func(*statestore.Recovered), logf func(string, ...any)) (map[string]map[string]any, error) {
	rec, err := recoverStale(ctx, rt, eng, req.Key, logf)
	if err != nil {
		if !rec.Empty() {
			// It cleared some before it failed.
			res.Recovery = rec
			logf("%s", RecoveryNotice(req.Key, state, rec))
			keep(RecoveredRecord(rt.TookOver, rec))
		}
		if ctx.Err() != nil {
			// Stopped while looking: no killed run to blame.
			return nil, err
		}
		return nil, fmt.Errorf("clear what an earlier, stopped run left behind: %w", err)
	}
	if rec != nil && !rec.Empty() {
		res.Recovery = rec
		logf("%s", RecoveryNotice(req.Key, state, rec))
		if w := UntrackedWarning(req.Key, rec, desired, func(them string) string {
			return fmt.Sprintf("this %s does not deploy %s", req.Operation, them)
		}); w != "" {
			warnf := rt.Warnf
			if warnf == nil {
				warnf = func(format string, args ...any) { logf("warning: "+format, args...) }
			}
			warnf("%s", w)
		}
		// Before anything can stop the run: a refusal below, or one of
		// the engine's, records no deployment.
		keep(RecoveredRecord(rt.TookOver, rec))
	}
	if err := CheckEngineState(req.Key, state, deployed, rec); err != nil && !emptyOK {
		return nil, fmt.Errorf("%w%w", err, errRefusedBeforeEngine)
	}
	onEvent := rt.OnEvent
	if onEvent == nil {
		onEvent = func(engine.Event) {}
	}
	res.engineRan = true
	if desired == nil {
		out, err := eng.Destroy(ctx, onEvent)
		if err != nil {
			res.changes = failedChanges(out)
			return nil, err
		}
		res.changes = engineChanges(out)
		return nil, nil
	}
	// What Pulumi's checkpoint shows changed since is this run's doing
	// (madeByUnrecordedRuns).
	begun := time.Now()
	if refresh {
		if _, err := eng.Refresh(ctx, onEvent); err != nil {
			return nil, fmt.Errorf("refresh before undoing drift: %w", err)
		}
	}
	out, err := eng.Up(ctx, onEvent)
	if err != nil {
		res.changes = failedChanges(out)
		return nil, err
	}
	res.resources = out.Managed()
	res.changes = engineChanges(out)
	res.DoneBefore = untouched(res.Plan.DoneByFailedRuns, out.Steps)
	if res.unrecordedSince != nil {
		if done := madeByUnrecordedRuns(ctx, res.Plan, out.Steps, *res.unrecordedSince, begun, rt.EngineCheckpoint); len(done) > 0 {
			res.DoneBefore, res.DoneBeforeUnrecorded = done, true
		}
	}
	outputs := GroupOutputs(out.Outputs, req.Key, rt.SecretKey)
	if h, ok := eng.(interface{ Health(context.Context) error }); ok {
		if err := h.Health(ctx); err != nil {
			return outputs, fmt.Errorf("health check: %w", err)
		}
	}
	if rt.HealthCheck != nil {
		if err := rt.HealthCheck(ctx, desired, outputs); err != nil {
			return outputs, fmt.Errorf("health check: %w", err)
		}
	}
	return outputs, nil
}

// Planned returns the model a deployment of desired to key is planned
// against: deployed (the spec in st), plus the components that failed or
// interrupted runs since the last successful one tried to deploy and that
// neither deployed nor desired has (left, nil when none). They are not in
// the recorded spec, but the engine may hold them: without them the plan
// said "No changes" while the engine deleted them, a Database included,
// unconfirmed and without --allow-destroy. panka plan uses it too, so the
// plan a pipeline reviews (or saves) is the one apply runs.
//
// Likewise a component desired as deployed that such a run tried to deploy
// otherwise (tried, by name) is planned as that run had it: the engine may
// hold what it tried (it stopped after that component, or only its health
// check failed), and the next run puts the desired one back. Without it
// the plan said "No changes" for a change reverted in the YAML after a
// failed apply, while apply (which runs the engine after a failed run)
// changed it back.
//
// checkpoint, when not nil, reads Pulumi's checkpoint of key (nil when
// there is none): a component the failed runs did not touch there (see
// engine.ComponentsTouched) still holds the recorded spec, so it is not
// planned against what they tried, and one they tried to create that it
// does not hold was never created, so it is not left. Without it the plan
// showed an update (or a replace) that the engine then did not make, or a
// delete that needed --allow-destroy for a Bucket that never existed.
func Planned(ctx context.Context, store statestore.Store, key statestore.Key, st *statestore.State, deployed, desired *stacks.Resolved, checkpoint func(context.Context) ([]byte, error)) (planned *stacks.Resolved, left []stacks.Component, tried []string, err error) {
	runs, since, err := failedRuns(ctx, store, key, st)
	if err != nil {
		return nil, nil, nil, err
	}
	left = leftByFailedRuns(runs, deployed, desired)
	alt := triedByFailedRuns(runs, deployed, desired)
	if (len(left) > 0 || len(alt) > 0) && checkpoint != nil && !since.IsZero() {
		if b, err := checkpoint(ctx); err == nil && b != nil {
			if present, touched, ok := engine.ComponentsTouched(b, since); ok {
				// Never created there (its create failed or was not
				// reached), so nothing to delete.
				left = slices.DeleteFunc(left, func(c stacks.Component) bool { return !present[c.Name] && !touched[c.Name] })
				for name := range alt {
					if present[name] && !touched[name] {
						delete(alt, name)
					}
				}
			}
		}
	}
	if len(left) == 0 {
		left = nil
	}
	planned = deployed
	if len(left) > 0 {
		planned = withComponents(deployed, desired, st, left)
	}
	if len(alt) > 0 {
		if planned == deployed {
			cp := *deployed
			planned = &cp
		}
		planned.Components = slices.Clone(planned.Components)
		for i, c := range planned.Components {
			if b, ok := alt[c.Name]; ok {
				planned.Components[i] = b
				tried = append(tried, c.Name)
			}
		}
	}
	return planned, left, tried, nil
}

// TriedWarning says that the components in tried (see Planned) are planned
// against what a failed run tried to deploy, so that what (e.g. "this
// apply") puts back the spec the YAML has.
func TriedWarning(key statestore.Key, tried []string, what string) string {
	return fmt.Sprintf("%s: %s may hold what a failed or interrupted run since the last successful one tried to deploy, not the recorded spec; they are planned against that, so %s puts back what the YAML has (if that run never reached them, the engine changes nothing there)",
		key, strings.Join(tried, ", "), what)
}

// historyUnread is the error of a run that cannot read the newest
// records of its history: it numbers its own record after them, and
// guessing would give two deployments one serial (rollback --to-version
// would pick either).
func historyUnread(req Request, serial int64, err error) error {
	what := "the history of " + req.Key.String()
	if serial > 0 {
		what = fmt.Sprintf("%s for records newer than its state (serial %d)", what, serial)
	}
	return fmt.Errorf("read %s: %w; this %s numbers its record after the newest one, so it stops here, before planning, rather than give two deployments one serial",
		what, err, req.Operation)
}

// failedRuns are the models that failed or interrupted runs since the last
// successful deployment tried to deploy (their history records hold the
// spec they ran with), most recent first, and when the earliest of those
// runs (destroys included) started; nil when the last deployment
// succeeded.
//
// A record among them that cannot be read is an error (failedRunsUnread):
// without its spec the plan left out what that run may have created, and
// the engine deleted it, a Database included, unconfirmed. A record older
// than the last successful deployment does not count: when the page of
// records cannot be read, they are read one at a time up to that one.
func failedRuns(ctx context.Context, store statestore.Store, key statestore.Key, st *statestore.State) (runs []*stacks.Resolved, since time.Time, err error) {
	if st == nil || st.LastDeployment == nil || st.LastDeployment.Result == statestore.ResultSucceeded {
		return nil, time.Time{}, nil
	}
	const most = 50
	recs, err := store.History(ctx, key, 0, most)
	if err != nil {
		if ctx.Err() != nil {
			return nil, time.Time{}, err
		}
		recs = nil
		for i := 0; i < most; i++ {
			r, err := store.History(ctx, key, i, 1)
			if err != nil {
				return nil, time.Time{}, failedRunsUnread(key, st, err)
			}
			if len(r) == 0 {
				break
			}
			recs = append(recs, r[0])
			if r[0].Result == statestore.ResultSucceeded {
				break
			}
		}
	}
	for _, r := range recs {
		if r.Result == statestore.ResultSucceeded {
			break
		}
		since = r.StartedAt
		if r.Operation == statestore.OpDestroy || len(r.Spec) == 0 || string(r.Spec) == "null" {
			continue
		}
		if m, err := planner.DecodeModel(r.Spec); err == nil {
			runs = append(runs, m)
		}
	}
	return runs, since, nil
}

// failedRunsUnread is the error of a plan that cannot read the history
// records of the failed runs since the last successful deployment.
func failedRunsUnread(key statestore.Key, st *statestore.State, err error) error {
	next := " (the error says how to repair the record)"
	if !errors.Is(err, statestore.ErrCorrupt) {
		next = "; run again once it can be read"
	}
	return fmt.Errorf("read the history of %s since its last successful deployment (its last run, serial %d, %s): %w; "+
		"a failed run may have created components that only its record names, and a plan without them deletes them, so this stops here, before planning%s",
		key, st.LastDeployment.Serial, st.LastDeployment.Result, err, next)
}

// triedByFailedRuns returns, by name, the components desired exactly as
// deployed has them that the most recent of runs holding them tried to
// deploy otherwise (see Planned).
func triedByFailedRuns(runs []*stacks.Resolved, deployed, desired *stacks.Resolved) map[string]stacks.Component {
	if len(runs) == 0 || deployed == nil || desired == nil {
		return nil
	}
	same := map[string]bool{}
	for _, c := range planner.Plan(desired, deployed, planner.Options{}).Changes {
		if c.Action == planner.ActionNoOp && len(c.Fields) == 0 {
			same[c.Component] = true
		}
	}
	var out map[string]stacks.Component
	for i := range deployed.Components {
		a := &deployed.Components[i]
		if !same[a.Name] {
			continue
		}
		for _, run := range runs {
			b := run.Component(a.Name)
			if b == nil {
				continue
			}
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if !bytes.Equal(ja, jb) {
				if out == nil {
					out = map[string]stacks.Component{}
				}
				out[a.Name] = *b
			}
			break // the most recent run that had it
		}
	}
	return out
}

// RecordsDeployed reports whether d, the newest record of a history,
// leaves something deployed (all but a successful destroy).
func RecordsDeployed(d *statestore.Deployment) bool {
	return d.Operation != statestore.OpDestroy || d.Result != statestore.ResultSucceeded
}

// LostStateUnreadable says, of key without a state.json, that its history
// records deployments up to bad, its newest record, which cannot be read:
// state.json was deleted or lost (it was said to be never deployed).
func LostStateUnreadable(key statestore.Key, bad *statestore.UnreadableRecord) string {
	return fmt.Sprintf("state.json is missing, but the history of %s holds records up to serial %d, whose record cannot be read (%v): state.json was deleted or lost, so what was deployed may still run. "+
		"Restore it ("+statestore.RestoreHint+", which is numbered after that record)", key, bad.Serial, bad.Err)
}

// lostStateError refuses a deployment of req.Key, whose state.json is
// missing while its history's newest record, last (or bad, when it cannot
// be read), says something was deployed: planned as if nothing were, the
// run would create every component again beside what still runs (and,
// were Pulumi's state lost as well, really create them twice). Terraform
// plans creates over a lost state without a word; panka knows from its
// history that it deployed here, so it asks for the state back, or for
// --allow-lost-state when what was deployed is really gone.
func lostStateError(req Request, last *statestore.Deployment, bad *statestore.UnreadableRecord) error {
	if bad != nil {
		if req.Operation == statestore.OpDestroy {
			return fmt.Errorf("%s has no state: %s; then destroy. Nothing was changed", req.Key, LostStateUnreadable(req.Key, bad))
		}
		return fmt.Errorf("%s has no state: %s. "+
			"Nothing was changed. When what was deployed is really gone, pass --allow-lost-state to %s as if nothing were deployed (recorded as serial %d)",
			req.Key, LostStateUnreadable(req.Key, bad), req.Operation, bad.Serial+1)
	}
	at := last.EndedAt
	if at.IsZero() {
		at = last.StartedAt
	}
	when := ""
	if !at.IsZero() {
		when = ", at " + at.UTC().Format(time.RFC3339)
	}
	return fmt.Errorf("%s has no state, but its history records deployments up to serial %d (%s of commit %s by %s, %s%s): its state.json was deleted or lost, "+
		"so this %s would plan as if nothing were deployed and create every component again while what was deployed may still run. Nothing was changed. "+
		"Restore state.json ("+statestore.RestoreHint+") and run it again; when what was deployed is really gone, pass --allow-lost-state to %s anew (recorded as serial %d)",
		req.Key, last.Serial, last.Operation, shortSHA(last.Commit), last.User, last.Result, when, req.Operation, req.Operation, last.Serial+1)
}

// LostStateWarning says that key has no state.json although its history
// records deployments up to last (the newest record), so that what (e.g.
// "this plan") plans as if nothing were deployed.
func LostStateWarning(key statestore.Key, last *statestore.Deployment, what string) string {
	return fmt.Sprintf("%s has no state, but its history records deployments up to serial %d (%s of commit %s by %s, %s): its state.json was deleted or lost, so %s plans as if nothing were deployed",
		key, last.Serial, last.Operation, shortSHA(last.Commit), last.User, last.Result, what)
}

// DoneByFailedRuns names, sorted, the components whose change in p the
// failed or interrupted runs since the last successful deployment of key
// (see Planned) made already, in all or in part (or were making when
// they stopped: an operation left pending): p compares with the
// recorded spec, but Pulumi's checkpoint shows a resource of theirs
// created, modified or left pending since the first of those runs started
// (for a delete: the component is gone from it). The engine changes only
// what is left of them, and a deployment's summary counts that, so the
// plan listed changes the apply after it did not make, without a word.
// skip are the components Planned planned against what those runs did
// (left, tried). nil when the last deployment succeeded, p changes
// nothing, or the checkpoint cannot be read (checkpoint nil: a backend
// panka cannot read it from).
func DoneByFailedRuns(ctx context.Context, store statestore.Store, key statestore.Key, st *statestore.State, p *planner.Result, skip []string, checkpoint func(context.Context) ([]byte, error)) []string {
	if p == nil || !p.HasChanges() {
		return nil
	}
	present, touched := touchedByFailedRuns(ctx, store, key, st, checkpoint)
	if present == nil {
		return nil
	}
	var out []string
	for _, c := range p.Changes {
		if slices.Contains(skip, c.Component) {
			continue
		}
		switch c.Action {
		case planner.ActionNoOp:
			continue
		case planner.ActionDelete:
			if present[c.Component] {
				continue
			}
		default:
			if !touched[c.Component] {
				continue
			}
		}
		out = append(out, c.Component)
	}
	sort.Strings(out)
	return out
}

// PlanOverrides returns p, the plan of desired against planned made with
// opts, as plan and apply show and record it where values given from
// outside the repository (--var, --var-file, PANKA_VAR_*) leave it
// nothing to apply while the commit resolves otherwise than the deployed
// one (changed, as ChangedSinceDeployed; nil: p as it is). Variables
// that change nothing, when what they mask changed in the repository (or
// may have: a commit the clone lacks), are planned again as changes to
// record (RecordVariables); the same values as deployed overriding what
// changed mark it Overridden. Either way apply records the new commit,
// which changed --since-deployed lists the environment for until a
// deployment does; apply's plan said "No changes. ... matches the
// deployed state." over that while plan said apply records it.
func PlanOverrides(ctx context.Context, p *planner.Result, desired, planned *stacks.Resolved, opts planner.Options, changed func(ctx context.Context, deployed string) (changed, known bool)) *planner.Result {
	if changed == nil || desired == nil || (len(opts.Header.Vars) == 0 && len(p.VariableNotes) == 0) || p.Applies() {
		return p
	}
	ch, known := changed(ctx, opts.Header.Deployed.Commit)
	switch {
	case len(p.VariableNotes) > 0 && (ch || !known):
		// What the values given from outside mask changed in the
		// repository: the variables are a change to record, as they
		// were before the plan compared values alone.
		watched := p.Watched
		opts.RecordVariables = true
		p = planner.Plan(desired, planned, opts)
		p.Watched = watched
	case ch:
		// The same values as deployed, given from outside, override
		// what changed (an environment file's value that --var sets).
		p.Overridden = true
	}
	return p
}

// madeByUnrecordedRuns names, sorted, the components p creates, updates
// or replaces that the engine, in the run begun at begun, took no step on
// (steps) and that Pulumi's checkpoint, read after it, shows created or
// modified since since but not since begun: a run that recorded nothing
// (a first deployment whose record could not be written, or one that ran
// after the last recorded deployment) made those changes, and this run
// only records them. The checkpoint is read only when some change took no
// step. Deletes are left out: the checkpoint keeps no trace of them.
func madeByUnrecordedRuns(ctx context.Context, p *planner.Result, steps []engine.Step, since, begun time.Time, checkpoint func(context.Context) ([]byte, error)) []string {
	var changed []string
	for _, c := range p.Changes {
		switch c.Action {
		case planner.ActionCreate, planner.ActionUpdate, planner.ActionReplace:
			changed = append(changed, c.Component)
		}
	}
	left := untouched(changed, steps)
	if len(left) == 0 || checkpoint == nil {
		return nil
	}
	b, err := checkpoint(ctx)
	if err != nil || b == nil {
		return nil
	}
	_, then, ok := engine.ComponentsTouched(b, since)
	_, now, okNow := engine.ComponentsTouched(b, begun)
	if !ok || !okNow {
		return nil
	}
	left = slices.DeleteFunc(left, func(c string) bool { return !then[c] || now[c] })
	sort.Strings(left)
	return left
}

// touchedByFailedRuns reads Pulumi's checkpoint of key after failed or
// interrupted runs since its last successful deployment: the components
// it holds and those a resource of which was created, modified or left
// pending since the first of those runs started. nil when the last
// deployment succeeded or the checkpoint cannot be read (or holds no
// component: CheckEngineState's to judge).
func touchedByFailedRuns(ctx context.Context, store statestore.Store, key statestore.Key, st *statestore.State, checkpoint func(context.Context) ([]byte, error)) (present, touched map[string]bool) {
	if checkpoint == nil || st == nil || st.LastDeployment == nil || st.LastDeployment.Result == statestore.ResultSucceeded {
		return nil, nil
	}
	_, since, err := failedRuns(ctx, store, key, st)
	if err != nil || since.IsZero() {
		return nil, nil
	}
	b, err := checkpoint(ctx)
	if err != nil || b == nil {
		return nil, nil
	}
	present, touched, ok := engine.ComponentsTouched(b, since)
	if !ok || len(present) == 0 {
		return nil, nil
	}
	return present, touched
}

// GoneByFailedRuns names, sorted, the components p keeps (an update,
// replace or no-op against the recorded spec) that Pulumi's checkpoint no
// longer holds after failed or interrupted runs since the last successful
// deployment of key: such a run deleted them before it stopped (a destroy
// that failed part way, most often). The plan compares with the recorded
// spec, so it shows them as kept, while the engine creates them again: a
// plan of "1 to update" was followed by three creates, without a word.
// skip are as for DoneByFailedRuns. nil when the last deployment
// succeeded or the checkpoint cannot be read.
func GoneByFailedRuns(ctx context.Context, store statestore.Store, key statestore.Key, st *statestore.State, p *planner.Result, skip []string, checkpoint func(context.Context) ([]byte, error)) []string {
	if p == nil || p.Header.Destroy {
		return nil
	}
	present, _ := touchedByFailedRuns(ctx, store, key, st, checkpoint)
	if present == nil {
		return nil
	}
	var out []string
	for _, c := range p.Changes {
		if c.Action == planner.ActionCreate || c.Action == planner.ActionDelete || present[c.Component] || slices.Contains(skip, c.Component) {
			continue
		}
		out = append(out, c.Component)
	}
	sort.Strings(out)
	return out
}

// GoneWarning says that the failed or interrupted runs since the last
// successful deployment of key deleted gone (see GoneByFailedRuns), which
// the plan shows as kept, so that what (e.g. "this apply") creates them
// again.
func GoneWarning(key statestore.Key, st *statestore.State, gone []string, what string) string {
	last := st.LastDeployment
	return fmt.Sprintf("%s: a failed or interrupted run since its last successful deployment (the last: serial %d, %s of commit %s, %s) deleted %s before it stopped: "+
		"the plan compares with the last successful deployment, so it shows %s as deployed, but %s creates %s again (its summary counts what the engine does)",
		key, last.Serial, last.Operation, shortSHA(last.Commit), last.Result, strings.Join(gone, ", "), pronoun(gone, "it", "them"), what, pronoun(gone, "it", "them"))
}

// DoneWarning says that the failed or interrupted runs since the last
// successful deployment of key made the changes of done (see
// DoneByFailedRuns) already, so what (e.g. "this apply") changes only
// what is left of them.
func DoneWarning(key statestore.Key, st *statestore.State, done []string, what string) string {
	last := st.LastDeployment
	since, basis := " since its last successful deployment", "the last successful deployment"
	if len(st.Spec) == 0 || string(st.Spec) == "null" {
		since, basis = "", "nothing deployed (no deployment recorded it)"
	}
	return fmt.Sprintf("%s: a failed or interrupted run%s (the last: serial %d, %s of commit %s, %s) changed (or was changing) %s in the engine before it stopped; "+
		"the plan compares with %s, so it lists and counts those changes too (none is recorded as deployed), and %s changes only what is left of them (its summary counts what the engine does)",
		key, since, last.Serial, last.Operation, shortSHA(last.Commit), last.Result, strings.Join(done, ", "), basis, what)
}

// LeftWarning says that the components in left (see Planned) are planned
// as deployed, so that what (e.g. "this apply") deletes them.
func LeftWarning(key statestore.Key, left []stacks.Component, what string) string {
	return fmt.Sprintf("%s: %s may exist although no successful deployment recorded them: a failed or interrupted run since the last successful one tried to deploy them; they are planned as deployed, so %s deletes them",
		key, strings.Join(componentNames(&stacks.Resolved{Components: left}), ", "), what)
}

// SecretKeyWarning says, when the deployed and the desired model hash their
// secrets one with a key and the other without (a Pulumi passphrase given
// for the deployments and not for this run, or the other way round), that
// every secret plans as changed whether it changed or not; "" otherwise.
// (A different passphrase cannot be told from a changed secret.)
func SecretKeyWarning(key statestore.Key, deployed, desired *stacks.Resolved) string {
	dKeyed, dUnkeyed := hashSchemes(deployed)
	wKeyed, wUnkeyed := hashSchemes(desired)
	switch {
	case dKeyed && !dUnkeyed && wUnkeyed && !wKeyed:
		return fmt.Sprintf("%s: its deployed secret values are hashed with a key derived from the Pulumi passphrase, which is not given here, so every secret plans as changed whether it changed or not: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the passphrase its deployments use", key)
	case dUnkeyed && !dKeyed && wKeyed && !wUnkeyed:
		return fmt.Sprintf("%s: its deployed secret values were hashed without a key (no Pulumi passphrase was given) and this run has one, so every secret plans as changed whether it changed or not; a deployment records them keyed from then on", key)
	}
	return ""
}

// HasKeyedSecrets reports whether m holds secret values hashed with a key
// derived from the secrets passphrase: a plan against it shows every
// secret as changed under another passphrase.
func HasKeyedSecrets(m *stacks.Resolved) bool {
	keyed, _ := hashSchemes(m)
	return keyed
}

// hashSchemes reports whether m holds secrets hashed with a key
// (sensitive:hmac-sha256:) and without one (sensitive:sha256:).
func hashSchemes(m *stacks.Resolved) (keyed, unkeyed bool) {
	if m == nil {
		return false, false
	}
	var walk func(v any)
	walk = func(v any) {
		h := ""
		switch x := v.(type) {
		case stacks.Sensitive:
			h = x.Hash
		case *stacks.Sensitive:
			if x != nil {
				h = x.Hash
			}
		case string:
			h = x
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
		switch {
		case strings.HasPrefix(h, stacks.SensitivePrefix+"hmac-sha256:"):
			keyed = true
		case strings.HasPrefix(h, stacks.SensitivePrefix+"sha256:"):
			unkeyed = true
		}
	}
	for _, v := range m.Variables {
		walk(v.Value)
	}
	for _, c := range m.Components {
		walk(c.Spec)
	}
	return keyed, unkeyed
}

// leftByFailedRuns returns the components that failed or interrupted runs
// since the last successful deployment tried to deploy (their history
// records hold the spec they ran with) and that neither deployed nor
// desired has: the engine may have created them before it stopped, and
// the next run deletes them. nil when there are none, or when history
// cannot be read (the plan is then the recorded state's, as before).
func leftByFailedRuns(runs []*stacks.Resolved, deployed, desired *stacks.Resolved) []stacks.Component {
	if len(runs) == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, m := range []*stacks.Resolved{deployed, desired} {
		if m != nil {
			for _, c := range m.Components {
				seen[c.Name] = true
			}
		}
	}
	var left []stacks.Component
	for _, tried := range runs {
		for _, c := range tried.Components {
			if !seen[c.Name] {
				seen[c.Name] = true
				left = append(left, c)
			}
		}
	}
	return left
}

// withComponents returns deployed with extra components added. When
// nothing is deployed, the model takes desired's provider, so the plan does
// not read the missing one as a change of target.
func withComponents(deployed, desired *stacks.Resolved, st *statestore.State, extra []stacks.Component) *stacks.Resolved {
	m := &stacks.Resolved{Stack: st.Stack, Environment: st.Environment}
	switch {
	case deployed != nil:
		cp := *deployed
		m = &cp
	case desired != nil:
		m.Provider = desired.Provider
	}
	m.Components = append(append([]stacks.Component(nil), m.Components...), extra...)
	return m
}

// errRefusedBeforeEngine marks (with an empty message) a refusal that ran
// nothing: Run returns it without recording a deployment.
var errRefusedBeforeEngine = errors.New("")

// CheckEngineState refuses to run the engine on a Pulumi stack whose
// checkpoint holds no resources while panka's state records deployed
// components (rec is what RecoverStale read from the checkpoint). Pulumi's
// state was then not moved along with panka's (a switch of backend, bucket
// or prefix that copied state.json alone) or was lost: an up would create
// every component again next to the existing ones, a destroy would delete
// nothing and record them destroyed, and drift detection would find none.
func CheckEngineState(key statestore.Key, st *statestore.State, deployed *stacks.Resolved, rec *engine.Recovery) error {
	if rec == nil || rec.Resources == nil || *rec.Resources > 0 || deployed == nil || len(deployed.Components) == 0 {
		return nil
	}
	names := componentNames(deployed)
	by := ""
	if st != nil {
		by = fmt.Sprintf("state serial %d", st.Serial)
		if d := deployedRecord(st); d != nil && d.Commit != "" {
			by += ", commit " + shortSHA(d.Commit)
		}
		by = " (" + by + ")"
	}
	return fmt.Errorf("Pulumi's state of %s holds no resources, but panka's state records %d deployed component(s)%s: %s. "+
		"Pulumi's state is not where this run reads it (pulumi.backend; by default stacks/%s/%s/pulumi/ next to state.json in the configured backend) or it was lost, "+
		"so the engine would create them all again, or destroy none of them. After switching backends, copy that pulumi/ folder with state.json and history/ "+
		"(docs/state.md, \"Switching backends\"); if the resources no longer exist, drop them with "+
		"panka state rm --stack %s --environment %s --resource %s, then re-run. Nothing was changed",
		key, len(names), by, strings.Join(names, ", "), key.Stack, key.Environment, key.Stack, key.Environment, strings.Join(names, " --resource "))
}

// DestroyUnfinished reports whether the last run recorded in st is a
// destroy that did not succeed (stopped by Ctrl-C or SIGTERM, or failed):
// it keeps the deployed spec in state, while the engine may have deleted
// every resource before it stopped. An empty Pulumi checkpoint is then
// what that run left, not a lost one (CheckEngineState): refusing made the
// next apply and destroy fail alike, with no way on but state rm. An apply
// creates the components again, a destroy records them destroyed.
func DestroyUnfinished(st *statestore.State) bool {
	if st == nil || st.LastDeployment == nil {
		return false
	}
	d := st.LastDeployment
	return d.Operation == statestore.OpDestroy && d.Result != statestore.ResultSucceeded
}

// deployedRecord is the record of what st has deployed: the last
// successful deployment when the newest one failed.
func deployedRecord(st *statestore.State) *statestore.Deployment {
	if st.LastSuccessful != nil {
		return st.LastSuccessful
	}
	return st.LastDeployment
}

// engineChanges counts what an engine run changed from its update summary
// (Pulumi's ResourceChanges), leaving out the stack's root resource, which
// Pulumi counts and panka does not deploy. The counts are of Pulumi
// resources: a component the target maps to several resources counts
// each. nil when r has no summary but steps (a run that stopped before
// its summary: failedChanges). A run that reports no
// summary and no step changed nothing: finishing a destroy whose resources
// an interrupted run already deleted counts no deletes, not the plan's.
func engineChanges(r *engine.Result) *statestore.ChangeSummary {
	if r == nil {
		return nil
	}
	if len(r.Changes) == 0 && !r.Summarized {
		if len(r.Steps) == 0 {
			return &statestore.ChangeSummary{}
		}
		return nil
	}
	c := r.Changes
	s := &statestore.ChangeSummary{Create: c["create"], Update: c["update"], Replace: c["replace"], Delete: c["delete"]}
	var root *int
	switch r.RootOp {
	case "create":
		root = &s.Create
	case "update":
		root = &s.Update
	case "replace":
		root = &s.Replace
	case "delete":
		root = &s.Delete
	}
	if root != nil && *root > 0 {
		*root--
	}
	return s
}

// failedChanges counts what a failed or interrupted engine run did before
// it stopped, from the summary the engine sends at the end of every
// update (empty when it changed nothing); nil (the plan's counts stay)
// when it sent none.
func failedChanges(r *engine.Result) *statestore.ChangeSummary {
	if r == nil || len(r.Changes) == 0 && !r.Summarized {
		return nil
	}
	return engineChanges(r)
}

// untouched returns those of components that no step of the engine's
// changed a resource of.
func untouched(components []string, steps []engine.Step) []string {
	var out []string
	for _, c := range components {
		if !slices.ContainsFunc(steps, func(s engine.Step) bool { return s.Component == c }) {
			out = append(out, c)
		}
	}
	return out
}

// engineStateGone is CheckEngineState for a run that skips the engine
// (nothing to change): Pulumi's checkpoint (Runtime.EngineCheckpoint) is
// missing or holds none of the components panka's state records deployed.
// A checkpoint that cannot be read or told is not gone.
func engineStateGone(ctx context.Context, rt Runtime, key statestore.Key, state *statestore.State, deployed *stacks.Resolved) error {
	if rt.EngineCheckpoint == nil || state == nil || deployed == nil || len(deployed.Components) == 0 || DestroyUnfinished(state) {
		return nil
	}
	b, err := rt.EngineCheckpoint(ctx)
	if err != nil {
		return nil
	}
	if b != nil {
		if present, _, ok := engine.ComponentsTouched(b, time.Time{}); !ok || len(present) > 0 {
			return nil
		}
	}
	none := 0
	return CheckEngineState(key, state, deployed, &engine.Recovery{Resources: &none})
}

// engineStateMoved reports whether the engine's state is no longer what
// the last deployment that ran the engine left (Runtime.EngineState).
// Unknown tokens, on either side, are not a change.
func engineStateMoved(ctx context.Context, rt Runtime, state *statestore.State) bool {
	if rt.EngineState == nil || state == nil || state.EngineState == "" {
		return false
	}
	cur, err := rt.EngineState(ctx, state.EngineState)
	return err == nil && cur != "" && cur != state.EngineState
}

// nextState builds the state to write after a run. Serials continue after
// prev's or lastSerial (the newest in history; 0 for none), whichever is
// higher.
func nextState(prev *statestore.State, lastSerial int64, req Request, rec *statestore.Deployment, desired *stacks.Resolved, outputs map[string]map[string]any, runErr error, ctx context.Context) *statestore.State {
	next := &statestore.State{SchemaVersion: statestore.SchemaVersion, Stack: req.Key.Stack, Environment: req.Key.Environment, UpdatedAt: rec.EndedAt, Serial: lastSerial}
	if prev != nil {
		next.Serial = max(prev.Serial, lastSerial)
		next.LastSuccessful = prev.LastSuccessful
		next.Spec = prev.Spec
		next.Outputs = prev.Outputs
		next.Resources = prev.Resources
		next.LastDriftCheck = prev.LastDriftCheck
		next.EngineState = prev.EngineState
	}
	next.Serial++
	r := *rec
	r.Spec = nil // the spec lives in state.Spec and in the history record
	r.Outputs = nil
	r.Serial = next.Serial
	switch {
	case runErr == nil:
		r.Result = statestore.ResultSucceeded
		if desired == nil {
			next.Status = statestore.StatusDestroyed
			next.Spec, next.Outputs, next.Resources = nil, nil, statestore.ResourceSummary{}
		} else {
			next.Status = statestore.StatusDeployed
			next.Spec = desired.Canonical()
			next.Outputs = outputs
			next.Resources = summarize(desired)
		}
		last := r
		next.LastSuccessful = &last
	case errors.Is(runErr, context.Canceled) || ctx.Err() != nil:
		r.Result = statestore.ResultInterrupted
		r.Error = runErr.Error()
		next.Status = statestore.StatusFailed
	default:
		r.Result = statestore.ResultFailed
		r.Error = runErr.Error()
		next.Status = statestore.StatusFailed
	}
	next.LastDeployment = &r
	return next
}

func summarize(r *stacks.Resolved) statestore.ResourceSummary {
	s := statestore.ResourceSummary{Components: len(r.Components), ByKind: map[string]int{}}
	for _, c := range r.Components {
		s.ByKind[string(c.Kind)]++
	}
	return s
}

// GroupOutputs turns stack outputs named "<component>.<output>" into
// component -> output -> value; secret values become keyed hashes that
// cover the stack and environment of at (stacks.HashSensitiveAt), like
// the secrets of the spec, so the same secret output of two environments
// or stacks does not hash alike in their states and history records.
func GroupOutputs(outs map[string]engine.Output, at statestore.Key, key []byte) map[string]map[string]any {
	res := map[string]map[string]any{}
	for name, o := range outs {
		comp, out, ok := strings.Cut(name, ".")
		if !ok {
			continue
		}
		if res[comp] == nil {
			res[comp] = map[string]any{}
		}
		v := o.Value
		if o.Secret {
			b, _ := json.Marshal(v)
			v = stacks.HashSensitiveAt(key, at.Stack, at.Environment, name, string(b)).Hash
		}
		res[comp][out] = v
	}
	return res
}

// UnknownTarget is the error for the first of names (--target-component)
// that is neither a component of desired nor of deployed (nil: nothing
// deployed), naming the components there are; nil when all are. It needs
// no engine, so apply checks it before anything the run needs (the Pulumi
// CLI, the lease), and Targeted again under the lease.
func UnknownTarget(desired, deployed *stacks.Resolved, names []string) error {
	for _, n := range names {
		if desired.Component(n) == nil && (deployed == nil || deployed.Component(n) == nil) {
			all := componentNames(desired, deployed)
			dym := ""
			if d := stacks.DidYouMean(n, all); d != "" {
				dym = "; " + d
			}
			return fmt.Errorf("--target-component %s: no such component in %s/%s (components: %s%s)", n, desired.Stack, desired.Environment, strings.Join(all, ", "), dym)
		}
	}
	return nil
}

// Targeted returns the model that deploys only the named components of
// desired and keeps every other component as deployed.
func Targeted(desired, deployed *stacks.Resolved, names []string) (*stacks.Resolved, error) {
	if desired == nil {
		return nil, errors.New("--target-component cannot be used with destroy")
	}
	if err := UnknownTarget(desired, deployed, names); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := *desired
	out.Components = nil
	seen := map[string]bool{}
	if deployed != nil {
		// A kept component's spec comes from state, where secrets are
		// only their keyed hashes; the engine needs their values, which
		// desired still holds wherever the secret did not change.
		secrets := map[string]stacks.Sensitive{}
		for _, c := range desired.Components {
			collectSensitive(c.Spec, secrets)
		}
		for _, v := range desired.Variables {
			collectSensitive(v.Value, secrets)
		}
		for _, c := range deployed.Components {
			if want[c.Name] {
				continue
			}
			if len(secrets) > 0 {
				c.Spec, _ = withSecrets(c.Spec, secrets).(map[string]any)
			}
			// A secret changed (or gone) since c was deployed has no
			// value here: the engine would deploy its hash as the value
			// (the aws target) or fail halfway through the run, after
			// the targeted components changed (the local target).
			if paths := hashOnly("spec", c.Spec); len(paths) > 0 {
				return nil, fmt.Errorf("--target-component: %s would be kept at its deployed spec, but its secret values at %s changed since it was deployed (or are gone), and state keeps only their hashes, not the values deployed then: add --target-component %s to deploy it with the values given now, or apply without --target-component",
					c.Name, strings.Join(paths, ", "), c.Name)
			}
			out.Components = append(out.Components, c)
			seen[c.Name] = true
		}
	}
	for _, c := range desired.Components {
		if want[c.Name] {
			out.Components = append(out.Components, c)
			seen[c.Name] = true
		}
	}
	sort.Slice(out.Components, func(i, j int) bool { return out.Components[i].Name < out.Components[j].Name })
	for _, c := range out.Components {
		for _, d := range c.DependsOn {
			if !seen[d] {
				return nil, fmt.Errorf("--target-component: %s depends on %s, which is neither deployed nor targeted; add --target-component %s", c.Name, d, d)
			}
		}
	}
	// A reference between a targeted component and one kept as deployed
	// must still name an output the other one has: a kind changed on one
	// side only fails in the middle of the engine run otherwise.
	for _, c := range out.Components {
		var bad error
		eachString(c.Spec, func(s string) {
			for _, r := range stacks.FindRefs(s) {
				to := out.Component(r.Component)
				if bad != nil || to == nil || slices.Contains(to.Kind.Outputs(), r.Output) {
					continue
				}
				add := r.Component
				if want[r.Component] {
					add = c.Name
				}
				bad = fmt.Errorf("--target-component: %s references ${%s.%s}, but %s would stay %s %s, which has no output %q (outputs: %s): add --target-component %s",
					c.Name, r.Component, r.Output, r.Component, article(to.Kind), to.Kind, r.Output, strings.Join(to.Kind.Outputs(), ", "), add)
				if want[r.Component] {
					bad = fmt.Errorf("--target-component: %s (kept as deployed) references ${%s.%s}, but the targeted %s is %s %s, which has no output %q (outputs: %s): add --target-component %s",
						c.Name, r.Component, r.Output, r.Component, article(to.Kind), to.Kind, r.Output, strings.Join(to.Kind.Outputs(), ", "), add)
				}
			}
		})
		if bad != nil {
			return nil, bad
		}
	}
	return &out, nil
}

// collectSensitive adds the sensitive values in v to by, keyed by hash.
func collectSensitive(v any, by map[string]stacks.Sensitive) {
	switch x := v.(type) {
	case stacks.Sensitive:
		by[x.Hash] = x
		if x.Legacy != "" && x.Legacy != x.Hash {
			// Deployed before hash v2: the kept spec holds the old hash
			// (and keeps it, see planner.KeepDeployedHashes).
			if _, ok := by[x.Legacy]; !ok {
				y := x
				y.Hash = x.Legacy
				by[x.Legacy] = y
			}
		}
	case *stacks.Sensitive:
		if x != nil {
			collectSensitive(*x, by)
		}
	case map[string]any:
		for _, e := range x {
			collectSensitive(e, by)
		}
	case []any:
		for _, e := range x {
			collectSensitive(e, by)
		}
	}
}

// hashOnly lists the paths (under path) of v that hold a secret's hash as
// text, that is a secret whose value is not known.
func hashOnly(path string, v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		if stacks.IsSensitive(x) {
			out = append(out, path)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			out = append(out, hashOnly(path+"."+k, x[k])...)
		}
	case []any:
		for i, e := range x {
			out = append(out, hashOnly(fmt.Sprintf("%s[%d]", path, i), e)...)
		}
	}
	return out
}

// withSecrets returns a copy of v in which every keyed hash found in by is
// the sensitive value it stands for.
func withSecrets(v any, by map[string]stacks.Sensitive) any {
	switch x := v.(type) {
	case string:
		if s, ok := by[x]; ok && stacks.IsSensitive(x) {
			return s
		}
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = withSecrets(e, by)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = withSecrets(e, by)
		}
		return l
	}
	return v
}

// eachString calls fn with every string in a spec value.
func eachString(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			eachString(x[k], fn)
		}
	case []any:
		for _, e := range x {
			eachString(e, fn)
		}
	}
}

// article is "a" or "an" for a kind's name.
func article(k stacks.Kind) string {
	if strings.ContainsRune("AEIOU", rune(string(k)[0])) {
		return "an"
	}
	return "a"
}

// componentNames lists the components of the given models, sorted, once each.
func componentNames(models ...*stacks.Resolved) []string {
	seen := map[string]bool{}
	var names []string
	for _, m := range models {
		if m == nil {
			continue
		}
		for _, c := range m.Components {
			if !seen[c.Name] {
				seen[c.Name] = true
				names = append(names, c.Name)
			}
		}
	}
	sort.Strings(names)
	return names
}

// KnownOutputs are the outputs of st that a plan may compare references
// by (planner.Options.Outputs): those of a deployment that succeeded and
// that no drift check found changed since. After a failed or interrupted
// run, or with drift, the engine may hold other values: none.
func KnownOutputs(st *statestore.State) map[string]map[string]any {
	if st == nil || st.Status != statestore.StatusDeployed || len(st.LastDriftCheck.Refreshed()) > 0 {
		return nil
	}
	return st.Outputs
}

// DeployedHeader describes a state for plan headers.
func DeployedHeader(st *statestore.State) planner.Deployed {
	d := planner.Deployed{Serial: st.Serial, Status: st.Status, Drifted: st.LastDriftCheck.Refreshed()}
	rec := st.LastSuccessful
	if rec == nil && st.LastDeployment != nil && st.LastDeployment.Result == statestore.ResultSucceeded {
		rec = st.LastDeployment
	}
	if rec != nil {
		// A destroy records the commit it ran at, but deployed nothing.
		if d.Destroyed = rec.Operation == statestore.OpDestroy; !d.Destroyed {
			d.Commit, d.Dirty = rec.Commit, rec.Dirty
		}
		d.By = rec.User
		if !rec.EndedAt.IsZero() {
			at := rec.EndedAt.UTC()
			d.At = &at
		}
	}
	return d
}

// OtherRepositoryWarning is the warning for a run (verb: plan, apply, ...) from
// the repository repo (gitops.Repo.RemoteID) of a stack/environment whose
// state was last written by a deployment from another repository: two
// repositories with a stack of the same name share a bucket without a
// prefix of their own, and each run replaces what the other deployed.
// Empty when they are the same, or either is not known (no remote; a
// record from before repositories were recorded), or nothing is deployed.
func OtherRepositoryWarning(key statestore.Key, st *statestore.State, repo, verb string) string {
	if st == nil || repo == "" || st.Status == statestore.StatusDestroyed {
		return ""
	}
	d := st.LastDeployment
	if d == nil || d.Repository == "" || strings.EqualFold(d.Repository, repo) {
		return ""
	}
	return fmt.Sprintf("%s was last deployed from another repository, %s (deployment %d, %s of commit %s by %s), not from this one, %s: "+
		"both keep the state of stack %s in the same place, so this %s replaces what that repository deployed. "+
		"Give each repository its own backend.prefix (or bucket) in panka.yaml; if this repository was moved or renamed, go on: the warning stops once a deployment from it is recorded",
		key, d.Repository, d.Serial, d.Operation, shortSHA(d.Commit), d.User, repo, key.Stack, verb)
}
