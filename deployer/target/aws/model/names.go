package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strings"

	"panka.dev/panka/stacks"
)

// Physical names are derived from stack, environment and component so that
// the same model always names the same resources (and two environments in
// one account never clash). A derived name longer than the AWS limit is
// cut and given an 8-hex-digit hash of the full name, which keeps it
// deterministic and unique; a name that breaks an AWS character rule is an
// error before anything is deployed.

// shorten returns s when it fits max, else a prefix of s plus "-" and a
// hash of s, max characters in all.
func Shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return strings.TrimRight(s[:max-9], "-._") + "-" + hex.EncodeToString(sum[:4])
}

// Names are the physical names of one component's resources.
type Names struct {
	Base string // <stack>-<env>-<component>, lowercase
}

func newNames(stack, env, component string) Names {
	return Names{Base: strings.ToLower(stack + "-" + env + "-" + component)}
}

// ClusterName is the name of the ECS cluster of a stack/environment; with
// the serviceName outputs it tells health checks which services to watch.
func ClusterName(stack, env string) string {
	return Shorten(strings.ToLower(stack+"-"+env), 255)
}

// securityGroup ends in "-sg" so no component can take the name of the
// shared "<stack>-<env>-workloads" group.
func (n Names) SecurityGroup() string { return Shorten(n.Base+"-sg", 255) }

// WorkloadsGroupName is the security group every task of a
// stack/environment wears (databases and caches admit it).
func WorkloadsGroupName(stack, env string) string {
	return Shorten(ClusterName(stack, env)+"-workloads", 255)
}

// checkSecurityGroup checks a security group name: EC2 refuses names
// that start with "sg-" (the form of group ids). Every group panka makes
// is named <stack>-<env>..., so it is the stack name that must change.
func checkSecurityGroup(name string) error {
	if strings.HasPrefix(name, "sg-") {
		return fmt.Errorf("security group name %q starts with \"sg-\", which EC2 reserves for security group ids; rename the stack (metadata.name in stack.yaml) so it is not \"sg\" and does not start with \"sg-\"", name)
	}
	return nil
}

// NamespaceName is the Cloud Map private DNS namespace of a stack/env.
func NamespaceName(stack, env string) string {
	return strings.ToLower(env + "." + stack + ".local")
}

func (n Names) Family() string            { return Shorten(n.Base, 255) }
func (n Names) Role(suffix string) string { return Shorten(n.Base+"-"+suffix, 64) }
func (n Names) Schedule() string          { return Shorten(n.Base, 64) }
func (n Names) SubnetGroup() string       { return Shorten(n.Base, 255) }
func (n Names) RdsIdentifier() string     { return Shorten(n.Base, 63) }
func (n Names) CacheID() string           { return Shorten(n.Base, 40) }
func (n Names) Topic(fifo bool) string {
	if fifo {
		return Shorten(n.Base, 256-5) + ".fifo"
	}
	return Shorten(n.Base, 256)
}

// queue names the queue and its dead-letter queue; ".fifo" and "-dlq" are
// reserved within SQS's 80 characters.
func (n Names) Queue(fifo bool) (name, dlq string) {
	b := Shorten(n.Base, 80-len("-dlq.fifo"))
	if fifo {
		return b + ".fifo", b + "-dlq.fifo"
	}
	return b, b + "-dlq"
}

// bucketBase is the derived bucket name without its account suffix. S3
// names are global across all AWS accounts, so the derived name is
// "<stack>-<env>-<component>-<account id>": deterministic, and not taken
// by someone else's "orders-prod-assets".
func (n Names) BucketBase() string { return Shorten(n.Base, 63-13) }

// bucketExample is the derived name with a placeholder account, for
// validation before the account is known.
func (n Names) BucketExample(explicit string) string {
	if explicit != "" {
		return explicit
	}
	return n.BucketBase() + "-123456789012"
}

func LogGroupName(stack, env, component string) string {
	return "/panka/" + stack + "/" + env + "/" + component
}

// TargetGroupLogical is the Pulumi name of a target group. Target groups
// are auto-named by Pulumi (logical name + "-" + 7 random characters) so a
// replacement (port change) can be created before the old one is detached;
// with AWS's 32-character limit that leaves 24 for the logical name.
func TargetGroupLogical(component string) string {
	return Shorten(component+"-tg", 24)
}

var (
	reRDS     = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	reSQS     = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.fifo)?$`)
	reS3      = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`)
	reECS     = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	reIAM     = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]+$`)
	reSched   = regexp.MustCompile(`^[0-9A-Za-z_.-]+$`)
	reDNS     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	reLogName = regexp.MustCompile(`^[A-Za-z0-9_./#-]+$`)
)

// checkRDSLike checks RDS instance and ElastiCache replication group ids:
// a letter first, lowercase letters, digits and single hyphens, no
// trailing hyphen.
func checkRDSLike(what, id string, max int) error {
	switch {
	case len(id) > max:
		return fmt.Errorf("%s %q is longer than %d characters", what, id, max)
	case !reRDS.MatchString(id):
		return fmt.Errorf("%s %q must start with a letter and hold only lowercase letters, digits and hyphens; rename the stack, environment or component", what, id)
	case strings.Contains(id, "--") || strings.HasSuffix(id, "-"):
		return fmt.Errorf("%s %q must not contain \"--\" or end with \"-\"; rename the stack, environment or component", what, id)
	}
	return nil
}

func checkSQS(name string) error {
	if len(name) > 80 || !reSQS.MatchString(name) {
		return fmt.Errorf("queue name %q must be 1-80 letters, digits, hyphens or underscores (plus .fifo)", name)
	}
	return nil
}

func checkBucket(name string) error {
	switch {
	case len(name) < 3 || len(name) > 63:
		return fmt.Errorf("bucket name %q must be 3-63 characters", name)
	case !reS3.MatchString(name):
		return fmt.Errorf("bucket name %q must hold only lowercase letters, digits, dots and hyphens, and start and end with a letter or digit", name)
	case strings.Contains(name, ".."), strings.Contains(name, ".-"), strings.Contains(name, "-."):
		return fmt.Errorf("bucket name %q must not contain \"..\", \".-\" or \"-.\"", name)
	case net.ParseIP(name) != nil:
		return fmt.Errorf("bucket name %q must not look like an IP address", name)
	}
	for _, p := range reservedBucketPrefixes {
		if strings.HasPrefix(name, p.affix) {
			return fmt.Errorf("bucket name %q starts with %q, which S3 reserves for %s; choose a name that does not", name, p.affix, p.why)
		}
	}
	for _, s := range reservedBucketSuffixes {
		if strings.HasSuffix(name, s.affix) {
			return fmt.Errorf("bucket name %q ends with %q, which S3 reserves for %s; choose a name that does not", name, s.affix, s.why)
		}
	}
	return nil
}

// reservedBucketPrefixes and reservedBucketSuffixes are the affixes S3's
// bucket naming rules reserve: CreateBucket refuses a general purpose
// bucket named with one (InvalidBucketName), in apply.
var (
	reservedBucketPrefixes = []struct{ affix, why string }{
		{"xn--", "internationalized (punycode) domain names"},
		{"sthree-", "its own use"},
		{"amzn-s3-demo-", "the example names of its documentation"},
	}
	reservedBucketSuffixes = []struct{ affix, why string }{
		{"-s3alias", "access point alias names"},
		{"--ol-s3", "Object Lambda access point alias names"},
		{".mrap", "Multi-Region Access Point names"},
		{"--x-s3", "directory bucket names"},
		{"--table-s3", "S3 Tables access point alias names"},
	}
)

func checkPattern(what, name string, re *regexp.Regexp, max int) error {
	if name == "" || len(name) > max || !re.MatchString(name) {
		return fmt.Errorf("%s %q must be 1-%d characters matching %s; rename the stack, environment or component", what, name, max, re)
	}
	return nil
}

func checkNamespace(name string) error {
	for _, label := range strings.Split(name, ".") {
		if !reDNS.MatchString(label) {
			return fmt.Errorf("service discovery namespace %q: label %q is not a DNS label (lowercase letters, digits, hyphens)", name, label)
		}
	}
	return nil
}

// Tag keys panka puts on every resource (the aws package's TagManagedBy
// and the rest).
const (
	TagManagedBy   = "managed-by"
	TagStack       = "panka:stack"
	TagEnvironment = "panka:environment"
	TagComponent   = "panka:component"
)

// maxUserTags is how many spec.provider.tags a resource can take: AWS
// allows 50 tags per resource, and panka adds managed-by, panka:stack,
// panka:environment and panka:component.
const maxUserTags = 50 - 4

// reTag is what every tagged service (IAM and S3 the strictest) takes in
// a tag key or value: letters, digits, spaces and _ . : / = + - @.
var reTag = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// checkTags checks the stack's tags, which the provider puts on every
// resource: AWS refused a bad one at each resource's creation, in apply.
func checkTags(tags map[string]string) []string {
	var out []string
	if len(tags) > maxUserTags {
		out = append(out, fmt.Sprintf("%d tags; AWS allows 50 per resource and panka adds 4, so at most %d", len(tags), maxUserTags))
	}
	folded := map[string]string{} // lowercase key: the first key of that spelling
	for _, k := range SortedKeys(tags) {
		v := tags[k]
		other, clash := folded[strings.ToLower(k)]
		if !clash {
			folded[strings.ToLower(k)] = k
		}
		switch {
		case reservedTag(k) != "":
			out = append(out, fmt.Sprintf("key %q: panka sets %q on every resource itself; remove it or choose another key", k, reservedTag(k)))
		case clash:
			out = append(out, fmt.Sprintf("keys %q and %q differ only in case: IAM takes tag keys of roles ignoring case, so the task and execution roles cannot hold both; keep one", other, k))
		case k == "" || len([]rune(k)) > 128:
			out = append(out, fmt.Sprintf("key %q: want 1-128 characters", k))
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			out = append(out, fmt.Sprintf("key %q: the aws: prefix is reserved for AWS's own tags", k))
		case !reTag.MatchString(k):
			out = append(out, fmt.Sprintf("key %q: use letters, digits, spaces and _ . : / = + - @", k))
		case len([]rune(v)) > 256:
			out = append(out, fmt.Sprintf("%s: the value is %d characters; AWS allows 256", k, len([]rune(v))))
		case !reTag.MatchString(v):
			out = append(out, fmt.Sprintf("%s: value %q: use letters, digits, spaces and _ . : / = + - @", k, v))
		}
	}
	return out
}

// reservedTag returns the tag key panka sets itself that k names, in any
// case ("" when none): the provider would drop the stack's value for
// panka's without a word, and IAM, which compares keys ignoring case,
// refuses "Managed-By" beside panka's "managed-by".
func reservedTag(k string) string {
	for _, r := range []string{TagManagedBy, TagStack, TagEnvironment, TagComponent} {
		if strings.EqualFold(k, r) {
			return r
		}
	}
	return ""
}

// Partition is the ARN partition of a region: aws-cn for cn-*, aws-us-gov
// for us-gov-*, the isolated ones for us-iso-*, us-isob-*, us-isof-* and eu-isoe-*,
// aws-eusc for eusc-* (the European Sovereign Cloud),
// else aws. ARNs panka writes itself (an AWS managed policy, an SSM
// parameter named by path) must use it, or IAM refuses them there.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "aws-iso-e"
	case strings.HasPrefix(region, "us-isof-"):
		return "aws-iso-f"
	case strings.HasPrefix(region, "eusc-"):
		return "aws-eusc"
	}
	return "aws"
}

// Deployment is one stack/environment on the aws target, for
// NameCollisions and RouteCollisions.
type Deployment struct {
	Stack, Environment string
	// Account tells AWS accounts apart: spec.provider.assumeRole ("" for
	// the deployer's own credentials). Names only collide in one account.
	Account string
	// Components are the component kinds by name.
	Components map[string]stacks.Kind
	// Routes are the listener rules its MicroServices put on a shared
	// load balancer listener (Program.Routes), for RouteCollisions.
	Routes []Route
}

// Route is the listener rule of a load-balanced MicroService.
type Route struct {
	Component string
	Listener  string // spec.provider.network.listenerArn
	Priority  int
	// Host is the host header ("" for any, lowercase), Path the path
	// prefix without its trailing "/". Known says the host holds no
	// reference, so the route can be compared.
	Host, Path string
	Known      bool
	// File declares the component, when known.
	File string
}

// Routes returns the listener rules p makes, by component name.
func (p *Program) Routes() []Route {
	var out []Route
	for _, name := range SortedKeys(p.Comps) {
		cp := p.Comps[name]
		if cp.W == nil || cp.W.LoadBalancer == nil {
			continue
		}
		lb := cp.W.LoadBalancer
		out = append(out, Route{Component: name, Listener: p.Net.ListenerArn, Priority: cp.Priority,
			Host: strings.ToLower(lb.Host), Path: strings.TrimSuffix(lb.Path, "/"), Known: len(stacks.FindRefs(lb.Host)) == 0, File: cp.C.File})
	}
	return out
}

// RouteCollision is two deployments' MicroServices whose rules on one
// listener take the same priority, or route the same host and path.
type RouteCollision struct {
	A, B                   Deployment
	ComponentA, ComponentB string
	// File declares ComponentB, when known.
	File     string
	Listener string
	// Priority is the priority both take; 0 when the route is the same.
	Priority int
	Host     string
	Path     string
	// PriorityA and PriorityB are the priorities of the two rules of a
	// route that is the same (Priority 0): the lower one gets the traffic.
	PriorityA, PriorityB int
}

// SameRoute reports a collision of routes rather than priorities. AWS
// accepts it: the rule of lower priority gets all the traffic, the other
// none, which is also what a service moving between stacks goes through
// for a moment (the new stack's rule is made before the old one's is
// removed). It is a warning; a priority taken twice is an error (the load
// balancer refuses the second rule: PriorityInUse).
func (c RouteCollision) SameRoute() bool { return c.Priority == 0 }

func (c RouteCollision) Error() string {
	both := fmt.Sprintf("stack %q environment %q component %q and stack %q environment %q component %q",
		c.A.Stack, c.A.Environment, c.ComponentA, c.B.Stack, c.B.Environment, c.ComponentB)
	if c.Priority > 0 {
		return fmt.Sprintf("%s both put a rule with priority %d on listener %s: the load balancer refuses the second one (PriorityInUse) when its apply runs; set spec.loadBalancer.priority (1-50000, free on that listener) on one of them", both, c.Priority, c.Listener)
	}
	host := "any host"
	if c.Host != "" {
		host = "host " + c.Host
	}
	winner, loser := c.ComponentA, c.ComponentB
	if c.PriorityB < c.PriorityA {
		winner, loser = loser, winner
	}
	return fmt.Sprintf("%s both route %s, path %s, on listener %s: the listener sends all of it to %q (the rule of lower priority) and none to %q while both exist; "+
		"that is expected for a moment when a service moves between stacks (deploy the new one, then remove the old one), otherwise give one of them another host or path",
		both, host, c.Path+"/", c.Listener, winner, loser)
}

// RouteCollisions finds the load-balanced MicroServices of different
// deployments that share a listener (one ALB for many stacks is the usual
// setup) and take the same rule priority (derived from a hash, so two
// stacks can draw the same one) or route the same host and path
// (SameRoute: a warning). Each deployment alone is valid; the second apply
// failed, or its service silently got no traffic. A deployment's own routes are checked by New.
func RouteCollisions(ds []Deployment) []RouteCollision {
	type owner struct{ d, r int }
	var out []RouteCollision
	prio := map[string]owner{}   // listener + priority
	routes := map[string]owner{} // listener + host + path
	for i, d := range ds {
		for j, r := range d.Routes {
			if r.Listener == "" {
				continue
			}
			k := fmt.Sprintf("%s\x00%d", r.Listener, r.Priority)
			if o, ok := prio[k]; ok && o.d != i {
				out = append(out, RouteCollision{A: ds[o.d], B: d, ComponentA: ds[o.d].Routes[o.r].Component, ComponentB: r.Component, File: r.File, Listener: r.Listener, Priority: r.Priority})
			} else if !ok {
				prio[k] = owner{i, j}
			}
			if !r.Known {
				continue
			}
			k = r.Listener + "\x00" + r.Host + "\x00" + r.Path
			if o, ok := routes[k]; ok && o.d != i {
				out = append(out, RouteCollision{A: ds[o.d], B: d, ComponentA: ds[o.d].Routes[o.r].Component, ComponentB: r.Component, File: r.File, Listener: r.Listener, Host: r.Host, Path: r.Path,
					PriorityA: ds[o.d].Routes[o.r].Priority, PriorityB: r.Priority})
			} else if !ok {
				routes[k] = owner{i, j}
			}
		}
	}
	return out
}

// Collision is two deployments (or components) that derive the same AWS
// names.
type Collision struct {
	// A and B are the deployments, A first in the input order.
	A, B Deployment
	// ComponentA and ComponentB are the components whose names collide,
	// "" when it is the stack/environment's own names (ECS cluster,
	// workloads security group).
	ComponentA, ComponentB string
	Name                   string
}

func (c Collision) Error() string {
	if c.ComponentA == "" {
		return fmt.Sprintf("stack %q environment %q and stack %q environment %q both derive the ECS cluster and security group name %q: deployed to one AWS account, the second one's apply shares or fails on the first one's; rename a stack or an environment",
			c.A.Stack, c.A.Environment, c.B.Stack, c.B.Environment, c.Name)
	}
	return fmt.Sprintf("stack %q environment %q component %q and stack %q environment %q component %q both derive the AWS names %q (RDS instance, IAM roles, queues, topics, log groups...): deployed to one AWS account, the second one's apply fails on the first one's resources or, for a queue or topic, silently shares them; rename one of the stacks, environments or components",
		c.A.Stack, c.A.Environment, c.ComponentA, c.B.Stack, c.B.Environment, c.ComponentB, c.Name)
}

// NameCollisions finds the deployments of one account whose derived names
// are equal: <stack>-<env>-<component> joins names with "-", which names
// themselves may hold, so stack "orders" environment "eu-prod" and stack
// "orders-eu" environment "prod" both name their ECS cluster
// "orders-eu-prod", and environments "prod" and "prod-eu" of one stack
// both name "<stack>-prod-eu-db" for components "eu-db" and "db".
func NameCollisions(ds []Deployment) []Collision {
	type owner struct {
		d    int
		comp string
	}
	var out []Collision
	shared := map[string]owner{} // account + cluster name
	bases := map[string]owner{}  // account + component base name
	for i, d := range ds {
		hasShared := false
		for _, name := range SortedKeys(d.Components) {
			switch d.Components[name] {
			case stacks.KindMicroService, stacks.KindWorker, stacks.KindCronJob, stacks.KindDatabase, stacks.KindCache:
				hasShared = true
			}
			base := newNames(d.Stack, d.Environment, name).Base
			k := d.Account + "\x00" + base
			if o, ok := bases[k]; ok && (o.d != i || o.comp != name) {
				out = append(out, Collision{A: ds[o.d], B: d, ComponentA: o.comp, ComponentB: name, Name: base})
				continue
			}
			bases[k] = owner{i, name}
		}
		if !hasShared {
			continue
		}
		cluster := strings.ToLower(d.Stack + "-" + d.Environment)
		k := d.Account + "\x00" + cluster
		if o, ok := shared[k]; ok && o.d != i {
			out = append(out, Collision{A: ds[o.d], B: d, Name: cluster})
			continue
		}
		shared[k] = owner{d: i}
	}
	return out
}
