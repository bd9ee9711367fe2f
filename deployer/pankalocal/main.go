// Command pulumi-resource-pankalocal is the Pulumi resource provider of
// panka's `local` target. It realizes each panka component as a JSON
// manifest file, so the quickstart and the end-to-end tests drive the real
// Pulumi engine without any cloud.
//
// It lives in its own Go module because pulumi-go-provider v1.3.0 needs the
// pulumi pkg/sdk versions it was built against (v3.217.0), which differ from
// the SDK the panka binary uses. Nothing in panka imports this module: the
// engine talks to it over gRPC, and panka's local target refers to it by its
// type token only (see deployer/target/local).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	pprovider "github.com/pulumi/pulumi/pkg/v3/resource/provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
)

// Name is the Pulumi package name: the binary must be called
// pulumi-resource-<Name> and the resource token is <Name>:index:Component.
const Name = "pankalocal"

// Version is reported to the engine. Ambient plugins (found on PATH) are used
// whatever their version, so it only shows up in diagnostics.
var Version = "0.1.0"

// engineCheckEvery is how often the provider asks the Pulumi engine that
// started it whether it is still there.
const engineCheckEvery = time.Second

func main() {
	prov, err := newProvider()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-pankalocal: %v\n", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = p.RunProviderF(ctx, Name, Version, func(host *pprovider.HostClient) (p.Provider, error) {
		if host != nil {
			if err := watchEngine(ctx, host, cancel); err != nil {
				return p.Provider{}, err
			}
		}
		return prov, nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-pankalocal: %v\n", err)
		os.Exit(1)
	}
}

// watchEngine cancels ctx once the Pulumi engine at the host address stops
// answering, which stops the provider's server after its in-flight requests
// (their contexts end with the engine's connection). The Pulumi CLI kills
// its plugins when it exits normally, but starts them in their own process
// group, so a Pulumi CLI killed by a signal (or dying with its parent) would
// leave the provider serving forever. The SDK's own check does not cover
// this: provider.MainContext (pulumi pkg v3.217.0) checks only every five
// minutes and, on failure, cancels a context nothing listens to.
func watchEngine(ctx context.Context, host *pprovider.HostClient, cancel context.CancelFunc) error {
	addr := host.EngineConn().Target()
	if err := rpcutil.Healthcheck(ctx, addr, engineCheckEvery, cancel); err != nil {
		return fmt.Errorf("watch the engine at %s: %w", addr, err)
	}
	return nil
}
