package replace

import (
	"fmt"
	"reflect"
	"testing"

	"panka.dev/panka/stacks"
)

func TestReplaceFields(t *testing.T) {
	tests := []struct {
		kind stacks.Kind
		want []string
	}{
		{stacks.KindDatabase, []string{"dbName", "engine", "kmsKeyId", "username"}},
		{stacks.KindQueue, []string{"fifo"}},
		{stacks.KindTopic, []string{"fifo"}},
		{stacks.KindBucket, []string{"name"}},
		// engine and version replace only for some values: ForcesChange
		{stacks.KindCache, []string{"port"}},
		{stacks.KindMicroService, []string{"port"}},
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
		{stacks.KindMicroService, "port", true},
		{stacks.KindMicroService, "portal", false},
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
func TestForcesChange(t *testing.T) {
	tests := []struct {
		kind          stacks.Kind
		path          string
		before, after any
		want          bool
	}{
		{stacks.KindCache, "version", "7.1", "6.2", true},
		{stacks.KindCache, "version", "8.0", "7.2", true},
		{stacks.KindCache, "version", "6.2.6", "6.2.1", true},
		{stacks.KindCache, "version", "7.1", "7.0", true},
		{stacks.KindCache, "version", "6.2", "7.1", false},
		{stacks.KindCache, "version", "7.0", "7.1", false},
		{stacks.KindCache, "version", "7.1", "7.1", false},
		{stacks.KindCache, "version", "6.x", "6.2", false},
		{stacks.KindCache, "version", nil, "6.2", false},
		{stacks.KindCache, "engine", "redis", "valkey", false},
		{stacks.KindCache, "engine", nil, "valkey", false},
		{stacks.KindCache, "engine", "valkey", "redis", true},
		{stacks.KindCache, "port", int64(6379), int64(6380), true},
		{stacks.KindCache, "nodeType", "cache.t4g.micro", "cache.r6g.large", false},
		// A Database's version is not replaced: RDS upgrades it in place.
		{stacks.KindDatabase, "version", "16", "15", false},
		{stacks.KindDatabase, "engine", "postgres", "mysql", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%v-%v", tt.kind, tt.path, tt.before, tt.after), func(t *testing.T) {
			got, why := ForcesChange(tt.kind, tt.path, tt.before, tt.after)
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
