package aws

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/servicediscovery"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"panka.dev/panka/deployer/target"
	"panka.dev/panka/deployer/target/aws/model"
	"panka.dev/panka/stacks"
)

// Tag keys panka puts on every resource. The deployed commit is
// deliberately not among them: it lives in state and history, so a commit
// that changes nothing updates nothing.
const (
	TagManagedBy   = model.TagManagedBy
	TagStack       = model.TagStack
	TagEnvironment = model.TagEnvironment
	TagComponent   = model.TagComponent
)

// ComponentType is the Pulumi type of the component resource that parents
// every resource of a component, e.g. "panka:aws:MicroService". Engine
// events can be attributed to a component through it.
func ComponentType(kind stacks.Kind) string { return "panka:aws:" + string(kind) }

// Target is the aws target.
type Target struct{}

var _ target.Target = (*Target)(nil)

// New returns the aws target.
func New() *Target { return &Target{} }

// Name returns "aws".
func (*Target) Name() string { return "aws" }

// Register declares the AWS resources of every component of r (see the
// package documentation for the mapping) and exports every component
// output as target.OutputName(component, output). It validates the whole
// model first (Validate) and registers nothing when anything is wrong.
//
// opts.Only does not shrink the program: a Pulumi program that omits a
// component deletes it, so the caller passes the deployed model for the
// components it leaves alone and Register declares them unchanged. Only
// is checked to name existing components.
func (t *Target) Register(ctx *pulumi.Context, r *stacks.Resolved, opts target.Options) error {
	p, err := model.New(r)
	if err != nil {
		return err
	}
	for _, name := range opts.Only {
		if _, ok := p.Comps[name]; !ok {
			return fmt.Errorf("%s: --target-component %q: no such component", p.Where, name)
		}
	}
	d := &deploy{Program: p, ctx: ctx, protect: opts.Protect, outs: map[string]map[string]pulumi.StringOutput{}, res: map[string][]pulumi.Resource{}, parents: map[string]pulumi.Resource{}}
	return d.run()
}

// deploy is one Register call: the program plus the Pulumi objects made.
type deploy struct {
	*model.Program
	ctx  *pulumi.Context
	prov *aws.Provider
	// protect marks the resources holding a component's data protected
	// (target.Options.Protect).
	protect bool
	// outs are the outputs of registered components, for references.
	outs map[string]map[string]pulumi.StringOutput
	// res are the custom resources of registered components, for
	// dependsOn edges.
	res map[string][]pulumi.Resource
	// parents are the component resources, by component name.
	parents map[string]pulumi.Resource

	// Shared per stack/environment, made on first use.
	cluster   *ecs.Cluster
	workloads *ec2.SecurityGroup // attached to every task; databases and caches admit it
	namespace *servicediscovery.PrivateDnsNamespace
	vpcCIDR   pulumi.StringOutput
	haveCIDR  bool
	listener  *listenerInfo
	accountID pulumi.StringOutput
	haveAcct  bool
}

type listenerInfo struct {
	protocol, dns pulumi.StringOutput
	port          pulumi.IntOutput
	internal      pulumi.BoolOutput
}

// componentResource groups a component's resources under one URN.
type componentResource struct {
	pulumi.ResourceState
}

func (d *deploy) run() error {
	ctx := d.ctx
	if len(d.Order) == 0 {
		// No components, no resources: the explicit provider alone
		// would make the engine load the pulumi-aws plugin (and fail
		// where there is none) for a stack that deploys nothing. A
		// stack whose last components were removed needs nothing
		// declared either: the engine deletes what it holds with the
		// provider its state records.
		return nil
	}
	defaults := map[string]string{}
	for k, v := range d.R.Provider.Tags {
		defaults[k] = v
	}
	defaults[TagManagedBy] = "panka"
	defaults[TagStack] = d.R.Stack
	defaults[TagEnvironment] = d.R.Environment
	pargs := &aws.ProviderArgs{
		Region:      pulumi.String(d.R.Provider.Region),
		DefaultTags: aws.ProviderDefaultTagsArgs{Tags: pulumi.ToStringMap(defaults)},
	}
	if d.R.Provider.AssumeRole != "" {
		pargs.AssumeRole = aws.ProviderAssumeRoleArgs{
			RoleArn:     pulumi.String(d.R.Provider.AssumeRole),
			SessionName: pulumi.String(model.Shorten("panka-"+d.R.Stack+"-"+d.R.Environment, 64)),
		}
	}
	prov, err := aws.NewProvider(ctx, "aws", pargs)
	if err != nil {
		return fmt.Errorf("%s: aws provider: %w", d.Where, err)
	}
	d.prov = prov

	if err := d.shared(); err != nil {
		return err
	}
	for _, cp := range d.Order {
		if err := d.component(cp); err != nil {
			return fmt.Errorf("%s component %q: %w", d.Where, cp.C.Name, err)
		}
	}
	if err := d.queuePolicies(); err != nil {
		return err
	}
	for _, cp := range d.Order {
		for _, o := range cp.C.Kind.Outputs() {
			ctx.Export(target.OutputName(cp.C.Name, o), d.outs[cp.C.Name][o])
		}
	}
	return nil
}

// shared makes the per stack/environment resources the components need:
// the ECS cluster, the workloads security group and the service discovery
// namespace.
func (d *deploy) shared() error {
	ctx := d.ctx
	workloads := d.Counts[stacks.KindMicroService] + d.Counts[stacks.KindWorker] + d.Counts[stacks.KindCronJob]
	opts := []pulumi.ResourceOption{pulumi.Provider(d.prov)}
	var err error
	if workloads > 0 {
		d.cluster, err = ecs.NewCluster(ctx, "cluster", &ecs.ClusterArgs{
			Name: pulumi.String(model.ClusterName(d.R.Stack, d.R.Environment)),
			Settings: ecs.ClusterSettingArray{
				ecs.ClusterSettingArgs{Name: pulumi.String("containerInsights"), Value: pulumi.String("enabled")},
			},
		}, opts...)
		if err != nil {
			return fmt.Errorf("%s: ecs cluster: %w", d.Where, err)
		}
	}
	if workloads+d.Counts[stacks.KindDatabase]+d.Counts[stacks.KindCache] > 0 {
		d.workloads, err = ec2.NewSecurityGroup(ctx, "workloads", &ec2.SecurityGroupArgs{
			Name:        pulumi.String(model.WorkloadsGroupName(d.R.Stack, d.R.Environment)),
			Description: pulumi.String(fmt.Sprintf("panka %s/%s: every service and job task; databases and caches admit it", d.R.Stack, d.R.Environment)),
			VpcId:       pulumi.String(d.Net.VpcID),
			Ingress: ec2.SecurityGroupIngressArray{ec2.SecurityGroupIngressArgs{
				Description: pulumi.String("tasks of the same stack/environment"),
				Protocol:    pulumi.String("-1"), FromPort: pulumi.Int(0), ToPort: pulumi.Int(0),
				Self: pulumi.Bool(true),
			}},
			Egress: allEgress(),
		}, opts...)
		if err != nil {
			return fmt.Errorf("%s: workloads security group: %w", d.Where, err)
		}
	}
	if d.Counts[stacks.KindMicroService] > 0 {
		d.namespace, err = servicediscovery.NewPrivateDnsNamespace(ctx, "namespace", &servicediscovery.PrivateDnsNamespaceArgs{
			Name:        pulumi.String(model.NamespaceName(d.R.Stack, d.R.Environment)),
			Description: pulumi.String(fmt.Sprintf("panka %s/%s service discovery", d.R.Stack, d.R.Environment)),
			Vpc:         pulumi.String(d.Net.VpcID),
		}, opts...)
		if err != nil {
			return fmt.Errorf("%s: service discovery namespace: %w", d.Where, err)
		}
	}
	return nil
}

func allEgress() ec2.SecurityGroupEgressArray {
	return ec2.SecurityGroupEgressArray{ec2.SecurityGroupEgressArgs{
		Description: pulumi.String("all outbound"),
		Protocol:    pulumi.String("-1"), FromPort: pulumi.Int(0), ToPort: pulumi.Int(0),
		CidrBlocks: pulumi.StringArray{pulumi.String("0.0.0.0/0")},
	}}
}

// vpc returns the CIDR block of the VPC (looked up once).
func (d *deploy) vpc() pulumi.StringOutput {
	if !d.haveCIDR {
		d.vpcCIDR = ec2.LookupVpcOutput(d.ctx, ec2.LookupVpcOutputArgs{Id: pulumi.String(d.Net.VpcID)}, pulumi.Provider(d.prov)).CidrBlock()
		d.haveCIDR = true
	}
	return d.vpcCIDR
}

// account returns the AWS account id deployed to (looked up once).
func (d *deploy) account() pulumi.StringOutput {
	if !d.haveAcct {
		d.accountID = aws.GetCallerIdentityOutput(d.ctx, aws.GetCallerIdentityOutputArgs{}, pulumi.Provider(d.prov)).AccountId()
		d.haveAcct = true
	}
	return d.accountID
}

// alb returns the listener's protocol and port and its load balancer's DNS
// name and scheme (looked up once).
func (d *deploy) alb() *listenerInfo {
	if d.listener == nil {
		l := lb.LookupListenerOutput(d.ctx, lb.LookupListenerOutputArgs{Arn: pulumi.String(d.Net.ListenerArn)}, pulumi.Provider(d.prov))
		b := lb.LookupLoadBalancerOutput(d.ctx, lb.LookupLoadBalancerOutputArgs{Arn: l.LoadBalancerArn()}, pulumi.Provider(d.prov))
		d.listener = &listenerInfo{protocol: l.Protocol(), dns: b.DnsName(), port: l.Port(), internal: b.Internal()}
	}
	return d.listener
}

// component registers one component under its component resource.
func (d *deploy) component(cp *model.Comp) error {
	var deps []pulumi.Resource
	for _, dep := range cp.Deps {
		deps = append(deps, d.res[dep]...)
	}
	parent := &componentResource{}
	copts := []pulumi.ResourceOption{pulumi.Providers(d.prov)}
	if len(deps) > 0 {
		copts = append(copts, pulumi.DependsOn(deps))
	}
	if a := workloadAliases(cp.C.Kind); a != nil {
		copts = append(copts, pulumi.Aliases(a))
	}
	if err := d.ctx.RegisterComponentResource(ComponentType(cp.C.Kind), cp.C.Name, parent, copts...); err != nil {
		return err
	}
	d.parents[cp.C.Name] = parent
	b := &builder{deploy: d, cp: cp, parent: parent, deps: deps}
	var err error
	switch cp.C.Kind {
	case stacks.KindMicroService, stacks.KindWorker:
		err = b.service()
	case stacks.KindCronJob:
		err = b.cronJob()
	case stacks.KindDatabase:
		err = b.database()
	case stacks.KindCache:
		err = b.cache()
	case stacks.KindQueue:
		err = b.queue()
	case stacks.KindBucket:
		err = b.bucket()
	case stacks.KindTopic:
		err = b.topic()
	}
	if err != nil {
		return err
	}
	d.outs[cp.C.Name] = b.exports
	d.res[cp.C.Name] = b.made
	outs := pulumi.Map{}
	for k, v := range b.exports {
		outs[k] = v
	}
	return d.ctx.RegisterResourceOutputs(parent, outs)
}

// workloadKinds are the kinds that run a task: they make the same
// resources (log group, roles, task definition, security group, ...)
// under the same logical and physical names.
var workloadKinds = []stacks.Kind{stacks.KindMicroService, stacks.KindWorker, stacks.KindCronJob}

// workloadAliases are the aliases of a workload component: its other
// workload types. A workload that changes kind (a MicroService that no
// longer serves HTTP becomes a Worker) keeps its resources - its children
// inherit the alias and are updated - instead of the engine creating the
// new kind's resources, under the same fixed names (IAM roles, log group,
// ECS service), before deleting the old one's, which AWS refused.
func workloadAliases(kind stacks.Kind) []pulumi.Alias {
	if !slices.Contains(workloadKinds, kind) {
		return nil
	}
	var out []pulumi.Alias
	for _, k := range workloadKinds {
		if k != kind {
			out = append(out, pulumi.Alias{Type: pulumi.String(ComponentType(k))})
		}
	}
	return out
}

// builder registers the resources of one component.
type builder struct {
	*deploy
	cp     *model.Comp
	parent pulumi.Resource
	deps   []pulumi.Resource
	made   []pulumi.Resource
	// exports are this component's outputs.
	exports map[string]pulumi.StringOutput
}

// opts are the options of every resource of the component: parented to
// the component (so it inherits the provider) and after its dependencies.
func (b *builder) opts(extra ...pulumi.ResourceOption) []pulumi.ResourceOption {
	o := []pulumi.ResourceOption{pulumi.Parent(b.parent)}
	if len(b.deps) > 0 {
		o = append(o, pulumi.DependsOn(b.deps))
	}
	return append(o, extra...)
}

// dataOpts are the options of a resource that holds the component's data
// (an RDS instance, an ElastiCache group, a queue, a bucket): re-created
// by deleting first (their names are fixed), and protected unless the
// run may replace them.
func (b *builder) dataOpts(extra ...pulumi.ResourceOption) []pulumi.ResourceOption {
	return b.opts(append([]pulumi.ResourceOption{pulumi.DeleteBeforeReplace(true), pulumi.Protect(b.protect)}, extra...)...)
}

// keep records a resource made for the component and passes err on.
func (b *builder) keep(r pulumi.Resource, err error) error {
	if err == nil {
		b.made = append(b.made, r)
	}
	return err
}

// name is the Pulumi logical name of one of the component's resources.
func (b *builder) name(suffix string) string {
	if suffix == "" {
		return b.cp.C.Name
	}
	return b.cp.C.Name + "-" + suffix
}

// tags are the per-resource tags (the provider adds stack, environment and
// managed-by).
func (b *builder) tags() pulumi.StringMap {
	return pulumi.StringMap{TagComponent: pulumi.String(b.cp.C.Name)}
}

func (b *builder) output(name string, v pulumi.StringOutput) {
	if b.exports == nil {
		b.exports = map[string]pulumi.StringOutput{}
	}
	b.exports[name] = v
}

// input turns a spec value (string, maybe with ${component.output}
// references, or stacks.Sensitive) into a Pulumi input. References become
// the referenced component's outputs, so the engine orders the resources
// and carries secret-ness; a Sensitive value is a Pulumi secret.
func (d *deploy) input(v any) pulumi.StringInput {
	switch x := v.(type) {
	case stacks.Sensitive:
		return pulumi.ToSecret(d.resolve(x.Clear)).(pulumi.StringOutput)
	case *stacks.Sensitive:
		return pulumi.ToSecret(d.resolve(x.Clear)).(pulumi.StringOutput)
	case string:
		return d.resolve(x)
	}
	return pulumi.String(fmt.Sprint(v))
}

// resolve replaces references in s by component outputs.
func (d *deploy) resolve(s string) pulumi.StringInput {
	refs := stacks.FindRefs(s)
	if len(refs) == 0 {
		return pulumi.String(stacks.Unescape(s))
	}
	outFor := func(r stacks.RefSpan) pulumi.StringOutput {
		return d.outs[r.Component][r.Output]
	}
	if len(refs) == 1 && refs[0].Start == 0 && refs[0].End == len(s) {
		return outFor(refs[0])
	}
	ins := make([]any, len(refs))
	for i, r := range refs {
		ins[i] = outFor(r)
	}
	return pulumi.All(ins...).ApplyT(func(vals []any) string {
		i := 0
		out, _ := stacks.Interpolate(s, func(stacks.RefSpan) (string, bool) {
			i++
			return vals[i-1].(string), true
		})
		return out
	}).(pulumi.StringOutput)
}

// jsonDoc marshals the value build makes from the resolved inputs; the
// result is secret when any input is.
func jsonDoc(build func(vals []string) any, ins ...pulumi.StringInput) pulumi.StringOutput {
	if len(ins) == 0 {
		b, err := json.Marshal(build(nil))
		if err != nil {
			panic(err) // build returns plain data
		}
		return pulumi.String(string(b)).ToStringOutput()
	}
	anys := make([]any, len(ins))
	for i, in := range ins {
		anys[i] = in
	}
	return pulumi.All(anys...).ApplyT(func(xs []any) (string, error) {
		vals := make([]string, len(xs))
		for i, x := range xs {
			vals[i], _ = x.(string)
		}
		b, err := json.Marshal(build(vals))
		return string(b), err
	}).(pulumi.StringOutput)
}

func itoa(o pulumi.IntOutput) pulumi.StringOutput {
	return o.ApplyT(func(n int) string { return strconv.Itoa(n) }).(pulumi.StringOutput)
}

func ptrItoa(o pulumi.IntPtrOutput) pulumi.StringOutput {
	return o.ApplyT(func(n *int) string {
		if n == nil {
			return ""
		}
		return strconv.Itoa(*n)
	}).(pulumi.StringOutput)
}

func ptrStr(o pulumi.StringPtrOutput) pulumi.StringOutput {
	return o.ApplyT(func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}).(pulumi.StringOutput)
}

// policyDoc is an IAM policy document.
type (
	policyDoc = model.PolicyDoc
	statement = model.Statement
)

// assumeRole is the trust policy for a service principal.
func assumeRole(service string) pulumi.String {
	b, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":    "Allow",
			"Principal": map[string]string{"Service": service},
			"Action":    "sts:AssumeRole",
		}},
	})
	return pulumi.String(string(b))
}

// Validate checks that r can be deployed by the aws target (model.Validate:
// spec fields, AWS names and limits, references, provider settings); it
// needs no Pulumi, AWS credentials or provider plugin.
func Validate(r *stacks.Resolved) error { return model.Validate(r) }

// ClusterName is the ECS cluster of a stack/environment (health checks).
func ClusterName(stack, env string) string { return model.ClusterName(stack, env) }
