package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutputsUnknownComponent: outputs --component with a name the
// deployment has no outputs for lists the components that have some.
func TestOutputsUnknownComponent(t *testing.T) {
	f, dir := stLocalFactory(t)
	doc := filepath.Join(dir, "s.json")
	deployed := strings.Replace(stStateDoc, `"resources":`,
		`"outputs": {"web": {"url": "http://web"}, "orders": {"arn": "arn:q"}}, "spec": {"stack": "orders", "environment": "dev", "components": []}, "resources":`, 1)
	if err := os.WriteFile(doc, []byte(deployed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := statePushRun(context.Background(), &StatePushOptions{F: f, File: doc}); err != nil {
		t.Fatal(err)
	}
	err := outputsRun(context.Background(), &OutputsOptions{F: f, Stack: "orders", Environment: "dev", Component: "wbe"})
	if err == nil || !strings.Contains(err.Error(), `orders/dev has no outputs for component "wbe" (components with outputs: orders, web)`) {
		t.Fatalf("outputs --component wbe: %v", err)
	}
}

// TestOutputsWithoutSuccessfulDeployment: a stack/environment whose only
// run failed has no outputs to print; outputs said nothing and exited 0
// ("{}" with -o json), which a CI step reads as what is deployed. After an
// earlier success the outputs are that deployment's, and stderr says so.
func TestOutputsWithoutSuccessfulDeployment(t *testing.T) {
	f, dir := stLocalFactory(t)
	ctx := context.Background()
	failed := strings.NewReplacer(`"status": "deployed"`, `"status": "failed"`,
		`"result": "succeeded"}`, `"result": "failed", "error": "pulumi up failed: injected\nmore"}`).Replace(stStateDoc)
	doc := filepath.Join(dir, "s.json")
	if err := os.WriteFile(doc, []byte(failed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := statePushRun(ctx, &StatePushOptions{F: f, File: doc}); err != nil {
		t.Fatal(err)
	}
	f.Flags.Output = "json"
	err := outputsRun(ctx, &OutputsOptions{F: f, Stack: "orders", Environment: "dev"})
	want := "orders/dev has no successful deployment to read outputs from (its last run, the apply of commit abcdef012345 (serial 2), failed: pulumi up failed: injected); " +
		"see panka status --stack orders --environment dev, fix it and run panka apply --stack orders --environment dev"
	if err == nil || err.Error() != want {
		t.Fatalf("outputs after a failed first run:\n got %v\nwant %s", err, want)
	}

	// A failed run after a successful one: the successful one's outputs,
	// with a warning.
	ios, _, out, errOut := Test()
	f.IO = ios
	withSuccess := strings.Replace(failed, `"resources":`, `"lastSuccessful": {"schemaVersion": 1, "id": "d1", "serial": 1, "stack": "orders", "environment": "dev",
  "operation": "apply", "commit": "0123456789abcdef0123456789abcdef01234567", "user": "dev", "host": "h", "pankaVersion": "t",
  "startedAt": "2026-01-01T03:04:05Z", "endedAt": "2026-01-01T03:05:05Z", "result": "succeeded"},
 "outputs": {"web": {"url": "http://web"}}, "spec": {"stack": "orders", "environment": "dev", "components": []}, "resources":`, 1)
	if err := os.WriteFile(doc, []byte(withSuccess), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := statePushRun(ctx, &StatePushOptions{F: f, File: doc, Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := outputsRun(ctx, &OutputsOptions{F: f, Stack: "orders", Environment: "dev"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"url": "http://web"`) {
		t.Fatalf("outputs: %s", out)
	}
	if w := "the last run of orders/dev, the apply of commit abcdef012345 (serial 2), failed: these are the outputs of the deployment before it (serial 1, commit 0123456789ab)"; !strings.Contains(errOut.String(), w) {
		t.Fatalf("stderr %q lacks %q", errOut, w)
	}
}
