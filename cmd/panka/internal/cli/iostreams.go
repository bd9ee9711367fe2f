package cli

import (
	"bytes"
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IOStreams are the process's standard streams and what is known about
// them. Tests use Test() to get buffers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer // results only
	ErrOut io.Writer // logs, progress, prompts

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
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
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
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
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
