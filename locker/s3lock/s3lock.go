package s3lock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"panka.dev/panka/locker"
	s3store "panka.dev/panka/statestore/s3"
)

// Client is the part of the S3 API the locker uses; *s3.Client implements it.
type Client interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	// ListObjectVersions and DeleteObject remove the delete marker of a
	// lock object deleted by hand (s3store.RemoveDeleteMarkers).
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, optFns ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Locker keeps leases as objects in one bucket.
type Locker struct {
	client Client
	bucket string
	prefix string
	clock  *locker.ServerClock
	sse    types.ServerSideEncryption
	kmsKey string

	concurrency int
}

var _ locker.Locker = (*Locker)(nil)

// Options configure New.
type Options struct {
	Client Client
	Bucket string
	// Prefix is the backend's key prefix (leading and trailing slashes are
	// ignored, as statestore.NormalizePrefix does).
	Prefix string
	// SSE and KMSKeyID encrypt lock objects like state objects ("",
	// "AES256" or "aws:kms").
	SSE      string
	KMSKeyID string
	// Now, when set, is the clock lease times follow as it is (tests
	// that move time on). Else they follow the S3 server's clock
	// (locker.ServerClock) over Local (default time.Now; tests of a host
	// whose clock is off).
	Now, Local func() time.Time
	// Concurrency bounds the parallel requests of List (default 8).
	Concurrency int
}

// New returns a Locker on opts.Bucket.
func New(opts Options) (*Locker, error) {
	if opts.Client == nil || opts.Bucket == "" {
		return nil, errors.New("s3 locker: client and bucket are required")
	}
	clock := locker.NewServerClock(opts.Local)
	if opts.Now != nil {
		clock = locker.FixedClock(opts.Now)
	}
	p := strings.Trim(opts.Prefix, "/")
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	return &Locker{client: opts.Client, bucket: opts.Bucket, prefix: p, clock: clock, sse: types.ServerSideEncryption(opts.SSE),
		kmsKey: opts.KMSKeyID, concurrency: opts.Concurrency}, nil
}

const lockName = "lock.json"

// now is the S3 server's time, as far as its answers tell.
func (l *Locker) now() time.Time { return l.clock.Now() }

// Now is the S3 server's time as far as its answers so far tell (the
// local clock before the first).
func (l *Locker) Now() time.Time { return l.clock.Now() }

// serverClock has a call note the Date of the server's answer.
func (l *Locker) serverClock(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, l.clock.Middleware)
}

// ObjectKey returns the object key of a lease key.
func (l *Locker) ObjectKey(key string) (string, error) {
	stack, env, ok := locker.ParseKey(key)
	if !ok || !validPart(stack) || !validPart(env) {
		return "", fmt.Errorf("lock key %q: not stack:<stack>:env:<env> with names free of '/'", key)
	}
	return l.prefix + "stacks/" + stack + "/" + env + "/" + lockName, nil
}

func validPart(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\")
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// conflict: a conditional write lost (412, or 409 when AWS sees two
// conditional writes at once).
func conflict(err error) bool {
	s := httpStatus(err)
	return s == http.StatusPreconditionFailed || s == http.StatusConflict ||
		errCode(err) == "PreconditionFailed" || errCode(err) == "ConditionalRequestConflict"
}

// notFound: no object at the key. A missing bucket is a 404 too, but no
// retry or create can fix it (it is explained instead).
func notFound(err error) bool {
	if errCode(err) == "NoSuchBucket" {
		return false
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	return errors.As(err, &nsk) || errors.As(err, &nf) || httpStatus(err) == http.StatusNotFound
}

type object struct {
	info   locker.Info
	etag   string
	exists bool // an object is there (a lease, a released marker or damaged JSON)
	bad    error
}

// held reports whether the object is a lease (possibly expired).
func (o object) held() bool { return o.exists && o.bad == nil && o.info.ID != "" }

// read reads the lock object. An answer cut partway is asked for again,
// up to three times in all (the SDK retries failed requests, not the
// reading of an answer that began): one dropped connection failed the
// acquire of an apply, or ended a --lock-timeout wait.
func (l *Locker) read(ctx context.Context, objKey string) (object, error) {
	for attempt := 1; ; attempt++ {
		o, cut, err := l.readOnce(ctx, objKey)
		if cut == nil {
			return o, err
		}
		var ne net.Error
		if attempt == 3 || ctx.Err() != nil || (errors.As(cut, &ne) && ne.Timeout()) {
			return object{}, s3store.CutShort("s3://"+l.bucket+"/"+objKey, cut, attempt)
		}
	}
}

// readOnce is one GetObject of read; cut is the error of reading an answer
// that began and did not end.
func (l *Locker) readOnce(ctx context.Context, objKey string) (o object, cut, err error) {
	out, err := l.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(objKey)}, l.serverClock)
	if s3store.IsNoSuchKey(err) {
		// Not any 404: a web server's page for a path it does not have
		// made every lock read "not locked" (locks show, unlock).
		return object{}, nil, nil
	}
	if err != nil {
		return object{}, nil, fmt.Errorf("read s3://%s/%s: %w", l.bucket, objKey, l.explain(err))
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return object{}, err, nil
	}
	o, err = l.decode(objKey, b, aws.ToString(out.ETag))
	return o, nil, err
}

// decode makes the object read from b.
func (l *Locker) decode(objKey string, b []byte, etag string) (object, error) {
	o := object{etag: etag, exists: true}
	if err := json.Unmarshal(b, &o.info); err != nil {
		o.bad = fmt.Errorf("lock object s3://%s/%s is not valid JSON: %w (%w); %s removes it", l.bucket, objKey, err, locker.ErrUnreadable, l.unlockCommand(objKey))
	} else if what := notALease(o.info); what != "" {
		o.bad = fmt.Errorf("lock object s3://%s/%s %s: it is no lease panka wrote, nor the marker a release leaves (%w); %s removes it",
			l.bucket, objKey, what, locker.ErrUnreadable, l.unlockCommand(objKey))
	}
	return o, nil
}

// notALease says what makes info, read from a lock object, neither a lease
// nor the marker a release leaves ("" when it is one of them): {} or null,
// a lock id without an expiry, or someone named without a lock id (a
// lock.json written by hand to freeze deployments). Such objects were
// read as released or long expired and taken over by the next apply.
func notALease(info locker.Info) string {
	switch {
	case info.Key == "":
		return "has no lockKey"
	case info.ID != "" && info.ExpiresAt.IsZero():
		return "has a lockId but no expiresAt"
	case info.ID == "" && info.LockedBy != "":
		return fmt.Sprintf("names a holder (%s) but has no lockId", info.LockedBy)
	}
	return ""
}

// put writes info: If-None-Match: * when etag is empty, else If-Match: etag.
func (l *Locker) put(ctx context.Context, objKey string, info locker.Info, etag string) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(objKey), Body: bytes.NewReader(b),
		ContentType: aws.String("application/json"), ContentLength: aws.Int64(int64(len(b)))}
	if etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	if l.sse != "" {
		in.ServerSideEncryption = l.sse
		if l.kmsKey != "" {
			in.SSEKMSKeyId = aws.String(l.kmsKey)
		}
	}
	_, err = l.client.PutObject(ctx, in, l.serverClock)
	if conflict(err) && l.holds(ctx, objKey, b) {
		// The SDK retried a write whose first attempt landed (its
		// response was lost) and the retry met that attempt's object:
		// the write succeeded. Without this a heartbeat through a flaky
		// connection read as a lease taken over, and stopped the run.
		return nil
	}
	return l.explain(err)
}

// holds reports whether the object at objKey holds exactly b.
func (l *Locker) holds(ctx context.Context, objKey string, b []byte) bool {
	out, err := l.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(objKey)}, l.serverClock)
	if err != nil {
		return false
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	return err == nil && bytes.Equal(got, b)
}

// released is the marker that replaces a lease on release: the same key
// with no lock id, expired at the time of release.
func released(key string, now time.Time) locker.Info {
	return locker.Info{Key: key, ExpiresAt: now, LastHeartbeat: now}
}

// TryAcquire creates the lock object, or replaces a released or expired one
// conditionally on the ETag it read.
func (l *Locker) TryAcquire(ctx context.Context, info locker.Info, ttl time.Duration) (locker.Info, error) {
	objKey, err := l.ObjectKey(info.Key)
	if err != nil {
		return locker.Info{}, err
	}
	info.ID = "" // only an id this call generated counts as ours below
	for range 5 {
		cur, err := l.read(ctx, objKey)
		if err != nil {
			return locker.Info{}, err
		}
		if cur.bad != nil {
			// Not a lease this panka can read, so not one it may take
			// over (locker.ErrUnreadable): only ForceRelease removes it,
			// as with the other backends.
			return locker.Info{}, cur.bad
		}
		now := l.now()
		if cur.held() && cur.info.ID == info.ID {
			// Our previous put succeeded although its response was lost
			// (and the SDK's retry then failed its condition).
			return cur.info, nil
		}
		if cur.held() && !cur.info.Expired(now) {
			return locker.Info{}, &locker.HeldError{Holder: cur.info}
		}
		info.ID = uuid.NewString()
		info.LockedAt, info.LastHeartbeat, info.ExpiresAt = now, now, now.Add(ttl)
		err = l.put(ctx, objKey, info, cur.etag) // etag "" when there is no object: create
		if err != nil && !cur.exists && conflict(err) {
			err = l.createOver(ctx, objKey, info, err)
		}
		if err == nil {
			return info, nil
		}
		if !conflict(err) && !notFound(err) {
			return locker.Info{}, fmt.Errorf("write s3://%s/%s: %w", l.bucket, objKey, err)
		}
		// Someone else wrote in between: read again.
	}
	return locker.Info{}, changedHands(info.Key)
}

// createOver retries the create of a lease that If-None-Match: * refused
// (refused) although no lock object was there. A lock object deleted by
// hand in a versioned bucket (to clear a lock, as one does with
// Terraform's lock files) leaves a delete marker, and versitygw lets no
// create replace one: the lock could never be taken again, each attempt
// reporting a holder that does not exist. The markers are removed and the
// version before the deletion, current again, is replaced by
// compare-and-swap whatever it holds: the deletion released that lease
// (its holder's next heartbeat finds the lock gone and stops). When there
// was no delete marker, refused stands (another contender created it).
func (l *Locker) createOver(ctx context.Context, objKey string, info locker.Info, refused error) error {
	removed, err := s3store.RemoveDeleteMarkers(ctx, l.client, l.bucket, objKey)
	if err != nil {
		return err
	}
	if !removed {
		return refused
	}
	cur, err := l.read(ctx, objKey)
	if err != nil {
		return err
	}
	return l.put(ctx, objKey, info, cur.etag)
}

// Reclaim creates the lock object from info (If-None-Match: *) where
// there is none: a released marker or another run's lease is not
// replaced.
func (l *Locker) Reclaim(ctx context.Context, info locker.Info, ttl time.Duration) (locker.Info, error) {
	objKey, err := l.ObjectKey(info.Key)
	if err != nil {
		return locker.Info{}, err
	}
	now := l.now()
	info.LastHeartbeat, info.ExpiresAt = now, now.Add(ttl)
	err = l.put(ctx, objKey, info, "")
	if err == nil {
		return info, nil
	}
	if !conflict(err) {
		return locker.Info{}, fmt.Errorf("reclaim %s at s3://%s/%s: %w", info.Key, l.bucket, objKey, err)
	}
	cur, rerr := l.read(ctx, objKey)
	switch {
	case rerr == nil && cur.held() && cur.info.ID == info.ID:
		return cur.info, nil
	case rerr == nil && cur.held() && !cur.info.Expired(l.now()):
		return locker.Info{}, fmt.Errorf("reclaim %s: %w: %w", info.Key, locker.ErrLost, &locker.HeldError{Holder: cur.info})
	}
	return locker.Info{}, fmt.Errorf("reclaim %s: another run wrote s3://%s/%s since: %w", info.Key, l.bucket, objKey, locker.ErrLost)
}

// Heartbeat extends the lease while the object carries id. A write that
// loses to another heartbeat of the same id (Lease.Check meeting the
// heartbeat goroutine's call) is tried again on the object that heartbeat
// wrote: the lease is still held, only a write of another id, or its
// release, loses it.
func (l *Locker) Heartbeat(ctx context.Context, key, id string, ttl time.Duration) error {
	for range 10 {
		objKey, cur, err := l.readHeld(ctx, "heartbeat", key, id)
		if err != nil {
			return err
		}
		now := l.now()
		next := cur.info
		next.LastHeartbeat, next.ExpiresAt = now, now.Add(ttl)
		err = l.put(ctx, objKey, next, cur.etag)
		if conflict(err) || notFound(err) {
			continue // readHeld says whether it is still ours
		}
		if err != nil {
			return fmt.Errorf("heartbeat %s at s3://%s/%s: %w", key, l.bucket, objKey, err)
		}
		return nil
	}
	return fmt.Errorf("heartbeat %s: the lock object kept changing while it still carried lock id %s; try again", key, id)
}

// readHeld reads the lease of key and checks that id holds it.
func (l *Locker) readHeld(ctx context.Context, op, key, id string) (string, object, error) {
	objKey, err := l.ObjectKey(key)
	if err != nil {
		return "", object{}, err
	}
	cur, err := l.read(ctx, objKey)
	if err != nil {
		return "", object{}, err
	}
	if !cur.held() {
		return "", object{}, fmt.Errorf("%s %s: lock is gone: %w", op, key, locker.ErrLost)
	}
	if cur.info.ID != id {
		return "", object{}, fmt.Errorf("%s %s: held by %s with lock id %s, not %s: %w", op, key, cur.info.LockedBy, cur.info.ID, id, locker.ErrLost)
	}
	return objKey, cur, nil
}

// Release replaces the lease with a released marker, conditionally on the
// ETag of the lease that carries id. The object is not deleted: on
// versioned buckets some S3-compatible servers refuse If-None-Match: * on a
// key whose current version is a delete marker, and a conditional replace
// leaves no window in which another holder's lease could be removed.
func (l *Locker) Release(ctx context.Context, key, id string) error {
	objKey, cur, err := l.readHeld(ctx, "release", key, id)
	if err != nil {
		return err
	}
	err = l.put(ctx, objKey, released(key, l.now()), cur.etag)
	if conflict(err) || notFound(err) {
		return fmt.Errorf("release %s: lock object changed under us: %w", key, locker.ErrLost)
	}
	if err != nil {
		return fmt.Errorf("release %s at s3://%s/%s: %w", key, l.bucket, objKey, err)
	}
	return nil
}

// ForceRelease replaces the lease, whoever holds it, with a released
// marker (a damaged lock object is replaced too).
func (l *Locker) ForceRelease(ctx context.Context, key string) error {
	objKey, err := l.ObjectKey(key)
	if err != nil {
		return err
	}
	for range 5 {
		cur, err := l.read(ctx, objKey)
		if err != nil {
			return err
		}
		if !cur.exists || (cur.bad == nil && cur.info.ID == "") {
			return fmt.Errorf("force-release %s: %w", key, locker.ErrNotFound)
		}
		err = l.put(ctx, objKey, released(key, l.now()), cur.etag)
		if err == nil {
			return nil
		}
		if !conflict(err) && !notFound(err) {
			return fmt.Errorf("force-release %s at s3://%s/%s: %w", key, l.bucket, objKey, err)
		}
	}
	return fmt.Errorf("force-release %s: the lock object kept changing; try again", key)
}

// explain is s3store.Explain for the bucket, with a missing bucket marked
// locker.ErrStoreGone.
func (l *Locker) explain(err error) error {
	err = s3store.Explain(l.bucket, err)
	if errors.Is(err, s3store.ErrNoBucket) {
		return locker.StoreGone(err)
	}
	return err
}

// Get reads the lock object of key.
func (l *Locker) Get(ctx context.Context, key string) (locker.Info, error) {
	objKey, err := l.ObjectKey(key)
	if err != nil {
		return locker.Info{}, err
	}
	cur, err := l.read(ctx, objKey)
	if err != nil {
		return locker.Info{}, fmt.Errorf("get lock %s: %w", key, err)
	}
	if cur.bad != nil {
		return locker.Info{}, cur.bad
	}
	if !cur.held() {
		return locker.Info{}, fmt.Errorf("get lock %s: %w", key, locker.ErrNotFound)
	}
	return cur.info, nil
}

// List reads every lock object <prefix>stacks/<stack>/<env>/lock.json,
// sorted by key. It walks the stack prefixes with delimited listings and
// reads each environment's lock object directly (a missing one is a 404):
// a plain listing of stacks/ would page through every history record and
// Pulumi file of every stack, which grow with each deployment. The
// listings and reads run Options.Concurrency at a time.
func (l *Locker) List(ctx context.Context) ([]locker.Info, error) {
	root := l.prefix + "stacks/"
	stacks, err := l.prefixes(ctx, root)
	if err != nil {
		return nil, err
	}
	envs := make([][]string, len(stacks))
	if err := l.each(ctx, len(stacks), func(ctx context.Context, i int) error {
		var err error
		envs[i], err = l.prefixes(ctx, stacks[i])
		return err
	}); err != nil {
		return nil, err
	}
	var objKeys []string
	for _, eps := range envs {
		for _, ep := range eps {
			objKeys = append(objKeys, ep+lockName)
		}
	}
	objs := make([]object, len(objKeys))
	if err := l.each(ctx, len(objKeys), func(ctx context.Context, i int) error {
		var err error
		objs[i], err = l.read(ctx, objKeys[i])
		return err
	}); err != nil {
		return nil, err
	}
	var out []locker.Info
	var bad []error
	for _, o := range objs {
		if o.bad != nil {
			bad = append(bad, o.bad)
			continue
		}
		if o.held() {
			out = append(out, o.info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, locker.Unreadable(bad)
}

// prefixes returns the common prefixes directly under prefix (delimiter
// "/"), every page of them.
func (l *Locker) prefixes(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	in := &s3.ListObjectsV2Input{Bucket: aws.String(l.bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")}
	for {
		page, err := l.client.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list locks in s3://%s/%s: %w", l.bucket, prefix, l.explain(err))
		}
		for _, cp := range page.CommonPrefixes {
			out = append(out, aws.ToString(cp.Prefix))
		}
		if !aws.ToBool(page.IsTruncated) || page.NextContinuationToken == nil {
			return out, nil
		}
		in.ContinuationToken = page.NextContinuationToken
	}
}

// each runs fn(0..n-1), Options.Concurrency at a time; the first error
// cancels the rest.
func (l *Locker) each(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(l.concurrency)
	for i := range n {
		g.Go(func() error { return fn(gctx, i) })
	}
	return g.Wait()
}

// changedHands is the HeldError of an acquire that lost every round to
// other contenders without ever seeing a stable holder: the lease was held
// each time, but by whom is unknown.
func changedHands(key string) error {
	return &locker.HeldError{Holder: locker.Info{Key: key, LockedBy: "another contender (the lock changed hands while it was read)"}}
}

// unlockCommand is the panka command that removes the lock object objKey.
func (l *Locker) unlockCommand(objKey string) string {
	rest, ok := strings.CutPrefix(objKey, l.prefix+"stacks/")
	parts := strings.Split(strings.TrimSuffix(rest, "/"+lockName), "/")
	if !ok || len(parts) != 2 {
		return "panka unlock --force"
	}
	return fmt.Sprintf("panka unlock --force -s %s -e %s", parts[0], parts[1])
}
