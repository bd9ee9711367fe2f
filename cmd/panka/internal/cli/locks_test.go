package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rs/zerolog"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/locker"
	"panka.dev/panka/locker/dynamodb"
	"panka.dev/panka/statestore/testserver"
)

// lockBackends are the lock configurations the commands are tested with:
// the S3 lock object on versitygw and DynamoDB on dynalite (the local
// backend is covered by testdata/script/locks_local.txtar).
func lockBackends(t *testing.T) map[string]func(t *testing.T) []string {
	return map[string]func(t *testing.T) []string{
		"s3": func(t *testing.T) []string {
			srv := testserver.S3(t)
			t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			return []string{"PANKA_BACKEND_TYPE=s3", "PANKA_BACKEND_BUCKET=" + testserver.NewBucket(t), "PANKA_BACKEND_PREFIX=team-a",
				"PANKA_BACKEND_ENDPOINT=" + srv.Endpoint, "PANKA_BACKEND_USE_PATH_STYLE=true", "PANKA_BACKEND_REGION=" + srv.Region}
		},
		// State in S3, locks in DynamoDB (a lease in a shared table over
		// local state is refused: sharedLocksLocalState).
		"dynamodb": func(t *testing.T) []string {
			srv := testserver.S3(t)
			ep := testserver.DynamoDB(t)
			table := testserver.UniqueName("panka-locks-")
			if err := dynamodb.CreateTable(context.Background(), testserver.DynamoDBClient(t), table); err != nil {
				t.Fatal(err)
			}
			t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			return []string{"PANKA_BACKEND_TYPE=s3", "PANKA_BACKEND_BUCKET=" + testserver.NewBucket(t), "PANKA_BACKEND_ENDPOINT=" + srv.Endpoint,
				"PANKA_BACKEND_USE_PATH_STYLE=true", "PANKA_BACKEND_REGION=" + srv.Region,
				"PANKA_LOCKS_TYPE=dynamodb", "PANKA_LOCKS_TABLE=" + table, "PANKA_LOCKS_ENDPOINT=" + ep, "PANKA_LOCKS_REGION=us-east-1"}
		},
	}
}

// Two independent processes' worth of clients: one factory holds the lease
// through AcquireLease, another lists, refuses and force-unlocks it.
func TestLockCommandsOnServers(t *testing.T) {
	for name, setup := range lockBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			env := setup(t)
			holder, repo, _, _ := lockTestFactory(t, env...)
			lockWriteFile(t, repo+"/.git/config", "[user]\n\temail = holder@example.com\n")
			_, lease := holdLease(t, holder)

			run := func(args ...string) (int, string, string) {
				f, _, out, errOut := lockTestFactory(t, env...)
				code := Run(ctx, f, args)
				return code, out.String(), errOut.String()
			}
			code, out, errOut := run("locks", "list", "-o", "json")
			if code != 0 {
				t.Fatalf("locks list: exit %d: %s", code, errOut)
			}
			var list struct{ Locks []LockJSON }
			if err := json.Unmarshal([]byte(out), &list); err != nil {
				t.Fatal(err)
			}
			if len(list.Locks) != 1 || list.Locks[0].LockID != lease.Info().ID || list.Locks[0].LockedBy != "holder@example.com" ||
				list.Locks[0].Stack != "app" || list.Locks[0].Metadata.Operation != "apply" || list.Locks[0].Expired {
				t.Fatalf("locks list = %+v", list.Locks)
			}
			code, out, _ = run("locks", "list")
			if code != 0 || !strings.Contains(out, "holder@example.com") || !(strings.Contains(out, "in 59m") || strings.Contains(out, "in 1h00m")) {
				t.Fatalf("locks list text (exit %d):\n%s", code, out)
			}
			code, out, _ = run("locks", "show", "-s", "app", "-e", "prod")
			if code != 0 || !strings.Contains(out, "Lock ID:   "+lease.Info().ID) {
				t.Fatalf("locks show (exit %d):\n%s", code, out)
			}

			// A second deployer is refused with exit code 3.
			other, _, _, _ := lockTestFactory(t, env...)
			ocfg, _ := other.Config()
			if _, err := other.AcquireLease(ctx, ocfg, "app", "prod", "apply", "fff", 0); exitCode(err) != ExitLocked {
				t.Fatalf("second AcquireLease = %v, want exit 3", err)
			}
			code, _, errOut = run("unlock", "-s", "app", "-e", "prod")
			if code != ExitLocked || !strings.Contains(errOut, "--force") {
				t.Fatalf("unlock of another's lease: exit %d: %s", code, errOut)
			}
			code, out, errOut = run("unlock", "-s", "app", "-e", "prod", "--force", "--yes")
			if code != 0 || !strings.Contains(out, "Unlocked app/prod") || !strings.Contains(errOut, "locked by holder@example.com") {
				t.Fatalf("unlock --force --yes: exit %d\n%s\n%s", code, out, errOut)
			}
			// The holder notices at its next heartbeat; here, on release.
			if err := lease.Release(ctx); err == nil || !errors.Is(err, locker.ErrLost) {
				t.Fatalf("holder's release after force-unlock = %v, want ErrLost", err)
			}
			second, err := other.AcquireLease(ctx, ocfg, "app", "prod", "apply", "fff", 0)
			if err != nil {
				t.Fatalf("acquire after force-unlock: %v", err)
			}
			if err := other.ReleaseLease(second); err != nil {
				t.Fatal(err)
			}
			code, out, _ = run("locks", "list", "-o", "json")
			if code != 0 || !strings.Contains(out, `"locks": []`) {
				t.Fatalf("locks list after release (exit %d): %s", code, out)
			}
		})
	}
}

// TestLocksListStackBackend: a stack with its own spec.backend keeps its
// leases in its own lock backend (here S3 lock objects in its bucket). locks
// list read only the repository-wide one and said "No locks held" while
// that stack was being deployed; it lists both, as state list does.
func TestLocksListStackBackend(t *testing.T) {
	ctx := context.Background()
	srv := testserver.S3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	bucket := testserver.NewBucket(t)
	holder, repo, _, _ := lockTestFactory(t)
	lockWriteFile(t, repo+"/stacks/app/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: app\nspec:\n"+
		"  backend:\n    bucket: "+bucket+"\n    prefix: team-a\n    region: "+srv.Region+"\n    endpoint: "+srv.Endpoint+"\n")
	lockWriteFile(t, repo+"/stacks/app/environments/prod.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: prod\nspec: {}\n")
	lockWriteFile(t, repo+"/stacks/web/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: web\nspec: {}\n")
	lockWriteFile(t, repo+"/stacks/web/environments/dev.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec: {}\n")

	appCfg, err := holder.stackConfig("app")
	if err != nil {
		t.Fatal(err)
	}
	if appCfg.Locks.Type != "s3" {
		t.Fatalf("app's locks.type = %q, want s3 (its own backend)", appCfg.Locks.Type)
	}
	app, err := holder.AcquireLease(ctx, appCfg, "app", "prod", "apply", "0123456789abcdef", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.ReleaseLease(app)
	repoCfg, err := holder.Config()
	if err != nil {
		t.Fatal(err)
	}
	web, err := holder.AcquireLease(ctx, repoCfg, "web", "dev", "apply", "fedcba9876543210", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.ReleaseLease(web)

	f, _, out, errOut := lockTestFactory(t)
	f.Getwd = func() (string, error) { return repo, nil }
	if code := Run(ctx, f, []string{"locks", "list", "-o", "json"}); code != 0 {
		t.Fatalf("locks list: exit %d: %s", code, errOut)
	}
	var list struct{ Locks []LockJSON }
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range list.Locks {
		got = append(got, l.Stack+"/"+l.Environment+" "+l.LockID)
	}
	want := []string{"app/prod " + app.Info().ID, "web/dev " + web.Info().ID}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("locks list = %v, want %v", got, want)
	}
}

// TestLockWaitOnBackendErrors: with --lock-timeout, every error of the lock
// backend was retried in silence until the wait ran out, so a missing table
// or bucket (or denied credentials) took a CI job the whole timeout (say
// 30m) to report. A set-up mistake now fails at once; a backend that is
// down or failing is retried, and the wait says so.
func TestLockWaitOnBackendErrors(t *testing.T) {
	ctx := context.Background()
	acquire := func(t *testing.T, wait time.Duration, env ...string) (*locker.Lease, error, string, time.Duration) {
		t.Helper()
		f, _, _, errOut := lockTestFactory(t, env...)
		cfg, err := f.Config()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		lease, err := f.AcquireLease(ctx, cfg, "app", "prod", "apply", "0123456789abcdef", wait)
		if lease != nil {
			t.Cleanup(func() { f.ReleaseLease(lease) })
		}
		return lease, err, errOut.String(), time.Since(start)
	}
	t.Run("missing table", func(t *testing.T) {
		env := lockBackends(t)["dynamodb"](t)
		env = append(env, "PANKA_LOCKS_TABLE="+testserver.UniqueName("panka-nolocks-"))
		_, err, notices, took := acquire(t, 20*time.Second, env...)
		if err == nil || !strings.Contains(err.Error(), "the table does not exist") || strings.Contains(err.Error(), "gave up") || took > 10*time.Second {
			t.Fatalf("wait on a missing table: %v after %s, want the missing table at once", err, took)
		}
		if notices != "" {
			t.Errorf("notices: %s", notices)
		}
	})
	t.Run("missing bucket", func(t *testing.T) {
		env := lockBackends(t)["s3"](t)
		env = append(env, "PANKA_BACKEND_BUCKET="+testserver.UniqueName("panka-nobucket-"))
		_, err, _, took := acquire(t, 20*time.Second, env...)
		if err == nil || !strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "gave up") || took > 10*time.Second {
			t.Fatalf("wait on a missing bucket: %v after %s, want the missing bucket at once", err, took)
		}
	})
	t.Run("server down", func(t *testing.T) {
		env := lockBackends(t)["dynamodb"](t)
		env = append(env, "PANKA_LOCKS_ENDPOINT=http://127.0.0.1:1")
		// Long enough for a retry after the SDK's own (a busy machine
		// makes the first attempt slow).
		_, err, notices, _ := acquire(t, 8*time.Second, env...)
		if err == nil || !strings.Contains(err.Error(), "gave up after waiting 8s") || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("wait on a closed port: %v, want it retried until the wait ran out", err)
		}
		if !strings.Contains(notices, "Waiting for the lock on app/prod: the lock backend failed (") || !strings.Contains(notices, "retrying until --lock-timeout 8s runs out") {
			t.Errorf("the wait did not say why it waits:\n%s", notices)
		}
	})
	t.Run("server failing for a while", func(t *testing.T) {
		env := lockBackends(t)["dynamodb"](t)
		proxy := testserver.NewFaultProxy(t, testserver.DynamoDB(t))
		env = append(env, "PANKA_LOCKS_ENDPOINT="+proxy.URL)
		// Every attempt of the first acquire (the SDK makes 6), then it
		// works again.
		proxy.Set(testserver.FaultRule{Target: "PutItem", Fault: testserver.FaultStatus, Status: 503, Code: "ServiceUnavailable", Times: 6})
		lease, err, notices, _ := acquire(t, 5*time.Minute, env...)
		if err != nil || lease == nil {
			t.Fatalf("wait through a failing server: %v\n%s", err, proxy.Log())
		}
		if !strings.Contains(notices, "the lock backend failed (put lock item stack:app:env:prod in DynamoDB table") || !strings.Contains(notices, "DynamoDB kept failing") {
			t.Errorf("the wait did not say why it waits:\n%s", notices)
		}
	})
}

// TestHeartbeatWorksAgainIsSaid: the lock server failing a run's
// heartbeats for a while (503 on every attempt) and then answering again.
// The warnings said the run would stop shortly before its lease expires,
// and nothing said that it would not once heartbeats worked again, so an
// on-call engineer watching the log could not tell whether to expect it.
func TestHeartbeatWorksAgainIsSaid(t *testing.T) {
	ctx := context.Background()
	proxy := testserver.NewFaultProxy(t, testserver.DynamoDB(t))
	env := append(lockBackends(t)["dynamodb"](t), "PANKA_LOCKS_ENDPOINT="+proxy.URL, "PANKA_LOCKS_TTL=20", "PANKA_LOCKS_HEARTBEAT=2")
	f, _, _, _ := lockTestFactory(t, env...)
	var logged syncBuffer
	f.Log = zerolog.New(&logged).Level(zerolog.WarnLevel)
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	lease, err := f.AcquireLease(ctx, cfg, "app", "prod", "apply", "fff", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.ReleaseLease(lease)
	proxy.Set(testserver.FaultRule{Target: "UpdateItem", Fault: testserver.FaultStatus, Status: 503, Code: "ServiceUnavailable", Times: 6})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logged.String(), "lock heartbeat works again: the lease is renewed and the run goes on (heartbeats failed since ") {
		if time.Now().After(deadline) || lease.Err() != nil {
			t.Fatalf("no word that the heartbeat works again (lease: %v):\n%s\n%s", lease.Err(), logged.String(), proxy.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logged.String(), "lock heartbeat failed; retrying until shortly before the lease expires") {
		t.Errorf("the failed heartbeats were not warned about:\n%s", logged.String())
	}
}

// TestLockCommandsOnASkewedHost: on a machine whose clock is 10 minutes
// ahead, a lease another machine took a moment ago (and renews) read as
// not renewed for 10 minutes: locks show and status called its run most
// likely dead and offered unlock --force, and a --lock-timeout wait said so
// too. Lease times are the lock server's now, and so is what they are
// compared with.
func TestLockCommandsOnASkewedHost(t *testing.T) {
	for name, setup := range lockBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			env := setup(t)
			holder, _, _, _ := lockTestFactory(t, env...)
			holdLease(t, holder)
			for _, args := range [][]string{{"locks", "show", "-s", "app", "-e", "prod"}, {"locks", "list"}, {"status", "-s", "app", "-e", "prod"}} {
				f, _, out, errOut := lockTestFactory(t, env...)
				f.Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
				Run(ctx, f, args)
				if strings.Contains(out.String()+errOut.String(), "most likely dead") || strings.Contains(out.String(), "10m ago") {
					t.Errorf("%v on a host 10 minutes ahead:\n%s\n%s", args, out, errOut)
				}
			}
			f, _, _, errOut := lockTestFactory(t, env...)
			f.Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
			fcfg, _ := f.Config()
			if _, err := f.AcquireLease(ctx, fcfg, "app", "prod", "apply", "fff", 1500*time.Millisecond); exitCode(err) != ExitLocked {
				t.Fatalf("AcquireLease on a host 10 minutes ahead = %v, want exit 3", err)
			}
			if strings.Contains(errOut.String(), "most likely dead") {
				t.Errorf("the wait on a host 10 minutes ahead:\n%s", errOut)
			}
		})
	}
}

// TestReleaseLeaseWhenTheLockStoreIsGone: the lock table (or the bucket of
// the S3 lock objects) deleted while a run held its lease: the release at
// the end of the run failed and said the lease "stays held until it
// expires ... or `panka unlock ...` removes it", which cannot work (unlock
// fails on the same missing table). It now says the lease went with the
// table, so there is nothing to unlock, and how to make it again, at once
// (no retries).
func TestReleaseLeaseWhenTheLockStoreIsGone(t *testing.T) {
	for name, setup := range lockBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			env := setup(t)
			f, _, _, _ := lockTestFactory(t, env...)
			cfg, err := f.Config()
			if err != nil {
				t.Fatal(err)
			}
			lease, err := f.AcquireLease(ctx, cfg, "app", "prod", "apply", "0123456789abcdef", 0)
			if err != nil {
				t.Fatal(err)
			}
			create := "panka backend create --table " + cfg.Locks.Table
			if name == "s3" {
				deleteBucket(t, cfg.Backend.Bucket)
				create = "panka backend create --bucket " + cfg.Backend.Bucket
			} else if _, err := testserver.DynamoDBClient(t).DeleteTable(ctx, &ddb.DeleteTableInput{TableName: aws.String(cfg.Locks.Table)}); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = f.ReleaseLease(lease)
			if !errors.Is(err, locker.ErrStoreGone) || !strings.Contains(err.Error(), "its lease went with it, so there is nothing to unlock") ||
				!strings.Contains(err.Error(), create) || strings.Contains(err.Error(), "panka unlock") {
				t.Fatalf("release with the lock store gone: %v\nwant ErrStoreGone, saying there is nothing to unlock and %q, and no panka unlock", err, create)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("release with the lock store gone took %s: retried what cannot pass", took)
			}
		})
	}
}

// deleteBucket deletes bucket from the S3 test server with every version
// and delete marker in it (it is versioned).
func deleteBucket(t *testing.T, bucket string) {
	t.Helper()
	ctx := context.Background()
	c := testserver.S3Client(t)
	vs, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	del := func(key, version *string) {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: key, VersionId: version}); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range vs.Versions {
		del(v.Key, v.VersionId)
	}
	for _, m := range vs.DeleteMarkers {
		del(m.Key, m.VersionId)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
}

// TestMissingLockTableSaysWhereItIsSet: a lock table that does not exist
// (a typo in PANKA_LOCKS_TABLE, a table deleted) is said with where
// locks.table was set, as a missing bucket is: "check locks.table" left the
// user to find which of panka.yaml, ~/.panka/config.yaml, an environment
// variable or a flag named it.
func TestMissingLockTableSaysWhereItIsSet(t *testing.T) {
	ctx := context.Background()
	env := lockBackends(t)["dynamodb"](t)
	table := testserver.UniqueName("panka-nolocks-")
	for _, tc := range []struct {
		name, src string
		env, args []string
	}{
		{"env", "env (PANKA_LOCKS_TABLE)", []string{"PANKA_LOCKS_TABLE=" + table}, nil},
		{"flag", "flag (--lock-table)", nil, []string{"--lock-table", table}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, _, errOut := lockTestFactory(t, append(env, tc.env...)...)
			for _, cmd := range [][]string{{"locks", "list"}, {"unlock", "--stack", "app", "--environment", "prod"}} {
				errOut.Reset()
				if code := Run(ctx, f, append(cmd, tc.args...)); code != ExitError {
					t.Fatalf("%v on a missing table: exit %d\n%s", cmd, code, errOut)
				}
				want := fmt.Sprintf("the table does not exist (ResourceNotFoundException): create it with `panka backend create --table %s`, "+
					"or check locks.table, locks.region and locks.endpoint (locks.table %q is set by %s)\n", table, table, tc.src)
				if !strings.Contains(errOut.String(), want) {
					t.Errorf("%v on a missing table does not say %q:\n%s", cmd, want, errOut)
				}
			}
		})
	}
}

// TestLeaseLostWithTheLockTableGone: a run whose lease was lost while the
// lock table was deleted said the lock "cannot be read now either ...:
// check that the lock backend is up and reachable from here", which sends
// the user after a server that answers fine. It says nobody can hold the
// lock, with the backend's own words (the table does not exist, how to
// make it); and once only, when the heartbeats' last error said so already.
func TestLeaseLostWithTheLockTableGone(t *testing.T) {
	ctx := context.Background()
	f, _, _, _ := lockTestFactory(t, lockBackends(t)["dynamodb"](t)...)
	cfg, lease := holdLease(t, f)
	if _, err := testserver.DynamoDBClient(t).DeleteTable(ctx, &ddb.DeleteTableInput{TableName: aws.String(cfg.Locks.Table)}); err != nil {
		t.Fatal(err)
	}
	lost := fmt.Errorf("lease on %s lost (taken over or force-unlocked): %w", lease.Info().Key, locker.ErrLost)
	err := f.lostTo(ctx, cfg, lease, lost)
	want := "; nobody can hold the lock now: get lock stack:app:env:prod from DynamoDB table " + cfg.Locks.Table + ": the table does not exist"
	if !errors.Is(err, locker.ErrLost) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "check that the lock backend is up") {
		t.Errorf("lostTo with the table gone: %v\nwant it to say %q, not to check the backend is up", err, want)
	}
	expired := fmt.Errorf("lease on %s given up 1m0s before it expires (2026-01-02T15:04:05Z): heartbeats failed until then, so the run stops before another can take the lock (last error: %w): %w", lease.Info().Key,
		locker.StoreGone(errors.New("the table does not exist")), locker.ErrLost)
	if err := f.lostTo(ctx, cfg, lease, expired); err != expired { //nolint:errorlint // the very error, unchanged
		t.Errorf("lostTo of a lease whose heartbeats found the table gone: %v, want it unchanged", err)
	}
}

// TestHeartbeatWarningsWithTheLockTableGone: the lock table deleted under
// a run (dynalite). Its heartbeats fail; each failure was a warning, a
// screenful as the lease ran out, and the run was then stopped when its
// lease would have expired, the engine mid-update, though nobody could
// take the lock while the table was gone. The run now goes on past its
// lease's ttl, with one warning a heartbeat interval saying the table is
// gone and that the run goes on; the record at its end says it ran
// without a lock and records anyway (TestLockStoreMadeAgainUnderARun:
// what happens once the table is back).
func TestHeartbeatWarningsWithTheLockTableGone(t *testing.T) {
	ctx := context.Background()
	env := append(lockBackends(t)["dynamodb"](t), "PANKA_LOCKS_TTL=60", "PANKA_LOCKS_HEARTBEAT=10")
	f, _, _, errOut := lockTestFactory(t, env...)
	var logged syncBuffer
	f.Log = zerolog.New(&logged).Level(zerolog.WarnLevel)
	clk, cfg, _ := onFakeClock(t, f)
	lease, err := f.acquireLease(ctx, cfg, "app", "prod", "apply", "0123456789abcdef", 0, clk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.ReleaseLease(lease)
	db := testserver.DynamoDBClient(t)
	if _, err := db.DeleteTable(ctx, &ddb.DeleteTableInput{TableName: aws.String(cfg.Locks.Table)}); err != nil {
		t.Fatal(err)
	}
	// 40 minutes, forty times the ttl, a heartbeat a second; at notes
	// when each warning came.
	start := clk.Now()
	var at []time.Duration
	for end := start.Add(40 * time.Minute); clk.Now().Before(end); {
		if !clk.WaitSleepers(1, lease.Context().Done()) {
			t.Fatalf("the run was stopped %s after the table was deleted (ttl 60s): %v", clk.Now().Sub(start), lease.Err())
		}
		if n := strings.Count(logged.String(), "\n"); n > len(at) {
			at = append(at, clk.Now().Sub(start))
		}
		clk.Advance(time.Second)
	}
	for _, l := range strings.Split(strings.TrimSpace(logged.String()), "\n") {
		if !strings.Contains(l, "the lock table or bucket is gone, and this run's lease with it") || !strings.Contains(l, "so the run goes on") {
			t.Errorf("warning does not say the table is gone and the run goes on: %s", l)
		}
	}
	// One a heartbeat interval (10 s) was 240 in these 40 minutes: the
	// first at once, then 10 s, 20 s, 40 s ... apart, at most 10 minutes.
	if len(at) < 6 || len(at) > 11 || at[0] > 11*time.Second {
		t.Errorf("warnings at %v after the table was deleted, want the first within a heartbeat, then ever further apart", at)
	}
	for i := 2; i < len(at); i++ {
		if gap, prev := at[i]-at[i-1], at[i-1]-at[max(i-2, 0)]; gap < prev || gap > maxStoreGoneWarnEvery+2*time.Second {
			t.Errorf("warnings at %v: gap %s after %s, want them growing, at most %s", at, gap, prev, maxStoreGoneWarnEvery)
		}
	}

	// The record at the end of the run: written, and said to be without a lock.
	if err := f.leaseLost(ctx, cfg, lease, "the deployment"); err != nil {
		t.Fatalf("leaseLost with the table gone: %v, want the deployment recorded", err)
	}
	want := "Warning: recording the deployment of a run that lost its lock on the way: the lock table or bucket was deleted under it (noticed 39m50s ago). " +
		"No other run could take the lock while it was gone"
	if !strings.Contains(errOut.String(), want) || !strings.Contains(errOut.String(), "panka backend create --table "+cfg.Locks.Table) {
		t.Errorf("stderr does not say %q and how to make the table again:\n%s", want, errOut)
	}

}

// TestLockStoreMadeAgainUnderARun: the lock table (or the bucket of the S3
// lock objects) deleted under a run and made again without its lease. The
// run was stopped mid-update then, though nobody wanted the lock; it now
// puts its lease back with its own lock id and goes on, saying so. Only
// when another run took the lock first (in the second before the holder's
// next heartbeat) is it stopped, naming that run.
func TestLockStoreMadeAgainUnderARun(t *testing.T) {
	for _, name := range []string{"dynamodb", "s3"} {
		for _, taken := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/taken=%v", name, taken), func(t *testing.T) {
				ctx := context.Background()
				env := append(lockBackends(t)[name](t), "PANKA_LOCKS_TTL=60", "PANKA_LOCKS_HEARTBEAT=10")
				f, _, _, _ := lockTestFactory(t, env...)
				var logged syncBuffer
				f.Log = zerolog.New(&logged).Level(zerolog.WarnLevel)
				clk, cfg, l := onFakeClock(t, f)
				lease, err := f.acquireLease(ctx, cfg, "app", "prod", "apply", "0123456789abcdef", 0, clk)
				if err != nil {
					t.Fatal(err)
				}
				defer f.ReleaseLease(lease)
				mine := lease.Info()
				if name == "s3" {
					deleteBucket(t, cfg.Backend.Bucket)
				} else if _, err := testserver.DynamoDBClient(t).DeleteTable(ctx, &ddb.DeleteTableInput{TableName: aws.String(cfg.Locks.Table)}); err != nil {
					t.Fatal(err)
				}
				for end := clk.Now().Add(90 * time.Second); clk.Now().Before(end); { // past the ttl
					if !clk.WaitSleepers(1, lease.Context().Done()) {
						t.Fatalf("the run was stopped while the lock store was gone: %v", lease.Err())
					}
					clk.Advance(500 * time.Millisecond)
				}
				// The heartbeat asleep: the store is made again (and,
				// taken, the lock taken) before it next looks.
				if !clk.WaitSleepers(1, lease.Context().Done()) {
					t.Fatalf("the run was stopped while the lock store was gone: %v", lease.Err())
				}
				if name == "s3" {
					if _, err := testserver.S3Client(t).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(cfg.Backend.Bucket)}); err != nil {
						t.Fatal(err)
					}
				} else if err := dynamodb.CreateTable(ctx, testserver.DynamoDBClient(t), cfg.Locks.Table); err != nil {
					t.Fatal(err)
				}
				var other locker.Info
				if taken {
					if other, err = l.TryAcquire(ctx, locker.Info{Key: mine.Key, LockedBy: "bob@example.com", Metadata: locker.Metadata{Hostname: "host-b", PID: 7}}, time.Hour); err != nil {
						t.Fatal(err)
					}
				}
				for back := clk.Now(); clk.Now().Sub(back) < time.Minute; {
					if !clk.WaitSleepers(1, lease.Context().Done()) {
						break
					}
					clk.Advance(250 * time.Millisecond)
				}
				got, gerr := l.Get(ctx, mine.Key)
				if !taken {
					if err := lease.Err(); err != nil {
						t.Fatalf("the run was stopped with the lock store back empty: %v", err)
					}
					if gerr != nil || got.ID != mine.ID {
						t.Fatalf("lock after the store was made again: %+v, %v; want this run's lease (lock id %s) back", got, gerr, mine.ID)
					}
					if !strings.Contains(logged.String(), "is back without this run's lease: the lease was put back (same lock id)") {
						t.Errorf("no warning that the lease was put back:\n%s", logged.String())
					}
					if err := f.leaseLost(ctx, cfg, lease, "the deployment"); err != nil {
						t.Errorf("leaseLost after the lease was put back: %v", err)
					}
					return
				}
				<-lease.Context().Done()
				if err := lease.Err(); !errors.Is(err, locker.ErrLost) || errors.Is(err, locker.ErrHeld) || errors.Is(err, locker.ErrStoreGone) ||
					!strings.Contains(err.Error(), "is back without it (made again)") || !strings.Contains(err.Error(), "another run took the lock first") {
					t.Fatalf("lease ended with %v, want it lost to the run that took the lock first, saying so", err)
				}
				if gerr != nil || got.ID != other.ID {
					t.Errorf("lock after the store was made again: %+v, %v; want the other run's lease (lock id %s) untouched", got, gerr, other.ID)
				}
				if err := f.lostTo(ctx, cfg, lease, lease.Err()); !strings.Contains(err.Error(), "it is now held by bob@example.com on host-b") {
					t.Errorf("lostTo: %v, want it to name the run that holds the lock now", err)
				}
			})
		}
	}
}

// TestTakeOverEndedHolderOnServers: the lease of a run killed on this
// machine is taken over at once with the shared lock backends too (the
// S3 lock object, the DynamoDB item): they keep the holder's incarnation,
// and the removal of the dead lease is conditional on its lock id there as
// well.
func TestTakeOverEndedHolderOnServers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("proves a holder ended through /proc (Linux only)")
	}
	for name, setup := range lockBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f, _, _, errOut := lockTestFactory(t, setup(t)...)
			cfg, err := f.Config()
			if err != nil {
				t.Fatal(err)
			}
			l, err := f.Locker(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			holder := startHolder(t)
			host, _ := os.Hostname()
			meta := heldBy(t, locker.Metadata{Hostname: host, Operation: "apply"}, holder.Process.Pid, true)
			dead, err := l.TryAcquire(ctx, locker.Info{Key: locker.Key("app", "prod"), LockedBy: "alice@example.com", Metadata: meta}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if err := holder.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = holder.Wait()
			lease, err := f.AcquireLease(ctx, cfg, "app", "prod", "apply", "0123456789abcdef", 0)
			if err != nil {
				t.Fatalf("acquire over the lease of a killed holder: %v", err)
			}
			defer f.ReleaseLease(lease)
			if got, err := l.Get(ctx, locker.Key("app", "prod")); err != nil || got.ID != lease.Info().ID || got.ID == dead.ID {
				t.Fatalf("stored lease %+v, %v; want the new one", got, err)
			}
			if want := fmt.Sprintf("Warning: took over the lock on app/prod from alice@example.com on %s (pid %d), apply", host, holder.Process.Pid); !strings.Contains(errOut.String(), want) {
				t.Errorf("stderr does not say %q:\n%s", want, errOut)
			}
		})
	}
}

// holdLease takes the lease on app/prod as f (an apply of commit
// 0123456789abcdef), released when the test ends.
func holdLease(t *testing.T, f *Factory) (*config.Resolved, *locker.Lease) {
	t.Helper()
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	lease, err := f.AcquireLease(context.Background(), cfg, "app", "prod", "apply", "0123456789abcdef", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.ReleaseLease(lease) })
	return cfg, lease
}
