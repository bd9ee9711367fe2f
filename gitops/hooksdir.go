package gitops

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/config"
)

// HooksDir is the folder git runs this work tree's hooks from: core.hooksPath
// from any config scope (system, global, repository, worktree), relative to
// the work tree, or the hooks folder of the common git directory.
// With a git binary git itself answers (so include files count too);
// without one panka reads the work tree's config.worktree (with
// extensions.worktreeConfig), the repository's config, then the global one
// (GIT_CONFIG_GLOBAL, else $XDG_CONFIG_HOME/git/config and ~/.gitconfig)
// and the system one (GIT_CONFIG_SYSTEM, else /etc/gitconfig, unless
// GIT_CONFIG_NOSYSTEM), as git does.
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
	if p := r.hooksPathOption(); p != "" {
		if strings.HasPrefix(p, "~/") {
			if home, err := os.UserHomeDir(); err == nil {
				p = filepath.Join(home, p[2:])
			}
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(r.root, p)
		}
		return filepath.Clean(p)
	}
	return filepath.Join(r.commonDir, "hooks")
}

// hooksPathOption is core.hooksPath from the most specific configuration
// file that sets it: the work tree's, else the repository's, else a global
// one, else the system's ("" when none does).
func (r *Repo) hooksPathOption() string {
	r.mu.Lock()
	cfg, err := r.r.Config()
	r.mu.Unlock()
	if err == nil {
		// With extensions.worktreeConfig, each work tree's
		// config.worktree comes first (the main one's is in the common
		// git directory, which is then its git directory).
		// (The extensions are read from the file: go-git is shown the
		// configuration without them.)
		switch strings.ToLower(fileOption(filepath.Join(r.commonDir, "config"), "extensions", "worktreeConfig")) {
		case "true", "yes", "on", "1":
			if p := fileOption(filepath.Join(r.gitDir, "config.worktree"), "core", "hooksPath"); p != "" {
				return p
			}
		}
		if p := cfg.Raw.Section("core").Option("hooksPath"); p != "" {
			return p
		}
	}
	var global []string
	if g := os.Getenv("GIT_CONFIG_GLOBAL"); g != "" {
		global = []string{g}
	} else {
		// Read in git's order, so the last one that sets it wins.
		if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
			global = append(global, filepath.Join(x, "git", "config"))
		} else if home, err := os.UserHomeDir(); err == nil {
			global = append(global, filepath.Join(home, ".config", "git", "config"))
		}
		if home, err := os.UserHomeDir(); err == nil {
			global = append(global, filepath.Join(home, ".gitconfig"))
		}
	}
	for i := len(global) - 1; i >= 0; i-- {
		if p := fileOption(global[i], "core", "hooksPath"); p != "" {
			return p
		}
	}
	if os.Getenv("GIT_CONFIG_NOSYSTEM") != "" {
		return ""
	}
	system := "/etc/gitconfig"
	if s := os.Getenv("GIT_CONFIG_SYSTEM"); s != "" {
		system = s
	}
	return fileOption(system, "core", "hooksPath")
}

// fileOption reads one option of a git configuration file ("" when the
// file is missing or unreadable, or does not set it).
func fileOption(path, section, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	cfg, err := config.ReadConfig(f)
	if err != nil {
		return ""
	}
	return cfg.Raw.Section(section).Option(key)
}
