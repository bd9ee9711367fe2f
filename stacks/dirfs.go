package stacks

import (
	"io/fs"
	"os"
	"path"
)

// DirFS is the file system of a folder on disk to load stacks from: it
// behaves exactly like os.DirFS(dir), and on Unix the loader reads its
// files with fewer system calls (see readOSFile). Use it for work trees.
func DirFS(dir string) fs.FS { return dirFS{FS: os.DirFS(dir), root: dir} }

// DirFSHiding is DirFS(dir) without the files and folders hide reports:
// they read as absent and are left out of listings. Use it for the files
// git ignores (gitops.Ignores), which no commit holds.
func DirFSHiding(dir string, hide Hider) fs.FS {
	return dirFS{FS: os.DirFS(dir), root: dir, hide: hide}
}

// Hider tells DirFSHiding what to hide (gitops.Ignores does).
type Hider interface {
	// Ignored reports whether name (slash-separated and relative to the
	// folder, isDir when it is a folder) is hidden. It is asked only
	// about names that exist, concurrently.
	Ignored(name string, isDir bool) bool
	// Listed is told the entries of each folder listed (name "." the
	// folder itself), before Ignored is asked about the folder or its
	// entries, so that it can answer from them rather than look on disk.
	Listed(name string, ents []fs.DirEntry)
}

// dirFS is os.DirFS(root), recognisable by the loader, without what hide
// (when set) reports.
type dirFS struct {
	fs.FS // os.DirFS(root)
	root  string
	hide  Hider
}

// hidden reports whether the existing name is hidden.
func (d dirFS) hidden(name string, isDir bool) bool {
	return d.hide != nil && name != "." && d.hide.Ignored(name, isDir)
}

func hiddenErr(op, name string) error { return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist} }

// The optional interfaces os.DirFS implements, passed through.

func (d dirFS) Open(name string) (fs.File, error) {
	f, err := d.FS.Open(name)
	if err != nil || d.hide == nil {
		return f, err
	}
	if st, err := f.Stat(); err == nil && d.hidden(name, st.IsDir()) {
		f.Close()
		return nil, hiddenErr("open", name)
	}
	return f, nil
}

func (d dirFS) ReadFile(name string) ([]byte, error) {
	b, err := fs.ReadFile(d.FS, name)
	if err == nil && d.hidden(name, false) {
		return nil, hiddenErr("read", name)
	}
	return b, err
}

func (d dirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := fs.ReadDir(d.FS, name)
	if err != nil || d.hide == nil {
		return ents, err
	}
	d.hide.Listed(name, ents)
	if d.hidden(name, true) {
		return nil, hiddenErr("readdir", name)
	}
	out := ents[:0]
	for _, e := range ents {
		if !d.hidden(path.Join(name, e.Name()), e.IsDir()) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (d dirFS) Stat(name string) (fs.FileInfo, error) {
	st, err := fs.Stat(d.FS, name)
	if err == nil && d.hidden(name, st.IsDir()) {
		return nil, hiddenErr("stat", name)
	}
	return st, err
}

func (d dirFS) Lstat(name string) (fs.FileInfo, error) {
	st, err := fs.Lstat(d.FS, name)
	if err == nil && d.hidden(name, st.IsDir()) {
		return nil, hiddenErr("lstat", name)
	}
	return st, err
}

func (d dirFS) ReadLink(name string) (string, error) {
	s, err := fs.ReadLink(d.FS, name)
	if err == nil && d.hidden(name, false) {
		return "", hiddenErr("readlink", name)
	}
	return s, err
}
