package cli

import "testing"

// TestSystemColor pins SPEC §8's "colour only on a TTY" with the usual
// switches: NO_COLOR set to anything but "" (no-color.org) and TERM=dumb
// turn it off for stdout (plans) and stderr (logs, progress), as does
// --no-color / preferences.colorOutput=false (DisableColor); without a
// terminal there is never colour.
func TestSystemColor(t *testing.T) {
	for _, tc := range []struct {
		name, noColor, term string
		tty, disable, want  bool
	}{
		{name: "terminal", term: "xterm-256color", tty: true, want: true},
		{name: "NO_COLOR", noColor: "1", term: "xterm-256color", tty: true},
		{name: "NO_COLOR empty", noColor: "", term: "xterm-256color", tty: true, want: true},
		{name: "TERM=dumb", term: "dumb", tty: true},
		{name: "--no-color", term: "xterm-256color", tty: true, disable: true},
		{name: "no terminal", term: "xterm-256color"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tc.noColor)
			t.Setenv("TERM", tc.term)
			s := System()
			s.SetTTY(tc.tty, tc.tty, tc.tty)
			if tc.disable {
				s.DisableColor()
			}
			if got := s.ColorOut(); got != tc.want {
				t.Errorf("ColorOut() = %v, want %v", got, tc.want)
			}
			if got := s.ColorErr(); got != tc.want {
				t.Errorf("ColorErr() = %v, want %v", got, tc.want)
			}
		})
	}
}
