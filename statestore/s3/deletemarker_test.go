package s3_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"panka.dev/panka/statestore"
	s3store "panka.dev/panka/statestore/s3"
	"panka.dev/panka/statestore/testserver"
)

// TestCreateOverDeleteMarker: a state.json deleted by hand in a versioned
// bucket (aws s3 rm, a lifecycle rule) leaves a delete marker, and
// versitygw refuses If-None-Match: * over one. Every later create of that
// state (an apply, and the documented repair, state push --force) failed
// as "changed by another writer", for ever. A create now replaces the
// marker, still by compare-and-swap: a second create is a conflict.
func TestCreateOverDeleteMarker(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	ctx := context.Background()
	c := client(t, srv)
	for _, deletes := range []int{1, 2} {
		key := statestore.Key{Stack: "orders", Environment: []string{"", "dev", "prod"}[deletes]}
		s, err := s3store.New(c, s3store.Options{Bucket: bucket, Prefix: "team"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, key, &statestore.State{Serial: 4, Status: statestore.StatusDeployed}, ""); err != nil {
			t.Fatal(err)
		}
		obj := "team/" + statestore.StatePath("", key)
		for range deletes {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(obj)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := s.Get(ctx, key); !errors.Is(err, statestore.ErrNotFound) {
			t.Fatalf("%d deletes: Get = %v, want ErrNotFound", deletes, err)
		}
		if _, err := s.Put(ctx, key, &statestore.State{Serial: 5, Status: statestore.StatusDeployed}, ""); err != nil {
			t.Fatalf("%d deletes: create over the delete marker: %v", deletes, err)
		}
		st, v, err := s.Get(ctx, key)
		if err != nil || st.Serial != 5 {
			t.Fatalf("%d deletes: Get = %+v, %v; want serial 5", deletes, st, err)
		}
		if _, err := s.Put(ctx, key, &statestore.State{Serial: 6, Status: statestore.StatusDeployed}, ""); !errors.Is(err, statestore.ErrConflict) {
			t.Errorf("%d deletes: a second create = %v, want a conflict", deletes, err)
		}
		if _, err := s.Put(ctx, key, &statestore.State{Serial: 6, Status: statestore.StatusDeployed}, v); err != nil {
			t.Errorf("%d deletes: compare-and-swap after the create: %v", deletes, err)
		}
	}
}

// TestSerialMarkOverDeleteMarker: the serial mark is replaced by
// compare-and-swap, so that it never goes down; deleted by hand in a
// versioned bucket it leaves a delete marker, over which versitygw refuses
// If-None-Match: *. Marking again replaces the marker, as a create of
// state does, rather than failing as "changed by another writer".
func TestSerialMarkOverDeleteMarker(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	ctx := context.Background()
	c := client(t, srv)
	s, err := s3store.New(c, s3store.Options{Bucket: bucket, Prefix: "team"})
	if err != nil {
		t.Fatal(err)
	}
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	if err := s.MarkSerial(ctx, key, 4); err != nil {
		t.Fatal(err)
	}
	obj := "team/" + statestore.SerialPath("", key)
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(obj)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.MarkedSerial(ctx, key); err != nil || n != 0 {
		t.Fatalf("MarkedSerial of a deleted mark: %d, %v; want 0", n, err)
	}
	if err := s.MarkSerial(ctx, key, 5); err != nil {
		t.Fatalf("MarkSerial over the delete marker: %v", err)
	}
	if n, err := s.MarkedSerial(ctx, key); err != nil || n != 5 {
		t.Fatalf("MarkedSerial after MarkSerial(5) over the delete marker: %d, %v; want 5", n, err)
	}
}

// deniedVersions is an S3 client whose credentials may not delete object
// versions.
type deniedVersions struct{ s3store.API }

func (d deniedVersions) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if in.VersionId != nil {
		return nil, errors.New("AccessDenied: no s3:DeleteObjectVersion")
	}
	return d.API.DeleteObject(ctx, in, opts...)
}

// TestDeleteMarkerNotRemovable: when the marker cannot be removed, the
// error names the object and the command that removes it, not a conflict.
func TestDeleteMarkerNotRemovable(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	ctx := context.Background()
	c := client(t, srv)
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	s, err := s3store.New(deniedVersions{c}, s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, key, &statestore.State{Serial: 1, Status: statestore.StatusDeployed}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(statestore.StatePath("", key))}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Put(ctx, key, &statestore.State{Serial: 2, Status: statestore.StatusDeployed}, "")
	if !errors.Is(err, s3store.ErrDeleteMarker) || errors.Is(err, statestore.ErrConflict) {
		t.Fatalf("err = %v, want ErrDeleteMarker", err)
	}
	for _, want := range []string{"s3://" + bucket + "/stacks/orders/dev/state.json", "aws s3api delete-object --bucket " + bucket, "--version-id "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
