// Package health checks deployed components after an apply: for the aws
// target, that every ECS service reached a steady state (one deployment,
// rolled out, running what it wants) within a timeout. It takes narrow
// client interfaces and a clock so tests never touch AWS or sleep.
package health

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ECS is the part of the ECS API the check uses.
type ECS interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, opts ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
}

// Options tune WaitECSSteady.
type Options struct {
	// Timeout bounds the whole wait (default 10 minutes).
	Timeout time.Duration
	// Poll is the interval between checks (default 10 s).
	Poll time.Duration
	// Sleep waits (default: a timer honouring ctx); tests inject their own.
	Sleep func(ctx context.Context, d time.Duration) error
	// Progress, when set, hears about services still converging.
	Progress func(pending []string)
}

// ErrNotSteady is returned (wrapped) when services did not settle in time.
var ErrNotSteady = errors.New("ECS services did not reach a steady state")

// WaitECSSteady polls until every named service of cluster is steady: its
// only deployment is the primary one, rolled out (rolloutState COMPLETED
// when reported) and running its desired count. A service whose deployment
// failed (circuit breaker rollback) is reported at once.
func WaitECSSteady(ctx context.Context, client ECS, cluster string, services []string, o Options) error {
	if len(services) == 0 {
		return nil
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 10 * time.Second
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	var waited time.Duration
	pending := append([]string(nil), services...)
	for {
		var still []string
		var why []string
		// DescribeServices takes at most 10 services per call.
		for start := 0; start < len(pending); start += 10 {
			batch := pending[start:min(start+10, len(pending))]
			out, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: batch})
			if err != nil {
				return fmt.Errorf("describe ECS services %s in cluster %s: %w", strings.Join(batch, ", "), cluster, err)
			}
			for _, f := range out.Failures {
				return fmt.Errorf("ECS service %s in cluster %s: %s", aws.ToString(f.Arn), cluster, aws.ToString(f.Reason))
			}
			for _, s := range out.Services {
				ok, reason, failed := steady(s)
				if failed {
					return fmt.Errorf("ECS service %s: %s", aws.ToString(s.ServiceName), reason)
				}
				if !ok {
					still = append(still, aws.ToString(s.ServiceName))
					why = append(why, aws.ToString(s.ServiceName)+": "+reason)
				}
			}
		}
		if len(still) == 0 {
			return nil
		}
		sort.Strings(still)
		if o.Progress != nil {
			o.Progress(still)
		}
		if waited >= o.Timeout {
			return fmt.Errorf("%w after %s in cluster %s: %s; check the services' events in the ECS console", ErrNotSteady, o.Timeout, cluster, strings.Join(why, "; "))
		}
		if err := o.Sleep(ctx, o.Poll); err != nil {
			return err
		}
		waited += o.Poll
		pending = still
	}
}

// steady reports whether a service has settled, why not, and whether its
// deployment failed for good.
func steady(s ecstypes.Service) (ok bool, reason string, failed bool) {
	if len(s.Deployments) != 1 {
		return false, fmt.Sprintf("%d deployments in progress", len(s.Deployments)), false
	}
	d := s.Deployments[0]
	switch d.RolloutState {
	case ecstypes.DeploymentRolloutStateFailed:
		return false, "deployment failed: " + aws.ToString(d.RolloutStateReason), true
	case ecstypes.DeploymentRolloutStateInProgress:
		return false, "rollout in progress", false
	}
	if s.RunningCount != s.DesiredCount {
		return false, fmt.Sprintf("%d of %d tasks running", s.RunningCount, s.DesiredCount), false
	}
	return true, "", false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
