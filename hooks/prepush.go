package hooks

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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
		"panka=" + shellQuote(pankaPath) + "\n" +
		"if [ ! -x \"$panka\" ]; then\n" +
		"\tpanka=$(command -v panka) || {\n" +
		"\t\techo \"pre-push: panka is neither at \"" + shellQuote(pankaPath) + "\" nor on PATH: install it (then panka hooks install --force), or skip this check once with git push --no-verify\" >&2\n" +
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

// Install writes hooksDir/pre-push. It refuses to replace a hook panka did
// not write unless force is set, and returns the path written.
func Install(hooksDir, pankaPath string, force bool) (string, error) {
	path := filepath.Join(hooksDir, "pre-push")
	if old, err := os.ReadFile(path); err == nil && !strings.Contains(string(old), marker) && !force {
		return path, fmt.Errorf("%s: %w; use --force to replace it, or add panka to it yourself. "+
			"panka reads the pushed refs on standard input, which git writes only once: "+
			"if the hook runs another command that reads them too (such as git lfs pre-push), give each a copy, e.g.\n%s",
			path, ErrForeignHook, indent(ChainExample, "    "))
	}
	if err := os.MkdirAll(hooksDir, 0o755); err != nil {
		return path, fmt.Errorf("create %s: %w", hooksDir, err)
	}
	// A temporary file of its own, so concurrent installs never write or
	// rename each other's file; git sees the old hook or the new one.
	tmp, err := os.CreateTemp(hooksDir, ".pre-push.panka-*")
	if err != nil {
		return path, fmt.Errorf("write a hook in %s: %w", hooksDir, err)
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
		return path, fmt.Errorf("install %s: %w", path, werr)
	}
	return path, nil
}

func shellQuote(s string) string {
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
