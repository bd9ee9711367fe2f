package cli

import (
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/local"
)

var updatePlanGolden = flag.Bool("update", false, "rewrite golden files under testdata/")

// planRepo is a real git repository holding a copy of the example repo.
type planRepo struct {
	*gittest.Repo
	t testing.TB
}

func newPlanRepo(t testing.TB) *planRepo {
	t.Helper()
	r := gittest.New(t)
	src := filepath.Join("..", "..", "..", "..", "testdata", "examples")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		r.WriteFile(filepath.ToSlash(rel), string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Git("add", "-A")
	r.Commit("examples")
	return &planRepo{Repo: r, t: t}
}

const planTestPassphrase = "correct horse battery staple"

// env is the process environment the tests give panka.
func (r *planRepo) env(extra ...string) []string {
	return append([]string{"PULUMI_CONFIG_PASSPHRASE=" + planTestPassphrase, "HOME=" + r.Dir + "/.home"}, extra...)
}

// run runs panka in the repository and returns stdout, stderr and the exit code.
func (r *planRepo) run(env []string, args ...string) (string, string, int) {
	r.t.Helper()
	return r.runTTY(false, env, args...)
}

// runTTY is run with stdout a terminal or not.
func (r *planRepo) runTTY(tty bool, env []string, args ...string) (string, string, int) {
	r.t.Helper()
	ios, _, out, errOut := Test()
	ios.SetTTY(false, tty, false)
	f := NewFactory(ios)
	f.Getwd = func() (string, error) { return r.Dir, nil }
	f.Home = func() (string, error) { return r.Dir + "/.home", nil }
	f.Environ = func() []string { return env }
	f.Now = func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }
	code := Run(context.Background(), f, args)
	return out.String(), errOut.String(), code
}

// deploy records the model the repository's work tree resolves to as
// deployed state of stack/env (what apply would have written).
func (r *planRepo) deploy(stack, dir, env string, serial int64, flags map[string]string) {
	r.t.Helper()
	st, err := stacks.Load(os.DirFS(r.Dir), dir)
	if err != nil {
		r.t.Fatal(err)
	}
	model, err := st.Resolve(env, stacks.ResolveOptions{Vars: stacks.VarValues{Flags: flags},
		SecretKey: planner.DeriveSecretKey(planTestPassphrase)})
	if err != nil {
		r.t.Fatal(err)
	}
	store, err := local.New(local.Options{Dir: filepath.Join(r.Dir, ".panka"), Prefix: st.Header().Backend["backend.prefix"]})
	if err != nil {
		r.t.Fatal(err)
	}
	key := statestore.Key{Stack: stack, Environment: env}
	ctx := context.Background()
	_, prev, err := store.Get(ctx, key)
	if err != nil && !errors.Is(err, statestore.ErrNotFound) {
		r.t.Fatal(err)
	}
	ended := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	rec := &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: "d1", Serial: serial, Stack: stack, Environment: env,
		Operation: statestore.OpApply, Commit: r.Head().String(), User: "alice", Host: "laptop", PankaVersion: "test",
		StartedAt: ended.Add(-time.Minute), EndedAt: ended, Result: statestore.ResultSucceeded}
	state := &statestore.State{SchemaVersion: statestore.SchemaVersion, Serial: serial, Stack: stack, Environment: env,
		Status: statestore.StatusDeployed, LastDeployment: rec, Spec: model.Canonical(), UpdatedAt: ended}
	if _, err := store.Put(ctx, key, state, prev); err != nil {
		r.t.Fatal(err)
	}
}

func planGolden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "plan", name)
	if *updatePlanGolden {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestPlanExamples plans the example repository through the real command
// tree against the local backend, in text and JSON, with golden files.
func TestPlanExamples(t *testing.T) {
	up := []string{"plan", "--stack", "user-platform", "--environment", "dev", "--var", "SIGNING_KEY=s3cret-one"}
	deployed := map[string]string{"SIGNING_KEY": "s3cret-one"}
	tests := []struct {
		name     string
		setup    func(r *planRepo)
		args     []string
		wantCode int
		want     []string
	}{
		{"create-from-empty", func(r *planRepo) {}, up, 2,
			[]string{"Plan: 6 to create, 0 to update, 0 to delete", "nothing deployed yet"}},
		{"no-op", func(r *planRepo) {
			r.deploy("user-platform", "stacks/user-platform", "dev", 3, deployed)
		}, up, 0, []string{"No changes. user-platform/dev matches the deployed state."}},
		{"update-one-field", func(r *planRepo) {
			r.deploy("user-platform", "stacks/user-platform", "dev", 3, deployed)
			r.Write("stacks/user-platform/environments/dev.yaml", strings.Replace(r.read("stacks/user-platform/environments/dev.yaml"), "LOG_LEVEL: debug", "LOG_LEVEL: warn", 1))
		}, up, 2, []string{`spec.env.LOG_LEVEL: "debug" → "warn"`, "Plan: 0 to create, 1 to update, 0 to delete", "dirty"}},
		{"delete-component", func(r *planRepo) {
			r.deploy("user-platform", "stacks/user-platform", "dev", 3, deployed)
			// The worker goes, and with it the bucket only it used.
			r.Remove("stacks/user-platform/services/worker")
			r.Write("stacks/user-platform/environments/production.yaml", strings.Replace(r.read("stacks/user-platform/environments/production.yaml"),
				"    worker:\n      replicas: 2\n      cpu: 1024\n      memory: 2048\n", "", 1))
			msg := r.read("stacks/user-platform/infra/messaging.yaml")
			r.Write("stacks/user-platform/infra/messaging.yaml", msg[:strings.Index(msg, "---")])
		}, up, 2, []string{"- worker (Worker) will be deleted", "- exports (Bucket) will be deleted", "DATA LOSS: exports (Bucket)", "Plan: 0 to create, 0 to update, 2 to delete"}},
		{"replace", func(r *planRepo) {
			r.deploy("user-platform", "stacks/user-platform", "dev", 3, deployed)
			r.Write("stacks/user-platform/infra/database.yaml", strings.Replace(r.read("stacks/user-platform/infra/database.yaml"), "engine: postgres", "engine: mysql", 1))
		}, up, 2, []string{"-/+ users-db (Database) must be replaced (spec.engine)", "DATA LOSS"}},
		{"secrets-hidden", func(r *planRepo) {
			r.deploy("user-platform", "stacks/user-platform", "dev", 3, deployed)
		}, []string{"plan", "--stack", "user-platform", "--environment", "dev", "--var", "SIGNING_KEY=s3cret-two"}, 2,
			[]string{"spec.env.SIGNING_KEY: (sensitive) → (sensitive)", "Plan: 0 to create, 1 to update, 0 to delete"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newPlanRepo(t)
			tt.setup(r)
			for _, format := range []string{"text", "json"} {
				args := append(append([]string{}, tt.args...), "--detailed-exitcode", "-o", format)
				out, errOut, code := r.run(r.env(), args...)
				if code != tt.wantCode {
					t.Fatalf("%s: exit %d, want %d; stderr:\n%s", format, code, tt.wantCode, errOut)
				}
				if format == "text" {
					for _, w := range tt.want {
						if !strings.Contains(out, w) {
							t.Errorf("output lacks %q:\n%s", w, out)
						}
					}
				}
				for _, secret := range []string{"s3cret-one", "s3cret-two", "sensitive:"} {
					if strings.Contains(out+errOut, secret) {
						t.Errorf("%s output leaks %q", format, secret)
					}
				}
				planGolden(t, tt.name+"."+format, out)
			}
		})
	}
}

func (r *planRepo) read(p string) string {
	b, err := os.ReadFile(filepath.Join(r.Dir, p))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

// TestPlanAtRef plans an older commit straight from git while the work tree
// holds something else.
func TestPlanAtRef(t *testing.T) {
	r := newPlanRepo(t)
	old := r.Head().String()
	r.Write("stacks/orders/infra/events.yaml", strings.Replace(r.read("stacks/orders/infra/events.yaml"), "visibilityTimeout: 60", "visibilityTimeout: 90", 1))
	r.Commit("longer visibility timeout")
	r.deploy("orders", "stacks/orders", "dev", 5, nil)
	// Uncommitted noise in the work tree must not matter with --ref.
	r.Write("stacks/orders/infra/events.yaml", "this is not YAML: [")

	out, errOut, code := r.run(r.env(), "plan", "--stack", "orders", "--environment", "dev", "--ref", "HEAD~1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, w := range []string{"desired:     ref HEAD~1 (" + old[:12] + ")", "spec.visibilityTimeout: 90 → 60", "Plan: 0 to create, 1 to update, 0 to delete"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	out, _, code = r.run(r.env(), "plan", "--stack", "orders", "--environment", "dev", "--ref", "HEAD", "-o", "json")
	if code != 0 || !strings.Contains(out, `"noOp": 4`) && !strings.Contains(out, `"update": 0`) {
		t.Errorf("plan at HEAD should be a no-op (exit %d):\n%s", code, out)
	}
	// The work tree itself does not parse.
	_, errOut, code = r.run(r.env(), "plan", "--stack", "orders", "--environment", "dev")
	if code != 1 || !strings.Contains(errOut, "events.yaml") {
		t.Errorf("work-tree plan: exit %d, stderr %s", code, errOut)
	}
	_, errOut, code = r.run(r.env(), "plan", "--stack", "orders", "--environment", "dev", "--ref", "no-such-branch")
	if code != 1 || !strings.Contains(errOut, "no-such-branch") {
		t.Errorf("unknown ref: exit %d, stderr %s", code, errOut)
	}
	// The all-zero id a CI system gives a new branch: plan has no --base.
	_, errOut, code = r.run(r.env(), "plan", "--stack", "orders", "--environment", "dev", "--ref", strings.Repeat("0", 40))
	if code != 1 || !strings.Contains(errOut, "is the all-zero commit id") || !strings.Contains(errOut, "pass the commit itself") || strings.Contains(errOut, "--base") {
		t.Errorf("all-zero ref: exit %d, stderr %s", code, errOut)
	}
}

// TestPlanSavedStale saves a plan, then refuses it once state moved on.
func TestPlanSavedStale(t *testing.T) {
	r := newPlanRepo(t)
	r.deploy("orders", "stacks/orders", "dev", 2, nil)
	r.Write("stacks/orders/infra/events.yaml", strings.Replace(r.read("stacks/orders/infra/events.yaml"), "visibilityTimeout: 60", "visibilityTimeout: 90", 1))
	file := filepath.Join(t.TempDir(), "orders-dev.plan")
	_, errOut, code := r.run(r.env("PANKA_VAR_UNUSED=x"), "plan", "-s", "orders", "-e", "dev", "--out", file)
	if code != 0 || !strings.Contains(errOut, "panka apply "+file) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	saved, err := planner.LoadSaved(file)
	if err != nil {
		t.Fatal(err)
	}
	if saved.StateSerial != 2 || saved.Stack != "orders" || saved.Environment != "dev" || saved.Commit != r.Head().String() || !saved.Dirty {
		t.Errorf("saved plan header: serial %d %s/%s commit %s dirty %v", saved.StateSerial, saved.Stack, saved.Environment, saved.Commit, saved.Dirty)
	}
	model, err := saved.DesiredModel()
	if err != nil || model == nil {
		t.Fatalf("desired model: %v", err)
	}
	// The basis of the state as it is now (Check compares content too).
	basis := func() string {
		t.Helper()
		store, err := local.New(local.Options{Dir: filepath.Join(r.Dir, ".panka")})
		if err != nil {
			t.Fatal(err)
		}
		st, _, err := store.Get(context.Background(), statestore.Key{Stack: "orders", Environment: "dev"})
		if err != nil {
			t.Fatal(err)
		}
		return st.PlanBasis()
	}
	if err := saved.Check(2, basis(), model.Hash()); err != nil {
		t.Errorf("fresh plan refused: %v", err)
	}
	// The same serial with another content (state.json replaced).
	if err := saved.Check(2, "other", model.Hash()); !errors.Is(err, planner.ErrStale) {
		t.Errorf("same serial, other content: %v", err)
	}
	r.deploy("orders", "stacks/orders", "dev", 3, nil) // someone applied meanwhile
	err = saved.Check(3, basis(), model.Hash())
	if !errors.Is(err, planner.ErrStale) || !strings.Contains(err.Error(), "run panka plan again") {
		t.Errorf("stale plan: %v", err)
	}
}

// TestPlanFlags checks flag validation and variable sources.
func TestPlanFlags(t *testing.T) {
	r := newPlanRepo(t)
	varFile := filepath.Join(t.TempDir(), "vars.yaml")
	if err := os.WriteFile(varFile, []byte("SIGNING_KEY: from-file\nIMAGE_TAG: 2.0.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A secret in a file of its own, next to a common one.
	tagFile, keyFile := filepath.Join(t.TempDir(), "common.env"), filepath.Join(t.TempDir(), "secrets.env")
	if err := os.WriteFile(tagFile, []byte("IMAGE_TAG=2.5.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte("SIGNING_KEY=hunter4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secretLike := filepath.Join(t.TempDir(), "secret.env")
	if err := os.WriteFile(secretLike, []byte("hunter6Zm9v=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"missing stack", nil, []string{"plan"}, 1, "", "--stack and --environment are required"},
		// Both files are read: only the last one was, leaving IMAGE_TAG
		// at its default without a word.
		{"two var files", nil, []string{"plan", "-s", "user-platform", "-e", "dev", "--var-file", tagFile, "--var-file", keyFile}, 0, "users-api:2.5.0", ""},
		{"a later var file wins", nil, []string{"plan", "-s", "user-platform", "-e", "dev", "--var-file", tagFile, "--var-file", varFile}, 0, "users-api:2.0.0", ""},
		{"bad var", nil, []string{"plan", "-s", "orders", "-e", "dev", "--var", "NOPE"}, 1, "", `--var number 1 has no "=" (not shown: it may hold a secret): write NAME=VALUE`},
		// A --var without "=" is often a secret given alone ("$TOKEN"):
		// the error must not print it.
		{"bad var not echoed", nil, []string{"plan", "-s", "orders", "-e", "dev", "--var", "A=1", "--var", "PAYMENT_API_KEY:hunter2", "--var", "=hunter3"}, 1, "", `--var number 2 has no "="`},
		{"empty var name not echoed", nil, []string{"plan", "-s", "orders", "-e", "dev", "--var", "=hunter3"}, 1, "", `--var number 1 has no name before "=": write NAME=VALUE`},
		{"unknown stack", nil, []string{"plan", "-s", "nope", "-e", "dev"}, 1, "", `stack "nope" not found under stacks/ (stacks: orders, user-platform)`},
		{"unknown env", nil, []string{"plan", "-s", "orders", "-e", "qa"}, 1, "", `stack "orders" has no environment "qa"`},
		// Typos name what was meant.
		{"stack typo", nil, []string{"plan", "-s", "order", "-e", "dev"}, 1, "", `stack "order" not found under stacks/ (stacks: orders, user-platform; did you mean "orders"?)`},
		{"env typo", nil, []string{"plan", "-s", "orders", "-e", "stagign"}, 1, "",
			`stack "orders" has no environment "stagign" (environments: dev, production, staging); did you mean "staging"? (a new environment is a new file, stacks/orders/environments/stagign.yaml)`},
		{"env prefix", nil, []string{"plan", "-s", "orders", "-e", "prod"}, 1, "", `did you mean "production"?`},
		{"required secret missing", nil, []string{"plan", "-s", "user-platform", "-e", "dev"}, 1, "", "SIGNING_KEY"},
		{"var from env", []string{"PANKA_VAR_SIGNING_KEY=from-env"}, []string{"plan", "-s", "user-platform", "-e", "dev"}, 0, "6 to create", ""},
		{"var file", nil, []string{"plan", "-s", "user-platform", "-e", "dev", "--var-file", varFile}, 0, "users-api:2.0.0", ""},
		{"flag beats file", nil, []string{"plan", "-s", "user-platform", "-e", "dev", "--var-file", varFile, "--var", "IMAGE_TAG=3.0.0"}, 0, "users-api:3.0.0", ""},
		{"all-changed with stack", nil, []string{"plan", "--all-changed", "-s", "orders"}, 1, "", "do not combine it with --stack"},
		// A mistyped --var must not pass unnoticed: the plan uses the
		// default (or the environment file's value) instead.
		{"undeclared var", nil, []string{"plan", "-s", "user-platform", "-e", "dev", "--var", "SIGNING_KEY=x", "--var", "IMAGE_TAGG=2.0.0"}, 0, "users-api:1.8.0",
			`variable IMAGE_TAGG is not declared in spec.variables of any stack checked (did you mean "IMAGE_TAG"?)`},
		{"undeclared var in another case", nil, []string{"plan", "-s", "user-platform", "-e", "dev", "--var", "SIGNING_KEY=x", "--var", "image_tag=2.0.0"}, 0, "users-api:1.8.0",
			`variable image_tag is not declared in spec.variables of any stack checked (did you mean "IMAGE_TAG"? variable names are case-sensitive)`},
		{"undeclared var-file name", nil, []string{"plan", "-s", "orders", "-e", "dev", "--var-file", varFile}, 0, "", "variable IMAGE_TAG is not declared"},
		// A secret given without NAME= whose base64 "=" padding makes it
		// look like NAME=VALUE: the undeclared "name" is most of the
		// secret, so it is counted, not named.
		{"undeclared secret-like name not echoed", nil, []string{"plan", "-s", "orders", "-e", "dev", "--var", "hunter2Zm9vYmFy==", "--var", "hunter5+/x=abc", "--var-file", secretLike}, 0, "",
			`3 --var or --var-file entries set no variable any stack checked declares and are not named here`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := r.run(r.env(tt.env...), tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			if strings.Contains(out+errOut, "hunter") {
				t.Errorf("a --var value is printed:\n%s%s", out, errOut)
			}
		})
	}
}

// TestPlanAllChangedUndeclaredVar: plan --all-changed warns about a --var
// that none of the planned stacks declares, as plan and validate do.
func TestPlanAllChangedUndeclaredVar(t *testing.T) {
	r := newPlanRepo(t)
	r.Write("stacks/orders/infra/events.yaml", strings.Replace(r.read("stacks/orders/infra/events.yaml"), "visibilityTimeout: 60", "visibilityTimeout: 90", 1))
	r.Commit("longer visibility timeout")
	out, errOut, code := r.run(r.env(), "plan", "--all-changed", "--base", "HEAD~1", "--var", "VERSIONN=2.4.0", "--var", "VERSION=2.4.0")
	if code != 0 || !strings.Contains(out, "orders-api:2.4.0") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "variable VERSIONN is not declared") || strings.Contains(errOut, "variable VERSION is") {
		t.Errorf("stderr should warn about VERSIONN only:\n%s", errOut)
	}
}

// TestApplyUndeclaredVar: apply warns about a mistyped --var before it
// deploys anything.
func TestApplyUndeclaredVar(t *testing.T) {
	r := newPlanRepo(t)
	_, errOut, _ := r.run(r.env("PATH="+t.TempDir()), "apply", "-s", "orders", "-e", "dev", "--auto-approve", "--var", "VERSIONN=2.4.0")
	if !strings.Contains(errOut, "variable VERSIONN is not declared") {
		t.Errorf("stderr lacks the warning:\n%s", errOut)
	}
}

// TestPlanColor: colour on a terminal only, never with --no-color.
func TestPlanColor(t *testing.T) {
	r := newPlanRepo(t)
	tests := []struct {
		name string
		tty  bool
		args []string
		want bool
	}{
		{"terminal", true, nil, true},
		{"terminal --no-color", true, []string{"--no-color"}, false},
		{"pipe", false, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := r.runTTY(tt.tty, r.env(), append([]string{"plan", "-s", "orders", "-e", "dev"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if got := strings.Contains(out, "\x1b["); got != tt.want {
				t.Errorf("colour = %v, want %v:\n%q", got, tt.want, out[:min(len(out), 200)])
			}
		})
	}
}

// TestDeployFlags: bounds of the flags every deploying command shares are
// usage errors before anything is read or locked (the config keys behind
// them have the same bounds).
func TestDeployFlags(t *testing.T) {
	r := newPlanRepo(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"apply negative parallelism", []string{"apply", "-s", "orders", "-e", "dev", "--auto-approve", "--parallelism", "-3"}, "--parallelism -3: give a positive number"},
		{"destroy negative parallelism", []string{"destroy", "-s", "orders", "-e", "dev", "--auto-approve", "--parallelism", "-1"}, "--parallelism -1"},
		{"rollback negative lock timeout", []string{"rollback", "-s", "orders", "-e", "dev", "--to-previous", "--lock-timeout", "-1s"}, `invalid argument "-1s" for "--lock-timeout" flag: negative; give seconds (90) or a number with a unit`},
		{"promote negative lock timeout", []string{"promote", "-s", "orders", "--from", "dev", "--to", "staging", "--lock-timeout", "-5m"}, `invalid argument "-5m" for "--lock-timeout" flag: negative`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := r.run(r.env(), tt.args...)
			if code != 1 || out != "" || !strings.Contains(errOut, tt.wantErr) || !strings.Contains(errOut, "Usage:") {
				t.Errorf("exit %d (want 1)\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
		})
	}
}

// TestPlanShowsWhatFailedRunsLeft: a failed apply created a Bucket its
// commit added, and the commit was reverted. apply plans that Bucket as
// deployed (the engine holds it) and refuses to delete it without
// --allow-destroy; plan compared with state.json alone and said "No
// changes" (exit 0 with --detailed-exitcode), so a pipeline that plans
// first never saw it, and a saved plan differed from what apply ran.
func TestPlanShowsWhatFailedRunsLeft(t *testing.T) {
	r := &planRepo{Repo: gittest.New(t), t: t}
	r.WriteFile("stacks/shop/stack.yaml", "apiVersion: core.panka.io/v1\nkind: Stack\nmetadata:\n  name: shop\nspec:\n  provider:\n    name: local\n")
	r.WriteFile("stacks/shop/environments/dev.yaml", "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nspec: {}\n")
	r.WriteFile("stacks/shop/infra/queue.yaml", "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: jobs\nspec: {}\n")
	r.Git("add", "-A")
	r.Commit("jobs")
	r.deploy("shop", "stacks/shop", "dev", 1, nil)

	// The failed run's record holds the spec it tried: jobs and files.
	r.WriteFile("stacks/shop/infra/files.yaml", "apiVersion: core.panka.io/v1\nkind: Bucket\nmetadata:\n  name: files\nspec: {}\n")
	st, err := stacks.Load(os.DirFS(r.Dir), "stacks/shop")
	if err != nil {
		t.Fatal(err)
	}
	tried, err := st.Resolve("dev", stacks.ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(r.Dir, "stacks/shop/infra/files.yaml")); err != nil {
		t.Fatal(err)
	}
	store, err := local.New(local.Options{Dir: filepath.Join(r.Dir, ".panka")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	prev, version, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	ok := *prev.LastDeployment
	if err := store.AppendHistory(ctx, key, &ok); err != nil {
		t.Fatal(err)
	}
	at := ok.EndedAt.Add(time.Hour)
	failed := &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: "d2", Serial: 2, Stack: "shop", Environment: "dev",
		Operation: statestore.OpApply, Commit: ok.Commit, User: "alice", Host: "laptop", PankaVersion: "test",
		StartedAt: at, EndedAt: at, Result: statestore.ResultFailed, Error: "boom", Spec: tried.Canonical()}
	if err := store.AppendHistory(ctx, key, failed); err != nil {
		t.Fatal(err)
	}
	next := *prev
	next.Serial, next.Status, next.LastSuccessful = 2, statestore.StatusFailed, &ok
	rec := *failed
	rec.Spec = nil
	next.LastDeployment = &rec
	if _, err := store.Put(ctx, key, &next, version); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := r.run(r.env(), "plan", "-s", "shop", "-e", "dev", "--detailed-exitcode")
	if code != ExitChanges || !strings.Contains(out, "- files (Bucket) will be deleted") || !strings.Contains(out, "DATA LOSS: files (Bucket)") {
		t.Fatalf("plan after a failed run that created files: exit %d\n%s\n%s", code, out, errOut)
	}
	if w := "shop/dev: files may exist although no successful deployment recorded them"; !strings.Contains(errOut, w) || !strings.Contains(errOut, "so apply deletes them") {
		t.Errorf("stderr lacks %q:\n%s", w, errOut)
	}
}

// TestPlanSecretKeyMissing: a plan run without the PULUMI_CONFIG_PASSPHRASE
// the deployments used (plan needs no Pulumi, so a CI plan job often lacks
// it) hashes the same secret value differently: every secret planned as
// changed, with nothing said. The plan now says why.
func TestPlanSecretKeyMissing(t *testing.T) {
	r := newPlanRepo(t)
	r.deploy("user-platform", "stacks/user-platform", "dev", 3, map[string]string{"SIGNING_KEY": "s3cret-one"})
	args := []string{"plan", "--stack", "user-platform", "--environment", "dev", "--var", "SIGNING_KEY=s3cret-one"}
	out, errOut, code := r.run(r.env(), args...)
	if code != 0 || strings.Contains(errOut, "PULUMI_CONFIG_PASSPHRASE") {
		t.Fatalf("with the passphrase: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = r.run([]string{"HOME=" + r.Dir + "/.home"}, args...)
	want := "Warning: user-platform/dev: its deployed secret values are hashed with a key derived from the Pulumi passphrase, which is not given here, so every secret plans as changed whether it changed or not: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)"
	if code != 0 || !strings.Contains(errOut, want) {
		t.Errorf("without the passphrase: exit %d, stderr lacks %q:\n%s%s", code, want, out, errOut)
	}
	if strings.Contains(out+errOut, "s3cret-one") {
		t.Errorf("the secret is printed:\n%s%s", out, errOut)
	}
}

// TestPlanSecretKeyFromPassphraseFile: PULUMI_CONFIG_PASSPHRASE_FILE, which
// Pulumi reads as well as PULUMI_CONFIG_PASSPHRASE, keys the secret hashes
// too. It was ignored: a CI job that keeps the passphrase in a file stored
// unkeyed SHA-256 hashes of its secrets in state.json, history and the
// local manifests (a short secret, a PIN, is guessed from it at once), and
// planned every secret as changed against a keyed deployment.
func TestPlanSecretKeyFromPassphraseFile(t *testing.T) {
	r := newPlanRepo(t)
	r.deploy("user-platform", "stacks/user-platform", "dev", 3, map[string]string{"SIGNING_KEY": "1234"})
	file := filepath.Join(t.TempDir(), "passphrase")
	// As Pulumi reads it: spaces and the newline around it trimmed.
	if err := os.WriteFile(file, []byte(planTestPassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + r.Dir + "/.home", "PULUMI_CONFIG_PASSPHRASE_FILE=" + file}
	args := []string{"plan", "--stack", "user-platform", "--environment", "dev", "--var", "SIGNING_KEY=1234"}
	out, errOut, code := r.run(env, append(args, "--detailed-exitcode")...)
	if code != 0 || !strings.Contains(out, "No changes") || errOut != "" {
		t.Errorf("with the passphrase in a file: exit %d\n%s%s", code, out, errOut)
	}
	// What a saved plan (and apply) records: keyed, never the unkeyed hash.
	planFile := filepath.Join(t.TempDir(), "plan.json")
	r.Write("stacks/user-platform/environments/dev.yaml", strings.Replace(r.read("stacks/user-platform/environments/dev.yaml"), "LOG_LEVEL: debug", "LOG_LEVEL: warn", 1))
	if _, errOut, code := r.run(env, append(args, "--out", planFile)...); code != 0 {
		t.Fatalf("plan --out: exit %d\n%s", code, errOut)
	}
	b, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	unkeyed := stacks.HashSensitive(nil, "SIGNING_KEY", "1234").Hash
	if strings.Contains(string(b), unkeyed) || !strings.Contains(string(b), "sensitive:hmac-sha256:") {
		t.Errorf("saved plan does not hold keyed hashes only:\n%s", b)
	}
	// A file that cannot be read is said, not silently unkeyed.
	env[1] = "PULUMI_CONFIG_PASSPHRASE_FILE=" + file + ".missing"
	_, errOut, _ = r.run(env, args...)
	if !strings.Contains(errOut, "Warning: PULUMI_CONFIG_PASSPHRASE_FILE: open "+file+".missing: no such file or directory: secret values are hashed without a key") {
		t.Errorf("unreadable passphrase file: %s", errOut)
	}
}

// TestPlanEmptyPassphraseWarns: PULUMI_CONFIG_PASSPHRASE set but empty,
// without PULUMI_CONFIG_PASSPHRASE_FILE, passes apply's check (Pulumi
// accepts the empty passphrase) and leaves the secret hashes unkeyed; that
// was said with -v only. A stack with secret values now warns once; unset
// (apply stops) or with a passphrase file, it does not.
func TestPlanEmptyPassphraseWarns(t *testing.T) {
	r := newPlanRepo(t)
	args := []string{"plan", "--stack", "user-platform", "--environment", "dev", "--var", "SIGNING_KEY=1234"}
	home := "HOME=" + r.Dir + "/.home"
	const warn = "Warning: user-platform/dev: PULUMI_CONFIG_PASSPHRASE is set but empty (and no PULUMI_CONFIG_PASSPHRASE_FILE is set), so Pulumi encrypts secrets with the empty passphrase and the hashes of secret values that state, history and manifests keep are unkeyed SHA-256"
	_, errOut, code := r.run([]string{home, "PULUMI_CONFIG_PASSPHRASE="}, args...)
	if code != 0 || strings.Count(errOut, warn) != 1 || strings.Contains(errOut, "1234") {
		t.Errorf("empty passphrase: exit %d, want one warning:\n%s", code, errOut)
	}
	_, errOut, _ = r.run([]string{home}, args...)
	if strings.Contains(errOut, "unkeyed") {
		t.Errorf("unset passphrase warns: %s", errOut)
	}
	file := filepath.Join(t.TempDir(), "passphrase")
	if err := os.WriteFile(file, []byte(planTestPassphrase), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, _ = r.run([]string{home, "PULUMI_CONFIG_PASSPHRASE=", "PULUMI_CONFIG_PASSPHRASE_FILE=" + file}, args...)
	if strings.Contains(errOut, "unkeyed") {
		t.Errorf("passphrase file warns: %s", errOut)
	}
}

// TestApplySavedPlanSecrets: apply PLANFILE needs every secret variable the
// plan was made with again. It named one at a time (give it, run again,
// be told of the next), and a value other than the planned one was refused
// as "the desired model changed since it was planned", which does not say
// that a secret is wrong, let alone which. Neither error shows a value.
func TestApplySavedPlanSecrets(t *testing.T) {
	r := newPlanRepo(t)
	r.Write("stacks/user-platform/stack.yaml", strings.Replace(r.read("stacks/user-platform/stack.yaml"), "  watch:\n",
		"    DB_TOKEN:\n      secret: true\n  watch:\n", 1))
	r.Write("stacks/user-platform/services/api/service.yaml", strings.Replace(r.read("stacks/user-platform/services/api/service.yaml"),
		"    SIGNING_KEY: ${SIGNING_KEY}\n", "    SIGNING_KEY: ${SIGNING_KEY}\n    DB_TOKEN: ${DB_TOKEN}\n", 1))
	r.Commit("a second secret")
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if _, errOut, code := r.run(r.env("PANKA_VAR_DB_TOKEN=t0ken-planned"), "plan", "--stack", "user-platform", "--environment", "dev",
		"--var", "SIGNING_KEY=s1gn-planned", "--out", planFile); code != 0 {
		t.Fatalf("plan --out: exit %d\n%s", code, errOut)
	}
	for _, tt := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"none given", nil, nil, planFile + " was planned with secret variables DB_TOKEN, SIGNING_KEY, which a saved plan records only as hashes: give them again: " +
			"--var DB_TOKEN=... (or PANKA_VAR_DB_TOKEN), --var SIGNING_KEY=... (or PANKA_VAR_SIGNING_KEY) (or in a --var-file)"},
		{"one given", []string{"PANKA_VAR_DB_TOKEN=t0ken-planned"}, nil, "was planned with secret variables SIGNING_KEY, which"},
		{"one differs", []string{"PANKA_VAR_DB_TOKEN=t0ken-other"}, []string{"--var", "SIGNING_KEY=s1gn-planned"},
			"the values given for secret variables DB_TOKEN are not the ones " + planFile + " was planned with (their hashes differ; the passphrase must also be the same)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := r.run(r.env(tt.env...), append([]string{"apply", planFile, "--auto-approve"}, tt.args...)...)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr lacks %q:\n%s%s", code, tt.want, out, errOut)
			}
			for _, v := range []string{"t0ken", "s1gn"} {
				if strings.Contains(out+errOut, v) {
					t.Errorf("a secret value is printed:\n%s%s", out, errOut)
				}
			}
		})
	}
}
