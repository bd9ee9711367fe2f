package testserver

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestServersReachable(t *testing.T) {
	ctx := context.Background()
	bucket := NewBucket(t)
	c := S3Client(t)
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("head new bucket %s: %v", bucket, err)
	}
	v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("get versioning of %s: %v", bucket, err)
	}
	if v.Status != "Enabled" {
		t.Fatalf("versioning of %s = %q, want Enabled", bucket, v.Status)
	}
	if _, err := DynamoDBClient(t).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("dynamodb list tables: %v", err)
	}
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName("x-"), UniqueName("x-")
	if a == b || len(a) != len("x-")+12 {
		t.Fatalf("UniqueName gave %q and %q", a, b)
	}
}
