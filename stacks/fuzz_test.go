package stacks

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary component and overlay files to the loader and
// the resolver: nothing may panic or hang, and a resolved model must encode.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("../testdata/examples/stacks/*/*/*.yaml")
	more, _ := filepath.Glob("../testdata/examples/stacks/*/services/*/*.yaml")
	for _, p := range append(files, more...) {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b, []byte(devYAML))
		}
	}
	f.Add([]byte(ms("env: {A: '${TAG}', B: '${api.url}'}")), []byte(devYAML+"  overrides:\n    api: {replicas: 3, env: null}\n"))
	f.Add([]byte("a: &a [*a]"), []byte("b: &b {<<: *b}"))
	f.Add([]byte(ms("command: [!Sub x]", "env: !Foo {A: b}")), []byte(devYAML+"  overrides:\n    api: {image: !!binary aGk=}\n"))
	f.Add([]byte(doc("Topic", "t", "subscriptions: [{queue: t}]")), []byte(devYAML+"  provider: {region: '${HOST}'}\n"))
	// Hand-written slips found by QA: a null env entry, no space after a
	// colon, ": " in a plain value or a list item, an invisible character
	// in a key, an empty or blank image, a null override, ${ x.y }.
	f.Add([]byte(ms("env: {LOG_LEVEL: , A: '${ api.url }'}", "command:", "  - echo done: 3", "healthCheck:", "  path:/x")), []byte(devYAML+"  overrides:\n    api:\n    apii:\n"))
	f.Add([]byte(doc("Bucket", "b\u200b", "versioning: yes", "description: Note: x")), []byte(devYAML+"  variables:\n    tag: x\n"))
	f.Add([]byte(doc("Worker", "w", "image: |", "  nginx", "dependsOn: ['${w.serviceName}', '']")), []byte(devYAML+"  overrides:\n    w: {image: ' '}\n"))
	// Indentation and newcomer slips the hints read lines for: a list item
	// lined up with its key, a "- x" folded into text, fields not indented
	// under theirs, a quote inside quotes, @ and a tab after a dash, a
	// second document without ---, wrong-case keys, env as a list.
	f.Add([]byte(ms("dependsOn:", "  - db", "- c", "env: a", "  - b", "healthCheck:", "path: /x", "Image: y")), []byte(devYAML+"overrides:\n  - api: {A=1}\n"))
	f.Add([]byte(ms("env:", "  A: 'it's'", "  B: @x", "command:", "  -\tdb")+ms()), []byte("Kind: Environment\nvariables:\n  - name: A\n    value: b\n"))
	// A text item where a subscription's mapping belongs, a subscription
	// without its "- ", Helm templates in a value, a control line and a
	// list item.
	f.Add([]byte(doc("Queue", "orders")+"---\n"+doc("Topic", "t", "subscriptions:", "  - orders", "  - ${orders.arn}", "  - https://h.example/o")), []byte(devYAML+"  overrides:\n    t:\n      subscriptions:\n        protocol: https\n"))
	f.Add([]byte(ms("{{- if .Values.debug }}", "command:", "  - {{ .Values.cmd }} --x", "{{- end }}")), []byte(devYAML+"  variables:\n    HOST: {{ .Values.host }}:{{ .Values.port }}\n"))
	f.Add([]byte(doc("CronJob", "c", "schedule: */5 * * * *", "image: x", "command:", "  - & x")), []byte(devYAML+"  variables:\n    HOST: *\n"))
	f.Fuzz(func(t *testing.T, comp, env []byte) {
		fsys := testFS(map[string]string{cf: string(comp), "stacks/s/environments/dev.yaml": string(env)})
		if len(comp) == 0 {
			delete(fsys, cf)
		}
		if len(env) == 0 {
			delete(fsys, "stacks/s/environments/dev.yaml")
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			s, err := Load(fsys, "stacks/s")
			if err != nil {
				_ = err.Error()
				return
			}
			_ = s.Validate(ResolveOptions{Vars: VarValues{Flags: map[string]string{"KEY": "k"}}})
			for _, e := range s.Environments() {
				r, err := s.Resolve(e, ResolveOptions{Lenient: true})
				if err != nil {
					continue
				}
				_ = r.Canonical()
				if _, err := r.Graph(); err != nil {
					t.Errorf("resolved model with a broken graph: %v", err)
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("load/resolve hung")
		}
		if out, err := Format(comp); err == nil {
			if _, err := Format(out); err != nil {
				t.Errorf("formatted output does not parse: %v\n%s", err, out)
			}
		}
	})
}

// FuzzQuickName checks that the parse-free fast path of Discover never
// disagrees with the YAML parser.
func FuzzQuickName(f *testing.F) {
	f.Add([]byte(stackYAML))
	f.Add([]byte("metadata:\n  labels:\n    name: x\n  name: y\n"))
	f.Add([]byte("metadata:\n  name: a\nmetadata:\n  name: b\n"))
	f.Add([]byte("metadata:\n  name: a # c\n"))
	f.Add([]byte("metadata:\n  name: null\n"))
	f.Add([]byte("metadata:\n  name: cart\n    extra\n"))
	f.Add([]byte("metadata:\n  name: cart\n\n    extra\n  labels:\n    a: b\n"))
	f.Add([]byte("metadata:\n  name: cart\n  extra\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		q := QuickName(data)
		if q == "" {
			return
		}
		var errs errList
		docs := parseFile("f", data, &errs)
		if len(errs.list) > 0 || len(docs) != 1 {
			return // Load reports these
		}
		n := docs[0].root.get("metadata").get("name")
		if n == nil || n.kind != nScalar || n.value != q {
			t.Errorf("QuickName %q, parser %v", q, n)
		}
	})
}

// FuzzFormat checks that formatting never changes what a stack file means:
// the formatted output parses to the same documents; and that Format's
// shortcut for a file already formatted never takes one yaml.v3 changes. (Files with YAML tags
// are left out: yaml.v3 writes some custom-tagged values back differently,
// and stack files have no use for tags.)
func FuzzFormat(f *testing.F) {
	files, _ := filepath.Glob("testdata/fmt/*.yaml")
	more, _ := filepath.Glob("../testdata/examples/stacks/*/*/*.yaml")
	for _, p := range append(files, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("a: |\n\n  x\nb: {c}\n"))
	// An alias to an anchored empty key: written as "&x '': *x" it
	// read "" where the file meant null (found by FuzzLoad).
	f.Add([]byte("0:\n      &hook: *hook"))
	f.Add([]byte("{&x : *x, *x : 1}\n"))
	f.Add([]byte("# c\napiVersion: v\nkind: K\nmetadata:\n  name: n\nspec:\n  a: [x, 'y', \"z\"]\n  b:\n    - c: d\n      e: {}\n---\nkind: K\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		// Format's shortcut for a formatted file (formatted) agrees
		// with yaml.v3's encoder.
		checkFormatted(t, in)
		if bytes.IndexByte(in, '!') >= 0 {
			return
		}
		var errs errList
		docs := parseFile("f", in, &errs)
		if len(errs.list) > 0 || len(docs) == 0 {
			return
		}
		out, err := Format(in)
		if err != nil {
			return
		}
		var errs2 errList
		docs2 := parseFile("f", out, &errs2)
		if len(errs2.list) > 0 || len(docs2) != len(docs) {
			t.Fatalf("formatted file does not parse the same (%v):\n%q\n%q", errs2.list, in, out)
		}
		for i := range docs {
			if a, b := dump(docs[i].root), dump(docs2[i].root); a != b {
				t.Fatalf("formatting changed document %d:\n%q\n%q\n%s\n%s", i, in, out, a, b)
			}
		}
		if again, err := Format(out); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("formatting is not idempotent (%v):\n%q\n%q\n%q", err, in, out, again)
		}
	})
}
