package engine

import (
	"testing"
	"time"
)

// TestComponentsTouched: a component is touched when one of its resources
// (itself or one below it) was created or modified since, is pending or
// marked for deletion, or carries no timestamps; the stack's root and
// providers are no components.
func TestComponentsTouched(t *testing.T) {
	const doc = `{"version":3,"checkpoint":{"latest":{"resources":[
{"urn":"urn:pulumi:s::panka::pulumi:pulumi:Stack::panka-s","type":"pulumi:pulumi:Stack","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z"},
{"urn":"urn:pulumi:s::panka::pulumi:providers:aws::default","type":"pulumi:providers:aws","created":"2026-01-03T00:00:00Z","modified":"2026-01-03T00:00:00Z"},
{"urn":"urn:pulumi:s::panka::panka:Svc::web","type":"panka:Svc","parent":"urn:pulumi:s::panka::pulumi:pulumi:Stack::panka-s","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z"},
{"urn":"urn:pulumi:s::panka::panka:Svc$aws:ecs:Service::web","type":"aws:ecs:Service","parent":"urn:pulumi:s::panka::panka:Svc::web","created":"2026-01-01T00:00:00Z","modified":"2026-01-03T00:00:00Z"},
{"urn":"urn:pulumi:s::panka::panka:Db::db","type":"panka:Db","parent":"urn:pulumi:s::panka::pulumi:pulumi:Stack::panka-s","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z"},
{"urn":"urn:pulumi:s::panka::panka:Q::jobs","type":"panka:Q","parent":"urn:pulumi:s::panka::pulumi:pulumi:Stack::panka-s","created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z"},
{"urn":"urn:pulumi:s::panka::panka:B::old","type":"panka:B","parent":"urn:pulumi:s::panka::pulumi:pulumi:Stack::panka-s"}
],"pending_operations":[{"resource":{"urn":"urn:pulumi:s::panka::panka:Q$aws:sqs:Queue::jobs","parent":"urn:pulumi:s::panka::panka:Q::jobs"},"type":"updating"}]}}}`
	present, touched, ok := ComponentsTouched([]byte(doc), time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if !ok {
		t.Fatal("not read")
	}
	for _, c := range []string{"web", "db", "jobs", "old"} {
		if !present[c] {
			t.Errorf("%s not present", c)
		}
	}
	if len(present) != 4 {
		t.Errorf("present = %v, want web, db, jobs, old", present)
	}
	for c, want := range map[string]bool{"web": true, "db": false, "jobs": true, "old": true} {
		if touched[c] != want {
			t.Errorf("touched[%s] = %v, want %v", c, touched[c], want)
		}
	}
	if _, _, ok := ComponentsTouched([]byte("not json"), time.Now()); ok {
		t.Error("garbage read as a checkpoint")
	}
}
