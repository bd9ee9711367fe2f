package s3lock_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"panka.dev/panka/locker"
	"panka.dev/panka/locker/lockertest"
	"panka.dev/panka/locker/s3lock"
	s3store "panka.dev/panka/statestore/s3"
	"panka.dev/panka/statestore/testserver"
)

// client builds a client from the environment, so child processes can too.
func client() (*s3.Client, error) {
	ep, ak, sk := os.Getenv(testserver.EnvS3Endpoint), os.Getenv(testserver.EnvS3AccessKey), os.Getenv(testserver.EnvS3SecretKey)
	if ep == "" {
		return nil, errors.New(testserver.EnvS3Endpoint + " not set")
	}
	region := os.Getenv(testserver.EnvS3Region)
	if region == "" {
		region = "us-east-1"
	}
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(ak, sk, "")}
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(ep); o.UsePathStyle = true }), nil
}

// Namespaces are "bucket/prefix".
var backend = lockertest.Backend{
	Open: func(ns string, now func() time.Time) (locker.Locker, error) {
		c, err := client()
		if err != nil {
			return nil, err
		}
		bucket, prefix, _ := strings.Cut(ns, "/")
		return s3lock.New(s3lock.Options{Client: c, Bucket: bucket, Prefix: prefix, Now: now})
	},
	NewNamespace: func(t testing.TB) string { return testserver.NewBucket(t) + "/" + testserver.UniqueName("team-") },
	// 50 goroutines x 10 rounds on one key, contenders backing off up to
	// 2 s. Fifty pollers of one key saturate a test server or, under
	// -race, the SDK client: on the shared 2-core machine 50 x 10 took
	// 6 s without and 47 s with -race (dynalite). LOCKERTEST_ROUNDS=200
	// runs the full 50 x 200 of the local backend (minutes per backend).
	Rounds:     10,
	MaxBackoff: 2 * time.Second,
}

func TestMain(m *testing.M) {
	lockertest.RunChild(backend)
	os.Exit(m.Run())
}

func TestConformance(t *testing.T) { lockertest.Run(t, backend) }

// The lock object lives next to the state and holds the lease as JSON.
func TestObjectLayout(t *testing.T) {
	ctx := context.Background()
	bucket := testserver.NewBucket(t)
	c := testserver.S3Client(t)
	l, err := s3lock.New(s3lock.Options{Client: c, Bucket: bucket, Prefix: "team", Now: func() time.Time { return lockertest.Start }})
	if err != nil {
		t.Fatal(err)
	}
	info, err := l.TryAcquire(ctx, locker.Info{Key: locker.Key("app", "prod"), LockedBy: "alice"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("team/stacks/app/prod/lock.json")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	for _, want := range []string{`"lockKey": "stack:app:env:prod"`, `"lockId": "` + info.ID + `"`, `"lockedBy": "alice"`, `"expiresAt": "2027-01-15T`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("lock object lacks %s:\n%s", want, b)
		}
	}
	// Objects that are not lock files (state) are ignored by List.
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("team/stacks/app/prod/state.json"), Body: strings.NewReader("{}")}); err != nil {
		t.Fatal(err)
	}
	list, err := l.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != info.ID {
		t.Fatalf("List = %+v, %v", list, err)
	}
	for _, bad := range []string{locker.Key("../x", "prod"), locker.Key("app", "a/b"), "nonsense"} {
		if _, err := l.TryAcquire(ctx, locker.Info{Key: bad}, time.Hour); err == nil {
			t.Errorf("TryAcquire(%q) accepted a key that escapes the prefix", bad)
		}
	}
}

// A missing bucket is a 404 like a missing lock object, but no retry can
// fix it: TryAcquire must say so, not report a lock that "changed hands"
// (which the CLI shows as held by someone else, exit 3).
func TestMissingBucket(t *testing.T) {
	ctx := context.Background()
	bucket := testserver.UniqueName("panka-missing-")
	l, err := s3lock.New(s3lock.Options{Client: testserver.S3Client(t), Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.TryAcquire(ctx, locker.Info{Key: locker.Key("app", "prod"), LockedBy: "alice"}, time.Hour)
	if err == nil || errors.Is(err, locker.ErrHeld) || !errors.Is(err, s3store.ErrNoBucket) {
		t.Fatalf("TryAcquire on a missing bucket: %v; want ErrNoBucket, not ErrHeld", err)
	}
	for _, want := range []string{`"` + bucket + `"`, "panka backend create --bucket " + bucket} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := l.List(ctx); !errors.Is(err, s3store.ErrNoBucket) {
		t.Errorf("List on a missing bucket: %v; want ErrNoBucket", err)
	}
}

// A damaged lock object is reported as unreadable (so unlock --force knows
// to remove it), is not taken over, and ForceRelease replaces it.
func TestDamagedLockObject(t *testing.T) {
	ctx := context.Background()
	bucket := testserver.NewBucket(t)
	c := testserver.S3Client(t)
	l, err := s3lock.New(s3lock.Options{Client: c, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("stacks/app/prod/lock.json"),
		Body: strings.NewReader(`{"lockKey": "stack:app:env:prod", "lockId": `)}); err != nil {
		t.Fatal(err)
	}
	key := locker.Key("app", "prod")
	if _, err := l.Get(ctx, key); !errors.Is(err, locker.ErrUnreadable) || !strings.Contains(err.Error(), "panka unlock --force -s app -e prod") {
		t.Fatalf("Get of a damaged lock object: %v; want ErrUnreadable naming unlock --force", err)
	}
	// It is not taken over: only ForceRelease removes it (an apply used
	// to overwrite it and run).
	if _, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "bob"}, time.Minute); !errors.Is(err, locker.ErrUnreadable) || !strings.Contains(err.Error(), "panka unlock --force -s app -e prod") {
		t.Fatalf("TryAcquire over a damaged lock object: %v; want ErrUnreadable naming unlock --force", err)
	}
	// List still returns the leases it can read, and names the damaged one.
	now := time.Now()
	if _, err := l.TryAcquire(ctx, locker.Info{Key: locker.Key("app", "dev"), ID: "id-1", LockedBy: "alice", LockedAt: now}, time.Minute); err != nil {
		t.Fatal(err)
	}
	list, err := l.List(ctx)
	var ue *locker.UnreadableError
	if !errors.As(err, &ue) || len(ue.Errs) != 1 || !errors.Is(err, locker.ErrUnreadable) || !strings.Contains(err.Error(), "stacks/app/prod/lock.json") {
		t.Fatalf("List with a damaged lock object: %v; want an UnreadableError naming it", err)
	}
	if len(list) != 1 || list[0].Key != locker.Key("app", "dev") {
		t.Fatalf("List with a damaged lock object returned %+v; want the readable lease of app/dev", list)
	}
	if err := l.ForceRelease(ctx, key); err != nil {
		t.Fatalf("ForceRelease of a damaged lock object: %v", err)
	}
	if _, err := l.Get(ctx, key); !errors.Is(err, locker.ErrNotFound) {
		t.Fatalf("Get after ForceRelease: %v; want ErrNotFound", err)
	}
}

// TestDeletedLockObject: a lock object deleted by hand in a versioned
// bucket (to clear a lock, as one does with Terraform's lock files) leaves
// a delete marker, which versitygw lets no create replace. The lock could
// never be taken again: every acquire said it "changed hands" (exit 3)
// while unlock --force found nothing to remove. The deletion now releases
// the lease it held, and the lock stays exclusive.
func TestDeletedLockObject(t *testing.T) {
	ctx := context.Background()
	bucket := testserver.NewBucket(t)
	c := testserver.S3Client(t)
	open := func() *s3lock.Locker {
		l, err := s3lock.New(s3lock.Options{Client: c, Bucket: bucket, Prefix: "team"})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b := open(), open()
	key := locker.Key("app", "prod")
	held, err := a.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "alice"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("team/stacks/app/prod/lock.json")}); err != nil {
		t.Fatal(err)
	}
	got, err := b.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "bob"}, time.Hour)
	if err != nil {
		t.Fatalf("acquire after the lock object was deleted: %v", err)
	}
	if _, err := a.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "alice"}, time.Hour); !errors.Is(err, locker.ErrHeld) {
		t.Errorf("a second acquire = %v, want held by bob", err)
	}
	if err := a.Heartbeat(ctx, key, held.ID, time.Hour); !errors.Is(err, locker.ErrLost) {
		t.Errorf("heartbeat of the deleted lease = %v, want ErrLost", err)
	}
	if info, err := b.Get(ctx, key); err != nil || info.ID != got.ID || info.LockedBy != "bob" {
		t.Errorf("Get = %+v, %v; want bob's lease %s", info, err, got.ID)
	}
	if err := b.Release(ctx, key, got.ID); err != nil {
		t.Errorf("release: %v", err)
	}
}

// replayClient sends each PutObject twice, as the SDK's retry after a lost
// response (a connection reset once the request was sent) does: the second
// attempt meets the first one's object, and its If-Match no longer holds.
type replayClient struct{ *s3.Client }

func (r replayClient) PutObject(ctx context.Context, in *s3.PutObjectInput, opt ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	cp := *in
	if _, err := r.Client.PutObject(ctx, &cp, opt...); err != nil {
		return nil, err
	}
	if s, ok := in.Body.(io.Seeker); ok {
		_, _ = s.Seek(0, io.SeekStart)
	}
	return r.Client.PutObject(ctx, in, opt...)
}

// TestRetriedWriteIsNotALostLease: a heartbeat whose first attempt landed
// but whose response was lost was retried by the SDK with the old ETag,
// failed its condition and was taken for a lease taken over: the apply was
// stopped mid-engine ("lease lost") though nobody else held the lock, and
// a release said the same. A write that meets its own object succeeded.
func TestRetriedWriteIsNotALostLease(t *testing.T) {
	ctx := context.Background()
	bucket := testserver.NewBucket(t)
	c := testserver.S3Client(t)
	l, err := s3lock.New(s3lock.Options{Client: replayClient{c}, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	key := locker.Key("app", "prod")
	held, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "alice"}, time.Minute)
	if err != nil {
		t.Fatalf("acquire whose request landed twice: %v", err)
	}
	for i := range 3 {
		if err := l.Heartbeat(ctx, key, held.ID, time.Minute); err != nil {
			t.Fatalf("heartbeat %d whose request landed twice: %v; want the lease still held", i, err)
		}
	}
	if got, err := l.Get(ctx, key); err != nil || got.ID != held.ID {
		t.Fatalf("Get after the heartbeats: %+v, %v; want lock id %s", got, err, held.ID)
	}
	if err := l.Release(ctx, key, held.ID); err != nil {
		t.Fatalf("release whose request landed twice: %v", err)
	}
	if _, err := l.Get(ctx, key); !errors.Is(err, locker.ErrNotFound) {
		t.Fatalf("Get after Release: %v; want ErrNotFound", err)
	}
	// A lease that really changed hands is still lost.
	other, err := s3lock.New(s3lock.Options{Client: c, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	mine, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "alice"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.ForceRelease(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := other.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "bob"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := l.Heartbeat(ctx, key, mine.ID, time.Minute); !errors.Is(err, locker.ErrLost) {
		t.Fatalf("heartbeat of a lease taken over: %v; want ErrLost", err)
	}
	if err := l.Release(ctx, key, mine.ID); !errors.Is(err, locker.ErrLost) {
		t.Fatalf("release of a lease taken over: %v; want ErrLost", err)
	}
}

// TestAnswerCutPartway: the SDK retries a request that fails, not the
// reading of an answer that began; one connection dropped in the middle
// of lock.json failed the acquire of an apply ("read ...: unexpected
// EOF"). It is read again; a server that cuts every answer gets an error
// that says so and how often it was tried.
func TestAnswerCutPartway(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	proxy := testserver.NewFaultProxy(t, srv.Endpoint)
	c := s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(proxy.URL)
		o.UsePathStyle = true
	})
	l, err := s3lock.New(s3lock.Options{Client: c, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := locker.Key("orders", "dev")
	held, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "a"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Set(testserver.FaultRule{Method: "GET", Path: "/lock.json", Fault: testserver.FaultDropMidBody, Times: 2})
	if cur, err := l.Get(ctx, key); err != nil || cur.ID != held.ID {
		t.Fatalf("Get through two cut answers: %+v, %v\n%s", cur, err, proxy.Log())
	}
	proxy.Set(testserver.FaultRule{Method: "GET", Path: "/lock.json", Fault: testserver.FaultDropMidBody})
	_, err = l.Get(ctx, key)
	// The server answered: its address is not what to check.
	if want := "the S3 server stopped sending it partway (unexpected EOF, 3 attempts): it answered, so the endpoint is right, but the connection was closed before the end; re-run"; err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "check backend.endpoint") {
		t.Fatalf("Get from a server that cuts every answer: %v\nwant %s", err, want)
	}
	proxy.Set()
	if err := l.Release(ctx, key, held.ID); err != nil {
		t.Fatal(err)
	}
}

// TestLockObjectNotALease: a lock.json written by hand or by another tool
// that is valid JSON but no lease panka wrote (a "deploy freeze" naming
// who froze it without a lock id, {} or null, a lease without expiresAt)
// was read as the marker a release leaves or as a lease expired long ago,
// and the next apply took it over without a word. It is unreadable, as a
// damaged lock object is: not taken over, only ForceRelease removes it.
// The marker a release leaves is still free to take.
func TestLockObjectNotALease(t *testing.T) {
	ctx := context.Background()
	bucket := testserver.NewBucket(t)
	c := testserver.S3Client(t)
	l, err := s3lock.New(s3lock.Options{Client: c, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	key := locker.Key("app", "prod")
	for name, body := range map[string]string{
		"a freeze":             `{"lockKey": "stack:app:env:prod", "lockedBy": "release-freeze"}`,
		"empty object":         `{}`,
		"null":                 `null`,
		"lease with no expiry": `{"lockKey": "stack:app:env:prod", "lockId": "x", "lockedBy": "tool"}`,
	} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("stacks/app/prod/lock.json"), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "bob"}, time.Minute); !errors.Is(err, locker.ErrUnreadable) || !strings.Contains(err.Error(), "panka unlock --force -s app -e prod") {
			t.Errorf("%s: TryAcquire: %v; want ErrUnreadable naming unlock --force", name, err)
		}
		if _, err := l.Get(ctx, key); !errors.Is(err, locker.ErrUnreadable) {
			t.Errorf("%s: Get: %v; want ErrUnreadable", name, err)
		}
		if _, err := l.List(ctx); !errors.Is(err, locker.ErrUnreadable) {
			t.Errorf("%s: List: %v; want ErrUnreadable", name, err)
		}
		if err := l.ForceRelease(ctx, key); err != nil {
			t.Fatalf("%s: ForceRelease: %v", name, err)
		}
		// What ForceRelease left is the released marker: free.
		info, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "bob"}, time.Minute)
		if err != nil {
			t.Fatalf("%s: TryAcquire after ForceRelease: %v", name, err)
		}
		if err := l.Release(ctx, key, info.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClockSkew: as with DynamoDB, lease times came from the host's clock:
// a host 15 minutes ahead took over a lease another host held for 10 more
// minutes, and one 15 minutes behind wrote leases already expired for
// everyone else. They now follow the S3 server's clock (its answers' Date).
func TestClockSkew(t *testing.T) {
	c := testserver.S3Client(t)
	bucket := testserver.NewBucket(t)
	ctx := context.Background()
	for _, skew := range []time.Duration{15 * time.Minute, -15 * time.Minute} {
		key := locker.Key("orders", fmt.Sprintf("skew%d", int(skew.Minutes())))
		right, err := s3lock.New(s3lock.Options{Client: c, Bucket: bucket})
		if err != nil {
			t.Fatal(err)
		}
		off, err := s3lock.New(s3lock.Options{Client: c, Bucket: bucket, Local: func() time.Time { return time.Now().Add(skew) }})
		if err != nil {
			t.Fatal(err)
		}
		first, second := right, off
		if skew < 0 {
			first, second = off, right
		}
		held, err := first.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "first"}, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Until(held.ExpiresAt); d < 9*time.Minute || d > 11*time.Minute {
			t.Errorf("skew %s: the lease expires in %s by the server's clock, want 10m", skew, d)
		}
		if _, err := second.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "second"}, 10*time.Minute); !errors.Is(err, locker.ErrHeld) {
			t.Fatalf("skew %s: a lease held for 10 more minutes was taken by the other host: %v", skew, err)
		}
		if err := first.Heartbeat(ctx, key, held.ID, 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		if got, err := right.Get(ctx, key); err != nil || time.Until(got.ExpiresAt) < 9*time.Minute || time.Since(got.LastHeartbeat).Abs() > time.Minute {
			t.Fatalf("skew %s: after a heartbeat the lease reads %+v, %v", skew, got, err)
		}
	}
}

// TestNotS3Endpoint: backend.endpoint at another HTTP server, which
// answers 404 (a page) to a GET of a path it does not have, made every lock
// read "not locked": locks show said so, and unlock found nothing. Only
// S3's NoSuchKey is no lock; a 404 without it is an endpoint that does not
// answer like S3.
func TestNotS3Endpoint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html><body><h1>404 Not Found</h1></body></html>\n"))
	}))
	defer srv.Close()
	c := s3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")},
		func(o *s3.Options) { o.BaseEndpoint = aws.String(srv.URL); o.UsePathStyle = true })
	l, err := s3lock.New(s3lock.Options{Client: c, Bucket: "team-state"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := locker.Key("orders", "dev")
	_, getErr := l.Get(ctx, key)
	forceErr := l.ForceRelease(ctx, key)
	for name, err := range map[string]error{"Get": getErr, "ForceRelease": forceErr} {
		if errors.Is(err, locker.ErrNotFound) || !errors.Is(err, s3store.ErrNotS3) ||
			!strings.Contains(err.Error(), "read s3://team-state/stacks/orders/dev/lock.json: the endpoint does not answer like S3 (HTTP 404 without an S3 error code") {
			t.Errorf("%s: %v, want the endpoint said not to answer like S3, not \"not locked\"", name, err)
		}
	}
}
