package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/testserver"
)

// TestEngineForcedReplaceRefused: SPEC §7 — data-holding components are
// never replaced without --allow-replace, whatever the cause. Here the
// cause is one the planner cannot see: a provider rule it does not know
// (PANKALOCAL_REPLACE_FIELDS makes the local provider replace a Database
// whose version changes). The plan shows an update; the engine refuses the
// replace of the Database (protected in its state), the run fails and says
// what to do, and its manifest stays. With --allow-replace the same apply
// goes through.
func TestEngineForcedReplaceRefused(t *testing.T) {
	w := deployedShop(t, "1.0.0", true)
	r := w.repo
	if got := w.manifests("shop", "dev"); len(got) != 3 {
		t.Fatalf("manifests %v, want web, orders and db", keysOf(got))
	}
	w.env = append(w.env, "PANKALOCAL_REPLACE_FIELDS=version")
	before := w.manifests("shop", "dev")
	r.Write("stacks/shop/infra/db.yaml", wfDBYAML+"  version: \"15\"\n")
	r.Commit("db version")
	out, errOut, code := w.run("apply", "-s", "shop", "-e", "dev", "--auto-approve")
	if code != 1 || !strings.Contains(errOut, "refusing to replace db") || !strings.Contains(errOut, "--allow-replace") {
		t.Fatalf("apply of a change the provider replaces: exit %d, want 1 refusing the replace\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("the refusal:\n%s", errOut)
	// The refusal crosses the engine protocol as such: panka says where
	// the change that forces it shows.
	if !strings.Contains(errOut, "panka plan --stack shop --environment dev shows the change that forces it") {
		t.Errorf("the refusal does not say where its cause shows:\n%s", errOut)
	}
	if !strings.Contains(out, "1 to update") || strings.Contains(out, "must be replaced") {
		t.Errorf("the plan should show the update the planner sees, not a replace:\n%s", out)
	}
	if got := w.manifests("shop", "dev")["db.json"]; got != before["db.json"] {
		t.Errorf("db.json changed although the replace was refused:\n%s", got)
	}
	if h := w.history("shop", "dev"); len(h) < 2 || h[0].Result != statestore.ResultFailed {
		t.Errorf("the refused run is not recorded as failed: %+v", h[0])
	}

	w.ok("apply", "-s", "shop", "-e", "dev", "--auto-approve", "--allow-replace")
	after := w.manifests("shop", "dev")
	if len(after) != 3 || !strings.Contains(after["db.json"], `"version": "15"`) {
		t.Errorf("after --allow-replace: manifests %v, db.json:\n%s", keysOf(after), after["db.json"])
	}

	// --allow-replace was for that run only: the Database re-created by it
	// is protected again, so the next change the provider replaces is
	// refused as the first was (the engine refuses only a replace of what
	// its state marks protected, and that run created it unprotected).
	r.Write("stacks/shop/infra/db.yaml", wfDBYAML+"  version: \"16\"\n")
	r.Commit("db version again")
	out, errOut, code = w.run("apply", "-s", "shop", "-e", "dev", "--auto-approve")
	if code != 1 || !strings.Contains(errOut, "refusing to replace db") {
		t.Fatalf("apply after an --allow-replace run: exit %d, want 1 refusing the replace\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got := w.manifests("shop", "dev")["db.json"]; got != after["db.json"] {
		t.Errorf("db.json changed although the replace was refused:\n%s", got)
	}
}

// TestEngineFailedAllowReplaceProtects: an apply --allow-replace that
// re-creates the Database and then fails (a new service reading its
// endpoint cannot be written: its manifest path is a directory) leaves
// the re-created Database (and the Queue the run registered unprotected)
// protected in the engine's state, so the next
// change the provider can only make by re-creating it is refused without
// --allow-replace (it was replaced: the failed run recorded it
// unprotected, and only a successful one protected it again).
func TestEngineFailedAllowReplaceProtects(t *testing.T) {
	w := deployedShop(t, "1.0.0", true)
	r := w.repo
	w.env = append(w.env, "PANKALOCAL_REPLACE_FIELDS=version")
	dir := filepath.Join(r.Dir, ".panka", "local", "shop", "dev")
	r.Write("stacks/shop/infra/db.yaml", wfDBYAML+"  version: \"15\"\n")
	r.Write("stacks/shop/services/worker/service.yaml",
		strings.ReplaceAll(fmt.Sprintf(wfWebYAML, 1, "    DATABASE: ${db.endpoint}\n"), "name: web", "name: worker"))
	r.Commit("db version, worker")
	if err := os.Mkdir(filepath.Join(dir, "worker.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	// With -v the engine's log (which says what it protected again) and
	// the progress display write stderr from two goroutines: through one
	// syncWriter, so go test -race has nothing to report.
	out, errOut, code := w.run("apply", "-s", "shop", "-e", "dev", "--auto-approve", "--allow-replace", "-v")
	if code == 0 {
		t.Fatalf("apply --allow-replace with an unwritable worker manifest succeeded\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}
	if !strings.Contains(errOut, "protected db, orders again in the engine's state") {
		t.Errorf("the failed run's engine log does not say it protected db and the orders queue again:\n%s", errOut)
	}
	db, err := os.ReadFile(filepath.Join(dir, "db.json"))
	if err != nil || !strings.Contains(string(db), `"version": "15"`) {
		t.Fatalf("the failed --allow-replace run did not re-create db first (%v):\n%s\nstderr:\n%s", err, db, errOut)
	}
	if err := os.Remove(filepath.Join(dir, "worker.json")); err != nil {
		t.Fatal(err)
	}

	r.Write("stacks/shop/infra/db.yaml", wfDBYAML+"  version: \"16\"\n")
	r.Commit("db version again")
	out, errOut, code = w.run("apply", "-s", "shop", "-e", "dev", "--auto-approve")
	if code != 1 || !strings.Contains(errOut, "refusing to replace db") {
		t.Fatalf("apply after a failed --allow-replace run: exit %d, want 1 refusing the replace\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "db.json")); string(got) != string(db) {
		t.Errorf("db.json changed although the replace was refused:\n%s", got)
	}
}

// TestDatabaseEngineChangeNeedsAllowReplace: SPEC §7 — a Database whose
// engine changes is replaced (a new, empty database), on the local target
// as on AWS: the apply is refused without --allow-replace (DATA LOSS) and
// nothing changes; with it, the database is replaced.
func TestDatabaseEngineChangeNeedsAllowReplace(t *testing.T) {
	w := deployedShop(t, "1.0.0", true)
	r := w.repo
	before := w.manifests("shop", "dev")["db.json"]
	r.Write("stacks/shop/infra/db.yaml", strings.Replace(wfDBYAML, "postgres", "mysql", 1))
	r.Commit("db engine mysql")
	out, errOut, code := w.run("apply", "-s", "shop", "-e", "dev", "--auto-approve")
	if code != 1 || !strings.Contains(errOut, `would replace Database "db"`) || !strings.Contains(errOut, "--allow-replace") || !strings.Contains(out, "DATA LOSS") {
		t.Fatalf("apply of an engine change: exit %d, want 1 refusing the replace\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if got := w.manifests("shop", "dev")["db.json"]; got != before {
		t.Errorf("db.json changed although the apply was refused:\n%s", got)
	}
	// web, which reads the database's endpoint (its port changes with
	// the engine), is updated: the engine deletes the database first and
	// re-creates only readers whose kind has replacement-forcing fields,
	// which a MicroService no longer has on the local target (its port
	// replaces only a load-balanced one's target group, on aws). The plan
	// says so (it once said "1 to replace", web unchanged).
	plan := w.ok("plan", "-s", "shop", "-e", "dev", "-o", "json")
	var pj struct {
		Changes []struct{ Component, Action string }
		Summary struct{ Update, Replace int }
	}
	if err := json.Unmarshal([]byte(plan), &pj); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, plan)
	}
	actions := map[string]string{}
	for _, c := range pj.Changes {
		actions[c.Component] = c.Action
	}
	if pj.Summary.Replace != 1 || pj.Summary.Update != 1 || actions["web"] != "update" || actions["db"] != "replace" {
		t.Errorf("plan of an engine change: %+v %v, want db replaced and web updated\n%s", pj.Summary, actions, plan)
	}
	out = w.ok("apply", "-s", "shop", "-e", "dev", "--auto-approve", "--allow-replace")
	if !strings.Contains(out, "succeeded: 0 created, 1 updated, 1 replaced, 0 deleted") {
		t.Errorf("apply --allow-replace of an engine change:\n%s", out)
	}
	if got := w.manifests("shop", "dev")["db.json"]; !strings.Contains(got, `"engine": "mysql"`) {
		t.Errorf("db.json after the replace:\n%s", got)
	}
}

// TestMovedCheckoutApplies: a checkout moved to another folder (a CI
// runner's workspace path, a developer's new clone) gives the local
// target's manifests a new absolute location while the engine state names
// the old one. drift detect finds the manifests in the moved checkout (no
// drift); an apply with a Database and a Queue moves them in place,
// without --allow-replace; a destroy from a checkout moved again deletes
// them there.
func TestMovedCheckoutApplies(t *testing.T) {
	w := deployedShop(t, "1.0.0", true)
	r := w.repo
	move := func(name string) {
		moved := filepath.Join(filepath.Dir(r.Dir), name)
		if err := os.Rename(r.Dir, moved); err != nil {
			t.Fatal(err)
		}
		r.Dir = moved
	}
	move("moved")
	if out := w.ok("drift", "detect", "-s", "shop", "-e", "dev"); !strings.Contains(out, "No drift") {
		t.Errorf("drift detect in the moved checkout:\n%s", out)
	}
	r.Write("stacks/shop/infra/db.yaml", wfDBYAML+"  version: \"15\"\n")
	r.Commit("db version")
	if out := w.ok("apply", "-s", "shop", "-e", "dev", "--auto-approve"); !strings.Contains(out, "succeeded") {
		t.Errorf("apply after the checkout moved:\n%s", out)
	}
	after := w.manifests("shop", "dev")
	if len(after) != 3 || !strings.Contains(after["db.json"], `"version": "15"`) {
		t.Errorf("after the move: manifests %v, db.json:\n%s", keysOf(after), after["db.json"])
	}
	move("moved-again")
	w.ok("destroy", "-s", "shop", "-e", "dev", "--auto-approve", "--allow-destroy")
	if _, err := os.Stat(filepath.Join(r.Dir, ".panka", "local", "shop", "dev")); !os.IsNotExist(err) {
		t.Errorf("destroy from the moved checkout left its manifests (err %v)", err)
	}
}

// TestSymlinkedCheckoutApplies: the same checkout reached through a
// symbolic link (a CI workspace linked into place, macOS's /tmp and
// /private/tmp) spells the manifests' directory differently. The move
// wrote each manifest through the new spelling, then removed the old one,
// the same file: every manifest was gone, the health check failed, and
// each next apply failed the same way.
func TestSymlinkedCheckoutApplies(t *testing.T) {
	w := deployedShop(t, "1.0.0", true)
	r := w.repo
	linked := filepath.Join(t.TempDir(), "workspace")
	if err := os.Symlink(r.Dir, linked); err != nil {
		t.Fatal(err)
	}
	r.Dir = linked
	r.Write("stacks/shop/infra/db.yaml", wfDBYAML+"  version: \"15\"\n")
	r.Commit("db version")
	out, errOut, code := w.run("apply", "-s", "shop", "-e", "dev", "--auto-approve")
	if code != 0 || !strings.Contains(out, "succeeded") {
		t.Fatalf("apply through the link: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	after := w.manifests("shop", "dev")
	if len(after) != 3 || !strings.Contains(after["db.json"], `"version": "15"`) {
		t.Errorf("after the apply through the link: manifests %v, db.json:\n%s", keysOf(after), after["db.json"])
	}
}

// TestUnrecordedEngineWriteIsUndone: a run that stopped while it held the
// lease and resumed after another run took it over and recorded its
// deployment writes the engine's state and the resources, and records
// nothing (its lease is gone). Simulated here by what it leaves: the web
// manifest and Pulumi's checkpoint both at an older image, state.json at
// the newer one. The next apply of the same commit plans "no changes", but
// sees that the engine's state is not what the last deployment left: it
// warns, refreshes and runs the engine, which puts the newer image back.
func TestUnrecordedEngineWriteIsUndone(t *testing.T) {
	w := deployedShop(t, "2.0.0", false)
	r := w.repo

	older := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("shop-web:2.0.0"), []byte("shop-web:1.0.0")) }
	manifest := filepath.Join(r.Dir, ".panka", "local", "shop", "dev", "web.json")
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, older(b), 0o644); err != nil {
		t.Fatal(err)
	}
	w.editCheckpoint("shop", "dev", older)

	// The resources match the engine's state: drift detect says that the
	// engine's state is not what was recorded (exit 2 with --exit-code).
	out, errOut, code := w.run("drift", "detect", "-s", "shop", "-e", "dev", "--exit-code")
	if code != 2 || !strings.Contains(out, "was written after its last recorded deployment (serial 1)") || strings.Contains(out, "No drift") {
		t.Errorf("drift detect: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if out, _, _ := w.run("drift", "detect", "-s", "shop", "-e", "dev", "-o", "json"); !strings.Contains(out, `"engineStateChanged": true`) {
		t.Errorf("drift detect -o json:\n%s", out)
	}

	out, errOut, code = w.run("apply", "-s", "shop", "-e", "dev", "--auto-approve")
	if code != 0 {
		t.Fatalf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "was written after its last recorded deployment") || strings.Contains(errOut, "without running the engine") {
		t.Errorf("apply did not notice the unrecorded engine write:\n%s", errOut)
	}
	if got := w.manifests("shop", "dev")["web.json"]; !strings.Contains(got, "shop-web:2.0.0") {
		t.Errorf("web manifest after the apply:\n%s\nwant the recorded image shop-web:2.0.0 back", got)
	}
	// Recorded: the next apply is quiet again.
	_, errOut, code = w.run("apply", "-s", "shop", "-e", "dev", "--auto-approve")
	if code != 0 || !strings.Contains(errOut, "without running the engine") || strings.Contains(errOut, "was written after") {
		t.Errorf("second apply: exit %d, stderr:\n%s", code, errOut)
	}
}

// deployedShop is a workflow whose stack shop (web image, the orders queue
// and, withDB, a database web uses) is committed and applied to dev.
func deployedShop(t *testing.T, image string, withDB bool) *workflow {
	t.Helper()
	if testing.Short() {
		t.Skip("drives the Pulumi engine")
	}
	w := newWorkflow(t)
	r := w.repo
	r.Write(".gitignore", ".panka/\n")
	r.Write("stacks/shop/stack.yaml", fmt.Sprintf(wfStackYAML, image))
	env := ""
	if withDB {
		env = "    DATABASE: ${db.endpoint}\n"
		r.Write("stacks/shop/infra/db.yaml", wfDBYAML)
	}
	r.Write("stacks/shop/services/web/service.yaml", fmt.Sprintf(wfWebYAML, 1, env))
	r.Write("stacks/shop/infra/queue.yaml", wfQueueYAML)
	r.Write("stacks/shop/environments/dev.yaml", wfEnvYAML("dev", ""))
	r.Commit("shop")
	w.ok("apply", "-s", "shop", "-e", "dev", "--auto-approve")
	return w
}

// editCheckpoint rewrites the Pulumi checkpoint of stack/env with edit,
// in the test server's bucket or the local backend.
func (w *workflow) editCheckpoint(stack, env string, edit func([]byte) []byte) {
	w.t.Helper()
	rel := path.Join("stacks", stack, env, "pulumi", engine.CheckpointPath(engine.StackName(stack, env)))
	if w.bucket == "" {
		p := filepath.Join(w.repo.Dir, ".panka", "state", filepath.FromSlash(rel))
		b, err := os.ReadFile(p)
		if err != nil {
			w.t.Fatal(err)
		}
		if err := os.WriteFile(p, edit(b), 0o644); err != nil {
			w.t.Fatal(err)
		}
		return
	}
	c := testserver.S3Client(w.t)
	out, err := c.GetObject(w.ctx, &s3.GetObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(rel)})
	if err != nil {
		w.t.Fatal(err)
	}
	b, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := c.PutObject(w.ctx, &s3.PutObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(rel), Body: bytes.NewReader(edit(b))}); err != nil {
		w.t.Fatal(err)
	}
}
