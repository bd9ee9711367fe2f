package changes

import (
	"path"
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
	return glob{text: g, prefix: literalPrefix(g), segs: strings.Split(c, "/")}
}

func (g glob) match(p string) bool {
	if !strings.HasPrefix(p, g.prefix) && !(len(p)+1 == len(g.prefix) && strings.HasPrefix(g.prefix, p)) {
		return false
	}
	ps := strings.Split(p, "/")
	for n := len(ps); n > 0; n-- {
		if matchSegs(g.segs, ps[:n]) {
			return true
		}
	}
	return false
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

func matchSegs(g, p []string) bool {
	for len(g) > 0 {
		if g[0] == "**" {
			for len(g) > 1 && g[1] == "**" {
				g = g[1:]
			}
			if len(g) == 1 {
				return true
			}
			for i := 0; i <= len(p); i++ {
				if matchSegs(g[1:], p[i:]) {
					return true
				}
			}
			return false
		}
		if len(p) == 0 {
			return false
		}
		if ok, err := path.Match(g[0], p[0]); err != nil || !ok {
			return false
		}
		g, p = g[1:], p[1:]
	}
	return len(p) == 0
}
