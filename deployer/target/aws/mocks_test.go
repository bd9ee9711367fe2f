package aws

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"panka.dev/panka/deployer/target"
	"panka.dev/panka/deployer/target/aws/model"
	"panka.dev/panka/stacks"
)

// testNow is the clock of every test registration, so that two runs of
// one model register the same inputs.
var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func init() { now = func() time.Time { return testNow } }

// registered is one resource the program registered, as the engine saw it.
type registered struct {
	Type, Name, URN string
	Parent          string
	Provider        string
	Inputs          resource.PropertyMap
	// PropDeps are the URNs each input property depends on.
	PropDeps map[string][]string
	Deps     []string
	Custom   bool
	// Protect is the resource's protect option.
	Protect bool
	// IgnoreChanges is the resource's ignoreChanges option.
	IgnoreChanges []string
	// AliasTypes are the types of the resource's aliases (by spec or URN).
	AliasTypes []string
}

// mocks is a pulumi.MockResourceMonitor that records registrations and
// answers the invokes the aws target makes with canned values.
type mocks struct {
	mu    sync.Mutex
	res   []*registered
	calls []string
	// internalLB makes the listener's load balancer an internal one.
	internalLB bool
	// listenerPort is the listener's port (default 443, HTTPS).
	listenerPort int
	// account is the caller's account id (default 123456789012).
	account string
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := &registered{Type: args.TypeToken, Name: args.Name, Provider: args.Provider, Inputs: args.Inputs, Custom: args.Custom, PropDeps: map[string][]string{}}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.Deps = rpc.GetDependencies()
		r.Protect = rpc.GetProtect()
		r.IgnoreChanges = rpc.GetIgnoreChanges()
		for _, a := range rpc.GetAliases() {
			if sp := a.GetSpec(); sp != nil {
				r.AliasTypes = append(r.AliasTypes, sp.GetType())
			} else if u := a.GetUrn(); u != "" {
				r.AliasTypes = append(r.AliasTypes, string(resource.URN(u).Type()))
			}
		}
		for _, u := range rpc.GetAliasURNs() {
			r.AliasTypes = append(r.AliasTypes, string(resource.URN(u).Type()))
		}
		for k, v := range rpc.GetPropertyDependencies() {
			r.PropDeps[k] = v.GetUrns()
		}
	}
	m.mu.Lock()
	m.res = append(m.res, r)
	m.mu.Unlock()

	outs := args.Inputs.Copy()
	str := func(k string) string {
		v, ok := args.Inputs[resource.PropertyKey(k)]
		if !ok {
			return ""
		}
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		if v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	set := func(k string, v any) { outs[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	arn := "arn:aws:mock:eu-west-1:123456789012:" + args.Name
	set("arn", arn)
	id := args.Name + "-id"
	switch args.TypeToken {
	case "aws:rds/instance:Instance":
		// As RDS gives them: the endpoint is the address and the
		// instance's port.
		port := 5432.0
		if v, ok := args.Inputs["port"]; ok && v.IsNumber() {
			port = v.NumberValue()
		}
		set("address", args.Name+".abc123.eu-west-1.rds.amazonaws.com")
		set("endpoint", fmt.Sprintf("%s.abc123.eu-west-1.rds.amazonaws.com:%d", args.Name, int(port)))
		set("port", port)
		outs["masterUserSecrets"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewObjectProperty(resource.PropertyMap{
			"secretArn": resource.NewStringProperty("arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-" + args.Name + "-AbCdEf"),
		})})
	case "aws:elasticache/replicationGroup:ReplicationGroup":
		set("primaryEndpointAddress", "master."+args.Name+".cache.amazonaws.com")
	case "aws:sqs/queue:Queue":
		set("url", "https://sqs.eu-west-1.amazonaws.com/123456789012/"+str("name"))
		set("arn", "arn:aws:sqs:eu-west-1:123456789012:"+str("name"))
		id = "https://sqs.eu-west-1.amazonaws.com/123456789012/" + str("name")
	case "aws:s3/bucketV2:BucketV2":
		set("arn", "arn:aws:s3:::"+str("bucket"))
		id = str("bucket")
	case "aws:sns/topic:Topic":
		set("arn", "arn:aws:sns:eu-west-1:123456789012:"+str("name"))
	case "aws:ecs/taskDefinition:TaskDefinition":
		set("arn", "arn:aws:ecs:eu-west-1:123456789012:task-definition/"+str("family")+":1")
		set("arnWithoutRevision", "arn:aws:ecs:eu-west-1:123456789012:task-definition/"+str("family"))
	case "aws:iam/role:Role":
		set("arn", "arn:aws:iam::123456789012:role/"+str("name"))
	case "aws:ec2/securityGroup:SecurityGroup":
		id = "sg-" + args.Name
	}
	return id, outs, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, args.Token)
	m.mu.Unlock()
	switch args.Token {
	case "aws:index/getCallerIdentity:getCallerIdentity":
		acct := m.account
		if acct == "" {
			acct = "123456789012"
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": acct, "accountId": acct,
			"arn": "arn:aws:iam::" + acct + ":user/ci", "userId": "AIDA"}), nil
	case "aws:ec2/getVpc:getVpc":
		return resource.NewPropertyMapFromMap(map[string]any{"id": "vpc-1", "cidrBlock": "10.20.0.0/16"}), nil
	case "aws:lb/getListener:getListener":
		port := m.listenerPort
		if port == 0 {
			port = 443
		}
		return resource.NewPropertyMapFromMap(map[string]any{
			"arn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shared/1/2", "protocol": "HTTPS", "port": port,
			"loadBalancerArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shared/1",
		}), nil
	case "aws:lb/getLoadBalancer:getLoadBalancer":
		return resource.NewPropertyMapFromMap(map[string]any{
			"arn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/shared/1", "dnsName": "shared-123.eu-west-1.elb.amazonaws.com", "internal": m.internalLB,
		}), nil
	}
	return nil, fmt.Errorf("mock: unexpected invoke %s", args.Token)
}

// run registers r with the aws target under mocks and returns what the
// engine saw plus the resolved value of every component output.
type runResult struct {
	res     []*registered
	calls   []string
	outputs map[string]string // component.output -> value
	secret  map[string]bool   // component.output -> secret
}

func run(t *testing.T, r *stacks.Resolved) *runResult {
	t.Helper()
	res, err := tryRun(r)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return res
}

func tryRun(r *stacks.Resolved) (*runResult, error) { return tryRunWith(r, target.Options{}) }

// tryRunWith is tryRun with target options.
func tryRunWith(r *stacks.Resolved, opts target.Options) (*runResult, error) {
	return tryRunMocks(r, opts, &mocks{})
}

// tryRunMocks is tryRunWith with the given mocks; what the run registered
// is in m even when it fails.
func tryRunMocks(r *stacks.Resolved, opts target.Options, m *mocks) (*runResult, error) {
	out := &runResult{outputs: map[string]string{}, secret: map[string]bool{}}
	var mu sync.Mutex
	raw := map[string]pulumi.StringOutput{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		p, err := model.New(r)
		if err != nil {
			return err
		}
		d := &deploy{Program: p, ctx: ctx, protect: opts.Protect, outs: map[string]map[string]pulumi.StringOutput{}, res: map[string][]pulumi.Resource{}, parents: map[string]pulumi.Resource{}}
		if err := d.run(); err != nil {
			return err
		}
		for comp, outs := range d.outs {
			for name, o := range outs {
				key := target.OutputName(comp, name)
				// Exported so the run waits for the capture.
				ctx.Export("capture:"+key, o.ApplyT(func(v string) string {
					mu.Lock()
					defer mu.Unlock()
					out.outputs[key] = v
					return ""
				}))
				mu.Lock()
				raw[key] = o
				mu.Unlock()
			}
		}
		return nil
	}, pulumi.WithMocks("panka", r.Stack+"-"+r.Environment, m))
	if err != nil {
		return nil, err
	}
	out.res, out.calls = m.res, m.calls
	for k, o := range raw {
		out.secret[k] = pulumi.IsSecret(o)
	}
	for _, x := range out.res {
		parentType := tokens.Type("")
		if pu := resource.URN(x.Parent); pu != "" && pu.QualifiedType() != resource.RootStackType {
			parentType = pu.QualifiedType()
		}
		x.URN = string(resource.NewURN(tokens.QName(r.Stack+"-"+r.Environment), tokens.PackageName("panka"), parentType, tokens.Type(x.Type), x.Name))
	}
	return out, nil
}

// byComponent groups custom resources by the component that parents them
// ("" for the shared ones).
func (r *runResult) byComponent() map[string][]*registered {
	out := map[string][]*registered{}
	for _, x := range r.res {
		if !x.Custom || strings.HasPrefix(x.Type, "pulumi:providers:") {
			continue
		}
		comp := ""
		if x.Parent != "" && strings.Contains(x.Parent, "panka:aws:") {
			comp = x.Parent[strings.LastIndex(x.Parent, "::")+2:]
		}
		out[comp] = append(out[comp], x)
	}
	return out
}

// typeCounts counts resource types, e.g. {"aws:sqs/queue:Queue": 2}.
func typeCounts(rs []*registered) map[string]int {
	out := map[string]int{}
	for _, x := range rs {
		out[x.Type]++
	}
	return out
}

func (r *runResult) find(t *testing.T, typ, name string) *registered {
	t.Helper()
	for _, x := range r.res {
		if x.Type == typ && x.Name == name {
			return x
		}
	}
	var have []string
	for _, x := range r.res {
		have = append(have, x.Type+" "+x.Name)
	}
	sort.Strings(have)
	t.Fatalf("no %s named %q; registered:\n  %s", typ, name, strings.Join(have, "\n  "))
	return nil
}

// dependsOn reports whether input property prop of x depends on the
// resource typ/name.
func (r *runResult) dependsOn(t *testing.T, x *registered, prop, typ, name string) bool {
	t.Helper()
	want := r.find(t, typ, name).URN
	for _, u := range x.PropDeps[prop] {
		if u == want {
			return true
		}
	}
	return false
}

// prop returns an input property by dotted path, unwrapping secrets.
func prop(x *registered, path string) resource.PropertyValue {
	v := resource.NewObjectProperty(x.Inputs)
	for _, k := range strings.Split(path, ".") {
		if v.IsSecret() {
			v = v.SecretValue().Element
		}
		if !v.IsObject() {
			return resource.NewNullProperty()
		}
		v = v.ObjectValue()[resource.PropertyKey(k)]
	}
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}
