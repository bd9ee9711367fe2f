package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/statestore"
)

// overlapStore counts the Gets in flight. Until two have overlapped, a Get
// waits for another to start (the first one to wait gives up after 30 s,
// and then none waits), so a command that reads states one after another is
// seen as such rather than by luck of timing, and one that reads them in
// parallel never waits long.
type overlapStore struct {
	statestore.Store

	mu         sync.Mutex
	inFlight   int
	peak       int
	gets       int
	overlapped chan struct{}
	once       sync.Once
}

func newOverlapStore(s statestore.Store) *overlapStore {
	return &overlapStore{Store: s, overlapped: make(chan struct{})}
}

func (s *overlapStore) Get(ctx context.Context, key statestore.Key) (*statestore.State, statestore.Version, error) {
	s.mu.Lock()
	s.inFlight++
	s.gets++
	s.peak = max(s.peak, s.inFlight)
	if s.inFlight == 2 {
		s.once.Do(func() { close(s.overlapped) })
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	select {
	case <-s.overlapped:
	case <-time.After(30 * time.Second):
		s.once.Do(func() { close(s.overlapped) })
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	return s.Store.Get(ctx, key)
}

// checkParallel fails unless reads overlapped, within storeReads.
func (s *overlapStore) checkParallel(t *testing.T, what string) {
	t.Helper()
	if s.peak < 2 || s.peak > storeReads {
		t.Fatalf("%s made at most %d of its %d state reads at once, want 2..%d", what, s.peak, s.gets, storeReads)
	}
}

// seedStates writes a deployed state for each of n stacks x envs
// environments, deployed at commit.
func seedStates(t *testing.T, s statestore.Store, n, envs int, commit string) []statestore.Key {
	t.Helper()
	var keys []statestore.Key
	for i := range n {
		for j := range envs {
			k := statestore.Key{Stack: fmt.Sprintf("s%03d", i), Environment: fmt.Sprintf("e%d", j)}
			d := &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: "d", Serial: 1, Stack: k.Stack, Environment: k.Environment,
				Operation: statestore.OpApply, Commit: commit, Result: statestore.ResultSucceeded, StartedAt: time.Unix(1e9, 0), EndedAt: time.Unix(1e9, 0)}
			comps := make([]string, i)
			for c := range comps {
				comps[c] = fmt.Sprintf(`{"name":"q%d","kind":"Queue","spec":{}}`, c)
			}
			st := &statestore.State{SchemaVersion: statestore.SchemaVersion, Serial: 1, Stack: k.Stack, Environment: k.Environment,
				Status: statestore.StatusDeployed, LastDeployment: d, Resources: statestore.ResourceSummary{Components: i},
				Spec: json.RawMessage(`{"stack":"` + k.Stack + `","environment":"` + k.Environment + `","components":[` + strings.Join(comps, ",") + `]}`)}
			if _, err := s.Put(context.Background(), k, st, ""); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
	}
	return keys
}

// TestStateListReadsInParallel: state list reads the states of a big store
// storeReads at a time, and every row still shows its own state.
func TestStateListReadsInParallel(t *testing.T) {
	f, _ := stLocalFactory(t)
	ios, _, out, _ := Test()
	f.IO = ios
	f.Flags.Output = "json"
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	local, err := f.Store(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys := seedStates(t, local, 30, 2, "1111111111111111111111111111111111111111")
	s := newOverlapStore(local)
	opts := &StateListOptions{F: f, OpenStore: func(context.Context, *config.Resolved) (statestore.Store, error) { return s, nil }}
	if err := stateListRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	var items []StateListItem
	if err := json.Unmarshal(out.Bytes(), &items); err != nil {
		t.Fatalf("state list -o json: %v\n%s", err, out)
	}
	if len(items) != len(keys) {
		t.Fatalf("state list shows %d states, want %d", len(items), len(keys))
	}
	for i, it := range items {
		k := keys[i]
		if it.Stack != k.Stack || it.Environment != k.Environment || it.Status != statestore.StatusDeployed || it.Components != i/2 || it.Error != "" {
			t.Fatalf("row %d = %+v, want %s deployed with %d components", i, it, k, i/2)
		}
	}
	s.checkParallel(t, "state list")
}

// TestListDeployedReadsInParallel: what is deployed but gone at head is
// read storeReads at a time; skipped keys are not read.
func TestListDeployedReadsInParallel(t *testing.T) {
	f, _ := stLocalFactory(t)
	cfg, err := f.Config()
	if err != nil {
		t.Fatal(err)
	}
	local, err := f.Store(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	const commit = "2222222222222222222222222222222222222222"
	keys := seedStates(t, local, 25, 2, commit)
	// One destroyed: listed by the store, not deployed.
	gone := keys[3]
	st, v, err := local.Get(context.Background(), gone)
	if err != nil {
		t.Fatal(err)
	}
	st.Status = statestore.StatusDestroyed
	if _, err := local.Put(context.Background(), gone, st, v); err != nil {
		t.Fatal(err)
	}
	s := newOverlapStore(local)
	d := &storeDeployed{f: f, stores: map[string]statestore.Store{"": s}}
	got, err := d.ListDeployed(context.Background(), func(stack, env string) bool { return stack == "s000" })
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, k := range keys[2:] {
		if k != gone {
			want = append(want, k.String()+"@"+commit[:7])
		}
	}
	var have []string
	for _, dep := range got {
		have = append(have, dep.Stack+"/"+dep.Environment+"@"+dep.Commit[:7])
	}
	if fmt.Sprint(have) != fmt.Sprint(want) {
		t.Fatalf("ListDeployed = %v\nwant %v", have, want)
	}
	if s.gets != len(keys)-2 {
		t.Errorf("ListDeployed read %d states, want %d (skipped ones are not read)", s.gets, len(keys)-2)
	}
	s.checkParallel(t, "ListDeployed")
}

// TestForEach: every index is called once (forEach runs limit workers,
// each taking the next index), and after an error no further call starts
// and the error is returned.
func TestForEach(t *testing.T) {
	var mu sync.Mutex
	calls := map[int]int{}
	err := forEach(context.Background(), 3, 100, func(_ context.Context, i int) error {
		mu.Lock()
		calls[i]++
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 100 {
		t.Errorf("called %d indices, want 100", len(calls))
	}
	for i, n := range calls {
		if n != 1 {
			t.Errorf("index %d called %d times", i, n)
		}
	}

	var after []int
	stop := fmt.Errorf("write failed")
	err = forEach(context.Background(), 1, 10, func(_ context.Context, i int) error {
		if i > 4 {
			after = append(after, i)
		}
		if i == 4 {
			return stop
		}
		return nil
	})
	if err != stop || len(after) > 0 {
		t.Errorf("forEach = %v, calls after the error: %v; want %v and none", err, after, stop)
	}
	if err := forEach(context.Background(), 4, 0, func(context.Context, int) error { t.Error("called with n 0"); return nil }); err != nil {
		t.Error(err)
	}
}
