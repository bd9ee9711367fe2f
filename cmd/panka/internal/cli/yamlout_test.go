package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// yamlv3 is what show printed before writeYAMLNode.
func yamlv3(t *testing.T, n *yaml.Node) string {
	t.Helper()
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

var yamlStrings = []string{"", " ", "x", "api", "q00001", "a b", "a: b", "a:b", "#x", "a #b", "- x", "-x", "x-", "multi\nline", "multi\nline\n", "\nlead",
	"trailing ", " leading", "yes", "Yes", "YES", "y", "N", "on", "Off", "true", "False", "null", "NULL", "~", "123", "0123", "1.5", "1e3", ".inf",
	"-.inf", ".nan", "0x1F", "0o17", "1_000", "1:20", "2001-01-01", "2001-01-01T00:00:00Z", "é", "naïve café", "tab\there", "quote'", `dq"`, "back\\slash",
	"@x", "`x", "%x", "!x", "&x", "*x", "|x", ">x", "[x", "{x", "x,y", "?x", "x?", "<<", "=", "a/b.c_d-e", "ghcr.io/acme/web:1.0.0",
	"${shop-db.endpoint}", "(sensitive)", "http://x.example/a?b=c#d", strings.Repeat("long ", 40), "\x00nul", "\u200bzw", "bell\a", "line\r\nbreak", "\ttab", "ends\n\n"}

func randYAML(r *rand.Rand, depth int) any {
	switch k := r.Intn(10); {
	case depth > 3 || k < 4:
		switch r.Intn(6) {
		case 0:
			return r.Intn(2000) - 1000
		case 1:
			return r.Intn(2) == 0
		case 2:
			return nil
		case 3:
			return r.Float64() * 100
		default:
			return yamlStrings[r.Intn(len(yamlStrings))]
		}
	case k < 7:
		m := map[string]any{}
		for i := r.Intn(4); i > 0; i-- {
			m[yamlStrings[r.Intn(len(yamlStrings))]] = randYAML(r, depth+1)
		}
		return m
	default:
		var s []any
		for i := r.Intn(4); i > 0; i-- {
			s = append(s, randYAML(r, depth+1))
		}
		return s
	}
}

// TestWriteYAMLNodeAsYAMLv3: show's own writer prints what yaml.v3's
// encoder printed, byte for byte, for trees built from JSON as show builds
// them (mappings, sequences, every kind of scalar, strings that need
// quotes or a block style), or leaves a tree to yaml.v3.
func TestWriteYAMLNodeAsYAMLv3(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	own := 0
	for i := 0; i < 3000; i++ {
		v := map[string]any{"stack": "shop", "components": []any{randYAML(r, 0), map[string]any{"name": "api", "spec": randYAML(r, 1)}}}
		if i%5 == 0 {
			v = map[string]any{"x": randYAML(r, 0)}
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		maskNode(&doc, "", false)
		var buf bytes.Buffer
		err = writeYAMLNode(&buf, &doc)
		if errors.Is(err, errYAMLShape) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		own++
		if want := yamlv3(t, &doc); buf.String() != want {
			t.Fatalf("from %s\nwrote:\n%s\nyaml.v3 writes:\n%s", b, buf.String(), want)
		}
	}
	if own < 1500 {
		t.Errorf("only %d of 3000 trees written by writeYAMLNode", own)
	}
}

// TestShowQuotesYAML11Words: strings a YAML 1.1 reader (PyYAML, yaml.v2,
// Ruby) takes for something else are quoted in show's output, keys too:
// env: {NO: "no"} printed as NO: no, which such a reader made false:
// false, and "=" made PyYAML fail. Other strings keep yaml.v3's layout.
func TestShowQuotesYAML11Words(t *testing.T) {
	b := []byte(`{"env":{"NO":"no","Y":"y","A":"On","T":"1:20","E":"=","M":"<<","P":"plain","Q":"yes please"}}`)
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	maskNode(&doc, "", false)
	var buf bytes.Buffer
	if err := writeYAMLNode(&buf, &doc); err != nil {
		t.Fatal(err)
	}
	want := "env:\n  \"NO\": \"no\"\n  \"Y\": \"y\"\n  A: \"On\"\n  T: \"1:20\"\n  E: \"=\"\n  M: \"<<\"\n  P: plain\n  Q: yes please\n"
	if buf.String() != want {
		t.Errorf("show wrote:\n%s\nwant:\n%s", buf.String(), want)
	}
	if v3 := yamlv3(t, &doc); v3 != want {
		t.Errorf("yaml.v3 (show's fallback) writes:\n%s\nwant:\n%s", v3, want)
	}
}
