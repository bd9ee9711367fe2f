package aws

import (
	"fmt"
	"testing"
	"time"

	"panka.dev/panka/stacks"
)

// BenchmarkRegister measures the aws target's own cost for a 20-component
// stack (validation plus registering ~150 resources with a mock engine):
// the part of every apply that runs before AWS is touched.
func BenchmarkRegister(b *testing.B) {
	r := fullStack()
	for i := 0; len(r.Components) < 20; i++ {
		r.Components = append(r.Components,
			stacks.Component{Name: fmt.Sprintf("svc-%d", i), Kind: stacks.KindMicroService, Spec: map[string]any{
				"image": "x", "env": map[string]any{"DB": "${users-db.endpoint}", "Q": "${orders-queue.url}"},
				"loadBalancer": map[string]any{"public": true, "path": fmt.Sprintf("/s%d", i)},
			}},
			stacks.Component{Name: fmt.Sprintf("q-%d", i), Kind: stacks.KindQueue, Spec: map[string]any{"deadLetter": map[string]any{"maxReceives": 3}}},
		)
	}
	var resources int
	start := time.Now()
	for b.Loop() {
		res, err := tryRun(r)
		if err != nil {
			b.Fatal(err)
		}
		resources = len(res.res)
	}
	b.ReportMetric(float64(resources), "resources")
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/register")
}

// BenchmarkValidate measures validation alone (what plan can afford to run
// on every stack).
func BenchmarkValidate(b *testing.B) {
	r := fullStack()
	for b.Loop() {
		if err := Validate(r); err != nil {
			b.Fatal(err)
		}
	}
}
