package stacks

import (
	"io/fs"
	"math/rand"
	"os"
	"reflect"
	"sort"
	"sync"
	"testing"
	"testing/fstest"
)

// countFS counts Open and ReadDir calls per name.
type countFS struct {
	fs.FS
	mu    sync.Mutex
	opens map[string]int
	dirs  map[string]int
}

func newCountFS(fsys fs.FS) *countFS {
	return &countFS{FS: fsys, opens: map[string]int{}, dirs: map[string]int{}}
}

func (c *countFS) Open(name string) (fs.File, error) {
	c.mu.Lock()
	c.opens[name]++
	c.mu.Unlock()
	return c.FS.Open(name)
}

func (c *countFS) ReadDir(name string) ([]fs.DirEntry, error) {
	c.mu.Lock()
	c.dirs[name]++
	c.mu.Unlock()
	return fs.ReadDir(c.FS, name)
}

// loadOutcome is everything observable about a Load: the stack's accessors,
// every environment's resolved model (or error), or the load error.
func loadOutcome(t *testing.T, s *Stack, err error) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err != nil {
		out["error"] = err.Error()
		return out
	}
	h := s.Header()
	out["header"] = h.Name + " " + h.Path + " " + s.File()
	for _, c := range s.ComponentNames() {
		out["component "+c] = s.ComponentFile(c)
	}
	envs := append(s.Environments(), "")
	sort.Strings(envs)
	for _, e := range envs {
		out["envfile "+e] = s.EnvironmentFile(e)
		r, err := s.Resolve(e, ResolveOptions{Lenient: true})
		if err != nil {
			out["env "+e] = err.Error()
			continue
		}
		out["env "+e] = string(r.Canonical())
	}
	if err := s.Validate(ResolveOptions{}); err != nil {
		out["validate"] = err.Error()
	}
	return out
}

// TestDiscoveryLoad: DiscoverStacks finds what Discover finds, and its Load
// gives what Load gives, without reading stack.yaml or listing the stack
// folder again.
func TestDiscoveryLoad(t *testing.T) {
	broken := testFS(map[string]string{cf: ms("replicas: many"), "stacks/s/environments/dev.yaml": "kind: Environment\n"})
	broken["stacks/t/stack.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: t\n  bad: 1\nspec: {}\n")}
	broken["stacks/u/stack.yaml"] = &fstest.MapFile{Data: []byte("metadata: [\n")}
	broken["stacks/v/stack.yaml"] = &fstest.MapFile{Data: []byte(doc("Stack", "t"))}
	tests := []struct {
		name string
		fsys fs.FS
	}{
		{"examples", os.DirFS("../testdata/examples")},
		{"quickstart", os.DirFS("../testdata/quickstart")},
		{"broken", broken},
		{"missing root", fstest.MapFS{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRefs, wantErr := Discover(tt.fsys, "stacks")
			cfs := newCountFS(tt.fsys)
			d, err := DiscoverStacks(cfs, "stacks")
			if !reflect.DeepEqual(d.Refs, wantRefs) || (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Fatalf("DiscoverStacks = %v, %v; Discover = %v, %v", d.Refs, err, wantRefs, wantErr)
			}
			refs := append([]Ref(nil), d.Refs...)
			// A stack folder whose stack.yaml discovery could not use still loads.
			for _, p := range []string{"stacks/u", "stacks/v", "stacks/nope"} {
				refs = append(refs, Ref{Name: "x", Path: p})
			}
			for _, r := range refs {
				s, err := Load(tt.fsys, r.Path)
				want := loadOutcome(t, s, err)
				before := len(cfs.opens) + len(cfs.dirs)
				opens, dirs := cfs.opens[r.Path+"/"+StackFile], cfs.dirs[r.Path]
				s, err = d.Load(r)
				if got := loadOutcome(t, s, err); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: Discovery.Load:\n%v\nLoad:\n%v", r.Path, got, want)
				}
				if !hasRef(d.Refs, r) {
					continue
				}
				if cfs.opens[r.Path+"/"+StackFile] != opens || cfs.dirs[r.Path] != dirs {
					t.Errorf("%s: Discovery.Load read %s or listed the folder again", r.Path, StackFile)
				}
				if len(cfs.opens)+len(cfs.dirs) == before && len(want) > 1 {
					t.Errorf("%s: Discovery.Load read nothing else", r.Path)
				}
			}
		})
	}
}

func hasRef(xs []Ref, x Ref) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// The parallel search for stack folders finds what a search in order finds,
// in the same order.
func TestFindStackDirsParallel(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	names := []string{"a", "a-b", "b", ".hidden", "node_modules", "c", "a.b"}
	for i := 0; i < 300; i++ {
		fsys := fstest.MapFS{}
		for j := r.Intn(20); j >= 0; j-- {
			p := "stacks"
			for k := r.Intn(4); k >= 0; k-- {
				p += "/" + names[r.Intn(len(names))]
			}
			file := "x.yaml"
			if r.Intn(2) == 0 {
				file = StackFile
			}
			fsys[p+"/"+file] = &fstest.MapFile{Data: []byte("a: 1\n")}
		}
		var par, seq []stackDir
		var parListed, seqListed []string
		errPar := findStackDirs(fsys, "stacks", &par, &parListed)
		errSeq := findStackDirsIn(fsys, "stacks", &seq, &seqListed, false)
		if !reflect.DeepEqual(par, seq) || !reflect.DeepEqual(parListed, seqListed) || (errPar == nil) != (errSeq == nil) {
			t.Fatalf("parallel search: %v, %v, %v; in order: %v, %v, %v", par, parListed, errPar, seq, seqListed, errSeq)
		}
	}
}

// raFS records the ReadAhead calls of a file system that reads files
// faster together (readAheader: gitops' views of a partial clone).
type raFS struct {
	*countFS
	calls [][]string
}

func (r *raFS) ReadAhead(names []string) {
	r.mu.Lock()
	r.calls = append(r.calls, append([]string(nil), names...))
	r.mu.Unlock()
}

// TestDiscoveryReadAhead: on a file system that reads files faster
// together, discovery names every stack.yaml it is about to read, and
// Discovery.ReadAhead every other file loading the stacks reads, each in
// one call (a partial clone fetches them in one request: `panka validate`
// of 400 stacks in a blobless sparse clone took 126 s, one fetch per file).
func TestDiscoveryReadAhead(t *testing.T) {
	fsys := &raFS{countFS: newCountFS(os.DirFS("../testdata/examples"))}
	d, err := DiscoverStacks(fsys, "stacks")
	if err != nil || len(d.Refs) < 2 {
		t.Fatalf("DiscoverStacks = %v, %v; want 2 stacks or more", d.Refs, err)
	}
	var stackFiles []string
	for _, r := range d.Refs {
		stackFiles = append(stackFiles, r.Path+"/"+StackFile)
	}
	if len(fsys.calls) != 1 || !reflect.DeepEqual(sorted(fsys.calls[0]), sorted(stackFiles)) {
		t.Fatalf("discovery read ahead %q, want %q", fsys.calls, stackFiles)
	}
	d.ReadAhead(d.Refs)
	if len(fsys.calls) != 2 {
		t.Fatalf("Discovery.ReadAhead: %d calls, want 1", len(fsys.calls)-1)
	}
	ahead := map[string]bool{}
	for _, n := range fsys.calls[1] {
		ahead[n] = true
	}
	fsys.opens = map[string]int{}
	for _, r := range d.Refs {
		if _, err := d.Load(r); err != nil {
			t.Fatal(err)
		}
	}
	if len(fsys.opens) == 0 {
		t.Fatal("loading read no file")
	}
	for n := range fsys.opens {
		if !ahead[n] {
			t.Errorf("loading read %s, which was not read ahead (%q)", n, fsys.calls[1])
		}
	}
	for n := range ahead {
		if fsys.opens[n] == 0 {
			t.Errorf("%s was read ahead, but loading does not read it", n)
		}
	}
}

func sorted(xs []string) []string {
	xs = append([]string(nil), xs...)
	sort.Strings(xs)
	return xs
}

// TestLoadReadAhead: loading one stack (show, plan, apply of a stack) on
// a file system that reads files faster together names, in one call, the
// files it then reads (a partial sparse clone fetched each on its own).
func TestLoadReadAhead(t *testing.T) {
	for _, dir := range []string{"stacks/orders", "stacks/user-platform"} {
		fsys := &raFS{countFS: newCountFS(os.DirFS("../testdata/examples"))}
		if _, err := Load(fsys, dir); err != nil {
			t.Fatal(err)
		}
		if len(fsys.calls) != 1 {
			t.Fatalf("%s: %d ReadAhead calls, want 1", dir, len(fsys.calls))
		}
		var opened []string
		for n := range fsys.opens {
			if n != dir+"/"+StackFile {
				opened = append(opened, n)
			}
		}
		if !reflect.DeepEqual(sorted(fsys.calls[0]), sorted(opened)) {
			t.Errorf("%s: read ahead %q, then read %q", dir, fsys.calls[0], opened)
		}
	}
}
