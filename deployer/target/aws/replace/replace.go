// Package replace lists, per component kind, the spec fields whose change
// makes the aws target replace (delete and re-create) a component's
// resources rather than update them in place: any change of most, and of
// a few only the changes the AWS provider cannot make in place (an
// ElastiCache version downgrade, valkey back to redis) or only where the
// resource the field goes to exists (a MicroService's port goes to its
// target group, which only a load-balanced one has). The planner uses it to mark
// such changes "replace" before any Pulumi run, so data-holding components
// are protected (--allow-replace) without asking the engine.
//
// It also lists the spec fields each output is made from (Feeds), so that
// the planner plans the readers of an output that an in-place update
// changes (a MicroService's url, with its load balancer's host) as
// changing too.
//
// It deliberately has no Pulumi dependency: importing it costs nothing.
// The list mirrors the mapping in package deployer/target/aws; keep the
// two in step when a spec field is added there.
package replace

import (
	"sort"
	"strconv"
	"strings"

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
	// When, if set, limits the rule to the changes it reports true for
	// (before and after are the component's deployed and desired specs),
	// as the provider decides some replacements by the values (an
	// ElastiCache version downgrade) and some fields go to a resource only
	// some specs make (a target group); nil: every change.
	When func(before, after map[string]any) bool
}

var rules = map[stacks.Kind][]Rule{
	stacks.KindMicroService: {
		// Without a load balancer on both sides the port goes to the task
		// definition and service discovery only, updated in place; a
		// load balancer added or removed with it creates or deletes the
		// target group.
		{"port", "the ALB target group (port is immutable) is re-created; traffic moves to the new one", loadBalanced},
	},
	stacks.KindDatabase: {
		{"engine", "the RDS instance is re-created: a new, empty database", nil},
	},
	stacks.KindCache: {
		// The provider changes redis to valkey in place and re-creates
		// the group for any other engine change.
		{"engine", "the ElastiCache replication group is re-created (only redis to valkey changes in place): cached data is lost",
			func(b, a map[string]any) bool { return engineReplaced(b["engine"], a["engine"]) }},
		// ElastiCache cannot downgrade an engine: the provider re-creates
		// the group (a rollback past a version bump does this).
		{"version", "the ElastiCache replication group is re-created: ElastiCache cannot downgrade an engine version, cached data is lost",
			func(b, a map[string]any) bool { return VersionDowngrade(b["version"], a["version"]) }},
	},
	stacks.KindQueue: {
		{"fifo", "the SQS queue (and its dead-letter queue) is re-created under a new name: in-flight messages are lost", nil},
	},
	stacks.KindBucket: {
		{"name", "the S3 bucket is re-created: a bucket name is immutable, and a non-empty bucket cannot be deleted", nil},
	},
	stacks.KindTopic: {
		{"fifo", "the SNS topic is re-created under a new name: subscriptions are re-created", nil},
	},
}

// Rules returns the replacement rules of kind, sorted by field. The slice
// is a copy.
func Rules(kind stacks.Kind) []Rule {
	rs := append([]Rule(nil), rules[kind]...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Field < rs[j].Field })
	return rs
}

// ReplaceFields returns the spec field paths of kind whose every change
// forces replacement (the rules without When), sorted. A change inside a
// field (e.g. "loadBalancer.path" under "loadBalancer") counts when the
// path equals or starts with one of them followed by a dot; see Forces.
// The rules that depend on the values are ForcesChange's only: a list of
// paths (the local target's replaceOnChanges) cannot say them.
func ReplaceFields(kind stacks.Kind) []string {
	out := []string{}
	for _, r := range Rules(kind) {
		if r.When == nil {
			out = append(out, r.Field)
		}
	}
	return out
}

// Forces reports whether every change of the spec field at path
// (dot-separated) forces replacement of a component of kind (a rule
// without When), and the reason if so.
func Forces(kind stacks.Kind, path string) (bool, string) {
	for _, r := range rules[kind] {
		if r.When == nil && within(path, r.Field) {
			return true, r.Reason
		}
	}
	return false, ""
}

// ForcesChange reports whether a change of the spec field at path between
// before and after (the component's deployed and desired specs) forces
// replacement of a component of kind on AWS, and the reason if so: the
// rules of Forces, and those whose When holds for the specs.
func ForcesChange(kind stacks.Kind, path string, before, after map[string]any) (bool, string) {
	for _, r := range rules[kind] {
		if within(path, r.Field) && (r.When == nil || r.When(before, after)) {
			return true, r.Reason
		}
	}
	return false, ""
}

func within(path, field string) bool {
	return path == field || (len(path) > len(field) && path[:len(field)] == field && path[len(field)] == '.')
}

// loadBalanced reports a MicroService that has a load balancer (so a
// target group) deployed and desired.
func loadBalanced(before, after map[string]any) bool {
	has := func(spec map[string]any) bool {
		lb, ok := spec["loadBalancer"].(map[string]any)
		return ok && lb != nil
	}
	return has(before) && has(after)
}

// engineReplaced reports a Cache engine change the provider does not make
// in place: any but redis (the default when unset) to valkey.
func engineReplaced(before, after any) bool {
	if before == nil {
		before = "redis"
	}
	return before != "redis" || after != "valkey"
}

// VersionDowngrade reports an engine version that goes down (8.0 to 7.2, 7.1 to
// 6.2, 6.2.6 to 6.2.1), comparing the numeric parts both versions have: a
// part that is no number ("6.x", the latest 6) ends the comparison there,
// as does a version that is no string (a field added or removed).
func VersionDowngrade(before, after any) bool {
	b, ok1 := before.(string)
	a, ok2 := after.(string)
	if !ok1 || !ok2 {
		return false
	}
	bs, as := strings.Split(b, "."), strings.Split(a, ".")
	for i := 0; i < len(bs) && i < len(as); i++ {
		x, err1 := strconv.Atoi(bs[i])
		y, err2 := strconv.Atoi(as[i])
		if err1 != nil || err2 != nil {
			return false
		}
		if x != y {
			return y < x
		}
	}
	return false
}

// Loss is a spec change that deletes a resource holding some of a
// component's data while the component stays and is updated in place: a
// Queue's deadLetter removed deletes its dead-letter queue, and the
// messages in it. The planner flags it as data loss, which apply refuses
// without --allow-destroy.
type Loss struct {
	// Field is the spec field path whose change loses the data.
	Field string
	// Reason says what is deleted and lost, for plan output.
	Reason string
	// When reports the changes that lose it, given the component's
	// deployed and desired specs.
	When func(before, after map[string]any) bool
}

var losses = map[stacks.Kind][]Loss{
	stacks.KindQueue: {
		{"deadLetter", "the dead-letter queue is deleted, and the messages in it are lost", removed("deadLetter")},
	},
}

// Losses returns the losses of kind that a change from before to after
// (the component's deployed and desired specs) makes, by field.
func Losses(kind stacks.Kind, before, after map[string]any) []Loss {
	var out []Loss
	for _, l := range losses[kind] {
		if l.When(before, after) {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// removed reports a field set in the deployed spec and not in the
// desired one.
func removed(field string) func(before, after map[string]any) bool {
	return func(before, after map[string]any) bool {
		return before[field] != nil && after[field] == nil
	}
}

// Feed is a spec field an output of a component is made from on AWS,
// besides the names panka gives its resources: a change of the field that
// the component takes in place (no replacement) changes the output's value
// too, and the engine updates every component that reads it (${x.url}).
// The planner plans those readers as updates. An output made only from
// names (a Queue's url, a Bucket's arn) changes only with a replacement,
// which the planner already follows.
type Feed struct {
	// Output is the output's name (stacks.Kind.Outputs).
	Output string
	// Field is the spec field path it is made from, dot-separated.
	Field string
	// When, if set, limits the feed to the specs it reports true for
	// (before and after are the component's deployed and desired specs).
	When func(before, after map[string]any) bool
}

var feeds = map[stacks.Kind][]Feed{
	stacks.KindMicroService: {
		// Without a load balancer the url is the service discovery name
		// and the port (http://api.<namespace>:8080); with one it is the
		// listener's, with the rule's host and path. A load balancer
		// added or removed changes it either way.
		{"url", "port", func(b, a map[string]any) bool { return !loadBalanced(b, a) }},
		{"url", "loadBalancer.host", nil},
		{"url", "loadBalancer.path", nil},
	},
	// A Database's and a Cache's outputs come from names and the engine
	// (its port), which replaces them: nothing to follow.
}

// Feeds reports whether a change of the spec field at path (dot-separated,
// relative to spec) between before and after (the component's deployed and
// desired specs) changes output of a component of kind on AWS. A path that
// holds a feeding field counts too ("loadBalancer" added or removed holds
// "loadBalancer.host").
func Feeds(kind stacks.Kind, output, path string, before, after map[string]any) bool {
	for _, f := range feeds[kind] {
		if f.Output == output && (within(path, f.Field) || within(f.Field, path)) && (f.When == nil || f.When(before, after)) {
			return true
		}
	}
	return false
}

// Network reports how a component of kind, with spec (its desired spec),
// takes a change of the provider network field (spec.provider.network:
// vpcId, privateSubnets, publicSubnets, listenerArn) on AWS, from what the
// aws target builds with each: unaffected (affected false), updated in
// place, or replaced (replace true), and why, for plan output. Queues,
// Buckets and Topics use no network; publicSubnets is used by no resource.
func Network(kind stacks.Kind, field string, spec map[string]any) (affected, replace bool, reason string) {
	switch field {
	case "vpcId":
		switch kind {
		case stacks.KindMicroService, stacks.KindWorker, stacks.KindCronJob:
			return true, false, "the component's security group (and a load-balanced service's target group) is re-created in the new VPC; its tasks move to them"
		case stacks.KindDatabase:
			return true, true, "the RDS instance is re-created in the new VPC (its subnet group and security group cannot move): a new, empty database"
		case stacks.KindCache:
			return true, true, "the ElastiCache replication group is re-created in the new VPC (its subnet group cannot move): cached data is lost"
		}
	case "privateSubnets":
		switch kind {
		case stacks.KindMicroService, stacks.KindWorker:
			return true, false, "the service's tasks are re-placed in the new subnets"
		case stacks.KindCronJob:
			return true, false, "the scheduled task runs in the new subnets"
		case stacks.KindDatabase:
			return true, false, "the DB subnet group takes the new subnets in place (RDS refuses to drop a subnet the instance is in)"
		case stacks.KindCache:
			return true, false, "the cache subnet group takes the new subnets in place (ElastiCache refuses to drop a subnet a node is in)"
		}
	case "listenerArn":
		if kind == stacks.KindMicroService && loadBalanced(spec, spec) {
			return true, false, "the listener rule is re-created on the new listener; the url follows its load balancer"
		}
	}
	return false, false, ""
}
