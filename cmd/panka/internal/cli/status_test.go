package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/locker"
	"panka.dev/panka/statestore"
	s3store "panka.dev/panka/statestore/s3"
	"panka.dev/panka/statestore/testserver"
)

// brokenLocker is a lock backend that cannot be read (a missing table,
// denied access, a server down).
type brokenLocker struct{ locker.Locker }

func (brokenLocker) Get(context.Context, string) (locker.Info, error) {
	return locker.Info{}, errors.New("ResourceNotFoundException: Requested resource not found")
}

// TestStatusLockUnknownWhenUnreadable: when the lock cannot be read,
// status says so instead of reporting the lock free.
func TestStatusLockUnknownWhenUnreadable(t *testing.T) {
	f, _ := stPushedFactory(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		open func(context.Context, *config.Resolved) (locker.Locker, error)
	}{
		{"read fails", func(context.Context, *config.Resolved) (locker.Locker, error) { return brokenLocker{}, nil }},
		{"open fails", func(context.Context, *config.Resolved) (locker.Locker, error) {
			return nil, errors.New("no AWS region for the lock table")
		}},
	} {
		for _, format := range []string{"text", "json"} {
			out := f.IO.Out.(*bytes.Buffer)
			out.Reset()
			f.Flags.Output = format
			if err := statusRun(ctx, &StatusOptions{F: f, OpenLocker: tc.open, Stack: "orders", Environment: "dev"}); err != nil {
				t.Fatalf("%s/%s: %v", tc.name, format, err)
			}
			got := out.String()
			want := "lock:      unknown: "
			if format == "json" {
				want = `"lockError": "`
			}
			if !strings.Contains(got, want) || strings.Contains(got, "lock:      free") {
				t.Errorf("%s/%s: status does not say the lock is unknown:\n%s", tc.name, format, got)
			}
		}
	}
}

// countingBrokenLocker fails every read, as a lock server that does not
// answer does, and counts the reads.
type countingBrokenLocker struct {
	locker.Locker
	gets *int
}

func (l countingBrokenLocker) Get(context.Context, string) (locker.Info, error) {
	*l.gets++
	return locker.Info{}, errors.New("get lock: cannot reach DynamoDB: net/http: timeout awaiting response headers")
}

// TestStatusStopsAskingAFailedLockBackend: once reading one environment's
// lock failed, status does not ask again for each of the others (on an
// endpoint that does not answer each read waits about 90 s: minutes for a
// stack of a few environments); each says its lock is unknown and why.
func TestStatusStopsAskingAFailedLockBackend(t *testing.T) {
	f, dir := stPushedFactory(t)
	ctx := context.Background()
	for _, env := range []string{"staging", "production"} {
		doc := filepath.Join(dir, env+".json")
		if err := os.WriteFile(doc, []byte(strings.ReplaceAll(stStateDoc, `"environment": "dev"`, `"environment": "`+env+`"`)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := statePushRun(ctx, &StatePushOptions{F: f, File: doc}); err != nil {
			t.Fatal(err)
		}
	}
	gets := 0
	open := func(context.Context, *config.Resolved) (locker.Locker, error) {
		return countingBrokenLocker{gets: &gets}, nil
	}
	out := f.IO.Out.(*bytes.Buffer)
	out.Reset()
	f.Flags.Output = "json"
	if err := statusRun(ctx, &StatusOptions{F: f, OpenLocker: open, Stack: "orders"}); err != nil {
		t.Fatal(err)
	}
	var got StackStatus
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if gets != 1 {
		t.Errorf("status read the lock %d times after the first read failed, want 1", gets)
	}
	if len(got.Environments) != 3 {
		t.Fatalf("status of %d environments, want 3: %s", len(got.Environments), out)
	}
	for _, e := range got.Environments {
		if e.Lock != nil || !strings.Contains(e.LockError, "cannot reach DynamoDB") {
			t.Errorf("%s: lock %v, lockError %q: want unknown, with the backend's error", e.Environment, e.Lock, e.LockError)
		}
	}
}

// oneDamagedLocker holds a readable lease on every key but damaged, whose
// record is there but cannot be read (a lock file edited by hand, a
// truncated object).
type oneDamagedLocker struct {
	locker.Locker
	damaged string
}

func (l oneDamagedLocker) Get(_ context.Context, key string) (locker.Info, error) {
	if key == l.damaged {
		return locker.Info{}, fmt.Errorf("read lock file %s.json: invalid character 'g' looking for beginning of value (%w)", key, locker.ErrUnreadable)
	}
	now := time.Now()
	return locker.Info{Key: key, ID: "id-" + key, LockedBy: "bob", LockedAt: now, LastHeartbeat: now, ExpiresAt: now.Add(time.Hour),
		Metadata: locker.Metadata{Hostname: "elsewhere", PID: 42, Operation: "apply"}}, nil
}

// TestStatusReadsOtherLocksAfterADamagedOne: one environment's damaged
// lock record says nothing of the backend (it answered), so the locks of
// the other environments are still read and shown. Status took it for a
// backend that does not answer and showed every later environment's lock
// as "unknown: not read, since reading the lock of dev failed", hiding the
// lease someone held on production.
func TestStatusReadsOtherLocksAfterADamagedOne(t *testing.T) {
	f, dir := stPushedFactory(t)
	ctx := context.Background()
	doc := filepath.Join(dir, "production.json")
	if err := os.WriteFile(doc, []byte(strings.ReplaceAll(stStateDoc, `"environment": "dev"`, `"environment": "production"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := statePushRun(ctx, &StatePushOptions{F: f, File: doc}); err != nil {
		t.Fatal(err)
	}
	open := func(context.Context, *config.Resolved) (locker.Locker, error) {
		return oneDamagedLocker{damaged: locker.Key("orders", "dev")}, nil
	}
	out := f.IO.Out.(*bytes.Buffer)
	out.Reset()
	f.Flags.Output = "json"
	if err := statusRun(ctx, &StatusOptions{F: f, OpenLocker: open, Stack: "orders"}); err != nil {
		t.Fatal(err)
	}
	var got StackStatus
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	seen := 0
	for _, e := range got.Environments {
		switch e.Environment {
		case "dev":
			seen++
			if e.Lock != nil || !strings.Contains(e.LockError, "invalid character") {
				t.Errorf("dev: lock %v, lockError %q: want unknown, with the damaged record's error", e.Lock, e.LockError)
			}
		case "production":
			seen++
			if e.Lock == nil || e.Lock.LockedBy != "bob" || e.LockError != "" {
				t.Errorf("production: lock %v, lockError %q: want bob's lease", e.Lock, e.LockError)
			}
		}
	}
	if seen != 2 {
		t.Fatalf("status of dev and production missing: %s", out)
	}
}

// TestStaleLockOfDeadProcess: a lock taken on this host by a process that
// no longer runs is called stale, with the command that removes it (plain
// unlock: it is the caller's own), by status (text and JSON), locks show
// and the error of an operation that finds it; while that process runs,
// none says so.
func TestStaleLockOfDeadProcess(t *testing.T) {
	f, _ := stPushedFactory(t)
	ctx := context.Background()
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	l, err := f.Locker(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	holder := startHolder(t)
	pid := holder.Process.Pid
	who, meta := f.LockIdentity(ctx, cfg, "apply", "")
	// As an older panka recorded it, with its pid only: one that records
	// who it is beyond it is taken over once it ended
	// (TestAcquireLeaseTakesOverEndedHolder).
	meta = heldBy(t, meta, pid, false)
	if _, err := l.TryAcquire(ctx, locker.Info{Key: locker.Key("orders", "dev"), LockedBy: who, Metadata: meta}, time.Hour); err != nil {
		t.Fatal(err)
	}
	check := func(stale bool) {
		t.Helper()
		for _, format := range []string{"text", "json"} {
			out := f.IO.Out.(*bytes.Buffer)
			out.Reset()
			f.Flags.Output = format
			if err := statusRun(ctx, &StatusOptions{F: f, OpenLocker: f.Locker, Stack: "orders", Environment: "dev"}); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("(stale: pid %d no longer runs on this host; panka unlock --stack orders --environment dev removes it)", pid)
			if format == "json" {
				want = `"lockHolderGone": true`
			}
			if got := out.String(); strings.Contains(got, want) != stale {
				t.Errorf("%s status, holder gone %v: want %q shown %v:\n%s", format, stale, want, stale, got)
			}
		}
		for _, format := range []string{"text", "json"} {
			out := f.IO.Out.(*bytes.Buffer)
			out.Reset()
			f.Flags.Output = format
			lo := newLocksOptions(f)
			lo.Stack, lo.Environment = "orders", "dev"
			if err := locksShowRun(ctx, lo); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("Stale:     pid %d no longer runs on this host; panka unlock --stack orders --environment dev removes it", pid)
			if format == "json" {
				want = `"stale": true`
			}
			if got := out.String(); strings.Contains(got, want) != stale {
				t.Errorf("%s locks show, holder gone %v: want %q shown %v:\n%s", format, stale, want, stale, got)
			}
		}
		f.Flags.Output = "text"
		_, err := f.acquireLease(ctx, cfg, "orders", "dev", "apply", "", 0, factoryClock{f})
		if !errors.Is(err, locker.ErrHeld) || exitCode(err) != ExitLocked {
			t.Fatalf("acquire = %v (exit %d), want held, exit 3", err, exitCode(err))
		}
		want := fmt.Sprintf("Process %d that took it on this host is no longer running", pid)
		if strings.Contains(err.Error(), want) != stale {
			t.Errorf("holder gone %v: error %q, want %q shown %v", stale, err, want, stale)
		}
		// A stale lease of one's own needs no --force (unlock releases it);
		// a live one is a run going on: stop it, no --force.
		unlock := fmt.Sprintf("That run is going on now, as process %d on this host", pid)
		if stale {
			unlock = "panka unlock --stack orders --environment dev\n"
		}
		if !strings.Contains(err.Error(), unlock) || strings.Contains(err.Error(), "--force") {
			t.Errorf("error %q does not say how to remove the lock (%q), or says --force", err, unlock)
		}
		if stale {
			// What the error says works.
			uo := &UnlockOptions{LocksOptions: *newLocksOptions(f), Identity: func(context.Context) (string, string) { return who, meta.Hostname }}
			uo.Stack, uo.Environment = "orders", "dev"
			if err := unlockRun(ctx, uo); err != nil {
				t.Errorf("plain unlock of the stale lease: %v", err)
			}
		}
	}
	check(false)
	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	check(true)
}

// TestSilentLockOfLiveProcess: a lease taken on this host by a process
// that still runs but has not renewed it for many heartbeats (suspended
// with Ctrl-Z, a closed laptop lid, hung) is not "most likely dead" (README:
// that is said of leases from other machines): status (text and JSON),
// locks show and the error of an operation that finds it say the process
// still runs, stopped, suspended or hung, and do not send the user to
// unlock --force first.
func TestSilentLockOfLiveProcess(t *testing.T) {
	f, _ := stPushedFactory(t)
	ctx := context.Background()
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	l, err := f.Locker(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	holder := startHolder(t)
	pid := holder.Process.Pid
	who, meta := f.LockIdentity(ctx, cfg, "apply", "")
	meta = heldBy(t, meta, pid, true)
	if _, err := l.TryAcquire(ctx, locker.Info{Key: locker.Key("orders", "dev"), LockedBy: who, Metadata: meta}, time.Hour); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(15 * time.Minute) // silent, not expired
	f.Now = func() time.Time { return later }
	out := f.IO.Out.(*bytes.Buffer)
	for format, want := range map[string]string{
		"text": fmt.Sprintf(", but pid %d still runs on this host: stopped, suspended or hung; it goes on deploying when it resumes)", pid),
		"json": `"lockHolderRuns": true`,
	} {
		out.Reset()
		f.Flags.Output = format
		if err := statusRun(ctx, &StatusOptions{F: f, OpenLocker: f.Locker, Stack: "orders", Environment: "dev"}); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		if !strings.Contains(got, want) {
			t.Errorf("%s status does not say %q:\n%s", format, want, got)
		}
		for _, not := range []string{"most likely dead", "lockSilentSeconds", "--force"} {
			if strings.Contains(got, not) {
				t.Errorf("%s status of a live holder says %q:\n%s", format, not, got)
			}
		}
	}
	out.Reset()
	f.Flags.Output = "text"
	lo := newLocksOptions(f)
	lo.Stack, lo.Environment = "orders", "dev"
	if err := locksShowRun(ctx, lo); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), fmt.Sprintf("but pid %d still runs on this host: stopped, suspended or hung", pid); !strings.Contains(got, want) || strings.Contains(got, "most likely dead") {
		t.Errorf("locks show: want %q and not 'most likely dead':\n%s", want, got)
	}
	_, err = f.acquireLease(ctx, cfg, "orders", "dev", "apply", "", 0, factoryClock{f})
	if !errors.Is(err, locker.ErrHeld) || exitCode(err) != ExitLocked {
		t.Fatalf("acquire = %v (exit %d), want held, exit 3", err, exitCode(err))
	}
	for _, want := range []string{fmt.Sprintf("but process %d that took it on this host still runs (stopped, suspended or hung)", pid),
		fmt.Sprintf("kill %d", pid), "panka unlock --stack orders --environment dev\n"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "most likely dead") {
		t.Errorf("error %q calls a running holder most likely dead", err)
	}
}

// TestStaleLockUnlockCommand: status, locks show and the error of an
// operation that finds a stale lease suggest the least forceful unlock
// that removes it: plain unlock for the caller's own lease, --force (and
// why) for someone else's, and the command suggested works.
func TestStaleLockUnlockCommand(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		owner string // "": the caller
		force bool
	}{
		{"own lease", "", false},
		{"someone else's", "alice@example.com", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := stPushedFactory(t)
			cfg, err := f.Config()
			if err != nil {
				t.Fatal(err)
			}
			l, err := f.Locker(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			who, meta := f.LockIdentity(ctx, cfg, "apply", "")
			owner := tc.owner
			if owner == "" {
				owner = who
			}
			holder := startHolder(t)
			// Pid only, as an older panka: not taken over, so stale.
			meta = heldBy(t, meta, holder.Process.Pid, false)
			if err := holder.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = holder.Wait()
			if _, err := l.TryAcquire(ctx, locker.Info{Key: locker.Key("orders", "dev"), LockedBy: owner, Metadata: meta}, time.Hour); err != nil {
				t.Fatal(err)
			}
			cmd := "panka unlock --stack orders --environment dev"
			if tc.force {
				cmd += " --force"
			}
			why := fmt.Sprintf("(--force: it was taken by %s, not by you (%s), and plain unlock removes only your own lease)", owner, who)

			out := f.IO.Out.(*bytes.Buffer)
			f.Flags.Output = "text"
			out.Reset()
			if err := statusRun(ctx, &StatusOptions{F: f, OpenLocker: f.Locker, Stack: "orders", Environment: "dev"}); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("(stale: pid %d no longer runs on this host; %s removes it)\n", meta.PID, cmd)
			if tc.force {
				want = fmt.Sprintf("(stale: pid %d no longer runs on this host; %s removes it %s)\n", meta.PID, cmd, why)
			}
			if got := out.String(); !strings.Contains(got, want) {
				t.Errorf("status does not say %q:\n%s", want, got)
			}

			out.Reset()
			lo := newLocksOptions(f)
			lo.Stack, lo.Environment = "orders", "dev"
			if err := locksShowRun(ctx, lo); err != nil {
				t.Fatal(err)
			}
			want = fmt.Sprintf("Stale:     pid %d no longer runs on this host; %s removes it\n", meta.PID, cmd)
			if tc.force {
				want = fmt.Sprintf("Stale:     pid %d no longer runs on this host; %s removes it %s\n", meta.PID, cmd, why)
			}
			if got := out.String(); !strings.Contains(got, want) {
				t.Errorf("locks show does not say %q:\n%s", want, got)
			}

			_, err = f.acquireLease(ctx, cfg, "orders", "dev", "apply", "", 0, factoryClock{f})
			want = "Remove it with:\n  " + cmd + "\n"
			if tc.force {
				want = "Remove it with:\n  " + cmd + " " + why + "\n"
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("acquire: error %v, want it to say %q", err, want)
			}

			// Plain unlock works exactly when it is suggested.
			uo := &UnlockOptions{LocksOptions: *newLocksOptions(f), Identity: func(context.Context) (string, string) { return who, meta.Hostname }}
			uo.Stack, uo.Environment = "orders", "dev"
			err = unlockRun(ctx, uo)
			if tc.force {
				if !errors.Is(err, locker.ErrHeld) {
					t.Fatalf("plain unlock of someone else's stale lease: %v, want it refused as held", err)
				}
				uo.Force, uo.Yes = true, true
				err = unlockRun(ctx, uo)
			}
			if err != nil {
				t.Fatalf("the suggested unlock: %v", err)
			}
			if _, err := l.Get(ctx, locker.Key("orders", "dev")); !errors.Is(err, locker.ErrNotFound) {
				t.Fatalf("lease after the suggested unlock: %v, want none", err)
			}
		})
	}
}

// oneStackStore fails List: a command about one stack must not walk every
// stack of the store (thousands in a monorepo, a listing each on S3).
type oneStackStore struct {
	statestore.Store
	t *testing.T
}

func (s oneStackStore) List(context.Context) ([]statestore.Key, error) {
	s.t.Error("List called: status of one stack walked the whole store")
	return nil, errors.New("List called")
}

// TestStatusListsOnlyItsStack: status finds the deployed environments of
// its stack with ListStack, not by listing the whole store.
func TestStatusListsOnlyItsStack(t *testing.T) {
	f, _ := stLocalFactory(t)
	ctx := context.Background()
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	local, err := f.Store(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	seedStates(t, local, 3, 2, "3333333333333333333333333333333333333333")
	out := f.IO.Out.(*bytes.Buffer)
	f.Flags.Output = "json"
	opts := &StatusOptions{F: f, Stack: "s001", OpenStore: func(context.Context, *config.Resolved) (statestore.Store, error) {
		return oneStackStore{Store: local, t: t}, nil
	}}
	if err := statusRun(ctx, opts); err != nil {
		t.Fatal(err)
	}
	var st StackStatus
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	var envs []string
	for _, e := range st.Environments {
		envs = append(envs, e.Environment+":"+e.Status)
	}
	if want := "[e0:deployed e1:deployed]"; fmt.Sprint(envs) != want {
		t.Fatalf("status environments = %v, want %s", envs, want)
	}
}

// TestRunAt: status names a run by its commit in words that fit the
// operation, and never prints a placeholder for a run outside git.
func TestRunAt(t *testing.T) {
	sha := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		op, commit, want string
	}{
		{"apply", sha, "apply of 0123456789ab"},
		{"rollback", sha, "rollback of 0123456789ab"},
		{"destroy", sha, "destroy at 0123456789ab"},
		{"destroy", "", "destroy"},
		{"apply", "", "apply"},
	}
	for _, tt := range tests {
		if got := runAt(tt.op, tt.commit); got != tt.want {
			t.Errorf("runAt(%q, %q) = %q, want %q", tt.op, tt.commit, got, tt.want)
		}
	}
}

// stPushedFactory is stLocalFactory with stStateDoc pushed as state.
func stPushedFactory(t *testing.T) (*Factory, string) {
	t.Helper()
	f, dir := stLocalFactory(t)
	doc := filepath.Join(dir, "s.json")
	if err := os.WriteFile(doc, []byte(stStateDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := statePushRun(context.Background(), &StatePushOptions{F: f, File: doc}); err != nil {
		t.Fatal(err)
	}
	return f, dir
}

// TestStatusShowsUnreadableEnvironment: one environment whose state.json
// is corrupt (edited by hand, truncated) no longer hides the status of the
// others. It is shown as unreadable, its error (naming the object and the
// repair) goes to stderr, and the exit status is 1, as for state list.
func TestStatusShowsUnreadableEnvironment(t *testing.T) {
	e := newSTEnv(t)
	doc := e.writeFile("s.json", stStateDoc)
	for _, env := range []string{"dev", "prod", "prod-eu"} {
		e.ok(nil, "state", "push", doc, "--stack", "orders", "--environment", env, "--force")
	}
	obj := "stacks/orders/prod/state.json"
	if _, err := testserver.S3Client(t).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(obj),
		Body: strings.NewReader(`{"schemaVersion": 1, "serial": 3, "stack": "orders",`)}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e.run(nil, "status", "--stack", "orders")
	if code != ExitError {
		t.Errorf("exit %d, want %d", code, ExitError)
	}
	for _, want := range []string{"orders/dev: deployed (serial 3)", "orders/prod: unreadable", "orders/prod-eu: deployed (serial 3)"} {
		if !strings.Contains(out, want) {
			t.Errorf("status does not show %q:\n%s", want, out)
		}
	}
	for _, want := range []string{"orders/prod: ", "s3://" + e.bucket + "/" + obj, "truncated", "state push --force"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
	out, _, code = e.run(nil, "status", "--stack", "orders", "-o", "json")
	var st StackStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != ExitError {
		t.Fatalf("status -o json: exit %d, %v\n%s", code, err, out)
	}
	var got []string
	for _, env := range st.Environments {
		got = append(got, fmt.Sprintf("%s:%s:%t", env.Environment, env.Status, env.Error != ""))
	}
	if want := "[dev:deployed:false prod:unreadable:true prod-eu:deployed:false]"; fmt.Sprint(got) != want {
		t.Errorf("status -o json environments = %v, want %s", got, want)
	}
}

// TestStatusShowsMissingState: an environment whose state.json was deleted
// (by hand, a lifecycle rule) while its history was not is "state missing",
// with the newest record and the restore to do first, not "not deployed"
// with "panka apply deploys it": what it deployed may still run. After a
// successful destroy there is nothing running: that stays "not deployed".
func TestStatusShowsMissingState(t *testing.T) {
	e := newSTEnv(t)
	ctx := context.Background()
	c := testserver.S3Client(t)
	store, err := s3store.New(c, s3store.Options{Bucket: e.bucket})
	if err != nil {
		t.Fatal(err)
	}
	doc := e.writeFile("s.json", stStateDoc)
	// The environments are in the work tree (their states are gone).
	if err := os.MkdirAll(filepath.Join(e.dir, "stacks", "orders", "environments"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.writeFile("stacks/orders/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: orders\nspec: {}\n")
	for _, env := range []string{"dev", "prod"} {
		e.writeFile("stacks/orders/environments/"+env+".yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: "+env+"\nspec: {}\n")
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct{ env, op string }{{"dev", statestore.OpApply}, {"prod", statestore.OpDestroy}} {
		e.ok(nil, "state", "push", doc, "--stack", "orders", "--environment", tc.env, "--force")
		key := statestore.Key{Stack: "orders", Environment: tc.env}
		if err := store.AppendHistory(ctx, key, &statestore.Deployment{ID: "r7", Serial: 7, Operation: tc.op, User: "alice",
			Commit: "abcdef0123456789abcdef0123456789abcdef01", Result: statestore.ResultSucceeded, StartedAt: at, EndedAt: at}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(statestore.StatePath("", key))}); err != nil {
			t.Fatal(err)
		}
	}
	out := e.ok(nil, "status", "--stack", "orders")
	for _, want := range []string{
		"orders/dev: state missing\n",
		"state.json is missing, but history records deployments up to serial 7 (apply of abcdef012345 succeeded, ",
		"by alice): it was deleted or lost, so what they deployed may still run; restore it before deploying (an earlier object version where the S3 bucket keeps them, a backup of .panka/state for the local backend, or `panka state push --force FILE` with a copy)",
		"orders/prod: not deployed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "panka apply deploys it") {
		t.Errorf("status suggests apply for a lost state:\n%s", out)
	}
	var st StackStatus
	if err := json.Unmarshal([]byte(e.ok(nil, "status", "--stack", "orders", "--environment", "dev", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if m := st.Environments[0].Missing; st.Environments[0].Status != "state missing" || m == nil || m.Serial != 7 || m.User != "alice" {
		t.Errorf("status -o json: %+v", st.Environments[0])
	}
}

// TestAge: status said "deployed ... 1 seconds ago" and "lock: held by
// ..., apply since 1 seconds ago" for a run that had just started.
func TestAge(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{
		{-time.Second, "just now"},
		{0, "0 seconds ago"},
		{1500 * time.Millisecond, "1 second ago"},
		{20 * time.Second, "20 seconds ago"},
		{61 * time.Second, "1 minute ago"},
		{3 * time.Hour, "3 hours ago"},
		{72 * time.Hour, "3 days ago"},
	} {
		if got := age(now, now.Add(-tc.ago)); got != tc.want {
			t.Errorf("age(%s ago) = %q, want %q", tc.ago, got, tc.want)
		}
	}
}

// serverTimeLocker holds one lease whose times follow its lock server's
// clock (now), as the DynamoDB and S3 lockers' do.
type serverTimeLocker struct {
	locker.Locker
	info locker.Info
	now  time.Time
}

func (l serverTimeLocker) Get(context.Context, string) (locker.Info, error) { return l.info, nil }
func (l serverTimeLocker) Now() time.Time                                   { return l.now }

// TestStatusLockAgeFollowsTheServerClock: lease times follow the lock
// server's clock; status showed their age with this host's, so a host
// two hours ahead said "since 2 hours ago" of a lease taken five minutes
// ago (while it called the lease alive, by the server's clock).
func TestStatusLockAgeFollowsTheServerClock(t *testing.T) {
	f, _ := stPushedFactory(t)
	ctx := context.Background()
	server := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Now = func() time.Time { return server.Add(2 * time.Hour) }
	lk := serverTimeLocker{now: server, info: locker.Info{
		Key: locker.Key("orders", "dev"), ID: "l1", LockedBy: "ci@example.com",
		LockedAt: server.Add(-5 * time.Minute), LastHeartbeat: server.Add(-10 * time.Second), ExpiresAt: server.Add(10 * time.Minute),
		Metadata: locker.Metadata{Hostname: "runner-7", PID: 42, Operation: "apply"},
	}}
	open := func(context.Context, *config.Resolved) (locker.Locker, error) { return lk, nil }
	out := f.IO.Out.(*bytes.Buffer)
	out.Reset()
	f.Flags.Output = "text"
	if err := statusRun(ctx, &StatusOptions{F: f, OpenLocker: open, Stack: "orders", Environment: "dev"}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.Contains(got, "lock:      held by ci@example.com on runner-7 (pid 42), apply since 5 minutes ago\n") {
		t.Errorf("status does not age the lease by the server's clock:\n%s", got)
	}
}

// TestStatusPartialDeploymentWording: the HEAD line of a partial
// deployment (--target-component) said "only web of that commit were
// deployed" for one component.
func TestStatusPartialDeploymentWording(t *testing.T) {
	changed := true
	for _, tt := range []struct {
		targets []string
		want    string
	}{
		{[]string{"web"}, "; only web of that commit was deployed (--target-component)"},
		{[]string{"web", "worker"}, "; only web, worker of that commit were deployed (--target-component)"},
	} {
		var b bytes.Buffer
		writeStatusChange(&b, "shop", &EnvStatus{Environment: "dev", Changed: &changed, Deployed: &StatusDeployment{TargetComponents: tt.targets}})
		if !strings.HasPrefix(b.String(), tt.want) {
			t.Errorf("%v: got %q, want it to start with %q", tt.targets, b.String(), tt.want)
		}
	}
}
