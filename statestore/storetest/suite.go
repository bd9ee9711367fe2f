package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"panka.dev/panka/statestore"
)

// Instance is one fresh, empty backend location (a new bucket or directory).
type Instance struct {
	// Open returns a new store over the instance with a key prefix
	// (backend.prefix), with its own client where the backend has one.
	// Stores opened with different prefixes share the location, so the
	// suite can check that prefixes are isolated; the race tests give every
	// writer its own store.
	Open func(prefix string) (statestore.Store, error)
	// WriteRaw stores data at path (slash-separated, relative to the bucket
	// or the state directory, prefix included), bypassing the store: the
	// suite uses it to plant corrupt objects.
	WriteRaw func(path string, data []byte) error
	// Where returns how the backend names path in its errors (s3://bucket/key,
	// a file path), so the suite can check errors say where.
	Where func(path string) string
}

// Options tune the suite for a backend.
type Options struct {
	// RaceWriters and RaceRounds size the "one winner per round" race: each
	// round every writer reads the same state and tries to write the next
	// serial. Defaults: 20 writers x 50 rounds = 1,000 racing writes.
	RaceWriters, RaceRounds int
	// UpdateWriters and UpdatesEach size the "no lost updates" race: every
	// writer retries its read-modify-write until it has UpdatesEach
	// successes. Defaults: 8 x 15.
	UpdateWriters, UpdatesEach int
}

// Run runs every conformance subtest against fresh instances from newInstance.
func Run(t *testing.T, newInstance func(t *testing.T) Instance, opts Options) {
	if opts.RaceWriters <= 0 {
		opts.RaceWriters = 20
	}
	if opts.RaceRounds <= 0 {
		opts.RaceRounds = 50
	}
	if opts.UpdateWriters <= 0 {
		opts.UpdateWriters = 8
	}
	if opts.UpdatesEach <= 0 {
		opts.UpdatesEach = 15
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, in Instance, o Options)
	}{
		{"GetMissing", testGetMissing},
		{"PutGetRoundTrip", testRoundTrip},
		{"CASConflict", testCASConflict},
		{"CreateOnlyConflict", testCreateOnly},
		{"Delete", testDelete},
		{"HistoryOrderAndPaging", testHistoryPaging},
		{"HistoryOrderUnderClockSkew", testHistoryClockSkew},
		{"HistoryNewestPages", testHistoryNewestPages},
		{"DeploymentBySerial", testDeploymentBySerial},
		{"NewerHistory", testNewerHistory},
		{"RemoveHistory", testRemoveHistory},
		{"HistoryWhileRecordsWithdrawn", testHistoryWhileWithdrawn},
		{"List", testList},
		{"PrefixesIsolated", testPrefixes},
		{"CorruptObject", testCorrupt},
		{"HistoryRecordFolder", testHistoryRecordFolder},
		{"StateFolder", testStateFolder},
		{"SerialMark", testSerialMark},
		{"SerialMarkRace", testSerialMarkRace},
		{"FutureSchema", testFutureSchema},
		{"BadNames", testBadNames},
		{"RaceOneWinnerPerRound", testRaceRounds},
		{"RaceNoLostUpdates", testRaceNoLostUpdates},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newInstance(t), opts)
		})
	}
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)

func open(t *testing.T, in Instance, prefix string) statestore.Store {
	t.Helper()
	s, err := in.Open(prefix)
	if err != nil {
		t.Fatalf("open store with prefix %q: %v", prefix, err)
	}
	return s
}

func newState(key statestore.Key, serial int64) *statestore.State {
	return &statestore.State{
		SchemaVersion: statestore.SchemaVersion,
		Serial:        serial,
		Stack:         key.Stack,
		Environment:   key.Environment,
		Status:        statestore.StatusDeployed,
		Spec:          json.RawMessage(`{"stack":"` + key.Stack + `","components":[{"name":"api"}]}`),
		Outputs:       map[string]map[string]any{"api": {"url": "http://api.example", "port": float64(8080)}},
		Resources:     statestore.ResourceSummary{Components: 1, Resources: 3, ByKind: map[string]int{"MicroService": 1}},
		UpdatedAt:     base.Add(time.Duration(serial) * time.Minute),
	}
}

func newDeployment(key statestore.Key, serial int64, at time.Time) *statestore.Deployment {
	return &statestore.Deployment{
		SchemaVersion: statestore.SchemaVersion,
		ID:            fmt.Sprintf("dep-%d", serial),
		Serial:        serial,
		Stack:         key.Stack,
		Environment:   key.Environment,
		Operation:     statestore.OpApply,
		Commit:        strings.Repeat(fmt.Sprintf("%x", serial%16), 40),
		Ref:           "refs/heads/main",
		CommitAuthor:  "Dev <dev@example.com>",
		User:          "dev",
		Host:          "host",
		PankaVersion:  "test",
		Vars:          map[string]string{"TAG": "v1"},
		StartedAt:     at,
		EndedAt:       at.Add(time.Second),
		Result:        statestore.ResultSucceeded,
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %q", what, err, target)
	}
}

var ctx = context.Background()

func testGetMissing(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	st, v, err := s.Get(ctx, key)
	wantErr(t, "Get of missing state", err, statestore.ErrNotFound)
	if st != nil || v != "" {
		t.Fatalf("Get of missing state returned %v, %q", st, v)
	}
	if !strings.Contains(err.Error(), "orders/dev") {
		t.Errorf("error %q does not name the stack/environment", err)
	}
	h, err := s.History(ctx, key, 0, 0)
	if err != nil || len(h) != 0 {
		t.Fatalf("History of missing state = %v, %v; want empty, nil", h, err)
	}
	_, err = s.Deployment(ctx, key, 1)
	wantErr(t, "Deployment of missing state", err, statestore.ErrNotFound)
	keys, err := s.List(ctx)
	if err != nil || len(keys) != 0 {
		t.Fatalf("List of empty store = %v, %v", keys, err)
	}
	err = s.Delete(ctx, key, "")
	wantErr(t, "Delete of missing state", err, statestore.ErrNotFound)
}

func testRoundTrip(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	want := newState(key, 1)
	want.LastDeployment = newDeployment(key, 1, base)
	want.LastDriftCheck = &statestore.DriftCheck{At: base, Drifted: []string{"api"}}
	v1, err := s.Put(ctx, key, want, "")
	if err != nil {
		t.Fatalf("first Put: %v", err)
	}
	if v1 == "" {
		t.Fatal("Put returned an empty version")
	}
	got, gv, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if gv != v1 {
		t.Errorf("Get version %q, Put returned %q", gv, v1)
	}
	if a, b := jsonOf(t, got), jsonOf(t, want); a != b {
		t.Errorf("round trip changed the state:\n got %s\nwant %s", a, b)
	}
	// Fields the store fills in.
	bare := &statestore.State{Serial: 2, Status: statestore.StatusDeployed, UpdatedAt: base}
	v2, err := s.Put(ctx, key, bare, v1)
	if err != nil {
		t.Fatalf("second Put: %v", err)
	}
	if v2 == v1 {
		t.Errorf("version did not change after a write: %q", v2)
	}
	got, _, err = s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if got.SchemaVersion != statestore.SchemaVersion || got.Stack != "orders" || got.Environment != "dev" || got.Serial != 2 {
		t.Errorf("stored state = %+v, want schema %d, orders/dev, serial 2", got, statestore.SchemaVersion)
	}
	// A state that names another stack is refused.
	other := newState(statestore.Key{Stack: "billing", Environment: "dev"}, 3)
	if _, err := s.Put(ctx, key, other, v2); !errors.Is(err, statestore.ErrInvalidKey) {
		t.Errorf("Put of another stack's state: got %v, want ErrInvalidKey", err)
	}
}

func testCASConflict(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "prod"}
	if _, err := s.Put(ctx, key, newState(key, 1), "bogus-version"); !errors.Is(err, statestore.ErrConflict) {
		t.Fatalf("Put with a version on a missing key: got %v, want ErrConflict", err)
	}
	v1, err := s.Put(ctx, key, newState(key, 1), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		prev statestore.Version
	}{
		{"create over existing", ""},
		{"stale version", "0123456789abcdef"},
	} {
		_, err := s.Put(ctx, key, newState(key, 9), tc.prev)
		wantErr(t, tc.name, err, statestore.ErrConflict)
		var ce *statestore.ConflictError
		if !errors.As(err, &ce) || ce.Key != key || ce.Location == "" {
			t.Fatalf("%s: error %v is not a *ConflictError naming %s and a location", tc.name, err, key)
		}
	}
	v2, err := s.Put(ctx, key, newState(key, 2), v1)
	if err != nil {
		t.Fatalf("Put with the current version: %v", err)
	}
	if _, err := s.Put(ctx, key, newState(key, 3), v1); !errors.Is(err, statestore.ErrConflict) {
		t.Fatalf("Put with the replaced version: got %v, want ErrConflict", err)
	}
	got, gv, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial != 2 || gv != v2 {
		t.Fatalf("after conflicts the state is serial %d version %q, want 2 %q", got.Serial, gv, v2)
	}
}

func testCreateOnly(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	d := newDeployment(key, 1, base)
	if err := s.AppendHistory(ctx, key, d); err != nil {
		t.Fatalf("AppendHistory: %v", err)
	}
	// The identical record again (a retried request) is accepted.
	if err := s.AppendHistory(ctx, key, d); err != nil {
		t.Fatalf("AppendHistory of the identical record: %v", err)
	}
	other := newDeployment(key, 1, base)
	other.Result = statestore.ResultFailed
	other.Error = "boom"
	err := s.AppendHistory(ctx, key, other)
	wantErr(t, "AppendHistory over an existing record", err, statestore.ErrConflict)
	got, err := s.Deployment(ctx, key, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Result != statestore.ResultSucceeded || got.Error != "" {
		t.Fatalf("existing record was overwritten: %+v", got)
	}
	noTime := newDeployment(key, 2, time.Time{})
	noTime.EndedAt = time.Time{}
	if err := s.AppendHistory(ctx, key, noTime); err == nil {
		t.Fatal("AppendHistory of a record without times succeeded")
	}
	if err := s.AppendHistory(ctx, key, newDeployment(statestore.Key{Stack: "billing", Environment: "dev"}, 3, base)); !errors.Is(err, statestore.ErrInvalidKey) {
		t.Fatalf("AppendHistory of another stack's record: got %v, want ErrInvalidKey", err)
	}
}

func testDelete(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	v1, err := s.Put(ctx, key, newState(key, 1), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistory(ctx, key, newDeployment(key, 1, base)); err != nil {
		t.Fatal(err)
	}
	v2, err := s.Put(ctx, key, newState(key, 2), v1)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Delete with a stale version", s.Delete(ctx, key, v1), statestore.ErrConflict)
	if _, _, err := s.Get(ctx, key); err != nil {
		t.Fatalf("state gone after a refused delete: %v", err)
	}
	if err := s.Delete(ctx, key, v2); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, _, err = s.Get(ctx, key)
	wantErr(t, "Get after Delete", err, statestore.ErrNotFound)
	wantErr(t, "second Delete", s.Delete(ctx, key, v2), statestore.ErrNotFound)
	h, err := s.History(ctx, key, 0, 0)
	if err != nil || len(h) != 1 {
		t.Fatalf("history after Delete = %d records, %v; want 1 kept", len(h), err)
	}
	keys, err := s.List(ctx)
	if err != nil || len(keys) != 0 {
		t.Fatalf("List after Delete = %v, %v; want empty", keys, err)
	}
	if _, err := s.Put(ctx, key, newState(key, 3), ""); err != nil {
		t.Fatalf("create after Delete: %v", err)
	}
}

func testHistoryPaging(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	const n = 25
	order := rand.Perm(n)
	for _, i := range order {
		serial := int64(i + 1)
		// Times cross minute, hour and day boundaries; serial 9 and 10 share a
		// timestamp, so the serial decides.
		at := base.Add(time.Duration(i) * 7 * time.Hour)
		if i == 9 {
			at = base.Add(8 * 7 * time.Hour)
		}
		if err := s.AppendHistory(ctx, key, newDeployment(key, serial, at)); err != nil {
			t.Fatalf("AppendHistory serial %d: %v", serial, err)
		}
	}
	all, err := s.History(ctx, key, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("History returned %d records, want %d", len(all), n)
	}
	for i, d := range all {
		if want := int64(n - i); d.Serial != want {
			t.Fatalf("record %d has serial %d, want %d (newest first)", i, d.Serial, want)
		}
	}
	for _, tc := range []struct {
		offset, limit int
		want          []int64
	}{
		{0, 3, []int64{25, 24, 23}},
		{10, 10, []int64{15, 14, 13, 12, 11, 10, 9, 8, 7, 6}},
		{22, 10, []int64{3, 2, 1}},
		{25, 10, nil},
		{100, 0, nil},
		{24, 0, []int64{1}},
	} {
		got, err := s.History(ctx, key, tc.offset, tc.limit)
		if err != nil {
			t.Fatalf("History(%d, %d): %v", tc.offset, tc.limit, err)
		}
		var serials []int64
		for _, d := range got {
			serials = append(serials, d.Serial)
		}
		if fmt.Sprint(serials) != fmt.Sprint(tc.want) {
			t.Errorf("History(%d, %d) serials = %v, want %v", tc.offset, tc.limit, serials, tc.want)
		}
	}
}

// testHistoryClockSkew: records are ordered by serial, the order of the
// compare-and-swap writes, not by the start time in their names, which is
// the writer's clock: two CI runners whose clocks disagree write serial 6
// with an earlier time than serial 5. The time only orders records of the
// same serial (a deployment whose state write lost and a later one).
func testHistoryClockSkew(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	recs := []*statestore.Deployment{
		newDeployment(key, 4, base),
		newDeployment(key, 5, base.Add(10*time.Minute)),
		newDeployment(key, 6, base.Add(2*time.Minute)), // a runner whose clock is 8 minutes behind
		newDeployment(key, 7, base.Add(11*time.Minute)),
		newDeployment(key, 8, base.Add(-time.Hour)), // ... and one an hour behind
		newDeployment(key, 9, base.Add(12*time.Minute)),
		newDeployment(key, 9, base.Add(13*time.Minute)), // same serial: the later time is newer
		newDeployment(key, 10, base.Add(-48*time.Hour)),
	}
	recs[6].ID = "dep-9b"
	for _, i := range rand.Perm(len(recs)) {
		if err := s.AppendHistory(ctx, key, recs[i]); err != nil {
			t.Fatalf("AppendHistory serial %d: %v", recs[i].Serial, err)
		}
	}
	ids := func(ds []*statestore.Deployment) string {
		var out []string
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		offset, limit int
		want          string
	}{
		{0, 0, "dep-10 dep-9b dep-9 dep-8 dep-7 dep-6 dep-5 dep-4"},
		{0, 1, "dep-10"},
		{1, 2, "dep-9b dep-9"},
		{3, 3, "dep-8 dep-7 dep-6"},
		{6, 5, "dep-5 dep-4"},
	} {
		got, err := s.History(ctx, key, tc.offset, tc.limit)
		if err != nil {
			t.Fatalf("History(%d, %d): %v", tc.offset, tc.limit, err)
		}
		if g := ids(got); g != tc.want {
			t.Errorf("History(%d, %d) = %s, want %s (newest serial first)", tc.offset, tc.limit, g, tc.want)
		}
	}
	got, err := s.Deployment(ctx, key, 6)
	if err != nil || got.ID != "dep-6" {
		t.Errorf("Deployment(6) = %v, %v; want dep-6", got, err)
	}
}

// testHistoryNewestPages: pages of a long history that reaches up to now
// (where a backend may list only the recent records for a page with a
// limit) are the pages of the whole history, also with clocks days apart
// and records of one serial twice; and past the recent records, as far as
// the oldest.
func testHistoryNewestPages(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	now := time.Now().UTC()
	const n = 120
	var recs []*statestore.Deployment
	for i := 1; i <= n; i++ {
		// One every 2 days up to an hour ago.
		recs = append(recs, newDeployment(key, int64(i), now.Add(-time.Hour-time.Duration(n-i)*48*time.Hour)))
	}
	recs[n-1].StartedAt = now.Add(-5 * 24 * time.Hour) // the newest written by a clock days behind
	recs[n-3].StartedAt = now.Add(time.Hour)           // ... and one ahead
	again := newDeployment(key, int64(n-10), recs[n-11].StartedAt.Add(time.Minute))
	again.ID = "dep-again" // a record of a withdrawn state write, and the next one
	recs = append(recs, again)
	for _, d := range recs {
		if err := s.AppendHistory(ctx, key, d); err != nil {
			t.Fatalf("AppendHistory serial %d: %v", d.Serial, err)
		}
	}
	all, err := s.History(ctx, key, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(recs) || all[0].Serial != n {
		t.Fatalf("History: %d records, newest serial %d; want %d and %d", len(all), all[0].Serial, len(recs), n)
	}
	ids := func(ds []*statestore.Deployment) string {
		var out []string
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return strings.Join(out, " ")
	}
	for _, p := range []struct{ offset, limit int }{{0, 1}, {0, 3}, {0, 20}, {1, 5}, {8, 5}, {30, 20}, {110, 20}, {0, 500}} {
		got, err := s.History(ctx, key, p.offset, p.limit)
		if err != nil {
			t.Fatalf("History(%d, %d): %v", p.offset, p.limit, err)
		}
		lo, hi := statestore.Page(len(all), p.offset, p.limit)
		if g, w := ids(got), ids(all[lo:hi]); g != w {
			t.Errorf("History(%d, %d) = %s\nwant the same page of the whole history: %s", p.offset, p.limit, g, w)
		}
	}
}

// testNewerHistory: the record ahead of a state is found among the records
// named since a time (the highest serial above the given one, the later
// time of two with that serial), whatever the order of the names; a record
// named before that time is not looked at (that is what keeps the check
// cheap on a long history), and nothing ahead gives nil.
func testNewerHistory(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	if d, err := s.NewerHistory(ctx, key, 0, time.Time{}); err != nil || d != nil {
		t.Fatalf("NewerHistory with no history = %v, %v; want nil", d, err)
	}
	var recs []*statestore.Deployment
	for i := int64(1); i <= 30; i++ {
		recs = append(recs, newDeployment(key, i, base.Add(time.Duration(i)*6*time.Hour)))
	}
	recs = append(recs,
		newDeployment(key, 31, base.Add(30*6*time.Hour-3*time.Hour)), // a runner whose clock is behind
		newDeployment(key, 31, base.Add(30*6*time.Hour-2*time.Hour)), // same serial, later: the newer
		newDeployment(key, 40, base.Add(-72*time.Hour)),              // named long before
	)
	recs[31].ID = "dep-31b"
	for _, i := range rand.Perm(len(recs)) {
		if err := s.AppendHistory(ctx, key, recs[i]); err != nil {
			t.Fatalf("AppendHistory serial %d: %v", recs[i].Serial, err)
		}
	}
	since := base.Add(29 * 6 * time.Hour)
	for _, tc := range []struct {
		serial int64
		since  time.Time
		want   string
	}{
		{30, since, "dep-31b"},
		{29, since, "dep-31b"},
		{31, since, ""},
		{31, time.Time{}, "dep-40"},
		{40, time.Time{}, ""},
		{5, base.Add(24 * time.Hour), "dep-31b"},
	} {
		d, err := s.NewerHistory(ctx, key, tc.serial, tc.since)
		if err != nil {
			t.Fatalf("NewerHistory(%d, %s): %v", tc.serial, tc.since, err)
		}
		got := ""
		if d != nil {
			got = d.ID
		}
		if got != tc.want {
			t.Errorf("NewerHistory(%d, %s) = %q, want %q", tc.serial, tc.since, got, tc.want)
		}
	}
	if d, err := s.NewerHistory(ctx, statestore.Key{Stack: "orders", Environment: "prod"}, 0, time.Time{}); err != nil || d != nil {
		t.Errorf("NewerHistory of another environment = %v, %v; want nil", d, err)
	}
	_, err := s.NewerHistory(ctx, statestore.Key{Stack: "Orders", Environment: "dev"}, 0, time.Time{})
	wantErr(t, "NewerHistory of an invalid key", err, statestore.ErrInvalidKey)
}

func testDeploymentBySerial(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	for i := int64(1); i <= 12; i++ {
		if err := s.AppendHistory(ctx, key, newDeployment(key, i, base.Add(time.Duration(i)*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	want := newDeployment(key, 7, base.Add(7*time.Hour))
	got, err := s.Deployment(ctx, key, 7)
	if err != nil {
		t.Fatalf("Deployment(7): %v", err)
	}
	if a, b := jsonOf(t, got), jsonOf(t, want); a != b {
		t.Errorf("Deployment(7):\n got %s\nwant %s", a, b)
	}
	_, err = s.Deployment(ctx, key, 13)
	wantErr(t, "Deployment(13)", err, statestore.ErrNotFound)
	_, err = s.Deployment(ctx, statestore.Key{Stack: "orders", Environment: "prod"}, 7)
	wantErr(t, "Deployment of another environment", err, statestore.ErrNotFound)
}

// testRemoveHistory: RemoveHistory withdraws exactly the record it is given
// (found by name, checked by ID), through a second client as a deployment
// would; another deployment's record under that name, the neighbours, the
// state and other prefixes are left alone; removing again is harmless.
func testRemoveHistory(t *testing.T, in Instance, _ Options) {
	writer, remover := open(t, in, ""), open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	if _, err := writer.Put(ctx, key, newState(key, 2), ""); err != nil {
		t.Fatal(err)
	}
	var recs []*statestore.Deployment
	for i := int64(1); i <= 3; i++ {
		d := newDeployment(key, i, base.Add(time.Duration(i)*time.Minute))
		recs = append(recs, d)
		if err := writer.AppendHistory(ctx, key, d); err != nil {
			t.Fatal(err)
		}
	}
	other := open(t, in, "team-b")
	if err := other.AppendHistory(ctx, key, recs[2]); err != nil {
		t.Fatal(err)
	}
	serials := func(s statestore.Store) string {
		t.Helper()
		h, err := s.History(ctx, key, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, d := range h {
			out = append(out, d.Serial)
		}
		return fmt.Sprint(out)
	}

	// Same name, another deployment: refused, the record stays.
	impostor := newDeployment(key, 3, recs[2].StartedAt)
	impostor.ID = "dep-someone-else"
	err := remover.RemoveHistory(ctx, key, impostor)
	wantErr(t, "RemoveHistory of another deployment's record", err, statestore.ErrConflict)
	name, _ := statestore.HistoryName(recs[2])
	if where := in.Where(statestore.HistoryPrefix("", key) + name); !strings.Contains(err.Error(), where) {
		t.Errorf("RemoveHistory error %q does not name %s", err, where)
	}
	if got := serials(writer); got != "[3 2 1]" {
		t.Fatalf("history after a refused removal = %s, want [3 2 1]", got)
	}

	if err := remover.RemoveHistory(ctx, key, recs[2]); err != nil {
		t.Fatalf("RemoveHistory: %v", err)
	}
	if got := serials(writer); got != "[2 1]" {
		t.Fatalf("history after RemoveHistory of serial 3 = %s, want [2 1]", got)
	}
	_, err = writer.Deployment(ctx, key, 3)
	wantErr(t, "Deployment of the removed record", err, statestore.ErrNotFound)
	if got := serials(other); got != "[3]" {
		t.Errorf("history under another prefix = %s, want [3] (untouched)", got)
	}
	if st, _, err := writer.Get(ctx, key); err != nil || st.Serial != 2 {
		t.Errorf("state after RemoveHistory: %+v, %v; want serial 2, untouched", st, err)
	}
	// Again (a retried request), and a record that never existed: no error.
	if err := remover.RemoveHistory(ctx, key, recs[2]); err != nil {
		t.Errorf("RemoveHistory of a removed record: %v", err)
	}
	if err := remover.RemoveHistory(ctx, key, newDeployment(key, 9, base.Add(time.Hour))); err != nil {
		t.Errorf("RemoveHistory of a record never stored: %v", err)
	}
	// A later deployment appends under a new name as usual.
	if err := writer.AppendHistory(ctx, key, newDeployment(key, 3, base.Add(time.Hour))); err != nil {
		t.Fatalf("AppendHistory after RemoveHistory: %v", err)
	}
	if got := serials(writer); got != "[3 2 1]" {
		t.Fatalf("history after a new record = %s, want [3 2 1]", got)
	}
	if err := remover.RemoveHistory(ctx, key, &statestore.Deployment{Serial: 1, StartedAt: recs[0].StartedAt}); err == nil || errors.Is(err, statestore.ErrNotFound) {
		t.Errorf("RemoveHistory of a record without an ID: %v, want a refusal", err)
	}
	if got := serials(writer); got != "[3 2 1]" {
		t.Fatalf("history after refusing a record without ID = %s, want [3 2 1]", got)
	}
}

// testHistoryWhileWithdrawn: readers of the history while an apply appends
// and withdraws its record (RemoveHistory) never fail with the record
// listed and gone before it was read, and always see the records that
// stay.
func testHistoryWhileWithdrawn(t *testing.T, in Instance, _ Options) {
	writer, reader := open(t, in, ""), open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	for i := int64(1); i <= 3; i++ {
		if err := writer.AppendHistory(ctx, key, newDeployment(key, i, base.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	churned := make(chan error, 1)
	go func() {
		for i := int64(4); ; i++ {
			select {
			case <-stop:
				churned <- nil
				return
			default:
			}
			d := newDeployment(key, i, base.Add(time.Hour))
			if err := writer.AppendHistory(ctx, key, d); err != nil {
				churned <- err
				return
			}
			if err := writer.RemoveHistory(ctx, key, d); err != nil {
				churned <- err
				return
			}
		}
	}()
	defer func() {
		close(stop)
		if err := <-churned; err != nil {
			t.Errorf("append and withdraw: %v", err)
		}
	}()
	for range 100 {
		h, err := reader.History(ctx, key, 0, 0)
		if err != nil {
			t.Fatalf("History while a record is withdrawn: %v", err)
		}
		if n := len(h); n < 3 || h[n-1].Serial != 1 || h[n-2].Serial != 2 || h[n-3].Serial != 3 {
			t.Fatalf("History while a record is withdrawn lost a record that stays: %d records", n)
		}
		if _, err := reader.History(ctx, key, 0, 1); err != nil {
			t.Fatalf("History (newest) while a record is withdrawn: %v", err)
		}
		if _, err := reader.NewerHistory(ctx, key, 3, time.Time{}); err != nil {
			t.Fatalf("NewerHistory while a record is withdrawn: %v", err)
		}
	}
}

func testList(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	keys := []statestore.Key{{Stack: "orders", Environment: "prod"}, {Stack: "billing", Environment: "dev"}, {Stack: "orders", Environment: "dev"}, {Stack: "a1", Environment: "x"}}
	for _, k := range keys {
		if _, err := s.Put(ctx, k, newState(k, 1), ""); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendHistory(ctx, k, newDeployment(k, 1, base)); err != nil {
			t.Fatal(err)
		}
	}
	// History without state is not listed.
	hk := statestore.Key{Stack: "zeta", Environment: "dev"}
	if err := s.AppendHistory(ctx, hk, newDeployment(hk, 1, base)); err != nil {
		t.Fatal(err)
	}
	// Other files under a stack/environment (the Pulumi backend) are ignored.
	if err := in.WriteRaw(statestore.PulumiPrefix("", keys[0])+"state.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "[a1/x billing/dev orders/dev orders/prod]"
	if fmt.Sprint(got) != want {
		t.Fatalf("List = %v, want %s", got, want)
	}
	// ListStack: one stack's part of List. A stack with only history, or
	// with a stray file and no environment, or none at all has nothing; a
	// prefix of a stack's name ("order") is not that stack.
	if err := in.WriteRaw("stacks/orders-x/stray", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for stack, want := range map[string]string{"orders": "[orders/dev orders/prod]", "a1": "[a1/x]", "zeta": "[]", "nope": "[]", "order": "[]", "orders-x": "[]"} {
		got, err := s.ListStack(ctx, stack)
		if err != nil {
			t.Fatalf("ListStack(%q): %v", stack, err)
		}
		if fmt.Sprint(got) != want {
			t.Errorf("ListStack(%q) = %v, want %s", stack, got, want)
		}
	}
	// StackNames: every stack List has, sorted, once each; a store that
	// lists by prefix may add those with only history or a stray file.
	names, err := statestore.StackNames(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	rest := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "zeta" || n == "orders-x" })
	if fmt.Sprint(rest) != "[a1 billing orders]" || !slices.IsSorted(names) {
		t.Errorf("StackNames = %v, want [a1 billing orders] (zeta and orders-x allowed), sorted", names)
	}
}

func testPrefixes(t *testing.T, in Instance, _ Options) {
	a := open(t, in, "team-a")
	b := open(t, in, "team-b/")
	root := open(t, in, "")
	nested := open(t, in, "team-a/sub")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	stA := newState(key, 5)
	if _, err := a.Put(ctx, key, stA, ""); err != nil {
		t.Fatal(err)
	}
	if err := a.AppendHistory(ctx, key, newDeployment(key, 5, base)); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]statestore.Store{"team-b": b, "no prefix": root, "team-a/sub": nested} {
		if _, _, err := s.Get(ctx, key); !errors.Is(err, statestore.ErrNotFound) {
			t.Errorf("%s sees team-a's state: %v", name, err)
		}
		if h, err := s.History(ctx, key, 0, 0); err != nil || len(h) != 0 {
			t.Errorf("%s sees team-a's history: %d records, %v", name, len(h), err)
		}
		if keys, err := s.List(ctx); err != nil || len(keys) != 0 {
			t.Errorf("%s lists team-a's state: %v, %v", name, keys, err)
		}
	}
	// team-b writes the same key independently.
	if _, err := b.Put(ctx, key, newState(key, 1), ""); err != nil {
		t.Fatalf("team-b create of a key team-a has: %v", err)
	}
	got, _, err := a.Get(ctx, key)
	if err != nil || got.Serial != 5 {
		t.Fatalf("team-a state after team-b's write: %+v, %v", got, err)
	}
	gotB, _, err := b.Get(ctx, key)
	if err != nil || gotB.Serial != 1 {
		t.Fatalf("team-b state: %+v, %v", gotB, err)
	}
	if _, err := in.Open("../escape"); !errors.Is(err, statestore.ErrInvalidKey) {
		t.Errorf("Open with prefix ../escape: got %v, want ErrInvalidKey", err)
	}
}

func testCorrupt(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	good := newState(statestore.Key{Stack: "orders", Environment: "dev"}, 1)
	goodJSON, _ := json.Marshal(good)
	for i, tc := range []struct {
		name string
		data string
	}{
		{"not json", "this is not json"},
		{"truncated", string(goodJSON[:len(goodJSON)/2])},
		{"empty", ""},
		{"no schema", `{"serial": 3, "stack": "s1", "environment": "dev"}`},
		{"wrong types", `{"schemaVersion": 1, "serial": "three"}`},
		{"another stack", strings.Replace(string(goodJSON), `"stack":"orders"`, `"stack":"billing"`, 1)},
	} {
		key := statestore.Key{Stack: fmt.Sprintf("s%d", i), Environment: "dev"}
		data := strings.ReplaceAll(tc.data, `"stack":"orders"`, `"stack":"`+key.Stack+`"`)
		if tc.name == "another stack" {
			data = tc.data
		}
		path := statestore.StatePath("", key)
		if err := in.WriteRaw(path, []byte(data)); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.Get(ctx, key)
		wantErr(t, tc.name, err, statestore.ErrCorrupt)
		if where := in.Where(path); !strings.Contains(err.Error(), where) {
			t.Errorf("%s: error %q does not name %s", tc.name, err, where)
		}
		// Never overwritten: a create fails, and the object stays corrupt.
		if _, err := s.Put(ctx, key, newState(key, 1), ""); !errors.Is(err, statestore.ErrConflict) {
			t.Errorf("%s: create over a corrupt state: got %v, want ErrConflict", tc.name, err)
		}
		_, v, err := s.Get(ctx, key)
		if !errors.Is(err, statestore.ErrCorrupt) {
			t.Errorf("%s: after a refused write Get gives %v, want still ErrCorrupt", tc.name, err)
		}
		// A deliberate repair (state push --force) replaces it by
		// compare-and-swap on the version Get returned with the error.
		if v == "" {
			t.Errorf("%s: Get of a corrupt state returned no version; nothing could replace it", tc.name)
			continue
		}
		if _, err := s.Put(ctx, key, newState(key, 1), v); err != nil {
			t.Errorf("%s: replace the corrupt state with its version: %v", tc.name, err)
		}
		if st, _, err := s.Get(ctx, key); err != nil || st.Serial != 1 {
			t.Errorf("%s: after the repair Get gives %+v, %v", tc.name, st, err)
		}
	}
	// A corrupt history record is reported by History and Deployment.
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	if err := s.AppendHistory(ctx, key, newDeployment(key, 1, base)); err != nil {
		t.Fatal(err)
	}
	bad := newDeployment(key, 2, base.Add(time.Hour))
	name, err := statestore.HistoryName(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.WriteRaw(statestore.HistoryPrefix("", key)+name, []byte(`{"schemaVersion":1,"serial":`)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistory(ctx, key, newDeployment(key, 3, base.Add(2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	recs, err := s.History(ctx, key, 0, 0)
	wantErr(t, "History with a truncated record", err, statestore.ErrCorrupt)
	// The records around it are read all the same, and the error names
	// the one that is not, by its serial, time and location.
	wantUnreadable(t, "History with a truncated record", recs, err, []int64{3, 1}, 2, base.Add(time.Hour), in.Where(statestore.HistoryPrefix("", key)+name))
	recs, err = s.History(ctx, key, 1, 1)
	wantUnreadable(t, "History page of the truncated record alone", recs, err, nil, 2, base.Add(time.Hour), in.Where(statestore.HistoryPrefix("", key)+name))
	if recs, err := s.History(ctx, key, 2, 1); err != nil || len(recs) != 1 || recs[0].Serial != 1 {
		t.Errorf("History page past the truncated record: %v, %v", recs, err)
	}
	_, err = s.Deployment(ctx, key, 2)
	wantErr(t, "Deployment of a truncated record", err, statestore.ErrCorrupt)
	if d, err := s.Deployment(ctx, key, 1); err != nil || d.Serial != 1 {
		t.Errorf("Deployment(1) next to a corrupt record: %v, %v", d, err)
	}
	// A record whose serial is not the one its name says (edited by hand,
	// or copied under another record's name) is corrupt too: it was listed
	// by the serial inside, out of order and not found by Deployment.
	other := statestore.Key{Stack: "orders", Environment: "staging"}
	if err := s.AppendHistory(ctx, other, newDeployment(other, 1, base)); err != nil {
		t.Fatal(err)
	}
	renamed := newDeployment(other, 9, base.Add(time.Hour))
	data, err := statestore.EncodeDeployment(renamed, other)
	if err != nil {
		t.Fatal(err)
	}
	renamed.Serial = 2
	name, err = statestore.HistoryName(renamed)
	if err != nil {
		t.Fatal(err)
	}
	path := statestore.HistoryPrefix("", other) + name
	if err := in.WriteRaw(path, data); err != nil {
		t.Fatal(err)
	}
	_, err = s.History(ctx, other, 0, 0)
	wantErr(t, "History with a record named for another serial", err, statestore.ErrCorrupt)
	if err != nil && (!strings.Contains(err.Error(), in.Where(path)) || !strings.Contains(err.Error(), "holds serial 9, but its name says serial 2")) {
		t.Errorf("History error %q does not name %s and both serials", err, in.Where(path))
	}
	_, err = s.Deployment(ctx, other, 2)
	wantErr(t, "Deployment of a record named for another serial", err, statestore.ErrCorrupt)
	_, err = s.NewerHistory(ctx, other, 1, time.Time{})
	wantErr(t, "NewerHistory with a record named for another serial", err, statestore.ErrCorrupt)
}

// testStateFolder: a folder where state.json belongs, holding the state
// file (a restore into the wrong place: `aws s3 cp FILE
// s3://.../state.json/`, `cp -r` into a directory locally), read as "no
// state" on S3: plan said "nothing deployed yet", and on versitygw every
// create failed as a conflict to re-run. Get is ErrCorrupt naming the
// folder, what it holds and how to put the file in its place; List lists
// it, so that state list shows it unreadable; a create there either works
// (AWS S3 keeps both keys) or fails saying the same, never as a conflict.
func testStateFolder(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	path := statestore.StatePath("", key)
	data, err := statestore.EncodeState(newState(key, 1), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.WriteRaw(path+"/state.json", data); err != nil {
		t.Fatal(err)
	}
	_, v, err := s.Get(ctx, key)
	wantErr(t, "Get of a folder named state.json", err, statestore.ErrCorrupt)
	if errors.Is(err, statestore.ErrNotFound) || v != "" {
		t.Errorf("Get of a folder named state.json: version %q, %v; want no version, not ErrNotFound", v, err)
	}
	for _, want := range []string{"state " + in.Where(path) + " is a ", "not a state file", in.Where(path + "/state.json"), "then re-run"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Get of a folder named state.json: %v; want it to say %q", err, want)
		}
	}
	if keys, err := s.List(ctx); err != nil || !slices.Contains(keys, key) {
		t.Errorf("List with a folder named state.json: %v, %v; want %s listed", keys, err, key)
	}
	if keys, err := s.ListStack(ctx, key.Stack); err != nil || !slices.Contains(keys, key) {
		t.Errorf("ListStack with a folder named state.json: %v, %v; want %s listed", keys, err, key)
	}
	if _, err := s.Put(ctx, key, newState(key, 1), ""); err != nil && (errors.Is(err, statestore.ErrConflict) || !strings.Contains(err.Error(), "not a state file")) {
		t.Errorf("create of a state where a folder of its name is: %v; want it written or refused naming the folder, not a conflict", err)
	}
}

// testSerialMark: the serial mark of writes without a history record
// reads 0 until set, then the serial last marked; it is no state (List
// leaves a stack/environment with only a mark out); one that does not
// parse is ErrCorrupt naming it.
func testSerialMark(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	if n, err := s.MarkedSerial(ctx, key); err != nil || n != 0 {
		t.Fatalf("MarkedSerial with no mark: %d, %v; want 0", n, err)
	}
	for _, serial := range []int64{7, 9} {
		if err := s.MarkSerial(ctx, key, serial); err != nil {
			t.Fatal(err)
		}
		if n, err := s.MarkedSerial(ctx, key); err != nil || n != serial {
			t.Fatalf("MarkedSerial after MarkSerial(%d): %d, %v", serial, n, err)
		}
	}
	// A late mark (a run that lost its lease meanwhile) of a lower
	// serial leaves the higher one: the mark never goes down.
	if err := s.MarkSerial(ctx, key, 8); err != nil {
		t.Fatal(err)
	}
	if n, err := s.MarkedSerial(ctx, key); err != nil || n != 9 {
		t.Fatalf("MarkedSerial after MarkSerial(8) over 9: %d, %v; want 9 kept", n, err)
	}
	if keys, err := s.List(ctx); err != nil || len(keys) != 0 {
		t.Errorf("List with only a serial mark: %v, %v; want none", keys, err)
	}
	if keys, err := s.ListStack(ctx, key.Stack); err != nil || len(keys) != 0 {
		t.Errorf("ListStack with only a serial mark: %v, %v; want none", keys, err)
	}
	if _, _, err := s.Get(ctx, key); !errors.Is(err, statestore.ErrNotFound) {
		t.Errorf("Get with only a serial mark: %v; want ErrNotFound", err)
	}
	if err := s.MarkSerial(ctx, statestore.Key{Stack: "../x", Environment: "dev"}, 1); !errors.Is(err, statestore.ErrInvalidKey) {
		t.Errorf("MarkSerial of an invalid key: %v; want ErrInvalidKey", err)
	}
	path := statestore.SerialPath("", key)
	if err := in.WriteRaw(path, []byte(`{"serial": "nine"}`)); err != nil {
		t.Fatal(err)
	}
	_, err := s.MarkedSerial(ctx, key)
	wantErr(t, "MarkedSerial of a damaged mark", err, statestore.ErrCorrupt)
	if !strings.Contains(err.Error(), in.Where(path)) {
		t.Errorf("MarkedSerial of a damaged mark: %v; want it to name %s", err, in.Where(path))
	}
	// Compared with, so not written over: the serials it kept are unknown.
	wantErr(t, "MarkSerial over a damaged mark", s.MarkSerial(ctx, key, 10), statestore.ErrCorrupt)
}

// testSerialMarkRace: writers that mark at once (each its own store, as
// separate runs are: one whose lease was taken meanwhile marks late) leave
// the highest serial marked, whatever order their writes land in.
func testSerialMarkRace(t *testing.T, in Instance, _ Options) {
	key := statestore.Key{Stack: "orders", Environment: "race"}
	const writers = 6
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		s := open(t, in, "")
		wg.Go(func() {
			for serial := int64(writers - i); serial <= 3*writers; serial += writers {
				if err := s.MarkSerial(ctx, key, serial); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if n, err := open(t, in, "").MarkedSerial(ctx, key); err != nil || n != 3*writers {
		t.Fatalf("MarkedSerial after writers marked up to %d at once: %d, %v; want %d", 3*writers, n, err, 3*writers)
	}
}

// testHistoryRecordFolder: a folder named as a record (keys under the
// record's name, as a restore into the wrong place or the S3 console's
// "Create folder" leaves) is an unreadable record listed with its
// location, not a deployment left out without a word: as the newest, it
// still counts when an apply or state push numbers after the history.
func testHistoryRecordFolder(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	// Named recently, so that a History with a limit lists the recent
	// records first (S3) and finds the page there.
	at := time.Now().UTC().Add(-4 * time.Hour)
	hp := statestore.HistoryPrefix("", key)
	where := map[int64]string{}
	for serial := int64(1); serial <= 4; serial++ {
		d := newDeployment(key, serial, at.Add(time.Duration(serial)*time.Minute))
		if serial%2 == 1 {
			if err := s.AppendHistory(ctx, key, d); err != nil {
				t.Fatal(err)
			}
			continue
		}
		name, err := statestore.HistoryName(d)
		if err != nil {
			t.Fatal(err)
		}
		where[serial] = in.Where(hp + name)
		if err := in.WriteRaw(hp+name+"/restored.json", []byte(jsonOf(t, d))); err != nil {
			t.Fatal(err)
		}
	}
	isFolder := func(what string, b statestore.UnreadableRecord, serial int64) {
		t.Helper()
		if b.Serial != serial || !strings.HasPrefix(b.Location, where[serial]) || !errors.Is(b.Err, statestore.ErrCorrupt) ||
			!strings.Contains(b.Err.Error(), where[serial]) || !strings.Contains(b.Err.Error(), "is a folder") {
			t.Errorf("%s: unreadable record serial %d at %s: %v; want serial %d at %s, said to be a folder", what, b.Serial, b.Location, b.Err, serial, where[serial])
		}
	}
	recs, err := s.History(ctx, key, 0, 0)
	bad, other := statestore.Unreadable(err)
	if other != nil || len(recs) != 2 || recs[0].Serial != 3 || recs[1].Serial != 1 || len(bad) != 2 {
		t.Fatalf("History = %d records, %v; want serials 3 and 1, and 4 and 2 unreadable", len(recs), err)
	}
	isFolder("History", bad[0], 4)
	isFolder("History", bad[1], 2)
	recs, err = s.History(ctx, key, 0, 1)
	if bad, other := statestore.Unreadable(err); other != nil || len(recs) != 0 || len(bad) != 1 {
		t.Fatalf("History(limit 1) = %d records, %v; want the folder of serial 4 alone", len(recs), err)
	} else {
		isFolder("History(limit 1)", bad[0], 4)
	}
	if n, err := statestore.NewestSerial(ctx, s, key); err != nil || n != 4 {
		t.Errorf("NewestSerial = %d, %v; want 4, the folder's name", n, err)
	}
	if _, err := s.Deployment(ctx, key, 2); !errors.Is(err, statestore.ErrCorrupt) || !strings.Contains(err.Error(), where[2]) {
		t.Errorf("Deployment(2) = %v, want ErrCorrupt naming %s", err, where[2])
	}
	if _, err := s.NewerHistory(ctx, key, 3, time.Time{}); !errors.Is(err, statestore.ErrCorrupt) || !strings.Contains(err.Error(), where[4]) {
		t.Errorf("NewerHistory(3) = %v, want ErrCorrupt naming %s, the newest record", err, where[4])
	}
}

// wantUnreadable checks what History returned when one record (serial,
// named at, stored at where) cannot be read: the others (want, their
// serials in order) and an *UnreadableError naming it.
func wantUnreadable(t *testing.T, what string, recs []*statestore.Deployment, err error, want []int64, serial int64, at time.Time, where string) {
	t.Helper()
	var got []int64
	for _, d := range recs {
		got = append(got, d.Serial)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: read serials %v, want %v", what, got, want)
	}
	bad, other := statestore.Unreadable(err)
	if other != nil || len(bad) != 1 {
		t.Fatalf("%s: got %v, want an *UnreadableError naming one record", what, err)
	}
	if b := bad[0]; b.Serial != serial || !b.Named.Equal(at.Truncate(time.Nanosecond)) || b.Location != where || !strings.Contains(b.Err.Error(), where) {
		t.Errorf("%s: unreadable record %+v, want serial %d named at %s, at %s", what, b, serial, at, where)
	}
}

func testFutureSchema(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	path := statestore.StatePath("", key)
	future := `{"schemaVersion": 99, "serial": 7, "stack": "orders", "environment": "dev", "newField": {"x": 1}, "resources": "changed shape"}`
	if err := in.WriteRaw(path, []byte(future)); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Get(ctx, key)
	wantErr(t, "Get of a future schema", err, statestore.ErrFutureSchema)
	if !strings.Contains(err.Error(), in.Where(path)) || !strings.Contains(err.Error(), "99") {
		t.Errorf("future schema error %q does not name %s and the version", err, in.Where(path))
	}
	if _, err := s.Put(ctx, key, newState(key, 8), ""); !errors.Is(err, statestore.ErrConflict) {
		t.Errorf("create over a future-schema state: got %v, want ErrConflict", err)
	}
	st := newState(key, 8)
	st.SchemaVersion = 99
	if _, err := s.Put(ctx, statestore.Key{Stack: "other", Environment: "dev"}, st, ""); err == nil {
		t.Error("Put of a state claiming a future schema succeeded")
	}
	// A history record of a newer schema is unreadable, not the end of
	// the history: the others are read.
	if err := s.AppendHistory(ctx, key, newDeployment(key, 1, base)); err != nil {
		t.Fatal(err)
	}
	d := newDeployment(key, 2, base.Add(time.Minute))
	name, err := statestore.HistoryName(d)
	if err != nil {
		t.Fatal(err)
	}
	rec := statestore.HistoryPrefix("", key) + name
	if err := in.WriteRaw(rec, []byte(`{"schemaVersion": 99, "serial": 2, "stack": "orders", "environment": "dev", "pankaVersion": "v9.0.0", "changes": "new shape"}`)); err != nil {
		t.Fatal(err)
	}
	recs, err := s.History(ctx, key, 0, 0)
	wantErr(t, "History with a future-schema record", err, statestore.ErrFutureSchema)
	wantUnreadable(t, "History with a future-schema record", recs, err, []int64{1}, 2, base.Add(time.Minute), in.Where(rec))
}

func testBadNames(t *testing.T, in Instance, _ Options) {
	s := open(t, in, "")
	good := "orders"
	for _, bad := range []string{"", "..", ".", "a/b", "../x", "Orders", "a\\b", " a", "a b", "-a", "a.b", "a\x00", strings.Repeat("a", 200)} {
		for _, key := range []statestore.Key{{Stack: bad, Environment: "dev"}, {Stack: good, Environment: bad}} {
			name := fmt.Sprintf("%q/%q", key.Stack, key.Environment)
			_, _, err := s.Get(ctx, key)
			wantErr(t, "Get "+name, err, statestore.ErrInvalidKey)
			_, err = s.Put(ctx, key, &statestore.State{Serial: 1}, "")
			wantErr(t, "Put "+name, err, statestore.ErrInvalidKey)
			wantErr(t, "Delete "+name, s.Delete(ctx, key, "x"), statestore.ErrInvalidKey)
			d := newDeployment(key, 1, base)
			wantErr(t, "AppendHistory "+name, s.AppendHistory(ctx, key, d), statestore.ErrInvalidKey)
			wantErr(t, "RemoveHistory "+name, s.RemoveHistory(ctx, key, d), statestore.ErrInvalidKey)
			_, err = s.History(ctx, key, 0, 0)
			wantErr(t, "History "+name, err, statestore.ErrInvalidKey)
			_, err = s.Deployment(ctx, key, 1)
			wantErr(t, "Deployment "+name, err, statestore.ErrInvalidKey)
		}
		_, err := s.ListStack(ctx, bad)
		wantErr(t, fmt.Sprintf("ListStack %q", bad), err, statestore.ErrInvalidKey)
	}
	keys, err := s.List(ctx)
	if err != nil || len(keys) != 0 {
		t.Fatalf("after bad names List = %v, %v; want nothing written", keys, err)
	}
	if _, err := in.Open("/"); err != nil {
		t.Errorf("prefix \"/\" (none) refused: %v", err)
	}
}

// testRaceRounds: in every round all writers read the same state and race to
// write the next serial; exactly one must win and the others must get a
// conflict.
func testRaceRounds(t *testing.T, in Instance, o Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "race", Environment: "dev"}
	// Serial 1: a state numbered 0 reads as damaged (statestore.DamagedError).
	if _, err := s.Put(ctx, key, newState(key, 1), ""); err != nil {
		t.Fatal(err)
	}
	// Every writer has its own store (and client), as separate processes would.
	writers := make([]statestore.Store, o.RaceWriters)
	for i := range writers {
		writers[i] = open(t, in, "")
	}
	var attempts, wins int
	for round := 0; round < o.RaceRounds; round++ {
		var (
			wg                  sync.WaitGroup
			start               = make(chan struct{})
			won, lost, failures atomic.Int64
			errMu               sync.Mutex
			firstErr            error
		)
		for w := 0; w < o.RaceWriters; w++ {
			st, v, err := writers[w].Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func(w int, st *statestore.State, v statestore.Version) {
				defer wg.Done()
				st.Serial++
				st.Outputs = map[string]map[string]any{"race": {"winner": float64(w)}}
				<-start
				_, err := writers[w].Put(ctx, key, st, v)
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, statestore.ErrConflict):
					lost.Add(1)
				default:
					failures.Add(1)
					errMu.Lock()
					firstErr = err
					errMu.Unlock()
				}
			}(w, st, v)
		}
		close(start)
		wg.Wait()
		if failures.Load() > 0 {
			t.Fatalf("round %d: %d writes failed with errors other than a conflict, e.g. %v", round, failures.Load(), firstErr)
		}
		if won.Load() != 1 || lost.Load() != int64(o.RaceWriters-1) {
			t.Fatalf("round %d: %d winners and %d conflicts among %d writers; want exactly one winner", round, won.Load(), lost.Load(), o.RaceWriters)
		}
		attempts += o.RaceWriters
		wins++
	}
	st, _, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Serial != 1+int64(wins) {
		t.Fatalf("final serial %d after %d successful writes from serial 1: an update was lost", st.Serial, wins)
	}
	t.Logf("%d racing writes in %d rounds: %d winners, %d conflicts, final serial %d", attempts, o.RaceRounds, wins, attempts-wins, st.Serial)
}

// testRaceNoLostUpdates: writers loop read-modify-write, retrying on
// conflict; every successful increment must be in the final state.
func testRaceNoLostUpdates(t *testing.T, in Instance, o Options) {
	s := open(t, in, "")
	key := statestore.Key{Stack: "counter", Environment: "dev"}
	init := newState(key, 1)
	init.Outputs = map[string]map[string]any{"count": {}}
	if _, err := s.Put(ctx, key, init, ""); err != nil {
		t.Fatal(err)
	}
	var (
		wg        sync.WaitGroup
		successes atomic.Int64
		conflicts atomic.Int64
		errs      = make(chan error, o.UpdateWriters)
	)
	for w := 0; w < o.UpdateWriters; w++ {
		wg.Add(1)
		ws := open(t, in, "")
		go func(w int, s statestore.Store) {
			defer wg.Done()
			id := fmt.Sprintf("w%d", w)
			for done := 0; done < o.UpdatesEach; {
				st, v, err := s.Get(ctx, key)
				if err != nil {
					errs <- err
					return
				}
				n, _ := st.Outputs["count"][id].(float64)
				st.Outputs["count"][id] = n + 1
				st.Serial++
				if _, err := s.Put(ctx, key, st, v); err != nil {
					if errors.Is(err, statestore.ErrConflict) {
						conflicts.Add(1)
						continue
					}
					errs <- err
					return
				}
				successes.Add(1)
				done++
			}
		}(w, ws)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer failed: %v", err)
	}
	st, _, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Serial != 1+successes.Load() {
		t.Fatalf("final serial %d, successful writes %d from serial 1: lost updates", st.Serial, successes.Load())
	}
	for w := 0; w < o.UpdateWriters; w++ {
		if n, _ := st.Outputs["count"][fmt.Sprintf("w%d", w)].(float64); int(n) != o.UpdatesEach {
			t.Errorf("writer %d's count is %v, want %d: an update was lost", w, n, o.UpdatesEach)
		}
	}
	t.Logf("%d writers: %d successful writes, %d conflicts retried, final serial %d", o.UpdateWriters, successes.Load(), conflicts.Load(), st.Serial)
}
