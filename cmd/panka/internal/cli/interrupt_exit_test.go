package cli

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cancelOnRead is a stdin whose read ends as a stop signal arrives: the
// signal cancels the context, and the read returns what it had (nothing).
type cancelOnRead struct{ cancel context.CancelFunc }

func (r cancelOnRead) Read([]byte) (int, error) {
	r.cancel()
	return 0, io.EOF
}

// TestInterruptedReadOnlyCommandNotExitZero: validate --var-file - whose
// read of stdin was cut by SIGTERM went on and validated with no values:
// exit 0, so `timeout 30 panka validate --var-file -` passed. A command
// that changes nothing and returns after a stop signal now ends with an
// "interrupted" error.
func TestInterruptedReadOnlyCommandNotExitZero(t *testing.T) {
	dir := t.TempDir()
	qs, _ := filepath.Abs("../../../../testdata/quickstart/stacks")
	if out, err := exec.Command("cp", "-r", qs, filepath.Join(dir, "stacks")).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	f, _, errOut := stackTestFactory(t, dir, "", false)
	if code := Run(context.Background(), f, []string{"validate", "--var-file", "-"}); code != 0 {
		t.Fatalf("validate without a signal: exit %d: %s", code, errOut)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, out, errOut := stackTestFactory(t, dir, "", false)
	f.IO.In = cancelOnRead{cancel}
	code := Run(ctx, f, []string{"validate", "--var-file", "-"})
	// The read may be given up (the signal seen first) or finish: either
	// way, interrupted.
	if code == 0 || !strings.Contains(errOut.String(), "interrupted: panka validate was stopped by a signal") && !strings.Contains(errOut.String(), "interrupted: --var-file - was still being read") {
		t.Fatalf("validate interrupted while reading stdin: exit %d, want 1 and an interrupted error; stderr:\n%s", code, errOut)
	}
	// Its result is not printed with that exit code: "2 stacks valid" on
	// stdout and exit 1 told a script two things.
	if out.Len() != 0 {
		t.Errorf("interrupted validate printed %q on stdout with exit %d, want nothing", out, code)
	}
}
