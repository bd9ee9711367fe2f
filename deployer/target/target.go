// Package target defines how a resolved stack becomes Pulumi resources.
// A Target registers, inside a Pulumi program, the resources of every
// component of a stacks.Resolved model in dependency order, wiring
// ${component.output} references as Pulumi inputs, and exports every
// component output as a stack output named "<component>.<output>".
//
// Implementations: target/local (the pankalocal provider: manifest files)
// and target/aws (pulumi-aws). This package must not import either.
package target

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"panka.dev/panka/stacks"
)

// Options are deploy-time settings a target needs beyond the model.
type Options struct {
	// RepoRoot resolves relative paths (the local target's directory).
	RepoRoot string
	// Only, when non-empty, limits the program to these components (and
	// keeps the others untouched: callers must pass the deployed model for
	// the rest; --target-component).
	Only []string
	// Protect marks the resources that hold a data-holding component's
	// data (Database, Cache, Bucket, Queue) protected in the engine's
	// state: the engine then refuses to replace them, whatever decides
	// it, and to delete them until their protection is cleared
	// (pulumirun.Runner.Unprotect). Callers set it unless --allow-replace.
	Protect bool
}

// Target maps components to Pulumi resources.
type Target interface {
	// Name is the provider name in stack.yaml spec.provider.name.
	Name() string
	// Register declares the resources of r inside ctx. It must be
	// deterministic: the same model gives the same resources and URNs.
	// Sensitive values (stacks.Sensitive) are passed as pulumi.ToSecret.
	Register(ctx *pulumi.Context, r *stacks.Resolved, opts Options) error
}

// OutputName is the stack output that carries a component output.
func OutputName(component, output string) string { return component + "." + output }
