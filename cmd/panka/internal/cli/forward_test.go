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
					earlier: func(context.Context) ([]*statestore.Deployment, error) { return tc.earlier, nil },
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
