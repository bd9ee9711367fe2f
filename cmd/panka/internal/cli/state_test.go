package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/locker"
	"panka.dev/panka/statestore"
)

// stLocalFactory is a Factory over a fresh repository using the local
// backend and local locks.
func stLocalFactory(t *testing.T) (*Factory, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ := Test()
	f := NewFactory(ios)
	env := []string{"HOME=" + filepath.Join(dir, "home")}
	f.Environ = func() []string { return env }
	f.Getwd = func() (string, error) { return dir, nil }
	f.Home = func() (string, error) { return filepath.Join(dir, "home"), nil }
	return f, dir
}

// TestStateEditsTakeTheLease: push and rm refuse while a deployment holds
// the stack/environment's lock (exit code 3), and work once it is released.
func TestStateEditsTakeTheLease(t *testing.T) {
	f, dir := stLocalFactory(t)
	ctx := context.Background()
	doc := filepath.Join(dir, "s.json")
	if err := os.WriteFile(doc, []byte(stStateDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	lease, err := f.AcquireLease(ctx, cfg, "orders", "dev", "apply", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	push := &StatePushOptions{F: f, File: doc}
	err = statePushRun(ctx, push)
	if !errors.Is(err, locker.ErrHeld) || exitCode(err) != ExitLocked {
		t.Fatalf("push under someone else's lease: %v (exit %d), want a held lock, exit 3", err, exitCode(err))
	}
	rm := &StateRmOptions{F: f, stateKeyFlags: stateKeyFlags{Stack: "orders", Environment: "dev"}, Resources: []string{"x"}}
	if err := stateRmRun(ctx, rm); !errors.Is(err, locker.ErrHeld) {
		t.Fatalf("rm under someone else's lease: %v", err)
	}
	store, err := f.Store(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Get(ctx, statestore.Key{Stack: "orders", Environment: "dev"}); !errors.Is(err, statestore.ErrNotFound) {
		t.Fatalf("state written while the lock was held: %v", err)
	}
	if err := f.ReleaseLease(lease); err != nil {
		t.Fatal(err)
	}
	if err := statePushRun(ctx, push); err != nil {
		t.Fatalf("push after release: %v", err)
	}
	// The lease is released after the push: another holder can take it.
	lease, err = f.AcquireLease(ctx, cfg, "orders", "dev", "apply", "", time.Second)
	if err != nil {
		t.Fatalf("lock still held after push: %v", err)
	}
	_ = f.ReleaseLease(lease)
}

func TestRemoveComponents(t *testing.T) {
	spec := `{"stack":"s","environment":"dev","components":[{"name":"db","kind":"Database","spec":{"size":1}},{"name":"api","kind":"MicroService","dependsOn":["db","q"],"spec":{"x":1.5}},{"name":"q","kind":"Queue","dependsOn":["db"],"spec":{}}]}`
	st := &statestore.State{Stack: "s", Environment: "dev", Spec: []byte(spec),
		Outputs:   map[string]map[string]any{"db": {"endpoint": "e"}, "api": {"url": "u"}},
		Resources: statestore.ResourceSummary{Components: 3, Resources: 9, ByKind: map[string]int{"Database": 1, "MicroService": 1, "Queue": 1}}}
	if err := removeComponents(st, []string{"db"}); err != nil {
		t.Fatal(err)
	}
	got := string(st.Spec)
	for _, want := range []string{`"dependsOn":["q"]`, `"name":"api"`, `"name":"q"`, `"x":1.5`} {
		if !strings.Contains(got, want) {
			t.Errorf("spec after rm lacks %s: %s", want, got)
		}
	}
	if strings.Contains(got, `"db"`) {
		t.Errorf("spec still mentions db: %s", got)
	}
	if _, ok := st.Outputs["db"]; ok || st.Resources.Components != 2 || st.Resources.ByKind["Database"] != 0 {
		t.Errorf("outputs/counts after rm: %+v %+v", st.Outputs, st.Resources)
	}
	if err := removeComponents(st, []string{"nope"}); err == nil || !strings.Contains(err.Error(), "components: api, q") {
		t.Errorf("rm of an unknown component: %v", err)
	}
	// State without a spec: outputs only.
	st2 := &statestore.State{Stack: "s", Environment: "dev", Outputs: map[string]map[string]any{"a": {}}}
	if err := removeComponents(st2, []string{"a"}); err != nil || len(st2.Outputs) != 0 {
		t.Errorf("rm from outputs only: %v %v", err, st2.Outputs)
	}
}

func TestStateAge(t *testing.T) {
	for d, want := range map[time.Duration]string{-time.Second: "0s", 5 * time.Second: "5s", 3 * time.Minute: "3m", 5 * time.Hour: "5h", 47 * time.Hour: "47h", 72 * time.Hour: "3d"} {
		if got := stateAge(d); got != want {
			t.Errorf("stateAge(%s) = %q, want %q", d, got, want)
		}
	}
}
