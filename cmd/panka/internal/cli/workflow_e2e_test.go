package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"panka.dev/panka/deployer/engine/enginetest"
	"panka.dev/panka/deployer/pulumirun/pulumitest"
	"panka.dev/panka/gitops/gittest"
	"panka.dev/panka/locker/dynamodb"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/testserver"
)

// The workflow fixture: stack "shop" (dev, staging, production) on the local
// target, and stack "mail" (dev only). Each commit changes something.
const (
	wfStackYAML = `apiVersion: core.panka.io/v1
kind: Stack
metadata:
  name: shop
spec:
  provider:
    name: local
  variables:
    WEB_IMAGE:
      default: shop-web:%s
`
	wfWebYAML = `apiVersion: core.panka.io/v1
kind: Service
metadata:
  name: web
spec: {}
---
apiVersion: core.panka.io/v1
kind: MicroService
metadata:
  name: web
spec:
  image: ${WEB_IMAGE}
  port: 8080
  replicas: %d
  env:
    QUEUE: ${orders.url}
%s`
	wfQueueYAML = `apiVersion: core.panka.io/v1
kind: Queue
metadata:
  name: orders
spec:
  visibilityTimeout: 60
`
	wfDBYAML = `apiVersion: core.panka.io/v1
kind: Database
metadata:
  name: db
spec:
  engine: postgres
`
	wfMailYAML = `apiVersion: core.panka.io/v1
kind: Stack
metadata:
  name: mail
spec:
  provider:
    name: local
`
	wfOutboxYAML = `apiVersion: core.panka.io/v1
kind: Queue
metadata:
  name: outbox
spec: {}
`
)

func wfEnvYAML(name, overrides string) string {
	s := "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: " + name + "\nspec:\n"
	if overrides == "" {
		return s + "  variables: {}\n"
	}
	return s + "  overrides:\n" + overrides
}

// workflow is a repository with the fixture, the real Pulumi engine and
// state/locks in the test servers (or the local backend without them).
type workflow struct {
	t    *testing.T
	repo *gittest.Repo
	env  []string
	ctx  context.Context
	// bucket holds the state in the test server ("": the local backend).
	bucket string
}

func newWorkflow(t *testing.T) *workflow {
	t.Helper()
	bin, pulumiDir, err := enginetest.Tools()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	sep := string(os.PathListSeparator)
	t.Setenv("PATH", bin+sep+pulumiDir+sep+os.Getenv("PATH"))
	// panka hands its own environment (Factory.Environ) to panka-engine.
	pulumiEnv := pulumitest.Env(t)
	r := gittest.New(t)
	w := &workflow{t: t, repo: r, ctx: context.Background()}
	w.env = []string{"HOME=" + r.Dir + "/.home", "PATH=" + os.Getenv("PATH"), "PANKA_PULUMI_CLI=" + filepath.Join(pulumiDir, "pulumi")}
	for k, v := range pulumiEnv {
		w.env = append(w.env, k+"="+v)
	}
	if os.Getenv(testserver.EnvS3Endpoint) != "" || os.Getenv("CI") != "" {
		bucket, s3env, _ := s3Env(t)
		w.bucket = bucket
		ep := testserver.DynamoDB(t)
		table := testserver.UniqueName("panka-locks-")
		if err := dynamodb.CreateTable(w.ctx, testserver.DynamoDBClient(t), table); err != nil {
			t.Fatal(err)
		}
		w.env = append(w.env, s3env...)
		for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_EC2_METADATA_DISABLED"} {
			w.env = append(w.env, k+"="+os.Getenv(k))
		}
		w.env = append(w.env, "PANKA_LOCKS_TYPE=dynamodb", "PANKA_LOCKS_TABLE="+table, "PANKA_LOCKS_ENDPOINT="+ep, "PANKA_LOCKS_REGION=us-east-1")
		t.Logf("state in versitygw, locks in dynalite table %s", table)
	} else {
		t.Log("state and locks in the local backend (PANKA_TEST_S3_ENDPOINT unset)")
	}
	return w
}

// in returns w reporting to t (a subtest).
func (w *workflow) in(t *testing.T) *workflow {
	c := *w
	c.t = t
	return &c
}

// run runs panka and returns stdout, stderr and the exit code.
func (w *workflow) run(args ...string) (string, string, int) {
	w.t.Helper()
	ios, _, out, errOut := Test()
	f := NewFactory(ios)
	f.Getwd = func() (string, error) { return w.repo.Dir, nil }
	f.Home = func() (string, error) { return w.repo.Dir + "/.home", nil }
	f.Environ = func() []string { return w.env }
	code := Run(w.ctx, f, args)
	return out.String(), errOut.String(), code
}

// ok runs panka and fails the test unless it exits 0.
func (w *workflow) ok(args ...string) string {
	w.t.Helper()
	out, errOut, code := w.run(args...)
	if code != 0 {
		w.t.Fatalf("panka %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// fails runs panka, wants exit code 1 and stderr containing every want.
func (w *workflow) fails(want []string, args ...string) {
	w.t.Helper()
	out, errOut, code := w.run(args...)
	if code != 1 {
		w.t.Fatalf("panka %s: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	for _, s := range want {
		if !strings.Contains(errOut, s) {
			w.t.Errorf("panka %s: stderr does not say %q:\n%s", strings.Join(args, " "), s, errOut)
		}
	}
}

// manifests reads every manifest of stack/env: file name -> content.
func (w *workflow) manifests(stack, env string) map[string]string {
	w.t.Helper()
	dir := filepath.Join(w.repo.Dir, ".panka", "local", stack, env)
	ents, err := os.ReadDir(dir)
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			w.t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func (w *workflow) sameManifests(what string, got, want map[string]string) {
	w.t.Helper()
	if len(got) != len(want) {
		w.t.Errorf("%s: manifests %v, want %v", what, keysOf(got), keysOf(want))
	}
	for name, c := range want {
		if got[name] != c {
			w.t.Errorf("%s: %s differs:\ngot:  %s\nwant: %s", what, name, got[name], c)
		}
	}
}

func keysOf(m map[string]string) []string { return sortedKeysOf(m) }

// history returns the records of stack/env, newest first.
func (w *workflow) history(stack, env string) []*statestore.Deployment {
	w.t.Helper()
	var recs []*statestore.Deployment
	if err := json.Unmarshal([]byte(w.ok("history", "-s", stack, "-e", env, "-n", "0", "-o", "json")), &recs); err != nil {
		w.t.Fatal(err)
	}
	return recs
}

func (w *workflow) revCount(from, to string) int {
	w.t.Helper()
	n, err := strconv.Atoi(w.repo.Git("rev-list", "--count", from+".."+to))
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

// TestWorkflowEndToEnd drives rollback, history --commits, changed
// --since-deployed, promote and status through the real engine.
func TestWorkflowEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the Pulumi engine")
	}
	w := newWorkflow(t)
	r := w.repo
	deploy := func(env string, extra ...string) {
		t.Helper()
		w.ok(append([]string{"apply", "-s", "shop", "-e", env, "--auto-approve"}, extra...)...)
	}

	// c1: web + queue; c2: a database, image 2; c3: image 3, two replicas.
	r.Write(".gitignore", ".panka/\n")
	r.Write("stacks/shop/stack.yaml", fmt.Sprintf(wfStackYAML, "1.0.0"))
	r.Write("stacks/shop/services/web/service.yaml", fmt.Sprintf(wfWebYAML, 1, ""))
	r.Write("stacks/shop/infra/queue.yaml", wfQueueYAML)
	for _, env := range []string{"dev", "staging"} {
		r.Write("stacks/shop/environments/"+env+".yaml", wfEnvYAML(env, ""))
	}
	r.Write("stacks/shop/environments/production.yaml", wfEnvYAML("production", "    web:\n      replicas: 3\n"))
	r.Write("stacks/mail/stack.yaml", wfMailYAML)
	r.Write("stacks/mail/infra/outbox.yaml", wfOutboxYAML)
	r.Write("stacks/mail/environments/dev.yaml", wfEnvYAML("dev", ""))
	c1 := r.Commit("c1: web and orders queue").String()
	deploy("dev")
	w.ok("apply", "-s", "mail", "-e", "dev", "--auto-approve")
	atC1 := w.manifests("shop", "dev")
	if len(atC1) != 2 {
		t.Fatalf("after c1: manifests %v, want web and orders", keysOf(atC1))
	}

	r.Write("stacks/shop/stack.yaml", fmt.Sprintf(wfStackYAML, "2.0.0"))
	r.Write("stacks/shop/infra/db.yaml", wfDBYAML)
	r.Write("stacks/shop/services/web/service.yaml", fmt.Sprintf(wfWebYAML, 1, "    DATABASE: ${db.endpoint}\n"))
	c2 := r.Commit("c2: database").String()
	deploy("dev")
	atC2 := w.manifests("shop", "dev")

	r.Write("stacks/shop/stack.yaml", fmt.Sprintf(wfStackYAML, "3.0.0"))
	r.Write("stacks/shop/services/web/service.yaml", fmt.Sprintf(wfWebYAML, 2, "    DATABASE: ${db.endpoint}\n"))
	c3 := r.Commit("c3: image 3, two replicas").String()
	deploy("dev")
	atC3 := w.manifests("shop", "dev")
	if len(atC3) != 3 || atC3["web.json"] == atC2["web.json"] {
		t.Fatalf("after c3: manifests %v (web changed: %v)", keysOf(atC3), atC3["web.json"] != atC2["web.json"])
	}

	t.Run("rollback to c1 needs --allow-destroy, then restores c1 exactly", func(t *testing.T) {
		w := w.in(t)
		w.fails([]string{"would delete Database \"db\"", "--allow-destroy", "Nothing was changed"},
			"rollback", "-s", "shop", "-e", "dev", "--to-commit", c1[:8], "--auto-approve")
		w.sameManifests("refused rollback", w.manifests("shop", "dev"), atC3)
		w.ok("rollback", "-s", "shop", "-e", "dev", "--to-commit", c1[:8], "--auto-approve", "--allow-destroy")
		w.sameManifests("rollback to c1", w.manifests("shop", "dev"), atC1)
		recs := w.history("shop", "dev")
		last := recs[0]
		if last.Operation != statestore.OpRollback || last.Commit != c1 || last.FromCommit != c3 || last.ToCommit != c1 || last.Result != statestore.ResultSucceeded {
			t.Fatalf("rollback record: op %s commit %s from %s to %s result %s", last.Operation, short(last.Commit), short(last.FromCommit), short(last.ToCommit), last.Result)
		}
		out := w.ok("history", "-s", "shop", "-e", "dev", "--commits")
		if !strings.Contains(out, "rollback "+c3[:7]+" → "+c1[:7]) {
			t.Errorf("history --commits does not show the rollback:\n%s", out)
		}
		for _, sub := range []string{"- " + c3[:7] + " c3: image 3", "- " + c2[:7] + " c2: database", "+ " + c3[:7] + " c3: image 3"} {
			if !strings.Contains(out, sub) {
				t.Errorf("history --commits lacks %q:\n%s", sub, out)
			}
		}
	})

	t.Run("rollback --to-version redeploys a recorded spec", func(t *testing.T) {
		w := w.in(t)
		var c3Serial int64
		for _, d := range w.history("shop", "dev") {
			if d.Commit == c3 && d.Operation == statestore.OpApply {
				c3Serial = d.Serial
			}
		}
		w.ok("rollback", "-s", "shop", "-e", "dev", "--to-version", strconv.FormatInt(c3Serial, 10), "--auto-approve")
		w.sameManifests("rollback to c3's version", w.manifests("shop", "dev"), atC3)
		w.fails([]string{"no deployment with state serial 99"}, "rollback", "-s", "shop", "-e", "dev", "--to-version", "99", "--auto-approve")
	})

	t.Run("rollback --to-previous", func(t *testing.T) {
		w := w.in(t)
		// Current: c3's spec (serial 5); previous with another spec: the rollback to c1.
		w.ok("rollback", "-s", "shop", "-e", "dev", "--to-previous", "--auto-approve", "--allow-destroy")
		w.sameManifests("rollback to previous", w.manifests("shop", "dev"), atC1)
		// And back to c3 for what follows.
		w.ok("rollback", "-s", "shop", "-e", "dev", "--to-commit", c3, "--auto-approve")
		w.sameManifests("back to c3", w.manifests("shop", "dev"), atC3)
	})

	t.Run("rollback errors", func(t *testing.T) {
		w := w.in(t)
		r.Write("stacks/other/stack.yaml", strings.ReplaceAll(wfMailYAML, "name: mail", "name: other"))
		r.Write("stacks/other/infra/outbox.yaml", wfOutboxYAML)
		r.Write("stacks/other/environments/dev.yaml", wfEnvYAML("dev", ""))
		notDeployed := r.Commit("other stack").String()
		w.ok("apply", "-s", "other", "-e", "dev", "--auto-approve")
		w.fails([]string{"was never deployed to shop/dev", c1[:12], "--force"}, "rollback", "-s", "shop", "-e", "dev", "--to-commit", notDeployed, "--auto-approve")
		w.fails([]string{"not in the local history", "git fetch"}, "rollback", "-s", "shop", "-e", "dev", "--to-commit", strings.Repeat("ab", 20), "--auto-approve")
		w.fails([]string{"stack \"other\" did not exist at commit " + c1[:12]}, "rollback", "-s", "other", "-e", "dev", "--to-commit", c1, "--auto-approve", "--force")
		w.fails([]string{"exactly one of"}, "rollback", "-s", "shop", "-e", "dev", "--to-previous", "--to-commit", c1)
	})

	// staging at c2, production at c1; then c4 changes production only.
	deploy("staging", "--ref", c2)
	deploy("production", "--ref", c1)
	r.Write("stacks/shop/environments/production.yaml", wfEnvYAML("production", "    web:\n      replicas: 5\n"))
	c4 := r.Commit("c4: production runs five").String()

	t.Run("changed --since-deployed", func(t *testing.T) {
		w := w.in(t)
		var res struct {
			Stacks []struct {
				Stack              string            `json:"stack"`
				Environments       []string          `json:"environments"`
				EnvironmentChanges map[string]string `json:"environmentChanges"`
				Deployed           map[string]string `json:"deployed"`
			} `json:"stacks"`
		}
		if err := json.Unmarshal([]byte(w.ok("changed", "--since-deployed", "-o", "json")), &res); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, s := range res.Stacks {
			for env, k := range s.EnvironmentChanges {
				got[s.Stack+"/"+env] = k
			}
		}
		// dev is at c3 (c4 touched production only); mail/dev at c1 and
		// other/dev at its first commit (untouched since); staging at c2 (c3
		// changed it); production at c1.
		want := map[string]string{"shop/staging": "modified", "shop/production": "modified"}
		if len(got) != len(want) {
			t.Errorf("since-deployed: %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("since-deployed %s: %q, want %q (all: %v)", k, got[k], v, got)
			}
		}
		out := w.ok("changed", "--since-deployed", "-e", "production", "-o", "names")
		if strings.TrimSpace(out) != "shop/production" {
			t.Errorf("since-deployed -e production: %q", out)
		}
	})

	t.Run("status", func(t *testing.T) {
		w := w.in(t)
		var st StackStatus
		if err := json.Unmarshal([]byte(w.ok("status", "-s", "shop", "-o", "json")), &st); err != nil {
			t.Fatal(err)
		}
		deployedAt := map[string]string{"dev": c3, "staging": c2, "production": c1}
		changed := map[string]bool{"dev": false, "staging": true, "production": true}
		if len(st.Environments) != 3 {
			t.Fatalf("status: %d environments", len(st.Environments))
		}
		for _, e := range st.Environments {
			if e.Deployed == nil || e.Deployed.Commit != deployedAt[e.Environment] {
				t.Errorf("status %s: deployed %+v, want %s", e.Environment, e.Deployed, short(deployedAt[e.Environment]))
				continue
			}
			want := w.revCount(deployedAt[e.Environment], c4)
			if e.CommitsAhead == nil || *e.CommitsAhead != want {
				t.Errorf("status %s: commits ahead %v, want %d (git rev-list --count)", e.Environment, e.CommitsAhead, want)
			}
			if e.Changed == nil || *e.Changed != changed[e.Environment] {
				t.Errorf("status %s: changed %v, want %v", e.Environment, e.Changed, changed[e.Environment])
			}
			if e.Lock != nil {
				t.Errorf("status %s: lock %+v left behind", e.Environment, e.Lock)
			}
		}
		out := w.ok("status", "-s", "shop", "-e", "dev")
		for _, sub := range []string{"shop/dev: deployed", c3[:12] + " \"c3: image 3, two replicas\" by Test Author", "2 commits ahead; no change to this stack since", "lock:      free", "drift:     never checked"} {
			if !strings.Contains(out, sub) {
				t.Errorf("status text lacks %q:\n%s", sub, out)
			}
		}
	})

	t.Run("promote staging to production", func(t *testing.T) {
		w := w.in(t)
		w.ok("promote", "-s", "shop", "--from", "staging", "--to", "production", "--auto-approve")
		recs := w.history("shop", "production")
		last := recs[0]
		if last.Operation != statestore.OpPromote || last.Commit != c2 || last.FromEnvironment != "staging" || last.Result != statestore.ResultSucceeded {
			t.Fatalf("promote record: op %s commit %s from %s result %s", last.Operation, short(last.Commit), last.FromEnvironment, last.Result)
		}
		// production got c2's YAML resolved for production: image 2, three replicas (c2's overlay).
		var web struct {
			Spec map[string]any `json:"spec"`
		}
		if err := json.Unmarshal([]byte(w.manifests("shop", "production")["web.json"]), &web); err != nil {
			t.Fatal(err)
		}
		if web.Spec["image"] != "shop-web:2.0.0" || web.Spec["replicas"] != float64(3) {
			t.Errorf("promoted web: image %v replicas %v, want shop-web:2.0.0 and 3", web.Spec["image"], web.Spec["replicas"])
		}
		if _, ok := w.manifests("shop", "production")["db.json"]; !ok {
			t.Error("promoted production has no database (c2 adds it)")
		}
		// other has no environment staging: named as such, not "never
		// been deployed".
		w.fails([]string{"--from: other/staging has no state in", `stack "other" has no environment "staging" (environments: dev)`}, "promote", "-s", "other", "--from", "staging", "--to", "dev")
	})

	// Deployed but gone at head: a pipeline running changed
	// --since-deployed must learn that mail/dev is to be destroyed.
	t.Run("changed --since-deployed reports removals", func(t *testing.T) {
		w := w.in(t)
		r.Remove("stacks/mail")
		r.Commit("c5: mail retired")
		out := w.ok("changed", "--since-deployed", "-s", "mail", "-o", "json")
		var res struct {
			Stacks []struct {
				Stack              string            `json:"stack"`
				Change             string            `json:"change"`
				EnvironmentChanges map[string]string `json:"environmentChanges"`
				Deployed           map[string]string `json:"deployed"`
			} `json:"stacks"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Stacks) != 1 || res.Stacks[0].Change != "removed" || res.Stacks[0].EnvironmentChanges["dev"] != "removed" || res.Stacks[0].Deployed["dev"] != c1 {
			t.Errorf("mail after its removal: %s", out)
		}
	})
}
