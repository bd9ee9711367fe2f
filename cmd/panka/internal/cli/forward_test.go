package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"panka.dev/panka/deployer/deploy"
	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/statestore"
)

// TestForwardOnlyAfterSquashMerge: a branch deployed (a preview) and then
// squash-merged leaves its commit on no branch of the mainline, and apply
// --forward-only of main refused every later deploy as diverged from it.
// A deploy of the default branch now comes after the default branch's own
// last deployment, replacing the branch deployment (with a warning); an
// older main commit still skips, and a commit of another branch is still
// refused. Both engines.
func TestForwardOnlyAfterSquashMerge(t *testing.T) {
	r := gittest.New(t)
	r.Write("stacks/shop/stack.yaml", "a: 1\n")
	c0 := r.Commit("c0")
	r.Write("stacks/shop/stack.yaml", "a: 2\n")
	c1 := r.Commit("c1")
	r.Git("checkout", "-q", "-b", "feature")
	r.Write("stacks/shop/stack.yaml", "a: 3\n")
	f := r.Commit("feature work")
	r.Git("checkout", "-q", "-b", "other", c1.String())
	r.Write("stacks/shop/other.yaml", "b: 1\n")
	other := r.Commit("other work")
	r.Git("checkout", "-q", "main")
	r.Git("merge", "-q", "--squash", "feature")
	squash := r.Commit("feature (squashed)")
	r.Git("branch", "-q", "-D", "feature")

	key := statestore.Key{Stack: "shop", Environment: "dev"}
	rec := func(serial int64, commit, ref string) *statestore.Deployment {
		return &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: fmt.Sprint(serial), Serial: serial, Stack: key.Stack,
			Environment: key.Environment, Operation: statestore.OpApply, Commit: commit, Ref: ref, Result: statestore.ResultSucceeded}
	}
	main1 := rec(1, c1.String(), "main")
	branch := rec(2, f.String(), "feature")
	gone := rec(2, "0123456789abcdef0123456789abcdef01234567", "feature") // not in this clone
	goneNoRef := rec(2, gone.Commit, "")                                  // nor its branch named
	// 150 branch deployments since main's last one: past the window of
	// 100 records the check once read (it refused: "none of the 100
	// deployments before it is of main").
	manyBranch := []*statestore.Deployment{}
	for n := int64(151); n >= 2; n-- {
		manyBranch = append(manyBranch, rec(n, f.String(), "feature"))
	}
	manyBranch = append(manyBranch, main1)
	for _, tc := range []struct {
		name     string
		applied  gitops.Hash
		deployed *statestore.Deployment
		earlier  []*statestore.Deployment
		want     string // "" deploys; "skip" is an olderCommitError; else in the refusal
		warn     string
	}{
		{"squash merge after a branch deployment", squash, branch, []*statestore.Deployment{branch, main1}, "", "which is not on the default branch main (a branch deployment, since squash-merged or not merged); --forward-only placed this apply of " + squash.String()[:12] + " after deployment 1 of main's commit " + c1.String()[:12]},
		{"branch commit gone from the clone", squash, gone, []*statestore.Deployment{gone, main1}, "", "deployed from branch feature"},
		{"older main commit than main's last deployment", c0, branch, []*statestore.Deployment{branch, main1}, "skip", ""},
		{"only branch deployments so far", squash, branch, []*statestore.Deployment{branch}, "", "no deployment of main comes before it"},
		{"another branch's commit", other, branch, []*statestore.Deployment{branch, main1}, "which has 1 commit that", ""},
		{"main's last deployment 150 records back", squash, manyBranch[0], manyBranch, "", "after deployment 1 of main's commit " + c1.String()[:12]},
		{"gone, no branch recorded", squash, goneNoRef, []*statestore.Deployment{goneNoRef, main1}, "which this clone does not have", ""},
	} {
		for _, m := range []struct {
			name string
			opts gitops.Options
		}{{"git-binary", gitops.Options{}}, {"go-git", gitops.Options{NoGitBinary: true}}} {
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				repo, err := gitops.Open(r.Dir, m.opts)
				if err != nil {
					t.Fatal(err)
				}
				defer repo.Close()
				var warned []string
				hist := forwardHistory{
					earlier: &historyPages{store: historyStore(t, tc.earlier), key: historyKey},
					warn:    func(format string, args ...any) { warned = append(warned, fmt.Sprintf(format, args...)) },
				}
				err = checkForward(context.Background(), repo, key, deploy.Source{Commit: tc.applied.String()}, &statestore.State{LastSuccessful: tc.deployed}, "apply without --forward-only", hist)
				var older *olderCommitError
				switch {
				case tc.want == "" && err != nil:
					t.Fatalf("refused: %v", err)
				case tc.want == "skip" && !errors.As(err, &older):
					t.Fatalf("got %v, want a skip (older commit)", err)
				case tc.want != "" && tc.want != "skip" && (err == nil || !strings.Contains(err.Error(), tc.want)):
					t.Fatalf("got %v, want a refusal with %q", err, tc.want)
				}
				if tc.warn != "" && (len(warned) != 1 || !strings.Contains(warned[0], tc.warn)) {
					t.Errorf("warnings %q, want one with %q", warned, tc.warn)
				}
				if tc.warn == "" && len(warned) > 0 {
					t.Errorf("warned %q", warned)
				}
			})
		}
	}
}

// TestForwardOnlyAfterRollbackFarBack: the commits a rollback took out stay
// out of apply --forward-only (skipped) however the history goes on after
// it: the rolled-back-to commit applied again (a pipeline of that commit
// that waited for the lock while the rollback ran, recorded as an apply
// with no changes: the check saw an apply, not a rollback, and deployed
// the bad commit again), or a rollback before the one that runs further
// back than the newest 100 records (failed runs in between: the check read
// those 100 only). A commit made after them (the fix) still deploys, and
// a plain apply after apply reads a few records, not the history.
func TestForwardOnlyAfterRollbackFarBack(t *testing.T) {
	r := gittest.New(t)
	r.Write("stacks/shop/stack.yaml", "a: 1\n")
	good := r.Commit("good")
	r.Write("stacks/shop/stack.yaml", "a: 2\n")
	mid := r.Commit("mid")
	r.Write("stacks/shop/stack.yaml", "a: 3\n")
	bad := r.Commit("bad")
	r.Write("stacks/shop/stack.yaml", "a: 4\n")
	fix := r.Commit("fix")
	rec := func(serial int64, op string, commit gitops.Hash, result string) *statestore.Deployment {
		return &statestore.Deployment{Serial: serial, Operation: op, Commit: commit.String(), Result: result}
	}
	rollback := func(serial int64, from, to gitops.Hash) *statestore.Deployment {
		d := rec(serial, statestore.OpRollback, to, statestore.ResultSucceeded)
		d.FromCommit, d.ToCommit = from.String(), to.String()
		return d
	}
	// Newest first, as History lists them.
	reapplied := []*statestore.Deployment{
		rec(6, statestore.OpApply, good, statestore.ResultSucceeded),
		rec(5, statestore.OpApply, good, statestore.ResultFailed),
		rec(4, statestore.OpApply, good, statestore.ResultSucceeded),
		rollback(3, bad, good),
		rec(2, statestore.OpApply, bad, statestore.ResultSucceeded),
		rec(1, statestore.OpApply, good, statestore.ResultSucceeded),
	}
	farBack := []*statestore.Deployment{rollback(125, mid, good)}
	for n := int64(124); n >= 4; n-- {
		farBack = append(farBack, rec(n, statestore.OpApply, bad, statestore.ResultFailed))
	}
	farBack = append(farBack, rollback(3, bad, mid), rec(2, statestore.OpApply, bad, statestore.ResultSucceeded), rec(1, statestore.OpApply, good, statestore.ResultSucceeded))
	applied := []*statestore.Deployment{
		rec(3, statestore.OpApply, mid, statestore.ResultSucceeded),
		rec(2, statestore.OpApply, good, statestore.ResultSucceeded),
		rollback(1, bad, good),
	}
	repo, err := gitops.Open(r.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	for _, tc := range []struct {
		name     string
		hist     []*statestore.Deployment
		applied  gitops.Hash
		want     string // "" deploys; else in the skip
		maxReads int
	}{
		{"bad commit after the rolled-back-to one was applied again", reapplied, bad, "it runs commit " + good.String()[:12] + " (deployment 6), which a rollback (deployment 3) from commit " + bad.String()[:12] + " put back, and " + bad.String()[:12] + " is the commit it rolled back from", 0},
		{"commit in between after the rolled-back-to one was applied again", reapplied, mid, "is one of the commits that rollback took out", 0},
		{"fix after the rolled-back-to one was applied again", reapplied, fix, "", 0},
		{"rollback before the one that runs, 120 records back", farBack, bad, "is one of the commits rollback 3 before it (from commit " + bad.String()[:12] + ") took out", 0},
		{"fix after rollbacks far back", farBack, fix, "", 0},
		{"apply after apply", applied, fix, "", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := historyStore(t, tc.hist)
			d := *tc.hist[0]
			d.Stack, d.Environment = historyKey.Stack, historyKey.Environment
			hist := forwardHistory{earlier: &historyPages{store: store, key: historyKey, first: 4}, warn: func(format string, args ...any) { t.Errorf("warned: "+format, args...) }}
			err := checkForward(context.Background(), repo, historyKey, deploy.Source{Commit: tc.applied.String()}, &statestore.State{LastSuccessful: &d}, "apply without --forward-only", hist)
			var older *olderCommitError
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (!errors.As(err, &older) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want a skip with %q", err, tc.want)
			}
			if tc.maxReads > 0 && store.read > tc.maxReads {
				t.Errorf("read %d history records, want at most %d", store.read, tc.maxReads)
			}
		})
	}
}

// TestForwardOnlyAfterDestroy: a commit removed an environment file and its
// pipeline destroyed the environment; the pipeline of an older commit (that
// still had the file), late or waiting for the lock while the destroy ran,
// deployed it all again with --forward-only: nothing was deployed, so
// nothing was checked. An older commit than the destroy's is skipped now;
// the destroy's own commit, a newer one and one the clone cannot place
// still deploy.
func TestForwardOnlyAfterDestroy(t *testing.T) {
	r := gittest.New(t)
	r.Write("stacks/shop/stack.yaml", "a: 1\n")
	old := r.Commit("old")
	r.Write("stacks/shop/stack.yaml", "a: 2\n")
	destroyedAt := r.Commit("remove dev")
	r.Write("stacks/shop/stack.yaml", "a: 3\n")
	newer := r.Commit("dev again")
	repo, err := gitops.Open(r.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	destroyed := func(commit string) *statestore.State {
		d := &statestore.Deployment{Serial: 2, Operation: statestore.OpDestroy, Commit: commit, Result: statestore.ResultSucceeded}
		return &statestore.State{Status: statestore.StatusDestroyed, LastSuccessful: d, LastDeployment: d}
	}
	for _, tc := range []struct {
		name    string
		st      *statestore.State
		applied gitops.Hash
		want    string // "" deploys; else in the skip
	}{
		{"older commit", destroyed(destroyedAt.String()), old, "it was destroyed (deployment 2) at commit " + destroyedAt.String()[:12] + ", which is newer than " + old.String()[:12] + " (one of its ancestors), so deploying it would undo that destroy"},
		{"the destroy's commit", destroyed(destroyedAt.String()), destroyedAt, ""},
		{"newer commit", destroyed(destroyedAt.String()), newer, ""},
		{"destroyed at a commit the clone lacks", destroyed("0123456789abcdef0123456789abcdef01234567"), old, ""},
		{"never deployed", nil, old, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkForward(context.Background(), repo, historyKey, deploy.Source{Commit: tc.applied.String()}, tc.st, "apply without --forward-only", forwardHistory{})
			var older *olderCommitError
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (!errors.As(err, &older) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want a skip with %q", err, tc.want)
			}
		})
	}
}

// TestStateFromHistoryPastFailures: with state.json gone, apply
// --forward-only takes the newest successful record for the deployed one.
// It looked among the newest 20 records only: 30 failed runs after the
// last success read as "nothing deployed", and any commit went through.
// It reads back to that record now, and not past it.
func TestStateFromHistoryPastFailures(t *testing.T) {
	ctx := context.Background()
	var hist []*statestore.Deployment
	for n := int64(40); n >= 11; n-- {
		hist = append(hist, &statestore.Deployment{Serial: n, Operation: statestore.OpApply, Commit: fmt.Sprintf("%040x", n), Result: statestore.ResultFailed})
	}
	for n := int64(10); n >= 1; n-- {
		hist = append(hist, &statestore.Deployment{Serial: n, Operation: statestore.OpApply, Commit: fmt.Sprintf("%040x", n), Result: statestore.ResultSucceeded})
	}
	store := historyStore(t, hist)
	st, err := stateFromHistory(ctx, store, historyKey)
	if err != nil || st == nil || st.LastSuccessful == nil || st.LastSuccessful.Serial != 10 {
		t.Fatalf("state from history: %+v, %v; want the record of serial 10", st, err)
	}
	if store.read >= len(hist) {
		t.Errorf("read %d of %d records: the whole history", store.read, len(hist))
	}
	// Only failures: nothing deployed.
	st, err = stateFromHistory(ctx, historyStore(t, hist[:30]), historyKey)
	if err != nil || st != nil {
		t.Errorf("state from a history of failures: %+v, %v; want none", st, err)
	}
}
