package pulumirun

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"panka.dev/panka/deployer/engine"
	"panka.dev/panka/statestore/testserver"
)

// TestRemoveS3LocksKeepsOthers: a stop signal landing as pulumi took its
// lock on an S3 backend made the runner remove it with `pulumi cancel`,
// which deletes every lock of the stack: a Pulumi run by hand against the
// same backend lost its lock too. Only the lock objects naming the
// interrupted process (its pid on this host) are removed now; another
// process's lock, another host's and another stack's stay.
func TestRemoveS3LocksKeepsOthers(t *testing.T) {
	srv := testserver.S3(t)
	c := testserver.S3Client(t)
	bucket := testserver.NewBucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	ctx := context.Background()
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Fatalf("os.Hostname: %q, %v: the lock objects name their owner by host name", host, err)
	}
	const stack = "shop-dev"
	url := engine.S3Backend{Bucket: bucket, Prefix: "stacks/shop/dev/pulumi", Region: srv.Region, Endpoint: srv.Endpoint, PathStyle: true}.URL()
	b, ok := s3BackendOf(url)
	if !ok || b.bucket != bucket || b.prefix != "stacks/shop/dev/pulumi" || !b.pathStyle || b.endpoint != srv.Endpoint {
		t.Fatalf("s3BackendOf(%q) = %+v, %v", url, b, ok)
	}
	root := "stacks/shop/dev/pulumi/.pulumi/locks/organization/panka/"
	put := func(key string, pid int, host string) {
		body := fmt.Sprintf(`{"pid":%d,"username":"u","hostname":%q,"timestamp":"2026-11-27T06:00:00Z"}`, pid, host)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	own := root + stack + "/own.json"
	put(own, 4242, host)
	put(root+stack+"/by-hand.json", 777, host)            // pulumi run by hand on this host
	put(root+stack+"/other-host.json", 4242, "elsewhere") // same pid, another machine
	put(root+"shop-prod/own-pid.json", 4242, host)        // another stack

	locks, err := listS3Locks(ctx, c, b, "panka", stack)
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 3 {
		t.Fatalf("locks of %s = %+v, want 3", stack, locks)
	}
	cl, err := b.client(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	removeS3Locks(ctx, cl, b, "panka", stack, []int{4242}, &log)
	if !strings.Contains(log.String(), "removed s3://"+bucket+"/"+own+": the interrupt ended pulumi (pid 4242)") {
		t.Errorf("log %q does not name the removed lock", log.String())
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(root)})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, o := range out.Contents {
		left = append(left, strings.TrimPrefix(aws.ToString(o.Key), root))
	}
	slices.Sort(left)
	if want := []string{"shop-dev/by-hand.json", "shop-dev/other-host.json", "shop-prod/own-pid.json"}; !slices.Equal(left, want) {
		t.Errorf("locks left %v, want %v", left, want)
	}
}
