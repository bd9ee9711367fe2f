package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
)

// planStore opens the state store for plan until the shared store factory
// (Factory.Store in storefactory.go) lands; then plan uses that instead.
func (f *Factory) planStore(_ context.Context, cfg *config.Resolved) (statestore.Store, error) {
	if cfg.Backend.Type != "" && cfg.Backend.Type != "local" {
		return nil, fmt.Errorf("backend.type %s: not supported by this build yet", cfg.Backend.Type)
	}
	dir := cfg.Backend.Directory
	root, err := f.RepoRoot()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		dir = filepath.Join(root, ".panka")
	} else if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	return local.New(local.Options{Dir: dir, Prefix: cfg.Backend.Prefix})
}
