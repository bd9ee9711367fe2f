package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	return testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: updateScripts,
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
