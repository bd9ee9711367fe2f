package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"panka.dev/panka/statestore"
)

// TestEngineForcedReplaceRefused: SPEC §7 — data-holding components are
// never replaced without --allow-replace, whatever the cause. Here the
// cause is one the planner cannot see: the checkout moved, so the local
// target's manifests have a new absolute location, which its provider
// replaces. The plan shows an update; the engine refuses the replace of
// the Database and the Queue (they are protected in its state), the run
// fails and says what to do, and their manifests stay. With
// --allow-replace the same apply goes through.
func TestEngineForcedReplaceRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the Pulumi engine")
	}
	w := newWorkflow(t)
	r := w.repo
	r.Write(".gitignore", ".panka/\n")
	r.Write("stacks/shop/stack.yaml", fmt.Sprintf(wfStackYAML, "1.0.0"))
	r.Write("stacks/shop/services/web/service.yaml", fmt.Sprintf(wfWebYAML, 1, "    DATABASE: ${db.endpoint}\n"))
	r.Write("stacks/shop/infra/queue.yaml", wfQueueYAML)
	r.Write("stacks/shop/infra/db.yaml", wfDBYAML)
	r.Write("stacks/shop/environments/dev.yaml", wfEnvYAML("dev", ""))
	r.Commit("shop")
	w.ok("apply", "-s", "shop", "-e", "dev", "--auto-approve")
	if got := w.manifests("shop", "dev"); len(got) != 3 {
		t.Fatalf("manifests %v, want web, orders and db", keysOf(got))
	}

	moved := filepath.Join(filepath.Dir(r.Dir), "moved")
	if err := os.Rename(r.Dir, moved); err != nil {
		t.Fatal(err)
	}
	r.Dir = moved
	before := w.manifests("shop", "dev")
	r.Write("stacks/shop/infra/db.yaml", wfDBYAML+"  version: \"15\"\n")
	r.Commit("db version")
	out, errOut, code := w.run("apply", "-s", "shop", "-e", "dev", "--auto-approve")
	if code != 1 || !strings.Contains(errOut, "refusing to replace") || !strings.Contains(errOut, "--allow-replace") {
		t.Fatalf("apply after the checkout moved: exit %d, want 1 refusing the replace\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("the refusal:\n%s", errOut)
	if !strings.Contains(out, "1 to update") || strings.Contains(out, "must be replaced") {
		t.Errorf("the plan should show the update the planner sees, not a replace:\n%s", out)
	}
	for _, name := range []string{"db.json", "orders.json"} {
		if _, ok := w.manifests("shop", "dev")[name]; !ok {
			t.Errorf("%s deleted although the replace was refused", name)
		}
	}
	if h := w.history("shop", "dev"); len(h) < 2 || h[0].Result != statestore.ResultFailed {
		t.Errorf("the refused run is not recorded as failed: %+v", h[0])
	}

	w.ok("apply", "-s", "shop", "-e", "dev", "--auto-approve", "--allow-replace")
	after := w.manifests("shop", "dev")
	if len(after) != 3 || after["db.json"] == before["db.json"] || !strings.Contains(after["db.json"], `"version": "15"`) {
		t.Errorf("after --allow-replace: manifests %v, db.json:\n%s", keysOf(after), after["db.json"])
	}
}
