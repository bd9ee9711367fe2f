package gitops_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/gittest"
)

// TestMergeBaseRandomHistories compares the merge-base of random commit
// pairs of random histories — merges of up to three parents, criss-cross
// merges, committer dates out of order (clock skew), two unrelated roots —
// as git gives it (`git merge-base --all`, the smallest id) with both
// engines' answers.
func TestMergeBaseRandomHistories(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rnd := rand.New(rand.NewSource(seed))
			g := gittest.New(t)
			empty := g.Git("hash-object", "-t", "tree", "-w", "--stdin")
			var commits []string
			date := int64(1700000000)
			for i := 0; i < 120; i++ {
				args := []string{"commit-tree", empty, "-m", fmt.Sprint("c", i)}
				if i > 0 && i != 60 { // 0 and 60 are roots
					n := 1 + rnd.Intn(3)
					if rnd.Intn(3) > 0 {
						n = 1
					}
					seen := map[string]bool{}
					for j := 0; j < n; j++ {
						// mostly recent commits, sometimes far back
						k := len(commits) - 1 - rnd.Intn(min(len(commits), 6))
						if rnd.Intn(5) == 0 {
							k = rnd.Intn(len(commits))
						}
						if !seen[commits[k]] {
							seen[commits[k]] = true
							args = append(args, "-p", commits[k])
						}
					}
				}
				date += int64(rnd.Intn(100))
				d := date
				if rnd.Intn(8) == 0 {
					d -= int64(rnd.Intn(5000)) // skew: older than its parents
				}
				cmd := exec.Command("git", args...)
				cmd.Dir = g.Dir
				cmd.Env = append(cmd.Environ(), fmt.Sprintf("GIT_COMMITTER_DATE=%d +0000", d), fmt.Sprintf("GIT_AUTHOR_DATE=%d +0000", d))
				out, err := cmd.Output()
				if err != nil {
					t.Fatal(err)
				}
				commits = append(commits, strings.TrimSpace(string(out)))
			}
			// The checks, without a commit-graph, with one that holds only the
			// older commits (the rest are read from objects), and with a split
			// graph chain of two files.
			check := func(label string, wantGraph bool) {
				t.Helper()
				engines := map[string]*gitops.Repo{}
				for _, m := range modes {
					engines[m.name] = open(t, g.Dir, m.opts)
				}
				if got := engines["go-git"].UsesCommitGraph(); got != wantGraph {
					t.Fatalf("%s: UsesCommitGraph = %v", label, got)
				}
				ctx := context.Background()
				several, walked, left := 0, 0, 0
				for i := 0; i < 150; i++ {
					a, b := commits[rnd.Intn(len(commits))], commits[rnd.Intn(len(commits))]
					if a == b {
						continue
					}
					cmd := exec.Command("git", "merge-base", "--all", a, b)
					cmd.Dir = g.Dir
					out, _ := cmd.Output()
					bases := strings.Fields(string(out))
					sort.Strings(bases)
					if len(bases) > 1 {
						several++
					}
					// The pure Go walk answers alone only when it finds one
					// merge-base, and then git's.
					if got, ok := engines["go-git"].PaintDown(plumbing.NewHash(a), plumbing.NewHash(b)); ok {
						walked++
						if len(bases) != 1 || got.String() != bases[0] {
							t.Errorf("%s: paintDown(%.7s, %.7s) = %s; git says %v", label, a, b, got, bases)
						}
					} else if len(bases) == 1 {
						left++
					}
					for name, r := range engines {
						got, err := r.MergeBase(ctx, plumbing.NewHash(a), plumbing.NewHash(b))
						if len(bases) == 0 {
							if err == nil {
								t.Errorf("%s: merge-base(%.7s, %.7s) = %s, want no common ancestor", name, a, b, got)
							}
							continue
						}
						if err != nil || got.String() != bases[0] {
							t.Errorf("%s: merge-base(%.7s, %.7s) = %s, %v; git says %v", name, a, b, got, err, bases)
						}
					}
				}
				// DescendantsOf against git rev-list --ancestry-path, for every
				// commit as a candidate; the history's clock skew (up to
				// 5,000 s) is within the slack, so the answers are exact. With
				// no slack, the commits dated before a stop the walk: fewer
				// are found, never one that is not a descendant.
				all := make([]gitops.Hash, len(commits))
				for i, c := range commits {
					all[i] = plumbing.NewHash(c)
				}
				found := 0
				for i := 0; i < 20; i++ {
					a := commits[rnd.Intn(len(commits))]
					// Every commit is given as a tip: the ancestry path from a
					// to them is every descendant of a.
					cmd := exec.Command("git", append([]string{"rev-list", "--ancestry-path", "^" + a}, commits...)...)
					cmd.Dir = g.Dir
					out, err := cmd.Output()
					if err != nil {
						t.Fatal(err)
					}
					want := toSet(strings.Fields(string(out)))
					found += len(want)
					got, err := engines["go-git"].DescendantsOf(ctx, plumbing.NewHash(a), all, 24*time.Hour)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != len(want) {
						t.Errorf("%s: DescendantsOf(%.7s) found %d commits, git says %d", label, a, len(got), len(want))
					}
					for h := range got {
						if !want[h.String()] {
							t.Errorf("DescendantsOf(%.7s) says %.7s, which git says does not descend from it", a, h)
						}
					}
					strict, err := engines["go-git"].DescendantsOf(ctx, plumbing.NewHash(a), all, 0)
					if err != nil {
						t.Fatal(err)
					}
					for h := range strict {
						if !want[h.String()] {
							t.Errorf("DescendantsOf(%.7s, no slack) says %.7s, which git says does not descend from it", a, h)
						}
					}
				}
				if found == 0 {
					t.Error("no sampled commit has descendants: the DescendantsOf checks checked nothing")
				}
				t.Logf("%s: %d pairs with several merge-bases; the walk answered %d pairs, left %d with one merge-base to go-git; %d descendants found", label, several, walked, left, found)
				if walked < 3*left || walked < 50 {
					t.Errorf("%s: the walk answered only %d pairs and left %d to go-git", label, walked, left)
				}
			}
			check("no commit-graph", false)
			graph := func(args []string, commits []string) {
				cmd := exec.Command("git", append([]string{"commit-graph", "write", "--stdin-commits"}, args...)...)
				cmd.Dir = g.Dir
				cmd.Stdin = strings.NewReader(strings.Join(commits, "\n") + "\n")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("git commit-graph write: %v\n%s", err, out)
				}
			}
			graph(nil, commits[:80])
			check("commit-graph of 80 commits", true)
			os.RemoveAll(filepath.Join(g.Dir, ".git", "objects", "info", "commit-graph"))
			graph([]string{"--split=no-merge"}, commits[:50])
			graph([]string{"--split=no-merge"}, commits)
			check("split commit-graph chain", true)
		})
	}
}

func toSet(xs []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// TestCommitGraphNotTrusted: as git, history walks do not read a
// commit-graph where parents differ from what it records (replace refs,
// grafts) or end early (a shallow clone).
func TestCommitGraphNotTrusted(t *testing.T) {
	g := gittest.New(t)
	for i := 0; i < 4; i++ {
		g.Write("a", fmt.Sprint(i))
		g.Commit(fmt.Sprint("c", i))
	}
	g.Git("commit-graph", "write", "--reachable")
	if !open(t, g.Dir, gitops.Options{}).UsesCommitGraph() {
		t.Fatal("the commit-graph is not read")
	}
	shallow := filepath.Join(t.TempDir(), "shallow")
	g.Git("clone", "-q", "--depth", "2", "file://"+g.Dir, shallow)
	cmd := exec.Command("git", "commit-graph", "write", "--reachable")
	cmd.Dir = shallow
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if open(t, shallow, gitops.Options{}).UsesCommitGraph() {
		t.Error("a shallow clone's commit-graph is read")
	}
	g.Git("replace", g.Git("rev-parse", "HEAD~1"), g.Git("rev-parse", "HEAD~2"))
	if open(t, g.Dir, gitops.Options{}).UsesCommitGraph() {
		t.Error("the commit-graph is read with a replace ref")
	}
	g.Git("pack-refs", "--all")
	if open(t, g.Dir, gitops.Options{}).UsesCommitGraph() {
		t.Error("the commit-graph is read with a packed replace ref")
	}
}

// TestMergeBaseAtShallowBoundary: in a shallow clone whose branches fork at
// the commit where the clone is cut off (git clone --depth 2
// --no-single-branch, a branch one commit past its fork point), that
// boundary commit is their merge-base, as git merge-base answers there.
// go-git alone read the boundary's parents, which the clone lacks, and
// said the histories meet below the cut: panka changed on the branch
// failed with PANKA_GIT_BINARY=false, where the git binary listed the
// change.
func TestMergeBaseAtShallowBoundary(t *testing.T) {
	g := gittest.New(t)
	g.Write("a", "0")
	g.Commit("c0")
	g.Write("a", "1")
	fork := g.Commit("fork")
	g.Git("checkout", "-q", "-b", "feat")
	g.Write("b", "feat")
	feat := g.Commit("feat")
	g.Git("checkout", "-q", "main")
	g.Write("a", "2")
	main := g.Commit("main")
	shallow := filepath.Join(t.TempDir(), "shallow")
	g.Git("clone", "-q", "--depth", "2", "--no-single-branch", "file://"+g.Dir, shallow)
	for _, m := range modes {
		repo := open(t, shallow, m.opts)
		if sh, _ := repo.IsShallow(); !sh {
			t.Fatal("not a shallow clone")
		}
		for _, p := range [][2]gitops.Hash{{feat, main}, {main, feat}} {
			mb, err := repo.MergeBase(context.Background(), p[0], p[1])
			if err != nil || mb != fork {
				t.Errorf("%s: MergeBase(%s, %s) = %s, %v; want the boundary commit %s", m.name, p[0], p[1], mb, err, fork)
			}
		}
	}
	// Histories that meet below the cut are still an error, on both paths.
	cut := filepath.Join(t.TempDir(), "cut")
	g.Git("clone", "-q", "--depth", "1", "--no-single-branch", "file://"+g.Dir, cut)
	for _, m := range modes {
		if mb, err := open(t, cut, m.opts).MergeBase(context.Background(), feat, main); err == nil {
			t.Errorf("%s: MergeBase below the cut = %s, want an error", m.name, mb)
		}
	}
}
