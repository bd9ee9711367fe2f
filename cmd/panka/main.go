// Command panka is a git-native deployment CLI. See the README.
package main

import (
	"os"

	"panka.dev/panka/cmd/panka/internal/cli"
)

func main() { os.Exit(cli.Main()) }
