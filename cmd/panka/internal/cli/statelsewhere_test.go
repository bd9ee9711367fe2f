package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/testserver"
)

// TestOverriddenBackendAskedOnce: PANKA_BACKEND_TYPE=local overrides a
// panka.yaml whose S3 server does not answer from here (offline, a VPN
// down). overriddenBackendState asks the configured backend for at most
// elsewhereTimeout, and then not again in the same run: plan
// --all-changed asks for every new environment, and each waited the
// whole limit.
func TestOverriddenBackendAskedOnce(t *testing.T) {
	home := t.TempDir()
	fakeAWSEnv(t, home)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	silent := testserver.SilentEndpoint(t)
	yaml := "backend: {type: s3, bucket: team-state, region: us-east-1, endpoint: \"" + silent + "\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "panka.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PANKA_BACKEND_TYPE=local")
	ios, _, _, _ := Test()
	f := NewFactory(ios)
	f.Environ = func() []string { return env }
	f.Getwd = func() (string, error) { return dir, nil }
	f.Home = func() (string, error) { return home, nil }
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backend.Type != "local" {
		t.Fatalf("backend.type %q, want the override local", cfg.Backend.Type)
	}
	h := &stacks.Header{Ref: stacks.Ref{Name: "shop", Path: "stacks/shop"}}
	start := time.Now()
	for _, env := range []string{"dev", "staging", "production"} {
		key := statestore.Key{Stack: "shop", Environment: env}
		if m := f.overriddenBackendState(context.Background(), f.Store, cfg, h, key, "this plan", map[string]bool{}); m != "" {
			t.Errorf("%s: %s", key, m)
		}
	}
	if took := time.Since(start); took > elsewhereTimeout+5*time.Second {
		t.Fatalf("three environments took %s: the silent server was asked more than once (limit %s each)", took, elsewhereTimeout)
	}
}
