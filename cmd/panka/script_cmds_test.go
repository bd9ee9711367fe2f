package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rogpeppe/go-internal/testscript"

	"panka.dev/panka/statestore/testserver"
)

// s3Put is the script command `s3put BUCKET KEY FILE`: it writes FILE as
// the object KEY of the test server's BUCKET, past panka, so a script can
// damage what panka stored there (a truncated history record) as a hand
// edit or a broken sync would. A KEY with '*' names the one object it
// matches (path.Match; the part before the first '*' is listed).
func s3Put(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! s3put")
	}
	if len(args) != 3 {
		ts.Fatalf("usage: s3put BUCKET KEY FILE")
	}
	bucket, key, file := args[0], args[1], args[2]
	srv := testserver.S3Server{Endpoint: ts.Getenv(testserver.EnvS3Endpoint), AccessKey: ts.Getenv(testserver.EnvS3AccessKey),
		SecretKey: ts.Getenv(testserver.EnvS3SecretKey), Region: "us-east-1"}
	if srv.Endpoint == "" {
		ts.Fatalf("s3put: %s is not set (run under tools/testservers.sh)", testserver.EnvS3Endpoint)
	}
	c := s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srv.Endpoint)
		o.UsePathStyle = true
	})
	ctx := context.Background()
	if pattern, _, glob := strings.Cut(key, "*"); glob {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(pattern)})
		ts.Check(err)
		var found []string
		for _, o := range out.Contents {
			if ok, _ := path.Match(key, aws.ToString(o.Key)); ok {
				found = append(found, aws.ToString(o.Key))
			}
		}
		if len(found) != 1 {
			ts.Fatalf("s3put: %s matches %d objects of %s (%v), want one", key, len(found), bucket, found)
		}
		key = found[0]
	}
	data := []byte(ts.ReadFile(file))
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	ts.Check(err)
}

// validJSON is the script command `validjson FILE`: FILE (stdout, for
// what the last command printed) holds one valid JSON document.
func validJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: validjson FILE")
	}
	var v any
	err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v)
	switch {
	case err != nil && !neg:
		ts.Fatalf("%s is not valid JSON: %v", args[0], err)
	case err == nil && neg:
		ts.Fatalf("%s is valid JSON", args[0])
	}
}
