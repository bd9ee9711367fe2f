// Package aws is the aws deployment target: it maps the components of a
// resolved stack/environment to pulumi-aws (v6) resources inside an inline
// Pulumi program.
//
// Per stack/environment: an explicit AWS provider (region, optional role to
// assume, default tags managed-by=panka, panka:stack, panka:environment and
// the stack's own tags — never the commit), and as needed an ECS cluster, a
// "workloads" security group every task wears (databases and caches admit
// it) and a Cloud Map private DNS namespace <env>.<stack>.local.
//
// Per component, all parented to a component resource of type
// ComponentType(kind) named after the component and tagged
// panka:component (a MicroService, Worker or CronJob component is aliased
// to the other two types, so a change between them updates its resources
// rather than re-creating them under the same names; a Worker that
// becomes a MicroService or back only gains or loses the service
// discovery entry, the ECS service's serviceRegistries (which ECS updates
// in place) and the load balancer parts — panka plan still lists the kind
// change as a replace, reason "kind", but without data loss, so apply
// needs no --allow-replace):
//
//   - MicroService / Worker: log group (30 days), execution role (image pull,
//     logs, read exactly the referenced SSM/Secrets Manager secrets; a
//     bare parameter name is granted in the caller's account and the
//     provider's region, as ECS resolves it; kms:Decrypt, only via SSM
//     and Secrets Manager, on exactly the customer managed keys listed
//     in spec.secretsKmsKeys — key ARNs, or alias ARNs granted through
//     kms:ResourceAliases since IAM matches no alias ARN — which panka
//     cannot know otherwise), task
//     role (access to referenced queues, buckets, topics, and read access
//     to a Database's master secret whose secretArn env or command
//     holds), Fargate task
//     definition (awsvpc, awslogs, env, secrets as valueFrom), security
//     group, ECS service (circuit breaker with rollback, 100/200, private
//     subnets, no public IP); a MicroService also registers in service
//     discovery and, with loadBalancer, gets a target group and a listener
//     rule on the configured listener (whose load balancer's scheme must
//     match loadBalancer.public); autoscaling adds an Application Auto
//     Scaling target and a CPU target-tracking policy.
//   - CronJob: the task parts plus an EventBridge Scheduler schedule running
//     the task on the cluster, with a role allowed ecs:RunTask and
//     iam:PassRole.
//   - Database: RDS subnet group, security group, encrypted private RDS
//     instance with RDS-managed master password, deletion protection by
//     default, at least 7 days of backups and a final snapshot named
//     <identifier>-final-<UTC time of creation> (a fixed name would make
//     AWS refuse the second destroy of a re-created database); changes
//     are applied immediately, not at the next maintenance window (the
//     same for a Cache). Deletion protection is on by default: destroy
//     refuses a protected Database until an apply turns it off.
//   - Cache: ElastiCache subnet group, security group, replication group with
//     transit and at-rest encryption, automatic failover from two nodes,
//     and a final snapshot named like the database's. The provider
//     re-creates the group for a version downgrade and for an engine
//     change other than redis to valkey (package replace; plan says so).
//   - Queue: SQS queue with SSE and, with deadLetter, a dead-letter queue
//     (14 days) wired by a redrive policy.
//   - Bucket: S3 bucket named <stack>-<env>-<component>-<account id> (S3
//     names are global) or spec.name, with versioning, encryption, public
//     access block, BucketOwnerEnforced, lifecycle rules (abort incomplete
//     uploads, expire noncurrent versions, expireAfterDays) and a
//     deny-non-TLS policy. The bucket has forceDestroy: deleting it
//     empties it first, so an allowed destroy (--allow-destroy) or
//     replacement (--allow-replace) never stops half way at
//     BucketNotEmpty; panka's guard, and the engine's protect it sets
//     on the bucket otherwise, is what keeps the data. A bucket deployed
//     by an older panka keeps forceDestroy off in Pulumi's state until
//     the next apply that runs the engine (any change of the stack/
//     environment; the update is in place, no AWS call): destroy it
//     only after that, or empty it first.
//   - Topic: encrypted SNS topic, subscriptions, and for queue subscriptions
//     a queue policy admitting exactly the subscribing topics ({queue: q},
//     or {protocol: sqs, endpoint: ${q.arn}} naming a queue of the stack),
//     and for lambda subscriptions (endpoint: a function ARN, maybe with a
//     version or alias) a Lambda permission letting exactly the topic
//     (principal sns.amazonaws.com, sourceArn the topic) invoke it; the
//     permission is made with the stack's provider, so the function must
//     be in the stack's region (validated) and account (not knowable
//     before apply: a function of another account needs its owner to add
//     the permission, and panka's then fails).
//
// ${component.output} references become Pulumi inputs from the referenced
// component's resources; stacks.Sensitive values become Pulumi secrets.
// Every component output is exported as target.OutputName(component,
// output); all outputs are strings. Physical names are derived from stack,
// environment and component (see model/names.go); ClusterName gives the
// ECS cluster for health checks. Validate checks a model (fields, AWS
// names and limits, references, provider settings) without Pulumi.
//
// Decoding, naming and validation live in the Pulumi-free sub-package
// model (so panka plan and validate run the checks apply would, without
// the engine); which spec changes force replacement is in the Pulumi-free
// sub-package replace. This package never reads the environment, the network or AWS
// credentials itself: the Pulumi engine and the AWS provider plugin do.
package aws
