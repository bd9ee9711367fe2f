package cli

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/osfile"
	"panka.dev/panka/stacks"
)

// The work tree's stack names, kept between runs: one-stack commands
// (show, plan -s, status -s, outputs, history -s) find their stack by
// metadata.name, and finding it meant reading every stack.yaml of the
// repository (95 ms of CPU among 4,000 stacks), since another stack may
// use the same name. After a discovery of the work tree that found no
// problem, saveStackNames records, in .git/panka, each stack's folder by
// name with the lstat of everything that answer rests on: every folder
// discovery listed (a stack.yaml added, removed or renamed anywhere
// changes one of them), every stack.yaml (an edit in place changes its
// change time or inode), the stacks root's way from the repository root
// (a symbolic link put there), and the staging index (tracked files,
// skip-worktree entries, submodules). quickStack answers from the record
// only when every one of those stats is what it was, so it gives the
// answer a discovery would; anything else (a name not recorded, a change,
// an unreadable record) goes to the discovery, whose errors stay the only
// ones said.
//
// A record is written only when it cannot be wrong later:
//   - every stack.yaml is a regular file tracked by the index, and the
//     view hid nothing (no gitignored file, nested repository or submodule
//     among the stacks) and read the disk as it is (no skip-worktree or
//     assume-unchanged entry): a change of the ignore rules (.gitignore,
//     info/exclude, core.excludesFile, which no stat here covers) then
//     cannot hide or show a stack, since tracked files are never ignored;
//   - no stat it holds changed in the last racyWindow before the view was
//     opened, as git treats racily clean index entries: a change made in
//     the same clock tick as the one recorded would keep its change time.
//     A change after that gets a later one.
//
// GIT_DIR and GIT_WORK_TREE in the environment (which only some views
// follow) turn the record off.

const (
	stackNamesFile    = "stack-names-worktree"
	stackNamesMagic   = "panka-stack-names"
	stackNamesVersion = 2
	// racyWindow is how long before the view was opened every recorded
	// stat must have last changed: far above any file system's clock
	// tick (1 s for the coarsest that report nanoseconds, 2 s on FAT).
	racyWindow = 2 * time.Second
	// maxStackNamesFile bounds a record's read (4,000 stacks take 0.5 MB).
	maxStackNamesFile = 1 << 27
)

// stackNamesOff reports whether the record must not be used: GIT_DIR or
// GIT_WORK_TREE may point the views of one run at different work trees.
func stackNamesOff(f *Factory) bool {
	return f.Getenv("GIT_DIR") != "" || f.Getenv("GIT_WORK_TREE") != ""
}

// stackNamesPath is the record of the work tree whose git folder is gitDir.
func stackNamesPath(gitDir string) string {
	return filepath.Join(gitDir, "panka", stackNamesFile)
}

// quickStack returns the stack called name under root in the work tree
// of the repository at dir (git folder gitDir), from the record of an
// earlier discovery, when every stat that record rests on is unchanged;
// ok is false otherwise (then discover: only a discovery says why a name
// is not found).
func quickStack(f *Factory, dir, gitDir, root, name string) (ref stacks.Ref, ok bool) {
	if dir == "" || gitDir == "" || stackNamesOff(f) {
		return ref, false
	}
	file := stackNamesPath(gitDir)
	key := file + "\x00" + dir + "\x00" + path.Clean(root)
	names, seen := f.stackNames.Load(key)
	if !seen {
		var m map[string]string
		if b, ok := osfile.Read(file, osfile.Options{Max: maxStackNamesFile, NoFollow: true}); ok {
			m = readStackNames(b, dir, gitDir, path.Clean(root))
		}
		names, _ = f.stackNames.LoadOrStore(key, m)
	}
	folder, ok := names.(map[string]string)[name]
	if !ok {
		return ref, false
	}
	return stacks.Ref{Name: name, Path: folder}, true
}

// The record (version 2) is, after its first line (magic, version, work
// tree, git folder, stacks root), lines of tab-separated fields:
//
//	s  STAMP  PATH                        a stat the answer rests on
//	n  STAMP  STAMP  NAME  FOLDER         a stack: its folder's stat and
//	                                      its stack.yaml's, its name
//	end  COUNT                            the number of lines above
//
// A STAMP is "ino size mode mtime ctime-mtime" in base 36: with the
// stack.yaml path implied by its folder, 4,000 stacks take 0.3 MB, not
// the 0.8 MB of version 1's decimal line per stat, and are written
// without fmt.

// readStackNames checks the record b against the disk and returns the
// folders of the stacks by name; nil when the record is not of this work
// tree and root, or any of its stats changed.
func readStackNames(b []byte, dir, gitDir, root string) map[string]string {
	line, b, _ := bytes.Cut(b, []byte("\n"))
	if string(line) != fmt.Sprintf("%s\t%d\t%s\t%s\t%s", stackNamesMagic, stackNamesVersion, dir, gitDir, root) {
		return nil
	}
	names := map[string]string{}
	lines := 0
	for len(b) > 0 {
		line, b, _ = bytes.Cut(b, []byte("\n"))
		kind, rest, _ := bytes.Cut(line, []byte("\t"))
		switch string(kind) {
		case "s":
			stamp, p, _ := bytes.Cut(rest, []byte("\t"))
			full := diskPath(dir, string(p))
			if string(p) == ".git/index" {
				full = filepath.Join(gitDir, "index")
			}
			if !stampHolds(stamp, full) {
				return nil
			}
		case "n":
			dirStamp, rest, _ := bytes.Cut(rest, []byte("\t"))
			fileStamp, rest, _ := bytes.Cut(rest, []byte("\t"))
			n, folder, _ := bytes.Cut(rest, []byte("\t"))
			if !stampHolds(dirStamp, diskPath(dir, string(folder))) || !stampHolds(fileStamp, diskPath(dir, path.Join(string(folder), stacks.StackFile))) {
				return nil
			}
			names[string(n)] = string(folder)
		case "end":
			// A record cut short (a crash before it reached the disk)
			// lacks the end line or its count.
			if string(rest) != strconv.Itoa(lines) || len(b) > 0 {
				return nil
			}
			return names
		default:
			return nil
		}
		lines++
	}
	return nil
}

// diskPath is the file of slash-separated path p (clean, relative) in
// the work tree dir.
func diskPath(dir, p string) string {
	return dir + string(filepath.Separator) + filepath.FromSlash(p)
}

// stampHolds reports whether full's lstat is still the recorded stamp.
func stampHolds(stamp []byte, full string) bool {
	want, ok := parseStamp(stamp)
	if !ok {
		return false
	}
	st, err := os.Lstat(full)
	if err != nil {
		return false
	}
	got, ok := gitops.StampOf(st)
	return ok && got == want
}

// appendStamp writes s as a record's STAMP.
func appendStamp(b []byte, s gitops.Stamp) []byte {
	b = strconv.AppendUint(b, s.Ino, 36)
	b = append(b, ' ')
	b = strconv.AppendUint(b, s.Size, 36)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(s.Mode), 36)
	b = append(b, ' ')
	b = strconv.AppendInt(b, s.Mtime, 36)
	b = append(b, ' ')
	return strconv.AppendInt(b, s.Ctime-s.Mtime, 36)
}

// parseStamp reads what appendStamp wrote.
func parseStamp(l []byte) (s gitops.Stamp, ok bool) {
	var n [5]int64
	for i := range n {
		f := l
		if i < len(n)-1 {
			j := bytes.IndexByte(l, ' ')
			if j < 0 {
				return s, false
			}
			f, l = l[:j], l[j+1:]
		}
		var err error
		if i < 3 {
			var u uint64
			u, err = strconv.ParseUint(string(f), 36, 64)
			n[i] = int64(u)
		} else {
			n[i], err = strconv.ParseInt(string(f), 36, 64)
		}
		if err != nil {
			return s, false
		}
	}
	if n[2] > 1<<32-1 {
		return s, false
	}
	return gitops.Stamp{Ino: uint64(n[0]), Size: uint64(n[1]), Mode: uint32(n[2]), Mtime: n[3], Ctime: n[3] + n[4]}, true
}

// saveStackNames records what a discovery of repo's work tree found (see
// quickStack), when it may: the discovery found no problem, and nothing
// the record would rest on is unsafe to trust (see the file comment).
// Failures are ignored: the record only saves time.
func saveStackNames(f *Factory, repo *stackRepo, disc *stacks.Discovery, derr error) {
	if derr != nil || disc == nil || len(disc.Misnamed) > 0 || len(disc.Refs) == 0 || !repo.plain || repo.ignores == nil ||
		repo.gitDir == "" || stackNamesOff(f) || repo.opened.IsZero() {
		return
	}
	ig := repo.ignores
	if len(ig.Hidden()) > 0 || len(ig.Nested()) > 0 || len(ig.Submodules()) > 0 {
		return
	}
	before := repo.opened.Add(-racyWindow).UnixNano()
	b := make([]byte, 0, 256+len(disc.Refs)*80)
	b = fmt.Appendf(b, "%s\t%d\t%s\t%s\t%s\n", stackNamesMagic, stackNamesVersion, repo.dir, repo.gitDir, repo.stacksRoot)
	lines := 0
	// stamp appends the stamp of full, when it is old enough to trust.
	stamp := func(full string) (st fs.FileInfo, ok bool) {
		st, err := os.Lstat(full)
		if err != nil {
			return nil, false
		}
		s, ok := gitops.StampOf(st)
		if !ok || !s.Before(before) {
			return nil, false
		}
		b = appendStamp(b, s)
		return st, true
	}
	stampLine := func(p, full string) bool {
		b = append(b, "s\t"...)
		if _, ok := stamp(full); !ok {
			return false
		}
		b = append(append(append(b, '\t'), p...), '\n')
		lines++
		return true
	}
	usable := func(p string) bool {
		return utf8.ValidString(p) && !strings.ContainsAny(p, "\t\n\r")
	}
	// The index first: a checkout or commit a moment ago makes it racy,
	// and the rest need not be looked at.
	if !stampLine(".git/index", filepath.Join(repo.gitDir, "index")) {
		return
	}
	// The way to the stacks root: a symbolic link put on it reads as a
	// new inode here.
	if root := repo.stacksRoot; root != "." {
		for i := 0; i < len(root); i++ {
			if root[i] == '/' && !stampLine(root[:i], diskPath(repo.dir, root[:i])) {
				return
			}
		}
	}
	// Every folder listed; a stack's own on its line.
	stackDirs := make(map[string]bool, len(disc.Refs))
	for _, r := range disc.Refs {
		stackDirs[r.Path] = true
	}
	for _, d := range disc.Folders {
		if !usable(d) {
			return
		}
		if !stackDirs[d] && !stampLine(d, diskPath(repo.dir, d)) {
			return
		}
	}
	for _, r := range disc.Refs {
		file := path.Join(r.Path, stacks.StackFile)
		if !usable(file) || !usable(r.Name) || !ig.Tracked(file) {
			return
		}
		b = append(b, "n\t"...)
		if _, ok := stamp(diskPath(repo.dir, r.Path)); !ok {
			return
		}
		b = append(b, '\t')
		if st, ok := stamp(diskPath(repo.dir, file)); !ok || !st.Mode().IsRegular() {
			return
		}
		b = append(append(append(append(append(b, '\t'), r.Name...), '\t'), r.Path...), '\n')
		lines++
	}
	b = append(strconv.AppendInt(append(b, "end\t"...), int64(lines), 10), '\n')
	_ = osfile.Replace(stackNamesPath(repo.gitDir), "."+stackNamesFile+"-", b) // only saves time
}

// plainDisk reports whether view is disk itself: the staging index marks
// no entry git does not compare with the work tree (see
// gitops.Repo.WorktreeFS).
func plainDisk(view, disk fs.FS) bool {
	t := reflect.TypeOf(view)
	return t != nil && t == reflect.TypeOf(disk) && t.Comparable() && view == disk
}
