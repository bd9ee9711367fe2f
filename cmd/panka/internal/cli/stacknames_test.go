package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/stacks"
)

// TestStackNamesRecord: a one-stack command finds its stack from the
// record of the work tree's stack names (quickStack) only while nothing
// that answer rests on changed, and answers as a discovery of every
// stack.yaml does in each state the work tree goes through: a name edited
// in a stack.yaml, a stack added with a name another uses, a folder
// moved, another commit checked out, an untracked stack.
func TestStackNamesRecord(t *testing.T) {
	g := gittest.New(t)
	gitDir := filepath.Join(g.Dir, ".git")
	stackYAML := func(name string) string {
		return "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: " + name + "\nspec: {}\n"
	}
	write := func(dir, name string) {
		g.Write(dir+"/stack.yaml", stackYAML(name))
		g.Write(dir+"/environments/dev.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec: {}\n")
	}
	write("stacks/team-a/a", "a")
	write("stacks/team-a/b", "b")
	write("stacks/team-b/c", "c")
	first := g.Commit("stacks")
	ctx := context.Background()

	// answer is what a command of a new run says of name: the folder
	// findHeader and planFindStack find, or their error; quick is
	// whether the record gave it. The disk's clock is a minute ahead,
	// so that the files the test just wrote are not racy (see
	// saveStackNames).
	answer := func(name string) (got string, quick bool) {
		t.Helper()
		f, _, _ := stackTestFactory(t, g.Dir, "", false)
		f.diskNow = func() time.Time { return time.Now().Add(time.Minute) }
		defer f.closeHeaders()
		_, quick = quickStack(f, g.Dir, gitDir, "stacks", name)
		h, err := f.findHeader(name)
		switch {
		case err != nil:
			got = "error: " + err.Error()
		case h != nil:
			got = h.Path
		}
		src, err := planSource(ctx, f, "")
		if err != nil {
			t.Fatal(err)
		}
		defer src.close()
		src.shareDiscovery = true
		ref, err := planFindStack(src, "stacks", name)
		plan := ref.Path
		if err != nil {
			plan = "error: " + err.Error()
		}
		if h == nil && err == nil || h != nil && plan != got || got != "" && got[0] == 'e' && plan != got {
			t.Fatalf("%s: findHeader says %q, planFindStack %q", name, got, plan)
		}
		return plan, quick
	}
	// truth is what a discovery of every stack.yaml says of name.
	truth := func(name string) string {
		t.Helper()
		f, _, _ := stackTestFactory(t, g.Dir, "", false)
		repo, err := openStackRepo(f)
		if err != nil {
			t.Fatal(err)
		}
		defer repo.close()
		disc, _ := stacks.DiscoverStacks(repo.fsys, repo.stacksRoot)
		ref, err := findStack(disc, name, repo.stacksRoot)
		if err != nil {
			return "error: " + err.Error()
		}
		return ref.Path
	}
	// check asks for name twice: the first run answers as a discovery
	// does, quick or not (wantQuick), the second from the record when
	// the first could leave one (wantSaved).
	check := func(step, name string, wantQuick, wantSaved bool) {
		t.Helper()
		want := truth(name)
		for i, wq := range []bool{wantQuick, wantSaved} {
			got, quick := answer(name)
			if got != want {
				t.Fatalf("%s: run %d found %s at %q, a discovery at %q", step, i+1, name, got, want)
			}
			if quick != wq {
				t.Fatalf("%s: run %d answered from the record: %v, want %v", step, i+1, quick, wq)
			}
		}
	}

	check("first run", "b", false, true)
	check("nothing changed", "a", true, true)

	// A name edited in place (not staged): stack.yaml's change time.
	g.WriteFile("stacks/team-a/b/stack.yaml", stackYAML("bb"))
	check("renamed b: old name", "b", false, false)
	check("renamed b: new name", "bb", true, true) // the record the first run left

	// A second stack named a, in another folder.
	write("stacks/team-b/d", "a")
	check("duplicate a", "a", false, false)
	check("duplicate a, other stack", "c", false, false)

	// The duplicate removed and a moved to a new team folder.
	g.Remove("stacks/team-b/d")
	g.Move("stacks/team-a/a", "stacks/team-c/a")
	check("moved a", "a", false, true)
	g.Git("add", "-A")
	g.Commit("renamed and moved")
	check("committed", "a", false, true)

	// Another commit checked out: every answer is that commit's.
	g.Git("checkout", "-q", first.String())
	check("checked out: a", "a", false, true)
	check("checked out: b", "b", true, true)
	check("checked out: bb", "bb", false, false)
	g.Git("checkout", "-q", "main")
	check("back on main", "bb", false, true)

	// A stack.yaml naming c put, untracked, in a folder the record
	// holds: the staging index did not change, that folder did.
	g.WriteFile("stacks/team-b/e/stack.yaml", stackYAML("c"))
	check("untracked duplicate c", "c", false, false)
	if err := os.RemoveAll(filepath.Join(g.Dir, "stacks/team-b/e")); err != nil {
		t.Fatal(err)
	}
	check("untracked duplicate removed", "c", false, true)

	// An untracked stack: a change of the ignore rules could hide it,
	// and no stat here would tell, so no record is kept while it is
	// there.
	g.WriteFile("stacks/team-d/e/stack.yaml", stackYAML("e"))
	check("untracked stack", "e", false, false)
	check("untracked stack, other stack", "c", false, false)
	if err := os.RemoveAll(filepath.Join(g.Dir, "stacks/team-d")); err != nil {
		t.Fatal(err)
	}
	check("untracked stack removed", "c", false, true)
}

// TestStackNamesRacy: no record is written while a file it would rest on
// changed within racyWindow of the run (its change time could stay the
// same through another change in the same clock tick), and a record
// that is not of this work tree, or cut short, is not used.
func TestStackNamesRacy(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: a\nspec: {}\n")
	g.Commit("a")
	gitDir := filepath.Join(g.Dir, ".git")
	record := stackNamesPath(gitDir)

	f, _, _ := stackTestFactory(t, g.Dir, "", false)
	if h, err := f.findHeader("a"); err != nil || h == nil || h.Path != "stacks/a" {
		t.Fatalf("findHeader: %+v, %v", h, err)
	}
	f.closeHeaders()
	if _, err := os.Lstat(record); !os.IsNotExist(err) {
		t.Fatalf("a record was written from files changed a moment ago: %v", err)
	}

	f, _, _ = stackTestFactory(t, g.Dir, "", false)
	f.diskNow = func() time.Time { return time.Now().Add(time.Minute) }
	if _, err := f.findHeader("a"); err != nil {
		t.Fatal(err)
	}
	f.closeHeaders()
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("no record once the files are old enough: %v", err)
	}
	if m := readStackNames(b, g.Dir, gitDir, "stacks"); m["a"] != "stacks/a" {
		t.Fatalf("record: %v", m)
	}
	for name, bad := range map[string][]byte{
		"cut short":       b[:len(b)-4],
		"without its end": b[:len(b)-len("end\t1\n")-1],
	} {
		if m := readStackNames(bad, g.Dir, gitDir, "stacks"); m != nil {
			t.Errorf("%s: %v", name, m)
		}
	}
	if m := readStackNames(b, g.Dir+"-copy", gitDir, "stacks"); m != nil {
		t.Errorf("another work tree's record: %v", m)
	}
	if m := readStackNames(b, g.Dir, gitDir, "other"); m != nil {
		t.Errorf("another stacks root's record: %v", m)
	}
}

// TestStackNamesStamp: a record's stamps read back as written, whatever
// their values (a change time before the modification time, the largest
// inode), and a stamp that is not one is refused, so that the record is
// not used rather than trusted.
func TestStackNamesStamp(t *testing.T) {
	for _, s := range []gitops.Stamp{
		{Ino: 1<<64 - 1, Size: 189, Mode: uint32(os.ModeDir | 0o755), Mtime: 1795860129144285832, Ctime: 1795860129144756056},
		{Ino: 7, Size: 0, Mode: 1<<32 - 1, Mtime: 1795860129144756056, Ctime: 1795860129144285832},
		{Mtime: -1, Ctime: 1<<63 - 1},
	} {
		b := appendStamp(nil, s)
		if got, ok := parseStamp(b); !ok || got != s {
			t.Errorf("%+v: wrote %q, read %+v, %v", s, b, got, ok)
		}
	}
	for _, bad := range []string{"", "1 2 3 4", "1 2 3 4 5 6", "1 2 3 4 x!", "1 2 zzzzzzzzz 4 5", "1  2 3 4 5", "-1 2 3 4 5"} {
		if s, ok := parseStamp([]byte(bad)); ok {
			t.Errorf("%q read as %+v", bad, s)
		}
	}
}
