package local_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
	"panka.dev/panka/statestore/storetest"
)

func newInstance(t *testing.T) storetest.Instance {
	dir := filepath.Join(t.TempDir(), ".panka")
	return storetest.Instance{
		Open: func(prefix string) (statestore.Store, error) {
			return local.New(local.Options{Dir: dir, Prefix: prefix})
		},
		WriteRaw: func(path string, data []byte) error {
			p := filepath.Join(dir, "state", filepath.FromSlash(path))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			return os.WriteFile(p, data, 0o644)
		},
		Where: func(path string) string { return filepath.Join(dir, "state", filepath.FromSlash(path)) },
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newInstance, storetest.Options{})
}

func TestGitignoreAndLazyCreate(t *testing.T) {
	s, dir := newLocalStore(t)
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	if _, err := s.List(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(t.Context(), key); err == nil {
		t.Fatal("Get of missing state succeeded")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("reads created %s (stat: %v)", dir, err)
	}
	if _, err := s.Put(t.Context(), key, &statestore.State{Serial: 1}, ""); err != nil {
		t.Fatal(err)
	}
	gi, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if err != nil {
		t.Fatalf("no .gitignore after the first write: %v", err)
	}
	if want := "\n*\n"; !strings.HasSuffix(string(gi), want) {
		t.Fatalf(".gitignore = %q, want a line with *", gi)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "stacks", "orders", "dev", "state.json")); err != nil {
		t.Fatalf("state not at the documented path: %v", err)
	}
	if _, err := local.New(local.Options{}); err == nil {
		t.Fatal("New without a directory succeeded")
	}
}

// TestTwoStoresShareLock checks CAS across independent Store values (as two
// processes would have), not just goroutines sharing one.
func TestTwoStoresShareLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".panka")
	a, _ := local.New(local.Options{Dir: dir})
	b, _ := local.New(local.Options{Dir: dir})
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	v, err := a.Put(t.Context(), key, &statestore.State{Serial: 1}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(t.Context(), key, &statestore.State{Serial: 2}, v); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(t.Context(), key, &statestore.State{Serial: 2}, v); !errors.Is(err, statestore.ErrConflict) {
		t.Fatalf("stale write through another Store: %v, want ErrConflict", err)
	}
}

// BenchmarkState200 measures read and CAS-write latency of a 200-component
// state on the local backend.
func BenchmarkState200(b *testing.B) {
	s, err := local.New(local.Options{Dir: filepath.Join(b.TempDir(), ".panka")})
	if err != nil {
		b.Fatal(err)
	}
	storetest.Bench(b, s, 200, 20)
}

// newLocalStore is a local store in a fresh <tmp>/.panka, and that folder.
func newLocalStore(t *testing.T) (*local.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".panka")
	s, err := local.New(local.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}
