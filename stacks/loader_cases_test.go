package stacks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// TestSymlinks: a stack reads the same through symbolic links at a commit
// (a tree, here a MapFS) as from a work tree (DirFS on disk): a link to a
// file inside the stack is followed; one leaving the stack, to a folder,
// dangling or looping is an error naming it (never the link's text parsed
// as YAML, never a folder silently skipped); links that are not YAML files
// are ignored like other such files.
func TestSymlinks(t *testing.T) {
	const sd = "stacks/s"
	tests := []struct {
		name  string
		links map[string]string // link -> destination, as stored
		files map[string]string
		want  []string // error substrings; none: loads, dev's HOST is "linked"
	}{
		{name: "environment linked inside the stack",
			links: map[string]string{sd + "/environments/dev.yaml": "../.shared/dev.yaml"},
			files: map[string]string{sd + "/.shared/dev.yaml": linkedDev}},
		{name: "chain of links inside the stack",
			links: map[string]string{sd + "/environments/dev.yaml": "dev2.yml", sd + "/environments/dev2.yml": "../.shared/dev.yaml"},
			files: map[string]string{sd + "/.shared/dev.yaml": linkedDev},
			want:  []string{`environment name "dev" must match its file name dev2.yml`}},
		{name: "stack.yaml linked inside the stack",
			links: map[string]string{sd + "/stack.yaml": ".shared/stack.yaml"},
			files: map[string]string{sd + "/.shared/stack.yaml": stackYAML, sd + "/.shared/dev.yaml": linkedDev, sd + "/environments/dev.yaml": linkedDev}},
		{name: "outside the stack",
			links: map[string]string{sd + "/environments/dev.yaml": "../../../shared/dev.yaml"},
			files: map[string]string{"shared/dev.yaml": linkedDev},
			want:  []string{sd + "/environments/dev.yaml: is a symbolic link to shared/dev.yaml, outside the stack folder stacks/s"}},
		{name: "stack.yaml outside the stack",
			links: map[string]string{sd + "/stack.yaml": "../../shared/stack.yaml"},
			files: map[string]string{"shared/stack.yaml": stackYAML, sd + "/environments/dev.yaml": doc("Environment", "dev")},
			want:  []string{sd + "/stack.yaml: is a symbolic link to shared/stack.yaml, outside the stack folder stacks/s"}},
		{name: "outside the stack, to a file not there",
			// What lies outside the stack is not the stack's: whether the
			// target exists (an untracked file in the work tree, that
			// panka changed --uncommitted does not read) changes nothing.
			links: map[string]string{sd + "/infra/topic.yaml": "../../../shared/topic.yaml"},
			want:  []string{sd + "/infra/topic.yaml: is a symbolic link to shared/topic.yaml, outside the stack folder stacks/s"}},
		{name: "a folder",
			links: map[string]string{sd + "/services": "../../shared"},
			files: map[string]string{"shared/x.yaml": "a: 1\n"},
			want:  []string{sd + "/services: is a symbolic link to the folder shared: linked folders are not read"}},
		{name: "dangling",
			links: map[string]string{sd + "/infra/q.yaml": "nowhere.yaml"},
			want:  []string{sd + "/infra/q.yaml: is a symbolic link to stacks/s/infra/nowhere.yaml, which does not exist"}},
		{name: "a loop",
			links: map[string]string{sd + "/infra/a.yaml": "b.yaml", sd + "/infra/b.yaml": "a.yaml"},
			want:  []string{sd + "/infra/a.yaml: too many levels", sd + "/infra/b.yaml: too many levels"}},
		{name: "not a YAML file",
			links: map[string]string{sd + "/README.md": "../../README.md", sd + "/notes.txt": "gone.txt"},
			files: map[string]string{"README.md": "# hi\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{sd + "/environments/dev.yaml": devYAML}
			for k, v := range tt.files {
				files[k] = v
			}
			m := testFS(files)
			dir := t.TempDir()
			for name, f := range m {
				write(t, dir, name, string(f.Data))
			}
			addLinks(t, m, dir, tt.links)
			for _, fsys := range []struct {
				name string
				fs   fs.FS
			}{{"commit", m}, {"work tree", DirFS(dir)}} {
				s, err := Load(fsys.fs, sd)
				if len(tt.want) > 0 {
					t.Run(fsys.name, func(t *testing.T) { wantErrs(t, err, tt.want...) })
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", fsys.name, err)
				}
				r, err := s.Resolve("dev", ResolveOptions{})
				if err != nil {
					t.Fatalf("%s: %v", fsys.name, err)
				}
				got := ""
				for _, v := range r.Variables {
					if v.Name == "HOST" {
						got, _ = v.Value.(string)
					}
				}
				if want := map[bool]string{true: "dev.example", false: "linked"}[tt.name == "not a YAML file"]; got != want {
					t.Errorf("%s: HOST = %q, want %q", fsys.name, got, want)
				}
			}
		})
	}
}

// addLinks adds symbolic links (link -> destination, as stored) to both
// the MapFS of a commit and the work tree in dir, replacing files there.
// namedFS is a file system and what it stands for.
type namedFS struct {
	name string
	fs   fs.FS
}

// commitAndWorkTree holds files and symbolic links both as a commit's tree
// reads them (links as link entries) and in a work tree on disk.
func commitAndWorkTree(t *testing.T, files, links map[string]string) []namedFS {
	t.Helper()
	m := fstest.MapFS{}
	dir := t.TempDir()
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: []byte(data)}
		write(t, dir, name, data)
	}
	addLinks(t, m, dir, links)
	return []namedFS{{"commit", m}, {"work tree", DirFS(dir)}}
}

func addLinks(t *testing.T, m fstest.MapFS, dir string, links map[string]string) {
	t.Helper()
	for link, dest := range links {
		m[link] = &fstest.MapFile{Data: []byte(dest), Mode: fs.ModeSymlink}
		p := filepath.Join(dir, filepath.FromSlash(link))
		os.Remove(p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(dest, p); err != nil {
			t.Fatal(err)
		}
	}
}

const linkedDev = `apiVersion: core.panka.io/v1
kind: Environment
metadata:
  name: dev
spec:
  variables:
    HOST: linked
`

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEnvironmentParseErrorAlone: an environment file that does not parse
// (or is not a mapping) gets that one error, not also "empty environment
// file".
func TestEnvironmentParseErrorAlone(t *testing.T) {
	for _, data := range []string{"spec: [\n", "just a string\n", "- a\n- b\n"} {
		_, err := Load(testFS(map[string]string{"stacks/s/environments/dev.yaml": data}), "stacks/s")
		got := errStrings(t, err)
		if len(got) != 1 || !strings.Contains(got[0], "stacks/s/environments/dev.yaml:1") {
			t.Errorf("%q: errors %q, want exactly one, at line 1", data, got)
		}
	}
	// A file with nothing in it is still "empty".
	_, err := Load(testFS(map[string]string{"stacks/s/environments/dev.yaml": "# nothing yet\n"}), "stacks/s")
	wantErrs(t, err, "empty environment file")
}

// TestBrokenStackFileNoCascade: a stack.yaml that does not load reports
// its own errors, not also every variable the environments set.
func TestBrokenStackFileNoCascade(t *testing.T) {
	_, err := Load(testFS(map[string]string{"stacks/s/stack.yaml": stackYAML + "  bogus: [\n"}), "stacks/s")
	got := errStrings(t, err)
	if len(got) != 1 || !strings.Contains(got[0], "stacks/s/stack.yaml:") {
		t.Errorf("errors %q, want the stack.yaml parse error alone", got)
	}
	// With a stack.yaml that loads, an undeclared variable is still one.
	_, err = Load(testFS(map[string]string{"stacks/s/environments/dev.yaml": devYAML + "    NOPE: x\n"}), "stacks/s")
	wantErrs(t, err, `variable "NOPE" is not declared`)
}

// TestEscapedText: literal "${a.b}" text (written "$${a.b}", or held by a
// variable's value) is never a reference in the resolved model; real
// references are found, and Unescape gives the text meant.
func TestEscapedText(t *testing.T) {
	r := resolveOK(t, map[string]string{
		"stacks/s/infra/q.yaml":              doc("Queue", "jobs"),
		"stacks/s/services/api/service.yaml": doc("Service", "api"),
		"stacks/s/services/api/api.yaml": doc("MicroService", "api", "image: nginx:${TAG}",
			"env: {LIT: 'x $${jobs.url} y', REF: '${jobs.url}', BOTH: '$${jobs.url}=${jobs.url}', VIA: '${HOST}', DOLLARS: '$$$${jobs.url}'}"),
	}, "dev", ResolveOptions{Vars: VarValues{Flags: map[string]string{"HOST": "${jobs.url} and $${x}"}}})
	env := r.Component("api").Spec["env"].(map[string]any)
	for k, want := range map[string]struct {
		refs int
		text string // Unescape of the whole string
	}{
		"LIT":     {0, "x ${jobs.url} y"},
		"REF":     {1, "${jobs.url}"},
		"BOTH":    {1, "${jobs.url}=${jobs.url}"},
		"VIA":     {0, "${jobs.url} and $${x}"},
		"DOLLARS": {0, "$$${jobs.url}"},
	} {
		s := env[k].(string)
		if got := len(FindRefs(s)); got != want.refs {
			t.Errorf("%s = %q: %d references, want %d", k, s, got, want.refs)
		}
		if got := Unescape(s); got != want.text {
			t.Errorf("%s = %q: Unescape = %q, want %q", k, s, got, want.text)
		}
	}
	if refs := FindRefs(env["BOTH"].(string)); len(refs) != 1 || refs[0].Component != "jobs" || refs[0].Output != "url" || refs[0].Start != len("$${jobs.url}=") {
		t.Errorf("BOTH references = %+v", refs)
	}
}

// TestDollarBeforeReference: a "$" that ends a variable's value (or a
// default, or ${$}) right before a reference stays text and the reference
// stays one; before "{" text it does not start a reference. Strings
// without such a join resolve byte for byte as before (state holds them).
func TestDollarBeforeReference(t *testing.T) {
	r := resolveOK(t, map[string]string{
		"stacks/s/infra/q.yaml":              doc("Queue", "jobs"),
		"stacks/s/services/api/service.yaml": doc("Service", "api"),
		"stacks/s/services/api/api.yaml": doc("MicroService", "api", "image: nginx",
			"env: {VAR: '${HOST}${jobs.url}', DEF: '${NOPE:-pa$}${jobs.url}', TWO: '${TAG}${jobs.url}', LIT: 'pa${$}${jobs.url}',",
			"  BRACE: '${HOST}{jobs.url}', BRACE2: '${TAG}{x}', ESC: '${HOST}$${jobs.url}', DOLLARTEXT: '${$}{$}',",
			"  SAME: '${HOST}{x} ${HOST} y', SAME2: 'a$$${jobs.url} ${HOST}-${jobs.url}', SECRET: '${KEY}${jobs.url}'}"),
	}, "dev", ResolveOptions{Vars: VarValues{Flags: map[string]string{"HOST": "pa$", "TAG": "$$", "KEY": "s$"}}})
	api := r.Component("api")
	env := api.Spec["env"].(map[string]any)
	// meaning renders a model string: references as <c.o>, text unescaped.
	meaning := func(s string) string {
		var b strings.Builder
		last := 0
		for _, ref := range FindRefs(s) {
			b.WriteString(Unescape(s[last:ref.Start]) + "<" + ref.Component + "." + ref.Output + ">")
			last = ref.End
		}
		return b.String() + Unescape(s[last:])
	}
	for k, want := range map[string]string{
		"VAR":        "pa$<jobs.url>",
		"DEF":        "pa$<jobs.url>",
		"TWO":        "$$<jobs.url>",
		"LIT":        "pa$<jobs.url>",
		"BRACE":      "pa${jobs.url}",
		"BRACE2":     "$${x}",
		"ESC":        "pa$${jobs.url}",
		"DOLLARTEXT": "${$}",
		"SAME":       "pa${x} pa$ y",
		"SAME2":      "a$${jobs.url} pa$-<jobs.url>",
	} {
		if got := meaning(env[k].(string)); got != want {
			t.Errorf("%s = %q means %q, want %q", k, env[k], got, want)
		}
	}
	// no join that reads differently: the model string is as it always was
	for k, want := range map[string]string{"SAME": "pa${x} pa$ y", "SAME2": "a$$${jobs.url} pa$-${jobs.url}", "ESC": "pa$$${jobs.url}"} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if sec, ok := env["SECRET"].(Sensitive); !ok || meaning(sec.Clear) != "s$<jobs.url>" {
		t.Errorf("SECRET = %#v, want the clear value s$ then the reference", env["SECRET"])
	}
	if !slices.Equal(api.DependsOn, []string{"jobs"}) {
		t.Errorf("api depends on %v, want [jobs]", api.DependsOn)
	}
}

// TestLinkedStackFolder: a symbolic link in the stacks root to a folder
// holding a stack is an error naming it (in a work tree it would read as
// a stack, at a commit git stores only the link), at a commit and in the
// work tree alike; a link to a folder without a stack is ignored, and the
// real stacks are still found.
func TestLinkedStackFolder(t *testing.T) {
	files := map[string]string{
		"other/real/stack.yaml": strings.Replace(stackYAML, "name: s", "name: real", 1),
		"stacks/s/stack.yaml":   stackYAML,
		"docs/x.md":             "# x\n",
	}
	links := map[string]string{"stacks/real": "../other/real", "stacks/docs": "../docs", "stacks/team/nested": "../../other/real"}
	for _, fsys := range commitAndWorkTree(t, files, links) {
		t.Run(fsys.name, func(t *testing.T) {
			refs, err := Discover(fsys.fs, "stacks")
			wantErrs(t, err, "stacks/real: is a symbolic link to the stack folder other/real: linked stack folders are not read",
				"stacks/team/nested: is a symbolic link to the stack folder other/real")
			if got := errStrings(t, err); len(got) != 2 {
				t.Errorf("errors %q, want the two links only", got)
			}
			if len(refs) != 1 || refs[0].Path != "stacks/s" {
				t.Errorf("stacks %v, want stacks/s only", refs)
			}
		})
	}
}

// TestLinkedStackFolderOutside: a link in the stacks root to a stack folder
// outside the repository is an error too (a work tree would follow it, git
// stores only the link), not silently skipped; a link leaving the
// repository to anything else is still ignored.
func TestLinkedStackFolderOutside(t *testing.T) {
	top := t.TempDir()
	repo := filepath.Join(top, "repo")
	write(t, repo, "stacks/s/stack.yaml", stackYAML)
	write(t, top, "elsewhere/ext/stack.yaml", strings.Replace(stackYAML, "name: s", "name: ext", 1))
	write(t, top, "elsewhere/docs/x.md", "# x\n")
	abs := filepath.Join(top, "elsewhere", "ext")
	addLinks(t, fstest.MapFS{}, repo, map[string]string{
		"stacks/abs":      abs,
		"stacks/rel":      "../../elsewhere/ext",
		"stacks/docs":     filepath.Join(top, "elsewhere", "docs"),
		"stacks/dangling": filepath.Join(top, "nothing"),
	})
	refs, err := Discover(DirFS(repo), "stacks")
	wantErrs(t, err, "stacks/abs: is a symbolic link to the stack folder "+abs+": linked stack folders are not read",
		"stacks/rel: is a symbolic link to the stack folder ../../elsewhere/ext: linked stack folders are not read")
	if len(refs) != 1 || refs[0].Path != "stacks/s" {
		t.Errorf("stacks %v, want stacks/s only", refs)
	}
}

// TestLinkedStacksRoot: a stacks root that is a symbolic link reads as the
// linked folder in a work tree but, at a commit, as a link holding no
// stacks (change detection then saw every stack removed). It is an error
// in both, naming the folder to use instead.
func TestLinkedStacksRoot(t *testing.T) {
	files := map[string]string{"infra/real/s/stack.yaml": stackYAML}
	links := map[string]string{"stacks": "infra/real", "infra/stacks": "real"}
	for _, fsys := range commitAndWorkTree(t, files, links) {
		t.Run(fsys.name, func(t *testing.T) {
			refs, err := Discover(fsys.fs, "stacks")
			wantErrs(t, err, "stacks: the stacks root is a symbolic link to infra/real: git stores the link, not the folder, so no stack would be found at a commit; set stacks.root to infra/real")
			if len(refs) != 0 {
				t.Errorf("stacks %v, want none", refs)
			}
			_, err = Discover(fsys.fs, "infra/stacks")
			wantErrs(t, err, "infra/stacks: the stacks root is a symbolic link to infra/real")
			if refs, err := Discover(fsys.fs, "infra/real"); err != nil || len(refs) != 1 {
				t.Errorf("the folder itself: %v, %v", refs, err)
			}
		})
	}
}

// TestUppercaseYAMLExtension: a stack file named db.YAML (or qa.Yml in
// environments/) was skipped as not YAML, so its components or its
// environment silently did not exist; it is an error that says how to
// rename it, and other files are not.
func TestUppercaseYAMLExtension(t *testing.T) {
	_, err := Load(testFS(map[string]string{
		"stacks/s/infra/db.YAML":             doc("Database", "db"),
		"stacks/s/environments/qa.Yml":       strings.Replace(devYAML, "name: dev", "name: qa", 1),
		"stacks/s/infra/notes.txt":           "not YAML\n",
		"stacks/s/infra/README.md":           "# infra\n",
		"stacks/s/services/api/api.yaml":     ms(),
		"stacks/s/services/api/service.yaml": doc("Service", "api"),
	}), "stacks/s")
	wantErrs(t, err,
		"stacks/s/environments/qa.Yml: is not read: stack files end in .yaml or .yml, in lowercase; rename it to qa.yml",
		"stacks/s/infra/db.YAML: is not read: stack files end in .yaml or .yml, in lowercase; rename it to db.yaml")
}

// A commit from before such a file was refused deployed without it:
// LoadLegacy still does not read it, and says so.
func TestUppercaseYAMLExtensionLegacy(t *testing.T) {
	s, warns, err := LoadLegacy(testFS(map[string]string{
		"stacks/s/infra/db.YAML":       doc("Database", "db"),
		"stacks/s/infra/q.yaml":        doc("Queue", "q"),
		"stacks/s/environments/qa.Yml": strings.Replace(devYAML, "name: dev", "name: qa", 1),
	}), "stacks/s")
	if err != nil {
		t.Fatal(err)
	}
	wantErrs(t, &Errors{List: warns},
		"stacks/s/environments/qa.Yml: is not read: stack files end in .yaml or .yml, in lowercase; rename it to qa.yml",
		"stacks/s/infra/db.YAML: is not read: stack files end in .yaml or .yml, in lowercase; rename it to db.yaml")
	if got := s.ComponentNames(); !slices.Equal(got, []string{"q"}) {
		t.Errorf("components %q, want [q]", got)
	}
	if got := s.Environments(); !slices.Equal(got, []string{"dev"}) {
		t.Errorf("environments %q, want [dev]", got)
	}
}

// TestVariableFlagsAnyCase: secret: True and required: TRUE are YAML
// booleans like true; they were read as false, so a secret variable's
// value was printed and stored in clear and a required one could be
// left unset.
func TestVariableFlagsAnyCase(t *testing.T) {
	st := strings.Replace(localStackYAML, "    HOST:\n      required: true\n    KEY:\n      secret: true\n",
		"    HOST:\n      required: TRUE\n    KEY:\n      secret: True\n      default: hunter2\n", 1)
	fsys := testFS(map[string]string{
		"stacks/s/stack.yaml":            st,
		"stacks/s/environments/dev.yaml": strings.Replace(devYAML, "    HOST: dev.example\n", "", 1),
		cf:                               ms("env: {K: '${KEY}', H: '${HOST}'}"),
	})
	s, err := Load(fsys, "stacks/s")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Resolve("dev", ResolveOptions{})
	wantErrs(t, err, "required variable HOST has no value")
	r, err := s.Resolve("dev", ResolveOptions{Vars: VarValues{Flags: map[string]string{"HOST": "h"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range r.Variables {
		if v.Name == "KEY" && (!v.Secret || v.Value == "hunter2") {
			t.Errorf("KEY declared secret: True resolved as %+v, want a secret", v)
		}
	}
}

// TestNonUTF8Names: a file or folder whose name is not UTF-8 (from a
// Latin-1 system) is an error saying so, quoting its bytes and how to fix
// it, at a commit as in the work tree, not io/fs's "invalid argument";
// the path is escaped too (stacks/s/infra/q\xe9.yaml), not raw bytes.
func TestNonUTF8Names(t *testing.T) {
	const sd = "stacks/s"
	q := doc("Queue", "q")
	for _, tc := range []struct{ name, file, want string }{
		{"file", sd + "/infra/q\xe9.yaml", sd + "/infra/q\\xe9.yaml: the name \"q\\xe9.yaml\" is not valid UTF-8, which panka cannot read: rename it (git mv) to a UTF-8 name"},
		{"folder", sd + "/services/w\xe9b/q.yaml", sd + "/services/w\\xe9b: the name \"w\\xe9b\" is not valid UTF-8"},
		// The stack's own folder: its stack.yaml was said to be the
		// bad name ("the name \"stack.yaml\" is not valid UTF-8").
		{"stack folder", "stacks/\xe9/infra/q.yaml", "stacks/\\xe9: the name \"\\xe9\" is not valid UTF-8"},
	} {
		m := testFS(map[string]string{tc.file: q})
		dir := t.TempDir()
		for name, f := range m {
			write(t, dir, name, string(f.Data))
		}
		for _, fsys := range []struct {
			name string
			fs   fs.FS
		}{{"commit", m}, {"work tree", DirFS(dir)}} {
			t.Run(tc.name+"/"+fsys.name, func(t *testing.T) {
				dir := sd
				if !strings.HasPrefix(tc.file, sd+"/") {
					dir = tc.file[:strings.Index(tc.file, "/infra/")]
				}
				_, err := Load(fsys.fs, dir)
				wantErrs(t, err, tc.want)
			})
		}
	}
}

// TestControlCharacterNames: a problem in a file whose name holds a
// newline or a tab gives the name quoted, as git quotes it: printed raw,
// the problem's line split in two, the second half without the
// "file:line:" a reader (and the pre-push hook's "panka: REF:" prefix)
// goes by.
func TestControlCharacterNames(t *testing.T) {
	for _, name := range []string{"new\nline.yaml", "tab\there.yaml"} {
		file := "stacks/s/infra/" + name
		m := testFS(map[string]string{file: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q\nspec: [\n"})
		dir := t.TempDir()
		for n, f := range m {
			write(t, dir, n, string(f.Data))
		}
		for _, fsys := range []struct {
			name string
			fs   fs.FS
		}{{"commit", m}, {"work tree", DirFS(dir)}} {
			t.Run(fsys.name, func(t *testing.T) {
				_, err := Load(fsys.fs, "stacks/s")
				want := strconv.Quote(file) + ":5: invalid YAML"
				wantErrs(t, err, want)
				if err != nil && strings.Count(err.Error(), "\n") != 0 {
					t.Errorf("the problem spans lines:\n%s", err)
				}
			})
		}
	}
}

// TestVariableBooleans: a variable filling a boolean field is a boolean
// where the same text written in the file is one (YAML 1.2: true, True,
// TRUE, false, ...), whichever source gives it. --var V=yes (and
// PANKA_VAR_, the environment file, a stack default) was taken as true
// while versioning: yes in the file is refused; now each source refuses
// it with the same explanation, naming the variable and where its value
// came from.
func TestVariableBooleans(t *testing.T) {
	st := strings.Replace(stackYAML, "    TAG:\n      default: \"1\"\n", "    TAG:\n      default: \"1\"\n    VERS:\n      default: false\n", 1)
	files := map[string]string{"stacks/s/stack.yaml": st, "stacks/s/infra/b.yaml": doc("Bucket", "b", "versioning: ${VERS}")}
	s, err := Load(testFS(files), "stacks/s")
	if err != nil {
		t.Fatal(err)
	}
	versioning := func(r *Resolved) any { return r.Component("b").Spec["versioning"] }
	for v, want := range map[string]bool{"true": true, "True": true, "TRUE": true, "false": false, "False": false, "FALSE": false} {
		for _, vars := range []VarValues{{Flags: map[string]string{"VERS": v}}, {File: map[string]string{"VERS": v}}, {Env: map[string]string{"VERS": v}}} {
			r, err := s.Resolve("dev", ResolveOptions{Vars: vars})
			if err != nil {
				t.Fatalf("VERS=%s: %v", v, err)
			}
			if got := versioning(r); got != want {
				t.Errorf("VERS=%s %+v: versioning %v, want %v", v, vars, got, want)
			}
		}
	}
	const b = "stacks/s/infra/b.yaml:6:15: spec.versioning: want true or false, got "
	hint := func(v string) string {
		return ": a variable's value is read as in the stack files (YAML 1.2), where " + v + " is a string, not a boolean; give true or false"
	}
	for _, c := range []struct {
		vars VarValues
		want string
	}{
		{VarValues{Flags: map[string]string{"VERS": "yes"}}, b + `"yes" from variable VERS (--var VERS)` + hint("yes")},
		{VarValues{File: map[string]string{"VERS": "on"}}, b + `"on" from variable VERS (--var-file)` + hint("on")},
		{VarValues{Env: map[string]string{"VERS": "No"}}, b + `"No" from variable VERS (PANKA_VAR_VERS)` + hint("No")},
		{VarValues{Flags: map[string]string{"VERS": "1"}}, b + `a string ("1") from variable VERS (--var VERS)`},
		{VarValues{Flags: map[string]string{"VERS": "tRUE"}}, b + `a string ("tRUE") from variable VERS (--var VERS)`},
	} {
		_, err := s.Resolve("dev", ResolveOptions{Vars: c.vars})
		wantErrs(t, err, c.want)
	}
	// The environment file and the stack default: the same.
	_, err = loadResolve(testFS(map[string]string{"stacks/s/stack.yaml": st, "stacks/s/infra/b.yaml": files["stacks/s/infra/b.yaml"],
		"stacks/s/environments/dev.yaml": devYAML + "    VERS: yes\n"}), "dev", ResolveOptions{})
	wantErrs(t, err, b+`"yes" from variable VERS (spec.variables in stacks/s/environments/dev.yaml)`+hint("yes"))
	_, err = loadResolve(testFS(map[string]string{"stacks/s/stack.yaml": strings.Replace(st, "default: false", "default: off", 1),
		"stacks/s/infra/b.yaml": files["stacks/s/infra/b.yaml"]}), "dev", ResolveOptions{})
	wantErrs(t, err, b+`"off" from variable VERS (its default in stacks/s/stack.yaml)`+hint("off"))
	// As written in the file.
	_, err = loadResolve(testFS(map[string]string{"stacks/s/infra/b.yaml": doc("Bucket", "b", "versioning: yes")}), "dev", ResolveOptions{})
	wantErrs(t, err, b+`"yes": stack files are YAML 1.2, where yes is a string, not a boolean; write true or false`)
	// A number field names its variable too.
	_, err = loadResolve(testFS(map[string]string{"stacks/s/infra/c.yaml": doc("MicroService", "api", "image: nginx", "port: ${TAG}x")}), "dev", ResolveOptions{})
	wantErrs(t, err, `stacks/s/infra/c.yaml:7:9: spec.port: want an integer, got "1x" from variable TAG (its default in stacks/s/stack.yaml)`)
}

// TestUndeclaredVariableGiven: ${NAME:-default} with NAME not declared
// takes its default; a value given for NAME from outside (--var,
// --var-file, PANKA_VAR_) had no effect but a warning, so the plan
// silently used the default. It is refused at the ${...}, as the
// environment file's spec.variables refuses an undeclared name.
func TestUndeclaredVariableGiven(t *testing.T) {
	files := map[string]string{"stacks/s/infra/b.yaml": doc("Bucket", "b", "versioning: ${VERSIONED:-false}")}
	r, err := loadResolve(testFS(files), "dev", ResolveOptions{Vars: VarValues{Flags: map[string]string{"OTHER": "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Component("b").Spec["versioning"]; got != false {
		t.Errorf("versioning %v, want the default false", got)
	}
	const want = "stacks/s/infra/b.yaml:6:15: spec.versioning: variable VERSIONED is given (%s) but not declared in spec.variables of stacks/s/stack.yaml, so ${VERSIONED:-...} ignores it and takes its default: declare it there (VERSIONED: {default: ...}) to set it from outside, or do not give it"
	for given, vars := range map[string]VarValues{
		"--var VERSIONED":     {Flags: map[string]string{"VERSIONED": "true"}},
		"--var-file":          {File: map[string]string{"VERSIONED": "true"}},
		"PANKA_VAR_VERSIONED": {Env: map[string]string{"VERSIONED": "true"}},
	} {
		_, err := loadResolve(testFS(files), "dev", ResolveOptions{Vars: vars})
		wantErrs(t, err, fmt.Sprintf(want, given))
		s, err := Load(testFS(files), "stacks/s")
		if err != nil {
			t.Fatal(err)
		}
		wantErrs(t, s.Validate(ResolveOptions{Vars: vars}), fmt.Sprintf(want, given))
	}
}

// TestUnknownOverrideErrorsOrdered: overrides of an unknown component in
// several environments are reported in environment order, the same on
// every load. They came in map order, so `panka changed` printed the
// reasons (-o json) and errors (stderr) of a stack that no longer loads in
// a different order from one run to the next.
func TestUnknownOverrideErrorsOrdered(t *testing.T) {
	files := map[string]string{"stacks/s/infra/q.yaml": doc("Queue", "jobs")}
	envs := []string{"a", "b", "c", "dev", "e", "f", "g", "h"}
	for _, e := range envs {
		files["stacks/s/environments/"+e+".yaml"] = doc("Environment", e, "variables:", "  HOST: x", "overrides:", "  api:", "    replicas: 2")
	}
	for i := 0; i < 20; i++ {
		_, err := Load(testFS(files), "stacks/s")
		got := errStrings(t, err)
		if len(got) != len(envs) {
			t.Fatalf("errors %q, want one per environment", got)
		}
		for j, e := range envs {
			if !strings.Contains(got[j], "stacks/s/environments/"+e+".yaml:") {
				t.Fatalf("load %d: errors %q, want them in environment order", i, got)
			}
		}
	}
}

// TestDiscoverNonUTF8Folder: a folder under the stacks root whose name is
// not UTF-8 stopped discovery in the work tree with io/fs's "readdir
// stacks/ord\xe9ers: invalid argument" (raw bytes, no fix); it is now the
// same error as loading such a stack gives, its path escaped in the text.
func TestDiscoverNonUTF8Folder(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "stacks/ord\xe9ers/stack.yaml", stackYAML)
	// The other stacks are found still: the folder stopped discovery,
	// and validate -s s said "there are no stacks under stacks/".
	write(t, dir, "stacks/a/stack.yaml", stackYAML)
	write(t, dir, "stacks/z/x\xe9/stack.yaml", strings.Replace(stackYAML, "name: s", "name: t", 1))
	write(t, dir, "stacks/zz/stack.yaml", strings.Replace(stackYAML, "name: s", "name: u", 1))
	refs, err := Discover(DirFS(dir), "stacks")
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.List) != 2 || errs.List[0].File != "stacks/ord\xe9ers" || errs.List[1].File != "stacks/z/x\xe9" {
		t.Fatalf("Discover = %v, want one problem at each folder", err)
	}
	if fmt.Sprint(refs) != "[{s stacks/a} {u stacks/zz}]" {
		t.Errorf("Discover found %v, want the stacks in UTF-8 folders", refs)
	}
	if want := `stacks/ord\xe9ers: the name "ord\xe9ers" is not valid UTF-8, which panka cannot read: rename it (git mv) to a UTF-8 name`; !strings.Contains(err.Error(), want) {
		t.Errorf("Discover = %q, want %q", err, want)
	}
}

// A commit made before panka checked where Services are (a rollback
// target, a deployed commit) loads with LoadLegacy as panka loaded it
// then: each Service groups the components of its folder and below,
// wherever it is, and each layout now refused is a warning with its
// file:line, not an error. The services wanted are what panka before
// that check (9725815d^) showed for these layouts.
func TestLoadLegacyLayouts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    map[string]string
		services map[string]string // component -> its service
		warns    []string
		errs     []string // Load's, when not warns
	}{
		{"service in infra", map[string]string{
			"stacks/s/infra/ops.yaml": doc("Service", "ops") + "---\n" + doc("Queue", "q1"),
			"stacks/s/infra/b.yaml":   doc("Bucket", "b1"),
		}, map[string]string{"q1": "ops", "b1": "ops"}, []string{
			"stacks/s/infra/ops.yaml:2:7: kind: a Service document belongs in stacks/s/services/<service>/service.yaml, not in stacks/s/infra/: move it to stacks/s/services/ops/service.yaml",
		}, nil},
		{"service at the stack root, nested, and folders without one", map[string]string{
			"stacks/s/rootsvc.yaml":                   doc("Service", "rootsvc"),
			"stacks/s/infra/b.yaml":                   doc("Bucket", "b1"),
			"stacks/s/services/q2.yaml":               doc("Queue", "q2"),
			"stacks/s/services/api/q3.yaml":           doc("Queue", "q3"),
			"stacks/s/services/api/jobs/service.yaml": doc("Service", "jobs") + "---\n" + doc("Queue", "q4"),
			"stacks/s/services/web/q5.yaml":           doc("Queue", "q5"),
		}, map[string]string{"b1": "", "q2": "", "q3": "", "q4": "jobs", "q5": ""}, []string{
			"stacks/s/rootsvc.yaml:2:7: kind: a Service document belongs in stacks/s/services/<service>/service.yaml, not in stacks/s/:",
			"stacks/s/services/api/jobs/service.yaml:2:7: kind: a Service document belongs in stacks/s/services/<service>/service.yaml, not in stacks/s/services/api/jobs/:",
			`stacks/s/services/q2.yaml:4:9: Queue "q2" is directly in stacks/s/services/, where only service folders belong`,
			"stacks/s/services/web/q5.yaml:4:9: service folder stacks/s/services/web has no Service document",
		}, nil},
		{"service directly in services", map[string]string{
			"stacks/s/services/service.yaml": doc("Service", "all"),
			"stacks/s/services/q2.yaml":      doc("Queue", "q2"),
			"stacks/s/services/api/q3.yaml":  doc("Queue", "q3"),
			"stacks/s/infra/b.yaml":          doc("Bucket", "b1"),
		}, map[string]string{"q2": "all", "q3": "all", "b1": ""}, []string{
			"stacks/s/services/service.yaml:2:7: kind: a Service document belongs in stacks/s/services/<service>/service.yaml, not in stacks/s/services/:",
		}, []string{
			"stacks/s/services/service.yaml:2:7: kind: a Service document belongs in stacks/s/services/<service>/service.yaml, not in stacks/s/services/:",
			`stacks/s/services/q2.yaml:4:9: Queue "q2" is directly in stacks/s/services/`,
			"stacks/s/services/api/q3.yaml:4:9: service folder stacks/s/services/api has no Service document",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := testFS(tc.files)
			// Load (validate, plan of the work tree) still refuses them.
			_, err := Load(fsys, "stacks/s")
			if tc.errs == nil {
				tc.errs = tc.warns
			}
			wantErrs(t, err, tc.errs...)
			s, warns, err := LoadLegacy(fsys, "stacks/s")
			if err != nil {
				t.Fatalf("LoadLegacy: %v", err)
			}
			wantErrs(t, &Errors{List: warns}, tc.warns...)
			r, err := s.Resolve("dev", ResolveOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for name, svc := range tc.services {
				if c := r.Component(name); c == nil || c.Service != svc {
					t.Errorf("%s: %+v, want service %q", name, c, svc)
				}
			}
		})
	}
	// A stack in today's layout has no warnings, and other problems stay
	// errors.
	if _, warns, err := LoadLegacy(testFS(map[string]string{"stacks/s/services/api/service.yaml": doc("Service", "api") + "---\n" + doc("Queue", "q")}), "stacks/s"); err != nil || warns != nil {
		t.Errorf("today's layout: warnings %v, error %v", warns, err)
	}
	_, warns, err := LoadLegacy(testFS(map[string]string{"stacks/s/infra/ops.yaml": doc("Service", "ops") + "---\n" + doc("Queue", "q1"), "stacks/s/infra/more.yaml": doc("Queue", "q1")}), "stacks/s")
	wantErrs(t, err, `stacks/s/infra/ops.yaml:10:9: metadata.name: duplicate component name "q1"`)
	wantErrs(t, &Errors{List: warns}, "stacks/s/infra/ops.yaml:2:7: kind: a Service document belongs in")
}

// A spec.watch glob of a form refused since (it matched nothing, or less
// than meant) made a deployed commit's stack refuse to load, though
// watch is never part of what is deployed: LoadLegacy leaves it out,
// with a warning, and keeps the others.
func TestLoadLegacyWatchGlobs(t *testing.T) {
	fsys := testFS(map[string]string{"stacks/s/stack.yaml": stackYAML + "  watch: ['shared//x', 'ok/**', '!tmp/**']\n"})
	want := []string{
		`stacks/s/stack.yaml:16:11: spec.watch[0]: watch glob "shared//x" has an empty or "." path segment, which matches no path: write shared/x`,
		`stacks/s/stack.yaml:16:33: spec.watch[2]:`,
	}
	_, err := Load(fsys, "stacks/s")
	wantErrs(t, err, want...)
	s, warns, err := LoadLegacy(fsys, "stacks/s")
	if err != nil {
		t.Fatalf("LoadLegacy: %v", err)
	}
	wantErrs(t, &Errors{List: warns}, want...)
	if got := s.Header().Watch; !slices.Equal(got, []string{"ok/**"}) {
		t.Errorf("watch globs %q, want [ok/**]", got)
	}
	if _, err := s.Resolve("dev", ResolveOptions{}); err != nil {
		t.Error(err)
	}
}

// An env entry written without a value (LOG_LEVEL:) was left out of the
// container's environment until it was refused: a stack LoadLegacy
// loaded resolves it so still, the problem in Resolved.Legacy.
func TestResolveLegacyNullEntry(t *testing.T) {
	fsys := testFS(map[string]string{cf: ms("env: {A: x, LOG_LEVEL: , B: ~}")})
	want := []string{
		cf + `:7:26: spec.env.LOG_LEVEL: LOG_LEVEL has no value (null): give it one ("" for an empty string) or remove the line`,
		cf + `:7:31: spec.env.B: B has no value (null)`,
	}
	_, err := loadResolve(fsys, "dev", ResolveOptions{})
	wantErrs(t, err, want...)
	s, warns, err := LoadLegacy(fsys, "stacks/s")
	if err != nil || warns != nil {
		t.Fatalf("LoadLegacy: %v, %v", warns, err)
	}
	r, err := s.Resolve("dev", ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantErrs(t, &Errors{List: r.Legacy}, want...)
	if env := r.Component("api").Spec["env"]; !reflect.DeepEqual(env, map[string]any{"A": "x"}) {
		t.Errorf("env %#v, want only A", env)
	}
	if strings.Contains(string(r.Canonical()), "has no value") {
		t.Errorf("the warnings are in the model: %s", r.Canonical())
	}
}

// image: $TAG (TAG declared) deployed the image "$TAG" until it was
// refused: a stack LoadLegacy loaded resolves it so still.
func TestResolveLegacyUnbracedVar(t *testing.T) {
	fsys := testFS(map[string]string{cf: ms("env: {V: $TAG}")})
	want := cf + `:7:12: spec.env.V: $TAG is not substituted: panka reads a variable only as ${TAG}`
	_, err := loadResolve(fsys, "dev", ResolveOptions{})
	wantErrs(t, err, want)
	s, _, err := LoadLegacy(fsys, "stacks/s")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve("dev", ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantErrs(t, &Errors{List: r.Legacy}, want)
	if env := r.Component("api").Spec["env"]; !reflect.DeepEqual(env, map[string]any{"V": "$TAG"}) {
		t.Errorf("env %#v, want V: $TAG", env)
	}
}
