package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/statestore"
)

// TestRollbackWaitingForTheLockSeesTheNewState: a rollback that waits for
// the lock while an apply runs chose its target and recorded "from" commit
// from the state it read before waiting. When the state moved on meanwhile
// it must deploy nothing (it would roll back from a deployment that is no
// longer current) and say so.
func TestRollbackWaitingForTheLockSeesTheNewState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		stackFile := filepath.Join(r.dir, "stacks/shop/stack.yaml")
		release := func(v string) string {
			t.Helper()
			data, err := os.ReadFile(stackFile)
			if err != nil {
				t.Fatal(err)
			}
			s := strings.Replace(string(data), "shop-web:1.0.0", "shop-web:"+v, 1)
			s = strings.Replace(s, "shop-web:2.0.0", "shop-web:"+v, 1)
			if err := os.WriteFile(stackFile, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			r.git("commit", "-qam", "web "+v)
			return r.git("rev-parse", "HEAD")
		}
		c1 := r.git("rev-parse", "HEAD")
		r.mustPanka(nil, applyDev...)
		c2 := release("2.0.0")
		r.mustPanka(nil, applyDev...)
		c3 := release("3.0.0")

		// The apply of c3 holds the lease while its engine works, until
		// the gate file is written.
		gate := filepath.Join(t.TempDir(), "gate")
		apply := r.cmd([]string{"PANKALOCAL_GATE=" + gate}, applyDev...)
		var applyOut, applyErr syncBuffer
		apply.Stdout, apply.Stderr = &applyOut, &applyErr
		if err := apply.Start(); err != nil {
			t.Fatal(err)
		}
		applyDone := make(chan error, 1)
		go func() { applyDone <- apply.Wait() }()
		waitFor(t, 90*time.Second, func() bool { return strings.Contains(applyErr.String(), "updating") })

		// Meanwhile a rollback to the previous deployment (c1, as c2 is
		// current) starts and waits for the lock.
		rb := r.cmd(nil, "rollback", "--stack", "shop", "--environment", "dev", "--to-previous", "--auto-approve", "--lock-timeout", "3m")
		var rbOut, rbErr syncBuffer
		rb.Stdout, rb.Stderr = &rbOut, &rbErr
		if err := rb.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, func() bool { return strings.Contains(rbErr.String(), "Waiting for the lock") })
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := <-applyDone; err != nil {
			t.Fatalf("apply of c3: %v\nstdout:\n%s\nstderr:\n%s", err, applyOut.String(), applyErr.String())
		}
		rbErrWait := rb.Wait()
		if rbErrWait == nil || !strings.Contains(rbErr.String(), "changed while this rollback waited for the lock") {
			t.Errorf("rollback after the state moved on: %v\nstdout:\n%s\nstderr:\n%s", rbErrWait, rbOut.String(), rbErr.String())
		}

		ctx := context.Background()
		st, _, err := r.store().Get(ctx, shopDev)
		if err != nil {
			t.Fatal(err)
		}
		if st.Serial != 3 || st.LastDeployment.Commit != c3 || st.LastDeployment.Operation != statestore.OpApply {
			t.Errorf("state after the refused rollback: serial %d, %s of %s; want serial 3, apply of c3 %s (c1 %s, c2 %s)",
				st.Serial, st.LastDeployment.Operation, st.LastDeployment.Commit, c3, c1, c2)
		}
		hist, err := r.store().History(ctx, shopDev, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 3 || hist[0].Operation != statestore.OpApply {
			t.Errorf("history after the refused rollback: %d records, newest %s", len(hist), hist[0].Operation)
		}
		web, err := os.ReadFile(filepath.Join(r.dir, ".panka/local/shop/dev/web.json"))
		if err != nil || !strings.Contains(string(web), "shop-web:3.0.0") {
			t.Errorf("web manifest after the refused rollback (%v):\n%s", err, web)
		}
	})
}
