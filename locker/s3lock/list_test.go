package s3lock_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"panka.dev/panka/locker"
	"panka.dev/panka/locker/s3lock"
	"panka.dev/panka/statestore/testserver"
)

// watchClient records the keys listings return and counts the lock object
// reads in flight. Until two reads have overlapped, a read waits for another
// to start (the first one to wait gives up after 30 s, and then none waits),
// so a List that reads one object after another is seen as such rather than
// by luck of timing.
type watchClient struct {
	s3lock.Client

	mu         sync.Mutex
	listed     []string
	inFlight   int
	peak       int
	overlapped chan struct{}
	once       sync.Once
}

func (c *watchClient) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out, err := c.Client.ListObjectsV2(ctx, in, optFns...)
	if err == nil {
		c.mu.Lock()
		for _, o := range out.Contents {
			c.listed = append(c.listed, aws.ToString(o.Key))
		}
		c.mu.Unlock()
	}
	return out, err
}

func (c *watchClient) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c.mu.Lock()
	c.inFlight++
	c.peak = max(c.peak, c.inFlight)
	if c.inFlight == 2 {
		c.once.Do(func() { close(c.overlapped) })
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight--
		c.mu.Unlock()
	}()
	select {
	case <-c.overlapped:
	case <-time.After(30 * time.Second):
		c.once.Do(func() { close(c.overlapped) })
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return c.Client.GetObject(ctx, in, optFns...)
}

// TestListAtScale: List finds every lease among stacks whose history and
// Pulumi files outnumber the leases, without listing those files (they grow
// with every deployment), and reads the lock objects in parallel, at most
// Options.Concurrency at a time.
func TestListAtScale(t *testing.T) {
	ctx := context.Background()
	c := testserver.S3Client(t)
	bucket := testserver.NewBucket(t)
	l, err := s3lock.New(s3lock.Options{Client: c, Bucket: bucket, Prefix: "team"})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 6 {
		for _, env := range []string{"dev", "prod"} {
			stack := fmt.Sprintf("s%d", i)
			// Every other environment has a lease; all have state and history.
			for _, name := range []string{"state.json", "history/20260102T030405.000000000Z-000000000001.json", "pulumi/.pulumi/stacks/x.json"} {
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("team/stacks/" + stack + "/" + env + "/" + name), Body: strings.NewReader("{}")}); err != nil {
					t.Fatal(err)
				}
			}
			if (i+len(env))%2 == 0 {
				continue
			}
			key := locker.Key(stack, env)
			if _, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "alice"}, time.Hour); err != nil {
				t.Fatal(err)
			}
			want = append(want, key)
		}
	}
	// A released lease is not listed.
	rel := locker.Key("s9", "dev")
	info, err := l.TryAcquire(ctx, locker.Info{Key: rel, LockedBy: "bob"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx, rel, info.ID); err != nil {
		t.Fatal(err)
	}
	w := &watchClient{Client: c, overlapped: make(chan struct{})}
	const limit = 3
	wl, err := s3lock.New(s3lock.Options{Client: w, Bucket: bucket, Prefix: "team", Concurrency: limit})
	if err != nil {
		t.Fatal(err)
	}
	list, err := wl.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range list {
		got = append(got, i.Key)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("List = %v\nwant %v", got, want)
	}
	for _, k := range w.listed {
		if strings.Contains(k, "/history/") || strings.Contains(k, "/pulumi/") {
			t.Fatalf("List listed %s: history and Pulumi files are not lock objects and must not be paged through", k)
		}
	}
	if w.peak < 2 || w.peak > limit {
		t.Fatalf("List had at most %d lock object reads in flight, want 2..%d (Options.Concurrency)", w.peak, limit)
	}
}
