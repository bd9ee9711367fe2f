package changes

import (
	"errors"
	"io/fs"
	"path"

	"github.com/go-git/go-git/v5/plumbing/filemode"

	"panka.dev/panka/gitops"
)

// committableFS is the work tree as `git add -A && git commit` would
// record it: a file or folder on disk that is neither in HEAD's tree nor
// among the work-tree changes git status listed (which include every
// untracked file it does not ignore) is ignored (.gitignore,
// info/exclude, core.excludesFile) and is hidden. Without it, an ignored
// file in a stack folder counted only when another change made the stack
// load: "no effect on the resolved model" yet its component changed.
type committableFS struct {
	fsys fs.FS           // the work tree (WorktreeFS)
	tree *gitops.TreeFS  // HEAD's tree
	wt   map[string]bool // the changed paths and every folder on their way
	// gone are changed paths on disk that the commit deletes all the same
	// (see hideIgnored).
	gone map[string]bool
}

var (
	_ fs.ReadDirFS  = (*committableFS)(nil)
	_ fs.ReadFileFS = (*committableFS)(nil)
	_ fs.StatFS     = (*committableFS)(nil)
	_ fs.ReadLinkFS = (*committableFS)(nil)
)

func newCommittableFS(fsys fs.FS, tree *gitops.TreeFS, wt []string) *committableFS {
	c := &committableFS{fsys: fsys, tree: tree, wt: map[string]bool{}}
	for _, p := range wt {
		for ; p != "." && p != "" && !c.wt[p]; p = path.Dir(p) {
			c.wt[p] = true
		}
	}
	return c
}

// hidden reports whether name (or a folder on its way) is ignored.
func (c *committableFS) hidden(name string) bool {
	if c.gone[name] {
		return true
	}
	if name == "." || c.wt[name] {
		return false
	}
	if _, err := c.tree.Entry(name); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return false // tracked, or the tree cannot say (a partial clone)
	}
	if parent := path.Dir(name); parent != "." && !c.wt[parent] {
		pe, err := c.tree.Entry(parent)
		if err != nil {
			// Not tracked either: ignored with it, or under a symbolic
			// link (which the loader follows on disk).
			return c.hidden(parent)
		}
		if !pe.IsDir() {
			return false // under a symbolic link or a submodule
		}
	}
	// Untracked, and not listed by git status: ignored. A path that is not
	// on disk is left to the work tree to report.
	_, err := fs.Lstat(c.fsys, name)
	return err == nil
}

// hideIgnored drops from files (the work-tree files at the changed paths
// wt) and hides the files on disk that git add -A would not record: taken
// out of the index (git rm --cached) and ignored (.gitignore, ...). git
// status lists only their deletion, and the commit deletes them; read from
// disk they looked unchanged. Call it before the FS is read concurrently.
func (c *committableFS) hideIgnored(repo *gitops.Repo, wt []string, files []gitops.WorktreeFile) {
	var ig *gitops.Ignores
	for i, f := range files {
		if f.Mode == filemode.Empty || f.Mode == filemode.Submodule {
			continue
		}
		if ig == nil {
			ig = repo.Ignores()
		}
		if ig.Ignored(wt[i], false) {
			files[i] = gitops.WorktreeFile{}
			if c.gone == nil {
				c.gone = map[string]bool{}
			}
			c.gone[wt[i]] = true
		}
	}
}

func notExist(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

func (c *committableFS) Open(name string) (fs.File, error) {
	if c.hidden(name) {
		return nil, notExist("open", name)
	}
	return c.fsys.Open(name)
}

func (c *committableFS) ReadFile(name string) ([]byte, error) {
	if c.hidden(name) {
		return nil, notExist("read", name)
	}
	return fs.ReadFile(c.fsys, name)
}

func (c *committableFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if c.hidden(name) {
		return nil, notExist("readdir", name)
	}
	ents, err := fs.ReadDir(c.fsys, name)
	if err != nil {
		return nil, err
	}
	out := ents[:0]
	for _, e := range ents {
		if !c.hidden(path.Join(name, e.Name())) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (c *committableFS) Stat(name string) (fs.FileInfo, error) {
	if c.hidden(name) {
		return nil, notExist("stat", name)
	}
	return fs.Stat(c.fsys, name)
}

func (c *committableFS) Lstat(name string) (fs.FileInfo, error) {
	if c.hidden(name) {
		return nil, notExist("lstat", name)
	}
	return fs.Lstat(c.fsys, name)
}

func (c *committableFS) ReadLink(name string) (string, error) {
	if c.hidden(name) {
		return "", notExist("readlink", name)
	}
	return fs.ReadLink(c.fsys, name)
}

// Missing passes on the work tree's Missing (indexed objects a partial
// clone could not fetch), if it has one.
func (c *committableFS) Missing() error {
	if m, ok := c.fsys.(interface{ Missing() error }); ok {
		return m.Missing()
	}
	return nil
}
