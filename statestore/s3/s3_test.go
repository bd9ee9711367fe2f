package s3_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"panka.dev/panka/statestore"
	s3store "panka.dev/panka/statestore/s3"
	"panka.dev/panka/statestore/storetest"
	"panka.dev/panka/statestore/testserver"
)

func client(t testing.TB, srv testserver.S3Server) *s3.Client {
	return s3store.NewClient(srv.AWSConfig(), s3store.ClientOptions{Endpoint: srv.Endpoint, UsePathStyle: true})
}

func newInstance(t *testing.T) storetest.Instance {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	c := client(t, srv)
	return storetest.Instance{
		Open: func(prefix string) (statestore.Store, error) {
			return s3store.New(client(t, srv), s3store.Options{Bucket: bucket, Prefix: prefix})
		},
		WriteRaw: func(key string, data []byte) error {
			_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
			return err
		},
		Where: func(key string) string { return "s3://" + bucket + "/" + key },
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newInstance, storetest.Options{})
}

func TestWrongCredentials(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	bad := srv
	bad.SecretKey = "not-the-secret"
	s, err := s3store.New(client(t, bad), s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	_, _, err = s.Get(context.Background(), key)
	if !errors.Is(err, s3store.ErrAccessDenied) {
		t.Fatalf("Get with a wrong secret: %v, want ErrAccessDenied", err)
	}
	for _, want := range []string{"s3://" + bucket + "/stacks/orders/dev/state.json", "SignatureDoesNotMatch", "credentials"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := s.Put(context.Background(), key, &statestore.State{Serial: 1}, ""); !errors.Is(err, s3store.ErrAccessDenied) {
		t.Fatalf("Put with a wrong secret: %v, want ErrAccessDenied", err)
	}
	badKey := srv
	badKey.AccessKey = "nobody"
	s2, _ := s3store.New(client(t, badKey), s3store.Options{Bucket: bucket})
	if _, err := s2.List(context.Background()); !errors.Is(err, s3store.ErrAccessDenied) {
		t.Fatalf("List with an unknown access key: %v, want ErrAccessDenied", err)
	}
}

// TestWrongRegionAndUnreachable: the two set-up mistakes that the SDK
// reports as a wall of text say what is wrong and which setting fixes it.
func TestWrongRegionAndUnreachable(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	key := statestore.Key{Stack: "orders", Environment: "dev"}

	other := srv
	other.Region = "eu-north-1"
	if other.Region == srv.Region {
		other.Region = "ap-south-2"
	}
	s, err := s3store.New(client(t, other), s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Get(context.Background(), key)
	if !errors.Is(err, s3store.ErrWrongRegion) {
		t.Fatalf("Get signed for another region: %v, want ErrWrongRegion", err)
	}
	for _, want := range []string{"s3://" + bucket + "/stacks/orders/dev/state.json", "backend.region"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	down := s3store.NewClient(srv.AWSConfig(), s3store.ClientOptions{Endpoint: "http://127.0.0.1:1", UsePathStyle: true, MaxAttempts: 1})
	s, err = s3store.New(down, s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.List(context.Background())
	if !errors.Is(err, s3store.ErrUnreachable) {
		t.Fatalf("List on a closed port: %v, want ErrUnreachable", err)
	}
	for _, want := range []string{"backend.endpoint", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	for _, noise := range []string{"RequestID", "exceeded maximum number of attempts"} {
		if strings.Contains(err.Error(), noise) {
			t.Errorf("error %q still carries the SDK's %q", err, noise)
		}
	}
}

// TestNoCredentials: a credential chain that finds nothing (no keys, no
// profile, no role) says so and what to set, not the SDK's chain of errors.
func TestNoCredentials(t *testing.T) {
	srv := testserver.S3(t)
	cfg := srv.AWSConfig()
	cfg.Credentials = aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("no EC2 IMDS role found, operation error ec2imds: GetMetadata, http response error StatusCode: 403")
	}))
	c := s3store.NewClient(cfg, s3store.ClientOptions{Endpoint: srv.Endpoint, UsePathStyle: true, MaxAttempts: 1})
	s, err := s3store.New(c, s3store.Options{Bucket: testserver.NewBucket(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Get(context.Background(), statestore.Key{Stack: "orders", Environment: "dev"})
	if !errors.Is(err, s3store.ErrNoCredentials) || errors.Is(err, s3store.ErrAccessDenied) {
		t.Fatalf("Get without credentials: %v, want ErrNoCredentials", err)
	}
	for _, want := range []string{"no AWS credentials", "no EC2 IMDS role found", "aws.profile", "AWS_ACCESS_KEY_ID"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "get identity") {
		t.Errorf("error %q still carries the SDK's wrapping", err)
	}
}

func TestMissingBucket(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.UniqueName("panka-missing-")
	s, err := s3store.New(client(t, srv), s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	ctx := context.Background()
	_, _, getErr := s.Get(ctx, key)
	_, putErr := s.Put(ctx, key, &statestore.State{Serial: 1}, "")
	_, listErr := s.List(ctx)
	histErr := s.AppendHistory(ctx, key, &statestore.Deployment{Serial: 1, StartedAt: testTime})
	for name, err := range map[string]error{"Get": getErr, "Put": putErr, "List": listErr, "AppendHistory": histErr} {
		if !errors.Is(err, s3store.ErrNoBucket) {
			t.Errorf("%s on a missing bucket: %v, want ErrNoBucket", name, err)
			continue
		}
		if !strings.Contains(err.Error(), `"`+bucket+`"`) || !strings.Contains(err.Error(), "panka backend create") {
			t.Errorf("%s: error %q does not name the bucket and the fix", name, err)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts s3store.Options
		ok   bool
	}{
		{"no bucket", s3store.Options{}, false},
		{"bad prefix", s3store.Options{Bucket: "b", Prefix: "a/../b"}, false},
		{"bad sse", s3store.Options{Bucket: "b", SSE: "rot13"}, false},
		{"kms key without kms", s3store.Options{Bucket: "b", KMSKeyID: "k"}, false},
		{"sse-s3", s3store.Options{Bucket: "b", SSE: s3store.SSES3}, true},
		{"sse-kms", s3store.Options{Bucket: "b", SSE: s3store.SSEKMS, KMSKeyID: "alias/x"}, true},
	} {
		_, err := s3store.New(nil, tc.opts)
		if (err == nil) != tc.ok {
			t.Errorf("%s: New error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// BenchmarkState200 measures read and CAS-write latency of a 200-component
// state against the S3 test server (versitygw on loopback).
func BenchmarkState200(b *testing.B) {
	srv := testserver.S3(b)
	s, err := s3store.New(client(b, srv), s3store.Options{Bucket: testserver.NewBucket(b)})
	if err != nil {
		b.Fatal(err)
	}
	storetest.Bench(b, s, 200, 20)
}

// TestSilentEndpointIsUnreachable: an endpoint that accepts connections but
// never answers (a hung server) ends, once the transport's response timeout
// passes, in the same explained error as a refused connection, not the
// SDK's retry text. The transport's timeout matches
// errors.Is(err, context.DeadlineExceeded), which used to hide it; the
// caller's own deadline is still not "unreachable".
func TestSilentEndpointIsUnreachable(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("pankatest", "pankatest", ""),
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) { tr.ResponseHeaderTimeout = 50 * time.Millisecond })}
	c := s3store.NewClient(cfg, s3store.ClientOptions{Endpoint: testserver.SilentEndpoint(t), UsePathStyle: true, MaxAttempts: 2})
	s, err := s3store.New(c, s3store.Options{Bucket: "state"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Get(context.Background(), statestore.Key{Stack: "orders", Environment: "dev"})
	if !errors.Is(err, s3store.ErrUnreachable) {
		t.Fatalf("Get from a silent endpoint: %v, want ErrUnreachable", err)
	}
	for _, want := range []string{"s3://state/stacks/orders/dev/state.json", "timeout awaiting response headers", "backend.endpoint"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	for _, noise := range []string{"RequestID", "exceeded maximum number of attempts"} {
		if strings.Contains(err.Error(), noise) {
			t.Errorf("error %q still carries the SDK's %q", err, noise)
		}
	}

	slow := s3store.NewClient(aws.Config{Region: "us-east-1", Credentials: cfg.Credentials}, s3store.ClientOptions{Endpoint: testserver.SilentEndpoint(t), UsePathStyle: true, MaxAttempts: 1})
	s, err = s3store.New(slow, s3store.Options{Bucket: "state"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := s.Get(ctx, statestore.Key{Stack: "orders", Environment: "dev"}); errors.Is(err, s3store.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get past the caller's deadline: %v, want the context's error, not ErrUnreachable", err)
	}
}

// TestPathStyleOffSaysSo: with path-style addressing off, the SDK puts the
// bucket in the host name (bucket.host), which an S3-compatible server has
// no DNS name for; the error names backend.usePathStyle, not only the
// endpoint. (.invalid never resolves, whatever the resolver.)
func TestPathStyleOffSaysSo(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("pankatest", "pankatest", "")}
	c := s3store.NewClient(cfg, s3store.ClientOptions{Endpoint: "http://s3.invalid:7070", UsePathStyle: false, MaxAttempts: 1})
	s, err := s3store.New(c, s3store.Options{Bucket: "state"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Get(context.Background(), statestore.Key{Stack: "orders", Environment: "dev"})
	if !errors.Is(err, s3store.ErrUnreachable) {
		t.Fatalf("Get with virtual-hosted addressing: %v, want ErrUnreachable", err)
	}
	for _, want := range []string{"state.s3.invalid", "backend.usePathStyle: true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	c = s3store.NewClient(cfg, s3store.ClientOptions{Endpoint: "http://s3.invalid:7070", UsePathStyle: true, MaxAttempts: 1})
	s, _ = s3store.New(c, s3store.Options{Bucket: "state"})
	if _, _, err = s.Get(context.Background(), statestore.Key{Stack: "orders", Environment: "dev"}); !errors.Is(err, s3store.ErrUnreachable) || strings.Contains(err.Error(), "usePathStyle") {
		t.Errorf("Get from a host that does not resolve, path-style: %v, want ErrUnreachable without the path-style hint", err)
	}
}
