package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/testserver"
)

// addStacks copies the quickstart stack shop into n more stacks, shop1 to
// shopN (each with its dev and production environments), in one commit.
func (r *e2eRepo) addStacks(n int) {
	r.t.Helper()
	for i := 1; i <= n; i++ {
		dst := filepath.Join(r.dir, "stacks", fmt.Sprintf("shop%d", i))
		if out, err := exec.Command("cp", "-r", filepath.Join(r.dir, "stacks", "shop"), dst).CombinedOutput(); err != nil {
			r.t.Fatalf("copy shop: %v\n%s", err, out)
		}
		stack := filepath.Join(dst, "stack.yaml")
		b, err := os.ReadFile(stack)
		if err != nil {
			r.t.Fatal(err)
		}
		b = []byte(strings.Replace(string(b), "  name: shop\n", fmt.Sprintf("  name: shop%d\n", i), 1))
		if err := os.WriteFile(stack, b, 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-qm", fmt.Sprintf("%d more shops", n))
}

// TestMatrixFanOutAppliesAtOnce: a CI matrix from `panka changed -o
// github-matrix` starts one apply per stack/environment at once, on one
// bucket and lock table. Different keys never wait for each other (every
// apply runs with no --lock-timeout), every one is recorded as serial 1
// with its own lease, and no lock is left.
func TestMatrixFanOutAppliesAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		r.addStacks(4)
		out := r.mustPanka(nil, "changed", "--base", "HEAD~1", "-o", "github-matrix")
		var matrix struct {
			Include []struct{ Stack, Environment string } `json:"include"`
		}
		if err := json.Unmarshal([]byte(out), &matrix); err != nil || len(matrix.Include) != 8 {
			t.Fatalf("changed -o github-matrix: %v\n%s", err, out)
		}
		type result struct {
			out  string
			code int
		}
		results := make([]result, len(matrix.Include))
		var wg sync.WaitGroup
		start := time.Now()
		for i, m := range matrix.Include {
			wg.Go(func() {
				o, e, c := r.panka(nil, "apply", "-s", m.Stack, "-e", m.Environment, "--auto-approve")
				results[i] = result{o + e, c}
			})
		}
		wg.Wait()
		took := time.Since(start)
		ctx := context.Background()
		leases := map[string]bool{}
		for i, m := range matrix.Include {
			if results[i].code != 0 {
				t.Errorf("apply %s/%s: exit %d\n%s", m.Stack, m.Environment, results[i].code, results[i].out)
				continue
			}
			key := statestore.Key{Stack: m.Stack, Environment: m.Environment}
			st, _, err := r.store().Get(ctx, key)
			if err != nil {
				t.Errorf("state of %s: %v", key, err)
				continue
			}
			hist, err := r.store().History(ctx, key, 0, 0)
			if err != nil || len(hist) != 1 || st.Serial != 1 || hist[0].Serial != 1 || hist[0].Result != statestore.ResultSucceeded ||
				st.LastDeployment.LockID != hist[0].LockID || len(st.Outputs) == 0 {
				t.Errorf("%s: state serial %d, %d history records (%v), outputs %d", key, st.Serial, len(hist), err, len(st.Outputs))
				continue
			}
			if leases[hist[0].LockID] {
				t.Errorf("%s ran under lease %s, as another apply did", key, hist[0].LockID)
			}
			leases[hist[0].LockID] = true
			if _, err := os.Stat(filepath.Join(r.dir, ".panka/local", m.Stack, m.Environment, "web.json")); err != nil {
				t.Errorf("%s: %v", key, err)
			}
		}
		if held, err := r.locker().List(ctx); err != nil || len(held) != 0 {
			t.Errorf("locks left after the matrix: %+v %v", held, err)
		}
		t.Logf("%d applies at once took %s", len(matrix.Include), took)
	})
}

// setWebImage commits the quickstart's web image at tag and returns the
// commit.
func (r *e2eRepo) setWebImage(tag string) string {
	r.t.Helper()
	stack := filepath.Join(r.dir, "stacks", "shop", "stack.yaml")
	b, err := os.ReadFile(stack)
	if err != nil {
		r.t.Fatal(err)
	}
	s := regexp.MustCompile(`shop-web:[^\s]+`).ReplaceAllString(string(b), "shop-web:"+tag)
	if err := os.WriteFile(stack, []byte(s), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git("commit", "-qam", "web "+tag)
	return r.git("rev-parse", "HEAD")
}

// TestHistoryWhileAnApplyRecords: panka history run while an apply records
// its deployment (history record first, then state.json) read a consistent
// story as a killed run's. With the state write slow (a throttling S3, the
// SDK's retries), history warned that the run "stopped before recording
// its state (killed ...)" while it was recording; it says the record is of
// the run holding the lease now. With the state read slow instead, the
// record written and then the state, between history's listing and its
// state read, history warned that the deployment's record was deleted out
// of band; the state is now read before the records.
func TestHistoryWhileAnApplyRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	r := newE2ERepo(t, servers)
	ctx := context.Background()
	r.mustPanka(nil, applyDev...)
	history := []string{"history", "--stack", "shop", "--environment", "dev"}

	t.Run("state write slow", func(t *testing.T) {
		r.setWebImage("2.0.0")
		proxy := testserver.NewFaultProxy(t, testserver.S3(t).Endpoint)
		proxy.Set(testserver.FaultRule{Method: "PUT", Path: "/stacks/shop/dev/state.json", Fault: testserver.FaultDelay, Delay: 10 * time.Second, Times: 1})
		apply := r.cmd([]string{"PANKA_BACKEND_ENDPOINT=" + proxy.URL}, applyDev...)
		var out syncBuffer
		apply.Stdout, apply.Stderr = &out, &out
		if err := apply.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := apply.Wait(); err != nil {
				t.Errorf("apply: %v\n%s", err, out.String())
			}
		}()
		waitFor(t, 90*time.Second, func() bool {
			h, err := r.store().History(ctx, shopDev, 0, 1)
			return err == nil && len(h) == 1 && h[0].Serial == 2
		})
		stdout, stderr, code := r.panka(nil, history...)
		if st, _, err := r.store().Get(ctx, shopDev); err != nil || st.Serial != 1 {
			t.Fatalf("the state was written before history was read (serial %d, %v): the test proves nothing", st.Serial, err)
		}
		if code != 0 || !strings.Contains(stdout, "\n2 ") || strings.Contains(stderr, "Warning") ||
			!regexp.MustCompile(`Note: record 2 of shop/dev is of the apply running now \(locked by dev@example.com on .* \(pid \d+\), apply of commit [0-9a-f]{12}, .*\): it has written its history record and is recording its state \(serial 1 until it has\)`).MatchString(stderr) {
			t.Errorf("history while the apply records its state: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})

	t.Run("state read slow", func(t *testing.T) {
		r.setWebImage("3.0.0")
		gate := filepath.Join(t.TempDir(), "gate")
		apply := r.cmd([]string{"PANKALOCAL_GATE=" + gate}, applyDev...)
		var out syncBuffer
		apply.Stdout, apply.Stderr = &out, &out
		if err := apply.Start(); err != nil {
			t.Fatal(err)
		}
		applied := make(chan error, 1)
		go func() { applied <- apply.Wait() }()
		waitFor(t, 90*time.Second, func() bool { return strings.Contains(out.String(), "updating") })

		// history's read of state.json waits at the proxy while the
		// apply goes on and records serial 3.
		proxy := testserver.NewFaultProxy(t, testserver.S3(t).Endpoint)
		proxy.Set(testserver.FaultRule{Method: "GET", Path: "/stacks/shop/dev/state.json", Fault: testserver.FaultDelay, Delay: 10 * time.Second, Times: 1})
		hist := r.cmd([]string{"PANKA_BACKEND_ENDPOINT=" + proxy.URL}, history...)
		var stdout, stderr syncBuffer
		hist.Stdout, hist.Stderr = &stdout, &stderr
		if err := hist.Start(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := <-applied; err != nil {
			t.Fatalf("apply: %v\n%s", err, out.String())
		}
		if err := hist.Wait(); err != nil || strings.Contains(stderr.String(), "Warning") {
			t.Errorf("history while the apply recorded: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
	})

	// Recorded: nothing to say.
	if _, stderr, code := r.panka(nil, history...); code != 0 || stderr != "" {
		t.Errorf("history after the applies: exit %d\n%s", code, stderr)
	}
}

// TestOutputsWhileDeploying: panka outputs read while an apply deploys
// (a CI step wiring outputs into the next job while the deploy job runs)
// printed the previous deployment's outputs without a word, and during the
// first apply said the environment was never deployed and to run panka
// apply, a second deployment. It says the environment is being deployed,
// whose outputs these are, and to read them again once the run finished;
// a rollback asked for meanwhile says what is going on and how to stop it.
func TestOutputsWhileDeploying(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	r := newE2ERepo(t, embedded)
	outputs := []string{"outputs", "--stack", "shop", "--environment", "dev"}
	gated := func(gate string) (wait func()) {
		apply := r.cmd([]string{"PANKALOCAL_GATE=" + gate}, applyDev...)
		var out syncBuffer
		apply.Stdout, apply.Stderr = &out, &out
		if err := apply.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 90*time.Second, func() bool {
			return strings.Contains(out.String(), "creating") || strings.Contains(out.String(), "updating")
		})
		return func() {
			if err := os.WriteFile(gate, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := apply.Wait(); err != nil {
				t.Fatalf("apply: %v\n%s", err, out.String())
			}
		}
	}

	done := gated(filepath.Join(t.TempDir(), "gate"))
	_, stderr, code := r.panka(nil, outputs...)
	if code != 1 || !regexp.MustCompile(`Error: shop/dev has no state yet in .*: its first deployment is running now \(locked by dev@example.com on .* \(pid \d+\), apply of commit [0-9a-f]{12}, .*\); run this again once that run has finished`).MatchString(stderr) ||
		strings.Contains(stderr, "run panka apply") {
		t.Errorf("outputs during the first apply: exit %d\n%s", code, stderr)
	}
	// A rollback asked for meanwhile said "never deployed ... deploy it
	// with panka apply" too.
	_, stderr, code = r.panka(nil, "rollback", "--stack", "shop", "--environment", "dev", "--to-previous", "--auto-approve")
	if code != 1 || !strings.Contains(stderr, "its first deployment is running now (locked by dev@example.com") ||
		!strings.Contains(stderr, "so there is nothing to roll back to; to stop that run, interrupt it") {
		t.Errorf("rollback during the first apply: exit %d\n%s", code, stderr)
	}
	done()

	r.setWebImage("2.0.0")
	done = gated(filepath.Join(t.TempDir(), "gate"))
	stdout, stderr, code := r.panka(nil, outputs...)
	if code != 0 || !strings.Contains(stdout, "web.url") ||
		!regexp.MustCompile(`Note: shop/dev is being deployed now \(locked by dev@example.com on .*, apply of commit [0-9a-f]{12}, .*\): these are the outputs of deployment 1, which that run replaces when it records; read them again once it has finished`).MatchString(stderr) {
		t.Errorf("outputs during the second apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// The deployment going on is the one to undo: it has not recorded,
	// so "nothing to roll back to" is true only until it has.
	_, stderr, code = r.panka(nil, "rollback", "--stack", "shop", "--environment", "dev", "--to-previous", "--auto-approve")
	if code != 1 || !strings.Contains(stderr, "shop/dev is being deployed now (locked by dev@example.com") ||
		!strings.Contains(stderr, "once it has recorded, rollback --to-previous goes back to serial 1") {
		t.Errorf("rollback during the second apply: exit %d\n%s", code, stderr)
	}
	done()
	if _, stderr, code := r.panka([]string{"CI="}, outputs...); code != 0 || stderr != "" {
		t.Errorf("outputs after the applies: exit %d\n%s", code, stderr)
	}
}

// TestChangedSinceDeployedWhileDeploying: changed --since-deployed run
// while a pipeline deploys shop/dev listed it changed (the state still
// holds the commit deployed before) and said nothing of the run, so a
// second pipeline planned and queued the same deployment. It now names
// the run, in -o json's "deploying" and on stderr, from one listing of
// the locks (the local lock folder, a Scan of the DynamoDB table; S3 lock
// objects: those of the stack/environments listed); once the run has
// recorded, nothing is listed and "deploying" is empty.
func TestChangedSinceDeployedWhileDeploying(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	type deploying struct {
		Stack, Environment, LockedBy string
		Metadata                     struct{ Operation, Commit string }
	}
	type result struct {
		Stacks []struct {
			Stack        string
			Environments []string
		}
		Deploying *[]deploying
	}
	check := func(t *testing.T, r *e2eRepo, env []string, head string) {
		r.mustPanka(env, applyDev...)
		head = r.setWebImage(head)
		gate := filepath.Join(t.TempDir(), "gate")
		apply := r.cmd(append([]string{"PANKALOCAL_GATE=" + gate}, env...), applyDev...)
		var out syncBuffer
		apply.Stdout, apply.Stderr = &out, &out
		if err := apply.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if apply.ProcessState == nil { // the test failed before Wait
				_ = apply.Process.Kill()
				_ = apply.Wait()
			}
		}()
		waitFor(t, 90*time.Second, func() bool { return strings.Contains(out.String(), "updating") })
		changed := func() (result, string) {
			t.Helper()
			stdout, stderr, code := r.panka(env, "changed", "--since-deployed", "--environment", "dev", "-o", "json")
			var res result
			if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil {
				t.Fatalf("changed: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
			}
			return res, stderr
		}
		res, stderr := changed()
		if len(res.Stacks) != 1 || res.Stacks[0].Stack != "shop" || fmt.Sprint(res.Stacks[0].Environments) != "[dev]" {
			t.Errorf("changed while deploying: %+v", res.Stacks)
		}
		if res.Deploying == nil || len(*res.Deploying) != 1 {
			t.Fatalf("deploying while deploying: %+v\n%s", res.Deploying, stderr)
		}
		if d := (*res.Deploying)[0]; d.Stack != "shop" || d.Environment != "dev" || d.LockedBy != "dev@example.com" || d.Metadata.Operation != "apply" || d.Metadata.Commit != head {
			t.Errorf("deploying: %+v, want shop/dev, apply of %s by dev@example.com", d, head)
		}
		if !regexp.MustCompile(`shop/dev is locked by dev@example.com on .* \(pid \d+\), operation apply, commit ` + head[:12] + `, since .*: a deployment is in progress there`).MatchString(stderr) {
			t.Errorf("changed while deploying, stderr:\n%s", stderr)
		}
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := apply.Wait(); err != nil {
			t.Fatalf("apply: %v\n%s", err, out.String())
		}
		res, stderr = changed()
		if len(res.Stacks) != 0 || res.Deploying == nil || len(*res.Deploying) != 0 || strings.Contains(stderr, "in progress") {
			t.Errorf("changed after the apply: %+v, deploying %v\n%s", res.Stacks, res.Deploying, stderr)
		}
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		check(t, r, nil, "2.0.0")
		if b == servers {
			// Locks as S3 objects next to the state (the default with an
			// s3 backend and no lock table).
			check(t, r, []string{"PANKA_LOCKS_TYPE=s3"}, "3.0.0")
		}
	})
}
