package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// WorktreeFS returns the work tree as git sees it, given disk, an fs.FS of
// the folder Root (such as os.DirFS(Root())): the files on disk, except
// the index entries git does not compare with the work tree — those marked
// skip-worktree (outside the cone of a sparse checkout; with a sparse index,
// whole folders) and assume-unchanged (git update-index --assume-unchanged)
// — which read as their indexed blob or tree, whatever is (or is not) on
// disk; and with core.symlinks=false, a plain file where the index has a
// symbolic link reads as that link, its content the target (as git checks
// it out and adds it back). When the index marks no entry, that is disk
// itself.
//
// The returned FS implements fs.ReadDirFS, fs.ReadFileFS, fs.StatFS and
// fs.ReadLinkFS, and Missing like TreeFS (indexed objects a partial clone
// could not fetch).
func (r *Repo) WorktreeFS(disk fs.FS) (fs.FS, error) {
	links := !r.trustSymlinks()
	recs, err := r.indexRecords(func(e *rawIndexEntry) bool {
		return (e.flags&0x8000 != 0 || e.xflags&0x4000 != 0 || (links && filemode.FileMode(e.mode) == filemode.Symlink)) && e.flags&0x3000 == 0 && e.xflags&0x2000 == 0
	})
	if err != nil || len(recs) == 0 {
		return disk, err
	}
	w := &worktreeFS{disk: disk, tree: r.TreeFSOf(ZeroHash), entries: map[string]TreeEntry{}, children: map[string]map[string]bool{}}
	for _, rec := range recs {
		p := strings.TrimSuffix(rec.path, "/") // a sparse index's folder is "dir/"
		if !fs.ValidPath(p) || p == "." {
			continue
		}
		if rec.mode == filemode.Dir {
			w.sparse = true
		}
		id := rec.id
		if rec.mode == filemode.Symlink && !rec.assumeValid && !rec.skipWorktree {
			// core.symlinks=false: git checked the link out as a plain
			// file holding its target (and adds such a file back as the
			// link). Read it as the link it stands for; a real link, or
			// nothing, on disk is read from disk.
			st, err := fs.Lstat(disk, p)
			if err != nil || !st.Mode().IsRegular() {
				continue
			}
			b, err := fs.ReadFile(disk, p)
			if err != nil {
				return nil, fmt.Errorf("read the work tree: %w", err)
			}
			if w.links == nil {
				w.links = map[string]string{}
			}
			w.links[p] = string(b)
			id = plumbing.ComputeHash(plumbing.BlobObject, b)
		}
		w.entries[p] = TreeEntry{Name: path.Base(p), Mode: rec.mode, Hash: id}
		for p != "." {
			dir := path.Dir(p)
			if w.children[dir] == nil {
				w.children[dir] = map[string]bool{}
			}
			w.children[dir][path.Base(p)] = true
			p = dir
		}
	}
	return w, nil
}

// worktreeFS is disk overlaid with the index entries git does not look for
// in the work tree (see WorktreeFS).
type worktreeFS struct {
	disk fs.FS
	// tree reads the indexed blobs and trees (its own root is empty).
	tree *TreeFS
	// entries are the overlaid index entries by path; folders (a sparse
	// index) are read from their tree.
	entries map[string]TreeEntry
	sparse  bool // some entries are folders
	// children lists the names of the overlaid entries and of the folders
	// on their way, by parent folder ("." the root).
	children map[string]map[string]bool
	// links are the targets of the overlaid symbolic links that disk
	// holds as plain files (core.symlinks=false), by path.
	links map[string]string
}

var (
	_ fs.ReadDirFS  = (*worktreeFS)(nil)
	_ fs.ReadFileFS = (*worktreeFS)(nil)
	_ fs.StatFS     = (*worktreeFS)(nil)
	_ fs.ReadLinkFS = (*worktreeFS)(nil)
)

// Missing is TreeFS.Missing for the indexed objects read.
func (w *worktreeFS) Missing() error { return w.tree.Missing() }

// entry returns the indexed entry at name: overlaid, or inside an overlaid
// folder. ok is false when name is read from disk.
func (w *worktreeFS) entry(name string) (e TreeEntry, ok bool, err error) {
	if !fs.ValidPath(name) {
		return TreeEntry{}, false, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if e, ok := w.entries[name]; ok {
		return e, true, nil
	}
	if !w.sparse {
		return TreeEntry{}, false, nil
	}
	for dir := name; dir != "."; {
		dir = path.Dir(dir)
		d, ok := w.entries[dir]
		if !ok || !d.IsDir() {
			continue
		}
		e, err := w.tree.repo.PathEntry(d.Hash, name[len(dir)+1:])
		if errors.Is(err, errNotExist) {
			// Not in the folder git keeps out of the work tree: an
			// untracked file there, if anything.
			return TreeEntry{}, false, nil
		}
		if err != nil {
			return TreeEntry{}, false, &fs.PathError{Op: "open", Path: name, Err: w.tree.note("open", name, err)}
		}
		e.Name = path.Base(name)
		return e, true, nil
	}
	return TreeEntry{}, false, nil
}

func (w *worktreeFS) info(e TreeEntry) *entryInfo { return &entryInfo{fs: w.tree, e: e, name: e.Name} }

// folder is a folder on the way to overlaid entries, absent from disk.
func folder(name string) TreeEntry { return TreeEntry{Name: path.Base(name), Mode: filemode.Dir} }

func (w *worktreeFS) Open(name string) (fs.File, error) {
	name, err := w.follow(name, "open")
	if err != nil {
		return nil, err
	}
	e, ok, err := w.entry(name)
	if err != nil {
		return nil, err
	}
	if ok && !e.IsDir() {
		return &treeFile{fs: w.tree, info: w.info(e), name: name}, nil
	}
	if !ok && w.children[name] == nil {
		return w.disk.Open(name)
	}
	list, err := w.ReadDir(name)
	if err != nil {
		return nil, err
	}
	if !ok {
		e = folder(name)
	}
	return &listedDir{info: w.dirInfo(name, e), name: name, entries: list}, nil
}

// dirInfo describes the folder name, which entry e overlays: as on disk
// when disk has that folder too (listings merge both).
func (w *worktreeFS) dirInfo(name string, e TreeEntry) fs.FileInfo {
	if st, err := fs.Lstat(w.disk, name); err == nil && st.IsDir() {
		return st
	}
	return w.info(e)
}

func (w *worktreeFS) ReadFile(name string) ([]byte, error) {
	name, err := w.follow(name, "read")
	if err != nil {
		return nil, err
	}
	e, ok, err := w.entry(name)
	switch {
	case err != nil:
		return nil, err
	case !ok && w.children[name] != nil:
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	case !ok:
		return fs.ReadFile(w.disk, name)
	case e.IsDir():
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	case e.Mode == filemode.Submodule:
		return nil, nil
	}
	b, err := w.tree.repo.Blob(e.Hash)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: w.tree.note("read", name, err)}
	}
	return b, nil
}

// follow returns the path a symbolic link of links points at, with the
// links on the way followed (a link the disk holds as a plain file,
// core.symlinks=false); op names the operation in errors.
func (w *worktreeFS) follow(name, op string) (string, error) {
	for range 40 {
		t, ok := w.links[name]
		if !ok {
			return name, nil
		}
		dest := path.Join(path.Dir(name), t)
		if path.IsAbs(t) || !fs.ValidPath(dest) {
			return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist} // outside the work tree
		}
		name = dest
	}
	return "", &fs.PathError{Op: op, Path: name, Err: errors.New("too many levels of symbolic links")}
}

func (w *worktreeFS) ReadLink(name string) (string, error) {
	if t, ok := w.links[name]; ok {
		return t, nil
	}
	e, ok, err := w.entry(name)
	switch {
	case err != nil:
		return "", err
	case !ok && w.children[name] == nil:
		return fs.ReadLink(w.disk, name)
	case !ok || e.Mode != filemode.Symlink:
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	b, err := w.tree.repo.Blob(e.Hash)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: w.tree.note("readlink", name, err)}
	}
	return string(b), nil
}

func (w *worktreeFS) Stat(name string) (fs.FileInfo, error) {
	name, err := w.follow(name, "stat")
	if err != nil {
		return nil, err
	}
	return w.stat(name, fs.Stat)
}

func (w *worktreeFS) Lstat(name string) (fs.FileInfo, error) { return w.stat(name, fs.Lstat) }

func (w *worktreeFS) stat(name string, diskStat func(fs.FS, string) (fs.FileInfo, error)) (fs.FileInfo, error) {
	e, ok, err := w.entry(name)
	switch {
	case err != nil:
		return nil, err
	case ok && e.IsDir():
		return w.dirInfo(name, e), nil
	case ok:
		return w.info(e), nil
	case w.children[name] != nil:
		return w.dirInfo(name, folder(name)), nil
	}
	return diskStat(w.disk, name)
}

// ReadDir lists a folder: what disk holds, with the overlaid entries in
// place of (or besides) files of the same names, sorted by name.
func (w *worktreeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, ok, err := w.entry(name)
	if err != nil {
		return nil, err
	}
	if ok && !e.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	kids := w.children[name]
	onDisk, derr := fs.ReadDir(w.disk, name)
	if derr != nil && !ok && kids == nil {
		return nil, derr
	}
	byName := map[string]fs.DirEntry{}
	for _, d := range onDisk {
		byName[d.Name()] = d
	}
	if ok {
		list, err := w.tree.readDir(e.Hash, name)
		if err != nil {
			return nil, err
		}
		for _, d := range list {
			// A folder on disk keeps its description (see dirInfo).
			if od, ok := byName[d.Name()]; !ok || !od.IsDir() || !d.IsDir() {
				byName[d.Name()] = d
			}
		}
	}
	for k := range kids {
		p := k
		if name != "." {
			p = name + "/" + k
		}
		ke, ok, err := w.entry(p)
		if err != nil {
			return nil, err
		}
		if !ok {
			ke = folder(p)
		}
		if od, ok := byName[k]; !ok || !od.IsDir() || !ke.IsDir() {
			byName[k] = w.info(ke)
		}
	}
	out := make([]fs.DirEntry, 0, len(byName))
	for _, d := range byName {
		out = append(out, d)
	}
	sortDirEntries(out)
	return out, nil
}

// listedDir is an open folder of a worktreeFS.
type listedDir struct {
	info    fs.FileInfo
	name    string
	entries []fs.DirEntry
	off     int
}

func (d *listedDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *listedDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}
func (d *listedDir) Close() error { return nil }
func (d *listedDir) ReadDir(n int) ([]fs.DirEntry, error) {
	return pageEntries(d.entries, &d.off, n)
}

// rawDisk reads the work tree rooted at it by any name, one that is not
// UTF-8 included, which io/fs and os.DirFS refuse: WorktreeFiles reads
// such a file as git add does. It has no listing (ReadDir) of its own.
type rawDisk string

func (d rawDisk) path(name string) string { return filepath.Join(string(d), filepath.FromSlash(name)) }

func (d rawDisk) Open(name string) (fs.File, error)      { return os.Open(d.path(name)) }
func (d rawDisk) Lstat(name string) (fs.FileInfo, error) { return os.Lstat(d.path(name)) }
func (d rawDisk) ReadLink(name string) (string, error)   { return os.Readlink(d.path(name)) }
func (d rawDisk) ReadFile(name string) ([]byte, error)   { return os.ReadFile(d.path(name)) }
func (d rawDisk) Stat(name string) (fs.FileInfo, error)  { return os.Stat(d.path(name)) }

// WorktreeFile is a work-tree file as git would store it.
type WorktreeFile struct {
	Mode filemode.FileMode // filemode.Empty: no file there
	Hash Hash
}

// WorktreeFiles reads the files at paths of fsys, the work tree (see
// WorktreeFS), as git would add them: a symbolic link is its target's
// name, and the mode is a symbolic link, an executable or a regular file —
// with core.fileMode=false the executable bit on disk does not count, the
// mode is then the index entry's (regular for a file not in the index); a
// checked-out submodule is a gitlink to the commit checked out in it.
// files[i] describes paths[i]; an absent path, or another folder, has
// filemode.Empty.
func (r *Repo) WorktreeFiles(fsys fs.FS, paths []string) (files []WorktreeFile, err error) {
	files = make([]WorktreeFile, len(paths))
	var indexed map[string]filemode.FileMode // core.fileMode=false or core.symlinks=false: the index's modes
	trustExec, trustLinks := r.trustExecutableBit(), r.trustSymlinks()
	if !trustExec || !trustLinks {
		want := map[string]bool{}
		for _, p := range paths {
			want[p] = true
		}
		recs, err := r.indexRecords(func(e *rawIndexEntry) bool { return want[string(e.path)] && e.flags&0x3000 == 0 })
		if err != nil {
			return nil, err
		}
		indexed = map[string]filemode.FileMode{}
		for _, rec := range recs {
			indexed[rec.path] = rec.mode
		}
	}
	// A path below a symbolic link to a folder is not in the work tree for
	// git (git status lists the files committed there as deleted, and
	// git add refuses "beyond a symbolic link"), though the file system
	// reads through the link.
	linked := map[string]bool{}
	var linkOnWay func(dir string) bool
	linkOnWay = func(dir string) bool {
		if dir == "." || dir == "/" || dir == "" {
			return false
		}
		if v, ok := linked[dir]; ok {
			return v
		}
		v := linkOnWay(path.Dir(dir))
		if !v {
			fsys := fsys
			if !utf8.ValidString(dir) {
				fsys = rawDisk(r.root)
			}
			st, err := fs.Lstat(fsys, dir)
			v = err == nil && st.Mode()&fs.ModeSymlink != 0
		}
		linked[dir] = v
		return v
	}
	text := r.newTextRules()
	for i, p := range paths {
		fsys := fsys
		if !utf8.ValidString(p) {
			// io/fs refuses such a name ("lstat ...: invalid argument"),
			// which git commits all the same (made on a Latin-1
			// system): read from disk, as git add does. The stacks in
			// such a folder do not load, and say why, as at a commit.
			fsys = rawDisk(r.root)
		}
		if linkOnWay(path.Dir(p)) {
			continue
		}
		st, err := fs.Lstat(fsys, p)
		if err == nil && st.IsDir() {
			// A checked-out submodule: the commit git commit -a records.
			if h, ok := SubmoduleHead(filepath.Join(r.root, filepath.FromSlash(p))); ok {
				files[i] = WorktreeFile{Mode: filemode.Submodule, Hash: h}
			}
			continue
		}
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read the work tree: %w", err)
		}
		if special := st.Mode() & (fs.ModeNamedPipe | fs.ModeSocket | fs.ModeDevice | fs.ModeCharDevice | fs.ModeIrregular); special != 0 {
			// Reading a named pipe waits for a writer for ever; git
			// cannot commit such a file either ("unsupported file type").
			return nil, fmt.Errorf("read the work tree: %s is not a regular file (%s): git cannot commit it; remove it, or restore the committed file (git checkout -- %s)", p, specialName(special), p)
		}
		var b []byte
		mode := filemode.Regular
		switch {
		case st.Mode()&fs.ModeSymlink != 0:
			dest, err := fs.ReadLink(fsys, p)
			if err != nil {
				return nil, fmt.Errorf("read the work tree: %w", err)
			}
			b, mode = []byte(filepath.ToSlash(dest)), filemode.Symlink
		default:
			if b, err = fs.ReadFile(fsys, p); err != nil {
				return nil, fmt.Errorf("read the work tree: %w", err)
			}
			if bytes.Contains(b, []byte("\r\n")) && text.alwaysText(p) {
				// What git add stores: a CRLF file committed before a
				// `*.yaml text` rule is modified by it.
				b = toGit(b)
			}
			switch {
			case !trustLinks && indexed[p] == filemode.Symlink:
				// core.symlinks=false: git checked the link out as a
				// file holding its target, and adds it back as a link.
				mode = filemode.Symlink
			case (trustExec && st.Mode().Perm()&0o111 != 0) || (!trustExec && indexed[p] == filemode.Executable):
				mode = filemode.Executable
			}
		}
		files[i] = WorktreeFile{Mode: mode, Hash: plumbing.ComputeHash(plumbing.BlobObject, b)}
	}
	return files, nil
}

// specialName names the kind of a special file.
func specialName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		return "a device"
	}
	return "a special file"
}

// trustExecutableBit is git's core.fileMode (repository, then global,
// then system configuration; true by default): false when the file
// system does not keep the executable bit.
func (r *Repo) trustExecutableBit() bool { return r.configBool("core", "filemode", true) }

// trustSymlinks is git's core.symlinks (repository, then global, then
// system; true when unset): false means git checks a symbolic link out as
// a plain file holding the link's target, and a plain file where the
// index has a link is that link.
func (r *Repo) trustSymlinks() bool { return r.configBool("core", "symlinks", true) }

// ignoreCase is git's core.ignorecase (repository, then global, then
// system; false when unset).
func (r *Repo) ignoreCase() bool { return r.configBool("core", "ignorecase", false) }

// configBool reads a boolean git setting as git does (true/yes/on/1,
// false/no/off/0, any case); def when it is unset or neither.
func (r *Repo) configBool(section, key string, def bool) bool {
	v, ok := r.configValue(section, key)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true
	case "false", "no", "off", "0":
		return false
	}
	return def
}

// configValue is the value of section.key (a section without subsection)
// in git's configuration: the last one the system, global and repository
// files give, with the files they include (see configFiles, configLookup),
// and then the settings git passes in its environment (envConfig).
func (r *Repo) configValue(section, key string) (string, bool) {
	home, _ := os.UserHomeDir()
	var value string
	var found bool
	for _, f := range r.configFiles(home) {
		r.configLookup(f, home, 0, section, key, &value, &found)
	}
	envConfig(section+"."+key, &value, &found)
	return value, found
}

// envConfig sets *value (and *found) to each setting of name
// ("section.key", any case) given in the environment, in git's order:
// GIT_CONFIG_COUNT with GIT_CONFIG_KEY_<n> and GIT_CONFIG_VALUE_<n>, then
// GIT_CONFIG_PARAMETERS, where git puts the `git -c name=value` of the
// command that runs panka (a hook, an alias): they override every file.
func envConfig(name string, value *string, found *bool) {
	if n, err := strconv.Atoi(os.Getenv("GIT_CONFIG_COUNT")); err == nil {
		for i := range n {
			if strings.EqualFold(os.Getenv(fmt.Sprintf("GIT_CONFIG_KEY_%d", i)), name) {
				*value, *found = os.Getenv(fmt.Sprintf("GIT_CONFIG_VALUE_%d", i)), true
			}
		}
	}
	// GIT_CONFIG_PARAMETERS is a list of shell-quoted 'name'='value' (or,
	// from older gits, 'name=value'), separated by spaces.
	params := os.Getenv("GIT_CONFIG_PARAMETERS")
	quoted := func() (string, bool) {
		var b strings.Builder
		for len(params) > 0 && params[0] != ' ' && params[0] != '=' {
			switch params[0] {
			case '\'':
				end := strings.IndexByte(params[1:], '\'')
				if end < 0 {
					return "", false
				}
				b.WriteString(params[1 : 1+end])
				params = params[2+end:]
			case '\\':
				if len(params) < 2 {
					return "", false
				}
				b.WriteByte(params[1])
				params = params[2:]
			default:
				return "", false
			}
		}
		return b.String(), true
	}
	for {
		params = strings.TrimLeft(params, " ")
		if params == "" {
			return
		}
		k, ok := quoted()
		if !ok {
			return // not what git writes: nothing more is read
		}
		v, hasValue := "", false
		if strings.HasPrefix(params, "=") {
			// 'name'= with nothing after it: `git -c name`, no value.
			params = params[1:]
			if params != "" && params[0] != ' ' {
				if v, ok = quoted(); !ok {
					return
				}
				hasValue = true
			}
		} else {
			k, v, hasValue = strings.Cut(k, "=")
		}
		if strings.EqualFold(k, name) {
			*value, *found = v, true
			if !hasValue {
				*value = "true" // a name alone is a boolean set to true
			}
		}
	}
}

// ReadAhead reads the indexed files among names (slash-separated paths;
// the others, on disk or not there, are skipped) in one batch into the
// cache that reads are then served from, as TreeFS.ReadAhead does.
func (w *worktreeFS) ReadAhead(names []string) {
	var ids []Hash
	for _, name := range names {
		e, ok := w.entries[name]
		for dir := name; !ok && w.sparse && dir != "."; {
			dir = path.Dir(dir)
			if d, isDir := w.entries[dir]; isDir && d.IsDir() {
				var err error
				e, err = w.tree.repo.PathEntry(d.Hash, name[len(dir)+1:])
				ok = err == nil
				break
			}
		}
		if ok && (e.Mode == filemode.Regular || e.Mode == filemode.Executable) {
			ids = append(ids, e.Hash)
		}
	}
	_ = w.tree.repo.PrefetchBlobs(ids) // an optimisation: reads stay correct
}
