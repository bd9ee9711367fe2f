package cli

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
