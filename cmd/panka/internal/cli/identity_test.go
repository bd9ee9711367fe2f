package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/gitops/gittest"
)

func TestLockIdentity(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // relative to repo ("R/") or home ("H/")
		env   []string
		want  string
	}{
		{"repo git config", map[string]string{"R/.git/config": "[user]\n\temail = repo@example.com\n", "H/.gitconfig": "[user]\n\temail = home@example.com\n"}, nil, "repo@example.com"},
		{"global git config", map[string]string{"R/.git/config": "[core]\n\tbare = false\n", "H/.gitconfig": "[user]\n\temail = home@example.com\n"}, nil, "home@example.com"},
		{"xdg git config", map[string]string{"H/.config/git/config": "[user]\n\temail = xdg@example.com\n"}, nil, "xdg@example.com"},
		{"os user", nil, nil, "os-user"},
		// As git records a committer: its environment variables over the
		// configuration (CI jobs set them), EMAIL under it.
		{"GIT_COMMITTER_EMAIL", map[string]string{"R/.git/config": "[user]\n\temail = repo@example.com\n"}, []string{"GIT_COMMITTER_EMAIL=committer@example.com", "GIT_AUTHOR_EMAIL=author@example.com"}, "committer@example.com"},
		{"GIT_AUTHOR_EMAIL", map[string]string{"R/.git/config": "[user]\n\temail = repo@example.com\n"}, []string{"GIT_AUTHOR_EMAIL=author@example.com"}, "author@example.com"},
		{"EMAIL under git config", map[string]string{"R/.git/config": "[user]\n\temail = repo@example.com\n"}, []string{"EMAIL=env@example.com"}, "repo@example.com"},
		{"EMAIL", nil, []string{"EMAIL=env@example.com"}, "env@example.com"},
		// A CI runner has no git identity: who started the run, not the
		// runner's OS user; a git identity configured there comes first.
		{"GitHub Actions", nil, []string{"GITHUB_ACTIONS=true", "GITHUB_ACTOR=octocat"}, "octocat (GitHub Actions)"},
		{"GitHub Actions re-run", nil, []string{"GITHUB_ACTIONS=true", "GITHUB_ACTOR=octocat", "GITHUB_TRIGGERING_ACTOR=hubot"}, "hubot (GitHub Actions)"},
		{"GitLab CI", nil, []string{"GITLAB_CI=true", "GITLAB_USER_LOGIN=alice", "GITLAB_USER_EMAIL=alice@example.com"}, "alice@example.com (GitLab CI)"},
		{"CI with git identity", map[string]string{"R/.git/config": "[user]\n\temail = bot@example.com\n"}, []string{"GITHUB_ACTIONS=true", "GITHUB_ACTOR=octocat"}, "bot@example.com"},
		{"GITHUB_ACTOR outside Actions", nil, []string{"GITHUB_ACTOR=octocat"}, "os-user"},
		// STS is never asked with a custom endpoint (test servers).
		{"custom endpoint skips STS", nil, []string{"PANKA_LOCKS_TYPE=dynamodb", "PANKA_LOCKS_TABLE=t", "PANKA_LOCKS_ENDPOINT=http://127.0.0.1:1", "PANKA_LOCKS_REGION=us-east-1"}, "os-user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, repo, _, _ := lockTestFactory(t, tc.env...)
			home, _ := f.Home()
			for p, c := range tc.files {
				base := repo
				if p[0] == 'H' {
					base = home
				}
				lockWriteFile(t, filepath.Join(base, p[2:]), c)
			}
			cfg, err := f.Config()
			if err != nil {
				t.Fatal(err)
			}
			who, meta := f.LockIdentity(context.Background(), cfg, "destroy", "abc")
			if who != tc.want {
				t.Fatalf("lockedBy = %q, want %q", who, tc.want)
			}
			host, _ := os.Hostname()
			if meta.Hostname != host || meta.PID != os.Getpid() || meta.Operation != "destroy" || meta.Commit != "abc" || meta.Version != Build().Version || meta.CIURL != "" {
				t.Fatalf("metadata = %+v", meta)
			}
		})
	}
}

// TestLockIdentityLinkedWorktree: in a linked worktree (git worktree add,
// as CI jobs sharing one clone do) .git is a file, and the repository's
// user.email is in the common dir's config. It was read from <root>/.git/config
// only, so a worktree's runs were recorded as the OS user instead.
func TestLockIdentityLinkedWorktree(t *testing.T) {
	repo := t.TempDir()
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=qa", "-c", "user.email=qa@example.com"}, args...)...)
		cmd.Dir = dir
		cmd.Env = gittest.Env()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(repo, "init", "-q")
	git(repo, "commit", "-q", "--allow-empty", "-m", "c1")
	git(repo, "config", "user.email", "ci-bot@example.com")
	wt := filepath.Join(t.TempDir(), "wt")
	git(repo, "worktree", "add", "-q", "--detach", wt)

	f, _, _, _ := lockTestFactory(t)
	f.Getwd = func() (string, error) { return wt, nil }
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	if who, _ := f.LockIdentity(context.Background(), cfg, "apply", "abc"); who != "ci-bot@example.com" {
		t.Fatalf("lockedBy in a linked worktree = %q, want the repository's user.email ci-bot@example.com", who)
	}
}

// TestAWSCallerNotAskedOfAProfilesServer: an S3-compatible server set by
// endpoint_url in the AWS profile is a custom endpoint, as backend.endpoint
// is: the lock holder's identity was asked of STS at that server (or, with
// a services section for s3 only, of AWS's STS with the server's
// credentials) on every lock taken.
func TestAWSCallerNotAskedOfAProfilesServer(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	home := t.TempDir()
	fakeAWSEnv(t, home)
	if err := os.WriteFile(filepath.Join(home, "c"), []byte("[profile minio]\nregion = us-east-1\nendpoint_url = "+srv.URL+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_PROFILE", "minio")
	cfg := &config.Resolved{Config: config.Default(), Sources: map[string]config.Source{}}
	cfg.Backend.Type, cfg.Backend.Bucket, cfg.Locks.Type = "s3", "state", "s3"
	ios, _, _, _ := Test()
	if got := NewFactory(ios).awsCaller(context.Background(), cfg); got != "" || asked.Load() != 0 {
		t.Fatalf("awsCaller = %q, and the profile's server was asked %d times, want no question", got, asked.Load())
	}
}
