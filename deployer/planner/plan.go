package planner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	awsreplace "panka.dev/panka/deployer/target/aws/replace"
	"panka.dev/panka/stacks"
)

// Action is what a plan does to one component.
type Action string

// Actions, in the words the JSON schema uses (docs/plan.md).
const (
	ActionCreate  Action = "create"
	ActionUpdate  Action = "update"
	ActionReplace Action = "replace"
	ActionDelete  Action = "delete"
	ActionNoOp    Action = "no-op"
)

// FormatVersion is the version of the plan JSON schema (docs/plan.md).
// Fields may be added without changing it; none are renamed.
const FormatVersion = 1

// Masked is how every rendering shows a sensitive value.
const Masked = "(sensitive)"

// Header says what was planned against what. The planner fills Stack and
// Environment from the models when they are empty; the rest comes from the
// caller (git and state metadata).
type Header struct {
	Stack       string `json:"stack"`
	Environment string `json:"environment"`
	// Destroy is true for a destroy plan (no desired model).
	Destroy  bool     `json:"destroy,omitempty"`
	Desired  Desired  `json:"desired"`
	Deployed Deployed `json:"deployed"`
	// Vars are the variable values given from outside the repository
	// (--var, --var-file, PANKA_VAR_*), secret ones as "(sensitive)".
	Vars map[string]string `json:"vars,omitempty"`
}

// Desired describes where the desired model came from.
type Desired struct {
	// Source is "worktree" or "ref" (or "" when unknown).
	Source string `json:"source,omitempty"`
	// Ref is the ref the user asked for (--ref), if any.
	Ref string `json:"ref,omitempty"`
	// Commit is the full SHA of the commit (HEAD for the work tree); empty
	// outside git or in a repository without commits.
	Commit string `json:"commit,omitempty"`
	// Dirty is true when the work tree differs from Commit.
	Dirty bool `json:"dirty"`
	// Hash is the hex SHA-256 of the canonical desired model (empty for a
	// destroy plan).
	Hash string `json:"hash,omitempty"`
}

// Deployed describes the state the plan was made against.
type Deployed struct {
	// Serial is the state serial (0 = no state).
	Serial int64 `json:"serial"`
	// Commit is the commit of the last successful deployment, if any
	// (none when that was a destroy).
	Commit string `json:"commit,omitempty"`
	// Dirty is true when that deployment was made from uncommitted
	// changes on top of Commit, not from Commit's YAML.
	Dirty bool `json:"dirty,omitempty"`
	// At is when it finished.
	At *time.Time `json:"at,omitempty"`
	// By is the user who ran it.
	By string `json:"by,omitempty"`
	// Status is the state's status (deployed, failed, ...).
	Status string `json:"status,omitempty"`
	// Destroyed is true when the last successful operation was a destroy:
	// nothing is deployed, and At and By say when and by whom it was
	// destroyed.
	Destroyed bool `json:"destroyed,omitempty"`
	// Drifted lists the components the last drift detect found changed
	// outside panka (and not put back since): apply refreshes them from
	// the real resources and puts them back, whatever the plan says.
	Drifted []string `json:"drifted,omitempty"`
}

// Result is a plan: the result of comparing a desired model with a
// deployed one. (The type is not called Plan because the function is.)
type Result struct {
	// FormatVersion is the version of this JSON schema (FormatVersion).
	FormatVersion int    `json:"formatVersion"`
	Header        Header `json:"header"`
	// Provider lists changes to the stack's deployment target
	// (provider.region, provider.tags.team, ...).
	Provider []FieldChange `json:"provider,omitempty"`
	// Variables lists changes to the stack's variables (declared, their
	// values and where each came from: variables.NAME.value,
	// variables.NAME.source) in a plan where no component changes (one
	// that does shows in its fields): apply records them.
	Variables []FieldChange `json:"variables,omitempty"`
	// Changes lists every component, no-ops included: first the desired
	// components in dependency order, then deletes in reverse dependency
	// order of the deployed model.
	Changes []Change `json:"changes"`
	Summary Summary  `json:"summary"`
	// Watched lists the files the stack's spec.watch globs match that
	// differ between the deployed commit and the one planned: panka
	// changed --since-deployed lists the environment for them until a
	// deployment records a commit that has them. They deploy nothing;
	// apply records the new commit (Applies).
	Watched []WatchedFile `json:"watched,omitempty"`
	// DoneByFailedRuns names, sorted, the components whose change here
	// the failed or interrupted runs since the last successful deployment
	// made (or began) in the engine already, as Pulumi's checkpoint shows
	// (deploy.DoneByFailedRuns; set by the caller, which reads it). The
	// summary still counts them, as no deployment recorded them and apply
	// records them; the engine changes only what is left of them, so the
	// text's summary line says how many of its changes they are.
	DoneByFailedRuns []string `json:"doneByFailedRuns,omitempty"`
	// Overridden is set (by the caller, which compares the commits) when
	// the commit planned resolves otherwise than the deployed one, as
	// changed --since-deployed compares them, while values given from
	// outside the repository (--var, --var-file, PANKA_VAR_*) override
	// what changed, so that nothing else differs: apply records the new
	// commit (RecordsCommit), and until one does changed lists the
	// environment.
	Overridden bool `json:"overridden,omitempty"`
	// VariableNotes say which variables differ from the deployed ones
	// only in ways that change nothing (variableValues), without their
	// values; plan prints them as notes.
	VariableNotes []string `json:"-"`
}

// WatchedFile is a file a stack watches (spec.watch) that changed since
// the deployed commit, as panka changed --why gives it.
type WatchedFile struct {
	File   string `json:"file"`
	Detail string `json:"detail"`
}

// Change is what happens to one component.
type Change struct {
	Component string      `json:"component"`
	Kind      stacks.Kind `json:"kind"`
	// PreviousKind is the deployed kind when it differs (a kind change is a
	// replacement).
	PreviousKind stacks.Kind `json:"previousKind,omitempty"`
	Action       Action      `json:"action"`
	// DataLoss is true when a data-holding component (Database, Cache,
	// Bucket, Queue) is deleted or replaced, or updated in a way that
	// deletes part of its data (DeleteReasons).
	DataLoss bool `json:"dataLoss"`
	// ReplaceReasons are the paths whose change forces replacement.
	ReplaceReasons []string `json:"replaceReasons,omitempty"`
	// DeleteReasons are the paths of an update whose change deletes a
	// resource holding some of the component's data (a Queue's
	// deadLetter removed: its dead-letter queue and the messages in it).
	DeleteReasons []string `json:"deleteReasons,omitempty"`
	// DependsOn is the component's dependencies (desired, or deployed for
	// deletes).
	DependsOn []string `json:"dependsOn,omitempty"`
	// Fields are the field-level changes: every field for a create, the
	// differing ones for an update or replace, none for a delete or no-op.
	Fields []FieldChange `json:"fields,omitempty"`
}

// FieldChange is one changed value. Before is nil when the field is new,
// After is nil when it is removed. Values are JSON values (string, bool,
// json.Number, []any, map[string]any) with sensitive leaves masked.
type FieldChange struct {
	// Path is a JSON path into the component, e.g. spec.env.LOG_LEVEL,
	// spec.env["a.b"], dependsOn, service.
	Path   string `json:"path"`
	Before any    `json:"before,omitempty"`
	After  any    `json:"after,omitempty"`
	// Sensitive is true when either side is a secret (both show masked).
	Sensitive bool `json:"sensitive,omitempty"`
	// ForcesReplace is true when this change forces replacement.
	ForcesReplace bool `json:"forcesReplace,omitempty"`
	// SameValue is true when the text changes but not the value deployed:
	// a ${component.output} reference swapped for the value that output
	// has (or back), the component unchanged by the plan. Nothing
	// deployed changes; apply records it (as a label).
	SameValue bool `json:"sameValue,omitempty"`
	// Reason says what replacement means for this field, when known.
	Reason string `json:"reason,omitempty"`
}

// Summary counts the changes.
type Summary struct {
	Create  int `json:"create"`
	Update  int `json:"update"`
	Replace int `json:"replace"`
	Delete  int `json:"delete"`
	NoOp    int `json:"noOp"`
	// DataLoss names the components flagged as data loss ([] when none).
	DataLoss []string `json:"dataLoss"`
	// ProviderChanged is true when the deployment target changed in a
	// way that changes what is deployed: not for a change of provider
	// settings the local target does not use (region, assumeRole,
	// network, tags; another spelling of its directory), which the plan
	// lists under Provider and apply records (Recorded).
	ProviderChanged bool `json:"providerChanged"`
}

// MarshalJSON writes dataLoss as [] rather than null when nothing is lost,
// so a consumer can always read summary.dataLoss as a list.
func (s Summary) MarshalJSON() ([]byte, error) {
	type plain Summary
	if s.DataLoss == nil {
		s.DataLoss = []string{}
	}
	return json.Marshal(plain(s))
}

// HasChanges reports whether applying the plan would change anything.
func (s Summary) HasChanges() bool {
	return s.Create+s.Update+s.Replace+s.Delete > 0 || s.ProviderChanged
}

// HasChanges reports whether applying the plan would change anything.
func (p *Result) HasChanges() bool { return p.Summary.HasChanges() }

// Runs reports whether applying the plan runs the engine to change
// resources: it has changes, or, with none to the recorded spec, drift
// detect found components changed outside panka (apply puts them back)
// or the last run did not finish (apply redoes what it left undone).
// plan --detailed-exitcode exits 2 then: a "plan, apply when 2" pipeline
// would otherwise never put drift back.
func (p *Result) Runs() bool {
	if p.HasChanges() {
		return true
	}
	if p.Header.Destroy {
		return false
	}
	return p.Header.Deployed.Status == "failed" || len(p.Header.Deployed.Drifted) > 0
}

// Applies reports whether apply of the plan has something to do that
// plan --detailed-exitcode exits 2 for: it Runs, or it records what
// changed --since-deployed lists the environment for until a deployment
// does, without changing a resource: a new commit (RecordsCommit), or
// changes that deploy nothing (Recorded: labels, service, dependsOn, a
// reference written as its value, provider settings the target does not
// use), or the first deployment of a stack with no components yet
// (RecordsEmpty). As terraform's plan of changed outputs only: a "plan,
// apply when 2" pipeline that skipped it never recorded them, and changed
// listed the environment for ever.
func (p *Result) Applies() bool {
	return p.Runs() || p.RecordsCommit() || p.Recorded() || p.RecordsEmpty()
}

// RecordsEmpty reports a plan without changes of an environment whose
// stack has no components (yet) and of which nothing is deployed: never
// deployed, or destroyed. There is nothing to create, but apply records a
// deployment of the commit (status then says deployed), and until one does
// changed --since-deployed lists the environment as not deployed.
func (p *Result) RecordsEmpty() bool {
	if p.Header.Destroy || p.HasChanges() || len(p.Changes) > 0 {
		return false
	}
	d := p.Header.Deployed
	return d.Serial == 0 || d.Destroyed
}

// RecordsCommit reports a plan without changes whose apply records a new
// commit all the same: files the stack watches changed since the
// deployed commit (Watched), or the deployed one was made from
// uncommitted changes (its spec may match, its commit's YAML not) and
// this plan is of a commit's (not of a dirty work tree, whose apply
// records "dirty" again), or values given from outside override what
// changed since the deployed commit (Overridden).
func (p *Result) RecordsCommit() bool {
	if p.Header.Destroy {
		return false
	}
	d := p.Header.Desired
	return len(p.Watched) > 0 || p.Overridden || (p.Header.Deployed.Dirty && !d.Dirty && d.Commit != "")
}

// Options control Plan.
type Options struct {
	// Header is copied into the plan (Stack, Environment and Desired.Hash
	// are filled in from the models when empty).
	Header Header
	// ReplaceFields returns, per kind, the spec fields (relative to spec,
	// e.g. "engine") whose change forces replacement. Nil uses
	// DefaultReplaceFields.
	ReplaceFields func(stacks.Kind) []string
	// Outputs are the deployed components' outputs (state.json's, of a
	// successful deployment of the deployed model): a field changed from
	// a reference to the value it has, or back, is compared by value
	// (SameValue) where they give it. Nil compares references as written.
	Outputs map[string]map[string]any
	// RecordVariables compares the variables as the models record them,
	// values and sources given from outside the repository included
	// (variableValues takes those as deployed's otherwise): for a caller
	// that found the environment's model at the planned commit differs
	// from the deployed commit's (changed --since-deployed lists it), so
	// that what those values mask is a change apply records, and changed
	// does not list the environment for ever.
	RecordVariables bool
}

// Plan compares desired with deployed. A nil desired plans a destroy; a nil
// deployed plans from empty state. Both models are only read. The result is
// deterministic: the same inputs give an identical plan.
func Plan(desired, deployed *stacks.Resolved, opts Options) *Result {
	replaceFields := opts.ReplaceFields
	if replaceFields == nil {
		// The aws mapping's rules, for the local target too: it replaces
		// the same fields (replaceOnChanges), so that what the quickstart
		// and the tests deploy behaves as AWS would.
		replaceFields = DefaultReplaceFields
	}
	p := &Result{FormatVersion: FormatVersion, Header: opts.Header, Changes: []Change{}}
	if desired == nil {
		p.Header.Destroy = true
	}
	for _, r := range []*stacks.Resolved{desired, deployed} {
		if r == nil {
			continue
		}
		if p.Header.Stack == "" {
			p.Header.Stack = r.Stack
		}
		if p.Header.Environment == "" {
			p.Header.Environment = r.Environment
		}
	}
	if desired != nil && p.Header.Desired.Hash == "" {
		p.Header.Desired.Hash = desired.Hash()
	}

	// A change of target or region replaces every resource. A change of
	// the local target's directory moves every manifest (an update); its
	// region is no input of any manifest (nothing changes). On the aws
	// target a tags change re-tags every component in place: the
	// provider puts them (default tags) on every resource, and every
	// component has tagged resources, so each is an update, as pulumi
	// preview shows one on each resource.
	replaceAll := ""
	var updateAll []FieldChange
	// netChanges are the aws target's network changes: each component
	// takes them by what it builds from the field (networkChange).
	var netChanges []FieldChange
	if desired != nil && deployed != nil {
		p.Provider = diffValues("provider", normalize(desired.Provider), normalize(deployed.Provider))
		local := localTarget(desired, deployed)
		var moved bool
		for _, fc := range p.Provider {
			switch {
			case fc.Path == "provider.directory" && local:
				if !sameDirectory(desired.Provider.Directory, deployed.Provider.Directory) {
					updateAll, moved = append(updateAll, fc), true
				}
			case fc.Path == "provider.region" && local:
			case fc.Path == "provider.name" || fc.Path == "provider.region" || fc.Path == "provider.directory":
				replaceAll = fc.Path
			case !local && (fc.Path == "provider.network" || strings.HasPrefix(fc.Path, "provider.network.")):
				netChanges = append(netChanges, fc)
			case !local && (fc.Path == "provider.tags" || strings.HasPrefix(fc.Path, "provider.tags.")):
				fc.Reason = "default tags: the provider re-tags every resource of the component in place"
				updateAll = append(updateAll, fc)
			}
		}
		if replaceAll != "" {
			updateAll = nil
		}
		// On the local target only the directory is deployed (a new one
		// moves every manifest): its region, and the aws-only settings,
		// are recorded by apply but change nothing, as a component's
		// labels (Recorded).
		p.Summary.ProviderChanged = len(p.Provider) > 0 && (!local || replaceAll != "" || moved)
	}

	var old map[string]*stacks.Component
	if deployed != nil {
		old = make(map[string]*stacks.Component, len(deployed.Components))
		for i := range deployed.Components {
			old[deployed.Components[i].Name] = &deployed.Components[i]
		}
	}
	kept := map[string]bool{}
	if desired != nil {
		// renewed are the components the engine deletes and creates again
		// (dependencies come first in the order), so that the outputs
		// their readers get are known after apply only.
		renewed := map[string]bool{}
		// changed are the outputs ("api.url") of the components the
		// engine updates in place whose value changes with the update,
		// and why: the engine updates their readers too.
		changed := map[string]string{}
		local := localTarget(desired, deployed)
		for _, name := range order(desired.Components) {
			c := desired.Component(name)
			kept[name] = true
			ch := compare(c, old[name], replaceFields, replaceAll, local)
			if len(updateAll) > 0 && ch.Action == ActionNoOp && old[name] != nil {
				ch.Action, ch.Fields = ActionUpdate, append(slices.Clone(updateAll), ch.Fields...)
			} else if len(updateAll) > 0 && ch.Action == ActionUpdate {
				ch.Fields = append(slices.Clone(updateAll), ch.Fields...)
			}
			if prev := old[name]; prev != nil && prev.Kind == c.Kind && replaceAll == "" && len(netChanges) > 0 {
				networkChange(&ch, c, netChanges, changed)
			}
			if prev := old[name]; prev != nil && replaceAll == "" {
				readsRecreated(&ch, c, prev, renewed, local, replaceFields, func(x, output string) bool {
					return local && localOutputKept(desired.Stack, desired.Environment, old[x], desired.Component(x), output)
				})
				readsChanged(&ch, c, prev, changed, replaceFields)
				outputsChanged(changed, &ch, c, prev, local, desired.Stack, desired.Environment)
			}
			// Every target re-creates what the plan replaces: on the
			// local one a forcing field (replaceOnChanges), a kind change
			// (the pankalocal provider's Diff) or a re-created dependency
			// that fills a forcing field.
			if ch.Action == ActionReplace {
				renewed[name] = true
			}
			p.Changes = append(p.Changes, ch)
		}
		sameValues(p.Changes, opts.Outputs)
	}
	if deployed != nil {
		rev := order(deployed.Components)
		for i := len(rev) - 1; i >= 0; i-- {
			if kept[rev[i]] {
				continue
			}
			c := deployed.Component(rev[i])
			p.Changes = append(p.Changes, Change{Component: c.Name, Kind: c.Kind, Action: ActionDelete,
				DataLoss: c.Kind.HoldsData(), DependsOn: c.DependsOn})
		}
	}
	for _, c := range p.Changes {
		switch c.Action {
		case ActionCreate:
			p.Summary.Create++
		case ActionUpdate:
			p.Summary.Update++
		case ActionReplace:
			p.Summary.Replace++
		case ActionDelete:
			p.Summary.Delete++
		case ActionNoOp:
			p.Summary.NoOp++
		}
		if c.DataLoss {
			p.Summary.DataLoss = append(p.Summary.DataLoss, c.Component)
		}
	}
	unused := desired != nil && deployed != nil && !p.Summary.HasChanges() && !slices.ContainsFunc(p.Changes, func(c Change) bool { return len(c.Fields) > 0 })
	if unused {
		// Only when no component changes: a variable a component uses
		// shows in its fields.
		was := deployed
		if opts.RecordVariables {
			was = nil
		}
		p.Variables = diffValues("variables", variableValues(desired, was), variableValues(deployed, nil))
	}
	if !opts.RecordVariables {
		p.VariableNotes = variableNotes(desired, deployed, unused)
	}
	return p
}

// networkChange adds to ch, the change of component c, the aws target's
// network changes (fcs, paths under provider.network) that c takes: an
// update, or a replacement (data loss for a Database or Cache) when the
// resources it is made of cannot move (a new VPC), each with why. A
// MicroService whose url changes with them records it in changed, so
// its readers are planned as changing too.
func networkChange(ch *Change, c *stacks.Component, fcs []FieldChange, changed map[string]string) {
	spec, _ := normalize(c.Spec).(map[string]any)
	var add []FieldChange
	replace := false
	for _, fc := range fcs {
		rest := strings.TrimPrefix(strings.TrimPrefix(fc.Path, "provider.network"), ".")
		fields := []string{"vpcId", "privateSubnets", "publicSubnets", "listenerArn"}
		if rest != "" {
			fields = []string{strings.FieldsFunc(rest, func(r rune) bool { return r == '.' || r == '[' })[0]}
		}
		for _, f := range fields {
			affected, repl, why := awsreplace.Network(c.Kind, f, spec)
			if !affected {
				continue
			}
			fc.Reason, fc.ForcesReplace = why, repl
			add = append(add, fc)
			if repl {
				replace = true
				ch.ReplaceReasons = append(ch.ReplaceReasons, fc.Path)
			}
			if f == "listenerArn" && c.Kind == stacks.KindMicroService {
				key := c.Name + ".url"
				changed[key] = key + " changes in place with " + fc.Path + ": the value is known after apply"
			}
			break
		}
	}
	if len(add) == 0 {
		return
	}
	ch.Fields = append(add, ch.Fields...)
	switch {
	case replace:
		ch.Action, ch.DataLoss = ActionReplace, c.Kind.HoldsData()
	case ch.Action == ActionNoOp:
		ch.Action = ActionUpdate
	}
}

// sameDirectory reports two spellings of one local target directory
// ("out", "./out/", "out//x/.."): the engine resolves both to the same
// absolute folder and moves no manifest.
func sameDirectory(a, b string) bool {
	if filepath.IsAbs(a) != filepath.IsAbs(b) {
		return false // relative to a repository root the plan does not know
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

// localTarget reports whether the plan is for the local target on both
// sides (a change of target replaces everything anyway).
func localTarget(desired, deployed *stacks.Resolved) bool {
	for _, r := range []*stacks.Resolved{desired, deployed} {
		if r != nil && r.Provider.Name != "local" {
			return false
		}
	}
	return desired != nil || deployed != nil
}

// compare plans one desired component against its deployed version (nil:
// not deployed). Off the local target, the aws mapping's replacements
// that depend on the values (an ElastiCache version downgrade) apply too:
// the local target replaces by field only (replaceOnChanges).
func compare(c, prev *stacks.Component, replaceFields func(stacks.Kind) []string, replaceAll string, local bool) Change {
	ch := Change{Component: c.Name, Kind: c.Kind, DependsOn: c.DependsOn}
	if prev != nil && prev.Kind == c.Kind && replaceAll == "" && sameEncoding(c, prev) {
		// The common case, decided without building comparable values.
		ch.Action = ActionNoOp
		return ch
	}
	after := componentValue(c)
	if prev == nil {
		ch.Action = ActionCreate
		ch.Fields = leaves("", after, func(path string, v any) FieldChange {
			return FieldChange{Path: path, After: mask(v), Sensitive: containsSensitive(v)}
		})
		ch.Fields = maskSecretRefs(ch.Fields)
		return ch
	}
	before := componentValue(prev)
	if prev.Kind == c.Kind && replaceAll == "" && equal(after, before) {
		// The common case, decided with one comparison.
		ch.Action = ActionNoOp
		return ch
	}
	ch.Fields = maskSecretRefs(diffValues("", after, before))
	if prev.Kind != c.Kind {
		ch.PreviousKind = prev.Kind
		ch.Fields = append([]FieldChange{{Path: "kind", Before: string(prev.Kind), After: string(c.Kind), ForcesReplace: true}}, ch.Fields...)
		ch.ReplaceReasons = append(ch.ReplaceReasons, "kind")
	}
	if replaceAll != "" {
		ch.ReplaceReasons = append(ch.ReplaceReasons, replaceAll)
	}
	beforeSpec, _ := before["spec"].(map[string]any)
	afterSpec, _ := after["spec"].(map[string]any)
	if prev.Kind == c.Kind {
		forcing := replaceFields(c.Kind)
		for i := range ch.Fields {
			fc := &ch.Fields[i]
			switch {
			case forcesReplace(fc.Path, forcing):
				fc.Reason = replaceReason(c.Kind, strings.TrimPrefix(fc.Path, "spec."))
			case !local && strings.HasPrefix(fc.Path, "spec."):
				reason := replaceChangeReason(c.Kind, strings.TrimPrefix(fc.Path, "spec."), beforeSpec, afterSpec)
				if reason == "" {
					continue
				}
				fc.Reason = reason
			default:
				continue
			}
			fc.ForcesReplace = true
			ch.ReplaceReasons = append(ch.ReplaceReasons, fc.Path)
		}
	}
	switch {
	case len(ch.ReplaceReasons) > 0:
		ch.Action = ActionReplace
		// Only what exists holds data: a Worker becoming a Bucket loses
		// nothing, a Bucket becoming anything loses its objects.
		ch.DataLoss = prev.Kind.HoldsData()
	case len(ch.Fields) > 0 && !recordedOnly(ch.Fields):
		ch.Action = ActionUpdate
		lossesOf(&ch, beforeSpec, afterSpec)
	default:
		// Nothing, or only what no target deploys: listed, but no change.
		ch.Action = ActionNoOp
	}
	return ch
}

// sameValues marks the fields of updates that change a reference for the
// value it has, or back (sameValue), by the deployed outputs of the
// components the plan keeps as they are; an update left with no other
// change is a no-op that lists them. A reader swapping a reference for
// its value no longer depends on the component, so the plan's order may
// put it first: the components are gone over until none changes (one
// made a no-op may give its outputs to another).
func sameValues(changes []Change, outputs map[string]map[string]any) {
	if len(outputs) == 0 {
		return
	}
	kept := map[string]bool{}
	for _, c := range changes {
		kept[c.Component] = c.Action == ActionNoOp
	}
	value := func(r stacks.RefSpan) (string, bool) {
		v, ok := outputs[r.Component][r.Output].(string)
		return v, ok && kept[r.Component] && !stacks.IsSensitive(v)
	}
	for again := true; again; {
		again = false
		for i := range changes {
			ch := &changes[i]
			if ch.Action != ActionUpdate || len(ch.DeleteReasons) > 0 {
				continue
			}
			for j := range ch.Fields {
				sameValue(&ch.Fields[j], value)
			}
			if recordedOnly(ch.Fields) {
				ch.Action = ActionNoOp
				kept[ch.Component] = true
				again = true
			}
		}
	}
}

// sameValue marks fc SameValue when its two sides are strings that mean
// the same value once their references are replaced by what value gives
// (and at least one has a reference: other text that differs is another
// value).
func sameValue(fc *FieldChange, value func(stacks.RefSpan) (string, bool)) {
	before, ok1 := fc.Before.(string)
	after, ok2 := fc.After.(string)
	if !ok1 || !ok2 || fc.Sensitive || !strings.HasPrefix(fc.Path, "spec.") ||
		len(stacks.FindRefs(before))+len(stacks.FindRefs(after)) == 0 {
		return
	}
	b, ok1 := stacks.Interpolate(before, value)
	a, ok2 := stacks.Interpolate(after, value)
	if ok1 && ok2 && a == b {
		fc.SameValue = true
		fc.Reason = "the same value as deployed: " + strconv.Quote(a)
	}
}

// recordedOnly reports field changes that no target deploys: a
// component's service, labels and dependsOn are in the model (state,
// history, `panka changed`), but neither the local manifest nor an aws
// resource holds them (dependsOn only orders the engine's steps); nor
// does a reference swapped for the value it has (SameValue). Such a
// component is a no-op that lists them; apply records them.
func recordedOnly(fields []FieldChange) bool {
	for _, fc := range fields {
		if !fc.SameValue && fc.Path != "service" && !isPath(fc.Path, "labels") && !isPath(fc.Path, "dependsOn") {
			return false
		}
	}
	return true
}

// variableValues is r's variables by name, normalized ({value, source,
// secret}), as a resolved model records them: changed --since-deployed
// compares them (a variable declared, or its value or source changed,
// lists the environment), so the plan does too, where no component
// changes (a variable a component uses shows in its fields); but a
// variable of r given from outside the repository on either side
// (givenOutside) is taken as deployed's.
func variableValues(r, deployed *stacks.Resolved) any {
	was := map[string]stacks.ResolvedVar{}
	if deployed != nil {
		for _, v := range deployed.Variables {
			was[v.Name] = v
		}
	}
	out := map[string]any{}
	for _, v := range r.Variables {
		if d, ok := was[v.Name]; ok && givenOutside(v, d) {
			v = d
		}
		out[v.Name] = normalize(struct {
			Value  any    `json:"value,omitempty"`
			Source string `json:"source"`
			Secret bool   `json:"secret,omitempty"`
		}{v.Value, v.Source, v.Secret})
	}
	return out
}

// givenOutside reports whether variable v, as desired, and d, as
// deployed, differ (in value or in where it came from), with the same
// secrecy, one of the two given from outside the repository (--var,
// --var-file, PANKA_VAR_*). Where no component changes with it (none
// uses it: a component that did would change with its value), nothing
// deployed changes: the engine gets the same inputs, changed
// --since-deployed reads commits only and never sees such a value, and
// nothing reads the recorded one back but rollback and promote, which
// deploy a record's own commit, with its own values. So, as terraform and
// pulumi plan nothing for a variable no resource uses, it is no change,
// and a pipeline that applies on --detailed-exitcode 2 does not record a
// deployment of nothing at every new value of a variable (an image tag)
// this environment does not use. Between the environment file and the
// stack's default (or unset) it is a change: changed lists the
// environment for it until a deployment records the new commit.
func givenOutside(v, d stacks.ResolvedVar) bool {
	return (stacks.GivenOutside(v.Source) || stacks.GivenOutside(d.Source)) && v.Secret == d.Secret &&
		(v.Source != d.Source || !equal(normalize(v.Value), normalize(d.Value)))
}

// sameValueOutside reports givenOutside for a variable whose value is the
// one deployed: no change whether or not a component uses it.
func sameValueOutside(v, d stacks.ResolvedVar) bool {
	return givenOutside(v, d) && equal(normalize(v.Value), normalize(d.Value))
}

// variableNotes says, sorted by name, which variables of desired
// variableValues takes as deployed's: no change, which plan says in a
// note so that what the next plan shows is no surprise. It never holds a
// value.
func variableNotes(desired, deployed *stacks.Resolved, unused bool) []string {
	if desired == nil || deployed == nil {
		return nil
	}
	var out []string
	for _, v := range desired.Variables {
		for _, d := range deployed.Variables {
			switch {
			case d.Name != v.Name:
			case sameValueOutside(v, d):
				out = append(out, fmt.Sprintf("variable %s has the value deployed, from %s now and from %s then: no change (a plan compares values, not where they came from)",
					v.Name, stacks.SourceText(v.Name, v.Source), stacks.SourceText(v.Name, d.Source)))
			case unused && givenOutside(v, d):
				out = append(out, fmt.Sprintf("variable %s has another value than deployed, from %s now and from %s then, which no component uses: no change",
					v.Name, stacks.SourceText(v.Name, v.Source), stacks.SourceText(v.Name, d.Source)))
			}
		}
	}
	sort.Strings(out)
	return out
}

// isPath reports whether path is top or inside it (top.x, top["a.b"],
// top[2]).
func isPath(path, top string) bool {
	rest, ok := strings.CutPrefix(path, top)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// Recorded reports changes that deploy nothing but that apply records:
// components that change only their service, labels or dependsOn
// (recordedOnly: no-ops that list fields), or provider settings that
// change nothing deployed (Summary.ProviderChanged false).
func (p *Result) Recorded() bool {
	if len(p.Provider) > 0 && !p.Summary.ProviderChanged {
		return true
	}
	if len(p.Variables) > 0 {
		return true
	}
	for _, c := range p.Changes {
		if c.Action == ActionNoOp && len(c.Fields) > 0 {
			return true
		}
	}
	return false
}

// DependenciesChanged reports a component whose dependsOn changed while
// nothing it deploys does: no resource changes, but the engine must run
// to record the new order of its steps (deletes come in reverse). So do
// references swapped for their values (SameValue), which are
// dependencies too.
func (p *Result) DependenciesChanged() bool {
	for _, c := range p.Changes {
		if c.Action == ActionNoOp && slices.ContainsFunc(c.Fields, func(fc FieldChange) bool { return fc.SameValue || isPath(fc.Path, "dependsOn") }) {
			return true
		}
	}
	return false
}

// readsRecreated updates ch, the change of component c (deployed as prev),
// when c's spec reads an output (${x.output}) of a component in renewed:
// that value is known only once x exists again (with its new kind, if it
// changed), so c changes too. On the local target the engine deletes x first (delete
// before replace) and, with it, every component whose spec reads x's
// outputs; it creates again those whose kind has replacement-forcing
// fields (their whole spec is unknown until x exists, which covers those
// fields), and updates the others. Elsewhere c is at least updated.
//
// kept(x, output) reports an output the local engine gives x again with
// the same value (localOutputKept): a component it only updates changes
// nothing when every value it reads from re-created components is kept
// (the engine compares the values once x exists again), so such reads are
// no change of c. One it deletes and creates again is re-created whatever
// the values: the engine decides that before x exists.
func readsRecreated(ch *Change, c, prev *stacks.Component, renewed map[string]bool, local bool, replaceFields func(stacks.Kind) []string, kept func(x, output string) bool) {
	if len(renewed) == 0 {
		return
	}
	type read struct {
		path, value, from string
		// same: every renewed value the string reads is kept.
		same bool
	}
	var reads []read
	walkStrings("spec", normalize(c.Spec), func(path, s string) {
		var rd *read
		same := true
		for _, r := range stacks.FindRefs(s) {
			if !renewed[r.Component] {
				continue
			}
			same = same && kept(r.Component, r.Output)
			if rd == nil {
				rd = &read{path, s, r.Component, false}
			}
		}
		if rd != nil {
			rd.same = same
			reads = append(reads, *rd)
		}
	})
	if len(reads) == 0 {
		return
	}
	// A component replaced anyway (a kind change) only says why it reads
	// new values.
	replace := local && ch.Action != ActionReplace && len(replaceFields(c.Kind)) > 0
	if !replace {
		if reads = slices.DeleteFunc(reads, func(r read) bool { return r.same }); len(reads) == 0 {
			return
		}
	}
	for _, r := range reads {
		reason := r.from + " is re-created: the value is known after apply"
		switch {
		case replace:
			reason = r.from + " is deleted and created again first, and with it every component whose spec reads its outputs"
		case local:
			reason = r.from + " is deleted and created again first: the value is known after apply"
		}
		readField(ch, r.path, r.value, reason, replace)
	}
	switch {
	case replace:
		ch.Action = ActionReplace
		ch.DataLoss = prev.Kind.HoldsData()
	case ch.Action == ActionNoOp:
		ch.Action = ActionUpdate
	}
}

// outputsChanged records in changed the outputs of c (deployed as prev)
// whose value the update ch changes in place, and why: on the local
// target those localOutput gives another value (a Database's endpoint and
// port follow spec.port), elsewhere those an input field of which
// (replace.Feeds) changes (a MicroService's url follows its port, or its
// load balancer's host and path). A field that only swaps a reference for
// the value it has (SameValue) changes nothing.
func outputsChanged(changed map[string]string, ch *Change, c, prev *stacks.Component, local bool, stack, env string) {
	if ch.Action != ActionUpdate || prev.Kind != c.Kind {
		return
	}
	var before, after map[string]any
	if !local {
		before, _ = normalize(prev.Spec).(map[string]any)
		after, _ = normalize(c.Spec).(map[string]any)
	}
	for _, o := range c.Kind.Outputs() {
		key := c.Name + "." + o
		if local {
			b, ok1 := localOutput(stack, env, prev, o)
			a, ok2 := localOutput(stack, env, c, o)
			if ok1 && ok2 && a != b {
				changed[key] = key + " changes in place from " + strconv.Quote(b) + " to " + strconv.Quote(a)
			}
			continue
		}
		for _, fc := range ch.Fields {
			if path, ok := strings.CutPrefix(fc.Path, "spec."); ok && !fc.SameValue && outputFed(c.Kind, o, path, before, after) {
				changed[key] = key + " changes in place with " + fc.Path + ": the value is known after apply"
				break
			}
		}
	}
}

// readsChanged updates ch, the change of component c (deployed as prev),
// when c's spec reads an output that changes in place (changed, by
// outputsChanged): the engine gives c the new value, so c changes too. It
// is re-created when the value goes to a field whose change forces that
// (a replacement is decided on the value the field gets), else updated.
func readsChanged(ch *Change, c, prev *stacks.Component, changed map[string]string, replaceFields func(stacks.Kind) []string) {
	if len(changed) == 0 {
		return
	}
	forcing := replaceFields(c.Kind)
	replace := false
	walkStrings("spec", normalize(c.Spec), func(path, s string) {
		for _, r := range stacks.FindRefs(s) {
			if why, ok := changed[r.Component+"."+r.Output]; ok {
				forces := ch.Action != ActionReplace && prev.Kind == c.Kind && forcesReplace(path, forcing)
				readField(ch, path, s, why, forces)
				replace = replace || forces
				return
			}
		}
	})
	switch {
	case replace:
		ch.Action = ActionReplace
		ch.DataLoss = prev.Kind.HoldsData()
	case ch.Action == ActionNoOp && len(ch.Fields) > 0 && !recordedOnly(ch.Fields):
		ch.Action = ActionUpdate
	}
}

// readField marks the spec field at path of ch, which holds value (a
// string reading another component's output), as changing for reason:
// the field change there gets the reason if it has none, else one with
// the same value on both sides is added among the spec fields, in path
// order. forces marks it as forcing replacement.
func readField(ch *Change, path, value, reason string, forces bool) {
	if i := slices.IndexFunc(ch.Fields, func(fc FieldChange) bool { return fc.Path == path }); i >= 0 {
		ch.Fields[i].ForcesReplace = ch.Fields[i].ForcesReplace || forces
		if ch.Fields[i].Reason == "" {
			ch.Fields[i].Reason = reason
		}
	} else {
		at := len(ch.Fields)
		for i, fc := range ch.Fields {
			if strings.HasPrefix(fc.Path, "spec.") && fc.Path > path {
				at = i
				break
			}
		}
		ch.Fields = slices.Insert(ch.Fields, at, FieldChange{Path: path, Before: value, After: value, ForcesReplace: forces, Reason: reason})
	}
	if forces {
		ch.ReplaceReasons = append(ch.ReplaceReasons, path)
	}
}

// localOutputKept reports whether the local target's engine gives the
// component deployed as prev and desired as c the same value of output
// once it has re-created it or changed its kind: the pankalocal provider
// derives every output from stack, environment and component name, and a
// few from the spec (localOutput).
func localOutputKept(stack, env string, prev, c *stacks.Component, output string) bool {
	if prev == nil || c == nil {
		return false
	}
	before, ok1 := localOutput(stack, env, prev, output)
	after, ok2 := localOutput(stack, env, c, output)
	return ok1 && ok2 && before == after
}

// localOutput is the value the pankalocal provider gives output of c. It
// mirrors outputs() in deployer/pankalocal/component.go: keep the two in
// step.
func localOutput(stack, env string, c *stacks.Component, output string) (string, bool) {
	host := c.Name + "." + env + "." + stack + ".local"
	name := stack + "-" + env + "-" + c.Name
	local := "local://" + stack + "/" + env + "/" + c.Name
	var outs map[string]string
	switch c.Kind {
	case stacks.KindMicroService:
		outs = map[string]string{"url": "http://" + host, "serviceName": name}
	case stacks.KindWorker:
		outs = map[string]string{"serviceName": name}
	case stacks.KindCronJob:
		outs = map[string]string{"ruleName": name}
	case stacks.KindDatabase:
		def := 5432
		if e, _ := c.Spec["engine"].(string); strings.Contains(e, "mysql") || strings.Contains(e, "mariadb") {
			def = 3306
		}
		outs = map[string]string{"endpoint": host + ":" + strconv.Itoa(def), "address": host, "port": strconv.Itoa(def), "secretArn": local + "/secret"}
	case stacks.KindCache:
		outs = map[string]string{"endpoint": host + ":6379", "port": "6379"}
	case stacks.KindQueue:
		qname := name
		if fifo, _ := c.Spec["fifo"].(bool); fifo {
			qname += ".fifo"
		}
		outs = map[string]string{"url": local, "arn": "arn:local:sqs:local:000000000000:" + qname, "name": qname}
	case stacks.KindBucket:
		outs = map[string]string{"name": name, "arn": "arn:local:s3:::" + name}
	case stacks.KindTopic:
		outs = map[string]string{"arn": "arn:local:sns:local:000000000000:" + name}
	}
	v, ok := outs[output]
	return v, ok
}

// walkStrings calls f with every string in v (a normalized value) and its
// path (spec.env.URL, spec.command[1]).
func walkStrings(path string, v any, f func(path, s string)) {
	switch x := v.(type) {
	case string:
		f(path, x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkStrings(joinPath(path, k), x[k], f)
		}
	case []any:
		for i, e := range x {
			walkStrings(path+"["+strconv.Itoa(i)+"]", e, f)
		}
	}
}

// componentValue is the comparable JSON shape of a component: its service,
// labels and dependencies next to the spec, so every part of the model that can
// differ shows up as a path (the kind is compared on its own).
func componentValue(c *stacks.Component) map[string]any {
	m := map[string]any{"spec": normalize(c.Spec)}
	if c.Service != "" {
		m["service"] = c.Service
	}
	if len(c.Labels) > 0 {
		m["labels"] = normalize(c.Labels)
	}
	if len(c.DependsOn) > 0 {
		deps := make([]any, len(c.DependsOn))
		for i, d := range c.DependsOn {
			deps[i] = d
		}
		m["dependsOn"] = deps
	}
	return m
}

// sameEncoding reports whether two components encode to the same JSON
// (ignoring names and kinds). Encoding is canonical (sorted keys; 3 and
// 3.0 both encode as 3), so equal bytes mean equal values; unequal bytes
// are decided by the full comparison.
func sameEncoding(a, b *stacks.Component) bool {
	type cmp struct {
		Service   string            `json:"service,omitempty"`
		Labels    map[string]string `json:"labels,omitempty"`
		DependsOn []string          `json:"dependsOn,omitempty"`
		Spec      map[string]any    `json:"spec"`
	}
	ab, err1 := json.Marshal(cmp{a.Service, a.Labels, a.DependsOn, a.Spec})
	bb, err2 := json.Marshal(cmp{b.Service, b.Labels, b.DependsOn, b.Spec})
	return err1 == nil && err2 == nil && bytes.Equal(ab, bb)
}

// forcesReplace reports whether a changed path is, or is inside, one of the
// replacement-forcing spec fields.
func forcesReplace(path string, fields []string) bool {
	for _, f := range fields {
		p := "spec." + f
		if path == p || (len(path) > len(p) && path[:len(p)] == p && (path[len(p)] == '.' || path[len(p)] == '[')) {
			return true
		}
	}
	return false
}

// normalize turns any model value into its JSON-decoded form (numbers as
// json.Number, Sensitive as its encoded hash) so values read back from
// state.json compare equal to freshly resolved ones.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		// Resolved models are JSON-encodable by construction.
		panic("planner: encode value: " + err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		panic("planner: decode value: " + err.Error())
	}
	return canonNumbers(out)
}

// canonNumbers rewrites json.Number so 3, 3.0 and 3e0 are one value.
func canonNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return x
		}
		if f, err := x.Float64(); err == nil {
			b, _ := json.Marshal(f)
			return json.Number(b)
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = canonNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = canonNumbers(e)
		}
	}
	return v
}

// diffValues returns the changes from before to after under path. Maps are
// compared key by key, lists of equal length element by element, anything
// else as whole values.
func diffValues(path string, after, before any) []FieldChange {
	am, aok := after.(map[string]any)
	bm, bok := before.(map[string]any)
	if aok && bok {
		keys := make([]string, 0, len(am)+len(bm))
		for k := range am {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var out []FieldChange
		for _, k := range keys {
			av, ain := am[k]
			bv, bin := bm[k]
			p := joinPath(path, k)
			switch {
			case ain && bin:
				out = append(out, diffValues(p, av, bv)...)
			case ain:
				out = append(out, FieldChange{Path: p, After: mask(av), Sensitive: containsSensitive(av)})
			default:
				out = append(out, FieldChange{Path: p, Before: mask(bv), Sensitive: containsSensitive(bv)})
			}
		}
		return out
	}
	al, aok := after.([]any)
	bl, bok := before.([]any)
	if aok && bok && len(al) == len(bl) {
		// Same length: element by element, so a changed script inside a
		// command list diffs as text.
		var out []FieldChange
		for i := range al {
			out = append(out, diffValues(path+"["+strconv.Itoa(i)+"]", al[i], bl[i])...)
		}
		return out
	}
	if equal(after, before) {
		return nil
	}
	return []FieldChange{{Path: path, Before: mask(before), After: mask(after),
		Sensitive: containsSensitive(before) || containsSensitive(after)}}
}

// equal compares two normalized values by their canonical JSON.
func equal(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Equal(ab, bb)
}

// leaves lists every leaf (non-map value) under path, sorted by path;
// lists holding scripts are split into their elements.
func leaves(path string, v any, f func(string, any) FieldChange) []FieldChange {
	if l, ok := v.([]any); ok && hasMultiline(l) {
		var out []FieldChange
		for i, e := range l {
			out = append(out, leaves(path+"["+strconv.Itoa(i)+"]", e, f)...)
		}
		return out
	}
	m, ok := v.(map[string]any)
	if !ok || (len(m) == 0 && path != "") {
		return []FieldChange{f(path, v)}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []FieldChange
	for _, k := range keys {
		out = append(out, leaves(joinPath(path, k), m[k], f)...)
	}
	return out
}

// hasMultiline reports whether a list holds a string with a newline (a
// script), which reads better element by element.
func hasMultiline(l []any) bool {
	for _, e := range l {
		if s, ok := e.(string); ok && strings.Contains(s, "\n") {
			return true
		}
	}
	return false
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// joinPath appends key to path: a.b for plain keys, a["x.y"] otherwise.
func joinPath(path, key string) string {
	if !identRE.MatchString(key) {
		q, _ := json.Marshal(key)
		return path + "[" + string(q) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// containsSensitive reports whether v is or holds a sensitive value.
func containsSensitive(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			if containsSensitive(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if containsSensitive(e) {
				return true
			}
		}
	default:
		return stacks.IsSensitive(v)
	}
	return false
}

// maskSecretRefs masks the values of spec.secrets: SSM parameter and
// Secrets Manager references ({secret: ref} in env moves there) are
// never printed (SPEC §3), though the model keeps them in clear (the
// runtime gets the reference) and a changed one still plans as a change.
// A secrets map added or removed as a whole is listed key by key.
func maskSecretRefs(fields []FieldChange) []FieldChange {
	for i := 0; i < len(fields); i++ {
		fc := &fields[i]
		if fc.Path != "spec.secrets" && !strings.HasPrefix(fc.Path, "spec.secrets.") && !strings.HasPrefix(fc.Path, "spec.secrets[") {
			continue
		}
		bm, bok := fc.Before.(map[string]any)
		am, aok := fc.After.(map[string]any)
		if fc.Path == "spec.secrets" && (aok && fc.Before == nil && len(am) > 0 || bok && fc.After == nil && len(bm) > 0) {
			var keys []FieldChange
			if aok {
				keys = leaves(fc.Path, am, func(path string, v any) FieldChange { return FieldChange{Path: path, After: v} })
			} else {
				keys = leaves(fc.Path, bm, func(path string, v any) FieldChange { return FieldChange{Path: path, Before: v} })
			}
			fields = append(fields[:i], append(keys, fields[i+1:]...)...)
			fc = &fields[i]
		}
		var b, a bool
		fc.Before, b = maskAll(fc.Before)
		fc.After, a = maskAll(fc.After)
		fc.Sensitive = fc.Sensitive || b || a
	}
	return fields
}

// maskAll returns v with every leaf replaced by Masked, and whether it
// had any.
func maskAll(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case map[string]any:
		out := make(map[string]any, len(x))
		had := false
		for k, e := range x {
			var m bool
			out[k], m = maskAll(e)
			had = had || m
		}
		return out, had
	case []any:
		out := make([]any, len(x))
		had := false
		for i, e := range x {
			var m bool
			out[i], m = maskAll(e)
			had = had || m
		}
		return out, had
	}
	return Masked, true
}

// mask returns v with every sensitive leaf replaced by Masked (a copy when
// anything is replaced).
func mask(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if !containsSensitive(x) {
			return x
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = mask(e)
		}
		return out
	case []any:
		if !containsSensitive(x) {
			return x
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = mask(e)
		}
		return out
	}
	if stacks.IsSensitive(v) {
		return Masked
	}
	return v
}

// order returns the component names in dependency order (dependencies
// first), breaking ties by name. Dependencies on components outside the
// list are ignored; a cycle (which validation rejects) falls back to name
// order for the components in it.
func order(cs []stacks.Component) []string {
	indeg := make(map[string]int, len(cs))
	users := make(map[string][]string, len(cs))
	for _, c := range cs {
		indeg[c.Name] += 0
	}
	for _, c := range cs {
		seen := map[string]bool{}
		for _, d := range c.DependsOn {
			if _, ok := indeg[d]; !ok || d == c.Name || seen[d] {
				continue
			}
			seen[d] = true
			indeg[c.Name]++
			users[d] = append(users[d], c.Name)
		}
	}
	var ready []string
	for n, d := range indeg {
		if d == 0 {
			ready = append(ready, n)
		}
	}
	sort.Strings(ready)
	out := make([]string, 0, len(cs))
	done := make(map[string]bool, len(cs))
	for len(out) < len(indeg) {
		if len(ready) == 0 {
			// Cycle: take the smallest remaining name.
			var rest []string
			for n := range indeg {
				if !done[n] {
					rest = append(rest, n)
				}
			}
			sort.Strings(rest)
			ready = rest[:1]
			indeg[rest[0]] = 0
		}
		n := ready[0]
		ready = ready[1:]
		if done[n] {
			continue
		}
		done[n] = true
		out = append(out, n)
		for _, u := range users[n] {
			indeg[u]--
			if indeg[u] == 0 && !done[u] {
				i := sort.SearchStrings(ready, u)
				ready = append(ready, "")
				copy(ready[i+1:], ready[i:])
				ready[i] = u
			}
		}
	}
	return out
}

// KeepDeployedHashes gives each secret of desired that is unchanged since a
// deployment recorded its hash the older way (before hash v2: without the
// stack and environment, stacks.HashSensitiveAt) that recorded hash, so a
// stack deployed before v2 plans as no changes and its state and manifests
// stay byte for byte as they are; a new or changed secret gets the v2 hash.
// Call it before Plan, and before hashing desired (saved plans).
func KeepDeployedHashes(desired, deployed *stacks.Resolved) {
	if desired == nil || deployed == nil {
		return
	}
	for i := range desired.Variables {
		v := &desired.Variables[i]
		for _, d := range deployed.Variables {
			if d.Name == v.Name {
				v.Value = keepHash(v.Value, d.Value)
			}
		}
	}
	for i := range desired.Components {
		c := &desired.Components[i]
		if d := deployed.Component(c.Name); d != nil && d.Kind == c.Kind {
			for k, v := range c.Spec {
				c.Spec[k] = keepHash(v, d.Spec[k])
			}
		}
	}
}

// keepHash returns desired with its secrets whose Legacy hash is the one
// deployed holds at the same place given that hash.
func keepHash(desired, deployed any) any {
	switch x := desired.(type) {
	case stacks.Sensitive:
		if s, ok := deployed.(string); ok && x.Legacy != "" && s == x.Legacy {
			x.Hash = s
		}
		return x
	case *stacks.Sensitive:
		if x != nil {
			y := keepHash(*x, deployed).(stacks.Sensitive)
			return &y
		}
	case map[string]any:
		dm, _ := deployed.(map[string]any)
		for k, e := range x {
			x[k] = keepHash(e, dm[k])
		}
	case []any:
		dl, _ := deployed.([]any)
		for i, e := range x {
			var d any
			if i < len(dl) {
				d = dl[i]
			}
			x[i] = keepHash(e, d)
		}
	}
	return desired
}
