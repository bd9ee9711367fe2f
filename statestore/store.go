package statestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SchemaVersion is the version of the state.json and history record format
// this build writes. Reading a higher version is an error (ErrFutureSchema).
const SchemaVersion = 1

// Key names one stack/environment in a store. Both parts must be valid
// panka names (lower case letters, digits and '-'); backends reject anything
// that could escape the key prefix.
type Key struct {
	Stack       string `json:"stack"`
	Environment string `json:"environment"`
}

func (k Key) String() string { return k.Stack + "/" + k.Environment }

// Status of a stack/environment after its last operation.
const (
	StatusDeployed  = "deployed"
	StatusFailed    = "failed"
	StatusDestroyed = "destroyed"
	StatusApplying  = "applying"
)

// Operations recorded in deployments.
const (
	OpApply    = "apply"
	OpDestroy  = "destroy"
	OpRollback = "rollback"
	OpPromote  = "promote"
)

// Results of a deployment.
const (
	ResultSucceeded   = "succeeded"
	ResultFailed      = "failed"
	ResultInterrupted = "interrupted"
)

// State is the content of <prefix>stacks/<stack>/<env>/state.json.
type State struct {
	SchemaVersion int    `json:"schemaVersion"`
	Serial        int64  `json:"serial"`
	Stack         string `json:"stack"`
	Environment   string `json:"environment"`
	Status        string `json:"status"`
	// LastDeployment is the record of the newest operation (also in history).
	LastDeployment *Deployment `json:"lastDeployment,omitempty"`
	// LastSuccessful is the record of the newest successful apply, rollback
	// or promote (the deployed commit), when it differs from LastDeployment.
	LastSuccessful *Deployment `json:"lastSuccessful,omitempty"`
	// Spec is the resolved model that is deployed (stacks.Resolved encoded
	// canonically); absent after destroy.
	Spec json.RawMessage `json:"spec,omitempty"`
	// Outputs per component: component -> output -> value. Sensitive
	// outputs are stored as keyed hashes.
	Outputs map[string]map[string]any `json:"outputs,omitempty"`
	// Resources summarises what the deployment manages.
	Resources ResourceSummary `json:"resources"`
	// LastDriftCheck is when drift was last checked, if ever.
	LastDriftCheck *DriftCheck `json:"lastDriftCheck,omitempty"`
	// EngineState identifies the engine's own state (Pulumi's checkpoint)
	// as the last deployment that ran the engine left it: an opaque token
	// ("" when unknown). A different one later means something that
	// recorded no deployment wrote the engine's state since.
	EngineState string `json:"engineState,omitempty"`
	// LastWrite is the newest write of this state by a command that
	// records no deployment (state rm, state push): no history record
	// names it. It is that write's when its Serial is the state's; a
	// deployment writes a state without it.
	LastWrite *Write `json:"lastWrite,omitempty"`
	// Recoveries are what runs that recorded no deployment of their own
	// (a drift detect; a run refused, declined, stopped or unrecorded
	// after it cleared) cleared of earlier, stopped runs, oldest first.
	// Each is written as it clears, before anything can stop it; the next
	// deployment's record takes them (Recovered.Earlier) and its state
	// drops them.
	Recoveries []Recovery `json:"recoveries,omitempty"`
	UpdatedAt  time.Time  `json:"updatedAt"`
}

// Write is a write of a state that records no deployment.
type Write struct {
	Operation string    `json:"operation"` // WriteStateRm or WriteStatePush
	Serial    int64     `json:"serial"`    // the serial it wrote
	User      string    `json:"user,omitempty"`
	At        time.Time `json:"at"`
}

// Operations of a Write.
const (
	WriteStateRm   = "state rm"
	WriteStatePush = "state push"
)

// PlanBasis is a digest of all of st a plan made against it depends on:
// everything but its serial, when it was written, and when drift was last
// checked. A drift check that finds what the one before it found (no
// drift, most often: a scheduled drift detect) moves the serial and changes
// no plan, so a plan saved before it is still the plan (planner's Saved.Check);
// any other write (a deployment, state rm, state push) changes the digest.
// "" for a nil st (no state).
func (st *State) PlanBasis() string {
	if st == nil {
		return ""
	}
	c := *st
	c.Serial, c.UpdatedAt = 0, time.Time{}
	// What a run cleared changes nothing a plan compares.
	c.Recoveries = nil
	if dc := c.LastDriftCheck; dc != nil && len(dc.Refreshed()) > 0 {
		// What it found matters (apply refreshes those components), not
		// when; a check that found nothing is as good as none.
		c.LastDriftCheck = &DriftCheck{Drifted: dc.Drifted, Refresh: dc.Refresh}
	} else {
		c.LastDriftCheck = nil
	}
	b, err := json.Marshal(&c)
	if err != nil {
		// A state that does not encode was never read from a store.
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ResourceSummary counts what a stack/environment manages.
type ResourceSummary struct {
	Components int            `json:"components"`
	Resources  int            `json:"resources"`
	ByKind     map[string]int `json:"byKind,omitempty"`
}

// DriftCheck records the last drift detection.
type DriftCheck struct {
	At      time.Time `json:"at"`
	Drifted []string  `json:"drifted,omitempty"`
	// Refresh lists components that match what panka deployed while the
	// engine's state does not: an unfinished run (a refused apply) took
	// their drift into it, and they were put back by hand since. The
	// next apply refreshes them first, as drifted ones.
	Refresh []string `json:"refresh,omitempty"`
}

// Refreshed lists the components whose engine state the next apply
// refreshes from the real resources first: the drifted ones and those
// of Refresh. Nil d: none.
func (d *DriftCheck) Refreshed() []string {
	if d == nil {
		return nil
	}
	return append(slices.Clip(d.Drifted), d.Refresh...)
}

// Deployment is one immutable history record (SPEC §5).
type Deployment struct {
	SchemaVersion int    `json:"schemaVersion"`
	ID            string `json:"id"`
	Serial        int64  `json:"serial"` // the state serial this deployment wrote
	Stack         string `json:"stack"`
	Environment   string `json:"environment"`
	Operation     string `json:"operation"` // apply, destroy, rollback, promote
	Commit        string `json:"commit"`    // full 40-hex SHA of the desired YAML
	Ref           string `json:"ref,omitempty"`
	CommitAuthor  string `json:"commitAuthor,omitempty"`
	CommitMessage string `json:"commitMessage,omitempty"`
	Dirty         bool   `json:"dirty"`
	// FromCommit/ToCommit for rollback; FromEnvironment for promote.
	FromCommit      string `json:"fromCommit,omitempty"`
	ToCommit        string `json:"toCommit,omitempty"`
	FromEnvironment string `json:"fromEnvironment,omitempty"`
	// TargetComponents are the components a --target-component run
	// deployed when it left others out: those kept their earlier spec, so
	// what runs is not all of Commit's YAML (like a Dirty deployment).
	TargetComponents []string `json:"targetComponents,omitempty"`
	User             string   `json:"user"`
	Host             string   `json:"host"`
	CIRunURL         string   `json:"ciRunUrl,omitempty"`
	// Repository names the repository deployed from (its default
	// remote, gitops.Repo.RemoteID); empty without one, and in records
	// written before the field existed.
	Repository   string `json:"repository,omitempty"`
	PankaVersion string `json:"pankaVersion"`
	// Vars used (secret ones as keyed hashes only).
	Vars      map[string]string `json:"vars,omitempty"`
	StartedAt time.Time         `json:"startedAt"`
	EndedAt   time.Time         `json:"endedAt"`
	Result    string            `json:"result"` // succeeded, failed, interrupted
	Error     string            `json:"error,omitempty"`
	LockID    string            `json:"lockId,omitempty"`
	// Spec is the resolved model this deployment applied (so --to-version
	// works without the commit in the clone).
	Spec    json.RawMessage           `json:"spec,omitempty"`
	Outputs map[string]map[string]any `json:"outputs,omitempty"`
	Changes *ChangeSummary            `json:"changes,omitempty"`
	// ChangesFrom says what Changes counts: ChangesFromEngine (what the
	// engine's update summary says it did, in Pulumi resources; for a run
	// that failed or was interrupted part way, what it did before it
	// stopped) or ChangesFromPlan (the plan's counts, in components: the
	// engine did not run or gave no summary). Empty in records written
	// before the field existed.
	ChangesFrom string `json:"changesFrom,omitempty"`
	// PlannedChanges is what the plan the deployment ran said it would
	// change, in components: the units of plan's "Plan: 1 to update"
	// line, which apply, rollback, promote and destroy report first.
	// Changes (from the engine) counts Pulumi resources, and can differ:
	// a component the target maps to several resources counts each, and
	// putting back drift updates components the plan left alone. Absent
	// in records written before the field existed.
	PlannedChanges *ChangeSummary `json:"plannedChanges,omitempty"`
	// Recovered says what this run found left by an earlier run of the
	// stack/environment that stopped part way (killed, or cut off from
	// its backends) and cleared before it deployed; nil when it found
	// nothing (and in records written before the field existed). Such a
	// stopped run often left no record of its own, so this is where
	// history keeps that it happened.
	Recovered *Recovered `json:"recovered,omitempty"`
}

// Recovered is what a deployment cleared of an earlier, stopped run.
type Recovered struct {
	// Lease is the holder of the lock lease this run took over: its
	// process provably no longer ran, or (Expired) the lease had expired
	// unreleased; nil when the lease was free.
	Lease *RecoveredHolder `json:"lease,omitempty"`
	// PulumiLocks are the holders of the stale Pulumi lock files removed.
	PulumiLocks []RecoveredHolder `json:"pulumiLocks,omitempty"`
	// PulumiCancelled is set when `pulumi cancel` removed the stack's
	// Pulumi lock (a backend whose lock files could not be listed).
	PulumiCancelled bool `json:"pulumiCancelled,omitempty"`
	// PendingOperations are the operations the stopped run's engine left
	// in flight, removed from Pulumi's checkpoint: their resources may or
	// may not exist, and this run's update made them what it deploys.
	PendingOperations []RecoveredOperation `json:"pendingOperations,omitempty"`
	// Earlier are what runs before this one that recorded no deployment
	// (State.Recoveries) cleared, oldest first.
	Earlier []Recovery `json:"earlier,omitempty"`
}

// Recovery is what one run that recorded no deployment of its own
// cleared of an earlier, stopped run, and which run that was.
type Recovery struct {
	// Operation is the run's: drift detect, apply, destroy, ...
	Operation string    `json:"operation"`
	LockID    string    `json:"lockId,omitempty"`
	User      string    `json:"user,omitempty"`
	Host      string    `json:"host,omitempty"`
	At        time.Time `json:"at"`
	Cleared   Recovered `json:"cleared"`
}

// String says which run cleared what: "drift detect by dev@example.com
// on host1 at 2026-01-02T03:04:05Z, which recorded no deployment, took
// over the lease of ...".
func (r Recovery) String() string {
	return fmt.Sprintf("%s by %s at %s, which recorded no deployment, %s", r.Operation, userOnHost(r.User, r.Host), r.At.UTC().Format(time.RFC3339), r.Cleared.String())
}

// ClearedItself reports whether the run r is the record of cleared
// anything itself, rather than only runs before it (Earlier).
func (r *Recovered) ClearedItself() bool {
	return r != nil && (r.Lease != nil || len(r.PulumiLocks) > 0 || r.PulumiCancelled || len(r.PendingOperations) > 0)
}

// Merge adds to r what o cleared that r does not list.
func (r *Recovered) Merge(o *Recovered) {
	if o == nil {
		return
	}
	if r.Lease == nil {
		r.Lease = o.Lease
	}
	r.PulumiCancelled = r.PulumiCancelled || o.PulumiCancelled
	for _, l := range o.PulumiLocks {
		if !slices.Contains(r.PulumiLocks, l) {
			r.PulumiLocks = append(r.PulumiLocks, l)
		}
	}
	for _, p := range o.PendingOperations {
		if !slices.Contains(r.PendingOperations, p) {
			r.PendingOperations = append(r.PendingOperations, p)
		}
	}
	r.Earlier = append(r.Earlier, o.Earlier...)
}

// RecoveredHolder is who held a lease or Pulumi lock a stopped run left;
// each field is empty when not known.
type RecoveredHolder struct {
	// Path is the Pulumi lock file or object removed (PulumiLocks only).
	Path      string    `json:"path,omitempty"`
	LockID    string    `json:"lockId,omitempty"`
	User      string    `json:"user,omitempty"`
	Host      string    `json:"host,omitempty"`
	PID       int       `json:"pid,omitempty"`
	Operation string    `json:"operation,omitempty"`
	Commit    string    `json:"commit,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	// Expired is set on a Lease taken over because it had expired (its
	// holder never released it: killed on another machine, or cut off)
	// rather than because its process provably ended.
	Expired bool `json:"expired,omitempty"`
}

// RecoveredOperation is one pending Pulumi operation cleared: its type
// (creating, updating, deleting, ...) and the resource's URN.
type RecoveredOperation struct {
	Type string `json:"type"`
	URN  string `json:"urn"`
}

// Empty reports whether r records nothing.
func (r *Recovered) Empty() bool {
	return !r.ClearedItself() && (r == nil || len(r.Earlier) == 0)
}

// String says in one line what the run cleared, for history and status:
// "took over the lease of ...; removed the stale Pulumi lock of ...;
// cleared Pulumi's pending operations updating web".
func (r *Recovered) String() string {
	if r.Empty() {
		return ""
	}
	var parts []string
	if r.Lease != nil {
		what := "the lease"
		if r.Lease.Expired {
			what = "the expired lease"
		}
		parts = append(parts, "took over "+what+" of "+r.Lease.String())
	}
	for _, l := range r.PulumiLocks {
		if l.User == "" && l.Host == "" && l.PID == 0 {
			// A lock file a killed Pulumi left half-written.
			parts = append(parts, "removed a stale Pulumi lock that names no holder ("+l.Path+")")
			continue
		}
		parts = append(parts, "removed the stale Pulumi lock of "+l.String())
	}
	if r.PulumiCancelled && len(r.PulumiLocks) == 0 {
		parts = append(parts, "removed the stale Pulumi lock (pulumi cancel)")
	}
	if n := len(r.PendingOperations); n > 0 {
		ops := make([]string, n)
		for i, p := range r.PendingOperations {
			name := p.URN
			if j := strings.LastIndex(name, "::"); j >= 0 {
				name = name[j+2:]
			}
			ops[i] = p.Type + " " + name
		}
		parts = append(parts, "cleared Pulumi's pending operations "+strings.Join(ops, ", "))
	}
	for _, e := range r.Earlier {
		if len(parts) > 0 {
			parts = append(parts, "before it, "+e.String())
		} else {
			parts = append(parts, e.String())
		}
	}
	return strings.Join(parts, "; ")
}

// userOnHost is "dev@example.com on host1", "an unknown user" when the
// user is not known.
func userOnHost(user, host string) string {
	if user == "" {
		user = "an unknown user"
	}
	if host != "" {
		user += " on " + host
	}
	return user
}

// String names the holder: "dev@example.com on host1 (pid 4242), apply
// of commit 1a2b3c4d5e6f, since 2026-01-02T03:04:05Z".
func (h RecoveredHolder) String() string {
	s := userOnHost(h.User, h.Host)
	if h.PID != 0 {
		s += fmt.Sprintf(" (pid %d)", h.PID)
	}
	if h.Operation != "" {
		s += ", " + h.Operation
		if h.Commit != "" {
			c := h.Commit
			if len(c) > 12 {
				c = c[:12]
			}
			s += " of commit " + c
		}
	}
	if !h.Since.IsZero() {
		s += ", since " + h.Since.UTC().Format(time.RFC3339)
	}
	return s
}

// What a deployment's Changes count.
const (
	ChangesFromEngine = "engine"
	ChangesFromPlan   = "plan"
)

// ChangeSummary counts what a deployment changed: the engine's own summary
// when it ran and gave one (also of a run that failed part way), else the
// plan's counts.
type ChangeSummary struct {
	Create  int `json:"create"`
	Update  int `json:"update"`
	Replace int `json:"replace"`
	Delete  int `json:"delete"`
}

// Version is an opaque token for compare-and-swap (an ETag on S3, a content
// hash locally). The zero Version means "does not exist".
type Version string

// Store keeps state and history for stacks/environments. Implementations
// are safe for concurrent use by multiple goroutines and processes.
type Store interface {
	// Get returns the current state and its version. It returns an error
	// wrapping ErrNotFound when there is no state, ErrCorrupt when the object
	// is not valid state JSON, ErrFutureSchema when it was written by a newer
	// panka. With ErrCorrupt it also returns the corrupt object's version, so
	// a deliberate repair (state push --force) can replace it by
	// compare-and-swap; nothing else writes over it.
	Get(ctx context.Context, key Key) (*State, Version, error)
	// Put writes state if the current version is still prev (the zero
	// Version: only if none exists). On a mismatch it returns a *ConflictError
	// (errors.Is(err, ErrConflict)) and writes nothing.
	Put(ctx context.Context, key Key, st *State, prev Version) (Version, error)
	// Delete removes state if the current version is still prev. History is kept.
	Delete(ctx context.Context, key Key, prev Version) error
	// AppendHistory stores an immutable record; it never overwrites an
	// existing record (ErrConflict if the record name exists with other
	// content; storing the identical record again succeeds, so a retried
	// request is harmless). Records are named by start time and serial
	// (HistoryName).
	AppendHistory(ctx context.Context, key Key, d *Deployment) error
	// RemoveHistory withdraws the record AppendHistory stored for d (the
	// record named HistoryName(d) whose ID is d.ID). It exists for one case
	// only: a deployment appends its record before the compare-and-swap
	// write of state.json (SPEC §5), and when that write fails the record
	// describes a deployment that was never recorded; nothing references it
	// yet. A record with another ID under that name is left in place
	// (ErrConflict); a record that is already gone is not an error, so a
	// retried request is harmless. Errors name the record's location.
	RemoveHistory(ctx context.Context, key Key, d *Deployment) error
	// History lists records newest-first (highest serial first, see
	// SortHistory), skipping offset and returning at most limit (limit <= 0:
	// all). Records of the page that cannot be read (ErrCorrupt,
	// ErrFutureSchema) do not stop the others: it returns those it read
	// with an *UnreadableError naming the rest (Unreadable splits it off);
	// offset and limit count them too.
	History(ctx context.Context, key Key, offset, limit int) ([]*Deployment, error)
	// NewerHistory returns the record with the highest serial above serial
	// among those named at or after since (the zero time: all; NewerSince
	// gives it for a state), nil when there is none. It looks only at those
	// names (S3: a listing that starts after since), so a deployment's check
	// that no record is ahead of the state does not cost more as history
	// grows.
	NewerHistory(ctx context.Context, key Key, serial int64, since time.Time) (*Deployment, error)
	// MarkSerial records serial, before a write of key's state that has
	// no history record (state rm, state push, a drift check) stores it,
	// as the highest serial used: when state.json is lost (deleted by
	// hand, a lifecycle rule) or restored to an earlier version, history
	// alone would give that serial again. It replaces the mark, only by a
	// higher serial: a late mark of a lower one (a run whose lease was
	// taken meanwhile) leaves it, so it never goes down (S3: compare-and-swap
	// on the mark it reads; one that cannot be read is an error). The mark
	// is one small object beside state.json (SerialPath).
	MarkSerial(ctx context.Context, key Key, serial int64) error
	// MarkedSerial returns the serial MarkSerial recorded for key, 0
	// when none was. A mark that cannot be read is an error naming it.
	MarkedSerial(ctx context.Context, key Key) (int64, error)
	// Deployment returns the record with the given state serial (ErrNotFound).
	Deployment(ctx context.Context, key Key, serial int64) (*Deployment, error)
	// List returns every stack/environment that has state, sorted.
	List(ctx context.Context) ([]Key, error)
	// ListStack returns the environments of one stack that have state, as
	// List would (sorted), without looking at other stacks: a command
	// about one stack must not cost a walk of a monorepo's whole store. A
	// stack name that does not validate is an error (ErrInvalidKey).
	ListStack(ctx context.Context, stack string) ([]Key, error)
}

// SkipLister is implemented by stores whose listing can leave
// stack/environments out before it looks at them. ListSkipping returns what
// List returns less the keys skip selects; on S3 a skipped environment costs
// no listing of its own, so a caller that only wants what it does not know
// already (changed --since-deployed: what is deployed but gone at head) does
// not pay one request per stack/environment of a monorepo's store. skip is
// first asked about each stack as a whole (a Key without Environment):
// true leaves every environment of that stack out without listing it
// (changed --since-deployed --stack: the other stacks of the store).
type SkipLister interface {
	ListSkipping(ctx context.Context, skip func(Key) bool) ([]Key, error)
}

// MaybeLister is implemented by stores where telling whether a
// stack/environment has state costs a request of its own (S3: a listing per
// environment). ListMaybe returns, sorted, every stack/environment that may
// have state, those List returns among them: a caller that reads each state
// with Get anyway takes ErrNotFound for "no state" and saves a request per
// stack/environment (state list of a monorepo's store).
type MaybeLister interface {
	ListMaybe(ctx context.Context) ([]Key, error)
}

// Errors reported by stores.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("state was changed concurrently")
	ErrCorrupt      = errors.New("corrupt state")
	ErrFutureSchema = errors.New("state written by a newer panka")
	// ErrRecordGone is a history record listed and then gone before it
	// was read: an apply withdrew it (RemoveHistory) meanwhile.
	ErrRecordGone = errors.New("history record removed while being read")
)

// recordGoneRetries is how many times RetryRecordGone runs a read.
const recordGoneRetries = 3

// RetryRecordGone runs read, a listing of history records and the reading
// of some, again when a record it listed was gone before it was read
// (ErrRecordGone): an apply that withdraws its record as another command
// reads the history is no error of that command. The last run is told to
// skip records that are gone (skipGone): a withdrawn record is no part of
// the history.
func RetryRecordGone[T any](ctx context.Context, read func(skipGone bool) (T, error)) (T, error) {
	var v T
	var err error
	for i := range recordGoneRetries {
		v, err = read(i == recordGoneRetries-1)
		if !errors.Is(err, ErrRecordGone) || ctx.Err() != nil {
			break
		}
	}
	return v, err
}

// ConflictError reports a lost compare-and-swap.
type ConflictError struct {
	Key      Key
	Location string // bucket/key or file path
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("state of %s at %s was changed by another writer; re-run to plan against the new state", e.Key, e.Location)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
