package aws

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"panka.dev/panka/deployer/target"
	"panka.dev/panka/deployer/target/aws/model"
	"panka.dev/panka/stacks"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(r *stacks.Resolved)
		wantErr []string // substrings, all must appear
	}{
		{"valid", func(r *stacks.Resolved) {}, nil},
		{"no region", func(r *stacks.Resolved) { r.Provider.Region = "" }, []string{`stack "orders" environment "prod": spec.provider.region is required`}},
		{"bad assume role", func(r *stacks.Resolved) { r.Provider.AssumeRole = "deployer" }, []string{"assumeRole \"deployer\" is not an IAM role ARN"}},
		{"no vpc", func(r *stacks.Resolved) { r.Provider.Network = nil }, []string{"network.vpcId is required", "network.privateSubnets is required", "network.listenerArn is required"}},
		{"one subnet for rds", func(r *stacks.Resolved) { r.Provider.Network.PrivateSubnets = []string{"subnet-a"} }, []string{"at least two availability zones"}},
		{"fargate size", func(r *stacks.Resolved) { r.Components[0].Spec["memory"] = int64(512) }, []string{`component "api" (MicroService): spec.memory: cpu 512 takes memory 1024-4096 MiB in steps of 1024, got 512`}},
		{"cpu not fargate", func(r *stacks.Resolved) { r.Components[1].Spec["cpu"] = int64(300) }, []string{"cpu 300 is not a Fargate size"}},
		{"cpu not a number", func(r *stacks.Resolved) { r.Components[1].Spec["cpu"] = "lots" }, []string{`spec.cpu: want Fargate CPU units`}},
		{"replicas float", func(r *stacks.Resolved) { r.Components[1].Spec["replicas"] = 1.5 }, []string{"spec.replicas: want a whole number, got number 1.5"}},
		{"no image", func(r *stacks.Resolved) { delete(r.Components[1].Spec, "image") }, []string{`component "worker" (Worker): spec.image: is required`}},
		{"log retention", func(r *stacks.Resolved) { r.Components[1].Spec["logRetentionDays"] = int64(10) }, []string{"10 is not a CloudWatch Logs retention"}},
		{"bad env name", func(r *stacks.Resolved) { r.Components[1].Spec["env"] = map[string]any{"1X": "y"} }, []string{"spec.env.1X: is not a valid environment variable name"}},
		// A secret known only by its hash (a model read back from state)
		// would be deployed with the hash as its value, as the local
		// target refuses too.
		{"hashed secret", func(r *stacks.Resolved) {
			r.Components[1].Spec["env"] = map[string]any{"TOKEN": "sensitive:hmac-sha256:v2:abc"}
		}, []string{`component "worker" (Worker): spec.env.TOKEN: the secret is only known by its hash here`}},
		{"env and secret clash", func(r *stacks.Resolved) {
			r.Components[0].Spec["secrets"].(map[string]any)["DB_HOST"] = "arn:aws:ssm:x:1:parameter/p"
		}, []string{"secrets.DB_HOST: is also set in env"}},
		{"health check timeout", func(r *stacks.Resolved) {
			r.Components[0].Spec["healthCheck"] = map[string]any{"path": "/", "interval": int64(5), "timeout": int64(10)}
		}, []string{"spec.healthCheck.timeout: want 2-120 seconds and less than the interval"}},
		{"autoscaling min>max", func(r *stacks.Resolved) {
			r.Components[0].Spec["autoscaling"] = map[string]any{"min": int64(5), "max": int64(2)}
		}, []string{"spec.autoscaling: want 0 <= min <= max"}},
		{"schedule both days", func(r *stacks.Resolved) { r.Components[2].Spec["schedule"] = "0 3 1 * 1" }, []string{"cannot restrict both day-of-month and day-of-week"}},
		{"schedule missing", func(r *stacks.Resolved) { delete(r.Components[2].Spec, "schedule") }, []string{`component "nightly" (CronJob): spec.schedule: is required`}},
		{"db engine", func(r *stacks.Resolved) { r.Components[3].Spec["engine"] = "oracle" }, []string{`spec.engine: want postgres or mysql, got "oracle"`}},
		{"db backups", func(r *stacks.Resolved) { r.Components[3].Spec["backupRetentionDays"] = int64(1) }, []string{"spec.backupRetentionDays: want 7-35 days"}},
		{"db storage", func(r *stacks.Resolved) { r.Components[3].Spec["storageGB"] = int64(5) }, []string{"spec.storageGB: want 20-65536"}},
		{"db name rules", func(r *stacks.Resolved) {
			r.Components[3].Name = "users--db"
			r.Components[0].Spec["env"] = map[string]any{}
			r.Components[0].Spec["secrets"] = map[string]any{}
		}, []string{`RDS instance identifier "orders-prod-users--db" must not contain "--"`}},
		{"cache nodes", func(r *stacks.Resolved) { r.Components[4].Spec["nodes"] = int64(9) }, []string{"spec.nodes: want 1-6"}},
		{"cache engine", func(r *stacks.Resolved) { r.Components[4].Spec["engine"] = "memcached" }, []string{"spec.engine: want redis or valkey"}},
		// The provider refuses these forms before any AWS call: they
		// passed validate and plan and failed in apply.
		{"redis major only", func(r *stacks.Resolved) {
			r.Components[4].Spec["engine"], r.Components[4].Spec["version"] = "redis", "7"
		}, []string{`component "sessions" (Cache): spec.version: redis takes <major>.<minor> from version 6 on (7.1, 6.2) and <major>.<minor>.<patch> before (5.0.6), got "7"`}},
		{"redis 7 with patch", func(r *stacks.Resolved) {
			r.Components[4].Spec["engine"], r.Components[4].Spec["version"] = "redis", "7.1.0"
		}, []string{`spec.version: redis takes <major>.<minor> from version 6 on`}},
		{"redis 5 without patch", func(r *stacks.Resolved) {
			r.Components[4].Spec["engine"], r.Components[4].Spec["version"] = "redis", "5.0"
		}, []string{`spec.version: redis takes`}},
		{"redis versions that fit", func(r *stacks.Resolved) {
			r.Components[4].Spec["engine"], r.Components[4].Spec["version"] = "redis", "6.x"
			r.Components = append(r.Components,
				stacks.Component{Name: "c2", Kind: stacks.KindCache, Spec: map[string]any{"version": "5.0.6"}},
				stacks.Component{Name: "c3", Kind: stacks.KindCache, Spec: map[string]any{"version": "6.2"}},
				stacks.Component{Name: "c4", Kind: stacks.KindCache, Spec: map[string]any{"engine": "valkey", "version": "8.0"}},
				stacks.Component{Name: "c5", Kind: stacks.KindCache, Spec: map[string]any{"engine": "valkey"}},
				// Majors after 9 (releases to come) take the same form.
				stacks.Component{Name: "c6", Kind: stacks.KindCache, Spec: map[string]any{"version": "10.0"}},
				stacks.Component{Name: "c7", Kind: stacks.KindCache, Spec: map[string]any{"engine": "valkey", "version": "12.1"}})
		}, nil},
		// panka encrypts every cache in transit and at rest, which
		// ElastiCache offers from redis 3.2.6 and 4.0.10 and valkey 7.2
		// on: it refused an older version's replication group in apply.
		{"redis without encryption", func(r *stacks.Resolved) {
			r.Components[4].Spec["engine"], r.Components[4].Spec["version"] = "redis", "3.2.10"
			r.Components = append(r.Components,
				stacks.Component{Name: "c2", Kind: stacks.KindCache, Spec: map[string]any{"version": "2.8.24"}},
				stacks.Component{Name: "c3", Kind: stacks.KindCache, Spec: map[string]any{"version": "4.0.9"}})
		}, []string{
			`component "sessions" (Cache): spec.version: redis 3.2.10 cannot encrypt in transit and at rest, which panka turns on for every cache, and ElastiCache would refuse the replication group in apply; use redis 4.0.10 or later (7.1, the default)`,
			`component "c2" (Cache): spec.version: redis 2.8.24 cannot encrypt`, `component "c3" (Cache): spec.version: redis 4.0.9 cannot encrypt`,
		}},
		{"redis versions that encrypt", func(r *stacks.Resolved) {
			r.Components[4].Spec["engine"], r.Components[4].Spec["version"] = "redis", "3.2.6"
			r.Components = append(r.Components,
				stacks.Component{Name: "c2", Kind: stacks.KindCache, Spec: map[string]any{"version": "4.0.10"}},
				stacks.Component{Name: "c3", Kind: stacks.KindCache, Spec: map[string]any{"version": "5.0.0"}})
		}, nil},
		{"valkey without encryption", func(r *stacks.Resolved) {
			r.Components[4].Spec["engine"], r.Components[4].Spec["version"] = "valkey", "7.1"
		}, []string{`component "sessions" (Cache): spec.version: valkey 7.1 cannot encrypt in transit and at rest, which panka turns on for every cache, and ElastiCache would refuse the replication group in apply; use valkey 7.2 or later (8.0, the default)`}},
		// An ALB rule holds at most 5 wildcards across its conditions:
		// the path counts twice (p and p/*), and /* adds one.
		{"listener rule wildcards", func(r *stacks.Resolved) {
			r.Components[0].Spec["loadBalancer"] = map[string]any{"host": "*.example.com", "path": "/v*/items?"}
		}, []string{`component "api" (MicroService): spec.loadBalancer.path: the listener rule would hold 6 wildcards (1 in the host, 5 in the path patterns), and an ALB rule holds at most 5 across its conditions: the load balancer would refuse it in apply`}},
		{"listener rule wildcards in the host", func(r *stacks.Resolved) {
			r.Components[0].Spec["loadBalancer"] = map[string]any{"host": "*.*.*.*.*.*.example.com"}
		}, []string{`spec.loadBalancer.host: the listener rule would hold 6 wildcards (6 in the host, 0 in the path patterns)`}},
		{"listener rule wildcards that fit", func(r *stacks.Resolved) {
			r.Components[0].Spec["loadBalancer"] = map[string]any{"host": "*.example.com", "path": "/v*/items"}
		}, nil},
		{"valkey major only", func(r *stacks.Resolved) {
			r.Components[4].Spec["engine"] = "valkey"
			r.Components[4].Spec["version"] = "8"
		}, []string{`component "sessions" (Cache): spec.version: valkey takes <major>.<minor> (8.0, 7.2), got "8"`}},
		{"valkey 6", func(r *stacks.Resolved) {
			r.Components[4].Spec["engine"] = "valkey"
			r.Components[4].Spec["version"] = "6.2"
		}, []string{`spec.version: valkey takes <major>.<minor> (8.0, 7.2), got "6.2"`}},
		// The provider puts the stack's tags on every resource: a tag AWS
		// refuses failed each resource's creation in apply.
		{"tag aws: prefix", func(r *stacks.Resolved) { r.Provider.Tags["aws:team"] = "x" }, []string{`spec.provider.tags: key "aws:team": the aws: prefix is reserved`}},
		{"tag value chars", func(r *stacks.Resolved) { r.Provider.Tags["owner"] = "a&b" }, []string{`spec.provider.tags: owner: value "a&b": use letters, digits`}},
		{"tag value long", func(r *stacks.Resolved) { r.Provider.Tags["note"] = strings.Repeat("x", 257) }, []string{"spec.provider.tags: note: the value is 257 characters; AWS allows 256"}},
		{"too many tags", func(r *stacks.Resolved) {
			for i := 0; i < 45; i++ {
				r.Provider.Tags[fmt.Sprintf("t%d", i)] = "v"
			}
		}, []string{"spec.provider.tags: 47 tags; AWS allows 50 per resource and panka adds 4, so at most 46"}},
		// The provider dropped a stack's "managed-by" for panka's own
		// without a word; IAM takes the keys of a role ignoring case, so
		// "Team" and "team" (or "Managed-By") could not go on its roles.
		{"tag panka sets", func(r *stacks.Resolved) { r.Provider.Tags["managed-by"] = "terraform" }, []string{`spec.provider.tags: key "managed-by": panka sets "managed-by" on every resource itself; remove it or choose another key`}},
		{"tag panka sets other case", func(r *stacks.Resolved) { r.Provider.Tags["Panka:Stack"] = "x" }, []string{`key "Panka:Stack": panka sets "panka:stack" on every resource itself`}},
		{"tag keys differ in case", func(r *stacks.Resolved) { r.Provider.Tags["Team"], r.Provider.Tags["team"] = "a", "b" }, []string{`spec.provider.tags: keys "Team" and "team" differ only in case: IAM takes tag keys of roles ignoring case`}},
		{"tag panka: prefix of its own", func(r *stacks.Resolved) { r.Provider.Tags["panka:owner"] = "ops" }, nil},
		{"tags accepted", func(r *stacks.Resolved) { r.Provider.Tags["Cost Center/Team"] = "ops@example.com +1:2=3_4.5-é" }, nil},
		// EC2 refuses security group names starting with "sg-", and every
		// group is named <stack>-<env>-...: a stack "sg-payments" passed
		// validate and plan and failed at apply.
		{"stack sg- prefix", func(r *stacks.Resolved) { r.Stack = "sg-payments" }, []string{`stack "sg-payments" environment "prod": security group name "sg-payments-prod-workloads" starts with "sg-"`, "rename the stack"}},
		{"stack sg", func(r *stacks.Resolved) { r.Stack = "sg" }, []string{`security group name "sg-prod-workloads" starts with "sg-"`}},
		{"stack sgx", func(r *stacks.Resolved) { r.Stack = "sgx" }, nil},
		// ECS refuses a task definition over 64 KiB at
		// RegisterTaskDefinition: many or large env values passed
		// validate and plan and failed in apply.
		{"task definition over 64 KiB", func(r *stacks.Resolved) {
			env := map[string]any{"CA_BUNDLE": strings.Repeat("x", 40000), "RULES": stacks.Sensitive{Clear: strings.Repeat("r", 20000)}}
			for i := 0; i < 100; i++ {
				env[fmt.Sprintf("FLAG_%03d", i)] = strings.Repeat("f", 60)
			}
			r.Components[1].Spec["env"] = env
		}, []string{`component "worker" (Worker): spec.env.CA_BUNDLE: the ECS task definition would be at least`, "over ECS's limit of 65536 (64 KiB)",
			"the largest values are env.CA_BUNDLE (40009 bytes), env.RULES (20005 bytes), env.FLAG_000 (68 bytes)", "list them under spec.secrets"}},
		{"task definition large command", func(r *stacks.Resolved) {
			r.Components[2].Spec["command"] = []any{"sh", "-c", strings.Repeat("echo hi; ", 8000)}
		}, []string{`component "nightly" (CronJob): spec.command[2]: the ECS task definition would be at least`}},
		// Just under the limit is fine, and a reference counts as its
		// text, not as an error.
		{"task definition under 64 KiB", func(r *stacks.Resolved) {
			r.Components[1].Spec["env"] = map[string]any{"CA_BUNDLE": strings.Repeat("x", 63000), "DB": "${users-db.address}"}
		}, nil},
		// A reference counts as the value it will hold, not as its
		// text: a database's port is "5432", shorter than
		// "${users-db.port}"; 100 of them still fit in the estimate,
		// whose 63,100 bytes leave room for the rest.
		{"task definition references count as their value", func(r *stacks.Resolved) {
			env := map[string]any{"CA_BUNDLE": strings.Repeat("x", 59000)}
			for i := 0; i < 100; i++ {
				env[fmt.Sprintf("P%02d", i)] = "${users-db.port}"
			}
			r.Components[1].Spec["env"] = env
		}, nil},
		// ... and counting references as nothing let a task definition
		// ECS refuses through: 62,000 bytes and 100 ports are 65,756.
		{"task definition over 64 KiB with its references", func(r *stacks.Resolved) {
			env := map[string]any{"CA_BUNDLE": strings.Repeat("x", 62000)}
			for i := 0; i < 100; i++ {
				env[fmt.Sprintf("P%02d", i)] = "${users-db.port}"
			}
			r.Components[1].Spec["env"] = env
		}, []string{`component "worker" (Worker): spec.env.CA_BUNDLE: the ECS task definition would be at least 65756 bytes, over ECS's limit of 65536`}},
		// A queue's ARN is known but for the account id (12 digits):
		// 40 of them take 3,800 bytes that counted as nothing.
		{"task definition over 64 KiB with queue ARNs", func(r *stacks.Resolved) {
			env := map[string]any{"CA_BUNDLE": strings.Repeat("x", 62000)}
			for i := 0; i < 40; i++ {
				env[fmt.Sprintf("Q%02d", i)] = "${orders-queue.arn}"
			}
			r.Components[1].Spec["env"] = env
		}, []string{`component "worker" (Worker): spec.env.CA_BUNDLE: the ECS task definition would be at least`}},
		// A secret given by a reference to a database's master secret
		// counts with its ARN in the execution role policy: without
		// them it fits.
		{"secrets policy over the IAM limit with database secrets", func(r *stacks.Resolved) {
			sec := map[string]any{}
			for i := 0; i < 100; i++ {
				sec[fmt.Sprintf("S%03d", i)] = fmt.Sprintf("arn:aws:ssm:eu-west-1:123456789012:parameter/orders/prod/setting-%03d", i)
			}
			for i := 0; i < 40; i++ {
				db := fmt.Sprintf("db-%02d", i)
				r.Components = append(r.Components, stacks.Component{Name: db, Kind: stacks.KindDatabase, Spec: map[string]any{}})
				sec[fmt.Sprintf("D%02d", i)] = "${" + db + ".secretArn}:password::"
			}
			r.Components[1].Spec["secrets"] = sec
			r.Components[1].Spec["env"] = map[string]any{}
		}, []string{`component "worker" (Worker): spec.secrets: the execution role policy that lets ECS read the 140 secrets would be at least`}},
		{"secrets policy under the IAM limit without them", func(r *stacks.Resolved) {
			sec := map[string]any{}
			for i := 0; i < 100; i++ {
				sec[fmt.Sprintf("S%03d", i)] = fmt.Sprintf("arn:aws:ssm:eu-west-1:123456789012:parameter/orders/prod/setting-%03d", i)
			}
			r.Components[1].Spec["secrets"] = sec
			r.Components[1].Spec["env"] = map[string]any{}
		}, nil},
		// IAM holds at most 10,240 characters of inline policy per
		// role: the execution role lists every secret's ARN, and apply
		// failed at it (LimitExceeded) with ~130 secrets.
		{"secrets policy over the IAM limit", func(r *stacks.Resolved) {
			sec := map[string]any{}
			for i := 0; i < 150; i++ {
				sec[fmt.Sprintf("S%03d", i)] = fmt.Sprintf("arn:aws:ssm:eu-west-1:123456789012:parameter/orders/prod/setting-%03d", i)
			}
			r.Components[1].Spec["secrets"] = sec
			r.Components[1].Spec["env"] = map[string]any{}
		}, []string{`component "worker" (Worker): spec.secrets: the execution role policy that lets ECS read the 150 secrets would be at least`, "over IAM's limit of 10240", "LimitExceeded", "keep related values in one Secrets Manager secret"}},
		// Keys of one secret share its ARN: one policy entry.
		{"many keys of one secret", func(r *stacks.Resolved) {
			sec := map[string]any{}
			for i := 0; i < 150; i++ {
				sec[fmt.Sprintf("S%03d", i)] = fmt.Sprintf("arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-prod-AbCdEf:key%03d::", i)
			}
			r.Components[1].Spec["secrets"] = sec
			r.Components[1].Spec["env"] = map[string]any{}
		}, nil},
		{"queue retention", func(r *stacks.Resolved) { r.Components[5].Spec["retentionPeriod"] = "30d" }, []string{"spec.retentionPeriod: want 60-1209600 seconds"}},
		{"queue max receives", func(r *stacks.Resolved) { r.Components[5].Spec["deadLetter"] = map[string]any{"maxReceives": int64(0)} }, []string{"spec.deadLetter.maxReceives: want 1-1000"}},
		{"bucket name", func(r *stacks.Resolved) { r.Components[6].Spec["name"] = "Bad_Name" }, []string{`bucket name "Bad_Name" must hold only lowercase letters`}},
		// S3 refuses names with a reserved prefix or suffix, at apply;
		// validate names the rule.
		{"bucket xn-- prefix", func(r *stacks.Resolved) { r.Components[6].Spec["name"] = "xn--orders" }, []string{`component "assets" (Bucket): spec.name: bucket name "xn--orders" starts with "xn--", which S3 reserves for internationalized (punycode) domain names`}},
		{"bucket sthree- prefix", func(r *stacks.Resolved) { r.Components[6].Spec["name"] = "sthree-orders" }, []string{`starts with "sthree-", which S3 reserves`}},
		{"bucket amzn-s3-demo- prefix", func(r *stacks.Resolved) { r.Components[6].Spec["name"] = "amzn-s3-demo-orders" }, []string{`starts with "amzn-s3-demo-", which S3 reserves for the example names`}},
		{"bucket -s3alias suffix", func(r *stacks.Resolved) { r.Components[6].Spec["name"] = "orders-s3alias" }, []string{`ends with "-s3alias", which S3 reserves for access point alias names`}},
		{"bucket --ol-s3 suffix", func(r *stacks.Resolved) { r.Components[6].Spec["name"] = "orders--ol-s3" }, []string{`ends with "--ol-s3", which S3 reserves for Object Lambda`}},
		{"bucket .mrap suffix", func(r *stacks.Resolved) { r.Components[6].Spec["name"] = "orders.mrap" }, []string{`ends with ".mrap", which S3 reserves for Multi-Region Access Point names`}},
		{"bucket --x-s3 suffix", func(r *stacks.Resolved) { r.Components[6].Spec["name"] = "orders--x-s3" }, []string{`ends with "--x-s3", which S3 reserves for directory bucket names`}},
		{"bucket --table-s3 suffix", func(r *stacks.Resolved) { r.Components[6].Spec["name"] = "orders--table-s3" }, []string{`ends with "--table-s3", which S3 reserves for S3 Tables`}},
		{"bucket affix inside the name", func(r *stacks.Resolved) { r.Components[6].Spec["name"] = "orders-xn--sthree-s3alias-assets" }, nil},
		// A derived name starts with the stack name.
		{"derived bucket reserved prefix", func(r *stacks.Resolved) { r.Stack = "sthree" }, []string{`spec.name (derived from stack, environment and component names; rename one of them to change it): bucket name "sthree-prod-assets-123456789012" starts with "sthree-"`}},
		{"bucket ip name", func(r *stacks.Resolved) { r.Components[6].Spec["name"] = "192.168.1.1" }, []string{"must not look like an IP address"}},
		{"unknown reference", func(r *stacks.Resolved) { r.Components[1].Spec["env"] = map[string]any{"X": "${nope.url}"} }, []string{`reference ${nope.url} names unknown component "nope"`}},
		{"unknown output", func(r *stacks.Resolved) { r.Components[1].Spec["env"] = map[string]any{"X": "${users-db.password}"} }, []string{"reference ${users-db.password}: a Database has outputs endpoint, address, port, secretArn"}},
		{"self reference", func(r *stacks.Resolved) { r.Components[1].Spec["env"] = map[string]any{"X": "${worker.serviceName}"} }, []string{"refers to the component itself"}},
		{"reference in a size", func(r *stacks.Resolved) { r.Components[3].Spec["instanceClass"] = "${sessions.endpoint}" }, []string{"spec.instanceClass: references such as ${sessions.endpoint} are not allowed here"}},
		{"unknown dependsOn", func(r *stacks.Resolved) { r.Components[2].DependsOn = []string{"ghost"} }, []string{`dependsOn names unknown component "ghost"`}},
		// Escaped text is no reference: no unknown component, no cycle,
		// allowed in fields that take no references.
		{"escaped text", func(r *stacks.Resolved) {
			r.Components[1].Spec["env"] = map[string]any{"X": "$${nope.url}", "Y": "$${worker.serviceName}"}
			r.Components[3].Spec["instanceClass"] = "db.t4g.micro"
		}, nil},
		{"cycle", func(r *stacks.Resolved) {
			r.Components[1].Spec["env"] = map[string]any{"X": "${nightly.ruleName}"}
			r.Components[2].Spec["env"] = map[string]any{"Y": "${worker.serviceName}"}
		}, []string{"dependency cycle: nightly -> worker -> nightly"}},
		// SNS delivers a FIFO topic to standard queues too (best-effort
		// order): only a standard topic and a FIFO queue do not go.
		{"fifo topic to a standard queue", func(r *stacks.Resolved) {
			r.Components[7].Spec["fifo"] = true
			r.Components[7].Spec["subscriptions"] = []any{map[string]any{"queue": "orders-queue"}}
		}, nil},
		{"standard topic to a fifo queue", func(r *stacks.Resolved) { r.Components[5].Spec["fifo"] = true }, []string{`component "events": spec.subscriptions[0]: a standard topic cannot deliver to the FIFO queue "orders-queue" (SNS delivers to a FIFO queue from FIFO topics only); make the topic fifo, or the queue standard`}},
		// A FIFO topic delivers to SQS queues only: SNS refused an
		// https, lambda, email or sms subscription to it in apply.
		{"fifo topic to https", func(r *stacks.Resolved) {
			r.Components[7].Spec["fifo"] = true
			r.Components[7].Spec["subscriptions"] = []any{map[string]any{"protocol": "https", "endpoint": "https://hooks.example.com/orders"}}
		}, []string{`component "events" (Topic): spec.subscriptions[0].protocol: a FIFO topic delivers to SQS queues only, not to https endpoints; subscribe a Queue component`}},
		{"fifo topic to lambda", func(r *stacks.Resolved) {
			r.Components[7].Spec["fifo"] = true
			r.Components[7].Spec["subscriptions"] = []any{map[string]any{"protocol": "lambda", "endpoint": "arn:aws:lambda:eu-west-1:123456789012:function:audit"}}
		}, []string{`spec.subscriptions[0].protocol: a FIFO topic delivers to SQS queues only, not to lambda endpoints`}},
		{"fifo topic to an sqs endpoint", func(r *stacks.Resolved) {
			r.Components[7].Spec["fifo"] = true
			r.Components[7].Spec["subscriptions"] = []any{map[string]any{"protocol": "sqs", "endpoint": "arn:aws:sqs:eu-west-1:123456789012:audit"}}
		}, nil},
		{"subscription to non-queue", func(r *stacks.Resolved) {
			r.Components[7].Spec["subscriptions"] = []any{map[string]any{"queue": "assets"}}
		}, []string{`"assets" is a Bucket, not a Queue`}},
		{"subscription shape", func(r *stacks.Resolved) {
			r.Components[7].Spec["subscriptions"] = []any{map[string]any{"protocol": "https"}}
		}, []string{"spec.subscriptions[0]: want {queue: <component>} or both protocol and endpoint"}},
		// The listener rule's path pattern takes 128 characters of a
		// fixed set: AWS refused the rule in apply.
		{"lb path with space", func(r *stacks.Resolved) {
			r.Components[0].Spec["loadBalancer"].(map[string]any)["path"] = "/api v2"
		}, []string{`component "api" (MicroService): spec.loadBalancer.path: "/api v2": an ALB path pattern cannot hold " "`}},
		{"lb path with braces", func(r *stacks.Resolved) {
			r.Components[0].Spec["loadBalancer"].(map[string]any)["path"] = "/orders/{id}"
		}, []string{`an ALB path pattern cannot hold "{"`}},
		{"lb path too long", func(r *stacks.Resolved) {
			r.Components[0].Spec["loadBalancer"].(map[string]any)["path"] = "/" + strings.Repeat("a", 126)
		}, []string{"spec.loadBalancer.path: is 127 characters; an ALB path pattern holds at most 128"}},
		{"lb path longest", func(r *stacks.Resolved) {
			r.Components[0].Spec["loadBalancer"].(map[string]any)["path"] = "/" + strings.Repeat("a", 125) + "/"
		}, nil},
		// ECS reads secrets from SSM and Secrets Manager only, and a
		// parameter path must be fully qualified: checked only when a
		// task started, after a successful deployment.
		{"secret from another service", func(r *stacks.Resolved) {
			r.Components[1].Spec["secrets"] = map[string]any{"K": "arn:aws:kms:eu-west-1:123456789012:key/abc"}
		}, []string{`component "worker" (Worker): spec.secrets.K: is not an SSM parameter ARN`}},
		{"secret path without slash", func(r *stacks.Resolved) {
			r.Components[1].Spec["secrets"] = map[string]any{"K": stacks.Sensitive{Clear: "orders/db-password", Hash: "sensitive:x"}}
		}, []string{`spec.secrets.K: an SSM parameter name with a path must start with "/"`}},
		{"env secret path without slash", func(r *stacks.Resolved) {
			r.Components[1].Spec["env"] = map[string]any{"K": map[string]any{"secret": "orders/db-password"}}
		}, []string{`spec.env.K.secret: an SSM parameter name with a path must start with "/"`}},
		// stacks accepts ssm:<name>; ECS does not, and the policy
		// granted parameter/ssm:/orders/c, which names nothing.
		{"secret with ssm: prefix", func(r *stacks.Resolved) {
			r.Components[1].Spec["secrets"] = map[string]any{"K": "ssm:/orders/c"}
		}, []string{`spec.secrets.K: ECS takes an SSM parameter as its name (/orders/db-password) or ARN, not as ssm:<name>: remove the ssm: prefix`}},
		{"secret forms accepted", func(r *stacks.Resolved) {
			r.Components[1].Spec["secrets"] = map[string]any{
				"A": "/orders/a", "B": "plain-name", "C": "arn:aws:ssm:eu-west-1:1:parameter/c",
				"D": "arn:aws-cn:secretsmanager:cn-north-1:1:secret:d-AbCdEf:key::",
			}
		}, nil},
		// SNS refuses a firehose subscription without a subscription
		// role, which the spec cannot give: it failed only in apply.
		{"firehose subscription", func(r *stacks.Resolved) {
			r.Components[7].Spec["subscriptions"] = []any{map[string]any{"protocol": "firehose", "endpoint": "arn:aws:firehose:eu-west-1:123456789012:deliverystream/orders"}}
		}, []string{`component "events" (Topic): spec.subscriptions[0].protocol: the aws target cannot subscribe a Firehose delivery stream: SNS needs a subscription role`}},
		// An endpoint that is a reference passes the endpoint format
		// checks (its value is known at deploy time); one to an output
		// of the wrong form was refused by SNS in apply.
		{"sqs endpoint is a queue url", func(r *stacks.Resolved) {
			r.Components[7].Spec["subscriptions"] = []any{map[string]any{"protocol": "sqs", "endpoint": "${orders-queue.url}"}}
		}, []string{`component "events": spec.subscriptions[0].endpoint: ${orders-queue.url} is the url output of a Queue; an sqs subscription delivers to a queue's ARN: write {queue: orders-queue} (or ${orders-queue.arn})`}},
		{"sqs endpoint is a database endpoint", func(r *stacks.Resolved) {
			r.Components[7].Spec["subscriptions"] = []any{map[string]any{"protocol": "sqs", "endpoint": "${users-db.endpoint}"}}
		}, []string{`spec.subscriptions[0].endpoint: ${users-db.endpoint} is the endpoint output of a Database; an sqs subscription delivers to a queue's ARN: subscribe a Queue component`}},
		{"lambda endpoint is a queue arn", func(r *stacks.Resolved) {
			r.Components[7].Spec["subscriptions"] = []any{map[string]any{"protocol": "lambda", "endpoint": "${orders-queue.arn}"}}
		}, []string{`spec.subscriptions[0].endpoint: ${orders-queue.arn} is the arn output of a Queue; a lambda subscription delivers to a Lambda function's ARN, which no component of the stack outputs`}},
		{"email endpoint is a queue name", func(r *stacks.Resolved) {
			r.Components[7].Spec["subscriptions"] = []any{map[string]any{"protocol": "email", "endpoint": "${orders-queue.name}"}}
		}, []string{`spec.subscriptions[0].endpoint: ${orders-queue.name} is the name output of a Queue; an email subscription delivers to an email address, which no component of the stack outputs`}},
		{"https endpoint is a bucket name", func(r *stacks.Resolved) {
			r.Components[7].Spec["subscriptions"] = []any{map[string]any{"protocol": "https", "endpoint": "${assets.name}"}}
		}, []string{`spec.subscriptions[0].endpoint: ${assets.name} is the name output of a Bucket, not the https:// URL an https subscription posts to`}},
		{"endpoint references that fit", func(r *stacks.Resolved) {
			r.Components[7].Spec["subscriptions"] = []any{
				map[string]any{"protocol": "sqs", "endpoint": "${orders-queue.arn}"},
				map[string]any{"protocol": "https", "endpoint": "${api.url}"},
				map[string]any{"protocol": "https", "endpoint": "https://hooks.example.com/${orders-queue.name}"},
			}
		}, nil},
		{"duplicate priority", func(r *stacks.Resolved) {
			r.Components = append(r.Components, stacks.Component{Name: "web", Kind: stacks.KindMicroService, Spec: map[string]any{
				"image": "web", "loadBalancer": map[string]any{"path": "/", "priority": int64(7)}}})
			r.Components[0].Spec["loadBalancer"].(map[string]any)["priority"] = int64(7)
		}, []string{`components "api" and "web" both set spec.loadBalancer.priority 7`}},
		// ECS runs a check command without a shell: these passed and
		// failed every check, so ECS replaced every task as unhealthy.
		{"worker check is one shell line", func(r *stacks.Resolved) {
			r.Components[1].Spec["healthCheck"] = map[string]any{"command": []any{"curl -f http://localhost/health || exit 1"}}
		}, []string{`component "worker" (Worker): spec.healthCheck.command: runs a program named "curl -f http://localhost/health || exit 1": the list is a program and its arguments, run without a shell; write [sh, -c, "curl -f http://localhost/health || exit 1"] to run it in a shell`}},
		{"worker check with a shell operator", func(r *stacks.Resolved) {
			r.Components[1].Spec["healthCheck"] = map[string]any{"command": []any{"CMD", "curl", "-f", "http://localhost/health", "||", "exit", "1"}}
		}, []string{`spec.healthCheck.command: "||" is a shell operator, but the list runs without a shell: curl would get it as an argument; write [sh, -c, "curl -f http://localhost/health || exit 1"]`}},
		{"worker checks that run", func(r *stacks.Resolved) {
			r.Components[1].Spec["healthCheck"] = map[string]any{"command": []any{"sh", "-c", "curl -f http://localhost/health || exit 1"}}
			r.Components = append(r.Components,
				stacks.Component{Name: "w2", Kind: stacks.KindWorker, Spec: map[string]any{"image": "w",
					"healthCheck": map[string]any{"command": []any{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}}}},
				stacks.Component{Name: "w3", Kind: stacks.KindWorker, Spec: map[string]any{"image": "w",
					"healthCheck": map[string]any{"command": []any{"/bin/healthcheck", "--port", "8080"}}}})
		}, nil},
		{"worker check without command", func(r *stacks.Resolved) { r.Components[1].Spec["healthCheck"] = map[string]any{"interval": int64(30)} }, []string{"spec.healthCheck.command: is required"}},
		{"unknown kind", func(r *stacks.Resolved) { r.Components[1].Kind = "Lambda" }, []string{`spec.kind: "Lambda" is not a component kind`}},
		{"every problem at once", func(r *stacks.Resolved) {
			r.Provider.Region = ""
			r.Components[3].Spec["engine"] = "oracle"
			r.Components[4].Spec["nodes"] = int64(0)
		}, []string{"region is required", "want postgres or mysql", "spec.nodes: want 1-6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fullStack()
			tt.edit(r)
			err := Validate(r)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: no error, want %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

// TestRegisterRefusesInvalid: nothing is registered for an invalid model.
func TestRegisterRefusesInvalid(t *testing.T) {
	r := fullStack()
	r.Components[3].Spec["engine"] = "oracle"
	m := &mocks{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		return New().Register(ctx, r, target.Options{})
	}, pulumi.WithMocks("panka", "orders-prod", m))
	if err == nil || !strings.Contains(err.Error(), "want postgres or mysql") {
		t.Fatalf("Register: %v", err)
	}
	if len(m.res) != 0 {
		t.Errorf("registered %d resources for an invalid model", len(m.res))
	}

	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		return New().Register(ctx, fullStack(), target.Options{Only: []string{"ghost"}})
	}, pulumi.WithMocks("panka", "orders-prod", &mocks{}))
	if err == nil || !strings.Contains(err.Error(), `--target-component "ghost": no such component`) {
		t.Fatalf("Register with unknown Only: %v", err)
	}
}

func TestRegisterPublic(t *testing.T) {
	// Through the public API, as the deployer calls it.
	m := &mocks{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		return New().Register(ctx, fullStack(), target.Options{Only: []string{"api"}})
	}, pulumi.WithMocks("panka", "orders-prod", m))
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if New().Name() != "aws" {
		t.Errorf("Name = %q", New().Name())
	}
	if len(m.res) < 40 {
		t.Errorf("registered only %d resources", len(m.res))
	}
}

func TestOrder(t *testing.T) {
	p, err := model.New(fullStack())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p.Order {
		got = append(got, c.C.Name)
	}
	want := []string{"assets", "nightly", "orders-queue", "events", "sessions", "users-db", "api", "worker"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
	if d := p.Comps["events"].Deps; !reflect.DeepEqual(d, []string{"orders-queue"}) {
		t.Errorf("topic deps = %v", d)
	}
	if d := p.Comps["api"].Deps; !reflect.DeepEqual(d, []string{"orders-queue", "users-db"}) {
		t.Errorf("api deps = %v", d)
	}
}

func TestPriorities(t *testing.T) {
	r := fullStack()
	for _, n := range []string{"a", "b", "c", "d"} {
		r.Components = append(r.Components, stacks.Component{Name: n, Kind: stacks.KindMicroService, Spec: map[string]any{
			"image": "x", "loadBalancer": map[string]any{"path": "/" + n}}})
	}
	p1, err := model.New(r)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := model.New(r)
	seen := map[int]string{}
	for name, c := range p1.Comps {
		if c.Priority == 0 {
			continue
		}
		if other, dup := seen[c.Priority]; dup {
			t.Errorf("%s and %s share priority %d", name, other, c.Priority)
		}
		seen[c.Priority] = name
		if p2.Comps[name].Priority != c.Priority {
			t.Errorf("%s: priority not deterministic", name)
		}
	}
	if len(seen) != 5 {
		t.Errorf("priorities = %v", seen)
	}
	// A different environment gets different priorities (shared listener).
	r.Environment = "staging"
	p3, _ := model.New(r)
	if p3.Comps["api"].Priority == p1.Comps["api"].Priority {
		t.Errorf("api has priority %d in both environments", p1.Comps["api"].Priority)
	}
}

func TestSecretForms(t *testing.T) {
	r := fullStack()
	r.Components[1].Spec["env"] = map[string]any{
		"A": map[string]any{"secret": "arn:aws:ssm:eu-west-1:123456789012:parameter/a"},
	}
	r.Components[1].Spec["secrets"] = map[string]any{
		"B": map[string]any{"valueFrom": "/orders/b"},
		"C": stacks.Sensitive{Clear: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:c-AbCdEf", Hash: "sensitive:c"},
	}
	res := run(t, r)
	td := res.find(t, tTaskDef, "worker-task")
	cd := containerDefs(t, td)[0]
	want := []model.NameValueFrom{
		{Name: "A", ValueFrom: "arn:aws:ssm:eu-west-1:123456789012:parameter/a"},
		{Name: "B", ValueFrom: "/orders/b"},
		{Name: "C", ValueFrom: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:c-AbCdEf"},
	}
	if !reflect.DeepEqual(cd.Secrets, want) || len(cd.Environment) != 0 {
		t.Errorf("secrets = %v, environment = %v", cd.Secrets, cd.Environment)
	}
	if !td.Inputs["containerDefinitions"].IsSecret() {
		t.Errorf("a Sensitive secret reference must keep the definitions secret")
	}
	pol := res.find(t, tRolePolicy, "worker-exec-secrets")
	if !pol.Inputs["policy"].IsSecret() {
		t.Errorf("the policy built from a Sensitive ARN is not secret")
	}
	doc := prop(pol, "policy").StringValue()
	for _, w := range []string{"arn:aws:ssm:eu-west-1:123456789012:parameter/orders/b", "parameter/a", "secret:c-AbCdEf"} {
		if !strings.Contains(doc, w) {
			t.Errorf("policy %s lacks %s", doc, w)
		}
	}
}

// TestSecretsPolicyPartialARN: a Secrets Manager secret given by its
// partial ARN (no random suffix) is granted with the "-??????" wildcard
// IAM needs to match the full ARN; a full ARN and a JSON-key form are
// granted exactly.
func TestSecretsPolicyPartialARN(t *testing.T) {
	doc := model.SecretsPolicy([]string{
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-password",
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-AbCdEf:token::",
	}, "eu-west-1", "123456789012")
	want := []string{
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-AbCdEf",
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-password",
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-password-??????",
	}
	if len(doc.Statement) != 1 || !reflect.DeepEqual(doc.Statement[0].Resource, want) {
		t.Errorf("statements = %+v\nwant one granting %v", doc.Statement, want)
	}
}

// TestComponentProblemsNameTheirFile: a problem found while wiring a
// component (its dependsOn, references, subscriptions) names the
// component's file, so validate reports it there and not at stack.yaml.
func TestComponentProblemsNameTheirFile(t *testing.T) {
	r := fullStack()
	r.Components[7].File = "stacks/orders/infra/events.yaml"
	r.Components[7].Spec["subscriptions"] = []any{
		map[string]any{"queue": "orders-queue"},
		map[string]any{"protocol": "sqs", "endpoint": "${orders-queue.arn}"},
	}
	err := model.Validate(r)
	var me *model.Error
	if !errors.As(err, &me) || me.File != "stacks/orders/infra/events.yaml" || !strings.Contains(me.Msg, `component "events": spec.subscriptions[1] delivers to queue "orders-queue"`) {
		t.Fatalf("Validate: %v (as *model.Error: %+v)", err, me)
	}
}

// TestDuplicateRoutes: two load-balanced services routing the same host
// and path would split nothing: the listener sends it all to the rule of
// lower priority. It is refused, naming both and the file.
func TestDuplicateRoutes(t *testing.T) {
	r := fullStack()
	r.Components = append(r.Components,
		stacks.Component{Name: "web", Kind: stacks.KindMicroService, File: "stacks/orders/services/web/service.yaml", Spec: map[string]any{
			"image": "x", "loadBalancer": map[string]any{"host": "API.example.com", "path": "/v1/"}}},
		stacks.Component{Name: "www", Kind: stacks.KindMicroService, Spec: map[string]any{
			"image": "x", "loadBalancer": map[string]any{"path": "/"}}},
		stacks.Component{Name: "www2", Kind: stacks.KindMicroService, Spec: map[string]any{
			"image": "x", "loadBalancer": map[string]any{"path": "/", "host": "${api.url}"}}},
	)
	err := model.Validate(r)
	want := `stacks/orders/services/web/service.yaml: stack "orders" environment "prod": component "web": spec.loadBalancer routes host api.example.com, path /v1/, as component "api" does`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Validate: %v\nwant %s", err, want)
	}
	if strings.Contains(err.Error(), `"www"`) || strings.Contains(err.Error(), `"www2"`) {
		t.Errorf("distinct routes refused: %v", err)
	}
}

// TestPrioritiesBySpecificity: the listener evaluates rules by priority,
// lowest first, so within a stack a rule whose path lies under another's
// (/api/v2 under /api under /) must come first. Priorities derived from a
// hash alone put / (matching /*) before /api for some names, and every
// /api request went to the / service.
func TestPrioritiesBySpecificity(t *testing.T) {
	for _, env := range []string{"dev", "staging", "prod", "qa", "eu", "us"} {
		r := fullStack()
		r.Environment = env
		r.Components = []stacks.Component{
			{Name: "web", Kind: stacks.KindMicroService, Spec: map[string]any{"image": "x", "loadBalancer": map[string]any{"path": "/"}}},
			{Name: "api", Kind: stacks.KindMicroService, Spec: map[string]any{"image": "x", "loadBalancer": map[string]any{"path": "/api"}}},
			{Name: "api-v2", Kind: stacks.KindMicroService, Spec: map[string]any{"image": "x", "loadBalancer": map[string]any{"path": "/api/v2/"}}},
			{Name: "admin", Kind: stacks.KindMicroService, Spec: map[string]any{"image": "x", "loadBalancer": map[string]any{"path": "/", "host": "admin.example.com"}}},
		}
		p, err := model.New(r)
		if err != nil {
			t.Fatal(err)
		}
		pr := func(n string) int { return p.Comps[n].Priority }
		if !(pr("api-v2") < pr("api") && pr("api") < pr("web") && pr("admin") < pr("web")) {
			t.Errorf("%s: priorities api-v2 %d, api %d, admin %d, web %d: a more specific route must come first",
				env, pr("api-v2"), pr("api"), pr("admin"), pr("web"))
		}
		for _, n := range []string{"web", "api", "api-v2", "admin"} {
			if pr(n) < 1 || pr(n) > 50000 {
				t.Errorf("%s: %s priority %d out of 1-50000", env, n, pr(n))
			}
		}
	}
}

// TestSecretsPolicyAccount: a secret given by its bare SSM parameter name
// is granted in the account deployed to (the caller's, looked up once),
// not in every account ("*"): the execution role could read a
// same-named parameter of any account.
func TestSecretsPolicyAccount(t *testing.T) {
	r := fullStack()
	r.Components[1].Spec["secrets"] = map[string]any{
		"TOKEN": "/orders/token",
		"KEY":   "orders-key",
		"FULL":  "arn:aws:ssm:eu-west-1:111122223333:parameter/shared/x",
	}
	res, err := tryRunMocks(r, target.Options{}, &mocks{account: "444455556666"})
	if err != nil {
		t.Fatal(err)
	}
	pol := res.find(t, tRolePolicy, "worker-exec-secrets")
	var doc policyDoc
	if err := json.Unmarshal([]byte(prop(pol, "policy").StringValue()), &doc); err != nil {
		t.Fatal(err)
	}
	want := []any{
		"arn:aws:ssm:eu-west-1:111122223333:parameter/shared/x",
		"arn:aws:ssm:eu-west-1:444455556666:parameter/orders-key",
		"arn:aws:ssm:eu-west-1:444455556666:parameter/orders/token",
	}
	if len(doc.Statement) != 1 || !reflect.DeepEqual(doc.Statement[0].Resource, want) {
		t.Errorf("statements = %+v\nwant one granting %v", doc.Statement, want)
	}
	n := 0
	for _, c := range res.calls {
		if c == "aws:index/getCallerIdentity:getCallerIdentity" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d account lookups, want 1: %v", n, res.calls)
	}
}

// TestSecretsKMSKeys: secrets encrypted with a customer managed KMS key
// need kms:Decrypt on the execution role, which panka cannot guess:
// spec.secretsKmsKeys names the keys (key or alias ARNs) and the role may
// decrypt with exactly them, only through SSM / Secrets Manager. Before,
// the task failed to start (AccessDeniedException from KMS) with no way
// to grant it in the YAML.
func TestSecretsKMSKeys(t *testing.T) {
	const key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	const alias = "arn:aws:kms:eu-central-1:210987654321:alias/team/secrets"
	r := fullStack()
	r.Components[1].Spec["secrets"] = map[string]any{"TOKEN": "/orders/token"}
	r.Components[1].Spec["secretsKmsKeys"] = []any{key, alias}
	res := run(t, r)
	var doc struct {
		Statement []map[string]any
	}
	if err := json.Unmarshal([]byte(prop(res.find(t, tRolePolicy, "worker-exec-secrets"), "policy").StringValue()), &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range doc.Statement {
		if st["Action"] == "kms:Decrypt" {
			b, _ := json.Marshal(st)
			got = append(got, string(b))
		}
	}
	want := []string{
		`{"Action":"kms:Decrypt","Condition":{"StringEquals":{"kms:ViaService":["secretsmanager.eu-west-1.amazonaws.com","ssm.eu-west-1.amazonaws.com"]}},"Effect":"Allow","Resource":"` + key + `","Sid":"DecryptSecrets0"}`,
		`{"Action":"kms:Decrypt","Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/team/secrets"},"StringEquals":{"kms:ViaService":["secretsmanager.eu-central-1.amazonaws.com","ssm.eu-central-1.amazonaws.com"]}},"Effect":"Allow","Resource":"arn:aws:kms:eu-central-1:210987654321:key/*","Sid":"DecryptSecrets1"}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kms statements\n got  %v\n want %v", got, want)
	}
	// Without the field, no kms grant at all.
	delete(r.Components[1].Spec, "secretsKmsKeys")
	res = run(t, r)
	if p := prop(res.find(t, tRolePolicy, "worker-exec-secrets"), "policy").StringValue(); strings.Contains(p, "kms:") {
		t.Errorf("kms grant without secretsKmsKeys: %s", p)
	}

	for _, tt := range []struct {
		keys   []any
		noSecr bool
		want   string
	}{
		{[]any{"1234abcd-12ab-34cd-56ef-1234567890ab"}, false, `spec.secretsKmsKeys[0]: "1234abcd-12ab-34cd-56ef-1234567890ab" is not a KMS key ARN`},
		{[]any{"alias/team"}, false, `spec.secretsKmsKeys[0]: "alias/team" is not a KMS key ARN`},
		{[]any{"arn:aws:kms:eu-west-1:123456789012:alias/aws/ssm"}, false, `spec.secretsKmsKeys[0]: "arn:aws:kms:eu-west-1:123456789012:alias/aws/ssm" is a key AWS manages`},
		{[]any{key, key}, false, `spec.secretsKmsKeys[1]: "` + key + `" is listed twice`},
		{[]any{key}, true, `spec.secretsKmsKeys: the component has no secrets to decrypt`},
	} {
		r := fullStack()
		r.Components[1].Spec["secrets"] = map[string]any{"TOKEN": "/orders/token"}
		if tt.noSecr {
			delete(r.Components[1].Spec, "secrets")
		}
		r.Components[1].Spec["secretsKmsKeys"] = tt.keys
		err := Validate(r)
		if err == nil || !strings.Contains(err.Error(), `component "worker" (Worker): `+tt.want) {
			t.Errorf("secretsKmsKeys %v: %v\nwant %s", tt.keys, err, tt.want)
		}
	}
}

// TestTaskPolicySize: IAM holds at most 10,240 characters of inline
// policy per role, and the task role has a statement for every queue,
// bucket and topic a workload references: with some 40 references apply
// failed at the role policy (LimitExceeded). Validate refuses exactly the
// workloads whose policy, as registered, is over the limit.
func TestTaskPolicySize(t *testing.T) {
	withQueues := func(n int) *stacks.Resolved {
		r := fullStack()
		env := map[string]any{}
		for i := 0; i < n; i++ {
			q := fmt.Sprintf("work-queue-%02d", i)
			r.Components = append(r.Components, stacks.Component{Name: q, Kind: stacks.KindQueue, Spec: map[string]any{}})
			env[fmt.Sprintf("QUEUE_%02d", i)] = "${" + q + ".url}"
		}
		r.Components[1].Spec["env"] = env
		return r
	}
	policySize := func(n int) int {
		res := run(t, withQueues(n))
		b, err := json.Marshal(decodeObject(t, prop(res.find(t, tRolePolicy, "worker-task-access"), "policy")))
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	first := 0 // the fewest queues Validate refuses
	for n := 1; n <= 80 && first == 0; n++ {
		err := Validate(withQueues(n))
		if err == nil {
			continue
		}
		for _, w := range []string{
			`component "worker" (Worker): the task role policy that lets the application use the ` + fmt.Sprint(n) + ` components it references`,
			"over IAM's limit of 10240", "LimitExceeded", "split it into workloads",
		} {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%d queues: error %q\nlacks %q", n, err, w)
			}
		}
		first = n
	}
	if first < 3 {
		t.Fatalf("Validate refused a worker referencing %d queues (0: none up to 80)", first)
	}
	below, belowThat := policySize(first-1), policySize(first-2)
	if below > 10240 {
		t.Errorf("%d queues: the registered task role policy is %d characters, over IAM's 10240, and Validate let it through", first-1, below)
	}
	if next := below + (below - belowThat); next <= 10240 {
		t.Errorf("%d queues: Validate refused a task role policy of about %d characters, within IAM's 10240", first, next)
	}
}
