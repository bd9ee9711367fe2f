package cli

import (
	"bytes"
	"strings"
	"testing"

	"panka.dev/panka/gitops/changes"
)

// TestChangedTextAligned: the rows of the text table line up across
// stacks, also when --why prints each stack's explanation below its row.
func TestChangedTextAligned(t *testing.T) {
	res := &changes.Result{Base: strings.Repeat("a", 40), Head: strings.Repeat("b", 40), Stacks: []*changes.Stack{
		{Stack: "shop", Path: "stacks/shop", Change: changes.Modified, Environments: []string{"production"},
			EnvironmentChanges: map[string]changes.Kind{"production": changes.Modified},
			Reasons:            []changes.Reason{{File: "stacks/shop/environments/production.yaml", Detail: "modified"}}},
		{Stack: "shopping-cart", Path: "stacks/cart", Change: changes.Added, Environments: []string{"dev"},
			EnvironmentChanges: map[string]changes.Kind{"dev": changes.Added}},
	}}
	for _, why := range []bool{false, true} {
		var out, errOut bytes.Buffer
		if err := printChangedText(&out, &errOut, &ChangedOptions{Why: why}, res, false); err != nil {
			t.Fatal(err)
		}
		var rows []string
		for _, l := range strings.Split(out.String(), "\n") {
			if l != "" && !strings.HasPrefix(l, " ") {
				rows = append(rows, l)
			}
		}
		if len(rows) != 3 {
			t.Fatalf("why=%v: rows %q", why, rows)
		}
		for _, col := range []string{"CHANGE", "ENVIRONMENTS", "PATH"} {
			at := strings.Index(rows[0], col)
			for _, r := range rows[1:] {
				if at >= len(r) || r[at-1] != ' ' || r[at] == ' ' {
					t.Errorf("why=%v: column %s (at %d) not aligned in %q\n%s", why, col, at, r, out.String())
				}
			}
		}
		if why && !strings.Contains(out.String(), "shop  ") || why != strings.Contains(out.String(), "production.yaml: modified") {
			t.Errorf("why=%v: output\n%s", why, out.String())
		}
	}
}
