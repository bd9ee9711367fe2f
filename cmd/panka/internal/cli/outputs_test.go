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
		`"outputs": {"web": {"url": "http://web"}, "orders": {"arn": "arn:q"}}, "resources":`, 1)
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
