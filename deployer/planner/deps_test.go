package planner

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoPulumi keeps the planner free of Pulumi (and cobra): plans must be
// cheap to compute anywhere.
func TestNoPulumi(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "github.com/pulumi/") || strings.Contains(dep, "github.com/spf13/cobra") {
			t.Errorf("planner depends on %s", dep)
		}
	}
}
