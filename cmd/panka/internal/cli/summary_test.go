package cli

import (
	"strings"
	"testing"

	"panka.dev/panka/deployer/deploy"
	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/statestore"
)

// TestPrintDeploymentCountsInPlanUnits: a success is reported in the
// plan's units (components); the engine's count, in Pulumi resources,
// follows labelled only when it differs. A team read "4 updated" after
// "Plan: 0 to create, 1 to update" as apply doing more than planned.
func TestPrintDeploymentCountsInPlanUnits(t *testing.T) {
	one := &statestore.ChangeSummary{Update: 1}
	tests := []struct {
		name          string
		planned       *statestore.ChangeSummary
		changes       *statestore.ChangeSummary
		from          string
		want, notWant string
	}{
		{"aws component of four resources", one, &statestore.ChangeSummary{Update: 4}, statestore.ChangesFromEngine,
			"succeeded: 0 created, 1 updated, 0 replaced, 0 deleted (serial 7).\nThose are components, as the plan counts them; the engine's own count, in Pulumi resources: 4 updated (", ""},
		{"engine agrees", one, &statestore.ChangeSummary{Update: 1}, statestore.ChangesFromEngine,
			"succeeded: 0 created, 1 updated, 0 replaced, 0 deleted (serial 7).\n", "Pulumi resources"},
		{"engine skipped", one, one, statestore.ChangesFromPlan,
			"succeeded: 0 created, 1 updated, 0 replaced, 0 deleted (serial 7).\n", "Pulumi resources"},
		{"engine changed nothing the plan listed", one, &statestore.ChangeSummary{}, statestore.ChangesFromEngine,
			"in Pulumi resources: none changed (", ""},
		{"record of an earlier version", nil, &statestore.ChangeSummary{Create: 2}, statestore.ChangesFromEngine,
			"succeeded: 2 created, 0 updated, 0 replaced, 0 deleted (serial 7).\n", "Pulumi resources"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, out, _ := Test()
			f := &Factory{IO: ios}
			printDeployment(f, &deploy.Result{Deployment: &statestore.Deployment{
				Operation: "apply", Stack: "shop", Environment: "dev", Serial: 7, Result: statestore.ResultSucceeded,
				Changes: tt.changes, ChangesFrom: tt.from, PlannedChanges: tt.planned,
			}})
			got := out.String()
			if !strings.Contains(got, tt.want) {
				t.Errorf("printed:\n%s\nwant it to hold %q", got, tt.want)
			}
			if tt.notWant != "" && strings.Contains(got, tt.notWant) {
				t.Errorf("printed:\n%s\nwant no %q", got, tt.notWant)
			}
		})
	}
}

// TestPrintDeploymentDoneBefore: after a failed run, the components the
// engine took no step on (deploy.Result.DoneBefore: that run had made
// their changes) are left out of the success line and named on the next,
// so the line counts what this run changed; the engine's count then
// agrees and no labelled line follows.
func TestPrintDeploymentDoneBefore(t *testing.T) {
	plan := &planner.Result{Changes: []planner.Change{
		{Component: "assets", Action: planner.ActionCreate},
		{Component: "orders", Action: planner.ActionUpdate},
		{Component: "shop-db", Action: planner.ActionCreate},
		{Component: "web", Action: planner.ActionCreate},
	}}
	ios, _, out, _ := Test()
	printDeployment(&Factory{IO: ios}, &deploy.Result{Plan: plan, DoneBefore: []string{"assets", "orders"}, Deployment: &statestore.Deployment{
		Operation: "apply", Stack: "shop", Environment: "dev", Serial: 7, Result: statestore.ResultSucceeded,
		Changes: &statestore.ChangeSummary{Create: 2}, ChangesFrom: statestore.ChangesFromEngine, PlannedChanges: &statestore.ChangeSummary{Create: 3, Update: 1},
	}})
	want := "succeeded: 2 created, 0 updated, 0 replaced, 0 deleted (serial 7).\n" +
		"A failed or interrupted run before it had made the plan's other changes already: 1 created, 1 updated (assets, orders); the engine left them as they were, and this deployment records them.\n"
	if got := out.String(); !strings.Contains(got, want) || strings.Contains(got, "Pulumi resources") {
		t.Errorf("printed:\n%s\nwant it to hold %q and no engine line", got, want)
	}
}

// TestPrintDeploymentDoneBeforeUnrecorded: nothing was recorded, and the
// engine took over all that the plan creates (a first apply whose record
// could not be written): the line counts no change, and the next names the
// run that was not recorded as having made them (not "other changes": this
// run made none).
func TestPrintDeploymentDoneBeforeUnrecorded(t *testing.T) {
	plan := &planner.Result{Changes: []planner.Change{
		{Component: "assets", Action: planner.ActionCreate},
		{Component: "web", Action: planner.ActionCreate},
	}}
	ios, _, out, _ := Test()
	printDeployment(&Factory{IO: ios}, &deploy.Result{Plan: plan, DoneBefore: []string{"assets", "web"}, DoneBeforeUnrecorded: true, Deployment: &statestore.Deployment{
		Operation: "apply", Stack: "shop", Environment: "dev", Serial: 1, Result: statestore.ResultSucceeded,
		Changes: &statestore.ChangeSummary{}, ChangesFrom: statestore.ChangesFromEngine, PlannedChanges: &statestore.ChangeSummary{Create: 2},
	}})
	want := "succeeded: 0 created, 0 updated, 0 replaced, 0 deleted (serial 1).\n" +
		"A run before it that was not recorded (its record could not be written, or it was killed) had made the plan's changes already: 2 created (assets, web); the engine left them as they were, and this deployment records them.\n"
	if got := out.String(); !strings.Contains(got, want) || strings.Contains(got, "Pulumi resources") {
		t.Errorf("printed:\n%s\nwant it to hold %q and no engine line", got, want)
	}
}

// TestDoneBeforeStopSaysResources: what a failed run did is the engine's
// count, labelled as resources where history, status and state show print
// it beside the run's result.
func TestDoneBeforeStopSaysResources(t *testing.T) {
	tests := []struct {
		name    string
		result  string
		from    string
		changes *statestore.ChangeSummary
		want    string
	}{
		{"three created", statestore.ResultFailed, statestore.ChangesFromEngine, &statestore.ChangeSummary{Create: 3}, "3 resources created"},
		{"one updated, two deleted", statestore.ResultInterrupted, statestore.ChangesFromEngine, &statestore.ChangeSummary{Update: 1, Delete: 2}, "1 resource updated, 2 deleted"},
		{"nothing", statestore.ResultFailed, statestore.ChangesFromEngine, &statestore.ChangeSummary{}, "nothing changed"},
		{"the plan's counts", statestore.ResultFailed, statestore.ChangesFromPlan, &statestore.ChangeSummary{Create: 3}, ""},
		{"succeeded", statestore.ResultSucceeded, statestore.ChangesFromEngine, &statestore.ChangeSummary{Create: 3}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := doneBeforeStop(tt.result, tt.from, tt.changes); got != tt.want {
				t.Errorf("doneBeforeStop = %q, want %q", got, tt.want)
			}
		})
	}
}
