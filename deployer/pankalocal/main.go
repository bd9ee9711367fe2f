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
)

// Name is the Pulumi package name: the binary must be called
// pulumi-resource-<Name> and the resource token is <Name>:index:Component.
const Name = "pankalocal"

// Version is reported to the engine. Ambient plugins (found on PATH) are used
// whatever their version, so it only shows up in diagnostics.
var Version = "0.1.0"

func main() {
	p, err := newProvider()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-pankalocal: %v\n", err)
		os.Exit(1)
	}
	if err := p.Run(context.Background(), Name, Version); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-pankalocal: %v\n", err)
		os.Exit(1)
	}
}
