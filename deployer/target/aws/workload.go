package aws

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/appautoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/scheduler"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/servicediscovery"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"panka.dev/panka/deployer/target/aws/model"
	"panka.dev/panka/stacks"
)

// task is what services and jobs share: log group, roles, task definition
// and the task's own security group.
type task struct {
	logGroup *cloudwatch.LogGroup
	execRole *iam.Role
	taskRole *iam.Role
	def      *ecs.TaskDefinition
	sg       *ec2.SecurityGroup
}

// task makes the parts every workload has.
func (b *builder) task() (*task, error) {
	ctx, w, c := b.ctx, b.cp.W, b.cp.C
	t := &task{}
	var err error

	t.logGroup, err = cloudwatch.NewLogGroup(ctx, b.name("logs"), &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(model.LogGroupName(b.R.Stack, b.R.Environment, c.Name)),
		RetentionInDays: pulumi.Int(w.LogRetentionDays),
		Tags:            b.tags(),
	}, b.opts()...)
	if err = b.keep(t.logGroup, err); err != nil {
		return nil, fmt.Errorf("log group: %w", err)
	}

	// Execution role: what ECS needs to start the task — pull the image,
	// write logs, and read exactly the secrets the task references.
	t.execRole, err = iam.NewRole(ctx, b.name("exec"), &iam.RoleArgs{
		Name:             pulumi.String(b.cp.N.Role("exec")),
		Description:      pulumi.String(fmt.Sprintf("panka %s/%s %s: ECS task execution", b.R.Stack, b.R.Environment, c.Name)),
		AssumeRolePolicy: assumeRole("ecs-tasks.amazonaws.com"),
		Tags:             b.tags(),
	}, b.opts()...)
	if err = b.keep(t.execRole, err); err != nil {
		return nil, fmt.Errorf("execution role: %w", err)
	}
	att, err := iam.NewRolePolicyAttachment(ctx, b.name("exec"), &iam.RolePolicyAttachmentArgs{
		Role:      t.execRole.Name,
		PolicyArn: pulumi.String("arn:" + model.Partition(b.R.Provider.Region) + ":iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"),
	}, b.opts()...)
	if err = b.keep(att, err); err != nil {
		return nil, fmt.Errorf("execution role policy: %w", err)
	}
	secretNames := model.SortedKeys(w.Secrets)
	secretRefs := make([]pulumi.StringInput, len(secretNames))
	for i, k := range secretNames {
		secretRefs[i] = b.input(w.Secrets[k])
	}
	if len(secretNames) > 0 {
		region, keys := b.R.Provider.Region, w.SecretsKMSKeys
		// The account deployed to comes last: a bare parameter name is
		// a parameter of that account and region.
		ins := append(append([]pulumi.StringInput(nil), secretRefs...), b.account())
		pol, err := iam.NewRolePolicy(ctx, b.name("exec-secrets"), &iam.RolePolicyArgs{
			Name: pulumi.String("read-secrets"),
			Role: t.execRole.Name,
			Policy: jsonDoc(func(v []string) any {
				doc := model.SecretsPolicy(v[:len(v)-1], region, v[len(v)-1])
				doc.Statement = append(doc.Statement, model.KMSStatements(keys)...)
				return doc
			}, ins...),
		}, b.opts()...)
		if err = b.keep(pol, err); err != nil {
			return nil, fmt.Errorf("execution role secrets policy: %w", err)
		}
	}

	// Task role: the application's own permissions. panka grants access to
	// the queues, buckets and topics the workload references.
	t.taskRole, err = iam.NewRole(ctx, b.name("task"), &iam.RoleArgs{
		Name:             pulumi.String(b.cp.N.Role("task")),
		Description:      pulumi.String(fmt.Sprintf("panka %s/%s %s: application role", b.R.Stack, b.R.Environment, c.Name)),
		AssumeRolePolicy: assumeRole("ecs-tasks.amazonaws.com"),
		Tags:             b.tags(),
	}, b.opts()...)
	if err = b.keep(t.taskRole, err); err != nil {
		return nil, fmt.Errorf("task role: %w", err)
	}
	if err := b.accessPolicy(t.taskRole); err != nil {
		return nil, err
	}

	// Container definitions: every input (image, env values, secret
	// references) flows through one All so references are wired and a
	// secret env value makes the document secret in Pulumi's state.
	ins := []pulumi.StringInput{}
	for _, in := range b.cp.ContainerInputs() {
		ins = append(ins, b.input(in))
	}
	cp, stack, env, region := b.cp, b.R.Stack, b.R.Environment, b.R.Provider.Region
	defs := jsonDoc(func(v []string) any {
		return []model.ContainerDef{cp.ContainerDefinition(stack, env, region, v)}
	}, ins...)

	t.def, err = ecs.NewTaskDefinition(ctx, b.name("task"), &ecs.TaskDefinitionArgs{
		Family:                  pulumi.String(b.cp.N.Family()),
		NetworkMode:             pulumi.String("awsvpc"),
		RequiresCompatibilities: pulumi.StringArray{pulumi.String("FARGATE")},
		Cpu:                     pulumi.String(fmt.Sprint(w.CPU)),
		Memory:                  pulumi.String(fmt.Sprint(w.Memory)),
		ExecutionRoleArn:        t.execRole.Arn,
		TaskRoleArn:             t.taskRole.Arn,
		ContainerDefinitions:    defs,
		RuntimePlatform: ecs.TaskDefinitionRuntimePlatformArgs{
			OperatingSystemFamily: pulumi.String("LINUX"),
			CpuArchitecture:       pulumi.String("X86_64"),
		},
		Tags: b.tags(),
	}, b.opts(pulumi.DependsOn([]pulumi.Resource{t.logGroup}))...)
	if err = b.keep(t.def, err); err != nil {
		return nil, fmt.Errorf("task definition: %w", err)
	}

	sgArgs := &ec2.SecurityGroupArgs{
		Name:        pulumi.String(b.cp.N.SecurityGroup()),
		Description: pulumi.String(fmt.Sprintf("panka %s/%s %s tasks", b.R.Stack, b.R.Environment, c.Name)),
		VpcId:       pulumi.String(b.Net.VpcID),
		Egress:      allEgress(),
		Tags:        b.tags(),
	}
	if w.LoadBalancer != nil {
		// The ALB lives in the VPC; admit the container port from it.
		sgArgs.Ingress = ec2.SecurityGroupIngressArray{ec2.SecurityGroupIngressArgs{
			Description: pulumi.String("load balancer to container port"),
			Protocol:    pulumi.String("tcp"), FromPort: pulumi.Int(w.Port), ToPort: pulumi.Int(w.Port),
			CidrBlocks: pulumi.StringArray{b.vpc()},
		}}
	}
	t.sg, err = ec2.NewSecurityGroup(ctx, b.name("sg"), sgArgs, b.opts()...)
	if err = b.keep(t.sg, err); err != nil {
		return nil, fmt.Errorf("security group: %w", err)
	}
	return t, nil
}

// accessPolicy grants the task role use of what the workload references
// (model.TaskGrants), and nothing when it references nothing.
func (b *builder) accessPolicy(role *iam.Role) error {
	grants := b.TaskGrants(b.cp)
	if len(grants) == 0 {
		return nil
	}
	arns := make([]pulumi.StringInput, len(grants))
	for i, g := range grants {
		arns[i] = b.outs[g.Component][g.Output]
	}
	doc := jsonDoc(func(vals []string) any { return model.TaskPolicy(grants, vals) }, arns...)
	pol, err := iam.NewRolePolicy(b.ctx, b.name("task-access"), &iam.RolePolicyArgs{
		Name:   pulumi.String("panka-references"),
		Role:   role.Name,
		Policy: doc,
	}, b.opts()...)
	if err = b.keep(pol, err); err != nil {
		return fmt.Errorf("task role access policy: %w", err)
	}
	return nil
}

// service maps a MicroService or Worker: task, optional target group and
// listener rule, service discovery, ECS service and autoscaling.
func (b *builder) service() error {
	ctx, w, c := b.ctx, b.cp.W, b.cp.C
	t, err := b.task()
	if err != nil {
		return err
	}
	args := &ecs.ServiceArgs{
		Name:                            pulumi.String(c.Name),
		Cluster:                         b.cluster.Arn,
		TaskDefinition:                  t.def.Arn,
		DesiredCount:                    pulumi.Int(w.Replicas),
		LaunchType:                      pulumi.String("FARGATE"),
		PlatformVersion:                 pulumi.String("LATEST"),
		DeploymentMinimumHealthyPercent: pulumi.Int(100),
		DeploymentMaximumPercent:        pulumi.Int(200),
		DeploymentCircuitBreaker: ecs.ServiceDeploymentCircuitBreakerArgs{
			Enable: pulumi.Bool(true), Rollback: pulumi.Bool(true),
		},
		NetworkConfiguration: ecs.ServiceNetworkConfigurationArgs{
			Subnets:        pulumi.ToStringArray(b.Net.PrivateSubnets),
			SecurityGroups: pulumi.StringArray{t.sg.ID(), b.workloads.ID()},
			AssignPublicIp: pulumi.Bool(false),
		},
		PropagateTags:        pulumi.String("SERVICE"),
		EnableEcsManagedTags: pulumi.Bool(true),
		Tags:                 b.tags(),
	}
	var extra []pulumi.ResourceOption
	if w.Autoscaling != nil {
		// The scaler owns the running count once it exists.
		args.DesiredCount = pulumi.Int(max(w.Autoscaling.Min, min(w.Replicas, w.Autoscaling.Max)))
		extra = append(extra, pulumi.IgnoreChanges([]string{"desiredCount"}))
	}

	if c.Kind == stacks.KindMicroService {
		reg, err := servicediscovery.NewService(ctx, b.name("discovery"), &servicediscovery.ServiceArgs{
			Name:        pulumi.String(c.Name),
			Description: pulumi.String(fmt.Sprintf("panka %s/%s %s", b.R.Stack, b.R.Environment, c.Name)),
			DnsConfig: servicediscovery.ServiceDnsConfigArgs{
				NamespaceId:   b.namespace.ID(),
				RoutingPolicy: pulumi.String("MULTIVALUE"),
				DnsRecords: servicediscovery.ServiceDnsConfigDnsRecordArray{
					servicediscovery.ServiceDnsConfigDnsRecordArgs{Ttl: pulumi.Int(10), Type: pulumi.String("A")},
				},
			},
			ForceDestroy: pulumi.Bool(true),
			Tags:         b.tags(),
		}, b.opts()...)
		if err = b.keep(reg, err); err != nil {
			return fmt.Errorf("service discovery: %w", err)
		}
		args.ServiceRegistries = ecs.ServiceServiceRegistriesArgs{RegistryArn: reg.Arn}
		internalURL := pulumi.String(fmt.Sprintf("http://%s.%s:%d", c.Name, model.NamespaceName(b.R.Stack, b.R.Environment), w.Port)).ToStringOutput()
		b.output("url", internalURL)
	}

	if lbs := w.LoadBalancer; lbs != nil {
		tg, err := lb.NewTargetGroup(ctx, model.TargetGroupLogical(c.Name), &lb.TargetGroupArgs{
			Port:                pulumi.Int(w.Port),
			Protocol:            pulumi.String("HTTP"),
			TargetType:          pulumi.String("ip"),
			VpcId:               pulumi.String(b.Net.VpcID),
			DeregistrationDelay: pulumi.Int(60),
			HealthCheck: lb.TargetGroupHealthCheckArgs{
				Enabled:            pulumi.Bool(true),
				Path:               pulumi.String(w.HealthCheck.Path),
				Interval:           pulumi.Int(w.HealthCheck.Interval),
				Timeout:            pulumi.Int(w.HealthCheck.Timeout),
				HealthyThreshold:   pulumi.Int(2),
				UnhealthyThreshold: pulumi.Int(3),
				Matcher:            pulumi.String("200-399"),
			},
			Tags: b.tags(),
		}, b.opts()...)
		if err = b.keep(tg, err); err != nil {
			return fmt.Errorf("target group: %w", err)
		}
		conds := lb.ListenerRuleConditionArray{}
		if lbs.Host != "" {
			conds = append(conds, lb.ListenerRuleConditionArgs{HostHeader: lb.ListenerRuleConditionHostHeaderArgs{
				Values: pulumi.StringArray{b.input(lbs.Host)},
			}})
		}
		if p := strings.TrimSuffix(lbs.Path, "/"); p != "" {
			conds = append(conds, lb.ListenerRuleConditionArgs{PathPattern: lb.ListenerRuleConditionPathPatternArgs{
				Values: pulumi.StringArray{pulumi.String(p), pulumi.String(p + "/*")},
			}})
		} else if lbs.Host == "" {
			conds = append(conds, lb.ListenerRuleConditionArgs{PathPattern: lb.ListenerRuleConditionPathPatternArgs{
				Values: pulumi.StringArray{pulumi.String("/*")},
			}})
		}
		// The rule goes on the listener only when its load balancer's
		// scheme is the one spec.loadBalancer.public asks for: a service
		// left private (the default) must not become reachable from the
		// internet because the configured listener is internet-facing.
		info := b.alb()
		public, listener, where := lbs.Public, b.Net.ListenerArn, fmt.Sprintf("%s component %q", b.Where, c.Name)
		if f := c.File; f != "" {
			where = f + ": " + where
		}
		listenerArn := info.internal.ApplyT(func(internal bool) (string, error) {
			switch {
			case public && internal:
				return "", fmt.Errorf("%s: spec.loadBalancer.public is true, but listener %s (spec.provider.network.listenerArn) belongs to an internal load balancer: the service would not be reachable from the internet; use a listener of an internet-facing load balancer, or drop public", where, listener)
			case !public && !internal:
				return "", fmt.Errorf("%s: spec.loadBalancer.public is false (the default), but listener %s (spec.provider.network.listenerArn) belongs to an internet-facing load balancer: the service would be reachable from the internet; set spec.loadBalancer.public: true if it is meant to be, or use a listener of an internal load balancer", where, listener)
			}
			return listener, nil
		}).(pulumi.StringOutput)
		rule, err := lb.NewListenerRule(ctx, b.name("rule"), &lb.ListenerRuleArgs{
			ListenerArn: listenerArn,
			Priority:    pulumi.Int(b.cp.Priority),
			Actions: lb.ListenerRuleActionArray{lb.ListenerRuleActionArgs{
				Type:           pulumi.String("forward"),
				TargetGroupArn: tg.Arn,
			}},
			Conditions: conds,
			Tags:       b.tags(),
		}, b.opts()...)
		if err = b.keep(rule, err); err != nil {
			return fmt.Errorf("listener rule: %w", err)
		}
		args.LoadBalancers = ecs.ServiceLoadBalancerArray{ecs.ServiceLoadBalancerArgs{
			TargetGroupArn: tg.Arn,
			ContainerName:  pulumi.String(c.Name),
			ContainerPort:  pulumi.Int(w.Port),
		}}
		args.HealthCheckGracePeriodSeconds = pulumi.Int(60)
		// ECS rejects a target group that no listener uses yet.
		extra = append(extra, pulumi.DependsOn([]pulumi.Resource{rule}))

		path := strings.TrimSuffix(lbs.Path, "/")
		host := b.input(lbs.Host)
		// listenerArn carries the scheme check: no URL for a rule that
		// cannot be made.
		url := pulumi.All(info.protocol, info.dns, info.port, host, listenerArn).ApplyT(func(xs []any) (string, error) {
			proto, dns, port, h := strings.ToLower(xs[0].(string)), xs[1].(string), xs[2].(int), xs[3].(string)
			if h == "" {
				h = dns
			}
			// A listener on another port than its protocol's own
			// (https on 8443) is reached only with the port.
			if !(proto == "https" && port == 443 || proto == "http" && port == 80) && port > 0 {
				h += ":" + strconv.Itoa(port)
			}
			return proto + "://" + h + path, nil
		}).(pulumi.StringOutput)
		b.output("url", url)
	}

	svc, err := ecs.NewService(ctx, b.name(""), args, b.opts(extra...)...)
	if err = b.keep(svc, err); err != nil {
		return fmt.Errorf("ecs service: %w", err)
	}
	b.output("serviceName", svc.Name)

	if as := w.Autoscaling; as != nil {
		st, err := appautoscaling.NewTarget(ctx, b.name("scaling"), &appautoscaling.TargetArgs{
			ServiceNamespace:  pulumi.String("ecs"),
			ScalableDimension: pulumi.String("ecs:service:DesiredCount"),
			ResourceId:        pulumi.Sprintf("service/%s/%s", model.ClusterName(b.R.Stack, b.R.Environment), svc.Name),
			MinCapacity:       pulumi.Int(as.Min),
			MaxCapacity:       pulumi.Int(as.Max),
			Tags:              b.tags(),
		}, b.opts()...)
		if err = b.keep(st, err); err != nil {
			return fmt.Errorf("autoscaling target: %w", err)
		}
		pol, err := appautoscaling.NewPolicy(ctx, b.name("cpu"), &appautoscaling.PolicyArgs{
			Name:              pulumi.String(b.cp.N.Base + "-cpu"),
			PolicyType:        pulumi.String("TargetTrackingScaling"),
			ServiceNamespace:  st.ServiceNamespace,
			ScalableDimension: st.ScalableDimension,
			ResourceId:        st.ResourceId,
			TargetTrackingScalingPolicyConfiguration: appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs{
				TargetValue: pulumi.Float64(as.CPUTarget),
				PredefinedMetricSpecification: appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs{
					PredefinedMetricType: pulumi.String("ECSServiceAverageCPUUtilization"),
				},
				ScaleInCooldown:  pulumi.Int(300),
				ScaleOutCooldown: pulumi.Int(60),
			},
		}, b.opts()...)
		if err = b.keep(pol, err); err != nil {
			return fmt.Errorf("autoscaling policy: %w", err)
		}
	}
	return nil
}

// cronJob maps a CronJob: task, a role EventBridge Scheduler assumes to
// run it, and the schedule.
func (b *builder) cronJob() error {
	ctx, w, c := b.ctx, b.cp.W, b.cp.C
	t, err := b.task()
	if err != nil {
		return err
	}
	role, err := iam.NewRole(ctx, b.name("scheduler"), &iam.RoleArgs{
		Name:             pulumi.String(b.cp.N.Role("sched")),
		Description:      pulumi.String(fmt.Sprintf("panka %s/%s %s: EventBridge Scheduler runs the task", b.R.Stack, b.R.Environment, c.Name)),
		AssumeRolePolicy: assumeRole("scheduler.amazonaws.com"),
		Tags:             b.tags(),
	}, b.opts()...)
	if err = b.keep(role, err); err != nil {
		return fmt.Errorf("scheduler role: %w", err)
	}
	doc := jsonDoc(func(v []string) any {
		taskFamily, cluster, execRole, taskRole := v[0], v[1], v[2], v[3]
		return policyDoc{Version: "2012-10-17", Statement: []statement{
			{Sid: "RunTask", Effect: "Allow", Action: "ecs:RunTask", Resource: taskFamily + ":*",
				Condition: map[string]any{"ArnEquals": map[string]string{"ecs:cluster": cluster}}},
			{Sid: "PassTaskRoles", Effect: "Allow", Action: "iam:PassRole", Resource: []string{execRole, taskRole},
				Condition: map[string]any{"StringEquals": map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
		}}
	}, t.def.ArnWithoutRevision, b.cluster.Arn, t.execRole.Arn, t.taskRole.Arn)
	pol, err := iam.NewRolePolicy(ctx, b.name("scheduler"), &iam.RolePolicyArgs{
		Name:   pulumi.String("run-task"),
		Role:   role.Name,
		Policy: doc,
	}, b.opts()...)
	if err = b.keep(pol, err); err != nil {
		return fmt.Errorf("scheduler role policy: %w", err)
	}
	args := &scheduler.ScheduleArgs{
		Name:               pulumi.String(b.cp.N.Schedule()),
		Description:        pulumi.String(fmt.Sprintf("panka %s/%s %s", b.R.Stack, b.R.Environment, c.Name)),
		ScheduleExpression: pulumi.String(w.Schedule),
		FlexibleTimeWindow: scheduler.ScheduleFlexibleTimeWindowArgs{Mode: pulumi.String("OFF")},
		Target: scheduler.ScheduleTargetArgs{
			Arn:     b.cluster.Arn,
			RoleArn: role.Arn,
			EcsParameters: scheduler.ScheduleTargetEcsParametersArgs{
				TaskDefinitionArn: t.def.Arn,
				LaunchType:        pulumi.String("FARGATE"),
				PlatformVersion:   pulumi.String("LATEST"),
				TaskCount:         pulumi.Int(1),
				NetworkConfiguration: scheduler.ScheduleTargetEcsParametersNetworkConfigurationArgs{
					Subnets:        pulumi.ToStringArray(b.Net.PrivateSubnets),
					SecurityGroups: pulumi.StringArray{t.sg.ID(), b.workloads.ID()},
					AssignPublicIp: pulumi.Bool(false),
				},
			},
			RetryPolicy: scheduler.ScheduleTargetRetryPolicyArgs{
				MaximumRetryAttempts:     pulumi.Int(3),
				MaximumEventAgeInSeconds: pulumi.Int(3600),
			},
		},
	}
	if w.Timezone != "" {
		args.ScheduleExpressionTimezone = pulumi.String(w.Timezone)
	}
	sched, err := scheduler.NewSchedule(ctx, b.name("schedule"), args, b.opts(pulumi.DependsOn([]pulumi.Resource{pol}))...)
	if err = b.keep(sched, err); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	b.output("ruleName", sched.Name)
	return nil
}
