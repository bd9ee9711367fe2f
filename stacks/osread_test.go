package stacks

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"testing/fstest"
)

// plainFS hides the type of the file system it wraps (readOSFile then
// never takes it).
type plainFS struct{ fs.FS }

// TestReadOSFile: reading through DirFS with the system-call fast path
// gives exactly what the ordinary fs.FS path gives, content and errors.
func TestReadOSFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "a: 1\n")
	write("sub/b.yaml", "b: 2\n")
	write("empty.yaml", "")
	write("bin.yaml", "a\x00b")
	write("latin1.yaml", "caf\xe9\n")
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxFileSize+1); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Symlink("a.yaml", filepath.Join(dir, "link.yaml")); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		fast bool // the fast path takes it
	}{
		{"a.yaml", runtime.GOOS != "windows"},
		{"sub/b.yaml", runtime.GOOS != "windows"},
		{"link.yaml", runtime.GOOS != "windows"},
		{"bin.yaml", runtime.GOOS != "windows"}, // read fast, refused by checkText
		{"latin1.yaml", runtime.GOOS != "windows"},
		{"empty.yaml", false},
		{"big.yaml", false},
		{"sub", false},
		{"missing.yaml", false},
		{"../a.yaml", false},
		{"/a.yaml", false},
		{"sub//b.yaml", false},
		{"./a.yaml", false},
		{"", false},
		{"a\x00.yaml", false},
	}
	for _, root := range []string{dir, dir + string(filepath.Separator)} {
		osfs := DirFS(root)
		for _, tt := range tests {
			if _, ok := readOSFile(osfs, tt.name); ok != tt.fast {
				t.Errorf("readOSFile(%q) ok = %v, want %v", tt.name, ok, tt.fast)
			}
			gotData, gotErr := readFile(osfs, tt.name)
			wantData, wantErr := readFile(plainFS{osfs}, tt.name)
			if string(gotData) != string(wantData) || (gotErr == nil) != (wantErr == nil) ||
				gotErr != nil && (!reflect.DeepEqual(gotErr.Error, wantErr.Error) || errorsIsNotExist(gotErr) != errorsIsNotExist(wantErr)) {
				t.Errorf("readFile(%q):\nfast path %q, %+v\nfs.FS     %q, %+v", tt.name, gotData, gotErr, wantData, wantErr)
			}
		}
	}
	// Other file systems never take the fast path.
	if _, ok := readOSFile(plainFS{DirFS(dir)}, "a.yaml"); ok {
		t.Error("readOSFile took a file system that is not a DirFS")
	}
	if _, ok := readOSFile(os.DirFS(dir), "a.yaml"); ok {
		t.Error("readOSFile took a plain os.DirFS")
	}
	if _, ok := readOSFile(DirFS(""), "a.yaml"); ok {
		t.Error("readOSFile took DirFS(\"\")")
	}
}

func errorsIsNotExist(e *fileError) bool {
	return e != nil && e.cause != nil && os.IsNotExist(e.cause)
}

// TestDirFS: DirFS is a correct fs.FS (Open, ReadFile, ReadDir and Stat
// agree), like the os.DirFS it wraps.
func TestDirFS(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"a.yaml": "a: 1\n", "sub/b.yaml": "b: 2\n", "empty.yaml": ""} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := fstest.TestFS(DirFS(dir), "a.yaml", "sub/b.yaml", "empty.yaml"); err != nil {
		t.Error(err)
	}
}
