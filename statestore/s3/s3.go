package s3

import (
	"bytes"
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/sync/errgroup"

	"panka.dev/panka/statestore"
)

// API is the part of the S3 client the store uses (*s3.Client implements it).
type API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	// ListObjectVersions finds the delete marker of a state.json deleted
	// by hand (RemoveDeleteMarkers).
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, optFns ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

// Server-side encryption settings (backend.sse).
const (
	SSENone = ""
	SSES3   = "AES256"
	SSEKMS  = "aws:kms"
)

// Errors specific to this backend, wrapped with the bucket and key.
var (
	ErrNoBucket      = errors.New("bucket does not exist")
	ErrAccessDenied  = errors.New("access denied")
	ErrWrongRegion   = errors.New("the request was signed for another region than the bucket's")
	ErrUnreachable   = errors.New("cannot reach the S3 endpoint")
	ErrNoCredentials = errors.New("no AWS credentials")
	// ErrServerFailing is a request the server kept refusing with a
	// server error (HTTP 500, 502, 503, 504) or by throttling it, through
	// every retry: nothing to fix in the set-up, the server is overloaded
	// or failing.
	ErrServerFailing = errors.New("the S3 server kept failing")
	// ErrNotS3 is an answer no S3 server gives (a body that is not S3's
	// XML, a GetObject without an ETag): backend.endpoint points at some
	// other HTTP server. Reading it as "no state" or "corrupt state" would
	// be wrong, and so would the repairs those suggest.
	ErrNotS3 = errors.New("the endpoint does not answer like S3")
)

// notS3 is the ErrNotS3 error for an answer that lacks what S3 always
// sends; from names the setting that chose the endpoint (NoteEndpoint, ""
// for AWS's own), known is false for a client without that mark.
func notS3(what, from string, known bool) error {
	check := "backend.endpoint (PANKA_BACKEND_ENDPOINT or AWS_ENDPOINT_URL_S3)"
	if known {
		check = cmp.Or(from, "for a proxy between here and AWS (HTTPS_PROXY): no custom endpoint is set")
	}
	return fmt.Errorf("%w (%s); check %s", ErrNotS3, what, check)
}

// notS3Answer is notS3 for err, the error of a request that failed.
func notS3Answer(what string, err error) error {
	from, ok := EndpointFrom(err)
	return notS3(what, from, ok)
}

// notS3Result is notS3 for a request that succeeded, md its output's
// ResultMetadata: "check backend.endpoint" was said also when the AWS
// profile had set the endpoint, or nothing had (AWS's own, through a proxy).
func notS3Result(what string, md middleware.Metadata) error {
	from, ok := EndpointOfResult(md)
	return notS3(what, from, ok)
}

// CutShort is the error of a read of the object at where (s3://bucket/key)
// whose answer began and did not end, in attempts tries, cut the error of
// the last. The request reached the server and it answered, so its address
// is right: "check backend.endpoint" sent users to a setting that was not
// the cause. The connection broke (or stalled) on the way; re-running is
// the next step, and if it goes on, what lies between (a proxy, a load
// balancer's timeout) or the server itself. The S3 lock backend says it
// of its lock objects too.
func CutShort(where string, cut error, attempts int) error {
	return fmt.Errorf("read %s: the S3 server stopped sending it partway (%w%s): %s", where, cut, tries(attempts), AnsweredThenCut(cut))
}

// AnsweredThenCut says what to do about a call whose answer began and did
// not end, cut the error of reading it: the endpoint is right, the
// connection broke (or stalled past the request timeout) on the way. The
// DynamoDB lock backend says it of a cut answer too.
func AnsweredThenCut(cut error) string {
	how := "the connection was closed before the end"
	var ne net.Error
	if errors.As(cut, &ne) && ne.Timeout() {
		how = "then sent nothing more within the request timeout"
	}
	return "it answered, so the endpoint is right, but " + how + "; " +
		"re-run, and if it goes on check what is between here and the server (a proxy in HTTPS_PROXY, a load balancer's idle timeout) and the server's health"
}

// Options configure a Store.
type Options struct {
	Bucket string
	// Prefix is backend.prefix: every key goes under it.
	Prefix string
	// SSE is "", "AES256" (SSE-S3) or "aws:kms" (SSE-KMS with KMSKeyID, or
	// the account's default key when KMSKeyID is empty).
	SSE      string
	KMSKeyID string
	// Concurrency bounds parallel requests: reads of history records and
	// the per-stack and per-environment listings of List (default 8).
	Concurrency int
	// Now is the clock History lists recent records from (default
	// time.Now).
	Now func() time.Time
}

// Store is the S3 backend. It is safe for concurrent use.
type Store struct {
	api    API
	opts   Options
	prefix string
}

var _ statestore.Store = (*Store)(nil)

// New returns a Store over bucket opts.Bucket through api.
func New(api API, opts Options) (*Store, error) {
	if opts.Bucket == "" {
		return nil, errors.New("s3 state backend: no bucket given (backend.bucket)")
	}
	p, err := statestore.NormalizePrefix(opts.Prefix)
	if err != nil {
		return nil, fmt.Errorf("s3 state backend: %w", err)
	}
	switch opts.SSE {
	case SSENone, SSES3, SSEKMS:
	default:
		return nil, fmt.Errorf("s3 state backend: backend.sse %q is not AES256 or aws:kms", opts.SSE)
	}
	if opts.KMSKeyID != "" && opts.SSE != SSEKMS {
		return nil, fmt.Errorf("s3 state backend: backend.kmsKeyId is set but backend.sse is %q, not aws:kms", opts.SSE)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{api: api, opts: opts, prefix: p}, nil
}

// ClientOptions configure NewClient.
type ClientOptions struct {
	// Endpoint overrides the S3 endpoint (S3-compatible servers). Empty
	// keeps the SDK's resolution, including AWS_ENDPOINT_URL_S3 loaded into
	// the aws.Config.
	Endpoint string
	// UsePathStyle addresses buckets as endpoint/bucket/key.
	UsePathStyle bool
	// MaxAttempts per request including the first (default 6).
	MaxAttempts int
	// OnRetry, when set, is told of each retry of a request whose attempt
	// got no answer (see NotifyRetries).
	OnRetry func(RetryNotice)
	// APIOptions are added to the client's (NoteEndpoint).
	APIOptions []func(*middleware.Stack) error
}

// NewRetryer returns the retryer panka uses for AWS calls: the SDK's
// standard retryer (5xx, throttling, connection resets and other transient
// network errors, with exponential backoff and jitter), more attempts than
// the default, and no client-side retry quota, so a burst of failures
// while many writers race cannot turn into "retry quota exceeded".
func NewRetryer(maxAttempts int) aws.Retryer {
	if maxAttempts <= 0 {
		maxAttempts = 6
	}
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = 10 * time.Second
		o.RateLimiter = ratelimit.None
		o.Retryables = append(o.Retryables,
			retry.RetryableHTTPStatusCode{Codes: map[int]struct{}{
				http.StatusInternalServerError: {}, http.StatusBadGateway: {},
				http.StatusServiceUnavailable: {}, http.StatusGatewayTimeout: {},
			}},
			retry.RetryableErrorCode{Codes: map[string]struct{}{
				"SlowDown": {}, "InternalError": {}, "ServiceUnavailable": {}, "RequestTimeout": {},
			}},
		)
	})
}

// NewClient returns an S3 client from cfg with panka's retryer and the
// endpoint options.
func NewClient(cfg aws.Config, o ClientOptions) *s3.Client {
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.UsePathStyle
		so.Retryer = NotifyRetries(NewRetryer(o.MaxAttempts), o.OnRetry)
		so.APIOptions = append(so.APIOptions, o.APIOptions...)
	})
}

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.opts.Bucket }

func (s *Store) where(key string) string { return "s3://" + s.opts.Bucket + "/" + key }

func statusOf(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func codeOf(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// classify turns an SDK error into one that says what, where and what next.
func (s *Store) classify(op, key string, err error) error {
	return fmt.Errorf("%s %s: %w", op, s.where(key), Explain(s.opts.Bucket, err))
}

// Explain rewrites the S3 errors a user fixes in their set-up (a missing
// bucket, credentials, the bucket's region, an unreachable endpoint) as what
// is wrong with bucket and which setting fixes it, instead of the SDK's
// text (request ids, retry counts). The result wraps the matching sentinel
// (ErrNoBucket, ErrAccessDenied, ErrWrongRegion, ErrUnreachable) and err
// itself, so errors.Is/As still see both. Other errors are returned as they
// are. The S3 lock backend uses it too: its objects live in the same bucket.
func Explain(bucket string, err error) error {
	if err == nil {
		return nil
	}
	// First: the credential chain's own failures (an instance-metadata 403,
	// a refused connection to it) must not read as the bucket's.
	if cause := CredentialsError(err); cause != nil {
		return &explained{ErrNoCredentials, err, fmt.Sprintf("%s (%v); set aws.profile (or AWS_PROFILE), AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where a role is available", ErrNoCredentials, cause), ""}
	}
	code, status := codeOf(err), statusOf(err)
	switch {
	case code == "NoSuchBucket":
		return &explained{ErrNoBucket, err, fmt.Sprintf("bucket %q does not exist; create it with `panka backend create --bucket %s` or fix backend.bucket/backend.region", bucket, bucket), bucket}
	case status == http.StatusForbidden || code == "AccessDenied" || code == "InvalidAccessKeyId" ||
		code == "SignatureDoesNotMatch" || code == "ExpiredToken" || code == "InvalidToken" ||
		code == "XAdminUserNotFound": // versitygw's answer to an unknown access key
		if code == "" {
			code = "403"
		}
		return &explained{ErrAccessDenied, err, fmt.Sprintf("access denied (%s); check the AWS credentials (aws.profile, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, aws.assumeRole) and that they may use bucket %q", code, bucket), ""}
	case status == http.StatusMovedPermanently || code == "PermanentRedirect" ||
		code == "AuthorizationHeaderMalformed" || code == "IllegalLocationConstraintException":
		msg := code
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorMessage() != "" {
			msg += ": " + ae.ErrorMessage()
		}
		return &explained{ErrWrongRegion, err, fmt.Sprintf("bucket %q: %s (%s); set backend.region to the bucket's region", bucket, ErrWrongRegion, msg), ""}
	}
	if what, throttled, ok := ServerFailure(err); ok {
		if throttled {
			return &explained{ErrServerFailing, err, fmt.Sprintf("bucket %q: the S3 server is throttling requests: %s; wait a minute and re-run (other jobs may be using the bucket heavily)", bucket, what), ""}
		}
		return &explained{ErrServerFailing, err, fmt.Sprintf("bucket %q: %s: %s; wait and re-run, and if it goes on check the server's health (backend.endpoint for an S3-compatible server)", bucket, ErrServerFailing, what), ""}
	}
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) && !ContextDone(err) {
		var dns *net.DNSError
		if errors.As(err, &dns) && strings.HasPrefix(dns.Name, bucket+".") && !strings.HasSuffix(dns.Name, ".amazonaws.com") {
			// Virtual-hosted addressing (bucket.host) of an S3-compatible
			// server that only answers path-style requests.
			return &explained{ErrUnreachable, err, fmt.Sprintf("%s: %v; the bucket was addressed as the host %s (virtual-hosted style): set backend.usePathStyle: true (PANKA_BACKEND_USE_PATH_STYLE) for an S3-compatible server, or check backend.endpoint", ErrUnreachable, send.Err, dns.Name), ""}
		}
		if hint := CertificateHint(err); hint != "" {
			where := "backend.endpoint, PANKA_BACKEND_ENDPOINT or AWS_ENDPOINT_URL_S3"
			if from, ok := EndpointFrom(err); ok {
				where = cmp.Or(from, "AWS's own, no custom endpoint is set")
			}
			return &explained{ErrUnreachable, err, fmt.Sprintf("%s: %v; %s (%s)", ErrUnreachable, send.Err, hint, where), ""}
		}
		return &explained{ErrUnreachable, err, fmt.Sprintf("%s: %v; %s", ErrUnreachable, send.Err,
			CheckEndpoint(err, "backend.region", "check backend.endpoint (PANKA_BACKEND_ENDPOINT or AWS_ENDPOINT_URL_S3) and that the server is up")), ""}
	}
	var de *smithy.DeserializationError
	var xe *xml.SyntaxError
	if errors.As(err, &de) || status != 0 && errors.As(err, &xe) {
		// xml.SyntaxError: an error answer (a web server's HTML page for
		// a method it does not serve) that the SDK failed to read as S3's
		// XML error, which it returns as it is.
		return &explained{ErrNotS3, err, notS3Answer(fmt.Sprintf("HTTP %d with a body that is not S3's XML", status), err).Error(), ""}
	}
	if status == http.StatusNotFound && (code == "" || code == "NotFound") {
		// S3 names what is not found (NoSuchKey, NoSuchBucket, ...) in
		// every answer with a body; the SDK says NotFound for a 404 it
		// could not read one from. (HEAD answers have no body, and are
		// taken as "not there" before they come here.)
		return &explained{ErrNotS3, err, notS3Answer("HTTP 404 without an S3 error code such as NoSuchKey or NoSuchBucket", err).Error(), ""}
	}
	return err
}

// CertificateHint says what to do when err is a TLS connection refused
// for the server's certificate, "" for any other error: an S3- or
// DynamoDB-compatible server with a certificate of its own CA (MinIO behind
// a company CA) is trusted with the SDK's AWS_CA_BUNDLE, which "check
// that the server is up" did not say. The DynamoDB lock backend uses it
// too.
func CertificateHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return "the server's TLS certificate is signed by a CA this machine does not trust: give that CA's certificate (PEM) with AWS_CA_BUNDLE=FILE, or add it to the system's trust store; check the endpoint"
	case errors.As(err, &host):
		return "the server's TLS certificate is not for that host name: use the name the certificate is for; check the endpoint"
	case errors.As(err, &invalid):
		return "the server's TLS certificate is not valid (expired, or not for serving): renew it on the server; check the endpoint"
	}
	return ""
}

// ServerFailure describes err when the server answered with a server error
// (HTTP 500, 502, 503, 504; not 501, a feature it lacks) or throttled the
// request (SlowDown, ThrottlingException, ProvisionedThroughputExceeded...,
// HTTP 429): the answers the SDK retries, so err is what the last attempt
// got. what reads like "SlowDown (HTTP 503), still after 6 attempts", with
// the server's message when it gave one. ok is false for other errors.
// The DynamoDB lock backend uses it too.
func ServerFailure(err error) (what string, throttled, ok bool) {
	if err == nil || ContextDone(err) {
		return "", false, false
	}
	code, status := codeOf(err), statusOf(err)
	_, throttled = retry.DefaultThrottleErrorCodes[code]
	throttled = throttled || status == http.StatusTooManyRequests
	failing := status == http.StatusInternalServerError || status == http.StatusBadGateway ||
		status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout ||
		code == "InternalError" || code == "InternalServerError" || code == "ServiceUnavailable"
	if !throttled && !failing {
		return "", false, false
	}
	what = code
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorMessage() != "" && code != "" && ae.ErrorMessage() != http.StatusText(status) {
		what += ": " + ae.ErrorMessage()
	}
	if status != 0 {
		if what == "" {
			what = fmt.Sprintf("HTTP %d", status)
		} else {
			what += fmt.Sprintf(" (HTTP %d)", status)
		}
	}
	var mae *retry.MaxAttemptsError
	if errors.As(err, &mae) {
		what += fmt.Sprintf(", still after %d attempts", mae.Attempt)
	}
	return what, throttled, true
}

// CredentialsError returns the cause when err is the SDK failing to find or
// refresh credentials before sending anything, else nil. The SDK has no
// type for it: its signing middleware wraps the provider's error as
// "get identity: ..." (the same text in every service client).
func CredentialsError(err error) error {
	if ContextDone(err) {
		return nil
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.HasPrefix(e.Error(), "get identity: ") {
			if inner := errors.Unwrap(e); inner != nil {
				return inner
			}
			return e
		}
	}
	return nil
}

// ContextDone reports whether err comes from the caller's context being
// canceled or past its deadline. errors.Is(err, context.DeadlineExceeded)
// cannot tell: the transport's own timeouts ("timeout awaiting response
// headers", a dial timeout) match it too, and those are an endpoint that
// does not answer, to be explained like one that refuses connections.
func ContextDone(err error) bool {
	switch e := err.(type) {
	case nil:
		return false
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			if ContextDone(inner) {
				return true
			}
		}
		return false
	}
	if err == context.Canceled || err == context.DeadlineExceeded { //nolint:errorlint // identity: only the context's own errors
		return true
	}
	return ContextDone(errors.Unwrap(err))
}

// explained is an SDK error with a message for the user in its place.
type explained struct {
	sentinel, err error
	msg           string
	bucket        string // the bucket that does not exist (ErrNoBucket)
}

// MissingBucket returns the bucket an error explained as ErrNoBucket names
// (false for any other error), so that a caller that knows where the
// bucket's name was set can say so.
func MissingBucket(err error) (string, bool) {
	var e *explained
	if errors.As(err, &e) && e.sentinel == ErrNoBucket && e.bucket != "" {
		return e.bucket, true
	}
	return "", false
}

func (e *explained) Error() string   { return e.msg }
func (e *explained) Unwrap() []error { return []error{e.sentinel, e.err} }

// IsNoSuchKey reports whether err is S3's answer to a GET of a missing
// object (see isNoSuchKey), not another server's 404.
func IsNoSuchKey(err error) bool { return isNoSuchKey(err) }

// IsNotFound reports whether err is S3's answer for a missing object (or
// a 404 without an error code, as to HEAD requests).
func IsNotFound(err error) bool { return isNotFound(err) }

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	switch codeOf(err) {
	case "NoSuchKey", "NotFound", "":
		return statusOf(err) == http.StatusNotFound
	}
	return false
}

// isNoSuchKey reports whether err is S3's answer to a GET of a missing
// object: 404 with the error code NoSuchKey, which S3 and the S3-compatible
// servers give to every GET (only HEAD answers have no code). A 404 without
// it is another HTTP server's page for a path it does not have (a web
// server, a proxy on the wrong port): read as "no such key", plan, status
// and changed --since-deployed said nothing was deployed. The S3 lock
// backend reads its lock objects with it too (IsNoSuchKey).
func isNoSuchKey(err error) bool {
	var nsk *types.NoSuchKey
	return errors.As(err, &nsk) || codeOf(err) == "NoSuchKey"
}

func isPreconditionFailed(err error) bool {
	st := statusOf(err)
	return st == http.StatusPreconditionFailed || st == http.StatusConflict ||
		codeOf(err) == "PreconditionFailed" || codeOf(err) == "ConditionalRequestConflict"
}

// read returns an object's bytes and ETag; (nil, "", nil) when it does not exist.
// An answer cut partway (the connection reset or closed before the end of
// the body) is asked for again, up to three times in all: the SDK retries
// a request that fails, not the reading of its answer, and one dropped
// connection failed status, history and the start of an apply.
func (s *Store) read(ctx context.Context, key string) ([]byte, string, error) {
	const attempts = 3
	for attempt := 1; ; attempt++ {
		data, etag, cut, err := s.readOnce(ctx, key)
		if cut == nil {
			return data, etag, err
		}
		var ne net.Error
		if attempt == attempts || ctx.Err() != nil || (errors.As(cut, &ne) && ne.Timeout()) {
			// A stall (the client's request timeout ended it) is not
			// asked for again: each try would take as long.
			return nil, "", CutShort(s.where(key), cut, attempt)
		}
	}
}

// tries is ", N attempts" for a message when n > 1.
func tries(n int) string {
	if n > 1 {
		return fmt.Sprintf(", %d attempts", n)
	}
	return ""
}

// readOnce is one GetObject of read; cut is the error of reading a body
// that began and did not end.
func (s *Store) readOnce(ctx context.Context, key string) (data []byte, etag string, cut, err error) {
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.opts.Bucket), Key: aws.String(key)})
	if err != nil {
		if isNoSuchKey(err) {
			return nil, "", nil, nil
		}
		return nil, "", nil, s.classify("read", key, err)
	}
	defer out.Body.Close()
	if out.ETag == nil {
		return nil, "", nil, fmt.Errorf("read %s: %w", s.where(key), notS3Result("its answer to GetObject has no ETag, which S3 always sends", out.ResultMetadata))
	}
	data, err = io.ReadAll(out.Body)
	if err != nil {
		// The answer began but did not end: a server that stalls, or a
		// connection cut partway (the client's request timeout ends a
		// stall).
		return nil, "", err, nil
	}
	return data, aws.ToString(out.ETag), nil, nil
}

// put writes data at key with the given condition (ifMatch or, when empty, If-None-Match: *).
func (s *Store) put(ctx context.Context, key string, data []byte, ifMatch string) (string, error) {
	if ifMatch == "" {
		return s.putObject(ctx, key, data, func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") })
	}
	return s.putObject(ctx, key, data, func(in *s3.PutObjectInput) { in.IfMatch = aws.String(ifMatch) })
}

// putObject writes data at key with the store's encryption settings,
// cond (nil: none) setting the request's condition.
func (s *Store) putObject(ctx context.Context, key string, data []byte, cond func(*s3.PutObjectInput)) (string, error) {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.opts.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String("application/json"),
	}
	if cond != nil {
		cond(in)
	}
	switch s.opts.SSE {
	case SSES3:
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case SSEKMS:
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		if s.opts.KMSKeyID != "" {
			in.SSEKMSKeyId = aws.String(s.opts.KMSKeyID)
		}
	}
	out, err := s.api.PutObject(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ETag), nil
}

// lostRace handles a failed conditional write: when the object now holds
// exactly data, an earlier attempt of this same (retried) request landed and
// the write succeeded; otherwise it is a conflict.
func (s *Store) lostRace(ctx context.Context, key string, data []byte) (string, bool) {
	cur, etag, err := s.read(ctx, key)
	if err == nil && cur != nil && bytes.Equal(cur, data) {
		return etag, true
	}
	return "", false
}

// Get implements statestore.Store.
func (s *Store) Get(ctx context.Context, key statestore.Key) (*statestore.State, statestore.Version, error) {
	if err := key.Validate(); err != nil {
		return nil, "", err
	}
	k := statestore.StatePath(s.prefix, key)
	data, etag, err := s.read(ctx, k)
	if err != nil {
		return nil, "", err
	}
	if data == nil {
		if err := s.checkNotFolder(ctx, k); err != nil {
			return nil, "", err
		}
	}
	if data == nil || isTombstone(data) {
		return nil, "", fmt.Errorf("no state for %s at %s: %w", key, s.where(k), statestore.ErrNotFound)
	}
	st, err := statestore.DecodeState(data, key, s.where(k))
	if errors.Is(err, statestore.ErrCorrupt) {
		return nil, statestore.Version(etag), err
	}
	if err != nil {
		return nil, "", err
	}
	return st, statestore.Version(etag), nil
}

// checkNotFolder returns the error of a state.json at k that is not there
// while a "folder" of that name is (a key ending in "/", as the S3
// console's "Create folder" makes, or keys under it, as `aws s3 cp FILE
// s3://.../state.json/` makes): a state restored into the wrong place read
// as "no state", and on versitygw every create of it failed as a
// conflict. One listing of at most one key, only when state.json is not
// there.
func (s *Store) checkNotFolder(ctx context.Context, k string) error {
	dir := k + "/"
	inside, err := s.folderAt(ctx, k, "the state")
	if err != nil || inside == "" {
		return err
	}
	what := `a folder (a key ending in "/", as the S3 console's "Create folder" makes)`
	fix := fmt.Sprintf("remove it (aws s3 rm --recursive %s)", s.where(dir))
	if inside != dir {
		what = fmt.Sprintf(`a folder: keys under it, such as %s (aws s3 cp FILE %s, with the trailing "/", puts FILE there)`, s.where(inside), s.where(dir))
		fix = fmt.Sprintf("if %s is the state, move it into place (aws s3 mv %s %s) and remove what else the folder holds; otherwise remove the folder (aws s3 rm --recursive %s)",
			s.where(inside), s.where(inside), s.where(k), s.where(dir))
	}
	return statestore.NotAState(s.where(k), what, fix)
}

// folderAt returns the first key of the "folder" named as the object k
// (k + "/" itself, or a key under it), "" when there is none; what names
// the object in the error of the listing. One listing of at most one key.
func (s *Store) folderAt(ctx context.Context, k, what string) (string, error) {
	dir := k + "/"
	out, err := s.api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.opts.Bucket), Prefix: aws.String(dir), MaxKeys: aws.Int32(1)})
	if err != nil {
		return "", fmt.Errorf("look for a folder named as %s: %w", what, s.classify("list", dir, err))
	}
	if len(out.Contents) == 0 {
		return "", nil
	}
	return aws.ToString(out.Contents[0].Key), nil
}

// Put implements statestore.Store.
func (s *Store) Put(ctx context.Context, key statestore.Key, st *statestore.State, prev statestore.Version) (statestore.Version, error) {
	if err := key.Validate(); err != nil {
		return "", err
	}
	data, err := statestore.EncodeState(st, key)
	if err != nil {
		return "", err
	}
	k := statestore.StatePath(s.prefix, key)
	etag, err := s.put(ctx, k, data, string(prev))
	if err != nil && prev == "" && isPreconditionFailed(err) {
		etag, err = s.createOver(ctx, k, data, err)
		if errors.Is(err, ErrDeleteMarker) {
			return "", fmt.Errorf("write state of %s: %w", key, err)
		}
	}
	if err != nil {
		if isPreconditionFailed(err) || (prev != "" && isNotFound(err)) {
			if etag, ok := s.lostRace(ctx, k, data); ok {
				return statestore.Version(etag), nil
			}
			if prev == "" {
				// versitygw refuses a create where a folder of that
				// name is (AWS S3 keeps both): no re-run would help.
				if ferr := s.checkNotFolder(ctx, k); ferr != nil {
					return "", fmt.Errorf("write state of %s: %w", key, ferr)
				}
			}
			return "", &statestore.ConflictError{Key: key, Location: s.where(k)}
		}
		return "", s.classify("write state", k, err)
	}
	return statestore.Version(etag), nil
}

// createOver retries a create of state that If-None-Match: * refused
// (refused). Over a tombstone (Delete leaves one) and over a delete marker
// (a state.json deleted by hand in a versioned bucket, which versitygw does
// not let a create replace) creating means replacing what is there, by
// compare-and-swap on its ETag: the result is that write's. Otherwise the
// key holds state and refused stands.
func (s *Store) createOver(ctx context.Context, k string, data []byte, refused error) (string, error) {
	cur, tag, err := s.read(ctx, k)
	if err != nil {
		return "", refused
	}
	if cur == nil {
		removed, err := RemoveDeleteMarkers(ctx, s.api, s.opts.Bucket, k)
		if err != nil || !removed {
			return "", cmp.Or(err, refused)
		}
		// The version before the deletion is current again: replace it
		// whatever it holds, as a create over the marker would have.
		if cur, tag, err = s.read(ctx, k); err != nil {
			return "", refused
		}
		if cur == nil {
			return s.put(ctx, k, data, "")
		}
		return s.put(ctx, k, data, tag)
	}
	if isTombstone(cur) {
		return s.put(ctx, k, data, tag)
	}
	return "", refused
}

// tombstone is what Delete leaves at state.json: a small marker object
// that Get reports as "no state". Deleting the object instead would leave a
// delete marker in a versioned bucket, and S3-compatible servers differ on
// whether If-None-Match: * may then create the key again (versitygw refuses);
// a tombstone keeps every later create a plain compare-and-swap on its ETag.
func tombstone(key statestore.Key) []byte {
	return []byte(fmt.Sprintf(`{"schemaVersion":%d,"stack":%q,"environment":%q,"deleted":true}`+"\n", statestore.SchemaVersion, key.Stack, key.Environment))
}

func isTombstone(data []byte) bool {
	var p struct {
		Deleted bool `json:"deleted"`
	}
	return len(data) < 512 && json.Unmarshal(data, &p) == nil && p.Deleted
}

// Delete implements statestore.Store: the state is replaced, with
// compare-and-swap, by a tombstone; earlier versions stay in a versioned bucket.
func (s *Store) Delete(ctx context.Context, key statestore.Key, prev statestore.Version) error {
	if err := key.Validate(); err != nil {
		return err
	}
	k := statestore.StatePath(s.prefix, key)
	notFound := fmt.Errorf("no state for %s at %s: %w", key, s.where(k), statestore.ErrNotFound)
	var err error
	if prev != "" {
		if _, err = s.put(ctx, k, tombstone(key), string(prev)); err == nil {
			return nil
		}
		if !isPreconditionFailed(err) && !isNotFound(err) {
			return s.classify("delete state", k, err)
		}
	}
	cur, _, rerr := s.read(ctx, k)
	switch {
	case rerr != nil:
		return rerr
	case cur == nil || isTombstone(cur):
		return notFound
	}
	return &statestore.ConflictError{Key: key, Location: s.where(k)}
}

// AppendHistory implements statestore.Store.
func (s *Store) AppendHistory(ctx context.Context, key statestore.Key, d *statestore.Deployment) error {
	if err := key.Validate(); err != nil {
		return err
	}
	data, err := statestore.EncodeDeployment(d, key)
	if err != nil {
		return err
	}
	name, err := statestore.HistoryName(d)
	if err != nil {
		return fmt.Errorf("append history of %s: %w", key, err)
	}
	k := statestore.HistoryPrefix(s.prefix, key) + name
	if _, err := s.put(ctx, k, data, ""); err != nil {
		if isPreconditionFailed(err) {
			if _, ok := s.lostRace(ctx, k, data); ok {
				return nil
			}
			return fmt.Errorf("history record %s already exists: %w", s.where(k), statestore.ErrConflict)
		}
		return s.classify("write history record", k, err)
	}
	return nil
}

// RemoveHistory implements statestore.Store. The record is read and checked
// to be d's, then deleted on the condition that it is still that object
// (If-Match on its ETag; S3 and versitygw support conditional deletes). A
// server that does not implement the condition gets a plain delete: history
// names carry the start time and serial and AppendHistory never replaces a
// record, so the object just read is the one deleted. In a versioned bucket
// the record stays as a noncurrent version; History only lists current ones.
func (s *Store) RemoveHistory(ctx context.Context, key statestore.Key, d *statestore.Deployment) error {
	name, err := statestore.RemovalName(key, d)
	if err != nil {
		return err
	}
	k := statestore.HistoryPrefix(s.prefix, key) + name
	data, etag, err := s.read(ctx, k)
	if err != nil {
		return fmt.Errorf("remove history record: %w", err)
	}
	if data == nil {
		return nil
	}
	if err := statestore.CheckRemovable(data, key, d, s.where(k)); err != nil {
		return err
	}
	in := &s3.DeleteObjectInput{Bucket: aws.String(s.opts.Bucket), Key: aws.String(k), IfMatch: aws.String(etag)}
	_, err = s.api.DeleteObject(ctx, in)
	if err != nil && (codeOf(err) == "NotImplemented" || statusOf(err) == http.StatusNotImplemented) {
		in.IfMatch = nil
		_, err = s.api.DeleteObject(ctx, in)
	}
	switch {
	case err == nil, isNotFound(err):
		return nil
	case isPreconditionFailed(err):
		// Gone (a retried delete that landed) or replaced meanwhile.
		cur, _, rerr := s.read(ctx, k)
		if rerr == nil && cur == nil {
			return nil
		}
		return fmt.Errorf("remove history record %s: it changed while being removed; left in place: %w", s.where(k), statestore.ErrConflict)
	}
	return s.classify("remove history record", k, err)
}

// listAll lists keys (and common prefixes when delimiter is set) under prefix.
func (s *Store) listAll(ctx context.Context, prefix, delimiter string) (keys, prefixes []string, err error) {
	objs, prefixes, err := s.listObjects(ctx, prefix, delimiter)
	for _, o := range objs {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys, prefixes, err
}

// listObjects lists objects (and common prefixes when delimiter is set) under prefix.
func (s *Store) listObjects(ctx context.Context, prefix, delimiter string) (objs []types.Object, prefixes []string, err error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.opts.Bucket), Prefix: aws.String(prefix)}
	if delimiter != "" {
		in.Delimiter = aws.String(delimiter)
	}
	return s.listPages(ctx, in)
}

// listPages runs a listing to its last page.
func (s *Store) listPages(ctx context.Context, in *s3.ListObjectsV2Input) (objs []types.Object, prefixes []string, err error) {
	prefix := aws.ToString(in.Prefix)
	p := s3.NewListObjectsV2Paginator(s.api, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, s.classify("list", prefix, err)
		}
		if out.Name == nil {
			// Every ListBucketResult names its bucket; an empty answer
			// from another server must not read as "no state".
			return nil, nil, fmt.Errorf("list %s: %w", s.where(prefix), notS3Result("its answer to ListObjectsV2 names no bucket", out.ResultMetadata))
		}
		objs = append(objs, out.Contents...)
		for _, cp := range out.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(cp.Prefix))
		}
	}
	return objs, prefixes, nil
}

// historyKeys returns the record keys of key, newest first.
func (s *Store) historyKeys(ctx context.Context, key statestore.Key) ([]string, error) {
	hp := statestore.HistoryPrefix(s.prefix, key)
	objs, prefixes, err := s.listObjects(ctx, hp, "/")
	if err != nil {
		return nil, err
	}
	out := recordKeys(hp, objs, prefixes)
	statestore.SortHistory(out)
	return out, nil
}

// recordKeys returns the keys of a delimited listing of the history prefix
// hp that are named as records: its objects, and its folders (common
// prefixes: a key ending in "/", as the S3 console's "Create folder"
// makes, or keys under one) named as a record with no record object of
// that name. Such a folder is a damaged record (readRecord), listed as
// the local backend lists a folder in a record's place, not left out
// without a word; its key keeps the trailing "/".
func recordKeys(hp string, objs []types.Object, prefixes []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, o := range objs {
		k := aws.ToString(o.Key)
		if _, ok := statestore.ParseHistoryName(strings.TrimPrefix(k, hp)); ok {
			out = append(out, k)
			seen[k] = true
		}
	}
	for _, p := range prefixes {
		k := strings.TrimSuffix(p, "/")
		if _, ok := statestore.ParseHistoryName(strings.TrimPrefix(k, hp)); ok && !seen[k] {
			out = append(out, p)
		}
	}
	return out
}

func (s *Store) readRecord(ctx context.Context, key statestore.Key, k string) (*statestore.Deployment, error) {
	if strings.HasSuffix(k, "/") {
		return nil, statestore.NotARecord(s.where(k), `a folder (a key ending in "/", or keys under it)`)
	}
	data, _, err := s.read(ctx, k)
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, fmt.Errorf("history record %s was removed while being read (an apply withdrew it): %w: %w", s.where(k), statestore.ErrRecordGone, statestore.ErrNotFound)
	}
	return statestore.DecodeDeployment(data, key, s.where(k))
}

// maxWindowPage bounds the offset and limit of a History that lists the
// recent records first: a longer page is most of a listing page anyway.
const maxWindowPage = 1000

// newestKeys returns the n newest record keys of key, newest first, or
// every key when the recent ones do not hold them (a shorter history, or
// one not deployed lately): it lists the records named in each of
// statestore.HistoryPageWindows first (S3 StartAfter), so the cost of a
// page does not grow with the length of the history.
func (s *Store) newestKeys(ctx context.Context, key statestore.Key, n int) ([]string, error) {
	hp := statestore.HistoryPrefix(s.prefix, key)
	now := s.opts.Now()
	for _, w := range statestore.HistoryPageWindows {
		from := statestore.HistoryPageFrom(now, w)
		objs, prefixes, err := s.listPages(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.opts.Bucket), Prefix: aws.String(hp),
			Delimiter: aws.String("/"), StartAfter: aws.String(hp + statestore.HistoryFrom(from))})
		if err != nil {
			return nil, err
		}
		keys := recordKeys(hp, objs, prefixes)
		if top, ok := statestore.NewestFrom(keys, from, n); ok {
			return top, nil
		}
	}
	return s.historyKeys(ctx, key)
}

// History implements statestore.Store. With a limit, only the recent
// records are listed when they hold the page (newestKeys); the records of
// the page are read in parallel.
func (s *Store) History(ctx context.Context, key statestore.Key, offset, limit int) ([]*statestore.Deployment, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	return statestore.RetryRecordGone(ctx, func(skipGone bool) ([]*statestore.Deployment, error) {
		return s.history(ctx, key, offset, limit, skipGone)
	})
}

func (s *Store) history(ctx context.Context, key statestore.Key, offset, limit int, skipGone bool) ([]*statestore.Deployment, error) {
	var keys []string
	var err error
	if limit > 0 && limit <= maxWindowPage && offset <= maxWindowPage {
		keys, err = s.newestKeys(ctx, key, max(offset, 0)+limit)
	} else {
		keys, err = s.historyKeys(ctx, key)
	}
	if err != nil {
		return nil, err
	}
	lo, hi := statestore.Page(len(keys), offset, limit)
	page := keys[lo:hi]
	r := statestore.NewHistoryReader(key, len(page))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Concurrency)
	for i, k := range page {
		g.Go(func() error {
			d, err := s.readRecord(gctx, key, k)
			if skipGone && errors.Is(err, statestore.ErrRecordGone) {
				return nil
			}
			return r.Set(i, s.where(k), d, err)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return r.Result()
}

// NewerHistory implements statestore.Store: one listing that starts after
// since (S3 lists keys in order, and record names start with their time),
// and one read when a record is ahead.
func (s *Store) NewerHistory(ctx context.Context, key statestore.Key, serial int64, since time.Time) (*statestore.Deployment, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	hp := statestore.HistoryPrefix(s.prefix, key)
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.opts.Bucket), Prefix: aws.String(hp), Delimiter: aws.String("/")}
	if from := statestore.HistoryFrom(since); from != "" {
		in.StartAfter = aws.String(hp + from)
	}
	objs, prefixes, err := s.listPages(ctx, in)
	if err != nil {
		return nil, err
	}
	keys := recordKeys(hp, objs, prefixes)
	// A record withdrawn since the listing is no part of the history:
	// the next one counts.
	for {
		k := statestore.NewestAbove(keys, serial)
		if k == "" {
			return nil, nil
		}
		d, err := s.readRecord(ctx, key, k)
		if !errors.Is(err, statestore.ErrRecordGone) {
			return d, err
		}
		keys = slices.DeleteFunc(keys, func(x string) bool { return x == k })
	}
}

// MarkSerial implements statestore.Store.
func (s *Store) MarkSerial(ctx context.Context, key statestore.Key, serial int64) error {
	if err := key.Validate(); err != nil {
		return err
	}
	data, err := statestore.EncodeSerialMark(serial)
	if err != nil {
		return err
	}
	k := statestore.SerialPath(s.prefix, key)
	// The mark never goes down. Its writers hold the lease and mark a
	// serial above the mark they read, but a run that lost its lease
	// meanwhile (panka unlock --force, a slow state server) marks late,
	// and its lower serial replaced the new holder's higher one: a lost
	// state.json would then be numbered from the lower mark, and a serial
	// given twice. So it is replaced by compare-and-swap on the mark read
	// here (one request more than a plain write), and a higher mark is
	// kept.
	for attempt := 1; ; attempt++ {
		cur, etag, err := s.read(ctx, k)
		if err != nil {
			return err
		}
		if cur != nil {
			n, err := statestore.DecodeSerialMark(cur, s.where(k))
			if err != nil {
				return err
			}
			if n >= serial {
				return nil
			}
		}
		_, err = s.put(ctx, k, data, etag)
		if err == nil {
			return nil
		}
		if !isPreconditionFailed(err) {
			return s.classify("write serial mark", k, err)
		}
		if cur == nil {
			// Refused with nothing there: versitygw refuses If-None-Match: *
			// over a delete marker (a mark deleted by hand in a versioned
			// bucket) and over a folder of its name. The version before the
			// marker is compared with next time round.
			removed, err := RemoveDeleteMarkers(ctx, s.api, s.opts.Bucket, k)
			if err != nil {
				return fmt.Errorf("write serial mark %s: %w", s.where(k), err)
			}
			if !removed {
				if _, err := s.MarkedSerial(ctx, key); err != nil {
					return err
				}
			}
		}
		if attempt == markAttempts {
			return fmt.Errorf("write serial mark %s: it was changed by another writer at each of %d attempts to raise it to %d; nothing was written: re-run", s.where(k), markAttempts, serial)
		}
	}
}

// markAttempts bounds MarkSerial's compare-and-swap attempts: each one that
// fails found the mark changed since it was read, by another writer.
const markAttempts = 5

// MarkedSerial implements statestore.Store.
func (s *Store) MarkedSerial(ctx context.Context, key statestore.Key) (int64, error) {
	if err := key.Validate(); err != nil {
		return 0, err
	}
	k := statestore.SerialPath(s.prefix, key)
	data, _, err := s.read(ctx, k)
	if err != nil {
		return 0, err
	}
	if data == nil {
		// A "folder" named serial.json (the console's "Create folder",
		// or aws s3 cp FILE .../serial.json/) read as no mark, so the
		// serials it kept could be given again; the local backend says
		// a directory in its place is no mark. One listing, only when
		// there is no mark.
		inside, err := s.folderAt(ctx, k, "the serial mark")
		if err != nil || inside == "" {
			return 0, err
		}
		what := `a folder (a key ending in "/", as the S3 console's "Create folder" makes; remove it with aws s3 rm --recursive ` + s.where(k+"/") + `)`
		if inside != k+"/" {
			what = fmt.Sprintf(`a folder: keys under it, such as %s (aws s3 cp FILE %s, with the trailing "/", puts FILE there; if it is the mark, aws s3 mv %s %s, and remove the folder)`,
				s.where(inside), s.where(k+"/"), s.where(inside), s.where(k))
		}
		return 0, statestore.NotASerialMark(s.where(k), what)
	}
	return statestore.DecodeSerialMark(data, s.where(k))
}

// Deployment implements statestore.Store.
func (s *Store) Deployment(ctx context.Context, key statestore.Key, serial int64) (*statestore.Deployment, error) {
	if err := key.Validate(); err != nil {
		return nil, err
	}
	keys, err := s.historyKeys(ctx, key)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if sn, _ := statestore.ParseHistoryName(path.Base(k)); sn == serial {
			return s.readRecord(ctx, key, k)
		}
	}
	return nil, fmt.Errorf("no deployment with serial %d for %s under %s: %w", serial, key, s.where(statestore.HistoryPrefix(s.prefix, key)), statestore.ErrNotFound)
}

// List implements statestore.Store. It walks stacks and environments with
// delimited listings, so history and Pulumi files are never listed. A store
// with thousands of stack/environments needs one listing per stack and one
// per environment: they run Options.Concurrency at a time, not one after
// another.
func (s *Store) List(ctx context.Context) ([]statestore.Key, error) {
	base := statestore.StacksPrefix(s.prefix)
	_, stackPrefixes, err := s.listAll(ctx, base, "/")
	if err != nil {
		return nil, err
	}
	return s.listStacks(ctx, stackPrefixes, nil)
}

// ListSkipping implements statestore.SkipLister: an environment prefix whose
// key skip selects is not listed (List needs one listing per environment).
func (s *Store) ListSkipping(ctx context.Context, skip func(statestore.Key) bool) ([]statestore.Key, error) {
	base := statestore.StacksPrefix(s.prefix)
	_, stackPrefixes, err := s.listAll(ctx, base, "/")
	if err != nil {
		return nil, err
	}
	return s.listStacks(ctx, stackPrefixes, skip)
}

// ListMaybe implements statestore.MaybeLister: every environment prefix
// under the stacks (whether its state.json is there or not), without the
// listing of each that List makes.
func (s *Store) ListMaybe(ctx context.Context) ([]statestore.Key, error) {
	var keys []statestore.Key
	if _, err := s.ListSkipping(ctx, func(k statestore.Key) bool {
		if k.Environment == "" {
			return false // a whole stack: its environments are asked next
		}
		keys = append(keys, k)
		return true
	}); err != nil {
		return nil, err
	}
	statestore.SortKeys(keys)
	return keys, nil
}

// ListStack implements statestore.Store: one stack's prefix is walked.
func (s *Store) ListStack(ctx context.Context, stack string) ([]statestore.Key, error) {
	if err := statestore.ValidateName("stack", stack); err != nil {
		return nil, err
	}
	return s.listStacks(ctx, []string{statestore.StacksPrefix(s.prefix) + stack + "/"}, nil)
}

// listStacks returns the keys with state under the stack prefixes, sorted,
// leaving out the environments skip (when not nil) selects unlisted.
func (s *Store) listStacks(ctx context.Context, stackPrefixes []string, skip func(statestore.Key) bool) ([]statestore.Key, error) {
	if skip != nil {
		// A whole stack skip selects (asked with no environment) is not
		// listed at all (SkipLister).
		base := statestore.StacksPrefix(s.prefix)
		stackPrefixes = slices.DeleteFunc(slices.Clone(stackPrefixes), func(p string) bool {
			name, ok := strings.CutPrefix(strings.TrimSuffix(p, "/"), base)
			return ok && skip(statestore.Key{Stack: name})
		})
	}
	envPrefixes := make([][]string, len(stackPrefixes))
	if err := s.each(ctx, len(stackPrefixes), func(ctx context.Context, i int) error {
		_, eps, err := s.listAll(ctx, stackPrefixes[i], "/")
		envPrefixes[i] = eps
		return err
	}); err != nil {
		return nil, err
	}
	var eps []string
	for _, p := range envPrefixes {
		for _, ep := range p {
			if skip != nil {
				if k, ok := statestore.ParseStatePath(s.prefix, ep+"state.json"); ok && skip(k) {
					continue
				}
			}
			eps = append(eps, ep)
		}
	}
	found := make([][]statestore.Key, len(eps))
	if err := s.each(ctx, len(eps), func(ctx context.Context, i int) error {
		ks, err := s.statesUnder(ctx, eps[i])
		found[i] = ks
		return err
	}); err != nil {
		return nil, err
	}
	var keys []statestore.Key
	for _, ks := range found {
		keys = append(keys, ks...)
	}
	statestore.SortKeys(keys)
	return keys, nil
}

// statesUnder returns the key of the state.json directly under the
// environment prefix ep, if there is one that is not a tombstone, or a
// folder of that name (which Get says is no state file, as the local
// backend lists a directory of that name and says so).
func (s *Store) statesUnder(ctx context.Context, ep string) ([]statestore.Key, error) {
	objs, prefixes, err := s.listObjects(ctx, ep, "/")
	if err != nil {
		return nil, err
	}
	var keys []statestore.Key
	object := false
	for _, o := range objs {
		k, ok := statestore.ParseStatePath(s.prefix, aws.ToString(o.Key))
		if !ok {
			continue
		}
		object = true
		if aws.ToInt64(o.Size) == int64(len(tombstone(k))) {
			data, _, err := s.read(ctx, aws.ToString(o.Key))
			if err != nil {
				return nil, err
			}
			if data == nil || isTombstone(data) {
				continue
			}
		}
		keys = append(keys, k)
	}
	for _, p := range prefixes {
		// A folder beside a state.json object (S3 keeps both) hides
		// nothing: Get reads the object.
		if k, ok := statestore.ParseStatePath(s.prefix, strings.TrimSuffix(p, "/")); ok && !object {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// each runs fn(0..n-1), Options.Concurrency at a time; the first error
// cancels the rest.
func (s *Store) each(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Concurrency)
	for i := range n {
		g.Go(func() error { return fn(gctx, i) })
	}
	return g.Wait()
}
