package pulumirun

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// TestStallWatchInFlight: a resource operation in flight (an RDS instance
// may take most of an hour) is never a stall; the silence after it ended,
// with nothing else in flight, is, and says what came last. Component
// resources (no outputs event until the program registers them) and
// non-custom steps do not count as in flight.
func TestStallWatchInFlight(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := newStallWatch(t0)
	if d, after := w.stalled(t0.Add(time.Minute)); d != time.Minute || after != "" {
		t.Fatalf("before any event: %s %q", d, after)
	}
	db := urn(compType, "shop-db")
	comp := urn("panka:index:Database", "shop-db")
	pre := func(u string, custom bool) events.EngineEvent {
		return events.EngineEvent{EngineEvent: apitype.EngineEvent{ResourcePreEvent: &apitype.ResourcePreEvent{
			Metadata: apitype.StepEventMetadata{URN: u, Op: apitype.OpCreate, New: &apitype.StepEventStateMetadata{Custom: custom}}}}}
	}
	w.event(pre(comp, false), t0.Add(time.Second))
	w.event(pre(db, true), t0.Add(2*time.Second))
	if d, _ := w.stalled(t0.Add(time.Hour)); d != 0 {
		t.Fatalf("with shop-db's create in flight: stalled %s", d)
	}
	w.event(events.EngineEvent{EngineEvent: apitype.EngineEvent{ResOutputsEvent: &apitype.ResOutputsEvent{
		Metadata: apitype.StepEventMetadata{URN: db, Op: apitype.OpCreate, New: &apitype.StepEventStateMetadata{Custom: true}}}}},
		t0.Add(time.Hour))
	if d, after := w.stalled(t0.Add(time.Hour + 3*time.Minute)); d != 3*time.Minute || after != "shop-db: create done" {
		t.Fatalf("after shop-db's create: %s %q", d, after)
	}
	w.event(pre(db, true), t0.Add(2*time.Hour))
	w.event(events.EngineEvent{EngineEvent: apitype.EngineEvent{ResOpFailedEvent: &apitype.ResOpFailedEvent{
		Metadata: apitype.StepEventMetadata{URN: db, Op: apitype.OpCreate}}}}, t0.Add(2*time.Hour))
	if d, after := w.stalled(t0.Add(2*time.Hour + time.Second)); d != time.Second || after != "shop-db: create failed" {
		t.Fatalf("after shop-db's failure: %s %q", d, after)
	}
}

// TestWatchStallCancels: the watch cancels the run's context with a
// *StalledError as its cause, which wrap returns as the run's error (not
// "interrupted (Ctrl-C ...)"); a run that goes on showing progress is not
// cancelled.
func TestWatchStallCancels(t *testing.T) {
	r := &Runner{opts: Options{Stack: "shop-dev", BackendURL: "s3://b/stacks/shop/dev/pulumi?endpoint=http%3A%2F%2Fsrv", StallLimit: 200 * time.Millisecond}}
	w := newStallWatch(time.Now())
	ctx, stop := r.watchStall(context.Background(), "pulumi up", w)
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled run was not cancelled")
	}
	err := r.wrap(ctx, "pulumi up", errors.New("exit status 255"), nil)
	var se *StalledError
	if !errors.As(err, &se) || errors.Is(err, context.Canceled) {
		t.Fatalf("wrap: %v", err)
	}
	for _, want := range []string{"pulumi up made no progress for 200ms with no resource operation in flight (before it reported any progress)",
		"its own state at s3://b/stacks/shop/dev/pulumi", "pulumi.stallTimeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}

	w = newStallWatch(time.Now())
	ctx, stop = r.watchStall(context.Background(), "pulumi up", w)
	defer stop()
	for range 10 {
		time.Sleep(50 * time.Millisecond)
		w.event(events.EngineEvent{EngineEvent: apitype.EngineEvent{DiagnosticEvent: &apitype.DiagnosticEvent{Message: "x", Ephemeral: true}}}, time.Now())
	}
	if ctx.Err() != nil {
		t.Fatalf("a run that showed progress was cancelled: %v", context.Cause(ctx))
	}
}

func TestEngineCommand(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		engine bool
		sub    string
	}{
		{[]string{"--non-interactive", "up", "--yes", "--skip-preview", "--stack", "s"}, true, "up"},
		{[]string{"--non-interactive", "refresh", "--preview-only"}, true, "refresh"},
		{[]string{"--non-interactive", "stack", "select", "--create", "--stack", "s"}, false, "stack select"},
		{[]string{"--non-interactive", "config", "set-all", "--stack", "s"}, false, "config set-all"},
		{[]string{"--non-interactive", "stack", "export", "--stack", "s"}, false, "stack export"},
		{[]string{"--non-interactive", "cancel", "--yes", "--stack", "s"}, false, "cancel"},
	} {
		if got := engineCommand(tc.args); got != tc.engine {
			t.Errorf("engineCommand(%q) = %v", tc.args, got)
		}
		if got := strings.Join(subcommand(tc.args), " "); got != tc.sub {
			t.Errorf("subcommand(%q) = %q, want %q", tc.args, got, tc.sub)
		}
	}
}

// TestWatchStallUnrecordedStep: the engine writes the start of a create,
// update or delete into its checkpoint before the provider starts on it.
// A step in flight for the stall limit whose start the checkpoint does not
// record is a write that got no answer, not a slow resource: the run is
// stopped, naming the step. One the checkpoint records goes on as long as
// the provider takes; so do steps of other kinds (a refresh writes nothing
// first).
func TestWatchStallUnrecordedStep(t *testing.T) {
	db := urn(compType, "shop-db")
	pre := func(w *stallWatch, op apitype.OpType) {
		w.event(events.EngineEvent{EngineEvent: apitype.EngineEvent{ResourcePreEvent: &apitype.ResourcePreEvent{
			Metadata: apitype.StepEventMetadata{URN: db, Op: op, New: &apitype.StepEventStateMetadata{Custom: true}}}}}, time.Now())
	}
	for _, tc := range []struct {
		name    string
		op      apitype.OpType
		pending map[string]bool
		stopped bool
	}{
		{"create not recorded", apitype.OpCreate, map[string]bool{}, true},
		{"create recorded", apitype.OpCreate, map[string]bool{db: true}, false},
		{"refresh", apitype.OpRefresh, map[string]bool{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reads := 0
			r := &Runner{opts: Options{Stack: "shop-dev", BackendURL: "file:///repo/.panka/state/stacks/shop/dev/pulumi", StallLimit: 200 * time.Millisecond},
				pendingOps: func(context.Context) (map[string]bool, error) { reads++; return tc.pending, nil }}
			w := newStallWatch(time.Now())
			pre(w, tc.op)
			ctx, stop := r.watchStall(context.Background(), "pulumi up", w)
			defer stop()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			if stopped := ctx.Err() != nil; stopped != tc.stopped {
				t.Fatalf("stopped %v (%v), want %v", stopped, context.Cause(ctx), tc.stopped)
			}
			if tc.stopped {
				want := "pulumi up began shop-db: create 200ms ago, and its own state at file:///repo/.panka/state/stacks/shop/dev/pulumi still does not record it"
				if err := r.wrap(ctx, "pulumi up", errors.New("exit status 255"), nil); !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q, want %q", err, want)
				}
			}
			if tc.name == "create recorded" && reads != 1 {
				t.Errorf("checkpoint read %d times, want once: a recorded start stays recorded", reads)
			}
		})
	}
}
