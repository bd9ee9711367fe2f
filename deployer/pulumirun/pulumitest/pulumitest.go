// Package pulumitest gives tests what they need to drive the real Pulumi
// engine: the Pulumi CLI (the repository's .tools/bin/pulumi, built by
// `make tools`, or one on PATH), the pulumi-resource-pankalocal provider
// (built from deployer/pankalocal once and cached by source hash under
// .tools/cache), and an isolated environment (PULUMI_HOME in a temp dir, a
// passphrase, no update checks, no plugin downloads).
//
// When the CLI is missing, tests skip — unless CI is set, where a missing
// tool is a failure (SPEC §9). It is test support only: it reads the
// process environment and builds binaries.
package pulumitest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Passphrase is the secrets passphrase tests use.
const Passphrase = "panka-test-passphrase"

// RepoRoot is the panka repository root (the folder holding go.mod of
// module panka.dev/panka), found from the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module panka.dev/panka\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("pulumitest: cannot find the panka repository root (go.mod of panka.dev/panka) above the working directory")
		}
		dir = parent
	}
}

func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this is a failure: run `make tools`)", what)
	}
	t.Skipf("%s: run `make tools` to build it", what)
}

// CLI returns the Pulumi CLI: <repo>/.tools/bin/pulumi, else `pulumi` on
// PATH. It skips the test (fails in CI) when there is none.
func CLI(t testing.TB) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), ".tools", "bin", "pulumi")
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p
	}
	if p, err := exec.LookPath("pulumi"); err == nil {
		return p
	}
	missing(t, "the Pulumi CLI is not installed (.tools/bin/pulumi or on PATH)")
	return ""
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// ProviderDir returns a folder holding pulumi-resource-pankalocal built
// from the current sources of deployer/pankalocal (cached under
// <repo>/.tools/cache/pankalocal/<source hash>/, so only the first test run
// after a change pays for the build).
func ProviderDir(t testing.TB) string {
	t.Helper()
	root := RepoRoot(t)
	buildOnce.Do(func() { buildDir, buildErr = buildProvider(root) })
	if buildErr != nil {
		t.Fatalf("build pulumi-resource-pankalocal: %v", buildErr)
	}
	return buildDir
}

func buildProvider(root string) (string, error) {
	src := filepath.Join(root, "deployer", "pankalocal")
	h := sha256.New()
	var files []string
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "go.mod") || strings.HasSuffix(p, "go.sum")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	for _, f := range files {
		rel, _ := filepath.Rel(src, f)
		fmt.Fprintf(h, "%s\x00", rel)
		fh, err := os.Open(f)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", err
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	dir := filepath.Join(root, ".tools", "cache", "pankalocal", sum)
	bin := filepath.Join(dir, "pulumi-resource-pankalocal")
	if _, err := os.Stat(bin); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".build-%d", os.Getpid()))
	cmd := exec.Command("go", "build", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go build in %s: %v\n%s", src, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return dir, nil
}

// Env returns the environment for the Pulumi CLI in tests: PULUMI_HOME in
// a fresh temp dir, the test passphrase, no update check, no plugin
// downloads.
func Env(t testing.TB) map[string]string {
	t.Helper()
	return map[string]string{
		"PULUMI_HOME":                                 t.TempDir(),
		"PULUMI_CONFIG_PASSPHRASE":                    Passphrase,
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
	}
}
