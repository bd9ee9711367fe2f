package planner

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzDeployedModel feeds arbitrary bytes as the deployed model (the spec
// of a state.json, which a user or another tool may have edited): it
// decodes or is an error, and plans against the desired model, renders
// and re-encodes without a panic.
func FuzzDeployedModel(f *testing.F) {
	f.Add([]byte(base().Canonical()))
	f.Add([]byte(`{"stack":"orders","components":[{"name":"api","kind":"MicroService","spec":null},{"name":"api"}]}`))
	f.Add([]byte(`{"components":[{"name":"x","kind":"Nope","dependsOn":["x","y"],"spec":{"a":[1e400]}}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeModel(b)
		if err != nil {
			return
		}
		_ = m.Canonical()
		for _, p := range []*Result{Plan(base(), m, Options{}), Plan(m, base(), Options{}), Plan(m, m, Options{})} {
			if err := p.WriteText(io.Discard, TextOptions{}); err != nil {
				t.Fatalf("render: %v", err)
			}
		}
	})
}

// FuzzLoadSaved feeds arbitrary files to apply's saved-plan reader: a
// plan or an error naming the file, never a panic.
func FuzzLoadSaved(f *testing.F) {
	dir := f.TempDir()
	p := Plan(base(), nil, Options{Header: Header{Desired: Desired{Source: "worktree", Commit: strings.Repeat("8c1f", 10)}}})
	path := filepath.Join(dir, "plan.json")
	if err := NewSaved(p, base(), map[string]string{"A": "b", "S": "sensitive:hmac-sha256:11"}, time.Unix(0, 0), "test").Write(path); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"kind":"panka-plan","formatVersion":1,"plan":{},"desired":{"components":[{}]}}`))
	f.Add([]byte(`{"kind":"panka-plan","plan":{"changes":null},"desired":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "plan.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := LoadSaved(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		_, _ = s.VarValues()
		_ = s.Check(0, "", "")
		m, err := s.DesiredModel()
		if err != nil || m == nil {
			return
		}
		_ = m.Hash()
		if err := s.Plan.WriteText(io.Discard, TextOptions{}); err != nil {
			t.Fatalf("render: %v", err)
		}
	})
}
