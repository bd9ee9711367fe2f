package stacks_test

import (
	"bytes"
	"io"
	iofs "io/fs"
	"path"
	"runtime"
	"sort"
	"time"
)

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// memFS is a read-only in-memory file system with O(1) lookups
// (fstest.MapFS scans every file on each directory operation, which would
// dominate a benchmark over 35,000 files).
type memFS struct {
	files map[string][]byte
	dirs  map[string][]iofs.DirEntry
}

func newMemFS() *memFS {
	return &memFS{files: map[string][]byte{}, dirs: map[string][]iofs.DirEntry{".": nil}}
}

func (m *memFS) add(name string, data []byte) {
	m.files[name] = data
	child := path.Base(name)
	isDir := false
	for dir := path.Dir(name); ; dir = path.Dir(dir) {
		_, seen := m.dirs[dir]
		m.dirs[dir] = append(m.dirs[dir], memEntry{name: child, dir: isDir, size: int64(len(data))})
		if seen || dir == "." {
			break
		}
		child, isDir = path.Base(dir), true
	}
}

func (m *memFS) sortDirs() {
	for _, ents := range m.dirs {
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	}
}

func (m *memFS) Open(name string) (iofs.File, error) {
	if data, ok := m.files[name]; ok {
		return &memFile{Reader: bytes.NewReader(data), info: memEntry{name: path.Base(name), size: int64(len(data))}}, nil
	}
	if _, ok := m.dirs[name]; ok {
		return &memFile{Reader: bytes.NewReader(nil), info: memEntry{name: path.Base(name), dir: true}}, nil
	}
	return nil, &iofs.PathError{Op: "open", Path: name, Err: iofs.ErrNotExist}
}

func (m *memFS) ReadDir(name string) ([]iofs.DirEntry, error) {
	ents, ok := m.dirs[name]
	if !ok {
		return nil, &iofs.PathError{Op: "readdir", Path: name, Err: iofs.ErrNotExist}
	}
	return append([]iofs.DirEntry(nil), ents...), nil
}

type memFile struct {
	*bytes.Reader
	info memEntry
}

func (f *memFile) Stat() (iofs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error                 { return nil }

var _ io.Reader = (*memFile)(nil)

type memEntry struct {
	name string
	dir  bool
	size int64
}

func (e memEntry) Name() string { return e.name }
func (e memEntry) IsDir() bool  { return e.dir }
func (e memEntry) Type() iofs.FileMode {
	if e.dir {
		return iofs.ModeDir
	}
	return 0
}
func (e memEntry) Info() (iofs.FileInfo, error) { return e, nil }
func (e memEntry) Size() int64                  { return e.size }
func (e memEntry) Mode() iofs.FileMode {
	if e.dir {
		return iofs.ModeDir | 0o755
	}
	return 0o644
}
func (e memEntry) ModTime() time.Time { return time.Time{} }
func (e memEntry) Sys() any           { return nil }
