package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"

	"panka.dev/panka/cmd/panka/internal/config"
	s3store "panka.dev/panka/statestore/s3"
)

// DefaultAWSResponseTimeout bounds the wait for an AWS (or S3-/DynamoDB-
// compatible) server to start answering a request; with the retryer's
// attempts a dead endpoint fails within a couple of minutes, never hangs.
const DefaultAWSResponseTimeout = 15 * time.Second

// DefaultAWSRequestTimeout bounds each AWS request as a whole, the reading
// of its answer included: a server that sends the headers of an answer and
// then stops sending its body would otherwise hang the read for ever (the
// response timeout ends with the headers). panka's requests carry a state
// document or a lock, at most a few hundred KB.
const DefaultAWSRequestTimeout = time.Minute

// AWSConfig builds the aws.Config every AWS client of panka starts from:
// the SDK's standard credential chain and shared config (environment,
// ~/.aws, SSO, web identity, container and instance roles), the profile of
// aws.profile, the region of aws.region (else backend.region; clients
// override it with their own region, see S3Client and DynamoDBClient), the
// role of aws.assumeRole assumed through STS, and panka's retryer (the SDK's
// standard retryer, configured: statestore/s3.NewRetryer). Endpoints are not
// set here: S3Client and DynamoDBClient apply backend.endpoint and
// locks.endpoint, and the SDK's own AWS_ENDPOINT_URL_S3 /
// AWS_ENDPOINT_URL_DYNAMODB keep working when those are unset.
func (f *Factory) AWSConfig(ctx context.Context, cfg *config.Resolved) (aws.Config, error) {
	respTimeout := f.AWSResponseTimeout
	if respTimeout <= 0 {
		respTimeout = DefaultAWSResponseTimeout
	}
	reqTimeout := f.AWSRequestTimeout
	if reqTimeout <= 0 {
		reqTimeout = max(DefaultAWSRequestTimeout, 2*respTimeout)
	}
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRetryer(func() aws.Retryer {
			return s3store.NotifyRetries(s3store.NewRetryer(0), f.retryNotice("the AWS server", "the network and aws.region"))
		}),
		// The SDK's client has no timeouts of its own: an endpoint that
		// accepts connections but never answers would hang every command.
		// Bounded waits become errors the retryer retries, then reports.
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().
			WithDialerOptions(func(d *net.Dialer) { d.Timeout = 10 * time.Second }).
			WithTransportOptions(func(tr *http.Transport) { tr.ResponseHeaderTimeout = respTimeout }).
			WithTimeout(reqTimeout)),
		// The SDK logs to stderr in its own format ("SDK 2026/... WARN falling
		// back to IMDSv1") unless given a logger: its notes are panka's debug
		// logs (-v), never unformatted lines among panka's output.
		awsconfig.WithLogger(logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
			f.Log.Debug().Str("source", "aws-sdk").Str("sdkLevel", string(c)).Msgf(format, v...)
		})),
	}
	if cfg.AWS.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(cfg.AWS.Profile))
	}
	region := cfg.AWS.Region
	if region == "" {
		region = cfg.Backend.Region
	}
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	var noProfile awsconfig.SharedConfigProfileNotExistError
	if errors.As(err, &noProfile) {
		return aws.Config{}, f.profileMissing(cfg, noProfile.Profile)
	}
	if err != nil {
		where := ""
		if cfg.AWS.Profile != "" {
			where = fmt.Sprintf(" (aws.profile %q, from %s)", cfg.AWS.Profile, cfg.Sources["aws.profile"])
		}
		return aws.Config{}, fmt.Errorf("load AWS configuration%s: %w; check ~/.aws/config and the AWS_* environment variables", where, err)
	}
	if ar := cfg.AWS.AssumeRole; ar.RoleArn != "" {
		session := ar.SessionName
		if session == "" {
			session = "panka"
			if h, err := os.Hostname(); err == nil {
				session = "panka-" + sanitizeSession(h)
			}
		}
		// The SDK applies AWS_ENDPOINT_URL_STS itself.
		prov := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(ac), ar.RoleArn, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = session
			if ar.ExternalID != "" {
				o.ExternalID = aws.String(ar.ExternalID)
			}
		})
		ac.Credentials = aws.NewCredentialsCache(prov)
	}
	return ac, nil
}

// profileMissing is the error of an AWS profile (name) that no shared
// config file has, saying where the name was set (aws.profile, AWS_PROFILE,
// AWS_DEFAULT_PROFILE, or another profile's source_profile) and which
// files were read: the SDK's "failed to get shared config profile, nope"
// said neither.
func (f *Factory) profileMissing(cfg *config.Resolved, name string) error {
	inUse, from := "default", "the SDK's default"
	switch {
	case cfg.AWS.Profile != "":
		inUse, from = cfg.AWS.Profile, fmt.Sprintf("aws.profile, set by %s", cfg.Sources["aws.profile"])
	case f.Getenv("AWS_PROFILE") != "":
		inUse, from = f.Getenv("AWS_PROFILE"), "AWS_PROFILE"
	case f.Getenv("AWS_DEFAULT_PROFILE") != "":
		inUse, from = f.Getenv("AWS_DEFAULT_PROFILE"), "AWS_DEFAULT_PROFILE"
	}
	if name != inUse {
		from = fmt.Sprintf("the source_profile of profile %q", inUse)
	}
	files := []string{cmp.Or(f.Getenv("AWS_CONFIG_FILE"), awsconfig.DefaultSharedConfigFilename()),
		cmp.Or(f.Getenv("AWS_SHARED_CREDENTIALS_FILE"), awsconfig.DefaultSharedCredentialsFilename())}
	return fmt.Errorf("AWS profile %q (%s) is in none of the AWS shared config files (%s): fix the name (`aws configure list-profiles` lists them), or add the profile (`aws configure --profile %s`)",
		name, from, strings.Join(files, ", "), name)
}

// sanitizeSession keeps the characters STS allows in a session name.
func sanitizeSession(s string) string {
	b := []byte(s)
	out := b[:0]
	for _, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-' || c == '_' {
			out = append(out, c)
		}
	}
	if len(out) > 56 {
		out = out[:56]
	}
	return string(out)
}

// checkRegion refuses the region of a client (region; key is its
// configuration key) that its requests would fail on without saying why:
// a name the SDK does not take (a stray space in AWS_REGION: "invalid input
// region"), or, with no custom endpoint, a region AWS does not have
// (backend.region: mars, eu-west1, EU-WEST-1), whose requests failed as an
// unknown host, "check backend.endpoint". An S3- or DynamoDB-compatible
// server (custom) may name its region anything the SDK takes. The message
// names the setting the region came from; orEndpoint is the other fix.
func (f *Factory) checkRegion(cfg *config.Resolved, region, key string, custom bool, orEndpoint string) error {
	// The SDK's pseudo-regions name AWS regions too: fips-us-gov-west-1,
	// us-east-1-fips, aws-global.
	aws := regionRe.MatchString(strings.TrimSuffix(strings.TrimPrefix(region, "fips-"), "-fips")) || region == "aws-global"
	if !custom && aws || custom && config.IsRegionName(region) {
		return nil
	}
	what := ""
	if regionOf(cfg, key) == region {
		// Set in panka's configuration: follow "from backend.region" and
		// "from aws.region" to the key the value was written as.
		for key != "aws.region" {
			src := cfg.Sources[key]
			if src.Layer != "default" || !strings.HasPrefix(src.Where, "from ") {
				break
			}
			key = strings.TrimPrefix(src.Where, "from ")
		}
		what = fmt.Sprintf("%s %q (set by %s)", key, region, cfg.Sources[key])
	} else {
		// The SDK's: AWS_REGION over AWS_DEFAULT_REGION over the profile's.
		from := "the region of the AWS profile in ~/.aws/config"
		for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
			if f.Getenv(v) != "" {
				from = v
				break
			}
		}
		what = fmt.Sprintf("the AWS region %q (from %s)", region, from)
	}
	if !config.IsRegionName(region) {
		return fmt.Errorf("%s is not a region name: letters, digits and hyphens, e.g. us-east-1", what)
	}
	return fmt.Errorf("%s is not an AWS region such as us-east-1: fix it, or set %s", what, orEndpoint)
}

// clientEndpoint is the endpoint the SDK sends the requests of a client
// to, and the setting that chose it.
type clientEndpoint struct {
	// URL is "" for AWS's own endpoint of the client's region.
	URL string
	// From names the setting, for messages: "backend.endpoint (set by env
	// (PANKA_BACKEND_ENDPOINT))", "AWS_ENDPOINT_URL_S3", "the endpoint_url
	// of AWS profile \"minio\""; "" with URL.
	From string
}

// endpointOf is the endpoint of the clients of service (its SDK id: "S3",
// "DynamoDB") made from ac, whose key (backend.endpoint, locks.endpoint)
// overrides the SDK's choice when set. Else it is the SDK's own
// resolution: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the service's
// endpoint_url in the services section of the AWS profile, the profile's
// endpoint_url, none of them with ignore_configured_endpoint_urls
// (AWS_IGNORE_CONFIGURED_ENDPOINT_URLS). A profile for an S3-compatible
// server (R2, MinIO) is written that way, and is as custom an endpoint as
// backend.endpoint: its region may be "auto", its buckets are addressed
// path-style, and its address is what to check when it does not answer.
func (f *Factory) endpointOf(ctx context.Context, cfg *config.Resolved, ac aws.Config, key, service string) clientEndpoint {
	configured := cfg.Backend.Endpoint
	if key == "locks.endpoint" {
		configured = cfg.Locks.Endpoint
	}
	if configured != "" {
		from := key
		if src := cfg.Sources[key]; src.Layer != "" {
			from = fmt.Sprintf("%s (set by %s)", key, src)
		}
		return clientEndpoint{URL: configured, From: from}
	}
	type ignores interface {
		GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error)
	}
	for _, src := range ac.ConfigSources {
		if p, ok := src.(ignores); ok {
			if v, found, err := p.GetIgnoreConfiguredEndpoints(ctx); err == nil && found {
				if v {
					return clientEndpoint{}
				}
				break
			}
		}
	}
	for _, name := range []string{"AWS_ENDPOINT_URL_" + strings.ToUpper(service), "AWS_ENDPOINT_URL"} {
		if v := f.Getenv(name); v != "" {
			return clientEndpoint{URL: v, From: name}
		}
	}
	for _, src := range ac.ConfigSources {
		sc, ok := src.(awsconfig.SharedConfig)
		if !ok {
			continue
		}
		if v, found, err := sc.GetServiceBaseEndpoint(ctx, service); err == nil && found && v != "" {
			return clientEndpoint{URL: v, From: fmt.Sprintf("the %s endpoint_url in the services section of AWS profile %q", strings.ToLower(service), sc.Profile)}
		}
		if sc.BaseEndpoint != "" {
			return clientEndpoint{URL: sc.BaseEndpoint, From: fmt.Sprintf("the endpoint_url of AWS profile %q", sc.Profile)}
		}
	}
	return clientEndpoint{}
}

// regionOf is the value of a region key, locks.region or backend.region.
func regionOf(cfg *config.Resolved, key string) string {
	if key == "locks.region" {
		return cfg.Locks.Region
	}
	return cfg.Backend.Region
}

// checkSDKEndpoint refuses, as backend.endpoint and locks.endpoint are
// refused where they are set, the SDK's endpoint variable a client uses
// while its key (configured) is unset: serviceEnv, else AWS_ENDPOINT_URL.
// One without http:// failed on the first request as the SDK's "endpoint
// rule error", and one with a path (AWS_ENDPOINT_URL_S3=http://host/state)
// as "bucket does not exist", whose fix, backend create, made the wrong
// bucket. Checked when the client is made, not with the configuration: a
// variable set for other tools must not stop commands on the local backend.
func (f *Factory) checkSDKEndpoint(configured, serviceEnv string) error {
	if configured != "" || strings.EqualFold(f.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		return nil
	}
	for _, name := range []string{serviceEnv, "AWS_ENDPOINT_URL"} {
		if v := f.Getenv(name); v != "" {
			if err := config.CheckEndpoint(v); err != nil {
				return fmt.Errorf("environment variable %s: %w", name, err)
			}
			return nil
		}
	}
	return nil
}

// endpointCheck is what to check when a server does not answer: the
// setting that chose its endpoint (ep, endpointOf), the AWS profile's
// endpoint_url included; with none, AWS itself, the network and
// regionKey. Naming backend.region for a server set with
// AWS_ENDPOINT_URL_S3 sent the reader to the wrong setting.
func endpointCheck(ep clientEndpoint, regionKey string) string {
	if ep.From != "" {
		return "that the server runs and " + ep.From + " is its address"
	}
	return "the network and " + regionKey
}

// S3Client returns an S3 client for the state bucket: region backend.region,
// endpoint backend.endpoint (or AWS_ENDPOINT_URL_S3), path-style addressing
// when backend.usePathStyle is set, and also by default whenever a custom
// endpoint is in use (S3-compatible servers rarely support virtual hosts).
func (f *Factory) S3Client(ctx context.Context, cfg *config.Resolved) (*s3.Client, error) {
	if err := f.checkSDKEndpoint(cfg.Backend.Endpoint, "AWS_ENDPOINT_URL_S3"); err != nil {
		return nil, err
	}
	ac, err := f.AWSConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Backend.Region != "" {
		ac.Region = cfg.Backend.Region
	}
	if ac.Region == "" {
		return nil, fmt.Errorf("no AWS region for the state bucket: set backend.region (PANKA_BACKEND_REGION or --backend-region), aws.region, or AWS_REGION")
	}
	ep := f.endpointOf(ctx, cfg, ac, "backend.endpoint", "S3")
	if err := f.checkRegion(cfg, ac.Region, "backend.region", ep.URL != "",
		"backend.endpoint if the bucket is on an S3-compatible server"); err != nil {
		return nil, err
	}
	return s3store.NewClient(ac, s3store.ClientOptions{Endpoint: cfg.Backend.Endpoint, UsePathStyle: s3PathStyle(cfg, ep),
		OnRetry:    f.retryNotice("the state bucket's server", endpointCheck(ep, "backend.region")),
		APIOptions: []func(*middleware.Stack) error{s3store.NoteEndpoint(ep.From)}}), nil
}

// s3PathStyle is the S3 addressing of the state bucket, for panka's client
// and for Pulumi's DIY backend alike: backend.usePathStyle when set, else
// path-style whenever the bucket's endpoint (ep, endpointOf) is a custom
// one, the AWS profile's endpoint_url included.
func s3PathStyle(cfg *config.Resolved, ep clientEndpoint) bool {
	if src := cfg.Sources["backend.usePathStyle"]; src.Layer == "default" && ep.URL != "" {
		return true
	}
	return cfg.Backend.UsePathStyle
}

// DynamoDBClient returns a DynamoDB client for the lock table: region
// locks.region (which defaults to backend.region), endpoint locks.endpoint
// (or AWS_ENDPOINT_URL_DYNAMODB).
func (f *Factory) DynamoDBClient(ctx context.Context, cfg *config.Resolved) (*dynamodb.Client, error) {
	if err := f.checkSDKEndpoint(cfg.Locks.Endpoint, "AWS_ENDPOINT_URL_DYNAMODB"); err != nil {
		return nil, err
	}
	ac, err := f.AWSConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Locks.Region != "" {
		ac.Region = cfg.Locks.Region
	}
	if ac.Region == "" {
		return nil, fmt.Errorf("no AWS region for the lock table: set locks.region or backend.region (PANKA_LOCKS_REGION, PANKA_BACKEND_REGION), aws.region, or AWS_REGION")
	}
	ep := f.endpointOf(ctx, cfg, ac, "locks.endpoint", "DynamoDB")
	if err := f.checkRegion(cfg, ac.Region, "locks.region", ep.URL != "",
		"locks.endpoint if the table is on a DynamoDB-compatible server"); err != nil {
		return nil, err
	}
	hint, note := endpointCheck(ep, "locks.region"), ""
	if ep.URL == "" && cfg.Backend.Type == "s3" {
		// State on an S3-compatible server, the table at AWS: most often
		// a DynamoDB-compatible server beside it and locks.endpoint
		// forgotten (backend.endpoint is not used for the table), which
		// "check the network and locks.region" did not say.
		if s3ep := f.endpointOf(ctx, cfg, ac, "backend.endpoint", "S3"); s3ep.URL != "" {
			note = fmt.Sprintf("the state bucket is on a custom endpoint (%s), the lock table is not: if the table is on a DynamoDB-compatible server, set locks.endpoint (PANKA_LOCKS_ENDPOINT) to its address", s3ep.From)
			hint += "; " + note
		}
	}
	return dynamodb.NewFromConfig(ac, func(o *dynamodb.Options) {
		if cfg.Locks.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Locks.Endpoint)
		}
		o.APIOptions = append(o.APIOptions, s3store.NoteEndpointWith(ep.From, note))
		o.Retryer = s3store.NotifyRetries(s3store.NewRetryer(0), f.retryNotice("the lock table's server", hint))
	}), nil
}

// retryNotice returns what an AWS client calls before it retries a request
// that timed out: a warning naming the server (what, e.g. "the lock
// table's server"), the attempt and what to check, so that a server that
// accepts connections and never answers is not minutes of silence before
// the error.
func (f *Factory) retryNotice(what, check string) func(s3store.RetryNotice) {
	return func(n s3store.RetryNotice) {
		where := what
		if n.Endpoint != "" {
			where = fmt.Sprintf("%s (%s)", what, n.Endpoint)
		}
		retry := "retrying"
		if n.Delay >= time.Second {
			retry += " in " + n.Delay.Round(time.Second).String()
		}
		f.Warnf("%s did not answer in time (%s); %s, attempt %d of %d. Check %s; Ctrl-C stops.",
			where, n.Reason, retry, n.Attempt+1, n.MaxAttempts, check)
	}
}
