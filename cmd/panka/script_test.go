package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"panka.dev/panka/cmd/panka/internal/cli"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"panka": func() { os.Exit(cli.Main()) },
	})
}

// TestScript runs the CLI scripts in testdata/script against the real
// command (in-process binary). Refresh expectations with -update.
func TestScript(t *testing.T) {
	testscript.Run(t, scriptParams(t))
}
