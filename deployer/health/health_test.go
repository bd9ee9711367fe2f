package health

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// fakeECS answers DescribeServices from a script of states per call.
type fakeECS struct {
	calls  int
	states []map[string]ecstypes.Service // one map per poll round
	err    error
}

func (f *fakeECS) DescribeServices(_ context.Context, in *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	round := f.states[min(f.calls, len(f.states)-1)]
	f.calls++
	out := &ecs.DescribeServicesOutput{}
	for _, name := range in.Services {
		out.Services = append(out.Services, round[name])
	}
	return out, nil
}

func svc(name string, running, desired int32, deployments ...ecstypes.DeploymentRolloutState) ecstypes.Service {
	s := ecstypes.Service{ServiceName: aws.String(name), RunningCount: running, DesiredCount: desired}
	for _, st := range deployments {
		s.Deployments = append(s.Deployments, ecstypes.Deployment{RolloutState: st, RolloutStateReason: aws.String("circuit breaker tripped")})
	}
	return s
}

func TestWaitECSSteady(t *testing.T) {
	done := ecstypes.DeploymentRolloutStateCompleted
	inProgress := ecstypes.DeploymentRolloutStateInProgress
	failed := ecstypes.DeploymentRolloutStateFailed
	tests := []struct {
		name      string
		states    []map[string]ecstypes.Service
		wantErr   string
		wantSleep int
	}{
		{name: "already steady", states: []map[string]ecstypes.Service{{"api": svc("api", 2, 2, done)}}},
		{name: "converges", wantSleep: 2, states: []map[string]ecstypes.Service{
			{"api": svc("api", 0, 2, inProgress, done)},
			{"api": svc("api", 1, 2, inProgress)},
			{"api": svc("api", 2, 2, done)},
		}},
		{name: "deployment failed", states: []map[string]ecstypes.Service{{"api": svc("api", 1, 2, failed)}}, wantErr: "deployment failed: circuit breaker tripped"},
		{name: "times out", states: []map[string]ecstypes.Service{{"api": svc("api", 1, 2, inProgress)}}, wantErr: "did not reach a steady state after 30s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeECS{states: tt.states}
			sleeps := 0
			err := WaitECSSteady(context.Background(), f, "shop-dev", []string{"api"}, Options{
				Timeout: 30 * time.Second, Poll: 10 * time.Second,
				Sleep: func(context.Context, time.Duration) error { sleeps++; return nil },
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sleeps != tt.wantSleep {
				t.Errorf("slept %d times, want %d", sleeps, tt.wantSleep)
			}
		})
	}
	f := &fakeECS{err: errors.New("AccessDenied")}
	if err := WaitECSSteady(context.Background(), f, "c", []string{"api"}, Options{}); err == nil || !strings.Contains(err.Error(), "describe ECS services api in cluster c: AccessDenied") {
		t.Errorf("API error: %v", err)
	}
	if err := WaitECSSteady(context.Background(), f, "c", nil, Options{}); err != nil {
		t.Errorf("no services: %v", err)
	}
}
