package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestResolveImpliedTypes: a bucket given anywhere selects the s3 backend
// unless backend.type says otherwise, so --backend-bucket / PANKA_BACKEND_BUCKET
// are never silently ignored in favour of .panka/; lock types follow SPEC §8.
func TestResolveImpliedTypes(t *testing.T) {
	repoFile := filepath.Join(t.TempDir(), "panka.yaml")
	if err := os.WriteFile(repoFile, []byte("backend:\n  bucket: from-repo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name                   string
		layers                 Layers
		wantBackend, wantLocks string
		wantBackendSrc         string
		wantLocksSrc           string
	}{
		{name: "nothing configured", wantBackend: "local", wantLocks: "local",
			wantBackendSrc: "default", wantLocksSrc: "default (implied by backend.type=local)"},
		{name: "bucket flag", layers: Layers{Flags: map[string]string{"backend.bucket": "b"}, FlagNames: map[string]string{"backend.bucket": "backend-bucket"}},
			wantBackend: "s3", wantLocks: "s3",
			wantBackendSrc: "default (implied by backend.bucket)", wantLocksSrc: "default (implied by backend.type=s3)"},
		{name: "bucket env", layers: Layers{Env: []string{"PANKA_BACKEND_BUCKET=b"}},
			wantBackend: "s3", wantLocks: "s3",
			wantBackendSrc: "default (implied by backend.bucket)", wantLocksSrc: "default (implied by backend.type=s3)"},
		{name: "bucket in panka.yaml", layers: Layers{RepoFile: repoFile},
			wantBackend: "s3", wantLocks: "s3",
			wantBackendSrc: "default (implied by backend.bucket)", wantLocksSrc: "default (implied by backend.type=s3)"},
		{name: "bucket and table", layers: Layers{Env: []string{"PANKA_BACKEND_BUCKET=b", "PANKA_LOCKS_TABLE=t"}},
			wantBackend: "s3", wantLocks: "dynamodb",
			wantBackendSrc: "default (implied by backend.bucket)", wantLocksSrc: "default (implied by locks.table)"},
		{name: "explicit local wins over a bucket", layers: Layers{Env: []string{"PANKA_BACKEND_BUCKET=b", "PANKA_BACKEND_TYPE=local"}},
			wantBackend: "local", wantLocks: "local",
			wantBackendSrc: "env (PANKA_BACKEND_TYPE)", wantLocksSrc: "default (implied by backend.type=local)"},
		{name: "empty bucket", layers: Layers{Env: []string{"PANKA_BACKEND_BUCKET="}},
			wantBackend: "local", wantLocks: "local",
			wantBackendSrc: "default", wantLocksSrc: "default (implied by backend.type=local)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Resolve(tt.layers)
			if err != nil {
				t.Fatal(err)
			}
			if r.Backend.Type != tt.wantBackend || r.Locks.Type != tt.wantLocks {
				t.Errorf("backend.type, locks.type = %q, %q; want %q, %q", r.Backend.Type, r.Locks.Type, tt.wantBackend, tt.wantLocks)
			}
			if got := r.Sources["backend.type"].String(); got != tt.wantBackendSrc {
				t.Errorf("backend.type source = %q; want %q", got, tt.wantBackendSrc)
			}
			if got := r.Sources["locks.type"].String(); got != tt.wantLocksSrc {
				t.Errorf("locks.type source = %q; want %q", got, tt.wantLocksSrc)
			}
			if err := r.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}
