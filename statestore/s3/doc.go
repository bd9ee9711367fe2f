// Package s3 is the S3 statestore backend (SPEC §5). state.json is written
// with conditional requests, so compare-and-swap holds across machines:
// If-Match on the ETag read before, If-None-Match: * to create; a 412
// (or 409, or 404 on If-Match of a deleted object) is a
// *statestore.ConflictError. History records are created with
// If-None-Match: * and never overwritten.
//
// Transient failures (5xx, throttling, connection resets) are retried with
// exponential backoff by the SDK's standard retryer (NewRetryer). A retried
// conditional write whose first attempt did land gets a 412 on the retry;
// the store then reads the object back and treats identical content as its
// own successful write.
//
// Delete replaces state.json with a small tombstone object (conditionally)
// rather than deleting it: a delete marker in a versioned bucket would make
// the next create depend on how the server treats If-None-Match over a
// delete marker (versitygw refuses it). Get and List treat a tombstone as no
// state; all earlier versions stay in the bucket.
//
// The package works with any S3-compatible server: NewClient takes a custom
// endpoint and path-style addressing. It does not load AWS configuration
// itself (the CLI builds the aws.Config) and never reads the environment.
package s3
