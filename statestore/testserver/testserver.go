package testserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Environment variables set by tools/testservers.sh.
const (
	EnvS3Endpoint       = "PANKA_TEST_S3_ENDPOINT"
	EnvS3AccessKey      = "PANKA_TEST_S3_ACCESS_KEY"
	EnvS3SecretKey      = "PANKA_TEST_S3_SECRET_KEY"
	EnvS3Region         = "PANKA_TEST_S3_REGION"
	EnvDynamoDBEndpoint = "PANKA_TEST_DYNAMODB_ENDPOINT"
)

// S3Server describes the running S3-compatible test server.
type S3Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string
}

// unavailable skips t, or fails it when CI is set.
func unavailable(t testing.TB, what string) {
	t.Helper()
	msg := what + " not set: run the test under tools/testservers.sh run -- go test ..."
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so a missing test server is a failure)")
	}
	t.Skip(msg)
}

// S3 returns the S3 test server, skipping (or failing in CI) when unset.
func S3(t testing.TB) S3Server {
	t.Helper()
	s := S3Server{
		Endpoint:  os.Getenv(EnvS3Endpoint),
		AccessKey: os.Getenv(EnvS3AccessKey),
		SecretKey: os.Getenv(EnvS3SecretKey),
		Region:    os.Getenv(EnvS3Region),
	}
	if s.Endpoint == "" || s.AccessKey == "" || s.SecretKey == "" {
		unavailable(t, EnvS3Endpoint+"/"+EnvS3AccessKey+"/"+EnvS3SecretKey)
	}
	if s.Region == "" {
		s.Region = "us-east-1"
	}
	return s
}

// AWSConfig returns an aws.Config with the server's static credentials and
// region. The endpoint is not set here: pass it per client (see S3Client).
func (s S3Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:      s.Region,
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	}
}

// S3Client returns an S3 client for the test server (path-style addressing).
func S3Client(t testing.TB) *s3.Client {
	t.Helper()
	s := S3(t)
	return s3.NewFromConfig(s.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint)
		o.UsePathStyle = true
	})
}

// UniqueName returns prefix followed by a random lower-case hex suffix, valid
// as an S3 bucket or DynamoDB table name for prefixes of lower-case letters,
// digits and '-'.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return strings.ToLower(prefix) + hex.EncodeToString(b)
}

// NewBucket creates a fresh, uniquely named, versioning-enabled bucket on the
// S3 test server and returns its name. Buckets are not deleted (the server's
// data directory is removed when tools/testservers.sh stops it).
func NewBucket(t testing.TB) string {
	t.Helper()
	c := S3Client(t)
	name := UniqueName("panka-test-")
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create test bucket %s: %v", name, err)
	}
	_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(name),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		t.Fatalf("enable versioning on test bucket %s: %v", name, err)
	}
	return name
}

// DynamoDB returns the DynamoDB test server endpoint, skipping (or failing in
// CI) when unset.
func DynamoDB(t testing.TB) string {
	t.Helper()
	ep := os.Getenv(EnvDynamoDBEndpoint)
	if ep == "" {
		unavailable(t, EnvDynamoDBEndpoint)
	}
	return ep
}

// DynamoDBConfig returns an aws.Config for the DynamoDB test server (dynalite
// accepts any credentials; static dummy ones are used so the host's AWS
// configuration never matters).
func DynamoDBConfig(t testing.TB) aws.Config {
	t.Helper()
	DynamoDB(t)
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("pankatest", "pankatest", ""),
	}
}

// DynamoDBClient returns a DynamoDB client for the test server.
func DynamoDBClient(t testing.TB) *dynamodb.Client {
	t.Helper()
	ep := DynamoDB(t)
	return dynamodb.NewFromConfig(DynamoDBConfig(t), func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(ep)
	})
}

// SilentEndpoint returns the URL (http://127.0.0.1:port) of a server that
// accepts connections and never answers, as a hung or SIGSTOPped one does;
// it is closed when the test ends.
func SilentEndpoint(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}
