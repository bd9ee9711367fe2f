package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"panka.dev/panka/stacks"
)

// stackTestFactory returns a Factory working in dir with a private HOME,
// the given stdin, TTY-ness and environment.
func stackTestFactory(t *testing.T, dir, stdin string, tty bool, env ...string) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	ios, in, out, errOut := Test()
	in.WriteString(stdin)
	ios.SetTTY(tty, tty, tty)
	f := NewFactory(ios)
	home := filepath.Join(t.TempDir(), "home")
	f.Getwd = func() (string, error) { return dir, nil }
	f.Home = func() (string, error) { return home, nil }
	f.Environ = func() []string { return env }
	return f, out, errOut
}

func TestParseVarFile(t *testing.T) {
	tests := []struct {
		name, data string
		want       map[string]string
		wantErr    string
	}{
		{"yaml", "A: one\nB: 2\nC: true\n", map[string]string{"A": "one", "B": "2", "C": "true"}, ""},
		{"dotenv", "# c\nexport A=one\nB = \"two words\"\nC='x=y'\n\n", map[string]string{"A": "one", "B": "two words", "C": "x=y"}, ""},
		{"empty", "\n", map[string]string{}, ""},
		// Windows editors and PowerShell write a byte order mark; it must
		// not become part of the first name (which no stack declares).
		{"dotenv bom crlf", "\ufeffA=one\r\nB=two\r\n", map[string]string{"A": "one", "B": "two"}, ""},
		{"yaml bom", "\ufeffA: one\n", map[string]string{"A": "one"}, ""},
		{"yaml url value", "URL: http://x:80/a=b\n", map[string]string{"URL": "http://x:80/a=b"}, ""},
		{"dotenv bad line", "A=1\nnope\n", nil, "line 2: want NAME=value"},
		// A comment after the value, as the shell and docker compose
		// read it: the quotes and the comment were part of the value.
		{"dotenv comments after values", "A=\"s3cret\" # rotated monthly\nB=1.2.3 # pinned\nC='x y'\t# c\nD=a#b\nE=\"a # b\"\nF=\"say \\\"hi\\\"\" # q\nG=#\nH= # none\n", map[string]string{"H": "", "A": "s3cret", "B": "1.2.3", "C": "x y", "D": "a#b", "E": "a # b", "F": `say \"hi\"`, "G": "#"}, ""},
		{"dotenv unclosed quote", "A=\"s3cret\n", nil, "line 1: A: the value's opening \" quote is not closed on its line"},
		{"dotenv text after quotes", "A='s3cret' x\n", nil, "line 1: A: text after the value's closing ' quote"},
		{"yaml nested", "A: {b: c}\n", nil, "line 1: A: want a string, number or boolean"},
		{"yaml list", "- a\n", nil, "line 1: want a mapping of NAME: value (YAML) or NAME=value lines, got a list"},
		// A NAME=value file whose first line lacks the "=" reads as YAML
		// text: the error says which line and both forms, not the text
		// (it may be a secret).
		{"dotenv first line without =", "# vars\nDB_PASSWORD hunter2\nB=2\n", nil, "line 2: want a mapping of NAME: value (YAML) or NAME=value lines, got a line that is neither NAME=value nor NAME: value"},
		{"yaml duplicate", "A: one\nB: 2\nA: two\n", nil, "line 3: A: duplicate key (first set at line 1): remove one of them"},
		// A null is no value: not the text "null", "~" or "" (an
		// environment file refuses it as well); quoted, it is that text.
		{"yaml null", "A: one\nB: null\n", nil, `line 2: B: want a string, number or boolean, got null (write "" for an empty value, or remove the line)`},
		{"yaml tilde", "B: ~\n", nil, "line 1: B: want a string, number or boolean, got null"},
		{"yaml empty value", "A: one\nB:\nC: 3\n", nil, "line 2: B: want a string, number or boolean, got null"},
		// A tag was dropped: !Ref x gave the text "x".
		{"yaml tag", "A: one\nB: !Ref x\n", nil, "line 2: B: the value starts with \"!\", which YAML reads as a tag (not shown: the value may be a secret): put the value in quotes, or remove the tag"},
		{"yaml binary", "B: !!binary aGk=\n", nil, "line 1: B: YAML tag !!binary is not supported"},
		{"yaml core tag", "B: !!str 3\n", map[string]string{"B": "3"}, ""},
		{"yaml quoted", "A: \"\"\nB: \"null\"\nC: '~'\n", map[string]string{"A": "", "B": "null", "C": "~"}, ""},
		// YAML syntax errors name the right line, without yaml.v3's prefix.
		{"yaml unclosed", "A: one\nB: [x\nC: 3\n", nil, "line 2: not valid YAML: did not find expected ',' or ']' (want NAME: value YAML or NAME=value lines)"},
		{"yaml tab", "A: one\n\tB: 2\n", nil, "line 2:1: not valid YAML: a tab in the indentation"},
		// Two files joined with ---: the second document's variables
		// were silently left out (yaml.Unmarshal reads one document).
		{"yaml two documents", "A: one\n---\nB: two\n", nil, "line 3: a second YAML document (after ---): a variables file is one mapping of NAME: value; remove the --- or pass each part with its own --var-file"},
		{"yaml empty documents", "---\n# header\n---\nA: one\n---\n", map[string]string{"A": "one"}, ""},
		{"yaml comments only", "# A: one\n", map[string]string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVarFile([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestVarFlagsValues(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "v.yaml"), []byte("A: file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _, _ := stackTestFactory(t, dir, "", false, "PANKA_VAR_A=env", "PANKA_VAR_B=env-b", "PANKA_VAR_=x", "OTHER=1")
	v := varFlags{Vars: []string{"A=flag", "C=x=y"}, VarFiles: []string{"v.yaml"}}
	got, err := v.values(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Flags["A"] != "flag" || got.Flags["C"] != "x=y" || got.File["A"] != "file" || got.Env["A"] != "env" || got.Env["B"] != "env-b" || len(got.Env) != 2 {
		t.Errorf("%+v", got)
	}
	var ue *UsageError
	if _, err := (&varFlags{Vars: []string{"=x"}}).values(context.Background(), f); !errors.As(err, &ue) {
		t.Errorf("--var =x: %v", err)
	}
	if _, err := (&varFlags{VarFiles: []string{"missing.yaml"}}).values(context.Background(), f); err == nil || !strings.Contains(err.Error(), "--var-file missing.yaml") {
		t.Errorf("missing var file: %v", err)
	}
}

// TestVarFileNameValueHidden: --var-file NAME=VALUE (meant as --var, e.g.
// the shell completed --var to --var-file) printed the value back with the
// path it could not open; a name that may itself be a secret (base64
// ending in "=") is not shown either. A file that exists is read as one.
func TestVarFileNameValueHidden(t *testing.T) {
	dir := t.TempDir()
	f, _, _ := stackTestFactory(t, dir, "", false)
	tests := []struct{ arg, want string }{
		{"DB_PASSWORD=hunter2", `--var-file "DB_PASSWORD=..." (its value not shown): no such file or directory: to set a variable write --var NAME=VALUE`},
		{"aHVudGVyMg==", `--var-file (not shown: it may be a secret value): no such file or directory: to set a variable write --var NAME=VALUE`},
	}
	for _, tt := range tests {
		_, err := (&varFlags{VarFiles: []string{tt.arg}}).values(context.Background(), f)
		if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "aHVudGVy") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--var-file %s: err = %v, want %q and not the value", tt.arg, err, tt.want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "A=b.env"), []byte("A=file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := (&varFlags{VarFiles: []string{"A=b.env"}}).values(context.Background(), f); err != nil || got.File["A"] != "file" {
		t.Errorf("--var-file A=b.env (a file): %+v, %v", got, err)
	}
}

// TestVarValueNotText: a value that is not UTF-8 text (a secrets file
// saved as Latin-1) or holds a NUL byte is refused from every source,
// naming the variable but not the value. It was taken as given, hashed so
// into state, and deployed with U+FFFD in place of the bytes the engine's
// JSON could not carry: another password, silently.
func TestVarValueNotText(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.env"), []byte("A=ok\nDB_PASSWORD=hunter\xf6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "n.env"), []byte("DB_PASSWORD=hunter\x00x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _, _ := stackTestFactory(t, dir, "", false)
	fenv, _, _ := stackTestFactory(t, dir, "", false, "PANKA_VAR_DB_PASSWORD=hunter\xf6")
	tests := []struct {
		f    *Factory
		v    varFlags
		want string
	}{
		{f, varFlags{Vars: []string{"DB_PASSWORD=hunter\xf6"}}, "--var DB_PASSWORD: the value is not valid UTF-8 text (not shown: it may be a secret)"},
		{f, varFlags{VarFiles: []string{"s.env"}}, "--var-file s.env: line 2: DB_PASSWORD: the value is not valid UTF-8 text (not shown: it may be a secret): save the file as UTF-8"},
		{f, varFlags{VarFiles: []string{"n.env"}}, "--var-file n.env: line 1: DB_PASSWORD: the value holds a NUL byte (not shown: it may be a secret)"},
		{fenv, varFlags{}, "environment variable PANKA_VAR_DB_PASSWORD: the value is not valid UTF-8 text"},
	}
	for _, tt := range tests {
		_, err := tt.v.values(context.Background(), tt.f)
		if err == nil || strings.Contains(err.Error(), "hunter") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want %q and not the value", tt.v, err, tt.want)
		}
	}
	if got, err := (&varFlags{Vars: []string{"A=Passwört €"}}).values(context.Background(), f); err != nil || got.Flags["A"] != "Passwört €" {
		t.Errorf("UTF-8 value: %+v, %v", got, err)
	}
}

// TestVarFilesRepeated: --var-file is repeatable, a later file winning
// (a secret kept in its own file next to the common ones); a second
// --var-file given was once the only one read, so the variables of the
// first were silently unset and a secret deployed as "". Stdin can be
// read only once.
func TestVarFilesRepeated(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"common.env": "A=common\nB=common\n", "secrets.yaml": "B: secret-b\nC: secret-c\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, _, _ := stackTestFactory(t, dir, "D=stdin\nC=stdin-c\n", false)
	got, err := (&varFlags{VarFiles: []string{"common.env", "secrets.yaml", "-"}}).values(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "common", "B": "secret-b", "C": "stdin-c", "D": "stdin"}
	if fmt.Sprint(got.File) != fmt.Sprint(want) {
		t.Errorf("var files: %v, want %v", got.File, want)
	}
	f, _, _ = stackTestFactory(t, dir, "A=x\n", false)
	var ue *UsageError
	if _, err := (&varFlags{VarFiles: []string{"-", "common.env", "-"}}).values(context.Background(), f); !errors.As(err, &ue) || !strings.Contains(err.Error(), "--var-file - is given more than once") {
		t.Errorf("stdin twice: %v", err)
	}
}

func TestInitRun(t *testing.T) {
	tests := []struct {
		name    string
		tty     bool
		stdin   string
		env     []string
		opts    InitOptions
		given   []string
		want    []string // lines in the written file
		wantErr string
	}{
		{"no tty uses flags only", false, "s3\nnever-read\n", nil, InitOptions{}, nil, []string{"  type: local"}, ""},
		{"tty prompts for the rest", true, "s3\nmy-bucket\n\nlocks\nprod\n", nil, InitOptions{}, nil,
			[]string{"  type: s3", "  bucket: my-bucket", "  region: us-east-1", "  table: locks", "  profile: prod"}, ""},
		{"the region offered is AWS_REGION's", true, "s3\nmy-bucket\n\n\n\n", []string{"AWS_REGION=eu-west-3"}, InitOptions{}, nil,
			[]string{"  bucket: my-bucket", "  region: eu-west-3"}, ""},
		{"tty skips values given as flags", true, "\n\n\n", nil, InitOptions{BackendType: "s3", Bucket: "flag-bucket"}, []string{"backend-type", "bucket"},
			[]string{"  type: s3", "  bucket: flag-bucket", "  region: us-east-1"}, ""},
		// The type offered follows the flags, as without a terminal:
		// accepting it was refused with "--bucket needs --backend-type s3".
		{"tty offers s3 for a bucket given", true, "\n\n\n\n", nil, InitOptions{Bucket: "flag-bucket"}, []string{"bucket"},
			[]string{"  type: s3", "  bucket: flag-bucket"}, ""},
		{"tty offers s3 for a table given", true, "\nmy-bucket\n\n\n", nil, InitOptions{Table: "locks"}, []string{"table"},
			[]string{"  type: s3", "  bucket: my-bucket", "  table: locks"}, ""},
		{"tty local asks nothing more", true, "local\n", nil, InitOptions{}, nil, []string{"  type: local"}, ""},
		{"quotes odd values", false, "", nil, InitOptions{Bucket: "acme-state", Profile: "true"}, nil, []string{`  profile: "true"`}, ""},
		// A refused answer is said and asked again, not reported as a
		// flag once every question is answered.
		{"answers are checked where typed", true, "gcs\ns3\n\nMy Bucket\nmy-bucket\nmars\n\nbad table!\nlocks\n\n", nil, InitOptions{}, nil,
			[]string{"  type: s3", "  bucket: my-bucket", "  region: us-east-1", "  table: locks"}, ""},
		// "S3", as the next question writes it, is s3: it was refused,
		// the bucket typed next was read as the backend and refused, and
		// an Enter wrote a local configuration.
		{"the backend answer is not case-sensitive", true, "S3\nmy-bucket\n\n\n\n", nil, InitOptions{}, nil,
			[]string{"  type: s3", "  bucket: my-bucket"}, ""},
		{"Local", true, "Local\n", nil, InitOptions{}, nil, []string{"  type: local"}, ""},
		{"input ends before a good answer", true, "s3\nMy Bucket\n", nil, InitOptions{}, nil, nil, `no answer to "S3 bucket for state" (the input ended): nothing was written; run panka init again, or give the values as flags`},
		{"bad type", false, "", nil, InitOptions{BackendType: "gcs"}, nil, nil, `--backend-type "gcs": use s3 or local`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, out, errOut := stackTestFactory(t, t.TempDir(), tt.stdin, tt.tty, tt.env...)
			opts := tt.opts
			opts.F = f
			opts.given = map[string]bool{}
			for _, g := range tt.given {
				opts.given[g] = true
			}
			err := initRun(&opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			home, _ := f.Home()
			data, err := os.ReadFile(filepath.Join(home, ".panka", "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(data), w+"\n") {
					t.Errorf("missing %q in\n%s", w, data)
				}
			}
			if !strings.Contains(out.String(), "wrote ") {
				t.Errorf("stdout %q", out)
			}
			if prompted := errOut.String() != "check it with `panka config show`\n"; prompted != tt.tty {
				t.Errorf("prompted = %v on tty = %v: %q", prompted, tt.tty, errOut)
			}
		})
	}
}

func TestValidateRunFindsStrays(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		p = filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("stacks/lost/infra/q.yaml", "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata: {name: q}\nspec: {}\n")
	f, out, errOut := stackTestFactory(t, dir, "", false)
	err := validateRun(context.Background(), &ValidateOptions{F: f})
	var ec *ExitCodeError
	if !errors.As(err, &ec) || ec.Code != ExitError {
		t.Fatalf("err = %v", err)
	}
	if out.Len() != 0 || !strings.Contains(errOut.String(), "stacks/lost/infra/q.yaml: YAML file outside any stack") {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
}

// TestVarFileTooLong: a --var-file (or stdin) over the size limit is an
// error; stdin was cut at the size limit without a word, possibly in the middle of a
// value, and a file (/dev/zero) was read until memory ran out.
func TestVarFileTooLong(t *testing.T) {
	dir := t.TempDir()
	long := "A=" + strings.Repeat("x", 10<<20) + "\nB=after\n"
	path := filepath.Join(dir, "vars.env")
	if err := os.WriteFile(path, []byte(long), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, file, stdin, want string }{
		{"stdin", "-", long, "--var-file stdin: more than 1 MB"},
		{"file", path, "", "--var-file " + path + ": more than 1 MB"},
		{"device", "/dev/zero", "", "--var-file /dev/zero: more than 1 MB"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := stackTestFactory(t, dir, tt.stdin, false)
			v := &varFlags{VarFiles: []string{tt.file}}
			if _, err := v.values(context.Background(), f); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("values() = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestFindRefManyStacks: a mistyped --stack in a monorepo names the stacks
// it may have meant and how many there are, not every name: it printed
// all of them (4,000 stacks, some 40 KB on one line).
func TestFindRefManyStacks(t *testing.T) {
	var refs []stacks.Ref
	for i := range 300 {
		refs = append(refs, stacks.Ref{Name: fmt.Sprintf("svc-%d", i), Path: fmt.Sprintf("stacks/svc-%d", i)})
	}
	tests := []struct{ name, want string }{
		{"svc-1000", `stack "svc-1000" not found under stacks/ (300 stacks, panka stack list names them; did you mean "svc-100"?)`},
		{"svc-2x", `stack "svc-2x" not found under stacks/ (300 stacks, panka stack list names them; did you mean "svc-2" or "svc-20" or "svc-21"?)`},
		{"billing", `stack "billing" not found under stacks/ (300 stacks, panka stack list names them)`},
	}
	for _, tt := range tests {
		_, err := findRef(refs, tt.name, "stacks")
		if err == nil || err.Error() != tt.want {
			t.Errorf("findRef(%q) = %v\nwant %s", tt.name, err, tt.want)
		}
	}
	if _, err := findRef(refs, "svc-7", "stacks"); err != nil {
		t.Errorf("findRef(svc-7): %v", err)
	}
}

// A variables file that is not NAME=value nor a YAML mapping is refused
// without its text: the line may be a secret with a typo.
func TestParseVarFileErrorHidesValue(t *testing.T) {
	_, err := parseVarFile([]byte("DB_PASSWORD hunter2\n"))
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "line 1:") {
		t.Fatalf("err = %v, want line 1 and not the value", err)
	}
}

// TestParseVarFileYAMLErrorsHideValues: a secret in a YAML variables file
// that YAML misreads is refused without its text. A password starting with
// "*" or "!" (an alias or a tag to YAML) or holding ": " was printed back in
// the error ("unknown anchor 'hunter2' referenced: *hunter2 needs an
// &hunter2 ...", "YAML tag !hunter2 is not supported", "put the value in
// quotes (DB_PASSWORD: \"hunter2: x\")"), to a terminal or a CI log.
func TestParseVarFileYAMLErrorsHideValues(t *testing.T) {
	tests := []struct{ data, want string }{
		{"A: one\nDB_PASSWORD: *hunter2\n", `line 2:14: not valid YAML: the value of DB_PASSWORD starts with "*", which YAML reads as an alias (not shown: it may be a secret): put the value in quotes`},
		{"db_password: *hunter2\n", `line 1:14: not valid YAML: a value starting with "*" is read as a YAML alias (not shown: the value may be a secret): put the value in quotes`},
		{"db_password: hunter2: x\n", `line 1:21: not valid YAML: mapping values are not allowed in this context: the value of db_password holds ": ", which YAML reads as another key; put the value in quotes (not shown: it may be a secret)`},
		{"DB_PASSWORD: !hunter2\n", `line 1: DB_PASSWORD: the value starts with "!", which YAML reads as a tag (not shown: the value may be a secret): put the value in quotes`},
		{"DB_PASSWORD: !!hunter2 x\n", `line 1: DB_PASSWORD: the value starts with "!", which YAML reads as a tag`},
		{"DB_PASSWORD: &hunter2\n", `line 1: DB_PASSWORD: the value starts with "&", which YAML reads as an anchor, and nothing follows it (not shown: the value may be a secret): put the value in quotes`},
		{"DB_PASSWORD: hunter2: x\n", `line 1:21: not valid YAML: mapping values are not allowed in this context: the value of DB_PASSWORD holds ": ", which YAML reads as another key; put the value in quotes (not shown: it may be a secret)`},
	}
	for _, tt := range tests {
		_, err := parseVarFile([]byte(tt.data))
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q and not the value", tt.data, err, tt.want)
		}
	}
}
