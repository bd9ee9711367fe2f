package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/deployer/planner"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func urn(comp, name string) string { return "urn:pulumi:s::p::panka:" + comp + "::" + name }

func ev(comp, name string, st engine.Status) engine.Event {
	return engine.Event{Component: comp, Name: name, URN: urn(comp, name), Type: "test:Thing", Status: st}
}

func TestProgressPlainLines(t *testing.T) {
	tests := []struct {
		name   string
		events []engine.Event
		want   string
	}{
		{"create then done", []engine.Event{
			ev("web", "web", engine.StatusCreating),
			{Component: "web", Name: "web", URN: urn("web", "web"), Op: "create", Status: engine.StatusDone, Elapsed: 1234 * time.Millisecond},
		}, "  web: creating (test:Thing)...\n  web: create done in 1.23s\n"},
		{"child resources are not shown", []engine.Event{
			ev("web", "web-role", engine.StatusCreating),
			{Component: "web", Name: "web-role", URN: urn("web", "web-role"), Op: "create", Status: engine.StatusDone},
		}, ""},
		{"failure", []engine.Event{
			{Component: "web", Name: "web-role", Type: "aws:iam/role:Role", Status: engine.StatusFailed, Message: " denied \n"},
		}, "  web: FAILED (aws:iam/role:Role): denied\n"},
		{"failure without a message", []engine.Event{
			{Component: "web", Name: "web", Type: "pankalocal:index:Component", Status: engine.StatusFailed},
		}, "  web: FAILED (pankalocal:index:Component)\n"},
		{"stack events and diagnostics are not shown", []engine.Event{
			{Name: "stack", Status: engine.StatusCreating},
			{Component: "web", Status: engine.StatusDiagnostic, Severity: "error", Message: "x"},
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := newProgress(&buf, newFakeClock().now)
			p.plan(&planner.Result{Changes: []planner.Change{{Component: "web", Action: planner.ActionCreate}}})
			for _, e := range tt.events {
				p.event(e)
			}
			p.stop()
			if got := buf.String(); got != tt.want {
				t.Errorf("output = %q, want %q", got, tt.want)
			}
		})
	}
}

var cursorUp = regexp.MustCompile(`\x1b\[(\d+)A`)

// frames splits live output into frames (each starts with a cursor-up but
// the first) and returns their lines, without the clear-line codes.
func frames(t *testing.T, out string) [][]string {
	t.Helper()
	var res [][]string
	prev := 0
	parts := cursorUp.Split(out, -1)
	ups := cursorUp.FindAllStringSubmatch(out, -1)
	for i, part := range parts {
		if i == 0 && part == "" {
			continue
		}
		if i > 0 && ups[i-1][1] != fmt.Sprint(prev) {
			t.Errorf("frame %d moves up %s lines, the previous frame drew %d", i, ups[i-1][1], prev)
		}
		if !strings.HasSuffix(part, "\n") {
			t.Fatalf("frame %d does not end with a newline: %q", i, part)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSuffix(part, "\n"), "\n") {
			if !strings.HasPrefix(l, "\r\x1b[2K") {
				t.Fatalf("line %q does not start with carriage return + clear line", l)
			}
			lines = append(lines, strings.TrimPrefix(l, "\r\x1b[2K"))
		}
		prev = len(lines)
		res = append(res, lines)
	}
	return res
}

func last(t *testing.T, out string) []string {
	t.Helper()
	fs := frames(t, out)
	if len(fs) == 0 {
		t.Fatal("no frame drawn")
	}
	return fs[len(fs)-1]
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("frame has %d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !regexp.MustCompile(want[i]).MatchString(got[i]) {
			t.Errorf("line %d = %q, want match %q", i, got[i], want[i])
		}
	}
}

func TestProgressLiveFrames(t *testing.T) {
	clk := newFakeClock()
	var buf bytes.Buffer
	p := newLiveProgress(&buf, clk.now, liveOptions{})
	p.plan(&planner.Result{Changes: []planner.Change{
		{Component: "db", Action: planner.ActionNoOp},
		{Component: "api", Action: planner.ActionCreate},
		{Component: "worker", Action: planner.ActionUpdate},
	}})
	if buf.Len() != 0 {
		t.Fatalf("drew before any engine event: %q", buf.String())
	}

	p.event(ev("api", "api", engine.StatusCreating))
	p.event(ev("api", "api-role", engine.StatusCreating))
	wantLines(t, last(t, buf.String()),
		`^⠋ api     creating +0\.0s$`,
		`^· worker  pending$`)

	clk.add(3200 * time.Millisecond)
	p.tick()
	wantLines(t, last(t, buf.String()),
		`^⠙ api     creating +3\.2s$`,
		`^· worker  pending$`)

	// Still running while a resource of the component is.
	p.event(engine.Event{Component: "api", Name: "api-role", URN: urn("api", "api-role"), Status: engine.StatusDone})
	clk.add(900 * time.Millisecond)
	p.tick()
	wantLines(t, last(t, buf.String()), `^⠹ api     creating +4\.1s$`, `^· worker`)
	p.event(engine.Event{Component: "api", Name: "api", URN: urn("api", "api"), Status: engine.StatusDone})

	p.event(ev("worker", "worker", engine.StatusUpdating))
	clk.add(time.Second)
	p.event(engine.Event{Component: "worker", URN: urn("worker", "worker"), Status: engine.StatusDiagnostic, Severity: "error",
		Message: "update failed: image not found\nsecond line"})
	p.event(ev("worker", "worker", engine.StatusFailed))
	wantLines(t, last(t, buf.String()),
		`^✓ api     created +4\.1s$`,
		`^✗ worker  failed +1\.0s  update failed: image not found$`)

	// A component outside the plan gets a line when it starts.
	p.event(ev("cron", "cron", engine.StatusDeleting))
	clk.add(65 * time.Second)
	p.tick()
	wantLines(t, last(t, buf.String()), `^✓ api`, `^✗ worker`, `^⠸ cron    deleting +1m05s$`)

	p.stop()
	wantLines(t, last(t, buf.String()),
		`^✓ api     created +4\.1s$`,
		`^✗ worker  failed +1\.0s  update failed: image not found$`,
		`^! cron    interrupted +1m05s$`)
	n := buf.Len()
	p.tick()
	p.event(ev("api", "api", engine.StatusUpdating))
	p.stop()
	if buf.Len() != n {
		t.Errorf("wrote after stop: %q", buf.String()[n:])
	}
	if regexp.MustCompile(`\x1b\[[0-9;]*m|\x1b\[\?25l`).MatchString(buf.String()) {
		t.Errorf("colour or hidden cursor without colour: %q", buf.String())
	}
}

func TestProgressLiveFinalFrame(t *testing.T) {
	tests := []struct {
		name   string
		events []engine.Event
		want   []string
	}{
		{"nothing ran: nothing drawn", nil, nil},
		{"planned but never started", []engine.Event{
			ev("a", "a", engine.StatusReplacing),
			{Component: "a", Name: "a", URN: urn("a", "a"), Status: engine.StatusDone},
		}, []string{`^✓ a  replaced +0\.0s$`, `^· b  not started$`}},
		{"failure message from the event, first line", []engine.Event{
			{Component: "b", Name: "b-x", URN: urn("b", "b-x"), Status: engine.StatusFailed, Message: "\n boom \nstack"},
		}, []string{`^· a  not started$`, `^✗ b  failed +0\.0s  boom$`}},
		// A step cut short by Ctrl-C fails with the provider's "context
		// canceled": it was interrupted, as the run's error says.
		{"interrupted step", []engine.Event{
			ev("b", "b", engine.StatusCreating),
			{Component: "b", Status: engine.StatusDiagnostic, Severity: "error", Message: "pankalocal: write b: context canceled"},
			{Component: "b", Name: "b", URN: urn("b", "b"), Status: engine.StatusFailed},
		}, []string{`^· a  not started$`, `^! b  interrupted +0\.0s$`}},
		{"unplanned unchanged and diagnostics draw nothing", []engine.Event{
			ev("c", "c", engine.StatusUnchanged),
			{Component: "a", Status: engine.StatusDiagnostic, Severity: "warning", Message: "w"},
		}, nil},
		{"unchanged component", []engine.Event{
			ev("a", "a", engine.StatusUnchanged),
			ev("b", "b-child", engine.StatusUnchanged),
			ev("b", "b", engine.StatusCreating),
		}, []string{`^✓ a  unchanged$`, `^! b  interrupted +0\.0s$`}},
		{"unchanged top resource, changed child", []engine.Event{
			ev("a", "a", engine.StatusUnchanged),
			ev("a", "a-child", engine.StatusUpdating),
			{Component: "a", Name: "a-child", URN: urn("a", "a-child"), Status: engine.StatusDone},
		}, []string{`^✓ a  updated +0\.0s$`, `^· b  not started$`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := newLiveProgress(&buf, newFakeClock().now, liveOptions{})
			p.plan(&planner.Result{Changes: []planner.Change{{Component: "a", Action: planner.ActionReplace}, {Component: "b", Action: planner.ActionCreate}}})
			for _, e := range tt.events {
				p.event(e)
			}
			p.stop()
			if tt.want == nil {
				if buf.Len() != 0 {
					t.Fatalf("drew %q", buf.String())
				}
				return
			}
			wantLines(t, last(t, buf.String()), tt.want...)
		})
	}
}

func TestProgressLiveColorAndWidth(t *testing.T) {
	var buf bytes.Buffer
	p := newLiveProgress(&buf, newFakeClock().now, liveOptions{Color: true, Width: func() int { return 60 }})
	p.event(ev("api", "api", engine.StatusCreating))
	p.event(engine.Event{Component: "api", Name: "api", URN: urn("api", "api"), Status: engine.StatusDone})
	p.event(engine.Event{Component: "a-very-long-component-name", Name: "x", Status: engine.StatusFailed,
		Message: "a long error message that does not fit on a sixty column terminal at all"})
	p.stop()
	got := last(t, buf.String())
	if !strings.Contains(got[0], ansiGreen+"✓"+ansiReset) || !strings.Contains(got[0], ansiGreen+"created") {
		t.Errorf("done line not green: %q", got[0])
	}
	if !strings.Contains(got[1], ansiRed+"✗"+ansiReset) {
		t.Errorf("failed line not red: %q", got[1])
	}
	strip := regexp.MustCompile(`\x1b\[[0-9;]*m`)
	for _, l := range got {
		plain := strip.ReplaceAllString(l, "")
		if n := utf8.RuneCountInString(plain); n > 59 {
			t.Errorf("line %q is %d columns, wider than the 60-column terminal allows", plain, n)
		}
	}
	if !strings.HasSuffix(strip.ReplaceAllString(got[1], ""), "…") {
		t.Errorf("long line not cut with an ellipsis: %q", got[1])
	}
}

// syncBuffer is a writer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// TestProgressLiveConcurrent runs the real ticker against events from
// several goroutines (go test -race) and checks stop ends the ticker.
func TestProgressLiveConcurrent(t *testing.T) {
	var out syncBuffer
	p := newLiveProgress(&out, time.Now, liveOptions{Tick: time.Millisecond})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("c%d", i)
			for j := range 50 {
				p.event(ev(name, fmt.Sprint(name, j), engine.StatusCreating))
				p.event(engine.Event{Component: name, Name: fmt.Sprint(name, j), URN: urn(name, fmt.Sprint(name, j)), Status: engine.StatusDone})
			}
		}()
	}
	wg.Wait()
	done := p.live.doneCh
	p.stop()
	select {
	case <-done:
	default:
		t.Fatal("the ticker goroutine is still running after stop")
	}
	got := last(t, out.String())
	if len(got) != 4 {
		t.Fatalf("final frame = %q, want 4 lines", got)
	}
	for _, l := range got {
		if !strings.HasPrefix(l, "✓ c") || !strings.Contains(l, "created") {
			t.Errorf("final line %q, want a created component", l)
		}
	}
}

func TestNewProgressFor(t *testing.T) {
	tests := []struct {
		name      string
		stderrTTY bool
		bar       bool
		verbose   int
		dumb      bool
		live      bool
	}{
		{"terminal", true, true, 0, false, true},
		{"no terminal", false, true, 0, false, false},
		{"progressBar off", true, false, 0, false, false},
		{"verbose engine log", true, true, 1, false, false},
		// TERM=dumb shows cursor movements as text: plain lines, no colour.
		{"dumb terminal", true, true, 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := Test()
			ios.SetTTY(false, false, tt.stderrTTY)
			if tt.dumb {
				ios.SetDumb()
				if ios.ColorErr() || ios.ColorOut() {
					t.Error("colour on a dumb terminal")
				}
			}
			f := &Factory{IO: ios, Now: newFakeClock().now}
			f.Flags.Verbose = tt.verbose
			cfg := &config.Resolved{}
			cfg.Preferences.ProgressBar = tt.bar
			p := newProgressFor(f, cfg)
			defer p.stop()
			if got := p.live != nil; got != tt.live {
				t.Errorf("live = %v, want %v", got, tt.live)
			}
		})
	}
}

// TestProgressJSONLogs: with --log-format json, progress is never the live
// view (even on a terminal) and each of its lines is a JSON log line, so
// that stderr stays parseable.
func TestProgressJSONLogs(t *testing.T) {
	ios, _, _, errOut := Test()
	ios.SetTTY(false, false, true)
	f := &Factory{IO: ios, Now: newFakeClock().now, Environ: func() []string { return nil }}
	f.Flags.LogFormat = "json"
	f.setupLogging()
	cfg := &config.Resolved{}
	cfg.Preferences.ProgressBar = true
	p := newProgressFor(f, cfg)
	if p.live != nil {
		t.Fatal("live progress with --log-format json")
	}
	p.plan(&planner.Result{Changes: []planner.Change{{Component: "web", Action: planner.ActionCreate}}})
	p.event(ev("web", "web", engine.StatusCreating))
	p.event(engine.Event{Component: "web", Name: "web", URN: urn("web", "web"), Op: "create", Status: engine.StatusDone, Elapsed: time.Second})
	p.stop()
	fmt.Fprintf(f.Notices(), "Rolling back to serial %d.\n", 1)
	var msgs []string
	for _, line := range strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n") {
		var l struct{ Level, Message, Time string }
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Level != "info" || l.Time == "" {
			t.Fatalf("stderr line %q is not an info JSON log line (%v); stderr:\n%s", line, err, errOut)
		}
		msgs = append(msgs, l.Message)
	}
	want := []string{"web: creating (test:Thing)...", "web: create done in 1s", "Rolling back to serial 1."}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Errorf("messages = %q, want %q", msgs, want)
	}
}

// TestErrorJSONLogs: with --log-format json the final error is a JSON log
// line too (with the exit code, and for a usage error how to get the usage).
func TestErrorJSONLogs(t *testing.T) {
	f, _, errOut := stackTestFactory(t, t.TempDir(), "", false)
	code := Run(context.Background(), f, []string{"status", "--log-format", "json"})
	var l struct {
		Level, Message, Usage string
		ExitCode              int
	}
	if err := json.Unmarshal(errOut.Bytes(), &l); err != nil {
		t.Fatalf("stderr is not one JSON line: %v\n%s", err, errOut)
	}
	if code != ExitError || l.Level != "error" || l.ExitCode != ExitError || !strings.Contains(l.Message, "--stack is required") || l.Usage != "panka status --help" {
		t.Errorf("exit %d, log line %+v", code, l)
	}
}

// screen is a minimal terminal: it interprets what the live view and
// syncWriter write (text, "\n", "\r", cursor up "ESC[nA", clear line
// "ESC[2K", clear to the end of the screen "ESC[J") and returns the lines
// left on screen.
func screen(t *testing.T, out string) []string {
	t.Helper()
	var rows [][]rune
	row, col := 0, 0
	put := func(r rune) {
		for len(rows) <= row {
			rows = append(rows, nil)
		}
		for len(rows[row]) < col {
			rows[row] = append(rows[row], ' ')
		}
		if col < len(rows[row]) {
			rows[row][col] = r
		} else {
			rows[row] = append(rows[row], r)
		}
		col++
	}
	seq := regexp.MustCompile(`^\x1b\[(\d*)([AKJm])`)
	for i := 0; i < len(out); {
		if m := seq.FindStringSubmatch(out[i:]); m != nil {
			i += len(m[0])
			switch m[2] {
			case "A":
				n := 1
				fmt.Sscan(m[1], &n)
				row = max(0, row-n)
			case "K":
				if row < len(rows) {
					rows[row] = nil
				}
			case "J":
				if row < len(rows) {
					rows = rows[:row]
				}
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(out[i:])
		i += size
		switch r {
		case '\n':
			row, col = row+1, 0
			for len(rows) <= row {
				rows = append(rows, nil)
			}
		case '\r':
			col = 0
		case '\x1b':
			t.Fatalf("unknown escape sequence at %q", out[i-1:min(len(out), i+8)])
		default:
			put(r)
		}
	}
	lines := make([]string, 0, len(rows))
	for _, r := range rows {
		lines = append(lines, string(r))
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// TestProgressLiveWithLogLines: lines other goroutines write to stderr
// while the live view redraws (a heartbeat's warning, the state server
// watch, the engine's log) end up whole on screen, above the final frame.
// They went below the frame, and the next redraw, moving up over the
// frame's lines, wrote over them and left a stale frame line behind.
func TestProgressLiveWithLogLines(t *testing.T) {
	var buf syncBuffer
	stderr := &syncWriter{w: &buf}
	p := newLiveProgress(stderr, time.Now, liveOptions{Tick: time.Millisecond})
	p.plan(&planner.Result{Changes: []planner.Change{{Component: "db", Action: planner.ActionCreate}, {Component: "web", Action: planner.ActionCreate}}})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 40 {
			fmt.Fprintf(stderr, "log line %d\n", i)
			time.Sleep(200 * time.Microsecond)
		}
	}()
	go func() {
		defer wg.Done()
		for _, c := range []string{"db", "web"} {
			p.event(ev(c, c, engine.StatusCreating))
			time.Sleep(2 * time.Millisecond)
			p.event(engine.Event{Component: c, Name: c, URN: urn(c, c), Op: "create", Status: engine.StatusDone})
		}
	}()
	wg.Wait()
	p.stop()
	fmt.Fprintln(stderr, "after the run")
	got := screen(t, buf.String())
	var logs []string
	for _, l := range got[:max(0, len(got)-3)] {
		if !strings.HasPrefix(l, "log line ") {
			t.Errorf("screen line %q above the final frame is not a log line; screen:\n%s", l, strings.Join(got, "\n"))
			continue
		}
		logs = append(logs, l)
	}
	for i := range 40 {
		if i >= len(logs) || logs[i] != fmt.Sprintf("log line %d", i) {
			t.Fatalf("log lines on screen = %q, want log line 0..39 in order, each once", logs)
		}
	}
	if len(got) < 3 {
		t.Fatalf("screen:\n%s", strings.Join(got, "\n"))
	}
	tail := got[len(got)-3:]
	wantLines(t, tail[:2], `^✓ db +created`, `^✓ web +created`)
	if tail[2] != "after the run" {
		t.Errorf("last line %q, want the line written after stop", tail[2])
	}
}
