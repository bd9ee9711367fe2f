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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/osfile"
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
	// noWatch marks an index whose entries need not carry Name and Watch
	// (stack.yaml contents are not read where the change gives the blob
	// id): the base side of a comparison, whose watch globs nothing uses.
	// It is never saved.
	noWatch bool
}

type indexEntry struct {
	Blob  string
	Name  string
	Watch []string
	// Envs lists the stack's environment files (as stacks.ReadHeader
	// would: sorted, valid and distinct names) when EnvsKnown; indexes
	// built from the staging index know them, and derived indexes keep
	// them where no environment file was added, removed or renamed.
	Envs      []string
	EnvsKnown bool
	// Link is set when the stack.yaml is a symbolic link (to another file
	// of the folder): its name and watch globs come from the file it
	// points at, which a change may edit without touching stack.yaml.
	Link bool
}

const indexVersion = 7 // 3: the end line; 4: watch globs of broken stack.yaml files; 5: of linked ones; 6: names going on over lines; 7: linked stack.yaml marked

// stackOf returns the stack folder holding p (nearest ancestor with
// stack.yaml) or "".
func (ix *stackIndex) stackOf(p string) string {
	for {
		// p is clean and relative: its folder is what precedes the last
		// slash (path.Dir without the allocations).
		d := "."
		i := strings.LastIndexByte(p, '/')
		if i >= 0 {
			d = p[:i]
		}
		if _, ok := ix.Stacks[d]; ok {
			return d
		}
		if i < 0 || d == ix.Root {
			return ""
		}
		p = d
	}
}

// isLink reports whether p is a symbolic link on fsys.
func isLink(fsys fs.FS, p string) bool {
	st, err := fs.Lstat(fsys, p)
	return err == nil && st.Mode()&fs.ModeSymlink != 0
}

// hasLink reports whether a stack.yaml of the index is a symbolic link.
func (ix *stackIndex) hasLink() bool {
	for _, e := range ix.Stacks {
		if e.Link {
			return true
		}
	}
	return false
}

func (ix *stackIndex) clone() *stackIndex {
	c := &stackIndex{Version: ix.Version, Root: ix.Root, Tree: ix.Tree, Stacks: make(map[string]*indexEntry, len(ix.Stacks)), noWatch: ix.noWatch}
	for k, v := range ix.Stacks {
		c.Stacks[k] = v
	}
	return c
}

// watchEntry reads the watch globs of the stack.yaml in dir when its content
// mentions "watch" (no stack.yaml without that word can declare spec.watch).
func watchEntry(fsys fs.FS, dir string, content []byte, blob string) *indexEntry {
	e := &indexEntry{Blob: blob}
	// A stack.yaml that is a symbolic link (its content the one line of
	// its target's name) says nothing itself: its target may watch.
	if bytes.IndexByte(content, '\n') < 0 {
		if st, err := fs.Lstat(fsys, path.Join(dir, stacks.StackFile)); err == nil && st.Mode()&fs.ModeSymlink != 0 {
			e.Link = true
		}
	}
	if !e.Link && !bytes.Contains(content, []byte("watch")) {
		return e
	}
	// The globs as written: one validate refuses, or a stack.yaml broken
	// elsewhere, still watches what it says (when the stack is part of the
	// change, its load reports the errors; invalid globs are reported at
	// every detection, see badWatchGlobs).
	name, watch, err := stacks.ReadWatch(fsys, dir)
	if err == nil {
		e.Name = name
	}
	e.Watch = watch
	return e
}

// indexer builds stack indexes for commits, using and filling the on-disk
// cache.
type indexer struct {
	repo     *gitops.Repo
	root     string // stacks root, "" = repository root
	cacheDir string // "" = no disk cache

	stagedOnce sync.Once
	staged     *staged

	// saves are the cache writes in flight (save); wait ends them.
	saves sync.WaitGroup
}

// wait returns when the cache writes save started are done.
func (x *indexer) wait() { x.saves.Wait() }

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
	if staged, ok, err := x.fromStagingIndex(commitTree, rt); ok || err != nil {
		return staged, err
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
	files, err := x.repo.FindDirs(ctx, commitTree, x.root, stacks.StackFile, stacks.SkipDir)
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(files))
	hashes := make([]gitops.Hash, 0, len(files))
	for _, p := range sortedKeys(files) {
		paths = append(paths, p)
		hashes = append(hashes, files[p])
	}
	// One pipelined batch (from the work tree where it holds the same
	// contents); the blobs stay cached for the header reads of touched
	// stacks that follow.
	if err := x.repo.PrefetchWorktreeBlobs(paths, hashes); err != nil {
		return nil, err
	}
	for i, p := range paths {
		b, err := stackFileBlob(x.repo, hashes[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		ix.Stacks[path.Dir(p)] = watchEntry(fsys, path.Dir(p), b, hashes[i].String())
	}
	return ix, nil
}

// quick returns the index of a commit's tree when it comes without a walk
// of trees: from the cache, or from the staging index when the commit is
// checked out. ok is false otherwise.
func (x *indexer) quick(commitTree gitops.Hash) (ix *stackIndex, cached, ok bool, err error) {
	rt, err := x.rootTree(commitTree)
	if err != nil {
		return nil, false, false, err
	}
	if rt.IsZero() {
		return &stackIndex{Version: indexVersion, Root: x.root, Tree: rt.String(), Stacks: map[string]*indexEntry{}}, false, true, nil
	}
	if ix := x.load(rt.String()); ix != nil {
		return ix, true, true, nil
	}
	ix, ok, err = x.fromStagingIndex(commitTree, rt)
	return ix, false, ok, err
}

// cachedIndex reports whether the cache holds the index of a commit's tree.
func (x *indexer) cachedIndex(commitTree gitops.Hash) bool {
	if x.cacheDir == "" {
		return false
	}
	rt, err := x.rootTree(commitTree)
	if err != nil || rt.IsZero() {
		return err == nil
	}
	_, err = os.Stat(x.file(rt.String()))
	return err == nil
}

// fromStagingIndex builds the index of a checked-out commit's tree from the
// staging index (its stack.yaml paths and blob ids, with the stack.yaml
// contents read from the work tree where they match), applying the rules
// of a walk of trees (FindDirs): no skipped folder, no stack inside
// another. ok is false when the staging index does not hold that tree.
func (x *indexer) fromStagingIndex(commitTree, rt gitops.Hash) (*stackIndex, bool, error) {
	st := x.stagedStacks()
	if !st.ok || st.tree != commitTree {
		return nil, false, nil
	}
	fsys := x.repo.TreeFSOf(commitTree)
	ix := &stackIndex{Version: indexVersion, Root: x.root, Tree: rt.String(), Stacks: make(map[string]*indexEntry, len(st.dirs))}
	for i, dir := range st.dirs {
		b, err := stackFileBlob(x.repo, st.ids[i])
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", st.paths[i], err)
		}
		en := watchEntry(fsys, dir, b, st.ids[i].String())
		en.Envs, en.EnvsKnown = envNames(st.envFiles[dir])
		ix.Stacks[dir] = en
	}
	return ix, true, nil
}

// staged is what the staging index says about stacks, before knowing which
// commit it is compared with: the tree it holds, and its stack folders with
// their stack.yaml paths and blob ids and their environment files.
type staged struct {
	ok       bool
	tree     gitops.Hash
	dirs     []string
	paths    []string
	ids      []gitops.Hash
	envFiles map[string][]string // folder holding environments/ -> file names
}

// startStaged reads the staging index and the stack.yaml files it lists
// in the background: that does not need the commits compared, whose
// resolution (the first object reads: loading the pack indexes) it then
// overlaps with.
func (x *indexer) startStaged() {
	go x.stagedStacks()
}

// holdsIndexes reports whether the cache holds any stack index: then a
// comparison most likely starts from one, and does not read the staging
// index at all.
func (x *indexer) holdsIndexes() bool {
	if x.cacheDir == "" {
		return false
	}
	m, _ := filepath.Glob(filepath.Join(x.cacheDir, "stack-index-*.json"))
	return len(m) > 0
}

// stagedStacks reads the staging index once (see staged), with the
// stack.yaml contents prefetched from the work tree where they match.
func (x *indexer) stagedStacks() *staged {
	x.stagedOnce.Do(func() { x.staged = x.readStaged() })
	return x.staged
}

func (x *indexer) readStaged() *staged {
	pre := x.rootPrefix()
	file := "/" + stacks.StackFile
	envs := "/" + stacks.EnvironmentsDir + "/"
	ents, tree, ok := x.repo.StagedTree(func(p []byte) bool {
		return len(p) > len(pre) && string(p[:len(pre)]) == pre &&
			(bytes.HasSuffix(p, []byte(file)) || len(p) == len(pre)+len(stacks.StackFile) && string(p[len(pre):]) == stacks.StackFile ||
				bytes.Contains(p, []byte(envs)) || pre == "" && bytes.HasPrefix(p, []byte(envs[1:])))
	})
	if !ok {
		return &staged{}
	}
	rootDir := x.root
	if rootDir == "" {
		rootDir = "."
	}
	st := &staged{ok: true, tree: tree, envFiles: map[string][]string{}}
	cand := make(map[string]int, len(ents))
	for i, en := range ents {
		if j := strings.LastIndex(en.Path, envs); j >= 0 || pre == "" && strings.HasPrefix(en.Path, envs[1:]) {
			parent, name := ".", strings.TrimPrefix(en.Path, envs[1:])
			if j >= 0 {
				parent, name = en.Path[:j], en.Path[j+len(envs):]
			}
			if !strings.Contains(name, "/") {
				st.envFiles[parent] = append(st.envFiles[parent], name)
			}
		}
		if !strings.HasSuffix(en.Path, file) && en.Path != pre+stacks.StackFile || en.Mode == filemode.Submodule {
			continue
		}
		dir := path.Dir(en.Path)
		skipped := false
		for _, part := range strings.Split(strings.TrimPrefix(dir, pre), "/") {
			if dir != rootDir && stacks.SkipDir(part) {
				skipped = true
				break
			}
		}
		if !skipped {
			cand[dir] = i
		}
	}
	for dir, i := range cand {
		nested := false
		for a := dir; a != rootDir && a != "." && a != "/"; {
			a = path.Dir(a)
			if _, ok := cand[a]; ok {
				nested = true
				break
			}
		}
		if !nested {
			st.dirs = append(st.dirs, dir)
			st.paths = append(st.paths, ents[i].Path)
			st.ids = append(st.ids, ents[i].Hash)
		}
	}
	// An optimisation: Blob reads stay correct whatever it fetched.
	_ = x.repo.PrefetchWorktreeBlobs(st.paths, st.ids)
	return st
}

// envNames turns the file names of an environments folder into environment
// names as quickHeader does; ok is false when stacks.ReadHeader must judge
// them (an invalid or repeated name).
func envNames(files []string) (envs []string, ok bool) {
	seen := map[string]bool{}
	for _, n := range files {
		if !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			continue
		}
		env := strings.TrimSuffix(strings.TrimSuffix(n, ".yaml"), ".yml")
		if stacks.CheckName(env) != "" || seen[env] {
			return nil, false
		}
		seen[env] = true
		envs = append(envs, env)
	}
	sort.Strings(envs)
	return envs, true
}

// reverse turns the changes from a to b into the changes from b to a.
func reverse(changes []gitops.Change) []gitops.Change {
	out := make([]gitops.Change, len(changes))
	for i, c := range changes {
		r := gitops.Change{Path: c.Path, OldPath: c.OldPath, OldHash: c.NewHash, NewHash: c.OldHash, OldMode: c.NewMode, NewMode: c.OldMode}
		switch c.Action {
		case gitops.Added:
			r.Action = gitops.Deleted
		case gitops.Deleted:
			r.Action = gitops.Added
		case gitops.Renamed:
			r.Action, r.Path, r.OldPath = gitops.Renamed, c.OldPath, c.Path
		default:
			r.Action = c.Action
		}
		out[i] = r
	}
	return out
}

// apply updates ix with the stack.yaml files among changes, reading new
// contents from fsys (a commit's TreeFS or the work tree). hashOf, when
// set, gives content ids of work-tree files. The result is what a fresh
// walk of fsys gives: stack.yaml files below the root, outside skipped
// folders, and not inside another stack.
func (x *indexer) apply(ix *stackIndex, changes []gitops.Change, fsys fs.FS, hashOf func([]byte) string) error {
	_, isTree := fsys.(*gitops.TreeFS)
	relevant := func(p string) bool {
		if path.Base(p) != stacks.StackFile || !strings.HasPrefix(p, x.rootPrefix()) {
			return false
		}
		for _, part := range strings.Split(strings.TrimPrefix(path.Dir(p), x.rootPrefix()), "/") {
			if part != "." && stacks.SkipDir(part) {
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
	// A stack.yaml that is a symbolic link is read again when a file of
	// its folder changed, the one it points at maybe: its name and watch
	// globs are that file's (a linked stack.yaml kept its name after its
	// target renamed the stack, and missed a spec.watch added there).
	relinked := map[string]bool{}
	if ix.hasLink() {
		for _, c := range changes {
			for _, p := range [2]string{c.OldPath, c.Path} {
				if p == "" || relevant(p) {
					continue
				}
				dir := ix.stackOf(p)
				if en := ix.Stacks[dir]; en == nil || !en.Link || relinked[dir] || !newHash[dir].IsZero() || slices.Contains(gone, dir) {
					continue
				}
				relinked[dir] = true
				added = append(added, dir)
				if isTree {
					newHash[dir] = plumbing.NewHash(ix.Stacks[dir].Blob) // the link itself did not change
				}
			}
		}
	}
	if len(added) > 1 && !ix.noWatch {
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
		if h := newHash[dir]; ix.noWatch && isTree && !h.IsZero() {
			en := &indexEntry{Blob: h.String(), Link: relinked[dir]}
			if old := ix.Stacks[dir]; old != nil && old.EnvsKnown {
				en.Envs, en.EnvsKnown = old.Envs, true
			} else if old == nil {
				x.dropNested(ix, dir)
			}
			ix.Stacks[dir] = en
			continue
		}
		var b []byte
		var err error
		fromTree := false
		if h := newHash[dir]; isTree && !h.IsZero() {
			b, err = stackFileBlob(x.repo, h) // the id is known: no path walk
			fromTree = true
		} else {
			b, err = readStackFile(fsys, dir+"/"+stacks.StackFile)
		}
		if errors.Is(err, fs.ErrNotExist) && !isLink(fsys, dir+"/"+stacks.StackFile) {
			delete(ix.Stacks, dir)
			continue
		}
		// A stack.yaml link whose target is gone (on a work tree, read
		// through the link) is there: a broken stack, not a removed one.
		if err != nil && !fromTree {
			// There, but not a file it can read (a symbolic link to a
			// folder, say): a stack whose stack.yaml does not load, which
			// its load reports, not a failed detection.
			if _, known := ix.Stacks[dir]; !known {
				x.dropNested(ix, dir)
			}
			ix.Stacks[dir] = &indexEntry{Link: relinked[dir]}
			continue
		}
		if err != nil {
			return err
		}
		if _, known := ix.Stacks[dir]; !known {
			x.dropNested(ix, dir)
		}
		id := ""
		if isTree && !newHash[dir].IsZero() {
			id = newHash[dir].String()
		} else {
			id = blobID(b, hashOf, fsys, dir)
		}
		en := watchEntry(fsys, dir, b, id)
		en.Link = en.Link || relinked[dir] // read through the link on a work tree
		if old := ix.Stacks[dir]; old != nil && old.EnvsKnown {
			en.Envs, en.EnvsKnown = old.Envs, true
		}
		ix.Stacks[dir] = en
	}
	// An environment listing stays known only where no environment file
	// was added, removed or renamed.
	for dir := range listingChanges(changes) {
		if old := ix.Stacks[dir]; old != nil && old.EnvsKnown {
			en := *old
			en.Envs, en.EnvsKnown = nil, false
			ix.Stacks[dir] = &en
		}
	}
	return nil
}

// dropNested removes the stacks below dir, a new stack: they are now
// nested inside it.
func (x *indexer) dropNested(ix *stackIndex, dir string) {
	pre := dir + "/"
	for d := range ix.Stacks {
		if strings.HasPrefix(d, pre) {
			delete(ix.Stacks, d)
		}
	}
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
		if p != dir && stacks.SkipDir(d.Name()) {
			return fs.SkipDir
		}
		if below && p == dir {
			return nil
		}
		b, err := readStackFile(fsys, p+"/"+stacks.StackFile)
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
// "<dir>\t<blob>\t<name>\t<watch globs separated by \x1f>\t<environments
// separated by \x1f, or ? when not known>\t<l when stack.yaml is a symbolic
// link>" per stack, and an end line.
const indexMagic = "panka-stack-index"

// indexEnd starts the last line, "end\t<number of stacks>".
const indexEnd = "end"

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
		buf.WriteByte('\t')
		if e.EnvsKnown {
			buf.WriteString(strings.Join(e.Envs, "\x1f"))
		} else {
			buf.WriteByte('?')
		}
		buf.WriteByte('\t')
		if e.Link {
			buf.WriteByte('l')
		}
		buf.WriteByte('\n')
	}
	fmt.Fprintf(&buf, "%s\t%d\n", indexEnd, len(ix.Stacks))
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
	// A file cut short (a crash before its contents reached the disk)
	// lacks the end line or its count.
	if len(lines) < 2 || lines[len(lines)-1] != fmt.Sprintf("%s\t%d", indexEnd, len(lines)-2) {
		return nil
	}
	ix := &stackIndex{Version: v, Root: h[2], Tree: h[3], Stacks: make(map[string]*indexEntry, len(lines))}
	for _, l := range lines[1 : len(lines)-1] {
		f := strings.Split(l, "\t")
		if len(f) != 6 {
			return nil
		}
		e := &indexEntry{Blob: f[1], Name: f[2], Link: f[5] == "l"}
		if f[3] != "" {
			e.Watch = strings.Split(f[3], "\x1f")
		}
		if f[4] != "?" {
			e.EnvsKnown = true
			if f[4] != "" {
				e.Envs = strings.Split(f[4], "\x1f")
			}
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
	// Only a regular file (save writes nothing else): a named pipe or a
	// link to a device there would block or never end a plain read.
	b, ok := osfile.Read(x.file(tree), osfile.Options{Max: maxIndexFile, NoFollow: true})
	if !ok {
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

// maxIndexFile bounds the cache files load reads (an index of 100,000
// stacks takes about 10 MB).
const maxIndexFile = 1 << 28

// save writes ix to the cache (atomically) and prunes old entries. Cache
// failures are ignored: the cache only saves time.
func (x *indexer) save(ix *stackIndex) {
	// A commit without the stacks root (tree "0…0") has no stacks: an
	// index of nothing is cheap to rebuild and would take a cache slot.
	if x.cacheDir == "" || ix.Tree == "" || ix.Tree == gitops.ZeroHash.String() || ix.noWatch {
		return
	}
	// Encoded now (ix may change after), written meanwhile the comparison
	// goes on: the file system work is off its path (Detect waits for it).
	t, b := ix.Tree, encodeIndex(ix)
	x.saves.Add(1)
	go func() {
		defer x.saves.Done()
		x.write(t, b)
	}()
}

// write stores an encoded index of stacks tree t in the cache.
func (x *indexer) write(t string, b []byte) {
	if osfile.Replace(x.file(t), ".stack-index-", b) != nil {
		return
	}
	for i, f := range x.cached() {
		if i >= keepIndexes {
			os.Remove(f)
		}
	}
}
