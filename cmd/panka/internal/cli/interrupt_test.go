package cli

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/statestore/testserver"
)

// TestInterruptedMessages: what each signal says, by what runs: the first
// names the deployment and the grace, the second how to recover (a
// destroy is finished by destroy, not apply); -q keeps only the second;
// --log-format json makes them JSON lines.
func TestInterruptedMessages(t *testing.T) {
	// Where the lease says which process took it, the next operation on
	// this host takes it over once panka has gone.
	takeover := ""
	if _, ok := engine.Self(); ok {
		takeover = " (the next operation on this host takes it over)"
	}
	tests := []struct {
		name   string
		run    *runningDeployment
		sig    os.Signal
		second bool
		quiet  bool
		json   bool
		want   string // "" wants nothing on stderr
	}{
		{"first, nothing deployed", nil, os.Interrupt, false, false, false, "\nCtrl-C: stopping; a second Ctrl-C stops panka at once.\n"},
		{"first, apply", &runningDeployment{"apply", "shop", "dev", false, true}, os.Interrupt, false, false, false,
			"Ctrl-C: stopping the apply of shop/dev cleanly: waiting for the engine to finish the step in progress (it is killed if it has not stopped within 2m00s)"},
		// Before its engine starts (the plan, the engine starting) the run
		// stops with nothing changed or recorded: it said the run would be
		// recorded as interrupted, and then that nothing was recorded.
		{"first, before the engine", &runningDeployment{"apply", "shop", "dev", false, false}, os.Interrupt, false, false, false,
			"Ctrl-C: stopping the apply of shop/dev before its engine starts: nothing is changed or recorded, and the lock is released.\n"},
		{"first, SIGTERM", &runningDeployment{"rollback", "shop", "dev", false, true}, syscall.SIGTERM, false, false, false, "A second SIGTERM stops panka at once"},
		{"second, apply", &runningDeployment{"apply", "shop", "dev", false, true}, os.Interrupt, true, false, false,
			"panka unlock --stack shop --environment dev removes it" + takeover + "; then panka plan --stack shop --environment dev shows what is left to do, and the next apply clears"},
		{"second, destroy", &runningDeployment{"destroy", "shop", "dev", false, true}, os.Interrupt, true, false, false,
			"panka unlock --stack shop --environment dev removes it" + takeover + "; then panka destroy --stack shop --environment dev clears Pulumi's lock and pending operations and finishes it."},
		// After the engine run, while the deployment is recorded: it said
		// the run would be recorded as interrupted after the engine's step,
		// and then recorded it as it ended (succeeded), exit 0.
		{"first, recording", &runningDeployment{"apply", "shop", "dev", true, true}, syscall.SIGTERM, false, false, false,
			"SIGTERM: the apply of shop/dev has finished running; panka is recording how it ended (history, then state) and then releases the lock, which takes seconds."},
		{"first, quiet", &runningDeployment{"apply", "shop", "dev", false, true}, os.Interrupt, false, true, false, ""},
		{"second, quiet", &runningDeployment{"apply", "shop", "dev", false, true}, os.Interrupt, true, true, false, "Second Ctrl-C: panka stops now"},
		{"first, json", nil, os.Interrupt, false, false, true, `{"level":"warn","signal":"Ctrl-C",`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, errOut := Test()
			f := NewFactory(ios)
			f.Environ = func() []string { return nil }
			f.Home = func() (string, error) { return t.TempDir(), nil }
			f.Getwd = func() (string, error) { return t.TempDir(), nil }
			f.Flags.Quiet = tt.quiet
			if tt.json {
				f.Flags.LogFormat = "json"
			}
			f.setupLogging()
			defer f.deploying(tt.run)()
			f.interrupted(tt.sig, tt.second)
			got := errOut.String()
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("stderr = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestStartingDeploymentAfterSignal: a run whose first stop signal came
// before its engine started (the note said nothing would be changed or
// recorded) does not go on to the engine, however soon after it the
// engine came up; one that started says so to a later signal.
func TestStartingDeploymentAfterSignal(t *testing.T) {
	ios, _, _, errOut := Test()
	f := NewFactory(ios)
	defer f.deploying(&runningDeployment{operation: "apply", stack: "shop", env: "dev"})()
	if err := f.startingDeployment(); err != nil {
		t.Fatalf("startingDeployment before any signal: %v", err)
	}
	f.interrupted(os.Interrupt, false)
	if got := errOut.String(); !strings.Contains(got, "stopping the apply of shop/dev cleanly: waiting for the engine") {
		t.Errorf("stderr = %q, want the engine's wait", got)
	}

	ios, _, _, errOut = Test()
	f = NewFactory(ios)
	defer f.deploying(&runningDeployment{operation: "apply", stack: "shop", env: "dev"})()
	f.interrupted(os.Interrupt, false)
	if got := errOut.String(); !strings.Contains(got, "before its engine starts: nothing is changed or recorded") {
		t.Errorf("stderr = %q, want nothing changed or recorded", got)
	}
	if err := f.startingDeployment(); err == nil {
		t.Error("startingDeployment after the signal: nil, want an error")
	}
}

// TestInterruptedRequestSaysInterrupted: a stop signal that cancels a
// request in flight (here a read from a state server that never answers)
// ends the command with "interrupted", not the SDK's "operation error S3:
// ..., context canceled".
func TestInterruptedRequestSaysInterrupted(t *testing.T) {
	endpoint := testserver.SilentEndpoint(t)
	home := t.TempDir()
	fakeAWSEnv(t, home)
	ios, _, _, errOut := Test()
	f := NewFactory(ios)
	dir := t.TempDir()
	f.Getwd = func() (string, error) { return dir, nil }
	f.Home = func() (string, error) { return home, nil }
	f.Environ = func() []string {
		return []string{"HOME=" + home, "PANKA_BACKEND_TYPE=s3", "PANKA_BACKEND_BUCKET=team-state", "PANKA_BACKEND_REGION=us-east-1", "PANKA_BACKEND_ENDPOINT=" + endpoint,
			"PANKA_LOCKS_TYPE=local"}
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	code := Run(ctx, f, []string{"state", "list"})
	if code != ExitError {
		t.Errorf("exit %d, want %d", code, ExitError)
	}
	if got := errOut.String(); !strings.Contains(got, "Error: interrupted: panka state list stopped before it finished (list states in s3://team-state/: list s3://team-state/stacks/)\n") || strings.Contains(got, "context canceled") {
		t.Errorf("stderr:\n%s", got)
	}
}
