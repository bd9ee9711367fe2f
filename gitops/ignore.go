package gitops

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// Ignores tells which work-tree paths git ignores: untracked (not in the
// staging index) and matched by the ignore rules git status applies —
// core.excludesFile, info/exclude and the .gitignore files of the folders
// on the path. A commit, CI and every other clone lack such a file, so the
// work tree read without it is what they read.
//
// It reads only what the paths asked about need: the .gitignore files of
// their folders (each once) and, the first time a path matches a rule,
// the staging index. Safe for concurrent use.
//
// An untracked folder that is a git repository of its own (it holds a
// .git; not a submodule, which the index records) counts as ignored too:
// git status shows it as one untracked folder and git add does not add
// its files, so no commit or CI run has them either (Nested lists those).
// A submodule's folder is not ignored (git status reports it), but this
// repository's commits hold none of its files, only a commit of another
// repository: Submodules lists those Ignored was asked about.
type Ignores struct {
	r      *Repo
	global []gitignore.Pattern
	dirs   sync.Map // folder ("" the root) -> *ignoreDir
	// listed holds what Listed was told of a folder ("" the root):
	// whether it holds a .git and a .gitignore, so that neither need be
	// looked for on disk (one failed system call each, per folder).
	listed sync.Map // folder -> listing

	mu      sync.Mutex
	tracked []string        // the index's paths, sorted
	links   map[string]bool // the index's submodules (gitlinks)
	loaded  bool            // tracked is read
	// folderAsks counts trackedFolder's questions before loaded.
	folderAsks int
	broken     bool            // the index could not be read: hide nothing
	hidden     map[string]bool // the paths Ignored answered true for: is it a folder
	nested     map[string]bool // the nested repositories Ignored left out
	subs       map[string]bool // the submodules Ignored was asked about
}

// ignoreDir is what Ignores knows of a folder.
type ignoreDir struct {
	name    string   // its path ("" the root)
	parts   []string // its path, split
	ignored bool     // it, or a folder on its way, matches a rule
	nested  string   // the folder on its way (or it) that holds a .git, or ""

	// rules are the rules in effect in it (its own .gitignore last),
	// read the first time a path in it is asked about (rulesOf): most
	// folders are asked about only as entries of their parent's listing.
	once      sync.Once
	inherited []gitignore.Pattern // its parent's rules
	rules     []gitignore.Pattern
}

// listing is what a folder's listing told of it.
type listing struct{ git, gitignore bool }

// Ignores returns the ignore rules of the work tree (see Ignores).
func (r *Repo) Ignores() *Ignores {
	return &Ignores{r: r, global: r.excludePatterns(), hidden: map[string]bool{}, nested: map[string]bool{}, subs: map[string]bool{}}
}

// excludePatterns are the patterns of core.excludesFile, then of
// info/exclude, by increasing priority (as git; the .gitignore files come
// after them).
func (r *Repo) excludePatterns() []gitignore.Pattern {
	var patterns []gitignore.Pattern
	for _, f := range []string{r.excludesFile(), filepath.Join(r.commonDir, "info", "exclude")} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		patterns = append(patterns, parseIgnore(b, nil)...)
	}
	return patterns
}

// parseIgnore parses the lines of an ignore file of the folder domain.
func parseIgnore(b []byte, domain []string) []gitignore.Pattern {
	var patterns []gitignore.Pattern
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		patterns = append(patterns, gitignore.ParsePattern(line, domain))
	}
	return patterns
}

// dir returns what applies in the folder dir ("" the root): the global
// rules, then the .gitignore files from the root down to dir.
func (ig *Ignores) dir(dir string) *ignoreDir {
	if d, ok := ig.dirs.Load(dir); ok {
		return d.(*ignoreDir)
	}
	d := &ignoreDir{name: dir, inherited: ig.global}
	if dir != "" {
		parentDir, base := "", dir
		if i := strings.LastIndexByte(dir, '/'); i >= 0 {
			parentDir, base = dir[:i], dir[i+1:]
		}
		parent := ig.dir(parentDir)
		d.parts = append(parent.parts[:len(parent.parts):len(parent.parts)], base)
		d.inherited = ig.rulesOf(parent)
		d.ignored = parent.ignored || (len(d.inherited) > 0 && gitignore.NewMatcher(d.inherited).Match(d.parts, true))
		d.nested = parent.nested
		if d.nested == "" && ig.holdsGit(dir) {
			d.nested = dir
		}
	}
	got, _ := ig.dirs.LoadOrStore(dir, d)
	return got.(*ignoreDir)
}

// rulesOf returns the rules in effect in the folder d, reading its
// .gitignore the first time.
func (ig *Ignores) rulesOf(d *ignoreDir) []gitignore.Pattern {
	d.once.Do(func() {
		d.rules = d.inherited
		// Below an ignored folder git reads no .gitignore (nothing there
		// can be brought back).
		if d.ignored {
			return
		}
		if l, ok := ig.listed.Load(d.name); ok && !l.(listing).gitignore {
			return
		}
		if b, err := os.ReadFile(filepath.Join(ig.r.root, filepath.FromSlash(d.name), ".gitignore")); err == nil {
			if own := parseIgnore(b, d.parts); len(own) > 0 {
				d.rules = append(append([]gitignore.Pattern(nil), d.rules...), own...)
			}
		}
	})
	return d.rules
}

// Listed tells ig the entries of the work-tree folder dir (slash-separated,
// relative to the repository root; "." or "" the root), as a listing of it
// read them: what Ignored then needs to know of that folder's own files
// (.git, .gitignore) comes from them rather than from disk. A listing of
// thousands of folders otherwise cost two failed system calls per folder.
func (ig *Ignores) Listed(dir string, ents []fs.DirEntry) {
	if dir == "." {
		dir = ""
	}
	var l listing
	for _, e := range ents {
		switch e.Name() {
		case ".git":
			l.git = true
		case ".gitignore":
			l.gitignore = true
		}
	}
	ig.listed.Store(dir, l)
}

// Ignored reports whether name (slash-separated, relative to the
// repository root; isDir when it is a folder) is ignored: it, or a folder
// on its way, matches the ignore rules, and it is not tracked (a tracked
// file stays part of the work tree whatever the rules say, and so does a
// folder holding one).
func (ig *Ignores) Ignored(name string, isDir bool) bool {
	if name == "." || name == "" || name == ".git" || strings.HasPrefix(name, ".git/") {
		return false
	}
	parentDir, base := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		parentDir, base = name[:i], name[i+1:]
	}
	parent := ig.dir(parentDir)
	matched := parent.ignored
	if rules := ig.rulesOf(parent); !matched && len(rules) > 0 {
		parts := append(parent.parts[:len(parent.parts):len(parent.parts)], base)
		matched = gitignore.NewMatcher(rules).Match(parts, isDir)
	}
	nested := ""
	if !matched {
		nested = parent.nested
		if nested == "" && isDir {
			if ig.trackedFolder(name) {
				// Not ignored, whether or not it holds a .git (see
				// below): a listing of a big work tree asks this of
				// every folder, and need not look for a .git in
				// each.
				return false
			}
			nested = ig.dir(name).nested // cached: asked about again and again
		}
		if nested == "" {
			return false
		}
	}
	ig.mu.Lock()
	defer ig.mu.Unlock()
	if nested != "" && ig.isSubmodule(nested) {
		ig.subs[nested] = true
		return false
	}
	if ig.isTracked(name) {
		return false
	}
	if nested != "" {
		ig.nested[nested] = true
		return true
	}
	ig.hidden[name] = isDir
	return true
}

// trackedFolder reports whether the folder name, matching no ignore rule
// and in no nested repository, is tracked and not a submodule: Ignored
// says false of it whether it holds a .git or not (a tracked folder stays
// part of the work tree; only a submodule is recorded when it does).
//
// It is a shortcut only (Ignored's answer is the same without it, from
// whether the folder holds a .git), worth reading the whole index for
// when many folders are asked about (a listing of the whole work tree);
// for the first folderShortcut folders it says false without reading it:
// a one-stack command asks about a handful, and reading an index of
// 30,000 entries for them took a quarter of its time.
func (ig *Ignores) trackedFolder(name string) bool {
	ig.mu.Lock()
	defer ig.mu.Unlock()
	if !ig.loaded && ig.folderAsks < folderShortcut {
		ig.folderAsks++
		return false
	}
	return ig.isTracked(name) && !ig.links[name]
}

// folderShortcut is how many folders trackedFolder answers without the
// index before it reads it.
const folderShortcut = 64

// holdsGit reports whether the folder dir holds a .git (folder or file):
// the work tree of a repository of its own (or of a submodule).
func (ig *Ignores) holdsGit(dir string) bool {
	if l, ok := ig.listed.Load(dir); ok {
		return l.(listing).git
	}
	_, err := os.Lstat(filepath.Join(ig.r.root, filepath.FromSlash(dir), ".git"))
	return err == nil
}

// load reads the index's paths once. The caller holds mu.
func (ig *Ignores) load() {
	if ig.loaded {
		return
	}
	ig.loaded = true
	recs, err := ig.r.indexRecords(func(*rawIndexEntry) bool { return true })
	if err != nil {
		// An unreadable index: hide nothing (the commands that read
		// it say what is wrong with it).
		ig.broken = true
	}
	ig.links = map[string]bool{}
	for _, rec := range recs {
		ig.tracked = append(ig.tracked, strings.TrimSuffix(rec.path, "/"))
		if rec.mode == filemode.Submodule {
			ig.links[rec.path] = true
		}
	}
	sort.Strings(ig.tracked)
}

// isSubmodule reports whether the folder dir, which holds a .git, is a
// submodule the index records. The caller holds mu.
func (ig *Ignores) isSubmodule(dir string) bool {
	ig.load()
	return ig.links[dir]
}

// isTracked reports whether the index holds name, a file below the folder
// name, or a folder (of a sparse index) name is in. The caller holds mu.
func (ig *Ignores) isTracked(name string) bool {
	ig.load()
	if ig.broken {
		return true
	}
	if i := sort.SearchStrings(ig.tracked, name); i < len(ig.tracked) && ig.tracked[i] == name {
		return true
	}
	if i := sort.SearchStrings(ig.tracked, name+"/"); i < len(ig.tracked) && strings.HasPrefix(ig.tracked[i], name+"/") {
		return true
	}
	// Inside a sparse index's folder entry.
	for dir := name; strings.Contains(dir, "/"); {
		dir = dir[:strings.LastIndexByte(dir, '/')]
		if j := sort.SearchStrings(ig.tracked, dir); j < len(ig.tracked) && ig.tracked[j] == dir {
			return true
		}
	}
	return false
}

// Nested returns the untracked nested repositories (folders) Ignored left
// out, sorted, each with a trailing "/".
func (ig *Ignores) Nested() []string { return ig.folders(&ig.nested) }

// Submodules returns the submodules (folders) Ignored was asked about
// (it or what it holds; they are not ignored), sorted, each with a
// trailing "/".
func (ig *Ignores) Submodules() []string { return ig.folders(&ig.subs) }

// folders returns the folders of *set (read under the lock), sorted, each
// with a trailing "/".
func (ig *Ignores) folders(set *map[string]bool) []string {
	ig.mu.Lock()
	defer ig.mu.Unlock()
	out := make([]string, 0, len(*set))
	for p := range *set {
		out = append(out, p+"/")
	}
	sort.Strings(out)
	return out
}

// Hidden returns the paths Ignored found ignored by the ignore rules (not
// the nested repositories), sorted, each folder with a trailing "/".
func (ig *Ignores) Hidden() []string {
	ig.mu.Lock()
	defer ig.mu.Unlock()
	out := make([]string, 0, len(ig.hidden))
	for p, dir := range ig.hidden {
		if dir {
			p += "/"
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Tracked reports whether the index holds name (slash-separated, relative
// to the repository root), a file below the folder name, or a folder (of a
// sparse index) name is in: such a path is never Ignored, whatever the
// ignore rules become. An unreadable index counts everything tracked (it
// hides nothing).
func (ig *Ignores) Tracked(name string) bool {
	ig.mu.Lock()
	defer ig.mu.Unlock()
	return ig.isTracked(name)
}
