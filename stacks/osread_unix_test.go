//go:build unix

package stacks

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadNamedPipe: a named pipe named like a stack file is an error
// saying what it is; opening it used to wait for a writer for ever, and
// panka validate hung, deaf to Ctrl-C.
func TestLoadNamedPipe(t *testing.T) {
	dir := t.TempDir()
	sdir := filepath.Join(dir, "stacks", "s")
	if err := os.MkdirAll(filepath.Join(sdir, "infra"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sdir, "stack.yaml"), []byte(stackYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(sdir, "infra", "pipe.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Load(DirFS(dir), "stacks/s")
		done <- err
	}()
	select {
	case err := <-done:
		want := "stacks/s/infra/pipe.yaml: is not a regular file (a named pipe)"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Load hung on a named pipe")
	}
}

// TestUnreadableStackFile: a stack.yaml that is a folder or a symbolic
// link loop is reported as such. The folder hid the whole stack (validate
// said every stack was valid); the loop made every file of the stack
// "YAML file outside any stack", asking to add the stack.yaml that is there.
func TestUnreadableStackFile(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"stacks/dir/stack.yaml", "stacks/loop/infra", "stacks/dir/infra"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"stacks/dir/infra/q.yaml", "stacks/loop/infra/q.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(doc("Queue", "q")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("stack.yaml", filepath.Join(dir, "stacks/loop/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "stacks/dangling"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../moved/stack.yaml", filepath.Join(dir, "stacks/dangling/stack.yaml")); err != nil {
		t.Fatal(err)
	}
	fsys := DirFS(dir)
	refs, err := Discover(fsys, "stacks")
	var got []string
	if err != nil {
		got = append(got, err.Error())
	}
	for _, e := range Strays(fsys, "stacks", refs) {
		got = append(got, e.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"stacks/dir/stack.yaml: is a folder, not a file",
		"stacks/loop/stack.yaml: cannot read: too many levels of symbolic links",
		"stacks/dangling/stack.yaml: is a symbolic link to ../moved/stack.yaml, which does not exist: point it at the file",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("want %q in:\n%s", want, all)
		}
	}
	if strings.Contains(all, "outside any stack") {
		t.Errorf("files of a stack whose stack.yaml cannot be read reported as outside any stack:\n%s", all)
	}
}
