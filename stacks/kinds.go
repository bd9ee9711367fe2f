package stacks

// Typed specs of every component kind. They document the YAML and drive
// decoding: field names, types, defaults (`default`), ranges (`min`, `max`)
// and enums (`enum`) come from these struct tags, so the documentation and
// the validation cannot drift apart. `plain:"aws"` marks a string field the
// aws target passes to AWS only in clear: a secret variable there is
// refused when the stack deploys with that target. Resolved components carry their spec as
// a canonical map (Component.Spec); DecodeSpec turns it into these types.

// MicroServiceSpec is the spec of a MicroService: a long-running container
// service (ECS Fargate service + task definition + log group) that may sit
// behind a load balancer.
type MicroServiceSpec struct {
	// Image is the container image, e.g. "ghcr.io/acme/api:1.4.2".
	Image string `json:"image" required:"true" pattern:"^[!-~]+$" want:"an image reference (ASCII, no spaces or line breaks; a block scalar | ends in one) such as ghcr.io/acme/web:1.2" plain:"aws"`
	// Command overrides the image's command.
	Command []string `json:"command,omitempty"`
	// Port is the container port the service listens on.
	Port int64 `json:"port" default:"8080" min:"1" max:"65535"`
	// CPU is the Fargate task CPU in units (256 = 0.25 vCPU).
	CPU int64 `json:"cpu" default:"256" enum:"256,512,1024,2048,4096,8192,16384"`
	// Memory is the Fargate task memory in MiB; it must fit CPU (see Fargate pairs).
	Memory int64 `json:"memory" default:"512" min:"512" max:"122880"`
	// Replicas is the desired task count; with autoscaling, the count a new
	// service starts with, kept between autoscaling.min and max.
	Replicas int64 `json:"replicas" default:"1" min:"0" max:"1000"`
	// Env are environment variables. A value {secret: <arn or ssm path>} is
	// a reference to SSM Parameter Store / Secrets Manager: it is moved to
	// Secrets, and the runtime receives it as a reference (ECS valueFrom).
	Env map[string]string `json:"env,omitempty" secretrefs:"true"`
	// Secrets are environment variables whose values are references to
	// SSM parameters or Secrets Manager secrets (ARNs or parameter paths).
	// panka never reads their values.
	Secrets map[string]string `json:"secrets,omitempty"`
	// SecretsKmsKeys are the customer managed KMS keys (key or alias
	// ARNs) that encrypt the SSM SecureString parameters and Secrets
	// Manager secrets in Secrets (aws target): the task execution role
	// may decrypt with exactly these keys, and only through SSM and
	// Secrets Manager. Keys managed by AWS (aws/ssm, aws/secretsmanager)
	// need no entry.
	SecretsKmsKeys []string `json:"secretsKmsKeys,omitempty" plain:"aws"`
	// HealthCheck is the container/target-group health check.
	HealthCheck HealthCheck `json:"healthCheck"`
	// Autoscaling, when set, scales the service on CPU.
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`
	// LoadBalancer, when set, routes HTTP(S) traffic to the service.
	LoadBalancer *LoadBalancer `json:"loadBalancer,omitempty"`
}

// HealthCheck is an HTTP health check.
type HealthCheck struct {
	// Path is the HTTP path probed.
	Path string `json:"path" default:"/health" pattern:"^/" want:"a path starting with /" plain:"aws"`
	// Interval is the seconds between probes.
	Interval int64 `json:"interval" default:"30" min:"5" max:"300"`
	// Timeout is the seconds a probe may take; less than Interval.
	Timeout int64 `json:"timeout" default:"5" min:"2" max:"120"`
}

// Autoscaling scales a service between Min and Max tasks on CPU.
type Autoscaling struct {
	// Min is the minimum task count.
	Min int64 `json:"min" default:"1" min:"0" max:"1000"`
	// Max is the maximum task count (at least Min).
	Max int64 `json:"max" required:"true" min:"1" max:"1000"`
	// CPUTarget is the average CPU utilisation (percent) to hold.
	CPUTarget int64 `json:"cpuTarget" default:"70" min:"1" max:"100"`
}

// LoadBalancer attaches a service to the environment's load balancer.
type LoadBalancer struct {
	// Public exposes the service on the internet-facing load balancer. With
	// the aws target it must match the scheme of the load balancer of
	// spec.provider.network.listenerArn: a private service (false) is
	// refused on an internet-facing one, a public one on an internal one.
	Public bool `json:"public" default:"false"`
	// Host is the host header to route on; empty matches any host. A
	// host name only (an ALB host-header condition: letters, digits, -
	// and ., * and ? as wildcards, at most 128 characters), no scheme,
	// port or path.
	Host string `json:"host,omitempty" pattern:"^[A-Za-z0-9*?.-]{1,128}$" want:"a host name such as api.example.com (letters, digits, - and ., * and ? as wildcards, at most 128 characters; no scheme, port or path)" plain:"aws"`
	// Path is the path prefix to route on.
	Path string `json:"path" default:"/" pattern:"^/" want:"a path starting with /" plain:"aws"`
	// Priority is the listener rule's priority (lower is matched first);
	// unset, the aws target derives one from the stack, environment and
	// component names. Set it when stacks sharing a listener draw the same
	// one (validate reports that).
	Priority int64 `json:"priority,omitempty" min:"1" max:"50000"`
}

// WorkerSpec is the spec of a Worker: a container service without a port or
// load balancer (queue consumers, stream processors).
type WorkerSpec struct {
	// Image is the container image.
	Image string `json:"image" required:"true" pattern:"^[!-~]+$" want:"an image reference (ASCII, no spaces or line breaks; a block scalar | ends in one) such as ghcr.io/acme/web:1.2" plain:"aws"`
	// Command overrides the image's command.
	Command []string `json:"command,omitempty"`
	// CPU is the Fargate task CPU in units.
	CPU int64 `json:"cpu" default:"256" enum:"256,512,1024,2048,4096,8192,16384"`
	// Memory is the Fargate task memory in MiB.
	Memory int64 `json:"memory" default:"512" min:"512" max:"122880"`
	// Replicas is the desired task count.
	Replicas int64 `json:"replicas" default:"1" min:"0" max:"1000"`
	// Env are environment variables ({secret: ref} values as for MicroService).
	Env map[string]string `json:"env,omitempty" secretrefs:"true"`
	// Secrets are SSM / Secrets Manager references by variable name.
	Secrets map[string]string `json:"secrets,omitempty"`
	// SecretsKmsKeys are the customer managed KMS keys (key or alias
	// ARNs) that encrypt the SSM SecureString parameters and Secrets
	// Manager secrets in Secrets (aws target): the task execution role
	// may decrypt with exactly these keys, and only through SSM and
	// Secrets Manager. Keys managed by AWS (aws/ssm, aws/secretsmanager)
	// need no entry.
	SecretsKmsKeys []string `json:"secretsKmsKeys,omitempty" plain:"aws"`
	// HealthCheck is an optional container health check command.
	HealthCheck *CommandCheck `json:"healthCheck,omitempty"`
	// Autoscaling, when set, scales the worker on CPU.
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`
}

// CommandCheck is a container health check that runs a command.
type CommandCheck struct {
	// Command runs in the container; exit 0 means healthy.
	Command []string `json:"command" required:"true" plain:"aws"`
	// Interval is the seconds between checks.
	Interval int64 `json:"interval" default:"30" min:"5" max:"300"`
	// Timeout is the seconds a check may take (ECS allows 2 to 60).
	Timeout int64 `json:"timeout" default:"5" min:"2" max:"60"`
}

// CronJobSpec is the spec of a CronJob: a container task run on a schedule.
type CronJobSpec struct {
	// Schedule is "cron(min hour day-of-month month day-of-week year)" or
	// "rate(N minutes|hours|days)" (EventBridge syntax).
	Schedule string `json:"schedule" required:"true" plain:"aws"`
	// Image is the container image.
	Image string `json:"image" required:"true" pattern:"^[!-~]+$" want:"an image reference (ASCII, no spaces or line breaks; a block scalar | ends in one) such as ghcr.io/acme/web:1.2" plain:"aws"`
	// Command overrides the image's command.
	Command []string `json:"command,omitempty"`
	// CPU is the Fargate task CPU in units.
	CPU int64 `json:"cpu" default:"256" enum:"256,512,1024,2048,4096,8192,16384"`
	// Memory is the Fargate task memory in MiB.
	Memory int64 `json:"memory" default:"512" min:"512" max:"122880"`
	// Env are environment variables ({secret: ref} values as for MicroService).
	Env map[string]string `json:"env,omitempty" secretrefs:"true"`
	// Secrets are SSM / Secrets Manager references by variable name.
	Secrets map[string]string `json:"secrets,omitempty"`
	// SecretsKmsKeys are the customer managed KMS keys (key or alias
	// ARNs) that encrypt the SSM SecureString parameters and Secrets
	// Manager secrets in Secrets (aws target): the task execution role
	// may decrypt with exactly these keys, and only through SSM and
	// Secrets Manager. Keys managed by AWS (aws/ssm, aws/secretsmanager)
	// need no entry.
	SecretsKmsKeys []string `json:"secretsKmsKeys,omitempty" plain:"aws"`
}

// DatabaseSpec is the spec of a Database (RDS instance).
type DatabaseSpec struct {
	// Engine is postgres or mysql.
	Engine string `json:"engine" default:"postgres" enum:"postgres,mysql" plain:"aws"`
	// Version is the engine version; default 16 for postgres, 8.0 for mysql.
	Version string `json:"version,omitempty" plain:"aws"`
	// InstanceClass is the RDS instance class, e.g. db.t4g.micro.
	InstanceClass string `json:"instanceClass" default:"db.t4g.micro" pattern:"^db\\.[a-z0-9]+\\.[a-z0-9]+$" want:"an RDS instance class such as db.t4g.micro or db.r6g.large" plain:"aws"`
	// StorageGB is the allocated storage in GiB.
	StorageGB int64 `json:"storageGB" default:"20" min:"20" max:"65536"`
	// MultiAZ runs a standby in a second availability zone.
	MultiAZ bool `json:"multiAZ" default:"false"`
	// BackupRetentionDays is how long automated backups are kept: at least a
	// week (production-grade default; the aws target refuses less).
	BackupRetentionDays int64 `json:"backupRetentionDays" default:"7" min:"7" max:"35"`
	// DeletionProtection blocks deleting the instance (SPEC §7: on by default).
	DeletionProtection bool `json:"deletionProtection" default:"true"`
}

// CacheSpec is the spec of a Cache (ElastiCache replication group).
type CacheSpec struct {
	// Engine is redis or valkey.
	Engine string `json:"engine" default:"redis" enum:"redis,valkey" plain:"aws"`
	// Version is the engine version; default 7.1 for redis, 8.0 for valkey.
	Version string `json:"version,omitempty" plain:"aws"`
	// NodeType is the ElastiCache node type, e.g. cache.t4g.micro.
	NodeType string `json:"nodeType" default:"cache.t4g.micro" pattern:"^cache\\.[a-z0-9]+\\.[a-z0-9]+$" want:"an ElastiCache node type such as cache.t4g.micro or cache.r6g.large" plain:"aws"`
	// Nodes is the number of cache nodes (primary + replicas).
	Nodes int64 `json:"nodes" default:"1" min:"1" max:"6"`
}

// QueueSpec is the spec of a Queue (SQS).
type QueueSpec struct {
	// Fifo makes a FIFO queue (exactly-once, ordered).
	Fifo bool `json:"fifo" default:"false"`
	// VisibilityTimeout is the seconds a received message stays hidden.
	VisibilityTimeout int64 `json:"visibilityTimeout" default:"30" min:"0" max:"43200"`
	// RetentionPeriod is the seconds a message is kept (60 s to 14 days).
	RetentionPeriod int64 `json:"retentionPeriod" default:"345600" min:"60" max:"1209600"`
	// DeadLetter, when set, adds a dead-letter queue.
	DeadLetter *DeadLetter `json:"deadLetter,omitempty"`
}

// DeadLetter configures a queue's dead-letter queue.
type DeadLetter struct {
	// MaxReceives is how often a message is received before it moves to the DLQ.
	MaxReceives int64 `json:"maxReceives" default:"5" min:"1" max:"1000"`
}

// BucketSpec is the spec of a Bucket (S3).
type BucketSpec struct {
	// Versioning keeps every version of every object.
	Versioning bool `json:"versioning" default:"false"`
	// Public allows public reads; off by default (all public access blocked).
	Public bool `json:"public" default:"false"`
	// Lifecycle, when set, expires objects.
	Lifecycle *Lifecycle `json:"lifecycle,omitempty"`
}

// Lifecycle expires a bucket's objects.
type Lifecycle struct {
	// ExpireAfterDays deletes objects this many days after creation.
	ExpireAfterDays int64 `json:"expireAfterDays" required:"true" min:"1" max:"36500"`
}

// TopicSpec is the spec of a Topic (SNS).
type TopicSpec struct {
	// Fifo makes a FIFO topic: it delivers only to SQS queues (FIFO ones
	// in order, standard ones best effort); a standard topic cannot
	// deliver to a FIFO queue.
	Fifo bool `json:"fifo" default:"false"`
	// Subscriptions deliver the topic's messages.
	Subscriptions []Subscription `json:"subscriptions,omitempty"`
}

// Subscription is either a Queue component of the stack ({queue: name}) or
// an external endpoint ({protocol, endpoint}).
type Subscription struct {
	// Queue names a Queue component of the same stack.
	Queue string `json:"queue,omitempty" plain:"aws"`
	// Protocol is the SNS protocol for an external endpoint.
	Protocol string `json:"protocol,omitempty" enum:"sqs,lambda,https,http,email,email-json,sms,application,firehose" plain:"aws"`
	// Endpoint is the ARN, URL or address for Protocol.
	Endpoint string `json:"endpoint,omitempty"`
	// RawMessageDelivery delivers the message body without the SNS envelope.
	RawMessageDelivery bool `json:"rawMessageDelivery,omitempty"`
}

// specTypes maps each component kind to its typed spec.
var specTypes = map[Kind]any{
	KindMicroService: MicroServiceSpec{},
	KindWorker:       WorkerSpec{},
	KindCronJob:      CronJobSpec{},
	KindDatabase:     DatabaseSpec{},
	KindCache:        CacheSpec{},
	KindQueue:        QueueSpec{},
	KindBucket:       BucketSpec{},
	KindTopic:        TopicSpec{},
}

// fargateMemory reports whether memory (MiB) is valid for cpu units on Fargate.
func fargateMemory(cpu, mem int64) (bool, string) {
	const gib = 1024
	inRange := func(lo, hi, step int64) bool { return mem >= lo*gib && mem <= hi*gib && mem%(step*gib) == 0 }
	switch cpu {
	case 256:
		return mem == 512 || mem == 1024 || mem == 2048, "512, 1024 or 2048"
	case 512:
		return inRange(1, 4, 1), "1024 to 4096 in 1024 steps"
	case 1024:
		return inRange(2, 8, 1), "2048 to 8192 in 1024 steps"
	case 2048:
		return inRange(4, 16, 1), "4096 to 16384 in 1024 steps"
	case 4096:
		return inRange(8, 30, 1), "8192 to 30720 in 1024 steps"
	case 8192:
		return inRange(16, 60, 4), "16384 to 61440 in 4096 steps"
	case 16384:
		return inRange(32, 120, 8), "32768 to 122880 in 8192 steps"
	}
	return true, ""
}

// defaultVersion is the engine version used when a spec sets none.
func defaultVersion(engine string) string {
	switch engine {
	case "postgres":
		return "16"
	case "mysql":
		return "8.0"
	case "redis":
		return "7.1"
	case "valkey":
		return "8.0"
	}
	return ""
}
