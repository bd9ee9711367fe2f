package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzResolve feeds arbitrary ~/.panka/config.yaml and panka.yaml files to
// Resolve: any input is a configuration or an error naming the file,
// never a panic, and a resolved configuration reports every key.
func FuzzResolve(f *testing.F) {
	if b, err := os.ReadFile("../../../../testdata/examples/panka.yaml"); err == nil {
		f.Add(b, []byte(""))
		f.Add([]byte(""), b)
	}
	f.Add([]byte("backend:\n  bucket: b\n  usePathStyle: true\nlocks:\n  ttl: 1h\n"), []byte("version: v1\nlocks: {type: dynamodb, heartbeat: 30}\n"))
	f.Add([]byte("a: &a [*a]\n"), []byte("backend: *x\n"))
	f.Add([]byte("backend:\n  bucket: b\n  bucket: c\n"), []byte("- 1\n"))
	f.Add([]byte("locks:\n  ttl: 9223372037\n"), []byte(""))
	f.Add([]byte(""), []byte("locks: {ttl: 18446744074}\n"))
	f.Add([]byte("preferences: {parallelism: -1}\n"), []byte(""))
	f.Fuzz(func(t *testing.T, user, repo []byte) {
		dir := t.TempDir()
		uf, rf := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "panka.yaml")
		if err := os.WriteFile(uf, user, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(rf, repo, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Resolve(Layers{UserFile: uf, RepoFile: rf})
		if err != nil {
			if msg := err.Error(); !strings.Contains(msg, dir) {
				t.Fatalf("error does not name the file: %s", msg)
			}
			return
		}
		_ = r.Validate()
		if len(r.Values()) != len(Keys()) {
			t.Fatalf("%d values for %d keys", len(r.Values()), len(Keys()))
		}
		for _, k := range Keys() {
			if v := fieldByPath(reflect.ValueOf(&r.Config).Elem(), k.Path); v.Type() == durationType && v.Int() <= 0 {
				t.Fatalf("%s resolved to %v: a duration must be positive", k.Path, v.Interface())
			}
		}
	})
}
