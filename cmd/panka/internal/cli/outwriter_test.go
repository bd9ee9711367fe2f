package cli

import (
	"context"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
)

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) {
	return 0, &fs.PathError{Op: "write", Path: os.Stdout.Name(), Err: w.err}
}

// TestStdoutWriteFailed: `panka version` prints without checking the
// write. On a full disk the output is lost: exit 1 with the error (no
// usage). A reader that went away (EPIPE) took what it wanted: exit 0
// as before, nothing printed.
func TestStdoutWriteFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code int
		want string
	}{
		{"full disk", syscall.ENOSPC, ExitError, "Error: panka version ran to its end but its output was not all written: write " + os.Stdout.Name() + ": no space left on device: the disk (or your quota) is full"},
		{"reader gone", syscall.EPIPE, ExitOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, _, errOut := Test()
			ios.Out = &outWriter{w: failingWriter{tc.err}}
			f := NewFactory(ios)
			f.Environ = func() []string { return nil }
			f.Home = func() (string, error) { return t.TempDir(), nil }
			f.Getwd = func() (string, error) { return t.TempDir(), nil }
			code := Run(context.Background(), f, []string{"version"})
			got := errOut.String()
			if code != tc.code || !strings.Contains(got, tc.want) || (tc.want == "" && got != "") || strings.Contains(got, "Usage:") {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, got, tc.code, tc.want)
			}
		})
	}
}
