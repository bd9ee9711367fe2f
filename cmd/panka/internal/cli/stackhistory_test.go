package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestHeaderMayDiffer(t *testing.T) {
	base := "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: shop\nspec:\n  variables:\n    IMAGE:\n      default: \"1.0.0\"\n"
	for _, c := range []struct {
		name, then, now string
		want            bool
	}{
		{"same text", base, base, false},
		{"a variable bumped", base, replace(base, "1.0.0", "1.0.1"), false},
		{"a line added elsewhere", base, base + "  watch: [\"shared/**\"]\n", false},
		{"renamed", base, replace(base, "name: shop", "name: store"), true},
		{"name indented away", base, replace(base, "  name: shop", "    name: shop"), true},
		{"metadata line changed", base, replace(base, "metadata:\n", "metadata: # owner: web\n"), true},
		{"a backend now", base, replace(base, "spec:\n", "spec:\n  backend:\n    prefix: a/\n"), true},
		{"a backend then, only a variable bumped", replace(base, "spec:\n", "spec:\n  backend: {prefix: a/}\n"),
			replace(replace(base, "spec:\n", "spec:\n  backend: {prefix: a/}\n"), "1.0.0", "1.0.1"), true},
		{"an anchor", replace(base, "1.0.0", "&v 1.0.0"), replace(base, "1.0.0", "&v 1.0.1"), true},
		{"one-line flow style", "{metadata: {name: shop}, spec: {}}", "{metadata: {name: store}, spec: {}}", true},
	} {
		if got := headerMayDiffer([]byte(c.then), []byte(c.now)); got != c.want {
			t.Errorf("%s: headerMayDiffer = %v, want %v", c.name, got, c.want)
		}
	}
}

// replace is strings.Replace of the first old, which s must hold.
func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("replace: " + old + " not in the text")
	}
	return strings.Replace(s, old, new, 1)
}

// TestStackHistoryMoved: one walk back finds, for every stack at once, the
// stack.yaml files whose metadata.name or spec.backend was another earlier
// (changed --since-deployed looks for their earlier deployments), and the
// commits that changed panka.yaml; a stack.yaml edited elsewhere is not
// one of them, whatever its position in the history.
func TestStackHistoryMoved(t *testing.T) {
	dir := t.TempDir()
	hooksGit(t, dir, "init", "-q", "-b", "main")
	stack := func(name, backend string) string {
		s := "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: " + name + "\nspec:\n"
		if backend != "" {
			s += "  backend:\n    prefix: " + backend + "\n"
		}
		return s + "  provider:\n    name: local\n  variables:\n    IMAGE:\n      default: \"1.0.0\"\n"
	}
	write := func(p, text string) {
		t.Helper()
		p = filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	commit := func(msg string) {
		t.Helper()
		hooksGit(t, dir, "add", "-A")
		hooksGit(t, dir, "commit", "-qm", msg)
	}
	for _, s := range []string{"aaa", "bbb", "ccc", "ddd", "eee"} {
		write("stacks/"+s+"/stack.yaml", stack(s, ""))
		write("stacks/"+s+"/environments/dev.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec: {}\n")
	}
	write("panka.yaml", "version: v1\n")
	commit("c1")
	write("stacks/bbb/stack.yaml", stack("bbb", "team-b/")) // spec.backend added
	commit("c2")
	write("stacks/ccc/stack.yaml", stack("ccc2", "")) // renamed
	write("panka.yaml", "version: v1\nbackend: {prefix: all/}\n")
	commit("c3")
	write("stacks/aaa/stack.yaml", replace(stack("aaa", ""), "1.0.0", "1.0.1")) // a variable only
	write("stacks/bbb/stack.yaml", replace(stack("bbb", "team-b/"), "1.0.0", "1.0.1"))
	write("stacks/ddd/environments/dev.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec: {variables: {X: y}}\n")
	commit("c4")
	write("stacks/eee/stack.yaml", stack("eee", "team-e/")) // moved, then moved back
	commit("c5")
	write("stacks/eee/stack.yaml", stack("eee", ""))
	commit("c6")

	ios, _, _, _ := Test()
	f := NewFactory(ios)
	f.Getwd = func() (string, error) { return dir, nil }
	f.Home = func() (string, error) { return t.TempDir(), nil }
	defer f.closeStackHistory()
	h := f.stackHistory(context.Background())
	if h == nil {
		t.Fatal("no history read")
	}
	if len(h.cs) != 6 {
		t.Fatalf("%d commits walked, want 6", len(h.cs))
	}
	// Every stack.yaml each commit changed, as its parent had it (what
	// removedStackHeaders reads), newest first: ddd's environment file
	// is none.
	var changed []string
	for _, c := range h.changed {
		changed = append(changed, fmt.Sprintf("%d %s", c.i, c.file))
	}
	if want := []string{"0 stacks/eee/stack.yaml", "1 stacks/eee/stack.yaml", "2 stacks/aaa/stack.yaml", "2 stacks/bbb/stack.yaml", "3 stacks/ccc/stack.yaml", "4 stacks/bbb/stack.yaml"}; !slices.Equal(changed, want) {
		t.Errorf("changed %q, want %q", changed, want)
	}
	var moved []string
	for p := range h.moved {
		moved = append(moved, p)
	}
	slices.Sort(moved)
	want := []string{"stacks/bbb/stack.yaml", "stacks/ccc/stack.yaml", "stacks/eee/stack.yaml"}
	if !slices.Equal(moved, want) {
		t.Errorf("moved %v, want %v", moved, want)
	}
	// Steps newest first: eee's stack.yaml at c6 (its parent c5 had
	// team-e/); c5 (its parent had none, as HEAD) is not one.
	if got := h.moved["stacks/eee/stack.yaml"]; !slices.Equal(got, []int{0}) {
		t.Errorf("eee steps %v, want [0] (c6 only)", got)
	}
	// bbb: c4 bumped a variable under spec.backend (read and compared),
	// c2 added spec.backend.
	if got := h.moved["stacks/bbb/stack.yaml"]; !slices.Equal(got, []int{2, 4}) {
		t.Errorf("bbb steps %v, want [2 4] (c4, c2)", got)
	}
	if !slices.Equal(h.repoConfig, []int{3}) {
		t.Errorf("panka.yaml steps %v, want [3] (c3)", h.repoConfig)
	}
	// The second call is the same walk, not another.
	if f.stackHistory(context.Background()) != h {
		t.Error("the history was read twice")
	}
}
