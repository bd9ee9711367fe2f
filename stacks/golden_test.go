package stacks

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/golden/name (rewritten with -update).
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update to accept):\n--- got\n%s", path, got)
	}
}

// TestGoldenResolved resolves every stack × environment of the example
// repositories and compares the canonical model and the graph levels.
func TestGoldenResolved(t *testing.T) {
	for _, repo := range []string{"examples", "quickstart"} {
		fsys := os.DirFS(filepath.Join("..", "testdata", repo))
		refs, err := Discover(fsys, "stacks")
		if err != nil {
			t.Fatal(err)
		}
		if strays := Strays(fsys, "stacks", refs); len(strays) > 0 {
			t.Errorf("strays in %s: %v", repo, strays)
		}
		for _, ref := range refs {
			s, err := Load(fsys, ref.Path)
			if err != nil {
				t.Fatalf("%s: %v", ref.Name, err)
			}
			if err := s.Validate(ResolveOptions{}); err != nil {
				t.Errorf("%s: validate: %v", ref.Name, err)
			}
			for _, env := range s.Environments() {
				r, err := s.Resolve(env, ResolveOptions{
					Vars:      VarValues{Flags: map[string]string{"SIGNING_KEY": "golden-signing-key"}, Env: map[string]string{"PAYMENT_API_KEY": "golden-payment-key"}},
					SecretKey: []byte("golden"),
				})
				if err != nil {
					t.Errorf("%s/%s: %v", ref.Name, env, err)
					continue
				}
				g, err := r.Graph()
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if err := json.Indent(&buf, r.Canonical(), "", "  "); err != nil {
					t.Fatal(err)
				}
				buf.WriteString("\n")
				for i, l := range g.Levels() {
					buf.WriteString("# level " + string(rune('0'+i)) + ": " + strings.Join(l, " ") + "\n")
				}
				if bytes.Contains(buf.Bytes(), []byte("golden-signing-key")) || bytes.Contains(buf.Bytes(), []byte("golden-payment-key")) {
					t.Errorf("%s/%s: clear secret in the canonical model", ref.Name, env)
				}
				golden(t, filepath.Join("testdata", "golden", ref.Name+"."+env+".json"), buf.Bytes())
			}
		}
	}
}

// TestGoldenFormat formats testdata/fmt/*.in.yaml, compares with
// *.golden.yaml and checks that formatting is idempotent and keeps the model.
func TestGoldenFormat(t *testing.T) {
	ins, _ := filepath.Glob(filepath.Join("testdata", "fmt", "*.in.yaml"))
	if len(ins) == 0 {
		t.Fatal("no inputs")
	}
	for _, in := range ins {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Format(src)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(in, ".in.yaml")+".golden.yaml", out)
			again, err := Format(out)
			if err != nil || !bytes.Equal(again, out) {
				t.Errorf("not idempotent:\n%s", again)
			}
			// Formatting never changes what the file means.
			var e1, e2 errList
			d1, d2 := parseFile("f", src, &e1), parseFile("f", out, &e2)
			if len(d1) != len(d2) {
				t.Fatalf("documents %d -> %d", len(d1), len(d2))
			}
			for i := range d1 {
				if a, b := dump(d1[i].root), dump(d2[i].root); a != b {
					t.Errorf("document %d changed:\n%s\n%s", i, a, b)
				}
			}
		})
	}
	if _, err := Format([]byte("a: [\n")); err == nil || !strings.Contains(err.Error(), "invalid YAML") {
		t.Errorf("invalid YAML: %v", err)
	}
	// yaml.v3 gives no line for errors on the first line, nor for a
	// control character: Format names them anyway.
	for src, want := range map[string]string{
		": bad\n":            "line 1: invalid YAML: did not find expected key",
		"a: 1\nb: \x07\n":    "line 2, column 4: invalid YAML: control characters are not allowed",
		"a: 1\nb: caf\xe9\n": "line 2, column 7: invalid UTF-8 (byte 0xe9)",
		"\xff\xfea\x00:\x00": "the file is UTF-16 text",
		// The line of the file, not of the text yaml.v3 is given to
		// keep the foot comment "# a" (keepFootComments).
		"a: 1\n# a\n---\n# b\n\nc: 1\nd: [\n": "line 7: invalid YAML: did not find expected node content",
		// Rewritten as {? {IMAGE: null} : null}, what was meant lost.
		"spec:\n  image: {{IMAGE}}\n": "line 2, column 10: spec.image: {{ IMAGE }} is template syntax, which YAML reads as a mapping; panka does not run templates: write ${IMAGE}",
		"a:\n  ? [b]\n  : c\n":        "line 2, column 5: mapping keys must be plain strings",
		// What validate refuses for its YAML fmt refuses with the same
		// message, and does not rewrite: fmt --check passed a duplicate
		// key, and fmt wrote both back.
		"spec:\n  fifo: true\n  fifo: false\n": "line 3, column 3: spec.fifo: duplicate key (first set at line 2): remove one of them",
		"spec:\n  image: !Ref x\n":             "line 2, column 10: spec.image: YAML tag !Ref is not supported",
		"a: &x 1\n---\nb: *x\n":                "line 3, column 4: b: *x refers to &x at line 1, in an earlier document of this file",
	} {
		if _, err := Format([]byte(src)); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Format(%q) = %v, want %q", src, err, want)
		}
	}
	// CRLF line ends (a Windows checkout) are kept: the layout is made
	// canonical, the line ends are not changed.
	for _, in := range ins {
		src, _ := os.ReadFile(in)
		want, err := Format(src)
		if err != nil {
			t.Fatal(err)
		}
		crlf := bytes.ReplaceAll(src, []byte("\n"), []byte("\r\n"))
		out, err := Format(crlf)
		if err != nil || !bytes.Equal(out, bytes.ReplaceAll(want, []byte("\n"), []byte("\r\n"))) {
			t.Errorf("%s with CRLF line ends: %v\n%q", in, err, out)
		}
	}
}

// dump renders a node tree without positions (key order normalised).
func dump(n *node) string {
	switch n.kind {
	case nMap:
		parts := make([]string, len(n.keys))
		for i, k := range n.keys {
			parts[i] = k.value + "=" + dump(n.vals[i])
		}
		sortStrings(parts)
		return "{" + strings.Join(parts, ",") + "}"
	case nSeq:
		parts := make([]string, len(n.items))
		for i, it := range n.items {
			parts[i] = dump(it)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case nScalar:
		return n.tag + ":" + n.value
	}
	return "null"
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
