//go:build unix

package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"panka.dev/panka/statestore"
)

// TestHistoryRecordNotAFile: an entry of the history folder named as a
// record that is no record file — a folder, a symbolic link, a FIFO (a
// restore gone wrong, a hand "fix") — is an unreadable record, listed with
// its path like a truncated one. It was left out without a word: history
// skipped a deployment, and a newest one of them did not count when a
// lost state.json was restored or an apply numbered its record.
func TestHistoryRecordNotAFile(t *testing.T) {
	ctx := context.Background()
	s, dir := newLocalStore(t)
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	at := time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC)
	names := map[int64]string{}
	for serial := int64(1); serial <= 5; serial++ {
		d := &statestore.Deployment{ID: "d", Serial: serial, Operation: statestore.OpApply, Result: statestore.ResultSucceeded, StartedAt: at.Add(time.Duration(serial) * time.Hour)}
		name, err := statestore.HistoryName(d)
		if err != nil {
			t.Fatal(err)
		}
		names[serial] = name
		if serial == 1 || serial == 3 {
			if err := s.AppendHistory(ctx, k, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	hist := filepath.Join(dir, "state", filepath.FromSlash(statestore.HistoryPrefix("", k)))
	at2, at4, at5 := filepath.Join(hist, names[2]), filepath.Join(hist, names[4]), filepath.Join(hist, names[5])
	if err := os.Mkdir(at2, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(names[1], at4); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(at5, 0o644); err != nil {
		t.Fatal(err)
	}

	recs, err := s.History(ctx, k, 0, 0)
	bad, other := statestore.Unreadable(err)
	if other != nil || len(recs) != 2 || recs[0].Serial != 3 || recs[1].Serial != 1 {
		t.Fatalf("History = %d records, %v; want serials 3 and 1 with the others unreadable", len(recs), err)
	}
	want := map[int64]string{
		5: "history record " + at5 + " is not a regular file (p---------), not a record file: corrupt history record; it was left as it is: restore an earlier version of that record, or move it out of the history",
		4: "history record " + at4 + " is a symbolic link (to " + names[1] + "), which panka does not follow in a history: put the record file itself in its place, not a record file: corrupt history record",
		2: "history record " + at2 + " is a folder, not a record file: corrupt history record; it was left as it is",
	}
	if len(bad) != 3 {
		t.Fatalf("unreadable records %+v, want serials 5, 4, 2", bad)
	}
	for i, serial := range []int64{5, 4, 2} {
		b := bad[i]
		if b.Serial != serial || b.Location != filepath.Join(hist, names[serial]) || !errors.Is(b.Err, statestore.ErrCorrupt) || !strings.Contains(b.Err.Error(), want[serial]) {
			t.Errorf("unreadable record %d = serial %d at %s: %v\nwant serial %d: %s", i, b.Serial, b.Location, b.Err, serial, want[serial])
		}
	}
	if n, err := statestore.NewestSerial(ctx, s, k); err != nil || n != 5 {
		t.Errorf("NewestSerial = %d, %v; want 5, the FIFO's name", n, err)
	}
	if _, err := s.Deployment(ctx, k, 2); !errors.Is(err, statestore.ErrCorrupt) || !strings.Contains(err.Error(), "is a folder") {
		t.Errorf("Deployment(2) = %v, want the folder named", err)
	}
	if _, err := s.NewerHistory(ctx, k, 3, time.Time{}); !errors.Is(err, statestore.ErrCorrupt) || !strings.Contains(err.Error(), at5) {
		t.Errorf("NewerHistory(3) = %v, want the FIFO named (the newest record above serial 3)", err)
	}
}

// TestStateLinkToNothing: a state.json that is a symbolic link to nothing
// (a disk or share not mounted) is an error naming the link and its
// target, not "no state": plan said "nothing deployed yet" and apply
// planned every component anew.
func TestStateLinkToNothing(t *testing.T) {
	ctx := context.Background()
	s, dir := newLocalStore(t)
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	p := filepath.Join(dir, "state", filepath.FromSlash(statestore.StatePath("", k)))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "unmounted", "state.json")
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Get(ctx, k)
	if err == nil || errors.Is(err, statestore.ErrNotFound) ||
		!strings.Contains(err.Error(), "read state "+p+": it is a symbolic link to "+target+", which does not exist (a disk or share not mounted, a file moved)") {
		t.Fatalf("Get of a state.json linked to nothing: %v", err)
	}
}
