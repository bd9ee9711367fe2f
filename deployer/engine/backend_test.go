package engine

import (
	"net/url"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// TestStackNameLength: stack and environment names may be 63 characters
// each, Pulumi stack names 100 at most. A stack of 60 characters with an
// environment of 50 passed validate and plan, and apply failed to start
// the engine with Pulumi's "a stack name cannot exceed 100 characters".
// Longer pairs are shortened, stay distinct and valid; the names that
// always worked do not change (their deployments are found under them).
func TestStackNameLength(t *testing.T) {
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	if got := StackName("shop", "dev"); got != "shop-dev" {
		t.Errorf("StackName(shop, dev) = %q", got)
	}
	if got, want := StackName(long("s", 50), long("e", 49)), long("s", 50)+"-"+long("e", 49); got != want {
		t.Errorf("a name of 100 characters changed: %q", got)
	}
	seen := map[string]bool{}
	for _, p := range [][2]string{
		{long("s", 60), long("e", 50)},
		{long("s", 63), long("e", 63)},
		{long("s", 63), long("e", 62) + "f"},
		{long("s", 50), long("e", 50)},
	} {
		name := StackName(p[0], p[1])
		if len(name) > 100 {
			t.Errorf("StackName(%d, %d chars) has %d characters", len(p[0]), len(p[1]), len(name))
		}
		if _, err := tokens.ParseStackName(name); err != nil {
			t.Errorf("StackName(%d, %d chars) = %q: %v", len(p[0]), len(p[1]), name, err)
		}
		if seen[name] {
			t.Errorf("StackName(%d, %d chars) = %q twice", len(p[0]), len(p[1]), name)
		}
		seen[name] = true
		if !strings.HasPrefix(name, long("s", 50)) {
			t.Errorf("%q does not start with the stack's name", name)
		}
	}
}

// TestFileBackendURLEscapesThePath: Pulumi parses the DIY backend URL, so
// a local state folder under a path with '#', '?', '%' or a space (a
// checkout under ~/src/C#/) was cut at the '#' ("stat .../C: no such file
// or directory") or refused as an invalid escape. The URL escapes the
// path, and parses back to it; plain paths keep the URL they always had.
func TestFileBackendURLEscapesThePath(t *testing.T) {
	if got := FileBackendURL("/tmp/state"); got != "file:///tmp/state" {
		t.Errorf("FileBackendURL(/tmp/state) = %q, want file:///tmp/state", got)
	}
	for _, dir := range []string{"/src/C#/app/.panka/state", "/tmp/a b/x", "/tmp/100%/x", "/tmp/what?/x"} {
		got := FileBackendURL(dir)
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "file" || u.Path != dir || u.RawQuery != "" || u.Fragment != "" {
			t.Errorf("FileBackendURL(%q) = %q, which parses to path %q (query %q, fragment %q, %v)", dir, got, u.Path, u.RawQuery, u.Fragment, err)
		}
	}
}
