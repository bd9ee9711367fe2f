package local_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

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
	if err := os.MkdirAll(e.backend, 0o755); err != nil {
		e.t.Fatal(err)
	}
	vars := pulumitest.Env(e.t)
	delete(vars, "PULUMI_HOME")
	for k, v := range e.extra {
		vars[k] = v
	}
	model := r
	run, err := pulumirun.New(context.Background(), pulumirun.Options{
		Stack:      pulumirun.StackName(r.Stack, r.Environment),
		BackendURL: pulumirun.FileBackendURL(e.backend),
		PulumiCLI:  e.cli,
		PulumiHome: e.home,
		PluginDirs: []string{e.plugins},
		Env:        vars,
		Program: func(ctx *pulumi.Context) error {
			return local.New().Register(ctx, model, target.Options{RepoRoot: e.repo})
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { run.Close() })
	return run
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

func events() (func(pulumirun.Event), func() []pulumirun.Event) {
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

func TestUpResolvesReferences(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := model()
	run := e.runner(r)
	onEvent, got := events()
	res, err := run.Up(ctx, onEvent)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changes["create"] != 3 {
		t.Errorf("changes = %v, want 3 creates", res.Changes)
	}
	for _, ev := range got() {
		t.Logf("event %+v", ev)
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
		"DB_PASSWORD":  "s3cr3t-clear-value",
		"LITERAL_REFS": "${var.unset}",
	}
	for k, v := range want {
		if envs[k] != v {
			t.Errorf("env[%s] = %v, want %v", k, envs[k], v)
		}
	}
	args := spec["args"].([]any)
	if args[1] != "arn:local:sqs:local:000000000000:orders-dev-events" || args[2] != true || args[3] != 1.5 {
		t.Errorf("args = %v", args)
	}
	if spec["replicas"] != float64(2) {
		t.Errorf("replicas = %v", spec["replicas"])
	}
	outs, err := run.Outputs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Components {
		for _, o := range c.Kind.Outputs() {
			if _, ok := outs[target.OutputName(c.Name, o)]; !ok {
				t.Errorf("missing stack output %s", target.OutputName(c.Name, o))
			}
		}
	}
	if outs["api.url"].Value != "http://api.dev.orders.local" {
		t.Errorf("api.url = %v", outs["api.url"])
	}
	_ = strings.TrimSpace
	_ = time.Now
}
