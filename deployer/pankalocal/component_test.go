package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

func args(t *testing.T, kind string, spec map[string]any) ComponentArgs {
	return ComponentArgs{Directory: t.TempDir(), Stack: "orders", Environment: "dev", Component: "c", Kind: kind, Spec: spec}
}

func TestOutputsPerKind(t *testing.T) {
	tests := []struct {
		kind string
		spec map[string]any
		want map[string]any
	}{
		{"MicroService", nil, map[string]any{"url": "http://c.dev.orders.local", "serviceName": "orders-dev-c"}},
		{"Worker", nil, map[string]any{"serviceName": "orders-dev-c"}},
		{"CronJob", nil, map[string]any{"ruleName": "orders-dev-c"}},
		{"Database", map[string]any{"engine": "postgres"}, map[string]any{
			"endpoint": "c.dev.orders.local:5432", "address": "c.dev.orders.local", "port": 5432,
			"secretArn": "local://orders/dev/c/secret"}},
		{"Database", map[string]any{"engine": "mysql"}, map[string]any{
			"endpoint": "c.dev.orders.local:3306", "address": "c.dev.orders.local", "port": 3306,
			"secretArn": "local://orders/dev/c/secret"}},
		{"Cache", nil, map[string]any{"endpoint": "c.dev.orders.local:6379", "port": 6379}},
		{"Queue", nil, map[string]any{"url": "local://orders/dev/c", "arn": "arn:local:sqs:local:000000000000:orders-dev-c", "name": "orders-dev-c"}},
		{"Queue", map[string]any{"fifo": true}, map[string]any{"url": "local://orders/dev/c", "arn": "arn:local:sqs:local:000000000000:orders-dev-c.fifo", "name": "orders-dev-c.fifo"}},
		{"Bucket", nil, map[string]any{"name": "orders-dev-c", "arn": "arn:local:s3:::orders-dev-c"}},
		{"Topic", nil, map[string]any{"arn": "arn:local:sns:local:000000000000:orders-dev-c"}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			got := outputs(args(t, tt.kind, tt.spec))
			if len(got) != len(tt.want) {
				t.Fatalf("outputs = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestCreateWritesManifestUnlessDryRun(t *testing.T) {
	ctx := context.Background()
	a := args(t, "Queue", map[string]any{"fifo": false, "nested": map[string]any{"n": float64(3)}})
	c := &Component{}
	resp, err := c.Create(ctx, infer.CreateRequest[ComponentArgs]{Name: "c", Inputs: a, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Output.Path != filepath.Join(a.Directory, "orders", "dev", "c.json") || resp.Output.Outputs["name"] != "orders-dev-c" {
		t.Errorf("preview state = %+v", resp.Output)
	}
	if _, err := os.Stat(resp.Output.Path); !os.IsNotExist(err) {
		t.Fatalf("preview wrote the manifest (err %v)", err)
	}
	if _, err := c.Create(ctx, infer.CreateRequest[ComponentArgs]{Name: "c", Inputs: a}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(resp.Output.Path)
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Stack != "orders" || m.Environment != "dev" || m.Component != "c" || m.Kind != "Queue" ||
		m.Spec["nested"].(map[string]any)["n"] != float64(3) {
		t.Errorf("manifest = %s", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(resp.Output.Path))
	if len(entries) != 1 {
		t.Errorf("temporary files left next to the manifest: %v", entries)
	}
}

func TestCreateValidates(t *testing.T) {
	for _, mod := range []func(*ComponentArgs){
		func(a *ComponentArgs) { a.Directory = "relative" },
		func(a *ComponentArgs) { a.Component = "../escape" },
		func(a *ComponentArgs) { a.Stack = "" },
	} {
		a := args(t, "Bucket", nil)
		mod(&a)
		if _, err := (&Component{}).Create(context.Background(), infer.CreateRequest[ComponentArgs]{Inputs: a}); err == nil {
			t.Errorf("Create(%+v) succeeded", a)
		}
	}
}

func TestInjectedFailure(t *testing.T) {
	t.Setenv(EnvFail, "other, c")
	a := args(t, "Bucket", nil)
	_, err := (&Component{}).Create(context.Background(), infer.CreateRequest[ComponentArgs]{Inputs: a})
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("err = %v", err)
	}
	// Previews never fail.
	if _, err := (&Component{}).Create(context.Background(), infer.CreateRequest[ComponentArgs]{Inputs: a, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	a.Component = "fine"
	if _, err := (&Component{}).Create(context.Background(), infer.CreateRequest[ComponentArgs]{Inputs: a}); err != nil {
		t.Fatal(err)
	}
}

func TestDelayHonoursCancellation(t *testing.T) {
	t.Setenv(EnvDelay, "1h")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := (&Component{}).Create(ctx, infer.CreateRequest[ComponentArgs]{Inputs: args(t, "Bucket", nil)})
	if err == nil {
		t.Fatal("create with a cancelled context succeeded")
	}
}

func TestReadSeesEditsAndDeletion(t *testing.T) {
	ctx := context.Background()
	a := args(t, "Database", map[string]any{"size": "small"})
	c := &Component{}
	resp, err := c.Create(ctx, infer.CreateRequest[ComponentArgs]{Inputs: a})
	if err != nil {
		t.Fatal(err)
	}
	st := resp.Output
	read := func() infer.ReadResponse[ComponentArgs, ComponentState] {
		t.Helper()
		r, err := c.Read(ctx, infer.ReadRequest[ComponentArgs, ComponentState]{ID: resp.ID, Inputs: a, State: st})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := read(); r.ID != resp.ID || r.State.Spec["size"] != "small" {
		t.Errorf("read unchanged = %+v", r)
	}
	if err := os.WriteFile(st.Path, []byte(`{"stack":"orders","environment":"dev","component":"c","kind":"Database","spec":{"size":"huge"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := read()
	if r.State.Spec["size"] != "huge" || r.Inputs.Spec["size"] != "huge" {
		t.Errorf("read after edit = %+v", r)
	}
	if err := os.WriteFile(st.Path, []byte(`not json`), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := read(); r.State.Spec["pankalocal:unparseable"] != "not json" {
		t.Errorf("read of a broken manifest = %+v", r)
	}
	if err := os.Remove(st.Path); err != nil {
		t.Fatal(err)
	}
	if r := read(); r.ID != "" {
		t.Errorf("read of a deleted manifest = %+v, want empty ID", r)
	}
}

// TestReadSeesIdentityEdits: a manifest edited in place to name another
// component (or stack, environment) is drift: Read returns the names the
// file holds, the Diff against the deployed inputs is an update that
// rewrites the file where it is (not a replace, which for a Database
// needed --allow-replace), and the outputs stay the component's. Read
// ignored those fields, so drift detect said "No drift" for such a file.
func TestReadSeesIdentityEdits(t *testing.T) {
	ctx := context.Background()
	a := args(t, "Database", map[string]any{"size": "small"})
	c := &Component{}
	resp, err := c.Create(ctx, infer.CreateRequest[ComponentArgs]{Inputs: a})
	if err != nil {
		t.Fatal(err)
	}
	st := resp.Output
	if err := os.WriteFile(st.Path, []byte(`{"stack":"orders","environment":"dev","component":"other","kind":"Database","spec":{"size":"small"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := c.Read(ctx, infer.ReadRequest[ComponentArgs, ComponentState]{ID: resp.ID, Inputs: a, State: st})
	if err != nil {
		t.Fatal(err)
	}
	if r.State.Component != "other" || r.Inputs.Component != "other" || r.State.Path != st.Path || r.ID != resp.ID {
		t.Fatalf("read of a renamed manifest = %+v, want component other at %s", r.State, st.Path)
	}
	if !reflect.DeepEqual(r.State.Outputs, st.Outputs) {
		t.Errorf("outputs after the edit = %v, want %v", r.State.Outputs, st.Outputs)
	}
	d, err := c.Diff(ctx, infer.DiffRequest[ComponentArgs, ComponentState]{State: r.State, Inputs: a})
	if err != nil {
		t.Fatal(err)
	}
	if !d.HasChanges || d.DetailedDiff["component"].Kind != p.Update || d.DeleteBeforeReplace {
		t.Errorf("diff back to the deployed inputs = %+v, want an update of component", d)
	}
	if _, err := c.Update(ctx, infer.UpdateRequest[ComponentArgs, ComponentState]{State: r.State, Inputs: a}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(st.Path); err != nil || !strings.Contains(string(b), `"component": "c"`) {
		t.Errorf("manifest after the update: %s (%v)", b, err)
	}
}

func TestDiff(t *testing.T) {
	base := ComponentArgs{Directory: "/d", Stack: "s", Environment: "e", Component: "c", Kind: "Queue",
		Spec: map[string]any{"a": "x", "n": float64(1), "m": map[string]any{"k": []any{"v"}}}}
	state := base.state()
	tests := []struct {
		name string
		mod  func(*ComponentArgs)
		want map[string]p.DiffKind
	}{
		{"same", func(*ComponentArgs) {}, map[string]p.DiffKind{}},
		{"int equals float", func(a *ComponentArgs) {
			a.Spec = map[string]any{"a": "x", "n": 1, "m": map[string]any{"k": []any{"v"}}}
		}, map[string]p.DiffKind{}},
		{"spec change", func(a *ComponentArgs) {
			a.Spec = map[string]any{"a": "y", "n": float64(1), "m": map[string]any{"k": []any{"w"}}, "new": true}
		}, map[string]p.DiffKind{"spec.a": p.Update, "spec.m": p.Update, "spec.new": p.Add}},
		{"spec removal", func(a *ComponentArgs) {
			a.Spec = map[string]any{"a": "x", "n": float64(1)}
		}, map[string]p.DiffKind{"spec.m": p.Delete}},
		{"kind", func(a *ComponentArgs) { a.Kind = "Topic" }, map[string]p.DiffKind{"kind": p.UpdateReplace}},
		{"directory", func(a *ComponentArgs) { a.Directory = "/other" }, map[string]p.DiffKind{"directory": p.Update}},
		{"environment", func(a *ComponentArgs) { a.Environment = "prod" }, map[string]p.DiffKind{"environment": p.UpdateReplace}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			news := base
			news.Spec = map[string]any{}
			for k, v := range base.Spec {
				news.Spec[k] = v
			}
			tt.mod(&news)
			resp, err := (&Component{}).Diff(context.Background(), infer.DiffRequest[ComponentArgs, ComponentState]{State: state, Inputs: news})
			if err != nil {
				t.Fatal(err)
			}
			if resp.HasChanges != (len(tt.want) > 0) || len(resp.DetailedDiff) != len(tt.want) {
				t.Fatalf("diff = %+v, want %v", resp, tt.want)
			}
			replaces := false
			for k, kind := range tt.want {
				if resp.DetailedDiff[k].Kind != kind {
					t.Errorf("%s: %v, want %v", k, resp.DetailedDiff[k].Kind, kind)
				}
				replaces = replaces || kind == p.UpdateReplace
			}
			// A replacement at the same path deletes first.
			if samePath := news.path() == state.Path; resp.DeleteBeforeReplace != (replaces && samePath) {
				t.Errorf("deleteBeforeReplace = %v, want %v", resp.DeleteBeforeReplace, replaces && samePath)
			}
		})
	}
}

// TestDiffReplaceFields: PANKALOCAL_REPLACE_FIELDS makes a spec field's
// change a replacement (the tests' stand-in for a provider rule).
func TestDiffReplaceFields(t *testing.T) {
	t.Setenv(EnvReplace, "version,other")
	old := args(t, "Database", map[string]any{"version": "15", "storageGB": float64(20)})
	news := old
	news.Spec = map[string]any{"version": "16", "storageGB": float64(30)}
	resp, err := (&Component{}).Diff(context.Background(), infer.DiffRequest[ComponentArgs, ComponentState]{State: old.state(), Inputs: news})
	if err != nil {
		t.Fatal(err)
	}
	if resp.DetailedDiff["spec.version"].Kind != p.UpdateReplace || resp.DetailedDiff["spec.storageGB"].Kind != p.Update {
		t.Errorf("diff = %+v, want spec.version replaced, spec.storageGB updated", resp.DetailedDiff)
	}
}

// TestUpdateMovesManifest: a new directory (a moved checkout) writes the
// manifest at the new path and removes the old one with its empty folders.
func TestUpdateMovesManifest(t *testing.T) {
	ctx := context.Background()
	a := args(t, "Database", map[string]any{"version": "15"})
	c := &Component{}
	created, err := c.Create(ctx, infer.CreateRequest[ComponentArgs]{Inputs: a})
	if err != nil {
		t.Fatal(err)
	}
	moved := a
	moved.Directory = filepath.Join(t.TempDir(), "moved")
	preview, err := c.Update(ctx, infer.UpdateRequest[ComponentArgs, ComponentState]{State: created.Output, Inputs: moved, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(created.Output.Path); err != nil || preview.Output.Path != moved.path() {
		t.Fatalf("preview moved the manifest or planned %q: %v", preview.Output.Path, err)
	}
	resp, err := c.Update(ctx, infer.UpdateRequest[ComponentArgs, ComponentState]{State: created.Output, Inputs: moved})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(resp.Output.Path); err != nil || !strings.Contains(string(b), `"version": "15"`) || resp.Output.Path != moved.path() {
		t.Fatalf("manifest at the new path %s: %s, %v", resp.Output.Path, b, err)
	}
	if _, err := os.Stat(filepath.Join(a.Directory, "orders")); !os.IsNotExist(err) {
		t.Errorf("the old manifest's folders are still there (err %v)", err)
	}
}

// TestMovedCheckoutReadAndDelete: with the manifest gone from the folder
// the engine state names and present in this checkout's (EnvDirectory),
// Read finds it there without reporting a move as drift, and Delete
// removes it there.
func TestMovedCheckoutReadAndDelete(t *testing.T) {
	ctx := context.Background()
	a := args(t, "Queue", map[string]any{"fifo": true})
	c := &Component{}
	created, err := c.Create(ctx, infer.CreateRequest[ComponentArgs]{Inputs: a})
	if err != nil {
		t.Fatal(err)
	}
	here := a
	here.Directory = filepath.Join(t.TempDir(), "moved", ".panka", "local")
	if err := os.MkdirAll(filepath.Dir(here.path()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(created.Output.Path, here.path()); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDirectory, here.Directory)
	read, err := c.Read(ctx, infer.ReadRequest[ComponentArgs, ComponentState]{ID: "x", State: created.Output, Inputs: a})
	if err != nil {
		t.Fatal(err)
	}
	if read.ID == "" || read.State.Spec["fifo"] != true || read.State.Path != created.Output.Path || read.Inputs.Directory != a.Directory {
		t.Fatalf("read of the moved manifest: id %q, state %+v", read.ID, read.State)
	}
	if _, err := c.Delete(ctx, infer.DeleteRequest[ComponentState]{ID: "x", State: created.Output}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(here.path()); !os.IsNotExist(err) {
		t.Errorf("delete left the manifest in this checkout (err %v)", err)
	}
}

// TestDiffMovedCheckout: a checkout moved or renamed with its manifests
// gives every component a new directory; the manifest is already there
// and the old folder is gone, so there is nothing to move: no change. It
// used to be an update of every component (the engine "moved" them all)
// while panka's plan showed only the YAML's changes. With the old folder
// still there (a directory changed in stack.yaml, another clone), or no
// manifest at the new path, it stays an update that moves it.
func TestDiffMovedCheckout(t *testing.T) {
	ctx := context.Background()
	a := args(t, "Queue", map[string]any{"fifo": true})
	c := &Component{}
	created, err := c.Create(ctx, infer.CreateRequest[ComponentArgs]{Inputs: a})
	if err != nil {
		t.Fatal(err)
	}
	here := a
	here.Directory = filepath.Join(t.TempDir(), "moved", ".panka", "local")
	diff := func() infer.DiffResponse {
		t.Helper()
		resp, err := c.Diff(ctx, infer.DiffRequest[ComponentArgs, ComponentState]{State: created.Output, Inputs: here})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// Another clone: the old manifest is there, none here: a move.
	if resp := diff(); !resp.HasChanges || resp.DetailedDiff["directory"].Kind != p.Update {
		t.Errorf("clone: diff %+v, want a directory update", resp)
	}
	if err := os.MkdirAll(filepath.Dir(here.path()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(created.Output.Path, here.path()); err != nil {
		t.Fatal(err)
	}
	if resp := diff(); resp.HasChanges {
		t.Errorf("moved checkout: diff %+v, want no change", resp)
	}
	// With a spec change, the spec is what changes (the update writes
	// the manifest here and records the new path).
	here.Spec = map[string]any{"fifo": true, "visibilityTimeout": 60.0}
	if resp := diff(); !resp.HasChanges || len(resp.DetailedDiff) != 1 || resp.DetailedDiff["spec.visibilityTimeout"].Kind != p.Add {
		t.Errorf("moved checkout with a spec change: diff %+v, want spec.visibilityTimeout only", resp.DetailedDiff)
	}
}

// TestCopiedCheckoutKeepsBoth: a checkout copied (cp -r, its local state
// included) has its own manifests; its engine state names the original's
// folder. Applying in the copy moved every manifest out of the original
// (and the original's drift detect then found them all deleted). There is
// nothing to move, an update writes the copy's file and leaves the
// original's, and Read and Delete use the copy's.
func TestCopiedCheckoutKeepsBoth(t *testing.T) {
	ctx := context.Background()
	a := args(t, "Queue", map[string]any{"fifo": true})
	c := &Component{}
	created, err := c.Create(ctx, infer.CreateRequest[ComponentArgs]{Inputs: a})
	if err != nil {
		t.Fatal(err)
	}
	orig := created.Output.Path
	cp := a
	cp.Directory = filepath.Join(t.TempDir(), "copy", ".panka", "local")
	if err := os.MkdirAll(filepath.Dir(cp.path()), 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(orig)
	if err := os.WriteFile(cp.path(), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDirectory, cp.Directory)
	if resp, err := c.Diff(ctx, infer.DiffRequest[ComponentArgs, ComponentState]{State: created.Output, Inputs: cp}); err != nil || resp.HasChanges {
		t.Errorf("copy: diff %+v, %v; want no change", resp, err)
	}
	// The copy's manifest edited by hand: refresh reads the copy's.
	if err := os.WriteFile(cp.path(), []byte(`{"kind":"Queue","spec":{"fifo":false}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	read, err := c.Read(ctx, infer.ReadRequest[ComponentArgs, ComponentState]{ID: "x", State: created.Output, Inputs: a})
	if err != nil || read.State.Spec["fifo"] != false {
		t.Errorf("read in the copy: %+v, %v; want the copy's manifest (fifo false)", read.State.Spec, err)
	}
	cp.Spec = map[string]any{"fifo": true, "visibilityTimeout": 60.0}
	if _, err := c.Update(ctx, infer.UpdateRequest[ComponentArgs, ComponentState]{State: created.Output, Inputs: cp}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(orig); err != nil || string(got) != string(b) {
		t.Errorf("the original's manifest after an update in the copy: %s, %v; want it untouched", got, err)
	}
	if got, _ := os.ReadFile(cp.path()); !strings.Contains(string(got), "visibilityTimeout") {
		t.Errorf("the copy's manifest was not updated: %s", got)
	}
	if _, err := c.Delete(ctx, infer.DeleteRequest[ComponentState]{ID: "x", State: created.Output}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cp.path()); !os.IsNotExist(err) {
		t.Errorf("delete in the copy left its manifest (err %v)", err)
	}
	if _, err := os.Stat(orig); err != nil {
		t.Errorf("delete in the copy removed the original's manifest: %v", err)
	}
}

// TestUpdateThroughSymlinkKeepsManifest: a directory that is the old one
// reached through a symbolic link names the same file; the move must not
// remove the manifest it has just written.
func TestUpdateThroughSymlinkKeepsManifest(t *testing.T) {
	ctx := context.Background()
	a := args(t, "Database", map[string]any{"version": "15"})
	c := &Component{}
	created, err := c.Create(ctx, infer.CreateRequest[ComponentArgs]{Inputs: a})
	if err != nil {
		t.Fatal(err)
	}
	linked := a
	linked.Directory = filepath.Join(t.TempDir(), "linked")
	if err := os.Symlink(a.Directory, linked.Directory); err != nil {
		t.Fatal(err)
	}
	linked.Spec = map[string]any{"version": "16"}
	resp, err := c.Update(ctx, infer.UpdateRequest[ComponentArgs, ComponentState]{State: created.Output, Inputs: linked})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{resp.Output.Path, created.Output.Path} {
		if b, err := os.ReadFile(p); err != nil || !strings.Contains(string(b), `"version": "16"`) {
			t.Errorf("manifest %s after the update through the link: %s, %v", p, b, err)
		}
	}
}

func TestDeleteRemovesEmptyFolders(t *testing.T) {
	ctx := context.Background()
	a := args(t, "Bucket", nil)
	b := a
	b.Component = "other"
	c := &Component{}
	var states []ComponentState
	for _, x := range []ComponentArgs{a, b} {
		resp, err := c.Create(ctx, infer.CreateRequest[ComponentArgs]{Inputs: x})
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, resp.Output)
	}
	for i, st := range states {
		if _, err := c.Delete(ctx, infer.DeleteRequest[ComponentState]{ID: "x", State: st}); err != nil {
			t.Fatal(err)
		}
		_, err := os.Stat(filepath.Join(a.Directory, "orders"))
		if exists := err == nil; exists != (i == 0) {
			t.Errorf("after delete %d: stack folder exists = %v", i, exists)
		}
	}
	// Deleting again (manifest already gone) is fine.
	if _, err := c.Delete(ctx, infer.DeleteRequest[ComponentState]{ID: "x", State: states[0]}); err != nil {
		t.Fatal(err)
	}
}

func TestProviderBuilds(t *testing.T) {
	if _, err := newProvider(); err != nil {
		t.Fatal(err)
	}
}

func TestGateHoldsUntilTheFileExists(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "go")
	t.Setenv(EnvGate, gate)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&Component{}).Create(ctx, infer.CreateRequest[ComponentArgs]{Inputs: args(t, "Bucket", nil)}); err == nil {
		t.Fatal("create before the gate file exists, with a cancelled context, succeeded")
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Component{}).Create(context.Background(), infer.CreateRequest[ComponentArgs]{Inputs: args(t, "Bucket", nil)}); err != nil {
		t.Fatalf("create once the gate file exists: %v", err)
	}
}

// A provider killed between creating its temporary manifest and renaming
// it leaves the temporary file behind: the next write in that folder
// removes it once it is stale (a write in flight is not), and a destroy
// no longer keeps the environment folder because of it.
func TestKilledWritesTemporaryFilesAreSwept(t *testing.T) {
	ctx := context.Background()
	a := args(t, "Queue", nil)
	envDir := filepath.Join(a.Directory, "orders", "dev")
	if err := os.MkdirAll(envDir, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(envDir, ".manifest-123456.tmp")
	fresh := filepath.Join(envDir, ".manifest-654321.tmp")
	for _, f := range []string{stale, fresh} {
		if err := os.WriteFile(f, []byte(`{"stack": "or`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTemp)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	c := &Component{}
	resp, err := c.Create(ctx, infer.CreateRequest[ComponentArgs]{Inputs: a})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a killed write's temporary manifest is still there (err %v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a temporary manifest that may be in flight was removed: %v", err)
	}
	if err := os.Chtimes(fresh, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, infer.DeleteRequest[ComponentState]{ID: "x", State: resp.Output}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a.Directory, "orders")); !os.IsNotExist(err) {
		t.Errorf("destroy left the stack folder (err %v)", err)
	}
}
