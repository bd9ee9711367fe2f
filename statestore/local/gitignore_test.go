package local_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
)

// TestWriteGitIgnoreConcurrent: writers racing to replace an older
// .gitignore (the local locker used to write "*\n") never let a reader see
// it missing, empty or half-written, and leave no temporary file behind.
func TestWriteGitIgnoreConcurrent(t *testing.T) {
	for range 20 {
		dir := t.TempDir()
		path := filepath.Join(dir, ".gitignore")
		if err := os.WriteFile(path, []byte("*\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var done atomic.Bool
		var reads atomic.Int64
		readerDone := make(chan struct{})
		go func() {
			defer close(readerDone)
			for !done.Load() || reads.Load() == 0 {
				b, err := os.ReadFile(path)
				reads.Add(1)
				if err != nil || (string(b) != "*\n" && string(b) != local.GitIgnore) {
					t.Errorf("a reader saw %q (%v)", b, err)
					return
				}
			}
		}()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := local.WriteGitIgnore(dir); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		done.Store(true)
		<-readerDone
		if b, err := os.ReadFile(path); err != nil || string(b) != local.GitIgnore {
			t.Fatalf(".gitignore after the writers: %q (%v)", b, err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("the writers left %d files, want only .gitignore: %v", len(entries), entries)
		}
	}
}

// TestWriteGitIgnoreOnlyWhenItDiffers: a .gitignore that already holds the
// content is left alone (same file, not rewritten), so panka never touches
// it on every run.
func TestWriteGitIgnoreOnlyWhenItDiffers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".gitignore")
	if err := local.WriteGitIgnore(dir); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if before.Mode().Perm() != 0o644 {
		t.Errorf(".gitignore mode %v, want 0644", before.Mode().Perm())
	}
	if err := local.WriteGitIgnore(dir); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("an up-to-date .gitignore was rewritten")
	}
}

// TestWriteGitIgnoreKeepsTheRepositorys: backend.directory may be a
// folder of the repository with a .gitignore of its own (or the root):
// that file is left as it is, where replacing it with "*" lost its rules
// and made git ignore every new file there. panka's own files (this
// build's, an earlier one's "*", an empty one) are still brought up to
// date.
func TestWriteGitIgnoreKeepsTheRepositorys(t *testing.T) {
	for _, tc := range []struct {
		name, old string
		replaced  bool
	}{
		{"the repository's", "secrets.env\n*.log\n", false},
		{"the repository's, with a star too", "# ops\n*\n!README.md\n", false},
		{"an earlier panka's", "*\n", true},
		{"empty", "", true},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, ".gitignore")
		if err := os.WriteFile(path, []byte(tc.old), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := local.New(local.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		k := statestore.Key{Stack: "shop", Environment: "dev"}
		if _, err := s.Put(context.Background(), k, &statestore.State{Status: statestore.StatusDeployed}, ""); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := tc.old
		if tc.replaced {
			want = local.GitIgnore
		}
		if string(b) != want {
			t.Errorf("%s: .gitignore after a write of state is %q, want %q", tc.name, b, want)
		}
		// The state folder is kept out of git by a .gitignore of its own.
		b, err = os.ReadFile(filepath.Join(dir, "state", ".gitignore"))
		if tc.replaced && err == nil {
			t.Errorf("%s: state/.gitignore written next to panka's own .gitignore", tc.name)
		}
		if !tc.replaced && string(b) != local.GitIgnore {
			t.Errorf("%s: state/.gitignore is %q (%v), want panka's", tc.name, b, err)
		}
	}
}

// TestIgnoreFolderOfTheRepository: a backend.directory that is a folder of
// the repository without a .gitignore (ops/ with a runbook, or "." for the
// root) got a .gitignore of "*", which made git ignore every new file in
// it (a new runbook, or with "." every new stack file) and itself. The
// state and locks folders get panka's .gitignore instead; a folder that
// is new, or holds only panka's folders (.panka), still gets its own.
func TestIgnoreFolderOfTheRepository(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  []string
		pankas bool
	}{
		{"new", nil, true},
		{"panka's folders only", []string{"local/shop/dev/web.json", "locks/x.json"}, true},
		{"a folder of the repository", []string{"README.md"}, false},
		{"the repository root", []string{"stacks/shop/stack.yaml", "panka.yaml"}, false},
	} {
		dir := filepath.Join(t.TempDir(), "backend")
		for _, f := range tc.files {
			p := filepath.Join(dir, filepath.FromSlash(f))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s, err := local.New(local.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		k := statestore.Key{Stack: "shop", Environment: "dev"}
		if _, err := s.Put(context.Background(), k, &statestore.State{Status: statestore.StatusDeployed}, ""); err != nil {
			t.Fatal(err)
		}
		top, terr := os.ReadFile(filepath.Join(dir, ".gitignore"))
		sub, serr := os.ReadFile(filepath.Join(dir, "state", ".gitignore"))
		if tc.pankas {
			if string(top) != local.GitIgnore || serr == nil {
				t.Errorf("%s: .gitignore %q (%v), state/.gitignore %q (%v); want panka's at the top only", tc.name, top, terr, sub, serr)
			}
			continue
		}
		if terr == nil || string(sub) != local.GitIgnore {
			t.Errorf("%s: .gitignore %q (%v), state/.gitignore %q (%v); want panka's in state/ only", tc.name, top, terr, sub, serr)
		}
	}
}
