package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	formatcfg "github.com/go-git/go-git/v5/plumbing/format/config"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// WorktreeChanges lists, sorted, the paths whose work-tree content differs
// from HEAD's tree: staged or unstaged modifications, deletions, and
// untracked files that are not ignored. A submodule counts when the commit
// recorded for it changed (staged) or the commit checked out in it differs
// from the recorded one (what git commit -a would record), never for what
// its own work tree holds (git status --ignore-submodules=dirty).
// With the git binary it runs `git status --porcelain -z`; otherwise it
// compares the index with HEAD and the work-tree files with the index (by
// size and mtime, hashing only files whose stat differs), never go-git's
// Worktree.Status.
func (r *Repo) WorktreeChanges(ctx context.Context) ([]string, error) {
	return r.WorktreeChangesUnder(ctx)
}

// WorktreeChangesUnder is WorktreeChanges for the paths in the folders (or
// files) dirs (slash-separated, relative to the repository root; none, or
// "" among them, for all): only those are examined, so one stack's status
// in a large repository costs what that stack holds.
func (r *Repo) WorktreeChangesUnder(ctx context.Context, dirs ...string) ([]string, error) {
	return r.worktreeChangesUnder(ctx, true, dirs)
}

// TrackedChangesUnder is WorktreeChangesUnder for a caller that wants
// only what HEAD or the index holds (a deleted or modified tracked file):
// git is not asked to walk the folders for untracked files, most of a
// status's cost in a large work tree. Without the git binary the answer
// may still hold untracked files.
func (r *Repo) TrackedChangesUnder(ctx context.Context, dirs ...string) ([]string, error) {
	return r.worktreeChangesUnder(ctx, false, dirs)
}

func (r *Repo) worktreeChangesUnder(ctx context.Context, untracked bool, dirs []string) ([]string, error) {
	var specs []string
	for _, d := range dirs {
		d = strings.Trim(d, "/")
		if d == "" || d == "." {
			specs = nil
			break
		}
		specs = append(specs, d)
	}
	if r.git != "" {
		args := []string{"status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--ignore-submodules=dirty"}
		if !untracked {
			args[3] = "--untracked-files=no"
		}
		if len(specs) > 0 {
			args = append(args, "--")
			for _, d := range specs {
				args = append(args, ":(literal)"+d)
			}
		}
		out, err := r.gitCmd(ctx, args...)
		if err == nil {
			set := map[string]bool{}
			for _, rec := range bytes.Split(out, []byte{0}) {
				if len(rec) < 4 {
					continue
				}
				p := string(rec[3:])
				if strings.HasSuffix(p, "/") {
					continue // an untracked nested repository
				}
				set[p] = true
			}
			return sortedKeys(set), nil
		}
	}
	return r.worktreeChangesGoGit(ctx, outermost(specs))
}

// outermost returns the paths of specs that lie in no other one (the
// folder "stacks" covers "stacks/api"), sorted; none for none.
func outermost(specs []string) []string {
	sorted := append([]string(nil), specs...)
	sort.Strings(sorted)
	var out []string
	for _, s := range sorted {
		if len(out) > 0 && underPath(s, out[len(out)-1]) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// underPath reports whether the slash-separated path p is dir or lies
// below it.
func underPath(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// IsDirty reports whether the work tree differs from HEAD (untracked files
// that are not ignored count).
func (r *Repo) IsDirty(ctx context.Context) (bool, error) {
	ch, err := r.WorktreeChanges(ctx)
	return len(ch) > 0, err
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type headFile struct {
	hash Hash
	mode filemode.FileMode
}

// worktreeChangesGoGit is WorktreeChangesUnder without the git binary for
// the paths under specs (outermost, see outermost; none for all): only
// their part of HEAD's tree is read, only their index entries are
// compared with the work tree and only their folders are walked for
// untracked files, so a stack's status in a monorepo of 200,000 files
// costs what the stack holds.
func (r *Repo) worktreeChangesGoGit(ctx context.Context, specs []string) ([]string, error) {
	inScope := func(p string) bool {
		if len(specs) == 0 {
			return true
		}
		for {
			if i := sort.SearchStrings(specs, p); i < len(specs) && specs[i] == p {
				return true
			}
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				return false
			}
			p = p[:i]
		}
	}
	changed := map[string]bool{}
	head := map[string]headFile{}
	if h, err := r.Head(); err == nil {
		t, err := r.commitTree(h)
		if err != nil {
			return nil, err
		}
		var walk func(h Hash, p string) error
		walk = func(h Hash, p string) error {
			entries, err := r.entries(h)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if e.IsDir() {
					if err := walk(e.Hash, p+e.Name+"/"); err != nil {
						return err
					}
					continue
				}
				head[p+e.Name] = headFile{e.Hash, e.Mode}
			}
			return nil
		}
		if len(specs) == 0 {
			if err := walk(t, ""); err != nil {
				return nil, err
			}
		}
		for _, spec := range specs {
			e, err := r.PathEntry(t, spec)
			switch {
			case errors.Is(err, errNotExist):
			case err != nil:
				return nil, err
			case e.IsDir():
				if err := walk(e.Hash, spec+"/"); err != nil {
					return nil, err
				}
			default:
				head[spec] = headFile{e.Hash, e.Mode}
			}
		}
	}
	idx, err := r.readIndex()
	if err != nil {
		return nil, err
	}
	// git update-index --assume-unchanged: git status does not look at
	// the work-tree file. go-git's decoder drops that flag.
	assumed := map[string]bool{}
	recs, err := r.indexRecords(func(e *rawIndexEntry) bool { return e.flags&0x8000 != 0 })
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		assumed[rec.path] = true
	}
	entries := idx.Entries
	if len(specs) > 0 {
		entries = nil
		for _, e := range idx.Entries {
			if inScope(e.Name) {
				entries = append(entries, e)
			}
		}
	}
	var indexMtime int64
	if st, err := os.Stat(filepath.Join(r.gitDir, "index")); err == nil {
		indexMtime = st.ModTime().UnixNano()
	}
	inIndex := map[string]bool{}
	gitlinks := map[string]bool{} // submodules
	eol, trustExec, trustLinks := r.mayConvertEOL(idx.Entries), r.trustExecutableBit(), r.trustSymlinks()
	stat := r.statChecks()
	var text *textRules
	if eol {
		text = r.newTextRules()
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		inIndex[e.Name] = true
		if e.Mode == filemode.Submodule {
			gitlinks[e.Name] = true
			hf, ok := head[e.Name]
			delete(head, e.Name)
			if !ok || hf.hash != e.Hash || hf.mode != e.Mode {
				changed[e.Name] = true
			} else if h, ok := SubmoduleHead(filepath.Join(r.root, filepath.FromSlash(e.Name))); ok && h != e.Hash {
				changed[e.Name] = true
			}
			continue
		}
		hf, ok := head[e.Name]
		delete(head, e.Name)
		if e.Stage != 0 /* go-git's index.Merged constant is 1, but decoded merged entries have stage 0 */ || e.IntentToAdd || !ok || hf.hash != e.Hash || hf.mode != e.Mode {
			changed[e.Name] = true
			continue
		}
		if e.SkipWorktree || assumed[e.Name] {
			continue
		}
		same, err := r.sameAsIndex(e, indexMtime, text, trustExec, trustLinks, stat)
		if err != nil {
			return nil, err
		}
		if !same {
			changed[e.Name] = true
		}
	}
	for p := range head {
		changed[p] = true // deleted from the index
	}
	if err := r.untracked(ctx, specs, inIndex, gitlinks, changed); err != nil {
		return nil, err
	}
	// A tracked folder replaced by a symbolic link (mv stacks/a stacks/b;
	// ln -s b stacks/a) shows as an untracked link; the files indexed
	// below it are gone for git (git status: D), though lstat reads them
	// through the link, unchanged.
	var links []string
	for p := range changed {
		if inIndex[p] {
			continue
		}
		if st, err := lstat(filepath.Join(r.root, filepath.FromSlash(p))); err == nil && st.Mode()&fs.ModeSymlink != 0 {
			links = append(links, p+"/")
		}
	}
	if len(links) > 0 {
		for _, e := range entries {
			for _, l := range links {
				if strings.HasPrefix(e.Name, l) {
					changed[e.Name] = true
				}
			}
		}
	}
	return sortedKeys(changed), nil
}

// SubmoduleHead returns the commit checked out in the submodule whose work
// tree is dir (its .git file or folder, HEAD, then the loose or packed ref
// HEAD names); ok is false when it is not checked out (git submodule
// deinit, never initialised) or its HEAD names no commit.
func SubmoduleHead(dir string) (h Hash, ok bool) {
	gitDir, commonDir, err := gitDirs(filepath.Join(dir, ".git"))
	if err != nil {
		return ZeroHash, false
	}
	b, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return ZeroHash, false
	}
	line := strings.TrimSpace(string(b))
	for depth := 0; depth < 5; depth++ {
		ref, sym := strings.CutPrefix(line, "ref: ")
		if !sym {
			if len(line) == 40 && hexRe.MatchString(line) {
				return plumbing.NewHash(line), true
			}
			return ZeroHash, false
		}
		ref = strings.TrimSpace(ref)
		line = ""
		for _, d := range []string{gitDir, commonDir} {
			if b, err := os.ReadFile(filepath.Join(d, filepath.FromSlash(ref))); err == nil {
				line = strings.TrimSpace(string(b))
				break
			}
		}
		if line == "" {
			packed, err := os.ReadFile(filepath.Join(commonDir, "packed-refs"))
			if err != nil {
				return ZeroHash, false
			}
			for _, l := range strings.Split(string(packed), "\n") {
				if id, name, ok := strings.Cut(strings.TrimSpace(l), " "); ok && name == ref {
					line = id
					break
				}
			}
		}
	}
	return ZeroHash, false
}

// sameAsIndex compares a work-tree file with its index entry as git status
// does: a size other than the one the index recorded means modified, equal
// stat data means unchanged (unless racily clean), else the content is
// hashed — with text (when mayConvertEOL), also with its CRLF line ends
// made LF where git add would store them so (text.action: a file it
// checked out with CRLF); only so where text's rules make git always store
// LF (eolText: a file committed with CRLF before a `*.yaml text` rule is
// modified), never where git converts nothing (eolNone). Without trustExec
// (core.fileMode=false) the executable bit on disk does not count.
// Without trustLinks (core.symlinks=false) a regular file where the index
// has a symbolic link is that link, its content the link's target, as
// git checks it out and adds it. Equal stat data is more than size and
// mtime, as for git (see statChecks): a file replaced by one of the same
// size with its mtime put back (cp -p, rsync -t, touch -r, tar x) has
// another inode and change time, and its content is hashed.
func (r *Repo) sameAsIndex(e *index.Entry, indexMtime int64, text *textRules, trustExec, trustLinks bool, stat statChecks) (bool, error) {
	p := filepath.Join(r.root, filepath.FromSlash(e.Name))
	st, err := lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || (err == nil && st.IsDir()) {
		return false, nil // gone (a file now where its folder was), or a folder now
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", p, err)
	}
	if !st.Mode().IsRegular() && st.Mode()&fs.ModeSymlink == 0 {
		return false, nil // a named pipe, socket or device: git status says modified (never read: a pipe would block)
	}
	var mode filemode.FileMode
	switch {
	case st.Mode()&fs.ModeSymlink != 0, !trustLinks && e.Mode == filemode.Symlink:
		mode = filemode.Symlink
	case !trustExec && (e.Mode == filemode.Regular || e.Mode == filemode.Executable):
		mode = e.Mode
	case st.Mode()&0o111 != 0:
		mode = filemode.Executable
	default:
		mode = filemode.Regular
	}
	if mode != e.Mode {
		return false, nil
	}
	if e.Size != 0 && uint32(st.Size()) != e.Size {
		// git status does not read a file whose size is not the one the
		// index recorded (ie_modified; 0 is an entry git smudged or
		// never stat'ed): it is modified, also when git add would store
		// the indexed blob (an LF file saved with CRLF under
		// core.autocrlf or text=auto: git diff shows nothing).
		return false, nil
	}
	mt := st.ModTime().UnixNano()
	if st.Size() == int64(e.Size) && mt == e.ModifiedAt.UnixNano() && mt < indexMtime && stat.same(st, e) {
		return true, nil
	}
	var content []byte
	if mode == filemode.Symlink && st.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(p)
		if err != nil {
			return false, fmt.Errorf("read link %s: %w", p, err)
		}
		content = []byte(filepath.ToSlash(target))
	} else if content, err = os.ReadFile(p); err != nil {
		return false, fmt.Errorf("read %s: %w", p, err)
	}
	action := eolNone
	if text != nil && mode != filemode.Symlink && bytes.Contains(content, []byte("\r\n")) {
		action = text.action(e.Name)
	}
	if action == eolText {
		return plumbing.ComputeHash(plumbing.BlobObject, toGit(content)) == e.Hash, nil
	}
	if plumbing.ComputeHash(plumbing.BlobObject, content) == e.Hash {
		return true, nil
	}
	if action == eolAuto && !looksBinary(content) {
		// (An index blob with CRLF, which git then keeps, never equals
		// the converted content.)
		return plumbing.ComputeHash(plumbing.BlobObject, toGit(content)) == e.Hash, nil
	}
	return false, nil
}

// statChecks is what of a file's stat data, besides its size and mtime,
// tells git it is unchanged: core.checkStat (default: inode, owner and
// change time; minimal: none of them) and core.trustctime (false: not the
// change time).
type statChecks struct{ full, ctime bool }

func (r *Repo) statChecks() statChecks {
	full := true
	if v, ok := r.configValue("core", "checkstat"); ok && strings.EqualFold(v, "minimal") {
		full = false
	}
	return statChecks{full: full, ctime: full && r.configBool("core", "trustctime", true)}
}

// statData is the part of a file's stat data statOf reads.
type statData struct {
	ino, uid, gid       uint32
	ctimeSec, ctimeNsec uint32
	// fullIno and ctimeNanos are the same untruncated, for Stamp.
	fullIno    uint64
	ctimeNanos int64
}

// same reports whether the inode, owner and change time of a work-tree
// file are those its index entry records (git's ie_match_stat); true
// where the system does not give them (only size and mtime count there).
// Nanoseconds of the change time count only where the index has them (a
// git built without USE_NSEC records none).
func (c statChecks) same(st fs.FileInfo, e *index.Entry) bool {
	if !c.full {
		return true
	}
	s, ok := statOf(st)
	if !ok {
		return true
	}
	if s.ino != e.Inode || s.uid != e.UID || s.gid != e.GID {
		return false
	}
	if c.ctime {
		sec, nsec := uint32(e.CreatedAt.Unix()), uint32(e.CreatedAt.Nanosecond())
		if s.ctimeSec != sec || nsec != 0 && s.ctimeNsec != nsec {
			return false
		}
	}
	return true
}

// mayConvertEOL reports whether git may convert line ends between the work
// tree and the repository: core.autocrlf is true or input (repository,
// global or system configuration), or info/attributes, core.attributesFile
// or a .gitattributes (the top one, or one of a folder that the index holds, such as
// stacks/.gitattributes) sets text or eol attributes. Then a work-tree file
// with CRLF line ends is unchanged when its LF form is the indexed blob.
func (r *Repo) mayConvertEOL(entries []*index.Entry) bool {
	if v, ok := r.configValue("core", "autocrlf"); ok {
		if v := strings.ToLower(v); v == "true" || v == "input" {
			return true
		}
	}
	files := []string{filepath.Join(r.root, ".gitattributes"), filepath.Join(r.commonDir, "info", "attributes"), r.attributesFile()}
	for _, e := range entries {
		if strings.HasSuffix(e.Name, "/.gitattributes") {
			files = append(files, filepath.Join(r.root, filepath.FromSlash(e.Name)))
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && (bytes.Contains(b, []byte("text")) || bytes.Contains(b, []byte("eol")) || bytes.Contains(b, []byte("crlf"))) {
			return true
		}
	}
	return false
}

// untracked adds work-tree files under specs (none: everywhere) that are
// neither in the index nor ignored; gitlinks are the submodules of the
// index (not looked into). The ignore rules of a folder are read only
// for the folders walked and those on their way from the root.
func (r *Repo) untracked(ctx context.Context, specs []string, inIndex, gitlinks, changed map[string]bool) error {
	ig := r.Ignores()
	// core.ignorecase (macOS' and Windows' default): a file whose path
	// differs from an index entry's in case only is that entry, not
	// untracked, as git status says (a case-only rename done on disk
	// without git mv is no change on a case-insensitive file system).
	var folded map[string]bool
	if r.ignoreCase() {
		folded = make(map[string]bool, len(inIndex))
		for p := range inIndex {
			folded[strings.ToLower(p)] = true
		}
	}
	var walk func(dir string) error
	walk = func(dir string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := readDir(filepath.Join(r.root, filepath.FromSlash(dir)))
		if err != nil {
			return nil
		}
		d := ig.dir(dir)
		m := gitignore.NewMatcher(ig.rulesOf(d))
		for _, e := range entries {
			name := e.Name()
			if name == ".git" {
				continue
			}
			rel := name
			if dir != "" {
				rel = dir + "/" + name
			}
			isDir := e.IsDir()
			if m.Match(append(d.parts[:len(d.parts):len(d.parts)], name), isDir) {
				continue
			}
			if isDir {
				if gitlinks[rel] {
					continue // a submodule: git status --ignore-submodules=dirty does not look inside
				}
				if _, err := os.Lstat(filepath.Join(r.root, filepath.FromSlash(rel), ".git")); err == nil {
					continue // a nested repository
				}
				if err := walk(rel); err != nil {
					return err
				}
				continue
			}
			if !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
				continue // a named pipe, socket or device: git status does not list it
			}
			if !inIndex[rel] && !folded[strings.ToLower(rel)] {
				changed[rel] = true
			}
		}
		return nil
	}
	if len(specs) == 0 {
		return walk("")
	}
	for _, spec := range specs {
		// What git status -- spec sees of spec itself: nothing inside an
		// ignored folder, a submodule or a nested repository.
		parentDir, base := "", spec
		if i := strings.LastIndexByte(spec, '/'); i >= 0 {
			parentDir, base = spec[:i], spec[i+1:]
		}
		inSubmodule := false
		for p := parentDir; p != "" && !inSubmodule; {
			inSubmodule = gitlinks[p]
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				break
			}
			p = p[:i]
		}
		if inSubmodule || gitlinks[spec] {
			continue
		}
		parent := ig.dir(parentDir)
		if parent.ignored || parent.nested != "" || r.linkOnWay(parentDir) {
			continue
		}
		st, err := os.Lstat(filepath.Join(r.root, filepath.FromSlash(spec)))
		if err != nil {
			continue
		}
		isDir := st.IsDir()
		if gitignore.NewMatcher(ig.rulesOf(parent)).Match(append(parent.parts[:len(parent.parts):len(parent.parts)], base), isDir) {
			continue
		}
		switch {
		case isDir:
			if _, err := os.Lstat(filepath.Join(r.root, filepath.FromSlash(spec), ".git")); err == nil {
				continue // a nested repository
			}
			if err := walk(spec); err != nil {
				return err
			}
		case st.Mode().IsRegular() || st.Mode()&fs.ModeSymlink != 0:
			if !inIndex[spec] && !folded[strings.ToLower(spec)] {
				changed[spec] = true
			}
		}
	}
	return nil
}

// linkOnWay reports whether the work-tree folder dir, or one on its way
// from the root, is a symbolic link (or not a folder): git status sees
// nothing beyond a link (the files there are the link's target's).
func (r *Repo) linkOnWay(dir string) bool {
	for p := dir; p != ""; {
		st, err := os.Lstat(filepath.Join(r.root, filepath.FromSlash(p)))
		if err == nil && !st.IsDir() {
			return true
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return false
}

// readDir reads a work-tree folder for untracked files and lstat a
// tracked file's stat data; variables for tests (that count what is read).
var (
	readDir = os.ReadDir
	lstat   = os.Lstat
)

// excludesFile is the file of ignore patterns git reads besides .gitignore
// and info/exclude: core.excludesFile (see configValue), by default
// $XDG_CONFIG_HOME/git/ignore or ~/.config/git/ignore.
func (r *Repo) excludesFile() string { return r.userFile("excludesfile", "ignore") }

// userFile is the file the core.<key> setting names (a leading ~/ is the
// home folder, a relative name is under the work tree), by default
// $XDG_CONFIG_HOME/git/<name> or ~/.config/git/<name>; "" when there is
// no home folder to find it in.
func (r *Repo) userFile(key, name string) string {
	home, _ := os.UserHomeDir()
	value, _ := r.configValue("core", key)
	switch {
	case value == "":
		xdg := os.Getenv("XDG_CONFIG_HOME")
		if xdg == "" && home != "" {
			xdg = filepath.Join(home, ".config")
		}
		if xdg == "" {
			return ""
		}
		return filepath.Join(xdg, "git", name)
	case strings.HasPrefix(value, "~/") && home != "":
		return filepath.Join(home, value[2:])
	case !filepath.IsAbs(value):
		return filepath.Join(r.root, value)
	}
	return value
}

// configFiles are git's configuration files in the order git reads them
// (a later value wins): system, global (XDG, then ~/.gitconfig), the
// repository's; GIT_CONFIG_NOSYSTEM, GIT_CONFIG_SYSTEM and
// GIT_CONFIG_GLOBAL (empty: no file) as in git.
func (r *Repo) configFiles(home string) []string {
	var files []string
	if os.Getenv("GIT_CONFIG_NOSYSTEM") == "" {
		sys := "/etc/gitconfig"
		if v, ok := os.LookupEnv("GIT_CONFIG_SYSTEM"); ok {
			sys = v
		}
		files = append(files, sys)
	}
	if v, ok := os.LookupEnv("GIT_CONFIG_GLOBAL"); ok {
		files = append(files, v)
	} else {
		xdg := os.Getenv("XDG_CONFIG_HOME")
		if xdg == "" && home != "" {
			xdg = filepath.Join(home, ".config")
		}
		if xdg != "" {
			files = append(files, filepath.Join(xdg, "git", "config"))
		}
		if home != "" {
			files = append(files, filepath.Join(home, ".gitconfig"))
		}
	}
	return append(files, filepath.Join(r.commonDir, "config"))
}

// configLookup sets *value (and *found) to each section.key (a section
// without subsection) the git config file at path gives, in the order git
// reads them, following include.path and the includeIf conditions gitdir:,
// gitdir/i: and onbranch: (as git, at most 10 includes deep).
func (r *Repo) configLookup(path, home string, depth int, section, key string, value *string, found *bool) {
	if path == "" || depth > 10 {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	cfg := formatcfg.New()
	if err := formatcfg.NewDecoder(bytes.NewReader(b)).Decode(cfg); err != nil {
		return
	}
	include := func(opts formatcfg.Options) {
		for _, o := range opts {
			if !strings.EqualFold(o.Key, "path") || o.Value == "" {
				continue
			}
			p := o.Value
			if strings.HasPrefix(p, "~/") && home != "" {
				p = filepath.Join(home, p[2:])
			} else if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(path), p)
			}
			r.configLookup(p, home, depth+1, section, key, value, found)
		}
	}
	for _, sec := range cfg.Sections {
		switch {
		case strings.EqualFold(sec.Name, section):
			for _, o := range sec.Options {
				if strings.EqualFold(o.Key, key) {
					*value, *found = o.Value, true
				}
			}
		case strings.EqualFold(sec.Name, "include"):
			include(sec.Options)
		case strings.EqualFold(sec.Name, "includeif"):
			for _, sub := range sec.Subsections {
				if r.includeIf(sub.Name, path, home) {
					include(sub.Options)
				}
			}
		}
	}
}

// includeIf reports whether an includeIf condition of the config file at
// path holds for this repository (git help config, "Conditional includes").
func (r *Repo) includeIf(cond, path, home string) bool {
	kind, pattern, ok := strings.Cut(cond, ":")
	if !ok || pattern == "" {
		return false
	}
	switch kind {
	case "gitdir", "gitdir/i":
		switch {
		case strings.HasPrefix(pattern, "~/") && home != "":
			pattern = filepath.ToSlash(home) + pattern[1:]
		case strings.HasPrefix(pattern, "./"):
			pattern = filepath.ToSlash(filepath.Dir(path)) + pattern[1:]
		case !strings.HasPrefix(pattern, "/"):
			pattern = "**/" + pattern
		}
		if strings.HasSuffix(pattern, "/") {
			pattern += "**"
		}
		dirs := []string{r.gitDir}
		if real, err := filepath.EvalSymlinks(r.gitDir); err == nil && real != r.gitDir {
			dirs = append(dirs, real)
		}
		for _, d := range dirs {
			d = filepath.ToSlash(d)
			if kind == "gitdir/i" {
				d, pattern = strings.ToLower(d), strings.ToLower(pattern)
			}
			if re := configGlob(pattern); re != nil && re.MatchString(d) {
				return true
			}
		}
	case "onbranch":
		if strings.HasSuffix(pattern, "/") {
			pattern += "**"
		}
		if b := r.HeadBranch(); b != "" {
			re := configGlob(pattern)
			return re != nil && re.MatchString(b)
		}
	}
	return false
}

// configGlob compiles an includeIf pattern: * and ? within a folder, **
// across folders, [...] a class; nil for a malformed one (matching nothing).
func configGlob(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case strings.HasPrefix(pattern[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(pattern[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			if j := strings.IndexByte(pattern[i+1:], ']'); j > 0 {
				class := pattern[i+1 : i+1+j]
				if class[0] == '!' {
					class = "^" + class[1:]
				}
				b.WriteString("[" + class + "]")
				i += j + 1
				continue
			}
			b.WriteString(regexp.QuoteMeta("["))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil
	}
	return re
}
