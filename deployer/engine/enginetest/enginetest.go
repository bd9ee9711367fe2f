// Package enginetest builds what end-to-end deployment tests need — panka,
// the panka-engine helper and the pulumi-resource-pankalocal provider, from
// this checkout — and finds the Pulumi CLI, so tests never run stale binaries
// from bin/. It is for tests only.
package enginetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

var (
	once   sync.Once
	binDir string
	err    error
)

// Tools returns a folder holding freshly built panka, panka-engine and
// pulumi-resource-pankalocal, and the folder of the Pulumi CLI
// (.tools/bin of the checkout, or wherever `pulumi` is on PATH). Builds run
// once per process; the go build cache makes repeats cheap.
//
// The folder is .tools/testbin of the checkout (git-ignored), shared by the
// test processes `go test ./...` runs at once: each builds under a name of
// its own and renames the result into place, which is atomic, so a process
// never runs a half-written binary and nothing is left behind in the
// temporary folder (a per-process copy there took ~180 MB a test run).
func Tools() (bin, pulumiDir string, e error) {
	once.Do(func() {
		root := repoRoot()
		binDir = filepath.Join(root, ".tools", "testbin")
		if err = os.MkdirAll(binDir, 0o755); err != nil {
			return
		}
		builds := []struct{ dir, pkg, out string }{
			{root, "./cmd/panka", "panka"},
			{root, "./cmd/panka-engine", "panka-engine"},
			{filepath.Join(root, "deployer", "pankalocal"), ".", "pulumi-resource-pankalocal"},
		}
		for _, b := range builds {
			tmp := filepath.Join(binDir, fmt.Sprintf(".%s.%d", b.out, os.Getpid()))
			cmd := exec.Command("go", "build", "-o", tmp, b.pkg)
			cmd.Dir = b.dir
			if out, e := cmd.CombinedOutput(); e != nil {
				os.Remove(tmp)
				err = fmt.Errorf("build %s: %v\n%s", b.out, e, out)
				return
			}
			if err = os.Rename(tmp, filepath.Join(binDir, b.out)); err != nil {
				os.Remove(tmp)
				return
			}
		}
	})
	if err != nil {
		return "", "", err
	}
	if p := filepath.Join(repoRoot(), ".tools", "bin", "pulumi"); fileExists(p) {
		return binDir, filepath.Dir(p), nil
	}
	if p, e := exec.LookPath("pulumi"); e == nil {
		return binDir, filepath.Dir(p), nil
	}
	return binDir, "", fmt.Errorf("no Pulumi CLI in .tools/bin or on PATH: run `make tools`")
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
