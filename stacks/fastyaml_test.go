package stacks

import (
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"panka.dev/panka/stacks/stacktest"
)

// parseBoth parses data with the fast path and with yaml.v3. fast is
// false when the fast path did not take the file.
func parseBoth(data []byte) (fast bool, fd, yd []document, fe, ye []*Error) {
	var ferrs, yerrs errList
	if !parseRootsYAML("f.yaml", data, &yerrs, func(n *node) { yd = addDocument(yd, n, &yerrs) }) {
		yd = nil
	}
	roots, ok := fastParse("f.yaml", data)
	if !ok {
		return false, nil, yd, nil, yerrs.list
	}
	for _, n := range roots {
		fd = addDocument(fd, n, &ferrs)
	}
	return true, fd, yd, ferrs.list, yerrs.list
}

// checkSame fails t when the fast path took data and disagrees with
// yaml.v3 in any way.
func checkSame(t *testing.T, data []byte) bool {
	t.Helper()
	fast, fd, yd, fe, ye := parseBoth(data)
	if !fast {
		return false
	}
	if !reflect.DeepEqual(fe, ye) {
		t.Errorf("input %q:\nfast path errors %v\nyaml.v3 errors   %v", data, errTexts(fe), errTexts(ye))
	}
	if !reflect.DeepEqual(fd, yd) {
		t.Errorf("input %q:\nfast path:\n%s\nyaml.v3:\n%s", data, dumpDocs(fd), dumpDocs(yd))
	}
	return true
}

func errTexts(l []*Error) []string {
	var out []string
	for _, e := range l {
		out = append(out, e.Error())
	}
	return out
}

func dumpDocs(docs []document) string {
	var b strings.Builder
	for _, d := range docs {
		fmt.Fprintf(&b, "--- %s line %d\n", d.file, d.line)
		dumpNode(&b, d.root, 0)
	}
	return b.String()
}

func dumpNode(b *strings.Builder, n *node, depth int) {
	ind := strings.Repeat("  ", depth)
	if n == nil {
		fmt.Fprintf(b, "%s<nil>\n", ind)
		return
	}
	fmt.Fprintf(b, "%skind=%d %s:%d:%d tag=%q value=%q keys=%v vals=%v items=%v\n", ind, n.kind, n.file, n.line, n.col, n.tag, n.value,
		n.keys != nil, n.vals != nil, n.items != nil)
	for i, k := range n.keys {
		dumpNode(b, k, depth+1)
		if i < len(n.vals) {
			dumpNode(b, n.vals[i], depth+2)
		}
	}
	for _, it := range n.items {
		dumpNode(b, it, depth+1)
	}
}

// yamlFiles lists the YAML files of the repository's test data.
func yamlFiles(t testing.TB) []string {
	var out []string
	for _, root := range []string{"testdata", "../testdata/examples", "../testdata/quickstart"} {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && isYAML(p) {
				out = append(out, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// generatedFiles returns the files of a small generated repository (the
// shapes BenchmarkResolve loads).
func generatedFiles(t testing.TB, dir string) map[string][]byte {
	if err := stacktest.Generate(dir, stacktest.Options{Stacks: 2, Environments: 4}); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		out[p] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fuzzCorpus returns the []byte values of the committed corpus entries of
// a fuzz target.
func fuzzCorpus(t testing.TB, target string) [][]byte {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
	var out [][]byte
	for _, f := range files {
		out = append(out, fuzzCorpusFile(t, f)...)
	}
	return out
}

// fuzzCorpusFile returns the []byte values of one corpus entry.
func fuzzCorpusFile(t testing.TB, file string) [][]byte {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "[]byte("); ok {
			if s, err := strconv.Unquote(strings.TrimSuffix(v, ")")); err == nil {
				out = append(out, []byte(s))
			}
		}
	}
	return out
}

// fastTakes are inputs the fast path must take (and agree with yaml.v3 on).
var fastTakes = []string{
	"",
	"# only a comment\n",
	"---\n",
	"a: 1\n",
	"a: 1",
	"a: b\nc: d\n",
	"  a: 1\n  b: 2\n",
	"a:\n  b: 1\n  c:\n    d: x\n",
	"a:\n    b: 1\n",
	"a:\n- x\n- y\nb: 1\n",
	"a:\n  - x\n  - y\n",
	"a:\n  - k: 1\n    v: 2\n  - k: 3\n",
	"a:\n- k: 1\n  v:\n  - z\n",
	"-   a: 1\n    b: 2\n",
	"- x\n- y\n",
	"a:\nb: 1\n",
	"a:   # comment\nb: 1\n",
	"a:\n",
	"a:",
	"a:\n\n# c\n",
	"-\n- x\n",
	"- # c\n- x\n",
	"-\n  a: 1\n",
	"-\n  - x\n",
	"a: b # c\n",
	"a: b#c\n",
	"a: 'it''s'\n",
	"a: ''\n",
	"a: \"x y\"  # c\n",
	"'k': v\n\"k2\" : v\n",
	"a  : 1\n",
	"a: {}\nb: []\n",
	"a: [x, y]\n",
	"a: [\"./worker\", '--queue', jobs]\n",
	"command: [report, --since, 24h]\n",
	"a: [1, 0x10, true, ~, null, -1, .5]\n",
	"a: [ x , y ]\n",
	"a: x:y\n",
	"image: ghcr.io/acme/api:${TAG}\n",
	"env:\n  A: ${db.endpoint}\n",
	"a: cron(0 3 * * ? *)\n",
	"a: -x\nb: --y\n",
	"a: true\nb: True\nc: TRUE\nd: yes\ne: on\nf: off\ng: no\nh: y\n",
	"a: null\nb: Null\nc: ~\nd: NULL\n",
	"a: 1\nb: 012\nc: 0x1f\nd: 0o17\ne: 1_000\nf: 1.5\ng: 1e3\nh: .inf\ni: -.inf\nj: .nan\nk: +1\nl: 99999999999999999999\n",
	"a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\n",
	"null: 1\ntrue: 2\n1: 3\n~: 4\n",
	"a: 1\n---\nb: 2\n",
	"---\na: 1\n--- # c\n---\nb: 2\n",
	"- a\n",
	"a: é\nb: [é, x]\né: 1\n",
	"# naïve comment\na: 1 # café\n",
	"a: \"\"\n",
	"\"\": 1\n",
	"'<<': 1\n",
	"a: b c  d\n",
	"a: <b\n",
	"k:\n  - a: 1\n    b:\n      c: 2\n  - d\n",
}

// fastRefuses are inputs the fast path must leave to yaml.v3.
var fastRefuses = []string{
	"x\n",
	"a:\tb\n",
	"\ta: 1\n",
	"a: 1\r\n",
	"a: &x 1\nb: *x\n",
	"a: !!str 1\n",
	"a: |\n  x\n",
	"a: >\n  x\n",
	"a: {b: 1}\n",
	"a: [x,\n  y]\n",
	"a: [x,]\n",
	"a: [[x]]\n",
	"? a\n: b\n",
	"%YAML 1.2\n---\na: 1\n",
	"a: 1\n...\n",
	"a: b\n  c\n",
	"a:\n  b\n",
	"<<: {a: 1}\n",
	"a: <<\n",
	"a: 1\na: 2\n",
	"a: \"x\\ty\"\n",
	"a: \"x\n  y\"\n",
	"a: b: c\n",
	"a: - b\n",
	"- - a\n",
	"a:\n  - x\n  b: 1\n",
	"a:\n    b: 1\n  c: 2\n",
	"- a: 1\n - b\n",
	"- a: 1\nb: 2\n",
	"\xef\xbb\xbfa: 1\n",
	"a: \xc2\x85\n",
	"a: \xff\n",
	"a: 'x' y\n",
	"a: [x] y\n",
	"--- a: 1\n",
	"----\n",
	"a: @x\n",
	"a: `x\n",
	"a #b: c\n",
	"a:b\n",
	"- \"a\":b\n",
	"a: 1\n b: 2\n",
	"x: " + strings.Repeat("a", 20) + "\n" + strings.Repeat("k", 1100) + ": v\n",
}

func TestFastYAMLTakes(t *testing.T) {
	for _, in := range fastTakes {
		if !checkSame(t, []byte(in)) {
			_, _, _, _, ye := parseBoth([]byte(in))
			t.Errorf("fast path refused %q (yaml.v3 errors: %v)", in, errTexts(ye))
		}
	}
}

func TestFastYAMLRefuses(t *testing.T) {
	for _, in := range fastRefuses {
		if _, ok := fastParse("f.yaml", []byte(in)); ok {
			t.Errorf("fast path took %q; it must fall back to yaml.v3", in)
		}
	}
}

// TestFastYAMLRepoFiles: the example repositories and generated stacks all
// take the fast path (else it would not make loading faster), with the
// same result as yaml.v3.
func TestFastYAMLRepoFiles(t *testing.T) {
	files := map[string][]byte{}
	for _, p := range yamlFiles(t) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = data
	}
	for p, data := range generatedFiles(t, t.TempDir()) {
		files[p] = data
	}
	for p, data := range files {
		// stacks/testdata holds deliberately odd YAML (fmt inputs with
		// anchors): it must agree when taken, not be taken.
		mustTake := !strings.HasPrefix(p, "testdata"+string(filepath.Separator))
		if !checkSame(t, data) && mustTake {
			t.Errorf("%s: the fast path refused it", p)
		}
	}
}

// FuzzFastYAML: whatever the fast path accepts, it parses exactly as
// yaml.v3 (documents, nodes, tags, values, positions, errors).
func FuzzFastYAML(f *testing.F) {
	for _, p := range yamlFiles(f) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, data := range generatedFiles(f, f.TempDir()) {
		f.Add(data)
	}
	for _, target := range []string{"FuzzLoad", "FuzzQuickName"} {
		for _, data := range fuzzCorpus(f, target) {
			f.Add(data)
		}
	}
	for _, in := range append(append([]string(nil), fastTakes...), fastRefuses...) {
		f.Add([]byte(in))
	}
	f.Add([]byte{0, 1, 0, 0, 1, 0, 2, 2, 1, 0, 2, 1, 0, 3, 2, 1, 1, 3, 0, 5, 0, 1, 0, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSame(t, data)
		// Random bytes rarely make YAML the fast path takes: also read
		// them as choices of typical line pieces.
		checkSame(t, shapeYAML(data))
	})
}

// Line pieces for shapeYAML: typical and borderline stack-file text.
var (
	shapeIndents  = []string{"", "  ", "    ", " ", "   ", "      "}
	shapePrefixes = []string{"", "- ", "", "-   ", "-", "--- ", "---", "# c", "? ", "- - ", "...", "%Y"}
	shapeKeys     = []string{"a", "b", "kind", "'q'", `"d"`, "x y", "null", "1", "<<", "é", "a#b", "-k", "~", "", "a", "b ", "'<<'", `""`, "a:b", "c"}
	shapeSeps     = []string{": ", ":", " : ", ":  ", ": ", ":\t", ":#", ": # c"}
	shapeValues   = []string{"", "v", "1", "", "x # c", "0x1F", "true", "no", "~", "null", `"s"`, "'it''s'", "{}", "[]", "[a, b]", `[1, 'x', "y"]`,
		"x#y", "a: b", "- x", "&a v", "*a", "!t v", "|", ">", "${A}", "a:b", "2001-12-14", ".5", "-1", "+1", "é", "[a, [b]]",
		`"a\\tb"`, "'open", "cron(0 3 * * ? *)", " ", "x  ", "012", "1_000", "[é, ~, -x]", "[a,]", "[ ]", "{a: 1}", "'a' b", "<<", "1e3",
		".inf", "Yes", "0o17", "[-]", "[>]", "x\u2028", "\u00a0", "--x", "[a , b]", "[a,b]"}
	shapeEnds = []string{"\n", "\n", "\n\n", " # c\n", "\r\n", "", "\n# c\n", "  \n"}
)

// shapeYAML reads data as a list of lines, each 6 bytes choosing its
// indentation, prefix, key, separator, value and line end.
func shapeYAML(data []byte) []byte {
	// Skewed to the first, plainer pieces of each list.
	pick := func(xs []string, b byte) string { return xs[int(b)*int(b)*len(xs)/65536] }
	var out []byte
	for len(data) >= 6 {
		b := data[:6]
		data = data[6:]
		out = append(out, pick(shapeIndents, b[0])...)
		out = append(out, pick(shapePrefixes, b[1])...)
		if b[2]%8 != 7 { // sometimes no key: a bare value
			out = append(out, pick(shapeKeys, b[2]/8*8)...)
			out = append(out, pick(shapeSeps, b[3])...)
		}
		out = append(out, pick(shapeValues, b[4])...)
		out = append(out, pick(shapeEnds, b[5])...)
	}
	return out
}

// TestFastYAMLShapes compares the fast path with yaml.v3 on pseudo-random
// documents made of typical line pieces (a quick, deterministic cousin of
// FuzzFastYAML).
func TestFastYAMLShapes(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	const n = 30000
	took := 0
	for i := 0; i < n && !t.Failed(); i++ {
		b := make([]byte, 6*(1+r.Intn(8)))
		r.Read(b)
		if checkSame(t, shapeYAML(b)) {
			took++
		}
	}
	if took < n/50 {
		t.Errorf("the fast path took only %d of %d documents: the test no longer exercises it", took, n)
	}
}

// TestFastYAMLLoadSame loads whole stacks with and without the fast path:
// the stacks, their resolved models and every error must be the same. The
// fast path is kept off the second load by a trailing comment holding a
// tab (which it refuses and YAML ignores), so only repositories whose files
// all take the fast path are compared.
func TestFastYAMLLoadSame(t *testing.T) {
	type repo struct {
		name string
		fsys fs.FS
	}
	repos := []repo{
		{"examples", os.DirFS("../testdata/examples")},
		{"quickstart", os.DirFS("../testdata/quickstart")},
	}
	gen := t.TempDir()
	generatedFiles(t, gen)
	repos = append(repos, repo{"generated", os.DirFS(gen)})
	// The FuzzLoad corpus: odd component and overlay files.
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzLoad", "*"))
	for _, f := range files {
		if vals := fuzzCorpusFile(t, f); len(vals) == 2 {
			repos = append(repos, repo{f, testFS(map[string]string{cf: string(vals[0]), "stacks/s/environments/dev.yaml": string(vals[1])})})
		}
	}
	outcomes := func(fsys fs.FS) map[string]map[string]string {
		out := map[string]map[string]string{}
		refs, err := Discover(fsys, "stacks")
		out["discover"] = map[string]string{"refs": fmt.Sprint(refs), "err": fmt.Sprint(err)}
		for _, r := range append(refs, Ref{Name: "s", Path: "stacks/s"}) {
			s, err := Load(fsys, r.Path)
			out[r.Path] = loadOutcome(t, s, err)
		}
		return out
	}
	compared := 0
	for _, r := range repos {
		fast, slow := fstest.MapFS{}, fstest.MapFS{}
		allFast := true
		err := fs.WalkDir(r.fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(r.fsys, p)
			if err != nil {
				return err
			}
			fast[p] = &fstest.MapFile{Data: data}
			slow[p] = &fstest.MapFile{Data: append(append([]byte(nil), data...), "\n#\t\n"...)}
			if _, ok := fastParse(p, data); !ok {
				allFast = false
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !allFast {
			continue
		}
		compared++
		if f, s := outcomes(fast), outcomes(slow); !reflect.DeepEqual(f, s) {
			t.Errorf("%s: loading with the fast YAML path:\n%v\nwith yaml.v3 only:\n%v", r.name, f, s)
		}
	}
	t.Logf("%d repositories compared", compared)
	if compared < 3 { // examples, quickstart and generated at least
		t.Errorf("only %d repositories compared", compared)
	}
}

// TestGeneratedRepositoryResolves: the repository stacktest generates
// for BenchmarkResolve loads and resolves in every environment. Its
// services/work/ folder had a Worker and no Service, which became an
// error: the benchmark would have failed (or, not checking, timed the
// error path).
func TestGeneratedRepositoryResolves(t *testing.T) {
	dir := t.TempDir()
	generatedFiles(t, dir)
	fsys := DirFS(dir)
	d, err := DiscoverStacks(fsys, "stacks")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Refs) != 2 {
		t.Fatalf("%d stacks, want 2", len(d.Refs))
	}
	for _, r := range d.Refs {
		s, err := d.Load(r)
		if err != nil {
			t.Fatalf("load %s: %v", r.Path, err)
		}
		for _, e := range s.Environments() {
			res, err := s.Resolve(e, ResolveOptions{})
			if err != nil {
				t.Fatalf("resolve %s/%s: %v", r.Name, e, err)
			}
			if c := res.Component("worker"); c == nil || c.Service != "work" {
				t.Errorf("%s/%s: worker's service is not work: %+v", r.Name, e, c)
			}
		}
	}
}
