package statestore

import (
	"testing"
	"time"
)

// TestRecoveredEarlier: a record that only carries what runs before it
// cleared (Earlier) is not empty, did not clear anything itself, and says
// which run cleared what; merging what the same run cleared again keeps
// each lock and operation once.
func TestRecoveredEarlier(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lease := &RecoveredHolder{LockID: "l1", User: "ci@example.com", Host: "runner", PID: 42, Operation: "apply"}
	op := RecoveredOperation{Type: "updating", URN: "urn:pulumi:dev::panka::pankalocal:index:Manifest::web"}
	drift := Recovery{Operation: "drift detect", LockID: "l2", User: "dev@example.com", Host: "laptop", At: at, Cleared: Recovered{Lease: lease}}
	drift.Cleared.Merge(&Recovered{PendingOperations: []RecoveredOperation{op}})
	drift.Cleared.Merge(&Recovered{PendingOperations: []RecoveredOperation{op}})
	if len(drift.Cleared.PendingOperations) != 1 || drift.Cleared.Lease != lease {
		t.Fatalf("merged = %+v, want the lease and one pending operation", drift.Cleared)
	}
	r := &Recovered{Earlier: []Recovery{drift}}
	if r.Empty() || r.ClearedItself() {
		t.Fatalf("Empty() = %v, ClearedItself() = %v for %+v, want false, false", r.Empty(), r.ClearedItself(), r)
	}
	want := "drift detect by dev@example.com on laptop at 2026-01-02T03:04:05Z, which recorded no deployment, took over the lease of ci@example.com on runner (pid 42), apply; cleared Pulumi's pending operations updating web"
	if got := r.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	r.Lease = &RecoveredHolder{User: "ops@example.com"}
	if !r.ClearedItself() || r.String() != "took over the lease of ops@example.com; before it, "+want {
		t.Errorf("with a lease of its own: ClearedItself() = %v, String() = %s", r.ClearedItself(), r.String())
	}
	if (&Recovered{}).Empty() != true || (*Recovered)(nil).ClearedItself() {
		t.Error("an empty Recovered is not empty")
	}
	st := &State{Serial: 3, Recoveries: []Recovery{drift}}
	if st.PlanBasis() != (&State{Serial: 2}).PlanBasis() {
		t.Error("what a run cleared changes the plan basis: a saved plan went stale")
	}
}
