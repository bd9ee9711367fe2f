package hooks

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ZeroSHA is what git passes for a ref that does not exist on one side of a push.
const ZeroSHA = "0000000000000000000000000000000000000000"

// PushUpdate is one line of a pre-push hook's standard input:
// "<local ref> <local sha> <remote ref> <remote sha>".
type PushUpdate struct {
	LocalRef, LocalSHA, RemoteRef, RemoteSHA string
}

// Deleting reports whether the push deletes the remote ref.
func (u PushUpdate) Deleting() bool { return u.LocalSHA == ZeroSHA }

// NewBranch reports whether the remote ref does not exist yet, so there is
// no remote SHA to diff against (the caller uses a merge-base instead).
func (u PushUpdate) NewBranch() bool { return u.RemoteSHA == ZeroSHA }

// ParsePrePush reads the pre-push hook's standard input.
func ParsePrePush(r io.Reader) ([]PushUpdate, error) {
	var out []PushUpdate
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 4 {
			return nil, fmt.Errorf("pre-push input line %d: want \"<local ref> <local sha> <remote ref> <remote sha>\", got %q", line, text)
		}
		for _, sha := range []string{f[1], f[3]} {
			if !isHex(sha) {
				return nil, fmt.Errorf("pre-push input line %d: %q is not a commit SHA", line, sha)
			}
		}
		out = append(out, PushUpdate{LocalRef: f[0], LocalSHA: f[1], RemoteRef: f[2], RemoteSHA: f[3]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read pre-push input: %w", err)
	}
	return out, nil
}

func isHex(s string) bool {
	if len(s) < 7 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// marker identifies hook scripts written by panka, so Install never
// overwrites a hook someone else wrote.
const marker = "# installed by panka: panka hooks install"

// Script returns the pre-push hook script that runs `panka hooks run
// pre-push`: the binary at pankaPath, or panka from PATH when it has moved
// since (an upgrade, another install location).
func Script(pankaPath string) string {
	if pankaPath == "" {
		pankaPath = "panka"
	}
	return "#!/bin/sh\n" + marker + "\n" +
		"# Validates the stacks and lists what this push changes. Skip once with: git push --no-verify\n" +
		"panka=" + ShellQuote(pankaPath) + "\n" +
		"if [ ! -x \"$panka\" ]; then\n" +
		"\tpanka=$(command -v panka) || {\n" +
		"\t\techo \"pre-push: panka is neither at \"" + ShellQuote(pankaPath) + "\" nor on PATH: install it (then run panka hooks install again, to record where it is), or skip this check once with git push --no-verify\" >&2\n" +
		"\t\texit 1\n" +
		"\t}\n" +
		"fi\n" +
		"exec \"$panka\" hooks run pre-push \"$@\"\n"
}

// ErrForeignHook is returned when a hook exists that panka did not write.
var ErrForeignHook = errors.New("a pre-push hook not written by panka exists")

// ChainExample is how to run panka from a pre-push hook that runs another
// command too. git writes the pushed refs once on standard input, and a
// pre-push command reads them all (git lfs pre-push does): a line added
// after it would find its input empty and check nothing, one added before
// it would leave it nothing. Each gets its own copy.
const ChainExample = `refs=$(cat)    # the pushed refs: git writes them once, on standard input
printf '%s\n' "$refs" | git lfs pre-push "$@" || exit    # each command of the hook gets its own copy
printf '%s\n' "$refs" | panka hooks run pre-push "$@"`

// BackupName is the file a forced install keeps the replaced hook in,
// next to it in the hooks folder (git runs only "pre-push"); a second
// one is BackupName.2, and so on: an install never overwrites a backup.
const BackupName = "pre-push.panka-backup"

// Install writes hooksDir/pre-push. It refuses to replace a hook panka did
// not write unless force is set, and returns the path written. A hook it
// replaces (forced) is kept: backup is the file it was moved to ("" when
// there was none, or it was panka's own).
func Install(hooksDir, pankaPath string, force bool) (path, backup string, err error) {
	path = filepath.Join(hooksDir, "pre-push")
	if err := notAFolder(hooksDir); err != nil {
		return path, "", err
	}
	// Anything at path that is not panka's script is someone else's: a
	// link to a file that is not there (yet), as hook managers write, or
	// a file panka may not read, too. Reading those as "no hook" replaced
	// them, without --force and without a backup. What is there is looked
	// at first, then read: read first, a concurrent install's hook that
	// appeared in between (renamed into place whole) read as a file that
	// could not be read, someone else's.
	foreign := false
	if _, lerr := os.Lstat(path); lerr == nil {
		old, rerr := os.ReadFile(path)
		foreign = rerr != nil || !strings.Contains(string(old), marker)
	}
	if foreign && !force {
		return path, "", fmt.Errorf("%s: %w; use --force to replace it (it is kept as %s), or add panka to it yourself. "+
			"panka reads the pushed refs on standard input, which git writes only once: "+
			"if the hook runs another command that reads them too (such as git lfs pre-push), give each a copy, e.g.\n%s",
			path, ErrForeignHook, filepath.Join(hooksDir, BackupName), indent(ChainExample, "    "))
	}
	if err := os.MkdirAll(hooksDir, 0o755); err != nil {
		return path, "", fmt.Errorf("create %s: %w", hooksDir, err)
	}
	if foreign {
		if backup, err = keepBackup(hooksDir, path); err != nil {
			return path, "", fmt.Errorf("keep the pre-push hook panka replaces: %w; nothing was changed", err)
		}
	}
	// A temporary file of its own, so concurrent installs never write or
	// rename each other's file; git sees the old hook or the new one.
	tmp, err := os.CreateTemp(hooksDir, ".pre-push.panka-*")
	if err != nil {
		return path, backup, fmt.Errorf("write a hook in %s: %w", hooksDir, err)
	}
	_, werr := tmp.WriteString(Script(pankaPath))
	if werr == nil {
		werr = tmp.Chmod(0o755)
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return path, backup, fmt.Errorf("install %s: %w", path, werr)
	}
	return path, backup, nil
}

// notAFolder is the error for a hooks folder that exists as something
// else: core.hooksPath set to /dev/null, the usual way to turn hooks off,
// where a hook cannot be written and git runs none.
func notAFolder(hooksDir string) error {
	st, err := os.Stat(hooksDir)
	if err != nil || st.IsDir() {
		return nil
	}
	return fmt.Errorf("git's hooks folder %s is not a folder, so git runs no hook from it (core.hooksPath set to /dev/null turns hooks off): "+
		"point core.hooksPath at a folder (git config core.hooksPath .githooks) or unset it (git config --unset core.hooksPath), then run panka hooks install again", hooksDir)
}

// keepBackup links the hook at path (a file or a symbolic link, kept as
// it is) to the first free backup name in dir, or copies it where the
// file system has no hard links.
func keepBackup(dir, path string) (string, error) {
	for i := 1; ; i++ {
		name := BackupName
		if i > 1 {
			name += fmt.Sprintf(".%d", i)
		}
		backup := filepath.Join(dir, name)
		err := os.Link(path, backup)
		if err != nil && !errors.Is(err, fs.ErrExist) && !errors.Is(err, fs.ErrNotExist) {
			err = copyHook(path, backup)
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return backup, nil
	}
}

func copyHook(path, backup string) error {
	st, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		return os.Symlink(target, backup)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(backup, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(backup)
	}
	return err
}

// Uninstall removes hooksDir/pre-push when panka wrote it. removed is
// false when there is no pre-push hook (nothing to do); a hook panka did
// not write is left alone, with an error wrapping ErrForeignHook. backups
// are the hooks forced installs replaced, still in hooksDir.
func Uninstall(hooksDir string) (path string, removed bool, backups []string, err error) {
	path = filepath.Join(hooksDir, "pre-push")
	if st, err := os.Stat(hooksDir); err == nil && !st.IsDir() {
		// core.hooksPath is /dev/null (hooks off): no hook is there.
		return path, false, nil, nil
	}
	backups, _ = filepath.Glob(filepath.Join(hooksDir, BackupName+"*"))
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, lerr := os.Lstat(path); lerr == nil {
			return path, false, backups, fmt.Errorf("%s: %w (a link to a file that does not exist); remove it yourself if it is not wanted", path, ErrForeignHook)
		}
		return path, false, backups, nil
	}
	if err != nil {
		return path, false, backups, fmt.Errorf("read %s: %w", path, err)
	}
	if !strings.Contains(string(old), marker) {
		return path, false, backups, fmt.Errorf("%s: %w (it has no %q line), so panka leaves it alone; edit or remove it yourself", path, ErrForeignHook, marker)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return path, false, backups, fmt.Errorf("remove %s: %w", path, err)
	}
	return path, true, backups, nil
}

// ShellQuote quotes s for a shell command line (hook scripts, commands shown
// to be copied).
func ShellQuote(s string) string {
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
