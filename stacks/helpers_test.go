package stacks

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// stackYAML is the stack.yaml of the test stack "s" (line numbers matter:
// tests assert positions).
const stackYAML = `apiVersion: core.panka.io/v1
kind: Stack
metadata:
  name: s
spec:
  provider:
    name: aws
    region: eu-west-1
  variables:
    TAG:
      default: "1"
    HOST:
      required: true
    KEY:
      secret: true
`

const devYAML = `apiVersion: core.panka.io/v1
kind: Environment
metadata:
  name: dev
spec:
  variables:
    HOST: dev.example
`

// doc returns a document of kind/name whose spec lines start at line 6.
func doc(kind, name string, spec ...string) string {
	s := "apiVersion: core.panka.io/v1\nkind: " + kind + "\nmetadata:\n  name: " + name + "\nspec:"
	if len(spec) == 0 {
		return s + " {}\n"
	}
	s += "\n"
	for _, l := range spec {
		s += "  " + l + "\n"
	}
	return s
}

// testFS is a repo with stack "s" (dev environment) plus files; a file
// mapped to "" is removed.
func testFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{
		"stacks/s/stack.yaml":            {Data: []byte(stackYAML)},
		"stacks/s/environments/dev.yaml": {Data: []byte(devYAML)},
	}
	for k, v := range files {
		if v == "" {
			delete(m, k)
			continue
		}
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

// errLines returns the lines of an *Errors (fails on other errors).
func errStrings(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var es *Errors
	if !errors.As(err, &es) {
		return []string{err.Error()}
	}
	out := make([]string, len(es.List))
	for i, e := range es.List {
		out[i] = e.Error()
	}
	return out
}

// wantErrs checks that every want is a substring of some error line and
// that there are exactly len(want) lines.
func wantErrs(t *testing.T, err error, want ...string) {
	t.Helper()
	got := errStrings(t, err)
	for _, w := range want {
		found := false
		for _, g := range got {
			if strings.Contains(g, w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("missing error %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d errors, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
}

// loadResolve loads stack s and resolves env with opts (HOST given by dev.yaml).
func loadResolve(fsys fstest.MapFS, env string, opts ResolveOptions) (*Resolved, error) {
	s, err := Load(fsys, "stacks/s")
	if err != nil {
		return nil, err
	}
	return s.Resolve(env, opts)
}
