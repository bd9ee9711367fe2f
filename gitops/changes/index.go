package changes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
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
	Version int                    `json:"version"`
	Root    string                 `json:"root"`
	Tree    string                 `json:"tree"` // tree id of the stacks root ("" for a work tree)
	Stacks  map[string]*indexEntry `json:"stacks"`
}

type indexEntry struct {
	Blob  string   `json:"blob,omitempty"`
	Name  string   `json:"name,omitempty"`
	Watch []string `json:"watch,omitempty"`
}

const indexVersion = 1

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
				x.save(ix)
				return ix, nil
			}
			ix = &stackIndex{Version: indexVersion, Root: x.root, Tree: rt.String(), Stacks: map[string]*indexEntry{}}
		}
	}
	files, err := x.repo.ListFiles(ctx, commitTree, x.root, stacks.StackFile)
	if err != nil {
		return nil, err
	}
	for p, h := range files {
		b, err := x.repo.Blob(h)
		if err != nil {
			return nil, err
		}
		ix.Stacks[path.Dir(p)] = watchEntry(fsys, path.Dir(p), b, h.String())
	}
	x.save(ix)
	return ix, nil
}

// apply updates ix with the stack.yaml files among changes, reading new
// contents from fsys (a commit's TreeFS or the work tree). hashOf, when
// set, gives content ids of work-tree files.
func (x *indexer) apply(ix *stackIndex, changes []gitops.Change, fsys fs.FS, hashOf func([]byte) string) error {
	for _, c := range changes {
		if c.OldPath != "" && path.Base(c.OldPath) == stacks.StackFile && strings.HasPrefix(c.OldPath, x.rootPrefix()) {
			delete(ix.Stacks, path.Dir(c.OldPath))
		}
		if path.Base(c.Path) != stacks.StackFile || !strings.HasPrefix(c.Path, x.rootPrefix()) {
			continue
		}
		dir := path.Dir(c.Path)
		if c.Action == gitops.Deleted {
			delete(ix.Stacks, dir)
			continue
		}
		b, err := fs.ReadFile(fsys, c.Path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				delete(ix.Stacks, dir)
				continue
			}
			return err
		}
		blob := c.NewHash.String()
		if hashOf != nil {
			blob = hashOf(b)
		}
		ix.Stacks[dir] = watchEntry(fsys, dir, b, blob)
	}
	return nil
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
	var ix stackIndex
	if json.Unmarshal(b, &ix) != nil || ix.Version != indexVersion || ix.Root != x.root || ix.Tree != tree || ix.Stacks == nil {
		return nil
	}
	now := time.Now()
	_ = os.Chtimes(x.file(tree), now, now) // keep recently used indexes
	return &ix
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
	b, err := json.Marshal(ix)
	if err != nil {
		return
	}
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
