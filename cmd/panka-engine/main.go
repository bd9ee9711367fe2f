// Command panka-engine runs Pulumi deployments for panka. panka starts it
// for apply, destroy, rollback and drift and talks to it over stdin/stdout
// (package deployer/engine); it is not meant to be run by hand. Keeping the
// Pulumi SDK and the target mappings in this separate binary keeps panka's
// own start-up fast.
package main

import (
	"os"

	"panka.dev/panka/deployer/engine/host"
)

func main() { os.Exit(host.Main()) }
