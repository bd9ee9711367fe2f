package pulumirun

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// DefaultStallLimit is how long an engine run may go without a sign of
// progress while no resource operation is in flight (Options.StallLimit).
const DefaultStallLimit = 5 * time.Minute

// StalledError is the cause of a CLI run that was stopped because it made
// no progress for the stall limit while nothing but its own bookkeeping
// could be going on: the Pulumi CLI sets no time limit on the requests to
// its state backend, and one that never gets an answer (a wedged S3 server
// or load balancer node, a connection a firewall dropped without a word)
// hung `pulumi up` for ever while panka went on renewing its lease.
type StalledError struct {
	// What is the CLI command ("pulumi up").
	What string
	// Backend is the engine's state backend URL (credentials redacted).
	Backend string
	// Limit is the stall limit that ran out.
	Limit time.Duration
	// After is the engine's last sign of progress ("web: create done"),
	// empty when it gave none.
	After string
	// Command is set for a CLI command that runs no engine operation
	// (stack select, config, export): it has a time limit of its own.
	Command bool
}

func (e *StalledError) Error() string {
	if e.Command {
		return fmt.Sprintf("%s did not finish within %s, although it only reads and writes the engine's own state at %s: "+
			"a request to it most likely got no answer (the Pulumi CLI sets no time limit on them), so it was stopped. "+
			"Check that the state server answers from here (endpoint, network, proxy), then re-run "+
			"(pulumi.stallTimeout sets the limit)", e.What, durationText(e.Limit), e.Backend)
	}
	after := "before it reported any progress"
	if e.After != "" {
		after = "after " + e.After
	}
	return fmt.Sprintf("%s made no progress for %s with no resource operation in flight (%s): "+
		"a request to its own state at %s most likely got no answer (the Pulumi CLI sets no time limit on them), so it was stopped. "+
		"Check that the state server answers from here (endpoint, network, proxy), then re-run: the next run clears the Pulumi lock this one left "+
		"(pulumi.stallTimeout sets the limit)",
		e.What, durationText(e.Limit), after, e.Backend)
}

// durationText prints d without trailing zero units ("5m", "1m30s").
func durationText(d time.Duration) string {
	s := d.Round(time.Second).String()
	if d < time.Second {
		s = d.String()
	}
	for _, z := range []string{"m0s", "h0m"} {
		if len(s) > len(z) && s[len(s)-len(z):] == z {
			s = s[:len(s)-len(z)+1]
		}
	}
	return s
}

// stallWatch follows one engine operation's events: when it last showed
// progress and which resource operations are in flight (a step the engine
// started and has not reported done or failed). A provider may take an
// hour over one resource; with none in flight, only the engine's own
// bookkeeping (reading and writing its checkpoint, its lock and history)
// and the program's quick lookups are left, so a long silence then means
// the engine waits for an answer that does not come.
type stallWatch struct {
	mu       sync.Mutex
	last     time.Time
	after    string
	inflight map[string]string // URN -> what it does ("web: create")
}

func newStallWatch(now time.Time) *stallWatch {
	return &stallWatch{last: now, inflight: map[string]string{}}
}

// event notes one engine event at ts.
func (w *stallWatch) event(e events.EngineEvent, ts time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = ts
	switch {
	case e.ResourcePreEvent != nil:
		md := e.ResourcePreEvent.Metadata
		if custom(md.New, md.Old) {
			w.inflight[md.URN] = urnName(md.URN) + ": " + string(md.Op)
		}
	case e.ResOutputsEvent != nil:
		md := e.ResOutputsEvent.Metadata
		if what, ok := w.inflight[md.URN]; ok {
			w.after = what + " done"
		}
		delete(w.inflight, md.URN)
	case e.ResOpFailedEvent != nil:
		md := e.ResOpFailedEvent.Metadata
		if what, ok := w.inflight[md.URN]; ok {
			w.after = what + " failed"
		}
		delete(w.inflight, md.URN)
	case e.SummaryEvent != nil:
		w.after = "its summary"
	}
}

// custom reports a step on a custom resource (a provider's, or a
// provider itself); component resources do no work of their own.
func custom(states ...*apitype.StepEventStateMetadata) bool {
	for _, s := range states {
		if s != nil && s.Custom {
			return true
		}
	}
	return false
}

// stalled returns how long the operation has been silent with nothing in
// flight (0 while something is in flight), and its last progress.
func (w *stallWatch) stalled(now time.Time) (time.Duration, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.inflight) > 0 {
		return 0, ""
	}
	return now.Sub(w.last), w.after
}

// watchStall returns ctx for an engine operation that is cancelled, with a
// *StalledError as its cause, once w has been stalled for the runner's
// limit; stop ends the watch.
func (r *Runner) watchStall(ctx context.Context, what string, w *stallWatch) (context.Context, func()) {
	limit := r.stallLimit()
	if limit <= 0 {
		return ctx, func() {}
	}
	wctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	every := min(max(limit/20, 10*time.Millisecond), 5*time.Second)
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-wctx.Done():
				return
			case <-tick.C:
			}
			if silent, after := w.stalled(time.Now()); silent >= limit {
				cancel(&StalledError{What: what, Backend: redact(r.opts.BackendURL), Limit: limit, After: after})
				return
			}
		}
	}()
	var once sync.Once
	return wctx, func() {
		once.Do(func() {
			close(done)
			cancel(nil)
		})
	}
}

func (r *Runner) stallLimit() time.Duration {
	if r.opts.StallLimit == 0 {
		return DefaultStallLimit
	}
	return r.opts.StallLimit
}

// stalledCause returns the *StalledError that cancelled ctx, if that is
// why it is done.
func stalledCause(ctx context.Context) *StalledError {
	if se, ok := context.Cause(ctx).(*StalledError); ok {
		return se
	}
	return nil
}
