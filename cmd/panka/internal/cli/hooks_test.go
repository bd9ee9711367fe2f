package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func hooksGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.email=t@example.com", "-c", "user.name=T"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestHooksInstallAndPrePush(t *testing.T) {
	dir := t.TempDir()
	hooksGit(t, dir, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hooksGit(t, dir, "add", "-A")
	hooksGit(t, dir, "commit", "-qm", "start")
	base := hooksGit(t, dir, "rev-parse", "HEAD")
	qs, _ := filepath.Abs("../../../../testdata/quickstart/stacks")
	if out, err := exec.Command("cp", "-r", qs, filepath.Join(dir, "stacks")).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	hooksGit(t, dir, "add", "-A")
	hooksGit(t, dir, "commit", "-qm", "shop")
	head := hooksGit(t, dir, "rev-parse", "HEAD")

	f, out, errOut := stackTestFactory(t, dir, "", false)
	if code := Run(context.Background(), f, []string{"hooks", "install"}); code != 0 {
		t.Fatalf("hooks install: exit %d: %s", code, errOut)
	}
	hook, err := os.ReadFile(filepath.Join(dir, ".git", "hooks", "pre-push"))
	if err != nil || !strings.Contains(string(hook), "hooks run pre-push") || !strings.Contains(out.String(), "Installed") {
		t.Fatalf("hook not installed: %v\n%s", err, hook)
	}

	tests := []struct {
		name     string
		stdin    string
		wantCode int
		want     string
	}{
		{name: "push to an existing branch", stdin: "refs/heads/main " + head + " refs/heads/main " + base + "\n", want: "shop (added): dev, production"},
		{name: "new branch uses the default base", stdin: "refs/heads/main " + head + " refs/heads/main " + strings.Repeat("0", 40) + "\n", want: "refs/heads/main changes"},
		{name: "deleting a branch checks nothing", stdin: "(delete) " + strings.Repeat("0", 40) + " refs/heads/old " + base + "\n", want: ""},
		{name: "bad input", stdin: "garbage\n", wantCode: 1, want: "pre-push input line 1"},
		// Before any stack exists the stacks root is missing on both sides:
		// said, but the push is not blocked.
		{name: "no stacks yet", stdin: "refs/heads/main " + base + " refs/heads/main " + base + "\n", want: `stacks root "stacks" is not a folder`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, errOut := stackTestFactory(t, dir, tt.stdin, false)
			code := Run(context.Background(), f, []string{"hooks", "run", "pre-push", "origin", "https://example.com/repo.git"})
			if code != tt.wantCode || !strings.Contains(errOut.String(), tt.want) {
				t.Fatalf("exit %d (want %d), stderr:\n%s", code, tt.wantCode, errOut)
			}
		})
	}

	// A stack that no longer loads refuses the push.
	if err := os.WriteFile(filepath.Join(dir, "stacks/shop/infra/data.yaml"), []byte("apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: orders\nspec:\n  fifoo: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hooksGit(t, dir, "commit", "-qam", "broken")
	broken := hooksGit(t, dir, "rev-parse", "HEAD")
	f, _, errOut = stackTestFactory(t, dir, "refs/heads/main "+broken+" refs/heads/main "+head+"\n", false)
	if code := Run(context.Background(), f, []string{"hooks", "run", "pre-push"}); code != 1 || !strings.Contains(errOut.String(), "push refused") || !strings.Contains(errOut.String(), "fifoo") {
		t.Fatalf("broken stack: exit %d, stderr:\n%s", code, errOut)
	}
}
