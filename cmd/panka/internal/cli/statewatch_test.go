package cli

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"panka.dev/panka/cmd/panka/internal/config"
	"panka.dev/panka/statestore/testserver"
)

// TestWatchStateServer: the Pulumi CLI's S3 client has no time limits, so
// an engine run whose S3 state server accepts connections and never answers
// hung for ever, holding its lease. The watch asks the server while the
// run lasts and, once it has not answered for the stall limit, stops the
// run with an error naming the server and bucket and saying what to do. A
// server that answers, even with an error status, is not stopped; other
// backends are not watched.
func TestWatchStateServer(t *testing.T) {
	home := t.TempDir()
	fakeAWSEnv(t, home)
	ios, _, _, _ := Test()
	f := NewFactory(ios)
	f.AWSResponseTimeout = 100 * time.Millisecond
	f.StateProbeEvery, f.StateStallLimit = 50*time.Millisecond, 400*time.Millisecond
	s3cfg := func(endpoint string) *config.Resolved {
		cfg := &config.Resolved{Config: config.Default(), Sources: map[string]config.Source{}}
		cfg.Backend.Type, cfg.Backend.Bucket, cfg.Backend.Region, cfg.Backend.Endpoint, cfg.Backend.UsePathStyle = "s3", "team-state", "us-east-1", endpoint, true
		return cfg
	}

	silent := testserver.SilentEndpoint(t)
	ctx, unwatch := f.watchStateServer(context.Background(), s3cfg(silent))
	defer unwatch()
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the watch did not stop the run 30s into a server that never answers")
	}
	var hung *stateServerHungError
	if cause := context.Cause(ctx); !errors.As(cause, &hung) {
		t.Fatalf("cause %v, want a *stateServerHungError", cause)
	} else {
		for _, want := range []string{"the S3 state server " + silent + " (bucket team-state) has not answered for", "Check that the server is up and reachable", "re-run"} {
			if !strings.Contains(cause.Error(), want) {
				t.Errorf("cause %q lacks %q", cause, want)
			}
		}
	}

	// Any HTTP answer counts: a server that refuses the probe (403) is up.
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	defer refusing.Close()
	ctx, unwatch2 := f.watchStateServer(context.Background(), s3cfg(refusing.URL))
	select {
	case <-ctx.Done():
		t.Fatalf("a server that answers stopped the run: %v", context.Cause(ctx))
	case <-time.After(time.Second):
	}
	unwatch2()

	local := &config.Resolved{Config: config.Default(), Sources: map[string]config.Source{}}
	parent := context.Background()
	if ctx, unwatch := f.watchStateServer(parent, local); ctx != parent {
		t.Error("the local backend is watched")
	} else {
		unwatch()
	}
}

// TestWatchStateServerSaysWhatFailed: the S3 server stopped during an
// apply (killed, so connections are refused). The watch's warnings every
// 30 s and the run's error quoted the SDK's text ("operation error S3:
// HeadBucket, exceeded maximum number of attempts, 6, https response error
// StatusCode: 0, RequestID: , HostID: , request send failed, ..."). They
// now say what the probe met, as panka's other S3 errors do; a server that
// accepts connections and never answers is said to give no answer. The
// probe's own retries are not announced: it is repeated anyway.
func TestWatchStateServerSaysWhatFailed(t *testing.T) {
	home := t.TempDir()
	fakeAWSEnv(t, home)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	for _, tc := range []struct {
		name, endpoint, want string
	}{
		{"server down", down, "(last: Head \"" + down + "/team-state\": dial tcp "},
		{"server silent", testserver.SilentEndpoint(t), "/team-state\": net/http: timeout awaiting response headers)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, _, errOut := Test()
			f := NewFactory(ios)
			f.Log = zerolog.New(ios.ErrOut)
			f.AWSResponseTimeout = 100 * time.Millisecond
			f.StateProbeEvery, f.StateStallLimit = 300*time.Millisecond, 1500*time.Millisecond
			cfg := &config.Resolved{Config: config.Default(), Sources: map[string]config.Source{}}
			cfg.Backend.Type, cfg.Backend.Bucket, cfg.Backend.Region, cfg.Backend.Endpoint, cfg.Backend.UsePathStyle = "s3", "team-state", "us-east-1", tc.endpoint, true
			ctx, unwatch := f.watchStateServer(context.Background(), cfg)
			select {
			case <-ctx.Done():
			case <-time.After(30 * time.Second):
				t.Fatal("the watch did not stop the run")
			}
			unwatch()
			cause := context.Cause(ctx).Error()
			if !strings.Contains(cause, tc.want) {
				t.Errorf("cause %q lacks %q", cause, tc.want)
			}
			if !strings.Contains(errOut.String(), "has not answered for") {
				t.Errorf("no warning before the run was stopped:\n%s", errOut)
			}
			if strings.Contains(errOut.String(), "retrying, attempt") {
				t.Errorf("the probe's own retries were announced:\n%s", errOut)
			}
			for _, sdk := range []string{"operation error", "RequestID", "HostID", "StatusCode: 0", "request send failed"} {
				if strings.Contains(cause, sdk) {
					t.Errorf("cause quotes the SDK (%q): %s", sdk, cause)
				}
				if strings.Contains(errOut.String(), sdk) {
					t.Errorf("warning quotes the SDK (%q):\n%s", sdk, errOut)
				}
			}
		})
	}
}

// TestStateServerNamesTheClientsEndpoint: the watch's messages name the
// server the client is sent to. Reading only backend.endpoint and
// AWS_ENDPOINT_URL_S3, a MinIO server set by endpoint_url in the AWS
// profile was "Amazon S3 (us-east-1)".
func TestStateServerNamesTheClientsEndpoint(t *testing.T) {
	home := t.TempDir()
	fakeAWSEnv(t, home)
	if err := os.WriteFile(filepath.Join(home, "c"), []byte("[profile minio]\nregion = us-east-1\nendpoint_url = http://minio.internal:9000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, profile, endpoint, want string }{
		{"the profile's endpoint_url", "minio", "", "http://minio.internal:9000"},
		{"backend.endpoint", "minio", "http://127.0.0.1:7070", "http://127.0.0.1:7070"},
		{"AWS", "", "", "Amazon S3 (us-east-1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_PROFILE", tc.profile)
			cfg := &config.Resolved{Config: config.Default(), Sources: map[string]config.Source{}}
			cfg.Backend.Region, cfg.Backend.Endpoint = "us-east-1", tc.endpoint
			ios, _, _, _ := Test()
			c, err := NewFactory(ios).S3Client(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := stateServer(c); got != tc.want {
				t.Errorf("stateServer = %q, want %q", got, tc.want)
			}
		})
	}
}
