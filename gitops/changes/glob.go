package changes

import (
	"path"
	"slices"
	"strings"
)

// MatchGlob reports whether the repo-relative, slash-separated path p
// matches the spec.watch glob g: path.Match per segment, where a "**"
// segment matches any number of segments (zero included). A leading "./"
// or "/" in g is ignored. A glob that matches a folder matches every file
// below it.
func MatchGlob(g, p string) bool { return compileGlob(g).match(p) }

// glob is a compiled spec.watch glob.
type glob struct {
	text   string
	prefix string // every match starts with it (or equals it without its "/")
	segs   []string
}

func compileGlob(g string) glob {
	c := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(g, "./"), "/"), "/")
	return glob{text: g, prefix: literalPrefix(g), segs: strings.Split(shellClasses(c), "/")}
}

// shellClasses rewrites the negated character classes of glob g written
// as git and the shell write them, [!a-z], in path.Match's syntax,
// [^a-z]. path.Match reads [!a-z] as "! or a-z": the opposite of what
// was meant, silently.
func shellClasses(g string) string {
	if !strings.Contains(g, "[!") {
		return g
	}
	b := []byte(g)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++ // an escaped character
		case '[':
			if i+1 < len(b) && b[i+1] == '!' {
				b[i+1] = '^'
			}
			// Skip to the class's end: a ! or [ inside it is literal.
			for i++; i < len(b) && b[i] != ']'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		}
	}
	return string(b)
}

// matchName reports whether name matches the --stack/--environment glob
// pattern (path.Match, with [!a-z] as in the shell), or equals it.
func matchName(pattern, name string) bool {
	ok, _ := path.Match(shellClasses(pattern), name)
	return ok || pattern == name
}

func (g glob) match(p string) bool {
	if !strings.HasPrefix(p, g.prefix) && !(len(p)+1 == len(g.prefix) && strings.HasPrefix(g.prefix, p)) {
		return false
	}
	return matchSegs(g.segs, strings.Split(p, "/"), true)
}

// literalPrefix is the part of a glob before its first special character:
// every path the glob matches (or lies below) starts with it.
func literalPrefix(g string) string {
	g = strings.TrimPrefix(strings.TrimPrefix(g, "./"), "/")
	if i := strings.IndexAny(g, "*?[\\"); i >= 0 {
		return g[:i]
	}
	return strings.TrimSuffix(g, "/")
}

// matchSegs reports whether the glob segments g match the path segments p
// (or, with below, any leading part of p of one segment or more: p lies in
// a folder g matches). It runs g as a state machine over p, one set of
// positions in g per segment read, so "**" segments cost linear time
// (a backtracking match is exponential in their number).
func matchSegs(g, p []string, below bool) bool {
	cur := make([]bool, len(g)+1)
	next := make([]bool, len(g)+1)
	// closure adds, for every "**" reached, the position after it (it
	// matches zero segments too).
	closure := func(set []bool) {
		for i := 0; i < len(g); i++ {
			if set[i] && g[i] == "**" {
				set[i+1] = true
			}
		}
	}
	cur[0] = true
	closure(cur)
	for k, seg := range p {
		clear(next)
		alive := false
		for i := 0; i < len(g); i++ {
			if !cur[i] {
				continue
			}
			if g[i] == "**" {
				next[i], alive = true, true
			} else if ok, err := path.Match(g[i], seg); err == nil && ok {
				next[i+1], alive = true, true
			}
		}
		if !alive {
			return false
		}
		closure(next)
		cur, next = next, cur
		if cur[len(g)] && (below || k == len(p)-1) {
			return true
		}
	}
	return len(p) == 0 && cur[len(g)]
}

// watchSet holds the spec.watch globs of the stacks at head and finds,
// for a changed path, the globs that match it. Only globs that can match
// are tried: those whose literal first path segment is the path's, and
// those starting with a pattern. Most paths of a change lie below the
// stacks root, where few globs point.
type watchSet struct {
	dirs    []string // stack folders, sorted; a watchRef's dir indexes it
	byFirst map[string][]watchRef
	any     []watchRef
}

// watchRef is glob number g of stack folder dirs[dir].
type watchRef struct {
	dir, g int
	glob   glob
}

func newWatchSet(watch map[string][]string) *watchSet {
	ws := &watchSet{dirs: sortedKeys(watch), byFirst: map[string][]watchRef{}}
	for i, dir := range ws.dirs {
		for j, text := range watch[dir] {
			ref := watchRef{dir: i, g: j, glob: compileGlob(text)}
			p := literalPrefix(text)
			if first, _, ok := strings.Cut(p, "/"); ok || p == strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(text, "./"), "/"), "/") {
				ws.byFirst[first] = append(ws.byFirst[first], ref)
			} else {
				ws.any = append(ws.any, ref)
			}
		}
	}
	return ws
}

// match calls fn, in stack folder order, with each stack folder having a
// glob that matches one of paths ("" entries are ignored) and the first
// such glob of the folder.
func (ws *watchSet) match(paths [2]string, fn func(dir string, g glob)) {
	if len(ws.dirs) == 0 {
		return
	}
	var cands []watchRef
	seen := ""
	for _, p := range paths {
		if p == "" {
			continue
		}
		first, _, _ := strings.Cut(p, "/")
		if first != seen {
			cands = append(cands, ws.byFirst[first]...)
			seen = first
		}
	}
	if len(cands) == 0 && len(ws.any) == 0 {
		return
	}
	cands = append(cands, ws.any...)
	slices.SortFunc(cands, func(a, b watchRef) int {
		if a.dir != b.dir {
			return a.dir - b.dir
		}
		return a.g - b.g
	})
	last := -1
	for _, c := range cands {
		if c.dir == last {
			continue
		}
		for _, p := range paths {
			if p != "" && c.glob.match(p) {
				fn(ws.dirs[c.dir], c.glob)
				last = c.dir
				break
			}
		}
	}
}
