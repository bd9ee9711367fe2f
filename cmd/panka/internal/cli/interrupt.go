package cli

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/rs/zerolog"

	"panka.dev/panka/deployer/engine"
)

// interruptNotes is what the signal handler (interruptContext) needs to
// tell the user what a Ctrl-C does. It is read on the handler's goroutine
// while the command runs, hence its own lock.
type interruptNotes struct {
	mu sync.Mutex
	// run is the deployment in progress, nil when none is.
	run *runningDeployment
	// jsonLog and fileLog are the Factory's, once set up.
	jsonLog, fileLog *zerolog.Logger
	// quiet is -q: only errors on stderr, which the first signal's note
	// is not (the second's, which ends panka, is).
	quiet bool
	// signalled is set by the first signal: a deployment whose engine
	// had not started then (its note said nothing would be changed or
	// recorded) does not start it (startingDeployment).
	signalled bool
}

// runningDeployment is a deployment that holds its lease and runs (or is
// about to run) the engine.
type runningDeployment struct {
	operation, stack, env string
	// recording is set once the engine run is over and the deployment is
	// being recorded (history, then state): a Ctrl-C then waits seconds,
	// not for the engine, and the run is recorded as it ended.
	recording bool
	// started is set once the run goes on to be recorded (its engine
	// started): before, a Ctrl-C stops it with nothing changed or
	// recorded.
	started bool
}

// setInterruptLogs gives the signal handler the logs setupLogging made.
func (f *Factory) setInterruptLogs() {
	f.intr.mu.Lock()
	defer f.intr.mu.Unlock()
	f.intr.jsonLog, f.intr.fileLog, f.intr.quiet = f.jsonLog, f.fileLog, f.Flags.Quiet
}

// deploying records that operation runs on stack/env under its lease (nil:
// no deployment runs, e.g. at the confirmation prompt, where Ctrl-C ends
// the run at once), for what a Ctrl-C says. It returns the function that
// puts back what was recorded before.
func (f *Factory) deploying(run *runningDeployment) func() {
	f.intr.mu.Lock()
	defer f.intr.mu.Unlock()
	prev := f.intr.run
	f.intr.run = run
	return func() {
		f.intr.mu.Lock()
		defer f.intr.mu.Unlock()
		f.intr.run = prev
	}
}

// startingDeployment notes that the deployment in progress goes on to
// be recorded, its engine started (deploy.Runtime.OnStart). After a stop
// signal, whose note said the run stops with nothing changed or recorded
// while it had not, it fails instead: the run stops there.
func (f *Factory) startingDeployment() error {
	f.intr.mu.Lock()
	defer f.intr.mu.Unlock()
	if f.intr.signalled {
		return errors.New("interrupted before the engine started")
	}
	if f.intr.run != nil {
		run := *f.intr.run
		run.started = true
		f.intr.run = &run
	}
	return nil
}

// recordingDeployment notes that the deployment in progress has finished
// running and is being recorded (runningDeployment.recording).
func (f *Factory) recordingDeployment() {
	f.intr.mu.Lock()
	defer f.intr.mu.Unlock()
	if f.intr.run != nil {
		run := *f.intr.run
		run.recording = true
		f.intr.run = &run
	}
}

// interrupted tells the user at once what signal s does: the first stops
// the command cleanly, which during a deployment waits for the engine to
// finish the step in progress (minutes on AWS; longer while a state server
// hangs), so it says so and how to stop at once; the second (second) ends
// panka, and it says what that leaves behind and how to go on.
func (f *Factory) interrupted(s os.Signal, second bool) {
	f.intr.mu.Lock()
	run, jsonLog, fileLog, quiet := f.intr.run, f.intr.jsonLog, f.intr.fileLog, f.intr.quiet
	f.intr.signalled = true
	f.intr.mu.Unlock()
	name := sigName(s)
	// Where this process can be proved ended later (engine.Self), the
	// next operation on this host takes its lease over (liveHolderGuard).
	takeover := ""
	if _, ok := engine.Self(); ok {
		takeover = " (the next operation on this host takes it over)"
	}
	var msg string
	switch {
	case !second && run == nil:
		msg = fmt.Sprintf("%s: stopping; a second %s stops panka at once.", name, name)
	case !second && !run.started:
		msg = fmt.Sprintf("%s: stopping the %s of %s/%s before its engine starts: nothing is changed or recorded, and the lock is released.", name, run.operation, run.stack, run.env)
	case !second && run.recording:
		msg = fmt.Sprintf("%s: the %s of %s/%s has finished running; panka is recording how it ended (history, then state) and then releases the lock, "+
			"which takes seconds. A second %s stops panka at once, which may leave the run unrecorded and the lock behind.", name, run.operation, run.stack, run.env, name)
	case !second:
		msg = fmt.Sprintf("%s: stopping the %s of %s/%s cleanly: waiting for the engine to finish the step in progress (it is killed if it has not stopped within %s), "+
			"then the run is recorded as interrupted and the lock released. "+
			"A second %s stops panka at once, leaving the lock and Pulumi's lock behind as a killed run does.", name, run.operation, run.stack, run.env, humanDuration(engine.DefaultStopGrace), name)
	case run == nil:
		msg = fmt.Sprintf("Second %s: panka stops now, without waiting for the run to end cleanly. "+
			"What it held stays behind as after a killed run: panka status shows its lease, panka unlock removes it%s, "+
			"and the next apply clears Pulumi's lock and pending operations.", name, takeover)
	default:
		// A destroy is finished by the next destroy; the others by an
		// apply (or running the rollback/promote again), which plan shows.
		next := fmt.Sprintf("then panka plan --stack %s --environment %s shows what is left to do, and the next apply clears Pulumi's lock and pending operations and finishes it",
			run.stack, run.env)
		if run.operation == "destroy" {
			next = fmt.Sprintf("then panka destroy --stack %s --environment %s clears Pulumi's lock and pending operations and finishes it", run.stack, run.env)
		}
		msg = fmt.Sprintf("Second %s: panka stops now, without waiting for the %s of %s/%s to end cleanly: the run is not recorded, and resources it was changing may be left half-done. "+
			"Its lease stays behind as after a killed run: panka unlock --stack %s --environment %s removes it%s; %s.",
			name, run.operation, run.stack, run.env, run.stack, run.env, takeover, next)
	}
	if fileLog != nil {
		fileLog.Warn().Str("signal", name).Msg(msg)
	}
	if quiet && !second {
		return
	}
	if jsonLog != nil {
		jsonLog.Warn().Str("signal", name).Msg(msg)
		return
	}
	// On a terminal the echoed ^C ends no line.
	fmt.Fprintf(f.IO.ErrOut, "\n%s\n", msg)
}
