package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
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
	return testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: updateScripts,
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
			return nil
		},
	}
}
