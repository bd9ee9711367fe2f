package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/deploy"
	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/locker"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
)

func init() { register(newCmdDrift) }

// DriftOptions are the inputs of drift detect.
type DriftOptions struct {
	F           *Factory
	Stack       string
	Environment string
	ExitCode    bool
	LockTimeout time.Duration
}

// driftReport is the result of drift detect (-o json).
type driftReport struct {
	Stack       string       `json:"stack"`
	Environment string       `json:"environment"`
	CheckedAt   time.Time    `json:"checkedAt"`
	Drifted     []string     `json:"drifted"`
	Resources   []driftEntry `json:"resources"`
	// EngineStateChanged: Pulumi's state was written after the last
	// recorded deployment (deploy.Runtime.EngineState), so the resources
	// may match it and still differ from what state.json says.
	EngineStateChanged bool `json:"engineStateChanged,omitempty"`
	// Serial is the state serial checked.
	Serial int64 `json:"serial"`
	// recorded is the serial of the last deployment record
	// (deploy.LastRecorded), for text output.
	recorded int64
	// Remediation is the command that puts the drift back ("" when none
	// was found).
	Remediation string `json:"remediation,omitempty"`
	// Unmanaged lists manifests in the local target's folder of the
	// stack/environment that are no deployed component's (added by hand,
	// or left by something else): the engine does not know them, so they
	// are not drift it can put back, and an apply leaves them.
	Unmanaged []string `json:"unmanaged,omitempty"`
	// Refresh lists the components that match the deployed spec while
	// the engine's state still holds drift an unfinished run took into it
	// (statestore.DriftCheck.Refresh).
	Refresh []string `json:"-"`
}

type driftEntry struct {
	Component string `json:"component,omitempty"`
	// Kind is the component's deployed kind, when known.
	Kind  string   `json:"kind,omitempty"`
	URN   string   `json:"urn"`
	Type  string   `json:"type"`
	Op    string   `json:"op"`
	Diffs []string `json:"diffs,omitempty"`
	// DataLoss: putting the resource back re-creates (Op "replace") a
	// data-holding component, which deletes it and its data, so the apply
	// needs --allow-replace.
	DataLoss bool `json:"dataLoss,omitempty"`
	// Uncompared: the last check found the component drifted, a run that
	// refreshed to put it back did not finish (so the engine's state holds
	// that drift and the refresh matches it), and without a preview of
	// re-applying the deployed spec (it holds secrets) this check cannot
	// tell whether it still differs: it stays reported, so that the next
	// apply refreshes and puts it back.
	Uncompared bool `json:"uncompared,omitempty"`
}

func newCmdDrift(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "drift", Short: "Detect changes made to deployed resources outside panka"}
	opts := &DriftOptions{F: f}
	detect := &cobra.Command{
		Use:   "detect --stack STACK --environment ENV",
		Short: "Compare deployed resources with what panka last deployed (Pulumi refresh, preview only)",
		Long: `Drift detect takes the stack/environment's lease, asks the engine to refresh
every resource in preview mode (nothing is changed) and reports, per
component, what differs from what panka deployed. The check is recorded in
state (panka status shows it). Like an apply, it first clears what a run
killed part way left (its lease, Pulumi's lock and pending operations):
the state keeps what it cleared, which status and history show, until the
next deployment's record takes it. To put resources back, re-apply the deployed
commit: panka apply --stack S --environment E --ref <deployed commit>; an
apply after a check that found drift refreshes from the real resources
first, so it undoes the drift even when the spec did not change. A
resource that putting back re-creates is reported as a replace; for a
Database, Cache, Bucket or Queue that deletes its data, so the suggested
apply carries --allow-replace (without it the apply is refused).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := needStackEnv(opts.F, opts.Stack, opts.Environment, ""); err != nil {
				return err
			}
			return driftDetectRun(c.Context(), opts)
		},
	}
	stackEnvFlags(detect.Flags(), &opts.Stack, &opts.Environment)
	markRequired(detect, "", "stack", "environment")
	detect.Flags().BoolVar(&opts.ExitCode, "exit-code", false, "exit 2 when drift is found")
	durationVar(detect.Flags(), &opts.LockTimeout, "lock-timeout", 0, "wait this long for the lock: seconds or e.g. 10m (0: fail at once)")
	cmd.AddCommand(detect)
	return cmd
}

func driftDetectRun(ctx context.Context, opts *DriftOptions) error {
	f := opts.F
	key := statestore.Key{Stack: opts.Stack, Environment: opts.Environment}
	store, cfg, st, err := f.deployedState(ctx, key)
	if err != nil {
		return err
	}
	lease, err := f.AcquireLease(ctx, cfg, key.Stack, key.Environment, "drift", "", opts.LockTimeout)
	if err != nil {
		return err
	}
	defer f.ReleaseLease(lease)
	lctx, unwatch := f.watchStateServer(lease.Context(), cfg)
	defer unwatch()
	// Read again under the lease: the state read before it (to fail fast
	// on an environment never deployed) is stale when another run held
	// the lock meanwhile (--lock-timeout), and checking against it would
	// call that run's engine state written by a run that recorded nothing.
	if _, _, st, err = f.deployedState(lctx, key); err != nil {
		return err
	}
	// What this check clears of an earlier, stopped run (the lease it
	// took over, a killed engine's Pulumi lock and pending operations) is
	// written into the state as it clears it: a drift check records no
	// deployment, and the next run finds nothing left to clear, so
	// history would never say that a run was killed. The next
	// deployment's record takes it (recovered.earlier).
	info := lease.Info()
	keep := func(cleared *statestore.Recovered) {
		if cleared.Empty() {
			return
		}
		r := statestore.Recovery{Operation: "drift detect", LockID: info.ID, User: info.LockedBy, Host: info.Metadata.Hostname, At: f.Now().UTC(), Cleared: *cleared}
		kept, _, err := deploy.KeepRecovery(lctx, store, key, st.Serial, r, lease.GiveUpIn, f.Now)
		if err != nil {
			f.Warnf("could not keep what this drift check cleared in the state of %s (%s): %v; history will not say that an earlier run stopped part way", key, cleared, err)
			return
		}
		st = kept
	}
	keep(deploy.RecoveredRecord(f.takenOver(key.Stack, key.Environment), nil))
	// A destroy that did not finish may have deleted some or all of the
	// components: a refresh sees only what is left, so it would find no
	// drift in a half-destroyed environment, or (nothing left) take
	// Pulumi's state for lost.
	if deploy.DestroyUnfinished(st) {
		return destroyUnfinishedError(key, st)
	}
	// Before the engine starts: clearing a killed run's leftovers rewrites
	// the checkpoint.
	moved := false
	if fn := f.engineStateFunc(cfg, key); fn != nil && st.EngineState != "" {
		cur, err := fn(lctx, st.EngineState)
		moved = err == nil && cur != "" && cur != st.EngineState
	}
	var deployed *stacks.Resolved
	if len(st.Spec) > 0 && string(st.Spec) != "null" {
		if deployed, err = planner.DecodeModel(st.Spec); err != nil {
			return fmt.Errorf("read the deployed spec in the state of %s: %w", key, err)
		}
	}
	// The deployed model is the engine's program, so that a preview shows
	// how re-applying it puts drift back. The session never deploys: the
	// permission only keeps the data-holding components' protection from
	// failing the preview of a replacement, which is what it must show.
	eng, err := f.startEngine(lctx, cfg, key, deployed, engineOptions{Log: f.engineLog(), Deployed: deployed, AllowReplace: true})
	if err != nil {
		return driftStopped(lctx, f, cfg, lease, key, err)
	}
	defer eng.Close()
	rec, err := eng.RecoverStale(lctx)
	if !rec.Empty() {
		fmt.Fprintln(f.Notices(), deploy.RecoveryNotice(key, st, rec))
		if w := deploy.UntrackedWarning(key, rec, deployed, func(them string) string {
			return "its deployed spec does not hold " + them
		}); w != "" {
			f.Warnf("%s", w)
		}
		keep(deploy.RecoveredRecord(nil, rec))
	}
	if err != nil {
		return driftStopped(lctx, f, cfg, lease, key, err)
	}
	// A refresh of an empty Pulumi stack finds no drift, whatever exists.
	if err := driftEngineState(key, st, deployed, rec, moved); err != nil {
		return err
	}
	// The resources the refresh finds as the engine's state has them
	// (its steps list only those that differ), for keepUncompared.
	var unchanged []engine.Step
	res, err := eng.RefreshPreview(lctx, func(e engine.Event) {
		if e.Status == engine.StatusUnchanged && e.Component != "" && e.URN != "" {
			unchanged = append(unchanged, engine.Step{Component: e.Component, URN: e.URN, Type: e.Type, Name: e.Name, Op: "same"})
		}
	})
	if err != nil {
		return driftStopped(lctx, f, cfg, lease, key, fmt.Errorf("refresh %s: %w", key, err))
	}
	rep := newDriftReport(key, f.Now().UTC(), res.Steps)
	rep.EngineStateChanged = moved
	rep.Serial, rep.recorded = st.Serial, deploy.LastRecorded(st)
	// A run that refreshed to undo the drift found by the last check and
	// then did not finish (refused without --allow-replace, failed,
	// stopped) took that drift into the engine's state, where a refresh
	// no longer sees it: those components are compared with the deployed
	// spec by the preview below.
	// Those it found put back by hand while the engine's state still
	// holds their drift (Refresh) are compared the same way, or the next
	// check would report that stale state as drift again.
	earlier := st.LastDriftCheck.Refreshed()
	var secrets []string
	if deployed != nil {
		secrets = sensitiveFields(deployed)
	}
	if deployed != nil && (len(rep.Drifted) > 0 || len(earlier) > 0) && len(secrets) > 0 {
		// The engine cannot run the deployed spec without the secrets'
		// values (state keeps their hashes only): its preview would
		// only fail, after a whole engine run, with an error about it.
		f.Log.Warn().Msgf("%s: its deployed spec holds secret values (%s), which state keeps only as hashes, so drift detect cannot preview how re-applying the deployed commit puts it back: a resource reported as update may need re-creating (--allow-replace)", key, strings.Join(secrets, ", "))
		// What panka itself makes the local target re-create (its
		// replaceOnChanges) is known without the preview.
		rep.keepUncompared(unchanged, earlier)
		rep.markForcedReplacements(deployed)
	} else if deployed != nil && (len(rep.Drifted) > 0 || len(earlier) > 0) {
		// The refresh says what differs, not how an apply puts it back:
		// only the provider knows which properties it changes in place
		// and which by re-creating the resource.
		pv, err := eng.PreviewRefresh(lctx, nil)
		if err != nil {
			if lctx.Err() != nil {
				return driftStopped(lctx, f, cfg, lease, key, err)
			}
			f.Log.Warn().Err(err).Msgf("could not preview how re-applying the deployed commit puts %s back: a resource reported as update may need re-creating (--allow-replace)", key)
		} else {
			rep.addRefreshed(pv.Steps, earlier)
			rep.Refresh = rep.dropRestored(pv.Steps, earlier)
			rep.markReplacements(pv.Steps, deployed)
		}
	}
	if deployed != nil && deployed.Provider.Name == "local" {
		if root, err := f.RepoRoot(); err == nil {
			rep.Unmanaged = unmanagedManifests(filepath.Join(localManifestDir(root, deployed), key.Stack, key.Environment), deployed)
		}
	}
	ref := "<deployed commit>"
	if d := deployedRecord(st); d != nil && d.Commit != "" {
		ref = d.Commit
	}
	rep.setRemediation(ref)
	notRecorded, err := recordDriftCheck(ctx, f, cfg, store, lease, key, rep)
	if err != nil {
		return err
	}
	if f.JSON() {
		if err := f.PrintJSON(rep); err != nil {
			return err
		}
	} else {
		writeDriftText(f.IO.Out, rep)
	}
	if err := unrecordedDrift(f, key, rep, notRecorded); err != nil {
		return err
	}
	if opts.ExitCode && (len(rep.Drifted) > 0 || rep.EngineStateChanged) {
		return &ExitCodeError{Code: ExitChanges}
	}
	return nil
}

// destroyUnfinishedError refuses drift detect of key, whose last run
// recorded in st is a destroy that did not finish (interrupted or failed):
// it says so, why drift cannot be judged, and how to go on (finish the
// destroy, or deploy the components again).
func destroyUnfinishedError(key statestore.Key, st *statestore.State) error {
	d := st.LastDeployment
	var deployed *stacks.Resolved
	if len(st.Spec) > 0 && string(st.Spec) != "null" {
		deployed, _ = planner.DecodeModel(st.Spec)
	}
	return fmt.Errorf("the last destroy of %s did not finish (%s at %s, state serial %d): some or all of its components may be deleted already, "+
		"so drift cannot be judged against what panka deployed (a refresh sees only what is left). %s",
		key, d.Result, d.StartedAt.UTC().Format(time.RFC3339), st.Serial, afterDestroyStopped(key, st, deployed))
}

// afterDestroyStopped says how to go on from a destroy of key that did
// not finish: finish it, or deploy the components again (deployed, the
// spec st records; nil when unknown), then check for drift again.
func afterDestroyStopped(key statestore.Key, st *statestore.State, deployed *stacks.Resolved) string {
	allow := ""
	if deployed != nil && slices.ContainsFunc(deployed.Components, func(c stacks.Component) bool { return c.Kind.HoldsData() }) {
		allow = " --allow-destroy"
	}
	apply := fmt.Sprintf("panka apply --stack %s --environment %s", key.Stack, key.Environment)
	if r := deployedRecord(st); r != nil && r.Commit != "" {
		apply += " --ref " + r.Commit
	}
	return fmt.Sprintf("Finish the destroy with panka destroy --stack %s --environment %s%s, or deploy the components again with %s; "+
		"then re-run panka drift detect. Nothing was checked", key.Stack, key.Environment, allow, apply)
}

// driftEngineState refuses drift detect of key when Pulumi's checkpoint
// (rec) holds no resources while st records deployed components
// (deploy.CheckEngineState). When the checkpoint was written after the
// last recorded deployment (moved) it was not lost: a run that recorded
// nothing emptied it, most likely a destroy whose panka was killed (the
// engine, told panka died, finished or stopped it), and the error says
// so and how to go on instead of sending the user to restore it.
func driftEngineState(key statestore.Key, st *statestore.State, deployed *stacks.Resolved, rec *engine.Recovery, moved bool) error {
	if deployed == nil {
		return nil
	}
	err := deploy.CheckEngineState(key, st, deployed, rec)
	if err == nil || !moved {
		return err
	}
	names := make([]string, 0, len(deployed.Components))
	for _, c := range deployed.Components {
		names = append(names, c.Name)
	}
	return fmt.Errorf("Pulumi's state of %s holds no resources, and it was written after the last recorded deployment (serial %d) by a run that recorded nothing: "+
		"most likely a destroy whose panka was killed while its engine went on, so its components (%s) may be deleted and drift cannot be judged against what panka deployed. %s",
		key, deploy.LastRecorded(st), strings.Join(names, ", "), afterDestroyStopped(key, st, deployed))
}

// newDriftReport builds the report of key from the steps of a refresh
// preview. The engine reports steps in the order it finished them, which
// varies from run to run; the report lists resources by component, then
// URN, so text and -o json give the same, stable order.
func newDriftReport(key statestore.Key, at time.Time, steps []engine.Step) driftReport {
	rep := driftReport{Stack: key.Stack, Environment: key.Environment, CheckedAt: at, Drifted: []string{}, Resources: []driftEntry{}}
	seen := map[string]bool{}
	for _, s := range steps {
		if s.Op == "same" || s.Op == "" {
			continue
		}
		rep.Resources = append(rep.Resources, driftEntry{Component: s.Component, URN: s.URN, Type: s.Type, Op: s.Op, Diffs: s.Diffs})
		name := s.Component
		if name == "" {
			name = s.Name
		}
		if !seen[name] {
			seen[name] = true
			rep.Drifted = append(rep.Drifted, name)
		}
	}
	rep.sort()
	return rep
}

func (rep *driftReport) sort() {
	sort.Strings(rep.Drifted)
	sort.SliceStable(rep.Resources, func(i, j int) bool {
		a, b := rep.Resources[i], rep.Resources[j]
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		return a.URN < b.URN
	})
}

// addRefreshed adds to rep the resources of the components in earlier
// (those the last check found drifted) that the refresh did not report
// and that the preview of re-applying the deployed spec (steps) still
// changes: a run that refreshed to undo their drift and did not finish
// (refused without --allow-replace, failed, stopped) took the drift into
// the engine's state, which the refresh compares with, so they match
// that state and still differ from the deployed spec. A resource the
// preview creates is one that no longer exists.
func (rep *driftReport) addRefreshed(steps []engine.Step, earlier []string) {
	changed := map[string]bool{}
	for _, s := range steps {
		switch s.Op {
		case "", "same", "read", "refresh":
		default:
			changed[s.URN] = true
		}
	}
	seen := map[string]bool{}
	for _, r := range rep.Resources {
		seen[r.URN] = true
	}
	listed := map[string]bool{}
	for _, c := range rep.Drifted {
		listed[c] = true
	}
	for _, s := range steps {
		if !changed[s.URN] || seen[s.URN] || !slices.Contains(earlier, s.Component) {
			continue
		}
		op := s.Op
		switch {
		case op == "create":
			op = "delete"
		case isReplaceOp(op):
			op = "update" // markReplacements says replace
		}
		rep.Resources = append(rep.Resources, driftEntry{Component: s.Component, URN: s.URN, Type: s.Type, Op: op, Diffs: s.Diffs})
		if !listed[s.Component] {
			listed[s.Component] = true
			rep.Drifted = append(rep.Drifted, s.Component)
		}
	}
	rep.sort()
}

// dropRestored removes from rep the resources of the components in
// earlier (those the last check found drifted) that the refresh reports
// but the preview of re-applying the deployed spec (steps) leaves as they
// are: a run that refreshed to undo their drift and did not finish took
// the drift into the engine's state, and the resource was then put back
// by hand (as the refusal says to do). It differs from that state, not
// from what panka deployed. It returns those components, whose engine
// state the next apply refreshes first (DriftCheck.Refresh).
func (rep *driftReport) dropRestored(steps []engine.Step, earlier []string) []string {
	changed := map[string]bool{}
	for _, s := range steps {
		switch s.Op {
		case "", "same", "read", "refresh":
		default:
			changed[s.URN] = true
		}
	}
	var restored []string
	kept := rep.Resources[:0]
	for _, r := range rep.Resources {
		if r.Op == "update" && !changed[r.URN] && slices.Contains(earlier, r.Component) {
			if !slices.Contains(restored, r.Component) {
				restored = append(restored, r.Component)
			}
			continue
		}
		kept = append(kept, r)
	}
	rep.Resources = kept
	rep.Drifted = slices.DeleteFunc(rep.Drifted, func(c string) bool {
		return slices.Contains(restored, c) && !slices.ContainsFunc(kept, func(r driftEntry) bool { return r.Component == c })
	})
	sort.Strings(restored)
	return restored
}

// unmanagedManifests lists the *.json files in dir, the local target's
// folder of a stack/environment, that are no component of deployed.
func unmanagedManifests(dir string, deployed *stacks.Resolved) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() || slices.ContainsFunc(deployed.Components, func(c stacks.Component) bool { return c.Name == name }) {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	return out
}

// isReplaceOp reports whether a preview step op is part of a replacement.
func isReplaceOp(op string) bool {
	switch op {
	case "replace", "create-replacement", "delete-replaced", "discard-replaced", "import-replacement":
		return true
	}
	return false
}

// markReplacements turns the drifted resources (Op "update") that the
// preview of re-applying deployed (steps) replaces into Op "replace", and
// flags those of data-holding components (DataLoss): their apply needs
// --allow-replace. Every entry gets its component's deployed kind.
func (rep *driftReport) markReplacements(steps []engine.Step, deployed *stacks.Resolved) {
	replaced := map[string]bool{}
	for _, s := range steps {
		if isReplaceOp(s.Op) {
			replaced[s.URN] = true
		}
	}
	kinds := map[string]stacks.Kind{}
	for _, c := range deployed.Components {
		kinds[c.Name] = c.Kind
	}
	for i := range rep.Resources {
		r := &rep.Resources[i]
		if k, ok := kinds[r.Component]; ok {
			r.Kind = string(k)
		}
		if r.Op == "update" && replaced[r.URN] {
			r.Op = "replace"
			r.DataLoss = kinds[r.Component].HoldsData()
		}
	}
}

// keepUncompared keeps the components in earlier (those the last check
// found drifted) whose resources the refresh found unchanged (steps),
// when there is no preview of re-applying the deployed spec (it holds
// secrets): a run that refreshed to undo their drift and did not finish (an apply
// refused as a replace) took the drift into the engine's state, which the
// refresh compares with, so they match that state whether or not they
// still differ from the deployed spec. Reported as "No drift", the drift
// was lost: the check recorded none, and the next apply, with nothing to
// change, skipped the engine.
func (rep *driftReport) keepUncompared(steps []engine.Step, earlier []string) {
	listed := map[string]bool{}
	for _, c := range rep.Drifted {
		listed[c] = true
	}
	kept, seen := map[string]bool{}, map[string]bool{}
	for _, s := range steps {
		if s.Component == "" || listed[s.Component] || seen[s.URN] || !slices.Contains(earlier, s.Component) {
			continue
		}
		seen[s.URN] = true
		rep.Resources = append(rep.Resources, driftEntry{Component: s.Component, URN: s.URN, Type: s.Type, Op: "update", Uncompared: true})
		if !kept[s.Component] {
			kept[s.Component] = true
			rep.Drifted = append(rep.Drifted, s.Component)
		}
	}
	rep.sort()
}

// localComponentType is the local target's resource type
// (deployer/target/local.Token; that package links the Pulumi SDK).
const localComponentType = "pankalocal:index:Component"

// markForcedReplacements is markReplacements without a preview of
// re-applying deployed (it cannot run when the deployed spec holds
// secrets): a drifted local-target resource whose differing properties
// include a spec field that panka registers as replacing its component
// (replaceOnChanges: the aws mapping's rules, e.g. a Queue's fifo) is put
// back by re-creating it, so the apply needs --allow-replace for a
// data-holding one. A manifest overwritten with garbage loses every field.
// Every entry gets its component's deployed kind.
func (rep *driftReport) markForcedReplacements(deployed *stacks.Resolved) {
	rep.markReplacements(nil, deployed)
	for i := range rep.Resources {
		r := &rep.Resources[i]
		if r.Op != "update" || r.Type != localComponentType || r.Kind == "" {
			continue
		}
		fields := planner.DefaultReplaceFields(stacks.Kind(r.Kind))
		if slices.ContainsFunc(r.Diffs, func(d string) bool { return planner.ForcesReplace(d, fields) }) {
			r.Op = "replace"
			r.DataLoss = stacks.Kind(r.Kind).HoldsData()
		}
	}
}

// setRemediation sets rep.Remediation: re-applying ref, the deployed
// commit, with --allow-replace when that re-creates a data-holding
// component (without it the apply is refused).
func (rep *driftReport) setRemediation(ref string) {
	if len(rep.Drifted) == 0 && !rep.EngineStateChanged {
		return
	}
	rep.Remediation = fmt.Sprintf("panka apply --stack %s --environment %s --ref %s", rep.Stack, rep.Environment, ref)
	if len(rep.dataLoss()) > 0 {
		rep.Remediation += " --allow-replace"
	}
}

// dataLoss names the components whose resources putting back re-creates,
// losing their data, each with its kind ("shop-db (Database)").
func (rep *driftReport) dataLoss() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rep.Resources {
		if r.DataLoss && !seen[r.Component] {
			seen[r.Component] = true
			out = append(out, fmt.Sprintf("%s (%s)", r.Component, r.Kind))
		}
	}
	return out
}

// writeDriftText writes rep for people, resources in the report's order:
// each with what differs, or, when the engine named no property (a
// resource that is gone), only its operation; then rep.Remediation, the
// command that puts them back, and for data-holding components it
// re-creates, why it needs --allow-replace.
func writeDriftText(w io.Writer, rep driftReport) {
	key := statestore.Key{Stack: rep.Stack, Environment: rep.Environment}
	if rep.EngineStateChanged {
		fmt.Fprintf(w, "The engine's state of %s was written after its last recorded deployment (serial %d), by a run that recorded nothing "+
			"(killed, or stopped and resumed after another run took its lease) or by hand: what is deployed may differ from what panka recorded, "+
			"even where the resources match the engine's state. Re-apply the deployed commit to put it back: %s\n",
			key, rep.recorded, rep.Remediation)
	}
	defer func() {
		if len(rep.Unmanaged) > 0 {
			fmt.Fprintf(w, "Not deployed by panka: %s: no component of %s has this manifest, so an apply leaves it; remove it if nothing uses it.\n",
				strings.Join(rep.Unmanaged, ", "), key)
		}
	}()
	if len(rep.Drifted) == 0 {
		if !rep.EngineStateChanged {
			fmt.Fprintf(w, "No drift: %s matches what panka deployed.\n", key)
		}
		return
	}
	differ, them := "differ", "them"
	if len(rep.Resources) == 1 {
		differ, them = "differs", "it"
	}
	fmt.Fprintf(w, "Drift in %s: %s of %s %s from what panka deployed:\n", key, countNoun(len(rep.Resources), "resource"), countNoun(len(rep.Drifted), "component"), differ)
	for _, r := range rep.Resources {
		name := r.Component
		if name == "" {
			name = r.URN
		}
		what := r.Op
		switch r.Op {
		case "delete":
			what = "delete: it no longer exists"
		case "replace":
			what = "replace: putting it back re-creates it"
		}
		if r.Uncompared {
			what = "not compared: a run that refreshed it to put back the drift found earlier did not finish, so the engine's state holds that drift, " +
				"and with secret values in the deployed spec drift detect cannot preview whether it still differs; re-applying puts it back either way"
		}
		fmt.Fprintf(w, "  %s  %s (%s)", name, r.Type, what)
		if len(r.Diffs) > 0 {
			fmt.Fprintf(w, ": %s", strings.Join(r.Diffs, ", "))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Re-apply the deployed commit to put %s back: %s\n", them, rep.Remediation)
	if lost := rep.dataLoss(); len(lost) > 0 {
		fmt.Fprintf(w, "  --allow-replace: putting back %s re-creates it, which deletes it and the data it holds; without the flag the apply is refused. "+
			"To keep the data, put the resource back as it was deployed by hand (or change the YAML to match it), then re-run panka drift detect.\n",
			strings.Join(lost, ", "))
	}
}

// driftStopped is err, the engine's, unless lctx, its context, ended while
// it ran for another reason than Ctrl-C or a stop signal: the lease was lost,
// or the S3 state server stopped answering. The engine was then cancelled
// and says only that it was interrupted, as after Ctrl-C, so the error says
// why (for a lost lease, who holds the lock now) and what to do.
func driftStopped(lctx context.Context, f *Factory, cfg *config.Resolved, lease *locker.Lease, key statestore.Key, err error) error {
	if lctx.Err() == nil {
		return err
	}
	lost := lease.Lost()
	if cause := context.Cause(lctx); lost == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return fmt.Errorf("the drift check of %s was stopped: %w", key, cause)
	}
	if lost == nil {
		return err
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(lctx), 30*time.Second)
	defer cancel()
	return fmt.Errorf("the drift check of %s was stopped: its lock lease was lost while the engine ran (%w).\n"+
		"Nothing was recorded in its state. Next: panka status --stack %s shows who holds its lock now; "+
		"once that run has finished (or the lock is free), re-run panka drift detect", key, f.lostTo(wctx, cfg, lease, lost), key.Stack)
}

// unrecordedDrift says what a drift check of key whose record in state
// failed (notRecorded; nil: recorded) means: when it found drift, an error,
// since the next apply refreshes from the real resources (and so puts the
// drift back) only when state lists what the check found; without the
// record it compares with the engine's own state and changes nothing.
// Otherwise a warning.
func unrecordedDrift(f *Factory, key statestore.Key, rep driftReport, notRecorded error) error {
	if notRecorded == nil {
		return nil
	}
	if len(rep.Drifted) > 0 || len(rep.Refresh) > 0 {
		return fmt.Errorf("the drift found in %s (%s) was not recorded in its state (%w): the next apply would not refresh from the real resources, "+
			"so it would not put the drift back. Run panka drift detect --stack %s --environment %s again once the state backend answers, then apply",
			key, strings.Join(append(slices.Clip(rep.Drifted), rep.Refresh...), ", "), notRecorded, key.Stack, key.Environment)
	}
	f.Log.Warn().Err(notRecorded).Msgf("%s: the drift check was not recorded in its state", key)
	return nil
}

// recordDriftCheck records rep in the state of key, unless the lease was
// lost meanwhile (force unlocked, taken over, expired): then another run may
// own the state, and a write here would make its own write fail after its
// engine ran, so nothing is written and the error says so. A failed write
// is returned as notRecorded: the check itself was done, and what the
// missing record means depends on what it found.
func recordDriftCheck(ctx context.Context, f *Factory, cfg *config.Resolved, store statestore.Store, lease *locker.Lease, key statestore.Key, rep driftReport) (notRecorded, err error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := f.leaseLost(wctx, cfg, lease, "the drift check"); err != nil {
		return nil, fmt.Errorf("the drift check of %s was not recorded in its state: the lock lease was lost (%w), so another run may own its state now; "+
			"see panka status --stack %s, then re-run panka drift detect", key, err, key.Stack)
	}
	// Bound by the lease, as apply's record is: a write that landed after
	// another run could take the lock made that run's own record fail
	// after its engine ran.
	wctx, bcancel, err := deploy.LeaseBound(wctx, key, lease.GiveUpIn)
	defer bcancel()
	if err != nil {
		return nil, fmt.Errorf("the drift check of %s was not recorded in its state: %w; "+
			"re-run panka drift detect --stack %s --environment %s once the lock server answers", key, err, key.Stack, key.Environment)
	}
	// Only over the state it checked: one written since (a run that took
	// the lock after panka unlock --force, while this run could not reach
	// the lock server to learn so) records another deployment, which the
	// check's findings do not describe.
	var moved string
	if _, _, err := statestore.Update(wctx, store, key, f.Now, func(s *statestore.State) error {
		if s.Serial != rep.Serial {
			moved = deploy.StateNow(s)
			return errDriftStateMoved
		}
		s.LastDriftCheck = &statestore.DriftCheck{At: rep.CheckedAt, Drifted: rep.Drifted, Refresh: rep.Refresh}
		return nil
	}); errors.Is(err, errDriftStateMoved) {
		return nil, fmt.Errorf("the drift check of %s was not recorded in its state: the state changed while it ran (it checked serial %d; %s), "+
			"so what it found is of a deployment that is no longer the recorded one, and nothing was written. Another run wrote the state under the lock "+
			"this run held (removed by panka unlock --force, or taken while this run could not reach the lock server): "+
			"see panka status --stack %s and panka history --stack %s --environment %s, then re-run panka drift detect",
			key, rep.Serial, moved, key.Stack, key.Stack, key.Environment)
	} else if err != nil {
		return deploy.StoppedAtLeaseEnd(wctx, err), nil
	}
	return nil, nil
}

// errDriftStateMoved stops recordDriftCheck's write when the state is not
// the one the check read.
var errDriftStateMoved = errors.New("the state changed since the drift check read it")
