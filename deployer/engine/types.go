package engine

import (
	"fmt"
	"strings"
	"time"
)

// Status is where a resource is in an operation.
type Status string

// Statuses. A resource goes Pending (previews: it would change) or one of
// the in-progress statuses, then Done or Failed. Unchanged resources report
// Unchanged once; Diagnostic events carry engine messages.
const (
	StatusPending    Status = "pending"
	StatusCreating   Status = "creating"
	StatusUpdating   Status = "updating"
	StatusReplacing  Status = "replacing"
	StatusDeleting   Status = "deleting"
	StatusRefreshing Status = "refreshing"
	StatusReading    Status = "reading"
	StatusDone       Status = "done"
	StatusFailed     Status = "failed"
	StatusUnchanged  Status = "unchanged"
	StatusDiagnostic Status = "diagnostic"
)

// Event is a simplified engine event about one resource.
type Event struct {
	// Component is the panka component the resource belongs to: the name
	// of the top-level resource it is (or descends from). Empty for the
	// stack itself and shared resources.
	Component string `json:"component,omitempty"`
	URN       string `json:"urn,omitempty"`
	Type      string `json:"type,omitempty"`
	// Name is the resource's name (the last URN segment).
	Name string `json:"name,omitempty"`
	// Op is Pulumi's step: create, update, delete, replace, same, refresh,
	// read, create-replacement, delete-replaced, ...
	Op     string `json:"op,omitempty"`
	Status Status `json:"status"`
	// Diffs are the changed top-level properties (updates and replaces).
	Diffs []string `json:"diffs,omitempty"`
	// Elapsed is the time since the resource's step started (Done, Failed).
	Elapsed time.Duration `json:"elapsed,omitempty"`
	// Message is the diagnostic text (Diagnostic, Failed) and Severity its
	// level ("info", "warning", "error").
	Message  string    `json:"message,omitempty"`
	Severity string    `json:"severity,omitempty"`
	Time     time.Time `json:"time"`
}

// Step is one resource that an operation changes (or would change).
type Step struct {
	Component string   `json:"component,omitempty"`
	URN       string   `json:"urn"`
	Type      string   `json:"type"`
	Name      string   `json:"name"`
	Op        string   `json:"op"`
	Diffs     []string `json:"diffs,omitempty"`
	// Failed is set when the step failed (Up, Destroy).
	Failed bool `json:"failed,omitempty"`
}

// Result is the outcome of an operation.
type Result struct {
	// Changes counts resources by Pulumi operation ("create", "update",
	// "delete", "replace", "same", ...), as the engine's summary reports.
	Changes map[string]int `json:"changes,omitempty"`
	// Summarized is set when the engine sent its summary, also of a
	// failed or interrupted operation: then empty Changes means it
	// changed nothing (a destroy that failed at its first delete), not
	// that nobody knows.
	Summarized bool `json:"summarized,omitempty"`
	// RootOp is what the operation did to the stack's root resource
	// (pulumi:pulumi:Stack), which Changes counts like any other: "create"
	// on a new stack's first Up, "delete" on Destroy, "same" otherwise; ""
	// when the engine did not say.
	RootOp string `json:"rootOp,omitempty"`
	// Steps are the resources that changed (or would change, for previews
	// and refresh previews: the drifted resources), in engine order.
	Steps []Step `json:"steps,omitempty"`
	// Outputs are the stack outputs after Up.
	Outputs map[string]Output `json:"outputs,omitempty"`
	// Duration is the wall time of the operation.
	Duration time.Duration `json:"duration"`
}

// Managed is the number of resources the engine manages after an Up (the
// stack resource and providers included, as Pulumi counts them): all but
// those deleted. -1 when the summary is missing.
func (r *Result) Managed() int {
	if len(r.Changes) == 0 {
		return -1
	}
	n := 0
	for op, c := range r.Changes {
		switch op {
		case "delete", "discard", "delete-replaced", "read-discard":
		default:
			n += c
		}
	}
	return n
}

// Changed is the number of resources created, updated, deleted or replaced.
func (r *Result) Changed() int {
	n := 0
	for op, c := range r.Changes {
		if op != "same" && op != "read" && op != "refresh" {
			n += c
		}
	}
	return n
}

// Output is one stack output.
type Output struct {
	Value  any  `json:"value"`
	Secret bool `json:"secret,omitempty"`
}

// Recovery reports what clearing a killed run's leftovers removed.
type Recovery struct {
	// Locks are the stale DIY lock files found and removed (listed for
	// file:// backends; for other backends see Cancelled).
	Locks []StaleLock `json:"locks,omitempty"`
	// Cancelled is set when `pulumi cancel` ran, removing every lock file
	// of the stack (whether or not any could be listed first).
	Cancelled bool `json:"cancelled,omitempty"`
	// PendingOperations are the operations a killed run left in the
	// checkpoint, removed from it.
	PendingOperations []PendingOperation `json:"pendingOperations,omitempty"`
	// Resources is how many resources the stack's checkpoint holds, its
	// root stack resource and providers left out; nil when it was not
	// read. None while panka's state records deployed components means
	// Pulumi's state is not where this run looks for it.
	Resources *int `json:"resources,omitempty"`
}

// StaleLock is one Pulumi DIY lock file.
type StaleLock struct {
	Path     string    `json:"path"`
	PID      int       `json:"pid,omitempty"`
	Username string    `json:"username,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	Created  time.Time `json:"created,omitzero"`
}

// PendingOperation is an operation that was in flight when a run died: the
// resource may or may not exist.
type PendingOperation struct {
	Type string `json:"type"`
	URN  string `json:"urn"`
}

// Empty reports whether nothing needed clearing.
func (r *Recovery) Empty() bool {
	return r == nil || (len(r.Locks) == 0 && len(r.PendingOperations) == 0)
}

// String summarizes the recovery for a log line.
func (r *Recovery) String() string {
	if r.Empty() {
		return "nothing to clear"
	}
	var parts []string
	for _, l := range r.Locks {
		s := "stale Pulumi lock " + l.Path
		if l.Username != "" || l.Hostname != "" {
			s += fmt.Sprintf(" (%s@%s pid %d, %s)", l.Username, l.Hostname, l.PID, l.Created.Format(time.RFC3339))
		}
		parts = append(parts, s)
	}
	for _, p := range r.PendingOperations {
		parts = append(parts, fmt.Sprintf("pending %s of %s", p.Type, p.URN))
	}
	return "cleared " + strings.Join(parts, "; ")
}

// ProtectedError is an operation the engine refused because it would have
// replaced or deleted resources that panka marks protected: those of
// data-holding components, unless --allow-replace / --allow-destroy. It
// crosses the protocol (Message.Protected), so panka knows the refusal
// for what it is.
type ProtectedError struct {
	Replace []string `json:"replace,omitempty"` // component names
	Delete  []string `json:"delete,omitempty"`
	// Why, when set, says what made the engine want to replace them and
	// where to see it (panka fills it in: it knows whether the run
	// refreshed from the real resources first, and which stack/env it is).
	Why string `json:"-"`
}

func (e *ProtectedError) Error() string {
	var parts []string
	if len(e.Replace) > 0 {
		why := ""
		if e.Why != "" {
			why = " " + e.Why
		}
		parts = append(parts, fmt.Sprintf("refusing to replace %s: the engine found that it must be re-created (a change its provider cannot make in place), "+
			"which deletes it and the data it holds; it was not replaced.%s If the replacement is intended, re-run with --allow-replace",
			strings.Join(e.Replace, ", "), why))
	}
	if len(e.Delete) > 0 {
		parts = append(parts, fmt.Sprintf("refusing to delete %s: it holds data and this run was not given --allow-destroy; it was not deleted. "+
			"If deleting it is intended, re-run with --allow-destroy", strings.Join(e.Delete, ", ")))
	}
	return strings.Join(parts, "; ")
}

// PulumiBusyError is RecoverStale's refusal to clear the Pulumi lock of a
// stack while the Pulumi process that holds it still runs on this host:
// an earlier run is still deploying, or stopping (its panka was killed,
// and its engine stops Pulumi cleanly, which lasts as long as the
// resource operations in flight). Nothing was cleared. It crosses the
// protocol (Message.PulumiBusy), so panka can wait for PID to end.
type PulumiBusyError struct {
	Stack string    `json:"stack"` // the engine's stack, e.g. shop-dev
	PID   int       `json:"pid"`   // the Pulumi CLI holding the lock
	Since time.Time `json:"since"` // when it took the lock
	Lock  string    `json:"lock"`  // the lock file or object
}

func (e *PulumiBusyError) Error() string {
	return fmt.Sprintf("the Pulumi lock on stack %q is held by pulumi pid %d on this host (since %s, %s), which still runs: an earlier run is still deploying or stopping. "+
		"Nothing was cleared or changed; wait for it to end (or stop it: kill %d), then re-run",
		e.Stack, e.PID, e.Since.UTC().Format(time.RFC3339), e.Lock, e.PID)
}

// PassphraseError is an engine operation that could not decrypt the
// stack's engine state: the secrets passphrase given is not the one its
// secrets were encrypted with. The engine fails on it while reading its
// state, before it changes anything. It crosses the protocol
// (Message.Passphrase).
type PassphraseError struct {
	Stack string `json:"stack"` // the engine's stack, e.g. shop-dev
}

func (e *PassphraseError) Error() string {
	return fmt.Sprintf("the secrets passphrase is not the one the secrets of engine stack %q were encrypted with (incorrect passphrase): "+
		"set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the passphrase its earlier deployments used", e.Stack)
}

// MissingPluginError is an engine operation that could not start the
// provider plugin its resources need (the engine never downloads one): it
// failed before it could change anything. It crosses the protocol
// (Message.MissingPlugin).
type MissingPluginError struct {
	Plugin string `json:"plugin"` // e.g. pulumi-resource-aws
	Hint   string `json:"hint,omitempty"`
}

func (e *MissingPluginError) Error() string {
	s := fmt.Sprintf("the Pulumi engine cannot find the provider plugin %s (plugin downloads are disabled)", e.Plugin)
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}
