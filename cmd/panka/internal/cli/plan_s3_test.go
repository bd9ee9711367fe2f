package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
	s3store "panka.dev/panka/statestore/s3"
	"panka.dev/panka/statestore/testserver"
)

// s3Env points panka at a fresh bucket on the versitygw test server (state
// only; the process environment carries the credentials the SDK reads).
func s3Env(t testing.TB) (bucket string, env []string, store statestore.Store) {
	t.Helper()
	srv := testserver.S3(t)
	bucket = testserver.NewBucket(t)
	setenv(t, "AWS_ACCESS_KEY_ID", srv.AccessKey)
	setenv(t, "AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	setenv(t, "AWS_REGION", srv.Region)
	setenv(t, "AWS_EC2_METADATA_DISABLED", "true")
	env = []string{"PANKA_BACKEND_TYPE=s3", "PANKA_BACKEND_BUCKET=" + bucket, "PANKA_BACKEND_ENDPOINT=" + srv.Endpoint,
		"PANKA_BACKEND_USE_PATH_STYLE=true", "PANKA_BACKEND_REGION=" + srv.Region}
	st, err := s3store.New(testserver.S3Client(t), s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	return bucket, env, st
}

// setenv is t.Setenv for tests and benchmarks alike.
func setenv(t testing.TB, k, v string) {
	t.Helper()
	old, had := os.LookupEnv(k)
	if err := os.Setenv(k, v); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if had {
			os.Setenv(k, old)
		} else {
			os.Unsetenv(k)
		}
	})
}

// putState writes model as the deployed state of its stack/environment.
func putState(t testing.TB, store statestore.Store, model *stacks.Resolved, serial int64, commit string) {
	t.Helper()
	ctx := context.Background()
	key := statestore.Key{Stack: model.Stack, Environment: model.Environment}
	_, prev, _ := store.Get(ctx, key)
	ended := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	rec := &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: "d", Serial: serial, Stack: model.Stack,
		Environment: model.Environment, Operation: statestore.OpApply, Commit: commit, User: "alice", Host: "ci",
		PankaVersion: "test", StartedAt: ended, EndedAt: ended, Result: statestore.ResultSucceeded}
	st := &statestore.State{SchemaVersion: statestore.SchemaVersion, Serial: serial, Stack: model.Stack,
		Environment: model.Environment, Status: statestore.StatusDeployed, LastDeployment: rec, Spec: model.Canonical(), UpdatedAt: ended}
	if _, err := store.Put(ctx, key, st, prev); err != nil {
		t.Fatal(err)
	}
}

// TestPlanVersitygw plans against state kept in S3 (versitygw): no-op,
// an update, and --out recording the S3 state serial.
func TestPlanVersitygw(t *testing.T) {
	_, env, store := s3Env(t)
	r := newPlanRepo(t)
	st, err := stacks.Load(os.DirFS(r.Dir), "stacks/orders")
	if err != nil {
		t.Fatal(err)
	}
	model, err := st.Resolve("dev", stacks.ResolveOptions{SecretKey: planner.DeriveSecretKey(planTestPassphrase)})
	if err != nil {
		t.Fatal(err)
	}
	putState(t, store, model, 6, r.Head().String())

	out, errOut, code := r.run(r.env(env...), "plan", "-s", "orders", "-e", "dev", "--detailed-exitcode")
	if code != 0 || !strings.Contains(out, "No changes. orders/dev matches the deployed state.") || !strings.Contains(out, "state serial 6") {
		t.Fatalf("no-op: exit %d\n%s\n%s", code, out, errOut)
	}
	r.Write("stacks/orders/infra/events.yaml", strings.Replace(r.read("stacks/orders/infra/events.yaml"), "visibilityTimeout: 60", "visibilityTimeout: 90", 1))
	file := filepath.Join(t.TempDir(), "p.json")
	out, errOut, code = r.run(r.env(env...), "plan", "-s", "orders", "-e", "dev", "--detailed-exitcode", "--out", file)
	if code != 2 || !strings.Contains(out, "spec.visibilityTimeout: 60 → 90") {
		t.Fatalf("update: exit %d\n%s\n%s", code, out, errOut)
	}
	saved, err := planner.LoadSaved(file)
	if err != nil {
		t.Fatal(err)
	}
	if saved.StateSerial != 6 {
		t.Errorf("saved plan serial %d, want 6", saved.StateSerial)
	}
	// A missing bucket is a clear error, not "nothing deployed".
	bad := append(r.env(env...), "PANKA_BACKEND_BUCKET=no-such-bucket-panka")
	_, errOut, code = r.run(bad, "plan", "-s", "orders", "-e", "dev")
	if code != 1 || !strings.Contains(errOut, "no-such-bucket-panka") {
		t.Errorf("missing bucket: exit %d: %s", code, errOut)
	}
}

// genStack writes a stack of n components (queues, each with a worker
// reading it) and returns its folder.
func genStack(t testing.TB, dir string, n int) {
	t.Helper()
	write := func(p, s string) {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("stacks/big/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: big\nspec:\n  provider:\n    name: aws\n    region: eu-west-1\n    network:\n      vpcId: vpc-0a1b2c3d4e5f60718\n      privateSubnets: [subnet-0bb21, subnet-0bb22]\n  variables:\n    TAG:\n      default: \"1.0.0\"\n")
	write("stacks/big/environments/dev.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec: {}\n")
	for i := 0; i < n/2; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q%04d\nspec:\n  visibilityTimeout: 30\n  deadLetter:\n    maxReceives: 5\n---\n", i)
		fmt.Fprintf(&b, "apiVersion: core.panka.io/v1\nkind: Worker\nmetadata:\n  name: w%04d\nspec:\n  image: ghcr.io/acme/w:${TAG}\n  cpu: 256\n  memory: 512\n  command: [\"./worker\", \"--id\", \"%d\"]\n  env:\n    QUEUE_URL: ${q%04d.url}\n    LOG_LEVEL: info\n", i, i, i)
		write(fmt.Sprintf("stacks/big/infra/c%04d.yaml", i), b.String())
	}
}

// BenchmarkPlan1000 is `panka plan` end to end (load and resolve 1,000
// components from the work tree, read state from versitygw, plan, render)
// with 10% of the components changed.
func BenchmarkPlan1000(b *testing.B) {
	_, env, store := s3Env(b)
	dir := b.TempDir()
	genStack(b, dir, 1000)
	st, err := stacks.Load(os.DirFS(dir), "stacks/big")
	if err != nil {
		b.Fatal(err)
	}
	model, err := st.Resolve("dev", stacks.ResolveOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if len(model.Components) != 1000 {
		b.Fatalf("%d components", len(model.Components))
	}
	for i := 0; i < len(model.Components); i += 10 {
		model.Components[i].Spec["replicas"] = int64(7) // 10% drifted from the YAML
	}
	putState(b, store, model, 1, "")
	run := func() (string, int) {
		ios, _, out, errOut := Test()
		f := NewFactory(ios)
		f.Getwd = func() (string, error) { return dir, nil }
		f.Home = func() (string, error) { return dir, nil }
		f.Environ = func() []string { return env }
		code := Run(context.Background(), f, []string{"plan", "-s", "big", "-e", "dev"})
		return out.String() + errOut.String(), code
	}
	if out, code := run(); code != 0 || !strings.Contains(out, "Plan: 0 to create, 100 to update, 0 to delete") {
		b.Fatalf("exit %d:\n%s", code, out[max(0, len(out)-2000):])
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		if _, code := run(); code != 0 {
			b.Fatal("plan failed")
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/plan")
	// CPU time says more than wall time on a loaded machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/plan")
	b.ReportMetric(1000, "components")
}
