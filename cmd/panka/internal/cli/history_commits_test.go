package cli

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
)

// countingStore counts the history records History returns, and the calls.
type countingStore struct {
	statestore.Store
	read, calls int
}

func (s *countingStore) History(ctx context.Context, key statestore.Key, offset, limit int) ([]*statestore.Deployment, error) {
	recs, err := s.Store.History(ctx, key, offset, limit)
	s.read += len(recs)
	s.calls++
	return recs, err
}

// TestHistoryBeforeReadsAWindow: history --commits finds the deployment
// before each record of a page without reading the whole history, and finds
// the same one the whole history gives, also across failed deployments and
// at the oldest record.
func TestHistoryBeforeReadsAWindow(t *testing.T) {
	ctx := context.Background()
	s, err := local.New(local.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	const total = 300
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 1; i <= total; i++ {
		d := &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: fmt.Sprint(i), Serial: int64(i), Stack: key.Stack, Environment: key.Environment,
			Operation: statestore.OpApply, Commit: fmt.Sprintf("%040d", i), Result: statestore.ResultSucceeded, StartedAt: base.Add(time.Duration(i) * time.Minute)}
		// Serials 200..259 failed: the record before 260 is 199, 60 records back.
		if i >= 200 && i < 260 {
			d.Result = statestore.ResultFailed
		}
		if err := s.AppendHistory(ctx, key, d); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.History(ctx, key, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		offset, limit, maxRead int
	}{
		{0, 20, 20},  // 300..281: 281 needs 280, in the next 20 (the page is not read again)
		{30, 15, 60}, // 270..256: 256 reaches back to 199 (20, then 40 more records)
		{295, 5, 0},  // the oldest, serial 1, has none: nothing older is there
		{0, 0, 0},    // the whole history: it is the page, not read twice
	} {
		t.Run(fmt.Sprintf("offset=%d,limit=%d", tc.offset, tc.limit), func(t *testing.T) {
			page, err := s.History(ctx, key, tc.offset, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			cs := &countingStore{Store: s}
			window, _, err := historyBefore(ctx, cs, key, page, tc.offset+len(page))
			if err != nil {
				t.Fatal(err)
			}
			if cs.read > tc.maxRead {
				t.Errorf("read %d records for a page of %d at offset %d, want at most %d", cs.read, len(page), tc.offset, tc.maxRead)
			}
			got, err := historyEntries(ctx, nil, nil, page, window)
			if err != nil {
				t.Fatal(err)
			}
			want, err := historyEntries(ctx, nil, nil, page, all)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i].Previous != want[i].Previous {
					t.Fatalf("serial %d: previous %q from the window, %q from the whole history", page[i].Serial, got[i].Previous, want[i].Previous)
				}
			}
			if len(page) > 0 && page[0].Serial == 260 && want[0].Previous != fmt.Sprintf("%040d", 199) {
				t.Fatalf("test setup: previous of 260 is %q, want serial 199's commit", want[0].Previous)
			}
		})
	}
}

// BenchmarkHistoryCommits: `history --commits --limit 0` of a stack
// deployed at every one of 1,000 commits (a record per commit, the first
// deployment bringing in 4,000 commits before them), with the git binary
// and without.
func BenchmarkHistoryCommits(b *testing.B) {
	const before, deployed = 4000, 1000
	dir := b.TempDir()
	git := func(stdin string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("", "init", "-q", "-b", "main")
	var fi strings.Builder
	for i := 1; i <= before+deployed; i++ {
		fmt.Fprintf(&fi, "commit refs/heads/main\nmark :%d\ncommitter Dev <dev@example.com> %d +0000\ndata <<EOF\nchange %d\nEOF\n", i, 1700000000+i*60, i)
		if i > 1 {
			fmt.Fprintf(&fi, "from :%d\n", i-1)
		}
		fmt.Fprintf(&fi, "M 644 inline f.txt\ndata <<EOF\n%d\nEOF\n\n", i)
	}
	git(fi.String(), "fast-import", "--quiet")
	ids := strings.Fields(git("", "rev-list", "--reverse", "main"))
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	var all []*statestore.Deployment
	for i := deployed; i >= 1; i-- {
		all = append(all, &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: fmt.Sprint(i), Serial: int64(i), Stack: key.Stack,
			Environment: key.Environment, Operation: statestore.OpApply, Commit: ids[before+i-1], Result: statestore.ResultSucceeded})
	}
	for _, noGit := range []bool{false, true} {
		b.Run(fmt.Sprintf("no-git-binary=%v", noGit), func(b *testing.B) {
			repo, err := gitops.Open(dir, gitops.Options{NoGitBinary: noGit})
			if err != nil {
				b.Fatal(err)
			}
			defer repo.Close()
			for b.Loop() {
				es, err := historyEntries(context.Background(), repo, nil, all, all)
				if err != nil {
					b.Fatal(err)
				}
				if last := es[len(es)-1]; len(last.Commits) != maxHistoryCommits || last.More != before+1-maxHistoryCommits || len(es[0].Commits) != 1 {
					b.Fatalf("first deployment: %d commits, %d more; last: %d commits", len(last.Commits), last.More, len(es[0].Commits))
				}
			}
		})
	}
}

// TestHistoryHeadlineRollback: a rollback made when nothing was deployed
// (after a destroy) has no "from" commit; its headline read
// "rollback  → abc1234", an arrow from nothing.
func TestHistoryHeadlineRollback(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	to := strings.Repeat("b", 40)
	for _, tc := range []struct {
		from, want string
	}{
		{strings.Repeat("a", 40), "3  2026-01-02 03:04:05Z  rollback aaaaaaa → bbbbbbb  succeeded  by alice"},
		{"", "3  2026-01-02 03:04:05Z  rollback to bbbbbbb  succeeded  by alice"},
	} {
		d := &statestore.Deployment{Serial: 3, Operation: statestore.OpRollback, FromCommit: tc.from, Commit: to,
			StartedAt: at, Result: statestore.ResultSucceeded, User: "alice"}
		if got := historyHeadline(d); got != tc.want {
			t.Errorf("from %q:\n got %q\nwant %q", tc.from, got, tc.want)
		}
	}
}

// TestHistoryCommitsOfTheStack: history --commits listed every commit
// between two deployments, those of other stacks included; it lists those
// that changed the stack's folder or a file it watches (a merge when it
// changed them against its first parent), and counts them all. Both
// engines give the same answer.
func TestHistoryCommitsOfTheStack(t *testing.T) {
	r := gittest.New(t)
	stackFile := func(greeting string) string {
		return "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: shop\nspec:\n  watch: [shared/*.yaml]\n  variables:\n    G: {default: " + greeting + "}\n"
	}
	r.Write("stacks/shop/stack.yaml", stackFile("a"))
	r.Write("stacks/other/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: other\nspec: {}\n")
	c1 := r.Commit("first")
	r.Write("stacks/other/notes.yaml", "x: 1\n")
	r.Commit("other: notes")
	r.Write("stacks/shop/stack.yaml", stackFile("b"))
	r.Commit("shop: greeting b")
	r.Write("shared/common.yaml", "x: 1\n")
	r.Commit("shared: common")
	r.Write("shared/README.md", "read me\n")
	r.Commit("shared: readme")
	r.Git("checkout", "-q", "-b", "feature")
	r.Write("stacks/shop/stack.yaml", stackFile("c"))
	r.Commit("shop: greeting c")
	r.Git("checkout", "-q", "main")
	r.Write("stacks/other/notes.yaml", "x: 2\n")
	r.Commit("other: notes 2")
	r.Git("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
	merged := r.Head()

	key := statestore.Key{Stack: "shop", Environment: "dev"}
	rec := func(serial int64, op string, c gitops.Hash) *statestore.Deployment {
		return &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: fmt.Sprint(serial), Serial: serial, Stack: key.Stack,
			Environment: key.Environment, Operation: op, Commit: c.String(), Result: statestore.ResultSucceeded}
	}
	all := []*statestore.Deployment{rec(3, statestore.OpRollback, c1), rec(2, statestore.OpApply, merged), rec(1, statestore.OpApply, c1)}
	header := &stacks.Header{Ref: stacks.Ref{Name: "shop", Path: "stacks/shop"}, Watch: []string{"shared/*.yaml"}}
	want := []string{"merge feature", "shop: greeting c", "shared: common", "shop: greeting b"}
	subjects := func(cs []HistoryCommit) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Subject)
		}
		slices.Sort(out)
		return out
	}
	slices.Sort(want)
	for _, noGit := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-git-binary=%v", noGit), func(t *testing.T) {
			repo, err := gitops.Open(r.Dir, gitops.Options{NoGitBinary: noGit})
			if err != nil {
				t.Fatal(err)
			}
			defer repo.Close()
			es, err := historyEntries(context.Background(), repo, header, all, all)
			if err != nil {
				t.Fatal(err)
			}
			apply, rollback, first := es[1], es[0], es[2]
			if got := subjects(apply.Commits); !slices.Equal(got, want) || apply.AllCommits != 7 || apply.StackPath != "stacks/shop" || apply.More != 0 {
				t.Errorf("apply of the merge: commits %q of %d (stack path %q, %d more), want %q of 7", got, apply.AllCommits, apply.StackPath, apply.More, want)
			}
			if got := subjects(rollback.Undone); !slices.Equal(got, want) || len(rollback.Commits) != 0 || rollback.AllCommits != 7 {
				t.Errorf("rollback: undone %q, commits %d, of %d; want undone %q of 7", got, len(rollback.Commits), rollback.AllCommits, want)
			}
			if got := subjects(first.Commits); !slices.Equal(got, []string{"first"}) || first.AllCommits != 1 {
				t.Errorf("first deployment: commits %q of %d, want [first] of 1", got, first.AllCommits)
			}
			var out strings.Builder
			writeHistoryCommits(&out, es)
			if !strings.Contains(out.String(), "    (4 of 7 commits in between changed stacks/shop or a file it watches; the rest are not listed)\n") || strings.Contains(out.String(), "other: notes") {
				t.Errorf("text:\n%s", out.String())
			}
			// Without the stack's folder (no longer in the work tree),
			// every commit is listed.
			es, err = historyEntries(context.Background(), repo, nil, all[1:2], all)
			if err != nil {
				t.Fatal(err)
			}
			if len(es[0].Commits) != 7 || es[0].AllCommits != 7 || es[0].StackPath != "" {
				t.Errorf("unfiltered: %d commits of %d (stack path %q), want 7 of 7", len(es[0].Commits), es[0].AllCommits, es[0].StackPath)
			}
		})
	}
}

// TestHistoryCommitsNoneOfTheStack: a deployment of a commit whose commits
// since the deployment before all changed other stacks says so, not "same
// commit as the deployment before".
func TestHistoryCommitsNoneOfTheStack(t *testing.T) {
	r := gittest.New(t)
	r.Write("stacks/shop/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: shop\nspec: {}\n")
	c1 := r.Commit("first")
	r.Write("stacks/other/stack.yaml", "x: 1\n")
	c2 := r.Commit("other")
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	all := []*statestore.Deployment{
		{SchemaVersion: statestore.SchemaVersion, ID: "2", Serial: 2, Stack: key.Stack, Environment: key.Environment, Operation: statestore.OpApply, Commit: c2.String(), Result: statestore.ResultSucceeded},
		{SchemaVersion: statestore.SchemaVersion, ID: "1", Serial: 1, Stack: key.Stack, Environment: key.Environment, Operation: statestore.OpApply, Commit: c1.String(), Result: statestore.ResultSucceeded},
	}
	repo, err := gitops.Open(r.Dir, gitops.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	es, err := historyEntries(context.Background(), repo, &stacks.Header{Ref: stacks.Ref{Name: "shop", Path: "stacks/shop"}}, all[:1], all)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	writeHistoryCommits(&out, es)
	if !strings.Contains(out.String(), "    (the commit in between did not change stacks/shop or a file it watches)\n") || strings.Contains(out.String(), "same commit") {
		t.Errorf("text:\n%s", out.String())
	}
}

// TestHistoryCommitsExaminesTheNewest: a first deployment brings in the
// whole history; only the newest maxExaminedCommits are compared (each
// reads trees), and the line says how many older ones were not, so a
// commit that changed the stack further back is not silently missing.
func TestHistoryCommitsExaminesTheNewest(t *testing.T) {
	r := gittest.New(t)
	const n = maxExaminedCommits + 10
	var fi strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&fi, "commit refs/heads/main\nmark :%d\ncommitter Dev <dev@example.com> %d +0000\ndata <<EOF\nchange %d\nEOF\n", i, 1700000000+i*60, i)
		if i > 1 {
			fmt.Fprintf(&fi, "from :%d\n", i-1)
		}
		if i == 1 || i == n {
			fmt.Fprintf(&fi, "M 644 inline stacks/shop/stack.yaml\ndata <<EOF\n%d\nEOF\n", i)
		}
		fmt.Fprintf(&fi, "M 644 inline stacks/other/f.txt\ndata <<EOF\n%d\nEOF\n\n", i)
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Stdin, cmd.Env = r.Dir, strings.NewReader(fi.String()), gittest.Env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git fast-import: %v\n%s", err, out)
	}
	head := r.Git("rev-parse", "main")
	all := []*statestore.Deployment{{SchemaVersion: statestore.SchemaVersion, ID: "1", Serial: 1, Stack: "shop", Environment: "dev", Operation: statestore.OpApply, Commit: head, Result: statestore.ResultSucceeded}}
	for _, noGit := range []bool{false, true} {
		repo, err := gitops.Open(r.Dir, gitops.Options{NoGitBinary: noGit})
		if err != nil {
			t.Fatal(err)
		}
		es, err := historyEntries(context.Background(), repo, &stacks.Header{Ref: stacks.Ref{Name: "shop", Path: "stacks/shop"}}, all, all)
		repo.Close()
		if err != nil {
			t.Fatal(err)
		}
		e := es[0]
		if len(e.Commits) != 1 || e.Commits[0].Subject != fmt.Sprint("change ", n) || e.AllCommits != n || e.Unexamined != n-maxExaminedCommits {
			t.Errorf("no-git-binary=%v: %d commits, %d in all, %d unexamined; want the newest only, %d, %d", noGit, len(e.Commits), e.AllCommits, e.Unexamined, n, n-maxExaminedCommits)
		}
		var out strings.Builder
		writeHistoryCommits(&out, es)
		if want := fmt.Sprintf("    (1 of the %d newest of %d commits up to it changed stacks/shop or a file it watches; the 10 older ones were not examined: git log -- stacks/shop lists those that did)\n", maxExaminedCommits, n); !strings.Contains(out.String(), want) {
			t.Errorf("no-git-binary=%v: text\n%s\nwant the line\n%s", noGit, out.String(), want)
		}
	}
}

// TestHistoryCommitsFollowsMoves: a stack whose folder moved (stacks/shop
// -> stacks/store) between its deployments. The commits from before the
// move changed the old folder: they were missing from a first
// deployment's list (only the move and what came after were listed), and
// a deployment whose previous one was before the move listed every commit
// in between, the other stacks' too. The list follows the stack back
// through the move (as git log --follow does), on both engines; a
// rollback to before the move lists what it undoes the same way.
func TestHistoryCommitsFollowsMoves(t *testing.T) {
	r := gittest.New(t)
	stackFile := func(greeting string) string {
		return "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: shop\nspec:\n  variables:\n    G: {default: " + greeting + "}\n"
	}
	r.Write("stacks/shop/stack.yaml", stackFile("a"))
	r.Write("stacks/other/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: other\nspec: {}\n")
	r.Commit("first")
	r.Write("stacks/shop/stack.yaml", stackFile("b"))
	beforeMove := r.Commit("shop: greeting b")
	r.Write("stacks/other/notes.yaml", "x: 1\n")
	r.Commit("other: notes")
	r.Move("stacks/shop", "stacks/store")
	r.Write("stacks/store/stack.yaml", stackFile("c")) // moved and edited at once
	r.Commit("shop: move to stacks/store")
	r.Write("stacks/shop/notes.yaml", "x: 1\n") // not the stack any more
	r.Commit("a new folder where shop was")
	r.Write("stacks/store/stack.yaml", stackFile("d"))
	last := r.Commit("shop: greeting d")

	key := statestore.Key{Stack: "shop", Environment: "dev"}
	rec := func(serial int64, op string, c gitops.Hash) *statestore.Deployment {
		return &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: fmt.Sprint(serial), Serial: serial, Stack: key.Stack,
			Environment: key.Environment, Operation: op, Commit: c.String(), Result: statestore.ResultSucceeded}
	}
	header := &stacks.Header{Ref: stacks.Ref{Name: "shop", Path: "stacks/store"}}
	subjects := func(cs []HistoryCommit) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Subject)
		}
		return out
	}
	for _, noGit := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-git-binary=%v", noGit), func(t *testing.T) {
			repo, err := gitops.Open(r.Dir, gitops.Options{NoGitBinary: noGit})
			if err != nil {
				t.Fatal(err)
			}
			defer repo.Close()
			// A first deployment after the move.
			first := []*statestore.Deployment{rec(1, statestore.OpApply, last)}
			es, err := historyEntries(context.Background(), repo, header, first, first)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"shop: greeting d", "shop: move to stacks/store", "shop: greeting b", "first"}
			if got := subjects(es[0].Commits); !slices.Equal(got, want) || es[0].AllCommits != 6 || es[0].StackPath != "stacks/store" {
				t.Errorf("first deployment: %q of %d (stack path %q), want %q of 6", got, es[0].AllCommits, es[0].StackPath, want)
			}
			// Deployed before the move, then after it; then rolled back.
			all := []*statestore.Deployment{rec(3, statestore.OpRollback, beforeMove), rec(2, statestore.OpApply, last), rec(1, statestore.OpApply, beforeMove)}
			es, err = historyEntries(context.Background(), repo, header, all[:2], all)
			if err != nil {
				t.Fatal(err)
			}
			want = []string{"shop: greeting d", "shop: move to stacks/store"}
			if got := subjects(es[1].Commits); !slices.Equal(got, want) || es[1].AllCommits != 4 || es[1].StackPath != "stacks/store" {
				t.Errorf("apply after the move: %q of %d (stack path %q), want %q of 4", got, es[1].AllCommits, es[1].StackPath, want)
			}
			if got := subjects(es[0].Undone); !slices.Equal(got, want) || len(es[0].Commits) != 0 || es[0].StackPath != "stacks/store" {
				t.Errorf("rollback to before the move: undone %q, commits %q (stack path %q), want undone %q", got, subjects(es[0].Commits), es[0].StackPath, want)
			}
		})
	}
}

// TestHistoryNamesPartialDeployments: an apply --target-component (and a
// rollback or promote of such a spec) read as a plain deployment of the
// commit in history, text and --commits.
func TestHistoryNamesPartialDeployments(t *testing.T) {
	sha := "0123456789abcdef0123456789abcdef01234567"
	for _, tt := range []struct {
		d    statestore.Deployment
		op   string
		head string
	}{
		{statestore.Deployment{Operation: statestore.OpApply, Commit: sha}, "apply", "apply 0123456"},
		{statestore.Deployment{Operation: statestore.OpApply, Commit: sha, TargetComponents: []string{"web", "worker"}}, "apply (only web, worker)", "apply 0123456 (only web, worker)"},
		{statestore.Deployment{Operation: statestore.OpRollback, Commit: sha, FromCommit: sha, TargetComponents: []string{"web"}}, "rollback from 0123456 (only web)", "rollback 0123456 → 0123456 (only web)"},
	} {
		if got := historyOperation(&tt.d); got != tt.op {
			t.Errorf("historyOperation = %q, want %q", got, tt.op)
		}
		if got := historyHeadline(&tt.d); !strings.Contains(got, "  "+tt.head+"  ") {
			t.Errorf("historyHeadline = %q, want it to hold %q", got, tt.head)
		}
	}
}
