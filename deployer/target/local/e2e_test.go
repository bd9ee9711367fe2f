package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/deployer/pulumirun"
	"panka.dev/panka/deployer/pulumirun/pulumitest"
	"panka.dev/panka/deployer/target"
	"panka.dev/panka/deployer/target/local"
	"panka.dev/panka/stacks"
)

// env is one test's world: a repo root for manifests, a file:// backend and
// a PULUMI_HOME, shared by every run of the test.
type env struct {
	t       testing.TB
	cli     string
	plugins string
	repo    string
	backend string
	home    string
	extra   map[string]string
	grace   time.Duration
	// backendURL overrides the file:// backend in backend.
	backendURL string
	// noPlugins leaves the provider off PATH.
	noPlugins bool
	// protect is target.Options.Protect.
	protect bool
}

func newEnv(t testing.TB) *env {
	t.Helper()
	cli := pulumitest.CLI(t)
	plugins := pulumitest.ProviderDir(t)
	dir := t.TempDir()
	return &env{
		t: t, cli: cli, plugins: plugins,
		repo:    filepath.Join(dir, "repo"),
		backend: filepath.Join(dir, "state"),
		home:    filepath.Join(dir, "pulumi-home"),
		extra:   map[string]string{},
	}
}

// runner opens a runner for model r (the program registers it with the
// local target).
func (e *env) runner(r *stacks.Resolved) *pulumirun.Runner {
	e.t.Helper()
	model, repo, protect := r, e.repo, e.protect
	return e.runnerWith(r.Stack, r.Environment, func(ctx *pulumi.Context) error {
		return local.New().Register(ctx, model, target.Options{RepoRoot: repo, Protect: protect})
	})
}

// runnerWith opens a runner of stack/environment for any program.
func (e *env) runnerWith(stack, environment string, program pulumi.RunFunc) *pulumirun.Runner {
	e.t.Helper()
	if err := os.MkdirAll(e.backend, 0o755); err != nil {
		e.t.Fatal(err)
	}
	vars := pulumitest.Env(e.t)
	delete(vars, "PULUMI_HOME")
	for k, v := range e.extra {
		vars[k] = v
	}
	plugins := []string{e.plugins}
	if e.noPlugins {
		plugins = nil
		vars["PATH"] = "/usr/bin:/bin"
	}
	run, err := pulumirun.New(context.Background(), pulumirun.Options{
		Stack:       pulumirun.StackName(stack, environment),
		BackendURL:  e.url(),
		PulumiCLI:   e.cli,
		PulumiHome:  e.home,
		PluginDirs:  plugins,
		CancelGrace: e.grace,
		Env:         vars,
		Program:     program,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { run.Close() })
	return run
}

func (e *env) url() string {
	if e.backendURL != "" {
		return e.backendURL
	}
	return pulumirun.FileBackendURL(e.backend)
}

func (e *env) manifest(stack, envName, comp string) string {
	return filepath.Join(e.repo, local.DefaultDirectory, stack, envName, comp+".json")
}

func readManifest(t testing.TB, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest %s: %v\n%s", path, err, b)
	}
	return m
}

// model is a small stack: a database, a queue, and a service referencing
// both (whole-string and embedded references, nested in maps and lists),
// plus a secret.
func model() *stacks.Resolved {
	return &stacks.Resolved{
		Stack: "orders", Environment: "dev",
		Provider: stacks.Provider{Name: "local"},
		Components: []stacks.Component{
			{Name: "api", Kind: stacks.KindMicroService, DependsOn: []string{"db", "events"}, Spec: map[string]any{
				"image":    "orders:1",
				"replicas": int64(2),
				"env": map[string]any{
					"DB_HOST":      "${db.address}",
					"DB_URL":       "postgres://app@${db.endpoint}/orders?port=${db.port}",
					"QUEUE":        "${events.url}",
					"DB_PASSWORD":  stacks.Sensitive{Clear: "s3cr3t-clear-value", Hash: "sensitive:hmac-sha256:abc"},
					"LITERAL_REFS": "${var.unset}",
				},
				"args": []any{"--queue", "${events.arn}", true, 1.5},
			}},
			{Name: "db", Kind: stacks.KindDatabase, Spec: map[string]any{"engine": "postgres", "size": "small"}},
			{Name: "events", Kind: stacks.KindQueue, Spec: map[string]any{"fifo": false}},
		},
	}
}

// withoutEvents is model without its queue (events), and api no longer
// using it.
func withoutEvents() *stacks.Resolved {
	r := model()
	r.Components = r.Components[:2]
	api := r.Component("api")
	api.DependsOn = []string{"db"}
	delete(api.Spec["env"].(map[string]any), "QUEUE")
	api.Spec["args"] = []any{"--no-queue"}
	return r
}

func recorder() (func(pulumirun.Event), func() []pulumirun.Event) {
	var mu sync.Mutex
	var evs []pulumirun.Event
	return func(e pulumirun.Event) {
			mu.Lock()
			evs = append(evs, e)
			mu.Unlock()
		}, func() []pulumirun.Event {
			mu.Lock()
			defer mu.Unlock()
			return append([]pulumirun.Event(nil), evs...)
		}
}

// stepsByName maps component name to the Pulumi op of its step.
func stepsByName(res *pulumirun.Result) map[string]string {
	out := map[string]string{}
	for _, s := range res.Steps {
		out[s.Component] = s.Op
	}
	return out
}

func mustUp(t testing.TB, run *pulumirun.Runner) *pulumirun.Result {
	t.Helper()
	res, err := run.Up(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestUpResolvesReferences(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	r := model()
	onEvent, got := recorder()
	res, err := e.runner(r).Up(ctx, onEvent)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepsByName(res), map[string]string{"api": "create", "db": "create", "events": "create"}; !equalMap(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
	// Every component goes creating -> done, dependencies first.
	status := map[string][]pulumirun.Status{}
	var doneOrder []string
	for _, ev := range got() {
		if ev.Component == "" {
			continue
		}
		status[ev.Component] = append(status[ev.Component], ev.Status)
		if ev.Status == pulumirun.StatusDone {
			doneOrder = append(doneOrder, ev.Component)
			if ev.Elapsed <= 0 {
				t.Errorf("%s: done without elapsed time", ev.Component)
			}
		}
	}
	for _, c := range []string{"api", "db", "events"} {
		if s := status[c]; len(s) != 2 || s[0] != pulumirun.StatusCreating || s[1] != pulumirun.StatusDone {
			t.Errorf("%s statuses = %v, want [creating done]", c, s)
		}
	}
	if len(doneOrder) != 3 || doneOrder[2] != "api" {
		t.Errorf("done order = %v, want api last", doneOrder)
	}

	api := readManifest(t, e.manifest("orders", "dev", "api"))
	if api["stack"] != "orders" || api["environment"] != "dev" || api["component"] != "api" || api["kind"] != "MicroService" {
		t.Errorf("api manifest header = %v", api)
	}
	spec := api["spec"].(map[string]any)
	envs := spec["env"].(map[string]any)
	want := map[string]any{
		"DB_HOST":      "db.dev.orders.local",
		"DB_URL":       "postgres://app@db.dev.orders.local:5432/orders?port=5432",
		"QUEUE":        "local://orders/dev/events",
		"DB_PASSWORD":  "sensitive:hmac-sha256:abc", // the keyed hash, never the clear value
		"LITERAL_REFS": "${var.unset}",
	}
	for k, v := range want {
		if envs[k] != v {
			t.Errorf("env[%s] = %v, want %v", k, envs[k], v)
		}
	}
	args := spec["args"].([]any)
	if len(args) != 4 || args[1] != "arn:local:sqs:local:000000000000:orders-dev-events" || args[2] != true || args[3] != 1.5 {
		t.Errorf("args = %v", args)
	}
	if spec["replicas"] != float64(2) || spec["image"] != "orders:1" {
		t.Errorf("spec = %v", spec)
	}
	db := readManifest(t, e.manifest("orders", "dev", "db"))
	if db["kind"] != "Database" || db["spec"].(map[string]any)["engine"] != "postgres" {
		t.Errorf("db manifest = %v", db)
	}

	// Stack outputs: every output of every component, as the aws target
	// names them.
	wantOuts := map[string]any{
		"api.url": "http://api.dev.orders.local", "api.serviceName": "orders-dev-api",
		"db.endpoint": "db.dev.orders.local:5432", "db.address": "db.dev.orders.local",
		"db.port": float64(5432), "db.secretArn": "local://orders/dev/db/secret",
		"events.url": "local://orders/dev/events", "events.name": "orders-dev-events",
		"events.arn": "arn:local:sqs:local:000000000000:orders-dev-events",
	}
	if len(res.Outputs) != len(wantOuts) {
		t.Errorf("outputs = %v", res.Outputs)
	}
	for k, v := range wantOuts {
		if o := res.Outputs[k]; o.Value != v || o.Secret {
			t.Errorf("output %s = %+v, want %v", k, o, v)
		}
	}
	outs, err := e.runner(r).Outputs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if outs["api.url"].Value != "http://api.dev.orders.local" {
		t.Errorf("Outputs()[api.url] = %v", outs["api.url"])
	}
}

// TestEveryKindHasItsOutputs proves the provider returns exactly the
// outputs stacks.Kind.Outputs() declares, for every kind.
func TestEveryKindHasItsOutputs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := &stacks.Resolved{Stack: "kinds", Environment: "prod", Provider: stacks.Provider{Name: "local"}}
	for _, k := range stacks.ComponentKinds {
		r.Components = append(r.Components, stacks.Component{Name: strings.ToLower(string(k)), Kind: k, Spec: map[string]any{}})
	}
	res := mustUp(t, e.runner(r))
	want := 0
	for _, c := range r.Components {
		for _, o := range c.Kind.Outputs() {
			want++
			v, ok := res.Outputs[target.OutputName(c.Name, o)]
			if !ok || v.Value == nil || v.Value == "" {
				t.Errorf("%s (%s): output %q = %+v", c.Name, c.Kind, o, v)
			}
		}
	}
	if len(res.Outputs) != want {
		t.Errorf("got %d outputs, want %d: %v", len(res.Outputs), want, res.Outputs)
	}
}

func TestUpdateChangesOnlyTheChangedComponent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := model()
	mustUp(t, e.runner(r))
	apiBefore, _ := os.ReadFile(e.manifest("orders", "dev", "api"))

	r2 := model()
	r2.Component("db").Spec["size"] = "large"
	onEvent, got := recorder()
	res, err := e.runner(r2).Up(context.Background(), onEvent)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepsByName(res), map[string]string{"db": "update"}; !equalMap(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
	if res.Steps[0].Diffs == nil || !contains(res.Steps[0].Diffs, "spec") {
		t.Errorf("db diffs = %v, want spec", res.Steps[0].Diffs)
	}
	var updating bool
	for _, ev := range got() {
		if ev.Component == "db" && ev.Status == pulumirun.StatusUpdating {
			updating = true
		}
		if ev.Component == "api" && ev.Status != pulumirun.StatusUnchanged {
			t.Errorf("api event %+v, want only unchanged", ev)
		}
	}
	if !updating {
		t.Error("no updating event for db")
	}
	if db := readManifest(t, e.manifest("orders", "dev", "db")); db["spec"].(map[string]any)["size"] != "large" {
		t.Errorf("db manifest = %v", db)
	}
	apiAfter, _ := os.ReadFile(e.manifest("orders", "dev", "api"))
	if string(apiBefore) != string(apiAfter) {
		t.Error("api manifest changed although api did not")
	}
}

func TestUnchangedModelUpdatesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustUp(t, e.runner(model()))
	st, _ := os.Stat(e.manifest("orders", "dev", "db"))

	prev, err := e.runner(model()).Preview(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if prev.Changed() != 0 || len(prev.Steps) != 0 {
		t.Errorf("preview of an unchanged model: changes %v, steps %v", prev.Changes, prev.Steps)
	}
	res := mustUp(t, e.runner(model()))
	if res.Changed() != 0 || len(res.Steps) != 0 {
		t.Errorf("up of an unchanged model: changes %v, steps %v", res.Changes, res.Steps)
	}
	if res.Changes["same"] != 4 { // three components and the stack
		t.Errorf("same = %d, want 4 (%v)", res.Changes["same"], res.Changes)
	}
	st2, _ := os.Stat(e.manifest("orders", "dev", "db"))
	if !st.ModTime().Equal(st2.ModTime()) {
		t.Error("db manifest rewritten by an up with no changes")
	}
}

func TestPreviewWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	onEvent, got := recorder()
	res, err := e.runner(model()).Preview(context.Background(), onEvent)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepsByName(res), map[string]string{"api": "create", "db": "create", "events": "create"}; !equalMap(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
	for _, ev := range got() {
		if ev.Component != "" && ev.Status != pulumirun.StatusPending {
			t.Errorf("preview event %+v, want pending", ev)
		}
	}
	if _, err := os.Stat(filepath.Join(e.repo, local.DefaultDirectory)); !os.IsNotExist(err) {
		t.Errorf("preview created the manifest directory (err %v)", err)
	}
}

func TestDeleteComponentRemovesItsFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustUp(t, e.runner(model()))

	r2 := withoutEvents()
	res := mustUp(t, e.runner(r2))
	if got, want := stepsByName(res), map[string]string{"api": "update", "events": "delete"}; !equalMap(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
	if _, err := os.Stat(e.manifest("orders", "dev", "events")); !os.IsNotExist(err) {
		t.Errorf("events manifest still there (err %v)", err)
	}
	if _, ok := res.Outputs["events.url"]; ok {
		t.Error("events outputs still exported")
	}
}

func TestDestroyRemovesEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustUp(t, e.runner(model()))
	res, err := e.runner(model()).Destroy(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changes["delete"] != 4 {
		t.Errorf("destroy changes = %v, want 4 deletes", res.Changes)
	}
	entries, err := os.ReadDir(filepath.Join(e.repo, local.DefaultDirectory))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("manifest directory not empty after destroy: %v", entries)
	}
	outs, err := e.runner(model()).Outputs(context.Background())
	if err != nil || len(outs) != 0 {
		t.Errorf("outputs after destroy = %v, %v", outs, err)
	}
}

func TestRefreshSeesManualEdits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustUp(t, e.runner(model()))

	// Somebody edits one manifest and deletes another.
	dbPath := e.manifest("orders", "dev", "db")
	db := readManifest(t, dbPath)
	db["spec"].(map[string]any)["size"] = "edited-by-hand"
	b, _ := json.Marshal(db)
	if err := os.WriteFile(dbPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.manifest("orders", "dev", "events")); err != nil {
		t.Fatal(err)
	}

	drift, err := e.runner(model()).RefreshPreview(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stepsByName(drift), map[string]string{"db": "update", "events": "delete"}; !equalMap(got, want) {
		t.Errorf("drift = %v (%+v), want %v", got, drift.Steps, want)
	}
	// Preview only: the state is untouched, so a second look sees the same.
	again, err := e.runner(model()).RefreshPreview(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Steps) != 2 {
		t.Errorf("second refresh preview steps = %+v", again.Steps)
	}

	// Remediation: refresh the state, then converge to the model.
	run := e.runner(model())
	if _, err := run.Refresh(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	res := mustUp(t, run)
	if got, want := stepsByName(res), map[string]string{"db": "update", "events": "create"}; !equalMap(got, want) {
		t.Errorf("remediation steps = %v, want %v", got, want)
	}
	if db := readManifest(t, dbPath); db["spec"].(map[string]any)["size"] != "small" {
		t.Errorf("db not restored: %v", db)
	}
	readManifest(t, e.manifest("orders", "dev", "events"))
}

func TestProviderFailureMidway(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.extra["PANKALOCAL_FAIL_COMPONENT"] = "api"
	onEvent, got := recorder()
	res, err := e.runner(model()).Up(context.Background(), onEvent)
	if err == nil {
		t.Fatal("up succeeded although api fails")
	}
	if !strings.Contains(err.Error(), `injected failure for component "api"`) {
		t.Errorf("error does not carry the provider's message: %v", err)
	}
	var failed bool
	for _, ev := range got() {
		if ev.Component == "api" && ev.Status == pulumirun.StatusFailed {
			failed = true
		}
	}
	if !failed {
		t.Error("no failed event for api")
	}
	if res == nil || stepsByName(res)["api"] != "create" {
		t.Errorf("result steps = %+v", res)
	}
	readManifest(t, e.manifest("orders", "dev", "db"))
	if _, err := os.Stat(e.manifest("orders", "dev", "api")); !os.IsNotExist(err) {
		t.Errorf("api manifest exists after its create failed (err %v)", err)
	}

	// The next run (failure fixed) completes the deployment.
	delete(e.extra, "PANKALOCAL_FAIL_COMPONENT")
	res = mustUp(t, e.runner(model()))
	if got, want := stepsByName(res), map[string]string{"api": "create"}; !equalMap(got, want) {
		t.Errorf("recovery steps = %v, want %v", got, want)
	}
	readManifest(t, e.manifest("orders", "dev", "api"))
}

func TestSecretsAreEncryptedInState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustUp(t, e.runner(model()))
	const clear = "s3cr3t-clear-value"
	if m := readManifest(t, e.manifest("orders", "dev", "api")); m["spec"].(map[string]any)["env"].(map[string]any)["DB_PASSWORD"] != "sensitive:hmac-sha256:abc" {
		t.Fatal("the manifest must carry the secret's keyed hash (SPEC §3)")
	}
	var files int
	walk := func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), clear) {
			t.Errorf("clear secret value found in %s", p)
		}
		return nil
	}
	for _, dir := range []string{e.backend, e.repo} {
		if err := filepath.WalkDir(dir, walk); err != nil {
			t.Fatal(err)
		}
	}
	if files == 0 {
		t.Fatal("no state files found")
	}
	state, err := os.ReadFile(filepath.Join(e.backend, ".pulumi", "stacks", "panka", "orders-dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(state), `"ciphertext":"v1:`) {
		t.Error("the state has no encrypted value")
	}
	// A new workspace (fresh work dir, as every panka run has) still
	// decrypts the state: an update of the secret works.
	r2 := model()
	r2.Component("api").Spec["env"].(map[string]any)["DB_PASSWORD"] = stacks.Sensitive{Clear: "rotated-secret", Hash: "sensitive:hmac-sha256:def"}
	res := mustUp(t, e.runner(r2))
	if got, want := stepsByName(res), map[string]string{"api": "update"}; !equalMap(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
}

// TestInterruptCancelsCleanly is Ctrl-C: cancelling the context stops the
// engine gracefully, leaving no lock, and the next run completes.
func TestInterruptCancelsCleanly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.extra["PANKALOCAL_DELAY"] = "1500ms"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	_, err := e.runner(model()).Up(ctx, func(ev pulumirun.Event) {
		if ev.Status == pulumirun.StatusCreating {
			once.Do(cancel)
		}
	})
	if err == nil {
		t.Fatal("up was not interrupted")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	delete(e.extra, "PANKALOCAL_DELAY")
	run := e.runner(model())
	rec, err := run.RecoverStale(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Locks) != 0 {
		t.Errorf("a graceful interrupt left locks: %v", rec)
	}
	mustUp(t, run)
	readManifest(t, e.manifest("orders", "dev", "api"))
}

// TestInterruptAsUpLocksReleasesTheLock: a Ctrl-C or SIGTERM that lands
// just as `pulumi up` has taken the stack's DIY lock, before the CLI
// handles interrupts, ends the CLI at once (Go's default action for
// SIGINT). The run was stopped cleanly, but the lock stayed behind in about
// one try in four, and the next run cleared it saying an earlier run was
// killed. The runner removes the lock that its own interrupted CLI left,
// and only that one. A wrapper CLI stands for the real one in that window:
// for `up` it takes the lock as Pulumi does (its pid and host in the lock
// file, the blob store's .attrs next to it), then waits, not handling
// SIGINT.
func TestInterruptAsUpLocksReleasesTheLock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustUp(t, e.runner(model()))
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	lockDir := filepath.Join(e.backend, ".pulumi", "locks", "organization", "panka", "orders-dev")
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Another host's lock is not this run's to remove.
	foreign := filepath.Join(lockDir, "0-foreign.json")
	if err := os.WriteFile(foreign, []byte(`{"pid":4242,"username":"ci","hostname":"another-host","timestamp":"2026-01-02T03:04:05Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(lockDir, "1-ours.json")
	wrapper := filepath.Join(t.TempDir(), "pulumi")
	script := fmt.Sprintf(`#!/bin/sh
for a in "$@"; do
	if [ "$a" = up ]; then
		printf '{"md5":"x"}' > %[1]q.attrs
		printf '{"pid":%%d,"username":"test","hostname":"%%s","timestamp":"2026-01-02T03:04:05Z"}' $$ %[2]q > %[1]q.tmp
		mv %[1]q.tmp %[1]q
		echo "Updating (orders-dev):"
		exec sleep 600
	fi
done
exec %[3]q "$@"
`, ours, host, e.cli)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e.cli = wrapper
	run := e.runner(model())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := run.Up(ctx, nil)
		errc <- err
	}()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ours); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the wrapper took no lock within 60s")
		}
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted up: %v, want it to wrap context.Canceled", err)
	}
	for _, p := range []string{ours, ours + ".attrs"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left behind by a cleanly stopped run (%v)", filepath.Base(p), err)
		}
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("another host's lock was removed: %v", err)
	}
}

// TestRecoverStaleAfterKill kills the CLI mid-run (SIGINT immediately
// followed by SIGKILL), leaving Pulumi's lock file and pending operations;
// the next run is refused until RecoverStale clears them.
func TestRecoverStaleAfterKill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustUp(t, e.runner(model()))
	e.extra["PANKALOCAL_DELAY"] = "20s"
	r2 := model()
	r2.Component("db").Spec["size"] = "large"
	r2.Components = append(r2.Components, stacks.Component{Name: "cache", Kind: stacks.KindCache, Spec: map[string]any{}})
	stateFile := filepath.Join(e.backend, ".pulumi", "stacks", "panka", "orders-dev.json")
	// Killed outright: an interrupt first, however short the grace, lets
	// the engine cancel the provider's (cancellable) delay and record the
	// operations as failed, leaving nothing pending, whenever a loaded
	// machine delays the kill.
	e.grace = -1
	run := e.runner(r2)
	e.grace = 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := run.Up(ctx, nil)
		errc <- err
	}()
	// Wait until the engine has checkpointed the in-flight operations.
	waitPending(t, stateFile)
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("killed up returned no error")
	}
	delete(e.extra, "PANKALOCAL_DELAY")

	run = e.runner(r2)
	_, err := run.Up(context.Background(), nil)
	var locked *pulumirun.LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("up after a killed run: %v, want a LockedError", err)
	}
	rec, err := run.RecoverStale(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Locks) != 1 || !rec.Cancelled || len(rec.PendingOperations) == 0 {
		t.Errorf("recovery = %+v", rec)
	}
	t.Log(rec.String())
	res := mustUp(t, run)
	if stepsByName(res)["cache"] != "create" {
		t.Errorf("steps after recovery = %+v", res.Steps)
	}
	if db := readManifest(t, e.manifest("orders", "dev", "db")); db["spec"].(map[string]any)["size"] != "large" {
		t.Errorf("db = %v", db)
	}
	// Nothing left to clear.
	rec, err = e.runner(r2).RecoverStale(context.Background())
	if err != nil || !rec.Empty() {
		t.Errorf("second recovery = %+v, %v", rec, err)
	}
}

func equalMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestMissingProviderIsExplained(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.noPlugins = true
	_, err := e.runner(model()).Up(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "cannot find the provider plugin pulumi-resource-pankalocal") ||
		!strings.Contains(err.Error(), "make build") {
		t.Fatalf("err = %v", err)
	}
	// Typed, so panka can refuse the run instead of recording it.
	var mp *engine.MissingPluginError
	if !errors.As(err, &mp) || mp.Plugin != "pulumi-resource-pankalocal" {
		t.Fatalf("err = %v, want an *engine.MissingPluginError naming pulumi-resource-pankalocal", err)
	}
}

// TestRecoverStaleLeavesALiveRunAlone: RecoverStale clears what a killed
// run left, never the lock of a Pulumi that still runs on this host (a run
// whose panka was killed while its engine still stops, a force-unlocked
// run): clearing it let two engines write the checkpoint, the later one
// undoing the other's. It refuses, saying which process, and clears the
// lock once that run has ended.
func TestRecoverStaleLeavesALiveRunAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mustUp(t, e.runner(model()))
	e.extra["PANKALOCAL_DELAY"] = "20s"
	r2 := model()
	r2.Component("db").Spec["size"] = "large"
	run := e.runner(r2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := run.Up(ctx, nil)
		errc <- err
	}()
	stateFile := filepath.Join(e.backend, ".pulumi", "stacks", "panka", "orders-dev.json")
	waitPending(t, stateFile)
	delete(e.extra, "PANKALOCAL_DELAY")

	rec, err := e.runner(r2).RecoverStale(context.Background())
	if err == nil || !strings.Contains(err.Error(), "which still runs: an earlier run is still deploying or stopping") ||
		!strings.Contains(err.Error(), "Nothing was cleared") {
		t.Fatalf("RecoverStale during a live run = %+v, %v; want it refused", rec, err)
	}
	locks, _ := filepath.Glob(filepath.Join(e.backend, ".pulumi", "locks", "*", "panka", "orders-dev", "*.json"))
	if len(locks) != 1 {
		t.Fatalf("the live run's lock files: %v, want its one lock kept", locks)
	}

	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the interrupted up returned no error")
	}
	if rec, err := e.runner(r2).RecoverStale(context.Background()); err != nil {
		t.Fatalf("RecoverStale after the run ended: %+v, %v", rec, err)
	}
	mustUp(t, e.runner(r2))
}

// waitPending waits until the engine has checkpointed in-flight operations
// in stateFile (a stack's Pulumi state file).
func waitPending(t *testing.T, stateFile string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(stateFile)
		if strings.Contains(string(b), `"pending_operations"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no pending operations checkpointed within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestProtectedDataRefusesEngineReplace: with Protect, a replace of a data
// component that only the engine decides (here: a provider rule the
// planner does not know, PANKALOCAL_REPLACE_FIELDS) is refused by the
// engine and reported as a ProtectedError, and the data component is left
// as it was; unprotected (--allow-replace), the same change goes through.
func TestProtectedDataRefusesEngineReplace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.protect = true
	mustUp(t, e.runner(model()))
	oldDB, err := os.ReadFile(e.manifest("orders", "dev", "db"))
	if err != nil {
		t.Fatal(err)
	}

	e.extra["PANKALOCAL_REPLACE_FIELDS"] = "size,fifo,image" // a provider rule the planner does not know
	changed := model()
	changed.Component("db").Spec["size"] = "large"
	changed.Component("events").Spec["fifo"] = true
	changed.Component("api").Spec["image"] = "orders:2"
	_, err = e.runner(changed).Up(context.Background(), nil)
	var pe *pulumirun.ProtectedError
	if !errors.As(err, &pe) || len(pe.Replace) == 0 || len(pe.Delete) != 0 {
		t.Fatalf("Up replacing protected components: %v; want a ProtectedError naming replaces", err)
	}
	for _, c := range pe.Replace {
		if c != "db" && c != "events" {
			t.Errorf("refused replace of %q, which holds no data", c)
		}
	}
	if !strings.Contains(err.Error(), "--allow-replace") || !strings.Contains(err.Error(), "refusing to replace") {
		t.Errorf("error does not say what to do: %v", err)
	}
	if b, err := os.ReadFile(e.manifest("orders", "dev", "db")); err != nil || !bytes.Equal(b, oldDB) {
		t.Fatalf("the protected database's manifest changed: %s, %v", b, err)
	}

	e.protect = false
	mustUp(t, e.runner(changed))
	if b, err := os.ReadFile(e.manifest("orders", "dev", "db")); err != nil || !strings.Contains(string(b), `"large"`) {
		t.Fatalf("database manifest after the allowed replace: %s, %v", b, err)
	}
}

// TestReplaceOnChangesAsAWS: the local target replaces what the aws
// mapping replaces: a Database's engine. Protected (no --allow-replace),
// the engine refuses it and the manifest stays; unprotected, the manifest
// is replaced in place (deleted first, so the new one is not removed).
func TestReplaceOnChangesAsAWS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.protect = true
	mustUp(t, e.runner(model()))
	db := e.manifest("orders", "dev", "db")
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	changed := model()
	changed.Component("db").Spec["engine"] = "mysql"
	_, err = e.runner(changed).Up(context.Background(), nil)
	var pe *pulumirun.ProtectedError
	if !errors.As(err, &pe) || len(pe.Replace) != 1 || pe.Replace[0] != "db" {
		t.Fatalf("Up changing a protected database's engine: %v; want a ProtectedError refusing to replace db", err)
	}
	if b, err := os.ReadFile(db); err != nil || !bytes.Equal(b, before) {
		t.Fatalf("the database's manifest changed although the replace was refused: %s, %v", b, err)
	}
	e.protect = false
	res := mustUp(t, e.runner(changed))
	if res.Changes["replace"] != 1 {
		t.Errorf("changes %v, want the database replaced", res.Changes)
	}
	if b, err := os.ReadFile(db); err != nil || !strings.Contains(string(b), `"mysql"`) {
		t.Fatalf("database manifest after the replace: %s, %v", b, err)
	}
}

// TestMovedCheckoutMovesManifests: a checkout moved to another folder (or
// another clone applying with the same state) gives every manifest a new
// absolute directory. The provider moves them in place: protected data
// components are updated, not replaced, so the apply goes through without
// --allow-replace, and the old manifests are gone.
func TestMovedCheckoutMovesManifests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.protect = true
	mustUp(t, e.runner(model()))
	oldDB := e.manifest("orders", "dev", "db")

	e.repo = filepath.Join(filepath.Dir(e.repo), "moved")
	changed := model()
	changed.Component("api").Spec["image"] = "orders:2"
	res := mustUp(t, e.runner(changed))
	if res.Changes["replace"] != 0 || res.Changes["delete"] != 0 {
		t.Errorf("moved checkout: changes %v, want updates only", res.Changes)
	}
	for _, c := range []string{"api", "db", "events"} {
		if _, err := os.Stat(e.manifest("orders", "dev", c)); err != nil {
			t.Errorf("no %s manifest at the new location: %v", c, err)
		}
	}
	if _, err := os.Stat(oldDB); !os.IsNotExist(err) {
		t.Errorf("old database manifest still there after the move (err %v)", err)
	}
}

// TestRenamedCheckoutMovesNothing: a checkout moved or renamed on disk
// takes its manifests along (.panka/local is inside it): the engine, whose
// state names the old folder, changes only what the model changes, as
// panka's plan says. It used to update (move) every manifest.
func TestRenamedCheckoutMovesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.protect = true
	mustUp(t, e.runner(model()))

	moved := filepath.Join(filepath.Dir(e.repo), "renamed")
	if err := os.Rename(e.repo, moved); err != nil {
		t.Fatal(err)
	}
	e.repo = moved
	e.extra["PANKALOCAL_DIRECTORY"] = filepath.Join(moved, local.DefaultDirectory)
	dbBefore, err := os.ReadFile(e.manifest("orders", "dev", "db"))
	if err != nil {
		t.Fatal(err)
	}
	changed := model()
	changed.Component("api").Spec["image"] = "orders:2"
	res := mustUp(t, e.runner(changed))
	if res.Changes["update"] != 1 || res.Changes["create"]+res.Changes["replace"]+res.Changes["delete"] != 0 {
		t.Errorf("renamed checkout, api image changed: changes %v, want api updated only", res.Changes)
	}
	if b, err := os.ReadFile(e.manifest("orders", "dev", "api")); err != nil || !strings.Contains(string(b), "orders:2") {
		t.Errorf("api manifest in the renamed checkout: %s, %v", b, err)
	}
	if b, err := os.ReadFile(e.manifest("orders", "dev", "db")); err != nil || string(b) != string(dbBefore) {
		t.Errorf("db manifest in the renamed checkout changed or gone: %v", err)
	}
	// Nothing to do afterwards either, and a destroy finds the manifests.
	if res := mustUp(t, e.runner(changed)); res.Changes["update"]+res.Changes["create"]+res.Changes["replace"]+res.Changes["delete"] != 0 {
		t.Errorf("second up after the rename: changes %v, want none", res.Changes)
	}
}

// TestUnprotectLetsDeleteThrough: a protected data component removed from
// the program is not deleted (ProtectedError naming it) until Unprotect
// clears its protection; destroy likewise.
func TestUnprotectLetsDeleteThrough(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.protect = true
	mustUp(t, e.runner(model()))

	r2 := withoutEvents()
	run := e.runner(r2)
	_, err := run.Up(context.Background(), nil)
	var pe *pulumirun.ProtectedError
	if !errors.As(err, &pe) || strings.Join(pe.Delete, ",") != "events" || len(pe.Replace) != 0 {
		t.Fatalf("Up deleting a protected component: %v; want a ProtectedError naming events", err)
	}
	if !strings.Contains(err.Error(), "--allow-destroy") {
		t.Errorf("error does not say what to do: %v", err)
	}
	if _, err := os.Stat(e.manifest("orders", "dev", "events")); err != nil {
		t.Fatalf("protected events manifest deleted: %v", err)
	}
	keep := map[string]bool{"api": true, "db": true}
	done, err := run.Unprotect(context.Background(), func(c, _ string) bool { return !keep[c] })
	if err != nil || strings.Join(done, ",") != "events" {
		t.Fatalf("Unprotect = %v, %v; want [events]", done, err)
	}
	if done, err := run.Unprotect(context.Background(), func(c, _ string) bool { return !keep[c] }); err != nil || len(done) != 0 {
		t.Fatalf("second Unprotect = %v, %v; want nothing left to clear", done, err)
	}
	mustUp(t, run)
	if _, err := os.Stat(e.manifest("orders", "dev", "events")); !os.IsNotExist(err) {
		t.Errorf("events manifest still there after Unprotect and Up (err %v)", err)
	}

	_, err = run.Destroy(context.Background(), nil)
	if !errors.As(err, &pe) || strings.Join(pe.Delete, ",") != "db" {
		t.Fatalf("Destroy with a protected database: %v; want a ProtectedError naming db", err)
	}
	if done, err := run.Unprotect(context.Background(), func(string, string) bool { return true }); err != nil || strings.Join(done, ",") != "db" {
		t.Fatalf("Unprotect all = %v, %v; want [db]", done, err)
	}
	if _, err := run.Destroy(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.manifest("orders", "dev", "db")); !os.IsNotExist(err) {
		t.Errorf("db manifest still there after destroy (err %v)", err)
	}
}

// TestUnprotectSeesTheComponentType: a target that gives each kind its own
// component resource type (the aws target's panka:aws:<Kind>) turns a kind
// change into new resources and the deletion of the old, protected ones,
// which the engine refuses. Unprotect is given each component's type, so
// the deploying side can clear the protection of a component whose kind
// changed (--allow-replace) while it stays desired.
func TestUnprotectSeesTheComponentType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := filepath.Join(e.repo, local.DefaultDirectory)
	program := func(kind string, protect bool) pulumi.RunFunc {
		return func(ctx *pulumi.Context) error {
			parent := &struct{ pulumi.ResourceState }{}
			if err := ctx.RegisterComponentResource("panka:aws:"+kind, "orders", parent); err != nil {
				return err
			}
			res := &struct {
				pulumi.CustomResourceState
			}{}
			return ctx.RegisterResource(local.Token, "orders-"+strings.ToLower(kind), pulumi.Map{
				"directory": pulumi.String(dir), "stack": pulumi.String("orders"), "environment": pulumi.String("dev"),
				"component": pulumi.String("orders-" + strings.ToLower(kind)), "kind": pulumi.String(kind), "spec": pulumi.Map{},
			}, res, pulumi.Parent(parent), pulumi.Protect(protect))
		}
	}
	mustUp(t, e.runnerWith("orders", "dev", program("Queue", true)))
	old := e.manifest("orders", "dev", "orders-queue")

	run := e.runnerWith("orders", "dev", program("Bucket", false))
	_, err := run.Up(context.Background(), nil)
	var pe *pulumirun.ProtectedError
	if !errors.As(err, &pe) || len(pe.Delete) == 0 {
		t.Fatalf("Up after a kind change of a protected component: %v; want the delete refused", err)
	}
	var types []string
	done, err := run.Unprotect(context.Background(), func(c, typ string) bool {
		types = append(types, c+"="+typ)
		return c == "orders" && typ != "panka:aws:Bucket"
	})
	if err != nil || strings.Join(done, ",") != "orders" || !strings.Contains(strings.Join(types, ","), "orders=panka:aws:Queue") {
		t.Fatalf("Unprotect = %v, %v (asked %v); want orders cleared, seen with its type panka:aws:Queue", done, err, types)
	}
	mustUp(t, run)
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the old kind's manifest is still there after Unprotect and Up (err %v)", err)
	}
	if _, err := os.Stat(e.manifest("orders", "dev", "orders-bucket")); err != nil {
		t.Errorf("no manifest for the new kind: %v", err)
	}
}

// TestCloseLeavesNoWorkspaceSettings: a run's temporary workspace goes
// with Close, and so does the settings file the Pulumi CLI wrote for it
// under PULUMI_HOME/workspaces; each run left one there (thousands in a
// user's ~/.pulumi after a while, each naming a state backend).
func TestCloseLeavesNoWorkspaceSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for range 2 {
		run := e.runner(model())
		mustUp(t, run)
		if err := run.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir(filepath.Join(e.home, "workspaces"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, ent := range ents {
		t.Errorf("left in PULUMI_HOME/workspaces: %s", ent.Name())
	}
}
