package cli

import (
	"context"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/statestore"
)

// planStore opens the state store of cfg (Factory.Store). It predates
// Factory.Store and stays because other commands (changed) call it.
func (f *Factory) planStore(ctx context.Context, cfg *config.Resolved) (statestore.Store, error) {
	return f.Store(ctx, cfg)
}
