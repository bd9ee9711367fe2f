package gitops_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/gittest"
)

// TestWorktreeFS: the work tree of a sparse checkout reads as git sees it —
// the files outside the cone (skip-worktree; folders of a sparse index)
// and those marked assume-unchanged as indexed, the rest from disk — and
// is a consistent fs.FS (fstest.TestFS).
func TestWorktreeFS(t *testing.T) {
	src := gittest.New(t)
	src.Write("stacks/a/stack.yaml", "a")
	src.Write("stacks/a/env/dev.yaml", "a dev")
	src.Write("stacks/b/stack.yaml", "b")
	src.Write("stacks/b/env/dev.yaml", "b dev")
	src.Write("top.txt", "top")
	src.Commit("base")
	for _, sparseIndex := range []string{"--no-sparse-index", "--sparse-index"} {
		t.Run(sparseIndex, func(t *testing.T) {
			g := &gittest.Repo{T: t, Dir: filepath.Join(t.TempDir(), "sparse")}
			src.Git("clone", "-q", src.Dir, g.Dir)
			g.Git("sparse-checkout", "set", "--cone", sparseIndex, "stacks/a")
			g.Git("update-index", "--assume-unchanged", "stacks/a/stack.yaml")
			g.WriteFile("stacks/a/stack.yaml", "edited, assumed unchanged")
			g.WriteFile("stacks/a/env/prod.yaml", "untracked")
			g.WriteFile("stacks/b/env/new.yaml", "untracked outside the cone")
			if g.Exists("stacks/b/stack.yaml") {
				t.Fatal("stacks/b is checked out")
			}
			for _, m := range modes {
				fsys, err := open(t, g.Dir, m.opts).WorktreeFS(os.DirFS(g.Dir))
				if err != nil {
					t.Fatalf("%s: %v", m.name, err)
				}
				for p, want := range map[string]string{
					"stacks/a/stack.yaml": "a", "stacks/a/env/dev.yaml": "a dev", "stacks/a/env/prod.yaml": "untracked",
					"stacks/b/stack.yaml": "b", "stacks/b/env/dev.yaml": "b dev", "stacks/b/env/new.yaml": "untracked outside the cone",
					"top.txt": "top",
				} {
					if got, err := fs.ReadFile(fsys, p); err != nil || string(got) != want {
						t.Errorf("%s: %s = %q, %v; want %q", m.name, p, got, err, want)
					}
				}
				if err := fstest.TestFS(fsys, "stacks/a/env/prod.yaml", "stacks/b/stack.yaml", "stacks/b/env/dev.yaml", "stacks/b/env/new.yaml", "top.txt"); err != nil {
					t.Errorf("%s: %v", m.name, err)
				}
			}
		})
	}
}

// TestWorktreeNamedPipe: a named pipe in the work tree is never read (that
// waits for a writer for ever). Untracked, git status does not list it,
// and neither does WorktreeChanges in either mode; replacing a tracked
// file, it is modified, and WorktreeFiles says what it is and what to do
// (git cannot commit it either).
func TestWorktreeNamedPipe(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no named pipes in the file system on Windows")
	}
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "a")
	g.Write("stacks/a/infra/q.yaml", "q")
	g.Commit("base")
	mkfifo := func(p string) {
		t.Helper()
		if out, err := exec.Command("mkfifo", filepath.Join(g.Dir, p)).CombinedOutput(); err != nil {
			t.Fatalf("mkfifo: %v %s", err, out)
		}
	}
	mkfifo("stacks/a/pipe.yaml")
	if err := os.Remove(filepath.Join(g.Dir, "stacks/a/infra/q.yaml")); err != nil {
		t.Fatal(err)
	}
	mkfifo("stacks/a/infra/q.yaml")
	want := []string{"stacks/a/infra/q.yaml"}
	for _, m := range modes {
		done := make(chan struct{})
		go func() {
			defer close(done)
			r := open(t, g.Dir, m.opts)
			got, err := r.WorktreeChanges(context.Background())
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("%s: WorktreeChanges = %v, %v; want %v", m.name, got, err, want)
			}
			_, err = r.WorktreeFiles(os.DirFS(g.Dir), []string{"stacks/a/infra/q.yaml"})
			if err == nil || !strings.Contains(err.Error(), "stacks/a/infra/q.yaml is not a regular file (a named pipe): git cannot commit it") {
				t.Errorf("%s: WorktreeFiles: %v", m.name, err)
			}
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: reading the work tree blocks on a named pipe", m.name)
		}
	}
}

// TestWorktreeSymlinksFalse: with core.symlinks=false (Windows' default)
// git checks a symbolic link out as a plain file holding its target, and
// git status calls it unchanged. Both engines agree with git: unchanged
// until its text (the target) changes, a symbolic link in WorktreeFiles
// (git add records one), and WorktreeFS reads it as that link, so the
// stack loader follows it instead of parsing the target's name as YAML.
func TestWorktreeSymlinksFalse(t *testing.T) {
	src := gittest.New(t)
	src.Write("stacks/a/infra/data.txt", "kind: Queue\n")
	if err := os.Symlink("data.txt", filepath.Join(src.Dir, "stacks/a/infra/data.yaml")); err != nil {
		t.Fatal(err)
	}
	src.Git("add", "-A")
	src.Commit("base")
	g := &gittest.Repo{T: t, Dir: filepath.Join(t.TempDir(), "nolinks")}
	src.Git("-c", "core.symlinks=false", "clone", "-q", src.Dir, g.Dir)
	g.Git("config", "core.symlinks", "false")
	link := "stacks/a/infra/data.yaml"
	if st, err := os.Lstat(filepath.Join(g.Dir, link)); err != nil || !st.Mode().IsRegular() {
		t.Fatalf("the clone does not hold the link as a plain file: %v", err)
	}
	check := func(what string, want []string, target string) {
		t.Helper()
		if got := strings.Fields(g.Git("status", "--porcelain")); len(got) != 2*len(want) {
			t.Fatalf("%s: git status %q, want %q", what, got, want)
		}
		for _, m := range modes {
			r := open(t, g.Dir, m.opts)
			if got, err := r.WorktreeChanges(context.Background()); err != nil || !slices.Equal(got, want) {
				t.Errorf("%s %s: WorktreeChanges = %v, %v; want %v", what, m.name, got, err, want)
			}
			files, err := r.WorktreeFiles(os.DirFS(g.Dir), []string{link})
			if err != nil || files[0].Mode.String() != "0120000" || files[0].Hash.String() != strings.TrimSpace(g.Git("hash-object", "--no-filters", filepath.Join(g.Dir, link))) {
				t.Errorf("%s %s: WorktreeFiles = %v, %v; want a symbolic link", what, m.name, files, err)
			}
			fsys, err := r.WorktreeFS(os.DirFS(g.Dir))
			if err != nil {
				t.Fatal(err)
			}
			st, err := fs.Lstat(fsys, link)
			if err != nil || st.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("%s %s: Lstat = %v, %v; want a symbolic link", what, m.name, st, err)
			}
			if got, err := fs.ReadLink(fsys, link); err != nil || got != target {
				t.Errorf("%s %s: ReadLink = %q, %v; want %q", what, m.name, got, err, target)
			}
			ents, err := fs.ReadDir(fsys, "stacks/a/infra")
			if err != nil || len(ents) != 2 || ents[1].Name() != "data.yaml" || ents[1].Type()&fs.ModeSymlink == 0 {
				t.Errorf("%s %s: ReadDir = %v, %v; want data.yaml a symbolic link", what, m.name, ents, err)
			}
			// Read, opened or stat'ed through the link: its target.
			wantData, _ := os.ReadFile(filepath.Join(g.Dir, "stacks/a/infra", target))
			if got, err := fs.ReadFile(fsys, link); string(got) != string(wantData) || (err != nil) != (wantData == nil) {
				t.Errorf("%s %s: ReadFile = %q, %v; want %q", what, m.name, got, err, wantData)
			}
			if f, err := fsys.Open(link); err == nil {
				got, _ := io.ReadAll(f)
				f.Close()
				if string(got) != string(wantData) {
					t.Errorf("%s %s: Open+Read = %q, want %q", what, m.name, got, wantData)
				}
			} else if wantData != nil {
				t.Errorf("%s %s: Open: %v", what, m.name, err)
			}
			if st, err := fs.Stat(fsys, link); (err == nil) != (wantData != nil) || (err == nil && (st.Mode()&fs.ModeSymlink != 0 || st.Size() != int64(len(wantData)))) {
				t.Errorf("%s %s: Stat = %v, %v; want the target's", what, m.name, st, err)
			}
		}
	}
	check("checked out", nil, "data.txt")
	g.WriteFile(link, "other.txt") // the link retargeted
	check("retargeted", []string{link}, "other.txt")
}

// TestWorktreeNonUTF8Name: a file whose name is not UTF-8 (committed from
// a Latin-1 system) that changes in the work tree is listed by both
// engines, and WorktreeFiles reads it from disk as git add does (io/fs
// refuses the name: it said "lstat ...: invalid argument", and then failed
// the whole of changed --uncommitted): the blob git hash-object computes,
// and no file for one deleted.
func TestWorktreeNonUTF8Name(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs a file system that takes any bytes in a name")
	}
	bad := "stacks/a/infra/q\xe9.yaml"
	edited := "stacks/b\xe9/infra/q.yaml" // in a folder so named
	g := gittest.New(t)
	g.Write("stacks/a/stack.yaml", "a")
	g.Write(bad, "q")
	g.Write(edited, "q")
	g.Commit("base")
	if err := os.Remove(filepath.Join(g.Dir, bad)); err != nil {
		t.Fatal(err)
	}
	g.Write(edited, "q2")
	wantHash := g.Git("hash-object", "--", edited)
	for _, m := range modes {
		r := open(t, g.Dir, m.opts)
		got, err := r.WorktreeChanges(context.Background())
		if err != nil || !slices.Equal(got, []string{bad, edited}) {
			t.Errorf("%s: WorktreeChanges = %q, %v; want %q", m.name, got, err, []string{bad, edited})
		}
		files, err := r.WorktreeFiles(os.DirFS(g.Dir), []string{bad, edited})
		if err != nil {
			t.Fatalf("%s: WorktreeFiles: %v", m.name, err)
		}
		if files[0].Mode != filemode.Empty {
			t.Errorf("%s: the deleted %q reads as %v", m.name, bad, files[0])
		}
		if files[1].Mode != filemode.Regular || files[1].Hash.String() != wantHash {
			t.Errorf("%s: %q reads as %v %s; git hash-object says %s", m.name, edited, files[1].Mode, files[1].Hash, wantHash)
		}
	}
}

// TestReadAheadPartialClone: in a partial sparse clone (git clone
// --filter=blob:none --sparse, as big monorepos are checked out in CI)
// the files outside the cone, and those of other commits, are not in the
// clone, and git fetched each one the stacks loader read on its own: one
// fetch process per file (`panka validate` of 400 stacks: 126 s).
// ReadAhead fetches those named in one request, and the reads that follow
// are the full clone's; where the remote cannot be reached, reads fail as
// before, naming the partial clone.
func TestReadAheadPartialClone(t *testing.T) {
	const n = 12
	src := gittest.New(t)
	src.Git("config", "uploadpack.allowFilter", "true")
	src.Git("config", "uploadpack.allowAnySHA1InWant", "true")
	var names []string
	for i := 0; i < n; i++ {
		for _, f := range []string{"stack.yaml", "env/dev.yaml", "env/prod.yaml"} {
			p := fmt.Sprintf("stacks/s%02d/%s", i, f)
			names = append(names, p)
			src.Write(p, "base "+p)
		}
	}
	src.Write("top.txt", "top")
	base := src.Commit("base")
	for _, p := range names {
		src.Write(p, "head "+p)
	}
	src.Commit("head")
	for _, sparseIndex := range []string{"--no-sparse-index", "--sparse-index"} {
		t.Run(sparseIndex, func(t *testing.T) {
			g := &gittest.Repo{T: t, Dir: filepath.Join(t.TempDir(), "partial")}
			src.Git("clone", "-q", "--filter=blob:none", "--sparse", "file://"+src.Dir, g.Dir)
			g.Git("sparse-checkout", "set", "--cone", sparseIndex, "other")
			trace := filepath.Join(t.TempDir(), "trace.json")
			t.Setenv("GIT_TRACE2_EVENT", trace)
			repo := open(t, g.Dir, modes[0].opts)
			if !repo.UsesGitBinary() || repo.PartialClone() != "origin" {
				t.Fatalf("git binary %v, partial clone %q", repo.UsesGitBinary(), repo.PartialClone())
			}
			wt, err := repo.WorktreeFS(os.DirFS(g.Dir))
			if err != nil {
				t.Fatal(err)
			}
			at, err := repo.TreeFS(base)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				what string
				fsys fs.FS
				want string
			}{{"work tree", wt, "head "}, {"base", at, "base "}} {
				before := gittest.Fetches(t, trace)
				c.fsys.(interface{ ReadAhead([]string) }).ReadAhead(append(names, "top.txt", "stacks", "nothing/here.yaml"))
				for _, p := range names {
					if got, err := fs.ReadFile(c.fsys, p); err != nil || string(got) != c.want+p {
						t.Errorf("%s: %s = %q, %v; want %q", c.what, p, got, err, c.want+p)
					}
				}
				if got := gittest.Fetches(t, trace) - before; got != 1 {
					t.Errorf("%s: %d git fetch processes for %d files, want 1", c.what, got, len(names))
				}
			}
		})
	}

	// The remote gone: reads say what is missing, as without ReadAhead.
	g := &gittest.Repo{T: t, Dir: filepath.Join(t.TempDir(), "gone")}
	src.Git("clone", "-q", "--filter=blob:none", "--sparse", "file://"+src.Dir, g.Dir)
	g.Git("remote", "set-url", "origin", "file://"+filepath.Join(t.TempDir(), "gone"))
	repo := open(t, g.Dir, modes[0].opts)
	wt, err := repo.WorktreeFS(os.DirFS(g.Dir))
	if err != nil {
		t.Fatal(err)
	}
	wt.(interface{ ReadAhead([]string) }).ReadAhead(names)
	if _, err := fs.ReadFile(wt, names[0]); err == nil || !strings.Contains(err.Error(), "partial clone") {
		t.Errorf("remote gone: ReadFile = %v, want an error naming the partial clone", err)
	} else if !strings.Contains(err.Error(), "does not appear to be a git repository") {
		// The error said "check that origin can be reached" but not
		// what git said when it could not.
		t.Errorf("remote gone: ReadFile = %v, want what git fetch said", err)
	}
}

// TestPartialCloneConcurrentBatches: batches read at the same time (the
// parts of a change detection) that lack the same objects fetch them once:
// a batch waits for the fetch of another and then finds them in the clone.
// The remote gone, the batches fall back to reading object by object and
// say what is missing.
func TestPartialCloneConcurrentBatches(t *testing.T) {
	src := gittest.New(t)
	src.Git("config", "uploadpack.allowFilter", "true")
	src.Git("config", "uploadpack.allowAnySHA1InWant", "true")
	for i := 0; i < 16; i++ {
		src.Write(fmt.Sprintf("f%02d.yaml", i), fmt.Sprintf("base %d", i))
	}
	src.Commit("base")
	var hashes []gitops.Hash
	for i := 0; i < 16; i++ {
		hashes = append(hashes, plumbing.NewHash(src.Git("rev-parse", fmt.Sprintf("HEAD:f%02d.yaml", i))))
		src.Write(fmt.Sprintf("f%02d.yaml", i), fmt.Sprintf("head %d", i))
	}
	src.Commit("head")
	for _, gone := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "partial")
		src.Git("clone", "-q", "--filter=blob:none", "file://"+src.Dir, dir)
		if gone {
			src.Git("-C", dir, "remote", "set-url", "origin", "file://"+filepath.Join(t.TempDir(), "gone"))
		}
		trace := filepath.Join(t.TempDir(), "trace.json")
		t.Setenv("GIT_TRACE2_EVENT", trace)
		repo := open(t, dir, modes[0].opts)
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = repo.Blobs(hashes, func(h gitops.Hash, b []byte) error {
					if !strings.HasPrefix(string(b), "base ") {
						return fmt.Errorf("blob %s = %q", h, b)
					}
					return nil
				})
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if gone && (err == nil || !strings.Contains(err.Error(), "partial clone")) {
				t.Errorf("remote gone: Blobs = %v, want an error naming the partial clone", err)
			}
			if !gone && err != nil {
				t.Error(err)
			}
		}
		if got := gittest.Fetches(t, trace); !gone && got != 1 {
			t.Errorf("%d git fetch processes for 4 batches of the same 16 blobs, want 1", got)
		}
	}
}

// TestPartialCloneAbsent: the objects a partial clone lacks, looked up in
// the pack indexes mapped in memory (not decoded, which in a big
// repository cost more than a small push's whole change detection) and
// among the loose objects, are those git reports missing (rev-list
// --missing=print), also after a loose object is written and after a
// repack replaced the packs.
func TestPartialCloneAbsent(t *testing.T) {
	src := gittest.New(t)
	src.Git("config", "uploadpack.allowFilter", "true")
	for i := 0; i < 40; i++ {
		src.Write(fmt.Sprintf("d%d/f%02d.yaml", i%3, i), fmt.Sprintf("base %d", i))
	}
	src.Commit("base")
	for i := 0; i < 40; i += 2 {
		src.Write(fmt.Sprintf("d%d/f%02d.yaml", i%3, i), fmt.Sprintf("head %d", i))
	}
	src.Commit("head")
	var all []gitops.Hash
	for _, line := range strings.Split(src.Git("rev-list", "--objects", "--all"), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			all = append(all, plumbing.NewHash(f[0]))
		}
	}
	g := &gittest.Repo{T: t, Dir: filepath.Join(t.TempDir(), "partial")}
	src.Git("clone", "-q", "--filter=blob:none", "file://"+src.Dir, g.Dir)
	g.Git("config", "gc.auto", "0")
	repo := open(t, g.Dir, modes[0].opts)
	check := func(what string) {
		t.Helper()
		var want []string
		for _, line := range strings.Split(g.Git("rev-list", "--objects", "--missing=print", "--all"), "\n") {
			if id, ok := strings.CutPrefix(line, "?"); ok {
				want = append(want, id)
			}
		}
		var got []string
		for _, h := range repo.Absent(all) {
			got = append(got, h.String())
		}
		slices.Sort(want)
		slices.Sort(got)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: absent %q, git says %q missing", what, got, want)
		}
	}
	check("clone")
	id := g.Git("rev-parse", "HEAD~1:d0/f00.yaml")
	g.WriteFile("blob", "base 0")
	if got := g.Git("hash-object", "-w", "blob"); got != id {
		t.Fatalf("hash-object = %s, want %s", got, id)
	}
	check("a loose object written")
	g.Git("-c", "core.compression=0", "fetch", "-q", "origin", "--no-tags", "--no-write-fetch-head", "--filter=blob:none", g.Git("rev-parse", "HEAD~1:d1/f01.yaml"))
	check("a pack fetched")
	g.Git("repack", "-a", "-d", "-q")
	check("repacked")
}

// TestPartialCloneAlternates: a partial clone that borrows objects from
// another repository (git clone --filter=blob:none --reference, a CI
// runner's cache) lacks only what neither has, as git sees it (rev-list
// --missing=print), and a batch fetches only those: the objects of the
// alternate were fetched again from the promisor remote.
func TestPartialCloneAlternates(t *testing.T) {
	src := gittest.New(t)
	src.Git("config", "uploadpack.allowFilter", "true")
	src.Git("config", "uploadpack.allowAnySHA1InWant", "true")
	var base, head []gitops.Hash
	for i := 0; i < 8; i++ {
		src.Write(fmt.Sprintf("f%02d.yaml", i), fmt.Sprintf("base %d", i))
	}
	src.Commit("base")
	for i := 0; i < 8; i++ {
		base = append(base, plumbing.NewHash(src.Git("rev-parse", fmt.Sprintf("HEAD:f%02d.yaml", i))))
	}
	// The cache was cloned before the head commit: it has the base blobs.
	cache := filepath.Join(t.TempDir(), "cache")
	src.Git("clone", "-q", "--bare", src.Dir, cache)
	for i := 0; i < 8; i++ {
		src.Write(fmt.Sprintf("f%02d.yaml", i), fmt.Sprintf("head %d", i))
	}
	src.Commit("head")
	for i := 0; i < 8; i++ {
		head = append(head, plumbing.NewHash(src.Git("rev-parse", fmt.Sprintf("HEAD:f%02d.yaml", i))))
	}
	g := &gittest.Repo{T: t, Dir: filepath.Join(t.TempDir(), "partial")}
	src.Git("clone", "-q", "--filter=blob:none", "--no-checkout", "--reference", cache, "file://"+src.Dir, g.Dir)
	var want []string
	for _, line := range strings.Split(g.Git("rev-list", "--objects", "--missing=print", "--all"), "\n") {
		if id, ok := strings.CutPrefix(line, "?"); ok {
			want = append(want, id)
		}
	}
	trace := filepath.Join(t.TempDir(), "trace.json")
	t.Setenv("GIT_TRACE2_EVENT", trace)
	repo := open(t, g.Dir, modes[0].opts)
	var got []string
	for _, h := range repo.Absent(append(slices.Clone(base), head...)) {
		got = append(got, h.String())
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) != len(head) || !slices.Equal(got, want) {
		t.Fatalf("absent %q, git says %q missing (the head blobs)", got, want)
	}
	// The base blobs are the cache's: nothing to fetch.
	if err := repo.Blobs(base, func(gitops.Hash, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := gittest.Fetches(t, trace); n != 0 {
		t.Errorf("%d git fetch processes for blobs the alternate holds, want 0", n)
	}
	if err := repo.Blobs(append(slices.Clone(base), head...), func(gitops.Hash, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := gittest.Fetches(t, trace); n != 1 {
		t.Errorf("%d git fetch processes for the blobs neither has, want 1", n)
	}
	if got := repo.Absent(head); len(got) != 0 {
		t.Errorf("after the fetch, absent %v", got)
	}
}

// TestFetchError: what a failed fetch said, as the errors about missing
// objects quote it: git's fatal line, without credentials in a URL.
func TestFetchError(t *testing.T) {
	for in, want := range map[string]string{
		"fatal: '/srv/gone' does not appear to be a git repository\nfatal: Could not read from remote repository.\n": "'/srv/gone' does not appear to be a git repository",
		"warning: x\nfatal: unable to access 'https://bot:s3cret@git.example.com/r.git/': Could not resolve host":    "unable to access 'https://git.example.com/r.git/': Could not resolve host",
		"error: something\n": "error: something",
	} {
		if got := gitops.FetchError(in); got != want {
			t.Errorf("FetchError(%q) = %q, want %q", in, got, want)
		}
	}
}
