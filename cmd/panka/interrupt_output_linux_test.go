package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestInterruptedWhileWritingResult: a read-only command stopped by a
// signal while its result went out (here: SIGTERM, as `timeout` sends, to
// panka changed -o json blocked on a full pipe) printed the whole answer
// and then exited 1 with "interrupted", so a script saw a complete-looking
// result it was told to distrust. The command had finished: the result
// and exit 0. (One stopped before it finished prints nothing and exits 1:
// TestInterruptedReadOnlyCommandNotExitZero.)
func TestInterruptedWhileWritingResult(t *testing.T) {
	r := newE2ERepo(t, embedded)
	// 300 more stacks: an answer far larger than a pipe holds (64 KiB).
	src := filepath.Join(r.dir, "stacks", "shop")
	for i := range 300 {
		dst := filepath.Join(r.dir, "stacks", fmt.Sprintf("shop%03d", i))
		if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		b, err := os.ReadFile(filepath.Join(dst, "stack.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.Replace(string(b), "name: shop\n", fmt.Sprintf("name: shop%03d\n", i), 1))
		if err := os.WriteFile(filepath.Join(dst, "stack.yaml"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-qm", "many shops")

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd := r.cmd(nil, "changed", "--paths", "-o", "json", "--base", "4b825dc642cb6eb9a060e54bf8d69288fbee4904")
	cmd.Stdout = pw
	var errOut syncBuffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	// The pipe is full: panka waits to write the rest of its answer.
	waitFor(t, 60*time.Second, func() bool {
		var n int32
		_, _, e := syscall.Syscall(syscall.SYS_IOCTL, pr.Fd(), syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
		return e == 0 && n >= 64<<10
	})
	cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, 20*time.Second, func() bool { return strings.Contains(errOut.String(), "SIGTERM: stopping") })
	out, err := io.ReadAll(pr)
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var res struct {
		Stacks []struct{ Stack string } `json:"stacks"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil || len(res.Stacks) != 301 {
		t.Fatalf("stdout (%d bytes) is not the whole answer (%v, %d stacks); stderr: %s", len(out), jerr, len(res.Stacks), errOut.String())
	}
	if err != nil {
		t.Errorf("the whole answer was printed, but %v; stderr: %s", err, errOut.String())
	}
}
