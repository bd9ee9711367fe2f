// Package replace lists, per component kind, the spec fields whose change
// makes the aws target replace (delete and re-create) a component's
// resources rather than update them in place. The planner uses it to mark
// such changes "replace" before any Pulumi run, so data-holding components
// are protected (--allow-replace) without asking the engine.
//
// It deliberately has no Pulumi dependency: importing it costs nothing.
// The list mirrors the mapping in package deployer/target/aws; keep the
// two in step when a spec field is added there.
package replace

import (
	"sort"

	"panka.dev/panka/stacks"
)

// Rule is one spec field that forces replacement, and why.
type Rule struct {
	// Field is the spec field path, dot-separated ("engine",
	// "loadBalancer.path").
	Field string
	// Reason names the AWS resource that is replaced and the consequence,
	// for plan output.
	Reason string
}

var rules = map[stacks.Kind][]Rule{
	stacks.KindMicroService: {
		{"port", "the ALB target group (port is immutable) is re-created; traffic moves to the new one"},
	},
	stacks.KindDatabase: {
		{"engine", "the RDS instance is re-created: a new, empty database"},
		{"username", "the RDS instance is re-created: master username is immutable"},
		{"dbName", "the RDS instance is re-created: the initial database name is immutable"},
		{"kmsKeyId", "the RDS instance is re-created: storage encryption key is immutable"},
	},
	stacks.KindCache: {
		{"engine", "the ElastiCache replication group may be re-created (engine downgrade): cached data is lost"},
		{"port", "the ElastiCache replication group is re-created: cached data is lost"},
	},
	stacks.KindQueue: {
		{"fifo", "the SQS queue (and its dead-letter queue) is re-created under a new name: in-flight messages are lost"},
	},
	stacks.KindBucket: {
		{"name", "the S3 bucket is re-created: a bucket name is immutable, and a non-empty bucket cannot be deleted"},
	},
	stacks.KindTopic: {
		{"fifo", "the SNS topic is re-created under a new name: subscriptions are re-created"},
	},
}

// Rules returns the replacement rules of kind, sorted by field. The slice
// is a copy.
func Rules(kind stacks.Kind) []Rule {
	rs := append([]Rule(nil), rules[kind]...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Field < rs[j].Field })
	return rs
}

// ReplaceFields returns the spec field paths of kind whose change forces
// replacement, sorted. A change inside a field (e.g. "loadBalancer.path"
// under "loadBalancer") counts when the path equals or starts with one of
// them followed by a dot; see Forces.
func ReplaceFields(kind stacks.Kind) []string {
	rs := Rules(kind)
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Field
	}
	return out
}

// Forces reports whether a change of the spec field at path (dot-separated)
// forces replacement of a component of kind, and the reason if so.
func Forces(kind stacks.Kind, path string) (bool, string) {
	for _, r := range rules[kind] {
		if path == r.Field || (len(path) > len(r.Field) && path[:len(r.Field)] == r.Field && path[len(r.Field)] == '.') {
			return true, r.Reason
		}
	}
	return false, ""
}
