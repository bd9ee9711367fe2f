package aws

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

// comp is one component decoded and named, ready to register.
type comp struct {
	c     *stacks.Component
	n     names
	deps  []string // sorted: DependsOn + references + topic queues
	refs  []ref    // references in the spec, sorted, unique
	w     *workload
	db    *database
	cache *cache
	q     *queue
	b     *bucket
	t     *topic
	// priority is the ALB listener rule priority (MicroService with
	// loadBalancer).
	priority int
}

// program is a validated model: every component decoded, named, ordered.
// Building one never touches Pulumi, so every problem surfaces before a
// deployment starts (Validate).
type program struct {
	r      *stacks.Resolved
	where  string
	comps  map[string]*comp
	order  []*comp // dependencies first, ties by name
	net    stacks.Network
	hasLB  bool
	counts map[stacks.Kind]int
	// subscribers maps a Queue component to the Topic components that
	// subscribe it (the queue policy lists them all).
	subscribers map[string][]string
}

// Validate checks that r can be deployed by the aws target: every spec
// field decodes and is within AWS limits, every derived resource name is
// valid, references name existing outputs, the provider settings needed
// by the components (region, VPC, subnets, listener) are present, and the
// dependency graph has no cycle. It returns every problem found, joined.
// Register runs it first; callers may run it earlier (plan).
func Validate(r *stacks.Resolved) error {
	_, err := newProgram(r)
	return err
}

func newProgram(r *stacks.Resolved) (*program, error) {
	if r == nil {
		return nil, errors.New("aws target: no resolved model")
	}
	p := &program{
		r:           r,
		where:       fmt.Sprintf("stack %q environment %q", r.Stack, r.Environment),
		comps:       map[string]*comp{},
		counts:      map[stacks.Kind]int{},
		subscribers: map[string][]string{},
	}
	if r.Provider.Network != nil {
		p.net = *r.Provider.Network
	}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{p.where}, args...)...))
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

	for i := range r.Components {
		c := &r.Components[i]
		if _, dup := p.comps[c.Name]; dup {
			fail("component %q is declared twice", c.Name)
			continue
		}
		d := &decoder{where: fmt.Sprintf("%s component %q (%s)", p.where, c.Name, c.Kind)}
		cp := &comp{c: c, n: newNames(r.Stack, r.Environment, c.Name)}
		switch c.Kind {
		case stacks.KindMicroService, stacks.KindWorker, stacks.KindCronJob:
			cp.w = decodeWorkload(d, c)
			if cp.w.LoadBalancer != nil {
				p.hasLB = true
			}
		case stacks.KindDatabase:
			cp.db = decodeDatabase(d, c)
		case stacks.KindCache:
			cp.cache = decodeCache(d, c)
		case stacks.KindQueue:
			cp.q = decodeQueue(d, c)
		case stacks.KindBucket:
			cp.b = decodeBucket(d, c)
		case stacks.KindTopic:
			cp.t = decodeTopic(d, c)
		default:
			d.fail("kind", "%q is not a component kind the aws target deploys", c.Kind)
		}
		p.checkNames(d, cp)
		cp.refs = p.collectRefs(d, c.Spec, "")
		errs = append(errs, d.errs...)
		p.comps[c.Name] = cp
		p.counts[c.Kind]++
	}

	// Dependencies: declared, referenced, and topic -> subscribed queue.
	for _, name := range sortedKeys(p.comps) {
		cp := p.comps[name]
		deps := map[string]bool{}
		for _, d := range cp.c.DependsOn {
			if _, ok := p.comps[d]; !ok {
				fail("component %q: dependsOn names unknown component %q", name, d)
				continue
			}
			deps[d] = true
		}
		for _, rf := range cp.refs {
			target, ok := p.comps[rf.Component]
			switch {
			case !ok:
				fail("component %q: reference ${%s.%s} names unknown component %q", name, rf.Component, rf.Output, rf.Component)
			case rf.Component == name:
				fail("component %q: reference ${%s.%s} refers to the component itself", name, rf.Component, rf.Output)
			case !hasOutput(target.c.Kind, rf.Output):
				fail("component %q: reference ${%s.%s}: a %s has outputs %s", name, rf.Component, rf.Output, target.c.Kind, strings.Join(target.c.Kind.Outputs(), ", "))
			default:
				deps[rf.Component] = true
			}
		}
		if cp.t != nil {
			for i, s := range cp.t.Subscriptions {
				if s.Queue == "" {
					continue
				}
				qc, ok := p.comps[s.Queue]
				switch {
				case !ok:
					fail("component %q: spec.subscriptions[%d].queue names unknown component %q", name, i, s.Queue)
				case qc.c.Kind != stacks.KindQueue:
					fail("component %q: spec.subscriptions[%d].queue: %q is a %s, not a Queue", name, i, s.Queue, qc.c.Kind)
				case qc.q != nil && qc.q.FIFO != cp.t.FIFO:
					fail("component %q: spec.subscriptions[%d]: a %s topic cannot deliver to the %s queue %q; make both fifo or neither", name, i, fifoWord(cp.t.FIFO), fifoWord(qc.q.FIFO), s.Queue)
				default:
					deps[s.Queue] = true
					if !containsString(p.subscribers[s.Queue], name) {
						p.subscribers[s.Queue] = append(p.subscribers[s.Queue], name)
					}
				}
			}
		}
		cp.deps = sortedKeys(deps)
	}

	// Provider settings the components need.
	workloads := p.counts[stacks.KindMicroService] + p.counts[stacks.KindWorker] + p.counts[stacks.KindCronJob]
	if workloads+p.counts[stacks.KindDatabase]+p.counts[stacks.KindCache] > 0 {
		if p.net.VpcID == "" {
			fail("spec.provider.network.vpcId is required: services, jobs, databases and caches run in a VPC")
		}
		if len(p.net.PrivateSubnets) == 0 {
			fail("spec.provider.network.privateSubnets is required: services, jobs, databases and caches run in private subnets")
		}
	}
	if (p.counts[stacks.KindDatabase] > 0 || p.counts[stacks.KindCache] > 0) && len(p.net.PrivateSubnets) == 1 {
		fail("spec.provider.network.privateSubnets: RDS and ElastiCache subnet groups need subnets in at least two availability zones, got one")
	}
	if p.hasLB && p.net.ListenerArn == "" {
		fail("spec.provider.network.listenerArn is required: MicroServices with loadBalancer attach a rule to an existing ALB listener")
	}
	if workloads > 0 {
		if err := checkPattern("ECS cluster name", ClusterName(r.Stack, r.Environment), reECS, 255); err != nil {
			fail("%v", err)
		}
	}
	if p.counts[stacks.KindMicroService] > 0 {
		if err := checkNamespace(namespaceName(r.Stack, r.Environment)); err != nil {
			fail("%v", err)
		}
	}
	if err := p.assignPriorities(); err != nil {
		errs = append(errs, err)
	}

	order, err := p.topo()
	if err != nil {
		errs = append(errs, err)
	}
	p.order = order
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func fifoWord(fifo bool) string {
	if fifo {
		return "FIFO"
	}
	return "standard"
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
func (p *program) collectRefs(d *decoder, v any, path string) []ref {
	seen := map[ref]bool{}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case string:
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
			for _, k := range sortedKeys(x) {
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
func (p *program) checkNames(d *decoder, cp *comp) {
	n := cp.n
	check := func(field string, err error) {
		if err != nil {
			d.fail(field, "%v", err)
		}
	}
	switch cp.c.Kind {
	case stacks.KindMicroService, stacks.KindWorker, stacks.KindCronJob:
		check("name", checkPattern("ECS service and container name", cp.c.Name, reECS, 255))
		check("name", checkPattern("task definition family", n.family(), reECS, 255))
		check("name", checkPattern("IAM role name", n.role("exec"), reIAM, 64))
		check("name", checkPattern("log group name", logGroupName(p.r.Stack, p.r.Environment, cp.c.Name), reLogName, 512))
		if cp.c.Kind == stacks.KindCronJob {
			check("name", checkPattern("schedule name", n.schedule(), reSched, 64))
		}
		if cp.c.Kind == stacks.KindMicroService && !reDNS.MatchString(cp.c.Name) {
			d.fail("name", "%q is not a DNS label; MicroServices are registered in service discovery as <name>.%s", cp.c.Name, namespaceName(p.r.Stack, p.r.Environment))
		}
	case stacks.KindDatabase:
		check("name", checkRDSLike("RDS instance identifier", n.rdsIdentifier(), 63))
		check("name", checkRDSLike("DB subnet group name", n.subnetGroup(), 255))
	case stacks.KindCache:
		check("name", checkRDSLike("ElastiCache replication group id", n.cacheID(), 40))
		check("name", checkRDSLike("cache subnet group name", n.subnetGroup(), 255))
	case stacks.KindQueue:
		if cp.q != nil {
			name, dlq := n.queue(cp.q.FIFO)
			check("name", checkSQS(name))
			check("name", checkSQS(dlq))
		}
	case stacks.KindBucket:
		if cp.b != nil {
			field := "name"
			if cp.b.Name == "" {
				field = "name (derived from stack, environment and component; set spec.name to choose one)"
			}
			check(field, checkBucket(n.bucketExample(cp.b.Name)))
		}
	case stacks.KindTopic:
		if cp.t != nil {
			check("name", checkPattern("SNS topic name", strings.TrimSuffix(n.topic(cp.t.FIFO), ".fifo"), reECS, 256))
		}
	}
}

// assignPriorities gives every load-balanced MicroService a listener rule
// priority: the explicit spec.loadBalancer.priority, else one derived from
// a hash of stack/environment/component (stable, and unlikely to collide
// with other stacks sharing the listener), probing upwards past priorities
// already taken in this stack.
func (p *program) assignPriorities() error {
	used := map[int]string{}
	var errs []error
	var derived []*comp
	for _, name := range sortedKeys(p.comps) {
		cp := p.comps[name]
		if cp.w == nil || cp.w.LoadBalancer == nil {
			continue
		}
		if pr := cp.w.LoadBalancer.Priority; pr > 0 {
			if other, taken := used[pr]; taken {
				errs = append(errs, fmt.Errorf("%s: components %q and %q both set spec.loadBalancer.priority %d", p.where, other, name, pr))
				continue
			}
			used[pr] = name
			cp.priority = pr
			continue
		}
		derived = append(derived, cp)
	}
	for _, cp := range derived {
		h := fnv.New32a()
		h.Write([]byte(p.r.Stack + "/" + p.r.Environment + "/" + cp.c.Name))
		pr := int(h.Sum32()%50000) + 1
		for {
			if _, taken := used[pr]; !taken {
				break
			}
			pr = pr%50000 + 1
		}
		used[pr] = cp.c.Name
		cp.priority = pr
	}
	return errors.Join(errs...)
}

// topo orders components so every dependency comes first; among ready
// components the name decides, so the order (and the program) is
// deterministic. A cycle is an error naming its path.
func (p *program) topo() ([]*comp, error) {
	indeg := map[string]int{}
	users := map[string][]string{}
	for name, cp := range p.comps {
		indeg[name] += 0
		for _, d := range cp.deps {
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
	var order []*comp
	for len(ready) > 0 {
		name := ready[0]
		ready = ready[1:]
		order = append(order, p.comps[name])
		for _, u := range users[name] {
			indeg[u]--
			if indeg[u] == 0 {
				ready = append(ready, u)
				sort.Strings(ready)
			}
		}
	}
	if len(order) == len(p.comps) {
		return order, nil
	}
	// Find one cycle among the components left, for the message.
	left := map[string]bool{}
	for name, n := range indeg {
		if n > 0 {
			left[name] = true
		}
	}
	start := sortedKeys(left)[0]
	path := []string{start}
	seen := map[string]int{start: 0}
	cur := start
	for {
		var next string
		for _, d := range p.comps[cur].deps {
			if left[d] {
				next = d
				break
			}
		}
		if i, ok := seen[next]; ok {
			cycle := append(path[i:], next)
			return nil, fmt.Errorf("%s: dependency cycle: %s", p.where, strings.Join(cycle, " -> "))
		}
		seen[next] = len(path)
		path = append(path, next)
		cur = next
	}
}
