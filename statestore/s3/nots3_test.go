package s3_test

import (
	"context"
	"errors"
	"github.com/aws/smithy-go/middleware"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"panka.dev/panka/statestore"
	s3store "panka.dev/panka/statestore/s3"
)

// TestNotS3Endpoint: backend.endpoint pointing at another HTTP server that
// answers 200 to anything (as dynalite does, or a web page), or 404 without
// S3's NoSuchKey (a web server's page for a path it does not have), is said
// as such. It must not read as "no state" (an empty listing) or as
// a corrupt state.json, whose repair (state push --force) would be wrong.
func TestNotS3Endpoint(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		ctype  string
		body   string
	}{
		{"200 plain text", http.StatusOK, "text/plain", "healthy: dynamodb.us-east-1.amazonaws.com "},
		{"200 html", http.StatusOK, "text/html", "<!doctype html><html><body>Welcome</body></html>"},
		// A web server's (or a proxy's) page for a path it does not
		// have: read as S3's "no such key", it made plan, status and
		// changed --since-deployed say nothing was deployed.
		{"404 html", http.StatusNotFound, "text/html", "<!DOCTYPE HTML>\n<html><head><title>Error response</title></head><body><h1>Error response</h1><p>Error code: 404</p></body></html>\n"},
		{"404 empty", http.StatusNotFound, "text/plain", ""},
		// Its answer to a method it does not serve (python -m
		// http.server: 501 Unsupported method), an HTML page the SDK
		// fails to read as S3's XML error.
		{"501 html", http.StatusNotImplemented, "text/html", "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error response</title>\n</head>\n<body><p>Error code: 501</p></body></html>\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}
			c := s3store.NewClient(cfg, s3store.ClientOptions{Endpoint: srv.URL, UsePathStyle: true, MaxAttempts: 1})
			s, err := s3store.New(c, s3store.Options{Bucket: "state"})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			_, _, getErr := s.Get(ctx, statestore.Key{Stack: "orders", Environment: "dev"})
			_, listErr := s.List(ctx)
			for name, err := range map[string]error{"get": getErr, "list": listErr} {
				if !errors.Is(err, s3store.ErrNotS3) || errors.Is(err, statestore.ErrCorrupt) || errors.Is(err, statestore.ErrNotFound) {
					t.Errorf("%s: %v, want ErrNotS3 (not corrupt, not missing)", name, err)
					continue
				}
				for _, want := range []string{"s3://state/", "does not answer like S3", "check backend.endpoint"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: error %q does not mention %q", name, err, want)
					}
				}
				if strings.Contains(err.Error(), "RequestID") || strings.Contains(err.Error(), "push --force") {
					t.Errorf("%s: error %q carries the SDK's text or a wrong repair", name, err)
				}
			}
			// A server set by the AWS profile: that is what to check, also
			// of an answer to a request that did not fail (a 200 without
			// an ETag said "check backend.endpoint", a key nobody had
			// set); with no custom endpoint, a proxy on the way to AWS is.
			for _, c := range []struct{ from, want string }{
				{`the endpoint_url of AWS profile "minio"`, `; check the endpoint_url of AWS profile "minio"`},
				{"", "; check for a proxy between here and AWS (HTTPS_PROXY): no custom endpoint is set"},
			} {
				pc := s3store.NewClient(cfg, s3store.ClientOptions{Endpoint: srv.URL, UsePathStyle: true, MaxAttempts: 1,
					APIOptions: []func(*middleware.Stack) error{s3store.NoteEndpoint(c.from)}})
				ps, err := s3store.New(pc, s3store.Options{Bucket: "state"})
				if err != nil {
					t.Fatal(err)
				}
				_, _, getErr := ps.Get(ctx, statestore.Key{Stack: "orders", Environment: "dev"})
				_, listErr := ps.List(ctx)
				for name, err := range map[string]error{"get": getErr, "list": listErr} {
					if !errors.Is(err, s3store.ErrNotS3) || !strings.HasSuffix(err.Error(), c.want) || strings.Contains(err.Error(), "PANKA_BACKEND_ENDPOINT") {
						t.Errorf("%s from another server, endpoint set by %q: %v\nwant it to end with %s", name, c.from, err, c.want)
					}
				}
			}
		})
	}
}

// TestUntrustedCertificate: an endpoint whose TLS certificate is signed by
// a CA the machine does not trust (MinIO behind a company CA) said "check
// backend.endpoint and that the server is up"; it says to give the CA with
// AWS_CA_BUNDLE.
func TestUntrustedCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}
	c := s3store.NewClient(cfg, s3store.ClientOptions{Endpoint: srv.URL, UsePathStyle: true, MaxAttempts: 1})
	s, err := s3store.New(c, s3store.Options{Bucket: "state"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Get(context.Background(), statestore.Key{Stack: "orders", Environment: "dev"})
	want := "x509: certificate signed by unknown authority; the server's TLS certificate is signed by a CA this machine does not trust: give that CA's certificate (PEM) with AWS_CA_BUNDLE=FILE, or add it to the system's trust store; check the endpoint (backend.endpoint, PANKA_BACKEND_ENDPOINT or AWS_ENDPOINT_URL_S3)"
	if !errors.Is(err, s3store.ErrUnreachable) || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Get over an untrusted certificate: %v\nwant it to end with %s", err, want)
	}
}

// TestUnreachableNamesTheEndpointsSetting: a server that cannot be reached
// is said with the setting that chose its endpoint (NoteEndpoint), the AWS
// profile's endpoint_url as much as backend.endpoint; with none set, the
// endpoint is AWS's own and the advice is the network and the region.
// "check backend.endpoint (PANKA_BACKEND_ENDPOINT or AWS_ENDPOINT_URL_S3)"
// was said in every case, of a key nobody had set.
func TestUnreachableNamesTheEndpointsSetting(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}
	for _, tc := range []struct{ name, from, want string }{
		{"a profile's endpoint_url", `the endpoint_url of AWS profile "minio"`,
			`; check that the server is up and that the endpoint_url of AWS profile "minio" is its address`},
		{"backend.endpoint", "backend.endpoint (set by repo (panka.yaml:1))",
			"; check that the server is up and that backend.endpoint (set by repo (panka.yaml:1)) is its address"},
		// AWS's own endpoint (a closed port stands for a DNS failure).
		{"AWS's own", "", "; no custom endpoint is set, so this is AWS's own: check the network (DNS, a proxy in HTTPS_PROXY) and backend.region"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s3store.NewClient(cfg, s3store.ClientOptions{Endpoint: "http://127.0.0.1:1", UsePathStyle: true, MaxAttempts: 1,
				APIOptions: []func(*middleware.Stack) error{s3store.NoteEndpoint(tc.from)}})
			s, err := s3store.New(c, s3store.Options{Bucket: "state"})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = s.Get(context.Background(), statestore.Key{Stack: "orders", Environment: "dev"})
			if !errors.Is(err, s3store.ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") || !strings.HasSuffix(err.Error(), tc.want) ||
				strings.Contains(err.Error(), "PANKA_BACKEND_ENDPOINT") {
				t.Errorf("Get from a closed port: %v\nwant it to end with %s", err, tc.want)
			}
		})
	}
}
