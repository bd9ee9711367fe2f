package local

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// GitIgnore is the content of <dir>/.gitignore in the local backend's
// directory (usually <repo>/.panka): nothing in it belongs in git.
const GitIgnore = "# panka's local state and work files; never commit them.\n*\n"

// WriteGitIgnore makes dir/.gitignore hold GitIgnore; dir must exist. It
// writes only when the content differs, and then through a temporary file
// in dir and a rename, so git (or another panka) never reads the file empty
// or half-written. Concurrent callers, in one process or several, are safe:
// each writes its own temporary file, and a rename that fails while the file
// already holds GitIgnore (Windows refuses to replace a file another
// process has open) counts as done.
//
// Both local backends call it (the state store and the local locker), so
// they never rewrite each other's file.
//
// A .gitignore that is not panka's (it has rules other than "*") is left
// as it is: backend.directory may name a folder of the repository that has
// its own (backend.directory: ops, or "." for the repository root), and
// replacing it with "*" lost its rules and made git ignore every new file
// there.
func WriteGitIgnore(dir string) error {
	path := filepath.Join(dir, ".gitignore")
	if holdsGitIgnore(path) {
		return nil
	}
	if b, err := os.ReadFile(path); err == nil && !pankasGitIgnore(b) {
		return nil
	}
	tmp, err := os.CreateTemp(dir, ".gitignore-*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := tmp.WriteString(GitIgnore)
	if werr == nil {
		werr = tmp.Chmod(0o644)
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
		if holdsGitIgnore(path) {
			return nil
		}
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}

func holdsGitIgnore(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Equal(b, []byte(GitIgnore))
}

// IgnoreFolder keeps dir/sub, the state or locks folder of the local
// backend directory dir, out of git: dir/.gitignore holds GitIgnore
// (WriteGitIgnore) when dir is panka's (its .gitignore is panka's, or it
// has none and holds nothing but panka's folders, as .panka does);
// otherwise dir/sub/.gitignore does. backend.directory may name a folder
// of the repository (ops, or "." for the root): a "*" there, written in
// place of its own .gitignore or where it had none, made git ignore every
// new file in it. dir must exist; dir/sub is created.
func IgnoreFolder(dir, sub string) error {
	b, err := os.ReadFile(filepath.Join(dir, ".gitignore"))
	if err == nil && pankasGitIgnore(b) || errors.Is(err, fs.ErrNotExist) && pankasFolder(dir) {
		return WriteGitIgnore(dir)
	}
	folder := filepath.Join(dir, sub)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", folder, err)
	}
	return WriteGitIgnore(folder)
}

// pankasFolder reports whether dir holds nothing but what panka keeps in
// its backend directory (state, locks, the local target's manifests, and
// WriteGitIgnore's temporary files).
func pankasFolder(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		switch n := e.Name(); {
		case n == "state", n == "locks", n == "local", strings.HasPrefix(n, ".gitignore-") && strings.HasSuffix(n, ".tmp"):
		default:
			return false
		}
	}
	return true
}

// pankasGitIgnore reports whether b is a .gitignore panka wrote, this
// build or an earlier one ("*\n"), or an empty one: comments and the
// single rule "*".
func pankasGitIgnore(b []byte) bool {
	for _, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && string(line) != "*" {
			return false
		}
	}
	return true
}
