package stacks

import (
	"strings"
	"testing"
	"testing/fstest"
)

// TestNestedStack: a stack.yaml inside another stack's folder is an error
// of the outer stack's Load that names both stacks and folders and says
// what to do; NestedIn (for change detection's --paths mode, which does
// not load) gives the same error for a file below it, and nil elsewhere.
func TestNestedStack(t *testing.T) {
	stack := func(name string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: " + name + "\nspec: {}\n")}
	}
	fsys := fstest.MapFS{
		"stacks/outer/stack.yaml":                    stack("outer"),
		"stacks/outer/sub/stack.yaml":                stack("inner"),
		"stacks/outer/sub/environments/dev.yaml":     {Data: []byte("x")},
		"stacks/outer/infra/q.yaml":                  {Data: []byte("x")},
		"stacks/outer/.hidden/stack.yaml":            stack("hidden"),
		"stacks/outer/.hidden/environments/dev.yaml": {Data: []byte("x")},
	}
	want := `stacks/outer/sub/stack.yaml: stacks cannot be nested: stack "inner" (stacks/outer/sub) is inside the folder of stack "outer" (stacks/outer), whose files include it; move stacks/outer/sub out of stacks/outer (e.g. next to it), or delete its stack.yaml if it is part of stacks/outer`
	_, err := Load(fsys, "stacks/outer")
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load: %v\nwant it to contain %s", err, want)
	}
	if err := NestedIn(fsys, "stacks/outer", "stacks/outer/sub/environments/dev.yaml", "outer"); err == nil || err.Error() != want {
		t.Errorf("NestedIn below the nested stack: %v\nwant %s", err, want)
	}
	for _, f := range []string{"stacks/outer/infra/q.yaml", "stacks/outer/stack.yaml", "stacks/outer/.hidden/environments/dev.yaml", "stacks/other/x.yaml"} {
		if err := NestedIn(fsys, "stacks/outer", f, "outer"); err != nil {
			t.Errorf("NestedIn(%s): %v, want nil", f, err)
		}
	}
}
