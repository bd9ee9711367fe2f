package stacks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestDiscover(t *testing.T) {
	stack := func(name string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(doc("Stack", name))} }
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		root    string
		want    []Ref
		wantErr string
	}{
		{"nested folders, sorted by name", fstest.MapFS{
			"stacks/b/stack.yaml":          stack("zeta"),
			"stacks/team/a/stack.yaml":     stack("alpha"),
			"stacks/team/a/sub/stack.yaml": stack("ignored-nested"),
			"stacks/.hidden/stack.yaml":    stack("hidden"),
			"other/stack.yaml":             stack("outside"),
		}, "stacks", []Ref{{"alpha", "stacks/team/a"}, {"zeta", "stacks/b"}}, ""},
		{"identity is metadata.name, not the folder", fstest.MapFS{"stacks/folder/stack.yaml": stack("real-name")}, "stacks",
			[]Ref{{"real-name", "stacks/folder"}}, ""},
		{"missing root is empty", fstest.MapFS{}, "stacks", nil, ""},
		{"root dot", fstest.MapFS{"x/stack.yaml": stack("x")}, ".", []Ref{{"x", "x"}}, ""},
		{"duplicate names", fstest.MapFS{"stacks/a/stack.yaml": stack("same"), "stacks/b/stack.yaml": stack("same")}, "stacks",
			[]Ref{{"same", "stacks/a"}}, `stacks/b/stack.yaml:4:9: metadata.name: stack name "same" is used by both stacks/a and stacks/b: stack names must be unique, rename one`},
		{"bad stack name", fstest.MapFS{"stacks/a/stack.yaml": stack("Bad_Name")}, "stacks", nil,
			`stacks/a/stack.yaml:4:9: metadata.name: invalid name "Bad_Name"`},
		{"no name", fstest.MapFS{"stacks/a/stack.yaml": {Data: []byte("kind: Stack\n")}}, "stacks", nil,
			`stacks/a/stack.yaml:1:1: metadata.name: required field is missing`},
		{"null name", fstest.MapFS{"stacks/a/stack.yaml": {Data: []byte("kind: Stack\nmetadata:\n  name: ~\n")}}, "stacks", nil,
			`stacks/a/stack.yaml:3:9: metadata.name: required field is empty (null): give the stack its name`},
		{"null metadata", fstest.MapFS{"stacks/a/stack.yaml": {Data: []byte("kind: Stack\nmetadata:\nname: a\n")}}, "stacks", nil,
			`stacks/a/stack.yaml:2:10: metadata: required field is empty (null): add name: <name> on the next line, indented under metadata`},
		{"name not a string", fstest.MapFS{"stacks/a/stack.yaml": {Data: []byte("kind: Stack\nmetadata: {name: [x]}\n")}}, "stacks", nil,
			`stacks/a/stack.yaml:2:18: metadata.name: want a string, got a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Discover(tt.fsys, tt.root)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDiscoverDuplicates: every folder of a name used more than once is in
// Discovery.Duplicates (Refs keeps the first only), so commands can refuse
// the name instead of picking a folder.
func TestDiscoverDuplicates(t *testing.T) {
	stack := func(name string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(doc("Stack", name))} }
	d, err := DiscoverStacks(fstest.MapFS{
		"stacks/c/stack.yaml": stack("same"),
		"stacks/a/stack.yaml": stack("same"),
		"stacks/b/stack.yaml": stack("same"),
		"stacks/d/stack.yaml": stack("other"),
	}, "stacks")
	if err == nil {
		t.Fatal("no error for duplicate names")
	}
	want := map[string][]string{"same": {"stacks/a", "stacks/b", "stacks/c"}}
	if !reflect.DeepEqual(d.Duplicates, want) {
		t.Errorf("Duplicates = %v, want %v", d.Duplicates, want)
	}
	if wantRefs := []Ref{{"other", "stacks/d"}, {"same", "stacks/a"}}; !reflect.DeepEqual(d.Refs, wantRefs) {
		t.Errorf("Refs = %v, want %v", d.Refs, wantRefs)
	}
}

func TestStrays(t *testing.T) {
	fsys := fstest.MapFS{
		"stacks/a/stack.yaml":                {Data: []byte(doc("Stack", "a"))},
		"stacks/a/infra/db.yaml":             {Data: []byte(doc("Database", "db"))},
		"stacks/lost/infra/q.yaml":           {Data: []byte(doc("Queue", "q"))},
		"stacks/lost/README.md":              {Data: []byte("hi")},
		"stacks/.github/ci.yaml":             {Data: []byte("x: 1")},
		"stacks/typo/stack.yml.yaml":         {Data: []byte(doc("Stack", "typo"))},
		"stacks/moved/environments/dev.yaml": {Data: []byte(doc("Environment", "dev"))},
		"stacks/environments/dev.yaml":       {Data: []byte(doc("Environment", "dev"))},
		// stack.yml for stack.yaml: every file of the stack said "add
		// stacks/yml/stack.yaml", the stack file itself too.
		"stacks/yml/stack.yml":             {Data: []byte(doc("Stack", "yml"))},
		"stacks/yml/infra/q.yaml":          {Data: []byte(doc("Queue", "q"))},
		"stacks/yml/environments/dev.yaml": {Data: []byte(doc("Environment", "dev"))},
		// Stack.yaml: a case-insensitive disk (macOS) opens it as
		// stack.yaml, git and every CI runner do not.
		"stacks/upper/Stack.yaml":            {Data: []byte(doc("Stack", "upper"))},
		"stacks/upper/environments/dev.yaml": {Data: []byte(doc("Environment", "dev"))},
	}
	refs, err := Discover(fsys, "stacks")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range Strays(fsys, "stacks", refs) {
		got = append(got, e.Error())
	}
	want := []string{
		"stacks/environments/dev.yaml: YAML file outside any stack: stacks/environments has no stack.yaml (nor any folder above it under stacks); add stacks/environments/stack.yaml with kind: Stack, or move the file into a stack",
		"stacks/lost/infra/q.yaml: YAML file outside any stack: stacks/lost/infra has no stack.yaml (nor any folder above it under stacks); add stacks/lost/infra/stack.yaml with kind: Stack, or move the file into a stack",
		// An environment file's stack.yaml goes in the stack folder.
		"stacks/moved/environments/dev.yaml: YAML file outside any stack: stacks/moved/environments has no stack.yaml (nor any folder above it under stacks); add stacks/moved/stack.yaml with kind: Stack, or move the file into a stack",
		"stacks/typo/stack.yml.yaml: YAML file outside any stack: stacks/typo has no stack.yaml (nor any folder above it under stacks); add stacks/typo/stack.yaml with kind: Stack, or move the file into a stack",
		"stacks/upper/Stack.yaml: a stack file is named stack.yaml, not Stack.yaml: rename it (git mv stacks/upper/Stack.yaml stacks/upper/stack.yaml)",
		"stacks/upper/environments/dev.yaml: YAML file outside any stack: stacks/upper/Stack.yaml is named Stack.yaml, not stack.yaml, so stacks/upper is not a stack: rename it (git mv stacks/upper/Stack.yaml stacks/upper/stack.yaml)",
		"stacks/yml/environments/dev.yaml: YAML file outside any stack: stacks/yml/stack.yml is named stack.yml, not stack.yaml, so stacks/yml is not a stack: rename it (git mv stacks/yml/stack.yml stacks/yml/stack.yaml)",
		"stacks/yml/infra/q.yaml: YAML file outside any stack: stacks/yml/stack.yml is named stack.yml, not stack.yaml, so stacks/yml is not a stack: rename it (git mv stacks/yml/stack.yml stacks/yml/stack.yaml)",
		"stacks/yml/stack.yml: a stack file is named stack.yaml, not stack.yml: rename it (git mv stacks/yml/stack.yml stacks/yml/stack.yaml)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// StrayFile, for one file (a pre-push hook's changed ones), says the
	// same of each file as Strays, and nothing of the others.
	got = nil
	for _, p := range append(slices.Sorted(maps.Keys(fsys)), "stacks/a/missing.yaml", "elsewhere/x.yaml") {
		if e := StrayFile(fsys, "stacks", p); e != nil {
			got = append(got, e.Error())
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("StrayFile: got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if e := StrayFile(fstest.MapFS{"stack.yaml": {Data: []byte(doc("Stack", "a"))}, "x/q.yaml": {}}, ".", "x/q.yaml"); e != nil {
		t.Errorf("StrayFile under a stack at the root: %v", e)
	}
	// With the stacks root at the repository's root (stacks.root: .),
	// the repository's panka.yaml is its configuration, not a stray
	// stack file: validate refused every such repository.
	atRoot := fstest.MapFS{
		"panka.yaml":        {Data: []byte("stacks:\n  root: .\n")},
		"a/stack.yaml":      {Data: []byte(doc("Stack", "a"))},
		"lost/panka.yaml":   {Data: []byte(doc("Queue", "q"))},
		"compose.yaml":      {Data: []byte("services: {}\n")},
		"a/infra/panka.yml": {Data: []byte(doc("Queue", "q"))},
	}
	refs, err = Discover(atRoot, ".")
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, e := range Strays(atRoot, ".", refs) {
		got = append(got, e.File)
	}
	for _, p := range slices.Sorted(maps.Keys(atRoot)) {
		if e := StrayFile(atRoot, ".", p); e != nil {
			got = append(got, "StrayFile "+e.File)
		}
	}
	if want := []string{"compose.yaml", "lost/panka.yaml", "StrayFile compose.yaml", "StrayFile lost/panka.yaml"}; !reflect.DeepEqual(got, want) {
		t.Errorf("stacks root at the repository root: strays %q, want %q", got, want)
	}
}

func TestReadHeader(t *testing.T) {
	fsys := testFS(map[string]string{
		"stacks/s/stack.yaml":                stackYAML + "  watch: ['shared/**']\n  backend:\n    bucket: team-state\n    prefix: teams/a/\n",
		"stacks/s/environments/prod.yml":     doc("Environment", "prod"),
		"stacks/s/environments/notes.txt":    "x",
		"stacks/s/environments/old/dev.yaml": "broken: [",
	})
	h, err := ReadHeader(fsys, "stacks/s")
	if err != nil {
		t.Fatal(err)
	}
	want := &Header{Ref: Ref{"s", "stacks/s"}, Watch: []string{"shared/**"},
		Backend:      map[string]string{"backend.bucket": "team-state", "backend.prefix": "teams/a/"},
		BackendLines: map[string]int{"backend.bucket": 18, "backend.prefix": 19}, // stack.yaml lines, for config sources
		Environments: []string{"dev", "prod"}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got %+v, want %+v", h, want)
	}
	if _, err := ReadHeader(fsys, "stacks/none"); !errors.Is(err, ErrNoStack) || err.Error() != "stacks/none/stack.yaml: no stack.yaml: stacks/none is not a stack (create stack.yaml with kind: Stack, or run `panka stack init`)" {
		t.Errorf("missing stack.yaml: %v", err)
	}
	if _, err := Load(fsys, "stacks/none"); !errors.Is(err, ErrNoStack) {
		t.Errorf("Load without stack.yaml: %v", err)
	}
}

// TestParseHeader: ParseHeader reads the same header as ReadHeader from
// the bytes of a stack.yaml alone (no environments: it lists no folder),
// and reports its errors at the same file:line.
func TestParseHeader(t *testing.T) {
	data := stackYAML + "  backend:\n    prefix: teams/a/\n"
	fsys := testFS(map[string]string{"stacks/s/stack.yaml": data})
	want, err := ReadHeader(fsys, "stacks/s")
	if err != nil {
		t.Fatal(err)
	}
	want.Environments = nil
	got, err := ParseHeader("stacks/s", []byte(data))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	bad := stackYAML + "  backend:\n    prefix: a//b\n"
	_, rerr := ReadHeader(testFS(map[string]string{"stacks/s/stack.yaml": bad}), "stacks/s")
	if _, perr := ParseHeader("stacks/s", []byte(bad)); perr == nil || rerr == nil || perr.Error() != rerr.Error() {
		t.Errorf("bad backend: ParseHeader %v, ReadHeader %v", perr, rerr)
	}
	if _, err := ParseHeader("stacks/s", nil); err == nil || !strings.Contains(err.Error(), "stacks/s/stack.yaml:1: empty stack.yaml") {
		t.Errorf("empty: %v", err)
	}
}

// TestHeaderBackendChecked: spec.backend values that the store would refuse
// when a command opens it (a bucket name S3 refuses, a prefix with an empty,
// . or .. segment, a region name the AWS SDK refuses, an endpoint with a path) are errors with file:line, so
// validate (and a pre-push hook) reports them instead of every plan failing;
// the values the stores accept, and empty ones that clear a setting, load.
func TestHeaderBackendChecked(t *testing.T) {
	for _, ok := range []string{"bucket: team-state", "bucket: a.b-1", `bucket: ""`, "prefix: teams/a/", "prefix: /x/..y/.z", `prefix: ""`,
		"endpoint: http://127.0.0.1:7070", "endpoint: https://s3.example.com/", "endpoint: HTTP://minio:9000",
		"region: eu-west-1", "region: auto", `region: ""`} {
		fsys := testFS(map[string]string{"stacks/s/stack.yaml": stackYAML + "  backend:\n    " + ok + "\n"})
		if _, err := ReadHeader(fsys, "stacks/s"); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, c := range []struct{ line, want string }{
		{"bucket: Team_State", `stacks/s/stack.yaml:17:13: spec.backend.bucket: "Team_State" is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or a digit)`},
		{"bucket: ab", `spec.backend.bucket: "ab" is not an S3 bucket name`},
		{"prefix: a//b", `stacks/s/stack.yaml:17:13: spec.backend.prefix: "a//b" is not a key prefix of '/'-separated names (none empty, . or .., no backslash), e.g. team-a/`},
		{"prefix: ../x", `spec.backend.prefix: "../x" is not a key prefix`},
		{"prefix: a/./b", `spec.backend.prefix: "a/./b" is not a key prefix`},
		{`prefix: 'a\b'`, `is not a key prefix`},
		{"endpoint: http://127.0.0.1:7070/state", `stacks/s/stack.yaml:17:15: spec.backend.endpoint: "http://127.0.0.1:7070/state" is not the server's http:// or https:// URL without a path, e.g. http://127.0.0.1:7070`},
		{"endpoint: 127.0.0.1:7070", `spec.backend.endpoint: "127.0.0.1:7070" is not the server's http:// or https:// URL`},
		{`region: "us-east-1 "`, `stacks/s/stack.yaml:17:13: spec.backend.region: "us-east-1 " is not a region name (letters, digits and hyphens), e.g. us-east-1`},
		{"region: us_east_1", `spec.backend.region: "us_east_1" is not a region name`},
	} {
		fsys := testFS(map[string]string{"stacks/s/stack.yaml": stackYAML + "  backend:\n    " + c.line + "\n"})
		_, herr := ReadHeader(fsys, "stacks/s")
		_, lerr := Load(fsys, "stacks/s")
		for _, err := range []error{herr, lerr} {
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: got %v, want %s", c.line, err, c.want)
			}
		}
	}
}

func TestGuards(t *testing.T) {
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i, c := range "bcdefghij" {
		prev := string("abcdefghij"[i])
		bomb += string(c) + ": &" + string(c) + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
	}
	big := "apiVersion: core.panka.io/v1\nkind: Bucket\nmetadata:\n  name: b\nspec: {}\n# " + strings.Repeat("x", MaxFileSize) + "\n"
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	many := manyProblems(50_000)
	// Block-style nesting past the limit, and a flat list past the node
	// budget: neither has an alias, so the error must not blame aliases.
	var deepBlock strings.Builder
	deepBlock.WriteString("spec:\n")
	for i := range 1100 {
		deepBlock.WriteString(strings.Repeat(" ", i+1) + "- \n")
	}
	wide := "spec: [" + strings.Repeat("1,", 210_000) + "1]\n"
	tests := []struct {
		name, data, want string
	}{
		{"billion laughs", bomb, cf + ":5:36: document expands to too many values"},
		{"file too big", big, fmt.Sprintf("%s: file is %d bytes, more than the 1 MB limit for stack files", cf, len(big))},
		{"deep nesting", deep, cf + ":1"},
		{"deep block nesting", deepBlock.String(), cf + ":1002:1002: values nested deeper than 1000 levels: stack files need a few; flatten the structure"},
		{"too many values", wide, ": document holds more than 200000 values: split it into several files or documents"},
		// Every problem is reported, and the message of 50,000 of them
		// is built in linear time.
		{"many problems", many, cf + ":50006:1: k49999: unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(testFS(map[string]string{cf: tt.data}), "stacks/s")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// manyProblems is a Bucket document followed by n unknown fields.
func manyProblems(n int) string {
	var many strings.Builder
	many.WriteString(doc("Bucket", "b", "versioning: true"))
	for i := range n {
		fmt.Fprintf(&many, "k%d: x\n", i)
	}
	return many.String()
}

// BenchmarkManyProblems loads a file with 25,000 and 100,000 problems:
// ns/problem stays flat when reporting them is linear in their number
// (30,000 took 99 s when each message was built by copying the ones
// before).
func BenchmarkManyProblems(b *testing.B) {
	for _, n := range []int{10_000, 35_000} { // 35,000 keys: an environment file just under MaxFileSize
		b.Run(fmt.Sprintf("problems=%d", n), func(b *testing.B) {
			fsys := testFS(map[string]string{cf: manyProblems(n)})
			for i := 0; i < b.N; i++ {
				if _, err := Load(fsys, "stacks/s"); err == nil {
					b.Fatal("no error")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/problem")
		})
	}
}

// largeMappings are the cases of TestLargeMappings and
// BenchmarkLargeMappings: an env map of n keys in a component and n
// overrides in an environment, on the fast path, through yaml.v3, and with
// a duplicate key (want: the error).
func largeMappings(n int) []struct{ name, comp, dev, want string } {
	var env, over strings.Builder
	for i := range n {
		fmt.Fprintf(&env, "    K%d: v%d\n", i, i)
		fmt.Fprintf(&over, "        K%d: dev%d\n", i, i)
	}
	comp := ms("env:") + env.String()
	dev := devYAML + "  overrides:\n    api:\n      env:\n" + over.String()
	return []struct{ name, comp, dev, want string }{
		{"fast path", comp, dev, ""},
		{"yaml.v3", "#\ttabs send the file to yaml.v3\n" + comp, dev, ""},
		{"duplicate key", comp + "    K7: again\n", dev, fmt.Sprintf("%s:%d:5: spec.env.K7: duplicate key (first set at line 15)", cf, n+8)},
	}
}

// TestLargeMappings: a mapping of many keys (an env map of thousands of
// entries) loads, merges and reports a duplicate key, on the fast path and
// through yaml.v3 alike. Both used to search every earlier key for each
// key (minutes for a file under the size limit); BenchmarkLargeMappings
// (make bench) measures that the time is linear in the size.
func TestLargeMappings(t *testing.T) {
	const n = 20_000
	for _, tt := range largeMappings(n) {
		t.Run(tt.name, func(t *testing.T) {
			r, err := loadResolve(testFS(map[string]string{cf: tt.comp, "stacks/s/environments/dev.yaml": tt.dev}), "dev", ResolveOptions{})
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := r.Component("api").Spec["env"].(map[string]any)
			if len(got) != n || got["K0"] != "dev0" || got[fmt.Sprintf("K%d", n-1)] != fmt.Sprintf("dev%d", n-1) {
				t.Errorf("env has %d keys, K0=%v", len(got), got["K0"])
			}
		})
	}
}

// BenchmarkLargeMappings loads and resolves maps of 25,000 and 100,000
// keys: ns/key stays flat when the time is linear in the size (the
// quadratic search took 21 s for 50,000 keys).
func BenchmarkLargeMappings(b *testing.B) {
	for _, n := range []int{10_000, 35_000} { // 35,000 keys: an environment file just under MaxFileSize
		for _, tt := range largeMappings(n) {
			b.Run(fmt.Sprintf("%s/keys=%d", tt.name, n), func(b *testing.B) {
				fsys := testFS(map[string]string{cf: tt.comp, "stacks/s/environments/dev.yaml": tt.dev})
				for i := 0; i < b.N; i++ {
					if _, err := loadResolve(fsys, "dev", ResolveOptions{}); (err != nil) != (tt.want != "") {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/key")
			})
		}
	}
}

func resolveOK(t *testing.T, files map[string]string, env string, opts ResolveOptions) *Resolved {
	t.Helper()
	r, err := loadResolve(testFS(files), env, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVariablePriority(t *testing.T) {
	files := map[string]string{
		"stacks/s/stack.yaml":            stackYAML + "    A: {default: from-default}\n    B: {default: from-default}\n    C: {default: from-default}\n    D: {default: from-default}\n    E: {default: from-default}\n    F: {}\n",
		"stacks/s/environments/dev.yaml": devYAML + "    A: from-environment\n    B: from-environment\n    C: from-environment\n    D: from-environment\n",
		cf:                               ms("env: {A: '${A}', B: '${B}', C: '${C}', D: '${D}', E: '${E}', F: '${F:-inline}', G: 'x-${TAG}-$${TAG}'}"),
	}
	opts := ResolveOptions{Vars: VarValues{
		Flags: map[string]string{"A": "from-flag"},
		File:  map[string]string{"A": "from-file", "B": "from-file"},
		Env:   map[string]string{"A": "from-env", "B": "from-env", "C": "from-env", "UNDECLARED": "ignored"},
	}}
	r := resolveOK(t, files, "dev", opts)
	env := r.Component("api").Spec["env"].(map[string]any)
	// "$${" stays escaped in the model (the deployer unescapes text).
	want := map[string]any{"A": "from-flag", "B": "from-file", "C": "from-env", "D": "from-environment", "E": "from-default", "F": "inline", "G": "x-1-$${TAG}"}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("env = %v, want %v", env, want)
	}
	if got := Unescape(env["G"].(string)); got != "x-1-${TAG}" {
		t.Errorf("Unescape(G) = %q", got)
	}
	sources := map[string]string{}
	for _, v := range r.Variables {
		sources[v.Name] = v.Source
	}
	wantSrc := map[string]string{"A": "flag", "B": "var-file", "C": "env", "D": "environment", "E": "default", "F": "unset", "HOST": "environment", "KEY": "unset", "TAG": "default"}
	if !reflect.DeepEqual(sources, wantSrc) {
		t.Errorf("sources = %v, want %v", sources, wantSrc)
	}
}

func TestSensitive(t *testing.T) {
	files := map[string]string{cf: ms("env: {K: 'key=${KEY}', DB: {secret: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db'}}", "secrets: {S: /app/s}")}
	opts := ResolveOptions{Vars: VarValues{Flags: map[string]string{"KEY": "hunter2"}}, SecretKey: []byte("k1")}
	r := resolveOK(t, files, "dev", opts)
	c := r.Component("api")
	k, ok := c.Spec["env"].(map[string]any)["K"].(Sensitive)
	if !ok || k.Clear != "key=hunter2" || !strings.HasPrefix(k.Hash, "sensitive:hmac-sha256:") {
		t.Fatalf("K = %#v", c.Spec["env"])
	}
	if want := HashSensitiveAt([]byte("k1"), "s", "dev", "KEY", "key=hunter2"); k.Hash != want.Hash || !strings.HasPrefix(k.Hash, "sensitive:hmac-sha256:v2:") {
		t.Errorf("hash %s, want %s", k.Hash, want.Hash)
	}
	// the hash before v2 (name and value only) is kept for comparison
	if want := HashSensitive([]byte("k1"), "KEY", "key=hunter2").Hash; k.Legacy != want {
		t.Errorf("legacy hash %s, want %s", k.Legacy, want)
	}
	// the same value in another environment or stack hashes differently
	if h := HashSensitiveAt([]byte("k1"), "s", "prod", "KEY", "key=hunter2").Hash; h == k.Hash {
		t.Errorf("equal secrets in two environments hash alike")
	}
	if h := HashSensitiveAt([]byte("k1"), "t", "dev", "KEY", "key=hunter2").Hash; h == k.Hash {
		t.Errorf("equal secrets in two stacks hash alike")
	}
	if bytes.Contains(r.Canonical(), []byte("hunter2")) {
		t.Errorf("canonical holds the clear secret: %s", r.Canonical())
	}
	wantSecrets := map[string]any{"DB": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db", "S": "/app/s"}
	if !reflect.DeepEqual(c.Spec["secrets"], wantSecrets) {
		t.Errorf("secrets = %v", c.Spec["secrets"])
	}
	if _, ok := c.Spec["env"].(map[string]any)["DB"]; ok {
		t.Errorf("secret reference left in env")
	}
	// Another key, another hash; no key: unkeyed fallback; another value: another hash.
	r2 := resolveOK(t, files, "dev", ResolveOptions{Vars: opts.Vars, SecretKey: []byte("k2")})
	r3 := resolveOK(t, files, "dev", ResolveOptions{Vars: opts.Vars})
	r4 := resolveOK(t, files, "dev", ResolveOptions{Vars: VarValues{Flags: map[string]string{"KEY": "other"}}, SecretKey: []byte("k1")})
	if r.Hash() == r2.Hash() || r.Hash() == r4.Hash() {
		t.Errorf("hash does not depend on key and value")
	}
	if v := r3.Variables[1]; v.Name != "KEY" || !strings.HasPrefix(v.Value.(Sensitive).Hash, "sensitive:sha256:") || !v.Secret {
		t.Errorf("unkeyed var = %+v", v)
	}
	if !IsSensitive(k) || !IsSensitive(k.Hash) || IsSensitive("plain") {
		t.Errorf("IsSensitive")
	}
}

func TestLenientKeepsSymbolic(t *testing.T) {
	files := map[string]string{
		"stacks/s/environments/dev.yaml": doc("Environment", "dev"),
		cf:                               ms("env: {H: 'https://${HOST}/', K: '${KEY}'}", "replicas: ${HOST}"),
	}
	r := resolveOK(t, files, "dev", ResolveOptions{Lenient: true})
	c := r.Component("api")
	env := c.Spec["env"].(map[string]any)
	// KEY is a secret without a value: as unknown as a required one.
	if env["H"] != "https://${var.HOST}/" || env["K"] != "${var.KEY}" {
		t.Errorf("env = %v", env)
	}
	if c.Spec["replicas"] != "${var.HOST}" {
		t.Errorf("replicas = %v", c.Spec["replicas"])
	}
	if _, err := loadResolve(testFS(files), "dev", ResolveOptions{}); err == nil {
		t.Errorf("strict resolve accepted a missing required variable")
	}
}

func TestOverlayMerge(t *testing.T) {
	files := map[string]string{
		cf: ms("command: [a, b]", "env: {A: base, B: base}", "autoscaling: {min: 1, max: 3}", "loadBalancer: {public: true, host: x.example}"),
		"stacks/s/environments/dev.yaml": devYAML + `  overrides:
    api:
      command: [c]
      env: {B: dev, C: dev}
      autoscaling: {max: 9}
      loadBalancer: null
  provider:
    region: us-west-2
    assumeRole: arn:aws:iam::123456789012:role/deploy
`,
	}
	r := resolveOK(t, files, "dev", ResolveOptions{})
	sp := r.Component("api").Spec
	want := map[string]any{
		"image": "nginx", "port": int64(8080), "cpu": int64(256), "memory": int64(512), "replicas": int64(1),
		"command":     []any{"c"},
		"env":         map[string]any{"A": "base", "B": "dev", "C": "dev"},
		"autoscaling": map[string]any{"min": int64(1), "max": int64(9), "cpuTarget": int64(70)},
		"healthCheck": map[string]any{"path": "/health", "interval": int64(30), "timeout": int64(5)},
	}
	if !reflect.DeepEqual(sp, want) {
		g, _ := json.Marshal(sp)
		w, _ := json.Marshal(want)
		t.Errorf("spec\n got %s\nwant %s", g, w)
	}
	wantP := Provider{Name: "aws", Region: "us-west-2", AssumeRole: "arn:aws:iam::123456789012:role/deploy"}
	if !reflect.DeepEqual(r.Provider, wantP) {
		t.Errorf("provider %+v", r.Provider)
	}
	// The base is untouched by merging.
	r0 := resolveOK(t, map[string]string{cf: files[cf]}, "dev", ResolveOptions{})
	if r0.Component("api").Spec["command"].([]any)[0] != "a" {
		t.Errorf("base modified")
	}
}

func TestCanonicalStable(t *testing.T) {
	a := map[string]string{cf: ms("env: {A: x, B: y}", "port: 8080")}
	b := map[string]string{cf: "# a comment\n" + strings.ReplaceAll(ms("env:\n    B: y   # why\n    A: x", "port: 0x1F90"), "image: nginx", "image: \"nginx\"")}
	ra := resolveOK(t, a, "dev", ResolveOptions{})
	rb := resolveOK(t, b, "dev", ResolveOptions{})
	if !bytes.Equal(ra.Canonical(), rb.Canonical()) {
		t.Errorf("format-only edit changed the model:\n%s\n%s", ra.Canonical(), rb.Canonical())
	}
	for i := 0; i < 20; i++ {
		if r := resolveOK(t, a, "dev", ResolveOptions{}); r.Hash() != ra.Hash() {
			t.Fatal("canonical encoding not deterministic")
		}
	}
	// Explicit defaults are the same model as omitted ones.
	rc := resolveOK(t, map[string]string{cf: ms("env: {A: x, B: y}", "port: 8080", "cpu: 256", "replicas: 1", "healthCheck: {path: /health}")}, "dev", ResolveOptions{})
	if rc.Hash() != ra.Hash() {
		t.Errorf("explicit defaults changed the model")
	}
}

func TestDependencies(t *testing.T) {
	files := map[string]string{
		cf: ms("env: {DB: '${db.endpoint}', Q: '${q.url}'}", "dependsOn: [cache]") + "---\n" +
			doc("Database", "db") + "---\n" + doc("Queue", "q") + "---\n" + doc("Cache", "cache") + "---\n" +
			doc("Topic", "t", "subscriptions: [{queue: q}]") + "---\n" + doc("Worker", "w", "image: x", "env: {U: '${api.url}'}"),
	}
	r := resolveOK(t, files, "dev", ResolveOptions{})
	if got := r.Component("api").DependsOn; !reflect.DeepEqual(got, []string{"cache", "db", "q"}) {
		t.Errorf("api deps %v", got)
	}
	if _, ok := r.Component("api").Spec["dependsOn"]; ok {
		t.Errorf("dependsOn left in spec")
	}
	if got := r.Component("api").Spec["env"].(map[string]any)["DB"]; got != "${db.endpoint}" {
		t.Errorf("reference not symbolic: %v", got)
	}
	g, err := r.Graph()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := g.Levels(), [][]string{{"cache", "db", "q"}, {"api", "t"}, {"w"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("levels %v, want %v", got, want)
	}
	if got, want := g.Order(), []string{"cache", "db", "q", "api", "t", "w"}; !reflect.DeepEqual(got, want) {
		t.Errorf("order %v", got)
	}
	if got := g.Dependents("q"); !reflect.DeepEqual(got, []string{"api", "t"}) {
		t.Errorf("dependents %v", got)
	}
	var names []string
	for _, c := range r.Components {
		names = append(names, c.Name)
	}
	if !reflect.DeepEqual(names, []string{"api", "cache", "db", "q", "t", "w"}) {
		t.Errorf("components not sorted: %v", names)
	}
}

func TestGraphCycle(t *testing.T) {
	_, err := NewGraph(map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": nil})
	var ce *CycleError
	if !errors.As(err, &ce) || ce.Error() != "dependency cycle: a -> b -> c -> a" {
		t.Errorf("err = %v", err)
	}
}

func TestServicesAndLabels(t *testing.T) {
	files := map[string]string{
		"stacks/s/services/api/service.yaml":   doc("Service", "api", "owner: team-a") + "---\n" + strings.Replace(ms(), "  name: api", "  name: api\n  labels: {tier: web}", 1),
		"stacks/s/services/api/jobs/cron.yaml": doc("CronJob", "cleanup", "image: x", "schedule: rate(1 day)"),
		"stacks/s/infra/db.yaml":               doc("Database", "db"),
		// Components outside services/ belong to no service wherever
		// they are: infra/ is a convention, not a rule (README, The deployment repository).
		"stacks/s/bucket.yaml":   doc("Bucket", "files"),
		"stacks/s/shared/q.yaml": doc("Queue", "jobs"),
	}
	r := resolveOK(t, files, "dev", ResolveOptions{})
	for name, svc := range map[string]string{"api": "api", "cleanup": "api", "db": "", "files": "", "jobs": ""} {
		if c := r.Component(name); c.Service != svc {
			t.Errorf("%s: service %q, want %q", name, c.Service, svc)
		}
	}
	if r.Component("api").Labels["tier"] != "web" {
		t.Errorf("labels lost")
	}
	if r.Component("db").Spec["version"] != "16" || r.Component("db").Spec["deletionProtection"] != true {
		t.Errorf("db defaults: %v", r.Component("db").Spec)
	}
	if r.Component("api").File != "stacks/s/services/api/service.yaml" {
		t.Errorf("file %q", r.Component("api").File)
	}
}

func TestResolveUnknownEnvironment(t *testing.T) {
	s, err := Load(testFS(nil), "stacks/s")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Resolve("prod", ResolveOptions{})
	if !errors.Is(err, ErrNoEnvironment) || !strings.Contains(err.Error(), "environments: dev") {
		t.Errorf("err = %v", err)
	}
}

func TestDecodeSpec(t *testing.T) {
	r := resolveOK(t, map[string]string{cf: ms("autoscaling: {max: 4}", "loadBalancer: {public: true}")}, "dev", ResolveOptions{})
	var sp MicroServiceSpec
	if err := DecodeSpec(r.Component("api"), &sp); err != nil {
		t.Fatal(err)
	}
	if sp.Image != "nginx" || sp.Autoscaling.Max != 4 || sp.Autoscaling.CPUTarget != 70 || !sp.LoadBalancer.Public || sp.LoadBalancer.Path != "/" || sp.HealthCheck.Path != "/health" {
		t.Errorf("%+v", sp)
	}
}

// TestConcurrentResolve: a loaded Stack is read-only, so environments can
// be resolved in parallel (run with -race) with identical results.
func TestConcurrentResolve(t *testing.T) {
	s, err := Load(testFS(map[string]string{cf: ms("env: {A: '${TAG}', B: '${db.endpoint}'}") + "---\n" + doc("Database", "db")}), "stacks/s")
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Resolve("dev", ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for i := 0; i < 8; i++ {
		go func() {
			r, err := s.Resolve("dev", ResolveOptions{})
			if err != nil {
				done <- err.Error()
				return
			}
			done <- r.Hash()
		}()
	}
	for i := 0; i < 8; i++ {
		if got := <-done; got != want.Hash() {
			t.Errorf("got %s, want %s", got, want.Hash())
		}
	}
}

// TestDiscoverUnnamed: a stack folder whose stack.yaml gives no name is
// not in Refs but in Discovery.Unnamed, with its problems and
// environments, so a listing of the stacks can still show it.
func TestDiscoverUnnamed(t *testing.T) {
	d, err := DiscoverStacks(fstest.MapFS{
		"stacks/a/stack.yaml":                 {Data: []byte(doc("Stack", "alpha"))},
		"stacks/b/stack.yaml":                 {Data: []byte("kind: Stack\nmetadata:\n  name: [b\n")},
		"stacks/b/environments/prod.yaml":     {Data: []byte(doc("Environment", "prod"))},
		"stacks/b/environments/dev.yml":       {Data: []byte(doc("Environment", "dev"))},
		"stacks/b/environments/Bad_Name.yaml": {Data: []byte(doc("Environment", "x"))},
		"stacks/c/stack.yaml":                 {Data: []byte("kind: Stack\n")},
		"stacks/d/stack.yaml":                 {Data: []byte(doc("Stack", "alpha"))},
	}, "stacks")
	if err == nil {
		t.Fatal("no error")
	}
	if want := []Ref{{"alpha", "stacks/a"}}; !reflect.DeepEqual(d.Refs, want) {
		t.Errorf("Refs = %v, want %v", d.Refs, want)
	}
	want := []Unnamed{
		{Path: "stacks/b", Errors: []*Error{{File: "stacks/b/stack.yaml", Line: 3, Msg: "invalid YAML: did not find expected ',' or ']'"}}, Environments: []string{"dev", "prod"}},
		// every problem of the file, not only its missing name: a
		// hand-written first stack.yaml was fixed one round at a time
		{Path: "stacks/c", Errors: []*Error{
			{File: "stacks/c/stack.yaml", Line: 1, Column: 1, Key: "apiVersion", Msg: "required field is missing: add apiVersion: core.panka.io/v1"},
			{File: "stacks/c/stack.yaml", Line: 1, Column: 1, Key: "spec", Msg: "required field is missing (use spec: {} when every default is fine)"},
			{File: "stacks/c/stack.yaml", Line: 1, Column: 1, Key: "metadata.name", Msg: "required field is missing: the stack's name"}}},
	}
	if !reflect.DeepEqual(d.Unnamed, want) {
		got, _ := json.Marshal(d.Unnamed)
		t.Errorf("Unnamed = %s, want the folders b and c", got)
	}
}

// TestEmptyKey: an empty mapping key ("": 1, or an anchor on a missing
// key) is reported as an unknown field; building its key path for an error
// indexed the empty key's first byte and panicked.
func TestEmptyKey(t *testing.T) {
	for _, spec := range []string{
		"deadLetter:\n    \"\": ${NOPE}",
		"deadLetter:\n    &a : 1",
		"\"\": 1",
	} {
		fsys := testFS(map[string]string{cf: doc("Queue", "q", spec)})
		s, err := Load(fsys, "stacks/s")
		if err == nil {
			_, err = s.Resolve("dev", ResolveOptions{})
		}
		if err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("spec %q: %v, want an unknown field error", spec, err)
		}
	}
}

// TestSecretInlineDefault: the default of ${KEY:-...} for a variable
// declared secret stands in for its value, as the declaration's default
// does: it is hashed like the value (state, manifests) and refused where
// a secret is (a number field), with a value or without one. It was kept
// in clear, so plan and show printed it and state and the local target's
// manifest held it, while a secret's declared default is (sensitive).
func TestSecretInlineDefault(t *testing.T) {
	files := map[string]string{cf: ms("env: {K: 'k=${KEY:-hunter2-inline}', E: '${KEY:-}', T: '${TAG:-x}'}")}
	for _, vars := range []map[string]string{nil, {"KEY": ""}} {
		r := resolveOK(t, files, "dev", ResolveOptions{Vars: VarValues{Flags: vars}, SecretKey: []byte("k1")})
		env := r.Component("api").Spec["env"].(map[string]any)
		k, ok := env["K"].(Sensitive)
		if !ok || k.Clear != "k=hunter2-inline" || k.Hash != HashSensitiveAt([]byte("k1"), "s", "dev", "KEY", "k=hunter2-inline").Hash {
			t.Errorf("vars %v: K = %#v, want the default hashed", vars, env["K"])
		}
		if _, ok := env["E"].(Sensitive); !ok {
			t.Errorf("vars %v: E = %#v, want it hashed", vars, env["E"])
		}
		if env["T"] != "1" {
			t.Errorf("vars %v: T = %#v, want 1 (TAG is not secret)", vars, env["T"])
		}
		if bytes.Contains(r.Canonical(), []byte("hunter2")) {
			t.Errorf("vars %v: canonical holds the secret's default in clear: %s", vars, r.Canonical())
		}
	}
	// Without values (validate): refused in a number field, as ${KEY} is.
	files[cf] = ms("replicas: ${KEY:-2}")
	_, err := loadResolve(testFS(files), "dev", ResolveOptions{Lenient: true})
	wantErrs(t, err, cf+`:7:13: spec.replicas: secret variable KEY cannot be used in a number or boolean field`)
	_, err = loadResolve(testFS(files), "dev", ResolveOptions{})
	wantErrs(t, err, cf+`:7:13: spec.replicas: secret variable KEY cannot be used in a number or boolean field`)
}
