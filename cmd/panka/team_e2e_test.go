package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/locker"
)

// TestTeamOfTwoClones: a platform team's day on one bucket and one lock
// table, named in the panka.yaml committed to the repository (no
// PANKA_BACKEND_* / PANKA_LOCKS_* variables), from two clones of one
// origin. Bob's apply of the stack alice is applying is refused naming
// her, and his locks list shows her lease; a late pipeline in bob's clone
// (an older commit checked out after alice deployed a newer one) says it
// deploys older YAML; bob's rollback to alice's commit, the history read
// from both clones and alice's promote of what bob deployed all tell one
// story, as recorded in the bucket.
func TestTeamOfTwoClones(t *testing.T) {
	if os.Getenv("PANKA_TEST_S3_ENDPOINT") == "" && os.Getenv("CI") == "" {
		t.Skip("test servers not running (make test starts them)")
	}
	r := newE2ERepo(t, servers)
	settings := map[string]string{}
	var env []string
	for _, kv := range r.env {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PANKA_BACKEND_") || strings.HasPrefix(k, "PANKA_LOCKS_") {
			settings[k] = v
			continue
		}
		env = append(env, kv)
	}
	r.env = env
	r.write("panka.yaml", fmt.Sprintf("backend: {type: s3, bucket: %s, region: %s, endpoint: %q}\nlocks: {type: dynamodb, table: %s, endpoint: %q}\n",
		settings["PANKA_BACKEND_BUCKET"], settings["PANKA_BACKEND_REGION"], settings["PANKA_BACKEND_ENDPOINT"],
		settings["PANKA_LOCKS_TABLE"], settings["PANKA_LOCKS_ENDPOINT"]))
	r.git("add", "panka.yaml")
	r.git("commit", "-qm", "the team's bucket and table")
	origin := filepath.Join(t.TempDir(), "origin.git")
	r.git("clone", "-q", "--bare", r.dir, origin)
	clone := func(name string) *e2eRepo {
		c := *r
		c.dir = filepath.Join(t.TempDir(), name)
		r.git("clone", "-q", origin, c.dir)
		c.git("config", "user.email", name+"@example.com")
		c.git("config", "user.name", name)
		return &c
	}
	alice, bob := clone("alice"), clone("bob")
	ctx := context.Background()

	// alice applies shop/dev (slowly); bob, on the same stack and
	// environment, is refused naming her, and sees her lease.
	run := alice.cmd([]string{"PANKALOCAL_DELAY=15s"}, applyDev...)
	var aout syncBuffer
	run.Stdout, run.Stderr = &aout, &aout
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, func() bool {
		h, err := r.locker().Get(ctx, locker.Key("shop", "dev"))
		return err == nil && h.LockedBy == "alice@example.com"
	})
	if out := bob.mustPanka(nil, "locks", "list"); !strings.Contains(out, "alice@example.com") || !strings.Contains(out, "apply") {
		t.Errorf("bob's locks list while alice applies:\n%s", out)
	}
	if _, errOut, code := bob.panka(nil, applyDev...); code != 3 || !strings.Contains(errOut, "shop/dev is locked by alice@example.com") {
		t.Errorf("bob's apply while alice applies: exit %d, want 3 naming alice\n%s", code, errOut)
	}
	if err := run.Wait(); err != nil {
		t.Fatalf("alice's apply: %v\n%s", err, aout.String())
	}
	first := alice.git("rev-parse", "HEAD")

	// alice pushes and deploys a newer commit; bob pulls it, and a late
	// pipeline of the older commit runs in his clone.
	second := alice.setWebImage("2.0.0")
	alice.git("push", "-q", "origin", "HEAD:main")
	alice.mustPanka(nil, applyDev...)
	bob.git("pull", "-q", "origin", "main")
	bob.git("checkout", "-q", first)
	_, errOut, code := bob.panka(nil, applyDev...)
	if code != 0 || !strings.Contains(errOut, fmt.Sprintf("shop/dev runs commit %s (deployment 2), which is newer than the commit this apply deploys, %s", second[:12], first[:12])) {
		t.Errorf("bob's late pipeline: exit %d, want a warning that it deploys older YAML\n%s", code, errOut)
	}
	bob.git("checkout", "-q", "main")
	for _, c := range []*e2eRepo{alice, bob} {
		if out := c.mustPanka(nil, "status", "--stack", "shop", "--environment", "dev"); !strings.Contains(out, "(apply by bob@example.com)") || !strings.Contains(out, "1 commit ahead; stack changed since") {
			t.Errorf("status in %s after the late pipeline:\n%s", filepath.Base(c.dir), out)
		}
	}

	// alice puts her commit back; bob rolls back to her first one; both
	// clones read the same history; alice promotes what bob deployed.
	alice.mustPanka(nil, applyDev...)
	bob.mustPanka(nil, "rollback", "--stack", "shop", "--environment", "dev", "--to-commit", first, "--auto-approve")
	hist := alice.mustPanka(nil, "history", "--stack", "shop", "--environment", "dev")
	if other := bob.mustPanka(nil, "history", "--stack", "shop", "--environment", "dev"); other != hist {
		t.Errorf("history differs between the clones:\nalice:\n%s\nbob:\n%s", hist, other)
	}
	if !strings.Contains(hist, "rollback from "+second[:7]) || strings.Count(hist, "succeeded") != 5 {
		t.Errorf("history after bob's rollback:\n%s", hist)
	}
	st, _, err := r.store().Get(ctx, shopDev)
	if err != nil || st.Serial != 5 || st.LastDeployment.Result != "succeeded" || st.LastDeployment.Commit != first || st.LastDeployment.User != "bob@example.com" || st.LastDeployment.Operation != "rollback" {
		t.Fatalf("state in the bucket after bob's rollback: %+v, %v", st, err)
	}
	out := alice.mustPanka(nil, "promote", "--stack", "shop", "--from", "dev", "--to", "production", "--auto-approve")
	if !strings.Contains(out, fmt.Sprintf("(serial 1, commit %s)", first[:12])) {
		t.Errorf("alice's promote:\n%s", out)
	}
	if h := bob.mustPanka(nil, "history", "--stack", "shop", "--environment", "production"); !strings.Contains(h, "promote from dev") || !strings.Contains(h, "alice@example.com") {
		t.Errorf("production's history from bob's clone:\n%s", h)
	}
	if held, _ := r.locker().List(ctx); len(held) != 0 {
		t.Errorf("leases left in the table: %+v", held)
	}
}
