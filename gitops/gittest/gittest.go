// Package gittest builds real git repositories in t.TempDir() for tests of
// gitops, change detection and the CLI. It drives the git binary (tests
// require it) with fixed identities and increasing dates, so histories are
// reproducible.
package gittest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// Repo is a work tree under construction.
type Repo struct {
	T   testing.TB
	Dir string
	n   int
}

// New initializes an empty repository (branch main) in a temporary folder.
func New(t testing.TB) *Repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("these tests need a git binary on PATH")
	}
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &Repo{T: t, Dir: dir}
	r.Git("init", "-q", "-b", "main")
	r.Git("config", "user.name", "Test Author")
	r.Git("config", "user.email", "author@example.com")
	r.Git("config", "commit.gpgsign", "false")
	return r
}

// Env is the environment for git processes a test runs by itself (not
// through a Repo): this process's, with the user's and the system's git
// configuration (~/.gitconfig, $XDG_CONFIG_HOME/git/config,
// /etc/gitconfig) not read. Their settings are the developer's, not the
// test's: with commit.gpgsign set (and signing that needs a prompt) every
// commit a test made failed ("gpg failed to sign the data"), and
// core.autocrlf with core.safecrlf refused `git add` of the test's files.
// The test gives what it needs (user.name, user.email) with -c or git
// config in its repository; a test that sets GIT_CONFIG_GLOBAL itself
// (t.Setenv) keeps that file as the global configuration.
func Env() []string {
	env := append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	if _, ok := os.LookupEnv("GIT_CONFIG_GLOBAL"); !ok {
		env = append(env, "GIT_CONFIG_GLOBAL="+os.DevNull)
	}
	return env
}

// Git runs git in the repository and returns trimmed stdout.
func (r *Repo) Git(args ...string) string {
	r.T.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	date := fmt.Sprintf("%d +0000", 1700000000+r.n*60)
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Test Author", "GIT_AUTHOR_EMAIL=author@example.com", "GIT_AUTHOR_DATE="+date,
		"GIT_COMMITTER_NAME=Test Committer", "GIT_COMMITTER_EMAIL=committer@example.com", "GIT_COMMITTER_DATE="+date,
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+r.Dir, "GIT_TERMINAL_PROMPT=0")
	// HOME alone left $XDG_CONFIG_HOME/git/config (when XDG_CONFIG_HOME
	// is set, as on many desktops) read as global configuration: the
	// developer's core.autocrlf and core.safecrlf refused every `add -A`.
	// The global file is the one HOME names, unless the test named one.
	if _, ok := os.LookupEnv("GIT_CONFIG_GLOBAL"); !ok {
		cmd.Env = append(cmd.Env, "GIT_CONFIG_GLOBAL="+filepath.Join(r.Dir, ".gitconfig"))
	}
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		r.T.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return strings.TrimSpace(string(out))
}

// WriteFile writes a file in the work tree without staging it.
func (r *Repo) WriteFile(path, content string) {
	r.T.Helper()
	p := filepath.Join(r.Dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.T.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.T.Fatal(err)
	}
}

// Write writes and stages a file.
func (r *Repo) Write(path, content string) {
	r.T.Helper()
	r.WriteFile(path, content)
	r.Git("add", "--", path)
}

// Remove deletes and stages the deletion of a file or folder.
func (r *Repo) Remove(path string) {
	r.T.Helper()
	r.Git("rm", "-r", "-q", "-f", "--", path)
}

// Move renames (git mv) a file or folder.
func (r *Repo) Move(from, to string) {
	r.T.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(r.Dir, filepath.FromSlash(to))), 0o755); err != nil {
		r.T.Fatal(err)
	}
	r.Git("mv", "--", from, to)
}

// Exists reports whether a path exists in the work tree.
func (r *Repo) Exists(path string) bool {
	_, err := os.Stat(filepath.Join(r.Dir, filepath.FromSlash(path)))
	return err == nil
}

// Commit commits what is staged (allowing empty commits) and returns its id.
func (r *Repo) Commit(msg string) plumbing.Hash {
	r.T.Helper()
	r.n++
	r.Git("commit", "-q", "--allow-empty", "-m", msg)
	return r.Head()
}

// Head returns HEAD's commit id.
func (r *Repo) Head() plumbing.Hash {
	r.T.Helper()
	return plumbing.NewHash(r.Git("rev-parse", "HEAD"))
}

// Fetches counts the git fetch processes that the GIT_TRACE2_EVENT file at
// trace records (0 when git wrote none).
func Fetches(t testing.TB, trace string) int {
	t.Helper()
	b, err := os.ReadFile(trace)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"event":"cmd_name"`) && strings.Contains(line, `"name":"fetch"`) {
			n++
		}
	}
	return n
}
