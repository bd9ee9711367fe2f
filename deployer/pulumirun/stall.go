package pulumirun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"panka.dev/panka/deployer/engine"
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
	// Step is set when the engine began a resource operation ("web:
	// create") and its state has not recorded the start for Limit: the
	// engine writes it there before it asks the provider.
	Step string
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
	if e.Step != "" {
		return fmt.Sprintf("%s began %s %s ago, and its own state at %s still does not record it, as the engine does before the provider starts: "+
			"its request to write it most likely got no answer (the Pulumi CLI sets no time limit on them), so it was stopped. "+
			"Check that the state server answers from here (endpoint, network, proxy), then re-run: the next run clears the Pulumi lock this one left "+
			"(pulumi.stallTimeout sets the limit)", e.What, e.Step, durationText(e.Limit), e.Backend)
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
	// started and recorded follow the in-flight steps whose start the
	// engine writes into its checkpoint as a pending operation before it
	// asks the provider (creates, updates, deletes): when the step began
	// and whether the checkpoint was seen to record it.
	started  map[string]time.Time
	recorded map[string]bool
}

func newStallWatch(now time.Time) *stallWatch {
	return &stallWatch{last: now, inflight: map[string]string{}, started: map[string]time.Time{}, recorded: map[string]bool{}}
}

// pendingOp reports an op whose step the engine records in its checkpoint
// as a pending operation before the provider starts on it.
func pendingOp(op apitype.OpType) bool {
	switch op {
	case apitype.OpCreate, apitype.OpCreateReplacement, apitype.OpUpdate, apitype.OpDelete, apitype.OpDeleteReplaced,
		apitype.OpImport, apitype.OpImportReplacement:
		return true
	}
	return false
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
			name := urnName(md.URN)
			if pkg, ok := strings.CutPrefix(md.Type, "pulumi:providers:"); ok {
				name = "the " + pkg + " provider"
			}
			w.inflight[md.URN] = name + ": " + string(md.Op)
			delete(w.recorded, md.URN)
			if pendingOp(md.Op) {
				w.started[md.URN] = ts
			} else {
				delete(w.started, md.URN)
			}
		}
	case e.ResOutputsEvent != nil:
		md := e.ResOutputsEvent.Metadata
		if what, ok := w.inflight[md.URN]; ok {
			w.after = what + " done"
		}
		delete(w.inflight, md.URN)
		delete(w.started, md.URN)
	case e.ResOpFailedEvent != nil:
		md := e.ResOpFailedEvent.Metadata
		if what, ok := w.inflight[md.URN]; ok {
			w.after = what + " failed"
		}
		delete(w.inflight, md.URN)
		delete(w.started, md.URN)
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

// unrecorded returns the in-flight steps that began more than limit
// before now and that the checkpoint has not been seen to record.
func (w *stallWatch) unrecorded(now time.Time, limit time.Duration) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for urn, at := range w.started {
		if !w.recorded[urn] && now.Sub(at) >= limit {
			out = append(out, urn)
		}
	}
	return out
}

// check takes what the checkpoint records as pending (URNs) and returns
// the first of urns it does not, as what it was doing ("web: create"),
// or "".
func (w *stallWatch) check(urns []string, pending map[string]bool) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, urn := range urns {
		if _, ok := w.started[urn]; !ok {
			continue // ended since
		}
		if pending[urn] {
			w.recorded[urn] = true
			continue
		}
		return w.inflight[urn]
	}
	return ""
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
	finished := make(chan struct{})
	go func() {
		defer close(finished)
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
			// A step in flight may be a slow resource, or the engine may
			// never have got past writing that it begins: the checkpoint
			// tells which.
			if urns := w.unrecorded(time.Now(), limit); len(urns) > 0 && r.pendingOps != nil {
				pctx, pcancel := context.WithTimeout(wctx, min(limit, time.Minute))
				pending, err := r.pendingOps(pctx)
				pcancel()
				if err != nil {
					continue // the state server watch reports a server that does not answer
				}
				if step := w.check(urns, pending); step != "" {
					cancel(&StalledError{What: what, Backend: redact(r.opts.BackendURL), Limit: limit, Step: step})
					return
				}
			}
		}
	}()
	var once sync.Once
	return wctx, func() {
		once.Do(func() {
			close(done)
			cancel(nil)
			<-finished
		})
	}
}

func (r *Runner) stallLimit() time.Duration {
	if r.opts.StallLimit == 0 {
		return DefaultStallLimit
	}
	return r.opts.StallLimit
}

// checkpointPending returns, for an s3:// or file:// backend, a reader of
// the URNs the stack's checkpoint records as pending operations; nil for
// other backends and where the engine writes no plain checkpoint at each
// step (PULUMI_SKIP_CHECKPOINTS, a compressed one).
func (r *Runner) checkpointPending() func(context.Context) (map[string]bool, error) {
	for _, k := range []string{"PULUMI_SKIP_CHECKPOINTS", "PULUMI_DIY_BACKEND_GZIP", "PULUMI_DIY_BACKEND_ZSTD"} {
		v, ok := r.opts.Env[k]
		if !ok {
			v = os.Getenv(k)
		}
		if on, _ := strconv.ParseBool(v); on {
			return nil
		}
	}
	rel := engine.CheckpointPath(r.opts.Stack)
	parse := func(b []byte) (map[string]bool, error) {
		var doc struct {
			Checkpoint struct {
				Latest *struct {
					Pending []struct {
						Resource struct {
							URN string `json:"urn"`
						} `json:"resource"`
					} `json:"pending_operations"`
				} `json:"latest"`
			} `json:"checkpoint"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, err
		}
		out := map[string]bool{}
		if l := doc.Checkpoint.Latest; l != nil {
			for _, p := range l.Pending {
				out[p.Resource.URN] = true
			}
		}
		return out, nil
	}
	if dir, ok := fileBackendDir(r.opts.BackendURL); ok {
		return func(context.Context) (map[string]bool, error) {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
			if err != nil {
				return nil, err
			}
			return parse(b)
		}
	}
	b, ok := s3BackendOf(r.opts.BackendURL)
	if !ok {
		return nil
	}
	var (
		mu sync.Mutex
		c  *s3.Client
	)
	return func(ctx context.Context) (map[string]bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if c == nil {
			var err error
			if c, err = b.client(ctx, r.opts.Env); err != nil {
				return nil, err
			}
		}
		key := strings.TrimPrefix(path.Join(b.prefix, rel), "/")
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		data, err := io.ReadAll(out.Body)
		if err != nil {
			return nil, err
		}
		return parse(data)
	}
}

// stalledCause returns the *StalledError that cancelled ctx, if that is
// why it is done.
func stalledCause(ctx context.Context) *StalledError {
	if se, ok := context.Cause(ctx).(*StalledError); ok {
		return se
	}
	return nil
}
