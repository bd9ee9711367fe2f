package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/gitops"
	ddblocker "panka.dev/panka/locker/dynamodb"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
	s3store "panka.dev/panka/statestore/s3"
)

// ciWarned remembers the factories that already warned about local state in CI.
var ciWarned sync.Map

// worktreeWarned remembers the factories that already warned about a
// linked worktree's own local state.
var worktreeWarned sync.Map

// warnWorktreeState warns, once, when the embedded default's state dir is
// read in a linked worktree (git worktree add) while the main worktree's
// .panka/ holds state: each checkout keeps its own, so changed
// --since-deployed listed every environment as added, and status and plan
// saw nothing deployed, for what the main checkout deployed, without a
// word. (README: the embedded default belongs to one checkout.)
func (f *Factory) warnWorktreeState(dir string) {
	root, err := f.RepoRoot()
	if err != nil {
		return
	}
	gitDir, common, err := gitops.GitDirs(root)
	if err != nil || gitDir == common || filepath.Base(common) != ".git" {
		return // not a linked worktree, or one of a bare repository
	}
	main := filepath.Dir(common)
	mainDir := filepath.Join(main, ".panka")
	if main == root || mainDir == dir {
		return
	}
	if st, err := os.Stat(filepath.Join(mainDir, "state")); err != nil || !st.IsDir() {
		return
	}
	if _, done := worktreeWarned.LoadOrStore(f, true); done {
		return
	}
	f.Log.Warn().Msgf("this is a linked worktree of %s (git worktree add), and the embedded default keeps state in each checkout's own .panka/: what was deployed from %s is in %s, not in %s, so here it reads as not deployed; "+
		"to share it, set backend.directory: %s (PANKA_BACKEND_DIRECTORY), or configure a bucket", main, main, mainDir, dir, mainDir)
}

// unsetEnvRef is an error when a backend or locks setting of a config
// file reads an environment variable (${NAME}) that is unset or empty: the
// value left is not the bucket, table, prefix or folder the file means,
// and an empty backend.bucket is the local backend, where status said
// nothing was deployed and apply made a second deployment beside the
// team's. Commands that open neither (validate, changed, show) still run.
func unsetEnvRef(cfg *config.Resolved) error {
	var keys []string
	for k, src := range cfg.Sources {
		if src.Unset != "" && (strings.HasPrefix(k, "backend.") || strings.HasPrefix(k, "locks.")) && !unusedSetting(cfg, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	src := cfg.Sources[keys[0]]
	refs, verb := "${"+strings.ReplaceAll(src.Unset, ", ", "}, ${")+"}", "is"
	if strings.Contains(src.Unset, ",") {
		verb = "are"
	}
	return fmt.Errorf("%s (%s) reads %s, which %s not set in the environment (or empty): export it, or write the value in the file; without it the state and locks would be read somewhere else than the file means", keys[0], src.Where, refs, verb)
}

// unusedSetting is whether key plays no part in where cfg keeps state and
// locks: an S3 setting while backend.type local is chosen (not implied),
// backend.directory with an s3 backend, a DynamoDB setting while another
// locks.type is chosen.
func unusedSetting(cfg *config.Resolved, key string) bool {
	chosen := func(k string) bool { return cfg.Sources[k].Layer != "default" }
	switch key {
	case "backend.type", "backend.prefix":
		return false
	case "backend.directory":
		return cfg.Backend.Type == "s3"
	case "locks.table", "locks.region", "locks.endpoint":
		return chosen("locks.type") && cfg.Locks.Type != "dynamodb"
	}
	return strings.HasPrefix(key, "backend.") && chosen("backend.type") && cfg.Backend.Type == "local"
}

// Store opens the state store of cfg: backend.type local (the default;
// <repo>/.panka, or backend.directory) or s3 (backend.bucket, with
// backend.sse/kmsKeyId). backend.prefix puts every key under a prefix; a
// stack's own spec.backend.prefix arrives through ConfigForStack. With the
// local backend and CI set it warns once on stderr: the state would die with
// the runner. With -v it logs where the state is and which key chose that.
func (f *Factory) Store(ctx context.Context, cfg *config.Resolved) (_ statestore.Store, err error) {
	defer func() {
		if err == nil {
			f.Log.Debug().Str("state", f.describeBackend(cfg)).Str("source", cfg.Sources["backend.type"].String()).Msg("state backend")
		}
	}()
	if err := unsetEnvRef(cfg); err != nil {
		return nil, err
	}
	switch cfg.Backend.Type {
	case "", "local":
		dir, err := f.localDir(cfg)
		if err != nil {
			return nil, err
		}
		if cfg.Backend.Directory == "" {
			f.warnWorktreeState(dir)
		}
		if src := cfg.Sources["backend.endpoint"]; cfg.Backend.Endpoint != "" && src.Layer != "default" && cfg.Sources["backend.type"].Layer == "default" {
			// An S3-compatible server was named, but not the bucket (a
			// CI variable for it that expanded to nothing): state went
			// to .panka/ without a word, out of the team's sight. (Not
			// where backend.type: local was chosen: an endpoint in
			// ~/.panka/config.yaml for other repositories.)
			f.unusedBackendEndpoint.Do(func() {
				f.Warnf("backend.endpoint is set (%s) but backend.type is local (%s): state is kept in %s, not on that server; set backend.bucket (PANKA_BACKEND_BUCKET or --backend-bucket) to keep it there, or remove backend.endpoint",
					src, cfg.Sources["backend.type"], dir)
			})
		}
		if f.Getenv("CI") != "" {
			if _, done := ciWarned.LoadOrStore(f, true); !done {
				f.Log.Warn().Str("dir", dir).Msg("CI is set but state is kept in the local backend: it is lost with this runner; configure backend.type s3 (panka.yaml or PANKA_BACKEND_TYPE)")
			}
		}
		if err := checkLocalFolder(dir, "state"); err != nil {
			return nil, err
		}
		return local.New(local.Options{Dir: dir, Prefix: cfg.Backend.Prefix})
	case "s3":
		if cfg.Backend.Bucket == "" {
			return nil, fmt.Errorf("backend.type is s3 but backend.bucket is empty: set it in panka.yaml, PANKA_BACKEND_BUCKET or --backend-bucket")
		}
		if err := s3store.CheckBucketName(cfg.Backend.Bucket); err != nil {
			// Say where it was set: a panka.yaml, ~/.panka/config.yaml,
			// a stack's spec.backend, PANKA_BACKEND_BUCKET or the flag.
			return nil, fmt.Errorf("backend.bucket %w; it comes from %s: fix it there", err, cfg.Sources["backend.bucket"])
		}
		f.noteSource(cfg, "backend.bucket", cfg.Backend.Bucket)
		c, err := f.S3Client(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return s3store.New(c, s3store.Options{Bucket: cfg.Backend.Bucket, Prefix: cfg.Backend.Prefix, SSE: cfg.Backend.SSE, KMSKeyID: cfg.Backend.KMSKeyID})
	}
	return nil, fmt.Errorf("backend.type %q is not local or s3", cfg.Backend.Type)
}

// describeBackend names where cfg keeps state, for messages.
func (f *Factory) describeBackend(cfg *config.Resolved) string {
	p, _ := statestore.NormalizePrefix(cfg.Backend.Prefix)
	if cfg.Backend.Type == "s3" {
		return "s3://" + cfg.Backend.Bucket + "/" + p
	}
	dir, err := f.localDir(cfg)
	if err != nil {
		return "local"
	}
	return dir + "/state/" + p
}

// noteSource remembers where cfg's key (backend.bucket, locks.table),
// whose value is name, was set, for withStoreSource.
func (f *Factory) noteSource(cfg *config.Resolved, key, name string) {
	if src, ok := cfg.Sources[key]; ok {
		f.storeSources.LoadOrStore(key+"\x00"+name, src)
	}
}

// withStoreSource adds to the error of an S3 bucket or a DynamoDB lock
// table that does not exist where its name was set: "fix backend.bucket"
// (or "check locks.table") left the user to find which of a stack's
// spec.backend, panka.yaml, ~/.panka/config.yaml, an environment variable
// or a flag named it.
func (f *Factory) withStoreSource(err error) error {
	key, name := "backend.bucket", ""
	if b, ok := s3store.MissingBucket(err); ok {
		name = b
	} else if t, ok := ddblocker.MissingTable(err); ok {
		key, name = "locks.table", t
	} else {
		return err
	}
	src, ok := f.storeSources.Load(key + "\x00" + name)
	if !ok {
		return err
	}
	return fmt.Errorf("%w (%s %q is set by %s)", err, key, name, src)
}
