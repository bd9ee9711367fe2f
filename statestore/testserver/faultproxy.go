package testserver

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fault is what a FaultProxy does to a request a FaultRule matches.
type Fault int

const (
	// FaultStatus answers with Status and an error body with Code: S3's
	// XML, or DynamoDB's JSON for a request with an X-Amz-Target header.
	FaultStatus Fault = iota
	// FaultDelay forwards the request after Delay.
	FaultDelay
	// FaultReset resets the connection without forwarding the request.
	FaultReset
	// FaultLostAnswer forwards the request (it lands) and then resets the
	// connection instead of answering: the client sees a failure, and its
	// retry meets what the first attempt did.
	FaultLostAnswer
	// FaultDropMidBody forwards the request and sends the answer's headers
	// and half its body, then closes the connection.
	FaultDropMidBody
	// FaultBlackhole holds the request and never answers (until the test
	// ends).
	FaultBlackhole
)

// FaultRule selects requests and the fault they get. Empty match fields
// match anything.
type FaultRule struct {
	Method string // e.g. "PUT"
	// Path is a substring of the request's path and query, e.g.
	// "/state.json?x-id=PutObject".
	Path string
	// Target is a substring of the X-Amz-Target header (DynamoDB's
	// operation), e.g. "UpdateItem".
	Target string
	// Nth applies the fault to the Nth matching request only (1-based);
	// 0 applies it to every match (up to Times).
	Nth int
	// Times bounds how many requests get the fault (0: no bound).
	Times int

	Fault  Fault
	Status int    // FaultStatus
	Code   string // FaultStatus: "SlowDown", "ThrottlingException", ...
	Delay  time.Duration

	matched, fired int
}

// FaultProxy is an HTTP proxy in front of a test server (versitygw,
// dynalite) that injects faults into the requests its rules match and
// forwards the others. It keeps the Host header the client signed, so
// signatures stay valid.
type FaultProxy struct {
	URL string // http://127.0.0.1:PORT, the endpoint to give the client

	srv     *httptest.Server
	mu      sync.Mutex
	rules   []*FaultRule
	faults  int
	log     []string
	stop    chan struct{}
	stopped sync.Once
}

// NewFaultProxy starts a proxy to target (a test server's endpoint); it is
// closed when the test ends.
func NewFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	orig := rp.Director
	rp.Director = func(r *http.Request) {
		host := r.Host
		orig(r)
		r.Host = host
	}
	p := &FaultProxy{stop: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.serve(rp, w, r)
	}))
	p.URL = p.srv.URL
	t.Cleanup(p.Close)
	return p
}

// Close stops the proxy (blackholed requests end).
func (p *FaultProxy) Close() {
	p.stopped.Do(func() { close(p.stop) })
	p.srv.CloseClientConnections()
	p.srv.Close()
}

// Refuse closes the proxy's listener: new connections are refused.
func (p *FaultProxy) Refuse() {
	p.stopped.Do(func() { close(p.stop) })
	p.srv.Listener.Close()
	p.srv.CloseClientConnections()
}

// Set replaces the rules (and their counts).
func (p *FaultProxy) Set(rules ...FaultRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
	for i := range rules {
		r := rules[i]
		p.rules = append(p.rules, &r)
	}
}

// Faults returns how many requests got a fault so far.
func (p *FaultProxy) Faults() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

// Log returns one line per request so far: method, path and query, target
// and what the proxy did (for test failure messages).
func (p *FaultProxy) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.log, "\n")
}

func (p *FaultProxy) match(r *http.Request) *FaultRule {
	p.mu.Lock()
	defer p.mu.Unlock()
	target := r.Header.Get("X-Amz-Target")
	var hit *FaultRule
	for _, ru := range p.rules {
		if (ru.Method != "" && ru.Method != r.Method) ||
			(ru.Path != "" && !strings.Contains(r.URL.RequestURI(), ru.Path)) ||
			(ru.Target != "" && !strings.Contains(target, ru.Target)) {
			continue
		}
		ru.matched++
		if (ru.Nth != 0 && ru.matched != ru.Nth) || (ru.Times != 0 && ru.fired >= ru.Times) {
			continue
		}
		ru.fired++
		p.faults++
		hit = ru
		break
	}
	what := "forwarded"
	if hit != nil {
		what = fmt.Sprintf("fault %d", hit.Fault)
	}
	p.log = append(p.log, fmt.Sprintf("%s %s %s: %s", r.Method, r.URL.RequestURI(), target, what))
	return hit
}

func (p *FaultProxy) serve(rp *httputil.ReverseProxy, w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	ru := p.match(r)
	if ru == nil {
		rp.ServeHTTP(w, r)
		return
	}
	switch ru.Fault {
	case FaultStatus:
		if ru.Code == "" { // a bare status, as from a load balancer in front
			w.WriteHeader(ru.Status)
			return
		}
		if r.Header.Get("X-Amz-Target") != "" {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(ru.Status)
			fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected %s"}`, ru.Code, ru.Code)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(ru.Status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected %s</Message></Error>`, ru.Code, ru.Code)
		}
	case FaultDelay:
		select {
		case <-time.After(ru.Delay):
		case <-p.stop:
			return
		}
		rp.ServeHTTP(w, r)
	case FaultReset:
		reset(w)
	case FaultLostAnswer:
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		reset(w)
	case FaultDropMidBody:
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", fmt.Sprint(rec.Body.Len()))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
		w.(http.Flusher).Flush()
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			_ = conn.Close()
		}
	case FaultBlackhole:
		select {
		case <-r.Context().Done():
		case <-p.stop:
		}
	}
}

// reset closes the request's connection with a TCP reset.
func reset(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
