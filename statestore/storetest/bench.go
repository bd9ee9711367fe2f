package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"panka.dev/panka/statestore"
)

// BigState returns a state with n components in its spec and outputs, the
// shape a deployed stack of n components has (about 1 KB per component).
func BigState(key statestore.Key, n int) *statestore.State {
	type comp struct {
		Name      string         `json:"name"`
		Kind      string         `json:"kind"`
		DependsOn []string       `json:"dependsOn,omitempty"`
		Spec      map[string]any `json:"spec"`
	}
	comps := make([]comp, n)
	outputs := map[string]map[string]any{}
	byKind := map[string]int{}
	for i := range comps {
		name := fmt.Sprintf("service-%03d", i)
		c := comp{Name: name, Kind: "MicroService", Spec: map[string]any{
			"image": fmt.Sprintf("123456789012.dkr.ecr.us-east-1.amazonaws.com/%s:1.2.%d", name, i),
			"port":  8080, "cpu": 512, "memory": 1024, "replicas": 3,
			"env":         map[string]any{"LOG_LEVEL": "info", "DB_URL": "${users-db.endpoint}", "QUEUE": "${events.url}", "REGION": "us-east-1"},
			"healthCheck": map[string]any{"path": "/healthz", "interval": 30, "timeout": 5},
			"autoscaling": map[string]any{"min": 2, "max": 10, "cpuTarget": 70},
		}}
		if i > 0 {
			c.DependsOn = []string{fmt.Sprintf("service-%03d", i-1)}
		}
		comps[i] = c
		outputs[name] = map[string]any{"url": fmt.Sprintf("https://%s.internal.example.com", name), "serviceName": name + "-svc"}
		byKind["MicroService"]++
	}
	spec, _ := json.Marshal(map[string]any{"stack": key.Stack, "environment": key.Environment,
		"provider": map[string]any{"name": "aws", "region": "us-east-1"}, "components": comps})
	return &statestore.State{
		SchemaVersion: statestore.SchemaVersion, Stack: key.Stack, Environment: key.Environment,
		Serial: 1, Status: statestore.StatusDeployed, Spec: spec, Outputs: outputs,
		Resources: statestore.ResourceSummary{Components: n, Resources: n * 6, ByKind: byKind},
		UpdatedAt: base,
	}
}

// Bench measures read and compare-and-swap write latency of a state with
// components components: every benchmark iteration does ops reads and ops
// writes and reports the mean and 95th percentile per operation.
func Bench(b *testing.B, s statestore.Store, components, ops int) {
	ctx := context.Background()
	key := statestore.Key{Stack: "bench", Environment: fmt.Sprintf("c%d", components)}
	st := BigState(key, components)
	data, err := statestore.EncodeState(st, key)
	if err != nil {
		b.Fatal(err)
	}
	_, v, err := s.Get(ctx, key)
	if err != nil {
		v = ""
	}
	if v, err = s.Put(ctx, key, st, v); err != nil {
		b.Fatal(err)
	}
	var reads, writes []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < ops; j++ {
			t0 := time.Now()
			got, gv, err := s.Get(ctx, key)
			reads = append(reads, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			got.Serial++
			t0 = time.Now()
			nv, err := s.Put(ctx, key, got, gv)
			writes = append(writes, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			v = nv
		}
	}
	b.StopTimer()
	_ = v
	mean, p95 := stats(reads)
	b.ReportMetric(mean, "read-ms")
	b.ReportMetric(p95, "read-p95-ms")
	mean, p95 = stats(writes)
	b.ReportMetric(mean, "cas-write-ms")
	b.ReportMetric(p95, "cas-write-p95-ms")
	b.ReportMetric(float64(len(data))/1024, "state-KB")
	b.ReportMetric(0, "ns/op") // the per-operation figures above are what counts
}

func stats(ds []time.Duration) (meanMS, p95MS float64) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ms(sum / time.Duration(len(s))), ms(s[(len(s)*95)/100-boolInt(len(s)*95%100 == 0)])
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
