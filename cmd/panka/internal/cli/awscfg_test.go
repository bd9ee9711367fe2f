package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"

	"panka.dev/panka/cmd/panka/internal/config"

	"panka.dev/panka/statestore"
	"panka.dev/panka/statestore/testserver"
)

// TestAWSConfigAssumeRole checks aws.assumeRole goes through STS with the
// configured role, session name and external id, on top of the standard
// credential chain (static keys from the environment here).
func TestAWSConfigAssumeRole(t *testing.T) {
	var calls atomic.Int64
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		for k, want := range map[string]string{"Action": "AssumeRole", "RoleArn": "arn:aws:iam::123456789012:role/deployer", "RoleSessionName": "ci-run", "ExternalId": "ext-1"} {
			if got := r.Form.Get(k); got != want {
				t.Errorf("STS %s = %q, want %q", k, got, want)
			}
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/deployer/ci-run</Arn><AssumedRoleId>AROA:ci-run</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`))
	}))
	defer sts.Close()
	home := t.TempDir()
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "AKIABASE", "AWS_SECRET_ACCESS_KEY": "base", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(home, "c"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "cr"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_STS": sts.URL, "AWS_ENDPOINT_URL": ""} {
		t.Setenv(k, v)
	}
	ios, _, _, _ := Test()
	f := NewFactory(ios)
	cfg := &config.Resolved{Config: config.Default()}
	cfg.AWS.Region = "eu-west-1"
	cfg.AWS.AssumeRole = config.AssumeRole{RoleArn: "arn:aws:iam::123456789012:role/deployer", SessionName: "ci-run", ExternalID: "ext-1"}
	ac, err := f.AWSConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ac.Region != "eu-west-1" {
		t.Errorf("region %q, want eu-west-1 from aws.region", ac.Region)
	}
	creds, err := ac.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatalf("retrieve assumed-role credentials: %v", err)
	}
	if creds.AccessKeyID != "ASIAASSUMED" || creds.SessionToken != "tok" || calls.Load() != 1 {
		t.Fatalf("credentials %+v after %d STS calls; want the assumed role's", creds, calls.Load())
	}

	// Without assumeRole: the chain's own credentials; a missing region is
	// a clear error for the S3 client.
	cfg.AWS.AssumeRole = config.AssumeRole{}
	cfg.AWS.Region = ""
	ac, err = f.AWSConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := ac.Credentials.Retrieve(context.Background()); c.AccessKeyID != "AKIABASE" {
		t.Fatalf("base credentials %q, want AKIABASE", c.AccessKeyID)
	}
	cfg.Sources = map[string]config.Source{}
	if _, err := f.S3Client(context.Background(), cfg); err == nil {
		t.Fatal("S3Client without any region succeeded")
	}
}

func TestSanitizeSession(t *testing.T) {
	for in, want := range map[string]string{"host.example.com": "host.example.com", "bad host/name!": "badhostname", "": ""} {
		if got := sanitizeSession(in); got != want {
			t.Errorf("sanitizeSession(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAWSClientsDoNotHangOnASilentEndpoint: an endpoint that accepts
// connections but never answers (a wedged server, a wrong port behind a
// proxy) fails after bounded, retried waits instead of hanging the command.
func TestAWSClientsDoNotHangOnASilentEndpoint(t *testing.T) {
	endpoint := testserver.SilentEndpoint(t)
	home := t.TempDir()
	fakeAWSEnv(t, home)
	ios, _, _, errOut := Test()
	f := NewFactory(ios)
	f.AWSResponseTimeout = 100 * time.Millisecond
	cfg := &config.Resolved{Config: config.Default(), Sources: map[string]config.Source{}}
	cfg.Backend.Region, cfg.Backend.Endpoint, cfg.Backend.UsePathStyle = "us-east-1", endpoint, true
	cfg.Locks.Region, cfg.Locks.Endpoint = "us-east-1", endpoint
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // the hang this test guards against
	defer cancel()

	s3c, err := f.S3Client(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("state")})
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("S3 call to a silent endpoint after %s: %v (ctx %v), want a timeout error", time.Since(start), err, ctx.Err())
	}
	// Each retry says so at once, instead of minutes of silence.
	for i := 2; i <= 6; i++ {
		want := fmt.Sprintf("Warning: the state bucket's server (%s) did not answer in time (net/http: timeout awaiting response headers); retrying", endpoint)
		want2 := fmt.Sprintf(", attempt %d of 6. Check that the server runs and backend.endpoint is its address; Ctrl-C stops.\n", i)
		if !strings.Contains(errOut.String(), want) || !strings.Contains(errOut.String(), want2) {
			t.Fatalf("stderr does not tell of the retry (attempt %d):\n%s", i, errOut.String())
		}
	}
	errOut.Reset()
	ddb, err := f.DynamoDBClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("locks"), Key: map[string]ddbtypes.AttributeValue{"lockKey": &ddbtypes.AttributeValueMemberS{Value: "k"}}})
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("DynamoDB call to a silent endpoint: %v (ctx %v), want a timeout error", err, ctx.Err())
	}
	if want := fmt.Sprintf("Warning: the lock table's server (%s) did not answer in time", endpoint); !strings.Contains(errOut.String(), want) ||
		!strings.Contains(errOut.String(), "attempt 6 of 6. Check that the server runs and locks.endpoint is its address") {
		t.Fatalf("stderr does not tell of the DynamoDB retries:\n%s", errOut.String())
	}
	// A server that answers is not reported, even when it fails.
	errOut.Reset()
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer busy.Close()
	cfg.Backend.Endpoint = busy.URL
	if s3c, err = f.S3Client(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err = s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("state")}); err == nil {
		t.Fatal("HeadBucket on a server that answers 503 succeeded")
	}
	if errOut.Len() != 0 {
		t.Fatalf("retries of answers (503) were reported:\n%s", errOut.String())
	}
	// Nor is a refused connection: it fails fast, and its error says so.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	cfg.Backend.Endpoint = closed.URL
	if s3c, err = f.S3Client(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err = s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("state")}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("HeadBucket on a closed port: %v, want connection refused", err)
	}
	if errOut.Len() != 0 {
		t.Fatalf("retries of a refused connection were reported:\n%s", errOut.String())
	}
}

// TestStateReadDoesNotHangOnAStalledAnswer: a server that sends the
// headers of an answer and then stops sending its body (the response
// timeout ends with the headers) hung the read of state.json for ever; the
// request timeout ends it, and the error says which object and what to
// check.
func TestStateReadDoesNotHangOnAStalledAnswer(t *testing.T) {
	home := t.TempDir()
	fakeAWSEnv(t, home)
	stalled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"abc"`)
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"schemaVersion":1,`))
		w.(http.Flusher).Flush()
		<-stalled
	}))
	defer srv.Close()
	defer close(stalled)
	ios, _, _, _ := Test()
	f := NewFactory(ios)
	f.AWSRequestTimeout = 500 * time.Millisecond
	cfg := &config.Resolved{Config: config.Default(), Sources: map[string]config.Source{}}
	cfg.Backend.Type, cfg.Backend.Bucket, cfg.Backend.Region, cfg.Backend.Endpoint, cfg.Backend.UsePathStyle = "s3", "team-state", "us-east-1", srv.URL, true
	s, err := f.Store(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // the hang this test guards against
	defer cancel()
	_, _, err = s.Get(ctx, statestore.Key{Stack: "shop", Environment: "dev"})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Get of a stalled answer: %v (ctx %v), want an error before the test's deadline", err, ctx.Err())
	}
	for _, want := range []string{"read s3://team-state/stacks/shop/dev/state.json: the S3 server stopped sending it partway",
		"it answered, so the endpoint is right, but then sent nothing more within the request timeout; re-run"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "check backend.endpoint") {
		t.Errorf("error %q sends the user to the endpoint of a server that answered", err)
	}
}

// TestAWSConfigLogger: the SDK's own notes ("WARN falling back to IMDSv1")
// are panka debug logs, never raw lines on stderr.
func TestAWSConfigLogger(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ios, _, _, errOut := Test()
	f := NewFactory(ios)
	f.setupLogging()
	ac, err := f.AWSConfig(context.Background(), &config.Resolved{Config: config.Default()})
	if err != nil {
		t.Fatal(err)
	}
	ac.Logger.Logf(logging.Warn, "falling back to IMDSv1: %s", "x")
	if errOut.Len() != 0 {
		t.Errorf("SDK log reached stderr without -v: %q", errOut)
	}
	f.Flags.Verbose = 1
	f.setupLogging()
	ac.Logger.Logf(logging.Warn, "falling back to IMDSv1: %s", "x")
	if got := errOut.String(); !strings.Contains(got, "falling back to IMDSv1: x") || !strings.Contains(got, "aws-sdk") || strings.HasPrefix(got, "SDK ") {
		t.Errorf("with -v the SDK note is a panka log line; stderr %q", got)
	}
}

// fakeAWSEnv gives the AWS SDK, which reads the process's environment,
// static test credentials and config files under home that do not exist:
// no profile, no instance metadata, no endpoint from the machine's own
// set-up.
func fakeAWSEnv(t *testing.T, home string) {
	t.Helper()
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "AKIATEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(home, "c"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "cr"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": ""} {
		t.Setenv(k, v)
	}
}

// TestSilentEndpointSetBySDKVariable: a server named with the SDK's own
// AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL) that
// does not answer is reported with that variable to check, not "the
// network and backend.region", which sent the reader to a setting that
// plays no part.
func TestSilentEndpointSetBySDKVariable(t *testing.T) {
	endpoint := testserver.SilentEndpoint(t)
	home := t.TempDir()
	fakeAWSEnv(t, home)
	t.Setenv("AWS_ENDPOINT_URL_S3", endpoint)
	ios, _, _, errOut := Test()
	f := NewFactory(ios)
	f.AWSResponseTimeout = 100 * time.Millisecond
	cfg := &config.Resolved{Config: config.Default(), Sources: map[string]config.Source{}}
	cfg.Backend.Region, cfg.Locks.Region = "us-east-1", "us-east-1"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // the hang this test guards against
	defer cancel()
	s3c, err := f.S3Client(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("state")}); err == nil || ctx.Err() != nil {
		t.Fatalf("S3 call to a silent endpoint: %v (ctx %v), want a timeout error", err, ctx.Err())
	}
	want := fmt.Sprintf("Warning: the state bucket's server (%s) did not answer in time (net/http: timeout awaiting response headers); retrying", endpoint)
	if got := errOut.String(); !strings.Contains(got, want) || !strings.Contains(got, "attempt 2 of 6. Check that the server runs and AWS_ENDPOINT_URL_S3 is its address; Ctrl-C stops.\n") ||
		strings.Contains(got, "backend.region") {
		t.Fatalf("the retries do not name AWS_ENDPOINT_URL_S3:\n%s", got)
	}

	profiles := "[profile minio]\nendpoint_url = http://d:1\n\n[profile sections]\nservices = local\n\n[services local]\ndynamodb =\n  endpoint_url = http://e:1\n"
	if err := os.WriteFile(filepath.Join(home, "c"), []byte(profiles), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                     string
		configured, service, all string
		profile                  string
		want                     string
	}{
		{"nothing set: AWS", "", "", "", "", "the network and locks.region"},
		{"the key", "http://a:1", "http://b:1", "http://c:1", "minio", "that the server runs and locks.endpoint (set by env (PANKA_LOCKS_ENDPOINT)) is its address"},
		{"the service's variable", "", "http://b:1", "http://c:1", "minio", "that the server runs and AWS_ENDPOINT_URL_DYNAMODB is its address"},
		{"every service's variable", "", "", "http://c:1", "minio", "that the server runs and AWS_ENDPOINT_URL is its address"},
		{"the profile's", "", "", "", "minio", `that the server runs and the endpoint_url of AWS profile "minio" is its address`},
		{"the profile's services section", "", "", "", "sections", `that the server runs and the dynamodb endpoint_url in the services section of AWS profile "sections" is its address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", tc.service)
			t.Setenv("AWS_ENDPOINT_URL", tc.all)
			t.Setenv("AWS_PROFILE", tc.profile)
			cfg := &config.Resolved{Config: config.Default(), Sources: map[string]config.Source{}}
			if tc.configured != "" {
				cfg.Locks.Endpoint = tc.configured
				cfg.Sources["locks.endpoint"] = config.Source{Layer: "env", Where: "PANKA_LOCKS_ENDPOINT"}
			}
			ac, err := f.AWSConfig(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := endpointCheck(f.endpointOf(context.Background(), cfg, ac, "locks.endpoint", "DynamoDB"), "locks.region"); got != tc.want {
				t.Errorf("endpointCheck = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestClientRegionChecked: a region AWS does not have (mars, eu-west1,
// EU-WEST-1) is refused before any request when the client talks to AWS,
// naming the setting it came from; its requests failed as an unknown host
// with "check backend.endpoint", a setting nobody had set. A custom
// endpoint takes any region name the SDK does (auto for R2), and a name
// the SDK refuses from AWS_REGION is said as such.
func TestClientRegionChecked(t *testing.T) {
	home := t.TempDir()
	fakeAWSEnv(t, home)
	file := filepath.Join(home, "panka.yaml")
	if err := os.WriteFile(file, []byte("aws:\n  region: eu-west1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	profiles := "[profile r2]\nregion = auto\nendpoint_url = http://127.0.0.1:1\n\n" +
		"[profile minio]\nregion = garage\nservices = local\n\n[services local]\ns3 =\n  endpoint_url = http://127.0.0.1:1\ndynamodb =\n  endpoint_url = http://127.0.0.1:1\n"
	if err := os.WriteFile(filepath.Join(home, "c"), []byte(profiles), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		repoFile  string
		env       []string
		endpoints bool
		wantS3    string
		wantDDB   string
	}{
		{name: "AWS region", env: []string{"PANKA_BACKEND_REGION=eu-west-1"}},
		{name: "pseudo-regions", env: []string{"PANKA_BACKEND_REGION=us-gov-west-1-fips", "PANKA_LOCKS_REGION=aws-global"}},
		// Every partition of the SDK: the European Sovereign Cloud's
		// eusc-de-east-1 was refused as "not an AWS region".
		{name: "partitions' regions", env: []string{"PANKA_BACKEND_REGION=eusc-de-east-1", "PANKA_LOCKS_REGION=us-gov-west-1"}},
		{name: "newer regions", env: []string{"PANKA_BACKEND_REGION=ap-southeast-5", "PANKA_LOCKS_REGION=mx-central-1"}},
		{name: "China and ISO regions", env: []string{"PANKA_BACKEND_REGION=cn-north-1", "PANKA_LOCKS_REGION=us-isof-south-1"}},
		{name: "not an AWS region", env: []string{"PANKA_BACKEND_REGION=mars"},
			wantS3:  `backend.region "mars" (set by env (PANKA_BACKEND_REGION)) is not an AWS region such as us-east-1: fix it, or set backend.endpoint if the bucket is on an S3-compatible server`,
			wantDDB: `backend.region "mars" (set by env (PANKA_BACKEND_REGION)) is not an AWS region such as us-east-1: fix it, or set locks.endpoint if the table is on a DynamoDB-compatible server`},
		{name: "from aws.region in a file", repoFile: file,
			wantS3:  `aws.region "eu-west1" (set by repo (` + file + `:2)) is not an AWS region such as us-east-1`,
			wantDDB: `aws.region "eu-west1" (set by repo (` + file + `:2)) is not an AWS region such as us-east-1`},
		{name: "upper case", env: []string{"PANKA_LOCKS_REGION=EU-WEST-1", "PANKA_BACKEND_REGION=eu-west-1"},
			wantDDB: `locks.region "EU-WEST-1" (set by env (PANKA_LOCKS_REGION)) is not an AWS region such as us-east-1`},
		{name: "an S3-compatible server's", env: []string{"PANKA_BACKEND_REGION=auto"}, endpoints: true},
		// The server named by endpoint_url in the AWS profile, as for
		// Cloudflare R2 (region auto): refused as "not an AWS region".
		{name: "a profile's endpoint_url", env: []string{"AWS_PROFILE=r2"}},
		{name: "a profile's services section", env: []string{"AWS_PROFILE=minio"}},
		{name: "a profile's endpoint ignored", env: []string{"AWS_PROFILE=r2", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true"},
			wantS3: `the AWS region "auto" (from the region of the AWS profile in ~/.aws/config) is not an AWS region such as us-east-1`},
		{name: "AWS_REGION", env: []string{"AWS_REGION=mars"},
			wantS3: `the AWS region "mars" (from AWS_REGION) is not an AWS region such as us-east-1`},
		{name: "AWS_REGION with a space", env: []string{"AWS_REGION=us-east-1 "}, endpoints: true,
			wantS3: `the AWS region "us-east-1 " (from AWS_REGION) is not a region name: letters, digits and hyphens, e.g. us-east-1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", "")
			t.Setenv("AWS_DEFAULT_REGION", "")
			t.Setenv("AWS_PROFILE", "")
			t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "")
			env := tc.env
			if tc.endpoints {
				env = append(env, "PANKA_BACKEND_ENDPOINT=http://127.0.0.1:1", "PANKA_LOCKS_ENDPOINT=http://127.0.0.1:1")
			}
			for _, kv := range env {
				if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
					t.Setenv(k, v)
				}
			}
			cfg, err := config.Resolve(config.Layers{RepoFile: tc.repoFile, Env: env})
			if err != nil {
				t.Fatal(err)
			}
			ios, _, _, _ := Test()
			f := NewFactory(ios)
			_, err = f.S3Client(context.Background(), cfg)
			if tc.wantS3 == "" && err != nil || tc.wantS3 != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantS3)) {
				t.Errorf("S3Client: %v, want %q", err, tc.wantS3)
			}
			want := tc.wantDDB
			if want == "" && strings.HasPrefix(tc.wantS3, "the AWS region") {
				want = tc.wantS3 // the SDK's region serves both
			}
			_, err = f.DynamoDBClient(context.Background(), cfg)
			if want == "" && err != nil || want != "" && (err == nil || !strings.HasPrefix(err.Error(), want)) {
				t.Errorf("DynamoDBClient: %v, want %q", err, want)
			}
		})
	}
}

// TestAWSProfileMissing: an AWS profile no shared config file has is an
// error naming it, where it was set (aws.profile and its source,
// AWS_PROFILE, another profile's source_profile) and the files read, not
// the SDK's "failed to get shared config profile, nope".
func TestAWSProfileMissing(t *testing.T) {
	home := t.TempDir()
	fakeAWSEnv(t, home)
	cfgFile := filepath.Join(home, "c")
	if err := os.WriteFile(cfgFile, []byte("[profile chain]\nsource_profile = gone\nrole_arn = arn:aws:iam::123456789012:role/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := "(" + cfgFile + ", " + filepath.Join(home, "cr") + ")"
	for _, tc := range []struct {
		name   string
		env    []string
		awsEnv string
		want   string
	}{
		{name: "AWS_PROFILE", awsEnv: "nope",
			want: `AWS profile "nope" (AWS_PROFILE) is in none of the AWS shared config files ` + files + ": fix the name (`aws configure list-profiles` lists them), or add the profile (`aws configure --profile nope`)"},
		{name: "aws.profile", env: []string{"PANKA_AWS_PROFILE=nope"}, awsEnv: "chain",
			want: `AWS profile "nope" (aws.profile, set by env (PANKA_AWS_PROFILE)) is in none of the AWS shared config files ` + files},
		{name: "source_profile", awsEnv: "chain",
			want: `AWS profile "gone" (the source_profile of profile "chain") is in none of the AWS shared config files ` + files},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_PROFILE", tc.awsEnv)
			cfg, err := config.Resolve(config.Layers{Env: append(tc.env, "PANKA_AWS_REGION=eu-west-1")})
			if err != nil {
				t.Fatal(err)
			}
			ios, _, _, _ := Test()
			_, err = NewFactory(ios).AWSConfig(context.Background(), cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("AWSConfig: %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestSDKEndpointVariablesChecked: the SDK's AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL are refused as
// backend.endpoint and locks.endpoint are, naming the variable: with a
// path the state server read its first segment as the bucket ("bucket
// does not exist"), and without http:// the SDK failed with its "endpoint
// rule error". A variable a client does not use (its key is set, or
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) is not checked.
func TestSDKEndpointVariablesChecked(t *testing.T) {
	home := t.TempDir()
	fakeAWSEnv(t, home)
	for _, tc := range []struct {
		name            string
		env             map[string]string
		configured      string
		wantS3, wantDDB string
	}{
		{name: "S3 with a path", env: map[string]string{"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:7070/state"},
			wantS3: `environment variable AWS_ENDPOINT_URL_S3: "http://127.0.0.1:7070/state" has a path (/state): give only the server's scheme, host and port, e.g. http://127.0.0.1:7070 (the bucket is backend.bucket, the table locks.table)`},
		{name: "DynamoDB without a scheme", env: map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": "127.0.0.1:8000"},
			wantDDB: `environment variable AWS_ENDPOINT_URL_DYNAMODB: "127.0.0.1:8000" is not an http:// or https:// URL with a host, e.g. http://127.0.0.1:7070`},
		{name: "every service's", env: map[string]string{"AWS_ENDPOINT_URL": "localhost:4566"},
			wantS3:  `environment variable AWS_ENDPOINT_URL: "localhost:4566" is not an http:// or https:// URL with a host`,
			wantDDB: `environment variable AWS_ENDPOINT_URL: "localhost:4566" is not an http:// or https:// URL with a host`},
		{name: "the service's own wins", env: map[string]string{"AWS_ENDPOINT_URL": "localhost:4566", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:7070"},
			wantDDB: `environment variable AWS_ENDPOINT_URL: "localhost:4566"`},
		{name: "keys set", env: map[string]string{"AWS_ENDPOINT_URL": "localhost:4566", "AWS_ENDPOINT_URL_S3": "x"}, configured: "http://127.0.0.1:7070"},
		{name: "ignored", env: map[string]string{"AWS_ENDPOINT_URL": "localhost:4566", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}},
		{name: "good ones", env: map[string]string{"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:7070/", "AWS_ENDPOINT_URL_DYNAMODB": "https://ddb.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"} {
				t.Setenv(k, tc.env[k])
			}
			cfg := &config.Resolved{Config: config.Default(), Sources: map[string]config.Source{}}
			cfg.Backend.Region, cfg.Locks.Region = "us-east-1", "us-east-1"
			cfg.Backend.Endpoint, cfg.Locks.Endpoint = tc.configured, tc.configured
			ios, _, _, _ := Test()
			f := NewFactory(ios)
			_, err := f.S3Client(context.Background(), cfg)
			if tc.wantS3 == "" && err != nil || tc.wantS3 != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantS3)) {
				t.Errorf("S3Client: %v, want %q", err, tc.wantS3)
			}
			_, err = f.DynamoDBClient(context.Background(), cfg)
			if tc.wantDDB == "" && err != nil || tc.wantDDB != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantDDB)) {
				t.Errorf("DynamoDBClient: %v, want %q", err, tc.wantDDB)
			}
		})
	}
}

// TestLockTableAtAWSBesideACustomStateEndpoint: a platform engineer puts
// the state on an S3-compatible server (backend.endpoint) and the lock
// table on a DynamoDB-compatible one beside it, and forgets locks.endpoint:
// backend.endpoint is not the table's, so its requests went to AWS, and
// the error said only "no custom endpoint is set ... check the network and
// locks.region". It now says that the state's endpoint is a custom one and
// to set locks.endpoint. (HTTPS_PROXY at a closed port stands for AWS out
// of reach, without a DNS lookup.) With no custom state endpoint, nothing
// is added.
func TestLockTableAtAWSBesideACustomStateEndpoint(t *testing.T) {
	home := t.TempDir()
	fakeAWSEnv(t, home)
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	t.Setenv("NO_PROXY", "")
	for _, tc := range []struct {
		name, endpoint string
		want           string
	}{
		{"custom state endpoint", "http://127.0.0.1:9",
			"no custom endpoint is set, so this is AWS's own: check the network (DNS, a proxy in HTTPS_PROXY) and locks.region; " +
				"the state bucket is on a custom endpoint (backend.endpoint (set by repo (panka.yaml:4))), the lock table is not: " +
				"if the table is on a DynamoDB-compatible server, set locks.endpoint (PANKA_LOCKS_ENDPOINT) to its address"},
		{"state at AWS too", "", "no custom endpoint is set, so this is AWS's own: check the network (DNS, a proxy in HTTPS_PROXY) and locks.region"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, _, _, _ := Test()
			f := NewFactory(ios)
			cfg := &config.Resolved{Config: config.Default(), Sources: map[string]config.Source{}}
			cfg.Backend.Type, cfg.Backend.Bucket, cfg.Backend.Region, cfg.Backend.Endpoint = "s3", "team-state", "us-east-1", tc.endpoint
			cfg.Sources["backend.endpoint"] = config.Source{Layer: "repo", Where: "panka.yaml:4"}
			cfg.Locks.Type, cfg.Locks.Table, cfg.Locks.Region = "dynamodb", "team-locks", "us-east-1"
			l, err := f.Locker(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.List(context.Background())
			if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
				t.Fatalf("list locks with the table at AWS, out of reach: %v\nwant it to end with %s", err, tc.want)
			}
		})
	}
}
