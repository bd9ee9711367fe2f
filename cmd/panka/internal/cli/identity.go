package cli

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	gitconfig "github.com/go-git/go-git/v5/config"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/gitops"
	"panka.dev/panka/locker"
)

// stsTimeout bounds the caller-identity lookup: a lock must not wait on a
// slow or unreachable STS.
const stsTimeout = time.Second

// LockIdentity returns who takes a lease (lockedBy) and the metadata stored
// with it. lockedBy is the AWS caller identity (ARN) when locks live in AWS
// and no custom endpoint is configured, else the git user.email (repository
// config, then ~/.gitconfig and ~/.config/git/config), else the CI system's
// user who started the run (ciActor), else the OS user.
func (f *Factory) LockIdentity(ctx context.Context, cfg *config.Resolved, operation, commit string) (string, locker.Metadata) {
	host, _ := os.Hostname()
	meta := locker.Metadata{Hostname: host, PID: os.Getpid(), Version: Build().Version, Operation: operation, Commit: commit,
		CIURL: locker.CIURL(locker.EnvMap(f.Environ()))}
	if self, ok := engine.Self(); ok {
		meta.BootID, meta.PIDNamespace, meta.ProcessStart, meta.MachineID = self.Boot, self.PIDNamespace, self.Start, self.Machine
	}
	who := f.awsCaller(ctx, cfg)
	if who == "" {
		who = f.gitUserEmail()
	}
	if who == "" {
		who = f.ciActor()
	}
	if who == "" {
		who = f.osUser()
	}
	return who, meta
}

// ciActor is who started the CI run, as the CI system says, with its name:
// "octocat (GitHub Actions)". A CI runner has no git identity configured
// (actions/checkout sets none) and its OS user ("runner", "root") names
// nobody; "" outside CI.
func (f *Factory) ciActor() string {
	for _, c := range []struct {
		on, name string
		vars     []string
	}{
		{"GITHUB_ACTIONS", "GitHub Actions", []string{"GITHUB_TRIGGERING_ACTOR", "GITHUB_ACTOR"}},
		{"GITLAB_CI", "GitLab CI", []string{"GITLAB_USER_EMAIL", "GITLAB_USER_LOGIN"}},
		{"BUILDKITE", "Buildkite", []string{"BUILDKITE_BUILD_CREATOR_EMAIL", "BUILDKITE_BUILD_CREATOR"}},
		{"CIRCLECI", "CircleCI", []string{"CIRCLE_USERNAME"}},
	} {
		if f.Getenv(c.on) != "true" {
			continue
		}
		for _, v := range c.vars {
			if u := strings.TrimSpace(f.Getenv(v)); u != "" {
				return u + " (" + c.name + ")"
			}
		}
	}
	return ""
}

// awsCaller asks STS who we are, bounded to stsTimeout; "" when locks are
// local, a custom endpoint is configured (a test or S3-compatible server
// whose credentials say nothing about a person; the AWS profile's
// endpoint_url too), or the call fails.
func (f *Factory) awsCaller(ctx context.Context, cfg *config.Resolved) string {
	if cfg.Locks.Type == "local" || cfg.Locks.Type == "" {
		return ""
	}
	if cfg.Backend.Endpoint != "" || cfg.Locks.Endpoint != "" || f.Getenv("AWS_ENDPOINT_URL") != "" ||
		f.Getenv("AWS_ENDPOINT_URL_S3") != "" || f.Getenv("AWS_ENDPOINT_URL_DYNAMODB") != "" || f.Getenv("AWS_ENDPOINT_URL_STS") != "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, stsTimeout)
	defer cancel()
	ac, err := f.AWSConfig(ctx, cfg)
	if err != nil {
		return ""
	}
	// Nor when the AWS profile names the server (endpoint_url, or its
	// services section for s3 or dynamodb only): its credentials are the
	// server's, not for AWS's STS, which they were sent to.
	if f.endpointOf(ctx, cfg, ac, "backend.endpoint", "S3").URL != "" || f.endpointOf(ctx, cfg, ac, "locks.endpoint", "DynamoDB").URL != "" {
		return ""
	}
	if ac.Region == "" {
		ac.Region = cfg.Locks.Region
	}
	if ac.Region == "" {
		ac.Region = "us-east-1"
	}
	out, err := sts.NewFromConfig(ac, func(o *sts.Options) { o.RetryMaxAttempts = 1 }).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		f.Log.Debug().Err(err).Msg("no AWS caller identity for the lock holder")
		return ""
	}
	return aws.ToString(out.Arn)
}

// gitUserEmail is the email git would record as the committer of a commit
// made here: GIT_COMMITTER_EMAIL (then GIT_AUTHOR_EMAIL, which CI jobs set
// alike), else user.email from the repository's git config, then the user's
// global git config files, else EMAIL.
func (f *Factory) gitUserEmail() (e string) {
	for _, v := range []string{"GIT_COMMITTER_EMAIL", "GIT_AUTHOR_EMAIL"} {
		if e := strings.TrimSpace(f.Getenv(v)); e != "" {
			return e
		}
	}
	defer func() {
		if e == "" {
			e = strings.TrimSpace(f.Getenv("EMAIL"))
		}
	}()
	var files []string
	if root, err := f.RepoRoot(); err == nil {
		// In a linked worktree (git worktree add) .git is a file naming
		// the worktree's git dir; the repository's config is in the
		// common dir, with per-worktree settings (extensions.worktreeConfig)
		// over it.
		if gitDir, commonDir, err := gitops.GitDirs(root); err == nil {
			files = append(files, filepath.Join(gitDir, "config.worktree"), filepath.Join(commonDir, "config"))
		}
	}
	if home, err := f.Home(); err == nil && home != "" {
		files = append(files, filepath.Join(home, ".gitconfig"))
		xdg := f.Getenv("XDG_CONFIG_HOME")
		if xdg == "" {
			xdg = filepath.Join(home, ".config")
		}
		files = append(files, filepath.Join(xdg, "git", "config"))
	}
	for _, p := range files {
		if e := gitEmailFrom(p); e != "" {
			return e
		}
	}
	return ""
}

func gitEmailFrom(path string) string {
	fh, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer fh.Close()
	c, err := gitconfig.ReadConfig(fh)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(c.User.Email)
}

// osUser is the login name of the OS user.
func (f *Factory) osUser() string {
	for _, v := range []string{"USER", "USERNAME", "LOGNAME"} {
		if u := f.Getenv(v); u != "" {
			return u
		}
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}
