package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"panka.dev/panka/locker"
	"panka.dev/panka/locker/dynamodb"
	"panka.dev/panka/locker/lockertest"
	s3store "panka.dev/panka/statestore/s3"
	"panka.dev/panka/statestore/testserver"
)

// client builds a client from the environment, so child processes can too.
func client() (*ddb.Client, error) {
	ep := os.Getenv(testserver.EnvDynamoDBEndpoint)
	if ep == "" {
		return nil, errors.New(testserver.EnvDynamoDBEndpoint + " not set")
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("pankatest", "pankatest", "")}
	return ddb.NewFromConfig(cfg, func(o *ddb.Options) { o.BaseEndpoint = aws.String(ep) }), nil
}

var backend = lockertest.Backend{
	Open: func(table string, now func() time.Time) (locker.Locker, error) {
		c, err := client()
		if err != nil {
			return nil, err
		}
		return dynamodb.New(dynamodb.Options{Client: c, Table: table, Now: now})
	},
	NewNamespace: newTable,
	// 50 goroutines x 10 rounds on one key, contenders backing off up to
	// 2 s. Fifty pollers of one key saturate a test server or, under
	// -race, the SDK client: on the shared 2-core machine 50 x 10 took
	// 6 s without and 47 s with -race (dynalite). LOCKERTEST_ROUNDS=200
	// runs the full 50 x 200 of the local backend (minutes per backend).
	Rounds:     10,
	MaxBackoff: 2 * time.Second,
}

func newTable(t testing.TB) string {
	t.Helper()
	c := testserver.DynamoDBClient(t)
	table := testserver.UniqueName("panka-locks-")
	if err := dynamodb.CreateTable(context.Background(), c, table); err != nil {
		t.Fatal(err)
	}
	return table
}

func TestMain(m *testing.M) {
	lockertest.RunChild(backend)
	os.Exit(m.Run())
}

func TestConformance(t *testing.T) { lockertest.Run(t, backend) }

func TestCreateTableIdempotent(t *testing.T) {
	table := newTable(t)
	if err := dynamodb.CreateTable(context.Background(), testserver.DynamoDBClient(t), table); err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}
}

// TestCreateTableOnceSaysWhoCreated: of two creates of one table (two
// backend creates at once), only the one that made it says so.
func TestCreateTableOnceSaysWhoCreated(t *testing.T) {
	c := testserver.DynamoDBClient(t)
	table := testserver.UniqueName("panka-locks-")
	created, err := dynamodb.CreateTableOnce(context.Background(), c, table)
	if err != nil || !created {
		t.Fatalf("first CreateTableOnce = %v, %v; want true, nil", created, err)
	}
	created, err = dynamodb.CreateTableOnce(context.Background(), c, table)
	if err != nil || created {
		t.Fatalf("second CreateTableOnce = %v, %v; want false, nil", created, err)
	}
}

// The stored item uses the SPEC §6 attribute names and types.
func TestItemFormat(t *testing.T) {
	ctx := context.Background()
	table := newTable(t)
	c := testserver.DynamoDBClient(t)
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: table, Now: func() time.Time { return lockertest.Start }})
	if err != nil {
		t.Fatal(err)
	}
	info, err := l.TryAcquire(ctx, locker.Info{Key: locker.Key("app", "prod"), LockedBy: "alice",
		Metadata: locker.Metadata{Hostname: "h", PID: 7, Version: "v1", Operation: "apply", Commit: "abc", CIURL: "https://ci/1"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"lockKey": &ddbtypes.AttributeValueMemberS{Value: "stack:app:env:prod"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"lockKey": "S:stack:app:env:prod", "lockId": "S:" + info.ID, "lockedBy": "S:alice",
		"lockedAt": "N:1800000000", "expiresAt": "N:1800003600", "lastHeartbeat": "N:1800000000"}
	for k, w := range want {
		var got string
		switch v := out.Item[k].(type) {
		case *ddbtypes.AttributeValueMemberS:
			got = "S:" + v.Value
		case *ddbtypes.AttributeValueMemberN:
			got = "N:" + v.Value
		}
		if got != w {
			t.Errorf("attribute %s = %q, want %q", k, got, w)
		}
	}
	meta, ok := out.Item["metadata"].(*ddbtypes.AttributeValueMemberM)
	if !ok {
		t.Fatalf("metadata is %T, want M", out.Item["metadata"])
	}
	for _, k := range []string{"hostname", "pid", "version", "operation", "commit", "ciUrl"} {
		if _, ok := meta.Value[k]; !ok {
			t.Errorf("metadata lacks %s", k)
		}
	}
}

// TestMissingTableSaysHowToCreateIt: every operation on a table that does
// not exist names the table and the command that creates it.
func TestMissingTableSaysHowToCreateIt(t *testing.T) {
	c := testserver.DynamoDBClient(t)
	table := testserver.UniqueName("panka-nolocks-")
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range opErrors(l) {
		if err == nil || !strings.Contains(err.Error(), "DynamoDB table "+table+": the table does not exist") ||
			!strings.Contains(err.Error(), "panka backend create --table "+table) {
			t.Errorf("%s on a missing table: %v, want the table and the panka backend create command", name, err)
		}
		noSDKText(t, name, err)
		var rnf *ddbtypes.ResourceNotFoundException
		if !errors.As(err, &rnf) {
			t.Errorf("%s: %v does not wrap the SDK's ResourceNotFoundException", name, err)
		}
	}
}

// opErrors runs acquire, get and list once on l and returns their errors
// by operation.
func opErrors(l *dynamodb.Locker) map[string]error {
	ctx := context.Background()
	_, acqErr := l.TryAcquire(ctx, locker.Info{Key: locker.Key("app", "dev"), LockedBy: "a"}, time.Minute)
	_, getErr := l.Get(ctx, locker.Key("app", "dev"))
	_, listErr := l.List(ctx)
	return map[string]error{"acquire": acqErr, "get": getErr, "list": listErr}
}

// noSDKText fails when err carries the SDK's own text (operation, status
// code, request id) instead of panka's explanation.
func noSDKText(t *testing.T, name string, err error) {
	t.Helper()
	for _, sdk := range []string{"RequestID", "operation error", "StatusCode"} {
		if err != nil && strings.Contains(err.Error(), sdk) {
			t.Errorf("%s: error %q carries the SDK's text %q", name, err, sdk)
		}
	}
}

// deniedClient answers every call as DynamoDB does to unknown or expired
// credentials.
type deniedClient struct{ dynamodb.Client }

func (deniedClient) err() error {
	return &smithy.GenericAPIError{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."}
}

func (c deniedClient) PutItem(context.Context, *ddb.PutItemInput, ...func(*ddb.Options)) (*ddb.PutItemOutput, error) {
	return nil, c.err()
}

func (c deniedClient) GetItem(context.Context, *ddb.GetItemInput, ...func(*ddb.Options)) (*ddb.GetItemOutput, error) {
	return nil, c.err()
}

func (c deniedClient) Scan(context.Context, *ddb.ScanInput, ...func(*ddb.Options)) (*ddb.ScanOutput, error) {
	return nil, c.err()
}

// TestAccessDeniedSaysWhichCredentials: credentials DynamoDB refuses are
// said as such, with the settings to check, not as the SDK's text.
func TestAccessDeniedSaysWhichCredentials(t *testing.T) {
	l, err := dynamodb.New(dynamodb.Options{Client: deniedClient{}, Table: "panka-locks"})
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range opErrors(l) {
		for _, want := range []string{"DynamoDB table panka-locks: access denied (UnrecognizedClientException)", "AWS_ACCESS_KEY_ID", "aws.profile"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s with refused credentials: %v, want it to contain %q", name, err, want)
			}
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Errorf("%s: %v does not wrap the SDK's error", name, err)
		}
	}
}

// TestForeignTableSaysWhatKeyItNeeds: a table keyed otherwise (Terraform's
// LockID) is named with the key panka needs and how to get such a table.
func TestForeignTableSaysWhatKeyItNeeds(t *testing.T) {
	ctx := context.Background()
	c := testserver.DynamoDBClient(t)
	table := testserver.UniqueName("tf-locks-")
	createForeignTable(t, c, table, "LockID", ddbtypes.ScalarAttributeTypeS)
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	_, acqErr := l.TryAcquire(ctx, locker.Info{Key: locker.Key("app", "dev"), LockedBy: "a"}, time.Minute)
	_, getErr := l.Get(ctx, locker.Key("app", "dev"))
	// Listing an empty foreign table, and one holding Terraform's items,
	// must not read as "no locks held".
	_, emptyListErr := l.List(ctx)
	if _, err := c.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{
		"LockID": &ddbtypes.AttributeValueMemberS{Value: "tf-state/prod.tfstate"}, "Info": &ddbtypes.AttributeValueMemberS{Value: "{}"}}}); err != nil {
		t.Fatal(err)
	}
	_, listErr := l.List(ctx)
	for name, err := range map[string]error{"acquire": acqErr, "get": getErr, "list (empty)": emptyListErr, "list": listErr} {
		if err == nil || !strings.Contains(err.Error(), "partition key must be lockKey") || !strings.Contains(err.Error(), "panka backend create --table") {
			t.Errorf("%s on a table keyed by LockID: %v, want the key panka needs", name, err)
		}
		noSDKText(t, name, err)
	}
}

// TestEmptyTableKeyedByNumber: an empty table keyed by lockKey of type N
// (not S) takes no lock panka writes, yet listing it said "No locks held".
func TestEmptyTableKeyedByNumber(t *testing.T) {
	ctx := context.Background()
	c := testserver.DynamoDBClient(t)
	table := testserver.UniqueName("n-locks-")
	createForeignTable(t, c, table, "lockKey", ddbtypes.ScalarAttributeTypeN)
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	held, err := l.List(ctx)
	want := "list locks in DynamoDB table " + table + ": the table is not keyed the way panka needs (it holds items keyed lockKey of type N): its partition key must be lockKey (string)"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("List of an empty table keyed by a number: %v, %v\nwant %s", held, err, want)
	}
	noSDKText(t, "list", err)
}

// TestUntrustedCertificate: a lock server whose TLS certificate is signed
// by a CA the machine does not trust is said as such, with AWS_CA_BUNDLE,
// not "check that the server is up".
func TestUntrustedCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("pankatest", "pankatest", "")}
	c := ddb.NewFromConfig(cfg, func(o *ddb.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.RetryMaxAttempts = 1
	})
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: "locks"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Get(context.Background(), locker.Key("app", "dev"))
	want := "the server's TLS certificate is signed by a CA this machine does not trust: give that CA's certificate (PEM) with AWS_CA_BUNDLE=FILE, or add it to the system's trust store; check the endpoint (locks.endpoint, PANKA_LOCKS_ENDPOINT or AWS_ENDPOINT_URL_DYNAMODB)"
	if !errors.Is(err, dynamodb.ErrUnreachable) || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Get over an untrusted certificate: %v\nwant it to end with %s", err, want)
	}
}

// TestUnreachableNamesTheEndpointsSetting: the setting that chose the
// endpoint (s3store.NoteEndpoint), or AWS's own with the network and
// locks.region to check, not "check locks.endpoint (PANKA_LOCKS_ENDPOINT
// or AWS_ENDPOINT_URL_DYNAMODB)" whatever had set it.
func TestUnreachableNamesTheEndpointsSetting(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("pankatest", "pankatest", "")}
	for _, tc := range []struct{ from, want string }{
		{`the dynamodb endpoint_url in the services section of AWS profile "minio"`,
			`; check that the server is up and that the dynamodb endpoint_url in the services section of AWS profile "minio" is its address`},
		{"", "; no custom endpoint is set, so this is AWS's own: check the network (DNS, a proxy in HTTPS_PROXY) and locks.region"},
	} {
		c := ddb.NewFromConfig(cfg, func(o *ddb.Options) {
			o.BaseEndpoint = aws.String("http://127.0.0.1:1")
			o.RetryMaxAttempts = 1
			o.APIOptions = append(o.APIOptions, s3store.NoteEndpoint(tc.from))
		})
		l, err := dynamodb.New(dynamodb.Options{Client: c, Table: "panka-locks"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.List(context.Background())
		if !errors.Is(err, dynamodb.ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") || !strings.HasSuffix(err.Error(), tc.want) ||
			strings.Contains(err.Error(), "PANKA_LOCKS_ENDPOINT") {
			t.Errorf("list from a closed port (%q): %v\nwant it to end with %s", tc.from, err, tc.want)
		}
	}
}

// An endpoint nobody listens on: the network cause and the setting to check,
// not the SDK's retry text.
func TestUnreachableSaysWhichSetting(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("pankatest", "pankatest", "")}
	c := ddb.NewFromConfig(cfg, func(o *ddb.Options) {
		o.BaseEndpoint = aws.String("http://127.0.0.1:1")
		o.RetryMaxAttempts = 1
	})
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: "panka-locks"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, acqErr := l.TryAcquire(ctx, locker.Info{Key: locker.Key("app", "dev"), LockedBy: "a"}, time.Minute)
	_, listErr := l.List(ctx)
	for name, err := range map[string]error{"acquire": acqErr, "list": listErr} {
		if !errors.Is(err, dynamodb.ErrUnreachable) {
			t.Errorf("%s on a closed port: %v, want ErrUnreachable", name, err)
			continue
		}
		for _, want := range []string{"connection refused", "locks.endpoint", "panka-locks"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not mention %q", name, err, want)
			}
		}
		if strings.Contains(err.Error(), "RequestID") {
			t.Errorf("%s: error %q still carries the SDK's retry text", name, err)
		}
	}
}

// A credential chain that finds nothing: said, with what to set.
func TestNoCredentials(t *testing.T) {
	ep := os.Getenv(testserver.EnvDynamoDBEndpoint)
	if ep == "" {
		ep = "http://127.0.0.1:1" // credentials fail before anything is sent
	}
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("no EC2 IMDS role found")
	}))}
	c := ddb.NewFromConfig(cfg, func(o *ddb.Options) { o.BaseEndpoint = aws.String(ep); o.RetryMaxAttempts = 1 })
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: "panka-locks"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.TryAcquire(context.Background(), locker.Info{Key: locker.Key("app", "dev"), LockedBy: "a"}, time.Minute)
	if !errors.Is(err, s3store.ErrNoCredentials) || errors.Is(err, dynamodb.ErrUnreachable) {
		t.Fatalf("acquire without credentials: %v, want ErrNoCredentials", err)
	}
	for _, want := range []string{"no EC2 IMDS role found", "aws.profile"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// pagedClient makes every Scan return at most two items, as a table whose
// items exceed DynamoDB's 1 MB page does, and counts the Scans.
type pagedClient struct {
	dynamodb.Client
	scans int
}

func (c *pagedClient) Scan(ctx context.Context, in *ddb.ScanInput, optFns ...func(*ddb.Options)) (*ddb.ScanOutput, error) {
	c.scans++
	in2 := *in
	in2.Limit = aws.Int32(2)
	return c.Client.Scan(ctx, &in2, optFns...)
}

// TestListFollowsScanPages: List returns the leases of every Scan page, not
// only the first.
func TestListFollowsScanPages(t *testing.T) {
	ctx := context.Background()
	table := newTable(t)
	c := testserver.DynamoDBClient(t)
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 7 {
		key := locker.Key(fmt.Sprintf("s%d", i), "dev")
		if _, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "alice"}, time.Hour); err != nil {
			t.Fatal(err)
		}
		want = append(want, key)
	}
	pc := &pagedClient{Client: c}
	pl, err := dynamodb.New(dynamodb.Options{Client: pc, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	list, err := pl.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range list {
		got = append(got, i.Key)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("List over %d Scan pages = %v, want %v", pc.scans, got, want)
	}
	if pc.scans < 4 {
		t.Fatalf("List made %d Scans of 2 items for 7 leases: the test did not page", pc.scans)
	}
}

// TestNotDynamoDBEndpoint: locks.endpoint pointing at another HTTP server
// (typically the S3 endpoint) is said as such, with the setting to check,
// not as the SDK's "deserialization failed, failed to decode response body".
func TestNotDynamoDBEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>MethodNotAllowed</Code></Error>`))
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("pankatest", "pankatest", "")}
	c := ddb.NewFromConfig(cfg, func(o *ddb.Options) { o.BaseEndpoint = aws.String(srv.URL); o.RetryMaxAttempts = 1 })
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: "panka-locks"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, acqErr := l.TryAcquire(ctx, locker.Info{Key: locker.Key("app", "dev"), LockedBy: "a"}, time.Minute)
	_, listErr := l.List(ctx)
	for name, err := range map[string]error{"acquire": acqErr, "list": listErr} {
		for _, want := range []string{"DynamoDB table panka-locks: the endpoint does not answer like DynamoDB (HTTP 405", "check locks.endpoint"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s against a server that is not DynamoDB: %v, want it to contain %q", name, err, want)
			}
		}
		noSDKText(t, name, err)
	}
	// The server set by the AWS profile: that is what to check.
	pc := ddb.NewFromConfig(cfg, func(o *ddb.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.RetryMaxAttempts = 1
		o.APIOptions = append(o.APIOptions, s3store.NoteEndpoint(`the endpoint_url of AWS profile "minio"`))
	})
	pl, err := dynamodb.New(dynamodb.Options{Client: pc, Table: "panka-locks"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pl.List(ctx)
	if want := `the endpoint does not answer like DynamoDB (HTTP 405 with a body that is not DynamoDB's JSON); check the endpoint_url of AWS profile "minio"`; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("list from another server set by a profile: %v, want it to end with %s", err, want)
	}
}

// TestSilentEndpointIsUnreachable: a DynamoDB endpoint that accepts
// connections and never answers (a hung server) is explained like one that
// refuses them once the transport's response timeout passes, not with the
// SDK's retry text.
func TestSilentEndpointIsUnreachable(t *testing.T) {
	endpoint := testserver.SilentEndpoint(t)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("pankatest", "pankatest", ""),
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) { tr.ResponseHeaderTimeout = 50 * time.Millisecond })}
	c := ddb.NewFromConfig(cfg, func(o *ddb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.RetryMaxAttempts = 2
	})
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: "panka-locks"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.List(context.Background())
	if !errors.Is(err, dynamodb.ErrUnreachable) {
		t.Fatalf("list on a silent endpoint: %v, want ErrUnreachable", err)
	}
	for _, want := range []string{"timeout awaiting response headers", "locks.endpoint", "panka-locks"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "RequestID") {
		t.Errorf("error %q still carries the SDK's retry text", err)
	}
}

// lostAnswer forwards requests to the server, but answers the first
// DeleteItem that reached it with a 500 instead of the server's answer: a
// response lost on the way back, which the SDK retries.
type lostAnswer struct {
	rt      http.RoundTripper
	dropped atomic.Bool
}

func (l *lostAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".DeleteItem") && l.dropped.CompareAndSwap(false, true) {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return &http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error", Request: r,
			Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
			Body:   io.NopCloser(strings.NewReader(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"answer lost"}`))}, nil
	}
	return resp, err
}

// TestReleaseRetriedAfterItLanded: a release whose answer was lost and
// that the SDK retried met its own deletion (the condition failed on a
// missing item) and reported the lease lost; it is released. A retried
// release that finds another holder is still a lease lost.
func TestReleaseRetriedAfterItLanded(t *testing.T) {
	ctx := context.Background()
	table := newTable(t)
	plain := testserver.DynamoDBClient(t)
	lossy := func() *ddb.Client {
		c, err := client()
		if err != nil {
			t.Fatal(err)
		}
		return ddb.New(c.Options(), func(o *ddb.Options) {
			o.HTTPClient = &http.Client{Transport: &lostAnswer{rt: http.DefaultTransport}}
		})
	}
	open := func(c dynamodb.Client) *dynamodb.Locker {
		l, err := dynamodb.New(dynamodb.Options{Client: c, Table: table})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, other := open(lossy()), open(plain)
	key := locker.Key("shop", "dev")
	ia, err := a.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "alice"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx, key, ia.ID); err != nil {
		t.Fatalf("release whose first attempt landed: %v, want released", err)
	}
	if _, err := other.Get(ctx, key); !errors.Is(err, locker.ErrNotFound) {
		t.Fatalf("after release Get: %v, want ErrNotFound", err)
	}

	// Taken over meanwhile: the retried release finds bob's lease.
	a = open(lossy())
	ia, err = a.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "alice"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.ForceRelease(ctx, key); err != nil {
		t.Fatal(err)
	}
	ib, err := other.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "bob"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx, key, ia.ID); !errors.Is(err, locker.ErrLost) {
		t.Fatalf("retried release of a lease bob holds: %v, want ErrLost", err)
	}
	if got, err := other.Get(ctx, key); err != nil || got.ID != ib.ID {
		t.Fatalf("bob's lease after alice's release: %+v, %v", got, err)
	}
}

// TestServerKeepsFailing: DynamoDB throttling a table (or failing) on every
// attempt failed acquire, heartbeat, release and list with the SDK's text
// ("operation error DynamoDB: Scan, exceeded maximum number of attempts, 6,
// https response error StatusCode: 400, RequestID: ,
// ProvisionedThroughputExceededException: ..."): nothing said it was
// retried, nor what to do. Now: the table, the answer, how many attempts
// and the next step.
func TestServerKeepsFailing(t *testing.T) {
	table := newTable(t)
	proxy := testserver.NewFaultProxy(t, testserver.DynamoDB(t))
	c := ddb.NewFromConfig(testserver.DynamoDBConfig(t), func(o *ddb.Options) {
		o.BaseEndpoint = aws.String(proxy.URL)
		o.RetryMaxAttempts = 2
	})
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	held, err := l.TryAcquire(ctx, locker.Info{Key: locker.Key("orders", "dev"), LockedBy: "a"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		status int
		code   string
		want   string
	}{
		{400, "ProvisionedThroughputExceededException", "DynamoDB is throttling requests to table " + table +
			": ProvisionedThroughputExceededException: injected ProvisionedThroughputExceededException (HTTP 400), still after 2 attempts; " +
			"wait a minute and re-run, or give the table more capacity (`panka backend create` makes on-demand tables)"},
		{400, "ThrottlingException", "DynamoDB is throttling requests to table " + table + ": ThrottlingException"},
		{500, "InternalServerError", "DynamoDB kept failing for table " + table + ": InternalServerError: injected InternalServerError (HTTP 500), " +
			"still after 2 attempts; wait and re-run, and if it goes on check the server's health (locks.endpoint for a DynamoDB-compatible server)"},
		{503, "", "DynamoDB kept failing for table " + table + ": "},
	} {
		proxy.Set(testserver.FaultRule{Fault: testserver.FaultStatus, Status: c.status, Code: c.code})
		errs := opErrors(l)
		errs["heartbeat"] = l.Heartbeat(ctx, held.Key, held.ID, time.Minute)
		errs["release"] = l.Release(ctx, held.Key, held.ID)
		for name, err := range errs {
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s answered %d %s: %v\nwant %q", name, c.status, c.code, err, c.want)
			}
			noSDKText(t, name, err)
			if errors.Is(err, locker.ErrLost) {
				t.Errorf("%s answered %d %s: %v reads as a lost lease", name, c.status, c.code, err)
			}
		}
	}
	proxy.Set()
	if got, err := l.Get(ctx, held.Key); err != nil || got.ID != held.ID {
		t.Fatalf("lease after the failures: %+v, %v; want %s still held", got, err, held.ID)
	}
}

// TestReleaseRetriesAHungCall: the release of a lease on the way out has a
// bounded time (panka gives it 15 s); a DeleteItem whose answer never came
// used all of it, as the HTTP client's own timeout is as long, so nothing
// retried and the lease stayed held for its whole ttl (an hour), blocking
// the next run elsewhere. Each attempt now gets its share of the time, and
// a later one releases the lease (or finds the first one landed).
func TestReleaseRetriesAHungCall(t *testing.T) {
	table := newTable(t)
	proxy := testserver.NewFaultProxy(t, testserver.DynamoDB(t))
	c := ddb.NewFromConfig(testserver.DynamoDBConfig(t), func(o *ddb.Options) { o.BaseEndpoint = aws.String(proxy.URL) })
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	for _, fault := range []testserver.Fault{testserver.FaultBlackhole, testserver.FaultLostAnswer} {
		lease, err := locker.Acquire(context.Background(), l, locker.Info{Key: locker.Key("orders", "dev"), LockedBy: "a"}, locker.LeaseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		proxy.Set(testserver.FaultRule{Target: "DeleteItem", Fault: fault, Times: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		err = lease.Release(ctx)
		cancel()
		if err != nil {
			t.Fatalf("release whose first call got fault %d: %v\n%s", fault, err, proxy.Log())
		}
		if _, err := l.Get(context.Background(), lease.Info().Key); !errors.Is(err, locker.ErrNotFound) {
			t.Fatalf("after the release (fault %d) the lock is still there: %v\n%s", fault, err, proxy.Log())
		}
	}
	// A backend that never answers: said so, without the SDK's text.
	lease, err := locker.Acquire(context.Background(), l, locker.Info{Key: locker.Key("orders", "dev"), LockedBy: "a"}, locker.LeaseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	proxy.Set(testserver.FaultRule{Target: "DeleteItem", Fault: testserver.FaultBlackhole})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err = lease.Release(ctx)
	want := regexp.MustCompile("^" + regexp.QuoteMeta(fmt.Sprintf("release lock stack:orders:env:dev (lock id %s): the lock backend did not answer (", lease.Info().ID)) +
		`[23] attempts in 3s\): context deadline exceeded; ` +
		regexp.QuoteMeta(fmt.Sprintf("it stays held until it expires (%s) or, once the lock backend answers, `panka unlock --stack orders --environment dev --lock-id %s` removes it", lease.Info().ExpiresAt.UTC().Format(time.RFC3339), lease.Info().ID)) + "$")
	if err == nil || !want.MatchString(err.Error()) {
		t.Fatalf("release against a silent backend: %v\nwant %s", err, want)
	}
}

// TestAnswerCutPartway: DynamoDB's answer cut in the middle (a dropped
// connection) read as "the endpoint does not answer like DynamoDB ...
// check locks.endpoint", sending the user to fix a setting that was
// right (and then "cannot reach DynamoDB ... check locks.endpoint", which
// it had reached). And a PutItem that landed with its answer cut failed the acquire
// and left the lease held, by a run that had ended, for its whole ttl: the
// next run exited 3 on it. The acquire now finds its own lease; the other
// calls say the answer was cut.
func TestAnswerCutPartway(t *testing.T) {
	table := newTable(t)
	proxy := testserver.NewFaultProxy(t, testserver.DynamoDB(t))
	c := ddb.NewFromConfig(testserver.DynamoDBConfig(t), func(o *ddb.Options) { o.BaseEndpoint = aws.String(proxy.URL) })
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	proxy.Set(testserver.FaultRule{Target: "PutItem", Fault: testserver.FaultDropMidBody, Times: 1})
	got, err := l.TryAcquire(ctx, locker.Info{Key: locker.Key("orders", "dev"), LockedBy: "a"}, time.Minute)
	if err != nil || got.ID == "" {
		t.Fatalf("acquire whose answer was cut: %+v, %v\n%s", got, err, proxy.Log())
	}
	if cur, err := l.Get(ctx, got.Key); err != nil || cur.ID != got.ID {
		t.Fatalf("lease after the acquire: %+v, %v; want %s", cur, err, got.ID)
	}
	proxy.Set(testserver.FaultRule{Target: "Scan", Fault: testserver.FaultDropMidBody})
	_, err = l.List(ctx)
	if err == nil || !errors.Is(err, dynamodb.ErrUnreachable) || !strings.Contains(err.Error(), "the DynamoDB server stopped sending its answer partway (unexpected EOF): it answered, so the endpoint is right, but the connection was closed before the end; re-run") ||
		strings.Contains(err.Error(), "does not answer like DynamoDB") || strings.Contains(err.Error(), "check locks.endpoint") {
		t.Fatalf("list whose answer was cut: %v", err)
	}
	noSDKText(t, "list", err)
	proxy.Set()
	if err := l.Release(ctx, got.Key, got.ID); err != nil {
		t.Fatal(err)
	}
}

// TestItemNotALease: an item put by hand or by another tool under a lease
// key (a "deploy freeze" with only lockKey and lockedBy, or expiresAt as
// a date string) is no lease panka can read. It was read as a lease that
// expired in 1970: status said the next operation takes it over, while
// every acquire failed its condition and said the lock "changed hands
// while it was read". Now it is unreadable, as a damaged lock file or
// lock object is: never taken over, listed apart from the leases, and
// removed only by unlock --force (ForceRelease).
func TestItemNotALease(t *testing.T) {
	ctx := context.Background()
	table := newTable(t)
	c := testserver.DynamoDBClient(t)
	l, err := dynamodb.New(dynamodb.Options{Client: c, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	key := locker.Key("app", "prod")
	if _, err := l.TryAcquire(ctx, locker.Info{Key: locker.Key("app", "dev"), LockedBy: "alice"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	for name, item := range map[string]map[string]ddbtypes.AttributeValue{
		"a freeze":              {"lockKey": s(key), "lockedBy": s("release-freeze")},
		"expiresAt as a string": {"lockKey": s(key), "lockId": s("x"), "lockedBy": s("tool"), "expiresAt": s("2030-01-01T00:00:00Z")},
	} {
		if _, err := c.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
		_, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "bob"}, time.Hour)
		if !errors.Is(err, locker.ErrUnreadable) || !strings.Contains(err.Error(), table) || !strings.Contains(err.Error(), "panka unlock --force -s app -e prod") {
			t.Errorf("%s: TryAcquire: %v, want ErrUnreadable naming the table and unlock --force", name, err)
		}
		if _, err := l.Get(ctx, key); !errors.Is(err, locker.ErrUnreadable) {
			t.Errorf("%s: Get: %v, want ErrUnreadable", name, err)
		}
		infos, err := l.List(ctx)
		var u *locker.UnreadableError
		if !errors.As(err, &u) || len(u.Errs) != 1 || len(infos) != 1 || infos[0].Key != locker.Key("app", "dev") {
			t.Errorf("%s: List: %+v, %v; want the lease of app/dev and one unreadable item", name, infos, err)
		}
		out, err := c.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"lockKey": s(key)}, ConsistentRead: aws.Bool(true)})
		if err != nil || getS(out.Item, "lockedBy") != getS(item, "lockedBy") {
			t.Errorf("%s: the item was replaced: %v, %v", name, out.Item, err)
		}
		if err := l.ForceRelease(ctx, key); err != nil {
			t.Fatalf("%s: ForceRelease: %v", name, err)
		}
		if _, err := l.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "bob"}, time.Hour); err != nil {
			t.Fatalf("%s: TryAcquire after ForceRelease: %v", name, err)
		}
		if err := l.ForceRelease(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
}

func getS(item map[string]ddbtypes.AttributeValue, k string) string {
	if v, ok := item[k].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// TestClockSkew: the lease times come from the host's clock, and a host
// whose clock is off by more than a lease's remaining time broke leases:
// one 15 minutes ahead took over a lease another host held and renewed
// (its "now" was past expiresAt), and one 15 minutes behind wrote leases
// that had already expired for everyone else. The locker now counts time
// as the table's server does (its answers' Date), so both are held.
func TestClockSkew(t *testing.T) {
	table := newTable(t)
	c := testserver.DynamoDBClient(t)
	ctx := context.Background()
	for _, skew := range []time.Duration{15 * time.Minute, -15 * time.Minute} {
		key := locker.Key("orders", fmt.Sprintf("skew%d", int(skew.Minutes())))
		right, err := dynamodb.New(dynamodb.Options{Client: c, Table: table})
		if err != nil {
			t.Fatal(err)
		}
		off, err := dynamodb.New(dynamodb.Options{Client: c, Table: table, Local: func() time.Time { return time.Now().Add(skew) }})
		if err != nil {
			t.Fatal(err)
		}
		first, second := right, off
		if skew < 0 {
			first, second = off, right
		}
		held, err := first.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "first"}, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Until(held.ExpiresAt); d < 9*time.Minute || d > 11*time.Minute {
			t.Errorf("skew %s: the lease expires in %s by the server's clock, want 10m", skew, d)
		}
		if _, err := second.TryAcquire(ctx, locker.Info{Key: key, LockedBy: "second"}, 10*time.Minute); !errors.Is(err, locker.ErrHeld) {
			t.Fatalf("skew %s: a lease held for 10 more minutes was taken by the other host: %v", skew, err)
		}
		if err := first.Heartbeat(ctx, key, held.ID, 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		if got, err := right.Get(ctx, key); err != nil || time.Until(got.ExpiresAt) < 9*time.Minute || time.Since(got.LastHeartbeat) > time.Minute || time.Since(got.LastHeartbeat) < -time.Minute {
			t.Fatalf("skew %s: after a heartbeat the lease reads %+v, %v", skew, got, err)
		}
	}
}

// TestLeaseOfAHostBehindGivenUpBeforeItExpires: the lease times come
// from the lock server's clock, and a lease held on a host whose clock is
// 15 minutes behind it compared them with its own. Cut off from the
// server after taking its lease (every heartbeat failing), it gave the
// lease up 15 minutes after it had expired for every other host, which
// could take the lock and deploy meanwhile, and GiveUpIn let its writes go
// on that long. The lease now counts its expiry on its own clock from when
// it asked for it, so it is given up StopBefore it expires everywhere.
func TestLeaseOfAHostBehindGivenUpBeforeItExpires(t *testing.T) {
	table := newTable(t)
	c := testserver.DynamoDBClient(t)
	const skew, ttl = -15 * time.Minute, 6 * time.Second
	local := func() time.Time { return time.Now().Add(skew) }
	right, err := dynamodb.New(dynamodb.Options{Client: c, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	behind, err := dynamodb.New(dynamodb.Options{Client: c, Table: table, Local: local})
	if err != nil {
		t.Fatal(err)
	}
	key := locker.Key("orders", "behind")
	lease, err := locker.Acquire(context.Background(), cutHeartbeats{behind}, locker.Info{Key: key, LockedBy: "behind"},
		locker.LeaseOptions{TTL: ttl, Heartbeat: time.Second, Clock: hostClock{local}})
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(context.Background()) //nolint:errcheck // the lease is given up; its item expires
	if left, ok := lease.GiveUpIn(); !ok || left > ttl {
		t.Errorf("GiveUpIn of a %s lease just taken: %s, %v; want at most %s", ttl, left, ok, ttl)
	}
	// On the wall clock, as the server's: the monotonic reading of
	// time.Now stops while a machine is suspended (Linux), so an expiry
	// that kept one would still lie ahead after a laptop slept past it.
	if exp := lease.Info().ExpiresAt; exp != exp.Round(0) {
		t.Errorf("the lease's expiry %s carries a monotonic clock reading, which does not count a machine's suspend", exp)
	}
	held, err := right.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-lease.Context().Done():
	case <-time.After(ttl + 5*time.Second):
		t.Fatalf("lease cut off from its server still held %s after it was taken (it expired for other hosts at %s)", ttl+5*time.Second, held.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if now := time.Now(); !now.Before(held.ExpiresAt) {
		t.Fatalf("lease given up at %s, not before it expired for other hosts (%s)", now.UTC().Format(time.RFC3339), held.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if !errors.Is(lease.Lost(), locker.ErrLost) {
		t.Fatalf("lease cut off from its server ended with %v, want it given up (ErrLost)", lease.Lost())
	}
}

// hostClock is a host's clock (now), on which time passes as it does.
type hostClock struct{ now func() time.Time }

func (c hostClock) Now() time.Time { return c.now() }
func (c hostClock) Sleep(ctx context.Context, d time.Duration) error {
	return locker.RealClock{}.Sleep(ctx, d)
}

// cutHeartbeats is a locker cut off from its server once it took a lease:
// every heartbeat fails.
type cutHeartbeats struct{ locker.Locker }

func (cutHeartbeats) Heartbeat(context.Context, string, string, time.Duration) error {
	return errors.New("dial tcp: connect: connection refused")
}

// createForeignTable creates table keyed by the hash key key of type typ
// (another tool's lock table), and waits until it exists.
func createForeignTable(t *testing.T, c *ddb.Client, table, key string, typ ddbtypes.ScalarAttributeType) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateTable(ctx, &ddb.CreateTableInput{TableName: aws.String(table), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String(key), AttributeType: typ}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String(key), KeyType: ddbtypes.KeyTypeHash}}}); err != nil {
		t.Fatal(err)
	}
	if err := ddb.NewTableExistsWaiter(c).Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}
