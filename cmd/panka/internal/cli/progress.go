package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/deployer/planner"
)

// progress shows engine events on stderr. Without a terminal it prints one
// plain line per component step; on a terminal (live mode) it keeps one
// line per component and redraws them in place, with a spinner for the
// running ones, until stop draws the final frame.
//
// event, plan, tick and stop may be called from different goroutines.
type progress struct {
	mu sync.Mutex
	w  io.Writer
	// frames draws the live view's frames (live mode): w, which other
	// goroutines write too (see syncWriter).
	frames *syncWriter
	start  map[string]time.Time
	now    func() time.Time

	live *liveView // nil: plain lines
}

// newProgress returns the plain-lines progress (no terminal).
func newProgress(w io.Writer, now func() time.Time) *progress {
	return &progress{w: w, start: map[string]time.Time{}, now: now}
}

// newProgressFor returns the progress for a deployment: live on a terminal
// stderr (not TERM=dumb) with preferences.progressBar on (and not -v, whose engine log
// would interleave with the redraws, nor --log-format json, whose stderr
// must be JSON lines), plain lines otherwise. Call stop when
// the deployment ends, before printing anything else.
func newProgressFor(f *Factory, cfg *config.Resolved) *progress {
	if !f.IO.CanRedraw() || !cfg.Preferences.ProgressBar || f.Flags.Verbose > 0 || f.Flags.Quiet || f.jsonLog != nil {
		return newProgress(f.Notices(), f.Now)
	}
	width := func() int { return 0 }
	if file := f.IO.errFile(); file != nil {
		width = func() int {
			w, _, err := term.GetSize(int(file.Fd()))
			if err != nil {
				return 0
			}
			return w
		}
	}
	return newLiveProgress(f.IO.ErrOut, f.Now, liveOptions{Color: f.IO.ColorErr(), Tick: 100 * time.Millisecond, Width: width})
}

// liveOptions configure the live view.
type liveOptions struct {
	Color bool
	// Tick is the spinner period; 0 starts no ticker (tests call tick).
	Tick time.Duration
	// Width is the terminal width (0: unknown); lines are cut to fit so
	// that none wraps and breaks the redraw.
	Width func() int
}

// newLiveProgress returns the live, redrawn-in-place progress.
func newLiveProgress(w io.Writer, now func() time.Time, o liveOptions) *progress {
	if o.Width == nil {
		o.Width = func() int { return 0 }
	}
	sw, ok := w.(*syncWriter)
	if !ok {
		sw = &syncWriter{w: w}
	}
	return &progress{w: sw, frames: sw, now: now, live: &liveView{opts: o, byName: map[string]*row{}}}
}

// rowState is where a component is in the live view.
type rowState int

const (
	rowPending rowState = iota
	rowRunning
	rowDone
	rowFailed
)

// row is one component line of the live view.
type row struct {
	name     string
	state    rowState
	verb     engine.Status // creating, updating, deleting, replacing
	start    time.Time
	end      time.Time
	inflight map[string]bool // URNs in progress
	errMsg   string          // first line of the component's first error
}

// liveView is the state of the live mode (guarded by progress.mu).
type liveView struct {
	opts    liveOptions
	rows    []*row
	byName  map[string]*row
	spin    int  // spinner frame
	active  bool // the first event arrived: frames are drawn
	stopped bool
	stopCh  chan struct{}
	doneCh  chan struct{}
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// plan adds the components the plan changes as pending lines (live mode).
func (p *progress) plan(pl *planner.Result) {
	if p.live == nil || pl == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range pl.Changes {
		if c.Action != planner.ActionNoOp {
			p.live.row(c.Component)
		}
	}
}

func (v *liveView) row(name string) *row {
	r := v.byName[name]
	if r == nil {
		r = &row{name: name, inflight: map[string]bool{}}
		v.byName[name] = r
		v.rows = append(v.rows, r)
	}
	return r
}

// event takes one engine event (deploy.Runtime.OnEvent).
func (p *progress) event(e engine.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name := e.Component
	if name == "" {
		return
	}
	if p.live != nil {
		p.liveEvent(e)
		return
	}
	switch e.Status {
	case engine.StatusCreating, engine.StatusUpdating, engine.StatusDeleting, engine.StatusReplacing:
		if e.Name != name {
			return
		}
		p.start[e.URN] = p.now()
		fmt.Fprintf(p.w, "  %s: %s (%s)...\n", name, e.Status, e.Type)
	case engine.StatusDone:
		if e.Name != name {
			return
		}
		fmt.Fprintf(p.w, "  %s: %s done in %s\n", name, e.Op, e.Elapsed.Round(10*time.Millisecond))
	case engine.StatusFailed:
		// The engine often fails a resource without a message (an
		// interrupted or failed update): the error after the run says why.
		if msg := strings.TrimSpace(e.Message); msg != "" {
			fmt.Fprintf(p.w, "  %s: FAILED (%s): %s\n", name, e.Type, msg)
		} else {
			fmt.Fprintf(p.w, "  %s: FAILED (%s)\n", name, e.Type)
		}
	}
}

// liveEvent updates the component's line and redraws (p.mu held). Every
// resource of a component counts: the line runs while any is in progress.
func (p *progress) liveEvent(e engine.Event) {
	v := p.live
	if v.stopped {
		return
	}
	now := p.now()
	switch e.Status {
	case engine.StatusCreating, engine.StatusUpdating, engine.StatusDeleting, engine.StatusReplacing:
		r := v.row(e.Component)
		if r.start.IsZero() {
			r.start = now
		}
		if r.state != rowFailed {
			r.state = rowRunning
		}
		r.inflight[e.URN] = true
		if r.verb == "" || r.verb == engine.StatusUnchanged || e.Name == e.Component {
			r.verb = e.Status
		}
	case engine.StatusDone:
		r := v.byName[e.Component]
		if r == nil {
			return
		}
		delete(r.inflight, e.URN)
		if r.state == rowRunning && len(r.inflight) == 0 {
			r.state, r.end = rowDone, now
		}
	case engine.StatusFailed:
		r := v.row(e.Component)
		if r.state == rowPending {
			r.start = now
		}
		delete(r.inflight, e.URN)
		r.state, r.end = rowFailed, now
		if m := errLine(e.Message); m != "" {
			r.errMsg = m
		}
	case engine.StatusUnchanged:
		// A planned component the engine finds up to date (its resources
		// may still change after this).
		r := v.byName[e.Component]
		if r == nil || r.state != rowPending || e.Name != e.Component {
			return
		}
		r.state, r.verb = rowDone, engine.StatusUnchanged
	case engine.StatusDiagnostic:
		// The engine reports a resource's error as a diagnostic (before or
		// after its failed event); keep the first one for the line.
		if e.Severity != "error" {
			return
		}
		r := v.byName[e.Component]
		if r == nil || r.errMsg != "" {
			return
		}
		r.errMsg = errLine(e.Message)
		if r.state != rowFailed {
			return
		}
	default:
		return
	}
	if !v.active {
		v.active = true
		if v.opts.Tick > 0 {
			v.stopCh, v.doneCh = make(chan struct{}), make(chan struct{})
			go p.ticker(v.opts.Tick, v.stopCh, v.doneCh)
		}
	}
	p.draw(false)
}

func (p *progress) ticker(d time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.tick()
		}
	}
}

// tick advances the spinner and redraws (live mode).
func (p *progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live == nil || !p.live.active || p.live.stopped {
		return
	}
	p.live.spin++
	p.draw(false)
}

// stop ends the live view: the ticker stops and the final frame stays on
// screen. It is safe to call more than once; plain mode does nothing.
func (p *progress) stop() {
	if p.live == nil {
		return
	}
	p.mu.Lock()
	v := p.live
	if v.stopped {
		p.mu.Unlock()
		return
	}
	v.stopped = true
	if v.active {
		p.draw(true)
	}
	stopCh, doneCh := v.stopCh, v.doneCh
	p.mu.Unlock()
	if stopCh != nil {
		close(stopCh)
		<-doneCh
	}
}

// draw writes one frame over the previous one (p.mu held): cursor up over
// the lines drawn last (drawFrame), then each line cleared and rewritten.
func (p *progress) draw(final bool) {
	v := p.live
	var b strings.Builder
	width := 0
	for _, r := range v.rows {
		width = max(width, utf8.RuneCountInString(r.name))
	}
	cols := v.opts.Width()
	for _, r := range v.rows {
		b.WriteString("\r\x1b[2K")
		b.WriteString(p.line(r, width, cols, final))
		b.WriteString("\n")
	}
	_ = p.frames.drawFrame(b.String(), final)
}

// ANSI colours.
const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiDim    = "\x1b[2m"
)

// line renders one row: symbol, name, status word, elapsed time and, for a
// failure, the first line of the error; cut to cols (0: no limit).
func (p *progress) line(r *row, width, cols int, final bool) string {
	v := p.live
	var sym, word, color, elapsed, msg string
	switch r.state {
	case rowPending:
		sym, color, word = "·", ansiDim, "pending"
		if final {
			word = "not started"
		}
	case rowRunning:
		sym, color, word = spinnerFrames[v.spin%len(spinnerFrames)], ansiCyan, string(r.verb)
		elapsed = fmtElapsed(p.now().Sub(r.start))
		if final {
			sym, color, word = "!", ansiYellow, "interrupted"
		}
	case rowDone:
		sym, color, word = "✓", ansiGreen, pastTense(r.verb)
		if !r.start.IsZero() {
			elapsed = fmtElapsed(r.end.Sub(r.start))
		}
	case rowFailed:
		sym, color, word = "✗", ansiRed, "failed"
		elapsed = fmtElapsed(r.end.Sub(r.start))
		msg = r.errMsg
		if msg == "context canceled" || strings.HasSuffix(msg, ": context canceled") {
			// The provider's error for a step Ctrl-C (or a stop signal)
			// cut short: said as for a row still running at the end.
			sym, color, word, msg = "!", ansiYellow, "interrupted", ""
		}
	}
	pad := strings.Repeat(" ", width-utf8.RuneCountInString(r.name))
	head := fmt.Sprintf("%s %s%s  ", sym, r.name, pad)
	tail := fmt.Sprintf(" %5s", elapsed)
	if elapsed == "" {
		tail = ""
		word = strings.TrimRight(word, " ")
	} else {
		word = fmt.Sprintf("%-10s", word)
	}
	if msg != "" {
		msg = "  " + msg
	}
	if cols > 1 {
		// Keep every line shorter than the terminal: a wrapped line would
		// throw the cursor-up count off.
		room := cols - 1 - utf8.RuneCountInString(head+word+tail)
		switch {
		case room < 0:
			return cut(head+word+tail, cols-1)
		case utf8.RuneCountInString(msg) > room:
			msg = cut(msg, room)
		}
	}
	if !v.opts.Color {
		return head + word + tail + msg
	}
	head = color + sym + ansiReset + strings.TrimPrefix(head, sym)
	word = color + word + ansiReset
	if msg != "" {
		msg = ansiRed + msg + ansiReset
	}
	return head + word + tail + msg
}

// cut shortens s to n runes, the last one an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	return string([]rune(s)[:n-1]) + "…"
}

func pastTense(s engine.Status) string {
	switch s {
	case engine.StatusCreating:
		return "created"
	case engine.StatusUpdating:
		return "updated"
	case engine.StatusDeleting:
		return "deleted"
	case engine.StatusReplacing:
		return "replaced"
	case engine.StatusUnchanged:
		return "unchanged"
	}
	return "done"
}

// fmtElapsed formats a duration as 3.2s, or 1m05s from a minute on.
func fmtElapsed(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// errLine is the first non-empty line of an error message, trimmed.
func errLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}
