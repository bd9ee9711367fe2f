package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWorkDirGoneOrBadChdir: a folder removed under panka (a CI step's
// temporary folder cleaned up) fails with what to do; an absolute -C does
// not need it at all; -C to a missing folder or to a file says which.
func TestWorkDirGoneOrBadChdir(t *testing.T) {
	repo := t.TempDir()
	if err := os.Mkdir(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(repo, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	gone := func() (string, error) { return "", &os.SyscallError{Syscall: "getwd", Err: syscall.ENOENT} }
	for _, tc := range []struct {
		name, chdir string
		getwd       func() (string, error)
		want        string // error text, "" for repo as the root
	}{
		{"gone", "", gone, "find the working directory: getwd: no such file or directory: the folder panka was started in was removed or cannot be read; cd to the repository again, or pass -C with its absolute path"},
		{"gone, relative -C", "repo", gone, "cd to the repository again, or pass -C with its absolute path"},
		{"gone, absolute -C", repo, gone, ""},
		{"-C missing", filepath.Join(repo, "missing"), gone, "-C " + filepath.Join(repo, "missing") + ": no such folder"},
		{"-C file", "file", func() (string, error) { return repo, nil }, "-C file: not a folder (a file): name the folder to run in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, _, _ := Test()
			f := NewFactory(ios)
			f.Getwd = tc.getwd
			f.Flags.Chdir = tc.chdir
			root, err := f.RepoRoot()
			switch {
			case tc.want == "" && (err != nil || root != repo):
				t.Fatalf("RepoRoot = %q, %v; want %s", root, err, repo)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("RepoRoot error = %v; want %q", err, tc.want)
			}
		})
	}
}
