package gitops

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5"
)

// alternatesPath is where git lists the object directories of other
// repositories a clone borrows objects from (git clone --shared,
// --reference).
var alternatesPath = filepath.Join("objects", "info", "alternates")

// withAlternates returns the .git folder's filesystem dot, with
// objects/info/alternates (when there is one) read as git reads it: a
// relative path is relative to the objects folder that lists it, blank
// lines and #-comments are skipped, and the alternates of an alternate (a
// clone made with --shared from a --shared clone) count too, up to git's
// depth of 5. go-git takes a relative path from the root of the filesystem
// it is given, follows no chain, and an unreadable line makes it ignore
// every alternate: objects git finds were then missing with
// PANKA_GIT_BINARY=false. Absolute paths reach go-git as they are (it reads
// them through filesystem.Options.AlternatesFS, the root folder).
func withAlternates(dot billy.Filesystem, objectsDir string) billy.Filesystem {
	dirs := alternateDirs(objectsDir)
	if dirs == nil {
		return dot
	}
	var out bytes.Buffer
	for _, d := range dirs {
		out.WriteString(d + "\n")
	}
	return alternatesFS{Filesystem: dot, alternates: out.Bytes()}
}

// alternateDirs lists the object folders objectsDir borrows from, read as
// git reads objects/info/alternates (see withAlternates): nil when there
// is no such file.
func alternateDirs(objectsDir string) []string {
	if _, err := os.Stat(filepath.Join(objectsDir, "info", "alternates")); err != nil {
		return nil
	}
	out := []string{}
	seen := map[string]bool{filepath.Clean(objectsDir): true}
	var add func(dir string, depth int)
	add = func(dir string, depth int) {
		b, err := os.ReadFile(filepath.Join(dir, "info", "alternates"))
		if err != nil || depth > 5 {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSuffix(line, "\r")
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if !filepath.IsAbs(line) {
				line = filepath.Join(dir, line)
			}
			line = filepath.Clean(line)
			if seen[line] {
				continue
			}
			seen[line] = true
			out = append(out, line)
			add(line, depth+1)
		}
	}
	add(objectsDir, 0)
	return out
}

type alternatesFS struct {
	billy.Filesystem
	alternates []byte
}

func (f alternatesFS) Open(name string) (billy.File, error) {
	if filepath.Clean(name) != alternatesPath {
		return f.Filesystem.Open(name)
	}
	return &readOnlyFile{name: name, Reader: bytes.NewReader(f.alternates)}, nil
}

// readOnlyFile is a billy.File over bytes held in memory.
type readOnlyFile struct {
	name string
	*bytes.Reader
}

var errReadOnly = errors.New("read-only")

func (f *readOnlyFile) Name() string              { return f.name }
func (f *readOnlyFile) Write([]byte) (int, error) { return 0, errReadOnly }
func (f *readOnlyFile) Close() error              { return nil }
func (f *readOnlyFile) Lock() error               { return nil }
func (f *readOnlyFile) Unlock() error             { return nil }
func (f *readOnlyFile) Truncate(size int64) error { return errReadOnly }
