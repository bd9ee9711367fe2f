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
// relative path is relative to the objects folder, and blank lines and
// #-comments are skipped. go-git takes a relative path from the root of
// the filesystem it is given, and an unreadable line makes it ignore every
// alternate: objects git finds were then missing with PANKA_GIT_BINARY=false.
// Absolute paths reach go-git as they are (it reads them through
// filesystem.Options.AlternatesFS, the root folder).
func withAlternates(dot billy.Filesystem, objectsDir string) billy.Filesystem {
	b, err := os.ReadFile(filepath.Join(objectsDir, "info", "alternates"))
	if err != nil {
		return dot
	}
	var out bytes.Buffer
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !filepath.IsAbs(line) {
			line = filepath.Join(objectsDir, line)
		}
		out.WriteString(line + "\n")
	}
	return alternatesFS{Filesystem: dot, alternates: out.Bytes()}
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
