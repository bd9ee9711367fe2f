package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// envRunMain makes the test binary run the provider's main instead of the
// tests, so a test can start the real provider as a child process.
const envRunMain = "PANKALOCAL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// countingHealth is the engine's health service, counting the checks.
type countingHealth struct {
	*health.Server
	checks atomic.Int64
}

func (h *countingHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.checks.Add(1)
	return h.Server.Check(ctx, req)
}

// TestProviderExitsWhenItsEngineGoesAway: the provider keeps serving while
// the engine that started it answers, and exits once the engine is gone (a
// Pulumi CLI killed by a signal never stops its plugins, which run in their
// own process group).
func TestProviderExitsWhenItsEngineGoesAway(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	engine := grpc.NewServer()
	hs := &countingHealth{Server: health.NewServer()}
	healthpb.RegisterHealthServer(engine, hs)
	go func() { _ = engine.Serve(lis) }()
	defer engine.Stop()

	cmd := exec.Command(os.Args[0], lis.Addr().String())
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()

	// The provider protocol: the first line on stdout is the port it serves on.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if _, perr := strconv.Atoi(strings.TrimSpace(line)); err != nil || perr != nil {
		t.Fatalf("provider's first line %q: %v %v", line, err, perr)
	}
	deadline := time.After(time.Minute)
	for hs.checks.Load() < 3 {
		select {
		case <-exited:
			t.Fatalf("provider exited while its engine answers: %v", waitErr)
		case <-deadline:
			t.Fatalf("provider checked its engine %d times in a minute, want 3", hs.checks.Load())
		case <-time.After(10 * time.Millisecond):
		}
	}

	engine.Stop()
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("provider exit after its engine went away: %v", waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("provider still runs 30s after its engine went away")
	}
}
