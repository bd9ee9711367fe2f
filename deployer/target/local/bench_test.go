package local_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"panka.dev/panka/stacks"
)

// model20 is a 20-component stack: 4 databases, 4 queues, 4 buckets and 8
// services referencing them.
func model20() *stacks.Resolved {
	r := &stacks.Resolved{Stack: "bench", Environment: "dev", Provider: stacks.Provider{Name: "local"}}
	for i := range 4 {
		r.Components = append(r.Components,
			stacks.Component{Name: fmt.Sprintf("db%d", i), Kind: stacks.KindDatabase, Spec: map[string]any{"engine": "postgres"}},
			stacks.Component{Name: fmt.Sprintf("queue%d", i), Kind: stacks.KindQueue, Spec: map[string]any{}},
			stacks.Component{Name: fmt.Sprintf("bucket%d", i), Kind: stacks.KindBucket, Spec: map[string]any{}},
		)
	}
	for i := range 8 {
		r.Components = append(r.Components, stacks.Component{
			Name: fmt.Sprintf("svc%d", i), Kind: stacks.KindMicroService,
			DependsOn: []string{fmt.Sprintf("db%d", i%4), fmt.Sprintf("queue%d", i%4)},
			Spec: map[string]any{"image": "svc:1", "env": map[string]any{
				"DB":    fmt.Sprintf("${db%d.endpoint}", i%4),
				"QUEUE": fmt.Sprintf("${queue%d.url}", i%4),
			}},
		})
	}
	return r
}

// BenchmarkUp20 is `up` of a 20-component stack on the local target through
// the runner and the real engine: the bare-Automation-API baseline panka
// apply's overhead is measured against. "create" deploys into a fresh
// backend, "noop" re-applies an unchanged model. up-s is Runner.Up alone,
// total-s adds Runner.New (workspace, stack select).
func BenchmarkUp20(b *testing.B) {
	for _, noop := range []bool{false, true} {
		name := "create"
		if noop {
			name = "noop"
		}
		b.Run(name, func(b *testing.B) {
			var up, total time.Duration
			for i := range b.N {
				e := newEnv(b)
				e.backend = filepath.Join(b.TempDir(), fmt.Sprint("state", i))
				if noop {
					mustUp(b, e.runner(model20()))
				}
				start := time.Now()
				run := e.runner(model20())
				upStart := time.Now()
				res, err := run.Up(context.Background(), nil)
				if err != nil {
					b.Fatal(err)
				}
				up += time.Since(upStart)
				total += time.Since(start)
				if want := map[bool]int{false: 20, true: 0}[noop]; len(res.Steps) != want {
					b.Fatalf("%d steps, want %d", len(res.Steps), want)
				}
			}
			b.ReportMetric(up.Seconds()/float64(b.N), "up-s/op")
			b.ReportMetric(total.Seconds()/float64(b.N), "total-s/op")
		})
	}
}
