package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"panka.dev/panka/cmd/panka/internal/config"
	ddblocker "panka.dev/panka/locker/dynamodb"
	s3store "panka.dev/panka/statestore/s3"
)

func init() { register(newCmdBackend) }

func newCmdBackend(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "backend", Short: "Set up the S3 state bucket and DynamoDB lock table"}
	cmd.AddCommand(newCmdBackendCreate(f))
	return cmd
}

// BackendCreateOptions are the inputs of `panka backend create`.
type BackendCreateOptions struct {
	F      *Factory
	Bucket string
	Table  string
	Region string
}

// BackendAction is one thing `panka backend create` did (or found done).
type BackendAction struct {
	Resource string `json:"resource"` // bucket or table
	Name     string `json:"name"`
	Setting  string `json:"setting"` // bucket, versioning, public-access-block, encryption, table
	Result   string `json:"result"`  // created, exists, enabled, skipped
	Detail   string `json:"detail,omitempty"`
	// Previous is what an existing bucket had for the setting before
	// backend create changed it ("" when it was already so, or unknown).
	Previous string `json:"previous,omitempty"`
}

func newCmdBackendCreate(f *Factory) *cobra.Command {
	opts := &BackendCreateOptions{F: f}
	cmd := &cobra.Command{
		Use:        "create [--bucket NAME] [--table NAME] [--region REGION]",
		SuggestFor: []string{"init", "setup", "new"},
		Short:      "Create the state bucket (versioned, private, encrypted) and the lock table",
		Long: `create makes the S3 bucket for state with versioning on, all public access
blocked and default encryption (backend.sse, AES256 unless aws:kms), and the
DynamoDB lock table (hash key lockKey, on-demand billing); with --table and
no bucket (--bucket, backend.bucket), the table alone. It is idempotent:
what exists is kept and its settings are applied again. Where an
S3-compatible server does not implement a bucket setting it warns, naming
the setting, and goes on. Endpoints come from backend.endpoint and
locks.endpoint (or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_DYNAMODB).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			// The global flags name the same keys: given both, one
			// would silently lose (as init refuses it too).
			for global, local := range map[string]string{"backend-bucket": "bucket", "backend-region": "region", "lock-table": "table"} {
				g, l := c.Flags().Lookup(global), c.Flags().Lookup(local)
				if g != nil && l != nil && g.Changed && l.Changed && g.Value.String() != l.Value.String() {
					return Usagef("--%s %q and --%s %q disagree: give one of them", global, g.Value, local, l.Value)
				}
			}
			return backendCreateRun(c.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Bucket, "bucket", "", "state bucket (default backend.bucket; none: the lock table alone)")
	cmd.Flags().StringVar(&opts.Table, "table", "", "DynamoDB lock table (default locks.table; none: no table)")
	cmd.Flags().StringVar(&opts.Region, "region", "", "AWS region (default backend.region)")
	return cmd
}

func backendCreateRun(ctx context.Context, opts *BackendCreateOptions) error {
	f := opts.F
	base, err := f.Config()
	if err != nil {
		return err
	}
	cfg := *base
	if opts.Bucket != "" {
		cfg.Backend.Bucket = opts.Bucket
	}
	if opts.Table != "" {
		cfg.Locks.Table = opts.Table
	}
	if opts.Region != "" {
		cfg.Backend.Region, cfg.Locks.Region = opts.Region, opts.Region
	}
	switch {
	case cfg.Backend.Bucket == "" && cfg.Locks.Table == "":
		return Usagef("--bucket is required (or set backend.bucket), or --table for the lock table alone")
	case cfg.Backend.Bucket == "":
		// A missing lock table's error says `panka backend create --table
		// NAME`; where the bucket is named by a flag (--backend-bucket in
		// CI) or the state is local, that was a usage error, not the table.
		fmt.Fprintf(f.Notices(), "No state bucket named (--bucket, backend.bucket): making the lock table %s alone.\n", cfg.Locks.Table)
	default:
		if err := s3store.CheckBucketName(cfg.Backend.Bucket); err != nil {
			return Usagef("--bucket %v", err)
		}
	}
	if cfg.Locks.Table != "" {
		if err := ddblocker.CheckTableName(cfg.Locks.Table); err != nil {
			return Usagef("--table %v", err)
		}
	}
	var actions []BackendAction
	report := func(a BackendAction) {
		actions = append(actions, a)
		if a.Result == "skipped" {
			f.Warnf("%s %s: %s", a.Resource, a.Name, a.Detail)
		}
		if a.Previous != "" {
			// A shared bucket's owner must not be surprised.
			f.Warnf("%s %s already existed with %s %s: backend create changed it (%s %s)", a.Resource, a.Name, a.Setting, a.Previous, a.Setting, a.Result)
		}
		if !f.JSON() {
			line := fmt.Sprintf("%s %s: %s %s", a.Resource, a.Name, a.Setting, a.Result)
			if a.Detail != "" && a.Result != "skipped" {
				line += " (" + a.Detail + ")"
			}
			fmt.Fprintln(f.IO.Out, line)
		}
	}
	if cfg.Backend.Bucket != "" {
		s3c, err := f.S3Client(ctx, &cfg)
		if err != nil {
			return err
		}
		if err := ensureBucket(ctx, s3c, cfg.Backend.Bucket, s3c.Options().Region, cfg.Backend.SSE, cfg.Backend.KMSKeyID, report); err != nil {
			return err
		}
	}
	if cfg.Locks.Table != "" {
		ddb, err := f.DynamoDBClient(ctx, &cfg)
		if err != nil {
			return err
		}
		if err := ensureLockTable(ctx, ddb, cfg.Locks.Table, report); err != nil {
			return err
		}
	}
	if next := backendNextStep(base, &cfg); next != "" {
		fmt.Fprint(f.Notices(), next)
	}
	if f.JSON() {
		return f.PrintJSON(struct {
			Actions []BackendAction `json:"actions"`
		}{actions})
	}
	return nil
}

// backendNextStep is what to write into panka.yaml for panka to use the
// bucket and table backend create made from flags, when the configuration
// (base) does not name them: created with --bucket/--table (README's team
// set-up), the next command went on using .panka/ (or another bucket) with
// no word that nothing pointed at them yet. "" when it names them.
func backendNextStep(base, made *config.Resolved) string {
	bucket := made.Backend.Bucket != "" && (base.Backend.Bucket != made.Backend.Bucket || base.Backend.Type != "s3")
	table := made.Locks.Table != "" && (base.Locks.Table != made.Locks.Table || base.Locks.Type != "dynamodb")
	if !bucket && !table {
		return ""
	}
	var b strings.Builder
	b.WriteString("The configuration does not point at ")
	switch {
	case bucket && table:
		b.WriteString("them")
	case bucket:
		b.WriteString("the bucket")
	default:
		b.WriteString("the table")
	}
	b.WriteString(" yet: for the team to use ")
	if bucket && table {
		b.WriteString("them, commit in panka.yaml (at the repository's root):\n")
	} else {
		b.WriteString("it, commit in panka.yaml (at the repository's root):\n")
	}
	if made.Backend.Bucket != "" {
		fmt.Fprintf(&b, "  backend: {type: s3, bucket: %s", made.Backend.Bucket)
		if made.Backend.Region != "" {
			fmt.Fprintf(&b, ", region: %s", made.Backend.Region)
		}
		if made.Backend.Endpoint != "" {
			fmt.Fprintf(&b, ", endpoint: %q", made.Backend.Endpoint)
		}
		b.WriteString("}\n")
	}
	if made.Locks.Table != "" {
		fmt.Fprintf(&b, "  locks: {type: dynamodb, table: %s", made.Locks.Table)
		if made.Locks.Region != "" && (made.Locks.Region != made.Backend.Region || made.Backend.Bucket == "") {
			fmt.Fprintf(&b, ", region: %s", made.Locks.Region)
		}
		if made.Locks.Endpoint != "" {
			fmt.Fprintf(&b, ", endpoint: %q", made.Locks.Endpoint)
		}
		b.WriteString("}\n")
		if made.Backend.Bucket == "" && base.Backend.Type != "s3" {
			// The table alone, over local state: the lease refuses
			// that (sharedLocksLocalState).
			b.WriteString("and keep the state in a bucket too (backend: {type: s3, bucket: NAME}): a lock table over local state is refused\n")
		}
	}
	return b.String()
}

func awsErrCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func awsHTTPStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func notImplemented(err error) bool {
	return awsErrCode(err) == "NotImplemented" || awsHTTPStatus(err) == http.StatusNotImplemented
}

func ensureBucket(ctx context.Context, c *s3.Client, bucket, region, sse, kmsKey string, report func(BackendAction)) error {
	act := func(setting, result, detail string) {
		report(BackendAction{Resource: "bucket", Name: bucket, Setting: setting, Result: result, Detail: detail})
	}
	existed := false
	_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	switch {
	case err == nil:
		existed = true
		act("bucket", "exists", "")
	case awsHTTPStatus(err) == http.StatusNotFound:
		in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
		if region != "" && region != "us-east-1" {
			in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
		}
		_, err := c.CreateBucket(ctx, in)
		switch code := awsErrCode(err); {
		case err == nil:
			act("bucket", "created", region)
		case code == "BucketAlreadyOwnedByYou":
			existed = true
			act("bucket", "exists", "")
		case code == "BucketAlreadyExists":
			return fmt.Errorf("create bucket %s: the name is taken by another account; choose another --bucket", bucket)
		default:
			return fmt.Errorf("create bucket %s in %s: %w", bucket, region, s3store.Explain(bucket, err))
		}
	case awsHTTPStatus(err) == http.StatusForbidden:
		// A HEAD answer has no body: Explain says "access denied (403)" and
		// what to check, without the SDK's request ids.
		return fmt.Errorf("bucket %s: %w (the bucket may also belong to another account: choose another --bucket)", bucket, s3store.Explain(bucket, err))
	case awsHTTPStatus(err) == http.StatusBadRequest && (awsErrCode(err) == "" || awsErrCode(err) == "BadRequest"):
		// A HEAD answer has no body to say why; signing for a region the
		// bucket (or the server) is not in is the usual cause.
		return fmt.Errorf("check bucket %s: the S3 endpoint answered HeadBucket with 400 Bad Request and no details; usually the bucket (or the server) is in another region than %q: pass the right one with --region (backend.region)", bucket, region)
	default:
		return fmt.Errorf("check bucket %s: %w", bucket, s3store.Explain(bucket, err))
	}

	// before describes an existing bucket's setting when it differs from
	// what backend create sets ("" when alike or unknown).
	setting := func(name, done string, before func() string, call func() error) error {
		prev := ""
		if existed {
			prev = before()
		}
		err := call()
		switch {
		case err == nil:
			report(BackendAction{Resource: "bucket", Name: bucket, Setting: name, Result: "enabled", Detail: done, Previous: prev})
		case notImplemented(err):
			act(name, "skipped", fmt.Sprintf("the S3 endpoint does not implement the %s setting (NotImplemented); left as it is", name))
		default:
			return fmt.Errorf("bucket %s: set %s: %w", bucket, name, err)
		}
		return nil
	}
	if err := setting("versioning", "", func() string {
		v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
		switch {
		case err != nil || v.Status == s3types.BucketVersioningStatusEnabled:
			return ""
		case v.Status == "":
			return "never enabled"
		}
		return string(v.Status)
	}, func() error {
		_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
		return err
	}); err != nil {
		return err
	}
	if err := setting("public-access-block", "all public access blocked", func() string {
		p, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
		switch {
		case awsErrCode(err) == "NoSuchPublicAccessBlockConfiguration":
			return "not set"
		case err != nil || p.PublicAccessBlockConfiguration == nil:
			return ""
		}
		b := p.PublicAccessBlockConfiguration
		var off []string
		for _, o := range []struct {
			name string
			on   *bool
		}{{"BlockPublicAcls", b.BlockPublicAcls}, {"IgnorePublicAcls", b.IgnorePublicAcls}, {"BlockPublicPolicy", b.BlockPublicPolicy}, {"RestrictPublicBuckets", b.RestrictPublicBuckets}} {
			if !aws.ToBool(o.on) {
				off = append(off, o.name)
			}
		}
		if len(off) == 0 {
			return ""
		}
		return strings.Join(off, ", ") + " off"
	}, func() error {
		_, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(bucket),
			PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
				BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
				BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}})
		return err
	}); err != nil {
		return err
	}
	rule := s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256}
	if sse == "aws:kms" {
		rule.SSEAlgorithm = s3types.ServerSideEncryptionAwsKms
		if kmsKey != "" {
			rule.KMSMasterKeyID = aws.String(kmsKey)
		}
	}
	return setting("encryption", string(rule.SSEAlgorithm), func() string {
		e, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
		switch {
		case awsErrCode(err) == "ServerSideEncryptionConfigurationNotFoundError":
			return "not set"
		case err != nil || e.ServerSideEncryptionConfiguration == nil || len(e.ServerSideEncryptionConfiguration.Rules) == 0:
			return ""
		}
		d := e.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault
		if d == nil {
			return ""
		}
		if d.SSEAlgorithm != rule.SSEAlgorithm || (rule.KMSMasterKeyID != nil && aws.ToString(d.KMSMasterKeyID) != aws.ToString(rule.KMSMasterKeyID)) {
			was := string(d.SSEAlgorithm)
			if k := aws.ToString(d.KMSMasterKeyID); k != "" {
				was += " (key " + k + ")"
			}
			return was
		}
		return ""
	}, func() error {
		_, err := c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String(bucket),
			ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
				ApplyServerSideEncryptionByDefault: &rule, BucketKeyEnabled: aws.Bool(sse == "aws:kms")}}}})
		return err
	})
}

func ensureLockTable(ctx context.Context, c *dynamodb.Client, table string, report func(BackendAction)) error {
	act := func(result, detail string) {
		report(BackendAction{Resource: "table", Name: table, Setting: "table", Result: result, Detail: detail})
	}
	out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var nf *ddbtypes.ResourceNotFoundException
	switch {
	case err == nil:
		ok := false
		for _, k := range out.Table.KeySchema {
			if aws.ToString(k.AttributeName) == "lockKey" && k.KeyType == ddbtypes.KeyTypeHash {
				ok = true
			}
		}
		if !ok || len(out.Table.KeySchema) != 1 {
			// Which key it has tells whose table it is (Terraform's
			// LockID), and that no panka lock ever went in.
			var keys []string
			for _, k := range out.Table.KeySchema {
				role := "partition key"
				if k.KeyType == ddbtypes.KeyTypeRange {
					role = "sort key"
				}
				keys = append(keys, fmt.Sprintf("%s (%s)", aws.ToString(k.AttributeName), role))
			}
			return fmt.Errorf("table %s exists but is keyed by %s, not by lockKey (string) alone as a panka lock table is: it is another tool's table; choose another --table (backend create makes it)", table, strings.Join(keys, ", "))
		}
		// A lockKey of another type (N, B) takes no lock key panka
		// writes: every apply would fail on it.
		for _, a := range out.Table.AttributeDefinitions {
			if aws.ToString(a.AttributeName) == "lockKey" && a.AttributeType != ddbtypes.ScalarAttributeTypeS {
				return fmt.Errorf("table %s exists but its key lockKey is of type %s, not S (string): panka's lock keys are strings; choose another --table or recreate the table", table, a.AttributeType)
			}
		}
		act("exists", "key lockKey")
		return nil
	case errors.As(err, &nf):
		created, err := ddblocker.CreateTableOnce(ctx, c, table)
		if err != nil {
			return err
		}
		if !created {
			// Made since it was described, by another backend create
			// running at the same time (CI jobs that each set up the
			// backend), or by something else: checked as one that
			// existed, not reported as created here.
			return ensureLockTable(ctx, c, table, report)
		}
		act("created", "key lockKey (S), on-demand")
		return nil
	}
	return fmt.Errorf("check lock table %s: %w", table, ddblocker.Explain(table, err))
}
