package aws

import (
	"strings"
	"testing"

	"panka.dev/panka/deployer/target/aws/replace"
	"panka.dev/panka/stacks"
)

// TestOutputsFollowFeeds checks replace.Feeds against the mapping: for
// changes of every kind's spec that AWS makes in place (no replacement),
// an output of the component takes another value exactly where Feeds
// says the changed field feeds it. The planner plans the readers of such
// an output as changing ("${api.url}" when api's load balancer host
// changes); a feed missing here would plan them as no-ops while apply
// updates them.
func TestOutputsFollowFeeds(t *testing.T) {
	noLB := func(r *stacks.Resolved) { delete(r.Components[0].Spec, "loadBalancer") }
	for _, tt := range []struct {
		comp, field string
		value       any
		// before edits both sides first.
		before func(r *stacks.Resolved)
	}{
		{comp: "api", field: "loadBalancer.host", value: "shop.example.com"},
		{comp: "api", field: "loadBalancer.path", value: "/v2"},
		{comp: "api", field: "image", value: "ghcr.io/acme/api:1.5.0"},
		{comp: "api", field: "replicas", value: int64(3)},
		{comp: "api", field: "healthCheck.path", value: "/ready"},
		{comp: "api", field: "env.LOG", value: "debug"},
		{comp: "api", field: "port", value: int64(9090), before: noLB},
		{comp: "api", field: "loadBalancer", value: map[string]any{"public": true}, before: noLB},
		{comp: "api", field: "cpu", value: int64(256), before: noLB},
		{comp: "worker", field: "image", value: "ghcr.io/acme/worker:1.5.0"},
		{comp: "worker", field: "replicas", value: int64(2)},
		{comp: "nightly", field: "schedule", value: "0 4 * * *"},
		{comp: "nightly", field: "image", value: "ghcr.io/acme/report:1.1"},
		{comp: "users-db", field: "instanceClass", value: "db.t4g.large"},
		{comp: "users-db", field: "storageGB", value: int64(100)},
		{comp: "users-db", field: "version", value: "16.6"},
		{comp: "users-db", field: "multiAZ", value: false},
		{comp: "sessions", field: "nodeType", value: "cache.t4g.medium"},
		{comp: "sessions", field: "nodes", value: int64(3)},
		{comp: "sessions", field: "version", value: "8.1"},
		{comp: "orders-queue", field: "visibilityTimeout", value: int64(90)},
		{comp: "orders-queue", field: "deadLetter.maxReceives", value: int64(9)},
		{comp: "assets", field: "versioning", value: false},
		{comp: "assets", field: "public", value: true},
		{comp: "events", field: "subscriptions", value: []any{map[string]any{"queue": "orders-queue"}}},
	} {
		t.Run(tt.comp+" "+tt.field, func(t *testing.T) {
			before := fullStack()
			if tt.before != nil {
				tt.before(before)
			}
			after := fullStack()
			if tt.before != nil {
				tt.before(after)
			}
			c := after.Component(tt.comp)
			setPath(c.Spec, tt.field, tt.value)
			b, a := run(t, before), run(t, after)
			if forces, why := replace.ForcesChange(c.Kind, tt.field, before.Component(tt.comp).Spec, c.Spec); forces {
				t.Fatalf("not an in-place change: %s", why)
			}
			for _, o := range c.Kind.Outputs() {
				key := tt.comp + "." + o
				changed := b.outputs[key] != a.outputs[key]
				if fed := replace.Feeds(c.Kind, o, tt.field, before.Component(tt.comp).Spec, c.Spec); fed != changed {
					t.Errorf("%s: %q to %q, but replace.Feeds says %v", key, b.outputs[key], a.outputs[key], fed)
				}
			}
		})
	}
}

// setPath sets the dot-separated path in spec to v, making the maps on
// the way.
func setPath(spec map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := spec[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			spec[p] = next
		}
		spec = next
	}
	spec[parts[len(parts)-1]] = v
}
