package cli

import (
	"context"

	"panka.dev/panka/stacks"
)

// planAllChanged plans every stack/environment that change detection
// reports between --base and --head, under one summary.
func planAllChanged(ctx context.Context, opts *PlanOptions, vars stacks.VarValues) error {
	return Usagef("--all-changed needs change detection (gitops/changes), which this build does not have yet")
}
