package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/stacks"
)

// TestUnprotected: which components' protection a run clears before the
// engine runs. --allow-destroy: those it deletes (not desired; all for a
// destroy). --allow-replace: on the aws target, those still desired under
// another component type (a kind change: the engine deletes the old
// kind's resources, which their protection refused, and --allow-destroy
// did not help either since the component is desired); never on the local
// target, whose kind change is an update in place.
func TestUnprotected(t *testing.T) {
	model := func(provider string) *stacks.Resolved {
		return &stacks.Resolved{Stack: "shop", Environment: "dev", Provider: stacks.Provider{Name: provider},
			Components: []stacks.Component{{Name: "orders", Kind: stacks.KindBucket}, {Name: "db", Kind: stacks.KindDatabase}}}
	}
	type ask struct {
		component, typ string
		want           bool
	}
	tests := []struct {
		name    string
		req     engine.Request
		desired *stacks.Resolved
		asks    []ask
	}{
		{"destroy, allowed", engine.Request{AllowDestroy: true}, nil, []ask{{"db", "panka:aws:Database", true}}},
		{"destroy, not allowed", engine.Request{AllowReplace: true}, nil, []ask{{"db", "panka:aws:Database", false}}},
		{"aws, removed component", engine.Request{AllowDestroy: true}, model("aws"), []ask{
			{"gone", "panka:aws:Queue", true}, {"db", "panka:aws:Database", false}, {"orders", "panka:aws:Queue", false}}},
		{"aws, kind change allowed", engine.Request{AllowReplace: true}, model("aws"), []ask{
			{"orders", "panka:aws:Queue", true}, {"orders", "panka:aws:Bucket", false}, {"db", "panka:aws:Database", false}, {"gone", "panka:aws:Queue", false}}},
		{"aws by default", engine.Request{AllowReplace: true}, model(""), []ask{{"orders", "panka:aws:Queue", true}}},
		{"local, kind change", engine.Request{AllowReplace: true, AllowDestroy: true}, model("local"), []ask{
			{"orders", "pankalocal:index:Component", false}, {"gone", "pankalocal:index:Component", true}}},
	}
	if unprotected(engine.Request{AllowReplace: true}, model("local")) != nil || unprotected(engine.Request{}, model("aws")) != nil {
		t.Error("a run that can clear no protection still reads the checkpoint")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel := unprotected(tt.req, tt.desired)
			if sel == nil {
				sel = func(string, string) bool { return false }
			}
			for _, a := range tt.asks {
				if got := sel(a.component, a.typ); got != a.want {
					t.Errorf("unprotected(%s, %s) = %v, want %v", a.component, a.typ, got, a.want)
				}
			}
		})
	}
}

// TestLocalHealthSaysWhatToDo: a manifest removed outside panka is not
// written again by the engine (its state says it is there), so every
// apply failed the health check alike; the error names the drift detect
// that lets the next apply put it back.
func TestLocalHealthSaysWhatToDo(t *testing.T) {
	root := t.TempDir()
	model := &stacks.Resolved{Stack: "shop", Environment: "dev", Provider: stacks.Provider{Name: "local"},
		Components: []stacks.Component{{Name: "web", Kind: stacks.KindMicroService}}}
	err := localHealth(model, root)
	if err == nil {
		t.Fatal("no error for a missing manifest")
	}
	for _, want := range []string{"manifests missing or wrong after apply: web: ", "web.json",
		"panka drift detect --stack shop --environment dev, then apply again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	dir := filepath.Join(root, ".panka", "local", "shop", "dev")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web.json"), []byte(`{"component":"web","kind":"MicroService"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := localHealth(model, root); err != nil {
		t.Errorf("manifest in place: %v", err)
	}
}

// TestRunnerComponents: the events of an up name the desired components and
// the deployed ones it deletes (a component removed from the YAML), so
// apply's progress shows the deletes its plan listed; a destroy names every
// top-level resource.
func TestRunnerComponents(t *testing.T) {
	desired := &stacks.Resolved{Components: []stacks.Component{{Name: "web"}, {Name: "orders"}}}
	tests := []struct {
		name     string
		deployed []string
		desired  *stacks.Resolved
		want     []string
	}{
		{"nothing deployed", nil, desired, []string{"web", "orders"}},
		{"a deployed component removed", []string{"orders", "assets", "web"}, desired, []string{"web", "orders", "assets"}},
		{"destroy", []string{"orders"}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := runnerComponents(engine.Request{Deployed: tc.deployed}, tc.desired)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") || (got == nil) != (tc.want == nil) {
				t.Errorf("runnerComponents = %q, want %q", got, tc.want)
			}
		})
	}
}
