package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
	"panka.dev/panka/stacks"
)

// stackWatch is a loaded stack's valid spec.watch globs, for
// warnUnmatchedWatch.
type stackWatch struct {
	stack, file string
	globs       []stacks.WatchGlob
}

// warnUnmatchedWatch warns about each spec.watch glob that matches no
// file, neither committed at HEAD nor in the work tree under dir: a typo
// (shared/orders-schma/*.json) or a folder that moved away watches
// nothing, and `panka changed` then silently never lists the stack for
// the files meant. It is a warning, not a problem: a glob may name files
// that are still to come.
func warnUnmatchedWatch(f *Factory, dir string, watched []stackWatch) {
	if len(watched) == 0 {
		return
	}
	var fsyss []fs.FS
	if repo, err := gitops.Open(dir, f.GitOptions()); err == nil {
		defer repo.Close()
		if h, err := repo.Head(); err == nil {
			if t, err := repo.TreeFS(h); err == nil {
				fsyss = append(fsyss, t)
			}
		}
	}
	fsyss = append(fsyss, os.DirFS(dir))
	// Stacks often watch the same globs: look each up once.
	seen := map[string]bool{}
	for _, w := range watched {
		for _, g := range w.globs {
			matched, ok := seen[g.Glob]
			if !ok {
				for _, fsys := range fsyss {
					if matched = watchGlobMatches(fsys, g.Glob); matched {
						break
					}
				}
				seen[g.Glob] = matched
			}
			if matched {
				continue
			}
			f.Warnf("%s", &stacks.Error{File: w.file, Line: g.Line, Column: g.Column, Key: "spec.watch",
				Msg: fmt.Sprintf("glob %q matches no file in the repository (committed at HEAD or in the work tree), so no change ever lists stack %s through it: correct it (a typo, or a folder that moved or was renamed?) or remove it", g.Glob, w.stack)})
		}
	}
}

// errMatched stops the walk of watchGlobMatches at the first match.
var errMatched = errors.New("matched")

// watchGlobMatches reports whether any file of fsys matches spec.watch
// glob g, walking only the folder its literal leading segments name.
func watchGlobMatches(fsys fs.FS, g string) bool {
	clean := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(g, "./"), "/"), "/")
	segs := strings.Split(clean, "/")
	lit := 0
	for lit < len(segs) && !strings.ContainsAny(segs[lit], `*?[\`) {
		lit++
	}
	root := path.Join(segs[:lit]...)
	if root == "" {
		root = "."
	}
	if !existsExactly(fsys, segs[:lit]) {
		return false
	}
	if lit == len(segs) {
		return true // no pattern: a file, or a folder and everything below it
	}
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable folder: look elsewhere
		}
		if d.IsDir() {
			if d.Name() == ".git" && p != root {
				return fs.SkipDir
			}
			return nil
		}
		if changes.MatchGlob(g, p) {
			return errMatched
		}
		return nil
	})
	return errors.Is(err, errMatched)
}

// existsExactly reports whether the path of segs is on fsys with each name
// spelled as given: a case-insensitive disk (macOS, Windows) opens
// shared/case.json for shared/Case.json, but git, and spec.watch, tell them
// apart.
func existsExactly(fsys fs.FS, segs []string) bool {
	dir := "."
	for _, s := range segs {
		ents, err := fs.ReadDir(fsys, dir)
		if err != nil {
			return false
		}
		found := false
		for _, e := range ents {
			if e.Name() == s {
				found = true
				break
			}
		}
		if !found {
			return false
		}
		dir = path.Join(dir, s)
	}
	return true
}
