package osfile_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"panka.dev/panka/gitops/osfile"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a", "hello\n")
	empty := write("empty", "")
	link := filepath.Join(dir, "link")
	symlinks := runtime.GOOS != "windows" && os.Symlink("a", link) == nil
	big := osfile.Options{Max: 1 << 20}
	type tc struct {
		name string
		path string
		opts osfile.Options
		want string
		ok   bool
	}
	cases := []tc{
		{"regular", a, big, "hello\n", true},
		{"over Max", a, osfile.Options{Max: 3}, "", false},
		{"empty", empty, big, "", true},
		{"empty refused", empty, osfile.Options{Max: 10, NoEmpty: true}, "", false},
		{"folder", dir, big, "", false},
		{"missing", filepath.Join(dir, "nope"), big, "", false},
	}
	if symlinks {
		cases = append(cases,
			tc{"symlink followed", link, big, "hello\n", true},
			tc{"symlink refused", link, osfile.Options{Max: 1 << 20, NoFollow: true}, "", false})
	}
	for _, c := range cases {
		got, ok := osfile.Read(c.path, c.opts)
		if ok != c.ok || string(got) != c.want {
			t.Errorf("%s: Read = %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
