package main

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

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

	out = r.mustPanka(env, applyDev...)
	if !strings.Contains(out, "Apply of shop/dev succeeded: 0 created, 0 updated, 0 replaced, 0 deleted (serial 1") {
		t.Fatalf("re-apply did not take the resources over:\n%s", out)
	}
	if out := r.mustPanka(env, "status", "--stack", "shop", "--environment", "dev"); strings.Contains(out, "engine:") {
		t.Fatalf("status after the re-apply still notes the engine:\n%s", out)
	}
	if _, errOut, _ := r.panka(env, "plan", "--stack", "shop", "--environment", "production"); strings.Contains(errOut, "not recorded") {
		t.Fatalf("plan of an environment never deployed notes the engine:\n%s", errOut)
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
			if out := r.mustPanka(env, applyDev...); !strings.Contains(out, "Apply of shop/dev succeeded: 4 created") {
				t.Fatalf("re-apply:\n%s", out)
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
