package s3_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"panka.dev/panka/statestore"
	s3store "panka.dev/panka/statestore/s3"
	"panka.dev/panka/statestore/testserver"
)

// overlapAPI counts the ListObjectsV2 calls in flight below the stacks/
// prefix. Until two have overlapped, such a call waits for another to start
// (the first one to wait gives up after 30 s, and then none waits), so a List
// that lists one prefix after another is seen as such rather than by luck of
// timing, and one that lists in parallel never waits long.
type overlapAPI struct {
	s3store.API
	root string // the stacks/ prefix, listed once and alone

	mu         sync.Mutex
	inFlight   int
	peak       int
	overlapped chan struct{}
	once       sync.Once
}

func (a *overlapAPI) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if aws.ToString(in.Prefix) == a.root {
		return a.API.ListObjectsV2(ctx, in, optFns...)
	}
	a.mu.Lock()
	a.inFlight++
	a.peak = max(a.peak, a.inFlight)
	if a.inFlight == 2 {
		a.once.Do(func() { close(a.overlapped) })
	}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.inFlight--
		a.mu.Unlock()
	}()
	select {
	case <-a.overlapped:
	case <-time.After(30 * time.Second):
		a.once.Do(func() { close(a.overlapped) })
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return a.API.ListObjectsV2(ctx, in, optFns...)
}

// seed writes state (and one history record) for stacks x envs keys.
func seed(tb testing.TB, s statestore.Store, stacks, envs int) []statestore.Key {
	tb.Helper()
	var keys []statestore.Key
	for i := range stacks {
		for j := range envs {
			keys = append(keys, statestore.Key{Stack: fmt.Sprintf("stack-%04d", i), Environment: fmt.Sprintf("env-%d", j)})
		}
	}
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(16)
	for _, k := range keys {
		g.Go(func() error {
			d := &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: "d-1", Serial: 1, Stack: k.Stack, Environment: k.Environment,
				Operation: statestore.OpApply, Result: statestore.ResultSucceeded, StartedAt: testTime, EndedAt: testTime}
			if err := s.AppendHistory(ctx, k, d); err != nil {
				return err
			}
			_, err := s.Put(ctx, k, &statestore.State{SchemaVersion: statestore.SchemaVersion, Serial: 1, Stack: k.Stack,
				Environment: k.Environment, Status: statestore.StatusDeployed, LastDeployment: d, UpdatedAt: testTime}, "")
			return err
		})
	}
	if err := g.Wait(); err != nil {
		tb.Fatal(err)
	}
	return keys
}

// TestListConcurrent checks that List walks the stack and environment
// prefixes in parallel, at most Options.Concurrency listings at a time: a
// store of thousands of stack/environments otherwise needs thousands of
// listings one after another.
func TestListConcurrent(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	plain, err := s3store.New(client(t, srv), s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	keys := seed(t, plain, 12, 3)
	// One stack/environment deleted: its tombstone is read, not listed.
	gone := keys[4]
	_, v, err := plain.Get(context.Background(), gone)
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Delete(context.Background(), gone, v); err != nil {
		t.Fatal(err)
	}
	api := &overlapAPI{API: client(t, srv), root: statestore.StacksPrefix(""), overlapped: make(chan struct{})}
	const limit = 4
	s, err := s3store.New(api, s3store.Options{Bucket: bucket, Concurrency: limit})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]statestore.Key{}, keys[:4]...), keys[5:]...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("List = %v\nwant %v", got, want)
	}
	if api.peak < 2 || api.peak > limit {
		t.Fatalf("List had at most %d listings in flight, want 2..%d (Options.Concurrency)", api.peak, limit)
	}
}

// latencyAPI adds a fixed delay to every request, as a network round trip to
// S3 would.
type latencyAPI struct {
	s3store.API
	rtt time.Duration
}

func (a latencyAPI) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	time.Sleep(a.rtt)
	return a.API.GetObject(ctx, in, optFns...)
}

func (a latencyAPI) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	time.Sleep(a.rtt)
	return a.API.ListObjectsV2(ctx, in, optFns...)
}

// BenchmarkList measures List over 1,000 stack/environments (500 stacks x 2
// environments) against the S3 test server, on loopback and with a
// simulated 10 ms round trip per request.
func BenchmarkList(b *testing.B) {
	srv := testserver.S3(b)
	bucket := testserver.NewBucket(b)
	s, err := s3store.New(client(b, srv), s3store.Options{Bucket: bucket})
	if err != nil {
		b.Fatal(err)
	}
	n := len(seed(b, s, 500, 2))
	for _, rtt := range []time.Duration{0, 10 * time.Millisecond} {
		b.Run(fmt.Sprintf("rtt=%s", rtt), func(b *testing.B) {
			var api s3store.API = client(b, srv)
			if rtt > 0 {
				api = latencyAPI{API: api, rtt: rtt}
			}
			s, err := s3store.New(api, s3store.Options{Bucket: bucket})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				got, err := s.List(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != n {
					b.Fatalf("List returned %d keys, want %d", len(got), n)
				}
			}
		})
	}
}

// BenchmarkHistoryAheadCheck measures the check every deployment makes
// that no history record is ahead of the state (a run killed between its
// record and its state write), on an environment with 3,000 deployments
// (one every 3 hours: a year of them) against the S3 test server: the
// full listing History(0, 1) makes, which grows with history, next to
// NewerHistory, which lists the records named since the state's last
// deployment less statestore.HistorySkew.
func BenchmarkHistoryAheadCheck(b *testing.B) {
	srv := testserver.S3(b)
	bucket := testserver.NewBucket(b)
	s, err := s3store.New(client(b, srv), s3store.Options{Bucket: bucket})
	if err != nil {
		b.Fatal(err)
	}
	const n = 3000
	key := statestore.Key{Stack: "orders", Environment: "prod"}
	rec := func(i int) *statestore.Deployment {
		at := testTime.Add(time.Duration(i) * 3 * time.Hour)
		return &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: fmt.Sprint("d-", i), Serial: int64(i), Stack: key.Stack,
			Environment: key.Environment, Operation: statestore.OpApply, Result: statestore.ResultSucceeded, StartedAt: at, EndedAt: at}
	}
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(16)
	for i := 1; i <= n; i++ {
		g.Go(func() error { return s.AppendHistory(ctx, key, rec(i)) })
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	st := &statestore.State{SchemaVersion: statestore.SchemaVersion, Serial: n, Stack: key.Stack, Environment: key.Environment,
		Status: statestore.StatusDeployed, LastDeployment: rec(n)}
	b.Run("History", func(b *testing.B) {
		for b.Loop() {
			h, err := s.History(context.Background(), key, 0, 1)
			if err != nil || len(h) != 1 || h[0].Serial != n {
				b.Fatalf("History(0, 1) = %v, %v", h, err)
			}
		}
	})
	b.Run("NewerHistory", func(b *testing.B) {
		for b.Loop() {
			d, err := s.NewerHistory(context.Background(), key, st.Serial, statestore.NewerSince(st))
			if err != nil || d != nil {
				b.Fatalf("NewerHistory = %v, %v", d, err)
			}
		}
	})
}

// listCountAPI counts the keys ListObjectsV2 returns.
type listCountAPI struct {
	s3store.API
	mu     sync.Mutex
	listed int
}

func (a *listCountAPI) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out, err := a.API.ListObjectsV2(ctx, in, optFns...)
	if err == nil {
		a.mu.Lock()
		a.listed += len(out.Contents)
		a.mu.Unlock()
	}
	return out, err
}

// TestHistoryPageListsRecentRecords: `panka history` (a limit of 20) of a
// stack/environment deployed every day for a year and a half lists the
// records of the last weeks, not every record, and shows the same page as
// the whole history would; a page past them lists everything.
func TestHistoryPageListsRecentRecords(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	plain, err := s3store.New(client(t, srv), s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	key := statestore.Key{Stack: "orders", Environment: "prod"}
	const n = 550
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(16)
	for i := 1; i <= n; i++ {
		g.Go(func() error {
			at := now.Add(-time.Duration(n-i) * 24 * time.Hour)
			if i == n {
				at = now.Add(-3 * 24 * time.Hour) // a clock days behind
			}
			return plain.AppendHistory(ctx, key, &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: fmt.Sprint(i), Serial: int64(i),
				Stack: key.Stack, Environment: key.Environment, Operation: statestore.OpApply, Result: statestore.ResultSucceeded, StartedAt: at})
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	all, err := plain.History(context.Background(), key, 0, 0)
	if err != nil || len(all) != n {
		t.Fatalf("whole history: %d records, %v", len(all), err)
	}
	for _, tc := range []struct{ offset, limit, maxListed int }{
		{0, 20, 90},      // the first two windows (2 weeks, then 9), not 550
		{0, 5, 20},       // the first (two weeks)
		{100, 20, 2 * n}, // past the windows: everything
	} {
		api := &listCountAPI{API: client(t, srv)}
		s, err := s3store.New(api, s3store.Options{Bucket: bucket, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.History(context.Background(), key, tc.offset, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := statestore.Page(n, tc.offset, tc.limit)
		if len(got) != hi-lo {
			t.Fatalf("History(%d, %d): %d records, want %d", tc.offset, tc.limit, len(got), hi-lo)
		}
		for i, d := range got {
			if d.ID != all[lo+i].ID {
				t.Fatalf("History(%d, %d)[%d] = serial %d, want %d (the whole history's page)", tc.offset, tc.limit, i, d.Serial, all[lo+i].Serial)
			}
		}
		if api.listed > tc.maxListed {
			t.Errorf("History(%d, %d) listed %d keys, want at most %d", tc.offset, tc.limit, api.listed, tc.maxListed)
		}
	}
}

// listCallsAPI counts ListObjectsV2 calls.
type listCallsAPI struct {
	s3store.API
	mu    sync.Mutex
	calls int
}

func (a *listCallsAPI) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	a.mu.Lock()
	a.calls++
	a.mu.Unlock()
	return a.API.ListObjectsV2(ctx, in, optFns...)
}

// TestListSkipping: `changed --since-deployed` only wants what is deployed
// but gone at head, so the environments it skips are not listed one by one
// (a 1,500-stack store: 4,500 listings less), and what it gets is List's
// answer less the skipped keys, a deleted (tombstoned) state left out too.
func TestListSkipping(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	plain, err := s3store.New(client(t, srv), s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	keys := seed(t, plain, 6, 3)
	gone := keys[16] // stack-0005/env-1, not skipped: its tombstone is read
	_, v, err := plain.Get(context.Background(), gone)
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Delete(context.Background(), gone, v); err != nil {
		t.Fatal(err)
	}
	// Every environment of stack-0000..0004 is skipped (asked about as a
	// whole, with no environment, they are not listed at all), and
	// stack-0005/env-0: left are stack-0005/env-1 (deleted) and env-2.
	skip := func(k statestore.Key) bool { return k.Stack < "stack-0005" || k.Environment == "env-0" }
	api := &listCallsAPI{API: client(t, srv)}
	s, err := s3store.New(api, s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if api.calls != 1+6+18 {
		t.Fatalf("List made %d listings, want %d (stacks, each stack, each environment)", api.calls, 1+6+18)
	}
	var want []statestore.Key
	for _, k := range all {
		if !skip(k) {
			want = append(want, k)
		}
	}
	api.calls = 0
	got, err := s.ListSkipping(context.Background(), skip)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 1 || got[0] != keys[17] {
		t.Fatalf("ListSkipping = %v, want %v (List less the skipped keys)", got, want)
	}
	if api.calls != 1+1+2 {
		t.Fatalf("ListSkipping made %d listings, want %d: a skipped stack or environment is not listed", api.calls, 1+1+2)
	}
	var _ statestore.SkipLister = s
}

// folderAPI adds a folder (a common prefix) to its listings of the
// prefix under: S3 keeps an object "x.json" and objects under "x.json/"
// side by side, which versitygw's posix backend (a file and a folder of
// one name) cannot.
type folderAPI struct {
	s3store.API
	under, folder string
}

func (a *folderAPI) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out, err := a.API.ListObjectsV2(ctx, in, optFns...)
	if err == nil && aws.ToString(in.Prefix) == a.under && aws.ToString(in.Delimiter) == "/" {
		out.CommonPrefixes = append(out.CommonPrefixes, types.CommonPrefix{Prefix: aws.String(a.folder)})
	}
	return out, err
}

// TestHistoryConsoleFolder: the S3 console's "Create folder" under a
// history prefix makes an empty object whose key ends in "/". Named as a
// record, it is an unreadable record with its key, as any folder in a
// record's place (the conformance suite's HistoryRecordFolder); next to a
// record object of the same name it hides nothing and is not listed.
func TestHistoryConsoleFolder(t *testing.T) {
	ctx := context.Background()
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	c := client(t, srv)
	s, err := s3store.New(c, s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	hp := statestore.HistoryPrefix("", k)
	names := map[int64]string{}
	for serial := int64(1); serial <= 3; serial++ {
		d := &statestore.Deployment{ID: fmt.Sprint("d", serial), Serial: serial, Operation: statestore.OpApply, Result: statestore.ResultSucceeded,
			StartedAt: testTime.Add(time.Duration(serial) * time.Hour)}
		if names[serial], err = statestore.HistoryName(d); err != nil {
			t.Fatal(err)
		}
		if serial != 2 {
			if err := s.AppendHistory(ctx, k, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	folder := hp + names[2] + "/"
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(folder), Body: strings.NewReader("")}); err != nil {
		t.Fatalf("create folder %s: %v", folder, err)
	}
	// Serial 3 is a record object with a folder of its name beside it.
	s, err = s3store.New(&folderAPI{API: c, under: hp, folder: hp + names[3] + "/"}, s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.History(ctx, k, 0, 0)
	bad, other := statestore.Unreadable(err)
	if other != nil || len(recs) != 2 || recs[0].Serial != 3 || recs[1].Serial != 1 || len(bad) != 1 {
		t.Fatalf("History = %d records, %v; want serials 3 and 1 read, the folder of serial 2 unreadable", len(recs), err)
	}
	where := "s3://" + bucket + "/" + hp + names[2] + "/"
	want := "history record " + where + ` is a folder (a key ending in "/", or keys under it), not a record file: corrupt history record; it was left as it is`
	if b := bad[0]; b.Serial != 2 || b.Location != where || !strings.Contains(b.Err.Error(), want) {
		t.Errorf("unreadable record = serial %d at %s: %v\nwant serial 2 at %s: %s", b.Serial, b.Location, b.Err, where, want)
	}
}

// TestStateConsoleFolder: the S3 console's "Create folder" named
// state.json (an empty object whose key ends in "/") with no state.json
// read as "no state", and on versitygw every first write of the state
// failed as "changed by another writer; re-run". Both now say it is a
// folder, where, and the command that removes it; with the folder gone
// the state is written.
func TestStateConsoleFolder(t *testing.T) {
	ctx := context.Background()
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	c := client(t, srv)
	s, err := s3store.New(c, s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	folder := statestore.StatePath("", k) + "/"
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(folder), Body: strings.NewReader("")}); err != nil {
		t.Fatal(err)
	}
	want := `state s3://` + bucket + `/stacks/orders/dev/state.json is a folder (a key ending in "/", as the S3 console's "Create folder" makes), not a state file: corrupt state; ` +
		`it was left as it is: remove it (aws s3 rm --recursive s3://` + bucket + `/stacks/orders/dev/state.json/), then re-run`
	if _, _, err := s.Get(ctx, k); !errors.Is(err, statestore.ErrCorrupt) || err.Error() != want {
		t.Fatalf("Get with a console folder named state.json:\n%v\nwant\n%s", err, want)
	}
	st := &statestore.State{Serial: 1, Status: statestore.StatusDeployed}
	_, err = s.Put(ctx, k, st, "")
	if err != nil && (errors.Is(err, statestore.ErrConflict) || !strings.HasSuffix(err.Error(), want)) {
		t.Fatalf("create of the state beside the folder: %v; want it written (AWS S3) or refused naming the folder (versitygw)", err)
	}
	if _, derr := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(folder)}); derr != nil {
		t.Fatal(derr)
	}
	if err != nil {
		if _, err := s.Put(ctx, k, st, ""); err != nil {
			t.Fatalf("create of the state once the folder is removed: %v", err)
		}
	}
	if got, _, err := s.Get(ctx, k); err != nil || got.Serial != 1 {
		t.Fatalf("Get after the folder was removed and the state written: %+v, %v", got, err)
	}
}

// TestSerialMarkConsoleFolder: a "folder" named serial.json (the console's
// "Create folder", or aws s3 cp FILE .../serial.json/ with the mark put
// inside it) read as no mark, so the serials of state writes without a
// history record could be given again; the local backend refuses a
// directory in its place. It is said as such, with where and what to do;
// with it removed, no mark is 0 again and a mark is written.
func TestSerialMarkConsoleFolder(t *testing.T) {
	ctx := context.Background()
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	c := client(t, srv)
	s, err := s3store.New(c, s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	k := statestore.Key{Stack: "orders", Environment: "dev"}
	mark := statestore.SerialPath("", k)
	put := func(key, body string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	del := func(key string) {
		t.Helper()
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
	}
	where := "s3://" + bucket + "/" + mark
	put(mark+"/", "")
	want := `serial mark ` + where + ` is a folder (a key ending in "/", as the S3 console's "Create folder" makes; remove it with aws s3 rm --recursive ` + where + `/): corrupt state; ` +
		`it keeps the serials of state writes without a history record`
	if n, err := s.MarkedSerial(ctx, k); !errors.Is(err, statestore.ErrCorrupt) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("MarkedSerial with a console folder named serial.json: %d, %v\nwant it to start with %s", n, err, want)
	}
	del(mark + "/")
	if n, err := s.MarkedSerial(ctx, k); err != nil || n != 0 {
		t.Fatalf("MarkedSerial with the folder gone: %d, %v; want 0 (no mark)", n, err)
	}
	if err := s.MarkSerial(ctx, k, 7); err != nil {
		t.Fatal(err)
	}
	if n, err := s.MarkedSerial(ctx, k); err != nil || n != 7 {
		t.Fatalf("MarkedSerial after MarkSerial 7: %d, %v", n, err)
	}
	// The mark copied into a folder of its name: where it is and the move
	// that puts it back.
	k = statestore.Key{Stack: "orders", Environment: "prod"}
	mark = statestore.SerialPath("", k)
	where = "s3://" + bucket + "/" + mark
	put(mark+"/serial.json", `{"serial": 7}`)
	want = `serial mark ` + where + ` is a folder: keys under it, such as ` + where + `/serial.json (aws s3 cp FILE ` + where + `/, with the trailing "/", puts FILE there; ` +
		`if it is the mark, aws s3 mv ` + where + `/serial.json ` + where + `, and remove the folder): corrupt state`
	if n, err := s.MarkedSerial(ctx, k); !errors.Is(err, statestore.ErrCorrupt) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("MarkedSerial with the mark copied into a folder: %d, %v\nwant it to start with %s", n, err, want)
	}
}
