package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"panka.dev/panka/locker"
)

// TestDeclinedConfirmationNamesTheOperation: answering no at the prompt of
// a destroy (or rollback, promote) says that operation was cancelled and
// nothing changed, not "Apply cancelled.", and exits 1.
func TestDeclinedConfirmationNamesTheOperation(t *testing.T) {
	f := promptFactory(t)
	ios, in, _, errOut := Test()
	ios.SetTTY(true, false, true)
	f.IO = ios
	in.WriteString("no\n")

	err := destroyRun(context.Background(), &DestroyOptions{F: f, Stack: "orders", Environment: "dev"})
	if exitCode(err) != ExitError {
		t.Fatalf("declined destroy: %v (exit %d), want exit 1", err, exitCode(err))
	}
	if !strings.Contains(errOut.String(), "Type the stack name to confirm") {
		t.Fatalf("no destroy prompt on stderr (err %v):\n%s", err, errOut)
	}
	if got := errOut.String(); !strings.Contains(got, "Destroy of orders/dev cancelled: nothing was changed.") || strings.Contains(got, "Apply cancelled") {
		t.Errorf("stderr after declining a destroy:\n%s\nwant \"Destroy of orders/dev cancelled: nothing was changed.\"", got)
	}
}

// blockedReader is a terminal nobody types on: Read blocks until the test
// ends, and started is closed at the first Read (the prompt is up).
type blockedReader struct {
	started chan struct{}
	once    sync.Once
	done    chan struct{}
}

func (r *blockedReader) Read([]byte) (int, error) {
	r.once.Do(func() { close(r.started) })
	<-r.done
	return 0, io.EOF
}

// TestInterruptAtConfirmationPrompt: Ctrl-C at the prompt (the command's
// context cancelled) ends the run at once, records nothing and releases
// the lease. The read of the answer did not watch the context: panka sat
// at the prompt holding the lease, and the second Ctrl-C that ended it
// left the lease behind as a killed run does.
func TestInterruptAtConfirmationPrompt(t *testing.T) {
	f := promptFactory(t)
	ios, _, _, errOut := Test()
	in := &blockedReader{started: make(chan struct{}), done: make(chan struct{})}
	defer close(in.done)
	ios.In = in
	ios.SetTTY(true, false, true)
	f.IO = ios

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- destroyRun(ctx, &DestroyOptions{F: f, Stack: "orders", Environment: "dev"}) }()
	select {
	case <-in.started:
	case err := <-res:
		t.Fatalf("destroy ended before its prompt: %v\n%s", err, errOut)
	case <-time.After(30 * time.Second):
		t.Fatal("no prompt")
	}
	cancel() // Ctrl-C
	var err error
	select {
	case err = <-res:
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-C at the prompt: destroy still waits for an answer")
	}
	if exitCode(err) != ExitError {
		t.Fatalf("interrupted destroy: %v (exit %d), want exit 1", err, exitCode(err))
	}
	if want := "Destroy of orders/dev interrupted at the confirmation prompt (Ctrl-C or a stop signal): nothing was changed, and the lock was released."; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr:\n%s\nwant %q", errOut, want)
	}
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	l, err := f.Locker(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := l.Get(context.Background(), locker.Key("orders", "dev")); !errors.Is(err, locker.ErrNotFound) {
		t.Fatalf("lock after Ctrl-C at the prompt: %+v, %v; want it released", h, err)
	}
}

// promptFactory is a local-backend factory with orders/dev deployed and
// stand-ins for panka-engine and pulumi on PATH: the engine is never
// started (the prompt comes first), but the prerequisites are checked
// before the lease.
func promptFactory(t *testing.T) *Factory {
	t.Helper()
	f, dir := stLocalFactory(t)
	doc := filepath.Join(dir, "s.json")
	deployed := strings.Replace(stStateDoc, `"resources":`,
		`"spec": {"stack":"orders","environment":"dev","components":[{"name":"api","kind":"MicroService","spec":{"image":"a:1"}}]}, "resources":`, 1)
	if err := os.WriteFile(doc, []byte(deployed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := statePushRun(context.Background(), &StatePushOptions{F: f, File: doc}); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"panka-engine", "pulumi"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	env := append(f.Environ(), "PATH="+bin, "PULUMI_CONFIG_PASSPHRASE=x")
	f.Environ = func() []string { return env }
	return f
}
