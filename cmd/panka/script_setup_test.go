package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"panka.dev/panka/deployer/engine/enginetest"
)

var updateScripts = os.Getenv("UPDATE_SCRIPTS") != ""

// scriptParams sets up every script: HOME in the work dir, no colour, the
// test servers' endpoints passed through, and the examples repo available
// as $EXAMPLES.
func scriptParams(t *testing.T) testscript.Params {
	examples, err := filepath.Abs("../../testdata/examples")
	if err != nil {
		t.Fatal(err)
	}
	quickstart, err := filepath.Abs("../../testdata/quickstart")
	if err != nil {
		t.Fatal(err)
	}
	// The repository root, so scripts can run what README.md and docs/
	// show (as $DOCROOT/README.md).
	docroot, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// testscript removes the folder it makes for the work dirs
	// ($GOTMPDIR/go-test-script*) when the last of all the scripts in
	// Dir finishes: run with -run TestScript/NAME, the others never run,
	// and it was left behind, empty, on every such run. It is removed
	// here once every script has finished (each work dir is gone by
	// then; with -testwork they stay, and so does the folder).
	var rootsMu sync.Mutex
	roots := map[string]bool{}
	t.Cleanup(func() {
		rootsMu.Lock()
		defer rootsMu.Unlock()
		for r := range roots {
			_ = os.Remove(r) // only when empty
		}
	})
	return testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: updateScripts,
		Cmds:          map[string]func(*testscript.TestScript, bool, []string){"s3put": s3Put, "validjson": validJSON, "jsonkeys": jsonKeys},
		// [env:NAME] is true when NAME is set and not empty (test servers).
		Condition: func(cond string) (bool, error) {
			if name, ok := strings.CutPrefix(cond, "env:"); ok {
				return os.Getenv(name) != "", nil
			}
			if cond == "engine" {
				_, _, err := enginetest.Tools()
				if err != nil && os.Getenv("CI") != "" {
					return false, fmt.Errorf("deployment tools are required in CI: %w", err)
				}
				return err == nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			rootsMu.Lock()
			roots[filepath.Dir(env.WorkDir)] = true
			rootsMu.Unlock()
			env.Setenv("HOME", env.WorkDir+"/home")
			env.Setenv("NO_COLOR", "1")
			env.Setenv("EXAMPLES", examples)
			env.Setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
			for _, k := range []string{"PANKA_TEST_S3_ENDPOINT", "PANKA_TEST_S3_ACCESS_KEY", "PANKA_TEST_S3_SECRET_KEY", "PANKA_TEST_DYNAMODB_ENDPOINT", "PATH", "CI", "PULUMI_HOME"} {
				if v := os.Getenv(k); v != "" {
					env.Setenv(k, v)
				}
			}
			// Deployments need panka-engine, the local provider and the Pulumi
			// CLI: freshly built from this checkout, never stale copies in bin/.
			if bin, pulumiDir, err := enginetest.Tools(); err == nil {
				env.Setenv("PATH", bin+string(os.PathListSeparator)+pulumiDir+string(os.PathListSeparator)+env.Getenv("PATH"))
				env.Setenv("PULUMI_HOME", env.WorkDir+"/pulumi-home")
				env.Setenv("PULUMI_CONFIG_PASSPHRASE", "test-passphrase")
			}
			env.Setenv("QUICKSTART", quickstart)
			env.Setenv("DOCROOT", docroot)
			return nil
		},
	}
}
