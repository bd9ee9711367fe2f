package stacks

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const cf = "stacks/s/infra/c.yaml"

// localStackYAML is stackYAML deploying with the local target.
var localStackYAML = strings.Replace(stackYAML, "    name: aws\n    region: eu-west-1\n", "    name: local\n", 1)

func ms(spec ...string) string {
	return doc("MicroService", "api", append([]string{"image: nginx"}, spec...)...)
}

// TestLoadRules covers structural rules reported by Load (and Resolve):
// every case names the exact file:line:column and key.
func TestLoadRules(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"valid minimal", map[string]string{cf: ms()}, nil},
		{"unknown field with suggestion", map[string]string{cf: ms("cpuu: 256")},
			[]string{cf + `:7:3: spec.cpuu: unknown field (did you mean "cpu"?)`}},
		{"wrong type", map[string]string{cf: ms("replicas: three")},
			[]string{cf + `:7:13: spec.replicas: want an integer, got a string ("three")`}},
		// A newcomer's quoted number and a near miss of an allowed value.
		{"quoted integer, near-miss enum", map[string]string{cf: doc("Database", "db", "engine: postgresql", `storageGB: "20"`, "instanceClass: db.t4g.micro")},
			[]string{cf + `:6:11: spec.engine: "postgresql" is not one of postgres, mysql (did you mean "postgres"?)`,
				cf + `:7:14: spec.storageGB: want an integer, got a string ("20"): write 20 without the quotes`}},
		{"list where map expected", map[string]string{cf: ms("env: [a]")},
			[]string{cf + `:7:8: spec.env: want a mapping of names to strings, got a list`}},
		{"duplicate key", map[string]string{cf: ms("port: 80", "port: 81")},
			[]string{cf + `:8:3: spec.port: duplicate key (first set at line 7)`}},
		// Which of two values was meant is not known: no check is made
		// with the first (it said Fargate does not run cpu 256 with
		// memory 4096, and that a FIFO topic's https subscription is
		// refused, for a value about to be removed).
		{"duplicate key, no checks with the first value", map[string]string{cf: ms("cpu: 256", "cpu: 1024", "memory: 4096") + "---\n" + doc("Topic", "t", "fifo: true", "fifo: false", "subscriptions: [{protocol: https, endpoint: 'https://x.example'}]")},
			[]string{cf + `:8:3: spec.cpu: duplicate key (first set at line 7): remove one of them`,
				cf + `:17:3: spec.fifo: duplicate key (first set at line 16): remove one of them`}},
		// The same when the first value is a mapping or a list: two
		// env: blocks said also that a variable of the first was
		// undeclared, two autoscaling: blocks that the first's min was
		// more than its max, two dependsOn: that a component of the
		// first was unknown.
		{"duplicate key, no checks inside the first mapping or list", map[string]string{
			cf: ms("env: {A: '${NOPE}', B: '${nope.url}'}", "env: {A: x}", "autoscaling: {min: 5, max: 2}", "autoscaling: {min: 1, max: 3}", "dependsOn: [ghost]", "dependsOn: []") +
				"---\n" + doc("Topic", "t", "fifo: true", "subscriptions: [{protocol: https, endpoint: 'https://x.example'}]", "subscriptions: []") +
				"---\n" + doc("Queue", "q", "fifo: 3") + "spec:\n  fifo: true\n"},
			[]string{cf + `:8:3: spec.env: duplicate key (first set at line 7): remove one of them`,
				cf + `:10:3: spec.autoscaling: duplicate key (first set at line 9): remove one of them`,
				cf + `:12:3: spec.dependsOn: duplicate key (first set at line 11): remove one of them`,
				cf + `:21:3: spec.subscriptions: duplicate key (first set at line 20): remove one of them`,
				cf + `:29:1: spec: duplicate key (first set at line 27): remove one of them`}},
		{"duplicate key in an environment or stack.yaml, no checks with the first value", map[string]string{
			"stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    api: {replicas: x, env: {A: '${NOPE}'}, dependsOn: [ghost]}\n    api: {replicas: 2}\n  provider: {region: 3, bogus: 1}\n  provider: {}\n",
			"stacks/s/stack.yaml":            strings.Replace(stackYAML, "spec:\n", "spec:\n  variables: {NEW: {required: maybe}}\n  backend: {bucket: A}\n  backend: {}\n", 1),
			cf:                               ms("env: {A: '${NEW}'}")},
			[]string{`stacks/s/environments/dev.yaml:10:5: spec.overrides.api: duplicate key (first set at line 9): remove one of them`,
				`stacks/s/environments/dev.yaml:12:3: spec.provider: duplicate key (first set at line 11): remove one of them`,
				`stacks/s/stack.yaml:8:3: spec.backend: duplicate key (first set at line 7): remove one of them`,
				`stacks/s/stack.yaml:12:3: spec.variables: duplicate key (first set at line 6): remove one of them`}},
		{"duplicate nested key", map[string]string{cf: ms("env: {A: x}", "healthCheck:", "  path: /a", "  path: /b")},
			[]string{cf + `:10:5: spec.healthCheck.path: duplicate key (first set at line 9)`}},
		{"duplicate metadata key", map[string]string{cf: strings.Replace(ms(), "  name: api\n", "  name: api\n  name: api2\n", 1)},
			[]string{cf + `:5:3: metadata.name: duplicate key (first set at line 4)`}},
		{"duplicate key in a list item", map[string]string{cf: doc("Topic", "t", "subscriptions:", "  - protocol: https", "    protocol: http", "    endpoint: https://x.example")},
			[]string{cf + `:8:7: spec.subscriptions[0].protocol: duplicate key (first set at line 7)`}},
		{"missing required", map[string]string{cf: doc("MicroService", "api", "port: 80")},
			[]string{cf + `:6:3: spec.image: required field is missing`}},
		{"missing spec", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Bucket\nmetadata:\n  name: b\n"},
			[]string{cf + `:1:1: spec: required field is missing (use spec: {} when every default is fine)`}},
		{"range", map[string]string{cf: ms("port: 70000")},
			[]string{cf + `:7:9: spec.port: 70000 is out of range 1 to 65535`}},
		// Fields copied from a compose file, a chart's values or a
		// Kubernetes manifest name panka's field.
		{"other tools' field names", map[string]string{cf: ms("environment: {A: b}", "containerPort: 80", "resources: {limits: {cpu: 500m}}")},
			[]string{cf + `:7:3: spec.environment: unknown field (docker-compose calls it that: panka's field is "env"); valid fields: image,`,
				cf + `:8:3: spec.containerPort: unknown field (Kubernetes calls it that: panka's field is "port")`,
				cf + `:9:3: spec.resources: unknown field (Kubernetes' resources: panka takes cpu and memory straight under spec, in Fargate units, e.g. cpu: 256 and memory: 512)`}},
		// cpu and memory as Kubernetes, compose or the ECS console write
		// them, and a whole number written as a decimal: the integer to
		// write instead.
		{"cpu and memory in other units", map[string]string{cf: ms("cpu: 0.25", "memory: 512Mi", "replicas: 2.0", "autoscaling: {min: 1, max: 3.5}")},
			[]string{cf + `:7:8: spec.cpu: want an integer, got a number ("0.25"): cpu is in CPU units, 1024 to a vCPU: 0.25 vCPU is 256`,
				cf + `:8:11: spec.memory: want an integer, got a string ("512Mi"): memory is in MiB, write 512`,
				cf + `:9:13: spec.replicas: want an integer, got a number ("2.0"): write 2`,
				cf + `:10:30: spec.autoscaling.max: want an integer, got a number ("3.5")`}},
		{"cpu in millicores, memory in GB, a compose port", map[string]string{cf: ms("cpu: 500m", "memory: 1.5G", `port: "8080:80"`) + "---\n" + doc("MicroService", "b", "image: x", "port: 80/tcp")},
			[]string{cf + `:7:8: spec.cpu: want an integer, got a string ("500m"): cpu is in CPU units, 1024 to a vCPU: 500m (millicores) is 512`,
				cf + `:8:11: spec.memory: want an integer, got a string ("1.5G"): memory is in MiB, write 1536`,
				cf + `:9:9: spec.port: want an integer, got a string ("8080:80"): port is the one port the container listens on, write 80`,
				cf + `:17:9: spec.port: want an integer, got a string ("80/tcp"): port is the one port the container listens on, write 80`}},
		{"curly quotes", map[string]string{cf: strings.Replace(ms(), "image: nginx", "image: \u201cnginx:1.25\u201d", 1)},
			[]string{cf + `:6:10: spec.image: "“nginx:1.25”" is not an image reference (ASCII, no spaces or line breaks; a block scalar | ends in one) such as ghcr.io/acme/web:1.2: its curly quotes (“ ” ‘ ’) are not YAML's, which are straight (" or '): retype them, or remove them`}},
		{"nested unknown", map[string]string{cf: ms("healthCheck: {pth: /x}")},
			[]string{cf + `:7:17: spec.healthCheck.pth: unknown field (did you mean "path"?)`}},
		{"fargate pair", map[string]string{cf: ms("cpu: 256", "memory: 4096")},
			[]string{cf + `:8:11: spec.memory: Fargate does not run cpu 256 with memory 4096: for cpu 256 use memory 512, 1024 or 2048`}},
		{"fargate cpu enum", map[string]string{cf: ms("cpu: 300")},
			[]string{cf + `:7:8: spec.cpu: 300 is not one of 256, 512, 1024, 2048, 4096, 8192, 16384`}},
		{"fargate 8192 steps", map[string]string{cf: ms("cpu: 8192", "memory: 18432")},
			[]string{cf + `:8:11: spec.memory: Fargate does not run cpu 8192 with memory 18432`}},
		{"fargate 4096 ok", map[string]string{cf: ms("cpu: 4096", "memory: 30720")}, nil},
		{"health timeout", map[string]string{cf: ms("healthCheck: {interval: 10, timeout: 10}")},
			[]string{cf + `:7:40: spec.healthCheck.timeout: timeout 10 must be less than interval 10`}},
		// ECS takes container health check timeouts of 2 to 60 s: 90
		// validated and the task definition failed only in apply.
		{"worker health timeout", map[string]string{cf: doc("Worker", "w", "image: x", "healthCheck: {command: [true], interval: 120, timeout: 90}")},
			[]string{cf + `:7:58: spec.healthCheck.timeout: 90 is out of range 2 to 60`}},
		// The ALB takes a host name only: a URL validated, and apply
		// failed on the listener rule (and the url output read
		// https://https://...).
		{"load balancer host not a host name", map[string]string{cf: ms("loadBalancer: {host: 'https://api.example.com'}") + "---\n" + doc("MicroService", "b", "image: x", "loadBalancer: {host: 'api.example.com:8443'}") + "---\n" + doc("MicroService", "c", "image: x", "loadBalancer: {host: '*.example.com'}")},
			[]string{cf + `:7:24: spec.loadBalancer.host: "https://api.example.com" is not a host name such as api.example.com (letters, digits, - and ., * and ? as wildcards, at most 128 characters; no scheme, port or path)`,
				cf + `:15:24: spec.loadBalancer.host: "api.example.com:8443" is not a host name`}},
		{"autoscaling min>max", map[string]string{cf: ms("autoscaling: {min: 5, max: 2}")},
			[]string{cf + `:7:22: spec.autoscaling.min: min 5 is more than max 2`}},
		{"autoscaling needs max", map[string]string{cf: ms("autoscaling: {min: 1}")},
			[]string{cf + `:7:16: spec.autoscaling.max: required field is missing`}},
		{"db engine", map[string]string{cf: doc("Database", "db", "engine: oracle")},
			[]string{cf + `:6:11: spec.engine: "oracle" is not one of postgres, mysql`}},
		{"db instance class", map[string]string{cf: doc("Database", "db", "instanceClass: m5.large")},
			[]string{cf + `:6:18: spec.instanceClass: "m5.large" is not an RDS instance class such as db.t4g.micro or db.r6g.large`}},
		{"db version", map[string]string{cf: doc("Database", "db", "version: latest")},
			[]string{cf + `:6:12: spec.version: invalid postgres version "latest"`}},
		{"db storage", map[string]string{cf: doc("Database", "db", "storageGB: 5")},
			[]string{cf + `:6:14: spec.storageGB: 5 is out of range 20 to 65536`}},
		{"cache engine", map[string]string{cf: doc("Cache", "c", "engine: memcached")},
			[]string{cf + `:6:11: spec.engine: "memcached" is not one of redis, valkey`}},
		{"cache node type", map[string]string{cf: doc("Cache", "c", "nodeType: db.t3.micro")},
			[]string{cf + `:6:13: spec.nodeType: "db.t3.micro" is not an ElastiCache node type such as cache.t4g.micro`}},
		{"cache name length", map[string]string{cf: doc("Cache", "c"+strings.Repeat("x", 40))},
			[]string{cf + `:4:9: metadata.name: cache name "c` + strings.Repeat("x", 40) + `" is 41 characters; ElastiCache allows at most 40`}},
		{"cron fields", map[string]string{cf: doc("CronJob", "j", "image: x", "schedule: cron(0 3 * * *)")},
			[]string{cf + `:7:13: spec.schedule: invalid schedule "cron(0 3 * * *)": cron takes 6 fields (minutes hours day-of-month month day-of-week year), got 5; for the crontab schedule "0 3 * * *" write cron(0 3 * * ? *)`}},
		// A crontab (Kubernetes CronJob) schedule gets its EventBridge form.
		{"crontab schedule", map[string]string{cf: doc("CronJob", "j", "image: x", `schedule: "*/15 8-18 * * MON-FRI"`)},
			[]string{cf + `:7:13: spec.schedule: invalid schedule "*/15 8-18 * * MON-FRI": use cron(<min> <hour> <day-of-month> <month> <day-of-week> <year>) or rate(<n> <unit>); for the crontab schedule "*/15 8-18 * * MON-FRI" write cron(*/15 8-18 ? * MON-FRI *)`}},
		{"crontab macro", map[string]string{cf: doc("CronJob", "j", "image: x", `schedule: "@daily"`)},
			[]string{cf + `:7:13: spec.schedule: invalid schedule "@daily": use cron(<min> <hour> <day-of-month> <month> <day-of-week> <year>) or rate(<n> <unit>); for the crontab schedule "@daily" write cron(0 0 * * ? *)`}},
		{"cron both days", map[string]string{cf: doc("CronJob", "j", "image: x", "schedule: cron(0 3 * * 1 *)")},
			[]string{cf + `:7:13: spec.schedule: invalid schedule "cron(0 3 * * 1 *)": one of day-of-month and day-of-week must be ?`}},
		{"cron range", map[string]string{cf: doc("CronJob", "j", "image: x", "schedule: cron(61 3 * * ? *)")},
			[]string{cf + `:7:13: spec.schedule: invalid schedule "cron(61 3 * * ? *)": minutes field "61": 61 is out of range 0-59`}},
		{"rate unit", map[string]string{cf: doc("CronJob", "j", "image: x", "schedule: rate(5 minute)")},
			[]string{cf + `:7:13: spec.schedule: invalid schedule "rate(5 minute)": the unit is minutes, hours or days`}},
		{"rate singular", map[string]string{cf: doc("CronJob", "j", "image: x", "schedule: rate(1 hours)")},
			[]string{cf + `:7:13: spec.schedule: invalid schedule "rate(1 hours)": with 1 the unit is minute, hour or day`}},
		{"valid schedules", map[string]string{cf: doc("CronJob", "j", "image: x", "schedule: cron(0/15 8-18 ? * MON-FRI *)") + "---\n" + doc("CronJob", "k", "image: x", "schedule: rate(1 day)")}, nil},
		{"queue ranges", map[string]string{cf: doc("Queue", "q", "visibilityTimeout: 50000", "deadLetter: {maxReceives: 0}")},
			[]string{cf + `:6:22: spec.visibilityTimeout: 50000 is out of range 0 to 43200`, cf + `:7:29: spec.deadLetter.maxReceives: 0 is out of range 1 to 1000`}},
		{"bucket bool", map[string]string{cf: doc("Bucket", "b", "versioning: maybe")},
			[]string{cf + `:6:15: spec.versioning: want true or false, got a string ("maybe")`}},
		{"yaml 1.1 booleans", map[string]string{cf: doc("Bucket", "b", "versioning: yes", "public: Off")},
			[]string{cf + `:6:15: spec.versioning: want true or false, got "yes": stack files are YAML 1.2, where yes is a string, not a boolean; write true or false`,
				cf + `:7:11: spec.public: want true or false, got "Off": stack files are YAML 1.2, where Off is a string`}},
		{"topic subscription queue", map[string]string{cf: doc("Topic", "t", "subscriptions:", "  - queue: nope", "  - queue: b", "  - protocol: https") + "---\n" + doc("Bucket", "b")},
			[]string{cf + `:7:14: spec.subscriptions[0].queue: unknown component "nope"`, cf + `:8:14: spec.subscriptions[1].queue: "b" is a Bucket, not a Queue`, cf + `:9:7: spec.subscriptions[2]: an external subscription needs both protocol and endpoint`}},
		// The same subscription twice is one to AWS: the aws target
		// refused the topic only when apply ran it, without file:line.
		{"topic subscription repeated", map[string]string{cf: doc("Topic", "t", "subscriptions:", "  - queue: q", "  - {protocol: https, endpoint: 'https://x.example'}", "  - queue: q", "  - {protocol: https, endpoint: 'https://x.example'}", "  - {protocol: email, endpoint: 'ops@x.example'}", "  - {protocol: https, endpoint: '${KEY}'}", "  - {protocol: https, endpoint: '${KEY}'}") + "---\n" + doc("Queue", "q")},
			[]string{cf + `:9:7: spec.subscriptions[2]: repeats spec.subscriptions[0] (queue q): remove one`,
				cf + `:10:7: spec.subscriptions[3]: repeats spec.subscriptions[1] (protocol https, the same endpoint): remove one`,
				cf + `:13:7: spec.subscriptions[6]: repeats spec.subscriptions[5] (protocol https, the same endpoint): remove one`}},
		// SNS FIFO topics take SQS subscriptions only: AWS refused an
		// https one when apply ran it.
		{"topic fifo external protocol", map[string]string{cf: doc("Topic", "t", "fifo: true", "subscriptions:", "  - {protocol: https, endpoint: 'https://x.example'}", "  - {protocol: sqs, endpoint: 'arn:aws:sqs:eu-west-1:123456789012:q.fifo'}", "  - protocol: lambda", "    endpoint: arn:aws:lambda:eu-west-1:123456789012:function:f") + "---\n" + doc("Topic", "s", "subscriptions: [{protocol: https, endpoint: 'https://x.example'}]")},
			[]string{cf + `:8:18: spec.subscriptions[0].protocol: a FIFO topic delivers only to SQS queues, not over https: subscribe a FIFO queue ({queue: <component>}), or make the topic standard (fifo: false)`,
				cf + `:10:17: spec.subscriptions[2].protocol: a FIFO topic delivers only to SQS queues, not over lambda`}},
		// An endpoint of the wrong form for its protocol was refused by
		// SNS only in apply (an SQS queue URL where the ARN goes is an
		// easy one).
		{"topic subscription endpoint forms", map[string]string{cf: doc("Topic", "t", "subscriptions:",
			"  - {protocol: https, endpoint: 'http://hooks.example/a'}",
			"  - {protocol: sqs, endpoint: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q'}",
			"  - {protocol: email, endpoint: ops.example.com}",
			"  - {protocol: lambda, endpoint: my-function}",
			"  - {protocol: https, endpoint: 'https://hooks.example/b'}",
			"  - {protocol: email-json, endpoint: ops@x.example}",
			"  - {protocol: lambda, endpoint: 'arn:aws:lambda:eu-west-1:123456789012:function:f'}",
			"  - {protocol: sms, endpoint: '+1 415 555 0100'}",
			"  - {protocol: sms, endpoint: '+14155550100'}")},
			[]string{cf + `:7:35: spec.subscriptions[0].endpoint: "http://hooks.example/a" is not an https:// URL: an https subscription posts to one (use protocol http for the other scheme)`,
				cf + `:8:33: spec.subscriptions[1].endpoint: "https://sqs.eu-west-1.amazonaws.com/123456789012/q" is not an ARN: an sqs subscription delivers to the ARN of a queue; for a queue of this stack write {queue: <component>}`,
				cf + `:9:35: spec.subscriptions[2].endpoint: "ops.example.com" is not an email address`,
				cf + `:10:36: spec.subscriptions[3].endpoint: "my-function" is not an ARN: a lambda subscription delivers to the ARN of a function`,
				cf + `:14:33: spec.subscriptions[7].endpoint: "+1 415 555 0100" is not a phone number in E.164 form: an sms subscription texts one, written + and the country code and number, without spaces (+14155550100)`}},
		{"topic raw delivery protocol", map[string]string{cf: doc("Topic", "t", "subscriptions:",
			"  - {protocol: email, endpoint: ops@x.example, rawMessageDelivery: true}",
			"  - {protocol: https, endpoint: 'https://hooks.example/b', rawMessageDelivery: true}")},
			[]string{cf + `:7:70: spec.subscriptions[0].rawMessageDelivery: SNS delivers raw messages over sqs, http, https and firehose, not email: remove rawMessageDelivery`}},
		// A FIFO topic delivers to standard queues too (best-effort
		// order); a standard topic cannot deliver to a FIFO queue.
		{"topic fifo mismatch", map[string]string{cf: doc("Topic", "t", "subscriptions: [{queue: q}]") + "---\n" + doc("Queue", "q", "fifo: true") + "---\n" + doc("Topic", "f", "fifo: true", "subscriptions: [{queue: s}]") + "---\n" + doc("Queue", "s")},
			[]string{cf + `:4:9: spec.subscriptions[0].queue: topic "t" is a standard topic but queue "q" is a FIFO queue: SNS delivers to a FIFO queue from FIFO topics only; set fifo: true on the topic, or make the queue standard`}},
		// A tag other than the core schema's was dropped: image: !Ref x
		// deployed the image "x", image: !Sub an empty one.
		{"yaml tags", map[string]string{cf: ms("command: [!Sub x, y]", "env: !Foo {A: b}", "cpu: !!int '256'", "memory: !!str 512") + "---\n" + doc("CronJob", "j", "image: !Sub", "schedule: !!binary aGk=")},
			[]string{cf + `:7:13: spec.command[0]: YAML tag !Sub is not supported: stack files hold plain values; remove the tag (wire outputs with ${<component>.<output>}`,
				cf + `:8:8: spec.env: YAML tag !Foo is not supported`,
				cf + `:10:11: spec.memory: want an integer, got a string ("512")`,
				cf + `:17:10: spec.image: YAML tag !Sub is not supported`,
				cf + `:17:10: spec.image: required field is empty: give it a value`,
				cf + `:18:13: spec.schedule: YAML tag !!binary is not supported: stack files hold plain values; remove the tag`,
				cf + `:18:13: spec.schedule: invalid schedule "aGk="`}},
		// "fifo:true" is one string to YAML: the message says why a
		// mapping was not found, not only "got a string".
		{"no space after a colon", map[string]string{cf: doc("Queue", "q", "deadLetter:", "  maxReceives:3") + "---\n" + doc("Bucket", "b", "versioning:true") + "---\n" + doc("Worker", "w", "image: x", "env:", "  A:\u00a0b")},
			[]string{cf + `:7:5: spec.deadLetter: want a mapping with fields maxReceives, got a string ("maxReceives:3": a key needs a space after its colon, write maxReceives: 3)`,
				cf + `:14:3: spec: want a mapping, got a string ("versioning:true": a key needs a space after its colon, write versioning: true)`,
				cf + `:23:5: spec.env: want a mapping of names to strings, got a string (after "A" the colon is followed by U+00A0, not a plain space, so YAML reads one string: retype the space)`}},
		// A zero-width space pasted into a key: the key looks right on
		// screen, and is three bytes away from any suggestion.
		{"invisible character in a key", map[string]string{cf: doc("Queue", "q", "fi\u200bfo: true", "x\u00a0y: 1", "my key: 2")},
			[]string{cf + ":6:3: spec.fi\u200bfo: unknown field (the name holds U+200B, an invisible character: retype it; did you mean \"fifo\"?); valid fields: fifo,",
				cf + ":7:3: spec.x\u00a0y: unknown field (the name holds U+00A0, an invisible character: retype it); valid fields:",
				cf + ":8:3: spec.my key: unknown field; valid fields:"}},
		// A control character in a key (an escape sequence, a carriage
		// return) is written escaped: raw, it drove the terminal that
		// shows the error, or split the error over lines.
		{"control character in a key", map[string]string{cf: doc("Queue", "q", `"\e[2Jfifo\r": true`, `deadLetter: {"max\u009bReceives": 1}`)},
			[]string{cf + `:6:3: spec.\x1b[2Jfifo\r: unknown field (the name holds U+001B, an invisible character: retype it); valid fields:`,
				cf + `:7:16: spec.deadLetter.max\u009bReceives: unknown field (the name holds U+009B, an invisible character: retype it; did you mean "maxReceives"?)`}},
		// A reference where a component name belongs names the component
		// to write; an empty or one-character name gets no guess.
		{"reference as a component name", map[string]string{cf: doc("Queue", "q", "dependsOn: ['${db.endpoint}', '', x, '${db.url}']") + "---\n" + doc("Topic", "t", "subscriptions: [{queue: '${q.arn}'}]") + "---\n" + doc("Database", "db")},
			[]string{cf + `:6:15: spec.dependsOn: unknown component "${db.endpoint}" (write the component's name, db, not a reference to one of its outputs)`,
				cf + `:6:33: spec.dependsOn: unknown component ""; components: db, q, t`,
				cf + `:6:37: spec.dependsOn: unknown component "x"; components: db, q, t`,
				cf + `:6:40: spec.dependsOn[3]: reference ${db.url}: a Database has no output "url"; its outputs are endpoint, address, port, secretArn (dependsOn takes component names: write db)`,
				cf + `:13:27: spec.subscriptions[0].queue: unknown component "${q.arn}" (write the component's name, q, not a reference`}},
		// name: ~ is written, empty: not "missing" at the metadata line.
		{"null component name", map[string]string{cf: strings.Replace(doc("Bucket", "b"), "  name: b", "  name: ~", 1)},
			[]string{cf + `:4:9: metadata.name: required field is empty (null): give it a value`}},
		// metadata:, kind: or apiVersion: written with nothing after them
		// (a name not indented under metadata) are reported where they
		// are written, not as missing at the top of the document.
		{"null metadata, kind, apiVersion", map[string]string{cf: strings.Replace(doc("Bucket", "b"), "  name: b", "name: b", 1) + "---\n" + strings.NewReplacer("kind: Bucket", "kind:", "apiVersion: "+APIVersion, "apiVersion: ~").Replace(doc("Bucket", "c"))},
			[]string{cf + `:3:10: metadata: required field is empty (null): add name: <name> on the next line, indented under metadata`,
				cf + `:4:1: name: unknown field`,
				cf + `:7:13: apiVersion: required field is empty (null): write apiVersion: core.panka.io/v1`,
				cf + `:8:6: kind: required field is empty (null): write one of Stack, Service, Environment, MicroService,`}},
		{"unknown kind", map[string]string{cf: doc("Lambda", "f")},
			[]string{cf + `:2:7: kind: unknown kind "Lambda": use one of`}},
		// Typos in any fixed key or kind name suggest the closest one.
		{"kind typo", map[string]string{cf: doc("Databse", "db")},
			[]string{cf + `:2:7: kind: unknown kind "Databse" (did you mean "Database"?): use one of Stack, Service, Environment, MicroService`}},
		{"document key typos", map[string]string{cf: "apiVersoin: core.panka.io/v1\nkind: Bucket\nmetadata:\n  name: b\n  lables: {a: b}\nspec: {}\n"},
			[]string{cf + `:1:1: apiVersoin: unknown field (did you mean "apiVersion"?); a document has apiVersion, kind, metadata and spec`,
				cf + `:1:1: apiVersion: required field is missing`,
				cf + `:5:3: metadata.lables: unknown field (did you mean "labels"?); metadata has name, description and labels`}},
		{"stack and variable key typos", map[string]string{"stacks/s/stack.yaml": stackYAML + "    A: {defualt: x}\n  wacth: [x]\n"},
			[]string{`stacks/s/stack.yaml:16:9: spec.variables.A.defualt: unknown field (did you mean "default"?)`,
				`stacks/s/stack.yaml:17:3: spec.wacth: unknown field (did you mean "watch"?); a Stack spec has`}},
		{"environment key typo", map[string]string{"stacks/s/environments/dev.yaml": devYAML + "  overides: {}\n"},
			[]string{`stacks/s/environments/dev.yaml:8:3: spec.overides: unknown field (did you mean "overrides"?); an Environment spec has`}},
		{"api version", map[string]string{cf: strings.Replace(doc("Bucket", "b"), "core.panka.io/v1", "v2", 1)},
			[]string{cf + `:1:13: apiVersion: unsupported apiVersion "v2": use core.panka.io/v1`}},
		// An OpenAPI spec or a docker-compose.yaml kept in a service
		// folder got an error per key and per missing field, none saying
		// what to do: one says it is not a stack file and where to move it.
		{"not a stack file", map[string]string{"stacks/s/services/api/openapi.yaml": "openapi: 3.0.0\ninfo: {title: api}\npaths: {}\ncomponents: {}\n", "stacks/s/services/api/empty.yaml": "{}\n"},
			[]string{`stacks/s/services/api/openapi.yaml:1:1: not a stack file (no apiVersion, kind, metadata or spec; its keys: openapi, info, paths, ...): every .yaml and .yml file in a stack folder is read as part of the stack; move this one out of the stack folder, or start it with apiVersion: core.panka.io/v1 and kind`,
				`stacks/s/services/api/empty.yaml:1:1: apiVersion: required field is missing`,
				`stacks/s/services/api/empty.yaml:1:1: kind: required field is missing`}},
		{"unknown top-level", map[string]string{cf: doc("Bucket", "b") + "extra: 1\n"},
			[]string{cf + `:6:1: extra: unknown field; a document has apiVersion, kind, metadata and spec`}},
		// Variables and references are substituted in spec fields only
		// (SPEC §3): one in a label would reach the tags as written.
		{"labels are literal", map[string]string{cf: strings.Replace(doc("Bucket", "b"), "  name: b", "  name: b\n  labels:\n    team: ${TEAM}\n    env: dev\n    ${KIND}: x\n    cost: '$${x}'", 1),
			"stacks/s/environments/dev.yaml": strings.Replace(devYAML, "  name: dev", "  name: dev\n  labels: {stage: '${db.endpoint}'}", 1)},
			[]string{cf + `:6:11: metadata.labels.team: labels are literal: ${...} in the label value "${TEAM}" is not substituted (variables and ${component.output} references work in spec fields only); write the value itself`,
				cf + `:8:5: metadata.labels.${KIND}: labels are literal: ${...} in the label name "${KIND}" is not substituted`,
				cf + `:9:11: metadata.labels.cost: labels are literal: ${...} in the label value "$${x}"`,
				`stacks/s/environments/dev.yaml:5:19: metadata.labels.stage: labels are literal: ${...} in the label value "${db.endpoint}"`}},
		{"unknown metadata", map[string]string{cf: strings.Replace(doc("Bucket", "b"), "  name: b", "  name: b\n  owner: x", 1)},
			[]string{cf + `:5:3: metadata.owner: unknown field`}},
		{"uppercase name", map[string]string{cf: doc("Bucket", "Assets")},
			[]string{cf + `:4:9: metadata.name: invalid name "Assets": use lowercase letters`}},
		{"slash name", map[string]string{cf: doc("Bucket", "a/b")},
			[]string{cf + `:4:9: metadata.name: invalid name "a/b"`}},
		{"dots name", map[string]string{cf: doc("Bucket", "a..b")},
			[]string{cf + `:4:9: metadata.name: invalid name "a..b"`}},
		{"space name", map[string]string{cf: doc("Bucket", `"a b"`)},
			[]string{cf + `:4:9: metadata.name: invalid name "a b"`}},
		{"double dash", map[string]string{cf: doc("Bucket", "a--b")},
			[]string{cf + `:4:9: metadata.name: invalid name "a--b": '--' is not allowed`}},
		{"trailing dash", map[string]string{cf: doc("Bucket", "ab-")},
			[]string{cf + `:4:9: metadata.name: invalid name "ab-": must not end with '-'`}},
		{"long name", map[string]string{cf: doc("Bucket", "a"+strings.Repeat("b", 63))},
			[]string{cf + `:4:9: metadata.name: name "a` + strings.Repeat("b", 63) + `" is 64 characters, more than 63`}},
		{"reserved name", map[string]string{cf: doc("Bucket", "var")},
			[]string{cf + `:4:9: metadata.name: the name "var" is reserved`}},
		{"duplicate components", map[string]string{cf: doc("Bucket", "b"), "stacks/s/infra/d.yaml": doc("Queue", "b")},
			[]string{`stacks/s/infra/d.yaml:4:9: metadata.name: duplicate component name "b" (also declared at stacks/s/infra/c.yaml:4)`}},
		// A Queue and a MicroService both named api: the environment's
		// override of api and references to api.url were checked against
		// the Queue (unknown field replicas, no output url).
		{"duplicate components of different kinds", map[string]string{cf: doc("Queue", "api"), "stacks/s/services/api/c.yaml": ms("replicas: 1") + "---\n" + doc("Topic", "t", "subscriptions: [{queue: api}]") + "---\n" + doc("Worker", "w", "image: x", "env: {U: '${api.url}'}"), "stacks/s/services/api/service.yaml": doc("Service", "api"),
			"stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    api: {replicas: 3, cpu: 512, memory: 1024}\n"},
			[]string{`stacks/s/services/api/c.yaml:4:9: metadata.name: duplicate component name "api" (also declared at stacks/s/infra/c.yaml:4)`}},
		{"duplicate components of different kinds, the other way", map[string]string{cf: ms(), "stacks/s/services/api/c.yaml": doc("Queue", "api", "fifo: true") + "---\n" + doc("Topic", "t", "fifo: true", "subscriptions: [{queue: api}]") + "---\n" + doc("Worker", "w", "image: x", "env: {U: '${api.arn}'}"), "stacks/s/services/api/service.yaml": doc("Service", "api"),
			"stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    api: {visibilityTimeout: 60}\n"},
			[]string{`stacks/s/services/api/c.yaml:4:9: metadata.name: duplicate component name "api" (also declared at stacks/s/infra/c.yaml:4)`}},
		{"malformed yaml", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: [\n"},
			[]string{cf + `:2: invalid YAML: did not find expected node content`}},
		// yaml.v3 gives parser errors' lines 0-based: they must name the
		// line of the construct, as its scanner errors do.
		{"unclosed flow mapping", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q\nspec: {visibilityTimeout: ${X}}\n"},
			[]string{cf + `:5:27: invalid YAML: did not find expected ',' or '}': ${X} inside { } or [ ] must be quoted, as YAML ends a plain value there at its {: write "${X}"`}},
		{"reference in a flow list", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Worker\nmetadata:\n  name: w\nspec:\n  image: x\n  command: [sh, -c, ${CMD}]\n"},
			[]string{cf + `:7:21: invalid YAML: did not find expected ',' or ']': ${CMD} inside { } or [ ] must be quoted, as YAML ends a plain value there at its {: write "${CMD}"`}},
		// quoted, or outside { }, it is fine; an unclosed mapping with
		// no reference gets no hint
		{"quoted reference in a flow mapping", map[string]string{"stacks/s/stack.yaml": stackYAML, cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q\nspec: {visibilityTimeout: \"${X}\", fifo: false}  # ${X} in a comment\n"},
			[]string{cf + `:5:27: spec.visibilityTimeout: undeclared variable`}},
		{"unclosed flow mapping without reference", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q\nspec: {visibilityTimeout: 3 fifo: false\n"},
			[]string{cf + `:5: invalid YAML: did not find expected ',' or '}'`}},
		// Helm/Jinja templates copied in: yaml.v3 says only "did not
		// find expected key" (no column), as a whole {{ NAME }} value
		// parses (a mapping) and gets its own message.
		{"template in a value", map[string]string{cf: strings.Replace(ms(), "image: nginx", "image: {{ .Values.repo }}:{{ .Values.tag }}", 1)},
			[]string{cf + `:6:10: invalid YAML: did not find expected key: the value of image holds {{ }}, template syntax (Helm, Jinja), which YAML reads as a mapping; panka does not run templates: panka variables are written ${NAME}`}},
		{"template control line", map[string]string{cf: ms("{{- if .Values.debug }}", "replicas: 1", "{{- end }}")},
			[]string{cf + `:7:3: invalid YAML: could not find expected ':': this line holds {{ }}, template syntax (Helm, Jinja)`}},
		{"template in a list item", map[string]string{cf: ms("command:", "  - {{ .Values.cmd }} --x")},
			[]string{cf + `:8:7: invalid YAML: did not find expected '-' indicator: this list item holds {{ }}, template syntax`}},
		// A cron schedule starts with *, an alias to YAML: yaml.v3 said
		// "did not find expected alphabetic or numeric character", with
		// no column and no word of the quotes it needs.
		{"unquoted cron schedule", map[string]string{cf: doc("CronJob", "nightly", "schedule: */5 * * * *   # every 5 minutes", "image: nginx", "command: [x]")},
			[]string{cf + `:6:13: invalid YAML: did not find expected alphabetic or numeric character: the value of schedule starts with *, which YAML reads as an alias (*name, a value written elsewhere): a crontab schedule is written as EventBridge takes it, which needs no quotes: schedule: cron(*/5 * * * ? *)`}},
		{"unquoted text starting with *", map[string]string{cf: doc("Bucket", "b", "description: *important* data")},
			[]string{cf + `:6:16: invalid YAML: did not find expected alphabetic or numeric character: the value of description starts with *, which YAML reads as an alias (*name, a value written elsewhere): put the value in quotes: description: "*important* data"`}},
		{"list item that is an anchor with no name", map[string]string{cf: ms("command:", "  - & x")},
			[]string{cf + `:8:7: invalid YAML: did not find expected alphabetic or numeric character: this list item starts with &, which YAML reads as an anchor (&name, a value to reuse): put the value in quotes`}},
		{"dedented key", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q\nspec:\n  fifo: true\n visibilityTimeout: 3\n"},
			[]string{cf + `:7:2: invalid YAML: did not find expected key: this line is indented 1 space, which lines up with no key above it (YAML nests by indentation): indent it as far as fifo on line 6 (2 spaces) or spec on line 5 (not indented)`}},
		// yaml.v3 names the first line of the mapping the key should be
		// in (line 7, env:), not the key that lines up with nothing.
		{"key dedented between two levels", map[string]string{cf: ms("env:", "  A: b", "  # B is next", "", " B: c", "replicas: 2")},
			[]string{cf + `:11:4: invalid YAML: did not find expected key: this line is indented 3 spaces, which lines up with no key above it (YAML nests by indentation): indent it as far as A on line 8 (4 spaces) or env on line 7 (2 spaces)`}},
		{"list item dedented between two levels", map[string]string{cf: doc("Topic", "t", "subscriptions:", "    - queue: a", "   - queue: b")},
			[]string{cf + `:8:6: invalid YAML: did not find expected key: this list item is indented 5 spaces, which lines up with no list above it (YAML nests by indentation): indent its - as far as line 7 (6 spaces)`}},
		// A list item indented less than the one above it, lined up with
		// the key of its list: yaml.v3 says "did not find expected key"
		// on the mapping's first line (spec:), with nothing to go on.
		// A plain text value with a deeper "- x" under it is valid YAML,
		// one text ("a - b"): where a list or a mapping was meant, the
		// message names the line of the - and says how to indent it.
		{"list item folded into the text of a key", map[string]string{cf: ms("dependsOn: db", "  - cache", "healthCheck: {path: /a - b}")},
			[]string{cf + `:7:14: spec.dependsOn: want a list of component names, got a string ("db - cache": the - on line 8 is indented under the text above it, so YAML reads it as more of that text, not as a list item; put each item on its own line with its - at one indentation, under the key)`}},
		{"list item folded into the item above", map[string]string{cf: doc("Topic", "t", "subscriptions:", "  - orders", "    - billing")},
			[]string{cf + `:7:7: spec.subscriptions[0]: want a mapping with fields queue, protocol, endpoint, rawMessageDelivery, got a string ("orders - billing": the - on line 8 is indented under the text above it`}},
		// A text item where a subscription's mapping belongs (- orders
		// for - queue: orders) was two errors at one line:column, "a
		// subscription needs ..." and "want a mapping ...": now the one,
		// with how to write the item; a mapping where the list belongs
		// (the "- " left out) says where the "- " goes.
		{"queue name as a subscription item", map[string]string{cf: doc("Queue", "orders") + "---\n" + doc("Topic", "t", "subscriptions:", "  - orders", "  - ${orders.arn}", "  - https://hooks.example/o", "  - 12")},
			[]string{cf + `:13:7: spec.subscriptions[0]: want a mapping with fields queue, protocol, endpoint, rawMessageDelivery, got a string ("orders"): to subscribe the queue orders, write - queue: orders`,
				cf + `:14:7: spec.subscriptions[1]: want a mapping with fields queue, protocol, endpoint, rawMessageDelivery, got a string ("${orders.arn}"): to subscribe the queue orders, write - queue: orders`,
				cf + `:15:7: spec.subscriptions[2]: want a mapping with fields queue, protocol, endpoint, rawMessageDelivery, got a string ("https://hooks.example/o"): an external endpoint is written as - protocol: https, with endpoint: https://hooks.example/o on the next line, under protocol`,
				cf + `:16:7: spec.subscriptions[3]: want a mapping with fields queue, protocol, endpoint, rawMessageDelivery, got an integer`}},
		{"subscription written without its dash", map[string]string{cf: doc("Topic", "t", "subscriptions:", "  protocol: https", "  endpoint: https://hooks.example/o")},
			[]string{cf + `:7:5: spec.subscriptions: want a list, got a mapping: each item of a list starts with "- ", write - protocol: on line 7, and indent the item's other keys as far as protocol`}},
		// A comment ends the text: the deeper item is then an error of
		// yaml.v3's (on the line above), placed on the item.
		{"list item indented past a text item and a comment", map[string]string{cf: doc("Topic", "t", "subscriptions:", "  - orders", "    # billing too", "    - billing")},
			[]string{cf + `:9:7: invalid YAML: did not find expected '-' indicator: this list item is indented 6 spaces, more than the one above it on line 7 (4 spaces), but the items of one list line up (YAML nests by indentation): indent its - 4 spaces, as on line 7`}},
		{"component name folded into the item above", map[string]string{cf: ms("dependsOn:", "  - db", "    - cache"), "stacks/s/infra/db.yaml": doc("Queue", "db")},
			[]string{cf + `:8:7: spec.dependsOn: unknown component "db - cache": the - on line 9 is indented under the text above it`}},
		// Keys are case-sensitive: a key in the wrong case is one error
		// saying how to write it, not also "required field is missing"
		// (nor, for the document's own keys, "not a stack file").
		{"document key in the wrong case", map[string]string{cf: strings.Replace(ms(), "kind:", "Kind:", 1)},
			[]string{cf + `:2:1: Kind: unknown field (case matters: write "kind"); a document has apiVersion, kind, metadata and spec`}},
		{"every document key in the wrong case", map[string]string{cf: "APIVersion: core.panka.io/v1\nKind: Queue\nMetadata:\n  name: q\nSpec: {}\n"},
			[]string{cf + `:1:1: APIVersion: unknown field (case matters: write "apiVersion")`, cf + `:2:1: Kind: unknown field (case matters: write "kind")`,
				cf + `:3:1: Metadata: unknown field (case matters: write "metadata")`, cf + `:5:1: Spec: unknown field (case matters: write "spec")`}},
		{"metadata key in the wrong case", map[string]string{cf: strings.Replace(ms(), "  name:", "  Name:", 1)},
			[]string{cf + `:4:3: metadata.Name: unknown field (case matters: write "name"); metadata has name, description and labels`}},
		{"spec key in the wrong case", map[string]string{cf: strings.Replace(ms("port: 80"), "image:", "Image:", 1)},
			[]string{cf + `:6:3: spec.Image: unknown field (case matters: write "image"); valid fields: image,`}},
		{"value in the wrong case", map[string]string{cf: doc("Database", "db", "engine: Postgres")},
			[]string{cf + `:6:11: spec.engine: "Postgres" is not one of postgres, mysql (case matters: write "postgres")`}},
		// A list where a mapping belongs: what its items show was meant
		// (values are not shown: an env entry may hold a secret).
		{"env written as NAME=value lines", map[string]string{cf: ms("env:", "  - DB_PASSWORD=hunter2", "  - B=2")},
			[]string{cf + `:8:5: spec.env: want a mapping of names to strings, got a list (a mapping has one NAME: value per line, without "- ": write line 8 as DB_PASSWORD: followed by its value)`}},
		{"env written as Kubernetes does", map[string]string{cf: ms("env:", "  - name: A", "    value: hunter2")},
			[]string{cf + `:8:5: spec.env: want a mapping of names to strings, got a list of name/value pairs, as Kubernetes writes env (a mapping has one NAME: value per line, without "- ": write line 8's pair as A: followed by its value)`}},
		{"mapping keys written as list items", map[string]string{cf: ms("healthCheck:", "  - path: /h", "  - interval: 5")},
			[]string{cf + `:8:5: spec.healthCheck: want a mapping with fields path, interval, timeout, got a list of one-key mappings (remove the "- " before each key, as on line 8: with it YAML makes a list)`}},
		{"a mapping written as a list item", map[string]string{cf: ms("healthCheck:", "  - path: /h", "    interval: 5")},
			[]string{cf + `:8:5: spec.healthCheck: want a mapping with fields path, interval, timeout, got a list holding a mapping (remove the "- " on line 8 and indent that mapping's keys alike: with it YAML makes a list)`}},
		{"a plain list where a mapping belongs", map[string]string{cf: ms("env: [a, b]")},
			[]string{cf + `:7:8: spec.env: want a mapping of names to strings, got a list`}},
		{"list item without a space after its dash", map[string]string{cf: ms("dependsOn:", "  -db"), "stacks/s/infra/db.yaml": doc("Queue", "db")},
			[]string{cf + `:8:5: spec.dependsOn: want a list of component names, got a string: a list item needs a space after its -, write - db`}},
		{"command item without a space after its dash", map[string]string{cf: ms("command:", "  -npm")},
			[]string{cf + `:8:5: spec.command: want a list of strings, got a string: a list item needs a space after its -, write - npm`}},
		{"key = value", map[string]string{cf: strings.Replace(ms(), "  image: nginx", "  image = nginx", 1)},
			[]string{cf + `:6:3: spec: want a mapping, got a string (image = ...: YAML writes a key with a colon, not =: write image: followed by the value)`}},
		// Two documents without --- between them: one error at the
		// second's apiVersion, not a duplicate key per document key.
		{"second document without ---", map[string]string{cf: ms() + doc("Queue", "q")},
			[]string{cf + `:7:1: apiVersion: duplicate key (first set at line 1): a second document starts here without the --- line that separates documents: add --- on the line before`}},
		{"apiVersion written twice", map[string]string{cf: ms() + "apiVersion: core.panka.io/v1\n"},
			[]string{cf + `:7:1: apiVersion: duplicate key (first set at line 1): remove one of them`}},
		// A spec field written at the top of the document, outside spec:
		{"component fields outside spec", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: MicroService\nmetadata:\n  name: api\nimage: nginx\n"},
			[]string{cf + `:5:1: image: unknown field (image is a spec field: indent it under spec:); a document has apiVersion, kind, metadata and spec`}},
		{"environment variables outside spec", map[string]string{"stacks/s/environments/dev.yaml": "apiVersion: core.panka.io/v1\nkind: Environment\nmetadata:\n  name: dev\nvariables:\n  HOST: x\n"},
			[]string{`stacks/s/environments/dev.yaml:5:1: variables: unknown field (variables is a spec field: indent it under spec:); a document has apiVersion, kind, metadata and spec`}},
		{"unknown top-level key without a kind", map[string]string{cf: "apiVersion: core.panka.io/v1\nmetadata:\n  name: api\nimage: nginx\nspec: {}\n"},
			[]string{cf + `:1:1: kind: required field is missing`, cf + `:4:1: image: unknown field; a document has apiVersion, kind, metadata and spec`}},
		// Variables declared as a list of names: one error with how to
		// declare them, not also every use reported as undeclared.
		{"variables declared as a list", map[string]string{"stacks/s/stack.yaml": stackYAML[:strings.Index(stackYAML, "  variables:")] + "  variables:\n    - TAG\n    - HOST\n", cf: ms("env: {T: '${TAG}'}"), "stacks/s/environments/dev.yaml": devYAML},
			[]string{`stacks/s/stack.yaml:10:5: spec.variables: want a mapping of variable names to {default, required, secret, description}, got a list (declare each as NAME: {} or NAME: {default: ...}, without "- ": TAG: {})`}},
		// A quote inside a quoted value ends it; @ and ` cannot start a
		// plain value: yaml.v3's bare messages say where and what to do.
		{"quote inside a single-quoted value", map[string]string{cf: ms("env:", "  A: 'it's'")},
			[]string{cf + `:8:11: invalid YAML: did not find expected key: the value of A ends at this quote ('), with more text after it: write '' for a quote inside '...', or quote the value with "..." instead`}},
		{"quote inside a double-quoted value", map[string]string{cf: ms("env:", `  MSG: "é "hi""`)},
			[]string{cf + `:8:13: invalid YAML: did not find expected key: the value of MSG ends at this quote ("), with more text after it: write \" for a quote inside "...", or quote the value with '...' instead`}},
		{"value starting with @", map[string]string{cf: ms("env:", "  A: x", "  B: @team")},
			[]string{cf + `:9:8: invalid YAML: found character that cannot start any token: the value of B starts with @, which YAML reserves: put the value in quotes`}},
		{"list item starting with a backtick", map[string]string{cf: ms("command:", "  - `date`")},
			[]string{cf + `:8:7: invalid YAML: found character that cannot start any token: this list item starts with ` + "`" + `, which YAML reserves: put the value in quotes`}},
		// A field's lines not indented under it: the field is empty and
		// its keys land in the mapping above.
		{"object fields not indented under it", map[string]string{cf: ms("healthCheck:", "path: /h", "interval: 5")},
			[]string{cf + `:8:3: spec.path: unknown field (healthCheck on line 7 has nothing under it: indent this line under it, YAML nests by indentation); valid fields: image,`,
				cf + `:9:3: spec.interval: unknown field (healthCheck on line 7 has nothing under it`}},
		{"env entries not indented under it", map[string]string{cf: ms("env:", "LOG_LEVEL: debug")},
			[]string{cf + `:8:3: spec.LOG_LEVEL: unknown field (env on line 7 has nothing under it: indent this line under it, YAML nests by indentation)`}},
		{"a misspelt field after an empty env", map[string]string{cf: ms("env:", "replicaz: 2")},
			[]string{cf + `:8:3: spec.replicaz: unknown field (did you mean "replicas"?)`}},
		{"tab after a list item's dash", map[string]string{cf: ms("dependsOn:", "  -\tdb")},
			[]string{cf + `:8:6: invalid YAML: a tab after a list item's -: YAML wants a space there, replace the tab with a space`}},
		{"list item lined up with its key", map[string]string{cf: ms("dependsOn:", "  - db", "  # cache too", "- cache")},
			[]string{cf + `:10:3: invalid YAML: did not find expected key: this list item is indented 2 spaces, less than the items of the list above it (4 spaces, line 8), and lines up with dependsOn on line 7, where YAML wants the next key of that mapping (YAML nests by indentation): indent its - 4 spaces, as on line 8`}},
		{"list item lined up with a key in a list item", map[string]string{cf: doc("Topic", "t", "subscriptions:", "  - queue: a", "    filter:", "      - x", "      - y", "    - z")},
			[]string{cf + `:11:7: invalid YAML: did not find expected key: this list item is indented 6 spaces, less than the items of the list above it (8 spaces, line 9), and lines up with filter on line 8, where YAML wants the next key of that mapping (YAML nests by indentation): indent its - 8 spaces, as on line 9`}},
		// A list item indented more than the one above it: yaml.v3 says
		// "mapping values are not allowed", "did not find expected key"
		// or "... '-' indicator" (by how far), the last two on the line
		// above; each is placed on the item, with the column it needs.
		{"list item indented past the one above", map[string]string{cf: doc("Topic", "t", "subscriptions:", "  - queue: a", "     - queue: b")},
			[]string{cf + `:8:8: invalid YAML: mapping values are not allowed in this context: this list item is indented 7 spaces, more than the one above it on line 7 (4 spaces), but the items of one list line up (YAML nests by indentation): indent its - 4 spaces, as on line 7`}},
		{"list item indented as the text of the one above", map[string]string{cf: doc("Topic", "t", "subscriptions:", "  - queue: a", "    - queue: b")},
			[]string{cf + `:8:7: invalid YAML: did not find expected key: this list item is indented 6 spaces, more than the one above it on line 7 (4 spaces), but the items of one list line up (YAML nests by indentation): indent its - 4 spaces, as on line 7`}},
		{"list item indented one more than the one above", map[string]string{cf: doc("Topic", "t", "subscriptions:", "  - queue: a", "   - queue: b")},
			[]string{cf + `:8:6: invalid YAML: did not find expected '-' indicator: this list item is indented 5 spaces, more than the one above it on line 7 (4 spaces), but the items of one list line up (YAML nests by indentation): indent its - 4 spaces, as on line 7`}},
		{"list item indented past a two-line one above", map[string]string{cf: doc("Topic", "t", "subscriptions:", "  - protocol: https", "    endpoint: https://x.example", "   - queue: b")},
			[]string{cf + `:9:6: invalid YAML: did not find expected '-' indicator: this list item is indented 5 spaces, more than the one above it on line 7 (4 spaces), but the items of one list line up (YAML nests by indentation): indent its - 4 spaces, as on line 7`}},
		// A block scalar's text is not a list item out of line.
		{"list item text in a block scalar is fine", map[string]string{cf: ms("command:", "  - sh", "  - |", "    - not an item", "    - text") + "---\n" + doc("Queue", "q") + "---\n" + doc("Topic", "t", "subscriptions:", "  - queue: q")}, nil},
		{"key dedented after a block scalar", map[string]string{cf: ms("command:", "  - |", "    echo one", "", "      two", "     three", " replicas: 2")},
			[]string{cf + `:13:4: invalid YAML: did not find expected key: this line is indented 3 spaces, which lines up with no key above it (YAML nests by indentation): indent it as far as line 8 (4 spaces) or command on line 7 (2 spaces)`}},
		{"key indented under a value", map[string]string{cf: strings.Replace(doc("Bucket", "b"), "  name: b", "  name: b\n    description: assets", 1)},
			[]string{cf + `:5:5: invalid YAML: mapping values are not allowed in this context: this line is indented more than name on line 4, which already has a value (YAML nests by indentation): indent it as far as name (2 spaces)`}},
		// Helm's {{ .Values.x }} and Jinja's {{ x }} are YAML mappings.
		{"template placeholders", map[string]string{cf: ms("replicas: {{ REPLICAS }}", "env: {A: {{.Values.a}}}")},
			[]string{cf + `:7:13: spec.replicas: {{ REPLICAS }} is template syntax, which YAML reads as a mapping; panka does not run templates: write ${REPLICAS}`,
				cf + `:8:12: spec.env.A: {{ .Values.a }} is template syntax, which YAML reads as a mapping; panka does not run templates: panka variables are written ${NAME}`}},
		{"template placeholders outside spec", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: {{ KIND }}\nmetadata:\n  name: q\nspec: {}\n---\napiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: {{ NAME }}\nspec: {}\n"},
			[]string{cf + `:2:7: kind: {{ KIND }} is template syntax, which YAML reads as a mapping; panka does not run templates: write the value itself`,
				cf + `:10:9: metadata.name: {{ NAME }} is template syntax, which YAML reads as a mapping; panka does not run templates: write the value itself`}},
		{"unclosed quote", map[string]string{cf: strings.Replace(doc("Bucket", "b"), "  name: b", "  name: b\n  description: \"the assets", 1)},
			[]string{cf + `:5:16: invalid YAML: found unexpected end of stream: the quote (") that starts the value of description is never closed, so YAML reads on to the end of the file: end the value with "`}},
		{"tab indentation", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q\nspec:\n\tfifo: true\n"},
			[]string{cf + `:6:1: invalid YAML: a tab in the indentation: YAML indents with spaces only, replace the tab with spaces`}},
		// yaml.v3 leaves the line out of errors on the first line, and out
		// of reader errors and unknown aliases altogether: they are placed.
		{"first line: missing key", map[string]string{cf: ": bad\n" + ms()},
			[]string{cf + `:1: invalid YAML: did not find expected key`}},
		{"first line: stack.yaml", map[string]string{"stacks/s/stack.yaml": ": bad\n" + stackYAML},
			[]string{`stacks/s/stack.yaml:1: invalid YAML: did not find expected key`}},
		{"first line: scanner error", map[string]string{cf: "a: b: c\n"},
			[]string{cf + `:1:5: invalid YAML: mapping values are not allowed in this context: the value of a holds ": ", which YAML reads as another key; put the value in quotes (a: "b: c")`}},
		{"colon in a list item", map[string]string{cf: ms("command: [sh, -c]", "healthCheck: {path: /x}") + "---\n" + doc("Worker", "w", "image: x", "command:", "  - echo done: 3 files", "  - {a: b}")},
			[]string{cf + `:17:7: spec.command[0]: want a string, got a mapping ("echo done: 3 files" reads as a key and its value because of the ": "; put it in quotes: "echo done: 3 files")`,
				cf + `:18:7: spec.command[1]: want a string, got a mapping`}},
		// description: Note: ... is the usual way to get there.
		{"colon in a plain value", map[string]string{cf: strings.Replace(doc("Bucket", "b"), "  name: b", "  name: b\n  description: Note: \"old\" data, ends with:", 1)},
			[]string{cf + `:5:20: invalid YAML: mapping values are not allowed in this context: the value of description holds ": ", which YAML reads as another key; put the value in quotes (description: "Note: \"old\" data, ends with:")`}},
		{"key longer than YAML allows", map[string]string{cf: ms("env:", "  "+strings.Repeat("K", 1100)+": x")},
			[]string{cf + `:8: invalid YAML: mapping values are not allowed in this context: a key longer than 1024 characters, the most YAML allows; shorten it`}},
		{"first line: tab", map[string]string{cf: "\tkind: Queue\n"},
			[]string{cf + `:1:1: invalid YAML: a tab in the indentation: YAML indents with spaces only, replace the tab with spaces`}},
		{"tab indentation in metadata", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n\tname: q\nspec: {}\n"},
			[]string{cf + `:4:1: invalid YAML: a tab in the indentation: YAML indents with spaces only, replace the tab with spaces`}},
		{"tab after spaces", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q\nspec:\n  fifo: true\n \tvisibilityTimeout: 5\n"},
			[]string{cf + `:7:2: invalid YAML: a tab in the indentation: YAML indents with spaces only, replace the tab with spaces`}},
		{"at sign, tab later", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: @q\nspec:\n\tfifo: true\n"},
			[]string{cf + `:4:9: invalid YAML: found character that cannot start any token: the value of name starts with @, which YAML reserves: put the value in quotes`}},
		// A merge or rebase that stopped on a conflict: the markers are
		// named, not the parser's complaint about them.
		{"merge conflict markers", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q\nspec:\n<<<<<<< HEAD\n  fifo: true\n=======\n  fifo: false\n>>>>>>> topic\n"},
			[]string{cf + `:6:1: invalid YAML: unresolved merge conflict (git's <<<<<<< marker): resolve the conflict in this file, then git add it`}},
		{"tab after a colon is fine", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name:\tq\nspec: {}\n"}, nil},
		{"control character", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q\x07\n"},
			[]string{cf + `:4:10: invalid YAML: control characters are not allowed (found U+0007)`}},
		{"control character after non-ASCII", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q\n  description: é\x1b\n"},
			[]string{cf + `:5:17: invalid YAML: control characters are not allowed (found U+001B)`}},
		{"unknown alias", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: &qq q\n  labels: {a: *qq, b: *q}\n"},
			[]string{cf + `:5:23: invalid YAML: unknown anchor 'q' referenced: *q needs an &q earlier in the same document (mark the value to reuse with &q, then write *q or <<: *q)`}},
		// yaml.v3 resolved *b to an &b of an earlier document: YAML anchors
		// are per document, so this file was valid to panka only.
		// An alias inside the value its anchor marks: yaml.v3 expands it
		// until the budget runs out, and the message blamed aliases
		// expanding exponentially; nor does the merge key add "needs a
		// mapping" at the same line:column.
		{"alias inside its own anchor", map[string]string{cf: strings.Replace(doc("Queue", "q", "fifo: true", "deadLetter:", "  <<: *s", "x: &c [a, *c]"), "spec:\n", "spec: &s\n", 1) + "---\n" + strings.Replace(doc("Queue", "q2"), "spec: {}", "spec: &t {deadLetter: *t}", 1)},
			[]string{cf + `:8:9: spec.deadLetter: *s refers to &s at line 5, which holds this *s: a value cannot hold itself; write out the values meant`,
				cf + `:9:13: spec.x[1]: *c refers to &c at line 9, which holds this *c`,
				cf + `:15:23: spec.deadLetter: *t refers to &t at line 15, which holds this *t`,
				cf + `:9:3: spec.x: unknown field`}},
		{"alias to an earlier document", map[string]string{cf: doc("Queue", "q1", "fifo: &f true", "deadLetter: &dl {maxReceives: 3}") + "---\n" + doc("Queue", "q2", "fifo: *f", "<<: {deadLetter: *dl}") + "---\n" + doc("Queue", "q3", "fifo: &f false", "visibilityTimeout: 30", "deadLetter: {maxReceives: 2}", "retentionPeriod: 60") + "  x: *f\n"},
			[]string{cf + `:14:9: spec.fifo: *f refers to &f at line 6, in an earlier document of this file: anchors are per document (after ---); repeat the value here, or mark it &f in this document`,
				cf + `:15:20: spec.deadLetter: *dl refers to &dl at line 7`, cf + `:26:3: spec.x: unknown field`}},
		{"not a mapping", map[string]string{cf: "- a\n- b\n"},
			[]string{cf + `:1:1: a document must be a mapping`}},
		// A stack file tracked with Git LFS is a pointer in git's objects.
		{"git lfs pointer", map[string]string{cf: "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 132\n"},
			[]string{cf + `:1:1: is a Git LFS pointer, not the YAML itself: panka reads stack files from git's objects, where Git LFS keeps only this pointer; stop tracking stack files with LFS (git lfs untrack PATTERN, then git add --renormalize . and commit)`}},
		// git-crypt and transcrypt store a stack file encrypted in git's
		// objects: it was "not a text file (binary content): ... remove
		// it or rename it" (git-crypt) or "a document must be a mapping,
		// got a string" (transcrypt's base64), though the work tree
		// holds the YAML.
		{"git-crypt", map[string]string{cf: "\x00GITCRYPT\x00\x8b\x13\x02\x00\x00"},
			[]string{cf + `:1:1: is encrypted with git-crypt, not the YAML itself: panka reads stack files from git's objects, where git-crypt keeps them encrypted (the work tree holds them decrypted only once unlocked); keep stack files out of git-crypt (remove their filter line in .gitattributes, then git add --renormalize . and commit)`}},
		{"transcrypt", map[string]string{cf: "U2FsdGVkX1+0g3Kq8cVQkB5mL7e0M2n4Z1a9c8d7e6f5\n"},
			[]string{cf + `:1:1: is encrypted with transcrypt, not the YAML itself`}},
		{"binary file", map[string]string{cf: "\x00\x01\x02PNG"},
			[]string{cf + `: not a text file (binary content)`}},
		{"invalid utf8", map[string]string{cf: "kind: \xff\xfe\n"},
			[]string{cf + `:1:7: invalid UTF-8 (byte 0xff): stack files must be UTF-8; save the file as UTF-8`}},
		{"latin-1", map[string]string{cf: "apiVersion: core.panka.io/v1\nkind: Queue\nmetadata:\n  name: q\n  description: caf\xe9 cr\xe8me\n"},
			[]string{cf + `:5:19: invalid UTF-8 (byte 0xe9)`}},
		{"utf-16", map[string]string{cf: "\xff\xfek\x00i\x00n\x00d\x00:\x00"},
			[]string{cf + `: the file is UTF-16 text: stack files must be UTF-8; save the file as UTF-8`}},
		{"kind stack elsewhere", map[string]string{cf: doc("Stack", "x")},
			[]string{cf + `:2:7: kind: a Stack document belongs in stacks/s/stack.yaml only: a stack has one, in its stack.yaml; to start another stack, move this document to the stack.yaml of a folder of its own outside stacks/s`}},
		// A misspelled environments folder made the environment not
		// exist; the error said where it belongs but not that a folder
		// name is the mistake, nor the git mv that fixes it.
		{"environments folder misspelled", map[string]string{"stacks/s/environments/dev.yaml": "", "stacks/s/enviroments/dev.yaml": devYAML},
			[]string{`stacks/s/enviroments/dev.yaml:2:7: kind: an Environment document belongs in stacks/s/environments/<env>.yaml, not in stacks/s/enviroments/: rename the folder (git mv stacks/s/enviroments stacks/s/environments)`}},
		{"environment in another folder", map[string]string{"stacks/s/env/prod.yaml": strings.Replace(devYAML, "name: dev", "name: prod", 1)},
			[]string{`stacks/s/env/prod.yaml:2:7: kind: an Environment document belongs in stacks/s/environments/<env>.yaml, not in stacks/s/env/: move it there (git mv stacks/s/env/prod.yaml stacks/s/environments/)`}},
		{"environment among components", map[string]string{cf: devYAML},
			[]string{cf + `:2:7: kind: an Environment document belongs in stacks/s/environments/<env>.yaml, not in stacks/s/infra/: move it there (git mv ` + cf + ` stacks/s/environments/)`}},
		{"environment in a service", map[string]string{"stacks/s/services/api/dev.yaml": devYAML},
			[]string{"stacks/s/services/api/dev.yaml:2:7: kind: an Environment document belongs in stacks/s/environments/<env>.yaml, not in stacks/s/services/api/: move it to stacks/s/environments/dev.yaml"}},
		// At the stack root it said where it belongs, not what to do.
		{"environment at the stack root", map[string]string{"stacks/s/qa.yaml": strings.Replace(devYAML, "name: dev", "name: qa", 1)},
			[]string{"stacks/s/qa.yaml:2:7: kind: an Environment document belongs in stacks/s/environments/<env>.yaml, not in stacks/s/: move it to stacks/s/environments/qa.yaml"}},
		// A Service outside services/<svc>/ was accepted silently: in
		// infra/ it made every shared component there part of the
		// service, at the stack root it grouped nothing.
		{"service in infra", map[string]string{cf: doc("Service", "ops") + "---\n" + doc("Queue", "q")},
			[]string{cf + `:2:7: kind: a Service document belongs in stacks/s/services/<service>/service.yaml, not in stacks/s/infra/: move it to stacks/s/services/ops/service.yaml, next to the components it groups`}},
		{"service at the stack root", map[string]string{"stacks/s/ops.yaml": doc("Service", "ops")},
			[]string{`stacks/s/ops.yaml:2:7: kind: a Service document belongs in stacks/s/services/<service>/service.yaml, not in stacks/s/: move it to stacks/s/services/ops/service.yaml`}},
		{"service directly in services", map[string]string{"stacks/s/services/service.yaml": doc("Service", "ops")},
			[]string{`stacks/s/services/service.yaml:2:7: kind: a Service document belongs in stacks/s/services/<service>/service.yaml, not in stacks/s/services/:`}},
		// One below a service folder: the folder above is reported once,
		// as the misplaced Service, not again as a folder with none.
		{"service nested in a service folder", map[string]string{"stacks/s/services/api/jobs/service.yaml": doc("Service", "jobs") + "---\n" + doc("Queue", "q")},
			[]string{`stacks/s/services/api/jobs/service.yaml:2:7: kind: a Service document belongs in stacks/s/services/<service>/service.yaml, not in stacks/s/services/api/jobs/: move it to stacks/s/services/jobs/service.yaml`}},
		{"two services in one folder", map[string]string{"stacks/s/services/api/service.yaml": doc("Service", "api"), "stacks/s/services/api/more.yaml": doc("Service", "api2")},
			[]string{`stacks/s/services/api/service.yaml:4:9: metadata.name: folder stacks/s/services/api already has Service "api2" (stacks/s/services/api/more.yaml): one Service per folder`}},
		// Components in a service folder whose service.yaml was deleted
		// or misnamed deployed as belonging to no service.
		{"service folder without a service", map[string]string{"stacks/s/services/api/api.yaml": ms() + "---\n" + doc("Queue", "q"), "stacks/s/services/api/jobs/cron.yaml": doc("CronJob", "cleanup", "image: x", "schedule: rate(1 day)")},
			[]string{`stacks/s/services/api/api.yaml:4:9: service folder stacks/s/services/api has no Service document, so its components (api, q, cleanup) belong to no service: add stacks/s/services/api/service.yaml (kind: Service, metadata.name: api), or move the components into infra/ if they are shared`}},
		// A Service that does not load is reported once, for what is
		// wrong with it, not again as a folder without a Service.
		{"service kind mistyped", map[string]string{"stacks/s/services/api/service.yaml": doc("service", "api") + "---\n" + ms()},
			[]string{`stacks/s/services/api/service.yaml:2:7: kind: unknown kind "service" (case matters: write "Service")`}},
		{"service name invalid", map[string]string{"stacks/s/services/api/service.yaml": doc("Service", "Api") + "---\n" + ms()},
			[]string{`stacks/s/services/api/service.yaml:4:9: metadata.name: invalid name "Api"`}},
		{"service file not YAML", map[string]string{"stacks/s/services/api/service.yaml": "kind: [\n", "stacks/s/services/api/api.yaml": ms()},
			[]string{`stacks/s/services/api/service.yaml:1: invalid YAML`}},
		{"component directly in services", map[string]string{"stacks/s/services/q.yaml": doc("Queue", "q")},
			[]string{`stacks/s/services/q.yaml:4:9: Queue "q" is directly in stacks/s/services/, where only service folders belong: move it into stacks/s/services/<service>/ beside that service's service.yaml, or into infra/ if it is shared`}},
		{"env overlay unknown component", map[string]string{cf: ms(), "stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    apii:\n      replicas: 2\n"},
			[]string{`stacks/s/environments/dev.yaml:9:5: spec.overrides.apii: environment "dev" overrides unknown component "apii" (did you mean "api"?)`}},
		// An override's problems are where they are written: the key
		// path names the override, not the component's own spec.
		{"env overlay unknown field", map[string]string{cf: ms(), "stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    api:\n      replicaz: 2\n      healthCheck: {pth: /x}\n      port: high\n"},
			[]string{`stacks/s/environments/dev.yaml:10:7: spec.overrides.api.replicaz: unknown field (did you mean "replicas"?)`,
				`stacks/s/environments/dev.yaml:11:21: spec.overrides.api.healthCheck.pth: unknown field (did you mean "path"?)`,
				`stacks/s/environments/dev.yaml:12:13: spec.overrides.api.port: want an integer, got a string ("high")`}},
		{"env overlay two components", map[string]string{cf: ms() + "---\n" + doc("Queue", "q"), "stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    api:\n      replicaz: 2\n    q:\n      fifoo: true\n"},
			[]string{`stacks/s/environments/dev.yaml:10:7: spec.overrides.api.replicaz: unknown field`,
				`stacks/s/environments/dev.yaml:12:7: spec.overrides.q.fifoo: unknown field`}},
		// A stack.yaml that does not load declares nothing: the
		// variables its components use are unknown, not undeclared (and
		// an empty value must not fail the checks of the fields they fill).
		{"stack.yaml of the wrong kind", map[string]string{"stacks/s/stack.yaml": strings.Replace(stackYAML, "kind: Stack", "kind: Environment", 1),
			cf: doc("CronJob", "j", "image: x:${TAG}", "schedule: ${TAG}", "env: {A: '${HOST}'}")},
			[]string{`stacks/s/stack.yaml:2:7: kind: stack.yaml must be kind: Stack, got Environment`}},
		{"env name mismatch", map[string]string{"stacks/s/environments/dev.yaml": strings.Replace(devYAML, "name: dev", "name: prod", 1)},
			[]string{`stacks/s/environments/dev.yaml:4:9: metadata.name: environment name "prod" must match its file name dev.yaml ("dev")`}},
		{"env undeclared variable", map[string]string{"stacks/s/environments/dev.yaml": devYAML + "    NOPE: x\n"},
			[]string{`stacks/s/environments/dev.yaml:8:5: spec.variables.NOPE: variable "NOPE" is not declared in stacks/s/stack.yaml`}},
		// An override whose fields are all commented out is null: it
		// changes nothing, but a mistyped name is still one.
		{"empty override of an unknown component", map[string]string{cf: ms(), "stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    api:\n    apii:\n      # replicas: 2\n"},
			[]string{`stacks/s/environments/dev.yaml:10:5: spec.overrides.apii: environment "dev" overrides unknown component "apii" (did you mean "api"?)`}},
		{"env variable typo", map[string]string{"stacks/s/environments/dev.yaml": devYAML + "    tag: x\n"},
			[]string{`stacks/s/environments/dev.yaml:8:5: spec.variables.tag: variable "tag" is not declared in stacks/s/stack.yaml (case matters: write "TAG"): add it`}},
		{"env file bad name", map[string]string{"stacks/s/environments/Prod.yaml": doc("Environment", "Prod")},
			[]string{`stacks/s/environments/Prod.yaml: environment file name: invalid name "Prod": use lowercase letters, digits and '-', starting with a letter (no '/', '..', spaces or uppercase): rename it (git mv stacks/s/environments/Prod.yaml stacks/s/environments/prod.yaml) and set its metadata.name to prod`}},
		{"env file bad name, not only its case", map[string]string{"stacks/s/environments/Prod_EU.yaml": doc("Environment", "x")},
			[]string{`stacks/s/environments/Prod_EU.yaml: environment file name: invalid name "Prod_EU": use lowercase letters, digits and '-', starting with a letter (no '/', '..', spaces or uppercase)`}},
		// A newcomer's layouts of an environment file: a declaration
		// where a value goes, a component's override straight under
		// spec, an override written as a component document.
		{"env file in the shapes of other files", map[string]string{cf: ms(), "stacks/s/environments/dev.yaml": devYAML + "    TAG: {default: x}\n  api:\n    replicas: 2\n  overrides:\n    api:\n      spec:\n        replicas: 2\n"},
			[]string{`stacks/s/environments/dev.yaml:8:10: spec.variables.TAG: want a string, number or boolean, got a mapping: an environment gives the variable its value (TAG: VALUE); default, required, secret and description belong to its declaration in stacks/s/stack.yaml`,
				`stacks/s/environments/dev.yaml:9:3: spec.api: unknown field (to override component api, put it under spec.overrides); an Environment spec has description, variables, overrides and provider`,
				`stacks/s/environments/dev.yaml:13:7: spec.overrides.api.spec: unknown field; valid fields: image, command, port, cpu, memory, replicas, env, secrets, secretsKmsKeys, healthCheck, autoscaling, loadBalancer, dependsOn: an override holds the component's spec fields themselves; move the fields under this spec: up one level and remove it`}},
		// docker-compose takes a command (and one dependency) as a string.
		{"string for a list", map[string]string{cf: ms("command: echo hi") + "---\n" + doc("Worker", "w", "image: x", "command: [sh]", "dependsOn: api", "secretsKmsKeys: arn:aws:kms:eu-west-1:123456789012:key/x")},
			[]string{cf + `:7:12: spec.command: want a list of strings, got a string: write it as a list, e.g. [sh, -c, "echo hi"] to run it in a shell`,
				cf + `:16:14: spec.dependsOn: want a list of component names, got a string: write [api]`,
				cf + `:17:19: spec.secretsKmsKeys: want a list of strings, got a string: write a list, [a, b] or one "- item" a line`}},
		// A file that does not load declares nothing that can be known:
		// the components after its syntax error are not "unknown" where
		// used (with a valid file, they are).
		{"references into a file that does not load", map[string]string{"stacks/s/infra/d.yaml": doc("Bucket", "b") + "---\n" + doc("Queue", "q", "fifo: true", " visibilityTimeout: 3"),
			cf:                               ms("env: {Q: '${q.url}', B: '${b.name}'}", "dependsOn: [q]") + "---\n" + doc("Topic", "t", "subscriptions: [{queue: q}]"),
			"stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    q: {fifo: false}\n"},
			[]string{`stacks/s/infra/d.yaml:13:4: invalid YAML: mapping values are not allowed in this context: this line is indented more than fifo on line 12`}},
		{"references to a file that loads, misspelt", map[string]string{"stacks/s/infra/d.yaml": doc("Bucket", "b") + "---\n" + doc("Queue", "q", "fifo: true"),
			cf: ms("env: {Q: '${qq.url}'}")},
			[]string{cf + `:7:12: spec.env.Q: reference ${qq.url}: unknown component "qq" (did you mean "q"?)`}},
		{"colon left out", map[string]string{cf: doc("Queue", "q", "fifo true") + "---\n" + doc("Queue", "r", "deadLetter: maxReceives 3")},
			[]string{cf + `:6:3: spec: want a mapping, got a string ("fifo true": a key needs a colon after it, write fifo: true)`,
				cf + `:13:15: spec.deadLetter: want a mapping with fields maxReceives, got a string ("maxReceives 3": a key needs a colon after it, write maxReceives: 3)`}},
		{"reference to another stack", map[string]string{cf: ms("env: {A: '${billing.db.endpoint}', B: '${a.b.c.d}'}")},
			[]string{cf + `:7:12: spec.env.A: invalid reference ${billing.db.endpoint}: a reference names a component of this stack, ${<component>.<output>}; another stack's outputs cannot be referenced (pass the value in a variable instead)`,
				cf + `:7:41: spec.env.B: invalid reference ${a.b.c.d}: write ${<component>.<output>}`}},
		{"spec inside spec", map[string]string{cf: ms("spec: {replicas: 2}")},
			[]string{cf + `:7:3: spec.spec: unknown field; valid fields: image, command, port, cpu, memory, replicas, env, secrets, secretsKmsKeys, healthCheck, autoscaling, loadBalancer, dependsOn: the fields go straight under spec:, not under a second one; move them up one level and remove this spec:`}},
		{"env wrong kind", map[string]string{"stacks/s/environments/qa.yaml": doc("Bucket", "qa")},
			[]string{`stacks/s/environments/qa.yaml:2:7: kind: files in stacks/s/environments must be kind: Environment, got Bucket: move it into stacks/s/infra/ if it is shared, or into the folder of the service it belongs to (stacks/s/services/<service>/)`}},
		// A second document in an environment file: where it goes.
		{"component after the environment", map[string]string{"stacks/s/environments/dev.yaml": devYAML + "---\n" + doc("Queue", "q")},
			[]string{`stacks/s/environments/dev.yaml:9: an environment file holds exactly one document (kind: Environment): for the Queue "q" after it, move it into stacks/s/infra/ if it is shared`}},
		{"environment after the environment", map[string]string{"stacks/s/environments/dev.yaml": devYAML + "---\n" + strings.Replace(devYAML, "name: dev", "name: qa", 1)},
			[]string{`stacks/s/environments/dev.yaml:9: an environment file holds exactly one document (kind: Environment): for the Environment "qa" after it, move it to stacks/s/environments/qa.yaml`}},
		// The error said what an environment file must hold, not where
		// the document found there goes.
		{"service in environments", map[string]string{"stacks/s/environments/api.yaml": doc("Service", "api")},
			[]string{`stacks/s/environments/api.yaml:2:7: kind: files in stacks/s/environments must be kind: Environment, got Service: move it to stacks/s/services/api/service.yaml, next to the components it groups`}},
		{"stack in environments", map[string]string{"stacks/s/environments/qa.yaml": doc("Stack", "qa")},
			[]string{`stacks/s/environments/qa.yaml:2:7: kind: files in stacks/s/environments must be kind: Environment, got Stack: a stack has one, in its stack.yaml; to start another stack`}},
		{"env unknown field", map[string]string{"stacks/s/environments/dev.yaml": devYAML + "  replicas: 3\n"},
			[]string{`stacks/s/environments/dev.yaml:8:3: spec.replicas: unknown field; an Environment spec has description, variables, overrides and provider`}},
		{"stack unknown field", map[string]string{"stacks/s/stack.yaml": stackYAML + "  region: x\n"},
			[]string{`stacks/s/stack.yaml:16:3: spec.region: unknown field; a Stack spec has description, provider, variables, watch and backend`}},
		{"provider unknown field", map[string]string{"stacks/s/stack.yaml": strings.Replace(stackYAML, "    region: eu-west-1", "    regoin: eu-west-1", 1)},
			[]string{`stacks/s/stack.yaml:8:5: spec.provider.regoin: unknown field (did you mean "region"?)`}},
		{"variable fields", map[string]string{"stacks/s/stack.yaml": strings.Replace(stackYAML, "      secret: true", "      secret: yes please\n      hidden: true", 1)},
			[]string{`stacks/s/stack.yaml:15:15: spec.variables.KEY.secret: want true or false`, `stacks/s/stack.yaml:16:7: spec.variables.KEY.hidden: unknown field`}},
		{"variable fields yaml 1.1", map[string]string{"stacks/s/stack.yaml": strings.Replace(strings.Replace(stackYAML, "      secret: true", "      secret: yes", 1), "      required: true", "      required: [x]", 1)},
			[]string{`stacks/s/stack.yaml:13:17: spec.variables.HOST.required: want true or false, got a list`,
				`stacks/s/stack.yaml:15:15: spec.variables.KEY.secret: want true or false, got "yes": stack files are YAML 1.2, where yes is a string, not a boolean; write true or false`}},
		{"watch glob", map[string]string{"stacks/s/stack.yaml": stackYAML + "  watch: [../outside, 'a/[b']\n"},
			[]string{`stacks/s/stack.yaml:16:11: spec.watch[0]: watch glob "../outside" must be relative`, `stacks/s/stack.yaml:16:23: spec.watch[1]: invalid watch glob "a/[b"`}},
		// Glob forms of other tools that would silently match nothing (or
		// less than meant) here.
		{"watch glob forms not supported", map[string]string{"stacks/s/stack.yaml": stackYAML + "  watch: ['!shared/tmp/**', 'conf/{a,b}.txt', 'shared/**.json', 'shared/**/*.json', 'lib/{x}.txt']\n"},
			[]string{`stacks/s/stack.yaml:16:11: spec.watch[0]: watch glob "!shared/tmp/**": a leading ! does not exclude anything here`,
				`stacks/s/stack.yaml:16:29: spec.watch[1]: watch glob "conf/{a,b}.txt": braces {a,b} are not supported`,
				`stacks/s/stack.yaml:16:47: spec.watch[2]: watch glob "shared/**.json": ** matches any depth only as a whole path segment (shared/**/*.json); inside "**.json" it is a plain *`}},
		{"watch glob with .. inside the repository", map[string]string{"stacks/s/stack.yaml": stackYAML + "  watch: ['stacks/../shared/**', 'a/../../b']\n"},
			[]string{`stacks/s/stack.yaml:16:11: spec.watch[0]: watch glob "stacks/../shared/**": ".." segments are not resolved (globs match repo-relative paths as written): write shared/**`,
				`stacks/s/stack.yaml:16:34: spec.watch[1]: watch glob "a/../../b" must be relative to the repository root and stay inside it`}},
		// shared//x, shared/./x and shared\x (a Windows separator) were
		// taken and matched no path: changes to the watched file were
		// never reported. A leading ./ and a trailing / are fine.
		{"watch glob matching no path", map[string]string{"stacks/s/stack.yaml": stackYAML + "  watch: ['shared//x', 'shared/./x/', './', 'shared\\sub\\*.json', './ok/', 'ok\\*', 'ok/\\[x\\]']\n"},
			[]string{`stacks/s/stack.yaml:16:11: spec.watch[0]: watch glob "shared//x" has an empty or "." path segment, which matches no path: write shared/x`,
				`stacks/s/stack.yaml:16:24: spec.watch[1]: watch glob "shared/./x/" has an empty or "." path segment, which matches no path: write shared/x`,
				`stacks/s/stack.yaml:16:39: spec.watch[2]: watch glob "./" has an empty or "." path segment, which matches no path: write ** for the whole repository`,
				`stacks/s/stack.yaml:16:45: spec.watch[3]: watch glob "shared\\sub\\*.json": \ is not a folder separator here (it escapes the next character): write shared/sub/*.json`}},
		// A declaration's field indented one level too little: DB_PASSWORD
		// was declared plain (printed, stored in clear) and a variable
		// named secret declared beside it.
		{"declaration field mis-indented", map[string]string{"stacks/s/stack.yaml": stackYAML + "    DB_PASSWORD:\n    secret: true\n    required: true\n"},
			[]string{`stacks/s/stack.yaml:17:5: spec.variables.secret: "secret" is a field of the declaration of DB_PASSWORD above (which has nothing under it), indented one level too little: indent it under DB_PASSWORD`,
				`stacks/s/stack.yaml:18:5: spec.variables.required: "required" is a field of the declaration of DB_PASSWORD above`}},
		{"declaration field as a variable", map[string]string{"stacks/s/stack.yaml": stackYAML + "    description: the tag\n"},
			[]string{`stacks/s/stack.yaml:16:5: spec.variables.description: "description" is a field of a variable declaration, not a variable: indent it under the variable it belongs to`}},
		{"empty watch glob", map[string]string{"stacks/s/stack.yaml": stackYAML + "  watch: ['', [a]]\n"},
			[]string{`stacks/s/stack.yaml:16:11: spec.watch[0]: empty watch glob: remove it`, `stacks/s/stack.yaml:16:15: spec.watch[1]: want a glob string, got a list`}},
		{"service spec", map[string]string{"stacks/s/services/api/service.yaml": doc("Service", "api", "team: x")},
			[]string{`stacks/s/services/api/service.yaml:6:3: spec.team: unknown field; a Service spec has owner and description`}},
		{"all errors together", map[string]string{cf: ms("cpuu: 1", "replicas: x"), "stacks/s/infra/d.yaml": doc("Bucket", "B")},
			[]string{cf + `:7:3: spec.cpuu: unknown field`, cf + `:8:13: spec.replicas: want an integer`, `stacks/s/infra/d.yaml:4:9: metadata.name: invalid name "B"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := testFS(tt.files)
			s, err := Load(fsys, "stacks/s")
			if err == nil {
				err = s.Validate(ResolveOptions{})
			}
			wantErrs(t, err, tt.want...)
		})
	}
}

// TestFlowRefHint: the hint is given only for a ${ written unquoted
// inside { } or [ ] on the line of the error, not for one quoted, in a
// comment, or outside a flow collection.
func TestFlowRefHint(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{"spec: {a: ${X}}\n", `did not find expected ',' or '}': ${X} inside { } or [ ] must be quoted, as YAML ends a plain value there at its {: write "${X}"`},
		{"spec: {a: 3 b: 4\n", `did not find expected ',' or '}'`},
		{"spec: {a: 3 b: '${X}'\n", `did not find expected ',' or '}'`},
		{"spec: {a: 3 b: 4  # ${X}\n", `did not find expected ',' or '}'`},
	} {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(tt.doc), &n)
		if err == nil {
			t.Fatalf("%q parsed", tt.doc)
		}
		if _, _, msg := YAMLErrorPos(err, []byte(tt.doc)); msg != tt.want {
			t.Errorf("%q: %q, want %q", tt.doc, msg, tt.want)
		}
	}
}

// TestReadWatchKeySetTwice: a spec.watch (or a spec) set twice is one
// error and not checked, but change detection still watches the globs of
// its first value, as before, rather than none.
func TestReadWatchKeySetTwice(t *testing.T) {
	for name, yaml := range map[string]string{
		"watch": stackYAML + "  watch: ['shared/**', '']\n  watch: []\n",
		"spec":  stackYAML + "  watch: ['shared/**']\nspec: {}\n",
	} {
		fsys := testFS(map[string]string{"stacks/s/stack.yaml": yaml})
		_, watch, err := ReadWatch(fsys, "stacks/s")
		if len(watch) != 1 || watch[0] != "shared/**" {
			t.Errorf("%s set twice: watch %q", name, watch)
		}
		if got := errStrings(t, err); len(got) != 1 || !strings.Contains(got[0], "duplicate key") {
			t.Errorf("%s set twice: errors %q, want the duplicate key only", name, got)
		}
	}
}

// TestResolveRules covers variables, references, overlays and cycles.
// TestCrontabHint: a crontab (Kubernetes CronJob) schedule is refused with
// its EventBridge form when there is an exact one, and without a guess
// when there is none.
func TestCrontabHint(t *testing.T) {
	for s, want := range map[string]string{
		"0 3 * * *":             `; for the crontab schedule "0 3 * * *" write cron(0 3 * * ? *)`,
		"cron(30 2 1 * *)":      `; for the crontab schedule "30 2 1 * *" write cron(30 2 1 * ? *)`,
		"0 9 * * MON,FRI":       `; for the crontab schedule "0 9 * * MON,FRI" write cron(0 9 ? * MON,FRI *)`,
		"@hourly":               `; for the crontab schedule "@hourly" write cron(0 * * * ? *)`,
		"@weekly":               `; for the crontab schedule "@weekly" write cron(0 0 ? * SUN *)`,
		"0 3 * * 1":             "", // Sunday is 0 in crontab, 1 in EventBridge: no guess
		"0 3 1 * MON":           "", // both days: EventBridge cannot say it
		"0 3 * *":               "",
		"61 3 * * *":            "", // no valid equivalent
		"every day":             "",
		"cron(0 3 * * ? * *)":   "",
		"rate(5 minutes) extra": "",
	} {
		got := CheckSchedule(s)
		if got == "" {
			t.Errorf("CheckSchedule(%q) accepted it", s)
			continue
		}
		if want == "" && strings.Contains(got, "crontab") || want != "" && !strings.HasSuffix(got, want) {
			t.Errorf("CheckSchedule(%q) = %q, want the hint %q", s, got, want)
		}
	}
	if got := scheduleProblem("0 3 * * *", true); strings.Contains(got, "0 3") {
		t.Errorf("a secret schedule is shown: %q", got)
	}
}

func TestResolveRules(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		opts  ResolveOptions
		want  []string
	}{
		{"required unset", map[string]string{"stacks/s/environments/dev.yaml": doc("Environment", "dev")}, ResolveOptions{},
			[]string{`stacks/s/stack.yaml:12:5: spec.variables.HOST: required variable HOST has no value for environment "dev": set it with --var HOST=VALUE, --var-file, PANKA_VAR_HOST or spec.variables in stacks/s/environments/dev.yaml`}},
		{"required unset lenient", map[string]string{"stacks/s/environments/dev.yaml": doc("Environment", "dev")}, ResolveOptions{Lenient: true}, nil},
		// Without values (validate, a pre-push hook) an unset secret is
		// unknown, not "" that a checked field would refuse.
		// (On the local target: the aws one refuses a secret engine.)
		{"secret unset lenient, checked field", map[string]string{"stacks/s/stack.yaml": localStackYAML, "stacks/s/infra/db.yaml": doc("Database", "db", "engine: ${KEY}")}, ResolveOptions{Lenient: true}, nil},
		{"undeclared variable", map[string]string{cf: ms("env: {A: '${NOPE}'}")}, ResolveOptions{},
			[]string{cf + `:7:12: spec.env.A: undeclared variable ${NOPE}: declare it under spec.variables in stacks/s/stack.yaml, or give a default with ${NOPE:-value}`}},
		// ${ orders.url }, as some template languages allow.
		{"spaces inside ${}", map[string]string{cf: ms("env: {A: '${ api.url }', B: '${ TAG }', C: '${TAG :-x}'}")}, ResolveOptions{},
			[]string{cf + `:7:12: spec.env.A: invalid reference ${ api.url }: no spaces inside ${...}: write ${api.url}`,
				cf + `:7:31: spec.env.B: invalid variable ${ TAG }: no spaces inside ${...}: write ${TAG}`,
				cf + `:7:46: spec.env.C: invalid variable ${TAG :-x}: no spaces inside ${...}: write ${TAG:-x}`}},
		{"variable typo", map[string]string{cf: ms("env: {A: '${TAGG}'}")}, ResolveOptions{},
			[]string{cf + `:7:12: spec.env.A: undeclared variable ${TAGG} (did you mean "TAG"?): declare it under spec.variables in stacks/s/stack.yaml`}},
		{"undeclared with default", map[string]string{cf: ms("env: {A: '${NOPE:-x}'}")}, ResolveOptions{}, nil},
		{"nested default", map[string]string{cf: ms("env: {A: '${NOPE:-${TAG}}', B: '${NOPE:-${api.url}}'}")}, ResolveOptions{},
			[]string{cf + `:7:12: spec.env.A: the default of ${NOPE:-...} cannot hold ${...}: nested substitutions are not supported`,
				cf + `:7:34: spec.env.B: the default of ${NOPE:-...} cannot hold ${...}`}},
		{"unterminated", map[string]string{cf: ms("env: {A: '${TAG'}")}, ResolveOptions{},
			[]string{cf + `:7:12: spec.env.A: unterminated ${ in "${TAG"`}},
		{"unknown component ref", map[string]string{cf: ms("env: {A: '${db.endpoint}'}")}, ResolveOptions{},
			[]string{cf + `:7:12: spec.env.A: reference ${db.endpoint}: unknown component "db"`}},
		{"unknown output", map[string]string{cf: ms("env: {A: '${db.url}'}") + "---\n" + doc("Database", "db")}, ResolveOptions{},
			[]string{cf + `:7:12: spec.env.A: reference ${db.url}: a Database has no output "url"; its outputs are endpoint, address, port, secretArn`}},
		{"reference in int field", map[string]string{cf: ms("port: ${db.port}") + "---\n" + doc("Database", "db")}, ResolveOptions{},
			[]string{cf + `:7:9: spec.port: want an integer, got a string ("${db.port}": references to component outputs can only be used in string fields)`}},
		{"self reference", map[string]string{cf: ms("env: {A: '${api.url}'}")}, ResolveOptions{},
			[]string{cf + `:7:12: spec.env.A: component "api" references its own output ${api.url}`}},
		{"unknown dependsOn", map[string]string{cf: ms("dependsOn: [dbb]") + "---\n" + doc("Database", "db")}, ResolveOptions{},
			[]string{cf + `:7:15: spec.dependsOn: unknown component "dbb" (did you mean "db"?)`}},
		{"cycle", map[string]string{cf: ms("dependsOn: [w]") + "---\n" + doc("Worker", "w", "image: x", "env: {U: '${api.url}'}")}, ResolveOptions{},
			[]string{cf + `:7:15: spec.dependsOn: dependency cycle: api -> w -> api (through dependsOn and ${component.output} references): break the cycle`}},
		// A cycle is reported where its first edge is written: an
		// environment's override (not the component's file, which has
		// no dependsOn), a reference with its key path.
		{"cycle made by an override", map[string]string{cf: ms() + "---\n" + doc("Worker", "w", "image: x", "env: {U: '${api.url}'}"), "stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    api:\n      dependsOn: [w]\n"}, ResolveOptions{},
			[]string{`stacks/s/environments/dev.yaml:10:19: spec.overrides.api.dependsOn: dependency cycle: api -> w -> api (through dependsOn and ${component.output} references): break the cycle`}},
		{"cycle made by an override's reference", map[string]string{cf: ms("dependsOn: [w]") + "---\n" + doc("Worker", "w", "image: x"), "stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    w:\n      env: {U: '${api.url}'}\n"}, ResolveOptions{},
			[]string{`stacks/s/infra/c.yaml:7:15: spec.dependsOn: dependency cycle: api -> w -> api (through dependsOn and ${component.output} references): break the cycle`}},
		{"cycle through a reference first", map[string]string{cf: doc("Worker", "a", "image: x", "env: {U: '${api.url}'}") + "---\n" + ms("dependsOn: [a]")}, ResolveOptions{},
			[]string{cf + `:7:12: spec.env.U: dependency cycle: a -> api -> a (through dependsOn and ${component.output} references): break the cycle`}},
		// Every problem at once: a cycle is not held back until the
		// other problems are fixed.
		{"cycle and another problem", map[string]string{cf: ms("dependsOn: [w]", "replicas: lots") + "---\n" + doc("Worker", "w", "image: x", "env: {U: '${api.url}'}")}, ResolveOptions{},
			[]string{cf + `:8:13: spec.replicas: want an integer, got a string ("lots")`,
				cf + `:7:15: spec.dependsOn: dependency cycle: api -> w -> api (through dependsOn and ${component.output} references): break the cycle`}},
		// An override's null removes a field: a required one is
		// reported where the null is, not in the component's file.
		{"override nulls a required field", map[string]string{cf: ms(), "stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    api:\n      image: ~\n"}, ResolveOptions{},
			[]string{`stacks/s/environments/dev.yaml:10:14: spec.overrides.api.image: required field is empty (null): give it a value`}},
		{"required field null in its own file", map[string]string{cf: doc("MicroService", "api", "image:", "port: 80")}, ResolveOptions{},
			[]string{cf + `:6:9: spec.image: required field is empty (null): give it a value`}},
		{"overlay type error points at env file", map[string]string{cf: ms(), "stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    api:\n      replicas: lots\n"}, ResolveOptions{},
			[]string{`stacks/s/environments/dev.yaml:10:17: spec.overrides.api.replicas: want an integer, got a string ("lots")`}},
		// A leading zero reads as octal to YAML 1.1 and Go (0512 = 330)
		// but decimal to YAML 1.2 and to a zero-padded variable: refused,
		// in the file and from a variable; 0o, 0x and 0 itself are fine.
		{"leading zero", map[string]string{cf: ms("replicas: 010")}, ResolveOptions{},
			[]string{cf + `:7:13: spec.replicas: want an integer, got "010": a leading zero is ambiguous (octal in YAML 1.1, decimal in YAML 1.2); write it without the zero, or 0o... for octal`}},
		{"leading zero from a variable", map[string]string{cf: ms("replicas: ${TAG}")}, ResolveOptions{Vars: VarValues{Flags: map[string]string{"TAG": "010"}}},
			[]string{cf + `:7:13: spec.replicas: want an integer, got "010": a leading zero is ambiguous`}},
		{"octal, hex and zero", map[string]string{cf: ms("replicas: 0o10", "cpu: 0x100", "port: 0777") + "---\n" + doc("Worker", "w", "image: x", "replicas: 0")}, ResolveOptions{},
			[]string{cf + `:9:9: spec.port: want an integer, got "0777": a leading zero is ambiguous`}},
		// 08080 is no octal number: yaml.v3 reads it as a float, which
		// said "got a number" without why.
		{"leading zero not octal", map[string]string{cf: ms("port: 08080", "replicas: 09", "cpu: 08.5")}, ResolveOptions{},
			[]string{cf + `:7:9: spec.port: want an integer, got "08080": a leading zero is ambiguous (octal in YAML 1.1, decimal in YAML 1.2); write it without the zero`,
				cf + `:8:13: spec.replicas: want an integer, got "09": a leading zero is ambiguous`,
				cf + `:9:8: spec.cpu: want an integer, got a number ("08.5")`}},
		{"var value wrong type", map[string]string{cf: ms("replicas: ${TAG}")}, ResolveOptions{Vars: VarValues{Flags: map[string]string{"TAG": "x"}}},
			[]string{cf + `:7:13: spec.replicas: want an integer, got "x"`}},
		{"var value right type", map[string]string{cf: ms("replicas: ${TAG}")}, ResolveOptions{Vars: VarValues{Flags: map[string]string{"TAG": "3"}}}, nil},
		// LOG_LEVEL: with nothing after it was silently not set; in an
		// override a null still removes the entry.
		{"null map entry", map[string]string{cf: ms("env: {A: x, LOG_LEVEL: , B: ~}", "secrets: {S: null}"),
			"stacks/s/environments/dev.yaml": devYAML + "  overrides:\n    api: {env: {A: ~, C: null}}\n"}, ResolveOptions{},
			[]string{cf + `:7:26: spec.env.LOG_LEVEL: LOG_LEVEL has no value (null): give it one ("" for an empty string) or remove the line; a null removes an entry only in an environment's spec.overrides`,
				cf + `:7:31: spec.env.B: B has no value (null)`,
				cf + `:8:16: spec.secrets.S: S has no value (null)`}},
		// image: | (a block scalar) ends in a line break, and an image
		// with a space or a line break in it fails only at deploy time.
		{"image with whitespace", map[string]string{cf: doc("MicroService", "api", "image: |", "  nginx") + "---\n" + doc("Worker", "w", "image: ${TAG}")}, ResolveOptions{Vars: VarValues{Flags: map[string]string{"TAG": "nginx latest"}}},
			[]string{cf + `:6:10: spec.image: "nginx\n" is not an image reference (ASCII, no spaces or line breaks; a block scalar | ends in one) such as ghcr.io/acme/web:1.2`,
				cf + `:14:10: spec.image: "nginx latest" is not an image reference`}},
		// A zero-width or non-breaking space pasted into an image is no
		// whitespace to \S: only printable ASCII makes an image reference.
		{"image with an invisible character", map[string]string{cf: doc("MicroService", "api", "image: \"ngi\\u200bnx\"") + "---\n" + doc("Worker", "w", "image: \"nginx\\u00a0\"")}, ResolveOptions{},
			[]string{cf + `:6:10: spec.image: "ngi\u200bnx" is not an image reference (ASCII,`,
				cf + `:13:10: spec.image: "nginx\u00a0" is not an image reference (ASCII,`}},
		// A required string written empty, blank or filled by a variable
		// set to nothing would deploy a container without an image.
		{"required string empty", map[string]string{cf: doc("MicroService", "api", "image: ''") + "---\n" + doc("CronJob", "j", "image: ' '", "schedule: \"\"")}, ResolveOptions{},
			[]string{cf + `:6:10: spec.image: required field is empty: give it a value`,
				cf + `:13:10: spec.image: required field is blank: give it a value`,
				cf + `:14:13: spec.schedule: required field is empty: give it a value`}},
		{"required string empty from a variable", map[string]string{cf: doc("MicroService", "api", "image: ${TAG}")}, ResolveOptions{Vars: VarValues{Flags: map[string]string{"TAG": ""}}},
			[]string{cf + `:6:10: spec.image: required field is empty once its variables are substituted: give them a value (--var, --var-file, PANKA_VAR_<NAME> or the environment file)`}},
		// A misspelt variable is one problem, not also an empty image
		// (reported first, hiding the cause), nor an invalid schedule.
		{"undeclared variable in a required field", map[string]string{cf: doc("MicroService", "api", "image: ${TAGG}") + "---\n" + doc("CronJob", "j", "image: x", "schedule: '${SCHEDULE}'", "cpu: '${CPUS}'")}, ResolveOptions{Vars: VarValues{Flags: map[string]string{"TAG": "x"}}},
			[]string{cf + `:6:10: spec.image: undeclared variable ${TAGG} (did you mean "TAG"?): declare it under spec.variables in stacks/s/stack.yaml, or give a default with ${TAGG:-value}`,
				cf + `:14:13: spec.schedule: undeclared variable ${SCHEDULE}`,
				cf + `:15:8: spec.cpu: undeclared variable ${CPUS}`}},
		// An invalid ${...} is one problem too, with the form meant.
		{"invalid variables in checked fields", map[string]string{cf: doc("MicroService", "api", "image: '${TAG:latest}'", "cpu: '${CPUS-256}'", "memory: '${ MEM }'", "port: '${db.nope}'", "env: {A: '${TAG:=x}', B: '${1X}'}") + "---\n" + doc("Database", "db")}, ResolveOptions{},
			[]string{cf + `:6:10: spec.image: invalid variable ${TAG:latest}: a default follows ":-": write ${TAG:-latest}`,
				cf + `:7:8: spec.cpu: invalid variable ${CPUS-256}: a default follows ":-": write ${CPUS:-256}`,
				cf + `:8:11: spec.memory: invalid variable ${ MEM }: no spaces inside ${...}: write ${MEM}`,
				cf + `:9:9: spec.port: reference ${db.nope}: a Database has no output "nope"`,
				cf + `:10:12: spec.env.A: invalid variable ${TAG:=x}: a default follows ":-": write ${TAG:-x}`,
				cf + `:10:28: spec.env.B: invalid variable ${1X}: names use letters, digits and _`}},
		// $TAG (no braces) is text: the image "$TAG" was deployed. A
		// command keeps it for the container's shell, as does ${$}TAG,
		// and a $NAME that is no variable of the stack is text.
		{"declared variable without braces", map[string]string{cf: doc("MicroService", "api", "image: nginx:$TAG", "command: [sh, -c, 'echo $TAG']", "env: {A: $TAG, B: '${$}TAG', C: $HOME, D: '$$TAG'}")}, ResolveOptions{Vars: VarValues{Flags: map[string]string{"TAG": "x"}}},
			[]string{cf + `:6:10: spec.image: $TAG is not substituted: panka reads a variable only as ${TAG}; write ${TAG} (or ${$}TAG to keep the text $TAG)`,
				cf + `:8:12: spec.env.A: $TAG is not substituted`}},
		{"required string from a variable", map[string]string{cf: doc("MicroService", "api", "image: ${TAG}-${TAG}")}, ResolveOptions{Vars: VarValues{Flags: map[string]string{"TAG": "x"}}}, nil},
		// never printed: what stands in a reference's place may be a password
		{"secret ref", map[string]string{cf: ms("env: {A: {secret: 'not-a-ref'}}", "secrets: {B: hunter2}")}, ResolveOptions{},
			[]string{cf + `:7:21: spec.env.A.secret: (sensitive) is not a secret reference`, cf + `:8:16: spec.secrets.B: (sensitive) is not a secret reference`}},
		// env's form in secrets: the hint was to quote "secret: /x", which
		// then deployed that text as the parameter name.
		{"env's secret form in secrets", map[string]string{cf: ms("secrets:", "  A: {secret: /x}", "  B:", "    secret: /y")}, ResolveOptions{},
			[]string{cf + `:8:8: spec.secrets.A: want the SSM parameter or Secrets Manager ARN itself, got a mapping: {secret: <reference>} is how env takes a reference; here write A: <reference>`,
				cf + `:10:7: spec.secrets.B: want the SSM parameter or Secrets Manager ARN itself, got a mapping: {secret: <reference>} is how env takes a reference; here write B: <reference>`}},
		{"secret ref twice", map[string]string{cf: ms("env: {A: {secret: /x}}", "secrets: {A: /y}")}, ResolveOptions{},
			[]string{cf + `:7:9: spec.env.A: A is set both in env (as a secret reference) and in secrets: keep one`}},
		{"provider ref", map[string]string{"stacks/s/stack.yaml": strings.Replace(stackYAML, "region: eu-west-1", "region: ${db.endpoint}", 1), cf: doc("Database", "db")}, ResolveOptions{},
			[]string{`stacks/s/stack.yaml:8:13: spec.provider.region: ${db.endpoint}: component outputs cannot be used in the provider`}},
		{"provider region", map[string]string{"stacks/s/environments/dev.yaml": devYAML + "  provider:\n    region: mars\n"}, ResolveOptions{},
			[]string{`stacks/s/environments/dev.yaml:9:13: spec.provider.region: "mars" is not an AWS region such as us-east-1`}},
		// every partition's: eusc-de-east-1 (the European Sovereign Cloud) was "not an AWS region"
		{"provider region of another partition", map[string]string{"stacks/s/environments/dev.yaml": devYAML + "  provider:\n    region: eusc-de-east-1\n"}, ResolveOptions{}, nil},
		{"topic subscription repeated, secret endpoint given", map[string]string{cf: doc("Topic", "t", "subscriptions:", "  - {protocol: https, endpoint: '${KEY}'}", "  - {protocol: https, endpoint: 'https://hook.example/${KEY}'}", "  - {protocol: https, endpoint: '${KEY}'}")}, ResolveOptions{Vars: VarValues{Flags: map[string]string{"KEY": "https://hooks.example/s3cr3t"}}},
			[]string{cf + `:9:7: spec.subscriptions[2]: repeats spec.subscriptions[0] (protocol https, the same endpoint): remove one`}},
		{"provider name", map[string]string{"stacks/s/stack.yaml": strings.Replace(stackYAML, "name: aws", "name: gcp", 1)}, ResolveOptions{},
			[]string{`stacks/s/stack.yaml:7:11: spec.provider.name: "gcp" is not one of aws, local`}},
		// directory: ~/manifests made a folder named ~ in the repository
		// (the shell expands ~, panka does not); a blank or padded folder
		// name, or one holding a line break, was taken as it was.
		{"provider directory", map[string]string{"stacks/s/environments/dev.yaml": devYAML + "  provider:\n    name: local\n    directory: ~/manifests\n"}, ResolveOptions{},
			[]string{`stacks/s/environments/dev.yaml:10:16: spec.provider.directory: "~/manifests" is not a folder relative to the repository, or an absolute one (not starting with ~, which is not expanded`}},
		{"provider directory from a variable", map[string]string{"stacks/s/environments/dev.yaml": devYAML + "  provider:\n    name: local\n    directory: '${OUT:- out}'\n"}, ResolveOptions{},
			[]string{`stacks/s/environments/dev.yaml:10:16: spec.provider.directory: " out" is not a folder relative to the repository`}},
		{"provider directory fine", map[string]string{"stacks/s/environments/dev.yaml": devYAML + "  provider:\n    name: local\n    directory: ../out dir/x~\n"}, ResolveOptions{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadResolve(testFS(tt.files), "dev", tt.opts)
			wantErrs(t, err, tt.want...)
		})
	}
}

// TestSecretValuesChecked: a field with a format check (a CronJob's
// schedule, a database's version, a secret reference) filled by a secret
// variable cannot be checked while the variable has no value (validate
// in a pre-push hook), but is once it has one (plan, apply, validate
// --var): the same check runs on the clear value, and the problem, at the
// field's file:line, names the variable but never shows the value.
func TestSecretValuesChecked(t *testing.T) {
	const secret = "hunter2"
	files := map[string]string{
		// the local target: the aws one refuses a secret schedule or version
		"stacks/s/stack.yaml": localStackYAML,
		cf: doc("CronJob", "j", "image: x", "schedule: ${KEY}", "secrets: {A: '${KEY}'}") +
			"---\n" + doc("Database", "db", "version: ${KEY}"),
	}
	tests := []struct {
		name  string
		value string // "": no value
		want  []string
	}{
		{"no value yet", "", nil},
		{"bad cron", "cron(" + secret + " 3 * * ? *)", []string{
			cf + `:7:13: spec.schedule: invalid schedule (sensitive): minutes field: not a number (the value comes from secret variable KEY: check the value given for this environment)`,
			cf + `:8:16: spec.secrets.A: (sensitive) is not a secret reference: use an SSM parameter path (/app/db-password), an SSM parameter ARN or a Secrets Manager ARN (the value comes from secret variable KEY`,
			cf + `:15:12: spec.version: invalid postgres version (sensitive): write major[.minor[.patch]], e.g. `,
		}},
		{"cron out of range", "cron(61 3 * * ? *)", []string{
			cf + `:7:13: spec.schedule: invalid schedule (sensitive): minutes field: a value is out of range 0-59 (the value comes from secret variable KEY`,
			cf + `:8:16: spec.secrets.A: (sensitive) is not a secret reference`,
			cf + `:15:12: spec.version: invalid postgres version (sensitive)`,
		}},
		{"bad rate", "rate(5 minute)", []string{
			cf + `:7:13: spec.schedule: invalid schedule (sensitive): the unit is minutes, hours or days (the value comes from secret variable KEY`,
			cf + `:8:16: spec.secrets.A: (sensitive) is not a secret reference`,
			cf + `:15:12: spec.version: invalid postgres version (sensitive)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, lenient := range []bool{false, true} {
				opts := ResolveOptions{Lenient: lenient}
				if tt.value != "" {
					opts.Vars.Flags = map[string]string{"KEY": tt.value}
				} else if !lenient {
					continue // a secret without a value is unset: plan fails on its own terms
				}
				_, err := loadResolve(testFS(files), "dev", opts)
				wantErrs(t, err, tt.want...)
				if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "61")) {
					t.Errorf("an error shows the secret:\n%v", err)
				}
			}
		})
	}
	// A valid secret schedule passes.
	okCron := map[string]string{"stacks/s/stack.yaml": localStackYAML, cf: doc("CronJob", "j", "image: x", "schedule: ${KEY}", "secrets: {A: /app/x}")}
	if _, err := loadResolve(testFS(okCron), "dev", ResolveOptions{Vars: VarValues{Flags: map[string]string{"KEY": "cron(0/15 8-18 ? * MON-FRI *)"}}}); err != nil {
		t.Errorf("valid secret schedule: %v", err)
	}
}

// TestSecretsNeverInErrors: a secret variable's value is never part of an
// error (it showed in "is not one of", "want an integer, got", pattern and
// secret-reference messages), and one in a number, boolean or provider
// field is refused: those hold no sensitive value, so it would be stored
// and shown in clear.
func TestSecretsNeverInErrors(t *testing.T) {
	const secret = "hunter2-secret"
	files := map[string]string{
		cf: ms("dependsOn: ['x${KEY}']", "replicas: ${KEY}", "env: {A: {secret: '${KEY}'}}", "loadBalancer: {public: '${KEY}', host: x.example}") +
			"---\n" + doc("Database", "db", "engine: ${KEY}", "instanceClass: db.${KEY}"),
		"stacks/s/environments/dev.yaml": devYAML + "  provider:\n    assumeRole: ${KEY}\n",
	}
	_, err := loadResolve(testFS(files), "dev", ResolveOptions{Vars: VarValues{Flags: map[string]string{"KEY": secret}}})
	wantErrs(t, err,
		cf+`:7:15: spec.dependsOn: secret variable KEY cannot name a component`,
		cf+`:8:13: spec.replicas: secret variable KEY cannot be used in a number or boolean field`,
		cf+`:9:21: spec.env.A.secret: (sensitive) is not a secret reference`,
		cf+`:10:26: spec.loadBalancer.public: secret variable KEY cannot be used in a number or boolean field`,
		cf+`:17:11: spec.engine: (sensitive) is not one of postgres, mysql`,
		cf+`:18:18: spec.instanceClass: (sensitive) is not an RDS instance class`,
		`stacks/s/environments/dev.yaml:9:17: spec.provider.assumeRole: secret variable KEY cannot be used in the provider`,
		`stacks/s/environments/dev.yaml:9:17: spec.provider.assumeRole: (sensitive) is not an IAM role ARN`,
	)
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("an error shows the secret:\n%v", err)
	}
}

// TestSecretEngineVersionMessage: a version problem of a Database or Cache
// whose engine is secret says so, instead of leaving holes where the
// engine's name and example were ("invalid  version ... e.g.  "); one whose
// engine is not known yet (validate without values) gives both engines'
// examples.
func TestSecretEngineVersionMessage(t *testing.T) {
	files := map[string]string{
		"stacks/s/stack.yaml": localStackYAML + "    CKEY:\n      secret: true\n",
		cf:                    doc("Database", "db", "engine: ${KEY}", "version: latest") + "---\n" + doc("Cache", "c", "engine: ${CKEY}", "version: v7"),
	}
	_, err := loadResolve(testFS(files), "dev", ResolveOptions{Vars: VarValues{Flags: map[string]string{"KEY": "mysql", "CKEY": "valkey"}}})
	wantErrs(t, err,
		cf+`:7:12: spec.version: invalid version (for a secret engine) "latest": write major[.minor[.patch]], e.g. 16 (postgres) or 8.0 (mysql)`,
		cf+`:15:12: spec.version: invalid version (for a secret engine) "v7": write major[.minor[.patch]], e.g. 7.1 (redis) or 8.0 (valkey)`,
	)
	_, err = loadResolve(testFS(files), "dev", ResolveOptions{Lenient: true})
	wantErrs(t, err,
		cf+`:7:12: spec.version: invalid version "latest": write major[.minor[.patch]], e.g. 16 (postgres) or 8.0 (mysql)`,
		cf+`:15:12: spec.version: invalid version "v7": write major[.minor[.patch]], e.g. 7.1 (redis) or 8.0 (valkey)`,
	)
}

// TestSecretSymbolInNumberField: a secret variable in a number or boolean
// field is refused also without a value (validate, change detection, the
// pre-push hook): kept as ${var.KEY}, it passed, and only a plan with the
// secret given refused the stack. A non-secret variable without a value
// still passes.
func TestSecretSymbolInNumberField(t *testing.T) {
	files := map[string]string{
		cf:                    ms("replicas: ${KEY}", "loadBalancer: {public: '${KEY}', host: x.example}", "memory: ${MEM}"),
		"stacks/s/stack.yaml": strings.Replace(stackYAML, "    KEY:", "    MEM: {required: true}\n    KEY:", 1),
	}
	_, err := loadResolve(testFS(files), "dev", ResolveOptions{Lenient: true})
	wantErrs(t, err,
		cf+`:7:13: spec.replicas: secret variable KEY cannot be used in a number or boolean field`,
		cf+`:8:26: spec.loadBalancer.public: secret variable KEY cannot be used in a number or boolean field`,
	)
	if err != nil && strings.Contains(err.Error(), "MEM") {
		t.Errorf("a non-secret variable without a value is refused:\n%v", err)
	}
}

// TestSecretInPlainAWSField: the aws target passes a container image, a
// health-check path, a load balancer host or path (and the like) to AWS in
// clear, so a secret variable there is refused when resolving (plan) and,
// from its declaration alone, by validate without values, naming the
// file:line, field and component; apply used to be the first to refuse
// it. The local target writes its hash, as for any field, and a variable
// that is not secret is accepted either way.
func TestSecretInPlainAWSField(t *testing.T) {
	files := map[string]string{
		cf: ms("healthCheck: {path: '/h/${KEY}'}", "loadBalancer: {host: '${KEY}.example', path: '/${TAG}'}") + "---\n" +
			doc("Worker", "w", "image: '${KEY}'", "healthCheck: {command: [check, '${KEY}']}") + "---\n" +
			doc("Database", "db", "version: '${KEY}'"),
	}
	want := []string{
		cf + `:7:23: spec.healthCheck.path: secret variable KEY cannot be used in healthCheck.path of component "api": the aws target passes this field on in clear`,
		cf + `:8:24: spec.loadBalancer.host: secret variable KEY cannot be used in loadBalancer.host of component "api"`,
		`spec.image: secret variable KEY cannot be used in image of component "w": the aws target`,
		`spec.healthCheck.command[1]: secret variable KEY cannot be used in healthCheck.command[1] of component "w"`,
		`spec.version: secret variable KEY cannot be used in version of component "db"`,
	}
	for _, opts := range []ResolveOptions{{Lenient: true}, {Vars: VarValues{Flags: map[string]string{"KEY": "s3cr3t"}}}} {
		_, err := loadResolve(testFS(files), "dev", opts)
		wantErrs(t, err, want...)
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("the secret is printed:\n%v", err)
		}
	}
	files["stacks/s/stack.yaml"] = localStackYAML
	if _, err := loadResolve(testFS(files), "dev", ResolveOptions{Vars: VarValues{Flags: map[string]string{"KEY": "16"}}}); err != nil {
		t.Errorf("local target: %v", err)
	}
}

// TestVariableNamesComponent: a subscription's queue (or a dependsOn
// entry) from a secret variable is refused as "cannot name a component",
// with a value or (validate, the pre-push hook) from the declaration
// alone; it used to read "a subscription needs {queue: <component>} or
// {protocol, endpoint}" although the queue was written, and validate said
// "unknown component \"${var.KEY}\"". A variable that is not secret and
// has no value yet is not known, so validate accepts it; a protocol
// refused on its own does not add "needs both protocol and endpoint".
func TestVariableNamesComponent(t *testing.T) {
	files := map[string]string{
		"stacks/s/stack.yaml": localStackYAML + "    QN:\n      required: true\n",
		cf: doc("Queue", "q") + "---\n" + doc("Topic", "t", "subscriptions: [{queue: '${KEY}'}, {protocol: '${KEY}', endpoint: 'https://x'}, {queue: '${QN}'}]",
			"dependsOn: ['${KEY}', '${QN}']"),
	}
	want := []string{
		cf + `:12:27: spec.subscriptions[0].queue: secret variable KEY cannot name a component`,
		cf + `:13:15: spec.dependsOn: secret variable KEY cannot name a component`,
	}
	_, err := loadResolve(testFS(files), "dev", ResolveOptions{Lenient: true})
	wantErrs(t, err, want...)
	_, err = loadResolve(testFS(files), "dev", ResolveOptions{Vars: VarValues{Flags: map[string]string{"KEY": "q", "QN": "q"}}})
	wantErrs(t, err, append(want, cf+`:12:49: spec.subscriptions[1].protocol: (sensitive) is not one of sqs`)...)
}

// TestYAMLErrorsHideVariableValues: a YAML problem in the value of a
// variable or an env entry (upper-case keys, where a secret may be
// written) does not quote the value back: a password starting with "*"
// or "!" (an alias or a tag to YAML) or holding ": " was printed in the
// error ("unknown anchor 'hunter2' referenced: *hunter2 needs ...", "YAML
// tag !hunter2 is not supported", "put the value in quotes (KEY:
// \"hunter2: x\")"). Other keys keep the explanation with the text.
func TestYAMLErrorsHideVariableValues(t *testing.T) {
	const env = "stacks/s/environments/dev.yaml"
	tests := []struct{ line, want string }{
		{"    KEY: *hunter2", env + `:8:10: invalid YAML: the value of KEY starts with "*", which YAML reads as an alias (not shown: it may be a secret): put the value in quotes`},
		{"    KEY: */hunter2", env + `:8:10: invalid YAML: did not find expected alphabetic or numeric character: the value of KEY starts with *, which YAML reads as an alias (*name, a value written elsewhere): put the value in quotes`},
		{"    KEY: !hunter2", env + `:8:10: spec.variables.KEY: the value starts with "!", which YAML reads as a tag (not shown: it may be a secret): put the value in quotes, or remove the tag`},
		{"    KEY: hunter2: x", env + `:8:17: invalid YAML: mapping values are not allowed in this context: the value of KEY holds ": ", which YAML reads as another key; put the value in quotes (not shown: it may be a secret)`},
	}
	for _, tt := range tests {
		files := map[string]string{env: devYAML + tt.line + "\n"}
		_, err := loadResolve(testFS(files), "dev", ResolveOptions{})
		wantErrs(t, err, tt.want)
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the value is printed:\n%v", tt.line, err)
		}
	}
	// A lower-case key keeps the value in its explanation.
	files := map[string]string{cf: ms("healthCheck: {path: /h}") + "  description: Note: x\n"}
	_, err := loadResolve(testFS(files), "dev", ResolveOptions{})
	if err == nil || !strings.Contains(err.Error(), `(description: "Note: x")`) {
		t.Errorf("description: %v", err)
	}
}

// TestListAsMapHintHidesValues: the hint for env written as a list names
// the variable, never its value (it may be a secret).
func TestListAsMapHintHidesValues(t *testing.T) {
	for _, env := range [][]string{{"env:", "  - DB_PASSWORD=hunter2"}, {"env:", "  - name: DB_PASSWORD", "    value: hunter2"}} {
		s, err := Load(testFS(map[string]string{cf: ms(env...)}), "stacks/s")
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(errStrings(t, s.Validate(ResolveOptions{})), "\n")
		if !strings.Contains(got, "DB_PASSWORD: followed by its value") || strings.Contains(got, "hunter2") {
			t.Errorf("%v: %s", env, got)
		}
	}
}
