package changes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"panka.dev/panka/gitops"
	"panka.dev/panka/stacks"
)

// stackIndex lists the stacks of one tree: every folder under the stacks
// root holding stack.yaml, with the blob id of that stack.yaml and, for the
// few stacks whose stack.yaml mentions "watch", their name and watch globs.
type stackIndex struct {
	Version int
	Root    string
	Tree    string // tree id of the stacks root ("" for a work tree)
	Stacks  map[string]*indexEntry
}

type indexEntry struct {
	Blob  string
	Name  string
	Watch []string
}

const indexVersion = 1

// skipDir mirrors the folders stack discovery never enters.
func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || name == "node_modules" || name == "vendor"
}

// stackOf returns the stack folder holding p (nearest ancestor with
// stack.yaml) or "".
func (ix *stackIndex) stackOf(p string) string {
	for d := path.Dir(p); ; d = path.Dir(d) {
		if _, ok := ix.Stacks[d]; ok {
			return d
		}
		if d == "." || d == "/" || d == ix.Root {
			return ""
		}
	}
}

func (ix *stackIndex) clone() *stackIndex {
	c := &stackIndex{Version: ix.Version, Root: ix.Root, Tree: ix.Tree, Stacks: make(map[string]*indexEntry, len(ix.Stacks))}
	for k, v := range ix.Stacks {
		c.Stacks[k] = v
	}
	return c
}

// watchEntry reads the watch globs of the stack.yaml in dir when its content
// mentions "watch" (no stack.yaml without that word can declare spec.watch).
func watchEntry(fsys fs.FS, dir string, content []byte, blob string) *indexEntry {
	e := &indexEntry{Blob: blob}
	if !bytes.Contains(content, []byte("watch")) {
		return e
	}
	h, err := stacks.ReadHeader(fsys, dir)
	if err != nil {
		// A broken stack.yaml declares nothing; if it is part of the
		// change, the stack itself reports the error.
		return e
	}
	e.Name, e.Watch = h.Name, h.Watch
	return e
}

// indexer builds stack indexes for commits, using and filling the on-disk
// cache.
type indexer struct {
	repo     *gitops.Repo
	root     string // stacks root, "" = repository root
	cacheDir string // "" = no disk cache
}

func (x *indexer) rootPrefix() string {
	if x.root == "" {
		return ""
	}
	return x.root + "/"
}

// rootTree returns the tree id of the stacks root in commit tree t (zero
// when the folder does not exist).
func (x *indexer) rootTree(t gitops.Hash) (gitops.Hash, error) {
	if x.root == "" {
		return t, nil
	}
	e, err := x.repo.TreeFSOf(t).Entry(x.root)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !e.IsDir()) {
		return gitops.ZeroHash, nil
	}
	if err != nil {
		return gitops.ZeroHash, err
	}
	return e.Hash, nil
}

// forCommit returns the index of a commit's tree.
func (x *indexer) forCommit(ctx context.Context, commitTree gitops.Hash) (*stackIndex, error) {
	rt, err := x.rootTree(commitTree)
	if err != nil {
		return nil, err
	}
	ix := &stackIndex{Version: indexVersion, Root: x.root, Tree: rt.String(), Stacks: map[string]*indexEntry{}}
	if rt.IsZero() {
		return ix, nil
	}
	fsys := x.repo.TreeFSOf(commitTree)
	if cached := x.load(rt.String()); cached != nil {
		return cached, nil
	}
	// Derive from the most recent cached index when there is one: a diff
	// between two stacks roots is cheap when they are close.
	if prev := x.latest(); prev != nil {
		if ch, err := x.repo.DiffTrees(ctx, plumbing.NewHash(prev.Tree), rt); err == nil {
			ix = prev.clone()
			ix.Tree = rt.String()
			for i := range ch {
				ch[i].Path = x.rootPrefix() + ch[i].Path
				if ch[i].OldPath != "" {
					ch[i].OldPath = x.rootPrefix() + ch[i].OldPath
				}
			}
			if err := x.apply(ix, ch, fsys, nil); err == nil {
				return ix, nil
			}
			ix = &stackIndex{Version: indexVersion, Root: x.root, Tree: rt.String(), Stacks: map[string]*indexEntry{}}
		}
	}
	files, err := x.repo.FindDirs(ctx, commitTree, x.root, stacks.StackFile, skipDir)
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(files))
	hashes := make([]gitops.Hash, 0, len(files))
	for _, p := range sortedKeys(files) {
		paths = append(paths, p)
		hashes = append(hashes, files[p])
	}
	// One pipelined batch; the blobs stay cached for the header reads of
	// touched stacks that follow.
	if err := x.repo.PrefetchBlobs(hashes); err != nil {
		return nil, err
	}
	for i, p := range paths {
		b, err := x.repo.Blob(hashes[i])
		if err != nil {
			return nil, err
		}
		ix.Stacks[path.Dir(p)] = watchEntry(fsys, path.Dir(p), b, hashes[i].String())
	}
	return ix, nil
}

// apply updates ix with the stack.yaml files among changes, reading new
// contents from fsys (a commit's TreeFS or the work tree). hashOf, when
// set, gives content ids of work-tree files. The result is what a fresh
// walk of fsys gives: stack.yaml files below the root, outside skipped
// folders, and not inside another stack.
func (x *indexer) apply(ix *stackIndex, changes []gitops.Change, fsys fs.FS, hashOf func([]byte) string) error {
	relevant := func(p string) bool {
		if path.Base(p) != stacks.StackFile || !strings.HasPrefix(p, x.rootPrefix()) {
			return false
		}
		for _, part := range strings.Split(strings.TrimPrefix(path.Dir(p), x.rootPrefix()), "/") {
			if part != "." && skipDir(part) {
				return false
			}
		}
		return true
	}
	var gone, added []string
	newHash := map[string]gitops.Hash{}
	for _, c := range changes {
		if c.OldPath != "" && relevant(c.OldPath) {
			gone = append(gone, path.Dir(c.OldPath))
		}
		if !relevant(c.Path) {
			continue
		}
		if c.Action == gitops.Deleted {
			gone = append(gone, path.Dir(c.Path))
		} else {
			added = append(added, path.Dir(c.Path))
			newHash[path.Dir(c.Path)] = c.NewHash
		}
	}
	_, isTree := fsys.(*gitops.TreeFS)
	if len(added) > 1 {
		var hs []gitops.Hash
		for _, c := range changes {
			if c.Action != gitops.Deleted && relevant(c.Path) {
				hs = append(hs, c.NewHash)
			}
		}
		if _, ok := fsys.(*gitops.TreeFS); ok {
			_ = x.repo.PrefetchBlobs(hs) // an optimisation; reads below stay correct
		}
	}
	for _, dir := range gone {
		if _, ok := ix.Stacks[dir]; !ok {
			continue
		}
		delete(ix.Stacks, dir)
		// Stacks nested below a removed one become visible.
		if err := x.walkStacks(ix, fsys, dir, true, hashOf); err != nil {
			return err
		}
	}
	sort.Slice(added, func(i, j int) bool { return strings.Count(added[i], "/") < strings.Count(added[j], "/") })
	for _, dir := range added {
		if x.insideStack(ix, dir) {
			continue
		}
		var b []byte
		var err error
		if h := newHash[dir]; isTree && !h.IsZero() {
			b, err = x.repo.Blob(h) // the id is known: no path walk
		} else {
			b, err = fs.ReadFile(fsys, dir+"/"+stacks.StackFile)
		}
		if errors.Is(err, fs.ErrNotExist) {
			delete(ix.Stacks, dir)
			continue
		}
		if err != nil {
			return err
		}
		if _, known := ix.Stacks[dir]; !known {
			pre := dir + "/"
			for d := range ix.Stacks {
				if strings.HasPrefix(d, pre) {
					delete(ix.Stacks, d) // now nested inside dir
				}
			}
		}
		id := ""
		if isTree && !newHash[dir].IsZero() {
			id = newHash[dir].String()
		} else {
			id = blobID(b, hashOf, fsys, dir)
		}
		ix.Stacks[dir] = watchEntry(fsys, dir, b, id)
	}
	return nil
}

func blobID(b []byte, hashOf func([]byte) string, fsys fs.FS, dir string) string {
	if hashOf != nil {
		return hashOf(b)
	}
	if t, ok := fsys.(*gitops.TreeFS); ok {
		if e, err := t.Entry(dir + "/" + stacks.StackFile); err == nil {
			return e.Hash.String()
		}
	}
	return plumbing.ComputeHash(plumbing.BlobObject, b).String()
}

// insideStack reports whether a folder above dir (below the root) is a stack.
func (x *indexer) insideStack(ix *stackIndex, dir string) bool {
	for d := path.Dir(dir); d != "." && d != "/" && strings.HasPrefix(d+"/", x.rootPrefix()) && d+"/" != x.rootPrefix(); d = path.Dir(d) {
		if _, ok := ix.Stacks[d]; ok {
			return true
		}
	}
	if x.root != "" {
		if _, ok := ix.Stacks[x.root]; ok && dir != x.root {
			return true
		}
	}
	return false
}

// walkStacks adds the stacks found below dir in fsys (not descending into
// stacks or skipped folders).
func (x *indexer) walkStacks(ix *stackIndex, fsys fs.FS, dir string, below bool, hashOf func([]byte) string) error {
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return fs.SkipDir
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && skipDir(d.Name()) {
			return fs.SkipDir
		}
		if below && p == dir {
			return nil
		}
		b, err := fs.ReadFile(fsys, p+"/"+stacks.StackFile)
		if err != nil {
			return nil
		}
		ix.Stacks[p] = watchEntry(fsys, p, b, blobID(b, hashOf, fsys, p))
		return fs.SkipDir
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// The cache file is line-based (JSON costs more than the rest of a small
// detection): a header "panka-stack-index <version> <root> <tree>", then
// "<dir>\t<blob>\t<name>\t<watch globs separated by \x1f>" per stack.
const indexMagic = "panka-stack-index"

func encodeIndex(ix *stackIndex) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s\t%d\t%s\t%s\n", indexMagic, ix.Version, ix.Root, ix.Tree)
	for _, d := range sortedKeys(ix.Stacks) {
		e := ix.Stacks[d]
		buf.WriteString(d)
		buf.WriteByte('\t')
		buf.WriteString(e.Blob)
		buf.WriteByte('\t')
		buf.WriteString(e.Name)
		buf.WriteByte('\t')
		buf.WriteString(strings.Join(e.Watch, "\x1f"))
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func decodeIndex(b []byte) *stackIndex {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	h := strings.Split(lines[0], "\t")
	if len(h) != 4 || h[0] != indexMagic {
		return nil
	}
	v, err := strconv.Atoi(h[1])
	if err != nil {
		return nil
	}
	ix := &stackIndex{Version: v, Root: h[2], Tree: h[3], Stacks: make(map[string]*indexEntry, len(lines))}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 4 {
			return nil
		}
		e := &indexEntry{Blob: f[1], Name: f[2]}
		if f[3] != "" {
			e.Watch = strings.Split(f[3], "\x1f")
		}
		ix.Stacks[f[0]] = e
	}
	return ix
}

func (x *indexer) file(tree string) string {
	return filepath.Join(x.cacheDir, "stack-index-"+tree+".json")
}

func (x *indexer) load(tree string) *stackIndex {
	if x.cacheDir == "" {
		return nil
	}
	b, err := os.ReadFile(x.file(tree))
	if err != nil {
		return nil
	}
	ix := decodeIndex(b)
	if ix == nil || ix.Version != indexVersion || ix.Root != x.root || ix.Tree != tree {
		return nil
	}
	now := time.Now()
	_ = os.Chtimes(x.file(tree), now, now) // keep recently used indexes
	return ix
}

// latest returns the most recently used cached index.
func (x *indexer) latest() *stackIndex {
	if x.cacheDir == "" {
		return nil
	}
	for _, f := range x.cached() {
		tree := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "stack-index-"), ".json")
		if ix := x.load(tree); ix != nil {
			return ix
		}
	}
	return nil
}

// cached lists the cache files, most recently used first.
func (x *indexer) cached() []string {
	files, _ := filepath.Glob(filepath.Join(x.cacheDir, "stack-index-*.json"))
	mt := map[string]time.Time{}
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			mt[f] = st.ModTime()
		}
	}
	sort.Slice(files, func(i, j int) bool { return mt[files[i]].After(mt[files[j]]) })
	return files
}

const keepIndexes = 6

// save writes ix to the cache (atomically) and prunes old entries. Cache
// failures are ignored: the cache only saves time.
func (x *indexer) save(ix *stackIndex) {
	if x.cacheDir == "" || ix.Tree == "" {
		return
	}
	if err := os.MkdirAll(x.cacheDir, 0o755); err != nil {
		return
	}
	b := encodeIndex(ix)
	tmp, err := os.CreateTemp(x.cacheDir, ".stack-index-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), x.file(ix.Tree)) != nil {
		os.Remove(tmp.Name())
		return
	}
	for i, f := range x.cached() {
		if i >= keepIndexes {
			os.Remove(f)
		}
	}
}
