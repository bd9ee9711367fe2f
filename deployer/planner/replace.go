package planner

import "panka.dev/panka/stacks"

// replaceFields lists, per kind, the spec fields whose change makes the aws
// target replace the component's main resource (RDS engine, encryption,
// username and database name; ElastiCache replication group id, at-rest
// encryption and port; SQS/SNS name and FIFO flag; S3 bucket name; ECS
// service name, cluster and launch type). It lives here rather than in
// deployer/target/aws because the planner must not import Pulumi; keep the
// two in step when the aws mapping changes. Several spellings are listed
// where the model may name a field either way; unknown names never match.
var replaceFields = map[stacks.Kind][]string{
	stacks.KindDatabase:     {"engine", "storageEncrypted", "encrypted", "kmsKeyId", "username", "masterUsername", "dbName", "databaseName", "identifier", "name"},
	stacks.KindCache:        {"engine", "replicationGroupId", "atRestEncryption", "atRestEncryptionEnabled", "port", "subnetGroup", "name"},
	stacks.KindQueue:        {"fifo", "name", "queueName"},
	stacks.KindTopic:        {"fifo", "name", "topicName"},
	stacks.KindBucket:       {"name", "bucketName"},
	stacks.KindMicroService: {"name", "serviceName", "cluster", "launchType"},
	stacks.KindWorker:       {"name", "serviceName", "cluster", "launchType"},
	stacks.KindCronJob:      {"name", "cluster"},
}

// DefaultReplaceFields returns the spec fields (relative to spec) whose
// change forces replacement of a component of kind k under the aws mapping.
func DefaultReplaceFields(k stacks.Kind) []string { return replaceFields[k] }
