package cli

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

// foldedFS opens names case-insensitively, as the disk of a Mac does; its
// listings keep the names as written.
type foldedFS struct{ m fstest.MapFS }

func (f foldedFS) Open(name string) (fs.File, error) {
	for k := range f.m {
		if strings.EqualFold(k, name) {
			return f.m.Open(k)
		}
		if strings.HasPrefix(strings.ToLower(k), strings.ToLower(name)+"/") {
			return f.m.Open(k[:len(name)])
		}
	}
	return f.m.Open(name)
}

// TestWatchGlobMatches: a glob matches a file or a folder below its
// literal folders, spelled exactly (spec.watch, like git, tells
// shared/case.json from shared/Case.json, though a case-insensitive disk
// opens one for the other).
func TestWatchGlobMatches(t *testing.T) {
	fsys := foldedFS{fstest.MapFS{
		"shared/Case.json":          {Data: []byte("{}")},
		"shared/schema/order.json":  {Data: []byte("{}")},
		"docs/deep/er/readme.md":    {Data: []byte("x")},
		".git/shared/x.json":        {Data: []byte("x")},
		"stacks/orders/stack.yaml":  {Data: []byte("x")},
		"stacks/orders/infra/q.yml": {Data: []byte("x")},
	}}
	for g, want := range map[string]bool{
		"shared/Case.json":     true,
		"shared/case.json":     false,
		"Shared/Case.json":     false,
		"shared/schema":        true,
		"shared/Schema/*.json": false,
		"shared/schema/*.json": true,
		"shared/*.json":        true,
		"shared/*.yaml":        false,
		"docs/**/readme.md":    true,
		"**/readme.md":         true,
		"**/x.json":            false, // only inside .git
		"docs/":                true,
		"./docs/deep":          true,
		"nothere/**":           false,
		"stacks/*/infra/*.yml": true,
	} {
		if got := watchGlobMatches(fsys, g); got != want {
			t.Errorf("watchGlobMatches(%q) = %v, want %v", g, got, want)
		}
	}
}
