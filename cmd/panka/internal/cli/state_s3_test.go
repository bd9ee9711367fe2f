package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"panka.dev/panka/statestore"
	s3store "panka.dev/panka/statestore/s3"
	"panka.dev/panka/statestore/testserver"
)

// stEnv is the environment of an in-process panka run against the test
// servers: credentials for the SDK go into the process environment (the SDK
// reads it directly); panka's own settings into the Factory's Environ.
type stEnv struct {
	t      *testing.T
	dir    string // repository root
	bucket string
	srv    testserver.S3Server
	env    []string
}

func newSTEnv(t *testing.T) *stEnv {
	t.Helper()
	srv := testserver.S3(t)
	e := &stEnv{t: t, dir: t.TempDir(), bucket: testserver.NewBucket(t), srv: srv}
	if err := os.Mkdir(filepath.Join(e.dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.awsEnv(srv.AccessKey, srv.SecretKey)
	e.env = []string{"PANKA_BACKEND_TYPE=s3", "PANKA_BACKEND_BUCKET=" + e.bucket, "PANKA_BACKEND_ENDPOINT=" + srv.Endpoint,
		"PANKA_BACKEND_REGION=" + srv.Region}
	return e
}

func (e *stEnv) awsEnv(ak, sk string) {
	home := filepath.Join(e.dir, "home")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": ak, "AWS_SECRET_ACCESS_KEY": sk, "AWS_REGION": e.srv.Region,
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": filepath.Join(home, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "aws-credentials"), "AWS_PROFILE": "",
		"AWS_SESSION_TOKEN": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "", "AWS_ENDPOINT_URL_DYNAMODB": "",
	} {
		e.t.Setenv(k, v)
	}
}

// run runs panka in-process and returns stdout, stderr and the exit code.
func (e *stEnv) run(extraEnv []string, args ...string) (string, string, int) {
	e.t.Helper()
	ios, _, out, errOut := Test()
	f := NewFactory(ios)
	env := append(append([]string{"HOME=" + filepath.Join(e.dir, "home"), "NO_COLOR=1"}, e.env...), extraEnv...)
	f.Environ = func() []string { return env }
	f.Getwd = func() (string, error) { return e.dir, nil }
	f.Home = func() (string, error) { return filepath.Join(e.dir, "home"), nil }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := Run(ctx, f, args)
	return out.String(), errOut.String(), code
}

func (e *stEnv) ok(extraEnv []string, args ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(extraEnv, args...)
	if code != 0 {
		e.t.Fatalf("panka %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (e *stEnv) fail(extraEnv []string, args ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(extraEnv, args...)
	if code == 0 {
		e.t.Fatalf("panka %s succeeded, want a failure\nstdout:\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

func (e *stEnv) writeFile(name, data string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func stContains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

const stStateDoc = `{"schemaVersion": 1, "serial": 2, "stack": "orders", "environment": "dev", "status": "deployed",
 "lastDeployment": {"schemaVersion": 1, "id": "d2", "serial": 2, "stack": "orders", "environment": "dev", "operation": "apply",
  "commit": "abcdef0123456789abcdef0123456789abcdef01", "user": "dev", "host": "h", "pankaVersion": "t",
  "startedAt": "2026-01-02T03:04:05Z", "endedAt": "2026-01-02T03:05:05Z", "result": "succeeded"},
 "resources": {"components": 0, "resources": 0}, "updatedAt": "2026-01-02T03:05:05Z"}`

// TestStateCommandsS3 runs the state commands against versitygw.
func TestStateCommandsS3(t *testing.T) {
	e := newSTEnv(t)
	if out := e.ok(nil, "state", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("state list of an empty bucket: %s", out)
	}
	file := e.writeFile("orders-dev.json", stStateDoc)
	out := e.ok(nil, "state", "push", file)
	stContains(t, "push", out, "orders/dev as serial 3 to s3://"+e.bucket+"/")

	// The object is where SPEC §5 says.
	c := testserver.S3Client(t)
	if _, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("stacks/orders/dev/state.json")}); err != nil {
		t.Fatalf("state.json not at stacks/orders/dev/state.json: %v", err)
	}
	out = e.ok(nil, "state", "list")
	stContains(t, "state list", out, "STACK", "orders", "dev", "3", "abcdef0", "deployed")
	out = e.ok(nil, "state", "show", "-s", "orders", "-e", "dev")
	stContains(t, "state show", out, "Serial:       3", "Backend:      s3://"+e.bucket+"/")
	pulled := e.ok(nil, "state", "pull", "-s", "orders", "-e", "dev")
	var st struct {
		Serial int64 `json:"serial"`
	}
	if err := json.Unmarshal([]byte(pulled), &st); err != nil || st.Serial != 3 {
		t.Fatalf("state pull: serial %d, %v:\n%s", st.Serial, err, pulled)
	}
	errOut := e.fail(nil, "state", "push", file)
	stContains(t, "stale push", errOut, "has serial 2 but the stored state of orders/dev is at serial 3")

	// Prefixes: another prefix sees nothing; its own push lands under it.
	teamA := []string{"PANKA_BACKEND_PREFIX=team-a"}
	if out := e.ok(teamA, "state", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("team-a lists the unprefixed state: %s", out)
	}
	e.ok(teamA, "state", "push", file)
	if _, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("team-a/stacks/orders/dev/state.json")}); err != nil {
		t.Fatalf("team-a state not under its prefix: %v", err)
	}
	out = e.ok([]string{"PANKA_BACKEND_PREFIX=team-b"}, "state", "list")
	if strings.Contains(out, "orders") {
		t.Fatalf("team-b sees other prefixes' state:\n%s", out)
	}

	// History through the CLI (records written by the store, as apply does).
	out = e.ok(nil, "history", "-s", "orders", "-e", "dev")
	if strings.TrimSpace(out) != "" {
		t.Fatalf("history without records printed:\n%s", out)
	}
	store, err := s3store.New(c, s3store.Options{Bucket: e.bucket})
	if err != nil {
		t.Fatal(err)
	}
	key := statestore.Key{Stack: "orders", Environment: "dev"}
	for i := int64(1); i <= 3; i++ {
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		rec := &statestore.Deployment{Serial: i, Operation: statestore.OpApply, Commit: strings.Repeat(string(rune('0'+i)), 40),
			CommitAuthor: "Dev <d@example.com>", User: "ci", StartedAt: at, EndedAt: at, Result: statestore.ResultSucceeded}
		if err := store.AppendHistory(context.Background(), key, rec); err != nil {
			t.Fatal(err)
		}
	}
	out = e.ok(nil, "history", "-s", "orders", "-e", "dev", "--limit", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "3 ") || !strings.HasPrefix(lines[2], "2 ") || !strings.Contains(lines[1], "3333333") {
		t.Fatalf("history --limit 2 against S3:\n%s", out)
	}
	var recs []statestore.Deployment
	if err := json.Unmarshal([]byte(e.ok(nil, "history", "-s", "orders", "-e", "dev", "-o", "json", "-n", "0")), &recs); err != nil || len(recs) != 3 || recs[2].Commit != strings.Repeat("1", 40) {
		t.Fatalf("history -o json against S3: %d records, %v", len(recs), err)
	}

	// A missing bucket and wrong credentials: clear errors naming the bucket.
	errOut = e.fail([]string{"PANKA_BACKEND_BUCKET=panka-no-such-bucket"}, "state", "show", "-s", "orders", "-e", "dev")
	stContains(t, "missing bucket", errOut, `bucket "panka-no-such-bucket" does not exist`, "s3://panka-no-such-bucket/stacks/orders/dev/state.json", "panka backend create")
	e.awsEnv(e.srv.AccessKey, "wrong-secret")
	errOut = e.fail(nil, "state", "show", "-s", "orders", "-e", "dev")
	stContains(t, "wrong secret", errOut, "access denied (SignatureDoesNotMatch)", "s3://"+e.bucket+"/stacks/orders/dev/state.json", "credentials")
	errOut = e.fail(nil, "state", "push", "--force", file)
	stContains(t, "push with a wrong secret", errOut, "SignatureDoesNotMatch", e.bucket)
}

// TestStateS3SDKEndpointEnv checks that AWS_ENDPOINT_URL_S3 works instead of
// backend.endpoint (path-style is implied by a custom endpoint).
func TestStateS3SDKEndpointEnv(t *testing.T) {
	e := newSTEnv(t)
	e.env = []string{"PANKA_BACKEND_TYPE=s3", "PANKA_BACKEND_BUCKET=" + e.bucket}
	t.Setenv("AWS_ENDPOINT_URL_S3", e.srv.Endpoint)
	e.ok(nil, "state", "push", e.writeFile("s.json", stStateDoc))
	stContains(t, "state list", e.ok(nil, "state", "list"), "orders")
}

// TestBackendCreate creates the bucket and lock table on versitygw and
// dynalite, twice (idempotent), and checks what it reports and did.
func TestBackendCreate(t *testing.T) {
	e := newSTEnv(t)
	ddbEndpoint := testserver.DynamoDB(t)
	bucket := testserver.UniqueName("panka-bc-")
	table := testserver.UniqueName("panka-locks-")
	env := []string{"PANKA_LOCKS_ENDPOINT=" + ddbEndpoint}
	args := []string{"backend", "create", "--bucket", bucket, "--table", table, "--region", "us-east-1"}
	out, errOut, code := e.run(env, args...)
	if code != 0 {
		t.Fatalf("backend create: exit %d\n%s\n%s", code, out, errOut)
	}
	stContains(t, "first backend create", out,
		"bucket "+bucket+": bucket created",
		"bucket "+bucket+": versioning enabled",
		"table "+table+": table created (key lockKey (S), on-demand)")
	// versitygw answers NotImplemented for these two: a warning naming the setting.
	for _, setting := range []string{"public-access-block", "encryption"} {
		if !strings.Contains(out, "bucket "+bucket+": "+setting+" enabled") {
			stContains(t, "backend create stderr", errOut, "Warning: bucket "+bucket+": the S3 endpoint does not implement the "+setting+" setting")
		}
	}
	ctx := context.Background()
	v, err := testserver.S3Client(t).GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil || v.Status != "Enabled" {
		t.Fatalf("bucket versioning after backend create: %+v, %v", v, err)
	}
	d, err := testserver.DynamoDBClient(t).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Table.KeySchema) != 1 || aws.ToString(d.Table.KeySchema[0].AttributeName) != "lockKey" {
		t.Fatalf("lock table key schema: %+v", d.Table.KeySchema)
	}
	if d.Table.BillingModeSummary == nil || d.Table.BillingModeSummary.BillingMode != "PAY_PER_REQUEST" {
		t.Fatalf("lock table billing mode: %+v", d.Table.BillingModeSummary)
	}

	if strings.Contains(errOut, "already existed") {
		t.Errorf("a new bucket warned of changed settings:\n%s", errOut)
	}

	// Again: everything exists; settings re-applied; JSON lists actions.
	// Versioning suspended meanwhile (a shared bucket's owner): re-enabling
	// it is said, not done silently.
	if _, err := testserver.S3Client(t).PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusSuspended}}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = e.run(env, append(args, "-o", "json")...)
	if code != 0 {
		t.Fatalf("second backend create: exit %d\n%s\n%s", code, out, errOut)
	}
	stContains(t, "second backend create stderr", errOut, "Warning: bucket "+bucket+" already existed with versioning Suspended: backend create changed it (versioning enabled)")
	var res struct {
		Actions []BackendAction `json:"actions"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("backend create -o json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, a := range res.Actions {
		got[a.Resource+"/"+a.Setting] = a.Result
	}
	if got["bucket/bucket"] != "exists" || got["table/table"] != "exists" || got["bucket/versioning"] != "enabled" {
		t.Fatalf("second backend create: %v", got)
	}
	// Run once more: versioning is on now, nothing to warn of.
	out, errOut, _ = e.run(env, args...)
	if strings.Contains(errOut, "already existed") {
		t.Errorf("third backend create warned though nothing changed:\n%s", errOut)
	}
	// The new bucket works as a backend.
	e.ok([]string{"PANKA_BACKEND_BUCKET=" + bucket}, "state", "push", e.writeFile("s.json", stStateDoc))

	// A table with another key schema is refused, not reused.
	_, err = testserver.DynamoDBClient(t).CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table + "-x"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: "S"}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: "HASH"}},
		BillingMode:          "PAY_PER_REQUEST",
	})
	if err != nil {
		t.Fatal(err)
	}
	errOut = e.fail(env, "backend", "create", "--bucket", bucket, "--table", table+"-x")
	stContains(t, "wrong table", errOut, "Error: table "+table+"-x exists but is keyed by id (partition key), not by lockKey (string) alone as a panka lock table is: it is another tool's table; choose another --table (backend create makes it)")
	// So is one keyed by lockKey and a sort key: its key says which.
	_, err = testserver.DynamoDBClient(t).CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(table + "-r"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("lockKey"), AttributeType: "S"},
			{AttributeName: aws.String("owner"), AttributeType: "S"}},
		KeySchema: []ddbtypes.KeySchemaElement{{AttributeName: aws.String("lockKey"), KeyType: "HASH"},
			{AttributeName: aws.String("owner"), KeyType: "RANGE"}},
		BillingMode: "PAY_PER_REQUEST",
	})
	if err != nil {
		t.Fatal(err)
	}
	errOut = e.fail(env, "backend", "create", "--bucket", bucket, "--table", table+"-r")
	stContains(t, "table with a sort key", errOut, "exists but is keyed by lockKey (partition key), owner (sort key), not by lockKey (string) alone")
	// So is one keyed by lockKey of another type than string: no lock
	// panka writes fits it.
	_, err = testserver.DynamoDBClient(t).CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table + "-n"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("lockKey"), AttributeType: "N"}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("lockKey"), KeyType: "HASH"}},
		BillingMode:          "PAY_PER_REQUEST",
	})
	if err != nil {
		t.Fatal(err)
	}
	errOut = e.fail(env, "backend", "create", "--bucket", bucket, "--table", table+"-n")
	stContains(t, "lockKey of type N", errOut, "exists but its key lockKey is of type N, not S (string)")
	errOut = e.fail([]string{"PANKA_BACKEND_TYPE=local", "PANKA_BACKEND_BUCKET="}, "backend", "create")
	stContains(t, "no bucket", errOut, "--bucket is required (or set backend.bucket), or --table for the lock table alone")
	// The table alone, as a missing table's error says to make it (`panka
	// backend create --table NAME`), where no bucket is configured: the
	// bucket came from --backend-bucket, or the state is local.
	out, errOut, code = e.run(append([]string{"PANKA_BACKEND_TYPE=local", "PANKA_BACKEND_BUCKET="}, env...), "backend", "create", "--table", table+"-alone")
	if code != 0 || out != "table "+table+"-alone: table created (key lockKey (S), on-demand)\n" ||
		!strings.Contains(errOut, "No state bucket named (--bucket, backend.bucket): making the lock table "+table+"-alone alone.") {
		t.Errorf("backend create --table alone: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
}

// TestStateListS3ReadsNotLists: `state list` reads every state anyway, so on
// S3 it does not also list each environment prefix to see whether a
// state.json is there (List's listing per environment): an environment
// with history only, or a deleted (tombstoned) state, is left out when its
// read finds no state, as List leaves them out; a corrupt one is listed as
// unreadable.
func TestStateListS3ReadsNotLists(t *testing.T) {
	e := newSTEnv(t)
	c := testserver.S3Client(t)
	store, err := s3store.New(c, s3store.Options{Bucket: e.bucket})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, stack := range []string{"billing", "orders", "shop"} {
		for _, env := range []string{"dev", "prod"} {
			key := statestore.Key{Stack: stack, Environment: env}
			rec := &statestore.Deployment{SchemaVersion: statestore.SchemaVersion, ID: "d1", Serial: 1, Stack: stack, Environment: env,
				Operation: statestore.OpApply, Commit: strings.Repeat("a", 40), StartedAt: at, EndedAt: at, Result: statestore.ResultSucceeded}
			if err := store.AppendHistory(ctx, key, rec); err != nil {
				t.Fatal(err)
			}
			if key.String() == "shop/prod" {
				continue // history only
			}
			v, err := store.Put(ctx, key, &statestore.State{SchemaVersion: statestore.SchemaVersion, Serial: 1, Stack: stack, Environment: env,
				Status: statestore.StatusDeployed, LastDeployment: rec, UpdatedAt: at}, "")
			if err != nil {
				t.Fatal(err)
			}
			if key.String() == "orders/prod" {
				if err := store.Delete(ctx, key, v); err != nil { // a tombstone
					t.Fatal(err)
				}
			}
		}
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("stacks/shop/dev/state.json"),
		Body: strings.NewReader("{not json")}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	lists := 0
	target, err := url.Parse(e.srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("list-type") {
			mu.Lock()
			lists++
			mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	out, errOut, code := e.run([]string{"PANKA_BACKEND_ENDPOINT=" + proxy.URL}, "state", "list", "-o", "json")
	if code != 1 {
		t.Fatalf("state list: exit %d, want 1 (shop/dev is corrupt)\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var items []StateListItem
	if err := json.Unmarshal([]byte(out), &items); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.Stack+"/"+it.Environment+":"+it.Status)
	}
	if want := "billing/dev:deployed billing/prod:deployed orders/dev:deployed shop/dev:unreadable"; strings.Join(got, " ") != want {
		t.Fatalf("state list = %s\nwant %s", strings.Join(got, " "), want)
	}
	// stacks/, then each of 3 stacks: not one more per environment (6);
	// only shop/prod, whose state.json is not there, is looked at once
	// more, for a folder of that name (a state restored into the wrong
	// place).
	if lists != 1+3+1 {
		t.Fatalf("state list made %d listings, want %d (no listing per environment)", lists, 1+3+1)
	}

	// history of a mistyped stack names the stacks there from one listing
	// of stacks/, not a walk of every environment, and lists the
	// environments of the close one only.
	hist := len(statestore.HistoryPageWindows) + 1
	for _, c := range []struct {
		stack, want string
		lists       int
	}{
		{"shp", "Deployed there: shop/dev.", 1 + hist + 2 + 1 + 1 + 2},
		{"zzzz", `stacks deployed there: billing, orders, shop (`, 1 + hist + 2 + 1},
	} {
		lists = 0
		out, errOut, code := e.run([]string{"PANKA_BACKEND_ENDPOINT=" + proxy.URL}, "history", "-s", c.stack, "-e", "dev")
		if code != 0 || !strings.Contains(errOut, c.want) {
			t.Fatalf("history -s %s: exit %d, want 0 and %q\nstdout:\n%s\nstderr:\n%s", c.stack, code, c.want, out, errOut)
		}
		// Its state.json, not there, looked for as a folder; its
		// history (the recent windows, then all), its stack prefix
		// (twice: which backend holds a stack not in the work tree, then
		// the hint), stacks/; then the close stack's prefix and each of its
		// environments.
		if lists != c.lists {
			t.Errorf("history -s %s made %d listings, want %d", c.stack, lists, c.lists)
		}
	}
}

// TestHistoryHintOfAStackWithoutState: a first deployment whose record
// could not be written leaves the engine's state under
// stacks/<stack>/<env>/pulumi/ and no state.json. history then followed
// "No deployments of shop/dev" with `No stack "shop" is deployed there; did
// you mean "shop"?` and "Deployed there: ." (the stack's folder is listed
// as a stack name, but holds no state).
func TestHistoryHintOfAStackWithoutState(t *testing.T) {
	e := newSTEnv(t)
	c := testserver.S3Client(t)
	ctx := context.Background()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.bucket), Key: aws.String("stacks/shop/dev/pulumi/.pulumi/meta.yaml"),
		Body: strings.NewReader("version: 1\n")}); err != nil {
		t.Fatal(err)
	}
	for _, stack := range []string{"shop", "sohp"} {
		out, errOut, code := e.run(nil, "history", "-s", stack, "-e", "dev")
		if code != 0 || !strings.Contains(errOut, "No deployments of "+stack+"/dev in s3://"+e.bucket+"/.") ||
			strings.Contains(errOut, `did you mean "`+stack+`"`) || strings.Contains(errOut, "Deployed there: .") {
			t.Fatalf("history -s %s: exit %d\nstdout:\n%s\nstderr:\n%s", stack, code, out, errOut)
		}
	}
	store, err := s3store.New(c, s3store.Options{Bucket: e.bucket})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, statestore.Key{Stack: "orders", Environment: "dev"}, &statestore.State{SchemaVersion: statestore.SchemaVersion,
		Serial: 1, Stack: "orders", Environment: "dev", Status: statestore.StatusDeployed}, ""); err != nil {
		t.Fatal(err)
	}
	_, errOut, _ := e.run(nil, "history", "-s", "shop", "-e", "dev")
	if want := `No stack "shop" is deployed there; stacks deployed there: orders (`; !strings.Contains(errOut, want) {
		t.Fatalf("history -s shop with orders deployed:\n%s\nwant %s", errOut, want)
	}
}
