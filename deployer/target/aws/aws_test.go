package aws

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"panka.dev/panka/deployer/planner"
	"panka.dev/panka/deployer/target"
	"panka.dev/panka/deployer/target/aws/model"
	"panka.dev/panka/deployer/target/aws/replace"
	"panka.dev/panka/stacks"
)

const (
	tRole       = "aws:iam/role:Role"
	tRolePolicy = "aws:iam/rolePolicy:RolePolicy"
	tAttach     = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	tLogGroup   = "aws:cloudwatch/logGroup:LogGroup"
	tTaskDef    = "aws:ecs/taskDefinition:TaskDefinition"
	tService    = "aws:ecs/service:Service"
	tCluster    = "aws:ecs/cluster:Cluster"
	tSG         = "aws:ec2/securityGroup:SecurityGroup"
	tTG         = "aws:lb/targetGroup:TargetGroup"
	tRule       = "aws:lb/listenerRule:ListenerRule"
	tScTarget   = "aws:appautoscaling/target:Target"
	tScPolicy   = "aws:appautoscaling/policy:Policy"
	tDiscovery  = "aws:servicediscovery/service:Service"
	tNamespace  = "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace"
	tSchedule   = "aws:scheduler/schedule:Schedule"
	tRDS        = "aws:rds/instance:Instance"
	tRDSSubnets = "aws:rds/subnetGroup:SubnetGroup"
	tRG         = "aws:elasticache/replicationGroup:ReplicationGroup"
	tECSubnets  = "aws:elasticache/subnetGroup:SubnetGroup"
	tQueue      = "aws:sqs/queue:Queue"
	tRedrive    = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"
	tQPolicy    = "aws:sqs/queuePolicy:QueuePolicy"
	tBucket     = "aws:s3/bucketV2:BucketV2"
	tVersioning = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	tSSE        = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	tPAB        = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	tOwnership  = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
	tLifecycle  = "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"
	tBPolicy    = "aws:s3/bucketPolicy:BucketPolicy"
	tTopic      = "aws:sns/topic:Topic"
	tSub        = "aws:sns/topicSubscription:TopicSubscription"
)

// fullStack has one component of every kind, wired together the way an
// application would: the API reads the database, a secret and the queue;
// the topic feeds the queue.
func fullStack() *stacks.Resolved {
	return &stacks.Resolved{
		Stack:       "orders",
		Environment: "prod",
		Provider: stacks.Provider{
			Name:       "aws",
			Region:     "eu-west-1",
			AssumeRole: "arn:aws:iam::123456789012:role/deployer",
			Network: &stacks.Network{
				VpcID:          "vpc-1",
				PublicSubnets:  []string{"subnet-pub-a", "subnet-pub-b"},
				PrivateSubnets: []string{"subnet-a", "subnet-b"},
				ListenerArn:    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shared/1/2",
			},
			Tags: map[string]string{"team": "checkout", "cost-center": "42"},
		},
		Components: []stacks.Component{
			{Name: "api", Kind: stacks.KindMicroService, DependsOn: []string{"orders-queue", "users-db"}, Spec: map[string]any{
				"image":    "ghcr.io/acme/api:1.4.2",
				"command":  "serve --port 8080",
				"port":     int64(8080),
				"cpu":      float64(512), // as decoded from JSON
				"memory":   "1GB",
				"replicas": int64(2),
				"env": map[string]any{
					"DB_HOST":   "${users-db.address}",
					"DB_URL":    "postgres://${users-db.endpoint}/orders?sslmode=require",
					"QUEUE_URL": "${orders-queue.url}",
					"API_KEY":   stacks.Sensitive{Clear: "s3cr3t-key", Hash: "sensitive:hmac-sha256:abc"},
					"WORKERS":   int64(4),
					"LITERAL":   "$${orders-queue.url} at ${users-db.port}", // escaped text, then a reference
					"DOLLAR":    "pa${$}${users-db.port}",                   // a literal "$", then a reference
				},
				"secrets": map[string]any{
					"DB_PASSWORD": "${users-db.secretArn}:password::",
					"STRIPE_KEY":  "arn:aws:ssm:eu-west-1:123456789012:parameter/orders/stripe",
				},
				"healthCheck":  map[string]any{"path": "/healthz", "interval": "15s", "timeout": int64(5)},
				"autoscaling":  map[string]any{"min": int64(2), "max": int64(6), "cpuTarget": float64(60)},
				"loadBalancer": map[string]any{"public": true, "host": "api.example.com", "path": "/v1"},
			}},
			{Name: "worker", Kind: stacks.KindWorker, DependsOn: []string{"orders-queue"}, Spec: map[string]any{
				"image":       "ghcr.io/acme/worker:1.4.2",
				"cpu":         int64(256),
				"memory":      int64(512),
				"replicas":    int64(1),
				"env":         map[string]any{"QUEUE_URL": "${orders-queue.url}"},
				"healthCheck": map[string]any{"command": []any{"pgrep", "worker"}, "interval": int64(20), "timeout": int64(5)},
			}},
			{Name: "nightly", Kind: stacks.KindCronJob, Spec: map[string]any{
				"image":    "ghcr.io/acme/report:1.0",
				"command":  []any{"report", "--since", "24h"},
				"schedule": "0 3 * * 1-5",
				"cpu":      int64(256),
				"memory":   int64(1024),
			}},
			{Name: "users-db", Kind: stacks.KindDatabase, Spec: map[string]any{
				"engine": "postgres", "version": "16.4", "instanceClass": "db.t4g.medium",
				"storageGB": int64(50), "multiAZ": true, "backupRetentionDays": float64(14),
			}},
			{Name: "sessions", Kind: stacks.KindCache, Spec: map[string]any{
				"engine": "valkey", "version": "8.0", "nodeType": "cache.t4g.small", "nodes": int64(2),
			}},
			{Name: "orders-queue", Kind: stacks.KindQueue, Spec: map[string]any{
				"fifo": false, "visibilityTimeout": int64(60), "retentionPeriod": "4d",
				"deadLetter": map[string]any{"maxReceives": int64(5)},
			}},
			{Name: "assets", Kind: stacks.KindBucket, Spec: map[string]any{
				"versioning": true, "lifecycle": map[string]any{"expireAfterDays": int64(90)},
			}},
			{Name: "events", Kind: stacks.KindTopic, Spec: map[string]any{
				"subscriptions": []any{
					map[string]any{"queue": "orders-queue"},
					map[string]any{"protocol": "https", "endpoint": "https://hooks.example.com/orders"},
				},
			}},
		},
	}
}

// TestResourcesPerKind checks, for every kind, the resources made (types
// and counts), that they hang under their component and use the explicit
// provider.
func TestResourcesPerKind(t *testing.T) {
	res := run(t, fullStack())
	got := res.byComponent()
	tests := []struct {
		component string
		want      map[string]int
	}{
		{"", map[string]int{tCluster: 1, tSG: 1, tNamespace: 1}},
		{"api", map[string]int{tLogGroup: 1, tRole: 2, tAttach: 1, tRolePolicy: 2, tTaskDef: 1, tSG: 1,
			tDiscovery: 1, tTG: 1, tRule: 1, tService: 1, tScTarget: 1, tScPolicy: 1}},
		{"worker", map[string]int{tLogGroup: 1, tRole: 2, tAttach: 1, tRolePolicy: 1, tTaskDef: 1, tSG: 1, tService: 1}},
		{"nightly", map[string]int{tLogGroup: 1, tRole: 3, tAttach: 1, tRolePolicy: 1, tTaskDef: 1, tSG: 1, tSchedule: 1}},
		{"users-db", map[string]int{tRDSSubnets: 1, tSG: 1, tRDS: 1}},
		{"sessions", map[string]int{tECSubnets: 1, tSG: 1, tRG: 1}},
		{"orders-queue", map[string]int{tQueue: 2, tRedrive: 1, tQPolicy: 1}},
		{"assets", map[string]int{tBucket: 1, tVersioning: 1, tSSE: 1, tPAB: 1, tOwnership: 1, tLifecycle: 1, tBPolicy: 1}},
		{"events", map[string]int{tTopic: 1, tSub: 2}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.component] = true
		t.Run("component="+tt.component, func(t *testing.T) {
			if c := typeCounts(got[tt.component]); !reflect.DeepEqual(c, tt.want) {
				t.Errorf("resources of %q:\n got  %v\n want %v", tt.component, c, tt.want)
			}
		})
	}
	for comp := range got {
		if !seen[comp] {
			t.Errorf("unexpected resources for component %q: %v", comp, typeCounts(got[comp]))
		}
	}

	// Component resources, one per component, typed by kind.
	var comps []string
	for _, x := range res.res {
		if strings.HasPrefix(x.Type, "panka:aws:") {
			comps = append(comps, x.Type+" "+x.Name)
		}
	}
	sort.Strings(comps)
	wantComps := []string{"panka:aws:Bucket assets", "panka:aws:Cache sessions", "panka:aws:CronJob nightly", "panka:aws:Database users-db",
		"panka:aws:MicroService api", "panka:aws:Queue orders-queue", "panka:aws:Topic events", "panka:aws:Worker worker"}
	if !reflect.DeepEqual(comps, wantComps) {
		t.Errorf("component resources = %v, want %v", comps, wantComps)
	}

	// Every AWS resource is managed by the explicit provider.
	for _, x := range res.res {
		if x.Custom && strings.HasPrefix(x.Type, "aws:") && !strings.Contains(x.Provider, "::pulumi:providers:aws::aws::") {
			t.Errorf("%s %s: provider %q, want the explicit aws provider", x.Type, x.Name, x.Provider)
		}
	}
}

// TestEmptyStackRegistersNothing: a stack without components declares no
// resources, not even the explicit provider: that alone made the engine
// load the pulumi-aws plugin, and an apply of an empty stack failed (and
// was recorded as failed) where the plugin is not installed.
func TestEmptyStackRegistersNothing(t *testing.T) {
	r := fullStack()
	r.Components = nil
	res := run(t, r)
	if len(res.res) != 0 || len(res.calls) != 0 {
		t.Fatalf("empty stack registered %d resources (%v) and made calls %v, want none", len(res.res), res.res, res.calls)
	}
}

func TestProviderAndTags(t *testing.T) {
	res := run(t, fullStack())
	p := res.find(t, "pulumi:providers:aws", "aws")
	if got := prop(p, "region"); got.StringValue() != "eu-west-1" {
		t.Errorf("region = %v", got)
	}
	// Provider inputs may arrive JSON-encoded; accept both shapes.
	tags := decodeObject(t, prop(p, "defaultTags"))
	tagMap, _ := tags["tags"].(map[string]any)
	want := map[string]any{"managed-by": "panka", "panka:stack": "orders", "panka:environment": "prod", "team": "checkout", "cost-center": "42"}
	if !reflect.DeepEqual(tagMap, want) {
		t.Errorf("default tags = %v, want %v", tagMap, want)
	}
	role := decodeObject(t, prop(p, "assumeRole"))
	if role["roleArn"] != "arn:aws:iam::123456789012:role/deployer" {
		t.Errorf("assumeRole = %v", role)
	}
	// Per-resource tags: the component only, never a commit.
	for _, x := range res.res {
		tv := prop(x, "tags")
		if tv.IsNull() {
			continue
		}
		if !x.Custom {
			continue
		}
		m := tv.ObjectValue()
		for k := range m {
			if k != TagComponent {
				t.Errorf("%s %s: unexpected tag %q", x.Type, x.Name, k)
			}
		}
		if strings.Contains(x.Parent, "panka:aws:") {
			comp := x.Parent[strings.LastIndex(x.Parent, "::")+2:]
			if m[TagComponent].StringValue() != comp {
				t.Errorf("%s %s: component tag %v, want %q", x.Type, x.Name, m[TagComponent], comp)
			}
		}
	}
	for _, x := range res.res {
		b, _ := json.Marshal(x.Inputs.Mappable())
		if strings.Contains(strings.ToLower(string(b)), "commit") {
			t.Errorf("%s %s mentions a commit: %s", x.Type, x.Name, b)
		}
	}
}

// decodeObject reads an object input that may be a JSON string.
func decodeObject(t *testing.T, v resource.PropertyValue) map[string]any {
	t.Helper()
	switch {
	case v.IsObject():
		return v.ObjectValue().Mappable()
	case v.IsString():
		var m map[string]any
		if err := json.Unmarshal([]byte(v.StringValue()), &m); err != nil {
			t.Fatalf("decode %q: %v", v.StringValue(), err)
		}
		return m
	}
	t.Fatalf("want an object, got %v", v)
	return nil
}

func containerDefs(t *testing.T, x *registered) []model.ContainerDef {
	t.Helper()
	var defs []model.ContainerDef
	if err := json.Unmarshal([]byte(prop(x, "containerDefinitions").StringValue()), &defs); err != nil {
		t.Fatalf("container definitions: %v", err)
	}
	return defs
}

func TestMicroService(t *testing.T) {
	res := run(t, fullStack())
	td := res.find(t, tTaskDef, "api-task")
	for k, want := range map[string]any{"networkMode": "awsvpc", "cpu": "512", "memory": "1024", "family": "orders-prod-api"} {
		if got := prop(td, k).V; got != want {
			t.Errorf("task definition %s = %v, want %v", k, got, want)
		}
	}
	if got := prop(td, "requiresCompatibilities").ArrayValue(); len(got) != 1 || got[0].StringValue() != "FARGATE" {
		t.Errorf("requiresCompatibilities = %v", got)
	}

	// References resolve to the referenced resources' outputs, also inside
	// a larger string, and the task definition depends on them.
	defs := containerDefs(t, td)
	if len(defs) != 1 {
		t.Fatalf("container definitions = %+v", defs)
	}
	cd := defs[0]
	env := map[string]string{}
	for _, e := range cd.Environment {
		env[e.Name] = e.Value
	}
	wantEnv := map[string]string{
		"DB_HOST":   "users-db.abc123.eu-west-1.rds.amazonaws.com",
		"DB_URL":    "postgres://users-db.abc123.eu-west-1.rds.amazonaws.com:5432/orders?sslmode=require",
		"QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-prod-orders-queue",
		"API_KEY":   "s3cr3t-key",
		"WORKERS":   "4",
		"LITERAL":   "${orders-queue.url} at 5432",
		"DOLLAR":    "pa$5432",
	}
	if !reflect.DeepEqual(env, wantEnv) {
		t.Errorf("environment = %v, want %v", env, wantEnv)
	}
	wantSecrets := []model.NameValueFrom{
		{Name: "DB_PASSWORD", ValueFrom: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-users-db-AbCdEf:password::"},
		{Name: "STRIPE_KEY", ValueFrom: "arn:aws:ssm:eu-west-1:123456789012:parameter/orders/stripe"},
	}
	if !reflect.DeepEqual(cd.Secrets, wantSecrets) {
		t.Errorf("secrets = %v, want %v", cd.Secrets, wantSecrets)
	}
	if !reflect.DeepEqual(cd.Command, []string{"serve", "--port", "8080"}) || cd.Image != "ghcr.io/acme/api:1.4.2" || cd.Name != "api" {
		t.Errorf("container = %+v", cd)
	}
	if cd.LogConfiguration.LogDriver != "awslogs" || cd.LogConfiguration.Options["awslogs-group"] != "/panka/orders/prod/api" ||
		cd.LogConfiguration.Options["awslogs-region"] != "eu-west-1" {
		t.Errorf("log configuration = %+v", cd.LogConfiguration)
	}
	if len(cd.PortMappings) != 1 || cd.PortMappings[0].ContainerPort != 8080 {
		t.Errorf("port mappings = %+v", cd.PortMappings)
	}
	for _, dep := range [][2]string{{tRDS, "users-db"}, {tQueue, "orders-queue"}} {
		if !res.dependsOn(t, td, "containerDefinitions", dep[0], dep[1]) {
			t.Errorf("containerDefinitions does not depend on %s %s: %v", dep[0], dep[1], td.PropDeps["containerDefinitions"])
		}
	}
	// A Sensitive env value makes the container definitions secret.
	if !td.Inputs["containerDefinitions"].IsSecret() {
		t.Errorf("containerDefinitions is not secret although API_KEY is sensitive")
	}

	// Execution role reads exactly the referenced secrets.
	pol := decodeObject(t, prop(res.find(t, tRolePolicy, "api-exec-secrets"), "policy"))
	b, _ := json.Marshal(pol["Statement"])
	for _, want := range []string{
		`"Resource":["arn:aws:ssm:eu-west-1:123456789012:parameter/orders/stripe"]`,
		`"Resource":["arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-users-db-AbCdEf"]`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("exec secrets policy %s lacks %s", b, want)
		}
	}
	if strings.Contains(string(b), `"*"`) {
		t.Errorf("exec secrets policy grants a wildcard: %s", b)
	}
	// Task role may use the referenced queue.
	access := decodeObject(t, prop(res.find(t, tRolePolicy, "api-task-access"), "policy"))
	b, _ = json.Marshal(access)
	if !strings.Contains(string(b), "arn:aws:sqs:eu-west-1:123456789012:orders-prod-orders-queue") || !strings.Contains(string(b), "sqs:SendMessage") {
		t.Errorf("task access policy = %s", b)
	}

	svc := res.find(t, tService, "api")
	checks := map[string]any{
		"launchType": "FARGATE", "deploymentMinimumHealthyPercent": 100.0, "deploymentMaximumPercent": 200.0,
		"deploymentCircuitBreaker.enable": true, "deploymentCircuitBreaker.rollback": true,
		"networkConfiguration.assignPublicIp": false, "desiredCount": 2.0, "name": "api",
		"healthCheckGracePeriodSeconds": 60.0,
	}
	for k, want := range checks {
		if got := prop(svc, k).V; got != want {
			t.Errorf("service %s = %v, want %v", k, got, want)
		}
	}
	subnets := prop(svc, "networkConfiguration.subnets").ArrayValue()
	if len(subnets) != 2 || subnets[0].StringValue() != "subnet-a" {
		t.Errorf("service subnets = %v, want the private subnets", subnets)
	}
	if lbs := prop(svc, "loadBalancers").ArrayValue(); len(lbs) != 1 || lbs[0].ObjectValue()["containerPort"].NumberValue() != 8080 {
		t.Errorf("service load balancers = %v", lbs)
	}
	if !res.dependsOn(t, svc, "taskDefinition", tTaskDef, "api-task") {
		t.Errorf("service does not depend on its task definition")
	}
	if !containsURN(svc.Deps, res.find(t, tRule, "api-rule").URN) {
		t.Errorf("service does not wait for its listener rule: %v", svc.Deps)
	}

	tg := res.find(t, tTG, "api-tg")
	for k, want := range map[string]any{"targetType": "ip", "port": 8080.0, "protocol": "HTTP", "healthCheck.path": "/healthz", "healthCheck.interval": 15.0, "vpcId": "vpc-1"} {
		if got := prop(tg, k).V; got != want {
			t.Errorf("target group %s = %v, want %v", k, got, want)
		}
	}
	if !prop(tg, "name").IsNull() {
		t.Errorf("target group name is set (%v); it must be auto-named to stay within 32 characters on replacement", prop(tg, "name"))
	}
	rule := res.find(t, tRule, "api-rule")
	conds, _ := json.Marshal(prop(rule, "conditions").Mappable())
	if want := `[{"hostHeader":{"values":["api.example.com"]}},{"pathPattern":{"values":["/v1","/v1/*"]}}]`; string(conds) != want {
		t.Errorf("listener rule conditions = %s, want %s", conds, want)
	}
	if pr := prop(rule, "priority").NumberValue(); pr < 1 || pr > 50000 {
		t.Errorf("listener rule priority = %v", pr)
	}
	if prop(rule, "listenerArn").StringValue() != fullStack().Provider.Network.ListenerArn {
		t.Errorf("listener rule is not on the configured listener")
	}

	st := res.find(t, tScTarget, "api-scaling")
	if prop(st, "minCapacity").NumberValue() != 2 || prop(st, "maxCapacity").NumberValue() != 6 ||
		prop(st, "resourceId").StringValue() != "service/orders-prod/api" {
		t.Errorf("scaling target = %v", st.Inputs)
	}
	sp := res.find(t, tScPolicy, "api-cpu")
	if prop(sp, "targetTrackingScalingPolicyConfiguration.targetValue").NumberValue() != 60 ||
		prop(sp, "targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification.predefinedMetricType").StringValue() != "ECSServiceAverageCPUUtilization" {
		t.Errorf("scaling policy = %v", sp.Inputs)
	}

	sg := res.find(t, tSG, "api-sg")
	ing, _ := json.Marshal(prop(sg, "ingress").Mappable())
	if !strings.Contains(string(ing), `"cidrBlocks":["10.20.0.0/16"]`) || !strings.Contains(string(ing), `"fromPort":8080`) {
		t.Errorf("service security group ingress = %s", ing)
	}
	if res.outputs["api.url"] != "https://api.example.com/v1" || res.outputs["api.serviceName"] != "api" {
		t.Errorf("outputs: url %q serviceName %q", res.outputs["api.url"], res.outputs["api.serviceName"])
	}
}

// TestLoadBalancerScheme: spec.loadBalancer.public must match the scheme
// of the configured listener's load balancer. A private service (public
// false, the default) was attached to an internet-facing listener without
// a word, so it was reachable from the internet.
func TestLoadBalancerScheme(t *testing.T) {
	for _, tc := range []struct {
		name             string
		public, internal bool
		wantErr          string
	}{
		{"private on internet-facing", false, false, "spec.loadBalancer.public is false (the default), but listener"},
		{"public on internal", true, true, "spec.loadBalancer.public is true, but listener"},
		{"private on internal", false, true, ""},
		{"public on internet-facing", true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fullStack()
			r.Components[0].File = "stacks/orders/services/api/service.yaml"
			r.Components[0].Spec["loadBalancer"].(map[string]any)["public"] = tc.public
			m := &mocks{internalLB: tc.internal}
			res, err := tryRunMocks(r, target.Options{}, m)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("register: %v", err)
				}
				rule := res.find(t, tRule, "api-rule")
				if prop(rule, "listenerArn").StringValue() != r.Provider.Network.ListenerArn {
					t.Errorf("listener rule listenerArn = %v", prop(rule, "listenerArn"))
				}
				if res.outputs["api.url"] != "https://api.example.com/v1" {
					t.Errorf("api.url = %q", res.outputs["api.url"])
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) ||
				!strings.Contains(err.Error(), `stacks/orders/services/api/service.yaml: stack "orders" environment "prod" component "api"`) ||
				!strings.Contains(err.Error(), r.Provider.Network.ListenerArn) {
				t.Fatalf("register: %v, want an error containing %q naming the file, component and listener", err, tc.wantErr)
			}
			for _, x := range m.res {
				if x.Type == tRule && prop(x, "listenerArn").IsString() {
					t.Errorf("a listener rule was registered on the listener: %v", x.Inputs)
				}
			}
		})
	}
}

// TestURLListenerPort: a MicroService's url names the listener's port
// when it is not its protocol's own; on an HTTPS listener on 8443 it was
// https://host/path, which reaches nothing.
func TestURLListenerPort(t *testing.T) {
	r := fullStack()
	res, err := tryRunMocks(r, target.Options{}, &mocks{listenerPort: 8443})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.outputs["api.url"]; got != "https://api.example.com:8443/v1" {
		t.Errorf("api.url = %q, want https://api.example.com:8443/v1", got)
	}
	delete(r.Components[0].Spec["loadBalancer"].(map[string]any), "host")
	res, err = tryRunMocks(r, target.Options{}, &mocks{listenerPort: 8443})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.outputs["api.url"]; got != "https://shared-123.eu-west-1.elb.amazonaws.com:8443/v1" {
		t.Errorf("api.url without host = %q", got)
	}
}

func containsURN(l []string, u string) bool {
	for _, x := range l {
		if x == u {
			return true
		}
	}
	return false
}

func TestWorker(t *testing.T) {
	res := run(t, fullStack())
	svc := res.find(t, tService, "worker")
	if prop(svc, "launchType").StringValue() != "FARGATE" || !prop(svc, "loadBalancers").IsNull() || !prop(svc, "healthCheckGracePeriodSeconds").IsNull() {
		t.Errorf("worker service = %v", svc.Inputs)
	}
	td := res.find(t, tTaskDef, "worker-task")
	if td.Inputs["containerDefinitions"].IsSecret() {
		t.Errorf("worker containerDefinitions is secret although nothing in it is sensitive")
	}
	cd := containerDefs(t, td)[0]
	if len(cd.PortMappings) != 0 || cd.Environment[0].Value != "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-prod-orders-queue" {
		t.Errorf("worker container = %+v", cd)
	}
	if cd.HealthCheck == nil || !reflect.DeepEqual(cd.HealthCheck.Command, []string{"CMD", "pgrep", "worker"}) || cd.HealthCheck.Interval != 20 || cd.HealthCheck.Retries != 3 {
		t.Errorf("worker container health check = %+v", cd.HealthCheck)
	}
	if prop(td, "cpu").StringValue() != "256" || prop(td, "memory").StringValue() != "512" {
		t.Errorf("worker size = %v/%v", prop(td, "cpu"), prop(td, "memory"))
	}
	if res.outputs["worker.serviceName"] != "worker" {
		t.Errorf("worker.serviceName = %q", res.outputs["worker.serviceName"])
	}
	for _, x := range res.byComponent()["worker"] {
		if x.Type == tTG || x.Type == tRule || x.Type == tDiscovery {
			t.Errorf("worker has a %s", x.Type)
		}
	}
}

// TestFixedAutoscaling: autoscaling with min == max scales nothing, and
// the service runs that many tasks, not the replicas default (a user
// writing {min: 3, max: 3} got one task).
func TestFixedAutoscaling(t *testing.T) {
	r := fullStack()
	r.Components[1].Spec["replicas"] = int64(1)
	r.Components[1].Spec["autoscaling"] = map[string]any{"min": int64(3), "max": int64(3), "cpuTarget": int64(70)}
	res := run(t, r)
	svc := res.find(t, tService, "worker")
	if n := prop(svc, "desiredCount").NumberValue(); n != 3 {
		t.Errorf("worker desiredCount = %v, want 3 (autoscaling min = max = 3)", n)
	}
	for _, x := range res.byComponent()["worker"] {
		if x.Type == tScTarget || x.Type == tScPolicy {
			t.Errorf("worker with min = max has a %s", x.Type)
		}
	}
}

func TestCronJob(t *testing.T) {
	res := run(t, fullStack())
	s := res.find(t, tSchedule, "nightly-schedule")
	for k, want := range map[string]any{
		"name":                                   "orders-prod-nightly",
		"scheduleExpression":                     "cron(0 3 ? * 2-6 *)",
		"flexibleTimeWindow.mode":                "OFF",
		"target.arn":                             "arn:aws:mock:eu-west-1:123456789012:cluster",
		"target.roleArn":                         "arn:aws:iam::123456789012:role/orders-prod-nightly-sched",
		"target.ecsParameters.launchType":        "FARGATE",
		"target.ecsParameters.taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/orders-prod-nightly:1",
		"target.ecsParameters.networkConfiguration.assignPublicIp": false,
	} {
		if got := prop(s, k).V; got != want {
			t.Errorf("schedule %s = %v, want %v", k, got, want)
		}
	}
	pol := decodeObject(t, prop(res.find(t, tRolePolicy, "nightly-scheduler"), "policy"))
	b, _ := json.Marshal(pol)
	for _, want := range []string{`"Action":"ecs:RunTask"`, `"Resource":"arn:aws:ecs:eu-west-1:123456789012:task-definition/orders-prod-nightly:*"`,
		`"Action":"iam:PassRole"`, "role/orders-prod-nightly-exec", "role/orders-prod-nightly-task"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("scheduler policy %s lacks %s", b, want)
		}
	}
	trust := decodeObject(t, prop(res.find(t, tRole, "nightly-scheduler"), "assumeRolePolicy"))
	if b, _ := json.Marshal(trust); !strings.Contains(string(b), "scheduler.amazonaws.com") {
		t.Errorf("scheduler role trust = %s", b)
	}
	cd := containerDefs(t, res.find(t, tTaskDef, "nightly-task"))[0]
	if !reflect.DeepEqual(cd.Command, []string{"report", "--since", "24h"}) {
		t.Errorf("cron command = %v", cd.Command)
	}
	if res.outputs["nightly.ruleName"] != "orders-prod-nightly" {
		t.Errorf("nightly.ruleName = %q", res.outputs["nightly.ruleName"])
	}
}

func TestDatabase(t *testing.T) {
	res := run(t, fullStack())
	db := res.find(t, tRDS, "users-db")
	for k, want := range map[string]any{
		"identifier": "orders-prod-users-db", "engine": "postgres", "engineVersion": "16.4", "instanceClass": "db.t4g.medium",
		"allocatedStorage": 50.0, "storageEncrypted": true, "deletionProtection": true, "backupRetentionPeriod": 14.0,
		"manageMasterUserPassword": true, "publiclyAccessible": false, "multiAz": true, "skipFinalSnapshot": false,
		"finalSnapshotIdentifier": "orders-prod-users-db-final-20260304-050607", "port": 5432.0,
		// Without it RDS defers a class, storage or version change to the
		// maintenance window while apply reports it deployed.
		"applyImmediately": true,
	} {
		if got := prop(db, k).V; got != want {
			t.Errorf("rds %s = %v, want %v", k, got, want)
		}
	}
	if !prop(db, "password").IsNull() {
		t.Errorf("rds password is set; RDS must manage it")
	}
	if !res.dependsOn(t, db, "dbSubnetGroupName", tRDSSubnets, "users-db-subnets") {
		t.Errorf("rds does not use its subnet group")
	}
	sg := res.find(t, tSG, "users-db-sg")
	ing, _ := json.Marshal(prop(sg, "ingress").Mappable())
	if !strings.Contains(string(ing), `"fromPort":5432`) || !strings.Contains(string(ing), `"securityGroups":["sg-workloads"]`) || strings.Contains(string(ing), "cidr") {
		t.Errorf("database ingress = %s, want 5432 from the workloads group only", ing)
	}
	for k, want := range map[string]string{
		"users-db.endpoint":  "users-db.abc123.eu-west-1.rds.amazonaws.com:5432",
		"users-db.address":   "users-db.abc123.eu-west-1.rds.amazonaws.com",
		"users-db.port":      "5432",
		"users-db.secretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-users-db-AbCdEf",
	} {
		if res.outputs[k] != want {
			t.Errorf("%s = %q, want %q", k, res.outputs[k], want)
		}
	}

	// A version pinned to a minor (16.4, as fullStack has it) is not
	// upgraded by RDS behind the YAML's back: after an automatic upgrade
	// to 16.8 a refreshing apply asked RDS to downgrade, which it
	// refuses. A major version (16, mysql 8.0) takes minor upgrades.
	if prop(db, "autoMinorVersionUpgrade").BoolValue() {
		t.Errorf("postgres 16.4: autoMinorVersionUpgrade on; RDS would move it off the pinned version")
	}
	for _, v := range []struct {
		engine, version string
		auto            bool
	}{{"postgres", "16", true}, {"mysql", "8.0", true}, {"mysql", "8.0.35", false}, {"postgres", "15.7", false}} {
		r := fullStack()
		r.Components[3].Spec["engine"], r.Components[3].Spec["version"] = v.engine, v.version
		if got := prop(run(t, r).find(t, tRDS, "users-db"), "autoMinorVersionUpgrade").BoolValue(); got != v.auto {
			t.Errorf("%s %s: autoMinorVersionUpgrade = %v, want %v", v.engine, v.version, got, v.auto)
		}
	}

	// deletionProtection can be turned off explicitly; the default is on.
	r := fullStack()
	r.Components[3].Spec["deletionProtection"] = false
	res = run(t, r)
	if prop(res.find(t, tRDS, "users-db"), "deletionProtection").BoolValue() {
		t.Errorf("deletionProtection false was ignored")
	}
}

// TestFinalSnapshotPerIncarnation: the final snapshot of a database or
// cache is named after the time the resource is created and keeps that
// name. A fixed "<id>-final" made AWS refuse the destroy of a database
// re-created after an earlier destroy (DBSnapshotAlreadyExists: the first
// final snapshot is still there), leaving the stack half destroyed.
func TestFinalSnapshotPerIncarnation(t *testing.T) {
	defer func(t0 time.Time) { testNow = t0 }(testNow)
	names := map[string]string{}
	for _, at := range []time.Time{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2026, 6, 7, 8, 9, 10, 0, time.UTC)} {
		testNow = at
		res := run(t, fullStack())
		for _, x := range []*registered{res.find(t, tRDS, "users-db"), res.find(t, tRG, "sessions")} {
			got := prop(x, "finalSnapshotIdentifier").StringValue()
			if prev, ok := names[x.Type]; ok && prev == got {
				t.Errorf("%s: final snapshot %q is the same for two creations: the second destroy would fail", x.Type, got)
			}
			names[x.Type] = got
			if !reflect.DeepEqual(x.IgnoreChanges, []string{"finalSnapshotIdentifier"}) {
				t.Errorf("%s ignoreChanges = %v: a later apply would rename its final snapshot (an update every run)", x.Type, x.IgnoreChanges)
			}
		}
	}
	// The longest names panka accepts still give valid snapshot names.
	long := strings.Repeat("a", stacks.MaxNameLength)
	r := fullStack()
	r.Stack, r.Environment = long, long
	r.Components[3].Name, r.Components[4].Name = long+"-db", long[:59]+"-c"
	r.Components[0].DependsOn = []string{"orders-queue"}
	r.Components[0].Spec["env"] = map[string]any{}
	r.Components[0].Spec["secrets"] = map[string]any{}
	res := run(t, r)
	for _, typ := range []string{tRDS, tRG} {
		for _, x := range res.res {
			if x.Type != typ {
				continue
			}
			got := prop(x, "finalSnapshotIdentifier").StringValue()
			if len(got) > 255 || strings.Contains(got, "--") || strings.HasSuffix(got, "-") || got[0] < 'a' || got[0] > 'z' {
				t.Errorf("%s final snapshot %q is not a valid snapshot identifier", typ, got)
			}
		}
	}
}

// TestDataSecurityGroupKeepsItsDescription: a database's or cache's
// security group is named <stack>-<env>-<component>-sg and described with
// its engine; EC2 cannot change a description, so an engine change
// replaced the group, creating the new one first under the taken name,
// which EC2 refuses. The description is ignored after creation.
func TestDataSecurityGroupKeepsItsDescription(t *testing.T) {
	res := run(t, fullStack())
	for _, name := range []string{"users-db-sg", "sessions-sg"} {
		sg := res.find(t, tSG, name)
		if !reflect.DeepEqual(sg.IgnoreChanges, []string{"description"}) {
			t.Errorf("%s ignoreChanges = %v, want [description]", name, sg.IgnoreChanges)
		}
	}
}

func TestCache(t *testing.T) {
	res := run(t, fullStack())
	rg := res.find(t, tRG, "sessions")
	for k, want := range map[string]any{
		"replicationGroupId": "orders-prod-sessions", "engine": "valkey", "nodeType": "cache.t4g.small", "numCacheClusters": 2.0,
		"automaticFailoverEnabled": true, "multiAzEnabled": true, "atRestEncryptionEnabled": true, "transitEncryptionEnabled": true,
		"port": 6379.0, "finalSnapshotIdentifier": "orders-prod-sessions-final-20260304-050607", "applyImmediately": true,
	} {
		if got := prop(rg, k).V; got != want {
			t.Errorf("replication group %s = %v, want %v", k, got, want)
		}
	}
	if prop(rg, "description").StringValue() == "" {
		t.Errorf("replication group has no description")
	}
	if res.outputs["sessions.endpoint"] != "master.sessions.cache.amazonaws.com" || res.outputs["sessions.port"] != "6379" {
		t.Errorf("cache outputs = %q %q", res.outputs["sessions.endpoint"], res.outputs["sessions.port"])
	}

	r := fullStack()
	r.Components[4].Spec["nodes"] = int64(1)
	rg = run(t, r).find(t, tRG, "sessions")
	if prop(rg, "automaticFailoverEnabled").BoolValue() || prop(rg, "multiAzEnabled").BoolValue() {
		t.Errorf("one node cannot fail over: %v", rg.Inputs)
	}
}

func TestQueue(t *testing.T) {
	res := run(t, fullStack())
	q := res.find(t, tQueue, "orders-queue")
	dlq := res.find(t, tQueue, "orders-queue-dlq")
	for k, want := range map[string]any{"name": "orders-prod-orders-queue", "fifoQueue": false, "sqsManagedSseEnabled": true,
		"visibilityTimeoutSeconds": 60.0, "messageRetentionSeconds": 345600.0} {
		if got := prop(q, k).V; got != want {
			t.Errorf("queue %s = %v, want %v", k, got, want)
		}
	}
	for k, want := range map[string]any{"name": "orders-prod-orders-queue-dlq", "fifoQueue": false, "messageRetentionSeconds": 1209600.0, "sqsManagedSseEnabled": true} {
		if got := prop(dlq, k).V; got != want {
			t.Errorf("dlq %s = %v, want %v", k, got, want)
		}
	}
	redrive := decodeObject(t, prop(q, "redrivePolicy"))
	if redrive["maxReceiveCount"] != 5.0 || redrive["deadLetterTargetArn"] != "arn:aws:sqs:eu-west-1:123456789012:orders-prod-orders-queue-dlq" {
		t.Errorf("redrive policy = %v", redrive)
	}
	if !res.dependsOn(t, q, "redrivePolicy", tQueue, "orders-queue-dlq") {
		t.Errorf("queue redrive policy does not depend on the dlq")
	}
	for k, want := range map[string]string{
		"orders-queue.url":  "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-prod-orders-queue",
		"orders-queue.arn":  "arn:aws:sqs:eu-west-1:123456789012:orders-prod-orders-queue",
		"orders-queue.name": "orders-prod-orders-queue",
	} {
		if res.outputs[k] != want {
			t.Errorf("%s = %q, want %q", k, res.outputs[k], want)
		}
	}

	// FIFO: both queues FIFO with .fifo names; no deadLetter: no DLQ.
	r := fullStack()
	r.Components = []stacks.Component{{Name: "jobs", Kind: stacks.KindQueue, Spec: map[string]any{"fifo": true, "deadLetter": map[string]any{"maxReceives": 3.0}}},
		{Name: "plain", Kind: stacks.KindQueue, Spec: map[string]any{}}}
	res = run(t, r)
	if n := prop(res.find(t, tQueue, "jobs"), "name").StringValue(); n != "orders-prod-jobs.fifo" {
		t.Errorf("fifo queue name = %q", n)
	}
	fd := res.find(t, tQueue, "jobs-dlq")
	if prop(fd, "name").StringValue() != "orders-prod-jobs-dlq.fifo" || !prop(fd, "fifoQueue").BoolValue() {
		t.Errorf("fifo dlq = %v", fd.Inputs)
	}
	if c := typeCounts(res.byComponent()["plain"]); !reflect.DeepEqual(c, map[string]int{tQueue: 1}) {
		t.Errorf("queue without deadLetter: %v", c)
	}
}

func TestBucket(t *testing.T) {
	res := run(t, fullStack())
	b := res.find(t, tBucket, "assets")
	if prop(b, "bucket").StringValue() != "orders-prod-assets-123456789012" {
		t.Errorf("bucket = %v", b.Inputs)
	}
	// A destroy the user allowed (--allow-destroy) empties the bucket
	// rather than failing half way with BucketNotEmpty; without the flag
	// the bucket is protected (TestBucketDeleteGuarded).
	if !prop(b, "forceDestroy").BoolValue() {
		t.Errorf("bucket forceDestroy is off: an allowed destroy of a non-empty bucket fails half way")
	}
	pab := res.find(t, tPAB, "assets-public-access")
	for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
		if !prop(pab, k).BoolValue() {
			t.Errorf("public access block %s is not true", k)
		}
	}
	if prop(res.find(t, tVersioning, "assets-versioning"), "versioningConfiguration.status").StringValue() != "Enabled" {
		t.Errorf("versioning not enabled")
	}
	sse, _ := json.Marshal(prop(res.find(t, tSSE, "assets-encryption"), "rules").Mappable())
	if !strings.Contains(string(sse), `"sseAlgorithm":"AES256"`) {
		t.Errorf("encryption rules = %s", sse)
	}
	if prop(res.find(t, tOwnership, "assets-ownership"), "rule.objectOwnership").StringValue() != "BucketOwnerEnforced" {
		t.Errorf("ownership is not BucketOwnerEnforced")
	}
	lc, _ := json.Marshal(prop(res.find(t, tLifecycle, "assets-lifecycle"), "rules").Mappable())
	for _, want := range []string{`"daysAfterInitiation":7`, `"noncurrentDays":30`, `"expiration":{"days":90}`} {
		if !strings.Contains(string(lc), want) {
			t.Errorf("lifecycle %s lacks %s", lc, want)
		}
	}
	pol := decodeObject(t, prop(res.find(t, tBPolicy, "assets-policy"), "policy"))
	pb, _ := json.Marshal(pol)
	if !strings.Contains(string(pb), `"aws:SecureTransport":"false"`) || !strings.Contains(string(pb), `"Effect":"Deny"`) || strings.Contains(string(pb), "GetObject") {
		t.Errorf("bucket policy = %s", pb)
	}
	if res.outputs["assets.name"] != "orders-prod-assets-123456789012" || res.outputs["assets.arn"] != "arn:aws:s3:::orders-prod-assets-123456789012" {
		t.Errorf("bucket outputs = %q %q", res.outputs["assets.name"], res.outputs["assets.arn"])
	}

	r := fullStack()
	r.Components[6].Spec = map[string]any{"public": true, "name": "acme-public-assets"}
	res = run(t, r)
	pab = res.find(t, tPAB, "assets-public-access")
	if prop(pab, "blockPublicPolicy").BoolValue() || !prop(pab, "blockPublicAcls").BoolValue() {
		t.Errorf("public bucket access block = %v", pab.Inputs)
	}
	if prop(res.find(t, tBucket, "assets"), "bucket").StringValue() != "acme-public-assets" {
		t.Errorf("explicit bucket name ignored")
	}
	if prop(res.find(t, tVersioning, "assets-versioning"), "versioningConfiguration.status").StringValue() != "Suspended" {
		t.Errorf("versioning off should be Suspended")
	}
}

func TestTopic(t *testing.T) {
	res := run(t, fullStack())
	tp := res.find(t, tTopic, "events")
	if prop(tp, "name").StringValue() != "orders-prod-events" || prop(tp, "fifoTopic").BoolValue() {
		t.Errorf("topic = %v", tp.Inputs)
	}
	sub := res.find(t, tSub, "events-to-orders-queue")
	if prop(sub, "protocol").StringValue() != "sqs" || prop(sub, "endpoint").StringValue() != "arn:aws:sqs:eu-west-1:123456789012:orders-prod-orders-queue" {
		t.Errorf("queue subscription = %v", sub.Inputs)
	}
	if !res.dependsOn(t, sub, "endpoint", tQueue, "orders-queue") || !res.dependsOn(t, sub, "topic", tTopic, "events") {
		t.Errorf("subscription dependencies = %v", sub.PropDeps)
	}
	var https *registered
	for _, x := range res.byComponent()["events"] {
		if x.Type == tSub && prop(x, "protocol").StringValue() == "https" {
			https = x
		}
	}
	if https == nil || prop(https, "endpoint").StringValue() != "https://hooks.example.com/orders" {
		t.Errorf("https subscription missing")
	}
	qp := res.find(t, tQPolicy, "orders-queue-sns")
	pol := decodeObject(t, prop(qp, "policy"))
	b, _ := json.Marshal(pol)
	if !strings.Contains(string(b), `"aws:SourceArn":["arn:aws:sns:eu-west-1:123456789012:orders-prod-events"]`) || !strings.Contains(string(b), `"Service":"sns.amazonaws.com"`) {
		t.Errorf("queue policy = %s", b)
	}
	if !res.dependsOn(t, qp, "policy", tTopic, "events") {
		t.Errorf("queue policy does not depend on the topic")
	}
	if res.outputs["events.arn"] != "arn:aws:sns:eu-west-1:123456789012:orders-prod-events" {
		t.Errorf("events.arn = %q", res.outputs["events.arn"])
	}
}

// TestTopicSQSEndpointToStackQueue: {protocol: sqs, endpoint:
// ${queue.arn}} subscribes a queue of the stack as {queue: ...} does, so
// it gets the queue policy admitting the topic; without it the
// subscription was made and SNS could deliver nothing.
func TestTopicSQSEndpointToStackQueue(t *testing.T) {
	r := fullStack()
	r.Components[7].Spec["subscriptions"] = []any{
		map[string]any{"protocol": "sqs", "endpoint": "${orders-queue.arn}"},
	}
	res := run(t, r)
	var sub *registered
	for _, x := range res.byComponent()["events"] {
		if x.Type == tSub {
			sub = x
		}
	}
	if sub == nil || prop(sub, "endpoint").StringValue() != "arn:aws:sqs:eu-west-1:123456789012:orders-prod-orders-queue" {
		t.Fatalf("sqs subscription = %v", sub)
	}
	qp := res.find(t, tQPolicy, "orders-queue-sns")
	b, _ := json.Marshal(decodeObject(t, prop(qp, "policy")))
	if !strings.Contains(string(b), `"aws:SourceArn":["arn:aws:sns:eu-west-1:123456789012:orders-prod-events"]`) {
		t.Errorf("queue policy = %s", b)
	}

	// The same queue both ways is one AWS subscription held by two
	// resources; a FIFO mismatch is refused as for {queue: ...}.
	r.Components[7].Spec["subscriptions"] = []any{
		map[string]any{"queue": "orders-queue"},
		map[string]any{"protocol": "sqs", "endpoint": "${orders-queue.arn}"},
	}
	if _, err := tryRun(r); err == nil || !strings.Contains(err.Error(), `spec.subscriptions[1] delivers to queue "orders-queue" like spec.subscriptions[0]; remove one`) {
		t.Errorf("queue subscribed twice: %v", err)
	}
	r.Components[7].Spec["subscriptions"] = []any{map[string]any{"protocol": "sqs", "endpoint": "${orders-queue.arn}"}}
	r.Components[5].Spec["fifo"] = true
	if _, err := tryRun(r); err == nil || !strings.Contains(err.Error(), `a standard topic cannot deliver to the FIFO queue "orders-queue"`) {
		t.Errorf("standard topic to a FIFO queue by endpoint: %v", err)
	}
	r.Components[5].Spec["fifo"] = false
	r.Components[7].Spec["subscriptions"] = []any{map[string]any{"protocol": "sqs", "endpoint": "${assets.arn}"}}
	if _, err := tryRun(r); err == nil || !strings.Contains(err.Error(), `spec.subscriptions[0].endpoint: "assets" is a Bucket, not a Queue`) {
		t.Errorf("sqs subscription to a bucket: %v", err)
	}
}

// TestOutputs checks every kind exports exactly its documented outputs.
func TestOutputs(t *testing.T) {
	res := run(t, fullStack())
	var want []string
	for _, c := range fullStack().Components {
		for _, o := range c.Kind.Outputs() {
			want = append(want, c.Name+"."+o)
		}
	}
	var got []string
	for k, v := range res.outputs {
		got = append(got, k)
		if v == "" {
			t.Errorf("output %s is empty", k)
		}
		if res.secret[k] {
			t.Errorf("output %s is secret; none of the outputs carry secrets", k)
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("outputs = %v, want %v", got, want)
	}
}

// TestSecretReferenceOutput: a reference whose value is secret stays
// secret where it is used.
func TestSensitiveOnlyWhereUsed(t *testing.T) {
	r := fullStack()
	r.Components[1].Spec["env"] = map[string]any{"TOKEN": &stacks.Sensitive{Clear: "tok", Hash: "sensitive:x"}}
	res := run(t, r)
	td := res.find(t, tTaskDef, "worker-task")
	if !td.Inputs["containerDefinitions"].IsSecret() {
		t.Errorf("*Sensitive env value not secret")
	}
	if td := res.find(t, tTaskDef, "nightly-task"); td.Inputs["containerDefinitions"].IsSecret() {
		t.Errorf("nightly task definition became secret")
	}
}

// TestDeterministic registers the same model twice and compares.
func TestDeterministic(t *testing.T) {
	sig := func(res *runResult) []string {
		var out []string
		for _, x := range res.res {
			b, _ := json.Marshal(x.Inputs.Mappable())
			out = append(out, x.URN+" "+string(b))
		}
		sort.Strings(out)
		return out
	}
	a, b := sig(run(t, fullStack())), sig(run(t, fullStack()))
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two registrations of the same model differ")
	}
}

func TestNoNetworkNeeded(t *testing.T) {
	r := &stacks.Resolved{Stack: "media", Environment: "dev", Provider: stacks.Provider{Name: "aws", Region: "us-east-1"},
		Components: []stacks.Component{{Name: "uploads", Kind: stacks.KindBucket, Spec: map[string]any{}}}}
	res := run(t, r)
	if c := typeCounts(res.byComponent()[""]); len(c) != 0 {
		t.Errorf("shared resources without services: %v", c)
	}
	if !reflect.DeepEqual(res.calls, []string{"aws:index/getCallerIdentity:getCallerIdentity"}) {
		t.Errorf("invokes for a lone bucket: %v, want only the account lookup", res.calls)
	}
}

// TestDataResourcesProtected: with Protect, exactly the resources that hold
// a data-holding component's data are protected (the engine then refuses
// to replace or delete them, whatever decides it); without, none is.
func TestDataResourcesProtected(t *testing.T) {
	for _, protect := range []bool{true, false} {
		res, err := tryRunWith(fullStack(), target.Options{Protect: protect})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, x := range res.res {
			if x.Protect {
				got = append(got, x.Type+" "+x.Name)
			}
		}
		sort.Strings(got)
		var want []string
		if protect {
			want = []string{tRG + " sessions", tBucket + " assets", tRDS + " users-db", tQueue + " orders-queue"}
			sort.Strings(want)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("protect=%v: protected resources\n got  %v\n want %v", protect, got, want)
		}
	}
}

// TestSensitiveCommand: a secret variable in a container command argument
// (command: ["report", "--token=${API_TOKEN}"], or a whole command line
// from a secret) reaches the container as a Pulumi secret. The aws target
// refused it ("want a string, got (sensitive)") only at apply, after
// validate and plan had accepted it, recording a failed deployment.
func TestSensitiveCommand(t *testing.T) {
	for _, tt := range []struct {
		name    string
		command any
		want    []string
	}{
		{"argument", []any{"report", stacks.Sensitive{Clear: "--token=t0k3n-clear", Hash: "sensitive:hmac-sha256:ab"}, &stacks.Sensitive{Clear: "x y", Hash: "sensitive:hmac-sha256:cd"}},
			[]string{"report", "--token=t0k3n-clear", "x y"}},
		{"whole command line", stacks.Sensitive{Clear: `report --token 't0k3n-clear'`, Hash: "sensitive:hmac-sha256:ef"}, []string{"report", "--token", "t0k3n-clear"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := fullStack()
			for i := range r.Components {
				if r.Components[i].Name == "nightly" {
					r.Components[i].Spec["command"] = tt.command
				}
			}
			res := run(t, r)
			td := res.find(t, tTaskDef, "nightly-task")
			if !td.Inputs["containerDefinitions"].IsSecret() {
				t.Errorf("containerDefinitions is not secret although the command is")
			}
			if cd := containerDefs(t, td)[0]; !reflect.DeepEqual(cd.Command, tt.want) {
				t.Errorf("command = %q, want %q", cd.Command, tt.want)
			}
			// Nowhere else, and never in clear outside a secret.
			for _, x := range res.res {
				if x == td {
					continue
				}
				if b, _ := json.Marshal(x.Inputs.Mappable()); strings.Contains(string(b), "t0k3n-clear") {
					t.Errorf("%s holds the secret: %s", x.URN, b)
				}
			}
		})
	}
}

// TestSensitiveSubscriptionEndpoint: a subscription endpoint from a secret
// variable (a webhook URL carrying its token) is a Pulumi secret, and the
// subscription is named by the value's keyed hash, never by the clear
// value (a name is in clear in Pulumi's state). The aws target refused it
// ("must not be a secret value") only at apply, after validate and plan.
func TestSensitiveSubscriptionEndpoint(t *testing.T) {
	r := fullStack()
	const clear = "https://hooks.example.com/T0KEN-clear"
	secret := stacks.Sensitive{Clear: clear, Hash: "sensitive:hmac-sha256:0123"}
	for i := range r.Components {
		if r.Components[i].Name == "events" {
			r.Components[i].Spec["subscriptions"] = []any{map[string]any{"protocol": "https", "endpoint": secret}}
		}
	}
	res := run(t, r)
	var found int
	for _, x := range res.res {
		b, _ := json.Marshal(x.Inputs.Mappable())
		if x.Type == tSub {
			found++
			if ep := x.Inputs["endpoint"]; !ep.IsSecret() {
				t.Errorf("endpoint of %s is not secret", x.Name)
			}
			sum := sha256.Sum256([]byte("https " + clear))
			if strings.Contains(x.Name, hex.EncodeToString(sum[:4])) {
				t.Errorf("%s is named by the clear value's hash", x.Name)
			}
			continue
		}
		if strings.Contains(string(b), "T0KEN") {
			t.Errorf("%s holds the secret: %s", x.URN, b)
		}
	}
	if found != 1 {
		t.Errorf("%d subscriptions, want 1", found)
	}
}

// TestPartition: ARNs panka writes itself use the region's partition; in
// cn-north-1 the execution role's managed policy and the secret
// parameters named by path were arn:aws:..., which IAM there refuses.
func TestPartition(t *testing.T) {
	r := fullStack()
	r.Provider.Region = "cn-north-1"
	r.Provider.AssumeRole = ""
	r.Components[1].Spec["secrets"] = map[string]any{"TOKEN": "/orders/token"}
	res := run(t, r)
	att := res.find(t, tAttach, "worker-exec")
	if got := prop(att, "policyArn").StringValue(); got != "arn:aws-cn:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy" {
		t.Errorf("execution role policy = %q", got)
	}
	pol := res.find(t, tRolePolicy, "worker-exec-secrets")
	b, _ := json.Marshal(decodeObject(t, prop(pol, "policy")))
	if !strings.Contains(string(b), `"arn:aws-cn:ssm:cn-north-1:123456789012:parameter/orders/token"`) {
		t.Errorf("secrets policy = %s", b)
	}
	for region, want := range map[string]string{"eu-west-1": "aws", "us-gov-west-1": "aws-us-gov", "us-iso-east-1": "aws-iso", "us-isob-east-1": "aws-iso-b", "cn-northwest-1": "aws-cn", "us-isof-south-1": "aws-iso-f", "eusc-de-east-1": "aws-eusc"} {
		if got := model.Partition(region); got != want {
			t.Errorf("Partition(%s) = %s, want %s", region, got, want)
		}
	}
}

// TestWorkloadKindAliases: a workload component is aliased to its other
// workload kinds, so a MicroService that becomes a Worker (or a CronJob)
// keeps its roles, log group, task definition and service: without it
// the engine created the new kind's resources under the same physical
// names before deleting the old ones, and AWS refused (a role or log
// group that exists). Data kinds get no aliases.
func TestWorkloadKindAliases(t *testing.T) {
	res := run(t, fullStack())
	want := map[string][]string{
		"api":      {"panka:aws:Worker", "panka:aws:CronJob"},
		"worker":   {"panka:aws:MicroService", "panka:aws:CronJob"},
		"nightly":  {"panka:aws:MicroService", "panka:aws:Worker"},
		"users-db": nil, "sessions": nil, "orders-queue": nil, "assets": nil, "events": nil,
	}
	for _, x := range res.res {
		w, ok := want[x.Name]
		if !ok || x.Custom || !strings.HasPrefix(x.Type, "panka:aws:") {
			continue
		}
		if !reflect.DeepEqual(x.AliasTypes, w) {
			t.Errorf("%s %s aliases = %v, want %v", x.Type, x.Name, x.AliasTypes, w)
		}
		delete(want, x.Name)
	}
	if len(want) > 0 {
		t.Errorf("components not seen: %v", want)
	}
}

// TestTopicLambdaSubscription: SNS invokes a subscribed Lambda function
// only if the function's resource policy lets it. The subscription alone
// was made and every delivery failed; now each lambda subscription gets a
// Lambda permission for exactly its topic, and an endpoint that is not a
// function ARN is refused before any engine run.
func TestTopicLambdaSubscription(t *testing.T) {
	r := fullStack()
	const fn = "arn:aws:lambda:eu-west-1:123456789012:function:orders-audit"
	const fnLive = "arn:aws:lambda:eu-west-1:123456789012:function:orders-mail:live"
	for i := range r.Components {
		if r.Components[i].Name == "events" {
			r.Components[i].Spec["subscriptions"] = []any{
				map[string]any{"protocol": "lambda", "endpoint": fn},
				map[string]any{"protocol": "lambda", "endpoint": fnLive},
				map[string]any{"protocol": "https", "endpoint": "https://hooks.example.com/orders"},
			}
		}
	}
	res := run(t, r)
	perms := map[string]*registered{}
	for _, x := range res.byComponent()["events"] {
		if x.Type == "aws:lambda/permission:Permission" {
			f := prop(x, "function").StringValue()
			if q := prop(x, "qualifier"); q.IsString() {
				f += ":" + q.StringValue()
			}
			perms[f] = x
		}
	}
	if p := perms[fnLive]; p == nil || prop(p, "function").StringValue() != strings.TrimSuffix(fnLive, ":live") || prop(p, "qualifier").StringValue() != "live" {
		t.Errorf("qualified function: permission = %v, want function without the alias and qualifier live", p)
	}
	if len(perms) != 2 {
		t.Fatalf("%d lambda permissions, want one per lambda subscription: %v", len(perms), perms)
	}
	for _, f := range []string{fn, fnLive} {
		p := perms[f]
		if p == nil {
			t.Fatalf("no permission for %s", f)
		}
		if prop(p, "action").StringValue() != "lambda:InvokeFunction" || prop(p, "principal").StringValue() != "sns.amazonaws.com" ||
			prop(p, "sourceArn").StringValue() != "arn:aws:sns:eu-west-1:123456789012:orders-prod-events" {
			t.Errorf("permission for %s = %v", f, p.Inputs)
		}
		if !res.dependsOn(t, p, "sourceArn", tTopic, "events") {
			t.Errorf("permission for %s does not depend on the topic", f)
		}
	}

	// A function of another region: the permission, made in the stack's
	// region, cannot reach it.
	for i := range r.Components {
		if r.Components[i].Name == "events" {
			r.Components[i].Spec["subscriptions"] = []any{map[string]any{"protocol": "lambda", "endpoint": "arn:aws:lambda:us-east-1:123456789012:function:orders-audit"}}
		}
	}
	if err := Validate(r); err == nil || !strings.Contains(err.Error(), `component "events": spec.subscriptions[0].endpoint: the function is in region us-east-1, the stack deploys to eu-west-1 (spec.provider.region)`) {
		t.Errorf("function of another region: %v", err)
	}

	for _, bad := range []string{"orders-audit", "arn:aws:sqs:eu-west-1:123456789012:q", "https://example.com/x"} {
		for i := range r.Components {
			if r.Components[i].Name == "events" {
				r.Components[i].Spec["subscriptions"] = []any{map[string]any{"protocol": "lambda", "endpoint": bad}}
			}
		}
		err := Validate(r)
		if err == nil || !strings.Contains(err.Error(), `component "events" (Topic): spec.subscriptions[0].endpoint: "`+bad+`" is not a Lambda function ARN`) {
			t.Errorf("lambda endpoint %q: %v", bad, err)
		}
	}
}

// TestBucketDeleteGuarded: a Bucket is made with forceDestroy (a delete
// empties it), so the only thing between a user and its data is the
// guard: the bucket is protected in the engine whenever the run was not
// allowed to delete or replace data (Options.Protect), whatever spec it
// has, and the planner marks its removal, a new name and a kind change
// as delete/replace of data (--allow-destroy / --allow-replace).
func TestBucketDeleteGuarded(t *testing.T) {
	for _, spec := range []map[string]any{{}, {"name": "acme-assets", "versioning": false}} {
		r := fullStack()
		r.Components[6].Spec = spec
		res, err := tryRunWith(r, target.Options{Protect: true})
		if err != nil {
			t.Fatal(err)
		}
		b := res.find(t, tBucket, "assets")
		if !b.Protect || !prop(b, "forceDestroy").BoolValue() {
			t.Errorf("spec %v: bucket protect=%v forceDestroy=%v, want both", spec, b.Protect, prop(b, "forceDestroy").BoolValue())
		}
	}
	if ok, _ := replace.Forces(stacks.KindBucket, "name"); !ok {
		t.Errorf("a new bucket name does not force replacement in the plan")
	}
	if !stacks.KindBucket.HoldsData() {
		t.Errorf("a Bucket does not hold data: its deletion would not need --allow-destroy")
	}
}

// TestWorkloadKindChangeUpdatesService: a Worker that becomes a
// MicroService (or back) keeps its ECS service - same logical name and
// type, under a component aliased to the old kind - and only gains (or
// loses) serviceRegistries and the service discovery entry. ECS updates
// a service's registries in place (UpdateService, since 2022; pulumi-aws
// v6 has no replace on the field), so nothing of the component is
// re-created and no data is at stake: the plan lists the kind change as
// a replace (reason "kind", conservative) without data loss, so apply
// needs no --allow-replace, which matches what the engine does.
func TestWorkloadKindChangeUpdatesService(t *testing.T) {
	before := fullStack()
	after := fullStack()
	for i := range after.Components {
		c := &after.Components[i]
		if c.Name == "worker" {
			c.Kind = stacks.KindMicroService
			delete(c.Spec, "healthCheck")
		}
	}
	ra, rb := run(t, before), run(t, after)
	svcA, svcB := ra.find(t, tService, "worker"), rb.find(t, tService, "worker")
	if !prop(svcA, "serviceRegistries").IsNull() {
		t.Errorf("Worker service has registries: %v", prop(svcA, "serviceRegistries"))
	}
	if prop(svcB, "serviceRegistries.registryArn").StringValue() == "" {
		t.Errorf("MicroService service has no registry: %v", svcB.Inputs)
	}
	if prop(svcA, "name").StringValue() != prop(svcB, "name").StringValue() {
		t.Errorf("service renamed: %v -> %v", prop(svcA, "name"), prop(svcB, "name"))
	}
	// Same logical resource under a parent aliased to the old kind: the
	// engine updates it.
	var parent *registered
	for _, x := range rb.res {
		if x.URN == svcB.Parent {
			parent = x
		}
	}
	if parent == nil || parent.Type != "panka:aws:MicroService" || !slices.Contains(parent.AliasTypes, "panka:aws:Worker") {
		t.Fatalf("service parent = %+v", parent)
	}
	// Every resource the Worker had, the MicroService has under the same
	// type and logical name.
	names := map[string]bool{}
	for _, x := range rb.byComponent()["worker"] {
		names[x.Type+" "+x.Name] = true
	}
	for _, x := range ra.byComponent()["worker"] {
		if !names[x.Type+" "+x.Name] {
			t.Errorf("%s %s is gone after the kind change", x.Type, x.Name)
		}
	}

	p := planner.Plan(after, before, planner.Options{})
	for _, ch := range p.Changes {
		if ch.Component == "worker" && (ch.Action != planner.ActionReplace || ch.DataLoss || ch.PreviousKind != stacks.KindWorker) {
			t.Errorf("plan of the kind change = %+v", ch)
		}
	}
}

// TestTaskRoleReadsReferencedDatabaseSecret: an application that reads a
// Database's master secret at run time (its ARN in env), as it must to
// follow RDS's rotation of that password, may read exactly that secret;
// one given to ECS in spec.secrets stays the execution role's.
func TestTaskRoleReadsReferencedDatabaseSecret(t *testing.T) {
	r := fullStack()
	r.Components[1].Spec["env"] = map[string]any{"DB_SECRET_ARN": "${users-db.secretArn}"}
	res := run(t, r)
	b, _ := json.Marshal(decodeObject(t, prop(res.find(t, tRolePolicy, "worker-task-access"), "policy")))
	for _, want := range []string{`"secretsmanager:GetSecretValue"`, `"Resource":["arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-users-db-AbCdEf"]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("worker task access policy %s lacks %s", b, want)
		}
	}
	b, _ = json.Marshal(decodeObject(t, prop(res.find(t, tRolePolicy, "api-task-access"), "policy")))
	if strings.Contains(string(b), "secretsmanager") {
		t.Errorf("api's task role may read the database secret it only gives ECS (spec.secrets): %s", b)
	}
}

// TestSecurityGroupDescriptions: EC2 takes a security group's description
// and its rules' descriptions in a-zA-Z0-9, space and ._-:/()#,@[]+=&;{}!$*
// only, at most 255 characters: the database and cache groups' ingress
// rule said "postgres from the stack's services and jobs", whose
// apostrophe the provider refused, so no Database or Cache could deploy.
func TestSecurityGroupDescriptions(t *testing.T) {
	ec2Text := regexp.MustCompile(`^[A-Za-z0-9 ._:/()#,@\[\]+=&;{}!$*-]{0,255}$`)
	r := fullStack()
	// The longest names panka accepts.
	long := func(c byte) string { return strings.Repeat(string(c), stacks.MaxNameLength) }
	r.Stack, r.Environment = long('s'), long('e')
	res := run(t, r)
	groups := 0
	for _, x := range res.res {
		if x.Type != "aws:ec2/securityGroup:SecurityGroup" {
			continue
		}
		groups++
		if d := prop(x, "description").StringValue(); !ec2Text.MatchString(d) {
			t.Errorf("security group %s: description %q is not one EC2 takes", x.Name, d)
		}
		for _, dir := range []string{"ingress", "egress"} {
			v := prop(x, dir)
			if !v.IsArray() {
				continue
			}
			for i, rule := range v.ArrayValue() {
				d := rule.ObjectValue()["description"]
				if d.IsString() && !ec2Text.MatchString(d.StringValue()) {
					t.Errorf("security group %s: %s[%d] description %q is not one EC2 takes", x.Name, dir, i, d.StringValue())
				}
			}
		}
	}
	if groups < 5 {
		t.Fatalf("%d security groups registered, want the workloads group and one for each service, job, database and cache", groups)
	}
}
