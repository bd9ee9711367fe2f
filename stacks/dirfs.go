package stacks

import (
	"io/fs"
	"os"
)

// DirFS is the file system of a folder on disk to load stacks from: it
// behaves exactly like os.DirFS(dir), and on Unix the loader reads its
// files with fewer system calls (see readOSFile). Use it for work trees.
func DirFS(dir string) fs.FS { return dirFS{FS: os.DirFS(dir), root: dir} }

// dirFS is os.DirFS(root), recognisable by the loader.
type dirFS struct {
	fs.FS // os.DirFS(root)
	root  string
}

// The optional interfaces os.DirFS implements, passed through.

func (d dirFS) ReadFile(name string) ([]byte, error)       { return fs.ReadFile(d.FS, name) }
func (d dirFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(d.FS, name) }
func (d dirFS) Stat(name string) (fs.FileInfo, error)      { return fs.Stat(d.FS, name) }
func (d dirFS) Lstat(name string) (fs.FileInfo, error)     { return fs.Lstat(d.FS, name) }
func (d dirFS) ReadLink(name string) (string, error)       { return fs.ReadLink(d.FS, name) }
