package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"panka.dev/panka/locker"
	"panka.dev/panka/statestore"
)

// TestDriftCheckLostLeaseRecordsNothing: drift detect whose lease was lost
// meanwhile (force-unlocked, here by another client, and possibly taken by
// another run) must not write the check to state: the new holder owns it,
// and a write here would make the new holder's own write fail after its
// engine ran. While the lease is held the check is recorded.
func TestDriftCheckLostLeaseRecordsNothing(t *testing.T) {
	ctx := context.Background()
	f, _, _, _ := lockTestFactory(t)
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	store, err := f.Store(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	key := statestore.Key{Stack: "shop", Environment: "dev"}
	if _, err := store.Put(ctx, key, &statestore.State{SchemaVersion: statestore.SchemaVersion, Serial: 1, Stack: "shop", Environment: "dev", Status: statestore.StatusDeployed}, ""); err != nil {
		t.Fatal(err)
	}
	checkedAt := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	rep := driftReport{Stack: "shop", Environment: "dev", CheckedAt: checkedAt, Drifted: []string{"web"}}

	lease, err := f.AcquireLease(ctx, cfg, "shop", "dev", "drift", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.ReleaseLease(lease)
	if err := recordDriftCheck(ctx, f, store, lease, key, rep); err != nil {
		t.Fatalf("record with the lease held: %v", err)
	}
	st, _, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Serial != 2 || st.LastDriftCheck == nil || !st.LastDriftCheck.At.Equal(checkedAt) {
		t.Fatalf("state after a check under the lease: serial %d, drift check %+v; want serial 2 with the check", st.Serial, st.LastDriftCheck)
	}

	other, err := f.Locker(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.ForceRelease(ctx, locker.Key("shop", "dev")); err != nil {
		t.Fatal(err)
	}
	rep.CheckedAt, rep.Drifted = checkedAt.Add(time.Hour), nil
	err = recordDriftCheck(ctx, f, store, lease, key, rep)
	if !errors.Is(err, locker.ErrLost) {
		t.Fatalf("record after a force unlock: %v, want ErrLost", err)
	}
	for _, want := range []string{"the drift check of shop/dev was not recorded in its state: the lock lease was lost", "see panka status --stack shop, then re-run panka drift detect"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	st, _, err = store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Serial != 2 || !st.LastDriftCheck.At.Equal(checkedAt) {
		t.Fatalf("state after a check with a lost lease: serial %d, drift check %+v; want serial 2 and the earlier check, untouched", st.Serial, st.LastDriftCheck)
	}
}
