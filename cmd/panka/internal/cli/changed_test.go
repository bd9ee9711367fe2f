package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// TestChangedTextControlPath: a stack folder whose name holds a newline or
// a tab (git allows it, and quotes it in its own output) is printed quoted,
// whole, on its row; it neither splits the table (losing the rest of the
// path and shifting the --why lines of the next stacks) nor misaligns it.
func TestChangedTextControlPath(t *testing.T) {
	res := &changes.Result{Base: strings.Repeat("a", 40), Head: strings.Repeat("b", 40), Stacks: []*changes.Stack{
		{Stack: "cart", Path: "stacks/new\nline", OldPath: "stacks/tab\there", Change: changes.Moved, Environments: []string{},
			EnvironmentChanges: map[string]changes.Kind{},
			Reasons:            []changes.Reason{{File: "stacks/new\nline/stack.yaml", Detail: "renamed from stacks/tab\there/stack.yaml"}}},
		{Stack: "shop", Path: "stacks/shop", Change: changes.Added, Environments: []string{"dev"},
			EnvironmentChanges: map[string]changes.Kind{"dev": changes.Added},
			Reasons:            []changes.Reason{{File: "stacks/shop/stack.yaml", Detail: "added"}}},
	}}
	var out, errOut bytes.Buffer
	if err := printChangedText(&out, &errOut, &ChangedOptions{Why: true}, res, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{
		`STACK  CHANGE  ENVIRONMENTS  PATH`,
		`cart   moved   -             "stacks/tab\there" -> "stacks/new\nline"`,
		`    "stacks/new\nline/stack.yaml": renamed from stacks/tab\there/stack.yaml`,
		`shop   added   dev (added)   stacks/shop`,
		`    stacks/shop/stack.yaml: added`,
	}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}
}

// TestChangedGitHubMatrixLimit: a matrix of more than 256 entries, which
// GitHub Actions refuses (failing the job with nothing said by panka), is
// still printed as valid JSON on stdout, with a warning on stderr naming
// the count and how to split it; 256 entries are said nothing of.
func TestChangedGitHubMatrixLimit(t *testing.T) {
	for _, tc := range []struct {
		stacks int
		warn   bool
	}{{128, false}, {129, true}} {
		res := &changes.Result{Base: strings.Repeat("a", 40), Head: strings.Repeat("b", 40)}
		for i := range tc.stacks {
			res.Stacks = append(res.Stacks, &changes.Stack{Stack: fmt.Sprintf("s%03d", i), Path: fmt.Sprintf("stacks/s%03d", i),
				Change: changes.Modified, Environments: []string{"dev", "prod"},
				EnvironmentChanges: map[string]changes.Kind{"dev": changes.Modified, "prod": changes.Modified}})
		}
		ios, _, out, errOut := Test()
		f := NewFactory(ios)
		f.Flags.Output = "github-matrix"
		if err := printChanged(f, &ChangedOptions{}, res, nil); err != nil {
			t.Fatal(err)
		}
		var m struct {
			Include []map[string]string `json:"include"`
		}
		if err := json.Unmarshal(out.Bytes(), &m); err != nil || len(m.Include) != 2*tc.stacks {
			t.Fatalf("%d stacks: stdout is not the matrix (%v): %.200s", tc.stacks, err, out.String())
		}
		warned := strings.Contains(errOut.String(), "Warning: 258 stack/environments changed: more than the 256 jobs a GitHub Actions matrix may have") &&
			strings.Contains(errOut.String(), "--stack/--environment")
		if warned != tc.warn || !tc.warn && errOut.Len() > 0 {
			t.Errorf("%d stacks: stderr %q", tc.stacks, errOut.String())
		}
	}
}
