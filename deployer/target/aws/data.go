package aws

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elasticache"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lambda"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"panka.dev/panka/deployer/target/aws/model"
	"panka.dev/panka/stacks"
)

// dataSecurityGroup admits port only from the workloads security group
// (every task of the stack/environment).
func (b *builder) dataSecurityGroup(port int, what string) (*ec2.SecurityGroup, error) {
	sg, err := ec2.NewSecurityGroup(b.ctx, b.name("sg"), &ec2.SecurityGroupArgs{
		Name:        pulumi.String(b.cp.N.SecurityGroup()),
		Description: pulumi.String(fmt.Sprintf("panka %s/%s %s (%s)", b.R.Stack, b.R.Environment, b.cp.C.Name, what)),
		VpcId:       pulumi.String(b.Net.VpcID),
		Ingress: ec2.SecurityGroupIngressArray{ec2.SecurityGroupIngressArgs{
			Description:    pulumi.String(what + " from the services and jobs of the stack"),
			Protocol:       pulumi.String("tcp"),
			FromPort:       pulumi.Int(port),
			ToPort:         pulumi.Int(port),
			SecurityGroups: pulumi.StringArray{b.workloads.ID()},
		}},
		Tags: b.tags(),
		// The description names the engine, and EC2 cannot change a
		// group's description: a new engine (postgres to mysql, redis to
		// valkey) replaced the group, creating the new one first under
		// the same name, which EC2 refuses (InvalidGroup.Duplicate), so
		// the apply could never succeed. The group keeps the description
		// it was created with.
	}, b.opts(pulumi.IgnoreChanges([]string{"description"}))...)
	if err = b.keep(sg, err); err != nil {
		return nil, fmt.Errorf("security group: %w", err)
	}
	return sg, nil
}

// now is the clock finalSnapshot reads (tests fix it).
var now = time.Now

// finalSnapshot is the final snapshot name of an RDS instance or an
// ElastiCache replication group: its id, "-final" and the time the
// resource is declared. AWS refuses to delete a database or cache whose
// final snapshot name is taken, so a fixed "<id>-final" let the first
// destroy (or replacement) through and failed every later one, after a
// re-create, with DBSnapshotAlreadyExists. The resource ignores later
// changes of the name (finalSnapshotOpts): it keeps the one it was
// created with, and an apply that changes nothing updates nothing.
func finalSnapshot(id string) string {
	return model.Shorten(id+"-final-"+now().UTC().Format("20060102-150405"), 255)
}

// finalSnapshotOpts keeps the final snapshot name a resource was created
// with (finalSnapshot).
func finalSnapshotOpts() pulumi.ResourceOption {
	return pulumi.IgnoreChanges([]string{"finalSnapshotIdentifier"})
}

// minorPinned reports whether a database version names a minor version
// (postgres 16.4, mysql 8.0.35), not only a major one (postgres 16, mysql
// 8.0). RDS then must not upgrade it on its own: with automatic minor
// upgrades a database pinned at 16.4 ran 16.8 after a maintenance window,
// and the next apply that refreshed it (drift detect, an apply undoing
// drift) asked RDS to go back to 16.4, which RDS refuses.
func minorPinned(engine, version string) bool {
	dots := strings.Count(version, ".")
	if engine == "mysql" {
		return dots >= 2
	}
	return dots >= 1
}

// database maps a Database: subnet group, security group and an encrypted,
// private, backed-up RDS instance whose master password RDS generates and
// keeps in Secrets Manager (secretArn output).
func (b *builder) database() error {
	ctx, db := b.ctx, b.cp.DB
	sub, err := rds.NewSubnetGroup(ctx, b.name("subnets"), &rds.SubnetGroupArgs{
		Name:        pulumi.String(b.cp.N.SubnetGroup()),
		Description: pulumi.String(fmt.Sprintf("panka %s/%s %s", b.R.Stack, b.R.Environment, b.cp.C.Name)),
		SubnetIds:   pulumi.ToStringArray(b.Net.PrivateSubnets),
		Tags:        b.tags(),
	}, b.opts()...)
	if err = b.keep(sub, err); err != nil {
		return fmt.Errorf("db subnet group: %w", err)
	}
	sg, err := b.dataSecurityGroup(db.Port, db.Engine)
	if err != nil {
		return err
	}
	id := b.cp.N.RdsIdentifier()
	args := &rds.InstanceArgs{
		Identifier:               pulumi.String(id),
		Engine:                   pulumi.String(db.Engine),
		InstanceClass:            pulumi.String(db.InstanceClass),
		AllocatedStorage:         pulumi.Int(db.StorageGB),
		StorageType:              pulumi.String("gp3"),
		StorageEncrypted:         pulumi.Bool(true),
		MultiAz:                  pulumi.Bool(db.MultiAZ),
		BackupRetentionPeriod:    pulumi.Int(db.BackupRetentionDays),
		DeletionProtection:       pulumi.Bool(db.DeletionProtection),
		CopyTagsToSnapshot:       pulumi.Bool(true),
		DeleteAutomatedBackups:   pulumi.Bool(false),
		ManageMasterUserPassword: pulumi.Bool(true),
		Username:                 pulumi.String(db.Username),
		Port:                     pulumi.Int(db.Port),
		PubliclyAccessible:       pulumi.Bool(false),
		DbSubnetGroupName:        sub.Name,
		VpcSecurityGroupIds:      pulumi.StringArray{sg.ID()},
		SkipFinalSnapshot:        pulumi.Bool(false),
		FinalSnapshotIdentifier:  pulumi.String(finalSnapshot(id)),
		AutoMinorVersionUpgrade:  pulumi.Bool(!minorPinned(db.Engine, db.Version)),
		// A version bump in YAML is an explicit request for the upgrade.
		AllowMajorVersionUpgrade: pulumi.Bool(true),
		// What the YAML says is what is deployed when apply reports
		// success: without it RDS defers a new instance class, storage or
		// version to the next maintenance window, and apply, status and
		// history claimed a change AWS had not made.
		ApplyImmediately: pulumi.Bool(true),
		Tags:             b.tags(),
	}
	if db.Version != "" {
		args.EngineVersion = pulumi.String(db.Version)
	}
	// The identifier is fixed, so a replacement must delete first (and is
	// refused by the planner without --allow-replace).
	inst, err := rds.NewInstance(ctx, b.name(""), args, b.dataOpts(finalSnapshotOpts())...)
	if err = b.keep(inst, err); err != nil {
		return fmt.Errorf("rds instance: %w", err)
	}
	b.output("endpoint", inst.Endpoint)
	b.output("address", inst.Address)
	b.output("port", itoa(inst.Port))
	b.output("secretArn", ptrStr(inst.MasterUserSecrets.Index(pulumi.Int(0)).SecretArn()))
	return nil
}

// cache maps a Cache: subnet group, security group and an encrypted
// replication group (automatic failover across AZs from two nodes).
func (b *builder) cache() error {
	ctx, ca := b.ctx, b.cp.Cache
	sub, err := elasticache.NewSubnetGroup(ctx, b.name("subnets"), &elasticache.SubnetGroupArgs{
		Name:        pulumi.String(b.cp.N.SubnetGroup()),
		Description: pulumi.String(fmt.Sprintf("panka %s/%s %s", b.R.Stack, b.R.Environment, b.cp.C.Name)),
		SubnetIds:   pulumi.ToStringArray(b.Net.PrivateSubnets),
		Tags:        b.tags(),
	}, b.opts()...)
	if err = b.keep(sub, err); err != nil {
		return fmt.Errorf("cache subnet group: %w", err)
	}
	sg, err := b.dataSecurityGroup(ca.Port, ca.Engine)
	if err != nil {
		return err
	}
	id := b.cp.N.CacheID()
	ha := ca.Nodes >= 2
	args := &elasticache.ReplicationGroupArgs{
		ReplicationGroupId:       pulumi.String(id),
		Description:              pulumi.String(fmt.Sprintf("panka %s/%s %s", b.R.Stack, b.R.Environment, b.cp.C.Name)),
		Engine:                   pulumi.String(ca.Engine),
		NodeType:                 pulumi.String(ca.NodeType),
		NumCacheClusters:         pulumi.Int(ca.Nodes),
		AutomaticFailoverEnabled: pulumi.Bool(ha),
		MultiAzEnabled:           pulumi.Bool(ha),
		AtRestEncryptionEnabled:  pulumi.Bool(true),
		TransitEncryptionEnabled: pulumi.Bool(true),
		Port:                     pulumi.Int(ca.Port),
		SubnetGroupName:          sub.Name,
		SecurityGroupIds:         pulumi.StringArray{sg.ID()},
		SnapshotRetentionLimit:   pulumi.Int(1),
		FinalSnapshotIdentifier:  pulumi.String(finalSnapshot(id)),
		// As for a Database: a new node type or version now, not at the
		// next maintenance window.
		ApplyImmediately: pulumi.Bool(true),
		Tags:             b.tags(),
	}
	if ca.Version != "" {
		args.EngineVersion = pulumi.String(ca.Version)
	}
	rg, err := elasticache.NewReplicationGroup(ctx, b.name(""), args, b.dataOpts(finalSnapshotOpts())...)
	if err = b.keep(rg, err); err != nil {
		return fmt.Errorf("replication group: %w", err)
	}
	b.output("endpoint", rg.PrimaryEndpointAddress)
	b.output("port", ptrItoa(rg.Port))
	return nil
}

// queue maps a Queue: an SSE-encrypted SQS queue and, with deadLetter, a
// dead-letter queue (14 days' retention, FIFO iff the queue is) wired by a
// redrive policy, which only this queue may use.
func (b *builder) queue() error {
	ctx, q := b.ctx, b.cp.Q
	name, dlqName := b.cp.N.Queue(q.FIFO)
	args := &sqs.QueueArgs{
		Name:                     pulumi.String(name),
		FifoQueue:                pulumi.Bool(q.FIFO),
		VisibilityTimeoutSeconds: pulumi.Int(q.VisibilityTimeout),
		MessageRetentionSeconds:  pulumi.Int(q.RetentionPeriod),
		SqsManagedSseEnabled:     pulumi.Bool(true),
		Tags:                     b.tags(),
	}
	if q.FIFO {
		args.ContentBasedDeduplication = pulumi.Bool(q.ContentBasedDeduplication)
	}
	var dlq *sqs.Queue
	if q.MaxReceives > 0 {
		var err error
		dlq, err = sqs.NewQueue(ctx, b.name("dlq"), &sqs.QueueArgs{
			Name:                    pulumi.String(dlqName),
			FifoQueue:               pulumi.Bool(q.FIFO),
			MessageRetentionSeconds: pulumi.Int(1209600),
			SqsManagedSseEnabled:    pulumi.Bool(true),
			Tags:                    b.tags(),
			// Not protected: removing spec.deadLetter deletes it while the
			// queue stays desired, which no flag could then let through
			// (--allow-destroy clears the protection of components that
			// go, not of parts of one that stays). The planner flags that
			// removal as data loss instead (replace.Losses), so apply
			// deletes it, and the messages in it, only with
			// --allow-destroy.
		}, b.opts(pulumi.DeleteBeforeReplace(true))...)
		if err = b.keep(dlq, err); err != nil {
			return fmt.Errorf("dead-letter queue: %w", err)
		}
		maxReceives := q.MaxReceives
		args.RedrivePolicy = jsonDoc(func(v []string) any {
			return map[string]any{"deadLetterTargetArn": v[0], "maxReceiveCount": maxReceives}
		}, dlq.Arn)
	}
	main, err := sqs.NewQueue(ctx, b.name(""), args, b.dataOpts()...)
	if err = b.keep(main, err); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if dlq != nil {
		allow, err := sqs.NewRedriveAllowPolicy(ctx, b.name("dlq"), &sqs.RedriveAllowPolicyArgs{
			QueueUrl: dlq.Url,
			RedriveAllowPolicy: jsonDoc(func(v []string) any {
				return map[string]any{"redrivePermission": "byQueue", "sourceQueueArns": []string{v[0]}}
			}, main.Arn),
		}, b.opts()...)
		if err = b.keep(allow, err); err != nil {
			return fmt.Errorf("dead-letter queue redrive allow policy: %w", err)
		}
	}
	b.output("url", main.Url)
	b.output("arn", main.Arn)
	b.output("name", main.Name)
	return nil
}

// bucket maps a Bucket: the bucket, versioning, default encryption, a
// public access block (all four settings unless public), bucket-owner
// ownership (no ACLs), lifecycle rules and a policy denying plain HTTP.
func (b *builder) bucket() error {
	ctx, bk := b.ctx, b.cp.B
	var name pulumi.StringInput = pulumi.String(bk.Name)
	if bk.Name == "" {
		name = pulumi.Sprintf("%s-%s", b.cp.N.BucketBase(), b.account())
	}
	bucket, err := s3.NewBucketV2(ctx, b.name(""), &s3.BucketV2Args{
		Bucket: name,
		// A delete empties the bucket (every object version) first.
		// panka's guard is the protection: a Bucket is deleted or
		// replaced only with --allow-destroy / --allow-replace, and is
		// otherwise protected in the engine too (dataOpts). With
		// forceDestroy false, a destroy the user had allowed failed
		// half way (BucketNotEmpty) after the bucket's policy and
		// settings and the other components were already gone, leaving
		// a partly destroyed stack for the user to empty by hand.
		ForceDestroy: pulumi.Bool(true),
		Tags:         b.tags(),
	}, b.dataOpts()...)
	if err = b.keep(bucket, err); err != nil {
		return fmt.Errorf("bucket: %w", err)
	}
	status := "Suspended"
	if bk.Versioning {
		status = "Enabled"
	}
	ver, err := s3.NewBucketVersioningV2(ctx, b.name("versioning"), &s3.BucketVersioningV2Args{
		Bucket:                  bucket.ID(),
		VersioningConfiguration: s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String(status)},
	}, b.opts()...)
	if err = b.keep(ver, err); err != nil {
		return fmt.Errorf("bucket versioning: %w", err)
	}
	enc, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, b.name("encryption"), &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("AES256"),
			},
			BucketKeyEnabled: pulumi.Bool(true),
		}},
	}, b.opts()...)
	if err = b.keep(enc, err); err != nil {
		return fmt.Errorf("bucket encryption: %w", err)
	}
	pab, err := s3.NewBucketPublicAccessBlock(ctx, b.name("public-access"), &s3.BucketPublicAccessBlockArgs{
		Bucket:                bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(!bk.Public),
		RestrictPublicBuckets: pulumi.Bool(!bk.Public),
	}, b.opts()...)
	if err = b.keep(pab, err); err != nil {
		return fmt.Errorf("bucket public access block: %w", err)
	}
	own, err := s3.NewBucketOwnershipControls(ctx, b.name("ownership"), &s3.BucketOwnershipControlsArgs{
		Bucket: bucket.ID(),
		Rule:   s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, b.opts()...)
	if err = b.keep(own, err); err != nil {
		return fmt.Errorf("bucket ownership controls: %w", err)
	}
	rules := s3.BucketLifecycleConfigurationV2RuleArray{s3.BucketLifecycleConfigurationV2RuleArgs{
		Id:     pulumi.String("abort-incomplete-uploads"),
		Status: pulumi.String("Enabled"),
		Filter: s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
		AbortIncompleteMultipartUpload: s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
			DaysAfterInitiation: pulumi.Int(bk.AbortMultipartDay),
		},
	}}
	if bk.NoncurrentDays > 0 {
		rules = append(rules, s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:     pulumi.String("expire-noncurrent-versions"),
			Status: pulumi.String("Enabled"),
			Filter: s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
			NoncurrentVersionExpiration: s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{
				NoncurrentDays: pulumi.Int(bk.NoncurrentDays),
			},
		})
	}
	if bk.ExpireAfterDays > 0 {
		rules = append(rules, s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:         pulumi.String("expire-objects"),
			Status:     pulumi.String("Enabled"),
			Filter:     s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
			Expiration: s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(bk.ExpireAfterDays)},
		})
	}
	lc, err := s3.NewBucketLifecycleConfigurationV2(ctx, b.name("lifecycle"), &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules:  rules,
	}, b.opts(pulumi.DependsOn([]pulumi.Resource{ver}))...)
	if err = b.keep(lc, err); err != nil {
		return fmt.Errorf("bucket lifecycle: %w", err)
	}
	public := bk.Public
	policy := jsonDoc(func(v []string) any {
		arn := v[0]
		doc := policyDoc{Version: "2012-10-17", Statement: []statement{{
			Sid:       "DenyInsecureTransport",
			Effect:    "Deny",
			Principal: "*",
			Action:    "s3:*",
			Resource:  []string{arn, arn + "/*"},
			Condition: map[string]any{"Bool": map[string]string{"aws:SecureTransport": "false"}},
		}}}
		if public {
			doc.Statement = append(doc.Statement, statement{
				Sid: "PublicRead", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: arn + "/*",
			})
		}
		return doc
	}, bucket.Arn)
	pol, err := s3.NewBucketPolicy(ctx, b.name("policy"), &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: policy,
	}, b.opts(pulumi.DependsOn([]pulumi.Resource{pab, own}))...)
	if err = b.keep(pol, err); err != nil {
		return fmt.Errorf("bucket policy: %w", err)
	}
	b.output("name", bucket.Bucket)
	b.output("arn", bucket.Arn)
	return nil
}

// topic maps a Topic: an encrypted SNS topic and its subscriptions. Queue
// subscriptions deliver raw-or-enveloped messages to a Queue component;
// its queue policy is made by queuePolicies once every topic exists. A
// lambda subscription gets a Lambda permission letting the topic (and
// only it) invoke the function.
func (b *builder) topic() error {
	ctx, t := b.ctx, b.cp.T
	args := &sns.TopicArgs{
		Name:           pulumi.String(b.cp.N.Topic(t.FIFO)),
		FifoTopic:      pulumi.Bool(t.FIFO),
		KmsMasterKeyId: pulumi.String("alias/aws/sns"),
		Tags:           b.tags(),
	}
	topic, err := sns.NewTopic(ctx, b.name(""), args, b.opts(pulumi.DeleteBeforeReplace(true))...)
	if err = b.keep(topic, err); err != nil {
		return fmt.Errorf("topic: %w", err)
	}
	seen := map[string]int{}
	for i, s := range t.Subscriptions {
		var logical string
		subArgs := &sns.TopicSubscriptionArgs{Topic: topic.Arn}
		if s.Queue != "" {
			logical = b.name("to-" + s.Queue)
			subArgs.Protocol = pulumi.String("sqs")
			subArgs.Endpoint = b.outs[s.Queue]["arn"]
		} else {
			// Named by content, so reordering the list changes nothing; a
			// secret endpoint by its keyed hash (the name is in clear in
			// Pulumi's state).
			endpoint, _ := s.Endpoint.(string)
			if x, ok := s.Endpoint.(stacks.Sensitive); ok {
				endpoint = x.Hash
			}
			sum := sha256.Sum256([]byte(s.Protocol + " " + endpoint))
			logical = b.name(s.Protocol + "-" + hex.EncodeToString(sum[:4]))
			subArgs.Protocol = pulumi.String(s.Protocol)
			subArgs.Endpoint = b.input(s.Endpoint)
		}
		if j, dup := seen[logical]; dup {
			return fmt.Errorf("spec.subscriptions[%d] repeats spec.subscriptions[%d]", i, j)
		}
		seen[logical] = i
		if s.Raw {
			subArgs.RawMessageDelivery = pulumi.Bool(true)
		}
		sub, err := sns.NewTopicSubscription(ctx, logical, subArgs, b.opts()...)
		if err = b.keep(sub, err); err != nil {
			return fmt.Errorf("subscription %d: %w", i, err)
		}
		if s.Protocol == "lambda" {
			// SNS invokes the function only if the function's resource
			// policy lets it: without this the subscription was made
			// and every delivery failed (AccessDenied, seen only in
			// SNS delivery metrics). Exactly this topic may invoke it.
			pargs := &lambda.PermissionArgs{
				Action:    pulumi.String("lambda:InvokeFunction"),
				Function:  subArgs.Endpoint,
				Principal: pulumi.String("sns.amazonaws.com"),
				SourceArn: topic.Arn,
			}
			// A version or alias (function:name:live) is the permission's
			// qualifier, as the Lambda API documents it: SNS invokes
			// exactly that version or alias.
			if e, ok := s.Endpoint.(string); ok {
				if parts := strings.Split(e, ":"); len(parts) == 8 {
					pargs.Function = pulumi.String(strings.Join(parts[:7], ":"))
					pargs.Qualifier = pulumi.String(parts[7])
				}
			}
			perm, err := lambda.NewPermission(ctx, logical+"-invoke", pargs, b.opts()...)
			if err = b.keep(perm, err); err != nil {
				return fmt.Errorf("subscription %d: lambda permission: %w", i, err)
			}
		}
	}
	b.output("arn", topic.Arn)
	return nil
}

// queuePolicies lets SNS deliver to each subscribed queue, from exactly the
// topics that subscribe it (aws:SourceArn). A queue has one policy, so it
// is made once per queue after every topic, parented to the queue.
func (d *deploy) queuePolicies() error {
	for _, qname := range model.SortedKeys(d.Subscribers) {
		topics := d.Subscribers[qname]
		ins := []pulumi.StringInput{d.outs[qname]["arn"]}
		var deps []pulumi.Resource
		for _, t := range topics {
			ins = append(ins, d.outs[t]["arn"])
			deps = append(deps, d.res[t]...)
		}
		policy := jsonDoc(func(v []string) any {
			return policyDoc{Version: "2012-10-17", Statement: []statement{{
				Sid:       "AllowTopics",
				Effect:    "Allow",
				Principal: map[string]string{"Service": "sns.amazonaws.com"},
				Action:    "sqs:SendMessage",
				Resource:  v[0],
				Condition: map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": v[1:]}},
			}}}
		}, ins...)
		parent := d.parents[qname]
		qp, err := sqs.NewQueuePolicy(d.ctx, qname+"-sns", &sqs.QueuePolicyArgs{
			QueueUrl: d.outs[qname]["url"],
			Policy:   policy,
		}, pulumi.Parent(parent), pulumi.DependsOn(deps))
		if err != nil {
			return fmt.Errorf("%s component %q: queue policy for topics %v: %w", d.Where, qname, topics, err)
		}
		d.res[qname] = append(d.res[qname], qp)
	}
	return nil
}
