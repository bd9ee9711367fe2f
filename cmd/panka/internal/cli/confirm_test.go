package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeclinedConfirmationNamesTheOperation: answering no at the prompt of
// a destroy (or rollback, promote) says that operation was cancelled and
// nothing changed, not "Apply cancelled.", and exits 1.
func TestDeclinedConfirmationNamesTheOperation(t *testing.T) {
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
	// The engine is never started (the prompt comes first), but the
	// prerequisites are checked before the lease: stand-ins satisfy them.
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
