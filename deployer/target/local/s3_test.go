package local_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"panka.dev/panka/deployer/pulumirun"
	"panka.dev/panka/stacks"
	"panka.dev/panka/statestore/testserver"
)

// TestS3Backend runs the engine on a DIY backend in the S3-compatible test
// server (versitygw) with the URL S3Backend builds: up, a run killed
// mid-flight (its lock object and pending operations stay in the bucket),
// the next run refused, RecoverStale, and a clean up.
func TestS3Backend(t *testing.T) {
	t.Parallel()
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	e := newEnv(t)
	e.backendURL = pulumirun.S3Backend{Bucket: bucket, Prefix: "panka/orders/dev/pulumi", Region: srv.Region,
		Endpoint: srv.Endpoint, PathStyle: true}.URL()
	e.extra["AWS_ACCESS_KEY_ID"] = srv.AccessKey
	e.extra["AWS_SECRET_ACCESS_KEY"] = srv.SecretKey
	e.extra["AWS_REGION"] = srv.Region
	mustUp(t, e.runner(model()))
	readManifest(t, e.manifest("orders", "dev", "api"))

	client := testserver.S3Client(t)
	keys := func(prefix string) []string {
		out, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, o := range out.Contents {
			ks = append(ks, *o.Key)
		}
		return ks
	}
	if ks := keys("panka/orders/dev/pulumi/.pulumi/stacks/"); len(ks) == 0 {
		t.Fatalf("no Pulumi state under the prefix: %v", keys(""))
	}

	// Kill a run mid-flight.
	e.extra["PANKALOCAL_DELAY"] = "20s"
	r2 := model()
	r2.Components = append(r2.Components, stacks.Component{Name: "cache", Kind: stacks.KindCache, Spec: map[string]any{}})
	e.grace = -1 // killed outright (see TestRecoverStaleAfterKill)
	run := e.runner(r2)
	e.grace = 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := run.Up(ctx, nil)
		errc <- err
	}()
	// Wait until the engine has checkpointed the in-flight create.
	stateKey := "panka/orders/dev/pulumi/.pulumi/stacks/panka/orders-dev.json"
	deadline := time.Now().Add(60 * time.Second)
	for {
		obj, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(stateKey)})
		if err == nil {
			b, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			if strings.Contains(string(b), `"pending_operations"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no pending operation checkpointed within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-errc
	delete(e.extra, "PANKALOCAL_DELAY")
	if len(keys("panka/orders/dev/pulumi/.pulumi/locks/")) == 0 {
		t.Fatal("the killed run left no lock object")
	}

	run = e.runner(r2)
	_, err := run.Up(context.Background(), nil)
	var locked *pulumirun.LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("up after a killed run: %v, want a LockedError", err)
	}
	rec, err := run.RecoverStale(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Cancelled {
		t.Errorf("recovery = %+v", rec)
	}
	t.Log(rec.String(), " cancelled:", rec.Cancelled)
	if ks := keys("panka/orders/dev/pulumi/.pulumi/locks/"); len(ks) != 0 {
		t.Errorf("lock objects left after recovery: %v", ks)
	}
	res := mustUp(t, run)
	if stepsByName(res)["cache"] != "create" {
		t.Errorf("steps = %+v", res.Steps)
	}
	if _, err := os.Stat(e.manifest("orders", "dev", "cache")); err != nil {
		t.Error(err)
	}
}

// TestS3RecoverStaleLeavesALiveRunAlone: on an s3:// backend too,
// RecoverStale never clears the lock of a Pulumi that still runs on this
// host (a run whose panka was killed while its engine still stops, a
// force-unlocked run). It ran `pulumi cancel` whatever held the lock, and
// the next apply deployed next to the live run: two engines wrote the
// resources and the checkpoint, and the state recorded one commit while
// the manifests held a mix of both. It refuses, naming the process, and
// clears the lock once that run has ended.
func TestS3RecoverStaleLeavesALiveRunAlone(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	e := newEnv(t)
	e.backendURL = pulumirun.S3Backend{Bucket: bucket, Prefix: "panka/orders/dev/pulumi", Region: srv.Region,
		Endpoint: srv.Endpoint, PathStyle: true}.URL()
	e.extra["AWS_ACCESS_KEY_ID"] = srv.AccessKey
	e.extra["AWS_SECRET_ACCESS_KEY"] = srv.SecretKey
	e.extra["AWS_REGION"] = srv.Region
	// RecoverStale lists the lock objects with the credentials of
	// panka's environment, as the Pulumi CLI it starts gets them (not
	// parallel: the process environment).
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	mustUp(t, e.runner(model()))

	e.extra["PANKALOCAL_DELAY"] = "20s"
	r2 := model()
	r2.Component("db").Spec["size"] = "large"
	run := e.runner(r2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := run.Up(ctx, nil)
		errc <- err
	}()
	client := testserver.S3Client(t)
	stateKey := "panka/orders/dev/pulumi/.pulumi/stacks/panka/orders-dev.json"
	deadline := time.Now().Add(60 * time.Second)
	for {
		obj, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(stateKey)})
		if err == nil {
			b, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			if strings.Contains(string(b), `"pending_operations"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no pending operation checkpointed within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	delete(e.extra, "PANKALOCAL_DELAY")
	locks := func() int {
		out, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket),
			Prefix: aws.String("panka/orders/dev/pulumi/.pulumi/locks/")})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Contents)
	}

	rec, err := e.runner(r2).RecoverStale(context.Background())
	if err == nil || !strings.Contains(err.Error(), "which still runs: an earlier run is still deploying or stopping") ||
		!strings.Contains(err.Error(), "Nothing was cleared") || !strings.Contains(err.Error(), "s3://"+bucket+"/") {
		t.Fatalf("RecoverStale during a live run = %+v, %v; want it refused", rec, err)
	}
	if n := locks(); n != 1 {
		t.Fatalf("the live run's lock objects: %d, want its one lock kept", n)
	}

	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the interrupted up returned no error")
	}
	if rec, err := e.runner(r2).RecoverStale(context.Background()); err != nil {
		t.Fatalf("RecoverStale after the run ended: %+v, %v", rec, err)
	}
	mustUp(t, e.runner(r2))
}
