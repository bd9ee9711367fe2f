package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"panka.dev/panka/locker"
	"panka.dev/panka/statestore"
)

// pulumiPending reports whether a Pulumi checkpoint of the backend holds
// an operation in flight (pending_operations): an engine killed then left
// it for the next run to clear.
func (r *e2eRepo) pulumiPending() bool {
	return r.pulumiCheckpoint(func(b []byte) bool {
		var cp struct {
			Checkpoint struct {
				Latest struct {
					Pending []json.RawMessage `json:"pending_operations"`
				} `json:"latest"`
			} `json:"checkpoint"`
		}
		return json.Unmarshal(b, &cp) == nil && len(cp.Checkpoint.Latest.Pending) > 0
	})
}

// killUpdate deploys shop/dev, then SIGKILLs every process of an apply
// that updates web (GREETING changed) while its engine updates: it leaves
// its lease, Pulumi's lock and the update in flight, and no record. It
// returns the killed run's lease.
func (r *e2eRepo) killUpdate(t *testing.T) locker.Info {
	t.Helper()
	r.mustPanka(nil, applyDev...)
	output := r.killWhen(t, []string{"PANKALOCAL_DELAY=30s"}, func(output string) bool {
		return strings.Contains(output, "updating") && r.pulumiLocked() && r.pulumiPending()
	}, append(applyDev, "--var", "GREETING=changed")...)
	h, err := r.locker().Get(context.Background(), locker.Key("shop", "dev"))
	if err != nil {
		t.Fatalf("the killed run's lease: %v\n%s", err, output)
	}
	return h
}

// checkKept checks that k, what a run that recorded no deployment kept in
// the state, names that run (op) and what it cleared of the killed run
// h: its lease (when lease), its Pulumi lock and update in flight (when
// pulumi).
func checkKept(t *testing.T, k statestore.Recovery, op string, h locker.Info, lease, pulumi bool) {
	t.Helper()
	if k.Operation != op || k.User == "" || k.At.IsZero() || k.LockID == "" || k.LockID == h.ID {
		t.Errorf("kept recovery = %+v, want one of a %s run", k, op)
	}
	if l := k.Cleared.Lease; lease != (l != nil) || l != nil && (l.LockID != h.ID || l.PID != h.Metadata.PID) {
		t.Errorf("kept recovery's lease = %+v, want the killed run's %+v: %v", l, h, lease)
	}
	locks := len(k.Cleared.PulumiLocks) > 0 || k.Cleared.PulumiCancelled
	updating := false
	for _, p := range k.Cleared.PendingOperations {
		updating = updating || p.Type == "updating" && strings.HasSuffix(p.URN, "::web")
	}
	if locks != pulumi || updating != pulumi {
		t.Errorf("kept recovery = %+v, want the killed run's Pulumi lock and its update of web in flight: %v", k.Cleared, pulumi)
	}
}

// TestDriftDetectKeepsWhatItCleared: a drift detect after an apply killed
// while it updated takes over the killed run's lease and clears its
// Pulumi lock and pending update, as an apply would. A drift check
// records no deployment, and the next run finds nothing left to clear:
// what it cleared used to be said on its stderr only, and history never
// showed that a run had been killed. The state keeps it (status, history
// and state show say so) until the next deployment's record takes it.
func TestDriftDetectKeepsWhatItCleared(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the run's processes through /proc (Linux only)")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		h := r.killUpdate(t)
		ctx := context.Background()

		out, errOut, code := r.panka(nil, "drift", "detect", "--stack", "shop", "--environment", "dev")
		if code != 0 {
			t.Fatalf("drift detect after the killed apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		if !strings.Contains(errOut, "an earlier run of shop/dev stopped before its engine finished") {
			t.Errorf("drift detect does not say what it cleared:\n%s", errOut)
		}
		// Keeping what it cleared moved the state's serial on, not the
		// last recorded deployment's.
		if !strings.Contains(out, "was written after its last recorded deployment (serial 1)") {
			t.Errorf("drift detect does not name the last recorded deployment:\n%s", out)
		}
		st, _, err := r.store().Get(ctx, shopDev)
		if err != nil || len(st.Recoveries) != 1 || st.LastDriftCheck == nil {
			t.Fatalf("the state after drift detect does not keep what it cleared: %+v, %v", st, err)
		}
		checkKept(t, st.Recoveries[0], "drift detect", h, true, true)

		want := "  recovered: an earlier run stopped part way, and drift detect by "
		if out = r.mustPanka(nil, "status", "--stack", "shop", "--environment", "dev"); !strings.Contains(out, want) ||
			!strings.Contains(out, fmt.Sprintf("took over the lease of %s on %s (pid %d)", h.LockedBy, h.Metadata.Hostname, h.Metadata.PID)) ||
			!strings.Contains(out, "cleared Pulumi's pending operations updating web") {
			t.Errorf("status does not say what drift detect cleared (%q):\n%s", want, out)
		}
		var sj struct {
			Environments []struct {
				Recoveries []statestore.Recovery `json:"recoveries"`
			} `json:"environments"`
		}
		if err := json.Unmarshal([]byte(r.mustPanka(nil, "status", "--stack", "shop", "--environment", "dev", "-o", "json")), &sj); err != nil {
			t.Fatal(err)
		}
		if len(sj.Environments) != 1 || len(sj.Environments[0].Recoveries) != 1 || sj.Environments[0].Recoveries[0].Cleared.Lease == nil {
			t.Errorf("status -o json does not carry what drift detect cleared: %+v", sj)
		}
		if out := r.mustPanka(nil, "history", "--stack", "shop", "--environment", "dev"); !strings.Contains(out, "After serial 1, an earlier run stopped part way (killed, or cut off from its backends), and drift detect by ") {
			t.Errorf("history does not say what drift detect cleared:\n%s", out)
		}
		if out := r.mustPanka(nil, "state", "show", "--stack", "shop", "--environment", "dev"); !strings.Contains(out, "Recovered:    an earlier run stopped part way, and drift detect by ") {
			t.Errorf("state show does not say what drift detect cleared:\n%s", out)
		}

		// The next deployment's record takes it, and the state drops it.
		if out, errOut, code = r.panka(nil, append(applyDev, "--var", "GREETING=changed")...); code != 0 ||
			!strings.Contains(errOut, "the engine's state of shop/dev was written after its last recorded deployment (serial 1)") {
			t.Fatalf("apply after drift detect: exit %d, want it to name the last recorded deployment\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		st, _, err = r.store().Get(ctx, shopDev)
		if err != nil || st.LastDeployment == nil || st.LastDeployment.Result != statestore.ResultSucceeded || len(st.Recoveries) != 0 {
			t.Fatalf("state after the apply that follows: %+v, %v", st, err)
		}
		rec := st.LastDeployment.Recovered
		if rec.ClearedItself() || len(rec.Earlier) != 1 {
			t.Fatalf("the apply's record = %+v, want only what drift detect cleared before it", rec)
		}
		checkKept(t, rec.Earlier[0], "drift detect", h, true, true)
		out = r.mustPanka(nil, "history", "--stack", "shop", "--environment", "dev")
		if !strings.Contains(out, "succeeded (recovered)") || !strings.Contains(out, fmt.Sprintf("Serial %d recovered from an earlier run that stopped part way (killed, or cut off from its backends): drift detect by ", st.Serial)) ||
			strings.Contains(out, "After serial") {
			t.Errorf("history after the apply does not keep what drift detect cleared:\n%s", out)
		}
	})
}

// TestStoppedRunsKeepWhatTheyCleared: a run that cleared what a killed
// apply left and then recorded nothing (refused, or killed in turn) used
// to lose it, as the next run found nothing left to clear and its record
// had no recovered. Here an apply without --auto-approve and no terminal
// takes over the killed run's lease and is refused at the confirmation;
// the next apply clears that run's Pulumi lock and pending update, and is
// killed in turn while it updates. Each keeps what it cleared in the state
// as it clears it, and the record of the apply that then deploys carries
// both, with what it cleared itself of the second killed run.
func TestStoppedRunsKeepWhatTheyCleared(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the run's processes through /proc (Linux only)")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		h := r.killUpdate(t)
		ctx := context.Background()
		change := []string{"apply", "--stack", "shop", "--environment", "dev", "--var", "GREETING=changed"}

		if _, errOut, code := r.panka(nil, change...); code == 0 || !strings.Contains(errOut, "needs confirmation and there is no terminal") {
			t.Fatalf("apply without --auto-approve and no terminal: exit %d\n%s", code, errOut)
		}
		st, _, err := r.store().Get(ctx, shopDev)
		if err != nil || len(st.Recoveries) != 1 || st.LastDeployment.Serial != 1 {
			t.Fatalf("the state after the refused apply does not keep the lease it took over: %+v, %v", st, err)
		}
		checkKept(t, st.Recoveries[0], "apply", h, true, false)

		// Killed once its own update is in flight: after it kept what it
		// cleared (the state's second recovery), the Pulumi lock and
		// pending operation are its own.
		output := r.killWhen(t, []string{"PANKALOCAL_DELAY=30s"}, func(string) bool {
			st, _, err := r.store().Get(ctx, shopDev)
			return err == nil && len(st.Recoveries) == 2 && r.pulumiLocked() && r.pulumiPending()
		}, append(change, "--auto-approve")...)
		if !strings.Contains(output, "an earlier run of shop/dev stopped before its engine finished") {
			t.Errorf("the second apply does not say what it cleared:\n%s", output)
		}
		st, _, err = r.store().Get(ctx, shopDev)
		if err != nil || len(st.Recoveries) != 2 || st.LastDeployment.Serial != 1 {
			t.Fatalf("the state after the second killed apply does not keep what it cleared: %+v, %v\n%s", st, err, output)
		}
		checkKept(t, st.Recoveries[1], "apply", h, false, true)
		h2, err := r.locker().Get(ctx, locker.Key("shop", "dev"))
		if err != nil {
			t.Fatalf("the second killed run's lease: %v", err)
		}

		r.mustPanka(nil, append(change, "--auto-approve")...)
		st, _, err = r.store().Get(ctx, shopDev)
		if err != nil || st.LastDeployment.Result != statestore.ResultSucceeded || len(st.Recoveries) != 0 {
			t.Fatalf("state after the apply that deploys: %+v, %v", st, err)
		}
		rec := st.LastDeployment.Recovered
		if !rec.ClearedItself() || rec.Lease == nil || rec.Lease.LockID != h2.ID || len(rec.Earlier) != 2 {
			t.Fatalf("the deploying apply's record = %+v, want the second killed run's lease and what the two runs before it cleared", rec)
		}
		checkKept(t, rec.Earlier[0], "apply", h, true, false)
		checkKept(t, rec.Earlier[1], "apply", h, false, true)
		out := r.mustPanka(nil, "history", "--stack", "shop", "--environment", "dev")
		if want := fmt.Sprintf("Serial %d recovered from an earlier run that stopped part way (killed, or cut off from its backends): took over the lease of %s on %s (pid %d)",
			st.Serial, h2.LockedBy, h2.Metadata.Hostname, h2.Metadata.PID); !strings.Contains(out, want) ||
			!strings.Contains(out, fmt.Sprintf("; before it, apply by %s", h.LockedBy)) ||
			!strings.Contains(out, fmt.Sprintf("which recorded no deployment, took over the lease of %s on %s (pid %d)", h.LockedBy, h.Metadata.Hostname, h.Metadata.PID)) {
			t.Errorf("history does not keep what the runs before the deploying one cleared (%q):\n%s", want, out)
		}
	})
}

// TestStateEditsKeepTheLeaseTheyTookOver: state push and state rm take the
// lock lease too, and take over a killed run's lease as an apply does;
// they record no deployment, so the takeover was lost (the next run found
// the lease free). Each keeps it in the state it writes, and the next
// deployment's record takes it.
func TestStateEditsKeepTheLeaseTheyTookOver(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the run's processes through /proc (Linux only)")
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		r := newE2ERepo(t, b)
		h := r.killUpdate(t)
		ctx := context.Background()
		pulled := filepath.Join(t.TempDir(), "state.json")
		if err := os.WriteFile(pulled, []byte(r.mustPanka(nil, "state", "pull", "--stack", "shop", "--environment", "dev")), 0o644); err != nil {
			t.Fatal(err)
		}
		r.mustPanka(nil, "state", "push", pulled, "--stack", "shop", "--environment", "dev")
		st, _, err := r.store().Get(ctx, shopDev)
		if err != nil || len(st.Recoveries) != 1 {
			t.Fatalf("the state after state push does not keep the lease it took over: %+v, %v", st, err)
		}
		checkKept(t, st.Recoveries[0], "state push", h, true, false)

		// The apply that follows clears the killed run's Pulumi leftovers
		// itself, and takes what the push kept.
		r.mustPanka(nil, append(applyDev, "--var", "GREETING=changed")...)
		st, _, err = r.store().Get(ctx, shopDev)
		if err != nil || len(st.Recoveries) != 0 || st.LastDeployment.Recovered == nil || len(st.LastDeployment.Recovered.Earlier) != 1 {
			t.Fatalf("the apply after state push does not take what it kept: %+v, %v", st, err)
		}
		checkKept(t, st.LastDeployment.Recovered.Earlier[0], "state push", h, true, false)

		output := r.killWhen(t, []string{"PANKALOCAL_DELAY=30s"}, func(output string) bool {
			return strings.Contains(output, "updating") && r.pulumiLocked() && r.pulumiPending()
		}, append(applyDev, "--var", "GREETING=again")...)
		h2, err := r.locker().Get(ctx, locker.Key("shop", "dev"))
		if err != nil {
			t.Fatalf("the second killed run's lease: %v\n%s", err, output)
		}
		r.mustPanka(nil, "state", "rm", "--stack", "shop", "--environment", "dev", "--resource", "assets")
		st, _, err = r.store().Get(ctx, shopDev)
		if err != nil || len(st.Recoveries) != 1 || st.LastWrite == nil || st.LastWrite.Operation != statestore.WriteStateRm {
			t.Fatalf("the state after state rm does not keep the lease it took over: %+v, %v", st, err)
		}
		checkKept(t, st.Recoveries[0], "state rm", h2, true, false)
	})
}
