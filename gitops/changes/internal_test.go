package changes

import (
	"fmt"
	"path"
	"slices"
	"testing"
	"time"

	"panka.dev/panka/gitops"
)

// TestWatchSetMatchesEveryGlob checks that the watch set's prefilter
// (distinct globs bucketed by their literal folder, or by the name after
// a leading "**/") finds exactly what trying every glob of every stack in
// folder order finds.
func TestWatchSetMatchesEveryGlob(t *testing.T) {
	watch := map[string][]string{
		"stacks/a": {"shared/lib/**", "Makefile"},
		"stacks/b": {"./shared/*.json", "**/schema.graphql"},
		"stacks/c": {"/shared", "sh*/x/**", "stacks/common/**"},
		"stacks/d": {"shared/lib/**"},
		"stacks/e": {"docs/[a-c]*.md", "tools\\*/y", "deploy/"},
		"stacks/f": {"?akefile"},
		"stacks/g": {"**/conf/*.json", "shared/lib/deep/**", "**/[ab]/y", "**/**/z", "shared/lib/**", "**/x"},
		"stacks/h": {"**/x", "**/conf/*.json", "shared/lib/a.go", "shared/lib/deep/*.go", "*/lib/**"},
	}
	paths := []string{"", "Makefile", "Makefile/x", "makefile", "shared", "shared/lib", "shared/lib/a.go", "shared/x.json",
		"shared/x/y", "shx/x/z", "api/schema.graphql", "schema.graphql", "stacks/common/a.yaml", "stacks/a/stack.yaml",
		"docs/b1.md", "docs/d.md", "tools*/y", "deploy/app.yaml", "deploy", "sharedlib/a",
		"a/conf/x.json", "conf/x.json", "a/b/y", "z", "x", "q/x/r", "shared/lib/deep/m.go", "shared/lib/deep", "other/lib/c"}
	check := func(watch map[string][]string, prefilter bool) {
		t.Helper()
		ws := newWatchSet(watch)
		if ws.prefilter != prefilter {
			t.Errorf("prefilter = %v, want %v", ws.prefilter, prefilter)
		}
		for _, hp := range paths {
			for _, bp := range paths {
				type hit struct{ dir, glob string }
				var got, want []hit
				ws.match([2]string{hp, bp}, func(dir string, g glob) { got = append(got, hit{dir, g.text}) })
				for _, dir := range sortedKeys(watch) {
					for _, text := range watch[dir] {
						g := compileGlob(text)
						if (hp != "" && g.match(hp)) || (bp != "" && g.match(bp)) {
							want = append(want, hit{dir, text})
							break
						}
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("paths %q, %q: matched %v, every glob tried gives %v", hp, bp, got, want)
				}
			}
		}
	}
	check(watch, false) // "sh*/x/**" and others: no literal folder
	// Globs under literal folders, or after "**/": a path outside those
	// folders without those names is ruled out before any glob is tried.
	check(map[string][]string{
		"stacks/b": {"./shared/*.json", "**/schema.graphql"},
		"stacks/g": {"**/conf/*.json", "shared/lib/deep/**", "shared/lib/**"},
		"stacks/a": {"shared/lib/**", "Makefile"},
		"stacks/c": {"/shared", "stacks/common/**"},
		"stacks/d": {"shared/lib/**"},
		"stacks/e": {"docs/[a-c]*.md", "deploy/"},
		"stacks/h": {"shared/lib/a.go", "shared/lib/deep/*.go"},
	}, true)
}

// TestMergeFiles checks the shortcut for identical or one-sided lists
// against the general merge (sorted by path, repeats of the same action
// and path dropped).
// TestWatchSetScales: many stacks watching the same globs, and globs of
// their own, against a change of thousands of paths. Each path was tried
// against every stack's globs, sorted anew for each path: 500 stacks of
// 20 globs made a 1,400-file change take 3.7 s, and this input about a
// minute; trying each distinct glob once, and only the globs whose
// literal folder or "**/name" the path holds, takes milliseconds.
func TestWatchSetScales(t *testing.T) {
	watch := map[string][]string{}
	for i := 0; i < 2000; i++ {
		var globs []string
		for j := 0; j < 10; j++ {
			globs = append(globs, fmt.Sprintf("shared/g%d/**", (i+j)%50))
		}
		for j := 0; j < 10; j++ {
			globs = append(globs, fmt.Sprintf("own/s%d/p%d/**", i, j), fmt.Sprintf("**/c%d_%d/*.json", i, j))
		}
		watch[fmt.Sprintf("stacks/s%04d", i)] = globs
	}
	ws := newWatchSet(watch)
	paths := make([][2]string, 3000)
	for i := range paths {
		paths[i] = [2]string{fmt.Sprintf("own/s%d/p%d/f%d.txt", i%2000, i%10, i), fmt.Sprintf("lib/m%d/c%d_%d/x.json", i, (i+7)%2000, i%10)}
		if i%3 == 0 {
			paths[i][1] = fmt.Sprintf("shared/g%d/x%d.json", i%50, i)
		}
	}
	start := time.Now()
	got := make([]int, len(paths))
	for i, p := range paths {
		ws.match(p, func(string, glob) { got[i]++ })
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("3,000 changed paths against 2,000 stacks of 30 globs took %v; want it to grow with the globs a path may match, not all of them", d)
	}
	for i := 0; i < len(paths); i += 97 {
		want := 0
		for _, globs := range watch {
			for _, text := range globs {
				if g := compileGlob(text); g.match(paths[i][0]) || g.match(paths[i][1]) {
					want++
					break
				}
			}
		}
		if got[i] != want {
			t.Errorf("paths %q: %d stacks matched, every glob tried gives %d", paths[i], got[i], want)
		}
	}
}

func TestMergeFiles(t *testing.T) {
	ch := func(a gitops.Action, p string) gitops.Change { return gitops.Change{Action: a, Path: p} }
	m, d, ad := gitops.Modified, gitops.Deleted, gitops.Added
	cases := []struct{ a, b, want []gitops.Change }{
		{nil, nil, nil},
		{[]gitops.Change{ch(m, "x/a"), ch(m, "x/b")}, []gitops.Change{ch(m, "x/a"), ch(m, "x/b")}, []gitops.Change{ch(m, "x/a"), ch(m, "x/b")}},
		{[]gitops.Change{ch(m, "x/a")}, nil, []gitops.Change{ch(m, "x/a")}},
		{nil, []gitops.Change{ch(ad, "x/b")}, []gitops.Change{ch(ad, "x/b")}},
		// Git's order ("x.y" before "x/…") is not the result's.
		{[]gitops.Change{ch(m, "x/a.b"), ch(m, "x/a/c")}, nil, []gitops.Change{ch(m, "x/a.b"), ch(m, "x/a/c")}},
		{[]gitops.Change{ch(m, "x/a/c"), ch(m, "x/a.b")}, nil, []gitops.Change{ch(m, "x/a.b"), ch(m, "x/a/c")}},
		{[]gitops.Change{ch(d, "x/a"), ch(m, "x/c")}, []gitops.Change{ch(ad, "x/a"), ch(m, "x/b"), ch(m, "x/c")},
			[]gitops.Change{ch(d, "x/a"), ch(ad, "x/a"), ch(m, "x/b"), ch(m, "x/c")}},
		{[]gitops.Change{ch(m, "x/a"), ch(m, "x/a")}, nil, []gitops.Change{ch(m, "x/a")}},
	}
	for i, c := range cases {
		got := mergeFiles(slices.Clone(c.a), slices.Clone(c.b))
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("case %d: mergeFiles(%v, %v) = %v, want %v", i, c.a, c.b, got, c.want)
		}
	}
}

// TestIndexFileCutShort checks that a cached stack index cut short at a
// line boundary (a crash before the file reached the disk: the rename is
// not the data) is not taken for a smaller index.
func TestIndexFileCutShort(t *testing.T) {
	ix := &stackIndex{Version: indexVersion, Root: "stacks", Tree: "0123", Stacks: map[string]*indexEntry{
		"stacks/a": {Blob: "aa", EnvsKnown: true, Envs: []string{"dev", "prod"}},
		"stacks/b": {Blob: "bb", Name: "b", Watch: []string{"shared/**"}},
		"stacks/c": {Blob: "cc", EnvsKnown: true},
	}}
	b := encodeIndex(ix)
	got := decodeIndex(b)
	if got == nil || fmt.Sprint(sortedKeys(got.Stacks)) != fmt.Sprint(sortedKeys(ix.Stacks)) || got.Stacks["stacks/a"].Envs[1] != "prod" || got.Stacks["stacks/b"].Watch[0] != "shared/**" {
		t.Fatalf("decode(encode) = %+v", got)
	}
	// Every cut but the last newline's loses data.
	for n := 0; n < len(b)-1; n++ {
		if got := decodeIndex(b[:n]); got != nil {
			t.Errorf("cut after %d of %d bytes: decoded %d stacks", n, len(b), len(got.Stacks))
		}
	}
}

// TestWatchDir: the folder (or file) a watch glob's matches lie in, which
// --uncommitted asks git's status about; "" when the glob starts with a
// pattern (then the whole work tree is examined).
func TestWatchDir(t *testing.T) {
	for g, want := range map[string]string{
		"shared/g07/**": "shared/g07", "shared/config.json": "shared/config.json", "./shared/": "shared",
		"**/x.json": "", "*.json": "", "shared/g0*/x": "shared", "/lib/[ab]/x": "lib", "docs": "docs",
		"tools\\*/y": "",
	} {
		if got := watchDir(g); got != want {
			t.Errorf("watchDir(%q) = %q, want %q", g, got, want)
		}
	}
}

// TestDescribeGroup: the stack/environments a missing deployed commit was
// deployed to read as a list in an error, not as a Go slice ("[a b c]").
func TestDescribeGroup(t *testing.T) {
	two := map[string]map[string]bool{"api": {"dev": true, "qa": true}}
	if got, want := describeGroup(two), "api/dev, api/qa"; got != want {
		t.Errorf("describeGroup = %q, want %q", got, want)
	}
	six := map[string]map[string]bool{"api": {"dev": true, "production": true, "qa": true}, "web": {"dev": true, "production": true, "staging": true}}
	if got, want := describeGroup(six), "api/dev, api/production, api/qa and 3 more"; got != want {
		t.Errorf("describeGroup = %q, want %q", got, want)
	}
}

// backtrack is the straightforward recursive "**" match (exponential in
// the number of "**" segments): the reference matchSegs must agree with.
func backtrack(g, p []string) bool {
	for len(g) > 0 {
		if g[0] == "**" {
			for i := 0; i <= len(p); i++ {
				if backtrack(g[1:], p[i:]) {
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

// TestMatchSegsAgreesWithBacktracking compares the state-machine match with
// the backtracking one on every glob and path built from a small alphabet,
// whole paths and leading parts (a folder's files), and checks that many
// "**" segments stay fast on a deep path that does not match.
func TestMatchSegsAgreesWithBacktracking(t *testing.T) {
	segs := []string{"a", "b", "*", "**", "[ab]", "a*"}
	names := []string{"a", "b", "ab", "c"}
	for _, g := range sequences(segs, 4) {
		for _, p := range sequences(names, 4) {
			whole := backtrack(g, p)
			below := false
			for n := len(p); n > 0 && !below; n-- {
				below = backtrack(g, p[:n])
			}
			if got := matchSegs(g, p, false); got != whole {
				t.Fatalf("matchSegs(%q, %q) = %v, want %v", g, p, got, whole)
			}
			if got := matchSegs(g, p, true); got != below {
				t.Fatalf("matchSegs(%q, %q, below) = %v, want %v", g, p, got, below)
			}
		}
	}
	var deep []string
	var long []string
	for i := 0; i < 40; i++ {
		deep = append(deep, "**", "x")
		long = append(long, "y")
	}
	if matchSegs(append(deep, "z"), long, true) {
		t.Fatal("40 '**/x' segments matched a path without x")
	}
}

// sequences returns every sequence of 1 to n items of alphabet.
func sequences(alphabet []string, n int) [][]string {
	var out [][]string
	var build func(prefix []string)
	build = func(prefix []string) {
		if len(prefix) > 0 {
			out = append(out, slices.Clone(prefix))
		}
		if len(prefix) == n {
			return
		}
		for _, s := range alphabet {
			build(append(prefix, s))
		}
	}
	build(nil)
	return out
}
