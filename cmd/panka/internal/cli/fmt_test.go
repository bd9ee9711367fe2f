package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"panka.dev/panka/stacks"
)

// TestFmtManyFilesInOrder: fmt formats files in parallel and reports them
// in path order, problems too, as one at a time did; the files it
// rewrites are then formatted.
func TestFmtManyFilesInOrder(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("git", "-C", dir, "init", "-q").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	write := func(p, s string) {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var wantChanged, wantBroken []string
	for i := range 40 {
		d := fmt.Sprintf("stacks/team%d/s%02d", i%3, i)
		write(d+"/stack.yaml", fmt.Sprintf("apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: s%02d\nspec:\n  provider:\n    name: local\n", i))
		for c := range 6 {
			p := fmt.Sprintf("%s/services/c%d.yaml", d, c)
			switch (i + c) % 3 {
			case 0: // formatted
				write(p, fmt.Sprintf("apiVersion: core.panka.io/v1\nkind: MicroService\nmetadata:\n  name: c%d\nspec:\n  image: nginx:1\n", c))
			case 1: // not formatted
				write(p, fmt.Sprintf("apiVersion: core.panka.io/v1\nkind: MicroService\nmetadata:\n    name: c%d\nspec:\n    image: nginx:1\n", c))
				wantChanged = append(wantChanged, p)
			default: // broken
				write(p, "apiVersion: core.panka.io/v1\nkind: [\n")
				wantBroken = append(wantBroken, p)
			}
		}
	}
	slices.Sort(wantChanged)
	slices.Sort(wantBroken)
	run := func(check bool) (changed, broken []string) {
		ios, _, out, errOut := Test()
		f := NewFactory(ios)
		f.Getwd = func() (string, error) { return dir, nil }
		t.Setenv("HOME", t.TempDir())
		if err := fmtRun(t.Context(), &FmtOptions{F: f, Check: check}); err == nil {
			t.Fatal("fmt with broken files succeeded")
		}
		for l := range strings.Lines(errOut.String()) {
			if p, _, ok := strings.Cut(l, ":"); ok && strings.HasPrefix(p, "stacks/") {
				broken = append(broken, p)
			}
		}
		return strings.Fields(out.String()), broken
	}
	changed, broken := run(true)
	if !slices.Equal(changed, wantChanged) {
		t.Errorf("fmt --check listed %d files %q, want in order %q", len(changed), changed, wantChanged)
	}
	if !slices.Equal(broken, wantBroken) {
		t.Errorf("fmt --check reported %q, want in order %q", broken, wantBroken)
	}
	if changed, _ = run(false); !slices.Equal(changed, wantChanged) {
		t.Errorf("fmt rewrote %q, want %q", changed, wantChanged)
	}
	if changed, broken = run(true); len(changed) != 0 || !slices.Equal(broken, wantBroken) {
		t.Errorf("after fmt, fmt --check lists %q and reports %q; want none and the broken files", changed, broken)
	}
}

// TestFmtConcurrentRuns: two fmt runs at once (an editor formatting on
// save while a pre-commit hook runs fmt) each write a file of their own
// and rename it into place. They shared the name x.yaml.panka-fmt: one
// renamed the other's file away, which then failed with "rename ...: no
// such file or directory" (and could rename it half written).
func TestFmtConcurrentRuns(t *testing.T) {
	dir := t.TempDir()
	const unformatted = "spec:\n    image:   nginx:1\nmetadata:\n    name: c\nkind: MicroService\napiVersion: core.panka.io/v1\n"
	want, err := stacks.Format([]byte(unformatted))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for i := range 8 {
		files = append(files, fmt.Sprintf("stacks/s/services/c%d.yaml", i))
	}
	if err := os.MkdirAll(filepath.Join(dir, "stacks/s/services"), 0o755); err != nil {
		t.Fatal(err)
	}
	for round := range 30 {
		for _, p := range files {
			if err := os.WriteFile(filepath.Join(dir, p), []byte(unformatted), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4*len(files))
		start := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				<-start
				for _, p := range files {
					if _, err := fmtFile(dir, p, false); err != nil {
						errs <- err
					}
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, p := range files {
			if got, _ := os.ReadFile(filepath.Join(dir, p)); string(got) != string(want) {
				t.Fatalf("round %d: %s is %q, want %q", round, p, got, want)
			}
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "stacks/s/services/*.panka-fmt"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestFmtFileReads: fmtFile reads a file with osfile.Read (open, fstat,
// read, close) and falls back to the ordinary reads for their exact
// error; a rewritten file keeps its mode, taken only when it is written.
func TestFmtFileReads(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string, mode os.FileMode) {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("s/private.yaml", "metadata:\n    name: c\n", 0o600)
	write("s/big.yaml", "a: "+strings.Repeat("x", stacks.MaxFileSize)+"\n", 0o644)
	write("s/empty.yaml", "", 0o644)
	tests := []struct {
		path        string
		check       bool
		changed     bool
		wantProblem string
	}{
		{"s/private.yaml", true, true, ""},
		{"s/private.yaml", false, true, ""},
		{"s/private.yaml", true, false, ""},
		{"s/big.yaml", true, false, fmt.Sprintf("file is more than the %d MB limit for stack files", stacks.MaxFileSize>>20)},
		{"s/empty.yaml", true, false, ""},
		{"s/missing.yaml", true, false, "no such file or directory"},
	}
	for _, tt := range tests {
		o, err := fmtFile(dir, tt.path, tt.check)
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		problem := ""
		if o.problem != nil {
			problem = o.problem.Message
		}
		if o.changed != tt.changed || !strings.Contains(problem, tt.wantProblem) || (tt.wantProblem == "") != (problem == "") {
			t.Errorf("fmtFile(%s, check %v) = changed %v, problem %q; want %v, %q", tt.path, tt.check, o.changed, problem, tt.changed, tt.wantProblem)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "s/private.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("rewritten file has mode %v, want 0600", st.Mode().Perm())
	}
}
