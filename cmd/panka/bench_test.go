package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"panka.dev/panka/deployer/engine/enginetest"
	"panka.dev/panka/deployer/pulumirun"
	"panka.dev/panka/deployer/target"
	localtarget "panka.dev/panka/deployer/target/local"
	"panka.dev/panka/stacks"
)

// BenchmarkStartup measures `panka version` (SPEC §10: under 30 ms, no
// Pulumi or AWS initialisation) next to `git --version`.
func BenchmarkStartup(b *testing.B) {
	bin, _, err := enginetest.Tools()
	if err != nil {
		if os.Getenv("CI") != "" {
			b.Fatal(err)
		}
		b.Skip(err)
	}
	panka := filepath.Join(bin, "panka")
	run := func(name string, args ...string) time.Duration {
		start := time.Now()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", name, err, out)
		}
		return time.Since(start)
	}
	var p, g time.Duration
	for b.Loop() {
		p += run(panka, "version")
		g += run("git", "--version")
	}
	b.ReportMetric(float64(p.Microseconds())/float64(b.N)/1000, "panka-ms/op")
	b.ReportMetric(float64(g.Microseconds())/float64(b.N)/1000, "git-ms/op")
}

// BenchmarkApplyOverhead applies a 20-component stack on the local target
// with panka (lease, state, plan, history, panka-engine) and runs the same
// program through the bare Automation API runner; every iteration changes
// every component. panka's own overhead is the difference (SPEC §10: < 1 s).
func BenchmarkApplyOverhead(b *testing.B) {
	bin, pulumiDir, err := enginetest.Tools()
	if err != nil {
		if os.Getenv("CI") != "" {
			b.Fatal(err)
		}
		b.Skip(err)
	}
	dir := b.TempDir()
	writeBenchStack(b, dir, 20)
	path := bin + string(os.PathListSeparator) + pulumiDir + string(os.PathListSeparator) + os.Getenv("PATH")
	env := append(os.Environ(), "PATH="+path, "HOME="+dir+"/.home", "PULUMI_HOME="+b.TempDir(),
		"PULUMI_CONFIG_PASSPHRASE=bench", "PULUMI_SKIP_UPDATE_CHECK=true")
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"-c", "user.email=b@e", "-c", "user.name=b", "commit", "--allow-empty", "-qm", "init"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git: %v\n%s", err, out)
		}
	}
	st, err := stacks.Load(os.DirFS(dir), "stacks/bench")
	if err != nil {
		b.Fatal(err)
	}
	bareDir := b.TempDir()
	os.Setenv("PULUMI_CONFIG_PASSPHRASE", "bench")
	var pankaTotal, bareTotal time.Duration
	i := 0
	for b.Loop() {
		i++
		version := fmt.Sprintf("v%d", i)
		cmd := exec.Command(filepath.Join(bin, "panka"), "apply", "--stack", "bench", "--environment", "dev", "--auto-approve", "--var", "VERSION="+version)
		cmd.Dir, cmd.Env = dir, env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("panka apply: %v\n%s", err, out)
		}
		pankaTotal += time.Since(start)

		r, err := st.Resolve("dev", stacks.ResolveOptions{Vars: stacks.VarValues{Flags: map[string]string{"VERSION": version}}})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		ctx := context.Background()
		runner, err := pulumirun.New(ctx, pulumirun.Options{
			Stack: "bench-dev", BackendURL: pulumirun.FileBackendURL(bareDir), PluginDirs: []string{bin, pulumiDir},
			PulumiCLI: filepath.Join(pulumiDir, "pulumi"), PulumiHome: filepath.Join(bareDir, ".pulumi-home"),
			Program: func(pctx *pulumi.Context) error {
				return localtarget.New().Register(pctx, r, target.Options{RepoRoot: bareDir})
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := runner.Up(ctx, nil); err != nil {
			b.Fatal(err)
		}
		runner.Close()
		bareTotal += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(pankaTotal.Seconds()/n, "panka-s/op")
	b.ReportMetric(bareTotal.Seconds()/n, "bare-auto-api-s/op")
	b.ReportMetric((pankaTotal-bareTotal).Seconds()/n, "overhead-s/op")
}

func writeBenchStack(b *testing.B, dir string, n int) {
	b.Helper()
	files := map[string]string{
		"stacks/bench/stack.yaml":            "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: bench\nspec:\n  provider:\n    name: local\n  variables:\n    VERSION:\n      default: v0\n",
		"stacks/bench/environments/dev.yaml": "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec: {}\n",
	}
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "---\napiVersion: core.panka.io/v1\nkind: Worker\nmetadata:\n  name: worker-%02d\nspec:\n  image: example/worker:${VERSION}\n", i)
	}
	files["stacks/bench/infra/workers.yaml"] = sb.String()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}
