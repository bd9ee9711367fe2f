//go:build unix

package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestConfigFileNotRegular: a config path that is a named pipe, a device
// or a folder is an error naming it; a pipe hung every command and a link
// to /dev/zero ran out of memory.
func TestConfigFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	pipe := filepath.Join(dir, "pipe.yaml")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.yaml")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{pipe, "not a regular file (a named pipe)"},
		{zero, "not a regular file (a device)"},
		{dir, "it is a folder"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := Resolve(Layers{RepoFile: tt.path})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: %v, want %q", tt.path, err, tt.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Resolve hung", tt.path)
		}
	}
}

// TestConfigFileUnreadable: a config file its user may not read (written
// with sudo panka init, 0600 and root's) is an error about the file, with
// how to see and fix its owner and mode; the generic advice pointed at the
// folder it is in, which was fine. Root reads any file, so as root the
// check runs in a copy of this test as nobody.
func TestConfigFileUnreadable(t *testing.T) {
	if path := os.Getenv("PANKA_TEST_UNREADABLE_CONFIG"); path != "" {
		_, err := Resolve(Layers{UserFile: path})
		fmt.Printf("\nRESOLVE: %v\n", err)
		return
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, []byte("backend:\n  bucket: acme-state\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got string
	if os.Getuid() != 0 {
		if err := os.Chmod(file, 0); err != nil {
			t.Fatal(err)
		}
		_, err := Resolve(Layers{UserFile: file})
		got = fmt.Sprint(err)
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%v is not fs.ErrPermission", err)
		}
	} else {
		// nobody must reach the file (not read it) and run the test
		// binary: a copy of it next to the file.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		self, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, "config.test")
		if err := os.WriteFile(bin, self, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-test.run=^TestConfigFileUnreadable$")
		cmd.Env = append(os.Environ(), "PANKA_TEST_UNREADABLE_CONFIG="+file)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the test as nobody: %v\n%s", err, out)
		}
		_, got, _ = strings.Cut(string(out), "\nRESOLVE: ")
		got, _, _ = strings.Cut(got, "\n")
	}
	want := "read config " + file + ": permission denied: you may not read the file: check its owner and mode (ls -l " + file + "); one written with sudo or by a container belongs to root: chown it back, or chmod a+r it"
	if got != want {
		t.Errorf("error\n%s\nwant\n%s", got, want)
	}
}
