package s3

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go/middleware"
)

// NoteEndpoint returns an API option (for the APIOptions of an S3 or
// DynamoDB client) that marks the errors of the client's requests with
// what set its endpoint: from names the setting ("backend.endpoint (set by
// repo (panka.yaml:2))", "AWS_ENDPOINT_URL_S3", "the endpoint_url of AWS
// profile \"minio\""), "" for AWS's own endpoint. Explain (and the
// DynamoDB lock backend's messages) say to check that setting, or, for
// AWS's own, the network: "check backend.endpoint" was said of every
// unreachable server, also where nothing had set one (a DNS failure
// against AWS) or where the AWS profile had. The mark is transparent:
// the error's text and chain are the request's. The result metadata of a
// request that succeeded is marked too (EndpointOfResult), for an answer
// that came but is not one S3 gives (a GetObject without an ETag).
func NoteEndpoint(from string) func(*middleware.Stack) error {
	return NoteEndpointWith(from, "")
}

// NoteEndpointWith is NoteEndpoint with a note CheckEndpoint adds when the
// endpoint is AWS's own (from "") and cannot be reached: the lock table's
// client says that the state bucket's endpoint is a custom one, as a
// DynamoDB-compatible server set up beside an S3-compatible one and no
// locks.endpoint sent the lock requests to AWS.
func NoteEndpointWith(from, note string) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("PankaNoteEndpoint",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(ctx, in)
				if err != nil {
					err = &endpointNoted{from: from, note: note, err: err}
				} else {
					md.Set(endpointKey{}, from)
				}
				return out, md, err
			}), middleware.Before)
	}
}

// endpointKey is the result metadata key NoteEndpoint sets.
type endpointKey struct{}

// EndpointOfResult is what set the endpoint a successful request went to,
// from the ResultMetadata of its output, as EndpointFrom is for an error.
func EndpointOfResult(md middleware.Metadata) (from string, ok bool) {
	from, ok = md.Get(endpointKey{}).(string)
	return from, ok
}

// endpointNoted is a request's error marked by NoteEndpoint.
type endpointNoted struct {
	from, note string
	err        error
}

func (e *endpointNoted) Error() string { return e.err.Error() }
func (e *endpointNoted) Unwrap() error { return e.err }

// EndpointFrom is what set the endpoint err's request went to, as
// NoteEndpoint marked it: ok is false for an error of a client without the
// mark, from is "" for AWS's own endpoint.
func EndpointFrom(err error) (from string, ok bool) {
	var e *endpointNoted
	if errors.As(err, &e) {
		return e.from, true
	}
	return "", false
}

// CheckEndpoint is what to check about the endpoint of err's request when
// it could not be reached: the setting that chose it, or, for AWS's own
// endpoint of the region (regionKey), the way there. fallback is said of
// an error of a client without NoteEndpoint.
func CheckEndpoint(err error, regionKey, fallback string) string {
	from, ok := EndpointFrom(err)
	switch {
	case !ok:
		return fallback
	case from == "":
		msg := fmt.Sprintf("no custom endpoint is set, so this is AWS's own: check the network (DNS, a proxy in HTTPS_PROXY) and %s", regionKey)
		var e *endpointNoted
		if errors.As(err, &e) && e.note != "" {
			msg += "; " + e.note
		}
		return msg
	}
	return fmt.Sprintf("check that the server is up and that %s is its address", from)
}
