package stacks

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkFormatted fails t when formatted takes src as canonical and
// yaml.v3's encoder (formatYAML) would change it; it reports whether
// formatted took it.
func checkFormatted(t *testing.T, src []byte) bool {
	t.Helper()
	roots, ok := fastParse("f", src)
	if !ok || !formatted(src, roots) {
		return false
	}
	out, err := formatYAML(src)
	if err != nil || !bytes.Equal(out, src) {
		t.Errorf("formatted took %q as canonical; yaml.v3 writes %q (%v)", src, out, err)
	}
	return true
}

// formatCorpus is every stack YAML file of the repository's test data,
// as written and formatted.
func formatCorpus(t *testing.T) [][]byte {
	var files []string
	for _, g := range []string{"testdata/fmt/*.yaml", "../testdata/*/stacks/*/*.yaml", "../testdata/*/stacks/*/*/*.yaml", "../testdata/*/stacks/*/services/*/*.yaml"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	var out [][]byte
	seen := map[string]bool{}
	add := func(b []byte) {
		if !seen[string(b)] {
			seen[string(b)] = true
			out = append(out, b)
		}
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		add(b)
		if f, err := Format(b); err == nil {
			add(f)
		}
	}
	if len(out) < 30 {
		t.Fatalf("only %d files", len(out))
	}
	return out
}

// lineVariants are one-line edits of a canonical file: the slips and
// styles yaml.v3 writes differently (or the same) that formatted must
// tell apart.
func lineVariants(l string) []string {
	ind := len(l) - len(strings.TrimLeft(l, " "))
	key, val, hasVal := strings.Cut(l, ": ")
	vs := []string{
		" " + l, l + " ", l + " # c", l + "  # c", "", "#", "# c", l[ind:],
		strings.Replace(l, "- ", "-  ", 1), strings.Replace(l, "- ", "- - ", 1),
	}
	if ind >= 1 {
		vs = append(vs, l[1:])
	}
	if hasVal {
		for _, v := range []string{
			"yes", "on", "No", "1.10", "1_000", "0x1F", "0o17", "1e3", ".inf", "~", "null", "Null", "''", `""`,
			"-x", "- x", "?x", ":x", "x:y", "x: y", "x #y", "x#y", "x,y", "x?y", "[a]", "[a, b]", "[a,b]", "[ a ]",
			"[a:b]", "[a, 'b', \"c\"]", "[x?]", "{}", "[]", "{ }", "---x", "...", "'it''s'", "'a b'", "\"a b\"",
			"'a'", `"a"`, "'yes'", `"1.10"`, "2024-01-01", "<<", "=", "!x", "&a x", "*a", "@x", "`x", "%x", "|", ">",
			"'[a]'", "a b", "'x: y'", "\"x #y\"", "'-'", "-", "''''", "'x '", "' x'",
		} {
			vs = append(vs, key+": "+v)
		}
		vs = append(vs, key+":  "+val, key+" : "+val, key+":", key+":\n"+strings.Repeat(" ", ind+2)+val)
	}
	if k := strings.TrimSpace(key); hasVal && k != "" {
		vs = append(vs, strings.Repeat(" ", ind)+"'"+k+"': "+val, strings.Repeat(" ", ind)+`"`+k+`": `+val,
			strings.Repeat(" ", ind)+strings.Repeat("k", 129)+": "+val, strings.Repeat(" ", ind)+strings.Repeat("k", 128)+": "+val)
	}
	return vs
}

// TestFormattedAgreesWithFormat: formatted, Format's shortcut for a file
// already in the canonical layout, never takes a file yaml.v3's encoder
// would change — over the test data and every one-line edit of it (the
// styles and slips of lineVariants, lines swapped, a --- added), and
// over the files a monorepo holds — and it does take the usual formatted
// stack files, or it would save nothing.
func TestFormattedAgreesWithFormat(t *testing.T) {
	took, tried := 0, 0
	for _, src := range formatCorpus(t) {
		checkFormatted(t, src)
		lines := strings.Split(strings.TrimSuffix(string(src), "\n"), "\n")
		for i, l := range lines {
			edit := func(repl ...string) {
				v := append(append(append([]string{}, lines[:i]...), repl...), lines[i+1:]...)
				tried++
				if checkFormatted(t, []byte(strings.Join(v, "\n")+"\n")) {
					took++
				}
			}
			for _, v := range lineVariants(l) {
				edit(v)
			}
			edit(l, "---")
			edit("---", l)
			if i+1 < len(lines) {
				edit(lines[i+1], l)
				lines[i+1], lines[i] = lines[i], lines[i+1]
				edit(l)
				lines[i+1], lines[i] = lines[i], lines[i+1]
			}
		}
	}
	if took < tried/20 {
		t.Errorf("formatted took %d of %d edited files", took, tried)
	}
	// What a formatted monorepo is made of (panka-bench's files), and
	// other layouts yaml.v3 writes so: each must be taken.
	for _, src := range []string{
		"# revision 11201\napiVersion: core.panka.io/v1\nkind: Service\nmetadata:\n  name: api\nspec: {}\n---\napiVersion: core.panka.io/v1\nkind: MicroService\nmetadata:\n  name: api\nspec:\n  image: registry.example/s2920:${IMAGE_TAG}\n  port: 8080\n  env:\n    LOG_LEVEL: ${LOG_LEVEL}\n",
		"apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: s2920\nspec:\n  provider:\n    name: local\n  variables:\n    LOG_LEVEL:\n      default: info\n    IMAGE_TAG:\n      default: \"1.0.13358\"\n",
		"apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: prod\nspec:\n  variables: {}\n  overrides:\n    api:\n      replicas: 3\n",
		doc("Topic", "t", "subscriptions:", "  - queue: a", "    rawMessageDelivery: true", "  - protocol: https", "    endpoint: 'https://x.example/a?b=c'", "dependsOn: [a, 'b c', \"d\"]", "x:", "  - [sh, -c, 'echo hi']", "  - {}"),
		"metadata:\n  name: x\n  description: d\n  labels:\n    team: a\nextra: [1, 2.5, true]\n",
	} {
		if !checkFormatted(t, []byte(src)) {
			t.Errorf("formatted did not take the formatted file %q", src)
		}
	}
}
