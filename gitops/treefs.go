package gitops

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// TreeFS returns a read-only fs.FS over the tree of commit h. Trees and
// blobs are read lazily, on first use, and trees are cached; it implements
// fs.ReadDirFS, fs.ReadFileFS and fs.StatFS. File modification times are
// the commit's committer date.
func (r *Repo) TreeFS(commit Hash) (fs.FS, error) {
	c, err := r.Commit(commit)
	if err != nil {
		return nil, err
	}
	return &TreeFS{repo: r, root: c.Tree, mtime: c.CommitDate, missing: &missingObject{}}, nil
}

// TreeFSOf returns the fs.FS of a tree id (ZeroHash is the empty tree).
func (r *Repo) TreeFSOf(treeHash Hash) *TreeFS {
	return &TreeFS{repo: r, root: treeHash, missing: &missingObject{}}
}

// TreeFS is the fs.FS of a git tree (see Repo.TreeFS).
type TreeFS struct {
	repo    *Repo
	root    Hash
	mtime   time.Time
	missing *missingObject
}

// missingObject keeps the first read of a TreeFS that failed because an
// object is not in the local repository.
type missingObject struct {
	mu  sync.Mutex
	err error
}

// Missing returns the first read through this FS that failed because an
// object is not in the local repository (a partial clone whose objects
// could not be fetched), or nil. Readers of the FS (the stacks loader)
// may take a failed read for a broken or absent file; a caller checks
// Missing afterwards so that an incomplete repository is an error, never
// a different answer.
func (t *TreeFS) Missing() error {
	t.missing.mu.Lock()
	defer t.missing.mu.Unlock()
	return t.missing.err
}

// note records err, with the path whose read (op) failed, when an object
// was missing, and returns err.
func (t *TreeFS) note(op, name string, err error) error {
	if errors.Is(err, ErrObjectMissing) {
		t.missing.mu.Lock()
		if t.missing.err == nil {
			t.missing.err = &fs.PathError{Op: op, Path: name, Err: err}
		}
		t.missing.mu.Unlock()
	}
	return err
}

var (
	_ fs.ReadDirFS  = (*TreeFS)(nil)
	_ fs.ReadFileFS = (*TreeFS)(nil)
	_ fs.StatFS     = (*TreeFS)(nil)
	_ fs.ReadLinkFS = (*TreeFS)(nil)
)

// Root is the id of the tree this FS serves.
func (t *TreeFS) Root() Hash { return t.root }

// Entry returns the tree entry at name ("." is the root tree).
func (t *TreeFS) Entry(name string) (TreeEntry, error) {
	if !fs.ValidPath(name) {
		return TreeEntry{}, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	if t.root.IsZero() {
		if name == "." {
			return TreeEntry{Mode: filemode.Dir}, nil
		}
		return TreeEntry{}, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	e, err := t.repo.PathEntry(t.root, name)
	if err != nil {
		t.note("open", name, err)
		if errors.Is(err, errNotExist) {
			err = fs.ErrNotExist
		}
		return TreeEntry{}, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return e, nil
}

// Open opens a file or directory.
func (t *TreeFS) Open(name string) (fs.File, error) {
	e, err := t.Entry(name)
	if err != nil {
		return nil, err
	}
	info := &entryInfo{fs: t, e: e, name: path.Base(name)}
	if e.IsDir() {
		return &treeDir{fs: t, info: info, name: name}, nil
	}
	return &treeFile{fs: t, info: info, name: name}, nil
}

// ReadFile reads a whole file.
func (t *TreeFS) ReadFile(name string) ([]byte, error) {
	e, err := t.Entry(name)
	if err != nil {
		return nil, err
	}
	if e.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	if e.Mode == filemode.Submodule {
		return nil, nil
	}
	b, err := t.repo.Blob(e.Hash)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: t.note("read", name, err)}
	}
	return b, nil
}

// ReadDir lists a directory, sorted by name.
func (t *TreeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := t.Entry(name)
	if err != nil {
		return nil, err
	}
	if !e.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return t.readDir(e.Hash, name)
}

func (t *TreeFS) readDir(h Hash, name string) ([]fs.DirEntry, error) {
	entries, err := t.repo.entries(h)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: t.note("readdir", name, err)}
	}
	out := make([]fs.DirEntry, len(entries))
	for i, e := range entries {
		out[i] = &entryInfo{fs: t, e: e, name: e.Name}
	}
	// Git orders trees as "name/"; fs.ReadDir promises plain name order.
	sortDirEntries(out)
	return out, nil
}

func sortDirEntries(d []fs.DirEntry) {
	sort.Slice(d, func(i, j int) bool { return d[i].Name() < d[j].Name() })
}

// Stat describes a file or directory.
func (t *TreeFS) Stat(name string) (fs.FileInfo, error) {
	e, err := t.Entry(name)
	if err != nil {
		return nil, err
	}
	return &entryInfo{fs: t, e: e, name: path.Base(name)}, nil
}

// Lstat describes a file or directory without following a symbolic link
// (Stat does not follow them either: a commit's tree is not resolved).
func (t *TreeFS) Lstat(name string) (fs.FileInfo, error) { return t.Stat(name) }

// ReadLink returns the destination of the symbolic link name, as git
// stores it.
func (t *TreeFS) ReadLink(name string) (string, error) {
	e, err := t.Entry(name)
	if err != nil {
		return "", err
	}
	if e.Mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	b, err := t.repo.Blob(e.Hash)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: t.note("readlink", name, err)}
	}
	return string(b), nil
}

// entryInfo is both fs.FileInfo and fs.DirEntry. Size looks the blob's
// size up on first use (git trees do not record sizes), without reading
// its contents.
type entryInfo struct {
	fs   *TreeFS
	e    TreeEntry
	name string

	once sync.Once
	size int64
}

func (i *entryInfo) Name() string { return i.name }
func (i *entryInfo) Size() int64 {
	if i.e.IsDir() || i.e.Mode == filemode.Submodule {
		return 0
	}
	i.once.Do(func() {
		if n, err := i.fs.repo.BlobSize(i.e.Hash); err == nil {
			i.size = n
		}
	})
	return i.size
}
func (i *entryInfo) Mode() fs.FileMode {
	switch i.e.Mode {
	case filemode.Dir:
		return fs.ModeDir | 0o555
	case filemode.Symlink:
		return fs.ModeSymlink | 0o444
	case filemode.Executable:
		return 0o555
	case filemode.Submodule:
		return fs.ModeIrregular | 0o444
	}
	return 0o444
}
func (i *entryInfo) ModTime() time.Time         { return i.fs.mtime }
func (i *entryInfo) IsDir() bool                { return i.e.IsDir() }
func (i *entryInfo) Sys() any                   { return i.e }
func (i *entryInfo) Type() fs.FileMode          { return i.Mode().Type() }
func (i *entryInfo) Info() (fs.FileInfo, error) { return i, nil }

type treeFile struct {
	fs   *TreeFS
	info *entryInfo
	name string
	r    *bytes.Reader
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *treeFile) Read(p []byte) (int, error) {
	if f.r == nil {
		var b []byte
		if f.info.e.Mode != filemode.Submodule {
			var err error
			b, err = f.fs.repo.Blob(f.info.e.Hash)
			if err != nil {
				return 0, &fs.PathError{Op: "read", Path: f.name, Err: f.fs.note("read", f.name, err)}
			}
		}
		f.r = bytes.NewReader(b)
	}
	return f.r.Read(p)
}
func (f *treeFile) Close() error { return nil }

type treeDir struct {
	fs      *TreeFS
	info    *entryInfo
	name    string
	entries []fs.DirEntry
	read    bool
	off     int
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}
func (d *treeDir) Close() error { return nil }
func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		var err error
		if d.fs.root.IsZero() {
			d.entries = nil
		} else if d.entries, err = d.fs.readDir(d.info.e.Hash, d.name); err != nil {
			return nil, err
		}
		d.read = true
	}
	return pageEntries(d.entries, &d.off, n)
}

// pageEntries is fs.ReadDirFile's ReadDir over a listing read so far up to
// *off.
func pageEntries(entries []fs.DirEntry, off *int, n int) ([]fs.DirEntry, error) {
	rest := entries[*off:]
	if n <= 0 {
		*off = len(entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	*off += n
	return rest[:n], nil
}

// ReadAhead reads the files names (slash-separated paths; folders and
// paths that do not exist are skipped) in one batch into the cache that
// reads are then served from: where files are read one by one (the stacks
// loader), a partial clone (git clone --filter) fetched each missing one
// from its remote on its own, one round trip per file, and now fetches
// them in one request (see fetchAbsent). It is an optimisation only (git
// binary only): failures are left to the reads, which report them.
func (t *TreeFS) ReadAhead(names []string) {
	if t.root.IsZero() {
		return
	}
	_ = t.repo.PrefetchDirs(t.root, names) // the folders on the way, level by level
	var ids []Hash
	for _, name := range names {
		if !fs.ValidPath(name) {
			continue
		}
		e, err := t.repo.PathEntry(t.root, name)
		if err == nil && (e.Mode == filemode.Regular || e.Mode == filemode.Executable) {
			ids = append(ids, e.Hash)
		}
	}
	_ = t.repo.PrefetchBlobs(ids)
}
