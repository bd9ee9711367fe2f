package hooks

import (
	"strings"
	"testing"
	"testing/fstest"

	"panka.dev/panka/gitops/changes"
)

func TestCheckAll(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	stack := func(name string) *fstest.MapFile {
		return file("apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: " + name + "\nspec: {}\n")
	}
	env := file("apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec: {}\n")
	fsys := fstest.MapFS{
		"stacks/good/stack.yaml":            stack("good"),
		"stacks/good/environments/dev.yaml": env,
		"stacks/good/infra/q.yaml":          file("apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q\nspec: {}\n"),
		"stacks/bad/stack.yaml":             stack("bad"),
		"stacks/bad/environments/dev.yaml":  env,
		"stacks/bad/infra/q.yaml":           file("apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q\nspec:\n  fifoo: true\n"),
		"stacks/stray/q.yaml":               file("a: 1\n"),
		// A stack nested in another's folder: the outer one does not
		// load, and still lists its environments.
		"stacks/outer/stack.yaml":                  stack("outer"),
		"stacks/outer/environments/dev.yaml":       env,
		"stacks/outer/inner/stack.yaml":            stack("inner"),
		"stacks/outer/inner/environments/dev.yaml": env,
	}
	res := CheckAll(fsys, "stacks")
	var got []string
	for _, s := range res.Stacks {
		got = append(got, s.Stack+" "+string(s.Change)+" "+strings.Join(s.Environments, ","))
	}
	if want := "bad added dev|good added dev|outer added dev"; strings.Join(got, "|") != want {
		t.Errorf("stacks = %q, want %q", strings.Join(got, "|"), want)
	}
	if g := res.Stacks[1]; g.EnvironmentChanges["dev"] != changes.Added || strings.Join(g.Components, ",") != "q" {
		t.Errorf("good = %+v", g)
	}
	var probs []string
	for _, p := range res.Problems {
		probs = append(probs, p.Error())
	}
	all := strings.Join(probs, "\n")
	if len(probs) != 3 || !strings.Contains(all, "stacks/stray/q.yaml: YAML file outside any stack") ||
		!strings.Contains(all, "stack bad (stacks/bad) at head: stacks/bad/infra/q.yaml:6:3: spec.fifoo: unknown field") ||
		!strings.Contains(all, "stack outer (stacks/outer) at head: stacks/outer/inner/stack.yaml: stacks cannot be nested") {
		t.Errorf("problems:\n%s", all)
	}
}
