//go:build unix

package local_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
)

// TestFilesFollowUmask: state.json, history records and the state lock are
// created 0644 less the umask, like everything else under .panka/ (Pulumi's
// state, the manifests), not 0600: another user of a shared or read-only
// checkout (a CI container running as another uid) must be able to run
// `panka plan` / `status` / `history` there. A umask of 077 keeps them
// private.
func TestFilesFollowUmask(t *testing.T) {
	for _, tc := range []struct {
		umask int
		want  fs.FileMode
	}{{0o022, 0o644}, {0o077, 0o600}, {0o002, 0o644}} {
		old := syscall.Umask(tc.umask)
		dir := filepath.Join(t.TempDir(), ".panka")
		s, err := local.New(local.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		key := statestore.Key{Stack: "shop", Environment: "dev"}
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		d := &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: "dep-1", Serial: 1,
			Stack: "shop", Environment: "dev", Operation: statestore.OpApply, User: "dev",
			StartedAt: at, EndedAt: at.Add(time.Second), Result: statestore.ResultSucceeded}
		if err := s.AppendHistory(ctx, key, d); err != nil {
			t.Fatal(err)
		}
		st := &statestore.State{SchemaVersion: statestore.SchemaVersion, Serial: 1, Stack: "shop",
			Environment: "dev", Status: statestore.StatusDeployed, UpdatedAt: at}
		if _, err := s.Put(ctx, key, st, ""); err != nil {
			t.Fatal(err)
		}
		syscall.Umask(old)
		envDir := filepath.Join(dir, "state", "stacks", "shop", "dev")
		files, _ := filepath.Glob(filepath.Join(envDir, "history", "*.json"))
		files = append(files, filepath.Join(envDir, "state.json"), filepath.Join(envDir, ".state.lock"))
		if len(files) != 3 {
			t.Fatalf("files written: %v", files)
		}
		for _, f := range files {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tc.want {
				t.Errorf("umask %03o: %s has mode %04o, want %04o", tc.umask, f, got, tc.want)
			}
		}
	}
}
