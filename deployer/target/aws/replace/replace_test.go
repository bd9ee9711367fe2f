package replace

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"panka.dev/panka/stacks"
)

func TestReplaceFields(t *testing.T) {
	tests := []struct {
		kind stacks.Kind
		want []string
	}{
		{stacks.KindDatabase, []string{"engine"}},
		{stacks.KindQueue, []string{"fifo"}},
		{stacks.KindTopic, []string{"fifo"}},
		{stacks.KindBucket, []string{"name"}},
		// engine and version replace only for some values, a
		// MicroService's port only with a load balancer: ForcesChange
		{stacks.KindCache, []string{}},
		{stacks.KindMicroService, []string{}},
		{stacks.KindWorker, []string{}},
		{stacks.KindCronJob, []string{}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			got := ReplaceFields(tt.kind)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ReplaceFields(%s) = %v, want %v", tt.kind, got, tt.want)
			}
		})
	}
}

func TestForces(t *testing.T) {
	tests := []struct {
		kind stacks.Kind
		path string
		want bool
	}{
		{stacks.KindDatabase, "engine", true},
		{stacks.KindDatabase, "engineVersion", false},
		{stacks.KindDatabase, "version", false},
		{stacks.KindDatabase, "instanceClass", false},
		{stacks.KindQueue, "fifo", true},
		{stacks.KindQueue, "visibilityTimeout", false},
		{stacks.KindBucket, "name", true},
		{stacks.KindBucket, "versioning", false},
		{stacks.KindMicroService, "port", false},
		{stacks.KindWorker, "image", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"/"+tt.path, func(t *testing.T) {
			got, why := Forces(tt.kind, tt.path)
			if got != tt.want {
				t.Fatalf("Forces(%s, %q) = %v, want %v", tt.kind, tt.path, got, tt.want)
			}
			if got && why == "" {
				t.Fatalf("Forces(%s, %q): empty reason", tt.kind, tt.path)
			}
		})
	}
}

// TestForcesChange: the rules that depend on the values, as the AWS
// provider decides them for an ElastiCache replication group: a version
// downgrade and an engine change other than redis to valkey re-create it.
// A MicroService's port re-creates its target group, which only a
// load-balanced one has: without a load balancer on both sides the
// change is an update of the task definition (plan said "replace").
func TestForcesChange(t *testing.T) {
	lb := map[string]any{"host": "api.example.com"}
	tests := []struct {
		kind          stacks.Kind
		path          string
		before, after any
		want          bool
		// extra are more fields of both specs, extraBefore of the
		// deployed one only.
		extra, extraBefore map[string]any
	}{
		{kind: stacks.KindMicroService, path: "port", before: int64(8080), after: int64(9090), want: true, extra: map[string]any{"loadBalancer": lb}},
		{kind: stacks.KindMicroService, path: "port", before: int64(8080), after: int64(9090), want: false},
		{kind: stacks.KindMicroService, path: "port", before: int64(8080), after: int64(9090), want: false, extraBefore: map[string]any{"loadBalancer": lb}},
		{kind: stacks.KindMicroService, path: "portal", before: int64(8080), after: int64(9090), want: false, extra: map[string]any{"loadBalancer": lb}},
		{stacks.KindCache, "version", "7.1", "6.2", true, nil, nil},
		{stacks.KindCache, "version", "8.0", "7.2", true, nil, nil},
		{stacks.KindCache, "version", "6.2.6", "6.2.1", true, nil, nil},
		{stacks.KindCache, "version", "7.1", "7.0", true, nil, nil},
		{stacks.KindCache, "version", "6.2", "7.1", false, nil, nil},
		{stacks.KindCache, "version", "7.0", "7.1", false, nil, nil},
		{stacks.KindCache, "version", "7.1", "7.1", false, nil, nil},
		{stacks.KindCache, "version", "6.x", "6.2", false, nil, nil},
		{stacks.KindCache, "version", nil, "6.2", false, nil, nil},
		{stacks.KindCache, "engine", "redis", "valkey", false, nil, nil},
		{stacks.KindCache, "engine", nil, "valkey", false, nil, nil},
		{stacks.KindCache, "engine", "valkey", "redis", true, nil, nil},
		{stacks.KindCache, "nodeType", "cache.t4g.micro", "cache.r6g.large", false, nil, nil},
		// A Database's version is not replaced: RDS upgrades it in place.
		{stacks.KindDatabase, "version", "16", "15", false, nil, nil},
		{stacks.KindDatabase, "engine", "postgres", "mysql", true, nil, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%v-%v/%v/%v", tt.kind, tt.path, tt.before, tt.after, len(tt.extra), len(tt.extraBefore)), func(t *testing.T) {
			before, after := map[string]any{}, map[string]any{}
			for k, v := range tt.extra {
				before[k], after[k] = v, v
			}
			for k, v := range tt.extraBefore {
				before[k] = v
			}
			if tt.before != nil {
				before[tt.path] = tt.before
			}
			if tt.after != nil {
				after[tt.path] = tt.after
			}
			got, why := ForcesChange(tt.kind, tt.path, before, after)
			if got != tt.want || got && why == "" {
				t.Fatalf("ForcesChange(%s, %q, %v, %v) = %v, %q; want %v with a reason", tt.kind, tt.path, tt.before, tt.after, got, why, tt.want)
			}
		})
	}
	// Forces (any change) leaves the value-dependent rules out.
	if got, _ := Forces(stacks.KindCache, "engine"); got {
		t.Errorf("Forces(Cache, engine) = true, want false: redis to valkey changes in place")
	}
}

// TestFieldsInSchema: every field a Database's or Cache's rule, loss or
// feed names is one the schema takes for its kind. Rules for Database
// username, dbName and kmsKeyId and a Cache port stood here, though the
// schema refused those fields ("unknown field"): no YAML could reach them.
func TestFieldsInSchema(t *testing.T) {
	check := func(what string, kind stacks.Kind, field string) {
		if kind != stacks.KindDatabase && kind != stacks.KindCache {
			return
		}
		top, _, _ := strings.Cut(field, ".")
		if !slices.Contains(stacks.KindFields(kind), top) {
			t.Errorf("%s %s.%s: the schema has no spec.%s (fields: %v)", what, kind, field, top, stacks.KindFields(kind))
		}
	}
	for kind, rs := range rules {
		for _, r := range rs {
			check("rule", kind, r.Field)
		}
	}
	for kind, ls := range losses {
		for _, l := range ls {
			check("loss", kind, l.Field)
		}
	}
	for kind, fs := range feeds {
		for _, f := range fs {
			check("feed", kind, f.Field)
		}
	}
}
