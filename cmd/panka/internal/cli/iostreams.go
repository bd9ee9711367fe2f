package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/mattn/go-isatty"
)

// IOStreams are the process's standard streams and what is known about
// them. Tests use Test() to get buffers.
type IOStreams struct {
	In  io.Reader
	Out io.Writer // results only
	// ErrOut carries logs, progress, notices, warnings and prompts. Several
	// goroutines write it at once during a deployment (see syncWriter), so
	// System and Test make it a *syncWriter.
	ErrOut io.Writer

	stdinTTY, stdoutTTY, stderrTTY bool
	noColor                        bool
	// dumb is TERM=dumb: a terminal (Emacs shell, some CI log views) that
	// shows escape sequences as text, so no colour and no redraws.
	dumb bool
}

// System returns the process's streams.
func System() *IOStreams {
	tty := func(f *os.File) bool { return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()) }
	dumb := os.Getenv("TERM") == "dumb"
	return &IOStreams{In: os.Stdin, Out: &outWriter{w: os.Stdout}, ErrOut: &syncWriter{w: os.Stderr},
		stdinTTY: tty(os.Stdin), stdoutTTY: tty(os.Stdout), stderrTTY: tty(os.Stderr),
		noColor: os.Getenv("NO_COLOR") != "" || dumb, dumb: dumb}
}

// SetDumb marks the terminal as TERM=dumb (tests).
func (s *IOStreams) SetDumb() { s.dumb, s.noColor = true, true }

// CanRedraw reports whether stderr takes cursor movements (a live view): a
// terminal that is not TERM=dumb.
func (s *IOStreams) CanRedraw() bool { return s.stderrTTY && !s.dumb }

// Test returns streams backed by buffers, none a TTY.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: &syncWriter{w: errOut}}, in, out, errOut
}

// errFile is the file behind ErrOut (nil when it is not a file).
func (s *IOStreams) errFile() *os.File {
	w := s.ErrOut
	if sw, ok := w.(*syncWriter); ok {
		w = sw.w
	}
	f, _ := w.(*os.File)
	return f
}

// SetTTY overrides TTY detection (tests).
func (s *IOStreams) SetTTY(stdin, stdout, stderr bool) {
	s.stdinTTY, s.stdoutTTY, s.stderrTTY = stdin, stdout, stderr
}

// CanPrompt reports whether the user can answer a prompt (stdin and stderr are terminals).
func (s *IOStreams) CanPrompt() bool { return s.stdinTTY && s.stderrTTY }

// IsStdoutTTY reports whether stdout is a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// IsStderrTTY reports whether stderr is a terminal.
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// DisableColor turns colour off (--no-color, preferences.colorOutput=false).
func (s *IOStreams) DisableColor() { s.noColor = true }

// ColorOut reports whether stdout gets colour: a TTY, and neither NO_COLOR nor --no-color.
func (s *IOStreams) ColorOut() bool { return s.stdoutTTY && !s.noColor }

// ColorErr reports whether stderr gets colour.
func (s *IOStreams) ColorErr() bool { return s.stderrTTY && !s.noColor }

// outWriter is stdout remembering its first failed write. Many commands
// print their text results without looking at each write's error (a
// table, a status, `panka version`): on a full disk (`> out.txt`, or
// /dev/full) the output was lost and panka still exited 0. Run reports
// the failure once the command has ended (stdoutFailed).
type outWriter struct {
	w   io.Writer
	mu  sync.Mutex
	err error
}

func (o *outWriter) Write(p []byte) (int, error) {
	n, err := o.w.Write(p)
	if err != nil {
		o.mu.Lock()
		if o.err == nil {
			o.err = err
		}
		o.mu.Unlock()
	}
	return n, err
}

// heldOut keeps what a command that changes nothing writes to stdout
// until it returns (Run): interrupted by a stop signal, it ends with an
// "interrupted" error, and its output, complete or not, is then dropped
// rather than printed above that error, so that a script reading stdout
// gets a result only with exit code 0 (or 2). A command that changes
// something writes through: its plan must show before its prompt.
type heldOut struct {
	w   io.Writer
	mu  sync.Mutex
	buf bytes.Buffer
}

func (h *heldOut) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.buf.Write(p)
}

// release writes what was held to stdout when keep is set, and drops it
// otherwise.
func (h *heldOut) release(keep bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if keep && h.buf.Len() > 0 {
		_, _ = h.w.Write(h.buf.Bytes()) // a failure is outWriter's to report
	}
	h.buf = bytes.Buffer{}
}

// stdoutFailed returns the first write to stdout that failed, if any.
func (s *IOStreams) stdoutFailed() error {
	o, ok := s.Out.(*outWriter)
	if h, held := s.Out.(*heldOut); held {
		o, ok = h.w.(*outWriter)
	}
	if !ok {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// syncWriter is a stream that several goroutines write at once: during a
// deployment stderr gets the log (zerolog, also from the lease's heartbeat
// and the state server watch), the engine's own log (copied from its
// stderr by os/exec's goroutine), the progress display and its spinner,
// notices and warnings, and the signal handler's message. Each Write goes
// out whole, never mixed into another. While the progress display keeps a
// live frame at the bottom of a terminal (drawFrame), a write from anyone
// else clears the frame, goes where it was, and the frame is drawn again
// below it: redrawing in place would otherwise overwrite that line, or
// leave the frame's lines behind in the middle of it.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
	// frame is the live frame on screen (its lines each end in "\n"),
	// lines their number; 0 when none is.
	frame string
	lines int
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lines == 0 {
		return s.w.Write(p)
	}
	var b bytes.Buffer
	// Up to the frame's first line, clear from there to the end of the
	// screen, the text (as whole lines: the frame starts a line), then
	// the frame again.
	fmt.Fprintf(&b, "\x1b[%dA\r\x1b[J", s.lines)
	b.Write(p)
	if len(p) > 0 && p[len(p)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteString(s.frame)
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// drawFrame draws frame (lines that each end in "\n" and start with
// "\r\x1b[2K") over the frame drawn last, if any. A final frame stays on
// screen as ordinary lines: later writes go below it.
func (s *syncWriter) drawFrame(frame string, final bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	if s.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", s.lines)
	}
	b.WriteString(frame)
	s.frame, s.lines = frame, strings.Count(frame, "\n")
	if final {
		s.frame, s.lines = "", 0
	}
	_, err := io.WriteString(s.w, b.String())
	return err
}
