package model

import (
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"sort"
	"strings"

	"panka.dev/panka/stacks"
)

// ref is one ${component.output} reference found in a spec.
type ref struct {
	Component, Output string
}

// Comp is one component decoded and named, ready to register.
type Comp struct {
	C     *stacks.Component
	N     Names
	Deps  []string // sorted: DependsOn + references + topic queues
	Refs  []ref    // references in the spec, sorted, unique
	W     *workload
	DB    *database
	Cache *cache
	Q     *queue
	B     *bucket
	T     *topic
	// Priority is the ALB listener rule priority (MicroService with
	// loadBalancer).
	Priority int
}

// Program is a validated model: every component decoded, named, ordered.
// Building one never touches Pulumi, so every problem surfaces before a
// deployment starts (Validate).
type Program struct {
	R      *stacks.Resolved
	Where  string
	Comps  map[string]*Comp
	Order  []*Comp // dependencies first, ties by name
	Net    stacks.Network
	HasLB  bool
	Counts map[stacks.Kind]int
	// Subscribers maps a Queue component to the Topic components that
	// subscribe it (the queue policy lists them all).
	Subscribers map[string][]string
}

// Validate checks that r can be deployed by the aws target: every spec
// field decodes and is within AWS limits, every derived resource name is
// valid, references name existing outputs, the provider settings needed
// by the components (region, VPC, subnets, listener) are present, and the
// dependency graph has no cycle. It returns every problem found, joined.
// Register runs it first; callers may run it earlier (plan).
func Validate(r *stacks.Resolved) error {
	_, err := New(r)
	return err
}

// New decodes, names and orders r, or returns every problem (Validate).
func New(r *stacks.Resolved) (*Program, error) {
	if r == nil {
		return nil, errors.New("aws target: no resolved model")
	}
	p := &Program{
		R:           r,
		Where:       fmt.Sprintf("stack %q environment %q", r.Stack, r.Environment),
		Comps:       map[string]*Comp{},
		Counts:      map[stacks.Kind]int{},
		Subscribers: map[string][]string{},
	}
	if r.Provider.Network != nil {
		p.Net = *r.Provider.Network
	}
	var errs []error
	var decs []*decoder // one for each component, in declaration order
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{p.Where}, args...)...))
	}
	if r.Stack == "" || r.Environment == "" {
		fail("stack and environment names are required")
	}
	if r.Provider.Region == "" {
		fail("spec.provider.region is required for the aws target (set it in stack.yaml or the environment's spec.provider)")
	}
	if ar := r.Provider.AssumeRole; ar != "" && !strings.HasPrefix(ar, "arn:") {
		fail("spec.provider.assumeRole %q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", ar)
	}
	for _, msg := range checkTags(r.Provider.Tags) {
		fail("spec.provider.tags: %s", msg)
	}

	for i := range r.Components {
		c := &r.Components[i]
		if _, dup := p.Comps[c.Name]; dup {
			fail("component %q is declared twice", c.Name)
			continue
		}
		d := &decoder{where: fmt.Sprintf("%s component %q (%s)", p.Where, c.Name, c.Kind), file: c.File, comp: c.Name}
		cp := &Comp{C: c, N: newNames(r.Stack, r.Environment, c.Name)}
		switch c.Kind {
		case stacks.KindMicroService, stacks.KindWorker, stacks.KindCronJob:
			cp.W = decodeWorkload(d, c)
			if cp.W.LoadBalancer != nil {
				p.HasLB = true
			}
		case stacks.KindDatabase:
			cp.DB = decodeDatabase(d, c)
		case stacks.KindCache:
			cp.Cache = decodeCache(d, c)
		case stacks.KindQueue:
			cp.Q = decodeQueue(d, c)
		case stacks.KindBucket:
			cp.B = decodeBucket(d, c)
		case stacks.KindTopic:
			cp.T = decodeTopic(d, c)
		default:
			d.fail("kind", "%q is not a component kind the aws target deploys", c.Kind)
		}
		p.checkNames(d, cp)
		cp.Refs = p.collectRefs(d, c.Spec, "")
		decs = append(decs, d)
		p.Comps[c.Name] = cp
		p.Counts[c.Kind]++
	}
	// The size checks count a reference as the value it will hold
	// (outputFloor), which needs the referenced component decoded, also
	// one declared later.
	for _, d := range decs {
		cp := p.Comps[d.comp]
		p.checkTaskDefinitionSize(d, cp)
		p.checkSecretsPolicySize(d, cp)
		p.checkTaskPolicySize(d, cp)
		errs = append(errs, d.errs...)
	}

	// Dependencies: declared, referenced, and topic -> subscribed queue.
	for _, name := range SortedKeys(p.Comps) {
		cp := p.Comps[name]
		// Problems of this component name its file, when known, so
		// validate reports them there rather than at stack.yaml.
		fail := func(format string, args ...any) {
			errs = append(errs, &Error{File: cp.C.File, Component: name, Msg: fmt.Sprintf("%s: "+format, append([]any{p.Where}, args...)...)})
		}
		deps := map[string]bool{}
		for _, d := range cp.C.DependsOn {
			if _, ok := p.Comps[d]; !ok {
				fail("component %q: dependsOn names unknown component %q", name, d)
				continue
			}
			deps[d] = true
		}
		for _, rf := range cp.Refs {
			target, ok := p.Comps[rf.Component]
			switch {
			case !ok:
				fail("component %q: reference ${%s.%s} names unknown component %q", name, rf.Component, rf.Output, rf.Component)
			case rf.Component == name:
				fail("component %q: reference ${%s.%s} refers to the component itself", name, rf.Component, rf.Output)
			case !hasOutput(target.C.Kind, rf.Output):
				fail("component %q: reference ${%s.%s}: a %s has outputs %s", name, rf.Component, rf.Output, target.C.Kind, strings.Join(target.C.Kind.Outputs(), ", "))
			default:
				deps[rf.Component] = true
			}
		}
		if cp.T != nil {
			subscribed := map[string]int{} // queue -> first subscription to it
			for i, s := range cp.T.Subscriptions {
				// The Lambda permission letting the topic invoke the
				// function is made with the deployment's provider, whose
				// Lambda API reaches only functions of its region: one
				// elsewhere failed at apply (ResourceNotFound) after the
				// rest of the stack was deployed.
				if e, ok := s.Endpoint.(string); ok && s.Protocol == "lambda" && reLambdaArn.MatchString(e) {
					if fr := strings.Split(e, ":")[3]; r.Provider.Region != "" && fr != r.Provider.Region {
						fail("component %q: spec.subscriptions[%d].endpoint: the function is in region %s, the stack deploys to %s (spec.provider.region); panka lets the topic invoke it with a Lambda permission made in %s, where the function does not exist: subscribe a function of %s", name, i, fr, r.Provider.Region, r.Provider.Region, r.Provider.Region)
					}
				}
				if msg := p.endpointRefProblem(s); msg != "" {
					fail("component %q: spec.subscriptions[%d].endpoint: %s", name, i, msg)
					continue
				}
				// {protocol: sqs, endpoint: ${q.arn}} delivers to the
				// stack's queue q as {queue: q} does: it needs the same
				// queue policy, or SNS cannot deliver.
				q, field := s.Queue, "queue"
				if q == "" {
					q, field = endpointQueue(s), "endpoint"
				}
				if q == "" {
					continue
				}
				qc, ok := p.Comps[q]
				switch {
				case !ok && field == "endpoint":
					// reported with the other references
				case !ok:
					fail("component %q: spec.subscriptions[%d].queue names unknown component %q", name, i, q)
				case qc.C.Kind != stacks.KindQueue:
					fail("component %q: spec.subscriptions[%d].%s: %q is a %s, not a Queue", name, i, field, q, qc.C.Kind)
				case qc.Q != nil && qc.Q.FIFO && !cp.T.FIFO:
					// SNS delivers to a FIFO queue from FIFO topics only;
					// a FIFO topic delivers to standard queues too.
					fail("component %q: spec.subscriptions[%d]: a standard topic cannot deliver to the FIFO queue %q (SNS delivers to a FIFO queue from FIFO topics only); make the topic fifo, or the queue standard", name, i, q)
				default:
					if j, dup := subscribed[q]; dup {
						// One subscription to AWS, held by two resources:
						// removing either would unsubscribe both.
						fail("component %q: spec.subscriptions[%d] delivers to queue %q like spec.subscriptions[%d]; remove one", name, i, q, j)
						continue
					}
					subscribed[q] = i
					deps[q] = true
					if !containsString(p.Subscribers[q], name) {
						p.Subscribers[q] = append(p.Subscribers[q], name)
					}
				}
			}
		}
		cp.Deps = SortedKeys(deps)
	}

	// Provider settings the components need.
	workloads := p.Counts[stacks.KindMicroService] + p.Counts[stacks.KindWorker] + p.Counts[stacks.KindCronJob]
	if workloads+p.Counts[stacks.KindDatabase]+p.Counts[stacks.KindCache] > 0 {
		if p.Net.VpcID == "" {
			fail("spec.provider.network.vpcId is required: services, jobs, databases and caches run in a VPC")
		}
		if len(p.Net.PrivateSubnets) == 0 {
			fail("spec.provider.network.privateSubnets is required: services, jobs, databases and caches run in private subnets")
		}
	}
	if (p.Counts[stacks.KindDatabase] > 0 || p.Counts[stacks.KindCache] > 0) && len(p.Net.PrivateSubnets) == 1 {
		fail("spec.provider.network.privateSubnets: RDS and ElastiCache subnet groups need subnets in at least two availability zones, got one")
	}
	if p.HasLB && p.Net.ListenerArn == "" {
		fail("spec.provider.network.listenerArn is required: MicroServices with loadBalancer attach a rule to an existing ALB listener")
	}
	if workloads+p.Counts[stacks.KindDatabase]+p.Counts[stacks.KindCache] > 0 {
		// The workloads group and each component's own group share the
		// <stack>-<env> prefix: one error says it for all of them.
		if err := checkSecurityGroup(WorkloadsGroupName(r.Stack, r.Environment)); err != nil {
			fail("%v", err)
		}
	}
	if workloads > 0 {
		if err := checkPattern("ECS cluster name", ClusterName(r.Stack, r.Environment), reECS, 255); err != nil {
			fail("%v", err)
		}
	}
	if p.Counts[stacks.KindMicroService] > 0 {
		if err := checkNamespace(NamespaceName(r.Stack, r.Environment)); err != nil {
			fail("%v", err)
		}
	}
	if err := p.assignPriorities(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, p.checkRoutes()...)

	order, err := p.topo()
	if err != nil {
		errs = append(errs, err)
	}
	p.Order = order
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// endpointQueue returns the component an sqs subscription's endpoint is
// exactly the arn of (${<component>.arn}), or "".
func endpointQueue(s subscription) string {
	e, ok := s.Endpoint.(string)
	if !ok || s.Protocol != "sqs" {
		return ""
	}
	refs := stacks.FindRefs(e)
	if len(refs) != 1 || refs[0].Start != 0 || refs[0].End != len(e) || refs[0].Output != "arn" {
		return ""
	}
	return refs[0].Component
}

// endpointRefProblem says why an external subscription whose endpoint is
// exactly a reference to another component's output cannot work, "" when
// it can (or the reference is unknown: reported with the others). The
// value is known only at deploy time, so the format checks of the
// endpoint pass it; SNS then refused it in apply, after the rest of the
// stack was deployed: a queue's url where sqs wants its ARN, or an output
// no component has in the protocol's form (a Lambda function's ARN).
func (p *Program) endpointRefProblem(s subscription) string {
	e, ok := s.Endpoint.(string)
	if !ok || s.Protocol == "" {
		return ""
	}
	refs := stacks.FindRefs(e)
	if len(refs) != 1 || refs[0].Start != 0 || refs[0].End != len(e) {
		return ""
	}
	rf := refs[0]
	target, ok := p.Comps[rf.Component]
	if !ok || !hasOutput(target.C.Kind, rf.Output) {
		return ""
	}
	what := fmt.Sprintf("${%s.%s} is the %s output of a %s", rf.Component, rf.Output, rf.Output, target.C.Kind)
	switch s.Protocol {
	case "sqs":
		if rf.Output == "arn" {
			return "" // a Queue's, or reported as "not a Queue" below
		}
		if target.C.Kind == stacks.KindQueue {
			return fmt.Sprintf("%s; an sqs subscription delivers to a queue's ARN: write {queue: %s} (or ${%s.arn})", what, rf.Component, rf.Component)
		}
		return fmt.Sprintf("%s; an sqs subscription delivers to a queue's ARN: subscribe a Queue component ({queue: <component>})", what)
	case "http", "https":
		if target.C.Kind == stacks.KindMicroService && rf.Output == "url" {
			return ""
		}
		return fmt.Sprintf("%s, not the %s:// URL an %s subscription posts to; only a MicroService's url is one", what, s.Protocol, s.Protocol)
	}
	want := map[string]string{
		"lambda":      "a Lambda function's ARN",
		"application": "a platform endpoint's ARN",
		"email":       "an email address",
		"email-json":  "an email address",
		"sms":         "a phone number",
	}[s.Protocol]
	if want == "" {
		return ""
	}
	article := "a"
	if strings.IndexAny(s.Protocol[:1], "aeiou") == 0 {
		article = "an"
	}
	return fmt.Sprintf("%s; %s %s subscription delivers to %s, which no component of the stack outputs", what, article, s.Protocol, want)
}

func hasOutput(k stacks.Kind, out string) bool {
	return containsString(k.Outputs(), out)
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// refFields are the spec fields whose values are Pulumi inputs and may
// therefore hold ${component.output} references. Anywhere else (sizes,
// names, flags) a reference is an error: the value must be known before
// the deployment to validate and name resources.
var refFields = regexp.MustCompile(`^(image|command(\[\d+\])?|env\.[^.]+|env\.[^.]+\.secret|secrets\.[^.]+(\.(secret|valueFrom))?|loadBalancer\.host|subscriptions\[\d+\]\.endpoint)$`)

// collectRefs walks a spec, returns its references (sorted, unique) and
// records references in fields that cannot take them.
func (p *Program) collectRefs(d *decoder, v any, path string) []ref {
	seen := map[ref]bool{}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case string:
			if stacks.IsSensitive(x) {
				// A model read back from state or a plan keeps only the
				// keyed hash of a secret: deploying it would set the
				// hash as the value (an ECS environment variable).
				d.fail(path, "the secret is only known by its hash here (a model read back from state or a plan): resolve the stack from the repository, with its secrets, to deploy it")
				return
			}
			for _, m := range stacks.FindRefs(x) {
				if !refFields.MatchString(path) {
					d.fail(path, "references such as %s are not allowed here; only env, secrets, image, command, loadBalancer.host and subscription endpoints take them", x[m.Start:m.End])
					continue
				}
				seen[ref{m.Component, m.Output}] = true
			}
		case stacks.Sensitive:
			walk(x.Clear, path)
		case *stacks.Sensitive:
			if x != nil {
				walk(x.Clear, path)
			}
		case map[string]any:
			for _, k := range SortedKeys(x) {
				walk(x[k], join(path, k))
			}
		case []any:
			for i, e := range x {
				walk(e, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(v, path)
	out := make([]ref, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Component != out[j].Component {
			return out[i].Component < out[j].Component
		}
		return out[i].Output < out[j].Output
	})
	return out
}

// checkNames validates every physical name the component will get.
func (p *Program) checkNames(d *decoder, cp *Comp) {
	n := cp.N
	check := func(field string, err error) {
		if err != nil {
			d.fail(field, "%v", err)
		}
	}
	switch cp.C.Kind {
	case stacks.KindMicroService, stacks.KindWorker, stacks.KindCronJob:
		check("name", checkPattern("ECS service and container name", cp.C.Name, reECS, 255))
		check("name", checkPattern("task definition family", n.Family(), reECS, 255))
		check("name", checkPattern("IAM role name", n.Role("exec"), reIAM, 64))
		check("name", checkPattern("log group name", LogGroupName(p.R.Stack, p.R.Environment, cp.C.Name), reLogName, 512))
		if cp.C.Kind == stacks.KindCronJob {
			check("name", checkPattern("schedule name", n.Schedule(), reSched, 64))
		}
		if cp.C.Kind == stacks.KindMicroService && !reDNS.MatchString(cp.C.Name) {
			d.fail("name", "%q is not a DNS label; MicroServices are registered in service discovery as <name>.%s", cp.C.Name, NamespaceName(p.R.Stack, p.R.Environment))
		}
	case stacks.KindDatabase:
		check("name", checkRDSLike("RDS instance identifier", n.RdsIdentifier(), 63))
		check("name", checkRDSLike("DB subnet group name", n.SubnetGroup(), 255))
	case stacks.KindCache:
		check("name", checkRDSLike("ElastiCache replication group id", n.CacheID(), 40))
		check("name", checkRDSLike("cache subnet group name", n.SubnetGroup(), 255))
	case stacks.KindQueue:
		if cp.Q != nil {
			name, dlq := n.Queue(cp.Q.FIFO)
			check("name", checkSQS(name))
			check("name", checkSQS(dlq))
		}
	case stacks.KindBucket:
		if cp.B != nil {
			field := "name"
			if cp.B.Name == "" {
				field = "name (derived from stack, environment and component names; rename one of them to change it)"
			}
			check(field, checkBucket(n.BucketExample(cp.B.Name)))
		}
	case stacks.KindTopic:
		if cp.T != nil {
			check("name", checkPattern("SNS topic name", strings.TrimSuffix(n.Topic(cp.T.FIFO), ".fifo"), reECS, 256))
		}
	}
}

// assignPriorities gives every load-balanced MicroService a listener rule
// priority: the explicit spec.loadBalancer.priority, else one derived from
// a hash of stack/environment/component (stable; two stacks sharing the
// listener can still draw one, which validate reports across the
// repository: RouteCollisions) inside a band of its route's
// specificity, probing upwards in the band past priorities already taken
// in this stack.
//
// The listener evaluates rules lowest priority first, so a route must
// come before every route it lies under: /api/v2 before /api before /
// (whose rule matches /*), and a route with a host before the same path
// on any host. Bands do that: the more path segments, the lower the band;
// at equal depth a host comes first.
func (p *Program) assignPriorities() error {
	used := map[int]string{}
	var errs []error
	var derived []*Comp
	for _, name := range SortedKeys(p.Comps) {
		cp := p.Comps[name]
		if cp.W == nil || cp.W.LoadBalancer == nil {
			continue
		}
		if pr := cp.W.LoadBalancer.Priority; pr > 0 {
			if other, taken := used[pr]; taken {
				errs = append(errs, fmt.Errorf("%s: components %q and %q both set spec.loadBalancer.priority %d", p.Where, other, name, pr))
				continue
			}
			used[pr] = name
			cp.Priority = pr
			continue
		}
		derived = append(derived, cp)
	}
	for _, cp := range derived {
		h := fnv.New32a()
		h.Write([]byte(p.R.Stack + "/" + p.R.Environment + "/" + cp.C.Name))
		base := priorityBand(cp.W.LoadBalancer) * bandWidth
		off := int(h.Sum32() % bandWidth)
		for n := 0; n < bandWidth; n++ {
			if _, taken := used[base+off+1]; !taken {
				break
			}
			off = (off + 1) % bandWidth
		}
		cp.Priority = base + off + 1
		used[cp.Priority] = cp.C.Name
	}
	return errors.Join(errs...)
}

// Listener rule priorities (1-50000) are split into bands of route
// specificity: maxDepth+1 path depths, each with and without a host.
const (
	maxDepth  = 9
	bandWidth = 50000 / ((maxDepth + 1) * 2)
)

// priorityBand is the band of a route: 0 for the most specific (a host
// and maxDepth or more path segments), rising as the route matches more.
func priorityBand(lb *loadBalancer) int {
	depth := 0
	for _, seg := range strings.Split(lb.Path, "/") {
		if seg != "" {
			depth++
		}
	}
	band := (maxDepth - min(depth, maxDepth)) * 2
	if lb.Host == "" {
		band++
	}
	return band
}

// checkRoutes refuses two load-balanced components that route the same
// host and path: the listener sends every such request to the rule of
// lower priority, so the other service would never get traffic, without
// a word from AWS. A host with a reference is known only at deploy time
// and not compared.
func (p *Program) checkRoutes() []error {
	var errs []error
	seen := map[string]string{}
	for _, name := range SortedKeys(p.Comps) {
		cp := p.Comps[name]
		if cp.W == nil || cp.W.LoadBalancer == nil || len(stacks.FindRefs(cp.W.LoadBalancer.Host)) > 0 {
			continue
		}
		lb := cp.W.LoadBalancer
		host, path := strings.ToLower(lb.Host), strings.TrimSuffix(lb.Path, "/")
		key := host + "\x00" + path
		if other, dup := seen[key]; dup {
			what := "any host"
			if host != "" {
				what = "host " + host
			}
			errs = append(errs, &Error{File: cp.C.File, Component: name, Field: "loadBalancer", Msg: fmt.Sprintf("%s: component %q: spec.loadBalancer routes %s, path %s, as component %q does: the listener would send all of it to one of them; give one another host or path",
				p.Where, name, what, path+"/", other)})
			continue
		}
		seen[key] = name
	}
	return errs
}

// topo orders components so every dependency comes first; among ready
// components the name decides, so the order (and the program) is
// deterministic. A cycle is an error naming its path.
func (p *Program) topo() ([]*Comp, error) {
	indeg := map[string]int{}
	users := map[string][]string{}
	for name, cp := range p.Comps {
		indeg[name] += 0
		for _, d := range cp.Deps {
			indeg[name]++
			users[d] = append(users[d], name)
		}
	}
	var ready []string
	for name, n := range indeg {
		if n == 0 {
			ready = append(ready, name)
		}
	}
	sort.Strings(ready)
	var order []*Comp
	for len(ready) > 0 {
		name := ready[0]
		ready = ready[1:]
		order = append(order, p.Comps[name])
		for _, u := range users[name] {
			indeg[u]--
			if indeg[u] == 0 {
				ready = append(ready, u)
				sort.Strings(ready)
			}
		}
	}
	if len(order) == len(p.Comps) {
		return order, nil
	}
	// Find one cycle among the components left, for the message.
	left := map[string]bool{}
	for name, n := range indeg {
		if n > 0 {
			left[name] = true
		}
	}
	start := SortedKeys(left)[0]
	path := []string{start}
	seen := map[string]int{start: 0}
	cur := start
	for {
		var next string
		for _, d := range p.Comps[cur].Deps {
			if left[d] {
				next = d
				break
			}
		}
		if i, ok := seen[next]; ok {
			cycle := append(path[i:], next)
			return nil, fmt.Errorf("%s: dependency cycle: %s", p.Where, strings.Join(cycle, " -> "))
		}
		seen[next] = len(path)
		path = append(path, next)
		cur = next
	}
}
