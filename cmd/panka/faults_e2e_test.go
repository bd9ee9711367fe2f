package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/locker"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/testserver"
)

// TestFirstApplyUnrecordedStatusTellsTheTruth: the first apply of an
// environment ran the engine, and then the state server refused its
// history record (503 SlowDown on every attempt), so nothing was recorded.
// The error sent the user to panka status, which said "not deployed" and
// nothing else, and plan listed every component as a create, although the
// engine had made them all. Both now say that the engine's state holds a
// deployment that was not recorded; the next apply takes the resources
// over and records them, and the notes go away.
func TestFirstApplyUnrecordedStatusTellsTheTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	r := newE2ERepo(t, servers)
	proxy := testserver.NewFaultProxy(t, testserver.S3(t).Endpoint)
	env := []string{"PANKA_BACKEND_ENDPOINT=" + proxy.URL}

	proxy.Set(testserver.FaultRule{Method: "PUT", Path: "/stacks/shop/dev/history/", Fault: testserver.FaultStatus, Status: 503, Code: "SlowDown"})
	_, errOut, code := r.panka(env, applyDev...)
	if code != 1 || !strings.Contains(errOut, "the apply of shop/dev (serial 1, succeeded) was not recorded") ||
		!strings.Contains(errOut, "the S3 server is throttling requests: SlowDown") {
		t.Fatalf("apply with the history write refused: exit %d\n%s", code, errOut)
	}
	proxy.Set()

	note := "engine:    its state holds a deployment that was not recorded"
	out := r.mustPanka(env, "status", "--stack", "shop", "--environment", "dev")
	if !strings.Contains(out, "shop/dev: not deployed") || !strings.Contains(out, note) ||
		!strings.Contains(out, "panka apply --stack shop --environment dev deploys and records them") {
		t.Fatalf("status after the unrecorded first apply:\n%s", out)
	}
	out = r.mustPanka(env, "status", "--stack", "shop", "--environment", "dev", "-o", "json")
	if !strings.Contains(out, `"engineStateUnrecorded": true`) {
		t.Fatalf("status -o json after the unrecorded first apply:\n%s", out)
	}
	_, errOut, code = r.panka(env, "plan", "--stack", "shop", "--environment", "dev")
	if code != 0 || !strings.Contains(errOut, "Warning: nothing is recorded for shop/dev, but the engine's state holds a deployment that was not recorded") {
		t.Fatalf("plan after the unrecorded first apply: exit %d\n%s", code, errOut)
	}

	// The engine takes them over, changing none. The summary said "4
	// created" and then "the engine's own count ...: none changed": the
	// user read that this run created four things. It counts what this
	// run's engine did, and names the four, made by the run that was not
	// recorded, on the next line; the record keeps the plan's counts.
	out = r.mustPanka(env, applyDev...)
	if !strings.Contains(out, "Apply of shop/dev succeeded: 0 created, 0 updated, 0 replaced, 0 deleted (serial 1") ||
		!strings.Contains(out, "\nA run before it that was not recorded (its record could not be written, or it was killed) had made the plan's changes already: "+
			"4 created (assets, orders, shop-db, web); the engine left them as they were, and this deployment records them.\n") ||
		strings.Contains(out, "the engine's own count") {
		t.Fatalf("re-apply did not take the resources over, or does not say so:\n%s", out)
	}
	out = r.mustPanka(env, "history", "--stack", "shop", "--environment", "dev", "--limit", "1", "-o", "json")
	var recs []statestore.Deployment
	if err := json.Unmarshal([]byte(out), &recs); err != nil || len(recs) != 1 || recs[0].PlannedChanges == nil || *recs[0].PlannedChanges != (statestore.ChangeSummary{Create: 4}) {
		t.Fatalf("history -o json after the re-apply: want plannedChanges of 4 creates (%v)\n%s", err, out)
	}
	if out := r.mustPanka(env, "status", "--stack", "shop", "--environment", "dev"); strings.Contains(out, "engine:") {
		t.Fatalf("status after the re-apply still notes the engine:\n%s", out)
	}
	if _, errOut, _ := r.panka(env, "plan", "--stack", "shop", "--environment", "production"); strings.Contains(errOut, "not recorded") {
		t.Fatalf("plan of an environment never deployed notes the engine:\n%s", errOut)
	}
}

// TestReapplyAfterAnUnrecordedApplyCountsWhatItDid: an apply that
// updated web and could not write its history record (nothing recorded,
// the engine's state written), then apply again: the plan still updates
// web (the record is the deployed spec), the engine finds it done. The
// success line said "1 updated" with "the engine's own count ...: none
// changed" after it; it counts what this run's engine did and names web,
// made by the run that was not recorded, on the next line.
func TestReapplyAfterAnUnrecordedApplyCountsWhatItDid(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	r := newE2ERepo(t, servers)
	proxy := testserver.NewFaultProxy(t, testserver.S3(t).Endpoint)
	env := []string{"PANKA_BACKEND_ENDPOINT=" + proxy.URL}
	r.mustPanka(env, applyDev...)
	stackFile := filepath.Join(r.dir, "stacks", "shop", "stack.yaml")
	b, err := os.ReadFile(stackFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stackFile, []byte(strings.Replace(string(b), "hello from dev", "hello again", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r.git("commit", "-qam", "greeting")

	proxy.Set(testserver.FaultRule{Method: "PUT", Path: "/stacks/shop/dev/history/", Fault: testserver.FaultStatus, Status: 503, Code: "SlowDown"})
	if _, errOut, code := r.panka(env, applyDev...); code != 1 || !strings.Contains(errOut, "the apply of shop/dev (serial 2, succeeded) was not recorded") {
		t.Fatalf("apply with the history write refused: exit %d\n%s", code, errOut)
	}
	proxy.Set()

	out, errOut, code := r.panka(env, applyDev...)
	if code != 0 || !strings.Contains(errOut, "the engine's state of shop/dev was written after its last recorded deployment (serial 1)") ||
		!strings.Contains(out, "Apply of shop/dev succeeded: 0 created, 0 updated, 0 replaced, 0 deleted (serial 2") ||
		!strings.Contains(out, "\nA run before it that was not recorded (its record could not be written, or it was killed) had made the plan's changes already: "+
			"1 updated (web); the engine left it as it was, and this deployment records it.\n") ||
		strings.Contains(out, "the engine's own count") {
		t.Fatalf("re-apply after the unrecorded apply: exit %d\n%s\n%s", code, out, errOut)
	}
	out = r.mustPanka(env, "history", "--stack", "shop", "--environment", "dev", "--limit", "1", "-o", "json")
	var recs []statestore.Deployment
	if err := json.Unmarshal([]byte(out), &recs); err != nil || len(recs) != 1 || recs[0].PlannedChanges == nil || *recs[0].PlannedChanges != (statestore.ChangeSummary{Update: 1}) {
		t.Fatalf("history -o json after the re-apply: want plannedChanges of 1 update (%v)\n%s", err, out)
	}
}

// TestEngineStateWriteRefused: the state server throttles every write of
// the engine's own checkpoint. The apply failed with Pulumi's text around
// the SDK's ("failed to save snapshot: An IO error occurred while writing
// the new snapshot file: blob (key ...) (code=Unknown): operation error S3:
// PutObject, exceeded maximum number of attempts, 3, ..."): it now says
// which object, what the server answered and to wait and re-run; the run
// is recorded as failed, the lock released, and the re-run converges.
func TestEngineStateWriteRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	r := newE2ERepo(t, servers)
	proxy := testserver.NewFaultProxy(t, testserver.S3(t).Endpoint)
	env := []string{"PANKA_BACKEND_ENDPOINT=" + proxy.URL}

	r.mustPanka(env, applyDev...)
	stackFile := filepath.Join(r.dir, "stacks", "shop", "stack.yaml")
	b, err := os.ReadFile(stackFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stackFile, []byte(strings.Replace(string(b), "hello from dev", "hello again", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r.git("commit", "-qam", "greeting")

	proxy.Set(testserver.FaultRule{Method: "PUT", Path: "/pulumi/.pulumi/stacks/panka/shop-dev.json?x-id=PutObject", Fault: testserver.FaultStatus, Status: 503, Code: "SlowDown"})
	_, errOut, code := r.panka(env, applyDev...)
	want := "the engine's PutObject of its own state s3://" + r.bucket + "/stacks/shop/dev/pulumi/.pulumi/stacks/panka/shop-dev.json failed: " +
		"the S3 server answered SlowDown (HTTP 503), still after 3 attempts; the server is throttling or failing: wait and re-run"
	if code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("apply with the engine's state writes refused: exit %d, want 1 and %q\n%s", code, want, errOut)
	}
	proxy.Set()
	if out := r.mustPanka(env, "status", "--stack", "shop", "--environment", "dev"); !strings.Contains(out, "lock:      free") || !strings.Contains(out, "shop/dev: failed (serial 2)") {
		t.Fatalf("status after the failed apply:\n%s", out)
	}
	if out := r.mustPanka(env, applyDev...); !strings.Contains(out, "Apply of shop/dev succeeded: 0 created, 1 updated") {
		t.Fatalf("re-apply:\n%s", out)
	}
}

// TestEngineStateRequestUnanswered: the S3 server answers panka's requests
// but never one of the Pulumi CLI's own, to the engine's state under
// pulumi/ (a wedged server node behind a load balancer, a connection a
// firewall dropped without a word). The CLI sets no time limit on them,
// and panka's watch of the server saw it answer: the apply hung for ever,
// renewing its lease. The engine run is now stopped once it has made no
// progress for pulumi.stallTimeout with no resource operation in flight,
// or once a step has been in flight that long without the engine's state
// recording its start (which the engine writes before the provider
// starts), and the commands that set its stack up get the same limit; the
// error says so, the run is recorded as failed, the lock released, and
// the re-run converges.
func TestEngineStateRequestUnanswered(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	for _, tc := range []struct {
		name string
		rule testserver.FaultRule
		want string
	}{
		{"engine run", testserver.FaultRule{Method: "PUT", Path: "/pulumi/.pulumi/stacks/panka/shop-dev.json?x-id=PutObject", Nth: 3, Fault: testserver.FaultBlackhole},
			"pulumi up made no progress for 10s with no resource operation in flight"},
		// The fifth write of the checkpoint is the one that records that the
		// engine begins to create the local target's provider.
		{"step start", testserver.FaultRule{Method: "PUT", Path: "/pulumi/.pulumi/stacks/panka/shop-dev.json?x-id=PutObject", Nth: 5, Fault: testserver.FaultBlackhole},
			"pulumi up began the pankalocal provider: create 10s ago, and its own state at s3://"},
		{"stack setup", testserver.FaultRule{Path: "/pulumi/", Nth: 2, Fault: testserver.FaultBlackhole},
			"did not finish within 10s, although it only reads and writes the engine's own state at s3://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newE2ERepo(t, servers)
			proxy := testserver.NewFaultProxy(t, testserver.S3(t).Endpoint)
			env := []string{"PANKA_BACKEND_ENDPOINT=" + proxy.URL, "PANKA_PULUMI_STALL_TIMEOUT=10s"}
			proxy.Set(tc.rule)
			start := time.Now()
			_, errOut, code := r.panka(env, applyDev...)
			if code != 1 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "got no answer") {
				t.Fatalf("apply with an engine request unanswered: exit %d after %s, want 1 and %q\n%s\nrequests:\n%s", code, time.Since(start), tc.want, errOut, proxy.Log())
			}
			if proxy.Faults() != 1 {
				t.Fatalf("%d requests blackholed, want 1:\n%s", proxy.Faults(), proxy.Log())
			}
			proxy.Set()
			if out := r.mustPanka(env, "status", "--stack", "shop", "--environment", "dev"); !strings.Contains(out, "lock:      free") {
				t.Fatalf("status after the stopped apply:\n%s", out)
			}
			out, errOut, code := r.panka(env, applyDev...)
			if code != 0 || !strings.Contains(out, "Apply of shop/dev succeeded: 4 created") {
				t.Fatalf("re-apply: exit %d\n%s\n%s", code, out, errOut)
			}
			// The stopped run left a Pulumi lock: the re-apply clears it and
			// says what stopped that run (its failed record), not "was killed".
			const stopped = "an earlier run of shop/dev stopped before its engine finished (its record, serial 1, is a failed apply: panka history --stack shop --environment dev shows why); holding the lease, panka cleared "
			if tc.name != "stack setup" && (!strings.Contains(errOut, stopped) || strings.Contains(errOut, "killed")) {
				t.Errorf("re-apply does not say what stopped the earlier run (%q):\n%s", stopped, errOut)
			}
		})
	}
}

// TestApplyReleaseFailsSaysHowToUnlock: the DynamoDB server failed every
// request to release the lease of an apply that had deployed and recorded
// its run. The warning said "it stays held until it expires (...) or
// `panka unlock --force` removes it": a command without the stack and
// environment it needs (a usage error when pasted), and --force, which
// removes whoever's lease is there. It now gives the whole command, for
// this run's lease only (--lock-id), and that command unlocks once the
// server answers again.
func TestApplyReleaseFailsSaysHowToUnlock(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	r := newE2ERepo(t, servers)
	proxy := testserver.NewFaultProxy(t, testserver.DynamoDB(t))
	env := []string{"PANKA_LOCKS_ENDPOINT=" + proxy.URL}
	proxy.Set(testserver.FaultRule{Target: "DeleteItem", Fault: testserver.FaultStatus, Status: 500, Code: "InternalServerError"})
	_, errOut, code := r.panka(env, applyDev...)
	if code != 0 {
		t.Fatalf("apply whose lease could not be released: exit %d\n%s", code, errOut)
	}
	m := regexp.MustCompile("`(panka unlock --stack shop --environment dev --lock-id [0-9a-f-]{36})` removes it").FindStringSubmatch(errOut)
	if m == nil || strings.Contains(errOut, "`panka unlock --force`") {
		t.Fatalf("the release warning does not give the unlock command of this lease:\n%s", errOut)
	}
	proxy.Set()
	held := regexp.MustCompile(`(?m)^shop +dev +dev@example.com `)
	if out := r.mustPanka(env, "locks", "list"); !held.MatchString(out) {
		t.Fatalf("the lease is not left behind:\n%s", out)
	}
	out := r.mustPanka(env, strings.Fields(m[1])[1:]...)
	if !strings.Contains(out, "Unlocked shop/dev") {
		t.Fatalf("%s:\n%s", m[1], out)
	}
	if out := r.mustPanka(env, "locks", "list"); held.MatchString(out) {
		t.Fatalf("the lease is still held after %s:\n%s", m[1], out)
	}
}

// TestFirstApplyKilledStatusTellsTheTruth: the machine running the first
// apply of an environment died with creates in flight (every process
// killed at once). The engine's state held those pending creates and no
// update history yet, so status said "not deployed ... nothing" and plan
// listed every component as a create with no word of the resources the
// run may have made (on AWS, a database being created). Both now say that
// the engine's state holds what was not recorded.
func TestFirstApplyKilledStatusTellsTheTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	if runtime.GOOS != "linux" {
		t.Skip("finds the run's processes through /proc (Linux only)")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		r.killWhen(t, []string{"PANKALOCAL_DELAY=60s"}, r.creatingLocked, applyDev...)

		out := r.mustPanka(nil, "status", "--stack", "shop", "--environment", "dev")
		if !strings.Contains(out, "shop/dev: not deployed") || !strings.Contains(out, "engine:    its state holds a deployment that was not recorded") {
			t.Fatalf("status after the killed first apply:\n%s", out)
		}
		_, errOut2, code := r.panka(nil, "plan", "--stack", "shop", "--environment", "dev")
		if code != 0 || !strings.Contains(errOut2, "the engine's state holds a deployment that was not recorded") {
			t.Fatalf("plan after the killed first apply: exit %d\n%s", code, errOut2)
		}
	})
}

// TestApplyCutOffFromItsLockStopsBeforeExpiry: an apply whose host loses
// the lock server (its requests to DynamoDB go unanswered, as in a network
// partition) while the engine updates web. Its heartbeats failed until its
// lease expired and only then did it stop its engine, by which time a run
// on another host that still reaches DynamoDB could take the lock, clear
// Pulumi's lock as a dead run's and deploy beside it. The run now stops
// before its lease expires (locks.ttl 20 s here: 9 s before), and a run
// waiting for the lock takes it once it expires and deploys. When the lock
// server answers again before the stopped run exits, the run removes its
// lock item on exit (while it still carries its lock id), so runs on other
// hosts need not wait for the expiry.
func TestApplyCutOffFromItsLockStopsBeforeExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	if runtime.GOOS != "linux" {
		t.Skip("finds the run's processes through /proc (Linux only)")
	}
	r := newE2ERepo(t, servers)
	short := []string{"PANKA_LOCKS_TTL=20", "PANKA_LOCKS_HEARTBEAT=2"}
	r.mustPanka(short, applyDev...)
	stack := filepath.Join(r.dir, "stacks", "shop", "stack.yaml")
	b, err := os.ReadFile(stack)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stack, []byte(strings.Replace(string(b), "shop-web:1.0.0", "shop-web:1.1.0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r.git("commit", "-qam", "web 1.1.0")

	proxy := testserver.NewFaultProxy(t, testserver.DynamoDB(t))
	marker := runMarker()
	defer killAll(marker)
	cut := r.cmd(append([]string{"PANKA_LOCKS_ENDPOINT=" + proxy.URL, "PANKALOCAL_DELAY=10m", marker}, short...), applyDev...)
	var cutErr syncBuffer
	cut.Stderr = &cutErr
	if err := cut.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, func() bool { return strings.Contains(cutErr.String(), "web: updating") })
	proxy.Set(testserver.FaultRule{Fault: testserver.FaultBlackhole})
	time.Sleep(time.Second) // a heartbeat forwarded before the cut lands
	held, err := r.locker().Get(context.Background(), locker.Key("shop", "dev"))
	if err != nil {
		t.Fatalf("the cut-off run's lease: %v", err)
	}
	// Shortly before the run gives its lease up (9 s before it expires),
	// the lock server answers again, but for its heartbeats (so the run
	// still gives up and stops): on exit the run removes its lock item (it
	// left it to expire, and runs on other hosts waited for that).
	time.Sleep(time.Until(held.ExpiresAt.Add(-10 * time.Second)))
	proxy.Set(testserver.FaultRule{Target: "UpdateItem", Fault: testserver.FaultBlackhole})
	// From its expiry on, a run elsewhere may take the lock: by then the
	// cut-off run's Pulumi (the CLI, which writes the checkpoint, and the
	// provider, which changes resources) has ended. panka-engine and
	// panka's git reader may linger idle while panka reports.
	time.Sleep(time.Until(held.ExpiresAt))
	for pid, name := range runProcesses(marker) {
		if strings.HasPrefix(name, "pulumi") {
			t.Errorf("%s (pid %d) of the cut-off run still runs when its lease expires at %s", name, pid, held.ExpiresAt.UTC().Format(time.RFC3339))
		}
	}
	exited := make(chan error, 1)
	go func() { exited <- cut.Wait() }()
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the apply cut off from DynamoDB still runs 60 s after its lease expired:\n%s", cutErr.String())
	}
	if code := cut.ProcessState.ExitCode(); code != 1 || !strings.Contains(cutErr.String(), "before it expires") ||
		!strings.Contains(cutErr.String(), "so the run stops before another can take the lock") {
		t.Fatalf("the cut-off run: exit %d, want 1 saying it stopped before its lease expired:\n%s", code, cutErr.String())
	}
	if h, err := r.locker().Get(context.Background(), locker.Key("shop", "dev")); !errors.Is(err, locker.ErrNotFound) {
		t.Errorf("the lock after the cut-off run exited with the server answering again: %+v, %v, want it released", h, err)
	}
	if t.Failed() {
		t.Fatalf("stderr of the cut-off run:\n%s", cutErr.String())
	}

	// A run that reaches DynamoDB takes the lock.
	out, errOut, code := r.panka(short, append(applyDev, "--lock-timeout", "1m")...)
	if code != 0 || !strings.Contains(out, "Apply of shop/dev succeeded") {
		t.Fatalf("apply after the cut-off run's lease: exit %d\n%s\n%s", code, out, errOut)
	}
	hist, err := r.store().History(context.Background(), shopDev, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Result != statestore.ResultSucceeded || hist[0].Commit != r.git("rev-parse", "HEAD") {
		for _, h := range hist {
			t.Logf("#%d %s %s %s", h.Serial, h.Commit, h.Result, h.Error)
		}
		t.Fatal("history does not hold the first apply, then the apply after the cut-off run (which records nothing)")
	}
}

// TestApplyRecordsWhenTheLockServerStopsAnswering: the lock server stops
// answering (requests held, as in a network partition) while the engine
// updates web; the engine then finishes. Before recording, panka asks the
// lock server whether its lease still holds: that question took the whole
// 30 s the recording had, and the history write then failed ("context
// deadline exceeded") with the state server answering all along, so a
// deployment that succeeded was not recorded. The lease check is now
// bounded: the run warns that it could not confirm its lease, records the
// deployment (the state write is compare-and-swap) and says how to remove
// the lease it could not release.
func TestApplyRecordsWhenTheLockServerStopsAnswering(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	r := newE2ERepo(t, servers)
	proxy := testserver.NewFaultProxy(t, testserver.DynamoDB(t))
	_, errOut, done := startGatedApply(t, r, []string{"PANKA_LOCKS_ENDPOINT=" + proxy.URL}, func() {
		proxy.Set(testserver.FaultRule{Fault: testserver.FaultBlackhole})
	})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("apply whose lock server stopped answering: %v\n%s", err, errOut.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("apply whose lock server stopped answering still runs 3 min later:\n%s", errOut.String())
	}
	hist, err := r.store().History(context.Background(), shopDev, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Result != statestore.ResultSucceeded {
		t.Fatalf("history after the apply: %d records, want its succeeded deployment\n%s", len(hist), errOut.String())
	}
	for _, want := range []string{"could not confirm the lock lease before recording the deployment", "panka unlock --stack shop --environment dev --lock-id "} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut.String())
		}
	}
}

// TestApplyWritesNothingAfterItsLeaseCouldBeTaken: the lock server stops
// answering (requests held) while the engine updates web, and the state
// server is slow to take the history record (12 s, within the SDK's 15 s
// for an answer). The run's heartbeats fail, so it gives its lease
// (locks.ttl 20 s) up 9 s before it expires; the writes that record the
// deployment still had their own 30 s, not bound by the lease, and the
// history record landed after the lease had expired, when a run elsewhere
// could hold the lock. The writes are now bound by the lease: none starts
// or goes on after it is given up, the run says the deployment was not
// recorded, why, and how to recover, and no record lands, even once the
// slow write would have.
func TestApplyWritesNothingAfterItsLeaseCouldBeTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	r := newE2ERepo(t, servers)
	locks := testserver.NewFaultProxy(t, testserver.DynamoDB(t))
	state := testserver.NewFaultProxy(t, testserver.S3(t).Endpoint)
	const slow = 12 * time.Second
	state.Set(testserver.FaultRule{Method: "PUT", Path: "/stacks/shop/dev/history/", Fault: testserver.FaultDelay, Delay: slow})
	cmd, errOut, done := startGatedApply(t, r, []string{"PANKA_LOCKS_ENDPOINT=" + locks.URL, "PANKA_BACKEND_ENDPOINT=" + state.URL,
		"PANKA_LOCKS_TTL=20", "PANKA_LOCKS_HEARTBEAT=2"}, func() {
		locks.Set(testserver.FaultRule{Fault: testserver.FaultBlackhole})
	})
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("apply cut off from its lock server still runs 3 min later:\n%s", errOut.String())
	}
	// No record lands, even once the slow write would have.
	time.Sleep(slow + 5*time.Second)
	hist, err := r.store().History(context.Background(), shopDev, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 0 {
		t.Fatalf("history holds %d records written after the lease could be taken (first: serial %d, %s)\n%s", len(hist), hist[0].Serial, hist[0].Result, errOut.String())
	}
	if code := cmd.ProcessState.ExitCode(); code == 0 ||
		!strings.Contains(errOut.String(), "was not recorded") ||
		!strings.Contains(errOut.String(), "may be taken by another run from") ||
		!strings.Contains(errOut.String(), "the engine did run, so resources may have changed: see panka status --stack shop, then re-run") {
		t.Fatalf("apply whose lease could be taken while it recorded: exit %d, want an error saying the deployment was not recorded, why, and what to do:\n%s", code, errOut.String())
	}
}

// startGatedApply starts apply of shop/dev with env, its local provider
// held at a gate (PANKALOCAL_GATE) once the engine is creating; then it
// calls whileHeld, opens the gate, and returns the run, its stderr and
// its exit. The run is killed at the end of the test if still running.
func startGatedApply(t *testing.T, r *e2eRepo, env []string, whileHeld func()) (*exec.Cmd, *syncBuffer, <-chan error) {
	t.Helper()
	gate := filepath.Join(t.TempDir(), "gate")
	cmd := r.cmd(append(slices.Clip(env), "PANKALOCAL_GATE="+gate), applyDev...)
	errOut := &syncBuffer{}
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() }) //nolint:errcheck // ends a run the test gave up on
	waitFor(t, 90*time.Second, func() bool { return strings.Contains(errOut.String(), "creating") })
	whileHeld()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, errOut, done
}

// TestDriftWritesNothingAfterItsLeaseCouldBeTaken: drift detect records
// what it found in the state under its lock lease. Its lock server stops
// answering heartbeats once it took the lease (locks.ttl 20 s: given up
// 9 s before expiry), and the state server is slow to take the serial
// mark it writes first (12 s). The drift record had its own 30 s, not
// bound by the lease as apply's writes are, and landed after the lease had
// expired, when a run elsewhere could hold the lock and deploy. The record
// is now bound by the lease: nothing lands, and the run says why.
func TestDriftWritesNothingAfterItsLeaseCouldBeTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	r := newE2ERepo(t, servers)
	r.mustPanka(nil, applyDev...)
	before, _, err := r.store().Get(context.Background(), shopDev)
	if err != nil {
		t.Fatal(err)
	}
	locks := testserver.NewFaultProxy(t, testserver.DynamoDB(t))
	state := testserver.NewFaultProxy(t, testserver.S3(t).Endpoint)
	const slow = 12 * time.Second
	locks.Set(testserver.FaultRule{Target: "UpdateItem", Fault: testserver.FaultBlackhole})
	state.Set(testserver.FaultRule{Method: "PUT", Path: "/stacks/shop/dev/serial.json", Fault: testserver.FaultDelay, Delay: slow},
		testserver.FaultRule{Method: "PUT", Path: "/stacks/shop/dev/state.json", Fault: testserver.FaultDelay, Delay: slow})
	_, errOut, code := r.panka([]string{"PANKA_LOCKS_ENDPOINT=" + locks.URL, "PANKA_BACKEND_ENDPOINT=" + state.URL,
		"PANKA_LOCKS_TTL=20", "PANKA_LOCKS_HEARTBEAT=2"}, "drift", "detect", "--stack", "shop", "--environment", "dev")
	// Nothing lands, even once the slow writes would have.
	time.Sleep(slow + 5*time.Second)
	after, _, err := r.store().Get(context.Background(), shopDev)
	if err != nil {
		t.Fatal(err)
	}
	marked, err := r.store().MarkedSerial(context.Background(), shopDev)
	if err != nil {
		t.Fatal(err)
	}
	if after.Serial != before.Serial || after.LastDriftCheck != nil || marked > before.Serial {
		t.Fatalf("drift detect wrote after its lease could be taken: state serial %d (was %d), drift check %v, serial mark %d\n%s",
			after.Serial, before.Serial, after.LastDriftCheck, marked, errOut)
	}
	if code == 0 || !strings.Contains(errOut, "was not recorded") || !strings.Contains(errOut, "may be taken by another run from") {
		t.Fatalf("drift detect whose lease could be taken while it recorded: exit %d, want an error saying the check was not recorded and why:\n%s", code, errOut)
	}
}

// TestDriftRecordsNothingOverAStateWrittenWhileItRan: drift detect cannot
// reach its lock server (heartbeats and the check before recording go
// unanswered), and meanwhile another run removes its lease (panka unlock
// --force) and writes the state (state push). The drift check recorded
// what it found over that newer state (its write reads the state again
// and compare-and-swaps against that), calling drift of a deployment that
// is no longer the recorded one. It now writes only over the state it
// checked, and says what wrote the state meanwhile.
func TestDriftRecordsNothingOverAStateWrittenWhileItRan(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	r := newE2ERepo(t, servers)
	r.mustPanka(nil, applyDev...)
	pulled := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(pulled, []byte(r.mustPanka(nil, "state", "pull", "--stack", "shop", "--environment", "dev")), 0o644); err != nil {
		t.Fatal(err)
	}
	locks := testserver.NewFaultProxy(t, testserver.DynamoDB(t))
	locks.Set(testserver.FaultRule{Target: "UpdateItem", Fault: testserver.FaultBlackhole})
	cmd := r.cmd([]string{"PANKA_LOCKS_ENDPOINT=" + locks.URL, "PANKA_LOCKS_HEARTBEAT=2"}, "drift", "detect", "--stack", "shop", "--environment", "dev")
	errOut := &syncBuffer{}
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() }) //nolint:errcheck // ends a run the test gave up on
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Once drift detect holds the lease: its heartbeats, and the check
	// before it records, go unanswered for at least 10 s.
	waitFor(t, 60*time.Second, func() bool {
		_, err := r.locker().Get(context.Background(), locker.Key("shop", "dev"))
		return err == nil
	})
	r.mustPanka(nil, "unlock", "--stack", "shop", "--environment", "dev", "--force", "--yes")
	r.mustPanka(nil, "state", "push", pulled, "--stack", "shop", "--environment", "dev")
	pushed, _, err := r.store().Get(context.Background(), shopDev)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("drift detect still runs 3 min later:\n%s", errOut.String())
	}
	after, _, err := r.store().Get(context.Background(), shopDev)
	if err != nil {
		t.Fatal(err)
	}
	if after.Serial != pushed.Serial || after.LastDriftCheck != nil {
		t.Fatalf("drift detect recorded over the state pushed while it ran: serial %d (pushed %d), drift check %+v\n%s",
			after.Serial, pushed.Serial, after.LastDriftCheck, errOut.String())
	}
	want := fmt.Sprintf("the state changed while it ran (it checked serial 1; it is now at serial %d, written by state push", pushed.Serial)
	if code := cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(errOut.String(), want) {
		t.Fatalf("drift detect over a state pushed while it ran: exit %d, want an error saying %q:\n%s", code, want, errOut.String())
	}
}

// TestStateWritesCheckTheirLeaseFirst: state push and state rm write the
// state under the stack/environment's lock lease, and the state server is
// slow to answer their last read (the serial mark, 8 s). Meanwhile panka
// unlock --force removes their lease, so another run may take the lock and
// deploy. Their heartbeats notice only every locks.heartbeat (30 s), and
// they wrote the serial mark and the state anyway, under a lock they no
// longer held: an apply that took the lock would fail to record after its
// engine ran. Apply and drift detect ask the lock server before they
// record; state push and rm now do too, and write nothing.
func TestStateWritesCheckTheirLeaseFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	for _, tc := range []struct {
		name string
		args func(r *e2eRepo) []string
	}{
		{"push", func(r *e2eRepo) []string {
			pulled := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(pulled, []byte(r.mustPanka(nil, "state", "pull", "--stack", "shop", "--environment", "dev")), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"state", "push", pulled, "--stack", "shop", "--environment", "dev"}
		}},
		{"rm", func(*e2eRepo) []string {
			return []string{"state", "rm", "--stack", "shop", "--environment", "dev", "--resource", "web"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newE2ERepo(t, servers)
			r.mustPanka(nil, applyDev...)
			args := tc.args(r)
			state := testserver.NewFaultProxy(t, testserver.S3(t).Endpoint)
			state.Set(testserver.FaultRule{Method: "GET", Path: "/stacks/shop/dev/serial.json", Fault: testserver.FaultDelay, Delay: 8 * time.Second})
			cmd := r.cmd([]string{"PANKA_BACKEND_ENDPOINT=" + state.URL}, args...)
			errOut := &syncBuffer{}
			cmd.Stderr = errOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() }) //nolint:errcheck // ends a run the test gave up on
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			waitFor(t, 60*time.Second, func() bool {
				_, err := r.locker().Get(context.Background(), locker.Key("shop", "dev"))
				return err == nil
			})
			r.mustPanka(nil, "unlock", "--stack", "shop", "--environment", "dev", "--force", "--yes")
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				t.Fatalf("state %s still runs 2 min later:\n%s", tc.name, errOut.String())
			}
			after, _, err := r.store().Get(context.Background(), shopDev)
			if err != nil {
				t.Fatal(err)
			}
			marked, err := r.store().MarkedSerial(context.Background(), shopDev)
			if err != nil {
				t.Fatal(err)
			}
			if after.Serial != 1 || marked != 0 {
				t.Fatalf("state %s wrote after its lease was removed: state serial %d (was 1), serial mark %d (was none)\n%s", tc.name, after.Serial, marked, errOut.String())
			}
			want := "the state " + tc.name + " of shop/dev wrote nothing: its lock lease was lost"
			if code := cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(errOut.String(), want) ||
				!strings.Contains(errOut.String(), "panka unlock --force") || !strings.Contains(errOut.String(), "see panka status --stack shop") {
				t.Fatalf("state %s whose lease was removed before it wrote: exit %d, want an error saying %q, why and what to do:\n%s", tc.name, code, want, errOut.String())
			}
		})
	}
}
