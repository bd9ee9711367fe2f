package s3_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"panka.dev/panka/statestore"
	s3store "panka.dev/panka/statestore/s3"
	"panka.dev/panka/statestore/testserver"
)

// flakyProxy forwards to the S3 test server but fails every other request:
// alternately with a 503 SlowDown and by resetting the connection.
func flakyProxy(t *testing.T, target string) (string, *atomic.Int64) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	orig := rp.Director
	rp.Director = func(r *http.Request) {
		host := r.Host // the client signed the proxy's host; keep it
		orig(r)
		r.Host = host
	}
	var n, failed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch i := n.Add(1); {
		case i%4 == 1:
			failed.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`))
		case i%4 == 3:
			failed.Add(1)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				if tc, ok := conn.(interface{ SetLinger(int) error }); ok {
					_ = tc.SetLinger(0) // RST instead of FIN
				}
				_ = conn.Close()
			}
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &failed
}

func TestTransientErrorsAreRetried(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	endpoint, failed := flakyProxy(t, srv.Endpoint)
	c := s3store.NewClient(srv.AWSConfig(), s3store.ClientOptions{Endpoint: endpoint, UsePathStyle: true})
	s, err := s3store.New(c, s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	v, err := s.Put(ctx, key, &statestore.State{Serial: 1, Status: statestore.StatusDeployed}, "")
	if err != nil {
		t.Fatalf("Put through a flaky connection: %v", err)
	}
	for i := int64(2); i <= 6; i++ {
		if v, err = s.Put(ctx, key, &statestore.State{Serial: i, Status: statestore.StatusDeployed}, v); err != nil {
			t.Fatalf("Put serial %d through a flaky connection: %v", i, err)
		}
		if err := s.AppendHistory(ctx, key, &statestore.Deployment{Serial: i, StartedAt: testTime}); err != nil {
			t.Fatalf("AppendHistory serial %d through a flaky connection: %v", i, err)
		}
	}
	st, gv, err := s.Get(ctx, key)
	if err != nil || st.Serial != 6 || gv != v {
		t.Fatalf("Get after retried writes: serial %v version %q (want 6 %q), %v", st, gv, v, err)
	}
	if failed.Load() < 5 {
		t.Fatalf("only %d requests failed; the test did not exercise retries", failed.Load())
	}
	t.Logf("%d injected failures (503 SlowDown, connection reset) retried", failed.Load())
}

// replayAPI sends each PutObject twice, as a retry after a lost response
// would: the second attempt meets the first one's object.
type replayAPI struct{ *s3.Client }

func (r replayAPI) PutObject(ctx context.Context, in *s3.PutObjectInput, opt ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	cp := *in
	if _, err := r.Client.PutObject(ctx, &cp, opt...); err != nil {
		return nil, err
	}
	if seeker, ok := in.Body.(interface {
		Seek(int64, int) (int64, error)
	}); ok {
		_, _ = seeker.Seek(0, 0)
	}
	return r.Client.PutObject(ctx, in, opt...)
}

func TestRetriedConditionalWriteIsNotAConflict(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	c := client(t, srv)
	s, err := s3store.New(replayAPI{c}, s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	v, err := s.Put(ctx, key, &statestore.State{Serial: 1, Status: statestore.StatusDeployed}, "")
	if err != nil {
		t.Fatalf("create whose request landed twice: %v", err)
	}
	if v, err = s.Put(ctx, key, &statestore.State{Serial: 2, Status: statestore.StatusDeployed}, v); err != nil {
		t.Fatalf("update whose request landed twice: %v", err)
	}
	if err := s.AppendHistory(ctx, key, &statestore.Deployment{Serial: 2, StartedAt: testTime}); err != nil {
		t.Fatalf("history record whose request landed twice: %v", err)
	}
	st, gv, err := s.Get(ctx, key)
	if err != nil || st.Serial != 2 || gv != v {
		t.Fatalf("Get: %+v %q, %v; want serial 2 at version %q", st, gv, err, v)
	}
}

// TestServerKeepsFailing: a server that answers every attempt with a
// throttle (503 SlowDown) or a server error (500 InternalError) failed the
// command with the SDK's text ("operation error S3: GetObject, exceeded
// maximum number of attempts, 6, https response error StatusCode: 503,
// RequestID: , HostID: , api error SlowDown: ..."), which says neither that
// it was retried on purpose nor what to do. It now says which bucket and
// object, what the server answered, how often, and to wait and re-run.
func TestServerKeepsFailing(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	proxy := testserver.NewFaultProxy(t, srv.Endpoint)
	c := s3store.NewClient(srv.AWSConfig(), s3store.ClientOptions{Endpoint: proxy.URL, UsePathStyle: true, MaxAttempts: 2})
	s, err := s3store.New(c, s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	v, err := s.Put(ctx, key, &statestore.State{Serial: 1, Status: statestore.StatusDeployed}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rule testserver.FaultRule
		call func() error
		want string
	}{
		{testserver.FaultRule{Method: "GET", Fault: testserver.FaultStatus, Status: 503, Code: "SlowDown"},
			func() error { _, _, err := s.Get(ctx, key); return err },
			"read s3://" + bucket + "/stacks/orders/dev/state.json: bucket \"" + bucket + "\": the S3 server is throttling requests: " +
				"SlowDown: injected SlowDown (HTTP 503), still after 2 attempts; wait a minute and re-run (other jobs may be using the bucket heavily)"},
		{testserver.FaultRule{Method: "PUT", Path: "/state.json", Fault: testserver.FaultStatus, Status: 500, Code: "InternalError"},
			func() error { _, err := s.Put(ctx, key, &statestore.State{Serial: 2}, v); return err },
			"bucket \"" + bucket + "\": the S3 server kept failing: InternalError: injected InternalError (HTTP 500), still after 2 attempts; " +
				"wait and re-run, and if it goes on check the server's health (backend.endpoint for an S3-compatible server)"},
		{testserver.FaultRule{Method: "GET", Fault: testserver.FaultStatus, Status: 502},
			func() error { _, err := s.History(ctx, key, 0, 10); return err },
			"the S3 server kept failing: BadGateway (HTTP 502), still after 2 attempts; wait and re-run"},
	} {
		proxy.Set(c.rule)
		err := c.call()
		if err == nil || !errors.Is(err, s3store.ErrServerFailing) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v\nwant ErrServerFailing with %q", c.rule, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "RequestID") {
			t.Errorf("the SDK's text is in the error: %v", err)
		}
	}
	// Not every 5xx: 501 is a feature the server lacks, said as it is.
	proxy.Set(testserver.FaultRule{Method: "GET", Fault: testserver.FaultStatus, Status: 501, Code: "NotImplemented"})
	if _, _, err := s.Get(ctx, key); err == nil || errors.Is(err, s3store.ErrServerFailing) {
		t.Errorf("501 NotImplemented: %v, want another error than ErrServerFailing", err)
	}
	proxy.Set()
	if st, _, err := s.Get(ctx, key); err != nil || st.Serial != 1 {
		t.Fatalf("state after the failures: %+v, %v; want serial 1 untouched", st, err)
	}
}

// TestAnswerCutPartwayIsAskedAgain: the SDK retries a request that fails,
// not the reading of an answer that began: one connection dropped in the
// middle of state.json (or a history record) failed status, history and
// the start of an apply. It is read again; a server that cuts every answer
// still gets the error, which says how often it was tried.
func TestAnswerCutPartwayIsAskedAgain(t *testing.T) {
	srv := testserver.S3(t)
	bucket := testserver.NewBucket(t)
	proxy := testserver.NewFaultProxy(t, srv.Endpoint)
	c := s3store.NewClient(srv.AWSConfig(), s3store.ClientOptions{Endpoint: proxy.URL, UsePathStyle: true})
	s, err := s3store.New(c, s3store.Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	if _, err := s.Put(ctx, key, &statestore.State{Serial: 1, Status: statestore.StatusDeployed}, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistory(ctx, key, &statestore.Deployment{Serial: 1, StartedAt: testTime}); err != nil {
		t.Fatal(err)
	}
	proxy.Set(testserver.FaultRule{Method: "GET", Path: "/state.json", Fault: testserver.FaultDropMidBody, Times: 2},
		testserver.FaultRule{Method: "GET", Path: "/history/", Fault: testserver.FaultDropMidBody, Times: 1})
	if st, _, err := s.Get(ctx, key); err != nil || st.Serial != 1 {
		t.Fatalf("Get through two cut answers: %+v, %v\n%s", st, err, proxy.Log())
	}
	if h, err := s.History(ctx, key, 0, 10); err != nil || len(h) != 1 {
		t.Fatalf("History through a cut answer: %d records, %v\n%s", len(h), err, proxy.Log())
	}
	if proxy.Faults() != 3 {
		t.Fatalf("%d faults injected, want 3:\n%s", proxy.Faults(), proxy.Log())
	}
	proxy.Set(testserver.FaultRule{Method: "GET", Path: "/state.json", Fault: testserver.FaultDropMidBody})
	_, _, err = s.Get(ctx, key)
	// The server answered: its address is not what to check (the advice
	// was "check backend.endpoint").
	want := "read s3://" + bucket + "/stacks/orders/dev/state.json: the S3 server stopped sending it partway (unexpected EOF, 3 attempts): it answered, so the endpoint is right, but the connection was closed before the end; re-run, and if it goes on check what is between here and the server"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "check backend.endpoint") {
		t.Fatalf("Get from a server that cuts every answer: %v\nwant %s", err, want)
	}
}
