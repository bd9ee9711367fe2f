package gitops

import (
	"context"
	"path/filepath"
	"strings"
)

// HooksDir is the folder git runs this work tree's hooks from: core.hooksPath
// from any config scope (system, global, repository, worktree), relative to
// the work tree, or the hooks folder of the common git directory.
// With a git binary git itself answers (so a global core.hooksPath, `~/`
// and include files count); without one only the repository's own config is
// read.
func (r *Repo) HooksDir(ctx context.Context) string {
	if r.git != "" {
		if out, err := r.gitCmd(ctx, "rev-parse", "--git-path", "hooks"); err == nil {
			if p := strings.TrimRight(string(out), "\r\n"); p != "" {
				if !filepath.IsAbs(p) {
					p = filepath.Join(r.root, p)
				}
				return filepath.Clean(p)
			}
		}
	}
	if cfg, err := r.r.Config(); err == nil {
		if p := cfg.Raw.Section("core").Option("hooksPath"); p != "" {
			if !filepath.IsAbs(p) {
				p = filepath.Join(r.root, p)
			}
			return p
		}
	}
	return filepath.Join(r.commonDir, "hooks")
}
