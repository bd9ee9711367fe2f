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
