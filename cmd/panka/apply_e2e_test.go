package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/deployer/engine/enginetest"
	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/locker"
	ddblock "panka.dev/panka/locker/dynamodb"
	llocal "panka.dev/panka/locker/local"
	"panka.dev/panka/statestore"
	slocal "panka.dev/panka/statestore/local"
	s3store "panka.dev/panka/statestore/s3"
	"panka.dev/panka/statestore/testserver"
)

// e2eRepo is a git repository with the quickstart stack, driven through
// the real panka binary, panka-engine, provider and Pulumi CLI.
type e2eRepo struct {
	t      *testing.T
	dir    string
	bin    string
	env    []string
	bucket string // the test server's bucket; empty on the embedded default
	table  string // the test server's lock table; empty on the embedded default
	store  func() statestore.Store
	locker func() locker.Locker
}

// backend is where an e2e repository keeps state and locks.
type backend string

const (
	embedded backend = "embedded" // .panka/ (state and locks local)
	servers  backend = "servers"  // state in versitygw, locks in dynalite
)

// forEachBackend runs an end-to-end test on the embedded default and,
// when the test servers run (make test), on versitygw + dynalite.
func forEachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	t.Run(string(embedded), func(t *testing.T) { test(t, embedded) })
	t.Run(string(servers), func(t *testing.T) {
		if os.Getenv("PANKA_TEST_S3_ENDPOINT") == "" && os.Getenv("CI") == "" {
			t.Skip("test servers not running (make test starts them)")
		}
		test(t, servers)
	})
}

func newE2ERepo(t *testing.T, b backend) *e2eRepo {
	t.Helper()
	bin, pulumiDir, err := enginetest.Tools()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("deployment tools are required in CI: %v", err)
		}
		t.Skipf("needs the Pulumi CLI (make tools): %v", err)
	}
	dir := t.TempDir()
	r := &e2eRepo{t: t, dir: dir, bin: filepath.Join(bin, "panka")}
	r.env = append(os.Environ(),
		"PATH="+bin+string(os.PathListSeparator)+pulumiDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+filepath.Join(dir, ".home"), "PULUMI_HOME="+filepath.Join(t.TempDir(), "pulumi"),
		"PULUMI_CONFIG_PASSPHRASE=e2e", "PULUMI_SKIP_UPDATE_CHECK=true", "NO_COLOR=1",
		// A run the test kills (or stops with a second Ctrl-C) cannot
		// remove its temporary Pulumi workspace: it goes with the test's
		// folders, not into the machine's /tmp.
		"TMPDIR="+t.TempDir())
	if b == servers {
		r.useServers()
	} else {
		r.env = append(r.env, "PANKA_BACKEND_TYPE=local", "PANKA_LOCKS_TYPE=local")
		r.store = func() statestore.Store {
			s, err := slocal.New(slocal.Options{Dir: filepath.Join(dir, ".panka")})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		r.locker = func() locker.Locker {
			l, err := llocal.New(llocal.Options{Dir: filepath.Join(dir, ".panka")})
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
	}
	qs, _ := filepath.Abs("../../testdata/quickstart/stacks")
	r.git("init", "-q", "-b", "main")
	r.git("config", "user.email", "dev@example.com")
	r.git("config", "user.name", "Dev")
	if out, err := exec.Command("cp", "-r", qs, filepath.Join(dir, "stacks")).CombinedOutput(); err != nil {
		t.Fatalf("copy quickstart: %v\n%s", err, out)
	}
	r.git("add", "-A")
	r.git("commit", "-qm", "shop")
	return r
}

func (r *e2eRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = gittest.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *e2eRepo) cmd(extraEnv []string, args ...string) *exec.Cmd {
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = r.dir
	cmd.Env = append(append([]string{}, r.env...), extraEnv...)
	return cmd
}

// panka runs the binary and returns stdout, stderr and the exit code.
func (r *e2eRepo) panka(extraEnv []string, args ...string) (string, string, int) {
	r.t.Helper()
	cmd := r.cmd(extraEnv, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("run panka: %v", err)
	}
	return out.String(), errOut.String(), code
}

func (r *e2eRepo) mustPanka(extraEnv []string, args ...string) string {
	r.t.Helper()
	out, errOut, code := r.panka(extraEnv, args...)
	if code != 0 {
		r.t.Fatalf("panka %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

// useServers points the repository at a fresh bucket in versitygw (state,
// Pulumi's DIY backend) and a fresh table in dynalite (locks). It sets
// backend.endpoint and not backend.usePathStyle, as a team with an
// S3-compatible server would: the endpoint implies path-style addressing,
// for panka's client and Pulumi's backend alike.
func (r *e2eRepo) useServers() {
	t := r.t
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	r.bucket = bucket
	table := testserver.UniqueName("locks")
	r.table = table
	ddb := testserver.DynamoDBClient(t)
	if err := ddblock.CreateTable(context.Background(), ddb, table); err != nil {
		t.Fatal(err)
	}
	r.env = append(r.env,
		"PANKA_BACKEND_TYPE=s3", "PANKA_BACKEND_BUCKET="+bucket, "PANKA_BACKEND_REGION="+srv.Region,
		"PANKA_BACKEND_ENDPOINT="+srv.Endpoint,
		"PANKA_LOCKS_TYPE=dynamodb", "PANKA_LOCKS_TABLE="+table, "PANKA_LOCKS_ENDPOINT="+testserver.DynamoDB(t),
		"AWS_ACCESS_KEY_ID="+srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+srv.SecretKey, "AWS_REGION="+srv.Region)
	r.store = func() statestore.Store {
		s, err := s3store.New(testserver.S3Client(t), s3store.Options{Bucket: bucket})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	r.locker = func() locker.Locker {
		l, err := ddblock.New(ddblock.Options{Client: ddb, Table: table})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
}

var shopDev = statestore.Key{Stack: "shop", Environment: "dev"}

var applyDev = []string{"apply", "--stack", "shop", "--environment", "dev", "--auto-approve"}

func TestApplyLockedThenWaits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		ctx := context.Background()
		lease, err := locker.Acquire(ctx, r.locker(), locker.Info{Key: locker.Key("shop", "dev"), LockedBy: "someone@example.com",
			Metadata: locker.Metadata{Hostname: "ci-runner-7", PID: 4242, Operation: "apply"}}, locker.LeaseOptions{TTL: time.Minute, Heartbeat: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, errOut, code := r.panka(nil, applyDev...)
		if code != 3 || !strings.Contains(errOut, "someone@example.com") || !strings.Contains(errOut, "ci-runner-7") {
			t.Fatalf("apply while locked: exit %d, stderr:\n%s", code, errOut)
		}
		if _, err := os.Stat(filepath.Join(r.dir, ".panka/local/shop/dev/web.json")); err == nil {
			t.Fatal("apply changed something without the lock")
		}
		// The lease is released once the apply says it waits for it (a
		// release after a fixed 2 s made the test depend on panka getting
		// to the lock within 2 s).
		waiting := r.cmd(nil, append(applyDev, "--lock-timeout", "2m")...)
		var wout, werr syncBuffer
		waiting.Stdout, waiting.Stderr = &wout, &werr
		if err := waiting.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if waiting.ProcessState == nil { // the test failed before Wait
				_ = waiting.Process.Kill()
				_ = waiting.Wait()
			}
		}()
		waitFor(t, 60*time.Second, func() bool { return strings.Contains(werr.String(), "Waiting for the lock") })
		if err := lease.Release(ctx); err != nil {
			t.Fatal(err)
		}
		err = waiting.Wait()
		if code := waiting.ProcessState.ExitCode(); err != nil || code != 0 || !strings.Contains(wout.String(), "4 created") {
			t.Fatalf("apply --lock-timeout: %v (exit %d)\nstdout:\n%s\nstderr:\n%s", err, code, wout.String(), werr.String())
		}
	})
}

func TestApplyProviderErrorThenRecovers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		out, errOut, code := r.panka([]string{"PANKALOCAL_FAIL_COMPONENT=web"}, applyDev...)
		if code != 1 || !strings.Contains(errOut, "injected failure") {
			t.Fatalf("apply with a failing provider: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		st, _, err := r.store().Get(context.Background(), shopDev)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != statestore.StatusFailed || st.LastDeployment.Result != statestore.ResultFailed {
			t.Fatalf("state after a provider error: status %s, result %s", st.Status, st.LastDeployment.Result)
		}
		if held, err := r.locker().List(context.Background()); err != nil || len(held) != 0 {
			t.Fatalf("lease not released after the failure: %v %v", held, err)
		}
		out = r.mustPanka(nil, applyDev...)
		if !strings.Contains(out, "succeeded") {
			t.Fatalf("recovery apply:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(r.dir, ".panka/local/shop/dev/web.json")); err != nil {
			t.Fatalf("web manifest after recovery: %v", err)
		}
	})
}

func TestApplyInterrupted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		cmd := r.cmd([]string{"PANKALOCAL_DELAY=20s"}, applyDev...)
		var out, errOut syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 90*time.Second, func() bool { return strings.Contains(errOut.String(), "creating") })
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if err == nil {
			t.Fatalf("interrupted apply exited 0\nstdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
		}
		st, _, gerr := r.store().Get(context.Background(), shopDev)
		if gerr != nil {
			t.Fatalf("no state after Ctrl-C: %v\nstderr:\n%s", gerr, errOut.String())
		}
		if st.LastDeployment.Result != statestore.ResultInterrupted {
			t.Errorf("interrupted apply recorded as %q", st.LastDeployment.Result)
		}
		// Said in words, not as Go's "context canceled" or Pulumi's exit status.
		for _, msg := range []string{errOut.String(), st.LastDeployment.Error} {
			if !strings.Contains(msg, `pulumi up on stack "shop-dev" interrupted`) || strings.Contains(msg, "context canceled") || strings.Contains(msg, "exit status") {
				t.Errorf("interrupted apply reported as:\n%s", msg)
			}
		}
		if held, _ := r.locker().List(context.Background()); len(held) != 0 {
			t.Errorf("lease not released after Ctrl-C: %+v", held)
		}
		r.mustPanka(nil, applyDev...)
	})
}

func TestApplyKilledThenRecoversAfterExpiry(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the run's processes through /proc (Linux only)")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		short := []string{"PANKA_LOCKS_TTL=8", "PANKA_LOCKS_HEARTBEAT=2"}
		// Killed as a machine dies: Pulumi's lock and pending operations
		// stay. Killing panka alone makes panka-engine cancel Pulumi
		// cleanly (TestApplyLeavesNoProcessBehind).
		r.killWhen(t, append([]string{"PANKALOCAL_DELAY=30s"}, short...), r.creatingLocked, applyDev...)

		// A lease that does not prove which process took it (written by
		// an older panka, pid only) is not taken over before it expires:
		// its pid may have been reused. Put back as such a lease.
		ctx := context.Background()
		key := locker.Key("shop", "dev")
		h, err := r.locker().Get(ctx, key)
		if err != nil {
			t.Fatalf("the killed run's lease: %v", err)
		}
		if err := r.locker().ForceRelease(ctx, key); err != nil {
			t.Fatal(err)
		}
		h.Metadata.BootID, h.Metadata.PIDNamespace, h.Metadata.ProcessStart = "", "", 0
		h, err = r.locker().TryAcquire(ctx, h, 8*time.Second)
		if err != nil {
			t.Fatal(err)
		}

		// The lease is still there until it expires: apply refuses at once.
		if _, errOut, code := r.panka(short, applyDev...); code != 3 || !strings.Contains(errOut, "It is not taken over before it expires") {
			t.Fatalf("apply right after SIGKILL over a pid-only lease: exit %d, want 3 (lease held) saying why it is not taken over\n%s", code, errOut)
		}
		out, errOut2, code := r.panka(short, append(applyDev, "--lock-timeout", "1m")...)
		if code != 0 {
			t.Fatalf("apply after the lease expired: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut2)
		}
		if !strings.Contains(errOut2, "an earlier run of shop/dev stopped before its engine finished without a record of it (killed, or cut off from its state backend)") {
			t.Errorf("the recovery of the killed run is not reported:\n%s", errOut2)
		}
		// As a run killed on another machine: its record keeps whose
		// expired lease it took, and what of its engine's run it cleared.
		st, _, err := r.store().Get(ctx, shopDev)
		if err != nil || st.LastDeployment == nil || st.LastDeployment.Recovered == nil {
			t.Fatalf("the record of the apply after the expiry has no recovered: %+v, %v", st, err)
		}
		rec := st.LastDeployment.Recovered
		if l := rec.Lease; l == nil || !l.Expired || l.LockID != h.ID || l.PID != h.Metadata.PID || l.User != h.LockedBy {
			t.Errorf("recovered.lease = %#v, want the killed run's expired lease %+v", rec.Lease, h)
		}
		if len(rec.PendingOperations) == 0 {
			t.Errorf("recovered does not list the killed run's pending operations: %+v", rec)
		}
		if out := r.mustPanka(nil, "history", "--stack", "shop", "--environment", "dev"); !strings.Contains(out, "took over the expired lease of "+h.LockedBy) {
			t.Errorf("history does not say whose expired lease the apply took over:\n%s", out)
		}
	})
}

// TestApplyKilledIsTakenOver: the lease of an apply killed on this machine
// (SIGKILL to it and every child while its engine creates) is taken over by
// the next apply at once, without panka unlock or waiting for locks.ttl
// (1 h by default): the lease proves which process took it, and that
// process is gone. The apply says whose lease it took over, clears what
// the killed engine left in Pulumi's state and deploys.
func TestApplyKilledIsTakenOver(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the run's processes through /proc (Linux only)")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		r.killWhen(t, []string{"PANKALOCAL_DELAY=30s"}, r.creatingLocked, applyDev...)
		ctx := context.Background()
		h, err := r.locker().Get(ctx, locker.Key("shop", "dev"))
		if err != nil {
			t.Fatalf("the killed run's lease: %v", err)
		}
		if h.Expired(time.Now()) {
			t.Fatalf("the killed run's lease already expired: %+v", h)
		}
		out := r.mustPanka(nil, "status", "--stack", "shop", "--environment", "dev")
		if want := fmt.Sprintf("(stale: pid %d no longer runs on this host; the next operation on this host takes it over, or panka unlock --stack shop --environment dev removes it)", h.Metadata.PID); !strings.Contains(out, want) {
			t.Errorf("status of the killed run's lease does not say %q:\n%s", want, out)
		}

		out, errOut, code := r.panka(nil, applyDev...)
		if code != 0 {
			t.Fatalf("apply after SIGKILL: exit %d, want the killed run's lease taken over\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		want := fmt.Sprintf("Warning: took over the lock on shop/dev from %s on %s (pid %d), apply of commit %s, since ",
			h.LockedBy, h.Metadata.Hostname, h.Metadata.PID, h.Metadata.Commit[:12])
		if !strings.Contains(errOut, want) || !strings.Contains(errOut, fmt.Sprintf("process %d no longer runs on this host (killed, or it crashed)", h.Metadata.PID)) {
			t.Errorf("apply does not say whose lease it took over (%q):\n%s", want, errOut)
		}
		if !strings.Contains(errOut, "an earlier run of shop/dev stopped before its engine finished without a record of it (killed, or cut off from its state backend)") {
			t.Errorf("the recovery of the killed run is not reported:\n%s", errOut)
		}
		st, _, err := r.store().Get(ctx, shopDev)
		if err != nil || st.LastDeployment.Result != statestore.ResultSucceeded {
			t.Fatalf("state after the apply that took over: %+v, %v", st, err)
		}
		if st.LastDeployment.LockID == h.ID {
			t.Errorf("the apply recorded the killed run's lock id %s", h.ID)
		}
		// The killed run left no record: the one of the run that took over
		// says what it recovered, in history and status (stderr's notice
		// is gone once the run ends).
		checkRecoveredKilled(t, r, st.LastDeployment, h)
		if held, _ := r.locker().List(ctx); len(held) != 0 {
			t.Errorf("lease not released after the apply: %+v", held)
		}
	})
}

func TestConcurrentAppliesNeverInterleave(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		outs := make([]string, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o, e, c := r.panka([]string{"PANKALOCAL_DELAY=1s"}, append(applyDev, "--lock-timeout", "3m")...)
				codes[i], outs[i] = c, o+e
			}()
		}
		wg.Wait()
		for i, c := range codes {
			if c != 0 {
				t.Fatalf("apply %d: exit %d\n%s", i, c, outs[i])
			}
		}
		hist, err := r.store().History(context.Background(), shopDev, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 {
			t.Fatalf("history has %d records, want 2", len(hist))
		}
		older, newer := hist[1], hist[0]
		if older.Serial != 1 || newer.Serial != 2 || newer.StartedAt.Before(older.EndedAt) {
			t.Errorf("deployments interleaved: #%d %s–%s and #%d %s–%s", older.Serial, older.StartedAt, older.EndedAt, newer.Serial, newer.StartedAt, newer.EndedAt)
		}
		if older.LockID == newer.LockID {
			t.Errorf("both deployments ran under lease %s", older.LockID)
		}
		changes, _ := json.Marshal(newer.Changes)
		if !strings.Contains(string(changes), `"create":0`) {
			t.Errorf("the second apply should have found nothing to create: %s", changes)
		}
	})
}

// TestApplyForceUnlockedRecordsNothing: an apply whose lease is
// force-unlocked and taken by another run while its engine works must not
// write state or history when it ends (the new holder owns them), even
// though its next heartbeat is far away; it says nothing was recorded,
// and who holds the lock now.
func TestApplyForceUnlockedRecordsNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		cmd := r.cmd([]string{"PANKALOCAL_DELAY=4s"}, applyDev...)
		var out, errOut syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 90*time.Second, func() bool { return strings.Contains(errOut.String(), "creating") })
		r.mustPanka(nil, "unlock", "--stack", "shop", "--environment", "dev", "--force", "--yes")
		ctx := context.Background()
		lease, err := locker.Acquire(ctx, r.locker(), locker.Info{Key: locker.Key("shop", "dev"), LockedBy: "other@example.com"},
			locker.LeaseOptions{TTL: time.Minute, Heartbeat: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer lease.Release(ctx)
		err = cmd.Wait()
		// It names the run that holds the lock now, on the error's first line.
		if err == nil || !strings.Contains(errOut.String(), "nothing was recorded") ||
			!strings.Contains(errOut.String(), "Error: the apply of shop/dev was not recorded: its lock lease was lost (") ||
			!strings.Contains(errOut.String(), "it is now held by other@example.com") {
			t.Fatalf("force-unlocked apply: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
		}
		if _, _, err := r.store().Get(ctx, shopDev); !errors.Is(err, statestore.ErrNotFound) {
			t.Errorf("the force-unlocked apply wrote state: %v", err)
		}
		if hist, err := r.store().History(ctx, shopDev, 0, 0); err != nil || len(hist) != 0 {
			t.Errorf("the force-unlocked apply wrote history: %d records, %v", len(hist), err)
		}
		if info, err := r.locker().Get(ctx, locker.Key("shop", "dev")); err != nil || info.LockedBy != "other@example.com" {
			t.Errorf("the new holder's lease: %+v, %v", info, err)
		}
	})
}

// pulumiLocked reports whether the backend holds a Pulumi update lock
// (an object or file under .pulumi/locks/).
func (r *e2eRepo) pulumiLocked() bool {
	const locks = "/.pulumi/locks/"
	if r.bucket == "" {
		found := false
		_ = filepath.WalkDir(filepath.Join(r.dir, ".panka"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(filepath.ToSlash(p), locks) {
				found = true
				return filepath.SkipAll
			}
			return nil
		})
		return found
	}
	out, err := testserver.S3Client(r.t).ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket)})
	if err != nil {
		r.t.Fatal(err)
	}
	for _, o := range out.Contents {
		if strings.Contains("/"+aws.ToString(o.Key), locks) {
			return true
		}
	}
	return false
}

// checkRecoveredKilled checks that d, the record of the run that took over
// killed run h's lease, says so and what it cleared of its engine's run
// (its Pulumi lock, the create in flight), and that history (text and
// JSON) and status show it.
func checkRecoveredKilled(t *testing.T, r *e2eRepo, d *statestore.Deployment, h locker.Info) {
	t.Helper()
	rec := d.Recovered
	if rec == nil {
		t.Fatalf("the record of the run that recovered from the killed one has no recovered: %+v", d)
	}
	if l := rec.Lease; l == nil || l.LockID != h.ID || l.PID != h.Metadata.PID || l.Host != h.Metadata.Hostname || l.User != h.LockedBy ||
		l.Operation != "apply" || l.Commit != h.Metadata.Commit || !l.Since.Equal(h.LockedAt) {
		t.Errorf("recovered.lease = %+v, want the killed run's lease %+v", rec.Lease, h)
	}
	if len(rec.PulumiLocks) == 0 && !rec.PulumiCancelled {
		t.Errorf("recovered does not say the killed run's Pulumi lock was removed: %+v", rec)
	}
	creating := false
	for _, p := range rec.PendingOperations {
		creating = creating || p.Type == "creating" && strings.Contains(p.URN, "::")
	}
	if !creating {
		t.Errorf("recovered.pendingOperations = %+v, want the killed run's create in flight", rec.PendingOperations)
	}

	out := r.mustPanka(nil, "history", "--stack", "shop", "--environment", "dev")
	want := fmt.Sprintf("Serial %d recovered from an earlier run that stopped part way (killed, or cut off from its backends): took over the lease of %s on %s (pid %d), apply of commit %s",
		d.Serial, h.LockedBy, h.Metadata.Hostname, h.Metadata.PID, h.Metadata.Commit[:12])
	if !strings.Contains(out, "succeeded (recovered)") || !strings.Contains(out, want) || !strings.Contains(out, "cleared Pulumi's pending operations creating ") {
		t.Errorf("history does not say what the run recovered (%q):\n%s", want, out)
	}
	var recs []statestore.Deployment
	if err := json.Unmarshal([]byte(r.mustPanka(nil, "history", "--stack", "shop", "--environment", "dev", "-o", "json")), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || recs[0].Serial != d.Serial || recs[0].Recovered == nil || recs[0].Recovered.Lease == nil || recs[0].Recovered.Lease.PID != h.Metadata.PID {
		t.Errorf("history -o json does not carry recovered: %+v", recs)
	}
	out = r.mustPanka(nil, "status", "--stack", "shop", "--environment", "dev")
	if want := fmt.Sprintf("  recovered: the last run (serial %d) cleared what an earlier run left that stopped part way: took over the lease of %s", d.Serial, h.LockedBy); !strings.Contains(out, want) {
		t.Errorf("status does not say what the last run recovered (%q):\n%s", want, out)
	}
	var sj struct {
		Environments []struct {
			Deployed *struct {
				Recovered *statestore.Recovered `json:"recovered"`
			} `json:"deployed"`
		} `json:"environments"`
	}
	if err := json.Unmarshal([]byte(r.mustPanka(nil, "status", "--stack", "shop", "--environment", "dev", "-o", "json")), &sj); err != nil {
		t.Fatal(err)
	}
	if len(sj.Environments) != 1 || sj.Environments[0].Deployed == nil || sj.Environments[0].Deployed.Recovered.Empty() {
		t.Errorf("status -o json does not carry the deployed run's recovered: %+v", sj)
	}
}

// killWhen starts panka with args (extraEnv added to its environment) and,
// once done holds for what the run has written to its stdout and stderr
// so far, SIGKILLs every process of the run at once, as a machine dies:
// nobody stops Pulumi cleanly. It returns that output.
func (r *e2eRepo) killWhen(t *testing.T, extraEnv []string, done func(output string) bool, args ...string) string {
	t.Helper()
	marker := runMarker()
	cmd := r.cmd(append([]string{marker}, extraEnv...), args...)
	var out syncBuffer
	cmd.Stderr, cmd.Stdout = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, func() bool { return done(out.String()) })
	killAll(marker)
	_ = cmd.Wait()
	return out.String()
}

// creatingLocked is killWhen's moment for a killed create: the engine is
// creating, Pulumi's lock is stored, and its checkpoint holds the create in
// flight (before that, there is nothing for the next run to recover or
// report). Pulumi sends the "creating" event before it writes the pending
// operation to its checkpoint, so on a loaded machine the event can come
// well before the checkpoint (and the lock) reach S3.
func (r *e2eRepo) creatingLocked(output string) bool {
	return strings.Contains(output, "creating") && r.pulumiLocked() && r.pulumiInFlight()
}

// pulumiInFlight reports whether a Pulumi checkpoint of the backend
// (.pulumi/stacks/<project>/<stack>.json) holds a component an operation
// touched: one made, or one with an operation in flight.
func (r *e2eRepo) pulumiInFlight() bool {
	return r.pulumiCheckpoint(func(b []byte) bool {
		_, t, ok := engine.ComponentsTouched(b, time.Time{})
		return ok && len(t) > 0
	})
}

// pulumiCheckpoint reports whether a Pulumi checkpoint of the backend
// (.pulumi/stacks/<project>/<stack>.json) is one touched says yes to.
func (r *e2eRepo) pulumiCheckpoint(touched func(checkpoint []byte) bool) bool {
	const stacksDir = "/.pulumi/stacks/"
	isCheckpoint := func(p string) bool {
		return strings.Contains(p, stacksDir) && strings.HasSuffix(p, ".json")
	}
	if r.bucket == "" {
		found := false
		_ = filepath.WalkDir(filepath.Join(r.dir, ".panka"), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isCheckpoint(filepath.ToSlash(p)) {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && touched(b) {
				found = true
				return filepath.SkipAll
			}
			return nil
		})
		return found
	}
	ctx := context.Background()
	c := testserver.S3Client(r.t)
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket)})
	if err != nil {
		r.t.Fatal(err)
	}
	for _, o := range out.Contents {
		if !isCheckpoint("/" + aws.ToString(o.Key)) {
			continue
		}
		obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: o.Key})
		if err != nil {
			continue // replaced meanwhile: the next poll reads it
		}
		b, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err == nil && touched(b) {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("condition not met within %s", d)
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestApplyAfterBrokenCheckpointAttributes: a Pulumi run killed while its
// file backend wrote the checkpoint's attribute file leaves it empty, and
// Pulumi then cannot open the stack ("failed to load checkpoint: EOF"),
// before any recovery. The next panka run removes the broken file (it only
// holds a content type and checksum) and goes on.
func TestApplyAfterBrokenCheckpointAttributes(t *testing.T) {
	r := newE2ERepo(t, embedded)
	r.mustPanka(nil, applyDev...)
	attrs, err := filepath.Glob(filepath.Join(r.dir, ".panka/state/stacks/shop/dev/pulumi/.pulumi/stacks/*/*.json.attrs"))
	if err != nil || len(attrs) == 0 {
		t.Fatalf("no checkpoint attribute file (%v)", err)
	}
	for _, p := range attrs {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := r.panka(nil, "destroy", "--stack", "shop", "--environment", "dev", "--auto-approve", "--allow-destroy")
	if code != 0 || !strings.Contains(out, "succeeded") {
		t.Fatalf("destroy after the attribute file broke: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestApplyWithClosedOutputRecordsAndReleases: `panka apply | head` (or a
// CI log pipe that goes away) closes panka's output while it holds the
// lease. A write to it must fail, not kill panka by SIGPIPE between the
// deployment and its record: the run is recorded and its lease released.
func TestApplyWithClosedOutputRecordsAndReleases(t *testing.T) {
	r := newE2ERepo(t, embedded)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pr.Close()
	cmd := r.cmd(nil, applyDev...)
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Run()
	pw.Close()
	var ee *exec.ExitError
	if errors.As(err, &ee) && !ee.Exited() {
		t.Errorf("apply with its output closed was killed: %v", err)
	}
	ctx := context.Background()
	st, _, err := r.store().Get(ctx, shopDev)
	if err != nil {
		t.Fatalf("no state after the apply: %v", err)
	}
	if st.LastDeployment.Result != statestore.ResultSucceeded {
		t.Errorf("apply recorded as %q", st.LastDeployment.Result)
	}
	if held, err := r.locker().List(ctx); err != nil || len(held) != 0 {
		t.Errorf("lease not released: %+v %v", held, err)
	}

	// `panka history | head -1`: the reader going away is no error to print.
	pr, pw, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pr.Close()
	// (CI unset: its warning about the local backend is not the point.)
	cmd = r.cmd([]string{"CI="}, "history", "--stack", "shop", "--environment", "dev")
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = pw, &errOut
	_ = cmd.Run()
	pw.Close()
	if errOut.Len() != 0 {
		t.Errorf("history with its stdout closed printed:\n%s", errOut.String())
	}
}

// TestApplyWrongPassphrase: a passphrase that is set but is not the one the
// stack's secrets were encrypted with is reported as such, not as a
// missing PULUMI_CONFIG_PASSPHRASE.
func TestApplyWrongPassphrase(t *testing.T) {
	r := newE2ERepo(t, embedded)
	stack := filepath.Join(r.dir, "stacks/shop/stack.yaml")
	b, err := os.ReadFile(stack)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "    API_TOKEN:\n      secret: true\n      default: s3cr3t\n"...)
	svc := filepath.Join(r.dir, "stacks/shop/services/web/service.yaml")
	s, err := os.ReadFile(svc)
	if err != nil {
		t.Fatal(err)
	}
	s = bytes.Replace(s, []byte("    GREETING: ${GREETING}\n"), []byte("    GREETING: ${GREETING}\n    API_TOKEN: ${API_TOKEN}\n"), 1)
	if err := os.WriteFile(stack, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(svc, s, 0o644); err != nil {
		t.Fatal(err)
	}
	r.git("commit", "-qam", "a secret")
	r.mustPanka(nil, applyDev...)
	// SPEC §3: the secret is written in clear nowhere — not in state,
	// history, Pulumi's state, nor the local target's manifests, which hold
	// its keyed hash.
	web, err := os.ReadFile(filepath.Join(r.dir, ".panka/local/shop/dev/web.json"))
	if err != nil || !bytes.Contains(web, []byte(`"API_TOKEN": "sensitive:hmac-sha256:`)) {
		t.Errorf("manifest web.json: %v\n%s", err, web)
	}
	err = filepath.WalkDir(filepath.Join(r.dir, ".panka"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, err := os.ReadFile(p); err != nil || bytes.Contains(b, []byte("s3cr3t")) {
			t.Errorf("%s holds the clear secret (%v)", p, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	_, errOut, code := r.panka([]string{"PULUMI_CONFIG_PASSPHRASE=not-the-one"}, applyDev...)
	if code != 1 || !strings.Contains(errOut, "incorrect passphrase") || !strings.Contains(errOut, "earlier deployments used") ||
		strings.Contains(errOut, "needs the secrets passphrase") {
		t.Fatalf("apply with another passphrase: exit %d\n%s", code, errOut)
	}
	// The engine fails reading its state, before any step: a refusal that
	// changed nothing, not a failed deployment (which marked dev failed,
	// moved its serial on and made promote from it refuse).
	if !strings.Contains(errOut, "cannot apply shop/dev, nothing was changed or recorded") || strings.Contains(errOut, "Apply of shop/dev failed") {
		t.Errorf("apply with another passphrase is not a refusal:\n%s", errOut)
	}
	out, _, _ := r.panka(nil, "state", "show", "--stack", "shop", "--environment", "dev", "-o", "json")
	if !strings.Contains(out, `"serial": 1,`) || !strings.Contains(out, `"status": "deployed"`) {
		t.Errorf("state after the refused apply:\n%s", out)
	}
}

// TestApplyHangup: a hangup (terminal or SSH session closed) stops an apply
// like Ctrl-C — recorded as interrupted, lease released — instead of
// killing panka with the lease held and nothing recorded; under nohup
// (SIGHUP ignored) the apply goes on to the end.
func TestApplyHangup(t *testing.T) {
	for _, nohup := range []bool{false, true} {
		t.Run(fmt.Sprintf("nohup=%v", nohup), func(t *testing.T) {
			r := newE2ERepo(t, embedded)
			script := `exec "$0" "$@"`
			if nohup {
				script = `trap "" HUP; ` + script
			}
			cmd := exec.Command("sh", append([]string{"-c", script, r.bin}, applyDev...)...)
			cmd.Dir = r.dir
			// Long enough that the hangup, relayed to Pulumi on a loaded
			// machine, lands while the first create is still running (a 5 s
			// create finished first once, and the run succeeded); the run
			// that ignores the hangup has to wait them all out.
			delay := "PANKALOCAL_DELAY=30s"
			if nohup {
				delay = "PANKALOCAL_DELAY=5s"
			}
			cmd.Env = append(append([]string{}, r.env...), delay)
			var out, errOut syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 90*time.Second, func() bool { return strings.Contains(errOut.String(), "creating") })
			if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if errors.As(err, &ee) && !ee.Exited() {
				t.Fatalf("apply killed by the hangup: %v\nstderr:\n%s", err, errOut.String())
			}
			ctx := context.Background()
			st, _, gerr := r.store().Get(ctx, shopDev)
			if gerr != nil {
				t.Fatalf("no state after the hangup: %v\nstderr:\n%s", gerr, errOut.String())
			}
			want := statestore.ResultInterrupted
			if nohup {
				want = statestore.ResultSucceeded
			}
			if st.LastDeployment.Result != want {
				t.Errorf("apply after a hangup recorded as %q, want %q\nstderr:\n%s", st.LastDeployment.Result, want, errOut.String())
			}
			if held, _ := r.locker().List(ctx); len(held) != 0 {
				t.Errorf("lease not released after the hangup: %+v", held)
			}
		})
	}
}

// TestApplyStoppedPastItsLeaseIsNotTakenOver: an apply whose every process
// is stopped (SIGSTOP, a suspended laptop) while its engine updates a
// component outlives its lease's ttl. A second apply must not take the
// expired lease over while the stopped run's processes still exist: it
// cleared the stopped Pulumi's lock as a killed run's, ran its own update,
// and when the first run resumed, its engine finished the old update and
// wrote its checkpoint over the second's, so state said one commit while
// the resources and Pulumi held the other (and drift detect saw nothing).
// The second apply refuses (exit 3) saying the holder still runs, waits for
// it with --lock-timeout, and both deployments are recorded in order.
func TestApplyStoppedPastItsLeaseIsNotTakenOver(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the run's processes through /proc (Linux only)")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		// A 2 s heartbeat within an 8 s lease: a 1 s heartbeat in a 4 s
		// lease lapsed on a loaded machine before the run was stopped.
		short := []string{"PANKA_LOCKS_TTL=8", "PANKA_LOCKS_HEARTBEAT=2"}
		r.mustPanka(short, applyDev...)
		image := func(tag string) string {
			stack := filepath.Join(r.dir, "stacks", "shop", "stack.yaml")
			b, err := os.ReadFile(stack)
			if err != nil {
				t.Fatal(err)
			}
			s := strings.Replace(string(b), "shop-web:1.0.0", "shop-web:"+tag, 1)
			if err := os.WriteFile(stack, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			r.git("commit", "-qam", "web "+tag)
			return r.git("rev-parse", "HEAD")
		}
		first := image("first")
		r.git("reset", "-q", "--hard", "HEAD~1")
		second := image("second")

		marker := runMarker()
		defer killAll(marker)
		cmd := r.cmd(append([]string{"PANKALOCAL_DELAY=3s", marker}, short...), append(applyDev, "--ref", first)...)
		var errOut syncBuffer
		cmd.Stderr = &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 90*time.Second, func() bool {
			return strings.Contains(errOut.String(), "web: updating") && has(runProcesses(marker), "pulumi-resource-pankalocal")
		})
		procs := runProcesses(marker)
		for pid := range procs {
			signal(t, pid, syscall.SIGSTOP)
		}
		cont := func() {
			for pid := range procs {
				signal(t, pid, syscall.SIGCONT)
			}
		}
		waitFor(t, 30*time.Second, func() bool {
			info, err := r.locker().Get(context.Background(), locker.Key("shop", "dev"))
			return err == nil && info.Expired(time.Now().Add(-time.Second))
		})
		_, stopErr, code := r.panka(short, append(applyDev, "--ref", second)...)
		if code != 3 || !strings.Contains(stopErr, "still runs") {
			cont()
			t.Fatalf("apply over the expired lease of a stopped run: exit %d, want 3 saying its process still runs\n%s", code, stopErr)
		}

		if out, _, _ := r.panka(short, "status", "--stack", "shop", "--environment", "dev"); !strings.Contains(out, "still runs on this host, stopped or hung: the next operation waits until it ends") {
			cont()
			t.Fatalf("status of the stopped run's expired lease:\n%s", out)
		}

		// Resume the stopped run while the second waits for the lock.
		waiting := r.cmd(short, append(applyDev, "--ref", second, "--lock-timeout", "2m")...)
		var waitOut syncBuffer
		waiting.Stdout, waiting.Stderr = &waitOut, &waitOut
		if err := waiting.Start(); err != nil {
			cont()
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, func() bool {
			return strings.Contains(waitOut.String(), "still runs on this host: waiting until it ends")
		})
		cont()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("the resumed apply: %v\n%s", err, errOut.String())
		}
		if err := waiting.Wait(); err != nil {
			t.Fatalf("the waiting apply: %v\n%s", err, waitOut.String())
		}

		hist, err := r.store().History(context.Background(), shopDev, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 3 || hist[1].Commit != first || hist[0].Commit != second || hist[0].Result != statestore.ResultSucceeded {
			for _, h := range hist {
				t.Logf("#%d %s %s %s", h.Serial, h.Commit, h.Result, h.Error)
			}
			t.Fatalf("history does not record the stopped apply of %s, then the apply of %s", first, second)
		}
		manifest, err := os.ReadFile(filepath.Join(r.dir, ".panka", "local", "shop", "dev", "web.json"))
		if err != nil || !strings.Contains(string(manifest), "shop-web:second") {
			t.Fatalf("web manifest after both applies (state says %s): %s, %v", second, manifest, err)
		}
		if out := r.mustPanka(nil, "drift", "detect", "--stack", "shop", "--environment", "dev"); !strings.Contains(out, "No drift") {
			t.Errorf("drift after both applies:\n%s", out)
		}
	})
}

// TestDestroyKilledThenApplyPutsBack: a destroy --allow-destroy killed
// (every process of the run, as when the machine dies) after the engine
// deleted some components records nothing, so panka's state still says
// the stack is deployed. Re-applying the deployed commit plans "no
// changes"; it must still run the engine, which sees its own state written
// since the last recorded deployment, and put back what the killed run
// deleted. It used to skip the engine and record a successful deployment
// with the components missing (and their data protection cleared).
func TestDestroyKilledThenApplyPutsBack(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the run's processes through /proc (Linux only)")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		short := []string{"PANKA_LOCKS_TTL=8", "PANKA_LOCKS_HEARTBEAT=2"}
		r.mustPanka(nil, applyDev...)
		manifests := filepath.Join(r.dir, ".panka", "local", "shop", "dev")
		output := r.killWhen(t, append([]string{"PANKALOCAL_DELAY=2s"}, short...), func(output string) bool {
			_, err := os.Stat(filepath.Join(manifests, "web.json"))
			return errors.Is(err, os.ErrNotExist) && strings.Contains(output, "shop-db: deleting")
		}, "destroy", "--stack", "shop", "--environment", "dev", "--auto-approve", "--allow-destroy")
		if _, err := os.Stat(filepath.Join(manifests, "shop-db.json")); err != nil {
			t.Fatalf("the killed destroy went further than the test needs: %v\n%s", err, output)
		}

		out, errOut2, code := r.panka(short, append(applyDev, "--lock-timeout", "1m")...)
		if code != 0 {
			t.Fatalf("apply after the killed destroy: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut2)
		}
		if !strings.Contains(errOut2, "was written after its last recorded deployment") {
			t.Errorf("the apply does not say why it runs the engine for a plan without changes:\n%s\n%s", out, errOut2)
		}
		// The killed destroy recorded nothing: the apply's record keeps
		// that it removed that destroy's Pulumi lock.
		if st, _, err := r.store().Get(context.Background(), shopDev); err != nil || st.LastDeployment == nil ||
			st.LastDeployment.Recovered == nil || len(st.LastDeployment.Recovered.PulumiLocks) == 0 && !st.LastDeployment.Recovered.PulumiCancelled {
			t.Errorf("the apply after the killed destroy does not record the Pulumi lock it removed: %+v, %v\n%s", st, err, errOut2)
		}
		for _, c := range []string{"web", "shop-db", "orders", "assets"} {
			if _, err := os.Stat(filepath.Join(manifests, c+".json")); err != nil {
				t.Errorf("%s not put back after the killed destroy: %v\nstdout:\n%s\nstderr:\n%s", c, err, out, errOut2)
			}
		}
		// Nothing changed since: the next apply skips the engine again.
		if _, errOut3, code := r.panka(nil, applyDev...); code != 0 || !strings.Contains(errOut3, "without running the engine") {
			t.Errorf("a no-change apply after the reconciling one: exit %d, want the engine skipped\n%s", code, errOut3)
		}
	})
}
