package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/statestore"
)

// fidelityBase extends the quickstart (web, shop-db, orders, assets) with a
// kind of each other sort, a variable with a default, a secret variable and
// an SSM reference, so every sort of edit has something to change.
var fidelityBase = map[string]string{
	"stacks/shop/stack.yaml": `apiVersion: core.panka.io/v1
kind: Stack
metadata:
  name: shop
spec:
  provider:
    name: local
  variables:
    WEB_IMAGE:
      default: ghcr.io/acme/shop-web:1.0.0
    GREETING:
      default: hello from dev
    LOG_LEVEL:
      default: info
    DB_PASSWORD:
      secret: true
      required: true
`,
	"stacks/shop/infra/extra.yaml": `apiVersion: core.panka.io/v1
kind: Worker
metadata:
  name: mailer
spec:
  image: busybox:1.36
  command: [mail, --loop]
  env:
    LOG_LEVEL: ${LOG_LEVEL}
    PASSWORD: ${DB_PASSWORD}
  secrets:
    TOKEN: /shop/token
---
apiVersion: core.panka.io/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "cron(0 3 * * ? *)"
  image: busybox:1.36
---
apiVersion: core.panka.io/v1
kind: Topic
metadata:
  name: events
spec:
  subscriptions:
    - queue: orders
`,
}

// fidelityCase is one edit of the deployed base stack: plan must say what
// the apply after it does.
type fidelityCase struct {
	name string
	env  string // "dev" when empty
	// edit changes the work tree; it is committed.
	edit func(t *testing.T, r *e2eRepo)
	// vars are the environment of the plan and apply after the edit
	// (the base is deployed with fidelitySecret).
	vars []string
	// flags go to the apply after the edit.
	flags []string
	// want is every component's action in the plan (no-op when absent).
	want map[string]planner.Action
	// dir is the local target's directory after the edit (default
	// .panka/local).
	dir string
	// providerChanged: the plan changes the deployment target (which
	// apply records, so plan --detailed-exitcode exits 2).
	providerChanged bool
	// records: the plan changes nothing deployed but what apply records
	// (labels, dependsOn, a reference written as its value, a provider
	// setting the target does not use), so plan --detailed-exitcode
	// exits 2: changed --since-deployed lists it until it is recorded.
	records bool
	// saved: the plan is saved (plan --out FILE) and applied from the
	// file (apply FILE), with the same variables given again.
	saved bool
	// targets go to plan and apply as --target-component.
	targets []string
}

var fidelitySecret = []string{"PANKA_VAR_DB_PASSWORD=s3cret"}

// TestPlanSaysWhatApplyDoes: for each edit of a deployed stack, the plan
// (plan -o json) is the one apply shows, each component's action in it is
// what the engine then does to it (its resource operations), the summary
// counts what the engine's own summary counts (the local target makes one
// resource a component), the manifests and state.json hold the planned
// values, and a plan right after says there is nothing to change
// (--detailed-exitcode 0).
func TestPlanSaysWhatApplyDoes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const (
		create  = planner.ActionCreate
		update  = planner.ActionUpdate
		replace = planner.ActionReplace
		del     = planner.ActionDelete
	)
	cases := []fidelityCase{
		{
			name: "add a component",
			edit: func(t *testing.T, r *e2eRepo) {
				r.write("stacks/shop/infra/cache.yaml", "apiVersion: core.panka.io/v1\nkind: Cache\nmetadata:\n  name: sessions\nspec:\n  engine: redis\n")
			},
			want: map[string]planner.Action{"sessions": create},
		},
		{
			name: "remove a component",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`(?s)---\napiVersion: core.panka.io/v1\nkind: CronJob.*?---\n`), "---\n")
			},
			want: map[string]planner.Action{"nightly": del},
		},
		{
			name: "remove a data component and its reader's reference",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/infra/data.yaml", regexp.MustCompile(`(?s)---\napiVersion: core.panka.io/v1\nkind: Bucket.*`), "")
				r.replaceIn("stacks/shop/services/web/service.yaml", regexp.MustCompile(`\n    ASSETS_BUCKET: .*`), "")
			},
			flags: []string{"--allow-destroy"},
			saved: true,
			want:  map[string]planner.Action{"assets": del, "web": update},
		},
		{
			name: "a field that updates in place",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/services/web/service.yaml", regexp.MustCompile(`replicas: 1`), "replicas: 2\n  cpu: 512\n  memory: 1024")
			},
			want: map[string]planner.Action{"web": update},
		},
		{
			name: "a field that forces a replacement",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/infra/data.yaml", regexp.MustCompile(`  deadLetter:`), "  fifo: true\n  deadLetter:")
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`  subscriptions:`), "  fifo: true\n  subscriptions:")
			},
			flags: []string{"--allow-replace"},
			saved: true,
			// web reads the queue's url, which the re-created queue
			// keeps on the local target, and no field of a MicroService
			// forces its replacement there (its port replaces only a
			// load-balanced one's target group, on aws).
			want: map[string]planner.Action{"orders": replace, "events": replace},
		},
		{
			name: "a database engine change",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/infra/data.yaml", regexp.MustCompile(`engine: postgres`), "engine: mysql")
			},
			flags: []string{"--allow-replace"},
			// web reads the endpoint, whose port changes with the engine.
			want: map[string]planner.Action{"shop-db": replace, "web": update},
		},
		{
			name: "rename a component",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`name: mailer`), "name: postman")
			},
			want: map[string]planner.Action{"postman": create, "mailer": del},
		},
		{
			name: "rename a data component and its references",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/infra/data.yaml", regexp.MustCompile(`name: orders`), "name: jobs")
				r.replaceIn("stacks/shop/services/web/service.yaml", regexp.MustCompile(`orders\.url`), "jobs.url")
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`queue: orders`), "queue: jobs")
			},
			flags: []string{"--allow-destroy"},
			want:  map[string]planner.Action{"jobs": create, "orders": del, "web": update, "events": update},
		},
		{
			name: "a variable default the environment uses",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/stack.yaml", regexp.MustCompile(`default: hello from dev`), "default: hello again")
			},
			want: map[string]planner.Action{"web": update},
		},
		{
			name: "a variable default the environment overrides",
			env:  "production",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/stack.yaml", regexp.MustCompile(`default: hello from dev`), "default: hello again")
			},
			want: map[string]planner.Action{},
		},
		{
			name: "an override in the environment file",
			env:  "production",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/environments/production.yaml", regexp.MustCompile(`replicas: 3`), "replicas: 4")
				r.replaceIn("stacks/shop/environments/production.yaml", regexp.MustCompile(`multiAZ: true`), "multiAZ: false")
			},
			want: map[string]planner.Action{"web": update, "shop-db": update},
		},
		{
			name: "comments, whitespace and key order only",
			edit: func(t *testing.T, r *e2eRepo) {
				r.write("stacks/shop/services/web/service.yaml", `# the web front end
apiVersion: core.panka.io/v1
kind: Service
metadata: {name: web}
spec:
  owner:   shop-team   # who to call
---
kind: MicroService
apiVersion: core.panka.io/v1
metadata:
  name: web
spec:
  healthCheck:
    path: /health


  env:
    ASSETS_BUCKET: ${assets.name}
    ORDERS_QUEUE: ${orders.url}
    DATABASE_URL: ${shop-db.endpoint}
    GREETING: ${GREETING}
  replicas: 1
  port: 8080
  image: ${WEB_IMAGE}
`)
			},
			saved: true,
			want:  map[string]planner.Action{},
		},
		{
			name: "a reference written as its value",
			edit: func(t *testing.T, r *e2eRepo) {
				// The value orders.url has: the engine gets the same
				// input. The plan lists it on a no-op, and apply records
				// it (running the engine, which records that web no
				// longer depends on orders).
				r.replaceIn("stacks/shop/services/web/service.yaml", regexp.MustCompile(`\$\{orders\.url\}`), "local://shop/dev/orders")
			},
			saved:   true,
			want:    map[string]planner.Action{},
			records: true,
		},
		{
			name: "an env var added",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/services/web/service.yaml", regexp.MustCompile(`  env:\n`), "  env:\n    LOG_LEVEL: ${LOG_LEVEL}\n")
			},
			want: map[string]planner.Action{"web": update},
		},
		{
			name:  "a --var for a variable with a default",
			edit:  func(t *testing.T, r *e2eRepo) {},
			vars:  []string{"PANKA_VAR_DB_PASSWORD=s3cret", "PANKA_VAR_LOG_LEVEL=debug"},
			saved: true,
			want:  map[string]planner.Action{"mailer": update},
		},
		{
			name:  "a secret value changed",
			edit:  func(t *testing.T, r *e2eRepo) {},
			vars:  []string{"PANKA_VAR_DB_PASSWORD=n3w-s3cret"},
			saved: true,
			want:  map[string]planner.Action{"mailer": update},
		},
		{
			name: "an SSM reference changed",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`/shop/token`), "/shop/token-v2")
			},
			want: map[string]planner.Action{"mailer": update},
		},
		{
			name: "the local target's directory",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/stack.yaml", regexp.MustCompile(`name: local\n`), "name: local\n    directory: out\n")
			},
			dir:             "out",
			providerChanged: true,
			want: map[string]planner.Action{
				"web": update, "shop-db": update, "orders": update, "assets": update,
				"mailer": update, "nightly": update, "events": update,
			},
		},
		{
			name: "a region on the local target",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/stack.yaml", regexp.MustCompile(`name: local\n`), "name: local\n    region: eu-west-1\n")
			},
			// The local target uses no region: as a label, the plan
			// lists it and has no changes; apply records it (exit 2).
			want:    map[string]planner.Action{},
			records: true,
		},
		{
			name: "dependsOn only",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`  schedule:`), "  dependsOn: [orders]\n  schedule:")
			},
			saved:   true,
			want:    map[string]planner.Action{},
			records: true,
		},
		{
			name: "labels only",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`  name: nightly\n`), "  name: nightly\n  labels: {team: shop}\n")
			},
			want:    map[string]planner.Action{},
			records: true,
		},
		{
			name: "an env var removed",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/services/web/service.yaml", regexp.MustCompile(`\n    GREETING: .*`), "")
			},
			saved: true,
			want:  map[string]planner.Action{"web": update},
		},
		{
			name: "a topic subscription added",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`    - queue: orders\n`),
					"    - queue: orders\n    - {protocol: https, endpoint: \"https://hooks.example.com/orders\"}\n")
			},
			saved: true,
			want:  map[string]planner.Action{"events": update},
		},
		{
			name: "a data component's kind",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/infra/data.yaml", regexp.MustCompile(`kind: Bucket\nmetadata:\n  name: assets\nspec:\n  versioning: true`),
					"kind: Queue\nmetadata:\n  name: assets\nspec: {}")
			},
			flags: []string{"--allow-replace"},
			saved: true,
			// Queue's fifo is new (false), and forces the replacement;
			// web reads assets.name, which the local target keeps (a
			// Queue's name is the Bucket's): web does not change.
			want: map[string]planner.Action{"assets": replace},
		},
		{
			name: "only some components (--target-component)",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/services/web/service.yaml", regexp.MustCompile(`replicas: 1`), "replicas: 2")
				r.replaceIn("stacks/shop/infra/data.yaml", regexp.MustCompile(`versioning: true`), "versioning: false")
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`busybox:1.36`), "busybox:1.37")
			},
			targets: []string{"web", "mailer"},
			want:    map[string]planner.Action{"web": update, "mailer": update},
		},
		{
			name: "only some components, from a saved plan",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/services/web/service.yaml", regexp.MustCompile(`replicas: 1`), "replicas: 2")
				r.replaceIn("stacks/shop/infra/data.yaml", regexp.MustCompile(`versioning: true`), "versioning: false")
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`busybox:1.36`), "busybox:1.37")
			},
			targets: []string{"mailer", "web"},
			saved:   true,
			want:    map[string]planner.Action{"web": update, "mailer": update},
		},
		{
			name: "a removed component targeted, from a saved plan",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`(?s)---\napiVersion: core.panka.io/v1\nkind: CronJob.*?---\n`), "---\n")
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`busybox:1.36`), "busybox:1.37")
				r.replaceIn("stacks/shop/services/web/service.yaml", regexp.MustCompile(`replicas: 1`), "replicas: 2")
			},
			targets: []string{"nightly", "mailer"},
			saved:   true,
			want:    map[string]planner.Action{"nightly": del, "mailer": update},
		},
		{
			name: "a kind change",
			edit: func(t *testing.T, r *e2eRepo) {
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`(?s)kind: Worker\nmetadata:\n  name: mailer\nspec:.*?---\n`),
					"kind: Topic\nmetadata:\n  name: mailer\nspec: {}\n---\n")
			},
			want: map[string]planner.Action{"mailer": replace},
		},
		{
			name: "a kind change alone",
			edit: func(t *testing.T, r *e2eRepo) {
				// No field of a MicroService forces a replacement on the
				// local target, and the spec stays: the kind alone does
				// (the pankalocal provider re-creates the component, as
				// another kind is other resources on aws).
				r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`kind: Worker\n`), "kind: MicroService\n")
			},
			want: map[string]planner.Action{"mailer": replace},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { planMatchesApply(t, tc) })
	}
}

// planMatchesApply deploys the base, makes tc's edit and checks the plan of
// it against the apply that follows.
func planMatchesApply(t *testing.T, tc fidelityCase) {
	env := tc.env
	if env == "" {
		env = "dev"
	}
	key := statestore.Key{Stack: "shop", Environment: env}
	sel := []string{"--stack", "shop", "--environment", env}
	r := newE2ERepo(t, embedded)
	for name, body := range fidelityBase {
		r.write(name, body)
	}
	r.git("add", "-A")
	r.git("commit", "-qm", "base")
	r.mustPanka(fidelitySecret, append([]string{"apply", "--auto-approve"}, sel...)...)

	tc.edit(t, r)
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", tc.name)
	vars := tc.vars
	if vars == nil {
		vars = fidelitySecret
	}

	base := slices.Clone(sel)
	for _, c := range tc.targets {
		sel = append(sel, "--target-component", c)
	}
	planArgs := append([]string{"plan", "-o", "json", "--detailed-exitcode"}, sel...)
	applyArgs := append([]string{"apply", "--auto-approve", "-o", "json"}, sel...)
	if tc.saved {
		file := filepath.Join(t.TempDir(), "saved.plan")
		planArgs = append(planArgs, "--out", file)
		applyArgs = []string{"apply", file, "--auto-approve", "-o", "json"}
	}
	planOut, planErr, code := r.panka(vars, planArgs...)
	var plan planner.Result
	if err := json.Unmarshal([]byte(planOut), &plan); err != nil {
		t.Fatalf("plan: exit %d, %v\nstdout:\n%s\nstderr:\n%s", code, err, planOut, planErr)
	}
	got := map[string]planner.Action{}
	for _, c := range plan.Changes {
		if c.Action != planner.ActionNoOp {
			got[c.Component] = c.Action
		}
	}
	if !reflect.DeepEqual(got, tc.want) {
		t.Errorf("plan actions = %v, want %v\n%s", got, tc.want, planErr)
	}
	if plan.Summary.ProviderChanged != tc.providerChanged {
		t.Errorf("plan: providerChanged %v, want %v", plan.Summary.ProviderChanged, tc.providerChanged)
	}
	if wantCode := map[bool]int{true: 2, false: 0}[len(tc.want) > 0 || tc.providerChanged || tc.records]; code != wantCode {
		t.Errorf("plan --detailed-exitcode exited %d, want %d\nstderr:\n%s", code, wantCode, planErr)
	}

	dir := tc.dir
	if dir == "" {
		dir = ".panka/local"
	}
	runDoesPlan(t, r, key, &plan, vars, append(applyArgs, tc.flags...), r.git("rev-parse", "HEAD"), dir)

	// Nothing left to do (to the targets the apply did not delete: they
	// are no component any more).
	for _, c := range tc.targets {
		if got[c] != planner.ActionDelete {
			base = append(base, "--target-component", c)
		}
	}
	again, againErr, code := r.panka(vars, append([]string{"plan", "--detailed-exitcode"}, base...)...)
	if code != 0 || !strings.Contains(again, "No changes") {
		t.Errorf("plan after apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, again, againErr)
	}
}

// runDoesPlan runs args (an apply, rollback or promote of key with -o
// json and --auto-approve) and checks it against plan, the plan panka
// showed before it: the run shows the same plan, the engine does to each
// component what the plan says (its resource operations) and counts it
// alike (the local target makes one resource a component), state.json
// records the commit and the planned components, and the manifests under
// dir (the local target's directory) hold the planned values.
func runDoesPlan(t *testing.T, r *e2eRepo, key statestore.Key, plan *planner.Result, vars, args []string, commit, dir string) {
	t.Helper()
	got := map[string]planner.Action{}
	for _, c := range plan.Changes {
		if c.Action != planner.ActionNoOp {
			got[c.Component] = c.Action
		}
	}
	before, _, err := r.store().Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	runOut, runErr, code := r.panka(vars, args...)
	if code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", args[0], code, runOut, runErr)
	}
	var ran struct {
		Plan       planner.Result        `json:"plan"`
		Deployment statestore.Deployment `json:"deployment"`
	}
	if err := json.Unmarshal([]byte(runOut), &ran); err != nil {
		t.Fatalf("%s -o json: %v\n%s", args[0], err, runOut)
	}
	// What the run showed (and did) is what plan showed.
	if !reflect.DeepEqual(ran.Plan.Changes, plan.Changes) || !reflect.DeepEqual(ran.Plan.Summary, plan.Summary) ||
		!reflect.DeepEqual(ran.Plan.Provider, plan.Provider) {
		t.Errorf("%s planned otherwise than plan:\nplan:  %+v %+v\n%s: %+v %+v", args[0], plan.Summary, plan.Changes, args[0], ran.Plan.Summary, ran.Plan.Changes)
	}

	// What the engine did to each component.
	did := engineActions(runErr)
	if !reflect.DeepEqual(did, got) {
		t.Errorf("the engine did %v, the plan said %v\nstderr:\n%s", did, got, runErr)
	}
	if ch := ran.Deployment.Changes; ran.Deployment.ChangesFrom == statestore.ChangesFromEngine && ch != nil {
		s := plan.Summary
		if ch.Create != s.Create || ch.Update != s.Update || ch.Replace != s.Replace || ch.Delete != s.Delete {
			t.Errorf("the engine's summary %+v, the plan's %+v", *ch, s)
		}
	} else if len(got) > 0 {
		t.Errorf("a plan with changes recorded changes %+v from %q, not the engine's", ch, ran.Deployment.ChangesFrom)
	}

	// The state and the manifests hold what was planned.
	after, _, err := r.store().Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if after.Serial != before.Serial+1 || after.LastDeployment == nil || after.LastDeployment.Commit != commit {
		t.Errorf("state after %s: serial %d (was %d), last deployment %+v, want commit %s", args[0], after.Serial, before.Serial, after.LastDeployment, commit)
	}
	var spec struct {
		Components []struct {
			Name string `json:"name"`
		} `json:"components"`
	}
	if err := json.Unmarshal(after.Spec, &spec); err != nil {
		t.Fatal(err)
	}
	var inState, planned []string
	for _, c := range spec.Components {
		inState = append(inState, c.Name)
	}
	for _, c := range plan.Changes {
		if c.Action != planner.ActionDelete {
			planned = append(planned, c.Component)
		}
	}
	sort.Strings(inState)
	sort.Strings(planned)
	if !reflect.DeepEqual(inState, planned) {
		t.Errorf("state.json holds %v, the plan desired %v", inState, planned)
	}
	checkManifests(t, filepath.Join(r.dir, dir, key.Stack, key.Environment), plan.Changes)
}

// doneOp is a progress line of a resource operation that finished.
var doneOp = regexp.MustCompile(`(?m)^  (\S+): (\S+) done in `)

// engineActions reads from apply's progress on stderr what the engine did
// to each component: the plan's action its resource operations amount to.
func engineActions(stderr string) map[string]planner.Action {
	out := map[string]planner.Action{}
	for _, m := range doneOp.FindAllStringSubmatch(stderr, -1) {
		a := planner.Action(m[2])
		switch m[2] {
		case "replace", "create-replacement", "delete-replaced":
			a = planner.ActionReplace
		}
		if prev, ok := out[m[1]]; ok && prev != a {
			a = planner.ActionReplace
		}
		out[m[1]] = a
	}
	return out
}

// checkManifests checks the local target's manifests in dir against a
// plan's changes: a deleted component has none, every other one has its
// kind and, for each planned spec field with a value written in the YAML
// (not a reference, not a secret), that value.
func checkManifests(t *testing.T, dir string, changes []planner.Change) {
	t.Helper()
	for _, c := range changes {
		b, err := os.ReadFile(filepath.Join(dir, c.Component+".json"))
		if c.Action == planner.ActionDelete {
			if err == nil {
				t.Errorf("%s is deleted, but its manifest is still there", c.Component)
			}
			continue
		}
		if err != nil {
			t.Errorf("manifest of %s: %v", c.Component, err)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("manifest of %s: %v", c.Component, err)
		}
		if m["kind"] != string(c.Kind) {
			t.Errorf("manifest of %s has kind %v, the plan %s", c.Component, m["kind"], c.Kind)
		}
		for _, f := range c.Fields {
			if f.Sensitive || !strings.HasPrefix(f.Path, "spec.") {
				continue
			}
			if s, ok := f.After.(string); ok && strings.Contains(s, "${") {
				continue
			}
			v, found := lookupPath(m, f.Path)
			if f.After == nil {
				if found {
					t.Errorf("manifest of %s: %s is %v, the plan removed it", c.Component, f.Path, v)
				}
				continue
			}
			if !found || !reflect.DeepEqual(v, f.After) {
				t.Errorf("manifest of %s: %s is %v (found %v), the plan said %v", c.Component, f.Path, v, found, f.After)
			}
		}
	}
}

// pathPart splits a plan field path (spec.env.LOG_LEVEL, spec.command[2],
// spec.env["a.b"]) into its steps.
var pathPart = regexp.MustCompile(`\.?([A-Za-z0-9_-]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]`)

func lookupPath(v any, p string) (any, bool) {
	for _, m := range pathPart.FindAllStringSubmatch(p, -1) {
		switch {
		case m[2] != "":
			l, ok := v.([]any)
			i, _ := strconv.Atoi(m[2])
			if !ok || i >= len(l) {
				return nil, false
			}
			v = l[i]
		default:
			k := m[1]
			if m[3] != "" {
				k, _ = strconv.Unquote(`"` + m[3] + `"`)
			}
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = obj[k]; !ok {
				return nil, false
			}
		}
	}
	return v, true
}

// write writes a file of the work tree (repo-relative name).
func (r *e2eRepo) write(name, body string) {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// replaceIn replaces every match of re in a work tree file, failing the
// test when there is none (an edit that changes nothing tests nothing).
func (r *e2eRepo) replaceIn(name string, re *regexp.Regexp, with string) {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		r.t.Fatal(err)
	}
	if !re.Match(b) {
		r.t.Fatalf("%s: no match for %s", name, re)
	}
	r.write(name, re.ReplaceAllLiteralString(string(b), with))
}

// TestPlanAfterAFailedApply: after an apply that failed part way, the plan
// compares with the last successful deployment, so it lists changes the
// failed run made already; the engine then made only the rest, and the
// plan said nothing of it ("2 to update, 1 to create", then "1 updated").
// The plan (and the apply) name the components the failed run changed:
// the plan's changes without those are what the engine does.
func TestPlanAfterAFailedApply(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	forEachBackend(t, planAfterAFailedApply)
}

func planAfterAFailedApply(t *testing.T, b backend) {
	r := newE2ERepo(t, b)
	r.mustPanka(nil, applyDev...)
	r.write("stacks/shop/infra/cache.yaml", "apiVersion: core.panka.io/v1\nkind: Cache\nmetadata:\n  name: sessions\nspec:\n  engine: redis\n")
	// web reads sessions and assets: the engine gets to it last.
	r.replaceIn("stacks/shop/services/web/service.yaml", regexp.MustCompile(`replicas: 1\n  env:\n`), "replicas: 2\n  env:\n    SESSIONS: ${sessions.endpoint}\n")
	r.replaceIn("stacks/shop/infra/data.yaml", regexp.MustCompile(`versioning: true`), "versioning: false")
	r.git("add", "-A")
	r.git("commit", "-qm", "sessions, two replicas, no versioning")
	if out, errOut, code := r.panka([]string{"PANKALOCAL_FAIL_COMPONENT=web"}, applyDev...); code == 0 {
		t.Fatalf("apply with web failing succeeded:\n%s\n%s", out, errOut)
	}

	planOut, planErr, code := r.panka(nil, "plan", "--stack", "shop", "--environment", "dev", "-o", "json", "--detailed-exitcode")
	var plan planner.Result
	if err := json.Unmarshal([]byte(planOut), &plan); err != nil || code != 2 {
		t.Fatalf("plan: exit %d, %v\n%s\n%s", code, err, planOut, planErr)
	}
	const said = "changed (or was changing) assets, sessions in the engine before it stopped"
	if !strings.Contains(planErr, said) {
		t.Errorf("plan does not say what the failed run changed (%q):\n%s", said, planErr)
	}
	applyOut, applyErr, code := r.panka(nil, append(applyDev, "-o", "json")...)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, applyOut, applyErr)
	}
	if !strings.Contains(applyErr, said) {
		t.Errorf("apply does not say what the failed run changed (%q):\n%s", said, applyErr)
	}
	left := map[string]planner.Action{}
	for _, c := range plan.Changes {
		if c.Action != planner.ActionNoOp && c.Component != "assets" && c.Component != "sessions" {
			left[c.Component] = c.Action
		}
	}
	if did := engineActions(applyErr); !reflect.DeepEqual(did, left) || !reflect.DeepEqual(left, map[string]planner.Action{"web": planner.ActionUpdate}) {
		t.Errorf("the engine did %v; the plan, without what the failed run did, %v\n%s", did, left, applyErr)
	}
	// The plan's summary counts every change to the recorded deployment,
	// those the failed run made too (sessions created, assets and web
	// updated), and so does the plan apply shows; the deployment records
	// what the engine did.
	var applied struct {
		Plan       planner.Result        `json:"plan"`
		Deployment statestore.Deployment `json:"deployment"`
		DoneBefore []string              `json:"doneBefore"`
	}
	if err := json.Unmarshal([]byte(applyOut), &applied); err != nil {
		t.Fatalf("apply -o json: %v\n%s", err, applyOut)
	}
	// Both name them in JSON: the plan those the failed run changed, the
	// apply those its engine then left alone (its summary line leaves
	// them out).
	if want := []string{"assets", "sessions"}; !reflect.DeepEqual(plan.DoneByFailedRuns, want) || !reflect.DeepEqual(applied.Plan.DoneByFailedRuns, want) ||
		!reflect.DeepEqual(applied.DoneBefore, want) {
		t.Errorf("doneByFailedRuns: plan %v, apply's plan %v; apply's doneBefore %v; want %v", plan.DoneByFailedRuns, applied.Plan.DoneByFailedRuns, applied.DoneBefore, want)
	}
	if s := plan.Summary; s.Create != 1 || s.Update != 2 || s.Replace != 0 || s.Delete != 0 {
		t.Errorf("plan summary %+v, want 1 to create, 2 to update", s)
	}
	if !reflect.DeepEqual(applied.Plan.Summary, plan.Summary) {
		t.Errorf("apply's plan summary %+v, plan's %+v", applied.Plan.Summary, plan.Summary)
	}
	if ch := applied.Deployment.Changes; applied.Deployment.ChangesFrom != statestore.ChangesFromEngine || ch == nil ||
		*ch != (statestore.ChangeSummary{Update: 1}) {
		t.Errorf("the deployment recorded changes %+v from %q, want the engine's: 1 updated", ch, applied.Deployment.ChangesFrom)
	}
	// ... and, beside it, the plan's counts, in components: what the
	// summary line says first.
	if pc := applied.Deployment.PlannedChanges; pc == nil || *pc != (statestore.ChangeSummary{Create: 1, Update: 2}) {
		t.Errorf("the deployment recorded plannedChanges %+v, want the plan's: 1 created, 2 updated", pc)
	}
	if again, againErr, code := r.panka(nil, "plan", "--stack", "shop", "--environment", "dev", "--detailed-exitcode"); code != 0 {
		t.Errorf("plan after apply: exit %d\n%s\n%s", code, again, againErr)
	} else if strings.Contains(againErr, "before it stopped") {
		t.Errorf("plan after a successful apply still speaks of the failed run:\n%s", againErr)
	}
}

// TestPlanAfterAFailedDestroy: a destroy that failed part way deleted some
// components; the plan after it compares with the last successful
// deployment, so it showed them kept ("1 to update") while the apply
// after it created three, without a word. The plan and the apply name
// the components the destroy deleted and say apply creates them again;
// a plan saved before the destroy is refused as stale, naming it.
func TestPlanAfterAFailedDestroy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	forEachBackend(t, planAfterAFailedDestroy)
}

func planAfterAFailedDestroy(t *testing.T, b backend) {
	r := newE2ERepo(t, b)
	r.mustPanka(nil, applyDev...)
	r.replaceIn("stacks/shop/services/web/service.yaml", regexp.MustCompile(`replicas: 1`), "replicas: 2")
	r.git("add", "-A")
	r.git("commit", "-qm", "two replicas")
	saved := filepath.Join(t.TempDir(), "before.plan")
	r.mustPanka(nil, "plan", "--stack", "shop", "--environment", "dev", "--out", saved)

	// A folder where the assets manifest was: its delete fails, after the
	// destroy deleted web (it reads assets) and the others beside it.
	manifest := filepath.Join(r.dir, ".panka/local/shop/dev/assets.json")
	body, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(manifest); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(manifest, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := r.panka(nil, "destroy", "--stack", "shop", "--environment", "dev", "--auto-approve", "--allow-destroy"); code == 0 {
		t.Fatalf("destroy with assets undeletable succeeded:\n%s\n%s", out, errOut)
	}
	if err := os.RemoveAll(manifest); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, body, 0o644); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := r.panka(nil, "apply", saved, "--auto-approve")
	if code == 0 || !strings.Contains(errOut, "saved plan for shop/dev is stale") || !strings.Contains(errOut, "(destroy of commit") {
		t.Errorf("apply of a plan saved before the failed destroy: exit %d, want it refused as stale, naming the destroy\n%s\n%s", code, out, errOut)
	}

	planOut, planErr, code := r.panka(nil, "plan", "--stack", "shop", "--environment", "dev", "-o", "json", "--detailed-exitcode")
	var plan planner.Result
	if err := json.Unmarshal([]byte(planOut), &plan); err != nil || code != 2 {
		t.Fatalf("plan: exit %d, %v\n%s\n%s", code, err, planOut, planErr)
	}
	const said = "destroy of commit"
	const gone = "deleted orders, shop-db, web before it stopped"
	if !strings.Contains(planErr, gone) || !strings.Contains(planErr, said) || !strings.Contains(planErr, "but apply creates them again") {
		t.Errorf("plan does not say what the failed destroy deleted (%q):\n%s", gone, planErr)
	}
	applyOut, applyErr, code := r.panka(nil, append(applyDev, "-o", "json")...)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, applyOut, applyErr)
	}
	if !strings.Contains(applyErr, gone) || !strings.Contains(applyErr, "but this apply creates them again") {
		t.Errorf("apply does not say what the failed destroy deleted (%q):\n%s", gone, applyErr)
	}
	// The plan's changes, with what the destroy deleted created again,
	// are what the engine did.
	want := map[string]planner.Action{"orders": planner.ActionCreate, "shop-db": planner.ActionCreate, "web": planner.ActionCreate}
	for _, c := range plan.Changes {
		if _, ok := want[c.Component]; !ok && c.Action != planner.ActionNoOp {
			want[c.Component] = c.Action
		}
	}
	if did := engineActions(applyErr); !reflect.DeepEqual(did, want) {
		t.Errorf("the engine did %v; the plan, with what the destroy deleted created again, %v\n%s", did, want, applyErr)
	}
	checkManifests(t, filepath.Join(r.dir, ".panka/local/shop/dev"), plan.Changes)
	if again, againErr, code := r.panka(nil, "plan", "--stack", "shop", "--environment", "dev", "--detailed-exitcode"); code != 0 {
		t.Errorf("plan after apply: exit %d\n%s\n%s", code, again, againErr)
	} else if strings.Contains(againErr, "before it stopped") {
		t.Errorf("plan after a successful apply still speaks of the failed run:\n%s", againErr)
	}
}

// fidelityEdits change the deployed base in every way at once: a field
// updated in place, a component added (a data-holding one) and one
// removed, fields that force replacements (a Queue's and its Topic's
// fifo) and a kind change.
func fidelityEdits(r *e2eRepo) {
	r.replaceIn("stacks/shop/services/web/service.yaml", regexp.MustCompile(`  env:\n`), "  env:\n    LOG_LEVEL: ${LOG_LEVEL}\n")
	r.write("stacks/shop/infra/cache.yaml", "apiVersion: core.panka.io/v1\nkind: Cache\nmetadata:\n  name: sessions\nspec:\n  engine: redis\n")
	r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`(?s)---\napiVersion: core.panka.io/v1\nkind: CronJob.*?---\n`), "---\n")
	r.replaceIn("stacks/shop/infra/data.yaml", regexp.MustCompile(`  deadLetter:`), "  fifo: true\n  deadLetter:")
	r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`  subscriptions:`), "  fifo: true\n  subscriptions:")
	r.replaceIn("stacks/shop/infra/extra.yaml", regexp.MustCompile(`kind: Worker\n`), "kind: MicroService\n")
}

// TestRollbackAndPromoteSayWhatTheyDo: rollback (--to-commit,
// --to-previous) and promote show the plan of the commit they deploy (what plan --ref shows for it),
// and the engine does what that plan says, as TestPlanSaysWhatApplyDoes
// checks for apply.
func TestRollbackAndPromoteSayWhatTheyDo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	allow := []string{"--allow-replace", "--allow-destroy"}
	// Deploys the base to each of envs as commit "base", then the edits
	// to dev as commit "edits"; returns both commits.
	setup := func(t *testing.T, envs ...string) (*e2eRepo, string, string) {
		r := newE2ERepo(t, embedded)
		for name, body := range fidelityBase {
			r.write(name, body)
		}
		r.git("add", "-A")
		r.git("commit", "-qm", "base")
		base := r.git("rev-parse", "HEAD")
		for _, env := range envs {
			r.mustPanka(fidelitySecret, "apply", "--auto-approve", "--stack", "shop", "--environment", env)
		}
		fidelityEdits(r)
		r.git("add", "-A")
		r.git("commit", "-qm", "edits")
		r.mustPanka(fidelitySecret, append([]string{"apply", "--auto-approve", "--stack", "shop", "--environment", "dev"}, allow...)...)
		return r, base, r.git("rev-parse", "HEAD")
	}
	planOf := func(t *testing.T, r *e2eRepo, env, ref string) planner.Result {
		out, errOut, code := r.panka(fidelitySecret, "plan", "-o", "json", "--detailed-exitcode", "--stack", "shop", "--environment", env, "--ref", ref)
		var p planner.Result
		if err := json.Unmarshal([]byte(out), &p); err != nil || code != 2 {
			t.Fatalf("plan --ref %s: exit %d, %v\n%s\n%s", ref, code, err, out, errOut)
		}
		return p
	}
	actions := func(p planner.Result) map[string]planner.Action {
		got := map[string]planner.Action{}
		for _, c := range p.Changes {
			if c.Action != planner.ActionNoOp {
				got[c.Component] = c.Action
			}
		}
		return got
	}
	const (
		create  = planner.ActionCreate
		update  = planner.ActionUpdate
		replace = planner.ActionReplace
		del     = planner.ActionDelete
	)

	for _, to := range []string{"--to-commit", "--to-previous"} {
		t.Run("rollback "+to, func(t *testing.T) {
			r, base, _ := setup(t, "dev")
			plan := planOf(t, r, "dev", base)
			want := map[string]planner.Action{"web": update, "sessions": del, "nightly": create, "orders": replace, "events": replace, "mailer": replace}
			if got := actions(plan); !reflect.DeepEqual(got, want) {
				t.Errorf("plan --ref base: %v, want %v", got, want)
			}
			args := []string{"rollback", "--stack", "shop", "--environment", "dev", to}
			if to == "--to-commit" {
				args = append(args, base)
			}
			runDoesPlan(t, r, shopDev, &plan, fidelitySecret, append(append(args, "--auto-approve", "-o", "json"), allow...), base, ".panka/local")
			if out, errOut, code := r.panka(fidelitySecret, "plan", "--detailed-exitcode", "--stack", "shop", "--environment", "dev", "--ref", base); code != 0 {
				t.Errorf("plan --ref base after the rollback: exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
	t.Run("promote", func(t *testing.T) {
		r, _, edits := setup(t, "dev", "production")
		plan := planOf(t, r, "production", edits)
		want := map[string]planner.Action{"web": update, "sessions": create, "nightly": del, "orders": replace, "events": replace, "mailer": replace}
		if got := actions(plan); !reflect.DeepEqual(got, want) {
			t.Errorf("plan --ref edits of production: %v, want %v", got, want)
		}
		runDoesPlan(t, r, statestore.Key{Stack: "shop", Environment: "production"}, &plan, fidelitySecret,
			append([]string{"promote", "--stack", "shop", "--from", "dev", "--to", "production", "--auto-approve", "-o", "json"}, allow...),
			edits, ".panka/local")
		if out, errOut, code := r.panka(fidelitySecret, "plan", "--detailed-exitcode", "--stack", "shop", "--environment", "production"); code != 0 {
			t.Errorf("plan of production after the promote: exit %d\n%s\n%s", code, out, errOut)
		}
	})
}
