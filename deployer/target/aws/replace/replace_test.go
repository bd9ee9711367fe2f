package replace

import (
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
		{stacks.KindCache, []string{"engine", "port"}},
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
