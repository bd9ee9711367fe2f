package gitops_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/gittest"
)

func all([]byte) bool { return true }

// lsTree is git's own listing of a tree: what IndexedTree must return.
func lsTree(g *gittest.Repo, tree string) []gitops.IndexEntry {
	var out []gitops.IndexEntry
	for _, l := range strings.Split(g.Git("ls-tree", "-r", "--full-tree", tree), "\n") {
		meta, path, _ := strings.Cut(l, "\t")
		f := strings.Fields(meta)
		m, _ := filemode.New(f[0])
		out = append(out, gitops.IndexEntry{Path: path, Mode: m, Hash: plumbing.NewHash(f[2])})
	}
	return out
}

func TestIndexedTree(t *testing.T) {
	g := gittest.New(t)
	g.Write("a.txt", "a\n")
	g.Write("dir/b.yaml", "b\n")
	g.Write("dir/sub/c.yaml", "c\n")
	g.Write("dir/sub/deeper/with a space/d.yaml", "d\n")
	g.Write(strings.Repeat("long/", 40)+"e.yaml", "e\n") // long shared prefixes (v4)
	g.Write("x/"+strings.Repeat("n", 200)+".yaml", "x\n")
	g.Git("update-index", "--add", "--chmod=+x", "a.txt")
	first := g.Commit("first")
	g.Write("dir/b.yaml", "b2\n")
	g.Write("z/new.yaml", "z\n")
	head := g.Commit("second")
	tree := plumbing.NewHash(g.Git("rev-parse", "HEAD^{tree}"))
	firstTree := plumbing.NewHash(g.Git("rev-parse", first.String()+"^{tree}"))
	want := lsTree(g, "HEAD")

	check := func(t *testing.T, wantOK bool) {
		t.Helper()
		for _, m := range modes {
			r := open(t, g.Dir, m.opts)
			got, ok := r.IndexedTree(tree, all)
			if ok != wantOK {
				t.Fatalf("%s: ok = %v, want %v", m.name, ok, wantOK)
			}
			if ok && !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: entries differ from git ls-tree:\n got %v\nwant %v", m.name, got, want)
			}
			if _, ok := r.IndexedTree(firstTree, all); ok {
				t.Fatalf("%s: the index answered for another commit's tree", m.name)
			}
		}
	}
	t.Run("after commit (v2)", func(t *testing.T) { check(t, true) })
	t.Run("filter", func(t *testing.T) {
		r := open(t, g.Dir, gitops.Options{})
		got, ok := r.IndexedTree(tree, func(p []byte) bool {
			return strings.HasSuffix(string(p), ".yaml") && strings.HasPrefix(string(p), "dir/")
		})
		if !ok || len(got) != 3 || got[0].Path != "dir/b.yaml" {
			t.Fatalf("filtered: %v %v", got, ok)
		}
	})
	t.Run("v4 (prefix-compressed paths)", func(t *testing.T) {
		g.Git("update-index", "--index-version", "4")
		check(t, true)
	})
	t.Run("v3 (skip-worktree entries)", func(t *testing.T) {
		g.Git("update-index", "--index-version", "3")
		g.Git("update-index", "--skip-worktree", "dir/b.yaml")
		check(t, false) // git invalidates the cache tree
		g.Git("write-tree")
		check(t, true)
		g.Git("update-index", "--no-skip-worktree", "dir/b.yaml")
		g.Git("update-index", "--index-version", "2")
		g.Git("write-tree")
		check(t, true)
	})
	t.Run("untracked cache (feature.manyFiles)", func(t *testing.T) {
		g.Git("config", "feature.manyFiles", "true")
		g.Git("update-index", "--untracked-cache")
		g.Git("status", "--porcelain")
		if idx, _ := os.ReadFile(filepath.Join(g.Dir, ".git", "index")); !strings.Contains(string(idx), "UNTR") {
			t.Fatal("no untracked-cache extension written: the case is not tested")
		}
		check(t, true)
		g.Git("update-index", "--no-untracked-cache")
		g.Git("config", "--unset", "feature.manyFiles")
	})
	t.Run("after checkout of another commit", func(t *testing.T) {
		g.Git("checkout", "-q", first.String())
		r := open(t, g.Dir, gitops.Options{})
		if _, ok := r.IndexedTree(tree, all); ok {
			t.Fatal("index of the first commit answered for head's tree")
		}
		got, ok := r.IndexedTree(firstTree, all)
		if !ok || !reflect.DeepEqual(got, lsTree(g, first.String())) {
			t.Fatalf("after checkout: %v %v", got, ok)
		}
		g.Git("checkout", "-q", "main")
		check(t, true)
	})
	t.Run("staged change", func(t *testing.T) {
		g.Write("dir/b.yaml", "staged\n")
		check(t, false)
		g.Git("reset", "-q", "--hard", head.String())
		check(t, true)
	})
	t.Run("unstaged change keeps the index", func(t *testing.T) {
		g.WriteFile("dir/b.yaml", "unstaged\n")
		check(t, true)
		g.Git("checkout", "-q", "--", "dir/b.yaml")
	})
	t.Run("intent to add", func(t *testing.T) {
		g.WriteFile("new.txt", "n\n")
		g.Git("add", "-N", "new.txt")
		check(t, false)
		g.Git("rm", "-q", "--cached", "new.txt")
		os.Remove(filepath.Join(g.Dir, "new.txt"))
		g.Git("reset", "-q", "--hard", head.String())
	})
	t.Run("split index", func(t *testing.T) {
		g.Git("update-index", "--split-index")
		check(t, false)
		g.Git("update-index", "--no-split-index")
		g.Git("reset", "-q", "--hard", head.String())
		check(t, true)
	})
	t.Run("damaged index", func(t *testing.T) {
		p := filepath.Join(g.Dir, ".git", "index")
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(p, orig, 0o644)
		r := open(t, g.Dir, gitops.Options{})
		// Every truncation and every flipped byte: never a panic, never a
		// wrong answer (the checksum catches damage).
		for n := 0; n < len(orig); n++ {
			if err := os.WriteFile(p, orig[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			if got, ok := r.IndexedTree(tree, all); ok && !reflect.DeepEqual(got, want) {
				t.Fatalf("truncated to %d bytes: wrong entries %v", n, got)
			}
		}
		for i := 0; i < len(orig)-20; i++ {
			b := append([]byte(nil), orig...)
			b[i] ^= 0xff
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if got, ok := r.IndexedTree(tree, all); ok && !reflect.DeepEqual(got, want) {
				t.Fatalf("byte %d flipped: wrong entries %v", i, got)
			}
		}
		os.Remove(p)
		if _, ok := r.IndexedTree(tree, all); ok {
			t.Fatal("answered without an index")
		}
	})
}

// TestPrefetchWorktreeBlobs: blobs come from the work tree only when the
// file there has exactly the blob's content.
func TestPrefetchWorktreeBlobs(t *testing.T) {
	g := gittest.New(t)
	g.Write("a.yaml", "committed a\n")
	g.Write("b.yaml", "committed b\n")
	g.Write("c.yaml", "committed c\n")
	h := g.Commit("files")
	g.WriteFile("a.yaml", "edited in the work tree\n")
	g.Remove("c.yaml")
	if err := os.Symlink("a.yaml", filepath.Join(g.Dir, "c.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			fsys, _ := r.TreeFS(h)
			tfs := fsys.(*gitops.TreeFS)
			paths := []string{"a.yaml", "b.yaml", "c.yaml", "missing.yaml"}
			var ids []gitops.Hash
			for _, p := range paths[:3] {
				e, err := tfs.Entry(p)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, e.Hash)
			}
			ids = append(ids, ids[1]) // a path without the file: read from git
			if err := r.PrefetchWorktreeBlobs(paths, ids); err != nil {
				t.Fatal(err)
			}
			for i, wantText := range []string{"committed a\n", "committed b\n", "committed c\n", "committed b\n"} {
				b, err := r.Blob(ids[i])
				if err != nil || string(b) != wantText {
					t.Errorf("%s: Blob = %q, %v; want %q", paths[i], b, err, wantText)
				}
			}
		})
	}
}

// TestPrefetchWorktreeBlobsMostlyStale: when the work tree holds other
// contents for most paths (another commit checked out), the sample makes
// the rest come from git; every blob is still the committed one.
func TestPrefetchWorktreeBlobsMostlyStale(t *testing.T) {
	g := gittest.New(t)
	for i := 0; i < 150; i++ {
		g.Write(fmt.Sprintf("s%03d/stack.yaml", i), fmt.Sprintf("committed %d\n", i))
	}
	h := g.Commit("files")
	for i := 0; i < 150; i++ {
		if i%10 != 0 { // a few files still match
			g.WriteFile(fmt.Sprintf("s%03d/stack.yaml", i), fmt.Sprintf("edited %d\n", i))
		}
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			r := open(t, g.Dir, m.opts)
			fsys, _ := r.TreeFS(h)
			tfs := fsys.(*gitops.TreeFS)
			var paths []string
			var ids []gitops.Hash
			for i := 0; i < 150; i++ {
				p := fmt.Sprintf("s%03d/stack.yaml", i)
				e, err := tfs.Entry(p)
				if err != nil {
					t.Fatal(err)
				}
				paths, ids = append(paths, p), append(ids, e.Hash)
			}
			if err := r.PrefetchWorktreeBlobs(paths, ids); err != nil {
				t.Fatal(err)
			}
			for i := range paths {
				if b, err := r.Blob(ids[i]); err != nil || string(b) != fmt.Sprintf("committed %d\n", i) {
					t.Errorf("%s: %q, %v", paths[i], b, err)
				}
			}
		})
	}
}

// TestDamagedIndex: a truncated staging index is an error that says the
// file is damaged and how to rebuild it, with both engines; it said only
// "malformed".
func TestDamagedIndex(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "kind: Stack\n")
	g.Commit("one")
	idx := filepath.Join(g.Dir, ".git", "index")
	b, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(idx, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, m := range []gitops.Options{{}, {NoGitBinary: true}} {
		r, err := gitops.Open(g.Dir, m)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.WorktreeFS(os.DirFS(g.Dir))
		r.Close()
		if err == nil || !strings.Contains(err.Error(), "the file is damaged") || !strings.Contains(err.Error(), "git reset") {
			t.Errorf("%+v: WorktreeFS = %v, want a damaged-index error saying how to rebuild it", m, err)
		}
	}
}

// TestIndexSkipHash: with index.skipHash (the default under
// feature.manyFiles since git 2.40) git writes the staging index without
// a checksum, its trailer all zeros. go-git's decoder refused it ("read
// the git index ...: invalid checksum"), so panka changed --uncommitted
// failed without the git binary while git status was fine; both engines
// now read it alike. A checksum that is wrong (the file damaged) says how
// to rebuild the index.
func TestIndexSkipHash(t *testing.T) {
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "kind: Stack\n")
	g.Write("stacks/b/stack.yaml", "kind: Stack\n")
	g.Commit("one")
	g.WriteFile("stacks/a/stack.yaml", "kind: Stack # edited\n")
	g.WriteFile("stacks/c/stack.yaml", "kind: Stack\n")
	idx := filepath.Join(g.Dir, ".git", "index")
	b, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	good := bytes.Clone(b)
	copy(b[len(b)-20:], make([]byte, 20)) // what index.skipHash writes
	if err := os.WriteFile(idx, b, 0o644); err != nil {
		t.Fatal(err)
	}
	want := []string{"stacks/a/stack.yaml", "stacks/c/stack.yaml"}
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		got, err := r.WorktreeChanges(context.Background())
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: WorktreeChanges with a skipHash index = %v, %v; want %v", m.name, got, err, want)
		}
	}
	good[len(good)-1] ^= 0xff // a checksum that does not match: damaged
	if err := os.WriteFile(idx, good, 0o644); err != nil {
		t.Fatal(err)
	}
	r := open(t, g.Dir, gitops.Options{NoGitBinary: true})
	if _, err := r.WorktreeChanges(context.Background()); err == nil || !strings.Contains(err.Error(), "the file is damaged") || !strings.Contains(err.Error(), "git reset") {
		t.Errorf("WorktreeChanges with a damaged index = %v, want a damaged-index error saying how to rebuild it", err)
	}
}
