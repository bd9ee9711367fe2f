package s3

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// VersionAPI is the part of the S3 API RemoveDeleteMarkers uses
// (*s3.Client implements it).
type VersionAPI interface {
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, optFns ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// ErrDeleteMarker is wrapped by the errors of RemoveDeleteMarkers: a key
// whose delete marker blocks every create and could not be removed.
var ErrDeleteMarker = errors.New("a delete marker blocks the key")

// maxDeleteMarkers bounds how many delete markers stacked on one key
// RemoveDeleteMarkers removes (each deletion of a deleted key adds one).
const maxDeleteMarkers = 20

// RemoveDeleteMarkers is for a create (If-None-Match: *) that was refused
// although the key reads as missing: in a versioned bucket the object was
// deleted (by hand: panka itself never deletes state.json or lock.json),
// so its current version is a delete marker, and some S3-compatible
// servers (versitygw) refuse If-None-Match: * over one, where AWS S3
// accepts it. Every create at the key would then fail forever. It removes
// the delete markers that are the key's current version, so that its
// previous version, if any, is current again, and reports whether it
// removed any: the caller then replaces that version by compare-and-swap
// (If-Match on its ETag), which is what the create would have done over
// the delete marker. Earlier versions are left as they are. Errors say
// which marker could not be removed and how to remove it by hand.
func RemoveDeleteMarkers(ctx context.Context, api VersionAPI, bucket, key string) (bool, error) {
	removed := false
	for range maxDeleteMarkers {
		id, found, err := currentDeleteMarker(ctx, api, bucket, key)
		if err != nil {
			return removed, fmt.Errorf("s3://%s/%s reads as missing but a create there was refused, and listing its versions (to find a delete marker) failed: %w (%w)", bucket, key, Explain(bucket, err), ErrDeleteMarker)
		}
		if !found {
			return removed, nil
		}
		_, err = api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(id)})
		if err != nil && !isNotFound(err) {
			return removed, fmt.Errorf("s3://%s/%s was deleted (its current version is the delete marker %s), and this S3 server refuses to create an object over a delete marker; "+
				"removing the marker failed: %w (%w); remove it by hand (aws s3api delete-object --bucket %s --key %s --version-id %s) and re-run",
				bucket, key, id, Explain(bucket, err), ErrDeleteMarker, bucket, key, id)
		}
		removed = true
	}
	return removed, fmt.Errorf("s3://%s/%s: more than %d delete markers stacked on it (%w); remove them by hand (aws s3api list-object-versions --bucket %s --prefix %s)", bucket, key, maxDeleteMarkers, ErrDeleteMarker, bucket, key)
}

// currentDeleteMarker returns the version id of the delete marker that is
// the current version of key, if it is one.
func currentDeleteMarker(ctx context.Context, api VersionAPI, bucket, key string) (string, bool, error) {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)}
	for {
		out, err := api.ListObjectVersions(ctx, in)
		if err != nil {
			return "", false, err
		}
		for _, v := range out.Versions {
			if aws.ToString(v.Key) == key && aws.ToBool(v.IsLatest) {
				return "", false, nil
			}
		}
		for _, m := range out.DeleteMarkers {
			if aws.ToString(m.Key) == key && aws.ToBool(m.IsLatest) {
				return aws.ToString(m.VersionId), true, nil
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return "", false, nil
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}
