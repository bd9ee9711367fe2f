package pulumirun

import (
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"panka.dev/panka/deployer/engine"
)

// The result types live in deployer/engine, which panka's own binary uses
// without linking Pulumi; these aliases keep this package's API whole.
type (
	// Status is where a resource is in an operation.
	Status = engine.Status
	// Event is a simplified engine event about one resource.
	Event = engine.Event
	// Step is one resource that an operation changes (or would change).
	Step = engine.Step
)

// Statuses (see engine.Status).
const (
	StatusPending    = engine.StatusPending
	StatusCreating   = engine.StatusCreating
	StatusUpdating   = engine.StatusUpdating
	StatusReplacing  = engine.StatusReplacing
	StatusDeleting   = engine.StatusDeleting
	StatusRefreshing = engine.StatusRefreshing
	StatusReading    = engine.StatusReading
	StatusDone       = engine.StatusDone
	StatusFailed     = engine.StatusFailed
	StatusUnchanged  = engine.StatusUnchanged
	StatusDiagnostic = engine.StatusDiagnostic
)

// translator turns engine events into Events and collects Steps. It is fed
// from one goroutine.
type translator struct {
	mu         sync.Mutex
	components map[string]bool // nil: every top-level resource is a component
	now        func() time.Time
	started    map[string]time.Time
	component  map[string]string // URN -> component
	steps      map[string]*Step
	order      []string
	diags      []string       // error diagnostics, in order
	rootOp     string         // the op on the pulumi:pulumi:Stack resource
	summary    map[string]int // the engine's summary event's ResourceChanges
	onEvent    func(Event)
	// watch, when set, follows the operation's progress (stallWatch).
	watch *stallWatch
}

func newTranslator(components []string, now func() time.Time, onEvent func(Event)) *translator {
	t := &translator{
		now:       now,
		started:   map[string]time.Time{},
		component: map[string]string{},
		steps:     map[string]*Step{},
		onEvent:   onEvent,
	}
	if len(components) > 0 {
		t.components = map[string]bool{}
		for _, c := range components {
			t.components[c] = true
		}
	}
	return t
}

func urnName(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

func (t *translator) componentOf(md apitype.StepEventMetadata) string {
	if c, ok := t.component[md.URN]; ok {
		return c
	}
	parent := ""
	if md.New != nil {
		parent = md.New.Parent
	} else if md.Old != nil {
		parent = md.Old.Parent
	}
	c := ""
	if pc, ok := t.component[parent]; ok && pc != "" {
		c = pc
	} else if md.Type != "pulumi:pulumi:Stack" && !strings.HasPrefix(md.Type, "pulumi:providers:") {
		name := urnName(md.URN)
		if t.components == nil || t.components[name] {
			c = name
		}
	}
	t.component[md.URN] = c
	return c
}

func statusOf(op apitype.OpType, preview bool) Status {
	if preview {
		return StatusPending
	}
	switch op {
	case apitype.OpCreate, apitype.OpCreateReplacement, apitype.OpImport, apitype.OpImportReplacement:
		return StatusCreating
	case apitype.OpUpdate:
		return StatusUpdating
	case apitype.OpReplace:
		return StatusReplacing
	case apitype.OpDelete, apitype.OpDeleteReplaced, apitype.OpReadDiscard, apitype.OpDiscardReplaced:
		return StatusDeleting
	case apitype.OpRefresh:
		return StatusRefreshing
	case apitype.OpRead, apitype.OpReadReplacement:
		return StatusReading
	}
	return StatusUnchanged
}

// mode is the kind of operation a translator follows.
type mode int

const (
	modeApply          mode = iota // up, destroy, refresh: things change
	modePreview                    // preview: nothing changes
	modeRefreshPreview             // preview-only refresh: drift is in outputs events
	modeRefresh                    // refresh that writes the state: likewise
)

// handle processes one engine event.
func (t *translator) handle(e events.EngineEvent, m mode) {
	preview := m == modePreview || m == modeRefreshPreview
	refresh := m == modeRefresh || m == modeRefreshPreview
	if t.watch != nil {
		t.watch.event(e, time.Now())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := t.now()
	emit := func(ev Event) {
		if t.onEvent != nil {
			ev.Time = ts
			t.onEvent(ev)
		}
	}
	switch {
	case e.SummaryEvent != nil:
		// The engine sends its summary at the end of every update, a
		// failed or cancelled one too: what it did before it stopped.
		t.summary = map[string]int{}
		for op, n := range e.SummaryEvent.ResourceChanges {
			t.summary[string(op)] += n
		}
	case e.ResourcePreEvent != nil:
		md := e.ResourcePreEvent.Metadata
		if md.Type == "pulumi:pulumi:Stack" {
			t.rootOp = string(md.Op)
			return
		}
		if strings.HasPrefix(md.Type, "pulumi:providers:") {
			return
		}
		comp := t.componentOf(md)
		t.started[md.URN] = ts
		if md.Op != apitype.OpSame && md.Op != apitype.OpRefresh {
			t.record(md, comp)
		}
		st := statusOf(md.Op, preview)
		if md.Op == apitype.OpSame {
			st = StatusUnchanged
		}
		if refresh || (preview && md.Op == apitype.OpRefresh) {
			// The outcome of a refresh is only known from its outputs event.
			return
		}
		emit(Event{Component: comp, URN: md.URN, Type: md.Type, Name: urnName(md.URN), Op: string(md.Op),
			Status: st, Diffs: md.Diffs})
	case e.ResOutputsEvent != nil:
		md := e.ResOutputsEvent.Metadata
		if md.Type == "pulumi:pulumi:Stack" || strings.HasPrefix(md.Type, "pulumi:providers:") {
			return
		}
		comp := t.componentOf(md)
		switch {
		case refresh:
			// The refresh's verdict: "same", or "update"/"delete" for drift.
			if md.Op == apitype.OpSame || md.Op == apitype.OpRefresh && md.New != nil && len(md.Diffs) == 0 {
				emit(Event{Component: comp, URN: md.URN, Type: md.Type, Name: urnName(md.URN), Op: string(md.Op),
					Status: StatusUnchanged})
				return
			}
			s := t.recordDrift(md, comp)
			st := StatusPending
			if !preview {
				st = StatusDone
			}
			emit(Event{Component: comp, URN: md.URN, Type: md.Type, Name: urnName(md.URN), Op: s.Op,
				Status: st, Diffs: s.Diffs})
		case preview, md.Op == apitype.OpSame:
		default:
			emit(Event{Component: comp, URN: md.URN, Type: md.Type, Name: urnName(md.URN), Op: string(md.Op),
				Status: StatusDone, Diffs: md.Diffs, Elapsed: ts.Sub(t.startOf(md.URN, ts))})
		}
	case e.ResOpFailedEvent != nil:
		md := e.ResOpFailedEvent.Metadata
		comp := t.componentOf(md)
		if s, ok := t.steps[md.URN]; ok {
			s.Failed = true
		} else {
			t.record(md, comp)
			t.steps[md.URN].Failed = true
		}
		emit(Event{Component: comp, URN: md.URN, Type: md.Type, Name: urnName(md.URN), Op: string(md.Op),
			Status: StatusFailed, Elapsed: ts.Sub(t.startOf(md.URN, ts))})
	case e.DiagnosticEvent != nil:
		d := e.DiagnosticEvent
		if d.Ephemeral {
			return
		}
		sev := strings.TrimSuffix(d.Severity, "#err")
		msg := strings.TrimSpace(d.Message)
		if msg == "" || (strings.HasPrefix(msg, "using pulumi-") && strings.Contains(msg, " from $PATH")) {
			// Empty, or the engine noting that an ambient plugin (the
			// expected setup for pankalocal) is used.
			return
		}
		if sev == "error" {
			t.diags = append(t.diags, msg)
		}
		comp := ""
		if d.URN != "" {
			comp = t.component[d.URN]
		}
		emit(Event{Component: comp, URN: d.URN, Name: urnName(d.URN), Status: StatusDiagnostic,
			Message: msg, Severity: sev})
	}
}

func (t *translator) startOf(urn string, def time.Time) time.Time {
	if s, ok := t.started[urn]; ok {
		return s
	}
	return def
}

func (t *translator) record(md apitype.StepEventMetadata, comp string) {
	s, ok := t.steps[md.URN]
	if !ok {
		s = &Step{Component: comp, URN: md.URN, Type: md.Type, Name: urnName(md.URN)}
		t.steps[md.URN] = s
		t.order = append(t.order, md.URN)
	}
	// A replacement shows up as several steps; keep the strongest.
	if s.Op == "" || md.Op == apitype.OpReplace {
		s.Op = string(md.Op)
	}
	if len(md.Diffs) > 0 {
		s.Diffs = md.Diffs
	}
}

// recordDrift records what a refresh found: "delete" when the resource is
// gone, else "update" with the output properties that differ (one level
// deep under maps, e.g. "spec.size").
func (t *translator) recordDrift(md apitype.StepEventMetadata, comp string) *Step {
	s := &Step{Component: comp, URN: md.URN, Type: md.Type, Name: urnName(md.URN), Op: string(apitype.OpUpdate)}
	// The engine names only top-level properties ("spec"), which says
	// nothing about a resource whose whole configuration is one map: the
	// states say which keys under it differ.
	switch {
	case md.New == nil || md.Op == apitype.OpDelete:
		s.Op = string(apitype.OpDelete)
	case md.Old != nil:
		s.Diffs = diffKeys("", md.Old.Outputs, md.New.Outputs, 2)
		if len(s.Diffs) == 0 {
			s.Diffs = md.Diffs
		}
	default:
		s.Diffs = md.Diffs
	}
	if _, ok := t.steps[md.URN]; !ok {
		t.order = append(t.order, md.URN)
	}
	t.steps[md.URN] = s
	return s
}

// diffKeys lists the keys whose values differ between a and b, descending
// depth levels into nested maps.
func diffKeys(prefix string, a, b map[string]any, depth int) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		av, aok := a[k]
		bv, bok := b[k]
		if aok && bok && reflect.DeepEqual(av, bv) {
			continue
		}
		am, amok := av.(map[string]any)
		bm, bmok := bv.(map[string]any)
		if depth > 1 && amok && bmok {
			out = append(out, diffKeys(prefix+k+".", am, bm, depth-1)...)
			continue
		}
		out = append(out, prefix+k)
	}
	sort.Strings(out)
	return out
}

// result returns the steps in the order the engine reported them.
func (t *translator) result() []Step {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Step, 0, len(t.order))
	for _, u := range t.order {
		out = append(out, *t.steps[u])
	}
	return out
}

// root is the op the engine announced for the stack's root resource ("" if
// none was seen).
func (t *translator) root() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rootOp
}

// changes is the engine's summary of what the operation did (counts by
// op, the root stack resource included); nil when no summary came.
func (t *translator) changes() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.summary
}

func (t *translator) errors() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.diags...)
}
